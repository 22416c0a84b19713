//! Weak-memory emulation for the walker side: what a walk's registration
//! stores do when [`Registry::set_weak_memory`] is on.
//!
//! Each walk gets a [`StoreBuffer`] (in its [`crate::WalkGuard`]); every
//! registration store of the strategy goes into it with a deadline drawn
//! uniformly from `[now, now + max_delay_ticks]` by the walking CPU's
//! xorshift generator, and is published at the first point that the Power
//! model or the deadline forces (see [`crate::storebuf`]). The walker's own
//! loads of its words read the pending values; the end of the walk (a
//! release store) publishes everything first.
//!
//! `count-atomic`'s increment is an atomic read-modify-write of a word
//! other CPUs change too, so the buffer cannot hold a *value* for it (a
//! late value would overwrite their updates). It holds the increment, and
//! publication performs the atomic add. On Power the `stdcx.` takes its
//! place in the word's coherence order at once and only its visibility to
//! other CPUs is late; here the whole add happens at publication. Only
//! the place in the coherence order differs: nobody reads the value the
//! walker's add returned (`atomic_inc` returns nothing), its own loads of
//! the word see memory plus its pending increments, and for a counter of
//! adds any coherence order of the same adds is one Power allows. What
//! other CPUs see is what matters for the handshake: the increment stays
//! invisible until `sync` (which publishes it before the walk's first
//! table read), a later store after `lwsync`, the end of the walk or its
//! deadline — the same points as `count`'s plain store.

use core::cell::Cell;

use crate::storebuf::{Memory, StoreBuffer};
use crate::sync::plain;
use crate::words::{Direct, WalkerWords, Word};
use crate::{Barrier, Registry, Strategy};

/// Settings of the weak-memory emulation ([`Registry::set_weak_memory`]).
#[derive(Clone, Copy, Debug)]
pub struct WeakMemory {
    /// Longest time a registration store may stay unpublished, in `clock`
    /// ticks (checked at the walker's points, so it can be exceeded by the
    /// time between two points).
    pub max_delay_ticks: u64,
    /// The walking CPU's clock (the kernel's timebase reader). Called on the
    /// walking CPU, in whatever mode the walk runs in (also real mode).
    pub clock: fn() -> u64,
    /// Seed of the per-CPU delay generators (same seed, same walks per CPU:
    /// same delays).
    pub seed: u64,
}

/// Capacity of a walk's store buffer: a walk buffers at most its
/// registration store (its exit store is done directly, after a drain).
/// One slot keeps the guard small.
const WALK_STORES: usize = 1;

/// The emulation state a walk carries in its guard.
pub(crate) struct Emulation {
    clock: fn() -> u64,
    max_delay: u64,
    buffer: Cell<StoreBuffer<Word, WALK_STORES>>,
}

impl Emulation {
    /// Stores still pending.
    pub(crate) fn pending(&self) -> usize {
        self.buffer.get().len()
    }

    /// The walk's words `direct` behind this buffer, with this clock.
    pub(crate) fn words<'e, 'a, const CPUS: usize, const SLOTS: usize>(
        &'e self,
        direct: Direct<'a, CPUS, SLOTS>,
    ) -> Buffered<'e, Direct<'a, CPUS, SLOTS>, Clocked<'a, CPUS, SLOTS>, WALK_STORES> {
        let timing = Clocked {
            registry: direct.registry,
            cpu: direct.cpu,
            clock: self.clock,
            max_delay: self.max_delay,
        };
        Buffered { direct, buffer: &self.buffer, timing }
    }
}

/// The words a [`Buffered`] walker stores to, and where they live in the
/// memory its buffer publishes to.
pub(crate) trait WordMemory: WalkerWords + Memory {
    /// The location of `word`.
    fn address(&self, word: Word) -> Self::Addr;
}

impl<const CPUS: usize, const SLOTS: usize> WordMemory for Direct<'_, CPUS, SLOTS> {
    fn address(&self, word: Word) -> Word {
        word
    }
}

