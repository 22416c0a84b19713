//! A store-buffer emulator that follows the Power memory model for the
//! stores of one CPU, so that the weak behaviours Power allows can be shown
//! on a host that practically never produces them (QEMU TCG on an x86 host).
//!
//! A store goes into the CPU's [`StoreBuffer`] instead of memory and is
//! *published* (written to [`Memory`]) later, at the latest by its deadline,
//! earlier where the model forces it:
//!
//! * `sync` ([`Barrier::Sync`]) publishes every pending store, in program
//!   order, before anything after it ([`StoreBuffer::sync`]);
//! * `lwsync` ([`Barrier::Lwsync`]) orders every store pending at that point
//!   before every *later store* of this CPU, but not before later loads
//!   ([`StoreBuffer::lwsync`]): a later buffered store cannot be published
//!   before them, and a store the CPU does directly (a store-conditional,
//!   the end-of-walk release store) publishes them first
//!   ([`StoreBuffer::store_point`]);
//! * with no fence a pending store is ordered before nothing but later
//!   stores to the same address (coherence: same-address stores are
//!   published in program order);
//! * a full buffer publishes its oldest store first (a store queue stalls
//!   until its head drains).
//!
//! The CPU's own loads of an address with a pending store read the youngest
//! pending value ([`StoreBuffer::forward`]). Loads are not modelled here:
//! the code using the buffer performs them in program order, which is
//! stronger than Power (see the crate README for what that cannot show).
//!
//! Publication order is tracked with *epochs*: each store records how many
//! `lwsync`s preceded it, and a store may be published only after every
//! older store with a smaller epoch or the same address. Deadlines are
//! checked at *points* the CPU reports ([`StoreBuffer::load_point`],
//! [`StoreBuffer::store_point`]); the buffer itself never reads a clock.
//!
//! The same type drives [`crate::WalkGuard`] (memory = the registry's
//! real atomics) and the exhaustive litmus explorer of the tests
//! (memory = an array, publication chosen by the explorer through
//! [`StoreBuffer::publishable`] / [`StoreBuffer::publish`]).

use core::fmt;

use crate::Barrier;

/// Where a [`StoreBuffer`] publishes its stores.
pub trait Memory {
    /// A location: an address, or an enum naming the words a CPU stores to.
    type Addr: Copy + Eq;

    /// Makes `value` the value of `addr` for every CPU.
    fn write(&mut self, addr: Self::Addr, value: u64);

    /// Orders every write so far before every later write, as other CPUs see
    /// them. The buffer calls it where an emulated `lwsync` separates two
    /// publications (or a publication from the CPU's own next store), so that
    /// the emulation stays within the model on a weakly ordered host too.
    /// Real memory on Power: `fence(Release)` (`lwsync`); simulated memory:
    /// nothing (the default).
    fn order_writes(&mut self) {}
}

/// One store waiting in a [`StoreBuffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pending<A> {
    /// Where it goes.
    pub addr: A,
    /// What it writes.
    pub value: u64,
    /// Clock tick from which a point publishes it.
    pub deadline: u64,
    /// `lwsync`s this CPU had executed when it stored: it is published only
    /// after every older pending store with a smaller epoch.
    pub epoch: u64,
}

/// The pending stores of one CPU, at most `N`, in program order.
///
/// `Copy`, no allocation: [`crate::WalkGuard`] keeps one in a
/// [`core::cell::Cell`], the litmus explorer clones whole machine states.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreBuffer<A, const N: usize> {
    slots: [Option<Pending<A>>; N],
    len: usize,
    /// `lwsync`s executed so far.
    epoch: u64,
    /// Epoch of the last store published.
    published_epoch: u64,
    /// A store was published since the last [`Memory::order_writes`].
    unordered: bool,
}

impl<A: Copy + Eq, const N: usize> StoreBuffer<A, N> {
    /// An empty buffer. Panics (at compile time in a constant) if `N` is 0.
    pub const fn new() -> Self {
        assert!(N > 0, "a store buffer needs at least one slot");
        StoreBuffer { slots: [None; N], len: 0, epoch: 0, published_epoch: 0, unordered: false }
    }

    /// Stores pending.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no store is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th oldest pending store.
    pub fn get(&self, i: usize) -> Option<Pending<A>> {
        self.slots.get(i).copied().flatten()
    }

