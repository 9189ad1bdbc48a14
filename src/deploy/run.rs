//! The deploy as a whole: lock, preflight, then wave by wave every service at once — patch,
//! watch, diagnose, health gate, roll back — and the rollbacks `rollback-all` asks for.

use super::cluster::Cluster;
use super::diagnose::diagnose;
use super::patch::Stamp;
use super::pods::PodPolicy;
use super::preflight::{self, Problem, Ready};
use super::result::{HealthState, ServiceResult, Status};
use super::rollback::{Follow, roll_back, roll_back_all};
use super::target::{DeployTarget, waves};
use super::watch::{self, Outcome};
use crate::config::model::OnFailure;
use futures::future::join_all;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Extra time beyond a workload's progress deadline before shipgate gives up on its own.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);
/// kubectl's default `progressDeadlineSeconds`, used for workloads without one.
pub const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(600);
/// Bounds the first call (the server's version) even without a `deploy-timeout`.
pub const FIRST_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines kept per failed service.
pub const LOG_LINES: usize = 25;

/// Receives progress lines: `(service, text)`.
pub type Progress = Arc<dyn Fn(&str, &str) + Send + Sync>;

pub struct Options {
    pub dry_run: bool,
    pub skip_health: bool,
    pub continue_on_failure: bool,
    pub lock_timeout: Duration,
    pub lock_poll: Duration,
    /// Who holds the lock: the run URL, or host and pid locally.
    pub holder: String,
    pub run_url: Option<String>,
    /// Bounds the whole deploy; `None`: only each service's timeout.
    pub deadline: Option<Duration>,
    /// The least time between two progress lines of one service.
    pub throttle: Duration,
    pub unschedulable_grace: Duration,
}

/// Everything the deploy found and did.
#[derive(Debug, Default)]
pub struct Report {
    pub server_version: Option<String>,
    pub server: String,
    pub namespaces: Vec<String>,
    /// Preflight problems: when not empty, nothing was changed.
    pub problems: Vec<Problem>,
    /// The lock could not be taken: nothing was changed.
    pub lock_error: Option<String>,
    pub notices: Vec<String>,
    pub services: Vec<ServiceResult>,
    pub elapsed: Duration,
}

impl Report {
    /// Whether anything failed that makes the step fail.
    pub fn failed(&self) -> bool {
        !self.problems.is_empty()
            || self.lock_error.is_some()
            || self.services.iter().any(|s| s.status.is_failure())
    }
}

