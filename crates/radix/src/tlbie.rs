//! Operands for `tlbie` (broadcast) and `tlbiel` (this CPU only) in radix mode.
//!
//! `tlbie RB,RS,RIC,PRS,R`: RB and RS are registers; RIC, PRS and R are
//! *immediates* in the instruction, so the kernel's asm wrapper must `match`
//! on [`TlbieVariant`] and emit one instruction per variant.
//!
//! Field positions (LSB = bit 0), checked against Linux
//! `arch/powerpc/mm/book3s64/radix_tlb.c` (`__tlbie_va`, `__tlbie_pid`,
//! `__tlbie_lpid`, `__tlbiel_pid`, `tlbiel_radix_set_isa300`; `PPC_BITLSHIFT(n)
//! = 63 - n`) and QEMU `target/ppc/mmu_helper.c` `helper_tlbie_isa300`
//! (`TLBIE_RB_EPN_MASK` = IBM 0:51, `TLBIE_RB_IS_MASK` = IBM 52:53,
//! `TLBIE_RB_AP_MASK` = IBM 56:58, set = 12 bits ending at IBM 51):
//!
//! * RB: EPN = EA bits 63:12 (`va & ~0xfff`), IS at bits 11:10 (`is << 10`),
//!   AP at bits 7:5 (`ap << 5`); for `tlbiel` with IS != 0, the TLB set number
//!   at bits 23:12 (`set << 12`).
//! * RS: PID in bits 63:32 (`pid << 32`), LPID in bits 31:0.
//!
//! The full global sequence is `ptesync; tlbie; eieio; tlbsync; ptesync`
//! (Linux `_tlbie_pid`/`_tlbie_va`); local is `ptesync; tlbiel...; ptesync`.
//! Linux also issues extra `tlbie`s on POWER9 for errata
//! (`CPU_FTR_P9_TLBIE_ERAT_BUG`, `CPU_FTR_P9_TLBIE_STQ_BUG`; `fixup_tlbie_*`);
//! not modelled here.

use crate::entry::PageSize;
use crate::geometry::{EA_QUADRANT_MASK, EA_VALID_MASK};
use core::fmt;

/// TLB congruence classes to walk for a full local flush on POWER9 in radix
/// mode (Linux `POWER9_TLB_SETS_RADIX` 128). POWER10 (ISA 3.1) needs set 0 only.
pub const POWER9_TLB_SETS_RADIX: u32 = 128;

/// Largest set number the 12-bit RB set field holds.
pub const TLBIEL_SET_MAX: u32 = 0xFFF;

/// Radix invalidation control (the RIC immediate). Linux `RIC_FLUSH_TLB` 0,
/// `RIC_FLUSH_PWC` 1, `RIC_FLUSH_ALL` 2; QEMU `TLBIE_RIC_*` (3 is invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ric {
    /// Invalidate TLB entries only.
    Tlb = 0,
    /// Invalidate the page-walk cache only.
    Pwc = 1,
    /// Invalidate TLB, page-walk cache and cached table entries.
    All = 2,
}

/// Invalidation selector (RB bits 11:10). QEMU `TLBIE_IS_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Is {
    /// One page by EA (`IS = 0`).
    Va = 0,
    /// Everything of one PID (`IS = 1`).
    Pid = 1,
    /// Everything of one LPID (`IS = 2`).
    Lpid = 2,
    /// Everything (`IS = 3`).
    All = 3,
}

impl Is {
    const fn from_rb(rb: u64) -> Is {
        match (rb >> 10) & 3 {
            0 => Is::Va,
            1 => Is::Pid,
            2 => Is::Lpid,
            _ => Is::All,
        }
    }
}

/// Which translations are addressed (the PRS immediate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Process-scoped (`PRS = 1`): translations of a process tree.
    Process,
    /// Partition-scoped (`PRS = 0`): translations of the partition tree.
    Partition,
}

/// The supported (RIC, PRS, R) immediate combinations. R is always 1 (radix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlbieVariant {
    /// `ric=0, prs=1, r=1`
    ProcessTlb,
    /// `ric=1, prs=1, r=1`
    ProcessPwc,
    /// `ric=2, prs=1, r=1`
    ProcessAll,
    /// `ric=0, prs=0, r=1`
    PartitionTlb,
    /// `ric=1, prs=0, r=1`
    PartitionPwc,
    /// `ric=2, prs=0, r=1`
    PartitionAll,
}

