//! What the model reports: cached entries, leftovers found at a free, errors,
//! statistics. Every `Display` is one grep-friendly line (a [`Leftovers`] is
//! a header line plus one line per item).

use crate::rules::{size_name, OpText};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::fmt;
use radix::{Level, PageSize, TlbieOperands};

/// A TLB entry: a translation of one page of (LPID, PID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TlbEntry {
    /// LPID.
    pub lpid: u32,
    /// PID.
    pub pid: u32,
    /// Page size (the size of the leaf it came from).
    pub size: PageSize,
    /// EA of the page (aligned to `size`).
    pub ea: u64,
    /// Real address of the page (aligned to `size`).
    pub pa: u64,
}

/// A page-walk-cache entry: a directory entry of (LPID, PID), read from a
/// table at `level`, covering `[ea, ea + span)` and pointing at `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PwcEntry {
    /// LPID.
    pub lpid: u32,
    /// PID.
    pub pid: u32,
    /// Level of the table that holds the directory entry (a PMD entry
    /// pointing at a PTE table has level `Pmd`).
    pub level: Level,
    /// First EA the entry covers.
    pub ea: u64,
    /// Real address of the table it points at.
    pub next: u64,
}

/// Level name as Linux spells it.
pub const fn level_name(level: Level) -> &'static str {
    match level {
        Level::Pgd => "PGD",
        Level::Pud => "PUD",
        Level::Pmd => "PMD",
        Level::Pte => "PTE",
    }
}

/// What a CPU holds (or the tree maps) that blocks a free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cached {
    /// A translation.
    Tlb(TlbEntry),
    /// A directory entry; `span` is the EA range it covers in bytes.
    Pwc {
        /// The entry.
        entry: PwcEntry,
        /// Bytes of EA it covers.
        span: u64,
    },
    /// The table is the root of (lpid, pid) in the process table.
    Root {
        /// LPID.
        lpid: u32,
        /// PID.
        pid: u32,
        /// The table.
        table: u64,
    },
}

impl Cached {
    /// (LPID, PID) it belongs to.
    pub const fn owner(&self) -> (u32, u32) {
        match *self {
            Cached::Tlb(e) => (e.lpid, e.pid),
            Cached::Pwc { entry, .. } => (entry.lpid, entry.pid),
            Cached::Root { lpid, pid, .. } => (lpid, pid),
        }
    }
}

impl fmt::Display for Cached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cached::Tlb(e) => write!(f, "TLB ea={:#x} size={} pa={:#x}", e.ea, size_name(e.size), e.pa),
            Cached::Pwc { entry, span } => write!(
                f,
                "PWC {} entry ea={:#x}..{:#x} next={:#x}",
                level_name(entry.level),
                entry.ea,
                entry.ea.wrapping_add(span),
                entry.next
            ),
            Cached::Root { table, .. } => write!(f, "process-table root={table:#x}"),
        }
    }
}

/// Why the item blocks the free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holding {
    /// The CPU may still hold it although it is no longer reachable: cleared
    /// (or switched away from) but not invalidated.
    Stale,
    /// The CPU can (re)create it only through a page-walk-cache entry it
    /// still holds for a table that is no longer linked there (possibly for
    /// a PID it is not running now but may run again).
    ViaWalkCache,
    /// The CPU runs the PID and the entry is reachable through the current
    /// tree: it is still mapped.
    Live,
    /// No particular CPU: the entry is in the current tree of a process
    /// whose root is set, so any CPU that runs it may cache it.
    Mapped,
}

impl Holding {
    const fn text(self) -> &'static str {
        match self {
            Holding::Stale => "stale (cleared, not invalidated)",
            Holding::ViaWalkCache => "reachable through a stale page-walk-cache entry",
            Holding::Live => "live (still mapped/linked, CPU runs the PID)",
            Holding::Mapped => "mapped (still in the process tree)",
        }
    }
}

/// One invalidation the kernel issued, kept per (LPID, PID) for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushRecord {
    /// Which `invalidate` call (1-based count).
    pub seq: u64,
    /// CPU that issued it.
    pub issuer: usize,
    /// `tlbiel`.
    pub local: bool,
    /// The LPID it applied to.
    pub lpid: u32,
    /// The operands.
    pub op: TlbieOperands,
    /// Position of the op in its sequence.
    pub index: u32,
    /// Ops in the sequence.
    pub count: u32,
}

