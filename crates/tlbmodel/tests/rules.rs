//! The invalidation table: its rows agree with the radix crate's form check,
//! and the model removes exactly what each row says, for every page size,
//! on the right CPUs; a by-EA flush with another size's AP removes nothing.

mod common;

use common::W;
use radix::tlbie::Is;
use radix::{Geometry, Level, PageSize, TlbieError, TlbieOperands};
use tlbmodel::rules::{decode, rule, rule_index, Effect, Selector};
use tlbmodel::{Model, ModelError, PwcEntry, TlbEntry, RULES};

const SETS: u32 = 4;

/// (lpid, pid) run by CPUs 0 and 1, 2, 3.
const PROCS: [(u32, u32); 3] = [(0, 7), (0, 8), (1, 7)];
const CPU_PROC: [usize; 4] = [0, 0, 1, 2];

#[test]
fn rows_are_where_rule_index_says() {
    for (i, r) in RULES.iter().enumerate() {
        assert_eq!(rule_index(r.is, r.ric, r.prs, r.local), i, "{r:?}");
        assert_eq!(rule(r.is, r.ric, r.prs, r.local), r);
    }
    let invalid = RULES.iter().filter(|r| matches!(r.effect, Effect::Invalid(_))).count();
    let partition = RULES.iter().filter(|r| r.effect == Effect::PartitionScoped).count();
    assert_eq!((invalid, partition, 64 - invalid - partition), (30, 14, 20));
}

fn ops_for(is: u8, ric: u8, prs: u8, rb_ea: u64, ap: u64, set: u32) -> TlbieOperands {
    let mut rb = (is as u64) << 10 | (set as u64) << 12;
    if is == 0 {
        rb = rb_ea | ap << 5;
    }
    TlbieOperands { rb, rs: 7 << 32, ric, prs, r: 1 }
}

#[test]
fn invalid_rows_are_the_forms_the_radix_crate_rejects() {
    for r in RULES {
        let op = ops_for(r.is, r.ric, r.prs, 0x1_0000, 5, 0);
        let radix_ok = op.check(r.local).is_ok();
        let row_ok = !matches!(r.effect, Effect::Invalid(_));
        assert_eq!(radix_ok, row_ok, "{r:?}");
        let d = decode(0, &op, r.local, 0, SETS);
        assert_eq!(d.is_ok(), row_ok, "{r:?} {d:?}");
        if let Err(e) = d {
            assert_eq!(Effect::Invalid(e.why), r.effect);
        }
        if row_ok {
            assert_eq!(op.is() as u8, r.is);
        }
    }
}

#[test]
fn other_invalid_operands_are_errors() {
    let good = ops_for(0, 0, 1, 0x1_0000, 5, 0);
    let cases: [(TlbieOperands, bool, &str); 9] = [
        (TlbieOperands { r: 0, ..good }, false, "R=0"),
        (TlbieOperands { r: 2, ..good }, false, "R must"),
        (TlbieOperands { prs: 2, ..good }, false, "PRS must"),
        (TlbieOperands { ric: 4, ..good }, false, "RIC must"),
        (ops_for(0, 0, 1, 0x1_0000, 3, 0), false, "AP"),
        (ops_for(0, 0, 1, 0xC000_0000_0001_0000, 5, 0), false, "quadrant 0"),
        (ops_for(0, 0, 1, 1 << 52, 5, 0), false, "61:52"),
        (ops_for(1, 1, 1, 0, 0, 1), true, "needs set 0"),
        (ops_for(1, 0, 1, 0, 0, SETS), true, "beyond"),
    ];
    for (op, local, why) in cases {
        let mut m = Model::new(Geometry::RADIX_64K, 1, SETS);
        match m.invalidate(0, local, 0, &[op]) {
            Err(ModelError::UnknownOp { index: 0, why: w, .. }) => assert!(w.contains(why), "{w} / {why}"),
            other => panic!("{op:?}: {other:?}"),
        }
    }
    // The radix crate agrees on the tlbiel PWC set rule.
    assert_eq!(ops_for(1, 1, 1, 0, 0, 1).check(true), Err(TlbieError::InvalidForm));
    // Unsupported AP is fine where AP is not used (IS != 0), and partition
    // scope has no quadrant rule.
    let mut m = Model::new(Geometry::RADIX_64K, 1, SETS);
    assert!(m.invalidate(0, false, 0, &[ops_for(1, 0, 1, 0, 0, 0)]).is_ok());
    assert!(m.invalidate(0, false, 0, &[ops_for(0, 0, 0, 0xC000_0000_0001_0000, 5, 0)]).is_ok());
    assert!(m.invalidate(0, false, 0, &[ops_for(0, 0, 0, 0, 7, 0)]).is_err());
}

