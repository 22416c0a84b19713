//! Partition table, process table, PTCR and LPCR values.
//!
//! The MMU finds a tree in two steps: PTCR points at the *partition table*
//! (one 16-byte entry per LPID), whose entry for LPID 0 holds the radix-host
//! bit and points at the *process table* (one 16-byte entry per PID); each
//! process-table entry points at the root of one tree. All entries are stored
//! big-endian, like the tree itself.
//!
//! Field layouts were checked against Linux `arch/powerpc/include/asm/book3s/
//! 64/mmu.h` (`PATB_HR`, `RPDB_MASK`, `RTS1/RTS2`, `RPDS_MASK`, `PRTB_MASK`,
//! `PRTS_MASK`), Linux `radix_init_partition_table` (`dw0 = rts | pgd | 13 |
//! PATB_HR; dw1 = process_tb | (PRTB_SIZE_SHIFT - 12)`), and QEMU
//! `target/ppc/mmu-book3s-v3.{h,c}` (`PTCR_PATB`, `PTCR_PATS`, `PATE0_HR`,
//! `ppc64_v3_get_pate`) and `mmu-radix64.c` (`PATE1_R_PRTB`, `PATE1_R_PRTS`,
//! `PRTBE_R_RPDB`, `PRTBE_R_RPDS`, `validate_pate`).
//!
//! QEMU quirk (powernv, MSR[HV]=1): the address of the process-table entry is
//! itself translated through LPID 0's partition-scoped tree, i.e. the tree in
//! PATE doubleword 0, indexed by the *real* address (`ppc_radix64_process_
//! scoped_xlate` → `ppc_radix64_partition_scoped_xlate`). A Linux-style kernel
//! tree works because its quadrant-3 linear map (EA 0xc000... + RA) has the same
//! 52-bit index as RA. Real POWER9 reads the process table by real address.

use crate::geometry::{rts_bits, rts_field, Geometry, Level};
use core::fmt;

/// SPR number of PIDR (process ID used for quadrant 0). Linux `SPRN_PID` 0x030.
pub const SPRN_PID: u16 = 0x030;
/// SPR number of LPCR. Linux `SPRN_LPCR` 0x13E.
pub const SPRN_LPCR: u16 = 0x13E;
/// SPR number of LPIDR. Linux `SPRN_LPID` 0x13F.
pub const SPRN_LPID: u16 = 0x13F;
/// SPR number of PTCR. Linux `SPRN_PTCR` 0x1D0.
pub const SPRN_PTCR: u16 = 0x1D0;

/// LPCR[UPRT]: use the process table (ISA 3.0). IBM bit 41.
/// Linux `reg.h` `LPCR_UPRT` 0x0000000000400000.
pub const LPCR_UPRT: u64 = 0x0000_0000_0040_0000;
/// LPCR[HR]: host uses radix translation. IBM bit 43.
/// Linux `reg.h` `LPCR_HR` 0x0000000000100000.
pub const LPCR_HR: u64 = 0x0000_0000_0010_0000;

/// PATE dw0 / PRTE dw0 radix bit "HR" (host radix). Linux `PATB_HR` (1 << 63);
/// QEMU `PATE0_HR`. QEMU `validate_pate` faults if it is clear.
pub const PATE_HR: u64 = 1 << 63;
/// Root page directory base field (RA bits 8..=59). Linux `RPDB_MASK`; QEMU
/// `PRTBE_R_RPDB` 0x0FFFFFFFFFFFFF00.
pub const RPDB_MASK: u64 = 0x0FFF_FFFF_FFFF_FF00;
/// Root page directory size field: log2 of root entries. Linux `RPDS_MASK`
/// 0x1f; QEMU `PRTBE_R_RPDS`.
pub const RPDS_MASK: u64 = 0x1F;
/// RTS1 (bits 62:61) and RTS2 (bits 7:5). Linux `RTS1_MASK`, `RTS2_MASK`.
pub const RTS_MASK: u64 = (3 << 61) | (7 << 5);
/// Process table base field in PATE dw1 (4 KB aligned). Linux `PRTB_MASK`;
/// QEMU `PATE1_R_PRTB` 0x0FFFFFFFFFFFF000.
pub const PRTB_MASK: u64 = 0x0FFF_FFFF_FFFF_F000;
/// Process table size field: table bytes = `2^(PRTS + 12)`. Linux `PRTS_MASK`;
/// QEMU `PATE1_R_PRTS` and `size = 1ULL << ((dw1 & PATE1_R_PRTS) + 12)`.
pub const PRTS_MASK: u64 = 0x1F;
/// Partition table base field of PTCR. QEMU `PTCR_PATB` 0x0FFFFFFFFFFFF000.
pub const PATB_MASK: u64 = 0x0FFF_FFFF_FFFF_F000;
/// Partition table size field of PTCR: bytes = `2^(PATS + 12)`. QEMU
/// `PTCR_PATS` 0x1F and `ppc64_v3_get_pate`.
pub const PATS_MASK: u64 = 0x1F;

