//! The only place with inline assembly: one tiny wrapper per instruction or SPR.
//!
//! Wrappers that cannot break memory safety or kernel invariants are safe
//! (`sync`, `mftb`, reading SPRs). Those that change the machine state
//! (`mtmsrd`, `mtspr`, `tlbie`, `msgsnd`, ...) are `unsafe fn` and say what the
//! caller must guarantee.
#![allow(clippy::missing_safety_doc)] // each unsafe fn has a "# Safety" paragraph in prose

pub mod regs;

use core::arch::asm;
pub use regs::*;

/// Reads special-purpose register `N`.
#[inline(always)]
pub fn mfspr<const N: u16>() -> u64 {
    let v: u64;
    // SAFETY: mfspr only reads an SPR; every SPR we name is readable in HV mode.
    unsafe { asm!("mfspr {0}, {1}", out(reg) v, const N, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes special-purpose register `N`.
///
/// # Safety
/// The caller must know what writing that SPR does to the machine (MMU,
/// interrupts, timers) and keep the kernel's invariants.
#[inline(always)]
pub unsafe fn mtspr<const N: u16>(v: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("mtspr {1}, {0}", in(reg) v, const N, options(nostack, preserves_flags)) };
}

/// Reads the MSR.
#[inline(always)]
pub fn mfmsr() -> u64 {
    let v: u64;
    // SAFETY: mfmsr has no side effects.
    unsafe { asm!("mfmsr {0}", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Sets MSR[EE] and MSR[RI] from `v` (mtmsrd with L=1); other bits unchanged.
///
/// # Safety
/// Enabling EE lets interrupts in: vectors, HILE and the per-CPU pointer must be set up.
#[inline(always)]
pub unsafe fn mtmsrd_ee_ri(v: u64) {
    // SAFETY: forwarded to the caller. Memory clobber: interrupts may run handlers.
    unsafe { asm!("mtmsrd {0}, 1", in(reg) v, options(nostack, preserves_flags)) };
}

/// Writes the whole MSR (mtmsrd with L=0), then `isync`.
///
/// # Safety
/// Must not change IR/DR/LE/HV in ways the running code cannot survive;
/// use it for ME/RI/EE and similar.
#[inline(always)]
pub unsafe fn mtmsrd(v: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("mtmsrd {0}", "isync", in(reg) v, options(nostack, preserves_flags)) };
}

/// True when external-class interrupts (doorbell, decrementer) are enabled.
#[inline(always)]
pub fn irqs_enabled() -> bool {
    mfmsr() & MSR_EE != 0
}

/// Disables EE; returns the previous MSR[EE] state for [`irq_restore`].
#[inline(always)]
pub fn irq_save() -> bool {
    let was = irqs_enabled();
    // SAFETY: clearing EE (keeping RI) cannot break any invariant.
    unsafe { mtmsrd_ee_ri(MSR_RI) };
    was
}

/// Restores the EE state returned by [`irq_save`].
#[inline(always)]
pub fn irq_restore(was_enabled: bool) {
    if was_enabled {
        // SAFETY: EE was enabled before the matching irq_save, so the CPU was set up for it.
        unsafe { mtmsrd_ee_ri(MSR_RI | MSR_EE) };
    }
}

/// `sync` (hwsync): full barrier; Rust `fence(SeqCst)`.
#[inline(always)]
pub fn sync() {
    // SAFETY: a barrier has no effect besides ordering.
    unsafe { asm!("sync", options(nostack, preserves_flags)) };
}

/// `lwsync`: orders all but store→load; Rust Acquire/Release fences.
#[inline(always)]
pub fn lwsync() {
    // SAFETY: a barrier has no effect besides ordering.
    unsafe { asm!("lwsync", options(nostack, preserves_flags)) };
}

/// `isync`: context synchronization.
#[inline(always)]
pub fn isync() {
    // SAFETY: no effect besides synchronization.
    unsafe { asm!("isync", options(nostack, preserves_flags)) };
}

/// `eieio`.
#[inline(always)]
pub fn eieio() {
    // SAFETY: a barrier has no effect besides ordering.
    unsafe { asm!("eieio", options(nostack, preserves_flags)) };
}

/// `ptesync`: orders page-table updates against table walks and TLB invalidations.
#[inline(always)]
pub fn ptesync() {
    // SAFETY: a barrier has no effect besides ordering.
    unsafe { asm!("ptesync", options(nostack, preserves_flags)) };
}

/// `tlbsync`: waits for this CPU's earlier `tlbie`s to complete on all CPUs.
#[inline(always)]
pub fn tlbsync() {
    // SAFETY: no effect besides synchronization.
    unsafe { asm!("tlbsync", options(nostack, preserves_flags)) };
}

/// Reads the timebase (512 MHz on POWER9). Not `nomem`: the compiler must
/// not move memory accesses across a timebase read, or a timed window
/// between two accesses (`time::delay_tb`) could silently collapse.
#[inline(always)]
pub fn mftb() -> u64 {
    let v: u64;
    // SAFETY: reading the timebase has no side effects.
    unsafe { asm!("mftb {0}", out(reg) v, options(nostack, preserves_flags)) };
    v
}

/// Low-priority spin hint (`or 1,1,1`).
#[inline(always)]
pub fn cpu_relax() {
    // SAFETY: SMT priority hint; no architectural effect.
    unsafe { asm!("or 1,1,1", "or 2,2,2", options(nomem, nostack, preserves_flags)) };
}

/// Current value of r13, the per-CPU pointer (reserved by the ABI; never
/// touched by compiled code).
#[inline(always)]
pub fn r13() -> u64 {
    let v: u64;
    // SAFETY: reading a register.
    unsafe { asm!("mr {0}, 13", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Sets r13 (the per-CPU pointer) and HSPRG0 (its copy for interrupt entry).
///
/// # Safety
/// `v` must point at this CPU's per-CPU area for the rest of the CPU's life.
#[inline(always)]
pub unsafe fn set_percpu_pointer(v: u64) {
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("mr 13, {0}", "mtspr {spr}, {0}", in(reg) v, spr = const SPR_HSPRG0, options(nomem, nostack, preserves_flags))
    };
}

/// Encodes `tlbie`/`tlbiel` with RB = r3, RS = r4 (X-form, primary opcode
/// 31; XO 306 = tlbie, 274 = tlbiel), so the word can be emitted with
/// `.long` (LLVM's assembler lacks the 5-operand `tlbiel`).
const fn tlbie_word(local: bool, ric: u32, prs: u32, r: u32) -> u32 {
    let xo = if local { 274 } else { 306 };
    (31 << 26) | (4 << 21) | (ric << 18) | (prs << 17) | (r << 16) | (3 << 11) | (xo << 1)
}

macro_rules! tlbie_insn {
    ($word:expr, $rb:expr, $rs:expr) => {
        asm!(".long {w}", w = const $word, in("r3") $rb, in("r4") $rs, options(nostack, preserves_flags))
    };
}

/// Sends a hypervisor doorbell (`sync; msgsnd`) to the thread with `pir`.
///
/// # Safety
/// The target must have its 0xe80 vector installed.
#[inline(always)]
pub unsafe fn msgsnd_hv(pir: u32) {
    let rb = DOORBELL_TYPE_HV | pir as u64;
    // SAFETY: forwarded to the caller; the sync orders payload stores before the doorbell.
    // msgsnd r3 = 0x7c00019c | 3 << 11 (LLVM has no mnemonic for it).
    unsafe { asm!("sync", ".long 0x7c00199c", in("r3") rb, options(nostack, preserves_flags)) };
}

/// Clears this thread's pending hypervisor doorbell, then `msgsync; lwsync`
/// so that payload reads are ordered after the doorbell.
#[inline(always)]
pub fn msgclr_hv() {
    let rb = DOORBELL_TYPE_HV;
    // SAFETY: only affects this thread's pending doorbell state.
    // msgclr r3 = 0x7c0001dc | 3 << 11; msgsync = 0x7c0006ec (no LLVM mnemonics).
    unsafe {
        asm!(".long 0x7c0019dc", ".long 0x7c0006ec", "lwsync", in("r3") rb, options(nostack, preserves_flags))
    };
}

/// Writes back and invalidates instruction-cache lines over `[start, end)`
/// after code was written there (dcbst; sync; icbi; isync).
pub fn sync_icache(start: u64, end: u64) {
    let line = 128u64;
    let mut a = start & !(line - 1);
    while a < end {
        // SAFETY: dcbst only writes back a cache line of memory we own.
        unsafe { asm!("dcbst 0, {0}", in(reg) a, options(nostack, preserves_flags)) };
        a += line;
    }
    sync();
    let mut a = start & !(line - 1);
    while a < end {
        // SAFETY: icbi only invalidates instruction-cache lines.
        unsafe { asm!("icbi 0, {0}", in(reg) a, options(nostack, preserves_flags)) };
        a += line;
    }
    isync();
}

/// `attn`: on POWER9 with HID0[ATTN] set, stops the machine (checkstop).
///
/// # Safety
/// Ends the run; only the failure-exit path uses it.
#[inline(always)]
pub unsafe fn attn() {
    // SAFETY: forwarded to the caller. Encoded as a word: assemblers differ on the mnemonic.
    unsafe { asm!(".long 0x00000200", options(nostack)) };
}

/// `trap` (unconditional): a program interrupt with SRR1[TRAP] set.
///
/// # Safety
/// A program-interrupt handler must be installed that resumes after it.
#[inline(always)]
pub unsafe fn trap() {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("trap", options(nostack)) };
}

/// An all-zero instruction word: a hypervisor emulation assistance
/// interrupt (0xe40). Used only to prove that unexpected exceptions fail the
/// run.
///
/// # Safety
/// The interrupt must be handled (the kernel's handler fails the run).
#[inline(always)]
pub unsafe fn illegal_instruction() {
    // SAFETY: forwarded to the caller.
    unsafe { asm!(".long 0", options(nostack)) };
}

/// Hardware thread id (PIR, SPR 1023).
#[inline(always)]
pub fn pir() -> u32 {
    mfspr::<{ SPR_PIR }>() as u32
}

/// Current TOC pointer (r2).
#[inline(always)]
pub fn toc() -> u64 {
    let v: u64;
    // SAFETY: reading a register.
    unsafe { asm!("mr {0}, 2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// The stack pointer (r1) of the caller: where a backtrace starts.
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let v: u64;
    // SAFETY: reading a register.
    unsafe { asm!("mr {0}, 1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Reads one 64-bit word for a backtrace.
///
/// # Safety
/// `addr` must be 8-byte aligned and mapped (a word of a kernel stack).
#[inline(always)]
pub unsafe fn read_stack_word(addr: u64) -> u64 {
    // SAFETY: forwarded to the caller; volatile because the stack may belong
    // to a frame the compiler considers dead.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// `tlbie` (global) or `tlbiel` (local) with operands from the `radix` crate.
/// The instruction fields RIC/PRS/R must be immediates, hence the match.
///
/// # Safety
/// The caller issues the surrounding barriers (`ptesync` before; after a
/// `tlbie`: `eieio; tlbsync; ptesync`, after a `tlbiel`: `ptesync`) and owns
/// the effect of the invalidation.
pub unsafe fn tlbie_ops(op: &radix::TlbieOperands, local: bool) {
    use radix::TlbieVariant as V;
    let Some(v) = op.variant() else {
        panic!("tlbie operands with an invalid RIC/PRS/R combination: {op:?}");
    };
    let (rb, rs) = (op.rb, op.rs);
    // SAFETY: forwarded to the caller; every arm is a valid instruction form
    // (the radix crate checked RIC/PRS/R against IS).
    unsafe {
        match (v, local) {
            (V::ProcessTlb, false) => tlbie_insn!(tlbie_word(false, 0, 1, 1), rb, rs),
            (V::ProcessPwc, false) => tlbie_insn!(tlbie_word(false, 1, 1, 1), rb, rs),
            (V::ProcessAll, false) => tlbie_insn!(tlbie_word(false, 2, 1, 1), rb, rs),
            (V::PartitionTlb, false) => tlbie_insn!(tlbie_word(false, 0, 0, 1), rb, rs),
            (V::PartitionPwc, false) => tlbie_insn!(tlbie_word(false, 1, 0, 1), rb, rs),
            (V::PartitionAll, false) => tlbie_insn!(tlbie_word(false, 2, 0, 1), rb, rs),
            (V::ProcessTlb, true) => tlbie_insn!(tlbie_word(true, 0, 1, 1), rb, rs),
            (V::ProcessPwc, true) => tlbie_insn!(tlbie_word(true, 1, 1, 1), rb, rs),
            (V::ProcessAll, true) => tlbie_insn!(tlbie_word(true, 2, 1, 1), rb, rs),
            (V::PartitionTlb, true) => tlbie_insn!(tlbie_word(true, 0, 0, 1), rb, rs),
            (V::PartitionPwc, true) => tlbie_insn!(tlbie_word(true, 1, 0, 1), rb, rs),
            (V::PartitionAll, true) => tlbie_insn!(tlbie_word(true, 2, 0, 1), rb, rs),
        }
    }
}

/// Switches MSR to `msr` with `hrfid`, continuing at the next instruction
/// (how translation is turned on: the PC is already a 0xc000... address
/// that the linear map translates to the same physical location).
///
/// # Safety
/// The code and stack must be valid under the new MSR; EE is cleared during
/// the switch and set as `msr` says.
pub unsafe fn set_msr_hrfid(msr: u64) {
    // SAFETY: forwarded to the caller. EE/RI are cleared first so HSRR0/1
    // cannot be clobbered by an interrupt before hrfid.
    unsafe {
        asm!(
            "li {t}, 0",
            "mtmsrd {t}, 1",
            "bcl 20, 31, 1f",
            "1: mflr {t}",
            "addi {t}, {t}, 2f - 1b",
            "mtspr {hsrr0}, {t}",
            "mtspr {hsrr1}, {m}",
            "hrfid",
            "2:",
            t = out(reg) _,
            m = in(reg) msr,
            hsrr0 = const SPR_HSRR0,
            hsrr1 = const SPR_HSRR1,
            out("lr") _,
            options(nostack)
        )
    };
}

/// `stop` in the lightest state (PSSCR = 0: stop0, ESL=0, EC=0, "lite"):
/// the thread sleeps until any exception is pending, then continues with the
/// next instruction — with EE=0 the interrupt is *not* taken until EE is set
/// again, so "check for work with EE=0, then stop" cannot lose a wake-up
/// (Linux's stop0_lite idle). Lets QEMU park idle vCPUs instead of spinning.
pub fn stop_lite() {
    // SAFETY: PSSCR=0 requests the shallowest stop state, which loses no
    // state; `stop` (0x4c0002e4; no LLVM mnemonic) returns to the next
    // instruction.
    unsafe {
        mtspr::<{ SPR_PSSCR }>(0);
        asm!(".long 0x4c0002e4", options(nostack, preserves_flags));
    }
}
