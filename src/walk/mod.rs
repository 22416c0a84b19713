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
pub mod changers;
pub mod cli;
pub mod detect;
pub mod engine;
pub mod litmus;
pub mod platform;
pub mod race;
pub mod report;
pub mod rng;
pub mod run;
pub mod tests;
pub mod walkers;

use walkproto::Registry;

use crate::sys::config::Walk;

/// The walker registry shared by every walker and changer.
pub static REGISTRY: Registry = Registry::new();

/// Takes the boot configuration's walker settings (`walk.weakmem`).
pub fn configure(cfg: &Walk) {
    REGISTRY.set_store_delay_emulation(cfg.weakmem);
}
