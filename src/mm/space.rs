//! Address spaces ("mm"s): a radix tree with its own PID, mapped in
//! quadrant 0, plus `mm_cpumask` and the walker-protocol state.

use alloc::boxed::Box;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

use radix::{EntryView, Level, PageSize, Pde, Pte, PteFlags};
use walkproto::{CpuMask, MmSync};

use super::pgtable::{self, GEOM};
use super::{mmu, tlb};
use crate::{arch, exit, percpu};

const MASK_WORDS: usize = walkproto::MAX_CPUS / 64;

/// A mapping request that cannot be satisfied.
#[derive(Clone, Copy, Debug)]
pub enum MapError {
    /// The slot holds a leaf or table that would be overwritten.
    Occupied { level: Level, entry: u64 },
    /// Address or size not encodable.
    Encode(radix::EncodeError),
    /// Nothing mapped there.
    NotMapped { level: Level },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Occupied { level, entry } => write!(f, "{level:?} slot occupied by {entry:#018x}"),
            MapError::Encode(e) => write!(f, "{e:?}"),
            MapError::NotMapped { level } => write!(f, "nothing mapped at {level:?} level"),
        }
    }
}

/// The level whose leaves have `size`.
pub const fn leaf_level(size: PageSize) -> Level {
    match size {
        PageSize::Size1G => Level::Pud,
        PageSize::Size2M => Level::Pmd,
        _ => Level::Pte,
    }
}

/// Walks from `root` to the table at `level` for `va`, creating missing
/// directory tables; returns (table_pa, index) of the slot.
pub fn slot_alloc(root: u64, va: u64, level: Level) -> Result<(u64, usize), MapError> {
    let mut table = root;
    let mut l = Level::Pgd;
    while l != level {
        let idx = GEOM.index(l, va);
        let next = l.next().expect("level above the target");
        let e = pgtable::read(table, idx);
        table = match EntryView::of(e) {
            EntryView::Table(pde) => pde.next_table_pa(),
            EntryView::Empty => {
                let t = pgtable::alloc_table(pgtable::level_bytes(next));
                let pde = Pde::table(t, GEOM.index_bits(next)).map_err(MapError::Encode)?;
                // The zeroed table must be visible before the pointer to it.
                arch::lwsync();
                pgtable::write(table, idx, pde.raw());
                t
            }
            _ => return Err(MapError::Occupied { level: l, entry: e }),
        };
        l = next;
    }
    Ok((table, GEOM.index(level, va)))
}

/// Like [`slot_alloc`] but never creates tables.
pub fn slot_lookup(root: u64, va: u64, level: Level) -> Result<(u64, usize), MapError> {
    let mut table = root;
    let mut l = Level::Pgd;
    while l != level {
        let e = pgtable::read(table, GEOM.index(l, va));
        table = match EntryView::of(e) {
            EntryView::Table(pde) => pde.next_table_pa(),
            EntryView::Empty => return Err(MapError::NotMapped { level: l }),
            _ => return Err(MapError::Occupied { level: l, entry: e }),
        };
        l = l.next().expect("level above the target");
    }
    Ok((table, GEOM.index(level, va)))
}

/// Installs a leaf for `va` → `pa` of `size` in the tree at `root`.
pub fn map_in(root: u64, va: u64, pa: u64, size: PageSize, flags: PteFlags) -> Result<(), MapError> {
    let (table, idx) = slot_alloc(root, va, leaf_level(size))?;
    let old = pgtable::read(table, idx);
    if old != 0 {
        return Err(MapError::Occupied { level: leaf_level(size), entry: old });
    }
    let pte = Pte::leaf(pa, size, flags).map_err(MapError::Encode)?;
    pgtable::write(table, idx, pte.raw());
    arch::ptesync();
    Ok(())
}

static NEXT_PID: AtomicU32 = AtomicU32::new(1);

/// A test address space.
pub struct Mm {
    /// Process id (PIDR value) selecting this tree for quadrant 0.
    pub pid: u32,
    /// Physical address of the root table.
    pub root: u64,
    cpumask: [AtomicU64; MASK_WORDS],
    /// Walker-protocol state (the counting registry's per-mm counter).
    pub sync: MmSync,
}