/// Three processes, each with one leaf of `size` at the same EA; CPUs 0,1
/// run (0,7), CPU 2 runs (0,8), CPU 3 runs (1,7). The leaf and the
/// directory entry pointing at its table are cleared, so every CPU holds
/// exactly one stale TLB entry and one stale PWC entry of its process.
struct Cell {
    w: W,
    ea: u64,
    size: PageSize,
    tlb: [TlbEntry; 3],
    pwc: [PwcEntry; 3],
}

fn level_of(geom: &Geometry, size: PageSize) -> Level {
    [Level::Pud, Level::Pmd, Level::Pte].into_iter().find(|&l| geom.leaf_page_size(l) == Some(size)).unwrap()
}

fn cell(geom: Geometry, size: PageSize) -> Cell {
    let mut w = W::with_sets(geom, 4, SETS);
    let leaf_level = level_of(&geom, size);
    let ea = geom.compose(radix::Quadrant::Q0, [0, 1, 3, 5], 0) & !(size.bytes() - 1);
    let mut tlb = Vec::new();
    let mut pwc = Vec::new();
    for (k, &(lpid, pid)) in PROCS.iter().enumerate() {
        let (_, pud, _) = w.process_in(lpid, pid);
        // Walk down to the leaf's table, creating tables; remember the level
        // of the directory entry that points at it.
        let (mut table, mut level, mut parent_level) = (pud, Level::Pud, Level::Pgd);
        while level != leaf_level {
            let next = level.next().unwrap();
            let t = w.alloc(next);
            w.link(table, geom.index(level, ea), t, next);
            (table, parent_level, level) = (t, level, next);
        }
        let pa = 0x40_0000_0000 + k as u64 * (1 << 30);
        w.map(table, geom.index(leaf_level, ea), pa, size);
        tlb.push(TlbEntry { lpid, pid, size, ea, pa });
        let dir_ea = ea & !((1u64 << geom.level_shift(parent_level)) - 1);
        pwc.push(PwcEntry { lpid, pid, level: parent_level, ea: dir_ea, next: table });
    }
    for (c, &p) in CPU_PROC.iter().enumerate() {
        let (lpid, pid) = PROCS[p];
        w.m.switch(c, lpid, Some(pid)).unwrap();
    }
    // Clear leaves, then the directory entries above them.
    for p in &pwc {
        w.clear(p.next, geom.index(leaf_level, ea));
    }
    for p in &pwc {
        let parent = find_parent(&w, p.next);
        w.clear(parent.0, parent.1);
    }
    let cell = Cell { w, ea, size, tlb: tlb.try_into().unwrap(), pwc: pwc.try_into().unwrap() };
    for c in 0..4 {
        assert_eq!(held(&cell, c), (true, true), "setup cpu {c}");
    }
    cell
}

fn find_parent(w: &W, child: u64) -> (u64, usize) {
    *w.mem
        .iter()
        .find(|(_, &v)| matches!(radix::EntryView::of(v), radix::EntryView::Table(d) if d.next_table_pa() == child))
        .unwrap()
        .0
}

/// Does CPU `c` still hold its process's stale (TLB, PWC) entry?
fn held(cell: &Cell, c: usize) -> (bool, bool) {
    let h = cell.w.m.may_hold(c);
    let p = CPU_PROC[c];
    (h.tlb.contains(&cell.tlb[p]), h.pwc.contains(&cell.pwc[p]))
}

fn sizes() -> Vec<(Geometry, PageSize)> {
    vec![
        (Geometry::RADIX_4K, PageSize::Size4K),
        (Geometry::RADIX_64K, PageSize::Size64K),
        (Geometry::RADIX_64K, PageSize::Size2M),
        (Geometry::RADIX_64K, PageSize::Size1G),
        (Geometry::RADIX_4K, PageSize::Size2M),
    ]
}

/// What the row says CPU `c` loses: (TLB entry, PWC entry).
fn expected(effect: Effect, local: bool, c: usize, full_sweep: bool) -> (bool, bool) {
    let Effect::Process { sel, tlb, pwc, tlb_by_set } = effect else { return (false, false) };
    let (lpid, pid) = PROCS[CPU_PROC[c]];
    let in_scope = !local || c == 0;
    let selected = match sel {
        Selector::Va | Selector::Pid => (lpid, pid) == (0, 7),
        Selector::Lpid => lpid == 0,
        Selector::All => true,
    };
    let tlb_gone = tlb && in_scope && selected && (!tlb_by_set || full_sweep);
    let pwc_gone = pwc && in_scope && selected;
    (tlb_gone, pwc_gone)
}

