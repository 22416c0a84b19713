//! The model against the brute-force reference (tests/common/reference.rs)
//! on random event sequences over a small universe: 3 CPUs, 3 processes
//! (two PIDs in LPID 0, one in LPID 1), 12 page-table pages of every level,
//! leaves of every size, links, unlinks and relinks, switches, every valid
//! (and some invalid) tlbie/tlbiel form, page and table frees. After every
//! event both must agree on the result (the same leftovers, the same error)
//! and on what every CPU may hold.

mod common;

use std::collections::BTreeSet;

use common::reference::{kind, Item, Reference};
use proptest::prelude::*;
use radix::tlbie::{
    tlbie_all, tlbie_lpid, tlbie_lpid_guest, tlbie_pid, tlbiel_pid, tlbiel_pid_sets, tlbiel_set,
    TLBIEL_SET_MAX,
};
use radix::{Geometry, Level, PageSize, Pde, Pte, PteFlags, Quadrant, Ric, Scope, TlbieOperands};
use tlbmodel::{FreeError, Model};

const G: Geometry = Geometry::RADIX_64K;
const CPUS: usize = 3;
const SETS: u32 = 4;
const PROCS: [(u32, u32); 3] = [(0, 1), (0, 2), (1, 1)];
const FOLIO: u64 = 0x4000_0000;

/// The table pool: (role level, address).
fn pool() -> Vec<(Level, u64)> {
    let mut v = vec![(Level::Pgd, 0x100_0000), (Level::Pgd, 0x101_0000), (Level::Pgd, 0x103_0000)];
    v.extend((0..2).map(|k| (Level::Pud, 0x102_0000 + k * 0x1000)));
    v.extend((0..3).map(|k| (Level::Pmd, 0x102_2000 + k * 0x1000)));
    v.extend((0..5).map(|k| (Level::Pte, 0x102_5000 + k * 0x100)));
    v
}

#[derive(Clone, Debug)]
enum Val {
    Zero,
    Leaf(u8),
    Invalidated(u8),
    Junk,
    /// The k-th table of the level below the written table's role.
    Dir(usize),
    /// Any table of the pool (mostly errors).
    AnyDir(usize),
}

#[derive(Clone, Debug)]
enum Ev {
    Store {
        t: usize,
        idx: usize,
        val: Val,
        wrong_old: bool,
    },
    SetRoot {
        p: usize,
        root: Option<usize>,
    },
    Switch {
        cpu: usize,
        p: Option<usize>,
    },
    Flush {
        issuer: usize,
        local: bool,
        lpidr: u32,
        ops: Vec<TlbieOperands>,
    },
    Check {
        pa: u64,
        bytes: u64,
    },
    Free {
        t: usize,
    },
    Alloc {
        t: usize,
    },
    /// Allocate the first freed table of the pool (or `t` again if none).
    AllocDead {
        t: usize,
    },
    /// Free and allocate again (a reused page-table page).
    Recycle {
        t: usize,
    },
}

fn leaf_pa(role: Level, k: u8) -> (u64, PageSize) {
    let k = k as u64;
    match role {
        Level::Pte => (FOLIO + (k % 4) * 0x1_0000, PageSize::Size64K),
        Level::Pmd => (FOLIO + (k % 3) * 0x20_0000, PageSize::Size2M),
        _ => (FOLIO + (k % 2) * 0x4000_0000, PageSize::Size1G),
    }
}

fn value(pool: &[(Level, u64)], t: usize, val: &Val) -> u64 {
    let (role, _) = pool[t];
    match *val {
        Val::Zero => 0,
        // Leaves in a root are errors: rarely.
        Val::Leaf(k) if role == Level::Pgd && k % 16 != 0 => 0,
        Val::Leaf(k) => {
            let (pa, size) = leaf_pa(role, k);
            Pte::leaf(pa, size, PteFlags::USER_RW).unwrap().raw()
        }
        Val::Invalidated(k) => {
            let (pa, size) = leaf_pa(role, k);
            Pte::leaf(pa, size, PteFlags::USER_RW).unwrap().invalidate().raw()
        }
        Val::Junk => 0x0000_0000_0001_2345,
        Val::Dir(k) => {
            let below: Vec<_> = pool.iter().filter(|(l, _)| Some(*l) == role.next()).collect();
            match below.len() {
                0 => 0,
                n => {
                    let (clevel, cpa) = *below[k % n];
                    Pde::table(cpa, G.index_bits(clevel)).unwrap().raw()
                }
            }
        }
        Val::AnyDir(c) => {
            let (clevel, cpa) = pool[c % pool.len()];
            Pde::table(cpa, G.index_bits(clevel)).unwrap().raw()
        }
    }
}

