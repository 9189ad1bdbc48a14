//! The GitOps write-back against a stand-in of the GitHub REST API on 127.0.0.1.
//!
//! The stand-in keeps a tiny repository (branches → commit and kustomization text) and checks
//! every request body against the request schema GitHub publishes for the endpoint, and every
//! answer it gives against the published response schema
//! (`tests/fixtures/github-openapi/gitops.json`, extracted from `@octokit/openapi` by
//! `extract_gitops.py`). Answers are built as the smallest instance of the published schema with
//! the fields the test means overlaid, then validated, so neither side is made up. As in
//! `github_deployments`, a property the schema does not declare is a violation.

use crate::support::openapi::{merge, minimal, violations};
use base64::Engine;
use serde_json::{Value, json};
use shipgate::github::Client;
use shipgate::github::contents::PullRequest;
use shipgate::gitops::ServiceImage;
use shipgate::gitops::edit::ImageEntry;
use shipgate::gitops::message::About;
use shipgate::gitops::write::{Outcome, Request, Target, WriteError, write_back};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

const TOKEN: &str = "ghs_GitopsT0kenThatMustNeverLeak0123456789";
const PATH: &str = "deploy/overlays/prod/kustomization.yaml";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const KUSTOMIZATION: &str = "\
# production — Argo CD syncs this directory
resources:
  - ../../base
images:
  - name: ghcr.io/acme/backend   # the API
    newTag: 1.4.1
";

fn fixture() -> &'static Value {
    static FIXTURE: OnceLock<Value> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/github-openapi/gitops.json")).unwrap()
    })
}

