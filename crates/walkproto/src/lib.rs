//! Lockless page-table walkers and how the CPU that changes page tables
//! serializes against them.
//!
//! A *walker* (gup_fast, `find_linux_pte` users, a real-mode KVM or
//! machine-check handler) reads page tables without locks. A *changer* (THP
//! split/collapse, munmap) stores a new PMD/PUD/table pointer and must then
//! make sure no walker still uses what the old entry pointed to before it
//! frees or reuses it. [`Strategy`] selects how:
//!
//! | strategy | walker | changer |
//! |---|---|---|
//! | `ipi` | EE=0 | IPI `mm_cpumask`, wait |
//! | `count` | `count+=1; sync` … `count-=1` (release), EE=0 | `sync`; IPI `mm_cpumask` if count > 0 |
//! | `count-atomic` | `atomic_inc(mm); sync` … `atomic_dec` (release), EE=0 | as `count` |
//! | `count-wait` | as `count` | `sync`; spin until count = 0 |
//! | `percpu` | `flag=mm; sync` … `flag=0` (release), EE=0 | `sync`; IPI the CPUs flagged with this mm |
//! | `rcu` | enter read side; `sync` … report quiescent state | wait for / defer past a grace period |
//! | `none`, `count-lwsync`, `count-nobarrier`, `ipi-nowait` | negative controls | |
//!
//! The walker side is [`Registry::begin_walk`] (a [`WalkGuard`]); the changer
//! side is [`Registry::serialize`] and [`Registry::free_table_when_safe`]
//! (+ [`Registry::reclaim`] for `rcu`). The machine is abstracted by
//! [`Platform`] (IPIs, clock), implemented by the kernel and faked by the
//! tests and the loom model.
//!
//! Rust orderings and what they are on Power: `fence(SeqCst)` = `sync`
//! (hwsync); `fence(Acquire|Release|AcqRel)` = `lwsync`; a release store =
//! `lwsync; st`; an acquire load = `ld; cmp; bc; isync`. See the README for
//! the litmus shapes and the loom results.
//!
//! Weak-memory emulation: QEMU TCG on an x86 host practically never shows
//! the store-buffering window that separates `count` from `count-lwsync`.
//! [`Registry::set_weak_memory`] makes every walker-side registration store
//! wait in a per-walk [`storebuf::StoreBuffer`] that follows the Power model
//! (`sync` drains it, `lwsync` orders it before the walker's later stores,
//! a random deadline bounds it); the walker reports its loads and stores
//! with [`WalkGuard::load_point`] / [`WalkGuard::store_point`]. The tests
//! explore the same buffer exhaustively against the Power litmus verdicts.
//!
//! Atomics come from the private `sync` module (loom's under `--cfg loom`).
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod changer;
mod counter;
mod cpumask;
mod error;
mod events;
mod mm;
mod platform;
mod rcu;
mod registry;
pub mod storebuf;
mod strategy;
mod sync;
mod walk;
mod weak;
mod words;

#[cfg(all(test, not(loom)))]
mod litmus;

pub use cpumask::{CpuMask, Iter as CpuMaskIter, MAX_CPUS};
pub use error::{FreeOutcome, SerializeStats, SyncError};
pub use events::{ChangerEvents, WalkerEvents};
pub use mm::MmSync;
pub use platform::{IpiStats, IpiTimeout, Platform};
pub use registry::{Registry, DEFER_SLOTS};
pub use strategy::{Barrier, Counter, Strategy, UnknownStrategy};
pub use walk::WalkGuard;
pub use weak::WeakMemory;
