//! The lockless walkers. One walk = one slot of an arena:
//!
//! 1. register with the strategy (`Registry::begin_walk`) — with EE=0;
//! 2. descend from the root to the slot's entry, checking every entry read
//!    for the poison of a freed table;
//! 3. if the slot is a table (split), wait `delay/2` (the race window) and
//!    read the sub-entry from that table — a freed table shows its poison;
//! 4. per kind: **gup** takes a folio reference (`add_unless(0)`), waits,
//!    re-checks the entry and verifies the folio's data; **find_pte** keeps
//!    the entry pointer, waits, and "uses" it: the entry must not have turned
//!    from a huge leaf into a table (a split completing under it) and its
//!    table must not be poisoned;
//! 5. end the walk, restore EE.
//!
//! Variants: `realmode` runs steps 1–5 with IR=DR=0 reading tables by real
//! address (the seed's open case); `irq` runs them inside an interrupt
//! handler (program check via `trap`), in real mode, like the machine-check
//! path of d9101bfa6adc; `hw` lets the MMU walk (loads through the mapping);
//! `gup-noref` takes references without `add_unless` (the detector's
//! negative control). A *foreign* walker runs on a CPU that never switched
//! to the mm, so it is not in `mm_cpumask`.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

use radix::EntryView;
use walkproto::Strategy;

use super::arena::{self, Arena, Mapping, RefTaker};
use super::bugs;
use super::points::{self, Point};
use super::stamps::WalkStamps;
use super::detect::{self, What};
use super::REGISTRY;
use crate::mm::{pgtable, phys_to_virt, probe};
use crate::sys::config::WalkBug;
use crate::arch;
use crate::sys::{percpu, realmode, time, trap};

pub use crate::sys::config::WalkerKind as Kind;

/// The kinds the stress uses by default (the control kind excluded).
pub const DEFAULT_KINDS: [Kind; 5] = [Kind::Gup, Kind::FindPte, Kind::RealMode, Kind::Irq, Kind::Hw];

/// Per-CPU walk counters.
#[derive(Default)]
pub struct Counters {
    pub walks: AtomicU64,
    /// Found nothing mapped (or an invalidated leaf): fall back to slow path.
    pub bails: AtomicU64,
    /// Entry changed between read and re-check (gup) — a correct retry.
    pub retries: AtomicU64,
    /// Hardware walker faults (expected while a slot is empty/invalidated).
    pub faults: AtomicU64,
    /// Hardware walks whose slot changed more often than its history holds.
    pub unverified: AtomicU64,
    pub huge_hits: AtomicU64,
    pub split_hits: AtomicU64,
    /// Walks per kind (index: position in `Kind::ALL`).
    pub by_kind: [AtomicU64; Kind::ALL.len()],
}

impl Counters {
    pub const fn new() -> Self {
        Counters {
            walks: AtomicU64::new(0),
            bails: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            unverified: AtomicU64::new(0),
            huge_hits: AtomicU64::new(0),
            split_hits: AtomicU64::new(0),
            by_kind: [const { AtomicU64::new(0) }; Kind::ALL.len()],
        }
    }
}

/// Everything one walk needs; lives on the walker's stack.
pub struct Walk<'a> {
    pub arena: &'a Arena,
    pub strategy: Strategy,
    pub kind: Kind,
    pub slot: usize,
    pub sub: usize,
    /// Delay inside the walk, in timebase ticks (`walk.delay_ns`).
    pub delay_tb: u64,
    /// Trap: re-enable EE during the first half of the delay.
    pub ee_window: bool,
    /// Lock-step harness only: an out-of-line call between registering and
    /// the first table read (see `race`).
    pub gap: bool,
    pub counters: &'a Counters,
    /// Lock-step harness only: timestamps of entry and exit.
    pub stamps: Option<&'a WalkStamps>,
}

/// Reads a table entry (logical value), by real address when `real`.
#[inline(always)]
fn rd(table: u64, idx: usize, real: bool) -> u64 {
    let a = if real { table + idx as u64 * 8 } else { phys_to_virt(table) + idx as u64 * 8 };
    // Relaxed, like Linux's READ_ONCE: the next table's address depends on
    // this value, which orders the dependent read on Power. (An acquire
    // load would add an `isync`, which QEMU makes a host-side full barrier.)
    // SAFETY: `table` is a page-table page (live or quarantined: freed tables
    // stay allocated and poisoned), 8-byte aligned, in RAM.
    let v = unsafe { (*(a as *const AtomicU64)).load(Relaxed) };
    u64::from_be(v)
}

