//! The kernel's THP life cycle and its known flush bugs, each with the exact
//! verdict the model must give.

mod common;

use common::*;
use radix::tlbie::{tlbie_all, tlbie_lpid, tlbie_pid, tlbiel_set};
use radix::{Level, PageSize, Ric, Scope, TlbieOperands};
use tlbmodel::{Cached, FreeError, Holding, Leftovers, PwcEntry, TlbEntry};

fn tlb64k(i: u64) -> Cached {
    Cached::Tlb(TlbEntry {
        lpid: LPID,
        pid: PID,
        size: PageSize::Size64K,
        ea: SLOT_EA + i * 0x1_0000,
        pa: FOLIO + i * 0x1_0000,
    })
}

fn slot_pwc(t: &Thp) -> Cached {
    Cached::Pwc {
        entry: PwcEntry { lpid: LPID, pid: PID, level: Level::Pmd, ea: SLOT_EA, next: t.pte },
        span: 0x20_0000,
    }
}

/// Every (cpu, 64K entry i) as stale.
fn stale_64k(cpus: &[usize]) -> std::collections::BTreeSet<(Option<usize>, Cached, Holding)> {
    cpus.iter().flat_map(|&c| (0..32).map(move |i| (Some(c), tlb64k(i), Holding::Stale))).collect()
}

fn leftovers(r: Result<(), FreeError>) -> Leftovers {
    match r {
        Err(FreeError::Leftovers(l)) => l,
        other => panic!("expected leftovers, got {other:?}"),
    }
}

// --- zap of a split 2 MB slot ------------------------------------------------

#[test]
fn zap_with_one_2m_flush_leaves_the_64k_entries() {
    let mut t = Thp::new(4, &[1, 2]);
    t.clear_leaves();
    t.w.tlbie(&[va(SLOT_EA, PageSize::Size2M)]);
    let l = t.free_folio().unwrap_err();
    assert_eq!(l.total, 64);
    assert_eq!(items(&l), stale_64k(&[1, 2]));
    let line = l.shown[0].to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("AP=64K EA=0x200000 PID=7"), "{line}");
    assert!(
        line.contains(
            "last flush for pid 7: #1 on cpu 0 op 1/1: tlbie R=1 RIC=0 PRS=1 IS=0 AP=2M EA=0x200000"
        ),
        "{line}"
    );
    // Reported once: the stale entries were purged.
    assert_eq!(t.free_folio(), Ok(()));
}

#[test]
fn zap_with_32_64k_flushes_is_clean() {
    let mut t = Thp::new(4, &[1, 2]);
    t.clear_leaves();
    t.flush_64k();
    assert_eq!(t.free_folio(), Ok(()));
}

#[test]
fn zap_with_one_pid_flush_is_clean() {
    for ric in [Ric::Tlb, Ric::All] {
        let mut t = Thp::new(4, &[1, 2]);
        t.clear_leaves();
        t.w.tlbie(&[pid_op(ric)]);
        assert_eq!(t.free_folio(), Ok(()), "{ric:?}");
    }
}

#[test]
fn zap_with_a_pwc_only_flush_leaves_the_tlb() {
    let mut t = Thp::new(4, &[1, 2]);
    t.clear_leaves();
    t.w.tlbie(&[pid_op(Ric::Pwc)]);
    assert_eq!(items(&t.free_folio().unwrap_err()), stale_64k(&[1, 2]));
}

#[test]
fn freeing_a_mapped_folio_reports_the_mapping() {
    let mut t = Thp::new(2, &[1]);
    let l = t.w.m.check_free_page(FOLIO + 0x3_0000, 0x1_0000).unwrap_err();
    let want = [(None, tlb64k(3), Holding::Mapped), (Some(1), tlb64k(3), Holding::Live)];
    assert_eq!(items(&l), want.into_iter().collect());
    assert_eq!(l.shown[0].at, Some((t.pte, 3)));
    assert!(l.to_string().contains("unmap first: clear the leaf at table"), "{l}");
    // Still mapped: reported again.
    assert!(t.w.m.check_free_page(FOLIO + 0x3_0000, 0x1_0000).is_err());
}

// --- unlinking a page-table page ----------------------------------------------

