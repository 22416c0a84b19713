//! What one `tlbie`/`tlbiel` removes, as data: [`RULES`] has one row per
//! (IS, RIC, PRS, tlbie|tlbiel) with R=1, and [`decode`] turns the operands
//! the kernel issued into a concrete [`Target`] or an error.
//!
//! Sources (facts only; nothing copied):
//! * Power ISA 3.0B, Book III, `tlbie`/`tlbiel` (radix, `effR = 1`): with IS=0
//!   and RIC=0 a TLB entry is invalidated when its EA matches RB down to the
//!   page size given by AP, its *actual page size equals* the AP size, its
//!   LPID matches, its scope matches PRS and (PRS=1) its PID equals RS 0:31.
//!   IS=1: every process-scoped entry of (LPID, PID); IS=2: of LPID;
//!   IS=3: all. RIC=0 TLB, RIC=1 page-walk cache, RIC=2 both (and cached
//!   process/partition-table entries). PRS=0 selects partition-scoped
//!   entries only.
//! * QEMU `target/ppc/mmu_helper.c` `helper_tlbie_isa300`: invalid forms with
//!   effR=1 are RIC=3, RIC=1|2 with IS=0, PRS=0 with IS=1, `tlbiel` RIC=1 with
//!   a set number other than 0, and an unsupported AP (4K=0, 64K=5, 2M=1,
//!   1G=2); by-EA process-scoped invalidation outside quadrant 0 is
//!   "boundedly undefined".
//! * Linux `arch/powerpc/mm/book3s64/radix_tlb.c`: `__tlbie_va` (RB = EA |
//!   AP << 5, RS = PID << 32), `__tlbie_pid` (IS=1), `__tlbie_lpid_guest`
//!   (IS=2, PRS=1), `_tlbiel_pid` (set 0 with the requested RIC, sets
//!   1..`POWER9_TLB_SETS_RADIX` with RIC=0; RIC=1 needs set 0 only),
//!   `tlbiel_all_isa300` (IS=3 sweeps for both scopes).

use core::fmt;
use radix::{PageSize, TlbieOperands};

/// Which cached entries of the selected kind an operation matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// IS=0: the TLB entries of (LPID, PID) of the AP page size whose page
    /// contains the EA in RB.
    Va,
    /// IS=1: every entry of (LPID, PID).
    Pid,
    /// IS=2: every process-scoped entry of LPID, any PID.
    Lpid,
    /// IS=3: every process-scoped entry.
    All,
}

/// What one instruction form does to the state the model keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The ISA calls the form invalid (QEMU raises a program interrupt); the
    /// model returns an error naming the operation.
    Invalid(&'static str),
    /// A valid partition-scoped form (PRS=0). The model holds no
    /// partition-scoped entries (a hypervisor's quadrant-0 translations with
    /// MSR\[HV\]=1 are purely process scoped), so nothing changes.
    PartitionScoped,
    /// A process-scoped form (PRS=1).
    Process {
        /// Which entries it matches.
        sel: Selector,
        /// Removes TLB entries (RIC=0 or 2).
        tlb: bool,
        /// Removes page-walk-cache entries (RIC=1 or 2). For `tlbiel` only
        /// an instruction with set 0 does (the PWC is not set indexed; a
        /// RIC=2 `tlbiel` with another set is assumed to clear only its TLB
        /// set, the conservative reading).
        pwc: bool,
        /// The TLB part removes one TLB congruence class only (`tlbiel` with
        /// IS != 0): it takes effect when one sequence has covered every set.
        tlb_by_set: bool,
    },
}

/// One row of [`RULES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// RB IS field (bits 11:10).
    pub is: u8,
    /// RIC immediate.
    pub ric: u8,
    /// PRS immediate.
    pub prs: u8,
    /// `tlbiel` (this CPU only) rather than `tlbie` (every CPU).
    pub local: bool,
    /// What it does.
    pub effect: Effect,
}

const RIC3: &str = "RIC=3 (hash TLB-group form) is invalid with R=1";
const RIC_NEEDS_IS: &str = "RIC=1|2 (page-walk cache) is invalid with IS=0";
const PRS0_IS1: &str = "PRS=0 with IS=1 is invalid (partition scope has no PID)";

const fn bad(is: u8, ric: u8, prs: u8, local: bool, why: &'static str) -> Rule {
    Rule { is, ric, prs, local, effect: Effect::Invalid(why) }
}

const fn part(is: u8, ric: u8, local: bool) -> Rule {
    Rule { is, ric, prs: 0, local, effect: Effect::PartitionScoped }
}

const fn proc(is: u8, ric: u8, local: bool, sel: Selector) -> Rule {
    let tlb = ric == 0 || ric == 2;
    let pwc = ric == 1 || ric == 2;
    let tlb_by_set = local && tlb && is != 0;
    Rule { is, ric, prs: 1, local, effect: Effect::Process { sel, tlb, pwc, tlb_by_set } }
}

use Selector::{All, Lpid, Pid, Va};