impl fmt::Display for FlushRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} on cpu {} op {}/{}: {}",
            self.seq,
            self.issuer,
            self.index + 1,
            self.count,
            OpText { op: self.op, local: self.local, lpid: self.lpid }
        )
    }
}

/// One thing that blocks a free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leftover {
    /// The CPU that holds or can create it; `None` for [`Holding::Mapped`].
    pub cpu: Option<usize>,
    /// LPID.
    pub lpid: u32,
    /// PID.
    pub pid: u32,
    /// What is cached.
    pub what: Cached,
    /// Why it blocks the free.
    pub holding: Holding,
    /// For live, mapped and walk-cache items: the entry (table, index) that
    /// maps or links it.
    pub at: Option<(u64, usize)>,
    /// The last invalidation issued that targeted this PID (by EA or PID,
    /// its LPID, or all).
    pub last_flush: Option<FlushRecord>,
}

impl Leftover {
    /// What would have removed it (one line).
    pub fn remedy(&self) -> Remedy {
        Remedy(*self)
    }
}

/// The invalidation (or unmap) that would have removed a [`Leftover`].
#[derive(Clone, Copy, Debug)]
pub struct Remedy(Leftover);

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.0;
        let (lpid, pid) = (l.lpid, l.pid);
        let by = |f: &mut fmt::Formatter<'_>| match l.cpu {
            Some(c) => write!(f, " (tlbie, or tlbiel on cpu {c})"),
            None => Ok(()),
        };
        let at = |f: &mut fmt::Formatter<'_>| match l.at {
            Some((t, i)) => write!(f, " at table {t:#x} index {i}"),
            None => Ok(()),
        };
        match (l.what, l.holding) {
            (Cached::Tlb(e), Holding::Stale) => {
                write!(
                    f,
                    "RIC=0 PRS=1 IS=0 AP={} EA={:#x} PID={pid} LPID={lpid}, or RIC=0|2 PRS=1 IS=1 PID={pid}",
                    size_name(e.size),
                    e.ea
                )?;
                by(f)
            }
            (Cached::Pwc { .. }, Holding::Stale) => {
                write!(f, "RIC=1|2 PRS=1 IS=1 PID={pid} LPID={lpid}")?;
                by(f)
            }
            (Cached::Tlb(e), Holding::ViaWalkCache) => {
                write!(
                    f,
                    "RIC=2 PRS=1 IS=1 PID={pid} LPID={lpid} (drop the stale walk-cache entry and the TLB), or clear the leaf"
                )?;
                at(f)?;
                write!(f, " then RIC=0 IS=0 AP={} EA={:#x}", size_name(e.size), e.ea)
            }
            (Cached::Pwc { .. }, Holding::ViaWalkCache) => {
                write!(f, "RIC=1|2 PRS=1 IS=1 PID={pid} LPID={lpid} (drop the stale walk-cache entry), or clear the entry")?;
                at(f)
            }
            (Cached::Tlb(e), _) => {
                f.write_str("unmap first: clear the leaf")?;
                at(f)?;
                write!(
                    f,
                    ", then RIC=0 PRS=1 IS=0 AP={} EA={:#x} PID={pid} LPID={lpid}",
                    size_name(e.size),
                    e.ea
                )
            }
            (Cached::Pwc { .. }, _) => {
                f.write_str("unlink first: clear the directory entry")?;
                at(f)?;
                write!(f, ", then RIC=1|2 PRS=1 IS=1 PID={pid} LPID={lpid}")
            }
            (Cached::Root { .. }, _) => {
                write!(f, "clear the process-table entry of PID {pid} LPID {lpid} and switch every CPU away, then RIC=2 PRS=1 IS=1 PID={pid}")
            }
        }
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tlbmodel leftover: ")?;
        match self.cpu {
            Some(c) => write!(f, "cpu {c}")?,
            None => f.write_str("no cpu")?,
        }
        write!(f, " lpid {} pid {}: {} is {}", self.lpid, self.pid, self.what, self.holding.text())?;
        if let Some((t, i)) = self.at {
            write!(f, " (entry at table {t:#x} index {i})")?;
        }
        write!(f, "; would be removed by: {}", self.remedy())?;
        match self.last_flush {
            Some(r) => write!(f, "; last flush for pid {}: {r}", self.pid),
            None => write!(f, "; no flush for pid {} yet", self.pid),
        }
    }
}

