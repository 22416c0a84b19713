//! SMP services: doorbell IPIs, cross-CPU calls, jobs, the idle loop.
//! (Bringing the threads online is the top layer's `bringup`.)
//!
//! * `call_many(mask, f, arg, wait)` is Linux's `smp_call_function_many`: each
//!   target runs `f(arg)` in its hypervisor-doorbell handler, i.e. only once
//!   it has MSR[EE]=1. Waiting for the acknowledgements is what makes the
//!   `ipi` strategy a barrier against EE=0 walkers.
//! * `run_on(mask, f)` runs a long job on CPUs in *thread* context (their
//!   idle loop, EE=1), e.g. stress workers; the caller runs its own share.
//!
//! Every wait has a timeout that names the CPUs (logical id and PIR) that
//! did not answer and what they were asked to do.

use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

use spin::Once;
use walkproto::CpuMask;

use super::{exit, percpu, time};
use crate::arch;

/// How long `call_many` waits for acknowledgements (bootarg `ipi.timeout_ms`).
static IPI_TIMEOUT_TB: AtomicU64 = AtomicU64::new(time::secs(5));

/// Sets the IPI acknowledgement timeout.
pub fn set_ipi_timeout_ms(ms: u64) {
    IPI_TIMEOUT_TB.store(time::ms(ms), Relaxed);
}

/// One sender→target request cell. The sender owns `func`/`arg`/`req`,
/// the target owns `ack`.
struct CallSlot {
    func: AtomicUsize,
    arg: AtomicU64,
    req: AtomicU64,
    ack: AtomicU64,
}

impl CallSlot {
    const fn new() -> Self {
        CallSlot {
            func: AtomicUsize::new(0),
            arg: AtomicU64::new(0),
            req: AtomicU64::new(0),
            ack: AtomicU64::new(0),
        }
    }
}

/// ncpus × ncpus call slots: slot(target, sender).
static SLOTS: Once<&'static [CallSlot]> = Once::new();
/// IPIs sent / handled, for reports and the benchmark.
pub static IPIS_SENT: AtomicU64 = AtomicU64::new(0);
pub static IPI_CALLS_HANDLED: AtomicU64 = AtomicU64::new(0);

fn slot(target: usize, sender: usize) -> &'static CallSlot {
    let slots = SLOTS.get().expect("smp::init_ipis not called");
    &slots[target * percpu::ncpus() + sender]
}

/// Allocates the call slots (after the heap is up, before secondaries
/// start) and sets the acknowledgement timeout.
pub fn init(ipi_timeout_ms: u64) {
    set_ipi_timeout_ms(ipi_timeout_ms);
    let n = percpu::ncpus();
    SLOTS.call_once(|| {
        let v: alloc::vec::Vec<CallSlot> = (0..n * n).map(|_| CallSlot::new()).collect();
        alloc::vec::Vec::leak(v)
    });
}

/// CPUs that did not acknowledge in time.
#[derive(Clone, Copy, Debug)]
pub struct IpiTimeout {
    pub missing: CpuMask,
    pub what: &'static str,
    pub waited_tb: u64,
}

impl fmt::Display for IpiTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPI timeout: {} not acknowledged after {} ms by",
            self.what,
            time::tb_to_ms(self.waited_tb)
        )?;
        write_missing(f, self.missing)
    }
}

/// Names each CPU in `missing` with its PIR and the last PC its timer tick
/// saw, so a timeout says where the stuck CPU was.
fn write_missing(f: &mut fmt::Formatter<'_>, missing: CpuMask) -> fmt::Result {
    for cpu in missing.iter() {
        let pc = percpu::get(cpu);
        write!(f, " cpu {} (PIR {:#x}, last pc {:#x})", cpu, pc.pir(), pc.last_tick_pc.load(Relaxed))?;
    }
    Ok(())
}

/// Result of a `call_many`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallStats {
    pub sent: u32,
}