/// A published-shape answer of `operation` with `status`, `fields` overlaid (for a `oneOf`,
/// the alternative the fields fit); violations are recorded.
fn answer(operation: &str, status: u16, fields: Value, problems: &mut Vec<String>) -> (u16, Value) {
    let schema = &fixture()["operations"][operation]["responses"][status.to_string()];
    assert!(
        !schema.is_null(),
        "{operation} documents no body for {status}"
    );
    let alternatives = schema["oneOf"]
        .as_array()
        .cloned()
        .unwrap_or(vec![schema.clone()]);
    let body = alternatives
        .iter()
        .map(|alternative| {
            let mut body = minimal(alternative);
            merge(&mut body, &fields);
            body
        })
        .find(|body| violations(schema, body).is_empty())
        .unwrap_or_else(|| {
            let mut body = minimal(schema);
            merge(&mut body, &fields);
            body
        });
    problems.extend(
        violations(schema, &body)
            .into_iter()
            .map(|v| format!("answer of {operation} {status}: {v}")),
    );
    (status, body)
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// The stand-in's repository: branch → (commit sha, kustomization text).
#[derive(Default)]
struct Repository {
    branches: BTreeMap<String, (String, String)>,
    commits: BTreeMap<String, String>,
    pulls: Vec<(String, String)>,
    /// Before the next write, someone else commits this text (a moved branch).
    race: Option<String>,
    seen: Vec<(String, String, Value)>,
    problems: Vec<String>,
}

fn blob_sha(text: &str) -> String {
    format!(
        "{:040x}",
        text.len() * 7919 + text.bytes().map(usize::from).sum::<usize>()
    )
}

impl Repository {
    fn commit(&mut self, branch: &str, text: &str) -> String {
        let sha = format!("{:040x}", self.commits.len() + 0xc0ffee);
        self.commits.insert(sha.clone(), text.to_string());
        self.branches
            .insert(branch.into(), (sha.clone(), text.into()));
        sha
    }

    fn text_at(&self, reference: &str) -> Option<String> {
        self.branches
            .get(reference)
            .map(|(_, text)| text.clone())
            .or_else(|| self.commits.get(reference).cloned())
    }

    fn handle(&mut self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let repo = "/repos/octo-org/shop";
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let query: BTreeMap<&str, String> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k, v.replace("%3A", ":").replace("%2F", "/")))
            .collect();
        let operation = match (method, route.strip_prefix(repo).unwrap_or("")) {
            ("GET", p) if p == format!("/contents/{PATH}") => "repos/get-content",
            ("PUT", p) if p == format!("/contents/{PATH}") => {
                "repos/create-or-update-file-contents"
            }
            ("GET", p) if p.starts_with("/git/ref/heads/") => "git/get-ref",
            ("POST", "/git/refs") => "git/create-ref",
            ("POST", "/pulls") => "pulls/create",
            ("GET", "/pulls") => "pulls/list",
            _ => return error(404, "Not Found"),
        };
        let request = &fixture()["operations"][operation]["request"];
        if !request.is_null() {
            for v in violations(request, body) {
                self.problems.push(format!("request of {operation}: {v}"));
            }
        }
        let mut problems = Vec::new();
        let answer = self.operation(operation, route, &query, body, &mut problems);
        self.problems.extend(problems);
        answer
    }

    fn operation(
        &mut self,
        operation: &str,
        route: &str,
        query: &BTreeMap<&str, String>,
        body: &Value,
        problems: &mut Vec<String>,
    ) -> (u16, Value) {
        match operation {
            "repos/get-content" => match self.text_at(&query["ref"]) {
                Some(text) => {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(&text);
                    // GitHub wraps the base64 at 60 characters.
                    let wrapped: Vec<String> = encoded
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    answer(
                        operation,
                        200,
                        json!({"type": "file", "encoding": "base64",
                        "size": text.len(), "name": "kustomization.yaml", "path": PATH,
                        "content": wrapped.join("\n") + "\n", "sha": blob_sha(&text)}),
                        problems,
                    )
                }
                None => error(404, "Not Found"),
            },
            "repos/create-or-update-file-contents" => {
                let branch = body["branch"].as_str().unwrap().to_string();
                if let Some(text) = self.race.take() {
                    self.commit(&branch, &text);
                }
                let current = self.text_at(&branch).unwrap();
                if body["sha"] != blob_sha(&current) {
                    return error(409, &format!("{PATH} does not match {}", body["sha"]));
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(body["content"].as_str().unwrap())
                    .unwrap();
                let text = String::from_utf8(bytes).unwrap();
                let sha = self.commit(&branch, &text);
                answer(
                    operation,
                    200,
                    json!({"content": Value::Null, "commit": {"sha": sha,
                    "html_url": format!("https://github.com/octo-org/shop/commit/{sha}")}}),
                    problems,
                )
            }
            "git/get-ref" => {
                let branch = route.rsplit("/git/ref/heads/").next().unwrap();
                match self.branches.get(branch) {
                    Some((sha, _)) => answer(
                        operation,
                        200,
                        json!({"ref": format!("refs/heads/{branch}"),
                        "object": {"sha": sha, "type": "commit"}}),
                        problems,
                    ),
                    None => error(404, "Not Found"),
                }
            }
            "git/create-ref" => {
                let name = body["ref"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("refs/heads/")
                    .to_string();
                if self.branches.contains_key(&name) {
                    return error(422, "Reference already exists");
                }
                let sha = body["sha"].as_str().unwrap().to_string();
                let text = self.commits[&sha].clone();
                self.branches.insert(name.clone(), (sha.clone(), text));
                answer(
                    operation,
                    201,
                    json!({"ref": format!("refs/heads/{name}"),
                    "object": {"sha": sha, "type": "commit"}}),
                    problems,
                )
            }
            "pulls/create" => {
                let pair = (
                    body["head"].as_str().unwrap().to_string(),
                    body["base"].as_str().unwrap().to_string(),
                );
                if self.pulls.contains(&pair) {
                    return error(
                        422,
                        "Validation Failed: A pull request already exists for octo-org:head.",
                    );
                }
                self.pulls.push(pair);
                let number = self.pulls.len();
                answer(
                    operation,
                    201,
                    json!({"number": number,
                    "html_url": format!("https://github.com/octo-org/shop/pull/{number}")}),
                    problems,
                )
            }
            "pulls/list" => {
                let head = query["head"].trim_start_matches("octo-org:").to_string();
                let number = self
                    .pulls
                    .iter()
                    .position(|(h, _)| *h == head)
                    .map(|i| i + 1);
                let schema = &fixture()["operations"][operation]["responses"]["200"];
                let mut item = minimal(&schema["items"]);
                merge(
                    &mut item,
                    &json!({"number": number,
                    "html_url": format!("https://github.com/octo-org/shop/pull/{}", number.unwrap_or(0))}),
                );
                let list = json!([item]);
                problems.extend(violations(schema, &list));
                (200, list)
            }
            _ => unreachable!(),
        }
    }
}

struct StandIn {
    api_url: String,
    repository: Arc<Mutex<Repository>>,
}

impl StandIn {
    fn start(repository: Repository) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let api_url = format!("http://{}", listener.local_addr().unwrap());
        let repository = Arc::new(Mutex::new(repository));
        let shared = repository.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((method, path, body)) = read_request(&mut stream) else {
                    continue;
                };
                let (status, answer) = {
                    let mut repository = shared.lock().unwrap();
                    repository
                        .seen
                        .push((method.clone(), path.clone(), body.clone()));
                    repository.handle(&method, &path, &body)
                };
                let answer = answer.to_string();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        StandIn {
            api_url,
            repository,
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.api_url, TOKEN, "octo-org/shop").unwrap()
    }

    fn assert_conformant(&self) {
        let repository = self.repository.lock().unwrap();
        assert!(
            repository.problems.is_empty(),
            "schema violations: {:#?}",
            repository.problems
        );
    }

    fn requests(&self) -> Vec<String> {
        let repository = self.repository.lock().unwrap();
        repository
            .seen
            .iter()
            .map(|(method, path, _)| format!("{method} {}", path.split('?').next().unwrap()))
            .collect()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, String, Value)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some((method, path, body))
}

