//! The walker side: [`Registry::begin_walk`] and its guard.

use core::fmt;

use crate::changer::{flag_enter, flag_exit};
use crate::rcu::{reader_enter, reader_exit};
use crate::registry::DEFER_SLOTS;
use crate::sync::plain;
use crate::weak::Emulation;
use crate::words::{Direct, WalkerWords};
use crate::{counter, Barrier, Counter, MmSync, Registry, Strategy, MAX_CPUS};

/// What a walk has to undo when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Token {
    /// Nothing: the walker is protected by EE=0 alone.
    IrqsOff,
    /// The mm's walker count (this counter) was incremented with this
    /// barrier.
    Counted(Counter, Barrier),
    /// This CPU's `percpu` flag was set; restore `previous` at the end.
    Flagged { previous: u32 },
    /// This CPU entered an `rcu` read-side section.
    Reader,
}

/// The walker side of `strategy`'s registration, on whatever words `walker`
/// stands for (the real atomics, a store buffer in front of them, or the
/// litmus explorer's simulated memory).
///
/// * `count` family: `walkers += 1` (relaxed; `count-atomic`: an atomic
///   add to the mm's shared count), then the strategy's fence (`sync` for
///   `count`/`count-atomic`/`count-wait`).
/// * `percpu`: this CPU's flag := mm id, then `sync`.
/// * `rcu`: enter a read-side section on this CPU, then `sync`.
/// * `ipi`, `ipi-nowait`, `none`: nothing (EE=0 is the protection).
#[inline(always)]
pub(crate) fn enter<W: WalkerWords>(strategy: Strategy, walker: &mut W, mm_id: u32) -> Token {
    if let (Some(c), Some(barrier)) = (strategy.counter(), strategy.counter_barrier()) {
        counter::enter(walker, c, barrier);
        return Token::Counted(c, barrier);
    }
    match strategy {
        Strategy::PerCpu => Token::Flagged { previous: flag_enter(walker, mm_id) },
        Strategy::Rcu => {
            reader_enter(walker);
            Token::Reader
        }
        _ => Token::IrqsOff,
    }
}

/// The walker side of ending a walk registered as `token`.
#[inline(always)]
pub(crate) fn leave<W: WalkerWords>(token: Token, walker: &mut W) {
    match token {
        Token::IrqsOff => {}
        Token::Counted(c, barrier) => counter::exit(walker, c, barrier),
        Token::Flagged { previous } => flag_exit(walker, previous),
        Token::Reader => reader_exit(walker),
    }
}

/// An ongoing lockless walk; dropping it ends the walk.
///
/// If [`WalkGuard::requires_irqs_off`], the caller must keep MSR\[EE\]=0
/// from before its first table read until after its last use of anything
/// it read (simplest: disable before `begin_walk`, enable after the drop).
/// The walk must stay on the CPU given to `begin_walk`.
///
/// With the weak-memory emulation on ([`Registry::set_weak_memory`]) the
/// guard holds the walk's store buffer; the walker reports its points with
/// [`WalkGuard::load_point`] (before each page-table read, inside delay
/// loops) and [`WalkGuard::store_point`] (before each of its own stores
/// during the walk). Both are a branch and nothing else when it is off.
/// The guard is therefore not `Sync` (it is `Send`).
#[must_use = "dropping the guard ends the walk"]
pub struct WalkGuard<'a, const CPUS: usize = MAX_CPUS, const SLOTS: usize = DEFER_SLOTS> {
    registry: &'a Registry<CPUS, SLOTS>,
    mm: &'a MmSync,
    strategy: Strategy,
    cpu: usize,
    token: Token,
    /// The walk's store buffer, when the emulation was on at its start.
    emulation: Option<Emulation>,
}

