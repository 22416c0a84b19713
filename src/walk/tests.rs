//! In-QEMU tests of walkers and strategies: the real-mode interlock
//! question, every correct strategy under every walker kind, measured
//! lock-step collisions, every negative control caught, foreign and
//! EE-window traps, every detector kind tripped by its control, and the SB
//! litmus calibration.
//!
//! Pass bars count events (changer operations, walks per kind, measured
//! overlaps) within a generous cap; a run that reaches its cap without its
//! events fails with "host too slow: ...", which is not a protocol verdict.
//! Must-be-caught runs stop at their first catch, within a cap.

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

use walkproto::{CpuMask, Strategy};

use super::detect::{self, What};
use super::litmus::{self, Fence, Write};
use super::platform::Kernel;
use super::race::{self, Race, RaceResult, Shape};
use super::run::{RunConfig, RunResult, Verdict};
use super::walkers::Kind;
use super::{engine, report, REGISTRY};
use crate::ktest::{Fail, Outcome, Scope, Test};
use crate::mm::space::{self, Mm};
use crate::mm::tlb;
use crate::sys::{percpu, realmode, smp, time};
use crate::{arch, ensure, fail};

pub static TESTS: &[Test] = &[
    Test { name: "walk_realmode_interlock", scope: Scope::Boot, timeout_ms: 120_000, run: realmode_interlock },
    Test {
        name: "walk_correct_strategies_all_kinds",
        scope: Scope::Boot,
        timeout_ms: 300_000,
        run: correct_all_kinds,
    },
    Test {
        name: "walk_correct_strategies_weakmem",
        scope: Scope::Boot,
        timeout_ms: 300_000,
        run: correct_weakmem,
    },
    Test {
        name: "walk_correct_strategies_lockstep",
        scope: Scope::Boot,
        timeout_ms: 300_000,
        run: correct_lockstep,
    },
    Test { name: "walk_controls_caught", scope: Scope::Boot, timeout_ms: 300_000, run: controls_caught },
    Test { name: "walk_control_budget_ends_missed", scope: Scope::Boot, timeout_ms: 120_000, run: budget_missed },
    Test { name: "walk_foreign_walker", scope: Scope::Boot, timeout_ms: 300_000, run: foreign_walker },
    Test { name: "walk_ee_window_trap", scope: Scope::Boot, timeout_ms: 300_000, run: ee_window_trap },
    Test {
        name: "walk_flush_ipi_serializes_in_mm_walkers",
        scope: Scope::Boot,
        timeout_ms: 120_000,
        run: flush_ipi_serializes,
    },
    Test { name: "detector_controls_caught", scope: Scope::Boot, timeout_ms: 300_000, run: detector_controls },
    Test { name: "litmus_sb_calibration", scope: Scope::Boot, timeout_ms: 180_000, run: sb_calibration },
    Test { name: "tlbmodel_flush_controls_caught", scope: Scope::Boot, timeout_ms: 60_000, run: model_controls },
];

/// Budget of a must-be-caught run, in changer operations: not caught in
/// this many, the control failed. The suite's controls are caught within a
/// few hundred (the slowest seen: 238, a foreign walker on a busy host).
const CATCH_OPS: u64 = 20_000;
/// Cap of a must-be-caught run: a run that reaches it before its budget of
/// operations fails with "host too slow", not with a verdict.
const CATCH_CAP_TB: u64 = time::secs(150);
/// Cap of a clean run: it stops as soon as it has its events.
const CLEAN_CAP_TB: u64 = time::secs(60);
/// Events a clean run needs: changer operations, and walks of every kind.
const CLEAN_OPS: u64 = 60;
const CLEAN_WALKS: u64 = 300;
/// CPUs that take part in a must-be-caught run (see `RunConfig::max_cpus`):
/// one changer, one walker — every IPI round is then one walker's answer,
/// and an oversubscribed host cannot stretch the race past the budget.
const CATCH_CPUS: usize = 2;
/// CPUs in the clean runs of the trap tests (EE window, foreign walker).
const TRAP_CPUS: usize = 4;
/// CPUs in the clean all-kinds runs. More than this on a 2-core host and
/// count-wait's changer starves (it needs an instant with no walker on any
/// CPU, and a descheduled vCPU can sit inside a walk for milliseconds).
const CLEAN_CPUS: usize = 8;
/// Walk delay for must-be-caught runs: a wider window, found sooner. (The
/// changer's path from an IPI acknowledgement to the free includes a walk-
/// cache flush and the POWER9 model's checks; the walker must still be
/// reading when the free lands.)
const CATCH_DELAY_TB: u64 = time::us(100);
/// Walk delay of the strategy controls (see `controls_caught`).
const CONTROL_WINDOW_TB: u64 = time::ms(1);
/// Overlaps every correct strategy × walker kind must survive in lock-step.
const LOCKSTEP_OVERLAPS: u64 = 40;
/// Cap of one lock-step pairing.
const LOCKSTEP_CAP_TB: u64 = time::secs(30);

