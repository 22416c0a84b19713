//! Exhaustive litmus explorer built on [`StoreBuffer`], the type the
//! weak-memory emulation of [`crate::WalkGuard`] uses.
//!
//! Two simulated CPUs share a small memory. Each runs a straight-line
//! program; its stores go into its own `StoreBuffer`, its loads read its own
//! pending stores first (forwarding), then memory. From every state the
//! explorer tries each possible next event: either CPU executes its next
//! instruction, or either CPU publishes any store its buffer allows to be
//! published now ([`StoreBuffer::publishable`]: not behind an older store to
//! the same address, nor behind an `lwsync`). Deadlines play no part: every
//! publication time is explored. It collects every reachable final state
//! (both programs done, both buffers drained).
//!
//! The walker side of the registry handshake is the crate's real code, as
//! a walk with the emulation on runs it: [`crate::walk::enter`] /
//! [`crate::walk::leave`] (and through them `counter`, the `percpu` flag
//! and the `rcu` reader code) on the guard's [`Buffered`] words, whose
//! "direct" words are [`SimDirect`] (the simulated memory) instead of the
//! atomics, with deadlines that never expire.
//!
//! Each test states the Power verdict (herd `ppc.cat` / Sarkar et al.) and
//! asserts that an outcome Power forbids is unreachable and one it allows
//! is reached, except the rows marked as the emulator's documented limits
//! (it never reorders loads, so shapes that need load→load or load→store
//! reordering are forbidden here although Power allows them).

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use crate::storebuf::{Memory, StoreBuffer};
use crate::sync::Ordering;
use crate::walk::{enter, leave, Token};
use crate::weak::{Buffered, Timing, WordMemory};
use crate::words::{WalkerWords, Word};
use crate::{Barrier, Counter, Strategy};

/// Simulated locations.
const LOCS: usize = 6;
/// Registers per CPU.
const REGS: usize = 2;
/// Pending stores per CPU (more than any program here stores).
const BUFFER: usize = 4;
/// A register never loaded.
const UNREAD: u64 = u64::MAX;
/// Stores never expire: the explorer chooses every publication time.
const NEVER: u64 = u64::MAX;

// Plain litmus locations.
const X: usize = 0;
const Y: usize = 1;

// Registry handshake locations and values.
const PMD: usize = 0;
const TABLE: usize = 1;
const COUNT: usize = 2;
const FLAG: usize = 3;
const READER: usize = 4;
/// `count-atomic`'s shared count: additive (a published store adds).
const SHARED: usize = 5;
const OLD: u64 = 1;
const NEW: u64 = 2;
const VALID: u64 = 0x600d;
const POISON: u64 = 0xdead;
const MM_ID: u32 = 7;

/// One instruction of a litmus program.
#[derive(Clone, Copy)]
enum Op {
    /// `[addr] = value`.
    St(usize, u64),
    /// `r = [addr]`.
    Ld(usize, usize),
    /// A fence.
    Fence(Barrier),
    /// The crate's walker-side registration for the strategy.
    Enter(Strategy),
    /// The crate's counter registration with an explicit counter and fence
    /// (the shared count with `lwsync` or none is no strategy of its own).
    EnterCounter(Counter, Barrier),
    /// The crate's walker-side end of walk.
    Leave,
    /// The guard's `store_point()`, then `[addr] = value` done directly (not
    /// buffered), like the kernel's page-reference `compare_exchange`.
    StoreAfterPoint(usize, u64),
    /// `if r[cond] == eq { r[dst] = [addr] }`.
    LdIf { cond: usize, eq: u64, addr: usize, dst: usize },
    /// `if when(r[cond]) { [addr] = value }`.
    StIf { cond: usize, when: fn(u64) -> bool, addr: usize, value: u64 },
}

/// Shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Sim([u64; LOCS]);

