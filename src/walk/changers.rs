//! The changers: the THP life cycle of Linux book3s64 radix, one function per
//! Linux step, with the three layers kept apart: entry update (`pgtable`), TLB
//! flush (`mm::tlb`), walker serialization (`walkproto::Registry` with the
//! boot-selected strategy). Every free goes through the POWER9 cache model
//! (`mm::shadow`) first.
//!
//! * **populate** (`do_huge_pmd_anonymous_page`): a fresh folio, a page-table
//!   page deposited for a later split, `set_pmd_at` (arena.rs).
//! * **split** (`__split_huge_pmd_locked`): [`Changer::pmdp_invalidate`] (VALID
//!   off, SW INVALID on, then `flush_pmd_tlb_range`: the huge page by VA) →
//!   `serialize_against_pte_lookup` (book3s64 `pmdp_invalidate` did, in the
//!   code the registry was proposed for) → `pgtable_trans_huge_withdraw` →
//!   `set_pte_at` for each smaller leaf → `pmd_populate` (after `smp_wmb`).
//! * **collapse** (`collapse_huge_page`): [`Changer::pmdp_collapse_flush`]
//!   (`pmd_clear`, then `radix__flush_tlb_collapsed_pmd`: the walk cache
//!   first, then each base page of the range) → isolate the old folio (only
//!   the mapping may hold it, else put the PMD back and give up) → copy →
//!   `ptep_clear` each old PTE → `pgtable_trans_huge_deposit` → `set_pmd_at`
//!   with the new folio → free the old folio. No walker serialization: radix
//!   Linux dropped it (Yang Shi, 2022) because gup_fast re-checks the PMD and
//!   the old page-table page is deposited, not freed.
//! * **zap of a huge leaf** (`zap_huge_pmd`): `pmdp_huge_get_and_clear` →
//!   `flush_pmd_tlb_range` → `serialize_against_pte_lookup` (as the hash MMU
//!   does; otherwise a fault could install a page-table page where a
//!   find_pte walker still holds a pointer it believes is a huge PTE) → free
//!   the folio → `zap_deposited_table` (withdraw, `pte_free`).
//! * **zap of a split slot** (`zap_pte_range`, then `free_pgtables`):
//!   `ptep_get_and_clear` each leaf → `flush_tlb_range` (each base page; the
//!   whole PID above 33 pages) → free the folio → [`Changer::free_pte_range`]:
//!   `pmd_clear` → the strategy's handshake → flush the walk cache → free the
//!   page-table page when no walker can reach it.
//! * **page-table churn**: `pmd_populate` of an empty page-table page (a fault
//!   about to map something), later `free_pte_range`. No leaf was ever valid,
//!   so only the walk cache needs flushing; on QEMU that flush is a no-op,
//!   which leaves the registry handshake as the only thing between a walker
//!   and the freed table.
//! * **munmap of many THPs** ([`Changer::munmap_all`]): each PMD cleared and
//!   serialized (hash `pmdp_huge_get_and_clear`), one batched flush
//!   (`mmu_gather`), then the folios freed.
//!
//! The PUD arena runs the same steps one level up (1 GB leaf → 512 × 2 MB).
//!
//! Negative controls (bootargs): `walk.bug=noflush` skips TLB flushes;
//! `mmu.flush_bug=` reproduces flush bugs the POWER9 model must catch
//! (`split-huge`: the split-slot zap flushes one page at the huge size;
//! `no-pwc`, `va-for-dir`: unlinking a table flushes no walk cache or only
//! by VA; `free-before-flush`: the table is freed before its flush; the AP
//! and PID controls live in `mm::tlb`); `walk.bug=free-pinned`,
//! `poison-linked`, `torn-write` trip the walkers' detectors.

use core::sync::atomic::{AtomicU64, Ordering::*};

use radix::{Pde, Pte, Ric};
use walkproto::{CpuMask, FreeOutcome, SerializeStats, Strategy, SyncError};

