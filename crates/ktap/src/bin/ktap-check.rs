//! `ktap-check FILE`: finds the KTAP document in a console log, checks it
//! against the KTAP v1 grammar (crate `ktap`) and prints its counts as
//! `ktap: pass:P fail:F skip:S suites:N totals-line:yes|no`. Exit 0 if valid,
//! 1 with `ktap: invalid: line N: why` if not, 2 if the file cannot be read.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ktap-check FILE");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ktap-check: {path}: {e}");
            std::process::exit(2);
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    match ktap::check(&text) {
        Ok(c) => {
            println!(
                "ktap: pass:{} fail:{} skip:{} suites:{} totals-line:{}",
                c.leaves.pass,
                c.leaves.fail,
                c.leaves.skip,
                c.suites,
                if c.totals_line.is_some() { "yes" } else { "no" }
            );
        }
        Err(e) => {
            println!("ktap: invalid: {e}");
            std::process::exit(1);
        }
    }
}