/// A write to [`SHARED`] is an atomic add (the buffer holds increments for
/// it, as the guard's buffer does for the real shared count).
fn write_loc(mem: &mut [u64; LOCS], addr: usize, value: u64) {
    if addr == SHARED {
        mem[addr] = mem[addr].wrapping_add(value);
    } else {
        mem[addr] = value;
    }
}

impl Memory for Sim {
    type Addr = usize;

    fn write(&mut self, addr: usize, value: u64) {
        write_loc(&mut self.0, addr, value);
    }
}

/// One simulated CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Cpu {
    pc: usize,
    regs: [u64; REGS],
    buffer: StoreBuffer<usize, BUFFER>,
    token: Option<Token>,
}

impl Cpu {
    /// Store forwarding; for [`SHARED`] (an additive word) memory's value
    /// plus this CPU's pending increments, as the kernel's buffer reads it.
    fn load(&self, mem: &Sim, addr: usize) -> u64 {
        if addr == SHARED {
            let pending = self.buffer.iter().filter(|p| p.addr == addr).fold(0u64, |s, p| s.wrapping_add(p.value));
            return mem.0[addr].wrapping_add(pending);
        }
        self.buffer.forward(addr).unwrap_or(mem.0[addr])
    }
}

/// Both CPUs and memory: the explored state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Machine {
    mem: Sim,
    cpus: [Cpu; 2],
}

/// The walker's words as simulated memory: what [`crate::words::Direct`]
/// is for the real atomics.
struct SimDirect<'m> {
    mem: &'m mut Sim,
}

fn location(word: Word) -> usize {
    match word {
        Word::Count => COUNT,
        Word::Shared => SHARED,
        Word::Flag => FLAG,
        Word::Reader => READER,
    }
}

impl WalkerWords for SimDirect<'_> {
    fn load(&mut self, word: Word) -> u64 {
        self.mem.0[location(word)]
    }

    fn store(&mut self, word: Word, value: u64) {
        self.mem.0[location(word)] = value;
    }

    /// Nothing: the buffer in front of it does the fence's work.
    fn fence(&mut self, _: Barrier) {}

    fn store_exit(&mut self, word: Word, value: u64, _: Ordering) {
        self.store(word, value);
    }

    /// One step of the explorer: atomic.
    fn fetch_add(&mut self, word: Word, delta: u64) -> u64 {
        let old = self.load(word);
        self.mem.0[location(word)] = old.wrapping_add(delta);
        old
    }
}

impl Memory for SimDirect<'_> {
    type Addr = usize;

    fn write(&mut self, addr: usize, value: u64) {
        write_loc(&mut self.mem.0, addr, value);
    }
}

impl WordMemory for SimDirect<'_> {
    fn address(&self, word: Word) -> usize {
        location(word)
    }
}

/// Deadlines never expire: the explorer chooses every publication time.
struct Untimed;

impl Timing for Untimed {
    fn now(&self) -> u64 {
        0
    }

    fn deadline(&self) -> u64 {
        NEVER
    }
}

/// Runs `f` on CPU `cpu`'s words as a guard with the emulation on would.
fn with_walker<R>(
    cpu: &mut Cpu,
    mem: &mut Sim,
    f: impl FnOnce(&mut Buffered<'_, SimDirect<'_>, Untimed, BUFFER>) -> R,
) -> R {
    let buffer = Cell::new(cpu.buffer);
    let result = f(&mut Buffered { direct: SimDirect { mem }, buffer: &buffer, timing: Untimed });
    cpu.buffer = buffer.get();
    result
}

/// A final state: both CPUs' registers and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Outcome {
    regs: [[u64; REGS]; 2],
    mem: [u64; LOCS],
}

/// What an exploration found.
struct Explored {
    outcomes: HashSet<Outcome>,
    states: usize,
}

impl Explored {
    fn reaches(&self, f: impl Fn(&Outcome) -> bool) -> bool {
        self.outcomes.iter().any(f)
    }
}