/// Bytes per partition-table entry (QEMU `ppc64_v3_get_pate`: `patb += 16 * lpid`).
pub const PATE_BYTES: u64 = 16;
/// Bytes per process-table entry (`struct prtb_entry`: two doublewords).
pub const PRTE_BYTES: u64 = 16;
/// The only partition-table size POWER9 supports, 64 KB (Linux `mmu.h`
/// `PATB_SIZE_SHIFT` 16: "Power9 currently only support 64K partition table
/// size").
pub const POWER9_PATB_BYTES: u64 = 1 << 16;
/// Smallest partition or process table: 4 KB (size field 0).
pub const MIN_TABLE_BYTES: u64 = 1 << 12;

/// Why a table value could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// `addr` is not aligned to `align`.
    Misaligned {
        /// The address given.
        addr: u64,
        /// The alignment needed.
        align: u64,
    },
    /// `addr` has bits outside the field `mask`.
    AddressTooLarge {
        /// The address given.
        addr: u64,
        /// The field.
        mask: u64,
    },
    /// A table size that is not a power of two in `4 KB ..= 2^43`.
    BadSize {
        /// The size given.
        bytes: u64,
    },
    /// An LPID or PID beyond the table.
    IndexOutOfRange {
        /// The index given.
        index: u64,
        /// Entries in the table.
        entries: u64,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TableError::Misaligned { addr, align } => {
                write!(f, "table address {addr:#x} is not aligned to {align:#x}")
            }
            TableError::AddressTooLarge { addr, mask } => {
                write!(f, "table address {addr:#x} does not fit the field {mask:#x}")
            }
            TableError::BadSize { bytes } => {
                write!(f, "table size {bytes:#x} is not a power of two between 4 KiB and 2^43")
            }
            TableError::IndexOutOfRange { index, entries } => {
                write!(f, "index {index} is beyond a table of {entries} entries")
            }
        }
    }
}

const fn check_addr(addr: u64, align: u64, mask: u64) -> Result<(), TableError> {
    if addr & (align - 1) != 0 {
        return Err(TableError::Misaligned { addr, align });
    }
    if addr & !mask != 0 {
        return Err(TableError::AddressTooLarge { addr, mask });
    }
    Ok(())
}

/// The 5-bit size field for a partition/process table of `bytes` bytes.
pub const fn table_size_field(bytes: u64) -> Result<u64, TableError> {
    if !bytes.is_power_of_two() || bytes < MIN_TABLE_BYTES {
        return Err(TableError::BadSize { bytes });
    }
    let field = (bytes.trailing_zeros() - 12) as u64;
    if field > PRTS_MASK {
        return Err(TableError::BadSize { bytes });
    }
    Ok(field)
}

/// Doubleword 0 shared by PATE (with HR) and PRTE (without): RTS | RPDB | RPDS.
const fn tree_dw0(geom: &Geometry, root_pa: u64) -> Result<u64, TableError> {
    // The root is a table of 2^RPDS entries and must be aligned to its size
    // (QEMU `ppc_radix64_walk_tree` masks a misaligned base and logs it).
    match check_addr(root_pa, geom.table_bytes(Level::Pgd), RPDB_MASK) {
        Ok(()) => Ok(geom.rts() | root_pa | geom.rpds()),
        Err(e) => Err(e),
    }
}

/// A partition-table entry (logical values of its two doublewords).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Pate {
    /// HR | RTS | RPDB (partition-scoped root) | RPDS.
    pub dw0: u64,
    /// PRTB (process table base) | PRTS (process table size).
    pub dw1: u64,
}

impl Pate {
    /// Radix host entry: `dw0 = HR | RTS | root_pa | RPDS` (the partition-scoped
    /// tree; see the module note on QEMU), `dw1 = prtb_pa | PRTS` for a process
    /// table of `prtb_bytes` (power of two >= 4 KB) at `prtb_pa`, which must be
    /// aligned to its size (QEMU: "Process Table not properly aligned").
    pub const fn radix(
        geom: &Geometry,
        root_pa: u64,
        prtb_pa: u64,
        prtb_bytes: u64,
    ) -> Result<Pate, TableError> {
        let dw0 = match tree_dw0(geom, root_pa) {
            Ok(v) => v | PATE_HR,
            Err(e) => return Err(e),
        };
        let prts = match table_size_field(prtb_bytes) {
            Ok(v) => v,
            Err(e) => return Err(e),
        };
        match check_addr(prtb_pa, prtb_bytes, PRTB_MASK) {
            Ok(()) => Ok(Pate { dw0, dw1: prtb_pa | prts }),
            Err(e) => Err(e),
        }
    }

