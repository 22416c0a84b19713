//! The kernel's call pattern, replayed on the host: what the stress run's
//! page-table changer (`src/walk/changers.rs`, `src/walk/arena.rs`) makes
//! the model do through `src/mm/shadow.rs`, with the flush sequences of
//! `src/mm/tlb.rs` (POWER9 errata fix-ups on) in either flush mode.
//!
//! One process per run (LPID 0): a THP arena of 16 slots at PMD level (VA
//! 0x100_0000_0000 + i * 2M) and a PUD arena of one slot at PUD level (VA
//! 0x200_0000_0000), each populated with a huge leaf and a deposited
//! page-table page; walker CPUs switch to the PID, the changer (CPU 0) does
//! not. Then random steps as `Changer::step` makes them (split, collapse,
//! zap, populate, churn; the PUD slot 1/8 of the time), each followed by a
//! free of unrelated memory (`frames::free_phys`), and the teardown of
//! `Arena::teardown` + `Mm::destroy`.
//!
//! Every call must succeed (the pattern is a correct kernel); a digest of
//! every result (invalidation summaries included) and of the final
//! statistics pins what the model answered, so that a faster model can be
//! shown to answer the same.
//!
//! Shared by `tests/kernel_pattern.rs` and `examples/kernel_pattern.rs`.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use radix::tlbie::{tlbie_pid, tlbie_va, tlbiel_pid, tlbiel_pid_sets, POWER9_TLB_SETS_RADIX};
use radix::{EntryView, Geometry, Level, PageSize, Pde, Pte, PteFlags, Ric, TlbieOperands};
use tlbmodel::{Model, Stats};

const G: Geometry = Geometry::RADIX_64K;
const LPID: u32 = 0;
/// `mm::tlb::SINGLE_PAGE_CEILING`: above it a range flush is a PID flush.
const SINGLE_PAGE_CEILING: u64 = 33;
const THP_BASE: u64 = 0x0000_0100_0000_0000;
const PUD_BASE: u64 = 0x0000_0200_0000_0000;
const THP_SLOTS: usize = 16;
/// THP folios: one per slot and 4 spare (`Arena::new_thp`).
const THP_FOLIOS: usize = THP_SLOTS + 4;
const THP_POOL: u64 = 0x4000_0000;
const PUD_FOLIO: u64 = 0x8000_0000;
/// Unrelated memory `frames::free_phys` hands back (64K frames).
const OTHER_MEM: u64 = 0x1_0000_0000;
/// Page-table pages come from here (`pgtable`'s pool).
const TABLE_POOL: u64 = 0x1000_0000;

/// One benchmark configuration.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// CPUs modelled: CPU 0 is the changer, the others walk.
    pub cpus: usize,
    /// Changer steps in all (split over `runs` processes).
    pub steps: usize,
    /// Processes, one after the other (each with its setup and teardown).
    pub runs: usize,
    /// `mmu.flush=ipi`: every flush is a `tlbiel` sequence on each CPU of
    /// the mm's cpumask and on the changer; else one `tlbie` sequence.
    pub ipi: bool,
    pub seed: u64,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub steps: u64,
    pub calls: u64,
    pub elapsed: Duration,
    pub digest: u64,
    pub stats: Stats,
    /// split, collapse, zap, populate, churn (link or free of an empty table).
    pub kinds: [u64; 5],
    /// Time per kind, THP arena then PUD arena.
    pub kind_time: [[Duration; 5]; 2],
    /// Steps per kind, THP arena then PUD arena.
    pub kind_steps: [[u64; 5]; 2],
}

