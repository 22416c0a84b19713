//! Reader for the flattened device tree (FDT) that skiboot hands a powernv
//! kernel in `r3` (QEMU `powernv9`/`powernv10`, or real POWER9 via
//! petitboot/kexec).
//!
//! [`parse`] validates the whole blob first (header, block bounds, every
//! token of the structure block, every name string), and only then lets the
//! [`fdt`] crate (0.1.5) walk it; see `validate` for why. Property values
//! (`reg`, cell counts, strings) are decoded here from raw bytes, never with
//! an `fdt` accessor that can panic. Nothing allocates; results live in
//! fixed-capacity [`List`]s and borrowed `&str`s.
//!
//! What is read:
//! * memory: every root child with `device_type = "memory"` (or, without a
//!   `device_type`, named `memory` / `memory@...`), every `reg` entry, decoded
//!   with the root's `#address-cells`/`#size-cells`; zero sizes skipped;
//!   sorted by base.
//! * reservations: the memory-reservation block, every `/reserved-memory`
//!   child's `reg`, and the blob itself.
//! * threads: one [`Thread`] per entry of `ibm,ppc-interrupt-server#s` of
//!   every available `/cpus` child with `device_type = "cpu"`.
//! * `/chosen` `bootargs` and `stdout-path`, `/ibm,opal` entry points, the
//!   timebase frequency, and the root `model`.
//!
//! ```
//! // (Runs as tests/qemu_trees.rs::doc_example.)
//! // The tree skiboot handed a `-smp 4` powernv9 guest, at this address.
//! let blob: &[u8] = include_bytes!("../testdata/skiboot-p9-smp4.dtb");
//! let len = devtree::header_total_size(&blob[..40]).unwrap();
//! let dt = devtree::parse(&blob[..len], 0x3077_7130).unwrap();
//! assert_eq!(dt.total_memory(), 2 << 30);
//! assert_eq!(dt.threads.iter().map(|t| t.pir).max(), Some(12));
//! assert_eq!(dt.opal.map(|o| o.entry), Some(0x3000_3770));
//! ```
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod cpus;
mod error;
mod header;
mod list;
mod memory;
mod props;
mod reserved;
mod root;
mod validate;

pub use error::{DtError, NodePath, NODE_PATH_MAX};
pub use header::{header_total_size, FDT_MAGIC, HEADER_LEN, MAX_TOTAL_SIZE};
pub use list::List;
pub use validate::MAX_DEPTH;

/// Capacity of [`DeviceTree::memory`].
pub const MAX_REGIONS: usize = 64;
/// Capacity of [`DeviceTree::reserved`] (skiboot lists most regions twice:
/// once in the memory-reservation block and once under `/reserved-memory`).
pub const MAX_RESERVED: usize = 128;
/// Capacity of [`DeviceTree::threads`].
pub const MAX_THREADS: usize = 512;

/// A physical address range `[base, base + size)`; `base + size` never
/// overflows `u64` in values returned by [`parse`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Length in bytes (never 0 in values returned by [`parse`]).
    pub size: u64,
}

impl Region {
    /// One past the last byte (`base + size`, saturating).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Where a reservation came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReserveSource {
    /// The FDT memory-reservation block (`/memreserve/` in dts syntax).
    #[default]
    MemReserveBlock,
    /// A `reg` entry of a `/reserved-memory` child node.
    ReservedMemoryNode,
    /// The FDT blob itself, at the address given to [`parse`].
    Blob,
}

/// A range of memory the kernel must not allocate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reserved {
    /// The range.
    pub region: Region,
    /// Where it was found.
    pub source: ReserveSource,
}

/// One hardware thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Thread {
    /// Processor ID (the `PIR` SPR; the value OPAL `START_CPU` takes).
    pub pir: u32,
    /// Dense index of its core: 0 for the first accepted `/cpus` core node in
    /// tree order, 1 for the next, and so on (non-cpu and disabled children of
    /// `/cpus` are not counted).
    pub core_index: u16,
    /// Position in the core's `ibm,ppc-interrupt-server#s` (0 when the core's
    /// `reg` was used instead).
    pub thread_index: u8,
    /// `ibm,chip-id` of the core node, if present.
    pub chip_id: Option<u32>,
}

