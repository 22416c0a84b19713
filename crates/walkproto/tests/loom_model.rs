//! Loom model of the walker/changer protocol, run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p walkproto --release
//! ```
//!
//! The model runs the crate's real `Registry` code (its atomics are loom's
//! under `--cfg loom`) on a fake machine:
//!
//! * CPU 0 is the changer: it initializes a new table, publishes it in the
//!   PMD (release: the MP shape), then calls `free_table_when_safe` (or
//!   `serialize` + free) for the old table; "free" poisons it.
//! * CPU 1 (and 2) are walkers: EE off if the strategy needs it,
//!   `begin_walk`, read the PMD, read the table it points to, end the walk,
//!   EE on. A walker that read a poisoned table is a **violation**; one that
//!   read an uninitialized new table is a publication violation.
//! * IPIs: each CPU has one state word {EE, pending IPIs, acks} updated
//!   only by read-modify-writes. Sending sets an IPI pending, or, if the
//!   target has EE=1 at that moment, delivers (acks) it at once; a target
//!   delivers its pending IPIs when it re-enables EE. The ack is a release
//!   (Linux `csd_unlock`), the sender's wait an acquire (`csd_lock_wait`),
//!   and the send a release (`sync; msgsnd`) that the target acquires when
//!   it next changes EE (the interrupt was taken before that point).
//!
//! Violations are counted (not panicked on) in counters outside loom, and
//! every test asserts on the counts after loom has explored all executions
//! within the bound: correct strategies must show none, negative controls
//! must show some. Every correct-strategy test also checks that the walker
//! was seen reading both the old and the new table, so the race is real.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as Counter, Ordering as CounterOrdering};
use std::sync::Arc as StdArc;
use std::time::Instant;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use walkproto::{CpuMask, FreeOutcome, IpiStats, IpiTimeout, MmSync, Platform, Registry, Strategy};

/// Preemption bound of the 3-CPU models of correct strategies. The 2-CPU
/// models are explored without a bound (exhaustively). `LOOM_BOUND=n`
/// overrides every bound, for experiments; see the crate README.
const THREE_CPU_PREEMPTION_BOUND: usize = 4;

/// Bound for the 3-CPU negative control: a smaller bound that still finds
/// the counterexample is the stronger statement (and 4 takes ~50 s).
const THREE_CPU_CONTROL_BOUND: usize = 3;

fn preemption_bound(default: Option<usize>) -> Option<usize> {
    match std::env::var("LOOM_BOUND") {
        Ok(v) => v.parse().ok(),
        Err(_) => default,
    }
}

/// Table indices and contents.
const OLD: usize = 0;
const NEW: usize = 1;
const UNINIT: usize = 0;
const VALID: usize = 1;
const POISON: usize = 2;

/// IPI state word: bit 0 = EE, bits 1..32 = pending IPIs, bits 32.. = acks.
const EE: usize = 1;
const PENDING_ONE: usize = 1 << 1;
const PENDING_MASK: usize = 0x7fff_ffff << 1;
const ACK_SHIFT: u32 = 32;

fn pending(word: usize) -> usize {
    (word & PENDING_MASK) >> 1
}

fn acks(word: usize) -> usize {
    word >> ACK_SHIFT
}

/// The modelled machine and memory for `C` CPUs.
struct World<const C: usize> {
    reg: Registry<C, 1>,
    mm: MmSync,
    pmd: AtomicUsize,
    tables: [AtomicUsize; 2],
    /// Access trackers for the two tables: with `detect_races`, loom panics
    /// ("causality violation") if a walker's read of a table is not
    /// ordered before its free, even when no stale value could be shown.
    cells: [UnsafeCell<()>; 2],
    detect_races: bool,
    cpu_state: [AtomicUsize; C],
}

impl<const C: usize> World<C> {
    fn new(detect_races: bool) -> Self {
        World {
            reg: Registry::new(),
            mm: MmSync::new(1),
            pmd: AtomicUsize::new(OLD),
            tables: [AtomicUsize::new(VALID), AtomicUsize::new(UNINIT)],
            cells: [UnsafeCell::new(()), UnsafeCell::new(())],
            detect_races,
            cpu_state: std::array::from_fn(|_| AtomicUsize::new(EE)),
        }
    }

