//! Physical frame allocator (64 KB frames) over free RAM, honouring every
//! reservation: the FDT's memreserve block and /reserved-memory nodes, the FDT
//! blob, the kernel image, and low memory holding our exception vectors.
//! The range arithmetic and the bitmap allocator are the host-tested
//! `memmap` crate; this module only feeds them the boot facts.

use core::fmt;

use memmap::{FrameAllocator, Range, RangeSet};
use spin::Mutex;

use devtree::DeviceTree;

use super::{heap, phys_to_virt};
use crate::sys::addr::{image_end, image_start};
use crate::sys::exit;

/// Frame size: the radix base page size.
pub const FRAME: u64 = 64 * 1024;
/// Heap size carved at boot.
pub const HEAP_BYTES: u64 = 64 << 20;
/// Low memory reserved for the vectors (0..0x8000 used, a whole frame kept).
const LOW_RESERVED: u64 = 0x1_0000;

struct State {
    alloc: FrameAllocator<'static>,
    fdt_bytes: u64,
    usable_bytes: u64,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Allocation failure.
#[derive(Clone, Copy, Debug)]
pub struct OutOfFrames {
    pub frames: u64,
    pub align: u64,
}

impl fmt::Display for OutOfFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of memory: no run of {} free 64 KB frames aligned to {} frames",
            self.frames, self.align
        )
    }
}

/// Builds the allocator and the heap from the device tree; fails the run with
/// a clear message on bad or insufficient memory.
pub fn init(tree: &DeviceTree, load_phys: u64, cfg: &kconfig::Mem) {
    let mut memory: RangeSet<64> = RangeSet::new();
    for r in tree.memory.iter() {
        let range = Range::from_base_size(r.base, r.size)
            .unwrap_or_else(|e| exit::fail(format_args!("memory node {:#x}+{:#x}: {e:?}", r.base, r.size)));
        memory.insert(range).unwrap_or_else(|e| exit::fail(format_args!("too many memory ranges: {e:?}")));
    }
    let mut reserved: reservations::Ranges = reservations::Ranges::new();
    for r in tree.reserved.iter() {
        reserved.push(r.region.base, r.region.size);
    }
    reserved.push(0, LOW_RESERVED);
    reserved.push(load_phys, image_end() - image_start());
    let usable: RangeSet<64> = memmap::usable_memory(memory.as_slice(), reserved.as_slice(), FRAME)
        .unwrap_or_else(|e| {
            exit::fail(format_args!("no usable memory: {e:?} (FDT lists {} MiB)", memory.total_bytes() >> 20))
        });
    let min = cfg.min_mb << 20;
    if let Err(e) = usable.require_at_least(min) {
        exit::fail(format_args!(
            "too little memory: {} MiB usable of {} MiB, need at least {} MiB (mem.min_mb): {e:?}",
            usable.total_bytes() >> 20,
            memory.total_bytes() >> 20,
            min >> 20
        ));
    }
    let span = Range::new(memory.as_slice()[0].start, memory.as_slice()[memory.len() - 1].end)
        .unwrap_or_else(|e| exit::fail(format_args!("bad memory span: {e:?}")));
    let words = memmap::words_needed(span.len(), FRAME);
    let mut free = usable;
    let bitmap_range = free
        .carve((words as u64 * 8).next_multiple_of(FRAME), FRAME)
        .ok()
        .flatten()
        .unwrap_or_else(|| exit::fail(format_args!("no room for the frame bitmap ({words} words)")));
    // SAFETY: `bitmap_range` is free RAM (carved out of the usable set, so no
    // reservation overlaps it) that nothing else will ever use; zero-filled
    // words are a valid bitmap.
    let bitmap: &'static mut [u64] = unsafe {
        let p = phys_to_virt(bitmap_range.start) as *mut u64;
        core::ptr::write_bytes(p, 0, words);
        core::slice::from_raw_parts_mut(p, words)
    };
    let mut alloc = FrameAllocator::new(span, FRAME, bitmap)
        .unwrap_or_else(|e| exit::fail(format_args!("frame allocator: {e:?}")));
    for r in free.iter() {
        alloc
            .free_range(*r)
            .unwrap_or_else(|e| exit::fail(format_args!("frame allocator free {r:?}: {e:?}")));
    }
    let heap_pa = alloc
        .alloc(HEAP_BYTES / FRAME, 1)
        .unwrap_or_else(|| exit::fail(format_args!("no room for a {} MiB heap", HEAP_BYTES >> 20)));
    // SAFETY: the frames were just allocated for the heap and are never freed.
    unsafe { heap::init(phys_to_virt(heap_pa), HEAP_BYTES) };
    *STATE.lock() = Some(State {
        alloc,
        fdt_bytes: memory.total_bytes(),
        usable_bytes: usable.total_bytes(),
    });
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock();
    f(g.as_mut().expect("mm::frames::init not called"))
}

/// Allocates `n` contiguous frames aligned to `align` frames; returns the
/// physical address.
pub fn alloc_phys(n: u64, align: u64) -> Result<u64, OutOfFrames> {
    with(|s| s.alloc.alloc(n, align)).ok_or(OutOfFrames { frames: n, align })
}

/// Frees frames from [`alloc_phys`]; a double or foreign free fails the run.
/// The POWER9 model must show that no CPU can still translate to them.
pub fn free_phys(pa: u64, n: u64) {
    super::shadow::check_free_page(pa, n * FRAME);
    if let Err(e) = with(|s| s.alloc.free(pa, n)) {
        exit::fail(format_args!("bad frame free of {n} frames at {pa:#x}: {e:?}"));
    }
}

/// Allocates `size` bytes (rounded up to frames) aligned to `align` bytes;
/// returns the kernel (linear-map) address.
pub fn alloc_bytes(size: u64, align: u64) -> Result<u64, OutOfFrames> {
    let n = size.div_ceil(FRAME);
    let a = (align / FRAME).max(1);
    alloc_phys(n, a).map(phys_to_virt)
}

/// Claims one free frame inside `[start, end)`, if there is one.
pub fn claim_in(start: u64, end: u64) -> Option<u64> {
    with(|s| {
        let mut pa = start.next_multiple_of(FRAME);
        while pa + FRAME <= end {
            if s.alloc.is_free(pa) {
                let r = Range::new(pa, pa + FRAME).ok()?;
                s.alloc.reserve(r).ok()?;
                return Some(pa);
            }
            pa += FRAME;
        }
        None
    })
}

/// (RAM in the FDT, usable after reservations, free now), in bytes.
pub fn summary() -> (u64, u64, u64) {
    with(|s| (s.fdt_bytes, s.usable_bytes, s.alloc.free_frames() * FRAME))
}

/// A fixed list of (base, size) reservations turned into ranges, skipping
/// zero sizes and failing clearly on overflow.
mod reservations {
    use memmap::Range;

    pub struct Ranges {
        items: [Range; 80],
        len: usize,
    }

    impl Ranges {
        pub fn new() -> Self {
            Ranges { items: [Range::EMPTY; 80], len: 0 }
        }

        pub fn push(&mut self, base: u64, size: u64) {
            if size == 0 {
                return;
            }
            let r = Range::from_base_size(base, size).unwrap_or_else(|e| {
                crate::sys::exit::fail(format_args!("reserved range {base:#x}+{size:#x}: {e:?}"))
            });
            if self.len == self.items.len() {
                crate::sys::exit::fail(format_args!("more than {} reserved ranges", self.items.len()));
            }
            self.items[self.len] = r;
            self.len += 1;
        }

        pub fn as_slice(&self) -> &[Range] {
            &self.items[..self.len]
        }
    }
}
