//! Per-CPU data, keyed by logical CPU id and found by PIR.
//!
//! r13 and HSPRG0 hold the running CPU's `&PerCpu`. The first fields are read
//! by the interrupt vectors (boot/vectors.s, boot/trap.s) at fixed offsets,
//! asserted below.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

use crate::arch;

/// Most CPU threads the kernel brings up (the CpuMask width).
pub const MAX_CPUS: usize = walkproto::MAX_CPUS;

/// Last fault a probe or an expected-fault region saw on this CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultRecord {
    pub vector: u64,
    pub dar: u64,
    pub dsisr: u64,
    pub pc: u64,
}

/// One CPU's private area. Fields after the asm-visible head are atomics
/// because other CPUs read them (reports, watchdog), or interrupt handlers
/// on the same CPU write them.
#[repr(C, align(128))]
pub struct PerCpu {
    /// Address of this struct (asm offset 0).
    pub self_ptr: AtomicU64,
    /// `trap_entry` address the vectors jump to (offset 8).
    pub trap_entry: AtomicU64,
    /// Kernel TOC pointer (r2) for interrupt handlers (offset 16).
    pub toc: AtomicU64,
    /// r10, r11, r12, r13, CTR saved by ordinary vectors (offset 24).
    pub scratch: [AtomicU64; 5],
    /// Same, for system reset / machine check (offset 64).
    pub nmi_scratch: [AtomicU64; 5],
    /// Logical CPU id (index in FDT order).
    pub cpu: AtomicUsize,
    /// Hardware thread id.
    pub pir: AtomicU32,
    /// Set once the CPU runs its idle loop with interrupts on.
    pub online: AtomicBool,
    /// Top of this CPU's kernel stack.
    pub stack_top: AtomicU64,
    /// Decrementer interrupts taken (the heartbeat).
    pub ticks: AtomicU64,
    /// Hypervisor doorbells taken.
    pub doorbells: AtomicU64,
    /// Progress marks: bumped by this CPU's timer tick, its idle loop and
    /// `watchdog::progress` inside long loops with EE=0.
    pub progress: AtomicU64,
    /// Watchdog state of the CPU this one checks: the progress value last
    /// seen, when it last changed, and this CPU's tick count then.
    pub wd_seen: AtomicU64,
    pub wd_since_tb: AtomicU64,
    pub wd_since_ticks: AtomicU64,
    /// Interrupt nesting depth.
    pub trap_depth: AtomicU32,
    /// Faults fixed up by probes on this CPU.
    pub probe_faults: AtomicU64,
    pub last_fault_vector: AtomicU64,
    pub last_fault_dar: AtomicU64,
    pub last_fault_dsisr: AtomicU64,
    pub last_fault_pc: AtomicU64,
    /// Timebase at which this CPU entered its current job (0 = idle).
    pub job_started_tb: AtomicU64,
    /// Last program counter seen by the decrementer (for watchdog reports).
    pub last_tick_pc: AtomicU64,
}

const _: () = {
    assert!(core::mem::offset_of!(PerCpu, self_ptr) == 0);
    assert!(core::mem::offset_of!(PerCpu, trap_entry) == 8);
    assert!(core::mem::offset_of!(PerCpu, toc) == 16);
    assert!(core::mem::offset_of!(PerCpu, scratch) == 24);
    assert!(core::mem::offset_of!(PerCpu, nmi_scratch) == 64);
};

#[allow(clippy::declare_interior_mutable_const)]
const ZERO64: AtomicU64 = AtomicU64::new(0);

impl PerCpu {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: PerCpu = PerCpu {
        self_ptr: ZERO64,
        trap_entry: ZERO64,
        toc: ZERO64,
        scratch: [ZERO64; 5],
        nmi_scratch: [ZERO64; 5],
        cpu: AtomicUsize::new(usize::MAX),
        pir: AtomicU32::new(u32::MAX),
        online: AtomicBool::new(false),
        stack_top: ZERO64,
        ticks: ZERO64,
        doorbells: ZERO64,
        progress: ZERO64,
        wd_seen: ZERO64,
        wd_since_tb: ZERO64,
        wd_since_ticks: ZERO64,
        trap_depth: AtomicU32::new(0),
        probe_faults: ZERO64,
        last_fault_vector: ZERO64,
        last_fault_dar: ZERO64,
        last_fault_dsisr: ZERO64,
        last_fault_pc: ZERO64,
        job_started_tb: ZERO64,
        last_tick_pc: ZERO64,
    };

