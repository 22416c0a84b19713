//! The counter handshake of the `count` family, with the fence as a
//! parameter: `count`/`count-wait` pass [`Barrier::Sync`], the negative
//! controls [`Barrier::Lwsync`] and [`Barrier::NoFence`]. Nothing else
//! differs between them.
//!
//! Shape (store buffering):
//! walker `count += 1; F; read PMD` ‖ changer `write PMD; F; read count`.
//! With `sync` on both sides at least one of them sees the other's store:
//! either the changer sees the walker counted, or the walker reads the new
//! PMD and never reaches the old table.

use crate::sync::Ordering;
use crate::words::{WalkerWords, Word};
use crate::{Barrier, CpuMask, MmSync};

// The per-mm count is sharded per CPU and each shard is updated with a
// plain load + store by its own CPU, not with an atomic read-modify-write.
// For the store-buffering shape this is exactly what Linux's `atomic_inc`
// is on Power: `ldarx/stdcx.` orders nothing, so the increment may still be
// in the store queue when the following PMD load is satisfied; only the
// fence after it (`sync`, not `lwsync`) prevents that. QEMU on an x86 host
// emulates `stdcx.` with a locked `cmpxchg`, a full fence, which would make
// the broken controls look correct (the kernel's SB litmus shows it:
// RMW + no fence never reorders there, store + lwsync does). Sharding also
// keeps walkers on different CPUs off one cache line.

/// Walker: count this walk in the mm (its CPU's shard), then fence before
/// the first table read.
#[inline(always)]
pub(crate) fn enter<W: WalkerWords>(walker: &mut W, barrier: Barrier) {
    let count = walker.load(Word::Count);
    walker.store(Word::Count, count + 1);
    walker.fence(barrier);
}

/// Walker: end the walk. The decrement is a release so that every table
/// read of the walk is complete before a changer can see the lower count.
#[inline(always)]
pub(crate) fn exit<W: WalkerWords>(walker: &mut W, barrier: Barrier) {
    let count = walker.load(Word::Count);
    walker.store_exit(Word::Count, count - 1, barrier.release());
}

/// Changer, after storing the new PMD: fence, then read the count (the sum
/// of the shards of the `online` CPUs; walkers are always online). The
/// reads are acquires so that a zero written by a finished walker's
/// decrement orders that walker's reads before whatever the changer does
/// next.
#[inline(always)]
pub(crate) fn observe(mm: &MmSync, online: CpuMask, barrier: Barrier) -> usize {
    barrier.fence();
    reload(mm, online, barrier)
}

/// Changer: read the count again (inside a wait loop, after [`observe`]).
///
/// Relaxed loads followed by an acquire *fence* rather than acquire loads:
/// the same C11 guarantee, but on Power a fence is `lwsync` while each
/// acquire load is `ld; cmp; bc; isync`, and QEMU ends a translation block
/// at every `isync`, which drains the host's store buffer and would hide the
/// reordering the negative controls exist to show.
#[inline(always)]
pub(crate) fn reload(mm: &MmSync, online: CpuMask, barrier: Barrier) -> usize {
    let n =
        online.iter().filter(|&c| c < mm.shards.len()).map(|c| mm.shards[c].load(Ordering::Relaxed)).sum();
    if barrier.acquire() != Ordering::Relaxed {
        crate::sync::fence(Ordering::Acquire);
    }
    n
}