fn two_cpus() -> Result<usize, Fail> {
    smp::other_online_cpu().ok_or_else(|| crate::ktest::skip("needs at least 2 CPUs"))
}

/// A clean run of `rc` with the event bars.
fn clean(rc: RunConfig) -> RunConfig {
    rc.events(CLEAN_OPS, CLEAN_WALKS, CLEAN_CAP_TB)
}

/// A must-be-caught run of `rc`: stop at the first violation (of `kind` if
/// given), or MISSED after CATCH_OPS changer operations, within the cap.
fn must_catch(mut rc: RunConfig, kind: Option<What>) -> RunConfig {
    rc.stop_on_violation = true;
    rc.stop_on = kind;
    rc.max_cpus = CATCH_CPUS;
    rc.delay_tb = CATCH_DELAY_TB;
    rc.events(CATCH_OPS, 0, CATCH_CAP_TB)
}

/// The message of a run that reached its cap: the host, not the protocol.
fn too_slow(what: &str, rc: &RunConfig, r: &RunResult) -> Fail {
    let kinds: String = rc
        .kinds
        .iter()
        .map(|k| format!("{}={}/{} ", k.name(), r.kind_walks[k.index()], rc.min_walks))
        .collect();
    fail!(
        "host too slow: {what}: {} of {} changer ops, walks {}in {} ms (the cap); not a protocol result",
        r.ops,
        rc.min_ops,
        kinds,
        r.elapsed_us / 1000
    )
}

/// Why a must-be-caught run `r` was not caught: its budget of operations
/// ran out (the control failed), or the host did not reach it (too slow).
fn not_caught(what: &str, rc: &RunConfig, r: &RunResult) -> Fail {
    if r.cap_reached {
        return too_slow(what, rc, r);
    }
    fail!("{what}: not caught in {} changer ops and {} walks ({} ms)", r.ops, r.walks, r.elapsed_us / 1000)
}

fn check_run(rc: &RunConfig, what: &str) -> Result<RunResult, Fail> {
    let r = engine::run(rc);
    report::print(rc, &r);
    if rc.expect_caught() {
        if r.violations == 0 {
            return Err(not_caught(what, rc, &r));
        }
        return Ok(r);
    }
    ensure!(r.violations == 0, "{what}: verdict {} ({} violations)", r.verdict(), r.violations);
    if r.cap_reached {
        return Err(too_slow(what, rc, &r));
    }
    Ok(r)
}

// ---------------------------------------------------------------------------
// The review's question: does a real-mode, EE=0 walker interlock with the
// IPI-issuing code? A walker on another CPU registers and holds its walk in
// real mode; this CPU serializes. The walker holds until serialize has
// returned, or for HOLD_CAP if it does not return: serialize that returns
// while the walker is inside did not wait for it; serialize that returns
// only after the walk ended waited. Both ends are timebase stamps, and a row
// in which the changer did not even start while the walker was inside (the
// host did not schedule it) is run again, not decided.

