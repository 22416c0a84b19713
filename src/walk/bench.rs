//! The benchmark: what each serialization strategy costs and what it
//! *does* (IPIs, barriers, shared-line atomics, TLB flush instructions),
//! against the number of CPUs in `mm_cpumask` and what those CPUs are
//! doing, in one boot so that every ratio compares numbers of the same run.
//!
//! Parts (`bench.parts`, all by default):
//!
//! * **walker**: the walker side alone. One CPU walks (gup-like, no delay)
//!   in batches of [`BATCH`] walks per timebase read; each of
//!   `bench.rounds` rounds runs every strategy and `none` once for a slice,
//!   in an order rotated each round, so slow drift of the host cancels in
//!   the per-round ratio strategy / none.
//! * **contention**: the same with 2, 4, 8, 16 CPUs walking one mm at once
//!   (the v4 counter's cost is the cache line they all write), for a quarter
//!   of `bench.rounds`.
//! * **mmu**: map + unmap + flush of a 64 KB page per second.
//! * **matrix**: strategies × CPUs in `mm_cpumask` (`bench.cpus`) × load
//!   (`bench.loads`) × `bench.reps` repetitions, the strategy order rotated
//!   each repetition. Loads:
//!   * idle    — the other CPUs ran the mm once (they are in `mm_cpumask`)
//!               and sleep in `stop` (entered with EE=0, so no wake-up is
//!               lost; the doorbell ends the `stop`, and is taken once the
//!               idle loop sets EE=1 again): an IPI must wake them;
//!   * walkers — they run lockless walkers on the mm (with think time);
//!   * busy    — they spin in thread context with EE=1, touching no tables.
//!
//!   Per cell four operations are timed and their events counted:
//!   [`OPS`] THP splits, [`OPS`] collapses, a munmap of `bench.thps` THPs
//!   (per-THP serialize, one batched TLB flush), and [`OPS`] page-table
//!   frees (`free_pgtables`). Events: doorbells sent and taken, the
//!   registry's changer events (`walkproto::ChangerEvents`: full fences,
//!   shared-line RMWs, remote loads, acknowledgements and spins waited,
//!   walkers seen), `tlbie`/`tlbiel` instructions by RIC and IS, and the
//!   walks the other CPUs made meanwhile (times
//!   `Strategy::walker_events` = the walker side's fences and RMWs).
//!
//! Output: `BENCH {json}` lines; `tools/benchplot` merges runs and computes
//! the statistics (medians, bootstrap intervals, ratios of paired reps).
//!
//! Absolute QEMU times say nothing about POWER9: TCG emulates every
//! instruction and oversubscribed vCPUs wait for host cores. Ratios inside
//! one run carry QEMU's costs too (a global `tlbie` stops every vCPU; a
//! doorbell to a descheduled vCPU waits for the host scheduler). The event
//! counts do not depend on the host.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};

use kconfig::{BenchLoad as Load, BenchPart};
use walkproto::{ChangerEvents, CpuMask, Strategy};

use super::arena::{Arena, HUGE, SPLIT};
use super::changers::{Changer, Stats};
use super::rng::Rng;
use super::walkers::{self, Counters, Kind, Walk};
use super::REGISTRY;
use crate::arch;
use crate::mm::space::{self, Mm};
use crate::mm::tlb;
use crate::sys::config::Config;
use crate::sys::{exit, percpu, smp, time, watchdog};

/// The strategies measured (the correct ones).
const STRATEGIES: [Strategy; 6] = Strategy::CORRECT;
/// What the walker-cost parts compare: no registration, then each strategy.
const WALKER_SET: [Strategy; 7] = [
    Strategy::None,
    STRATEGIES[0],
    STRATEGIES[1],
    STRATEGIES[2],
    STRATEGIES[3],
    STRATEGIES[4],
    STRATEGIES[5],
];
/// Walks per timebase read in the walker-cost parts.
const BATCH: u64 = 64;
/// THP slots the walker-cost parts walk (many, so that concurrent walkers
/// rarely take references on the same folio).
const WALKER_SLOTS: usize = 64;
/// Splits, collapses and page-table frees per matrix cell (the arena has
/// this many spare folios for the collapses).
pub const OPS: usize = 4;
/// Concurrent walker counts of the contention part.
const CONTENTION: [usize; 5] = [1, 2, 4, 8, 16];

