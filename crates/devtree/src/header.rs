//! The 40-byte FDT header (version 17) and its sanity checks.

use crate::error::DtError;
use crate::props::be_u32_at;

/// First word of every FDT blob.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the version-17 header.
pub const HEADER_LEN: usize = 40;
/// Largest `totalsize` accepted (16 MiB). skiboot's trees are tens of KiB;
/// the limit stops a corrupt header from making the kernel build a huge slice.
pub const MAX_TOTAL_SIZE: usize = 16 << 20;
/// Header version this reader speaks (it needs `size_dt_struct`, added in 17).
const VERSION: u32 = 17;
/// Size of one memory-reservation entry (two big-endian u64).
pub(crate) const RSV_ENTRY_LEN: usize = 16;

/// Header fields, converted to native integers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    /// `magic`.
    pub magic: u32,
    /// `totalsize`: bytes of the whole blob.
    pub totalsize: usize,
    /// `off_dt_struct`: structure block offset.
    pub off_dt_struct: usize,
    /// `off_dt_strings`: strings block offset.
    pub off_dt_strings: usize,
    /// `off_mem_rsvmap`: memory-reservation block offset.
    pub off_mem_rsvmap: usize,
    /// `version`.
    pub version: u32,
    /// `last_comp_version`.
    pub last_comp_version: u32,
    /// `boot_cpuid_phys`.
    pub boot_cpuid_phys: u32,
    /// `size_dt_strings`: strings block length.
    pub size_dt_strings: usize,
    /// `size_dt_struct`: structure block length.
    pub size_dt_struct: usize,
}

/// Messages for one block's bound checks.
struct BlockMsgs {
    /// Offset below [`HEADER_LEN`].
    in_header: &'static str,
    /// Offset not aligned.
    misaligned: &'static str,
    /// Block ends past `totalsize`.
    past_end: &'static str,
}

impl Header {
    /// Reads the header from the start of `bytes`. A wrong magic is reported
    /// before a short buffer, so 4 bytes are enough to reject a non-FDT.
    pub(crate) fn read(bytes: &[u8]) -> Result<Header, DtError> {
        if let Some(magic) = be_u32_at(bytes, 0) {
            if magic != FDT_MAGIC {
                return Err(DtError::BadMagic(magic));
            }
        }
        if bytes.len() < HEADER_LEN {
            return Err(DtError::Truncated { need: HEADER_LEN, have: bytes.len() });
        }
        let word = |i: usize| be_u32_at(bytes, i.saturating_mul(4)).unwrap_or(0);
        Ok(Header {
            magic: word(0),
            totalsize: usize_of(word(1)),
            off_dt_struct: usize_of(word(2)),
            off_dt_strings: usize_of(word(3)),
            off_mem_rsvmap: usize_of(word(4)),
            version: word(5),
            last_comp_version: word(6),
            boot_cpuid_phys: word(7),
            size_dt_strings: usize_of(word(8)),
            size_dt_struct: usize_of(word(9)),
        })
    }

    /// Checks everything that can be checked from the header alone.
    pub(crate) fn check(&self) -> Result<(), DtError> {
        if self.magic != FDT_MAGIC {
            return Err(DtError::BadMagic(self.magic));
        }
        if self.version < VERSION || self.last_comp_version > VERSION {
            return Err(DtError::UnsupportedVersion {
                version: self.version,
                last_comp_version: self.last_comp_version,
            });
        }
        if self.totalsize < HEADER_LEN {
            return Err(DtError::BadHeader("totalsize is smaller than the header"));
        }
        if self.totalsize > MAX_TOTAL_SIZE {
            return Err(DtError::BadHeader("totalsize is larger than 16 MiB"));
        }
        self.check_blocks()
    }

    /// Checks that the three blocks lie inside `totalsize`, after the
    /// header, and aligned as the format requires.
    fn check_blocks(&self) -> Result<(), DtError> {
        let rsv = BlockMsgs {
            in_header: "memory reservation block starts inside the header",
            misaligned: "memory reservation block is not 8-byte aligned",
            past_end: "memory reservation block has no room for its terminator",
        };
        self.check_block(self.off_mem_rsvmap, RSV_ENTRY_LEN, 8, &rsv)?;
        let structs = BlockMsgs {
            in_header: "structure block starts inside the header",
            misaligned: "structure block is not 4-byte aligned",
            past_end: "structure block ends past totalsize",
        };
        self.check_block(self.off_dt_struct, self.size_dt_struct, 4, &structs)?;
        let strings = BlockMsgs {
            in_header: "strings block starts inside the header",
            misaligned: "strings block is misaligned",
            past_end: "strings block ends past totalsize",
        };
        self.check_block(self.off_dt_strings, self.size_dt_strings, 1, &strings)
    }

    /// Checks one block `[off, off + len)`.
    fn check_block(&self, off: usize, len: usize, align: usize, msgs: &BlockMsgs) -> Result<(), DtError> {
        if off < HEADER_LEN {
            return Err(DtError::BadHeader(msgs.in_header));
        }
        if off.checked_rem(align) != Some(0) {
            return Err(DtError::BadHeader(msgs.misaligned));
        }
        match off.checked_add(len) {
            Some(end) if end <= self.totalsize => Ok(()),
            _ => Err(DtError::BadHeader(msgs.past_end)),
        }
    }

    /// `blob` cut to `totalsize`, or `Truncated` if it is shorter.
    pub(crate) fn trim<'a>(&self, blob: &'a [u8]) -> Result<&'a [u8], DtError> {
        blob.get(..self.totalsize).ok_or(DtError::Truncated { need: self.totalsize, have: blob.len() })
    }
}

/// A header word as `usize` (lossless: this crate needs 32-bit or wider
/// `usize`; saturates otherwise, which the size limit then rejects).
fn usize_of(word: u32) -> usize {
    usize::try_from(word).unwrap_or(usize::MAX)
}

/// Validates the first [`HEADER_LEN`] bytes of a blob and returns its
/// `totalsize`, so the caller knows how long a slice to make before calling
/// [`crate::parse`].
///
/// Checks the magic, the version (>= 17, last compatible <= 17),
/// `HEADER_LEN <= totalsize <= MAX_TOTAL_SIZE`, and that the reservation,
/// structure and strings blocks lie inside `totalsize` with the required
/// alignment. Only the first 40 bytes of `first_bytes` are looked at.
pub fn header_total_size(first_bytes: &[u8]) -> Result<usize, DtError> {
    let header = Header::read(first_bytes)?;
    header.check()?;
    Ok(header.totalsize)
}
