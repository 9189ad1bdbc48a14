//! GitHub Deployments reporting (`github-deployments: true`).
//!
//! One deployment per environment, created for the commit SHA with `task: deploy`,
//! `required_contexts: []` (the run's own pending checks would otherwise make GitHub answer 409)
//! and `auto_merge: false` (the default would merge the default branch into the ref). It is then
//! marked `in_progress` and finally `success`, `failure` or `error` (shipgate itself broke). Every
//! status carries `log_url` (the run URL); `environment_url` is sent with `success` only, as
//! bobheadxi/deployments does: a failed deploy has nothing new to visit. `auto_inactive`,
//! `production_environment` and `transient_environment` are left to GitHub's defaults unless the
//! caller asks.
//!
//! The client speaks plain REST over reqwest, against `GITHUB_API_URL` (`https://api.github.com`,
//! or `https://HOST/api/v3` on GitHub Enterprise Server). Requests are retried on 5xx answers, on
//! rate limits (403/429 with `retry-after`, or `x-ratelimit-remaining: 0` and
//! `x-ratelimit-reset`) and when the connection could not be opened; at most
//! [`DEFAULT_ATTEMPTS`] attempts and [`DEFAULT_MAX_WAIT`] of waiting in all. When GitHub asks for a
//! longer wait than the budget left, the client gives up at once instead of hammering it. A
//! request that may have reached GitHub (a timeout mid-request) is not re-sent, so a deployment is
//! never created twice by a retry the client could have avoided.
//!
//! Reporting is advisory: every failure is a [`DeploymentsError`] for the caller to print as a
//! warning, never a reason to fail the deploy. The token is only ever put in the `Authorization`
//! header (marked sensitive); every error text is scrubbed of it, including GitHub's own
//! messages, and the client's `Debug` omits it.

use crate::context::Context;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Attempts per request (the first one included) unless [`DeploymentsClient::with_retry_policy`]
/// says otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The most a request waits between its attempts, in all.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);
/// GitHub's limit for a deployment status description, in characters.
pub const DESCRIPTION_LIMIT: usize = 140;
/// The REST API version the request and answer shapes are written against.
pub const API_VERSION: &str = "2022-11-28";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 3;
/// The first backoff after a 5xx or a refused connection; it doubles on each further attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// GitHub's advice for a secondary rate limit that names no wait: at least a minute.
const UNNAMED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// How much of a non-JSON error body goes into an error text.
const BODY_EXCERPT: usize = 200;

/// Reports deployments to one repository's GitHub Deployments API.
pub struct DeploymentsClient {
    http: reqwest::Client,
    /// `GITHUB_API_URL` without its trailing slash.
    api_url: String,
    /// `owner/name`.
    repository: String,
    /// `Bearer <token>`, marked sensitive.
    authorization: HeaderValue,
    /// Kept only to scrub it from error texts.
    token: String,
    attempts: u32,
    max_wait: Duration,
}

impl fmt::Debug for DeploymentsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeploymentsClient")
            .field("api_url", &self.api_url)
            .field("repository", &self.repository)
            .field("attempts", &self.attempts)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

/// What to record as a deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewDeployment {
    /// The commit SHA deployed (a branch or tag works too, but a SHA pins what ran).
    pub git_ref: String,
    pub environment: String,
    /// Capped at [`DESCRIPTION_LIMIT`] characters.
    pub description: String,
    /// The plan's services and images. An object or a string is sent as is, `null` is not sent,
    /// any other JSON value is sent as its JSON text (GitHub accepts an object or a string).
    pub payload: Value,
    /// The run URL, sent as `log_url` with every status.
    pub log_url: Option<String>,
    /// Sent as `environment_url` with the `success` status only.
    pub environment_url: Option<String>,
    /// `production_environment`; not sent when `None` (GitHub: true for `production` only).
    pub production_environment: Option<bool>,
    /// `transient_environment`; not sent when `None` (GitHub: false).
    pub transient_environment: Option<bool>,
}

