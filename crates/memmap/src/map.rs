//! Usable memory = RAM minus reservations, aligned to whole frames.

use crate::error::MapError;
use crate::range::{Range, RangeSet};

fn checked(r: &Range) -> Result<Range, MapError> {
    Range::new(r.start, r.end)
}

/// RAM (`memory`) minus every reservation (`reserved`), with each remaining
/// range shrunk to whole `frame`s (a power of two).
///
/// Inputs may be unsorted, overlapping, empty, or lie outside RAM
/// (reservations outside RAM are simply irrelevant). A range with
/// `end < start` is rejected with [`MapError::BadRange`]; turn device-tree
/// `(base, size)` pairs into ranges with [`Range::from_base_size`], which
/// rejects overflow. The result holds at most `N` ranges
/// ([`MapError::Capacity`] otherwise; intermediate splits count too).
/// An empty result is [`MapError::NoMemory`]; use
/// [`RangeSet::require_at_least`] for a minimum.
pub fn usable_memory<const N: usize>(
    memory: &[Range],
    reserved: &[Range],
    frame: u64,
) -> Result<RangeSet<N>, MapError> {
    if !frame.is_power_of_two() {
        return Err(MapError::BadAlign { align: frame });
    }
    let mut set = RangeSet::<N>::new();
    for r in memory {
        set.insert(checked(r)?)?;
    }
    for r in reserved {
        // Align the hole outward to frames first, so the subtraction never
        // leaves slivers that only exist until `align_inward`; a reservation
        // reaching the top of the space is clamped instead.
        let hole = checked(r)?;
        if hole.is_empty() {
            continue;
        }
        let hole =
            hole.align_outward(frame).unwrap_or(Range { start: hole.start & !(frame - 1), end: u64::MAX });
        set.subtract(hole)?;
    }
    set.align_inward(frame)?;
    if set.is_empty() {
        return Err(MapError::NoMemory);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    #[test]
    fn subtracts_and_aligns() {
        let s: RangeSet<8> =
            usable_memory(&[r(0, 0x10_0000)], &[r(0x1_8000, 0x2_0001), r(0, 0x1000)], 0x1_0000).unwrap();
        assert_eq!(s.as_slice(), &[r(0x3_0000, 0x10_0000)]);
    }

    #[test]
    fn errors() {
        assert_eq!(usable_memory::<4>(&[r(10, 5)], &[], 4096), Err(MapError::BadRange { start: 10, end: 5 }));
        assert_eq!(
            usable_memory::<4>(&[r(0, 1 << 20)], &[r(9, 3)], 4096),
            Err(MapError::BadRange { start: 9, end: 3 })
        );
        assert_eq!(usable_memory::<4>(&[r(0, 1 << 20)], &[], 3), Err(MapError::BadAlign { align: 3 }));
        assert_eq!(usable_memory::<4>(&[], &[], 4096), Err(MapError::NoMemory));
        assert_eq!(usable_memory::<4>(&[r(0, 1 << 20)], &[r(0, 1 << 20)], 4096), Err(MapError::NoMemory));
        assert_eq!(usable_memory::<4>(&[r(1, 4095)], &[], 4096), Err(MapError::NoMemory));
        let many = [r(0, 0x1000), r(0x2000, 0x3000), r(0x4000, 0x5000)];
        assert!(matches!(usable_memory::<2>(&many, &[], 0x1000), Err(MapError::Capacity(_))));
    }

    #[test]
    fn top_of_address_space() {
        let top = r(u64::MAX - 0x10_0000, u64::MAX);
        let s: RangeSet<4> = usable_memory(&[top], &[r(u64::MAX - 0x1000, u64::MAX)], 0x1000).unwrap();
        // RAM [2^64 - 1M - 1, 2^64 - 1) aligned to 4K: [2^64 - 1M, 2^64 - 4K),
        // and the reservation reaches to the top.
        assert_eq!(s.as_slice(), &[r(u64::MAX - 0xF_FFFF, u64::MAX - 0x1FFF)]);
    }
}
