//! The explicit stale sets: TLB and page-walk-cache entries some CPUs may
//! hold, per entry and group of 64 CPUs, and the overlay of one
//! invalidation.

use crate::report::{PwcEntry, TlbEntry};
use crate::rules::Target;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use radix::{Level, PageSize};

/// CPUs are kept in groups of 64: a stale record holds, for one entry and
/// one group, a bit per CPU of the group that may hold it. Most stale
/// entries are made for every CPU that runs a PID at once and removed from
/// all of them by one `tlbie`, so one record serves them all.
pub(crate) const GROUP: u32 = 64;

/// The group of `cpu` and its bit there.
#[inline]
pub(crate) const fn cpu_bit(cpu: u32) -> (u32, u64) {
    (cpu / GROUP, 1 << (cpu % GROUP))
}

/// The CPUs of group `g` whose bits are set in `bits`.
#[inline]
pub(crate) fn cpus_of(g: u32, mut bits: u64) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        if bits == 0 {
            return None;
        }
        let b = bits.trailing_zeros();
        bits &= bits - 1;
        Some(g * GROUP + b)
    })
}

pub(crate) const TLB_MIN: TlbEntry = TlbEntry { lpid: 0, pid: 0, size: PageSize::Size4K, ea: 0, pa: 0 };
pub(crate) const TLB_MAX: TlbEntry =
    TlbEntry { lpid: u32::MAX, pid: u32::MAX, size: PageSize::Size1G, ea: u64::MAX, pa: u64::MAX };
pub(crate) const PWC_MIN: PwcEntry = PwcEntry { lpid: 0, pid: 0, level: Level::Pgd, ea: 0, next: 0 };
pub(crate) const PWC_MAX: PwcEntry =
    PwcEntry { lpid: u32::MAX, pid: u32::MAX, level: Level::Pte, ea: u64::MAX, next: u64::MAX };

/// The (lo, hi) keys of the stale TLB records `target` selects.
#[inline]
pub(crate) fn tlb_bounds(target: &Target) -> ((TlbEntry, u32), (TlbEntry, u32)) {
    let (lo, hi) = match *target {
        Target::Va { lpid, pid, size, page } => (
            TlbEntry { lpid, pid, size, ea: page, pa: 0 },
            TlbEntry { lpid, pid, size, ea: page, pa: u64::MAX },
        ),
        Target::Pid { lpid, pid } => (TlbEntry { lpid, pid, ..TLB_MIN }, TlbEntry { lpid, pid, ..TLB_MAX }),
        Target::Lpid { lpid } => (TlbEntry { lpid, ..TLB_MIN }, TlbEntry { lpid, ..TLB_MAX }),
        Target::All => (TLB_MIN, TLB_MAX),
    };
    ((lo, 0), (hi, u32::MAX))
}

/// The (lo, hi) keys of the stale page-walk-cache records `target` selects
/// (never by EA).
#[inline]
pub(crate) fn pwc_bounds(target: &Target) -> Option<((PwcEntry, u32), (PwcEntry, u32))> {
    let (lo, hi) = match *target {
        Target::Va { .. } => return None,
        Target::Pid { lpid, pid } => (PwcEntry { lpid, pid, ..PWC_MIN }, PwcEntry { lpid, pid, ..PWC_MAX }),
        Target::Lpid { lpid } => (PwcEntry { lpid, ..PWC_MIN }, PwcEntry { lpid, ..PWC_MAX }),
        Target::All => (PWC_MIN, PWC_MAX),
    };
    Some(((lo, 0), (hi, u32::MAX)))
}

/// Stale TLB records kept in the sorted vector in front of the B-tree at
/// most, by default (then they move to the B-tree).
pub(crate) const YOUNG_MAX: usize = 1024;

