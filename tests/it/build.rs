//! `shipgate build` end to end, with a `docker` stand-in on PATH.
//!
//! No Docker engine exists where these tests run. The stand-in (a small POSIX shell script the
//! tests write into a temporary directory and put first on PATH) records what *would* run: its
//! argv as one JSON array per line, and when each build started and ended. It writes a buildx
//! metadata file with a `containerimage.digest` when given `--metadata-file`, and it can be told
//! per service (by image name, through the environment) to sleep or to fail. The same script
//! stands in for the programs of `command` builder templates.
//!
//! Workflow builds run against a local stand-in of the GitHub REST API on 127.0.0.1 whose
//! answers follow GitHub's published OpenAPI description (dispatch 204/200, list workflow runs,
//! get a run, list jobs, check-run annotations).

use crate::support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::docker::StandIn;
use support::http::{self, HttpStandIn};
use support::{Run, Shipgate, TestRepo};

/// Images point at a port nothing listens on: a registry call fails at once, never reaches out.
const REGISTRY: &str = "127.0.0.1:9/acme";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Test-local helper on the shared stand-in (the image names here live in `REGISTRY`).
impl StandIn {
    /// The argv of the build whose tags name `image`, with the metadata path made stable.
    fn argv_of(&self, image: &str) -> Vec<String> {
        let argvs = self.argvs();
        let argv = argvs
            .iter()
            .find(|a| {
                a.iter()
                    .any(|x| x.starts_with(&format!("{REGISTRY}/{image}:")))
            })
            .unwrap_or_else(|| panic!("no build of {image} in {argvs:?}"));
        let mut argv = argv.clone();
        if let Some(i) = argv.iter().position(|a| a == "--metadata-file") {
            assert!(argv[i + 1].ends_with(".json"), "{argv:?}");
            argv[i + 1] = "<metadata>".into();
        }
        argv
    }
}

/// A git repository with a Dockerfile per service (the build runs at its root).
fn repo() -> TestRepo {
    TestRepo::new()
        .file("services/auth/Dockerfile", "FROM scratch\n")
        .file("services/web/Dockerfile", "FROM scratch\n")
        .commit("init")
}

/// One planned service as `shipgate plan` writes it.
fn service(name: &str) -> Value {
    json!({
        "name": name,
        "image": format!("{REGISTRY}/{name}"),
        "tags": ["1.2.0-1766836944", "sha-0123456"],
        "refs": [
            format!("{REGISTRY}/{name}:1.2.0-1766836944"),
            format!("{REGISTRY}/{name}:sha-0123456"),
        ],
        "labels": {
            "org.opencontainers.image.revision": SHA,
            "org.opencontainers.image.title": name,
            "git.commit": SHA,
        },
        "build": {
            "context": format!("services/{name}"),
            "dockerfile": format!("services/{name}/Dockerfile"),
            "target": null,
            "args": {},
            "platforms": [],
            "builder": "buildx",
            "cache": "fresh",
        },
        "reason": "selected by --services",
        "cause": {"kind": "selected", "by": "--services"},
        "version": "1.2.0",
        "content": "0".repeat(64),
        "lookup_tag": "1.2.0-1766836944",
        "mutable_only": false,
    })
}

fn plan(event: &str, services: Vec<Value>) -> Value {
    json!({
        "version": 2,
        "context": {
            "sha": SHA,
            "ref": "refs/heads/main",
            "event": event,
            "timestamp": 1766836944,
            "branch": "main",
            "pr": null,
            "default_branch": "main",
            "is_default_branch": true,
            "repository": "Codertocat/Hello-World",
            "repository_url": "https://github.com/Codertocat/Hello-World",
            "run_number": "7",
            "run_url": null,
            "environment": "prod",
        },
        "services": services,
    })
}

/// Writes the plan into the repository's scratch directory and returns its path.
fn plan_file(repo: &TestRepo, plan: &Value) -> PathBuf {
    let path = repo.scratch().join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(plan).unwrap()).unwrap();
    path
}