/// Runs the deploy of `targets`; `skipped` are planned services without `deploy` settings.
pub async fn deploy(
    cluster: &Cluster,
    targets: &[DeployTarget],
    skipped: Vec<ServiceResult>,
    options: &Options,
    registry: &crate::registry::RegistryClient,
    progress: Progress,
) -> Report {
    let started = Instant::now();
    let mut report = Report {
        server: cluster.server.clone(),
        ..Report::default()
    };
    let within_deadline = super::retry::remaining(options.deadline, started);
    match super::retry::bounded(within_deadline.min(FIRST_CALL_TIMEOUT), cluster.version()).await {
        Ok(version) => report.server_version = Some(version),
        Err(error) => {
            report.problems.push(Problem {
                service: "cluster".into(),
                message: format!("the Kubernetes API at {} does not answer: {error}", cluster.server),
                help: Some("check the kubeconfig's server address, the network path from the runner, and the credentials".into()),
            });
            report.services = skipped;
            report.elapsed = started.elapsed();
            return report;
        }
    }
    let mut namespaces: Vec<String> = targets
        .iter()
        .map(|t| {
            t.namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone())
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    report.namespaces = namespaces.clone();

    let lock = if options.dry_run || targets.is_empty() {
        None
    } else {
        let notices = std::sync::Mutex::new(Vec::new());
        let taken = super::lock::acquire_within(
            super::retry::remaining(options.deadline, started),
            cluster,
            &namespaces,
            &options.holder,
            options.lock_timeout,
            options.lock_poll,
            |line| {
                progress("lock", line);
                if let Ok(mut n) = notices.lock() {
                    n.push(line.to_string());
                }
            },
        )
        .await;
        report
            .notices
            .extend(notices.into_inner().unwrap_or_default());
        match taken {
            Ok(lock) => Some(lock),
            Err(error) => {
                report.lock_error = Some(error.to_string());
                report.services = skipped;
                report.elapsed = started.elapsed();
                return report;
            }
        }
    };

    let stamp = Stamp {
        run_url: options.run_url.clone(),
        now: k8s_openapi::jiff::Timestamp::now().to_string(),
    };
    let checks = super::retry::preflight_within(
        super::retry::remaining(options.deadline, started),
        join_all(
            targets
                .iter()
                .map(|t| preflight::check(cluster, t, &stamp, registry)),
        ),
    )
    .await;
    let mut ready = Vec::new();
    for check in checks {
        match check {
            Ok(r) => ready.push(r),
            Err(problems) => report.problems.extend(problems),
        }
    }
    if !report.problems.is_empty() {
        if let Some(lock) = lock {
            report.notices.extend(lock.release().await);
        }
        report.services = skipped;
        report.elapsed = started.elapsed();
        return report;
    }

    let mut results: Vec<Option<ServiceResult>> = vec![None; targets.len()];
    // The services whose wave started: their patch may have been sent.
    let dispatched = std::cell::RefCell::new(Vec::new());
    let mut stop = false;
    let work = async {
        for (wave, members) in waves(targets) {
            if stop {
                for &index in &members {
                    results[index] = Some(ServiceResult::skipped(
                        &targets[index].service,
                        wave,
                        "an earlier wave failed",
                    ));
                }
                continue;
            }
            dispatched.borrow_mut().extend(members.iter().copied());
            let outcomes = join_all(members.iter().map(|&index| {
                deploy_one(
                    cluster,
                    &targets[index],
                    &ready[index],
                    options,
                    started,
                    progress.clone(),
                )
            }))
            .await;
            for (&index, outcome) in members.iter().zip(outcomes) {
                results[index] = Some(outcome);
            }
            let failed: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| results[i].as_ref().is_some_and(|r| r.status.is_failure()))
                .collect();
            if failed
                .iter()
                .any(|&i| targets[i].on_failure == OnFailure::RollbackAll)
            {
                roll_back_all(
                    cluster,
                    targets,
                    &ready,
                    &mut results,
                    started,
                    progress.clone(),
                )
                .await;
            }
            if !failed.is_empty() && !options.continue_on_failure {
                stop = true;
            }
        }
    };
    let deadline = async {
        match options.deadline {
            Some(deadline) if !deadline.is_zero() => {
                // What the version check, the lock and the preflight left of it.
                tokio::time::sleep(deadline.saturating_sub(started.elapsed())).await
            }
            _ => std::future::pending().await,
        }
    };
    let lock_watch = lock.as_ref().map(super::lock::Lock::watch);
    let lock_lost = async {
        match lock_watch.clone() {
            Some(watch) => watch.lost().await,
            None => std::future::pending().await,
        }
    };
    let interrupted = tokio::select! {
        () = work => None,
        () = deadline => Some(Interruption::Deadline),
        () = shutdown_signal() => Some(Interruption::Cancelled),
        reason = lock_lost => {
            report.notices.push(format!("warning: {reason}: this run stopped sending changes, puts back what it changed and fails"));
            Some(Interruption::LockLost)
        }
    };
    if let Some(interruption) = interruption_notice(interrupted, options) {
        report.notices.push(interruption);
    }
    if let Some(interruption) = interrupted {
        let dispatched = dispatched.into_inner();
        let unfinished: Vec<usize> = (0..targets.len())
            .filter(|&i| results[i].is_none() && dispatched.contains(&i))
            .collect();
        // What this run changed and did not finish is put back; on a cancelled job only the
        // patches are sent (the runner kills the step seconds later), on a deadline the
        // rollbacks are watched too.
        let ready = &ready;
        let rollbacks = join_all(unfinished.iter().map(|&i| {
            let progress = progress.clone();
            async move {
                let mut result =
                    ServiceResult::new(&targets[i].service, targets[i].wave, Status::Failed);
                result.workload = Some(format!("{}/{}", ready[i].namespace, targets[i].workload()));
                (result.image_before, result.image_after) = images(&ready[i]);
                result.reason = Some(interruption.reason().into());
                if ready[i].set.patch.is_some() && targets[i].on_failure != OnFailure::None {
                    let say = |text: &str| progress(&targets[i].service, text);
                    let rollback = roll_back(
                        cluster,
                        &targets[i],
                        &ready[i],
                        started,
                        &mut result.timeline,
                        &say,
                        if interruption == Interruption::Cancelled {
                            Follow::SendOnly
                        } else {
                            Follow::UntilComplete
                        },
                    )
                    .await;
                    if rollback.succeeded {
                        result.status = Status::RolledBack;
                    }
                    result.rollback = Some(rollback);
                }
                (i, result)
            }
        }))
        .await;
        for (i, result) in rollbacks {
            results[i] = Some(result);
        }
        for (index, result) in results.iter_mut().enumerate() {
            if result.is_none() {
                *result = Some(ServiceResult::skipped(
                    &targets[index].service,
                    targets[index].wave,
                    interruption.reason(),
                ));
            }
        }
    }
    if let Some(lock) = lock {
        report.notices.extend(lock.release().await);
    }
    report.services = results.into_iter().flatten().chain(skipped).collect();
    report.elapsed = started.elapsed();
    report
}