/// The explicit stale sets: per entry and CPU group, the CPUs that may
/// hold it; indexed twice. The counts are of (CPU, entry) pairs.
///
/// Stale TLB records are made by stores that clear leaves (one after the
/// other, in EA order) and removed by the flush that follows, so new ones
/// go to `young`, a sorted vector (an append, usually), and only when it
/// is full do they move to the B-tree `tlb`. A record is in one of them.
///
/// The stale TLB entries' index by real address serves only the free
/// checks, which in a correct kernel come when no stale entry is left
/// (after the flush): it is built by the first check that finds stale
/// entries, kept up to date while there are any, and dropped when the last
/// one goes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stale {
    pub(crate) tlb: BTreeMap<(TlbEntry, u32), u64>,
    /// Sorted by (entry, group); no record with no CPU; at most
    /// `young_max` records.
    pub(crate) young: Vec<(TlbEntry, u32, u64)>,
    pub(crate) young_max: usize,
    pub(crate) tlb_by_pa: Option<BTreeSet<(PageSize, u64, TlbEntry, u32)>>,
    pub(crate) pwc: BTreeMap<(PwcEntry, u32), u64>,
    pub(crate) pwc_by_next: BTreeSet<(u64, PwcEntry, u32)>,
    pub(crate) n_tlb: usize,
    pub(crate) n_pwc: usize,
    pub(crate) max_tlb: usize,
    pub(crate) max_pwc: usize,
}

/// The key of a stale TLB record.
#[inline]
pub(crate) fn ykey(x: &(TlbEntry, u32, u64)) -> (TlbEntry, u32) {
    (x.0, x.1)
}

impl Stale {
    /// Where `(e, g)` is or would be in `young`.
    #[inline]
    pub(crate) fn young_pos(&self, k: &(TlbEntry, u32)) -> Result<usize, usize> {
        match self.young.last() {
            None => Err(0),
            Some(last) if ykey(last) < *k => Err(self.young.len()),
            _ => self.young.binary_search_by(|x| ykey(x).cmp(k)),
        }
    }

    /// The CPUs `bits` of group `g` may hold `e`; returns how many did not
    /// already.
    #[inline]
    pub(crate) fn add_tlb(&mut self, g: u32, bits: u64, e: TlbEntry) -> u32 {
        if bits == 0 {
            return 0;
        }
        let k = (e, g);
        let new = match self.young_pos(&k) {
            Ok(i) => {
                let new = bits & !self.young[i].2;
                self.young[i].2 |= bits;
                new
            }
            Err(i) => match self.tlb.get_mut(&k) {
                Some(held) => {
                    let new = bits & !*held;
                    *held |= bits;
                    new
                }
                None => {
                    if self.young.len() < self.young_max {
                        self.young.insert(i, (e, g, bits));
                    } else {
                        self.tlb.extend(self.young.drain(..).map(|(e, g, b)| ((e, g), b)));
                        self.tlb.insert(k, bits);
                    }
                    if let Some(ix) = &mut self.tlb_by_pa {
                        ix.insert((e.size, e.pa, e, g));
                    }
                    bits
                }
            },
        };
        self.n_tlb += new.count_ones() as usize;
        self.max_tlb = self.max_tlb.max(self.n_tlb);
        new.count_ones()
    }

    #[inline]
    pub(crate) fn tlb_is_empty(&self) -> bool {
        self.young.is_empty() && self.tlb.is_empty()
    }

    /// A record with no CPU left is gone.
    pub(crate) fn tlb_gone(&mut self, e: &TlbEntry, g: u32) {
        if self.tlb_is_empty() {
            self.tlb_by_pa = None;
        } else if let Some(ix) = &mut self.tlb_by_pa {
            ix.remove(&(e.size, e.pa, *e, g));
        }
    }

