//! Kernel services every other layer builds on: addresses, configuration,
//! console, per-CPU data, time, OPAL calls, interrupts, IPIs and jobs, the
//! watchdog, real-mode calls and the end of the run. Nothing here imports
//! from `mm`, `walk`, `ktest` or the top of the crate; `arch` is below.

#[macro_use]
pub mod console;
pub mod addr;
pub mod config;
pub mod exit;
pub mod opal;
pub mod percpu;
pub mod realmode;
pub mod smp;
pub mod time;
pub mod trap;
pub mod watchdog;
