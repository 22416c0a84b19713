//! Parsing and rendering of the kernel benchmark output (`BENCH {json}`
//! lines): a JSON document with every measurement plus the ratios computed
//! from the same run, an SVG chart (time per munmap against CPUs, one line
//! per strategy, log scale, one panel per load), and a Markdown table.

use serde_json::{json, Map, Value};

/// Timebase frequency assumed when the log has no `meta` line.
pub const DEFAULT_TB_HZ: f64 = 512_000_000.0;
/// Strategies in chart order.
pub const STRATEGIES: [&str; 5] = ["ipi", "count", "count-wait", "percpu", "rcu"];
/// Loads in panel order.
pub const LOADS: [&str; 3] = ["idle", "walkers", "busy"];
const COLORS: [&str; 5] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"];

/// Everything the kernel printed, parsed.
#[derive(Debug, Default)]
pub struct Bench {
    pub meta: Map<String, Value>,
    pub cells: Vec<Map<String, Value>>,
    pub walkers: Vec<Map<String, Value>>,
    pub mmu: Vec<Map<String, Value>>,
}

/// Why a log could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// A `BENCH` line whose payload is not a JSON object.
    BadLine { line: usize, why: String },
    /// No `BENCH` cell lines at all (the run did not get that far).
    NoCells,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadLine { line, why } => write!(f, "line {line}: bad BENCH record: {why}"),
            Error::NoCells => write!(f, "no BENCH cell records in the log (did the benchmark run?)"),
        }
    }
}

/// Parses every `BENCH {...}` line of a console log.
pub fn parse(log: &str) -> Result<Bench, Error> {
    let mut b = Bench::default();
    for (i, line) in log.lines().enumerate() {
        let Some(rest) = line.trim_end_matches('\r').strip_prefix("BENCH ") else { continue };
        let v: Value =
            serde_json::from_str(rest).map_err(|e| Error::BadLine { line: i + 1, why: e.to_string() })?;
        let Value::Object(o) = v else {
            return Err(Error::BadLine { line: i + 1, why: "not an object".into() });
        };
        match o.get("kind").and_then(Value::as_str) {
            Some("meta") => b.meta = o,
            Some("cell") => b.cells.push(o),
            Some("walker") => b.walkers.push(o),
            Some("mmu") => b.mmu.push(o),
            _ => return Err(Error::BadLine { line: i + 1, why: "unknown kind".into() }),
        }
    }
    if b.cells.is_empty() {
        return Err(Error::NoCells);
    }
    Ok(b)
}

impl Bench {
    fn tb_hz(&self) -> f64 {
        self.meta.get("tb_hz").and_then(Value::as_f64).unwrap_or(DEFAULT_TB_HZ)
    }

