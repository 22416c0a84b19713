//! KTAP version 1 (the Linux kernel's Test Anything Protocol,
//! `Documentation/dev-tools/ktap.rst`): a writer that needs no allocation and
//! writes into any [`core::fmt::Write`], and a reader ([`check`]) that checks
//! a stream against the grammar and counts its results.
//!
//! The writer keeps the numbering and the pass/fail/skip counts of every
//! nesting level, so the caller only says what happened:
//!
//! ```text
//! KTAP version 1
//! 1..2
//!     KTAP version 1
//!     # Subtest: boot
//!     1..2
//!     ok 1 smp_all_online
//!     # expected 4, saw 3
//!     not ok 2 ipi_all_to_all
//! # boot: pass:1 fail:1 skip:0 total:2
//! not ok 1 boot
//! ...
//! # Totals: pass:P fail:F skip:S
//! ```
//!
//! Subtests are indented by four spaces per level, carry their own version
//! line and plan, and end with the parent's result line for the whole suite
//! (`ok` unless one of its tests failed). Diagnostics (`# text`) belong to
//! the result line that follows them, as the specification asks.
#![cfg_attr(not(test), no_std)]

mod reader;

use core::fmt::{self, Write};

pub use reader::{check, Counts, Error};

/// The version line every KTAP document and subtest starts with.
pub const VERSION_LINE: &str = "KTAP version 1";

/// How deep subtests may nest (the top level is depth 0).
pub const MAX_DEPTH: usize = 8;

/// A result line's directive (`# DIRECTIVE reason` after the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive<'a> {
    /// No directive.
    None,
    /// The test did not run here (`ok N name # SKIP reason`); counted as a skip.
    Skip(&'a str),
    /// A known failure (`not ok N name # TODO reason`); counted as a skip, as
    /// KUnit and kselftest do.
    Todo(&'a str),
    /// The test ran past its deadline (`not ok N name # TIMEOUT reason`).
    Timeout(&'a str),
    /// The test could not complete (`not ok N name # ERROR reason`).
    Error(&'a str),
}

impl Directive<'_> {
    fn word(&self) -> Option<(&'static str, &str)> {
        match *self {
            Directive::None => None,
            Directive::Skip(r) => Some(("SKIP", r)),
            Directive::Todo(r) => Some(("TODO", r)),
            Directive::Timeout(r) => Some(("TIMEOUT", r)),
            Directive::Error(r) => Some(("ERROR", r)),
        }
    }
}

/// Pass, fail and skip counts of leaf tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Totals {
    /// All three added up.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip
    }
    fn add(&mut self, o: Totals) {
        self.pass += o.pass;
        self.fail += o.fail;
        self.skip += o.skip;
    }
}

#[derive(Clone, Copy, Default)]
struct Level {
    /// Number of the last result line written at this level.
    number: usize,
    /// Leaf counts below this level (for the suite summary and the parent).
    totals: Totals,
}

/// Errors of the writer: the sink failed, or the caller nested too deep or
/// ended a subtest that was not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    Sink,
    TooDeep,
    NoSubtest,
}

impl From<fmt::Error> for WriteError {
    fn from(_: fmt::Error) -> Self {
        WriteError::Sink
    }
}

/// A KTAP document in progress. Every method writes whole lines.
pub struct Writer {
    levels: [Level; MAX_DEPTH],
    depth: usize,
    /// Names of the open subtests (for their summary and result lines).
    names: [&'static str; MAX_DEPTH],
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

fn indent(w: &mut dyn Write, depth: usize) -> fmt::Result {
    for _ in 0..depth {
        w.write_str("    ")?;
    }
    Ok(())
}

impl Writer {
    /// A document not yet started.
    pub const fn new() -> Self {
        Writer {
            levels: [Level { number: 0, totals: Totals { pass: 0, fail: 0, skip: 0 } }; MAX_DEPTH],
            depth: 0,
            names: [""; MAX_DEPTH],
        }
    }

    /// The current nesting depth (0 at the top level).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The number the next result line at the current level will carry.
    pub fn next_number(&self) -> usize {
        self.levels[self.depth].number + 1
    }

    /// Leaf counts so far, over every level.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for l in &self.levels[..=self.depth] {
            t.add(l.totals);
        }
        t
    }

