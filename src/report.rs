//! The boot report: what machine, which CPUs, how much memory, which settings.

use crate::platform::BootDt;
use crate::sys::{percpu, smp};
use crate::{arch, mm};

/// The first line of the run: machine, load and FDT addresses. An image
/// carrying relocations other than R_PPC64_RELATIVE (which entry.s cannot
/// apply) fails here.
pub fn banner(dt: &BootDt, load_phys: u64, bad_relocs: u64) {
    println!("\nwalker-testbed: booting on {} (image at {load_phys:#x}, FDT at {:#x})", dt.model, dt.fdt_phys);
    if bad_relocs != 0 {
        crate::sys::exit::fail(format_args!("image has {bad_relocs} relocations other than R_PPC64_RELATIVE"));
    }
}

/// Prints the boot report (after all CPUs are online).
pub fn boot_report(dt: &BootDt) {
    let n = percpu::ncpus();
    println!("== boot report ==");
    println!("machine: {}", dt.model);
    println!("device tree: {} bytes at {:#x}", dt.fdt_size, dt.fdt_phys);
    println!(
        "cpus: {} threads in the FDT, {} in use, boot cpu {} (PIR {:#x})",
        dt.tree.threads.len(),
        n,
        percpu::boot_cpu(),
        percpu::get(percpu::boot_cpu()).pir()
    );
    for cpu in 0..n {
        let pc = percpu::get(cpu);
        let t = dt.tree.threads.iter().find(|t| t.pir == pc.pir());
        let chip = t.and_then(|t| t.chip_id).map_or(-1, |c| c as i64);
        println!(
            "  cpu {cpu:>3}: PIR {:#06x} chip {chip} core-node {} thread {} online {}",
            pc.pir(),
            t.map_or(0, |t| t.core_index),
            t.map_or(0, |t| t.thread_index),
            pc.online.load(core::sync::atomic::Ordering::Relaxed)
        );
    }
    let (total, usable, free) = mm::frames::summary();
    println!("memory: {} MiB in the FDT, {} MiB usable, {} MiB free", total >> 20, usable >> 20, free >> 20);
    for r in dt.tree.reserved.iter() {
        println!(
            "  reserved {:#014x}..{:#014x} ({:?})",
            r.region.base,
            r.region.base + r.region.size,
            r.source
        );
    }
    let (used, hfree) = mm::heap::usage();
    println!("heap: {} bytes used, {} MiB free", used, hfree >> 20);
    println!("timebase: {} Hz (FDT: {:?})", arch::TB_HZ, dt.tree.timebase_hz);
    println!("LPCR: {:#018x}", arch::mfspr::<{ arch::SPR_LPCR }>());
    println!("bootargs: \"{}\"", dt.bootargs);
    println!("online mask: {} cpus", smp::online_mask().count());
}

/// Timestamps of the boot phases, printed as one line.
pub struct Phases {
    start: u64,
    last: u64,
    marks: [(&'static str, u64); 8],
    n: usize,
}

impl Phases {
    /// Starts timing at `start` (timebase).
    pub fn new(start: u64) -> Self {
        Phases { start, last: start, marks: [("", 0); 8], n: 0 }
    }

    /// Ends the current phase.
    pub fn mark(&mut self, name: &'static str) {
        let now = crate::sys::time::now();
        if self.n < self.marks.len() {
            self.marks[self.n] = (name, now - self.last);
            self.n += 1;
        }
        self.last = now;
    }

    /// Prints `boot phases (us): a N, b M, ..., total T`.
    pub fn print(&self) {
        let mut line = alloc::string::String::new();
        for (name, tb) in &self.marks[..self.n] {
            use core::fmt::Write;
            let _ = write!(line, "{name} {}, ", crate::sys::time::tb_to_us(*tb));
        }
        println!("boot phases (us): {line}total {}", crate::sys::time::tb_to_us(self.last - self.start));
    }
}
