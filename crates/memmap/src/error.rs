//! Error types. None of this crate's functions panic on bad input; they return
//! one of these.

use core::fmt;

/// A [`crate::RangeSet`] would need more than its fixed capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError {
    /// The set's capacity.
    pub capacity: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "range set full ({} ranges)", self.capacity)
    }
}

/// A problem with a memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// A range whose end is below its start.
    BadRange {
        /// Its start.
        start: u64,
        /// Its end.
        end: u64,
    },
    /// `base + size` does not fit in 64 bits.
    Overflow {
        /// The base.
        base: u64,
        /// The size.
        size: u64,
    },
    /// An alignment (frame size) that is not a power of two.
    BadAlign {
        /// The value given.
        align: u64,
    },
    /// More ranges than the result can hold.
    Capacity(CapacityError),
    /// Nothing usable is left.
    NoMemory,
    /// Less usable memory than required.
    TooLittleMemory {
        /// Usable bytes.
        have: u64,
        /// Bytes required.
        need: u64,
    },
}

impl From<CapacityError> for MapError {
    fn from(e: CapacityError) -> Self {
        MapError::Capacity(e)
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MapError::BadRange { start, end } => {
                write!(f, "bad range: end {end:#x} is below start {start:#x}")
            }
            MapError::Overflow { base, size } => {
                write!(f, "range {base:#x} + {size:#x} overflows 64 bits")
            }
            MapError::BadAlign { align } => write!(f, "alignment {align:#x} is not a power of two"),
            MapError::Capacity(e) => write!(f, "{e}"),
            MapError::NoMemory => f.write_str("no usable memory left after reservations"),
            MapError::TooLittleMemory { have, need } => {
                write!(f, "only {have:#x} bytes usable, need {need:#x}")
            }
        }
    }
}

/// A frame allocator could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The frame size is not a power of two.
    BadFrameSize {
        /// The value given.
        frame: u64,
    },
    /// The span's end is below its start.
    BadRange {
        /// Its start.
        start: u64,
        /// Its end.
        end: u64,
    },
    /// The bitmap slice is too short for the span.
    BitmapTooSmall {
        /// Words needed.
        need: usize,
        /// Words given.
        have: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::BadFrameSize { frame } => {
                write!(f, "frame size {frame:#x} is not a power of two")
            }
            AllocError::BadRange { start, end } => {
                write!(f, "bad span: end {end:#x} is below start {start:#x}")
            }
            AllocError::BitmapTooSmall { need, have } => {
                write!(f, "bitmap has {have} words, needs {need}")
            }
        }
    }
}

/// A free or reserve request was rejected (nothing was changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The frames are not (all) inside the allocator's span.
    OutOfRange {
        /// The address given.
        pa: u64,
        /// Frames requested.
        frames: u64,
    },
    /// The address is not on a frame boundary.
    Misaligned {
        /// The address given.
        pa: u64,
    },
    /// A frame in the run is already free.
    DoubleFree {
        /// The first frame found free.
        pa: u64,
    },
    /// A range whose end is below its start.
    BadRange {
        /// Its start.
        start: u64,
        /// Its end.
        end: u64,
    },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FreeError::OutOfRange { pa, frames } => {
                write!(f, "{frames} frames at {pa:#x} are outside the allocator")
            }
            FreeError::Misaligned { pa } => write!(f, "{pa:#x} is not frame aligned"),
            FreeError::DoubleFree { pa } => write!(f, "frame {pa:#x} is already free"),
            FreeError::BadRange { start, end } => {
                write!(f, "bad range: end {end:#x} is below start {start:#x}")
            }
        }
    }
}
