//! One service's deploy in named steps — send the patch, watch the rollout (diagnosing a
//! failure), run the health gate, roll back — each recording what happened in a
//! [`Happened`]; [`settle`] alone decides the status, and [`Finished::roll_back_if_due`] is the
//! one rollback path (a service's own failure, `rollback-all`, an interrupted run).

use super::cluster::Cluster;
use super::diagnosis::gather::diagnose;
use super::hub::Hub;
use super::orchestrate::{Options, Progress};
use super::pods::PodPolicy;
use super::preflight::Ready;
use super::result::{HealthState, ServiceResult, Status};
use super::rollback::{Follow, roll_back, watch_bound};
use super::settle::{Change, Gate, Happened, Rollout, rollback_due, settle};
use super::target::DeployTarget;
use super::watch::{self, Outcome};
use serde_json::Value;
use std::time::{Duration, Instant};

/// What every service of a run shares.
pub(super) struct Run<'a> {
    pub cluster: &'a Cluster,
    /// The run's shared watches; `None` in a dry run.
    pub hub: Option<&'a Hub>,
    pub options: &'a Options,
    pub started: Instant,
    pub progress: Progress,
}

impl Run<'_> {
    fn say(&self, service: &str, text: &str) {
        (self.progress)(service, text);
    }
}

/// A service's result and what happened to it.
#[derive(Debug, Clone)]
pub(super) struct Finished {
    pub result: ServiceResult,
    pub happened: Happened,
}

/// The result as far as preflight knows it: workload, images, changes, warnings.
fn base_result(target: &DeployTarget, ready: &Ready, status: Status) -> ServiceResult {
    let mut result = ServiceResult::new(&target.service, target.wave, status);
    result.workload = Some(format!("{}/{}", ready.namespace, target.workload()));
    result.image_before = ready.set.changes.first().map(|c| c.from.clone());
    result.image_after = ready.set.changes.first().map(|c| c.to.clone());
    result.changes = ready.set.changes.clone();
    result.patch = ready.set.patch.clone();
    result.warnings = ready.warnings.clone();
    result
}

/// One service: patch, watch, diagnose or gate, roll back.
pub(super) async fn deploy_one(run: &Run<'_>, target: &DeployTarget, ready: &Ready) -> Finished {
    let mut result = base_result(target, ready, Status::Succeeded);
    if run.options.dry_run {
        dry_run(&mut result, target, ready, run.options);
        let happened = Happened::new(Change::NotNeeded);
        return Finished { result, happened };
    }
    let since = k8s_openapi::jiff::Timestamp::now();
    let (change, generation) = send_patch(run, target, ready, &mut result).await;
    let mut happened = Happened::new(change);
    if change != Change::Refused {
        happened.rollout = watch_rollout(run, target, ready, generation, since, &mut result).await;
    }
    if happened.rollout == Rollout::Complete {
        happened.gate = health_gate(run, target, &ready.namespace, &mut result).await;
    }
    let mut finished = Finished { result, happened };
    finished.roll_back_if_due(run, target, ready).await;
    finished
}

/// A service whose deploy the run stopped (deadline, cancel, lock lost) before it finished:
/// what it changed is put back; on a cancelled job only the patch is sent (the runner kills the
/// step seconds later, [`Follow::SendOnly`]), otherwise the rollback is watched too.
pub(super) async fn interrupted(
    run: &Run<'_>,
    target: &DeployTarget,
    ready: &Ready,
    reason: &str,
    follow: Follow,
) -> Finished {
    let mut result = base_result(target, ready, Status::Failed);
    result.reason = Some(reason.to_string());
    let change = if ready.set.patch.is_some() {
        Change::Sent
    } else {
        Change::NotNeeded
    };
    let mut happened = Happened::new(change);
    happened.rollout = Rollout::Interrupted;
    let mut finished = Finished { result, happened };
    let run = Run {
        hub: run.hub.filter(|_| follow == Follow::UntilComplete),
        progress: run.progress.clone(),
        ..*run
    };
    finished.roll_back_if_due(&run, target, ready).await;
    finished
}

