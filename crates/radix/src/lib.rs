//! POWER9 radix MMU, as data: page-table entry encoding, tree geometry,
//! partition/process-table entries, `tlbie`/`tlbiel` operands, and a software
//! model of the hardware table walk.
//!
//! Nothing here touches hardware: every function computes values, so the whole
//! crate is tested on the host. The kernel stores what it gets here into table
//! memory and SPRs, and feeds [`tlbie::TlbieOperands`] to its asm wrappers.
//!
//! Conventions:
//! * Bits are numbered LSB = 0 (`1 << n`); the ISA's IBM numbering is MSB = 0.
//! * Entry newtypes ([`Pte`], [`Pde`], [`Pate`], [`Prte`]) hold the *logical*
//!   value; table memory is big-endian, so convert with `to_mem`/`from_mem`.
//! * Each bit position cites where it was checked (Linux
//!   `arch/powerpc/include/asm/book3s/64/*.h`, `arch/powerpc/mm/book3s64/*.c`,
//!   QEMU `target/ppc/mmu-radix64.c`, `mmu-book3s-v3.h`, `mmu_helper.c`).
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod entry;
pub mod geometry;
pub mod tables;
pub mod tlbie;
pub mod walk;

pub use entry::{Att, EncodeError, EntryView, PageSize, Pde, Pte, PteFlags};
pub use geometry::{make_ea, split_ea, EaError, Geometry, Level, Quadrant};
pub use tables::{ptcr, Pate, Prte, TableError};
pub use tlbie::{Ric, Scope, TlbieError, TlbieOperands, TlbieVariant};
pub use walk::{check_access, translate, Access, AccessFault, FaultKind, Translation, WalkFault};
