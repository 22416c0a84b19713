//! The stress run: changers and lockless walkers on every CPU, one strategy
//! at a time, with a verdict per strategy.
//!
//! Roles: the boot CPU (plus `stress.changers - 1` more) runs changers over
//! random slots; every other CPU runs walkers, rotating through the walker
//! kinds. Walker CPUs switch to the arenas' mm (so they are in
//! `mm_cpumask`) unless they are *foreign* walkers (`walk.foreign=N`: the
//! last N CPUs never switch). Everything random comes from `seed`.
//!
//! Verdicts: a run that should be clean is PASS with 0 violations, else
//! FAIL. A run that should be caught (negative-control strategy, foreign
//! walkers under a strategy that cannot see them, EE re-enabled inside the
//! walk under a strategy that needs EE=0, or a detector control) is CAUGHT
//! on its first violation, else MISSED — a failure, because a detector that
//! never fires proves nothing.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering::*};

use walkproto::Strategy;

use super::arena::Arena;
use super::changers::{Changer, Stats};
use super::detect;
use super::walkers::{self, Counters, Kind, Walk};
use crate::mm::space::{self, Mm};
use crate::mm::tlb;
use crate::{config::Config, exit, percpu, smp, time, watchdog};

/// One stress run's settings.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub strategy: Strategy,
    pub kinds: Vec<Kind>,
    pub duration_tb: u64,
    pub thps: usize,
    pub pud: bool,
    pub delay_tb: u64,
    /// Think time between two walks of one CPU: uniform in [0, gap). Real
    /// lockless walkers are not back to back; with none at all, `count-wait`
    /// (which needs a moment with no walker anywhere) starves its changer.
    pub gap_tb: u64,
    pub seed: u64,
    /// Walker CPUs (from the end of the online list) that never join the mm.
    pub foreign: usize,
    /// Re-enable EE inside each walk (a trap, not a fix).
    pub ee_window: bool,
    /// Skip TLB flushes in the changers (detector control for `hw`).
    pub noflush: bool,
    /// Changer CPUs.
    pub changers: usize,
    /// Stop at the first violation (controls: measure time to catch).
    pub stop_on_violation: bool,
    /// With `stop_on_violation`: stop only at the first violation of this kind.
    pub stop_on: Option<super::detect::What>,
    /// Changers only link and free empty page-table pages (`stress.mix=churn`).
    pub churn_only: bool,
    /// Overrides [`RunConfig::expect_caught`] (a test that shows a control
    /// being neutralized by something else, e.g. IPI TLB flushes).
    pub expect: Option<bool>,
    /// Use at most this many CPUs (the rest stay idle in `stop`). Keeps
    /// an oversubscribed host (more vCPUs than cores) from stretching every
    /// race window past a test's budget.
    pub max_cpus: usize,
}

impl RunConfig {
    /// A run of `strategy` with the defaults of the main job.
    pub fn new(strategy: Strategy) -> Self {
        RunConfig {
            strategy,
            kinds: Kind::DEFAULT.to_vec(),
            duration_tb: time::secs(2),
            thps: 16,
            pud: true,
            delay_tb: time::ns(2000),
            gap_tb: time::ns(4000),
            seed: 1,
            foreign: 0,
            ee_window: false,
            noflush: false,
            changers: 1,
            stop_on_violation: false,
            stop_on: None,
            churn_only: false,
            expect: None,
            max_cpus: usize::MAX,
        }
    }

    /// Whether the detector must catch this run.
    pub fn expect_caught(&self) -> bool {
        if let Some(e) = self.expect {
            return e;
        }
        self.strategy.is_negative_control()
            || self.noflush
            || self.kinds.contains(&Kind::GupNoRef)
            || (self.foreign > 0 && !self.strategy.covers_foreign_walkers())
            || (self.ee_window && self.strategy.walker_needs_irqs_off())
    }