static WALK_START: AtomicU64 = AtomicU64::new(0);
static WALK_END: AtomicU64 = AtomicU64::new(0);
/// When the changer called `serialize` (0: not yet).
static SERIALIZE_AT: AtomicU64 = AtomicU64::new(0);
/// When `serialize` returned (0: not yet).
static SERIALIZE_DONE_TB: AtomicU64 = AtomicU64::new(0);
/// Set when `serialize` returned.
static SERIALIZE_DONE: AtomicBool = AtomicBool::new(false);
/// How long the walker holds at most when serialize does not return.
const HOLD_CAP_MS: u64 = 500;
/// Tries of a row whose changer did not start inside the walk.
const INTERLOCK_TRIES: u32 = 5;

/// Where the walker opens its interrupt window, if anywhere.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trap {
    None,
    /// Registers in virtual mode with EE=1 and keeps EE=1 until the
    /// changer's serialize has had its chance to interrupt it, then enters
    /// real mode (registration and walk not both EE=0).
    EeBeforeRealMode,
}

/// The walk itself (real mode, EE=0): hold until serialize returned or the cap.
fn hold_until_serialized() {
    WALK_START.compare_exchange(0, time::now(), AcqRel, Relaxed).ok();
    let start = time::now();
    while !SERIALIZE_DONE.load(Acquire) && time::now() - start < time::ms(HOLD_CAP_MS) {
        core::hint::spin_loop();
    }
    WALK_END.store(time::now(), Release);
}

extern "C" fn real_hold(strategy: u64, mm: u64) -> u64 {
    // SAFETY: the caller passes a live `&Mm` and waits for this call.
    let mm = unsafe { &*(mm as *const Mm) };
    let st = Strategy::ALL[strategy as usize];
    let g = REGISTRY.begin_walk(st, &mm.sync, percpu::cpu_id());
    hold_until_serialized();
    drop(g);
    0
}

extern "C" fn real_hold_registered(_: u64, _: u64) -> u64 {
    // Already registered by the caller (the trap case): just the walk.
    hold_until_serialized();
    0
}

/// The trap case's EE=1 window, between registering and entering real mode.
/// It stays open until this CPU has taken a doorbell (the changer's IPI), or
/// serialize returned without one, or, for strategies that send none, 5 ms
/// after serialize began; at most 2 s.
fn ee_window(doorbells_before: u64) {
    let start = time::now();
    loop {
        if percpu::this().doorbells.load(Relaxed) != doorbells_before || SERIALIZE_DONE.load(Acquire) {
            return;
        }
        let at = SERIALIZE_AT.load(Acquire);
        let now = time::now();
        if (at != 0 && now.wrapping_sub(at) > time::ms(5)) || now.wrapping_sub(start) > time::secs(2) {
            return;
        }
        arch::cpu_relax();
    }
}

