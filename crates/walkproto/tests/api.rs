//! API behaviour with std threads and a recording fake platform (the
//! memory-ordering questions are the loom model's job, tests/loom_model.rs).
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use walkproto::{
    Barrier, ChangerEvents, Counter, CpuMask, FreeOutcome, IpiStats, IpiTimeout, MmSync, Platform, Registry,
    Strategy, SyncError, WalkerEvents, WeakMemory, MAX_CPUS,
};

/// A platform that records every IPI request and acknowledges at once,
/// except for the CPUs in `deaf` (they never answer → `IpiTimeout`).
struct FakePlatform {
    cpu: usize,
    online: CpuMask,
    deaf: CpuMask,
    sent: Mutex<Vec<(CpuMask, bool)>>,
    clock: AtomicU64,
    timeout: u64,
}

impl FakePlatform {
    fn new(cpu: usize, ncpus: usize) -> FakePlatform {
        FakePlatform {
            cpu,
            online: CpuMask::first(ncpus),
            deaf: CpuMask::EMPTY,
            sent: Mutex::new(Vec::new()),
            clock: AtomicU64::new(0),
            timeout: 1_000,
        }
    }

    fn sent(&self) -> Vec<(CpuMask, bool)> {
        self.sent.lock().unwrap().clone()
    }
}

impl Platform for FakePlatform {
    fn this_cpu(&self) -> usize {
        self.cpu
    }

    fn online_cpus(&self) -> CpuMask {
        self.online
    }

    fn ipi_and_wait(&self, targets: CpuMask, wait: bool) -> Result<IpiStats, IpiTimeout> {
        assert!(!targets.test(self.cpu), "registry must never IPI the calling CPU");
        self.sent.lock().unwrap().push((targets, wait));
        let missing = targets.and(self.deaf);
        if wait && !missing.is_empty() {
            return Err(IpiTimeout { missing });
        }
        Ok(IpiStats { sent: targets.count() as u32, spins: 0 })
    }

    fn relax(&self) {
        thread::yield_now();
    }

    /// Every call advances the clock by one tick: a wait loop times out
    /// after `timeout` polls.
    fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    fn timeout_ticks(&self) -> u64 {
        self.timeout
    }
}

type SmallRegistry = Registry<8, 2>;

fn mask(cpus: &[usize]) -> CpuMask {
    cpus.iter().copied().collect()
}

// ---- Strategy ----

#[test]
fn every_name_parses_back_to_its_strategy() {
    for s in Strategy::ALL {
        assert_eq!(Strategy::parse(s.name()), Ok(s));
        assert_eq!(s.name().parse::<Strategy>(), Ok(s));
        assert_eq!(s.to_string(), s.name());
    }
}

#[test]
fn unknown_name_error_lists_all_valid_names() {
    let err = Strategy::parse("count-sync").unwrap_err();
    let text = err.to_string();
    for s in Strategy::ALL {
        assert!(text.contains(s.name()), "{text:?} lacks {}", s.name());
    }
    assert!(Strategy::parse("IPI").is_err(), "names are exact, lower case");
    assert!(Strategy::parse("").is_err());
}

#[test]
fn correct_and_negative_partition_all() {
    assert_eq!(Strategy::CORRECT.len() + Strategy::NEGATIVE.len(), Strategy::ALL.len());
    for s in Strategy::ALL {
        let correct = Strategy::CORRECT.contains(&s);
        assert_ne!(correct, Strategy::NEGATIVE.contains(&s), "{s}");
        assert_eq!(s.is_negative_control(), !correct, "{s}");
    }
}

#[test]
fn irq_and_foreign_coverage_tables() {
    let irqs_off: Vec<_> = Strategy::CORRECT.into_iter().filter(|s| s.walker_needs_irqs_off()).collect();
    assert_eq!(irqs_off, [Strategy::Ipi, Strategy::Count, Strategy::CountAtomic, Strategy::PerCpu]);
    for s in Strategy::NEGATIVE {
        assert!(s.walker_needs_irqs_off(), "{s}");
        assert!(!s.covers_foreign_walkers(), "{s}");
    }
    let foreign: Vec<_> = Strategy::ALL.into_iter().filter(|s| s.covers_foreign_walkers()).collect();
    assert_eq!(foreign, [Strategy::CountWait, Strategy::PerCpu, Strategy::Rcu]);
}

