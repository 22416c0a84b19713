//! The README's benchmark tables, made from the JSON documents alone, so
//! that `benchplot readme docs/bench.json docs/bench-past16.json --write
//! README.md` regenerates them. Every sentence that compares numbers is
//! decided here from the intervals: a difference is called a trend only
//! when the two 95 % intervals do not overlap, and a goal is met only when
//! the whole interval is on the right side of it.

use std::fmt::Write as _;

use serde_json::Value;

use crate::stats::Summary;
use crate::svg::oversubscription;
use crate::{distinct, matrix_entry, strategies_in, summary_at, walker_entry, LOADS};

/// Marks the generated section in the README.
pub const BEGIN: &str = "<!-- benchplot:begin (generated from docs/bench*.json by `cargo run -p benchplot -- readme`; do not edit by hand) -->";
/// End of the generated section.
pub const END: &str = "<!-- benchplot:end -->";

/// The cover letter's numbers (Leonardo Bras, "powerpc/mm: Introduce
/// lockless pgtable walk tracking", v4/v5, 2019): munmap of 496 GB of THP
/// in a 128-CPU guest, 275 s with the IPI broadcast, 418 ms with the
/// counting registry.
const BRAS_GB: f64 = 496.0;
const BRAS_CPUS: f64 = 128.0;
const BRAS_IPI_S: f64 = 275.0;
const BRAS_COUNT_S: f64 = 0.418;

/// Three significant digits, without exponent notation.
pub fn sig(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        (2 - a.log10().floor() as i32).clamp(0, 6) as usize
    };
    let s = format!("{v:.decimals$}");
    if a >= 10_000.0 {
        group(&s)
    } else {
        s
    }
}

