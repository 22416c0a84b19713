//! Platform bring-up: device tree, CPU list, interrupts, secondary threads.

use alloc::vec::Vec;

use devtree::DeviceTree;

use crate::{arch, config::Config, exit, mm, opal, percpu, smp, time, trap};

/// What the rest of the kernel needs from the device tree.
pub struct BootDt {
    pub tree: DeviceTree<'static>,
    pub fdt_phys: u64,
    pub fdt_size: u64,
    pub bootargs: &'static str,
    pub model: &'static str,
}

/// Validates and parses the FDT at real address `fdt`; fails the run with a
/// message naming the problem if it is unusable.
pub fn read_device_tree(fdt: u64) -> BootDt {
    if fdt == 0 || fdt & 7 != 0 {
        early_fail(format_args!("bad FDT pointer {fdt:#x} from firmware"));
    }
    let va = mm::phys_to_virt(fdt);
    // SAFETY: the firmware hands us a device tree at `fdt`; its header is
    // 40 bytes, read only after checking the pointer is non-null and aligned.
    let head = unsafe { core::slice::from_raw_parts(va as *const u8, 40) };
    let size =
        devtree::header_total_size(head).unwrap_or_else(|e| early_fail(format_args!("FDT at {fdt:#x}: {e}")));
    // SAFETY: the header says the blob is `size` bytes long (validated range);
    // firmware memory holding it stays reserved for the whole run.
    let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(va as *const u8, size) };
    let tree = devtree::parse(blob, fdt).unwrap_or_else(|e| early_fail(format_args!("FDT at {fdt:#x}: {e}")));
    if !opal::available() {
        match tree.opal {
            Some(o) => opal::set_entry(o.base, o.entry),
            None => early_fail(format_args!("no OPAL entry in r8/r9 or /ibm,opal")),
        }
    }
    let bootargs = tree.bootargs;
    let model = tree.model.unwrap_or("unknown machine");
    BootDt { tree, fdt_phys: fdt, fdt_size: size as u64, bootargs, model }
}

/// Failure before the console may work: try to print, then stop.
fn early_fail(why: core::fmt::Arguments) -> ! {
    exit::fail(why)
}

/// Builds the CPU list (boot thread first in its FDT position), honouring
/// `cpus.max`, and activates the boot CPU's per-CPU area.
pub fn init_cpus(dt: &BootDt, cfg: &Config) {
    let boot_pir = arch::pir();
    let all: Vec<u32> = dt.tree.threads.iter().map(|t| t.pir).collect();
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
    let max = cfg.u64("cpus.max", all.len() as u64) as usize;
    let others: Vec<u32> = all.iter().copied().filter(|&p| p != boot_pir).take(max - 1).collect();
    let pirs: Vec<u32> = all.iter().copied().filter(|p| *p == boot_pir || others.contains(p)).collect();
    percpu::init_ids(&pirs);
    let me = percpu::cpu_by_pir(boot_pir).expect("boot PIR is in the list");
    BOOT_CPU.store(me, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: first use of the boot CPU's area, interrupts off.
    unsafe { percpu::activate(me, trap::trap_entry_addr(), arch::toc()) };
}

static BOOT_CPU: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Logical id of the boot CPU.
pub fn boot_cpu() -> usize {
    BOOT_CPU.load(core::sync::atomic::Ordering::Relaxed)
}

/// Little-endian interrupts and radix for every thread (OPAL), then our vectors.
pub fn init_interrupts(load_phys: u64) {
    for t in
        [opal::Token::ReinitCpus, opal::Token::StartCpu, opal::Token::ConsoleWrite, opal::Token::CecPowerDown]
    {
        if !opal::has_token(t) {
            exit::fail(format_args!(
                "firmware lacks OPAL call {t:?} (token {}); this kernel needs it",
                t as u64
            ));
        }
    }
    // One call for both (each REINIT_CPUS rendezvouses every thread in OPAL
    // and flushes all TLBs); firmware without MMU_RADIX gets HILE alone.
    if let Err(e) = opal::reinit_cpus(opal::REINIT_HILE_LE | opal::REINIT_MMU_RADIX) {
        println!("note: OPAL_REINIT_CPUS(HILE_LE|MMU_RADIX) returned {}; retrying with HILE_LE only", e.rc);
        if let Err(e) = opal::reinit_cpus(opal::REINIT_HILE_LE) {
            exit::fail(format_args!("cannot switch interrupts to little-endian: {e}"));
        }
    }
    time::quiet_decrementer();
    // SAFETY: EE and ME are off; physical 0..0x8000 is reserved by mm::frames.
    unsafe { trap::install_vectors(load_phys) };
}

/// Starts the other threads and prints `cpus online: K/N`; fails the run if
/// some thread did not come online in time.
pub fn bring_up_secondaries(cfg: &Config, entry_tb: u64) {
    let n = percpu::ncpus();
    let timeout = time::ms(cfg.u64("smp.timeout_ms", 5000));
    let res = smp::start_secondaries(timeout);
    let ticks = time::now() - entry_tb;
    match res {
        Ok(k) => {
            println!("cpus online: {k}/{n}");
            println!(
                "boot: kernel entry -> all cpus online: {ticks} timebase ticks ({} us)",
                time::tb_to_us(ticks)
            );
        }
        Err((k, missing)) => {
            println!("cpus online: {k}/{n}");
            let mut msg = alloc::string::String::new();
            for cpu in missing.iter() {
                use core::fmt::Write;
                let _ = write!(msg, " cpu {cpu} (PIR {:#x})", percpu::get(cpu).pir());
            }
            exit::fail(format_args!(
                "fewer CPUs started than listed: {k}/{n} online after {} ms; missing:{msg}",
                time::tb_to_ms(timeout)
            ));
        }
    }
}