#[test]
fn counting_strategies_differ_only_in_barrier() {
    assert_eq!(Strategy::Count.counter_barrier(), Some(Barrier::Sync));
    assert_eq!(Strategy::CountAtomic.counter_barrier(), Some(Barrier::Sync));
    assert_eq!(Strategy::CountWait.counter_barrier(), Some(Barrier::Sync));
    assert_eq!(Strategy::CountLwsync.counter_barrier(), Some(Barrier::Lwsync));
    assert_eq!(Strategy::CountNoBarrier.counter_barrier(), Some(Barrier::NoFence));
    for s in [Strategy::Ipi, Strategy::PerCpu, Strategy::Rcu, Strategy::None, Strategy::IpiNoWait] {
        assert_eq!(s.counter_barrier(), None, "{s}");
        assert_eq!(s.counter(), None, "{s}");
    }
    assert_eq!(Strategy::CountAtomic.counter(), Some(Counter::Shared));
    for s in [Strategy::Count, Strategy::CountWait, Strategy::CountLwsync, Strategy::CountNoBarrier] {
        assert_eq!(s.counter(), Some(Counter::Sharded), "{s}");
    }
}

// ---- CpuMask ----

#[test]
fn cpumask_set_clear_test_count() {
    let mut m = CpuMask::new();
    assert!(m.is_empty());
    m.set(0);
    m.set(63);
    m.set(64);
    m.set(MAX_CPUS - 1);
    assert_eq!(m.count(), 4);
    assert!(m.test(63) && m.test(64) && !m.test(1));
    assert!(!m.test(MAX_CPUS), "out of range is never set");
    m.clear(63);
    assert_eq!(m.iter().collect::<Vec<_>>(), [0, 64, MAX_CPUS - 1]);
    m.clear(MAX_CPUS + 5);
    assert_eq!(m.count(), 3);
}

#[test]
fn cpumask_set_operations() {
    let a = mask(&[1, 2, 3, 70]);
    let b = mask(&[3, 4, 70]);
    assert_eq!(a.and(b), mask(&[3, 70]));
    assert_eq!(a.or(b), mask(&[1, 2, 3, 4, 70]));
    assert_eq!(a.and_not(b), mask(&[1, 2]));
    assert_eq!(CpuMask::first(3), mask(&[0, 1, 2]));
    assert_eq!(CpuMask::first(1000).count(), MAX_CPUS);
    assert!(CpuMask::first(0).is_empty());
    assert_eq!(CpuMask::first(64).iter().last(), Some(63));
    assert_eq!(CpuMask::first(65).iter().last(), Some(64));
    assert_eq!(CpuMask::first(65).count(), 65);
    assert_eq!(a.without(2).with(9), mask(&[1, 3, 9, 70]));
}

#[test]
fn cpumask_displays_as_cpulist() {
    assert_eq!(mask(&[0, 1, 2, 3, 8, 10, 11]).to_string(), "0-3,8,10-11");
    assert_eq!(CpuMask::EMPTY.to_string(), "none");
    assert_eq!(mask(&[127]).to_string(), "127");
}

#[test]
#[should_panic(expected = "out of CpuMask range")]
fn cpumask_rejects_out_of_range_set() {
    CpuMask::new().set(MAX_CPUS);
}

#[test]
#[should_panic(expected = "reserved")]
fn mm_id_zero_is_rejected() {
    let _ = MmSync::new(0);
}

// ---- walker side ----

#[test]
fn guard_counts_and_uncounts_walkers() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(7);
    for s in [
        Strategy::Count,
        Strategy::CountAtomic,
        Strategy::CountWait,
        Strategy::CountLwsync,
        Strategy::CountNoBarrier,
    ] {
        let a = reg.begin_walk(s, &mm, 1);
        let b = reg.begin_walk(s, &mm, 2);
        assert_eq!(mm.walkers(), 2, "{s}");
        assert_eq!((a.strategy(), a.cpu(), a.mm_id()), (s, 1, 7));
        drop(a);
        assert_eq!(mm.walkers(), 1, "{s}");
        b.end();
        assert_eq!(mm.walkers(), 0, "{s}");
    }
}

