//! Memory nodes (children of the root).

use crate::error::{DtError, NodePath};
use crate::props::{available, prop, reg_entries, Cells};
use crate::{List, Region, MAX_REGIONS};
use fdt::node::FdtNode;

/// True for a root child that describes memory: `device_type = "memory"`, or
/// no `device_type` and a name `memory` / `memory@...` (skiboot and QEMU set
/// the type; some older trees do not). Nodes with a `status` other than
/// `okay`/`ok` are ignored, as Linux does.
pub(crate) fn is_memory(node: FdtNode<'_, '_>) -> bool {
    let typed = match prop(node, "device_type") {
        Some(v) => crate::props::c_bytes(v) == b"memory",
        None => node.name == "memory" || node.name.starts_with("memory@"),
    };
    typed && available(node)
}

/// Appends every non-empty `reg` entry of memory node `node`, decoded with
/// the root's `cells`. A memory node without `reg` contributes nothing.
pub(crate) fn collect(
    node: FdtNode<'_, '_>,
    cells: Cells,
    out: &mut List<Region, MAX_REGIONS>,
) -> Result<(), DtError> {
    let Some(reg) = prop(node, "reg") else {
        return Ok(());
    };
    let bad = |why| DtError::BadProperty { node: NodePath::new("/", node.name), prop: "reg", why };
    for (base, size) in reg_entries(reg, cells).map_err(bad)? {
        if size == 0 {
            continue;
        }
        if base.checked_add(size).is_none() {
            return Err(DtError::Overflow { what: "memory region", base, size });
        }
        out.push(Region { base, size })
            .map_err(|_| DtError::TooMany { what: "memory regions", max: MAX_REGIONS })?;
    }
    Ok(())
}
