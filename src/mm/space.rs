//! Address spaces ("mm"s): a radix tree with its own PID, mapped in
//! quadrant 0, plus `mm_cpumask` and the walker-protocol state.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

use radix::{EntryView, Level, PageSize, PteFlags};
use walkproto::{CpuMask, MmSync};

pub use super::pgtable::{leaf_level, map_in, slot_alloc, slot_lookup, MapError};
use super::pgtable::{self, GEOM};
use super::{mmu, shadow, tlb};
use crate::arch;
use crate::sys::{exit, percpu};

const MASK_WORDS: usize = walkproto::MAX_CPUS / 64;

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
        // The model first: from the PIDR write on, the MMU may cache.
        shadow::switch(cpu, Some(self.pid));
        arch::sync();
        // SAFETY: PIDR selects the quadrant-0 tree; kernel code and data live
        // in quadrant 3 (PID 0) and are unaffected.
        unsafe { arch::mtspr::<{ arch::SPR_PIDR }>(self.pid as u64) };
        arch::isync();
    }
}

impl Mm {
    /// Tears the address space down once no CPU runs or walks it (the
    /// caller has already removed and freed what it owns below the
    /// directories): clears its process-table entry, flushes its PID
    /// everywhere (TLB, walk cache and the cached process-table entry), and
    /// only then frees every page-table page — Linux's order in `exit_mmap`
    /// (`tlb_finish_mmu` flushes before the tables go). The `Mm` itself
    /// stays allocated (a few bytes) so that stale `&'static` references
    /// remain harmless.
    pub fn destroy(&self) {
        mmu::set_process_entry(self.pid, 0);
        self.flush_all();
        free_tree(self.root, Level::Pgd);
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
    // The model after: what the CPU cached of the old PID stays cached.
    shadow::switch(percpu::cpu_id(), None);
}
