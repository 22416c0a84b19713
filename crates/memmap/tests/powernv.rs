//! The memory map of QEMU `-M powernv9 -m 2G` as the kernel will see it, run
//! through the same steps as the kernel: usable ranges, carve the bitmap,
//! build the allocator, then allocate base frames, 2 MB runs and a 1 GB run.

use memmap::{usable_memory, words_needed, FrameAllocator, MapError, Range, RangeSet};

const K64: u64 = 64 << 10;
const M2: u64 = 2 << 20;
const G1: u64 = 1 << 30;

fn r(start: u64, end: u64) -> Range {
    Range::new(start, end).unwrap()
}

/// RAM [0, 2G) and the reservations a powernv9 boot has (as seen under QEMU; QEMU
/// `include/hw/ppc/pnv.h` puts HOMER at 0x203ffd800000 + chip * 4 MB and the
/// OCC common area at 0x203fff800000, far above 2 GB of RAM).
fn powernv9_2g() -> (Vec<Range>, Vec<Range>) {
    let memory = vec![r(0, 2 * G1)];
    let reserved = vec![
        r(0, K64),                                                       // low vectors
        Range::from_base_size(0x2000_0000, 4 << 20).unwrap(),            // kernel image
        r(0x3000_0000, 0x329F_0000),                                     // skiboot
        Range::from_base_size(0x3100_0000, 0x1_8000).unwrap(),           // FDT (in skiboot's heap)
        Range::from_base_size(0x2000_0000 + (5 << 20), 0x9000).unwrap(), // FDT copy, unaligned
        Range::from_base_size(0x203F_FD80_0000, 4 << 20).unwrap(),       // HOMER (chip 0)
        Range::from_base_size(0x203F_FF80_0000, 8 << 20).unwrap(),       // OCC common area
    ];
    (memory, reserved)
}

#[test]
fn powernv9_2g_has_a_1g_run_and_2m_runs() {
    let (memory, reserved) = powernv9_2g();
    let mut usable: RangeSet<16> = usable_memory(&memory, &reserved, K64).unwrap();
    usable.require_at_least(G1).unwrap();
    assert_eq!(
        usable.require_at_least(4 * G1),
        Err(MapError::TooLittleMemory { have: usable.total_bytes(), need: 4 * G1 })
    );
    // Nothing usable overlaps a reservation, and all of it is RAM.
    for u in &usable {
        assert!(reserved.iter().all(|res| !u.overlaps(res)), "{u:?}");
        assert!(memory.iter().any(|m| m.contains_range(u)));
        assert_eq!((u.start % K64, u.end % K64), (0, 0));
    }
    assert_eq!(usable.find_aligned(G1, G1), Some(G1));
    assert_eq!(usable.find_aligned(M2, M2), Some(M2));

    // The bitmap for the whole RAM span comes out of usable RAM itself.
    let span = r(0, 2 * G1);
    let words = words_needed(span.len(), K64);
    assert_eq!(words, 512);
    // Carve whole frames so what is left stays frame aligned.
    let bitmap_bytes = (words as u64 * 8).next_multiple_of(K64);
    let bitmap_range = usable.carve(bitmap_bytes, K64).unwrap().unwrap();
    assert_eq!(bitmap_range, r(K64, 2 * K64));

    let mut bitmap = vec![0u64; words];
    let mut fa = FrameAllocator::new(span, K64, &mut bitmap).unwrap();
    for u in &usable {
        fa.free_range(*u).unwrap();
    }
    assert_eq!(fa.free_frames() * K64, usable.total_bytes());
    assert!(!fa.is_free(0) && !fa.is_free(K64) && !fa.is_free(0x2000_0000));
    assert!(!fa.is_free(0x329E_0000) && fa.is_free(0x329F_0000));

    let one = fa.alloc(1, 1).unwrap();
    assert_eq!(one, 2 * K64);
    let thp = fa.alloc(32, 32).unwrap();
    assert_eq!(thp % M2, 0);
    assert_eq!(thp, M2);
    let huge = fa.alloc(16384, 16384).unwrap();
    assert_eq!(huge, G1);
    // Only one whole free GB exists.
    assert_eq!(fa.alloc(16384, 16384), None);
    for pa in [one, thp, huge] {
        assert!(reserved.iter().all(|res| !res.contains(pa)));
    }
    // Plenty of 2 MB runs remain below 1 GB.
    let mut n = 0;
    while let Some(pa) = fa.alloc(32, 32) {
        assert_eq!(pa % M2, 0);
        assert!(pa < G1);
        n += 1;
    }
    assert!(n > 300, "{n}");
    fa.free(huge, 16384).unwrap();
    assert_eq!(fa.alloc(16384, 16384), Some(G1));
}

#[test]
fn homer_inside_ram_leaves_no_1g_run_but_2m_runs() {
    // On real POWER9 hardware HOMER/OCC sit at the top of RAM; with only 2 GB
    // that breaks the second GB, and the first holds the kernel and skiboot.
    let (memory, mut reserved) = powernv9_2g();
    reserved.push(r(2 * G1 - (12 << 20), 2 * G1));
    let usable: RangeSet<16> = usable_memory(&memory, &reserved, K64).unwrap();
    assert_eq!(usable.find_aligned(G1, G1), None);
    assert!(usable.find_aligned(M2, M2).is_some());
    let mut bitmap = vec![0u64; words_needed(2 * G1, K64)];
    let mut fa = FrameAllocator::new(r(0, 2 * G1), K64, &mut bitmap).unwrap();
    for u in &usable {
        fa.free_range(*u).unwrap();
    }
    assert_eq!(fa.alloc(16384, 16384), None);
    assert!(fa.alloc(32, 32).is_some());
}

#[test]
fn late_reservation_is_honoured() {
    let (memory, reserved) = powernv9_2g();
    let usable: RangeSet<16> = usable_memory(&memory, &reserved, K64).unwrap();
    let mut bitmap = vec![0u64; 512];
    let mut fa = FrameAllocator::new(r(0, 2 * G1), K64, &mut bitmap).unwrap();
    for u in &usable {
        fa.free_range(*u).unwrap();
    }
    let before = fa.free_frames();
    // A region found late (e.g. a second memreserve entry), unaligned.
    assert_eq!(fa.reserve(r(G1 + 100, G1 + K64 + 1)), Ok(2));
    assert_eq!(fa.free_frames(), before - 2);
    assert_eq!(fa.alloc(16384, 16384), None);
    let pa = fa.alloc(32, 32).unwrap();
    assert!(!(G1..G1 + 2 * K64).contains(&pa));
}

#[test]
fn fill_and_drain_32k_frames() {
    // 2 GB of 64 KB frames = 32768 frames, 512 bitmap words.
    let mut bitmap = vec![0u64; words_needed(2 * G1, K64)];
    let mut fa = FrameAllocator::new(r(0, 2 * G1), K64, &mut bitmap).unwrap();
    fa.free_range(r(0, 2 * G1)).unwrap();
    let mut got = Vec::new();
    while let Some(pa) = fa.alloc(1, 1) {
        got.push(pa);
    }
    assert_eq!(got.len(), 32768);
    assert!(got.windows(2).all(|w| w[1] == w[0] + K64));
    for pa in got.iter().rev() {
        fa.free(*pa, 1).unwrap();
    }
    assert_eq!(fa.free_frames(), 32768);
    assert_eq!(fa.alloc(32768, 16384), Some(0));
}
