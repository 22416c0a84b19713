//! The `rcu` strategy: walkers are read-side critical sections marked in a
//! per-CPU *reader word*; a grace period is over when every CPU that was in
//! a section when it started has left it.
//!
//! Reader word: low [`DEPTH_BITS`] bits = nesting depth, the rest = count of
//! quiescent states (outermost exits). Only the owning CPU writes it.
//!
//! Two ways to wait:
//! * synchronously ([`Registry::synchronize_rcu`], used by `serialize`):
//!   `sync`, snapshot each online CPU's word, spin until each CPU that was
//!   inside has reported a quiescent state;
//! * deferred: `free_table_when_safe` records the table with a *cookie*
//!   (the grace-period sequence value that must be reached, as Linux
//!   `get_state_synchronize_rcu`) in a fixed queue; [`Registry::reclaim`]
//!   drives a non-blocking grace-period machine and frees what is due.
//!
//! Grace-period sequence (`gp.seq`, as Linux `rcu_seq`): bit 0 set while a
//! grace period is in progress, `seq >> 1` = grace periods completed. A
//! grace period starts by storing the odd value, then `sync`, then taking
//! the snapshot; a deferrer does `sync` after unlinking the table and then
//! reads `seq`. Either the deferrer sees the odd value (and needs one more
//! grace period), or the start's `sync` is after the deferrer's in the
//! `sync` order, so every reader the snapshot missed reads the new PMD.

use crate::events::Ev;
use crate::platform::Deadline;
use crate::sync::{array_of, loom_const_fn, AtomicBool, AtomicU64, AtomicU8, Ordering};
use crate::words::{WalkerWords, Word};
use crate::{Barrier, FreeOutcome, Platform, Registry, SerializeStats, SyncError};

/// Bits of the reader word holding the nesting depth.
pub(crate) const DEPTH_BITS: u32 = 16;
const DEPTH_MASK: u64 = (1 << DEPTH_BITS) - 1;

/// Read-side nesting depth in a reader word.
pub(crate) const fn depth(word: u64) -> u64 {
    word & DEPTH_MASK
}

/// Quiescent states reported so far in a reader word.
pub(crate) const fn quiescent(word: u64) -> u64 {
    word >> DEPTH_BITS
}

/// The reader word after one exit: the outermost exit reports a quiescent
/// state (depth 0, count + 1); an inner exit only lowers the depth.
const fn after_exit(word: u64) -> u64 {
    if depth(word) == 1 {
        (quiescent(word) + 1) << DEPTH_BITS
    } else {
        word - 1
    }
}

/// Whether a CPU whose word was `snap` when a grace period started no
/// longer holds it back, given its word is now `now`.
pub(crate) const fn passed(snap: u64, now: u64) -> bool {
    depth(snap) == 0 || quiescent(now) != quiescent(snap)
}

/// The grace-period machine driven by [`Registry::reclaim`].
pub(crate) struct GraceState<const CPUS: usize> {
    /// `rcu_seq`-style sequence, see the module docs.
    seq: AtomicU64,
    /// Try-lock: one CPU at a time advances the machine.
    busy: AtomicBool,
    /// Reader words at the start of the grace period in progress.
    snap: [AtomicU64; CPUS],
}

impl<const CPUS: usize> GraceState<CPUS> {
    loom_const_fn! {
        pub(crate) fn new() -> Self {
            GraceState {
                seq: AtomicU64::new(0),
                busy: AtomicBool::new(false),
                snap: array_of![AtomicU64::new(0); CPUS],
            }
        }
    }
}

/// Slot states of the deferred-free queue.
const EMPTY: u8 = 0;
const FILLING: u8 = 1;
const READY: u8 = 2;
const FREEING: u8 = 3;

/// One queued table.
struct DeferSlot {
    state: AtomicU8,
    table: AtomicU64,
    cookie: AtomicU64,
}

impl DeferSlot {
    loom_const_fn! {
        fn new() -> DeferSlot {
            DeferSlot {
                state: AtomicU8::new(EMPTY),
                table: AtomicU64::new(0),
                cookie: AtomicU64::new(0),
            }
        }
    }
}

/// Fixed-capacity queue of tables waiting for a grace period (no alloc).
pub(crate) struct DeferQueue<const SLOTS: usize> {
    slots: [DeferSlot; SLOTS],
}

impl<const SLOTS: usize> DeferQueue<SLOTS> {
    loom_const_fn! {
        pub(crate) fn new() -> Self {
            DeferQueue { slots: array_of![DeferSlot::new(); SLOTS] }
        }
    }