#[test]
fn guard_reports_irq_requirement() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    for s in Strategy::ALL {
        let g = reg.begin_walk(s, &mm, 0);
        assert_eq!(g.requires_irqs_off(), s.walker_needs_irqs_off(), "{s}");
    }
}

#[test]
fn percpu_flag_is_set_during_walk_and_nesting_restores_it() {
    let reg = SmallRegistry::new();
    let (a, b) = (MmSync::new(3), MmSync::new(4));
    let outer = reg.begin_walk(Strategy::PerCpu, &a, 5);
    assert_eq!(reg.walking_mm(5), 3);
    let inner = reg.begin_walk(Strategy::PerCpu, &b, 5);
    assert_eq!(reg.walking_mm(5), 4);
    drop(inner);
    assert_eq!(reg.walking_mm(5), 3, "nested walk must restore the outer flag");
    drop(outer);
    assert_eq!(reg.walking_mm(5), 0);
}

#[test]
fn rcu_reader_nests() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let outer = reg.begin_walk(Strategy::Rcu, &mm, 2);
    let inner = reg.begin_walk(Strategy::Rcu, &mm, 2);
    assert_eq!(reg.reader_depth(2), 2);
    drop(inner);
    assert_eq!(reg.reader_depth(2), 1);
    drop(outer);
    assert_eq!(reg.reader_depth(2), 0);
}

#[test]
fn ipi_only_strategies_touch_no_shared_state() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    for s in [Strategy::Ipi, Strategy::IpiNoWait, Strategy::None] {
        let _g = reg.begin_walk(s, &mm, 3);
        assert_eq!((mm.walkers(), reg.walking_mm(3), reg.reader_depth(3)), (0, 0, 0), "{s}");
    }
}

// ---- changer side ----

#[test]
fn ipi_targets_mm_cpumask_minus_self_and_waits() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(2, 8);
    let stats = reg.serialize(Strategy::Ipi, &mm, mask(&[0, 2, 5]), &p).unwrap();
    assert_eq!(p.sent(), [(mask(&[0, 5]), true)]);
    assert_eq!((stats.targets, stats.ipis, stats.skipped), (mask(&[0, 5]), 2, false));
}

#[test]
fn ipi_nowait_does_not_wait() {
    let reg = SmallRegistry::new();
    let p = FakePlatform::new(0, 4);
    reg.serialize(Strategy::IpiNoWait, &MmSync::new(1), mask(&[0, 1, 3]), &p).unwrap();
    assert_eq!(p.sent(), [(mask(&[1, 3]), false)]);
}

#[test]
fn ipi_skips_offline_cpus_and_a_lone_self() {
    let reg = SmallRegistry::new();
    let p = FakePlatform::new(1, 4);
    let stats = reg.serialize(Strategy::Ipi, &MmSync::new(1), mask(&[1, 6]), &p).unwrap();
    assert!(stats.skipped && p.sent().is_empty(), "CPU 6 is offline, CPU 1 is self");
}

#[test]
fn none_does_nothing() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(0, 4);
    let _walk = reg.begin_walk(Strategy::None, &mm, 1);
    let stats = reg.serialize(Strategy::None, &mm, mask(&[0, 1]), &p).unwrap();
    assert!(p.sent().is_empty());
    assert_eq!(stats.ipis, 0);
}

#[test]
fn count_zero_skips_ipis_for_every_counting_variant() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    for s in [Strategy::Count, Strategy::CountAtomic, Strategy::CountLwsync, Strategy::CountNoBarrier] {
        let p = FakePlatform::new(0, 4);
        let stats = reg.serialize(s, &mm, mask(&[0, 1, 2, 3]), &p).unwrap();
        assert!(stats.skipped, "{s}");
        assert_eq!(stats.walkers_seen, 0);
        assert!(p.sent().is_empty(), "{s}: no walker, no IPI");
    }
}