    fn kinds_str(&self) -> String {
        let mut s = String::new();
        for (i, k) in self.kinds.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(k.name());
        }
        s
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub walks: u64,
    pub huge_hits: u64,
    pub split_hits: u64,
    pub bails: u64,
    pub retries: u64,
    pub hw_faults: u64,
    pub splits: u64,
    pub collapses: u64,
    pub zaps: u64,
    pub populates: u64,
    pub churns: u64,
    pub serializes: u64,
    pub skipped: u64,
    /// Serializations that timed out and were retried.
    pub sync_timeouts: u64,
    pub ipis: u64,
    pub flushes: u64,
    pub violations: u64,
    pub first_violation_us: Option<u64>,
    pub elapsed_us: u64,
    pub sync_us: u64,
    pub expect_caught: bool,
    pub detail: String,
    /// Walks per kind (index: position in `Kind::ALL`).
    pub kind_walks: [u64; 6],
    /// Timebase at the start of the run.
    pub start_tb: u64,
}

impl RunResult {
    /// PASS / FAIL for clean runs, CAUGHT / MISSED for controls.
    pub fn verdict(&self) -> &'static str {
        match (self.expect_caught, self.violations > 0) {
            (false, false) => "PASS",
            (false, true) => "FAIL",
            (true, true) => "CAUGHT",
            (true, false) => "MISSED",
        }
    }

    /// True for PASS and CAUGHT.
    pub fn ok(&self) -> bool {
        matches!(self.verdict(), "PASS" | "CAUGHT")
    }
}

/// xorshift64*: small, seedable, good enough to pick slots.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

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
    detect::reset();
    STOP.store(false, Release);
    let flushes0 = tlb::GLOBAL_FLUSHES.load(Relaxed);
    let ipis0 = smp::IPIS_SENT.load(Relaxed);
    let start = time::now();
    let deadline = start + cfg.duration_tb;

    let job = |cpu: usize| {
        if changers.contains(&cpu) {
            let beat = (cpu == boot).then_some(counters.as_slice());
            changer_loop(cfg, &arenas, &stats, cpu, deadline, beat);
        } else {
            walker_loop(cfg, &arenas, &counters[cpu], cpu, foreign.contains(&cpu));
        }
    };
    smp::run_on(online, cfg.duration_tb + time::secs(60), "stress", &job);
    let elapsed = time::now() - start;

    let mut r = RunResult { expect_caught: cfg.expect_caught(), start_tb: start, ..Default::default() };
    for c in &counters {
        r.walks += c.walks.load(Relaxed);
        r.huge_hits += c.huge_hits.load(Relaxed);
        r.split_hits += c.split_hits.load(Relaxed);
        r.bails += c.bails.load(Relaxed);
        r.retries += c.retries.load(Relaxed);
        r.hw_faults += c.faults.load(Relaxed);
        for (k, n) in c.by_kind.iter().enumerate() {
            r.kind_walks[k] += n.load(Relaxed);
        }
    }
    r.splits = stats.splits.load(Relaxed);
    r.collapses = stats.collapses.load(Relaxed);
    r.zaps = stats.zaps.load(Relaxed);
    r.populates = stats.populates.load(Relaxed);
    r.churns = stats.tables_linked.load(Relaxed);
    r.serializes = stats.serializes.load(Relaxed);
    r.skipped = stats.skipped.load(Relaxed);
    r.sync_timeouts = stats.sync_timeouts.load(Relaxed);
    r.sync_us = time::tb_to_us(stats.sync_tb.load(Relaxed));
    r.ipis = smp::IPIS_SENT.load(Relaxed) - ipis0;
    r.flushes = tlb::GLOBAL_FLUSHES.load(Relaxed) - flushes0;
    r.violations = detect::total();
    r.first_violation_us = match detect::first_tb() {
        0 => None,
        t => Some(time::tb_to_us(t.saturating_sub(start))),
    };
    r.elapsed_us = time::tb_to_us(elapsed);
    r.detail = detect::summary();

    // Everything has stopped walking: drain rcu, tear down, free.
    let drain =
        Changer { arena: &arenas[0], strategy: cfg.strategy, noflush: false, stats: &stats, gap: false };
    if cfg.strategy == Strategy::Rcu {
        let d = time::Deadline::after(time::secs(10));
        while walkproto_pending() > 0 && !d.expired() {
            drain.reclaim();
        }
    }
    for a in arenas {
        a.teardown();
    }
    mm.destroy();
    r
}