#[test]
fn unlink_and_free_without_pwc_flush_leaves_the_walk_cache() {
    let mut t = Thp::new(4, &[1, 2]);
    t.clear_leaves();
    t.flush_64k();
    t.unlink();
    let l = leftovers(t.w.m.table_free(t.pte, 256));
    let want = [(Some(1), slot_pwc(&t), Holding::Stale), (Some(2), slot_pwc(&t), Holding::Stale)];
    assert_eq!(items(&l), want.into_iter().collect());
    assert!(l.to_string().contains("RIC=1|2 PRS=1 IS=1 PID=7"), "{l}");
}

#[test]
fn unlink_with_pwc_flush_then_free_is_clean() {
    for ric in [Ric::Pwc, Ric::All] {
        let mut t = Thp::new(4, &[1, 2]);
        t.clear_leaves();
        t.flush_64k();
        t.unlink();
        let s = t.w.tlbie(&[pid_op(ric)]);
        assert_eq!(s.pwc_removed, 2);
        assert_eq!(t.w.m.table_free(t.pte, 256), Ok(()));
    }
}

#[test]
fn unlink_with_only_a_by_va_flush_leaves_the_walk_cache() {
    let mut t = Thp::new(4, &[1, 2]);
    t.clear_leaves();
    t.unlink();
    t.flush_64k();
    t.w.tlbie(&[va(SLOT_EA, PageSize::Size2M)]);
    let l = leftovers(t.w.m.table_free(t.pte, 256));
    assert_eq!(l.total, 2);
    assert!(l.shown.iter().all(|x| x.holding == Holding::Stale && x.what == slot_pwc(&t)));
}

#[test]
fn free_a_table_before_its_flush_then_flush_too_late() {
    let mut t = Thp::new(2, &[1]);
    t.clear_leaves();
    t.flush_64k();
    t.unlink();
    assert!(t.w.m.table_free(t.pte, 256).is_err());
    // The flush after the free finds nothing left to remove (the free
    // purged the stale entry after reporting it).
    let s = t.w.tlbie(&[pid_op(Ric::Pwc)]);
    assert_eq!(s.pwc_removed, 0);
}

#[test]
fn freeing_a_linked_table_reports_the_link() {
    let mut t = Thp::new(3, &[1]);
    let l = leftovers(t.w.m.table_free(t.pte, 256));
    let want = [(None, slot_pwc(&t), Holding::Mapped), (Some(1), slot_pwc(&t), Holding::Live)];
    assert_eq!(items(&l), want.into_iter().collect());
    assert!(l.shown.iter().all(|x| x.at == Some((t.pmd, SLOT))));
    assert!(l.to_string().contains("unlink first"), "{l}");
}

// --- collapse ------------------------------------------------------------------

/// Collapse: the PMD entry pointing at a PTE table whose 32 leaves are still
/// valid is cleared (then set to the new huge leaf).
fn collapse() -> Thp {
    let mut t = Thp::new(4, &[1, 2]);
    t.unlink();
    t.w.map(t.pmd, SLOT, FOLIO + 0x20_0000, PageSize::Size2M);
    t
}

#[test]
fn collapse_pwc_flush_first_then_tlb_flushes_is_clean() {
    let mut t = collapse();
    let s = t.w.tlbie(&[pid_op(Ric::Pwc)]);
    assert_eq!((s.pwc_removed, s.materialized), (2, 64));
    t.flush_64k();
    assert_eq!(t.free_folio(), Ok(()));
    assert_eq!(t.w.m.table_free(t.pte, 256), Ok(()));
}

#[test]
fn collapse_tlb_flushes_first_then_pwc_flush_leaves_entries() {
    let mut t = collapse();
    t.flush_64k();
    t.w.tlbie(&[pid_op(Ric::Pwc)]);
    let l = t.free_folio().unwrap_err();
    assert_eq!(items(&l), stale_64k(&[1, 2]));
}

#[test]
fn collapse_tlb_flushes_first_then_pwc_flush_in_one_sequence_leaves_entries() {
    let mut t = collapse();
    let mut ops: Vec<_> = (0..32).map(|i| va(SLOT_EA + i * 0x1_0000, PageSize::Size64K)).collect();
    ops.push(pid_op(Ric::Pwc));
    t.w.tlbie(&ops);
    assert_eq!(items(&t.free_folio().unwrap_err()), stale_64k(&[1, 2]));
}

