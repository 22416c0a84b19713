//! benchplot — the benchmark's host side.
//!
//! ```text
//! benchplot [--out DIR] LOG...
//!     merge the runs (one console log each) into DIR/bench.json and
//!     DIR/bench.svg (default DIR: results), print the README section
//! benchplot readme JSON... [--write README.md]
//!     print the README section made from the documents (the first is the
//!     main run, the others "past 16 threads"), or replace it in README.md
//!     between its markers
//! benchplot svg JSON
//!     print the chart of a document
//! ```

use std::process::ExitCode;

use serde_json::Value;

fn fail(msg: String) -> ExitCode {
    eprintln!("benchplot: {msg}");
    ExitCode::FAILURE
}

fn read_json(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: not JSON: {e}"))
}

fn readme(args: &[String]) -> ExitCode {
    let mut write = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--write" => match it.next() {
                Some(p) => write = Some(p.clone()),
                None => return fail("--write needs a file".into()),
            },
            _ => files.push(a.clone()),
        }
    }
    if files.is_empty() {
        return fail("usage: benchplot readme JSON... [--write README.md]".into());
    }
    let mut docs = Vec::new();
    for f in &files {
        match read_json(f) {
            Ok(d) => docs.push(d),
            Err(e) => return fail(e),
        }
    }
    let named: Vec<(&str, &Value)> = files.iter().map(String::as_str).zip(docs.iter()).collect();
    let section = benchplot::readme::section(&named);
    let Some(path) = write else {
        println!("{section}");
        return ExitCode::SUCCESS;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {path}: {e}")),
    };
    match benchplot::readme::splice(&text, &section) {
        Ok(new) => match std::fs::write(&path, new) {
            Ok(()) => {
                println!("benchplot: rewrote the benchmark section of {path}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("cannot write {path}: {e}")),
        },
        Err(e) => fail(format!("{path}: {e}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("readme") => return readme(&args[1..]),
        Some("svg") => {
            return match args.get(1).map(|p| read_json(p)) {
                Some(Ok(doc)) => {
                    print!("{}", benchplot::svg::chart(&doc));
                    ExitCode::SUCCESS
                }
                Some(Err(e)) => fail(e),
                None => fail("usage: benchplot svg JSON".into()),
            };
        }
        _ => {}
    }
    let mut out = "results".to_string();
    let mut logs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => match it.next() {
                Some(d) => out = d.clone(),
                None => return fail("--out needs a folder".into()),
            },
            "-h" | "--help" => {
                println!("usage: benchplot [--out DIR] LOG... | benchplot readme JSON... [--write README.md] | benchplot svg JSON");
                return ExitCode::SUCCESS;
            }
            _ => logs.push(a.clone()),
        }
    }
    if logs.is_empty() {
        eprintln!("usage: benchplot [--out DIR] LOG... | benchplot readme JSON... [--write README.md] | benchplot svg JSON");
        return ExitCode::from(2);
    }
    let mut runs = Vec::new();
    for path in &logs {
        let text = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => return fail(format!("cannot read {path}: {e}")),
        };
        match benchplot::parse(path, &text) {
            Ok(r) => runs.push(r),
            Err(e) => return fail(format!("{path}: {e}")),
        }
    }
    let doc = benchplot::Bench::new(runs).to_json();
    let json = benchplot::document_text(&doc);
    if let Err(e) = std::fs::create_dir_all(&out)
        .and_then(|_| std::fs::write(format!("{out}/bench.json"), json))
        .and_then(|_| std::fs::write(format!("{out}/bench.svg"), benchplot::svg::chart(&doc)))
    {
        return fail(format!("cannot write to {out}: {e}"));
    }
    println!("{}", benchplot::readme::section(&[(&format!("{out}/bench.json"), &doc)]));
    println!("benchplot: wrote {out}/bench.json and {out}/bench.svg from {} run(s)", logs.len());
    ExitCode::SUCCESS
}