impl<const CPUS: usize, const SLOTS: usize> Registry<CPUS, SLOTS> {
    /// Starts a lockless walk of `mm` on CPU `cpu` (the executing CPU,
    /// a logical index below `CPUS`) under `strategy`.
    ///
    /// * `count` family: `walkers += 1` (relaxed; `count-atomic`: an atomic
    ///   add to the mm's shared count), then the strategy's fence (`sync`
    ///   for `count`/`count-atomic`/`count-wait`).
    /// * `percpu`: this CPU's flag := mm id, then `sync`.
    /// * `rcu`: enter a read-side section on this CPU, then `sync`.
    /// * `ipi`, `ipi-nowait`, `none`: nothing (EE=0 is the protection).
    ///
    /// With the weak-memory emulation on, the stores above go into the
    /// walk's store buffer ([`Registry::set_weak_memory`]).
    #[inline(always)]
    pub fn begin_walk<'a>(
        &'a self,
        strategy: Strategy,
        mm: &'a MmSync,
        cpu: usize,
    ) -> WalkGuard<'a, CPUS, SLOTS> {
        if self.weak_on.load(plain::Ordering::Relaxed) {
            return self.begin_emulated(strategy, mm, cpu);
        }
        let token = enter(strategy, &mut Direct { registry: self, mm, cpu }, mm.id());
        WalkGuard { registry: self, mm, strategy, cpu, token, emulation: None }
    }

    /// [`Registry::begin_walk`] with the weak-memory emulation on: out of
    /// line, so that the normal path stays as small as it was.
    #[cold]
    #[inline(never)]
    fn begin_emulated<'a>(
        &'a self,
        strategy: Strategy,
        mm: &'a MmSync,
        cpu: usize,
    ) -> WalkGuard<'a, CPUS, SLOTS> {
        let mut guard =
            WalkGuard { registry: self, mm, strategy, cpu, token: Token::IrqsOff, emulation: None };
        guard.emulation = self.emulation(strategy);
        let mut direct = guard.direct();
        guard.token = match &guard.emulation {
            None => enter(strategy, &mut direct, mm.id()),
            Some(emulation) => enter(strategy, &mut emulation.words(direct), mm.id()),
        };
        guard
    }
}

impl<'a, const CPUS: usize, const SLOTS: usize> WalkGuard<'a, CPUS, SLOTS> {
    /// The strategy the walk was started with.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The CPU the walk runs on.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// The id of the mm being walked.
    pub fn mm_id(&self) -> u32 {
        self.mm.id()
    }

    /// Whether the walk is only protected while MSR\[EE\]=0
    /// ([`Strategy::walker_needs_irqs_off`]).
    pub fn requires_irqs_off(&self) -> bool {
        self.strategy.walker_needs_irqs_off()
    }

    /// Ends the walk (same as dropping the guard).
    pub fn end(self) {}

    /// Weak-memory emulation point before one of the walk's loads (each
    /// page-table read; call it inside delay loops too): publishes the
    /// registration stores whose deadline has passed. Nothing when the
    /// emulation is off.
    #[inline(always)]
    pub fn load_point(&self) {
        if self.emulation.is_some() {
            self.point(false);
        }
    }

    /// Weak-memory emulation point before one of the walk's own stores
    /// (e.g. the `compare_exchange` that takes a page reference): publishes
    /// the registration stores an earlier `lwsync` ordered before it, and
    /// those whose deadline has passed. Nothing when the emulation is off.
    #[inline(always)]
    pub fn store_point(&self) {
        if self.emulation.is_some() {
            self.point(true);
        }
    }

    /// A load point, or a store point if `store`: out of line, so that a
    /// point costs a branch in the walker when the emulation is off.
    #[cold]
    #[inline(never)]
    fn point(&self, store: bool) {
        if let Some(emulation) = &self.emulation {
            let mut words = emulation.words(self.direct());
            if store {
                words.store_point();
            } else {
                words.load_point();
            }
        }
    }

    /// Registration stores of this walk not yet published (always 0 when the
    /// emulation is off).
    pub fn pending_stores(&self) -> usize {
        self.emulation.as_ref().map_or(0, Emulation::pending)
    }

    /// Whether this walk runs under the weak-memory emulation.
    pub fn emulated(&self) -> bool {
        self.emulation.is_some()
    }

    /// The walk's registration words as the real atomics.
    #[inline(always)]
    fn direct(&self) -> Direct<'a, CPUS, SLOTS> {
        Direct { registry: self.registry, mm: self.mm, cpu: self.cpu }
    }
}

impl<const CPUS: usize, const SLOTS: usize> Drop for WalkGuard<'_, CPUS, SLOTS> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.emulation.is_some() {
            self.end_emulated();
        } else {
            leave(self.token, &mut self.direct());
        }
    }
}

impl<const CPUS: usize, const SLOTS: usize> WalkGuard<'_, CPUS, SLOTS> {
    /// The end of a walk under the emulation: out of line, like its start.
    #[cold]
    #[inline(never)]
    fn end_emulated(&self) {
        if let Some(emulation) = &self.emulation {
            leave(self.token, &mut emulation.words(self.direct()));
        }
    }
}

impl<const CPUS: usize, const SLOTS: usize> fmt::Debug for WalkGuard<'_, CPUS, SLOTS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalkGuard")
            .field("strategy", &self.strategy)
            .field("cpu", &self.cpu)
            .field("mm", &self.mm.id())
            .field("pending_stores", &self.pending_stores())
            .finish()
    }
}