/// Why the deploy stopped before every service finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interruption {
    Deadline,
    Cancelled,
    /// The deploy lock was taken over or could not be renewed.
    LockLost,
}

impl Interruption {
    fn reason(self) -> &'static str {
        match self {
            Interruption::Deadline => "the global deploy timeout elapsed before it finished",
            Interruption::Cancelled => "the run was cancelled (SIGINT/SIGTERM) before it finished",
            Interruption::LockLost => {
                "the deploy lock was lost before it finished (see the warning); no more changes were sent"
            }
        }
    }
}

fn interruption_notice(interrupted: Option<Interruption>, options: &Options) -> Option<String> {
    match interrupted? {
        Interruption::Deadline => Some(format!(
            "warning: the deploy timeout ({}s) elapsed: unfinished services are failed and what they changed is rolled back",
            options.deadline.unwrap_or_default().as_secs()
        )),
        Interruption::Cancelled => Some(
            "warning: the run was cancelled: unfinished services are failed and what they changed is rolled back".into(),
        ),
        Interruption::LockLost => None,
    }
}

/// Resolves on SIGINT or SIGTERM (a cancelled GitHub job sends both, seconds apart).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(terminate) => {
                    terminate.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn images(ready: &Ready) -> (Option<String>, Option<String>) {
    let before = ready.set.changes.first().map(|c| c.from.clone());
    let after = ready.set.changes.first().map(|c| c.to.clone());
    (before, after)
}

