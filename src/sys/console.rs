//! Console output through OPAL, shared by all CPUs.
//!
//! One lock serializes lines across CPUs. It is taken with interrupts off, and
//! it is re-entrant for the CPU that holds it, so an exception or panic inside
//! a `println!` on the same CPU still gets its report out instead of deadlocking.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering::*};

use super::{opal, percpu};
use crate::arch;

const NO_OWNER: usize = usize::MAX;
static OWNER: AtomicUsize = AtomicUsize::new(NO_OWNER);

struct OpalConsole;

impl Write for OpalConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

fn write_bytes(mut bytes: &[u8]) {
    let mut stalls = 0;
    while !bytes.is_empty() {
        match opal::console_write(bytes) {
            Ok(0) => {
                stalls += 1;
                if stalls > 100_000 {
                    return; // console gone; nothing better to do
                }
                opal::poll_events();
            }
            Ok(n) => {
                stalls = 0;
                bytes = &bytes[n..];
            }
            Err(_) => return,
        }
    }
}

/// Holds the console lock (and EE off) while alive.
struct Guard {
    irqs: bool,
    reentered: bool,
}

fn lock() -> Guard {
    let irqs = arch::irq_save();
    let me = current_cpu_or_boot();
    if OWNER.load(Relaxed) == me {
        return Guard { irqs, reentered: true };
    }
    let start = arch::mftb();
    while OWNER.compare_exchange_weak(NO_OWNER, me, Acquire, Relaxed).is_err() {
        arch::cpu_relax();
        // A CPU that died holding the lock must not silence everyone: after
        // 2 s take it over (the output may interleave, which beats silence).
        if arch::mftb().wrapping_sub(start) > 2 * arch::TB_HZ {
            OWNER.store(me, Relaxed);
            break;
        }
    }
    Guard { irqs, reentered: false }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.reentered {
            OWNER.store(NO_OWNER, Release);
        }
        arch::irq_restore(self.irqs);
    }
}

/// Logical CPU id, or 0 before per-CPU areas exist.
fn current_cpu_or_boot() -> usize {
    if arch::r13() == 0 {
        0
    } else {
        percpu::cpu_id()
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments, newline: bool) {
    let _g = lock();
    let _ = OpalConsole.write_fmt(args);
    if newline {
        let _ = OpalConsole.write_str("\n");
    }
}

/// Prints to the OPAL console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::sys::console::_print(format_args!($($arg)*), false));
}

/// Prints a line to the OPAL console (one lock hold per line).
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::sys::console::_print(format_args!($($arg)*), true));
}

/// Flushes OPAL's console buffer (before power-off or a failure stop).
pub fn flush() {
    opal::console_flush();
}
