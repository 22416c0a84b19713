//! The kernel benchmark's host side: parses the `BENCH {json}` lines of one
//! or more console logs (one log = one run), merges the runs, and computes
//! per cell the samples, median, min, max and a seeded 95 % bootstrap
//! interval, for times, for ratios (`ipi` / strategy, paired by run and
//! repetition) and for event counts per operation. Writes a JSON document
//! with provenance, an SVG chart, and the README's Markdown section.
//!
//! Layout: [`stats`] (median, bootstrap), this file (parsing, merging, the
//! document), [`svg`] (the chart), [`readme`] (the Markdown).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

pub mod readme;
pub mod stats;
pub mod svg;

use stats::Summary;

/// Version of the JSON document [`Bench::to_json`] writes.
pub const SCHEMA: u64 = 2;
/// Timebase frequency assumed when a log has no `meta` line.
pub const DEFAULT_TB_HZ: f64 = 512_000_000.0;
/// Strategies in report order (those a run did not measure are skipped).
pub const STRATEGIES: [&str; 6] = ["ipi", "count", "count-atomic", "count-wait", "percpu", "rcu"];
/// Loads in report order.
pub const LOADS: [&str; 3] = ["idle", "walkers", "busy"];
/// The operations of a matrix cell.
pub const OPS: [&str; 4] = ["munmap", "split", "collapse", "free"];

type Obj = Map<String, Value>;

/// One log: everything one boot printed.
#[derive(Debug, Default, Clone)]
pub struct Run {
    /// Where it came from (the log's path).
    pub log: String,
    pub meta: Obj,
    /// Host facts `qemu-run.sh` appended (`kind: host`).
    pub host: Obj,
    pub walker_events: Vec<Obj>,
    pub walker_rounds: Vec<Obj>,
    pub mmu: Vec<Obj>,
    pub cells: Vec<Obj>,
}

/// Why a log could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// A `BENCH` line whose payload is not a JSON object of a known kind.
    BadLine { line: usize, why: String },
    /// No `BENCH` records at all (the run did not get that far).
    Empty,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadLine { line, why } => write!(f, "line {line}: bad BENCH record: {why}"),
            Error::Empty => write!(f, "no BENCH cell or walker records in the log (did the benchmark run?)"),
        }
    }
}

/// Parses every `BENCH {...}` line of a console log.
pub fn parse(log_name: &str, log: &str) -> Result<Run, Error> {
    let mut r = Run { log: log_name.to_string(), ..Run::default() };
    for (i, line) in log.lines().enumerate() {
        let Some(rest) = line.trim_end_matches('\r').strip_prefix("BENCH ") else { continue };
        let bad = |why: String| Error::BadLine { line: i + 1, why };
        let Value::Object(o) = serde_json::from_str(rest).map_err(|e| bad(e.to_string()))? else {
            return Err(bad("not an object".into()));
        };
        match o.get("kind").and_then(Value::as_str) {
            Some("meta") => r.meta = o,
            Some("host") => r.host = o,
            Some("cell") => r.cells.push(o),
            Some("walker_events") => r.walker_events.push(o),
            Some("walker_round") => r.walker_rounds.push(o),
            Some("mmu") => r.mmu.push(o),
            other => return Err(bad(format!("unknown kind {other:?}"))),
        }
    }
    if r.cells.is_empty() && r.walker_rounds.is_empty() {
        return Err(Error::Empty);
    }
    Ok(r)
}

fn num(o: &Obj, k: &str) -> Option<f64> {
    o.get(k).and_then(Value::as_f64)
}

fn text<'a>(o: &'a Obj, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or("")
}

impl Run {
    fn tb_hz(&self) -> f64 {
        num(&self.meta, "tb_hz").unwrap_or(DEFAULT_TB_HZ)
    }

    fn online(&self) -> u64 {
        self.meta.get("cpus_online").and_then(Value::as_u64).unwrap_or(0)
    }

