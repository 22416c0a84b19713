//! A software model of the POWER9 radix table walk (process-scoped, MSR[HV]=1),
//! for host tests and for checking tables the kernel built.
//!
//! It follows QEMU `target/ppc/mmu-radix64.c` (`ppc_radix64_walk_tree`,
//! `ppc_radix64_next_level`, `ppc_radix64_is_valid_level`,
//! `ppc_radix64_check_prot`, `ppc_radix64_check_rc`):
//!
//! 1. EA bits 61:52 set → segment interrupt ([`FaultKind::Segment`]).
//! 2. The walk indexes with EA bits 51:0 and a running "page size" `psize`,
//!    starting at the tree size (52) and the root NLS:
//!    `index = (ea >> (psize - nls)) & ((1 << nls) - 1)`.
//! 3. Before each level the shape is checked (POWER9/POWER10 user manuals via
//!    QEMU): level 0 needs psize 52 and NLS 13; levels 1 and 2 need NLS 9;
//!    level 3 needs NLS 9 or 5; there is no level 4. Otherwise
//!    `DSISR_R_BADCONFIG` ([`FaultKind::BadConfig`]).
//! 4. An entry without VALID faults (`DSISR_NOPTE`, [`FaultKind::NotValid`]) —
//!    including a leaf that software marked invalid with SW_INVALID (Linux
//!    `pmdp_invalidate`), which [`crate::Pte::is_present`] still reports present.
//! 5. `psize -= nls`; a LEAF ends the walk with
//!    `ra = (rpn & !(2^psize - 1)) | (ea & (2^psize - 1))`, so leaf size
//!    follows from the depth and the NLS values, not from the entry.
//! 6. Otherwise the next table is `NLB` with its low `NLS + 3` bits cleared
//!    (QEMU logs "misaligned page dir/table base" and masks; so does this).
//!
//! The walker never writes: R/C are not updated (QEMU ≥ 7 does not either; it
//! raises `DSISR_ATOMIC_RC` — see [`check_access`]).

use crate::entry::{
    Att, Pte, EAA_EXEC, EAA_PRIV, EAA_READ, EAA_WRITE, LEAF, NLB_MASK, NLS_MASK, RPN_MASK, VALID,
};
use crate::geometry::{Geometry, Level, EA_OFFSET_MASK, EA_VALID_MASK};
use core::fmt;

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Real address of the byte at `va`.
    pub pa: u64,
    /// Level of the leaf.
    pub level: Level,
    /// Bytes mapped by the leaf (`1 << psize`).
    pub leaf_size: u64,
    /// The leaf entry (logical value).
    pub pte: Pte,
    /// Real address of the leaf entry (where hardware would set R/C).
    pub pte_pa: u64,
}

/// Why the walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// EA bits 61:52 are not zero: segment interrupt, no table read.
    Segment,
    /// The entry at `level` has VALID clear (`DSISR_NOPTE`).
    NotValid,
    /// The tree shape at `level` is not one POWER9 supports
    /// (`DSISR_R_BADCONFIG`): wrong root size, wrong NLS, or a non-leaf entry
    /// at the last level.
    BadConfig,
}

/// A failed walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkFault {
    /// Level at which the walk failed (Pgd for [`FaultKind::Segment`]; for
    /// [`FaultKind::BadConfig`] the level whose table size was wrong, or Pte
    /// when the last entry was not a leaf).
    pub level: Level,
    /// The entry that caused the fault (logical value): the invalid entry for
    /// `NotValid`, the directory entry carrying the bad NLS (or the non-leaf
    /// last entry) for `BadConfig` (0 when the root itself is wrong), 0 for
    /// `Segment`.
    pub entry: u64,
    /// Real address `entry` was read from (0 when none was read).
    pub entry_pa: u64,
    /// The reason.
    pub kind: FaultKind,
}

impl fmt::Display for WalkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} at {:?}: entry {:#018x} read from {:#x}",
            self.kind, self.level, self.entry, self.entry_pa
        )
    }
}

/// Whether the POWER9 MMU accepts a table of `2^nls` entries at `depth` when
/// `psize` EA bits remain (QEMU `ppc_radix64_is_valid_level`).
pub const fn valid_level(depth: usize, psize: u32, nls: u32) -> bool {
    match depth {
        0 => psize == 52 && nls == 13,
        1 | 2 => nls == 9,
        3 => nls == 9 || nls == 5,
        _ => false,
    }
}