/// The walker's registration, for its emulated store buffer: every table
/// read is a load point, every store of the walk *algorithm* a store point
/// (taking and dropping the page reference), and the delays poll the
/// buffer's deadlines. The testbed's own bookkeeping inside the walk (the
/// statistics counters, violation records) is instrumentation, not part of
/// the walker being modelled, and is not treated as a store: a walker such
/// as gup_fast's inner loop makes no store between its registration and
/// its table reads.
type Guard<'a> = walkproto::WalkGuard<'a>;

/// A table read of the registered walk.
#[inline(always)]
fn read(g: &Guard, table: u64, idx: usize, real: bool) -> u64 {
    g.load_point();
    rd(table, idx, real)
}

/// Waits `tb` inside the registered walk.
fn pause(g: &Guard, tb: u64) {
    if tb == 0 {
        return;
    }
    let start = time::now();
    while time::now().wrapping_sub(start) < tb {
        g.load_point();
        core::hint::spin_loop();
    }
}

/// A statistics counter bump inside the registered walk (instrumentation:
/// not a store point, see [`Guard`]).
#[inline(always)]
fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Walk<'_> {
    fn va(&self) -> u64 {
        self.arena.slots[self.slot].va + self.sub as u64 * self.arena.shape.sub.bytes()
    }

    fn violation(&self, what: What, seen: u64, now: u64) {
        detect::record(what, self.kind.name(), self.strategy.name(), self.va(), seen, now);
    }

    /// Runs one walk on this CPU in the current translation mode. EE must
    /// be 0 (the caller's job); `real` says how tables are addressed.
    fn run(&self, real: bool) {
        self.counters.walks.fetch_add(1, Relaxed);
        let cpu = percpu::cpu_id();
        if let Some(s) = self.stamps {
            s.enter.store(time::now(), Relaxed);
        }
        let guard = REGISTRY.begin_walk(self.strategy, &self.arena.mm.sync, cpu);
        if self.gap {
            core::hint::black_box(timing_gap)();
        }
        self.walk_registered(&guard, real);
        drop(guard);
        if let Some(s) = self.stamps {
            s.exit.store(time::now(), Release);
        }
    }

    fn walk_registered(&self, g: &Guard, real: bool) {
        let a = self.arena;
        let slot = &a.slots[self.slot];
        let va = self.va();
        // Descend to the slot's entry; the upper tables are permanent, so
        // anything but a table pointer there is a violation of its own.
        let mut table = a.mm.root;
        let mut level = radix::Level::Pgd;
        while level != a.shape.level {
            let e = read(g, table, pgtable::GEOM.index(level, va), real);
            match EntryView::of(e) {
                EntryView::Table(pde) => table = pde.next_table_pa(),
                _ => {
                    let what = if e == pgtable::POISON { What::PoisonedTable } else { What::TornEntry };
                    self.violation(what, e, e);
                    return;
                }
            }
            level = level.next().expect("above the slot level");
        }
        debug_assert_eq!(table, slot.table);
        let pmd = (table, slot.index);
        let e1 = read(g, pmd.0, pmd.1, real);
        if e1 == pgtable::POISON {
            self.violation(What::PoisonedTable, e1, e1);
            return;
        }
        points::at(Point::WalkerAfterPmd);
        match EntryView::of(e1) {
            EntryView::Leaf(pte) => {
                bump(&self.counters.huge_hits);
                self.window(g);
                points::at(Point::WalkerAfterLeaf);
                let off = a.folio_of(pte.pa()).map(|f| a.folios[f].first_checked());
                self.finish(g, real, Found { pmd, pmd_entry: e1, ptr: pmd, entry: e1, leaf_pa: pte.pa(), checked: off, huge: true });
            }
            EntryView::Table(pde) => {
                bump(&self.counters.split_hits);
                // The window: the changer may unlink and free this table now.
                self.window(g);
                let t2 = pde.next_table_pa();
                let s1 = read(g, t2, self.sub, real);
                if s1 == pgtable::POISON {
                    self.violation(What::PoisonedTable, e1, s1);
                    return;
                }
                match EntryView::of(s1) {
                    EntryView::Leaf(pte) => {
                        points::at(Point::WalkerAfterLeaf);
                        let folio = a.folio_of(pte.pa());
                        let off = folio.and_then(|f| a.folios[f].checked_in_sub(&a.shape, self.sub));
                        let ptr = (t2, self.sub);
                        self.finish(g, real, Found { pmd, pmd_entry: e1, ptr, entry: s1, leaf_pa: pte.pa(), checked: off, huge: false });
                    }
                    _ => {
                        bump(&self.counters.bails);
                    }
                }
            }
            _ => {
                // Empty or invalidated (pmdp_invalidate): the slow path's job.
                bump(&self.counters.bails);
            }
        }
    }

    /// The race window, optionally with EE=1 (the "EE enabled mid-walk" trap).
    fn window(&self, g: &Guard) {
        let half = self.delay_tb / 2;
        if self.ee_window {
            arch::irq_restore(true);
            pause(g, half.max(time::ns(2000)));
            arch::irq_save();
        } else {
            pause(g, half);
        }
    }

    /// Step 4 for a leaf found by the walk.
    fn finish(&self, g: &Guard, real: bool, f: Found) {
        let a = self.arena;
        let Some(fi) = a.folio_of(f.leaf_pa) else {
            self.violation(What::TornEntry, f.entry, f.entry);
            return;
        };
        match self.kind {
            Kind::Gup | Kind::GupNoRef => self.gup(g, real, &f, fi),
            _ => self.use_pointer(g, real, f.ptr, f.entry, f.huge),
        }
    }

    /// gup_fast: take a reference, re-check the PMD and the PTE right away
    /// (Linux `gup_fast_pte_range` since 70cbc3cc78a9; for a huge leaf they
    /// are the same entry), then use the pinned page for a while (the walk's
    /// second half-delay) and check that its data is still the folio's. The
    /// race window is before the reference: between the walk's read of the
    /// PMD and of the leaf (`window`).
    fn gup(&self, g: &Guard, real: bool, f: &Found, fi: usize) {
        let a = self.arena;
        let folio = &a.folios[fi];
        let who = RefTaker { kind: self.kind.name(), strategy: self.strategy.name(), va: self.va(), entry: f.entry };
        // Taking the reference is a store (stdcx.): it publishes what an
        // lwsync ordered before it.
        g.store_point();
        if self.kind == Kind::GupNoRef {
            // Control: a plain increment, even of a free folio (the folio
            // records the violation).
            folio.get_noref(who);
        } else if !folio.try_get(who) {
            bump(&self.counters.retries);
            return;
        }
        let pmd_again = read(g, f.pmd.0, f.pmd.1, real);
        let pte_again = if f.huge { pmd_again } else { read(g, f.ptr.0, f.ptr.1, real) };
        if pmd_again == pgtable::POISON || pte_again == pgtable::POISON {
            self.violation(What::PoisonedTable, f.entry, if pmd_again == pgtable::POISON { pmd_again } else { pte_again });
            g.store_point();
            a.put_folio(fi);
            return;
        }
        let pmd_changed = pmd_again != f.pmd_entry && bugs::walk_bug() != WalkBug::NoPmdRecheck;
        if self.kind != Kind::GupNoRef && (pmd_changed || pte_again != f.entry) {
            g.store_point();
            a.put_folio(fi);
            bump(&self.counters.retries);
            return;
        }
        if self.kind != Kind::GupNoRef && folio.collapsing() {
            // Both re-checks passed, yet a collapse had already isolated
            // the folio (it found no pin) and is copying it away: this pin
            // would outlive the mapping (the race 70cbc3cc78a9 closed).
            self.violation(What::PinDuringCollapse, f.entry, pmd_again);
        }
        // The caller uses the page it pinned (I/O, a copy): for as long as
        // the pin lasts, the folio must stay what it was.
        points::at(Point::GupPinned);
        pause(g, self.delay_tb / 2);
        if let Some(off) = f.checked {
            g.load_point();
            let v = arena::read_data(folio.pa + off, real);
            let ok = matches!(arena::decode_data(v), Some((idx, gen)) if idx == fi && gen == folio.gen.load(Relaxed) & 0xff_ffff);
            if !ok {
                self.violation(What::FreedPageData, f.entry, v);
            }
        }
        // put_page (for the control too: if a zap dropped the mapping's
        // reference meanwhile, ours is the last and frees the folio).
        g.store_point();
        a.put_folio(fi);
    }

    /// find_pte: keep the pointer, wait, use it.
    fn use_pointer(&self, g: &Guard, real: bool, ptr: (u64, usize), e: u64, huge: bool) {
        pause(g, self.delay_tb / 2);
        let now = read(g, ptr.0, ptr.1, real);
        if now == pgtable::POISON {
            self.violation(What::PoisonedTable, e, now);
        } else if huge && matches!(EntryView::of(now), EntryView::Table(_)) {
            self.violation(What::SplitUnderWalker, e, now);
        }
    }
}

