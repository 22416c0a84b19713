//! SPR numbers and register bits the kernel uses (names as in the Power ISA /
//! Linux reg.h). The radix MMU's registers (PIDR, LPCR, LPIDR, PTCR and the
//! LPCR HR/UPRT bits) are defined once, in the `radix` crate, and re-exported.

pub use radix::tables::{
    LPCR_HR, LPCR_UPRT, SPRN_LPCR as SPR_LPCR, SPRN_LPID as SPR_LPIDR, SPRN_PID as SPR_PIDR,
    SPRN_PTCR as SPR_PTCR,
};

pub const SPR_DEC: u16 = 22;
pub const SPR_HSPRG0: u16 = 304;
pub const SPR_HSRR0: u16 = 314;
pub const SPR_HSRR1: u16 = 315;
pub const SPR_PSSCR: u16 = 855;
pub const SPR_HID0: u16 = 1008;
pub const SPR_PIR: u16 = 1023;

pub const MSR_EE: u64 = 1 << 15;
pub const MSR_ME: u64 = 1 << 12;
pub const MSR_IR: u64 = 1 << 5;
pub const MSR_DR: u64 = 1 << 4;
pub const MSR_RI: u64 = 1 << 1;

/// LPCR[AIL] (both bits) and AIL = 3: interrupts taken with IR=DR=1 go to
/// 0xc000_0000_0000_4000 + vector.
pub const LPCR_AIL: u64 = 0x0180_0000;
pub const LPCR_AIL_3: u64 = 0x0180_0000;
/// Logical partitioning environment selectors.
pub const LPCR_LPES: u64 = 0x0c;
/// Hypervisor virtualization interrupt conditionally enabled.
pub const LPCR_HVICE: u64 = 0x2;
/// Hypervisor decrementer interrupt conditionally enabled.
pub const LPCR_HDICE: u64 = 0x1;
/// Large decrementer (LPCR bit 46): DEC becomes 56 bits wide.
pub const LPCR_LD: u64 = 0x0002_0000;
/// Hypervisor external interrupt control (bit 59).
pub const LPCR_HEIC: u64 = 0x10;
/// Hypervisor virtualization exit enable (bit 17): wake from stop on a
/// hypervisor virtualization interrupt.
pub const LPCR_HVEE: u64 = 0x0000_4000_0000_0000;
/// Power-saving exit cause enables (bits 47:51: directed privileged and
/// hypervisor doorbells, external, decrementer, other).
pub const LPCR_PECE: u64 = 0x0001_f000;
/// The PECE bits skiboot leaves set: hypervisor doorbell (0x8000) and
/// decrementer (0x2000) wake a thread from `stop`.
pub const LPCR_PECE_SKIBOOT: u64 = 0xa000;

/// msgsnd/msgclr message type 5 (hypervisor doorbell, "server" type), RB bits 32:36.
pub const DOORBELL_TYPE_HV: u64 = 5 << 27;

/// Timebase frequency on POWER8/9/10 (checked against the FDT at boot).
pub const TB_HZ: u64 = 512_000_000;
