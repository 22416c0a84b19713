//! The violation detector's records: every check in the walkers that fails
//! lands here with CPU, strategy, walker kind, address and the entries seen.
//! Recording is lock-free (walkers run with EE=0, in real mode, and inside
//! interrupt handlers); the first few records are kept for the report.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

use crate::sys::{percpu, time};

/// What a walker (or the POWER9 cache model) saw that must not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum What {
    /// Read an entry of a page-table page that was freed (poisoned).
    PoisonedTable = 1,
    /// A huge leaf the walker pointed at became a table pointer (a split
    /// completed) while the walker still used the pointer.
    SplitUnderWalker = 2,
    /// A leaf pointed outside every folio (torn or garbage entry).
    TornEntry = 3,
    /// A reference was taken on a folio that was already free.
    RefOnFreedPage = 4,
    /// Data of a folio we hold a reference on was poisoned or belonged to
    /// another incarnation.
    FreedPageData = 5,
    /// The MMU returned data of no folio the slot mapped during the access:
    /// a translation through a stale TLB entry.
    StaleTlbAccess = 6,
    /// The MMU faulted on an address its slot mapped throughout the access:
    /// a walk through a freed (poisoned) page-table page.
    FaultOnMapped = 7,
    /// A gup pinned a folio (both re-checks passed) that a collapse had
    /// already isolated.
    PinDuringCollapse = 8,
    /// Memory was freed while the POWER9 model says some CPU's TLB may still
    /// translate to it.
    StaleTlbAtFree = 9,
    /// A page-table page was freed while some CPU's page-walk cache may
    /// still point at it (or it was still linked).
    StalePwcAtFree = 10,
}

impl What {
    /// Every kind, in report order.
    pub const ALL: [What; 10] = [
        What::PoisonedTable,
        What::SplitUnderWalker,
        What::TornEntry,
        What::RefOnFreedPage,
        What::FreedPageData,
        What::StaleTlbAccess,
        What::FaultOnMapped,
        What::PinDuringCollapse,
        What::StaleTlbAtFree,
        What::StalePwcAtFree,
    ];

    fn from_u8(v: u8) -> Option<What> {
        What::ALL.into_iter().find(|w| *w as u8 == v)
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            What::PoisonedTable => "poisoned-table-read",
            What::SplitUnderWalker => "split-under-walker",
            What::TornEntry => "torn-entry",
            What::RefOnFreedPage => "ref-on-freed-page",
            What::FreedPageData => "freed-page-data",
            What::StaleTlbAccess => "stale-tlb-access",
            What::FaultOnMapped => "fault-on-mapped",
            What::PinDuringCollapse => "pin-during-collapse",
            What::StaleTlbAtFree => "stale-tlb-at-free",
            What::StalePwcAtFree => "stale-pwc-at-free",
        }
    }
}

/// One recorded violation.
#[derive(Clone, Copy, Debug)]
pub struct Violation {
    pub what: What,
    pub cpu: u32,
    pub kind: &'static str,
    pub strategy: &'static str,
    pub va: u64,
    /// Entry (or data word) first seen, and the one seen at use time.
    pub seen: u64,
    pub now: u64,
    /// Timebase when it happened.
    pub tb: u64,
}

impl Violation {
    /// Microseconds since `start` (timebase) when it happened.
    pub fn at_us(&self, start: u64) -> u64 {
        crate::sys::time::tb_to_us(self.tb.saturating_sub(start))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VIOLATION {} cpu={} strategy={} walker={} va={:#x} seen={:#018x} now={:#018x}",
            self.what.name(),
            self.cpu,
            self.strategy,
            self.kind,
            self.va,
            self.seen,
            self.now
        )
    }
}

const KEEP: usize = 16;

struct Slot {
    state: AtomicU32, // 0 empty, 1 writing, 2 full
    what: AtomicU32,
    cpu: AtomicU32,
    kind: AtomicUsize,
    kind_len: AtomicUsize,
    strategy: AtomicUsize,
    strategy_len: AtomicUsize,
    va: AtomicU64,
    seen: AtomicU64,
    now: AtomicU64,
    tb: AtomicU64,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU32::new(0),
            what: AtomicU32::new(0),
            cpu: AtomicU32::new(0),
            kind: AtomicUsize::new(0),
            kind_len: AtomicUsize::new(0),
            strategy: AtomicUsize::new(0),
            strategy_len: AtomicUsize::new(0),
            va: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            now: AtomicU64::new(0),
            tb: AtomicU64::new(0),
        }
    }
}

static RECORDS: [Slot; KEEP] = [const { Slot::new() }; KEEP];
static TOTAL: AtomicU64 = AtomicU64::new(0);
static BY_WHAT: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
static FIRST_TB: AtomicU64 = AtomicU64::new(0);
static FIRST_BY_WHAT: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// Forgets everything recorded (start of a run).
pub fn reset() {
    for s in &RECORDS {
        s.state.store(0, Relaxed);
    }
    for c in BY_WHAT.iter().chain(FIRST_BY_WHAT.iter()) {
        c.store(0, Relaxed);
    }
    TOTAL.store(0, Relaxed);
    FIRST_TB.store(0, Release);
}

/// Records a violation (callable with EE=0, in real mode, in handlers).
pub fn record(what: What, kind: &'static str, strategy: &'static str, va: u64, seen: u64, now: u64) {
    record_for(percpu::cpu_id(), what, kind, strategy, va, seen, now)
}

