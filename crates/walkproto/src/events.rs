//! Event accounting: what each side of the protocol *does* (fences, atomic
//! read-modify-writes on shared lines, loads of other CPUs' words, IPIs,
//! spins), as counts that do not depend on how fast the machine is.
//!
//! * Walker side: [`Strategy::walker_events`] runs the strategy's real
//!   registration code ([`crate::walk::enter`] / [`crate::walk::leave`]) on
//!   a backend that counts instead of touching memory, so a walk costs
//!   nothing extra and the counts cannot drift from the code. Multiply by
//!   the number of walks.
//! * Changer side: the registry counts as it goes, per CPU, in words only
//!   that CPU writes (a plain load and store each, after the handshake's
//!   read, never between the page-table store and it);
//!   [`crate::Registry::changer_events`] sums them. The counters are
//!   `core` atomics even under loom, so they add no schedule points.

use core::ops::Sub;

use crate::sync::{plain, Ordering};
use crate::walk::{enter, leave};
use crate::words::{WalkerWords, Word};
use crate::{Barrier, Strategy};

/// What one walk's registration and deregistration execute (from
/// [`Strategy::walker_events`]). On Power: a full fence is `sync`, an
/// `lwsync` is also what a release store or release read-modify-write
/// begins with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WalkerEvents {
    /// `sync`s.
    pub full_fences: u32,
    /// `lwsync`s (explicit, or the release half of the end-of-walk store).
    pub lwsyncs: u32,
    /// Atomic read-modify-writes on a line other CPUs' walkers write too
    /// (`count-atomic`'s increment and decrement).
    pub shared_rmws: u32,
    /// Atomic read-modify-writes on this CPU's own line (`rcu`'s reader
    /// word).
    pub own_rmws: u32,
    /// Plain stores (to this CPU's own words).
    pub stores: u32,
    /// Plain loads (of this CPU's own words).
    pub loads: u32,
}

/// The counting backend: the walker's words, counted, not stored.
#[derive(Default)]
struct Tally {
    events: WalkerEvents,
    /// Values, so that the code's own arithmetic (nesting depth, flags)
    /// runs as it does on memory.
    values: [u64; 4],
}

impl Tally {
    fn slot(word: Word) -> usize {
        match word {
            Word::Count => 0,
            Word::Shared => 1,
            Word::Flag => 2,
            Word::Reader => 3,
        }
    }

    fn release(&mut self, ordering: Ordering) {
        if ordering != Ordering::Relaxed {
            self.events.lwsyncs += 1;
        }
    }

    fn rmw(&mut self, word: Word) {
        if word == Word::Shared {
            self.events.shared_rmws += 1;
        } else {
            self.events.own_rmws += 1;
        }
    }
}

/// Mirrors [`crate::words::Direct`]: which of the walker's accesses are
/// atomic read-modify-writes is the same choice, word by word.
impl WalkerWords for Tally {
    fn load(&mut self, word: Word) -> u64 {
        self.events.loads += 1;
        self.values[Self::slot(word)]
    }

    fn store(&mut self, word: Word, value: u64) {
        self.events.stores += 1;
        self.values[Self::slot(word)] = value;
    }

    fn fetch_add(&mut self, word: Word, delta: u64) -> u64 {
        let old = self.values[Self::slot(word)];
        if matches!(word, Word::Reader | Word::Shared) {
            self.rmw(word);
        } else {
            self.events.loads += 1;
            self.events.stores += 1;
        }
        self.values[Self::slot(word)] = old.wrapping_add(delta);
        old
    }

    fn fence(&mut self, barrier: Barrier) {
        match barrier {
            Barrier::Sync => self.events.full_fences += 1,
            Barrier::Lwsync => self.events.lwsyncs += 1,
            Barrier::NoFence => {}
        }
    }

    fn store_exit(&mut self, word: Word, value: u64, ordering: Ordering) {
        self.release(ordering);
        self.store(word, value);
    }

    fn update_exit(&mut self, word: Word, ordering: Ordering, f: impl Fn(u64) -> u64) {
        if word == Word::Reader {
            self.release(ordering);
            self.rmw(word);
            let v = &mut self.values[Self::slot(word)];
            *v = f(*v);
        } else {
            let old = self.load(word);
            self.store_exit(word, f(old), ordering);
        }
    }

    fn fetch_sub_exit(&mut self, word: Word, delta: u64, ordering: Ordering) {
        if word == Word::Shared {
            self.release(ordering);
            self.rmw(word);
            let v = &mut self.values[Self::slot(word)];
            *v = v.wrapping_sub(delta);
        } else {
            self.update_exit(word, ordering, |v| v.wrapping_sub(delta));
        }
    }
}

