//! The platform the kernel boots on: the firmware's device tree and the
//! switch of every thread's interrupts to little-endian radix (OPAL).

use devtree::DeviceTree;

use crate::sys::{addr, exit, opal, time, trap};

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
        exit::fail(format_args!("bad FDT pointer {fdt:#x} from firmware"));
    }
    let va = addr::phys_to_virt(fdt);
    // SAFETY: the firmware hands us a device tree at `fdt`; its header is
    // 40 bytes, read only after checking the pointer is non-null and aligned.
    let head = unsafe { core::slice::from_raw_parts(va as *const u8, 40) };
    let size = devtree::header_total_size(head).unwrap_or_else(|e| exit::fail(format_args!("FDT at {fdt:#x}: {e}")));
    // SAFETY: the header says the blob is `size` bytes long (validated range);
    // firmware memory holding it stays reserved for the whole run.
    let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(va as *const u8, size) };
    let tree = devtree::parse(blob, fdt).unwrap_or_else(|e| exit::fail(format_args!("FDT at {fdt:#x}: {e}")));
    if !opal::available() {
        match tree.opal {
            Some(o) => opal::set_entry(o.base, o.entry),
            None => exit::fail(format_args!("no OPAL entry in r8/r9 or /ibm,opal")),
        }
    }
    let bootargs = tree.bootargs;
    let model = tree.model.unwrap_or("unknown machine");
    BootDt { tree, fdt_phys: fdt, fdt_size: size as u64, bootargs, model }
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
