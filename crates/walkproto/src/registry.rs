//! The global walker registry: per-CPU state plus the `rcu` bookkeeping,
//! and the changer-side entry points that dispatch on the strategy.

use core::fmt;

use crate::events::{ChangerEvents, Ev, EventCell};
use crate::rcu::{DeferQueue, GraceState};
use crate::sync::{array_of, loom_const_fn, plain, AtomicU32, AtomicU64, Ordering};
use crate::{
    CpuMask, FreeOutcome, MmSync, Platform, SerializeStats, Strategy, SyncError, WeakMemory, MAX_CPUS,
};

/// Default capacity of the `rcu` deferred-free queue.
pub const DEFER_SLOTS: usize = 32;

/// One CPU's walker state, alone in a (POWER9, 128-byte) cache line so that
/// walkers on different CPUs do not share lines.
#[repr(align(128))]
pub(crate) struct PerCpu {
    /// `percpu`: id of the mm this CPU is walking, 0 when not walking.
    pub(crate) walking: AtomicU32,
    /// `rcu`: reader word, see [`crate::rcu`].
    pub(crate) reader: AtomicU64,
    /// Weak-memory emulation: this CPU's xorshift state for store delays.
    pub(crate) rng: plain::AtomicU64,
}

impl PerCpu {
    loom_const_fn! {
        fn new() -> PerCpu {
            PerCpu { walking: AtomicU32::new(0), reader: AtomicU64::new(0), rng: plain::AtomicU64::new(0) }
        }
    }
}

/// Global walker state for `CPUS` CPUs (logical indices `0..CPUS`) with an
/// `rcu` deferred-free queue of `SLOTS` tables. Put one in a `static`:
///
/// ```
/// static WALKERS: walkproto::Registry = walkproto::Registry::new();
/// ```
pub struct Registry<const CPUS: usize = MAX_CPUS, const SLOTS: usize = DEFER_SLOTS> {
    pub(crate) cpus: [PerCpu; CPUS],
    pub(crate) gp: GraceState<CPUS>,
    pub(crate) deferred: DeferQueue<SLOTS>,
    /// Whether the weak-memory emulation is on: the only thing a walk reads
    /// of it when it is off. See [`Registry::set_weak_memory`].
    pub(crate) weak_on: plain::AtomicBool,
    /// The emulation's settings. A lock because a `fn` pointer cannot live in
    /// an atomic without `unsafe`; read once per emulated walk.
    pub(crate) weak: spin::RwLock<Option<WeakMemory>>,
    /// Changer-side event counters, one line per CPU (see [`ChangerEvents`]).
    pub(crate) events: [EventCell; CPUS],
}

impl<const CPUS: usize, const SLOTS: usize> Registry<CPUS, SLOTS> {
    loom_const_fn! {
        /// An idle registry: no walks, no grace period, empty queue.
        /// Panics (at compile time in a `static`) if `CPUS > MAX_CPUS`.
        pub fn new() -> Self {
            assert!(CPUS <= MAX_CPUS, "Registry CPUS exceeds MAX_CPUS");
            Registry {
                cpus: array_of![PerCpu::new(); CPUS],
                gp: GraceState::new(),
                deferred: DeferQueue::new(),
                weak_on: plain::AtomicBool::new(false),
                weak: spin::RwLock::new(None),
                events: array_of![EventCell::new(); CPUS],
            }
        }
    }

    /// Changer side, called **after** the new PMD/PUD/table pointer has been
    /// stored: returns once no walker can still be using what the old entry
    /// pointed to (for the correct strategies).
    ///
    /// `mm_cpumask` is the set of CPUs that have run the mm; the calling CPU
    /// is never IPIed. See [`Strategy`] for what each variant does.
    #[inline]
    pub fn serialize<P: Platform>(
        &self,
        strategy: Strategy,
        mm: &MmSync,
        mm_cpumask: CpuMask,
        platform: &P,
    ) -> Result<SerializeStats, SyncError> {
        let stats = self.serialize_uncounted(strategy, mm, mm_cpumask, platform)?;
        let cpu = platform.this_cpu();
        self.note(cpu, Ev::Serializations, 1);
        self.note(cpu, Ev::Skipped, u64::from(stats.skipped));
        Ok(stats)
    }