impl fmt::Debug for Explored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut outcomes: Vec<_> = self.outcomes.iter().collect();
        outcomes.sort_by_key(|o| (o.regs, o.mem));
        write!(f, "{} states, outcomes: {outcomes:?}", self.states)
    }
}

/// Executes CPU `c`'s next instruction.
fn step(m: &mut Machine, c: usize, op: Op) {
    let Machine { mem, cpus } = m;
    let cpu = &mut cpus[c];
    cpu.pc += 1;
    match op {
        Op::St(addr, value) => cpu.buffer.store(mem, addr, value, NEVER),
        Op::Ld(addr, r) => cpu.regs[r] = cpu.load(mem, addr),
        Op::Fence(barrier) => cpu.buffer.fence(mem, barrier),
        Op::Enter(strategy) => {
            let token = with_walker(cpu, mem, |walker| enter(strategy, walker, MM_ID));
            cpu.token = Some(token);
        }
        Op::EnterCounter(c, barrier) => {
            with_walker(cpu, mem, |walker| crate::counter::enter(walker, c, barrier));
            cpu.token = Some(Token::Counted(c, barrier));
        }
        Op::Leave => {
            let token = cpu.token.take().expect("Leave after Enter");
            with_walker(cpu, mem, |walker| leave(token, walker));
        }
        Op::StoreAfterPoint(addr, value) => {
            with_walker(cpu, mem, |walker| walker.store_point());
            mem.write(addr, value);
        }
        Op::LdIf { cond, eq, addr, dst } => {
            if cpu.regs[cond] == eq {
                cpu.regs[dst] = cpu.load(mem, addr);
            }
        }
        Op::StIf { cond, when, addr, value } => {
            if when(cpu.regs[cond]) {
                cpu.buffer.store(mem, addr, value, NEVER);
            }
        }
    }
}

/// Every final state of `programs` run from memory `init`.
fn explore(programs: [&[Op]; 2], init: [u64; LOCS]) -> Explored {
    let cpu = Cpu { pc: 0, regs: [UNREAD; REGS], buffer: StoreBuffer::new(), token: None };
    let start = Machine { mem: Sim(init), cpus: [cpu; 2] };
    let mut seen = HashSet::new();
    let mut stack = vec![start];
    let mut outcomes = HashSet::new();
    while let Some(m) = stack.pop() {
        if !seen.insert(m) {
            continue;
        }
        let mut moved = false;
        for (c, program) in programs.iter().enumerate() {
            if let Some(&op) = program.get(m.cpus[c].pc) {
                let mut next = m;
                step(&mut next, c, op);
                stack.push(next);
                moved = true;
            }
            for i in (0..m.cpus[c].buffer.len()).filter(|&i| m.cpus[c].buffer.publishable(i)) {
                let mut next = m;
                next.cpus[c].buffer.publish(&mut next.mem, i);
                stack.push(next);
                moved = true;
            }
        }
        if !moved {
            outcomes.insert(Outcome { regs: [m.cpus[0].regs, m.cpus[1].regs], mem: m.mem.0 });
        }
    }
    Explored { outcomes, states: seen.len() }
}

/// Whether the Power model allows an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Power {
    Allowed,
    Forbidden,
}

/// Asserts the emulator's verdict on `outcome` equals Power's.
fn assert_power(name: &str, explored: &Explored, outcome: impl Fn(&Outcome) -> bool, power: Power) {
    let reached = explored.reaches(outcome);
    match power {
        Power::Allowed => {
            assert!(reached, "{name}: Power allows it, the emulator never reaches it: {explored:?}")
        }
        Power::Forbidden => {
            assert!(!reached, "{name}: Power forbids it, the emulator reaches it: {explored:?}")
        }
    }
    println!("{name}: {power:?} on Power, {} by the emulator ({} states)", verdict(reached), explored.states);
}