/// EAs the universe's entries translate (indices 0..4 at every level).
fn ea() -> impl Strategy<Value = u64> {
    (0..2u64, 0..2u64, 0..4u64, 0..4u64).prop_map(|(a, b, c, d)| G.compose(Quadrant::Q0, [a, b, c, d], 0))
}

fn ric() -> impl Strategy<Value = Ric> {
    prop_oneof![Just(Ric::Tlb), Just(Ric::Pwc), Just(Ric::All)]
}

/// One group of operations (one instruction, or a tlbiel set sweep).
fn op_group() -> impl Strategy<Value = Vec<TlbieOperands>> {
    let proc_ = 0..PROCS.len();
    prop_oneof![
        // by EA, any AP (wrong sizes included), mostly process scoped
        12 => (ea(), 0..4usize, proc_.clone(), prop::bool::weighted(0.9)).prop_map(|(ea, s, p, prs)| {
            let size = PageSize::ALL[s];
            let (lpid, pid) = PROCS[p];
            let rb = (ea & !(size.bytes() - 1)) | size.ap() << 5;
            vec![TlbieOperands { rb, rs: (pid as u64) << 32 | lpid as u64, ric: 0, prs: prs as u8, r: 1 }]
        }),
        9 => (proc_.clone(), ric()).prop_map(|(p, ric)| vec![tlbie_pid(PROCS[p].1, PROCS[p].0, ric)]),
        3 => (0..2u32, ric(), any::<bool>()).prop_map(|(lpid, ric, prs)| {
            vec![if prs { tlbie_lpid_guest(lpid, ric) } else { tlbie_lpid(lpid, ric) }]
        }),
        2 => (ric(), any::<bool>()).prop_map(|(ric, prs)| {
            vec![tlbie_all(if prs { Scope::Process } else { Scope::Partition }, ric)]
        }),
        // Linux _tlbiel_pid over all sets, or a prefix of it
        9 => (proc_.clone(), ric(), 1..=SETS).prop_map(|(p, ric, n)| {
            tlbiel_pid_sets(PROCS[p].1, PROCS[p].0, ric, SETS).take(n as usize).collect()
        }),
        // a sweep with RIC=2 at every set (the PWC part counts at set 0 only)
        2 => (proc_, 1..=SETS).prop_map(|(p, n)| {
            (0..n).map(|s| tlbiel_pid(PROCS[p].1, PROCS[p].0, s, Ric::All).unwrap()).collect()
        }),
        // IS=2/3 set sweeps (tlbiel_all_isa300 style), maybe partial
        3 => (any::<bool>(), any::<bool>(), ric(), 1..=SETS).prop_map(|(all, prs, ric, n)| {
            let scope = if prs { Scope::Process } else { Scope::Partition };
            (0..n).map(|s| tlbiel_set(all, s, scope, if s == 0 { ric } else { Ric::Tlb }).unwrap()).collect()
        }),
        // invalid forms and odd operands
        // (rare: one invalid op rejects the whole sequence)
        1 => (any::<u8>(), 0..4u8, 0..2u8, 0..2u8, 0..8u64, 0..=TLBIEL_SET_MAX).prop_map(|(is, ric, prs, r, ap, set)| {
            let rb = ((is & 3) as u64) << 10 | ap << 5 | (set as u64 % 6) << 12;
            vec![TlbieOperands { rb, rs: 1 << 32, ric, prs, r }]
        }),
    ]
}

fn table() -> impl Strategy<Value = usize> {
    0..pool().len()
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        3 => Just(Val::Zero),
        4 => any::<u8>().prop_map(Val::Leaf),
        1 => any::<u8>().prop_map(Val::Invalidated),
        1 => Just(Val::Junk),
        3 => (0..5usize).prop_map(Val::Dir),
        1 => table().prop_map(Val::AnyDir),
    ]
}

