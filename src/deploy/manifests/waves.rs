//! The waves of a manifests deploy, under the lock: apply each wave in dependency order, watch
//! what moved (diagnosing a failed workload), run the wave's health gates, and record for each
//! service what happened ([`Happened`]) and for each failure whose it is ([`SetFailure`]).
//! The pure `deploy::settle` decides: whether the next wave starts (`continue-on-failure`),
//! whether the set is put back (`on-failure`), and each service's status. A cancel
//! (SIGINT/SIGTERM), `deploy-timeout` or a lost lock interrupts the waves; what was sent is
//! put back.

use super::apply::{Track, first_image, target_item};
use super::edge::{self, Conflicts, Mode};
use super::outcome::{Action, State};
use super::watch::Watched;
use crate::deploy::cluster::Cluster;
use crate::deploy::lock::LockWatch;
use crate::deploy::orchestrate::{Options, Progress};
use crate::deploy::result::{HealthState, Rollback, ServiceResult, Status};
use crate::deploy::settle::{
    Change, Gate, Happened, Rollout, SetFailure, next_wave_starts, set_rollback_due, settle,
};
use crate::deploy::target::DeployTarget;
use std::time::{Duration, Instant};

/// What every wave shares.
pub(super) struct Waves<'a> {
    pub cluster: &'a Cluster,
    pub targets: &'a [DeployTarget],
    pub conflicts: Conflicts,
    pub options: &'a Options,
    pub progress: &'a Progress,
    /// When `deploy-timeout` runs out.
    pub deadline: Option<Instant>,
    pub started: Instant,
    /// Tells when the deploy lock is lost.
    pub lock: Option<LockWatch>,
}

/// What the waves recorded so far.
struct Ledger {
    /// Per target: its result and what happened, once its wave ran.
    services: Vec<Option<(ServiceResult, Happened)>>,
    /// Every failure, whose it is and why.
    failures: Vec<(SetFailure, String)>,
    /// The next apply's sequence number (the rollback goes in reverse).
    sequence: usize,
}

impl Ledger {
    fn kinds(&self) -> Vec<SetFailure> {
        self.failures.iter().map(|(kind, _)| *kind).collect()
    }
}

/// Why the waves stopped before their end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interruption {
    Deadline,
    Cancelled,
    LockLost,
}

impl Interruption {
    fn reason(self) -> &'static str {
        match self {
            Interruption::Deadline => "the global deploy timeout elapsed before it finished",
            Interruption::Cancelled => "the run was cancelled (SIGINT/SIGTERM) before it finished",
            Interruption::LockLost => {
                "the deploy lock was lost before it finished; no more changes were sent"
            }
        }
    }
}

/// Runs the waves; every service's result, and whether everything succeeded.
pub(super) async fn run(w: &Waves<'_>, tracks: &mut [Track]) -> (Vec<ServiceResult>, bool) {
    let mut ledger = Ledger {
        services: vec![None; w.targets.len()],
        failures: Vec::new(),
        sequence: 0,
    };
    let interrupted = {
        let work = walk(w, tracks, &mut ledger);
        tokio::select! {
            () = work => None,
            () = until(w.deadline) => Some(Interruption::Deadline),
            () = crate::deploy::orchestrate::shutdown_signal() => Some(Interruption::Cancelled),
            () = lost(w.lock.clone()) => Some(Interruption::LockLost),
        }
    };
    if let Some(interruption) = interrupted {
        (w.progress)("manifests", &format!("warning: {}", interruption.reason()));
        ledger
            .failures
            .push((SetFailure::Shared, interruption.reason().into()));
    }
    let rolled_back = set_rollback_due(&ledger.kinds());
    if rolled_back {
        let first = ledger.failures.first().map_or("", |(_, why)| why.as_str());
        (w.progress)(
            "manifests",
            &format!("failed: {first}; putting the whole set back"),
        );
        // A cancelled job is killed seconds later: the rollback is sent, not watched.
        let watch = interrupted != Some(Interruption::Cancelled);
        super::rollback::roll_back(w.cluster, tracks, w.options, w.progress.clone(), watch).await;
    } else if let Some((_, first)) = ledger.failures.first() {
        (w.progress)(
            "manifests",
            &format!("failed: {first}; nothing put back (on-failure: none)"),
        );
    }
    let succeeded = ledger.failures.is_empty();
    let results = finish(w, tracks, ledger, rolled_back, interrupted);
    (results, succeeded)
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn lost(lock: Option<LockWatch>) {
    match lock {
        Some(watch) => {
            watch.lost().await;
        }
        None => std::future::pending().await,
    }
}

/// The waves in order, until `settle` says the next one must not start.
async fn walk(w: &Waves<'_>, tracks: &mut [Track], ledger: &mut Ledger) {
    let manifests: Vec<super::object::Manifest> =
        tracks.iter().map(|t| t.item.manifest.clone()).collect();
    let waves: Vec<u32> = tracks.iter().map(|t| t.item.wave).collect();
    for (wave, members) in super::order::apply_order(&manifests, &waves) {
        if !next_wave_starts(&ledger.kinds(), w.options.continue_on_failure) {
            break;
        }
        let refused = apply_wave(w, tracks, &members, &mut ledger.sequence).await;
        let watched = if refused.is_none() {
            let view = tracks
                .iter()
                .map(|t| (t.item.clone(), t.applied.clone()))
                .collect();
            super::watch::watch_wave(w, view, &members).await
        } else {
            Vec::new()
        };
        let mut outcomes: Vec<Option<Watched>> = vec![None; tracks.len()];
        for (index, outcome) in watched {
            tracks[index].detail = Some(outcome.message.clone());
            tracks[index].diagnosis.clone_from(&outcome.diagnosis);
            if !outcome.ok {
                tracks[index].state = State::Failed(outcome.message.clone());
            }
            outcomes[index] = Some(outcome);
        }
        // Failures of objects no service names are the set's.
        for &index in &members {
            let track = &tracks[index];
            let owned = w
                .targets
                .iter()
                .any(|t| target_item(tracks, t) == Some(index));
            if let (State::Failed(message), false) = (&track.state, owned) {
                let why = format!("{}: {message}", track.item.manifest.id());
                ledger.failures.push((SetFailure::Shared, why));
            }
        }
        let step = WaveStep {
            wave,
            refused,
            outcomes: &outcomes,
        };
        services_of_wave(w, tracks, &step, ledger).await;
    }
}

/// What one wave did, for its services' records.
struct WaveStep<'a> {
    wave: u32,
    /// The object the server refused, which stopped the wave.
    refused: Option<usize>,
    outcomes: &'a [Option<Watched>],
}

