//! Radix tree entries: leaf PTEs ([`Pte`]) and page-directory entries ([`Pde`]).
//!
//! Both newtypes hold the **logical** (native-endian) value. The MMU reads the
//! tables as big-endian doublewords, so anything stored to or loaded from table
//! memory goes through [`Pte::to_mem`] / [`Pte::from_mem`] (same for [`Pde`]).
//!
//! Bit numbering below is "LSB = bit 0" (`1 << n`); the ISA numbers bits from
//! the MSB (IBM bit 0 = our bit 63). Every mask cites where it was checked.

use bitflags::bitflags;
use core::fmt;

/// Entry is valid: a translation (leaf) or a pointer to the next level.
/// IBM bit 0. QEMU `target/ppc/mmu-radix64.c` `R_PTE_VALID` 0x8000000000000000;
/// Linux `book3s/64/pgtable.h` `_PAGE_PRESENT`.
pub const VALID: u64 = 1 << 63;

/// Entry is a leaf (a PTE, not a pointer). IBM bit 1.
/// QEMU `R_PTE_LEAF` 0x4000000000000000; Linux `_PAGE_PTE`.
pub const LEAF: u64 = 1 << 62;

/// Software bit 0 (IBM bit 2), ignored by the MMU. Linux uses it as
/// `_PAGE_INVALID` (= `_RPAGE_SW0` 0x2000000000000000): `pmdp_invalidate`
/// clears [`VALID`] and sets this bit, so the hardware faults on the entry while
/// `pte_present`/`pmd_present` still report it present (a THP split in
/// progress). QEMU `R_PTE_SW0` 0x2000000000000000.
pub const SW_INVALID: u64 = 1 << 61;

/// Real page number: real-address bits 12..=56 (IBM bits 7:51).
/// QEMU `R_PTE_RPN` 0x01FFFFFFFFFFF000. Linux caps real addresses lower
/// (`_PAGE_PA_MAX` 53, `PTE_RPN_MASK`) and reuses bits 56..=60 for protection
/// keys (`_RPAGE_PKEY_BIT0..4`); this crate does not use keys.
pub const RPN_MASK: u64 = 0x01FF_FFFF_FFFF_F000;

/// Software bits 1..3 (IBM bits 52:54). QEMU `R_PTE_SW1` 0xE00;
/// Linux `_RPAGE_SW1` 0x800, `_RPAGE_SW2` 0x400, `_RPAGE_SW3` 0x200.
pub const SW123_MASK: u64 = 0x0000_0000_0000_0E00;

/// Reference (R, "accessed") bit. QEMU `R_PTE_R` 0x100; Linux `_PAGE_ACCESSED`.
pub const R: u64 = 0x100;

/// Change (C, "dirty") bit. QEMU `R_PTE_C` 0x80; Linux `_PAGE_DIRTY`.
pub const C: u64 = 0x80;

/// Storage attribute field (IBM bits 58:59). QEMU `R_PTE_ATT` 0x30.
pub const ATT_MASK: u64 = 0x30;

/// Encoded access authority: privileged-only. QEMU `R_PTE_EAA_PRIV` 0x8;
/// Linux `_PAGE_PRIVILEGED`.
pub const EAA_PRIV: u64 = 0x8;
/// EAA read. QEMU `R_PTE_EAA_R` 0x4; Linux `_PAGE_READ`.
pub const EAA_READ: u64 = 0x4;
/// EAA read/write (write implies read for the MMU). QEMU `R_PTE_EAA_RW` 0x2;
/// Linux `_PAGE_WRITE`.
pub const EAA_WRITE: u64 = 0x2;
/// EAA execute. QEMU `R_PTE_EAA_X` 0x1; Linux `_PAGE_EXEC`.
pub const EAA_EXEC: u64 = 0x1;