/// What a walk found: the slot's entry (`pmd`, its value) and the leaf (at
/// `ptr`, the same as `pmd` for a huge leaf).
struct Found {
    pmd: (u64, usize),
    pmd_entry: u64,
    ptr: (u64, usize),
    entry: u64,
    leaf_pa: u64,
    checked: Option<u64>,
    huge: bool,
}

/// An empty out-of-line function. Calling it costs a return through an
/// indirect branch; in QEMU that is a trip through the translation-block
/// lookup, the timing in which TCG on an x86 host lets a store sit in the
/// store buffer past a later load (the kernel's SB litmus: `call` vs `none`).
#[inline(never)]
pub fn timing_gap() {}

extern "C" fn real_entry(walk: u64, _: u64) -> u64 {
    // SAFETY: `walk_once` passes the address of a live `Walk` and waits for
    // this call to return.
    let w = unsafe { &*(walk as *const Walk) };
    w.run(true);
    0
}

/// Per-CPU walk for the interrupt-path kind (read by the trap hook).
static IRQ_WALK: [AtomicUsize; percpu::MAX_CPUS] = [const { AtomicUsize::new(0) }; percpu::MAX_CPUS];

fn irq_hook(_tf: &mut trap::TrapFrame) {
    let w = IRQ_WALK[percpu::cpu_id()].load(Acquire);
    if w != 0 {
        // Inside the program-check handler: EE=0 by interrupt entry. Walk in
        // real mode, like a machine-check handler would.
        realmode::call(real_entry, w as u64, 0);
    }
}

