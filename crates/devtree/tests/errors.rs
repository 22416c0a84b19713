//! Every `DtError` variant: a blob that provokes it, and its message.

mod common;

use common::{core, cpus_open, field, get_word, root_open, set_word, small, Writer, NOP};
use devtree::{header_total_size, parse, DtError, NodePath, MAX_DEPTH, MAX_RESERVED};

/// The error `parse` gives for `blob`, and its message.
fn err(blob: &[u8]) -> (DtError, String) {
    let e = parse(blob, 0x1000).expect_err("blob should be rejected");
    (e, e.to_string())
}

/// `small()` with header word `i` set to `v`.
fn small_with_word(i: usize, v: u32) -> Vec<u8> {
    let mut b = small().finish();
    set_word(&mut b, i, v);
    b
}

/// Root with 2/2 cells, 1 GiB of memory, `body`, then /cpus with `cpus`.
fn tree(body: impl FnOnce(&mut Writer), cpus: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = root_open();
    w.begin("memory@0").prop_str("device_type", "memory").prop_reg(2, 2, &[(0, 1 << 30)]).end();
    body(&mut w);
    cpus_open(&mut w);
    cpus(&mut w);
    w.end().end();
    w.finish()
}

/// One single-thread core at PIR 0.
fn one_core(w: &mut Writer) {
    core(w, "PowerPC,POWER9@0", &[0], Some(0));
}

fn bad_prop(node: &str, prop: &'static str, why: &'static str) -> DtError {
    let (parent, name) = node.rsplit_once('/').unwrap();
    DtError::BadProperty {
        node: NodePath::new(if parent.is_empty() { "/" } else { parent }, name),
        prop,
        why,
    }
}

#[test]
fn bad_magic() {
    let (e, msg) = err(&small_with_word(field::MAGIC, 0x1234_5678));
    assert_eq!(e, DtError::BadMagic(0x1234_5678));
    assert_eq!(msg, "device tree: bad magic 0x12345678 (expected 0xd00dfeed)");
    // Four bytes are enough to tell.
    assert_eq!(header_total_size(&[0, 0, 0, 0]), Err(DtError::BadMagic(0)));
}

#[test]
fn unsupported_version() {
    let (e, msg) = err(&small_with_word(field::VERSION, 16));
    assert_eq!(e, DtError::UnsupportedVersion { version: 16, last_comp_version: 16 });
    assert_eq!(
        msg,
        "device tree: unsupported version 16 (last compatible 16); need version >= 17, last compatible <= 17"
    );
    let (e, _) = err(&small_with_word(field::LAST_COMP, 18));
    assert_eq!(e, DtError::UnsupportedVersion { version: 17, last_comp_version: 18 });
}

#[test]
fn truncated() {
    let blob = small().finish();
    let (e, msg) = err(&blob[..10]);
    assert_eq!(e, DtError::Truncated { need: 40, have: 10 });
    assert_eq!(msg, "device tree: truncated: need 40 bytes, have 10");
    let (e, _) = err(&blob[..blob.len() - 1]);
    assert_eq!(e, DtError::Truncated { need: blob.len(), have: blob.len() - 1 });
    assert_eq!(header_total_size(&blob[..39]), Err(DtError::Truncated { need: 40, have: 39 }));
    assert_eq!(header_total_size(&[]), Err(DtError::Truncated { need: 40, have: 0 }));
}

#[test]
fn bad_header() {
    let cases: [(usize, u32, &str); 9] = [
        (field::TOTALSIZE, 39, "totalsize is smaller than the header"),
        (field::TOTALSIZE, 16 << 20 | 1, "totalsize is larger than 16 MiB"),
        (field::OFF_STRUCT, 36, "structure block starts inside the header"),
        (field::OFF_STRUCT, 0x3e, "structure block is not 4-byte aligned"),
        (field::SIZE_STRUCT, 0xffff_fff0, "structure block ends past totalsize"),
        (field::OFF_RSV, 0x2c, "memory reservation block is not 8-byte aligned"),
        (field::OFF_RSV, 0, "memory reservation block starts inside the header"),
        (field::OFF_STRINGS, 0xffff_ffff, "strings block ends past totalsize"),
        (field::OFF_STRINGS, 4, "strings block starts inside the header"),
    ];
    for (i, v, why) in cases {
        let blob = small_with_word(i, v);
        assert_eq!(header_total_size(&blob), Err(DtError::BadHeader(why)), "{why}");
        let (e, msg) = err(&blob);
        assert_eq!(e, DtError::BadHeader(why));
        assert_eq!(msg, format!("device tree: bad header: {why}"));
    }
    let mut blob = small().finish();
    let total = get_word(&blob, field::TOTALSIZE);
    set_word(&mut blob, field::OFF_RSV, (total - 8) & !7);
    assert_eq!(err(&blob).0, DtError::BadHeader("memory reservation block has no room for its terminator"));
}