    /// [`Registry::serialize`] without the per-call counters.
    #[inline(always)]
    fn serialize_uncounted<P: Platform>(
        &self,
        strategy: Strategy,
        mm: &MmSync,
        mm_cpumask: CpuMask,
        platform: &P,
    ) -> Result<SerializeStats, SyncError> {
        if let (Some(counter), Some(barrier)) = (strategy.counter(), strategy.counter_barrier()) {
            return match strategy {
                Strategy::CountWait => self.wait_walkers_gone(mm, counter, barrier, platform),
                _ => self.ipi_if_walkers(mm, counter, mm_cpumask, barrier, platform),
            };
        }
        match strategy {
            Strategy::Ipi => self.ipi_mm_cpumask(mm, mm_cpumask, true, platform),
            Strategy::IpiNoWait => self.ipi_mm_cpumask(mm, mm_cpumask, false, platform),
            Strategy::PerCpu => self.ipi_walking_cpus(mm, platform),
            Strategy::Rcu => self.synchronize_rcu(platform),
            // `none`; the counting strategies returned above.
            _ => Ok(SerializeStats::default()),
        }
    }

    /// Counts `n` changer events of kind `ev` on `cpu` (its own line).
    #[inline(always)]
    pub(crate) fn note(&self, cpu: usize, ev: Ev, n: u64) {
        if n != 0 {
            if let Some(cell) = self.events.get(cpu) {
                cell.add(ev, n);
            }
        }
    }

    /// Every changer-side event counted so far, summed over all CPUs.
    /// Subtract an earlier snapshot for what happened in between.
    pub fn changer_events(&self) -> ChangerEvents {
        self.events.iter().fold(ChangerEvents::default(), |sum, cell| sum.plus(cell.snapshot()))
    }

    /// The changer-side events counted on `cpu` (zero for a CPU beyond
    /// `CPUS`): cheaper than [`Registry::changer_events`] when one CPU is
    /// the only changer.
    pub fn changer_events_on(&self, cpu: usize) -> ChangerEvents {
        self.events.get(cpu).map_or(ChangerEvents::default(), EventCell::snapshot)
    }

    /// Frees a page-table page that the caller has already unlinked, once
    /// no walker can reach it: non-`rcu` strategies [`serialize`] and then
    /// call `free(table)`; `rcu` queues the table behind a grace period
    /// (freed later by [`Registry::reclaim`]) or, with the queue full after
    /// a reclaim attempt, waits for a grace period and frees it now.
    ///
    /// On error the table is **not** freed (leaking is the safe failure).
    ///
    /// [`serialize`]: Registry::serialize
    pub fn free_table_when_safe<P: Platform>(
        &self,
        strategy: Strategy,
        mm: &MmSync,
        mm_cpumask: CpuMask,
        platform: &P,
        table: u64,
        mut free: impl FnMut(u64),
    ) -> Result<FreeOutcome, SyncError> {
        if strategy != Strategy::Rcu {
            let stats = self.serialize(strategy, mm, mm_cpumask, platform)?;
            free(table);
            return Ok(FreeOutcome::Freed(stats));
        }
        self.defer_free(platform, table, &mut free)
    }

    /// `rcu`: advances the grace-period machine without blocking and frees
    /// every queued table whose grace period has completed. Returns how
    /// many were freed. Call it from a periodic point that is not inside a
    /// walk (the idle loop, the changer after its work).
    pub fn reclaim<P: Platform>(&self, platform: &P, free: impl FnMut(u64)) -> usize {
        self.advance_grace_period(platform);
        let done = self.gp_sequence();
        let (freed, tries) = self.deferred.take_completed(done, free);
        self.note(platform.this_cpu(), Ev::SharedRmws, tries);
        freed
    }

    /// Tables queued by `rcu` and not yet freed.
    pub fn pending_deferred(&self) -> usize {
        self.deferred.pending()
    }

    /// `percpu` flag of `cpu`: the id of the mm it is walking, or 0.
    pub fn walking_mm(&self, cpu: usize) -> u32 {
        self.cpus[cpu].walking.load(Ordering::Relaxed)
    }

    /// `rcu` read-side nesting depth of `cpu` (0 = quiescent).
    pub fn reader_depth(&self, cpu: usize) -> u64 {
        crate::rcu::depth(self.cpus[cpu].reader.load(Ordering::Relaxed))
    }

    /// The online CPUs this registry has state for.
    pub(crate) fn online<P: Platform>(&self, platform: &P) -> impl Iterator<Item = usize> {
        platform.online_cpus().into_iter().filter(|&cpu| cpu < CPUS)
    }
}

impl<const CPUS: usize, const SLOTS: usize> Default for Registry<CPUS, SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CPUS: usize, const SLOTS: usize> fmt::Debug for Registry<CPUS, SLOTS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("cpus", &CPUS)
            .field("defer_slots", &SLOTS)
            .field("gp_sequence", &self.gp_sequence())
            .field("pending_deferred", &self.pending_deferred())
            .field("weak_memory", &self.weak_memory())
            .finish()
    }
}
