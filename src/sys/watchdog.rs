//! Stuck-CPU watchdog and the per-test deadline.
//!
//! Every CPU's heartbeat (`PerCpu::heartbeat_tb`) is refreshed by its
//! decrementer tick (only possible with EE=1), its idle loop, and
//! [`progress`] calls inside long EE=0 loops (walkers, changers). On every
//! tick each CPU checks the others: a CPU whose heartbeat is older than
//! `watchdog.ms` is reported with its last PC and job, and the run fails.
//! The boot CPU's tick also enforces the deadline of the running test.

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};

use super::{exit, percpu, time};

static LIMIT_TB: AtomicU64 = AtomicU64::new(0);
static TEST_DEADLINE_TB: AtomicU64 = AtomicU64::new(0);
static TEST_START_TB: AtomicU64 = AtomicU64::new(0);
static TEST_NAME: AtomicPtr<&'static str> = AtomicPtr::new(core::ptr::null_mut());

/// Enables the watchdog with a limit of `ms` milliseconds (0 = off).
pub fn enable(ms: u64) {
    let now = time::now();
    for cpu in 0..percpu::ncpus() {
        percpu::get(cpu).heartbeat_tb.store(now, Relaxed);
    }
    LIMIT_TB.store(time::ms(ms), Release);
}

/// Marks progress of the running CPU (call in long loops with EE=0).
#[inline]
pub fn progress() {
    percpu::this().heartbeat_tb.store(time::now(), Relaxed);
}

/// Sets (Some) or clears (None) the deadline of the running test.
pub fn set_test_deadline(test: Option<(&'static &'static str, u64)>) {
    match test {
        Some((name, ticks)) => {
            let now = time::now();
            TEST_NAME.store(name as *const &str as *mut &str, Relaxed);
            TEST_START_TB.store(now, Relaxed);
            TEST_DEADLINE_TB.store(now + ticks, Release);
        }
        None => TEST_DEADLINE_TB.store(0, Release),
    }
}

/// Decrementer hook, on every CPU.
pub fn tick() {
    let now = time::now();
    let deadline = TEST_DEADLINE_TB.load(Acquire);
    if deadline != 0 && now > deadline {
        let name = TEST_NAME.load(Relaxed);
        // SAFETY: TEST_NAME only ever holds a pointer to a `&'static str`
        // (set together with the deadline).
        let name: &str = if name.is_null() { "?" } else { unsafe { *name } };
        let ms = time::tb_to_ms(now - TEST_START_TB.load(Relaxed));
        exit::fail(format_args!(
            "test `{name}` timed out after {ms} ms (hang; caught by cpu {})",
            percpu::cpu_id()
        ));
    }
    let limit = LIMIT_TB.load(Acquire);
    if limit == 0 {
        return;
    }
    percpu::this().heartbeat_tb.store(now, Relaxed);
    for cpu in 0..percpu::ncpus() {
        let pc = percpu::get(cpu);
        if !pc.online.load(Acquire) {
            continue;
        }
        let hb = pc.heartbeat_tb.load(Relaxed);
        if now > hb && now - hb > limit {
            let job = pc.job_started_tb.load(Relaxed);
            exit::fail(format_args!(
                "watchdog: cpu {cpu} (PIR {:#x}) made no progress for {} ms; last pc seen by its timer {:#x}, \
                 timer ticks {}, {} (reported by cpu {})",
                pc.pir(),
                time::tb_to_ms(now - hb),
                pc.last_tick_pc.load(Relaxed),
                pc.ticks.load(Relaxed),
                if job != 0 { "inside a job" } else { "idle" },
                percpu::cpu_id()
            ));
        }
    }
}
