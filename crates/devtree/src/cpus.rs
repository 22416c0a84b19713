//! `/cpus`: one core node per core, one thread per interrupt server number.

use crate::error::{DtError, NodePath};
use crate::props::{available, has_type, one_cell, one_or_two_cells, prop, reg_entries, Cells};
use crate::{DeviceTree, Thread, MAX_THREADS};
use fdt::node::FdtNode;

/// Property listing the PIRs of a core's threads.
const SERVERS: &str = "ibm,ppc-interrupt-server#s";

/// Reads every available child of `/cpus` (`cpus`) whose `device_type` is
/// `cpu` (skiboot also puts `ibm,powerpc-cpu-features` there, of type
/// `cpu-features`), and the timebase frequency.
pub(crate) fn collect<'a>(cpus: FdtNode<'_, 'a>, dt: &mut DeviceTree<'a>) -> Result<(), DtError> {
    let cpus_path = NodePath::new("/", cpus.name);
    let cells = Cells::of(cpus, cpus_path)?;
    let mut core_index: u16 = 0;
    for core in cpus.children().filter(|c| has_type(*c, b"cpu") && available(*c)) {
        let path = NodePath::new(cpus_path.as_str(), core.name);
        if dt.timebase_hz.is_none() {
            dt.timebase_hz = timebase(core, path)?;
        }
        let chip_id = chip_id(core, path)?;
        let first = Thread { pir: 0, core_index, thread_index: 0, chip_id };
        add_threads(core, cells, path, first, dt)?;
        core_index = core_index
            .checked_add(1)
            .ok_or(DtError::TooMany { what: "CPU cores", max: usize::from(u16::MAX) })?;
    }
    if dt.timebase_hz.is_none() {
        dt.timebase_hz = timebase(cpus, cpus_path)?;
    }
    Ok(())
}

/// `timebase-frequency` of `node` (one or two cells), if present.
fn timebase(node: FdtNode<'_, '_>, path: NodePath) -> Result<Option<u64>, DtError> {
    let Some(v) = prop(node, "timebase-frequency") else {
        return Ok(None);
    };
    let why = "not a 1- or 2-cell number";
    one_or_two_cells(v).map(Some).ok_or(DtError::BadProperty { node: path, prop: "timebase-frequency", why })
}

/// `ibm,chip-id` of a core node, if present.
fn chip_id(node: FdtNode<'_, '_>, path: NodePath) -> Result<Option<u32>, DtError> {
    let Some(v) = prop(node, "ibm,chip-id") else {
        return Ok(None);
    };
    let why = "not a single 32-bit cell";
    one_cell(v).map(Some).ok_or(DtError::BadProperty { node: path, prop: "ibm,chip-id", why })
}

/// Adds one thread per entry of `ibm,ppc-interrupt-server#s`; without that
/// property, one thread whose PIR is the first address in the core's `reg`.
fn add_threads(
    core: FdtNode<'_, '_>,
    cells: Cells,
    path: NodePath,
    first: Thread,
    dt: &mut DeviceTree<'_>,
) -> Result<(), DtError> {
    let Some(servers) = prop(core, SERVERS) else {
        let pir = pir_from_reg(core, cells, path)?;
        return push(Thread { pir, ..first }, dt);
    };
    let bad = |why| DtError::BadProperty { node: path, prop: SERVERS, why };
    if servers.is_empty() || !servers.len().is_multiple_of(4) {
        return Err(bad("length is not a non-zero multiple of 4"));
    }
    for (i, cell) in servers.chunks_exact(4).enumerate() {
        let thread_index = u8::try_from(i).map_err(|_| bad("more than 256 threads in one core"))?;
        let pir = one_cell(cell).ok_or(bad("not 32-bit cells"))?;
        push(Thread { pir, thread_index, ..first }, dt)?;
    }
    Ok(())
}

/// The PIR of a core without `ibm,ppc-interrupt-server#s`: the first
/// address of its `reg` (decoded with the `/cpus` cell counts).
fn pir_from_reg(core: FdtNode<'_, '_>, cells: Cells, path: NodePath) -> Result<u32, DtError> {
    let bad = |prop, why| DtError::BadProperty { node: path, prop, why };
    let reg = prop(core, "reg").ok_or(bad(SERVERS, "missing, and no reg to fall back on"))?;
    let (address, _) =
        reg_entries(reg, cells).map_err(|why| bad("reg", why))?.next().ok_or(bad("reg", "empty"))?;
    u32::try_from(address).map_err(|_| bad("reg", "address does not fit a 32-bit PIR"))
}

/// Appends `thread`, rejecting a PIR seen before.
fn push(thread: Thread, dt: &mut DeviceTree<'_>) -> Result<(), DtError> {
    if dt.find_pir(thread.pir).is_some() {
        return Err(DtError::DuplicatePir(thread.pir));
    }
    dt.threads.push(thread).map_err(|_| DtError::TooMany { what: "CPU threads", max: MAX_THREADS })
}
