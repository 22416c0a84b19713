//! The in-kernel test framework: test descriptors, the runner, helpers for
//! tests that run on every CPU, and the failure injections. The suites live
//! with what they test (`boot_tests`, `mm::tests`, `walk::tests`); the top
//! of the kernel hands them to [`run_all`].
//!
//! A test runs on the boot CPU (`Scope::Boot`) or on every online CPU at once
//! (`Scope::AllCpus`, each CPU in thread context via `smp::run_on`). Each test
//! prints one line; the run ends with `N passed, N failed`. Every test has a
//! deadline enforced by the decrementer (a hang is a failure that names the
//! test), and AllCpus tests also by the job timeout that names the CPUs.

mod inject;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use spin::Mutex;

use crate::sys::config::TestCfg;
use crate::sys::{percpu, smp, time, watchdog};

/// Where a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// On the boot CPU only.
    Boot,
    /// On every online CPU concurrently; passes only if every CPU passes.
    AllCpus,
}

/// A failed check: the message says what was expected and what was seen.
/// A message starting with [`SKIP`] marks a test that cannot run on this
/// machine (e.g. a race test on one CPU): reported, counted neither way.
#[derive(Debug)]
pub struct Fail(pub String);

/// Prefix of a skip reason.
pub const SKIP: &str = "skip: ";

/// A test that cannot run here, and why.
pub fn skip(why: &str) -> Fail {
    Fail(alloc::format!("{SKIP}{why}"))
}

/// Test result.
pub type Outcome = Result<(), Fail>;

/// One registered test.
pub struct Test {
    pub name: &'static str,
    pub scope: Scope,
    /// Deadline in milliseconds.
    pub timeout_ms: u64,
    /// For AllCpus tests the argument is the logical CPU id.
    pub run: fn(usize) -> Outcome,
}

/// Builds a [`Fail`] with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { $crate::ktest::Fail(alloc::format!($($arg)*)) };
}

/// Returns `Err(Fail)` with the message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond { return Err($crate::fail!($($arg)*)); }
    };
}

/// Runs `suites` in order (filtered by `ktest.filter`, plus an injected
/// failure if `ktest.inject` asks for one); returns (passed, failed).
pub fn run_all(cfg: &TestCfg, suites: &[&'static [Test]]) -> (usize, usize) {
    let mut tests: Vec<&'static Test> = suites.iter().flat_map(|s| s.iter()).collect();
    if let Some(t) = inject::test_for(cfg.inject) {
        tests.push(t);
    }
    let selected: Vec<_> = tests
        .into_iter()
        .filter(|t| cfg.filter.map_or(true, |f| f.split(',').any(|f| t.name.contains(f))))
        .collect();
    println!("ktest: running {} tests on {} cpus", selected.len(), smp::online_mask().count());
    let (mut passed, mut failed) = (0, 0);
    for t in selected {
        let start = time::now();
        let res = run_one(t);
        let ms = time::tb_to_ms(time::now() - start);
        match res {
            Ok(()) => {
                passed += 1;
                println!("test {} ... ok ({} ms)", t.name, ms);
            }
            Err(Fail(msg)) if msg.starts_with(SKIP) => {
                println!("test {} ... skipped ({})", t.name, &msg[SKIP.len()..]);
            }
            Err(Fail(msg)) => {
                failed += 1;
                println!("test {} ... FAILED ({} ms): {}", t.name, ms, msg);
            }
        }
    }
    (passed, failed)
}

fn run_one(t: &'static Test) -> Outcome {
    let timeout = time::ms(t.timeout_ms);
    watchdog::set_test_deadline(Some((&t.name, timeout + time::ms(500))));
    let res = match t.scope {
        Scope::Boot => (t.run)(percpu::cpu_id()),
        Scope::AllCpus => run_everywhere(t, timeout),
    };
    watchdog::set_test_deadline(None);
    res
}

fn run_everywhere(t: &'static Test, timeout: u64) -> Outcome {
    on_all_cpus(t.name, timeout, &|cpu| (t.run)(cpu))
}

/// Runs `f(cpu)` on every online CPU at once (this one included) and
/// gathers the failures, each tagged with its CPU.
pub fn on_all_cpus(what: &'static str, timeout: u64, f: &(dyn Fn(usize) -> Outcome + Sync)) -> Outcome {
    let failures: Mutex<String> = Mutex::new(String::new());
    let job = |cpu: usize| {
        if let Err(Fail(msg)) = f(cpu) {
            let mut fl = failures.lock();
            let _ = write!(fl, "[cpu {cpu}] {msg}; ");
        }
    };
    smp::run_on(smp::online_mask(), timeout, what, &job);
    let fl = failures.into_inner();
    if fl.is_empty() {
        Ok(())
    } else {
        Err(Fail(fl))
    }
}

/// A reusable barrier for AllCpus tests (sense by generation), with a
/// timeout that names the test's missing participants by count.
pub struct CpuBarrier {
    arrived: core::sync::atomic::AtomicUsize,
    generation: core::sync::atomic::AtomicUsize,
}

impl CpuBarrier {
    /// A barrier for all online CPUs.
    pub const fn new() -> Self {
        CpuBarrier {
            arrived: core::sync::atomic::AtomicUsize::new(0),
            generation: core::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Waits until every online CPU has arrived; `Err` after 30 s.
    pub fn wait(&self) -> Outcome {
        use core::sync::atomic::Ordering::*;
        let n = smp::online_mask().count();
        let gen = self.generation.load(Acquire);
        if self.arrived.fetch_add(1, AcqRel) + 1 == n {
            self.arrived.store(0, Relaxed);
            self.generation.fetch_add(1, Release);
            return Ok(());
        }
        let d = time::Deadline::after(time::secs(30));
        while self.generation.load(Acquire) == gen {
            if d.expired() {
                return Err(fail!(
                    "barrier: only {} of {n} CPUs arrived within 30 s",
                    self.arrived.load(Relaxed)
                ));
            }
            crate::arch::cpu_relax();
        }
        Ok(())
    }
}
