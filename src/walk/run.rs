//! The types of a stress run: its settings ([`RunConfig`], built from the
//! boot configuration or by a test), what it did ([`RunResult`]) and the
//! [`Verdict`] shared with the lock-step race.

use alloc::string::String;
use alloc::vec::Vec;

use walkproto::Strategy;

use super::walkers::{Kind, DEFAULT_KINDS};
use crate::sys::config::{Config, FlushBug, StressMix, WalkBug, WalkTrap};
use crate::sys::time;

/// The verdict of a run: a run that must be clean is PASS with no
/// violation, else FAIL; a run that must be caught (a negative control) is
/// CAUGHT on its first violation, else MISSED — a failure, because a
/// detector that never fires proves nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Caught,
    Missed,
}

impl Verdict {
    /// The verdict of a run with `violations` that should (not) be caught.
    pub fn of(expect_caught: bool, violations: u64) -> Verdict {
        match (expect_caught, violations > 0) {
            (false, false) => Verdict::Pass,
            (false, true) => Verdict::Fail,
            (true, true) => Verdict::Caught,
            (true, false) => Verdict::Missed,
        }
    }

    /// True for PASS and CAUGHT.
    pub fn ok(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Caught)
    }

    /// As printed in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Caught => "CAUGHT",
            Verdict::Missed => "MISSED",
        }
    }
}

impl core::fmt::Display for Verdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.name())
    }
}

/// One stress run's settings.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub strategy: Strategy,
    pub kinds: Vec<Kind>,
    /// The run lasts at least this long (the CLI's `stress.duration_s`)...
    pub duration_tb: u64,
    /// ...and until the changers did `min_ops` operations and every walker
    /// kind walked `min_walks` times (the tests' pass bars are events, not
    /// time; for a must-be-caught run they are its budget: used up without
    /// a catch, it is MISSED)...
    pub min_ops: u64,
    pub min_walks: u64,
    /// ...but no longer than this: a run that reaches the cap without its
    /// events fails with "host too slow", not with a protocol verdict.
    pub cap_tb: u64,
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
    /// How long a collapse copies its folio (the window of the
    /// gup-versus-collapse race).
    pub copy_tb: u64,
    /// A deliberate changer/walker bug (a detector control).
    pub bug: WalkBug,
    /// A deliberate flush bug (a POWER9-model control).
    pub flush_bug: FlushBug,
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
            kinds: DEFAULT_KINDS.to_vec(),
            duration_tb: time::secs(2),
            min_ops: 0,
            min_walks: 0,
            cap_tb: time::secs(2),
            thps: 16,
            pud: true,
            delay_tb: time::ns(2000),
            gap_tb: time::ns(4000),
            seed: 1,
            foreign: 0,
            ee_window: false,
            copy_tb: super::changers::COPY_TB,
            bug: WalkBug::None,
            flush_bug: FlushBug::None,
            changers: 1,
            stop_on_violation: false,
            stop_on: None,
            churn_only: false,
            expect: None,
            max_cpus: usize::MAX,
        }
    }

    /// A run of `strategy` as the boot configuration describes it
    /// (`walk.*`, `stress.*`, `seed`).
    pub fn from_config(cfg: &Config, strategy: Strategy) -> Self {
        let mut rc = RunConfig::new(strategy);
        rc.duration_tb = time::secs(cfg.stress.duration_s);
        rc.cap_tb = rc.duration_tb;
        rc.thps = cfg.stress.thps;
        rc.delay_tb = time::ns(cfg.walk.delay_ns);
        rc.gap_tb = time::ns(cfg.walk.gap_ns);
        rc.seed = cfg.run.seed;
        rc.foreign = cfg.walk.foreign;
        rc.ee_window = cfg.walk.trap == WalkTrap::EeWindow;
        rc.bug = cfg.walk.bug;
        rc.flush_bug = cfg.mmu.flush_bug;
        rc.changers = cfg.stress.changers;
        rc.pud = cfg.stress.pud;
        rc.churn_only = cfg.stress.mix == StressMix::Churn;
        rc.max_cpus = cfg.stress.cpus.unwrap_or(usize::MAX);
        rc.kinds = cfg.walk.kinds.iter().collect();
        rc
    }

    /// A run that stops as soon as it has `min_ops` changer operations and
    /// `min_walks` walks of every kind, within a generous `cap_tb`.
    pub fn events(mut self, min_ops: u64, min_walks: u64, cap_tb: u64) -> Self {
        self.duration_tb = 0;
        self.min_ops = min_ops;
        self.min_walks = min_walks;
        self.cap_tb = cap_tb;
        self
    }

    /// Whether the detector must catch this run.
    pub fn expect_caught(&self) -> bool {
        if let Some(e) = self.expect {
            return e;
        }
        self.strategy.is_negative_control()
            || self.bug != WalkBug::None
            || self.flush_bug != FlushBug::None
            || self.kinds.contains(&Kind::GupNoRef)
            || (self.foreign > 0 && !self.strategy.covers_foreign_walkers())
            || (self.ee_window && self.strategy.walker_needs_irqs_off())
    }

    /// The walker kinds, comma separated.
    pub fn kinds_str(&self) -> String {
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
    pub kind_walks: [u64; Kind::ALL.len()],
    /// Timebase at the start of the run.
    pub start_tb: u64,
    /// Changer operations (life-cycle steps and table churn).
    pub ops: u64,
    /// The run ended at its cap before it had the events it needed (a
    /// clean run), or before it caught anything (a control): the host was
    /// too slow for the run's budget, which is not a protocol verdict.
    pub cap_reached: bool,
    /// Collapses given up because a pin held the old folio.
    pub collapse_aborts: u64,
    /// Hardware walks whose slot history was overwritten (not checked).
    pub hw_unverified: u64,
}

impl RunResult {
    /// The run's verdict.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.expect_caught, self.violations)
    }

    /// True for PASS and CAUGHT.
    pub fn ok(&self) -> bool {
        self.verdict().ok()
    }
}