#[test]
fn count_positive_ipis_mm_cpumask_even_if_walker_is_elsewhere() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let _walk = reg.begin_walk(Strategy::Count, &mm, 6); // CPU 6 not in mm_cpumask
    let p = FakePlatform::new(0, 8);
    let stats = reg.serialize(Strategy::Count, &mm, mask(&[0, 1, 2]), &p).unwrap();
    assert_eq!(stats.walkers_seen, 1);
    assert_eq!(p.sent(), [(mask(&[1, 2]), true)], "count IPIs mm_cpumask, not the walker");
    assert!(!stats.targets.test(6));
}

#[test]
fn count_atomic_positive_ipis_mm_cpumask_and_sees_only_its_own_counter() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(0, 8);
    // A sharded-count walker is invisible to count-atomic's changer and
    // the other way round: each strategy reads its own counter.
    let sharded = reg.begin_walk(Strategy::Count, &mm, 3);
    assert!(reg.serialize(Strategy::CountAtomic, &mm, mask(&[0, 1]), &p).unwrap().skipped);
    drop(sharded);
    let _walk = reg.begin_walk(Strategy::CountAtomic, &mm, 6);
    assert!(reg.serialize(Strategy::Count, &mm, mask(&[0, 1]), &p).unwrap().skipped);
    let stats = reg.serialize(Strategy::CountAtomic, &mm, mask(&[0, 1, 2]), &p).unwrap();
    assert_eq!(stats.walkers_seen, 1);
    assert_eq!(p.sent(), [(mask(&[1, 2]), true)], "count-atomic IPIs mm_cpumask, not the walker");
}

/// Many threads hammer the one shared count: no update is lost, and every
/// walker's increment is visible while it walks.
#[test]
fn count_atomic_concurrent_walkers_keep_the_count_exact() {
    let reg = Arc::new(Registry::<8, 1>::new());
    let mm = Arc::new(MmSync::new(1));
    let walkers: Vec<_> = (0..6)
        .map(|cpu| {
            let (reg, mm) = (reg.clone(), mm.clone());
            thread::spawn(move || {
                for _ in 0..50_000 {
                    let g = reg.begin_walk(Strategy::CountAtomic, &mm, cpu);
                    assert!(mm.walkers() >= 1);
                    drop(g);
                }
            })
        })
        .collect();
    for w in walkers {
        w.join().unwrap();
    }
    assert_eq!(mm.walkers(), 0);
}

/// The walker-side event profile comes from the strategy's own code.
#[test]
fn walker_events_per_strategy() {
    let e = |full, lw, shared, own, stores, loads| WalkerEvents {
        full_fences: full,
        lwsyncs: lw,
        shared_rmws: shared,
        own_rmws: own,
        stores,
        loads,
    };
    for s in [Strategy::Ipi, Strategy::IpiNoWait, Strategy::None] {
        assert_eq!(s.walker_events(), WalkerEvents::default(), "{s}");
    }
    // Sharded count: load + store in, load + release store out.
    assert_eq!(Strategy::Count.walker_events(), e(1, 1, 0, 0, 2, 2));
    assert_eq!(Strategy::CountWait.walker_events(), e(1, 1, 0, 0, 2, 2));
    assert_eq!(Strategy::CountLwsync.walker_events(), e(0, 2, 0, 0, 2, 2));
    assert_eq!(Strategy::CountNoBarrier.walker_events(), e(0, 0, 0, 0, 2, 2));
    // v4: atomic_inc; smp_mb ... release atomic_dec, both on the mm's line.
    assert_eq!(Strategy::CountAtomic.walker_events(), e(1, 1, 2, 0, 0, 0));
    // percpu: load + store + sync in, release store out.
    assert_eq!(Strategy::PerCpu.walker_events(), e(1, 1, 0, 0, 2, 1));
    // rcu: RMW of its own reader word + sync in, release RMW out.
    assert_eq!(Strategy::Rcu.walker_events(), e(1, 1, 0, 2, 0, 0));
}