fn verdict(reached: bool) -> &'static str {
    if reached {
        "reached"
    } else {
        "unreachable"
    }
}

const FENCES: [Barrier; 3] = [Barrier::Sync, Barrier::Lwsync, Barrier::NoFence];

// ---- SB: store buffering ----

fn sb(f0: Barrier, f1: Barrier) -> Explored {
    let p0 = [Op::St(X, 1), Op::Fence(f0), Op::Ld(Y, 0)];
    let p1 = [Op::St(Y, 1), Op::Fence(f1), Op::Ld(X, 0)];
    explore([&p0, &p1], [0; LOCS])
}

/// SB: `x=1; F; r=y ‖ y=1; F; r=x`, both r = 0 only without `sync` on both
/// sides (SB+syncs forbidden; SB+lwsyncs, SB, SB+sync+lwsync allowed).
#[test]
fn sb_both_miss_only_without_sync_on_both_sides() {
    for f0 in FENCES {
        for f1 in FENCES {
            let power =
                if f0 == Barrier::Sync && f1 == Barrier::Sync { Power::Forbidden } else { Power::Allowed };
            let explored = sb(f0, f1);
            let both_miss = |o: &Outcome| o.regs[0][0] == 0 && o.regs[1][0] == 0;
            assert_power(&format!("SB {f0:?}/{f1:?}"), &explored, both_miss, power);
            // The other three combinations are always reachable.
            for (a, b) in [(0, 1), (1, 0), (1, 1)] {
                assert!(explored.reaches(|o| o.regs[0][0] == a && o.regs[1][0] == b), "SB {f0:?}/{f1:?}");
            }
        }
    }
}

// ---- MP: message passing ----

fn mp(writer: Barrier, reader: Barrier) -> Explored {
    let p0 = [Op::St(X, 1), Op::Fence(writer), Op::St(Y, 1)];
    let p1 = [Op::Ld(Y, 0), Op::Fence(reader), Op::Ld(X, 1)];
    explore([&p0, &p1], [0; LOCS])
}

fn mp_stale(o: &Outcome) -> bool {
    o.regs[1] == [1, 0]
}

/// MP: `x=1; F; y=1 ‖ r1=y; lwsync; r2=x`, r1=1 ∧ r2=0 forbidden with
/// `sync` or `lwsync` in the writer (MP+lwsyncs, MP+sync+lwsync), allowed
/// with none.
#[test]
fn mp_stale_read_only_without_writer_fence() {
    for (writer, power) in [
        (Barrier::Sync, Power::Forbidden),
        (Barrier::Lwsync, Power::Forbidden),
        (Barrier::NoFence, Power::Allowed),
    ] {
        assert_power(&format!("MP {writer:?}/Lwsync"), &mp(writer, Barrier::Lwsync), mp_stale, power);
    }
}

/// A documented limit: Power also allows MP's stale read when only the
/// *reader* lacks a fence (its two loads may be satisfied out of order);
/// the emulator performs loads in program order and cannot show it.
#[test]
fn mp_with_unfenced_reader_is_beyond_the_emulator() {
    for writer in [Barrier::Sync, Barrier::Lwsync] {
        let explored = mp(writer, Barrier::NoFence);
        assert!(!explored.reaches(mp_stale), "MP {writer:?}/NoFence: {explored:?}");
        println!("MP {writer:?}/NoFence: Allowed on Power, unreachable by the emulator (loads in order)");
    }
}

/// A documented limit: LB (`r1=x; y=1 ‖ r2=y; x=1`, r1=r2=1) is allowed on
/// Power without dependencies or fences, but needs a store to be visible
/// before an earlier load, which a store buffer never does.
#[test]
fn lb_is_beyond_the_emulator() {
    let p0 = [Op::Ld(X, 0), Op::St(Y, 1)];
    let p1 = [Op::Ld(Y, 0), Op::St(X, 1)];
    let explored = explore([&p0, &p1], [0; LOCS]);
    assert!(!explored.reaches(|o| o.regs[0][0] == 1 && o.regs[1][0] == 1), "{explored:?}");
    assert!(explored.reaches(|o| o.regs[0][0] == 0 && o.regs[1][0] == 0));
    println!("LB: Allowed on Power, unreachable by the emulator (loads never wait for later stores)");
}

