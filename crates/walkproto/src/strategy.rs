//! The serialization strategies and the barrier kinds they are built from.

use core::fmt;
use core::str::FromStr;

use crate::sync::{fence, Ordering};

/// How a page-table changer serializes against lockless walkers.
///
/// Selected once at boot (`walk.strategy=<name>`); walkers and changers use
/// the same value at the same call sites ([`crate::Registry::begin_walk`],
/// [`crate::Registry::serialize`], [`crate::Registry::free_table_when_safe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Linux `serialize_against_pte_lookup`: IPI every CPU in `mm_cpumask`
    /// (but this one) and wait for all of them. Walkers do nothing but keep
    /// EE=0.
    Ipi,
    /// Bras v4 as Hubbard asked: walkers count themselves in the mm with a
    /// full barrier (`sync`); the changer issues `sync`, reads the count and
    /// sends the `ipi` broadcast only if it is non-zero.
    Count,
    /// The seed's exact counter (Bras v4): one atomic per mm that every
    /// walker increments with a read-modify-write (`atomic_inc`, then
    /// `smp_mb`) and decrements (release) after the walk; the changer is
    /// `count`'s (`sync`, read, IPI `mm_cpumask` if non-zero). Its cost is
    /// the cache line all walkers of the mm write; `count` shards it.
    CountAtomic,
    /// Like `count` on the walker side; the changer spins until the count is
    /// zero instead of sending IPIs.
    CountWait,
    /// Per-CPU "walking mm X" flags; the changer IPIs only the CPUs whose flag
    /// names this mm (any online CPU, not only `mm_cpumask`).
    ///
    /// One flag per CPU: a walk nested in another walk on the same CPU (a
    /// machine check during a walk) restores the outer flag when it ends,
    /// but while it runs the outer walk is hidden; if the two walk
    /// different mms, the outer one is unprotected for that window.
    PerCpu,
    /// Walkers are read-side critical sections; table freeing waits for (or
    /// is deferred past) a grace period. No IPIs.
    Rcu,
    /// Negative control: nothing at all.
    None,
    /// Negative control: `count` with `lwsync` (release/acquire) instead of
    /// `sync`; store-buffering is not forbidden.
    CountLwsync,
    /// Negative control: `count` with relaxed accesses and no fences.
    CountNoBarrier,
    /// Negative control: `ipi` without waiting for the acknowledgements.
    IpiNoWait,
}

impl Strategy {
    /// Every strategy, correct ones first.
    pub const ALL: [Strategy; 10] = [
        Strategy::Ipi,
        Strategy::Count,
        Strategy::CountAtomic,
        Strategy::CountWait,
        Strategy::PerCpu,
        Strategy::Rcu,
        Strategy::None,
        Strategy::CountLwsync,
        Strategy::CountNoBarrier,
        Strategy::IpiNoWait,
    ];

    /// The strategies that must never let a walker see a freed table.
    pub const CORRECT: [Strategy; 6] = [
        Strategy::Ipi,
        Strategy::Count,
        Strategy::CountAtomic,
        Strategy::CountWait,
        Strategy::PerCpu,
        Strategy::Rcu,
    ];

    /// The negative controls: a detector must catch each of them.
    pub const NEGATIVE: [Strategy; 4] =
        [Strategy::None, Strategy::CountLwsync, Strategy::CountNoBarrier, Strategy::IpiNoWait];

