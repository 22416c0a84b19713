//! Tests of parsing, merging, the statistics in the document, the chart and
//! the README section, on small synthetic logs.

use super::*;

const TB: f64 = 512_000.0; // ticks per ms at 512 MHz

fn op(n: u64, tb: f64, ipis: u64, walks: u64, full_fences: u64) -> String {
    if walks == 10 {
        // The kernel's compact form: zeros left out, sparse TLB counts.
        return format!(
            "{{\"n\":{n},\"done\":{n},\"tb\":{tb},\"ipis\":{ipis},\"irqs\":{ipis},\"walks\":{walks},\
             \"tlbie\":{{\"00\":1,\"21\":{n}}},\"ev\":{{\"serializations\":{n},\"full_fences\":{full_fences},\
             \"ipis\":{ipis},\"acks_waited\":{ipis}}}}}"
        );
    }
    format!(
        "{{\"n\":{n},\"done\":{n},\"tb\":{tb},\"sync_tb\":0,\"ipis\":{ipis},\"irqs\":{ipis},\"walks\":{walks},\
         \"tlbie\":[[1,0,0,0],[0,0,0,0],[0,{n},0,0]],\"tlbiel\":[[0,0,0,0],[0,0,0,0],[0,0,0,0]],\
         \"ev\":{{\"serializations\":{n},\"skipped\":0,\"full_fences\":{full_fences},\"lwsyncs\":0,\"shared_rmws\":0,\
         \"remote_loads\":0,\"ipis\":{ipis},\"acks_waited\":{ipis},\"spins\":0,\"walkers_seen\":0,\"grace_periods\":0}}}}"
    )
}

fn cell(rep: u64, strategy: &str, cpus: u64, load: &str, ms: f64, ipis: u64) -> String {
    let tb = ms * TB;
    format!(
        "BENCH {{\"kind\":\"cell\",\"rep\":{rep},\"order\":0,\"strategy\":\"{strategy}\",\"cpus\":{cpus},\"load\":\"{load}\",\
         \"thps\":8,\"munmap_tb\":{tb},\"serialize_tb\":{},\"split\":{},\"collapse\":{},\"munmap\":{},\"free\":{}}}\n",
        tb / 2.0,
        op(4, 4.0 * TB, 0, 0, 4),
        op(4, 4.0 * TB, 0, 0, 0),
        op(1, tb, ipis, 10, 8),
        op(4, TB, 0, 0, 4)
    )
}

/// A run: `ipi` takes `ipi_ms[rep]`, `count` a hundredth of it, at 4 CPUs;
/// 1 CPU: both 1 ms.
fn log(ipi_ms: &[f64], rounds: &[(f64, f64)]) -> String {
    let mut s = String::from(
        "skiboot noise\n\
         BENCH {\"kind\":\"meta\",\"schema\":2,\"cpus_online\":4,\"thps\":8,\"quick\":true,\"reps\":3,\"seed\":1,\
         \"bootargs\":\"run=bench bench.quick\",\"tb_hz\":512000000}\n\
         BENCH {\"kind\":\"walker_events\",\"strategy\":\"count\",\"full_fences\":1,\"lwsyncs\":1,\"shared_rmws\":0,\"own_rmws\":0,\"stores\":2,\"loads\":2}\n\
         BENCH {\"kind\":\"walker_events\",\"strategy\":\"count-atomic\",\"full_fences\":1,\"lwsyncs\":1,\"shared_rmws\":2,\"own_rmws\":0,\"stores\":0,\"loads\":0}\n",
    );
    for (r, &(none, count)) in rounds.iter().enumerate() {
        s += &if r % 2 == 0 {
            format!(
                "BENCH {{\"kind\":\"walker_round\",\"walkers\":1,\"round\":{r},\"slice_tb\":1,\"batch\":64,\"s\":[\
                 {{\"strategy\":\"none\",\"walks\":64,\"tb\":1,\"batches\":1,\"median_batch_tb\":{none}}},\
                 {{\"strategy\":\"count\",\"walks\":64,\"tb\":1,\"batches\":1,\"median_batch_tb\":{count}}}]}}\n"
            )
        } else {
            format!(
                "BENCH {{\"kind\":\"walker_round\",\"walkers\":1,\"round\":{r},\"slice_tb\":1,\"batch\":64,\"s\":[\
                 [\"none\",64,1,1,{none}],[\"count\",64,1,1,{count}]]}}\n"
            )
        };
    }
    for (rep, &ms) in ipi_ms.iter().enumerate() {
        let rep = rep as u64;
        s += &cell(rep, "ipi", 1, "idle", 1.0, 0);
        s += &cell(rep, "count", 1, "idle", 1.0, 0);
        s += &cell(rep, "ipi", 4, "idle", ms, 24);
        s += &cell(rep, "count", 4, "idle", ms / 100.0, 0);
        s += &cell(rep, "count-atomic", 4, "idle", ms / 50.0, 0);
    }
    s += "BENCH {\"kind\":\"mmu\",\"flush\":\"tlbie\",\"cpus\":1,\"map_unmap_flush_per_s\":4000}\n";
    s += "BENCH {\"kind\":\"host\",\"commit\":\"abc1234\",\"dirty\":false,\"qemu\":\"10.0.2\",\"host_cpu\":\"AMD EPYC\",\"host_cores\":2,\"machine\":\"powernv9\",\"smp\":\"4\"}\n";
    s
}

