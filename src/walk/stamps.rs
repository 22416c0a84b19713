//! Timestamps of the critical points of a walk and of a changer's unlink,
//! written by the walker and changer code when the lock-step harness
//! (`race.rs`) asks for them.

use core::sync::atomic::{AtomicBool, AtomicU64};

/// The walker's timestamps of one walk.
#[derive(Default)]
pub struct WalkStamps {
    pub enter: AtomicU64,
    pub exit: AtomicU64,
}

/// The changer's timestamps of one unlink.
#[derive(Default)]
pub struct ChangerStamps {
    pub store: AtomicU64,
    pub serialize: AtomicU64,
    pub done: AtomicU64,
    pub skipped: AtomicBool,
}