fn digest_of(name: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(name.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn outcomes(run: &Run) -> BTreeMap<String, String> {
    run.json()["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// buildx

#[test]
fn buildx_runs_the_exact_command_line_and_captures_the_digest() {
    let repo = repo();
    let docker = StandIn::new();
    let mut auth = service("auth");
    auth["build"]["target"] = json!("runtime");
    auth["build"]["args"] = json!({ "NODE_ENV": "production", "QUOTE": "a \"b\" $c" });
    auth["build"]["platforms"] = json!(["linux/amd64"]);
    let plan = plan_file(&repo, &plan("push", vec![auth]));

    let run = docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&plan)
        .args(["--provenance", "mode=max"])
        .actions()
        .run()
        .success();

    assert_eq!(
        docker.argv_of("auth"),
        strings(&[
            "docker",
            "buildx",
            "build",
            "--pull",
            "--no-cache",
            "--file",
            "services/auth/Dockerfile",
            "--target",
            "runtime",
            "--platform",
            "linux/amd64",
            "--build-arg",
            "NODE_ENV=production",
            "--build-arg",
            "QUOTE=a \"b\" $c",
            "--tag",
            "127.0.0.1:9/acme/auth:1.2.0-1766836944",
            "--tag",
            "127.0.0.1:9/acme/auth:sha-0123456",
            "--label",
            "git.commit=0123456789abcdef0123456789abcdef01234567",
            "--label",
            "org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567",
            "--label",
            "org.opencontainers.image.title=auth",
            "--annotation",
            "manifest:org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567",
            "--annotation",
            "manifest:org.opencontainers.image.title=auth",
            "--provenance",
            "mode=max",
            "--metadata-file",
            "<metadata>",
            "--push",
            "services/auth",
        ])
    );
    assert_eq!(
        run.output_json("images"),
        json!({
            "auth": {
                "refs": [
                    "127.0.0.1:9/acme/auth:1.2.0-1766836944",
                    "127.0.0.1:9/acme/auth:sha-0123456"
                ],
                "digest": digest_of("auth")
            }
        })
    );
    // One build: its output sits in a group, fenced against workflow commands.
    run.stdout_line("::group::auth: docker buildx build --pull --no-cache", &[])
        .stdout_line("#9 DONE auth", &[])
        .stdout_line("::stop-commands::", &[])
        .summary_has("| Service | Image | Tags | Digest | Duration | Result |")
        .summary_has(&format!(
            "| **auth** | `127.0.0.1:9/acme/auth` | `1.2.0-1766836944` `sha-0123456` | `{}` |",
            &digest_of("auth")[..19]
        ))
        .summary_has("✅ built |");
}

#[test]
fn cache_policies_change_only_the_cache_flags() {
    let repo = repo();
    let docker = StandIn::new();
    let mut auth = service("auth");
    auth["build"]["cache"] = json!("registry");
    let mut web = service("web");
    web["build"]["cache"] = json!("gha");
    let plan = plan_file(&repo, &plan("push", vec![auth, web]));
    docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&plan)
        .run()
        .success();
    let auth = docker.argv_of("auth");
    assert_eq!(
        auth[..8],
        strings(&[
            "docker",
            "buildx",
            "build",
            "--pull",
            "--cache-from",
            "type=registry,ref=127.0.0.1:9/acme/auth:buildcache",
            "--cache-to",
            "type=registry,ref=127.0.0.1:9/acme/auth:buildcache,mode=max",
        ])
    );
    let web = docker.argv_of("web");
    assert_eq!(
        web[3..8],
        strings(&[
            "--pull",
            "--cache-from",
            "type=gha,scope=web",
            "--cache-to",
            "type=gha,mode=max,scope=web",
        ])
    );
    assert!(!auth.contains(&"--no-cache".to_string()));
}

/// In a job, `cache: gha` without the runtime variables (a step after no
/// crazy-max/ghaction-github-runtime) is refused before anything builds; with them, buildx gets
/// the gha cache flags.
#[test]
fn a_gha_cache_in_a_job_needs_the_runtime_variables() {
    let repo = repo();
    let docker = StandIn::new();
    let mut web = service("web");
    web["build"]["cache"] = json!("gha");
    let plan = plan_file(&repo, &plan("push", vec![web]));
    let run = docker
        .shipgate(&repo)
        .actions()
        .args(["build", "--plan"])
        .arg(&plan)
        .run()
        .code(2);
    run.stdout_line(
        "::error title=shipgate build::`cache: gha` (web) needs ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL (or ACTIONS_RESULTS_URL)",
        &["crazy-max/ghaction-github-runtime"],
    );
    assert!(docker.argvs().is_empty(), "nothing was built");
    docker
        .shipgate(&repo)
        .actions()
        .env("ACTIONS_RUNTIME_TOKEN", "token")
        .env("ACTIONS_RESULTS_URL", "http://127.0.0.1:9/")
        .args(["build", "--plan"])
        .arg(&plan)
        .run()
        .success();
    let web = docker.argv_of("web");
    assert_eq!(
        web[3..8],
        strings(&[
            "--pull",
            "--cache-from",
            "type=gha,scope=web",
            "--cache-to",
            "type=gha,mode=max,scope=web",
        ])
    );
}

#[test]
fn the_plan_is_taken_from_json_text_too() {
    let repo = repo();
    let docker = StandIn::new();
    let text = plan("push", vec![service("web")]).to_string();
    let run = docker
        .shipgate(&repo)
        .args(["build", "--format", "json"])
        .env("SHIPGATE_PLAN", &text)
        .run()
        .success();
    assert_eq!(
        run.json()["images"]["web"]["digest"],
        json!(digest_of("web"))
    );
    assert_eq!(docker.argvs().len(), 1);

    let run = docker
        .shipgate(&repo)
        .args(["build", "--plan", "{not json"])
        .run()
        .code(2);
    run.stderr_has("the plan is not a shipgate plan");
}

#[test]
fn without_a_plan_build_plans_itself() {
    let repo = TestRepo::new()
        .config(&format!(
            "version: 1\ndefaults:\n  registry: {REGISTRY}\nservices:\n  auth:\n    paths: [services/auth/**]\n    image: auth\n    build: {{ context: services/auth }}\n  web:\n    paths: [services/web/**]\n    image: web\n    build: {{ context: services/web, builder: none }}\n"
        ))
        .file("services/auth/Dockerfile", "FROM scratch\n")
        .file("services/web/Dockerfile", "FROM scratch\n")
        .commit("init");
    let sha7 = &repo.sha("HEAD")[..7];
    let docker = StandIn::new();
    let run = docker
        .shipgate(&repo)
        .args(["build", "--services", "all", "--format", "json"])
        .env("SOURCE_DATE_EPOCH", "1766836944")
        .run()
        .success();
    let argv = docker.argv_of("auth");
    assert!(
        argv.windows(2).any(|w| w
            == [
                "--tag".to_string(),
                format!("{REGISTRY}/auth:sha-{sha7}-1766836944")
            ]),
        "{argv:?}"
    );
    assert_eq!(argv.last().unwrap(), "services/auth");
    assert_eq!(docker.argvs().len(), 1, "web is built elsewhere");
    assert_eq!(
        outcomes(&run),
        BTreeMap::from([
            ("auth".to_string(), "built".to_string()),
            ("web".to_string(), "elsewhere".to_string())
        ])
    );
    assert_eq!(run.json()["images"]["web"]["digest"], Value::Null);
}

#[test]
fn dry_run_prints_the_commands_and_runs_nothing() {
    let repo = repo();
    let docker = StandIn::new();
    let plan = plan_file(&repo, &plan("push", vec![service("auth"), service("web")]));
    let run = docker
        .shipgate(&repo)
        .args(["build", "--dry-run", "--plan"])
        .arg(&plan)
        .run()
        .success();
    assert!(!docker.log().exists(), "nothing ran");
    run.stdout_line(
        "docker buildx build --pull --no-cache --file services/auth/Dockerfile --tag 127.0.0.1:9/acme/auth:1.2.0-1766836944",
        &["--push services/auth"],
    )
    .stdout_line("docker buildx build --pull --no-cache --file services/web/Dockerfile", &[]);
}

#[test]
fn pull_requests_build_without_pushing_and_say_what_would_be_pushed() {
    let repo = repo();
    let docker = StandIn::new();
    let plan = plan_file(&repo, &plan("pull_request", vec![service("auth")]));
    let run = docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&plan)
        .actions()
        .run()
        .success();
    let argv = docker.argv_of("auth");
    assert!(!argv.contains(&"--push".to_string()), "{argv:?}");
    run.summary_has("pull request runs do not push")
        .summary_has("| Service | Image | Would push |")
        .summary_has("built, not pushed");
    // Not pushed: no registry has a digest for it.
    assert_eq!(run.output_json("images")["auth"]["digest"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// parallelism and failures

#[test]
fn at_most_max_parallel_builds_overlap() {
    let repo = repo();
    let docker = StandIn::new();
    let plan = plan_file(
        &repo,
        &plan("push", vec![service("a"), service("b"), service("c")]),
    );
    let run = docker
        .shipgate(&repo)
        .args(["build", "--max-parallel", "2", "--plan"])
        .arg(&plan)
        .env("STANDIN_SLEEP", "a=1 b=1 c=1")
        .run()
        .success();
    assert_eq!(docker.events().len(), 6, "{:?}", docker.events());
    assert_eq!(docker.max_overlap(), 2, "{:?}", docker.events());
    // Parallel output: every line carries its service.
    run.stderr_line("a | #1 [internal] load build definition for a", &[])
        .stderr_line("c | #9 DONE c", &[]);

    let docker = StandIn::new();
    docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&plan)
        .env("SHIPGATE_MAX_PARALLEL", "1")
        .env("STANDIN_SLEEP", "a=0.3 b=0.3 c=0.3")
        .run()
        .success();
    assert_eq!(docker.max_overlap(), 1, "{:?}", docker.events());
}

#[test]
fn without_fail_fast_every_build_finishes_and_is_reported() {
    let repo = repo();
    let docker = StandIn::new();
    let plan = plan_file(
        &repo,
        &plan("push", vec![service("a"), service("b"), service("c")]),
    );
    let run = docker
        .shipgate(&repo)
        .args(["build", "--format", "json", "--plan"])
        .arg(&plan)
        .env("STANDIN_FAIL", "a")
        .env("STANDIN_SLEEP", "b=0.3 c=0.3")
        .actions()
        .run()
        .code(1);
    assert_eq!(
        outcomes(&run),
        BTreeMap::from([
            ("a".to_string(), "failed".to_string()),
            ("b".to_string(), "built".to_string()),
            ("c".to_string(), "built".to_string())
        ])
    );
    let images = run.output_json("images");
    assert_eq!(
        images.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["b", "c"]
    );
    assert_eq!(images["c"]["digest"], json!(digest_of("c")));
    run.stderr_line(
        "::error title=shipgate build::service `a`: build failed (ERROR: failed to solve: a exploded; exit code 1)",
        &[],
    )
    .summary_has("### 🏗️ Build: ❌ 1 of 3 failed")
    .summary_has("<summary>Last 30 lines of a</summary>")
    .summary_has("ERROR: failed to solve: a exploded");
    assert!(
        !run.summary.contains("#1 step 1 of a\n"),
        "only the last 30 lines"
    );
}

#[test]
fn fail_fast_cancels_the_other_builds() {
    let repo = repo();
    let docker = StandIn::new();
    let plan = plan_file(
        &repo,
        &plan("push", vec![service("a"), service("b"), service("c")]),
    );
    let started = Instant::now();
    let run = docker
        .shipgate(&repo)
        .args([
            "build",
            "--fail-fast",
            "--max-parallel",
            "2",
            "--format",
            "json",
            "--plan",
        ])
        .arg(&plan)
        .env("STANDIN_FAIL", "a")
        .env("STANDIN_SLEEP", "a=0.3 b=30 c=30")
        .actions()
        .run()
        .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        outcomes(&run),
        BTreeMap::from([
            ("a".to_string(), "failed".to_string()),
            ("b".to_string(), "cancelled".to_string()),
            ("c".to_string(), "cancelled".to_string())
        ])
    );
    let events = docker.events();
    assert!(
        events.iter().any(|(k, s, _)| k == "start" && s == "b"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|(k, s, _)| k == "end" && s == "b"),
        "b was killed: {events:?}"
    );
    assert!(
        !events.iter().any(|(_, s, _)| s == "c"),
        "c never started: {events:?}"
    );
    assert_eq!(run.output_json("images"), json!({}));
    run.summary_has("not started: another build failed (fail-fast)");
}

#[test]
fn skip_existing_with_an_unreachable_registry_builds_anyway() {
    let repo = repo();
    let docker = StandIn::new();
    let plan = plan_file(&repo, &plan("push", vec![service("auth")]));
    let run = docker
        .shipgate(&repo)
        .args(["build", "--skip-existing", "--format", "json", "--plan"])
        .arg(&plan)
        .run()
        .success();
    assert_eq!(docker.argvs().len(), 1);
    let note = run.json()["services"][0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains(
            "could not ask the registry whether 127.0.0.1:9/acme/auth:1.2.0-1766836944 exists"
        ),
        "{note}"
    );
}

// ---------------------------------------------------------------------------------------------
// command builder

#[test]
fn command_templates_keep_hostile_values_as_single_arguments() {
    let repo = repo();
    let docker = StandIn::new();
    let hostile_context = "services/it's a \"dir\"; echo $HOME `id`";
    let mut auth = service("auth");
    auth["build"]["builder"] = json!("command");
    auth["build"]["context"] = json!(hostile_context);
    auth["build"]["dockerfile"] = json!("Docker file;rm -rf /");
    auth["build"]["command"] = json!([
        "remote-builder",
        "build",
        "--image",
        "{refs}",
        "--tag={tag}",
        "--file",
        "{dockerfile}",
        "--name={service}",
        "{context}"
    ]);
    let plan = plan_file(&repo, &plan("push", vec![auth]));
    let run = docker
        .shipgate(&repo)
        .args(["build", "--format", "json", "--plan"])
        .arg(&plan)
        .run()
        .success();
    assert_eq!(
        docker.argvs(),
        vec![strings(&[
            "remote-builder",
            "build",
            "--image",
            "127.0.0.1:9/acme/auth:1.2.0-1766836944",
            "127.0.0.1:9/acme/auth:sha-0123456",
            "--tag=1.2.0-1766836944",
            "--file",
            "Docker file;rm -rf /",
            "--name=auth",
            hostile_context,
        ])]
    );
    assert_eq!(outcomes(&run)["auth"], "built");
}

#[test]
fn an_unknown_placeholder_stops_everything_before_any_build() {
    let repo = repo();
    let docker = StandIn::new();
    let mut auth = service("auth");
    auth["build"]["builder"] = json!("command");
    auth["build"]["command"] = json!(["remote-builder", "--image", "{imgae}"]);
    let plan = plan_file(&repo, &plan("push", vec![auth, service("web")]));
    let run = docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&plan)
        .run()
        .code(2);
    run.stderr_has("service `auth`: bad `build.command`: unknown placeholder `{imgae}`");
    assert!(!docker.log().exists(), "nothing ran");
}

#[test]
fn a_plan_given_back_is_validated_with_located_errors_before_anything_runs() {
    let repo = repo();
    let docker = StandIn::new();
    let mut auth = service("auth");
    auth["tags"][1] = json!("-not-a-tag");
    auth["build"]["builder"] = json!("buildx");
    let mut web = service("web");
    web["name"] = json!("w".repeat(70_000));
    let plan = plan_file(&repo, &plan("push", vec![auth, web]));
    let run = docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&plan)
        .run()
        .code(2);
    let path = plan.display().to_string();
    run.stderr_has(&format!("{path}:"));
    run.stderr_has("service `auth`: `-not-a-tag` is not a Docker tag");
    run.stderr_has("… (70000 characters)` is not a service name");
    run.stderr_lacks("panicked");
    assert!(!docker.log().exists(), "nothing ran");
}