static STOP: AtomicBool = AtomicBool::new(false);
static READY: AtomicU64 = AtomicU64::new(0);

/// One CPU's counters in a cache line of its own.
#[repr(align(128))]
struct Padded<T>(T);

// ---------------------------------------------------------------------------
// JSON output.

/// A `BENCH {...}` line under construction.
struct Line(String);

impl Line {
    fn new(kind: &str) -> Line {
        Line(alloc::format!("\"kind\":\"{kind}\""))
    }

    fn num(mut self, key: &str, v: impl core::fmt::Display) -> Line {
        let _ = write!(self.0, ",\"{key}\":{v}");
        self
    }

    fn text(mut self, key: &str, v: &str) -> Line {
        let _ = write!(self.0, ",\"{key}\":\"");
        for c in v.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }

    fn raw(mut self, key: &str, json: &str) -> Line {
        let _ = write!(self.0, ",\"{key}\":{json}");
        self
    }

    fn print(self) {
        crate::println!("BENCH {{{}}}", self.0);
    }
}

fn json_list<T>(items: impl IntoIterator<Item = T>, f: impl FnMut(T) -> String) -> String {
    let v: Vec<String> = items.into_iter().map(f).collect();
    alloc::format!("[{}]", v.join(","))
}

// ---------------------------------------------------------------------------
// Event snapshots.

/// Counters read before and after an operation, and (in [`OpRecord`])
/// their differences summed over the operation's runs.
#[derive(Clone, Copy, Default)]
struct Snap {
    ipis: u64,
    irqs: u64,
    ev: ChangerEvents,
    tlbie: [[u64; 4]; 3],
    tlbiel: [[u64; 4]; 3],
    walks: u64,
    sync_tb: u64,
}

fn tlb_counts(insns: &[[AtomicU64; 4]; 3]) -> [[u64; 4]; 3] {
    core::array::from_fn(|r| core::array::from_fn(|i| insns[r][i].load(Relaxed)))
}

/// Everything an operation may change, for `others` (the other CPUs of
/// the cell) and `counters` (their walks).
fn snap(others: CpuMask, counters: &[Padded<Counters>], stats: &Stats) -> Snap {
    Snap {
        ipis: smp::IPIS_SENT.load(Relaxed),
        irqs: others.iter().map(|c| percpu::get(c).doorbells.load(Relaxed)).sum(),
        ev: REGISTRY.changer_events_on(percpu::cpu_id()),
        tlbie: tlb_counts(&tlb::TLBIE_INSNS),
        tlbiel: tlb_counts(&tlb::TLBIEL_INSNS),
        walks: others.iter().map(|c| counters[c].0.walks.load(Relaxed)).sum(),
        sync_tb: stats.sync_tb.load(Relaxed),
    }
}

impl Snap {
    /// Adds what changed from `a` to `b`.
    fn accumulate(&mut self, a: &Snap, b: &Snap) {
        self.sync_tb += b.sync_tb - a.sync_tb;
        self.ipis += b.ipis - a.ipis;
        self.irqs += b.irqs - a.irqs;
        self.ev = self.ev.plus(b.ev - a.ev);
        for r in 0..3 {
            for i in 0..4 {
                self.tlbie[r][i] += b.tlbie[r][i] - a.tlbie[r][i];
                self.tlbiel[r][i] += b.tlbiel[r][i] - a.tlbiel[r][i];
            }
        }
        self.walks += b.walks - a.walks;
    }
}

