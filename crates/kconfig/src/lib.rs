//! The kernel's boot configuration.
//!
//! [`SCHEMA`] declares every boot argument once: key, kind, default, help.
//! [`parse`] validates a command line against it and builds a typed
//! [`Config`] with one section per concern; the kernel parses once at boot
//! and hands each module its section. Nothing outside this crate spells a
//! key.
//!
//! No allocation: the kernel parses its command line before its heap exists
//! (the heap's size and the memory minimum come from here).
//!
//! A key read by [`Config`]'s builder but missing from the schema panics
//! (`bootargs::Args::value`), and the host tests read every key, so such a
//! typo fails `cargo test -p kconfig` instead of silently giving a default.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate alloc;

use core::fmt;

use bootargs::{Args, KeySpec, Kind, Value};
pub use walkproto::Strategy;

/// What the kernel does after booting (`run=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Boot, report, power off.
    Boot,
    /// The in-kernel test suite.
    Test,
    /// The stress run of `walk.strategy`.
    Stress,
    /// The benchmark matrix.
    Bench,
    /// The main job: a short stress of the correct strategies.
    Main,
}

/// Failure injections that prove the failure paths (`ktest.inject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inject {
    /// No injection.
    None,
    /// A test that fails.
    Fail,
    /// A test that never returns.
    Hang,
    /// An illegal instruction.
    Exception,
    /// An IPI a CPU with EE=0 never acknowledges.
    IpiTimeout,
    /// A CPU spinning with EE=0 and no progress marks.
    Stall,
}

/// How the run ends (`exit=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitMode {
    /// Power off on success, checkstop on failure (QEMU exits 0 / 1).
    Qemu,
    /// Reboot either way (back to petitboot on a POWER9).
    Reboot,
    /// Stop either way.
    Halt,
}

/// How TLB flushes reach other CPUs (`mmu.flush=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushMode {
    /// Broadcast `tlbie`.
    Tlbie,
    /// IPI to `mm_cpumask` + local `tlbiel` (Linux with tlbie disabled).
    Ipi,
}

/// A deliberate flush bug (`mmu.flush_bug=`): a negative control that the
/// POWER9 TLB/page-walk-cache model must catch at the first free it makes
/// unsafe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushBug {
    /// No bug.
    None,
    /// Zap of a split slot flushes one page at the huge size (the old bug).
    SplitHuge,
    /// Unlinking a page-table page flushes no page-walk cache.
    NoPwc,
    /// Unlinking a page-table page flushes by VA (TLB only) instead of the walk cache.
    VaForDir,
    /// By-VA flushes carry the AP code of another page size.
    WrongAp,
    /// Flushes name the wrong PID.
    WrongPid,
    /// A page-table page is freed before its flush.
    FreeBeforeFlush,
}

impl FlushBug {
    /// Every value, as accepted by `mmu.flush_bug=`.
    pub const ALL: [FlushBug; 7] = [
        FlushBug::None,
        FlushBug::SplitHuge,
        FlushBug::NoPwc,
        FlushBug::VaForDir,
        FlushBug::WrongAp,
        FlushBug::WrongPid,
        FlushBug::FreeBeforeFlush,
    ];

    /// Name in bootargs and reports.
    pub const fn name(self) -> &'static str {
        FLUSH_BUGS[self as usize]
    }
}

const FLUSH_BUGS: &[&str] = &["none", "split-huge", "no-pwc", "va-for-dir", "wrong-ap", "wrong-pid", "free-before-flush"];

/// A deliberate changer or walker bug (`walk.bug=`): a negative control that
/// one kind of the detector must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkBug {
    /// No bug.
    None,
    /// Changers skip TLB flushes (the MMU walker reads a freed page).
    NoFlush,
    /// gup re-checks the PTE but not the PMD (Linux before 70cbc3cc78a9).
    NoPmdRecheck,
    /// A new leaf is written as two halves, the walker may read it torn.
    TornWrite,
    /// Unmapping a folio poisons it even while references pin it.
    FreePinned,
    /// A page-table page is poisoned while the slot still links it.
    PoisonLinked,
}

impl WalkBug {
    /// Every value, as accepted by `walk.bug=`.
    pub const ALL: [WalkBug; 6] = [
        WalkBug::None,
        WalkBug::NoFlush,
        WalkBug::NoPmdRecheck,
        WalkBug::TornWrite,
        WalkBug::FreePinned,
        WalkBug::PoisonLinked,
    ];

    /// Name in bootargs and reports.
    pub const fn name(self) -> &'static str {
        WALK_BUGS[self as usize]
    }
}

const WALK_BUGS: &[&str] = &["none", "noflush", "no-pmd-recheck", "torn-write", "free-pinned", "poison-linked"];

/// A deliberate walker bug (`walk.trap=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkTrap {
    /// None.
    None,
    /// EE re-enabled inside the walk.
    EeWindow,
}

/// Changer operations of the stress (`stress.mix=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StressMix {
    /// The whole THP life cycle plus page-table churn.
    All,
    /// Only linking and freeing empty page-table pages.
    Churn,
    /// Lock-step races instead of the free-running stress.
    Lockstep,
}