fn images() -> Vec<ServiceImage> {
    vec![
        ServiceImage {
            service: "backend".into(),
            version: Some("1.4.2".into()),
            reference: format!("ghcr.io/acme/backend:1.4.2@{DIGEST}"),
            entry: ImageEntry {
                name: "ghcr.io/acme/backend".into(),
                new_name: None,
                new_tag: Some("1.4.2".into()),
                digest: Some(DIGEST.into()),
            },
        },
        ServiceImage {
            service: "web".into(),
            version: None,
            reference: "ghcr.io/acme/web:sha-3370e22".into(),
            entry: ImageEntry {
                name: "ghcr.io/acme/web".into(),
                new_name: None,
                new_tag: Some("sha-3370e22".into()),
                digest: None,
            },
        },
    ]
}

const ABOUT: About = About {
    environment: Some("prod"),
    path: PATH,
    revision: "3370e228a1ce19322e91ac35af1ab07466440c37",
    run_url: Some("https://github.com/octo-org/shop/actions/runs/42"),
};

fn expected(text: &str) -> String {
    text.replace(
        "    newTag: 1.4.1\n",
        &format!("    newTag: 1.4.2\n    digest: {DIGEST}\n  - name: ghcr.io/acme/web\n    newTag: sha-3370e22\n"),
    )
}

#[tokio::test]
async fn a_moved_branch_is_read_again_and_the_edit_re_applied() {
    let mut repository = Repository::default();
    repository.commit("main", KUSTOMIZATION);
    // Someone commits a comment between shipgate's read and its write.
    let theirs = KUSTOMIZATION.replace("# production", "# production (owned by team shop)");
    repository.race = Some(theirs.clone());
    let stand_in = StandIn::start(repository);
    let images = images();
    let request = Request {
        path: PATH,
        target: Target::Branch("main".into()),
        images: &images,
        about: ABOUT,
    };
    let written = write_back(&stand_in.client(), &request).await.unwrap();
    let Outcome::Committed { branch, commit } = &written.outcome else {
        panic!("{written:?}");
    };
    assert_eq!(branch, "main");
    assert!(
        commit
            .html_url
            .starts_with("https://github.com/octo-org/shop/commit/")
    );
    assert!(
        written.diff.contains(&format!("+    digest: {DIGEST}\n")),
        "{}",
        written.diff
    );
    {
        let repository = stand_in.repository.lock().unwrap();
        assert_eq!(
            repository.branches["main"].1,
            expected(&theirs),
            "both changes kept"
        );
        let puts: Vec<&Value> = repository
            .seen
            .iter()
            .filter(|(method, _, _)| method == "PUT")
            .map(|(_, _, body)| body)
            .collect();
        assert_eq!(puts.len(), 2, "a 409, then the re-applied write");
        let message = puts[1]["message"].as_str().unwrap();
        assert!(
            message.starts_with("deploy(prod): backend 1.4.2, web sha-3370e22\n"),
            "{message}"
        );
        assert!(message.contains("Run: https://github.com/octo-org/shop/actions/runs/42"));
    }
    stand_in.assert_conformant();
    // A second run finds the file already right and commits nothing.
    let again = write_back(&stand_in.client(), &request).await.unwrap();
    assert_eq!(
        again.outcome,
        Outcome::UpToDate {
            branch: "main".into()
        }
    );
    assert_eq!(again.diff, "");
    stand_in.assert_conformant();
}

