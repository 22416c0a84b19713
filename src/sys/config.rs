//! The configuration parsed once at boot (the `kconfig` crate: schema,
//! defaults, typed sections), kept for the whole run. Modules are handed
//! their section; no boot-argument key is spelled outside `kconfig`.

use spin::Once;

pub use kconfig::{
    Config, ExitMode, FlushBug, FlushMode, Inject, Mmu, RunMode, Smp, StressMix, TestCfg, Walk, WalkBug, WalkTrap,
    WalkerKind,
};

static CONFIG: Once<Config<'static>> = Once::new();

/// Parses the command line (once, at boot).
pub fn init(cmdline: &'static str) -> Result<&'static Config<'static>, kconfig::Error<'static>> {
    let cfg = kconfig::parse(cmdline)?;
    Ok(CONFIG.call_once(|| cfg))
}

/// The configuration (after [`init`]).
pub fn get() -> &'static Config<'static> {
    CONFIG.get().expect("config::init not called")
}