/// What was being freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// Memory `[pa, pa + bytes)` (`check_free_page`).
    Page {
        /// Start.
        pa: u64,
        /// Length.
        bytes: u64,
    },
    /// A page-table page (`table_free`).
    Table {
        /// Start.
        pa: u64,
        /// Length.
        bytes: u64,
    },
}

/// Everything that blocked one free: the first `shown.len()` items (at most
/// the model's report limit, 8 by default) and the total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftovers {
    /// What was freed.
    pub freed: Freed,
    /// The items shown (ordered: no-CPU items first, then by CPU, then by
    /// entry).
    pub shown: Vec<Leftover>,
    /// How many items there were in all.
    pub total: usize,
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, pa, bytes) = match self.freed {
            Freed::Page { pa, bytes } => ("page", pa, bytes),
            Freed::Table { pa, bytes } => ("page-table page", pa, bytes),
        };
        write!(
            f,
            "tlbmodel: free of {kind} [{pa:#x}, +{bytes:#x}) while {} item(s) still hold or can reach it ({} shown)",
            self.total,
            self.shown.len()
        )?;
        for l in &self.shown {
            write!(f, "\n  {l}")?;
        }
        Ok(())
    }
}

/// A call the model cannot apply. The model is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// An invalidation operand set the ISA calls invalid, or that the model
    /// refuses to guess about.
    UnknownOp {
        /// Position in the sequence.
        index: usize,
        /// The operands.
        op: TlbieOperands,
        /// `tlbiel`.
        local: bool,
        /// Why.
        why: &'static str,
    },
    /// No live table at this address (`table_alloc` missing, or already
    /// freed).
    UnknownTable {
        /// The address.
        pa: u64,
    },
    /// The kernel's idea of the old entry value differs from the model's:
    /// a store was not reported.
    OutOfSync {
        /// Table.
        table: u64,
        /// Entry index.
        index: usize,
        /// What the model recorded.
        model: u64,
        /// What the kernel says the old value was.
        kernel: u64,
    },
    /// `table_alloc` of memory that overlaps a live table.
    DoubleAlloc {
        /// The new table.
        pa: u64,
        /// Its size.
        bytes: u64,
        /// The live table it overlaps.
        existing: u64,
    },
    /// A CPU number outside `0..ncpus`.
    BadCpu {
        /// The CPU given.
        cpu: usize,
        /// CPUs the model was built for.
        ncpus: usize,
    },
    /// A table size that is not one of the geometry's table sizes, a
    /// misaligned table, or a free with another size than the allocation.
    BadTable {
        /// The table.
        pa: u64,
        /// The size given.
        bytes: u64,
        /// Why.
        why: &'static str,
    },
    /// An entry index beyond the table.
    BadIndex {
        /// The table.
        table: u64,
        /// The index.
        index: usize,
        /// Entries in the table.
        entries: u64,
    },
    /// A store the model cannot follow: a directory entry to an unknown,
    /// already linked or wrong-sized table, a directory entry in a PTE-level
    /// or not yet linked table, a leaf in a root table.
    BadEntry {
        /// The table written.
        table: u64,
        /// The entry index.
        index: usize,
        /// The new value.
        value: u64,
        /// Why.
        why: &'static str,
    },
    /// A process-table root that cannot be a root.
    BadRoot {
        /// LPID.
        lpid: u32,
        /// PID.
        pid: u32,
        /// The table.
        root: u64,
        /// Why.
        why: &'static str,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tlbmodel error: ")?;
        match *self {
            ModelError::UnknownOp { index, op, local, why } => write!(
                f,
                "unknown op {} of the sequence ({}, rb={:#x} rs={:#x}): {why}",
                index + 1,
                OpText { op, local, lpid: op.rs as u32 },
                op.rb,
                op.rs
            ),
            ModelError::UnknownTable { pa } => write!(f, "no live page-table page at {pa:#x} (missing table_alloc?)"),
            ModelError::OutOfSync { table, index, model, kernel } => write!(
                f,
                "out of sync: table {table:#x} index {index}: model has {model:#x}, kernel says the old value was {kernel:#x} (an unreported store?)"
            ),
            ModelError::DoubleAlloc { pa, bytes, existing } => {
                write!(f, "table_alloc [{pa:#x}, +{bytes:#x}) overlaps live table {existing:#x}")
            }
            ModelError::BadCpu { cpu, ncpus } => write!(f, "cpu {cpu} is not in 0..{ncpus}"),
            ModelError::BadTable { pa, bytes, why } => write!(f, "table {pa:#x} of {bytes:#x} bytes: {why}"),
            ModelError::BadIndex { table, index, entries } => {
                write!(f, "index {index} is beyond table {table:#x} ({entries} entries)")
            }
            ModelError::BadEntry { table, index, value, why } => {
                write!(f, "store of {value:#x} at table {table:#x} index {index}: {why}")
            }
            ModelError::BadRoot { lpid, pid, root, why } => {
                write!(f, "root {root:#x} for lpid {lpid} pid {pid}: {why}")
            }
        }
    }
}

