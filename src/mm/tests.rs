//! In-QEMU tests of the radix MMU: translation for each page size, R/C,
//! faults, flushes seen by every CPU (and the no-flush negative control),
//! mm_cpumask, poisoned table frees, and the kernel linear map.

use core::sync::atomic::{AtomicU64, Ordering::*};

use radix::{PageSize, PteFlags};

use super::pgtable::{self, GEOM};
use super::space::{self, Mm};
use super::{frames, mmu, phys_to_virt, probe};
use crate::sys::addr::{image_end, image_start, KERNEL_VIRT_BASE};
use crate::ktest::{on_all_cpus, CpuBarrier, Outcome, Scope, Test};
use crate::{ensure, fail};
use crate::sys::{percpu, smp, time};

pub static TESTS: &[Test] = &[
    Test { name: "mmu_linear_map_software_walk", scope: Scope::Boot, timeout_ms: 5000, run: linear_map_walk },
    Test { name: "mmu_translation_64k_2m_1g", scope: Scope::Boot, timeout_ms: 30000, run: translation },
    Test { name: "mmu_probe_fault_reports_dar", scope: Scope::Boot, timeout_ms: 5000, run: probe_fault },
    Test { name: "mmu_rc_bits", scope: Scope::Boot, timeout_ms: 5000, run: rc_bits },
    Test { name: "mmu_cpumask_tracks_switches", scope: Scope::Boot, timeout_ms: 10000, run: cpumask },
    Test {
        name: "mmu_unmap_flush_every_cpu_faults",
        scope: Scope::Boot,
        timeout_ms: 60000,
        run: unmap_flush_faults,
    },
    Test {
        name: "mmu_unmap_no_flush_stale_read",
        scope: Scope::Boot,
        timeout_ms: 60000,
        run: unmap_no_flush_stale,
    },
    Test {
        name: "pgtable_free_poisons_and_quarantines",
        scope: Scope::Boot,
        timeout_ms: 5000,
        run: free_poisons,
    },
];

/// Base of the test mappings in quadrant 0 (1 TB: clear of everything).
const TEST_VA: u64 = 0x0000_0100_0000_0000;
const JOB_TIMEOUT: u64 = time::secs(60);

fn linear_map_walk(_: usize) -> Outcome {
    let probe_points = [
        image_start(),
        image_end() - 8,
        percpu::this() as *const _ as u64,
        &JOB_TIMEOUT as *const u64 as u64,
    ];
    for va in probe_points {
        let t = radix::translate(&GEOM, mmu::kernel_root(), va, |pa| pgtable_word(pa))
            .map_err(|e| fail!("software walk of {va:#x} faulted: {e:?}"))?;
        ensure!(t.pa == va - KERNEL_VIRT_BASE, "linear map: {va:#x} -> {:#x}", t.pa);
        ensure!(t.pte.flags().contains(PteFlags::ACCESSED), "kernel leaf without R: {:?}", t.pte);
    }
    Ok(())
}

/// Raw (big-endian) doubleword at physical `pa`, for the software walker.
fn pgtable_word(pa: u64) -> u64 {
    // SAFETY: the walker only reads table entries, which are in RAM covered
    // by the linear map and 8-byte aligned.
    unsafe { core::ptr::read_volatile(phys_to_virt(pa) as *const u64) }
}

fn alloc(n: u64, align: u64) -> Result<u64, crate::ktest::Fail> {
    frames::alloc_phys(n, align).map_err(|e| fail!("{e}"))
}

const SIZES: [PageSize; 3] = [PageSize::Size64K, PageSize::Size2M, PageSize::Size1G];

fn translation(_: usize) -> Outcome {
    let mm = Mm::new();
    // 64 KB and 2 MB leaves on frames we own; the 1 GB leaf maps the
    // 1 GB-aligned block around one frame we own, and only that frame is used.
    let p64 = alloc(1, 1)?;
    let p2m = alloc(32, 32)?;
    let own1g = alloc(1, 1)?;
    let p1g = own1g & !(PageSize::Size1G.bytes() - 1);
    let vas = [TEST_VA, TEST_VA + (1 << 30), TEST_VA + (4 << 30)];
    let pas = [p64, p2m, p1g];
    let offsets = [0, PageSize::Size2M.bytes() - frames::FRAME, own1g - p1g];
    for i in 0..3 {
        mm.map(vas[i], pas[i], SIZES[i], PteFlags::KERNEL_RW)
            .map_err(|e| fail!("map {:?}: {e}", SIZES[i]))?;
    }
    let res = on_all_cpus("translation", JOB_TIMEOUT, &|cpu| {
        mm.switch_to();
        let r = (|| {
            for i in 0..3 {
                let off = offsets[i] + cpu as u64 * 8;
                let va = vas[i] + off;
                let linear = phys_to_virt(pas[i] + off);
                let pattern = 0x7e57_0000_0000_0000 | (i as u64) << 32 | cpu as u64;
                // SAFETY: `va` is mapped to a frame this test owns; each CPU
                // writes its own doubleword.
                unsafe { core::ptr::write_volatile(va as *mut u64, pattern) };
                // SAFETY: the same frame through the linear map.
                let seen = unsafe { core::ptr::read_volatile(linear as *const u64) };
                ensure!(
                    seen == pattern,
                    "{:?}: wrote {pattern:#x} at {va:#x}, linear map shows {seen:#x}",
                    SIZES[i]
                );
                // SAFETY: as above, the other direction.
                unsafe { core::ptr::write_volatile(linear as *mut u64, !pattern) };
                let back =
                    probe::load(va).map_err(|f| fail!("{:?}: load {va:#x} faulted: {f:?}", SIZES[i]))?;
                ensure!(
                    back == !pattern,
                    "{:?}: linear-map write not visible at {va:#x}: {back:#x}",
                    SIZES[i]
                );
            }
            Ok(())
        })();
        space::switch_to_kernel_only();
        r
    });
    // Tear the mm down (its PID flushed everywhere) before the frames go
    // back: every CPU may still hold their translations.
    mm.destroy();
    frames::free_phys(p64, 1);
    frames::free_phys(p2m, 32);
    frames::free_phys(own1g, 1);
    res
}

