//! Bitmap frame allocator over caller-provided storage.
//!
//! One bit per frame, 1 = free. The bitmap lives in a `&mut [u64]` the caller
//! owns (the kernel carves it from free RAM with [`crate::RangeSet::carve`]),
//! so nothing here allocates. Searches skip whole words, which keeps a
//! 32K-frame (2 GB of 64 KB frames, 512 words) scan cheap.

use crate::error::{AllocError, FreeError};
use crate::range::Range;

/// Words of bitmap needed for `span` bytes of `frame`-byte frames (rounded up
/// to whole frames and words). 0 if `frame` is 0; saturates at `usize::MAX`.
pub const fn words_needed(span: u64, frame: u64) -> usize {
    if frame == 0 {
        return 0;
    }
    let frames = span.div_ceil(frame);
    let words = frames.div_ceil(64);
    if words > usize::MAX as u64 {
        usize::MAX
    } else {
        words as usize
    }
}

/// Frames between `base` and `end`, tracked in a bitmap.
#[derive(Debug)]
pub struct FrameAllocator<'a> {
    bitmap: &'a mut [u64],
    base: u64,
    frame_shift: u32,
    frames: u64,
    free: u64,
}

/// Mask of bits `lo..hi` (0 <= lo < hi <= 64) of a word.
const fn word_mask(lo: u64, hi: u64) -> u64 {
    let upper = if hi >= 64 { u64::MAX } else { (1u64 << hi) - 1 };
    upper & !((1u64 << lo) - 1)
}

impl<'a> FrameAllocator<'a> {
    /// An allocator for the whole frames inside `span` (start rounded up, end
    /// rounded down to `frame_size`, a power of two), with every frame marked
    /// **used**; call [`FrameAllocator::free_range`] for each usable range.
    /// `bitmap` needs [`words_needed`]`(span.len(), frame_size)` words (more is
    /// fine; the extra words are ignored).
    pub fn new(span: Range, frame_size: u64, bitmap: &'a mut [u64]) -> Result<Self, AllocError> {
        if !frame_size.is_power_of_two() {
            return Err(AllocError::BadFrameSize { frame: frame_size });
        }
        if span.end < span.start {
            return Err(AllocError::BadRange { start: span.start, end: span.end });
        }
        let (base, frames) = match span.align_inward(frame_size) {
            Some(r) => (r.start, r.len() / frame_size),
            None => (span.start & !(frame_size - 1), 0),
        };
        let need = words_needed(frames.saturating_mul(frame_size), frame_size);
        if bitmap.len() < need {
            return Err(AllocError::BitmapTooSmall { need, have: bitmap.len() });
        }
        bitmap.fill(0);
        Ok(FrameAllocator { bitmap, base, frame_shift: frame_size.trailing_zeros(), frames, free: 0 })
    }

    /// Frame size in bytes.
    pub const fn frame_size(&self) -> u64 {
        1 << self.frame_shift
    }

    /// The managed range (whole frames).
    pub const fn span(&self) -> Range {
        Range { start: self.base, end: self.base + (self.frames << self.frame_shift) }
    }

    /// Frames managed.
    pub const fn total_frames(&self) -> u64 {
        self.frames
    }

    /// Frames currently free.
    pub const fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames currently used (allocated or reserved).
    pub const fn used_frames(&self) -> u64 {
        self.frames - self.free
    }

    /// Whether the frame containing `pa` is inside the span and free.
    pub fn is_free(&self, pa: u64) -> bool {
        match self.index_of(pa) {
            Some(i) => self.bitmap[(i / 64) as usize] & (1 << (i % 64)) != 0,
            None => false,
        }
    }

    fn index_of(&self, pa: u64) -> Option<u64> {
        if pa < self.base {
            return None;
        }
        let i = (pa - self.base) >> self.frame_shift;
        (i < self.frames).then_some(i)
    }

    /// Set frames `from..to` free or used; returns how many changed state.
    fn mark(&mut self, from: u64, to: u64, free: bool) -> u64 {
        let mut changed = 0;
        let mut i = from;
        while i < to {
            let w = (i / 64) as usize;
            let lo = i % 64;
            let hi = (to - (i - lo)).min(64);
            let mask = word_mask(lo, hi);
            let word = &mut self.bitmap[w];
            if free {
                changed += u64::from((mask & !*word).count_ones());
                *word |= mask;
            } else {
                changed += u64::from((mask & *word).count_ones());
                *word &= !mask;
            }
            i = i - lo + 64;
        }
        if free {
            self.free += changed;
        } else {
            self.free -= changed;
        }
        changed
    }