/// A created deployment, to finish later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentHandle {
    pub id: u64,
    /// The deployment's API URL as GitHub returned it.
    pub url: String,
    pub environment: String,
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
}

/// How the deploy to an environment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentOutcome {
    /// Everything rolled out.
    Success,
    /// The deploy failed (a rollout timed out, a pod crashed, an apply was refused…).
    Failure,
    /// shipgate itself broke before it could tell.
    Error,
}

impl DeploymentOutcome {
    /// The deployment status `state` it becomes.
    pub fn state(self) -> &'static str {
        match self {
            DeploymentOutcome::Success => "success",
            DeploymentOutcome::Failure => "failure",
            DeploymentOutcome::Error => "error",
        }
    }
}

/// Why reporting to GitHub failed. Display: what failed, the HTTP status and GitHub's message;
/// never the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentsError {
    #[error("invalid GitHub API URL `{url}`: {reason}")]
    ApiUrl { url: String, reason: String },
    #[error("invalid GitHub repository `{repository}`: expected `owner/name`")]
    Repository { repository: String },
    #[error("no GitHub repository to report deployments to (GITHUB_REPOSITORY is not set)")]
    NoRepository,
    #[error(
        "the GitHub token is empty or holds characters an HTTP header cannot carry; give `github-token` a token with `deployments: write`"
    )]
    Token,
    #[error("cannot build the HTTP client for the GitHub API: {detail}")]
    Client { detail: String },
    #[error("{action} failed: cannot reach the GitHub API at {url}{}: {detail}", tries(*attempts))]
    Transport {
        action: String,
        url: String,
        attempts: u32,
        detail: String,
    },
    #[error("{action} failed: HTTP {status} from GitHub{}: {message}{}", tries(*attempts), hint_text(hint))]
    Status {
        action: String,
        status: u16,
        /// GitHub's `message` and `errors`, or an excerpt of a body that is not GitHub's JSON.
        message: String,
        hint: Option<String>,
        attempts: u32,
    },
    #[error("{action} failed: GitHub answered HTTP {status} with an unexpected body: {detail}")]
    Response {
        action: String,
        status: u16,
        detail: String,
    },
    #[error("{action}: GitHub created no deployment (HTTP 202): {message}")]
    NotCreated { action: String, message: String },
    #[error(
        "GitHub deployment {} to `{}` was created, but marking it in_progress failed: {error}",
        handle.id, handle.environment
    )]
    InProgress {
        handle: Box<DeploymentHandle>,
        error: Box<DeploymentsError>,
    },
}

fn tries(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

fn hint_text(hint: &Option<String>) -> String {
    hint.as_deref()
        .map(|hint| format!(" ({hint})"))
        .unwrap_or_default()
}

impl DeploymentsError {
    /// The HTTP status GitHub answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DeploymentsError::Status { status, .. } | DeploymentsError::Response { status, .. } => {
                Some(*status)
            }
            DeploymentsError::NotCreated { .. } => Some(202),
            DeploymentsError::InProgress { error, .. } => error.status(),
            _ => None,
        }
    }

    /// The deployment that exists on GitHub although the call failed (it was created but could
    /// not be marked `in_progress`): finish it anyway so it does not stay pending.
    pub fn created_deployment(&self) -> Option<&DeploymentHandle> {
        match self {
            DeploymentsError::InProgress { handle, .. } => Some(handle),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct CreateDeployment<'a> {
    #[serde(rename = "ref")]
    git_ref: &'a str,
    task: &'static str,
    environment: &'a str,
    description: String,
    required_contexts: &'static [&'static str],
    auto_merge: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    production_environment: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transient_environment: Option<bool>,
}

#[derive(Serialize)]
struct CreateStatus<'a> {
    state: &'static str,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment_url: Option<&'a str>,
}

