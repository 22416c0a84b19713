//! A bare-metal ppc64le kernel that tests lockless page-table walkers against
//! THP split/collapse/teardown on real radix page tables (QEMU powernv, POWER9).
//!
//! `kernel_entry` below is the boot order, one step per line. The layers,
//! each importing only from those below it:
//!
//! ```text
//! main, platform, bringup, report, reloc   the top: boot order, run dispatch
//! walk                                     walkers, changers, strategies, stress, benchmark
//! mm                                       frames, page tables, MMU, TLB flushes, address spaces
//! ktest                                    the in-kernel test framework (+ boot tests)
//! sys                                      console, config, per-CPU, time, OPAL, traps, IPIs, exit
//! arch                                     one wrapper per instruction / SPR (the only inline asm)
//! ```
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use core::arch::global_asm;

#[macro_use]
mod sys;
mod arch;
mod boot_tests;
mod bringup;
mod ktest;
mod mm;
mod platform;
mod reloc;
mod report;
mod walk;

use sys::config::{self, Config, RunMode};
use sys::{exit, opal, percpu, smp, time, watchdog};

global_asm!(
    concat!(
        include_str!("../boot/macros.s"),
        include_str!("../boot/vectors.s"),
        include_str!("../boot/entry.s"),
        include_str!("../boot/opal.s"),
        include_str!("../boot/trap.s"),
        include_str!("../boot/realmode.s"),
        include_str!("../boot/probe.s"),
    ),
    options(raw)
);

/// Boot CPU entry from boot/entry.s: relocated, BSS zeroed, on the boot stack,
/// real mode, EE=0.
#[no_mangle]
extern "C" fn kernel_entry(
    fdt: u64,
    opal_base: u64,
    opal_entry: u64,
    load_phys: u64,
    bad_relocs: u64,
    handoff: u64,
) -> ! {
    let entry_tb = time::now();
    let mut phases = report::Phases::new(entry_tb);
    opal::set_entry(opal_base, opal_entry); // firmware calls (console) work from here
    let dt = platform::read_device_tree(fdt); // the FDT, validated; a bad one fails the run
    report::banner(&dt, load_phys, bad_relocs); // first line; refuses foreign relocations
    let cfg = config::init(dt.bootargs).unwrap_or_else(|e| exit::fail(format_args!("{e}"))); // typed bootargs
    exit::set_mode(cfg.exit); // how success and failure end the run
    phases.mark("device tree + bootargs");
    mm::frames::init(&dt.tree, load_phys, &cfg.mem); // frame allocator and heap, honouring reservations
    reloc::maybe_move(&cfg.reloc, fdt, load_phys, handoff); // relocation test: re-enter from a copy
    bringup::init_cpus(&dt.tree, &cfg.smp); // CPU list; the boot CPU's per-CPU area
    phases.mark("frames + heap + per-cpu");
    platform::init_interrupts(load_phys); // OPAL: LE interrupts + radix on every thread; our vectors
    phases.mark("OPAL reinit + vectors");
    mm::mmu::init(&dt.tree); // partition and process tables, the linear map
    mm::tlb::init(&cfg.mmu); // flush mode (tlbie or IPI + tlbiel), POWER9 errata fixups
    mm::shadow::init(cfg.mmu.model, percpu::ncpus(), mm::pgtable::GEOM, mm::tlb::TLB_SETS); // the POWER9 TLB/walk-cache model checks every free
    phases.mark("radix tables");
    bringup::cpu_setup(); // boot CPU: LPCR, MMU on, decrementer, EE on
    phases.mark("boot cpu setup (MMU on)");
    smp::init(cfg.smp.ipi_timeout_ms); // IPI call slots and their timeout
    bringup::start_secondaries(&cfg.smp, entry_tb); // every other thread online, or fail naming it
    phases.mark("secondaries online");
    watchdog::enable(cfg.smp.watchdog_ms); // stuck-CPU watchdog on every tick
    walk::configure(&cfg.walk, cfg.run.seed); // the walker registry's settings
    phases.print();
    report::boot_report(&dt);
    run(cfg)
}

/// Runs what `run=` asked for, then powers off (or fails).
fn run(cfg: &'static Config<'static>) -> ! {
    match cfg.run.mode {
        RunMode::Boot => exit::success(),
        RunMode::Test => {
            let suites = [
                ktest::Suite { name: "boot", tests: boot_tests::TESTS },
                ktest::Suite { name: "mm", tests: mm::tests::TESTS },
                ktest::Suite { name: "walk", tests: walk::tests::TESTS },
            ];
            let (passed, failed) = ktest::run_all(&cfg.test, &suites);
            println!("{passed} passed, {failed} failed");
            if failed == 0 {
                exit::success()
            } else {
                exit::fail(format_args!("{failed} test(s) failed"))
            }
        }
        RunMode::Stress => walk::cli::stress(cfg),
        RunMode::Bench => walk::bench::run(cfg),
        RunMode::Main => walk::cli::main_job(cfg),
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let cpu = if arch::r13() == 0 { 0 } else { percpu::cpu_id() };
    println!("panic on cpu {cpu}: {info}");
    exit::backtrace_here();
    exit::fail(format_args!("panic on cpu {cpu}: {info}"))
}
