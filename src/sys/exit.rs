//! Ending the run: power off on success, checkstop on failure.
//!
//! Success: print `RESULT: ok`, then OPAL_CEC_POWER_DOWN; QEMU exits 0.
//! Failure: print `FATAL: <reason>`, then stop the machine with `attn`
//! (enabled through HID0), which QEMU turns into a checkstop; with
//! `-action panic=exit-failure` QEMU exits 1. The host runner also treats the
//! `FATAL:` line and a missing summary as failure, so a firmware that ignores
//! attn still fails the run.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering::*};

use super::config::ExitMode;
use super::{console, opal};
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

/// Prints `FATAL: <why>` and stops the machine with a failure status.
pub fn fail(why: fmt::Arguments) -> ! {
    arch::irq_save();
    let first = !FAILING.swap(true, AcqRel);
    if first {
        println!("FATAL: {why}");
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
