//! Physical memory map and frame allocation, as host-testable logic.
//!
//! * [`Range`] / [`RangeSet`]: half-open address ranges and a fixed-capacity,
//!   always-sorted, merged set of them (no allocation).
//! * [`usable_memory`]: RAM minus reservations (FDT `/memory`,
//!   `/reserved-memory`, the memreserve block, the kernel image, ...), aligned
//!   inward to whole frames.
//! * [`FrameAllocator`]: a first-fit bitmap allocator over storage the caller
//!   provides, with aligned multi-frame runs (2 MB and 1 GB leaves need them)
//!   and checked frees.
//!
//! Nothing panics on bad input: malformed ranges, overflow, full sets, double
//! frees and out-of-range frees are errors.
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod frame;
mod map;
mod range;

pub use error::{AllocError, CapacityError, FreeError, MapError};
pub use frame::{words_needed, FrameAllocator};
pub use map::usable_memory;
pub use range::{Range, RangeSet};
