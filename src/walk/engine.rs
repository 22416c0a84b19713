//! The stress engine: changers and lockless walkers on every CPU taking
//! part, one strategy at a time.
//!
//! Roles: the boot CPU (plus `stress.changers - 1` more) runs changers over
//! random slots; every other CPU runs walkers, rotating through the walker
//! kinds. Walker CPUs switch to the arenas' mm (so they are in
//! `mm_cpumask`) unless they are *foreign* walkers (`walk.foreign=N`: the
//! last N CPUs never switch). Everything random comes from `seed`.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::*};

use walkproto::Strategy;

use super::arena::Arena;
use super::changers::{self, Changer, Stats};
use super::detect;
use super::rng::Rng;
use super::run::{RunConfig, RunResult};
use super::walkers::{self, Counters, Kind, Walk};
use crate::mm::space::{self, Mm};
use crate::mm::tlb;
use crate::sys::config::{FlushBug, WalkBug};
use crate::sys::{percpu, smp, time, watchdog};


/// Runs one stress configuration on every online CPU.
pub fn run(cfg: &RunConfig) -> RunResult {
    let boot = percpu::cpu_id();
    let mut online = walkproto::CpuMask::new().with(boot);
    for c in smp::online_mask().iter().filter(|&c| c != boot).take(cfg.max_cpus.saturating_sub(1)) {
        online.set(c);
    }
    let cpus: Vec<usize> = online.iter().collect();
    let changers: Vec<usize> = core::iter::once(boot)
        .chain(cpus.iter().copied().filter(|&c| c != boot))
        .take(cfg.changers.max(1))
        .collect();
    let walkers_list: Vec<usize> = cpus.iter().copied().filter(|c| !changers.contains(c)).collect();
    let foreign: Vec<usize> = walkers_list.iter().rev().take(cfg.foreign).copied().collect();

    let mm = Mm::new();
    let mut arenas = alloc::vec![Arena::new_thp(mm, cfg.thps)];
    if cfg.pud {
        if let Some(p) = Arena::new_pud(mm) {
            arenas.push(p);
        }
    }
    let stats = Stats::new();
    let counters: Vec<Counters> =
        (0..percpu::MAX_CPUS.min(cpus.iter().max().map_or(1, |m| m + 1))).map(|_| Counters::new()).collect();
    // The kinds every walker CPU runs (a foreign CPU cannot run the MMU walker).
    let kinds_needed: Vec<Kind> = cfg
        .kinds
        .iter()
        .copied()
        .filter(|k| *k != Kind::Hw || walkers_list.iter().any(|c| !foreign.contains(c)))
        .collect();
    detect::reset();
    detect::set_run_strategy(Some(cfg.strategy));
    changers::set_walk_bug(cfg.bug);
    tlb::set_flush_bug(cfg.flush_bug);
    STOP.store(false, Release);
    CAPPED.store(false, Relaxed);
    let flushes0 = tlb::GLOBAL_FLUSHES.load(Relaxed);
    let ipis0 = smp::IPIS_SENT.load(Relaxed);
    let start = time::now();
    let bars = Bars { cfg, stats: &stats, counters: &counters, kinds: &kinds_needed, start };

    let job = |cpu: usize| {
        if changers.contains(&cpu) {
            let beat = cpu == boot;
            changer_loop(cfg, &arenas, &bars, cpu, beat);
        } else {
            walker_loop(cfg, &arenas, &counters[cpu], cpu, foreign.contains(&cpu));
        }
    };
    smp::run_on(online, cfg.duration_tb.max(cfg.cap_tb) + time::secs(60), "stress", &job);
    let elapsed = time::now() - start;

    let mut r = RunResult { expect_caught: cfg.expect_caught(), start_tb: start, ..Default::default() };
    for c in &counters {
        r.walks += c.walks.load(Relaxed);
        r.huge_hits += c.huge_hits.load(Relaxed);
        r.split_hits += c.split_hits.load(Relaxed);
        r.bails += c.bails.load(Relaxed);
        r.retries += c.retries.load(Relaxed);
        r.hw_faults += c.faults.load(Relaxed);
        r.hw_unverified += c.unverified.load(Relaxed);
        for (k, n) in c.by_kind.iter().enumerate() {
            r.kind_walks[k] += n.load(Relaxed);
        }
    }
    r.splits = stats.splits.load(Relaxed);
    r.collapses = stats.collapses.load(Relaxed);
    r.collapse_aborts = stats.collapse_aborts.load(Relaxed);
    r.zaps = stats.zaps.load(Relaxed);
    r.populates = stats.populates.load(Relaxed);
    r.churns = stats.tables_linked.load(Relaxed);
    r.ops = stats.ops();
    r.serializes = stats.serializes.load(Relaxed);
    r.skipped = stats.skipped.load(Relaxed);
    r.sync_timeouts = stats.sync_timeouts.load(Relaxed);
    r.sync_us = time::tb_to_us(stats.sync_tb.load(Relaxed));
    r.ipis = smp::IPIS_SENT.load(Relaxed) - ipis0;
    r.flushes = tlb::GLOBAL_FLUSHES.load(Relaxed) - flushes0;
    r.elapsed_us = time::tb_to_us(elapsed);

    // Everything has stopped walking: drain rcu, tear down, free. The
    // teardown's frees are checked by the model like any other, so the
    // violations are counted after it.
    let drain = Changer::new(&arenas[0], cfg.strategy, &stats);
    if cfg.strategy == Strategy::Rcu {
        let d = time::Deadline::after(time::secs(10));
        while super::REGISTRY.pending_deferred() > 0 && !d.expired() {
            drain.reclaim();
        }
    }
    for a in arenas {
        a.teardown();
    }
    mm.destroy();
    changers::set_walk_bug(WalkBug::None);
    tlb::set_flush_bug(FlushBug::None);
    detect::set_run_strategy(None);
    r.violations = detect::total();
    r.first_violation_us = match detect::first_tb() {
        0 => None,
        t => Some(time::tb_to_us(t.saturating_sub(start))),
    };
    r.detail = detect::summary();
    r.cap_reached = CAPPED.load(Relaxed) && !(cfg.expect_caught() && r.violations > 0);
    r
}

