//! The `fdt` 0.1.5 traps this crate guards against: each blob here makes a
//! plain `fdt` call panic (or silently miss data), while `parse` returns an
//! error (or the right answer) without panicking.

mod common;

use common::{field, get_word, root_open, set_word, small, Writer, NOP};
use devtree::{parse, DtError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// Keeps the expected panics inside the fdt crate out of the test output;
/// any other panic is reported as usual.
fn quiet_fdt_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_fdt = info.location().is_some_and(|l| l.file().contains("fdt-0.1.5"));
            if !in_fdt {
                default(info);
            }
        }));
    });
}

/// True if `f` panics.
fn panics<R>(f: impl FnOnce() -> R) -> bool {
    quiet_fdt_panics();
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

/// Walks every property and child of the root with the fdt crate.
fn fdt_walk(blob: &[u8]) -> usize {
    let fdt = fdt::Fdt::new(blob).unwrap();
    let root = fdt.find_node("/").unwrap();
    root.properties().count() + root.children().map(|c| c.properties().count()).sum::<usize>()
}

/// Asserts that walking `blob` with fdt panics and `parse` rejects it as
/// malformed without panicking.
fn guarded(blob: &[u8]) -> DtError {
    assert!(panics(|| fdt_walk(blob)), "fdt 0.1.5 no longer panics here");
    let result = catch_unwind(|| parse(blob, 0)).expect("parse panicked");
    result.expect_err("parse accepted a blob fdt cannot walk")
}

fn structure_error(e: DtError) -> &'static str {
    match e {
        DtError::BadStructure { why, .. } => why,
        other => panic!("expected BadStructure, got {other:?}"),
    }
}

#[test]
fn nop_between_properties_of_a_skipped_node() {
    let mut w = Writer::new();
    w.begin("").begin("a").prop_u32("p", 1).word(NOP).prop_u32("q", 2).end().begin("b").end().end();
    let why = structure_error(guarded(&w.finish()));
    assert!(why.starts_with("FDT_NOP"));
}

#[test]
fn property_after_a_child_node() {
    let mut w = Writer::new();
    w.begin("").begin("a").begin("b").end().prop_u32("p", 1).end().end();
    assert_eq!(structure_error(guarded(&w.finish())), "property outside a node or after a child node");
}

#[test]
fn property_name_offset_outside_strings() {
    let mut w = Writer::new();
    w.begin("").prop_raw(4, 0x1000, &[0; 4]).end();
    let why = structure_error(guarded(&w.finish()));
    assert_eq!(why, "property name offset is outside the strings block");
}

#[test]
fn property_name_not_utf8() {
    let mut w = Writer::new();
    w.begin("").prop("\u{e9}", &[0; 4]).end();
    let mut blob = w.finish();
    let strings = get_word(&blob, field::OFF_STRINGS) as usize;
    blob[strings] = 0xff;
    assert_eq!(structure_error(guarded(&blob)), "property name is not UTF-8");
}

#[test]
fn property_value_past_the_block() {
    let mut w = Writer::new();
    w.begin("").prop_raw(0x1000, 0, &[]).end();
    let _ = w.string_offset("p");
    let why = structure_error(guarded(&w.finish()));
    assert_eq!(why, "token runs past the end of the structure block");
}

#[test]
fn node_name_without_nul() {
    let mut w = Writer::new();
    w.begin("").word(1).word(0x6161_6161);
    let mut blob = w.finish();
    let size = get_word(&blob, field::SIZE_STRUCT);
    set_word(&mut blob, field::SIZE_STRUCT, size - 4);
    assert_eq!(structure_error(guarded(&blob)), "node name has no NUL");
}

#[test]
fn named_root_node() {
    let mut w = Writer::new();
    w.begin("root").end();
    let blob = w.finish();
    let fdt = fdt::Fdt::new(&blob).unwrap();
    assert!(panics(|| fdt.root()));
    let e = catch_unwind(|| parse(&blob, 0)).unwrap().unwrap_err();
    assert_eq!(structure_error(e), "root node name is not empty");
}

#[test]
fn structure_block_outside_the_blob() {
    let mut blob = small().finish();
    set_word(&mut blob, field::OFF_STRUCT, 0x10_0000);
    let fdt = fdt::Fdt::new(&blob).unwrap();
    assert!(panics(|| fdt.find_node("/")));
    let e = catch_unwind(|| parse(&blob, 0)).unwrap().unwrap_err();
    assert_eq!(e, DtError::BadHeader("structure block ends past totalsize"));
}

#[test]
fn short_cell_count_property() {
    let mut w = root_open();
    w.begin("reserved-memory").prop("#address-cells", &[0, 2]).begin("r").end().end();
    w.begin("memory").prop_reg(2, 2, &[(0, 1 << 20)]).end();
    common::cpus_open(&mut w);
    common::core(&mut w, "cpu@0", &[0], None);
    w.end().end();
    let blob = w.finish();
    let fdt = fdt::Fdt::new(&blob).unwrap();
    let node = fdt.find_node("/reserved-memory").unwrap();
    assert!(panics(|| node.cell_sizes()));
    let e = catch_unwind(|| parse(&blob, 0)).unwrap().unwrap_err();
    assert!(matches!(e, DtError::BadProperty { prop: "#address-cells", .. }), "{e:?}");
}

#[test]
fn empty_bootargs_value() {
    let mut w = root_open();
    w.begin("chosen").prop("bootargs", b"").end();
    w.begin("memory").prop_reg(2, 2, &[(0, 1 << 20)]).end();
    common::cpus_open(&mut w);
    common::core(&mut w, "cpu@0", &[0], None);
    w.end().end();
    let blob = w.finish();
    let fdt = fdt::Fdt::new(&blob).unwrap();
    assert!(panics(|| fdt.chosen().bootargs()));
    assert_eq!(parse(&blob, 0).unwrap().bootargs, "");
}

/// Not panics, but wrong answers on real powernv trees.
#[test]
fn cpus_and_memory_helpers_miss_powernv_data() {
    let path = |n: &str| format!("{}/testdata/{n}", env!("CARGO_MANIFEST_DIR"));
    let blob = std::fs::read(path("qemu-p9-2chip.dtb")).unwrap();
    let fdt = fdt::Fdt::new(&blob).unwrap();
    // Core nodes are named PowerPC,POWER9@..., not cpu@...
    assert_eq!(fdt.cpus().count(), 0);
    // Only the first memory node.
    assert_eq!(fdt.memory().regions().count(), 1);
    let dt = parse(&blob, 0).unwrap();
    assert_eq!(dt.threads.len(), 8);
    assert_eq!(dt.memory.len(), 2);
}
