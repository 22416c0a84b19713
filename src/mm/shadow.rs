//! The kernel's instance of the POWER9 TLB / page-walk-cache model (the
//! `tlbmodel` crate): what each CPU's MMU *may* still hold cached, by the ISA's
//! rules, whatever QEMU actually flushed.
//!
//! The rest of `mm` reports every page-table page allocated (`pgtable`),
//! every entry store (`pgtable::write`/`exchange`), every process-table root
//! (`mmu::set_process_entry`), every PIDR write (`space`) and every completed
//! `tlbie`/`tlbiel` sequence (`tlb`), and asks before a page-table page
//! (`pgtable::free_table`) or memory (`frames::free_phys`, a folio's free)
//! is freed. A free that some CPU can still reach is handed to the violation
//! hook (the walk layer records it in the detector); without a hook it fails
//! the run. An operation the model does not know (an invalid or unexpected
//! `tlbie` form, a store to a table it was not told about) fails the run,
//! naming it: the model is never silently skipped.
//!
//! `mmu.model=off` turns it off (the benchmark does); then nothing is checked
//! and the reports say so.
//!
//! The model is global behind one lock, taken with EE=0: IPI handlers never
//! call it (their `tlbiel`s are reported by the sender once every target has
//! acknowledged).

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

use radix::TlbieOperands;
use spin::Mutex;
use tlbmodel::{FreeError, Leftovers, Model, Stats};

use crate::arch;
use crate::sys::exit;

static MODEL: Mutex<Option<Model>> = Mutex::new(None);
static ON: AtomicBool = AtomicBool::new(false);
/// The host's LPID (the kernel runs the host partition).
const LPID: u32 = 0;

/// What a free that is still reachable is handed to.
pub type ViolationHook = fn(&Leftovers);
static HOOK: AtomicUsize = AtomicUsize::new(0);

/// Starts the model for `ncpus` CPUs, the tree geometry `geom` and
/// `tlb_sets` TLB congruence classes per CPU (after the kernel's own tables
/// exist; they are not modelled: the linear map never changes).
pub fn init(on: bool, ncpus: usize, geom: radix::Geometry, tlb_sets: u32) {
    if on {
        *MODEL.lock() = Some(Model::new(geom, ncpus, tlb_sets));
    }
    ON.store(on, Release);
}

/// Whether the model checks frees.
pub fn enabled() -> bool {
    ON.load(Relaxed)
}

/// Sets where unsafe frees go (the walk layer's detector).
pub fn set_violation_hook(hook: ViolationHook) {
    HOOK.store(hook as usize, Release);
}

/// Runs `f` on the model (if on) with EE=0 and the lock held.
fn with<R>(f: impl FnOnce(&mut Model) -> R) -> Option<R> {
    if !ON.load(Relaxed) {
        return None;
    }
    let was = arch::irq_save();
    let r = MODEL.lock().as_mut().map(f);
    arch::irq_restore(was);
    r
}

/// A model error: the kernel did something the model cannot follow.
fn model_error(what: &str, e: &dyn core::fmt::Display) -> ! {
    exit::fail(format_args!("tlbmodel: {what}: {e}"))
}

fn unsafe_free(l: &Leftovers) {
    match HOOK.load(Acquire) {
        0 => exit::fail(format_args!("{l}")),
        h => {
            // SAFETY: only `set_violation_hook` stores non-zero values, and
            // it stores valid `ViolationHook` function pointers.
            let hook: ViolationHook = unsafe { core::mem::transmute::<usize, ViolationHook>(h) };
            hook(l);
        }
    }
}

/// A zeroed page-table page now exists at `pa`.
pub fn table_alloc(pa: u64, bytes: u64) {
    if let Some(Err(e)) = with(|m| m.table_alloc(pa, bytes)) {
        model_error("page-table allocation", &e);
    }
}

/// Entry `idx` of the table at `table` changed from `old` to `new`.
pub fn store(table: u64, idx: usize, old: u64, new: u64) {
    if let Some(Err(e)) = with(|m| m.store(table, idx, old, new)) {
        model_error("entry store", &e);
    }
}

/// The process-table entry of `pid` now points at `root` (None: cleared).
pub fn set_root(pid: u32, root: Option<u64>) {
    if let Some(Err(e)) = with(|m| m.set_root(LPID, pid, root)) {
        model_error("process-table entry", &e);
    }
}

/// `cpu` wrote its PIDR: it now runs `pid` (None: the kernel only).
pub fn switch(cpu: usize, pid: Option<u32>) {
    if let Some(Err(e)) = with(|m| m.switch(cpu, LPID, pid)) {
        model_error("PIDR write", &e);
    }
}

/// A flush sequence completed on `cpu` (`local`: `tlbiel`, else `tlbie`).
pub fn invalidated(cpu: usize, local: bool, ops: &[TlbieOperands]) {
    if let Some(Err(e)) = with(|m| m.invalidate(cpu, local, LPID, ops)) {
        model_error(if local { "tlbiel sequence" } else { "tlbie sequence" }, &e);
    }
}

/// Real memory `[pa, pa + bytes)` is about to be freed or poisoned: no CPU
/// may still translate to it.
pub fn check_free_page(pa: u64, bytes: u64) {
    if let Some(Err(l)) = with(|m| m.check_free_page(pa, bytes)) {
        unsafe_free(&l);
    }
}

/// A page-table page is about to be freed: no CPU's walk cache may point at
/// it, and it must not be linked any more.
pub fn table_free(pa: u64, bytes: u64) {
    match with(|m| m.table_free(pa, bytes)) {
        Some(Err(FreeError::Leftovers(l))) => unsafe_free(&l),
        Some(Err(FreeError::Model(e))) => model_error("page-table free", &e),
        _ => {}
    }
}

/// The model's counters (None when it is off).
pub fn stats() -> Option<Stats> {
    with(|m| m.stats())
}