    /// Logical id of this CPU.
    pub fn id(&self) -> usize {
        self.cpu.load(Relaxed)
    }

    /// Hardware thread id.
    pub fn pir(&self) -> u32 {
        self.pir.load(Relaxed)
    }

    /// Records a fault fixed up by a probe.
    pub fn record_fault(&self, f: FaultRecord) {
        self.last_fault_vector.store(f.vector, Relaxed);
        self.last_fault_dar.store(f.dar, Relaxed);
        self.last_fault_dsisr.store(f.dsisr, Relaxed);
        self.last_fault_pc.store(f.pc, Relaxed);
        self.probe_faults.fetch_add(1, Relaxed);
    }

    /// The last fault recorded by [`record_fault`](Self::record_fault).
    pub fn last_fault(&self) -> FaultRecord {
        FaultRecord {
            vector: self.last_fault_vector.load(Relaxed),
            dar: self.last_fault_dar.load(Relaxed),
            dsisr: self.last_fault_dsisr.load(Relaxed),
            pc: self.last_fault_pc.load(Relaxed),
        }
    }
}

static PERCPU: [PerCpu; MAX_CPUS] = [PerCpu::INIT; MAX_CPUS];
static NCPUS: AtomicUsize = AtomicUsize::new(0);
static BOOT_CPU: AtomicUsize = AtomicUsize::new(0);

/// Logical id of the boot CPU (skiboot picks it; it is not always PIR 0).
pub fn boot_cpu() -> usize {
    BOOT_CPU.load(Relaxed)
}

/// The running CPU's area (from r13).
#[inline(always)]
pub fn this() -> &'static PerCpu {
    let p = arch::r13() as *const PerCpu;
    debug_assert!(!p.is_null());
    // SAFETY: r13 is set by `activate` to an element of the static PERCPU
    // array before any code that calls `this()` runs on the CPU, and never changes.
    unsafe { &*p }
}

/// Logical id of the running CPU.
#[inline(always)]
pub fn cpu_id() -> usize {
    this().id()
}

/// The area of logical CPU `cpu`.
pub fn get(cpu: usize) -> &'static PerCpu {
    &PERCPU[cpu]
}

/// Number of CPUs described by the FDT (set once at boot).
pub fn ncpus() -> usize {
    NCPUS.load(Relaxed)
}

/// Records the CPU list (`pirs[i]` is logical CPU i) and which of them
/// is the boot CPU.
pub fn init_ids(pirs: &[u32], boot: usize) {
    for (i, &pir) in pirs.iter().enumerate() {
        PERCPU[i].cpu.store(i, Relaxed);
        PERCPU[i].pir.store(pir, Relaxed);
    }
    BOOT_CPU.store(boot, Relaxed);
    NCPUS.store(pirs.len(), Release);
}

/// Logical id of the thread with `pir`, if it is one of ours.
pub fn cpu_by_pir(pir: u32) -> Option<usize> {
    (0..ncpus()).find(|&i| PERCPU[i].pir.load(Relaxed) == pir)
}

/// Makes `cpu`'s area the running CPU's: r13, HSPRG0, trap entry, TOC.
///
/// # Safety
/// Must run once on the CPU that owns `cpu`, before interrupts are enabled.
pub unsafe fn activate(cpu: usize, trap_entry: u64, toc: u64) {
    let pc = &PERCPU[cpu];
    let addr = pc as *const PerCpu as u64;
    pc.self_ptr.store(addr, Relaxed);
    pc.trap_entry.store(trap_entry, Relaxed);
    pc.toc.store(toc, Relaxed);
    // SAFETY: `addr` is this CPU's static per-CPU area (caller's contract).
    unsafe { arch::set_percpu_pointer(addr) };
}