#[derive(Deserialize)]
struct CreatedDeployment {
    id: u64,
    url: String,
}

/// What to do after a failed attempt.
enum Retry {
    /// Permanent: give up now.
    No,
    /// Transient: back off and try again.
    Backoff,
    /// GitHub named the wait (rate limit): wait that long or give up.
    After(Duration),
}

impl DeploymentsClient {
    /// A client for `repository` (`owner/name`) on the API at `api_url` (`GITHUB_API_URL`).
    pub fn new(api_url: &str, token: &str, repository: &str) -> Result<Self, DeploymentsError> {
        let token = token.trim();
        let scrub = |text: &str| scrub(text, token);
        let parsed = Url::parse(api_url.trim()).map_err(|error| DeploymentsError::ApiUrl {
            url: scrub(api_url),
            reason: error.to_string(),
        })?;
        let refuse = |reason: &str| DeploymentsError::ApiUrl {
            url: scrub(api_url),
            reason: reason.to_string(),
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(refuse("only http and https are supported"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(DeploymentsError::ApiUrl {
                url: format!(
                    "{}://…@{}",
                    parsed.scheme(),
                    parsed.host_str().unwrap_or("")
                ),
                reason: "credentials belong in the token, not in the URL".into(),
            });
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(refuse("a base URL takes no query or fragment"));
        }
        if !valid_repository(repository) {
            return Err(DeploymentsError::Repository {
                repository: scrub(repository),
            });
        }
        if token.is_empty() {
            return Err(DeploymentsError::Token);
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| DeploymentsError::Token)?;
        authorization.set_sensitive(true);
        // reqwest is built without a crypto provider; main installs ring, and so does this for
        // library users and tests (a second install is refused, harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(crate::http::redirect_policy(MAX_REDIRECTS))
            .build()
            .map_err(|error| DeploymentsError::Client {
                detail: scrub(&crate::http::error_chain(&error)),
            })?;
        Ok(DeploymentsClient {
            http,
            api_url: parsed.as_str().trim_end_matches('/').to_string(),
            repository: repository.to_string(),
            authorization,
            token: token.to_string(),
            attempts: DEFAULT_ATTEMPTS,
            max_wait: DEFAULT_MAX_WAIT,
        })
    }

    /// A client for the run's repository on the run's API (`GITHUB_API_URL`).
    pub fn from_context(context: &Context, token: &str) -> Result<Self, DeploymentsError> {
        let repository = context
            .repository
            .as_deref()
            .ok_or(DeploymentsError::NoRepository)?;
        DeploymentsClient::new(&context.api_url, token, repository)
    }

    /// At most `attempts` attempts per request (0 counts as 1) and `max_wait` of waiting between
    /// them in all.
    pub fn with_retry_policy(mut self, attempts: u32, max_wait: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.max_wait = max_wait;
        self
    }

    /// Creates the deployment and marks it `in_progress`. When the deployment was created but the
    /// status could not be set, the error is [`DeploymentsError::InProgress`], whose
    /// [`DeploymentsError::created_deployment`] is still worth finishing.
    pub async fn start(
        &self,
        request: &NewDeployment,
    ) -> Result<DeploymentHandle, DeploymentsError> {
        let handle = self.create(request).await?;
        match self
            .post_status(&handle, "in_progress", &request.description, None)
            .await
        {
            Ok(()) => Ok(handle),
            Err(error) => Err(DeploymentsError::InProgress {
                handle: Box::new(handle),
                error: Box::new(error),
            }),
        }
    }

    /// Sets the deployment's final status; `environment_url` goes with `success` only.
    pub async fn finish(
        &self,
        handle: &DeploymentHandle,
        outcome: DeploymentOutcome,
        description: &str,
    ) -> Result<(), DeploymentsError> {
        let environment_url = match outcome {
            DeploymentOutcome::Success => non_empty(&handle.environment_url),
            DeploymentOutcome::Failure | DeploymentOutcome::Error => None,
        };
        self.post_status(handle, outcome.state(), description, environment_url)
            .await
    }

    async fn create(&self, request: &NewDeployment) -> Result<DeploymentHandle, DeploymentsError> {
        let action = format!(
            "creating the GitHub deployment of {} to `{}`",
            short_ref(&request.git_ref),
            request.environment
        );
        let body = CreateDeployment {
            git_ref: &request.git_ref,
            task: "deploy",
            environment: &request.environment,
            description: cap_description(&request.description),
            required_contexts: &[],
            auto_merge: false,
            payload: payload(&request.payload),
            production_environment: request.production_environment,
            transient_environment: request.transient_environment,
        };
        let url = format!("{}/repos/{}/deployments", self.api_url, self.repository);
        let (status, text) = self.post(&action, &url, &body).await?;
        if status == StatusCode::ACCEPTED {
            return Err(DeploymentsError::NotCreated {
                action,
                message: self.scrub(&github_message(&text)),
            });
        }
        let created: CreatedDeployment =
            serde_json::from_str(&text).map_err(|error| DeploymentsError::Response {
                action,
                status: status.as_u16(),
                detail: format!("no deployment `id` and `url` in it ({error})"),
            })?;
        Ok(DeploymentHandle {
            id: created.id,
            url: created.url,
            environment: request.environment.clone(),
            log_url: non_empty(&request.log_url).map(str::to_string),
            environment_url: non_empty(&request.environment_url).map(str::to_string),
        })
    }

    async fn post_status(
        &self,
        handle: &DeploymentHandle,
        state: &'static str,
        description: &str,
        environment_url: Option<&str>,
    ) -> Result<(), DeploymentsError> {
        let action = format!(
            "setting GitHub deployment {} (`{}`) to {state}",
            handle.id, handle.environment
        );
        let body = CreateStatus {
            state,
            description: cap_description(description),
            log_url: non_empty(&handle.log_url),
            environment_url,
        };
        // Built from the configured base, never from a URL in GitHub's answer: the token only
        // goes where GITHUB_API_URL points.
        let url = format!(
            "{}/repos/{}/deployments/{}/statuses",
            self.api_url, self.repository, handle.id
        );
        self.post(&action, &url, &body).await.map(|_| ())
    }

    /// POSTs `body` with retries; a 2xx status and its body, or the error.
    async fn post(
        &self,
        action: &str,
        url: &str,
        body: &impl Serialize,
    ) -> Result<(StatusCode, String), DeploymentsError> {
        let body = serde_json::to_vec(body).map_err(|error| DeploymentsError::Client {
            detail: error.to_string(),
        })?;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, retry) = match self.send(url, &body).await {
                Err(error) => {
                    let retry = if error.is_connect() {
                        Retry::Backoff
                    } else {
                        Retry::No
                    };
                    let error = DeploymentsError::Transport {
                        action: action.to_string(),
                        url: url.to_string(),
                        attempts: attempt,
                        detail: self.scrub(&crate::http::error_chain(&error)),
                    };
                    (error, retry)
                }
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok((status, text));
                    }
                    let message = self.scrub(&github_message(&text));
                    let retry = classify(status, &headers, &message);
                    let rate_limited =
                        matches!(status.as_u16(), 403 | 429) && !matches!(retry, Retry::No);
                    let hint = self.hint(status, rate_limited, url);
                    let error = DeploymentsError::Status {
                        action: action.to_string(),
                        status: status.as_u16(),
                        message,
                        hint,
                        attempts: attempt,
                    };
                    (error, retry)
                }
            };
            let left = self.max_wait.saturating_sub(waited);
            let wait = match retry {
                Retry::No => return Err(error),
                _ if attempt >= self.attempts => return Err(error),
                Retry::Backoff => backoff(attempt).min(left),
                Retry::After(wait) if wait > left => {
                    return Err(with_hint(
                        error,
                        format!(
                            "GitHub asks to wait {} s before retrying, more than the {} s retry budget left",
                            wait.as_secs_f64().ceil(),
                            left.as_secs_f64().ceil()
                        ),
                    ));
                }
                Retry::After(wait) => wait,
            };
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    async fn send(&self, url: &str, body: &[u8]) -> Result<reqwest::Response, reqwest::Error> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.http
            .post(url)
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
    }

    /// What the operator can do about a refusal.
    fn hint(&self, status: StatusCode, rate_limited: bool, url: &str) -> Option<String> {
        if rate_limited {
            return Some("GitHub rate-limited the requests".into());
        }
        let hint = match status.as_u16() {
            401 => "the token was refused: expired, revoked or not a GitHub token".to_string(),
            403 => "the token needs `deployments: write`: add `permissions: deployments: write` to the job".to_string(),
            404 if url.ends_with("/statuses") => {
                "the deployment is gone, or the token cannot see it".to_string()
            }
            404 => format!(
                "check that {} exists on {} and that the token can see it",
                self.repository, self.api_url
            ),
            409 => "GitHub refused the ref: a required status check is not green, or it cannot be merged".to_string(),
            _ => return None,
        };
        Some(hint)
    }

    fn scrub(&self, text: &str) -> String {
        scrub(text, &self.token)
    }
}