static STOP: AtomicBool = AtomicBool::new(false);
/// Set when the run ended at its cap.
static CAPPED: AtomicBool = AtomicBool::new(false);

/// What a run needs before it may end, and how to count it.
struct Bars<'a> {
    cfg: &'a RunConfig,
    stats: &'a Stats,
    counters: &'a [Counters],
    kinds: &'a [Kind],
    start: u64,
}

impl Bars<'_> {
    /// Walks of `k` so far.
    fn walks(&self, k: Kind) -> u64 {
        self.counters.iter().map(|c| c.by_kind[k.index()].load(Relaxed)).sum()
    }

    /// Whether the run has what it needs (time and events).
    fn met(&self, now: u64) -> bool {
        now - self.start >= self.cfg.duration_tb
            && self.stats.ops() >= self.cfg.min_ops
            && self.kinds.iter().all(|&k| self.walks(k) >= self.cfg.min_walks)
    }

    /// Whether the cap is reached.
    fn capped(&self, now: u64) -> bool {
        now - self.start >= self.cfg.cap_tb.max(self.cfg.duration_tb)
    }
}

/// Whether the run should stop because what it looks for was caught.
fn caught(cfg: &RunConfig) -> bool {
    cfg.stop_on_violation
        && match cfg.stop_on {
            Some(w) => detect::count(w) > 0,
            None => detect::total() > 0,
        }
}

/// A long run prints a progress line this often, so a soak shows it is alive.
const HEARTBEAT_S: u64 = 60;

/// `beat`: this changer prints the progress lines.
fn changer_loop(cfg: &RunConfig, arenas: &[Arena], bars: &Bars, cpu: usize, beat: bool) {
    let mut rng = Rng::new(cfg.seed ^ (cpu as u64 + 1) << 32);
    let mut next_beat = bars.start + time::secs(HEARTBEAT_S);
    let stats = bars.stats;
    while !STOP.load(Relaxed) {
        let now = time::now();
        // A clean run ends with its events; a must-be-caught run that
        // reaches them without a catch has used up its budget (MISSED).
        if bars.met(now) {
            break;
        }
        if bars.capped(now) {
            CAPPED.store(true, Relaxed);
            break;
        }
        if beat && now >= next_beat {
            next_beat += time::secs(HEARTBEAT_S);
            let walks: u64 = bars.counters.iter().map(|c| c.walks.load(Relaxed)).sum();
            println!(
                "stress progress strategy={} t={}s/{}s walks={} splits={} collapses={} zaps={} sync_timeouts={} violations={}",
                cfg.strategy.name(),
                time::tb_to_us(now - bars.start) / 1_000_000,
                time::tb_to_us(cfg.duration_tb.max(cfg.cap_tb)) / 1_000_000,
                walks,
                stats.splits.load(Relaxed),
                stats.collapses.load(Relaxed),
                stats.zaps.load(Relaxed),
                stats.sync_timeouts.load(Relaxed),
                detect::total()
            );
        }
        // Mostly the THP arena; the PUD arena's single slot now and then.
        let a = if arenas.len() > 1 && rng.below(8) == 0 { &arenas[1] } else { &arenas[0] };
        let ch = Changer::new(a, cfg.strategy, stats).with_copy_time(cfg.copy_tb);
        let slot = rng.below(a.slots.len());
        ch.step(slot, rng.next(), cfg.churn_only);
        watchdog::progress();
        if caught(cfg) {
            break;
        }
    }
    STOP.store(true, Release);
}

fn walker_loop(cfg: &RunConfig, arenas: &[Arena], counters: &Counters, cpu: usize, foreign: bool) {
    let mut rng = Rng::new(cfg.seed ^ (cpu as u64 + 1) << 40 ^ 0x5a5a);
    if !foreign {
        arenas[0].mm.switch_to();
    }
    let kinds: Vec<Kind> = cfg.kinds.iter().copied().filter(|k| !(foreign && *k == Kind::Hw)).collect();
    if kinds.is_empty() {
        return;
    }
    let mut i = 0usize;
    while !STOP.load(Relaxed) {
        let a = if arenas.len() > 1 && rng.below(8) == 0 { &arenas[1] } else { &arenas[0] };
        let w = Walk {
            arena: a,
            strategy: cfg.strategy,
            kind: kinds[i % kinds.len()],
            slot: rng.below(a.slots.len()),
            sub: rng.below(a.shape.subs),
            delay_tb: cfg.delay_tb,
            ee_window: cfg.ee_window,
            gap: false,
            counters,
            stamps: None,
        };
        walkers::walk_once(&w);
        i += 1;
        if cfg.gap_tb > 0 {
            time::delay_tb(rng.next() % cfg.gap_tb);
        }
        watchdog::progress();
        if caught(cfg) {
            STOP.store(true, Release);
        }
    }
    if !foreign {
        space::switch_to_kernel_only();
    }
}