    /// First frame in `from..to` that is free (`want_free`) or used.
    fn find(&self, from: u64, to: u64, want_free: bool) -> Option<u64> {
        let mut i = from;
        while i < to {
            let w = (i / 64) as usize;
            let lo = i % 64;
            let hi = (to - (i - lo)).min(64);
            let word = if want_free { self.bitmap[w] } else { !self.bitmap[w] };
            let hits = word & word_mask(lo, hi);
            if hits != 0 {
                return Some(i - lo + u64::from(hits.trailing_zeros()));
            }
            i = i - lo + 64;
        }
        None
    }

    /// Frame indexes of the whole frames inside `r`, clipped to the span.
    fn inner_frames(&self, r: Range) -> (u64, u64) {
        let span = self.span();
        let c = r.intersect(&span);
        match c.align_inward(self.frame_size()) {
            Some(a) => ((a.start - self.base) >> self.frame_shift, (a.end - self.base) >> self.frame_shift),
            None => (0, 0),
        }
    }

    /// Frame indexes of every frame touching `r`, clipped to the span.
    fn touched_frames(&self, r: Range) -> (u64, u64) {
        let c = r.intersect(&self.span());
        if c.is_empty() {
            return (0, 0);
        }
        let from = (c.start - self.base) >> self.frame_shift;
        let to = (c.end - self.base).div_ceil(self.frame_size());
        (from, to)
    }

    /// Mark free every whole frame inside `r` (clipped to the span). Meant for
    /// setup with the ranges from [`crate::usable_memory`]; frames already free
    /// stay free. Returns the number of frames that became free.
    pub fn free_range(&mut self, r: Range) -> Result<u64, FreeError> {
        if r.end < r.start {
            return Err(FreeError::BadRange { start: r.start, end: r.end });
        }
        let (from, to) = self.inner_frames(r);
        Ok(self.mark(from, to, true))
    }

    /// Mark used every frame that `r` touches (clipped to the span), e.g. a
    /// reservation discovered late. Returns the number of frames that became
    /// used. Note: freeing an allocation that overlaps a later reservation
    /// frees those frames again.
    pub fn reserve(&mut self, r: Range) -> Result<u64, FreeError> {
        if r.end < r.start {
            return Err(FreeError::BadRange { start: r.start, end: r.end });
        }
        let (from, to) = self.touched_frames(r);
        Ok(self.mark(from, to, false))
    }

    /// Allocate `n` contiguous frames whose first frame's real address is a
    /// multiple of `align_frames` frames (0 or 1: no constraint; otherwise a
    /// power of two). First fit from the bottom. Returns the real address, or
    /// `None` if no such run is free or the request is malformed.
    pub fn alloc(&mut self, n: u64, align_frames: u64) -> Option<u64> {
        let align = align_frames.max(1);
        if n == 0 || n > self.frames || !align.is_power_of_two() {
            return None;
        }
        let base_pfn = self.base >> self.frame_shift;
        let mut s = 0u64;
        loop {
            let f = self.find(s, self.frames, true)?;
            s = (base_pfn + f).checked_next_multiple_of(align)? - base_pfn;
            let end = s.checked_add(n)?;
            if end > self.frames {
                return None;
            }
            match self.find(s, end, false) {
                None => {
                    self.mark(s, end, false);
                    return Some(self.base + (s << self.frame_shift));
                }
                Some(used) => s = used + 1,
            }
        }
    }

