//! Kernel addresses. The kernel runs at 0xc000_0000_0000_0000 + physical
//! address in both real mode (hypervisor real mode ignores EA bits 0:3) and
//! virtual mode (the linear map in quadrant 3), so "virtual" and "real"
//! differ only in those bits.

/// Base of the linear map and of the kernel image's addresses.
pub const KERNEL_VIRT_BASE: u64 = 0xc000_0000_0000_0000;
const EA_TOP_BITS: u64 = 0xf000_0000_0000_0000;

/// Real (physical) address of a kernel address.
#[inline(always)]
pub const fn real_addr(va: u64) -> u64 {
    va & !EA_TOP_BITS
}

/// Linear-map address of physical address `pa`.
#[inline(always)]
pub const fn phys_to_virt(pa: u64) -> u64 {
    pa | KERNEL_VIRT_BASE
}

/// The 0xc000... alias of an address that may have been taken in real mode.
#[inline(always)]
pub const fn to_virt_alias(a: u64) -> u64 {
    if a & EA_TOP_BITS == 0 {
        a | KERNEL_VIRT_BASE
    } else {
        a
    }
}

extern "C" {
    fn _start();
    static __image_end: u8;
}

/// Kernel address of the first byte of the image.
pub fn image_start() -> u64 {
    _start as *const () as u64
}

/// Kernel address one past the image's last byte (BSS included, 64 KB aligned).
pub fn image_end() -> u64 {
    core::ptr::addr_of!(__image_end) as u64
}
