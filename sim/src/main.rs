//! `heddle-sim`: runs distributed scenarios over many seeds (issue #5).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            if heddle_sim::SCENARIOS.is_empty() {
                println!("no scenarios yet: the distributed patterns arrive with issues #4 and #5");
            }
            for (name, what) in heddle_sim::SCENARIOS {
                println!("{name}\t{what}");
            }
            ExitCode::SUCCESS
        }
        Some("sweep") if heddle_sim::SCENARIOS.is_empty() => {
            println!("no scenarios yet: nothing to sweep");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: heddle-sim list | sweep");
            ExitCode::from(2)
        }
    }
}
