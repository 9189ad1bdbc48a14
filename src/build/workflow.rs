//! The `workflow` builder: a `workflow_dispatch` of a build workflow in the same repository,
//! followed until its run concludes.
//!
//! The dispatched workflow receives four string inputs and must declare them:
//!
//! ```yaml
//! on:
//!   workflow_dispatch:
//!     inputs:
//!       service: { type: string, required: true }
//!       tags: { type: string, required: true }     # newline list of image:tag refs
//!       labels: { type: string, required: false }  # newline list of key=value
//!       correlation-id: { type: string, required: true }
//! run-name: build ${{ inputs.service }} [${{ inputs.correlation-id }}]
//! ```
//!
//! Finding the run: shipgate asks for the run's id in the dispatch answer
//! (`return_run_details: true`, GitHub since February 2026). Where the server does not give it (a
//! 204 answer, or a GitHub Enterprise Server that refuses the parameter), it lists the workflow's
//! `workflow_dispatch` runs created since the dispatch and takes the one whose title carries the
//! correlation id, which is why the called workflow **must** put `${{ inputs.correlation-id }}`
//! in its `run-name` (the REST API does not return a run's inputs).
//!
//! The run is polled until it completes or the timeout passes (then, like on `fail-fast`
//! cancellation, it is cancelled); its conclusion decides the build. A digest is taken when the
//! workflow reports one as an annotation titled `shipgate-digest`:
//! `echo "::notice title=shipgate-digest::${{ steps.build.outputs.digest }}"`.
//!
//! Every API call goes through the shared GitHub client ([`crate::github::Client`]): retried with
//! exponential backoff on 5xx answers and on transport errors that cannot have reached GitHub,
//! and after the advertised wait on rate limits; [`retry_policy`] gives builds a longer budget.

use super::process::Cancel;
use crate::github::{Client, Method, RetryPolicy};
use crate::plan::PlannedService;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The annotation title a build workflow reports its digest under.
pub const DIGEST_ANNOTATION: &str = "shipgate-digest";

/// Builds wait for rate limits longer than other calls: a dispatched build is worth a pause.
/// `first_backoff` follows the poll interval (short in tests).
pub fn retry_policy(first_backoff: Duration) -> RetryPolicy {
    RetryPolicy {
        attempts: 6,
        max_wait: Duration::from_secs(15 * 60),
        first_backoff,
    }
}

/// The dispatch of one service's build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The workflow file name (`build.yml`) or id.
    pub workflow: String,
    /// The branch or tag the workflow runs on.
    pub git_ref: String,
    pub inputs: BTreeMap<String, String>,
    pub correlation_id: String,
}

impl Request {
    /// The inputs for `service`: `service`, `tags` (its refs), `labels`, `correlation-id`.
    pub fn new(
        service: &PlannedService,
        workflow: &str,
        git_ref: &str,
        correlation_id: &str,
    ) -> Self {
        let labels: Vec<String> = service
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let inputs = BTreeMap::from([
            ("service".to_string(), service.name.clone()),
            ("tags".to_string(), service.refs.join("\n")),
            ("labels".to_string(), labels.join("\n")),
            ("correlation-id".to_string(), correlation_id.to_string()),
        ]);
        Request {
            workflow: workflow
                .trim_start_matches(".github/workflows/")
                .to_string(),
            git_ref: git_ref.to_string(),
            inputs,
            correlation_id: correlation_id.to_string(),
        }
    }

    /// The dispatch body; `run_details` asks for the run's id in the answer.
    pub fn body(&self, run_details: bool) -> Value {
        let mut body = json!({ "ref": self.git_ref, "inputs": self.inputs });
        if run_details {
            body["return_run_details"] = json!(true);
        }
        body
    }
}

/// A fresh correlation id: the service and 64 random bits.
pub fn correlation_id(service: &str) -> String {
    let token = crate::runner::output::random_delimiter();
    let random = token.trim_start_matches("ghadelimiter_");
    format!("shipgate-{service}-{}", &random[..16.min(random.len())])
}

/// The run among a "list workflow runs" answer whose title carries `correlation_id`.
pub fn find_run(answer: &Value, correlation_id: &str) -> Option<u64> {
    answer["workflow_runs"]
        .as_array()?
        .iter()
        .find(|run| {
            ["display_title", "name"].iter().any(|key| {
                run[*key]
                    .as_str()
                    .is_some_and(|t| t.contains(correlation_id))
            })
        })
        .and_then(|run| run["id"].as_u64())
}

/// The calls a workflow build makes, on the shared GitHub client.
pub struct GitHub {
    client: Client,
    repository: String,
}

/// One API answer.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// GitHub's `message`, else the start of the body.
    fn message(&self) -> String {
        crate::github::client::github_message(&self.body)
    }
}

