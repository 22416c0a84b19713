//! Property tests against simple models: a byte-granular bool array for
//! `RangeSet`, and a frame-state array for `FrameAllocator`.

use memmap::{usable_memory, words_needed, FrameAllocator, FreeError, MapError, Range, RangeSet};
use proptest::prelude::*;

/// Universe for the set model: addresses 0..U.
const U: u64 = 256;

fn small_range() -> impl Strategy<Value = Range> {
    (0..U, 0..U).prop_map(|(a, b)| Range { start: a.min(b), end: a.max(b) })
}

#[derive(Clone, Debug)]
enum SetOp {
    Insert(Range),
    Subtract(Range),
}

fn set_op() -> impl Strategy<Value = SetOp> {
    prop_oneof![small_range().prop_map(SetOp::Insert), small_range().prop_map(SetOp::Subtract)]
}

fn check_canonical<const N: usize>(s: &RangeSet<N>) -> Result<(), TestCaseError> {
    let v = s.as_slice();
    for r in v {
        prop_assert!(r.start < r.end, "empty range kept: {:?}", s);
    }
    for w in v.windows(2) {
        prop_assert!(w[0].end < w[1].start, "not sorted/merged: {:?}", s);
    }
    Ok(())
}

/// Ranges anywhere in the 64-bit space, including malformed and huge ones.
fn wild_range() -> impl Strategy<Value = Range> {
    let edge = prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        any::<u64>(),
        0u64..(1 << 32),
        (0u64..(1 << 20)).prop_map(|x| x << 12),
    ];
    prop_oneof![
        // Mostly well formed, sometimes reversed (malformed).
        9 => (edge.clone(), edge.clone()).prop_map(|(a, b)| Range { start: a.min(b), end: a.max(b) }),
        1 => (edge.clone(), edge).prop_map(|(a, b)| Range { start: a, end: b }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn range_set_matches_bitmap_model(ops in proptest::collection::vec(set_op(), 0..40)) {
        let mut s = RangeSet::<64>::new();
        let mut model = [false; U as usize];
        for op in ops {
            match op {
                SetOp::Insert(r) => {
                    s.insert(r).unwrap();
                    for a in r.start..r.end { model[a as usize] = true; }
                }
                SetOp::Subtract(r) => {
                    s.subtract(r).unwrap();
                    for a in r.start..r.end { model[a as usize] = false; }
                }
            }
            check_canonical(&s)?;
        }
        for a in 0..U {
            prop_assert_eq!(s.contains(a), model[a as usize], "addr {}", a);
        }
        prop_assert_eq!(s.total_bytes(), model.iter().filter(|b| **b).count() as u64);
    }

    #[test]
    fn small_capacity_fails_cleanly(ops in proptest::collection::vec(set_op(), 0..40)) {
        let mut s = RangeSet::<3>::new();
        for op in ops {
            let before = s;
            let res = match op {
                SetOp::Insert(r) => s.insert(r),
                SetOp::Subtract(r) => s.subtract(r),
            };
            if res.is_err() {
                prop_assert_eq!(s, before);
            }
            check_canonical(&s)?;
            prop_assert!(s.len() <= 3);
        }
    }

    #[test]
    fn align_inward_is_exact(ranges in proptest::collection::vec(small_range(), 0..10), shift in 0u32..6) {
        let align = 1u64 << shift;
        let mut s = RangeSet::<16>::new();
        for r in &ranges { s.insert(*r).unwrap(); }
        let orig = s;
        s.align_inward(align).unwrap();
        check_canonical(&s)?;
        for r in &s {
            prop_assert_eq!(r.start % align, 0);
            prop_assert_eq!(r.end % align, 0);
        }
        // A block is kept exactly when all of it was in the original set.
        for b in (0..U).step_by(align as usize) {
            let block = Range { start: b, end: b + align };
            prop_assert_eq!(s.contains_range(&block), orig.contains_range(&block));
        }
    }

    #[test]
    fn usable_memory_never_touches_reservations(
        memory in proptest::collection::vec(wild_range(), 0..6),
        reserved in proptest::collection::vec(wild_range(), 0..10),
        shift in 0u32..20,
    ) {
        let frame = 1u64 << shift;
        let res: Result<RangeSet<32>, MapError> = usable_memory(&memory, &reserved, frame);
        let bad = memory.iter().chain(reserved.iter()).find(|r| r.end < r.start);
        // Whole frames that must survive: the first frame of each RAM range,
        // when no reservation touches it.
        let must_keep: Vec<Range> = memory
            .iter()
            .filter_map(|m| m.align_inward(frame))
            .map(|a| Range { start: a.start, end: a.start + frame })
            .filter(|f| reserved.iter().all(|r| !r.overlaps(f)))
            .collect();
        match (bad, res) {
            (Some(b), r) => prop_assert_eq!(r.err(), Some(MapError::BadRange { start: b.start, end: b.end })),
            (None, Err(MapError::NoMemory)) => prop_assert!(must_keep.is_empty(), "lost {:?}", must_keep),
            (None, Err(MapError::Capacity(_))) => {}
            (None, Err(e)) => prop_assert!(false, "unexpected {:?}", e),
            (None, Ok(set)) => {
                check_canonical(&set)?;
                for u in &set {
                    prop_assert_eq!(u.start % frame, 0);
                    prop_assert_eq!(u.end % frame, 0);
                    prop_assert!(reserved.iter().all(|r| !u.overlaps(r)), "{:?} hits a reservation", u);
                    // Inside RAM: its first frames are each in some memory range.
                    let mut a = u.start;
                    let mut checked = 0;
                    while a < u.end && checked < 64 {
                        let f = Range { start: a, end: a + frame };
                        prop_assert!(memory.iter().any(|m| m.contains_range(&f)), "{:?} not RAM", f);
                        a += frame;
                        checked += 1;
                    }
                }
                for f in &must_keep {
                    prop_assert!(set.contains_range(f), "lost {:?}", f);
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum FaOp {
    Alloc { n: u64, align_shift: u32 },
    Free { which: usize },
    Reserve { start: u64, len: u64 },
    BadFree { frame: u64, n: u64 },
}

fn fa_op() -> impl Strategy<Value = FaOp> {
    prop_oneof![
        4 => (1u64..40, 0u32..6).prop_map(|(n, align_shift)| FaOp::Alloc { n, align_shift }),
        3 => any::<usize>().prop_map(|which| FaOp::Free { which }),
        1 => (0u64..300, 0u64..20).prop_map(|(start, len)| FaOp::Reserve { start, len }),
        1 => (0u64..300, 0u64..5).prop_map(|(frame, n)| FaOp::BadFree { frame, n }),
    ]
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum St {
    Hole,
    Free,
    Alloc,
    Reserved,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Random allocator traffic against a per-frame model: allocations stay in
    /// RAM, never overlap each other or reservations, honour alignment, and the
    /// counts always agree; bad frees are rejected without effect.
    #[test]
    fn allocator_matches_model(
        base_frames in 0u64..8,
        holes in proptest::collection::vec((0u64..256, 1u64..16), 0..6),
        ops in proptest::collection::vec(fa_op(), 0..80),
    ) {
        const F: u64 = 0x1_0000;
        const N: u64 = 256;
        let base = base_frames * F;
        let span = Range { start: base, end: base + N * F };
        let mut model = vec![St::Free; N as usize];
        let holes: Vec<Range> = holes
            .iter()
            .map(|(s, l)| Range { start: base + s * F + 7, end: base + (s + l) * F })
            .collect();
        let usable: RangeSet<16> = match usable_memory(&[span], &holes, F) {
            Ok(u) => u,
            Err(_) => return Ok(()),
        };
        for (i, m) in model.iter_mut().enumerate() {
            let pa = base + i as u64 * F;
            if !usable.contains_range(&Range { start: pa, end: pa + F }) {
                *m = St::Hole;
            }
        }
        let mut bitmap = vec![0u64; words_needed(span.len(), F)];
        let mut fa = FrameAllocator::new(span, F, &mut bitmap).unwrap();
        for u in &usable {
            fa.free_range(*u).unwrap();
        }
        let mut live: Vec<(u64, u64)> = Vec::new();
        for op in ops {
            match op {
                FaOp::Alloc { n, align_shift } => {
                    let align = 1u64 << align_shift;
                    match fa.alloc(n, align) {
                        Some(pa) => {
                            prop_assert_eq!((pa / F) % align, 0);
                            let i = ((pa - base) / F) as usize;
                            for s in &mut model[i..i + n as usize] {
                                prop_assert_eq!(*s, St::Free);
                                *s = St::Alloc;
                            }
                            live.push((pa, n));
                        }
                        None => {
                            // First fit would have found any aligned free run.
                            for i in 0..N {
                                let pfn = base / F + i;
                                if !pfn.is_multiple_of(align) || i + n > N { continue; }
                                let run = &model[i as usize..(i + n) as usize];
                                prop_assert!(!run.iter().all(|s| *s == St::Free), "missed run at {}", i);
                            }
                        }
                    }
                }
                FaOp::Free { which } => {
                    if live.is_empty() { continue; }
                    let (pa, n) = live.swap_remove(which % live.len());
                    let i = ((pa - base) / F) as usize;
                    fa.free(pa, n).unwrap();
                    for s in &mut model[i..i + n as usize] {
                        *s = St::Free;
                    }
                    prop_assert_eq!(fa.free(pa, n), Err(FreeError::DoubleFree { pa }));
                }
                FaOp::Reserve { start, len } => {
                    let r = Range { start: base + start * F + 3, end: base + (start + len) * F };
                    let got = fa.reserve(r);
                    let mut became = 0;
                    if r.start < r.end {
                        let from = start.min(N);
                        let to = (start + len).min(N);
                        for s in &mut model[from as usize..to as usize] {
                            if *s == St::Free { became += 1; }
                            if *s != St::Hole { *s = St::Reserved; }
                        }
                        // Allocations reserved over are never freed by this
                        // test (that would free reserved frames): they leak,
                        // so their other frames count as used from now on.
                        let mut kept = Vec::new();
                        for (pa, n) in live.drain(..) {
                            let i = (pa - base) / F;
                            if i + n <= from || i >= to {
                                kept.push((pa, n));
                            } else {
                                for s in &mut model[i as usize..(i + n) as usize] {
                                    *s = St::Reserved;
                                }
                            }
                        }
                        live = kept;
                    }
                    if r.start <= r.end {
                        prop_assert_eq!(got, Ok(became));
                    } else {
                        prop_assert!(got.is_err());
                    }
                }
                FaOp::BadFree { frame, n } => {
                    let pa = base + frame * F;
                    let before = fa.free_frames();
                    let res = fa.free(pa + 1, 1);
                    prop_assert_eq!(res, Err(FreeError::Misaligned { pa: pa + 1 }));
                    if frame + n > N && n > 0 {
                        prop_assert_eq!(fa.free(pa, n), Err(FreeError::OutOfRange { pa, frames: n }));
                    } else if n > 0 && model[frame as usize..(frame + n) as usize].contains(&St::Free) {
                        let double = matches!(fa.free(pa, n), Err(FreeError::DoubleFree { .. }));
                        prop_assert!(double);
                    }
                    prop_assert_eq!(fa.free_frames(), before);
                }
            }
            let free = model.iter().filter(|s| **s == St::Free).count() as u64;
            prop_assert_eq!(fa.free_frames(), free);
            for (i, s) in model.iter().enumerate() {
                prop_assert_eq!(fa.is_free(base + i as u64 * F), *s == St::Free, "frame {}", i);
            }
        }
        for (pa, n) in live.drain(..) {
            fa.free(pa, n).unwrap();
        }
        let free = model.iter().filter(|s| matches!(s, St::Free | St::Alloc)).count() as u64;
        prop_assert_eq!(fa.free_frames(), free);
    }

    #[test]
    fn from_base_size_overflow(base in any::<u64>(), size in any::<u64>()) {
        match Range::from_base_size(base, size) {
            Ok(r) => { prop_assert_eq!(r.len(), size); prop_assert_eq!(r.start, base); }
            Err(e) => {
                prop_assert!(base.checked_add(size).is_none());
                prop_assert_eq!(e, MapError::Overflow { base, size });
            }
        }
    }
}