fn dry_run(result: &mut ServiceResult, target: &DeployTarget, ready: &Ready, options: &Options) {
    result.status = Status::Skipped;
    result.reason = Some(if ready.set.patch.is_none() {
        "dry run: the image is already set; nothing would be sent".into()
    } else {
        "dry run: the patch shown would be sent".into()
    });
    result.health = HealthState::not_checked(target.health.as_ref(), options.skip_health);
}

/// Sends the patch; the generation it produced (or the workload's, when nothing was sent).
async fn send_patch(
    run: &Run<'_>,
    target: &DeployTarget,
    ready: &Ready,
    result: &mut ServiceResult,
) -> (Change, Option<i64>) {
    let generation = ready.workload["metadata"]["generation"].as_i64();
    let Some(patch) = &ready.set.patch else {
        run.say(&target.service, "image already set: verifying the rollout");
        return (Change::NotNeeded, generation);
    };
    match run
        .cluster
        .patch_strategic(target.kind, &ready.namespace, &target.name, patch)
        .await
    {
        Ok(patched) => {
            if ready.set.unchanged {
                run.say(
                    &target.service,
                    "image unchanged; restarting its pods (restart-if-unchanged)",
                );
            } else {
                run.say(&target.service, &format!("set image {}", target.image));
            }
            (Change::Sent, patched["metadata"]["generation"].as_i64())
        }
        Err(error) => {
            result.reason = Some(format!("the cluster refused the patch: {error}"));
            (Change::Refused, generation)
        }
    }
}

/// Watches the rollout to its verdict; a failure is diagnosed.
async fn watch_rollout(
    run: &Run<'_>,
    target: &DeployTarget,
    ready: &Ready,
    generation: Option<i64>,
    since: k8s_openapi::jiff::Timestamp,
    result: &mut ServiceResult,
) -> Rollout {
    let Some(hub) = run.hub else {
        return Rollout::NotWatched;
    };
    let say = |text: &str| run.say(&target.service, text);
    let timeout = target
        .timeout
        .unwrap_or_else(|| watch_bound(&ready.workload));
    let settings = watch::Settings {
        timeout,
        generation,
        policy: PodPolicy {
            fail_after_restarts: target.fail_after_restarts,
            unschedulable_grace: run.options.unschedulable_grace,
        },
        throttle: run.options.throttle,
    };
    let start = run.started.elapsed();
    let (outcome, seen) = watch::watch(
        hub,
        target.kind,
        &ready.namespace,
        &target.name,
        &settings,
        say,
    )
    .await;
    let end = run.started.elapsed();
    result.timeline.rollout = Some((start, end));
    result.rollout = Some(end.saturating_sub(start));
    result.revision = seen.workload.as_ref().and_then(revision_of);
    result.warnings.extend(seen.warnings.iter().cloned());
    match &outcome {
        Outcome::Complete { message } => {
            say(message);
            result.rollout_message = Some(message.clone());
            // The rollout completed: do its pods run the expected digest (verify-digest)? A
            // mismatch fails the service like a failed rollout, so it is rolled back.
            let check = super::digest::verify(run.cluster, target, &ready.namespace, &seen).await;
            match super::digest::record(check, result, &say) {
                Some(mismatch) => {
                    result.reason = Some(mismatch);
                    Rollout::Failed
                }
                None => Rollout::Complete,
            }
        }
        Outcome::Failed { message, .. } | Outcome::TimedOut { message, .. } => {
            let reason = failure_reason(&outcome);
            result.rollout_message = Some(message.clone());
            say(&format!("rollout failed: {reason}"));
            result.reason = Some(reason);
            let diagnosis = diagnose(
                run.cluster,
                target,
                &ready.namespace,
                &outcome,
                &seen,
                since,
            )
            .await;
            result.diagnosis = Some(diagnosis);
            Rollout::Failed
        }
    }
}