/// What a kind of operation did in a cell, summed over its `n` runs.
#[derive(Clone, Copy, Default)]
struct OpRecord {
    n: u64,
    /// Operations that did their work (a collapse gives up if a walker pins
    /// the folio).
    done: u64,
    tb: u64,
    /// The counters' changes, summed.
    sum: Snap,
}

impl OpRecord {
    fn add(&mut self, a: &Snap, b: &Snap, tb: u64, done: bool) {
        self.n += 1;
        self.done += u64::from(done);
        self.tb += tb;
        self.sum.accumulate(a, b);
    }

    /// The record as JSON, leaving out what is zero (the console is slow:
    /// a full run prints some hundreds of these). TLB flush instructions
    /// are keyed `"RI"` (RIC digit, IS digit).
    fn json(&self) -> String {
        let mut s = alloc::format!("{{\"n\":{},\"done\":{},\"tb\":{}", self.n, self.done, self.tb);
        let (sum, e) = (&self.sum, &self.sum.ev);
        for (k, v) in [("sync_tb", sum.sync_tb), ("ipis", sum.ipis), ("irqs", sum.irqs), ("walks", sum.walks)] {
            if v != 0 {
                let _ = write!(s, ",\"{k}\":{v}");
            }
        }
        for (k, grid) in [("tlbie", &sum.tlbie), ("tlbiel", &sum.tlbiel)] {
            let cells: Vec<String> = (0..3)
                .flat_map(|r| (0..4).map(move |i| (r, i)))
                .filter(|&(r, i)| grid[r][i] != 0)
                .map(|(r, i)| alloc::format!("\"{r}{i}\":{}", grid[r][i]))
                .collect();
            if !cells.is_empty() {
                let _ = write!(s, ",\"{k}\":{{{}}}", cells.join(","));
            }
        }
        let ev = [
            ("serializations", e.serializations),
            ("skipped", e.skipped),
            ("full_fences", e.full_fences),
            ("lwsyncs", e.lwsyncs),
            ("shared_rmws", e.shared_rmws),
            ("remote_loads", e.remote_loads),
            ("ipis", e.ipis),
            ("acks_waited", e.acks_waited),
            ("spins", e.spins),
            ("walkers_seen", e.walkers_seen),
            ("grace_periods", e.grace_periods),
        ];
        let ev: Vec<String> =
            ev.iter().filter(|(_, v)| *v != 0).map(|(k, v)| alloc::format!("\"{k}\":{v}")).collect();
        let _ = write!(s, ",\"ev\":{{{}}}}}", ev.join(","));
        s
    }
}

/// Times `op` and records its events into `rec`.
fn measure(
    rec: &mut OpRecord,
    others: CpuMask,
    counters: &[Padded<Counters>],
    stats: &Stats,
    op: impl FnOnce() -> bool,
) {
    let a = snap(others, counters, stats);
    let t0 = time::now();
    let done = op();
    let t1 = time::now();
    let b = snap(others, counters, stats);
    rec.add(&a, &b, t1 - t0, done);
}

// ---------------------------------------------------------------------------
// The matrix.

/// The CPUs a cell uses: this one plus `n - 1` others.
fn cpu_set(n: usize) -> CpuMask {
    let me = percpu::cpu_id();
    let mut m = CpuMask::new().with(me);
    for c in smp::online_mask().iter().filter(|&c| c != me).take(n - 1) {
        m.set(c);
    }
    m
}

fn per_cpu_counters() -> Vec<Padded<Counters>> {
    (0..percpu::ncpus()).map(|_| Padded(Counters::new())).collect()
}