fn walkproto_pending() -> usize {
    super::REGISTRY.pending_deferred()
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

/// `beat`: the walkers' counters, on the one changer that prints progress.
fn changer_loop(
    cfg: &RunConfig,
    arenas: &[Arena],
    stats: &Stats,
    cpu: usize,
    deadline: u64,
    beat: Option<&[Counters]>,
) {
    let mut rng = Rng::new(cfg.seed ^ (cpu as u64 + 1) << 32);
    let start = time::now();
    let mut next_beat = start + time::secs(HEARTBEAT_S);
    while time::now() < deadline && !STOP.load(Relaxed) {
        if let Some(counters) = beat.filter(|_| time::now() >= next_beat) {
            next_beat += time::secs(HEARTBEAT_S);
            let walks: u64 = counters.iter().map(|c| c.walks.load(Relaxed)).sum();
            crate::println!(
                "stress progress strategy={} t={}s/{}s walks={} splits={} collapses={} zaps={} sync_timeouts={} violations={}",
                cfg.strategy.name(),
                time::tb_to_us(time::now() - start) / 1_000_000,
                time::tb_to_us(deadline - start) / 1_000_000,
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
        let ch = Changer { arena: a, strategy: cfg.strategy, noflush: cfg.noflush, stats, gap: false };
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

/// One report line for a run (machine-readable `key=value` pairs).
pub fn line(cfg: &RunConfig, r: &RunResult) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "stress strategy={} verdict={} violations={} walks={} huge={} split={} bail={} retry={} hwfault={} \
         splits={} collapses={} zaps={} populates={} churns={} serializes={} skipped={} ipis={} flushes={} \
         sync_ms={} sync_timeouts={} secs={}.{:01} kinds={} foreign={} ee_window={} noflush={} mix={} flush={} cpus={}",
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
        cfg.noflush,
        if cfg.churn_only { "churn" } else { "all" },
        tlb::mode_name(tlb::mode()),
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
}

/// Builds a RunConfig from bootargs for `strategy`.
pub fn config_from_args(cfg: &Config, strategy: Strategy) -> RunConfig {
    let mut rc = RunConfig::new(strategy);
    rc.duration_tb = time::secs(cfg.u64("stress.duration_s", 2));
    rc.thps = cfg.u64("stress.thps", 16) as usize;
    rc.delay_tb = time::ns(cfg.u64("walk.delay_ns", 2000));
    rc.gap_tb = time::ns(cfg.u64("walk.gap_ns", 4000));
    rc.seed = cfg.u64("seed", 1);
    rc.foreign = cfg.u64("walk.foreign", 0) as usize;
    rc.ee_window = cfg.choice("walk.trap", "none") == "ee-window";
    rc.noflush = cfg.flag("walk.noflush");
    rc.changers = cfg.u64("stress.changers", 1) as usize;
    rc.pud = !cfg.flag("stress.nopud");
    rc.churn_only = cfg.choice("stress.mix", "all") == "churn";
    rc.max_cpus = cfg.u64("stress.cpus", 256) as usize;
    let kinds = cfg.text("walk.kinds", "");
    if !kinds.is_empty() {
        rc.kinds = kinds
            .split(',')
            .map(|k| {
                Kind::parse(k).unwrap_or_else(|| {
                    let mut valid = String::new();
                    for k in Kind::ALL {
                        let _ = write!(valid, "{} ", k.name());
                    }
                    exit::fail(format_args!(
                        "unknown walker kind `{k}` in walk.kinds; valid: {}",
                        valid.trim_end()
                    ))
                })
            })
            .collect();
    }
    rc
}

/// Strategies named by `walk.strategy=` (comma separated), or `default`.
pub fn strategies_from_args(cfg: &Config, default: &[Strategy]) -> Vec<Strategy> {
    let s = cfg.text("walk.strategy", "");
    if s.is_empty() {
        return default.to_vec();
    }
    s.split(',')
        .flat_map(|name| match name {
            "all" => Strategy::ALL.to_vec(),
            "correct" => Strategy::CORRECT.to_vec(),
            "controls" => Strategy::NEGATIVE.to_vec(),
            _ => alloc::vec![
                Strategy::parse(name).unwrap_or_else(|e| exit::fail(format_args!("walk.strategy: {e}")))
            ],
        })
        .collect()
}

fn check_cpus() {
    if smp::online_mask().count() < 2 {
        exit::fail(format_args!("the stress needs at least 2 CPUs (one changer, one walker); got 1"));
    }
}

/// Runs the strategies and prints the table; returns whether all were ok.
pub fn run_table(cfg: &Config, strategies: &[Strategy]) -> bool {
    check_cpus();
    let mut all_ok = true;
    crate::println!(
        "stress: {} cpus, flush={}, {} s per strategy, seed {}, weakmem={}",
        smp::online_mask().count(),
        tlb::mode_name(tlb::mode()),
        cfg.u64("stress.duration_s", 2),
        cfg.u64("seed", 1),
        if super::REGISTRY.store_delay_emulation() { "emulate" } else { "off" }
    );
    let mut rows: Vec<(Strategy, RunResult)> = Vec::new();
    for &st in strategies {
        let mut rc = config_from_args(cfg, st);
        rc.stop_on_violation = rc.expect_caught();
        let r = run(&rc);
        print(&rc, &r);
        all_ok &= r.ok();
        rows.push((st, r));
    }
    summary_table(&rows);
    all_ok
}

/// The human-readable table after the per-run lines.
fn summary_table(rows: &[(Strategy, RunResult)]) {
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

/// `run=stress stress.mix=lockstep`: lock-step races (see `race`).
fn run_lockstep_table(cfg: &Config, strategies: &[Strategy]) -> bool {
    check_cpus();
    let kinds = config_from_args(cfg, Strategy::Ipi).kinds;
    let kind = kinds.iter().copied().find(|k| k.is_software()).unwrap_or(Kind::FindPte);
    let mut ok = true;
    for &st in strategies {
        let expect = st.is_negative_control();
        let r = super::race::lockstep(
            st,
            kind,
            u64::MAX,
            time::secs(cfg.u64("stress.duration_s", 10)),
            time::ns(cfg.u64("walk.delay_ns", 20_000)),
            expect,
        );
        let verdict = match (expect, r.violations > 0) {
            (false, false) => "PASS",
            (false, true) => "FAIL",
            (true, true) => "CAUGHT",
            (true, false) => "MISSED",
        };
        ok &= matches!(verdict, "PASS" | "CAUGHT");
        let first = r
            .first_violation_us
            .map_or(alloc::string::String::from("-"), |us| alloc::format!("{}.{:03}", us / 1000, us % 1000));
        crate::println!(
            "lockstep strategy={} verdict={verdict} violations={} iterations={} skipped={} ipis={} first_violation_ms={first} secs={}.{:01} walker={}",
            st.name(),
            r.violations,
            r.iterations,
            r.skipped,
            r.ipis,
            r.elapsed_us / 1_000_000,
            (r.elapsed_us / 100_000) % 10,
            kind.name()
        );
        for v in detect::records().take(2) {
            crate::println!("  {v}");
        }
    }
    ok
}

/// `run=stress`: the strategies from `walk.strategy` (default: the correct ones).
pub fn run_cli(cfg: &Config) -> ! {
    if cfg.choice("stress.mix", "all") == "lockstep" {
        let strategies = strategies_from_args(cfg, &Strategy::ALL);
        if run_lockstep_table(cfg, &strategies) {
            exit::success()
        }
        exit::fail(format_args!("lockstep: a strategy failed its verdict (see above)"));
    }
    let strategies = strategies_from_args(cfg, &Strategy::CORRECT);
    if run_table(cfg, &strategies) {
        exit::success()
    } else {
        exit::fail(format_args!("stress: a strategy failed its verdict (see the table above)"))
    }
}

/// The default main job: a short stress of every correct strategy.
pub fn run_main_job(cfg: &Config) -> ! {
    run_cli(cfg)
}