impl TlbieVariant {
    /// All variants.
    pub const ALL: [TlbieVariant; 6] = [
        TlbieVariant::ProcessTlb,
        TlbieVariant::ProcessPwc,
        TlbieVariant::ProcessAll,
        TlbieVariant::PartitionTlb,
        TlbieVariant::PartitionPwc,
        TlbieVariant::PartitionAll,
    ];

    /// The variant for `ric` and `scope`.
    pub const fn new(ric: Ric, scope: Scope) -> TlbieVariant {
        match (scope, ric) {
            (Scope::Process, Ric::Tlb) => TlbieVariant::ProcessTlb,
            (Scope::Process, Ric::Pwc) => TlbieVariant::ProcessPwc,
            (Scope::Process, Ric::All) => TlbieVariant::ProcessAll,
            (Scope::Partition, Ric::Tlb) => TlbieVariant::PartitionTlb,
            (Scope::Partition, Ric::Pwc) => TlbieVariant::PartitionPwc,
            (Scope::Partition, Ric::All) => TlbieVariant::PartitionAll,
        }
    }

    /// The RIC immediate.
    pub const fn ric(self) -> Ric {
        match self {
            TlbieVariant::ProcessTlb | TlbieVariant::PartitionTlb => Ric::Tlb,
            TlbieVariant::ProcessPwc | TlbieVariant::PartitionPwc => Ric::Pwc,
            TlbieVariant::ProcessAll | TlbieVariant::PartitionAll => Ric::All,
        }
    }

    /// The scope (PRS immediate).
    pub const fn scope(self) -> Scope {
        match self {
            TlbieVariant::ProcessTlb | TlbieVariant::ProcessPwc | TlbieVariant::ProcessAll => Scope::Process,
            _ => Scope::Partition,
        }
    }

    /// The PRS immediate (1 = process scoped).
    pub const fn prs(self) -> u8 {
        match self.scope() {
            Scope::Process => 1,
            Scope::Partition => 0,
        }
    }

    /// The R immediate (always 1: radix format).
    pub const fn r(self) -> u8 {
        1
    }
}

/// Register and immediate operands of one `tlbie`/`tlbiel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlbieOperands {
    /// RB register value.
    pub rb: u64,
    /// RS register value.
    pub rs: u64,
    /// RIC immediate (0, 1 or 2).
    pub ric: u8,
    /// PRS immediate (0 or 1).
    pub prs: u8,
    /// R immediate (1 for radix).
    pub r: u8,
}

/// Why operands could not be built, or an instruction form is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbieError {
    /// EA bits 61:52 set: not an address any radix tree maps.
    BadEa {
        /// The address.
        va: u64,
    },
    /// By-VA process-scoped invalidation outside quadrant 0 is "boundedly
    /// undefined" (QEMU `helper_tlbie_isa300`; ISA). Flush quadrant-3 kernel
    /// addresses by PID 0 instead, as Linux `radix__flush_tlb_kernel_range`
    /// does (`_tlbie_pid(0, RIC_FLUSH_ALL)`).
    NotQuadrant0 {
        /// The address.
        va: u64,
    },
    /// A `tlbiel` set number beyond the 12-bit field.
    BadSet {
        /// The set given.
        set: u32,
    },
    /// An invalid instruction form (would take a program interrupt on QEMU):
    /// RIC=1/2 with IS=0, PRS=0 with IS=1, or `tlbiel` RIC=1 with set != 0.
    InvalidForm,
}

impl fmt::Display for TlbieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TlbieError::BadEa { va } => write!(f, "EA {va:#x} has bits 61:52 set"),
            TlbieError::NotQuadrant0 { va } => {
                write!(f, "by-VA invalidation of {va:#x} outside quadrant 0 is undefined")
            }
            TlbieError::BadSet { set } => write!(f, "TLB set {set} does not fit 12 bits"),
            TlbieError::InvalidForm => f.write_str("invalid tlbie/tlbiel instruction form"),
        }
    }
}

const fn ops(rb: u64, rs: u64, variant: TlbieVariant) -> TlbieOperands {
    TlbieOperands { rb, rs, ric: variant.ric() as u8, prs: variant.prs(), r: variant.r() }
}

/// RS for a process-scoped operation: PID in the high word, LPID low.
pub const fn rs_pid(pid: u32, lpid: u32) -> u64 {
    ((pid as u64) << 32) | lpid as u64
}

