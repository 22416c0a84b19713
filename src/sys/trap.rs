//! Interrupt dispatch: the Rust side of boot/vectors.s and boot/trap.s.
//!
//! Every vector lands in `trap_dispatch` with a full register frame. Expected
//! interrupts (decrementer, doorbell, probe faults, program-check hooks) are
//! handled; anything else prints vector, (H)SRR0/1, DAR, DSISR, LR, MSR, the
//! CPU, all GPRs and a backtrace of the interrupted code, and fails the run.

use core::sync::atomic::{AtomicUsize, Ordering::*};

use super::{addr, exit, percpu, smp, time, watchdog};
use crate::arch;

/// Register state at interrupt time; layout shared with boot/trap.s.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub gpr: [u64; 32],
    pub ctr: u64,
    pub lr: u64,
    pub cr: u64,
    pub xer: u64,
    /// SRR0 or HSRR0: where execution resumes.
    pub srr0: u64,
    /// SRR1 or HSRR1: the MSR to resume with (plus interrupt cause bits).
    pub srr1: u64,
    /// DAR (HDAR for 0xe00).
    pub dar: u64,
    /// DSISR (HDSISR for 0xe00).
    pub dsisr: u64,
    pub vector: u64,
    /// 1 when the vector uses HSRR0/1 (return with hrfid).
    pub hv: u64,
    /// MSR while the handler runs.
    pub msr: u64,
    _pad: u64,
}

const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == 352);
    assert!(core::mem::offset_of!(TrapFrame, ctr) == 256);
    assert!(core::mem::offset_of!(TrapFrame, srr0) == 288);
    assert!(core::mem::offset_of!(TrapFrame, vector) == 320);
    assert!(core::mem::offset_of!(TrapFrame, hv) == 328);
    assert!(core::mem::offset_of!(TrapFrame, msr) == 336);
};

/// SRR1 bit of a program interrupt caused by a trap instruction.
pub const SRR1_PROGTRAP: u64 = 0x0002_0000;

extern "C" {
    fn trap_entry();
    static probe_load64_insn: u8;
    static probe_load64_fixup: u8;
    static probe_store64_insn: u8;
    static probe_store64_fixup: u8;
    static __vectors_end: u8;
}

/// Address of the asm interrupt entry, stored in every CPU's per-CPU area.
pub fn trap_entry_addr() -> u64 {
    trap_entry as *const () as u64
}

/// Human name of a vector, for reports.
pub fn vector_name(v: u64) -> &'static str {
    match v {
        0x100 => "system reset",
        0x200 => "machine check",
        0x300 => "data storage",
        0x380 => "data segment",
        0x400 => "instruction storage",
        0x480 => "instruction segment",
        0x500 => "external",
        0x600 => "alignment",
        0x700 => "program",
        0x800 => "FP unavailable",
        0x900 => "decrementer",
        0x980 => "hypervisor decrementer",
        0xa00 => "directed privileged doorbell",
        0xc00 => "system call",
        0xd00 => "trace",
        0xe00 => "hypervisor data storage",
        0xe20 => "hypervisor instruction storage",
        0xe40 => "hypervisor emulation assistance",
        0xe60 => "hypervisor maintenance",
        0xe80 => "hypervisor doorbell",
        0xea0 => "hypervisor virtualization",
        0xf00 => "performance monitor",
        0xf20 | 0xf40 | 0xf60 | 0xf80 => "facility unavailable",
        _ => "reserved",
    }
}

/// Copies the vector area of the image (offsets 0x100..0x8000) to physical
/// 0x100, unless the image already runs from physical 0.
///
/// # Safety
/// Physical 0..0x8000 must be ours (reserved in the frame allocator) and no
/// interrupt may be taken while the copy is incomplete (EE=0, ME=0).
pub unsafe fn install_vectors(image_phys: u64) {
    if image_phys == 0 {
        return;
    }
    let src = addr::image_start() + 0x100;
    let end = core::ptr::addr_of!(__vectors_end) as u64;
    let len = (end - src) as usize;
    let dst = addr::phys_to_virt(0x100);
    // SAFETY: src is our image, dst is low memory we own (caller's contract);
    // they do not overlap because the image is not at physical 0.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, len) };
    arch::sync_icache(dst, dst + len as u64);
}

/// Program-check hook: called for `trap` instructions while installed on a CPU.
pub type ProgramHook = fn(&mut TrapFrame);
static PROGRAM_HOOK: [AtomicUsize; percpu::MAX_CPUS] = [const { AtomicUsize::new(0) }; percpu::MAX_CPUS];

