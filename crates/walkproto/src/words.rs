//! The walker's registration words and the one interface through which the
//! walker side of every strategy touches them.
//!
//! [`crate::counter`], the `percpu` flag code and the `rcu` reader code are
//! written once against [`WalkerWords`]. [`Direct`] is the kernel's normal
//! path (the atomics themselves, exactly what the code did before the
//! interface existed); [`crate::weak`] puts a [`crate::storebuf::StoreBuffer`]
//! in front of them; the litmus explorer of the tests maps them onto
//! simulated memory. So the emulated and the explored walker run the same
//! registration code as the real one.

use crate::storebuf::Memory;
use crate::sync::Ordering;
use crate::{Barrier, MmSync, Registry};

/// A word the walker side stores to while registering and unregistering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Word {
    /// `count` family: this CPU's shard of the mm's walker count.
    Count,
    /// `count-atomic`: the mm's one walker count, shared by every CPU. It
    /// is only ever changed by atomic adds ([`WalkerWords::fetch_add`],
    /// [`WalkerWords::fetch_sub_exit`]), never stored: other CPUs change it
    /// too, so a load + store would lose their updates.
    Shared,
    /// `percpu`: this CPU's "walking mm" flag.
    Flag,
    /// `rcu`: this CPU's reader word.
    Reader,
}

impl Word {
    /// Whether the word is changed by atomic adds only (it is shared with
    /// other CPUs): a store buffer holds the *increment* for it, published
    /// as an atomic add ([`crate::storebuf::Memory::write`] adds).
    pub(crate) const fn additive(self) -> bool {
        matches!(self, Word::Shared)
    }
}

/// What the walker-side protocol code may do to its [`Word`]s. Only the
/// walking CPU writes [`Word::Count`], [`Word::Flag`] and [`Word::Reader`],
/// so a read-modify-write of those may be a load and a store;
/// [`Word::Shared`] is changed by atomic adds only.
pub(crate) trait WalkerWords {
    /// This CPU's load of `word` (relaxed).
    fn load(&mut self, word: Word) -> u64;

    /// This CPU's store to `word` (relaxed).
    fn store(&mut self, word: Word, value: u64);

    /// `word += delta` (relaxed, `ldarx/stdcx.` on Power); returns the old
    /// value.
    fn fetch_add(&mut self, word: Word, delta: u64) -> u64 {
        let old = self.load(word);
        self.store(word, old + delta);
        old
    }

    /// The fence `barrier`.
    fn fence(&mut self, barrier: Barrier);

    /// The end-of-walk store to `word`, with `ordering` (`Release`: the
    /// walk's accesses are complete before it is visible).
    fn store_exit(&mut self, word: Word, value: u64, ordering: Ordering);

    /// The end-of-walk `word = f(word)`, with `ordering`.
    fn update_exit(&mut self, word: Word, ordering: Ordering, f: impl Fn(u64) -> u64) {
        let old = self.load(word);
        self.store_exit(word, f(old), ordering);
    }

    /// The end-of-walk `word -= delta` as one atomic read-modify-write with
    /// `ordering` (`count-atomic`'s `atomic_dec`).
    fn fetch_sub_exit(&mut self, word: Word, delta: u64, ordering: Ordering) {
        self.update_exit(word, ordering, |v| v.wrapping_sub(delta));
    }
}

/// The registration words of one walk as the real atomics.
pub(crate) struct Direct<'a, const CPUS: usize, const SLOTS: usize> {
    pub(crate) registry: &'a Registry<CPUS, SLOTS>,
    pub(crate) mm: &'a MmSync,
    pub(crate) cpu: usize,
}

impl<const CPUS: usize, const SLOTS: usize> WalkerWords for Direct<'_, CPUS, SLOTS> {
    #[inline(always)]
    fn load(&mut self, word: Word) -> u64 {
        match word {
            Word::Count => self.mm.shards[self.cpu].load(Ordering::Relaxed) as u64,
            Word::Shared => self.mm.shared.0.load(Ordering::Relaxed) as u64,
            Word::Flag => u64::from(self.registry.cpus[self.cpu].walking.load(Ordering::Relaxed)),
            Word::Reader => self.registry.cpus[self.cpu].reader.load(Ordering::Relaxed),
        }
    }

    #[inline(always)]
    fn store(&mut self, word: Word, value: u64) {
        self.store_exit(word, value, Ordering::Relaxed);
    }

    /// A real atomic RMW for the reader word (as before the interface) and
    /// for the shared count (`ldarx/stdcx.`; a locked instruction on x86).
    #[inline(always)]
    fn fetch_add(&mut self, word: Word, delta: u64) -> u64 {
        match word {
            Word::Reader => self.registry.cpus[self.cpu].reader.fetch_add(delta, Ordering::Relaxed),
            Word::Shared => self.mm.shared.0.fetch_add(delta as usize, Ordering::Relaxed) as u64,
            _ => {
                let old = self.load(word);
                self.store(word, old + delta);
                old
            }
        }
    }

    #[inline(always)]
    fn fence(&mut self, barrier: Barrier) {
        barrier.fence();
    }

    #[inline(always)]
    fn store_exit(&mut self, word: Word, value: u64, ordering: Ordering) {
        match word {
            Word::Count => self.mm.shards[self.cpu].store(value as usize, ordering),
            // The shared count is only added to; a store would drop a
            // decrement and leave the count positive for ever.
            Word::Shared => unreachable!("a store to the shared walker count"),
            Word::Flag => self.registry.cpus[self.cpu].walking.store(value as u32, ordering),
            Word::Reader => self.registry.cpus[self.cpu].reader.store(value, ordering),
        }
    }

    /// A real atomic RMW for the reader word (as before the interface).
    #[inline(always)]
    fn update_exit(&mut self, word: Word, ordering: Ordering, f: impl Fn(u64) -> u64) {
        if word == Word::Reader {
            // The closure always returns Some, so this cannot fail.
            let reader = &self.registry.cpus[self.cpu].reader;
            let _ = reader.fetch_update(ordering, Ordering::Relaxed, |w| Some(f(w)));
        } else {
            let old = self.load(word);
            self.store_exit(word, f(old), ordering);
        }
    }

    /// A real atomic decrement for the shared count.
    #[inline(always)]
    fn fetch_sub_exit(&mut self, word: Word, delta: u64, ordering: Ordering) {
        if word == Word::Shared {
            self.mm.shared.0.fetch_sub(delta as usize, ordering);
        } else {
            self.update_exit(word, ordering, |v| v.wrapping_sub(delta));
        }
    }
}

/// The real atomics as the memory a store buffer publishes to. A buffered
/// store to an [additive](Word::additive) word is an increment, published
/// as an atomic add: the read-modify-write happens at publication, so no
/// other CPU's update of the shared count is lost (see `weak.rs`).
impl<const CPUS: usize, const SLOTS: usize> Memory for Direct<'_, CPUS, SLOTS> {
    type Addr = Word;

    fn write(&mut self, addr: Word, value: u64) {
        if addr.additive() {
            self.fetch_add(addr, value);
        } else {
            self.store(addr, value);
        }
    }

    fn order_writes(&mut self) {
        crate::sync::fence(Ordering::Release);
    }
}
