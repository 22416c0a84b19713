//! Lock-step races: one changer and one walker CPU meet at a barrier before
//! every iteration, then race, the way a litmus harness aligns its threads.
//! The code on both sides is the same kernel code the free-running stress
//! uses; only the alignment and the timestamps are added. Both sides stamp
//! their critical points with the timebase (one clock for all CPUs), so the
//! harness *measures* the collisions instead of assuming them:
//!
//! * walker: entered the walk (before registering), left it (after the
//!   guard dropped);
//! * changer: stored the new slot entry (`pmd_clear`), started and ended the
//!   strategy's serialization (the count read is at its start).
//!
//! An iteration is an **overlap** when the walker entered before the
//! changer's store and left after the changer began to serialize: the walker
//! was inside its walk while the changer unlinked the table and decided
//! whom to wait for. Pass bars count overlaps, not iterations. For the
//! counting strategies the harness also counts the serializations that
//! skipped the IPI although a walker had entered before the count was read
//! (the SB window taken by the benign side: that walker read the new entry).
//!
//! Two shapes:
//!
//! * [`Shape::Leaf`]: the slot holds a page-table page with a leaf mapping
//!   a folio the harness pins; every iteration the changer zaps it
//!   (`zap_pte_range` + `free_pte_range`) while the walker walks to the leaf
//!   and holds it long enough to span the unlink, so gup's re-checks and
//!   find_pte's later use of its pointer run under the collision. The
//!   walker's hold adapts until the changer's unlink lands inside it.
//! * [`Shape::Handshake`]: the slot holds an empty page-table page that the
//!   changer frees; short walks, and the changer's start is steered towards
//!   the point where its count read and the walker's registration cross
//!   (later when it missed the walker, earlier when it saw it), with a small
//!   dither. This is the store-buffering window of `count-lwsync` /
//!   `count-nobarrier`.

use core::sync::atomic::{AtomicU64, Ordering::*};

use walkproto::{CpuMask, Strategy};

use super::arena::{Arena, EMPTY, SPLIT, TABLE};
use super::changers::{Changer, Stats};
use super::detect;
use super::stamps::{ChangerStamps, WalkStamps};
use super::walkers::{self, Counters, Kind, Walk};
use crate::mm::space::{self, Mm};
use crate::sys::{exit, percpu, smp, time, watchdog};

/// The shape of a lock-step race (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Leaf,
    Handshake,
}

/// A lock-step race's settings.
#[derive(Clone, Copy, Debug)]
pub struct Race {
    pub strategy: Strategy,
    pub kind: Kind,
    pub shape: Shape,
    /// The walker's hold inside the walk (the leaf shape's starting value).
    pub delay_tb: u64,
    /// Stop once this many overlaps were measured (0: no such goal).
    pub want_overlaps: u64,
    /// Stop after this many iterations (0: no limit).
    pub max_iters: u64,
    /// Stop at the first violation.
    pub stop_on_violation: bool,
    /// The generous cap: reaching it before `want_overlaps` is "host too slow".
    pub cap_tb: u64,
}

/// What a lock-step run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct RaceResult {
    pub iterations: u64,
    /// Iterations in which the walker was inside its walk from before the
    /// changer's store until after it began to serialize.
    pub overlaps: u64,
    /// Serializations that skipped the wait (count 0, no CPU flagged, ...).
    pub skipped: u64,
    /// Of those, the ones where a walker had entered before the count read.
    pub skipped_near_walker: u64,
    pub ipis: u64,
    pub violations: u64,
    pub first_violation_us: Option<u64>,
    pub elapsed_us: u64,
    /// The cap ended the run before it had `want_overlaps`.
    pub cap_reached: bool,
}

/// Most the handshake changer's start is delayed after the meeting point (4 us).
const JITTER_TB: u64 = 2048;
/// Longest hold the leaf shape grows the walker's window to.
const MAX_HOLD_TB: u64 = time::ms(20);

static ARRIVE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static DONE: AtomicU64 = AtomicU64::new(0);
/// The walker's hold for the next iteration (leaf shape), set by the changer.
static HOLD: AtomicU64 = AtomicU64::new(0);

fn meet(side: usize, i: u64, deadline: u64) -> bool {
    ARRIVE[side].store(i, Release);
    while ARRIVE[1 - side].load(Acquire) < i {
        if time::now() > deadline {
            return false;
        }
        core::hint::spin_loop();
        watchdog::progress();
    }
    true
}

