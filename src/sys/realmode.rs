//! Running code with translation off (MSR[IR]=MSR[DR]=0) and EE=0.

/// A function that can run in real mode: only real addresses, no MMU.
pub type RealModeFn = extern "C" fn(u64, u64) -> u64;

extern "C" {
    fn realmode_call(func: u64, a0: u64, a1: u64) -> u64;
}

/// Calls `f(a0, a1)` in hypervisor real mode with EE=0 (entered and left
/// with `hrfid`, boot/realmode.s) and returns its result. `f` must touch only
/// memory that is valid by real address (the kernel image, the linear map's
/// physical pages, page tables) and must not enable EE.
pub fn call(f: RealModeFn, a0: u64, a1: u64) -> u64 {
    // SAFETY: realmode_call saves and restores the caller's MSR, LR and TOC;
    // every kernel address is usable in real mode because hypervisor real
    // mode ignores EA bits 0:3, and `f` honours the contract above.
    unsafe { realmode_call(f as *const () as u64, a0, a1) }
}