fn helper_loop(load: Load, arena: &Arena, strategy: Strategy, counters: &Counters, cpu: usize) {
    arena.mm.switch_to();
    READY.fetch_add(1, AcqRel);
    let mut rng = Rng::new(cpu as u64 + 77);
    match load {
        // Joined the mm; go back to the idle loop (`stop` entered with EE=0;
        // a doorbell wakes it and is taken when the loop sets EE=1).
        Load::Idle => {}
        Load::Walkers => {
            while !STOP.load(Relaxed) {
                walkers::walk_once(&gup_walk(arena, strategy, &mut rng, time::ns(1000), counters));
                time::delay_tb(rng.next() % time::ns(4000));
                watchdog::progress();
            }
        }
        Load::Busy => {
            while !STOP.load(Relaxed) {
                arch::cpu_relax();
                watchdog::progress();
            }
        }
    }
    space::switch_to_kernel_only();
}

/// The benchmark's walker: a gup-like walk of a random slot and subpage,
/// holding it for `delay_tb`.
fn gup_walk<'a>(
    arena: &'a Arena,
    strategy: Strategy,
    rng: &mut Rng,
    delay_tb: u64,
    counters: &'a Counters,
) -> Walk<'a> {
    Walk {
        arena,
        strategy,
        kind: Kind::Gup,
        slot: rng.below(arena.slots.len()),
        sub: rng.below(arena.shape.subs),
        delay_tb,
        ee_window: false,
        gap: false,
        counters,
        stamps: None,
    }
}

/// The four operations of one cell.
struct CellOps {
    split: OpRecord,
    collapse: OpRecord,
    munmap: OpRecord,
    free: OpRecord,
}

fn measure_cell(strategy: Strategy, ncpus: usize, load: Load, thps: usize) -> CellOps {
    let me = percpu::cpu_id();
    let set = cpu_set(ncpus);
    let helpers = set.without(me);
    let mm = Mm::new();
    let arena = Arena::new_thp_spare(mm, thps, OPS);
    let stats = Stats::new();
    let counters = per_cpu_counters();
    STOP.store(false, Relaxed);
    READY.store(0, Relaxed);
    let mut ops = CellOps {
        split: OpRecord::default(),
        collapse: OpRecord::default(),
        munmap: OpRecord::default(),
        free: OpRecord::default(),
    };
    let helper = |cpu: usize| helper_loop(load, &arena, strategy, &counters[cpu].0, cpu);
    let timeout = time::secs(3600);
    smp::run_on_then(helpers, timeout, "bench helpers", &helper, || {
        // Wait until every helper joined the mm (and idle ones went back
        // to sleep), then measure on this CPU.
        while READY.load(Acquire) < helpers.count() as u64 {
            arch::cpu_relax();
        }
        time::delay_tb(time::ms(2));
        mm.switch_to();
        let ch = Changer::new(&arena, strategy, &stats);
        let k = OPS.min(thps);
        let m = |rec: &mut OpRecord, op: &dyn Fn() -> bool| measure(rec, helpers, &counters, &stats, op);
        // Splits, then collapses of the same slots (they use the spare
        // folios), each under its slot lock.
        for slot in &arena.slots[..k] {
            m(&mut ops.split, &|| {
                let _g = slot.lock.lock();
                slot.state.load(Acquire) == HUGE && {
                    ch.split(slot);
                    true
                }
            });
        }
        for slot in &arena.slots[..k] {
            m(&mut ops.collapse, &|| {
                let _g = slot.lock.lock();
                slot.state.load(Acquire) == SPLIT && ch.collapse(slot)
            });
            watchdog::progress();
        }
        ch.reclaim();
        // munmap of every THP still huge (a collapse that gave up leaves
        // its slot split; the munmap skips it, `done` says how many).
        m(&mut ops.munmap, &|| ch.munmap_all() == thps);
        // Page-table frees: link an empty page-table page into an empty
        // slot (not measured), unlink and free it (measured).
        for slot in arena.slots.iter().filter(|s| s.state.load(Acquire) == super::arena::EMPTY).take(k) {
            let _g = slot.lock.lock();
            ch.link_empty_table(slot);
            m(&mut ops.free, &|| {
                ch.free_empty_table(slot);
                true
            });
        }
        STOP.store(true, Release);
        space::switch_to_kernel_only();
    });
    if strategy == Strategy::Rcu {
        let ch = Changer::new(&arena, strategy, &stats);
        let d = time::Deadline::after(time::secs(10));
        while REGISTRY.pending_deferred() > 0 && !d.expired() {
            ch.reclaim();
        }
    }
    arena.teardown();
    mm.destroy();
    ops
}

