//! Whole-output snapshots of the job summaries and the terminal lines of detect, plan and build
//! (`tests/it/snapshots/*.snap`; filters in `tests/support/snapshot.rs` hide temporary paths,
//! SHAs, digests, times and durations). The deploy and status summaries are snapshotted in
//! their own modules, next to the clusters they need.

use crate::support::snapshot::{filtered, terminal};
use crate::support::{Shipgate, TestRepo};

const CONFIG: &str = "\
version: 1
defaults:
  registry: ghcr.io/acme
services:
  common:
    paths: [\"libs/common/**\"]
  auth:
    paths: [\"services/auth/**\"]
    depends-on: [common]
    image: auth
    build: { context: services/auth, builder: none }
  web:
    paths: [\"services/web/**\"]
    image: web
    build: { context: services/web, builder: none }
";

/// `common` changed (so `auth`, which depends on it, too); `web` did not.
fn repo() -> TestRepo {
    TestRepo::new()
        .config(CONFIG)
        .file("libs/common/a.rs", "1\n")
        .file("services/auth/x", "1\n")
        .file("services/web/x", "1\n")
        .commit("base")
        .file("libs/common/a.rs", "2\n")
        .commit("change")
}

#[test]
fn detect_summary_and_terminal() {
    let repo = repo();
    let actions = Shipgate::new(&repo)
        .actions()
        .args(["detect", "--base", "HEAD~1"])
        .run()
        .success();
    let local = Shipgate::new(&repo)
        .args(["detect", "--base", "HEAD~1"])
        .run()
        .success();
    filtered(&[repo.path(), repo.scratch()]).bind(|| {
        insta::assert_snapshot!("detect_summary", actions.summary);
        insta::assert_snapshot!("detect_terminal", terminal(&local));
    });
}

#[test]
fn plan_summary_and_terminal() {
    let repo = repo();
    let actions = Shipgate::new(&repo)
        .actions()
        .args(["plan", "--base", "HEAD~1"])
        .run()
        .success();
    let local = Shipgate::new(&repo)
        .args(["plan", "--base", "HEAD~1"])
        .run()
        .success();
    filtered(&[repo.path(), repo.scratch()]).bind(|| {
        insta::assert_snapshot!("plan_summary", actions.summary);
        insta::assert_snapshot!("plan_terminal", terminal(&local));
    });
}

#[test]
fn build_summary_and_terminal_of_a_dry_run() {
    let repo = repo();
    let actions = Shipgate::new(&repo)
        .actions()
        .args([
            "run",
            "--stages",
            "detect,plan,build",
            "--dry-run",
            "--base",
            "HEAD~1",
        ])
        .run()
        .success();
    let local = Shipgate::new(&repo)
        .args([
            "run",
            "--stages",
            "detect,plan,build",
            "--dry-run",
            "--base",
            "HEAD~1",
        ])
        .run()
        .success();
    filtered(&[repo.path(), repo.scratch()]).bind(|| {
        insta::assert_snapshot!("build_dry_run_summary", actions.summary);
        insta::assert_snapshot!("build_dry_run_terminal", terminal(&local));
    });
}