/// Walker kinds (`walk.kinds=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkerKind {
    /// gup_fast-like: reference, re-check, data.
    Gup,
    /// find_pte-like: keep the entry pointer, use it later.
    FindPte,
    /// Real mode (IR=DR=0), EE=0.
    RealMode,
    /// Inside an interrupt handler, in real mode.
    Irq,
    /// The MMU itself (loads through the mapping).
    Hw,
    /// gup without `add_unless(0)`: the detector's negative control.
    GupNoRef,
}

impl WalkerKind {
    /// Every kind, as accepted by `walk.kinds=`.
    pub const ALL: [WalkerKind; 6] = [
        WalkerKind::Gup,
        WalkerKind::FindPte,
        WalkerKind::RealMode,
        WalkerKind::Irq,
        WalkerKind::Hw,
        WalkerKind::GupNoRef,
    ];

    /// Name in bootargs and reports.
    pub const fn name(self) -> &'static str {
        match self {
            WalkerKind::Gup => "gup",
            WalkerKind::FindPte => "findpte",
            WalkerKind::RealMode => "realmode",
            WalkerKind::Irq => "irq",
            WalkerKind::Hw => "hw",
            WalkerKind::GupNoRef => "gup-noref",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<WalkerKind> {
        WalkerKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the walk reads tables in software (registers with the strategy).
    pub const fn is_software(self) -> bool {
        !matches!(self, WalkerKind::Hw)
    }

    /// Position in [`WalkerKind::ALL`] (for per-kind counters).
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A list of at most `N` values, in command-line order; no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedList<T: Copy, const N: usize> {
    items: [Option<T>; N],
    len: usize,
}

impl<T: Copy, const N: usize> FixedList<T, N> {
    const fn new() -> Self {
        FixedList { items: [None; N], len: 0 }
    }

    fn push(&mut self, v: T) -> Result<(), ()> {
        if self.len == N {
            return Err(());
        }
        self.items[self.len] = Some(v);
        self.len += 1;
        Ok(())
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th value.
    pub fn get(&self, i: usize) -> Option<T> {
        self.items.get(i).copied().flatten().filter(|_| i < self.len)
    }

    /// Whether `v` is in the list.
    pub fn contains(&self, v: T) -> bool
    where
        T: PartialEq,
    {
        self.iter().any(|x| x == v)
    }
}

impl<T: Copy + fmt::Debug, const N: usize> fmt::Debug for FixedList<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Most entries in `walk.strategy` (after expanding `all` etc.).
pub const MAX_STRATEGIES: usize = 32;
/// Most entries in `walk.kinds`.
pub const MAX_KINDS: usize = 16;
/// `walk.strategy`, expanded.
pub type Strategies = FixedList<Strategy, MAX_STRATEGIES>;
/// `walk.kinds`.
pub type Kinds = FixedList<WalkerKind, MAX_KINDS>;

const RUN_MODES: &[&str] = &["boot", "test", "stress", "bench", "main"];
const INJECTIONS: &[&str] = &["none", "fail", "hang", "exception", "ipi-timeout", "stall"];

/// Every boot argument: key, kind, default, help.
pub static SCHEMA: &[KeySpec] = &[
    KeySpec {
        key: "run",
        kind: Kind::Enum(RUN_MODES),
        default: Some("main"),
        help: "what to run after boot (main = default job)",
    },
    KeySpec { key: "seed", kind: Kind::U64 { min: 0, max: u64::MAX }, default: Some("1"), help: "random seed" },
    KeySpec { key: "ktest.filter", kind: Kind::Str, default: None, help: "run only tests whose name contains this" },
    KeySpec {
        key: "ktest.inject",
        kind: Kind::Enum(INJECTIONS),
        default: Some("none"),
        help: "inject a failure to prove it is caught",
    },
    KeySpec {
        key: "exit",
        kind: Kind::Enum(&["qemu", "reboot", "halt"]),
        default: Some("qemu"),
        help: "how the run ends (reboot/halt on real hardware)",
    },
    KeySpec {
        key: "mem.min_mb",
        kind: Kind::U64 { min: 64, max: 1 << 20 },
        default: Some("256"),
        help: "refuse to run with less usable RAM",
    },
    KeySpec {
        key: "mmu.flush",
        kind: Kind::Enum(&["tlbie", "ipi"]),
        default: Some("tlbie"),
        help: "TLB flush mode",
    },
    KeySpec {
        key: "mmu.p9_errata",
        kind: Kind::Bool,
        default: Some("on"),
        help: "POWER9 tlbie errata fixups",
    },
    KeySpec {
        key: "mmu.model",
        kind: Kind::Bool,
        default: Some("on"),
        help: "check every free against a model of what a POWER9 TLB and walk cache may hold",
    },
    KeySpec {
        key: "mmu.flush_bug",
        kind: Kind::Enum(FLUSH_BUGS),
        default: Some("none"),
        help: "a deliberate flush bug the model must catch (negative control)",
    },
    KeySpec {
        key: "ipi.timeout_ms",
        kind: Kind::U64 { min: 10, max: 600_000 },
        default: Some("5000"),
        help: "IPI acknowledgement timeout",
    },
    KeySpec {
        key: "smp.timeout_ms",
        kind: Kind::U64 { min: 10, max: 600_000 },
        default: Some("5000"),
        help: "secondary bring-up timeout",
    },
    KeySpec {
        key: "cpus.max",
        kind: Kind::U64 { min: 1, max: 256 },
        default: None,
        help: "bring up at most this many CPU threads (default: all)",
    },
    KeySpec {
        key: "watchdog.ms",
        kind: Kind::U64 { min: 0, max: 3_600_000 },
        default: Some("10000"),
        help: "stuck-CPU watchdog (0 = off)",
    },
    KeySpec {
        key: "walk.strategy",
        kind: Kind::Str,
        default: Some("correct"),
        help: "serialization strategies, comma separated (names, correct, controls, all)",
    },
    KeySpec {
        key: "walk.delay_ns",
        kind: Kind::U64 { min: 0, max: 100_000_000 },
        default: Some("2000"),
        help: "delay inside each walk",
    },
    KeySpec {
        key: "walk.gap_ns",
        kind: Kind::U64 { min: 0, max: 100_000_000 },
        default: Some("4000"),
        help: "think time between walks (random, up to this)",
    },
    KeySpec {
        key: "walk.kinds",
        kind: Kind::Str,
        default: Some("gup,findpte,realmode,irq,hw"),
        help: "walker kinds, comma separated",
    },
    KeySpec {
        key: "walk.foreign",
        kind: Kind::U64 { min: 0, max: 255 },
        default: Some("0"),
        help: "walker CPUs that never join the mm",
    },
    KeySpec {
        key: "walk.trap",
        kind: Kind::Enum(&["none", "ee-window"]),
        default: Some("none"),
        help: "deliberate walker bug",
    },
    KeySpec {
        key: "walk.bug",
        kind: Kind::Enum(WALK_BUGS),
        default: Some("none"),
        help: "a deliberate changer/walker bug one detector kind must catch (negative control)",
    },
    KeySpec {
        key: "walk.weakmem",
        kind: Kind::Enum(&["off", "emulate"]),
        default: Some("off"),
        help: "emulate Power's store buffering of walker registration stores",
    },
    KeySpec {
        key: "stress.changers",
        kind: Kind::U64 { min: 1, max: 255 },
        default: Some("1"),
        help: "changer CPUs",
    },
    KeySpec {
        key: "stress.cpus",
        kind: Kind::U64 { min: 2, max: 256 },
        default: None,
        help: "CPUs taking part in the stress (default: all online)",
    },
    KeySpec { key: "stress.nopud", kind: Kind::Bool, default: Some("off"), help: "leave out the 1 GB PUD arena" },
    KeySpec {
        key: "stress.mix",
        kind: Kind::Enum(&["all", "churn", "lockstep"]),
        default: Some("all"),
        help: "changer operations",
    },
    KeySpec {
        key: "stress.duration_s",
        kind: Kind::U64 { min: 1, max: 86_400 },
        default: Some("2"),
        help: "stress duration per strategy",
    },
    KeySpec {
        key: "stress.thps",
        kind: Kind::U64 { min: 1, max: 4096 },
        default: Some("16"),
        help: "2 MB THPs per stress mm",
    },
    KeySpec { key: "bench.quick", kind: Kind::Bool, default: Some("off"), help: "smaller, shorter benchmark" },
    KeySpec {
        key: "bench.thps",
        kind: Kind::U64 { min: 1, max: 4096 },
        default: None,
        help: "THPs per munmap in the benchmark (default: 32 with bench.quick, else 256)",
    },
    KeySpec {
        key: "bench.reps",
        kind: Kind::U64 { min: 1, max: 100 },
        default: None,
        help: "repetitions of every benchmark cell, strategy order rotated each rep \
               (default: 3 with bench.quick, else 5)",
    },
    KeySpec {
        key: "bench.cpus",
        kind: Kind::Str,
        default: None,
        help: "CPU counts of the benchmark matrix, comma list \
               (default: 1,2,4,... below the CPUs online, and that count)",
    },
    KeySpec {
        key: "bench.loads",
        kind: Kind::Str,
        default: Some("idle,walkers,busy"),
        help: "what the other CPUs of a matrix cell do, comma list",
    },
    KeySpec {
        key: "bench.parts",
        kind: Kind::Str,
        default: Some("walker,contention,mmu,matrix"),
        help: "benchmark parts to run, comma list: walker (one-walker cost), \
               contention (1..16 walkers), mmu, matrix",
    },
    KeySpec {
        key: "bench.rounds",
        kind: Kind::U64 { min: 2, max: 100_000 },
        default: None,
        help: "interleaved rounds of the one-walker cost, a quarter of it with 2-16 walkers \
               (default: 12 with bench.quick, else 400)",
    },
    KeySpec {
        key: "reloc.test",
        kind: Kind::U64 { min: 1, max: u64::MAX },
        default: None,
        help: "re-run the image from this physical address",
    },
];

/// `run=`, `seed=`.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// What to run.
    pub mode: RunMode,
    /// Seed of everything random.
    pub seed: u64,
}

/// `ktest.*`.
#[derive(Clone, Copy, Debug)]
pub struct TestCfg<'a> {
    /// Run only tests whose name contains one of these (comma separated).
    pub filter: Option<&'a str>,
    /// Failure injection.
    pub inject: Inject,
}

/// `mem.*`.
#[derive(Clone, Copy, Debug)]
pub struct Mem {
    /// Minimum usable RAM in MiB.
    pub min_mb: u64,
}

/// `mmu.*`.
#[derive(Clone, Copy, Debug)]
pub struct Mmu {
    /// Flush mode.
    pub flush: FlushMode,
    /// POWER9 tlbie errata fixups.
    pub p9_errata: bool,
    /// Check every free against the POWER9 TLB / walk-cache model.
    pub model: bool,
    /// A deliberate flush bug (negative control).
    pub flush_bug: FlushBug,
}

/// `smp.*`, `ipi.*`, `cpus.*`, `watchdog.*`.
#[derive(Clone, Copy, Debug)]
pub struct Smp {
    /// IPI acknowledgement timeout, ms.
    pub ipi_timeout_ms: u64,
    /// Secondary bring-up timeout, ms.
    pub start_timeout_ms: u64,
    /// Most CPU threads to bring up (None: all).
    pub cpus_max: Option<usize>,
    /// Stuck-CPU watchdog limit, ms (0 = off).
    pub watchdog_ms: u64,
}

/// `walk.*`.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    /// Strategies to run, in order.
    pub strategies: Strategies,
    /// Delay inside each walk, ns.
    pub delay_ns: u64,
    /// Think time between walks, ns.
    pub gap_ns: u64,
    /// Walker kinds.
    pub kinds: Kinds,
    /// Walker CPUs that never join the mm.
    pub foreign: usize,
    /// Deliberate walker bug.
    pub trap: WalkTrap,
    /// A deliberate changer/walker bug (negative control).
    pub bug: WalkBug,
    /// Store-buffer emulation of walker registration stores.
    pub weakmem: bool,
}

/// `stress.*`.
#[derive(Clone, Copy, Debug)]
pub struct Stress {
    /// Changer CPUs.
    pub changers: usize,
    /// CPUs taking part (None: all online).
    pub cpus: Option<usize>,
    /// Include the 1 GB PUD arena.
    pub pud: bool,
    /// Changer operations.
    pub mix: StressMix,
    /// Seconds per strategy.
    pub duration_s: u64,
    /// THPs per stress mm.
    pub thps: usize,
}

/// What the other CPUs of a benchmark matrix cell do (`bench.loads`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchLoad {
    /// They ran the mm and sleep in `stop`.
    Idle,
    /// They run lockless walkers on the mm.
    Walkers,
    /// They spin with EE=1.
    Busy,
}

