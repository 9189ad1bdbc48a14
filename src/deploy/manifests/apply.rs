//! The manifests deploy: prepare (dry run of everything), lock, then wave by wave apply in
//! dependency order, watch every workload whose spec moved (the existing rollout watch, with
//! its fail-fast classes), wait for Jobs, run the services' health gates; on a failure restore
//! every changed object to its snapshot (server-side apply, manager `shipgate`) and delete
//! every object this run created, then say exactly what is in the cluster.

use super::edge;
use super::outcome::{Action, ObjectResult, State};
use super::prepare::{Item, Request, prepare};
use super::substitute::Substitution;
use crate::config::model::WorkloadKind;
use crate::deploy::cluster::Cluster;
use crate::deploy::orchestrate::{self, Options, Progress, Report};
use crate::deploy::pods::PodPolicy;
use crate::deploy::target::DeployTarget;
use crate::deploy::watch::{self, Outcome as WatchOutcome};
use serde_json::Value;
use std::time::Instant;

/// Everything the deploy did.
pub struct Outcome {
    pub report: Report,
    pub objects: Vec<ObjectResult>,
    pub substitutions: Vec<Substitution>,
}

/// One object's progress through the run.
pub(super) struct Track {
    pub item: Item,
    pub state: State,
    /// What the server stored when this run applied it.
    pub applied: Option<Value>,
    pub detail: Option<String>,
    /// When its apply was sent (the order of the run's applies), if it was: an interrupted
    /// run puts back everything sent, answered or not.
    pub sent: Option<usize>,
    /// A failed workload's diagnosis.
    pub diagnosis: Option<crate::deploy::diagnosis::Diagnosis>,
}

fn workload_kind(kind: &str) -> Option<WorkloadKind> {
    match kind {
        "Deployment" => Some(WorkloadKind::Deployment),
        "StatefulSet" => Some(WorkloadKind::StatefulSet),
        "DaemonSet" => Some(WorkloadKind::DaemonSet),
        _ => None,
    }
}

/// Runs the manifests deploy; `Err` are usage errors found before anything changed.
pub async fn deploy(
    cluster: &Cluster,
    request: &Request,
    targets: &[DeployTarget],
    options: &Options,
    progress: Progress,
) -> Result<Outcome, Vec<String>> {
    let started = Instant::now();
    let mut report = Report {
        server: cluster.server.clone(),
        ..Report::default()
    };
    report.server_version = Some(cluster.version().await.map_err(|e| {
        vec![format!(
            "the Kubernetes API at {} does not answer: {e}",
            cluster.server
        )]
    })?);
    gate_rights(cluster, targets).await?;
    progress(
        "manifests",
        &format!(
            "{} objects rendered; server-side dry run",
            request.manifests.len()
        ),
    );
    let (items, substitutions, records) = prepare(cluster, request).await?;
    let mut namespaces: Vec<String> = items
        .iter()
        .filter_map(|i| i.manifest.id().namespace)
        .collect();
    namespaces.sort();
    namespaces.dedup();
    report.namespaces = namespaces.clone();
    // A namespace this run creates cannot hold the lock's Lease yet (and nobody else deploys
    // into a namespace that does not exist).
    namespaces.retain(|namespace| {
        !items.iter().any(|i| {
            i.manifest.kind() == "Namespace"
                && i.live.is_none()
                && i.manifest.id().name == *namespace
        })
    });
    let mut tracks: Vec<Track> = items
        .into_iter()
        .map(|item| Track {
            state: State::NotApplied,
            applied: None,
            detail: None,
            sent: None,
            diagnosis: None,
            item,
        })
        .collect();
    if options.dry_run {
        for track in &mut tracks {
            track.state = State::Previewed;
        }
        report.services = dry_run_services(targets, &tracks);
    } else {
        let locked = Locked {
            request,
            targets,
            options,
            progress: &progress,
            records: &records,
            deadline: options.deadline.map(|d| started + d),
            started,
        };
        apply_locked(cluster, &mut tracks, &namespaces, &locked, &mut report).await;
        if report.lock_error.is_none() {
            let extra = image_services(request, targets, &substitutions, &tracks);
            report.services.extend(extra);
        }
    }
    report.elapsed = started.elapsed();
    let objects = tracks.into_iter().map(result_of).collect();
    Ok(Outcome {
        report,
        objects,
        substitutions,
    })
}

