//! `{content}`: a digest of everything an image is built from, read from git objects.
//!
//! sha256 over the tree entries (path, mode, blob id) of the service's paths and, through their
//! own digests, of every service it depends on, transitively, plus the Dockerfile's entry and the
//! build inputs (target, build arguments). Same inputs → same digest → same tag, so an unchanged
//! service need not be rebuilt.

use crate::config::Config;
use crate::detect::matcher::{Hit, Owner};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// One file of a commit's tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TreeEntry {
    pub path: String,
    pub mode: u32,
    /// The object id's bytes (SHA-1).
    pub blob: [u8; 20],
}

/// What else goes into a service's digest besides its files.
#[derive(Debug, Clone, Default)]
pub struct BuildInputs {
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    pub args: Vec<(String, String)>,
}

/// The content digest of each service (by config index), hex, 64 characters.
///
/// Linear in tree entries, services and `depends-on` edges: a service's sources are hashed once
/// into a *source digest* — its own entries, then the source digests of what it depends on
/// (sorted) — and its content digest adds the Dockerfile and build inputs on top. Hashing every
/// dependency's files again for each dependent was quadratic on long chains of services.
pub fn digests(config: &Config, tree: &[TreeEntry], inputs: &[BuildInputs]) -> Vec<String> {
    let own = files_per_service(config, tree);
    let sources = source_digests(config, tree, &own);
    // Where each Dockerfile is in the tree, found in one pass.
    let wanted: HashSet<&str> = inputs
        .iter()
        .filter_map(|i| i.dockerfile.as_deref())
        .collect();
    let dockerfiles: HashMap<&str, &TreeEntry> = tree
        .iter()
        .filter(|e| wanted.contains(e.path.as_str()))
        .map(|e| (e.path.as_str(), e))
        .collect();
    sources
        .iter()
        .enumerate()
        .map(|(service, source)| {
            let mut hasher = Sha256::new();
            hasher.update(source);
            let input = inputs.get(service).cloned().unwrap_or_default();
            if let Some(entry) = input
                .dockerfile
                .as_deref()
                .and_then(|path| dockerfiles.get(path))
            {
                hash_entry(&mut hasher, entry);
            }
            hasher.update(format!("target={}\0", input.target.unwrap_or_default()).as_bytes());
            let mut args = input.args;
            args.sort();
            for (key, value) in args {
                hasher.update(format!("arg {key}={value}\0").as_bytes());
            }
            hex(&hasher.finalize())
        })
        .collect()
}

/// The tree entries each service's own paths take (indices into `tree`, in path order), from
/// one pass over the tree with the shared matcher.
fn files_per_service(config: &Config, tree: &[TreeEntry]) -> Vec<Vec<usize>> {
    let mut own: Vec<Vec<usize>> = vec![Vec::new(); config.services.len()];
    let mut scratch = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    for (index, entry) in tree.iter().enumerate() {
        config.matcher.hits(&entry.path, &mut scratch, &mut hits);
        for hit in &hits {
            if let Owner::Service(service) = hit.owner {
                own[service].push(index);
            }
        }
    }
    own
}

/// Per service, sha256 of its own entries and of its dependencies' source digests, computed in
/// dependency order so that each is hashed once.
fn source_digests(config: &Config, tree: &[TreeEntry], own: &[Vec<usize>]) -> Vec<[u8; 32]> {
    let mut digests: Vec<[u8; 32]> = vec![[0; 32]; own.len()];
    for service in config.graph.dependencies_first() {
        let mut hasher = Sha256::new();
        // `tree` is sorted by path and `own` holds ascending indices: path order.
        for &index in &own[service] {
            hash_entry(&mut hasher, &tree[index]);
        }
        let mut below: Vec<[u8; 32]> = config
            .graph
            .direct_dependencies(service)
            .iter()
            .map(|&dependency| digests[dependency])
            .collect();
        below.sort_unstable();
        below.dedup();
        for digest in &below {
            hasher.update(b"depends-on ");
            hasher.update(digest);
        }
        digests[service] = hasher.finalize().into();
    }
    digests
}

