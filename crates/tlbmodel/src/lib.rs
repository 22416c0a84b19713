//! A conservative model of what a POWER9 radix MMU may still cache, per CPU,
//! for process-scoped translations: TLB entries and page-walk-cache (PWC)
//! entries. The kernel reports every page-table store, process-table root,
//! PIDR write and completed `tlbie`/`tlbiel` sequence, and asks the model
//! before it frees a data page ([`Model::check_free_page`]) or a page-table
//! page ([`Model::table_free`]).
//!
//! QEMU over-flushes (it has no walk cache, ignores the PID in `tlbie` and
//! flushes on PIDR writes), so a missing or wrong invalidation passes there;
//! the model applies the ISA's rules instead and says what would still be
//! cached on real hardware, which invalidation would have removed it and
//! which one the kernel issued last.
//!
//! # Rules (conservative)
//!
//! * A CPU that runs (LPID, PID) may cache every valid leaf and directory
//!   entry it can reach: from the PID's root through current valid
//!   directory entries, or through any PWC entry of that PID it may still
//!   hold (also for tables no longer linked there). A CPU walks for the PID
//!   in its PIDR only: PWC entries of other PIDs give it nothing new until
//!   it switches back (they do count as "can reach" for the free checks).
//! * What it may cache stays cached until an invalidation covering it
//!   completes. PID switches invalidate nothing.
//! * Only [`radix::EntryView::Leaf`] and `Table` entries are cached
//!   (invalidated, not-present and empty entries fault).
//! * Invalidations follow [`rules::RULES`]; see the README for the table.
//!
//! # Representation
//!
//! Everything a CPU can reach now is kept *implicitly* (recomputed from the
//! tree when needed); explicit *stale* sets hold what a CPU may hold and
//! could no longer reach when it was made explicit: on a store that clears
//! or replaces a valid entry (for every CPU that could walk that table), on
//! a switch away from a PID (everything the CPU reached), on a root change
//! (the root's entries), when an invalidation removes a stale PWC entry that
//! a CPU still walked through (the TLB entries below it, first), and when a
//! table is freed (its entries, for every CPU that could walk it). The
//! invariant, checked by the property tests against a brute-force reference
//! that keeps every CPU's sets explicitly: for every CPU, *stale ∪ what it
//! reaches now* = *what the reference says it may hold*
//! ([`Model::may_hold`]).
//!
//! Stale entries are kept per entry and group of 64 CPUs, with a bit per
//! CPU that may hold it (a store makes one record for every CPU running
//! the PID; a `tlbie` removes it from all). Invalidation sequences are
//! compiled once into their effects (walk-cache parts, and runs of TLB
//! removals applied as one ordered pass) and reused when the next call
//! repeats them, as IPI-mode flushes do per CPU. See the README for the
//! data structures and the memory they take.
//!
//! Costs: a store is O(1) in its table, plus O(log n) when it clears a
//! valid entry some CPU can reach; an invalidation is O(log n) per
//! walk-cache part and per run of TLB removals, plus what they remove or
//! materialize; a free check is O(log n) per page size, plus a scan of each
//! table with leaves in the range's address buckets whose leaves' range
//! overlaps it, plus the stale entries it reports. Switching away from a
//! PID walks what the CPU reached.
//!
//! `no_std` + `alloc`; no hardware access, no printing.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

mod model;
mod plan;
mod report;
pub mod rules;
mod stale;
mod tables;

pub use model::{Model, DEFAULT_REPORT_LIMIT};
pub use report::{
    level_name, Cached, FlushRecord, FreeError, Freed, Holding, Holdings, InvalidateSummary, Leftover,
    Leftovers, ModelError, PwcEntry, Remedy, Stats, TlbEntry,
};
pub use rules::{Effect, Rule, Selector, Target, RULES};
