//! A checking reader: walks a console log, finds the KTAP document in it
//! and checks it against the KTAP v1 grammar, without allocating.
//!
//! - Lines before the first `KTAP version 1` are not KTAP (firmware output).
//! - Inside the document, a line that is not a version, plan, result or
//!   diagnostic line is an unknown line and is ignored, as the
//!   specification asks (the kernel's own messages appear between tests).
//! - Nesting is by indentation: a subtest opens with an indented version
//!   line and ends at the first result line indented less, which must be
//!   the parent's result line for the whole subtest.
//! - Result numbers count up from 1 at each level; a plan, if given, comes
//!   before the first result of its level and must equal the number of
//!   results there; a suite's result is `not ok` exactly when a test in it
//!   failed; a SKIP result is `ok`.
//! - `# Totals: pass:P fail:F skip:S` at the top level, if present, must
//!   equal the leaf results counted.

use crate::{Totals, MAX_DEPTH, VERSION_LINE};

/// What a valid document holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Leaf results (tests without subtests): SKIP and TODO count as skips.
    pub leaves: Totals,
    /// Subtests (suites) seen.
    pub suites: usize,
    /// Results at the top level.
    pub top_results: usize,
    /// The `# Totals:` line, if the document had one.
    pub totals_line: Option<Totals>,
}

/// Where and why a document is not valid KTAP v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// 1-based line number in the input.
    pub line: usize,
    pub what: &'static str,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

#[derive(Clone, Copy, Default)]
struct Level {
    indent: usize,
    plan: Option<usize>,
    results: usize,
    leaves: Totals,
}

enum Line<'a> {
    Version,
    Plan(usize),
    Result { ok: bool, number: usize, directive: Option<&'a str> },
    Diag(&'a str),
    Unknown,
}

fn number(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn classify(body: &str) -> Result<Line<'_>, &'static str> {
    if body == VERSION_LINE {
        return Ok(Line::Version);
    }
    if body.starts_with("KTAP version ") || body.starts_with("TAP version ") {
        return Err("only KTAP version 1 is understood");
    }
    if let Some(rest) = body.strip_prefix("1..") {
        let n = rest.split(" #").next().unwrap_or("").trim_end();
        return number(n).map(Line::Plan).ok_or("malformed plan line");
    }
    let (ok, rest) = if let Some(r) = body.strip_prefix("ok ") {
        (true, r)
    } else if let Some(r) = body.strip_prefix("not ok ") {
        (false, r)
    } else if body == "#" {
        return Ok(Line::Diag(""));
    } else if let Some(d) = body.strip_prefix("# ") {
        return Ok(Line::Diag(d));
    } else {
        return Ok(Line::Unknown);
    };
    let (num, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let number = number(num).ok_or("result line without a test number")?;
    if after.is_empty() || after.starts_with('#') {
        // KTAP allows a missing name, but this project always names tests.
        return Err("result line without a test name");
    }
    let directive = after.split_once(" # ").map(|(_, d)| d);
    Ok(Line::Result { ok, number, directive })
}

fn parse_totals(d: &str) -> Option<Totals> {
    let rest = d.strip_prefix("Totals: ")?;
    let mut t = Totals::default();
    let mut seen = 0;
    for field in rest.split_whitespace() {
        let (k, v) = field.split_once(':')?;
        let v = number(v)?;
        match k {
            "pass" => t.pass = v,
            "fail" => t.fail = v,
            "skip" => t.skip = v,
            _ => continue,
        }
        seen += 1;
    }
    (seen == 3).then_some(t)
}

fn is_word(directive: Option<&str>, word: &str) -> bool {
    directive.and_then(|d| d.split_whitespace().next()).is_some_and(|w| w.eq_ignore_ascii_case(word))
}

/// Checks the first KTAP document in `text`; returns its counts.
pub fn check(text: &str) -> Result<Counts, Error> {
    let mut stack = [Level::default(); MAX_DEPTH];
    let mut depth = 0usize;
    let mut started = false;
    let mut counts = Counts::default();
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        last_line = lineno;
        let raw = raw.trim_end_matches('\r');
        let body = raw.trim_start_matches(' ');
        let indent = raw.len() - body.len();
        let err = |what| Error { line: lineno, what };
        if !started {
            started = body == VERSION_LINE && indent == 0;
            continue;
        }
        match classify(body).map_err(err)? {
            Line::Unknown => {}
            Line::Version => {
                if indent <= stack[depth].indent {
                    if depth == 0 && indent == 0 {
                        break; // a second document: only the first is checked
                    }
                    return Err(err("version line not indented deeper than its parent"));
                }
                if depth + 1 >= MAX_DEPTH {
                    return Err(err("subtests nested too deep"));
                }
                depth += 1;
                stack[depth] = Level { indent, ..Level::default() };
                counts.suites += 1;
            }
            Line::Plan(n) => {
                if indent != stack[depth].indent {
                    return Err(err("plan line at the wrong indentation"));
                }
                if stack[depth].plan.is_some() || stack[depth].results > 0 {
                    return Err(err("plan must come once, before the first result of its level"));
                }
                stack[depth].plan = Some(n);
            }
            Line::Diag(d) => {
                if indent == 0 && depth == 0 {
                    if let Some(t) = parse_totals(d) {
                        if counts.totals_line.is_some() {
                            return Err(err("second Totals line"));
                        }
                        counts.totals_line = Some(t);
                    }
                }
            }
            Line::Result { ok, number, directive } => {
                if indent > stack[depth].indent {
                    return Err(err("result line indented deeper than its level (missing version line?)"));
                }
                // A line indented less than the open subtest is the
                // parent's result for that subtest.
                let mut closed = None;
                if indent < stack[depth].indent {
                    let l = stack[depth];
                    if l.plan.is_some_and(|p| p != l.results) {
                        return Err(err("a subtest ended with fewer or more results than its plan"));
                    }
                    depth -= 1;
                    closed = Some(l.leaves);
                }
                if indent != stack[depth].indent {
                    return Err(err("a subtest ended without its own result line, or a result line is misaligned"));
                }
                let level = &mut stack[depth];
                if number != level.results + 1 {
                    return Err(err("result numbers must count up from 1 at each level"));
                }
                level.results = number;
                if !ok && is_word(directive, "SKIP") {
                    return Err(err("a SKIP result must be 'ok'"));
                }
                match closed {
                    Some(t) => {
                        if ok != (t.fail == 0) {
                            return Err(err("a suite's result disagrees with its tests (not ok iff one failed)"));
                        }
                        level.leaves.pass += t.pass;
                        level.leaves.fail += t.fail;
                        level.leaves.skip += t.skip;
                    }
                    None if is_word(directive, "SKIP") || is_word(directive, "TODO") => level.leaves.skip += 1,
                    None if ok => level.leaves.pass += 1,
                    None => level.leaves.fail += 1,
                }
            }
        }
    }
    if !started {
        return Err(Error { line: last_line, what: "no 'KTAP version 1' line" });
    }
    if depth != 0 {
        return Err(Error { line: last_line, what: "input ended inside a subtest (no result line for it)" });
    }
    let top = stack[0];
    if top.plan.is_some_and(|p| p != top.results) {
        return Err(Error { line: last_line, what: "input ended before the top-level plan was complete" });
    }
    counts.leaves = top.leaves;
    counts.top_results = top.results;
    if counts.totals_line.is_some_and(|t| t != counts.leaves) {
        return Err(Error { line: last_line, what: "the Totals line disagrees with the results" });
    }
    Ok(counts)
}
