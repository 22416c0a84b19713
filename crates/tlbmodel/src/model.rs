//! The model: page-table pages and their entries, process roots, what each
//! CPU runs, and the explicit *stale* sets. See the crate docs for the
//! representation and its invariant.

use crate::plan::{va_key, Plan, RecordKey, Step};
use crate::report::{
    Cached, FlushRecord, FreeError, Freed, Holding, Holdings, InvalidateSummary, Leftover, Leftovers,
    ModelError, PwcEntry, Stats, TlbEntry,
};
use crate::rules::Target;
use crate::stale::{
    cpu_bit, cpus_of, keep, pwc_bounds, tlb_bounds, Overlay, Stale, GROUP, PWC_MAX, PWC_MIN, TLB_MIN,
    YOUNG_MAX,
};
use crate::tables::{leaf_bucket, sem, size_index, walk, Found, LeafIndex, Sem, Table, Tables};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use radix::tlbie::TLBIEL_SET_MAX;
use radix::{EntryView, Geometry, Level, PageSize, TlbieOperands};

/// Items a [`Leftovers`] shows unless [`Model::with_report_limit`] says
/// otherwise.
pub const DEFAULT_REPORT_LIMIT: usize = 8;

/// A way for CPUs of one group to walk a table: the (lpid, pid) they walk
/// it as, and the EA the table's first entry translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct View {
    group: u32,
    /// The CPUs of the group (never 0).
    bits: u64,
    lpid: u32,
    pid: u32,
    base: u64,
    /// Through the current tree from the root of the PID the CPUs run (else
    /// through a stale page-walk-cache entry).
    tree: bool,
}

/// A table's ancestors (itself first) with its offset inside each and
/// whether stale page-walk-cache records point at it, and the root it
/// hangs under.
struct Chain {
    items: [(u64, u64, bool); 4],
    len: usize,
    /// (lpid, pid) of the root at the top and the table's first EA.
    anchor: Option<((u32, u32), u64)>,
}

/// The last invalidation per target, for messages.
#[derive(Clone, Debug, Default)]
struct FlushLog {
    by_pid: BTreeMap<(u32, u32), FlushRecord>,
    by_lpid: BTreeMap<u32, FlushRecord>,
    all: Option<FlushRecord>,
}

impl FlushLog {
    fn last_for(&self, lpid: u32, pid: u32) -> Option<FlushRecord> {
        let cands = [self.by_pid.get(&(lpid, pid)).copied(), self.by_lpid.get(&lpid).copied(), self.all];
        cands.into_iter().flatten().max_by_key(|r| (r.seq, r.index))
    }
}

/// Buffers the hot calls reuse instead of allocating.
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// `store`: its views.
    views: Vec<View>,
    /// `invalidate`: stale records an op empties, the overlay, walk-cache
    /// victims and the leaves below one.
    emptied: Vec<(TlbEntry, u32)>,
    overlay: Overlay,
    victims: Vec<(PwcEntry, u32, u64)>,
    batch: Vec<(TlbEntry, u32, u64)>,
    /// `check_free_page`: the tables of the buckets it looks at.
    tables: Vec<u64>,
}

/// A reported item: which CPU (none: mapped), and what.
type ItemKey = (Option<u32>, Cached);

/// Why, and the entry (table, index) that maps or links it.
type ItemWhy = (Holding, Option<(u64, u32)>);

/// Items found for a report, deduplicated, strongest holding kept.
#[derive(Default)]
struct Report {
    items: BTreeMap<ItemKey, ItemWhy>,
}

