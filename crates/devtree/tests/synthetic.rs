//! Hand-built trees covering what the QEMU input trees lack (reservations,
//! OPAL, bootargs, several memory nodes and reg entries, cell variants).

mod common;

use common::{core, cpus_open, rich, root_open, small, Writer};
use devtree::{parse, DtError, Opal, Region, ReserveSource, Reserved, Thread, MAX_REGIONS, MAX_THREADS};

const ADDR: u64 = 0x10_0000;

fn region(base: u64, size: u64) -> Region {
    Region { base, size }
}

/// Root (2/2 cells) + `body` + one single-thread core (PIR 0); for tests
/// about everything but CPUs.
fn with_cpu(body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = root_open();
    body(&mut w);
    cpus_open(&mut w);
    core(&mut w, "cpu@0", &[0], None);
    w.end().end();
    w.finish()
}

/// Root (2/2 cells) + 1 GiB of memory + `body` inside /cpus.
fn with_memory(body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = root_open();
    w.begin("memory@0").prop_str("device_type", "memory").prop_reg(2, 2, &[(0, 1 << 30)]).end();
    cpus_open(&mut w);
    body(&mut w);
    w.end().end();
    w.finish()
}

#[test]
fn rich_tree_reads_everything() {
    let blob = rich();
    let dt = parse(&blob, ADDR).unwrap();
    let mem = [region(0, 0x4000_0000), region(0x8000_0000, 0x4000_0000), region(0x1_0000_0000, 0x1000_0000)];
    assert_eq!(dt.memory.as_slice(), mem);
    assert_eq!(dt.total_memory(), 0x9000_0000);
    assert_eq!(dt.threads.len(), 8);
    let t = dt.threads.get(5).copied().unwrap();
    assert_eq!(t, Thread { pir: 0x101, core_index: 1, thread_index: 1, chip_id: Some(1) });
    assert_eq!(dt.find_pir(0x101), Some(5));
    assert_eq!(dt.find_pir(0x104), None);
    assert_eq!(dt.bootargs, "walk.strategy=rcu log=debug");
    assert_eq!(dt.stdout_path, Some("/ibm,opal/consoles/serial@0"));
    assert_eq!(dt.opal, Some(Opal { base: 0x3000_0000, entry: 0x3000_3770 }));
    assert_eq!(dt.model, Some("Synthetic PowerNV"));
    assert_eq!(dt.timebase_hz, Some(512_000_000));
    let r = |base, size, source| Reserved { region: region(base, size), source };
    let expect = [
        r(0x3000_0000, 0x300_0000, ReserveSource::MemReserveBlock),
        r(0x4000_0000, 0x10_0000, ReserveSource::MemReserveBlock),
        r(0x3000_0000, 0x60_0000, ReserveSource::ReservedMemoryNode),
        r(0x203f_fd80_0000, 0x40_0000, ReserveSource::ReservedMemoryNode),
        r(ADDR, blob.len() as u64, ReserveSource::Blob),
    ];
    assert_eq!(dt.reserved.as_slice(), expect);
}

#[test]
fn model_falls_back_to_first_compatible_string() {
    let blob = small().finish();
    let dt = parse(&blob, 0).unwrap();
    assert_eq!(dt.model, Some("test,board"));
}

#[test]
fn no_model_and_no_compatible_is_none() {
    let mut w = Writer::new();
    w.begin("").prop_u32("#address-cells", 1).prop_u32("#size-cells", 1);
    w.begin("memory").prop_reg(1, 1, &[(0, 0x1000)]).end();
    cpus_open(&mut w);
    core(&mut w, "cpu@0", &[0], None);
    w.end().end();
    let blob = w.finish();
    let dt = parse(&blob, 0).unwrap();
    assert_eq!(dt.model, None);
    assert_eq!(dt.memory.as_slice(), [region(0, 0x1000)]);
}

#[test]
fn root_with_one_address_and_size_cell() {
    let mut w = Writer::new();
    w.begin("").prop_u32("#address-cells", 1).prop_u32("#size-cells", 1);
    w.begin("memory@0").prop_str("device_type", "memory");
    w.prop_reg(1, 1, &[(0, 0x1000_0000), (0x2000_0000, 0x1000_0000)]).end();
    cpus_open(&mut w);
    core(&mut w, "cpu@0", &[0], None);
    w.end().end();
    let blob = w.finish();
    let dt = parse(&blob, 0).unwrap();
    assert_eq!(dt.memory.as_slice(), [region(0, 0x1000_0000), region(0x2000_0000, 0x1000_0000)]);
}