/// Coherence: two stores to one address are published in program order,
/// so an observer that sees the second never sees the first afterwards
/// (CoWR / CoRR-style, forbidden on Power whatever the fences).
#[test]
fn same_address_stores_publish_in_order() {
    let p0 = [Op::St(X, 1), Op::St(X, 2)];
    let p1 = [Op::Ld(X, 0), Op::Fence(Barrier::Lwsync), Op::Ld(X, 1)];
    let explored = explore([&p0, &p1], [0; LOCS]);
    assert_power("CoRR", &explored, |o| o.regs[1] == [2, 1], Power::Forbidden);
    assert!(explored.reaches(|o| o.regs[1] == [1, 2]));
    assert!(explored.outcomes.iter().all(|o| o.mem[X] == 2), "final value is the last store");
    // The writer reads its own pending store (forwarding).
    let p0 = [Op::St(X, 5), Op::Ld(X, 0)];
    let explored = explore([&p0, &[]], [0; LOCS]);
    assert!(explored.outcomes.iter().all(|o| o.regs[0][0] == 5), "{explored:?}");
}

// ---- the registry handshake, through the crate's walker code ----

/// Walker: `begin_walk(strategy)` (real code, stores through the buffer);
/// `r0 = PMD`; if old, `r1 = *old table`; end of walk (real code).
fn walker(strategy: Strategy) -> [Op; 4] {
    [Op::Enter(strategy), Op::Ld(PMD, 0), Op::LdIf { cond: 0, eq: OLD, addr: TABLE, dst: 1 }, Op::Leave]
}

/// Changer: `PMD = new; F; r0 = word; if nobody registered: free the old
/// table` (otherwise it would wait: IPI, spin, grace period).
fn changer(strategy: Strategy) -> [Op; 4] {
    let (fence, word, free): (Barrier, usize, fn(u64) -> bool) = match strategy {
        Strategy::PerCpu => (Barrier::Sync, FLAG, |flag| flag != u64::from(MM_ID)),
        Strategy::Rcu => (Barrier::Sync, READER, |word| crate::rcu::depth(word) == 0),
        Strategy::None => (Barrier::NoFence, COUNT, |_| true),
        Strategy::CountAtomic => (Barrier::Sync, SHARED, |count| count == 0),
        s => (s.counter_barrier().expect("a counting strategy"), COUNT, |count| count == 0),
    };
    [
        Op::St(PMD, NEW),
        Op::Fence(fence),
        Op::Ld(word, 0),
        Op::StIf { cond: 0, when: free, addr: TABLE, value: POISON },
    ]
}

fn handshake(walker_strategy: Strategy, changer_strategy: Strategy) -> Explored {
    let mut init = [0; LOCS];
    init[PMD] = OLD;
    init[TABLE] = VALID;
    explore([&changer(changer_strategy), &walker(walker_strategy)], init)
}

/// The walker read the old table after the changer freed it.
fn freed_read(o: &Outcome) -> bool {
    o.regs[1][1] == POISON
}

