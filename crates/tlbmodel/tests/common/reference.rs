//! A brute-force reference model: every CPU's TLB and PWC sets are explicit,
//! and after every event (and every part of every invalidation) each CPU
//! that runs a PID adds everything it can reach — from the root and through
//! every PWC entry it holds for that PID, to a fixpoint — to its sets.
//! Nothing is implicit and nothing is incremental, so it is slow and easy to
//! check by reading.

use std::collections::{BTreeMap, BTreeSet};

use radix::{EntryView, Geometry, Level, PageSize, TlbieOperands};
use tlbmodel::rules::{rule, Effect, Selector};
use tlbmodel::{Cached, Holding, PwcEntry, TlbEntry};

/// What an error was, to compare with the model's.
pub type Kind = &'static str;

pub fn kind(e: &tlbmodel::ModelError) -> Kind {
    use tlbmodel::ModelError::*;
    match e {
        UnknownOp { .. } => "UnknownOp",
        UnknownTable { .. } => "UnknownTable",
        OutOfSync { .. } => "OutOfSync",
        DoubleAlloc { .. } => "DoubleAlloc",
        BadCpu { .. } => "BadCpu",
        BadTable { .. } => "BadTable",
        BadIndex { .. } => "BadIndex",
        BadEntry { .. } => "BadEntry",
        BadRoot { .. } => "BadRoot",
    }
}

/// A leftover as compared: (cpu, what, holding).
pub type Item = (Option<usize>, Cached, Holding);

#[derive(Clone, Debug)]
struct RTable {
    bytes: u64,
    level: Option<Level>,
    entries: BTreeMap<u32, u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RTarget {
    Va { lpid: u32, pid: u32, size: PageSize, page: u64 },
    Pid { lpid: u32, pid: u32 },
    Lpid { lpid: u32 },
    All,
}

impl RTarget {
    fn tlb(&self, e: &TlbEntry) -> bool {
        match *self {
            RTarget::Va { lpid, pid, size, page } => {
                e.lpid == lpid && e.pid == pid && e.size == size && e.ea == page
            }
            RTarget::Pid { lpid, pid } => e.lpid == lpid && e.pid == pid,
            RTarget::Lpid { lpid } => e.lpid == lpid,
            RTarget::All => true,
        }
    }

    fn pwc(&self, e: &PwcEntry) -> bool {
        match *self {
            RTarget::Va { .. } => false,
            RTarget::Pid { lpid, pid } => e.lpid == lpid && e.pid == pid,
            RTarget::Lpid { lpid } => e.lpid == lpid,
            RTarget::All => true,
        }
    }
}

struct ROp {
    tlb: bool,
    pwc: bool,
    by_set: bool,
    set: u32,
    target: Option<RTarget>,
}

#[derive(Clone, Debug)]
pub struct Reference {
    geom: Geometry,
    tlb_sets: u32,
    tables: BTreeMap<u64, RTable>,
    /// child -> (parent, index) for every valid link.
    links: BTreeMap<u64, (u64, u32)>,
    roots: BTreeMap<(u32, u32), u64>,
    running: Vec<Option<(u32, u32)>>,
    pub tlb: Vec<BTreeSet<TlbEntry>>,
    pub pwc: Vec<BTreeSet<PwcEntry>>,
}

/// Everything found walking from some starts.
#[derive(Default)]
struct Found {
    tlb: BTreeSet<TlbEntry>,
    pwc: BTreeSet<PwcEntry>,
}

impl Reference {
    pub fn new(geom: Geometry, ncpus: usize, tlb_sets: u32) -> Reference {
        Reference {
            geom,
            tlb_sets,
            tables: BTreeMap::new(),
            links: BTreeMap::new(),
            roots: BTreeMap::new(),
            running: vec![None; ncpus],
            tlb: vec![BTreeSet::new(); ncpus],
            pwc: vec![BTreeSet::new(); ncpus],
        }
    }

    pub fn entry(&self, t: u64, idx: u32) -> u64 {
        self.tables.get(&t).and_then(|x| x.entries.get(&idx).copied()).unwrap_or(0)
    }

    pub fn is_live(&self, t: u64) -> bool {
        self.tables.contains_key(&t)
    }

    fn linked_here(&self, t: u64, idx: u32, v: u64) -> Option<u64> {
        match EntryView::of(v) {
            EntryView::Table(d) if self.links.get(&d.next_table_pa()) == Some(&(t, idx)) => {
                Some(d.next_table_pa())
            }
            _ => None,
        }
    }