fn with_hint(error: DeploymentsError, extra: String) -> DeploymentsError {
    match error {
        DeploymentsError::Status {
            action,
            status,
            message,
            hint,
            attempts,
        } => DeploymentsError::Status {
            action,
            status,
            message,
            hint: Some(match hint {
                Some(hint) => format!("{hint}; {extra}"),
                None => extra,
            }),
            attempts,
        },
        other => other,
    }
}

/// Whether and how to retry after `status`.
fn classify(status: StatusCode, headers: &HeaderMap, message: &str) -> Retry {
    let code = status.as_u16();
    if code == 403 || code == 429 {
        if let Some(seconds) = header_u64(headers, "retry-after") {
            return Retry::After(Duration::from_secs(seconds));
        }
        let exhausted = headers
            .get("x-ratelimit-remaining")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim() == "0");
        if exhausted && let Some(reset) = header_u64(headers, "x-ratelimit-reset") {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|now| now.as_secs())
                .unwrap_or(0);
            return Retry::After(Duration::from_secs(reset.saturating_sub(now)));
        }
        if is_rate_limit_message(message) {
            return Retry::After(UNNAMED_RATE_LIMIT_WAIT);
        }
        return if code == 429 {
            Retry::Backoff
        } else {
            Retry::No
        };
    }
    if status.is_server_error() {
        Retry::Backoff
    } else {
        Retry::No
    }
}

