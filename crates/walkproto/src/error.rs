//! Results of the changer side: statistics and errors.

use core::fmt;

use crate::{CpuMask, IpiTimeout};

/// What one [`crate::Registry::serialize`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SerializeStats {
    /// The CPUs that were sent an IPI.
    pub targets: CpuMask,
    /// IPIs sent (as reported by the platform).
    pub ipis: u32,
    /// True when the strategy looked and found nothing to wait for
    /// (`count` with a zero count, `percpu` with no CPU in a walk of the mm,
    /// `rcu` with no CPU in a read-side section).
    pub skipped: bool,
    /// The walker count read by the `count` family (0 for other strategies).
    pub walkers_seen: usize,
    /// Iterations of wait loops (IPI acknowledgement, count, grace period).
    pub spins: u64,
}

/// What [`crate::Registry::free_table_when_safe`] did with the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeOutcome {
    /// Serialized, then freed.
    Freed(SerializeStats),
    /// `rcu`: queued; [`crate::Registry::reclaim`] frees it once the grace
    /// period numbered `cookie` (see `Registry::gp_sequence`) has completed.
    Deferred {
        /// Grace-period sequence value that must be reached.
        cookie: u64,
    },
    /// `rcu` with a full queue: waited for a grace period, then freed.
    FreedAfterGracePeriod(SerializeStats),
}

/// Why a changer could not prove the walkers are out of the way. The table
/// in question has **not** been freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// IPIs for mm `mm` were not all acknowledged in time.
    Ipi {
        /// The mm being changed.
        mm: u32,
        /// The CPUs that did not answer.
        timeout: IpiTimeout,
    },
    /// `count-wait`: the walker count of mm `mm` did not drop to zero.
    WalkersRemain {
        /// The mm being changed.
        mm: u32,
        /// The last count read.
        walkers: usize,
        /// Iterations spun before giving up.
        spins: u64,
    },
    /// `rcu`: CPU `cpu` did not leave the read-side section it was in when
    /// the grace period started.
    GracePeriodStalled {
        /// The CPU waited for.
        cpu: usize,
        /// Its read-side nesting depth at the last look.
        depth: u64,
        /// Its quiescent-state count, unchanged since the snapshot.
        quiescent: u64,
        /// Iterations spun before giving up.
        spins: u64,
    },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Ipi { mm, timeout } => write!(f, "mm {mm}: {timeout}"),
            SyncError::WalkersRemain { mm, walkers, spins } => {
                write!(f, "mm {mm}: walker count still {walkers} after {spins} spins (count-wait timeout)")
            }
            SyncError::GracePeriodStalled { cpu, depth, quiescent, spins } => write!(
                f,
                "grace period stalled on CPU {cpu}: read-side depth {depth}, \
                 quiescent count {quiescent} unchanged after {spins} spins"
            ),
        }
    }
}
