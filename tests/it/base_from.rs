//! `--base-from cluster` with real git histories and the test Kubernetes API server: a deploy
//! that failed and was rolled back, or a run that never deployed (cancelled), is healed by the
//! next push, which compares each service with the commit its workload runs; a base commit
//! missing from a shallow clone is fetched by SHA.

use crate::support;

use kube_test_api::{KubeApi, deployment};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use support::{Run, Shipgate, TestRepo, payload};

const CONFIG: &str = r#"version: 1
defaults:
  registry: registry.local/shop
  tags: ["{sha7}"]
services:
  common: { paths: ["libs/common/**"] }
  auth:
    paths: ["services/auth/**"]
    depends-on: [common]
    image: auth
    deploy: { namespace: shop, timeout: 60s }
  events:
    paths: ["services/events/**"]
    image: events
    deploy: { namespace: shop, timeout: 60s }
  search:
    paths: ["services/search/**"]
    image: search
    deploy: { namespace: shop, timeout: 60s }
"#;

struct Fixture {
    api: KubeApi,
    repo: TestRepo,
    kubeconfig: PathBuf,
    /// The commit everything was deployed from.
    deployed: String,
}

impl Fixture {
    /// auth and events deployed by shipgate from the first commit; search exists but was never
    /// deployed by shipgate.
    fn new() -> Fixture {
        let api = KubeApi::start();
        api.create_namespace("shop");
        for name in ["auth", "events", "search"] {
            api.create(
                deployment("shop", name)
                    .image(name, &format!("registry.local/shop/{name}:1.0.0"))
                    .build(),
            );
            assert!(api.wait_rolled_out("shop", "Deployment", name, Duration::from_secs(20)));
        }
        let repo = TestRepo::new()
            .config(CONFIG)
            .file("libs/common/lib.go", "package common\n")
            .file("services/auth/main.go", "package main\n")
            .file("services/events/main.go", "package main\n")
            .file("services/search/main.go", "package main\n")
            .file("docs/index.md", "# docs\n")
            .commit("init")
            .set_config("uploadpack.allowAnySHA1InWant", "true");
        let kubeconfig = repo.scratch().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop")),
        )
        .unwrap();
        let deployed = repo.sha("HEAD");
        let fixture = Fixture {
            api,
            repo,
            kubeconfig,
            deployed,
        };
        fixture
            .deploy(
                &fixture.repo,
                &[
                    "auth=registry.local/shop/auth:1.1.0",
                    "events=registry.local/shop/events:1.1.0",
                ],
            )
            .run()
            .success();
        fixture
    }

    fn deploy(&self, repo: &TestRepo, images: &[&str]) -> Shipgate {
        let services: Vec<&str> = images
            .iter()
            .filter_map(|i| i.split_once('=').map(|(s, _)| s))
            .collect();
        let mut run = Shipgate::new(repo)
            .args(["deploy", "--services", &services.join(","), "--kubeconfig"])
            .arg(&self.kubeconfig)
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0");
        for image in images {
            run = run.args(["--image", image]);
        }
        run
    }

    /// `shipgate detect` for a push of `before..after` to main.
    fn detect(&self, repo: &TestRepo, before: &str, after: &str) -> Shipgate {
        Shipgate::new(repo)
            .event("push", payload::push("main", before, after))
            .args(["detect", "--kubeconfig"])
            .arg(&self.kubeconfig)
    }
}

fn services(run: &Run) -> Vec<String> {
    run.services()
}

#[test]
fn a_rolled_back_service_is_deployed_again_by_the_next_push() {
    let fixture = Fixture::new();
    // Run N: auth changes, its deploy fails and is rolled back.
    let repo = TestRepo::clone_of(&fixture.repo, &[])
        .file("services/auth/main.go", "package main // broken\n")
        .commit("auth: broken");
    let failed_run = repo.sha("HEAD");
    fixture
        .deploy(&repo, &["auth=registry.local/shop/auth:missing"])
        .run()
        .code(1);
    // Run N+1 changes only events.
    let repo = repo
        .file("services/events/main.go", "package main // 2\n")
        .commit("events: change");
    let head = repo.sha("HEAD");
    // The event's range alone forgets auth.
    let plain = fixture.detect(&repo, &failed_run, &head).run().success();
    assert_eq!(services(&plain), ["events"]);
    // Compared with what runs, auth is changed again; search was never deployed by shipgate.
    let run = fixture
        .detect(&repo, &failed_run, &head)
        .args(["--base-from", "cluster"])
        .run()
        .success();
    assert_eq!(services(&run), ["auth", "events", "search"]);
    let bases = run.output_json("bases");
    assert_eq!(bases["auth"], fixture.deployed.as_str());
    assert_eq!(bases["events"], fixture.deployed.as_str());
    assert_eq!(bases["search"], Value::Null);
    assert!(bases.get("common").is_none(), "{bases}");
    let short = &fixture.deployed[..7];
    run.summary_has(&format!(
        "running {short}, 1 commit behind, changed since: services/auth/main.go matched"
    ))
    .summary_has("never deployed by shipgate");
}