#[test]
fn a_plan_of_another_version_is_a_clear_error() {
    let repo = repo();
    let docker = StandIn::new();
    let mut old = plan("push", vec![service("auth")]);
    old["version"] = json!(1);
    let file = plan_file(&repo, &old);
    docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&file)
        .run()
        .code(2)
        .stderr_has(
            "plan version 1 was written by an older shipgate; this shipgate reads plan version 2",
        );
    let mut unknown = plan("push", vec![service("auth")]);
    unknown["services"][0]["build"]["builder"] = json!("kaniko");
    let file = plan_file(&repo, &unknown);
    docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&file)
        .run()
        .code(2)
        .stderr_has("unknown variant `kaniko`");
}

// ---------------------------------------------------------------------------------------------
// workflow builder

/// One request as the GitHub stand-in saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

/// An answer: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);

/// The GitHub REST API stand-in: `respond(request, base URL)` answers each request.
struct GitHubStandIn {
    server: HttpStandIn,
}

impl GitHubStandIn {
    fn start(respond: impl Fn(&Seen, &str) -> Answer + Send + 'static) -> Self {
        let base = Arc::new(std::sync::OnceLock::<String>::new());
        let known = base.clone();
        let server = HttpStandIn::start(move |request| {
            let (status, headers, body) = respond(&seen(request), known.get().unwrap());
            headers
                .into_iter()
                .fold(http::Answer::new(status, body), |answer, (name, value)| {
                    answer.header(name, value)
                })
        });
        base.set(server.url()).unwrap();
        GitHubStandIn { server }
    }