/// When buffered stores are due.
pub(crate) trait Timing {
    /// The current tick, for the points.
    fn now(&self) -> u64;
    /// The deadline of a store buffered now.
    fn deadline(&self) -> u64;
}

/// The guard's timing: the configured clock, deadlines drawn from the
/// walking CPU's generator.
pub(crate) struct Clocked<'a, const CPUS: usize, const SLOTS: usize> {
    registry: &'a Registry<CPUS, SLOTS>,
    cpu: usize,
    clock: fn() -> u64,
    max_delay: u64,
}

impl<const CPUS: usize, const SLOTS: usize> Timing for Clocked<'_, CPUS, SLOTS> {
    fn now(&self) -> u64 {
        (self.clock)()
    }

    fn deadline(&self) -> u64 {
        self.now().saturating_add(self.registry.draw_delay(self.cpu, self.max_delay))
    }
}

/// A walker's registration words (`direct`) behind a store buffer: what
/// every walk does with the emulation on, and what the litmus explorer of
/// the tests runs on simulated memory.
pub(crate) struct Buffered<'e, D: WordMemory, T, const N: usize> {
    pub(crate) direct: D,
    pub(crate) buffer: &'e Cell<StoreBuffer<D::Addr, N>>,
    pub(crate) timing: T,
}

impl<D: WordMemory, T: Timing, const N: usize> Buffered<'_, D, T, N> {
    /// Runs `f` on the buffer (taken out of its cell and put back).
    fn with<R>(&mut self, f: impl FnOnce(&mut StoreBuffer<D::Addr, N>, &mut D) -> R) -> R {
        let mut buffer = self.buffer.get();
        let result = f(&mut buffer, &mut self.direct);
        self.buffer.set(buffer);
        result
    }

    /// Publishes what has passed its deadline.
    pub(crate) fn load_point(&mut self) {
        let now = self.timing.now();
        self.with(|buffer, memory| buffer.load_point(memory, now));
    }

    /// Publishes what an earlier `lwsync` ordered before the caller's next
    /// store, and what has passed its deadline.
    pub(crate) fn store_point(&mut self) {
        let now = self.timing.now();
        self.with(|buffer, memory| buffer.store_point(memory, now));
    }
}

impl<D: WordMemory, T: Timing, const N: usize> WalkerWords for Buffered<'_, D, T, N> {
    /// Store forwarding; for an additive word (the shared count) memory's
    /// value plus this CPU's pending increments.
    fn load(&mut self, word: Word) -> u64 {
        let addr = self.direct.address(word);
        if word.additive() {
            let pending = self.buffer.get().iter().filter(|p| p.addr == addr).fold(0, |s, p| s + p.value);
            return self.direct.load(word).wrapping_add(pending);
        }
        match self.buffer.get().forward(addr) {
            Some(value) => value,
            None => self.direct.load(word),
        }
    }

    fn store(&mut self, word: Word, value: u64) {
        debug_assert!(!word.additive(), "the shared walker count is only added to");
        let (addr, deadline) = (self.direct.address(word), self.timing.deadline());
        self.with(|buffer, memory| buffer.store(memory, addr, value, deadline));
    }

    /// `count-atomic`'s `atomic_inc` goes into the buffer like every other
    /// registration store: the buffer holds the increment, and publishing
    /// it is the atomic add (see the module docs for what that models).
    /// Other words: a load and a buffered store, as before.
    fn fetch_add(&mut self, word: Word, delta: u64) -> u64 {
        let old = self.load(word);
        if word.additive() {
            let (addr, deadline) = (self.direct.address(word), self.timing.deadline());
            self.with(|buffer, memory| buffer.store(memory, addr, delta, deadline));
        } else {
            self.store(word, old.wrapping_add(delta));
        }
        old
    }

    fn fence(&mut self, barrier: Barrier) {
        self.with(|buffer, memory| buffer.fence(memory, barrier));
        // The real fence too: after a drain it orders the published stores
        // before the walk's loads on any host.
        self.direct.fence(barrier);
    }

    /// A release (or, for `count-nobarrier`, relaxed) store: everything
    /// pending is published first, then the exit store is done directly.
    fn store_exit(&mut self, word: Word, value: u64, ordering: crate::sync::Ordering) {
        self.with(|buffer, memory| buffer.drain(memory));
        self.direct.store_exit(word, value, ordering);
    }

    /// The shared count's release decrement: everything pending first, then
    /// the real read-modify-write.
    fn fetch_sub_exit(&mut self, word: Word, delta: u64, ordering: crate::sync::Ordering) {
        self.with(|buffer, memory| buffer.drain(memory));
        self.direct.fetch_sub_exit(word, delta, ordering);
    }
}

