//! Injected failures (`ktest.inject=`): each must make the run fail with a
//! message naming its cause. The host test command checks all of them.

use walkproto::CpuMask;

use super::{Fail, Outcome, Scope, Test};
use crate::{arch, fail};
use crate::sys::config::Inject;
use crate::sys::{percpu, smp, time};

static FAIL: Test = Test { name: "inject_fail", scope: Scope::Boot, timeout_ms: 1000, run: inject_fail };
static HANG: Test = Test { name: "inject_hang", scope: Scope::Boot, timeout_ms: 1000, run: inject_hang };
static EXCEPTION: Test =
    Test { name: "inject_exception", scope: Scope::Boot, timeout_ms: 1000, run: inject_exception };
static IPI_TIMEOUT: Test =
    Test { name: "inject_ipi_timeout", scope: Scope::Boot, timeout_ms: 30000, run: inject_ipi_timeout };
static STALL: Test = Test { name: "inject_stall", scope: Scope::Boot, timeout_ms: 60000, run: inject_stall };

/// The test that injects `what`, if any.
pub fn test_for(what: Inject) -> Option<&'static Test> {
    match what {
        Inject::Fail => Some(&FAIL),
        Inject::Hang => Some(&HANG),
        Inject::Exception => Some(&EXCEPTION),
        Inject::IpiTimeout => Some(&IPI_TIMEOUT),
        Inject::Stall => Some(&STALL),
        Inject::None => None,
    }
}

/// Picks the victim of an injection, a CPU other than this (the boot) one,
/// and names it: skiboot picks the boot CPU differently from run to run, and
/// the host check compares this line with the CPU the failure message names.
fn victim(what: &str) -> Result<usize, Fail> {
    let Some(target) = smp::other_online_cpu() else {
        return Err(fail!("ktest.inject={what} needs at least 2 CPUs"));
    };
    crate::println!("inject: {what} target is cpu {target} (PIR {:#x})", percpu::get(target).pir());
    Ok(target)
}

fn inject_fail(_: usize) -> Outcome {
    Err(fail!("injected failure (ktest.inject=fail)"))
}

fn inject_hang(_: usize) -> Outcome {
    // EE stays on: the decrementer-driven test deadline must catch this.
    loop {
        arch::cpu_relax();
    }
}

fn inject_exception(_: usize) -> Outcome {
    // An all-zero word is not a valid instruction: hypervisor emulation
    // assistance interrupt (0xe40), which must be reported and fail the run.
    // SAFETY: deliberately raises an exception; the handler never returns here.
    unsafe { arch::illegal_instruction() };
    Err(fail!("illegal instruction did not trap"))
}

fn inject_ipi_timeout(_: usize) -> Outcome {
    let target = victim("ipi-timeout")?;
    let mut mask = CpuMask::new();
    mask.set(target);
    let hold = time::ms(crate::sys::config::get().smp.ipi_timeout_ms + 2000);
    let job = |cpu: usize| {
        if cpu == target {
            let was = arch::irq_save();
            time::delay_tb(hold);
            arch::irq_restore(was);
        }
    };
    let mut res = Ok(());
    smp::run_on_then(mask, hold + time::secs(30), "ee-off hold", &job, || {
        time::delay_tb(time::ms(10));
        res = smp::call_many(mask, smp::ipi_nop, 0, true, "inject_ipi_timeout").map(|_| ());
    });
    res.map_err(|e| fail!("{e}"))
}

fn inject_stall(_: usize) -> Outcome {
    let target = victim("stall")?;
    let mut mask = CpuMask::new();
    mask.set(target);
    // The target spins forever with EE=0 and no progress marks: the
    // watchdog (on another CPU) must report it.
    let job = |cpu: usize| {
        if cpu == target {
            arch::irq_save();
            loop {
                arch::cpu_relax();
            }
        }
    };
    smp::run_on(mask, time::secs(55), "inject_stall", &job);
    Err(fail!("stalled cpu {target} was not caught by the watchdog"))
}
