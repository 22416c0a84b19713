//! The weak-memory emulation through the public API: a real `Registry` and
//! `WalkGuard`, a changer calling `serialize`, and a fake clock the test
//! moves by hand. (The exhaustive litmus explorer on the same store buffer
//! is in `src/litmus.rs`.)
#![cfg(not(loom))]

use std::cell::Cell;

use walkproto::{CpuMask, IpiStats, IpiTimeout, MmSync, Platform, Registry, Strategy, WeakMemory};

thread_local! {
    /// This test thread's clock (each test runs on its own thread).
    static NOW: Cell<u64> = const { Cell::new(0) };
}

fn now() -> u64 {
    NOW.with(Cell::get)
}

fn set_now(t: u64) {
    NOW.with(|c| c.set(t));
}

fn weak(max_delay_ticks: u64, seed: u64) -> Option<WeakMemory> {
    Some(WeakMemory { max_delay_ticks, clock: now, seed })
}

/// A changer's platform on CPU 0 of 4: IPIs are acknowledged at once; the
/// clock advances on every read, so a `count-wait` wait times out.
#[derive(Default)]
struct Changer(Cell<u64>);

impl Platform for Changer {
    fn this_cpu(&self) -> usize {
        0
    }

    fn online_cpus(&self) -> CpuMask {
        CpuMask::first(4)
    }

    fn ipi_and_wait(&self, targets: CpuMask, _wait: bool) -> Result<IpiStats, IpiTimeout> {
        Ok(IpiStats { sent: targets.count() as u32, spins: 0 })
    }

    fn relax(&self) {}

    fn now(&self) -> u64 {
        self.0.replace(self.0.get() + 1)
    }

    fn timeout_ticks(&self) -> u64 {
        10
    }
}

type Reg = Registry<4, 2>;

const WALKER: usize = 2;
const LONG: u64 = 1_000_000;

/// Whether a `count`-family changer's `serialize` sees a walker (`count-wait`
/// times out waiting for it).
fn changer_sees_walker(reg: &Reg, strategy: Strategy, mm: &MmSync) -> bool {
    match reg.serialize(strategy, mm, CpuMask::first(4), &Changer::default()) {
        Ok(stats) => stats.walkers_seen > 0,
        Err(_) => true,
    }
}

#[test]
fn off_by_default_and_switchable() {
    let reg = Reg::new();
    assert!(reg.weak_memory().is_none());
    reg.set_weak_memory(weak(7, 3));
    let cfg = reg.weak_memory().expect("on");
    assert_eq!((cfg.max_delay_ticks, cfg.seed), (7, 3));
    reg.set_weak_memory(None);
    assert!(reg.weak_memory().is_none());
}

#[test]
fn off_means_every_store_is_published_at_once() {
    let reg = Reg::new();
    let mm = MmSync::new(1);
    for s in Strategy::ALL {
        let g = reg.begin_walk(s, &mm, WALKER);
        assert!(!g.emulated(), "{s}");
        g.load_point();
        g.store_point();
        assert_eq!(g.pending_stores(), 0, "{s}");
        if s.counter_barrier().is_some() {
            assert_eq!(mm.walkers(), 1, "{s}: increment visible at once");
            assert!(changer_sees_walker(&reg, s, &mm), "{s}");
        }
        drop(g);
        assert_eq!(mm.walkers(), 0, "{s}");
    }
}

#[test]
fn count_lwsync_increment_is_invisible_until_its_deadline() {
    let mm = MmSync::new(1);
    let mut ticks = Vec::new();
    for seed in 1..=8 {
        let reg = Reg::new();
        reg.set_weak_memory(weak(100, seed));
        set_now(1_000);
        let g = reg.begin_walk(Strategy::CountLwsync, &mm, WALKER);
        assert!(g.emulated());
        assert_eq!((g.pending_stores(), mm.walkers()), (1, 0), "buffered, not in memory");
        assert!(!changer_sees_walker(&reg, Strategy::CountLwsync, &mm), "changer misses the walker");
        let mut t = 1_000;
        while g.pending_stores() > 0 {
            assert_eq!(mm.walkers(), 0, "published before its deadline?");
            g.load_point();
            t += 1;
            set_now(t);
        }
        let published_at = t - 1;
        assert!((1_000..=1_100).contains(&published_at), "deadline outside [now, now + max]: {published_at}");
        assert_eq!(mm.walkers(), 1);
        assert!(changer_sees_walker(&reg, Strategy::CountLwsync, &mm));
        drop(g);
        assert_eq!(mm.walkers(), 0);
        ticks.push(published_at);
    }
    ticks.dedup();
    assert!(ticks.len() > 1, "every seed drew the same delay: {ticks:?}");
}

#[test]
fn store_point_after_lwsync_publishes_the_increment() {
    let reg = Reg::new();
    let mm = MmSync::new(1);
    reg.set_weak_memory(weak(LONG, 1));
    let g = reg.begin_walk(Strategy::CountLwsync, &mm, WALKER);
    g.load_point();
    assert_eq!(mm.walkers(), 0, "loads do not publish it (lwsync does not order store→load)");
    g.store_point();
    assert_eq!((g.pending_stores(), mm.walkers()), (0, 1), "the walker's next store publishes it");
    assert!(changer_sees_walker(&reg, Strategy::CountLwsync, &mm));
    drop(g);
    assert_eq!(mm.walkers(), 0);
}