    /// The CPUs `bits` of group `g` no longer hold `e`; returns how many
    /// did.
    pub(crate) fn del_tlb(&mut self, g: u32, bits: u64, e: TlbEntry) -> u32 {
        let k = (e, g);
        let gone = match self.young_pos(&k) {
            Ok(i) => {
                let gone = self.young[i].2 & bits;
                self.young[i].2 &= !bits;
                if self.young[i].2 == 0 {
                    self.young.remove(i);
                    self.tlb_gone(&e, g);
                }
                gone
            }
            Err(_) => {
                let Some(held) = self.tlb.get_mut(&k) else { return 0 };
                let gone = *held & bits;
                *held &= !bits;
                if *held == 0 {
                    self.tlb.remove(&k);
                    self.tlb_gone(&e, g);
                }
                gone
            }
        };
        self.n_tlb -= gone.count_ones() as usize;
        gone.count_ones()
    }

    /// Remove the entries of `[lo, hi]` that `select` accepts from the CPUs
    /// `scope(group)`; returns how many (CPU, entry) pairs went. `emptied`
    /// is scratch.
    pub(crate) fn remove_tlb_range(
        &mut self,
        lo: (TlbEntry, u32),
        hi: (TlbEntry, u32),
        select: &mut impl FnMut(&TlbEntry) -> bool,
        scope: impl Fn(u32) -> u64,
        emptied: &mut Vec<(TlbEntry, u32)>,
    ) -> u32 {
        let mut n = 0;
        emptied.clear();
        if !self.young.is_empty() {
            let a = self.young.partition_point(|x| ykey(x) < lo);
            for x in self.young[a..].iter_mut().take_while(|x| ykey(x) <= hi) {
                if !select(&x.0) {
                    continue;
                }
                let gone = x.2 & scope(x.1);
                if gone != 0 {
                    x.2 &= !gone;
                    n += gone.count_ones();
                    if x.2 == 0 {
                        emptied.push((x.0, x.1));
                    }
                }
            }
            if !emptied.is_empty() {
                self.young.retain(|x| x.2 != 0);
            }
        }
        if !self.tlb.is_empty() {
            let young_emptied = emptied.len();
            // From `lo` on (one descent), to `hi`.
            for (&(e, g), held) in self.tlb.range_mut(lo..).take_while(|(k, _)| **k <= hi) {
                if !select(&e) {
                    continue;
                }
                let gone = *held & scope(g);
                if gone != 0 {
                    *held &= !gone;
                    n += gone.count_ones();
                    if *held == 0 {
                        emptied.push((e, g));
                    }
                }
            }
            for &(e, g) in &emptied[young_emptied..] {
                self.tlb.remove(&(e, g));
            }
        }
        self.n_tlb -= n as usize;
        if self.tlb_is_empty() {
            self.tlb_by_pa = None;
        } else if let Some(ix) = &mut self.tlb_by_pa {
            for &(e, g) in emptied.iter() {
                ix.remove(&(e.size, e.pa, e, g));
            }
        }
        n
    }

    /// The CPUs of group `g` that hold `e`.
    #[inline]
    pub(crate) fn tlb_bits(&self, e: &TlbEntry, g: u32) -> u64 {
        let k = (*e, g);
        match self.young_pos(&k) {
            Ok(i) => self.young[i].2,
            Err(_) => self.tlb.get(&k).copied().unwrap_or(0),
        }
    }

    /// Whether some CPU holds a stale TLB entry of (lpid, pid).
    #[inline]
    pub(crate) fn has_tlb_of(&self, lpid: u32, pid: u32) -> bool {
        let (lo, hi) = tlb_bounds(&Target::Pid { lpid, pid });
        let a = self.young.partition_point(|x| ykey(x) < lo);
        self.young.get(a).is_some_and(|x| ykey(x) <= hi) || self.tlb.range(lo..=hi).next().is_some()
    }

