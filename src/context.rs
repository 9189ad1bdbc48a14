//! The GitHub Actions context: which event ran, its payload, and the run's identity.
//!
//! Read once from the environment and the event payload into plain data. Values that come from
//! the payload (branch names, titles, logins) are attacker-controlled: they are never put into a
//! shell command and are escaped wherever they are rendered.
//!
//! This module is the one place that reads the runner's `GITHUB_*`/`RUNNER_*` variables:
//! [`Context`] for the event and the run, [`RunnerEnvironment`] for what a stage needs without an
//! event (paths, the repository, the API URL, `SOURCE_DATE_EPOCH`).

use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use serde_json::Value;
use std::time::Duration;

/// The all-zero SHA GitHub sends for "no commit" (a created or deleted branch).
pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// What triggered the run, reduced to what shipgate decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// No event: a terminal on a laptop.
    Local,
    /// `pull_request`, `pull_request_target` and the review events, which carry a pull request.
    PullRequest(PullRequest),
    MergeGroup {
        base_sha: String,
        head_sha: String,
    },
    Push(Push),
    WorkflowDispatch {
        /// The dispatch's `services` input, if the workflow defines one.
        services: Option<String>,
    },
    Schedule,
    /// Any other event (release, workflow_run, repository_dispatch…).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub base_sha: String,
    pub head_sha: String,
    pub base_ref: String,
    pub head_ref: String,
    /// `pull_request.user.login`: the author, which `{actor}` binds to.
    pub author: String,
    pub title: String,
    /// `pull_request.changed_files`, used to detect a truncated PR-files API answer.
    pub changed_files: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub before: String,
    pub after: String,
    pub git_ref: String,
    pub forced: bool,
    pub created: bool,
    pub deleted: bool,
}

/// The runner's variables that do not depend on the event; reading them never fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerEnvironment {
    /// `GITHUB_ACTIONS=true`.
    pub in_actions: bool,
    /// `GITHUB_WORKSPACE`: the checkout the runner made (trusted like `actions/checkout` does).
    pub workspace: Option<std::path::PathBuf>,
    /// `RUNNER_TEMP`: a private scratch directory, emptied after the job.
    pub temp: Option<std::path::PathBuf>,
    /// `GITHUB_REPOSITORY`: `owner/name`.
    pub repository: Option<String>,
    /// `GITHUB_API_URL`, `https://api.github.com` when unset.
    pub api_url: String,
    /// `SOURCE_DATE_EPOCH` as given (reproducible builds); parsed by the plan, which says why
    /// when it is not a number.
    pub source_date_epoch: Option<String>,
    /// `GITHUB_RUN_ATTEMPT` and `GITHUB_JOB`: which attempt and job of the run holds a lock.
    pub run_attempt: Option<String>,
    pub job: Option<String>,
    /// `KUBECONFIG`, `HOME` and `KUBERNETES_SERVICE_HOST` (in-cluster): where kube-rs would
    /// find a cluster when no `kubeconfig` input is given.
    pub kubeconfig: Option<String>,
    pub home: Option<std::path::PathBuf>,
    pub in_cluster: bool,
    /// `SHIPGATE_REGISTRY_USERNAME`, `SHIPGATE_REGISTRY_PASSWORD` and
    /// `SHIPGATE_REGISTRY_INSECURE` (the action's `registry-*` inputs), as given: the registry
    /// client decides what an empty value means.
    pub registry_username: Option<String>,
    pub registry_password: Option<String>,
    pub registry_insecure: Option<String>,
    /// `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`: the files the runner reads outputs and the
    /// job summary from.
    pub output_file: Option<std::path::PathBuf>,
    pub summary_file: Option<std::path::PathBuf>,
    /// `NO_COLOR` set to anything but the empty string.
    pub no_color: bool,
    /// The tuning variables (README, "Tuning").
    pub tuning: Tuning,
}

/// The `SHIPGATE_*` tuning variables of the README's tuning table, parsed: `None` when unset or
/// not a valid value, and each consumer applies its own default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `SHIPGATE_LOCK_POLL`: how often a busy deploy lock is looked at.
    pub lock_poll: Option<Duration>,
    /// `SHIPGATE_LOCK_RENEW`: how often the lock's lease is renewed (zero counts as unset).
    pub lock_renew: Option<Duration>,
    /// `SHIPGATE_UNSCHEDULABLE_GRACE`: how long an unschedulable pod is only a warning.
    pub unschedulable_grace: Option<Duration>,
    /// `SHIPGATE_PROGRESS_THROTTLE_MS`: the least time between two progress lines of a rollout.
    pub progress_throttle: Option<Duration>,
    /// `SHIPGATE_EXEC_PLUGIN_TIMEOUT`: the bound on a kubeconfig exec plugin (zero counts as
    /// unset).
    pub exec_plugin_timeout: Option<Duration>,
}