#[test]
fn a_cancelled_run_and_a_library_change_heal_from_the_defaults_setting() {
    let fixture = Fixture::new();
    let config = CONFIG.replace("defaults:\n", "defaults:\n  base-from: cluster\n");
    // Run N (cancelled: nothing deployed) changed the library auth depends on.
    let repo = TestRepo::clone_of(&fixture.repo, &[])
        .config(&config)
        .file("libs/common/lib.go", "package common // 2\n")
        .commit("common: change; its run was cancelled");
    let cancelled = repo.sha("HEAD");
    let repo = repo.file("docs/index.md", "# docs 2\n").commit("docs only");
    let head = repo.sha("HEAD");
    let run = fixture.detect(&repo, &cancelled, &head).run().success();
    // auth through common since its own base (the push itself touched only docs); events is
    // unchanged since its base; search was never deployed by shipgate.
    let names = services(&run);
    assert_eq!(names, ["auth", "search"]);
    run.summary_has("1 commit behind, changed since: auth ← common ← libs/common/lib.go");
}

#[test]
fn a_base_commit_missing_from_a_shallow_clone_is_fetched_by_sha() {
    let fixture = Fixture::new();
    let origin = TestRepo::clone_of(&fixture.repo, &[])
        .file("services/auth/main.go", "package main // 2\n")
        .commit("auth: change")
        .set_config("uploadpack.allowAnySHA1InWant", "true");
    let head = origin.sha("HEAD");
    let before = origin.sha("HEAD~1");
    let shallow = TestRepo::clone_of(&origin, &["--depth", "1"]);
    assert!(shallow.is_shallow());
    assert!(!shallow.has_commit(&fixture.deployed));
    let run = Shipgate::new(&shallow)
        .event("push", payload::push("main", &before, &head))
        .args(["detect", "--base-from", "cluster", "--kubeconfig"])
        .arg(&fixture.kubeconfig)
        .run()
        .success();
    assert_eq!(run.output_json("bases")["auth"], fixture.deployed.as_str());
    assert_eq!(services(&run), ["auth", "search"]);
    assert!(shallow.has_commit(&fixture.deployed));
}

#[test]
fn plan_and_run_take_base_from_and_a_kubeconfig() {
    let fixture = Fixture::new();
    let repo = TestRepo::clone_of(&fixture.repo, &[])
        .file("docs/index.md", "# docs 2\n")
        .commit("docs");
    let head = repo.sha("HEAD");
    let before = repo.sha("HEAD~1");
    let run = Shipgate::new(&repo)
        .event("push", payload::push("main", &before, &head))
        .args(["plan", "--base-from", "cluster", "--kubeconfig"])
        .arg(&fixture.kubeconfig)
        .run()
        .success();
    assert_eq!(services(&run), ["search"]);
    let plan = run.output_json("plan");
    assert_eq!(plan["services"].as_array().unwrap().len(), 1, "{plan}");
    let run = Shipgate::new(&repo)
        .event("push", payload::push("main", &before, &head))
        .args(["run", "--stages", "detect,plan", "--base-from", "cluster"])
        .args(["--kubeconfig"])
        .arg(&fixture.kubeconfig)
        .run()
        .success();
    assert_eq!(services(&run), ["search"]);
    assert_eq!(run.output_json("bases")["search"], Value::Null);
    // A cluster that refuses the read is a usage error naming the rights.
    fixture.api.add_user("nobody", "nobody", &[]);
    std::fs::write(
        &fixture.kubeconfig,
        fixture.api.kubeconfig_yaml("nobody", Some("shop")),
    )
    .unwrap();
    Shipgate::new(&repo)
        .event("push", payload::push("main", &before, &head))
        .args(["detect", "--base-from", "cluster", "--kubeconfig"])
        .arg(&fixture.kubeconfig)
        .run()
        .code(2)
        .stdout_has("--base-from cluster: this identity may not `list`");
}

// ---------------------------------------------------------------------------------------------
// `--base-from github`: the environment's GitHub Deployments, no cluster.

const GITHUB_TOKEN: &str = "ghs_BaseFromGithubT0kenNeverShown0123456789";