    fn seen(&self) -> Vec<Seen> {
        self.server.requests().iter().map(seen).collect()
    }
}

fn seen(request: &http::Request) -> Seen {
    Seen {
        method: request.method.clone(),
        path: request.path.clone(),
        authorization: request.header("authorization").map(str::to_string),
        body: String::from_utf8_lossy(&request.body).into_owned(),
    }
}

/// A workflow run object as GitHub's OpenAPI description shapes it (the fields shipgate reads and
/// their usual neighbours).
fn workflow_run(base: &str, id: u64, title: &str, status: &str, conclusion: Option<&str>) -> Value {
    json!({
        "id": id,
        "name": "build image",
        "node_id": "WFR_kwLOA",
        "head_branch": "main",
        "head_sha": SHA,
        "path": ".github/workflows/build-image.yml",
        "display_title": title,
        "run_number": 12,
        "event": "workflow_dispatch",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 161335,
        "url": format!("{base}/repos/Codertocat/Hello-World/actions/runs/{id}"),
        "html_url": format!("https://github.com/Codertocat/Hello-World/actions/runs/{id}"),
        "created_at": "2026-11-22T10:00:00Z",
        "updated_at": "2026-11-22T10:01:00Z",
        "run_attempt": 1,
        "run_started_at": "2026-11-22T10:00:00Z",
    })
}