    /// Walk table `t` as a table of `level` for (lpid, pid) whose first EA is
    /// `base`, recursively.
    fn walk(&self, lpid: u32, pid: u32, t: u64, level: Level, base: u64, out: &mut Found) {
        let Some(tab) = self.tables.get(&t) else { return };
        let shift = self.geom.level_shift(level);
        for (&i, &v) in &tab.entries {
            let ea = base + ((i as u64) << shift);
            match EntryView::of(v) {
                EntryView::Leaf(p) => {
                    if let Some(size) = self.geom.leaf_page_size(level) {
                        let pa = p.pa() & !(size.bytes() - 1);
                        out.tlb.insert(TlbEntry { lpid, pid, size, ea, pa });
                    }
                }
                EntryView::Table(_) => {
                    if let (Some(child), Some(next)) = (self.linked_here(t, i, v), level.next()) {
                        out.pwc.insert(PwcEntry { lpid, pid, level, ea, next: child });
                        self.walk(lpid, pid, child, next, ea, out);
                    }
                }
                _ => {}
            }
        }
    }

    fn walk_root(&self, lpid: u32, pid: u32, out: &mut Found) {
        if let Some(&r) = self.roots.get(&(lpid, pid)) {
            self.walk(lpid, pid, r, Level::Pgd, 0, out);
        }
    }

    fn walk_pwc(&self, e: &PwcEntry, out: &mut Found) {
        if let Some(next) = e.level.next() {
            self.walk(e.lpid, e.pid, e.next, next, e.ea, out);
        }
    }

    /// Each CPU adds what it can reach for the PID it runs, to a fixpoint.
    fn accumulate(&mut self) {
        for c in 0..self.running.len() {
            let Some((lpid, pid)) = self.running[c] else { continue };
            loop {
                let mut f = Found::default();
                self.walk_root(lpid, pid, &mut f);
                for e in self.pwc[c].iter().filter(|e| (e.lpid, e.pid) == (lpid, pid)) {
                    self.walk_pwc(e, &mut f);
                }
                let before = (self.tlb[c].len(), self.pwc[c].len());
                self.tlb[c].extend(f.tlb);
                self.pwc[c].extend(f.pwc);
                if before == (self.tlb[c].len(), self.pwc[c].len()) {
                    break;
                }
            }
        }
    }

    /// Live: through the tree of the PID the CPU runs. Reach: that plus
    /// through every PWC entry it holds, any PID.
    fn live_and_reach(&self, c: usize) -> (Found, Found) {
        let mut live = Found::default();
        if let Some((lpid, pid)) = self.running[c] {
            self.walk_root(lpid, pid, &mut live);
        }
        let mut reach = Found::default();
        if let Some((lpid, pid)) = self.running[c] {
            self.walk_root(lpid, pid, &mut reach);
        }
        for e in &self.pwc[c] {
            self.walk_pwc(e, &mut reach);
        }
        (live, reach)
    }

    fn mapped(&self) -> Found {
        let mut f = Found::default();
        for &(lpid, pid) in self.roots.keys() {
            self.walk_root(lpid, pid, &mut f);
        }
        f
    }

    pub fn table_alloc(&mut self, pa: u64, bytes: u64) -> Result<(), Kind> {
        if !Level::ALL.iter().any(|&l| self.geom.table_bytes(l) == bytes) || !pa.is_multiple_of(bytes) {
            return Err("BadTable");
        }
        if self.tables.iter().any(|(&t, x)| t < pa + bytes && pa < t + x.bytes) {
            return Err("DoubleAlloc");
        }
        self.tables.insert(pa, RTable { bytes, level: None, entries: BTreeMap::new() });
        Ok(())
    }

