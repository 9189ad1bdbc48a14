//! Thin entry point: parse arguments, run, map the outcome to an exit code.

use clap::Parser;

/// The static (musl) binary's allocator: musl's own is several times slower on the many small
/// allocations of a large diff or plan.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    // One TLS crypto provider for every HTTP client (octocrab now, kube and reqwest later).
    let _ = rustls::crypto::ring::default_provider().install_default();
    drop_empty_inputs();
    let cli = shipgate::cli::Cli::parse();
    ExitCode::from(shipgate::commands::execute(cli))
}

/// An action input left empty arrives as `SHIPGATE_X=""`; treat it as unset so the flag's
/// default applies (clap would otherwise try to parse the empty value).
fn drop_empty_inputs() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(name, value)| {
            name.to_str().is_some_and(|n| n.starts_with("SHIPGATE_")) && value.is_empty()
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::remove_var(name) };
    }
}