impl BenchLoad {
    /// Every load, in report order.
    pub const ALL: [BenchLoad; 3] = [BenchLoad::Idle, BenchLoad::Walkers, BenchLoad::Busy];

    /// Name in bootargs and reports.
    pub const fn name(self) -> &'static str {
        match self {
            BenchLoad::Idle => "idle",
            BenchLoad::Walkers => "walkers",
            BenchLoad::Busy => "busy",
        }
    }
}

/// A part of the benchmark (`bench.parts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchPart {
    /// Walker-side registration cost, one walker, many interleaved rounds.
    Walker,
    /// Walker-side cost with 1, 2, 4, 8, 16 concurrent walkers of one mm.
    Contention,
    /// map + unmap + flush throughput of the MMU layer.
    Mmu,
    /// The changer matrix: strategies × CPUs × loads × reps.
    Matrix,
}

impl BenchPart {
    /// Every part, in run order.
    pub const ALL: [BenchPart; 4] =
        [BenchPart::Walker, BenchPart::Contention, BenchPart::Mmu, BenchPart::Matrix];

    /// Name in bootargs.
    pub const fn name(self) -> &'static str {
        match self {
            BenchPart::Walker => "walker",
            BenchPart::Contention => "contention",
            BenchPart::Mmu => "mmu",
            BenchPart::Matrix => "matrix",
        }
    }
}