/// One interlock row: Some(waited), or None if the changer did not start
/// serialize while the walker was inside (undecided).
fn interlock_case(st: Strategy, foreign: bool, trap: Trap) -> Result<Option<(bool, u64)>, Fail> {
    let walker = two_cpus()?;
    let mm = Mm::new();
    WALK_START.store(0, Relaxed);
    WALK_END.store(0, Relaxed);
    SERIALIZE_AT.store(0, Relaxed);
    SERIALIZE_DONE_TB.store(0, Relaxed);
    SERIALIZE_DONE.store(false, Relaxed);
    let mut err = None;
    let mask = CpuMask::new().with(walker);
    let idx = Strategy::ALL.iter().position(|&s| s == st).expect("listed") as u64;
    let job = |_cpu: usize| {
        if !foreign {
            mm.switch_to();
        }
        match trap {
            Trap::None => {
                realmode::call(real_hold, idx, mm as *const Mm as u64);
            }
            Trap::EeBeforeRealMode => {
                let g = REGISTRY.begin_walk(st, &mm.sync, percpu::cpu_id());
                let doorbells = percpu::this().doorbells.load(Relaxed);
                WALK_START.store(time::now(), Release);
                ee_window(doorbells);
                realmode::call(real_hold_registered, 0, 0);
                drop(g);
            }
        }
        if !foreign {
            space::switch_to_kernel_only();
        }
    };
    smp::run_on_then(mask, time::secs(30), "real-mode hold", &job, || {
        while WALK_START.load(Acquire) == 0 {
            arch::cpu_relax();
        }
        time::delay_tb(time::ms(1));
        SERIALIZE_AT.store(time::now(), Release);
        let r = REGISTRY.serialize(st, &mm.sync, mm.cpumask(), &Kernel::new());
        SERIALIZE_DONE_TB.store(time::now(), Release);
        SERIALIZE_DONE.store(true, Release);
        if let Err(e) = r {
            err = Some(e);
        }
    });
    mm.destroy();
    if let Some(e) = err {
        return Err(fail!("{}: serialize failed: {e}", st.name()));
    }
    let (at, done, end) =
        (SERIALIZE_AT.load(Acquire), SERIALIZE_DONE_TB.load(Acquire), WALK_END.load(Acquire));
    if at >= end {
        return Ok(None);
    }
    Ok(Some((done >= end, done.abs_diff(end))))
}

fn realmode_interlock(_: usize) -> Outcome {
    two_cpus()?;
    let mut table = String::new();
    let mut bad = String::new();
    let cases: [(Trap, bool, &str); 3] = [
        (Trap::None, false, "in mm_cpumask"),
        (Trap::None, true, "foreign"),
        (Trap::EeBeforeRealMode, false, "EE=1 before real mode"),
    ];
    for (trap, foreign, label) in cases {
        for st in Strategy::CORRECT.into_iter().chain([Strategy::None]) {
            let mut decided = None;
            for _ in 0..INTERLOCK_TRIES {
                decided = interlock_case(st, foreign, trap)?;
                if decided.is_some() {
                    break;
                }
            }
            let Some((waited, gap)) = decided else {
                return Err(fail!(
                    "host too slow: {label}/{}: in {INTERLOCK_TRIES} tries the changer never started serialize \
                     while the walker held its walk ({HOLD_CAP_MS} ms); not a protocol result",
                    st.name()
                ));
            };
            let expect = match (trap, foreign) {
                _ if st == Strategy::None => false,
                (Trap::None, false) => true,
                (Trap::None, true) => st.covers_foreign_walkers(),
                (Trap::EeBeforeRealMode, _) => !st.walker_needs_irqs_off(),
            };
            let _ = write!(
                table,
                "\n    {label:<22} {:<12} {:<8} (serialize returned {} us {} the walk ended)",
                st.name(),
                if waited { "WAITED" } else { "DID-NOT" },
                time::tb_to_us(gap),
                if waited { "after" } else { "before" }
            );
            if waited != expect {
                let _ = write!(
                    bad,
                    "{label}/{}: expected {} ",
                    st.name(),
                    if expect { "wait" } else { "no wait" }
                );
            }
        }
    }
    println!("  real-mode walker (IR=DR=0, EE=0, held until serialize returns or {HOLD_CAP_MS} ms) vs serialize:{table}");
    ensure!(bad.is_empty(), "unexpected interlock results: {bad}");
    Ok(())
}

// ---------------------------------------------------------------------------

fn correct_all_kinds(_: usize) -> Outcome {
    two_cpus()?;
    for st in Strategy::CORRECT {
        let mut rc = clean(RunConfig::new(st));
        rc.max_cpus = CLEAN_CPUS;
        check_run(&rc, st.name())?;
    }
    Ok(())
}