#[test]
fn header_total_size_accepts_valid_header() {
    let blob = small().finish();
    assert_eq!(header_total_size(&blob[..40]), Ok(blob.len()));
}

/// A blob whose structure block is `tokens` (raw words after the root).
fn structure(build: impl FnOnce(&mut Writer)) -> (DtError, String) {
    let mut w = Writer::new();
    build(&mut w);
    err(&w.finish())
}

fn why(e: DtError) -> &'static str {
    match e {
        DtError::BadStructure { why, .. } => why,
        other => panic!("expected BadStructure, got {other:?}"),
    }
}

#[test]
fn bad_structure() {
    let (e, msg) = structure(|w| {
        w.begin("").prop_u32("a", 1).word(NOP).end();
    });
    assert_eq!(why(e), "FDT_NOP token (unsupported: the fdt crate mis-walks it)");
    assert!(msg.starts_with("device tree: malformed at byte 0x"), "{msg}");
    assert!(msg.ends_with(": FDT_NOP token (unsupported: the fdt crate mis-walks it)"), "{msg}");

    type Build = Box<dyn Fn(&mut Writer)>;
    let cases: Vec<(&str, Build)> = vec![
        (
            "unknown token",
            Box::new(|w| {
                w.begin("").word(7).end();
            }),
        ),
        (
            "property outside a node or after a child node",
            Box::new(|w| {
                w.begin("").begin("a").end().prop_u32("x", 1).end();
            }),
        ),
        (
            "property outside a node or after a child node",
            Box::new(|w| {
                w.prop_u32("x", 1);
            }),
        ),
        (
            "second root node",
            Box::new(|w| {
                w.begin("").end().begin("").end();
            }),
        ),
        (
            "root node name is not empty",
            Box::new(|w| {
                w.begin("root").end();
            }),
        ),
        (
            "node name is not UTF-8",
            Box::new(|w| {
                w.begin("").word(1).word(super_word(b"\xff\xfe\0\0")).end().end();
            }),
        ),
        (
            "property name offset is outside the strings block",
            Box::new(|w| {
                w.begin("").prop_raw(0, 999, &[]).end();
            }),
        ),
        (
            "token runs past the end of the structure block",
            Box::new(|w| {
                w.begin("").prop_raw(1000, 0, &[]);
                let _ = w.string_offset("x");
            }),
        ),
        (
            "FDT_END_NODE without a node",
            Box::new(|w| {
                w.end();
            }),
        ),
        (
            "FDT_END inside a node",
            Box::new(|w| {
                w.begin("");
            }),
        ),
        ("FDT_END before the root node", Box::new(|_| {})),
        (
            "nodes nested deeper than MAX_DEPTH",
            Box::new(|w| {
                w.begin("");
                for _ in 0..MAX_DEPTH {
                    w.begin("n");
                }
                for _ in 0..=MAX_DEPTH {
                    w.end();
                }
            }),
        ),
    ];
    for (expect, build) in cases {
        assert_eq!(why(structure(|w| build(w)).0), expect);
    }
}

/// A word whose big-endian bytes are `b`.
fn super_word(b: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*b)
}