    /// Per-walk registration events of `strategy` (the kernel's
    /// `walker_events` line), by field.
    fn walker_profile(&self, strategy: &str) -> Option<&Obj> {
        self.walker_events.iter().find(|w| text(w, "strategy") == strategy)
    }
}

/// Key of a matrix cell group: topology, load, CPUs, strategy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CellKey {
    online: u64,
    load_rank: usize,
    load: String,
    cpus: u64,
    strategy_rank: usize,
    strategy: String,
}

fn rank(list: &[&str], s: &str) -> usize {
    list.iter().position(|&x| x == s).unwrap_or(list.len())
}

/// One cell of one repetition of one run, reduced to numbers.
#[derive(Clone, Debug)]
struct Sample {
    /// (run, rep): what pairs a strategy's sample with `ipi`'s.
    pair: (usize, u64),
    thps: u64,
    munmap_ms: f64,
    serialize_ms: f64,
    /// Per operation kind: ms per operation, and events per operation.
    ops: BTreeMap<&'static str, (f64, BTreeMap<String, f64>)>,
}

/// TLB flush instruction counts as (RIC, IS, count): the kernel writes
/// the non-zero ones as `{"RI": n}` (RIC digit, IS digit); a full
/// `[[..4]; 3]` grid is read too.
fn tlb_grid(v: Option<&Value>) -> Vec<(usize, usize, f64)> {
    let mut out = Vec::new();
    match v {
        Some(Value::Object(o)) => {
            for (k, v) in o {
                let d: Vec<usize> = k.chars().filter_map(|c| c.to_digit(10)).map(|d| d as usize).collect();
                if let ([ric, is], Some(v)) = (d.as_slice(), v.as_f64()) {
                    out.push((*ric, *is, v));
                }
            }
        }
        Some(Value::Array(rows)) => {
            for (ric, row) in rows.iter().enumerate() {
                for (is, v) in row.as_array().into_iter().flatten().enumerate() {
                    out.push((ric, is, v.as_f64().unwrap_or(0.0)));
                }
            }
        }
        _ => {}
    }
    out
}

/// One strategy of a `walker_round` record: (name, walks, median batch
/// ticks). The kernel writes `[name, walks, ticks, batches, median]`; an
/// object with those fields is read too.
fn round_entry(v: &Value) -> Option<(String, f64, f64)> {
    if let Some(a) = v.as_array() {
        return Some((a.first()?.as_str()?.to_string(), a.get(1)?.as_f64()?, a.get(4)?.as_f64()?));
    }
    Some((
        v.get("strategy")?.as_str()?.to_string(),
        v.get("walks")?.as_f64()?,
        v.get("median_batch_tb")?.as_f64()?,
    ))
}

/// The events of one operation record, per operation.
fn op_events(op: &Obj, profile: Option<&Obj>) -> (f64, BTreeMap<String, f64>) {
    let n = num(op, "n").unwrap_or(0.0).max(1.0);
    let mut e = BTreeMap::new();
    let ev = op.get("ev").and_then(Value::as_object).cloned().unwrap_or_default();
    let evn = |k: &str| num(&ev, k).unwrap_or(0.0);
    let ipis = num(op, "ipis").unwrap_or(0.0);
    let walks = num(op, "walks").unwrap_or(0.0);
    let per_walk = |k: &str| profile.and_then(|p| num(p, k)).unwrap_or(0.0);
    let mut put = |k: &str, v: f64| {
        e.insert(k.to_string(), v / n);
    };
    put("ipis", ipis);
    put("irqs", num(op, "irqs").unwrap_or(0.0));
    // The protocol's own `sync`s plus the one the kernel's msgsnd issues
    // before each doorbell.
    put("changer_syncs", evn("full_fences") + ipis);
    put("changer_lwsyncs", evn("lwsyncs"));
    put("changer_shared_rmws", evn("shared_rmws"));
    put("remote_loads", evn("remote_loads"));
    put("acks_waited", evn("acks_waited"));
    put("spins", evn("spins"));
    put("walkers_seen", evn("walkers_seen"));
    put("serializations", evn("serializations"));
    put("skipped", evn("skipped"));
    put("grace_periods", evn("grace_periods"));
    put("walks", walks);
    put("walker_syncs", walks * per_walk("full_fences"));
    put("walker_lwsyncs", walks * per_walk("lwsyncs"));
    put("walker_shared_rmws", walks * per_walk("shared_rmws"));
    for name in ["tlbie", "tlbiel"] {
        let mut total = 0.0;
        for (ric, is, v) in tlb_grid(op.get(name)) {
            total += v;
            put(&format!("{name}_ric{ric}_is{is}"), v);
        }
        put(name, total);
    }
    let tb = num(op, "tb").unwrap_or(0.0);
    (tb, e)
}