    pub fn store(&mut self, t: u64, index: usize, old: u64, new: u64) -> Result<(), Kind> {
        let tab = self.tables.get(&t).ok_or("UnknownTable")?;
        if index as u64 >= tab.bytes / 8 {
            return Err("BadIndex");
        }
        let idx = index as u32;
        if tab.entries.get(&idx).copied().unwrap_or(0) != old {
            return Err("OutOfSync");
        }
        if old == new {
            return Ok(());
        }
        let level = tab.level;
        let old_link = self.linked_here(t, idx, old);
        let mut new_link = None;
        match EntryView::of(new) {
            EntryView::Table(d) => {
                let level = level.ok_or("BadEntry")?;
                let child_level = level.next().ok_or("BadEntry")?;
                let child = d.next_table_pa();
                let c = self.tables.get(&child).ok_or("BadEntry")?;
                if d.table_bytes() != c.bytes {
                    return Err("BadEntry");
                }
                if old_link != Some(child) {
                    if child == t
                        || self.links.contains_key(&child)
                        || self.roots.values().any(|&r| r == child)
                        || c.level.is_some_and(|l| l != child_level)
                        || c.bytes != self.geom.table_bytes(child_level)
                    {
                        return Err("BadEntry");
                    }
                    new_link = Some((child, child_level));
                }
            }
            EntryView::Leaf(_) if level == Some(Level::Pgd) => return Err("BadEntry"),
            _ => {}
        }
        if let Some(c) = old_link {
            // The old link goes unless the new value is the same link.
            let same = matches!(EntryView::of(new), EntryView::Table(d) if d.next_table_pa() == c);
            if !same {
                self.links.remove(&c);
            }
        }
        if let Some((child, child_level)) = new_link {
            self.links.insert(child, (t, idx));
            let c = self.tables.get_mut(&child).unwrap();
            c.level.get_or_insert(child_level);
        }
        let tab = self.tables.get_mut(&t).unwrap();
        if new == 0 {
            tab.entries.remove(&idx);
        } else {
            tab.entries.insert(idx, new);
        }
        self.accumulate();
        Ok(())
    }

    pub fn set_root(&mut self, lpid: u32, pid: u32, root: Option<u64>) -> Result<(), Kind> {
        if self.roots.get(&(lpid, pid)).copied() == root {
            return Ok(());
        }
        if let Some(r) = root {
            let t = self.tables.get(&r).ok_or("UnknownTable")?;
            if self.roots.values().any(|&x| x == r)
                || self.links.contains_key(&r)
                || t.level.is_some_and(|l| l != Level::Pgd)
                || t.bytes != self.geom.table_bytes(Level::Pgd)
                || t.entries.values().any(|&v| matches!(EntryView::of(v), EntryView::Leaf(_)))
            {
                return Err("BadRoot");
            }
        }
        match root {
            Some(r) => {
                self.roots.insert((lpid, pid), r);
                self.tables.get_mut(&r).unwrap().level = Some(Level::Pgd);
            }
            None => {
                self.roots.remove(&(lpid, pid));
            }
        }
        self.accumulate();
        Ok(())
    }

    pub fn switch(&mut self, cpu: usize, lpid: u32, pid: Option<u32>) -> Result<(), Kind> {
        if cpu >= self.running.len() {
            return Err("BadCpu");
        }
        self.running[cpu] = pid.map(|p| (lpid, p));
        self.accumulate();
        Ok(())
    }

    fn decode(&self, op: &TlbieOperands, local: bool, lpidr: u32) -> Result<ROp, Kind> {
        if op.r != 1 || op.prs > 1 || op.ric > 3 {
            return Err("UnknownOp");
        }
        let is = ((op.rb >> 10) & 3) as u8;
        let (sel, tlb, pwc, by_set) = match rule(is, op.ric, op.prs, local).effect {
            Effect::Invalid(_) => return Err("UnknownOp"),
            Effect::PartitionScoped => (None, false, false, false),
            Effect::Process { sel, tlb, pwc, tlb_by_set } => (Some(sel), tlb, pwc, tlb_by_set),
        };
        let set = ((op.rb >> 12) & 0xFFF) as u32;
        if local && is != 0 && ((op.ric == 1 && set != 0) || set >= self.tlb_sets) {
            return Err("UnknownOp");
        }
        let lpid = if local { lpidr } else { op.rs as u32 };
        let pid = (op.rs >> 32) as u32;
        let mut size = PageSize::Size4K;
        if is == 0 {
            size = match (op.rb >> 5) & 7 {
                0 => PageSize::Size4K,
                5 => PageSize::Size64K,
                1 => PageSize::Size2M,
                2 => PageSize::Size1G,
                _ => return Err("UnknownOp"),
            };
            if op.prs == 1 && op.rb >> 52 != 0 {
                return Err("UnknownOp");
            }
        }
        let target = sel.map(|s| match s {
            Selector::Va => RTarget::Va { lpid, pid, size, page: (op.rb & !0xFFF) & !(size.bytes() - 1) },
            Selector::Pid => RTarget::Pid { lpid, pid },
            Selector::Lpid => RTarget::Lpid { lpid },
            Selector::All => RTarget::All,
        });
        Ok(ROp { tlb, pwc, by_set, set: if is != 0 { set } else { 0 }, target })
    }

