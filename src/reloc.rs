//! Proof that the image is position independent: with `reloc.test=ADDR` the
//! kernel copies its own file image to physical ADDR (64 KB aligned, free
//! RAM) and enters that copy at its first byte the way firmware would (real
//! mode, EE=0, r3 = FDT, r8/r9 = OPAL). The copy relocates itself from the
//! same R_PPC64_RELATIVE records (they hold addends, so relocating twice is
//! idempotent), zeroes its BSS and boots; it sees the hand-off word in r4 and
//! does not move again. Secondary threads are still parked in OPAL then.

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::arch;
use crate::mm::frames;
use crate::sys::addr::{image_end, image_start, phys_to_virt};
use crate::sys::{exit, opal};

/// r4 value telling a copy that it was moved here by `reloc.test`.
pub const RELOC_MAGIC: u64 = 0x52454c4f43415445; // "RELOCATE"

/// Whether the running instance is a copy made by `reloc.test`.
static MOVED: AtomicBool = AtomicBool::new(false);

extern "C" {
    fn jump_to_image(
        entry_real: u64,
        fdt: u64,
        opal_base: u64,
        opal_entry: u64,
        handoff: u64,
        from: u64,
    ) -> !;
    static __bss_start: u8;
}

/// Whether the running instance is a copy made by `reloc.test`.
pub fn moved() -> bool {
    MOVED.load(Relaxed)
}

/// Moves to `reloc.test=` if asked (and this is not already the moved copy).
pub fn maybe_move(cfg: &kconfig::Reloc, fdt: u64, load_phys: u64, handoff: u64) {
    if handoff == RELOC_MAGIC {
        MOVED.store(true, Relaxed);
        crate::println!("reloc: this instance was entered at {load_phys:#x} by an earlier copy of the image");
        return;
    }
    let Some(target) = cfg.test else { return };
    let bytes = image_end() - image_start();
    if target % frames::FRAME != 0 || target == load_phys {
        exit::fail(format_args!(
            "reloc.test={target:#x}: must be 64 KB aligned and differ from the load address {load_phys:#x}"
        ));
    }
    for off in (0..bytes).step_by(frames::FRAME as usize) {
        if frames::claim_in(target + off, target + off + frames::FRAME) != Some(target + off) {
            exit::fail(format_args!(
                "reloc.test={target:#x}: {:#x} is not free RAM (image needs {bytes:#x} bytes)",
                target + off
            ));
        }
    }
    let file_bytes = core::ptr::addr_of!(__bss_start) as u64 - image_start();
    crate::println!("reloc: copying {file_bytes:#x} bytes of the image from {load_phys:#x} to {target:#x} and entering it");
    crate::sys::console::flush();
    // SAFETY: the destination frames were just claimed for this copy and do
    // not overlap the running image; we run in real mode with EE=0, nothing
    // else executes yet (secondaries are parked in OPAL).
    unsafe {
        core::ptr::copy_nonoverlapping(
            image_start() as *const u8,
            phys_to_virt(target) as *mut u8,
            file_bytes as usize,
        );
    }
    arch::sync_icache(phys_to_virt(target), phys_to_virt(target) + file_bytes);
    let (base, entry) = opal::entry_points();
    // SAFETY: the copy is a complete image whose entry point is its first
    // byte; the firmware hand-off state (real mode, EE=0) holds.
    unsafe { jump_to_image(target, fdt, base, entry, RELOC_MAGIC, load_phys) }
}
