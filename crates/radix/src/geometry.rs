//! Tree geometry (index bits per level), effective-address quadrants, and the
//! RTS/RPDS fields that describe a tree to the MMU.
//!
//! A POWER9 radix tree translates a 52-bit effective-address space. The two top
//! EA bits (63:62) select the *quadrant*; EA bits 61:52 must be zero, otherwise
//! the access takes a segment interrupt (QEMU `mmu-radix64.h`
//! `R_EADDR_VALID_MASK` 0xC00FFFFFFFFFFFFF and
//! `ppc_radix64_get_fully_qualified_addr`: "When EA(2:11) are nonzero, raise a
//! segment interrupt"). The walk indexes the tree with EA bits 51:0 only
//! (`eaddr & R_EADDR_MASK`, index = `(ea >> (psize - nls)) & ((1 << nls) - 1)`).

use crate::entry::PageSize;
use core::fmt;

/// Bits of effective address one radix tree translates (Linux
/// `radix__get_tree_size`: "We support 52 bits"; QEMU accepts only 52 at the
/// root, `ppc_radix64_is_valid_level`).
pub const EA_BITS: u32 = 52;

/// EA bits that may be non-zero: the quadrant and the 52-bit offset.
/// QEMU `R_EADDR_VALID_MASK`.
pub const EA_VALID_MASK: u64 = 0xC00F_FFFF_FFFF_FFFF;

/// The quadrant bits (63:62). QEMU `R_EADDR_QUADRANT`.
pub const EA_QUADRANT_MASK: u64 = 0xC000_0000_0000_0000;

/// The offset inside a quadrant that the tree translates (bits 51:0).
pub const EA_OFFSET_MASK: u64 = (1 << EA_BITS) - 1;

/// Start of the kernel linear map in quadrant 3 (Linux `PAGE_OFFSET` on
/// book3s64 radix: `0xc000000000000000`, `radix.h` diagram).
pub const KERNEL_LINEAR_BASE: u64 = 0xC000_0000_0000_0000;

/// One level of the 4-level tree, root first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Root (page global directory), 13 index bits on POWER9.
    Pgd,
    /// Page upper directory; its entries may be 1 GB leaves.
    Pud,
    /// Page middle directory; its entries may be 2 MB leaves.
    Pmd,
    /// Page table; its entries are base-page leaves.
    Pte,
}

impl Level {
    /// All levels, root first.
    pub const ALL: [Level; 4] = [Level::Pgd, Level::Pud, Level::Pmd, Level::Pte];

    /// Depth from the root (Pgd = 0 .. Pte = 3).
    pub const fn depth(self) -> usize {
        match self {
            Level::Pgd => 0,
            Level::Pud => 1,
            Level::Pmd => 2,
            Level::Pte => 3,
        }
    }

    /// The level at `depth`, if any.
    pub const fn from_depth(depth: usize) -> Option<Level> {
        match depth {
            0 => Some(Level::Pgd),
            1 => Some(Level::Pud),
            2 => Some(Level::Pmd),
            3 => Some(Level::Pte),
            _ => None,
        }
    }

    /// The level below this one.
    pub const fn next(self) -> Option<Level> {
        Level::from_depth(self.depth() + 1)
    }
}

/// Shape of a 4-level radix tree: index bits per level and the base page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Index bits at Pgd, Pud, Pmd, Pte.
    bits: [u32; 4],
    /// log2 of the base page size.
    page_shift: u32,
}

impl Geometry {
    /// 64 KB base pages: 13/9/9/5 index bits (PTE table 256 B), PMD leaf 2 MB,
    /// PUD leaf 1 GB. Linux `radix-64k.h` `RADIX_{PGD,PUD,PMD,PTE}_INDEX_SIZE`.
    pub const RADIX_64K: Geometry = Geometry { bits: [13, 9, 9, 5], page_shift: 16 };

    /// 4 KB base pages: 13/9/9/9 index bits. Linux `radix-4k.h`.
    pub const RADIX_4K: Geometry = Geometry { bits: [13, 9, 9, 9], page_shift: 12 };

    /// log2 of the base page size.
    pub const fn page_shift(&self) -> u32 {
        self.page_shift
    }

    /// Base page size in bytes.
    pub const fn page_size(&self) -> u64 {
        1 << self.page_shift
    }

    /// Index bits at `level` (the NLS of the table at that level).
    pub const fn index_bits(&self, level: Level) -> u32 {
        self.bits[level.depth()]
    }

    /// Entries in a table at `level`.
    pub const fn entries(&self, level: Level) -> u64 {
        1 << self.index_bits(level)
    }

    /// Bytes of a table at `level` (8 bytes per entry); also its required
    /// alignment.
    pub const fn table_bytes(&self, level: Level) -> u64 {
        8 << self.index_bits(level)
    }

