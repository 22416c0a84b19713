//! Per-address-space walker state, embedded in the kernel's mm.

use crate::sync::{array_of, loom_const_fn, AtomicUsize, Ordering};
use crate::MAX_CPUS;

/// The part of an mm the walker protocol owns.
///
/// Must be reachable by walkers in every mode they run in; a real-mode
/// walker reaches it by real address, so it has to live in memory the
/// kernel's linear map covers (not in a vmalloc-like area).
#[derive(Debug)]
pub struct MmSync {
    /// Walkers currently inside a walk of this mm (the `count` family),
    /// one shard per CPU: the per-mm count is the sum. Each shard is written
    /// only by its own CPU, with a plain load and store (see
    /// [`crate::counter`] for why not an atomic RMW).
    pub(crate) shards: [AtomicUsize; MAX_CPUS],
    /// `count-atomic`: the mm's one walker count, changed by every walker
    /// with an atomic read-modify-write (the v4 patch's `atomic_t`), alone
    /// in its (POWER9, 128-byte) cache line so that what walkers fight over
    /// is this word and nothing else.
    pub(crate) shared: SharedCount,
    /// Non-zero id; the `percpu` flags record it.
    id: u32,
}

/// The `count-atomic` walker count in a cache line of its own.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct SharedCount(pub(crate) AtomicUsize);

impl MmSync {
    loom_const_fn! {
        /// State for the mm with id `id`. Panics if `id` is 0 (0 means "no
        /// walk" in the per-CPU flags).
        pub fn new(id: u32) -> MmSync {
            assert!(id != 0, "mm id 0 is reserved for 'not walking'");
            MmSync {
                shards: array_of![AtomicUsize::new(0); MAX_CPUS],
                shared: SharedCount(AtomicUsize::new(0)),
                id,
            }
        }
    }

    /// The mm id given to [`MmSync::new`].
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The current walker count of the counting strategies, both counters
    /// added (a relaxed snapshot, for diagnostics only).
    pub fn walkers(&self) -> usize {
        self.shards.iter().map(|s| s.load(Ordering::Relaxed)).sum::<usize>()
            + self.shared.0.load(Ordering::Relaxed)
    }
}
