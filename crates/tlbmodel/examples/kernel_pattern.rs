//! Host benchmark of the kernel's call pattern (see `tests/pattern/mod.rs`):
//! 4 and 16 CPUs, `tlbie` and IPI flushes, printing model calls/s, µs and
//! heap allocations per changer step, and a digest of every answer.
//!
//! ```sh
//! cargo run --release -p tlbmodel --example kernel_pattern -- \
//!     [--steps N] [--cpus N] [--flush tlbie|ipi] [--kernel-heap] [-v]
//! ```
//!
//! `--kernel-heap` allocates from a 64 MiB `linked_list_allocator` heap,
//! the kernel's allocator (`src/mm/heap.rs`), instead of the system one;
//! `-v` adds the time per kind of step.

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
        if USE_KERNEL_HEAP.load(Relaxed) {
            KERNEL_HEAP.alloc(layout)
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if in_kernel_heap(p) {
            KERNEL_HEAP.dealloc(p, layout)
        } else {
            System.dealloc(p, layout)
        }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
            _ => panic!("usage: kernel_pattern [--steps N] [--cpus N] [--flush tlbie|ipi] [--kernel-heap] [-v]"),
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