/// Thousands separators for an integer string.
fn group(s: &str) -> String {
    let (sign, digits) = s.strip_prefix('-').map_or(("", s), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// `median [lo–hi]`.
fn with_ci(s: &Summary) -> String {
    format!("{} [{}–{}]", sig(s.median), sig(s.lo), sig(s.hi))
}

/// `+1.23 % [+1.10, +1.31]`.
fn pct(s: &Summary) -> String {
    format!("{:+.2} [{:+.2}, {:+.2}]", s.median, s.lo, s.hi)
}

/// The value of an event count: the median, and the range if it varied.
fn count(s: &Summary) -> String {
    if s.min == s.max {
        sig(s.median)
    } else {
        format!("{} ({}–{})", sig(s.median), sig(s.min), sig(s.max))
    }
}

fn event(e: &Value, op: &str, name: &str) -> Option<Summary> {
    summary_at(e, &["events_per_op", op, name])
}

fn event_or_zero(e: &Value, op: &str, name: &str) -> String {
    event(e, op, name).map_or_else(|| "0".to_string(), |s| count(&s))
}

/// The topology a document is mostly about (the one with the most cells).
fn main_online(doc: &Value) -> Option<u64> {
    let onlines = distinct(doc, "matrix", "cpus_online");
    onlines.into_iter().max_by_key(|o| {
        doc["matrix"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|e| e["cpus_online"].as_u64() == Some(*o)).count())
    })
}

fn provenance(out: &mut String, docs: &[(&str, &Value)]) {
    out.push_str("| file | run | commit | QEMU | host CPU, cores | machine, -smp | reps | seed | bootargs |\n|---|---|---|---|---|---|---|---|---|\n");
    for (name, doc) in docs {
        for r in doc["runs"].as_array().into_iter().flatten() {
            let h = &r["host"];
            let m = &r["meta"];
            let s = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            let dirty = if h["dirty"].as_bool() == Some(true) { "+dirty" } else { "" };
            let _ = writeln!(
                out,
                "| {name} | {} | `{}`{dirty} | {} | {}, {} | {}, `{}` | {} | {} | `{}` |",
                r["run"],
                s(&h["commit"]),
                s(&h["qemu"]),
                s(&h["host_cpu"]),
                s(&h["host_cores"]),
                s(&h["machine"]),
                s(&h["smp"]),
                s(&m["reps"]),
                s(&m["seed"]),
                s(&m["bootargs"])
            );
        }
    }
}

fn munmap_tables(out: &mut String, doc: &Value, online: u64) {
    let counts: Vec<u64> = distinct(doc, "matrix", "cpus").into_iter().filter(|&c| c <= online).collect();
    let strategies = strategies_in(doc, "matrix");
    let thps = doc["matrix"][0]["thps"].as_u64().unwrap_or(0);
    for load in LOADS {
        if !doc["matrix"].as_array().into_iter().flatten().any(|e| e["load"] == load) {
            continue;
        }
        let _ = writeln!(
            out,
            "\n**load = {load}**: ms per munmap of {thps} THPs, median [95 % interval]; below, `ipi` / strategy from paired reps (×)\n"
        );
        load_table(out, doc, online, load, &counts, &strategies);
    }
}

/// One load's table: ms per munmap per strategy, then `ipi` / strategy.
fn load_table(out: &mut String, doc: &Value, online: u64, load: &str, counts: &[u64], strategies: &[&str]) {
    table_rows(out, doc, online, load, counts, strategies, |e| summary_at(e, &["munmap_ms"]).map(|s| with_ci(&s)), "");
    let others: Vec<&str> = strategies.iter().copied().filter(|s| *s != "ipi").collect();
    table_rows(
        out,
        doc,
        online,
        load,
        counts,
        &others,
        |e| summary_at(e, &["ratio"]).map(|s| format!("{}×", with_ci(&s))),
        "× ",
    );
}

/// Rows of a load table (`prefix` marks ratio rows).
#[allow(clippy::too_many_arguments)]
fn table_rows(
    out: &mut String,
    doc: &Value,
    online: u64,
    load: &str,
    counts: &[u64],
    strategies: &[&str],
    cell: impl Fn(&Value) -> Option<String>,
    prefix: &str,
) {
    if prefix.is_empty() {
        out.push_str("| strategy |");
        for c in counts {
            let _ = write!(out, " {c} CPU{} |", if *c == 1 { "" } else { "s" });
        }
        out.push_str("\n|---|");
        for _ in counts {
            out.push_str("---|");
        }
        out.push('\n');
    }
    for st in strategies {
        let _ = write!(out, "| {prefix}{st} |");
        for &c in counts {
            let text = matrix_entry(doc, online, load, c, st).and_then(&cell).unwrap_or_else(|| "–".into());
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
}

/// TLB flush instructions of an operation, by RIC and IS (non-zero only).
fn tlb_cell(e: &Value, op: &str) -> String {
    let mut parts = Vec::new();
    for kind in ["tlbie", "tlbiel"] {
        for ric in 0..3 {
            for is in 0..4 {
                if let Some(s) = event(e, op, &format!("{kind}_ric{ric}_is{is}")) {
                    parts.push(format!("{kind} R{ric}/IS{is} {}", count(&s)));
                }
            }
        }
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn events_tables(out: &mut String, doc: &Value, online: u64) {
    let strategies = strategies_in(doc, "matrix");
    let cpus = distinct(doc, "matrix", "cpus").into_iter().filter(|&c| c <= online).max().unwrap_or(1);
    let thps = doc["matrix"][0]["thps"].as_u64().unwrap_or(1).max(1) as f64;
    for load in ["idle", "walkers"] {
        if !doc["matrix"].as_array().into_iter().flatten().any(|e| e["load"] == load) {
            continue;
        }
        let _ = writeln!(
            out,
            "\n**Events per operation, {cpus} CPUs in `mm_cpumask`, load = {load}** (median over reps, range if it varied). \
             IPIs = doorbells sent; irqs = doorbells taken by the other CPUs; syncs = full barriers (changer: the \
             protocol's own plus the one before each `msgsnd`; walkers: their walks during the operation × the \
             strategy's `sync`s per walk); RMWs = atomic read-modify-writes on lines other CPUs write; remote loads = \
             other CPUs' registration words read; acks = CPUs whose acknowledgement was waited for.\n"
        );
        out.push_str(
            "| operation | strategy | IPIs | irqs | changer syncs | walker syncs | changer / walker shared RMWs | remote loads | acks | walkers seen | TLB flush instructions |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for op in crate::OPS {
            for st in &strategies {
                let Some(e) = matrix_entry(doc, online, load, cpus, st) else { continue };
                let opname =
                    if op == "munmap" { format!("munmap ({} THPs)", thps) } else { format!("{op} (one)") };
                let _ = writeln!(
                    out,
                    "| {opname} | {st} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |",
                    event_or_zero(e, op, "ipis"),
                    event_or_zero(e, op, "irqs"),
                    event_or_zero(e, op, "changer_syncs"),
                    event_or_zero(e, op, "walker_syncs"),
                    event_or_zero(e, op, "changer_shared_rmws"),
                    event_or_zero(e, op, "walker_shared_rmws"),
                    event_or_zero(e, op, "remote_loads"),
                    event_or_zero(e, op, "acks_waited"),
                    event_or_zero(e, op, "walkers_seen"),
                    tlb_cell(e, op)
                );
            }
        }
    }
}

fn walker_tables(out: &mut String, doc: &Value) -> Option<()> {
    let online = *distinct(doc, "walker_cost", "cpus_online").first()?;
    let walkers = distinct(doc, "walker_cost", "walkers");
    let strategies = strategies_in(doc, "walker_cost");
    let rounds = walker_entry(doc, online, 1, strategies.first()?)?["rounds"].as_u64().unwrap_or(0);
    let ns = walker_entry(doc, online, 1, "none").and_then(|e| summary_at(e, &["ns_per_walk"]));
    let _ = writeln!(
        out,
        "\n**Walker-side cost**: % over an unregistered walk, median [95 % interval] of the per-round ratios \
         (rounds interleave every strategy and `none`, order rotated; each strategy's time per walk is the median \
         batch of 64 walks). {} rounds with 1 walker{}; {}.\n",
        rounds,
        ns.map(|s| format!(" (an unregistered gup-like walk: {} ns on QEMU)", sig(s.median))).unwrap_or_default(),
        oversubscription(doc, online)
    );
    out.push_str("| strategy |");
    for w in &walkers {
        let _ = write!(out, " {w} walker{} |", if *w == 1 { "" } else { "s" });
    }
    out.push_str("\n|---|");
    for _ in &walkers {
        out.push_str("---|");
    }
    out.push('\n');
    for st in &strategies {
        let _ = write!(out, "| {st} |");
        for &w in &walkers {
            let text = walker_entry(doc, online, w, st)
                .and_then(|e| summary_at(e, &["overhead_percent"]))
                .map_or_else(|| "–".into(), |s| format!("{} %", pct(&s)));
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    // Goals, decided on the whole interval.
    out.push_str("\nWith 1 walker, decided on the whole interval:\n\n");
    for st in &strategies {
        let Some(s) = walker_entry(doc, online, 1, st).and_then(|e| summary_at(e, &["overhead_percent"]))
        else {
            continue;
        };
        let width = s.hi - s.lo;
        let goal = if s.hi <= 5.0 {
            "≤ 5 %: met (whole interval below 5 %)"
        } else if s.lo > 5.0 {
            "≤ 5 %: missed (whole interval above 5 %)"
        } else {
            "≤ 5 %: undecided (the interval straddles 5 %)"
        };
        let resolved = if width <= 1.0 { "resolved to 1 %" } else { "not resolved to 1 %" };
        let _ =
            writeln!(out, "- `{st}`: {} %; {goal}; interval width {width:.2} points, {resolved}.", pct(&s));
    }
    // The v4 counter against the sharded one.
    if strategies.contains(&"count-atomic") && strategies.contains(&"count") {
        out.push_str(
            "\n`count-atomic` (one atomic per mm) against `count` (sharded), per number of walkers:\n\n",
        );
        for &w in &walkers {
            let get = |st: &str| {
                walker_entry(doc, online, w, st).and_then(|e| summary_at(e, &["overhead_percent"]))
            };
            if let (Some(a), Some(c)) = (get("count-atomic"), get("count")) {
                let verdict = if a.separated_from(&c) {
                    if a.median > c.median {
                        "count-atomic costs more (intervals disjoint)"
                    } else {
                        "count-atomic costs less (intervals disjoint)"
                    }
                } else {
                    "no difference claimed (intervals overlap)"
                };
                let _ = writeln!(
                    out,
                    "- {w} walker{}: {} % vs {} %: {verdict}.",
                    if w == 1 { "" } else { "s" },
                    pct(&a),
                    pct(&c)
                );
            }
        }
    }
    Some(())
}

/// Trends and goals decided from the intervals.
fn trends(out: &mut String, doc: &Value, online: u64) {
    let counts: Vec<u64> = distinct(doc, "matrix", "cpus").into_iter().filter(|&c| c <= online).collect();
    let (Some(&first), Some(&last)) = (counts.first(), counts.last()) else { return };
    if first == last {
        return;
    }
    let strategies = strategies_in(doc, "matrix");
    let _ = writeln!(
        out,
        "\n**Trends, {first} → {last} CPUs** (claimed only where the two intervals do not overlap):\n"
    );
    for load in LOADS {
        let mut parts = Vec::new();
        for st in &strategies {
            let get =
                |c: u64| matrix_entry(doc, online, load, c, st).and_then(|e| summary_at(e, &["munmap_ms"]));
            let (Some(a), Some(b)) = (get(first), get(last)) else { continue };
            let word = if !a.separated_from(&b) {
                "no trend claimed".to_string()
            } else if b.median > a.median {
                format!("rises {}×", sig(b.median / a.median))
            } else {
                format!("falls {}×", sig(a.median / b.median))
            };
            parts.push(format!("`{st}` {word}"));
        }
        if !parts.is_empty() {
            let _ = writeln!(out, "- {load}: {}.", parts.join("; "));
        }
    }
    let _ = writeln!(out, "\n**`ipi` / strategy at {last} CPUs** (paired reps; \"≥ 100×\" is met only if the whole interval is):\n");
    for load in LOADS {
        let mut parts = Vec::new();
        for st in strategies.iter().filter(|s| **s != "ipi") {
            let Some(r) = matrix_entry(doc, online, load, last, st).and_then(|e| summary_at(e, &["ratio"]))
            else {
                continue;
            };
            let goal = if r.lo >= 100.0 {
                ", ≥ 100×"
            } else if r.hi < 100.0 {
                ", < 100×"
            } else {
                ", straddles 100×"
            };
            let side = if r.lo > 1.0 {
                "faster than ipi"
            } else if r.hi < 1.0 {
                "slower than ipi"
            } else {
                "not told apart from ipi"
            };
            parts.push(format!("`{st}` {}× ({side}{goal})", with_ci(&r)));
        }
        if !parts.is_empty() {
            let _ = writeln!(out, "- {load}: {}.", parts.join("; "));
        }
    }
    let _ = writeln!(
        out,
        "\n**The serialize part alone** (time inside the strategy's serialize, i.e. without the batched flush \
         and the frees), `ipi` / strategy at {last} CPUs:\n"
    );
    for load in LOADS {
        let parts: Vec<String> = strategies
            .iter()
            .filter(|s| **s != "ipi")
            .filter_map(|st| {
                let r = matrix_entry(doc, online, load, last, st)
                    .and_then(|e| summary_at(e, &["serialize_ratio"]))?;
                Some(format!("`{st}` {}×", with_ci(&r)))
            })
            .collect();
        if !parts.is_empty() {
            let _ = writeln!(out, "- {load}: {}.", parts.join("; "));
        }
    }
}

/// The MMU layer's throughput (one sample each: context, not a claim).
fn mmu_table(out: &mut String, doc: &Value) {
    let rows: Vec<&Value> = doc["mmu"].as_array().into_iter().flatten().collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "\n**MMU layer**: map + unmap + flush of a 64 KB page per second, other CPUs of the mm idle \
         (one sample each: context, not a claim)\n\n| flush | CPUs | per second |\n|---|---|---|\n",
    );
    for m in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            m["flush"].as_str().unwrap_or("?"),
            m["cpus"],
            sig(m["map_unmap_flush_per_s"].as_f64().unwrap_or(0.0))
        );
    }
}

/// The cover letter's numbers against event counts measured here.
fn bras(out: &mut String, doc: &Value, online: u64) {
    let cpus = distinct(doc, "matrix", "cpus").into_iter().filter(|&c| c <= online).max().unwrap_or(1);
    let thps = doc["matrix"][0]["thps"].as_u64().unwrap_or(1).max(1) as f64;
    let per_thp_per_cpu = |load: &str, st: &str| -> Option<Summary> {
        let s = event(matrix_entry(doc, online, load, cpus, st)?, "munmap", "ipis").unwrap_or(Summary {
            samples: vec![],
            median: 0.0,
            min: 0.0,
            max: 0.0,
            lo: 0.0,
            hi: 0.0,
        });
        let k = thps * (cpus as f64 - 1.0).max(1.0);
        Some(Summary {
            samples: vec![],
            median: s.median / k,
            min: s.min / k,
            max: s.max / k,
            lo: s.lo / k,
            hi: s.hi / k,
        })
    };
    let (Some(ipi), Some(count_idle)) = (per_thp_per_cpu("idle", "ipi"), per_thp_per_cpu("idle", "count"))
    else {
        return;
    };
    let count_walkers = per_thp_per_cpu("walkers", "count");
    let _ = writeln!(
        out,
        "\n**Against the cover letter** (munmap of {BRAS_GB} GB of THP on a {BRAS_CPUS}-CPU guest: {BRAS_IPI_S} s with IPIs, \
         {} ms with the registry). Measured here, {cpus} CPUs in `mm_cpumask`: IPIs per THP per other CPU = {} with `ipi` \
         (idle), {} with `count` (idle){}. Extrapolated (not measured), assuming the same per-THP law on the 128-CPU guest:\n",
        sig(BRAS_COUNT_S * 1000.0),
        sig(ipi.median),
        sig(count_idle.median),
        count_walkers.map(|c| format!(", {} with `count` while every other CPU runs walkers", sig(c.median))).unwrap_or_default()
    );
    out.push_str("| THP size | THPs in 496 GB | IPIs, `ipi` | IPIs, `count`, no walker | implied time per IPI in 275 s | registry time per THP in 418 ms |\n|---|---|---|---|---|---|\n");
    for (name, mb) in [("2 MB (radix)", 2.0), ("16 MB (hash, 64K pages)", 16.0)] {
        let n = BRAS_GB * 1024.0 / mb;
        let ipis = n * (BRAS_CPUS - 1.0) * ipi.median;
        let counted = n * (BRAS_CPUS - 1.0) * count_idle.median;
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} µs | {} µs |",
            group(&format!("{n:.0}")),
            group(&format!("{ipis:.0}")),
            group(&format!("{counted:.0}")),
            sig(BRAS_IPI_S / ipis * 1e6),
            sig(BRAS_COUNT_S / n * 1e6)
        );
    }
}

fn past16(out: &mut String, doc: &Value, name: &str) {
    let onlines = distinct(doc, "matrix", "cpus_online");
    for online in onlines {
        let _ = writeln!(
            out,
            "\n**{} ({name})**: ms per munmap, median [95 % interval]; × = `ipi` / strategy\n",
            oversubscription(doc, online)
        );
        let counts: Vec<u64> = distinct(doc, "matrix", "cpus").into_iter().filter(|&c| c <= online).collect();
        let strategies = strategies_in(doc, "matrix");
        for load in LOADS {
            if !doc["matrix"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["load"] == load && e["cpus_online"].as_u64() == Some(online))
            {
                continue;
            }
            let _ = writeln!(out, "load = {load}\n");
            load_table(out, doc, online, load, &counts, &strategies);
            out.push('\n');
        }
        trends(out, doc, online);
    }
}

/// The generated README section for `docs` (name, document): the first is
/// the main run, the others are shown as "past 16 threads".
pub fn section(docs: &[(&str, &Value)]) -> String {
    let mut out = String::new();
    out.push_str(BEGIN);
    out.push_str("\n\n**Provenance**\n\n");
    provenance(&mut out, docs);
    if let Some((_, main)) = docs.first() {
        if let Some(online) = main_online(main) {
            let _ = writeln!(out, "\n**Changer matrix**, {}.", oversubscription(main, online));
            munmap_tables(&mut out, main, online);
            trends(&mut out, main, online);
            events_tables(&mut out, main, online);
            bras(&mut out, main, online);
        }
        walker_tables(&mut out, main);
        mmu_table(&mut out, main);
    }
    for (name, doc) in docs.iter().skip(1) {
        out.push_str("\n**Past 16 threads**\n");
        past16(&mut out, doc, name);
    }
    out.push('\n');
    out.push_str(END);
    out
}

/// `readme` replaced between the markers by `section`; an error if the
/// markers are missing.
pub fn splice(readme: &str, section: &str) -> Result<String, String> {
    let b = readme.find("<!-- benchplot:begin").ok_or("README has no `<!-- benchplot:begin` marker")?;
    let e = readme[b..]
        .find(END)
        .ok_or("README has no `<!-- benchplot:end -->` marker after the begin marker")?
        + b;
    Ok(format!("{}{}{}", &readme[..b], section, &readme[e + END.len()..]))
}
