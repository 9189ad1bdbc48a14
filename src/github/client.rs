//! The one GitHub REST API client of shipgate: change detection's fallback (pull-request files,
//! compare), build workflows (dispatch, runs, annotations) and Deployments all go through it.
//!
//! It speaks plain REST over reqwest against `GITHUB_API_URL` (`https://api.github.com`, or
//! `https://HOST/api/v3` on GitHub Enterprise Server), with `User-Agent: shipgate/<version>`,
//! `Accept: application/vnd.github+json` and `X-GitHub-Api-Version`. Every request has a connect
//! timeout, a read timeout and an overall timeout; a whole operation (several pages, retries) can
//! be bounded further with [`Client::with_deadline`].
//!
//! Retries ([`RetryPolicy`]): on 5xx answers, on rate limits (403/429 with `retry-after`, or
//! `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, or a secondary-limit message), and on
//! transport errors when the request cannot have reached GitHub (the connection was refused) or
//! is a `GET`. A `POST` that may have reached GitHub (a timeout mid-request) is not re-sent, so a
//! deployment or a workflow run is never created twice by a retry. When GitHub asks for a longer
//! wait than the budget left, the client gives up at once instead of hammering it.
//!
//! The token is only ever put in the `Authorization` header (marked sensitive); every error text
//! is scrubbed of it, including GitHub's own messages, and `Debug` omits it. Answer bodies are
//! read up to [`BODY_LIMIT`] bytes.

use super::deployments::DeploymentHandle;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The REST API version the request and answer shapes are written against.
pub const API_VERSION: &str = "2022-11-28";
/// `User-Agent` of every request, as GitHub asks of API clients.
pub const USER_AGENT: &str = concat!("shipgate/", env!("CARGO_PKG_VERSION"));
/// The most of an answer's body that is read; GitHub's answers are far smaller.
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest silence while reading an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one request may take from connect to the last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 3;
/// GitHub's advice for a secondary rate limit that names no wait: at least a minute.
const UNNAMED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// How much of a non-JSON error body goes into an error text.
const BODY_EXCERPT: usize = 200;

/// How requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included (0 counts as 1).
    pub attempts: u32,
    /// The most a request waits between its attempts, in all.
    pub max_wait: Duration,
    /// The first backoff after a 5xx or a refused connection; it doubles on each further attempt.
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 30 s of waiting in all, backoff from 1 s.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            max_wait: Duration::from_secs(30),
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// A GitHub REST API client for one repository.
pub struct Client {
    http: reqwest::Client,
    /// `GITHUB_API_URL` without its trailing slash.
    api_url: String,
    /// `owner/name`.
    repository: String,
    /// `Bearer <token>`, marked sensitive.
    authorization: HeaderValue,
    /// Kept only to scrub it from error texts.
    token: String,
    retry: RetryPolicy,
    /// No request starts, and none goes on, after this instant.
    deadline: Option<Instant>,
    /// The job permission this client's calls need (`deployments: write`), for the 403 hint.
    permission: Option<&'static str>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("github::Client")
            .field("api_url", &self.api_url)
            .field("repository", &self.repository)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The method of a request, with the JSON body of a `POST` or a `PUT`.
#[derive(Debug, Clone, Copy)]
pub enum Method<'a> {
    Get,
    Post(Option<&'a Value>),
    /// A `PUT` (a file's contents); like a `POST`, never re-sent once it may have reached GitHub.
    Put(Option<&'a Value>),
}

/// One answer of the API, whatever its status.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// GitHub's `message` with its `errors` details, or an excerpt of another body.
    pub fn message(&self) -> String {
        github_message(&self.body)
    }
}

/// Why a GitHub API call failed. Display: what failed, the HTTP status and GitHub's message;
/// never the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
        error: Box<Error>,
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

impl Error {
    /// The HTTP status GitHub answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } | Error::Response { status, .. } => Some(*status),
            Error::NotCreated { .. } => Some(202),
            Error::InProgress { error, .. } => error.status(),
            _ => None,
        }
    }

    /// The deployment that exists on GitHub although the call failed (it was created but could
    /// not be marked `in_progress`): finish it anyway so it does not stay pending.
    pub fn created_deployment(&self) -> Option<&DeploymentHandle> {
        match self {
            Error::InProgress { handle, .. } => Some(handle),
            _ => None,
        }
    }
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