fn is_rate_limit_message(message: &str) -> bool {
    message.to_ascii_lowercase().contains("rate limit")
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// 1 s, 2 s, 4 s… after the first, second, third failed attempt.
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16))
}

/// GitHub's `message` with its `errors` details, or an excerpt of another body.
fn github_message(body: &str) -> String {
    let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(body) else {
        let excerpt: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
        return if excerpt.is_empty() {
            "no message (empty body)".into()
        } else if excerpt.chars().count() > BODY_EXCERPT {
            let cut: String = excerpt.chars().take(BODY_EXCERPT).collect();
            format!("a body that is not GitHub's JSON: {cut}…")
        } else {
            format!("a body that is not GitHub's JSON: {excerpt}")
        };
    };
    let mut message = answer
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_string();
    let details: Vec<String> = answer
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(error_detail).collect())
        .unwrap_or_default();
    if !details.is_empty() {
        message.push_str(": ");
        message.push_str(&details.join("; "));
    }
    message
}

fn error_detail(error: &Value) -> Option<String> {
    if let Some(text) = error.as_str() {
        return Some(text.to_string());
    }
    if let Some(text) = error.get("message").and_then(Value::as_str) {
        return Some(text.to_string());
    }
    let field = error.get("field").and_then(Value::as_str);
    let code = error.get("code").and_then(Value::as_str);
    match (field, code) {
        (Some(field), Some(code)) => Some(format!("`{field}` is {code}")),
        (None, Some(code)) => Some(code.to_string()),
        (Some(field), None) => Some(format!("`{field}` is invalid")),
        (None, None) => None,
    }
}

