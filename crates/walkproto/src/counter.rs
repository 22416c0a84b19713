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
use crate::{Barrier, Counter, CpuMask, MmSync};

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

// `count-atomic` is the v4 patch as posted: one `atomic_t` per mm,
// `atomic_inc` then `smp_mb()` before the walk, a release decrement after.
// On Power the increment is `ldarx; addi; stdcx.; bne-`, which orders
// nothing by itself: its store can sit in the store queue past the next
// load exactly like `count`'s plain store, and the `sync` after it is what
// forbids SB. The shape is the same; what differs is the cost: every
// walker of the mm writes one cache line.

/// Walker: count this walk in the mm (its CPU's shard, or the mm's shared
/// atomic), then fence before the first table read.
#[inline(always)]
pub(crate) fn enter<W: WalkerWords>(walker: &mut W, counter: Counter, barrier: Barrier) {
    match counter {
        Counter::Sharded => {
            let count = walker.load(Word::Count);
            walker.store(Word::Count, count + 1);
        }
        Counter::Shared => {
            walker.fetch_add(Word::Shared, 1);
        }
    }
    walker.fence(barrier);
}

/// Walker: end the walk. The decrement is a release so that every table
/// read of the walk is complete before a changer can see the lower count.
#[inline(always)]
pub(crate) fn exit<W: WalkerWords>(walker: &mut W, counter: Counter, barrier: Barrier) {
    match counter {
        Counter::Sharded => {
            let count = walker.load(Word::Count);
            walker.store_exit(Word::Count, count - 1, barrier.release());
        }
        Counter::Shared => walker.fetch_sub_exit(Word::Shared, 1, barrier.release()),
    }
}

/// Changer, after storing the new PMD: fence, then read the count (the sum
/// of the shards of the `online` CPUs, walkers are always online; or the
/// shared atomic). The reads are acquires so that a zero written by a
/// finished walker's decrement orders that walker's reads before whatever
/// the changer does next. (For the shared count a zero read from another
/// walker's later increment or decrement still does: read-modify-writes
/// continue the release sequence of the decrement they follow.)
#[inline(always)]
pub(crate) fn observe(mm: &MmSync, counter: Counter, online: CpuMask, barrier: Barrier) -> usize {
    barrier.fence();
    reload(mm, counter, online, barrier)
}

/// Words another CPU writes that one [`reload`] reads: one per online CPU
/// for the shards, one for the shared count (event accounting).
pub(crate) fn words_read(counter: Counter, online: CpuMask) -> u64 {
    match counter {
        Counter::Sharded => online.count() as u64,
        Counter::Shared => 1,
    }
}

/// Changer: read the count again (inside a wait loop, after [`observe`]).
///
/// Relaxed loads followed by an acquire *fence* rather than acquire loads:
/// the same C11 guarantee, but on Power a fence is `lwsync` while each
/// acquire load is `ld; cmp; bc; isync`, and QEMU ends a translation block
/// at every `isync`, which drains the host's store buffer and would hide the
/// reordering the negative controls exist to show.
#[inline(always)]
pub(crate) fn reload(mm: &MmSync, counter: Counter, online: CpuMask, barrier: Barrier) -> usize {
    let n = match counter {
        Counter::Sharded => {
            online.iter().filter(|&c| c < mm.shards.len()).map(|c| mm.shards[c].load(Ordering::Relaxed)).sum()
        }
        Counter::Shared => mm.shared.0.load(Ordering::Relaxed),
    };
    if barrier.acquire() != Ordering::Relaxed {
        crate::sync::fence(Ordering::Acquire);
    }
    n
}

/// Loom: the shared count's handshake with each fence, on the crate's own
/// counter code (`count-atomic` is the `Sync` row; the other two rows are
/// no strategy of their own, so they are modelled here rather than in
/// `tests/loom_model.rs`). Walker: `enter`, read the PMD, read the table
/// it names, `exit`. Changer: publish the new table, `observe`, poison the
/// old table if the count was 0. With `sync` no walker reads a poisoned
/// table; with `lwsync` or no fence loom must find one (SB is allowed),
/// which shows that the locked add of an x86 host is not what makes the
/// strategy correct.
#[cfg(all(test, loom))]
mod loom_shared {
    use std::sync::atomic::{AtomicUsize as StdCounter, Ordering as StdOrdering};
    use std::sync::Arc as StdArc;

    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::words::Direct;
    use crate::Registry;

    const OLD: usize = 0;
    const NEW: usize = 1;
    const VALID: usize = 1;
    const POISON: usize = 2;

    /// Executions, and walkers that read the poisoned old table.
    fn run(barrier: Barrier) -> (usize, usize, usize) {
        let (runs, freed, skipped) = (
            StdArc::new(StdCounter::new(0)),
            StdArc::new(StdCounter::new(0)),
            StdArc::new(StdCounter::new(0)),
        );
        let (r, f, k) = (runs.clone(), freed.clone(), skipped.clone());
        loom::model(move || {
            r.fetch_add(1, StdOrdering::Relaxed);
            let reg = Arc::new(Registry::<2, 1>::new());
            let mm = Arc::new(MmSync::new(1));
            let pmd = Arc::new(AtomicUsize::new(OLD));
            let tables = Arc::new([AtomicUsize::new(VALID), AtomicUsize::new(0)]);
            let walker = {
                let (reg, mm, pmd, tables, f) =
                    (reg.clone(), mm.clone(), pmd.clone(), tables.clone(), f.clone());
                thread::spawn(move || {
                    let mut words = Direct { registry: &*reg, mm: &*mm, cpu: 1 };
                    enter(&mut words, Counter::Shared, barrier);
                    let t = pmd.load(Ordering::Acquire);
                    if tables[t].load(Ordering::Relaxed) == POISON {
                        f.fetch_add(1, StdOrdering::Relaxed);
                    }
                    exit(&mut words, Counter::Shared, barrier);
                })
            };
            tables[NEW].store(VALID, Ordering::Relaxed);
            pmd.store(NEW, Ordering::Release);
            if observe(&mm, Counter::Shared, CpuMask::first(2), barrier) == 0 {
                k.fetch_add(1, StdOrdering::Relaxed);
                tables[OLD].store(POISON, Ordering::Relaxed);
            }
            walker.join().unwrap();
        });
        let get = |c: &StdCounter| c.load(StdOrdering::Relaxed);
        (get(&runs), get(&freed), get(&skipped))
    }

    #[test]
    fn shared_count_with_sync_is_safe() {
        let (runs, freed, skipped) = run(Barrier::Sync);
        println!("shared count, sync: {runs} executions, {freed} freed reads, {skipped} frees at once");
        assert_eq!(freed, 0);
        assert!(skipped > 0 && skipped < runs, "both branches explored: {skipped}/{runs}");
    }

    #[test]
    fn shared_count_with_lwsync_or_no_fence_is_caught() {
        for barrier in [Barrier::Lwsync, Barrier::NoFence] {
            let (runs, freed, _) = run(barrier);
            println!("shared count, {barrier:?}: {runs} executions, {freed} freed reads");
            assert!(freed > 0, "{barrier:?}: loom found no counterexample");
        }
    }
}