/// Changer-side events: counted per call, summed over CPUs, and the
/// difference of two snapshots is what ran in between.
#[test]
fn changer_events_count_fences_loads_and_ipis() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(0, 8);
    let all = mask(&[0, 1, 2, 3]);
    let before = reg.changer_events();
    reg.serialize(Strategy::Ipi, &mm, all, &p).unwrap();
    let d = reg.changer_events() - before;
    assert_eq!((d.serializations, d.ipis, d.acks_waited, d.full_fences, d.remote_loads), (1, 3, 3, 0, 0));
    let before = reg.changer_events();
    reg.serialize(Strategy::Count, &mm, all, &p).unwrap();
    let d = reg.changer_events() - before;
    let want = ChangerEvents {
        serializations: 1,
        skipped: 1,
        full_fences: 1,
        lwsyncs: 1,
        remote_loads: 8,
        ..ChangerEvents::default()
    };
    assert_eq!(d, want, "count reads one shard per online CPU");
    let before = reg.changer_events();
    let g = reg.begin_walk(Strategy::CountAtomic, &mm, 2);
    reg.serialize(Strategy::CountAtomic, &mm, all, &p).unwrap();
    drop(g);
    let d = reg.changer_events() - before;
    let want = ChangerEvents {
        serializations: 1,
        full_fences: 1,
        lwsyncs: 1,
        remote_loads: 1,
        ipis: 3,
        acks_waited: 3,
        walkers_seen: 1,
        ..ChangerEvents::default()
    };
    assert_eq!(d, want, "count-atomic reads one word");
    let before = reg.changer_events();
    let g = reg.begin_walk(Strategy::PerCpu, &mm, 5);
    reg.serialize(Strategy::PerCpu, &mm, all, &p).unwrap();
    drop(g);
    let d = reg.changer_events() - before;
    assert_eq!((d.full_fences, d.remote_loads, d.walkers_seen, d.ipis), (1, 7, 1, 1));
    let before = reg.changer_events();
    let mut freed = Vec::new();
    reg.free_table_when_safe(Strategy::Rcu, &mm, all, &p, 1, |t| freed.push(t)).unwrap();
    while reg.pending_deferred() > 0 {
        reg.reclaim(&p, |t| freed.push(t));
    }
    let d = reg.changer_events() - before;
    assert!(d.full_fences >= 2 && d.grace_periods >= 1 && d.shared_rmws >= 2 && d.ipis == 0, "{d:?}");
}

#[test]
fn count_on_other_mm_is_not_seen() {
    let reg = SmallRegistry::new();
    let (a, b) = (MmSync::new(1), MmSync::new(2));
    let _walk = reg.begin_walk(Strategy::Count, &b, 1);
    let p = FakePlatform::new(0, 4);
    assert!(reg.serialize(Strategy::Count, &a, mask(&[0, 1]), &p).unwrap().skipped);
}

#[test]
fn percpu_ipis_only_cpus_walking_this_mm_anywhere() {
    let reg = SmallRegistry::new();
    let (a, b) = (MmSync::new(1), MmSync::new(2));
    let _w3 = reg.begin_walk(Strategy::PerCpu, &a, 3); // not in mm_cpumask
    let _w4 = reg.begin_walk(Strategy::PerCpu, &b, 4); // other mm
    let _w0 = reg.begin_walk(Strategy::PerCpu, &a, 0); // self
    let p = FakePlatform::new(0, 8);
    let stats = reg.serialize(Strategy::PerCpu, &a, mask(&[0, 1]), &p).unwrap();
    assert_eq!(p.sent(), [(mask(&[3]), true)]);
    assert_eq!(stats.targets, mask(&[3]));
}

#[test]
fn percpu_without_walkers_sends_nothing() {
    let reg = SmallRegistry::new();
    let p = FakePlatform::new(0, 8);
    let stats = reg.serialize(Strategy::PerCpu, &MmSync::new(1), CpuMask::first(8), &p).unwrap();
    assert!(stats.skipped && p.sent().is_empty());
}