    /// Queues `table` until the sequence reaches `cookie`; false if full.
    /// Also returns the compare-and-swaps tried (event accounting).
    fn push(&self, table: u64, cookie: u64) -> (bool, u64) {
        let mut tries = 0;
        let Some(slot) = self.slots.iter().find(|slot| {
            tries += 1;
            slot.state.compare_exchange(EMPTY, FILLING, Ordering::Acquire, Ordering::Relaxed).is_ok()
        }) else {
            return (false, tries);
        };
        slot.table.store(table, Ordering::Relaxed);
        slot.cookie.store(cookie, Ordering::Relaxed);
        slot.state.store(READY, Ordering::Release);
        (true, tries)
    }

    /// Whether some queued table needs a grace period beyond sequence `seq`.
    fn waits_beyond(&self, seq: u64) -> bool {
        self.slots.iter().any(|slot| {
            slot.state.load(Ordering::Acquire) == READY && slot.cookie.load(Ordering::Relaxed) > seq
        })
    }

    /// Frees every queued table whose cookie is at most `done`. Returns
    /// how many, and the compare-and-swaps tried (event accounting).
    pub(crate) fn take_completed(&self, done: u64, mut free: impl FnMut(u64)) -> (usize, u64) {
        let mut freed = 0;
        let mut tries = 0;
        for slot in &self.slots {
            tries += 1;
            if slot.state.compare_exchange(READY, FREEING, Ordering::Acquire, Ordering::Relaxed).is_err() {
                continue;
            }
            if slot.cookie.load(Ordering::Relaxed) > done {
                slot.state.store(READY, Ordering::Release);
                continue;
            }
            free(slot.table.load(Ordering::Relaxed));
            slot.state.store(EMPTY, Ordering::Release);
            freed += 1;
        }
        (freed, tries)
    }

    /// Slots not empty.
    pub(crate) fn pending(&self) -> usize {
        self.slots.iter().filter(|slot| slot.state.load(Ordering::Relaxed) != EMPTY).count()
    }
}

/// Walker entry: depth + 1, then `sync` before the first table read.
#[inline]
pub(crate) fn reader_enter<W: WalkerWords>(walker: &mut W) {
    let old = walker.fetch_add(Word::Reader, 1);
    assert!(depth(old) < DEPTH_MASK, "rcu read-side nesting overflow");
    walker.fence(Barrier::Sync);
}

/// Walker exit: release so the walk's reads are complete before a grace
/// period can see the quiescent state.
#[inline]
pub(crate) fn reader_exit<W: WalkerWords>(walker: &mut W) {
    walker.update_exit(Word::Reader, Ordering::Release, after_exit);
}

impl<const CPUS: usize, const SLOTS: usize> Registry<CPUS, SLOTS> {
    /// Waits for a full grace period: every online CPU that is inside a
    /// read-side section after the `sync` leaves it (or times out naming
    /// the CPU).
    pub(crate) fn synchronize_rcu<P: Platform>(&self, platform: &P) -> Result<SerializeStats, SyncError> {
        Barrier::Sync.fence();
        let deadline = Deadline::start(platform);
        let mut stats = SerializeStats { skipped: true, ..SerializeStats::default() };
        let me = platform.this_cpu();
        self.note(me, Ev::FullFences, 1);
        for cpu in self.online(platform) {
            let snap = self.cpus[cpu].reader.load(Ordering::Acquire);
            if cpu != me {
                // Its own word is not a remote load (`percpu` counts alike).
                self.note(me, Ev::RemoteLoads, 1);
            }
            if depth(snap) != 0 {
                stats.skipped = false;
                stats.walkers_seen += 1;
                self.note(me, Ev::WalkersSeen, 1);
                let spins = self.wait_quiescent(cpu, snap, &deadline, platform);
                let spun = match spins {
                    Ok(n) => n,
                    Err(SyncError::GracePeriodStalled { spins, .. }) => spins,
                    Err(_) => 0,
                };
                self.note(me, Ev::Spins, spun);
                self.note(me, Ev::RemoteLoads, spun + 1);
                stats.spins += spins?;
            }
        }
        Ok(stats)
    }

    /// Spins until `cpu` has passed snapshot `snap`; returns the spins.
    fn wait_quiescent<P: Platform>(
        &self,
        cpu: usize,
        snap: u64,
        deadline: &Deadline,
        platform: &P,
    ) -> Result<u64, SyncError> {
        let mut spins = 0;
        loop {
            let now = self.cpus[cpu].reader.load(Ordering::Acquire);
            if passed(snap, now) {
                return Ok(spins);
            }
            if deadline.expired(platform) {
                let (depth, quiescent) = (depth(now), quiescent(now));
                return Err(SyncError::GracePeriodStalled { cpu, depth, quiescent, spins });
            }
            platform.relax();
            spins += 1;
        }
    }

