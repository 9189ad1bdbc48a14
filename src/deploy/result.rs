//! What the deploy did, per service: the data behind the `result` output, the summary table and
//! the exit code.

use super::diagnosis::Diagnosis;
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

/// What became of a service's health gate: one state instead of three fields that had to agree.
#[derive(Debug, Clone, Default)]
pub enum HealthState {
    /// The service has no gate.
    #[default]
    NoGate,
    /// `skip-health`: the gate was not run.
    Skipped,
    /// A dry run: the gate that would run (`GET https://…/health, 6 attempts every 10s`).
    WouldCheck(String),
    /// The gate ran.
    Checked(HealthReport),
}

impl HealthState {
    /// The gate's verdict, when it ran.
    pub fn report(&self) -> Option<&HealthReport> {
        match self {
            HealthState::Checked(report) => Some(report),
            _ => None,
        }
    }

    /// For a service with `gate` (or none) that is not checked in this run: skipped on request,
    /// else shown as what a dry run would check.
    pub fn not_checked(gate: Option<&crate::health::HealthGate>, skip_health: bool) -> Self {
        match gate {
            None => HealthState::NoGate,
            Some(_) if skip_health => HealthState::Skipped,
            Some(gate) => HealthState::WouldCheck(describe_gate(gate)),
        }
    }
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
    pub health: HealthState,
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
            health: HealthState::NoGate,
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
        gate.target(),
        gate.attempts,
        if gate.attempts == 1 { "" } else { "s" },
        crate::health::format_duration(gate.interval)
    )
}

pub fn result_json(results: &[ServiceResult]) -> Value {
    let mut services = Map::new();
    for result in results {
        let health = match &result.health {
            HealthState::Checked(report) => json!({
                "passed": report.passed,
                "attempts": report.attempts.len(),
                "critical": report.critical,
                "transport_errors": report.transport_errors,
                "wrong_answers": report.wrong_answers,
                "through": report.through,
            }),
            HealthState::Skipped => json!({ "skipped": true }),
            HealthState::NoGate | HealthState::WouldCheck(_) => Value::Null,
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