/// Each service of the wave: what happened to its workload, then its gate.
async fn services_of_wave(
    w: &Waves<'_>,
    tracks: &[Track],
    step: &WaveStep<'_>,
    ledger: &mut Ledger,
) {
    let members: Vec<usize> = (0..w.targets.len())
        .filter(|&i| w.targets[i].wave == step.wave)
        .collect();
    let mut records: Vec<(usize, ServiceResult, Happened)> = members
        .iter()
        .map(|&i| {
            let (result, happened) = observe(tracks, &w.targets[i], step);
            (i, result, happened)
        })
        .collect();
    // The gates of the services whose rollout did not fail, at once.
    let gated: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, (_, result, happened))| {
            result.status != Status::Skipped && !happened.failed() && step.refused.is_none()
        })
        .map(|(position, _)| position)
        .collect();
    let gate_targets: Vec<&DeployTarget> =
        gated.iter().map(|&p| &w.targets[records[p].0]).collect();
    let start = w.started.elapsed();
    let reports =
        super::watch::gates(w.cluster, &gate_targets, w.options, w.progress.clone()).await;
    let end = w.started.elapsed();
    for (&position, report) in gated.iter().zip(reports) {
        let (index, result, happened) = &mut records[position];
        let target = &w.targets[*index];
        match report {
            Some(report) => {
                result.timeline.health = Some((start, end));
                happened.gate = match (report.passed, report.critical) {
                    (true, _) => Gate::Passed,
                    (false, true) => {
                        result.reason = Some(format!("health gate {}", report.summary()));
                        Gate::Failed
                    }
                    (false, false) => {
                        result.warnings.push(format!(
                            "non-critical health gate {}; not rolled back",
                            report.summary()
                        ));
                        Gate::FailedNonCritical
                    }
                };
                result.health = HealthState::Checked(report);
            }
            None if w.options.skip_health && target.health.is_some() => {
                result.health = HealthState::Skipped;
            }
            None => {}
        }
    }
    for (index, result, happened) in records {
        if happened.failed() {
            let why = format!(
                "{}: {}",
                result.service,
                result.reason.clone().unwrap_or_else(|| "failed".into())
            );
            ledger
                .failures
                .push((SetFailure::Service(w.targets[index].on_failure), why));
        }
        ledger.services[index] = Some((result, happened));
    }
}

/// What happened to a service's workload in its wave (before its gate).
fn observe(
    tracks: &[Track],
    target: &DeployTarget,
    step: &WaveStep<'_>,
) -> (ServiceResult, Happened) {
    let mut result = super::apply::service_result(tracks, target);
    let Some(index) = target_item(tracks, target) else {
        return (result, Happened::new(Change::NotNeeded));
    };
    let track = &tracks[index];
    let change = if step.refused == Some(index) {
        Change::Refused
    } else if track.applied.is_none() {
        result.status = Status::Skipped;
        result.reason = Some("not applied: the server refused an object before it".into());
        return (result, Happened::new(Change::NotNeeded));
    } else if track.item.action == Action::Unchanged {
        Change::NotNeeded
    } else {
        Change::Sent
    };
    let mut happened = Happened::new(change);
    happened.rollout = match &step.outcomes[index] {
        Some(watched) => {
            result.timeline.rollout = watched.span;
            result.rollout = watched.span.map(|(start, end)| end.saturating_sub(start));
            result.diagnosis = watched.diagnosis.clone();
            result.digest = watched.digest.clone();
            result.warnings.extend(watched.warnings.iter().cloned());
            if watched.ok {
                Rollout::Complete
            } else {
                result.reason = Some(watched.message.clone());
                Rollout::Failed
            }
        }
        // Applied, but the wave stopped at a refusal before anything was watched.
        None if step.refused.is_some() && change == Change::Sent => {
            result.reason = Some("its wave stopped: the server refused an object".into());
            Rollout::Interrupted
        }
        None => Rollout::NotWatched,
    };
    (result, happened)
}

