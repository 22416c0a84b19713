//! Race points: named places in the walker and changer code where a test can
//! stop one CPU until another has done its part, so that a bad interleaving
//! happens on purpose instead of by luck (the scripted races of
//! `choreo.rs`). Unarmed, a point costs one relaxed load.
//!
//! A point is armed once: the first CPU that reaches it stops there (and
//! disarms it), says so, and waits — with EE as it was, in whatever
//! translation mode it runs — until the test releases it, or until a
//! timeout, which fails the run naming the point.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};

use crate::sys::{exit, time};

/// The named places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Point {
    /// A walker has read the slot's entry (PMD/PUD), before anything else.
    WalkerAfterPmd = 0,
    /// A walker has read the leaf it will use, before taking a reference
    /// or keeping the pointer.
    WalkerAfterLeaf = 1,
    /// gup holds its reference and its re-checks passed; it is about to
    /// use the page.
    GupPinned = 2,
    /// A torn write has stored the first half of the entry.
    TornHalf = 3,
    /// A collapse has isolated the old folio and is about to copy it.
    CollapseIsolated = 4,
    /// The `poison-linked` control has poisoned a linked page-table page.
    PoisonedLinked = 5,
}

const POINTS: usize = 6;

static ARMED: AtomicU32 = AtomicU32::new(0);
/// Per point: another point to release when this one is reached (+1; 0: none).
static CHAIN: [AtomicU32; POINTS] = [const { AtomicU32::new(0) }; POINTS];
static REACHED: [AtomicBool; POINTS] = [const { AtomicBool::new(false) }; POINTS];
static RELEASED: [AtomicBool; POINTS] = [const { AtomicBool::new(false) }; POINTS];

/// How long a CPU waits at a point, or a test waits for one.
const WAIT_TB: u64 = time::secs(10);

/// Arms `p`: the next CPU to reach it stops there.
pub fn arm(p: Point) {
    REACHED[p as usize].store(false, Relaxed);
    RELEASED[p as usize].store(false, Relaxed);
    CHAIN[p as usize].store(0, Relaxed);
    ARMED.fetch_or(1 << p as u32, Release);
}

/// Arms `p` so that reaching it also releases `then` (a CPU stopped at
/// `then` goes on while this one waits at `p`).
pub fn arm_releasing(p: Point, then: Point) {
    arm(p);
    CHAIN[p as usize].store(then as u32 + 1, Release);
}

/// Called at point `p` by the code under test.
#[inline(always)]
pub fn at(p: Point) {
    if ARMED.load(Relaxed) & (1 << p as u32) != 0 {
        stop(p);
    }
}

#[inline(never)]
fn stop(p: Point) {
    // Only the first CPU to get here stops.
    if ARMED.fetch_and(!(1 << p as u32), AcqRel) & (1 << p as u32) == 0 {
        return;
    }
    REACHED[p as usize].store(true, Release);
    match CHAIN[p as usize].load(Acquire) {
        0 => {}
        q => RELEASED[q as usize - 1].store(true, Release),
    }
    let start = time::now();
    while !RELEASED[p as usize].load(Acquire) {
        if time::now() - start > WAIT_TB {
            exit::fail(format_args!("race point {p:?}: not released within 10 s"));
        }
        core::hint::spin_loop();
        crate::sys::watchdog::progress();
    }
}

/// Waits until some CPU stopped at `p`; fails the run naming `who` after the
/// timeout.
pub fn wait_reached(p: Point, who: &str) {
    let start = time::now();
    while !REACHED[p as usize].load(Acquire) {
        if time::now() - start > WAIT_TB {
            exit::fail(format_args!("race point {p:?}: {who} did not reach it within 10 s"));
        }
        core::hint::spin_loop();
        crate::sys::watchdog::progress();
    }
}

/// Lets the CPU stopped at `p` go on.
pub fn release(p: Point) {
    RELEASED[p as usize].store(true, Release);
}

/// Disarms every point (after a scripted race, whatever happened).
pub fn disarm_all() {
    ARMED.store(0, Release);
    for r in &RELEASED {
        r.store(true, Release);
    }
}
