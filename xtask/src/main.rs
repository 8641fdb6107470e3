//! `cargo xtask`: parses the flags, runs one task, prints any error, and is
//! the only place that exits.

use clap::Parser;

use xtask::cli::Cli;
use xtask::exit::ExitCode;
use xtask::{error, signals};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match xtask::run(cli) {
        Ok(code) => code,
        // A step that failed because it was interrupted is an interruption, not an error.
        Err(_) if signals::interrupted() => {
            eprintln!("interrupted");
            ExitCode::Interrupted
        }
        Err(err) => {
            eprint!("{}", error::render(&err));
            ExitCode::Usage
        }
    };
    std::process::ExitCode::from(code.code() as u8)
}