#[tokio::test]
async fn pull_request_mode_pushes_a_branch_and_opens_the_pull_request_once() {
    let mut repository = Repository::default();
    repository.commit("main", KUSTOMIZATION);
    let stand_in = StandIn::start(repository);
    let images = images();
    let request = Request {
        path: PATH,
        target: Target::PullRequest {
            base: "main".into(),
            head: "shipgate/prod/3370e22".into(),
        },
        images: &images,
        about: ABOUT,
    };
    let written = write_back(&stand_in.client(), &request).await.unwrap();
    let Outcome::PullRequest {
        branch,
        base,
        commit,
        pull_request,
    } = &written.outcome
    else {
        panic!("{written:?}");
    };
    assert_eq!(
        (branch.as_str(), base.as_str()),
        ("shipgate/prod/3370e22", "main")
    );
    assert!(commit.is_some());
    assert_eq!(
        pull_request,
        &PullRequest {
            number: 1,
            html_url: "https://github.com/octo-org/shop/pull/1".into()
        }
    );
    assert_eq!(
        stand_in.requests(),
        [
            "GET /repos/octo-org/shop/git/ref/heads/main",
            &format!("GET /repos/octo-org/shop/contents/{PATH}"),
            "POST /repos/octo-org/shop/git/refs",
            &format!("GET /repos/octo-org/shop/contents/{PATH}"),
            &format!("PUT /repos/octo-org/shop/contents/{PATH}"),
            "POST /repos/octo-org/shop/pulls",
        ]
    );
    {
        let repository = stand_in.repository.lock().unwrap();
        assert_eq!(
            repository.branches["main"].1, KUSTOMIZATION,
            "main untouched"
        );
        assert_eq!(
            repository.branches["shipgate/prod/3370e22"].1,
            expected(KUSTOMIZATION)
        );
        let pull = &repository.seen.last().unwrap().2;
        assert!(
            pull["body"].as_str().unwrap().contains("```diff\n"),
            "{pull}"
        );
    }
    // A re-run of the job: the branch and the pull request exist; both are found.
    let again = write_back(&stand_in.client(), &request).await.unwrap();
    let Outcome::PullRequest {
        commit,
        pull_request,
        ..
    } = &again.outcome
    else {
        panic!("{again:?}");
    };
    assert_eq!(commit, &None, "the branch already holds the edit");
    assert_eq!(pull_request.number, 1);
    stand_in.assert_conformant();
}

#[tokio::test]
async fn a_missing_file_and_a_refusal_are_errors_without_the_token() {
    let mut repository = Repository::default();
    repository.commit("main", KUSTOMIZATION);
    let stand_in = StandIn::start(repository);
    let images = images();
    let request = Request {
        path: "deploy/overlays/dev/kustomization.yaml",
        target: Target::Branch("main".into()),
        images: &images,
        about: ABOUT,
    };
    let error = write_back(&stand_in.client(), &request).await.unwrap_err();
    assert!(matches!(error, WriteError::Missing { .. }), "{error}");
    let broken = Request {
        target: Target::Branch("gone".into()),
        path: PATH,
        ..request
    };
    let error = write_back(&stand_in.client(), &broken).await.unwrap_err();
    assert!(
        error.to_string().contains("does not exist on gone"),
        "{error}"
    );
    assert!(!error.to_string().contains(TOKEN));
}

// ---------------------------------------------------------------------------------------------
// The real binary: a dry run shows the diff, a write needs the token, config check finds the file.

const CONFIG: &str = r#"version: 1
defaults:
  registry: registry.local/shop
  tags: ["{sha7}"]
  environment: prod
deploy:
  gitops:
    kustomization: deploy/overlays/{environment}
    branch: main
services:
  api:
    paths: ["services/api/**"]
    image: api
