//! The kernel's instance of the POWER9 TLB / page-walk-cache model (the
//! `tlbmodel` crate). Placeholder until the model lands: records nothing.

use radix::TlbieOperands;

/// A flush sequence completed on `cpu` (`local`: `tlbiel`, else `tlbie`).
pub fn invalidated(_cpu: usize, _local: bool, _ops: &[TlbieOperands]) {}

/// A zeroed page-table page now exists at `pa`.
pub fn table_alloc(_pa: u64, _bytes: u64) {}

/// Entry `idx` of the table at `table` changed from `old` to `new`.
pub fn store(_table: u64, _idx: usize, _old: u64, _new: u64) {}

/// A page-table page is about to be freed.
pub fn table_free(_pa: u64, _bytes: u64) {}

/// Real memory `[pa, pa + bytes)` is about to be freed or poisoned.
pub fn check_free_page(_pa: u64, _bytes: u64) {}
