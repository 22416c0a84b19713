//! Test address spaces for the walker races.
//!
//! An [`Arena`] is a run of *slots* in one mm. Each slot is a huge leaf
//! (2 MB at PMD level for the THP arena, 1 GB at PUD level for the PUD
//! arena) that changers split into a table of smaller leaves, collapse back,
//! zap, and repopulate. Behind the leaves are [`Folio`]s, a minimal
//! `struct page`: a refcount (0 = free), a generation, and data words that
//! hold a pattern naming the folio while it is in use and [`POISON_DATA`]
//! once it is freed.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::*};

use radix::{Level, PageSize, Pte, PteFlags};
use spin::Mutex;

use super::detect::{self, What};
use crate::mm::space::{self, Mm};
use crate::mm::{frames, pgtable, phys_to_virt};
use crate::sys::{exit, time};

/// Pattern tag in folio data words.
const DATA_MAGIC: u64 = 0xda7a;
/// What a freed folio's data words hold.
pub const POISON_DATA: u64 = 0xf4ee_f4ee_f4ee_f4ee;
/// A freed folio is not reused for this long, so late readers see poison.
const FOLIO_QUARANTINE_TB: u64 = time::ms(20);

/// Flags of every leaf the arenas install (R and C preset: neither QEMU nor
/// POWER9 sets them in hardware).
pub const LEAF_FLAGS: PteFlags = PteFlags::KERNEL_RW;

/// Geometry of an arena's slots.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Level of the huge leaf (and of the slot's entry).
    pub level: Level,
    /// Huge leaf size.
    pub huge: PageSize,
    /// Leaf size after a split.
    pub sub: PageSize,
    /// Leaves in a split table.
    pub subs: usize,
    /// Bytes of a split table.
    pub table_bytes: u64,
    /// NLS of a split table.
    pub nls: u32,
}

/// 2 MB THPs split into 32 × 64 KB PTEs.
pub const THP: Shape = Shape {
    level: Level::Pmd,
    huge: PageSize::Size2M,
    sub: PageSize::Size64K,
    subs: 32,
    table_bytes: 256,
    nls: 5,
};

/// 1 GB PUD leaves split into 512 × 2 MB PMD leaves.
pub const PUD: Shape = Shape {
    level: Level::Pud,
    huge: PageSize::Size1G,
    sub: PageSize::Size2M,
    subs: 512,
    table_bytes: 4096,
    nls: 9,
};

/// A huge page's bookkeeping.
pub struct Folio {
    /// Physical base of the huge page.
    pub pa: u64,
    /// Offsets (from `pa`) of the data words we own and check.
    checked: Vec<u64>,
    /// References: the mapping holds one while mapped; 0 = free.
    pub refcount: AtomicU32,
    /// Bumped on every allocation.
    pub gen: AtomicU32,
    /// Timebase when freed (0 while in use).
    freed_tb: AtomicU64,
    /// A collapse isolated this folio (found no reference but the mapping's)
    /// and is copying it away; cleared when the folio is allocated again.
    collapsing: AtomicBool,
}

/// Who takes a reference, for the detector's record.
#[derive(Clone, Copy)]
pub struct RefTaker {
    pub kind: &'static str,
    pub strategy: &'static str,
    pub va: u64,
    /// The entry the reference was found through.
    pub entry: u64,
}

impl Folio {
    fn pattern(&self, idx: usize) -> u64 {
        DATA_MAGIC << 48 | (idx as u64) << 24 | (self.gen.load(Relaxed) as u64 & 0xff_ffff)
    }

    /// Whether the folio is free (poisoned, in quarantine or available).
    pub fn is_free(&self) -> bool {
        self.freed_tb.load(Acquire) != 0
    }