fn workflow_plan(repo: &TestRepo) -> PathBuf {
    let mut auth = service("auth");
    auth["build"]["builder"] = json!("workflow");
    auth["build"]["workflow"] = json!("build-image.yml");
    plan_file(repo, &plan("push", vec![auth]))
}

const TOKEN: &str = "ghs_build_token_value";

#[test]
fn a_build_workflow_is_dispatched_found_followed_and_its_digest_taken() {
    let repo = repo();
    let plan = workflow_plan(&repo);
    let digest = format!("sha256:{}", "d".repeat(64));
    let reported = digest.clone();
    let correlation = Arc::new(Mutex::new(String::new()));
    let counters: Arc<Mutex<BTreeMap<&'static str, u32>>> = Arc::default();
    let api = GitHubStandIn::start(move |request, base| {
        let mut counters = counters.lock().unwrap();
        let path = request.path.as_str();
        let mut count = |key: &'static str| {
            let n = counters.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        if path == "/repos/Codertocat/Hello-World/actions/workflows/build-image.yml/dispatches" {
            let body: Value = serde_json::from_str(&request.body).unwrap();
            if body.get("return_run_details").is_some() {
                // A server that predates run details refuses the parameter.
                return (422, vec![], json!({"message": "Invalid request.\n\n\"return_run_details\" is not a permitted key.", "documentation_url": "https://docs.github.com/rest", "status": "422"}).to_string());
            }
            if count("dispatch") == 1 {
                return (502, vec![], json!({"message": "Server Error"}).to_string());
            }
            *correlation.lock().unwrap() = body["inputs"]["correlation-id"]
                .as_str()
                .unwrap()
                .to_string();
            return (204, vec![], String::new());
        }
        if path.starts_with("/repos/Codertocat/Hello-World/actions/workflows/build-image.yml/runs?")
        {
            let id = correlation.lock().unwrap().clone();
            return match count("list") {
                1 => (200, vec![], json!({"total_count": 0, "workflow_runs": []}).to_string()),
                2 => (
                    403,
                    vec![("retry-after", "1".to_string())],
                    json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", "status": "403"}).to_string(),
                ),
                _ => (200, vec![], json!({
                    "total_count": 2,
                    "workflow_runs": [
                        workflow_run(base, 111, "build web [shipgate-web-0000000000000000]", "in_progress", None),
                        workflow_run(base, 222, &format!("build auth [{id}]"), "queued", None),
                    ]
                }).to_string()),
            };
        }
        if path == "/repos/Codertocat/Hello-World/actions/runs/222" {
            return match count("run") {
                1 => (
                    200,
                    vec![],
                    workflow_run(base, 222, "build auth", "queued", None).to_string(),
                ),
                2 => (
                    200,
                    vec![],
                    workflow_run(base, 222, "build auth", "in_progress", None).to_string(),
                ),
                _ => (
                    200,
                    vec![],
                    workflow_run(base, 222, "build auth", "completed", Some("success")).to_string(),
                ),
            };
        }
        if path.starts_with("/repos/Codertocat/Hello-World/actions/runs/222/jobs") {
            return (200, vec![], json!({"total_count": 1, "jobs": [{
                "id": 399444496, "run_id": 222, "name": "build", "status": "completed", "conclusion": "success",
                "check_run_url": format!("{base}/repos/Codertocat/Hello-World/check-runs/399444496"),
                "html_url": "https://github.com/Codertocat/Hello-World/actions/runs/222/job/399444496",
            }]}).to_string());
        }
        if path == "/repos/Codertocat/Hello-World/check-runs/399444496/annotations" {
            return (200, vec![], json!([{
                "path": ".github", "start_line": 1, "end_line": 1, "start_column": null, "end_column": null,
                "annotation_level": "notice", "title": "shipgate-digest", "message": reported, "raw_details": null,
                "blob_href": "https://github.com/Codertocat/Hello-World/blob/x/.github",
            }]).to_string());
        }
        (404, vec![], json!({"message": "Not Found"}).to_string())
    });

    let run = Shipgate::new(&repo)
        .args([
            "build",
            "--poll-interval",
            "50ms",
            "--github-token",
            TOKEN,
            "--plan",
        ])
        .arg(&plan)
        .env("GITHUB_API_URL", api.server.url())
        .actions()
        .run()
        .success();

    assert_eq!(
        run.output_json("images"),
        json!({ "auth": { "refs": ["127.0.0.1:9/acme/auth:1.2.0-1766836944", "127.0.0.1:9/acme/auth:sha-0123456"], "digest": digest } })
    );
    let seen = api.seen();
    let dispatches: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.ends_with("/dispatches"))
        .collect();
    assert_eq!(
        dispatches.len(),
        3,
        "asked for run details, then retried the 502: {seen:#?}"
    );
    let body: Value = serde_json::from_str(&dispatches[2].body).unwrap();
    assert_eq!(body["ref"], "refs/heads/main");
    assert_eq!(body["inputs"]["service"], "auth");
    assert_eq!(
        body["inputs"]["tags"],
        "127.0.0.1:9/acme/auth:1.2.0-1766836944\n127.0.0.1:9/acme/auth:sha-0123456"
    );
    assert!(
        body["inputs"]["labels"]
            .as_str()
            .unwrap()
            .contains("org.opencontainers.image.title=auth")
    );
    assert!(
        body["inputs"]["correlation-id"]
            .as_str()
            .unwrap()
            .starts_with("shipgate-auth-")
    );
    let list = seen.iter().find(|s| s.path.contains("/runs?")).unwrap();
    assert!(
        list.path.contains("event=workflow_dispatch&created=%3E%3D"),
        "{}",
        list.path
    );
    assert_eq!(
        seen.iter().filter(|s| s.path.contains("/runs?")).count(),
        3,
        "a rate limit is waited out"
    );
    assert!(seen.iter().all(|s| {
        s.authorization
            .as_deref()
            .is_some_and(|a| a.ends_with(TOKEN))
    }));
    assert_eq!(seen.iter().filter(|s| s.method == "POST").count(), 3);
    run.stdout_has("workflow run 222: queued")
        .stdout_has("workflow run 222: in_progress")
        .stdout_has("workflow run 222: completed, success");
    assert_eq!(
        run.stdout.matches(TOKEN).count(),
        1,
        "the token appears only in ::add-mask::"
    );
    run.stdout_has(&format!("::add-mask::{TOKEN}"));
}

