//! The software walker against hand-built trees in fake big-endian memory.

mod common;

use common::Tree;
use radix::entry::{SW_INVALID, VALID};
use radix::tables::{prte_offset, Pate, Prte, LPCR_HR, LPCR_UPRT};
use radix::{
    check_access, Access, AccessFault, EntryView, FaultKind, Geometry, Level, Pde, Pte, PteFlags, Quadrant,
};

const K64: u64 = 64 << 10;
const M2: u64 = 2 << 20;
const G1: u64 = 1 << 30;

#[test]
fn maps_64k_page_in_quadrant_0_and_3() {
    let mut t = Tree::new(Geometry::RADIX_64K);
    let va = 0x1234_5678_0000u64;
    let at = t.map(va, 0x4567_0000, Level::Pte, PteFlags::KERNEL_RW);
    let tr = t.translate(va + 0x1234).unwrap();
    assert_eq!(tr.pa, 0x4567_1234);
    assert_eq!(tr.level, Level::Pte);
    assert_eq!(tr.leaf_size, K64);
    assert_eq!(tr.pte_pa, at);
    assert_eq!(tr.pte.pa(), 0x4567_0000);
    // The tree does not see the quadrant: same result from 0xc...
    let tr3 = t.translate(Quadrant::Q3.base() | va | 0x1234).unwrap();
    assert_eq!(tr3.pa, 0x4567_1234);
    // Neighbouring page is unmapped at the PTE level.
    let f = t.translate(va + K64).unwrap_err();
    assert_eq!((f.kind, f.level, f.entry), (FaultKind::NotValid, Level::Pte, 0));
}

#[test]
fn pmd_2m_and_pud_1g_leaves() {
    let mut t = Tree::new(Geometry::RADIX_64K);
    t.map(0x4020_0000, 0x8060_0000, Level::Pmd, PteFlags::KERNEL_RW);
    let tr = t.translate(0x4020_0000 + 0x1_2345).unwrap();
    assert_eq!((tr.pa, tr.level, tr.leaf_size), (0x8061_2345, Level::Pmd, M2));

    t.map(0x80_4000_0000, 0x1_C000_0000, Level::Pud, PteFlags::KERNEL_RW);
    let tr = t.translate(0x80_4000_0000 + 0x3FFF_FFFF).unwrap();
    assert_eq!((tr.pa, tr.level, tr.leaf_size), (0x1_FFFF_FFFF, Level::Pud, G1));

    // 4K geometry: base pages at the PTE level are 4 KB.
    let mut t = Tree::new(Geometry::RADIX_4K);
    t.map(0x7000, 0x9000, Level::Pte, PteFlags::USER_RW);
    let tr = t.translate(0x7ABC).unwrap();
    assert_eq!((tr.pa, tr.leaf_size), (0x9ABC, 4096));
    t.map(0x20_0000, 0x40_0000, Level::Pmd, PteFlags::USER_RW);
    assert_eq!(t.translate(0x3F_FFFF).unwrap().pa, 0x5F_FFFF);
}

#[test]
fn faults_at_each_level() {
    let mut t = Tree::new(Geometry::RADIX_64K);
    let f = t.translate(0x1000).unwrap_err();
    assert_eq!((f.kind, f.level), (FaultKind::NotValid, Level::Pgd));
    assert_eq!(f.entry_pa, t.root);

    t.map(0, 0, Level::Pte, PteFlags::KERNEL_RW);
    // Same PGD entry, other PUD entry.
    let f = t.translate(1 << 30).unwrap_err();
    assert_eq!((f.kind, f.level), (FaultKind::NotValid, Level::Pud));
    // Same PUD entry, other PMD entry.
    let f = t.translate(2 << 20).unwrap_err();
    assert_eq!((f.kind, f.level), (FaultKind::NotValid, Level::Pmd));
    // Top of the 52-bit space, other PGD entry.
    let f = t.translate((1 << 52) - 1).unwrap_err();
    assert_eq!((f.kind, f.level), (FaultKind::NotValid, Level::Pgd));
}