"#;

const OVERLAY: &str = "\
resources: [api.yaml]   # Argo CD applies this
images:
  - name: registry.local/shop/api
    newTag: 1.0.0 # first release
";

fn repository() -> crate::support::TestRepo {
    crate::support::TestRepo::new()
        .config(CONFIG)
        .file("services/api/main.go", "package main\n")
        .file("deploy/overlays/prod/kustomization.yaml", OVERLAY)
        .commit("init")
}

#[test]
fn a_dry_run_shows_the_diff_of_the_kustomization_and_writes_nothing() {
    let repo = repository();
    let run = crate::support::Shipgate::new(&repo)
        .actions()
        .args(["deploy", "--dry-run", "--services", "api"])
        .args(["--image", "api=registry.local/shop/api:2.0.0"])
        .run()
        .success();
    let gitops = run.output_json("gitops");
    assert_eq!(gitops["state"], "previewed");
    assert_eq!(
        gitops["kustomization"],
        "deploy/overlays/prod/kustomization.yaml"
    );
    let diff = gitops["diff"].as_str().unwrap();
    assert!(
        diff.contains("-    newTag: 1.0.0 # first release\n+    newTag: 2.0.0 # first release\n"),
        "{diff}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("deploy/overlays/prod/kustomization.yaml"))
            .unwrap(),
        OVERLAY
    );
}

#[test]
fn a_write_without_a_token_is_a_usage_error() {
    let repo = repository();
    crate::support::Shipgate::new(&repo)
        .args(["deploy", "--services", "api", "--github-token", ""])
        .args(["--image", "api=registry.local/shop/api:2.0.0"])
        .env("GITHUB_TOKEN", "")
        .env("SHIPGATE_GITHUB_TOKEN", "")
        .run()
        .code(2)
        .stderr_has("needs `github-token`");
}

#[test]
fn config_check_requires_the_kustomization_file() {
    let repo = repository();
    crate::support::Shipgate::new(&repo)
        .args(["config", "check"])
        .run()
        .success();
    std::fs::write(
        repo.path().join(".github/shipgate.yml"),
        CONFIG.replace(
            "deploy/overlays/{environment}",
            "deploy/overlay/{environment}",
        ),
    )
    .unwrap();
    crate::support::Shipgate::new(&repo)
        .args(["config", "check"])
        .run()
        .code(2)
        .stderr_has(
            "`deploy.gitops.kustomization`: `deploy/overlay/prod` is not a kustomization file",
        );
}

// ---------------------------------------------------------------------------------------------
// With a kubeconfig the write-back follows the GitOps controller into the cluster.

/// The config with a workload for `api` (what the write-back follows).
fn following_config() -> String {
    CONFIG.replace(
        "    image: api\n",
        "    image: api\n    deploy: { namespace: shop, name: api, timeout: 30s }\n",
    )
}

/// The test cluster with `api` rolled out at 1.0.0, the stand-in's `main` with the overlay,
/// and a simulated GitOps controller: once `main` carries `newTag: <tag>` it applies
/// `registry.local/shop/api:<tag>` to the Deployment (after `lag`), as Argo CD or Flux would.
struct Following {
    api: kube_test_api::KubeApi,
    stand_in: StandIn,
    repo: crate::support::TestRepo,
    kubeconfig: std::path::PathBuf,
}