#[test]
fn count_nobarrier_increment_waits_for_deadline_or_exit() {
    let reg = Reg::new();
    let mm = MmSync::new(1);
    reg.set_weak_memory(weak(LONG, 1));
    set_now(0);
    let g = reg.begin_walk(Strategy::CountNoBarrier, &mm, WALKER);
    g.store_point();
    g.load_point();
    assert_eq!((g.pending_stores(), mm.walkers()), (1, 0), "no fence: a later store does not publish it");
    assert!(!changer_sees_walker(&reg, Strategy::CountNoBarrier, &mm));
    drop(g);
    assert_eq!((mm.walkers(), reg.weak_memory().is_some()), (0, true), "exit published +1 then -1");
    // Past the largest deadline, a store point publishes it (as expired).
    let g = reg.begin_walk(Strategy::CountNoBarrier, &mm, WALKER);
    set_now(LONG);
    g.store_point();
    assert_eq!((g.pending_stores(), mm.walkers()), (0, 1));
}

#[test]
fn zero_max_delay_publishes_at_the_first_point() {
    let reg = Reg::new();
    let mm = MmSync::new(1);
    reg.set_weak_memory(weak(0, 9));
    set_now(5);
    let g = reg.begin_walk(Strategy::CountNoBarrier, &mm, WALKER);
    assert_eq!(mm.walkers(), 0, "still buffered until a point");
    g.load_point();
    assert_eq!(mm.walkers(), 1);
}

#[test]
fn sync_strategies_publish_before_begin_walk_returns() {
    let reg = Reg::new();
    let mm = MmSync::new(3);
    reg.set_weak_memory(weak(LONG, 1));
    set_now(0);
    for s in [Strategy::Count, Strategy::CountWait] {
        let g = reg.begin_walk(s, &mm, WALKER);
        assert!(g.emulated(), "{s}: emulated like the controls");
        assert_eq!((g.pending_stores(), mm.walkers()), (0, 1), "{s}: sync drained the buffer");
        drop(g);
        assert_eq!(mm.walkers(), 0);
    }
    assert!(!changer_sees_walker(&reg, Strategy::Count, &mm));
    let g = reg.begin_walk(Strategy::Count, &mm, WALKER);
    assert!(changer_sees_walker(&reg, Strategy::Count, &mm));
    drop(g);
    let g = reg.begin_walk(Strategy::PerCpu, &mm, WALKER);
    assert_eq!((g.pending_stores(), reg.walking_mm(WALKER)), (0, 3));
    drop(g);
    assert_eq!(reg.walking_mm(WALKER), 0);
    let g = reg.begin_walk(Strategy::Rcu, &mm, WALKER);
    assert_eq!((g.pending_stores(), reg.reader_depth(WALKER)), (0, 1));
    drop(g);
    assert_eq!(reg.reader_depth(WALKER), 0);
}

#[test]
fn count_wait_changer_waits_for_an_emulated_count_walker() {
    let reg = Reg::new();
    let mm = MmSync::new(1);
    reg.set_weak_memory(weak(LONG, 1));
    let _g = reg.begin_walk(Strategy::CountWait, &mm, WALKER);
    let err = reg.serialize(Strategy::CountWait, &mm, CpuMask::first(4), &Changer::default());
    assert!(err.is_err(), "the walker is visible, so the changer waits (and times out): {err:?}");
}

#[test]
fn walkers_that_store_nothing_are_not_emulated() {
    let reg = Reg::new();
    let mm = MmSync::new(1);
    reg.set_weak_memory(weak(LONG, 1));
    for s in [Strategy::Ipi, Strategy::IpiNoWait, Strategy::None] {
        let g = reg.begin_walk(s, &mm, WALKER);
        assert!(!g.emulated(), "{s}");
    }
}

/// A walk nested in another on the same CPU (an interrupt handler that
/// walks) has its own buffer and does not see the outer walk's pending
/// store (no forwarding across guards, see the README); the count still
/// comes out right because the inner walk ends before the outer resumes.
#[test]
fn a_walk_nested_in_an_emulated_walk_keeps_the_count_consistent() {
    let reg = Reg::new();
    let mm = MmSync::new(1);
    reg.set_weak_memory(weak(LONG, 1));
    set_now(0);
    let outer = reg.begin_walk(Strategy::CountLwsync, &mm, WALKER);
    assert_eq!((outer.pending_stores(), mm.walkers()), (1, 0));
    let inner = reg.begin_walk(Strategy::CountLwsync, &mm, WALKER);
    inner.store_point();
    assert_eq!(mm.walkers(), 1, "the inner walk's increment");
    drop(inner);
    assert_eq!(mm.walkers(), 0);
    outer.store_point();
    assert_eq!(mm.walkers(), 1, "the outer walk's increment");
    drop(outer);
    assert_eq!(mm.walkers(), 0);
}

#[test]
fn same_seed_same_delays_and_cpus_differ() {
    let mm = MmSync::new(1);
    let deadline_of = |reg: &Reg, cpu: usize| {
        set_now(0);
        let g = reg.begin_walk(Strategy::CountNoBarrier, &mm, cpu);
        let mut t = 0;
        while g.pending_stores() > 0 {
            t += 1;
            set_now(t);
            g.load_point();
        }
        t
    };
    let draws = |seed: u64, cpu: usize| {
        let reg = Reg::new();
        reg.set_weak_memory(weak(LONG, seed));
        (0..4).map(|_| deadline_of(&reg, cpu)).collect::<Vec<_>>()
    };
    assert_eq!(draws(42, 1), draws(42, 1), "reproducible");
    assert_ne!(draws(42, 1), draws(43, 1), "seed matters");
    assert_ne!(draws(42, 1), draws(42, 2), "each CPU has its own generator");
}
