//! Shared test helpers: a small "kernel" that builds trees and reports every
//! store to the model, a THP fixture, and the brute-force reference model.
#![allow(dead_code)]

pub mod reference;

use std::collections::{BTreeMap, BTreeSet};

use radix::tlbie::{rs_pid, tlbie_pid, tlbie_va, tlbiel_pid, tlbiel_pid_sets};
use radix::{Geometry, Level, PageSize, Pde, Pte, PteFlags, Ric, TlbieOperands};
use tlbmodel::{Cached, Holding, InvalidateSummary, Leftovers, Model};

pub const G: Geometry = Geometry::RADIX_64K;
pub const LPID: u32 = 0;
pub const PID: u32 = 7;
/// First data folio.
pub const FOLIO: u64 = 0x4000_0000;

/// Leftovers as a comparable set.
pub fn items(l: &Leftovers) -> BTreeSet<(Option<usize>, Cached, Holding)> {
    l.shown.iter().map(|x| (x.cpu, x.what, x.holding)).collect()
}

/// A kernel stand-in: allocates tables from a bump region, keeps its own
/// copy of every entry (to pass the right `old` value) and reports every
/// store.
pub struct W {
    pub m: Model,
    pub mem: BTreeMap<(u64, usize), u64>,
    pub geom: Geometry,
    next: u64,
}

impl W {
    pub fn new(geom: Geometry, ncpus: usize) -> W {
        W::with_sets(geom, ncpus, 128)
    }

    pub fn with_sets(geom: Geometry, ncpus: usize, sets: u32) -> W {
        let m = Model::new(geom, ncpus, sets).with_report_limit(usize::MAX);
        W { m, mem: BTreeMap::new(), geom, next: 0x100_0000 }
    }

    pub fn alloc(&mut self, level: Level) -> u64 {
        let bytes = self.geom.table_bytes(level);
        let pa = self.next.next_multiple_of(bytes);
        self.next = pa + bytes;
        self.m.table_alloc(pa, bytes).unwrap();
        pa
    }

    pub fn get(&self, t: u64, idx: usize) -> u64 {
        self.mem.get(&(t, idx)).copied().unwrap_or(0)
    }

    pub fn write(&mut self, t: u64, idx: usize, v: u64) {
        let old = self.get(t, idx);
        self.m.store(t, idx, old, v).unwrap_or_else(|e| panic!("{e}"));
        self.mem.insert((t, idx), v);
    }

    pub fn link(&mut self, parent: u64, idx: usize, child: u64, child_level: Level) {
        let nls = self.geom.index_bits(child_level);
        self.write(parent, idx, Pde::table(child, nls).unwrap().raw());
    }

    pub fn map(&mut self, t: u64, idx: usize, pa: u64, size: PageSize) {
        self.write(t, idx, Pte::leaf(pa, size, PteFlags::USER_RW).unwrap().raw());
    }

    pub fn clear(&mut self, t: u64, idx: usize) {
        self.write(t, idx, 0);
    }

    pub fn tlbie(&mut self, ops: &[TlbieOperands]) -> InvalidateSummary {
        self.m.invalidate(0, false, LPID, ops).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn tlbiel(&mut self, cpu: usize, ops: &[TlbieOperands]) -> InvalidateSummary {
        self.m.invalidate(cpu, true, LPID, ops).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn run(&mut self, cpu: usize, pid: Option<u32>) {
        self.m.switch(cpu, LPID, pid).unwrap();
    }

    /// A path PGD -> PUD(0) -> PMD(0) for (LPID, pid), root set.
    pub fn process(&mut self, pid: u32) -> (u64, u64, u64) {
        self.process_in(LPID, pid)
    }

    /// The same for (lpid, pid).
    pub fn process_in(&mut self, lpid: u32, pid: u32) -> (u64, u64, u64) {
        let pgd = self.alloc(Level::Pgd);
        let pud = self.alloc(Level::Pud);
        let pmd = self.alloc(Level::Pmd);
        self.m.set_root(lpid, pid, Some(pgd)).unwrap();
        self.link(pgd, 0, pud, Level::Pud);
        self.link(pud, 0, pmd, Level::Pmd);
        (pgd, pud, pmd)
    }
}

/// By-EA flush of `ea` at `size` for PID (LPID 0).
pub fn va(ea: u64, size: PageSize) -> TlbieOperands {
    tlbie_va(ea, PID, LPID, size).unwrap()
}

pub fn va_pid(ea: u64, pid: u32, size: PageSize) -> TlbieOperands {
    tlbie_va(ea, pid, LPID, size).unwrap()
}

pub fn pid_op(ric: Ric) -> TlbieOperands {
    tlbie_pid(PID, LPID, ric)
}

/// Linux `_tlbiel_pid` over `sets` sets.
pub fn local_pid(ric: Ric, sets: u32) -> Vec<TlbieOperands> {
    tlbiel_pid_sets(PID, LPID, ric, sets).collect()
}

pub fn local_set(set: u32, ric: Ric) -> TlbieOperands {
    tlbiel_pid(PID, LPID, set, ric).unwrap()
}

pub fn rs(pid: u32) -> u64 {
    rs_pid(pid, LPID)
}

/// The THP fixture: PID 7's tree PGD -> PUD -> PMD, and at PMD index 1 (EA
/// 2 MB, the "slot") a PTE table holding 32 x 64K leaves of the 2 MB folio
/// at `FOLIO` (a split THP). `running` CPUs run PID 7.
pub struct Thp {
    pub w: W,
    pub pgd: u64,
    pub pud: u64,
    pub pmd: u64,
    pub pte: u64,
}

pub const SLOT: usize = 1;
pub const SLOT_EA: u64 = 0x20_0000;

impl Thp {
    pub fn new(ncpus: usize, running: &[usize]) -> Thp {
        let mut w = W::new(G, ncpus);
        let (pgd, pud, pmd) = w.process(PID);
        let pte = w.alloc(Level::Pte);
        for i in 0..32 {
            w.map(pte, i, FOLIO + i as u64 * 0x1_0000, PageSize::Size64K);
        }
        w.link(pmd, SLOT, pte, Level::Pte);
        for &c in running {
            w.run(c, Some(PID));
        }
        Thp { w, pgd, pud, pmd, pte }
    }

    /// zap_pte_range: clear the 32 leaves.
    pub fn clear_leaves(&mut self) {
        for i in 0..32 {
            self.w.clear(self.pte, i);
        }
    }

    /// pmd_clear of the slot (unlinks the PTE table).
    pub fn unlink(&mut self) {
        self.w.clear(self.pmd, SLOT);
    }

    /// The 32 by-EA 64K flushes of the slot.
    pub fn flush_64k(&mut self) {
        let ops: Vec<_> = (0..32).map(|i| va(SLOT_EA + i * 0x1_0000, PageSize::Size64K)).collect();
        self.w.tlbie(&ops);
    }

    pub fn free_folio(&mut self) -> Result<(), Leftovers> {
        self.w.m.check_free_page(FOLIO, 0x20_0000)
    }
}
