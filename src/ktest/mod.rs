//! The in-kernel test framework: test descriptors, the runner, helpers for
//! tests that run on every CPU, and the failure injections. The suites live
//! with what they test (`boot_tests`, `mm::tests`, `walk::tests`); the top
//! of the kernel hands them to [`run_all`].
//!
//! A test runs on the boot CPU (`Scope::Boot`) or on every online CPU at once
//! (`Scope::AllCpus`, each CPU in thread context via `smp::run_on`). The
//! results are KTAP version 1 (crate `ktap`): each suite a subtest, each
//! test one result line; the run ends with `# Totals: ...` and then, printed
//! by the caller, `N passed, N failed`. Every test has a deadline enforced
//! by the decrementer (a hang is a `# TIMEOUT` result and a failure that
//! names the test), and AllCpus tests also by the job timeout that names
//! the CPUs.

mod inject;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use core::sync::atomic::{AtomicPtr, Ordering::*};

use ktap::Directive;
use spin::Mutex;

use crate::sys::config::TestCfg;
use crate::sys::{exit, percpu, smp, time, watchdog};

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

/// A named group of tests: one KTAP subtest.
pub struct Suite {
    pub name: &'static str,
    pub tests: &'static [Test],
}

/// The run's KTAP document (one per boot). The abort hook borrows it when a
/// failure ends the run in the middle of a test.
static KTAP: Mutex<ktap::Writer> = Mutex::new(ktap::Writer::new());
/// The test running now (for the abort hook), or null.
static CURRENT: AtomicPtr<&'static str> = AtomicPtr::new(core::ptr::null_mut());

/// Console sink for the KTAP writer: collects one line and prints it with
/// one console lock hold, so that lines of other CPUs never split it. No
/// allocation: it also runs inside the failure path.
struct Lines {
    buf: [u8; 1024],
    len: usize,
}

impl Lines {
    const fn new() -> Self {
        Lines { buf: [0; 1024], len: 0 }
    }
    fn emit(&mut self, newline: bool) {
        let s = core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?");
        if newline {
            println!("{s}");
        } else {
            print!("{s}");
        }
        self.len = 0;
    }
}

impl Write for Lines {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            if c == '\n' {
                self.emit(true);
                continue;
            }
            let mut b = [0u8; 4];
            let e = c.encode_utf8(&mut b).as_bytes();
            if self.len + e.len() > self.buf.len() {
                self.emit(false);
            }
            self.buf[self.len..self.len + e.len()].copy_from_slice(e);
            self.len += e.len();
        }
        Ok(())
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if self.len > 0 {
            self.emit(true);
        }
    }
}

/// Runs `suites` in order (filtered by `ktest.filter`; an injected failure,
/// if `ktest.inject` asks for one, runs as a last suite `inject`) and
/// prints the results as KTAP version 1: each suite a subtest, each test
/// `ok N name`, `not ok N name` after its reason as `# ` lines, or
/// `ok N name # SKIP why`, then `# Totals: pass:P fail:F skip:S`.
/// Returns (passed, failed); the caller prints `N passed, N failed`.
pub fn run_all(cfg: &TestCfg, suites: &[Suite]) -> (usize, usize) {
    let selected = |t: &Test| cfg.filter.map_or(true, |f| f.split(',').any(|f| t.name.contains(f)));
    let mut plan: Vec<(&'static str, Vec<&'static Test>)> = suites
        .iter()
        .map(|s| (s.name, s.tests.iter().filter(|t| selected(t)).collect::<Vec<_>>()))
        .collect();
    if let Some(t) = inject::test_for(cfg.inject) {
        if selected(t) {
            plan.push(("inject", alloc::vec![t]));
        }
    }
    plan.retain(|(_, tests)| !tests.is_empty());
    let ntests: usize = plan.iter().map(|(_, t)| t.len()).sum();
    println!("ktest: running {ntests} tests on {} cpus", smp::online_mask().count());
    exit::set_abort_hook(on_abort);
    let _ = KTAP.lock().start(&mut Lines::new(), Some(plan.len()));
    let (mut passed, mut failed) = (0, 0);
    for (suite, tests) in plan {
        let _ = KTAP.lock().begin_subtest(&mut Lines::new(), suite, Some(tests.len()));
        for t in tests {
            let start = time::now();
            CURRENT.store(&t.name as *const &str as *mut &str, Release);
            let res = run_one(t);
            CURRENT.store(core::ptr::null_mut(), Release);
            let ms = time::tb_to_ms(time::now() - start);
            let mut k = KTAP.lock();
            let out = &mut Lines::new();
            let _ = match res {
                Ok(()) => {
                    passed += 1;
                    k.diag(out, &alloc::format!("{}: {ms} ms", t.name))
                        .and_then(|_| k.result(out, true, t.name, Directive::None))
                }
                Err(Fail(msg)) if msg.starts_with(SKIP) => {
                    k.result(out, true, t.name, Directive::Skip(&msg[SKIP.len()..]))
                }
                Err(Fail(msg)) => {
                    failed += 1;
                    k.diag(out, &alloc::format!("{}: {ms} ms: {msg}", t.name))
                        .and_then(|_| k.result(out, false, t.name, Directive::None))
                }
            };
        }
        let _ = KTAP.lock().end_subtest(&mut Lines::new());
    }
    let _ = KTAP.lock().finish(&mut Lines::new());
    (passed, failed)
}

/// Test results that the caller computed itself (the stress strategies'
/// verdicts) as one KTAP document: `name`'s results in a subtest, then the
/// totals. Each item is (test name, ok, a `# ` note before its line).
pub fn report_results(suite: &'static str, results: &[(&str, bool, &str)]) {
    let mut k = ktap::Writer::new();
    let out = &mut Lines::new();
    let _ = k.start(out, Some(1));
    let _ = k.begin_subtest(out, suite, Some(results.len()));
    for &(name, ok, note) in results {
        if !note.is_empty() {
            let _ = k.diag(out, note);
        }
        let _ = k.result(out, ok, name, Directive::None);
    }
    let _ = k.finish(out);
}

/// The run is failing (a trap, a panic, the watchdog, a test's deadline):
/// report the running test, if any, before the `FATAL:` line.
fn on_abort(kind: exit::Abort, why: &core::fmt::Arguments) {
    let name = CURRENT.load(Acquire);
    if name.is_null() {
        return;
    }
    // SAFETY: CURRENT only ever holds a pointer to a `&'static str` (a
    // test's name field), or null.
    let name: &str = unsafe { *name };
    // The runner does not hold the writer while a test runs; if some CPU
    // does (it is printing), do not wait for it in the failure path.
    let Some(mut k) = KTAP.try_lock() else { return };
    let out = &mut Lines::new();
    let _ = write!(out, "{:width$}# {name}: {why}\n", "", width = 4 * k.depth());
    let directive = match kind {
        exit::Abort::Timeout => Directive::Timeout("test deadline"),
        exit::Abort::Error => Directive::Error("the run failed during this test"),
    };
    let _ = k.result(out, false, name, directive);
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