    /// The boot-argument spelling, e.g. `count-wait`.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Ipi => "ipi",
            Strategy::Count => "count",
            Strategy::CountAtomic => "count-atomic",
            Strategy::CountWait => "count-wait",
            Strategy::PerCpu => "percpu",
            Strategy::Rcu => "rcu",
            Strategy::None => "none",
            Strategy::CountLwsync => "count-lwsync",
            Strategy::CountNoBarrier => "count-nobarrier",
            Strategy::IpiNoWait => "ipi-nowait",
        }
    }

    /// Parses a name as printed by [`Strategy::name`] (exact, lower case).
    pub fn parse(name: &str) -> Result<Strategy, UnknownStrategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name).ok_or(UnknownStrategy)
    }

    /// True for the deliberately broken variants.
    pub const fn is_negative_control(self) -> bool {
        matches!(
            self,
            Strategy::None | Strategy::CountLwsync | Strategy::CountNoBarrier | Strategy::IpiNoWait
        )
    }

    /// Whether a walker must hold interrupts off (MSR\[EE\]=0) from before
    /// its first table read until after its last use of what it read, for
    /// the strategy to protect it.
    ///
    /// * `ipi`, `ipi-nowait`, `none`: the changer's only wait is for IPI
    ///   acknowledgements; an acknowledgement means the target *took an
    ///   interrupt*, which it can do only with EE=1, i.e. outside any walk.
    /// * `count`, `count-atomic` (and the `-lwsync`/`-nobarrier` controls):
    ///   when the count is non-zero the protection is that same IPI wait.
    /// * `percpu`: the in-walk CPUs are IPIed and waited for, as above.
    /// * `count-wait`: the changer waits for the count itself to drop, which
    ///   only the walker's end-of-walk decrement does; no interrupt is
    ///   involved, so EE may stay 1 (an interrupted walker merely delays the
    ///   changer).
    /// * `rcu`: the grace period waits on each CPU's reader word, again
    ///   released only by the walker's own end of walk.
    pub const fn walker_needs_irqs_off(self) -> bool {
        !matches!(self, Strategy::CountWait | Strategy::Rcu)
    }

    /// Whether a walker on a CPU that is *not* in the mm's `mm_cpumask`
    /// (a "foreign" walker, e.g. KVM secondary threads) is protected.
    ///
    /// `ipi` and the `count` family (`count-atomic` too) IPI only
    /// `mm_cpumask`, so no; `count-wait`
    /// waits on a counter every walker increments, `percpu` and `rcu` look at
    /// every online CPU, so yes. The controls protect nobody.
    pub const fn covers_foreign_walkers(self) -> bool {
        matches!(self, Strategy::CountWait | Strategy::PerCpu | Strategy::Rcu)
    }

    /// Whether the walker side stores anything to register (all but `ipi`,
    /// `ipi-nowait` and `none`, whose walkers only keep EE=0).
    pub(crate) const fn walker_stores(self) -> bool {
        !matches!(self, Strategy::Ipi | Strategy::IpiNoWait | Strategy::None)
    }

    /// The fence used by the counter handshake, if the strategy counts
    /// walkers: `count`/`count-atomic`/`count-wait` use [`Barrier::Sync`],
    /// the controls [`Barrier::Lwsync`] and [`Barrier::NoFence`].
    pub const fn counter_barrier(self) -> Option<Barrier> {
        match self {
            Strategy::Count | Strategy::CountAtomic | Strategy::CountWait => Some(Barrier::Sync),
            Strategy::CountLwsync => Some(Barrier::Lwsync),
            Strategy::CountNoBarrier => Some(Barrier::NoFence),
            _ => None,
        }
    }
}

impl Strategy {
    /// Which walker count the strategy uses, if it counts walkers: one
    /// shard per CPU (`count`, `count-wait`, the controls) or the mm's one
    /// shared atomic (`count-atomic`).
    pub const fn counter(self) -> Option<Counter> {
        match (self, self.counter_barrier()) {
            (_, None) => None,
            (Strategy::CountAtomic, Some(_)) => Some(Counter::Shared),
            (_, Some(_)) => Some(Counter::Sharded),
        }
    }
}

/// Where a counting strategy keeps the per-mm walker count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    /// One word per CPU, written by its own CPU with a plain load and store
    /// (`count`, `count-wait`, `count-lwsync`, `count-nobarrier`); the count
    /// is the sum. No walker writes another CPU's line.
    Sharded,
    /// One atomic per mm, changed by every walker with an atomic
    /// read-modify-write (`count-atomic`, the v4 patch's `atomic_t`): one
    /// cache line that all walkers of the mm write.
    Shared,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::parse(s)
    }
}

/// A name that is not a [`Strategy`]; its `Display` lists the valid names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownStrategy;

impl fmt::Display for UnknownStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown walk strategy; valid: ")?;
        for (i, s) in Strategy::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(s.name())?;
        }
        Ok(())
    }
}

/// The barrier of the store-buffering handshake, named for the Power
/// instruction it compiles to.
///
/// Walker and changer call the *same* [`Barrier::fence`], so `count` and
/// `count-lwsync` differ in nothing but this value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Barrier {
    /// `fence(SeqCst)` = `sync` (hwsync): orders store→load, forbids SB.
    Sync,
    /// `fence(AcqRel)` = `lwsync`: orders all but store→load; SB allowed.
    Lwsync,
    /// No fence and relaxed accesses.
    NoFence,
}

impl Barrier {
    /// Issues the fence (nothing for [`Barrier::NoFence`]).
    #[inline]
    pub fn fence(self) {
        match self {
            Barrier::Sync => fence(Ordering::SeqCst),
            Barrier::Lwsync => fence(Ordering::AcqRel),
            Barrier::NoFence => {}
        }
    }

    /// Ordering for a store that publishes "my earlier accesses are done"
    /// (`Release`, or `Relaxed` for [`Barrier::NoFence`]).
    #[inline]
    pub const fn release(self) -> Ordering {
        match self {
            Barrier::NoFence => Ordering::Relaxed,
            _ => Ordering::Release,
        }
    }

    /// Ordering for a load that must see what a release store published
    /// (`Acquire`, or `Relaxed` for [`Barrier::NoFence`]).
    #[inline]
    pub const fn acquire(self) -> Ordering {
        match self {
            Barrier::NoFence => Ordering::Relaxed,
            _ => Ordering::Acquire,
        }
    }
}
