//! Invalidation sequences compiled into their effects.

use crate::rules::{decode, Decoded, Effect, OpError, Target};
use alloc::vec::Vec;
use radix::tlbie::TLBIEL_SET_MAX;
use radix::{PageSize, TlbieOperands};

/// Where a flush is recorded for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordKey {
    Pid(u32, u32),
    Lpid(u32),
    All,
}

/// ((LPID, PID, size), page) of a by-EA target.
#[inline]
pub(crate) fn va_key(t: &Target) -> ((u32, u32, PageSize), u64) {
    match *t {
        Target::Va { lpid, pid, size, page } => ((lpid, pid, size), page),
        _ => unreachable!("a by-EA target"),
    }
}

/// One effect of a compiled sequence.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// The walk-cache part of an op.
    Pwc(Target),
    /// A run of TLB removals: `Plan::wide[wide]`, then `Plan::pages[pages]`.
    Run { wide: (u32, u32), pages: (u32, u32) },
}

/// A sequence compiled once: its effects in order, the last op per flush
/// record target, and what the summary says regardless of the state.
///
/// TLB removals between two walk-cache parts (or the ends) form a run:
/// TLB-only removals of one sequence commute (each removes the CPUs'
/// entries its selection holds), so a run applies as one, its by-EA pages
/// sorted, counting each (CPU, entry) once, as the first op selecting it
/// would have. All ops of a sequence have one scope (a completed `tlbiel`
/// sweep is local, as its sequence). Flush records are only read once the
/// sequence is complete, so only the last per target is written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// What it was compiled from (`valid` false: nothing).
    valid: bool,
    ops: Vec<TlbieOperands>,
    local: bool,
    lpidr: u32,
    pub(crate) steps: Vec<Step>,
    pub(crate) wide: Vec<Target>,
    pub(crate) pages: Vec<Target>,
    pub(crate) records: Vec<(RecordKey, Decoded)>,
    pub(crate) partition_scoped: u32,
    pub(crate) sweeps: u32,
    pub(crate) partial_sweeps: u32,
    /// Scratch for `compile`.
    decoded: Vec<Decoded>,
    run: Vec<Target>,
    sweep_state: Vec<Sweep>,
}

impl Plan {
    /// Operations in the sequence.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    #[inline]
    pub(crate) fn is_for(&self, ops: &[TlbieOperands], local: bool, lpidr: u32) -> bool {
        self.valid && (self.local, self.lpidr) == (local, lpidr) && self.ops == ops
    }

    /// Decode and compile `ops`; on an invalid op the plan is left empty.
    pub(crate) fn compile(
        &mut self,
        ops: &[TlbieOperands],
        local: bool,
        lpidr: u32,
        tlb_sets: u32,
    ) -> Result<(), OpError> {
        self.valid = false;
        self.ops.clear();
        self.steps.clear();
        self.wide.clear();
        self.pages.clear();
        self.records.clear();
        (self.partition_scoped, self.sweeps, self.partial_sweeps) = (0, 0, 0);
        let mut decoded = core::mem::take(&mut self.decoded);
        decoded.clear();
        for (i, op) in ops.iter().enumerate() {
            match decode(i, op, local, lpidr, tlb_sets) {
                Ok(d) => decoded.push(d),
                Err(e) => {
                    self.decoded = decoded;
                    return Err(e);
                }
            }
        }
        let mut sweeps = core::mem::take(&mut self.sweep_state);
        sweeps.clear();
        let mut run = core::mem::take(&mut self.run);
        for d in &decoded {
            let key = match d.target {
                Some(Target::Va { lpid, pid, .. }) | Some(Target::Pid { lpid, pid }) => {
                    Some(RecordKey::Pid(lpid, pid))
                }
                Some(Target::Lpid { lpid }) => Some(RecordKey::Lpid(lpid)),
                Some(Target::All) => Some(RecordKey::All),
                None => None,
            };
            if let Some(key) = key {
                match self.records.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = *d,
                    None => self.records.push((key, *d)),
                }
            }
            let Effect::Process { tlb, pwc, tlb_by_set, .. } = d.effect else {
                self.partition_scoped += 1;
                continue;
            };
            let target = d.target.expect("process-scoped ops have a target");
            if pwc && (!local || d.set == 0) {
                self.close_run(&mut run);
                self.steps.push(Step::Pwc(target));
            }
            if !tlb {
                continue;
            }
            if tlb_by_set {
                let pos = match sweeps.iter().position(|s| s.target == target) {
                    Some(p) => p,
                    None => {
                        sweeps.push(Sweep { target, bits: [0; SWEEP_WORDS], count: 0 });
                        sweeps.len() - 1
                    }
                };
                let s = &mut sweeps[pos];
                let (w, b) = (d.set as usize / 64, d.set % 64);
                if s.bits[w] & (1 << b) == 0 {
                    s.bits[w] |= 1 << b;
                    s.count += 1;
                }
                if s.count == tlb_sets {
                    s.bits = [0; SWEEP_WORDS];
                    s.count = 0;
                    self.sweeps += 1;
                    run.push(target);
                }
            } else {
                run.push(target);
            }
        }
        self.close_run(&mut run);
        self.partial_sweeps = sweeps.iter().filter(|s| s.count > 0).count() as u32;
        (self.decoded, self.sweep_state, self.run) = (decoded, sweeps, run);
        self.ops.extend_from_slice(ops);
        (self.local, self.lpidr, self.valid) = (local, lpidr, true);
        Ok(())
    }

    fn close_run(&mut self, run: &mut Vec<Target>) {
        if run.is_empty() {
            return;
        }
        let (w0, p0) = (self.wide.len() as u32, self.pages.len());
        self.wide.extend(run.iter().filter(|t| !matches!(t, Target::Va { .. })));
        self.pages.extend(run.iter().filter(|t| matches!(t, Target::Va { .. })));
        let tail = &mut self.pages[p0..];
        if !tail.is_sorted_by_key(va_key) {
            tail.sort_unstable_by_key(va_key);
        }
        // Deduplicate this run's pages (not across runs).
        let mut w = p0;
        for r in p0..self.pages.len() {
            if w == p0 || self.pages[r] != self.pages[w - 1] {
                self.pages[w] = self.pages[r];
                w += 1;
            }
        }
        self.pages.truncate(w);
        let p0 = p0 as u32;
        self.steps
            .push(Step::Run { wide: (w0, self.wide.len() as u32), pages: (p0, self.pages.len() as u32) });
        run.clear();
    }
}

/// `tlbiel` IS != 0 coverage of one selection within one sequence.
#[derive(Clone, Debug)]
pub(crate) struct Sweep {
    target: Target,
    bits: [u64; SWEEP_WORDS],
    count: u32,
}

/// Words of a set bitmap (sets are at most `TLBIEL_SET_MAX + 1`).
pub(crate) const SWEEP_WORDS: usize = (TLBIEL_SET_MAX as usize + 1).div_ceil(64);
