//! Timebase and decrementer.

use crate::arch;

/// Decrementer period: 10 ms. Re-armed on every tick (never left to wrap).
pub const TICK_TB: u64 = arch::TB_HZ / 100;

/// Timebase now.
#[inline(always)]
pub fn now() -> u64 {
    arch::mftb()
}

/// Timebase ticks in `ms` milliseconds.
pub const fn ms(ms: u64) -> u64 {
    ms * (arch::TB_HZ / 1000)
}

/// Timebase ticks in `s` seconds.
pub const fn secs(s: u64) -> u64 {
    s * arch::TB_HZ
}

/// Timebase ticks in `us` microseconds.
pub const fn us(us: u64) -> u64 {
    us * (arch::TB_HZ / 1_000_000)
}

/// Timebase ticks in `ns` nanoseconds (rounded down).
pub const fn ns(ns: u64) -> u64 {
    ns * (arch::TB_HZ / 1_000_000) / 1000
}

/// Timebase ticks → microseconds.
pub const fn tb_to_us(tb: u64) -> u64 {
    tb / (arch::TB_HZ / 1_000_000)
}

/// Timebase ticks → milliseconds.
pub const fn tb_to_ms(tb: u64) -> u64 {
    tb / (arch::TB_HZ / 1000)
}

/// Busy-waits `ticks` timebase ticks.
pub fn delay_tb(ticks: u64) {
    let start = now();
    while now().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// A deadline: `expired()` once `ticks` have passed since creation.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    start: u64,
    ticks: u64,
}

impl Deadline {
    /// Expires `ticks` timebase ticks from now.
    pub fn after(ticks: u64) -> Self {
        Deadline { start: now(), ticks }
    }

    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        now().wrapping_sub(self.start) >= self.ticks
    }
}

/// Arms the decrementer for the next tick.
pub fn arm_decrementer() {
    // SAFETY: writing DEC only schedules the next decrementer interrupt.
    unsafe { arch::mtspr::<{ arch::SPR_DEC }>(TICK_TB) };
}

/// Pushes the decrementer far out (~4 s; the largest positive 32-bit value),
/// so it does not fire while interrupts are being set up.
pub fn quiet_decrementer() {
    // SAFETY: writing DEC only schedules the next decrementer interrupt.
    unsafe { arch::mtspr::<{ arch::SPR_DEC }>(0x7fff_ffff) };
}