    /// Shift of the EA bits one entry at `level` spans: the entry at `level`
    /// maps `1 << level_shift(level)` bytes (Pte: base page, Pmd: 2 MB, Pud:
    /// 1 GB, Pgd: 512 GB).
    pub const fn level_shift(&self, level: Level) -> u32 {
        let mut shift = self.page_shift;
        let mut d = 3;
        while d > level.depth() {
            shift += self.bits[d];
            d -= 1;
        }
        shift
    }

    /// Index of `va` in the table at `level`. Only EA bits 51:0 matter; the
    /// quadrant and any bits 61:52 are ignored here (see [`split_ea`]).
    pub const fn index(&self, level: Level, va: u64) -> usize {
        ((va & EA_OFFSET_MASK) >> self.level_shift(level)) as usize & (self.entries(level) as usize - 1)
    }

    /// Size of a leaf at `level` in bytes: Pud 1 GB, Pmd 2 MB, Pte the base
    /// page. `None` for Pgd (POWER9 has no 512 GB pages).
    pub const fn leaf_size(&self, level: Level) -> Option<u64> {
        match level {
            Level::Pgd => None,
            _ => Some(1 << self.level_shift(level)),
        }
    }

    /// [`Geometry::leaf_size`] as a [`PageSize`].
    pub const fn leaf_page_size(&self, level: Level) -> Option<PageSize> {
        match level {
            Level::Pgd => None,
            _ => PageSize::from_shift(self.level_shift(level)),
        }
    }

    /// EA bits translated: the sum of all index bits plus the page shift (52).
    pub const fn ea_bits(&self) -> u32 {
        self.bits[0] + self.bits[1] + self.bits[2] + self.bits[3] + self.page_shift
    }

    /// The RTS field for this tree, in place for a PATE/PRTE doubleword 0.
    pub const fn rts(&self) -> u64 {
        rts_field(self.ea_bits())
    }

    /// The RPDS field (root page directory size = log2 of root entries), in
    /// place (low 5 bits).
    pub const fn rpds(&self) -> u64 {
        self.bits[0] as u64
    }

    /// Build an EA from a quadrant, one index per level and a byte offset in
    /// the base page. Index and offset bits beyond their field are masked off.
    pub const fn compose(&self, quadrant: Quadrant, indices: [u64; 4], offset: u64) -> u64 {
        let mut ea = quadrant.base() | (offset & (self.page_size() - 1));
        let mut d = 0;
        while d < 4 {
            let level = match Level::from_depth(d) {
                Some(l) => l,
                None => Level::Pte,
            };
            ea |= (indices[d] & (self.entries(level) - 1)) << self.level_shift(level);
            d += 1;
        }
        ea
    }
}

/// RTS ("radix tree size") for a tree translating `tree_bits` EA bits, in
/// place in doubleword 0 of a partition- or process-table entry.
///
/// RTS = `tree_bits - 31`, a 5-bit value split in two: RTS1 (its top 2 bits)
/// at bits 62:61 and RTS2 (its low 3 bits) at bits 7:5. For 52 bits, RTS = 21
/// = 0b10101: `(2 << 61) | (5 << 5)`. Linux `radix__get_tree_size` and `mmu.h`
/// `RTS1_SHIFT` 61 / `RTS2_SHIFT` 5; QEMU `PRTBE_R_GET_RTS`.
pub const fn rts_field(tree_bits: u32) -> u64 {
    let rts = (tree_bits.wrapping_sub(31) & 0x1F) as u64;
    ((rts >> 3) << 61) | ((rts & 0x7) << 5)
}

/// Decode the tree size in EA bits from a doubleword 0 holding an RTS field.
/// QEMU `PRTBE_R_GET_RTS`: `(((dw >> 58) & 0x18) | ((dw >> 5) & 0x7)) + 31`.
pub const fn rts_bits(dw0: u64) -> u32 {
    ((((dw0 >> 58) & 0x18) | ((dw0 >> 5) & 0x7)) + 31) as u32
}

/// Effective-address quadrant (EA bits 63:62).
///
/// With MSR[HV]=1 (this kernel), QEMU `ppc_radix64_get_fully_qualified_addr`:
/// Q0 → LPID 0, PID = PIDR; Q1 → LPID = LPIDR, PID = PIDR; Q2 → LPID = LPIDR,
/// PID 0; Q3 → LPID 0, PID 0 (the kernel, Linux `0xc...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quadrant {
    /// EA 0x0000... — user space of the process in PIDR.
    Q0,
    /// EA 0x4000... — hypervisor access to a guest's process space.
    Q1,
    /// EA 0x8000... — hypervisor access to a guest's OS space.
    Q2,
    /// EA 0xc000... — host kernel (PID 0).
    Q3,
}

impl Quadrant {
    /// The quadrant of `ea`.
    pub const fn of(ea: u64) -> Quadrant {
        match ea >> 62 {
            0 => Quadrant::Q0,
            1 => Quadrant::Q1,
            2 => Quadrant::Q2,
            _ => Quadrant::Q3,
        }
    }

