//! What this binary is and what it was built from.

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// SHA-256 of the sources the binary was built from (see build.rs and scripts/source-digest).
pub const SOURCE_DIGEST: &str = env!("SHIPGATE_SOURCE_DIGEST");

/// `shipgate 0.1.0`, or with `verbose` the digest and target too.
pub fn describe(verbose: bool) -> String {
    if verbose {
        format!(
            "shipgate {VERSION}\nsource-digest: {SOURCE_DIGEST}\nsource-files: {}\ntarget: {}-{}\n",
            env!("SHIPGATE_SOURCE_FILES"),
            std::env::consts::ARCH,
            std::env::consts::OS
        )
    } else {
        format!("shipgate {VERSION}\n")
    }
}