/// The rights in-cluster health gates need (`create pods/portforward`, `get services`), checked
/// before the dry run like the set-image deploy's preflight: a missing one is a usage error
/// with nothing changed, not a gate that fails after the whole set was applied.
async fn gate_rights(cluster: &Cluster, targets: &[DeployTarget]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for target in targets {
        let namespace = target
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.default_namespace.clone());
        for problem in crate::deploy::preflight::gate_rbac(cluster, target, &namespace).await {
            problems.push(match problem.help {
                Some(help) => format!("{}: {help}", problem.message),
                None => problem.message,
            });
        }
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems),
    }
}

/// What the locked part of the run needs.
struct Locked<'a> {
    request: &'a Request,
    targets: &'a [DeployTarget],
    options: &'a Options,
    progress: &'a Progress,
    records: &'a super::prepare::Records,
    /// When `deploy-timeout` runs out.
    deadline: Option<Instant>,
    started: Instant,
}

/// Under the deploy lock: the waves, prune when they all succeeded, the prune records.
async fn apply_locked(
    cluster: &Cluster,
    tracks: &mut [Track],
    namespaces: &[String],
    locked: &Locked<'_>,
    report: &mut Report,
) {
    let progress = locked.progress;
    let options = locked.options;
    let lock = match crate::deploy::lock::acquire(
        cluster,
        namespaces,
        &options.holder,
        options.lock_timeout,
        options.lock_poll,
        |line| progress("lock", line),
    )
    .await
    {
        Ok(lock) => lock,
        Err(error) => {
            report.lock_error = Some(error.to_string());
            return;
        }
    };
    let waves = super::waves::Waves {
        cluster,
        targets: locked.targets,
        conflicts: locked.request.conflicts,
        options,
        progress,
        deadline: locked.deadline,
        started: locked.started,
        lock: Some(lock.watch()),
    };
    let (services, succeeded) = super::waves::run(&waves, tracks).await;
    report.services = services;
    if succeeded {
        prune(cluster, tracks, progress).await;
    }
    let kept: Vec<_> = tracks
        .iter()
        .filter(|t| matches!(t.state, State::Applied | State::Unchanged | State::Restored))
        .map(|t| t.item.manifest.id())
        .collect();
    let pruned: Vec<_> = tracks
        .iter()
        .filter(|t| t.state == State::Deleted)
        .map(|t| t.item.manifest.id())
        .collect();
    let namespace = &locked.request.default_namespace;
    let problems =
        super::prepare::write_records(cluster.client(), locked.records, &kept, &pruned, namespace)
            .await;
    report.notices.extend(problems);
    lock.release().await;
}

