//! The benchmark: cost of each serialization strategy against the number
//! of CPUs in `mm_cpumask` and what those CPUs are doing, reproducing the
//! shape of the Linux series' headline (munmap of THPs: IPI broadcast vs the
//! counting registry).
//!
//! One boot runs the whole matrix, so every ratio compares numbers measured
//! in the same run: strategies {ipi, count, count-atomic, count-wait, percpu, rcu} ×
//! CPUs {1, 2, 4, 8, 16} (those online; the others stay idle in `stop` and
//! never join the mm) × load {idle, walkers, busy}:
//!
//! * idle    — the other CPUs ran the mm once (they are in `mm_cpumask`) and
//!             now sleep in `stop` (entered with EE=0, so no wake-up is
//!             lost; the doorbell ends the `stop`, and is taken once the
//!             idle loop sets EE=1 again): an IPI must wake them;
//! * walkers — they run lockless walkers on the mm (with think time);
//! * busy    — they spin in thread context with EE=1, touching no tables.
//!
//! Per cell: munmap of `bench.thps` THPs (per-THP serialize, one batched TLB
//! flush), THP split and collapse, in timebase ticks, and IPIs sent. Plus
//! the walker side: walks per second for each strategy's registration vs
//! none. Output: one `BENCH {json}` line per measurement; `tools/benchplot`
//! turns them into results/bench.json and results/bench.svg.
//!
//! Absolute QEMU times say nothing about POWER9: TCG emulates every
//! instruction and oversubscribed vCPUs wait for host cores. Only the
//! ratios inside one run mean something, and even they carry QEMU's costs
//! (a doorbell to a descheduled vCPU waits for the host scheduler).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

use walkproto::{CpuMask, Strategy};

use super::arena::{Arena, HUGE};
use super::changers::{Changer, Stats};
use super::rng::Rng;
use super::walkers::{self, Counters, Kind, Walk};
use crate::mm::space::{self, Mm};
use crate::arch;
use crate::sys::config::Config;
use crate::sys::{exit, percpu, smp, time, watchdog};

/// What the CPUs other than the changer do during a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    Idle,
    Walkers,
    Busy,
}

impl Load {
    const ALL: [Load; 3] = [Load::Idle, Load::Walkers, Load::Busy];
    fn name(self) -> &'static str {
        match self {
            Load::Idle => "idle",
            Load::Walkers => "walkers",
            Load::Busy => "busy",
        }
    }
}

const STRATEGIES: [Strategy; 6] = Strategy::CORRECT;

static STOP: AtomicBool = AtomicBool::new(false);
static READY: AtomicU64 = AtomicU64::new(0);

/// Measurements of one cell.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    munmap_tb: u64,
    munmap_ipis: u64,
    split_tb: u64,
    collapse_tb: u64,
    op_ipis: u64,
    serializes: u64,
    skipped: u64,
    /// Part of `munmap_tb` spent in serialize (the strategy's own cost).
    serialize_tb: u64,
}

