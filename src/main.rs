//! Thin entry point: parse arguments, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // One TLS crypto provider for every HTTP client (octocrab now, kube and reqwest later).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = shipgate::cli::Cli::parse();
    ExitCode::from(shipgate::commands::execute(cli))
}