/// Records a violation attributed to `cpu`.
fn record_for(cpu: usize, what: What, kind: &'static str, strategy: &'static str, va: u64, seen: u64, now: u64) {
    let tb = time::now();
    let n = TOTAL.fetch_add(1, AcqRel);
    BY_WHAT[what as usize].fetch_add(1, Relaxed);
    let _ = FIRST_TB.compare_exchange(0, tb, AcqRel, Relaxed);
    let _ = FIRST_BY_WHAT[what as usize].compare_exchange(0, tb, AcqRel, Relaxed);
    if (n as usize) < KEEP {
        let s = &RECORDS[n as usize];
        s.state.store(1, Relaxed);
        s.what.store(what as u32, Relaxed);
        s.cpu.store(cpu as u32, Relaxed);
        s.kind.store(kind.as_ptr() as usize, Relaxed);
        s.kind_len.store(kind.len(), Relaxed);
        s.strategy.store(strategy.as_ptr() as usize, Relaxed);
        s.strategy_len.store(strategy.len(), Relaxed);
        s.va.store(va, Relaxed);
        s.seen.store(seen, Relaxed);
        s.now.store(now, Relaxed);
        s.tb.store(tb, Relaxed);
        s.state.store(2, Release);
    }
}

/// Violations recorded since the last reset.
pub fn total() -> u64 {
    TOTAL.load(Acquire)
}

/// Count of one kind of violation.
pub fn count(what: What) -> u64 {
    BY_WHAT[what as usize].load(Relaxed)
}

/// Timebase of the first violation since the reset (0 = none).
pub fn first_tb() -> u64 {
    FIRST_TB.load(Acquire)
}

/// Timebase of the first violation of kind `what` since the reset (0 = none).
pub fn first_tb_of(what: What) -> u64 {
    FIRST_BY_WHAT[what as usize].load(Acquire)
}

fn static_str(ptr: usize, len: usize) -> &'static str {
    // SAFETY: `record` stores only pointers and lengths of `&'static str`
    // values, and a slot is read only after its Release store of state 2.
    unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(ptr as *const u8, len)) }
}

/// The recorded violations (at most the first 16).
pub fn records() -> impl Iterator<Item = Violation> {
    RECORDS.iter().filter(|s| s.state.load(Acquire) == 2).filter_map(|s| {
        Some(Violation {
            what: What::from_u8(s.what.load(Relaxed) as u8)?,
            cpu: s.cpu.load(Relaxed),
            kind: static_str(s.kind.load(Relaxed), s.kind_len.load(Relaxed)),
            strategy: static_str(s.strategy.load(Relaxed), s.strategy_len.load(Relaxed)),
            va: s.va.load(Relaxed),
            seen: s.seen.load(Relaxed),
            now: s.now.load(Relaxed),
            tb: s.tb.load(Relaxed),
        })
    })
}

/// Per-kind counts as `name=n` pairs for the report.
pub fn summary() -> alloc::string::String {
    use core::fmt::Write;
    let mut s = alloc::string::String::new();
    for w in What::ALL {
        let c = count(w);
        if c > 0 {
            let _ = write!(s, "{}={} ", w.name(), c);
        }
    }
    s
}

/// The strategy of the run in progress, for records that do not come from a
/// walker (the POWER9 model's).
static RUN_STRATEGY: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Model reports printed in full during this run (the rest are counted).
static PRINTED: AtomicU64 = AtomicU64::new(0);
const PRINT_MODEL_REPORTS: u64 = 1;

/// Sets the strategy that model violations are attributed to (None: no run).
pub fn set_run_strategy(s: Option<walkproto::Strategy>) {
    let i = s.and_then(|s| walkproto::Strategy::ALL.iter().position(|&x| x == s)).unwrap_or(usize::MAX);
    RUN_STRATEGY.store(i, Relaxed);
    PRINTED.store(0, Relaxed);
}

/// The POWER9 model's violation hook: a free that some CPU can still
/// reach. Each item becomes a record of its kind (a TLB entry:
/// `stale-tlb-at-free`; a walk-cache entry, a linked table or a root:
/// `stale-pwc-at-free`), attributed to the CPU that holds it; the first
/// few reports are printed whole (CPU, PID, VA, size, the flush that would
/// have removed it, the last flush issued).
pub fn unsafe_free(l: &tlbmodel::Leftovers) {
    use tlbmodel::Cached;
    let strategy =
        walkproto::Strategy::ALL.get(RUN_STRATEGY.load(Relaxed)).map_or("-", |s| s.name());
    if PRINTED.fetch_add(1, Relaxed) < PRINT_MODEL_REPORTS {
        crate::println!("{l}");
    }
    let freed = match l.freed {
        tlbmodel::Freed::Page { pa, .. } | tlbmodel::Freed::Table { pa, .. } => pa,
    };
    for item in &l.shown {
        let (what, va) = match item.what {
            Cached::Tlb(e) => (What::StaleTlbAtFree, e.ea),
            Cached::Pwc { entry, .. } => (What::StalePwcAtFree, entry.ea),
            Cached::Root { .. } => (What::StalePwcAtFree, 0),
        };
        record_for(item.cpu.unwrap_or(usize::MAX), what, "tlbmodel", strategy, va, freed, item.pid as u64);
    }
}
