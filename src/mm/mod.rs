//! Memory: the frame allocator, the heap, page-table pages and the tree
//! builder, the radix MMU (partition and process tables, the linear map),
//! TLB flushes, address spaces, fault-tolerant probes, and the MMU tests.
//!
//! Layers inside: space → mmu → pgtable → frames; tlb is used by space.

pub mod frames;
pub mod heap;
pub mod mmu;
pub mod pgtable;
pub mod probe;
pub mod shadow;
pub mod space;
pub mod tests;
pub mod tlb;

pub use crate::sys::addr::{phys_to_virt, real_addr};