    /// `folio_try_get` (`page_ref_add_unless(page, 1, 0)`): a reference
    /// unless the folio is free. Fully ordered, as Linux's is: a collapse's
    /// isolation check either sees this reference or this walker's re-check
    /// of the PMD sees the collapse. A reference that lands on a free folio
    /// anyway is a violation, recorded here for every caller.
    pub fn try_get(&self, who: RefTaker) -> bool {
        let mut c = self.refcount.load(Relaxed);
        loop {
            if c == 0 {
                return false;
            }
            match self.refcount.compare_exchange_weak(c, c + 1, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        self.check_ref(who, c);
        true
    }

    /// The detector's control: a plain increment (`page_ref_inc`), even of
    /// a free folio.
    pub fn get_noref(&self, who: RefTaker) {
        let old = self.refcount.fetch_add(1, SeqCst);
        self.check_ref(who, old);
    }

    /// A reference just taken (the count was `old`) must be on a folio in
    /// use.
    fn check_ref(&self, who: RefTaker, old: u32) {
        if old == 0 || self.is_free() {
            detect::record(What::RefOnFreedPage, who.kind, who.strategy, who.va, who.entry, self.pa);
        }
    }

    /// Whether a collapse has isolated this folio.
    pub fn collapsing(&self) -> bool {
        self.collapsing.load(Acquire)
    }

    /// Offset of a checked data word inside sub-page `sub` of `shape`, if any.
    pub fn checked_in_sub(&self, shape: &Shape, sub: usize) -> Option<u64> {
        let lo = sub as u64 * shape.sub.bytes();
        let hi = lo + shape.sub.bytes();
        self.checked.iter().copied().find(|&o| o >= lo && o < hi)
    }

    /// Any checked offset (for huge-leaf checks).
    pub fn first_checked(&self) -> u64 {
        self.checked[0]
    }
}

/// Slot states.
pub const EMPTY: u8 = 0;
pub const HUGE: u8 = 1;
pub const SPLIT: u8 = 2;
/// An empty page-table page is linked (a fault allocated it; nothing mapped).
pub const TABLE: u8 = 3;

/// Entries of a slot's mapping history (see [`Slot::mappings`]).
pub const HISTORY: usize = 16;

/// One huge-page-sized piece of the address space.
pub struct Slot {
    /// Virtual address (quadrant 0).
    pub va: u64,
    /// Physical address of the table holding this slot's entry, and the index.
    pub table: u64,
    pub index: usize,
    /// Changers of this slot serialize here (the PMD/PUD lock).
    pub lock: Mutex<()>,
    /// EMPTY, HUGE, SPLIT or TABLE (changed under `lock`).
    pub state: AtomicU8,
    /// Folio index + 1 (0 = none).
    pub folio: AtomicU32,
    /// The page-table page deposited for this slot while it maps a huge
    /// leaf (Linux `pmd_huge_pte`), 0 if none: a split withdraws it.
    pub deposited: AtomicU64,
    /// Mapping sequence, a seqcount: odd while what the slot translates to
    /// is changing (from the entry store until its TLB flush completed),
    /// even when it is settled; `history[seq / 2 % HISTORY]` says what the
    /// settled state `seq / 2` maps.
    seq: AtomicU64,
    history: [AtomicU64; HISTORY],
}

/// What a slot translated to in one settled state: unmapped, or a folio
/// (index and generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    Unmapped,
    Folio { idx: usize, gen: u32 },
}

impl Mapping {
    fn pack(self, state: u64) -> u64 {
        let tag = (state & 0xff_ffff) << 40;
        match self {
            Mapping::Unmapped => tag,
            Mapping::Folio { idx, gen } => tag | 1 << 39 | ((idx as u64) & 0x7fff) << 24 | (gen as u64 & 0xff_ffff),
        }
    }

    fn unpack(v: u64) -> (u64, Mapping) {
        let state = v >> 40;
        if v & 1 << 39 == 0 {
            (state, Mapping::Unmapped)
        } else {
            (state, Mapping::Folio { idx: ((v >> 24) & 0x7fff) as usize, gen: (v & 0xff_ffff) as u32 })
        }
    }
}

impl Slot {
    /// A change of what the slot translates to begins (before its entry
    /// store): from now until [`Slot::end_change`] it may translate to the
    /// old mapping or to `next`.
    pub fn begin_change(&self, next: Mapping) {
        let s = self.seq.load(Relaxed);
        debug_assert!(s % 2 == 0, "nested slot change");
        self.history[(s / 2 + 1) as usize % HISTORY].store(next.pack(s / 2 + 1), Relaxed);
        self.seq.store(s + 1, Release);
        core::sync::atomic::fence(SeqCst);
    }

