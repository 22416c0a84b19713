//! The chart, drawn from the JSON document: per load, the munmap time
//! against the CPUs in `mm_cpumask` (log-log; a point at the median and a
//! bar over its 95 % interval; one colour per strategy, one dash pattern
//! per topology), and, if the runs measured it, the walker-side overhead
//! against the number of concurrent walkers.

use std::fmt::Write as _;

use serde_json::Value;

use crate::stats::Summary;
use crate::{distinct, matrix_entry, strategies_in, summary_at, walker_entry, LOADS};

/// Colours by strategy (same order as [`crate::STRATEGIES`]).
const COLORS: [(&str, &str); 6] = [
    ("ipi", "#d62728"),
    ("count", "#1f77b4"),
    ("count-atomic", "#17becf"),
    ("count-wait", "#2ca02c"),
    ("percpu", "#9467bd"),
    ("rcu", "#ff7f0e"),
];
const DASHES: [&str; 3] = ["", "7,4", "2,3"];

fn color(strategy: &str) -> &'static str {
    COLORS.iter().find(|c| c.0 == strategy).map_or("#444", |c| c.1)
}

/// "V vCPUs on H host cores (X× oversubscribed)" for topology `online`.
pub fn oversubscription(doc: &Value, online: u64) -> String {
    let cores = doc["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["meta"]["cpus_online"].as_u64() == Some(online))
        .find_map(|r| r["host"]["host_cores"].as_u64());
    match cores {
        Some(c) if c > 0 => {
            format!("{online} vCPUs on {c} host cores ({}× oversubscribed)", fmt_x(online as f64 / c as f64))
        }
        _ => format!("{online} vCPUs (host cores not recorded)"),
    }
}

fn fmt_x(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}

fn fmt_pow10(d: i32) -> String {
    if d >= 0 {
        format!("{}", 10u64.pow(d as u32))
    } else {
        format!("{}", 10f64.powi(d))
    }
}

/// The SVG of `doc`.
pub fn chart(doc: &Value) -> String {
    let onlines = distinct(doc, "matrix", "cpus_online");
    let counts = distinct(doc, "matrix", "cpus");
    let strategies = strategies_in(doc, "matrix");
    let walker_onlines = distinct(doc, "walker_cost", "cpus_online");
    let (pw, ph, ml, mt, gap) = (300.0, 250.0, 80.0, 90.0, 24.0);
    let row2 = if walker_onlines.is_empty() { 0.0 } else { ph + 110.0 };
    let width = ml + 3.0 * (pw + gap) + 150.0;
    let height = mt + ph + 60.0 + row2 + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    let thps = doc["matrix"].as_array().and_then(|m| m.first()).and_then(|e| e["thps"].as_u64()).unwrap_or(0);
    let reps = doc["matrix"].as_array().and_then(|m| m.first()).and_then(|e| e["reps"].as_u64()).unwrap_or(0);
    let _ = writeln!(
        s,
        "<text x=\"{ml}\" y=\"22\" font-size=\"15\">munmap of {thps} THPs: median of {reps} reps per point, bar = 95 % bootstrap interval (QEMU powernv, log-log)</text>"
    );
    for (i, &o) in onlines.iter().enumerate() {
        let dash = DASHES[i % DASHES.len()];
        let y = 42.0 + i as f64 * 16.0;
        let _ = writeln!(
            s,
            "<line x1=\"{ml}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#333\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            ml + 30.0,
            ml + 36.0,
            y + 4.0,
            oversubscription(doc, o)
        );
    }
    // y range over every interval drawn.
    let mut vals = Vec::new();
    for e in doc["matrix"].as_array().into_iter().flatten() {
        if let Some(m) = summary_at(e, &["munmap_ms"]) {
            vals.extend([m.lo, m.hi, m.median]);
        }
    }
    let positive: Vec<f64> = vals.into_iter().filter(|v| *v > 0.0).collect();
    let lo = positive.iter().copied().fold(f64::INFINITY, f64::min).max(1e-3).log10().floor();
    let hi = positive.iter().copied().fold(0.0, f64::max).max(1e-3).log10().ceil().max(lo + 1.0);
    let xmax = counts.last().copied().unwrap_or(1).max(2) as f64;
    for (pi, load) in LOADS.iter().enumerate() {
        let x0 = ml + pi as f64 * (pw + gap);
        let xp = |c: f64| x0 + 10.0 + (c.log2() / xmax.log2()) * (pw - 20.0);
        let yp = |v: f64| mt + ph - (v.max(1e-3).log10() - lo) / (hi - lo) * ph;
        let _ = writeln!(
            s,
            "<rect x=\"{x0}\" y=\"{mt}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">load: {load}</text>",
            x0 + pw / 2.0,
            mt - 6.0
        );
        let mut d = lo as i32;
        while f64::from(d) <= hi {
            let y = yp(10f64.powi(d));
            let _ =
                writeln!(s, "<line x1=\"{x0}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#eee\"/>", x0 + pw);
            if pi == 0 {
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ms</text>",
                    x0 - 5.0,
                    y + 4.0,
                    fmt_pow10(d)
                );
            }
            d += 1;
        }
        x_axis(&mut s, &counts, &xp, x0 + pw / 2.0, mt + ph, "CPUs in mm_cpumask");
        for (oi, &online) in onlines.iter().enumerate() {
            for (si, st) in strategies.iter().enumerate() {
                let off = (si as f64 - (strategies.len() as f64 - 1.0) / 2.0) * 2.5;
                let pts: Vec<(f64, Summary)> = counts
                    .iter()
                    .filter_map(|&c| {
                        let e = matrix_entry(doc, online, load, c, st)?;
                        Some((xp(c as f64) + off, summary_at(e, &["munmap_ms"])?))
                    })
                    .collect();
                draw_series(&mut s, &pts, color(st), DASHES[oi % DASHES.len()], &yp);
            }
        }
    }
    if !walker_onlines.is_empty() {
        walker_panel(&mut s, doc, walker_onlines[0], ml, mt + ph + 100.0, 2.0 * pw + gap, ph);
    }
    // Legend.
    let lx = ml + 3.0 * (pw + gap);
    for (i, st) in strategies.iter().enumerate() {
        let y = mt + 10.0 + i as f64 * 20.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{st}</text>",
            lx + 20.0,
            color(st),
            lx + 26.0,
            y + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// An x axis below a panel whose bottom edge is at `bottom`: a label per
/// tick at `xp(tick)`, and the axis title centred at `centre`.
fn x_axis(s: &mut String, ticks: &[u64], xp: &dyn Fn(f64) -> f64, centre: f64, bottom: f64, title: &str) {
    for &t in ticks {
        let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{t}</text>", xp(t as f64), bottom + 16.0);
    }
    let _ = writeln!(s, "<text x=\"{centre}\" y=\"{}\" text-anchor=\"middle\">{title}</text>", bottom + 34.0);
}

/// A polyline through the medians and a bar over each interval.
fn draw_series(s: &mut String, pts: &[(f64, Summary)], color: &str, dash: &str, yp: &dyn Fn(f64) -> f64) {
    if pts.is_empty() {
        return;
    }
    let path: Vec<String> = pts.iter().map(|(x, m)| format!("{x:.1},{:.1}", yp(m.median))).collect();
    let _ = writeln!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" stroke-dasharray=\"{dash}\"/>",
        path.join(" ")
    );
    for (x, m) in pts {
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"1\"/><circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"/>",
            yp(m.lo),
            yp(m.hi),
            yp(m.median)
        );
    }
}

