//! Shared harness for the integration tests: real git repositories in temporary directories, the
//! real `shipgate` binary, and the real webhook payloads of `tests/fixtures/events`.
//!
//! ```ignore
//! let repo = TestRepo::new().config(CONFIG).file("libs/common/a.rs", "x").commit("init");
//! let result = Shipgate::new(&repo).args(["detect", "--base", "main"]).run().success();
//! assert_eq!(result.output("services"), r#"["common"]"#);
//! ```
//!
//! Every child process is hermetic: inherited `GITHUB_*`, `SHIPGATE_*`, `RUNNER_*`, `ACTIONS_*`
//! and `GIT_*` variables are removed, `HOME` points at a private directory, and commits have
//! fixed authors and dates.
//!
//! Submodules hold the heavier harnesses the test modules share: [`act`] (the action under
//! nektos/act), [`docker`] (a `docker` stand-in), [`registry`] (a real `docker-registry`),
//! [`http`] (the one HTTP stand-in: records requests, scripted answers), [`openapi`] (the
//! validator of GitHub's published schemas), [`snapshot`] (insta filters) and [`deploy_config`]
//! (the deploy tests' config, built fluently).

// Each test binary uses a different part of the harness.

pub(crate) mod act;
pub(crate) mod deploy_config;
pub(crate) mod docker;
pub(crate) mod http;
pub(crate) mod openapi;
pub(crate) mod registry;
pub(crate) mod snapshot;

use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// The all-zero SHA GitHub sends for "no commit".
pub(crate) const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// Prefixes of environment variables a child must never inherit.
const HERMETIC_PREFIXES: &[&str] = &["GITHUB_", "SHIPGATE_", "RUNNER_", "ACTIONS_", "GIT_"];

/// Removes every inherited variable that could change what git or shipgate does.
fn scrub(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && (HERMETIC_PREFIXES.iter().any(|p| name.starts_with(p))
                || name == "CI"
                || name == "NO_COLOR"
                || name == "XDG_CONFIG_HOME")
        {
            command.env_remove(name);
        }
    }
}

/// A `git` command with a private HOME and deterministic identities.
fn git_command(home: &Path) -> Command {
    let mut command = Command::new("git");
    scrub(&mut command);
    command
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ]);
    command
}