/// Most entries in `bench.cpus`.
pub const MAX_BENCH_CPUS: usize = 16;

/// `bench.*`.
#[derive(Clone, Copy, Debug)]
pub struct Bench {
    /// Smaller, shorter benchmark.
    pub quick: bool,
    /// THPs per munmap (None: derived from `quick`).
    pub thps: Option<usize>,
    /// Repetitions (None: derived from `quick`).
    pub reps: Option<usize>,
    /// CPU counts of the matrix (empty: derived from the CPUs online).
    pub cpus: FixedList<u16, MAX_BENCH_CPUS>,
    /// Loads of the matrix.
    pub loads: FixedList<BenchLoad, 3>,
    /// Parts to run.
    pub parts: FixedList<BenchPart, 4>,
    /// Rounds of the one-walker cost (None: derived from `quick`).
    pub rounds: Option<usize>,
}

/// `reloc.*`.
#[derive(Clone, Copy, Debug)]
pub struct Reloc {
    /// Re-run the image from this physical address.
    pub test: Option<u64>,
}

/// The whole configuration, one section per concern.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    /// The command line as given.
    pub cmdline: &'a str,
    /// What to run.
    pub run: Run,
    /// The test runner.
    pub test: TestCfg<'a>,
    /// How the run ends.
    pub exit: ExitMode,
    /// Memory.
    pub mem: Mem,
    /// The MMU layer.
    pub mmu: Mmu,
    /// SMP, IPIs, watchdog.
    pub smp: Smp,
    /// Walkers and strategies.
    pub walk: Walk,
    /// The stress run.
    pub stress: Stress,
    /// The benchmark.
    pub bench: Bench,
    /// The relocation test.
    pub reloc: Reloc,
}