/// Next-level base: real-address bits 8..=59 of the next table (IBM 4:55).
/// QEMU `R_PDE_NLB` (= `PRTBE_R_RPDB`) 0x0FFFFFFFFFFFFF00; Linux `RPDB_MASK`.
pub const NLB_MASK: u64 = 0x0FFF_FFFF_FFFF_FF00;

/// Next-level size: log2 of the number of entries in the next table (IBM 59:63).
/// QEMU `R_PDE_NLS` (= `PRTBE_R_RPDS`) 0x1F.
pub const NLS_MASK: u64 = 0x1F;

/// Bits that must be zero in a directory entry (leaf and SW0, and 0xe0).
/// Linux `radix.h` `RADIX_PMD_BAD_BITS` / `RADIX_PUD_BAD_BITS` 0x60000000000000e0.
pub const DIR_BAD_BITS: u64 = 0x6000_0000_0000_00E0;

/// Smallest `NLS` the MMU accepts (a table of 32 entries = 256 bytes). QEMU
/// faults with `DSISR_R_BADCONFIG` below this (old `ppc_radix64_walk_tree`:
/// "Directory maps less than 2**5 entries"); POWER9 only uses 5, 9 and 13.
pub const MIN_NLS: u32 = 5;

bitflags! {
    /// Permission, reference/change and software bits of a leaf PTE.
    ///
    /// The storage attribute ([`Att`]) is a 2-bit field and is kept apart.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PteFlags: u64 {
        /// Execute allowed ([`EAA_EXEC`]).
        const EXEC = EAA_EXEC;
        /// Write allowed; the MMU treats it as read+write ([`EAA_WRITE`]).
        const WRITE = EAA_WRITE;
        /// Read allowed ([`EAA_READ`]).
        const READ = EAA_READ;
        /// Privileged (MSR[PR]=0) access only ([`EAA_PRIV`]).
        const PRIVILEGED = EAA_PRIV;
        /// Change bit, C ([`C`]).
        const DIRTY = C;
        /// Reference bit, R ([`R`]).
        const ACCESSED = R;
        /// Software bit (Linux `_RPAGE_SW3` = `_PAGE_SOFT_DIRTY`).
        const SW3 = 0x200;
        /// Software bit (Linux `_RPAGE_SW2` = `_PAGE_SPECIAL`).
        const SW2 = 0x400;
        /// Software bit (Linux `_RPAGE_SW1` = `_PAGE_DEVMAP`).
        const SW1 = 0x800;
    }
}

impl PteFlags {
    /// Kernel read/write data: Linux `PAGE_KERNEL` (`_PAGE_BASE |
    /// _PAGE_KERNEL_RW`), i.e. privileged, R/W, with R and C already set.
    ///
    /// Set R and C up front: QEMU (since 7.x, `ppc_radix64_check_rc`) does not
    /// update them but raises a storage interrupt with `DSISR_ATOMIC_RC`.
    pub const KERNEL_RW: PteFlags = PteFlags::from_bits_truncate(EAA_PRIV | EAA_READ | EAA_WRITE | R | C);
    /// Kernel read/write/execute (Linux `PAGE_KERNEL_X`).
    pub const KERNEL_RWX: PteFlags =
        PteFlags::from_bits_truncate(EAA_PRIV | EAA_READ | EAA_WRITE | EAA_EXEC | R | C);
    /// Kernel read-only (Linux `PAGE_KERNEL_RO`).
    pub const KERNEL_RO: PteFlags = PteFlags::from_bits_truncate(EAA_PRIV | EAA_READ | R);
    /// Problem-state read/write, R and C set (Linux `PAGE_SHARED` plus dirty).
    pub const USER_RW: PteFlags = PteFlags::from_bits_truncate(EAA_READ | EAA_WRITE | R | C);
}