fn two_runs() -> Value {
    let a = parse("a.log", &log(&[10.0, 12.0, 11.0], &[(640.0, 646.4), (640.0, 646.4)])).unwrap();
    let b = parse("b.log", &log(&[9.0, 30.0], &[(1280.0, 1292.8)])).unwrap();
    Bench::new(vec![a, b]).to_json()
}

#[test]
fn parses_every_kind_and_rejects_garbage() {
    let r = parse("x", &log(&[10.0], &[(1.0, 1.0)])).unwrap();
    assert_eq!((r.cells.len(), r.walker_rounds.len(), r.walker_events.len(), r.mmu.len()), (5, 1, 2, 1));
    assert_eq!(r.host.get("commit").and_then(Value::as_str), Some("abc1234"));
    assert_eq!(parse("x", "nothing here").unwrap_err(), Error::Empty);
    assert!(matches!(parse("x", "BENCH {not json").unwrap_err(), Error::BadLine { line: 1, .. }));
    assert!(matches!(parse("x", "BENCH [1,2]").unwrap_err(), Error::BadLine { .. }));
    assert!(matches!(parse("x", "a\nBENCH {\"kind\":\"x\"}").unwrap_err(), Error::BadLine { line: 2, .. }));
}

#[test]
fn document_has_schema_provenance_and_merged_samples() {
    let doc = two_runs();
    assert_eq!(doc["schema"], SCHEMA);
    assert_eq!(doc["runs"].as_array().unwrap().len(), 2);
    assert_eq!(doc["runs"][1]["log"], "b.log");
    assert_eq!(doc["runs"][0]["host"]["host_cores"], 2);
    assert_eq!(doc["runs"][0]["meta"]["bootargs"], "run=bench bench.quick");
    assert_eq!(doc["bootstrap"]["resamples"], stats::RESAMPLES);
    let ipi = matrix_entry(&doc, 4, "idle", 4, "ipi").unwrap();
    let m = summary_at(ipi, &["munmap_ms"]).unwrap();
    assert_eq!(m.samples.len(), 5, "3 reps of run a + 2 of run b");
    assert!((m.median - 11.0).abs() < 1e-9, "{m:?}");
    assert!((m.min - 9.0).abs() < 1e-9 && (m.max - 30.0).abs() < 1e-9);
    assert!(m.lo <= m.median && m.median <= m.hi);
    assert!(ipi["ratio"].is_null(), "no ratio of ipi to itself");
}

#[test]
fn ratios_pair_reps_of_the_same_run() {
    let doc = two_runs();
    let r = summary_at(matrix_entry(&doc, 4, "idle", 4, "count").unwrap(), &["ratio"]).unwrap();
    // Every pair is exactly 100 although the times vary threefold.
    assert_eq!(r.samples.len(), 5);
    for v in &r.samples {
        assert!((v - 100.0).abs() < 1e-6, "{r:?}");
    }
    assert!((r.lo - 100.0).abs() < 1e-6 && (r.hi - 100.0).abs() < 1e-6);
    let s = summary_at(matrix_entry(&doc, 4, "idle", 4, "count").unwrap(), &["serialize_ratio"]).unwrap();
    assert!((s.median - 100.0).abs() < 1e-6);
}

#[test]
fn events_are_per_operation_and_walker_side_uses_the_profile() {
    let doc = two_runs();
    let ipi = matrix_entry(&doc, 4, "idle", 4, "ipi").unwrap();
    let e = |op: &str, k: &str| summary_at(ipi, &["events_per_op", op, k]).map(|s| s.median);
    assert_eq!(e("munmap", "ipis"), Some(24.0));
    assert_eq!(e("munmap", "changer_syncs"), Some(8.0 + 24.0), "protocol syncs + one per doorbell");
    assert_eq!(e("split", "changer_syncs"), Some(1.0), "4 fences over 4 splits");
    assert_eq!(e("split", "tlbie_ric2_is1"), Some(1.0));
    assert_eq!(e("split", "tlbie_ric0_is0"), Some(0.25));
    assert_eq!(e("collapse", "changer_syncs"), None, "zero everywhere: left out");
    let atomic = matrix_entry(&doc, 4, "idle", 4, "count-atomic").unwrap();
    let w = |k: &str| summary_at(atomic, &["events_per_op", "munmap", k]).map(|s| s.median);
    assert_eq!(w("walker_syncs"), Some(10.0));
    assert_eq!(w("walker_shared_rmws"), Some(20.0));
}