#[test]
fn every_cell_removes_what_the_table_says_for_every_page_size() {
    let mut checked = 0;
    for (geom, size) in sizes() {
        for r in RULES {
            // tlbiel IS != 0: the whole sweep as Linux issues it, and set 0 alone.
            let sweeps: &[bool] = if r.local && r.is != 0 && r.ric != 1 { &[true, false] } else { &[true] };
            for &full in sweeps {
                let mut cell = cell(geom, size);
                let ea = cell.ea;
                let ap = cell.size.ap();
                let ops: Vec<TlbieOperands> = if r.local && r.is != 0 && r.ric != 1 && full {
                    (0..SETS)
                        .map(|s| ops_for(r.is, if s == 0 { r.ric } else { 0 }, r.prs, ea, ap, s))
                        .collect()
                } else {
                    vec![ops_for(r.is, r.ric, r.prs, ea, ap, 0)]
                };
                let res = cell.w.m.invalidate(0, r.local, 0, &ops);
                assert_eq!(res.is_err(), matches!(r.effect, Effect::Invalid(_)), "{r:?}");
                for c in 0..4 {
                    let (tlb_gone, pwc_gone) = expected(r.effect, r.local, c, full);
                    assert_eq!(held(&cell, c), (!tlb_gone, !pwc_gone), "{size:?} {r:?} full={full} cpu {c}");
                }
                if let Ok(s) = res {
                    let partial = r.local && r.is != 0 && r.ric != 1 && !full && r.prs == 1;
                    assert_eq!(s.partial_sweeps, partial as u32, "{r:?}");
                }
                checked += 1;
            }
        }
    }
    // 18 tlbiel IS != 0 rows with a TLB part (or RIC=3) also run set 0 alone.
    assert_eq!(checked, 5 * (64 + 18));
}

#[test]
fn wrong_ap_removes_nothing_of_the_real_size() {
    for (geom, size) in sizes() {
        for other in PageSize::ALL {
            let mut cell = cell(geom, size);
            let op = radix::tlbie::tlbie_va(cell.ea, 7, 0, other).unwrap();
            cell.w.m.invalidate(0, false, 0, &[op]).unwrap();
            let gone = other == size;
            assert_eq!(held(&cell, 0).0, !gone, "{size:?} flushed as {other:?}");
            assert_eq!(held(&cell, 1).0, !gone);
            // Other processes untouched either way.
            assert!(held(&cell, 2).0 && held(&cell, 3).0);
        }
    }
}

#[test]
fn by_ea_matches_any_address_inside_the_page_only() {
    for (geom, size) in sizes() {
        let cases =
            [(0, true), (size.bytes() / 2, true), (size.bytes() - 0x1000, true), (size.bytes(), false)];
        for (off, gone) in cases.into_iter().filter(|&(o, _)| o % 0x1000 == 0) {
            let mut cell = cell(geom, size);
            let op =
                TlbieOperands { rb: (cell.ea + off) | size.ap() << 5, rs: 7 << 32, ric: 0, prs: 1, r: 1 };
            assert_eq!(op.is(), Is::Va);
            cell.w.m.invalidate(1, false, 0, &[op]).unwrap();
            assert_eq!(held(&cell, 0).0, !gone, "{size:?} +{off:#x}");
        }
    }
}

#[test]
fn tlbiel_takes_the_lpid_from_lpidr_and_tlbie_from_rs() {
    let mut cell = cell(Geometry::RADIX_64K, PageSize::Size2M);
    // tlbiel on CPU 3 (runs lpid 1): RS says LPID 0, LPIDR says 1.
    let op = TlbieOperands { rb: cell.ea | 1 << 5, rs: 7 << 32, ric: 0, prs: 1, r: 1 };
    cell.w.m.invalidate(3, true, 1, &[op]).unwrap();
    assert!(!held(&cell, 3).0);
    // tlbie with RS LPID 1 removes CPU 3's entry only.
    let mut cell2 = self::cell(Geometry::RADIX_64K, PageSize::Size2M);
    let op = TlbieOperands { rb: cell2.ea | 1 << 5, rs: 7 << 32 | 1, ric: 0, prs: 1, r: 1 };
    cell2.w.m.invalidate(0, false, 0, &[op]).unwrap();
    assert_eq!([held(&cell2, 0).0, held(&cell2, 2).0, held(&cell2, 3).0], [true, true, false]);
}

#[test]
fn tlbiel_ric2_at_another_set_clears_only_a_tlb_set() {
    // Conservative reading: the PWC part of a tlbiel is taken from set 0.
    let mut cell = cell(Geometry::RADIX_64K, PageSize::Size64K);
    let ops: Vec<_> = (1..SETS).map(|s| ops_for(1, 2, 1, 0, 0, s)).collect();
    let s = cell.w.m.invalidate(0, true, 0, &ops).unwrap();
    assert_eq!((s.pwc_removed, s.partial_sweeps), (0, 1));
    assert_eq!(held(&cell, 0), (true, true));
    let s = cell.w.m.invalidate(0, true, 0, &[ops_for(1, 2, 1, 0, 0, 0), ops_for(1, 2, 1, 0, 0, 1)]).unwrap();
    assert_eq!((s.pwc_removed, s.partial_sweeps), (1, 1));
    assert_eq!(held(&cell, 0), (true, false));
}