use super::arena::{Arena, Mapping, Slot, EMPTY, HUGE, LEAF_FLAGS, SPLIT, TABLE};
use super::platform::Kernel;
use super::stamps::ChangerStamps;
use super::REGISTRY;
use crate::mm::pgtable;
use crate::mm::tlb::{self, Target};
use crate::sys::config::{FlushBug, WalkBug};
use crate::sys::{exit, time};
use crate::arch;

pub use super::bugs::{set_walk_bug, walk_bug};

/// What the changers did (shared by all changer CPUs of a run).
pub struct Stats {
    pub splits: AtomicU64,
    pub collapses: AtomicU64,
    /// Collapses given up because a reference pinned the old folio.
    pub collapse_aborts: AtomicU64,
    pub zaps: AtomicU64,
    pub populates: AtomicU64,
    pub serializes: AtomicU64,
    /// Serializations that found nothing to wait for (count = 0, ...).
    pub skipped: AtomicU64,
    /// IPIs sent by serializations (TLB-flush IPIs are counted by smp).
    pub ipis: AtomicU64,
    pub tables_freed: AtomicU64,
    pub tables_deferred: AtomicU64,
    /// Empty page-table pages linked (table churn).
    pub tables_linked: AtomicU64,
    /// Timebase spent inside serialize / free_table_when_safe.
    pub sync_tb: AtomicU64,
    /// Serializations that timed out and were retried (a starving changer).
    pub sync_timeouts: AtomicU64,
}

impl Stats {
    pub const fn new() -> Self {
        Stats {
            splits: AtomicU64::new(0),
            collapses: AtomicU64::new(0),
            collapse_aborts: AtomicU64::new(0),
            zaps: AtomicU64::new(0),
            populates: AtomicU64::new(0),
            serializes: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            ipis: AtomicU64::new(0),
            tables_freed: AtomicU64::new(0),
            tables_deferred: AtomicU64::new(0),
            tables_linked: AtomicU64::new(0),
            sync_tb: AtomicU64::new(0),
            sync_timeouts: AtomicU64::new(0),
        }
    }

    fn note(&self, s: &SerializeStats) {
        self.serializes.fetch_add(1, Relaxed);
        self.ipis.fetch_add(s.ipis as u64, Relaxed);
        if s.skipped {
            self.skipped.fetch_add(1, Relaxed);
        }
    }

    /// Changer operations so far (the life-cycle steps and table churn).
    pub fn ops(&self) -> u64 {
        self.splits.load(Relaxed)
            + self.collapses.load(Relaxed)
            + self.zaps.load(Relaxed)
            + self.populates.load(Relaxed)
            + self.tables_linked.load(Relaxed)
    }
}

/// A changer bound to a strategy and an arena.
pub struct Changer<'a> {
    pub arena: &'a Arena,
    pub strategy: Strategy,
    pub stats: &'a Stats,
    /// Lock-step harness only: an out-of-line call between the entry store
    /// and the walker-count read (see `walkers::timing_gap`).
    pub gap: bool,
    /// Time the collapse copy takes (the window in which a gup without the
    /// PMD re-check pins a folio being collapsed).
    pub copy_tb: u64,
    /// Lock-step harness only: timestamps of the unlink.
    stamps: Option<&'a ChangerStamps>,
}

/// Tables of different sizes share the registry's deferred-free queue, which
/// holds one u64 per table: the size class rides in the low bits (tables
/// are at least 256-byte aligned).
fn tag_table(table: u64, bytes: u64) -> u64 {
    debug_assert!(table & 0xff == 0);
    table | u64::from(bytes != 256)
}

fn free_tagged(tagged: u64) {
    let bytes = if tagged & 1 == 0 { 256 } else { 4096 };
    pgtable::free_table(tagged & !0xff, bytes);
}

/// How long a collapse copies by default (about a 2 MB memcpy on a POWER9).
pub const COPY_TB: u64 = time::us(100);