#[test]
fn a_failed_build_workflow_fails_the_build_with_its_run() {
    let repo = repo();
    let plan = workflow_plan(&repo);
    let api = GitHubStandIn::start(|request, base| {
        if request.path.ends_with("/dispatches") {
            // Since February 2026 GitHub can answer with the run it started.
            return (
                200,
                vec![],
                json!({
                    "workflow_run_id": 333,
                    "run_url": format!("{base}/repos/Codertocat/Hello-World/actions/runs/333"),
                    "html_url": "https://github.com/Codertocat/Hello-World/actions/runs/333",
                })
                .to_string(),
            );
        }
        if request.path == "/repos/Codertocat/Hello-World/actions/runs/333" {
            return (
                200,
                vec![],
                workflow_run(base, 333, "build auth", "completed", Some("failure")).to_string(),
            );
        }
        (404, vec![], json!({"message": "Not Found"}).to_string())
    });
    let run = Shipgate::new(&repo)
        .args(["build", "--poll-interval", "50ms", "--plan"])
        .arg(&plan)
        .env("SHIPGATE_GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", api.server.url())
        .actions()
        .run()
        .code(1);
    run.summary_has(
        "workflow run concluded \\`failure\\`: https://github.com/Codertocat/Hello-World/actions/runs/333",
    )
        .stdout_line("::error title=shipgate build::service `auth`: build failed", &[]);
    assert!(
        !api.seen().iter().any(|s| s.path.contains("/runs?")),
        "the run id came with the dispatch"
    );
    assert_eq!(run.output_json("images"), json!({}));
}

