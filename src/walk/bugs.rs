//! The deliberate changer/walker bug in effect (`walk.bug=`, a negative
//! control of one detector kind; `none` = correct code). Read by the
//! arenas, changers and walkers.

use core::sync::atomic::{AtomicU8, Ordering::*};

use crate::sys::config::WalkBug;

static WALK_BUG: AtomicU8 = AtomicU8::new(WalkBug::None as u8);

/// Sets the deliberate changer/walker bug.
pub fn set_walk_bug(bug: WalkBug) {
    WALK_BUG.store(bug as u8, Relaxed);
}

/// The deliberate changer/walker bug in effect.
pub fn walk_bug() -> WalkBug {
    WalkBug::ALL[WALK_BUG.load(Relaxed) as usize]
}
