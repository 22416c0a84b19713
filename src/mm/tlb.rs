//! TLB and page-walk-cache invalidation, in the two modes Linux has on radix:
//!
//! * `tlbie` — broadcast by hardware: `ptesync; tlbie...; [P9 errata fixups];
//!   eieio; tlbsync; ptesync` (Linux radix_tlb.c `_tlbie_va`, `_tlbie_pid`,
//!   `_tlbie_va_range`);
//! * `ipi` — IPI every CPU in `mm_cpumask` and `tlbiel` locally there, then
//!   locally here (Linux with tlbie disabled, `_tlbiel_va_range_multicast`).
//!
//! A flush is a [`Target`]; each becomes the *sequence* of instructions Linux
//! issues for it (a range with the walk cache: the PWC invalidation first,
//! then each page; above [`SINGLE_PAGE_CEILING`] pages, the whole PID). Once a
//! sequence has completed, every instruction of it is reported to the POWER9
//! cache model (`mm::shadow`), which decides what each CPU may still hold.
//!
//! The POWER9 errata fixups (CPU_FTR_P9_TLBIE_ERAT_BUG / _STQ_BUG: an extra
//! `ptesync` + `tlbie` for PID 0 and a repeated `tlbie`) are on by default
//! because every POWER9 needs them; QEMU does not (bootarg `mmu.p9_errata=off`
//! skips them, which is only honest on QEMU).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};

use radix::{tlbie, PageSize, Ric, TlbieOperands};
use walkproto::CpuMask;

use super::shadow;
use crate::arch;
use crate::sys::config::{FlushBug, FlushMode, Mmu};
use crate::sys::{exit, percpu, smp};

/// How TLB flushes reach other CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Tlbie = 0,
    Ipi = 1,
}

static MODE: AtomicU8 = AtomicU8::new(Mode::Tlbie as u8);
static P9_ERRATA: AtomicBool = AtomicBool::new(true);
static FLUSH_BUG: AtomicU8 = AtomicU8::new(FlushBug::None as u8);
/// Global flush operations issued (tlbie sequences or IPI rounds).
pub static GLOBAL_FLUSHES: AtomicU64 = AtomicU64::new(0);
/// Local flush operations (tlbiel sequences).
pub static LOCAL_FLUSHES: AtomicU64 = AtomicU64::new(0);
/// `tlbie` (global) instructions issued, by [RIC][IS].
pub static TLBIE_INSNS: [[AtomicU64; 4]; 3] = [const { [const { AtomicU64::new(0) }; 4] }; 3];
/// `tlbiel` (local) instructions issued, by [RIC][IS].
pub static TLBIEL_INSNS: [[AtomicU64; 4]; 3] = [const { [const { AtomicU64::new(0) }; 4] }; 3];

/// TLB sets walked by a full local flush on POWER9 radix.
pub const TLB_SETS: u32 = radix::tlbie::POWER9_TLB_SETS_RADIX;

/// Above this many pages a range flush becomes a whole-PID flush (Linux
/// `tlb_single_page_flush_ceiling`).
pub const SINGLE_PAGE_CEILING: u64 = 33;

/// Takes the boot configuration (`mmu.flush=`, `mmu.p9_errata=`,
/// `mmu.flush_bug=`).
pub fn init(cfg: &Mmu) {
    let mode = match cfg.flush {
        FlushMode::Tlbie => Mode::Tlbie,
        FlushMode::Ipi => Mode::Ipi,
    };
    configure(mode, cfg.p9_errata);
    set_flush_bug(cfg.flush_bug);
}

/// Sets the flush mode and the errata fixups.
fn configure(mode: Mode, p9_errata: bool) {
    MODE.store(mode as u8, Relaxed);
    P9_ERRATA.store(p9_errata, Relaxed);
}

/// Sets the deliberate flush bug (a negative control; `None` = correct).
pub fn set_flush_bug(bug: FlushBug) {
    FLUSH_BUG.store(bug as u8, Relaxed);
}

/// The deliberate flush bug in effect.
pub fn flush_bug() -> FlushBug {
    FlushBug::ALL[FLUSH_BUG.load(Relaxed) as usize]
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
    /// One page of a process (quadrant 0), TLB only.
    Page { pid: u32, va: u64, size: PageSize },
    /// The pages of `size` in `[start, end)` of a process, with the
    /// page-walk cache first when `also_pwc` (Linux
    /// `radix__flush_tlb_range_psize` / `radix__flush_tlb_pwc_range_psize`).
    Range { pid: u32, start: u64, end: u64, size: PageSize, also_pwc: bool },
    /// Everything cached for a process: TLB, page-walk cache, or both.
    Pid { pid: u32, ric: Ric },
}