/// How many times a changer retries a serialization that timed out before
/// the run fails (each attempt waits `platform::SYNC_TIMEOUT_TB`).
const SYNC_RETRIES: u32 = 12;

impl<'a> Changer<'a> {
    /// A changer of `arena` under `strategy`.
    pub fn new(arena: &'a Arena, strategy: Strategy, stats: &'a Stats) -> Self {
        Changer { arena, strategy, stats, gap: false, copy_tb: COPY_TB, stamps: None }
    }

    /// With a collapse copy of `copy_tb`.
    pub fn with_copy_time(mut self, copy_tb: u64) -> Self {
        self.copy_tb = copy_tb;
        self
    }

    /// With the lock-step harness's out-of-line call (see `gap`).
    pub fn with_gap(mut self) -> Self {
        self.gap = true;
        self
    }

    /// With timestamps of each unlink (the lock-step harness).
    pub fn with_stamps(mut self, stamps: &'a ChangerStamps) -> Self {
        self.stamps = Some(stamps);
        self
    }

    fn stamp(&self, f: impl FnOnce(&ChangerStamps)) {
        if let Some(s) = self.stamps {
            f(s);
        }
    }

    fn pid(&self) -> u32 {
        self.arena.mm.pid
    }

    /// Issues a flush unless the `noflush` control skips it.
    fn flush(&self, t: Target) {
        if walk_bug() == WalkBug::NoFlush {
            arch::ptesync();
            return;
        }
        tlb::flush(t, self.arena.mm.cpumask());
    }

    /// `flush_pmd_tlb_range` (`flush_pud_tlb_range` one level up): the huge
    /// leaf of the slot, by VA at its size.
    fn flush_huge_leaf(&self, slot: &Slot) {
        let size = self.arena.shape.huge;
        self.flush(Target::Range { pid: self.pid(), start: slot.va, end: slot.va + size.bytes(), size, also_pwc: false });
    }

    /// `flush_tlb_range` over the slot's smaller leaves (each base page, or
    /// the whole PID above the ceiling), optionally with the walk cache first
    /// (`radix__flush_tlb_collapsed_pmd`). The `split-huge` control instead
    /// flushes one page at the huge size, the old bug.
    fn flush_sub_leaves(&self, slot: &Slot, also_pwc: bool) {
        let shape = &self.arena.shape;
        if tlb::flush_bug() == FlushBug::SplitHuge {
            self.flush(Target::Page { pid: self.pid(), va: slot.va, size: shape.huge });
            return;
        }
        let end = slot.va + shape.huge.bytes();
        self.flush(Target::Range { pid: self.pid(), start: slot.va, end, size: shape.sub, also_pwc });
    }

    /// The walk-cache flush after a page-table page was unlinked (`tlb_flush`
    /// with `freed_tables`). The `no-pwc` control skips it; `va-for-dir`
    /// flushes the slot by VA, which leaves the walk cache alone.
    fn flush_pwc(&self, slot: &Slot) {
        match tlb::flush_bug() {
            FlushBug::NoPwc => arch::ptesync(),
            FlushBug::VaForDir => self.flush(Target::Page { pid: self.pid(), va: slot.va, size: self.arena.shape.huge }),
            _ => self.flush(Target::Pid { pid: self.pid(), ric: Ric::Pwc }),
        }
    }

    /// What a serialization needs, computed ahead: the mm's cpumask and the
    /// platform (its online-CPU snapshot). Taking it *before* a page-table
    /// store keeps unrelated loads out of the store-fence-load handshake.
    fn prepare(&self) -> (CpuMask, Kernel) {
        (self.arena.mm.cpumask(), Kernel::new())
    }