/// Storage attribute of a leaf (the `ATT` field, IBM bits 58:59).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Att {
    /// Normal cacheable memory. QEMU `R_PTE_ATT_NORMAL` 0x00.
    Normal,
    /// Strong access ordering. QEMU `R_PTE_ATT_SAO` 0x10; Linux `_PAGE_SAO`.
    Sao,
    /// Non-idempotent I/O: cache-inhibited and guarded (no instruction fetch).
    /// QEMU `R_PTE_ATT_NI_IO` 0x20; Linux `_PAGE_NON_IDEMPOTENT`.
    NonIdempotentIo,
    /// Tolerant I/O: cache-inhibited, not guarded.
    /// QEMU `R_PTE_ATT_TOLERANT_IO` 0x30; Linux `_PAGE_TOLERANT`.
    TolerantIo,
}

impl Att {
    /// The field value, already in place (`0x00`, `0x10`, `0x20` or `0x30`).
    pub const fn bits(self) -> u64 {
        match self {
            Att::Normal => 0x00,
            Att::Sao => 0x10,
            Att::NonIdempotentIo => 0x20,
            Att::TolerantIo => 0x30,
        }
    }

    /// Decode the field from an entry value (other bits ignored).
    pub const fn from_entry(value: u64) -> Att {
        match value & ATT_MASK {
            0x00 => Att::Normal,
            0x10 => Att::Sao,
            0x20 => Att::NonIdempotentIo,
            _ => Att::TolerantIo,
        }
    }

    /// Whether the MMU treats the storage as cache-inhibited.
    pub const fn is_cache_inhibited(self) -> bool {
        matches!(self, Att::NonIdempotentIo | Att::TolerantIo)
    }
}

/// Page sizes POWER9 radix supports (4K/64K base, 2M at the PMD, 1G at the PUD).
///
/// Source: QEMU `target/ppc/cpu_init.c` `POWER9_radix_page_info`
/// (`ibm,processor-radix-AP-encodings` = 0x0000000c, 0xa0000010, 0x20000015,
/// 0x4000001e: AP in the top 3 bits, shift in the low bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageSize {
    /// 4 KiB.
    Size4K,
    /// 64 KiB.
    Size64K,
    /// 2 MiB.
    Size2M,
    /// 1 GiB.
    Size1G,
}

impl PageSize {
    /// All supported sizes, smallest first.
    pub const ALL: [PageSize; 4] = [PageSize::Size4K, PageSize::Size64K, PageSize::Size2M, PageSize::Size1G];

    /// log2 of the size in bytes.
    pub const fn shift(self) -> u32 {
        match self {
            PageSize::Size4K => 12,
            PageSize::Size64K => 16,
            PageSize::Size2M => 21,
            PageSize::Size1G => 30,
        }
    }

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        1 << self.shift()
    }

    /// The page size whose shift is `shift`, if supported.
    pub const fn from_shift(shift: u32) -> Option<PageSize> {
        match shift {
            12 => Some(PageSize::Size4K),
            16 => Some(PageSize::Size64K),
            21 => Some(PageSize::Size2M),
            30 => Some(PageSize::Size1G),
            _ => None,
        }
    }

    /// Actual-page-size (AP) code for `tlbie`/`tlbiel` RB[56:58].
    /// 4K=0, 64K=5, 2M=1, 1G=2: QEMU `mmu_helper.c` `TLBIE_R_AP_*`; Linux
    /// `radix__early_init_devtree` defaults (`mmu_psize_defs[..].ap`) and
    /// QEMU `POWER9_radix_page_info`.
    pub const fn ap(self) -> u64 {
        match self {
            PageSize::Size4K => 0,
            PageSize::Size64K => 5,
            PageSize::Size2M => 1,
            PageSize::Size1G => 2,
        }
    }
}

