//! The writer's output checked line by line and against the reader, and the
//! reader against hand-written valid and invalid documents.

use super::*;

struct S(String);
impl core::fmt::Write for S {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.push_str(s);
        Ok(())
    }
}

fn doc(f: impl FnOnce(&mut Writer, &mut S)) -> String {
    let mut w = Writer::new();
    let mut s = S(String::new());
    f(&mut w, &mut s);
    s.0
}

#[test]
fn nested_suites_with_every_directive() {
    let out = doc(|k, s| {
        k.start(s, Some(2)).unwrap();
        k.begin_subtest(s, "boot", Some(3)).unwrap();
        k.result(s, true, "smp_online", Directive::None).unwrap();
        k.diag(s, "expected 4 cpus\nsaw 3").unwrap();
        k.result(s, false, "ipi_all", Directive::None).unwrap();
        k.result(s, true, "race_1cpu", Directive::Skip("needs 2 cpus")).unwrap();
        assert_eq!(k.end_subtest(s).unwrap(), Totals { pass: 1, fail: 1, skip: 1 });
        k.begin_subtest(s, "mm", Some(2)).unwrap();
        k.result(s, false, "known_bug", Directive::Todo("qemu quirk")).unwrap();
        k.result(s, true, "map", Directive::None).unwrap();
        k.end_subtest(s).unwrap();
        assert_eq!(k.finish(s).unwrap(), Totals { pass: 2, fail: 1, skip: 2 });
    });
    let want = "\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: boot
    1..3
    ok 1 smp_online
    # expected 4 cpus
    # saw 3
    not ok 2 ipi_all
    ok 3 race_1cpu # SKIP needs 2 cpus
    # boot: pass:1 fail:1 skip:1 total:3
not ok 1 boot
    KTAP version 1
    # Subtest: mm
    1..2
    not ok 1 known_bug # TODO qemu quirk
    ok 2 map
    # mm: pass:1 fail:0 skip:1 total:2
ok 2 mm
# Totals: pass:2 fail:1 skip:2
";
    assert_eq!(out, want);
    let c = check(&out).unwrap();
    assert_eq!(c.leaves, Totals { pass: 2, fail: 1, skip: 2 });
    assert_eq!(c.suites, 2);
    assert_eq!(c.top_results, 2);
    assert_eq!(c.totals_line, Some(c.leaves));
}

#[test]
fn timeout_and_error_are_failures() {
    let out = doc(|k, s| {
        k.start(s, Some(2)).unwrap();
        k.result(s, false, "hang", Directive::Timeout("after 1500 ms")).unwrap();
        k.result(s, false, "trap", Directive::Error("vector 0xe40")).unwrap();
        k.finish(s).unwrap();
    });
    assert!(out.contains("\nnot ok 1 hang # TIMEOUT after 1500 ms\n"));
    assert!(out.contains("\nnot ok 2 trap # ERROR vector 0xe40\n"));
    assert!(out.ends_with("# Totals: pass:0 fail:2 skip:0\n"));
    assert_eq!(check(&out).unwrap().leaves.fail, 2);
}

#[test]
fn a_suite_with_only_skips_is_ok_and_says_so() {
    let out = doc(|k, s| {
        k.start(s, Some(1)).unwrap();
        k.begin_subtest(s, "walk", Some(1)).unwrap();
        k.result(s, true, "race", Directive::Skip("1 cpu")).unwrap();
        k.end_subtest(s).unwrap();
        k.finish(s).unwrap();
    });
    assert!(out.contains("\nok 1 walk # SKIP every test skipped\n"), "{out}");
    assert_eq!(check(&out).unwrap().leaves, Totals { pass: 0, fail: 0, skip: 1 });
}

#[test]
fn names_cannot_forge_directives_or_lines() {
    let out = doc(|k, s| {
        k.start(s, None).unwrap();
        k.result(s, false, "evil # SKIP\nok 9 x", Directive::None).unwrap();
        k.finish(s).unwrap();
    });
    assert!(out.contains("not ok 1 evil _ SKIP_ok 9 x\n"), "{out}");
    assert_eq!(check(&out).unwrap().leaves.fail, 1);
}

#[test]
fn empty_diagnostic_lines_and_reasons() {
    let out = doc(|k, s| {
        k.start(s, None).unwrap();
        k.diag(s, "a\n\nb").unwrap();
        k.result(s, true, "t", Directive::Skip("")).unwrap();
        k.finish(s).unwrap();
    });
    assert!(out.contains("# a\n#\n# b\nok 1 t # SKIP\n"), "{out}");
}

#[test]
fn writer_refuses_bad_nesting() {
    let mut k = Writer::new();
    let mut s = S(String::new());
    k.start(&mut s, None).unwrap();
    assert_eq!(k.end_subtest(&mut s), Err(WriteError::NoSubtest));
    for _ in 0..MAX_DEPTH - 1 {
        k.begin_subtest(&mut s, "x", None).unwrap();
    }
    assert_eq!(k.begin_subtest(&mut s, "x", None), Err(WriteError::TooDeep));
    k.finish(&mut s).unwrap();
    check(&s.0).unwrap();
}

#[test]
fn next_number_and_depth_track_the_document() {
    let mut k = Writer::new();
    let mut s = S(String::new());
    k.start(&mut s, None).unwrap();
    k.begin_subtest(&mut s, "a", None).unwrap();
    assert_eq!((k.depth(), k.next_number()), (1, 1));
    k.result(&mut s, true, "t", Directive::None).unwrap();
    assert_eq!(k.next_number(), 2);
    k.end_subtest(&mut s).unwrap();
    assert_eq!((k.depth(), k.next_number()), (0, 2));
}

