//! The walker side: [`Registry::begin_walk`] and its guard.

use core::fmt;

use crate::registry::DEFER_SLOTS;
use crate::{counter, Barrier, MmSync, Registry, Strategy, MAX_CPUS};

/// What a walk has to undo when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// Nothing: the walker is protected by EE=0 alone.
    IrqsOff,
    /// The mm's walker count was incremented with this barrier.
    Counted(Barrier),
    /// Store-delay emulation: the increment is published only at the end.
    CountedLate(Barrier),
    /// This CPU's `percpu` flag was set; restore `previous` at the end.
    Flagged { previous: u32 },
    /// This CPU entered an `rcu` read-side section.
    Reader,
}

/// An ongoing lockless walk; dropping it ends the walk.
///
/// If [`WalkGuard::requires_irqs_off`], the caller must keep MSR\[EE\]=0
/// from before its first table read until after its last use of anything
/// it read (simplest: disable before `begin_walk`, enable after the drop).
/// The walk must stay on the CPU given to `begin_walk`.
#[must_use = "dropping the guard ends the walk"]
pub struct WalkGuard<'a, const CPUS: usize = MAX_CPUS, const SLOTS: usize = DEFER_SLOTS> {
    registry: &'a Registry<CPUS, SLOTS>,
    mm: &'a MmSync,
    strategy: Strategy,
    cpu: usize,
    token: Token,
}

impl<const CPUS: usize, const SLOTS: usize> Registry<CPUS, SLOTS> {
    /// Starts a lockless walk of `mm` on CPU `cpu` (the executing CPU,
    /// a logical index below `CPUS`) under `strategy`.
    ///
    /// * `count` family: `walkers += 1` (relaxed), then the strategy's fence
    ///   (`sync` for `count`/`count-wait`).
    /// * `percpu`: this CPU's flag := mm id, then `sync`.
    /// * `rcu`: enter a read-side section on this CPU, then `sync`.
    /// * `ipi`, `ipi-nowait`, `none`: nothing (EE=0 is the protection).
    #[inline(always)]
    pub fn begin_walk<'a>(
        &'a self,
        strategy: Strategy,
        mm: &'a MmSync,
        cpu: usize,
    ) -> WalkGuard<'a, CPUS, SLOTS> {
        let token = self.enter(strategy, mm, cpu);
        WalkGuard { registry: self, mm, strategy, cpu, token }
    }

    #[inline(always)]
    fn enter(&self, strategy: Strategy, mm: &MmSync, cpu: usize) -> Token {
        if let Some(barrier) = strategy.counter_barrier() {
            if barrier != Barrier::Sync && self.delay_weak_stores.load(crate::sync::Ordering::Relaxed) {
                barrier.fence();
                return Token::CountedLate(barrier);
            }
            counter::enter(mm, cpu, barrier);
            return Token::Counted(barrier);
        }
        match strategy {
            Strategy::PerCpu => Token::Flagged { previous: self.flag_enter(cpu, mm) },
            Strategy::Rcu => {
                self.rcu_enter(cpu);
                Token::Reader
            }
            _ => Token::IrqsOff,
        }
    }
}

impl<const CPUS: usize, const SLOTS: usize> WalkGuard<'_, CPUS, SLOTS> {
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
}

impl<const CPUS: usize, const SLOTS: usize> Drop for WalkGuard<'_, CPUS, SLOTS> {
    fn drop(&mut self) {
        match self.token {
            Token::IrqsOff => {}
            Token::Counted(barrier) => counter::exit(self.mm, self.cpu, barrier),
            Token::CountedLate(barrier) => {
                counter::enter(self.mm, self.cpu, Barrier::NoFence);
                counter::exit(self.mm, self.cpu, barrier);
            }
            Token::Flagged { previous } => self.registry.flag_exit(self.cpu, previous),
            Token::Reader => self.registry.rcu_exit(self.cpu),
        }
    }
}

impl<const CPUS: usize, const SLOTS: usize> fmt::Debug for WalkGuard<'_, CPUS, SLOTS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalkGuard")
            .field("strategy", &self.strategy)
            .field("cpu", &self.cpu)
            .field("mm", &self.mm.id())
            .finish()
    }
}