const IS_SHIFT: u32 = 10;
const AP_SHIFT: u32 = 5;
const SET_SHIFT: u32 = 12;
const EPN_MASK: u64 = !0xFFF;

impl TlbieOperands {
    /// The immediate combination, if it is one of [`TlbieVariant`].
    pub const fn variant(&self) -> Option<TlbieVariant> {
        let scope = match self.prs {
            0 => Scope::Partition,
            1 => Scope::Process,
            _ => return None,
        };
        let ric = match self.ric {
            0 => Ric::Tlb,
            1 => Ric::Pwc,
            2 => Ric::All,
            _ => return None,
        };
        if self.r != 1 {
            return None;
        }
        Some(TlbieVariant::new(ric, scope))
    }

    /// The invalidation selector in RB.
    pub const fn is(&self) -> Is {
        Is::from_rb(self.rb)
    }

    /// The `tlbiel` set number in RB (meaningful when IS != 0).
    pub const fn set(&self) -> u32 {
        ((self.rb >> SET_SHIFT) & TLBIEL_SET_MAX as u64) as u32
    }

    /// Check the instruction-form rules QEMU enforces with effective R=1
    /// (`helper_tlbie_isa300`): RIC must be 0..=2; RIC=1/2 needs IS != 0;
    /// PRS=0 with IS=1 is invalid; for `tlbiel` (`local`), RIC=1 needs set 0.
    pub const fn check(&self, local: bool) -> Result<(), TlbieError> {
        let variant = match self.variant() {
            Some(v) => v,
            None => return Err(TlbieError::InvalidForm),
        };
        let is = self.is();
        let ric = variant.ric();
        if matches!(is, Is::Va) && !matches!(ric, Ric::Tlb) {
            return Err(TlbieError::InvalidForm);
        }
        if matches!(is, Is::Pid) && matches!(variant.scope(), Scope::Partition) {
            return Err(TlbieError::InvalidForm);
        }
        if local && matches!(ric, Ric::Pwc) && self.set() != 0 {
            return Err(TlbieError::InvalidForm);
        }
        Ok(())
    }
}

/// Invalidate one process-scoped translation of `va` (a page of `size`) for
/// `pid`/`lpid` (Linux `__tlbie_va`: `rb = va & ~PPC_BITMASK(52, 63) | ap << 5`,
/// `rs = pid << 32`, RIC=0, PRS=1, R=1). Low bits of `va` inside the page are
/// cleared. Same operands for `tlbiel` (Linux `__tlbiel_va`).
pub const fn tlbie_va(va: u64, pid: u32, lpid: u32, size: PageSize) -> Result<TlbieOperands, TlbieError> {
    if va & !EA_VALID_MASK != 0 {
        return Err(TlbieError::BadEa { va });
    }
    if va & EA_QUADRANT_MASK != 0 {
        return Err(TlbieError::NotQuadrant0 { va });
    }
    let page = va & !(size.bytes() - 1) & EPN_MASK;
    let rb = page | ((Is::Va as u64) << IS_SHIFT) | (size.ap() << AP_SHIFT);
    Ok(ops(rb, rs_pid(pid, lpid), TlbieVariant::ProcessTlb))
}

/// Invalidate one partition-scoped translation of guest real address `gpa`
/// for `lpid` (Linux `__tlbie_lpid_va`: `rs = lpid`, PRS=0).
pub const fn tlbie_lpid_va(gpa: u64, lpid: u32, size: PageSize) -> Result<TlbieOperands, TlbieError> {
    if gpa & !EA_VALID_MASK != 0 {
        return Err(TlbieError::BadEa { va: gpa });
    }
    let page = gpa & !(size.bytes() - 1) & EPN_MASK;
    let rb = page | ((Is::Va as u64) << IS_SHIFT) | (size.ap() << AP_SHIFT);
    Ok(ops(rb, lpid as u64, TlbieVariant::PartitionTlb))
}

/// Invalidate everything cached for process `pid` (Linux `__tlbie_pid`:
/// `rb = PPC_BIT(53)` i.e. IS=1, `rs = pid << 32`, PRS=1).
pub const fn tlbie_pid(pid: u32, lpid: u32, ric: Ric) -> TlbieOperands {
    ops((Is::Pid as u64) << IS_SHIFT, rs_pid(pid, lpid), TlbieVariant::new(ric, Scope::Process))
}

