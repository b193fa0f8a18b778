//! The `rocketwire` binary.

use std::process::ExitCode;

use clap::Parser;
use rocketwire_cli::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    rocketwire_cli::init_logging(cli.verbose);
    match rocketwire_cli::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rocketwire: error: {e}");
            ExitCode::FAILURE
        }
    }
}