#[test]
fn missing_cell_counts_default_to_two_and_one() {
    let mut w = Writer::new();
    w.begin("");
    // 2 address cells + 1 size cell per entry.
    w.begin("memory@100000000").prop_str("device_type", "memory");
    w.prop_cells("reg", &[1, 0, 0x1000_0000, 0, 0x10_0000, 0x2000]).end();
    cpus_open(&mut w);
    core(&mut w, "cpu@0", &[0], None);
    w.end().end();
    let blob = w.finish();
    let dt = parse(&blob, 0).unwrap();
    assert_eq!(dt.memory.as_slice(), [region(0x10_0000, 0x2000), region(0x1_0000_0000, 0x1000_0000)]);
}

#[test]
fn memory_node_variants() {
    let blob = with_cpu(|w| {
        // Named memory@ without device_type: accepted.
        w.begin("memory@1000").prop_reg(2, 2, &[(0x1000, 0x1000)]).end();
        // Named "memory": accepted.
        w.begin("memory").prop_reg(2, 2, &[(0x2000, 0x1000)]).end();
        // Other name but typed memory: accepted.
        w.begin("ram@3000").prop_str("device_type", "memory").prop_reg(2, 2, &[(0x3000, 0x1000)]).end();
        // Other name, untyped: ignored.
        w.begin("mem@4000").prop_reg(2, 2, &[(0x4000, 0x1000)]).end();
        // Memory name but another type: ignored.
        w.begin("memory@5000").prop_str("device_type", "mmio").prop_reg(2, 2, &[(0x5000, 0x1000)]).end();
        // Disabled: ignored.
        w.begin("memory@6000").prop_str("device_type", "memory").prop_str("status", "disabled");
        w.prop_reg(2, 2, &[(0x6000, 0x1000)]).end();
        // No reg: contributes nothing.
        w.begin("memory@7000").prop_str("device_type", "memory").end();
        // Zero sizes skipped, other entries of the node kept.
        w.begin("memory@8000").prop_str("device_type", "memory");
        w.prop_reg(2, 2, &[(0x8000, 0), (0x9000, 0x1000)]).end();
        // Not a root child: ignored.
        w.begin("bus").begin("memory@a000").prop_str("device_type", "memory");
        w.prop_reg(2, 2, &[(0xa000, 0x1000)]).end().end();
    });
    let dt = parse(&blob, 0).unwrap();
    let bases: Vec<u64> = dt.memory.iter().map(|r| r.base).collect();
    assert_eq!(bases, [0x1000, 0x2000, 0x3000, 0x9000]);
}

#[test]
fn memory_is_sorted_by_base() {
    let blob = with_cpu(|w| {
        w.begin("memory@40000000")
            .prop_str("device_type", "memory")
            .prop_reg(2, 2, &[(1 << 30, 1 << 30)])
            .end();
        w.begin("memory@0").prop_str("device_type", "memory").prop_reg(2, 2, &[(0, 1 << 30)]).end();
    });
    let dt = parse(&blob, 0).unwrap();
    assert_eq!(dt.memory.as_slice(), [region(0, 1 << 30), region(1 << 30, 1 << 30)]);
}

#[test]
fn reserved_memory_with_one_cell_and_odd_children() {
    let blob = with_cpu(|w| {
        w.reserve(0x100, 0x10).reserve(0x200, 0x20);
        w.begin("memory@0").prop_str("device_type", "memory").prop_reg(2, 2, &[(0, 1 << 30)]).end();
        w.begin("reserved-memory").prop_u32("#address-cells", 1).prop_u32("#size-cells", 1);
        w.begin("a@1000").prop_reg(1, 1, &[(0x1000, 0x100), (0x3000, 0)]).end();
        w.begin("dynamic").prop_u32("size", 0x1000).end();
        w.begin("b@2000").prop_str("status", "disabled").prop_reg(1, 1, &[(0x2000, 0x100)]).end();
        w.end();
    });
    let dt = parse(&blob, 0x8000_0000).unwrap();
    let got: Vec<(u64, u64, ReserveSource)> =
        dt.reserved.iter().map(|r| (r.region.base, r.region.size, r.source)).collect();
    assert_eq!(
        got,
        [
            (0x100, 0x10, ReserveSource::MemReserveBlock),
            (0x200, 0x20, ReserveSource::MemReserveBlock),
            (0x1000, 0x100, ReserveSource::ReservedMemoryNode),
            (0x2000, 0x100, ReserveSource::ReservedMemoryNode),
            (0x8000_0000, blob.len() as u64, ReserveSource::Blob),
        ]
    );
}

