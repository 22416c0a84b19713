//! Performance sanity: 16 CPUs, a process of 1024 64K leaves (32 split 2 MB
//! slots) and a small second one, 10,000 mixed model calls — THP zaps,
//! collapses and splits with their flushes and free checks, PID flushes,
//! local sweeps, free checks of mapped pages, and a few PID switches (the
//! one O(tree) operation). Must run well under a second in release.

mod common;

use std::time::Instant;

use common::{G, LPID, W};
use radix::tlbie::{tlbie_pid, tlbie_va, tlbiel_pid_sets};
use radix::{Level, PageSize, Ric};

const CPUS: usize = 16;
const SLOTS: usize = 32;
const A: u32 = 7;
const B: u32 = 8;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn folio(slot: usize) -> u64 {
    0x1_0000_0000 + slot as u64 * 0x20_0000
}

fn slot_ea(slot: usize) -> u64 {
    slot as u64 * 0x20_0000
}

struct Bench {
    w: W,
    pmd: u64,
    pte: [u64; SLOTS],
    calls: u64,
}

impl Bench {
    fn new() -> Bench {
        let mut w = W::new(G, CPUS);
        let (_, _, pmd) = w.process(A);
        let mut pte = [0; SLOTS];
        for (s, t) in pte.iter_mut().enumerate() {
            *t = w.alloc(Level::Pte);
            for i in 0..32 {
                w.map(*t, i, folio(s) + i as u64 * 0x1_0000, PageSize::Size64K);
            }
            w.link(pmd, s, *t, Level::Pte);
        }
        let (_, _, pmd_b) = w.process(B);
        for i in 0..8 {
            w.map(pmd_b, i, 0x2_0000_0000 + i as u64 * 0x20_0000, PageSize::Size2M);
        }
        for c in 0..CPUS {
            w.run(c, Some(if c < 12 { A } else { B }));
        }
        Bench { w, pmd, pte, calls: 0 }
    }

    fn tlbie(&mut self, ops: &[radix::TlbieOperands]) {
        self.calls += 1;
        self.w.tlbie(ops);
    }

    /// zap one 64K page, flush it, free it, map it again.
    fn zap_page(&mut self, r: &mut Rng) {
        let (s, i) = (r.below(SLOTS as u64) as usize, r.below(32) as usize);
        if self.w.get(self.pte[s], i) == 0 {
            return;
        }
        let pa = folio(s) + i as u64 * 0x1_0000;
        self.w.clear(self.pte[s], i);
        self.tlbie(&[tlbie_va(slot_ea(s) + i as u64 * 0x1_0000, A, LPID, PageSize::Size64K).unwrap()]);
        assert_eq!(self.w.m.check_free_page(pa, 0x1_0000), Ok(()));
        self.w.map(self.pte[s], i, pa, PageSize::Size64K);
        self.calls += 4;
    }

    /// collapse a slot (Linux order: PWC flush first) and split it again.
    fn collapse_split(&mut self, r: &mut Rng) {
        let s = r.below(SLOTS as u64) as usize;
        let old = self.pte[s];
        self.w.clear(self.pmd, s);
        let mut ops = vec![tlbie_pid(A, LPID, Ric::Pwc)];
        ops.extend((0..32).map(|i| tlbie_va(slot_ea(s) + i * 0x1_0000, A, LPID, PageSize::Size64K).unwrap()));
        self.tlbie(&ops);
        self.w.map(self.pmd, s, folio(s), PageSize::Size2M);
        assert_eq!(self.w.m.table_free(old, 256), Ok(()));
        for i in 0..32 {
            self.w.mem.remove(&(old, i));
        }
        // split: invalidate the huge leaf, flush, publish a filled table
        let huge = self.w.get(self.pmd, s);
        self.w.write(self.pmd, s, radix::Pte::from_raw(huge).invalidate().raw());
        self.tlbie(&[tlbie_va(slot_ea(s), A, LPID, PageSize::Size2M).unwrap()]);
        let t = self.w.alloc(Level::Pte);
        for i in 0..32 {
            self.w.map(t, i, folio(s) + i as u64 * 0x1_0000, PageSize::Size64K);
        }
        self.w.link(self.pmd, s, t, Level::Pte);
        self.pte[s] = t;
        self.calls += 4 + 32 + 32 + 1;
    }

    fn check_mapped(&mut self, r: &mut Rng) {
        let s = r.below(SLOTS as u64) as usize;
        let l = self.w.m.check_free_page(folio(s), 0x20_0000).unwrap_err();
        assert!(l.total >= 12);
        self.calls += 1;
    }

    fn switch(&mut self, r: &mut Rng) {
        let c = r.below(CPUS as u64) as usize;
        let pid = [Some(A), Some(B), None][r.below(3) as usize];
        self.w.run(c, pid);
        self.calls += 1;
    }

    fn local_sweep(&mut self, r: &mut Rng) {
        let c = r.below(CPUS as u64) as usize;
        let ops: Vec<_> = tlbiel_pid_sets(A, LPID, Ric::All, 128).collect();
        self.w.tlbiel(c, &ops);
        self.calls += 1;
    }
}

#[test]
fn ten_thousand_events_on_sixteen_cpus() {
    let mut b = Bench::new();
    let setup_calls = b.w.m.stats();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let t0 = Instant::now();
    while b.calls < 10_000 {
        match r.below(100) {
            0..=59 => b.zap_page(&mut r),
            60..=64 => b.collapse_split(&mut r),
            65..=79 => b.check_mapped(&mut r),
            80..=89 => b.tlbie(&[tlbie_pid(A, LPID, Ric::Tlb)]),
            90..=97 => b.local_sweep(&mut r),
            _ => b.switch(&mut r),
        }
    }
    let dt = t0.elapsed();
    let s = b.w.m.stats();
    eprintln!("{} calls in {dt:?} ({} leaves at start)\n{s}", b.calls, setup_calls.valid_leaves);
    assert!(setup_calls.valid_leaves >= 1024);
    if !cfg!(debug_assertions) {
        assert!(dt.as_millis() < 1000, "{dt:?}");
    }
}
