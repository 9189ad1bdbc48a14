//! GitHub Deployments reporting against a local stand-in of the REST API on 127.0.0.1.
//!
//! The stand-in checks every request body against the request schema GitHub publishes for the
//! two endpoints (`tests/fixtures/github-openapi/deployments.json`, extracted from
//! `@octokit/openapi` by `extract.py` next to it), and every answer it gives against the
//! published response schema, so neither side of the conversation is made up. The validator is
//! stricter than GitHub in one way: a property the schema does not declare is a violation (GitHub
//! would ignore it silently, which hides a misspelt field).

use crate::support::openapi::{ANNOTATIONS, IMPLEMENTED, violations};
use serde_json::{Value, json};
use shipgate::github::deployments::{
    DeploymentHandle, DeploymentOutcome, DeploymentsClient, DeploymentsError, NewDeployment,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const TOKEN: &str = "ghs_S3cr3tT0kenThatMustNeverLeak0123456789";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const CREATE: &str = "repos/create-deployment";
const STATUS: &str = "repos/create-deployment-status";
const LIST: &str = "repos/list-deployments";
const LIST_STATUSES: &str = "repos/list-deployment-statuses";

// ---------------------------------------------------------------------------------------------
// The published schemas and a validator for the JSON Schema subset they use.

fn fixture() -> &'static Value {
    static FIXTURE: OnceLock<Value> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/github-openapi/deployments.json")).unwrap()
    })
}

fn request_schema(operation: &str) -> &'static Value {
    &fixture()["operations"][operation]["request"]
}

/// The published schema of `operation`'s answer with `status`; `None` when GitHub documents no
/// body for it (409) or does not list the status at all.
fn response_schema(operation: &str, status: u16) -> Option<&'static Value> {
    let schema = fixture()["operations"][operation]["responses"].get(status.to_string())?;
    (!schema.is_null()).then_some(schema)
}

