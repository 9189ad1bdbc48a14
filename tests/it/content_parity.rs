//! `{content}` reads only the parts of the tree some pattern can reach; the digest must be the
//! one a walk of the whole tree gives.

use crate::support;

use std::path::Path;
use std::process::Command;
use support::git;

fn content_of(root: &Path, config: &str) -> String {
    std::fs::write(root.join(".github/shipgate.yml"), config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(root)
        .args(["plan", "--services", "api", "--format", "json"])
        .env("SOURCE_DATE_EPOCH", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_EVENT_NAME")
        .env_remove("GITHUB_EVENT_PATH")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    plan["services"][0]["content"].as_str().unwrap().to_string()
}

#[test]
fn a_partial_tree_walk_gives_the_full_walks_digest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, text) in [
        (".github/shipgate.yml", "placeholder"),
        ("services/api/src/main.rs", "fn main() {}"),
        ("services/api/src/deep/er/x.rs", "x"),
        ("libs/shared/lib.rs", "pub fn f() {}"),
        ("docker/api.Dockerfile", "FROM scratch"),
        ("docs/unrelated.md", "docs"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "init"]);

    let services = "  shared: { paths: [libs/shared/**] }\n  api:\n    paths: [services/api/**]\n    depends-on: [shared]\n    image: api\n    tags: [\"c-{content}\"]\n    build: { context: services/api, dockerfile: docker/api.Dockerfile }\n";
    // Only directory-anchored patterns: the walk visits services/api/ and libs/shared/ (plus the
    // Dockerfile by path).
    let partial = content_of(root, &format!("version: 1\nservices:\n{services}"));
    // A pattern that can match anywhere forces a walk of the whole tree.
    let full = content_of(
        root,
        &format!("version: 1\nservices:\n{services}  anywhere: {{ paths: ['**/*.none'] }}\n"),
    );
    assert_eq!(partial, full);
    assert_eq!(partial.len(), 64);
}
