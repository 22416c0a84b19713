//! In-QEMU tests of walkers and strategies: the real-mode interlock
//! question, every correct strategy under every walker kind, every negative
//! control caught, foreign and EE-window traps, detector controls, and the
//! SB litmus calibration.

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

use walkproto::{CpuMask, Strategy};

use super::litmus::{self, Fence, Write};
use super::platform::Kernel;
use super::race;
use super::run::RunConfig;
use super::{engine, report};
use super::walkers::Kind;
use super::REGISTRY;
use crate::ktest::{Fail, Outcome, Scope, Test};
use crate::mm::space::{self, Mm};
use crate::mm::tlb;
use crate::{arch, ensure, fail};
use crate::sys::{percpu, realmode, smp, time};

pub static TESTS: &[Test] = &[
    Test { name: "walk_realmode_interlock", scope: Scope::Boot, timeout_ms: 60_000, run: realmode_interlock },
    Test {
        name: "walk_correct_strategies_all_kinds",
        scope: Scope::Boot,
        timeout_ms: 120_000,
        run: correct_all_kinds,
    },
    Test {
        name: "walk_correct_strategies_lockstep",
        scope: Scope::Boot,
        timeout_ms: 120_000,
        run: correct_lockstep,
    },
    Test { name: "walk_controls_caught", scope: Scope::Boot, timeout_ms: 180_000, run: controls_caught },
    Test { name: "walk_foreign_walker", scope: Scope::Boot, timeout_ms: 120_000, run: foreign_walker },
    Test { name: "walk_ee_window_trap", scope: Scope::Boot, timeout_ms: 120_000, run: ee_window_trap },
    Test {
        name: "walk_flush_ipi_serializes_in_mm_walkers",
        scope: Scope::Boot,
        timeout_ms: 60_000,
        run: flush_ipi_serializes,
    },
    Test {
        name: "detector_controls_caught",
        scope: Scope::Boot,
        timeout_ms: 120_000,
        run: detector_controls,
    },
    Test { name: "litmus_sb_calibration", scope: Scope::Boot, timeout_ms: 120_000, run: sb_calibration },
];

/// How long a correct strategy is stressed per test.
const CLEAN_TB: u64 = time::ms(1500);
/// Budget within which a negative control must be caught.
const CATCH_TB: u64 = time::secs(10);
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
/// Walk delay for must-be-caught runs: a wider window, found sooner.
const CATCH_DELAY_TB: u64 = time::ns(20_000);

fn two_cpus() -> Result<usize, Fail> {
    smp::other_online_cpu().ok_or_else(|| crate::ktest::skip("needs at least 2 CPUs"))
}

