//! Kernel command-line parser with a declared schema.
//!
//! Syntax: tokens separated by ASCII whitespace; each token is `key=value` or a
//! bare `key` (meaning `key=1`, only for [`Kind::Bool`]). Keys are ASCII
//! `[a-z0-9._-]+`. Values are any non-whitespace text; numbers accept decimal,
//! `0x` hex, and the suffixes `k`, `m`, `g` (binary multiples) and for durations
//! nothing else — the schema decides the meaning.
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![forbid(unsafe_code)]

use core::fmt;

/// Most tokens a command line may hold.
pub const MAX_ARGS: usize = 32;

/// What values a key accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Unsigned integer in `[min, max]`.
    U64 { min: u64, max: u64 },
    /// One of the listed names.
    Enum(&'static [&'static str]),
    /// `0|1|true|false|on|off`, or the bare key for true.
    Bool,
    /// Any non-empty text.
    Str,
}

/// One accepted key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// The key, e.g. `walk.strategy`.
    pub key: &'static str,
    /// Accepted values.
    pub kind: Kind,
    /// The value used when the key is absent, written as it would be on the
    /// command line (it must parse as `kind`; [`check_schema`] verifies), or
    /// `None` when absence has a meaning of its own (the reader gets `None`).
    pub default: Option<&'static str>,
    /// One-line description (printed in error messages and `--help` lists).
    pub help: &'static str,
}

/// Why a command line was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error<'a> {
    /// A key that is not in the schema.
    UnknownKey { key: &'a str, schema: &'static [KeySpec] },
    /// A token that is not `key=value` (empty key, bad characters).
    Malformed { token: &'a str },
    /// A value that does not fit its key's kind.
    BadValue { key: &'static str, value: &'a str, kind: Kind },
    /// The same key given twice.
    Duplicate { key: &'static str },
    /// More than [`MAX_ARGS`] tokens.
    TooMany,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::U64 { min, max } => write!(f, "an integer in [{min}, {max}]"),
            Kind::Enum(names) => {
                f.write_str("one of ")?;
                write_list(f, names.iter().copied())
            }
            Kind::Bool => f.write_str("a bool (0|1|true|false|on|off)"),
            Kind::Str => f.write_str("non-empty text"),
        }
    }
}

fn write_list<'s>(f: &mut fmt::Formatter<'_>, items: impl Iterator<Item = &'s str>) -> fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str("|")?;
        }
        f.write_str(item)?;
    }
    Ok(())
}

impl fmt::Display for Error<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownKey { key, schema } => {
                write!(f, "unknown bootarg `{key}`; valid keys: ")?;
                for (i, spec) in schema.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}=<{}>", spec.key, spec.kind)?;
                    if let Some(d) = spec.default {
                        write!(f, " (default {d})")?;
                    }
                }
                Ok(())
            }
            Error::Malformed { token } => {
                write!(f, "malformed bootarg `{token}`: expected key=value with key in [a-z0-9._-]")
            }
            Error::BadValue { key, value, kind } => {
                write!(f, "bad value `{value}` for bootarg `{key}`: expected {kind}")
            }
            Error::Duplicate { key } => write!(f, "bootarg `{key}` given more than once"),
            Error::TooMany => write!(f, "more than {MAX_ARGS} bootargs"),
        }
    }
}