/// Most instructions of one sequence: a range of 33 pages, its walk-cache
/// flush and two errata fixups.
const MAX_OPS: usize = SINGLE_PAGE_CEILING as usize + 3;

/// The instructions of one flush sequence, in issue order.
pub struct Ops {
    ops: [TlbieOperands; MAX_OPS],
    len: usize,
}

impl Ops {
    const fn new() -> Ops {
        Ops { ops: [TlbieOperands { rb: 0, rs: 0, ric: 0, prs: 0, r: 0 }; MAX_OPS], len: 0 }
    }

    fn push(&mut self, op: TlbieOperands) {
        if self.len == MAX_OPS {
            exit::fail(format_args!("tlb: a flush sequence needs more than {MAX_OPS} instructions"));
        }
        self.ops[self.len] = op;
        self.len += 1;
    }

    /// The instructions.
    pub fn as_slice(&self) -> &[TlbieOperands] {
        &self.ops[..self.len]
    }
}

/// The AP of the page size a by-VA flush names: the real one, or another
/// one under the `wrong-ap` control.
fn flush_size(size: PageSize) -> PageSize {
    if flush_bug() != FlushBug::WrongAp {
        return size;
    }
    match size {
        PageSize::Size64K => PageSize::Size2M,
        _ => PageSize::Size64K,
    }
}

/// The PID a flush names: the real one, or the next one under the
/// `wrong-pid` control.
fn flush_pid(pid: u32) -> u32 {
    if flush_bug() == FlushBug::WrongPid {
        pid + 1
    } else {
        pid
    }
}

fn va_op(va: u64, pid: u32, size: PageSize) -> TlbieOperands {
    tlbie::tlbie_va(va, pid, 0, size).unwrap_or_else(|e| exit::fail(format_args!("flush of {va:#x}: {e:?}")))
}

/// Pages in a range target, or None when it flushes the whole PID instead.
fn range_pages(start: u64, end: u64, size: PageSize) -> Option<u64> {
    let n = (end - start) / size.bytes();
    (n <= SINGLE_PAGE_CEILING).then_some(n)
}

/// The `tlbie` sequence of a target, with the errata fixups.
fn global_ops(t: Target) -> Ops {
    let mut ops = Ops::new();
    let errata = P9_ERRATA.load(Relaxed);
    match t {
        Target::Page { pid, va, size } => {
            let (pid, size) = (flush_pid(pid), flush_size(size));
            ops.push(va_op(va, pid, size));
            if errata {
                fixup_va(&mut ops, va, pid, size);
            }
        }
        Target::Range { pid, start, end, size, also_pwc } => match range_pages(start, end, size) {
            Some(n) => {
                let (pid, fsize) = (flush_pid(pid), flush_size(size));
                if also_pwc {
                    ops.push(tlbie::tlbie_pid(pid, 0, Ric::Pwc));
                }
                for i in 0..n {
                    ops.push(va_op(start + i * size.bytes(), pid, fsize));
                }
                if errata && n > 0 {
                    fixup_va(&mut ops, start + (n - 1) * size.bytes(), pid, fsize);
                }
            }
            None => return global_ops(Target::Pid { pid, ric: if also_pwc { Ric::All } else { Ric::Tlb } }),
        },
        Target::Pid { pid, ric } => {
            let pid = flush_pid(pid);
            ops.push(tlbie::tlbie_pid(pid, 0, ric));
            // Linux _tlbie_pid: no fixup after a PWC-only invalidation.
            if errata && ric != Ric::Pwc {
                ops.push(tlbie::tlbie_pid(0, 0, Ric::Tlb));
                ops.push(va_op((1 << 52) - (1 << 16), pid, PageSize::Size64K));
            }
        }
    }
    ops
}

/// Linux fixup_tlbie_va_range: PID 0 (ERAT bug) and the page again (store-queue bug).
fn fixup_va(ops: &mut Ops, va: u64, pid: u32, size: PageSize) {
    ops.push(va_op(va, 0, size));
    ops.push(va_op(va, pid, size));
}

/// The `tlbiel` sequence of a target on one CPU. A whole-PID flush is a
/// sweep of every TLB set ([`TLB_SETS`]); it is generated by [`local_pid`].
fn local_ops(t: Target) -> Result<Ops, (u32, Ric)> {
    let mut ops = Ops::new();
    match t {
        Target::Page { pid, va, size } => ops.push(va_op(va, flush_pid(pid), flush_size(size))),
        Target::Range { pid, start, end, size, also_pwc } => match range_pages(start, end, size) {
            Some(n) => {
                let pid = flush_pid(pid);
                if also_pwc {
                    ops.push(tlbie::tlbiel_pid(pid, 0, 0, Ric::Pwc).expect("set 0"));
                }
                for i in 0..n {
                    ops.push(va_op(start + i * size.bytes(), pid, flush_size(size)));
                }
            }
            None => return Err((flush_pid(pid), if also_pwc { Ric::All } else { Ric::Tlb })),
        },
        Target::Pid { pid, ric } => return Err((flush_pid(pid), ric)),
    }
    Ok(ops)
}

