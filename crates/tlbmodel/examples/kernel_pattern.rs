//! Host benchmark of the kernel's call pattern (see `tests/pattern/mod.rs`):
//! 4 and 16 CPUs, `tlbie` and IPI flushes, printing model calls/s, µs and
//! heap allocations per changer step, and a digest of every answer.
//!
//! ```sh
//! cargo run --release -p tlbmodel --example kernel_pattern -- \
//!     [--steps N] [--cpus N] [--flush tlbie|ipi] [--kernel-heap] [-v] [--memory]
//! ```
//!
//! `--kernel-heap` allocates from a 64 MiB `linked_list_allocator` heap,
//! the kernel's allocator (`src/mm/heap.rs`), instead of the system one;
//! `-v` adds the time per kind of step. `--memory` prints the heap a model
//! holds for a process of 2016 leaves that 4 or 16 CPUs ran and left.

#[path = "../tests/pattern/mod.rs"]
mod pattern;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use linked_list_allocator::LockedHeap;

const KERNEL_HEAP_BYTES: usize = 64 << 20;

static KERNEL_HEAP: LockedHeap = LockedHeap::empty();
static KERNEL_HEAP_START: AtomicUsize = AtomicUsize::new(0);
static USE_KERNEL_HEAP: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not freed.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts allocations; serves them from the kernel heap while it is on.
struct Counting;

fn in_kernel_heap(p: *mut u8) -> bool {
    let start = KERNEL_HEAP_START.load(Relaxed);
    start != 0 && (p as usize).wrapping_sub(start) < KERNEL_HEAP_BYTES
}

// SAFETY: forwards to two sound allocators; a block is freed by the one
// whose range holds it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE.fetch_add(layout.size(), Relaxed);
        if USE_KERNEL_HEAP.load(Relaxed) {
            KERNEL_HEAP.alloc(layout)
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        if in_kernel_heap(p) {
            KERNEL_HEAP.dealloc(p, layout)
        } else {
            System.dealloc(p, layout)
        }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes a model holds in the README's worst case: a process of 2016
/// 64K leaves (63 PTE tables), `cpus` CPUs that ran it and switched away
/// (each keeps all it reached until a PID flush).
fn memory(cpus: usize) {
    use radix::tlbie::{tlbie_pid, POWER9_TLB_SETS_RADIX};
    use radix::{Geometry, Level, PageSize, Pde, Pte, PteFlags, Ric};
    const G: Geometry = Geometry::RADIX_64K;
    let kb = |b: usize| b as f64 / 1024.0;
    let live0 = LIVE.load(Relaxed);
    let mut m = tlbmodel::Model::new(G, cpus, POWER9_TLB_SETS_RADIX);
    let (pgd, pud, pmd) = (0x100_0000, 0x102_0000, 0x102_1000);
    m.table_alloc(pgd, G.table_bytes(Level::Pgd)).unwrap();
    m.table_alloc(pud, G.table_bytes(Level::Pud)).unwrap();
    m.table_alloc(pmd, G.table_bytes(Level::Pmd)).unwrap();
    m.set_root(0, 7, Some(pgd)).unwrap();
    m.store(pgd, 0, 0, Pde::table(pud, 9).unwrap().raw()).unwrap();
    m.store(pud, 0, 0, Pde::table(pmd, 9).unwrap().raw()).unwrap();
    for t in 0..63u64 {
        let pte = 0x103_0000 + t * 0x100;
        m.table_alloc(pte, 256).unwrap();
        for i in 0..32u64 {
            let leaf = Pte::leaf(0x4000_0000 + (t * 32 + i) * 0x1_0000, PageSize::Size64K, PteFlags::USER_RW)
                .unwrap();
            m.store(pte, i as usize, 0, leaf.raw()).unwrap();
        }
        m.store(pmd, t as usize, 0, Pde::table(pte, 5).unwrap().raw()).unwrap();
    }
    let tree = LIVE.load(Relaxed) - live0;
    for c in 0..cpus {
        m.switch(c, 0, Some(7)).unwrap();
    }
    for c in 0..cpus {
        m.switch(c, 0, None).unwrap();
    }
    let stale = LIVE.load(Relaxed) - live0;
    let s = m.stats();
    m.invalidate(0, false, 0, &[tlbie_pid(7, 0, Ric::All)]).unwrap();
    let flushed = LIVE.load(Relaxed) - live0;
    println!(
        "memory cpus={cpus}: tree of {} leaves {:.0} KiB; after {cpus} CPUs switched away ({} stale TLB, {} stale PWC entries) {:.0} KiB; after a PID flush {:.0} KiB",
        s.valid_leaves,
        kb(tree),
        s.stale_tlb,
        s.stale_pwc,
        kb(stale),
        kb(flushed)
    );
}

fn main() {
    let mut steps = 20_000;
    let mut cpus: Option<usize> = None;
    let mut flush: Option<bool> = None;
    let mut kernel_heap = false;
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--steps" => steps = val().parse().expect("--steps N"),
            "--cpus" => cpus = Some(val().parse().expect("--cpus N")),
            "--flush" => flush = Some(val() == "ipi"),
            "--kernel-heap" => kernel_heap = true,
            "-v" | "--verbose" => verbose = true,
            "--memory" => {
                memory(4);
                memory(16);
                return;
            }
            _ => panic!("usage: kernel_pattern [--steps N] [--cpus N] [--flush tlbie|ipi] [--kernel-heap] [-v] [--memory]"),
        }
    }
    if kernel_heap {
        let mem = Box::leak(vec![0u8; KERNEL_HEAP_BYTES].into_boxed_slice());
        // SAFETY: a leaked, unused 64 MiB block, handed to the heap once.
        unsafe { KERNEL_HEAP.lock().init(mem.as_mut_ptr(), KERNEL_HEAP_BYTES) };
        KERNEL_HEAP_START.store(mem.as_mut_ptr() as usize, Relaxed);
    }
    for mut cfg in pattern::configs(steps) {
        if cpus.is_some_and(|c| c != cfg.cpus) || flush.is_some_and(|f| f != cfg.ipi) {
            continue;
        }
        if let Some(c) = cpus {
            cfg.cpus = c;
        }
        USE_KERNEL_HEAP.store(kernel_heap, Relaxed);
        let a0 = ALLOCS.load(Relaxed);
        let o = pattern::run(cfg);
        let allocs = ALLOCS.load(Relaxed) - a0;
        USE_KERNEL_HEAP.store(false, Relaxed);
        println!(
            "{} allocs/step={:.0}{}",
            pattern::describe(&cfg, &o),
            allocs as f64 / o.steps as f64,
            if kernel_heap { " (kernel heap)" } else { "" }
        );
        if verbose {
            print!("{}", pattern::breakdown(&o));
        }
    }
}