/// Installs (Some) or removes (None) this CPU's program-check hook.
pub fn set_program_hook(hook: Option<ProgramHook>) {
    PROGRAM_HOOK[percpu::cpu_id()].store(hook.map_or(0, |h| h as usize), Release);
}

/// Executes a `trap` instruction (program interrupt with SRR1[TRAP]); the
/// installed program hook runs in the interrupt handler, with EE=0.
pub fn trap_instruction() {
    // SAFETY: the program interrupt is handled by trap_dispatch, which runs
    // the hook and resumes at the next instruction.
    unsafe { arch::trap() };
}

#[no_mangle]
extern "C" fn trap_dispatch(tf: &mut TrapFrame) {
    let pc = percpu::this();
    let depth = pc.trap_depth.fetch_add(1, Relaxed);
    if depth > 4 {
        fatal(tf, "interrupts nested more than 4 deep");
    }
    match tf.vector {
        0x900 => time_tick(tf),
        0xe80 => smp::doorbell_interrupt(),
        0x300 | 0x380 => data_fault(tf),
        0x700 if tf.srr1 & SRR1_PROGTRAP != 0 => program_trap(tf),
        _ => fatal(tf, "unexpected exception"),
    }
    pc.trap_depth.fetch_sub(1, Relaxed);
}

fn time_tick(tf: &TrapFrame) {
    let pc = percpu::this();
    time::arm_decrementer();
    pc.ticks.fetch_add(1, Relaxed);
    pc.progress.fetch_add(1, Relaxed);
    pc.last_tick_pc.store(tf.srr0, Relaxed);
    watchdog::tick(regs_of(tf));
}

fn data_fault(tf: &mut TrapFrame) {
    let fixups = [
        (core::ptr::addr_of!(probe_load64_insn) as u64, core::ptr::addr_of!(probe_load64_fixup) as u64),
        (core::ptr::addr_of!(probe_store64_insn) as u64, core::ptr::addr_of!(probe_store64_fixup) as u64),
    ];
    let pc = addr::to_virt_alias(tf.srr0);
    for (insn, fixup) in fixups {
        if pc == insn {
            percpu::this().record_fault(percpu::FaultRecord {
                vector: tf.vector,
                dar: tf.dar,
                dsisr: tf.dsisr,
                pc: tf.srr0,
            });
            tf.srr0 = fixup;
            return;
        }
    }
    fatal(tf, "unexpected data storage fault");
}

fn program_trap(tf: &mut TrapFrame) {
    let hook = PROGRAM_HOOK[percpu::cpu_id()].load(Acquire);
    if hook == 0 {
        fatal(tf, "trap instruction with no hook installed");
    }
    // SAFETY: only `set_program_hook` stores non-zero values, and it stores
    // valid `ProgramHook` function pointers.
    let hook: ProgramHook = unsafe { core::mem::transmute::<usize, ProgramHook>(hook) };
    hook(tf);
    tf.srr0 += 4;
}

/// Where the interrupted code was: the start of its backtrace.
fn regs_of(tf: &TrapFrame) -> exit::Regs {
    exit::Regs { pc: tf.srr0, lr: tf.lr, sp: tf.gpr[1] }
}

/// Prints the full register report and the backtrace for `tf` and fails the run.
pub fn fatal(tf: &TrapFrame, why: &str) -> ! {
    let pc = percpu::this();
    let (s0, s1) = if tf.hv != 0 { ("HSRR0", "HSRR1") } else { ("SRR0", "SRR1") };
    println!(
        "\n!!! {why}: vector {:#x} ({}) on cpu {} (PIR {:#x})",
        tf.vector,
        vector_name(tf.vector),
        pc.id(),
        pc.pir()
    );
    println!(
        "!!! {s0}={:#018x} {s1}={:#018x} DAR={:#018x} DSISR={:#010x}",
        tf.srr0, tf.srr1, tf.dar, tf.dsisr
    );
    println!("!!! LR={:#018x} CTR={:#018x} CR={:#010x} MSR={:#018x}", tf.lr, tf.ctr, tf.cr, tf.msr);
    for row in 0..8 {
        let r = row * 4;
        println!(
            "!!! r{:<2}={:#018x} r{:<2}={:#018x} r{:<2}={:#018x} r{:<2}={:#018x}",
            r,
            tf.gpr[r],
            r + 1,
            tf.gpr[r + 1],
            r + 2,
            tf.gpr[r + 2],
            r + 3,
            tf.gpr[r + 3]
        );
    }
    exit::backtrace(regs_of(tf), true);
    exit::fail(format_args!(
        "{why}: vector {:#x} ({}) on cpu {} at {s0}={:#x}",
        tf.vector,
        vector_name(tf.vector),
        pc.id(),
        tf.srr0
    ));
}
