//! SPR numbers and register bit values (names as in the Power ISA / Linux reg.h).
//! A reference catalog: not every entry is used by the kernel today.
#![allow(dead_code)]

pub const SPR_XER: u16 = 1;
pub const SPR_LR: u16 = 8;
pub const SPR_CTR: u16 = 9;
pub const SPR_DSISR: u16 = 18;
pub const SPR_DAR: u16 = 19;
pub const SPR_DEC: u16 = 22;
pub const SPR_SRR0: u16 = 26;
pub const SPR_SRR1: u16 = 27;
pub const SPR_PIDR: u16 = 48;
pub const SPR_SPRG2: u16 = 274;
pub const SPR_HSPRG0: u16 = 304;
pub const SPR_HSPRG1: u16 = 305;
pub const SPR_HDSISR: u16 = 306;
pub const SPR_HDAR: u16 = 307;
pub const SPR_HDEC: u16 = 310;
pub const SPR_HSRR0: u16 = 314;
pub const SPR_HSRR1: u16 = 315;
pub const SPR_LPCR: u16 = 318;
pub const SPR_LPIDR: u16 = 319;
pub const SPR_HEIR: u16 = 339;
pub const SPR_PTCR: u16 = 464;
pub const SPR_HID0: u16 = 1008;
pub const SPR_PIR: u16 = 1023;
pub const SPR_PSSCR: u16 = 855;

pub const MSR_SF: u64 = 1 << 63;
pub const MSR_HV: u64 = 1 << 60;
pub const MSR_EE: u64 = 1 << 15;
pub const MSR_PR: u64 = 1 << 14;
pub const MSR_ME: u64 = 1 << 12;
pub const MSR_IR: u64 = 1 << 5;
pub const MSR_DR: u64 = 1 << 4;
pub const MSR_RI: u64 = 1 << 1;
pub const MSR_LE: u64 = 1 << 0;

/// LPCR[AIL] = 3: interrupts taken with IR=DR=1 go to 0xc000_0000_0000_4000 + vector.
pub const LPCR_AIL_3: u64 = 0x0180_0000;
pub const LPCR_AIL: u64 = 0x0180_0000;
/// Use the process table (radix, Linux LPCR_UPRT).
pub const LPCR_UPRT: u64 = 0x0040_0000;
/// Host radix (Linux LPCR_HR).
pub const LPCR_HR: u64 = 0x0010_0000;
/// Large decrementer.
pub const LPCR_LD: u64 = 0x0002_0000;
/// Power-saving exit enables (doorbells, externals); irrelevant while we never nap.
pub const LPCR_PECE: u64 = 0x0001_f000;
/// Hypervisor external interrupt control.
pub const LPCR_HEIC: u64 = 0x10;
/// Logical partitioning environment selectors.
pub const LPCR_LPES: u64 = 0x0c;
/// Hypervisor virtualization interrupt conditionally enabled.
pub const LPCR_HVICE: u64 = 0x2;
/// Hypervisor decrementer interrupt conditionally enabled.
pub const LPCR_HDICE: u64 = 0x1;

/// msgsnd/msgclr message type 5 (hypervisor doorbell, "server" type), RB bits 32:36.
pub const DOORBELL_TYPE_HV: u64 = 5 << 27;

/// Timebase frequency on POWER8/9/10 (checked against the FDT at boot).
pub const TB_HZ: u64 = 512_000_000;