    /// Runs one serialization `op` with the changer's bookkeeping: the time
    /// spent, and retries. An error means the walkers held out past the
    /// platform timeout (count-wait's changer can starve while walkers keep
    /// the count above zero) and nothing was freed; it is counted and
    /// retried with a fresh cpumask, and only a changer starved for every
    /// retry fails the run.
    fn synced<T>(&self, first: (CpuMask, Kernel), mut op: impl FnMut(CpuMask, &Kernel) -> Result<T, SyncError>) -> T {
        let t0 = time::now();
        let mut r = op(first.0, &first.1);
        let mut attempt = 0;
        let v = loop {
            match r {
                Ok(v) => break v,
                Err(e) if attempt < SYNC_RETRIES => {
                    attempt += 1;
                    self.stats.sync_timeouts.fetch_add(1, Relaxed);
                    println!("changer: {e} (retrying, attempt {attempt})");
                    let (mask, platform) = self.prepare();
                    r = op(mask, &platform);
                }
                Err(e) => exit::fail(format_args!("changer starved: {e} after {SYNC_RETRIES} retries")),
            }
        };
        self.stats.sync_tb.fetch_add(time::now() - t0, Relaxed);
        v
    }

    /// `serialize_against_pte_lookup`: returns once no walker can still use
    /// what the slot's old entry pointed to.
    fn serialize_against_pte_lookup(&self, ready: (CpuMask, Kernel)) {
        let sync = &self.arena.mm.sync;
        let s = self.synced(ready, |mask, p| REGISTRY.serialize(self.strategy, sync, mask, p));
        self.stats.note(&s);
    }

    /// `pte_free` through `tlb_remove_table`: frees a page-table page that
    /// no walker can reach any more, or (`rcu`) defers it past a grace
    /// period.
    fn pte_free(&self, table: u64) {
        let sync = &self.arena.mm.sync;
        let tagged = tag_table(table, self.arena.shape.table_bytes);
        let r = self.synced(self.prepare(), |mask, p| {
            REGISTRY.free_table_when_safe(self.strategy, sync, mask, p, tagged, free_tagged)
        });
        match r {
            FreeOutcome::Freed(s) | FreeOutcome::FreedAfterGracePeriod(s) => {
                self.stats.note(&s);
                self.stats.tables_freed.fetch_add(1, Relaxed);
            }
            FreeOutcome::Deferred { .. } => {
                self.stats.tables_deferred.fetch_add(1, Relaxed);
            }
        }
    }

    /// Frees `rcu`-deferred tables whose grace period is over.
    pub fn reclaim(&self) {
        let n = REGISTRY.reclaim(&Kernel::new(), free_tagged);
        self.stats.tables_freed.fetch_add(n as u64, Relaxed);
    }

    /// Drops the slot's folio reference (the mapping's): the folio is freed
    /// if nobody else holds it. Under `walk.bug=free-pinned` it is poisoned
    /// even if a walker pins it.
    fn put_slot_folio(&self, slot: &Slot) {
        if let Some(fi) = self.arena.slot_folio(slot) {
            slot.folio.store(0, Relaxed);
            if walk_bug() == WalkBug::FreePinned {
                self.arena.poison_pinned(fi);
            }
            self.arena.put_folio(fi);
        }
    }

    fn mapping(&self, fi: usize) -> Mapping {
        Mapping::Folio { idx: fi, gen: self.arena.folios[fi].gen.load(Relaxed) & 0xff_ffff }
    }

    // -----------------------------------------------------------------------
    // Split.

    /// `pmdp_invalidate`: VALID off, SW INVALID on (walkers and the MMU see
    /// nothing mapped; software still sees a present huge PMD), then
    /// `flush_pmd_tlb_range`. Returns the old leaf.
    fn pmdp_invalidate(&self, slot: &Slot) -> Pte {
        slot.begin_change(Mapping::Unmapped);
        let old = Pte::from_raw(pgtable::read(slot.table, slot.index));
        pgtable::write(slot.table, slot.index, old.invalidate().raw());
        self.flush_huge_leaf(slot);
        slot.end_change();
        old
    }