/// Runs git in `dir` and returns its trimmed stdout; panics with stderr on failure.
fn run_git(home: &Path, dir: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut command = git_command(home);
    command.arg("-C").arg(dir).args(args);
    if let Some(date) = date {
        command
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date);
    }
    let output = command.output().expect("git runs");
    assert!(
        output.status.success(),
        "git {} failed in {}:\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Runs git in `dir` with a fixed identity and no global or system configuration, for tests
/// that build a repository by hand; returns stdout as is, panics with stderr on failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let mut command = Command::new("git");
    scrub(&mut command);
    let output = command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A git repository in a temporary directory, built step by step.
pub(crate) struct TestRepo {
    temp: TempDir,
    root: PathBuf,
    home: PathBuf,
    /// Seconds added to the commit date of the next commit (so history has an order).
    clock: Cell<u64>,
}

impl Default for TestRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRepo {
    /// `git init -b main` in a fresh temporary directory.
    pub(crate) fn new() -> Self {
        let temp = TempDir::new().expect("temp dir");
        let root = temp.path().join("repo");
        let home = temp.path().join("home");
        std::fs::create_dir_all(&root).expect("create the work tree");
        std::fs::create_dir_all(&home).expect("create HOME");
        let repo = TestRepo {
            temp,
            root,
            home,
            clock: Cell::new(0),
        };
        repo.git(["init", "-q", "-b", "main"]);
        repo
    }

    /// Clones `origin` over `file://` (so `--depth` is honoured) into a new temporary directory
    /// with its own HOME, passing extra `git clone` flags (`--depth 1`, `--single-branch`…).
    pub(crate) fn clone_of(origin: &TestRepo, flags: &[&str]) -> TestRepo {
        let temp = TempDir::new().expect("temp dir");
        let root = temp.path().join("clone");
        let home = temp.path().join("home");
        std::fs::create_dir_all(&home).expect("create HOME");
        let url = format!("file://{}", origin.root.display());
        let mut args = vec!["clone", "-q"];
        args.extend_from_slice(flags);
        let target = root.to_string_lossy().into_owned();
        args.extend([url.as_str(), target.as_str()]);
        run_git(&home, temp.path(), &args, None);
        TestRepo {
            temp,
            root,
            home,
            clock: Cell::new(origin.clock.get()),
        }
    }

    /// The work tree.
    pub(crate) fn path(&self) -> &Path {
        &self.root
    }

    /// The private HOME used for every process run against this repository.
    pub(crate) fn home(&self) -> &Path {
        &self.home
    }

    /// A scratch directory next to the repository (outside the work tree).
    pub(crate) fn scratch(&self) -> &Path {
        self.temp.path()
    }

    /// Runs git in the work tree; returns trimmed stdout.
    pub(crate) fn git<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_git(&self.home, &self.root, &args, None)
    }

    /// Writes `.github/shipgate.yml`.
    pub(crate) fn config(self, yaml: &str) -> Self {
        self.file(".github/shipgate.yml", yaml)
    }

    /// Writes a file (creating directories).
    pub(crate) fn file(self, path: &str, contents: &str) -> Self {
        let full = self.root.join(path);
        std::fs::create_dir_all(full.parent().expect("a file has a parent"))
            .expect("create directories");
        std::fs::write(&full, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", full.display()));
        self
    }

    /// Deletes a file from the work tree and the index.
    pub(crate) fn remove(self, path: &str) -> Self {
        self.git(["rm", "-q", path]);
        self
    }

    /// Moves a file (`git mv`).
    pub(crate) fn rename(self, from: &str, to: &str) -> Self {
        let parent = self.root.join(to);
        std::fs::create_dir_all(parent.parent().expect("a file has a parent"))
            .expect("create directories");
        self.git(["mv", from, to]);
        self
    }

    /// Stages everything and commits with a fixed author and an increasing date.
    pub(crate) fn commit(self, message: &str) -> Self {
        self.git(["add", "-A"]);
        let date = self.next_date();
        run_git(
            &self.home,
            &self.root,
            &["commit", "-q", "--allow-empty", "-m", message],
            Some(&date),
        );
        self
    }

    /// A fixed date one minute after the previous commit's (git's `<unix seconds> <zone>` form).
    fn next_date(&self) -> String {
        let tick = self.clock.get() + 1;
        self.clock.set(tick);
        format!("{} +0000", 1_704_067_200 + tick * 60)
    }

    /// Creates a branch at HEAD and switches to it.
    pub(crate) fn branch(self, name: &str) -> Self {
        self.git(["checkout", "-q", "-b", name]);
        self
    }

    /// Switches to a branch or commit.
    pub(crate) fn checkout(self, rev: &str) -> Self {
        self.git(["checkout", "-q", rev]);
        self
    }

    /// Merges `rev` into the current branch with a merge commit.
    pub(crate) fn merge(self, rev: &str) -> Self {
        let date = self.next_date();
        run_git(
            &self.home,
            &self.root,
            &["merge", "-q", "--no-ff", "--no-edit", rev],
            Some(&date),
        );
        self
    }

    /// Points a branch at a commit (`git branch -f`), e.g. to rewrite history for a force push.
    pub(crate) fn reset_branch(self, name: &str, rev: &str) -> Self {
        self.git(["branch", "-f", name, rev]);
        self
    }

    /// A lightweight tag at HEAD.
    pub(crate) fn tag(self, name: &str) -> Self {
        self.git(["tag", name]);
        self
    }

    /// Sets a git config value in this repository.
    pub(crate) fn set_config(self, key: &str, value: &str) -> Self {
        self.git(["config", key, value]);
        self
    }

    /// The full SHA of a revision.
    pub(crate) fn sha(&self, rev: &str) -> String {
        self.git(["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
    }

    /// Whether the repository is a shallow clone.
    pub(crate) fn is_shallow(&self) -> bool {
        self.git(["rev-parse", "--is-shallow-repository"]) == "true"
    }

    /// Whether `sha` is present in the object database.
    pub(crate) fn has_commit(&self, sha: &str) -> bool {
        let mut command = git_command(&self.home);
        command
            .arg("-C")
            .arg(&self.root)
            .args(["cat-file", "-e", &format!("{sha}^{{commit}}")]);
        command
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

/// Real webhook payloads from `tests/fixtures/events`, adapted to point at a test repository.
pub(crate) mod payload {
    use super::ZERO_SHA;
    use serde_json::{Value, json};

    /// The unmodified fixture `tests/fixtures/events/<name>.json`.
    pub(crate) fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/events")
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("fixtures are JSON")
    }

    fn set(value: &mut Value, pointer: &str, new: Value) {
        let slot = value
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("the fixture has no {pointer}"));
        *slot = new;
    }

    /// `pull_request.opened` with base/head SHAs, the head branch, the author and `main` as the
    /// base and default branch.
    pub(crate) fn pull_request(
        base_sha: &str,
        head_sha: &str,
        head_ref: &str,
        author: &str,
    ) -> Value {
        let mut payload = fixture("pull_request.opened");
        set(&mut payload, "/pull_request/base/sha", json!(base_sha));
        set(&mut payload, "/pull_request/base/ref", json!("main"));
        set(&mut payload, "/pull_request/head/sha", json!(head_sha));
        set(&mut payload, "/pull_request/head/ref", json!(head_ref));
        set(&mut payload, "/pull_request/user/login", json!(author));
        set(&mut payload, "/repository/default_branch", json!("main"));
        payload
    }

    /// `push.branch` to `refs/heads/<branch>`; `before` = zeros marks a new branch.
    pub(crate) fn push(branch: &str, before: &str, after: &str) -> Value {
        let mut payload = fixture("push.branch");
        set(&mut payload, "/ref", json!(format!("refs/heads/{branch}")));
        set(&mut payload, "/before", json!(before));
        set(&mut payload, "/after", json!(after));
        set(&mut payload, "/created", json!(before == ZERO_SHA));
        set(&mut payload, "/forced", json!(false));
        set(&mut payload, "/repository/default_branch", json!("main"));
        payload
    }

    /// A force push: like [`push`] with `forced: true`.
    pub(crate) fn force_push(branch: &str, before: &str, after: &str) -> Value {
        let mut payload = push(branch, before, after);
        set(&mut payload, "/forced", json!(true));
        payload
    }

    /// `push.tag` turned into the creation of `refs/tags/<tag>` at `after` (the fixture itself is
    /// a tag deletion).
    pub(crate) fn tag_push(tag: &str, after: &str) -> Value {
        let mut payload = fixture("push.tag");
        set(&mut payload, "/ref", json!(format!("refs/tags/{tag}")));
        set(&mut payload, "/before", json!(ZERO_SHA));
        set(&mut payload, "/after", json!(after));
        set(&mut payload, "/created", json!(true));
        set(&mut payload, "/deleted", json!(false));
        set(&mut payload, "/repository/default_branch", json!("main"));
        payload
    }

    /// `merge_group.checks_requested` for `base_sha..head_sha`.
    pub(crate) fn merge_group(base_sha: &str, head_sha: &str) -> Value {
        let mut payload = fixture("merge_group.checks_requested");
        set(&mut payload, "/merge_group/base_sha", json!(base_sha));
        set(&mut payload, "/merge_group/head_sha", json!(head_sha));
        set(&mut payload, "/repository/default_branch", json!("main"));
        payload
    }

    /// `workflow_dispatch` on `refs/heads/main` with these inputs.
    pub(crate) fn workflow_dispatch(inputs: Value) -> Value {
        let mut payload = fixture("workflow_dispatch");
        set(&mut payload, "/inputs", inputs);
        set(&mut payload, "/repository/default_branch", json!("main"));
        payload
    }

    /// A `schedule` payload: GitHub sends the cron line and the repository.
    pub(crate) fn schedule() -> Value {
        let mut repository = fixture("workflow_dispatch")["repository"].clone();
        repository["default_branch"] = json!("main");
        json!({ "schedule": "0 4 * * *", "repository": repository })
    }
}

/// The real `shipgate` binary, run against a [`TestRepo`].
pub(crate) struct Shipgate {
    cwd: PathBuf,
    home: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    actions: bool,
    event: Option<(String, Option<Value>)>,
    event_path: Option<PathBuf>,
    files: TempDir,
}

impl Shipgate {
    /// Runs in the repository's work tree, with the repository's private HOME.
    pub(crate) fn new(repo: &TestRepo) -> Self {
        Self::in_dir(repo.path(), repo.home())
    }

    /// Runs in any directory (e.g. one that is not a git repository).
    pub(crate) fn in_dir(cwd: &Path, home: &Path) -> Self {
        Shipgate {
            cwd: cwd.to_path_buf(),
            home: home.to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            actions: false,
            event: None,
            event_path: None,
            files: TempDir::new().expect("temp dir"),
        }
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn env(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.env.push((name.to_string(), value.into()));
        self
    }

    /// Simulates a GitHub Actions step: `GITHUB_ACTIONS=true`, output and summary files.
    pub(crate) fn actions(mut self) -> Self {
        self.actions = true;
        self
    }

    /// Simulates the event `name` with this payload (implies [`Shipgate::actions`]).
    pub(crate) fn event(mut self, name: &str, payload: Value) -> Self {
        self.actions = true;
        self.event = Some((name.to_string(), Some(payload)));
        self
    }

    /// Sets `GITHUB_EVENT_NAME` with `GITHUB_EVENT_PATH` pointing at `path` as is.
    pub(crate) fn event_at(mut self, name: &str, path: &Path) -> Self {
        self.actions = true;
        self.event = Some((name.to_string(), None));
        self.event_path = Some(path.to_path_buf());
        self
    }

    /// Runs the binary and collects everything it produced.
    pub(crate) fn run(self) -> Run {
        self.run_with_stdout(None)
    }

    /// Runs the binary with its stdout connected to `stdout` (e.g. a pipe nobody reads); the
    /// returned [`Run`] then has an empty `stdout`.
    pub(crate) fn run_with_stdout(self, stdout: Option<Stdio>) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
        scrub(&mut command);
        command
            .current_dir(&self.cwd)
            .args(&self.args)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("NO_COLOR", "1");
        let output_file = self.files.path().join("github_output");
        let summary_file = self.files.path().join("step_summary");
        if self.actions {
            std::fs::write(&output_file, "").expect("create GITHUB_OUTPUT");
            std::fs::write(&summary_file, "").expect("create GITHUB_STEP_SUMMARY");
            command
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_OUTPUT", &output_file)
                .env("GITHUB_STEP_SUMMARY", &summary_file)
                .env("GITHUB_WORKSPACE", &self.cwd)
                .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
                .env("GITHUB_RUN_ID", "1");
        }
        if let Some((name, payload)) = &self.event {
            command.env("GITHUB_EVENT_NAME", name);
            let path = match (payload, &self.event_path) {
                (_, Some(path)) => path.clone(),
                (Some(payload), None) => {
                    let path = self.files.path().join("event.json");
                    std::fs::write(&path, serde_json::to_string_pretty(payload).expect("JSON"))
                        .expect("write the event payload");
                    path
                }
                (None, None) => unreachable!("an event has a payload or a path"),
            };
            command.env("GITHUB_EVENT_PATH", path);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        if let Some(stdout) = stdout {
            command.stdout(stdout);
        }
        let output = command.output().expect("the shipgate binary runs");
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        let outputs_text = read(&output_file);
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs: shipgate::runner::output::parse_output_file(&outputs_text)
                .into_iter()
                .collect(),
            outputs_in_order: shipgate::runner::output::parse_output_file(&outputs_text)
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            summary: read(&summary_file),
            args: self.args,
        }
    }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// `$GITHUB_OUTPUT`, parsed the way the runner parses it.
    pub outputs: BTreeMap<String, String>,
    /// Output names in the order they were written.
    pub outputs_in_order: Vec<String>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub summary: String,
    args: Vec<OsString>,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "shipgate {:?}\n--- exit code: {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n--- outputs: {:#?}\n--- summary:\n{}",
            self.args, self.code, self.stdout, self.stderr, self.outputs, self.summary
        )
    }

    /// Asserts the exit code, and that nothing panicked.
    pub(crate) fn code(self, expected: i32) -> Self {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n{}",
            self.context()
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the binary panicked\n{}",
            self.context()
        );
        self
    }

    /// Asserts exit code 0.
    pub(crate) fn success(self) -> Self {
        self.code(0)
    }

    /// Asserts that stdout contains `text`.
    pub(crate) fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that stderr contains `text`.
    pub(crate) fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that stdout does not contain `text`.
    pub(crate) fn stdout_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text),
            "stdout has {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that stderr does not contain `text`.
    pub(crate) fn stderr_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.stderr.contains(text),
            "stderr has {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that the job summary contains `text`.
    pub(crate) fn summary_has(&self, text: &str) -> &Self {
        assert!(
            self.summary.contains(text),
            "the summary lacks {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that stdout has a line starting with `prefix` and containing every `parts`.
    pub(crate) fn stdout_line(&self, prefix: &str, parts: &[&str]) -> &Self {
        let found = self
            .stdout
            .lines()
            .any(|l| l.starts_with(prefix) && parts.iter().all(|p| l.contains(p)));
        assert!(
            found,
            "no stdout line starts with {prefix:?} and contains {parts:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that stderr has a line starting with `prefix` and containing every `parts`.
    pub(crate) fn stderr_line(&self, prefix: &str, parts: &[&str]) -> &Self {
        let found = self
            .stderr
            .lines()
            .any(|l| l.starts_with(prefix) && parts.iter().all(|p| l.contains(p)));
        assert!(
            found,
            "no stderr line starts with {prefix:?} and contains {parts:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that no step output was written (a failed step).
    pub(crate) fn no_outputs(&self) -> &Self {
        assert!(
            self.outputs.is_empty(),
            "outputs were written\n{}",
            self.context()
        );
        self
    }

    /// One step output; panics (with everything the run printed) when it is missing.
    pub(crate) fn output(&self, name: &str) -> &str {
        match self.outputs.get(name) {
            Some(value) => value,
            None => panic!("no output {name:?}\n{}", self.context()),
        }
    }

    /// One step output parsed as JSON.
    pub(crate) fn output_json(&self, name: &str) -> Value {
        serde_json::from_str(self.output(name))
            .unwrap_or_else(|e| panic!("output {name:?} is not JSON: {e}\n{}", self.context()))
    }

    /// The `services` output as a list.
    pub(crate) fn services(&self) -> Vec<String> {
        serde_json::from_value(self.output_json("services")).unwrap_or_else(|e| {
            panic!("`services` is not a list of names: {e}\n{}", self.context())
        })
    }

    /// stdout parsed as JSON (`--format json`).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.context()))
    }

    /// The `services` of a `--format json` result.
    pub(crate) fn json_services(&self) -> Vec<String> {
        serde_json::from_value(self.json()["services"].clone()).unwrap_or_else(|e| {
            panic!("`services` is not a list of names: {e}\n{}", self.context())
        })
    }
}