/// Why an entry could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// `addr` is not a multiple of `align`.
    Misaligned {
        /// The address given.
        addr: u64,
        /// The alignment it needs.
        align: u64,
    },
    /// `addr` has bits the field cannot hold (`mask` is the field).
    AddressTooLarge {
        /// The address given.
        addr: u64,
        /// The address field mask.
        mask: u64,
    },
    /// `nls` is outside `MIN_NLS..=31`.
    BadNls {
        /// The value given.
        nls: u32,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::Misaligned { addr, align } => {
                write!(f, "address {addr:#x} is not aligned to {align:#x}")
            }
            EncodeError::AddressTooLarge { addr, mask } => {
                write!(f, "address {addr:#x} does not fit the field mask {mask:#x}")
            }
            EncodeError::BadNls { nls } => {
                write!(f, "next-level size {nls} is outside {MIN_NLS}..=31")
            }
        }
    }
}

/// Check `addr` is aligned to `align` (a power of two) and inside `mask`.
const fn check_addr(addr: u64, align: u64, mask: u64) -> Result<(), EncodeError> {
    if addr & (align - 1) != 0 {
        return Err(EncodeError::Misaligned { addr, align });
    }
    if addr & !mask != 0 {
        return Err(EncodeError::AddressTooLarge { addr, mask });
    }
    Ok(())
}

/// A leaf page-table entry (logical value; see the module docs for endianness).
///
/// Also used for 2 MB PMD and 1 GB PUD leaves: the format is the same at every
/// level, only the alignment of the real address differs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Pte(u64);

impl Pte {
    /// The empty entry (all zero).
    pub const NONE: Pte = Pte(0);

    /// Wrap a logical (native-endian) value as is.
    pub const fn from_raw(value: u64) -> Pte {
        Pte(value)
    }

    /// The logical (native-endian) value.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Decode the doubleword as read from table memory (big-endian).
    pub const fn from_mem(mem: u64) -> Pte {
        Pte(u64::from_be(mem))
    }

    /// The doubleword to store in table memory (big-endian).
    pub const fn to_mem(self) -> u64 {
        self.0.to_be()
    }

    /// A valid leaf mapping the `size`-aligned real address `pa`, normal
    /// (cacheable) storage, with `flags`.
    pub const fn leaf(pa: u64, size: PageSize, flags: PteFlags) -> Result<Pte, EncodeError> {
        match check_addr(pa, size.bytes(), RPN_MASK) {
            Ok(()) => Ok(Pte(VALID | LEAF | pa | flags.bits())),
            Err(e) => Err(e),
        }
    }

    /// The real address in the RPN field (page aligned; low bits zero).
    pub const fn pa(self) -> u64 {
        self.0 & RPN_MASK
    }

    /// Replace the real address, checking alignment to `size`.
    pub const fn with_pa(self, pa: u64, size: PageSize) -> Result<Pte, EncodeError> {
        match check_addr(pa, size.bytes(), RPN_MASK) {
            Ok(()) => Ok(Pte((self.0 & !RPN_MASK) | pa)),
            Err(e) => Err(e),
        }
    }

    /// The hardware VALID bit is set.
    pub const fn is_valid(self) -> bool {
        self.0 & VALID != 0
    }

    /// The LEAF bit is set.
    pub const fn is_leaf(self) -> bool {
        self.0 & LEAF != 0
    }

    /// The MMU will use this entry as a translation: VALID and LEAF
    /// (Linux `pte_hw_valid`).
    pub const fn is_hw_valid(self) -> bool {
        self.0 & (VALID | LEAF) == VALID | LEAF
    }

    /// Software's view (Linux `pte_present`): hardware-valid, or a leaf that was
    /// invalidated with [`Pte::invalidate`] (VALID clear, [`SW_INVALID`] set).
    ///
    /// Linux `pmd_present` is looser (VALID or SW_INVALID, leaf not checked);
    /// for leaves the two agree.
    pub const fn is_present(self) -> bool {
        self.is_hw_valid() || self.0 & (SW_INVALID | LEAF) == SW_INVALID | LEAF
    }

    /// A leaf in the `pmdp_invalidate` state: VALID clear and SW_INVALID set
    /// (Linux `pmd_is_serializing`). The MMU faults on it; software still sees
    /// the old translation.
    pub const fn is_invalidated(self) -> bool {
        self.0 & (VALID | SW_INVALID) == SW_INVALID
    }