impl Tuning {
    /// Reads the variables through `env`.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Self {
        let duration =
            |name: &str| env(name).and_then(|v| crate::config::model::parse_duration(&v).ok());
        Tuning {
            lock_poll: duration("SHIPGATE_LOCK_POLL"),
            lock_renew: duration("SHIPGATE_LOCK_RENEW").filter(|d| !d.is_zero()),
            unschedulable_grace: duration("SHIPGATE_UNSCHEDULABLE_GRACE"),
            progress_throttle: env("SHIPGATE_PROGRESS_THROTTLE_MS")
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis),
            exec_plugin_timeout: duration("SHIPGATE_EXEC_PLUGIN_TIMEOUT").filter(|d| !d.is_zero()),
        }
    }
}

impl RunnerEnvironment {
    /// Reads the variables through `env` (tests pass a map); empty values count as unset.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        RunnerEnvironment {
            in_actions: get("GITHUB_ACTIONS").as_deref() == Some("true"),
            workspace: get("GITHUB_WORKSPACE").map(Into::into),
            temp: get("RUNNER_TEMP").map(Into::into),
            repository: get("GITHUB_REPOSITORY"),
            api_url: get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            source_date_epoch: get("SOURCE_DATE_EPOCH"),
            run_attempt: get("GITHUB_RUN_ATTEMPT"),
            job: get("GITHUB_JOB"),
            kubeconfig: get("KUBECONFIG"),
            home: get("HOME").map(Into::into),
            in_cluster: env("KUBERNETES_SERVICE_HOST").is_some(),
            registry_username: env("SHIPGATE_REGISTRY_USERNAME"),
            registry_password: env("SHIPGATE_REGISTRY_PASSWORD"),
            registry_insecure: env("SHIPGATE_REGISTRY_INSECURE"),
            output_file: env("GITHUB_OUTPUT")
                .filter(|v| !v.is_empty())
                .map(Into::into),
            summary_file: env("GITHUB_STEP_SUMMARY")
                .filter(|v| !v.is_empty())
                .map(Into::into),
            no_color: env("NO_COLOR").is_some_and(|v| !v.is_empty()),
            tuning: Tuning::load(&env),
        }
    }

    /// This process's environment.
    pub fn current() -> Self {
        RunnerEnvironment::load(|name| std::env::var(name).ok())
    }
}

/// Everything shipgate reads from the runner's environment and the event payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub event_name: Option<String>,
    pub event: Event,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub head_ref: Option<String>,
    pub base_ref: Option<String>,
    pub repository: Option<String>,
    /// `repository.description` and `repository.license.spdx_id` from the payload (for labels).
    pub repository_description: Option<String>,
    pub license: Option<String>,
    pub default_branch: Option<String>,
    pub server_url: String,
    pub api_url: String,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub run_number: Option<String>,
    pub actor: Option<String>,
}

impl Context {
    /// Reads the context through `env` (so tests can pass a map) and the payload file it names.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Result<Self, Failure> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        let event_name = get("GITHUB_EVENT_NAME");
        let payload = match get("GITHUB_EVENT_PATH") {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Failure::usage(
                        Diagnostic::error(
                            "shipgate context",
                            format!("cannot read the event payload GITHUB_EVENT_PATH={path}: {e}"),
                        )
                        .with_help("run inside GitHub Actions, or unset GITHUB_EVENT_PATH and pass --base/--head"),
                    )
                })?;
                Some(serde_json::from_str::<Value>(&text).map_err(|e| {
                    Failure::usage(Diagnostic::error(
                        "shipgate context",
                        format!("the event payload {path} is not valid JSON: {e}"),
                    ))
                })?)
            }
            None => None,
        };
        Self::from_parts(&get, event_name, payload)
    }

    /// Builds the context from environment values and an already parsed payload.
    pub fn from_parts(
        env: &dyn Fn(&str) -> Option<String>,
        event_name: Option<String>,
        payload: Option<Value>,
    ) -> Result<Self, Failure> {
        let needs_payload = matches!(
            event_name.as_deref(),
            Some("pull_request" | "pull_request_target" | "push" | "merge_group")
        );
        if needs_payload && payload.is_none() {
            return Err(Failure::usage(
                Diagnostic::error(
                    "shipgate context",
                    format!(
                        "GITHUB_EVENT_NAME is `{}` but no event payload was found (GITHUB_EVENT_PATH is not set)",
                        event_name.as_deref().unwrap_or_default()
                    ),
                )
                .with_help("pass --base and --head to choose the range yourself"),
            ));
        }
        let payload = payload.unwrap_or(Value::Null);
        let event = parse_event(event_name.as_deref(), &payload)?;
        let default_branch = str_at(&payload, "/repository/default_branch");
        Ok(Context {
            event_name,
            event,
            sha: env("GITHUB_SHA"),
            git_ref: env("GITHUB_REF"),
            head_ref: env("GITHUB_HEAD_REF"),
            base_ref: env("GITHUB_BASE_REF"),
            repository: env("GITHUB_REPOSITORY")
                .or_else(|| str_at(&payload, "/repository/full_name")),
            repository_description: str_at(&payload, "/repository/description"),
            // Kept as GitHub gives it, `NOASSERTION` included (metadata-action writes it too).
            license: str_at(&payload, "/repository/license/spdx_id"),
            default_branch,
            server_url: env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            api_url: env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            run_id: env("GITHUB_RUN_ID"),
            run_attempt: env("GITHUB_RUN_ATTEMPT"),
            run_number: env("GITHUB_RUN_NUMBER"),
            actor: env("GITHUB_ACTOR"),
        })
    }

    /// The run's URL, for summaries and annotations.
    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }
}