    /// `pgtable_trans_huge_withdraw`: the page-table page deposited for this
    /// slot (one is always deposited while it maps a huge leaf).
    fn pgtable_trans_huge_withdraw(&self, slot: &Slot) -> u64 {
        match slot.deposited.swap(0, Relaxed) {
            0 => exit::fail(format_args!("slot {:#x}: no page-table page deposited", slot.va)),
            t => t,
        }
    }

    /// `pgtable_trans_huge_deposit`.
    fn pgtable_trans_huge_deposit(&self, slot: &Slot, table: u64) {
        if slot.deposited.swap(table, Relaxed) != 0 {
            exit::fail(format_args!("slot {:#x}: a page-table page was already deposited", slot.va));
        }
    }

    /// `pmd_populate`: makes the filled page-table page `t` visible in the
    /// slot; its entries are ordered before the PDE (Linux `smp_wmb`; we use
    /// the stronger `sync`).
    fn pmd_populate(&self, slot: &Slot, t: u64) {
        let pde = Pde::table(t, self.arena.shape.nls)
            .unwrap_or_else(|e| exit::fail(format_args!("table {t:#x} for slot {:#x}: {e:?}", slot.va)));
        arch::sync();
        pgtable::write(slot.table, slot.index, pde.raw());
        arch::ptesync();
    }

    /// `__split_huge_pmd_locked`: huge leaf → a page-table page of smaller
    /// leaves over the same folio.
    pub fn split(&self, slot: &Slot) {
        let a = self.arena;
        let old = self.pmdp_invalidate(slot);
        self.serialize_against_pte_lookup(self.prepare());
        let t = self.pgtable_trans_huge_withdraw(slot);
        for i in 0..a.shape.subs {
            let pa = old.pa() + i as u64 * a.shape.sub.bytes();
            let pte = Pte::leaf(pa, a.shape.sub, LEAF_FLAGS)
                .unwrap_or_else(|e| exit::fail(format_args!("split leaf: {e:?}")));
            pgtable::write(t, i, pte.raw());
        }
        let fi = a.slot_folio(slot).expect("a huge slot maps a folio");
        slot.begin_change(self.mapping(fi));
        self.pmd_populate(slot, t);
        slot.end_change();
        slot.state.store(SPLIT, Release);
        self.stats.splits.fetch_add(1, Relaxed);
    }

    // -----------------------------------------------------------------------
    // Collapse.

    /// `pmdp_collapse_flush` (radix): `pmd_clear`, then
    /// `radix__flush_tlb_collapsed_pmd`: the walk cache first, then each base
    /// page (so that no CPU can re-walk the old page-table page and refill a
    /// TLB entry between the two). Returns the old page-table page.
    fn pmdp_collapse_flush(&self, slot: &Slot) -> u64 {
        slot.begin_change(Mapping::Unmapped);
        let e = pgtable::exchange(slot.table, slot.index, 0);
        let radix::EntryView::Table(p) = radix::EntryView::of(e) else {
            exit::fail(format_args!("collapse of {:#x}: slot entry {e:#x} is not a table", slot.va));
        };
        self.flush_sub_leaves(slot, true);
        slot.end_change();
        p.next_table_pa()
    }