/// The invalidation table (R=1), indexed by [`rule_index`]: PRS, then IS,
/// then RIC, then tlbie (`local = false`) before tlbiel.
pub const RULES: [Rule; 64] = [
    // PRS=0 (partition scoped), IS=0 (by guest real address)
    part(0, 0, false),
    part(0, 0, true),
    bad(0, 1, 0, false, RIC_NEEDS_IS),
    bad(0, 1, 0, true, RIC_NEEDS_IS),
    bad(0, 2, 0, false, RIC_NEEDS_IS),
    bad(0, 2, 0, true, RIC_NEEDS_IS),
    bad(0, 3, 0, false, RIC3),
    bad(0, 3, 0, true, RIC3),
    // PRS=0, IS=1
    bad(1, 0, 0, false, PRS0_IS1),
    bad(1, 0, 0, true, PRS0_IS1),
    bad(1, 1, 0, false, PRS0_IS1),
    bad(1, 1, 0, true, PRS0_IS1),
    bad(1, 2, 0, false, PRS0_IS1),
    bad(1, 2, 0, true, PRS0_IS1),
    bad(1, 3, 0, false, RIC3),
    bad(1, 3, 0, true, RIC3),
    // PRS=0, IS=2 (LPID)
    part(2, 0, false),
    part(2, 0, true),
    part(2, 1, false),
    part(2, 1, true),
    part(2, 2, false),
    part(2, 2, true),
    bad(2, 3, 0, false, RIC3),
    bad(2, 3, 0, true, RIC3),
    // PRS=0, IS=3 (all)
    part(3, 0, false),
    part(3, 0, true),
    part(3, 1, false),
    part(3, 1, true),
    part(3, 2, false),
    part(3, 2, true),
    bad(3, 3, 0, false, RIC3),
    bad(3, 3, 0, true, RIC3),
    // PRS=1 (process scoped), IS=0 (by EA)
    proc(0, 0, false, Va),
    proc(0, 0, true, Va),
    bad(0, 1, 1, false, RIC_NEEDS_IS),
    bad(0, 1, 1, true, RIC_NEEDS_IS),
    bad(0, 2, 1, false, RIC_NEEDS_IS),
    bad(0, 2, 1, true, RIC_NEEDS_IS),
    bad(0, 3, 1, false, RIC3),
    bad(0, 3, 1, true, RIC3),
    // PRS=1, IS=1 (PID)
    proc(1, 0, false, Pid),
    proc(1, 0, true, Pid),
    proc(1, 1, false, Pid),
    proc(1, 1, true, Pid),
    proc(1, 2, false, Pid),
    proc(1, 2, true, Pid),
    bad(1, 3, 1, false, RIC3),
    bad(1, 3, 1, true, RIC3),
    // PRS=1, IS=2 (LPID)
    proc(2, 0, false, Lpid),
    proc(2, 0, true, Lpid),
    proc(2, 1, false, Lpid),
    proc(2, 1, true, Lpid),
    proc(2, 2, false, Lpid),
    proc(2, 2, true, Lpid),
    bad(2, 3, 1, false, RIC3),
    bad(2, 3, 1, true, RIC3),
    // PRS=1, IS=3 (all)
    proc(3, 0, false, All),
    proc(3, 0, true, All),
    proc(3, 1, false, All),
    proc(3, 1, true, All),
    proc(3, 2, false, All),
    proc(3, 2, true, All),
    bad(3, 3, 1, false, RIC3),
    bad(3, 3, 1, true, RIC3),
];

/// Index of the row for (IS, RIC, PRS, local) in [`RULES`]; each field is
/// masked to its width (IS and RIC 2 bits, PRS 1 bit).
pub const fn rule_index(is: u8, ric: u8, prs: u8, local: bool) -> usize {
    ((((prs & 1) as usize * 4 + (is & 3) as usize) * 4 + (ric & 3) as usize) * 2) + local as usize
}

/// The row for (IS, RIC, PRS, local).
pub const fn rule(is: u8, ric: u8, prs: u8, local: bool) -> &'static Rule {
    &RULES[rule_index(is, ric, prs, local)]
}

/// The AP code's page size (4K=0, 64K=5, 2M=1, 1G=2), if supported.
pub const fn ap_size(ap: u64) -> Option<PageSize> {
    match ap {
        0 => Some(PageSize::Size4K),
        5 => Some(PageSize::Size64K),
        1 => Some(PageSize::Size2M),
        2 => Some(PageSize::Size1G),
        _ => None,
    }
}

/// Short name of a page size ("64K").
pub const fn size_name(size: PageSize) -> &'static str {
    match size {
        PageSize::Size4K => "4K",
        PageSize::Size64K => "64K",
        PageSize::Size2M => "2M",
        PageSize::Size1G => "1G",
    }
}

/// What a decoded process-scoped operation selects, with its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// IS=0: TLB entries of `size` of (lpid, pid) whose page starts at `page`.
    Va {
        /// LPID.
        lpid: u32,
        /// PID.
        pid: u32,
        /// Page size (from AP).
        size: PageSize,
        /// EA of the page (RB EPN masked to the page size).
        page: u64,
    },
    /// IS=1.
    Pid {
        /// LPID.
        lpid: u32,
        /// PID.
        pid: u32,
    },
    /// IS=2.
    Lpid {
        /// LPID.
        lpid: u32,
    },
    /// IS=3.
    All,
}