impl GitHub {
    /// A client for `api_url` (GITHUB_API_URL) acting on `repository` (`owner/name`).
    pub fn new(
        api_url: &str,
        token: &str,
        repository: &str,
        retry: RetryPolicy,
    ) -> Result<Self, String> {
        let client = Client::new(api_url, token, repository)
            .map_err(|e| e.to_string())?
            .with_permission("actions: write")
            .with_retry_policy(retry);
        Ok(GitHub {
            client,
            repository: repository.to_string(),
        })
    }

    /// One call with the client's retries; the final answer whatever its status.
    async fn call(&self, method: Method<'_>, route: &str) -> Result<Answer, String> {
        let (answer, _) = self
            .client
            .exchange(&format!("GitHub API: {route}"), method, route)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status: answer.status.as_u16(),
            body: answer.body,
        })
    }

    /// Dispatches the workflow; the run's id when the server returned it.
    async fn dispatch(&self, request: &Request) -> Result<Option<u64>, String> {
        let route = format!(
            "/repos/{}/actions/workflows/{}/dispatches",
            self.repository, request.workflow
        );
        let mut answer = self
            .call(Method::Post(Some(&request.body(true))), &route)
            .await?;
        if matches!(answer.status, 400 | 422) && answer.body.contains("return_run_details") {
            // A server that predates run details: dispatch again without asking for them.
            answer = self
                .call(Method::Post(Some(&request.body(false))), &route)
                .await?;
        }
        match answer.status {
            200 => Ok(answer.json()["workflow_run_id"].as_u64()),
            204 => Ok(None),
            404 => Err(format!(
                "workflow `{}` was not found in {} ({}); check `build.workflow` and that the token may dispatch workflows (actions: write)",
                request.workflow,
                self.repository,
                answer.message()
            )),
            422 => Err(format!(
                "GitHub refused to dispatch `{}` on {}: {}; the workflow must have `on: workflow_dispatch` with the inputs service, tags, labels and correlation-id",
                request.workflow,
                request.git_ref,
                answer.message()
            )),
            status => Err(format!(
                "dispatching `{}` failed: {} ({status})",
                request.workflow,
                answer.message()
            )),
        }
    }

    /// Lists the workflow's dispatch runs created since `since` and picks ours.
    async fn search_run(&self, request: &Request, since: i64) -> Result<Option<u64>, String> {
        let created = crate::plan::time::format(since, "%Y-%m-%dT%H:%M:%SZ").unwrap_or_default();
        let route = format!(
            "/repos/{}/actions/workflows/{}/runs?event=workflow_dispatch&created=%3E%3D{created}&per_page=100",
            self.repository, request.workflow
        );
        let answer = self.call(Method::Get, &route).await?;
        if answer.status != 200 {
            return Err(format!(
                "listing the runs of `{}` failed: {} ({})",
                request.workflow,
                answer.message(),
                answer.status
            ));
        }
        Ok(find_run(&answer.json(), &request.correlation_id))
    }

    async fn get_run(&self, run_id: u64) -> Result<Value, String> {
        let route = format!("/repos/{}/actions/runs/{run_id}", self.repository);
        let answer = self.call(Method::Get, &route).await?;
        if answer.status != 200 {
            return Err(format!(
                "reading workflow run {run_id} failed: {} ({})",
                answer.message(),
                answer.status
            ));
        }
        Ok(answer.json())
    }

    /// Asks GitHub to cancel a run (best effort).
    async fn cancel_run(&self, run_id: u64) {
        let route = format!("/repos/{}/actions/runs/{run_id}/cancel", self.repository);
        let _ = self.call(Method::Post(None), &route).await;
    }

    /// The digest the run reported as a `shipgate-digest` annotation, if any.
    async fn reported_digest(&self, run_id: u64) -> Option<String> {
        let route = format!(
            "/repos/{}/actions/runs/{run_id}/jobs?per_page=100",
            self.repository
        );
        let jobs = self.call(Method::Get, &route).await.ok()?.json();
        for job in jobs["jobs"].as_array()? {
            let Some(check_run) = job["check_run_url"]
                .as_str()
                .and_then(|url| url.rsplit('/').next())
                .map(str::to_string)
                .or_else(|| job["id"].as_u64().map(|id| id.to_string()))
            else {
                continue;
            };
            let route = format!(
                "/repos/{}/check-runs/{check_run}/annotations",
                self.repository
            );
            let Ok(answer) = self.call(Method::Get, &route).await else {
                continue;
            };
            let digest = answer.json().as_array().and_then(|list| {
                list.iter()
                    .filter(|a| a["title"].as_str() == Some(DIGEST_ANNOTATION))
                    .filter_map(|a| a["message"].as_str())
                    .map(str::trim)
                    .find(|m| m.starts_with("sha256:"))
                    .map(str::to_string)
            });
            if digest.is_some() {
                return digest;
            }
        }
        None
    }
}