    /// The two doublewords as stored in the table (big-endian).
    pub const fn to_mem(self) -> [u64; 2] {
        [self.dw0.to_be(), self.dw1.to_be()]
    }

    /// Decode the two doublewords as read from the table (big-endian).
    pub const fn from_mem(mem: [u64; 2]) -> Pate {
        Pate { dw0: u64::from_be(mem[0]), dw1: u64::from_be(mem[1]) }
    }

    /// HR is set (radix host).
    pub const fn is_radix(self) -> bool {
        self.dw0 & PATE_HR != 0
    }

    /// Real address of the partition-scoped root.
    pub const fn root_pa(self) -> u64 {
        self.dw0 & RPDB_MASK
    }

    /// RPDS of the partition-scoped root.
    pub const fn rpds(self) -> u32 {
        (self.dw0 & RPDS_MASK) as u32
    }

    /// EA bits of the partition-scoped tree (decoded RTS).
    pub const fn tree_bits(self) -> u32 {
        rts_bits(self.dw0)
    }

    /// Real address of the process table.
    pub const fn process_table_pa(self) -> u64 {
        self.dw1 & PRTB_MASK
    }

    /// Size in bytes of the process table.
    pub const fn process_table_bytes(self) -> u64 {
        1 << ((self.dw1 & PRTS_MASK) + 12)
    }
}

/// A process-table entry (logical values of its two doublewords).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Prte {
    /// RTS | RPDB (root of the process's tree) | RPDS. No HR bit.
    pub dw0: u64,
    /// Reserved on radix: zero.
    pub dw1: u64,
}

impl Prte {
    /// An unused entry.
    pub const EMPTY: Prte = Prte { dw0: 0, dw1: 0 };

    /// Entry for a tree of shape `geom` rooted at `root_pa` (aligned to the root
    /// table size, 64 KB for both POWER9 geometries). Linux
    /// `radix__init_new_context`/`radix_init_pgtable`: `rts_field | __pa(pgd) |
    /// RADIX_PGD_INDEX_SIZE`.
    pub const fn radix(geom: &Geometry, root_pa: u64) -> Result<Prte, TableError> {
        match tree_dw0(geom, root_pa) {
            Ok(dw0) => Ok(Prte { dw0, dw1: 0 }),
            Err(e) => Err(e),
        }
    }

    /// The two doublewords as stored in the table (big-endian).
    pub const fn to_mem(self) -> [u64; 2] {
        [self.dw0.to_be(), self.dw1.to_be()]
    }

    /// Decode the two doublewords as read from the table (big-endian).
    pub const fn from_mem(mem: [u64; 2]) -> Prte {
        Prte { dw0: u64::from_be(mem[0]), dw1: u64::from_be(mem[1]) }
    }

    /// Real address of the root.
    pub const fn root_pa(self) -> u64 {
        self.dw0 & RPDB_MASK
    }

    /// RPDS: log2 of the root table's entries.
    pub const fn rpds(self) -> u32 {
        (self.dw0 & RPDS_MASK) as u32
    }

    /// EA bits of the tree (decoded RTS).
    pub const fn tree_bits(self) -> u32 {
        rts_bits(self.dw0)
    }
}

/// PTCR value for a partition table of `patb_bytes` at `patb_pa` (aligned to
/// its size): `PATB | PATS` with `PATS = log2(bytes) - 12`. POWER9 wants 64 KB
/// ([`POWER9_PATB_BYTES`], PATS = 4).
pub const fn ptcr(patb_pa: u64, patb_bytes: u64) -> Result<u64, TableError> {
    let pats = match table_size_field(patb_bytes) {
        Ok(v) => v,
        Err(e) => return Err(e),
    };
    match check_addr(patb_pa, patb_bytes, PATB_MASK) {
        Ok(()) => Ok(patb_pa | pats),
        Err(e) => Err(e),
    }
}

/// Decode a PTCR value into (partition table address, bytes).
pub const fn ptcr_decode(ptcr: u64) -> (u64, u64) {
    (ptcr & PATB_MASK, 1 << ((ptcr & PATS_MASK) + 12))
}

