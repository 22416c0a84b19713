//! The radix MMU: partition table, process table, the kernel linear map in
//! quadrant 3, and turning translation on for each CPU.
//!
//! Layout follows Linux (radix_init_partition_table): PATE[0].dw0 points at
//! the kernel's root table (HR, 52-bit tree), PATE[0].dw1 at the process table.
//! PRTE[0] (PID 0, quadrant 3) is the same kernel tree; test address spaces
//! get PIDs 1.. (quadrant 0, selected by PIDR). Because the radix index ignores
//! the quadrant bits, the kernel tree also maps real address X at X, which is
//! what QEMU's partition-scoped lookup of the process table needs (a QEMU
//! quirk, see the README's "QEMU quirks"; harmless on POWER9).

use core::sync::atomic::{AtomicU64, Ordering::*};

use radix::{Level, PageSize, Pate, Prte, PteFlags};

use super::pgtable::{self, GEOM};
use super::{frames, phys_to_virt, tlb};
use devtree::DeviceTree;

use crate::arch;
use crate::sys::exit;

/// Partition table size (the only size POWER9 supports).
const PATB_BYTES: u64 = 64 * 1024;
/// Process table size: 64 KB = 4096 PIDs.
pub const PRTB_BYTES: u64 = 64 * 1024;
/// Highest PID we hand out.
pub const MAX_PID: u32 = (PRTB_BYTES / 16) as u32 - 1;

static PTCR: AtomicU64 = AtomicU64::new(0);
static PRTB_PA: AtomicU64 = AtomicU64::new(0);
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);

/// Physical address of the kernel's root table.
pub fn kernel_root() -> u64 {
    KERNEL_ROOT.load(Relaxed)
}

/// Builds the partition table, the process table and the linear map of every
/// memory range in the FDT. Boot CPU, before secondaries start.
pub fn init(tree: &DeviceTree) {
    let root = pgtable::alloc_table(pgtable::level_bytes(Level::Pgd));
    KERNEL_ROOT.store(root, Relaxed);
    for r in tree.memory.iter() {
        map_linear(root, r.base, r.base + r.size);
    }
    let patb = frames::alloc_phys(PATB_BYTES / frames::FRAME, PATB_BYTES / frames::FRAME)
        .unwrap_or_else(|e| exit::fail(format_args!("partition table: {e}")));
    let prtb = frames::alloc_phys(PRTB_BYTES / frames::FRAME, PRTB_BYTES / frames::FRAME)
        .unwrap_or_else(|e| exit::fail(format_args!("process table: {e}")));
    // SAFETY: both tables were just allocated and are mapped by the linear map.
    unsafe {
        core::ptr::write_bytes(phys_to_virt(patb) as *mut u8, 0, PATB_BYTES as usize);
        core::ptr::write_bytes(phys_to_virt(prtb) as *mut u8, 0, PRTB_BYTES as usize);
    }
    let pate = Pate::radix(&GEOM, root, prtb, PRTB_BYTES)
        .unwrap_or_else(|e| exit::fail(format_args!("partition table entry: {e:?}")));
    let [d0, d1] = pate.to_mem();
    pgtable::entry_at(patb, 0).store(d0, Relaxed);
    pgtable::entry_at(patb, 1).store(d1, Relaxed);
    PRTB_PA.store(prtb, Relaxed);
    set_process_entry(0, root);
    let ptcr = radix::ptcr(patb, PATB_BYTES).unwrap_or_else(|e| exit::fail(format_args!("PTCR: {e:?}")));
    arch::sync();
    PTCR.store(ptcr, Release);
}

/// Writes PRTE[pid] for a tree rooted at `root` (0 clears it).
pub fn set_process_entry(pid: u32, root: u64) {
    let prtb = PRTB_PA.load(Relaxed);
    let prte = if root == 0 {
        Prte::EMPTY
    } else {
        Prte::radix(&GEOM, root).unwrap_or_else(|e| exit::fail(format_args!("process table entry: {e:?}")))
    };
    let [d0, d1] = prte.to_mem();
    pgtable::entry_at(prtb, pid as usize * 2).store(d0, Relaxed);
    pgtable::entry_at(prtb, pid as usize * 2 + 1).store(d1, Relaxed);
    arch::ptesync();
    super::shadow::set_root(pid, (root != 0).then_some(root));
}

/// Maps [start, end) of physical memory at KERNEL_VIRT_BASE + pa with the
/// largest leaves that fit (1 GB, 2 MB, 64 KB).
fn map_linear(root: u64, start: u64, end: u64) {
    let flags = PteFlags::KERNEL_RWX;
    let mut pa = start;
    while pa < end {
        let size = [PageSize::Size1G, PageSize::Size2M, PageSize::Size64K]
            .into_iter()
            .find(|s| pa % s.bytes() == 0 && pa + s.bytes() <= end)
            .unwrap_or_else(|| {
                exit::fail(format_args!("memory range {start:#x}..{end:#x} is not 64 KB aligned"))
            });
        pgtable::map_in(root, phys_to_virt(pa), pa, size, flags)
            .unwrap_or_else(|e| exit::fail(format_args!("linear map at {pa:#x}: {e}")));
        pa += size.bytes();
    }
}

/// Turns on radix translation on this CPU: PTCR, LPIDR/PIDR 0, LPCR
/// HR|UPRT|AIL=3, a full local TLB flush, then MSR[IR|DR] via hrfid.
pub fn enable_on_this_cpu() {
    let ptcr = PTCR.load(Acquire);
    assert!(ptcr != 0, "mmu::init not done");
    let lpcr = arch::mfspr::<{ arch::SPR_LPCR }>();
    let lpcr = (lpcr & !arch::LPCR_AIL) | arch::LPCR_HR | arch::LPCR_UPRT | arch::LPCR_AIL_3;
    // SAFETY: translation is still off; these SPRs only take effect for
    // relocated accesses, which start after the hrfid below, with tables that
    // map the kernel at the addresses it already runs at.
    unsafe {
        arch::mtspr::<{ arch::SPR_PTCR }>(ptcr);
        arch::mtspr::<{ arch::SPR_LPIDR }>(0);
        arch::mtspr::<{ arch::SPR_PIDR }>(0);
        arch::mtspr::<{ arch::SPR_LPCR }>(lpcr);
        arch::isync();
    }
    tlb::local_flush_all();
    // SAFETY: the linear map covers all RAM (code, stack, per-CPU data) at
    // the 0xc000... addresses the kernel uses; the vectors at 0x4000.. serve
    // AIL=3 interrupts.
    unsafe { arch::set_msr_hrfid(arch::mfmsr() | arch::MSR_IR | arch::MSR_DR) };
}

/// True when this CPU runs with translation on.
pub fn translation_on() -> bool {
    arch::mfmsr() & (arch::MSR_IR | arch::MSR_DR) == (arch::MSR_IR | arch::MSR_DR)
}
