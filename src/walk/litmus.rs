//! Store-buffering (SB) litmus test between two CPUs, to calibrate the
//! detector: how often does this platform let both loads miss both stores?
//!
//!     CPU A: x = 1; F; r1 = y        CPU B: y = 1; F; r2 = x
//!
//! With F = `sync` the outcome r1 = r2 = 0 is forbidden on Power; with
//! `lwsync` or nothing it is allowed. This is the exact shape of the
//! counting registry (walker: count++; F; read PMD ‖ changer: write PMD; F;
//! read count), so a count-lwsync control that is never caught while this
//! test shows reorderings points at the detector, not at the platform.

use core::sync::atomic::{AtomicU64, Ordering::*};

use walkproto::CpuMask;

use crate::arch;
use crate::sys::{smp, time};

/// The fence between the store and the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    None,
    Lwsync,
    Sync,
    /// No fence, a short detour (a call) instead: timing only.
    Call,
}

impl Fence {
    pub fn name(self) -> &'static str {
        match self {
            Fence::None => "none",
            Fence::Lwsync => "lwsync",
            Fence::Sync => "sync",
            Fence::Call => "call",
        }
    }

    #[inline(always)]
    fn apply(self) {
        match self {
            Fence::None => core::sync::atomic::compiler_fence(SeqCst),
            Fence::Lwsync => arch::lwsync(),
            Fence::Sync => arch::sync(),
            Fence::Call => core::hint::black_box(detour)(),
        }
    }
}

#[inline(never)]
fn detour() {}

/// How each side writes its flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// A plain store (`std`).
    Store,
    /// An atomic read-modify-write (`ldarx/stdcx.`), like `atomic_inc`.
    Rmw,
}

/// Runs `iters` SB trials between this CPU and `other`; returns how many
/// ended with both loads reading 0.
pub fn run_sb(other: usize, iters: usize, fence: Fence, write: Write) -> u64 {
    run_sb_at(other, iters, fence, write, false)
}

/// As [`run_sb`]; with `fixed`, every trial reuses the same two words
/// (reset between trials) instead of fresh ones.
pub fn run_sb_at(other: usize, iters: usize, fence: Fence, write: Write, fixed: bool) -> u64 {
    let x: alloc::vec::Vec<AtomicU64> = (0..iters).map(|_| AtomicU64::new(0)).collect();
    let y: alloc::vec::Vec<AtomicU64> = (0..iters).map(|_| AtomicU64::new(0)).collect();
    let r1: alloc::vec::Vec<AtomicU64> = (0..iters).map(|_| AtomicU64::new(1)).collect();
    let r2: alloc::vec::Vec<AtomicU64> = (0..iters).map(|_| AtomicU64::new(1)).collect();
    let arrive = [AtomicU64::new(0), AtomicU64::new(0)];
    let me = crate::sys::percpu::cpu_id();
    let mut mask = CpuMask::new();
    mask.set(me);
    mask.set(other);
    let job = |cpu: usize| {
        let side = usize::from(cpu != me);
        let (mine, theirs) = (&arrive[side], &arrive[1 - side]);
        let arch_was = arch::irq_save();
        let mut phase = 0u64;
        let mut meet = || {
            phase += 1;
            mine.store(phase, Release);
            while theirs.load(Acquire) < phase {
                core::hint::spin_loop();
            }
        };
        for i in 0..iters {
            meet();
            crate::sys::watchdog::progress();
            let li = if fixed { 0 } else { i };
            let (mine_v, theirs_v, out) =
                if side == 0 { (&x[li], &y[li], &r1[i]) } else { (&y[li], &x[li], &r2[i]) };
            match write {
                Write::Store => mine_v.store(1, Relaxed),
                Write::Rmw => {
                    mine_v.fetch_add(1, Relaxed);
                }
            }
            fence.apply();
            out.store(theirs_v.load(Relaxed), Relaxed);
            if fixed {
                // Both done, then side 0 resets the two words for the next trial.
                meet();
                if side == 0 {
                    x[0].store(0, Relaxed);
                    y[0].store(0, Relaxed);
                }
            }
        }
        arch::irq_restore(arch_was);
    };
    smp::run_on(mask, time::secs(300), "SB litmus", &job);
    (0..iters).filter(|&i| r1[i].load(Relaxed) == 0 && r2[i].load(Relaxed) == 0).count() as u64
}