#[test]
fn ipi_timeout_names_the_silent_cpus_and_the_mm() {
    let reg = SmallRegistry::new();
    let mut p = FakePlatform::new(0, 8);
    p.deaf = mask(&[5, 6]);
    let err = reg.serialize(Strategy::Ipi, &MmSync::new(9), CpuMask::first(8), &p).unwrap_err();
    assert_eq!(err, SyncError::Ipi { mm: 9, timeout: IpiTimeout { missing: mask(&[5, 6]) } });
    let text = err.to_string();
    assert!(text.contains("mm 9") && text.contains("5-6"), "{text}");
}

#[test]
fn count_wait_times_out_naming_mm_and_count() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(4);
    let _a = reg.begin_walk(Strategy::CountWait, &mm, 1);
    let _b = reg.begin_walk(Strategy::CountWait, &mm, 2);
    let p = FakePlatform::new(0, 4);
    let err = reg.serialize(Strategy::CountWait, &mm, mask(&[0]), &p).unwrap_err();
    let SyncError::WalkersRemain { mm: 4, walkers: 2, spins } = err else { panic!("{err:?}") };
    assert!(spins > 0);
    assert!(err.to_string().contains("mm 4") && err.to_string().contains("still 2"));
    assert!(p.sent().is_empty(), "count-wait never IPIs");
}

/// Starts a walker thread on `cpu` that holds a walk for 20 ms; returns once
/// the walk has begun.
fn walker_holding(
    reg: &Arc<SmallRegistry>,
    mm: &Arc<MmSync>,
    strategy: Strategy,
    cpu: usize,
) -> thread::JoinHandle<()> {
    let (reg, mm) = (reg.clone(), mm.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let walker = thread::spawn(move || {
        let guard = reg.begin_walk(strategy, &mm, cpu);
        tx.send(()).unwrap();
        thread::sleep(Duration::from_millis(20));
        drop(guard);
    });
    rx.recv().unwrap();
    walker
}

#[test]
fn count_wait_returns_when_the_walker_leaves() {
    let reg = Arc::new(SmallRegistry::new());
    let mm = Arc::new(MmSync::new(1));
    let walker = walker_holding(&reg, &mm, Strategy::CountWait, 1);
    let mut p = FakePlatform::new(0, 4);
    p.timeout = u64::MAX;
    let stats = reg.serialize(Strategy::CountWait, &mm, mask(&[0, 1]), &p).unwrap();
    walker.join().unwrap();
    assert!(!stats.skipped && stats.spins > 0 && stats.walkers_seen == 1, "{stats:?}");
    assert_eq!(mm.walkers(), 0);
}

#[test]
fn rcu_serialize_waits_for_reader_then_passes() {
    let reg = Arc::new(SmallRegistry::new());
    let mm = Arc::new(MmSync::new(1));
    let walker = walker_holding(&reg, &mm, Strategy::Rcu, 3);
    let mut p = FakePlatform::new(0, 4);
    p.timeout = u64::MAX;
    let stats = reg.serialize(Strategy::Rcu, &mm, mask(&[0]), &p).unwrap();
    walker.join().unwrap();
    assert!(!stats.skipped && stats.spins > 0, "{stats:?}");
    assert!(p.sent().is_empty(), "rcu never IPIs");
}

#[test]
fn rcu_grace_period_timeout_names_the_cpu() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let _outer = reg.begin_walk(Strategy::Rcu, &mm, 6);
    let _inner = reg.begin_walk(Strategy::Rcu, &mm, 6);
    let p = FakePlatform::new(0, 8);
    let err = reg.serialize(Strategy::Rcu, &mm, mask(&[0]), &p).unwrap_err();
    let SyncError::GracePeriodStalled { cpu: 6, depth: 2, quiescent: 0, .. } = err else { panic!("{err:?}") };
    assert!(err.to_string().contains("CPU 6"), "{err}");
}

#[test]
fn rcu_ignores_readers_on_offline_cpus() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let _g = reg.begin_walk(Strategy::Rcu, &mm, 7);
    let p = FakePlatform::new(0, 4); // CPU 7 not online
    assert!(reg.serialize(Strategy::Rcu, &mm, mask(&[0]), &p).unwrap().skipped);
}

