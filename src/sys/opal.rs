//! OPAL firmware calls (skiboot), typed. Tokens and return codes from
//! skiboot include/opal-api.h. OPAL runs big-endian in real mode; the stub
//! in boot/opal.s does the switch. Pointers passed are real addresses and
//! the data OPAL reads or writes is big-endian.

use core::sync::atomic::{AtomicU64, Ordering::*};

use super::addr::real_addr;
use super::time;

/// OPAL call tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Token {
    ConsoleWrite = 1,
    CecPowerDown = 5,
    CecReboot = 6,
    PollEvents = 10,
    StartCpu = 41,
    ReinitCpus = 70,
    CheckToken = 80,
    ConsoleFlush = 117,
}

/// OPAL return codes we act on.
pub const OPAL_SUCCESS: i64 = 0;
pub const OPAL_PARAMETER: i64 = -1;
pub const OPAL_BUSY: i64 = -2;
pub const OPAL_PARTIAL: i64 = -3;
pub const OPAL_BUSY_EVENT: i64 = -12;
/// Used locally when a power-down request was accepted but nothing happened.
pub const OPAL_TIMEOUT: i64 = -33;

/// OPAL_REINIT_CPUS flags.
pub const REINIT_HILE_LE: u64 = 2;
pub const REINIT_MMU_RADIX: u64 = 8;

/// OPAL_CHECK_TOKEN answer for an implemented call (0 = absent).
pub const TOKEN_PRESENT: i64 = 1;

#[no_mangle]
static OPAL_BASE: AtomicU64 = AtomicU64::new(0);
#[no_mangle]
static OPAL_ENTRY: AtomicU64 = AtomicU64::new(0);

extern "C" {
    fn opal_call_asm(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64, a6: u64, token: u64) -> i64;
}

/// An OPAL call that did not return OPAL_SUCCESS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpalError {
    pub token: Token,
    pub rc: i64,
}

impl core::fmt::Display for OpalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OPAL call {:?} (token {}) returned {}", self.token, self.token as u64, self.rc)
    }
}

/// Records where OPAL lives (from r8/r9 at entry or /ibm,opal).
pub fn set_entry(base: u64, entry: u64) {
    OPAL_BASE.store(base, Relaxed);
    OPAL_ENTRY.store(entry, Relaxed);
}

/// (OPAL base, OPAL entry).
pub fn entry_points() -> (u64, u64) {
    (OPAL_BASE.load(Relaxed), OPAL_ENTRY.load(Relaxed))
}

/// True once [`set_entry`] has been called with a non-zero entry.
pub fn available() -> bool {
    OPAL_ENTRY.load(Relaxed) != 0
}

fn call(token: Token, args: [u64; 7]) -> i64 {
    if !available() {
        return OPAL_PARAMETER;
    }
    // SAFETY: OPAL is present (checked above); the stub saves and restores
    // everything the ABI needs and returns to the caller's MSR. Arguments are
    // plain values or real addresses of buffers that outlive the call.
    unsafe { opal_call_asm(args[0], args[1], args[2], args[3], args[4], args[5], args[6], token as u64) }
}

fn check(token: Token, rc: i64) -> Result<(), OpalError> {
    if rc == OPAL_SUCCESS {
        Ok(())
    } else {
        Err(OpalError { token, rc })
    }
}

/// Writes as much of `bytes` as OPAL accepts to console terminal 0; returns
/// the number of bytes written (may be 0 when busy).
pub fn console_write(bytes: &[u8]) -> Result<usize, OpalError> {
    let mut len_be: u64 = (bytes.len() as u64).to_be();
    let rc = call(
        Token::ConsoleWrite,
        [0, real_addr(&mut len_be as *mut u64 as u64), real_addr(bytes.as_ptr() as u64), 0, 0, 0, 0],
    );
    match rc {
        OPAL_SUCCESS | OPAL_PARTIAL | OPAL_BUSY | OPAL_BUSY_EVENT => {
            Ok((u64::from_be(len_be) as usize).min(bytes.len()))
        }
        _ => Err(OpalError { token: Token::ConsoleWrite, rc }),
    }
}

/// Lets OPAL run its pollers (console output among them).
pub fn poll_events() {
    let mut events: u64 = 0;
    let _ = call(Token::PollEvents, [real_addr(&mut events as *mut u64 as u64), 0, 0, 0, 0, 0, 0]);
}

/// Pushes buffered console output out.
pub fn console_flush() {
    for _ in 0..1000 {
        match call(Token::ConsoleFlush, [0; 7]) {
            OPAL_PARTIAL | OPAL_BUSY | OPAL_BUSY_EVENT => poll_events(),
            _ => return,
        }
    }
}

/// Powers the machine off (QEMU exits 0). Returns only if OPAL refused or
/// nothing happened for 10 s.
pub fn power_down() -> OpalError {
    cec_request(Token::CecPowerDown)
}

/// Reboots the machine (petitboot comes back on a POWER9). Returns only if
/// OPAL refused or nothing happened for 10 s.
pub fn reboot() -> OpalError {
    cec_request(Token::CecReboot)
}

/// Issues a CEC power-down or reboot. The request is asynchronous (an IPMI
/// message to the BMC), so after OPAL accepts it we keep running the pollers
/// until the machine goes away.
fn cec_request(token: Token) -> OpalError {
    let rc = loop {
        let rc = call(token, [0; 7]);
        if rc != OPAL_BUSY && rc != OPAL_BUSY_EVENT {
            break rc;
        }
        poll_events();
    };
    if rc != OPAL_SUCCESS {
        return OpalError { token, rc };
    }
    let start = time::now();
    while time::now() - start < time::secs(10) {
        poll_events();
    }
    OpalError { token, rc: OPAL_TIMEOUT }
}

/// Starts thread `pir` at real address `entry` (big-endian, r3 = PIR).
pub fn start_cpu(pir: u32, entry_real: u64) -> Result<(), OpalError> {
    check(Token::StartCpu, call(Token::StartCpu, [pir as u64, entry_real, 0, 0, 0, 0, 0]))
}

/// Reconfigures all threads (interrupt endianness, MMU mode). Threads we
/// started are outside OPAL, so this must run before any START_CPU.
pub fn reinit_cpus(flags: u64) -> Result<(), OpalError> {
    check(Token::ReinitCpus, call(Token::ReinitCpus, [flags, 0, 0, 0, 0, 0, 0]))
}

/// Whether this OPAL implements `token`.
pub fn has_token(token: Token) -> bool {
    call(Token::CheckToken, [token as u64, 0, 0, 0, 0, 0, 0]) == TOKEN_PRESENT
}
