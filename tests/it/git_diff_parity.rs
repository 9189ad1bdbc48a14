//! shipgate computes diffs itself (walking only the subtrees that changed); it must list exactly
//! what `git diff --name-status --no-renames` lists, for every kind of change.

use crate::support;

use std::path::Path;
use std::process::Command;
use support::git;

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn every_kind_of_change_matches_git_diff() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    write(
        root,
        ".github/shipgate.yml",
        "version: 1\nservices:\n  all: { paths: ['**'] }\n",
    );
    for path in [
        "a/keep.txt",
        "a/edit.txt",
        "a/gone.txt",
        "b/deep/x/y.txt",
        "dir-to-file/inner.txt",
        "file-to-dir",
        "moved/old.txt",
        "exec.sh",
        "link-target.txt",
        "becomes-link.txt",
        "unchanged/big/tree/z.txt",
    ] {
        write(root, path, &format!("{path}\n"));
    }
    std::os::unix::fs::symlink("link-target.txt", root.join("a-link")).unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    let base = git(root, &["rev-parse", "HEAD"]).trim().to_string();

    write(root, "a/edit.txt", "changed\n");
    std::fs::remove_file(root.join("a/gone.txt")).unwrap();
    write(root, "a/new file with spaces.txt", "n\n");
    write(root, "b/deep/x/y.txt", "deeper change\n");
    std::fs::remove_dir_all(root.join("dir-to-file")).unwrap();
    write(root, "dir-to-file", "now a file\n");
    std::fs::remove_file(root.join("file-to-dir")).unwrap();
    write(root, "file-to-dir/inside.txt", "now a dir\n");
    std::fs::rename(root.join("moved/old.txt"), root.join("moved/new.txt")).unwrap();
    git(root, &["update-index", "--chmod=+x", "exec.sh"]);
    std::fs::remove_file(root.join("becomes-link.txt")).unwrap();
    std::os::unix::fs::symlink("link-target.txt", root.join("becomes-link.txt")).unwrap();
    std::fs::remove_file(root.join("a-link")).unwrap();
    std::os::unix::fs::symlink("a/keep.txt", root.join("a-link")).unwrap();
    write(root, "ünïcode/ファイル.txt", "u\n");
    git(root, &["add", "-A"]);
    git(root, &["update-index", "--chmod=+x", "exec.sh"]);
    git(root, &["commit", "-q", "-m", "head"]);
    let head = git(root, &["rev-parse", "HEAD"]).trim().to_string();

    let mut expected: Vec<(String, String)> = git(
        root,
        &[
            "-c",
            "core.quotepath=false",
            "diff",
            "--name-status",
            "--no-renames",
            &base,
            &head,
        ],
    )
    .lines()
    .map(|line| {
        let (status, path) = line.split_once('\t').unwrap();
        let kind = match status {
            "A" => "added",
            "D" => "deleted",
            "T" => "type-changed",
            _ => "modified",
        };
        (path.to_string(), kind.to_string())
    })
    .collect();
    expected.sort();

    assert!(
        expected.len() >= 14,
        "the fixture covers many kinds of change: {expected:?}"
    );

    // With the `git` program on PATH shipgate asks it; without, it walks the trees itself.
    let no_git = tempfile::tempdir().unwrap();
    for path in [
        std::env::var("PATH").unwrap_or_default(),
        no_git.path().display().to_string(),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .current_dir(root)
            .args([
                "detect", "--format", "json", "--base", &base, "--head", &head,
            ])
            .env("PATH", &path)
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
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut actual: Vec<(String, String)> = result["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        actual.sort();
        assert_eq!(actual, expected, "PATH={path}");
    }
}