impl Strategy {
    /// What one walk under this strategy executes to register and to end
    /// (not the walk itself): the strategy's own walker code, run on a
    /// counting backend.
    pub fn walker_events(self) -> WalkerEvents {
        let mut tally = Tally::default();
        let token = enter(self, &mut tally, 1);
        leave(token, &mut tally);
        tally.events
    }
}

/// What the changer side of the registry did, summed over serializations
/// and table frees ([`crate::Registry::changer_events`]). Subtract two
/// snapshots for the events of what ran in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChangerEvents {
    /// [`crate::Registry::serialize`] calls, also those made by a table free.
    pub serializations: u64,
    /// Of those, how many found nothing to wait for.
    pub skipped: u64,
    /// `sync`s the protocol code issued (not the platform's: the kernel's
    /// `msgsnd` adds one per doorbell).
    pub full_fences: u64,
    /// `lwsync`s the protocol code issued (acquire fences after count reads).
    pub lwsyncs: u64,
    /// Atomic read-modify-writes on shared lines (`rcu`'s queue and
    /// grace-period lock).
    pub shared_rmws: u64,
    /// Loads of words other CPUs write: count shards, the shared count,
    /// `percpu` flags, `rcu` reader words (each read of a wait loop too).
    pub remote_loads: u64,
    /// IPIs sent (as the platform reported).
    pub ipis: u64,
    /// CPUs whose acknowledgement was waited for.
    pub acks_waited: u64,
    /// Iterations of wait loops (IPI acknowledgements as the platform
    /// reports them, counts, grace periods). Unlike the rest this depends
    /// on how long the wait lasts, i.e. on the machine.
    pub spins: u64,
    /// Walkers (or CPUs inside a walk) found registered by the handshake's
    /// first read: the count for the `count` family, flagged CPUs for
    /// `percpu`, CPUs inside a read-side section for `rcu`.
    pub walkers_seen: u64,
    /// Grace periods started (`rcu`).
    pub grace_periods: u64,
}

/// One counter of [`ChangerEvents`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Serializations,
    Skipped,
    FullFences,
    Lwsyncs,
    SharedRmws,
    RemoteLoads,
    Ipis,
    AcksWaited,
    Spins,
    WalkersSeen,
    GracePeriods,
}

const EVENTS: usize = 11;

/// One CPU's changer counters, alone in a cache line.
#[repr(align(128))]
pub(crate) struct EventCell([plain::AtomicU64; EVENTS]);

impl EventCell {
    pub(crate) const fn new() -> EventCell {
        EventCell([const { plain::AtomicU64::new(0) }; EVENTS])
    }

    /// Adds `n` to `ev` (only the owning CPU calls this: load + store).
    #[inline]
    pub(crate) fn add(&self, ev: Ev, n: u64) {
        let c = &self.0[ev as usize];
        c.store(c.load(plain::Ordering::Relaxed).wrapping_add(n), plain::Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ChangerEvents {
        let g = |ev: Ev| self.0[ev as usize].load(plain::Ordering::Relaxed);
        ChangerEvents {
            serializations: g(Ev::Serializations),
            skipped: g(Ev::Skipped),
            full_fences: g(Ev::FullFences),
            lwsyncs: g(Ev::Lwsyncs),
            shared_rmws: g(Ev::SharedRmws),
            remote_loads: g(Ev::RemoteLoads),
            ipis: g(Ev::Ipis),
            acks_waited: g(Ev::AcksWaited),
            spins: g(Ev::Spins),
            walkers_seen: g(Ev::WalkersSeen),
            grace_periods: g(Ev::GracePeriods),
        }
    }
}

impl ChangerEvents {
    fn zip(self, o: ChangerEvents, f: impl Fn(u64, u64) -> u64) -> ChangerEvents {
        ChangerEvents {
            serializations: f(self.serializations, o.serializations),
            skipped: f(self.skipped, o.skipped),
            full_fences: f(self.full_fences, o.full_fences),
            lwsyncs: f(self.lwsyncs, o.lwsyncs),
            shared_rmws: f(self.shared_rmws, o.shared_rmws),
            remote_loads: f(self.remote_loads, o.remote_loads),
            ipis: f(self.ipis, o.ipis),
            acks_waited: f(self.acks_waited, o.acks_waited),
            spins: f(self.spins, o.spins),
            walkers_seen: f(self.walkers_seen, o.walkers_seen),
            grace_periods: f(self.grace_periods, o.grace_periods),
        }
    }

    /// Field-wise sum.
    pub fn plus(self, o: ChangerEvents) -> ChangerEvents {
        self.zip(o, u64::wrapping_add)
    }
}

impl Sub for ChangerEvents {
    type Output = ChangerEvents;

    /// The events between two snapshots (`later - earlier`).
    fn sub(self, earlier: ChangerEvents) -> ChangerEvents {
        self.zip(earlier, u64::wrapping_sub)
    }
}
