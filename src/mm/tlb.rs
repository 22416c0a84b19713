//! TLB invalidation, in the two modes Linux has on radix:
//!
//! * `tlbie` — broadcast by hardware: `ptesync; tlbie; [P9 errata fixups];
//!   eieio; tlbsync; ptesync` (Linux radix_tlb.c `_tlbie_va`/`_tlbie_pid`).
//! * `ipi` — IPI every CPU in `mm_cpumask` and `tlbiel` locally there, then
//!   locally here (Linux with tlbie disabled, `_tlbiel_va_multicast`).
//!
//! The POWER9 errata fixups (CPU_FTR_P9_TLBIE_ERAT_BUG / _STQ_BUG: an extra
//! `ptesync` + `tlbie` for PID 0 and a repeated `tlbie`) are on by default
//! because every POWER9 needs them; QEMU does not (bootarg `mmu.p9_errata=off`
//! skips them, which is only honest on QEMU).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};

use radix::{tlbie, PageSize, Ric, TlbieOperands};
use walkproto::CpuMask;

use crate::arch;
use crate::sys::{exit, percpu, smp};

/// How TLB flushes reach other CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Tlbie = 0,
    Ipi = 1,
}

static MODE: AtomicU8 = AtomicU8::new(Mode::Tlbie as u8);
static P9_ERRATA: AtomicBool = AtomicBool::new(true);
/// Global flush operations issued (tlbie sequences or IPI rounds).
pub static GLOBAL_FLUSHES: AtomicU64 = AtomicU64::new(0);
/// Local flush operations (tlbiel sequences).
pub static LOCAL_FLUSHES: AtomicU64 = AtomicU64::new(0);

/// TLB sets walked by a full local flush on POWER9 radix.
const TLB_SETS: u32 = radix::tlbie::POWER9_TLB_SETS_RADIX;

/// Takes the boot configuration (`mmu.flush=`, `mmu.p9_errata=`).
pub fn init(cfg: &crate::sys::config::Mmu) {
    let mode = match cfg.flush {
        crate::sys::config::FlushMode::Tlbie => Mode::Tlbie,
        crate::sys::config::FlushMode::Ipi => Mode::Ipi,
    };
    configure(mode, cfg.p9_errata);
}

/// Sets the flush mode and the errata fixups.
fn configure(mode: Mode, p9_errata: bool) {
    MODE.store(mode as u8, Relaxed);
    P9_ERRATA.store(p9_errata, Relaxed);
}

/// Whether the POWER9 errata fixups are on.
pub fn p9_errata() -> bool {
    P9_ERRATA.load(Relaxed)
}

/// Switches the flush mode until the guard is dropped (tests that need a
/// particular mode whatever `mmu.flush=` says).
pub struct ModeGuard {
    old: Mode,
}

impl ModeGuard {
    pub fn set(mode: Mode) -> ModeGuard {
        let old = self::mode();
        configure(mode, p9_errata());
        ModeGuard { old }
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        configure(self.old, p9_errata());
    }
}

/// The current flush mode.
pub fn mode() -> Mode {
    if MODE.load(Relaxed) == Mode::Ipi as u8 {
        Mode::Ipi
    } else {
        Mode::Tlbie
    }
}

/// Name of a mode, as in the bootarg.
pub fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Tlbie => "tlbie",
        Mode::Ipi => "ipi",
    }
}

/// What to invalidate.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// One page of a process (quadrant 0).
    Page { pid: u32, va: u64, size: PageSize },
    /// Everything cached for a process: TLB, page-walk cache, or both.
    Pid { pid: u32, ric: Ric },
}

fn ops_for(t: Target) -> TlbieOperands {
    match t {
        Target::Page { pid, va, size } => tlbie::tlbie_va(va, pid, 0, size)
            .unwrap_or_else(|e| exit::fail(format_args!("flush of {va:#x}: {e:?}"))),
        Target::Pid { pid, ric } => tlbie::tlbie_pid(pid, 0, ric),
    }
}