#[test]
fn walker_overhead_per_round_and_ns_per_walk() {
    let doc = two_runs();
    let c = walker_entry(&doc, 4, 1, "count").unwrap();
    let oh = summary_at(c, &["overhead_percent"]).unwrap();
    assert_eq!(oh.samples.len(), 3);
    assert!(oh.samples.iter().all(|v| (v - 1.0).abs() < 1e-9), "{oh:?}");
    let none = walker_entry(&doc, 4, 1, "none").unwrap();
    assert!(none["overhead_percent"].is_null());
    let ns = summary_at(none, &["ns_per_walk"]).unwrap();
    assert!((ns.median - 640.0 / 64.0 / 512e6 * 1e9).abs() < 1e-9, "{ns:?}");
}

#[test]
fn chart_draws_intervals_and_states_oversubscription() {
    let svg = svg::chart(&two_runs());
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    assert!(svg.contains("polyline") && svg.contains("<circle"));
    assert!(svg.contains("4 vCPUs on 2 host cores (2× oversubscribed)"), "{svg}");
    assert!(svg.contains("walker-side cost"));
    assert!(svg.contains("count-atomic"));
}

#[test]
fn readme_section_claims_only_what_the_intervals_allow() {
    let doc = two_runs();
    let s = readme::section(&[("docs/bench.json", &doc)]);
    assert!(s.starts_with(readme::BEGIN) && s.ends_with(readme::END), "{s}");
    assert!(s.contains("`abc1234`"), "provenance: {s}");
    assert!(s.contains("| × count |"), "{s}");
    // 1 → 4 CPUs: ipi rises with disjoint intervals (1 ms vs 9-30 ms).
    assert!(s.contains("`ipi` rises"), "{s}");
    // count at 4 CPUs is exactly 100× in every pair: met.
    assert!(s.contains("`count` 100 [100–100]× (faster than ipi, ≥ 100×)"), "{s}");
    assert!(s.contains("`count-atomic` 50.0 [50.0–50.0]× (faster than ipi, < 100×)"), "{s}");
    // Walker side: +1 % exactly, resolved, met.
    assert!(s.contains("- `count`: +1.00 [+1.00, +1.00] %; ≤ 5 %: met"), "{s}");
    assert!(s.contains("Against the cover letter"), "{s}");
    let spliced =
        readme::splice(&format!("intro\n{}\nold\n{}\ntail\n", readme::BEGIN, readme::END), &s).unwrap();
    assert!(spliced.starts_with("intro\n") && spliced.ends_with("\ntail\n") && !spliced.contains("old"));
    assert!(readme::splice("no markers", &s).is_err());
}

#[test]
fn overlapping_intervals_are_not_called_a_trend() {
    // Same times at 1 and 4 CPUs, noisy: no trend for count.
    let mut text = String::from(
        "BENCH {\"kind\":\"meta\",\"cpus_online\":4,\"thps\":8,\"reps\":4,\"tb_hz\":512000000}\n",
    );
    for (rep, (a, b)) in [(1.0, 1.2), (1.3, 0.9), (0.8, 1.1), (1.1, 1.0)].into_iter().enumerate() {
        text += &cell(rep as u64, "count", 1, "idle", a, 0);
        text += &cell(rep as u64, "count", 4, "idle", b, 0);
    }
    let doc = Bench::new(vec![parse("n", &text).unwrap()]).to_json();
    let s = readme::section(&[("n", &doc)]);
    assert!(s.contains("`count` no trend claimed"), "{s}");
}

#[test]
fn number_formatting() {
    assert_eq!(readme::sig(0.0), "0");
    assert_eq!(readme::sig(0.01234), "0.0123");
    assert_eq!(readme::sig(1.234), "1.23");
    assert_eq!(readme::sig(12.34), "12.3");
    assert_eq!(readme::sig(1234.6), "1235");
    assert_eq!(readme::sig(123456.0), "123,456");
}

#[test]
fn document_text_is_the_document_one_entry_per_line() {
    let doc = two_runs();
    let text = document_text(&doc);
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, doc);
    let matrix_lines =
        text.lines().filter(|l| l.starts_with("    {\"cells\"") || l.contains("\"cpus_online\"")).count();
    assert!(matrix_lines >= doc["matrix"].as_array().unwrap().len(), "{text}");
    assert!(text.lines().any(|l| l.starts_with("  \"schema\": 2")), "{text}");
}