/// `text` trimmed and cut to [`DESCRIPTION_LIMIT`] characters (an ellipsis marks the cut).
pub fn cap_description(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= DESCRIPTION_LIMIT {
        return text.to_string();
    }
    let mut capped: String = text.chars().take(DESCRIPTION_LIMIT - 1).collect();
    capped.truncate(capped.trim_end().len());
    capped.push('…');
    capped
}

fn payload(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(_) | Value::String(_) => Some(value.clone()),
        other => Some(Value::String(other.to_string())),
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn short_ref(git_ref: &str) -> &str {
    let is_sha = git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit());
    if is_sha { &git_ref[..7] } else { git_ref }
}

/// `owner/name` with GitHub's characters only (so it needs no escaping in a path).
fn valid_repository(repository: &str) -> bool {
    let valid = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    matches!(repository.split_once('/'), Some((owner, name)) if valid(owner) && valid(name))
}

fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, "<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn descriptions_are_capped_on_a_char_boundary() {
        assert_eq!(cap_description("  short  "), "short");
        let long = "é".repeat(200);
        let capped = cap_description(&long);
        assert_eq!(capped.chars().count(), DESCRIPTION_LIMIT);
        assert!(capped.ends_with('…'));
        let exact = "x".repeat(DESCRIPTION_LIMIT);
        assert_eq!(cap_description(&exact), exact);
    }

    #[test]
    fn github_messages_carry_their_details() {
        let body = json!({"message": "Validation Failed", "errors": [
            {"resource": "DeploymentStatus", "code": "custom", "field": "environment_url",
             "message": "environment_url must use http(s) scheme"},
            {"resource": "Deployment", "code": "missing_field", "field": "ref"}],
            "documentation_url": "https://docs.github.com"});
        assert_eq!(
            github_message(&body.to_string()),
            "Validation Failed: environment_url must use http(s) scheme; `ref` is missing_field"
        );
        assert_eq!(
            github_message("<html>\n<b>502 Bad Gateway</b></html>"),
            "a body that is not GitHub's JSON: <html> <b>502 Bad Gateway</b></html>"
        );
        assert_eq!(github_message(""), "no message (empty body)");
    }

    #[test]
    fn rate_limits_are_told_apart_from_refusals() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            classify(
                StatusCode::FORBIDDEN,
                &headers,
                "Resource not accessible by integration"
            ),
            Retry::No
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &headers, "You have exceeded a secondary rate limit"),
            Retry::After(wait) if wait == UNNAMED_RATE_LIMIT_WAIT
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers, ""),
            Retry::Backoff
        ));
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &headers, ""),
            Retry::After(wait) if wait == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), ""),
            Retry::Backoff
        ));
        assert!(matches!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(), ""),
            Retry::No
        ));
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert!(backoff(u32::MAX) > Duration::ZERO);
    }

    #[test]
    fn repositories_are_owner_slash_name() {
        assert!(valid_repository("octo-org/my.repo_1"));
        for bad in [
            "", "octo", "/repo", "octo/", "a/b/c", "../x", "o/..", "o/r?x=1", "o/r x",
        ] {
            assert!(!valid_repository(bad), "{bad}");
        }
    }

    #[test]
    fn payloads_are_objects_or_strings() {
        assert_eq!(payload(&Value::Null), None);
        assert_eq!(payload(&json!({"a": 1})), Some(json!({"a": 1})));
        assert_eq!(payload(&json!([1, 2])), Some(json!("[1,2]")));
    }
}
