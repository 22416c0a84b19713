//! The free checks against the brute-force reference with leaves spread
//! over many real-address buckets of the model's leaf index (tests/prop.rs
//! keeps its leaves close together): leaves of every size at addresses far
//! apart, cleared, replaced, unlinked and relinked tables, checks of ranges
//! from one page to hundreds of GB.

mod common;

use std::collections::BTreeSet;

use common::reference::{Item, Reference};
use proptest::prelude::*;
use radix::tlbie::tlbie_pid;
use radix::{EntryView, Geometry, Level, PageSize, Pde, Pte, PteFlags, Ric};
use tlbmodel::Model;

const G: Geometry = Geometry::RADIX_64K;
const PID: u32 = 1;
const PGD: u64 = 0x100_0000;
const PUD: u64 = 0x102_0000;
const PMD: u64 = 0x102_1000;
const PTE: [u64; 2] = [0x102_2000, 0x102_2100];

/// Leaf addresses: 64K pages 16 MB apart (32 MB buckets), 2M pages 512 MB
/// apart (1 GB buckets), 1G pages 256 GB apart (512 GB buckets).
fn leaf_pa(size: PageSize, k: u64) -> u64 {
    match size {
        PageSize::Size1G => k * 0x40_0000_0000,
        PageSize::Size2M => k * 0x2000_0000,
        _ => k * 0x100_0000,
    }
}

#[derive(Clone, Debug)]
enum Ev {
    /// A leaf (or 0, or an invalidated leaf) at a slot of one of the tables.
    Store {
        t: usize,
        idx: usize,
        k: Option<u64>,
        invalidated: bool,
    },
    /// Unlink or relink PTE table `t` (at PMD index `t`).
    Link {
        t: usize,
        on: bool,
    },
    Switch {
        on: bool,
    },
    Flush,
    Check {
        pa: u64,
        bytes: u64,
    },
}

fn event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        10 => (0..4usize, 0..6usize, prop::option::weighted(0.8, 0..40u64), prop::bool::weighted(0.1))
            .prop_map(|(t, idx, k, invalidated)| Ev::Store { t, idx, k, invalidated }),
        2 => (0..2usize, any::<bool>()).prop_map(|(t, on)| Ev::Link { t, on }),
        1 => any::<bool>().prop_map(|on| Ev::Switch { on }),
        1 => Just(Ev::Flush),
        6 => (0..40u64, 0..3usize, 0..5usize).prop_map(|(k, s, b)| {
            let size = [PageSize::Size64K, PageSize::Size2M, PageSize::Size1G][s];
            let bytes = [0x1_0000, 0x20_0000, 0x4000_0000, 0x8000_0000, 0x96_0000_0000][b];
            Ev::Check { pa: leaf_pa(size, k), bytes }
        }),
    ]
}

struct Pair {
    m: Model,
    r: Reference,
}

impl Pair {
    fn new() -> Pair {
        let m = Model::new(G, 2, 4).with_report_limit(usize::MAX).with_stale_buffer(3);
        let mut p = Pair { m, r: Reference::new(G, 2, 4) };
        for (pa, level) in [
            (PGD, Level::Pgd),
            (PUD, Level::Pud),
            (PMD, Level::Pmd),
            (PTE[0], Level::Pte),
            (PTE[1], Level::Pte),
        ] {
            p.m.table_alloc(pa, G.table_bytes(level)).unwrap();
            p.r.table_alloc(pa, G.table_bytes(level)).unwrap();
        }
        p.m.set_root(0, PID, Some(PGD)).unwrap();
        p.r.set_root(0, PID, Some(PGD)).unwrap();
        p.write(PGD, 0, Pde::table(PUD, 9).unwrap().raw());
        p.write(PUD, 0, Pde::table(PMD, 9).unwrap().raw());
        p.apply(&Ev::Link { t: 0, on: true });
        p.apply(&Ev::Link { t: 1, on: true });
        p.apply(&Ev::Switch { on: true });
        p
    }

    fn write(&mut self, t: u64, idx: usize, new: u64) {
        let old = self.r.entry(t, idx as u32);
        let a = self.m.store(t, idx, old, new).map_err(|e| common::reference::kind(&e));
        assert_eq!(a, self.r.store(t, idx, old, new));
    }

    fn apply(&mut self, ev: &Ev) {
        match *ev {
            Ev::Store { t, idx, k, invalidated } => {
                // Table 0: the PUD (1G leaves at 1..), 1: the PMD (2M at
                // 2..), 2 and 3: the PTE tables (64K).
                let (table, size, idx) = match t {
                    0 => (PUD, PageSize::Size1G, 1 + idx),
                    1 => (PMD, PageSize::Size2M, 2 + idx),
                    _ => (PTE[t - 2], PageSize::Size64K, idx),
                };
                let v = match k {
                    None => 0,
                    Some(k) => {
                        let leaf = Pte::leaf(leaf_pa(size, k), size, PteFlags::USER_RW).unwrap();
                        if invalidated {
                            leaf.invalidate().raw()
                        } else {
                            leaf.raw()
                        }
                    }
                };
                self.write(table, idx, v);
            }
            Ev::Link { t, on } => {
                let v = if on { Pde::table(PTE[t], 5).unwrap().raw() } else { 0 };
                self.write(PMD, t, v);
            }
            Ev::Switch { on } => {
                let pid = on.then_some(PID);
                assert_eq!(
                    self.m.switch(1, 0, pid).map_err(|e| common::reference::kind(&e)),
                    self.r.switch(1, 0, pid)
                );
            }
            Ev::Flush => {
                let ops = [tlbie_pid(PID, 0, Ric::All)];
                assert_eq!(
                    self.m.invalidate(0, false, 0, &ops).map(|_| ()).map_err(|e| common::reference::kind(&e)),
                    self.r.invalidate(0, false, 0, &ops)
                );
            }
            Ev::Check { pa, bytes } => {
                let a: BTreeSet<Item> = match self.m.check_free_page(pa, bytes) {
                    Ok(()) => BTreeSet::new(),
                    Err(l) => l.shown.iter().map(|x| (x.cpu, x.what, x.holding)).collect(),
                };
                assert_eq!(a, self.r.check_free_page(pa, bytes), "{ev:?}");
            }
        }
        for c in 0..2 {
            let h = self.m.may_hold(c);
            assert_eq!(h.tlb, self.r.tlb[c], "TLB of cpu {c} after {ev:?}");
            assert_eq!(h.pwc, self.r.pwc[c], "PWC of cpu {c} after {ev:?}");
        }
        // Every table here has a level (linked at setup): each valid leaf
        // in them is counted.
        let leaves = [(PUD, 512), (PMD, 512), (PTE[0], 32), (PTE[1], 32)]
            .iter()
            .flat_map(|&(t, n)| (0..n).map(move |i| (t, i)))
            .filter(|&(t, i)| matches!(EntryView::of(self.r.entry(t, i)), EntryView::Leaf(_)))
            .count();
        assert_eq!(self.m.stats().valid_leaves, leaves, "after {ev:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn free_checks_find_leaves_in_every_bucket(events in prop::collection::vec(event(), 1..80)) {
        let mut p = Pair::new();
        for e in &events {
            p.apply(e);
        }
    }
}