/// Planned services without `deploy` settings whose images are in the manifests (a migration
/// Job's image, say): their result is that of their objects.
fn image_services(
    request: &Request,
    targets: &[DeployTarget],
    substitutions: &[Substitution],
    tracks: &[Track],
) -> Vec<crate::deploy::result::ServiceResult> {
    use crate::deploy::result::{ServiceResult, Status};
    let mut results = Vec::new();
    for planned in request
        .planned
        .iter()
        .filter(|p| !targets.iter().any(|t| t.service == p.service))
    {
        let objects: Vec<&Track> = tracks
            .iter()
            .filter(|t| {
                let id = t.item.manifest.id();
                substitutions
                    .iter()
                    .any(|s| s.object == id && s.reason.service() == planned.service)
            })
            .collect();
        let Some(first) = objects.first() else {
            continue;
        };
        let failed = objects.iter().find_map(|t| match &t.state {
            State::Failed(message) | State::RestoreFailed(message) => Some(message.clone()),
            _ => None,
        });
        let status = if failed.is_some() {
            Status::Failed
        } else if objects
            .iter()
            .any(|t| matches!(t.state, State::Restored | State::Removed))
        {
            Status::RolledBack
        } else if objects.iter().all(|t| t.state == State::Unchanged) {
            Status::Unchanged
        } else if objects.iter().any(|t| t.state == State::Applied) {
            Status::Succeeded
        } else {
            Status::Skipped
        };
        let mut result = ServiceResult::new(&planned.service, first.item.wave, status);
        result.workload = Some(
            objects
                .iter()
                .map(|t| t.item.manifest.id().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
        result.image_after = Some(planned.image.clone());
        result.reason = failed.or_else(|| {
            (status == Status::Skipped).then(|| "not applied: an earlier step failed".into())
        });
        results.push(result);
    }
    results
}

/// Deletes the prune items, dependents first (reverse apply order).
async fn prune(cluster: &Cluster, tracks: &mut [Track], progress: &Progress) {
    let kinds: Vec<String> = tracks
        .iter()
        .map(|t| t.item.manifest.kind().to_string())
        .collect();
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    for index in super::order::delete_order(&kinds) {
        let track = &mut tracks[index];
        if track.item.action != Action::Prune {
            continue;
        }
        let id = track.item.manifest.id();
        let api = edge::api(cluster.client(), &track.item.resolved, &id);
        track.state = match edge::delete(&api, &id.name).await {
            Ok(()) => {
                progress(&id.to_string(), "pruned");
                State::Deleted
            }
            Err(error) => State::Failed(format!("cannot prune it: {error}")),
        };
    }
}

fn result_of(track: Track) -> ObjectResult {
    let id = track.item.manifest.id();
    let preview = Some(&track.item.preview).filter(|p| !p.is_null());
    let diff = super::diff::unified(&id.to_string(), track.item.live.as_ref(), preview);
    ObjectResult {
        object: id,
        wave: track.item.wave,
        action: track.item.action,
        state: track.state,
        diff: Some(diff),
        detail: track.detail,
        diagnosis: track.diagnosis,
    }
}

pub(super) fn target_item(tracks: &[Track], target: &DeployTarget) -> Option<usize> {
    tracks.iter().position(|t| {
        let id = t.item.manifest.id();
        id.kind == crate::deploy::target::kind_name(target.kind)
            && id.name == target.name
            && target
                .namespace
                .as_ref()
                .is_none_or(|n| id.namespace.as_ref() == Some(n))
    })
}

fn dry_run_services(
    targets: &[DeployTarget],
    tracks: &[Track],
) -> Vec<crate::deploy::result::ServiceResult> {
    targets
        .iter()
        .map(|target| {
            let mut result = crate::deploy::result::ServiceResult::skipped(
                &target.service,
                target.wave,
                "dry run: the diff shown would be applied",
            );
            if let Some(index) = target_item(tracks, target) {
                result.workload = Some(tracks[index].item.manifest.id().to_string());
            }
            result.image_after = Some(target.image.clone());
            if let Some(gate) = &target.health {
                result.health = crate::deploy::result::HealthState::WouldCheck(
                    crate::deploy::result::describe_gate(gate),
                );
            }
            result
        })
        .collect()
}

pub(super) fn service_result(
    tracks: &[Track],
    target: &DeployTarget,
) -> crate::deploy::result::ServiceResult {
    use crate::deploy::result::{ServiceResult, Status};
    let Some(index) = target_item(tracks, target) else {
        return ServiceResult::skipped(
            &target.service,
            target.wave,
            format!(
                "its workload {} is not in the rendered manifests",
                target.workload()
            ),
        );
    };
    let track = &tracks[index];
    let status = match (&track.state, track.item.action) {
        (State::Failed(_), _) => Status::Failed,
        (_, Action::Unchanged) => Status::Unchanged,
        _ => Status::Succeeded,
    };
    let mut result = ServiceResult::new(&target.service, target.wave, status);
    result.workload = Some(track.item.manifest.id().to_string());
    result.image_before = track.item.live.as_ref().and_then(first_image);
    result.image_after = first_image(&track.item.manifest.object);
    result.rollout_message = track.detail.clone();
    if let State::Failed(message) = &track.state {
        result.reason = Some(message.clone());
    }
    result
}

pub(super) fn first_image(object: &Value) -> Option<String> {
    super::substitute::containers(object)
        .into_iter()
        .find(|(init, _, _)| !init)
        .map(|(_, _, image)| image)
}

/// The pod policy of a workload: its service's, else the defaults.
pub(super) fn policy(target: Option<&DeployTarget>, options: &Options) -> PodPolicy {
    PodPolicy {
        fail_after_restarts: target.map_or(0, |t| t.fail_after_restarts),
        unschedulable_grace: options.unschedulable_grace,
    }
}

pub(super) fn kind_of(kind: &str) -> Option<WorkloadKind> {
    workload_kind(kind)
}

pub(crate) fn describe(outcome: &WatchOutcome) -> String {
    match outcome {
        WatchOutcome::Complete { message } => message.trim().to_string(),
        other => crate::deploy::service::failure_reason(other),
    }
}

pub(crate) fn settings(
    target: Option<&DeployTarget>,
    object: &Value,
    generation: Option<i64>,
    options: &Options,
) -> watch::Settings {
    let timeout = target.and_then(|t| t.timeout).unwrap_or_else(|| {
        crate::deploy::service::progress_deadline(object)
            .unwrap_or(orchestrate::DEFAULT_PROGRESS_DEADLINE)
            + orchestrate::DEADLINE_MARGIN
    });
    watch::Settings {
        timeout,
        generation,
        policy: policy(target, options),
        throttle: options.throttle,
    }
}