/// Why a command line was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error<'a> {
    /// Rejected by the schema (unknown key, bad value, ...).
    Args(bootargs::Error<'a>),
    /// A name in `walk.strategy` that is not a strategy.
    UnknownStrategy(&'a str),
    /// A name in `walk.kinds` that is not a walker kind.
    UnknownWalkerKind(&'a str),
    /// A list with more entries than the kernel keeps.
    TooMany(&'static str),
    /// An entry of `bench.cpus` that is not a CPU count above the previous.
    BadBenchCpus(&'a str),
    /// `bench.loads` or `bench.parts` with an unknown or repeated name.
    BadBenchList(&'static str),
}

impl fmt::Display for Error<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Args(e) => write!(f, "{e}"),
            Error::UnknownStrategy(name) => {
                write!(f, "walk.strategy: unknown strategy `{name}`; valid: correct|controls|all|")?;
                for (i, s) in Strategy::ALL.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    f.write_str(s.name())?;
                }
                Ok(())
            }
            Error::UnknownWalkerKind(name) => {
                write!(f, "walk.kinds: unknown walker kind `{name}`; valid: ")?;
                for (i, k) in WalkerKind::ALL.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    f.write_str(k.name())?;
                }
                Ok(())
            }
            Error::TooMany(key) => write!(f, "{key}: too many entries"),
            Error::BadBenchCpus(item) => {
                write!(f, "bench.cpus: `{item}` is not a CPU count (1-256, ascending, comma separated)")
            }
            Error::BadBenchList(key) => {
                let valid: &[&str] = if *key == "bench.loads" {
                    &["idle", "walkers", "busy"]
                } else {
                    &["walker", "contention", "mmu", "matrix"]
                };
                write!(f, "{key}: unknown or repeated name; valid: {}", Join(valid))
            }
        }
    }
}

/// Names joined with `|` (for error messages).
struct Join<'a>(&'a [&'a str]);

impl fmt::Display for Join<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// Parses and validates a command line into a [`Config`].
pub fn parse(cmdline: &str) -> Result<Config<'_>, Error<'_>> {
    let args = Args::parse(cmdline, SCHEMA).map_err(Error::Args)?;
    Config::from_args(cmdline, &args, &mut |_| {})
}

/// Typed reads of one `Args`, reporting each key read to `seen`.
struct Reader<'r, 'a> {
    args: &'r Args<'a>,
    seen: &'r mut dyn FnMut(&'static str),
}