/// Every correct strategy under the Power store-buffer emulation: each
/// walker's registration store sits in its emulated store buffer until the
/// Power model forces it out (`sync`, an lwsync-ordered later store, its
/// deadline). The same emulation catches `count-lwsync` and
/// `count-nobarrier` (walk_controls_caught); that these stay clean is
/// because their `sync` drains the buffer before the first table read.
fn correct_weakmem(_: usize) -> Outcome {
    two_cpus()?;
    super::set_weak_memory(true, 1);
    let mut res = Ok(());
    for st in Strategy::CORRECT {
        let mut rc = clean(RunConfig::new(st));
        rc.max_cpus = CLEAN_CPUS;
        if let Err(e) = check_run(&rc, &format!("{} under store-buffer emulation", st.name())) {
            res = Err(e);
            break;
        }
    }
    super::set_weak_memory(false, 1);
    res
}

fn lockstep_line(st: Strategy, kind: Kind, r: &RaceResult) -> String {
    let mut s = format!("{}/{}={}/{}", st.name(), kind.name(), r.overlaps, r.iterations);
    if st.counter_barrier().is_some() {
        let _ = write!(s, " (skipped {}, with a walker inside {})", r.skipped, r.skipped_near_walker);
    }
    s
}

fn correct_lockstep(_: usize) -> Outcome {
    two_cpus()?;
    // The strategy's handshake, not the flushes: with IPI flushes the
    // range flush before the unlink already waits for the walker's EE=0
    // (walk_flush_ipi_serializes_in_mm_walkers), and no unlink could land
    // inside a walk.
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    let mut line = String::new();
    for st in Strategy::CORRECT {
        for kind in [Kind::Gup, Kind::FindPte, Kind::RealMode] {
            let race = Race {
                strategy: st,
                kind,
                shape: Shape::Leaf,
                delay_tb: time::us(50),
                want_overlaps: LOCKSTEP_OVERLAPS,
                max_iters: 0,
                stop_on_violation: false,
                cap_tb: LOCKSTEP_CAP_TB,
            };
            let r = race::lockstep(&race);
            let _ = write!(line, "\n    {}", lockstep_line(st, kind, &r));
            ensure!(
                r.violations == 0,
                "lock-step {} with {} walkers: {} violations ({})",
                st.name(),
                kind.name(),
                r.violations,
                detect::summary()
            );
            ensure!(
                !r.cap_reached,
                "host too slow: lock-step {}/{}: {} of {LOCKSTEP_OVERLAPS} overlaps in {} iterations, {} ms (the cap)",
                st.name(),
                kind.name(),
                r.overlaps,
                r.iterations,
                r.elapsed_us / 1000
            );
        }
    }
    println!("  lock-step, leaf in the table; overlaps/iterations, 0 violations:{line}");
    Ok(())
}

fn caught_line(what: &str, r_us: Option<u64>) -> String {
    match r_us {
        Some(us) => format!("{what} caught after {}.{:03} ms", us / 1000, us % 1000),
        None => format!("{what} not caught"),
    }
}

fn controls_caught(_: usize) -> Outcome {
    two_cpus()?;
    // The controls are about the walker protocol; with IPI-based TLB flushes
    // the flush IPIs themselves serialize in-mm walkers and hide them (see
    // walk_flush_ipi_serializes_in_mm_walkers), so use tlbie here.
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    let mut summary = String::new();
    for st in Strategy::NEGATIVE {
        let mut rc = must_catch(RunConfig::new(st), None);
        // Page-table churn: many serializations per second, each followed
        // by a free a walker can be caught reading. The walker's window
        // must outlast the changer's path from its count read to the free
        // (a walk-cache flush and the POWER9 model's checks, slow on QEMU).
        rc.churn_only = true;
        rc.delay_tb = CONTROL_WINDOW_TB;
        let counter_control = st.counter_barrier().is_some();
        if counter_control {
            // First the bare hardware race, lock-step at the SB window (QEMU
            // on an x86 host almost never opens it; reported, not required)...
            let race = Race {
                strategy: st,
                kind: Kind::FindPte,
                shape: Shape::Handshake,
                delay_tb: time::ns(20_000),
                want_overlaps: 0,
                max_iters: 20_000,
                stop_on_violation: true,
                cap_tb: time::secs(2),
            };
            let hw = race::lockstep(&race);
            let _ = write!(
                summary,
                "\n    {}: hardware SB race: {} in {} lock-step iterations ({} overlaps)",
                st.name(),
                if hw.violations > 0 { "caught" } else { "not seen" },
                hw.iterations,
                hw.overlaps
            );
            // ...then with Power's store buffering emulated.
            super::set_weak_memory(true, 1);
        }
        let r = engine::run(&rc);
        super::set_weak_memory(false, 1);
        report::print(&rc, &r);
        let _ = write!(
            summary,
            "\n    {}: {}{}",
            st.name(),
            caught_line("free-running stress", r.first_violation_us),
            if counter_control { " (store buffering emulated)" } else { "" }
        );
        if r.violations == 0 {
            return Err(not_caught(&format!("negative control {}", st.name()), &rc, &r));
        }
    }
    println!("  negative controls:{summary}");
    Ok(())
}