/// Registry handshake (SB with the registration word): the freed read is
/// forbidden with `sync` on both sides (`count`, `count-wait`, `percpu`,
/// `rcu`), allowed otherwise, and for the correct strategies the race is
/// real: the walker reads the old table and the new PMD, the changer both
/// frees at once and holds back.
#[test]
fn registry_handshake_matches_power() {
    for strategy in Strategy::ALL.into_iter().filter(|&s| s.walker_stores() || s == Strategy::None) {
        let power = if strategy.is_negative_control() { Power::Allowed } else { Power::Forbidden };
        let explored = handshake(strategy, strategy);
        assert_power(&format!("registry handshake {strategy}"), &explored, freed_read, power);
        assert!(
            explored.reaches(|o| o.regs[1][1] == VALID),
            "{strategy}: old table never read: {explored:?}"
        );
        assert!(explored.reaches(|o| o.regs[1][0] == NEW), "{strategy}: new PMD never read");
        assert!(explored.reaches(|o| o.mem[TABLE] == POISON), "{strategy}: changer never freed");
        if strategy != Strategy::None {
            assert!(explored.reaches(|o| o.mem[TABLE] == VALID), "{strategy}: changer never held back");
        }
        // The walk always ends unregistered.
        let registered = |o: &Outcome| {
            o.mem[COUNT] != 0
                || o.mem[SHARED] != 0
                || o.mem[FLAG] != 0
                || crate::rcu::depth(o.mem[READER]) != 0
        };
        assert!(!explored.reaches(registered), "{strategy}: registration left behind");
    }
}

/// Hubbard's "the barrier is required in all cases": a `sync` in the changer
/// alone does not save a walker that registers with `lwsync` or no fence.
#[test]
fn registry_handshake_needs_the_walkers_sync() {
    for walker in [Strategy::CountLwsync, Strategy::CountNoBarrier] {
        let explored = handshake(walker, Strategy::Count);
        assert_power(
            &format!("registry handshake walker {walker} / changer count"),
            &explored,
            freed_read,
            Power::Allowed,
        );
    }
    let explored = handshake(Strategy::Count, Strategy::CountLwsync);
    assert_power(
        "registry handshake walker count / changer count-lwsync",
        &explored,
        freed_read,
        Power::Allowed,
    );
}

/// The `lwsync` of `count-lwsync` does order the increment before the
/// walker's later stores: a store the walker makes after registering (its
/// page-reference RMW) is never visible while the increment is not, which a
/// changer that reads the reference and then the count observes. Checked
/// for a buffered later store (the model) and for the guard's
/// `store_point()` followed by a direct store (what the kernel does). (The
/// walk does not end here: its exit would legitimately lower the count.)
#[test]
fn lwsync_orders_the_increment_before_later_walker_stores() {
    const REF: usize = X;
    for (strategy, power) in
        [(Strategy::CountLwsync, Power::Forbidden), (Strategy::CountNoBarrier, Power::Allowed)]
    {
        for later_store in [Op::St(REF, 1), Op::StoreAfterPoint(REF, 1)] {
            let walker = [Op::Enter(strategy), later_store];
            let observer = [Op::Ld(REF, 0), Op::Fence(Barrier::Lwsync), Op::Ld(COUNT, 1)];
            let explored = explore([&observer, &walker], [0; LOCS]);
            let reference_without_count = |o: &Outcome| o.regs[0] == [1, 0];
            let how = if matches!(later_store, Op::St(..)) { "buffered" } else { "store_point + direct" };
            assert_power(
                &format!("MP increment→reference ({how}) {strategy}"),
                &explored,
                reference_without_count,
                power,
            );
        }
    }
}

/// However late, a registration store is published by the end of the walk
/// (the exit drains the buffer before its own store): a changer polling the
/// count can see every walker's increment, and the count ends at zero.
#[test]
fn every_registration_store_is_published_by_the_end_of_the_walk() {
    for strategy in [Strategy::CountLwsync, Strategy::CountNoBarrier, Strategy::Count] {
        let walker = [Op::Enter(strategy), Op::Leave];
        let observer = [Op::Ld(COUNT, 0)];
        let explored = explore([&observer, &walker], [0; LOCS]);
        assert!(explored.reaches(|o| o.regs[0][0] == 1), "{strategy}: increment never visible: {explored:?}");
        assert!(explored.reaches(|o| o.regs[0][0] == 0), "{strategy}");
        assert!(explored.outcomes.iter().all(|o| o.mem[COUNT] == 0), "{strategy}: {explored:?}");
    }
}