/// One entry as `<octal mode> <blob id><path>\0`.
fn hash_entry(hasher: &mut Sha256, entry: &TreeEntry) {
    use std::fmt::Write as _;
    let mut mode = String::with_capacity(8);
    let _ = write!(mode, "{:o} ", entry.mode);
    hasher.update(mode.as_bytes());
    hasher.update(entry.blob);
    hasher.update(entry.path.as_bytes());
    hasher.update([0]);
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse;

    const CONFIG: &str = "version: 1\nservices:\n  common: { paths: [libs/**] }\n  auth: { paths: [auth/**], depends-on: [common] }\n  web: { paths: [web/**] }\n";

    fn blob_id(text: &str) -> [u8; 20] {
        let mut id = [0u8; 20];
        id[..text.len()].copy_from_slice(text.as_bytes());
        id
    }

    fn tree(blobs: &[(&str, &str)]) -> Vec<TreeEntry> {
        blobs
            .iter()
            .map(|(p, b)| TreeEntry {
                path: p.to_string(),
                mode: 0o100644,
                blob: blob_id(b),
            })
            .collect()
    }

    #[test]
    fn dependencies_and_build_inputs_change_the_digest() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let base = tree(&[
            ("libs/a", "1"),
            ("auth/b", "2"),
            ("web/c", "3"),
            ("auth/Dockerfile", "4"),
        ]);
        let inputs = vec![
            BuildInputs::default(),
            BuildInputs {
                dockerfile: Some("auth/Dockerfile".into()),
                ..Default::default()
            },
            BuildInputs::default(),
        ];
        let before = digests(&config, &base, &inputs);

        // A library change moves its dependents' digests, not the others'.
        let changed = tree(&[
            ("libs/a", "9"),
            ("auth/b", "2"),
            ("web/c", "3"),
            ("auth/Dockerfile", "4"),
        ]);
        let after = digests(&config, &changed, &inputs);
        assert_ne!(before[1], after[1]);
        assert_eq!(before[2], after[2]);

        // Transitively too: a change two `depends-on` steps away moves the digest.
        let chain = parse(
            "version: 1\nservices:\n  a: { paths: [a/**], depends-on: [b] }\n  b: { paths: [b/**], depends-on: [c] }\n  c: { paths: [c/**] }\n",
            "c.yml",
        )
        .unwrap();
        let three = |c: &str| tree(&[("a/x", "1"), ("b/x", "2"), ("c/x", c)]);
        let no_inputs = vec![BuildInputs::default(); 3];
        let (one, two) = (
            digests(&chain, &three("3"), &no_inputs),
            digests(&chain, &three("4"), &no_inputs),
        );
        assert!(one.iter().zip(&two).all(|(x, y)| x != y), "{one:?} {two:?}");

        // Unrelated files do not count; the same content gives the same digest.
        let mut noisy = base.clone();
        noisy.push(TreeEntry {
            path: "README.md".into(),
            mode: 0o100644,
            blob: blob_id("x"),
        });
        assert_eq!(digests(&config, &noisy, &inputs), before);

        // Build args and target count.
        let mut with_arg = inputs.clone();
        with_arg[1]
            .args
            .push(("NODE_ENV".into(), "production".into()));
        assert_ne!(digests(&config, &base, &with_arg)[1], before[1]);
        let mut with_target = inputs.clone();
        with_target[1].target = Some("runtime".into());
        assert_ne!(digests(&config, &base, &with_target)[1], before[1]);

        // A mode change (chmod +x) counts.
        let mut executable = base.clone();
        executable[1].mode = 0o100755;
        assert_ne!(digests(&config, &executable, &inputs)[1], before[1]);
        assert_eq!(before[1].len(), 64);
    }
}