#[test]
fn a_workflow_build_without_a_token_is_a_usage_error() {
    let repo = repo();
    let plan = workflow_plan(&repo);
    Shipgate::new(&repo)
        .args(["build", "--plan"])
        .arg(&plan)
        .run()
        .code(2)
        .stderr_has("service `auth` is built by a workflow, which needs a GitHub token");
}

/// A stand-in whose run 444 never finishes.
fn endless_run_api() -> GitHubStandIn {
    GitHubStandIn::start(|request, base| {
        if request.path.ends_with("/dispatches") {
            return (
                200,
                vec![],
                json!({
                    "workflow_run_id": 444,
                    "run_url": format!("{base}/repos/Codertocat/Hello-World/actions/runs/444"),
                    "html_url": "https://github.com/Codertocat/Hello-World/actions/runs/444",
                })
                .to_string(),
            );
        }
        if request.path == "/repos/Codertocat/Hello-World/actions/runs/444" {
            return (
                200,
                vec![],
                workflow_run(base, 444, "build auth", "in_progress", None).to_string(),
            );
        }
        if request.path == "/repos/Codertocat/Hello-World/actions/runs/444/cancel" {
            return (202, vec![], "{}".into());
        }
        (404, vec![], json!({"message": "Not Found"}).to_string())
    })
}

