//! Full check of the structure block before the `fdt` crate sees it.
//!
//! `fdt` 0.1.5 indexes and `unwrap`s freely while walking; it panics (or
//! recurses without bound) on: a property whose value runs past the block; a
//! name offset outside the strings block; a property or node name without a
//! NUL or not UTF-8; a truncated token stream; a property after a child node;
//! `FDT_NOP` between properties or before a child node (its node-skipping
//! code does not expect them); a non-empty root name (then `find_node("/")`
//! falls back to alias lookup); and very deep nesting. This walker rejects
//! every one of those shapes, iteratively, so `fdt` only ever walks trees in
//! the plain shape `dtc`, libfdt's sequential writer, QEMU and skiboot emit.

use crate::error::DtError;
use crate::header::Header;
use crate::props::be_u32_at;

/// Deepest node nesting accepted (root is depth 1). Bounds `fdt`'s
/// recursion on the kernel stack; real trees are about 6 deep.
pub const MAX_DEPTH: usize = 32;

/// Structure block token: start of a node, followed by its NUL-terminated name.
const FDT_BEGIN_NODE: u32 = 1;
/// Structure block token: end of a node.
const FDT_END_NODE: u32 = 2;
/// Structure block token: property (length, name offset, value).
const FDT_PROP: u32 = 3;
/// Structure block token: no-op.
const FDT_NOP: u32 = 4;
/// Structure block token: end of the block.
const FDT_END: u32 = 9;

/// Walk state.
struct Walker<'a> {
    /// The structure block.
    structs: &'a [u8],
    /// The strings block.
    strings: &'a [u8],
    /// Offset of the structure block in the blob (for error offsets).
    base: usize,
    /// Current offset in the structure block.
    pos: usize,
    /// Current nesting depth (0 outside the root).
    depth: usize,
    /// Whether the root node has been opened.
    root_seen: bool,
    /// The previous token.
    prev: u32,
}

/// Checks every token of the structure block of `blob` (already cut to
/// `totalsize`, with a checked `header`).
pub(crate) fn structure(blob: &[u8], header: &Header) -> Result<(), DtError> {
    let structs = block(blob, header.off_dt_struct, header.size_dt_struct)?;
    let strings = block(blob, header.off_dt_strings, header.size_dt_strings)?;
    let mut w =
        Walker { structs, strings, base: header.off_dt_struct, pos: 0, depth: 0, root_seen: false, prev: 0 };
    loop {
        let token = w.token()?;
        match token {
            FDT_BEGIN_NODE => w.begin_node()?,
            FDT_PROP => w.property()?,
            FDT_END_NODE => w.end_node()?,
            FDT_END => return w.end(),
            FDT_NOP => return Err(w.error("FDT_NOP token (unsupported: the fdt crate mis-walks it)")),
            _ => return Err(w.error("unknown token")),
        }
        w.prev = token;
    }
}

/// `blob[off..off + len]`, which the header check already bounded.
fn block(blob: &[u8], off: usize, len: usize) -> Result<&[u8], DtError> {
    off.checked_add(len)
        .and_then(|end| blob.get(off..end))
        .ok_or(DtError::BadHeader("block outside the blob"))
}

/// `n` rounded up to a multiple of 4.
fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|m| m & !3)
}

impl Walker<'_> {
    /// A structure error at the current position.
    fn error(&self, why: &'static str) -> DtError {
        DtError::BadStructure { offset: self.base.saturating_add(self.pos), why }
    }

    /// The token at the current position.
    fn token(&self) -> Result<u32, DtError> {
        be_u32_at(self.structs, self.pos).ok_or(self.error("structure block ends without FDT_END"))
    }

    /// Moves to `pos + len`, rounded up to 4 bytes; the result must stay
    /// inside the block.
    fn advance(&mut self, len: usize) -> Result<(), DtError> {
        match self.pos.checked_add(len).and_then(align4) {
            Some(next) if next <= self.structs.len() => {
                self.pos = next;
                Ok(())
            }
            _ => Err(self.error("token runs past the end of the structure block")),
        }
    }

    /// `FDT_BEGIN_NODE` and its name.
    fn begin_node(&mut self) -> Result<(), DtError> {
        if self.depth == 0 && self.root_seen {
            return Err(self.error("second root node"));
        }
        let name_at = self.pos.saturating_add(4);
        let rest = self.structs.get(name_at..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == 0).ok_or(self.error("node name has no NUL"))?;
        let name = rest.get(..len).unwrap_or(&[]);
        if core::str::from_utf8(name).is_err() {
            return Err(self.error("node name is not UTF-8"));
        }
        if self.depth == 0 && !name.is_empty() {
            return Err(self.error("root node name is not empty"));
        }
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return Err(self.error("nodes nested deeper than MAX_DEPTH"));
        }
        self.root_seen = true;
        self.advance(len.saturating_add(5))
    }

    /// `FDT_PROP`: header, value bounds, name string.
    fn property(&mut self) -> Result<(), DtError> {
        if self.prev != FDT_BEGIN_NODE && self.prev != FDT_PROP {
            return Err(self.error("property outside a node or after a child node"));
        }
        let len = self.field(4)?;
        let name_off = self.field(8)?;
        self.check_name(name_off)?;
        self.advance(len.saturating_add(12))
    }

    /// A u32 field `at` bytes after the current token, as `usize`.
    fn field(&self, at: usize) -> Result<usize, DtError> {
        be_u32_at(self.structs, self.pos.saturating_add(at))
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(self.error("property header runs past the structure block"))
    }

    /// The property name at `off` in the strings block.
    fn check_name(&self, off: usize) -> Result<(), DtError> {
        let rest = self.strings.get(off..).filter(|r| !r.is_empty());
        let rest = rest.ok_or(self.error("property name offset is outside the strings block"))?;
        let len = rest.iter().position(|&b| b == 0).ok_or(self.error("property name has no NUL"))?;
        match rest.get(..len).map(core::str::from_utf8) {
            Some(Ok(_)) => Ok(()),
            _ => Err(self.error("property name is not UTF-8")),
        }
    }

    /// `FDT_END_NODE`.
    fn end_node(&mut self) -> Result<(), DtError> {
        self.depth = self.depth.checked_sub(1).ok_or(self.error("FDT_END_NODE without a node"))?;
        self.advance(4)
    }

    /// `FDT_END`: the root must have been opened and closed.
    fn end(&self) -> Result<(), DtError> {
        match (self.root_seen, self.depth) {
            (true, 0) => Ok(()),
            (false, _) => Err(self.error("FDT_END before the root node")),
            _ => Err(self.error("FDT_END inside a node")),
        }
    }
}