impl Mm {
    /// Creates an empty address space with a fresh PID.
    pub fn new() -> &'static Mm {
        let pid = NEXT_PID.fetch_add(1, Relaxed);
        if pid > mmu::MAX_PID {
            exit::fail(format_args!("out of PIDs (max {})", mmu::MAX_PID));
        }
        let root = pgtable::alloc_table(pgtable::level_bytes(Level::Pgd));
        mmu::set_process_entry(pid, root);
        Box::leak(Box::new(Mm {
            pid,
            root,
            cpumask: [const { AtomicU64::new(0) }; MASK_WORDS],
            sync: MmSync::new(pid),
        }))
    }

    /// Maps one page.
    pub fn map(&self, va: u64, pa: u64, size: PageSize, flags: PteFlags) -> Result<(), MapError> {
        map_in(self.root, va, pa, size, flags)
    }

    /// Clears the leaf for `va` of `size` (no flush); returns the old entry.
    pub fn unmap(&self, va: u64, size: PageSize) -> Result<u64, MapError> {
        let (table, idx) = slot_lookup(self.root, va, leaf_level(size))?;
        let old = pgtable::exchange(table, idx, 0);
        if old == 0 {
            return Err(MapError::NotMapped { level: leaf_level(size) });
        }
        Ok(old)
    }

    /// Flushes one page of this mm everywhere it may be cached.
    pub fn flush_page(&self, va: u64, size: PageSize) {
        tlb::flush(tlb::Target::Page { pid: self.pid, va, size }, self.cpumask());
    }

    /// Flushes TLB and page-walk cache of this mm everywhere.
    pub fn flush_all(&self) {
        tlb::flush(tlb::Target::Pid { pid: self.pid, ric: radix::Ric::All }, self.cpumask());
    }

    /// Flushes the page-walk cache of this mm everywhere (after unlinking a
    /// page-table page whose leaves were already cleared and flushed).
    pub fn flush_pwc(&self) {
        tlb::flush(tlb::Target::Pid { pid: self.pid, ric: radix::Ric::Pwc }, self.cpumask());
    }

    /// CPUs that have run with this mm's PID (Linux `mm_cpumask`).
    pub fn cpumask(&self) -> CpuMask {
        let mut m = CpuMask::new();
        for (w, word) in self.cpumask.iter().enumerate() {
            let mut bits = word.load(Relaxed);
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                m.set(w * 64 + b);
                bits &= bits - 1;
            }
        }
        m
    }

    /// Makes this mm the running CPU's quadrant-0 address space. As in Linux
    /// switch_mm: the CPU joins `mm_cpumask` with a full barrier *before*
    /// PIDR is written, so a flusher either sees it in the mask or it sees
    /// the flusher's table updates.
    pub fn switch_to(&self) {
        let cpu = percpu::cpu_id();
        self.cpumask[cpu / 64].fetch_or(1 << (cpu % 64), SeqCst);
        arch::sync();
        // SAFETY: PIDR selects the quadrant-0 tree; kernel code and data live
        // in quadrant 3 (PID 0) and are unaffected.
        unsafe { arch::mtspr::<{ arch::SPR_PIDR }>(self.pid as u64) };
        arch::isync();
    }
}

impl Mm {
    /// Frees every page-table page of this mm (the caller has already
    /// removed and freed what it owns below the directories, and no CPU
    /// walks it any more), clears its process-table entry and flushes its
    /// PID everywhere. The `Mm` itself stays allocated (a few bytes) so that
    /// stale `&'static` references remain harmless.
    pub fn destroy(&self) {
        free_tree(self.root, Level::Pgd);
        mmu::set_process_entry(self.pid, 0);
        self.flush_all();
    }
}

fn free_tree(table: u64, level: Level) {
    if let Some(next) = level.next() {
        for i in 0..GEOM.entries(level) as usize {
            if let EntryView::Table(pde) = EntryView::of(pgtable::read(table, i)) {
                free_tree(pde.next_table_pa(), next);
            }
        }
    }
    pgtable::free_table(table, pgtable::level_bytes(level));
}

/// Switches this CPU back to PID 0. The CPU stays in the mm's cpumask
/// (Linux never trims it eagerly either). Quadrant 0 with PID 0 aliases the
/// linear map (the kernel tree, as in Linux); no test touches it.
pub fn switch_to_kernel_only() {
    // SAFETY: kernel code and data are in quadrant 3 (PID 0) and unaffected.
    unsafe { arch::mtspr::<{ arch::SPR_PIDR }>(0) };
    arch::isync();
}