    /// `wrteei 0`: acquire, so an IPI delivered before this point (while EE
    /// was 1) orders the sender's earlier stores before the walk.
    fn ee_disable(&self, cpu: usize) {
        self.cpu_state[cpu].fetch_and(!EE, Ordering::Acquire);
    }

    /// `wrteei 1`: take every pending IPI; the ack is a release so the walk's
    /// reads are complete before the sender can see it.
    fn ee_enable(&self, cpu: usize) {
        let enable = |w: usize| Some(((acks(w) + pending(w)) << ACK_SHIFT) | EE);
        let _ = self.cpu_state[cpu].fetch_update(Ordering::AcqRel, Ordering::Acquire, enable);
    }

    /// `sync; msgsnd`: returns the ack count that means "this IPI was taken".
    fn send_ipi(&self, cpu: usize) -> usize {
        let send = |w: usize| Some(if w & EE != 0 { w + (1 << ACK_SHIFT) } else { w + PENDING_ONE });
        let old =
            self.cpu_state[cpu].fetch_update(Ordering::AcqRel, Ordering::Acquire, send).unwrap_or_else(|w| w);
        acks(old) + pending(old) + 1
    }

    /// Writes a table's contents (initialize or poison).
    fn write_table(&self, table: usize, content: usize) {
        if self.detect_races {
            self.cells[table].with_mut(|_| ());
        }
        self.tables[table].store(content, Ordering::Relaxed);
    }

    /// Reads a table's contents.
    fn read_table(&self, table: usize) -> usize {
        if self.detect_races {
            self.cells[table].with(|_| ());
        }
        self.tables[table].load(Ordering::Relaxed)
    }

    /// Frees (poisons) a table.
    fn poison(&self, table: u64) {
        self.write_table(table as usize, POISON);
    }
}

/// The fake platform one model CPU sees.
struct ModelPlatform<const C: usize> {
    world: Arc<World<C>>,
    cpu: usize,
}

impl<const C: usize> Platform for ModelPlatform<C> {
    fn this_cpu(&self) -> usize {
        self.cpu
    }

    fn online_cpus(&self) -> CpuMask {
        CpuMask::first(C)
    }

    fn ipi_and_wait(&self, targets: CpuMask, wait: bool) -> Result<IpiStats, IpiTimeout> {
        let mut expected = [0; C];
        for cpu in targets {
            assert_ne!(cpu, self.cpu, "registry IPIed its own CPU");
            expected[cpu] = self.world.send_ipi(cpu);
        }
        let mut spins = 0;
        for cpu in targets.iter().filter(|_| wait) {
            while acks(self.world.cpu_state[cpu].load(Ordering::Acquire)) < expected[cpu] {
                thread::yield_now();
                spins += 1;
            }
        }
        Ok(IpiStats { sent: targets.count() as u32, spins })
    }

    fn relax(&self) {
        thread::yield_now();
    }

    fn now(&self) -> u64 {
        0
    }

    fn timeout_ticks(&self) -> u64 {
        u64::MAX
    }
}

/// How the changer gets rid of the old table.
#[derive(Clone, Copy, Debug)]
enum FreePath {
    /// `free_table_when_safe`, then `reclaim` until nothing is pending.
    WhenSafe,
    /// `serialize`, then poison directly.
    Serialize,
}

/// One model configuration.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    strategy: Strategy,
    /// Walkers run on CPUs `1..=walkers`.
    walkers: usize,
    /// Whether the walker CPUs are in `mm_cpumask` (false = foreign walker).
    walkers_in_mm_cpumask: bool,
    path: FreePath,
    /// Also let loom flag unordered read/free pairs (correct strategies).
    detect_races: bool,
}

impl Scenario {
    fn new(strategy: Strategy) -> Scenario {
        Scenario {
            strategy,
            walkers: 1,
            walkers_in_mm_cpumask: true,
            path: FreePath::WhenSafe,
            detect_races: false,
        }
    }