// ---- table freeing ----

#[test]
fn non_rcu_free_serializes_then_frees() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    for s in Strategy::ALL.into_iter().filter(|&s| s != Strategy::Rcu) {
        let p = FakePlatform::new(0, 4);
        let mut freed = Vec::new();
        let out = reg.free_table_when_safe(s, &mm, mask(&[0, 1]), &p, 0xabc, |t| freed.push(t));
        assert!(matches!(out, Ok(FreeOutcome::Freed(_))), "{s}: {out:?}");
        assert_eq!(freed, [0xabc], "{s}");
        assert_eq!(reg.pending_deferred(), 0);
    }
}

#[test]
fn failed_serialize_does_not_free() {
    let reg = SmallRegistry::new();
    let mut p = FakePlatform::new(0, 4);
    p.deaf = mask(&[1]);
    let mut freed = Vec::new();
    let out =
        reg.free_table_when_safe(Strategy::Ipi, &MmSync::new(1), mask(&[0, 1]), &p, 5, |t| freed.push(t));
    assert!(out.is_err());
    assert!(freed.is_empty(), "a table must be leaked, not freed, on error");
}

#[test]
fn rcu_defers_until_reader_leaves() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(0, 4);
    let mut freed = Vec::new();
    let reader = reg.begin_walk(Strategy::Rcu, &mm, 2);
    let out = reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, 0x10, |t| freed.push(t));
    assert!(matches!(out, Ok(FreeOutcome::Deferred { .. })), "{out:?}");
    assert_eq!(reg.pending_deferred(), 1);
    assert_eq!(reg.reclaim(&p, |t| freed.push(t)), 0, "reader on CPU 2 still inside");
    assert_eq!(reg.reclaim(&p, |t| freed.push(t)), 0);
    assert!(freed.is_empty());
    drop(reader);
    assert_eq!(reg.reclaim(&p, |t| freed.push(t)), 1);
    assert_eq!(freed, [0x10]);
    assert_eq!(reg.pending_deferred(), 0);
}

#[test]
fn rcu_reader_that_started_after_the_unlink_does_not_delay_the_free() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(0, 4);
    let mut freed = Vec::new();
    reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, 0x20, |t| freed.push(t)).unwrap();
    let late = reg.begin_walk(Strategy::Rcu, &mm, 1);
    assert_eq!(reg.reclaim(&p, |t| freed.push(t)), 1);
    assert_eq!(freed, [0x20]);
    drop(late);
}

#[test]
fn rcu_deferred_cookie_is_reached_by_gp_sequence() {
    let reg = SmallRegistry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(0, 4);
    let reader = reg.begin_walk(Strategy::Rcu, &mm, 1);
    let out = reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, 1, |_| {}).unwrap();
    let FreeOutcome::Deferred { cookie } = out else { panic!("{out:?}") };
    assert!(reg.gp_sequence() < cookie);
    assert_eq!(reg.gp_sequence() & 1, 1, "the deferral started a grace period");
    reg.reclaim(&p, |_| {});
    assert!(reg.gp_sequence() < cookie, "reader still inside");
    drop(reader);
    reg.reclaim(&p, |_| {});
    assert!(reg.gp_sequence() >= cookie);
    assert_eq!(reg.gp_sequence() & 1, 0, "no grace period left running");
}

