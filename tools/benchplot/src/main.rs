//! benchplot LOG [OUTDIR] — reads the kernel console log of a `run=bench`
//! boot, writes OUTDIR/bench.json and OUTDIR/bench.svg (default `results`),
//! and prints the Markdown table.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(log_path) = args.get(1) else {
        eprintln!("usage: benchplot LOG [OUTDIR]");
        return ExitCode::from(2);
    };
    let out = args.get(2).map(String::as_str).unwrap_or("results");
    let log = match std::fs::read_to_string(log_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("benchplot: cannot read {log_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bench = match benchplot::parse(&log) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("benchplot: {log_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = serde_json::to_string_pretty(&bench.to_json()).expect("serializable");
    if let Err(e) = std::fs::create_dir_all(out)
        .and_then(|_| std::fs::write(format!("{out}/bench.json"), json + "\n"))
        .and_then(|_| std::fs::write(format!("{out}/bench.svg"), bench.to_svg()))
    {
        eprintln!("benchplot: cannot write to {out}: {e}");
        return ExitCode::FAILURE;
    }
    println!("{}", bench.to_markdown());
    println!("benchplot: wrote {out}/bench.json and {out}/bench.svg");
    ExitCode::SUCCESS
}
