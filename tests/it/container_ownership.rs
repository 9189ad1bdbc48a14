//! Container jobs check out the repository as another user than the one running the step, and
//! libgit2 then refuses it ("dubious ownership"). shipgate must honour `safe.directory`, trust
//! the job's own workspace inside Actions, and otherwise say exactly what to run.
//!
//! Changing a directory's owner needs root, which CI and these machines have.

use crate::support;

use std::path::Path;
use std::process::Command;
use support::git;

fn shipgate(repo: &Path, home: &Path, envs: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("GITHUB_") || name.starts_with("SHIPGATE_") || name.starts_with("GIT_")
        {
            command.env_remove(name);
        }
    }
    let output = command
        .args(["detect", "--services", "all", "--repo"])
        .arg(repo)
        .env("HOME", home)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_repository_owned_by_another_user() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !is_root {
        eprintln!("skipped: changing a repository's owner needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let home = dir.path().join("home");
    std::fs::create_dir_all(repo.join(".github")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        repo.join(".github/shipgate.yml"),
        "version: 1\nservices:\n  web: { paths: [web/**] }\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let status = Command::new("chown")
        .args(["-R", "12345:12345"])
        .arg(&repo)
        .status()
        .unwrap();
    assert!(status.success());

    // Refused, with the command that fixes it.
    let (code, text) = shipgate(&repo, &home, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("owned by another user"), "{text}");
    assert!(
        text.contains("git config --global --add safe.directory"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");

    // `safe.directory` in the global config is honoured.
    std::fs::write(
        home.join(".gitconfig"),
        format!("[safe]\n\tdirectory = {}\n", repo.display()),
    )
    .unwrap();
    let (code, text) = shipgate(&repo, &home, &[]);
    assert_eq!(code, 0, "{text}");
    std::fs::remove_file(home.join(".gitconfig")).unwrap();

    // Inside Actions, the job's own workspace is trusted.
    let workspace = repo.to_string_lossy().into_owned();
    let (code, text) = shipgate(
        &repo,
        &home,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", workspace.as_str()),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 of 1 services changed"), "{text}");
}