/// Runs `f(arg)` on every CPU in `mask` except this one, from their doorbell
/// handlers. With `wait`, returns once all have run it (EE must be on here so
/// that other CPUs' calls to us are served meanwhile).
pub fn call_many(
    mask: CpuMask,
    f: fn(u64),
    arg: u64,
    wait: bool,
    what: &'static str,
) -> Result<CallStats, IpiTimeout> {
    let me = percpu::cpu_id();
    let start = time::now();
    let timeout = IPI_TIMEOUT_TB.load(Relaxed);
    let mut sent = 0;
    let mut pending = CpuMask::new();
    for cpu in mask.iter().filter(|&c| c != me && c < percpu::ncpus()) {
        let s = slot(cpu, me);
        let req = s.req.load(Relaxed);
        // A previous no-wait request still in flight: it must be served
        // before the slot can take a new function.
        if s.ack.load(Acquire) != req {
            let mut single = CpuMask::new();
            single.set(cpu);
            wait_acks(single, me, start, timeout, what)?;
        }
        s.func.store(f as usize, Relaxed);
        s.arg.store(arg, Relaxed);
        s.req.store(req + 1, Release);
        // SAFETY: every online CPU has its doorbell vector installed; msgsnd
        // is preceded by sync inside the wrapper so the slot is visible first.
        unsafe { arch::msgsnd_hv(percpu::get(cpu).pir()) };
        pending.set(cpu);
        sent += 1;
    }
    IPIS_SENT.fetch_add(sent as u64, Relaxed);
    if wait && sent > 0 {
        if !arch::irqs_enabled() && !exit::failing() {
            // A waiter with EE=0 could deadlock against a CPU calling it.
            exit::fail(format_args!("call_many({what}) waiting with MSR[EE]=0 on cpu {me}"));
        }
        wait_acks(pending, me, start, timeout, what)?;
    }
    Ok(CallStats { sent })
}

fn wait_acks(
    mut pending: CpuMask,
    me: usize,
    start: u64,
    timeout: u64,
    what: &'static str,
) -> Result<(), IpiTimeout> {
    loop {
        for cpu in pending.iter() {
            let s = slot(cpu, me);
            if s.ack.load(Acquire) == s.req.load(Relaxed) {
                pending.clear(cpu);
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let waited = time::now().wrapping_sub(start);
        if waited > timeout {
            return Err(IpiTimeout { missing: pending, what, waited_tb: waited });
        }
        arch::cpu_relax();
    }
}

/// Hypervisor doorbell (0xe80) handler: serve every pending request.
pub fn doorbell_interrupt() {
    arch::msgclr_hv();
    let pc = percpu::this();
    pc.doorbells.fetch_add(1, Relaxed);
    let me = pc.id();
    for sender in 0..percpu::ncpus() {
        let s = slot(me, sender);
        let req = s.req.load(Acquire);
        if req == s.ack.load(Relaxed) {
            continue;
        }
        let func = s.func.load(Relaxed);
        let arg = s.arg.load(Relaxed);
        // SAFETY: `call_many` stores only `fn(u64)` pointers in `func`, and
        // publishes them with the Release store of `req` we acquired.
        let f: fn(u64) = unsafe { core::mem::transmute::<usize, fn(u64)>(func) };
        f(arg);
        IPI_CALLS_HANDLED.fetch_add(1, Relaxed);
        s.ack.store(req, Release);
    }
}

/// True when every call this CPU sent to the CPUs in `mask` was acknowledged.
pub fn acked_all(mask: CpuMask) -> bool {
    let me = percpu::cpu_id();
    mask.iter().all(|cpu| {
        let s = slot(cpu, me);
        s.ack.load(Acquire) == s.req.load(Relaxed)
    })
}

/// An empty IPI function: acknowledging it proves the target took an interrupt.
pub fn ipi_nop(_: u64) {}

/// The lowest-numbered online CPU other than this one, if any (for work
/// that needs a second CPU).
pub fn other_online_cpu() -> Option<usize> {
    let me = percpu::cpu_id();
    online_mask().iter().find(|&c| c != me)
}

/// All CPUs that are online. (Relaxed loads and one acquire fence: an
/// acquire load is `isync` on Power, which QEMU turns into the end of a
/// translation block — a host-side full barrier that changer paths must
/// not contain, or store-buffering races become invisible.)
pub fn online_mask() -> CpuMask {
    let mut m = CpuMask::new();
    for cpu in 0..percpu::ncpus() {
        if percpu::get(cpu).online.load(Relaxed) {
            m.set(cpu);
        }
    }
    core::sync::atomic::fence(Acquire);
    m
}

// ---------------------------------------------------------------------------
// Jobs: long work in thread context on other CPUs.

/// A job reference parked in a CPU's job slot while it runs.
struct JobRef<'a> {
    f: &'a (dyn Fn(usize) + Sync),
}

struct JobSlot {
    job: AtomicUsize,
    seq: AtomicU64,
    done: AtomicU64,
}

static JOBS: [JobSlot; percpu::MAX_CPUS] =
    [const { JobSlot { job: AtomicUsize::new(0), seq: AtomicU64::new(0), done: AtomicU64::new(0) } };
        percpu::MAX_CPUS];

/// CPUs that did not finish a job in time.
#[derive(Clone, Copy, Debug)]
pub struct JobTimeout {
    pub missing: CpuMask,
    pub what: &'static str,
    pub waited_tb: u64,
}

impl fmt::Display for JobTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job timeout: `{}` not finished after {} ms on",
            self.what,
            time::tb_to_ms(self.waited_tb)
        )?;
        write_missing(f, self.missing)
    }
}