fn probe_fault(_: usize) -> Outcome {
    let mm = Mm::new();
    mm.switch_to();
    let va = TEST_VA + 0x1234_5678;
    let r = probe::load(va);
    space::switch_to_kernel_only();
    match r {
        Ok(v) => Err(fail!("load from unmapped {va:#x} returned {v:#x}")),
        Err(f) => {
            ensure!(f.vector == 0x300, "fault vector {:#x}, expected 0x300", f.vector);
            ensure!(f.dar == va, "DAR {:#x}, expected {va:#x}", f.dar);
            Ok(())
        }
    }
}

/// DSISR bit: R/C update needed (ISA "ATOMIC_RC"; QEMU DSISR_ATOMIC_RC).
const DSISR_ATOMIC_RC: u64 = 0x0004_0000;

fn rc_bits(_: usize) -> Outcome {
    let mm = Mm::new();
    let pa = alloc(1, 1)?;
    let base = PteFlags::PRIVILEGED | PteFlags::READ | PteFlags::WRITE;
    mm.map(TEST_VA, pa, PageSize::Size64K, base).map_err(|e| fail!("{e}"))?;
    mm.map(TEST_VA + (1 << 21), pa, PageSize::Size64K, base | PteFlags::ACCESSED)
        .map_err(|e| fail!("{e}"))?;
    mm.switch_to();
    let load = probe::load(TEST_VA);
    // SAFETY: the page is ours; a store only writes our frame.
    let store = unsafe { probe::store(TEST_VA + (1 << 21), 1) };
    space::switch_to_kernel_only();
    let (t_r, i_r) = space::slot_lookup(mm.root, TEST_VA, radix::Level::Pte).map_err(|e| fail!("{e}"))?;
    let (t_c, i_c) =
        space::slot_lookup(mm.root, TEST_VA + (1 << 21), radix::Level::Pte).map_err(|e| fail!("{e}"))?;
    let pte_r = radix::Pte::from_raw(pgtable::read(t_r, i_r));
    let pte_c = radix::Pte::from_raw(pgtable::read(t_c, i_c));
    mm.destroy();
    frames::free_phys(pa, 1);
    // Either the MMU sets R (resp. C) itself, or it raises a DSI asking
    // software to (POWER9 and QEMU do the latter). Anything else is wrong.
    match load {
        Ok(_) => {
            ensure!(pte_r.flags().contains(PteFlags::ACCESSED), "load with R=0 succeeded but R was not set")
        }
        Err(f) => ensure!(
            f.vector == 0x300 && f.dsisr & DSISR_ATOMIC_RC != 0,
            "load with R=0: unexpected fault {f:?}"
        ),
    }
    match store {
        Ok(()) => {
            ensure!(pte_c.flags().contains(PteFlags::DIRTY), "store with C=0 succeeded but C was not set")
        }
        Err(f) => ensure!(
            f.vector == 0x300 && f.dsisr & DSISR_ATOMIC_RC != 0,
            "store with C=0: unexpected fault {f:?}"
        ),
    }
    Ok(())
}

fn cpumask(_: usize) -> Outcome {
    let mm = Mm::new();
    ensure!(mm.cpumask().is_empty(), "new mm has a non-empty cpumask");
    let me = percpu::cpu_id();
    let others = smp::online_mask().without(me);
    let job = |_cpu: usize| {
        mm.switch_to();
        space::switch_to_kernel_only();
    };
    smp::run_on(others, JOB_TIMEOUT, "cpumask", &job);
    ensure!(mm.cpumask() == others, "cpumask {:?} != CPUs that switched {:?}", mm.cpumask(), others);
    Ok(())
}

