//! Half-open physical address ranges and a fixed-capacity set of them.

use crate::error::{CapacityError, MapError};
use core::fmt;

/// The half-open address range `[start, end)`.
///
/// `end == start` is empty; `end < start` is malformed (rejected by
/// [`Range::new`], treated as empty by [`RangeSet`]). Since `end` is exclusive,
/// the last byte of the address space (`u64::MAX`) cannot be covered.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Range {
    /// First address in the range.
    pub start: u64,
    /// First address after the range.
    pub end: u64,
}

const fn align_down(v: u64, align: u64) -> u64 {
    v & !(align - 1)
}

const fn align_up(v: u64, align: u64) -> Option<u64> {
    match v.checked_add(align - 1) {
        Some(x) => Some(x & !(align - 1)),
        None => None,
    }
}

impl Range {
    /// The empty range at 0.
    pub const EMPTY: Range = Range { start: 0, end: 0 };

    /// `[start, end)`, rejecting `end < start`.
    pub const fn new(start: u64, end: u64) -> Result<Range, MapError> {
        if end < start {
            return Err(MapError::BadRange { start, end });
        }
        Ok(Range { start, end })
    }

    /// `[base, base + size)`, rejecting `base + size` beyond `u64::MAX` (as a
    /// device-tree `reg` pair can claim).
    pub const fn from_base_size(base: u64, size: u64) -> Result<Range, MapError> {
        match base.checked_add(size) {
            Some(end) => Ok(Range { start: base, end }),
            None => Err(MapError::Overflow { base, size }),
        }
    }

    /// Bytes in the range (0 if empty or malformed).
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// No bytes (`end <= start`).
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether `addr` is inside.
    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether `other` lies entirely inside (empty ranges are inside anything).
    pub const fn contains_range(&self, other: &Range) -> bool {
        other.is_empty() || (self.start <= other.start && other.end <= self.end)
    }

    /// Whether the two share at least one byte.
    pub const fn overlaps(&self, other: &Range) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// The common part (possibly empty).
    pub const fn intersect(&self, other: &Range) -> Range {
        let start = if self.start > other.start { self.start } else { other.start };
        let end = if self.end < other.end { self.end } else { other.end };
        if end <= start {
            Range { start, end: start }
        } else {
            Range { start, end }
        }
    }

    /// Shrink to `align` boundaries (`align` a power of two); `None` if nothing
    /// aligned is left or `align` is not a power of two.
    pub const fn align_inward(&self, align: u64) -> Option<Range> {
        if !align.is_power_of_two() {
            return None;
        }
        let start = match align_up(self.start, align) {
            Some(s) => s,
            None => return None,
        };
        let end = align_down(self.end, align);
        if end <= start {
            None
        } else {
            Some(Range { start, end })
        }
    }

