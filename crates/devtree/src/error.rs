//! Errors of [`crate::parse`] and [`crate::header_total_size`].

use core::fmt;

/// Longest node path an error keeps, in bytes; longer paths are cut at a
/// character boundary and end in `...`.
pub const NODE_PATH_MAX: usize = 64;

/// Marker appended to a cut path.
const ELLIPSIS: &str = "...";

/// A node path copied into a fixed buffer, so that errors do not borrow the
/// blob (and stay `Copy`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NodePath {
    /// UTF-8 bytes; only `buf[..len]` is meaningful.
    buf: [u8; NODE_PATH_MAX],
    /// Bytes used.
    len: usize,
}

impl NodePath {
    /// The path of node `name` under `parent` (`"/"` for root children):
    /// `NodePath::new("/cpus", "PowerPC,POWER9@0")` is
    /// `/cpus/PowerPC,POWER9@0`; an empty `name` gives `parent` itself.
    pub fn new(parent: &str, name: &str) -> Self {
        let mut path = NodePath { buf: [0; NODE_PATH_MAX], len: 0 };
        let parent = parent.trim_end_matches('/');
        if name.is_empty() && !parent.is_empty() {
            path.append(&[parent]);
        } else {
            path.append(&[parent, "/", name]);
        }
        path
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("?")
    }

    /// Appends `parts`, cutting with `...` if they do not all fit.
    fn append(&mut self, parts: &[&str]) {
        let total = parts.iter().fold(0usize, |n, p| n.saturating_add(p.len()));
        let room =
            if total <= NODE_PATH_MAX { NODE_PATH_MAX } else { NODE_PATH_MAX.saturating_sub(ELLIPSIS.len()) };
        let mut full = true;
        for ch in parts.iter().flat_map(|p| p.chars()) {
            if !self.push_char(ch, room) {
                full = false;
                break;
            }
        }
        if !full {
            for ch in ELLIPSIS.chars() {
                self.push_char(ch, NODE_PATH_MAX);
            }
        }
    }

    /// Appends one character if it fits in `room` bytes; false if not.
    fn push_char(&mut self, ch: char, room: usize) -> bool {
        let mut utf8 = [0u8; 4];
        let encoded = ch.encode_utf8(&mut utf8).as_bytes();
        let end = self.len.saturating_add(encoded.len());
        match self.buf.get_mut(self.len..end) {
            Some(dst) if end <= room => {
                dst.copy_from_slice(encoded);
                self.len = end;
                true
            }
            _ => false,
        }
    }
}

impl fmt::Display for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Why a blob was rejected. `Display` gives a one-line message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtError {
    /// The first word is not `0xd00dfeed` (big-endian): not an FDT, or the
    /// wrong address.
    BadMagic(u32),
    /// Header `version` below 17 (this reader needs the v17 header fields)
    /// or `last_comp_version` above 17.
    UnsupportedVersion {
        /// Header `version`.
        version: u32,
        /// Header `last_comp_version`.
        last_comp_version: u32,
    },
    /// Fewer bytes than the header (40) or than `totalsize`.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// A header field is impossible (size limits, block offsets, alignment).
    BadHeader(&'static str),
    /// The memory-reservation or structure block is malformed at `offset`
    /// (bytes from the start of the blob).
    BadStructure {
        /// Byte offset in the blob.
        offset: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// No memory node gave a non-empty range.
    NoMemory,
    /// No thread found (no `/cpus`, or no available child with
    /// `device_type = "cpu"`).
    NoCpus,
    /// More entries than a fixed-capacity list holds.
    TooMany {
        /// What overflowed.
        what: &'static str,
        /// Its capacity.
        max: usize,
    },
    /// A property this reader needs is malformed.
    BadProperty {
        /// Path of the node holding it.
        node: NodePath,
        /// Property name.
        prop: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// Two threads share a PIR.
    DuplicatePir(u32),
    /// A range's `base + size` does not fit in 64 bits.
    Overflow {
        /// Which kind of range.
        what: &'static str,
        /// Its base.
        base: u64,
        /// Its size.
        size: u64,
    },
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtError::BadMagic(m) => {
                write!(f, "device tree: bad magic {m:#010x} (expected 0xd00dfeed)")
            }
            DtError::UnsupportedVersion { version, last_comp_version } => write!(
                f,
                "device tree: unsupported version {version} (last compatible \
                 {last_comp_version}); need version >= 17, last compatible <= 17"
            ),
            DtError::Truncated { need, have } => {
                write!(f, "device tree: truncated: need {need} bytes, have {have}")
            }
            DtError::BadHeader(why) => write!(f, "device tree: bad header: {why}"),
            DtError::BadStructure { offset, why } => {
                write!(f, "device tree: malformed at byte {offset:#x}: {why}")
            }
            DtError::NoMemory => f.write_str("device tree: no memory node with a non-empty reg"),
            DtError::NoCpus => {
                f.write_str("device tree: no CPU threads (no available /cpus child of type cpu)")
            }
            DtError::TooMany { what, max } => {
                write!(f, "device tree: too many {what} (at most {max})")
            }
            DtError::BadProperty { node, prop, why } => {
                write!(f, "device tree: {node}: property {prop}: {why}")
            }
            DtError::DuplicatePir(pir) => write!(f, "device tree: duplicate PIR {pir:#x} in /cpus"),
            DtError::Overflow { what, base, size } => {
                write!(f, "device tree: {what} {base:#x} + {size:#x} overflows 64 bits")
            }
        }
    }
}