fn run_matrix(cfg: &kconfig::Bench, counts: &[usize]) {
    let thps = cfg.thps();
    let loads: Vec<Load> = cfg.loads.iter().collect();
    // Warm-up, not recorded: the first cell of the matrix would otherwise pay
    // the first run of the changer paths (split, collapse, munmap, free)
    // for whichever strategy comes first.
    if let (Some(&load), Some(&n)) = (loads.first(), counts.first()) {
        for st in STRATEGIES {
            measure_cell(st, n, load, thps);
        }
    }
    for rep in 0..cfg.reps() {
        for (li, &load) in loads.iter().enumerate() {
            for (ci, &n) in counts.iter().enumerate() {
                // The order rotates by one each rep, and is offset by the
                // cell's position, so that no strategy is always first in
                // a cell even when reps < strategies.
                let offset = rep + li + ci;
                for k in 0..STRATEGIES.len() {
                    let st = STRATEGIES[(k + offset) % STRATEGIES.len()];
                    let c = measure_cell(st, n, load, thps);
                    Line::new("cell")
                        .num("rep", rep)
                        .num("order", k)
                        .text("strategy", st.name())
                        .num("cpus", n)
                        .text("load", load.name())
                        .num("thps", thps)
                        .num("munmap_tb", c.munmap.tb)
                        .num("serialize_tb", c.munmap.sum.sync_tb)
                        .raw("split", &c.split.json())
                        .raw("collapse", &c.collapse.json())
                        .raw("munmap", &c.munmap.json())
                        .raw("free", &c.free.json())
                        .print();
                    watchdog::progress();
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Walker-side cost.

/// `PHASE` value after the last round: walkers stop.
const DONE: u64 = u64::MAX;
/// The round and slot the walkers are in: `round * 8 + k + 1` (0: not yet).
static PHASE: AtomicU64 = AtomicU64::new(0);

fn phase(round: usize, k: usize) -> u64 {
    (round * 8 + k + 1) as u64
}

/// The pause at the end of round `round`: followers stop walking, so the
/// leader can collect and print the round while nobody is measured.
fn pause(round: usize) -> u64 {
    phase(round, 7)
}

/// Whether `p` is a pause (slot 7; the strategies use slots 0..=6).
fn is_pause(p: u64) -> bool {
    (p - 1) % 8 == 7
}

/// The strategy of slot `k` in round `round` (the order rotates).
fn phase_strategy(p: u64) -> (usize, usize) {
    let (round, k) = ((p - 1) / 8, (p - 1) % 8);
    (round as usize, (k as usize + round as usize) % WALKER_SET.len())
}

/// Batch durations kept per strategy slot and CPU (more are counted in
/// the sums, not in the median).
const KEEP: usize = 256;

/// One walker CPU's tallies: walks, timebase ticks and each batch's
/// duration per strategy, two rounds' worth (by round parity), and the
/// last phase it started. Only the owning CPU writes them; the leader reads
/// a round once every walker has moved on to the next.
struct Tally {
    walks: [AtomicU64; 16],
    tb: [AtomicU64; 16],
    batches: [AtomicU64; 16],
    durations: Vec<AtomicU32>,
    seen: AtomicU64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            walks: [const { AtomicU64::new(0) }; 16],
            tb: [const { AtomicU64::new(0) }; 16],
            batches: [const { AtomicU64::new(0) }; 16],
            durations: (0..16 * KEEP).map(|_| AtomicU32::new(0)).collect(),
            seen: AtomicU64::new(0),
        }
    }

    /// Adds a batch of `BATCH` walks that took `tb` ticks.
    fn add(&self, slot: usize, tb: u64) {
        let bump = |a: &AtomicU64, v: u64| a.store(a.load(Relaxed) + v, Relaxed);
        let i = self.batches[slot].load(Relaxed) as usize;
        if i < KEEP {
            self.durations[slot * KEEP + i].store(tb.min(u64::from(u32::MAX)) as u32, Relaxed);
        }
        bump(&self.batches[slot], 1);
        bump(&self.walks[slot], BATCH);
        bump(&self.tb[slot], tb);
    }

    /// Takes (and clears) a slot: walks, ticks, and the kept durations
    /// appended to `durations`.
    fn take(&self, slot: usize, durations: &mut Vec<u32>) -> (u64, u64) {
        let n = (self.batches[slot].swap(0, Relaxed) as usize).min(KEEP);
        durations.extend((0..n).map(|i| self.durations[slot * KEEP + i].load(Relaxed)));
        (self.walks[slot].swap(0, Relaxed), self.tb[slot].swap(0, Relaxed))
    }
}

/// One batch of [`BATCH`] walks with `strategy`: its duration in ticks.
fn batch(arena: &Arena, strategy: Strategy, rng: &mut Rng, counters: &Counters) -> u64 {
    let t0 = time::now();
    for _ in 0..BATCH {
        walkers::walk_once(&gup_walk(arena, strategy, rng, 0, counters));
    }
    time::now() - t0
}

/// Whether every walker of `set` has started phase `p` (or a later one):
/// a batch counts only if it began when all of them were walking the same
/// strategy, not while some still finished a batch of the previous one.
fn everyone_in(set: CpuMask, tallies: &[Padded<Tally>], p: u64) -> bool {
    set.iter().all(|c| tallies[c].0.seen.load(Acquire) >= p)
}

/// A non-leading walker: batches under whatever phase is current, counted
/// only if every walker was in that phase when it began and the phase did
/// not change during it. In a pause it only spins.
fn follower(arena: &Arena, set: CpuMask, tallies: &[Padded<Tally>], counters: &Counters, cpu: usize) {
    arena.mm.switch_to();
    let mut rng = Rng::new(cpu as u64 * 31 + 5);
    let tally = &tallies[cpu].0;
    loop {
        let p = PHASE.load(Acquire);
        tally.seen.store(p, Release);
        if p == DONE {
            break;
        }
        if p == 0 || is_pause(p) {
            arch::cpu_relax();
            watchdog::progress();
            continue;
        }
        let (round, idx) = phase_strategy(p);
        let full = everyone_in(set, tallies, p);
        let tb = batch(arena, WALKER_SET[idx], &mut rng, counters);
        if full && PHASE.load(Acquire) == p {
            tally.add((round % 2) * 8 + idx, tb);
        }
        watchdog::progress();
    }
    space::switch_to_kernel_only();
}

/// `rounds` rounds of every strategy with `n` CPUs walking one mm, each for
/// `slice` ticks per round; one `walker_round` line per round.
fn walker_cost(n: usize, rounds: usize, slice: u64, arena: &Arena) {
    let me = percpu::cpu_id();
    let set = cpu_set(n);
    let others = set.without(me);
    let tallies: Vec<Padded<Tally>> = (0..percpu::ncpus()).map(|_| Padded(Tally::new())).collect();
    let counters = per_cpu_counters();
    PHASE.store(0, Release);
    let job = |cpu: usize| follower(arena, set, &tallies, &counters[cpu].0, cpu);
    smp::run_on_then(others, time::secs(3600), "bench walkers", &job, || {
        arena.mm.switch_to();
        let mut rng = Rng::new(me as u64 * 31 + 5);
        let own = &tallies[me].0;
        // Warm-up: translate the walk code for every strategy.
        for st in WALKER_SET {
            batch(arena, st, &mut rng, &counters[me].0);
        }
        for round in 0..rounds {
            for k in 0..WALKER_SET.len() {
                let p = phase(round, k);
                own.seen.store(p, Release);
                PHASE.store(p, Release);
                let (_, idx) = phase_strategy(p);
                let start = time::now();
                while time::now() - start < slice {
                    let full = everyone_in(set, &tallies, p);
                    let tb = batch(arena, WALKER_SET[idx], &mut rng, &counters[me].0);
                    if full {
                        own.add((round % 2) * 8 + idx, tb);
                    }
                    watchdog::progress();
                }
            }
            // Pause: every follower has finished its batches of this round
            // once it has seen the pause; then nobody walks while the round
            // is collected and printed (the console is slow), so the next
            // round's first strategy is not measured with fewer walkers.
            let hold = pause(round);
            own.seen.store(hold, Release);
            PHASE.store(hold, Release);
            while !everyone_in(set, &tallies, hold) {
                arch::cpu_relax();
                watchdog::progress();
            }
            let parity = (round % 2) * 8;
            let mut durations = Vec::new();
            let fields = json_list(WALKER_SET.iter().enumerate(), |(idx, st)| {
                durations.clear();
                let (walks, tb) = set.iter().fold((0, 0), |(w, t), c| {
                    let (cw, ct) = tallies[c].0.take(parity + idx, &mut durations);
                    (w + cw, t + ct)
                });
                durations.sort_unstable();
                let median = durations.get(durations.len() / 2).copied().unwrap_or(0);
                // [strategy, walks, ticks, batches kept, median batch ticks]
                alloc::format!("[\"{}\",{walks},{tb},{},{median}]", st.name(), durations.len())
            });
            Line::new("walker_round")
                .num("walkers", n)
                .num("round", round)
                .num("slice_tb", slice)
                .num("batch", BATCH)
                .raw("s", &fields)
                .print();
        }
        PHASE.store(DONE, Release);
        space::switch_to_kernel_only();
    });
}

fn run_walker_parts(cfg: &kconfig::Bench, online: usize) {
    let mm = Mm::new();
    let arena = Arena::new_thp_spare(mm, WALKER_SLOTS, 0);
    let quick = cfg.quick;
    if cfg.runs(BenchPart::Walker) {
        let slice = if quick { time::ms(3) } else { time::ms(5) };
        walker_cost(1, cfg.rounds(), slice, &arena);
    }
    if cfg.runs(BenchPart::Contention) {
        // A quarter of the one-walker rounds, each slice twice as long: the
        // walkers share the host's cores, so each gets less of a slice.
        let rounds = (cfg.rounds() / 4).max(3);
        let slice = if quick { time::ms(4) } else { time::ms(10) };
        for n in CONTENTION.into_iter().filter(|&n| n > 1 && n <= online) {
            walker_cost(n, rounds, slice, &arena);
        }
    }
    arena.teardown();
    mm.destroy();
}

// ---------------------------------------------------------------------------
// The MMU layer.

/// map + unmap + flush of one 64 KB page, repeated for `duration`, with
/// `ncpus - 1` other CPUs in the mm's cpumask (idle): operations per second.
fn mmu_rate(mode: tlb::Mode, ncpus: usize, duration: u64) -> u64 {
    use radix::PageSize;
    let _guard = tlb::ModeGuard::set(mode);
    let me = percpu::cpu_id();
    let helpers = cpu_set(ncpus).without(me);
    let mm = Mm::new();
    let join = |_cpu: usize| {
        mm.switch_to();
        space::switch_to_kernel_only();
    };
    smp::run_on(helpers, time::secs(30), "mmu bench join", &join);
    let pa =
        crate::mm::frames::alloc_phys(1, 1).unwrap_or_else(|e| exit::fail(format_args!("mmu bench: {e}")));
    let va = super::arena::THP_BASE;
    mm.switch_to();
    let start = time::now();
    let mut n = 0u64;
    while time::now() - start < duration {
        mm.map(va, pa, PageSize::Size64K, super::arena::LEAF_FLAGS)
            .unwrap_or_else(|e| exit::fail(format_args!("mmu bench map: {e}")));
        // Touch it so that a translation is cached and the flush has work.
        let _ = crate::mm::probe::load(va);
        mm.unmap(va, PageSize::Size64K).unwrap_or_else(|e| exit::fail(format_args!("mmu bench unmap: {e}")));
        mm.flush_page(va, PageSize::Size64K);
        n += 1;
    }
    let elapsed = time::now() - start;
    space::switch_to_kernel_only();
    crate::mm::frames::free_phys(pa, 1);
    mm.destroy();
    n * time::secs(1) / elapsed.max(1)
}

fn run_mmu(quick: bool, counts: &[usize]) {
    let mdur = if quick { time::ms(200) } else { time::secs(1) };
    for mode in [tlb::Mode::Tlbie, tlb::Mode::Ipi] {
        for &n in counts.iter().filter(|&&n| n == 1 || n == 4 || n == 8) {
            let r = mmu_rate(mode, n, mdur);
            Line::new("mmu")
                .text("flush", tlb::mode_name(mode))
                .num("cpus", n)
                .num("map_unmap_flush_per_s", r)
                .print();
        }
    }
}

// ---------------------------------------------------------------------------

/// `run=bench`.
pub fn run(cfg: &Config) -> ! {
    let b = &cfg.bench;
    let quick = b.quick;
    let thps = b.thps();
    let online = smp::online_mask().count();
    let counts: Vec<usize> = b.cpu_counts(online).iter().map(usize::from).collect();
    let t_start = time::now();
    crate::println!(
        "bench: {online} cpus online, munmap of {thps} THPs per cell, {} reps, {} mode, flush={}",
        b.reps(),
        if quick { "quick" } else { "full" },
        tlb::mode_name(tlb::mode())
    );
    Line::new("meta")
        .num("schema", 2)
        .num("cpus_online", online)
        .num("thps", thps)
        .num("quick", quick)
        .num("reps", b.reps())
        .num("rounds", b.rounds())
        .num("ops_per_cell", OPS)
        .num("walker_batch", BATCH)
        .num("seed", cfg.run.seed)
        .text("bootargs", cfg.cmdline)
        .raw("cpu_counts", &json_list(counts.iter(), |n| alloc::format!("{n}")))
        .raw("loads", &json_list(b.loads.iter(), |l| alloc::format!("\"{}\"", l.name())))
        .raw("parts", &json_list(b.parts.iter(), |p| alloc::format!("\"{}\"", p.name())))
        .raw("strategies", &json_list(STRATEGIES.iter(), |s| alloc::format!("\"{}\"", s.name())))
        .text("flush", tlb::mode_name(tlb::mode()))
        .num("model", crate::mm::shadow::enabled())
        .num("tb_hz", arch::TB_HZ)
        .print();
    for st in WALKER_SET {
        let e = st.walker_events();
        Line::new("walker_events")
            .text("strategy", st.name())
            .num("full_fences", e.full_fences)
            .num("lwsyncs", e.lwsyncs)
            .num("shared_rmws", e.shared_rmws)
            .num("own_rmws", e.own_rmws)
            .num("stores", e.stores)
            .num("loads", e.loads)
            .print();
    }
    if b.runs(BenchPart::Walker) || b.runs(BenchPart::Contention) {
        run_walker_parts(b, online);
    }
    if b.runs(BenchPart::Mmu) {
        run_mmu(quick, &counts);
    }
    if b.runs(BenchPart::Matrix) {
        run_matrix(b, &counts);
    }
    crate::println!("bench: done in {} ms", time::tb_to_ms(time::now() - t_start));
    exit::success()
}