/// Events; `churn` weighs the table frees and allocations against the
/// other events (out of about 250).
fn event_with(churn: u32) -> impl Strategy<Value = Ev> {
    prop_oneof![
        120 => (table(), 0..4usize, val(), prop::bool::weighted(0.05))
            .prop_map(|(t, idx, val, wrong_old)| Ev::Store { t, idx, val, wrong_old }),
        10 => (0..PROCS.len(), prop::option::weighted(0.8, 0..4usize))
            .prop_map(|(p, root)| Ev::SetRoot { p, root: root.map(|r| if r < 3 { p } else { (p + 1) % 3 }) }),
        40 => (0..CPUS + 1, prop::option::weighted(0.8, 0..PROCS.len())).prop_map(|(cpu, p)| Ev::Switch { cpu, p }),
        60 => (0..CPUS, any::<bool>(), 0..2u32, prop::collection::vec(op_group(), 1..4))
            .prop_map(|(issuer, local, lpidr, g)| Ev::Flush { issuer, local, lpidr, ops: g.concat() }),
        30 => (0..4u64, prop_oneof![Just(0x1_0000u64), Just(0x20_0000), Just(0x4000_0000)], 0..3u64)
            .prop_map(|(k, bytes, s)| Ev::Check { pa: FOLIO + k * [0x1_0000, 0x20_0000, 0x4000_0000][s as usize], bytes }),
        churn => table().prop_map(|t| Ev::Free { t }),
        2 * churn => table().prop_map(|t| Ev::AllocDead { t }),
        churn => table().prop_map(|t| Ev::Recycle { t }),
    ]
}

fn event() -> impl Strategy<Value = Ev> {
    event_with(10)
}

struct Pair {
    pool: Vec<(Level, u64)>,
    m: Model,
    r: Reference,
    /// The model's CPU for each of the reference's CPUs (then one beyond
    /// the model's CPUs, for the out-of-range case).
    cpus: [usize; CPUS + 1],
}

fn model_items(l: &tlbmodel::Leftovers) -> BTreeSet<Item> {
    assert_eq!(l.total, l.shown.len());
    l.shown.iter().map(|x| (x.cpu, x.what, x.holding)).collect()
}

impl Pair {
    fn new() -> Pair {
        Pair::with_cpus(CPUS, [0, 1, 2, 3])
    }

    /// The model has `ncpus` CPUs; the reference's CPU `c` is its `cpus[c]`.
    fn with_cpus(ncpus: usize, cpus: [usize; CPUS + 1]) -> Pair {
        let pool = pool();
        let mut p = Pair {
            pool,
            m: Model::new(G, ncpus, SETS).with_report_limit(usize::MAX),
            r: Reference::new(G, CPUS, SETS),
            cpus,
        };
        for t in 0..p.pool.len() {
            p.apply(&Ev::Alloc { t });
        }
        // Two populated processes, CPUs 0 and 1 in the first, 2 in the second.
        let st = |t, idx, val| Ev::Store { t, idx, val, wrong_old: false };
        let setup = [
            Ev::SetRoot { p: 0, root: Some(0) },
            Ev::SetRoot { p: 1, root: Some(1) },
            Ev::SetRoot { p: 2, root: Some(2) },
            st(0, 0, Val::Dir(0)),
            st(3, 0, Val::Dir(0)),
            st(5, 1, Val::Dir(0)),
            st(5, 0, Val::Leaf(1)),
            st(8, 0, Val::Leaf(0)),
            st(8, 1, Val::Leaf(1)),
            st(8, 3, Val::Leaf(3)),
            st(1, 0, Val::Dir(1)),
            st(4, 1, Val::Dir(1)),
            st(6, 0, Val::Dir(1)),
            st(9, 2, Val::Leaf(2)),
            st(4, 0, Val::Leaf(0)),
            Ev::Switch { cpu: 0, p: Some(0) },
            Ev::Switch { cpu: 1, p: Some(0) },
            Ev::Switch { cpu: 2, p: Some(1) },
        ];
        for e in &setup {
            p.apply(e);
        }
        p
    }

