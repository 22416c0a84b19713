//! Bringing the CPUs up: the CPU list from the device tree, each CPU's
//! per-CPU area, its machine setup (LPCR, MMU on, decrementer, EE), and
//! starting the secondary threads through OPAL.

use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::Ordering::*;

use devtree::DeviceTree;
use walkproto::CpuMask;

use crate::mm::{self, frames};
use crate::sys::{config::Smp, exit, opal, percpu, smp, time, trap};
use crate::arch;

/// Builds the CPU list (boot thread first in its FDT position), honouring
/// `cpus.max`, and activates the boot CPU's per-CPU area.
pub fn init_cpus(tree: &DeviceTree, cfg: &Smp) {
    let boot_pir = arch::pir();
    let all: Vec<u32> = tree.threads.iter().map(|t| t.pir).collect();
    if all.len() > percpu::MAX_CPUS {
        exit::fail(format_args!(
            "device tree lists {} CPU threads; this kernel supports at most {} (use cpus.max=)",
            all.len(),
            percpu::MAX_CPUS
        ));
    }
    if !all.contains(&boot_pir) {
        exit::fail(format_args!("boot thread PIR {boot_pir:#x} is not among the FDT's CPU threads"));
    }
    // The boot thread plus the first `cpus.max - 1` others, in FDT order.
    let max = cfg.cpus_max.unwrap_or(all.len());
    let others: Vec<u32> = all.iter().copied().filter(|&p| p != boot_pir).take(max - 1).collect();
    let pirs: Vec<u32> = all.iter().copied().filter(|p| *p == boot_pir || others.contains(p)).collect();
    let me = pirs.iter().position(|&p| p == boot_pir).expect("boot PIR is in the list");
    percpu::init_ids(&pirs, me);
    activate(me);
}

/// Makes `cpu`'s per-CPU area the running CPU's (r13, HSPRG0, trap entry,
/// TOC). First thing on every CPU, interrupts off.
fn activate(cpu: usize) {
    // SAFETY: called once per CPU, on that CPU, before it enables interrupts
    // (init_cpus on the boot CPU, secondary_main on the others).
    unsafe { percpu::activate(cpu, trap::trap_entry_addr(), arch::toc()) };
}

/// Per-CPU machine setup, on every CPU before it takes interrupts: LPCR,
/// radix translation on, machine checks on, decrementer armed, EE on.
pub fn cpu_setup() {
    let lpcr = arch::mfspr::<{ arch::SPR_LPCR }>();
    // No hypervisor-decrementer or virtualization interrupts; externals (unused)
    // go to the hypervisor (LPES=0). AIL stays 0 until the MMU is on.
    let lpcr = lpcr & !(arch::LPCR_HDICE | arch::LPCR_HVICE | arch::LPCR_LPES | arch::LPCR_AIL);
    // Whatever ran before us: skiboot leaves 0x0040000001d0a000; Linux
    // handing over through kexec leaves LD (a 56-bit decrementer), HEIC,
    // HVEE and more PECE wake-ups set (0x0040400001d2f010). Reset those to
    // skiboot's state, so that the kernel runs the same under both.
    let reset = (lpcr & !(arch::LPCR_LD | arch::LPCR_HEIC | arch::LPCR_HVEE | arch::LPCR_PECE))
        | arch::LPCR_PECE_SKIBOOT;
    if reset != lpcr && percpu::cpu_id() == percpu::boot_cpu() {
        println!("LPCR: reset {lpcr:#018x} -> {reset:#018x} (LD, HEIC, HVEE, PECE as skiboot leaves them)");
    }
    let lpcr = reset;
    // SAFETY: the bits cleared only stop interrupt sources we do not use and
    // keep interrupt delivery in real mode at the vectors we installed.
    unsafe { arch::mtspr::<{ arch::SPR_LPCR }>(lpcr) };
    arch::isync();
    mm::mmu::enable_on_this_cpu();
    time::arm_decrementer();
    // SAFETY: vectors and this CPU's per-CPU area are set up (callers run
    // after activate and trap::install_vectors), so machine checks and
    // external-class interrupts can be taken.
    unsafe {
        arch::mtmsrd(arch::mfmsr() | arch::MSR_ME | arch::MSR_RI);
        arch::mtmsrd_ee_ri(arch::MSR_EE | arch::MSR_RI);
    }
}

extern "C" {
    fn secondary_entry();
    static mut SECONDARY_STACKS: [u64; 4096];
}

/// Bytes of kernel stack per secondary CPU.
/// (Backtraces bound their walk by it: `exit::SECONDARY_STACK_BYTES`.)
pub const STACK_SIZE: u64 = crate::sys::exit::SECONDARY_STACK_BYTES;

/// Starts every other thread in the CPU list and prints `cpus online: K/N`
/// and the time from kernel entry; fails the run naming the threads that did
/// not come online within `smp.timeout_ms`.
pub fn start_secondaries(cfg: &Smp, entry_tb: u64) {
    let n = percpu::ncpus();
    let timeout = time::ms(cfg.start_timeout_ms);
    let me = percpu::cpu_id();
    percpu::get(me).online.store(true, Release);
    let entry_real = mm::real_addr(secondary_entry as *const () as u64);
    for cpu in (0..n).filter(|&c| c != me) {
        let pc = percpu::get(cpu);
        let stack = frames::alloc_bytes(STACK_SIZE, STACK_SIZE)
            .unwrap_or_else(|e| exit::fail(format_args!("no memory for the stack of cpu {cpu}: {e}")));
        let top = stack + STACK_SIZE;
        pc.stack_top.store(top, Relaxed);
        let idx = (pc.pir() & 0xfff) as usize;
        // SAFETY: SECONDARY_STACKS is read only by secondary_entry of the
        // thread whose PIR indexes it; we write each slot once before starting it.
        unsafe { (*core::ptr::addr_of_mut!(SECONDARY_STACKS))[idx] = top };
        arch::sync();
        if let Err(e) = opal::start_cpu(pc.pir(), entry_real) {
            println!("smp: OPAL could not start cpu {cpu} (PIR {:#x}): {e}", pc.pir());
        }
    }
    let deadline = time::Deadline::after(timeout);
    let missing = loop {
        let online = smp::online_mask();
        let missing: CpuMask = (0..n).filter(|&c| !online.test(c)).collect();
        if missing.is_empty() || deadline.expired() {
            break missing;
        }
        arch::cpu_relax();
    };
    let k = n - missing.count();
    println!("cpus online: {k}/{n}");
    if !missing.is_empty() {
        let mut msg = alloc::string::String::new();
        for cpu in missing.iter() {
            let _ = write!(msg, " cpu {cpu} (PIR {:#x})", percpu::get(cpu).pir());
        }
        exit::fail(format_args!(
            "fewer CPUs started than listed: {k}/{n} online after {} ms; missing:{msg}",
            time::tb_to_ms(timeout)
        ));
    }
    let ticks = time::now() - entry_tb;
    println!("boot: kernel entry -> all cpus online: {ticks} timebase ticks ({} us)", time::tb_to_us(ticks));
}

/// Rust entry of a secondary thread (from boot/entry.s), on its own stack.
#[no_mangle]
extern "C" fn secondary_main(pir: u64) -> ! {
    let Some(cpu) = percpu::cpu_by_pir(pir as u32) else {
        exit::fail(format_args!("thread with PIR {pir:#x} started but is not in the CPU list"));
    };
    activate(cpu);
    cpu_setup();
    percpu::get(cpu).online.store(true, Release);
    smp::idle_loop();
}
