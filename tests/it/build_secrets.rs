//! `build.secrets`: one named variable of shipgate's environment handed to one service's builder
//! as a BuildKit secret (`--secret id=…,env=…`), and nothing else added to its scrubbed
//! environment.
//!
//! No Docker engine runs where these tests run: `docker` is the recorded stand-in of
//! `tests/support/docker.rs` (a shell script first on PATH), which writes down each call's argv
//! and the environment it was started with — exactly what a real `docker buildx` would have been
//! given.

use crate::support;

use serde_json::{Value, json};
use support::docker::StandIn;
use support::{Run, TestRepo};

const REGISTRY: &str = "127.0.0.1:9/acme";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const NPM_VALUE: &str = "npm-v4lue-0f-auth";
const PIP_VALUE: &str = "pip-v4lue-0f-web";

/// Two buildx services: auth reads `NPM_TOKEN`, web reads `PIP_TOKEN` through the defaults.
const CONFIG: &str = "version: 1
defaults:
  registry: 127.0.0.1:9/acme
  build:
    secrets: [{ id: pip, env: PIP_TOKEN }]
services:
  auth:
    paths: [services/auth/**]
    image: auth
    build:
      context: services/auth
      secrets:
        - { id: npm_token, env: NPM_TOKEN }
        - { id: pip, env: AUTH_PIP_TOKEN }
  web:
    paths: [services/web/**]
    image: web
    build: { context: services/web }
";

fn repo(config: &str) -> TestRepo {
    TestRepo::new()
        .config(config)
        .file("services/auth/Dockerfile", "FROM scratch\n")
        .file("services/web/Dockerfile", "FROM scratch\n")
        .commit("init")
}

/// Everything a run showed: stdout, stderr, summary and step outputs.
fn everything(run: &Run) -> String {
    format!(
        "{}\n{}\n{}\n{:?}",
        run.stdout, run.stderr, run.summary, run.outputs
    )
}

#[test]
fn a_build_secret_reaches_only_its_own_builder_and_is_never_shown() {
    let repo = repo(CONFIG);
    let docker = StandIn::new();
    let run = docker
        .shipgate(&repo)
        .actions()
        .args(["build", "--services", "all"])
        .env("NPM_TOKEN", NPM_VALUE)
        .env("PIP_TOKEN", PIP_VALUE)
        .env("AUTH_PIP_TOKEN", "auth-pip-v4lue")
        .env("GITHUB_TOKEN", "ghs_token-env-s3cr3t")
        .env("SHIPGATE_GITHUB_TOKEN", "ghs_token-input-s3cr3t")
        .env("SHIPGATE_REGISTRY_PASSWORD", "registry-password-s3cr3t")
        .env("KUBECONFIG", "/runner/kubeconfig-path-s3cr3t")
        .env("SHIPGATE_KUBECONFIG", "kubeconfig-input-s3cr3t")
        .run()
        .success();

    // The flags name the secrets; no value is on any command line.
    let auth = docker.builds_of(&format!("{REGISTRY}/auth"));
    assert_eq!(auth.len(), 1, "{auth:?}");
    let flags: Vec<&str> = auth[0]
        .windows(2)
        .filter(|w| w[0] == "--secret")
        .map(|w| w[1].as_str())
        .collect();
    assert_eq!(
        flags,
        ["id=npm_token,env=NPM_TOKEN", "id=pip,env=AUTH_PIP_TOKEN"]
    );
    let web = docker.builds_of(&format!("{REGISTRY}/web"));
    assert!(
        web[0]
            .windows(2)
            .any(|w| w == ["--secret", "id=pip,env=PIP_TOKEN"])
    );
    let argvs = format!("{:?}", docker.argvs());
    assert!(!argvs.contains("v4lue"), "{argvs}");

    // auth's builder has its two variables and none of shipgate's secrets, nor web's.
    let auth_env = docker.environment_of("auth");
    assert!(
        auth_env.contains("STANDIN_LOG="),
        "auth's build ran: {auth_env}"
    );
    assert!(
        auth_env.contains(&format!("NPM_TOKEN={NPM_VALUE}\n")),
        "{auth_env}"
    );
    assert!(
        auth_env.contains("AUTH_PIP_TOKEN=auth-pip-v4lue\n"),
        "{auth_env}"
    );
    assert!(!auth_env.contains(PIP_VALUE), "web's secret: {auth_env}");
    assert!(!auth_env.contains("s3cr3t"), "{auth_env}");
    // web's builder has its own and not auth's.
    let web_env = docker.environment_of("web");
    assert!(
        web_env.contains(&format!("PIP_TOKEN={PIP_VALUE}\n")),
        "{web_env}"
    );
    assert!(!web_env.contains(NPM_VALUE), "auth's secret: {web_env}");
    assert!(!web_env.contains("NPM_TOKEN="), "{web_env}");
    assert!(!web_env.contains("AUTH_PIP_TOKEN="), "{web_env}");
    assert!(!web_env.contains("s3cr3t"), "{web_env}");

    // Each value is masked before any builder prints, and shown nowhere else.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let first_build_line = lines
        .iter()
        .position(|l| l.contains("load build definition"))
        .unwrap_or_else(|| panic!("the builders' output is in the log:\n{}", run.stdout));
    for value in [NPM_VALUE, PIP_VALUE, "auth-pip-v4lue"] {
        let mask = format!("::add-mask::{value}");
        let at = lines.iter().position(|l| *l == mask);
        assert!(
            at.is_some_and(|at| at < first_build_line),
            "{mask} before the builds:\n{}",
            run.stdout
        );
        assert_eq!(
            everything(&run).matches(value).count(),
            1,
            "{value} appears only in its ::add-mask:: line"
        );
    }
}

#[test]
fn the_plan_lists_secret_names_never_values() {
    let repo = repo(CONFIG);
    let run = support::Shipgate::new(&repo)
        .actions()
        .args(["plan", "--services", "all"])
        .env("NPM_TOKEN", NPM_VALUE)
        .env("PIP_TOKEN", PIP_VALUE)
        .run()
        .success();
    let plan = run.output_json("plan");
    let secrets = |i: usize| plan["services"][i]["build"]["secrets"].clone();
    assert_eq!(plan["services"][0]["name"], "auth");
    assert_eq!(
        secrets(0),
        json!([{"id": "npm_token", "env": "NPM_TOKEN"}, {"id": "pip", "env": "AUTH_PIP_TOKEN"}])
    );
    assert_eq!(secrets(1), json!([{"id": "pip", "env": "PIP_TOKEN"}]));
    let shown = everything(&run);
    assert!(
        !shown.contains(NPM_VALUE) && !shown.contains(PIP_VALUE),
        "{shown}"
    );
}

/// A plan as the plan job wrote it, given to a build matrix leg (`--plan … --services auth`).
fn given_plan(repo: &TestRepo) -> std::path::PathBuf {
    let service = |name: &str, secrets: Value| {
        json!({
            "name": name, "image": format!("{REGISTRY}/{name}"), "tags": ["1.0.0"],
            "refs": [format!("{REGISTRY}/{name}:1.0.0")], "labels": {},
            "build": {"context": format!("services/{name}"),
                      "dockerfile": format!("services/{name}/Dockerfile"),
                      "target": null, "args": {}, "platforms": [], "builder": "buildx",
                      "cache": "fresh", "secrets": secrets},
            "reason": "selected by --services", "cause": {"kind": "selected", "by": "--services"},
            "version": "1.0.0", "content": "0".repeat(64),
            "lookup_tag": "1.0.0", "mutable_only": false,
        })
    };
    let plan = json!({
        "version": 2,
        "context": {
            "sha": SHA, "ref": "refs/heads/main", "event": "push", "timestamp": 1766836944,
            "branch": "main", "pr": null, "default_branch": "main", "is_default_branch": true,
            "repository": "acme/shop", "repository_url": "https://github.com/acme/shop",
            "run_number": "7", "run_url": null, "environment": "prod",
        },
        "services": [
            service("auth", json!([{"id": "npm_token", "env": "NPM_TOKEN"}])),
            service("web", json!([])),
        ],
    });
    let path = repo.scratch().join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    path
}

#[test]
fn a_missing_secret_variable_fails_that_service_before_its_builder_runs() {
    let repo = repo("version: 1\nservices:\n  auth: { paths: [a/**] }\n");
    let path = given_plan(&repo);
    for value in [None, Some("")] {
        let docker = StandIn::new();
        let mut shipgate = docker
            .shipgate(&repo)
            .actions()
            .args(["build", "--format", "json", "--plan"])
            .arg(&path)
            .env("GITHUB_TOKEN", "ghs_token-env-s3cr3t");
        if let Some(value) = value {
            shipgate = shipgate.env("NPM_TOKEN", value);
        }
        let run = shipgate.run().code(1);
        assert!(
            docker.builds_of(&format!("{REGISTRY}/auth")).is_empty(),
            "auth's builder never started"
        );
        assert_eq!(
            docker.builds_of(&format!("{REGISTRY}/web")).len(),
            1,
            "web still builds"
        );
        let message = "build secret `npm_token` reads the variable `NPM_TOKEN`, which is not set (or empty) in shipgate's environment";
        let services = run.json()["services"].clone();
        assert_eq!(services[0]["outcome"], "failed");
        assert!(
            services[0]["note"].as_str().unwrap().starts_with(message),
            "{services}"
        );
        assert_eq!(services[1]["outcome"], "built");
        // The annotation names the service and the variable; so does the summary's row.
        run.stderr_has("::error title=shipgate build::service `auth`: build failed (build secret `npm_token` reads the variable `NPM_TOKEN`")
            .summary_has("| **auth** |")
            .summary_has("reads the variable \\`NPM\\_TOKEN\\`");
        assert!(!everything(&run).contains("s3cr3t"));
    }
}

#[test]
fn a_matrix_leg_given_the_plan_hands_the_secret_to_its_builder() {
    let repo = repo("version: 1\nservices:\n  auth: { paths: [a/**] }\n");
    let path = given_plan(&repo);
    let docker = StandIn::new();
    let run = docker
        .shipgate(&repo)
        .actions()
        .args(["build", "--services", "auth", "--plan"])
        .arg(&path)
        .env("NPM_TOKEN", NPM_VALUE)
        .run()
        .success();
    assert_eq!(docker.argvs().len(), 1, "only the leg's service is built");
    assert!(
        docker
            .environment_of("auth")
            .contains(&format!("NPM_TOKEN={NPM_VALUE}\n"))
    );
    run.stdout_has(&format!("::add-mask::{NPM_VALUE}"));
    assert_eq!(everything(&run).matches(NPM_VALUE).count(), 1);
}

#[test]
fn config_check_locates_bad_build_secrets_and_exits_2() {
    let repo = repo(
        "version: 1\nservices:\n  auth:\n    paths: [a/**]\n    image: auth\n    build:\n      builder: command\n      command: [remote-builder, \"{ref}\"]\n      secrets: [{ id: npm, env: NPM-TOKEN }]\n",
    );
    let run = support::Shipgate::new(&repo)
        .args(["config", "check"])
        .run()
        .code(2);
    run.stderr_has(
        ".github/shipgate.yml:9:33: error: `NPM-TOKEN` is not an environment variable name",
    )
    .stderr_has(
        ".github/shipgate.yml:9:23: error: service `auth` is built with `builder: command`",
    );
}