    /// `collapse_huge_page`: page-table page → a huge leaf on a fresh folio
    /// (the data copied), the old page-table page deposited, the old folio
    /// freed. False if no folio was free or a reference pinned the old one.
    pub fn collapse(&self, slot: &Slot) -> bool {
        let a = self.arena;
        let Some(old_fi) = a.slot_folio(slot) else { return false };
        // The PUD arena collapses in place (its folios are 1 GB blocks we
        // only partly own); the THP arena copies into a new folio as
        // khugepaged does.
        let new_fi = if a.shape.level == radix::Level::Pud {
            None
        } else {
            match a.alloc_folio() {
                Some(f) => Some(f),
                None => return false,
            }
        };
        let t = self.pmdp_collapse_flush(slot);
        if new_fi.is_some() && !a.isolate_for_collapse(old_fi) {
            // A gup pins the old folio: put the PMD back and give up.
            slot.begin_change(self.mapping(old_fi));
            self.pmd_populate(slot, t);
            slot.end_change();
            if let Some(f) = new_fi {
                a.put_folio(f);
            }
            self.stats.collapse_aborts.fetch_add(1, Relaxed);
            return false;
        }
        super::points::at(super::points::Point::CollapseIsolated);
        if let Some(f) = new_fi {
            a.copy_folio(old_fi, f, self.copy_tb);
        }
        // __collapse_huge_page_copy_succeeded: the old PTEs go.
        for i in 0..a.shape.subs {
            pgtable::exchange(t, i, 0);
        }
        self.pgtable_trans_huge_deposit(slot, t);
        let fi = new_fi.unwrap_or(old_fi);
        let leaf = Pte::leaf(a.folios[fi].pa, a.shape.huge, LEAF_FLAGS)
            .unwrap_or_else(|e| exit::fail(format_args!("collapse leaf: {e:?}")));
        slot.folio.store(fi as u32 + 1, Relaxed);
        slot.begin_change(self.mapping(fi));
        // set_pmd_at, after smp_wmb.
        arch::lwsync();
        pgtable::write(slot.table, slot.index, leaf.raw());
        arch::ptesync();
        slot.end_change();
        slot.state.store(HUGE, Release);
        if new_fi.is_some() {
            a.put_folio(old_fi);
        }
        self.stats.collapses.fetch_add(1, Relaxed);
        true
    }

    // -----------------------------------------------------------------------
    // Zap.

    /// `zap_huge_pmd`: clear, flush, serialize, free the folio, free the
    /// deposited page-table page.
    fn zap_huge_pmd(&self, slot: &Slot) {
        let ready = self.prepare();
        slot.begin_change(Mapping::Unmapped);
        pgtable::exchange(slot.table, slot.index, 0);
        self.flush_huge_leaf(slot);
        slot.end_change();
        self.serialize_against_pte_lookup(ready);
        self.put_slot_folio(slot);
        // zap_deposited_table: it was never linked since its deposit, and
        // the serialization above waited for walkers that had read it
        // before (a collapse deposited it after unlinking).
        let t = self.pgtable_trans_huge_withdraw(slot);
        self.pte_free(t);
    }

    /// `zap_pte_range` over the slot's page-table page `t`: clear every
    /// leaf, flush them, free the folio.
    fn zap_pte_range(&self, slot: &Slot, t: u64) {
        slot.begin_change(Mapping::Unmapped);
        for i in 0..self.arena.shape.subs {
            pgtable::exchange(t, i, 0);
        }
        self.flush_sub_leaves(slot, false);
        slot.end_change();
        self.put_slot_folio(slot);
    }