impl Outcome {
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    pub fn us_per_step(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.steps as f64
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// FNV-1a over 64-bit words.
struct Digest(u64);

impl Digest {
    fn word(&mut self, w: u64) {
        for b in w.to_le_bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }

    fn text(&mut self, s: &str) {
        for b in s.bytes() {
            self.word(b as u64);
        }
    }
}

/// A cheap hasher for table addresses (the driver's own lookups should
/// cost little next to the model's).
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (x >> 8).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type AddrMap<V> = HashMap<u64, V, BuildHasherDefault<AddrHasher>>;

/// `mm::tlb::Target`.
#[derive(Clone, Copy)]
enum Flush {
    Range { start: u64, end: u64, size: PageSize, also_pwc: bool },
    Pid { ric: Ric },
}

/// The kernel stand-in: page-table memory (for the `old` values), the
/// page-table page pool, the flush code and the model calls.
struct Kernel {
    m: Model,
    mem: AddrMap<Vec<u64>>,
    free_tables: AddrMap<Vec<u64>>,
    next_table: u64,
    calls: u64,
    digest: Digest,
    ipi: bool,
    changer: usize,
    walkers: Vec<usize>,
    pid: u32,
}

impl Kernel {
    fn alloc_table(&mut self, bytes: u64) -> u64 {
        let pa = match self.free_tables.get_mut(&bytes).and_then(|v| v.pop()) {
            Some(pa) => pa,
            None => {
                let pa = self.next_table.next_multiple_of(bytes);
                self.next_table = pa + bytes;
                pa
            }
        };
        self.mem.insert(pa, vec![0; (bytes / 8) as usize]);
        self.calls += 1;
        self.m.table_alloc(pa, bytes).unwrap_or_else(|e| panic!("{e}"));
        pa
    }

    fn free_table(&mut self, pa: u64, bytes: u64) {
        self.calls += 1;
        self.m.table_free(pa, bytes).unwrap_or_else(|e| panic!("{e}"));
        self.mem.remove(&pa);
        self.free_tables.entry(bytes).or_default().push(pa);
    }

    fn read(&self, t: u64, i: usize) -> u64 {
        self.mem[&t][i]
    }

    /// `pgtable::write` / `exchange`: returns the old value.
    fn write(&mut self, t: u64, i: usize, v: u64) -> u64 {
        let slot = &mut self.mem.get_mut(&t).expect("a live table")[i];
        let old = core::mem::replace(slot, v);
        self.calls += 1;
        self.m.store(t, i, old, v).unwrap_or_else(|e| panic!("{e}"));
        old
    }

    fn check_free_page(&mut self, pa: u64, bytes: u64) {
        self.calls += 1;
        self.m.check_free_page(pa, bytes).unwrap_or_else(|l| panic!("{l}"));
    }

    fn switch(&mut self, cpu: usize, pid: Option<u32>) {
        self.calls += 1;
        self.m.switch(cpu, LPID, pid).unwrap_or_else(|e| panic!("{e}"));
    }

    fn set_root(&mut self, root: Option<u64>) {
        self.calls += 1;
        self.m.set_root(LPID, self.pid, root).unwrap_or_else(|e| panic!("{e}"));
    }

    fn invalidate(&mut self, cpu: usize, local: bool, ops: &[TlbieOperands]) {
        self.calls += 1;
        let s = self.m.invalidate(cpu, local, LPID, ops).unwrap_or_else(|e| panic!("{e}"));
        let d = &mut self.digest;
        for w in [
            s.ops,
            s.tlb_removed,
            s.pwc_removed,
            s.materialized,
            s.partition_scoped,
            s.sweeps,
            s.partial_sweeps,
        ] {
            d.word(w as u64);
        }
    }

    /// `tlb::global_ops` with the errata fix-ups.
    fn global_ops(&self, f: Flush) -> Vec<TlbieOperands> {
        let pid = self.pid;
        let va = |va: u64, pid: u32, size: PageSize| tlbie_va(va, pid, LPID, size).unwrap();
        let mut ops = Vec::new();
        match f {
            Flush::Range { start, end, size, also_pwc } => {
                let n = (end - start) / size.bytes();
                if n > SINGLE_PAGE_CEILING {
                    return self.global_ops(Flush::Pid { ric: if also_pwc { Ric::All } else { Ric::Tlb } });
                }
                if also_pwc {
                    ops.push(tlbie_pid(pid, LPID, Ric::Pwc));
                }
                for i in 0..n {
                    ops.push(va(start + i * size.bytes(), pid, size));
                }
                if n > 0 {
                    let last = start + (n - 1) * size.bytes();
                    ops.push(va(last, 0, size));
                    ops.push(va(last, pid, size));
                }
            }
            Flush::Pid { ric } => {
                ops.push(tlbie_pid(pid, LPID, ric));
                if ric != Ric::Pwc {
                    ops.push(tlbie_pid(0, LPID, Ric::Tlb));
                    ops.push(va((1 << 52) - (1 << 16), pid, PageSize::Size64K));
                }
            }
        }
        ops
    }

    /// `tlb::local_ops` (a PID flush is a sweep of every set).
    fn local_ops(&self, f: Flush) -> Vec<TlbieOperands> {
        let pid = self.pid;
        let sweep = |ric| tlbiel_pid_sets(pid, LPID, ric, POWER9_TLB_SETS_RADIX).collect();
        match f {
            Flush::Range { start, end, size, also_pwc } => {
                let n = (end - start) / size.bytes();
                if n > SINGLE_PAGE_CEILING {
                    return sweep(if also_pwc { Ric::All } else { Ric::Tlb });
                }
                let mut ops = Vec::new();
                if also_pwc {
                    ops.push(tlbiel_pid(pid, LPID, 0, Ric::Pwc).unwrap());
                }
                ops.extend((0..n).map(|i| tlbie_va(start + i * size.bytes(), pid, LPID, size).unwrap()));
                ops
            }
            Flush::Pid { ric } => sweep(ric),
        }
    }

    /// `tlb::flush(t, mm.cpumask())` from the changer.
    fn flush(&mut self, f: Flush) {
        if self.ipi {
            let ops = self.local_ops(f);
            for i in 0..self.walkers.len() {
                let cpu = self.walkers[i];
                self.invalidate(cpu, true, &ops);
            }
            self.invalidate(self.changer, true, &ops);
        } else {
            let ops = self.global_ops(f);
            self.invalidate(self.changer, false, &ops);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    Huge,
    Split,
    Table,
}

struct Slot {
    va: u64,
    table: u64,
    index: usize,
    state: State,
    folio: Option<usize>,
    deposited: u64,
}

/// `walk::arena::Shape` plus the arena's folios.
struct Arena {
    level: Level,
    huge: PageSize,
    sub: PageSize,
    subs: usize,
    table_bytes: u64,
    nls: u32,
    slots: Vec<Slot>,
    folios: Vec<u64>,
    free: VecDeque<usize>,
    /// Memory the arena returns at teardown.
    owned: (u64, u64),
}

/// `pgtable::slot_alloc`.
fn slot_alloc(k: &mut Kernel, root: u64, va: u64, level: Level) -> (u64, usize) {
    let (mut table, mut l) = (root, Level::Pgd);
    while l != level {
        let idx = G.index(l, va);
        let next = l.next().unwrap();
        table = match EntryView::of(k.read(table, idx)) {
            EntryView::Table(p) => p.next_table_pa(),
            _ => {
                let t = k.alloc_table(G.table_bytes(next));
                k.write(table, idx, Pde::table(t, G.index_bits(next)).unwrap().raw());
                t
            }
        };
        l = next;
    }
    (table, G.index(level, va))
}

impl Arena {
    fn new(k: &mut Kernel, root: u64, pud: bool) -> Arena {
        let (level, huge, sub, subs, table_bytes, nls, base, n) = if pud {
            (Level::Pud, PageSize::Size1G, PageSize::Size2M, 512, 4096, 9, PUD_BASE, 1)
        } else {
            (Level::Pmd, PageSize::Size2M, PageSize::Size64K, 32, 256, 5, THP_BASE, THP_SLOTS)
        };
        let (folios, owned): (Vec<u64>, _) = if pud {
            (vec![PUD_FOLIO], (PUD_FOLIO, 1 << 30))
        } else {
            let f = (0..THP_FOLIOS as u64).map(|i| THP_POOL + i * (2 << 20)).collect();
            (f, (THP_POOL, THP_FOLIOS as u64 * (2 << 20)))
        };
        let slots = (0..n)
            .map(|i| {
                let va = base + i as u64 * huge.bytes();
                let (table, index) = slot_alloc(k, root, va, level);
                Slot { va, table, index, state: State::Empty, folio: None, deposited: 0 }
            })
            .collect();
        let free = (0..folios.len()).collect();
        let mut a = Arena { level, huge, sub, subs, table_bytes, nls, slots, folios, free, owned };
        for s in 0..n {
            assert!(a.populate(k, s));
        }
        a
    }

    fn pid_flush(&self, k: &mut Kernel, ric: Ric) {
        k.flush(Flush::Pid { ric });
    }

    fn flush_huge_leaf(&self, k: &mut Kernel, s: usize) {
        let va = self.slots[s].va;
        k.flush(Flush::Range { start: va, end: va + self.huge.bytes(), size: self.huge, also_pwc: false });
    }

    fn flush_sub_leaves(&self, k: &mut Kernel, s: usize, also_pwc: bool) {
        let va = self.slots[s].va;
        k.flush(Flush::Range { start: va, end: va + self.huge.bytes(), size: self.sub, also_pwc });
    }

    fn leaf(pa: u64, size: PageSize) -> u64 {
        Pte::leaf(pa, size, PteFlags::KERNEL_RW).unwrap().raw()
    }

    fn put_folio(&mut self, k: &mut Kernel, f: usize) {
        k.check_free_page(self.folios[f], self.huge.bytes());
        self.free.push_back(f);
    }

    fn populate(&mut self, k: &mut Kernel, s: usize) -> bool {
        let Some(f) = self.free.pop_front() else { return false };
        if self.slots[s].deposited == 0 {
            self.slots[s].deposited = k.alloc_table(self.table_bytes);
        }
        let slot = &mut self.slots[s];
        slot.folio = Some(f);
        let (t, i) = (slot.table, slot.index);
        k.write(t, i, Self::leaf(self.folios[f], self.huge));
        self.slots[s].state = State::Huge;
        true
    }

    fn split(&mut self, k: &mut Kernel, s: usize) {
        let (t, i) = (self.slots[s].table, self.slots[s].index);
        let old = Pte::from_raw(k.read(t, i));
        k.write(t, i, old.invalidate().raw());
        self.flush_huge_leaf(k, s);
        let pt = core::mem::take(&mut self.slots[s].deposited);
        assert_ne!(pt, 0);
        for j in 0..self.subs {
            k.write(pt, j, Self::leaf(old.pa() + j as u64 * self.sub.bytes(), self.sub));
        }
        k.write(t, i, Pde::table(pt, self.nls).unwrap().raw());
        self.slots[s].state = State::Split;
    }

    fn collapse(&mut self, k: &mut Kernel, s: usize) -> bool {
        let old_f = self.slots[s].folio.unwrap();
        let new_f = if self.level == Level::Pud {
            None
        } else {
            match self.free.pop_front() {
                Some(f) => Some(f),
                None => return false,
            }
        };
        let (t, i) = (self.slots[s].table, self.slots[s].index);
        let EntryView::Table(p) = EntryView::of(k.write(t, i, 0)) else { panic!("not a table") };
        let pt = p.next_table_pa();
        self.flush_sub_leaves(k, s, true);
        for j in 0..self.subs {
            k.write(pt, j, 0);
        }
        self.slots[s].deposited = pt;
        let f = new_f.unwrap_or(old_f);
        self.slots[s].folio = Some(f);
        k.write(t, i, Self::leaf(self.folios[f], self.huge));
        self.slots[s].state = State::Huge;
        if new_f.is_some() {
            self.put_folio(k, old_f);
        }
        true
    }

    fn zap(&mut self, k: &mut Kernel, s: usize) {
        let (t, i) = (self.slots[s].table, self.slots[s].index);
        match EntryView::of(k.read(t, i)) {
            EntryView::Table(p) => {
                let pt = p.next_table_pa();
                for j in 0..self.subs {
                    k.write(pt, j, 0);
                }
                self.flush_sub_leaves(k, s, false);
                let f = self.slots[s].folio.take().unwrap();
                self.put_folio(k, f);
                self.free_pte_range(k, s, pt);
            }
            _ => {
                k.write(t, i, 0);
                self.flush_huge_leaf(k, s);
                let f = self.slots[s].folio.take().unwrap();
                self.put_folio(k, f);
                let pt = core::mem::take(&mut self.slots[s].deposited);
                k.free_table(pt, self.table_bytes);
            }
        }
        self.slots[s].state = State::Empty;
    }

    fn free_pte_range(&mut self, k: &mut Kernel, s: usize, pt: u64) {
        let (t, i) = (self.slots[s].table, self.slots[s].index);
        k.write(t, i, 0);
        self.pid_flush(k, Ric::Pwc);
        k.free_table(pt, self.table_bytes);
    }

    fn link_empty_table(&mut self, k: &mut Kernel, s: usize) {
        let pt = k.alloc_table(self.table_bytes);
        let (t, i) = (self.slots[s].table, self.slots[s].index);
        k.write(t, i, Pde::table(pt, self.nls).unwrap().raw());
        self.slots[s].state = State::Table;
    }

    fn free_empty_table(&mut self, k: &mut Kernel, s: usize) {
        let (t, i) = (self.slots[s].table, self.slots[s].index);
        let EntryView::Table(p) = EntryView::of(k.read(t, i)) else { panic!("not a table") };
        self.free_pte_range(k, s, p.next_table_pa());
        self.slots[s].state = State::Empty;
    }

    /// `Changer::step` (not churn-only). Returns the kind of step done.
    fn step(&mut self, k: &mut Kernel, s: usize, r: u64) -> usize {
        match self.slots[s].state {
            State::Huge if r.is_multiple_of(3) => {
                self.zap(k, s);
                2
            }
            State::Huge => {
                self.split(k, s);
                0
            }
            State::Split => {
                if !r.is_multiple_of(3) && self.collapse(k, s) {
                    1
                } else {
                    self.zap(k, s);
                    2
                }
            }
            State::Table => {
                self.free_empty_table(k, s);
                4
            }
            State::Empty => {
                if !r.is_multiple_of(2) && self.populate(k, s) {
                    3
                } else {
                    self.link_empty_table(k, s);
                    4
                }
            }
        }
    }

    /// `Arena::teardown`: unmap every slot, one PID flush, free the tables
    /// and the memory.
    fn teardown(self, k: &mut Kernel) {
        let mut tables = Vec::new();
        for s in &self.slots {
            if let EntryView::Table(p) = EntryView::of(k.write(s.table, s.index, 0)) {
                tables.push(p.next_table_pa());
            }
            if s.deposited != 0 {
                tables.push(s.deposited);
            }
        }
        k.flush(Flush::Pid { ric: Ric::All });
        for t in tables {
            k.free_table(t, self.table_bytes);
        }
        k.check_free_page(self.owned.0, self.owned.1);
    }
}

/// `space::free_tree`: children first, without clearing the entries.
fn free_tree(k: &mut Kernel, t: u64, level: Level) {
    if let Some(next) = level.next() {
        let children: Vec<u64> = k.mem[&t]
            .iter()
            .filter_map(|&v| match EntryView::of(v) {
                EntryView::Table(p) => Some(p.next_table_pa()),
                _ => None,
            })
            .collect();
        for c in children {
            free_tree(k, c, next);
        }
    }
    k.free_table(t, G.table_bytes(level));
}

/// Replays the pattern and measures it.
pub fn run(cfg: Config) -> Outcome {
    assert!(cfg.cpus >= 2 && cfg.runs >= 1);
    let mut k = Kernel {
        m: Model::new(G, cfg.cpus, POWER9_TLB_SETS_RADIX),
        mem: AddrMap::default(),
        free_tables: AddrMap::default(),
        next_table: TABLE_POOL,
        calls: 0,
        digest: Digest(0xCBF2_9CE4_8422_2325),
        ipi: cfg.ipi,
        changer: 0,
        walkers: (1..cfg.cpus).collect(),
        pid: 0,
    };
    let mut r = Rng(cfg.seed | 1);
    let mut kinds = [0u64; 5];
    let mut kind_time = [[Duration::ZERO; 5]; 2];
    let mut kind_steps = [[0u64; 5]; 2];
    let mut steps = 0u64;
    let t0 = Instant::now();
    for run in 0..cfg.runs {
        k.pid = 100 + run as u32;
        let root = k.alloc_table(G.table_bytes(Level::Pgd));
        k.set_root(Some(root));
        let mut thp = Arena::new(&mut k, root, false);
        let mut pud = Arena::new(&mut k, root, true);
        for i in 0..k.walkers.len() {
            let cpu = k.walkers[i];
            k.switch(cpu, Some(k.pid));
        }
        let n = cfg.steps / cfg.runs + usize::from(run < cfg.steps % cfg.runs);
        for _ in 0..n {
            let (pick, rr) = (r.below(8), r.next() >> 8);
            let t = Instant::now();
            let kind = if pick == 0 {
                pud.step(&mut k, 0, rr)
            } else {
                let s = r.below(THP_SLOTS as u64) as usize;
                thp.step(&mut k, s, rr)
            };
            let arena = usize::from(pick == 0);
            kind_time[arena][kind] += t.elapsed();
            kind_steps[arena][kind] += 1;
            kinds[kind] += 1;
            steps += 1;
            // frames::free_phys of unrelated memory.
            let frame = OTHER_MEM + r.below(4096) * 0x1_0000;
            k.check_free_page(frame, 0x1_0000);
        }
        thp.teardown(&mut k);
        pud.teardown(&mut k);
        for i in 0..k.walkers.len() {
            let cpu = k.walkers[i];
            k.switch(cpu, None);
        }
        // Mm::destroy
        k.set_root(None);
        k.flush(Flush::Pid { ric: Ric::All });
        free_tree(&mut k, root, Level::Pgd);
    }
    let elapsed = t0.elapsed();
    let stats = k.m.stats();
    k.digest.text(&stats.to_string());
    assert_eq!(
        (stats.live_tables, stats.valid_leaves, stats.stale_tlb, stats.stale_pwc),
        (0, 0, 0, 0),
        "{stats}"
    );
    Outcome { steps, calls: k.calls, elapsed, digest: k.digest.0, stats, kinds, kind_time, kind_steps }
}

/// The four configurations the benchmark reports: 4 and 16 CPUs, `tlbie`
/// and IPI (`tlbiel`) flushes.
pub fn configs(steps: usize) -> Vec<Config> {
    let mut v = Vec::new();
    for cpus in [4, 16] {
        for ipi in [false, true] {
            v.push(Config { cpus, steps, runs: 4, ipi, seed: 0x5EED_0000 + cpus as u64 });
        }
    }
    v
}

/// Time per step kind: (arena, kind, steps, share of the run, us per step).
pub fn breakdown(o: &Outcome) -> String {
    let names = ["split", "collapse", "zap", "populate", "churn"];
    let mut out = String::new();
    for (a, arena) in ["thp", "pud"].iter().enumerate() {
        for (k, name) in names.iter().enumerate() {
            let (n, t) = (o.kind_steps[a][k], o.kind_time[a][k]);
            if n > 0 {
                out += &format!(
                    "  {arena} {name:<8} steps={n:<6} share={:>5.1}% us/step={:.1}\n",
                    100.0 * t.as_secs_f64() / o.elapsed.as_secs_f64(),
                    t.as_secs_f64() * 1e6 / n as f64
                );
            }
        }
    }
    out
}

pub fn describe(cfg: &Config, o: &Outcome) -> String {
    format!(
        "cpus={:<2} flush={:<5} steps={} calls={} time={:.3}s calls/s={:.0} us/step={:.1} \
         (split={} collapse={} zap={} populate={} churn={}) max_stale_tlb={} max_stale_pwc={} digest={:#018x}",
        cfg.cpus,
        if cfg.ipi { "ipi" } else { "tlbie" },
        o.steps,
        o.calls,
        o.elapsed.as_secs_f64(),
        o.calls_per_sec(),
        o.us_per_step(),
        o.kinds[0],
        o.kinds[1],
        o.kinds[2],
        o.kinds[3],
        o.kinds[4],
        o.stats.max_stale_tlb,
        o.stats.max_stale_pwc,
        o.digest
    )
}
