//! `heddle-sim`: runs heddle's distributed scenarios over many seeds with
//! injected faults. `heddle-sim --help` lists the commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    heddle_sim::cli::main()
}