/// One service: patch, watch, diagnose or gate, roll back.
async fn deploy_one(
    cluster: &Cluster,
    target: &DeployTarget,
    ready: &Ready,
    options: &Options,
    run_started: Instant,
    progress: Progress,
) -> ServiceResult {
    let service = target.service.as_str();
    let mut result = ServiceResult::new(service, target.wave, Status::Succeeded);
    result.workload = Some(format!("{}/{}", ready.namespace, target.workload()));
    (result.image_before, result.image_after) = images(ready);
    result.changes = ready.set.changes.clone();
    result.patch = ready.set.patch.clone();
    result.warnings = ready.warnings.clone();
    if options.dry_run {
        result.status = Status::Skipped;
        result.reason = Some(if ready.set.patch.is_none() {
            "dry run: the image is already set; nothing would be sent".into()
        } else {
            "dry run: the patch shown would be sent".into()
        });
        result.health = HealthState::not_checked(target.health.as_ref(), options.skip_health);
        return result;
    }
    let say = |text: &str| progress(service, text);
    let deploy_started = k8s_openapi::jiff::Timestamp::now();
    let rollout_start = run_started.elapsed();
    let mut changed = false;
    let mut generation = ready.workload["metadata"]["generation"].as_i64();
    if let Some(patch) = &ready.set.patch {
        match cluster
            .patch_strategic(target.kind, &ready.namespace, &target.name, patch)
            .await
        {
            Ok(patched) => {
                changed = true;
                generation = patched["metadata"]["generation"].as_i64();
                if ready.set.unchanged {
                    say("image unchanged; restarting its pods (restart-if-unchanged)");
                } else {
                    say(&format!("set image {}", target.image));
                }
            }
            Err(error) => {
                result.status = Status::Failed;
                result.reason = Some(format!("the cluster refused the patch: {error}"));
                return result;
            }
        }
    } else {
        say("image already set: verifying the rollout");
    }
    let timeout = target
        .timeout
        .unwrap_or_else(|| super::rollback::watch_bound(&ready.workload));
    let settings = watch::Settings {
        timeout,
        generation,
        policy: PodPolicy {
            fail_after_restarts: target.fail_after_restarts,
            unschedulable_grace: options.unschedulable_grace,
        },
        throttle: options.throttle,
    };
    let selector = super::cluster::selector_string(&ready.workload);
    let (outcome, seen) = watch::watch(
        cluster,
        target.kind,
        &ready.namespace,
        &target.name,
        selector.as_deref(),
        &settings,
        |line| say(line),
    )
    .await;
    let rollout_end = run_started.elapsed();
    result.timeline.rollout = Some((rollout_start, rollout_end));
    result.rollout = Some(rollout_end.saturating_sub(rollout_start));
    result.revision = seen.workload.as_ref().and_then(revision_of);
    result.warnings.extend(seen.warnings.iter().cloned());
    match &outcome {
        Outcome::Complete { message } => {
            say(message);
            result.rollout_message = Some(message.clone());
            let check = super::digest::verify(cluster, target, &ready.namespace, &seen).await;
            if let Some(mismatch) = super::digest::record(check, &mut result, &say) {
                result.status = Status::Failed;
                result.reason = Some(mismatch);
                if changed && target.on_failure != OnFailure::None {
                    let rollback = roll_back(
                        cluster,
                        target,
                        ready,
                        run_started,
                        &mut result.timeline,
                        &say,
                        Follow::UntilComplete,
                    )
                    .await;
                    if rollback.succeeded {
                        result.status = Status::RolledBack;
                    }
                    result.rollback = Some(rollback);
                }
                return result;
            }
        }
        Outcome::Failed { message, .. } | Outcome::TimedOut { message, .. } => {
            result.rollout_message = Some(message.clone());
            say(&format!("rollout failed: {}", failure_reason(&outcome)));
            result.status = Status::Failed;
            result.reason = Some(failure_reason(&outcome));
            result.diagnosis = Some(
                diagnose(
                    cluster,
                    target,
                    &ready.namespace,
                    &outcome,
                    &seen,
                    deploy_started,
                )
                .await,
            );
            if changed && target.on_failure != OnFailure::None {
                let rollback = roll_back(
                    cluster,
                    target,
                    ready,
                    run_started,
                    &mut result.timeline,
                    &say,
                    Follow::UntilComplete,
                )
                .await;
                if rollback.succeeded {
                    result.status = Status::RolledBack;
                }
                result.rollback = Some(rollback);
            }
            return result;
        }
    }
    if !changed {
        result.status = Status::Unchanged;
    }
    match (&target.health, options.skip_health) {
        (Some(_), true) => {
            result.health = HealthState::Skipped;
            say("health gate SKIPPED (skip-health)");
        }
        (Some(gate), false) => {
            let health_start = run_started.elapsed();
            say(&format!("health gate: {} {}", gate.method, gate.url));
            let report = match crate::health::client() {
                Ok(client) => {
                    crate::health::run_gate(&client, gate, |attempt| {
                        say(&format!(
                            "health attempt {}: {}",
                            attempt.number,
                            attempt.outcome.describe()
                        ));
                    })
                    .await
                }
                Err(error) => {
                    result.status = Status::Failed;
                    result.reason = Some(format!("cannot start the health check client: {error}"));
                    return result;
                }
            };
            result.timeline.health = Some((health_start, run_started.elapsed()));
            let passed = report.passed;
            let critical = report.critical;
            say(&format!("health gate {}", report.summary()));
            let summary = report.summary();
            result.health = HealthState::Checked(report);
            if !passed {
                if critical {
                    result.status = Status::Failed;
                    result.reason = Some(format!("health gate {summary}"));
                    if changed && target.on_failure != OnFailure::None {
                        let rollback = roll_back(
                            cluster,
                            target,
                            ready,
                            run_started,
                            &mut result.timeline,
                            &say,
                            Follow::UntilComplete,
                        )
                        .await;
                        if rollback.succeeded {
                            result.status = Status::RolledBack;
                        }
                        result.rollback = Some(rollback);
                    }
                } else {
                    result.warnings.push(format!(
                        "non-critical health gate {summary}; not rolled back"
                    ));
                }
            }
        }
        (None, _) => {}
    }
    result
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

pub(super) fn failure_reason(outcome: &Outcome) -> String {
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

pub(super) fn progress_deadline(workload: &Value) -> Option<Duration> {
    workload["spec"]["progressDeadlineSeconds"]
        .as_u64()
        .map(Duration::from_secs)
}