/// Runs `f(cpu)` on every online CPU in `mask` (this one included, inline)
/// and waits up to `timeout_tb` for all of them. A CPU that does not finish
/// in time fails the run (naming it): the job borrows this stack frame, so
/// returning early is not an option.
pub fn run_on(mask: CpuMask, timeout_tb: u64, what: &'static str, f: &(dyn Fn(usize) + Sync)) {
    let me = percpu::cpu_id();
    run_on_then(mask, timeout_tb, what, f, || {
        if mask.test(me) {
            let pc = percpu::this();
            pc.job_started_tb.store(time::now(), Relaxed);
            f(me);
            pc.job_started_tb.store(0, Relaxed);
        }
    });
}

/// Posts `f` to every online CPU in `mask` other than this one, runs `local`
/// here, then waits as [`run_on`] does.
pub fn run_on_then(
    mask: CpuMask,
    timeout_tb: u64,
    what: &'static str,
    f: &(dyn Fn(usize) + Sync),
    local: impl FnOnce(),
) {
    let me = percpu::cpu_id();
    let job = JobRef { f };
    let mut pending = CpuMask::new();
    for cpu in mask.iter().filter(|&c| c != me && percpu::get(c).online.load(Acquire)) {
        let js = &JOBS[cpu];
        js.job.store(&job as *const JobRef as usize, Relaxed);
        js.seq.fetch_add(1, Release);
        // SAFETY: the target is online, so its doorbell vector is installed;
        // the doorbell only wakes it from `stop` (no call slot is used).
        unsafe { arch::msgsnd_hv(percpu::get(cpu).pir()) };
        pending.set(cpu);
    }
    let start = time::now();
    local();
    loop {
        for cpu in pending.iter() {
            let js = &JOBS[cpu];
            if js.done.load(Acquire) == js.seq.load(Relaxed) {
                pending.clear(cpu);
            }
        }
        if pending.is_empty() {
            return;
        }
        let waited = time::now().wrapping_sub(start);
        if waited > timeout_tb {
            let err = JobTimeout { missing: pending, what, waited_tb: waited };
            exit::fail(format_args!("{err}"));
        }
        arch::cpu_relax();
    }
}

/// Runs a pending job, if any; returns whether one ran. Called from idle loops.
fn poll_job(cpu: usize) -> bool {
    let js = &JOBS[cpu];
    let seq = js.seq.load(Acquire);
    if seq == js.done.load(Relaxed) {
        return false;
    }
    let ptr = js.job.load(Relaxed) as *const JobRef;
    let pc = percpu::this();
    pc.job_started_tb.store(time::now(), Relaxed);
    // SAFETY: `run_on` stored a pointer to a JobRef on its stack and does not
    // return (it fails the run instead) until `done` reaches `seq`.
    let job = unsafe { &*ptr };
    (job.f)(cpu);
    pc.job_started_tb.store(0, Relaxed);
    js.done.store(seq, Release);
    true
}

/// Per-iteration idle work: heartbeat and jobs; sleeps in
/// `stop` (EE=0, so no wake-up is lost) when there is nothing to do. A new
/// job comes with a doorbell, the decrementer wakes it every tick.
pub fn idle_once(cpu: usize) {
    percpu::this().progress.fetch_add(1, Relaxed);
    if poll_job(cpu) {
        return;
    }
    let was = arch::irq_save();
    if !job_pending(cpu) {
        arch::stop_lite();
    }
    arch::irq_restore(was);
}

fn job_pending(cpu: usize) -> bool {
    let js = &JOBS[cpu];
    js.seq.load(Acquire) != js.done.load(Relaxed)
}

/// The idle loop of secondary CPUs: interrupts on, serve jobs forever.
pub fn idle_loop() -> ! {
    let cpu = percpu::cpu_id();
    loop {
        idle_once(cpu);
    }
}