#[test]
fn bad_structure_unterminated_names_and_ends() {
    // Property name without NUL: the strings block ends mid-name.
    let mut blob = small().finish();
    let total = blob.len();
    blob[total - 1] = b'x';
    assert_eq!(why(err(&blob).0), "property name has no NUL");

    // Structure block without FDT_END: shrink it by one word.
    let mut blob = small().finish();
    let size = get_word(&blob, field::SIZE_STRUCT);
    set_word(&mut blob, field::SIZE_STRUCT, size - 4);
    assert_eq!(why(err(&blob).0), "structure block ends without FDT_END");

    // Node name running to the end of the structure block.
    let mut w = Writer::new();
    w.begin("").word(1).word(0x6161_6161);
    let mut blob = w.finish();
    let size = get_word(&blob, field::SIZE_STRUCT);
    set_word(&mut blob, field::SIZE_STRUCT, size - 4);
    assert_eq!(why(err(&blob).0), "node name has no NUL");

    // Memory reservation entries running to the end of the blob.
    let mut blob = small().finish();
    let total = blob.len() as u32;
    blob.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    set_word(&mut blob, field::TOTALSIZE, total + 16);
    set_word(&mut blob, field::OFF_RSV, total);
    let (e, msg) = err(&blob);
    let offset = total as usize + 16;
    let why = "memory reservation block has no terminating entry";
    assert_eq!(e, DtError::BadStructure { offset, why });
    assert_eq!(msg, format!("device tree: malformed at byte {offset:#x}: {why}"));
}

#[test]
fn no_memory() {
    let mut w = root_open();
    w.begin("memory@0").prop_str("device_type", "memory").prop_reg(2, 2, &[(0, 0)]).end();
    cpus_open(&mut w);
    one_core(&mut w);
    w.end().end();
    let (e, msg) = err(&w.finish());
    assert_eq!(e, DtError::NoMemory);
    assert_eq!(msg, "device tree: no memory node with a non-empty reg");
}

#[test]
fn no_cpus() {
    let no_cpus_node = {
        let mut w = root_open();
        w.begin("memory").prop_reg(2, 2, &[(0, 1 << 20)]).end().end();
        w.finish()
    };
    let only_disabled = tree(
        |_| {},
        |w| {
            w.begin("cpu@0")
                .prop_str("device_type", "cpu")
                .prop_str("status", "disabled")
                .prop_u32("reg", 0)
                .end();
            w.begin("features").prop_str("device_type", "cpu-features").end();
        },
    );
    for blob in [no_cpus_node, only_disabled] {
        let (e, msg) = err(&blob);
        assert_eq!(e, DtError::NoCpus);
        assert_eq!(msg, "device tree: no CPU threads (no available /cpus child of type cpu)");
    }
}

#[test]
fn too_many_reserved() {
    let mut w = small();
    for i in 0..MAX_RESERVED as u64 {
        w.reserve(i << 20, 0x1000);
    }
    // 128 from the block fit; the blob itself is one too many.
    let (e, msg) = err(&w.finish());
    assert_eq!(e, DtError::TooMany { what: "reserved regions", max: MAX_RESERVED });
    assert_eq!(msg, "device tree: too many reserved regions (at most 128)");
}

