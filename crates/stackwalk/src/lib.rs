//! Walking a ppc64le ELFv2 stack by its back chain, for backtraces that
//! must never fault: every word read is inside the stack's bounds, every
//! step moves toward the stack's top, and the walk stops after a fixed
//! number of frames.
//!
//! ELFv2 frame layout (the stack grows down; r1 points at the newest frame):
//!
//! ```text
//!   0(r1)   back chain: the caller's r1 (0 in the outermost frame)
//!   8(r1)   CR save
//!  16(r1)   LR save: written by the *callee* of this frame's function
//! ```
//!
//! So the return address into the function that owns frame F is stored in
//! F's caller's frame: `*(back_chain(F) + 16)`. A leaf function that has
//! not stored its LR shows up only through the LR register itself, which is
//! why a trap's report lists PC, then LR, then the chain.
#![cfg_attr(not(test), no_std)]

/// Offset of the back-chain word in a frame.
pub const BACK_CHAIN: u64 = 0;
/// Offset of the LR save word in a frame.
pub const LR_SAVE: u64 = 16;
/// Frames printed at most, as the kernel's reports promise.
pub const MAX_FRAMES: usize = 32;

/// The stack a walk may read: `[lo, hi)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub lo: u64,
    pub hi: u64,
}

impl Bounds {
    /// True if the 8-byte word at `a` lies inside the bounds.
    pub fn holds_word(&self, a: u64) -> bool {
        a >= self.lo && a.checked_add(8).is_some_and(|e| e <= self.hi)
    }
}

/// Why a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The back chain reached 0: the outermost frame.
    Outermost,
    /// The starting stack pointer is not inside the bounds.
    SpOutside,
    /// A back chain pointed outside the stack.
    ChainOutside(u64),
    /// A back chain did not move toward the top of the stack (a loop or
    /// garbage).
    ChainNotRising(u64),
    /// A frame's LR save word is outside the stack.
    LrOutside(u64),
    /// `max` frames were emitted.
    MaxFrames,
}

/// Walks from stack pointer `sp`, reading words with `read` (only ever
/// called for addresses inside `bounds`), and calls `emit(return_address)`
/// for each frame, at most `max` times.
pub fn walk(
    sp: u64,
    bounds: Bounds,
    max: usize,
    mut read: impl FnMut(u64) -> u64,
    mut emit: impl FnMut(u64),
) -> End {
    if !bounds.holds_word(sp) || sp % 8 != 0 {
        return End::SpOutside;
    }
    let mut sp = sp;
    let mut n = 0;
    loop {
        let next = read(sp + BACK_CHAIN);
        if next == 0 {
            return End::Outermost;
        }
        if !bounds.holds_word(next) || next % 8 != 0 {
            return End::ChainOutside(next);
        }
        if next <= sp {
            return End::ChainNotRising(next);
        }
        let slot = next + LR_SAVE;
        if !bounds.holds_word(slot) {
            return End::LrOutside(slot);
        }
        if n == max {
            return End::MaxFrames;
        }
        emit(read(slot));
        n += 1;
        sp = next;
    }
}