/// A parsed, validated value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// From [`Kind::U64`].
    U64(u64),
    /// Index into the [`Kind::Enum`] names, and the name.
    Enum(usize, &'static str),
    /// From [`Kind::Bool`].
    Bool(bool),
    /// From [`Kind::Str`].
    Str(&'a str),
}

/// A validated command line: at most one value per schema key.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    schema: &'static [KeySpec],
    items: [Option<(usize, Value<'a>)>; MAX_ARGS],
    len: usize,
}

impl<'a> Args<'a> {
    /// Parses and validates `line` against `schema`.
    pub fn parse(line: &'a str, schema: &'static [KeySpec]) -> Result<Self, Error<'a>> {
        let mut args = Args { schema, items: [None; MAX_ARGS], len: 0 };
        for token in line.split_ascii_whitespace() {
            let (key, value) = split_token(token)?;
            let idx = schema.iter().position(|s| s.key == key).ok_or(Error::UnknownKey { key, schema })?;
            let spec = &schema[idx];
            let value = parse_value(spec, value)?;
            if args.find(idx).is_some() {
                return Err(Error::Duplicate { key: spec.key });
            }
            if args.len == MAX_ARGS {
                return Err(Error::TooMany);
            }
            args.items[args.len] = Some((idx, value));
            args.len += 1;
        }
        Ok(args)
    }

    fn find(&self, idx: usize) -> Option<Value<'a>> {
        self.items[..self.len].iter().flatten().find(|(i, _)| *i == idx).map(|(_, v)| *v)
    }

    fn lookup(&self, key: &str) -> Option<Value<'a>> {
        let idx = self.schema.iter().position(|s| s.key == key)?;
        self.find(idx)
    }

    /// The value given for `key`, if any. `key` must be in the schema.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        debug_assert!(self.schema.iter().any(|s| s.key == key), "key {key} not in schema");
        self.lookup(key)
    }

    /// The value given for `key`, else its schema default; `None` only for a
    /// key without a default that was not given.
    ///
    /// # Panics
    /// If `key` is not in the schema, or its default does not parse: both are
    /// programming errors, which the schema owner's host tests catch by reading
    /// every key once (see [`check_schema`]).
    pub fn value(&self, key: &str) -> Option<Value<'a>> {
        let Some(idx) = self.schema.iter().position(|s| s.key == key) else {
            panic!("bootarg key `{key}` is read but not declared in the schema");
        };
        if let Some(v) = self.find(idx) {
            return Some(v);
        }
        let spec = &self.schema[idx];
        spec.default.map(|d| match parse_value(spec, Some(d)) {
            Ok(v) => v,
            Err(_) => panic!("schema default `{d}` of `{key}` is not {}", spec.kind),
        })
    }

    /// Integer value of `key`, or `default`.
    pub fn u64_or(&self, key: &str, default: u64) -> u64 {
        match self.get(key) {
            Some(Value::U64(v)) => v,
            _ => default,
        }
    }

    /// Enum value of `key` as a name, or `default`.
    pub fn enum_or(&self, key: &str, default: &'static str) -> &'static str {
        match self.get(key) {
            Some(Value::Enum(_, name)) => name,
            _ => default,
        }
    }

    /// Bool value of `key`, or `default`.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => b,
            _ => default,
        }
    }

    /// Text value of `key`, or `default`.
    pub fn str_or(&self, key: &str, default: &'a str) -> &'a str {
        match self.get(key) {
            Some(Value::Str(s)) => s,
            _ => default,
        }
    }

    /// Number of keys given.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the command line was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A problem in a schema itself (not in a command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaError {
    /// A key that the command-line syntax could never spell.
    BadKey(&'static str),
    /// The same key declared twice.
    DuplicateKey(&'static str),
    /// A default that does not parse as the key's kind.
    BadDefault(&'static str),
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::BadKey(k) => write!(f, "schema key `{k}` is not [a-z0-9._-]+"),
            SchemaError::DuplicateKey(k) => write!(f, "schema key `{k}` declared twice"),
            SchemaError::BadDefault(k) => write!(f, "schema default of `{k}` does not parse as its kind"),
        }
    }
}

/// Checks a schema: keys valid and unique, every default parses as its kind.
/// Schema owners call it from a host test.
pub fn check_schema(schema: &'static [KeySpec]) -> Result<(), SchemaError> {
    for (i, spec) in schema.iter().enumerate() {
        if !valid_key(spec.key) {
            return Err(SchemaError::BadKey(spec.key));
        }
        if schema[..i].iter().any(|s| s.key == spec.key) {
            return Err(SchemaError::DuplicateKey(spec.key));
        }
        if let Some(d) = spec.default {
            if parse_value(spec, Some(d)).is_err() {
                return Err(SchemaError::BadDefault(spec.key));
            }
        }
    }
    Ok(())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-')
}

fn split_token(token: &str) -> Result<(&str, Option<&str>), Error<'_>> {
    let (key, value) = match token.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (token, None),
    };
    if !valid_key(key) {
        return Err(Error::Malformed { token });
    }
    Ok((key, value))
}