/// Walker-side overhead (%) against concurrent walkers.
fn walker_panel(s: &mut String, doc: &Value, online: u64, x0: f64, y0: f64, pw: f64, ph: f64) {
    let walkers = distinct(doc, "walker_cost", "walkers");
    let strategies: Vec<&str> = strategies_in(doc, "walker_cost");
    // The range covers every median (and 0 and 5 %); intervals reaching
    // beyond it are cut at the frame.
    let mut lo: f64 = -1.0;
    let mut hi: f64 = 6.0;
    for e in doc["walker_cost"].as_array().into_iter().flatten() {
        if let Some(m) = summary_at(e, &["overhead_percent"]) {
            lo = lo.min(m.median - 1.0);
            hi = hi.max(m.median + 1.0);
        }
    }
    let step = if hi - lo > 20.0 { 5.0 } else { 1.0 };
    let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    let wmax = walkers.last().copied().unwrap_or(1).max(2) as f64;
    let xp = |w: f64| x0 + 20.0 + (w.log2() / wmax.log2()) * (pw - 40.0);
    let yp = |v: f64| y0 + ph - (v.clamp(lo, hi) - lo) / (hi - lo) * ph;
    let _ = writeln!(
        s,
        "<rect x=\"{x0}\" y=\"{y0}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>\n<text x=\"{x0}\" y=\"{}\">walker-side cost of registering, % over an unregistered walk (median of interleaved rounds, bar = 95 % interval); {}</text>",
        y0 - 8.0,
        oversubscription(doc, online)
    );
    let mut v = lo;
    while v <= hi {
        let y = yp(v);
        let stroke = if v == 0.0 {
            "#999"
        } else if v == 5.0 {
            "#e99"
        } else {
            "#eee"
        };
        let _ = writeln!(
            s,
            "<line x1=\"{x0}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v}%</text>",
            x0 + pw,
            x0 - 5.0,
            y + 4.0
        );
        v += step;
    }
    x_axis(s, &walkers, &xp, x0 + pw / 2.0, y0 + ph, "CPUs walking one mm at once");
    for (si, st) in strategies.iter().enumerate() {
        let off = (si as f64 - (strategies.len() as f64 - 1.0) / 2.0) * 3.0;
        let pts: Vec<(f64, Summary)> = walkers
            .iter()
            .filter_map(|&w| {
                let e = walker_entry(doc, online, w, st)?;
                Some((xp(w as f64) + off, summary_at(e, &["overhead_percent"])?))
            })
            .collect();
        draw_series(s, &pts, color(st), "", &yp);
    }
}