fn str_at(payload: &Value, pointer: &str) -> Option<String> {
    payload
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn required(payload: &Value, pointer: &str, event: &str) -> Result<String, Failure> {
    str_at(payload, pointer).ok_or_else(|| {
        Failure::usage(Diagnostic::error(
            "shipgate context",
            format!(
                "the `{event}` payload has no `{}`",
                pointer.trim_start_matches('/').replace('/', ".")
            ),
        ))
    })
}

fn parse_event(name: Option<&str>, payload: &Value) -> Result<Event, Failure> {
    let Some(name) = name else {
        return Ok(Event::Local);
    };
    Ok(match name {
        "pull_request"
        | "pull_request_target"
        | "pull_request_review"
        | "pull_request_review_comment" => {
            if payload.pointer("/pull_request").is_none() {
                return Err(Failure::usage(Diagnostic::error(
                    "shipgate context",
                    format!("the `{name}` payload has no `pull_request` object"),
                )));
            }
            Event::PullRequest(PullRequest {
                number: payload
                    .pointer("/pull_request/number")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                base_sha: required(payload, "/pull_request/base/sha", name)?,
                head_sha: required(payload, "/pull_request/head/sha", name)?,
                base_ref: str_at(payload, "/pull_request/base/ref").unwrap_or_default(),
                head_ref: required(payload, "/pull_request/head/ref", name)?,
                author: str_at(payload, "/pull_request/user/login").unwrap_or_default(),
                title: str_at(payload, "/pull_request/title").unwrap_or_default(),
                changed_files: payload
                    .pointer("/pull_request/changed_files")
                    .and_then(Value::as_u64),
            })
        }
        "merge_group" => Event::MergeGroup {
            base_sha: required(payload, "/merge_group/base_sha", name)?,
            head_sha: required(payload, "/merge_group/head_sha", name)?,
        },
        "push" => Event::Push(Push {
            before: str_at(payload, "/before").unwrap_or_else(|| ZERO_SHA.into()),
            after: required(payload, "/after", name)?,
            git_ref: str_at(payload, "/ref").unwrap_or_default(),
            forced: payload
                .pointer("/forced")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            created: payload
                .pointer("/created")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            deleted: payload
                .pointer("/deleted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        "workflow_dispatch" => Event::WorkflowDispatch {
            services: str_at(payload, "/inputs/services"),
        },
        "schedule" => Event::Schedule,
        _ => Event::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_environment_reads_without_an_event() {
        let env = |name: &str| match name {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "GITHUB_WORKSPACE" => Some("/home/runner/work/shop/shop".to_string()),
            "RUNNER_TEMP" => Some(" ".to_string()),
            "GITHUB_REPOSITORY" => Some("acme/shop".to_string()),
            "SOURCE_DATE_EPOCH" => Some("1766836944".to_string()),
            _ => None,
        };
        let runner = RunnerEnvironment::load(env);
        assert!(runner.in_actions);
        assert_eq!(
            runner.workspace.as_deref(),
            Some(std::path::Path::new("/home/runner/work/shop/shop"))
        );
        assert_eq!(runner.temp, None, "blank counts as unset");
        assert_eq!(runner.repository.as_deref(), Some("acme/shop"));
        assert_eq!(runner.api_url, "https://api.github.com");
        assert_eq!(runner.source_date_epoch.as_deref(), Some("1766836944"));
        assert_eq!(
            RunnerEnvironment::load(|_| None),
            RunnerEnvironment {
                api_url: "https://api.github.com".into(),
                ..RunnerEnvironment::default()
            }
        );
    }
    #[test]
    fn the_output_mode_comes_from_the_runner_environment() {
        use crate::runner::Mode;
        let actions = |name: &str| match name {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "GITHUB_OUTPUT" => Some("/tmp/out".to_string()),
            "GITHUB_STEP_SUMMARY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            Mode::from_runner(RunnerEnvironment::load(actions), true),
            Mode::Actions {
                output_file: Some("/tmp/out".into()),
                summary_file: None,
            }
        );
        let no_color = |name: &str| (name == "NO_COLOR").then(|| "1".to_string());
        assert_eq!(
            Mode::from_runner(RunnerEnvironment::load(no_color), true),
            Mode::Terminal { color: false }
        );
        assert_eq!(
            Mode::from_runner(RunnerEnvironment::load(|_| None), true),
            Mode::Terminal { color: true }
        );
    }

    #[test]
    fn tuning_variables_are_parsed_once_with_zero_and_garbage_unset() {
        let env = |name: &str| match name {
            "SHIPGATE_LOCK_POLL" => Some("200ms".to_string()),
            "SHIPGATE_LOCK_RENEW" => Some("0s".to_string()),
            "SHIPGATE_UNSCHEDULABLE_GRACE" => Some("soon".to_string()),
            "SHIPGATE_PROGRESS_THROTTLE_MS" => Some("250".to_string()),
            "SHIPGATE_EXEC_PLUGIN_TIMEOUT" => Some("2m".to_string()),
            _ => None,
        };
        assert_eq!(
            RunnerEnvironment::load(env).tuning,
            Tuning {
                lock_poll: Some(Duration::from_millis(200)),
                lock_renew: None,
                unschedulable_grace: None,
                progress_throttle: Some(Duration::from_millis(250)),
                exec_plugin_timeout: Some(Duration::from_secs(120)),
            }
        );
        assert_eq!(RunnerEnvironment::load(|_| None).tuning, Tuning::default());
    }

    #[test]
    fn lock_and_cluster_variables_come_from_the_runner_environment() {
        let env = |name: &str| match name {
            "GITHUB_RUN_ATTEMPT" => Some("2".to_string()),
            "GITHUB_JOB" => Some("deploy".to_string()),
            "KUBECONFIG" => Some(" ".to_string()),
            "HOME" => Some("/home/runner".to_string()),
            "KUBERNETES_SERVICE_HOST" => Some("10.0.0.1".to_string()),
            _ => None,
        };
        let runner = RunnerEnvironment::load(env);
        assert_eq!(runner.run_attempt.as_deref(), Some("2"));
        assert_eq!(runner.job.as_deref(), Some("deploy"));
        assert_eq!(runner.kubeconfig, None, "blank counts as unset");
        assert_eq!(
            runner.home.as_deref(),
            Some(std::path::Path::new("/home/runner"))
        );
        assert!(runner.in_cluster);
    }

    use serde_json::json;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn pull_request_payload() {
        let payload = json!({"pull_request": {"number": 7, "title": "t", "changed_files": 3,
            "base": {"sha": "b", "ref": "main"}, "head": {"sha": "h", "ref": "users/x/y"},
            "user": {"login": "octocat"}}, "repository": {"default_branch": "main"}});
        let context =
            Context::from_parts(&no_env, Some("pull_request".into()), Some(payload)).unwrap();
        let Event::PullRequest(pr) = context.event else {
            panic!()
        };
        assert_eq!(
            (
                pr.base_sha.as_str(),
                pr.head_sha.as_str(),
                pr.author.as_str()
            ),
            ("b", "h", "octocat")
        );
        assert_eq!(context.default_branch.as_deref(), Some("main"));
    }

    #[test]
    fn a_push_without_payload_is_a_usage_error() {
        let error = Context::from_parts(&no_env, Some("push".into()), None).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn a_pull_request_payload_missing_its_head_is_a_usage_error() {
        let payload = json!({"pull_request": {"base": {"sha": "b"}}});
        let error =
            Context::from_parts(&no_env, Some("pull_request".into()), Some(payload)).unwrap_err();
        assert!(
            error.to_string().contains("pull_request.head.sha"),
            "{error}"
        );
    }

    #[test]
    fn licence_noassertion_is_kept_like_metadata_action() {
        let payload = json!({"after": "a", "before": "b", "ref": "refs/heads/main",
            "repository": {"license": {"spdx_id": "NOASSERTION"}}});
        let context = Context::from_parts(&no_env, Some("push".into()), Some(payload)).unwrap();
        assert_eq!(context.license.as_deref(), Some("NOASSERTION"));
    }

    #[test]
    fn no_event_is_local() {
        let context = Context::from_parts(&no_env, None, None).unwrap();
        assert_eq!(context.event, Event::Local);
        assert_eq!(context.run_url(), None);
    }
}