/// Invalidate partition-scoped state of `lpid` (Linux `__tlbie_lpid`:
/// `rb = PPC_BIT(52)` i.e. IS=2, `rs = lpid`, PRS=0).
pub const fn tlbie_lpid(lpid: u32, ric: Ric) -> TlbieOperands {
    ops((Is::Lpid as u64) << IS_SHIFT, lpid as u64, TlbieVariant::new(ric, Scope::Partition))
}

/// Invalidate all process-scoped state of `lpid` (Linux `__tlbie_lpid_guest`:
/// IS=2, PRS=1).
pub const fn tlbie_lpid_guest(lpid: u32, ric: Ric) -> TlbieOperands {
    ops((Is::Lpid as u64) << IS_SHIFT, lpid as u64, TlbieVariant::new(ric, Scope::Process))
}

/// Invalidate everything in `scope` (IS=3; Linux `update_hid_for_radix`
/// issues `rb = 3 << PPC_BITLSHIFT(53)` with RIC=2 for PRS=0 and PRS=1).
pub const fn tlbie_all(scope: Scope, ric: Ric) -> TlbieOperands {
    ops((Is::All as u64) << IS_SHIFT, 0, TlbieVariant::new(ric, scope))
}

const fn check_set(set: u32) -> Result<u64, TlbieError> {
    if set > TLBIEL_SET_MAX {
        return Err(TlbieError::BadSet { set });
    }
    Ok((set as u64) << SET_SHIFT)
}

/// `tlbiel` for one TLB set of process `pid` (Linux `__tlbiel_pid`:
/// `rb = PPC_BIT(53) | set << PPC_BITLSHIFT(51)`). RIC=1 needs set 0.
pub const fn tlbiel_pid(pid: u32, lpid: u32, set: u32, ric: Ric) -> Result<TlbieOperands, TlbieError> {
    let set_bits = match check_set(set) {
        Ok(v) => v,
        Err(e) => return Err(e),
    };
    let o = ops(
        ((Is::Pid as u64) << IS_SHIFT) | set_bits,
        rs_pid(pid, lpid),
        TlbieVariant::new(ric, Scope::Process),
    );
    match o.check(true) {
        Ok(()) => Ok(o),
        Err(e) => Err(e),
    }
}

/// `tlbiel` for one set with IS=2 (this LPID) or IS=3 (all), in `scope`
/// (Linux `tlbiel_radix_set_isa300(set, is, 0, ric, prs)`).
pub const fn tlbiel_set(is_all: bool, set: u32, scope: Scope, ric: Ric) -> Result<TlbieOperands, TlbieError> {
    let set_bits = match check_set(set) {
        Ok(v) => v,
        Err(e) => return Err(e),
    };
    let is = if is_all { Is::All } else { Is::Lpid };
    let o = ops(((is as u64) << IS_SHIFT) | set_bits, 0, TlbieVariant::new(ric, scope));
    match o.check(true) {
        Ok(()) => Ok(o),
        Err(e) => Err(e),
    }
}

/// Iterator over the `tlbiel` operands Linux `_tlbiel_pid` issues for a full
/// local flush of `pid`: set 0 with `ric`, then (unless `ric` is PWC, which
/// needs one instruction) sets `1..sets` with RIC=TLB.
#[derive(Clone, Debug)]
pub struct TlbielPidSets {
    pid: u32,
    lpid: u32,
    ric: Ric,
    next: u32,
    sets: u32,
}

/// The local full-flush sequence for `pid` over `sets` TLB sets
/// ([`POWER9_TLB_SETS_RADIX`] on POWER9, 1 on POWER10).
pub const fn tlbiel_pid_sets(pid: u32, lpid: u32, ric: Ric, sets: u32) -> TlbielPidSets {
    let sets = if sets > TLBIEL_SET_MAX + 1 { TLBIEL_SET_MAX + 1 } else { sets };
    TlbielPidSets { pid, lpid, ric, next: 0, sets }
}

impl Iterator for TlbielPidSets {
    type Item = TlbieOperands;

