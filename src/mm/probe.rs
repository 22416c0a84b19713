//! Fault-tolerant loads and stores (boot/probe.s): a data storage fault on
//! the probing instruction is recorded and turned into an error instead of
//! failing the run.

use crate::sys::percpu::{self, FaultRecord};

extern "C" {
    fn probe_load64(addr: u64, out: *mut u64) -> u64;
    fn probe_store64(addr: u64, value: u64) -> u64;
}

/// Loads the doubleword at `addr`; `Err` with the fault if it faulted.
pub fn load(addr: u64) -> Result<u64, FaultRecord> {
    let mut v = 0u64;
    // SAFETY: probe_load64 reads one doubleword; a fault on that read is
    // fixed up by the trap handler (it returns 1 then). Any address is fine.
    let faulted = unsafe { probe_load64(addr, &mut v) };
    if faulted == 0 {
        Ok(v)
    } else {
        Err(percpu::this().last_fault())
    }
}

/// Stores `value` at `addr`; `Err` with the fault if it faulted.
///
/// # Safety
/// If the store succeeds it writes memory: `addr` must be memory the caller
/// may write (a test mapping), or unmapped.
pub unsafe fn store(addr: u64, value: u64) -> Result<(), FaultRecord> {
    // SAFETY: forwarded to the caller; faults are fixed up as for `load`.
    let faulted = unsafe { probe_store64(addr, value) };
    if faulted == 0 {
        Ok(())
    } else {
        Err(percpu::this().last_fault())
    }
}