    fn foreign(self) -> Scenario {
        Scenario { walkers_in_mm_cpumask: false, ..self }
    }

    fn walkers(self, walkers: usize) -> Scenario {
        Scenario { walkers, ..self }
    }

    fn path(self, path: FreePath) -> Scenario {
        Scenario { path, ..self }
    }

    fn mm_cpumask(&self) -> CpuMask {
        let walkers = if self.walkers_in_mm_cpumask { self.walkers + 1 } else { 1 };
        CpuMask::first(walkers)
    }
}

/// What the walkers saw over all explored executions.
#[derive(Debug, Default)]
struct Tally {
    executions: Counter,
    old_valid: Counter,
    new_valid: Counter,
    freed_reads: Counter,
    uninit_reads: Counter,
    /// Executions where the changer waited (IPI, spin, deferred free).
    changer_waited: Counter,
    /// Executions where the changer found nothing to wait for.
    changer_skipped: Counter,
}

#[derive(Clone, Copy, Debug)]
struct Outcome {
    executions: usize,
    old_valid: usize,
    new_valid: usize,
    freed_reads: usize,
    uninit_reads: usize,
    changer_waited: usize,
    changer_skipped: usize,
}

impl Tally {
    fn record(&self, table: usize, content: usize) {
        let counter = match (table, content) {
            (_, POISON) => &self.freed_reads,
            (_, UNINIT) => &self.uninit_reads,
            (OLD, _) => &self.old_valid,
            _ => &self.new_valid,
        };
        counter.fetch_add(1, CounterOrdering::Relaxed);
    }

    fn record_changer(&self, waited: bool) {
        let counter = if waited { &self.changer_waited } else { &self.changer_skipped };
        counter.fetch_add(1, CounterOrdering::Relaxed);
    }

    fn outcome(&self) -> Outcome {
        let get = |c: &Counter| c.load(CounterOrdering::Relaxed);
        Outcome {
            executions: get(&self.executions),
            old_valid: get(&self.old_valid),
            new_valid: get(&self.new_valid),
            freed_reads: get(&self.freed_reads),
            uninit_reads: get(&self.uninit_reads),
            changer_waited: get(&self.changer_waited),
            changer_skipped: get(&self.changer_skipped),
        }
    }
}

/// One walker CPU's walk.
fn walk<const C: usize>(world: &World<C>, strategy: Strategy, cpu: usize, tally: &Tally) {
    let irqs_off = strategy.walker_needs_irqs_off();
    if irqs_off {
        world.ee_disable(cpu);
    }
    let guard = world.reg.begin_walk(strategy, &world.mm, cpu);
    let table = world.pmd.load(Ordering::Acquire);
    let content = world.read_table(table);
    drop(guard);
    if irqs_off {
        world.ee_enable(cpu);
    }
    tally.record(table, content);
}

/// The changer on CPU 0: publish the new table, then free the old one.
fn change<const C: usize>(world: &Arc<World<C>>, scn: Scenario, tally: &Tally) {
    world.write_table(NEW, VALID);
    world.pmd.store(NEW, Ordering::Release);
    let platform = ModelPlatform { world: world.clone(), cpu: 0 };
    let (reg, mm, mask) = (&world.reg, &world.mm, scn.mm_cpumask());
    let waited = match scn.path {
        FreePath::Serialize => {
            let stats = reg.serialize(scn.strategy, mm, mask, &platform).expect("no timeout in the model");
            world.poison(OLD as u64);
            stats.ipis > 0 || stats.spins > 0
        }
        FreePath::WhenSafe => {
            let outcome = reg
                .free_table_when_safe(scn.strategy, mm, mask, &platform, OLD as u64, |t| world.poison(t))
                .expect("no timeout in the model");
            let waited = match outcome {
                FreeOutcome::Freed(s) | FreeOutcome::FreedAfterGracePeriod(s) => s.ipis > 0 || s.spins > 0,
                // Waited if the grace period could not complete at once.
                FreeOutcome::Deferred { cookie } => reg.gp_sequence() < cookie,
            };
            while reg.pending_deferred() > 0 {
                reg.reclaim(&platform, |t| world.poison(t));
                thread::yield_now();
            }
            waited
        }
    };
    tally.record_changer(waited);
}