    fn next(&mut self) -> Option<TlbieOperands> {
        let set = self.next;
        let limit = if matches!(self.ric, Ric::Pwc) { 1.min(self.sets) } else { self.sets };
        if set >= limit {
            return None;
        }
        self.next += 1;
        let ric = if set == 0 { self.ric } else { Ric::Tlb };
        tlbiel_pid(self.pid, self.lpid, set, ric).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_va_matches_linux() {
        let o = tlbie_va(0x1234_5678_9000, 7, 0, PageSize::Size64K).unwrap();
        assert_eq!(o.rb, 0x1234_5678_0000 | (5 << 5));
        assert_eq!(o.rs, 7 << 32);
        assert_eq!((o.ric, o.prs, o.r), (0, 1, 1));
        assert_eq!(o.variant(), Some(TlbieVariant::ProcessTlb));
        assert_eq!(o.is(), Is::Va);
        assert!(o.check(false).is_ok());
        let o = tlbie_va(0x4020_0000, 1, 0, PageSize::Size2M).unwrap();
        assert_eq!(o.rb, 0x4020_0000 | (1 << 5));
        let o = tlbie_va(0x4000_0000, 1, 0, PageSize::Size1G).unwrap();
        assert_eq!(o.rb, 0x4000_0000 | (2 << 5));
        let o = tlbie_va(0xFFF, 1, 0, PageSize::Size4K).unwrap();
        assert_eq!(o.rb, 0);
        assert_eq!(
            tlbie_va(0xC000_0000_0000_0000, 0, 0, PageSize::Size64K),
            Err(TlbieError::NotQuadrant0 { va: 0xC000_0000_0000_0000 })
        );
        assert!(matches!(tlbie_va(1 << 52, 0, 0, PageSize::Size64K), Err(TlbieError::BadEa { .. })));
    }

    #[test]
    fn by_pid_lpid_all() {
        let o = tlbie_pid(5, 0, Ric::All);
        assert_eq!(o.rb, 1 << 10); // PPC_BIT(53)
        assert_eq!(o.rs, 5 << 32);
        assert_eq!(o.variant(), Some(TlbieVariant::ProcessAll));
        assert!(o.check(false).is_ok());
        let o = tlbie_lpid(3, Ric::Tlb);
        assert_eq!(o.rb, 1 << 11); // PPC_BIT(52)
        assert_eq!(o.rs, 3);
        assert_eq!(o.prs, 0);
        assert!(o.check(false).is_ok());
        let o = tlbie_all(Scope::Partition, Ric::All);
        assert_eq!(o.rb, 3 << 10);
        assert_eq!((o.ric, o.prs, o.r), (2, 0, 1));
        let o = tlbie_lpid_guest(0, Ric::Pwc);
        assert_eq!((o.rb, o.prs, o.ric), (2 << 10, 1, 1));
        let o = tlbie_lpid_va(0x20_0000, 9, PageSize::Size2M).unwrap();
        assert_eq!((o.rb, o.rs, o.prs), (0x20_0000 | (1 << 5), 9, 0));
    }

    #[test]
    fn tlbiel_sets() {
        let o = tlbiel_pid(4, 0, 127, Ric::Tlb).unwrap();
        assert_eq!(o.rb, (1 << 10) | (127 << 12));
        assert_eq!(o.set(), 127);
        assert_eq!(tlbiel_pid(4, 0, 4096, Ric::Tlb), Err(TlbieError::BadSet { set: 4096 }));
        assert_eq!(tlbiel_pid(4, 0, 1, Ric::Pwc), Err(TlbieError::InvalidForm));
        let seq: Vec<_> = tlbiel_pid_sets(4, 0, Ric::All, POWER9_TLB_SETS_RADIX).collect();
        assert_eq!(seq.len(), 128);
        assert_eq!(seq[0].ric, 2);
        assert!(seq[1..].iter().all(|o| o.ric == 0));
        assert!(seq.iter().enumerate().all(|(i, o)| o.set() == i as u32));
        assert_eq!(tlbiel_pid_sets(4, 0, Ric::Pwc, 128).count(), 1);
        let o = tlbiel_set(true, 3, Scope::Process, Ric::Tlb).unwrap();
        assert_eq!(o.rb, (3 << 10) | (3 << 12));
    }

    #[test]
    fn invalid_forms_rejected() {
        let mut o = tlbie_va(0x1_0000, 1, 0, PageSize::Size64K).unwrap();
        o.ric = 2;
        assert_eq!(o.check(false), Err(TlbieError::InvalidForm));
        let mut o = tlbie_pid(1, 0, Ric::Tlb);
        o.prs = 0;
        assert_eq!(o.check(false), Err(TlbieError::InvalidForm));
        o.prs = 1;
        o.ric = 3;
        assert_eq!(o.variant(), None);
        assert_eq!(o.check(false), Err(TlbieError::InvalidForm));
        for v in TlbieVariant::ALL {
            assert_eq!(TlbieVariant::new(v.ric(), v.scope()), v);
            assert_eq!(v.r(), 1);
        }
    }
}