    /// The grace-period sequence (see the module docs): a
    /// [`FreeOutcome::Deferred`] cookie is due once this reaches it.
    pub fn gp_sequence(&self) -> u64 {
        self.gp.seq.load(Ordering::Acquire)
    }

    /// Cookie for a table unlinked before this call: the sequence value at
    /// which a grace period that started after the unlink has completed.
    fn gp_cookie(&self, cpu: usize) -> u64 {
        Barrier::Sync.fence();
        let seq = self.gp.seq.load(Ordering::Relaxed);
        self.note(cpu, Ev::FullFences, 1);
        (seq + 3) & !1
    }

    /// `rcu` table free: queue behind a grace period (and start one); if
    /// the queue is full, reclaim and retry, and finally wait synchronously.
    pub(crate) fn defer_free<P: Platform>(
        &self,
        platform: &P,
        table: u64,
        free: &mut impl FnMut(u64),
    ) -> Result<FreeOutcome, SyncError> {
        let cpu = platform.this_cpu();
        let cookie = self.gp_cookie(cpu);
        let (pushed, tries) = self.deferred.push(table, cookie);
        self.note(cpu, Ev::SharedRmws, tries);
        if pushed || self.push_after_reclaim(platform, table, cookie, free) {
            // Start the grace period now (as `call_rcu` kicks the machine),
            // so readers that begin after this point cannot delay it.
            self.advance_grace_period(platform);
            return Ok(FreeOutcome::Deferred { cookie });
        }
        let stats = self.synchronize_rcu(platform)?;
        free(table);
        Ok(FreeOutcome::FreedAfterGracePeriod(stats))
    }

    /// Frees what is due to make room, then retries the push.
    fn push_after_reclaim<P: Platform>(
        &self,
        platform: &P,
        table: u64,
        cookie: u64,
        free: &mut impl FnMut(u64),
    ) -> bool {
        self.reclaim(platform, &mut *free);
        let (pushed, tries) = self.deferred.push(table, cookie);
        self.note(platform.this_cpu(), Ev::SharedRmws, tries);
        pushed
    }

    /// Moves the grace-period machine as far as it can go without waiting
    /// (finish the current one, start the next, finish it if nobody reads).
    pub(crate) fn advance_grace_period<P: Platform>(&self, platform: &P) {
        let locked = self.gp.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed);
        self.note(platform.this_cpu(), Ev::SharedRmws, 1);
        if locked.is_err() {
            return;
        }
        for _ in 0..3 {
            if !self.gp_step(platform) {
                break;
            }
        }
        self.gp.busy.store(false, Ordering::Release);
    }

    /// One step of the machine; false if it could not move.
    fn gp_step<P: Platform>(&self, platform: &P) -> bool {
        let seq = self.gp.seq.load(Ordering::Relaxed);
        if seq & 1 == 1 {
            self.try_finish_gp(seq, platform.this_cpu())
        } else {
            self.try_start_gp(seq, platform)
        }
    }

    /// Starts a grace period if a queued table needs one.
    fn try_start_gp<P: Platform>(&self, seq: u64, platform: &P) -> bool {
        if !self.deferred.waits_beyond(seq) {
            return false;
        }
        self.gp.seq.store(seq + 1, Ordering::Relaxed);
        Barrier::Sync.fence();
        let online = platform.online_cpus();
        for (cpu, snap) in self.gp.snap.iter().enumerate() {
            let word = if online.test(cpu) { self.cpus[cpu].reader.load(Ordering::Acquire) } else { 0 };
            snap.store(word, Ordering::Relaxed);
        }
        let me = platform.this_cpu();
        self.note(me, Ev::FullFences, 1);
        self.note(me, Ev::GracePeriods, 1);
        self.note(me, Ev::RemoteLoads, online.count() as u64);
        true
    }

    /// Completes the grace period in progress if every CPU has passed.
    fn try_finish_gp(&self, seq: u64, me: usize) -> bool {
        let mut reads = 0;
        let all_passed = self.gp.snap.iter().enumerate().all(|(cpu, snap)| {
            let snap = snap.load(Ordering::Relaxed);
            depth(snap) == 0 || {
                reads += 1;
                passed(snap, self.cpus[cpu].reader.load(Ordering::Acquire))
            }
        });
        self.note(me, Ev::RemoteLoads, reads);
        if all_passed {
            self.gp.seq.store(seq + 1, Ordering::Release);
        }
        all_passed
    }
}