    /// Empty apart from possible R/C bits (Linux `radix__pte_none`).
    pub const fn is_none(self) -> bool {
        self.0 & !(R | C) == 0
    }

    /// The permission, R/C and software bits.
    pub const fn flags(self) -> PteFlags {
        PteFlags::from_bits_truncate(self.0)
    }

    /// Set `flags` (other bits unchanged).
    pub const fn with_flags(self, flags: PteFlags) -> Pte {
        Pte(self.0 | flags.bits())
    }

    /// Clear `flags` (other bits unchanged).
    pub const fn clear_flags(self, flags: PteFlags) -> Pte {
        Pte(self.0 & !flags.bits())
    }

    /// The storage attribute.
    pub const fn att(self) -> Att {
        Att::from_entry(self.0)
    }

    /// Replace the storage attribute.
    pub const fn with_att(self, att: Att) -> Pte {
        Pte((self.0 & !ATT_MASK) | att.bits())
    }

    /// Linux `pmdp_invalidate` on the value: clear VALID (`_PAGE_PRESENT`), set
    /// SW_INVALID (`_PAGE_INVALID`) — `pmd_hugepage_update(.., _PAGE_PRESENT,
    /// _PAGE_INVALID)` in `arch/powerpc/mm/book3s64/pgtable.c`.
    pub const fn invalidate(self) -> Pte {
        Pte((self.0 & !VALID) | SW_INVALID)
    }

    /// Undo [`Pte::invalidate`]: set VALID, clear SW_INVALID.
    pub const fn revalidate(self) -> Pte {
        Pte((self.0 | VALID) & !SW_INVALID)
    }
}

impl fmt::Debug for Pte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pte({:#018x}: pa={:#x}", self.0, self.pa())?;
        if self.is_valid() {
            f.write_str(" V")?;
        }
        if self.is_leaf() {
            f.write_str(" L")?;
        }
        if self.0 & SW_INVALID != 0 {
            f.write_str(" SWINV")?;
        }
        write!(f, " {:?} {:?})", self.att(), self.flags())
    }
}

/// A page-directory entry: VALID | next-level base | next-level size.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Pde(u64);

impl Pde {
    /// The empty entry.
    pub const NONE: Pde = Pde(0);

    /// Wrap a logical (native-endian) value as is.
    pub const fn from_raw(value: u64) -> Pde {
        Pde(value)
    }

    /// The logical (native-endian) value.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Decode the doubleword as read from table memory (big-endian).
    pub const fn from_mem(mem: u64) -> Pde {
        Pde(u64::from_be(mem))
    }

    /// The doubleword to store in table memory (big-endian).
    pub const fn to_mem(self) -> u64 {
        self.0.to_be()
    }

    /// A valid pointer to a table of `2^nls` entries at real address `table_pa`.
    ///
    /// The table must be aligned to its own size, `8 << nls` bytes (at least
    /// 256 B since `nls >= 5`): QEMU `ppc_radix64_next_level` logs
    /// "misaligned page dir/table base" and masks the low bits otherwise.
    pub const fn table(table_pa: u64, nls: u32) -> Result<Pde, EncodeError> {
        if nls < MIN_NLS || nls > NLS_MASK as u32 {
            return Err(EncodeError::BadNls { nls });
        }
        match check_addr(table_pa, 8u64 << nls, NLB_MASK) {
            Ok(()) => Ok(Pde(VALID | table_pa | nls as u64)),
            Err(e) => Err(e),
        }
    }

    /// Real address of the next table.
    pub const fn next_table_pa(self) -> u64 {
        self.0 & NLB_MASK
    }

    /// log2 of the number of entries of the next table.
    pub const fn nls(self) -> u32 {
        (self.0 & NLS_MASK) as u32
    }

    /// Size in bytes of the next table (`8 << nls`).
    pub const fn table_bytes(self) -> u64 {
        8u64 << self.nls()
    }