    /// Free `n` frames starting at `pa`. Rejects (changing nothing) a run that
    /// leaves the span, an address off a frame boundary, or a run containing a
    /// frame that is already free (double free). `n == 0` does nothing.
    pub fn free(&mut self, pa: u64, n: u64) -> Result<(), FreeError> {
        if n == 0 {
            return Ok(());
        }
        if pa < self.base {
            return Err(FreeError::OutOfRange { pa, frames: n });
        }
        if (pa - self.base) & (self.frame_size() - 1) != 0 {
            return Err(FreeError::Misaligned { pa });
        }
        let from = (pa - self.base) >> self.frame_shift;
        let to = match from.checked_add(n) {
            Some(t) if t <= self.frames => t,
            _ => return Err(FreeError::OutOfRange { pa, frames: n }),
        };
        if let Some(i) = self.find(from, to, true) {
            return Err(FreeError::DoubleFree { pa: self.base + (i << self.frame_shift) });
        }
        self.mark(from, to, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = 64 << 10;

    #[test]
    fn words() {
        assert_eq!(words_needed(2 << 30, F), 512);
        assert_eq!(words_needed(1, F), 1);
        assert_eq!(words_needed(0, F), 0);
        assert_eq!(words_needed(65 * F, F), 2);
        assert_eq!(words_needed(u64::MAX, 1), (u64::MAX / 64 + 1) as usize);
        assert_eq!(words_needed(5, 0), 0);
    }

    #[test]
    fn basic_alloc_free() {
        let mut bm = [0u64; 4];
        let mut a = FrameAllocator::new(Range { start: 0, end: 200 * F }, F, &mut bm).unwrap();
        assert_eq!((a.total_frames(), a.free_frames()), (200, 0));
        assert_eq!(a.alloc(1, 1), None);
        assert_eq!(a.free_range(Range { start: F / 2, end: 100 * F + 1 }), Ok(99));
        assert!(!a.is_free(0) && a.is_free(F) && a.is_free(99 * F) && !a.is_free(100 * F));
        assert_eq!(a.alloc(1, 1), Some(F));
        assert_eq!(a.alloc(2, 4), Some(4 * F));
        assert_eq!(a.alloc(1, 1), Some(2 * F));
        assert_eq!(a.free_frames(), 95);
        assert_eq!(a.free(4 * F, 2), Ok(()));
        assert_eq!(a.free(4 * F, 1), Err(FreeError::DoubleFree { pa: 4 * F }));
        assert_eq!(a.free(F + 1, 1), Err(FreeError::Misaligned { pa: F + 1 }));
        assert_eq!(a.free(199 * F, 2), Err(FreeError::OutOfRange { pa: 199 * F, frames: 2 }));
        assert_eq!(a.free(u64::MAX - 5, 1), Err(FreeError::Misaligned { pa: u64::MAX - 5 }));
        assert_eq!(a.free(F, u64::MAX), Err(FreeError::OutOfRange { pa: F, frames: u64::MAX }));
        assert_eq!(a.reserve(Range { start: 3 * F - 1, end: 3 * F + 1 }), Ok(1));
        assert!(!a.is_free(3 * F));
        assert_eq!(a.alloc(0, 1), None);
        assert_eq!(a.alloc(1, 3), None);
        assert_eq!(a.alloc(500, 1), None);
    }

    #[test]
    fn unaligned_span_and_small_bitmap() {
        let mut bm = [0u64; 1];
        assert_eq!(
            FrameAllocator::new(Range { start: 0, end: 65 * F }, F, &mut bm).err(),
            Some(AllocError::BitmapTooSmall { need: 2, have: 1 })
        );
        assert_eq!(
            FrameAllocator::new(Range { start: 0, end: F }, 3, &mut bm).err(),
            Some(AllocError::BadFrameSize { frame: 3 })
        );
        let mut a = FrameAllocator::new(Range { start: 10, end: 3 * F + 10 }, F, &mut bm).unwrap();
        assert_eq!(a.span(), Range { start: F, end: 3 * F });
        a.free_range(Range { start: 0, end: u64::MAX }).unwrap();
        assert_eq!(a.free_frames(), 2);
        // Spans that hold no whole frame, even at the top of the space.
        let mut a = FrameAllocator::new(Range { start: u64::MAX - 10, end: u64::MAX }, F, &mut bm).unwrap();
        assert_eq!(a.total_frames(), 0);
        assert_eq!(a.alloc(1, 1), None);
        assert_eq!(a.free_range(Range { start: 0, end: u64::MAX }), Ok(0));
    }

    #[test]
    fn bitmap_tail_bits_never_allocated() {
        let mut bm = [u64::MAX; 2];
        let mut a = FrameAllocator::new(Range { start: 0, end: 70 * F }, F, &mut bm).unwrap();
        a.free_range(Range { start: 0, end: 70 * F }).unwrap();
        for i in 0..70 {
            assert_eq!(a.alloc(1, 1), Some(i * F));
        }
        assert_eq!(a.alloc(1, 1), None);
    }
}