/// The harness of the controls: a must-be-caught run that catches nothing
/// (a correct strategy, told it must be caught) ends MISSED when its budget
/// of changer operations is used up, not at its cap and not at once.
fn budget_missed(_: usize) -> Outcome {
    two_cpus()?;
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    const OPS: u64 = 200;
    let mut rc = must_catch(RunConfig::new(Strategy::Ipi), None);
    rc.expect = Some(true);
    rc.churn_only = true;
    rc.min_ops = OPS;
    let r = engine::run(&rc);
    report::print(&rc, &r);
    ensure!(r.violations == 0, "ipi had violations ({}): not a harness result", detect::summary());
    if r.cap_reached {
        return Err(too_slow("the budget run", &rc, &r));
    }
    ensure!(r.verdict() == Verdict::Missed, "a run with nothing caught has verdict {}, not MISSED", r.verdict());
    ensure!(r.ops >= OPS, "the budget run ended after {} of {OPS} changer ops", r.ops);
    let Fail(msg) = not_caught("the budget run", &rc, &r);
    ensure!(msg.contains("not caught in"), "a missed control's message is {msg:?}, not \"not caught in N changer ops\"");
    Ok(())
}

/// Clean runs: the full mix with the event bars. Must-be-caught runs: up to
/// CATCH_OPS changer ops on CATCH_CPUS, wide walk windows, and changers that
/// only churn page-table pages (many serializations per second, no leaf
/// flushes).
fn budget(rc: RunConfig) -> RunConfig {
    if rc.expect_caught() {
        let mut rc = must_catch(rc, None);
        rc.churn_only = true;
        rc
    } else {
        let mut rc = clean(rc);
        rc.max_cpus = TRAP_CPUS;
        rc
    }
}

fn foreign_walker(_: usize) -> Outcome {
    two_cpus()?;
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    for st in Strategy::CORRECT {
        let mut rc = RunConfig::new(st);
        rc.foreign = 1;
        rc.kinds = alloc::vec![Kind::Gup, Kind::FindPte, Kind::RealMode];
        check_run(&budget(rc), &format!("foreign walker under {}", st.name()))?;
    }
    Ok(())
}

fn ee_window_trap(_: usize) -> Outcome {
    two_cpus()?;
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    for st in Strategy::CORRECT {
        let mut rc = RunConfig::new(st);
        rc.ee_window = true;
        rc.kinds = alloc::vec![Kind::Gup, Kind::FindPte];
        let mut rc = budget(rc);
        if rc.expect_caught() {
            // The walker is caught only if the free lands while it is still
            // in its EE=1 half of the window, after the changer's path from
            // the IPI's acknowledgement through the flush and the model's
            // checks. At 100 us that took 3,221 ops on average, up to
            // 19,434; the strategy controls' 1 ms window leaves room.
            rc.delay_tb = CONTROL_WINDOW_TB;
        }
        check_run(&rc, &format!("EE window under {}", st.name()))?;
    }
    Ok(())
}