/// The simulated controller's PATCH of the Deployment (plain HTTP/1.1, as a client would).
fn controller_patch(url: &str, body: &str) -> String {
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "PATCH /apis/apps/v1/namespaces/shop/deployments/api?fieldManager=argocd-controller HTTP/1.1\r\n\
         Host: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/strategic-merge-patch+json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        kube_test_api::KubeApi::ADMIN_TOKEN,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

impl Following {
    fn new(controller: Option<std::time::Duration>) -> Following {
        let api = kube_test_api::KubeApi::start();
        api.create_namespace("shop");
        api.create(
            kube_test_api::deployment("shop", "api")
                .image("api", "registry.local/shop/api:1.0.0")
                .replicas(2)
                .build(),
        );
        assert!(api.wait_rolled_out(
            "shop",
            "Deployment",
            "api",
            std::time::Duration::from_secs(20)
        ));
        let mut repository = Repository::default();
        repository.commit("main", OVERLAY);
        let stand_in = StandIn::start(repository);
        if let Some(lag) = controller {
            let repository = stand_in.repository.clone();
            let url = api.url();
            std::thread::spawn(move || {
                let tag = loop {
                    let text = repository.lock().unwrap().branches["main"].1.clone();
                    if let Some(line) = text.lines().find(|l| l.contains("newTag:"))
                        && !line.contains("1.0.0")
                    {
                        break line.split_whitespace().nth(1).unwrap().to_string();
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                };
                std::thread::sleep(lag);
                let body = json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "api", "image": format!("registry.local/shop/api:{tag}")}]}}}});
                let answer = controller_patch(&url, &body.to_string());
                assert!(
                    answer.starts_with("HTTP/1.1 200"),
                    "the controller's PATCH: {answer}"
                );
            });
        }
        let repo = crate::support::TestRepo::new()
            .config(&following_config())
            .file("services/api/main.go", "package main\n")
            .file("deploy/overlays/prod/kustomization.yaml", OVERLAY)
            .commit("init");
        let kubeconfig = repo.scratch().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            api.kubeconfig_yaml(kube_test_api::KubeApi::ADMIN_TOKEN, Some("shop")),
        )
        .unwrap();
        Following {
            api,
            stand_in,
            repo,
            kubeconfig,
        }
    }

    fn deploy(&self, tag: &str) -> crate::support::Shipgate {
        crate::support::Shipgate::new(&self.repo)
            .actions()
            .args(["deploy", "--services", "api", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--image", &format!("api=registry.local/shop/api:{tag}")])
            .args(["--github-token", TOKEN])
            .env("GITHUB_API_URL", &self.stand_in.api_url)
            .env("GITHUB_REPOSITORY", "octo-org/shop")
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
    }

    fn image(&self) -> String {
        self.api
            .get("/apis/apps/v1/namespaces/shop/deployments/api")
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[test]
fn with_a_kubeconfig_the_write_back_waits_for_the_controller_and_the_rollout() {
    let following = Following::new(Some(std::time::Duration::from_millis(1500)));
    let run = following.deploy("2.0.0").run().success();
    run.stderr_has(
        "waiting for the GitOps controller (Argo CD, Flux) to apply registry.local/shop/api:2.0.0 to Deployment/shop/api",
    );
    run.stderr_has("the GitOps controller applied the commit; watching the rollout");
    let api = &run.output_json("result")["services"]["api"];
    assert_eq!(api["status"], "succeeded", "{}", run.stderr);
    assert_eq!(following.image(), "registry.local/shop/api:2.0.0");
    assert!(
        following.api.wait_rolled_out(
            "shop",
            "Deployment",
            "api",
            std::time::Duration::from_secs(1)
        ),
        "shipgate returned after the rollout completed"
    );
    run.summary_has("Rollouts after the write-back");
    following.stand_in.assert_conformant();
}

#[test]
fn a_failed_rollout_after_the_write_back_fails_and_says_to_revert_the_commit() {
    let following = Following::new(Some(std::time::Duration::from_millis(200)));
    let run = following.deploy("missing").run().code(1);
    let api = &run.output_json("result")["services"]["api"];
    assert_eq!(api["status"], "failed", "{}", run.stderr);
    let reason = api["reason"].as_str().unwrap();
    assert!(
        reason.contains("rollout failed after the GitOps controller applied the commit")
            && reason.contains("nothing was rolled back: revert the commit"),
        "{reason}"
    );
    assert_eq!(
        following.image(),
        "registry.local/shop/api:missing",
        "nothing is rolled back: git decides"
    );
}

#[test]
fn a_controller_that_never_applies_the_commit_fails_within_the_deploy_timeout() {
    let following = Following::new(None);
    let started = std::time::Instant::now();
    let run = following
        .deploy("2.0.0")
        .args(["--deploy-timeout", "3s"])
        .run()
        .code(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let api = &run.output_json("result")["services"]["api"];
    let reason = api["reason"].as_str().unwrap();
    assert!(
        reason.contains("Deployment/shop/api did not carry registry.local/shop/api:2.0.0 within")
            && reason.contains("has not applied the commit"),
        "{reason}"
    );
    assert_eq!(following.image(), "registry.local/shop/api:1.0.0");
}
