//! Stuck-CPU watchdog and the per-test deadline.
//!
//! Every CPU counts its own progress (`PerCpu::progress`): its decrementer
//! tick (only possible with EE=1), its idle loop, and [`progress`] calls
//! inside long EE=0 loops (walkers, changers, lock-step, litmus). On every
//! tick each CPU checks the next online CPU (a ring, so each CPU has one
//! checker). A CPU is **stuck** when its progress count has not moved for
//! `watchdog.ms` *and* its checker ran at least half the timer ticks it
//! would have in that time: the checker was given the host's time and the
//! target made no progress with it. A host too busy to run the vCPUs at all
//! delays both, and the checker's own ticks do not accumulate, so a slow
//! host is not reported as a stuck CPU. The report names the CPU, its last
//! PC and job, and the checker's tick count.
//!
//! Every CPU's tick also enforces the deadline of the running test: a test
//! past it fails the run as a KTAP `# TIMEOUT`, with a backtrace of where
//! the tick interrupted it when the tick came on the test's own CPU. A stuck CPU's report carries its last
//! timer PC as a backtrace frame (its stack cannot be walked from here).

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};

use super::{exit, percpu, time};

static LIMIT_TB: AtomicU64 = AtomicU64::new(0);
static TEST_DEADLINE_TB: AtomicU64 = AtomicU64::new(0);
static TEST_START_TB: AtomicU64 = AtomicU64::new(0);
static TEST_CPU: AtomicU64 = AtomicU64::new(0);
static TEST_NAME: AtomicPtr<&'static str> = AtomicPtr::new(core::ptr::null_mut());

/// Enables the watchdog with a limit of `ms` milliseconds (0 = off).
pub fn enable(ms: u64) {
    let now = time::now();
    for cpu in 0..percpu::ncpus() {
        let pc = percpu::get(cpu);
        pc.wd_since_tb.store(now, Relaxed);
        pc.wd_since_ticks.store(pc.ticks.load(Relaxed), Relaxed);
        pc.wd_seen.store(u64::MAX, Relaxed);
    }
    LIMIT_TB.store(time::ms(ms), Release);
}

/// Marks progress of the running CPU (call in long loops with EE=0).
#[inline]
pub fn progress() {
    percpu::this().progress.fetch_add(1, Relaxed);
}

/// Sets (Some) or clears (None) the deadline of the running test.
pub fn set_test_deadline(test: Option<(&'static &'static str, u64)>) {
    match test {
        Some((name, ticks)) => {
            let now = time::now();
            TEST_NAME.store(name as *const &str as *mut &str, Relaxed);
            TEST_START_TB.store(now, Relaxed);
            TEST_CPU.store(percpu::cpu_id() as u64, Relaxed);
            TEST_DEADLINE_TB.store(now + ticks, Release);
        }
        None => TEST_DEADLINE_TB.store(0, Release),
    }
}

/// The online CPU after `cpu` in the ring (`cpu` itself if it is alone).
fn next_online(cpu: usize) -> usize {
    let n = percpu::ncpus();
    (1..n).map(|d| (cpu + d) % n).find(|&c| percpu::get(c).online.load(Acquire)).unwrap_or(cpu)
}

/// Decrementer hook, on every CPU; `at` is where the tick interrupted.
pub fn tick(at: exit::Regs) {
    let now = time::now();
    let deadline = TEST_DEADLINE_TB.load(Acquire);
    // The test's own CPU gets the first 500 ms past the deadline to see it
    // (its backtrace shows where the test hung); any other CPU reports it
    // after that (the test's CPU may hang with EE=0 and never tick).
    let runner = TEST_CPU.load(Relaxed);
    let grace = if runner == percpu::cpu_id() as u64 { 0 } else { time::ms(500) };
    if deadline != 0 && now > deadline + grace {
        let name = TEST_NAME.load(Relaxed);
        // SAFETY: TEST_NAME only ever holds a pointer to a `&'static str`
        // (set together with the deadline).
        let name: &str = if name.is_null() { "?" } else { unsafe { *name } };
        let ms = time::tb_to_ms(now - TEST_START_TB.load(Relaxed));
        // If the tick interrupted the hung test on its own CPU, show where.
        if runner == percpu::cpu_id() as u64 {
            exit::backtrace(at, true);
        } else {
            println!("backtrace: none (the test runs on cpu {runner}; its deadline was seen by this cpu)");
        }
        exit::fail_timeout(format_args!(
            "test `{name}` timed out after {ms} ms (hang; caught by cpu {})",
            percpu::cpu_id()
        ));
    }
    let limit = LIMIT_TB.load(Acquire);
    if limit == 0 {
        return;
    }
    let me = percpu::this();
    let target = next_online(me.id());
    if target == me.id() {
        return;
    }
    let pc = percpu::get(target);
    let ticks = me.ticks.load(Relaxed);
    let seen = pc.progress.load(Relaxed);
    if seen != me.wd_seen.load(Relaxed) {
        me.wd_seen.store(seen, Relaxed);
        me.wd_since_tb.store(now, Relaxed);
        me.wd_since_ticks.store(ticks, Relaxed);
        return;
    }
    let stalled = now.saturating_sub(me.wd_since_tb.load(Relaxed));
    let my_ticks = ticks.saturating_sub(me.wd_since_ticks.load(Relaxed));
    let ticks_due = limit / time::TICK_TB;
    if stalled > limit && my_ticks >= ticks_due / 2 {
        let job = pc.job_started_tb.load(Relaxed);
        // The stuck CPU runs with EE=0 and cannot be asked for its stack;
        // its last timer PC is the best there is, symbolized like a frame.
        println!("watchdog: cpu {target}: last pc seen by its timer, as a backtrace frame:");
        exit::backtrace(exit::Regs { pc: pc.last_tick_pc.load(Relaxed), lr: 0, sp: 0 }, false);
        exit::fail(format_args!(
            "watchdog: cpu {target} (PIR {:#x}) made no progress for {} ms (its progress count stayed at {seen} \
             while cpu {} ran {my_ticks} timer ticks); last pc seen by its timer {:#x}, timer ticks {}, {} \
             (reported by cpu {})",
            pc.pir(),
            time::tb_to_ms(stalled),
            me.id(),
            pc.last_tick_pc.load(Relaxed),
            pc.ticks.load(Relaxed),
            if job != 0 { "inside a job" } else { "idle" },
            me.id()
        ));
    }
}