/// What `table_free` can return: leftovers (the free is unsafe) or a model
/// error (the table is unknown or freed with another size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The free is unsafe; the table was forgotten anyway.
    Leftovers(Leftovers),
    /// The call could not be applied; nothing changed.
    Model(ModelError),
}

impl From<ModelError> for FreeError {
    fn from(e: ModelError) -> FreeError {
        FreeError::Model(e)
    }
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreeError::Leftovers(l) => l.fmt(f),
            FreeError::Model(e) => e.fmt(f),
        }
    }
}

/// What one `invalidate` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InvalidateSummary {
    /// Operations in the sequence.
    pub ops: u32,
    /// Stale TLB entries removed.
    pub tlb_removed: u32,
    /// Stale page-walk-cache entries removed.
    pub pwc_removed: u32,
    /// TLB entries that were reachable only through a removed page-walk-cache
    /// entry and so became explicit stale entries (a later TLB invalidation
    /// must remove them).
    pub materialized: u32,
    /// Partition-scoped operations (accepted, no modelled effect).
    pub partition_scoped: u32,
    /// Complete `tlbiel` set sweeps applied.
    pub sweeps: u32,
    /// `tlbiel` IS != 0 sweeps that did not cover every set: their TLB part
    /// removed nothing.
    pub partial_sweeps: u32,
}

/// Counters and sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `table_alloc` calls.
    pub table_allocs: u64,
    /// `store` calls.
    pub stores: u64,
    /// `set_root` calls.
    pub set_roots: u64,
    /// `switch` calls.
    pub switches: u64,
    /// `invalidate` calls.
    pub invalidates: u64,
    /// Operations in them.
    pub ops: u64,
    /// `check_free_page` calls.
    pub page_checks: u64,
    /// `table_free` calls.
    pub table_frees: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Frees that had leftovers.
    pub bad_frees: u64,
    /// Leftover items reported in all.
    pub leftovers: u64,
    /// Partial `tlbiel` sweeps (no TLB effect).
    pub partial_sweeps: u64,
    /// Entries made explicit (switch-away, unlink under a running CPU, PWC
    /// invalidation, free).
    pub materialized: u64,
    /// Stale TLB entries now.
    pub stale_tlb: usize,
    /// Stale page-walk-cache entries now.
    pub stale_pwc: usize,
    /// Most stale TLB entries at once.
    pub max_stale_tlb: usize,
    /// Most stale page-walk-cache entries at once.
    pub max_stale_pwc: usize,
    /// Live page-table pages.
    pub live_tables: usize,
    /// Valid leaves in leveled tables.
    pub valid_leaves: usize,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tlbmodel stats: allocs={} stores={} roots={} switches={} invalidates={} ops={} page_checks={} \
             table_frees={} errors={} bad_frees={} leftovers={} partial_sweeps={} materialized={} \
             stale_tlb={} (max {}) stale_pwc={} (max {}) tables={} leaves={}",
            self.table_allocs,
            self.stores,
            self.set_roots,
            self.switches,
            self.invalidates,
            self.ops,
            self.page_checks,
            self.table_frees,
            self.errors,
            self.bad_frees,
            self.leftovers,
            self.partial_sweeps,
            self.materialized,
            self.stale_tlb,
            self.max_stale_tlb,
            self.stale_pwc,
            self.max_stale_pwc,
            self.live_tables,
            self.valid_leaves
        )
    }
}

/// Everything one CPU may hold now (diagnostics and tests; see
/// `Model::may_hold`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    /// TLB entries.
    pub tlb: BTreeSet<TlbEntry>,
    /// Page-walk-cache entries.
    pub pwc: BTreeSet<PwcEntry>,
}
