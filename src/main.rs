//! The `axon` binary: parse the command line, start logging, and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

use axon::cli::{Cli, Command};

// The binary's allocator (see the note in Cargo.toml); the library leaves the choice to its user.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => axon::cli::check(&args),
        Command::Serve(args) => {
            axon::telemetry::init();
            match axon::cli::serve(*args) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("axon: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