    /// The CPU counts measured, ascending.
    pub fn cpu_counts(&self) -> Vec<u64> {
        let mut v: Vec<u64> =
            self.cells.iter().filter_map(|c| c.get("cpus").and_then(Value::as_u64)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Milliseconds per munmap for (strategy, cpus, load).
    pub fn munmap_ms(&self, strategy: &str, cpus: u64, load: &str) -> Option<f64> {
        self.field_ms(strategy, cpus, load, "munmap_tb")
    }

    /// Milliseconds of a munmap spent in serialize (the strategy's own cost;
    /// the rest is the batched TLB flush and freeing).
    pub fn serialize_ms(&self, strategy: &str, cpus: u64, load: &str) -> Option<f64> {
        self.field_ms(strategy, cpus, load, "serialize_tb")
    }

    fn field_ms(&self, strategy: &str, cpus: u64, load: &str, field: &str) -> Option<f64> {
        self.cells
            .iter()
            .find(|c| {
                c.get("strategy").and_then(Value::as_str) == Some(strategy)
                    && c.get("cpus").and_then(Value::as_u64) == Some(cpus)
                    && c.get("load").and_then(Value::as_str) == Some(load)
            })
            .and_then(|c| c.get(field).and_then(Value::as_f64))
            .map(|tb| tb * 1000.0 / self.tb_hz())
    }

    /// `ipi` time over `strategy` time per (load, cpus), same run.
    pub fn ratio(&self, strategy: &str, cpus: u64, load: &str) -> Option<f64> {
        let a = self.munmap_ms("ipi", cpus, load)?;
        let b = self.munmap_ms(strategy, cpus, load)?;
        (b > 0.0).then(|| a / b)
    }

    /// The same ratio for the serialize part only.
    pub fn serialize_ratio(&self, strategy: &str, cpus: u64, load: &str) -> Option<f64> {
        let a = self.serialize_ms("ipi", cpus, load)?;
        let b = self.serialize_ms(strategy, cpus, load)?;
        (b > 0.0).then(|| a / b)
    }

    /// Walker registration overhead in percent, per strategy: the kernel's
    /// median of per-round ratios when present, else from the mean rates.
    pub fn walker_overhead(&self) -> Vec<(String, f64)> {
        self.walkers
            .iter()
            .filter_map(|w| {
                let s = w.get("strategy")?.as_str()?.to_string();
                if let Some(pm) = w.get("overhead_permille_median").and_then(Value::as_f64) {
                    return Some((s, pm / 10.0));
                }
                let r = w.get("walks_per_s")?.as_f64()?;
                let base = w.get("unregistered_walks_per_s")?.as_f64()?;
                (r > 0.0).then(|| (s, (base / r - 1.0) * 100.0))
            })
            .collect()
    }

    /// Interquartile range of the overhead (percent), when the kernel gave it.
    pub fn walker_overhead_iqr(&self, strategy: &str) -> Option<(f64, f64)> {
        let w = self.walkers.iter().find(|w| w.get("strategy").and_then(Value::as_str) == Some(strategy))?;
        Some((
            w.get("overhead_permille_q1")?.as_f64()? / 10.0,
            w.get("overhead_permille_q3")?.as_f64()? / 10.0,
        ))
    }

    /// The JSON document: meta, every record, and the computed ratios.
    pub fn to_json(&self) -> Value {
        let mut ratios = Vec::new();
        for load in LOADS {
            for cpus in self.cpu_counts() {
                for s in STRATEGIES.iter().skip(1) {
                    if let Some(r) = self.ratio(s, cpus, load) {
                        ratios.push(json!({
                            "load": load, "cpus": cpus, "strategy": s,
                            "ipi_over_strategy": r,
                            "ipi_over_strategy_serialize_only": self.serialize_ratio(s, cpus, load),
                        }));
                    }
                }
            }
        }
        let overhead: Vec<Value> = self
            .walker_overhead()
            .into_iter()
            .map(|(s, p)| json!({"strategy": s, "registration_overhead_percent": p}))
            .collect();
        json!({
            "meta": Value::Object(self.meta.clone()),
            "cells": self.cells.iter().cloned().map(Value::Object).collect::<Vec<_>>(),
            "walkers": self.walkers.iter().cloned().map(Value::Object).collect::<Vec<_>>(),
            "mmu": self.mmu.iter().cloned().map(Value::Object).collect::<Vec<_>>(),
            "ratios_same_run": ratios,
            "walker_overhead": overhead,
        })
    }

    /// Markdown tables: ms per munmap with ratios, and walker overhead.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let counts = self.cpu_counts();
        for load in LOADS {
            s.push_str(&format!(
                "\n**load = {load}** — ms per munmap of {} THPs (×: ipi / strategy)\n\n",
                self.thps()
            ));
            ms_table(&mut s, &counts, |st, c| match (self.munmap_ms(st, c, load), self.ratio(st, c, load)) {
                (Some(ms), Some(r)) if st != "ipi" => format!(" {ms:.2} ({r:.1}×) |"),
                (Some(ms), _) => format!(" {ms:.2} |"),
                _ => " – |".to_string(),
            });
            s.push_str(&format!("\nserialize part only (ms; ×: ipi / strategy), load = {load}\n\n"));
            ms_table(&mut s, &counts, |st, c| {
                match (self.serialize_ms(st, c, load), self.serialize_ratio(st, c, load)) {
                    (Some(ms), Some(r)) if st != "ipi" => format!(" {ms:.3} ({r:.0}×) |"),
                    (Some(ms), _) => format!(" {ms:.3} |"),
                    _ => " – |".to_string(),
                }
            });
        }
        if !self.mmu.is_empty() {
            s.push_str("\n**MMU layer**: map + unmap + flush of a 64 KB page per second (other CPUs in mm_cpumask idle)\n\n| flush | CPUs | ops/s |\n|---|---|---|\n");
            for m in &self.mmu {
                let f = m.get("flush").and_then(Value::as_str).unwrap_or("?");
                let c = m.get("cpus").and_then(Value::as_u64).unwrap_or(0);
                let r = m.get("map_unmap_flush_per_s").and_then(Value::as_u64).unwrap_or(0);
                s.push_str(&format!("| {f} | {c} | {r} |\n"));
            }
        }
        let oh = self.walker_overhead();
        if !oh.is_empty() {
            s.push_str("\n**walker registration overhead** (median over rounds of unregistered/registered walk rate, one CPU)\n\n| strategy | overhead | interquartile range |\n|---|---|---|\n");
            for (st, p) in oh {
                match self.walker_overhead_iqr(&st) {
                    Some((q1, q3)) => s.push_str(&format!("| {st} | {p:+.1} % | {q1:+.1} … {q3:+.1} % |\n")),
                    None => s.push_str(&format!("| {st} | {p:+.1} % | – |\n")),
                }
            }
        }
        s
    }

    fn thps(&self) -> u64 {
        self.meta.get("thps").and_then(Value::as_u64).unwrap_or(0)
    }

    /// The SVG chart: one panel per load, x = CPUs (log2), y = ms per munmap
    /// (log10), one line per strategy.
    pub fn to_svg(&self) -> String {
        let (pw, ph, ml, mt, mb) = (300.0, 260.0, 80.0, 50.0, 50.0);
        let width = ml + 3.0 * (pw + 20.0) + 120.0;
        let height = mt + ph + mb;
        let counts = self.cpu_counts();
        let mut vals: Vec<f64> = Vec::new();
        for l in LOADS {
            for s in STRATEGIES {
                for &c in &counts {
                    if let Some(v) = self.munmap_ms(s, c, l).filter(|v| *v > 0.0) {
                        vals.push(v);
                    }
                }
            }
        }
        let lo = vals.iter().cloned().fold(f64::INFINITY, f64::min).max(1e-3).log10().floor();
        let hi = vals.iter().cloned().fold(0.0, f64::max).max(1e-3).log10().ceil().max(lo + 1.0);
        let xmax = counts.last().copied().unwrap_or(1).max(2) as f64;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{ml}\" y=\"20\" font-size=\"15\">Time per munmap of {} THPs vs CPUs in mm_cpumask (QEMU powernv, same run; log scale)</text>\n",
            self.thps()
        );
        for (pi, load) in LOADS.iter().enumerate() {
            let x0 = ml + pi as f64 * (pw + 20.0);
            let xp = |c: f64| x0 + (c.log2() / xmax.log2()) * pw;
            let yp = |v: f64| mt + ph - (v.log10() - lo) / (hi - lo) * ph;
            s.push_str(&format!(
                "<rect x=\"{x0}\" y=\"{mt}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>\n\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">load: {load}</text>\n",
                x0 + pw / 2.0,
                mt - 8.0
            ));
            let mut d = lo as i32;
            while d as f64 <= hi {
                let y = yp(10f64.powi(d));
                s.push_str(&format!(
                    "<line x1=\"{x0}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#eee\"/>\n",
                    x0 + pw
                ));
                if pi == 0 {
                    s.push_str(&format!(
                        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ms</text>\n",
                        x0 - 5.0,
                        y + 4.0,
                        fmt_pow10(d)
                    ));
                }
                d += 1;
            }
            for &c in &counts {
                s.push_str(&format!(
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{c}</text>\n",
                    xp(c as f64),
                    mt + ph + 16.0
                ));
            }
            s.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">CPUs</text>\n",
                x0 + pw / 2.0,
                mt + ph + 34.0
            ));
            for (si, st) in STRATEGIES.iter().enumerate() {
                let pts: Vec<(f64, f64)> = counts
                    .iter()
                    .filter_map(|&c| self.munmap_ms(st, c, load).map(|v| (xp(c as f64), yp(v.max(1e-3)))))
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                s.push_str(&format!(
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                    path.join(" "),
                    COLORS[si]
                ));
                for (x, y) in pts {
                    s.push_str(&format!(
                        "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{}\"/>\n",
                        COLORS[si]
                    ));
                }
            }
        }
        let lx = ml + 3.0 * (pw + 20.0);
        for (si, st) in STRATEGIES.iter().enumerate() {
            let y = mt + 20.0 + si as f64 * 20.0;
            s.push_str(&format!(
                "<line x1=\"{lx}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"3\"/>\
                 <text x=\"{}\" y=\"{}\">{st}</text>\n",
                lx + 20.0,
                COLORS[si],
                lx + 26.0,
                y + 4.0
            ));
        }
        s.push_str("</svg>\n");
        s
    }
}

