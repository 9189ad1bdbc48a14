//! The build stage: run (or hand off) the builds of the planned services and report each one.
//!
//! Builders, chosen per service by `build.builder`:
//! - `buildx` ([`buildx`]): `docker buildx build`, fresh by default, digest from its metadata file;
//! - `command` ([`command`]): an argv template for remote builders, run without a shell;
//! - `workflow` ([`workflow`]): a `workflow_dispatch` of a build workflow in the same repository;
//! - `none`: planned only, built elsewhere (e.g. matrix legs running docker/build-push-action).
//!
//! [`jobs`] turns the plan into jobs (validating everything first), [`runner`] runs them with
//! bounded parallelism, [`existing`] implements `skip-existing`, [`report`] renders the outcome.

pub mod buildx;
pub mod command;
pub mod existing;
pub mod gha_cache;
pub mod jobs;
pub mod log;
pub mod process;
pub mod scheduler;
pub mod secrets;
pub mod workflow;

use crate::plan::PlanContext;
use serde::Serialize;
use std::time::Duration;

/// Whether to push, and when not, why (said in the summary). `flag` is `--push`/`--no-push`;
/// without one, pull-request runs build but do not push (they show what would be pushed).
pub fn push_decision(flag: Option<bool>, event: &str) -> (bool, String) {
    match flag {
        Some(false) => (false, "this run was told not to push (--push false)".into()),
        Some(true) => (true, String::new()),
        None if matches!(event, "pull_request" | "pull_request_target") => (
            false,
            "pull request runs do not push (pass --push to push anyway)".into(),
        ),
        None => (true, String::new()),
    }
}

/// The ref a build workflow is dispatched on: the branch or tag being built.
pub fn workflow_ref(context: &PlanContext) -> String {
    if context.git_ref.starts_with("refs/heads/") || context.git_ref.starts_with("refs/tags/") {
        return context.git_ref.clone();
    }
    context
        .branch
        .clone()
        .or_else(|| context.default_branch.clone())
        .map(|b| format!("refs/heads/{b}"))
        .unwrap_or_else(|| context.git_ref.clone())
}

#[cfg(test)]
mod decision_tests {
    use super::*;

    #[test]
    fn pull_requests_do_not_push_unless_told() {
        assert!(!push_decision(None, "pull_request").0);
        assert!(!push_decision(None, "pull_request_target").0);
        assert!(push_decision(Some(true), "pull_request").0);
        assert!(push_decision(None, "push").0);
        let (push, why) = push_decision(Some(false), "push");
        assert!(!push && why.contains("--push false"));
    }

    #[test]
    fn workflows_are_dispatched_on_the_built_branch_or_tag() {
        let mut context = PlanContext::example();
        assert_eq!(workflow_ref(&context), "refs/heads/main");
        context.git_ref = "refs/tags/v1.2.3".into();
        assert_eq!(workflow_ref(&context), "refs/tags/v1.2.3");
        context.git_ref = "refs/pull/7/merge".into();
        context.branch = Some("feature/x".into());
        assert_eq!(workflow_ref(&context), "refs/heads/feature/x");
    }
}

/// How one service's build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Built and pushed.
    Built,
    /// Built but not pushed (pull requests, `--push false`): what *would* be pushed.
    BuiltNotPushed,
    /// `skip-existing`: the image already exists; its other tags were pushed onto it.
    Existing,
    /// `builder: none`: planned here, built elsewhere.
    Elsewhere,
    /// `--dry-run`: the command was printed, nothing ran.
    DryRun,
    /// Not run, for a stated reason (e.g. a remote builder on a run that does not push).
    Skipped,
    Failed,
    /// Stopped or never started because another build failed (`fail-fast`).
    Cancelled,
}

impl Outcome {
    /// The words the summary and the terminal use.
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Built => "built",
            Outcome::BuiltNotPushed => "built, not pushed",
            Outcome::Existing => "exists, re-tagged",
            Outcome::Elsewhere => "built elsewhere",
            Outcome::DryRun => "dry run",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Whether the service's image is usable by later stages.
    pub fn produced_image(self) -> bool {
        matches!(
            self,
            Outcome::Built
                | Outcome::BuiltNotPushed
                | Outcome::Existing
                | Outcome::Elsewhere
                | Outcome::DryRun
        )
    }

    /// Whether the outcome fails the step.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Cancelled)
    }
}

/// How the note of a build starts when the registry could not be asked (it becomes a warning).
pub const LOOKUP_FAILED: &str = "could not ask the registry whether ";

/// What happened to one planned service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceReport {
    pub name: String,
    pub image: String,
    pub tags: Vec<String>,
    pub refs: Vec<String>,
    pub builder: crate::config::model::Builder,
    pub outcome: Outcome,
    pub digest: Option<String>,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// One line on why (exit code, workflow run URL, what was re-tagged…).
    pub note: Option<String>,
    /// The command line that ran (or would run), shell-quoted for reading.
    pub command: Option<String>,
    /// The last lines of a failed build's output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tail: Vec<String>,
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// How many output lines of a failed build the summary keeps.
pub const TAIL_LINES: usize = 30;