#[test]
fn ea_bits_61_to_52_take_a_segment_fault() {
    let mut t = Tree::new(Geometry::RADIX_64K);
    t.map(0, 0, Level::Pte, PteFlags::KERNEL_RW);
    let f = t.translate(1 << 52).unwrap_err();
    assert_eq!(f.kind, FaultKind::Segment);
    let f = t.translate(0xC010_0000_0000_0000).unwrap_err();
    assert_eq!(f.kind, FaultKind::Segment);
    assert!(t.translate(0xC000_0000_0000_0000).is_ok());
}

#[test]
fn pmdp_invalidate_state_faults_in_hardware_but_is_present_for_software() {
    let mut t = Tree::new(Geometry::RADIX_64K);
    let at = t.map(0x60_0000, 0x20_0000, Level::Pmd, PteFlags::KERNEL_RW);
    let old = Pte::from_raw(t.get(at));
    t.set(at, old.invalidate().raw());

    let f = t.translate(0x60_1000).unwrap_err();
    assert_eq!((f.kind, f.level, f.entry_pa), (FaultKind::NotValid, Level::Pmd, at));
    let seen = Pte::from_raw(f.entry);
    assert_eq!(f.entry & (VALID | SW_INVALID), SW_INVALID);
    assert!(seen.is_present());
    assert!(!seen.is_hw_valid());
    assert_eq!(seen.pa(), 0x20_0000);
    assert_eq!(EntryView::of(f.entry), EntryView::Invalidated(seen));

    // After the split the PMD points at a PTE table again: translation works.
    t.set(at, 0);
    t.map(0x60_0000, 0x20_0000, Level::Pte, PteFlags::KERNEL_RW);
    assert_eq!(t.translate(0x60_1000).unwrap().pa, 0x20_1000);
}

#[test]
fn bad_configurations() {
    // A PTE table with NLS 4 (128 B): below the minimum.
    let mut t = Tree::new(Geometry::RADIX_64K);
    t.map(0, 0, Level::Pte, PteFlags::KERNEL_RW);
    let pmd_at = t.entry_pa(0, Level::Pmd);
    let pde = Pde::from_raw(t.get(pmd_at));
    t.set(pmd_at, (pde.raw() & !0x1F) | 4);
    let f = t.translate(0).unwrap_err();
    assert_eq!((f.kind, f.level, f.entry_pa), (FaultKind::BadConfig, Level::Pte, pmd_at));

    // A PMD table announced with NLS 5 (only the PTE level may use 5).
    let mut t = Tree::new(Geometry::RADIX_64K);
    t.map(0, 0, Level::Pte, PteFlags::KERNEL_RW);
    let pud_at = t.entry_pa(0, Level::Pud);
    let pde = Pde::from_raw(t.get(pud_at));
    t.set(pud_at, (pde.raw() & !0x1F) | 5);
    let f = t.translate(0).unwrap_err();
    assert_eq!((f.kind, f.level), (FaultKind::BadConfig, Level::Pmd));

    // A directory entry at the PTE level (not a leaf): there is no level 4.
    let mut t = Tree::new(Geometry::RADIX_64K);
    let pte_at = t.entry_pa(0, Level::Pte);
    t.set(pte_at, Pde::table(0x80_0000, 5).unwrap().raw());
    let f = t.translate(0).unwrap_err();
    assert_eq!((f.kind, f.level, f.entry_pa), (FaultKind::BadConfig, Level::Pte, pte_at));
}

#[test]
fn pte_table_with_nls_9_gives_4k_pages_like_hardware() {
    // The MMU takes the page size from the NLS chain, not from software's idea
    // of the geometry: a 64K-geometry tree with a 512-entry last level maps 4K.
    let mut t = Tree::new(Geometry::RADIX_64K);
    let pmd_at = t.entry_pa(0x20_0000, Level::Pmd);
    let table = t.mem.alloc(4096);
    t.set(pmd_at, Pde::table(table, 9).unwrap().raw());
    let leaf = Pte::leaf(0x7000, radix::PageSize::Size4K, PteFlags::KERNEL_RW).unwrap();
    t.set(table + 8 * 3, leaf.raw());
    let tr = t.translate(0x20_3ABC).unwrap();
    assert_eq!((tr.pa, tr.leaf_size, tr.level), (0x7ABC, 4096, Level::Pte));
}

