//! Decoding of raw property values (big-endian cells, strings, `reg`), and
//! the few `fdt` node accessors this crate uses (all panic-free once the blob
//! passed `validate::structure`).

use crate::error::{DtError, NodePath};
use fdt::node::FdtNode;

/// Big-endian u32 at byte `at` of `bytes`, if all four bytes are there.
pub(crate) fn be_u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let word: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Big-endian u64 at byte `at` of `bytes`, if all eight bytes are there.
pub(crate) fn be_u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    let word: [u8; 8] = bytes.get(at..end)?.try_into().ok()?;
    Some(u64::from_be_bytes(word))
}

/// A value of exactly one cell (4 bytes).
pub(crate) fn one_cell(value: &[u8]) -> Option<u32> {
    match value.len() {
        4 => be_u32_at(value, 0),
        _ => None,
    }
}

/// A value of one or two cells (4 or 8 bytes), as `u64`.
pub(crate) fn one_or_two_cells(value: &[u8]) -> Option<u64> {
    match value.len() {
        4 => be_u32_at(value, 0).map(u64::from),
        8 => be_u64_at(value, 0),
        _ => None,
    }
}

/// Big-endian number made of at most 8 bytes (0 for no bytes).
fn be_number(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| acc.wrapping_shl(8) | u64::from(b))
}

/// The bytes before the first NUL (all of them if there is none). Used for
/// comparisons like `device_type == "cpu"`, which never fail.
pub(crate) fn c_bytes(value: &[u8]) -> &[u8] {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    value.get(..end).unwrap_or(value)
}

/// The first string of a string or string-list value: it must end in NUL and
/// be UTF-8 up to its first NUL.
pub(crate) fn first_string(value: &[u8]) -> Result<&str, &'static str> {
    if value.last() != Some(&0) {
        return Err("not NUL-terminated");
    }
    core::str::from_utf8(c_bytes(value)).map_err(|_| "not valid UTF-8")
}

/// The value of property `name` of `node`.
pub(crate) fn prop<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a [u8]> {
    node.properties().find(|p| p.name == name).map(|p| p.value)
}

/// True unless the node's `status` is something other than `okay`/`ok`.
pub(crate) fn available(node: FdtNode<'_, '_>) -> bool {
    match prop(node, "status") {
        None => true,
        Some(v) => matches!(c_bytes(v), b"okay" | b"ok"),
    }
}

/// True if the node's `device_type` is `kind`.
pub(crate) fn has_type(node: FdtNode<'_, '_>, kind: &[u8]) -> bool {
    prop(node, "device_type").is_some_and(|v| c_bytes(v) == kind)
}

/// `#address-cells` / `#size-cells` a node gives its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cells {
    /// Cells per address (0..=2).
    pub address: usize,
    /// Cells per size (0..=2).
    pub size: usize,
}

impl Cells {
    /// The cell counts of `node` (at `path`), with the spec's defaults of 2
    /// and 1 where absent. Counts above 2 cannot fit a `u64` and are errors.
    pub(crate) fn of(node: FdtNode<'_, '_>, path: NodePath) -> Result<Cells, DtError> {
        Ok(Cells {
            address: cell_count(node, path, "#address-cells", 2)?,
            size: cell_count(node, path, "#size-cells", 1)?,
        })
    }

    /// Bytes of one `(address, size)` entry.
    fn stride(self) -> usize {
        self.address.saturating_add(self.size).saturating_mul(4)
    }
}

/// One cell-count property, `default` if absent.
fn cell_count(
    node: FdtNode<'_, '_>,
    path: NodePath,
    name: &'static str,
    default: usize,
) -> Result<usize, DtError> {
    let bad = |why| DtError::BadProperty { node: path, prop: name, why };
    match prop(node, name) {
        None => Ok(default),
        Some(v) => match one_cell(v).ok_or(bad("not a single 32-bit cell"))? {
            n @ 0..=2 => Ok(usize::try_from(n).unwrap_or(2)),
            _ => Err(bad("more than 2 cells is not supported")),
        },
    }
}

/// Splits a `reg` value into `(address, size)` pairs.
pub(crate) fn reg_entries(
    value: &[u8],
    cells: Cells,
) -> Result<impl Iterator<Item = (u64, u64)> + '_, &'static str> {
    let stride = cells.stride();
    if stride == 0 {
        return Err("#address-cells and #size-cells are both 0");
    }
    if value.len().checked_rem(stride) != Some(0) {
        return Err("length is not a whole number of (address, size) entries");
    }
    let split = cells.address.saturating_mul(4);
    Ok(value.chunks_exact(stride).map(move |entry| {
        let address = entry.get(..split).map_or(0, be_number);
        let size = entry.get(split..).map_or(0, be_number);
        (address, size)
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(be_u32_at(&[0, 0, 1, 2, 3], 1), Some(0x0001_0203));
        assert_eq!(be_u32_at(&[0, 0, 1], 0), None);
        assert_eq!(be_u32_at(&[0; 4], usize::MAX), None);
        assert_eq!(one_or_two_cells(&[0, 0, 0, 1, 0, 0, 0, 2]), Some(0x1_0000_0002));
        assert_eq!(one_or_two_cells(&[0, 0, 0, 7]), Some(7));
        assert_eq!(one_or_two_cells(&[0; 12]), None);
        assert_eq!(one_cell(&[0; 8]), None);
        assert_eq!(be_number(&[]), 0);
        assert_eq!(be_number(&[0xff; 8]), u64::MAX);
    }

    #[test]
    fn strings() {
        assert_eq!(c_bytes(b"cpu\0x"), b"cpu");
        assert_eq!(c_bytes(b"cpu"), b"cpu");
        assert_eq!(first_string(b"a\0b\0"), Ok("a"));
        assert_eq!(first_string(b"\0"), Ok(""));
        assert_eq!(first_string(b""), Err("not NUL-terminated"));
        assert_eq!(first_string(b"a\0b"), Err("not NUL-terminated"));
        assert_eq!(first_string(b"\xc3\0"), Err("not valid UTF-8"));
    }

    #[test]
    fn reg_decoding() {
        let cells = Cells { address: 2, size: 1 };
        let v = [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        let got: Vec<_> = reg_entries(&v, cells).unwrap().collect();
        assert_eq!(got, [(0x1_0000_0002, 3)]);
        let cells = Cells { address: 1, size: 0 };
        let got: Vec<_> = reg_entries(&v, cells).unwrap().collect();
        assert_eq!(got, [(1, 0), (2, 0), (3, 0)]);
        assert!(reg_entries(&v[..8], Cells { address: 2, size: 1 }).is_err());
        assert!(reg_entries(&v, Cells { address: 0, size: 0 }).is_err());
        assert_eq!(reg_entries(&[], Cells { address: 2, size: 2 }).unwrap().count(), 0);
    }
}