/// Applies one wave in dependency order; the first refusal stops it (its index).
async fn apply_wave(
    w: &Waves<'_>,
    tracks: &mut [Track],
    members: &[usize],
    sequence: &mut usize,
) -> Option<usize> {
    for &index in members {
        let track = &mut tracks[index];
        let id = track.item.manifest.id();
        match track.item.action {
            Action::Unchanged => {
                track.state = State::Unchanged;
                continue;
            }
            Action::Prune => continue,
            Action::Create | Action::Change | Action::Recreate => {}
        }
        let api = edge::api(w.cluster.client(), &track.item.resolved, &id);
        // From here the object may change: an interrupted run puts it back too.
        track.sent = Some(*sequence);
        *sequence += 1;
        if track.item.action == Action::Recreate {
            if let Err(error) = edge::delete(&api, &id.name).await {
                track.state =
                    State::Failed(format!("cannot delete it to create it again: {error}"));
                return Some(index);
            }
            wait_gone(&api, &id.name).await;
        }
        match edge::apply(&api, &track.item.manifest.object, Mode::Apply, w.conflicts).await {
            Ok(applied) => {
                let verb = if track.item.live.is_none() {
                    "created"
                } else {
                    "configured"
                };
                (w.progress)(&id.to_string(), verb);
                track.applied = Some(applied);
                track.state = State::Applied;
            }
            Err(error) => {
                track.state = State::Failed(format!("the server refused it: {error}"));
                return Some(index);
            }
        }
    }
    None
}

async fn wait_gone(api: &kube::Api<kube::api::DynamicObject>, name: &str) {
    for _ in 0..100 {
        if matches!(edge::get(api, name).await, Ok(None)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every service's final result: the rollback of the set recorded, the status from `settle`.
fn finish(
    w: &Waves<'_>,
    tracks: &[Track],
    ledger: Ledger,
    rolled_back: bool,
    interrupted: Option<Interruption>,
) -> Vec<ServiceResult> {
    let first = ledger
        .failures
        .first()
        .map(|(_, why)| why.clone())
        .unwrap_or_default();
    let Ledger { services, .. } = ledger;
    services
        .into_iter()
        .zip(w.targets)
        .map(|(record, target)| {
            let index = target_item(tracks, target);
            let (mut result, mut happened) = match record {
                Some(record) => record,
                None => match unfinished(tracks, target, index, interrupted) {
                    Some(record) => record,
                    None => {
                        let reason = if first.is_empty() {
                            "not deployed".to_string()
                        } else {
                            format!("not deployed: {first}")
                        };
                        return ServiceResult::skipped(&target.service, target.wave, reason);
                    }
                },
            };
            if rolled_back && happened.change == Change::Sent {
                happened.rollback_requested = true;
                let state = index.map(|i| &tracks[i].state);
                let restored = matches!(state, Some(State::Restored | State::Removed));
                happened.rollback = Some(restored);
                result.rollback = Some(Rollback {
                    succeeded: restored,
                    message: state.map_or_else(String::new, State::describe),
                });
                if !happened.failed() {
                    result
                        .reason
                        .get_or_insert_with(|| format!("rolled back with the whole set: {first}"));
                }
            }
            result.status = settle(&happened);
            result
        })
        .collect()
}

/// A service whose wave an interruption cut short: its workload's apply may have been sent.
fn unfinished(
    tracks: &[Track],
    target: &DeployTarget,
    index: Option<usize>,
    interrupted: Option<Interruption>,
) -> Option<(ServiceResult, Happened)> {
    let interruption = interrupted?;
    let track = &tracks[index?];
    track.sent?;
    let mut result = ServiceResult::new(&target.service, target.wave, Status::Failed);
    result.workload = Some(track.item.manifest.id().to_string());
    result.image_before = track.item.live.as_ref().and_then(first_image);
    result.image_after = first_image(&track.item.manifest.object);
    result.reason = Some(interruption.reason().into());
    let mut happened = Happened::new(if track.item.action == Action::Unchanged {
        Change::NotNeeded
    } else {
        Change::Sent
    });
    happened.rollout = Rollout::Interrupted;
    Some((result, happened))
}