    /// `free_pte_range` (`free_pgtables`): unlink the slot's now empty
    /// page-table page `t`, wait for walkers, flush the walk cache, free it.
    /// Both the handshake and the flush must be complete before the free;
    /// their order is free, and the handshake first puts nothing but the
    /// strategy's fence between the entry store and the walker-count read —
    /// the store-buffering shape the review is about, without an incidental
    /// `ptesync` and `tlbie` widening the gap. (`rcu` defers the free past a
    /// grace period instead.)
    fn free_pte_range(&self, slot: &Slot, t: u64) {
        if self.strategy == Strategy::Rcu {
            pgtable::write(slot.table, slot.index, 0);
            self.stamp(|s| s.store.store(time::now(), Relaxed));
            self.flush_pwc(slot);
            self.stamp(|s| s.serialize.store(time::now(), Relaxed));
            let skipped0 = self.stats.skipped.load(Relaxed);
            self.pte_free(t);
            self.stamp(|s| {
                s.done.store(time::now(), Relaxed);
                s.skipped.store(self.stats.skipped.load(Relaxed) > skipped0, Relaxed);
            });
            return;
        }
        // Everything the handshake needs is computed before the store, so
        // that pmd_clear is followed directly by the strategy's fence and
        // the walker-count read.
        let sync = &self.arena.mm.sync;
        let ready = self.prepare();
        // pmd_clear: a plain store (we hold the slot lock; Linux too).
        pgtable::write(slot.table, slot.index, 0);
        self.stamp(|s| s.store.store(time::now(), Relaxed));
        if self.gap {
            core::hint::black_box(super::walkers::timing_gap)();
        }
        self.stamp(|s| s.serialize.store(time::now(), Relaxed));
        let s = self.synced(ready, |mask, p| REGISTRY.serialize(self.strategy, sync, mask, p));
        self.stamp(|st| {
            st.done.store(time::now(), Relaxed);
            st.skipped.store(s.skipped, Relaxed);
        });
        self.stats.note(&s);
        if tlb::flush_bug() == FlushBug::FreeBeforeFlush {
            pgtable::free_table(t, self.arena.shape.table_bytes);
            self.flush_pwc(slot);
        } else {
            self.flush_pwc(slot);
            pgtable::free_table(t, self.arena.shape.table_bytes);
        }
        self.stats.tables_freed.fetch_add(1, Relaxed);
    }

    /// Unmaps the slot (huge leaf or page-table page) and frees what it held.
    pub fn zap(&self, slot: &Slot) {
        let e = pgtable::read(slot.table, slot.index);
        match radix::EntryView::of(e) {
            radix::EntryView::Table(p) => {
                let t = p.next_table_pa();
                if walk_bug() == WalkBug::PoisonLinked {
                    self.poison_linked(t);
                }
                self.zap_pte_range(slot, t);
                self.free_pte_range(slot, t);
            }
            _ => self.zap_huge_pmd(slot),
        }
        slot.state.store(EMPTY, Release);
        self.stats.zaps.fetch_add(1, Relaxed);
    }

    /// The `walk.bug=poison-linked` control: the page-table page is
    /// overwritten with poison for a while as the slot still maps its
    /// leaves through it (as if it had been freed and reused while linked),
    /// then put back. Neither write is shown to the model: it is memory
    /// corruption, not a page-table update.
    fn poison_linked(&self, t: u64) {
        let n = self.arena.shape.subs;
        let saved: alloc::vec::Vec<u64> = (0..n).map(|i| pgtable::read(t, i)).collect();
        pgtable::poison_unchecked(t, self.arena.shape.table_bytes);
        arch::ptesync();
        super::points::at(super::points::Point::PoisonedLinked);
        time::delay_tb(time::us(200));
        for (i, v) in saved.into_iter().enumerate() {
            pgtable::overwrite_unchecked(t, i, v);
        }
        arch::ptesync();
    }

    // -----------------------------------------------------------------------
    // Page-table churn, populate, munmap.

    /// Maps folio `fi` into an EMPTY slot through a page-table page of
    /// smaller leaves (the faults of a workload that maps base pages), and
    /// takes the mapping's reference on it.
    pub fn map_pte_table(&self, slot: &Slot, fi: usize) {
        let a = self.arena;
        let t = pgtable::alloc_table(a.shape.table_bytes);
        for i in 0..a.shape.subs {
            let pte = Pte::leaf(a.folios[fi].pa + i as u64 * a.shape.sub.bytes(), a.shape.sub, LEAF_FLAGS)
                .unwrap_or_else(|e| exit::fail(format_args!("leaf: {e:?}")));
            pgtable::write(t, i, pte.raw());
        }
        a.folios[fi].refcount.fetch_add(1, SeqCst);
        slot.folio.store(fi as u32 + 1, Relaxed);
        slot.begin_change(self.mapping(fi));
        self.pmd_populate(slot, t);
        slot.end_change();
        slot.state.store(SPLIT, Release);
    }