impl<const CPUS: usize, const SLOTS: usize> Registry<CPUS, SLOTS> {
    /// Turns the weak-memory emulation on (`Some`) or off (`None`).
    ///
    /// On: every walker-side registration store (the `count` family's shard
    /// increment, `count-atomic`'s atomic increment, the `percpu` flag, the
    /// `rcu` reader word) stays in a
    /// per-walk store buffer until a point the Power model forces (`sync`
    /// publishes it before the walk's first table read; after `lwsync` the
    /// walk's next store publishes it; with no fence nothing but the end of
    /// the walk does) or its random deadline passes, checked at
    /// [`crate::WalkGuard::load_point`] / [`crate::WalkGuard::store_point`].
    /// `ipi`, `ipi-nowait` and `none` walkers store nothing. Walks already
    /// running keep the setting they started with. Reseeds every CPU's delay
    /// generator from `seed`.
    ///
    /// Off (the default): a walk costs one relaxed load and a branch more
    /// than without the emulation.
    pub fn set_weak_memory(&self, config: Option<WeakMemory>) {
        self.weak_on.store(false, plain::Ordering::Relaxed);
        if let Some(config) = config {
            for (cpu, state) in self.cpus.iter().enumerate() {
                state.rng.store(seed_for(config.seed, cpu), plain::Ordering::Relaxed);
            }
        }
        *self.weak.write() = config;
        self.weak_on.store(config.is_some(), plain::Ordering::Relaxed);
    }

    /// The emulation settings, `None` when it is off.
    pub fn weak_memory(&self) -> Option<WeakMemory> {
        if self.weak_on.load(plain::Ordering::Relaxed) {
            *self.weak.read()
        } else {
            None
        }
    }

    /// The emulation state for a walk under `strategy`, if it is on and the
    /// strategy's walker stores anything.
    pub(crate) fn emulation(&self, strategy: Strategy) -> Option<Emulation> {
        if !strategy.walker_stores() {
            return None;
        }
        let config = (*self.weak.read())?;
        Some(Emulation {
            clock: config.clock,
            max_delay: config.max_delay_ticks,
            buffer: Cell::new(StoreBuffer::new()),
        })
    }

    /// A delay uniform in `[0, max]` from `cpu`'s generator.
    fn draw_delay(&self, cpu: usize, max: u64) -> u64 {
        let rng = &self.cpus[cpu].rng;
        let next = xorshift(rng.load(plain::Ordering::Relaxed));
        rng.store(next, plain::Ordering::Relaxed);
        // Multiply-shift: uniform over [0, max] without a division.
        ((u128::from(next) * (u128::from(max) + 1)) >> 64) as u64
    }
}

/// Initial generator state of `cpu` (never 0, which xorshift cannot leave).
fn seed_for(seed: u64, cpu: usize) -> u64 {
    // splitmix64 of the seed and the CPU index.
    let mut z = seed ^ (cpu as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if z == 0 {
        0x2545_f491_4f6c_dd1d
    } else {
        z
    }
}

/// One xorshift64 step (Marsaglia 13/7/17).
fn xorshift(mut x: u64) -> u64 {
    if x == 0 {
        // Not seeded (a registry whose emulation was never turned on): leave
        // the generator's fixed point.
        x = seed_for(0, 0);
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}