/// One operation, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The operands as issued.
    pub op: TlbieOperands,
    /// Its position in the sequence.
    pub index: usize,
    /// `tlbiel`.
    pub local: bool,
    /// The LPID it applies to (RS 31:0 for `tlbie`, LPIDR for `tlbiel`).
    pub lpid: u32,
    /// The `tlbiel` set number (RB 23:12) when IS != 0, else 0.
    pub set: u32,
    /// The row of [`RULES`] (never `Invalid`).
    pub effect: Effect,
    /// The concrete selection (`None` for partition-scoped forms).
    pub target: Option<Target>,
}

/// Why an operation was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpError {
    /// Position in the sequence.
    pub index: usize,
    /// The operands.
    pub op: TlbieOperands,
    /// `tlbiel`.
    pub local: bool,
    /// The reason.
    pub why: &'static str,
}

const EA_QUADRANT: u64 = 0xC000_0000_0000_0000;
const EA_RESERVED: u64 = 0x3FF0_0000_0000_0000;

/// Decode one operation: check the form (R=1, the [`RULES`] row, AP, EA,
/// `tlbiel` set), then compute its LPID/PID/EA selection. `lpidr` is the
/// issuer's LPIDR (used by `tlbiel`); `tlb_sets` the number of TLB sets.
pub fn decode(
    index: usize,
    op: &TlbieOperands,
    local: bool,
    lpidr: u32,
    tlb_sets: u32,
) -> Result<Decoded, OpError> {
    let err = |why| Err(OpError { index, op: *op, local, why });
    match op.r {
        1 => {}
        0 => return err("R=0 (hash page table) is not modelled: radix needs R=1"),
        _ => return err("R must be 0 or 1"),
    }
    if op.prs > 1 {
        return err("PRS must be 0 or 1");
    }
    if op.ric > 3 {
        return err("RIC must be 0..=3");
    }
    let is = ((op.rb >> 10) & 3) as u8;
    let effect = rule(is, op.ric, op.prs, local).effect;
    if let Effect::Invalid(why) = effect {
        return err(why);
    }
    let set = if is != 0 { op.set() } else { 0 };
    if local && is != 0 {
        if op.ric == 1 && set != 0 {
            return err("tlbiel RIC=1 (page-walk cache) needs set 0");
        }
        if set >= tlb_sets {
            return err("tlbiel set number is beyond the TLB's congruence classes");
        }
    }
    let lpid = if local { lpidr } else { op.rs as u32 };
    let pid = (op.rs >> 32) as u32;
    let mut size = PageSize::Size4K;
    if is == 0 {
        size = match ap_size((op.rb >> 5) & 7) {
            Some(s) => s,
            None => return err("AP is not a supported page size (4K=0, 64K=5, 2M=1, 1G=2)"),
        };
        if op.prs == 1 && op.rb & EA_QUADRANT != 0 {
            return err("by-EA process-scoped invalidation outside quadrant 0 is boundedly undefined");
        }
        if op.prs == 1 && op.rb & EA_RESERVED != 0 {
            return err("EA bits 61:52 are set: no radix tree translates it");
        }
    }
    let target = match effect {
        Effect::Process { sel, .. } => Some(match sel {
            Selector::Va => Target::Va { lpid, pid, size, page: op.rb & !0xFFF & !(size.bytes() - 1) },
            Selector::Pid => Target::Pid { lpid, pid },
            Selector::Lpid => Target::Lpid { lpid },
            Selector::All => Target::All,
        }),
        _ => None,
    };
    Ok(Decoded { op: *op, index, local, lpid, set, effect, target })
}

/// Displays operands as the kernel issued them, e.g. `tlbie RIC=0 PRS=1
/// IS=0 AP=64K EA=0x10000 PID=7 LPID=0` (`tlbiel` shows its set when IS != 0
/// and the LPIDR it used).
#[derive(Clone, Copy, Debug)]
pub struct OpText {
    /// The operands.
    pub op: TlbieOperands,
    /// `tlbiel`.
    pub local: bool,
    /// The LPID it applied to (for `tlbiel`: LPIDR).
    pub lpid: u32,
}

impl fmt::Display for OpText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = &self.op;
        let is = (op.rb >> 10) & 3;
        let name = if self.local { "tlbiel" } else { "tlbie" };
        write!(f, "{name} R={} RIC={} PRS={} IS={is}", op.r, op.ric, op.prs)?;
        if is == 0 {
            let ap = (op.rb >> 5) & 7;
            match ap_size(ap) {
                Some(s) => write!(f, " AP={}", size_name(s))?,
                None => write!(f, " AP={ap}(unsupported)")?,
            }
            write!(f, " EA={:#x}", op.rb & !0xFFF)?;
        } else if self.local {
            write!(f, " set={}", op.set())?;
        }
        if is <= 1 && op.prs == 1 {
            write!(f, " PID={}", op.rs >> 32)?;
        }
        if is != 3 {
            write!(f, " LPID={}", self.lpid)?;
        }
        Ok(())
    }
}