/// The link-time address of runtime address `addr` for an image whose
/// first byte is linked at `link_base` and runs at `runtime_start`, if
/// `addr` is inside the image's `size` bytes.
pub fn link_address(addr: u64, runtime_start: u64, link_base: u64, size: u64) -> Option<u64> {
    let off = addr.checked_sub(runtime_start)?;
    (off < size).then(|| link_base + off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Stack {
        words: HashMap<u64, u64>,
        bounds: Bounds,
    }

    impl Stack {
        /// Frames from the newest (lowest) up: (frame address, back chain,
        /// LR saved in this frame by its callee).
        fn new(bounds: Bounds, frames: &[(u64, u64, u64)]) -> Stack {
            let mut words = HashMap::new();
            for &(f, chain, lr) in frames {
                words.insert(f, chain);
                words.insert(f + LR_SAVE, lr);
            }
            Stack { words, bounds }
        }
        fn walk(&self, sp: u64, max: usize) -> (Vec<u64>, End) {
            let mut out = Vec::new();
            let b = self.bounds;
            let end = walk(
                sp,
                b,
                max,
                |a| {
                    assert!(b.holds_word(a), "read outside the stack at {a:#x}");
                    *self.words.get(&a).unwrap_or(&0xdead_beef)
                },
                |ra| out.push(ra),
            );
            (out, end)
        }
    }

    const B: Bounds = Bounds { lo: 0x1_0000, hi: 0x2_0000 };

    #[test]
    fn a_well_formed_chain_yields_each_callers_return_address() {
        // f3 (newest) <- f2 <- f1 <- outermost
        let s = Stack::new(
            B,
            &[(0x1_f000, 0x1_f400, 0), (0x1_f400, 0x1_f800, 0xa3), (0x1_f800, 0x1_ffc0, 0xa2), (0x1_ffc0, 0, 0xa1)],
        );
        assert_eq!(s.walk(0x1_f000, MAX_FRAMES), (vec![0xa3, 0xa2, 0xa1], End::Outermost));
    }

    #[test]
    fn the_walk_stops_at_the_frame_limit() {
        let mut frames = Vec::new();
        for i in 0..100u64 {
            frames.push((0x1_0000 + i * 0x100, 0x1_0000 + (i + 1) * 0x100, i));
        }
        let s = Stack::new(B, &frames);
        let (ras, end) = s.walk(0x1_0000, MAX_FRAMES);
        assert_eq!(ras.len(), MAX_FRAMES);
        assert_eq!(end, End::MaxFrames);
    }

    #[test]
    fn garbage_chains_never_read_outside_the_stack() {
        let s = Stack::new(B, &[(0x1_f000, 0x9_0000, 1)]);
        assert_eq!(s.walk(0x1_f000, 32).1, End::ChainOutside(0x9_0000));
        let s = Stack::new(B, &[(0x1_f000, 0x1_e000, 1)]);
        assert_eq!(s.walk(0x1_f000, 32).1, End::ChainNotRising(0x1_e000));
        let s = Stack::new(B, &[(0x1_f000, 0x1_f000, 1)]);
        assert_eq!(s.walk(0x1_f000, 32).1, End::ChainNotRising(0x1_f000));
        let s = Stack::new(B, &[(0x1_f000, 0x1_f003, 1)]);
        assert_eq!(s.walk(0x1_f000, 32).1, End::ChainOutside(0x1_f003));
        // the last frame's LR slot would be past the top
        let s = Stack::new(B, &[(0x1_f000, 0x1_fff8, 1)]);
        assert_eq!(s.walk(0x1_f000, 32).1, End::LrOutside(0x2_0008));
        assert_eq!(s.walk(0x3_0000, 32), (vec![], End::SpOutside));
        assert_eq!(s.walk(0x1_fffc, 32), (vec![], End::SpOutside));
    }

    /// Property: on any stack contents, the walk reads only inside the
    /// bounds (the closure asserts it), ends, and emits at most `max`.
    #[test]
    fn random_stacks_are_walked_safely() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..5000 {
            let mut words = HashMap::new();
            for _ in 0..64 {
                let a = B.lo + (rnd() % 0x1_0000) / 8 * 8;
                let v = match rnd() % 4 {
                    0 => 0,
                    1 => B.lo + (rnd() % 0x1_0000) / 8 * 8,
                    2 => rnd(),
                    _ => a + 8 * (1 + rnd() % 64),
                };
                words.insert(a, v);
            }
            let s = Stack { words, bounds: B };
            let sp = B.lo + (rnd() % 0x1_0000) / 8 * 8;
            let max = (rnd() % 40) as usize;
            let (ras, _) = s.walk(sp, max);
            assert!(ras.len() <= max);
        }
    }

    #[test]
    fn link_addresses_of_a_relocated_image() {
        let base = 0xc000_0000_0000_0000;
        let rt = 0xc000_0000_4800_0000;
        assert_eq!(link_address(rt + 0x1234, rt, base, 0x10_0000), Some(base + 0x1234));
        assert_eq!(link_address(rt - 4, rt, base, 0x10_0000), None);
        assert_eq!(link_address(rt + 0x10_0000, rt, base, 0x10_0000), None);
        assert_eq!(link_address(rt, rt, base, 1), Some(base));
    }
}
