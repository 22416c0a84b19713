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

use core::cell::Cell;

use crate::storebuf::StoreBuffer;
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
const WALK_STORES: usize = 2;

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
}

/// A walk's registration words behind its store buffer.
pub(crate) struct Buffered<'e, 'a, const CPUS: usize, const SLOTS: usize> {
    pub(crate) direct: Direct<'a, CPUS, SLOTS>,
    pub(crate) emulation: &'e Emulation,
}

impl<const CPUS: usize, const SLOTS: usize> Buffered<'_, '_, CPUS, SLOTS> {
    /// Runs `f` on the buffer (taken out of the guard's cell and put back).
    fn with<R>(
        &mut self,
        f: impl FnOnce(&mut StoreBuffer<Word, WALK_STORES>, &mut Direct<'_, CPUS, SLOTS>) -> R,
    ) -> R {
        let mut buffer = self.emulation.buffer.get();
        let result = f(&mut buffer, &mut self.direct);
        self.emulation.buffer.set(buffer);
        result
    }

    /// Publishes what has passed its deadline.
    pub(crate) fn load_point(&mut self) {
        let now = (self.emulation.clock)();
        self.with(|buffer, memory| buffer.load_point(memory, now));
    }

    /// Publishes what an earlier `lwsync` ordered before the caller's next
    /// store, and what has passed its deadline.
    pub(crate) fn store_point(&mut self) {
        let now = (self.emulation.clock)();
        self.with(|buffer, memory| buffer.store_point(memory, now));
    }
}

impl<const CPUS: usize, const SLOTS: usize> WalkerWords for Buffered<'_, '_, CPUS, SLOTS> {
    fn load(&mut self, word: Word) -> u64 {
        match self.emulation.buffer.get().forward(word) {
            Some(value) => value,
            None => self.direct.load(word),
        }
    }

    fn store(&mut self, word: Word, value: u64) {
        let now = (self.emulation.clock)();
        let delay = self.direct.registry.draw_delay(self.direct.cpu, self.emulation.max_delay);
        let deadline = now.saturating_add(delay);
        self.with(|buffer, memory| buffer.store(memory, word, value, deadline));
    }

    fn fence(&mut self, barrier: Barrier) {
        self.with(|buffer, memory| buffer.fence(memory, barrier));
        // The real fence too: after a drain it orders the published stores
        // before the walk's loads on any host.
        barrier.fence();
    }

    /// A release (or, for `count-nobarrier`, relaxed) store: everything
    /// pending is published first, then the exit store is done directly.
    fn store_exit(&mut self, word: Word, value: u64, ordering: crate::sync::Ordering) {
        self.with(|buffer, memory| buffer.drain(memory));
        self.direct.store_exit(word, value, ordering);
    }
}

impl<const CPUS: usize, const SLOTS: usize> Registry<CPUS, SLOTS> {
    /// Turns the weak-memory emulation on (`Some`) or off (`None`).
    ///
    /// On: every walker-side registration store (the `count` family's shard
    /// increment, the `percpu` flag, the `rcu` reader word) stays in a
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
