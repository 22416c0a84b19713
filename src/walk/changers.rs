//! The changers: THP (and PUD) split, collapse, zap and populate, in the
//! order Linux uses on book3s64 radix, with the three layers kept apart:
//! entry update (`pgtable`), TLB flush (`tlb`), walker serialization
//! (`walkproto::Registry` with the boot-selected strategy).
//!
//! * split:    pmdp_invalidate (VALID off, SW INVALID on) → flush →
//!             **serialize** → pmd_populate(table of smaller leaves)
//! * collapse: pmdp_collapse_flush (clear) → flush → install the new huge
//!             leaf (a fresh folio with the data copied) → **free the old
//!             table when safe** → drop the old folio
//! * zap:      huge: clear → flush → **serialize** → drop the folio; split (munmap:
//!             zap_pte_range, then free_pgtables): clear every leaf →
//!             flush → drop the folio → clear the directory entry → flush
//!             the page-walk cache → **free the table when safe**
//! * populate: a fresh folio behind a new huge leaf
//! * table churn: link an empty page-table page (as a fault does before it
//!   maps anything), later unlink it → PWC flush → **free when safe**. No
//!   leaf was ever valid, so only the walk cache needs flushing; on QEMU
//!   that flush is a no-op, which leaves the walker-registry handshake as
//!   the only thing between a walker and the freed table.
//!
//! With `noflush` the TLB flush is skipped: a negative control for the
//! hardware walker's stale-TLB detector, not a strategy.

use core::sync::atomic::{AtomicU64, Ordering::*};

use radix::{Pde, Pte};
use walkproto::{CpuMask, FreeOutcome, SerializeStats, Strategy, SyncError};

use super::arena::{Arena, Slot, EMPTY, HUGE, LEAF_FLAGS, SPLIT, TABLE};
use super::platform::Kernel;
use super::REGISTRY;
use crate::mm::pgtable;
use crate::arch;
use crate::sys::{exit, time};

/// What the changers did (shared by all changer CPUs of a run).
pub struct Stats {
    pub splits: AtomicU64,
    pub collapses: AtomicU64,
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
}

/// A changer bound to a strategy and an arena.
pub struct Changer<'a> {
    pub arena: &'a Arena,
    pub strategy: Strategy,
    pub noflush: bool,
    pub stats: &'a Stats,
    /// Lock-step harness only: an out-of-line call between the entry store
    /// and the walker-count read (see `walkers::timing_gap`).
    pub gap: bool,
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

/// How many times a changer retries a serialization that timed out before
/// the run fails (each attempt waits `platform::SYNC_TIMEOUT_TB`).
const SYNC_RETRIES: u32 = 12;

