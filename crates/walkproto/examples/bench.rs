//! Host micro-benchmark of the walker side (`begin_walk` + drop) per
//! strategy, single-threaded and with every thread hammering the same mm,
//! plus the changer's `serialize` cost with no walker active. Numbers are
//! for *this host* (x86 `mfence`/`lock` ≠ Power `sync`/`lwsync`): read the
//! ratios, not the nanoseconds.
//!
//! ```text
//! RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=target/h-walkproto \
//!     /usr/bin/cargo run -p walkproto --release --example bench [iterations] [threads]
//! ```

#[cfg(loom)]
fn main() {
    eprintln!("bench: not available under --cfg loom");
}

#[cfg(not(loom))]
fn main() {
    host::main();
}

#[cfg(not(loom))]
mod host {
    use std::hint::black_box;
    use std::sync::Barrier as StartLine;
    use std::thread;
    use std::time::Instant;

    use walkproto::{CpuMask, IpiStats, IpiTimeout, MmSync, Platform, Registry, Strategy};

    static REGISTRY: Registry = Registry::new();
    static MM: MmSync = MmSync::new(1);

    /// A platform whose IPIs are answered instantly (we measure the protocol,
    /// not doorbells).
    struct HostPlatform {
        cpu: usize,
        cpus: usize,
    }

    impl Platform for HostPlatform {
        fn this_cpu(&self) -> usize {
            self.cpu
        }
        fn online_cpus(&self) -> CpuMask {
            CpuMask::first(self.cpus)
        }
        fn ipi_and_wait(&self, targets: CpuMask, _wait: bool) -> Result<IpiStats, IpiTimeout> {
            Ok(IpiStats { sent: targets.count() as u32, spins: 0 })
        }
        fn relax(&self) {
            std::hint::spin_loop();
        }
        fn now(&self) -> u64 {
            0
        }
        fn timeout_ticks(&self) -> u64 {
            u64::MAX
        }
    }

    /// Best of [`ROUNDS`] runs, to shave off noise from other processes.
    const ROUNDS: usize = 5;

    fn best_of(mut run: impl FnMut() -> f64) -> f64 {
        (0..ROUNDS).map(|_| run()).fold(f64::INFINITY, f64::min)
    }

    /// Nanoseconds per walk for `threads` threads each doing `iters` walks.
    fn walk_ns(strategy: Strategy, iters: u64, threads: usize) -> f64 {
        best_of(|| walk_once(strategy, iters, threads))
    }

    fn walk_once(strategy: Strategy, iters: u64, threads: usize) -> f64 {
        let start_line = StartLine::new(threads);
        let elapsed: Vec<f64> = thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|cpu| {
                    let start_line = &start_line;
                    s.spawn(move || {
                        start_line.wait();
                        let start = Instant::now();
                        for _ in 0..iters {
                            let guard = REGISTRY.begin_walk(strategy, &MM, cpu);
                            black_box(&guard);
                        }
                        start.elapsed().as_nanos() as f64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        elapsed.iter().sum::<f64>() / (threads as f64 * iters as f64)
    }

    /// Nanoseconds per `serialize` with no walker active, `cpus` online.
    fn serialize_ns(strategy: Strategy, iters: u64, cpus: usize) -> f64 {
        let platform = HostPlatform { cpu: 0, cpus };
        let mask = CpuMask::first(cpus);
        best_of(|| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(REGISTRY.serialize(strategy, &MM, mask, &platform).unwrap());
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
    }

    fn arg(n: usize, default: u64) -> u64 {
        std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
    }

    pub fn main() {
        let iters = arg(1, 1_000_000);
        let host = thread::available_parallelism().map_or(2, |n| n.get());
        let threads = arg(2, host as u64) as usize;
        println!("walker begin+end, {iters} walks per thread, best of {ROUNDS}; ratio = ns / ns(none)");
        println!(
            "{:<16} {:>10} {:>7} {:>14} {:>7}",
            "strategy",
            "1 thr ns",
            "ratio",
            format!("{threads} thr ns"),
            "ratio"
        );
        let rows: Vec<_> = Strategy::ALL
            .into_iter()
            .map(|s| (s, walk_ns(s, iters, 1), walk_ns(s, iters, threads)))
            .collect();
        let (_, base1, base_n) = rows.iter().find(|r| r.0 == Strategy::None).copied().unwrap();
        for (s, one, many) in rows {
            println!(
                "{:<16} {:>10.2} {:>7.1} {:>14.2} {:>7.1}",
                s.name(),
                one,
                one / base1,
                many,
                many / base_n
            );
        }
        let cpus = 16;
        let serial_iters = iters / 10;
        println!("\nchanger serialize() with no walker, {cpus} CPUs online, instant IPIs, best of {ROUNDS}");
        println!("{:<16} {:>10}", "strategy", "ns");
        for s in Strategy::ALL {
            println!("{:<16} {:>10.2}", s.name(), serialize_ns(s, serial_iters, cpus));
        }
    }
}