#[test]
fn bad_property_messages() {
    let cpu = "/cpus/PowerPC,POWER9@0";
    let cases: Vec<(DtError, &str, Vec<u8>)> = vec![
        (
            bad_prop("/memory@0", "reg", "length is not a whole number of (address, size) entries"),
            "device tree: /memory@0: property reg: length is not a whole number of (address, size) entries",
            {
                let mut w = root_open();
                w.begin("memory@0").prop_str("device_type", "memory").prop("reg", &[0; 12]).end();
                cpus_open(&mut w);
                one_core(&mut w);
                w.end().end();
                w.finish()
            },
        ),
        (
            bad_prop(cpu, "ibm,chip-id", "not a single 32-bit cell"),
            "device tree: /cpus/PowerPC,POWER9@0: property ibm,chip-id: not a single 32-bit cell",
            tree(|_| {}, |w| {
                w.begin("PowerPC,POWER9@0").prop_str("device_type", "cpu").prop_u64("ibm,chip-id", 0).end();
            }),
        ),
        (
            bad_prop(cpu, "ibm,ppc-interrupt-server#s", "length is not a non-zero multiple of 4"),
            "device tree: /cpus/PowerPC,POWER9@0: property ibm,ppc-interrupt-server#s: length is not a non-zero multiple of 4",
            tree(|_| {}, |w| {
                w.begin("PowerPC,POWER9@0").prop_str("device_type", "cpu");
                w.prop("ibm,ppc-interrupt-server#s", &[0; 6]).end();
            }),
        ),
        (
            bad_prop(cpu, "ibm,ppc-interrupt-server#s", "missing, and no reg to fall back on"),
            "device tree: /cpus/PowerPC,POWER9@0: property ibm,ppc-interrupt-server#s: missing, and no reg to fall back on",
            tree(|_| {}, |w| {
                w.begin("PowerPC,POWER9@0").prop_str("device_type", "cpu").end();
            }),
        ),
        (
            bad_prop(cpu, "timebase-frequency", "not a 1- or 2-cell number"),
            "device tree: /cpus/PowerPC,POWER9@0: property timebase-frequency: not a 1- or 2-cell number",
            tree(|_| {}, |w| {
                w.begin("PowerPC,POWER9@0").prop_str("device_type", "cpu").prop_u32("reg", 0);
                w.prop("timebase-frequency", &[1, 2, 3]).end();
            }),
        ),
        (
            bad_prop("/chosen", "bootargs", "not NUL-terminated"),
            "device tree: /chosen: property bootargs: not NUL-terminated",
            tree(|w| {
                w.begin("chosen").prop("bootargs", b"console=hvc0").end();
            }, one_core),
        ),
        (
            bad_prop("/chosen", "bootargs", "not valid UTF-8"),
            "device tree: /chosen: property bootargs: not valid UTF-8",
            tree(|w| {
                w.begin("chosen").prop("bootargs", b"a\xffb\0").end();
            }, one_core),
        ),
        (
            bad_prop("/chosen", "linux,stdout-path", "not NUL-terminated"),
            "device tree: /chosen: property linux,stdout-path: not NUL-terminated",
            tree(|w| {
                w.begin("chosen").prop("linux,stdout-path", b"/x").end();
            }, one_core),
        ),
        (
            bad_prop("/ibm,opal", "opal-entry-address", "missing while opal-base-address is present"),
            "device tree: /ibm,opal: property opal-entry-address: missing while opal-base-address is present",
            tree(|w| {
                w.begin("ibm,opal").prop_u64("opal-base-address", 0x3000_0000).end();
            }, one_core),
        ),
        (
            bad_prop("/ibm,opal", "opal-base-address", "missing while opal-entry-address is present"),
            "device tree: /ibm,opal: property opal-base-address: missing while opal-entry-address is present",
            tree(|w| {
                w.begin("ibm,opal").prop_u64("opal-entry-address", 0x3000_0000).end();
            }, one_core),
        ),
        (
            bad_prop("/ibm,opal", "opal-base-address", "not a 1- or 2-cell number"),
            "device tree: /ibm,opal: property opal-base-address: not a 1- or 2-cell number",
            tree(|w| {
                w.begin("ibm,opal").prop("opal-base-address", &[0; 12]).prop_u64("opal-entry-address", 1).end();
            }, one_core),
        ),
        (
            bad_prop("/reserved-memory/x@0", "reg", "length is not a whole number of (address, size) entries"),
            "device tree: /reserved-memory/x@0: property reg: length is not a whole number of (address, size) entries",
            tree(|w| {
                w.begin("reserved-memory").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
                w.begin("x@0").prop("reg", &[0; 8]).end().end();
            }, one_core),
        ),
        (
            bad_prop("/reserved-memory", "#size-cells", "more than 2 cells is not supported"),
            "device tree: /reserved-memory: property #size-cells: more than 2 cells is not supported",
            tree(|w| {
                w.begin("reserved-memory").prop_u32("#size-cells", 3).end();
            }, one_core),
        ),
        (
            bad_prop("/reserved-memory", "#address-cells", "not a single 32-bit cell"),
            "device tree: /reserved-memory: property #address-cells: not a single 32-bit cell",
            tree(|w| {
                w.begin("reserved-memory").prop("#address-cells", &[0, 1]).end();
            }, one_core),
        ),
        (
            bad_prop("/", "model", "not NUL-terminated"),
            "device tree: /: property model: not NUL-terminated",
            {
                let mut w = root_open();
                w.prop("model", b"x").begin("memory").prop_reg(2, 2, &[(0, 1 << 20)]).end();
                cpus_open(&mut w);
                one_core(&mut w);
                w.end().end();
                w.finish()
            },
        ),
    ];
    for (expect, msg, blob) in cases {
        let (e, got) = err(&blob);
        assert_eq!(e, expect);
        assert_eq!(got, msg);
    }
}

