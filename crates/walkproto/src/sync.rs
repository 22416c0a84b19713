//! Atomics used by the protocol: `core::sync::atomic` normally, `loom`'s
//! instrumented copies when built with `--cfg loom`, so the very code the
//! kernel runs is what the model explores.
//!
//! Loom atomics have no `const fn new`, so constructors are written with
//! [`loom_const_fn!`] (const normally, plain under loom) and arrays with
//! [`array_of!`].

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

/// Atomics that are *not* part of the modelled protocol: the weak-memory
/// emulation's settings and per-CPU generators. They are `core`'s even under
/// loom, so they add no schedule points to the model (which never turns the
/// emulation on).
pub(crate) mod plain {
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
}

/// Defines a function that is `const` in normal builds and non-`const` under
/// loom (whose atomics cannot be built in a constant context).
macro_rules! loom_const_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($args:tt)*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$meta])*
        $vis const fn $name($($args)*) -> $ret $body

        #[cfg(loom)]
        $(#[$meta])*
        $vis fn $name($($args)*) -> $ret $body
    };
}

/// `[ctor; N]` for non-`Copy` element constructors: an inline-const array
/// normally, `core::array::from_fn` under loom.
#[cfg(not(loom))]
macro_rules! array_of {
    ($ctor:expr; $n:expr) => {
        [const { $ctor }; $n]
    };
}

/// `[ctor; N]` for non-`Copy` element constructors (loom flavour).
#[cfg(loom)]
macro_rules! array_of {
    ($ctor:expr; $n:expr) => {
        core::array::from_fn(|_| $ctor)
    };
}

pub(crate) use {array_of, loom_const_fn};