    /// The pending stores, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Pending<A>> + '_ {
        self.slots[..self.len].iter().flatten().copied()
    }

    /// `lwsync`s executed so far (the epoch of the next store).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Store forwarding: the youngest pending value for `addr`, which this
    /// CPU's own load of `addr` must return, or `None` (read memory).
    pub fn forward(&self, addr: A) -> Option<u64> {
        self.iter().filter(|p| p.addr == addr).last().map(|p| p.value)
    }

    /// Buffers a store of `value` to `addr`, to be published by tick
    /// `deadline` at the latest. If the buffer is full its oldest store is
    /// published first.
    pub fn store<M: Memory<Addr = A>>(&mut self, mem: &mut M, addr: A, value: u64, deadline: u64) {
        if self.len == N {
            self.publish(mem, 0);
        }
        self.slots[self.len] = Some(Pending { addr, value, deadline, epoch: self.epoch });
        self.len += 1;
    }

    /// `lwsync`: every store pending now is ordered before every later store.
    pub fn lwsync(&mut self) {
        self.epoch += 1;
    }

    /// `sync`: publishes every pending store, in program order. The caller
    /// then issues the real full fence, so the stores are visible before any
    /// later access.
    pub fn sync<M: Memory<Addr = A>>(&mut self, mem: &mut M) {
        self.drain(mem);
    }

    /// Applies `barrier` to the buffer: [`StoreBuffer::sync`],
    /// [`StoreBuffer::lwsync`], or nothing.
    pub fn fence<M: Memory<Addr = A>>(&mut self, mem: &mut M, barrier: Barrier) {
        match barrier {
            Barrier::Sync => self.sync(mem),
            Barrier::Lwsync => self.lwsync(),
            Barrier::NoFence => {}
        }
    }

    /// Publishes every pending store, in program order.
    pub fn drain<M: Memory<Addr = A>>(&mut self, mem: &mut M) {
        while self.len > 0 {
            self.publish(mem, 0);
        }
    }

    /// Whether the `i`-th oldest store may be published now: no older
    /// pending store is to the same address or precedes an `lwsync` that
    /// precedes it.
    pub fn publishable(&self, i: usize) -> bool {
        let Some(p) = self.get(i) else { return false };
        self.slots[..i].iter().flatten().all(|q| q.addr != p.addr && q.epoch == p.epoch)
    }

    /// Publishes the `i`-th oldest store. Panics unless
    /// [`StoreBuffer::publishable`]`(i)`.
    pub fn publish<M: Memory<Addr = A>>(&mut self, mem: &mut M, i: usize) {
        assert!(self.publishable(i), "store {i} is ordered after an older pending store");
        let p = self.slots[i].expect("publishable implies present");
        if p.epoch > self.published_epoch && self.unordered {
            mem.order_writes();
            self.unordered = false;
        }
        mem.write(p.addr, p.value);
        self.published_epoch = p.epoch;
        self.unordered = true;
        self.slots.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.slots[self.len] = None;
    }

    /// A point before one of this CPU's loads (or inside a delay loop):
    /// publishes every store whose deadline is at or before `now`, with the
    /// older stores it is ordered after. Returns how many were published.
    pub fn load_point<M: Memory<Addr = A>>(&mut self, mem: &mut M, now: u64) -> usize {
        let mut published = 0;
        while let Some(i) = self.position(|p| p.deadline <= now) {
            published += self.publish_through(mem, i);
        }
        published
    }

    /// A point before one of this CPU's own stores that does not go through
    /// the buffer (an atomic read-modify-write, a store-conditional): an
    /// earlier `lwsync` orders the stores pending at it before that store,
    /// so they are published (then [`Memory::order_writes`]), and so is
    /// everything past its deadline. Returns how many were published.
    pub fn store_point<M: Memory<Addr = A>>(&mut self, mem: &mut M, now: u64) -> usize {
        let mut published = 0;
        let epoch = self.epoch;
        while let Some(i) = self.position(|p| p.epoch < epoch) {
            published += self.publish_through(mem, i);
        }
        if self.unordered && self.published_epoch < self.epoch {
            mem.order_writes();
            self.unordered = false;
        }
        published + self.load_point(mem, now)
    }

    /// Index of the oldest pending store that satisfies `f`.
    fn position(&self, f: impl Fn(&Pending<A>) -> bool) -> Option<usize> {
        self.iter().position(|p| f(&p))
    }

    /// Publishes the `i`-th store and every older store it is ordered after,
    /// oldest first; returns how many.
    fn publish_through<M: Memory<Addr = A>>(&mut self, mem: &mut M, i: usize) -> usize {
        // Mark i, then walk back: an older store is needed if it precedes a
        // needed store through an lwsync or shares its address.
        let mut needed = [false; N];
        needed[i] = true;
        for j in (0..i).rev() {
            let q = self.slots[j].expect("j < len");
            needed[j] = (j + 1..=i).any(|k| {
                let p = self.slots[k].expect("k < len");
                needed[k] && (q.epoch < p.epoch || q.addr == p.addr)
            });
        }
        let mut published = 0;
        // Publishing shifts the younger stores down by one each time.
        for (j, _) in needed.iter().enumerate().filter(|(_, &n)| n) {
            self.publish(mem, j - published);
            published += 1;
        }
        published
    }
}