fn check_run(rc: &RunConfig, what: &str) -> Outcome {
    let r = engine::run(rc);
    report::print(rc, &r);
    ensure!(r.ok(), "{what}: verdict {} ({} violations)", r.verdict(), r.violations);
    if !rc.expect_caught() {
        ensure!(
            r.splits + r.zaps + r.churns >= 3,
            "{what}: the changer barely ran ({} ops)",
            r.splits + r.zaps + r.churns
        );
        for k in rc.kinds.iter() {
            ensure!(r.kind_walks[*k as usize] > 0, "{what}: no {} walks ran", k.name());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The seed's question: does a real-mode, EE=0 walker interlock with the
// IPI-issuing code? A walker on another CPU registers and holds a walk for
// 50 ms in real mode; this CPU serializes; did serialize wait for it?

static WALK_START: AtomicU64 = AtomicU64::new(0);
static WALK_END: AtomicU64 = AtomicU64::new(0);
/// When the changer called `serialize` (0: not yet).
static SERIALIZE_AT: AtomicU64 = AtomicU64::new(0);
/// Set when the changer's `serialize` returned.
static SERIALIZE_DONE: AtomicBool = AtomicBool::new(false);
/// How long the walk is held in real mode. "Did not wait" shows as serialize
/// returning this much before the walk ended, so it is kept well above a
/// host scheduling delay of a vCPU thread.
const HOLD_MS: u64 = 50;
const HOLD_TB: u64 = time::ms(HOLD_MS);

/// Where the walker opens its interrupt window, if anywhere.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trap {
    None,
    /// Registers in virtual mode with EE=1 and keeps EE=1 until the
    /// changer's serialize has had its chance to interrupt it, then enters
    /// real mode (registration and walk not both EE=0).
    EeBeforeRealMode,
}

extern "C" fn real_hold(strategy: u64, mm: u64) -> u64 {
    // SAFETY: the caller passes a live `&Mm`.
    let mm = unsafe { &*(mm as *const Mm) };
    let st = Strategy::ALL[strategy as usize];
    let g = REGISTRY.begin_walk(st, &mm.sync, percpu::cpu_id());
    hold(g)
}

extern "C" fn real_hold_registered(_: u64, _: u64) -> u64 {
    // Already registered by the caller (the trap case): just the walk.
    WALK_START.compare_exchange(0, time::now(), AcqRel, Relaxed).ok();
    time::delay_tb(HOLD_TB);
    WALK_END.store(time::now(), Release);
    0
}

fn hold(g: walkproto::WalkGuard<'_>) -> u64 {
    WALK_START.store(time::now(), Release);
    time::delay_tb(HOLD_TB);
    WALK_END.store(time::now(), Release);
    drop(g);
    0
}

/// The trap case's EE=1 window, between registering and entering real mode.
/// It is not a fixed time (a changer vCPU the host did not schedule for a few
/// ms would miss it, and the row would flip for a reason that has nothing to
/// do with the protocol): it stays open until this CPU has taken a doorbell
/// (the changer's IPI), or serialize returned without one, or, for strategies
/// that send none, 5 ms after serialize began; at most 2 s.
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

/// Returns (serialize finished, walk ended) timestamps.
fn interlock_case(st: Strategy, foreign: bool, trap: Trap) -> Result<(u64, u64), Fail> {
    let walker = two_cpus()?;
    let mm = Mm::new();
    WALK_START.store(0, Relaxed);
    WALK_END.store(0, Relaxed);
    SERIALIZE_AT.store(0, Relaxed);
    SERIALIZE_DONE.store(false, Relaxed);
    let mut done = 0u64;
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
        done = time::now();
        SERIALIZE_DONE.store(true, Release);
        if let Err(e) = r {
            err = Some(e);
        }
    });
    mm.destroy();
    if let Some(e) = err {
        return Err(fail!("{}: serialize failed: {e}", st.name()));
    }
    Ok((done, WALK_END.load(Acquire)))
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
            let (done, end) = interlock_case(st, foreign, trap)?;
            let waited = done >= end;
            let expect = match (trap, foreign) {
                _ if st == Strategy::None => false,
                (Trap::None, false) => true,
                (Trap::None, true) => st.covers_foreign_walkers(),
                (Trap::EeBeforeRealMode, _) => !st.walker_needs_irqs_off(),
            };
            let _ = write!(
                table,
                "\n    {label:<22} {:<10} {:<8} (serialize returned {} us {} the walk ended)",
                st.name(),
                if waited { "WAITED" } else { "DID-NOT" },
                time::tb_to_us(done.abs_diff(end)),
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
    println!("  real-mode walker (IR=DR=0, EE=0, {HOLD_MS} ms) vs serialize:{table}");
    ensure!(bad.is_empty(), "unexpected interlock results: {bad}");
    Ok(())
}

// ---------------------------------------------------------------------------

fn correct_all_kinds(_: usize) -> Outcome {
    two_cpus()?;
    for st in Strategy::CORRECT {
        let mut rc = RunConfig::new(st);
        rc.duration_tb = CLEAN_TB;
        rc.max_cpus = CLEAN_CPUS;
        check_run(&rc, st.name())?;
    }
    Ok(())
}

fn correct_lockstep(_: usize) -> Outcome {
    two_cpus()?;
    let mut line = String::new();
    for st in Strategy::CORRECT {
        for kind in [Kind::Gup, Kind::FindPte, Kind::RealMode] {
            let r = race::lockstep(st, kind, u64::MAX, time::ms(400), time::ns(20_000), false);
            let _ = write!(line, "{}/{}={} ", st.name(), kind.name(), r.iterations);
            ensure!(
                r.violations == 0,
                "lock-step {} with {} walkers: {} violations",
                st.name(),
                kind.name(),
                r.violations
            );
            ensure!(r.iterations > 100, "lock-step {}: only {} iterations", st.name(), r.iterations);
        }
    }
    println!("  lock-step near-collisions, 0 violations: {line}");
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
        let mut rc = RunConfig::new(st);
        rc.duration_tb = CATCH_TB;
        rc.stop_on_violation = true;
        rc.max_cpus = CATCH_CPUS;
        rc.delay_tb = CATCH_DELAY_TB;
        let counter_control = st.counter_barrier().is_some();
        if counter_control {
            // First the bare hardware race, lock-step (QEMU on an x86 host
            // almost never opens this window; reported, not required)...
            let hw = race::lockstep(st, Kind::FindPte, u64::MAX, time::secs(2), time::ns(20_000), true);
            let _ = write!(
                summary,
                "\n    {}: hardware SB race: {} in {} lock-step iterations",
                st.name(),
                if hw.violations > 0 { "caught" } else { "not seen" },
                hw.iterations
            );
            // ...then with Power's allowed late publication emulated.
            REGISTRY.set_store_delay_emulation(true);
        }
        let r = engine::run(&rc);
        REGISTRY.set_store_delay_emulation(false);
        report::print(&rc, &r);
        let _ = write!(
            summary,
            "\n    {}: {}{}",
            st.name(),
            caught_line("free-running stress", r.first_violation_us),
            if counter_control { " (weakmem=emulate)" } else { "" }
        );
        ensure!(
            r.violations > 0,
            "negative control {} was not caught within {} s",
            st.name(),
            time::tb_to_ms(CATCH_TB) / 1000
        );
    }
    println!("  negative controls:{summary}");
    Ok(())
}

