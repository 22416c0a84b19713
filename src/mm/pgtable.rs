//! Page-table memory: allocation of radix tables, big-endian entry access,
//! poisoned quarantine of freed tables, and the tree builder (walk down,
//! creating directory tables, to the slot of an address at a level).
//!
//! Table sizes for the 64K geometry: PGD 64 KB, PUD/PMD 4 KB, PTE 256 B.
//! Tables come from 64 KB frames, sub-allocated per size class. A freed table
//! is filled with [`POISON`] and kept in a FIFO quarantine before reuse, so a
//! walker that reads it late sees the poison (and the MMU faults on it: the
//! poison has the VALID bit clear) instead of somebody else's new entries.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use radix::{EntryView, Geometry, Level, PageSize, Pde, Pte, PteFlags};
use spin::Mutex;

use super::{frames, phys_to_virt, shadow};
use crate::arch;
use crate::sys::exit;

/// The geometry the kernel uses everywhere.
pub const GEOM: Geometry = Geometry::RADIX_64K;

/// What a freed table is filled with (logical value; VALID clear, so
/// hardware treats it as invalid, and distinctive for software walkers).
pub const POISON: u64 = 0x5a5a_dead_f00d_5a5a;

/// Tables kept poisoned before reuse, per size class.
const QUARANTINE: usize = 512;

/// Size classes: 256 B (PTE), 4 KB (PUD/PMD), 64 KB (PGD).
const CLASSES: [u64; 3] = [256, 4096, 65536];

struct Pool {
    free: [Vec<u64>; 3],
    quarantine: [VecDeque<u64>; 3],
    allocated: [u64; 3],
    freed: [u64; 3],
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: [Vec::new(), Vec::new(), Vec::new()],
    quarantine: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
    allocated: [0; 3],
    freed: [0; 3],
});

fn class(bytes: u64) -> usize {
    CLASSES.iter().position(|&c| c == bytes).unwrap_or_else(|| panic!("no table class of {bytes} bytes"))
}

/// Bytes of a table at `level`.
pub const fn level_bytes(level: Level) -> u64 {
    GEOM.table_bytes(level)
}

/// Allocates a zeroed table of `bytes` (aligned to its size); returns its
/// physical address.
pub fn alloc_table(bytes: u64) -> u64 {
    let c = class(bytes);
    let mut pool = POOL.lock();
    if pool.free[c].is_empty() {
        let pa = frames::alloc_phys(1, 1)
            .unwrap_or_else(|e| exit::fail(format_args!("page-table allocation: {e}")));
        let n = frames::FRAME / bytes;
        for i in (0..n).rev() {
            pool.free[c].push(pa + i * bytes);
        }
    }
    let pa = pool.free[c].pop().expect("refilled above");
    pool.allocated[c] += 1;
    drop(pool);
    // SAFETY: `pa` is a table-sized, table-aligned block owned by the pool
    // and handed out to no one else; the linear map covers it.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, bytes as usize) };
    shadow::table_alloc(pa, bytes);
    pa
}

/// Poisons a table and puts it in quarantine. The caller must have made sure
/// that no walker can still reach it (that is exactly what the strategies
/// under test do, or fail to do); the POWER9 model checks that no CPU's
/// walk cache can (a violation otherwise).
pub fn free_table(pa: u64, bytes: u64) {
    let c = class(bytes);
    shadow::table_free(pa, bytes);
    poison_unchecked(pa, bytes);
    let mut pool = POOL.lock();
    pool.freed[c] += 1;
    pool.quarantine[c].push_back(pa);
    if pool.quarantine[c].len() > QUARANTINE {
        let old = pool.quarantine[c].pop_front().expect("non-empty");
        pool.free[c].push(old);
    }
}

/// Fills a table with [`POISON`] without freeing it or asking the model
/// (only `free_table` and the `walk.bug=poison-linked` control).
pub fn poison_unchecked(pa: u64, bytes: u64) {
    for i in 0..bytes / 8 {
        entry_at(pa, i as usize).store(POISON.to_be(), Ordering::Relaxed);
    }
}

/// Writes an entry without telling the model (only the
/// `walk.bug=poison-linked` control, which restores what it poisoned).
pub fn overwrite_unchecked(table_pa: u64, idx: usize, value: u64) {
    entry_at(table_pa, idx).store(value.to_be(), Ordering::Relaxed);
}

/// The atomic doubleword of entry `idx` in the table at physical `table_pa`
/// (through the linear map; the raw value is big-endian).
#[inline(always)]
pub fn entry_at(table_pa: u64, idx: usize) -> &'static AtomicU64 {
    let va = phys_to_virt(table_pa) + idx as u64 * 8;
    // SAFETY: `table_pa` is a table from this pool (or the partition/process
    // table), mapped by the linear map and aligned to 8; entries are only ever
    // accessed atomically.
    unsafe { &*(va as *const AtomicU64) }
}

/// Reads an entry (logical value).
#[inline(always)]
pub fn read(table_pa: u64, idx: usize) -> u64 {
    u64::from_be(entry_at(table_pa, idx).load(Ordering::Relaxed))
}