#[test]
fn memreserve_list_ends_at_first_zero_size() {
    let blob = with_cpu(|w| {
        w.reserve(0x100, 0x10).reserve(0x5000, 0).reserve(0x200, 0x20);
        w.begin("memory@0").prop_str("device_type", "memory").prop_reg(2, 2, &[(0, 1 << 30)]).end();
    });
    let dt = parse(&blob, 0).unwrap();
    assert_eq!(dt.reserved.len(), 2);
    assert_eq!(dt.reserved.get(0).unwrap().region, region(0x100, 0x10));
}

#[test]
fn cpu_without_interrupt_servers_uses_reg() {
    let blob = with_memory(|w| {
        w.begin("cpu@20").prop_str("device_type", "cpu").prop_u32("reg", 0x20).end();
        w.begin("cpu@24")
            .prop_str("device_type", "cpu")
            .prop_u32("reg", 0x24)
            .prop_u32("ibm,chip-id", 0)
            .end();
    });
    let dt = parse(&blob, 0).unwrap();
    let expect = [
        Thread { pir: 0x20, core_index: 0, thread_index: 0, chip_id: None },
        Thread { pir: 0x24, core_index: 1, thread_index: 0, chip_id: Some(0) },
    ];
    assert_eq!(dt.threads.as_slice(), expect);
}

#[test]
fn core_index_counts_only_accepted_cores() {
    let blob = with_memory(|w| {
        w.begin("cpu-features").prop_str("device_type", "cpu-features").end();
        core(w, "cpu@0", &[0, 1], Some(0));
        w.begin("cpu@4").prop_str("device_type", "cpu").prop_str("status", "disabled");
        w.prop_cells("ibm,ppc-interrupt-server#s", &[4, 5]).end();
        w.begin("cpu@8").prop_str("device_type", "cpu").prop_str("status", "fail").prop_u32("reg", 8).end();
        w.begin("cpu@c").prop_str("device_type", "cpu").prop_str("status", "ok");
        w.prop_cells("ibm,ppc-interrupt-server#s", &[0xc, 0xd]).end();
        w.begin("l2-cache").prop_u32("reg", 0x99).end();
    });
    let dt = parse(&blob, 0).unwrap();
    let got: Vec<(u32, u16, u8)> = dt.threads.iter().map(|t| (t.pir, t.core_index, t.thread_index)).collect();
    assert_eq!(got, [(0, 0, 0), (1, 0, 1), (0xc, 1, 0), (0xd, 1, 1)]);
}

#[test]
fn timebase_as_two_cells_or_from_cpus_node() {
    let blob = with_memory(|w| {
        w.begin("cpu@0").prop_str("device_type", "cpu").prop_u32("reg", 0);
        w.prop_u64("timebase-frequency", 0x1_0000_0000).end();
    });
    assert_eq!(parse(&blob, 0).unwrap().timebase_hz, Some(0x1_0000_0000));
    let blob = with_memory(|w| {
        w.prop_u32("timebase-frequency", 1000);
        w.begin("cpu@0").prop_str("device_type", "cpu").prop_u32("reg", 0).end();
    });
    assert_eq!(parse(&blob, 0).unwrap().timebase_hz, Some(1000));
    let blob = with_memory(|w| {
        w.begin("cpu@0").prop_str("device_type", "cpu").prop_u32("reg", 0).end();
    });
    assert_eq!(parse(&blob, 0).unwrap().timebase_hz, None);
}