/// A repository where everything was deployed from the first commit, then auth changed (its
/// deploy failed), then events changed; the GitHub API stand-in records that history.
fn github_history() -> (TestRepo, [String; 3], crate::github_deployments::StandIn) {
    let repo = TestRepo::new()
        .config(CONFIG)
        .file("libs/common/lib.go", "package common\n")
        .file("services/auth/main.go", "package main\n")
        .file("services/events/main.go", "package main\n")
        .file("services/search/main.go", "package main\n")
        .commit("init");
    let deployed = repo.sha("HEAD");
    let repo = repo
        .file("services/auth/main.go", "package main // broken\n")
        .commit("auth: broken");
    let failed = repo.sha("HEAD");
    let repo = repo
        .file("services/events/main.go", "package main // 2\n")
        .commit("events: change");
    let head = repo.sha("HEAD");
    let api = crate::github_deployments::with_history(
        "production",
        vec![
            (
                3,
                failed.clone(),
                vec!["auth"],
                vec!["failure", "in_progress"],
            ),
            (
                2,
                deployed.clone(),
                vec!["auth", "events"],
                vec!["success", "in_progress"],
            ),
        ],
    );
    (repo, [deployed, failed, head], api)
}

/// The token appears only in the `::add-mask::` commands that hide it.
fn shown_only_masked(text: &str) -> bool {
    text.lines()
        .filter(|line| line.contains(GITHUB_TOKEN))
        .all(|line| line == format!("::add-mask::{GITHUB_TOKEN}"))
}

fn detect_from_github(repo: &TestRepo, api_url: &str, before: &str, after: &str) -> Shipgate {
    Shipgate::new(repo)
        .event("push", payload::push("main", before, after))
        .env("GITHUB_API_URL", api_url)
        .env("GITHUB_REPOSITORY", "octo-org/shop")
        .args(["detect", "--base-from", "github"])
}

#[test]
fn base_from_github_heals_a_failed_deploy_from_the_last_successful_deployment() {
    let (repo, [deployed, failed, head], api) = github_history();
    let run = detect_from_github(&repo, &api.api_url, &failed, &head)
        .args(["--github-token", GITHUB_TOKEN])
        .run()
        .success();
    // The push touched only events; auth's failed deploy is healed, search never deployed.
    assert_eq!(services(&run), ["auth", "events", "search"]);
    let bases = run.output_json("bases");
    assert_eq!(bases["auth"], deployed.as_str());
    assert_eq!(bases["events"], deployed.as_str());
    assert_eq!(bases["search"], Value::Null);
    assert!(bases.get("common").is_none(), "{bases}");
    let short = &deployed[..7];
    run.summary_has(&format!(
        "running {short}, 1 commit behind, changed since: services/auth/main.go matched"
    ))
    .summary_has("base-from: github")
    .stdout_has("search  never deployed: no successful GitHub deployment to `production` lists it (the last 2 read)");
    assert!(shown_only_masked(&format!("{}{}", run.stdout, run.stderr)));
    // Two deployments listed, the statuses of each read (search is in neither), nothing else.
    let seen: Vec<String> = api
        .seen()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        [
            "GET /repos/octo-org/shop/deployments?environment=production&task=deploy&per_page=100&page=1",
            "GET /repos/octo-org/shop/deployments/3/statuses?per_page=100",
            "GET /repos/octo-org/shop/deployments/2/statuses?per_page=100",
        ]
    );
    api.assert_conformant();
    // Another environment (from defaults.environment) has no deployment: everything changed.
    let config = CONFIG.replace(
        "defaults:\n",
        "defaults:\n  environment: staging\n  base-from: github\n",
    );
    let repo = repo.config(&config).commit("staging");
    let run = Shipgate::new(&repo)
        .event("push", payload::push("main", &head, &repo.sha("HEAD")))
        .env("GITHUB_API_URL", &api.api_url)
        .env("GITHUB_REPOSITORY", "octo-org/shop")
        .env("SHIPGATE_GITHUB_TOKEN", GITHUB_TOKEN)
        .args(["detect"])
        .run()
        .success();
    assert_eq!(services(&run), ["auth", "events", "search"]);
    run.stdout_has("never deployed: `staging` has no GitHub deployment");
}

#[test]
fn base_from_github_without_a_token_or_with_a_refusal_exits_2() {
    let (repo, [_, failed, head], api) = github_history();
    let run = detect_from_github(&repo, &api.api_url, &failed, &head)
        .run()
        .code(2);
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("--base-from github needs github-token"),
        "{text}"
    );
    let refused = crate::github_deployments::StandIn::start(
        "",
        Box::new(|_, _| {
            Some(crate::github_deployments::Canned::json(
                403,
                serde_json::json!({"message": "Resource not accessible by integration",
                                   "documentation_url": "https://docs.github.com/rest", "status": "403"}),
            ))
        }),
    );
    let run = detect_from_github(&repo, &refused.api_url, &failed, &head)
        .args(["--github-token", GITHUB_TOKEN])
        .run()
        .code(2);
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("HTTP 403") && text.contains("deployments: read"),
        "{text}"
    );
    assert!(shown_only_masked(&text), "{text}");
}