/// Translate `va` through the tree of shape `geom` rooted at `root_pa`, as
/// the MMU would (see the module docs).
///
/// `read(pa)` returns the doubleword at real address `pa` **as it is in
/// memory** (big-endian); the walker converts it. `geom` supplies the root
/// size (RPDS) and tree size (RTS), as a process-table entry would; deeper
/// levels take their size from each entry's NLS, like the hardware.
pub fn translate(
    geom: &Geometry,
    root_pa: u64,
    va: u64,
    mut read: impl FnMut(u64) -> u64,
) -> Result<Translation, WalkFault> {
    if va & !EA_VALID_MASK != 0 {
        return Err(WalkFault { level: Level::Pgd, entry: 0, entry_pa: 0, kind: FaultKind::Segment });
    }
    let ea = va & EA_OFFSET_MASK;
    let mut psize = geom.ea_bits();
    let mut nls = geom.index_bits(Level::Pgd);
    let mut base = root_pa;
    let mut parent = 0u64;
    let mut parent_pa = 0u64;
    let mut depth = 0usize;
    loop {
        let level = match Level::from_depth(depth) {
            Some(l) => l,
            // A non-leaf at the last level: QEMU asks for level 4 and fails.
            None => {
                return Err(WalkFault {
                    level: Level::Pte,
                    entry: parent,
                    entry_pa: parent_pa,
                    kind: FaultKind::BadConfig,
                })
            }
        };
        if !valid_level(depth, psize, nls) || nls > psize {
            return Err(WalkFault { level, entry: parent, entry_pa: parent_pa, kind: FaultKind::BadConfig });
        }
        let table = base & !((8u64 << nls) - 1);
        let index = (ea >> (psize - nls)) & ((1u64 << nls) - 1);
        let entry_pa = table.wrapping_add(index * 8);
        let entry = u64::from_be(read(entry_pa));
        if entry & VALID == 0 {
            return Err(WalkFault { level, entry, entry_pa, kind: FaultKind::NotValid });
        }
        psize -= nls;
        if entry & LEAF != 0 {
            let mask = (1u64 << psize) - 1;
            return Ok(Translation {
                pa: ((entry & RPN_MASK) & !mask) | (ea & mask),
                level,
                leaf_size: 1 << psize,
                pte: Pte::from_raw(entry),
                pte_pa: entry_pa,
            });
        }
        nls = (entry & NLS_MASK) as u32;
        base = entry & NLB_MASK;
        parent = entry;
        parent_pa = entry_pa;
        depth += 1;
    }
}

/// Kind of storage access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Data load.
    Load,
    /// Data store.
    Store,
    /// Instruction fetch.
    Fetch,
}

/// Why a leaf does not permit an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessFault {
    /// Instruction fetch from non-idempotent I/O (treated as guarded;
    /// `SRR1_NOEXEC_GUARD`).
    Guarded,
    /// EAA does not allow the access, or a privileged page is accessed from
    /// problem state (`DSISR_PROTFAULT`).
    Protection,
    /// R (or C for a store) is not already set; QEMU raises
    /// `DSISR_ATOMIC_RC` rather than setting it (`ppc_radix64_check_rc`).
    RcNotSet,
}

/// Check `access` against a leaf as QEMU's process-scoped path does
/// (`ppc_radix64_check_prot` then `ppc_radix64_check_rc`), with
/// `problem_state` = MSR[PR]. AMR/IAMR key 0 (applied by QEMU to
/// non-privileged pages accessed with PR=0) is not modelled: assume it allows
/// everything.
pub const fn check_access(pte: Pte, access: Access, problem_state: bool) -> Result<(), AccessFault> {
    let v = pte.raw();
    if matches!(pte.att(), Att::NonIdempotentIo) && matches!(access, Access::Fetch) {
        return Err(AccessFault::Guarded);
    }
    let (read, write, exec) = if v & EAA_PRIV != 0 && problem_state {
        (false, false, false)
    } else {
        // WRITE grants read too (QEMU `ppc_radix64_get_prot_eaa`).
        (v & (EAA_READ | EAA_WRITE) != 0, v & EAA_WRITE != 0, v & EAA_EXEC != 0)
    };
    let allowed = match access {
        Access::Load => read,
        Access::Store => write,
        Access::Fetch => exec,
    };
    if !allowed {
        return Err(AccessFault::Protection);
    }
    let rc_ok = match access {
        Access::Store => v & crate::entry::R != 0 && v & crate::entry::C != 0,
        Access::Load | Access::Fetch => v & crate::entry::R != 0,
    };
    if !rc_ok {
        return Err(AccessFault::RcNotSet);
    }
    Ok(())
}