static PHASE: CpuBarrier = CpuBarrier::new();
static STALE: AtomicU64 = AtomicU64::new(0);
static FAULTED: AtomicU64 = AtomicU64::new(0);

/// Every CPU reads `va` (warming its TLB); the boot CPU then unmaps it and
/// (if `flush`) flushes; every CPU reads again. Returns (stale reads, faults).
fn unmap_round(
    mm: &'static Mm,
    va: u64,
    size: PageSize,
    pattern: u64,
    flush: bool,
) -> Result<(u64, u64), crate::ktest::Fail> {
    STALE.store(0, Relaxed);
    FAULTED.store(0, Relaxed);
    let boot = percpu::cpu_id();
    on_all_cpus("unmap round", JOB_TIMEOUT, &|cpu| {
        mm.switch_to();
        let r = (|| {
            let v = probe::load(va).map_err(|f| fail!("warm-up load of {va:#x} faulted: {f:?}"))?;
            ensure!(v == pattern, "warm-up load read {v:#x}");
            PHASE.wait()?;
            if cpu == boot {
                mm.unmap(va, size).map_err(|e| fail!("unmap: {e}"))?;
                if flush {
                    mm.flush_page(va, size);
                } else {
                    crate::arch::ptesync();
                }
            }
            PHASE.wait()?;
            match probe::load(va) {
                Ok(v) if v == pattern => {
                    STALE.fetch_add(1, Relaxed);
                }
                Ok(v) => return Err(fail!("read {v:#x} through a removed mapping (not even the old data)")),
                Err(f) => {
                    ensure!(f.dar == va, "fault at DAR {:#x}, expected {va:#x}", f.dar);
                    FAULTED.fetch_add(1, Relaxed);
                }
            }
            Ok(())
        })();
        space::switch_to_kernel_only();
        r
    })?;
    Ok((STALE.load(Relaxed), FAULTED.load(Relaxed)))
}

fn map_pattern(mm: &Mm, va: u64, size: PageSize, pattern: u64) -> Result<u64, crate::ktest::Fail> {
    let frames_n = size.bytes() / frames::FRAME;
    let pa = alloc(frames_n, frames_n)?;
    // SAFETY: freshly allocated frame, linear-mapped.
    unsafe { core::ptr::write_volatile(phys_to_virt(pa) as *mut u64, pattern) };
    mm.map(va, pa, size, PteFlags::KERNEL_RW).map_err(|e| fail!("{e}"))?;
    Ok(pa)
}

fn unmap_flush_faults(_: usize) -> Outcome {
    let mm = Mm::new();
    let n = smp::online_mask().count() as u64;
    for (i, size) in [PageSize::Size64K, PageSize::Size2M].into_iter().enumerate() {
        let va = TEST_VA + ((i as u64) << 30);
        let pattern = 0xf1u64 << 56 | i as u64;
        let pa = map_pattern(mm, va, size, pattern)?;
        let (stale, faulted) = unmap_round(mm, va, size, pattern, true)?;
        frames::free_phys(pa, size.bytes() / frames::FRAME);
        ensure!(
            stale == 0 && faulted == n,
            "{size:?} after unmap + {} flush: {stale} CPUs still read the old data, {faulted}/{n} faulted",
            super::tlb::mode_name(super::tlb::mode())
        );
    }
    Ok(())
}

fn unmap_no_flush_stale(_: usize) -> Outcome {
    // Negative control for the test above: without the flush, a CPU that
    // cached the translation keeps using it. 64 KB page, no PIDR write in
    // between (QEMU flushes the local TLB on PIDR writes).
    let mm = Mm::new();
    let va = TEST_VA;
    let pattern = 0x5a1e_u64 << 48;
    let pa = map_pattern(mm, va, PageSize::Size64K, pattern)?;
    let (stale, faulted) = unmap_round(mm, va, PageSize::Size64K, pattern, false)?;
    // Fence the stale entries off before the frame goes back: flush now.
    mm.flush_all();
    frames::free_phys(pa, 1);
    crate::println!("  (no-flush control: {stale} CPUs read stale data, {faulted} faulted)");
    ensure!(
        stale > 0,
        "no CPU read through a stale TLB entry: the flush test above cannot tell a flush from no flush"
    );
    Ok(())
}

fn free_poisons(_: usize) -> Outcome {
    let t = pgtable::alloc_table(256);
    ensure!(!pgtable::is_poisoned(t, 256), "fresh table already poisoned");
    pgtable::write(t, 3, 0x1234);
    pgtable::free_table(t, 256);
    ensure!(pgtable::is_poisoned(t, 256), "freed table not poisoned");
    ensure!((0..32).all(|i| pgtable::read(t, i) == pgtable::POISON), "freed table only partly poisoned");
    // It must not be handed out again while in quarantine.
    let again: alloc::vec::Vec<u64> = (0..64).map(|_| pgtable::alloc_table(256)).collect();
    ensure!(!again.contains(&t), "quarantined table reused immediately");
    for a in again {
        pgtable::free_table(a, 256);
    }
    Ok(())
}