impl Client {
    /// A client for `repository` (`owner/name`) on the API at `api_url` (`GITHUB_API_URL`).
    pub fn new(api_url: &str, token: &str, repository: &str) -> Result<Self, Error> {
        let token = token.trim();
        let scrub = |text: &str| scrub(text, token);
        let parsed = Url::parse(api_url.trim()).map_err(|error| Error::ApiUrl {
            url: scrub(api_url),
            reason: error.to_string(),
        })?;
        let refuse = |reason: &str| Error::ApiUrl {
            url: scrub(api_url),
            reason: reason.to_string(),
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(refuse("only http and https are supported"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::ApiUrl {
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
            return Err(Error::Repository {
                repository: scrub(repository),
            });
        }
        if token.is_empty() {
            return Err(Error::Token);
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Error::Token)?;
        authorization.set_sensitive(true);
        // reqwest is built without a crypto provider; main installs ring, and so does this for
        // library users and tests (a second install is refused, harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(REQUEST_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(crate::http::redirect_policy(MAX_REDIRECTS))
            .build()
            .map_err(|error| Error::Client {
                detail: scrub(&crate::http::error_chain(&error)),
            })?;
        Ok(Client {
            http,
            api_url: parsed.as_str().trim_end_matches('/').to_string(),
            repository: repository.to_string(),
            authorization,
            token: token.to_string(),
            retry: RetryPolicy::default(),
            deadline: None,
            permission: None,
        })
    }

    /// Retries by `policy` instead of [`RetryPolicy::default`].
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            attempts: policy.attempts.max(1),
            ..policy
        };
        self
    }

    /// Bounds everything this client does, retries and waits included, to `overall` from now.
    pub fn with_deadline(mut self, overall: Duration) -> Self {
        self.deadline = Instant::now().checked_add(overall);
        self
    }

    /// Names the job permission the calls need (`deployments: write`) in refusals.
    pub fn with_permission(mut self, permission: &'static str) -> Self {
        self.permission = Some(permission);
        self
    }

    /// `owner/name`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `GITHUB_API_URL` without its trailing slash.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// `GET` a path below the API URL (`/repos/…`); a 2xx answer's JSON, else the error.
    pub async fn get_json(&self, action: &str, path: &str) -> Result<Value, Error> {
        let answer = self.request(action, Method::Get, path).await?;
        serde_json::from_str(&answer.body).map_err(|error| Error::Response {
            action: action.to_string(),
            status: answer.status.as_u16(),
            detail: format!("the body is not JSON ({error})"),
        })
    }

    /// `POST`s `body` as JSON; a 2xx answer, else the error.
    pub async fn post_json(
        &self,
        action: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer, Error> {
        let body = serde_json::to_value(body).map_err(|error| Error::Client {
            detail: error.to_string(),
        })?;
        self.request(action, Method::Post(Some(&body)), path).await
    }

    /// Every item of a paginated list (`per_page=100&page=N`, `path` has its own query or none),
    /// reading at most `max_items`; `items` picks the list out of one page's JSON.
    pub async fn get_pages(
        &self,
        action: &str,
        path: &str,
        max_items: usize,
        items: impl Fn(Value) -> Option<Vec<Value>>,
    ) -> Result<Vec<Value>, Error> {
        const PER_PAGE: usize = 100;
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut all = Vec::new();
        for page in 1..=max_items.div_ceil(PER_PAGE).max(1) {
            let route = format!("{path}{separator}per_page={PER_PAGE}&page={page}");
            let answer = self.get_json(action, &route).await?;
            let batch = items(answer).ok_or_else(|| Error::Response {
                action: action.to_string(),
                status: 200,
                detail: "a page without the expected list".into(),
            })?;
            let done = batch.len() < PER_PAGE;
            all.extend(batch);
            if done {
                break;
            }
        }
        Ok(all)
    }

    /// One request with retries; a 2xx answer, else [`Error::Status`].
    pub async fn request(
        &self,
        action: &str,
        method: Method<'_>,
        path: &str,
    ) -> Result<Answer, Error> {
        let (answer, attempts) = self.exchange(action, method, path).await?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        Err(self.refused(action, path, &answer, attempts))
    }

    /// The [`Error::Status`] of a refused `answer` to `path` (for callers of [`Client::exchange`]
    /// that handle some refusals themselves), with the operator's hint.
    pub fn refused(&self, action: &str, path: &str, answer: &Answer, attempts: u32) -> Error {
        let url = self.url(path);
        let message = self.scrub(&answer.message());
        let rate_limited = matches!(answer.status.as_u16(), 403 | 429)
            && !matches!(
                classify(answer.status, &answer.headers, &message),
                Retry::No
            );
        Error::Status {
            action: action.to_string(),
            status: answer.status.as_u16(),
            hint: self.hint(answer.status, rate_limited, &url),
            message,
            attempts,
        }
    }

    /// One request with retries; the last answer whatever its status (for callers that read
    /// refusals, like a dispatch to an older server), with the number of attempts made.
    pub async fn exchange(
        &self,
        action: &str,
        method: Method<'_>,
        path: &str,
    ) -> Result<(Answer, u32), Error> {
        let url = self.url(path);
        let body = match method {
            Method::Post(Some(body)) | Method::Put(Some(body)) => {
                Some(serde_json::to_vec(body).map_err(|error| Error::Client {
                    detail: error.to_string(),
                })?)
            }
            _ => None,
        };
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (outcome, retry) = match self.send(method, &url, body.as_deref()).await {
                Err(error) => {
                    let resendable = error.connect || matches!(method, Method::Get);
                    let retry = if resendable {
                        Retry::Backoff
                    } else {
                        Retry::No
                    };
                    let error = Error::Transport {
                        action: action.to_string(),
                        url: url.clone(),
                        attempts: attempt,
                        detail: self.scrub(&error.text),
                    };
                    (Err(error), retry)
                }
                Ok(answer) => {
                    if answer.status.is_success() {
                        return Ok((answer, attempt));
                    }
                    let retry = classify(answer.status, &answer.headers, &answer.message());
                    (Ok(answer), retry)
                }
            };
            let left = self
                .retry
                .max_wait
                .saturating_sub(waited)
                .min(self.time_left());
            let wait = match retry {
                Retry::No => return outcome.map(|answer| (answer, attempt)),
                _ if attempt >= self.retry.attempts => {
                    return outcome.map(|answer| (answer, attempt));
                }
                Retry::Backoff => backoff(self.retry.first_backoff, attempt).min(left),
                Retry::After(wait) if wait > left => {
                    let answer = outcome?;
                    return Err(Error::Status {
                        action: action.to_string(),
                        status: answer.status.as_u16(),
                        message: self.scrub(&answer.message()),
                        hint: Some(format!(
                            "GitHub rate-limited the requests; it asks to wait {} s before retrying, more than the {} s retry budget left",
                            wait.as_secs_f64().ceil(),
                            left.as_secs_f64().ceil()
                        )),
                        attempts: attempt,
                    });
                }
                Retry::After(wait) => wait,
            };
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    fn url(&self, path: &str) -> String {
        // Built from the configured base, never from a URL in GitHub's answer: the token only
        // goes where GITHUB_API_URL points.
        format!("{}/{}", self.api_url, path.trim_start_matches('/'))
    }

    fn time_left(&self) -> Duration {
        self.deadline.map_or(Duration::MAX, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        })
    }

    async fn send(
        &self,
        method: Method<'_>,
        url: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer, SendError> {
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
        let request = match method {
            Method::Get => self.http.get(url),
            Method::Post(_) => {
                headers.insert(
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                self.http.post(url).body(body.unwrap_or_default().to_vec())
            }
            Method::Put(_) => {
                headers.insert(
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                self.http.put(url).body(body.unwrap_or_default().to_vec())
            }
        };
        let exchange = async {
            let mut response = request
                .headers(headers)
                .send()
                .await
                .map_err(|error| SendError::from_reqwest(&error))?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| SendError::from_reqwest(&error))?
            {
                if bytes.len() + chunk.len() > BODY_LIMIT {
                    return Err(SendError {
                        text: format!("the answer is larger than {BODY_LIMIT} bytes"),
                        connect: false,
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Answer {
                status,
                headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        match tokio::time::timeout(self.time_left(), exchange).await {
            Ok(result) => result,
            Err(_) => Err(SendError {
                text: "no answer within the time this step allows the GitHub API".into(),
                connect: false,
            }),
        }
    }

    /// What the operator can do about a refusal.
    fn hint(&self, status: StatusCode, rate_limited: bool, url: &str) -> Option<String> {
        if rate_limited {
            return Some("GitHub rate-limited the requests".into());
        }
        let hint = match status.as_u16() {
            401 => "the token was refused: expired, revoked or not a GitHub token".to_string(),
            403 => match self.permission {
                Some(permission) => format!(
                    "the token needs `{permission}`: add `permissions: {permission}` to the job"
                ),
                None => "the token lacks a permission this needs (see the job's `permissions:`)"
                    .to_string(),
            },
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

/// A transport failure, and whether it happened before the request could leave.
struct SendError {
    text: String,
    connect: bool,
}

impl SendError {
    fn from_reqwest(error: &reqwest::Error) -> Self {
        SendError {
            text: crate::http::error_chain(error),
            connect: error.is_connect(),
        }
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

/// `first`, then twice as long after each further failed attempt (1 s, 2 s, 4 s…).
fn backoff(first: Duration, attempt: u32) -> Duration {
    first.saturating_mul(1 << attempt.saturating_sub(1).min(16))
}

/// GitHub's `message` with its `errors` details, or an excerpt of another body.
pub fn github_message(body: &str) -> String {
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

/// `owner/name` with GitHub's characters only (so it needs no escaping in a path).
pub fn valid_repository(repository: &str) -> bool {
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
        let mut exhausted = HeaderMap::new();
        exhausted.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        exhausted.insert("x-ratelimit-reset", HeaderValue::from_static("1"));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &exhausted, ""),
            Retry::After(wait) if wait == Duration::ZERO
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
        let second = Duration::from_secs(1);
        assert_eq!(backoff(second, 1), Duration::from_secs(1));
        assert_eq!(backoff(second, 3), Duration::from_secs(4));
        assert!(backoff(second, u32::MAX) > Duration::ZERO);
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
    fn the_user_agent_names_shipgate_and_its_version() {
        assert_eq!(
            USER_AGENT,
            format!("shipgate/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