/// Explores every execution of `scn` within the bound on `C` CPUs.
fn explore<const C: usize>(scn: Scenario, bound: Option<usize>) -> Outcome {
    assert!(scn.walkers < C);
    let tally = StdArc::new(Tally::default());
    let model_tally = tally.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemption_bound(bound);
    let start = Instant::now();
    builder.check(move || {
        model_tally.executions.fetch_add(1, CounterOrdering::Relaxed);
        let world = Arc::new(World::<C>::new(scn.detect_races));
        let walkers: Vec<_> = (1..=scn.walkers)
            .map(|cpu| {
                let (world, tally) = (world.clone(), model_tally.clone());
                thread::spawn(move || walk(&world, scn.strategy, cpu, &tally))
            })
            .collect();
        change(&world, scn, &model_tally);
        for w in walkers {
            w.join().unwrap();
        }
    });
    let outcome = tally.outcome();
    let bound = builder.preemption_bound;
    println!("{scn:?} on {C} CPUs, preemption bound {bound:?}: {outcome:?} in {:.1?}", start.elapsed());
    outcome
}

/// A correct strategy: loom's race detector is on (an unordered read/free
/// pair panics), no walker read a freed or unpublished table, and the race
/// was real (the walker was seen reading both the old and the new table).
fn check_safe<const C: usize>(scn: Scenario, bound: Option<usize>) -> Outcome {
    let out = explore::<C>(Scenario { detect_races: true, ..scn }, bound);
    assert!(out.executions > 1, "{out:?}");
    assert_eq!(out.freed_reads, 0, "walker read a freed table: {out:?}");
    assert_eq!(out.uninit_reads, 0, "walker read an unpublished table: {out:?}");
    assert!(out.old_valid > 0 && out.new_valid > 0, "race not exercised: {out:?}");
    out
}

/// [`check_safe`] for a strategy whose changer decides at run time whether
/// to wait: loom must have explored both decisions.
fn check_safe_both_ways<const C: usize>(scn: Scenario, bound: Option<usize>) {
    let out = check_safe::<C>(scn, bound);
    assert!(out.changer_waited > 0 && out.changer_skipped > 0, "one branch unexplored: {out:?}");
}

/// A broken configuration: loom must have found a walker reading a freed
/// table (race detector off, so that exploration runs to the end and
/// counts the violations instead of stopping at the first).
fn check_caught<const C: usize>(scn: Scenario, bound: Option<usize>) {
    let out = explore::<C>(Scenario { detect_races: false, ..scn }, bound);
    assert!(out.freed_reads > 0, "loom did not find the counterexample: {out:?}");
    assert_eq!(out.uninit_reads, 0, "publication is not what is under test: {out:?}");
}

fn safe2(scn: Scenario) -> Outcome {
    check_safe::<2>(scn, None)
}

fn safe2_both_ways(scn: Scenario) {
    check_safe_both_ways::<2>(scn, None)
}

fn caught2(scn: Scenario) {
    check_caught::<2>(scn, None)
}

// ---- correct strategies, walker in mm_cpumask, 2 CPUs ----

#[test]
fn ipi_is_safe() {
    let out = safe2(Scenario::new(Strategy::Ipi));
    assert_eq!(out.changer_skipped, 0, "ipi always IPIs a walker in mm_cpumask");
}

#[test]
fn count_is_safe() {
    safe2_both_ways(Scenario::new(Strategy::Count));
}

/// The seed's exact counter: one atomic per mm, `atomic_inc` + `sync`.
#[test]
fn count_atomic_is_safe() {
    safe2_both_ways(Scenario::new(Strategy::CountAtomic));
}

#[test]
fn count_wait_is_safe() {
    safe2_both_ways(Scenario::new(Strategy::CountWait));
}

#[test]
fn percpu_is_safe() {
    safe2_both_ways(Scenario::new(Strategy::PerCpu));
}

