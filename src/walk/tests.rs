//! In-QEMU tests of walkers and strategies.

use walkproto::Strategy;

use super::litmus::{self, Fence, Write};
use crate::ktest::{Outcome, Scope, Test};
use crate::{ensure, percpu, println, smp};

pub static TESTS: &[Test] =
    &[Test { name: "litmus_sb_calibration", scope: Scope::Boot, timeout_ms: 120_000, run: sb_calibration }];

fn sb_calibration(_: usize) -> Outcome {
    let me = percpu::cpu_id();
    let Some(other) = smp::online_mask().iter().find(|&c| c != me) else { return Ok(()) };
    let iters = 100_000;
    let mut line = alloc::string::String::new();
    let mut sync_store = 0;
    for (write, fixed) in [(Write::Store, false), (Write::Rmw, false), (Write::Store, true)] {
        for fence in [Fence::None, Fence::Call, Fence::Lwsync, Fence::Sync] {
            let n = litmus::run_sb_at(other, iters, fence, write, fixed);
            use core::fmt::Write as _;
            let _ = write!(line, "{:?}{}+{}={} ", write, if fixed { "(fixed)" } else { "" }, fence.name(), n);
            if fence == Fence::Sync {
                ensure!(n == 0, "SB with sync on both sides reordered {n} times ({write:?}): the platform breaks Power's model");
            }
            if write == Write::Store && fence == Fence::Sync {
                sync_store = n;
            }
        }
    }
    let _ = sync_store;
    for nmms in [1usize, 64, 20_000] {
        for st in [Strategy::CountNoBarrier, Strategy::CountLwsync, Strategy::Count] {
            let it = iters.min(nmms.max(20_000));
            let n = litmus::run_registry_sb(other, it, st, nmms);
            use core::fmt::Write as _;
            let _ = write!(line, "registry[{},mms={nmms}]={n}/{it} ", st.name());
        }
    }
    println!("  SB litmus, {iters} trials each (both-zero outcomes): {line}");
    let _ = Strategy::Count;
    Ok(())
}
