//! Kernel heap: `linked_list_allocator` over a contiguous run of frames.
//! Not for interrupt handlers (its lock is not interrupt-safe).

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `[start, start + size)` (kernel addresses) to the heap.
///
/// # Safety
/// The range must be unused memory owned by the heap from now on; call once.
pub unsafe fn init(start: u64, size: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { HEAP.lock().init(start as *mut u8, size as usize) };
}

/// (used, free) bytes.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}