/// Everything merged from one or more runs.
#[derive(Debug, Default)]
pub struct Bench {
    pub runs: Vec<Run>,
}

impl Bench {
    /// Merges runs (one per log).
    pub fn new(runs: Vec<Run>) -> Bench {
        Bench { runs }
    }

    fn samples(&self) -> BTreeMap<CellKey, Vec<Sample>> {
        let mut groups: BTreeMap<CellKey, Vec<Sample>> = BTreeMap::new();
        for (ri, run) in self.runs.iter().enumerate() {
            let ms = |tb: f64| tb * 1000.0 / run.tb_hz();
            for c in &run.cells {
                let (load, strategy) = (text(c, "load"), text(c, "strategy"));
                let key = CellKey {
                    online: run.online(),
                    load_rank: rank(&LOADS, load),
                    load: load.to_string(),
                    cpus: c.get("cpus").and_then(Value::as_u64).unwrap_or(0),
                    strategy_rank: rank(&STRATEGIES, strategy),
                    strategy: strategy.to_string(),
                };
                let mut ops = BTreeMap::new();
                for op in OPS {
                    if let Some(o) = c.get(op).and_then(Value::as_object) {
                        let (tb, ev) = op_events(o, run.walker_profile(strategy));
                        let n = num(o, "n").unwrap_or(1.0).max(1.0);
                        ops.insert(op, (ms(tb) / n, ev));
                    }
                }
                groups.entry(key).or_default().push(Sample {
                    pair: (ri, c.get("rep").and_then(Value::as_u64).unwrap_or(0)),
                    thps: c.get("thps").and_then(Value::as_u64).unwrap_or(0),
                    munmap_ms: ms(num(c, "munmap_tb").unwrap_or(0.0)),
                    serialize_ms: ms(num(c, "serialize_tb").unwrap_or(0.0)),
                    ops,
                });
            }
        }
        groups
    }