    /// Starts the document: the version line and, when known, the plan.
    pub fn start(&mut self, w: &mut dyn Write, plan: Option<usize>) -> Result<(), WriteError> {
        self.depth = 0;
        self.levels[0] = Level::default();
        writeln!(w, "{VERSION_LINE}")?;
        if let Some(n) = plan {
            writeln!(w, "1..{n}")?;
        }
        Ok(())
    }

    /// Opens a subtest named `name`: indented version line, a `# Subtest:`
    /// header (KUnit's, accepted by the specification) and the plan.
    pub fn begin_subtest(
        &mut self,
        w: &mut dyn Write,
        name: &'static str,
        plan: Option<usize>,
    ) -> Result<(), WriteError> {
        if self.depth + 1 >= MAX_DEPTH {
            return Err(WriteError::TooDeep);
        }
        self.depth += 1;
        self.levels[self.depth] = Level::default();
        self.names[self.depth] = name;
        indent(w, self.depth)?;
        writeln!(w, "{VERSION_LINE}")?;
        indent(w, self.depth)?;
        writeln!(w, "# Subtest: {name}")?;
        if let Some(n) = plan {
            indent(w, self.depth)?;
            writeln!(w, "1..{n}")?;
        }
        Ok(())
    }

    /// Closes the innermost subtest: its summary diagnostic, then the
    /// parent's result line for it (`not ok` if any test in it failed).
    /// Returns the subtest's counts.
    pub fn end_subtest(&mut self, w: &mut dyn Write) -> Result<Totals, WriteError> {
        if self.depth == 0 {
            return Err(WriteError::NoSubtest);
        }
        let t = self.levels[self.depth].totals;
        let name = self.names[self.depth];
        indent(w, self.depth)?;
        writeln!(w, "# {name}: pass:{} fail:{} skip:{} total:{}", t.pass, t.fail, t.skip, t.total())?;
        self.depth -= 1;
        self.levels[self.depth].number += 1;
        self.levels[self.depth].totals.add(t);
        indent(w, self.depth)?;
        let skipped_all = t.total() > 0 && t.skip == t.total();
        let status = if t.fail == 0 { "ok" } else { "not ok" };
        write!(w, "{status} {} {name}", self.levels[self.depth].number)?;
        if skipped_all {
            write!(w, " # SKIP every test skipped")?;
        }
        writeln!(w)?;
        Ok(t)
    }

    /// Diagnostic lines (`# text`), one per line of `text`, at the current
    /// depth. Write them before the result line they explain.
    pub fn diag(&mut self, w: &mut dyn Write, text: &str) -> Result<(), WriteError> {
        for line in text.split('\n') {
            indent(w, self.depth)?;
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                writeln!(w, "#")?;
            } else {
                writeln!(w, "# {line}")?;
            }
        }
        Ok(())
    }

    /// One test's result line. `ok` is the outcome; the directive adds
    /// `# SKIP`/`# TODO`/`# TIMEOUT`/`# ERROR` and decides how the test is
    /// counted (SKIP and TODO count as skips, whatever `ok` says).
    pub fn result(
        &mut self,
        w: &mut dyn Write,
        ok: bool,
        name: &str,
        directive: Directive,
    ) -> Result<(), WriteError> {
        let level = &mut self.levels[self.depth];
        level.number += 1;
        match directive {
            Directive::Skip(_) | Directive::Todo(_) => level.totals.skip += 1,
            _ if ok => level.totals.pass += 1,
            _ => level.totals.fail += 1,
        }
        let n = level.number;
        indent(w, self.depth)?;
        write!(w, "{} {n} {}", if ok { "ok" } else { "not ok" }, Name(name))?;
        if let Some((word, reason)) = directive.word() {
            write!(w, " # {word}")?;
            let reason = reason.split('\n').next().unwrap_or("");
            if !reason.is_empty() {
                write!(w, " {reason}")?;
            }
        }
        writeln!(w)?;
        Ok(())
    }

    /// The closing `# Totals: pass:P fail:F skip:S` line (top level).
    pub fn finish(&mut self, w: &mut dyn Write) -> Result<Totals, WriteError> {
        while self.depth > 0 {
            self.end_subtest(w)?;
        }
        let t = self.totals();
        writeln!(w, "# Totals: pass:{} fail:{} skip:{}", t.pass, t.fail, t.skip)?;
        Ok(t)
    }
}

/// A test name as it may appear on a result line: `#` would start a
/// directive and a line break would end the line, so both become `_`.
struct Name<'a>(&'a str);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c == '#' || c == '\n' || c == '\r' { '_' } else { c })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