#[test]
fn chosen_variants() {
    let chosen = |body: &dyn Fn(&mut Writer)| {
        with_cpu(|w| {
            w.begin("memory").prop_reg(2, 2, &[(0, 0x1000)]).end();
            w.begin("chosen");
            body(w);
            w.end();
        })
    };
    let blob = chosen(&|w| {
        w.prop_str("linux,stdout-path", "/a").prop_str("stdout-path", "serial0:115200n8");
    });
    let dt = parse(&blob, 0).unwrap();
    assert_eq!((dt.bootargs, dt.stdout_path), ("", Some("serial0:115200n8")));
    let blob = chosen(&|w| {
        w.prop("bootargs", b"");
    });
    assert_eq!(parse(&blob, 0).unwrap().bootargs, "");
    let blob = chosen(&|w| {
        w.prop("bootargs", b"a=1\0b=2\0");
    });
    assert_eq!(parse(&blob, 0).unwrap().bootargs, "a=1");
    let blob = chosen(&|w| {
        w.prop_str("bootargs", "log=\u{e9}");
    });
    assert_eq!(parse(&blob, 0).unwrap().bootargs, "log=\u{e9}");
}

#[test]
fn later_duplicate_singleton_nodes_are_ignored() {
    let blob = with_cpu(|w| {
        w.begin("memory").prop_reg(2, 2, &[(0, 0x1000)]).end();
        w.begin("chosen").prop_str("bootargs", "first").end();
        w.begin("chosen").prop("bootargs", b"\xff").end();
    });
    assert_eq!(parse(&blob, 0).unwrap().bootargs, "first");
}

#[test]
fn opal_with_one_cell_values() {
    let blob = with_cpu(|w| {
        w.begin("memory").prop_reg(2, 2, &[(0, 0x1000)]).end();
        w.begin("ibm,opal").prop_u32("opal-base-address", 0x3000_0000);
        w.prop_u32("opal-entry-address", 0x3000_3770).end();
    });
    let opal = parse(&blob, 0).unwrap().opal;
    assert_eq!(opal, Some(Opal { base: 0x3000_0000, entry: 0x3000_3770 }));
}

#[test]
fn boot_cpuid_phys_from_header() {
    let mut w = small();
    w.boot_cpu(3);
    assert_eq!(parse(&w.finish(), 0).unwrap().boot_cpuid_phys, 3);
}

#[test]
fn nesting_up_to_max_depth_is_accepted() {
    let blob = with_cpu(|w| {
        w.begin("memory").prop_reg(2, 2, &[(0, 0x1000)]).end();
        for i in 0..devtree::MAX_DEPTH - 1 {
            w.begin(&format!("n{i}"));
        }
        for _ in 0..devtree::MAX_DEPTH - 1 {
            w.end();
        }
    });
    parse(&blob, 0).unwrap();
}

#[test]
fn capacities_are_exact() {
    let threads = |n: u32| {
        with_memory(|w| {
            let pirs: Vec<u32> = (0..n).collect();
            for (i, chunk) in pirs.chunks(256).enumerate() {
                core(w, &format!("cpu@{i}"), chunk, None);
            }
        })
    };
    assert_eq!(parse(&threads(MAX_THREADS as u32), 0).unwrap().threads.len(), MAX_THREADS);
    let err = parse(&threads(MAX_THREADS as u32 + 1), 0).unwrap_err();
    assert_eq!(err, DtError::TooMany { what: "CPU threads", max: MAX_THREADS });

    let memory = |n: u64| {
        with_cpu(|w| {
            let entries: Vec<(u64, u64)> = (0..n).map(|i| (i << 20, 1 << 12)).collect();
            w.begin("memory").prop_reg(2, 2, &entries).end();
        })
    };
    assert_eq!(parse(&memory(MAX_REGIONS as u64), 0).unwrap().memory.len(), MAX_REGIONS);
    let err = parse(&memory(MAX_REGIONS as u64 + 1), 0).unwrap_err();
    assert_eq!(err, DtError::TooMany { what: "memory regions", max: MAX_REGIONS });
}

#[test]
fn list_api() {
    let mut l: devtree::List<u8, 2> = devtree::List::new();
    assert!(l.is_empty());
    assert_eq!(l.capacity(), 2);
    assert_eq!(l.push(1), Ok(()));
    assert_eq!(l.push(2), Ok(()));
    assert_eq!(l.push(3), Err(3));
    assert_eq!(l.len(), 2);
    assert_eq!(l.as_slice(), [1, 2]);
    assert_eq!(l.get(1), Some(&2));
    assert_eq!(l.get(2), None);
    assert_eq!((&l).into_iter().copied().sum::<u8>(), 3);
    assert_eq!(format!("{l:?}"), "[1, 2]");
}

#[test]
fn region_end() {
    assert_eq!(region(0x1000, 0x100).end(), 0x1100);
    assert_eq!(region(u64::MAX, 2).end(), u64::MAX);
}