#[test]
fn rcu_deferred_free_is_safe() {
    safe2_both_ways(Scenario::new(Strategy::Rcu));
}

#[test]
fn rcu_synchronous_grace_period_is_safe() {
    safe2_both_ways(Scenario::new(Strategy::Rcu).path(FreePath::Serialize));
}

// ---- negative controls: the test passes only because loom finds the bug ----

#[test]
fn none_is_caught() {
    caught2(Scenario::new(Strategy::None));
}

/// `count` with `lwsync` instead of `sync`: same code path, only the
/// `Barrier` differs, so this is also the proof that `count` depends on
/// its `sync`.
#[test]
fn count_lwsync_is_caught() {
    caught2(Scenario::new(Strategy::CountLwsync));
}

#[test]
fn count_nobarrier_is_caught() {
    caught2(Scenario::new(Strategy::CountNoBarrier));
}

#[test]
fn ipi_nowait_is_caught() {
    caught2(Scenario::new(Strategy::IpiNoWait));
}

/// The race detector itself: with it on, `none` must make loom stop with a
/// causality violation, so a silent `check_safe` means something.
#[test]
fn race_detector_fires_on_none() {
    let scn = Scenario { detect_races: true, ..Scenario::new(Strategy::None) };
    let panic = std::panic::catch_unwind(|| explore::<2>(scn, None))
        .expect_err("loom did not report the unordered read/free pair");
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(message.contains("Causality violation"), "unexpected panic: {message}");
}

// ---- foreign walker: walker CPU not in mm_cpumask ----

#[test]
fn foreign_walker_is_missed_by_ipi() {
    caught2(Scenario::new(Strategy::Ipi).foreign());
}

#[test]
fn foreign_walker_is_missed_by_count() {
    caught2(Scenario::new(Strategy::Count).foreign());
}

#[test]
fn foreign_walker_is_missed_by_count_atomic() {
    caught2(Scenario::new(Strategy::CountAtomic).foreign());
}

#[test]
fn foreign_walker_is_covered_by_count_wait() {
    safe2(Scenario::new(Strategy::CountWait).foreign());
}

#[test]
fn foreign_walker_is_covered_by_percpu() {
    safe2(Scenario::new(Strategy::PerCpu).foreign());
}

#[test]
fn foreign_walker_is_covered_by_rcu() {
    safe2(Scenario::new(Strategy::Rcu).foreign());
}

// ---- three CPUs: two walkers and a changer ----

/// 2 walkers (CPUs 1, 2) and the changer (CPU 0), bounded.
fn three_cpus(strategy: Strategy) -> Scenario {
    Scenario::new(strategy).walkers(2)
}

#[test]
fn three_cpus_ipi_is_safe() {
    check_safe::<3>(three_cpus(Strategy::Ipi), Some(THREE_CPU_PREEMPTION_BOUND));
}

#[test]
fn three_cpus_count_is_safe() {
    check_safe_both_ways::<3>(three_cpus(Strategy::Count), Some(THREE_CPU_PREEMPTION_BOUND));
}

/// Two walkers increment the same atomic: the changer must see either.
#[test]
fn three_cpus_count_atomic_is_safe() {
    check_safe_both_ways::<3>(three_cpus(Strategy::CountAtomic), Some(THREE_CPU_PREEMPTION_BOUND));
}

#[test]
fn three_cpus_count_wait_is_safe() {
    check_safe_both_ways::<3>(three_cpus(Strategy::CountWait), Some(THREE_CPU_PREEMPTION_BOUND));
}

#[test]
fn three_cpus_percpu_is_safe() {
    check_safe_both_ways::<3>(three_cpus(Strategy::PerCpu), Some(THREE_CPU_PREEMPTION_BOUND));
}

#[test]
fn three_cpus_rcu_is_safe() {
    check_safe_both_ways::<3>(three_cpus(Strategy::Rcu), Some(THREE_CPU_PREEMPTION_BOUND));
}

#[test]
fn three_cpus_count_lwsync_is_caught() {
    check_caught::<3>(three_cpus(Strategy::CountLwsync), Some(THREE_CPU_CONTROL_BOUND));
}
