//! What the protocol needs from the machine: implemented by the kernel
//! (doorbells, timebase) and faked by the tests and the loom model.

use core::fmt;

use crate::CpuMask;

/// The machine services the changer side uses.
///
/// CPU numbers are logical indices (`0..MAX_CPUS`), not PIRs.
pub trait Platform {
    /// Logical index of the CPU executing the call.
    fn this_cpu(&self) -> usize;

    /// The CPUs that are up. A CPU must be in this set before it walks any
    /// page table: `percpu` and `rcu` only look at online CPUs.
    fn online_cpus(&self) -> CpuMask;

    /// Sends an IPI with an empty handler to every CPU in `targets`.
    ///
    /// The registry never includes the calling CPU. If `wait`, returns only
    /// once every target has *taken the interrupt* (on hardware: only while
    /// that CPU has MSR\[EE\]=1), and the target's accesses before it took
    /// the interrupt must happen-before the caller's accesses after the
    /// return (the handler's acknowledgement is a release store, the wait
    /// loop an acquire load, as in Linux `csd_unlock`/`csd_lock_wait`).
    /// The send itself must be ordered after the caller's earlier stores
    /// (`sync` before `msgsnd`; receiver `msgsync; lwsync`).
    ///
    /// Gives up after the platform's timeout with the CPUs that did not
    /// answer.
    fn ipi_and_wait(&self, targets: CpuMask, wait: bool) -> Result<IpiStats, IpiTimeout>;

    /// Busy-wait hint for one iteration of a spin loop (`or 1,1,1` / loom
    /// `yield_now`).
    fn relax(&self);

    /// A monotonic tick counter (the timebase on Power).
    fn now(&self) -> u64;

    /// How many [`Platform::now`] ticks any wait may last before it fails
    /// with an error naming what it waited for.
    fn timeout_ticks(&self) -> u64;
}

/// What one [`Platform::ipi_and_wait`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpiStats {
    /// IPIs sent.
    pub sent: u32,
    /// Iterations of the acknowledgement wait loop.
    pub spins: u64,
}

/// IPIs that were not acknowledged within the platform's timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpiTimeout {
    /// The CPUs that did not take the interrupt.
    pub missing: CpuMask,
}

impl fmt::Display for IpiTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IPI not acknowledged by CPUs {} (EE=0 too long, or CPU dead?)", self.missing)
    }
}

/// A started wait with the platform's timeout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    start: u64,
    ticks: u64,
}

impl Deadline {
    /// Starts the clock now.
    pub(crate) fn start<P: Platform>(platform: &P) -> Deadline {
        Deadline { start: platform.now(), ticks: platform.timeout_ticks() }
    }

    /// Whether the timeout has passed.
    pub(crate) fn expired<P: Platform>(&self, platform: &P) -> bool {
        platform.now().wrapping_sub(self.start) > self.ticks
    }
}
