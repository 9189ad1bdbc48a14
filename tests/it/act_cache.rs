//! `cache: gha` as a workflow runs it, under `act` (offline, the harness of
//! `tests/support/act.rs`): a step standing in for `crazy-max/ghaction-github-runtime` (which
//! cannot be fetched here) exports the runtime token and results URL through `GITHUB_ENV`, as
//! the real action does; the composite action then runs buildx (a stand-in `docker` that records
//! its argv and environment) with the gha cache flags, and buildx sees the variables. Without that
//! step the action refuses before building, naming the step to add.

use crate::support;

use support::act::{Workspace, act, commit, push_event, write};
use support::docker::StandIn;

const CONFIG: &str = r#"version: 1
defaults:
  registry: registry.example.com/acme
services:
  auth:
    paths: ["services/auth/**"]
    image: auth
    build: { context: services/auth, cache: gha }
"#;

/// The workflow; `EXPOSE` says whether the runtime step runs.
fn workflow(expose: bool) -> String {
    let runtime = if expose {
        r#"      # Stand-in for crazy-max/ghaction-github-runtime: what it exports, through GITHUB_ENV.
      - run: |
          {
            echo "ACTIONS_RUNTIME_TOKEN=runtime-token-for-the-test"
            echo "ACTIONS_RESULTS_URL=http://127.0.0.1:9/results/"
          } >> "$GITHUB_ENV"
"#
    } else {
        ""
    };
    format!(
        r#"name: cache
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
  build:
    runs-on: ubuntu-latest
    steps:
      - id: checkout
        env:
          HEAD_SHA: ${{{{ github.event.after }}}}
        run: |
          set -euo pipefail
          git init --quiet .
          git remote add origin "file://$E2E_SOURCE_REPO"
          git fetch --quiet --no-tags --depth=1 origin "+$HEAD_SHA:refs/remotes/origin/e2e-head"
          git checkout --quiet --detach "$HEAD_SHA"
          cp -R "$E2E_ACTION_DIR" .shipgate-action
{runtime}      - id: sg
        uses: ./.shipgate-action
        with:
          command: build
          base: ${{{{ github.event.before }}}}
"#
    )
}

fn run(expose: bool) -> (support::act::Run, StandIn) {
    let workspace = Workspace::new("shipgate-act-cache");
    let repo = &workspace.repo;
    write(repo, ".github/shipgate.yml", CONFIG);
    write(repo, ".github/workflows/cache.yml", &workflow(expose));
    write(repo, "services/auth/Dockerfile", "FROM scratch\n");
    support::act::git(repo, &["init", "--quiet", "--initial-branch=main"]);
    let before = commit(repo, "base", 1);
    write(repo, "services/auth/main.go", "package main\n");
    let after = commit(repo, "auth: change", 2);
    let docker = StandIn::new();
    let path = format!(
        "{}:{}",
        docker.dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let options = support::act::ActOptions {
        env: vec![
            ("PATH".into(), path.into()),
            ("STANDIN_LOG".into(), docker.log().into()),
            ("STANDIN_TIMES".into(), docker.times().into()),
        ],
        ..Default::default()
    };
    let run = workspace.act_with(
        if expose { "exposed" } else { "missing" },
        "push",
        "cache.yml",
        &push_event(&before, &after),
        &options,
    );
    (run, docker)
}

#[test]
fn cache_gha_runs_buildx_with_the_gha_cache_and_the_runtime_variables() {
    if act().is_none() {
        return;
    }
    let (run, docker) = run(true);
    assert!(run.status.success(), "{run}");
    let argvs = docker.argvs();
    assert_eq!(argvs.len(), 1, "one build: {argvs:?}");
    let text = argvs[0].join(" ");
    assert!(
        text.starts_with("docker buildx build --pull --cache-from type=gha,scope=auth --cache-to type=gha,mode=max,scope=auth --file services/auth/Dockerfile --tag registry.example.com/acme/auth:"),
        "{text}"
    );
    let env = std::fs::read_to_string(format!("{}.env", docker.log().display())).unwrap();
    assert!(
        env.contains("ACTIONS_RUNTIME_TOKEN=runtime-token-for-the-test"),
        "{env}"
    );
    assert!(
        env.contains("ACTIONS_RESULTS_URL=http://127.0.0.1:9/results/"),
        "{env}"
    );
}

#[test]
fn cache_gha_without_the_runtime_step_is_refused_before_building() {
    if act().is_none() {
        return;
    }
    let (run, docker) = run(false);
    assert!(!run.status.success(), "{run}");
    let log = format!("{run}");
    assert!(
        log.contains(
            "::error title=shipgate build::`cache: gha` (auth) needs ACTIONS_RUNTIME_TOKEN"
        ) || log.contains("`cache: gha` (auth) needs ACTIONS\\_RUNTIME\\_TOKEN"),
        "{log}"
    );
    assert!(log.contains("crazy-max/ghaction-github-runtime"), "{log}");
    assert!(docker.argvs().is_empty(), "nothing was built");
}