    fn apply(&mut self, ev: &Ev) {
        match ev {
            Ev::Store { t, idx, val, wrong_old } => {
                let pa = self.pool[*t].1;
                let old = self.r.entry(pa, *idx as u32) ^ (*wrong_old as u64);
                let new = value(&self.pool, *t, val);
                let a = self.m.store(pa, *idx, old, new).map_err(|e| kind(&e));
                let b = self.r.store(pa, *idx, old, new);
                assert_eq!(a, b, "{ev:?}");
            }
            Ev::SetRoot { p, root } => {
                let (lpid, pid) = PROCS[*p];
                let root = root.map(|t| self.pool[t].1);
                let a = self.m.set_root(lpid, pid, root).map_err(|e| kind(&e));
                assert_eq!(a, self.r.set_root(lpid, pid, root), "{ev:?}");
            }
            Ev::Switch { cpu, p } => {
                let (lpid, pid) = match p {
                    Some(p) => (PROCS[*p].0, Some(PROCS[*p].1)),
                    None => (0, None),
                };
                let a = self.m.switch(self.cpus[*cpu], lpid, pid).map_err(|e| kind(&e));
                assert_eq!(a, self.r.switch(*cpu, lpid, pid), "{ev:?}");
            }
            Ev::Flush { issuer, local, lpidr, ops } => {
                let issuer_m = self.cpus[*issuer];
                let a = self.m.invalidate(issuer_m, *local, *lpidr, ops).map(|_| ()).map_err(|e| kind(&e));
                assert_eq!(a, self.r.invalidate(*issuer, *local, *lpidr, ops), "{ev:?}");
            }
            Ev::Check { pa, bytes } => {
                let a = match self.m.check_free_page(*pa, *bytes) {
                    Ok(()) => BTreeSet::new(),
                    Err(l) => {
                        assert!(l.total > 0);
                        self.unmap(model_items(&l))
                    }
                };
                assert_eq!(a, self.r.check_free_page(*pa, *bytes), "{ev:?}");
            }
            Ev::Free { t } => {
                let (level, pa) = self.pool[*t];
                let bytes = G.table_bytes(level);
                let a = match self.m.table_free(pa, bytes) {
                    Ok(()) => Ok(BTreeSet::new()),
                    Err(FreeError::Leftovers(l)) => Ok(self.unmap(model_items(&l))),
                    Err(FreeError::Model(e)) => Err(kind(&e)),
                };
                assert_eq!(a, self.r.table_free(pa, bytes), "{ev:?}");
            }
            Ev::AllocDead { t } => {
                let t = (0..self.pool.len()).find(|&k| !self.r.is_live(self.pool[k].1)).unwrap_or(*t);
                self.apply(&Ev::Alloc { t });
            }
            Ev::Recycle { t } => {
                self.apply(&Ev::Free { t: *t });
                self.apply(&Ev::Alloc { t: *t });
            }
            Ev::Alloc { t } => {
                let (level, pa) = self.pool[*t];
                let a = self.m.table_alloc(pa, G.table_bytes(level)).map_err(|e| kind(&e));
                assert_eq!(a, self.r.table_alloc(pa, G.table_bytes(level)), "{ev:?}");
            }
        }
        for c in 0..CPUS {
            let h = self.m.may_hold(self.cpus[c]);
            assert_eq!(h.tlb, self.r.tlb[c], "TLB of cpu {c} after {ev:?}");
            assert_eq!(h.pwc, self.r.pwc[c], "PWC of cpu {c} after {ev:?}");
        }
    }
}

impl Pair {
    /// Leftover items with the model's CPUs renamed to the reference's.
    fn unmap(&self, items: BTreeSet<Item>) -> BTreeSet<Item> {
        let name = |c: usize| self.cpus[..CPUS].iter().position(|&m| m == c).expect("a mapped CPU");
        items.into_iter().map(|(cpu, what, holding)| (cpu.map(name), what, holding)).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn model_matches_the_reference(events in prop::collection::vec(event(), 1..60)) {
        let mut p = Pair::new();
        for e in &events {
            p.apply(e);
        }
    }
}

/// The same check on fixed long sequences of pseudo-random events with few
/// table frees (so deep trees survive), and a guard that the generator
/// still exercises what matters.
#[test]
fn long_random_runs_match_the_reference() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let events = prop::collection::vec(event_with(1), 2000);
    let (mut leftovers, mut materialized, mut max_stale, mut held, mut n) = (0, 0, 0, 0, 0);
    for _ in 0..4 {
        let seq = events.new_tree(&mut runner).unwrap().current();
        let mut p = Pair::new();
        for e in &seq {
            p.apply(e);
            held += (0..CPUS).map(|c| p.r.tlb[c].len() + p.r.pwc[c].len()).sum::<usize>();
            n += 1;
        }
        let s = p.m.stats();
        leftovers += s.leftovers;
        materialized += s.materialized;
        max_stale = max_stale.max(s.max_stale_tlb + s.max_stale_pwc);
    }
    assert!(
        leftovers > 1000 && materialized > 500 && max_stale > 20,
        "{leftovers} {materialized} {max_stale}"
    );
    assert!(held / n >= 4, "CPUs hold {} entries on average", held / n);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The same with the model's buffer of new stale TLB records (in front
    /// of their B-tree) holding at most two: records in both, and moved
    /// between them.
    #[test]
    fn model_matches_the_reference_with_a_small_stale_buffer(events in prop::collection::vec(event(), 1..60)) {
        let mut p = Pair::new();
        p.m = p.m.clone().with_stale_buffer(2);
        for e in &events {
            p.apply(e);
        }
    }

    /// The same with a model of 200 CPUs, the three in use in different
    /// groups of 64 (the model keeps CPU sets per group).
    #[test]
    fn model_matches_the_reference_with_cpus_in_several_groups(events in prop::collection::vec(event(), 1..60)) {
        let mut p = Pair::with_cpus(200, [63, 64, 199, 200]);
        for e in &events {
            p.apply(e);
        }
    }
}