/// Runs the race (see [`Race`] for when it stops).
pub fn lockstep(race: &Race) -> RaceResult {
    let me = percpu::cpu_id();
    let Some(walker_cpu) = smp::other_online_cpu() else {
        exit::fail(format_args!("lock-step race needs 2 CPUs"));
    };
    let mm = Mm::new();
    let arena = Arena::new_thp(mm, 1);
    let stats = Stats::new();
    let counters = Counters::new();
    let wstamps = WalkStamps::default();
    let cstamps = ChangerStamps::default();
    let ch = Changer::new(&arena, race.strategy, &stats).with_gap().with_stamps(&cstamps);
    let slot = &arena.slots[0];
    {
        let _g = slot.lock.lock();
        ch.zap(slot);
    }
    // The leaf shape maps one folio again and again; the harness holds a
    // reference so that the zaps never free it.
    let pinned = match race.shape {
        Shape::Leaf => {
            Some(arena.alloc_folio().unwrap_or_else(|| exit::fail(format_args!("lock-step: no folio to pin"))))
        }
        Shape::Handshake => None,
    };
    detect::reset();
    for a in &ARRIVE {
        a.store(0, Relaxed);
    }
    DONE.store(0, Relaxed);
    HOLD.store(race.delay_tb, Relaxed);
    let start = time::now();
    let deadline = start + race.cap_tb;
    let hard_deadline = deadline + time::secs(30);
    let result = spin::Mutex::new(RaceResult::default());
    let mask = CpuMask::new().with(me).with(walker_cpu);
    let job = |cpu: usize| {
        if cpu == me {
            let mut r = RaceResult::default();
            let mut delay = 0u64;
            let mut i = 0;
            loop {
                if race.stop_on_violation && detect::total() > 0 {
                    break;
                }
                if race.want_overlaps > 0 && r.overlaps >= race.want_overlaps {
                    break;
                }
                if race.max_iters > 0 && i >= race.max_iters {
                    break;
                }
                if time::now() >= deadline {
                    r.cap_reached = race.want_overlaps > 0;
                    break;
                }
                i += 1;
                {
                    let _g = slot.lock.lock();
                    match (race.shape, slot.state.load(Acquire)) {
                        (Shape::Leaf, EMPTY) => ch.map_pte_table(slot, pinned.expect("leaf shape pins")),
                        (Shape::Handshake, EMPTY) => ch.link_empty_table(slot),
                        _ => {}
                    }
                }
                if !meet(0, i, hard_deadline) {
                    break;
                }
                if race.shape == Shape::Handshake {
                    let dither = (i.wrapping_mul(7919)) % 8;
                    let t = time::now();
                    while time::now() - t < delay + dither {
                        core::hint::spin_loop();
                    }
                }
                {
                    let _g = slot.lock.lock();
                    match slot.state.load(Acquire) {
                        SPLIT => ch.zap(slot),
                        TABLE => ch.free_empty_table(slot),
                        _ => {}
                    }
                }
                // Wait until the walker finished iteration i.
                while DONE.load(Acquire) < i && time::now() < hard_deadline {
                    core::hint::spin_loop();
                }
                let (enter, exit) = (wstamps.enter.load(Acquire), wstamps.exit.load(Acquire));
                let (store, ser) = (cstamps.store.load(Relaxed), cstamps.serialize.load(Relaxed));
                let skipped = cstamps.skipped.load(Relaxed);
                if enter < store && exit > ser {
                    r.overlaps += 1;
                }
                if skipped && enter < ser {
                    r.skipped_near_walker += 1;
                }
                match race.shape {
                    // Track the crossing point of the count read and the
                    // registration (see the module docs).
                    Shape::Handshake => {
                        delay = if skipped { (delay + 2).min(JITTER_TB) } else { delay.saturating_sub(2) };
                    }
                    // Grow the hold until the unlink lands inside it.
                    Shape::Leaf => {
                        let hold = HOLD.load(Relaxed);
                        if exit < ser {
                            HOLD.store((hold * 3 / 2 + 1).min(MAX_HOLD_TB), Relaxed);
                        }
                    }
                }
                watchdog::progress();
            }
            r.iterations = i;
            *result.lock() = r;
            // Release the walker: an arrival it will never wait past.
            ARRIVE[0].store(u64::MAX, Release);
        } else {
            mm.switch_to();
            let mut i = 0;
            loop {
                i += 1;
                if !meet(1, i, hard_deadline) || ARRIVE[0].load(Acquire) == u64::MAX {
                    break;
                }
                let w = Walk {
                    arena: &arena,
                    strategy: race.strategy,
                    kind: race.kind,
                    slot: 0,
                    sub: 0,
                    delay_tb: HOLD.load(Relaxed),
                    ee_window: false,
                    gap: true,
                    counters: &counters,
                    stamps: Some(&wstamps),
                };
                walkers::walk_once(&w);
                DONE.store(i, Release);
                watchdog::progress();
            }
            space::switch_to_kernel_only();
        }
    };
    smp::run_on(mask, race.cap_tb + time::secs(60), "lock-step race", &job);
    let mut r = *result.lock();
    r.skipped = stats.skipped.load(Relaxed);
    r.ipis = stats.ipis.load(Relaxed);
    r.violations = detect::total();
    r.first_violation_us = match detect::first_tb() {
        0 => None,
        t => Some(time::tb_to_us(t.saturating_sub(start))),
    };
    r.elapsed_us = time::tb_to_us(time::now() - start);
    if let Some(fi) = pinned {
        // Drop the harness's pin (the last zap left the slot empty).
        arena.put_folio(fi);
    }
    arena.teardown();
    mm.destroy();
    r
}
