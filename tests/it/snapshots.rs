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

/// Runs `args` once as in Actions and once in a terminal; snapshots the job summary as
/// `<name>_summary` and the terminal output as `<name>_terminal`.
fn snapshot_both(name: &str, args: &[&str]) {
    let repo = repo();
    let actions = Shipgate::new(&repo).actions().args(args).run().success();
    let local = Shipgate::new(&repo).args(args).run().success();
    filtered(&[repo.path(), repo.scratch()]).bind(|| {
        insta::assert_snapshot!(format!("{name}_summary"), actions.summary);
        insta::assert_snapshot!(format!("{name}_terminal"), terminal(&local));
    });
}

#[test]
fn detect_summary_and_terminal() {
    snapshot_both("detect", &["detect", "--base", "HEAD~1"]);
}

#[test]
fn plan_summary_and_terminal() {
    snapshot_both("plan", &["plan", "--base", "HEAD~1"]);
}

#[test]
fn build_summary_and_terminal_of_a_dry_run() {
    snapshot_both(
        "build_dry_run",
        &[
            "run",
            "--stages",
            "detect,plan,build",
            "--dry-run",
            "--base",
            "HEAD~1",
        ],
    );
}