/// Invalidates `t` on every CPU that may cache it (`mm_cpumask`), in the
/// configured mode, and returns once that is complete everywhere.
pub fn flush(t: Target, mm_cpumask: CpuMask) {
    GLOBAL_FLUSHES.fetch_add(1, Relaxed);
    match mode() {
        Mode::Tlbie => global_tlbie(t),
        Mode::Ipi => ipi_tlbiel(t, mm_cpumask),
    }
}

fn global_tlbie(t: Target) {
    let op = ops_for(t);
    arch::ptesync();
    // SAFETY: the full ISA sequence surrounds the tlbie; invalidating
    // translations is always safe for memory (it only forces re-walks).
    unsafe { arch::tlbie_ops(&op, false) };
    // Linux _tlbie_pid: no fixup after a PWC-only invalidation.
    let pwc_only = matches!(t, Target::Pid { ric: Ric::Pwc, .. });
    if P9_ERRATA.load(Relaxed) && !pwc_only {
        errata_fixup(t);
    }
    arch::eieio();
    arch::tlbsync();
    arch::ptesync();
}

/// Linux fixup_tlbie_va / fixup_tlbie_pid (POWER9 ERAT and store-queue bugs).
fn errata_fixup(t: Target) {
    let (erat, stq) = match t {
        Target::Page { pid, va, size } => (
            tlbie::tlbie_va(va, 0, 0, size).expect("checked va"),
            tlbie::tlbie_va(va, pid, 0, size).expect("checked va"),
        ),
        Target::Pid { pid, .. } => (
            tlbie::tlbie_pid(0, 0, Ric::Tlb),
            tlbie::tlbie_va((1 << 52) - (1 << 16), pid, 0, PageSize::Size64K).expect("constant va"),
        ),
    };
    arch::ptesync();
    // SAFETY: as in global_tlbie; these are extra invalidations only.
    unsafe { arch::tlbie_ops(&erat, false) };
    arch::ptesync();
    // SAFETY: as above.
    unsafe { arch::tlbie_ops(&stq, false) };
}

/// Invalidates `t` on this CPU only (`tlbiel`).
pub fn local(t: Target) {
    LOCAL_FLUSHES.fetch_add(1, Relaxed);
    arch::ptesync();
    match t {
        Target::Page { .. } => {
            let op = ops_for(t);
            // SAFETY: local invalidation, followed by ptesync.
            unsafe { arch::tlbie_ops(&op, true) };
        }
        Target::Pid { pid, ric } => {
            for op in tlbie::tlbiel_pid_sets(pid, 0, ric, TLB_SETS) {
                // SAFETY: local invalidation, followed by ptesync.
                unsafe { arch::tlbie_ops(&op, true) };
            }
        }
    }
    arch::ptesync();
}

/// Packs a target for an IPI argument: the sender waits, so a pointer to
/// its stack is fine.
fn ipi_handler(arg: u64) {
    // SAFETY: `ipi_tlbiel` passes the address of a live `Target` and waits
    // for every acknowledgement before returning.
    let t = unsafe { *(arg as *const Target) };
    local(t);
}

fn ipi_tlbiel(t: Target, mm_cpumask: CpuMask) {
    let me = percpu::cpu_id();
    let others = mm_cpumask.without(me);
    if !others.is_empty() {
        let arg = &t as *const Target as u64;
        if let Err(e) = smp::call_many(others, ipi_handler, arg, true, "tlb flush (tlbiel)") {
            exit::fail(format_args!("{e}"));
        }
    }
    local(t);
}

/// Full flush of this CPU's TLB, both scopes (Linux tlbiel_all_isa300).
pub fn local_flush_all() {
    LOCAL_FLUSHES.fetch_add(1, Relaxed);
    arch::ptesync();
    for scope in [radix::Scope::Partition, radix::Scope::Process] {
        for set in 0..TLB_SETS {
            let ric = if set == 0 { Ric::All } else { Ric::Tlb };
            let op = tlbie::tlbiel_set(true, set, scope, ric).expect("valid set");
            // SAFETY: local invalidation, followed by ptesync.
            unsafe { arch::tlbie_ops(&op, true) };
        }
    }
    arch::ptesync();
}