// ---- count-atomic: the shared count's read-modify-write in the buffer ----

/// The shared count's increment is buffered like every other registration
/// store: with `sync` after it the freed read is forbidden, with `lwsync`
/// or no fence it is reached (SB+lwsyncs / SB, allowed on Power), against
/// a changer that reads the shared count after its own `sync`. So the
/// fence is what separates them, as for the sharded count; on QEMU's x86
/// host without the emulation the locked add alone would hide it.
#[test]
fn shared_count_increment_is_buffered_like_the_other_registration_stores() {
    let changer = changer(Strategy::CountAtomic);
    for (barrier, power) in [
        (Barrier::Sync, Power::Forbidden),
        (Barrier::Lwsync, Power::Allowed),
        (Barrier::NoFence, Power::Allowed),
    ] {
        let walker = [
            Op::EnterCounter(Counter::Shared, barrier),
            Op::Ld(PMD, 0),
            Op::LdIf { cond: 0, eq: OLD, addr: TABLE, dst: 1 },
            Op::Leave,
        ];
        let mut init = [0; LOCS];
        init[PMD] = OLD;
        init[TABLE] = VALID;
        let explored = explore([&changer, &walker], init);
        assert_power(
            &format!("shared count, walker {barrier:?} / changer Sync"),
            &explored,
            freed_read,
            power,
        );
        assert!(explored.outcomes.iter().all(|o| o.mem[SHARED] == 0), "{barrier:?}: count left behind");
    }
}

/// Two walkers' buffered increments of the one shared count are both
/// counted whatever the publication order (the add happens at
/// publication, never a late value over another CPU's update), and an
/// observer of the count between them sees 0, 1 or 2 and never less.
#[test]
fn buffered_shared_increments_lose_no_update() {
    for barrier in FENCES {
        let walker = [Op::EnterCounter(Counter::Shared, barrier), Op::Ld(SHARED, 0)];
        let explored = explore([&walker, &walker], [0; LOCS]);
        assert!(explored.outcomes.iter().all(|o| o.mem[SHARED] == 2), "{barrier:?}: {explored:?}");
        // Each walker reads at least its own increment (forwarding).
        assert!(explored.outcomes.iter().all(|o| o.regs[0][0] >= 1 && o.regs[1][0] >= 1), "{barrier:?}");
        assert!(explored.reaches(|o| o.regs[0][0] == 2 || o.regs[1][0] == 2), "{barrier:?}");
        let walker = [Op::EnterCounter(Counter::Shared, barrier), Op::Leave];
        let explored = explore([&walker, &walker], [0; LOCS]);
        assert!(explored.outcomes.iter().all(|o| o.mem[SHARED] == 0), "{barrier:?}: {explored:?}");
    }
}

/// A CPU's load of the shared count is memory plus its own pending
/// increments (what the kernel's buffer returns), not the pending
/// increment alone: with another walker's increment already published and
/// its own still buffered, it reads 2.
#[test]
fn shared_count_load_adds_pending_increments_to_memory() {
    let mut mem = Sim([0; LOCS]);
    let mut cpu = Cpu { pc: 0, regs: [UNREAD; REGS], buffer: StoreBuffer::new(), token: None };
    cpu.buffer.store(&mut mem, SHARED, 1, u64::MAX);
    assert_eq!(cpu.load(&mem, SHARED), 1, "own pending increment, nothing published");
    write_loc(&mut mem.0, SHARED, 1);
    assert_eq!(cpu.load(&mem, SHARED), 2, "another walker's published increment plus its own pending one");
    cpu.buffer.store(&mut mem, SHARED, 1, u64::MAX);
    assert_eq!(cpu.load(&mem, SHARED), 3, "two pending increments");
}