/// Runs one walk of kind `w.kind` on this CPU.
pub fn walk_once(w: &Walk) {
    w.counters.by_kind[w.kind.index()].fetch_add(1, Relaxed);
    match w.kind {
        Kind::Hw => hw_walk(w),
        Kind::Irq => {
            IRQ_WALK[percpu::cpu_id()].store(w as *const Walk as usize, Release);
            trap::set_program_hook(Some(irq_hook));
            trap::trap_instruction();
            trap::set_program_hook(None);
            IRQ_WALK[percpu::cpu_id()].store(0, Release);
        }
        Kind::RealMode => {
            realmode::call(real_entry, w as *const Walk as u64, 0);
        }
        _ => {
            let was = arch::irq_save();
            w.run(false);
            arch::irq_restore(was);
        }
    }
}

/// The MMU as the walker: a load through the mapping (the CPU must have
/// switched to the arena's mm), bracketed by reads of the slot's mapping
/// sequence. What the load returns must be the live data of a folio the slot
/// mapped at some point in between; a fault must coincide with a moment the
/// slot mapped nothing (empty, invalidated, or between a change and its
/// flush). Anything else is a translation the page tables did not give: a
/// stale TLB entry, or a walk through a freed (poisoned) page-table page.
fn hw_walk(w: &Walk) {
    w.counters.walks.fetch_add(1, Relaxed);
    let a = w.arena;
    let slot = &a.slots[w.slot];
    // The checked word at the start of each sub-page.
    let off = w.sub as u64 * a.shape.sub.bytes();
    let va = slot.va + off;
    let s0 = slot.seq();
    let r = probe::load(va);
    let s1 = slot.seq();
    let mut maps = [Mapping::Unmapped; arena::HISTORY];
    let Some(n) = slot.mappings(s0, s1, &mut maps) else {
        // The slot changed more often than its history holds.
        w.counters.unverified.fetch_add(1, Relaxed);
        return;
    };
    let maps = &maps[..n];
    match r {
        Ok(v) => {
            let mapped = matches!(arena::decode_data(v), Some((idx, gen)) if maps.contains(&Mapping::Folio { idx, gen }));
            if !mapped {
                detect::record(What::StaleTlbAccess, w.kind.name(), w.strategy.name(), va, s0, v);
            }
        }
        Err(fault) => {
            w.counters.faults.fetch_add(1, Relaxed);
            if !maps.contains(&Mapping::Unmapped) {
                detect::record(What::FaultOnMapped, w.kind.name(), w.strategy.name(), va, s0, fault.dsisr);
            }
        }
    }
}