impl<'a> Reader<'_, 'a> {
    fn value(&mut self, key: &'static str) -> Option<Value<'a>> {
        (self.seen)(key);
        self.args.value(key)
    }

    fn u64(&mut self, key: &'static str) -> u64 {
        match self.value(key) {
            Some(Value::U64(v)) => v,
            other => panic!("`{key}` is declared without a u64 default (got {other:?})"),
        }
    }

    fn opt_u64(&mut self, key: &'static str) -> Option<u64> {
        match self.value(key) {
            Some(Value::U64(v)) => Some(v),
            None => None,
            other => panic!("`{key}` is not a u64 key (got {other:?})"),
        }
    }

    fn flag(&mut self, key: &'static str) -> bool {
        match self.value(key) {
            Some(Value::Bool(b)) => b,
            other => panic!("`{key}` is declared without a bool default (got {other:?})"),
        }
    }

    /// The enum value's index in the kind's name list.
    fn choice(&mut self, key: &'static str) -> usize {
        match self.value(key) {
            Some(Value::Enum(i, _)) => i,
            other => panic!("`{key}` is declared without an enum default (got {other:?})"),
        }
    }

    fn text(&mut self, key: &'static str) -> Option<&'a str> {
        match self.value(key) {
            Some(Value::Str(s)) => Some(s),
            None => None,
            other => panic!("`{key}` is not a text key (got {other:?})"),
        }
    }
}

impl<'a> Config<'a> {
    /// Builds the typed configuration from validated arguments; `seen` is
    /// told every key read (the host tests check that all are).
    fn from_args(
        cmdline: &'a str,
        args: &Args<'a>,
        seen: &mut dyn FnMut(&'static str),
    ) -> Result<Config<'a>, Error<'a>> {
        let mut r = Reader { args, seen };
        let run = Run {
            mode: [RunMode::Boot, RunMode::Test, RunMode::Stress, RunMode::Bench, RunMode::Main][r.choice("run")],
            seed: r.u64("seed"),
        };
        let test = TestCfg {
            filter: r.text("ktest.filter"),
            inject: [
                Inject::None,
                Inject::Fail,
                Inject::Hang,
                Inject::Exception,
                Inject::IpiTimeout,
                Inject::Stall,
            ][r.choice("ktest.inject")],
        };
        let exit = [ExitMode::Qemu, ExitMode::Reboot, ExitMode::Halt][r.choice("exit")];
        let mem = Mem { min_mb: r.u64("mem.min_mb") };
        let mmu = Mmu {
            flush: [FlushMode::Tlbie, FlushMode::Ipi][r.choice("mmu.flush")],
            p9_errata: r.flag("mmu.p9_errata"),
            model: r.flag("mmu.model"),
            flush_bug: FlushBug::ALL[r.choice("mmu.flush_bug")],
        };
        let smp = Smp {
            ipi_timeout_ms: r.u64("ipi.timeout_ms"),
            start_timeout_ms: r.u64("smp.timeout_ms"),
            cpus_max: r.opt_u64("cpus.max").map(|n| n as usize),
            watchdog_ms: r.u64("watchdog.ms"),
        };
        let strategies = strategies(r.text("walk.strategy").unwrap_or("correct"))?;
        let kinds = kinds(r.text("walk.kinds").unwrap_or(""))?;
        let walk = Walk {
            strategies,
            delay_ns: r.u64("walk.delay_ns"),
            gap_ns: r.u64("walk.gap_ns"),
            kinds,
            foreign: r.u64("walk.foreign") as usize,
            trap: [WalkTrap::None, WalkTrap::EeWindow][r.choice("walk.trap")],
            bug: WalkBug::ALL[r.choice("walk.bug")],
            weakmem: r.choice("walk.weakmem") == 1,
        };
        let stress = Stress {
            changers: r.u64("stress.changers") as usize,
            cpus: r.opt_u64("stress.cpus").map(|n| n as usize),
            pud: !r.flag("stress.nopud"),
            mix: [StressMix::All, StressMix::Churn, StressMix::Lockstep][r.choice("stress.mix")],
            duration_s: r.u64("stress.duration_s"),
            thps: r.u64("stress.thps") as usize,
        };
        let (loads, parts) = (r.text("bench.loads").unwrap_or(""), r.text("bench.parts").unwrap_or(""));
        let bench = Bench {
            quick: r.flag("bench.quick"),
            thps: r.opt_u64("bench.thps").map(|n| n as usize),
            reps: r.opt_u64("bench.reps").map(|n| n as usize),
            cpus: bench_cpus(r.text("bench.cpus"))?,
            loads: name_list("bench.loads", loads, &BenchLoad::ALL, BenchLoad::name)?,
            parts: name_list("bench.parts", parts, &BenchPart::ALL, BenchPart::name)?,
            rounds: r.opt_u64("bench.rounds").map(|n| n as usize),
        };
        let reloc = Reloc { test: r.opt_u64("reloc.test") };
        Ok(Config { cmdline, run, test, exit, mem, mmu, smp, walk, stress, bench, reloc })
    }
}

impl Bench {
    /// THPs per munmap: `bench.thps`, else 32 with `bench.quick`, else 256.
    pub fn thps(&self) -> usize {
        self.thps.unwrap_or(if self.quick { 32 } else { 256 })
    }

    /// Repetitions: `bench.reps`, else 3 with `bench.quick`, else 5.
    pub fn reps(&self) -> usize {
        self.reps.unwrap_or(if self.quick { 3 } else { 5 })
    }

    /// Rounds of the one-walker cost: `bench.rounds`, else 12 with
    /// `bench.quick`, else 400.
    pub fn rounds(&self) -> usize {
        self.rounds.unwrap_or(if self.quick { 12 } else { 400 })
    }

    /// The matrix's CPU counts for `online` CPUs: `bench.cpus` (those not
    /// above `online`), else 1, 2, 4, ... below `online`, and `online`.
    pub fn cpu_counts(&self, online: usize) -> FixedList<u16, MAX_BENCH_CPUS> {
        let mut out = FixedList::new();
        if self.cpus.is_empty() {
            let mut n = 1;
            while n < online && out.push(n as u16).is_ok() {
                n *= 2;
            }
            let _ = out.push(online.max(1) as u16);
        } else {
            for n in self.cpus.iter().filter(|&n| usize::from(n) <= online) {
                let _ = out.push(n);
            }
        }
        out
    }

    /// Whether `part` is to run.
    pub fn runs(&self, part: BenchPart) -> bool {
        self.parts.contains(part)
    }
}

/// Parses `bench.cpus`: CPU counts 1..=256, ascending, no repeats.
fn bench_cpus(list: Option<&str>) -> Result<FixedList<u16, MAX_BENCH_CPUS>, Error<'_>> {
    let mut out = FixedList::new();
    let Some(list) = list else { return Ok(out) };
    let mut last = 0;
    for item in list.split(',') {
        let n: u16 = item.parse().map_err(|_| Error::BadBenchCpus(item))?;
        if n == 0 || usize::from(n) > walkproto::MAX_CPUS || n <= last {
            return Err(Error::BadBenchCpus(item));
        }
        last = n;
        out.push(n).map_err(|_| Error::TooMany("bench.cpus"))?;
    }
    Ok(out)
}

/// Parses a comma list of names from `all` into a list (each at most once).
fn name_list<T: Copy + PartialEq, const N: usize>(
    key: &'static str,
    list: &str,
    all: &[T; N],
    name: fn(T) -> &'static str,
) -> Result<FixedList<T, N>, Error<'static>> {
    let mut out = FixedList::new();
    for item in list.split(',') {
        let v = all.iter().copied().find(|&v| name(v) == item).ok_or(Error::BadBenchList(key))?;
        if out.contains(v) {
            return Err(Error::BadBenchList(key));
        }
        out.push(v).map_err(|_| Error::TooMany(key))?;
    }
    Ok(out)
}