    /// The hardware VALID bit is set.
    pub const fn is_valid(self) -> bool {
        self.0 & VALID != 0
    }

    /// The LEAF bit is set, i.e. this is really a [`Pte`].
    pub const fn is_leaf(self) -> bool {
        self.0 & LEAF != 0
    }

    /// The entry is zero (Linux `pmd_none`).
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Has bits a directory entry must not have (Linux `radix__pmd_bad`).
    pub const fn is_bad(self) -> bool {
        self.0 & DIR_BAD_BITS != 0
    }
}

impl fmt::Debug for Pde {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pde({:#018x}: next={:#x} nls={}{})",
            self.0,
            self.next_table_pa(),
            self.nls(),
            if self.is_valid() { " V" } else { "" }
        )
    }
}

/// What an entry value means, from software's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryView {
    /// All zero.
    Empty,
    /// VALID and not LEAF: a pointer to the next table.
    Table(Pde),
    /// VALID and LEAF: a translation the MMU uses.
    Leaf(Pte),
    /// LEAF with VALID clear and SW_INVALID set: invalidated by
    /// `pmdp_invalidate`; the MMU faults, software still sees it present.
    Invalidated(Pte),
    /// Any other non-zero value with VALID clear (not present).
    NotPresent(u64),
}

impl EntryView {
    /// Classify a logical (native-endian) entry value.
    pub const fn of(value: u64) -> EntryView {
        if value == 0 {
            EntryView::Empty
        } else if value & VALID != 0 {
            if value & LEAF != 0 {
                EntryView::Leaf(Pte(value))
            } else {
                EntryView::Table(Pde(value))
            }
        } else if value & (LEAF | SW_INVALID) == LEAF | SW_INVALID {
            EntryView::Invalidated(Pte(value))
        } else {
            EntryView::NotPresent(value)
        }
    }