#[test]
fn collapse_one_ric2_flush_is_clean() {
    let mut t = collapse();
    let s = t.w.tlbie(&[pid_op(Ric::All)]);
    assert_eq!((s.pwc_removed, s.materialized, s.tlb_removed), (2, 64, 64));
    assert_eq!(t.free_folio(), Ok(()));
    assert_eq!(t.w.m.table_free(t.pte, 256), Ok(()));
}

#[test]
fn collapse_without_any_flush_can_rewalk_the_old_table() {
    let mut t = collapse();
    let l = t.free_folio().unwrap_err();
    assert_eq!(l.total, 64);
    assert!(l.shown.iter().all(|x| x.holding == Holding::ViaWalkCache && x.at.is_some()));
    assert!(l.to_string().contains("RIC=2 PRS=1 IS=1 PID=7"), "{l}");
}

// --- PIDs and CPUs -------------------------------------------------------------

#[test]
fn wrong_pid_in_the_flush_leaves_entries() {
    let mut t = Thp::new(2, &[1]);
    t.clear_leaves();
    let ops: Vec<_> = (0..32).map(|i| va_pid(SLOT_EA + i * 0x1_0000, PID + 1, PageSize::Size64K)).collect();
    t.w.tlbie(&ops);
    t.w.tlbie(&[tlbie_pid(PID + 1, LPID, Ric::All)]);
    assert_eq!(items(&t.free_folio().unwrap_err()), stale_64k(&[1]));
}

#[test]
fn a_cpu_that_switched_away_keeps_stale_entries_until_flushed() {
    let mut t = Thp::new(2, &[1]);
    t.w.run(1, None);
    t.clear_leaves();
    // CPU 1 no longer runs PID 7 but still holds the translations.
    assert_eq!(items(&t.free_folio().unwrap_err()), stale_64k(&[1]));
    let mut t = Thp::new(2, &[1]);
    t.w.run(1, Some(PID + 1));
    t.clear_leaves();
    t.flush_64k();
    assert_eq!(t.free_folio(), Ok(()));
}

#[test]
fn a_cpu_that_switched_away_does_not_cache_new_entries() {
    let mut t = Thp::new(2, &[1]);
    t.w.run(1, None);
    // A new mapping while CPU 1 runs the kernel only; cleared again, flushed
    // on CPU 0 only. CPU 1 could not have cached it.
    t.w.map(t.pmd, 2, FOLIO + 0x40_0000, PageSize::Size2M);
    t.w.clear(t.pmd, 2);
    t.w.tlbiel(0, &[va(0x40_0000, PageSize::Size2M)]);
    assert_eq!(t.w.m.check_free_page(FOLIO + 0x40_0000, 0x20_0000), Ok(()));
}

#[test]
fn a_cpu_that_never_ran_the_pid_holds_nothing() {
    let mut t = Thp::new(4, &[1]);
    t.clear_leaves();
    let l = t.free_folio().unwrap_err();
    assert!(l.shown.iter().all(|x| x.cpu == Some(1)));
    for c in [0, 2, 3] {
        assert_eq!(t.w.m.may_hold(c), Default::default());
    }
    t.w.run(3, Some(PID + 1));
    assert_eq!(t.w.m.may_hold(3), Default::default());
}

#[test]
fn tlbiel_on_cpu_0_does_not_clear_cpu_1() {
    let mut t = Thp::new(2, &[0, 1]);
    t.clear_leaves();
    let ops: Vec<_> = (0..32).map(|i| va(SLOT_EA + i * 0x1_0000, PageSize::Size64K)).collect();
    t.w.tlbiel(0, &ops);
    t.w.tlbiel(0, &local_pid(Ric::All, 128));
    assert_eq!(items(&t.free_folio().unwrap_err()), stale_64k(&[1]));
}

#[test]
fn a_full_tlbiel_sweep_clears_the_issuer() {
    let mut t = Thp::new(2, &[1]);
    t.clear_leaves();
    t.flush_64k();
    t.unlink();
    let s = t.w.tlbiel(1, &local_pid(Ric::All, 128));
    assert_eq!((s.ops, s.sweeps, s.partial_sweeps, s.pwc_removed), (128, 1, 0, 1));
    assert_eq!(t.w.m.table_free(t.pte, 256), Ok(()));
    // A PWC-only local flush is one instruction (set 0).
    let mut t = Thp::new(2, &[1]);
    t.unlink();
    t.w.tlbiel(1, &local_pid(Ric::Pwc, 128));
    t.clear_leaves();
    let s = t.w.tlbiel(1, &local_pid(Ric::Tlb, 128));
    assert_eq!(s.sweeps, 1);
    assert_eq!(t.free_folio(), Ok(()));
}

