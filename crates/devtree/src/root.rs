//! The root node, its children, `/chosen` and `/ibm,opal`.

use crate::error::{DtError, NodePath};
use crate::props::{first_string, one_or_two_cells, prop, Cells};
use crate::{cpus, memory, reserved, DeviceTree, Opal};
use fdt::node::FdtNode;
use fdt::Fdt;

/// Which single-instance nodes have been read (later duplicates are ignored).
#[derive(Default)]
struct Seen {
    /// `/cpus`.
    cpus: bool,
    /// `/chosen`.
    chosen: bool,
    /// `/ibm,opal`.
    opal: bool,
    /// `/reserved-memory`.
    reserved: bool,
}

/// Reads the root node and dispatches its children. `struct_off` is the
/// structure block offset, for the (unreachable after validation) error of
/// a missing root.
pub(crate) fn read<'a>(fdt: &Fdt<'a>, struct_off: usize, dt: &mut DeviceTree<'a>) -> Result<(), DtError> {
    let missing = DtError::BadStructure { offset: struct_off, why: "no root node" };
    let root = fdt.find_node("/").ok_or(missing)?;
    let root_path = NodePath::new("/", "");
    let cells = Cells::of(root, root_path)?;
    dt.model = model(root, root_path)?;
    let mut seen = Seen::default();
    for child in root.children() {
        child_node(child, cells, &mut seen, dt)?;
    }
    Ok(())
}

/// Handles one child of the root.
fn child_node<'a>(
    child: FdtNode<'_, 'a>,
    cells: Cells,
    seen: &mut Seen,
    dt: &mut DeviceTree<'a>,
) -> Result<(), DtError> {
    match child.name {
        "cpus" if !seen.cpus => {
            seen.cpus = true;
            cpus::collect(child, dt)
        }
        "chosen" | "chosen@0" if !seen.chosen => {
            seen.chosen = true;
            chosen(child, dt)
        }
        "ibm,opal" if !seen.opal => {
            seen.opal = true;
            dt.opal = opal(child)?;
            Ok(())
        }
        "reserved-memory" if !seen.reserved => {
            seen.reserved = true;
            reserved::reserved_memory_node(child, &mut dt.reserved)
        }
        _ if memory::is_memory(child) => memory::collect(child, cells, &mut dt.memory),
        _ => Ok(()),
    }
}

/// Root `model`, else the first string of root `compatible`.
fn model<'a>(root: FdtNode<'_, 'a>, path: NodePath) -> Result<Option<&'a str>, DtError> {
    for name in ["model", "compatible"] {
        if let Some(v) = prop(root, name) {
            let s = first_string(v).map_err(|why| DtError::BadProperty { node: path, prop: name, why })?;
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// `/chosen`: `bootargs` (an empty value counts as absent) and
/// `stdout-path`, else `linux,stdout-path`.
fn chosen<'a>(node: FdtNode<'_, 'a>, dt: &mut DeviceTree<'a>) -> Result<(), DtError> {
    let path = NodePath::new("/", node.name);
    let string = |prop, v| first_string(v).map_err(|why| DtError::BadProperty { node: path, prop, why });
    if let Some(v) = prop(node, "bootargs").filter(|v| !v.is_empty()) {
        dt.bootargs = string("bootargs", v)?;
    }
    for name in ["stdout-path", "linux,stdout-path"] {
        if let Some(v) = prop(node, name) {
            dt.stdout_path = Some(string(name, v)?);
            break;
        }
    }
    Ok(())
}

/// `/ibm,opal` `opal-base-address` and `opal-entry-address` (one or two
/// cells each): both or neither (QEMU's own tree, before skiboot runs, has
/// neither).
fn opal(node: FdtNode<'_, '_>) -> Result<Option<Opal>, DtError> {
    const BASE: &str = "opal-base-address";
    const ENTRY: &str = "opal-entry-address";
    let path = NodePath::new("/", node.name);
    let bad = |prop, why| DtError::BadProperty { node: path, prop, why };
    let number = |name| match prop(node, name) {
        None => Ok(None),
        Some(v) => one_or_two_cells(v).map(Some).ok_or(bad(name, "not a 1- or 2-cell number")),
    };
    match (number(BASE)?, number(ENTRY)?) {
        (Some(base), Some(entry)) => Ok(Some(Opal { base, entry })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(bad(ENTRY, "missing while opal-base-address is present")),
        (None, Some(_)) => Err(bad(BASE, "missing while opal-entry-address is present")),
    }
}