    /// Classify a doubleword as read from table memory (big-endian).
    pub const fn of_mem(mem: u64) -> EntryView {
        EntryView::of(u64::from_be(mem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_positions_match_linux_and_qemu() {
        assert_eq!(VALID, 0x8000_0000_0000_0000);
        assert_eq!(LEAF, 0x4000_0000_0000_0000);
        assert_eq!(SW_INVALID, 0x2000_0000_0000_0000);
        assert_eq!(RPN_MASK, 0x01FF_FFFF_FFFF_F000);
        assert_eq!(NLB_MASK, 0x0FFF_FFFF_FFFF_FF00);
        assert_eq!(PteFlags::ACCESSED.bits(), 0x100);
        assert_eq!(PteFlags::DIRTY.bits(), 0x80);
        assert_eq!(PteFlags::PRIVILEGED.bits(), 0x8);
        assert_eq!(PteFlags::READ.bits(), 0x4);
        assert_eq!(PteFlags::WRITE.bits(), 0x2);
        assert_eq!(PteFlags::EXEC.bits(), 0x1);
        // No flag overlaps the fields it must not touch.
        let fields = VALID | LEAF | SW_INVALID | RPN_MASK | ATT_MASK;
        assert_eq!(PteFlags::all().bits() & fields, 0);
    }

    #[test]
    fn leaf_encoding_and_memory_order() {
        let pte = Pte::leaf(0x1234_0000, PageSize::Size64K, PteFlags::KERNEL_RW).unwrap();
        assert_eq!(pte.raw(), 0xC000_0000_1234_018E);
        assert_eq!(pte.to_mem(), 0xC000_0000_1234_018Eu64.to_be());
        // Bytes in memory are big-endian: the VALID|LEAF byte comes first.
        assert_eq!(pte.to_mem().to_ne_bytes()[0], 0xC0);
        assert_eq!(Pte::from_mem(pte.to_mem()), pte);
        assert_eq!(pte.pa(), 0x1234_0000);
        assert!(pte.is_valid() && pte.is_leaf() && pte.is_present());
        assert_eq!(pte.att(), Att::Normal);
        assert_eq!(pte.flags(), PteFlags::KERNEL_RW);
    }

    #[test]
    fn leaf_alignment_and_range() {
        assert_eq!(
            Pte::leaf(0x1_0000, PageSize::Size2M, PteFlags::READ),
            Err(EncodeError::Misaligned { addr: 0x1_0000, align: 0x20_0000 })
        );
        assert!(Pte::leaf(0x4000_0000, PageSize::Size1G, PteFlags::READ).is_ok());
        assert!(Pte::leaf(1 << 57, PageSize::Size1G, PteFlags::READ).is_err());
        assert!(Pte::leaf((1 << 57) - (1 << 30), PageSize::Size1G, PteFlags::READ).is_ok());
    }

    #[test]
    fn invalidate_models_pmdp_invalidate() {
        let pte = Pte::leaf(0x20_0000, PageSize::Size2M, PteFlags::KERNEL_RW).unwrap();
        let inv = pte.invalidate();
        assert!(!inv.is_valid());
        assert!(!inv.is_hw_valid());
        assert!(inv.is_present());
        assert!(inv.is_invalidated());
        assert_eq!(inv.pa(), pte.pa());
        assert_eq!(EntryView::of(inv.raw()), EntryView::Invalidated(inv));
        assert_eq!(inv.revalidate(), pte);
        // Clearing VALID without SW_INVALID is "not present".
        let gone = Pte::from_raw(pte.raw() & !VALID);
        assert!(!gone.is_present());
        assert_eq!(EntryView::of(gone.raw()), EntryView::NotPresent(gone.raw()));
    }

    #[test]
    fn pde_encoding() {
        let pde = Pde::table(0x10_0100, 5).unwrap();
        assert_eq!(pde.raw(), 0x8000_0000_0010_0105);
        assert_eq!(pde.next_table_pa(), 0x10_0100);
        assert_eq!(pde.nls(), 5);
        assert_eq!(pde.table_bytes(), 256);
        assert!(!pde.is_bad() && pde.is_valid() && !pde.is_leaf());
        assert_eq!(Pde::table(0x10_0080, 5), Err(EncodeError::Misaligned { addr: 0x10_0080, align: 256 }));
        assert_eq!(Pde::table(0x1000, 4), Err(EncodeError::BadNls { nls: 4 }));
        assert_eq!(Pde::table(0x1000, 9), Ok(Pde::from_raw(VALID | 0x1000 | 9)));
        assert!(Pde::table(0x1800, 9).is_err());
        assert_eq!(EntryView::of(pde.raw()), EntryView::Table(pde));
        assert_eq!(EntryView::of_mem(pde.to_mem()), EntryView::Table(pde));
    }

    #[test]
    fn att_round_trip_and_flags() {
        let base = Pte::leaf(0, PageSize::Size4K, PteFlags::READ).unwrap();
        for att in [Att::Normal, Att::Sao, Att::NonIdempotentIo, Att::TolerantIo] {
            let p = base.with_att(att);
            assert_eq!(p.att(), att);
            assert_eq!(p.flags(), PteFlags::READ);
        }
        let p = base.with_flags(PteFlags::WRITE | PteFlags::DIRTY);
        assert!(p.flags().contains(PteFlags::WRITE | PteFlags::DIRTY | PteFlags::READ));
        assert_eq!(p.clear_flags(PteFlags::WRITE | PteFlags::DIRTY), base);
        assert!(Pte::from_raw(R | C).is_none());
    }

    #[test]
    fn page_sizes() {
        for s in PageSize::ALL {
            assert_eq!(PageSize::from_shift(s.shift()), Some(s));
        }
        assert_eq!(PageSize::Size64K.ap(), 5);
        assert_eq!(PageSize::Size2M.ap(), 1);
        assert_eq!(PageSize::Size1G.ap(), 2);
        assert_eq!(PageSize::Size4K.ap(), 0);
    }
}