    pub fn invalidate(
        &mut self,
        issuer: usize,
        local: bool,
        lpidr: u32,
        ops: &[TlbieOperands],
    ) -> Result<(), Kind> {
        if issuer >= self.running.len() {
            return Err("BadCpu");
        }
        let decoded = ops.iter().map(|o| self.decode(o, local, lpidr)).collect::<Result<Vec<_>, _>>()?;
        let cpus: Vec<usize> = if local { vec![issuer] } else { (0..self.running.len()).collect() };
        let mut sweeps: Vec<(RTarget, BTreeSet<u32>)> = Vec::new();
        for d in decoded {
            let Some(target) = d.target else { continue };
            if d.pwc && (!local || d.set == 0) {
                for &c in &cpus {
                    self.pwc[c].retain(|e| !target.pwc(e));
                }
                self.accumulate();
            }
            if !d.tlb {
                continue;
            }
            let apply = if d.by_set {
                let pos = match sweeps.iter().position(|s| s.0 == target) {
                    Some(p) => p,
                    None => {
                        sweeps.push((target, BTreeSet::new()));
                        sweeps.len() - 1
                    }
                };
                sweeps[pos].1.insert(d.set);
                if sweeps[pos].1.len() == self.tlb_sets as usize {
                    sweeps[pos].1.clear();
                    true
                } else {
                    false
                }
            } else {
                true
            };
            if apply {
                for &c in &cpus {
                    self.tlb[c].retain(|e| !target.tlb(e));
                }
                self.accumulate();
            }
        }
        Ok(())
    }

    pub fn check_free_page(&mut self, pa: u64, bytes: u64) -> BTreeSet<Item> {
        let end = pa.saturating_add(bytes);
        let hit = |e: &TlbEntry| e.pa < end && e.pa + e.size.bytes() > pa;
        let mut items: BTreeMap<(Option<usize>, Cached), Holding> = BTreeMap::new();
        for e in self.mapped().tlb.iter().filter(|e| hit(e)) {
            items.insert((None, Cached::Tlb(*e)), Holding::Mapped);
        }
        for c in 0..self.running.len() {
            let (live, reach) = self.live_and_reach(c);
            let cands: BTreeSet<TlbEntry> =
                self.tlb[c].iter().chain(reach.tlb.iter()).copied().filter(hit).collect();
            for e in cands {
                let h = if live.tlb.contains(&e) {
                    Holding::Live
                } else if reach.tlb.contains(&e) {
                    Holding::ViaWalkCache
                } else {
                    Holding::Stale
                };
                items.insert((Some(c), Cached::Tlb(e)), h);
                if h == Holding::Stale {
                    self.tlb[c].remove(&e);
                }
            }
        }
        self.accumulate();
        items.into_iter().map(|((c, w), h)| (c, w, h)).collect()
    }

    pub fn table_free(&mut self, t: u64, bytes: u64) -> Result<BTreeSet<Item>, Kind> {
        let tab = self.tables.get(&t).ok_or("UnknownTable")?;
        if tab.bytes != bytes {
            return Err("BadTable");
        }
        let pwc = |e: PwcEntry| Cached::Pwc { entry: e, span: 1u64 << self.geom.level_shift(e.level) };
        let mut items: BTreeMap<(Option<usize>, Cached), Holding> = BTreeMap::new();
        for (&(lpid, pid), &r) in &self.roots {
            if r == t {
                let what = Cached::Root { lpid, pid, table: t };
                items.insert((None, what), Holding::Mapped);
                for c in 0..self.running.len() {
                    if self.running[c] == Some((lpid, pid)) {
                        items.insert((Some(c), what), Holding::Live);
                    }
                }
            }
        }
        for e in self.mapped().pwc.iter().filter(|e| e.next == t) {
            items.insert((None, pwc(*e)), Holding::Mapped);
        }
        for c in 0..self.running.len() {
            let (live, reach) = self.live_and_reach(c);
            let cands: BTreeSet<PwcEntry> =
                self.pwc[c].iter().chain(reach.pwc.iter()).copied().filter(|e| e.next == t).collect();
            for e in cands {
                let h = if live.pwc.contains(&e) {
                    Holding::Live
                } else if reach.pwc.contains(&e) {
                    Holding::ViaWalkCache
                } else {
                    Holding::Stale
                };
                items.insert((Some(c), pwc(e)), h);
            }
        }
        // Forget the table.
        for set in &mut self.pwc {
            set.retain(|e| e.next != t);
        }
        self.roots.retain(|_, r| *r != t);
        self.links.remove(&t);
        self.links.retain(|_, (p, _)| *p != t);
        self.tables.remove(&t);
        self.accumulate();
        Ok(items.into_iter().map(|((c, w), h)| (c, w, h)).collect())
    }
}
