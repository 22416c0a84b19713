//! Scripted races: each detector kind's negative control, played out on
//! purpose. A walker CPU and this (changer) CPU stop each other at race
//! points (`points.rs`) so that the bad interleaving a control allows
//! happens every time, and the test asserts that the detector records it
//! *by kind*. The code on both sides is the kernel's own walker and changer
//! code; only the race points decide the order. (The free-running stress
//! shows the same controls being caught by chance; these show that each
//! check can fire at all, deterministically, on a busy host too.)

use core::sync::atomic::{AtomicU64, Ordering::*};

use walkproto::{CpuMask, Strategy};

use super::arena::{Arena, Slot};
use super::changers::{self, Changer, Stats};
use super::detect::{self, What};
use super::points::{self, Point};
use super::walkers::{self, Counters, Kind, Walk};
use crate::mm::space::{self, Mm};
use crate::sys::config::WalkBug;
use crate::sys::{exit, smp, time};

/// One scripted control.
pub struct Script {
    /// The detector kind it must trip.
    pub what: What,
    /// What it does wrong.
    pub name: &'static str,
    strategy: Strategy,
    bug: WalkBug,
    kind: Kind,
    /// The slot's state before the race.
    start: Start,
    /// How the two sides interleave.
    plan: Plan,
}

/// How a script's two sides interleave.
#[derive(Clone, Copy)]
enum Plan {
    /// The walker walks and stops at the point; meanwhile the changer does
    /// its operation to the slot; then the walker goes on.
    StopWalker(Point, fn(&Changer, &Slot)),
    /// The changer starts its operation and stops at the point; meanwhile
    /// the walker walks `sub`; then the changer goes on.
    StopChanger(Point, fn(&Changer, &Slot), usize),
    /// A sequence of its own (armed point, if any, and both sides).
    Custom(Option<Point>, fn(&Play)),
}

/// The slot's state before the race.
#[derive(Clone, Copy)]
enum Start {
    Huge,
    Split,
    EmptyTable,
    Empty,
}

/// What a script's sides get.
pub struct Play<'a> {
    arena: &'a Arena,
    changer: Changer<'a>,
    kind: Kind,
    strategy: Strategy,
    counters: &'a Counters,
    /// Walker/changer handshakes outside the race points.
    step: &'a AtomicU64,
}

impl Play<'_> {
    fn slot(&self) -> &Slot {
        &self.arena.slots[0]
    }

    /// One walk of the script's kind over slot 0, sub-page `sub`.
    fn walk(&self, sub: usize) {
        let w = Walk {
            arena: self.arena,
            strategy: self.strategy,
            kind: self.kind,
            slot: 0,
            sub,
            delay_tb: 0,
            ee_window: false,
            gap: false,
            counters: self.counters,
            stamps: None,
        };
        walkers::walk_once(&w);
    }

    /// The changer does `f` to the slot under its lock.
    fn change(&self, f: fn(&Changer, &Slot)) {
        let slot = self.slot();
        let _g = slot.lock.lock();
        f(&self.changer, slot);
    }

    /// Says step `n` is done.
    fn done(&self, n: u64) {
        self.step.store(n, Release);
    }

    /// Waits for step `n`; fails the run naming `what` after 10 s.
    fn wait(&self, n: u64, what: &str) {
        let start = time::now();
        while self.step.load(Acquire) < n {
            if time::now() - start > time::secs(10) {
                exit::fail(format_args!("scripted race: {what} did not happen within 10 s"));
            }
            core::hint::spin_loop();
        }
    }
}

