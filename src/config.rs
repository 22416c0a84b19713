//! Boot-time configuration: the bootargs schema and the parsed values.
//!
//! Every knob the kernel accepts is declared once here. Unknown keys or bad
//! values stop the boot with a message listing what is valid.

use bootargs::{Args, KeySpec, Kind};

/// What the kernel does after booting.
pub const RUN_MODES: &[&str] = &["boot", "test", "stress", "bench", "main"];
/// Failure injections for proving the failure paths (`ktest.inject=`).
pub const INJECTIONS: &[&str] = &["none", "fail", "hang", "exception", "ipi-timeout", "stall"];

/// The bootargs schema.
pub static SCHEMA: &[KeySpec] = &[
    KeySpec { key: "run", kind: Kind::Enum(RUN_MODES), help: "what to run after boot (main = default job)" },
    KeySpec { key: "ktest.filter", kind: Kind::Str, help: "run only tests whose name contains this" },
    KeySpec {
        key: "ktest.inject",
        kind: Kind::Enum(INJECTIONS),
        help: "inject a failure to prove it is caught",
    },
    KeySpec {
        key: "ipi.timeout_ms",
        kind: Kind::U64 { min: 10, max: 600_000 },
        help: "IPI acknowledgement timeout",
    },
    KeySpec {
        key: "smp.timeout_ms",
        kind: Kind::U64 { min: 10, max: 600_000 },
        help: "secondary bring-up timeout",
    },
    KeySpec {
        key: "cpus.max",
        kind: Kind::U64 { min: 1, max: 256 },
        help: "bring up at most this many CPU threads",
    },
    KeySpec {
        key: "watchdog.ms",
        kind: Kind::U64 { min: 0, max: 3_600_000 },
        help: "stuck-CPU watchdog (0 = off)",
    },
    KeySpec {
        key: "mem.min_mb",
        kind: Kind::U64 { min: 64, max: 1 << 20 },
        help: "refuse to run with less usable RAM",
    },
    KeySpec { key: "mmu.flush", kind: Kind::Enum(&["tlbie", "ipi"]), help: "TLB flush mode" },
    KeySpec { key: "mmu.p9_errata", kind: Kind::Bool, help: "POWER9 tlbie errata fixups (default on)" },
    KeySpec { key: "walk.strategy", kind: Kind::Str, help: "serialization strategy(ies), comma separated" },
    KeySpec {
        key: "walk.delay_ns",
        kind: Kind::U64 { min: 0, max: 100_000_000 },
        help: "delay inside each walk",
    },
    KeySpec {
        key: "walk.gap_ns",
        kind: Kind::U64 { min: 0, max: 100_000_000 },
        help: "think time between walks (random, up to this)",
    },
    KeySpec { key: "walk.kinds", kind: Kind::Str, help: "walker kinds, comma separated" },
    KeySpec {
        key: "walk.foreign",
        kind: Kind::U64 { min: 0, max: 255 },
        help: "walker CPUs that never join the mm",
    },
    KeySpec { key: "walk.trap", kind: Kind::Enum(&["none", "ee-window"]), help: "deliberate walker bug" },
    KeySpec { key: "walk.noflush", kind: Kind::Bool, help: "changers skip TLB flushes (detector control)" },
    KeySpec {
        key: "walk.weakmem",
        kind: Kind::Enum(&["off", "emulate"]),
        help: "emulate Power's late publication of a walker count not followed by sync",
    },
    KeySpec { key: "stress.changers", kind: Kind::U64 { min: 1, max: 255 }, help: "changer CPUs" },
    KeySpec {
        key: "stress.cpus",
        kind: Kind::U64 { min: 2, max: 256 },
        help: "CPUs taking part in the stress",
    },
    KeySpec { key: "stress.nopud", kind: Kind::Bool, help: "leave out the 1 GB PUD arena" },
    KeySpec {
        key: "stress.mix",
        kind: Kind::Enum(&["all", "churn", "lockstep"]),
        help: "changer operations",
    },
    KeySpec {
        key: "stress.duration_s",
        kind: Kind::U64 { min: 1, max: 86_400 },
        help: "stress duration per strategy",
    },
    KeySpec { key: "stress.thps", kind: Kind::U64 { min: 1, max: 4096 }, help: "2 MB THPs per stress mm" },
    KeySpec { key: "seed", kind: Kind::U64 { min: 0, max: u64::MAX }, help: "random seed" },
    KeySpec { key: "bench.quick", kind: Kind::Bool, help: "one-iteration benchmark" },
    KeySpec {
        key: "bench.thps",
        kind: Kind::U64 { min: 1, max: 4096 },
        help: "THPs per munmap in the benchmark",
    },
    KeySpec {
        key: "reloc.test",
        kind: Kind::U64 { min: 0, max: u64::MAX },
        help: "re-run the image from this physical address",
    },
    KeySpec {
        key: "exit",
        kind: Kind::Enum(&["qemu", "reboot", "halt"]),
        help: "how the run ends (reboot/halt on real hardware)",
    },
];

/// The parsed command line, kept for the whole run.
pub struct Config {
    pub args: Args<'static>,
}

impl Config {
    /// Integer knob.
    pub fn u64(&self, key: &str, default: u64) -> u64 {
        self.args.u64_or(key, default)
    }
    /// Enum knob (by name).
    pub fn choice(&self, key: &str, default: &'static str) -> &'static str {
        self.args.enum_or(key, default)
    }
    /// Bool knob.
    pub fn flag(&self, key: &str) -> bool {
        self.args.bool_or(key, false)
    }
    /// Text knob.
    pub fn text(&self, key: &str, default: &'static str) -> &'static str {
        self.args.str_or(key, default)
    }
}

static CONFIG: spin::Once<Config> = spin::Once::new();

/// Parses `line` (which lives for the whole run) into the global config.
pub fn init(line: &'static str) -> Result<&'static Config, bootargs::Error<'static>> {
    let args = Args::parse(line, SCHEMA)?;
    Ok(CONFIG.call_once(|| Config { args }))
}

/// The global config (after `init`).
pub fn get() -> &'static Config {
    CONFIG.get().expect("config::init not called")
}
