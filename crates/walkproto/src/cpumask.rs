//! A fixed-size CPU set (`cpumask_t`), indexed by logical CPU number.

use core::fmt;

/// Highest number of CPUs (logical indices `0..MAX_CPUS`) the crate handles.
pub const MAX_CPUS: usize = 256;

const WORD_BITS: usize = 64;
const WORDS: usize = MAX_CPUS / WORD_BITS;

/// A set of logical CPU indices below [`MAX_CPUS`]; `Copy`, no allocation.
///
/// `Display` prints a Linux-style cpulist (`0-3,8`), or `none`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CpuMask {
    words: [u64; WORDS],
}

impl CpuMask {
    /// The empty set.
    pub const EMPTY: CpuMask = CpuMask { words: [0; WORDS] };

    /// The empty set.
    pub const fn new() -> CpuMask {
        CpuMask::EMPTY
    }

    /// CPUs `0..n` (`n` is clamped to [`MAX_CPUS`]).
    pub const fn first(n: usize) -> CpuMask {
        let mut words = [0; WORDS];
        let mut i = 0;
        while i < WORDS {
            let below = n.saturating_sub(i * WORD_BITS);
            words[i] = if below >= WORD_BITS { u64::MAX } else { (1 << below) - 1 };
            i += 1;
        }
        CpuMask { words }
    }

    /// This set plus `cpu`. Panics if `cpu >= MAX_CPUS`.
    pub const fn with(self, cpu: usize) -> CpuMask {
        assert!(cpu < MAX_CPUS, "CPU index out of CpuMask range");
        let mut words = self.words;
        words[cpu / WORD_BITS] |= bit(cpu);
        CpuMask { words }
    }

    /// This set minus `cpu` (no-op for out-of-range indices).
    pub const fn without(self, cpu: usize) -> CpuMask {
        if cpu >= MAX_CPUS {
            return self;
        }
        let mut words = self.words;
        words[cpu / WORD_BITS] &= !bit(cpu);
        CpuMask { words }
    }

    /// Adds `cpu`. Panics if `cpu >= MAX_CPUS`.
    pub fn set(&mut self, cpu: usize) {
        *self = self.with(cpu);
    }

    /// Removes `cpu`.
    pub fn clear(&mut self, cpu: usize) {
        *self = self.without(cpu);
    }

    /// Whether `cpu` is in the set (false for out-of-range indices).
    pub const fn test(&self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.words[cpu / WORD_BITS] & bit(cpu) != 0
    }

    /// Number of CPUs in the set.
    pub const fn count(&self) -> usize {
        let mut total = 0;
        let mut i = 0;
        while i < WORDS {
            total += self.words[i].count_ones() as usize;
            i += 1;
        }
        total
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Intersection.
    pub const fn and(self, other: CpuMask) -> CpuMask {
        self.combine(other, Op::And)
    }

    /// Union.
    pub const fn or(self, other: CpuMask) -> CpuMask {
        self.combine(other, Op::Or)
    }

    /// Difference: CPUs in `self` but not in `other`.
    pub const fn and_not(self, other: CpuMask) -> CpuMask {
        self.combine(other, Op::AndNot)
    }

    /// The CPUs in the set, ascending.
    pub fn iter(&self) -> Iter {
        Iter { words: self.words, word: 0 }
    }

    const fn combine(self, other: CpuMask, op: Op) -> CpuMask {
        let mut words = [0; WORDS];
        let mut i = 0;
        while i < WORDS {
            let (a, b) = (self.words[i], other.words[i]);
            words[i] = match op {
                Op::And => a & b,
                Op::Or => a | b,
                Op::AndNot => a & !b,
            };
            i += 1;
        }
        CpuMask { words }
    }
}

/// A word-wise set operation.
#[derive(Clone, Copy)]
enum Op {
    And,
    Or,
    AndNot,
}

const fn bit(cpu: usize) -> u64 {
    1 << (cpu % WORD_BITS)
}

/// Iterator over a [`CpuMask`], ascending.
#[derive(Clone, Debug)]
pub struct Iter {
    /// Bits not yet returned.
    words: [u64; WORDS],
    /// Index of the word being scanned.
    word: usize,
}

impl Iterator for Iter {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.word < WORDS {
            let bits = self.words[self.word];
            if bits != 0 {
                self.words[self.word] = bits & (bits - 1);
                return Some(self.word * WORD_BITS + bits.trailing_zeros() as usize);
            }
            self.word += 1;
        }
        None
    }
}

impl IntoIterator for CpuMask {
    type Item = usize;
    type IntoIter = Iter;

    fn into_iter(self) -> Iter {
        self.iter()
    }
}

impl FromIterator<usize> for CpuMask {
    /// Collects CPU indices; panics on an index `>= MAX_CPUS`.
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> CpuMask {
        let mut mask = CpuMask::EMPTY;
        for cpu in iter {
            mask.set(cpu);
        }
        mask
    }
}

impl fmt::Display for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        let mut cpus = self.iter().peekable();
        while let Some(start) = cpus.next() {
            let mut end = start;
            while cpus.peek() == Some(&(end + 1)) {
                end += 1;
                cpus.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if end == start {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuMask({self})")
    }
}