#[test]
fn a_partial_tlbiel_sweep_clears_nothing() {
    let mut t = Thp::new(2, &[1]);
    t.clear_leaves();
    let mut ops = local_pid(Ric::Tlb, 128);
    ops.remove(77);
    let s = t.w.tlbiel(1, &ops);
    assert_eq!((s.sweeps, s.partial_sweeps, s.tlb_removed), (0, 1, 0));
    assert_eq!(items(&t.free_folio().unwrap_err()), stale_64k(&[1]));
    assert_eq!(t.w.m.stats().partial_sweeps, 1);
    // The same 127 sets in two sequences do not add up either.
    let mut t = Thp::new(2, &[1]);
    t.clear_leaves();
    let ops = local_pid(Ric::Tlb, 128);
    t.w.tlbiel(1, &ops[..64]);
    t.w.tlbiel(1, &ops[64..]);
    assert!(t.free_folio().is_err());
}

#[test]
fn a_full_local_sweep_of_both_scopes_clears_the_issuer() {
    // Linux tlbiel_all_isa300: IS=3, both scopes, set 0 RIC=2, others RIC=0.
    let mut t = Thp::new(2, &[1]);
    t.clear_leaves();
    t.unlink();
    let mut ops = Vec::new();
    for scope in [Scope::Partition, Scope::Process] {
        for set in 0..128 {
            let ric = if set == 0 { Ric::All } else { Ric::Tlb };
            ops.push(tlbiel_set(true, set, scope, ric).unwrap());
        }
    }
    let s = t.w.tlbiel(1, &ops);
    assert_eq!((s.partition_scoped, s.sweeps, s.pwc_removed, s.tlb_removed), (128, 1, 1, 32));
    assert_eq!(t.free_folio(), Ok(()));
    assert_eq!(t.w.m.table_free(t.pte, 256), Ok(()));
}

#[test]
fn partition_scoped_flushes_remove_nothing() {
    let mut t = Thp::new(2, &[1]);
    t.clear_leaves();
    t.unlink();
    let s = t.w.tlbie(&[tlbie_lpid(LPID, Ric::All), tlbie_all(Scope::Partition, Ric::All)]);
    assert_eq!(s.partition_scoped, 2);
    assert!(t.free_folio().is_err());
    assert!(t.w.m.table_free(t.pte, 256).is_err());
}

#[test]
fn the_p9_errata_fixup_ops_are_accepted() {
    // tlb.rs errata_fixup: a PID 0 flush and a by-EA flush at the top of the
    // 52-bit space.
    let mut t = Thp::new(2, &[1]);
    let ops = [tlbie_pid(0, 0, Ric::Tlb), va((1 << 52) - (1 << 16), PageSize::Size64K)];
    assert_eq!(t.w.tlbie(&ops).ops, 2);
}

// --- roots -------------------------------------------------------------------------

#[test]
fn a_root_change_keeps_what_running_cpus_reached() {
    let mut t = Thp::new(2, &[1]);
    t.w.m.set_root(LPID, PID, None).unwrap();
    // CPU 1 still runs PID 7 and holds the PGD entry: it still reaches the
    // folio through it.
    let l = t.free_folio().unwrap_err();
    assert!(l.shown.iter().all(|x| x.cpu == Some(1) && x.holding == Holding::ViaWalkCache), "{l}");
    t.w.tlbie(&[pid_op(Ric::All)]);
    // The tree itself is still intact (only the root is gone): nothing maps it.
    assert_eq!(t.free_folio(), Ok(()));
}

#[test]
fn freeing_a_root_reports_it() {
    let mut t = Thp::new(2, &[1]);
    let l = leftovers(t.w.m.table_free(t.pgd, 64 * 1024));
    let root = Cached::Root { lpid: LPID, pid: PID, table: t.pgd };
    let want = [(None, root, Holding::Mapped), (Some(1), root, Holding::Live)];
    assert_eq!(items(&l), want.into_iter().collect());
    assert!(l.to_string().contains("process-table root"), "{l}");
}