/// The scripts, one per detector kind of the walkers.
pub static SCRIPTS: &[Script] = &[
    Script {
        what: What::PoisonedTable,
        name: "page-table page freed under a walker (none)",
        strategy: Strategy::None,
        bug: WalkBug::None,
        kind: Kind::FindPte,
        start: Start::EmptyTable,
        plan: Plan::StopWalker(Point::WalkerAfterPmd, |c, s| c.free_empty_table(s)),
    },
    Script {
        what: What::SplitUnderWalker,
        name: "THP split under a find_pte walker (none)",
        strategy: Strategy::None,
        bug: WalkBug::None,
        kind: Kind::FindPte,
        start: Start::Huge,
        plan: Plan::StopWalker(Point::WalkerAfterLeaf, |c, s| c.split(s)),
    },
    Script {
        what: What::TornEntry,
        name: "a leaf written in two halves (walk.bug=torn-write)",
        strategy: Strategy::Ipi,
        bug: WalkBug::TornWrite,
        kind: Kind::FindPte,
        start: Start::Empty,
        plan: Plan::StopChanger(
            Point::TornHalf,
            |c, s| {
                c.populate(s);
            },
            0,
        ),
    },
    Script {
        what: What::RefOnFreedPage,
        name: "gup without add_unless(0) after the folio was freed (none)",
        strategy: Strategy::None,
        bug: WalkBug::None,
        kind: Kind::GupNoRef,
        start: Start::Huge,
        plan: Plan::StopWalker(Point::WalkerAfterLeaf, |c, s| c.zap(s)),
    },
    Script {
        what: What::FreedPageData,
        name: "a pinned folio poisoned on unmap (walk.bug=free-pinned, none)",
        strategy: Strategy::None,
        bug: WalkBug::FreePinned,
        kind: Kind::Gup,
        start: Start::Huge,
        plan: Plan::StopWalker(Point::GupPinned, |c, s| c.zap(s)),
    },
    Script {
        what: What::StaleTlbAccess,
        name: "a zap without its TLB flush (walk.bug=noflush)",
        strategy: Strategy::Ipi,
        bug: WalkBug::NoFlush,
        kind: Kind::Hw,
        start: Start::Huge,
        plan: Plan::Custom(None, |p| {
            if is_walker() {
                p.walk(0); // caches the translation
                p.done(1);
                p.wait(2, "the changer's zap");
                p.walk(0); // through the stale entry
            } else {
                p.wait(1, "the walker's first access");
                p.change(|c, s| c.zap(s));
                p.done(2);
            }
        }),
    },
    Script {
        what: What::FaultOnMapped,
        name: "a linked page-table page overwritten (walk.bug=poison-linked)",
        strategy: Strategy::Ipi,
        bug: WalkBug::PoisonLinked,
        kind: Kind::Hw,
        start: Start::Split,
        plan: Plan::StopChanger(Point::PoisonedLinked, |c, s| c.zap(s), 1),
    },
    Script {
        what: What::PinDuringCollapse,
        name: "gup without the PMD re-check against a collapse (walk.bug=no-pmd-recheck)",
        strategy: Strategy::Ipi,
        bug: WalkBug::NoPmdRecheck,
        kind: Kind::Gup,
        start: Start::Split,
        plan: Plan::Custom(Some(Point::WalkerAfterPmd), |p| {
            if is_walker() {
                // Reads the PMD, waits; goes on once the collapse has
                // isolated the folio; pins it; then lets the collapse finish.
                p.walk(0);
                points::release(Point::CollapseIsolated);
            } else {
                points::wait_reached(Point::WalkerAfterPmd, "the walker");
                points::arm_releasing(Point::CollapseIsolated, Point::WalkerAfterPmd);
                p.change(|c, s| {
                    c.collapse(s);
                });
            }
        }),
    },
];

impl Plan {
    /// The point to arm before the race.
    fn point(self) -> Option<Point> {
        match self {
            Plan::StopWalker(at, _) | Plan::StopChanger(at, _, _) => Some(at),
            Plan::Custom(at, _) => at,
        }
    }

    /// This CPU's side.
    fn run(self, p: &Play) {
        match (self, is_walker()) {
            (Plan::StopWalker(..), true) => p.walk(0),
            (Plan::StopWalker(at, op), false) => {
                points::wait_reached(at, "the walker");
                p.change(op);
                points::release(at);
            }
            (Plan::StopChanger(at, _, sub), true) => {
                points::wait_reached(at, "the changer");
                p.walk(sub);
                points::release(at);
            }
            (Plan::StopChanger(_, op, _), false) => p.change(op),
            (Plan::Custom(_, f), _) => f(p),
        }
    }
}

static WALKER_CPU: AtomicU64 = AtomicU64::new(u64::MAX);

fn is_walker() -> bool {
    crate::sys::percpu::cpu_id() as u64 == WALKER_CPU.load(Relaxed)
}

/// Plays `s` once; returns how many violations of its kind were recorded,
/// and all of them.
pub fn play(s: &Script) -> (u64, u64) {
    play_with(s, s.bug)
}

/// The gup-versus-collapse script with the PMD re-check in place: the same
/// interleaving, which the re-check must turn into a retry.
pub fn play_pin_with_recheck() -> (u64, u64) {
    let s = SCRIPTS.iter().find(|s| s.what == What::PinDuringCollapse).expect("listed");
    play_with(s, WalkBug::None)
}

fn play_with(s: &Script, bug: WalkBug) -> (u64, u64) {
    let Some(walker) = smp::other_online_cpu() else {
        exit::fail(format_args!("scripted races need 2 CPUs"));
    };
    let mm = Mm::new();
    let arena = Arena::new_thp(mm, 1);
    let stats = Stats::new();
    let counters = Counters::new();
    let step = AtomicU64::new(0);
    let play = Play {
        arena: &arena,
        changer: Changer::new(&arena, s.strategy, &stats),
        kind: s.kind,
        strategy: s.strategy,
        counters: &counters,
        step: &step,
    };
    {
        let slot = play.slot();
        let _g = slot.lock.lock();
        match s.start {
            Start::Huge => {}
            Start::Split => play.changer.split(slot),
            Start::EmptyTable => {
                play.changer.zap(slot);
                play.changer.link_empty_table(slot);
            }
            Start::Empty => play.changer.zap(slot),
        }
    }
    // Quarantined folios come back after 20 ms: a populate needs one.
    time::delay_tb(time::ms(25));
    detect::reset();
    detect::set_run_strategy(Some(s.strategy));
    changers::set_walk_bug(bug);
    WALKER_CPU.store(walker as u64, Relaxed);
    if let Some(at) = s.plan.point() {
        points::arm(at);
    }
    let mask = CpuMask::new().with(walker);
    let job = |_cpu: usize| {
        mm.switch_to();
        s.plan.run(&play);
        space::switch_to_kernel_only();
    };
    smp::run_on_then(mask, time::secs(30), "scripted race", &job, || s.plan.run(&play));
    points::disarm_all();
    changers::set_walk_bug(WalkBug::None);
    WALKER_CPU.store(u64::MAX, Relaxed);
    let r = (detect::count(s.what), detect::total());
    arena.teardown();
    mm.destroy();
    detect::set_run_strategy(None);
    r
}