/// The counting registry's handshake as an SB litmus, through the real
/// `walkproto` code: "walker" = `begin_walk(strategy)` then read a PMD word;
/// "changer" = store the PMD word, then `serialize(strategy)` with a
/// platform that only records whether it would have sent IPIs. Returns the
/// trials in which the walker read the old PMD *and* the changer skipped.
pub fn run_registry_sb(other: usize, iters: usize, strategy: walkproto::Strategy, nmms: usize) -> u64 {
    use walkproto::{IpiStats, IpiTimeout, MmSync, Platform, Registry};
    struct Quiet(CpuMask);
    impl Platform for Quiet {
        fn this_cpu(&self) -> usize {
            crate::sys::percpu::cpu_id()
        }
        fn online_cpus(&self) -> CpuMask {
            self.0
        }
        fn ipi_and_wait(&self, targets: CpuMask, _: bool) -> Result<IpiStats, IpiTimeout> {
            Ok(IpiStats { sent: targets.count() as u32, spins: 0 })
        }
        fn relax(&self) {}
        fn now(&self) -> u64 {
            0
        }
        fn timeout_ticks(&self) -> u64 {
            u64::MAX
        }
    }
    let reg: alloc::boxed::Box<Registry> = alloc::boxed::Box::new(Registry::new());
    let mms: alloc::vec::Vec<MmSync> = (0..nmms).map(|i| MmSync::new(i as u32 + 1)).collect();
    let pmd: alloc::vec::Vec<AtomicU64> = (0..iters).map(|_| AtomicU64::new(1)).collect();
    let r1: alloc::vec::Vec<AtomicU64> = (0..iters).map(|_| AtomicU64::new(0)).collect();
    let r2: alloc::vec::Vec<AtomicU64> = (0..iters).map(|_| AtomicU64::new(u64::MAX)).collect();
    let arrive = [AtomicU64::new(0), AtomicU64::new(0)];
    let me = crate::sys::percpu::cpu_id();
    let mask = CpuMask::new().with(me).with(other);
    let job = |cpu: usize| {
        let side = usize::from(cpu != me);
        let (mine, theirs) = (&arrive[side], &arrive[1 - side]);
        let was = arch::irq_save();
        let platform = Quiet(mask);
        for i in 0..iters {
            crate::sys::watchdog::progress();
            mine.store(i as u64 + 1, Release);
            while theirs.load(Acquire) < i as u64 + 1 {
                core::hint::spin_loop();
            }
            let mm = &mms[i % mms.len()];
            if side == 1 {
                let g = reg.begin_walk(strategy, mm, cpu);
                core::hint::black_box(super::walkers::timing_gap)();
                g.load_point();
                let old = pmd[i].load(Relaxed);
                // Stay registered (the walk goes on) for a while; record when
                // the walk ended so a late changer is not counted.
                let t = time::now();
                while time::now() - t < time::ns(3000) {
                    g.load_point();
                }
                let end = time::now();
                drop(g);
                r1[i].store(if old == 1 { end } else { 0 }, Relaxed);
            } else {
                pmd[i].store(0, Relaxed);
                core::hint::black_box(super::walkers::timing_gap)();
                let s = reg.serialize(strategy, mm, mask, &platform);
                let decided = time::now();
                r2[i].store(if matches!(s, Ok(st) if st.skipped) { decided } else { u64::MAX }, Relaxed);
            }
        }
        arch::irq_restore(was);
    };
    smp::run_on(mask, time::secs(300), "registry SB litmus", &job);
    // A miss: the walker read the old PMD and was still registered when the
    // changer decided there was nobody to wait for.
    (0..iters).filter(|&i| r2[i].load(Relaxed) < r1[i].load(Relaxed)).count() as u64
}