/// Writes an entry (logical value) with a plain store, like Linux's
/// `set_pmd`/`pmd_clear`. Ordering is the caller's job: a barrier before
/// publishing a new table, `ptesync` before relying on the MMU seeing it.
/// The writer holds the lock of what it changes, so the old value read for
/// the model is the one overwritten.
#[inline(always)]
pub fn write(table_pa: u64, idx: usize, value: u64) {
    let old = read(table_pa, idx);
    entry_at(table_pa, idx).store(value.to_be(), Ordering::Relaxed);
    shadow::store(table_pa, idx, old, value);
}

/// Atomically replaces an entry, returning the old logical value.
#[inline(always)]
pub fn exchange(table_pa: u64, idx: usize, value: u64) -> u64 {
    let old = u64::from_be(entry_at(table_pa, idx).swap(value.to_be(), Ordering::AcqRel));
    shadow::store(table_pa, idx, old, value);
    old
}

/// The `walk.bug=torn-write` control: writes an entry as two 32-bit halves,
/// the high one first, with `between` run between them, so that a walker
/// can read it torn.
pub fn write_torn(table_pa: u64, idx: usize, value: u64, between: impl FnOnce()) {
    let old = read(table_pa, idx);
    let va = phys_to_virt(table_pa) + idx as u64 * 8;
    // SAFETY: the entry is 8-byte aligned in a live page-table page; its
    // two big-endian halves are naturally aligned 32-bit words.
    let (hi, lo) = unsafe { (&*(va as *const AtomicU32), &*((va + 4) as *const AtomicU32)) };
    hi.store(((value >> 32) as u32).to_be(), Ordering::Relaxed);
    between();
    lo.store((value as u32).to_be(), Ordering::Relaxed);
    shadow::store(table_pa, idx, old, value);
}

/// True if any entry of the table holds the poison pattern.
pub fn is_poisoned(table_pa: u64, bytes: u64) -> bool {
    (0..bytes / 8).any(|i| read(table_pa, i as usize) == POISON)
}

// ---------------------------------------------------------------------------
// The tree builder.

/// A mapping request that cannot be satisfied.
#[derive(Clone, Copy, Debug)]
pub enum MapError {
    /// The slot holds a leaf or table that would be overwritten.
    Occupied { level: Level, entry: u64 },
    /// Address or size not encodable.
    Encode(radix::EncodeError),
    /// Nothing mapped there.
    NotMapped { level: Level },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Occupied { level, entry } => write!(f, "{level:?} slot occupied by {entry:#018x}"),
            MapError::Encode(e) => write!(f, "{e:?}"),
            MapError::NotMapped { level } => write!(f, "nothing mapped at {level:?} level"),
        }
    }
}

/// The level whose leaves have `size`.
pub const fn leaf_level(size: PageSize) -> Level {
    match size {
        PageSize::Size1G => Level::Pud,
        PageSize::Size2M => Level::Pmd,
        _ => Level::Pte,
    }
}

/// Walks from `root` to the table at `level` for `va`, creating missing
/// directory tables; returns (table_pa, index) of the slot.
pub fn slot_alloc(root: u64, va: u64, level: Level) -> Result<(u64, usize), MapError> {
    let mut table = root;
    let mut l = Level::Pgd;
    while l != level {
        let idx = GEOM.index(l, va);
        let next = l.next().expect("level above the target");
        let e = read(table, idx);
        table = match EntryView::of(e) {
            EntryView::Table(pde) => pde.next_table_pa(),
            EntryView::Empty => {
                let t = alloc_table(level_bytes(next));
                let pde = Pde::table(t, GEOM.index_bits(next)).map_err(MapError::Encode)?;
                // The zeroed table must be visible before the pointer to it.
                arch::lwsync();
                write(table, idx, pde.raw());
                t
            }
            _ => return Err(MapError::Occupied { level: l, entry: e }),
        };
        l = next;
    }
    Ok((table, GEOM.index(level, va)))
}

/// Like [`slot_alloc`] but never creates tables.
pub fn slot_lookup(root: u64, va: u64, level: Level) -> Result<(u64, usize), MapError> {
    let mut table = root;
    let mut l = Level::Pgd;
    while l != level {
        let e = read(table, GEOM.index(l, va));
        table = match EntryView::of(e) {
            EntryView::Table(pde) => pde.next_table_pa(),
            EntryView::Empty => return Err(MapError::NotMapped { level: l }),
            _ => return Err(MapError::Occupied { level: l, entry: e }),
        };
        l = l.next().expect("level above the target");
    }
    Ok((table, GEOM.index(level, va)))
}

/// Installs a leaf for `va` → `pa` of `size` in the tree at `root`.
pub fn map_in(root: u64, va: u64, pa: u64, size: PageSize, flags: PteFlags) -> Result<(), MapError> {
    let (table, idx) = slot_alloc(root, va, leaf_level(size))?;
    let old = read(table, idx);
    if old != 0 {
        return Err(MapError::Occupied { level: leaf_level(size), entry: old });
    }
    let pte = Pte::leaf(pa, size, flags).map_err(MapError::Encode)?;
    write(table, idx, pte.raw());
    arch::ptesync();
    Ok(())
}