impl<A: Copy + Eq, const N: usize> Default for StoreBuffer<A, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Copy + Eq + fmt::Debug, const N: usize> fmt::Debug for StoreBuffer<A, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreBuffer(epoch {}) ", self.epoch)?;
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Memory that logs what the buffer does to it.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Memory for Log {
        type Addr = char;

        fn write(&mut self, addr: char, value: u64) {
            self.0.push(format!("{addr}={value}"));
        }

        fn order_writes(&mut self) {
            self.0.push("lwsync".into());
        }
    }

    type Buffer = StoreBuffer<char, 3>;

    #[test]
    fn loads_forward_the_youngest_pending_value() {
        let (mut b, mut m) = (Buffer::new(), Log::default());
        assert_eq!(b.forward('x'), None);
        b.store(&mut m, 'x', 1, 10);
        b.store(&mut m, 'y', 2, 10);
        b.store(&mut m, 'x', 3, 10);
        assert_eq!((b.forward('x'), b.forward('y'), b.len()), (Some(3), Some(2), 3));
        assert!(m.0.is_empty(), "nothing published yet");
    }

    #[test]
    fn a_full_buffer_publishes_its_oldest_store() {
        let (mut b, mut m) = (Buffer::new(), Log::default());
        for (i, addr) in ['a', 'b', 'c', 'd'].into_iter().enumerate() {
            b.store(&mut m, addr, i as u64, 10);
        }
        assert_eq!(m.0, ["a=0"]);
        assert_eq!(b.iter().map(|p| p.addr).collect::<String>(), "bcd");
    }

    #[test]
    fn same_address_and_lwsync_order_publication() {
        let (mut b, mut m) = (Buffer::new(), Log::default());
        b.store(&mut m, 'x', 1, 10);
        b.store(&mut m, 'y', 1, 10);
        b.store(&mut m, 'x', 2, 10);
        assert!(b.publishable(0) && b.publishable(1), "different addresses, no fence: any order");
        assert!(!b.publishable(2), "second store to x waits for the first");
        assert!(!b.publishable(3));
        let (mut b, mut m) = (Buffer::new(), Log::default());
        b.store(&mut m, 'x', 1, 10);
        b.lwsync();
        b.store(&mut m, 'y', 1, 10);
        assert!(!b.publishable(1), "y is after an lwsync that x is before");
        b.publish(&mut m, 0);
        assert!(b.publishable(0));
    }

    #[test]
    #[should_panic(expected = "ordered after")]
    fn publishing_out_of_order_panics() {
        let (mut b, mut m) = (Buffer::new(), Log::default());
        b.store(&mut m, 'x', 1, 10);
        b.store(&mut m, 'x', 2, 10);
        b.publish(&mut m, 1);
    }

    #[test]
    fn sync_drains_in_program_order() {
        let (mut b, mut m) = (Buffer::new(), Log::default());
        b.store(&mut m, 'x', 1, 10);
        b.lwsync();
        b.store(&mut m, 'y', 2, 10);
        b.store(&mut m, 'z', 3, 10);
        b.fence(&mut m, Barrier::Sync);
        assert!(b.is_empty());
        assert_eq!(m.0, ["x=1", "lwsync", "y=2", "z=3"], "host lwsync only where an emulated one was");
    }

    #[test]
    fn load_point_publishes_expired_stores_and_what_they_are_ordered_after() {
        let (mut b, mut m) = (Buffer::new(), Log::default());
        b.store(&mut m, 'x', 1, 100);
        b.store(&mut m, 'y', 2, 5);
        assert_eq!(b.load_point(&mut m, 4), 0);
        assert_eq!(b.load_point(&mut m, 5), 1, "y expired; x is not ordered before it");
        assert_eq!(m.0, ["y=2"]);
        b.lwsync();
        b.store(&mut m, 'z', 3, 6);
        assert_eq!(b.load_point(&mut m, 6), 2, "z expired and the lwsync orders x before it");
        assert_eq!(m.0, ["y=2", "x=1", "lwsync", "z=3"]);
        assert!(b.is_empty());
    }

    #[test]
    fn store_point_publishes_only_what_an_lwsync_ordered_before_it() {
        let (mut b, mut m) = (Buffer::new(), Log::default());
        b.store(&mut m, 'x', 1, 100);
        assert_eq!(b.store_point(&mut m, 0), 0, "no fence: not ordered before later stores");
        b.lwsync();
        b.store(&mut m, 'y', 2, 100);
        assert_eq!(b.store_point(&mut m, 0), 1);
        assert_eq!(m.0, ["x=1", "lwsync"], "x, then ordered before the caller's own store");
        assert_eq!(b.iter().map(|p| p.addr).collect::<String>(), "y", "y follows the lwsync: stays");
        assert_eq!(b.store_point(&mut m, 100), 1, "expired");
        assert!(b.is_empty());
    }
}