/// Clean runs: the full mix for CLEAN_TB. Must-be-caught runs: up to
/// CATCH_TB on CATCH_CPUS, wide walk windows, and changers that only churn
/// page-table pages (many serializations per second, no leaf flushes).
fn budget(rc: &mut RunConfig) {
    if rc.expect_caught() {
        rc.duration_tb = CATCH_TB;
        rc.stop_on_violation = true;
        rc.max_cpus = CATCH_CPUS;
        rc.delay_tb = CATCH_DELAY_TB;
        rc.churn_only = true;
    } else {
        rc.duration_tb = CLEAN_TB;
        rc.max_cpus = TRAP_CPUS;
    }
}

fn foreign_walker(_: usize) -> Outcome {
    two_cpus()?;
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    for st in Strategy::CORRECT {
        let mut rc = RunConfig::new(st);
        rc.foreign = 1;
        rc.kinds = alloc::vec![Kind::Gup, Kind::FindPte, Kind::RealMode];
        budget(&mut rc);
        check_run(&rc, &format!("foreign walker under {}", st.name()))?;
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
        budget(&mut rc);
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
    rc.duration_tb = CLEAN_TB;
    rc.expect = Some(false);
    let r = engine::run(&rc);
    report::print(&rc, &r);
    ensure!(r.violations == 0, "`none` with IPI flushes: {} violations", r.violations);
    ensure!(r.splits + r.churns > 10, "the changer barely ran");
    Ok(())
}

fn detector_controls(_: usize) -> Outcome {
    use super::detect::{self, What};
    two_cpus()?;
    let _mode = tlb::ModeGuard::set(tlb::Mode::Tlbie);
    let run = |kinds: alloc::vec::Vec<Kind>, st: Strategy, noflush: bool, stop: Option<What>, dur: u64| {
        let mut rc = RunConfig::new(st);
        rc.kinds = kinds;
        rc.bug = if noflush { crate::sys::config::WalkBug::NoFlush } else { crate::sys::config::WalkBug::None };
        rc.duration_tb = dur;
        rc.stop_on_violation = stop.is_some();
        rc.stop_on = stop;
        rc.max_cpus = CATCH_CPUS;
        rc.delay_tb = CATCH_DELAY_TB;
        let r = engine::run(&rc);
        report::print(&rc, &r);
        r
    };
    // gup_fast's reference protocol does not depend on walker serialization:
    // under a changer that waits for nobody, a gup that takes references
    // without add_unless(0) must be seen taking one on a freed page...
    run(alloc::vec![Kind::GupNoRef], Strategy::None, false, Some(What::RefOnFreedPage), CATCH_TB);
    let bad = detect::count(What::RefOnFreedPage);
    ensure!(
        bad > 0,
        "gup without add_unless(0) never took a reference on a freed page in {} s",
        CATCH_TB / time::secs(1)
    );
    // ...while the real one never does (other violations are expected there).
    run(alloc::vec![Kind::Gup], Strategy::None, false, None, CLEAN_TB);
    let good = detect::count(What::RefOnFreedPage);
    ensure!(good == 0, "gup with add_unless(0) took {good} references on freed pages");
    // Changers that skip the TLB flush must be seen by the MMU walker
    // reading a freed page through a stale translation.
    run(alloc::vec![Kind::Hw], Strategy::Ipi, true, Some(What::StaleTlbAccess), CATCH_TB);
    let stale = detect::count(What::StaleTlbAccess);
    ensure!(stale > 0, "no stale-TLB access seen with flushes skipped");
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
    for st in [Strategy::CountLwsync, Strategy::Count] {
        let n = litmus::run_registry_sb(other, 20_000, st, 64);
        let _ = write!(line, "registry[{}]={n}/20000 ", st.name());
        if st == Strategy::Count {
            ensure!(n == 0, "the count handshake with sync missed a walker {n} times");
        }
    }
    println!("  SB litmus, {iters} trials each (both loads old): {line}");
    Ok(())
}