/// How a workflow build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Succeeded {
        url: Option<String>,
        digest: Option<String>,
    },
    Failed(String),
    Cancelled,
}

/// Timing of the follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The longest a build may take, from dispatch to conclusion.
    pub timeout: Duration,
    /// How often the run is looked at.
    pub poll_interval: Duration,
}

/// Dispatches the build, finds its run, follows it and takes its conclusion. `on_status`
/// receives a line for every change worth telling.
pub async fn build(
    github: &GitHub,
    request: &Request,
    timing: Timing,
    on_status: &mut dyn FnMut(&str),
    mut cancel: Cancel,
) -> Ending {
    // A little slack: the server's clock, not ours, stamps `created_at`.
    let since = unix_now() - 120;
    on_status(&format!(
        "dispatching workflow {} on {} (correlation id {})",
        request.workflow, request.git_ref, request.correlation_id
    ));
    let found = AtomicU64::new(0);
    let follow = follow(github, request, timing, since, &found, on_status);
    let stopped = tokio::select! {
        ending = follow => return ending,
        () = tokio::time::sleep(timing.timeout) => Ending::Failed(format!(
            "the workflow run did not conclude within {}s",
            timing.timeout.as_secs()
        )),
        () = cancel.cancelled() => Ending::Cancelled,
    };
    // Timed out or cancelled: stop the run too, it would push what nobody waits for any more.
    match found.load(Ordering::SeqCst) {
        0 => {
            if let Ending::Failed(message) = &stopped {
                on_status(&format!(
                    "{message}; no run carrying {} was found",
                    request.correlation_id
                ));
            }
        }
        run_id => {
            on_status(&format!("cancelling workflow run {run_id}"));
            github.cancel_run(run_id).await;
        }
    }
    stopped
}

/// The part of [`build`] that may be cut short: dispatch, find, poll.
async fn follow(
    github: &GitHub,
    request: &Request,
    timing: Timing,
    since: i64,
    found: &AtomicU64,
    on_status: &mut dyn FnMut(&str),
) -> Ending {
    let mut run_id = match github.dispatch(request).await {
        Ok(id) => id,
        Err(message) => return Ending::Failed(message),
    };
    let run_id = loop {
        if let Some(id) = run_id {
            break id;
        }
        match github.search_run(request, since).await {
            Ok(Some(id)) => run_id = Some(id),
            Ok(None) => tokio::time::sleep(timing.poll_interval).await,
            Err(message) => return Ending::Failed(message),
        }
    };
    found.store(run_id, Ordering::SeqCst);
    let mut last_status = String::new();
    loop {
        let run = match github.get_run(run_id).await {
            Ok(run) => run,
            Err(message) => return Ending::Failed(message),
        };
        let url = run["html_url"].as_str().map(str::to_string);
        let mut status = run["status"].as_str().unwrap_or("unknown").to_string();
        if status == "completed" {
            status = format!(
                "completed, {}",
                run["conclusion"].as_str().unwrap_or("no conclusion")
            );
        }
        if status != last_status {
            on_status(&format!(
                "workflow run {run_id}: {status}{}",
                url.as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            ));
            last_status = status.clone();
        }
        if status.starts_with("completed") {
            let conclusion = run["conclusion"].as_str().unwrap_or("unknown");
            if conclusion != "success" {
                return Ending::Failed(format!(
                    "workflow run concluded `{conclusion}`{}",
                    url.map(|u| format!(": {u}")).unwrap_or_default()
                ));
            }
            let digest = github.reported_digest(run_id).await;
            return Ending::Succeeded { url, digest };
        }
        tokio::time::sleep(timing.poll_interval).await;
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_is_found_by_its_correlation_id() {
        let answer = json!({
            "total_count": 2,
            "workflow_runs": [
                { "id": 1, "name": "build", "display_title": "build web [shipgate-web-1]" },
                { "id": 2, "name": "build", "display_title": "build auth [shipgate-auth-2]" }
            ]
        });
        assert_eq!(find_run(&answer, "shipgate-auth-2"), Some(2));
        assert_eq!(find_run(&answer, "shipgate-auth-3"), None);
        assert_eq!(find_run(&json!({}), "x"), None);
    }

    #[test]
    fn correlation_ids_are_unique() {
        let a = correlation_id("auth");
        assert!(a.starts_with("shipgate-auth-"), "{a}");
        assert_eq!(a.len(), "shipgate-auth-".len() + 16);
        assert_ne!(a, correlation_id("auth"));
    }
}