    /// The change is complete (after the store and its TLB flush): from now
    /// on the slot translates only to the `next` of `begin_change`.
    pub fn end_change(&self) {
        let s = self.seq.load(Relaxed) + 1;
        debug_assert!(s % 2 == 0, "slot change ended twice");
        self.seq.store(s, Release);
    }

    /// The mapping sequence now (a walker reads it before and after an
    /// access through the MMU).
    pub fn seq(&self) -> u64 {
        self.seq.load(Acquire)
    }

    /// Every mapping the slot may have had between sequence values `s0` and
    /// `s1` (read before and after an access), or None if the history no
    /// longer reaches back that far.
    pub fn mappings(&self, s0: u64, s1: u64, out: &mut [Mapping; HISTORY]) -> Option<usize> {
        let (lo, hi) = (s0 / 2, s1.div_ceil(2));
        if hi - lo >= HISTORY as u64 {
            return None;
        }
        let mut n = 0;
        for state in lo..=hi {
            let (tag, m) = Mapping::unpack(self.history[state as usize % HISTORY].load(Acquire));
            if tag != state & 0xff_ffff {
                return None; // overwritten meanwhile
            }
            out[n] = m;
            n += 1;
        }
        Some(n)
    }
}

/// A run of slots of one shape in `mm`.
pub struct Arena {
    pub name: &'static str,
    pub mm: &'static Mm,
    pub shape: Shape,
    pub slots: Vec<Slot>,
    pub folios: Vec<Folio>,
    /// Frames to return at teardown: (physical address, count).
    owned: Vec<(u64, u64)>,
}

/// VA bases of the arenas (quadrant 0, distinct PGD entries).
pub const THP_BASE: u64 = 0x0000_0100_0000_0000;
pub const PUD_BASE: u64 = 0x0000_0200_0000_0000;

impl Arena {
    /// A THP arena of `n` slots, each populated with a fresh 2 MB folio.
    pub fn new_thp(mm: &'static Mm, n: usize) -> Arena {
        Self::new_thp_spare(mm, n, n + 4)
    }

    /// A THP arena of `n` populated slots and `spare` folios in reserve (for
    /// collapses, which copy into a new folio, and repopulation).
    pub fn new_thp_spare(mm: &'static Mm, n: usize, spare: usize) -> Arena {
        let nfolios = n + spare;
        let frames_per = THP.huge.bytes() / frames::FRAME;
        let pool = frames::alloc_phys(nfolios as u64 * frames_per, frames_per)
            .unwrap_or_else(|e| exit::fail(format_args!("THP arena of {n} slots: {e}")));
        let folios = (0..nfolios)
            .map(|i| {
                let pa = pool + i as u64 * THP.huge.bytes();
                new_folio(pa, (0..THP.subs as u64).map(|s| s * THP.sub.bytes()).collect())
            })
            .collect();
        Self::build("thp", mm, THP, THP_BASE, n, folios, alloc::vec![(pool, nfolios as u64 * frames_per)])
    }

    /// A PUD arena: one slot and one folio, a whole 1 GB block of free RAM
    /// (1 GB aligned) that the arena owns while it exists; None if no such
    /// block is free. (Mapping RAM the arena does not own would be a
    /// use-after-free by construction: any free of memory in the block
    /// while the mapping exists is unsafe, and the POWER9 model says so.)
    pub fn new_pud(mm: &'static Mm) -> Option<Arena> {
        let gb = PUD.huge.bytes();
        let frames_per = gb / frames::FRAME;
        let pa = frames::alloc_phys(frames_per, frames_per).ok()?;
        let checked = (0..PUD.subs as u64).map(|s| s * PUD.sub.bytes()).collect();
        let folios = alloc::vec![new_folio(pa, checked)];
        Some(Self::build("pud", mm, PUD, PUD_BASE, 1, folios, alloc::vec![(pa, frames_per)]))
    }

