//! What a stress run prints: one machine-readable `stress ...` line per
//! run, its first violation records, and the summary table.

use alloc::string::String;
use core::fmt::Write;

use walkproto::Strategy;

use super::detect;
use super::run::{RunConfig, RunResult, Verdict};
use crate::mm::tlb;
use crate::sys::{smp, time};

/// One report line for a run (machine-readable `key=value` pairs).
pub fn line(cfg: &RunConfig, r: &RunResult) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "stress strategy={} verdict={} violations={} walks={} huge={} split={} bail={} retry={} hwfault={} \
         splits={} collapses={} collapse_aborts={} zaps={} populates={} churns={} serializes={} skipped={} ipis={} flushes={} \
         sync_ms={} sync_timeouts={} secs={}.{:01} kinds={} foreign={} ee_window={} bug={} flush_bug={} mix={} flush={} model={} cpus={}",
        cfg.strategy.name(),
        r.verdict(),
        r.violations,
        r.walks,
        r.huge_hits,
        r.split_hits,
        r.bails,
        r.retries,
        r.hw_faults,
        r.splits,
        r.collapses,
        r.collapse_aborts,
        r.zaps,
        r.populates,
        r.churns,
        r.serializes,
        r.skipped,
        r.ipis,
        r.flushes,
        r.sync_us / 1000,
        r.sync_timeouts,
        r.elapsed_us / 1_000_000,
        (r.elapsed_us / 100_000) % 10,
        cfg.kinds_str(),
        cfg.foreign,
        cfg.ee_window,
        cfg.bug.name(),
        cfg.flush_bug.name(),
        if cfg.churn_only { "churn" } else { "all" },
        tlb::mode_name(tlb::mode()),
        if crate::mm::shadow::enabled() { "on" } else { "off" },
        smp::online_mask().count().min(cfg.max_cpus)
    );
    if let Some(us) = r.first_violation_us {
        let _ = write!(s, " first_violation_ms={}.{:03}", us / 1000, us % 1000);
    }
    if !r.detail.is_empty() {
        let _ = write!(s, " [{}]", r.detail.trim_end());
    }
    s
}

/// Prints the run's line and its first few violation records.
pub fn print(cfg: &RunConfig, r: &RunResult) {
    crate::println!("{}", line(cfg, r));
    for v in detect::records().take(if r.expect_caught { 2 } else { 8 }) {
        crate::println!("  {v} at {} us", v.at_us(r.start_tb));
    }
    if r.verdict() == Verdict::Missed {
        // A free-running race is found by chance: say how much was tried
        // and how to make the window wider, instead of only "MISSED".
        crate::println!(
            "  not caught in {} changer ops and {} walks with a {} ns walk window (walk.delay_ns); \
             widen it (e.g. walk.delay_ns=1000000) or race in lock-step (stress.mix=lockstep)",
            r.ops,
            r.walks,
            time::tb_to_us(cfg.delay_tb * 1000)
        );
    }
}

/// The human-readable table after the per-run lines.
pub fn summary_table(rows: &[(Strategy, RunResult)]) {
    crate::println!("== stress summary ==");
    crate::println!(
        "{:<16} {:<7} {:>10} {:>9} {:>7} {:>9} {:>6} {:>7} {:>7} {:>8} {:>8}",
        "strategy",
        "verdict",
        "violations",
        "walks",
        "splits",
        "collapses",
        "zaps",
        "churns",
        "IPIs",
        "flushes",
        "sync ms"
    );
    for (st, r) in rows {
        crate::println!(
            "{:<16} {:<7} {:>10} {:>9} {:>7} {:>9} {:>6} {:>7} {:>7} {:>8} {:>8}",
            st.name(),
            r.verdict(),
            r.violations,
            r.walks,
            r.splits,
            r.collapses,
            r.zaps,
            r.churns,
            r.ipis,
            r.flushes,
            r.sync_us / 1000
        );
    }
}