    /// Grow to `align` boundaries; `None` if the end would pass `u64::MAX` or
    /// `align` is not a power of two.
    pub const fn align_outward(&self, align: u64) -> Option<Range> {
        if !align.is_power_of_two() {
            return None;
        }
        match align_up(self.end, align) {
            Some(end) => Some(Range { start: align_down(self.start, align), end }),
            None => None,
        }
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A set of addresses kept as at most `N` ranges, without allocation.
///
/// Invariant: the ranges are sorted, non-empty, and neither overlap nor touch
/// (adjacent ranges are merged), so the representation is unique. Every
/// operation that would need more than `N` ranges fails with
/// [`CapacityError`] and leaves the set unchanged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RangeSet<const N: usize> {
    ranges: [Range; N],
    len: usize,
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for RangeSet<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<const N: usize> RangeSet<N> {
    /// The empty set.
    pub const fn new() -> Self {
        RangeSet { ranges: [Range::EMPTY; N], len: 0 }
    }

    /// Most ranges the set can hold.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Number of ranges.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// No addresses.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ranges, sorted.
    pub fn as_slice(&self) -> &[Range] {
        &self.ranges[..self.len]
    }

    /// Iterate over the ranges in address order.
    pub fn iter(&self) -> core::slice::Iter<'_, Range> {
        self.as_slice().iter()
    }

    /// Remove everything.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Total bytes covered (cannot overflow: the ranges are disjoint).
    pub fn total_bytes(&self) -> u64 {
        self.iter().map(Range::len).sum()
    }

    /// Whether `addr` is in the set.
    pub fn contains(&self, addr: u64) -> bool {
        // Sorted: the candidate is the last range starting at or before addr.
        let i = self.as_slice().partition_point(|r| r.start <= addr);
        i > 0 && self.ranges[i - 1].contains(addr)
    }

    /// Whether all of `r` is in the set (inside one range, since ranges never
    /// touch).
    pub fn contains_range(&self, r: &Range) -> bool {
        r.is_empty() || self.iter().any(|x| x.contains_range(r))
    }

    /// Whether any byte of `r` is in the set.
    pub fn overlaps(&self, r: &Range) -> bool {
        self.iter().any(|x| x.overlaps(r))
    }

    /// The largest range (the first one if several tie).
    pub fn largest(&self) -> Option<Range> {
        let mut best: Option<Range> = None;
        for r in self.iter() {
            if best.is_none_or(|b| r.len() > b.len()) {
                best = Some(*r);
            }
        }
        best
    }

    /// Rewrite `ranges[lo..hi]` as `with` (at most two ranges), shifting the
    /// tail. Fails without changing anything if the result exceeds `N`.
    fn splice(&mut self, lo: usize, hi: usize, with: &[Range]) -> Result<(), CapacityError> {
        let new_len = self.len - (hi - lo) + with.len();
        if new_len > N {
            return Err(CapacityError { capacity: N });
        }
        let tail = self.len - hi;
        let dst = lo + with.len();
        self.ranges.copy_within(hi..hi + tail, dst);
        self.ranges[lo..dst].copy_from_slice(with);
        self.len = new_len;
        Ok(())
    }

    /// Add `r`, merging with ranges it overlaps or touches. Empty or malformed
    /// (`end <= start`) ranges add nothing.
    pub fn insert(&mut self, r: Range) -> Result<(), CapacityError> {
        if r.is_empty() {
            return Ok(());
        }
        // Ranges that overlap or touch r form one contiguous block [lo, hi).
        let lo = self.as_slice().partition_point(|x| x.end < r.start);
        let hi = self.as_slice().partition_point(|x| x.start <= r.end);
        let mut merged = r;
        if lo < hi {
            merged.start = merged.start.min(self.ranges[lo].start);
            merged.end = merged.end.max(self.ranges[hi - 1].end);
        }
        self.splice(lo, hi, &[merged])
    }

    /// Remove `r`, splitting a range that strictly contains it. Fails (and
    /// changes nothing) only when a split needs one more slot than `N`.
    pub fn subtract(&mut self, r: Range) -> Result<(), CapacityError> {
        if r.is_empty() {
            return Ok(());
        }
        // Ranges that share a byte with r form the block [lo, hi).
        let lo = self.as_slice().partition_point(|x| x.end <= r.start);
        let hi = self.as_slice().partition_point(|x| x.start < r.end);
        if lo >= hi {
            return Ok(());
        }
        let first = self.ranges[lo];
        let last = self.ranges[hi - 1];
        let mut keep = [Range::EMPTY; 2];
        let mut n = 0;
        if first.start < r.start {
            keep[n] = Range { start: first.start, end: r.start };
            n += 1;
        }
        if r.end < last.end {
            keep[n] = Range { start: r.end, end: last.end };
            n += 1;
        }
        self.splice(lo, hi, &keep[..n])
    }

    /// Shrink every range to `align` boundaries and drop those left empty.
    /// Never needs more capacity. `align` must be a power of two.
    pub fn align_inward(&mut self, align: u64) -> Result<(), MapError> {
        if !align.is_power_of_two() {
            return Err(MapError::BadAlign { align });
        }
        let mut out = 0;
        for i in 0..self.len {
            if let Some(r) = self.ranges[i].align_inward(align) {
                self.ranges[out] = r;
                out += 1;
            }
        }
        self.len = out;
        Ok(())
    }

    /// Lowest `align`-aligned address `a` with `[a, a + size)` inside one
    /// range. `None` if there is none, `size` is 0, or `align` is not a power
    /// of two.
    pub fn find_aligned(&self, size: u64, align: u64) -> Option<u64> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        self.iter().find_map(|r| {
            let a = align_up(r.start, align)?;
            let end = a.checked_add(size)?;
            (end <= r.end).then_some(a)
        })
    }

    /// Take the first `align`-aligned run of `size` bytes out of the set (e.g.
    /// to carve the frame bitmap from free RAM). `Ok(None)` if no run fits.
    pub fn carve(&mut self, size: u64, align: u64) -> Result<Option<Range>, CapacityError> {
        let Some(a) = self.find_aligned(size, align) else {
            return Ok(None);
        };
        let taken = Range { start: a, end: a + size };
        self.subtract(taken)?;
        Ok(Some(taken))
    }

    /// Fail with [`MapError::TooLittleMemory`] unless the set covers at least
    /// `need` bytes.
    pub fn require_at_least(&self, need: u64) -> Result<(), MapError> {
        let have = self.total_bytes();
        if have < need {
            return Err(MapError::TooLittleMemory { have, need });
        }
        Ok(())
    }
}