/// Byte offset of LPID `lpid`'s entry in a partition table of `patb_bytes`.
pub const fn pate_offset(lpid: u64, patb_bytes: u64) -> Result<u64, TableError> {
    let entries = patb_bytes / PATE_BYTES;
    if lpid >= entries {
        return Err(TableError::IndexOutOfRange { index: lpid, entries });
    }
    Ok(lpid * PATE_BYTES)
}

/// Byte offset of PID `pid`'s entry in a process table of `prtb_bytes`. QEMU
/// faults (`DSISR_NOPTE`) when `pid * 16 >= size`.
pub const fn prte_offset(pid: u64, prtb_bytes: u64) -> Result<u64, TableError> {
    let entries = prtb_bytes / PRTE_BYTES;
    if pid >= entries {
        return Err(TableError::IndexOutOfRange { index: pid, entries });
    }
    Ok(pid * PRTE_BYTES)
}

/// Compile-time check that the RTS helper and the mask agree.
const _: () = assert!(rts_field(52) & !RTS_MASK == 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pate_matches_linux_layout() {
        let g = Geometry::RADIX_64K;
        let pate = Pate::radix(&g, 0x3000_0000 - 0x1_0000, 0x4000_0000, 0x1000).unwrap();
        // HR | RTS(52) | root | 13
        assert_eq!(pate.dw0, (1 << 63) | (2 << 61) | (5 << 5) | 0x2FFF_0000 | 13);
        assert_eq!(pate.dw1, 0x4000_0000);
        assert!(pate.is_radix());
        assert_eq!(pate.root_pa(), 0x2FFF_0000);
        assert_eq!(pate.rpds(), 13);
        assert_eq!(pate.tree_bits(), 52);
        assert_eq!(pate.process_table_pa(), 0x4000_0000);
        assert_eq!(pate.process_table_bytes(), 0x1000);
        assert_eq!(Pate::from_mem(pate.to_mem()), pate);
        let pate = Pate::radix(&g, 0, 0x1_0000, 0x1_0000).unwrap();
        assert_eq!(pate.dw1 & PRTS_MASK, 4);
    }

    #[test]
    fn prte_has_no_hr() {
        let prte = Prte::radix(&Geometry::RADIX_64K, 0x12_0000).unwrap();
        assert_eq!(prte.dw0, 0x4000_0000_0012_00AD);
        assert_eq!(prte.root_pa(), 0x12_0000);
        assert_eq!(prte.tree_bits(), 52);
        assert_eq!(prte.dw1, 0);
        assert_eq!(Prte::from_mem(prte.to_mem()), prte);
    }

    #[test]
    fn alignment_and_sizes() {
        let g = Geometry::RADIX_64K;
        assert_eq!(Prte::radix(&g, 0x8000), Err(TableError::Misaligned { addr: 0x8000, align: 0x1_0000 }));
        assert_eq!(
            Pate::radix(&g, 0, 0x1000, 0x2000),
            Err(TableError::Misaligned { addr: 0x1000, align: 0x2000 })
        );
        assert_eq!(Pate::radix(&g, 0, 0, 0x1800), Err(TableError::BadSize { bytes: 0x1800 }));
        assert_eq!(Pate::radix(&g, 0, 0, 0x800), Err(TableError::BadSize { bytes: 0x800 }));
        assert!(Prte::radix(&g, 1 << 60).is_err());
        assert_eq!(ptcr(0x3_0000, POWER9_PATB_BYTES), Ok(0x3_0004));
        assert_eq!(ptcr_decode(0x3_0004), (0x3_0000, 0x1_0000));
        assert!(ptcr(0x3_8000, POWER9_PATB_BYTES).is_err());
        assert_eq!(table_size_field(1 << 43), Ok(31));
        assert!(table_size_field(1 << 44).is_err());
    }

    #[test]
    fn offsets() {
        assert_eq!(pate_offset(0, POWER9_PATB_BYTES), Ok(0));
        assert_eq!(pate_offset(4095, POWER9_PATB_BYTES), Ok(4095 * 16));
        assert!(pate_offset(4096, POWER9_PATB_BYTES).is_err());
        assert_eq!(prte_offset(3, 4096), Ok(48));
        assert_eq!(prte_offset(256, 4096), Err(TableError::IndexOutOfRange { index: 256, entries: 256 }));
    }

    #[test]
    fn lpcr_bits() {
        assert_eq!(LPCR_HR, 1 << (63 - 43));
        assert_eq!(LPCR_UPRT, 1 << (63 - 41));
    }
}