fn flush_ipi_serializes(_: usize) -> Outcome {
    two_cpus()?;
    // With IPI TLB flushes (Linux without tlbie), every split and table free
    // already waits for every CPU in mm_cpumask to take an interrupt, so even
    // the `none` strategy protects in-mm EE=0 walkers.
    let _mode = tlb::ModeGuard::set(tlb::Mode::Ipi);
    let mut rc = RunConfig::new(Strategy::None);
    rc.kinds = alloc::vec![Kind::Gup, Kind::FindPte, Kind::RealMode, Kind::Irq];
    rc.expect = Some(false);
    check_run(&clean(rc), "`none` with IPI flushes")?;
    Ok(())
}

fn detector_controls(_: usize) -> Outcome {
    two_cpus()?;
    // A walker stopped at a race point holds EE=0: flush by tlbie, not IPIs.
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    let mut summary = String::new();
    for s in super::choreo::SCRIPTS {
        let (n, all) = super::choreo::play(s);
        let _ = write!(summary, "\n    {:<20} {n} ({all} in all): {}", s.what.name(), s.name);
        ensure!(
            n > 0,
            "detector kind {} was not tripped by its scripted control ({}); violations seen: {}",
            s.what.name(),
            s.name,
            detect::summary()
        );
    }
    // The same collapse interleaving with gup's PMD re-check: no pin.
    let (n, _) = super::choreo::play_pin_with_recheck();
    ensure!(n == 0, "gup with the PMD re-check still pinned a folio under collapse ({n} times)");
    // The real gup never takes a reference on a freed folio, even under a
    // changer that waits for nobody (other violations are expected there).
    let mut rc = RunConfig::new(Strategy::None);
    rc.kinds = alloc::vec![Kind::Gup];
    rc.expect = Some(false); // stop at the event bars; its verdict is not the point
    let rc = clean(rc);
    let r = engine::run(&rc);
    report::print(&rc, &r);
    let good = detect::count(What::RefOnFreedPage);
    ensure!(good == 0, "gup with add_unless(0) took {good} references on freed pages");
    ensure!(r.kind_walks[Kind::Gup.index()] >= CLEAN_WALKS, "host too slow: the clean gup run walked too little");
    println!("  detector kinds, each tripped by its scripted control:{summary}");
    Ok(())
}

fn sb_calibration(_: usize) -> Outcome {
    let other = two_cpus()?;
    let iters = 50_000;
    let mut line = String::new();
    for (write, fence) in [
        (Write::Store, Fence::None),
        (Write::Store, Fence::Call),
        (Write::Store, Fence::Lwsync),
        (Write::Store, Fence::Sync),
        (Write::Rmw, Fence::Call),
    ] {
        let n = litmus::run_sb(other, iters, fence, write);
        let _ = write!(line, "{:?}+{}={} ", write, fence.name(), n);
        if fence == Fence::Sync {
            ensure!(
                n == 0,
                "SB with sync on both sides reordered {n} times: the platform breaks Power's model"
            );
        }
    }
    for st in [Strategy::CountLwsync, Strategy::Count, Strategy::CountAtomic] {
        let n = litmus::run_registry_sb(other, 20_000, st, 64);
        let _ = write!(line, "registry[{}]={n}/20000 ", st.name());
        if st != Strategy::CountLwsync {
            ensure!(n == 0, "the {} handshake with sync missed a walker {n} times", st.name());
        }
    }
    println!("  SB litmus, {iters} trials each (both loads old): {line}");
    Ok(())
}

// ---------------------------------------------------------------------------
// The POWER9 TLB / walk-cache model's controls: each flush bug must be caught
// at the first free it makes unsafe, deterministically (the model says what
// a POWER9 *may* hold, whatever QEMU flushed), and the same steps without
// the bug must free cleanly.

/// What a flush-bug scenario does to its slot.
#[derive(Clone, Copy)]
enum Steps {
    /// Split a huge leaf, then zap the split slot (frees the folio and the
    /// page-table page).
    SplitThenZap,
    /// Zap a huge leaf (frees the folio).
    ZapHuge,
    /// Link an empty page-table page and free it again.
    Churn,
}

