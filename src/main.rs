//! A bare-metal ppc64le kernel that tests lockless page-table walkers against
//! THP split/collapse/teardown on real radix page tables (QEMU powernv, POWER9).
//!
//! Boot order (this file, top to bottom): firmware hand-off → device tree →
//! bootargs → per-CPU areas → memory (frames, heap) → interrupts → secondary
//! threads → radix MMU → the selected run (tests, stress, benchmark).
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use core::arch::global_asm;

#[macro_use]
mod console;
mod arch;
mod config;
mod exit;
mod ktest;
mod mm;
mod opal;
mod percpu;
mod platform;
mod realmode;
mod reloc;
mod report;
mod smp;
mod time;
mod trap;
mod walk;
mod watchdog;

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
    opal::set_entry(opal_base, opal_entry);
    let dt = platform::read_device_tree(fdt);
    println!("\nwalker-testbed: booting on {} (image at {:#x}, FDT at {:#x})", dt.model, load_phys, fdt);
    if bad_relocs != 0 {
        exit::fail(format_args!("image has {bad_relocs} relocations other than R_PPC64_RELATIVE"));
    }
    let cfg = config::init(dt.bootargs).unwrap_or_else(|e| exit::fail(format_args!("{e}")));
    exit::set_mode(cfg.choice("exit", "qemu"));
    phases.mark("device tree + bootargs");
    mm::frames::init(&dt, load_phys, cfg);
    reloc::maybe_move(cfg, fdt, load_phys, handoff);
    platform::init_cpus(&dt, cfg);
    phases.mark("frames + heap + per-cpu");
    platform::init_interrupts(load_phys);
    phases.mark("OPAL reinit + vectors");
    mm::mmu::init(&dt);
    mm::tlb::configure(
        if cfg.choice("mmu.flush", "tlbie") == "ipi" { mm::tlb::Mode::Ipi } else { mm::tlb::Mode::Tlbie },
        cfg.args.bool_or("mmu.p9_errata", true),
    );
    phases.mark("radix tables");
    cpu_setup();
    phases.mark("boot cpu setup (MMU on)");
    smp::init_ipis();
    smp::set_ipi_timeout_ms(cfg.u64("ipi.timeout_ms", 5000));
    platform::bring_up_secondaries(cfg, entry_tb);
    phases.mark("secondaries online");
    watchdog::enable(cfg.u64("watchdog.ms", 10_000));
    walk::REGISTRY.set_store_delay_emulation(cfg.choice("walk.weakmem", "off") == "emulate");
    phases.print();
    report::boot_report(&dt);
    run(cfg)
}

/// Per-CPU machine setup, on every CPU before it takes interrupts: LPCR,
/// radix translation on, machine checks on, decrementer armed, EE on.
pub fn cpu_setup() {
    let lpcr = arch::mfspr::<{ arch::SPR_LPCR }>();
    // No hypervisor-decrementer or virtualization interrupts; externals (unused)
    // go to the hypervisor (LPES=0). AIL stays 0 until the MMU is on.
    let lpcr = lpcr & !(arch::LPCR_HDICE | arch::LPCR_HVICE | arch::LPCR_LPES | arch::LPCR_AIL);
    // SAFETY: the bits cleared only stop interrupt sources we do not use and
    // keep interrupt delivery in real mode at the vectors we installed.
    unsafe { arch::mtspr::<{ arch::SPR_LPCR }>(lpcr) };
    arch::isync();
    mm::mmu::enable_on_this_cpu();
    time::arm_decrementer();
    // SAFETY: vectors and this CPU's per-CPU area are set up (callers run
    // after percpu::activate and trap::install_vectors), so machine checks
    // and external-class interrupts can be taken.
    unsafe {
        arch::mtmsrd(arch::mfmsr() | arch::MSR_ME | arch::MSR_RI);
        arch::mtmsrd_ee_ri(arch::MSR_EE | arch::MSR_RI);
    }
}

/// Runs what `run=` asked for, then powers off (or fails).
fn run(cfg: &config::Config) -> ! {
    match cfg.choice("run", "main") {
        "boot" => exit::success(),
        "test" => {
            let (passed, failed) = ktest::run_all();
            println!("{passed} passed, {failed} failed");
            if failed == 0 {
                exit::success()
            } else {
                exit::fail(format_args!("{failed} test(s) failed"))
            }
        }
        "stress" => walk::stress::run_cli(cfg),
        "bench" => walk::bench::run_cli(cfg),
        _ => walk::stress::run_main_job(cfg),
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    exit::fail(format_args!("panic on cpu {}: {}", current_cpu_for_panic(), info))
}

fn current_cpu_for_panic() -> usize {
    if arch::r13() == 0 {
        0
    } else {
        percpu::cpu_id()
    }
}