// ---------------------------------------------------------------------------------------------
// The stand-in API.

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// An answer a test scripts instead of the stand-in's own.
pub(crate) struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Canned {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Canned {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// Given the request's index (from 0) and the request, a scripted answer or `None` for the
/// stand-in's own.
pub(crate) type Script = Box<dyn Fn(usize, &Seen) -> Option<Canned> + Send>;

pub(crate) struct StandIn {
    /// What to give the client as `GITHUB_API_URL`.
    pub(crate) api_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    violations: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    /// The API under `prefix` (`""` for api.github.com, `/api/v3` for GHES), for `octo-org/shop`.
    pub(crate) fn start(prefix: &'static str, script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let api_url = format!("http://{}{prefix}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let violations: Arc<Mutex<Vec<String>>> = Arc::default();
        let (seen_log, violation_log) = (seen.clone(), violations.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let index = {
                    let mut seen = seen_log.lock().unwrap();
                    seen.push(request.clone());
                    seen.len() - 1
                };
                let mut problems = Vec::new();
                let answer = answer(prefix, index, &request, &script, &mut problems);
                violation_log.lock().unwrap().extend(problems);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
                    answer.status,
                    answer.body.len()
                );
                for (name, value) in &answer.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(answer.body.as_bytes());
            }
        });
        StandIn {
            api_url,
            seen,
            violations,
        }
    }

    fn plain() -> Self {
        StandIn::start("", Box::new(|_, _| None))
    }

    fn client(&self) -> DeploymentsClient {
        DeploymentsClient::new(&self.api_url, TOKEN, "octo-org/shop")
            .unwrap()
            .with_retry_policy(3, Duration::from_millis(50))
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Asserts that every request and every answer matched GitHub's published schemas.
    pub(crate) fn assert_conformant(&self) {
        let violations = self.violations.lock().unwrap();
        assert!(violations.is_empty(), "schema violations: {violations:#?}");
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

/// The operation a request names (by method and path, its query aside), and the deployment id
/// for a status.
fn route(prefix: &str, method: &str, path: &str) -> Option<(&'static str, Option<u64>)> {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let rest = path
        .strip_prefix(prefix)?
        .strip_prefix("/repos/octo-org/shop/deployments")?;
    let get = method == "GET";
    if rest.is_empty() {
        return Some((if get { LIST } else { CREATE }, None));
    }
    let id = rest.strip_prefix('/')?.strip_suffix("/statuses")?;
    Some((
        if get { LIST_STATUSES } else { STATUS },
        Some(id.parse().ok()?),
    ))
}

fn answer(
    prefix: &str,
    index: usize,
    request: &Seen,
    script: &Script,
    problems: &mut Vec<String>,
) -> Canned {
    let routed = route(prefix, &request.method, &request.path)
        .filter(|_| matches!(request.method.as_str(), "POST" | "GET"));
    if let Some((operation, _)) = routed.filter(|_| request.method == "POST") {
        for violation in violations(request_schema(operation), &request.body) {
            problems.push(format!("request {index} ({operation}): {violation}"));
        }
    }
    let answer = match script(index, request) {
        Some(canned) => canned,
        None => match routed {
            None => not_found(),
            Some(_) if !problems.is_empty() => Canned::json(
                422,
                json!({"message": "Invalid request.", "documentation_url": DOCS,
                       "errors": [{"code": "invalid", "message": problems.join("; ")}]}),
            ),
            // Reads answer an empty history unless the test scripts one.
            Some((LIST | LIST_STATUSES, _)) => Canned::json(200, json!([])),
            Some((CREATE, _)) => Canned::json(201, deployment(1000 + index as u64, &request.body)),
            Some((_, id)) => Canned::json(
                201,
                deployment_status(id.unwrap(), 5000 + index as u64, &request.body),
            ),
        },
    };
    // Every JSON answer must be one GitHub could give: the operation's documented schema for
    // its status, else GitHub's generic error shape.
    if let Ok(body) = serde_json::from_str::<Value>(&answer.body) {
        let schema = routed
            .and_then(|(operation, _)| response_schema(operation, answer.status))
            .unwrap_or(&fixture()["schemas"]["basic-error"]);
        for violation in violations(schema, &body) {
            problems.push(format!("answer {index} ({}): {violation}", answer.status));
        }
    }
    answer
}

const DOCS: &str = "https://docs.github.com/rest/deployments/deployments";

fn not_found() -> Canned {
    Canned::json(
        404,
        json!({"message": "Not Found", "documentation_url": DOCS, "status": "404"}),
    )
}

fn user() -> Value {
    let api = "https://api.github.com/users/github-actions%5Bbot%5D";
    json!({
        "login": "github-actions[bot]", "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
        "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4", "gravatar_id": "",
        "url": api, "html_url": "https://github.com/apps/github-actions",
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"), "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": "Bot", "site_admin": false
    })
}

/// GitHub's answer to a deployment creation, echoing the request as GitHub does.
pub(crate) fn deployment(id: u64, request: &Value) -> Value {
    let repository = "https://api.github.com/repos/octo-org/shop";
    let environment = request["environment"].as_str().unwrap_or("production");
    json!({
        "url": format!("{repository}/deployments/{id}"), "id": id,
        "node_id": "DE_kwDOAbCdEf4AAAAA", "sha": SHA,
        "ref": request["ref"], "task": request["task"].as_str().unwrap_or("deploy"),
        "payload": request.get("payload").cloned().unwrap_or(json!({})),
        "original_environment": environment, "environment": environment,
        "description": request.get("description").cloned().unwrap_or(Value::Null),
        "creator": user(),
        "created_at": "2025-05-01T12:00:00Z", "updated_at": "2025-05-01T12:00:00Z",
        "statuses_url": format!("{repository}/deployments/{id}/statuses"),
        "repository_url": repository,
        "transient_environment": request["transient_environment"].as_bool().unwrap_or(false),
        "production_environment": request["production_environment"].as_bool().unwrap_or(environment == "production"),
        "performed_via_github_app": null
    })
}

/// GitHub's answer to a deployment status.
pub(crate) fn deployment_status(deployment: u64, id: u64, request: &Value) -> Value {
    let repository = "https://api.github.com/repos/octo-org/shop";
    let log_url = request["log_url"].as_str().unwrap_or("");
    json!({
        "url": format!("{repository}/deployments/{deployment}/statuses/{id}"), "id": id,
        "node_id": "DES_kwDOAbCdEf4AAAAB", "state": request["state"], "creator": user(),
        "description": request["description"].as_str().unwrap_or(""),
        "environment": "production",
        // GitHub answers "" for unset URLs, which is not a `uri`; the stand-in leaves them out.
        "target_url": if log_url.is_empty() { "https://github.com/octo-org/shop" } else { log_url },
        "created_at": "2025-05-01T12:00:01Z", "updated_at": "2025-05-01T12:00:01Z",
        "deployment_url": format!("{repository}/deployments/{deployment}"),
        "repository_url": repository,
        "log_url": if log_url.is_empty() { "https://github.com/octo-org/shop" } else { log_url },
        "performed_via_github_app": null
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers.

const RUN_URL: &str = "https://github.com/octo-org/shop/actions/runs/42";

fn new_deployment() -> NewDeployment {
    NewDeployment {
        git_ref: SHA.into(),
        environment: "staging".into(),
        description: "shipgate: auth, web".into(),
        payload: json!({"services": [
            {"name": "auth", "image": "ghcr.io/octo-org/auth@sha256:aaaa"},
            {"name": "web", "image": "ghcr.io/octo-org/web:0123456"}]}),
        log_url: Some(RUN_URL.into()),
        environment_url: Some("https://staging.shop.example".into()),
        ..NewDeployment::default()
    }
}

fn handle(id: u64) -> DeploymentHandle {
    DeploymentHandle {
        id,
        url: format!("https://api.github.com/repos/octo-org/shop/deployments/{id}"),
        environment: "staging".into(),
        log_url: Some(RUN_URL.into()),
        environment_url: Some("https://staging.shop.example".into()),
    }
}

/// The error's text and debug form, asserted free of the token.
fn shown(error: &DeploymentsError) -> String {
    let text = error.to_string();
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
    let debug = format!("{error:?}");
    assert!(!debug.contains(TOKEN), "the token leaked: {debug}");
    text
}

fn paths(seen: &[Seen]) -> Vec<&str> {
    seen.iter().map(|request| request.path.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn start_then_success_records_the_deployment() {
    let api = StandIn::plain();
    let client = api.client();
    let handle = client.start(&new_deployment()).await.unwrap();
    assert_eq!(handle.id, 1000);
    assert_eq!(
        handle.url,
        "https://api.github.com/repos/octo-org/shop/deployments/1000"
    );
    client
        .finish(&handle, DeploymentOutcome::Success, "deployed auth, web")
        .await
        .unwrap();
    api.assert_conformant();

    let seen = api.seen();
    assert_eq!(
        paths(&seen),
        [
            "/repos/octo-org/shop/deployments",
            "/repos/octo-org/shop/deployments/1000/statuses",
            "/repos/octo-org/shop/deployments/1000/statuses"
        ]
    );
    assert!(seen.iter().all(|request| request.method == "POST"));
    assert_eq!(
        seen[0].body,
        json!({
            "ref": SHA, "task": "deploy", "environment": "staging",
            "description": "shipgate: auth, web", "required_contexts": [], "auto_merge": false,
            "payload": new_deployment().payload
        }),
        "production_environment and transient_environment are left to GitHub"
    );
    assert_eq!(
        seen[1].body,
        json!({"state": "in_progress", "description": "shipgate: auth, web", "log_url": RUN_URL})
    );
    assert_eq!(
        seen[2].body,
        json!({"state": "success", "description": "deployed auth, web", "log_url": RUN_URL,
               "environment_url": "https://staging.shop.example"}),
        "auto_inactive is left to GitHub's default"
    );
    for request in &seen {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github+json")
        );
        assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(
            request
                .header("user-agent")
                .is_some_and(|agent| agent.starts_with("shipgate/"))
        );
    }
}

#[tokio::test]
async fn failure_and_error_send_no_environment_url() {
    let api = StandIn::plain();
    let client = api.client();
    let handle = client.start(&new_deployment()).await.unwrap();
    client
        .finish(
            &handle,
            DeploymentOutcome::Failure,
            "auth: rollout timed out",
        )
        .await
        .unwrap();
    client
        .finish(&handle, DeploymentOutcome::Error, "shipgate crashed")
        .await
        .unwrap();
    api.assert_conformant();
    let seen = api.seen();
    assert_eq!(
        seen[2].body,
        json!({"state": "failure", "description": "auth: rollout timed out", "log_url": RUN_URL})
    );
    assert_eq!(
        seen[3].body,
        json!({"state": "error", "description": "shipgate crashed", "log_url": RUN_URL})
    );
}

#[tokio::test]
async fn optional_fields_are_sent_only_when_asked() {
    let api = StandIn::plain();
    let client = api.client();
    let request = NewDeployment {
        git_ref: SHA.into(),
        environment: "production".into(),
        production_environment: Some(true),
        transient_environment: Some(false),
        payload: Value::Null,
        log_url: Some("  ".into()),
        ..NewDeployment::default()
    };
    let handle = client.start(&request).await.unwrap();
    assert_eq!(handle.log_url, None);
    client
        .finish(&handle, DeploymentOutcome::Success, "")
        .await
        .unwrap();
    api.assert_conformant();
    let seen = api.seen();
    assert_eq!(
        seen[0].body,
        json!({"ref": SHA, "task": "deploy", "environment": "production", "description": "",
               "required_contexts": [], "auto_merge": false,
               "production_environment": true, "transient_environment": false})
    );
    assert_eq!(seen[2].body, json!({"state": "success", "description": ""}));
}

#[tokio::test]
async fn descriptions_are_capped_at_140_characters() {
    let api = StandIn::plain();
    let client = api.client();
    let long = "déployé ".repeat(40);
    let request = NewDeployment {
        description: long.clone(),
        ..new_deployment()
    };
    let handle = client.start(&request).await.unwrap();
    client
        .finish(&handle, DeploymentOutcome::Success, &long)
        .await
        .unwrap();
    api.assert_conformant();
    for request in api.seen() {
        let description = request.body["description"].as_str().unwrap();
        assert!(description.chars().count() <= 140, "{description}");
        assert!(description.starts_with("déployé déployé"));
        assert!(description.ends_with('…'));
    }
}

#[tokio::test]
async fn ghes_keeps_the_api_v3_prefix() {
    for slash in ["", "/"] {
        let api = StandIn::start("/api/v3", Box::new(|_, _| None));
        let client =
            DeploymentsClient::new(&format!("{}{slash}", api.api_url), TOKEN, "octo-org/shop")
                .unwrap()
                .with_retry_policy(1, Duration::ZERO);
        let handle = client.start(&new_deployment()).await.unwrap();
        client
            .finish(&handle, DeploymentOutcome::Success, "done")
            .await
            .unwrap();
        api.assert_conformant();
        assert_eq!(
            paths(&api.seen()),
            [
                "/api/v3/repos/octo-org/shop/deployments",
                "/api/v3/repos/octo-org/shop/deployments/1000/statuses",
                "/api/v3/repos/octo-org/shop/deployments/1000/statuses"
            ]
        );
    }
}

#[tokio::test]
async fn a_502_is_retried() {
    let api = StandIn::start(
        "",
        Box::new(|index, _| {
            (index == 0).then(|| Canned {
                status: 502,
                headers: Vec::new(),
                body: "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
            })
        }),
    );
    let handle = api.client().start(&new_deployment()).await.unwrap();
    api.assert_conformant();
    assert_eq!(handle.id, 1001);
    assert_eq!(
        paths(&api.seen()),
        [
            "/repos/octo-org/shop/deployments",
            "/repos/octo-org/shop/deployments",
            "/repos/octo-org/shop/deployments/1001/statuses"
        ]
    );
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_the_attempts() {
    let api = StandIn::start(
        "",
        Box::new(|_, _| {
            Some(Canned::json(
                503,
                json!({"message": "Service Unavailable", "documentation_url": DOCS}),
            ))
        }),
    );
    let started = Instant::now();
    let error = api.client().start(&new_deployment()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    api.assert_conformant();
    assert_eq!(api.seen().len(), 3);
    assert_eq!(error.status(), Some(503));
    assert!(error.created_deployment().is_none());
    let text = shown(&error);
    assert!(
        text.contains("creating the GitHub deployment of 0123456 to `staging`"),
        "{text}"
    );
    assert!(text.contains("HTTP 503"), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
    assert!(text.contains("Service Unavailable"), "{text}");
}

#[tokio::test]
async fn a_secondary_rate_limit_with_retry_after_is_waited_out() {
    let api = StandIn::start(
        "",
        Box::new(|index, _| {
            (index == 0).then(|| {
                Canned::json(
                    403,
                    json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                           "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"}),
                )
                .header("retry-after", 1)
            })
        }),
    );
    let client = DeploymentsClient::new(&api.api_url, TOKEN, "octo-org/shop")
        .unwrap()
        .with_retry_policy(3, Duration::from_secs(5));
    let started = Instant::now();
    let handle = client.start(&new_deployment()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry-after was not honoured"
    );
    api.assert_conformant();
    assert_eq!(handle.id, 1001);
    assert_eq!(api.seen().len(), 3);
}

#[tokio::test]
async fn an_exhausted_rate_limit_waits_until_its_reset() {
    let api = StandIn::start(
        "",
        Box::new(|index, _| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            (index == 1).then(|| {
                Canned::json(
                    429,
                    json!({"message": "API rate limit exceeded", "documentation_url": DOCS}),
                )
                .header("x-ratelimit-remaining", 0)
                .header("x-ratelimit-reset", now)
            })
        }),
    );
    let handle = api.client().start(&new_deployment()).await.unwrap();
    api.assert_conformant();
    assert_eq!(
        paths(&api.seen()),
        [
            "/repos/octo-org/shop/deployments",
            "/repos/octo-org/shop/deployments/1000/statuses",
            "/repos/octo-org/shop/deployments/1000/statuses"
        ]
    );
    assert_eq!(handle.id, 1000);
}

#[tokio::test]
async fn a_wait_beyond_the_budget_gives_up_at_once() {
    let api = StandIn::start(
        "",
        Box::new(|_, _| {
            Some(
                Canned::json(
                    403,
                    json!({"message": "You have exceeded a secondary rate limit.",
                           "documentation_url": DOCS}),
                )
                .header("retry-after", 120),
            )
        }),
    );
    let client = DeploymentsClient::new(&api.api_url, TOKEN, "octo-org/shop")
        .unwrap()
        .with_retry_policy(3, Duration::from_secs(30));
    let started = Instant::now();
    let error = client.start(&new_deployment()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(api.seen().len(), 1);
    let text = shown(&error);
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("secondary rate limit"), "{text}");
    assert!(text.contains("wait 120 s"), "{text}");
    assert!(text.contains("GitHub rate-limited the requests"), "{text}");
}

#[tokio::test]
async fn a_422_is_final_and_carries_githubs_message() {
    let api = StandIn::start(
        "",
        Box::new(|index, _| {
            (index == 2).then(|| {
                Canned::json(
                    422,
                    json!({"message": "Validation Failed", "documentation_url": DOCS,
                           "errors": [{"resource": "DeploymentStatus", "code": "custom",
                                       "field": "environment_url",
                                       "message": "environment_url must use http(s) scheme"}]}),
                )
            })
        }),
    );
    let client = api.client();
    let handle = client.start(&new_deployment()).await.unwrap();
    let error = client
        .finish(&handle, DeploymentOutcome::Success, "done")
        .await
        .unwrap_err();
    api.assert_conformant();
    assert_eq!(api.seen().len(), 3, "a 422 is not retried");
    assert_eq!(error.status(), Some(422));
    let text = shown(&error);
    assert_eq!(
        text,
        "setting GitHub deployment 1000 (`staging`) to success failed: HTTP 422 from GitHub: Validation Failed: environment_url must use http(s) scheme"
    );
}

#[tokio::test]
async fn a_404_is_final_and_names_the_repository() {
    let api = StandIn::start("", Box::new(|_, _| Some(not_found())));
    let error = api.client().start(&new_deployment()).await.unwrap_err();
    api.assert_conformant();
    assert_eq!(api.seen().len(), 1, "a 404 is not retried");
    let text = shown(&error);
    assert!(text.contains("HTTP 404 from GitHub: Not Found"), "{text}");
    assert!(
        text.contains("octo-org/shop exists on http://127.0.0.1:"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_permission_says_which() {
    let api = StandIn::start(
        "",
        Box::new(|_, _| {
            Some(Canned::json(
                403,
                json!({"message": "Resource not accessible by integration", "documentation_url": DOCS,
                       "status": "403"}),
            ))
        }),
    );
    let error = api.client().start(&new_deployment()).await.unwrap_err();
    assert_eq!(api.seen().len(), 1, "a plain 403 is not retried");
    let text = shown(&error);
    assert!(
        text.contains("Resource not accessible by integration"),
        "{text}"
    );
    assert!(text.contains("permissions: deployments: write"), "{text}");
}

#[tokio::test]
async fn a_created_deployment_that_cannot_start_can_still_be_finished() {
    let api = StandIn::start(
        "",
        Box::new(|index, _| {
            (index == 1).then(|| Canned::json(500, json!({"message": "Server Error"})))
        }),
    );
    let client = DeploymentsClient::new(&api.api_url, TOKEN, "octo-org/shop")
        .unwrap()
        .with_retry_policy(1, Duration::ZERO);
    let error = client.start(&new_deployment()).await.unwrap_err();
    let text = shown(&error);
    assert!(
        text.starts_with("GitHub deployment 1000 to `staging` was created, but marking it in_progress failed: setting GitHub deployment 1000 (`staging`) to in_progress failed: HTTP 500"),
        "{text}"
    );
    let handle = error.created_deployment().unwrap();
    client
        .finish(handle, DeploymentOutcome::Failure, "deploy failed")
        .await
        .unwrap();
    api.assert_conformant();
    assert_eq!(api.seen()[2].body["state"], "failure");
}

#[tokio::test]
async fn a_merge_instead_of_a_deployment_is_an_error() {
    let api = StandIn::start(
        "",
        Box::new(|_, _| {
            Some(Canned::json(
                202,
                json!({"message": "Auto-merged main into topic on deployment."}),
            ))
        }),
    );
    let error = api.client().start(&new_deployment()).await.unwrap_err();
    api.assert_conformant();
    assert_eq!(api.seen().len(), 1);
    let text = shown(&error);
    assert!(text.contains("HTTP 202"), "{text}");
    assert!(text.contains("Auto-merged main into topic"), "{text}");
}

#[tokio::test]
async fn the_token_is_sent_but_never_shown() {
    // An answer that echoes the credentials back.
    let api = StandIn::start(
        "",
        Box::new(|_, request| {
            Some(Canned::json(
                401,
                json!({"message": format!("Bad credentials: {}", request.header("authorization").unwrap()),
                       "documentation_url": DOCS}),
            ))
        }),
    );
    let client = api.client();
    assert!(!format!("{client:?}").contains(TOKEN));
    let error = client.start(&new_deployment()).await.unwrap_err();
    assert_eq!(
        api.seen()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let text = shown(&error);
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(
        text.contains("Bad credentials: Bearer <redacted>"),
        "{text}"
    );
    assert!(text.contains("token was refused"), "{text}");
    let error = client
        .finish(&handle(7), DeploymentOutcome::Success, "done")
        .await
        .unwrap_err();
    shown(&error);

    // Nothing listens: the connection is refused (and retried) on every attempt.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v3", closed.local_addr().unwrap());
    drop(closed);
    let client = DeploymentsClient::new(&url, TOKEN, "octo-org/shop")
        .unwrap()
        .with_retry_policy(2, Duration::from_millis(20));
    let error = client.start(&new_deployment()).await.unwrap_err();
    let text = shown(&error);
    assert!(text.contains("cannot reach the GitHub API"), "{text}");
    assert!(text.contains("after 2 attempts"), "{text}");
    assert_eq!(error.status(), None);

    // Configuration errors.
    let with_token_in_url = format!("https://x-access-token:{TOKEN}@ghe.example.com/api/v3");
    for (api_url, token, repository) in [
        (with_token_in_url.as_str(), TOKEN, "octo-org/shop"),
        ("ghe.example.com", TOKEN, "octo-org/shop"),
        ("https://api.github.com", TOKEN, TOKEN),
        ("https://api.github.com", "", "octo-org/shop"),
        (
            "https://api.github.com",
            "bad\ntoken\u{7f}",
            "octo-org/shop",
        ),
    ] {
        let error = DeploymentsClient::new(api_url, token, repository).unwrap_err();
        shown(&error);
    }
}

#[test]
fn the_validator_catches_what_github_would_refuse() {
    let create = request_schema(CREATE);
    let status = request_schema(STATUS);
    assert!(violations(create, &json!({"ref": "main"})).is_empty());
    assert!(
        violations(
            create,
            &json!({"ref": "main", "payload": "{\"a\":1}", "description": null})
        )
        .is_empty()
    );
    let refused = [
        (create, json!({"task": "deploy"}), "missing required `ref`"),
        (
            create,
            json!({"ref": "main", "auto_merge": "false"}),
            "expected boolean",
        ),
        (
            create,
            json!({"ref": "main", "required_contexts": [1]}),
            "expected string",
        ),
        (create, json!({"ref": "main", "payload": [1]}), "oneOf"),
        (
            create,
            json!({"ref": "main", "autoMerge": false}),
            "not a property",
        ),
        (status, json!({"state": "done"}), "is not one of"),
        (
            status,
            json!({"state": "success", "logurl": "x"}),
            "not a property",
        ),
    ];
    for (schema, body, expected) in refused {
        let found = violations(schema, &body);
        assert!(
            found.iter().any(|violation| violation.contains(expected)),
            "{body}: {found:?}"
        );
    }
    let answer = response_schema(CREATE, 201).unwrap();
    let mut good = deployment(1, &json!({"ref": "main", "environment": "qa"}));
    assert!(violations(answer, &good).is_empty());
    good["created_at"] = json!("yesterday");
    good.as_object_mut().unwrap().remove("creator");
    let found = violations(answer, &good);
    assert!(found.iter().any(|v| v.contains("date-time")), "{found:?}");
    assert!(found.iter().any(|v| v.contains("`creator`")), "{found:?}");
    let status_answer = response_schema(STATUS, 201).unwrap();
    let long = deployment_status(
        1,
        2,
        &json!({"state": "success", "description": "x".repeat(141)}),
    );
    assert!(
        violations(status_answer, &long)
            .iter()
            .any(|v| v.contains("longer than 140"))
    );
}

#[test]
fn the_fixture_records_its_source() {
    let source = &fixture()["source"];
    assert_eq!(source["package"], "@octokit/openapi");
    assert!(source["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(source["file"], "generated/api.github.com.json");
    for operation in [CREATE, STATUS] {
        assert_eq!(fixture()["operations"][operation]["method"], "POST");
        assert!(response_schema(operation, 201).is_some());
    }
    for keyword in fixture()["keywords"].as_array().unwrap() {
        let keyword = keyword.as_str().unwrap();
        assert!(
            IMPLEMENTED.contains(&keyword) || ANNOTATIONS.contains(&keyword),
            "the fixture uses `{keyword}`, which the validator does not implement"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The read side (`--base-from github`).

/// One recorded deployment of a scripted history: id, commit, the services its payload lists,
/// its statuses' states newest first.
pub(crate) type Recorded = (u64, String, Vec<&'static str>, Vec<&'static str>);

/// A stand-in whose `environment` has `history` (newest first) as `deploy` records it; the
/// list and status reads are answered from it and checked against the published schemas.
pub(crate) fn with_history(environment: &'static str, history: Vec<Recorded>) -> StandIn {
    StandIn::start(
        "",
        Box::new(move |_, request| {
            let (operation, id) = route("", &request.method, &request.path)?;
            match operation {
                LIST if request
                    .path
                    .contains(&format!("environment={}&", environment.replace(' ', "%20"))) =>
                {
                    let list: Vec<Value> = history
                        .iter()
                        .map(|(id, sha, services, _)| {
                            let services: Vec<Value> = services
                                .iter()
                                .map(|s| json!({"service": s, "image": format!("registry.local/shop/{s}:1"), "workload": format!("shop/Deployment/{s}")}))
                                .collect();
                            let mut listed = deployment(
                                *id,
                                &json!({"ref": sha, "task": "deploy", "environment": environment,
                                        "payload": {"services": services}}),
                            );
                            listed["sha"] = json!(sha);
                            listed
                        })
                        .collect();
                    Some(Canned::json(200, Value::Array(list)))
                }
                LIST => Some(Canned::json(200, json!([]))),
                LIST_STATUSES => {
                    let id = id?;
                    let (_, _, _, states) = history.iter().find(|(d, ..)| *d == id)?;
                    let statuses: Vec<Value> = states
                        .iter()
                        .enumerate()
                        .map(|(n, state)| {
                            deployment_status(id, id * 10 + n as u64, &json!({"state": state}))
                        })
                        .collect();
                    Some(Canned::json(200, Value::Array(statuses)))
                }
                _ => None,
            }
        }),
    )
}

#[tokio::test]
async fn the_history_of_an_environment_is_read_newest_first_with_each_deployments_states() {
    let old = "1111111111111111111111111111111111111111".to_string();
    let new = "2222222222222222222222222222222222222222".to_string();
    let api = with_history(
        "eu west",
        vec![
            (
                12,
                new.clone(),
                vec!["auth"],
                vec!["failure", "in_progress"],
            ),
            (
                11,
                old.clone(),
                vec!["auth", "web"],
                vec!["inactive", "success"],
            ),
        ],
    );
    let client = DeploymentsClient::reader(&api.api_url, TOKEN, "octo-org/shop").unwrap();
    let listed = client.list("eu west", 100).await.unwrap();
    let summary: Vec<(u64, &str)> = listed.iter().map(|d| (d.id, d.sha.as_str())).collect();
    assert_eq!(summary, [(12, new.as_str()), (11, old.as_str())]);
    assert_eq!(listed[1].payload["services"][1]["service"], "web");
    assert_eq!(client.states(11).await.unwrap(), ["inactive", "success"]);
    assert_eq!(
        paths(&api.seen()),
        [
            "/repos/octo-org/shop/deployments?environment=eu%20west&task=deploy&per_page=100&page=1",
            "/repos/octo-org/shop/deployments/11/statuses?per_page=100",
        ]
    );
    assert!(api.seen().iter().all(|r| r.method == "GET"));
    api.assert_conformant();
    // Another environment has no history; a refused read says which permission it needs.
    assert!(client.list("staging", 100).await.unwrap().is_empty());
    let refused = StandIn::start(
        "",
        Box::new(|_, _| {
            Some(Canned::json(
                403,
                json!({"message": "Resource not accessible by integration", "documentation_url": DOCS, "status": "403"}),
            ))
        }),
    );
    let client = DeploymentsClient::reader(&refused.api_url, TOKEN, "octo-org/shop").unwrap();
    let error = shown(&client.list("production", 100).await.unwrap_err());
    assert!(error.contains("deployments: read"), "{error}");
}
