//! Embeds a digest of the sources the binary is built from, so CI can tell whether the committed
//! `dist/` binary was built from the tree it sits in (`shipgate --version --verbose`).
//!
//! The digest is SHA-256 over, for every file of `src/` (recursively), `build.rs`, `Cargo.toml`
//! and `Cargo.lock`, sorted by path: `path NUL length NUL bytes`. `scripts/source-digest`
//! computes the same value in shell.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Compiles `src/fast_mem.c`; the libc names become aliases only where musl's are slow.
fn compile_fast_mem() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let mut build = cc::Build::new();
    build
        .file("src/fast_mem.c")
        .flag_if_supported("-ffreestanding")
        .flag_if_supported("-fno-builtin")
        .flag_if_supported("-fno-tree-loop-distribute-patterns")
        .warnings(true);
    if target == "x86_64-unknown-linux-musl" {
        build.define("SHIPGATE_REPLACE_LIBC_MEM", None);
    }
    build.compile("shipgate_fast_mem");
}

fn main() {
    compile_fast_mem();
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let mut files = Vec::new();
    collect(&root.join("src"), &mut files);
    for name in ["build.rs", "Cargo.toml", "Cargo.lock"] {
        let path = root.join(name);
        if path.exists() {
            files.push(path);
        }
    }
    let mut relative: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter_map(|p| {
            let rel = p
                .strip_prefix(&root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            Some((rel, p))
        })
        .collect();
    relative.sort();
    let mut hasher = Sha256::new();
    for (rel, path) in &relative {
        let bytes = std::fs::read(path).unwrap_or_default();
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        hasher.update(bytes.len().to_string().as_bytes());
        hasher.update([0]);
        hasher.update(&bytes);
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=SHIPGATE_SOURCE_DIGEST={digest}");
    println!("cargo:rustc-env=SHIPGATE_SOURCE_FILES={}", relative.len());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");
}
