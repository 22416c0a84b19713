//! Ending the run: power off on success, checkstop on failure, and the
//! backtraces that failure reports carry.
//!
//! Success: print `RESULT: ok`, then OPAL_CEC_POWER_DOWN; QEMU exits 0.
//! Failure: if a test is running, the test framework's abort hook prints its
//! KTAP `not ok` line (`# TIMEOUT` for a deadline, `# ERROR` otherwise);
//! then `FATAL: <reason>` and `RESULT: fail <reason>`, then the machine stops
//! with `attn` (enabled through HID0), which QEMU turns into a checkstop; with
//! `-action panic=exit-failure` QEMU exits 1. Either way the console's last
//! kernel line is one `RESULT:` line, so a lab (LAVA's monitor) can tell a
//! failed run from a lost connection. The host runner also treats the
//! `FATAL:` line and a missing summary as failure, so a firmware that ignores
//! attn still fails the run.
//!
//! Backtraces ([`backtrace`]) walk the ELFv2 back chain inside the stack the
//! stack pointer is on (the boot stack or the CPU's own), at most 32 frames,
//! and print each address with its link-time address, which `qemu-run.sh`
//! (or `addr2line -f -i -e kernel`) turns into function and file:line:
//!
//! ```text
//! backtrace: cpu 0, pc 0xc00000002001a2b4 lr 0xc00000002001a29c sp 0xc0000000200f3e10
//! backtrace: #0 0xc00000002001a2b4 (link 0xc00000000000a2b4) pc
//! backtrace: #1 0xc00000002001a29c (link 0xc00000000000a29c) lr
//! backtrace: #2 0xc00000002001b000 (link 0xc00000000000b000)
//! backtrace: end (outermost frame)
//! ```
//!
//! Frames from #1 on are return addresses: the call is the instruction
//! before (qemu-run.sh looks up the address minus 4).

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering::*};

use stackwalk::{Bounds, End};

use super::config::ExitMode;
use super::{addr, console, opal, percpu};
use crate::arch;

static FAILING: AtomicBool = AtomicBool::new(false);

/// How the run ends (`exit=`): `qemu` powers off on success and checkstops
/// (attn) on failure, which QEMU turns into exit 0 / 1; on a real POWER9
/// `reboot` returns to petitboot either way and `halt` just stops.
static MODE: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Sets the exit mode (`exit=`).
pub fn set_mode(mode: ExitMode) {
    let m = match mode {
        ExitMode::Qemu => 0,
        ExitMode::Reboot => 1,
        ExitMode::Halt => 2,
    };
    MODE.store(m, Relaxed);
}

fn mode() -> ExitMode {
    match MODE.load(Relaxed) {
        1 => ExitMode::Reboot,
        2 => ExitMode::Halt,
        _ => ExitMode::Qemu,
    }
}

fn halt() -> ! {
    console::flush();
    loop {
        arch::cpu_relax();
    }
}

fn reboot() -> ! {
    console::flush();
    let err = opal::reboot();
    println!("exit: OPAL_CEC_REBOOT failed: {err}; halting");
    halt()
}

/// HID0 bit that enables the `attn` instruction on POWER9 and POWER10.
const HID0_POWER9_ENABLE_ATTN: u64 = 1 << 60;

/// Powers off after flushing the console. Never returns.
pub fn success() -> ! {
    println!("RESULT: ok");
    match mode() {
        ExitMode::Reboot => reboot(),
        ExitMode::Halt => halt(),
        ExitMode::Qemu => {}
    }
    console::flush();
    let err = opal::power_down();
    fail(format_args!("power-down failed: {err}"));
}

/// True once some CPU has started failing the run.
pub fn failing() -> bool {
    FAILING.load(Relaxed)
}

/// What kind of failure ends the run, for the test framework's KTAP line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// A test ran past its deadline (`# TIMEOUT`).
    Timeout,
    /// Anything else: a trap, a panic, the watchdog (`# ERROR`).
    Error,
}

