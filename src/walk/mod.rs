//! Lockless page-table walkers, the changers that race them, the violation
//! detector, and the stress and benchmark runs built on them.
//!
//! * [`arena`]: test address spaces full of THPs (2 MB PMD leaves) or 1 GB
//!   PUD leaves, with a tiny `struct page` model (refcount, generation).
//! * [`walkers`]: gup_fast-like, find_pte-like, real-mode, interrupt-path,
//!   hardware (MMU) and foreign-mm walkers, each checking what it saw.
//! * [`changers`]: split, collapse, zap and populate, serialized through the
//!   `walkproto` registry with the strategy chosen at boot.
//! * [`detect`]: violation records and counters.
//! * A stress run: its types ([`run`]), the engine ([`engine`]), its report
//!   lines ([`report`]) and entry points ([`cli`]); the lock-step race
//!   ([`race`]); the SB litmus calibration ([`litmus`]); the benchmark
//!   ([`bench`]); the in-kernel tests ([`tests`]); seeded randomness ([`rng`]).

pub mod arena;
pub mod bench;
pub mod bugs;
pub mod changers;
pub mod choreo;
pub mod cli;
pub mod detect;
pub mod engine;
pub mod litmus;
pub mod platform;
pub mod points;
pub mod race;
pub mod report;
pub mod rng;
pub mod run;
pub mod stamps;
pub mod tests;
pub mod walkers;

use walkproto::{Registry, WeakMemory};

use crate::sys::config::Walk;

/// The walker registry shared by every walker and changer.
pub static REGISTRY: Registry = Registry::new();

/// Takes the boot configuration's walker settings (`walk.weakmem`), and
/// makes the detector the POWER9 model's judge of unsafe frees.
pub fn configure(cfg: &Walk, seed: u64) {
    set_weak_memory(cfg.weakmem, seed);
    crate::mm::shadow::set_violation_hook(detect::unsafe_free);
}

/// The longest a walker's registration store stays buffered under the
/// Power store-buffer emulation, unless a store point forces it out. The
/// Power model bounds nothing; this bound is a fraction of a microsecond on
/// hardware, scaled to QEMU's time, where one `tlbie` takes ~100 us: about
/// the changer's path from its count read to the free.
pub const WEAKMEM_MAX_DELAY_TB: u64 = crate::sys::time::us(200);

/// Turns the Power store-buffer emulation of walker registration stores on
/// or off (`walk.weakmem=emulate`).
pub fn set_weak_memory(on: bool, seed: u64) {
    REGISTRY.set_weak_memory(on.then_some(WeakMemory {
        max_delay_ticks: WEAKMEM_MAX_DELAY_TB,
        clock: crate::arch::mftb,
        seed,
    }));
}

/// Whether the store-buffer emulation is on.
pub fn weak_memory() -> bool {
    REGISTRY.weak_memory().is_some()
}