fn count(insns: &[[AtomicU64; 4]; 3], op: &TlbieOperands) {
    insns[op.ric as usize % 3][op.is() as usize].fetch_add(1, Relaxed);
}

/// Invalidates `t` on every CPU that may cache it (`mm_cpumask`), in the
/// configured mode, and returns once that is complete everywhere (and the
/// model knows).
pub fn flush(t: Target, mm_cpumask: CpuMask) {
    GLOBAL_FLUSHES.fetch_add(1, Relaxed);
    match mode() {
        Mode::Tlbie => global_tlbie(t),
        Mode::Ipi => ipi_tlbiel(t, mm_cpumask),
    }
}

fn global_tlbie(t: Target) {
    let ops = global_ops(t);
    arch::ptesync();
    for op in ops.as_slice() {
        count(&TLBIE_INSNS, op);
        // SAFETY: the full ISA sequence surrounds the tlbie; invalidating
        // translations is always safe for memory (it only forces re-walks).
        unsafe { arch::tlbie_ops(op, false) };
    }
    arch::eieio();
    arch::tlbsync();
    arch::ptesync();
    shadow::invalidated(percpu::cpu_id(), false, ops.as_slice());
}

/// Runs the local sequence of `t` on this CPU (`tlbiel`, then `ptesync`).
/// Does not tell the model: an IPI handler must not take its lock.
fn local_raw(t: Target) {
    LOCAL_FLUSHES.fetch_add(1, Relaxed);
    arch::ptesync();
    match local_ops(t) {
        Ok(ops) => {
            for op in ops.as_slice() {
                count(&TLBIEL_INSNS, op);
                // SAFETY: local invalidation, followed by ptesync.
                unsafe { arch::tlbie_ops(op, true) };
            }
        }
        Err((pid, ric)) => {
            for op in tlbie::tlbiel_pid_sets(pid, 0, ric, TLB_SETS) {
                count(&TLBIEL_INSNS, &op);
                // SAFETY: local invalidation, followed by ptesync.
                unsafe { arch::tlbie_ops(&op, true) };
            }
        }
    }
    arch::ptesync();
}

/// Tells the model that `cpu` completed the local sequence of `t`.
fn local_done(cpu: usize, t: Target) {
    match local_ops(t) {
        Ok(ops) => shadow::invalidated(cpu, true, ops.as_slice()),
        Err((pid, ric)) => {
            let sweep: Vec<TlbieOperands> = tlbie::tlbiel_pid_sets(pid, 0, ric, TLB_SETS).collect();
            shadow::invalidated(cpu, true, &sweep);
        }
    }
}

/// Invalidates `t` on this CPU only (`tlbiel`).
pub fn local(t: Target) {
    local_raw(t);
    local_done(percpu::cpu_id(), t);
}

/// The IPI handler: `arg` points at the sender's `Target`.
fn ipi_handler(arg: u64) {
    // SAFETY: `ipi_tlbiel` passes the address of a live `Target` and waits
    // for every acknowledgement before returning.
    let t = unsafe { *(arg as *const Target) };
    local_raw(t);
}

fn ipi_tlbiel(t: Target, mm_cpumask: CpuMask) {
    let me = percpu::cpu_id();
    let others = mm_cpumask.without(me);
    if !others.is_empty() {
        let arg = &t as *const Target as u64;
        if let Err(e) = smp::call_many(others, ipi_handler, arg, true, "tlb flush (tlbiel)") {
            exit::fail(format_args!("{e}"));
        }
        // Every target acknowledged after its ptesync: tell the model.
        for cpu in others.iter() {
            local_done(cpu, t);
        }
    }
    local(t);
}

/// Full flush of this CPU's TLB, both scopes (Linux tlbiel_all_isa300).
pub fn local_flush_all() {
    LOCAL_FLUSHES.fetch_add(1, Relaxed);
    let mut sweep: Vec<TlbieOperands> = Vec::with_capacity(2 * TLB_SETS as usize);
    arch::ptesync();
    for scope in [radix::Scope::Partition, radix::Scope::Process] {
        for set in 0..TLB_SETS {
            let ric = if set == 0 { Ric::All } else { Ric::Tlb };
            let op = tlbie::tlbiel_set(true, set, scope, ric).expect("valid set");
            count(&TLBIEL_INSNS, &op);
            // SAFETY: local invalidation, followed by ptesync.
            unsafe { arch::tlbie_ops(&op, true) };
            sweep.push(op);
        }
    }
    arch::ptesync();
    shadow::invalidated(percpu::cpu_id(), true, &sweep);
}