    /// The matrix part of the document: one entry per cell group.
    fn matrix_json(&self) -> Vec<Value> {
        let groups = self.samples();
        let mut out = Vec::new();
        for (key, samples) in &groups {
            let id = format!("{}/{}/{}/{}", key.online, key.load, key.cpus, key.strategy);
            let summary = |what: &str, v: Vec<f64>| Summary::of(v, &format!("{id}/{what}"));
            let mut entry = json!({
                "cpus_online": key.online,
                "load": key.load,
                "cpus": key.cpus,
                "strategy": key.strategy,
                "thps": samples.first().map_or(0, |s| s.thps),
                "reps": samples.len(),
            });
            let put = |e: &mut Value, k: &str, s: Option<Summary>, with_samples: bool| {
                e[k] = s.map_or(Value::Null, |s| s.json(with_samples));
            };
            put(
                &mut entry,
                "munmap_ms",
                summary("munmap_ms", samples.iter().map(|s| s.munmap_ms).collect()),
                true,
            );
            put(
                &mut entry,
                "serialize_ms",
                summary("serialize_ms", samples.iter().map(|s| s.serialize_ms).collect()),
                true,
            );
            for op in ["split", "collapse", "free"] {
                let v: Vec<f64> = samples.iter().filter_map(|s| s.ops.get(op).map(|o| o.0)).collect();
                put(&mut entry, &format!("{op}_ms"), summary(&format!("{op}_ms"), v), true);
            }
            // Ratios ipi / strategy, paired by (run, rep) in the same group.
            if key.strategy != "ipi" {
                let ipi_key = CellKey { strategy: "ipi".into(), strategy_rank: 0, ..key.clone() };
                if let Some(ipi) = groups.get(&ipi_key) {
                    let paired = |f: fn(&Sample) -> f64| -> Vec<f64> {
                        samples
                            .iter()
                            .filter_map(|s| {
                                let i = ipi.iter().find(|i| i.pair == s.pair)?;
                                (f(s) > 0.0).then(|| f(i) / f(s))
                            })
                            .collect()
                    };
                    put(&mut entry, "ratio", summary("ratio", paired(|s| s.munmap_ms)), true);
                    put(
                        &mut entry,
                        "serialize_ratio",
                        summary("serialize_ratio", paired(|s| s.serialize_ms)),
                        true,
                    );
                }
            }
            let mut events = Map::new();
            for op in OPS {
                let names: Vec<String> = samples
                    .iter()
                    .find_map(|s| s.ops.get(op))
                    .map(|o| o.1.keys().cloned().collect())
                    .unwrap_or_default();
                let mut per = Map::new();
                for name in names {
                    let v: Vec<f64> =
                        samples.iter().filter_map(|s| s.ops.get(op)?.1.get(&name).copied()).collect();
                    // Leave out what never happened, to keep the file small.
                    if v.iter().all(|&x| x == 0.0) {
                        continue;
                    }
                    if let Some(s) = summary(&format!("{op}/{name}"), v) {
                        per.insert(name, s.compact());
                    }
                }
                events.insert(op.to_string(), Value::Object(per));
            }
            entry["events_per_op"] = Value::Object(events);
            out.push(entry);
        }
        out
    }

    /// The walker-cost part: per topology, concurrent walkers and
    /// strategy, the per-round overhead over `none` and ns per walk.
    fn walker_json(&self) -> Vec<Value> {
        // (online, walkers, strategy rank, strategy) -> (overheads %, ns per walk)
        let mut groups: BTreeMap<(u64, u64, usize, String), (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for run in &self.runs {
            for r in &run.walker_rounds {
                let walkers = r.get("walkers").and_then(Value::as_u64).unwrap_or(0);
                let batch = num(r, "batch").unwrap_or(1.0);
                let list: Vec<(String, f64, f64)> = r
                    .get("s")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(round_entry)
                    .filter(|e| e.2 > 0.0)
                    .collect();
                let Some(base) = list.iter().find(|e| e.0 == "none").map(|e| e.2) else { continue };
                for (name, _, m) in list {
                    let g = groups
                        .entry((run.online(), walkers, rank(&STRATEGIES, &name), name.clone()))
                        .or_default();
                    if name != "none" {
                        g.0.push((m / base - 1.0) * 100.0);
                    }
                    g.1.push(m / batch / run.tb_hz() * 1e9);
                }
            }
        }
        groups
            .into_iter()
            .map(|((online, walkers, _, strategy), (oh, ns))| {
                let id = format!("walker/{online}/{walkers}/{strategy}");
                json!({
                    "cpus_online": online,
                    "walkers": walkers,
                    "strategy": strategy,
                    "rounds": ns.len(),
                    "overhead_percent": Summary::of(oh, &format!("{id}/oh")).map(|s| s.json(true)),
                    "ns_per_walk": Summary::of(ns, &format!("{id}/ns")).map(|s| s.json(false)),
                })
            })
            .collect()
    }

    /// The whole document.
    pub fn to_json(&self) -> Value {
        let runs: Vec<Value> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "run": i,
                    "log": r.log,
                    "meta": Value::Object(r.meta.clone()),
                    "host": Value::Object(r.host.clone()),
                })
            })
            .collect();
        let mmu: Vec<Value> = self
            .runs
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.mmu.iter().map(move |m| {
                    let mut m = m.clone();
                    m.remove("kind");
                    m.insert("run".into(), json!(i));
                    Value::Object(m)
                })
            })
            .collect();
        let walker_events: Vec<Value> = self
            .runs
            .first()
            .map(|r| {
                r.walker_events
                    .iter()
                    .map(|w| {
                        let mut w = w.clone();
                        w.remove("kind");
                        Value::Object(w)
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "schema": SCHEMA,
            "generator": concat!("benchplot ", env!("CARGO_PKG_VERSION")),
            "bootstrap": {
                "statistic": "median",
                "interval": "percentile",
                "level": stats::LEVEL,
                "resamples": stats::RESAMPLES,
                "seed": stats::SEED,
                "ratios": "ipi / strategy per (run, rep) pair of the same cell group",
            },
            "runs": runs,
            "walker_events": walker_events,
            "matrix": self.matrix_json(),
            "walker_cost": self.walker_json(),
            "mmu": mmu,
        })
    }
}