/// Firmware lines before the document and kernel messages inside it are
/// not KTAP and are ignored.
#[test]
fn reader_skips_foreign_lines() {
    let log = "\
[    1.234,5] OPAL: booting
INIT: Starting kernel
KTAP version 1
1..1
ktest: running 1 tests on 4 cpus
    KTAP version 1
    # Subtest: boot
    1..1
inject: stall target is cpu 2 (PIR 0x8)
    ok 1 t
    # boot: pass:1 fail:0 skip:0 total:1
ok 1 boot
# Totals: pass:1 fail:0 skip:0
1 passed, 0 failed
RESULT: ok
";
    let c = check(log).unwrap();
    assert_eq!(c.leaves, Totals { pass: 1, fail: 0, skip: 0 });
}

fn invalid(doc: &str) -> Error {
    check(doc).expect_err("must be rejected")
}

#[test]
fn reader_rejects_grammar_errors() {
    assert_eq!(invalid("hello\n").what, "no 'KTAP version 1' line");
    assert_eq!(invalid("KTAP version 1\n1..2\nok 1 a\n").what, "input ended before the top-level plan was complete");
    assert_eq!(invalid("KTAP version 1\nok 2 a\n").line, 2);
    assert_eq!(invalid("KTAP version 1\nok 1 a\n1..1\n").line, 3);
    assert_eq!(invalid("KTAP version 1\n1..x\n").what, "malformed plan line");
    assert_eq!(invalid("KTAP version 1\nok a\n").what, "result line without a test number");
    assert_eq!(invalid("KTAP version 1\nok 1\n").what, "result line without a test name");
    assert_eq!(invalid("KTAP version 1\nnot ok 1 a # SKIP x\n").what, "a SKIP result must be 'ok'");
    assert_eq!(invalid("KTAP version 1\nKTAP version 2\n").what, "only KTAP version 1 is understood");
    // a nested result without its version line
    assert_eq!(invalid("KTAP version 1\n    ok 1 a\n").line, 2);
    // a subtest that never got its result line
    assert_eq!(invalid("KTAP version 1\n    KTAP version 1\n    ok 1 a\n").line, 3);
    // the suite line must be not ok when a test in it failed, and ok otherwise
    let s = "KTAP version 1\n    KTAP version 1\n    not ok 1 a\nok 1 s\n";
    assert_eq!(invalid(s).line, 4);
    let s = "KTAP version 1\n    KTAP version 1\n    ok 1 a\nnot ok 1 s\n";
    assert_eq!(invalid(s).line, 4);
    // a subtest's plan must be met
    let s = "KTAP version 1\n    KTAP version 1\n    1..2\n    ok 1 a\nok 1 s\n";
    assert_eq!(invalid(s).line, 5);
    // two levels closed by one result line
    let s = "KTAP version 1\n  KTAP version 1\n    KTAP version 1\n    ok 1 a\nok 1 s\n";
    assert_eq!(invalid(s).line, 5);
    // the Totals line must agree
    let s = "KTAP version 1\nok 1 a\n# Totals: pass:2 fail:0 skip:0\n";
    assert_eq!(invalid(s).what, "the Totals line disagrees with the results");
}

#[test]
fn reader_accepts_ktap_spec_shapes() {
    // no plan, TODO counted as skip, a second document ignored
    let s = "KTAP version 1\nok 1 a\nnot ok 2 b # TODO later\nKTAP version 1\nnot ok 1 z\n";
    assert_eq!(check(s).unwrap().leaves, Totals { pass: 1, fail: 0, skip: 1 });
    // two-space indentation (the specification's examples) works too
    let s = "KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  ok 1 a\nok 1 s\n";
    assert_eq!(check(s).unwrap().suites, 1);
    // a directive without a reason, and a plan that skips everything
    let s = "KTAP version 1\n1..0 # SKIP nothing to do\n";
    assert_eq!(check(s).unwrap().top_results, 0);
}

/// Property: whatever sequence of results and subtests the writer is
/// driven through, the reader accepts the output and counts the same.
#[test]
fn writer_output_always_reads_back() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..2000 {
        let mut k = Writer::new();
        let mut s = S(String::new());
        k.start(&mut s, None).unwrap();
        for _ in 0..rnd(40) {
            match rnd(7) {
                0 if k.depth() + 1 < MAX_DEPTH => k.begin_subtest(&mut s, "suite", None).unwrap(),
                1 if k.depth() > 0 => {
                    k.end_subtest(&mut s).unwrap();
                }
                2 => k.diag(&mut s, "why\nbecause").unwrap(),
                3 => k.result(&mut s, true, "s", Directive::Skip("r")).unwrap(),
                4 => k.result(&mut s, false, "f", Directive::Timeout("t")).unwrap(),
                5 => k.result(&mut s, false, "todo", Directive::Todo("x")).unwrap(),
                _ => k.result(&mut s, rnd(2) == 0, "t", Directive::None).unwrap(),
            }
        }
        let t = k.finish(&mut s).unwrap();
        let c = check(&s.0).unwrap_or_else(|e| panic!("{e}\n{}", s.0));
        assert_eq!(c.leaves, t);
    }
}