impl<'a, const N: usize> IntoIterator for &'a RangeSet<N> {
    type Item = &'a Range;
    type IntoIter = core::slice::Iter<'a, Range>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    #[test]
    fn insert_merges_overlapping_and_adjacent() {
        let mut s = RangeSet::<8>::new();
        s.insert(r(10, 20)).unwrap();
        s.insert(r(30, 40)).unwrap();
        s.insert(r(0, 5)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 5), r(10, 20), r(30, 40)]);
        s.insert(r(20, 30)).unwrap(); // touches both neighbours
        assert_eq!(s.as_slice(), &[r(0, 5), r(10, 40)]);
        s.insert(r(3, 12)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 40)]);
        s.insert(r(50, 50)).unwrap(); // empty
        s.insert(r(60, 55)).unwrap(); // malformed: ignored
        assert_eq!(s.as_slice(), &[r(0, 40)]);
        assert_eq!(s.total_bytes(), 40);
    }

    #[test]
    fn subtract_splits() {
        let mut s = RangeSet::<4>::new();
        s.insert(r(0, 100)).unwrap();
        s.subtract(r(10, 20)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 10), r(20, 100)]);
        s.subtract(r(5, 30)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 5), r(30, 100)]);
        s.subtract(r(0, 200)).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn capacity_errors_leave_the_set_unchanged() {
        let mut s = RangeSet::<2>::new();
        s.insert(r(0, 10)).unwrap();
        s.insert(r(20, 30)).unwrap();
        let before = s;
        assert_eq!(s.insert(r(40, 50)), Err(CapacityError { capacity: 2 }));
        assert_eq!(s, before);
        assert_eq!(s.subtract(r(2, 3)), Err(CapacityError { capacity: 2 }));
        assert_eq!(s, before);
        // Merging never needs room.
        s.insert(r(10, 20)).unwrap();
        assert_eq!(s.as_slice(), &[r(0, 30)]);
        let mut z = RangeSet::<0>::new();
        assert!(z.insert(r(0, 1)).is_err());
        assert!(z.subtract(r(0, 1)).is_ok());
    }

    #[test]
    fn align_inward_drops_slivers() {
        let mut s = RangeSet::<4>::new();
        s.insert(r(0x1_0001, 0x3_0000)).unwrap();
        s.insert(r(0x5_0000, 0x5_F000)).unwrap();
        s.align_inward(0x1_0000).unwrap();
        assert_eq!(s.as_slice(), &[r(0x2_0000, 0x3_0000)]);
        assert_eq!(s.align_inward(3), Err(MapError::BadAlign { align: 3 }));
    }

    #[test]
    fn range_edges() {
        assert_eq!(Range::new(5, 4), Err(MapError::BadRange { start: 5, end: 4 }));
        assert_eq!(Range::from_base_size(u64::MAX, 1), Err(MapError::Overflow { base: u64::MAX, size: 1 }));
        assert_eq!(Range::from_base_size(u64::MAX - 1, 1), Ok(r(u64::MAX - 1, u64::MAX)));
        assert_eq!(r(u64::MAX - 5, u64::MAX).align_inward(16), None);
        assert_eq!(r(0, u64::MAX).align_inward(1 << 12), Some(r(0, u64::MAX - 0xFFF)));
        assert_eq!(r(1, u64::MAX).align_outward(2), None);
        assert!(!r(0, 0).overlaps(&r(0, 10)));
        assert_eq!(r(0, 10).intersect(&r(20, 30)).len(), 0);
    }

    #[test]
    fn find_and_carve() {
        let mut s = RangeSet::<4>::new();
        s.insert(r(0x1000, 0x9000)).unwrap();
        assert_eq!(s.find_aligned(0x2000, 0x4000), Some(0x4000));
        assert_eq!(s.find_aligned(0x9000, 0x1000), None);
        assert_eq!(s.carve(0x2000, 0x4000), Ok(Some(r(0x4000, 0x6000))));
        assert_eq!(s.as_slice(), &[r(0x1000, 0x4000), r(0x6000, 0x9000)]);
        assert!(s.contains(0x1000) && !s.contains(0x4000) && s.contains(0x8FFF));
        assert_eq!(s.largest(), Some(r(0x1000, 0x4000)));
        assert_eq!(s.require_at_least(0x6000), Ok(()));
        assert_eq!(s.require_at_least(0x7000), Err(MapError::TooLittleMemory { have: 0x6000, need: 0x7000 }));
    }
}