#[test]
fn bad_property_cpu_reg_fallbacks() {
    let wide = {
        let mut w = root_open();
        w.begin("memory").prop_reg(2, 2, &[(0, 1 << 20)]).end();
        w.begin("cpus").prop_u32("#address-cells", 2).prop_u32("#size-cells", 0);
        w.begin("cpu@100000000").prop_str("device_type", "cpu").prop_cells("reg", &[1, 0]).end();
        w.end().end();
        w.finish()
    };
    assert_eq!(err(&wide).0, bad_prop("/cpus/cpu@100000000", "reg", "address does not fit a 32-bit PIR"));
    let empty = tree(
        |_| {},
        |w| {
            w.begin("cpu@0").prop_str("device_type", "cpu").prop("reg", &[]).end();
        },
    );
    assert_eq!(err(&empty).0, bad_prop("/cpus/cpu@0", "reg", "empty"));
    let big_core = tree(
        |_| {},
        |w| {
            core(w, "cpu@0", &(0..257).collect::<Vec<u32>>(), None);
        },
    );
    let why = "more than 256 threads in one core";
    assert_eq!(err(&big_core).0, bad_prop("/cpus/cpu@0", "ibm,ppc-interrupt-server#s", why));
    let no_cells = tree(
        |w| {
            w.begin("reserved-memory").prop_u32("#address-cells", 0).prop_u32("#size-cells", 0);
            w.begin("x").prop("reg", &[]).end().end();
        },
        one_core,
    );
    let why = "#address-cells and #size-cells are both 0";
    assert_eq!(err(&no_cells).0, bad_prop("/reserved-memory/x", "reg", why));
}

#[test]
fn duplicate_pir() {
    let blob = tree(
        |_| {},
        |w| {
            core(w, "cpu@0", &[0, 1, 2, 3], None);
            core(w, "cpu@4", &[4, 5, 6, 3], None);
        },
    );
    let (e, msg) = err(&blob);
    assert_eq!(e, DtError::DuplicatePir(3));
    assert_eq!(msg, "device tree: duplicate PIR 0x3 in /cpus");
}

#[test]
fn overflow() {
    let blob = tree(
        |w| {
            w.begin("memory@fffffffffffff000").prop_str("device_type", "memory");
            w.prop_reg(2, 2, &[(0xffff_ffff_ffff_f000, 0x2000)]).end();
        },
        one_core,
    );
    let (e, msg) = err(&blob);
    assert_eq!(e, DtError::Overflow { what: "memory region", base: 0xffff_ffff_ffff_f000, size: 0x2000 });
    assert_eq!(msg, "device tree: memory region 0xfffffffffffff000 + 0x2000 overflows 64 bits");

    let mut w = small();
    w.reserve(u64::MAX, 1);
    let what = |blob: &[u8], addr| match parse(blob, addr) {
        Err(DtError::Overflow { what, .. }) => what,
        other => panic!("expected Overflow, got {other:?}"),
    };
    assert_eq!(what(&w.finish(), 0), "memory reservation");
    let blob = tree(
        |w| {
            w.begin("reserved-memory").begin("r").prop_reg(2, 1, &[(u64::MAX - 1, 2)]).end().end();
        },
        one_core,
    );
    assert_eq!(what(&blob, 0), "/reserved-memory region");
    assert_eq!(what(&small().finish(), u64::MAX - 8), "device tree blob");
}

#[test]
fn node_path_is_cut_with_ellipsis() {
    let long = "n".repeat(100);
    let p = NodePath::new("/cpus", &long);
    assert_eq!(p.as_str().len(), devtree::NODE_PATH_MAX);
    assert!(p.as_str().starts_with("/cpus/nnn"));
    assert!(p.as_str().ends_with("n..."));
    // Cut at a character boundary.
    let p = NodePath::new("/", &"\u{e9}".repeat(40));
    assert!(p.as_str().ends_with("..."));
    assert!(p.as_str().len() <= devtree::NODE_PATH_MAX);
    assert_eq!(NodePath::new("/", "").as_str(), "/");
    assert_eq!(NodePath::new("/cpus", "").as_str(), "/cpus");
    assert_eq!(format!("{:?}", NodePath::new("/", "chosen")), "\"/chosen\"");
}
