//! Benchmark.

use crate::{config::Config, exit};

/// `run=bench`.
pub fn run_cli(_cfg: &Config) -> ! {
    exit::fail(format_args!("run=bench is not implemented yet"))
}
