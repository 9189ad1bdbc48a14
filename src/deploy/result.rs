//! What the deploy did, per service: the data behind the `result` output, the summary table and
//! the exit code.

use super::diagnostics::Diagnosis;
use super::patch::ContainerChange;
use crate::health::HealthReport;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// A service's end state, as the `result` output spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    RolledBack,
    Unchanged,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::RolledBack => "rolled-back",
            Status::Unchanged => "unchanged",
            Status::Skipped => "skipped",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::RolledBack)
    }
}

/// How a rollback went.
#[derive(Debug, Clone)]
pub struct Rollback {
    pub succeeded: bool,
    /// What happened: "restored ghcr.io/acme/auth:1.2.2; rollout complete in 3.1s" or why not.
    pub message: String,
}

/// Spans on the run's clock, for the timeline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeline {
    pub rollout: Option<(Duration, Duration)>,
    pub health: Option<(Duration, Duration)>,
    pub rollback: Option<(Duration, Duration)>,
}

#[derive(Debug, Clone)]
pub struct ServiceResult {
    pub service: String,
    pub wave: u32,
    /// `shop/Deployment/auth`.
    pub workload: Option<String>,
    pub status: Status,
    pub image_before: Option<String>,
    pub image_after: Option<String>,
    pub changes: Vec<ContainerChange>,
    /// The patch sent (or, in a dry run, that would be sent).
    pub patch: Option<Value>,
    /// The workload's revision after the rollout (`deployment.kubernetes.io/revision`).
    pub revision: Option<String>,
    pub rollout: Option<Duration>,
    /// kubectl's last message about the rollout.
    pub rollout_message: Option<String>,
    pub health: Option<HealthReport>,
    pub health_skipped: bool,
    /// The gate a dry run would run: `GET https://…/health, 6 attempts every 10s`.
    pub health_plan: Option<String>,
    pub rollback: Option<Rollback>,
    /// The digest every new pod was verified to run (`verify-digest`).
    pub digest: Option<String>,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    pub diagnosis: Option<Diagnosis>,
    pub warnings: Vec<String>,
    pub timeline: Timeline,
}

impl ServiceResult {
    pub fn new(service: &str, wave: u32, status: Status) -> Self {
        ServiceResult {
            service: service.to_string(),
            wave,
            workload: None,
            status,
            image_before: None,
            image_after: None,
            changes: Vec::new(),
            patch: None,
            revision: None,
            rollout: None,
            rollout_message: None,
            health: None,
            health_skipped: false,
            health_plan: None,
            rollback: None,
            digest: None,
            reason: None,
            diagnosis: None,
            warnings: Vec::new(),
            timeline: Timeline::default(),
        }
    }

    pub fn skipped(service: &str, wave: u32, reason: impl Into<String>) -> Self {
        let mut result = ServiceResult::new(service, wave, Status::Skipped);
        result.reason = Some(reason.into());
        result
    }

    pub fn rolled_back(&self) -> bool {
        self.rollback.as_ref().is_some_and(|r| r.succeeded)
    }
}

/// The `result` output: `{"services": {"<name>": {"status": …, "image_before": …,
/// "image_after": …, "rollout_seconds": …, "health": {"passed": …, "attempts": …},
/// "rolled_back": …, "reason": …}}}`.
/// How a gate reads in a dry run.
pub fn describe_gate(gate: &crate::health::HealthGate) -> String {
    format!(
        "{} {}, {} attempt{} every {}",
        gate.method,
        gate.url,
        gate.attempts,
        if gate.attempts == 1 { "" } else { "s" },
        crate::health::format_duration(gate.interval)
    )
}

pub fn result_json(results: &[ServiceResult]) -> Value {
    let mut services = Map::new();
    for result in results {
        let health = match (&result.health, result.health_skipped) {
            (Some(report), _) => json!({
                "passed": report.passed,
                "attempts": report.attempts.len(),
                "critical": report.critical,
                "transport_errors": report.transport_errors,
                "wrong_answers": report.wrong_answers,
            }),
            (None, true) => json!({ "skipped": true }),
            (None, false) => Value::Null,
        };
        services.insert(
            result.service.clone(),
            json!({
                "status": result.status.as_str(),
                "workload": result.workload,
                "image_before": result.image_before,
                "image_after": result.image_after,
                "revision": result.revision,
                "digest": result.digest,
                "rollout_seconds": result.rollout.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
                "health": health,
                "rolled_back": result.rolled_back(),
                "reason": result.reason,
            }),
        );
    }
    json!({ "services": services })
}