/// Runs the health gate of a completed rollout (unless skipped).
async fn health_gate(
    run: &Run<'_>,
    target: &DeployTarget,
    namespace: &str,
    result: &mut ServiceResult,
) -> Gate {
    let say = |text: &str| run.say(&target.service, text);
    let Some(gate) = &target.health else {
        return Gate::NotRun;
    };
    if run.options.skip_health {
        result.health = HealthState::Skipped;
        say("health gate SKIPPED (skip-health)");
        return Gate::NotRun;
    }
    let start = run.started.elapsed();
    say(&format!("health gate: {} {}", gate.method, gate.target()));
    let client = match crate::health::client() {
        Ok(client) => client,
        Err(error) => {
            result.reason = Some(format!("cannot start the health check client: {error}"));
            return Gate::Failed;
        }
    };
    let report = super::gate::run(run.cluster, target, namespace, &client, gate, &say).await;
    result.timeline.health = Some((start, run.started.elapsed()));
    let summary = report.summary();
    say(&format!("health gate {summary}"));
    let gate = match (report.passed, report.critical) {
        (true, _) => Gate::Passed,
        (false, true) => {
            result.reason = Some(format!("health gate {summary}"));
            Gate::Failed
        }
        (false, false) => {
            result.warnings.push(format!(
                "non-critical health gate {summary}; not rolled back"
            ));
            Gate::FailedNonCritical
        }
    };
    result.health = HealthState::Checked(report);
    gate
}

impl Finished {
    /// The one rollback path: restores the snapshot when [`rollback_due`] says so (watching
    /// the rollback when the run has its watches), then settles the status.
    pub(super) async fn roll_back_if_due(
        &mut self,
        run: &Run<'_>,
        target: &DeployTarget,
        ready: &Ready,
    ) {
        if rollback_due(&self.happened, target.on_failure) {
            let say = |text: &str| run.say(&target.service, text);
            let rollback = roll_back(
                run.cluster,
                run.hub,
                target,
                ready,
                run.started,
                &mut self.result.timeline,
                &say,
            )
            .await;
            self.happened.rollback = Some(rollback.succeeded);
            if rollback.succeeded && self.result.reason.is_none() {
                self.result.reason = Some(
                    "rolled back with the rest of the deploy (on-failure: rollback-all)".into(),
                );
            }
            self.result.rollback = Some(rollback);
        }
        if !run.options.dry_run {
            self.result.status = settle(&self.happened);
        }
    }
}

/// The workload's revision: a Deployment's `deployment.kubernetes.io/revision`, a StatefulSet's
/// `updateRevision`, a DaemonSet's template generation.
fn revision_of(workload: &Value) -> Option<String> {
    let annotations = &workload["metadata"]["annotations"];
    annotations["deployment.kubernetes.io/revision"]
        .as_str()
        .or_else(|| workload["status"]["updateRevision"].as_str())
        .or_else(|| annotations["deprecated.daemonset.template.generation"].as_str())
        .map(str::to_string)
        .or_else(|| {
            (workload["kind"] == "DaemonSet")
                .then(|| workload["metadata"]["generation"].as_i64())
                .flatten()
                .map(|g| g.to_string())
        })
}

pub(crate) fn failure_reason(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Complete { .. } => String::new(),
        Outcome::Failed {
            reason, message, ..
        } => format!("{reason}: {message}"),
        Outcome::TimedOut { after, message } => {
            format!("timed out after {}s: {message}", after.as_secs())
        }
    }
}

pub(crate) fn progress_deadline(workload: &Value) -> Option<Duration> {
    workload["spec"]["progressDeadlineSeconds"]
        .as_u64()
        .map(Duration::from_secs)
}
