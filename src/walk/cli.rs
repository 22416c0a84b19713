//! The command-line entry points: `run=stress` (the strategies of
//! `walk.strategy`, free-running or lock-step) and the main job.

use alloc::vec::Vec;

use walkproto::Strategy;

use super::run::{RunConfig, RunResult, Verdict};
use super::walkers::Kind;
use super::{detect, engine, race, report};
use crate::mm::tlb;
use crate::sys::config::{Config, StressMix};
use crate::sys::{exit, smp, time};

fn check_cpus() {
    if smp::online_mask().count() < 2 {
        exit::fail(format_args!("the stress needs at least 2 CPUs (one changer, one walker); got 1"));
    }
}

/// Runs the strategies and prints the table; returns whether all were ok.
fn run_table(cfg: &Config) -> bool {
    check_cpus();
    let mut all_ok = true;
    println!(
        "stress: {} cpus, flush={}, POWER9 model={}, {} s per strategy, seed {}, weakmem={}",
        smp::online_mask().count(),
        tlb::mode_name(tlb::mode()),
        if crate::mm::shadow::enabled() { "on" } else { "off" },
        cfg.stress.duration_s,
        cfg.run.seed,
        if super::weak_memory() { "emulate" } else { "off" }
    );
    let mut rows: Vec<(Strategy, RunResult)> = Vec::new();
    for st in cfg.walk.strategies.iter() {
        let mut rc = RunConfig::from_config(cfg, st);
        rc.stop_on_violation = rc.expect_caught();
        let r = engine::run(&rc);
        report::print(&rc, &r);
        all_ok &= r.ok();
        rows.push((st, r));
    }
    report::summary_table(&rows);
    // The verdicts as KTAP test results, for labs (ok: PASS or CAUGHT).
    let ktap: Vec<_> = rows.iter().map(|(st, r)| (st.name(), r.ok(), r.verdict().name())).collect();
    crate::ktest::report_results("stress", &ktap);
    if let Some(s) = crate::mm::shadow::stats() {
        println!("POWER9 model: {s}");
    }
    all_ok
}

/// `stress.mix=lockstep`: lock-step races (see `race`), with the first
/// software walker kind of `walk.kinds`.
fn run_lockstep_table(cfg: &Config) -> bool {
    check_cpus();
    let kind = cfg.walk.kinds.iter().find(|k| k.is_software()).unwrap_or(Kind::FindPte);
    let mut ok = true;
    for st in cfg.walk.strategies.iter() {
        let expect = st.is_negative_control();
        let r = race::lockstep(&race::Race {
            strategy: st,
            kind,
            shape: race::Shape::Handshake,
            delay_tb: time::ns(cfg.walk.delay_ns),
            want_overlaps: 0,
            max_iters: 0,
            stop_on_violation: expect,
            cap_tb: time::secs(cfg.stress.duration_s),
        });
        let verdict = Verdict::of(expect, r.violations);
        ok &= verdict.ok();
        let first = r
            .first_violation_us
            .map_or(alloc::string::String::from("-"), |us| alloc::format!("{}.{:03}", us / 1000, us % 1000));
        println!(
            "lockstep strategy={} verdict={verdict} violations={} iterations={} overlaps={} skipped={} skipped_near_walker={} ipis={} first_violation_ms={first} secs={}.{:01} walker={}",
            st.name(),
            r.violations,
            r.iterations,
            r.overlaps,
            r.skipped,
            r.skipped_near_walker,
            r.ipis,
            r.elapsed_us / 1_000_000,
            (r.elapsed_us / 100_000) % 10,
            kind.name()
        );
        for v in detect::records().take(2) {
            println!("  {v}");
        }
    }
    ok
}

/// `run=stress`: the strategies of `walk.strategy`.
pub fn stress(cfg: &Config) -> ! {
    if cfg.stress.mix == StressMix::Lockstep {
        if run_lockstep_table(cfg) {
            exit::success()
        }
        exit::fail(format_args!("lockstep: a strategy failed its verdict (see above)"));
    }
    if run_table(cfg) {
        exit::success()
    } else {
        exit::fail(format_args!("stress: a strategy failed its verdict (see the table above)"))
    }
}

/// The main job: a short stress of the strategies of `walk.strategy` (by
/// default the six correct ones).
pub fn main_job(cfg: &Config) -> ! {
    stress(cfg)
}