    /// Every stale TLB record: (entry, group, CPUs).
    pub(crate) fn tlb_records(&self) -> impl Iterator<Item = (TlbEntry, u32, u64)> + '_ {
        self.young.iter().copied().chain(self.tlb.iter().map(|(&(e, g), &b)| (e, g, b)))
    }

    /// Build the index by real address if there are stale TLB entries.
    pub(crate) fn index_by_pa(&mut self) {
        if self.tlb_by_pa.is_none() && !self.tlb_is_empty() {
            self.tlb_by_pa = Some(self.tlb_records().map(|(e, g, _)| (e.size, e.pa, e, g)).collect());
        }
    }

    /// As `add_tlb`; also says whether the record is new.
    pub(crate) fn add_pwc(&mut self, g: u32, bits: u64, e: PwcEntry) -> (u32, bool) {
        if bits == 0 {
            return (0, false);
        }
        let by_next = &mut self.pwc_by_next;
        let mut created = false;
        let held = self.pwc.entry((e, g)).or_insert_with(|| {
            by_next.insert((e.next, e, g));
            created = true;
            0
        });
        let new = bits & !*held;
        *held |= bits;
        self.n_pwc += new.count_ones() as usize;
        self.max_pwc = self.max_pwc.max(self.n_pwc);
        (new.count_ones(), created)
    }

    /// As `del_tlb`; also says whether the record is gone.
    pub(crate) fn del_pwc(&mut self, g: u32, bits: u64, e: PwcEntry) -> (u32, bool) {
        let Some(held) = self.pwc.get_mut(&(e, g)) else { return (0, false) };
        let gone = *held & bits;
        *held &= !bits;
        let removed = *held == 0;
        if removed {
            self.pwc.remove(&(e, g));
            self.pwc_by_next.remove(&(e.next, e, g));
        }
        self.n_pwc -= gone.count_ones() as usize;
        (gone.count_ones(), removed)
    }

    /// Stale page-walk-cache records pointing at `t`: (entry, group, CPUs).
    pub(crate) fn pwc_to(&self, t: u64) -> impl Iterator<Item = (PwcEntry, u32, u64)> + '_ {
        self.pwc_by_next
            .range((t, PWC_MIN, 0)..=(t, PWC_MAX, u32::MAX))
            .map(|&(_, e, g)| (e, g, self.pwc.get(&(e, g)).copied().unwrap_or(0)))
    }
}

/// TLB entries made explicit during one `invalidate` call: a walk-cache
/// invalidation drops the entry a CPU walked through, and what it reached
/// below becomes explicit. A later op of the same sequence usually removes
/// them (Linux flushes the walk cache, then each page; or both at once with
/// RIC=2), so they are kept aside, sorted, and only what is left at the end
/// of the sequence joins the stale set. Nothing else reads the stale TLB
/// set during a sequence, and the tables cannot change.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overlay {
    /// Sorted by (entry, group), one item per key; the bits are CPUs that
    /// do not hold the entry in the stale set (0: all removed again).
    items: Vec<(TlbEntry, u32, u64)>,
    /// Scratch: the new items of one `add`, and a merge buffer.
    fresh: Vec<(TlbEntry, u32, u64)>,
    merged: Vec<(TlbEntry, u32, u64)>,
}