/// The document as text: one line per top-level field, and one line per
/// entry of each top-level array (small in a diff, still readable).
pub fn document_text(doc: &Value) -> String {
    let mut out = String::from("{\n");
    let fields: Vec<(&String, &Value)> = doc.as_object().map(|o| o.iter().collect()).unwrap_or_default();
    for (i, (k, v)) in fields.iter().enumerate() {
        out.push_str(&format!("  {}: ", Value::String(k.to_string())));
        match v.as_array() {
            Some(items) if !items.is_empty() => {
                out.push_str("[\n");
                let lines: Vec<String> = items.iter().map(|e| format!("    {e}")).collect();
                out.push_str(&lines.join(",\n"));
                out.push_str("\n  ]");
            }
            _ => out.push_str(&v.to_string()),
        }
        out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

// ---------------------------------------------------------------------------
// Reading the document back (the README and the chart are made from it).

/// A matrix entry of the document.
pub fn matrix_entry<'a>(
    doc: &'a Value,
    online: u64,
    load: &str,
    cpus: u64,
    strategy: &str,
) -> Option<&'a Value> {
    doc["matrix"].as_array()?.iter().find(|e| {
        e["cpus_online"].as_u64() == Some(online)
            && e["load"] == load
            && e["cpus"].as_u64() == Some(cpus)
            && e["strategy"] == strategy
    })
}

/// A walker-cost entry of the document.
pub fn walker_entry<'a>(doc: &'a Value, online: u64, walkers: u64, strategy: &str) -> Option<&'a Value> {
    doc["walker_cost"].as_array()?.iter().find(|e| {
        e["cpus_online"].as_u64() == Some(online)
            && e["walkers"].as_u64() == Some(walkers)
            && e["strategy"] == strategy
    })
}

/// The summary at `path` below `v`.
pub fn summary_at(v: &Value, path: &[&str]) -> Option<Summary> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Summary::from_json(cur)
}

/// Distinct values of a numeric field of the entries of `section`, ascending.
pub fn distinct(doc: &Value, section: &str, field: &str) -> Vec<u64> {
    let mut v: Vec<u64> =
        doc[section].as_array().into_iter().flatten().filter_map(|e| e[field].as_u64()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Strategies of `section` in report order.
pub fn strategies_in(doc: &Value, section: &str) -> Vec<&'static str> {
    STRATEGIES
        .into_iter()
        .filter(|s| doc[section].as_array().into_iter().flatten().any(|e| e["strategy"] == *s))
        .collect()
}

#[cfg(test)]
mod tests;