/// Called once, by the first failing CPU, before the `FATAL:` line.
pub type AbortHook = fn(Abort, &fmt::Arguments);
static ABORT_HOOK: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Installs the hook that reports the running test when the run fails (the
/// test framework's; sys cannot call upward).
pub fn set_abort_hook(hook: AbortHook) {
    ABORT_HOOK.store(hook as usize, Release);
}

/// Prints `FATAL: <why>` and `RESULT: fail <why>`, then stops the machine
/// with a failure status.
pub fn fail(why: fmt::Arguments) -> ! {
    fail_as(Abort::Error, why)
}

/// [`fail`] for a test that ran past its deadline.
pub fn fail_timeout(why: fmt::Arguments) -> ! {
    fail_as(Abort::Timeout, why)
}

fn fail_as(kind: Abort, why: fmt::Arguments) -> ! {
    arch::irq_save();
    let first = !FAILING.swap(true, AcqRel);
    if first {
        let hook = ABORT_HOOK.load(Acquire);
        if hook != 0 {
            // SAFETY: only `set_abort_hook` stores non-zero values, and it
            // stores valid `AbortHook` function pointers.
            let hook: AbortHook = unsafe { core::mem::transmute::<usize, AbortHook>(hook) };
            hook(kind, &why);
        }
        println!("FATAL: {why}");
        println!("RESULT: fail {why}");
        match mode() {
            ExitMode::Reboot => reboot(),
            ExitMode::Halt => halt(),
            ExitMode::Qemu => {}
        }
        console::flush();
        checkstop();
    }
    // Another CPU is already reporting a failure: stay out of its way.
    loop {
        arch::cpu_relax();
    }
}

/// Stops the machine so that QEMU exits non-zero.
fn checkstop() -> ! {
    let hid0 = arch::mfspr::<{ arch::SPR_HID0 }>();
    // SAFETY: enabling attn and executing it ends the run on purpose; the
    // console was flushed first.
    unsafe {
        arch::mtspr::<{ arch::SPR_HID0 }>(hid0 | HID0_POWER9_ENABLE_ATTN);
        arch::isync();
        arch::attn();
    }
    println!("FATAL: attn did not stop the machine; spinning (the runner's timeout ends the run)");
    console::flush();
    loop {
        arch::cpu_relax();
    }
}

/// Where a backtrace starts: the program counter, the link register and
/// the stack pointer (from a trap frame, or the current ones).
#[derive(Clone, Copy, Debug)]
pub struct Regs {
    pub pc: u64,
    pub lr: u64,
    pub sp: u64,
}

/// Bytes of each secondary CPU's stack (allocated by bringup, which asserts
/// that it uses this size): the bounds of a backtrace on that CPU.
pub const SECONDARY_STACK_BYTES: u64 = 128 * 1024;

extern "C" {
    static BOOT_STACK_BOTTOM: u8;
    static BOOT_STACK_TOP: u8;
}

/// The stack `sp` is on: the boot stack, or this CPU's own stack.
fn stack_bounds(sp: u64) -> Option<(Bounds, &'static str)> {
    let sp = addr::to_virt_alias(sp);
    let boot = Bounds {
        lo: core::ptr::addr_of!(BOOT_STACK_BOTTOM) as u64,
        hi: core::ptr::addr_of!(BOOT_STACK_TOP) as u64,
    };
    if boot.holds_word(sp) {
        return Some((boot, "boot stack"));
    }
    if arch::r13() != 0 {
        let top = addr::to_virt_alias(percpu::this().stack_top.load(Relaxed));
        let own = Bounds { lo: top.saturating_sub(SECONDARY_STACK_BYTES), hi: top };
        if top != 0 && own.holds_word(sp) {
            return Some((own, "cpu stack"));
        }
    }
    None
}

/// One frame line: the address and its link-time address.
fn frame(n: usize, a: u64, tag: &str) {
    let a = addr::to_virt_alias(a);
    let start = addr::image_start();
    let size = addr::image_end() - start;
    match stackwalk::link_address(a, start, addr::KERNEL_VIRT_BASE, size) {
        Some(link) => println!("backtrace: #{n} {a:#018x} (link {link:#018x}){tag}"),
        None => println!("backtrace: #{n} {a:#018x} (outside the image){tag}"),
    }
}

/// Prints a backtrace from `r`: #0 the PC, #1 the LR (`lr`, when `with_lr`:
/// a trap may hit a leaf function that never saved it), then one frame per
/// back-chain link, at most 32 frames in all.
pub fn backtrace(r: Regs, with_lr: bool) {
    let cpu = if arch::r13() == 0 { 0 } else { percpu::cpu_id() };
    println!("backtrace: cpu {cpu}, pc {:#x} lr {:#x} sp {:#x}", r.pc, r.lr, r.sp);
    frame(0, r.pc, " pc");
    let mut n = 1;
    if with_lr {
        frame(1, r.lr, " lr");
        n = 2;
    }
    let Some((bounds, which)) = stack_bounds(r.sp) else {
        println!("backtrace: end (sp {:#x} is on no known stack)", r.sp);
        return;
    };
    let sp = addr::to_virt_alias(r.sp);
    let mut first_link = true;
    let end = stackwalk::walk(
        sp,
        bounds,
        stackwalk::MAX_FRAMES - n,
        // SAFETY: `walk` reads only aligned words inside `bounds`, a kernel
        // stack that is mapped in both real mode and the linear map.
        |a| unsafe { arch::read_stack_word(a) },
        |ra| {
            // A non-leaf function saved the LR it was called with: the
            // first link repeats the LR frame.
            if first_link && with_lr && ra == r.lr {
                first_link = false;
                return;
            }
            first_link = false;
            frame(n, ra, "");
            n += 1;
        },
    );
    match end {
        End::Outermost => println!("backtrace: end (outermost frame of the {which})"),
        End::MaxFrames => println!("backtrace: end (stopped at {} frames)", stackwalk::MAX_FRAMES),
        e => println!("backtrace: end ({e:?} on the {which} {:#x}..{:#x})", bounds.lo, bounds.hi),
    }
}

/// A backtrace of the caller (for a panic).
#[inline(never)]
pub fn backtrace_here() {
    let sp = arch::stack_pointer();
    // Our own frame's back chain leads to the caller's frame; the return
    // address into the caller is saved in that frame.
    let here = backtrace_here as *const () as u64;
    backtrace(Regs { pc: here, lr: 0, sp }, false);
}
