//! The kernel's implementation of `walkproto::Platform`: doorbell IPIs with
//! acknowledgement, the timebase, and the online mask.

use walkproto::{CpuMask, IpiStats, IpiTimeout, Platform};

use crate::arch;
use crate::sys::{percpu, smp, time};

/// The machine as the protocol sees it. The online mask is taken when the
/// value is made (CPUs never go offline during a run), so that a changer can
/// build it *before* its page-table store and the registry handshake that
/// follows the store is not padded with unrelated loads.
pub struct Kernel {
    online: CpuMask,
}

impl Kernel {
    /// Snapshots the online CPUs.
    pub fn new() -> Self {
        Kernel { online: smp::online_mask() }
    }
}

/// How long a changer waits for walkers (IPI acks, counts, grace periods).
pub const SYNC_TIMEOUT_TB: u64 = time::secs(10);

impl Platform for Kernel {
    fn this_cpu(&self) -> usize {
        percpu::cpu_id()
    }

    fn online_cpus(&self) -> CpuMask {
        self.online
    }

    fn ipi_and_wait(&self, targets: CpuMask, wait: bool) -> Result<IpiStats, IpiTimeout> {
        match smp::call_many(targets, smp::ipi_nop, 0, wait, "serialize_against_pte_lookup") {
            Ok(s) => Ok(IpiStats { sent: s.sent, spins: 0 }),
            Err(e) => Err(IpiTimeout { missing: e.missing }),
        }
    }

    fn relax(&self) {
        arch::cpu_relax();
    }

    fn now(&self) -> u64 {
        time::now()
    }

    fn timeout_ticks(&self) -> u64 {
        SYNC_TIMEOUT_TB
    }
}