/// The CPUs a cell uses: this one plus `n - 1` others.
fn cpu_set(n: usize) -> CpuMask {
    let me = percpu::cpu_id();
    let mut m = CpuMask::new().with(me);
    for c in smp::online_mask().iter().filter(|&c| c != me).take(n - 1) {
        m.set(c);
    }
    m
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

fn measure_cell(strategy: Strategy, ncpus: usize, load: Load, thps: usize) -> Cell {
    let me = percpu::cpu_id();
    let set = cpu_set(ncpus);
    let helpers = set.without(me);
    let mm = Mm::new();
    let arena = Arena::new_thp_spare(mm, thps, 4);
    let stats = Stats::new();
    let counters = Counters::new();
    STOP.store(false, Relaxed);
    READY.store(0, Relaxed);
    let mut cell = Cell::default();
    let helper = |cpu: usize| helper_loop(load, &arena, strategy, &counters, cpu);
    let timeout = time::secs(600);
    smp::run_on_then(helpers, timeout, "bench helpers", &helper, || {
        // Wait until every helper joined the mm (and idle ones went back
        // to sleep), then measure on this CPU.
        while READY.load(Acquire) < helpers.count() as u64 {
            arch::cpu_relax();
        }
        time::delay_tb(time::ms(2));
        mm.switch_to();
        let ch = Changer::new(&arena, strategy, &stats);
        // Split and collapse one THP first (needs the spare folios).
        let ipis0 = smp::IPIS_SENT.load(Relaxed);
        let slot = &arena.slots[0];
        let t0 = time::now();
        {
            let _g = slot.lock.lock();
            if slot.state.load(Acquire) == HUGE {
                ch.split(slot);
            }
        }
        let t1 = time::now();
        {
            let _g = slot.lock.lock();
            ch.collapse(slot);
        }
        let t2 = time::now();
        ch.reclaim();
        cell.split_tb = t1 - t0;
        cell.collapse_tb = t2 - t1;
        cell.op_ipis = smp::IPIS_SENT.load(Relaxed) - ipis0;
        let ipis1 = smp::IPIS_SENT.load(Relaxed);
        let ser0 = stats.serializes.load(Relaxed);
        let skip0 = stats.skipped.load(Relaxed);
        let sync0 = stats.sync_tb.load(Relaxed);
        let t3 = time::now();
        let n = ch.munmap_all();
        let t4 = time::now();
        if n != thps {
            exit::fail(format_args!("bench: munmap unmapped {n} of {thps} THPs"));
        }
        cell.munmap_tb = t4 - t3;
        cell.munmap_ipis = smp::IPIS_SENT.load(Relaxed) - ipis1;
        cell.serializes = stats.serializes.load(Relaxed) - ser0;
        cell.skipped = stats.skipped.load(Relaxed) - skip0;
        cell.serialize_tb = stats.sync_tb.load(Relaxed) - sync0;
        STOP.store(true, Release);
        space::switch_to_kernel_only();
    });
    if strategy == Strategy::Rcu {
        let ch = Changer::new(&arena, strategy, &stats);
        let d = time::Deadline::after(time::secs(10));
        while super::REGISTRY.pending_deferred() > 0 && !d.expired() {
            ch.reclaim();
        }
    }
    arena.teardown();
    mm.destroy();
    cell
}

/// Walks per second on one CPU with `strategy`'s registration, no changer,
/// over `arena` (the same arena for every strategy: different frames would
/// mean different host memory behind them, which TCG timing does feel).
fn walker_rate(arena: &Arena, strategy: Strategy, duration: u64) -> u64 {
    let counters = Counters::new();
    let mut rng = Rng::new(5);
    let start = time::now();
    let mut n = 0u64;
    while time::now() - start < duration {
        walkers::walk_once(&gup_walk(arena, strategy, &mut rng, 0, &counters));
        n += 1;
    }
    n * time::secs(1) / (time::now() - start).max(1)
}

/// map + unmap + flush of one 64 KB page, repeated for `duration`, with
/// `ncpus - 1` other CPUs in the mm's cpumask (idle): operations per second.
fn mmu_rate(mode: crate::mm::tlb::Mode, ncpus: usize, duration: u64) -> u64 {
    use radix::PageSize;
    let _guard = crate::mm::tlb::ModeGuard::set(mode);
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

fn bench_line(fields: &str) {
    crate::println!("BENCH {{{fields}}}");
}

/// `run=bench`.
pub fn run(cfg: &Config) -> ! {
    let quick = cfg.bench.quick;
    let thps = cfg.bench.thps();
    let online = smp::online_mask().count();
    let counts: Vec<usize> = [1usize, 2, 4, 8, 16].into_iter().filter(|&c| c <= online).collect();
    crate::println!(
        "bench: {online} cpus online, munmap of {thps} THPs per cell, {} mode, flush={}",
        if quick { "quick" } else { "full" },
        crate::mm::tlb::mode_name(crate::mm::tlb::mode())
    );
    bench_line(&alloc::format!(
        "\"kind\":\"meta\",\"cpus_online\":{online},\"thps\":{thps},\"quick\":{quick},\"flush\":\"{}\",\"model\":{},\"tb_hz\":{}",
        crate::mm::tlb::mode_name(crate::mm::tlb::mode()),
        crate::mm::shadow::enabled(),
        arch::TB_HZ
    ));
    // Walker side: registration cost relative to no registration. Many
    // short rounds; in each, every strategy runs once (rotating order) and
    // is compared with the unregistered walk *of the same round*, so slow
    // drift of the host cancels; the median of those ratios is reported.
    let (rounds, slice) = if quick { (9, time::ms(20)) } else { (41, time::ms(40)) };
    let all: [Strategy; 7] = [
        Strategy::None,
        STRATEGIES[0],
        STRATEGIES[1],
        STRATEGIES[2],
        STRATEGIES[3],
        STRATEGIES[4],
        STRATEGIES[5],
    ];
    let mm = Mm::new();
    let arena = Arena::new_thp_spare(mm, 8, 0);
    mm.switch_to();
    walker_rate(&arena, Strategy::None, slice); // warm-up (translation of new code)
    let mut ratios: Vec<[f64; 7]> = Vec::new();
    let mut rate_sum = [0u64; 7];
    for round in 0..rounds {
        let mut rates = [0u64; 7];
        for k in 0..all.len() {
            let i = (k + round) % all.len();
            rates[i] = walker_rate(&arena, all[i], slice).max(1);
            rate_sum[i] += rates[i];
        }
        let mut r = [0f64; 7];
        for i in 0..7 {
            r[i] = rates[0] as f64 / rates[i] as f64;
        }
        ratios.push(r);
    }
    space::switch_to_kernel_only();
    arena.teardown();
    mm.destroy();
    for (i, st) in STRATEGIES.iter().enumerate() {
        let mut v: Vec<f64> = ratios.iter().map(|r| r[i + 1]).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(core::cmp::Ordering::Equal));
        let median = v[v.len() / 2];
        let (q1, q3) = (v[v.len() / 4], v[3 * v.len() / 4]);
        bench_line(&alloc::format!(
            "\"kind\":\"walker\",\"strategy\":\"{}\",\"walks_per_s\":{},\"unregistered_walks_per_s\":{},\
             \"overhead_permille_median\":{},\"overhead_permille_q1\":{},\"overhead_permille_q3\":{},\"rounds\":{rounds}",
            st.name(),
            rate_sum[i + 1] / rounds as u64,
            rate_sum[0] / rounds as u64,
            ((median - 1.0) * 1000.0) as i64,
            ((q1 - 1.0) * 1000.0) as i64,
            ((q3 - 1.0) * 1000.0) as i64
        ));
    }
    // The MMU layer alone: map/unmap/flush throughput per flush mode.
    let mdur = if quick { time::ms(200) } else { time::secs(1) };
    for mode in [crate::mm::tlb::Mode::Tlbie, crate::mm::tlb::Mode::Ipi] {
        for &n in counts.iter().filter(|&&n| n == 1 || n == 4 || n == 8) {
            let r = mmu_rate(mode, n, mdur);
            bench_line(&alloc::format!(
                "\"kind\":\"mmu\",\"flush\":\"{}\",\"cpus\":{n},\"map_unmap_flush_per_s\":{r}",
                crate::mm::tlb::mode_name(mode)
            ));
        }
    }
    for load in Load::ALL {
        for &n in &counts {
            for st in STRATEGIES {
                let c = measure_cell(st, n, load, thps);
                let mut f = String::new();
                let _ = write!(
                    f,
                    "\"kind\":\"cell\",\"strategy\":\"{}\",\"cpus\":{n},\"load\":\"{}\",\"thps\":{thps},\
                     \"munmap_tb\":{},\"serialize_tb\":{},\"munmap_ipis\":{},\"serializes\":{},\"skipped\":{},\
                     \"split_tb\":{},\"collapse_tb\":{},\"split_collapse_ipis\":{}",
                    st.name(),
                    load.name(),
                    c.munmap_tb,
                    c.serialize_tb,
                    c.munmap_ipis,
                    c.serializes,
                    c.skipped,
                    c.split_tb,
                    c.collapse_tb,
                    c.op_ipis
                );
                bench_line(&f);
            }
        }
    }
    crate::println!("bench: done");
    exit::success()
}
