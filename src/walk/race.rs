//! Lock-step races: one changer and one walker CPU meet at a barrier before
//! every iteration, then race — the changer unlinks and frees an empty
//! page-table page (free_pgtables), the walker walks into it — so that the
//! two critical sequences start within nanoseconds of each other, as a
//! litmus harness aligns its threads. The code on both sides is the same
//! kernel code the free-running stress uses (`Changer::free_empty_table`,
//! `walkers::walk_once`); only the alignment is added. This is what makes
//! the store-buffering window of `count-lwsync`/`count-nobarrier` reachable
//! often enough to be caught in seconds, and it is an equally hard test for
//! the correct strategies (every iteration is a near-collision). The
//! changer's start after the meeting point is steered towards the point
//! where its walker-count read and the walker's registration cross (later
//! when it missed the walker, earlier when it saw it), with a small dither,
//! so that most iterations hit the alignment whatever the two paths'
//! lengths are.

use core::sync::atomic::{AtomicU64, Ordering::*};

use walkproto::{CpuMask, Strategy};

use super::arena::{Arena, EMPTY, TABLE};
use super::changers::{Changer, Stats};
use super::detect;
use super::walkers::{self, Counters, Kind, Walk};
use crate::mm::space::{self, Mm};
use crate::sys::{exit, percpu, smp, time, watchdog};

/// What a lock-step run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct RaceResult {
    pub iterations: u64,
    /// Serializations that skipped the wait (count 0, no CPU flagged, ...).
    pub skipped: u64,
    pub ipis: u64,
    pub violations: u64,
    pub first_violation_us: Option<u64>,
    pub elapsed_us: u64,
}

/// Most the changer's start is delayed after the meeting point (4 us).
const JITTER_TB: u64 = 2048;

static ARRIVE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static DONE: AtomicU64 = AtomicU64::new(0);

fn meet(side: usize, i: u64, deadline: u64) -> bool {
    ARRIVE[side].store(i, Release);
    while ARRIVE[1 - side].load(Acquire) < i {
        if time::now() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Runs up to `max_iters` lock-step iterations (or `budget_tb`), stopping at
/// the first violation if `stop_on_violation`.
pub fn lockstep(
    strategy: Strategy,
    kind: Kind,
    max_iters: u64,
    budget_tb: u64,
    delay_tb: u64,
    stop_on_violation: bool,
) -> RaceResult {
    let me = percpu::cpu_id();
    let Some(walker_cpu) = smp::other_online_cpu() else {
        exit::fail(format_args!("lock-step race needs 2 CPUs"));
    };
    let mm = Mm::new();
    let arena = Arena::new_thp(mm, 1);
    let stats = Stats::new();
    let counters = Counters::new();
    let ch = Changer::new(&arena, strategy, &stats).with_gap();
    {
        let slot = &arena.slots[0];
        let _g = slot.lock.lock();
        ch.zap(slot);
    }
    detect::reset();
    for a in &ARRIVE {
        a.store(0, Relaxed);
    }
    DONE.store(0, Relaxed);
    let start = time::now();
    let deadline = start + budget_tb;
    let hard_deadline = deadline + time::secs(30);
    let iters = AtomicU64::new(0);
    let mask = CpuMask::new().with(me).with(walker_cpu);
    let job = |cpu: usize| {
        if cpu == me {
            let slot = &arena.slots[0];
            let mut i = 0;
            let mut delay = 0u64;
            while i < max_iters && time::now() < deadline {
                if stop_on_violation && detect::total() > 0 {
                    break;
                }
                i += 1;
                {
                    let _g = slot.lock.lock();
                    if slot.state.load(Acquire) == EMPTY {
                        ch.link_empty_table(slot);
                    }
                }
                if !meet(0, i, hard_deadline) {
                    break;
                }
                // Track the crossing point: if the changer's count read missed
                // the walker (skipped), it was early — start later next time;
                // if it saw the walker, start earlier. Iterations then hover
                // where the two critical sequences overlap, plus a small
                // dither so the exact alignment is swept too.
                let dither = (i.wrapping_mul(7919)) % 8;
                let t = time::now();
                while time::now() - t < delay + dither {
                    core::hint::spin_loop();
                }
                let skipped0 = stats.skipped.load(Relaxed);
                {
                    let _g = slot.lock.lock();
                    if slot.state.load(Acquire) == TABLE {
                        ch.free_empty_table(slot);
                    }
                }
                if stats.skipped.load(Relaxed) > skipped0 {
                    delay = (delay + 2).min(JITTER_TB);
                } else {
                    delay = delay.saturating_sub(2);
                }
                // Wait until the walker finished iteration i before relinking.
                while DONE.load(Acquire) < i && time::now() < hard_deadline {
                    core::hint::spin_loop();
                }
                watchdog::progress();
            }
            iters.store(i, Relaxed);
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
                    strategy,
                    kind,
                    slot: 0,
                    sub: 0,
                    delay_tb,
                    ee_window: false,
                    gap: true,
                    counters: &counters,
                };
                walkers::walk_once(&w);
                DONE.store(i, Release);
                watchdog::progress();
            }
            space::switch_to_kernel_only();
        }
    };
    smp::run_on(mask, budget_tb + time::secs(60), "lock-step race", &job);
    let r = RaceResult {
        iterations: iters.load(Relaxed),
        skipped: stats.skipped.load(Relaxed),
        ipis: stats.ipis.load(Relaxed),
        violations: detect::total(),
        first_violation_us: match detect::first_tb() {
            0 => None,
            t => Some(time::tb_to_us(t.saturating_sub(start))),
        },
        elapsed_us: time::tb_to_us(time::now() - start),
    };
    arena.teardown();
    mm.destroy();
    r
}
