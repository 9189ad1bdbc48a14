//! GitHub Deployments reporting (`github-deployments: true`), and the read side `--base-from
//! github` uses (an environment's deployments and their statuses).
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
//! Requests go through the shared [`Client`](super::client::Client): timeouts, retries on 5xx
//! and rate limits within a budget, never a re-sent `POST` that may have reached GitHub, the token
//! only in the `Authorization` header and scrubbed from every error text.
//!
//! Reporting is advisory: every failure is a [`DeploymentsError`] for the caller to print as a
//! warning, never a reason to fail the deploy. The token is only ever put in the `Authorization`
//! header (marked sensitive); every error text is scrubbed of it, including GitHub's own
//! messages, and the client's `Debug` omits it.

use super::client::{Client, RetryPolicy};
use crate::context::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

pub use super::client::{API_VERSION, Error as DeploymentsError};

/// Attempts per request (the first one included) unless [`DeploymentsClient::with_retry_policy`]
/// says otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The most a request waits between its attempts, in all.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);
/// GitHub's limit for a deployment status description, in characters.
pub const DESCRIPTION_LIMIT: usize = 140;

/// Reports deployments to one repository's GitHub Deployments API.
#[derive(Debug)]
pub struct DeploymentsClient {
    client: Client,
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

impl DeploymentsClient {
    /// A client for `repository` (`owner/name`) on the API at `api_url` (`GITHUB_API_URL`).
    pub fn new(api_url: &str, token: &str, repository: &str) -> Result<Self, DeploymentsError> {
        let client = Client::new(api_url, token, repository)?
            .with_permission("deployments: write")
            .with_retry_policy(RetryPolicy {
                attempts: DEFAULT_ATTEMPTS,
                max_wait: DEFAULT_MAX_WAIT,
                ..RetryPolicy::default()
            });
        Ok(DeploymentsClient { client })
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
    pub fn with_retry_policy(self, attempts: u32, max_wait: Duration) -> Self {
        DeploymentsClient {
            client: self.client.with_retry_policy(RetryPolicy {
                attempts,
                max_wait,
                ..RetryPolicy::default()
            }),
        }
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
        let path = format!("/repos/{}/deployments", self.client.repository());
        let answer = self.client.post_json(&action, &path, &body).await?;
        if answer.status == reqwest::StatusCode::ACCEPTED {
            return Err(DeploymentsError::NotCreated {
                action,
                message: answer.message(),
            });
        }
        let created: CreatedDeployment =
            serde_json::from_str(&answer.body).map_err(|error| DeploymentsError::Response {
                action,
                status: answer.status.as_u16(),
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
        let path = format!(
            "/repos/{}/deployments/{}/statuses",
            self.client.repository(),
            handle.id
        );
        self.client
            .post_json(&action, &path, &body)
            .await
            .map(|_| ())
    }
}

/// How many of an environment's most recent deployments `--base-from github` reads at most
/// (one page of the list; one status request each, stopping once every service is found).
pub const MAX_RECORDED: usize = 100;

/// One deployment of an environment as GitHub lists it, with its statuses' states (newest
/// first, as GitHub lists them).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedDeployment {
    pub id: u64,
    /// The commit GitHub resolved the deployment's ref to.
    pub sha: String,
    /// The payload `deploy` wrote (`{"services": [{"service", "image", "workload"}]}`), an object
    /// or, for deployments others created, whatever they sent.
    pub payload: Value,
    pub created_at: String,
    /// `success`, `inactive`, `failure`… newest first; empty when it never got a status.
    pub states: Vec<String>,
}

#[derive(Deserialize)]
struct ListedDeployment {
    id: u64,
    sha: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    created_at: String,
}

#[derive(Deserialize)]
struct ListedStatus {
    state: String,
}

impl DeploymentsClient {
    /// A client that only reads (`deployments: read` in refusals), for `--base-from github`.
    pub fn reader(api_url: &str, token: &str, repository: &str) -> Result<Self, DeploymentsError> {
        let client = Client::new(api_url, token, repository)?
            .with_permission("deployments: read")
            .with_retry_policy(RetryPolicy {
                attempts: DEFAULT_ATTEMPTS,
                max_wait: DEFAULT_MAX_WAIT,
                ..RetryPolicy::default()
            });
        Ok(DeploymentsClient { client })
    }

    /// The `task: deploy` deployments of `environment`, newest first (at most `max`), without
    /// their statuses.
    pub async fn list(
        &self,
        environment: &str,
        max: usize,
    ) -> Result<Vec<RecordedDeployment>, DeploymentsError> {
        let action = format!("listing the GitHub deployments of `{environment}`");
        let path = format!(
            "/repos/{}/deployments?environment={}&task=deploy",
            self.client.repository(),
            query_value(environment)
        );
        let items = self
            .client
            .get_pages(&action, &path, max, |page| match page {
                Value::Array(items) => Some(items),
                _ => None,
            })
            .await?;
        items
            .into_iter()
            .take(max)
            .map(|item| {
                let listed: ListedDeployment =
                    serde_json::from_value(item).map_err(|error| DeploymentsError::Response {
                        action: action.clone(),
                        status: 200,
                        detail: format!("a deployment without `id` and `sha` ({error})"),
                    })?;
                Ok(RecordedDeployment {
                    id: listed.id,
                    sha: listed.sha,
                    payload: listed.payload,
                    created_at: listed.created_at,
                    states: Vec::new(),
                })
            })
            .collect()
    }

    /// The states of deployment `id`'s statuses, newest first (at most 100: the first page).
    pub async fn states(&self, id: u64) -> Result<Vec<String>, DeploymentsError> {
        let action = format!("reading the statuses of GitHub deployment {id}");
        let path = format!(
            "/repos/{}/deployments/{id}/statuses?per_page=100",
            self.client.repository()
        );
        let answer = self.client.get_json(&action, &path).await?;
        let statuses: Vec<ListedStatus> =
            serde_json::from_value(answer).map_err(|error| DeploymentsError::Response {
                action,
                status: 200,
                detail: format!("not a list of statuses with a `state` ({error})"),
            })?;
        Ok(statuses.into_iter().map(|s| s.state).collect())
    }
}

/// `text` percent-encoded for a query value (environments may hold spaces and slashes).
fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
    fn environments_are_encoded_in_queries() {
        assert_eq!(query_value("production"), "production");
        assert_eq!(query_value("eu west/1&x"), "eu%20west%2F1%26x");
        assert_eq!(query_value("é"), "%C3%A9");
    }

    #[test]
    fn payloads_are_objects_or_strings() {
        assert_eq!(payload(&Value::Null), None);
        assert_eq!(payload(&json!({"a": 1})), Some(json!({"a": 1})));
        assert_eq!(payload(&json!([1, 2])), Some(json!("[1,2]")));
    }
}