impl Overlay {
    /// Add `batch` (the leaves below one walk-cache entry of (lpid, pid),
    /// one CPU group: distinct keys, any order);
    /// returns how many (CPU, entry) pairs are new to the stale set and
    /// the overlay, which count as stale from now on.
    pub(crate) fn add(
        &mut self,
        stale: &mut Stale,
        lpid: u32,
        pid: u32,
        batch: &mut Vec<(TlbEntry, u32, u64)>,
    ) -> u32 {
        if !batch.is_sorted_by(|a, b| (a.0, a.1) <= (b.0, b.1)) {
            batch.sort_unstable_by_key(|x| (x.0, x.1));
        }
        // One walk of one subtree: no two leaves at one EA.
        debug_assert!(batch.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        let in_stale = stale.has_tlb_of(lpid, pid);
        if self.items.is_empty() && !in_stale {
            // All new (the common case: one walk-cache entry dropped).
            let n: u32 = batch.iter().map(|x| x.2.count_ones()).sum();
            core::mem::swap(&mut self.items, batch);
            stale.n_tlb += n as usize;
            stale.max_tlb = stale.max_tlb.max(stale.n_tlb);
            return n;
        }
        let mut fresh = core::mem::take(&mut self.fresh);
        fresh.clear();
        let mut n = 0;
        for &(e, g, bits) in batch.iter() {
            let held = if in_stale { stale.tlb_bits(&e, g) } else { 0 };
            match self.items.binary_search_by(|x| (x.0, x.1).cmp(&(e, g))) {
                Ok(i) => {
                    let new = bits & !(held | self.items[i].2);
                    self.items[i].2 |= new;
                    n += new.count_ones();
                }
                Err(_) => {
                    let new = bits & !held;
                    if new != 0 {
                        fresh.push((e, g, new));
                        n += new.count_ones();
                    }
                }
            }
        }
        if self.items.is_empty() {
            core::mem::swap(&mut self.items, &mut fresh);
        } else if self.items.last().is_some_and(|x| fresh.first().is_some_and(|y| (x.0, x.1) < (y.0, y.1))) {
            self.items.extend_from_slice(&fresh);
        } else if !fresh.is_empty() {
            let mut merged = core::mem::take(&mut self.merged);
            merged.clear();
            merged.reserve(self.items.len() + fresh.len());
            let (mut a, mut b) = (self.items.iter().peekable(), fresh.iter().peekable());
            loop {
                let take_a = match (a.peek(), b.peek()) {
                    (Some(x), Some(y)) => (x.0, x.1) < (y.0, y.1),
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                let next = if take_a { a.next() } else { b.next() };
                merged.extend(next.copied());
            }
            core::mem::swap(&mut self.items, &mut merged);
            self.merged = merged;
        }
        self.fresh = fresh;
        stale.n_tlb += n as usize;
        stale.max_tlb = stale.max_tlb.max(stale.n_tlb);
        n
    }

    /// Remove the items of `[lo, hi]` that `select` accepts from the CPUs
    /// `scope(group)`; returns how many (CPU, entry) pairs went.
    pub(crate) fn remove_range(
        &mut self,
        stale: &mut Stale,
        lo: (TlbEntry, u32),
        hi: (TlbEntry, u32),
        select: &mut impl FnMut(&TlbEntry) -> bool,
        scope: impl Fn(u32) -> u64,
    ) -> u32 {
        if self.items.is_empty() {
            return 0;
        }
        let a = self.items.partition_point(|x| (x.0, x.1) < lo);
        let mut n = 0;
        for x in self.items[a..].iter_mut().take_while(|x| (x.0, x.1) <= hi) {
            if !select(&x.0) {
                continue;
            }
            let gone = x.2 & scope(x.1);
            x.2 &= !gone;
            n += gone.count_ones();
        }
        stale.n_tlb -= n as usize;
        n
    }

    /// The sequence is complete: what is left joins the stale set (and the
    /// overlay is empty again).
    pub(crate) fn finish(&mut self, stale: &mut Stale) {
        for (e, g, bits) in self.items.drain(..) {
            if bits != 0 {
                // Counted already: add_tlb counts it again.
                stale.n_tlb -= bits.count_ones() as usize;
                stale.add_tlb(g, bits, e);
            }
        }
        self.items = keep(core::mem::take(&mut self.items));
        self.fresh = keep(core::mem::take(&mut self.fresh));
        self.merged = keep(core::mem::take(&mut self.merged));
    }
}

/// Scratch buffers are kept for the next call up to this many elements
/// (a bigger one, after a rare big operation, is freed).
pub(crate) const SCRATCH_KEEP: usize = 1024;

/// `v`, cleared, if it is small enough to keep.
#[inline]
pub(crate) fn keep<T>(mut v: Vec<T>) -> Vec<T> {
    if v.capacity() > SCRATCH_KEEP {
        return Vec::new();
    }
    v.clear();
    v
}