#[test]
fn rcu_full_queue_reclaims_first_then_waits_synchronously() {
    let reg = SmallRegistry::new(); // 2 slots
    let mm = MmSync::new(1);
    let mut p = FakePlatform::new(0, 4);
    let mut freed = Vec::new();
    let reader = reg.begin_walk(Strategy::Rcu, &mm, 3);
    for t in [1, 2] {
        let out = reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, t, |t| freed.push(t));
        assert!(matches!(out, Ok(FreeOutcome::Deferred { .. })));
    }
    assert_eq!(reg.pending_deferred(), 2);
    // Queue full, reclaim cannot help while CPU 3 reads: synchronous wait,
    // which times out and leaves table 3 unfreed.
    let err = reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, 3, |t| freed.push(t));
    assert!(matches!(err, Err(SyncError::GracePeriodStalled { cpu: 3, .. })), "{err:?}");
    assert!(freed.is_empty());
    drop(reader);
    // Now the reclaim inside free_table_when_safe makes room.
    p.timeout = u64::MAX;
    let out = reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, 3, |t| freed.push(t));
    assert!(matches!(out, Ok(FreeOutcome::Deferred { .. })), "{out:?}");
    assert_eq!(freed, [1, 2]);
    assert_eq!(reg.reclaim(&p, |t| freed.push(t)), 1);
    assert_eq!(freed, [1, 2, 3]);
}

#[test]
fn rcu_without_queue_waits_a_grace_period_and_frees() {
    let reg: Registry<4, 0> = Registry::new();
    let mm = MmSync::new(1);
    let p = FakePlatform::new(0, 4);
    let mut freed = Vec::new();
    let out = reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, 9, |t| freed.push(t));
    assert!(matches!(out, Ok(FreeOutcome::FreedAfterGracePeriod(_))), "{out:?}");
    assert_eq!(freed, [9]);
}

#[test]
fn concurrent_walkers_and_deferred_frees_converge() {
    let reg = Arc::new(Registry::<4, 4>::new());
    let mm = Arc::new(MmSync::new(1));
    let walkers: Vec<_> = (1..4)
        .map(|cpu| {
            let (reg, mm) = (reg.clone(), mm.clone());
            thread::spawn(move || {
                for _ in 0..20_000 {
                    let _g = reg.begin_walk(Strategy::Rcu, &mm, cpu);
                }
            })
        })
        .collect();
    let mut p = FakePlatform::new(0, 4);
    p.timeout = u64::MAX;
    let mut freed = Vec::new();
    for t in 0..200 {
        reg.free_table_when_safe(Strategy::Rcu, &mm, mask(&[0]), &p, t, |t| freed.push(t)).unwrap();
        reg.reclaim(&p, |t| freed.push(t));
    }
    for w in walkers {
        w.join().unwrap();
    }
    while reg.pending_deferred() > 0 {
        reg.reclaim(&p, |t| freed.push(t));
    }
    freed.sort_unstable();
    assert_eq!(freed, (0..200).collect::<Vec<_>>(), "every table freed exactly once");
}

#[test]
fn registry_fits_in_a_static() {
    static REG: Registry = Registry::new();
    static MM: MmSync = MmSync::new(42);
    let g = REG.begin_walk(Strategy::PerCpu, &MM, MAX_CPUS - 1);
    assert_eq!(REG.walking_mm(MAX_CPUS - 1), 42);
    drop(g);
}

/// The weak-memory switch in brief (tests/weakmem.rs has the details):
/// with it on, only an increment not followed by `sync` stays out of memory
/// after `begin_walk`; every walk still ends with the count restored.
#[test]
fn weak_memory_delays_only_increments_not_followed_by_sync() {
    fn zero() -> u64 {
        0
    }
    let reg: Registry = Registry::new();
    let mm = MmSync::new(5);
    reg.set_weak_memory(Some(WeakMemory { max_delay_ticks: 1_000, clock: zero, seed: 1 }));
    assert!(reg.weak_memory().is_some());
    for (strategy, visible) in [
        (Strategy::Count, true),
        (Strategy::CountAtomic, true),
        (Strategy::CountWait, true),
        (Strategy::CountLwsync, false),
        (Strategy::CountNoBarrier, false),
    ] {
        let g = reg.begin_walk(strategy, &mm, 3);
        assert_eq!(mm.walkers() == 1, visible, "{strategy}: increment visible during the walk");
        drop(g);
        assert_eq!(mm.walkers(), 0, "{strategy}: count restored after the walk");
    }
    reg.set_weak_memory(None);
    let g = reg.begin_walk(Strategy::CountLwsync, &mm, 3);
    assert_eq!(mm.walkers(), 1, "without emulation every increment is published at once");
    drop(g);
}