    fn build(
        name: &'static str,
        mm: &'static Mm,
        shape: Shape,
        base: u64,
        n: usize,
        folios: Vec<Folio>,
        owned: Vec<(u64, u64)>,
    ) -> Arena {
        let slots = (0..n)
            .map(|i| {
                let va = base + i as u64 * shape.huge.bytes();
                let (table, index) = space::slot_alloc(mm.root, va, shape.level)
                    .unwrap_or_else(|e| exit::fail(format_args!("arena slot at {va:#x}: {e}")));
                Slot {
                    va,
                    table,
                    index,
                    lock: Mutex::new(()),
                    state: AtomicU8::new(EMPTY),
                    folio: AtomicU32::new(0),
                    deposited: AtomicU64::new(0),
                    seq: AtomicU64::new(0),
                    history: [const { AtomicU64::new(0) }; HISTORY],
                }
            })
            .collect();
        let arena = Arena { name, mm, shape, slots, folios, owned };
        for slot in &arena.slots {
            let _g = slot.lock.lock();
            if !arena.populate_locked(slot) {
                exit::fail(format_args!("{} arena: no folio for slot {:#x}", arena.name, slot.va));
            }
        }
        arena
    }

    /// Unmaps every slot, flushes the whole PID everywhere, then frees the
    /// page-table pages (linked or deposited) and the folio frames — in that
    /// order, as Linux's `exit_mmap` does (`tlb_finish_mmu` flushes before
    /// `tlb_remove_table` frees). Only when no CPU walks the arena any more;
    /// the caller then frees the directories (`Mm::destroy`).
    pub fn teardown(self) {
        let mut tables = Vec::new();
        for slot in &self.slots {
            let e = pgtable::exchange(slot.table, slot.index, 0);
            if let radix::EntryView::Table(p) = radix::EntryView::of(e) {
                tables.push(p.next_table_pa());
            }
            match slot.deposited.swap(0, Relaxed) {
                0 => {}
                t => tables.push(t),
            }
        }
        self.mm.flush_all();
        for t in tables {
            pgtable::free_table(t, self.shape.table_bytes);
        }
        for &(pa, n) in &self.owned {
            frames::free_phys(pa, n);
        }
    }

    /// Index of the folio whose huge page contains `pa`.
    pub fn folio_of(&self, pa: u64) -> Option<usize> {
        let size = self.shape.huge.bytes();
        self.folios.iter().position(|f| pa >= f.pa && pa < f.pa + size)
    }

    /// Takes a free folio out of quarantine, writes its pattern, refcount 1.
    pub fn alloc_folio(&self) -> Option<usize> {
        let now = time::now();
        for (i, f) in self.folios.iter().enumerate() {
            let freed = f.freed_tb.load(Acquire);
            if freed != 0
                && now.wrapping_sub(freed) > FOLIO_QUARANTINE_TB
                && f.freed_tb.compare_exchange(freed, 0, AcqRel, Relaxed).is_ok()
            {
                f.gen.fetch_add(1, Relaxed);
                f.collapsing.store(false, Relaxed);
                let pat = f.pattern(i);
                for &off in &f.checked {
                    write_data(f.pa + off, pat);
                }
                f.refcount.store(1, Release);
                return Some(i);
            }
        }
        None
    }

    /// Drops a reference; the last one frees the folio: the POWER9 model
    /// must show that no CPU can still translate to it, then its data is
    /// poisoned and it goes into quarantine.
    pub fn put_folio(&self, idx: usize) {
        let f = &self.folios[idx];
        let old = f.refcount.fetch_sub(1, Release);
        if old == 1 {
            core::sync::atomic::fence(Acquire);
            self.free_folio(f);
        } else if old == 0 {
            exit::fail(format_args!("{} folio {idx}: reference dropped below zero", self.name));
        }
    }

    fn free_folio(&self, f: &Folio) {
        crate::mm::shadow::check_free_page(f.pa, self.shape.huge.bytes());
        for &off in &f.checked {
            write_data(f.pa + off, POISON_DATA);
        }
        f.freed_tb.store(time::now().max(1), Release);
    }

    /// The `walk.bug=free-pinned` control: unmapping poisons the folio's
    /// data even though references still pin it (the references are
    /// dropped as usual afterwards).
    pub fn poison_pinned(&self, idx: usize) {
        for &off in &self.folios[idx].checked {
            write_data(self.folios[idx].pa + off, POISON_DATA);
        }
    }