#[test]
fn tearing_down_a_process_in_order_is_clean() {
    let mut t = Thp::new(3, &[1, 2]);
    t.clear_leaves();
    t.unlink();
    t.w.clear(t.pud, 0);
    t.w.clear(t.pgd, 0);
    t.w.m.set_root(LPID, PID, None).unwrap();
    t.w.run(1, None);
    t.w.run(2, None);
    t.w.tlbie(&[pid_op(Ric::All)]);
    assert_eq!(t.free_folio(), Ok(()));
    for (pa, bytes) in [(t.pte, 256), (t.pmd, 4096), (t.pud, 4096), (t.pgd, 65536)] {
        assert_eq!(t.w.m.table_free(pa, bytes), Ok(()));
    }
    let s = t.w.m.stats();
    assert_eq!((s.stale_tlb, s.stale_pwc, s.live_tables, s.valid_leaves), (0, 0, 0, 0));
}

// --- messages and errors -------------------------------------------------------------

#[test]
fn leftovers_show_the_limit_and_the_total() {
    let mut t = Thp::new(4, &[1, 2, 3]);
    t.w.m = std::mem::replace(&mut t.w.m, tlbmodel::Model::new(G, 1, 1)).with_report_limit(8);
    t.clear_leaves();
    let l = t.free_folio().unwrap_err();
    assert_eq!((l.shown.len(), l.total), (8, 96));
    let text = l.to_string();
    assert!(text.starts_with("tlbmodel: free of page [0x40000000, +0x200000) while 96 item(s)"), "{text}");
    assert_eq!(text.lines().count(), 9);
    assert!(text.lines().skip(1).all(|x| x.starts_with("  tlbmodel leftover: cpu ")), "{text}");
}

#[test]
fn last_flush_names_the_sequence() {
    let mut t = Thp::new(2, &[1]);
    t.w.tlbiel(1, &local_pid(Ric::Tlb, 4).into_iter().take(2).collect::<Vec<_>>());
    let r = t.w.m.last_flush(LPID, PID).unwrap();
    assert_eq!(r.to_string(), "#1 on cpu 1 op 2/2: tlbiel R=1 RIC=0 PRS=1 IS=1 set=1 PID=7 LPID=0");
    t.w.tlbie(&[tlbie_all(Scope::Process, Ric::Tlb)]);
    assert_eq!(t.w.m.last_flush(LPID, PID).unwrap().seq, 2);
    assert_eq!(t.w.m.last_flush(LPID, 99).unwrap().seq, 2);
}