#[test]
fn misaligned_next_level_base_is_masked_like_qemu() {
    let mut t = Tree::new(Geometry::RADIX_64K);
    t.map(0, 0x30_0000, Level::Pte, PteFlags::KERNEL_RW);
    let pmd_at = t.entry_pa(0, Level::Pmd);
    let pde = t.get(pmd_at);
    // Point 0x80 into the 256-byte PTE table: hardware ignores the low bits.
    t.set(pmd_at, pde | 0x80);
    assert_eq!(t.translate(0x10).unwrap().pa, 0x30_0010);
}

#[test]
fn walker_reads_big_endian_memory() {
    let mut t = Tree::new(Geometry::RADIX_64K);
    t.map(0, 0x30_0000, Level::Pte, PteFlags::KERNEL_RW);
    // Feeding native-endian words (the classic bug) does not translate.
    let r = radix::translate(&t.geom, t.root, 0, |pa| u64::from_be(t.mem.load_mem(pa)));
    assert!(r.is_err());
}

#[test]
fn access_checks() {
    let rw = Pte::leaf(0, radix::PageSize::Size64K, PteFlags::KERNEL_RW).unwrap();
    assert_eq!(check_access(rw, Access::Load, false), Ok(()));
    assert_eq!(check_access(rw, Access::Store, false), Ok(()));
    assert_eq!(check_access(rw, Access::Fetch, false), Err(AccessFault::Protection));
    assert_eq!(check_access(rw, Access::Load, true), Err(AccessFault::Protection));
    let no_c = rw.clear_flags(PteFlags::DIRTY);
    assert_eq!(check_access(no_c, Access::Load, false), Ok(()));
    assert_eq!(check_access(no_c, Access::Store, false), Err(AccessFault::RcNotSet));
    let no_r = rw.clear_flags(PteFlags::ACCESSED);
    assert_eq!(check_access(no_r, Access::Load, false), Err(AccessFault::RcNotSet));
    let wo = Pte::leaf(0, radix::PageSize::Size64K, PteFlags::WRITE | PteFlags::ACCESSED).unwrap();
    assert_eq!(check_access(wo, Access::Load, true), Ok(()));
    let io = Pte::leaf(0, radix::PageSize::Size64K, PteFlags::KERNEL_RWX)
        .unwrap()
        .with_att(radix::Att::NonIdempotentIo);
    assert_eq!(check_access(io, Access::Fetch, false), Err(AccessFault::Guarded));
    assert_eq!(check_access(io, Access::Load, false), Ok(()));
}

#[test]
fn process_table_to_translation() {
    // PATE -> process table -> PRTE for PID 3 -> tree, all through memory.
    let mut t = Tree::new(Geometry::RADIX_64K);
    t.map(0x1_0000, 0x77_0000, Level::Pte, PteFlags::USER_RW);
    let prtb = t.mem.alloc(4096);
    let prte = Prte::radix(&t.geom, t.root).unwrap();
    let off = prte_offset(3, 4096).unwrap();
    let [d0, d1] = prte.to_mem();
    t.mem.store_mem(prtb + off, d0);
    t.mem.store_mem(prtb + off + 8, d1);
    let pate = Pate::radix(&t.geom, t.root, prtb, 4096).unwrap();

    // What the MMU does with those values:
    let pate = Pate::from_mem(pate.to_mem());
    assert!(pate.is_radix());
    let prtb = pate.process_table_pa();
    let read = [t.mem.load_mem(prtb + 48), t.mem.load_mem(prtb + 56)];
    let prte = Prte::from_mem(read);
    assert_eq!(prte.tree_bits(), 52);
    assert_eq!(prte.rpds(), 13);
    let tr = radix::translate(&t.geom, prte.root_pa(), 0x1_0042, |pa| t.mem.load_mem(pa)).unwrap();
    assert_eq!(tr.pa, 0x77_0042);
    assert_eq!(LPCR_HR | LPCR_UPRT, 0x50_0000);
}