/// Parses `walk.strategy`: names, `correct`, `controls`, `all`.
fn strategies(list: &str) -> Result<Strategies, Error<'_>> {
    let mut out = Strategies::new();
    let too_many = |_| Error::TooMany("walk.strategy");
    for name in list.split(',') {
        let group: &[Strategy] = match name {
            "all" => &Strategy::ALL,
            "correct" => &Strategy::CORRECT,
            "controls" => &Strategy::NEGATIVE,
            _ => &[Strategy::parse(name).map_err(|_| Error::UnknownStrategy(name))?],
        };
        for &s in group {
            out.push(s).map_err(too_many)?;
        }
    }
    Ok(out)
}

/// Parses `walk.kinds`.
fn kinds(list: &str) -> Result<Kinds, Error<'_>> {
    let mut out = Kinds::new();
    for k in list.split(',') {
        out.push(WalkerKind::parse(k).ok_or(Error::UnknownWalkerKind(k))?)
            .map_err(|_| Error::TooMany("walk.kinds"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn keys_read(line: &str) -> Vec<&'static str> {
        let args = Args::parse(line, SCHEMA).unwrap();
        let mut seen = Vec::new();
        Config::from_args(line, &args, &mut |k| seen.push(k)).unwrap();
        seen
    }

    #[test]
    fn schema_is_well_formed() {
        bootargs::check_schema(SCHEMA).unwrap();
    }

    #[test]
    fn every_schema_key_is_read_and_every_read_key_is_declared() {
        // A read of an undeclared key panics inside `value`; this also
        // proves the converse: nothing in the schema is left unread.
        let seen = keys_read("");
        for spec in SCHEMA {
            assert!(seen.contains(&spec.key), "schema key `{}` is never read by Config", spec.key);
        }
        assert_eq!(seen.len(), SCHEMA.len(), "a key was read twice: {seen:?}");
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.run.mode, RunMode::Main);
        assert_eq!(c.run.seed, 1);
        assert_eq!(c.test.filter, None);
        assert_eq!(c.test.inject, Inject::None);
        assert_eq!(c.exit, ExitMode::Qemu);
        assert_eq!(c.mmu.flush, FlushMode::Tlbie);
        assert!(c.mmu.p9_errata);
        assert_eq!(c.smp.ipi_timeout_ms, 5000);
        assert_eq!(c.smp.cpus_max, None);
        assert_eq!(c.walk.strategies.iter().collect::<Vec<_>>(), Strategy::CORRECT);
        assert_eq!(
            c.walk.kinds.iter().collect::<Vec<_>>(),
            [WalkerKind::Gup, WalkerKind::FindPte, WalkerKind::RealMode, WalkerKind::Irq, WalkerKind::Hw]
        );
        assert_eq!((c.walk.delay_ns, c.walk.gap_ns), (2000, 4000));
        assert!(!c.walk.weakmem);
        assert_eq!(c.walk.bug, WalkBug::None);
        assert!(c.mmu.model);
        assert_eq!(c.mmu.flush_bug, FlushBug::None);
        assert_eq!(c.stress.duration_s, 2);
        assert_eq!(c.stress.thps, 16);
        assert!(c.stress.pud);
        assert_eq!(c.bench.thps(), 256);
        assert_eq!(c.reloc.test, None);
    }

    #[test]
    fn values_given() {
        let c = parse(
            "run=stress walk.strategy=count,controls walk.kinds=hw,gup-noref mmu.flush=ipi \
             stress.nopud bench.quick cpus.max=3 reloc.test=0x48000000 ktest.filter=smp,walk exit=reboot",
        )
        .unwrap();
        assert_eq!(c.run.mode, RunMode::Stress);
        let st: Vec<_> = c.walk.strategies.iter().collect();
        assert_eq!(st[0], Strategy::Count);
        assert_eq!(&st[1..], &Strategy::NEGATIVE);
        assert_eq!(c.walk.kinds.iter().collect::<Vec<_>>(), [WalkerKind::Hw, WalkerKind::GupNoRef]);
        assert!(c.walk.kinds.contains(WalkerKind::Hw) && !c.walk.kinds.contains(WalkerKind::Gup));
        assert_eq!(c.walk.kinds.get(1), Some(WalkerKind::GupNoRef));
        assert_eq!(c.walk.kinds.get(2), None);
        assert_eq!(c.mmu.flush, FlushMode::Ipi);
        assert!(!c.stress.pud);
        assert_eq!(c.bench.thps(), 32);
        assert_eq!(c.smp.cpus_max, Some(3));
        assert_eq!(c.reloc.test, Some(0x4800_0000));
        assert_eq!(c.test.filter, Some("smp,walk"));
        assert_eq!(c.exit, ExitMode::Reboot);
    }

    #[test]
    fn bad_lists_name_the_valid_values() {
        let e = parse("walk.strategy=count,countt").unwrap_err();
        assert_eq!(e, Error::UnknownStrategy("countt"));
        assert!(e.to_string().contains("count-wait"), "{e}");
        let e = parse("walk.kinds=gup,,hw").unwrap_err();
        assert_eq!(e, Error::UnknownWalkerKind(""));
        assert!(e.to_string().contains("findpte"), "{e}");
        let e = parse("walk.strategyy=count").unwrap_err();
        assert!(e.to_string().starts_with("unknown bootarg `walk.strategyy`; valid keys:"), "{e}");
        let e = parse("mmu.flush=fast").unwrap_err();
        assert!(e.to_string().starts_with("bad value `fast` for bootarg `mmu.flush`"), "{e}");
    }

    #[test]
    fn enum_tables_match_the_schema_order() {
        // The builder maps enum indices by position; check each name maps
        // to the variant of the same name.
        for (i, name) in RUN_MODES.iter().enumerate() {
            let line = alloc::format!("run={name}");
            let c = parse(&line).unwrap();
            let want = [RunMode::Boot, RunMode::Test, RunMode::Stress, RunMode::Bench, RunMode::Main][i];
            assert_eq!(c.run.mode, want);
        }
        for (name, want) in [
            ("fail", Inject::Fail),
            ("hang", Inject::Hang),
            ("exception", Inject::Exception),
            ("ipi-timeout", Inject::IpiTimeout),
            ("stall", Inject::Stall),
        ] {
            assert_eq!(parse(&alloc::format!("ktest.inject={name}")).unwrap().test.inject, want);
        }
        assert_eq!(parse("walk.trap=ee-window").unwrap().walk.trap, WalkTrap::EeWindow);
        assert_eq!(parse("stress.mix=churn").unwrap().stress.mix, StressMix::Churn);
        assert_eq!(parse("stress.mix=lockstep").unwrap().stress.mix, StressMix::Lockstep);
        assert!(parse("walk.weakmem=emulate").unwrap().walk.weakmem);
        assert_eq!(parse("exit=halt").unwrap().exit, ExitMode::Halt);
    }

    #[test]
    fn lists_have_a_bound() {
        let line = alloc::format!("walk.strategy={}", ["all"; 4].join(","));
        assert_eq!(parse(&line).unwrap_err(), Error::TooMany("walk.strategy"));
        let line = alloc::format!("walk.strategy={}", ["correct"; 5].join(","));
        assert_eq!(parse(&line).unwrap().walk.strategies.len(), 5 * Strategy::CORRECT.len());
    }

    #[test]
    fn bug_names_map_to_their_variants() {
        for b in FlushBug::ALL {
            let line = alloc::format!("mmu.flush_bug={}", b.name());
            assert_eq!(parse(&line).unwrap().mmu.flush_bug, b);
        }
        for b in WalkBug::ALL {
            let line = alloc::format!("walk.bug={}", b.name());
            assert_eq!(parse(&line).unwrap().walk.bug, b);
        }
        assert!(!parse("mmu.model=off").unwrap().mmu.model);
    }

    #[test]
    fn bench_keys() {
        let c = parse("").unwrap();
        assert_eq!((c.bench.reps(), c.bench.rounds()), (5, 400));
        assert_eq!(c.bench.loads.iter().collect::<Vec<_>>(), BenchLoad::ALL);
        assert_eq!(c.bench.parts.iter().collect::<Vec<_>>(), BenchPart::ALL);
        assert_eq!(c.bench.cpu_counts(16).iter().collect::<Vec<_>>(), [1, 2, 4, 8, 16]);
        assert_eq!(c.bench.cpu_counts(6).iter().collect::<Vec<_>>(), [1, 2, 4, 6]);
        assert_eq!(c.bench.cpu_counts(1).iter().collect::<Vec<_>>(), [1]);
        assert_eq!(c.bench.cpu_counts(64).iter().collect::<Vec<_>>(), [1, 2, 4, 8, 16, 32, 64]);
        let c = parse("bench.quick").unwrap();
        assert_eq!((c.bench.reps(), c.bench.rounds(), c.bench.thps()), (3, 12, 32));
        let line = "bench.reps=7 bench.cpus=1,16,64 bench.loads=busy,idle bench.parts=matrix bench.rounds=9";
        let c = parse(line).unwrap();
        assert_eq!((c.bench.reps(), c.bench.rounds()), (7, 9));
        assert_eq!(c.bench.cpu_counts(32).iter().collect::<Vec<_>>(), [1, 16]);
        assert_eq!(c.bench.loads.iter().collect::<Vec<_>>(), [BenchLoad::Busy, BenchLoad::Idle]);
        assert!(c.bench.runs(BenchPart::Matrix) && !c.bench.runs(BenchPart::Walker));
        assert_eq!(parse("bench.cpus=4,2").unwrap_err(), Error::BadBenchCpus("2"));
        assert_eq!(parse("bench.cpus=0").unwrap_err(), Error::BadBenchCpus("0"));
        assert_eq!(parse("bench.cpus=257").unwrap_err(), Error::BadBenchCpus("257"));
        assert_eq!(parse("bench.cpus=x").unwrap_err(), Error::BadBenchCpus("x"));
        let e = parse("bench.loads=idle,idle").unwrap_err();
        assert_eq!(e, Error::BadBenchList("bench.loads"));
        assert!(e.to_string().contains("walkers"), "{e}");
        let e = parse("bench.parts=walkers").unwrap_err();
        assert!(e.to_string().contains("contention"), "{e}");
        assert!(parse("bench.reps=0").is_err());
    }

    #[test]
    fn walker_kind_names_round_trip() {
        for (i, k) in WalkerKind::ALL.iter().enumerate() {
            assert_eq!(WalkerKind::parse(k.name()), Some(*k));
            assert_eq!(k.index(), i);
        }
    }
}