impl Changer<'_> {
    fn flush_slot(&self, slot: &Slot, freed_table: bool) {
        if self.noflush {
            arch::ptesync();
            return;
        }
        let mm = self.arena.mm;
        if freed_table {
            // A directory entry went away: TLB and page-walk cache.
            mm.flush_all();
        } else {
            mm.flush_page(slot.va, self.arena.shape.huge);
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
    fn serialize(&self) {
        let sync = &self.arena.mm.sync;
        let s = self.synced(self.prepare(), |mask, p| REGISTRY.serialize(self.strategy, sync, mask, p));
        self.stats.note(&s);
    }

    fn free_table(&self, table: u64) {
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

    /// Huge leaf → table of smaller leaves over the same folio.
    pub fn split(&self, slot: &Slot) {
        let a = self.arena;
        let old = Pte::from_raw(pgtable::read(slot.table, slot.index));
        pgtable::write(slot.table, slot.index, old.invalidate().raw());
        self.flush_slot(slot, false);
        self.serialize();
        let t = pgtable::alloc_table(a.shape.table_bytes);
        for i in 0..a.shape.subs {
            let pa = old.pa() + i as u64 * a.shape.sub.bytes();
            let pte = Pte::leaf(pa, a.shape.sub, LEAF_FLAGS)
                .unwrap_or_else(|e| exit::fail(format_args!("split leaf: {e:?}")));
            pgtable::write(t, i, pte.raw());
        }
        self.publish_table(slot, t, SPLIT);
        self.stats.splits.fetch_add(1, Relaxed);
    }

    /// Table → a huge leaf on a fresh folio (the data copied), old table
    /// freed when safe, old folio dropped. False if no folio was free.
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
        let e = pgtable::exchange(slot.table, slot.index, 0);
        let Some(pde_table) = (match radix::EntryView::of(e) {
            radix::EntryView::Table(p) => Some(p.next_table_pa()),
            _ => None,
        }) else {
            exit::fail(format_args!("collapse of {:#x}: slot entry {e:#x} is not a table", slot.va));
        };
        self.flush_slot(slot, true);
        let fi = new_fi.unwrap_or(old_fi);
        let leaf = Pte::leaf(a.folios[fi].pa, a.shape.huge, LEAF_FLAGS)
            .unwrap_or_else(|e| exit::fail(format_args!("collapse leaf: {e:?}")));
        slot.folio.store(fi as u32 + 1, Relaxed);
        arch::lwsync();
        pgtable::write(slot.table, slot.index, leaf.raw());
        arch::ptesync();
        slot.state.store(HUGE, Release);
        self.free_table(pde_table);
        if new_fi.is_some() {
            a.put_folio(old_fi);
        }
        self.stats.collapses.fetch_add(1, Relaxed);
        true
    }

    /// Unmaps the slot (huge leaf or table), frees the table when safe and
    /// drops the folio.
    pub fn zap(&self, slot: &Slot) {
        let a = self.arena;
        let e = pgtable::read(slot.table, slot.index);
        match radix::EntryView::of(e) {
            radix::EntryView::Table(p) => {
                let t = p.next_table_pa();
                // zap_pte_range: clear the leaves, flush, free the pages.
                for i in 0..a.shape.subs {
                    pgtable::exchange(t, i, 0);
                }
                self.flush_slot(slot, false);
                self.drop_folio(slot);
                // free_pgtables: unlink the now empty table, flush the walk
                // cache, free it when no walker can still reach it.
                self.unlink_table(slot, t);
            }
            _ => {
                // A huge leaf: clear, flush, and serialize before anything
                // can be mapped here again (as the hash MMU code does in
                // pmdp_huge_get_and_clear): otherwise a fault could install a
                // page-table page where a find_pte walker still holds a
                // pointer it believes is a huge PTE. Radix Linux leaves that
                // to the KVM MMU notifiers; the testbed's contract is that
                // every leaf-to-table transition is serialized.
                pgtable::exchange(slot.table, slot.index, 0);
                self.flush_slot(slot, false);
                self.serialize();
                self.drop_folio(slot);
            }
        }
        slot.state.store(EMPTY, Release);
        self.stats.zaps.fetch_add(1, Relaxed);
    }

    fn drop_folio(&self, slot: &Slot) {
        if let Some(fi) = self.arena.slot_folio(slot) {
            slot.folio.store(0, Relaxed);
            self.arena.put_folio(fi);
        }
    }

    /// Clears the slot's directory entry pointing at table `t` (whose leaves
    /// are all clear), serializes against walkers, flushes the page-walk
    /// cache, and frees `t`. Both the serialization and the flush must be
    /// complete before the free; their order is free, and serializing first
    /// puts nothing but the registry handshake between the entry store and
    /// the walker-count read — the store-buffering shape the seed is about,
    /// without an incidental `ptesync` and `tlbie` widening the gap. (`rcu`
    /// defers the free past a grace period instead.)
    fn unlink_table(&self, slot: &Slot, t: u64) {
        if self.strategy == Strategy::Rcu {
            pgtable::write(slot.table, slot.index, 0);
            self.flush_pwc();
            self.free_table(t);
            return;
        }
        // Everything the handshake needs is computed before the store, so
        // that pmd_clear is followed directly by the strategy's fence and
        // the walker-count read.
        let sync = &self.arena.mm.sync;
        let ready = self.prepare();
        // pmd_clear: a plain store (we hold the slot lock; Linux too).
        pgtable::write(slot.table, slot.index, 0);
        if self.gap {
            core::hint::black_box(super::walkers::timing_gap)();
        }
        let s = self.synced(ready, |mask, p| REGISTRY.serialize(self.strategy, sync, mask, p));
        self.stats.note(&s);
        self.flush_pwc();
        pgtable::free_table(t, self.arena.shape.table_bytes);
        self.stats.tables_freed.fetch_add(1, Relaxed);
    }

    fn flush_pwc(&self) {
        if self.noflush {
            arch::ptesync();
        } else {
            self.arena.mm.flush_pwc();
        }
    }

    /// Makes the filled table `t` visible in `slot`: its entries are
    /// ordered before the PDE (the smp_wmb of Linux's pmd_install; we use
    /// the stronger sync), then the slot's state says `state`.
    fn publish_table(&self, slot: &Slot, t: u64, state: u8) {
        let pde = Pde::table(t, self.arena.shape.nls)
            .unwrap_or_else(|e| exit::fail(format_args!("table {t:#x} for slot {:#x}: {e:?}", slot.va)));
        arch::sync();
        pgtable::write(slot.table, slot.index, pde.raw());
        arch::ptesync();
        slot.state.store(state, Release);
    }

    /// Links an empty page-table page into an EMPTY slot.
    pub fn link_empty_table(&self, slot: &Slot) {
        let a = self.arena;
        let t = pgtable::alloc_table(a.shape.table_bytes);
        self.publish_table(slot, t, TABLE);
        self.stats.tables_linked.fetch_add(1, Relaxed);
    }

    /// Unlinks and frees the empty page-table page of a TABLE slot.
    pub fn free_empty_table(&self, slot: &Slot) {
        let e = pgtable::read(slot.table, slot.index);
        let radix::EntryView::Table(p) = radix::EntryView::of(e) else {
            exit::fail(format_args!("slot {:#x} in TABLE state holds {e:#x}", slot.va));
        };
        self.unlink_table(slot, p.next_table_pa());
        slot.state.store(EMPTY, Release);
    }

    /// munmap of every HUGE slot, the way the Linux hash MMU path that the
    /// counting registry was written for does it: each THP's PMD is cleared
    /// and serialized against walkers (pmdp_huge_get_and_clear ->
    /// serialize_against_pte_lookup), while the TLB flush is batched into one
    /// at the end (mmu_gather), then the folios are freed. Returns the
    /// number of THPs unmapped.
    pub fn munmap_all(&self) -> usize {
        let a = self.arena;
        let mut n = 0;
        for slot in &a.slots {
            let _g = slot.lock.lock();
            if slot.state.load(Acquire) != HUGE {
                continue;
            }
            pgtable::exchange(slot.table, slot.index, 0);
            self.serialize();
            slot.state.store(EMPTY, Release);
            n += 1;
        }
        if !self.noflush {
            a.mm.flush_all();
        }
        for slot in &a.slots {
            let _g = slot.lock.lock();
            self.drop_folio(slot);
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