#[test]
fn a_workflow_run_that_outlives_its_timeout_is_cancelled() {
    let repo = repo();
    let plan = workflow_plan(&repo);
    let api = endless_run_api();
    let run = Shipgate::new(&repo)
        .args([
            "build",
            "--poll-interval",
            "50ms",
            "--workflow-timeout",
            "1s",
        ])
        .args(["--github-token", TOKEN, "--plan"])
        .arg(&plan)
        .env("GITHUB_API_URL", api.server.url())
        .actions()
        .run()
        .code(1);
    run.summary_has("the workflow run did not conclude within 1s");
    assert!(
        api.seen()
            .iter()
            .any(|s| s.method == "POST" && s.path.ends_with("/actions/runs/444/cancel")),
        "{:#?}",
        api.seen()
    );
}

#[test]
fn fail_fast_cancels_a_running_build_workflow_too() {
    let repo = repo();
    let docker = StandIn::new();
    let mut auth = service("auth");
    auth["build"]["builder"] = json!("workflow");
    auth["build"]["workflow"] = json!("build-image.yml");
    let plan = plan_file(&repo, &plan("push", vec![auth, service("web")]));
    let api = endless_run_api();
    let run = docker
        .shipgate(&repo)
        .args([
            "build",
            "--fail-fast",
            "--poll-interval",
            "50ms",
            "--format",
            "json",
        ])
        .args(["--github-token", TOKEN, "--plan"])
        .arg(&plan)
        .env("GITHUB_API_URL", api.server.url())
        .env("STANDIN_FAIL", "web")
        .env("STANDIN_SLEEP", "web=0.5")
        .run()
        .code(1);
    assert_eq!(
        outcomes(&run),
        BTreeMap::from([
            ("auth".to_string(), "cancelled".to_string()),
            ("web".to_string(), "failed".to_string())
        ])
    );
    assert!(
        api.seen()
            .iter()
            .any(|s| s.method == "POST" && s.path.ends_with("/actions/runs/444/cancel")),
        "{:#?}",
        api.seen()
    );
}