    /// khugepaged's isolation: a collapse may take the folio only if the
    /// mapping holds the one reference (a gup pin makes it give up). Marks
    /// it as being collapsed.
    pub fn isolate_for_collapse(&self, idx: usize) -> bool {
        let f = &self.folios[idx];
        if f.refcount.load(SeqCst) != 1 {
            return false;
        }
        f.collapsing.store(true, Release);
        true
    }

    /// Copies the folio's data into folio `to` (the collapse copy; only the
    /// checked words exist): `to` keeps its own pattern, which names it.
    pub fn copy_folio(&self, _from: usize, _to: usize, delay_tb: u64) {
        // The data words carry their folio's identity, so `to` already
        // holds what a copy would give; the copy's time is what matters to
        // a racing walker.
        if delay_tb > 0 {
            time::delay_tb(delay_tb);
        }
    }

    /// `do_huge_pmd_anonymous_page`: a fresh folio behind a new huge leaf in
    /// an EMPTY slot, with a page-table page deposited for a later split
    /// (`pte_alloc_one` + `pgtable_trans_huge_deposit`). The caller holds the
    /// slot lock. False if no folio is free.
    pub fn populate_locked(&self, slot: &Slot) -> bool {
        let Some(idx) = self.alloc_folio() else { return false };
        if slot.deposited.load(Relaxed) == 0 {
            slot.deposited.store(pgtable::alloc_table(self.shape.table_bytes), Relaxed);
        }
        let pte = Pte::leaf(self.folios[idx].pa, self.shape.huge, LEAF_FLAGS)
            .unwrap_or_else(|e| exit::fail(format_args!("huge leaf: {e:?}")));
        slot.folio.store(idx as u32 + 1, Relaxed);
        slot.begin_change(Mapping::Folio { idx, gen: self.folios[idx].gen.load(Relaxed) & 0xff_ffff });
        // set_pmd_at: the folio's data (and its refcount) before the leaf
        // that maps it.
        crate::arch::lwsync();
        if super::bugs::walk_bug() == crate::sys::config::WalkBug::TornWrite {
            pgtable::write_torn(slot.table, slot.index, pte.raw(), || {
                super::points::at(super::points::Point::TornHalf);
                time::delay_tb(time::us(200));
            });
        } else {
            pgtable::write(slot.table, slot.index, pte.raw());
        }
        crate::arch::ptesync();
        slot.end_change();
        slot.state.store(HUGE, Release);
        true
    }

    /// The folio mapped by a slot, if any.
    pub fn slot_folio(&self, slot: &Slot) -> Option<usize> {
        match slot.folio.load(Relaxed) {
            0 => None,
            n => Some(n as usize - 1),
        }
    }
}

fn new_folio(pa: u64, checked: Vec<u64>) -> Folio {
    let f = Folio {
        pa,
        checked,
        refcount: AtomicU32::new(0),
        gen: AtomicU32::new(0),
        freed_tb: AtomicU64::new(1),
        collapsing: AtomicBool::new(false),
    };
    for &off in &f.checked {
        write_data(pa + off, POISON_DATA);
    }
    f
}

/// Writes a folio data word through the linear map.
fn write_data(pa: u64, v: u64) {
    // SAFETY: `pa` is a data word of a folio frame this arena owns.
    unsafe { core::ptr::write_volatile(phys_to_virt(pa) as *mut u64, v) };
}

/// Reads a folio data word by physical address: through the linear map, or
/// directly when `real` (the caller runs with translation off).
#[inline(always)]
pub fn read_data(pa: u64, real: bool) -> u64 {
    let a = if real { pa } else { phys_to_virt(pa) };
    // SAFETY: `pa` is a data word of an arena folio (RAM we own).
    unsafe { core::ptr::read_volatile(a as *const u64) }
}

/// Decodes a data word: Some((folio index, generation)) for a live pattern.
pub fn decode_data(v: u64) -> Option<(usize, u32)> {
    if v >> 48 == DATA_MAGIC {
        Some((((v >> 24) & 0xff_ffff) as usize, (v & 0xff_ffff) as u32))
    } else {
        None
    }
}