    /// Links an empty page-table page into an EMPTY slot (`pmd_populate` by
    /// a fault that has not mapped anything yet).
    pub fn link_empty_table(&self, slot: &Slot) {
        let t = pgtable::alloc_table(self.arena.shape.table_bytes);
        self.pmd_populate(slot, t);
        slot.state.store(TABLE, Release);
        self.stats.tables_linked.fetch_add(1, Relaxed);
    }

    /// Unlinks and frees the empty page-table page of a TABLE slot.
    pub fn free_empty_table(&self, slot: &Slot) {
        let e = pgtable::read(slot.table, slot.index);
        let radix::EntryView::Table(p) = radix::EntryView::of(e) else {
            exit::fail(format_args!("slot {:#x} in TABLE state holds {e:#x}", slot.va));
        };
        self.free_pte_range(slot, p.next_table_pa());
        slot.state.store(EMPTY, Release);
    }

    /// munmap of every HUGE slot, the way the Linux hash-MMU path that the
    /// counting registry was written for does it: each THP's PMD is cleared
    /// and serialized against walkers (`pmdp_huge_get_and_clear` →
    /// `serialize_against_pte_lookup`), while the TLB flush is batched into
    /// one at the end (`mmu_gather`), then the folios and the deposited
    /// page-table pages are freed. Returns the number of THPs unmapped.
    pub fn munmap_all(&self) -> usize {
        let a = self.arena;
        let mut n = 0;
        for slot in &a.slots {
            let _g = slot.lock.lock();
            if slot.state.load(Acquire) != HUGE {
                continue;
            }
            slot.begin_change(Mapping::Unmapped);
            pgtable::exchange(slot.table, slot.index, 0);
            self.serialize_against_pte_lookup(self.prepare());
            slot.state.store(EMPTY, Release);
            n += 1;
        }
        self.flush(Target::Pid { pid: self.pid(), ric: Ric::All });
        for slot in &a.slots {
            let _g = slot.lock.lock();
            if slot.state.load(Acquire) == EMPTY && slot.folio.load(Relaxed) != 0 {
                slot.end_change();
                self.put_slot_folio(slot);
                let t = self.pgtable_trans_huge_withdraw(slot);
                pgtable::free_table(t, a.shape.table_bytes);
            }
        }
        self.stats.zaps.fetch_add(n as u64, Relaxed);
        n
    }

    /// Maps a fresh huge leaf into an empty slot. False if no folio was free.
    pub fn populate(&self, slot: &Slot) -> bool {
        let ok = self.arena.populate_locked(slot);
        if ok {
            self.stats.populates.fetch_add(1, Relaxed);
        }
        ok
    }

    /// One random step of the slot's life cycle; `r` picks the move. With
    /// `churn_only`, EMPTY slots only get empty tables (no folios, no leaf
    /// flushes): the page-table free path alone, as fast as it goes.
    pub fn step(&self, slot_idx: usize, r: u64, churn_only: bool) {
        let slot = &self.arena.slots[slot_idx];
        let _g = slot.lock.lock();
        if churn_only {
            match slot.state.load(Acquire) {
                TABLE => self.free_empty_table(slot),
                EMPTY => self.link_empty_table(slot),
                _ => self.zap(slot),
            }
            return;
        }
        match slot.state.load(Acquire) {
            HUGE => {
                if r % 3 == 0 {
                    self.zap(slot)
                } else {
                    self.split(slot)
                }
            }
            SPLIT => {
                if r % 3 == 0 || !self.collapse(slot) {
                    self.zap(slot)
                }
            }
            TABLE => self.free_empty_table(slot),
            _ => {
                if r % 2 == 0 || !self.populate(slot) {
                    self.link_empty_table(slot);
                }
            }
        }
        if self.strategy == Strategy::Rcu {
            self.reclaim();
        }
    }
}