fn fmt_pow10(d: i32) -> String {
    if d >= 0 {
        format!("{}", 10u64.pow(d as u32))
    } else {
        format!("{}", 10f64.powi(d))
    }
}

/// One markdown table: a row per strategy, a column per CPU count,
/// each cell rendered by `cell(strategy, cpus)` (ending in " |").
fn ms_table(s: &mut String, counts: &[u64], cell: impl Fn(&str, u64) -> String) {
    s.push_str("| strategy |");
    for c in counts {
        s.push_str(&format!(" {c} CPUs |"));
    }
    s.push_str("\n|---|");
    for _ in counts {
        s.push_str("---|");
    }
    s.push('\n');
    for st in STRATEGIES {
        s.push_str(&format!("| {st} |"));
        for &c in counts {
            s.push_str(&cell(st, c));
        }
        s.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "noise\n\
BENCH {\"kind\":\"meta\",\"cpus_online\":4,\"thps\":8,\"quick\":true,\"flush\":\"tlbie\",\"tb_hz\":512000000}\n\
BENCH {\"kind\":\"walker\",\"strategy\":\"count\",\"walks_per_s\":900,\"unregistered_walks_per_s\":1000}\n\
BENCH {\"kind\":\"cell\",\"strategy\":\"ipi\",\"cpus\":4,\"load\":\"idle\",\"thps\":8,\"munmap_tb\":5120000}\n\
BENCH {\"kind\":\"cell\",\"strategy\":\"count\",\"cpus\":4,\"load\":\"idle\",\"thps\":8,\"munmap_tb\":51200}\n\
BENCH {\"kind\":\"cell\",\"strategy\":\"ipi\",\"cpus\":1,\"load\":\"idle\",\"thps\":8,\"munmap_tb\":512000}\n";

    #[test]
    fn parses_and_computes_ratios() {
        let b = parse(LOG).unwrap();
        assert_eq!(b.cells.len(), 3);
        assert_eq!(b.cpu_counts(), vec![1, 4]);
        assert_eq!(b.munmap_ms("ipi", 4, "idle"), Some(10.0));
        assert_eq!(b.munmap_ms("count", 4, "idle"), Some(0.1));
        let r = b.ratio("count", 4, "idle").unwrap();
        assert!((r - 100.0).abs() < 1e-9, "{r}");
        assert_eq!(b.ratio("count", 1, "idle"), None);
        let oh = b.walker_overhead();
        assert_eq!(oh.len(), 1);
        assert!((oh[0].1 - 11.111).abs() < 0.01);
    }

    #[test]
    fn json_has_ratios_and_svg_has_lines() {
        let b = parse(LOG).unwrap();
        let j = b.to_json();
        assert_eq!(j["ratios_same_run"][0]["ipi_over_strategy"].as_f64().unwrap().round(), 100.0);
        let svg = b.to_svg();
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("count"));
        let md = b.to_markdown();
        assert!(md.contains("| count | – | 0.10 (100.0×) |"), "{md}");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse("nothing here").unwrap_err(), Error::NoCells);
        assert!(matches!(parse("BENCH {not json").unwrap_err(), Error::BadLine { line: 1, .. }));
        assert!(matches!(parse("BENCH [1,2]").unwrap_err(), Error::BadLine { .. }));
        assert!(matches!(parse("BENCH {\"kind\":\"x\"}").unwrap_err(), Error::BadLine { .. }));
    }
}