/// OPAL firmware entry points from `/ibm,opal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opal {
    /// `opal-base-address` (goes in `r2` for OPAL calls).
    pub base: u64,
    /// `opal-entry-address` (where OPAL calls jump).
    pub entry: u64,
}

/// What [`parse`] found. About 12 KiB (the fixed-capacity lists); a kernel
/// may want it in a static rather than on a small early stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceTree<'a> {
    /// Every memory range, sorted by base; zero sizes skipped. Never empty.
    pub memory: List<Region, MAX_REGIONS>,
    /// Memory-reservation block entries, then `/reserved-memory` `reg`
    /// entries (tree order), then the blob itself (always last).
    pub reserved: List<Reserved, MAX_RESERVED>,
    /// Every thread of every available cpu core node, in tree order. Never
    /// empty; PIRs are unique.
    pub threads: List<Thread, MAX_THREADS>,
    /// `/chosen` `bootargs`, or `""` if absent or empty.
    pub bootargs: &'a str,
    /// `/chosen` `stdout-path`, else `linux,stdout-path` (raw, options after a
    /// `:` included).
    pub stdout_path: Option<&'a str>,
    /// `/ibm,opal` entry points, if both properties are present.
    pub opal: Option<Opal>,
    /// `timebase-frequency` of the first cpu node that has one, else of
    /// `/cpus` (Hz).
    pub timebase_hz: Option<u64>,
    /// Root `model`, else the first string of root `compatible`.
    pub model: Option<&'a str>,
    /// `boot_cpuid_phys` from the header: the PIR of the CPU skiboot booted
    /// on. Informational; the kernel should read its own PIR SPR.
    pub boot_cpuid_phys: u32,
}

impl DeviceTree<'_> {
    /// An empty result, filled in by [`parse`].
    fn empty(boot_cpuid_phys: u32) -> Self {
        DeviceTree {
            memory: List::new(),
            reserved: List::new(),
            threads: List::new(),
            bootargs: "",
            stdout_path: None,
            opal: None,
            timebase_hz: None,
            model: None,
            boot_cpuid_phys,
        }
    }

    /// Sum of all memory region sizes (saturating).
    pub fn total_memory(&self) -> u64 {
        self.memory.iter().fold(0u64, |sum, r| sum.saturating_add(r.size))
    }

    /// Index in [`DeviceTree::threads`] of the thread with this PIR.
    pub fn find_pir(&self, pir: u32) -> Option<usize> {
        self.threads.iter().position(|t| t.pir == pir)
    }
}

/// Validates and reads a device tree blob.
///
/// `blob` must hold at least the header's `totalsize` bytes (use
/// [`header_total_size`] to learn it); bytes past `totalsize` are ignored.
/// `blob_addr` is the blob's real address, recorded as a
/// [`ReserveSource::Blob`] reservation of `totalsize` bytes.
///
/// Never panics. Errors are described on [`DtError`].
pub fn parse(blob: &[u8], blob_addr: u64) -> Result<DeviceTree<'_>, DtError> {
    let header = header::Header::read(blob)?;
    header.check()?;
    let blob = header.trim(blob)?;
    validate::structure(blob, &header)?;

    let mut dt = DeviceTree::empty(header.boot_cpuid_phys);
    reserved::memreserve_block(blob, &header, &mut dt.reserved)?;
    let fdt = fdt::Fdt::new(blob).map_err(|_| DtError::BadHeader("rejected by the fdt crate"))?;
    root::read(&fdt, header.off_dt_struct, &mut dt)?;
    reserved::push(&mut dt.reserved, blob_addr, len_u64(blob.len()), ReserveSource::Blob)?;

    if dt.memory.is_empty() {
        return Err(DtError::NoMemory);
    }
    if dt.threads.is_empty() {
        return Err(DtError::NoCpus);
    }
    dt.memory.as_mut_slice().sort_unstable_by_key(|r| r.base);
    Ok(dt)
}

/// A slice length as `u64` (lossless on every target this crate supports).
fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}
