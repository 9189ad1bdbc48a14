//! `{content}`: a digest of everything an image is built from, read from git objects.
//!
//! sha256 over the tree entries (path, mode, blob id) of the service's paths and of every service
//! it depends on, transitively, plus the Dockerfile's entry and the build inputs (target, build
//! arguments). Same inputs → same digest → same tag, so an unchanged service need not be rebuilt.

use crate::config::Config;
use crate::detect::matcher::{Hit, Owner};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

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
pub fn digests(config: &Config, tree: &[TreeEntry], inputs: &[BuildInputs]) -> Vec<String> {
    let count = config.services.len();
    // Files per service, from one pass over the tree with the shared matcher.
    let mut own: Vec<Vec<usize>> = vec![Vec::new(); count];
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
    // Where each Dockerfile is in the tree, found in one pass.
    let wanted: std::collections::HashSet<&str> = inputs
        .iter()
        .filter_map(|i| i.dockerfile.as_deref())
        .collect();
    let dockerfiles: std::collections::HashMap<&str, usize> = tree
        .iter()
        .enumerate()
        .filter(|(_, e)| wanted.contains(e.path.as_str()))
        .map(|(i, e)| (e.path.as_str(), i))
        .collect();
    (0..count)
        .map(|service| {
            let mut files: BTreeSet<usize> = BTreeSet::new();
            for member in config.graph.dependencies(service) {
                files.extend(&own[member]);
            }
            let input = inputs.get(service).cloned().unwrap_or_default();
            if let Some(dockerfile) = &input.dockerfile
                && let Some(position) = dockerfiles.get(dockerfile.as_str())
            {
                files.insert(*position);
            }
            let mut hasher = Sha256::new();
            // `tree` is sorted by path (and `files` holds indices into it), so the entries are
            // hashed in path order without another sort.
            let mut line = String::new();
            let mut sorted: Vec<&TreeEntry> = files.iter().map(|i| &tree[*i]).collect();
            if !sorted.is_sorted() {
                sorted.sort();
            }
            for entry in sorted {
                use std::fmt::Write as _;
                line.clear();
                let _ = write!(line, "{:o} ", entry.mode);
                hasher.update(line.as_bytes());
                hasher.update(entry.blob);
                hasher.update(entry.path.as_bytes());
                hasher.update([0]);
            }
            hasher.update(format!("target={}\0", input.target.unwrap_or_default()).as_bytes());
            let mut args = input.args.clone();
            args.sort();
            for (key, value) in args {
                hasher.update(format!("arg {key}={value}\0").as_bytes());
            }
            hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect()
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