impl Report {
    fn note(&mut self, cpu: Option<u32>, what: Cached, holding: Holding, at: Option<(u64, u32)>) {
        let slot = self.items.entry((cpu, what)).or_insert((holding, at));
        if holding > slot.0 {
            *slot = (holding, at);
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    table_allocs: u64,
    stores: u64,
    set_roots: u64,
    switches: u64,
    invalidates: u64,
    ops: u64,
    page_checks: u64,
    table_frees: u64,
    errors: u64,
    bad_frees: u64,
    leftovers: u64,
    partial_sweeps: u64,
    materialized: u64,
}

/// What a POWER9 radix MMU may still cache, per CPU. See the crate docs.
#[derive(Clone, Debug)]
pub struct Model {
    geom: Geometry,
    tlb_sets: u32,
    report_limit: usize,
    tables: Tables,
    roots: BTreeMap<(u32, u32), u64>,
    running: Vec<Option<(u32, u32)>>,
    /// Per (lpid, pid) someone runs: the CPUs running it, per group.
    run_masks: BTreeMap<(u32, u32), Vec<u64>>,
    /// The last sequence `invalidate` compiled (boxed: it moves out and
    /// back on every call).
    plan: Option<alloc::boxed::Box<Plan>>,
    scratch: Scratch,
    /// Valid leaves of leveled tables, by real address.
    leaves: LeafIndex,
    stale: Stale,
    flushes: FlushLog,
    seq: u64,
    n: Counters,
}

impl Model {
    /// A model of `ncpus` CPUs walking trees of geometry `geom`, whose TLBs
    /// have `tlb_sets` congruence classes (128 on POWER9 radix; clamped to
    /// 1..=4096). No tables, no roots, every CPU kernel-only.
    pub fn new(geom: Geometry, ncpus: usize, tlb_sets: u32) -> Model {
        Model {
            geom,
            tlb_sets: tlb_sets.clamp(1, TLBIEL_SET_MAX + 1),
            report_limit: DEFAULT_REPORT_LIMIT,
            tables: Tables::default(),
            roots: BTreeMap::new(),
            running: vec![None; ncpus],
            run_masks: BTreeMap::new(),
            plan: None,
            scratch: Scratch::default(),
            leaves: LeafIndex::default(),
            stale: Stale { young_max: YOUNG_MAX, ..Stale::default() },
            flushes: FlushLog::default(),
            seq: 0,
            n: Counters::default(),
        }
    }

    /// Show at most `limit` items in each [`Leftovers`] (the total is always
    /// counted).
    pub fn with_report_limit(mut self, limit: usize) -> Model {
        self.report_limit = limit;
        self
    }

    /// Keep at most `n` new stale TLB records in the sorted buffer in front
    /// of their B-tree (default 1024), moving those there now if more.
    /// Changes no answer: for tests that exercise both.
    #[doc(hidden)]
    pub fn with_stale_buffer(mut self, n: usize) -> Model {
        self.stale.young_max = n;
        let young = core::mem::take(&mut self.stale.young);
        self.stale.tlb.extend(young.into_iter().map(|(e, g, b)| ((e, g), b)));
        self
    }

    /// CPUs modelled.
    pub fn ncpus(&self) -> usize {
        self.running.len()
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.geom
    }

    fn err<T>(&mut self, e: ModelError) -> Result<T, ModelError> {
        self.n.errors += 1;
        Err(e)
    }

    fn check_cpu(&mut self, cpu: usize) -> Result<(), ModelError> {
        if cpu >= self.running.len() {
            return self.err(ModelError::BadCpu { cpu, ncpus: self.running.len() });
        }
        Ok(())
    }

    /// A zeroed, unlinked page-table page of `bytes` now exists at `pa`.
    /// `bytes` must be one of the geometry's table sizes and `pa` aligned to
    /// it; the memory must not overlap a live table.
    pub fn table_alloc(&mut self, pa: u64, bytes: u64) -> Result<(), ModelError> {
        self.n.table_allocs += 1;
        if !Level::ALL.iter().any(|&l| self.geom.table_bytes(l) == bytes) {
            return self.err(ModelError::BadTable { pa, bytes, why: "not a table size of the geometry" });
        }
        if pa & (bytes - 1) != 0 {
            return self.err(ModelError::BadTable { pa, bytes, why: "not aligned to its size" });
        }
        let end = pa.saturating_add(bytes);
        let clash =
            self.tables.last_below(end).filter(|tab| tab.pa.saturating_add(tab.bytes) > pa).map(|tab| tab.pa);
        if let Some(existing) = clash {
            return self.err(ModelError::DoubleAlloc { pa, bytes, existing });
        }
        self.tables.insert(Table::new(pa, bytes));
        Ok(())
    }

    /// Entry `index` of the table at `table_pa` changes from `old` to `new`
    /// (logical values). Every write the MMU can see must be reported, in
    /// order; `old` must be what the model recorded.
    pub fn store(&mut self, table_pa: u64, index: usize, old: u64, new: u64) -> Result<(), ModelError> {
        self.n.stores += 1;
        let Some(id) = self.tables.id(table_pa) else {
            return self.err(ModelError::UnknownTable { pa: table_pa });
        };
        let tab = self.tables.at(id);
        let entries = tab.bytes / 8;
        if index as u64 >= entries {
            return self.err(ModelError::BadIndex { table: table_pa, index, entries });
        }
        let idx = index as u32;
        let recorded = tab.entries.get(idx);
        if recorded != old {
            return self.err(ModelError::OutOfSync { table: table_pa, index, model: recorded, kernel: old });
        }
        if old == new {
            return Ok(());
        }
        let level = tab.level;
        let old_sem = sem(&self.tables, &self.geom, table_pa, level, idx, old);
        let new_sem = match self.check_new(table_pa, level, idx, new, old_sem) {
            Ok(s) => s,
            Err(why) => return self.err(ModelError::BadEntry { table: table_pa, index, value: new, why }),
        };
        if old_sem == Sem::None || old_sem != new_sem {
            if old_sem != Sem::None {
                let level = level.expect("a cacheable entry is in a leveled table");
                let ea_off = (idx as u64) << self.geom.level_shift(level);
                let mut views = core::mem::take(&mut self.scratch.views);
                views.clear();
                self.views(table_pa, false, &mut views);
                for v in &views {
                    let ea = v.base + ea_off;
                    match old_sem {
                        Sem::Leaf { size, pa } => {
                            let e = TlbEntry { lpid: v.lpid, pid: v.pid, size, ea, pa };
                            self.stale.add_tlb(v.group, v.bits, e);
                        }
                        Sem::Dir { child } => {
                            let e = PwcEntry { lpid: v.lpid, pid: v.pid, level, ea, next: child };
                            self.add_pwc(v.group, v.bits, e);
                        }
                        Sem::None => {}
                    }
                }
                self.scratch.views = keep(views);
                match old_sem {
                    Sem::Leaf { size, pa } => {
                        self.leaves.remove(self.tables.at_mut(id), size, pa);
                    }
                    Sem::Dir { child } => {
                        if let Some(c) = self.tables.get_mut(child) {
                            c.parent = None;
                        }
                    }
                    Sem::None => {}
                }
            }
            match new_sem {
                Sem::Leaf { size, pa } => {
                    self.leaves.add(self.tables.at_mut(id), size, pa);
                }
                Sem::Dir { child } => {
                    let level =
                        level.and_then(Level::next).expect("checked: a directory entry above PTE level");
                    self.link(child, table_pa, idx, level);
                }
                Sem::None => {}
            }
        }
        self.tables.at_mut(id).entries.set(idx, new);
        Ok(())
    }

    /// Validate `new` at (t, idx) and say what it will mean.
    fn check_new(
        &self,
        t: u64,
        level: Option<Level>,
        idx: u32,
        new: u64,
        old_sem: Sem,
    ) -> Result<Sem, &'static str> {
        match EntryView::of(new) {
            EntryView::Table(d) => {
                let Some(level) = level else {
                    return Err("directory entry in a table that was never linked: link tables top-down");
                };
                let Some(child_level) = level.next() else {
                    return Err("directory entry in a PTE-level table");
                };
                let child = d.next_table_pa();
                let Some(c) = self.tables.get(child) else {
                    return Err("points at no live table (missing table_alloc?)");
                };
                if d.table_bytes() != c.bytes {
                    return Err("NLS does not match the size of the table it points at");
                }
                if old_sem == (Sem::Dir { child }) {
                    return Ok(old_sem);
                }
                if child == t {
                    return Err("points at its own table");
                }
                if c.parent.is_some() {
                    return Err("points at a table that is already linked elsewhere");
                }
                if c.root_of.is_some() {
                    return Err("points at a process-table root");
                }
                if c.level.is_some_and(|l| l != child_level) {
                    return Err("points at a table that was linked at another level");
                }
                if c.bytes != self.geom.table_bytes(child_level) {
                    return Err("points at a table whose size does not fit the next level");
                }
                Ok(Sem::Dir { child })
            }
            EntryView::Leaf(_) if level == Some(Level::Pgd) => {
                Err("leaf in a PGD-level table (no 512G pages)")
            }
            _ => Ok(sem(&self.tables, &self.geom, t, level, idx, new)),
        }
    }

    /// Link `child` at (parent, idx) as a table of `level`; a table linked
    /// for the first time gets its level and its leaves are indexed.
    fn link(&mut self, child: u64, parent: u64, idx: u32, level: Level) {
        let geom = self.geom;
        let parent_id = self.tables.id(parent).expect("checked: a live parent");
        let parent_level = self.tables.at(parent_id).level.expect("checked: a leveled parent");
        let c = self.tables.get_mut(child).expect("checked: a live table");
        c.parent = Some((parent, idx));
        c.parent_id = parent_id;
        c.parent_off = (idx as u64) << geom.level_shift(parent_level);
        if c.level.is_none() {
            c.level = Some(level);
            if let Some(size) = geom.leaf_page_size(level) {
                for (_, v) in c.entries.iter() {
                    if let EntryView::Leaf(p) = EntryView::of(v) {
                        self.leaves.add_to(&mut c.leaves, c.pa, size, p.pa() & !(size.bytes() - 1));
                    }
                }
            }
        }
    }

    fn chain(&self, t: u64) -> Chain {
        let mut ch = Chain { items: [(t, 0, false); 4], len: 1, anchor: None };
        let Some(mut id) = self.tables.id(t) else { return ch };
        let mut off = 0u64;
        ch.len = 0;
        loop {
            // A parent is always live: freeing a table unlinks its children.
            let tab = self.tables.at(id);
            ch.items[ch.len] = (tab.pa, off, tab.pwc_refs > 0);
            ch.len += 1;
            match tab.parent {
                Some(_) if ch.len < 4 => {
                    off += tab.parent_off;
                    id = tab.parent_id;
                }
                Some(_) => break,
                None => {
                    ch.anchor = tab.root_of.map(|lp| (lp, off));
                    break;
                }
            }
        }
        ch
    }

    /// The CPUs of group `g` that run (lpid, pid).
    fn running_bits(&self, lpid: u32, pid: u32, g: u32) -> u64 {
        self.run_masks.get(&(lpid, pid)).and_then(|w| w.get(g as usize)).copied().unwrap_or(0)
    }

    /// The CPUs of group `g` an invalidation by `issuer` reaches.
    fn scope_bits(issuer: usize, local: bool, g: u32) -> u64 {
        match (local, cpu_bit(issuer as u32)) {
            (false, _) => u64::MAX,
            (true, (ig, bit)) if ig == g => bit,
            (true, _) => 0,
        }
    }

    /// The ways CPUs can walk `t` now: through the tree from the root of the
    /// PID they run, and through stale page-walk-cache entries pointing at
    /// `t` or an ancestor — only those of the PID the CPU runs unless
    /// `dormant` (a CPU walks for its current PID only, but may switch back).
    /// A CPU may appear in several views (through the tree and a walk-cache
    /// entry at the same EA, or several walk-cache entries): what they make
    /// explicit is a set, and reports keep the strongest holding.
    fn views(&self, t: u64, dormant: bool, out: &mut Vec<View>) -> Option<((u32, u32), u64)> {
        let ch = self.chain(t);
        for &(a, off, cached) in &ch.items[..ch.len] {
            if !cached {
                continue;
            }
            for (e, group, bits) in self.stale.pwc_to(a) {
                let bits = if dormant { bits } else { bits & self.running_bits(e.lpid, e.pid, group) };
                if bits != 0 {
                    out.push(View { group, bits, lpid: e.lpid, pid: e.pid, base: e.ea + off, tree: false });
                }
            }
        }
        if let Some(((lpid, pid), base)) = ch.anchor {
            if let Some(words) = self.run_masks.get(&(lpid, pid)) {
                for (g, &bits) in words.iter().enumerate() {
                    if bits != 0 {
                        out.push(View { group: g as u32, bits, lpid, pid, base, tree: true });
                    }
                }
            }
        }
        ch.anchor
    }

    /// Add a stale page-walk-cache entry for the CPUs `bits` of group `g`
    /// (the table it points at is live); returns how many CPUs are new.
    fn add_pwc(&mut self, g: u32, bits: u64, e: PwcEntry) -> u32 {
        let (n, created) = self.stale.add_pwc(g, bits, e);
        if created {
            if let Some(t) = self.tables.get_mut(e.next) {
                t.pwc_refs += 1;
            }
        }
        n
    }

    /// Remove a stale page-walk-cache entry from the CPUs `bits` of group
    /// `g`; returns how many held it.
    fn del_pwc(&mut self, g: u32, bits: u64, e: PwcEntry) -> u32 {
        let (n, removed) = self.stale.del_pwc(g, bits, e);
        if removed {
            if let Some(t) = self.tables.get_mut(e.next) {
                t.pwc_refs -= 1;
            }
        }
        n
    }

    /// Make everything under `t` reachable through `view` explicit stale
    /// entries of the view's CPUs (directory entries too if `with_pwc`).
    fn materialize_subtree(&mut self, t: u64, view: View, with_pwc: bool) -> u32 {
        let (tables, stale) = (&self.tables, &mut self.stale);
        let (g, bits) = (view.group, view.bits);
        let mut n = 0u32;
        let mut dirs = Vec::new();
        walk(tables, &self.geom, t, view.base, &mut |f| match f {
            Found::Leaf { ea, size, pa } => {
                n += stale.add_tlb(g, bits, TlbEntry { lpid: view.lpid, pid: view.pid, size, ea, pa });
            }
            Found::Dir { level, ea, child } => {
                if with_pwc {
                    dirs.push(PwcEntry { lpid: view.lpid, pid: view.pid, level, ea, next: child });
                }
            }
        });
        for e in dirs {
            n += self.add_pwc(g, bits, e);
        }
        self.n.materialized += n as u64;
        n
    }

    /// Make the entries of `t` itself (one level) explicit for `view`: its
    /// leaves as stale TLB entries, its directory entries as stale
    /// page-walk-cache entries (through which the CPUs still reach below).
    fn materialize_table(&mut self, t: u64, view: View) {
        let Some(tab) = self.tables.get(t) else { return };
        let Some(level) = tab.level else { return };
        let shift = self.geom.level_shift(level);
        let (g, bits) = (view.group, view.bits);
        let mut n = 0u64;
        let mut dirs = Vec::new();
        for (i, v) in tab.entries.iter() {
            let ea = view.base + ((i as u64) << shift);
            match sem(&self.tables, &self.geom, t, Some(level), i, v) {
                Sem::Leaf { size, pa } => {
                    n += self.stale.add_tlb(
                        g,
                        bits,
                        TlbEntry { lpid: view.lpid, pid: view.pid, size, ea, pa },
                    ) as u64;
                }
                Sem::Dir { child } => {
                    dirs.push(PwcEntry { lpid: view.lpid, pid: view.pid, level, ea, next: child })
                }
                Sem::None => {}
            }
        }
        for e in dirs {
            n += self.add_pwc(g, bits, e) as u64;
        }
        self.n.materialized += n;
    }

    /// The stale PWC entry's subtree is also reachable, at the same EA,
    /// through the current tree of its PID (so dropping it loses nothing for
    /// a CPU that runs that PID).
    fn redundant(&self, e: &PwcEntry) -> bool {
        self.tables.contains(e.next) && self.chain(e.next).anchor == Some(((e.lpid, e.pid), e.ea))
    }

    /// The process-table entry of (lpid, pid) now points at `root` (or is
    /// cleared). The root must be a live, unlinked table of the root size.
    pub fn set_root(&mut self, lpid: u32, pid: u32, root: Option<u64>) -> Result<(), ModelError> {
        self.n.set_roots += 1;
        let old = self.roots.get(&(lpid, pid)).copied();
        if old == root {
            return Ok(());
        }
        if let Some(r) = root {
            let Some(t) = self.tables.get(r) else {
                return self.err(ModelError::UnknownTable { pa: r });
            };
            let why = if t.root_of.is_some() {
                Some("already the root of another process")
            } else if t.parent.is_some() {
                Some("linked as a directory below another table")
            } else if t.level.is_some_and(|l| l != Level::Pgd) {
                Some("was linked below the root level")
            } else if t.bytes != self.geom.table_bytes(Level::Pgd) {
                Some("size is not the root-table size")
            } else if t.entries.iter().any(|(_, v)| matches!(EntryView::of(v), EntryView::Leaf(_))) {
                Some("holds leaf entries (no 512G pages)")
            } else {
                None
            };
            if let Some(why) = why {
                return self.err(ModelError::BadRoot { lpid, pid, root: r, why });
            }
        }
        if let Some(r0) = old {
            // CPUs running the PID lose the tree view of the old root: what
            // they reached through it is theirs to keep until invalidated.
            let words = self.run_masks.get(&(lpid, pid)).cloned().unwrap_or_default();
            for (g, &bits) in words.iter().enumerate() {
                if bits != 0 {
                    let view = View { group: g as u32, bits, lpid, pid, base: 0, tree: false };
                    self.materialize_table(r0, view);
                }
            }
            if let Some(t) = self.tables.get_mut(r0) {
                t.root_of = None;
            }
            self.roots.remove(&(lpid, pid));
        }
        if let Some(r) = root {
            let t = self.tables.get_mut(r).expect("checked above");
            t.level = Some(Level::Pgd);
            t.root_of = Some((lpid, pid));
            self.roots.insert((lpid, pid), r);
        }
        Ok(())
    }

    /// `cpu` wrote PIDR (and runs with LPIDR = `lpid`): it now runs `pid`, or
    /// only the kernel (`None`). Nothing is invalidated: what the CPU could
    /// reach for its old PID becomes stale for it.
    pub fn switch(&mut self, cpu: usize, lpid: u32, pid: Option<u32>) -> Result<(), ModelError> {
        self.n.switches += 1;
        self.check_cpu(cpu)?;
        let new = pid.map(|p| (lpid, p));
        let Some((l, p)) = self.running[cpu] else {
            self.set_running(cpu, new);
            return Ok(());
        };
        if new == Some((l, p)) {
            return Ok(());
        }
        let (group, bits) = cpu_bit(cpu as u32);
        let lo = (PwcEntry { lpid: l, pid: p, ..PWC_MIN }, 0);
        let hi = (PwcEntry { lpid: l, pid: p, ..PWC_MAX }, u32::MAX);
        let cached: Vec<PwcEntry> = self
            .stale
            .pwc
            .range(lo..=hi)
            .filter(|&(&(_, g), &held)| g == group && held & bits != 0)
            .map(|(&(e, _), _)| e)
            .collect();
        let view = View { group, bits, lpid: l, pid: p, base: 0, tree: true };
        if let Some(&r) = self.roots.get(&(l, p)) {
            self.materialize_subtree(r, view, true);
        }
        for e in cached {
            if !self.redundant(&e) {
                self.materialize_subtree(e.next, View { base: e.ea, tree: false, ..view }, true);
            }
        }
        self.set_running(cpu, new);
        Ok(())
    }

    /// `cpu` now runs `new`: keep `run_masks` in step.
    fn set_running(&mut self, cpu: usize, new: Option<(u32, u32)>) {
        let (g, bit) = cpu_bit(cpu as u32);
        if let Some(old) = self.running[cpu] {
            if let Some(w) = self.run_masks.get_mut(&old) {
                w[g as usize] &= !bit;
                if w.iter().all(|&x| x == 0) {
                    self.run_masks.remove(&old);
                }
            }
        }
        if let Some(lp) = new {
            let groups = self.running.len().div_ceil(GROUP as usize);
            self.run_masks.entry(lp).or_insert_with(|| vec![0; groups])[g as usize] |= bit;
        }
        self.running[cpu] = new;
    }

    /// One completed invalidation sequence issued by `issuer_cpu`: `tlbie`s
    /// (`local = false`, every CPU) or `tlbiel`s (`local = true`, the issuer
    /// only; `lpidr` is its LPIDR). Ops apply in order; the PWC part of an
    /// op before its TLB part. Any invalid op rejects the whole sequence
    /// (nothing applied).
    pub fn invalidate(
        &mut self,
        issuer_cpu: usize,
        local: bool,
        lpidr: u32,
        ops: &[TlbieOperands],
    ) -> Result<InvalidateSummary, ModelError> {
        self.n.invalidates += 1;
        self.check_cpu(issuer_cpu)?;
        // In IPI mode the kernel reports the same sequence for every CPU of
        // the mm's cpumask in a row: compile it once.
        let mut plan = self.plan.take().unwrap_or_default();
        if !plan.is_for(ops, local, lpidr) {
            if let Err(e) = plan.compile(ops, local, lpidr, self.tlb_sets) {
                self.plan = Some(plan);
                return self.err(ModelError::UnknownOp { index: e.index, op: e.op, local, why: e.why });
            }
        }
        let sum = self.execute(issuer_cpu, local, &plan);
        self.plan = Some(plan);
        Ok(sum)
    }

    /// Apply a compiled sequence (see `invalidate`).
    fn execute(&mut self, issuer_cpu: usize, local: bool, plan: &Plan) -> InvalidateSummary {
        let count = plan.len();
        self.n.ops += count as u64;
        self.seq += 1;
        let mut sum = InvalidateSummary {
            ops: count as u32,
            partition_scoped: plan.partition_scoped,
            sweeps: plan.sweeps,
            partial_sweeps: plan.partial_sweeps,
            ..InvalidateSummary::default()
        };
        let mut ov = core::mem::take(&mut self.scratch.overlay);
        for step in &plan.steps {
            match *step {
                Step::Pwc(target) => {
                    let (removed, mat) = self.apply_pwc(issuer_cpu, local, &target, &mut ov);
                    sum.pwc_removed += removed;
                    sum.materialized += mat;
                }
                Step::Run { wide, pages } => {
                    let wide = &plan.wide[wide.0 as usize..wide.1 as usize];
                    let pages = &plan.pages[pages.0 as usize..pages.1 as usize];
                    sum.tlb_removed += self.apply_tlb_run(issuer_cpu, local, wide, pages, &mut ov);
                }
            }
        }
        ov.finish(&mut self.stale);
        self.scratch.overlay = ov;
        for (key, d) in &plan.records {
            let rec = FlushRecord {
                seq: self.seq,
                issuer: issuer_cpu,
                local: d.local,
                lpid: d.lpid,
                op: d.op,
                index: d.index as u32,
                count: count as u32,
            };
            match *key {
                RecordKey::Pid(lpid, pid) => {
                    self.flushes.by_pid.insert((lpid, pid), rec);
                }
                RecordKey::Lpid(lpid) => {
                    self.flushes.by_lpid.insert(lpid, rec);
                }
                RecordKey::All => self.flushes.all = Some(rec),
            }
        }
        self.n.partial_sweeps += sum.partial_sweeps as u64;
        sum
    }

    /// Remove the selected stale PWC entries. A CPU that runs their PID
    /// could walk below them until now: first make what it reached through
    /// them (and not through its current tree) explicit TLB entries. Their
    /// directory entries need not be kept: they are of the same PID and go
    /// in the same invalidation.
    fn apply_pwc(&mut self, issuer: usize, local: bool, target: &Target, ov: &mut Overlay) -> (u32, u32) {
        let Some((lo, hi)) = pwc_bounds(target) else { return (0, 0) };
        if self.stale.pwc.is_empty() {
            return (0, 0);
        }
        let mut victims = core::mem::take(&mut self.scratch.victims);
        victims.clear();
        victims.extend(
            self.stale
                .pwc
                .range(lo..=hi)
                .map(|(&(e, g), &held)| (e, g, held & Self::scope_bits(issuer, local, g)))
                .filter(|&(_, _, bits)| bits != 0),
        );
        let mut mat = 0;
        let mut batch = core::mem::take(&mut self.scratch.batch);
        for &(e, group, bits) in &victims {
            let bits = bits & self.running_bits(e.lpid, e.pid, group);
            if bits != 0 && !self.redundant(&e) {
                batch.clear();
                walk(&self.tables, &self.geom, e.next, e.ea, &mut |f| {
                    if let Found::Leaf { ea, size, pa } = f {
                        batch.push((TlbEntry { lpid: e.lpid, pid: e.pid, size, ea, pa }, group, bits));
                    }
                });
                mat += ov.add(&mut self.stale, e.lpid, e.pid, &mut batch);
            }
        }
        self.n.materialized += mat as u64;
        let mut removed = 0;
        for &(e, g, bits) in &victims {
            removed += self.del_pwc(g, bits, e);
        }
        self.scratch.victims = keep(victims);
        self.scratch.batch = keep(batch);
        (removed, mat)
    }

    /// Apply a run of TLB removals (see [`Plan`]): the wide selections,
    /// then the by-EA pages (sorted, deduplicated), one ordered pass per
    /// (LPID, PID, size); returns how many (CPU, entry) pairs went.
    fn apply_tlb_run(
        &mut self,
        issuer: usize,
        local: bool,
        wide: &[Target],
        pages: &[Target],
        ov: &mut Overlay,
    ) -> u32 {
        let scope = |g| Self::scope_bits(issuer, local, g);
        let mut emptied = core::mem::take(&mut self.scratch.emptied);
        let mut removed = 0;
        for t in wide {
            let (lo, hi) = tlb_bounds(t);
            removed += ov.remove_range(&mut self.stale, lo, hi, &mut |_| true, scope);
            removed += self.stale.remove_tlb_range(lo, hi, &mut |_| true, scope, &mut emptied);
        }
        for group in pages.chunk_by(|a, b| va_key(a).0 == va_key(b).0) {
            let (lo, hi) = (tlb_bounds(&group[0]).0, tlb_bounds(&group[group.len() - 1]).1);
            let mut select = |e: &TlbEntry| group.binary_search_by_key(&e.ea, |t| va_key(t).1).is_ok();
            removed += ov.remove_range(&mut self.stale, lo, hi, &mut select, scope);
            removed += self.stale.remove_tlb_range(lo, hi, &mut select, scope, &mut emptied);
        }
        self.scratch.emptied = keep(emptied);
        removed
    }

    /// Add, for a valid entry of `t` at `idx`, who can cache it: `make(lpid,
    /// pid, ea)` builds the item from a view's (lpid, pid, entry EA).
    fn note_reach(&self, rep: &mut Report, t: u64, idx: u32, make: impl Fn(u32, u32, u64) -> Cached) {
        let Some(level) = self.tables.get(t).and_then(|tab| tab.level) else { return };
        let off = (idx as u64) << self.geom.level_shift(level);
        let at = Some((t, idx));
        let mut views = Vec::new();
        let anchor = self.views(t, true, &mut views);
        if let Some(((lpid, pid), base)) = anchor {
            rep.note(None, make(lpid, pid, base + off), Holding::Mapped, at);
        }
        for v in views {
            let holding = if v.tree { Holding::Live } else { Holding::ViaWalkCache };
            for cpu in cpus_of(v.group, v.bits) {
                rep.note(Some(cpu), make(v.lpid, v.pid, v.base + off), holding, at);
            }
        }
    }

    fn leftovers(&mut self, rep: Report, freed: Freed) -> Leftovers {
        let total = rep.items.len();
        self.n.bad_frees += 1;
        self.n.leftovers += total as u64;
        let shown = rep
            .items
            .iter()
            .take(self.report_limit)
            .map(|(&(cpu, what), &(holding, at))| {
                let (lpid, pid) = what.owner();
                Leftover {
                    cpu: cpu.map(|c| c as usize),
                    lpid,
                    pid,
                    what,
                    holding,
                    at: at.map(|(t, i)| (t, i as usize)),
                    last_flush: self.flushes.last_for(lpid, pid),
                }
            })
            .collect();
        Leftovers { freed, shown, total }
    }

    /// Real memory `[pa, pa + bytes)` is about to be freed or poisoned: no
    /// CPU may hold a translation to it, nor be able to create one (a valid
    /// leaf in a process tree, or under a table a CPU still reaches through
    /// its walk cache). On `Err` the reported stale TLB entries are purged,
    /// so one bad free is reported once.
    pub fn check_free_page(&mut self, pa: u64, bytes: u64) -> Result<(), Leftovers> {
        self.n.page_checks += 1;
        self.stale.index_by_pa();
        let end = pa.saturating_add(bytes);
        let mut rep = Report::default();
        for size in PageSize::ALL {
            let lo = pa.saturating_sub(size.bytes() - 1);
            let overlaps = |p: u64| p < end && p.saturating_add(size.bytes()) > pa;
            // Leaves whose page starts in [lo, end), by (address, table, index).
            for (lpa, t, idx) in self.leaves_in(size, lo, end) {
                if overlaps(lpa) {
                    self.note_reach(&mut rep, t, idx, |lpid, pid, ea| {
                        Cached::Tlb(TlbEntry { lpid, pid, size, ea, pa: lpa })
                    });
                }
            }
            let Some(by_pa) = &self.stale.tlb_by_pa else { continue };
            for &(_, spa, e, g) in by_pa.range((size, lo, TLB_MIN, 0)..(size, end, TLB_MIN, 0)) {
                if overlaps(spa) {
                    for cpu in cpus_of(g, self.stale.tlb_bits(&e, g)) {
                        rep.note(Some(cpu), Cached::Tlb(e), Holding::Stale, None);
                    }
                }
            }
        }
        if rep.items.is_empty() {
            return Ok(());
        }
        for (&(cpu, what), &(holding, _)) in &rep.items {
            if let (Some(cpu), Cached::Tlb(e), Holding::Stale) = (cpu, what, holding) {
                let (g, bit) = cpu_bit(cpu);
                self.stale.del_tlb(g, bit, e);
            }
        }
        Err(self.leftovers(rep, Freed::Page { pa, bytes }))
    }

    /// The valid leaves of `size` whose page starts in `[lo, end)`, as
    /// (address, table, index), sorted. Tightens the bounding ranges of the
    /// tables it scans.
    fn leaves_in(&mut self, size: PageSize, lo: u64, end: u64) -> Vec<(u64, u64, u32)> {
        let mut out = Vec::new();
        if lo >= end || self.leaves.by_size[size_index(size)] == 0 {
            return out;
        }
        let (b0, b1) = (leaf_bucket(size, lo), leaf_bucket(size, end - 1));
        let mut tabs = core::mem::take(&mut self.scratch.tables);
        tabs.clear();
        tabs.extend(self.leaves.buckets.range((size, b0, 0)..=(size, b1, u64::MAX)).map(|&(_, _, t)| t));
        if b0 != b1 {
            tabs.sort_unstable();
            tabs.dedup();
        }
        for &t in &tabs {
            let tab = self.tables.get_mut(t).expect("indexed tables are live");
            let l = &mut tab.leaves;
            if l.lo >= end || l.hi <= lo {
                continue;
            }
            let (mut min, mut max) = (u64::MAX, 0);
            for (i, v) in tab.entries.iter() {
                if let EntryView::Leaf(p) = EntryView::of(v) {
                    let lpa = p.pa() & !(size.bytes() - 1);
                    min = min.min(lpa);
                    max = max.max(lpa.saturating_add(size.bytes()));
                    if lpa >= lo && lpa < end {
                        out.push((lpa, t, i));
                    }
                }
            }
            (l.lo, l.hi) = (min, max);
        }
        self.scratch.tables = keep(tabs);
        out.sort_unstable();
        out
    }

    /// The page-table page at `pa` is about to be freed or poisoned: no CPU
    /// may hold a page-walk-cache entry pointing at it, it must not be
    /// linked in a table a CPU can reach (or in a process tree), nor be a
    /// process root. The table is forgotten either way (after reporting),
    /// and the stale PWC entries pointing at it are purged.
    pub fn table_free(&mut self, pa: u64, bytes: u64) -> Result<(), FreeError> {
        self.n.table_frees += 1;
        let Some(t) = self.tables.get(pa) else {
            self.n.errors += 1;
            return Err(FreeError::Model(ModelError::UnknownTable { pa }));
        };
        if t.bytes != bytes {
            self.n.errors += 1;
            let why = "freed with another size than table_alloc gave";
            return Err(FreeError::Model(ModelError::BadTable { pa, bytes, why }));
        }
        let mut rep = Report::default();
        if let Some((lpid, pid)) = t.root_of {
            let what = Cached::Root { lpid, pid, table: pa };
            rep.note(None, what, Holding::Mapped, None);
            for (cpu, r) in self.running.iter().enumerate() {
                if *r == Some((lpid, pid)) {
                    rep.note(Some(cpu as u32), what, Holding::Live, None);
                }
            }
        }
        if let Some((parent, idx)) = t.parent {
            if let Some(level) = self.tables.get(parent).and_then(|p| p.level) {
                let span = 1u64 << self.geom.level_shift(level);
                self.note_reach(&mut rep, parent, idx, |lpid, pid, ea| Cached::Pwc {
                    entry: PwcEntry { lpid, pid, level, ea, next: pa },
                    span,
                });
            }
        }
        for (e, g, bits) in self.stale.pwc_to(pa) {
            let span = 1u64 << self.geom.level_shift(e.level);
            for cpu in cpus_of(g, bits) {
                rep.note(Some(cpu), Cached::Pwc { entry: e, span }, Holding::Stale, None);
            }
        }
        self.forget(pa);
        if rep.items.is_empty() {
            return Ok(());
        }
        Err(FreeError::Leftovers(self.leftovers(rep, Freed::Table { pa, bytes })))
    }

    /// Drop a table: CPUs that could walk it keep what they reached through
    /// it (its leaves as TLB entries, its directory entries as PWC entries);
    /// its children become unlinked; a link to it is broken; it stops being
    /// a root; stale PWC entries pointing at it are purged.
    fn forget(&mut self, pa: u64) {
        let mut views = Vec::new();
        self.views(pa, false, &mut views);
        for v in views {
            self.materialize_table(pa, v);
        }
        let t = self.tables.remove(pa).expect("checked by the caller");
        if let Some(lp) = t.root_of {
            self.roots.remove(&lp);
        }
        if let Some(size) = t.level.and_then(|l| self.geom.leaf_page_size(l)) {
            self.leaves.drop_table(&t, size);
        }
        for (i, v) in t.entries.iter() {
            if let EntryView::Table(d) = EntryView::of(v) {
                if let Some(c) = self.tables.get_mut(d.next_table_pa()) {
                    if c.parent == Some((pa, i)) {
                        c.parent = None;
                    }
                }
            }
        }
        let purge: Vec<(PwcEntry, u32, u64)> = self.stale.pwc_to(pa).collect();
        for (e, g, bits) in purge {
            self.stale.del_pwc(g, bits, e);
        }
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let n = &self.n;
        Stats {
            table_allocs: n.table_allocs,
            stores: n.stores,
            set_roots: n.set_roots,
            switches: n.switches,
            invalidates: n.invalidates,
            ops: n.ops,
            page_checks: n.page_checks,
            table_frees: n.table_frees,
            errors: n.errors,
            bad_frees: n.bad_frees,
            leftovers: n.leftovers,
            partial_sweeps: n.partial_sweeps,
            materialized: n.materialized,
            stale_tlb: self.stale.n_tlb,
            stale_pwc: self.stale.n_pwc,
            max_stale_tlb: self.stale.max_tlb,
            max_stale_pwc: self.stale.max_pwc,
            live_tables: self.tables.len(),
            valid_leaves: self.leaves.count,
        }
    }

    /// The last invalidation that targeted (lpid, pid): by EA or PID, its
    /// LPID, or all.
    pub fn last_flush(&self, lpid: u32, pid: u32) -> Option<FlushRecord> {
        self.flushes.last_for(lpid, pid)
    }

    /// The (lpid, pid) `cpu` runs, if any.
    pub fn running(&self, cpu: usize) -> Option<(u32, u32)> {
        self.running.get(cpu).copied().flatten()
    }

    /// Everything `cpu` may hold now: its stale entries plus everything it
    /// reaches for the PID it runs (through the tree and its stale PWC
    /// entries of that PID). Costs a walk of what it reaches: for tests and
    /// diagnostics, not for every event. Empty for a CPU out of range.
    pub fn may_hold(&self, cpu: usize) -> Holdings {
        let mut h = Holdings::default();
        let (group, bit) = cpu_bit(cpu as u32);
        let mine = |g: u32, held: u64| g == group && held & bit != 0;
        h.tlb.extend(self.stale.tlb_records().filter(|&(_, g, b)| mine(g, b)).map(|(e, _, _)| e));
        h.pwc.extend(self.stale.pwc.iter().filter(|&(&(_, g), &b)| mine(g, b)).map(|(&(e, _), _)| e));
        let Some((lpid, pid)) = self.running(cpu) else { return h };
        let mut starts: Vec<(u64, u64)> = Vec::new();
        if let Some(&r) = self.roots.get(&(lpid, pid)) {
            starts.push((r, 0));
        }
        for &e in &h.pwc {
            if (e.lpid, e.pid) == (lpid, pid) {
                starts.push((e.next, e.ea));
            }
        }
        for (t, base) in starts {
            walk(&self.tables, &self.geom, t, base, &mut |f| match f {
                Found::Leaf { ea, size, pa } => {
                    h.tlb.insert(TlbEntry { lpid, pid, size, ea, pa });
                }
                Found::Dir { level, ea, child } => {
                    h.pwc.insert(PwcEntry { lpid, pid, level, ea, next: child });
                }
            });
        }
        h
    }
}