    /// First EA of the quadrant.
    pub const fn base(self) -> u64 {
        match self {
            Quadrant::Q0 => 0,
            Quadrant::Q1 => 0x4000_0000_0000_0000,
            Quadrant::Q2 => 0x8000_0000_0000_0000,
            Quadrant::Q3 => 0xC000_0000_0000_0000,
        }
    }
}

/// An effective address the radix MMU rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EaError {
    /// EA bits 61:52 are not zero (segment interrupt).
    OutsideTree {
        /// The address.
        ea: u64,
    },
}

impl fmt::Display for EaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EaError::OutsideTree { ea } => {
                write!(f, "EA {ea:#x} has bits 61:52 set (outside the 52-bit tree)")
            }
        }
    }
}

/// Split an EA into its quadrant and the 52-bit offset the tree translates,
/// rejecting EAs with bits 61:52 set as the MMU does.
pub const fn split_ea(ea: u64) -> Result<(Quadrant, u64), EaError> {
    if ea & !EA_VALID_MASK != 0 {
        return Err(EaError::OutsideTree { ea });
    }
    Ok((Quadrant::of(ea), ea & EA_OFFSET_MASK))
}

/// Build an EA from a quadrant and a 52-bit offset.
pub const fn make_ea(quadrant: Quadrant, offset: u64) -> Result<u64, EaError> {
    if offset & !EA_OFFSET_MASK != 0 {
        return Err(EaError::OutsideTree { ea: offset });
    }
    Ok(quadrant.base() | offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_64k() {
        let g = Geometry::RADIX_64K;
        assert_eq!(g.ea_bits(), 52);
        assert_eq!(g.table_bytes(Level::Pgd), 64 * 1024);
        assert_eq!(g.table_bytes(Level::Pud), 4096);
        assert_eq!(g.table_bytes(Level::Pmd), 4096);
        assert_eq!(g.table_bytes(Level::Pte), 256);
        assert_eq!(g.level_shift(Level::Pte), 16);
        assert_eq!(g.level_shift(Level::Pmd), 21);
        assert_eq!(g.level_shift(Level::Pud), 30);
        assert_eq!(g.level_shift(Level::Pgd), 39);
        assert_eq!(g.leaf_size(Level::Pte), Some(64 << 10));
        assert_eq!(g.leaf_size(Level::Pmd), Some(2 << 20));
        assert_eq!(g.leaf_size(Level::Pud), Some(1 << 30));
        assert_eq!(g.leaf_size(Level::Pgd), None);
        assert_eq!(g.leaf_page_size(Level::Pmd), Some(PageSize::Size2M));
        assert_eq!(g.rpds(), 13);
    }

    #[test]
    fn geometry_4k() {
        let g = Geometry::RADIX_4K;
        assert_eq!(g.ea_bits(), 52);
        assert_eq!(g.table_bytes(Level::Pte), 4096);
        assert_eq!(g.leaf_size(Level::Pte), Some(4096));
        assert_eq!(g.leaf_size(Level::Pmd), Some(2 << 20));
        assert_eq!(g.leaf_size(Level::Pud), Some(1 << 30));
    }

    #[test]
    fn rts_52_bits() {
        assert_eq!(rts_field(52), (2 << 61) | (5 << 5));
        assert_eq!(Geometry::RADIX_64K.rts(), 0x4000_0000_0000_00A0);
        assert_eq!(rts_bits(rts_field(52)), 52);
        for bits in 31..=62 {
            assert_eq!(rts_bits(rts_field(bits)), bits);
        }
    }

    #[test]
    fn indexes_and_quadrants() {
        let g = Geometry::RADIX_64K;
        let ea = 0xC000_0000_2000_0000u64;
        assert_eq!(Quadrant::of(ea), Quadrant::Q3);
        assert_eq!(g.index(Level::Pgd, ea), 0);
        assert_eq!(g.index(Level::Pud, ea), 0);
        assert_eq!(g.index(Level::Pmd, ea), 0x100);
        assert_eq!(g.index(Level::Pte, ea), 0);
        let top = 0x000F_FFFF_FFFF_FFFFu64;
        assert_eq!(g.index(Level::Pgd, top), 0x1FFF);
        assert_eq!(g.index(Level::Pte, top), 0x1F);
        assert_eq!(split_ea(0x0010_0000_0000_0000), Err(EaError::OutsideTree { ea: 1 << 52 }));
        assert_eq!(split_ea(ea), Ok((Quadrant::Q3, 0x2000_0000)));
        assert_eq!(make_ea(Quadrant::Q3, 0x2000_0000), Ok(ea));
        assert!(make_ea(Quadrant::Q0, 1 << 52).is_err());
        assert_eq!(g.compose(Quadrant::Q3, [0, 0, 0x100, 0], 0), ea);
    }
}