fn parse_value<'a>(spec: &KeySpec, value: Option<&'a str>) -> Result<Value<'a>, Error<'a>> {
    let bad = |v: &'a str| Error::BadValue { key: spec.key, value: v, kind: spec.kind };
    match (spec.kind, value) {
        (Kind::Bool, None) => Ok(Value::Bool(true)),
        (_, None) => Err(bad("")),
        (Kind::Bool, Some(v)) => match v {
            "1" | "true" | "on" | "yes" => Ok(Value::Bool(true)),
            "0" | "false" | "off" | "no" => Ok(Value::Bool(false)),
            _ => Err(bad(v)),
        },
        (Kind::U64 { min, max }, Some(v)) => match parse_u64(v) {
            Some(n) if n >= min && n <= max => Ok(Value::U64(n)),
            _ => Err(bad(v)),
        },
        (Kind::Enum(names), Some(v)) => {
            names.iter().position(|n| *n == v).map(|i| Value::Enum(i, names[i])).ok_or(bad(v))
        }
        (Kind::Str, Some(v)) if !v.is_empty() => Ok(Value::Str(v)),
        (Kind::Str, Some(v)) => Err(bad(v)),
    }
}

/// Parses decimal or `0x` hex with an optional `k`/`m`/`g` (×2^10/2^20/2^30)
/// suffix. `None` on any malformed input or overflow.
pub fn parse_u64(s: &str) -> Option<u64> {
    let (body, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1u64 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1u64 << 30),
        _ => (s, 1),
    };
    let n = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if hex.is_empty() || hex.starts_with('+') {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse::<u64>().ok()?
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    static SCHEMA: &[KeySpec] = &[
        KeySpec { key: "walk.strategy", kind: Kind::Enum(&["ipi", "count", "none"]), default: None, help: "strategy" },
        KeySpec { key: "walk.delay_ns", kind: Kind::U64 { min: 0, max: 1_000_000 }, default: Some("2000"), help: "delay" },
        KeySpec { key: "verbose", kind: Kind::Bool, default: None, help: "chatty" },
        KeySpec { key: "seed", kind: Kind::U64 { min: 0, max: u64::MAX }, default: Some("1"), help: "seed" },
        KeySpec { key: "ktest.filter", kind: Kind::Str, default: None, help: "filter" },
    ];

    #[test]
    fn parses_all_kinds() {
        let a =
            Args::parse("walk.strategy=count  walk.delay_ns=5k verbose seed=0x10 ktest.filter=smp", SCHEMA)
                .unwrap();
        assert_eq!(a.enum_or("walk.strategy", "ipi"), "count");
        assert_eq!(a.u64_or("walk.delay_ns", 0), 5 * 1024);
        assert!(a.bool_or("verbose", false));
        assert_eq!(a.u64_or("seed", 0), 16);
        assert_eq!(a.str_or("ktest.filter", ""), "smp");
        assert_eq!(a.len(), 5);
    }

    #[test]
    fn defaults_when_absent() {
        let a = Args::parse("   ", SCHEMA).unwrap();
        assert!(a.is_empty());
        assert_eq!(a.enum_or("walk.strategy", "ipi"), "ipi");
        assert_eq!(a.u64_or("seed", 7), 7);
        assert!(!a.bool_or("verbose", false));
    }

    #[test]
    fn unknown_key_lists_valid_keys() {
        let e = Args::parse("walk.stratgy=ipi", SCHEMA).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unknown bootarg `walk.stratgy`"), "{msg}");
        for spec in SCHEMA {
            assert!(msg.contains(spec.key), "{msg} lacks {}", spec.key);
        }
        assert!(msg.contains("ipi|count|none"), "{msg}");
    }

    #[test]
    fn bad_values_name_key_and_expectation() {
        let e = Args::parse("walk.strategy=rcux", SCHEMA).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad value `rcux` for bootarg `walk.strategy`: expected one of ipi|count|none"
        );
        let e = Args::parse("walk.delay_ns=2000000", SCHEMA).unwrap_err();
        assert!(e.to_string().contains("[0, 1000000]"));
        assert!(matches!(Args::parse("walk.delay_ns", SCHEMA), Err(Error::BadValue { .. })));
        assert!(matches!(Args::parse("verbose=maybe", SCHEMA), Err(Error::BadValue { .. })));
        assert!(matches!(Args::parse("ktest.filter=", SCHEMA), Err(Error::BadValue { .. })));
    }

    #[test]
    fn malformed_and_duplicates() {
        assert!(matches!(Args::parse("=5", SCHEMA), Err(Error::Malformed { .. })));
        assert!(matches!(Args::parse("Walk.strategy=ipi", SCHEMA), Err(Error::Malformed { .. })));
        assert!(matches!(Args::parse("seed=1 seed=2", SCHEMA), Err(Error::Duplicate { key: "seed" })));
    }

    #[test]
    fn too_many() {
        static BIG: &[KeySpec] = &[KeySpec { key: "x", kind: Kind::Bool, default: None, help: "" }];
        // Duplicates are caught first, so use a schema-free way to reach the limit:
        let line = "x ".repeat(2);
        assert!(matches!(Args::parse(&line, BIG), Err(Error::Duplicate { .. })));
        let keys: Vec<String> = (0..=MAX_ARGS).map(|i| format!("k{i}")).collect();
        let specs: Vec<KeySpec> = keys
            .iter()
            .map(|k| KeySpec { key: Box::leak(k.clone().into_boxed_str()), kind: Kind::Bool, default: None, help: "" })
            .collect();
        let schema: &'static [KeySpec] = Box::leak(specs.into_boxed_slice());
        let line = keys.join(" ");
        assert_eq!(Args::parse(&line, schema).unwrap_err(), Error::TooMany);
    }

    #[test]
    fn value_falls_back_to_the_schema_default() {
        let a = Args::parse("", SCHEMA).unwrap();
        assert_eq!(a.value("walk.delay_ns"), Some(Value::U64(2000)));
        assert_eq!(a.value("seed"), Some(Value::U64(1)));
        assert_eq!(a.value("verbose"), None);
        let a = Args::parse("walk.delay_ns=7 verbose", SCHEMA).unwrap();
        assert_eq!(a.value("walk.delay_ns"), Some(Value::U64(7)));
        assert_eq!(a.value("verbose"), Some(Value::Bool(true)));
    }

    #[test]
    #[should_panic(expected = "not declared in the schema")]
    fn reading_an_undeclared_key_panics() {
        let a = Args::parse("", SCHEMA).unwrap();
        let _ = a.value("walk.delayns");
    }

    #[test]
    fn schema_checks() {
        assert_eq!(check_schema(SCHEMA), Ok(()));
        static BAD_DEFAULT: &[KeySpec] =
            &[KeySpec { key: "n", kind: Kind::U64 { min: 1, max: 2 }, default: Some("3"), help: "" }];
        assert_eq!(check_schema(BAD_DEFAULT), Err(SchemaError::BadDefault("n")));
        static DUP: &[KeySpec] = &[
            KeySpec { key: "n", kind: Kind::Bool, default: None, help: "" },
            KeySpec { key: "n", kind: Kind::Bool, default: None, help: "" },
        ];
        assert_eq!(check_schema(DUP), Err(SchemaError::DuplicateKey("n")));
        static BAD_KEY: &[KeySpec] = &[KeySpec { key: "N", kind: Kind::Bool, default: None, help: "" }];
        assert_eq!(check_schema(BAD_KEY), Err(SchemaError::BadKey("N")));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), None);
        assert_eq!(parse_u64("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_u64("16g"), Some(16 << 30));
        assert_eq!(parse_u64("17179869184g"), None); // overflow
        assert_eq!(parse_u64("+5"), None);
        assert_eq!(parse_u64("0x"), None);
        assert_eq!(parse_u64("0x+1"), None);
        assert_eq!(parse_u64("k"), None);
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64(""), None);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in ".{0,300}") {
            let _ = Args::parse(&s, SCHEMA);
            let _ = parse_u64(&s);
        }

        #[test]
        fn never_panics_on_keyish_text(s in "[a-z._=0-9xkmg \\t-]{0,200}") {
            if let Err(e) = Args::parse(&s, SCHEMA) {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn decimal_roundtrip(n in any::<u64>()) {
            prop_assert_eq!(parse_u64(&n.to_string()), Some(n));
            prop_assert_eq!(parse_u64(&format!("{n:#x}")), Some(n));
        }

        #[test]
        fn accepted_values_are_in_range(n in any::<u64>()) {
            let line = format!("walk.delay_ns={n}");
            match Args::parse(&line, SCHEMA) {
                Ok(a) => prop_assert!(a.u64_or("walk.delay_ns", u64::MAX) <= 1_000_000),
                Err(Error::BadValue { .. }) => prop_assert!(n > 1_000_000),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