#[test]
fn errors_name_the_problem() {
    use tlbmodel::ModelError::*;
    let mut t = Thp::new(2, &[1]);
    let m = &mut t.w.m;
    let e = m.store(t.pte, 0, 0, 0).unwrap_err();
    assert!(matches!(e, OutOfSync { index: 0, kernel: 0, .. }), "{e}");
    assert!(e.to_string().starts_with("tlbmodel error: out of sync: table"), "{e}");
    assert!(matches!(m.store(0x999_0000, 0, 0, 1), Err(UnknownTable { pa: 0x999_0000 })));
    assert!(matches!(m.store(t.pte, 32, 0, 1), Err(BadIndex { index: 32, entries: 32, .. })));
    assert!(matches!(m.table_alloc(t.pte, 256), Err(DoubleAlloc { .. })));
    assert!(matches!(m.table_alloc(t.pmd + 256, 256), Err(DoubleAlloc { .. })));
    assert!(matches!(m.table_alloc(0x7000_0080, 256), Err(BadTable { .. })));
    assert!(matches!(m.table_alloc(0x7000_0000, 512), Err(BadTable { .. })));
    assert!(matches!(m.switch(2, 0, Some(1)), Err(BadCpu { cpu: 2, ncpus: 2 })));
    assert!(matches!(m.invalidate(5, false, 0, &[]), Err(BadCpu { cpu: 5, .. })));
    assert!(matches!(m.table_free(0x999_0000, 256), Err(FreeError::Model(UnknownTable { .. }))));
    assert!(matches!(m.table_free(t.pte, 4096), Err(FreeError::Model(BadTable { .. }))));
    let bad = TlbieOperands { rb: 0, rs: 0, ric: 2, prs: 1, r: 1 };
    let e = m.invalidate(0, false, 0, &[va(0, PageSize::Size64K), bad]).unwrap_err();
    assert!(matches!(e, UnknownOp { index: 1, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "tlbmodel error: unknown op 2 of the sequence (tlbie R=1 RIC=2 PRS=1 IS=0 AP=4K EA=0x0 PID=0 LPID=0, \
         rb=0x0 rs=0x0): RIC=1|2 (page-walk cache) is invalid with IS=0"
    );
    // The whole sequence was rejected: nothing recorded.
    assert_eq!(m.last_flush(LPID, PID), None);
}

#[test]
fn bad_entries_and_roots_are_errors() {
    use tlbmodel::ModelError::*;
    let mut w = W::new(G, 2);
    let (pgd, _pud, pmd) = w.process(PID);
    let pte = w.alloc(Level::Pte);
    let pte2 = w.alloc(Level::Pte);
    let lone = w.alloc(Level::Pmd);
    let other_pgd = w.alloc(Level::Pgd);
    let bad = |m: &mut tlbmodel::Model, t: u64, i: usize, v: u64| match m.store(t, i, 0, v) {
        Err(BadEntry { why, .. }) => why,
        other => panic!("{other:?}"),
    };
    let pde = |t: u64, nls: u32| radix::Pde::table(t, nls).unwrap().raw();
    let leaf = radix::Pte::leaf(FOLIO, PageSize::Size64K, radix::PteFlags::USER_RW).unwrap().raw();
    assert!(bad(&mut w.m, pmd, 3, pde(0x777_0000, 5)).contains("no live table"));
    assert!(bad(&mut w.m, pmd, 3, pde(pte, 9)).contains("NLS"));
    assert!(bad(&mut w.m, pmd, 3, pde(lone, 9)).contains("size does not fit"));
    assert!(bad(&mut w.m, lone, 0, pde(pte, 5)).contains("never linked"));
    assert!(bad(&mut w.m, pgd, 5, leaf).contains("PGD"));
    w.link(pmd, 3, pte, Level::Pte);
    assert!(bad(&mut w.m, pmd, 4, pde(pte, 5)).contains("already linked"));
    assert!(bad(&mut w.m, pte, 0, pde(pte2, 5)).contains("PTE-level"));
    assert!(matches!(w.m.set_root(0, 9, Some(pgd)), Err(BadRoot { .. })));
    assert!(matches!(w.m.set_root(0, 9, Some(lone)), Err(BadRoot { .. })));
    assert!(matches!(w.m.set_root(0, 9, Some(0x123_0000)), Err(UnknownTable { .. })));
    assert_eq!(w.m.set_root(0, 9, Some(other_pgd)), Ok(()));
    assert_eq!(w.m.stats().errors, 10);
}

#[test]
fn relinking_a_withdrawn_table_elsewhere_is_followed() {
    // A PTE table unlinked from one slot and linked again at another (THP
    // deposit/withdraw): a CPU that kept the old PMD entry cached reaches its
    // leaves at the old EA, the tree at the new one.
    let mut t = Thp::new(2, &[1]);
    t.unlink();
    t.w.link(t.pmd, 5, t.pte, Level::Pte);
    let l = t.w.m.check_free_page(FOLIO, 0x1_0000).unwrap_err();
    let old = Cached::Tlb(TlbEntry { lpid: LPID, pid: PID, size: PageSize::Size64K, ea: SLOT_EA, pa: FOLIO });
    let new =
        Cached::Tlb(TlbEntry { lpid: LPID, pid: PID, size: PageSize::Size64K, ea: 0xA0_0000, pa: FOLIO });
    let want =
        [(None, new, Holding::Mapped), (Some(1), new, Holding::Live), (Some(1), old, Holding::ViaWalkCache)];
    assert_eq!(items(&l), want.into_iter().collect());
    assert!(t.w.m.table_free(t.pte, 256).is_err());
}

#[test]
fn stats_count_events_and_stale_entries() {
    let mut t = Thp::new(4, &[1, 2]);
    t.clear_leaves();
    let s = t.w.m.stats();
    assert_eq!((s.stale_tlb, s.max_stale_tlb, s.stale_pwc), (64, 64, 0));
    t.w.tlbie(&[pid_op(Ric::All)]);
    let s = t.w.m.stats();
    assert_eq!((s.stale_tlb, s.max_stale_tlb, s.invalidates, s.ops), (0, 64, 1, 1));
    assert_eq!(s.live_tables, 4);
    assert!(s.to_string().starts_with("tlbmodel stats: allocs=4 stores="), "{s}");
}
