//! Reservations: the memory-reservation block and `/reserved-memory`.

use crate::error::{DtError, NodePath};
use crate::header::{Header, RSV_ENTRY_LEN};
use crate::props::{be_u64_at, prop, reg_entries, Cells};
use crate::{List, Region, ReserveSource, Reserved, MAX_RESERVED};
use fdt::node::FdtNode;

/// Appends `[base, base + size)` from `source`; zero sizes are skipped.
pub(crate) fn push(
    out: &mut List<Reserved, MAX_RESERVED>,
    base: u64,
    size: u64,
    source: ReserveSource,
) -> Result<(), DtError> {
    if size == 0 {
        return Ok(());
    }
    if base.checked_add(size).is_none() {
        let what = match source {
            ReserveSource::MemReserveBlock => "memory reservation",
            ReserveSource::ReservedMemoryNode => "/reserved-memory region",
            ReserveSource::Blob => "device tree blob",
        };
        return Err(DtError::Overflow { what, base, size });
    }
    let entry = Reserved { region: Region { base, size }, source };
    out.push(entry).map_err(|_| DtError::TooMany { what: "reserved regions", max: MAX_RESERVED })
}

/// Reads the memory-reservation block. Like libfdt and Linux, the list ends
/// at the first entry whose size is 0 (the spec's terminator is address 0,
/// size 0; an entry of size 0 reserves nothing either way). The terminator
/// must lie inside `totalsize`.
pub(crate) fn memreserve_block(
    blob: &[u8],
    header: &Header,
    out: &mut List<Reserved, MAX_RESERVED>,
) -> Result<(), DtError> {
    let mut at = header.off_mem_rsvmap;
    loop {
        let (Some(base), Some(size)) = (be_u64_at(blob, at), be_u64_at(blob, at.saturating_add(8))) else {
            let why = "memory reservation block has no terminating entry";
            return Err(DtError::BadStructure { offset: at, why });
        };
        if size == 0 {
            return Ok(());
        }
        push(out, base, size, ReserveSource::MemReserveBlock)?;
        at = at.saturating_add(RSV_ENTRY_LEN);
    }
}

/// Reads every `reg` entry of every child of `/reserved-memory` (`node`),
/// whatever its `status` (reserving too much is harmless; too little is
/// not). Children without `reg` (dynamically placed pools) are skipped.
pub(crate) fn reserved_memory_node(
    node: FdtNode<'_, '_>,
    out: &mut List<Reserved, MAX_RESERVED>,
) -> Result<(), DtError> {
    let parent = NodePath::new("/", node.name);
    let cells = Cells::of(node, parent)?;
    for child in node.children() {
        let Some(reg) = prop(child, "reg") else {
            continue;
        };
        let bad =
            |why| DtError::BadProperty { node: NodePath::new(parent.as_str(), child.name), prop: "reg", why };
        for (base, size) in reg_entries(reg, cells).map_err(bad)? {
            push(out, base, size, ReserveSource::ReservedMemoryNode)?;
        }
    }
    Ok(())
}