fn run_steps(arena: &super::arena::Arena, ch: &super::changers::Changer, steps: Steps) {
    let slot = &arena.slots[0];
    let _g = slot.lock.lock();
    match steps {
        Steps::SplitThenZap => {
            ch.split(slot);
            ch.zap(slot);
        }
        Steps::ZapHuge => ch.zap(slot),
        Steps::Churn => {
            ch.zap(slot);
            ch.link_empty_table(slot);
            ch.free_empty_table(slot);
        }
    }
}

/// One scenario on a fresh mm that this CPU runs (the model is conservative:
/// a CPU running the PID may have cached everything it can reach). Returns
/// (violations of `what`, all violations, µs from the first step to the
/// first violation of `what`).
fn flush_scenario(
    bug: crate::sys::config::FlushBug,
    steps: Steps,
    what: What,
) -> (u64, u64, Option<u64>) {
    use super::changers::{Changer, Stats};
    let mm = Mm::new();
    let arena = super::arena::Arena::new_thp(mm, 1);
    let stats = Stats::new();
    let ch = Changer::new(&arena, Strategy::Ipi, &stats);
    mm.switch_to();
    detect::reset();
    detect::set_run_strategy(Some(Strategy::Ipi));
    tlb::set_flush_bug(bug);
    let start = time::now();
    run_steps(&arena, &ch, steps);
    tlb::set_flush_bug(crate::sys::config::FlushBug::None);
    let first = match detect::first_tb_of(what) {
        0 => None,
        t => Some(time::tb_to_us(t.saturating_sub(start))),
    };
    let (n, total) = (detect::count(what), detect::total());
    space::switch_to_kernel_only();
    arena.teardown();
    mm.destroy();
    detect::set_run_strategy(None);
    (n, total, first)
}

fn model_controls(_: usize) -> Outcome {
    use crate::sys::config::FlushBug;
    if !crate::mm::shadow::enabled() {
        return Err(fail!("the POWER9 model is off (mmu.model=off): its controls cannot run"));
    }
    let cases: [(FlushBug, Steps, What); 6] = [
        (FlushBug::SplitHuge, Steps::SplitThenZap, What::StaleTlbAtFree),
        (FlushBug::NoPwc, Steps::Churn, What::StalePwcAtFree),
        (FlushBug::VaForDir, Steps::Churn, What::StalePwcAtFree),
        (FlushBug::WrongAp, Steps::ZapHuge, What::StaleTlbAtFree),
        (FlushBug::WrongPid, Steps::ZapHuge, What::StaleTlbAtFree),
        (FlushBug::FreeBeforeFlush, Steps::Churn, What::StalePwcAtFree),
    ];
    let mut line = String::new();
    for mode in [tlb::Mode::Tlbie, tlb::Mode::Ipi] {
        let _mode = tlb::ModeGuard::set(mode);
        for (bug, steps, what) in cases {
            let (clean_n, clean_total, _) = flush_scenario(FlushBug::None, steps, what);
            ensure!(
                clean_total == 0,
                "the correct steps of the {} scenario ({} flushes) freed unsafely {clean_total} times ({}; {clean_n} {})",
                bug.name(),
                tlb::mode_name(mode),
                detect::summary(),
                what.name()
            );
            let (n, _, first) = flush_scenario(bug, steps, what);
            ensure!(
                n > 0,
                "mmu.flush_bug={} ({} flushes) was not caught as {} (seen: {})",
                bug.name(),
                tlb::mode_name(mode),
                what.name(),
                detect::summary()
            );
            let us = first.unwrap_or(u64::MAX);
            ensure!(
                us < 1_000_000,
                "host too slow: mmu.flush_bug={} was caught at its first unsafe free, but only after {us} us (the bar is 1 s)",
                bug.name()
            );
            let _ = write!(line, "\n    {:<8} {:<18} {:<18} caught after {us} us", tlb::mode_name(mode), bug.name(), what.name());
        }
    }
    println!("  POWER9 model flush controls, each caught at its first unsafe free:{line}");
    Ok(())
}
