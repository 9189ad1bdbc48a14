//! The manifests deploy: prepare (dry run of everything), lock, then wave by wave apply in
//! dependency order, watch every workload whose spec moved (the existing rollout watch, with
//! its fail-fast classes), wait for Jobs, run the services' health gates; on a failure restore
//! every changed object to its snapshot (server-side apply, manager `shipgate`) and delete
//! every object this run created, then say exactly what is in the cluster.

use super::edge::{self, Conflicts, Mode};
use super::outcome::{Action, ObjectResult, State};
use super::prepare::{Item, Request, prepare};
use super::substitute::Substitution;
use crate::config::model::WorkloadKind;
use crate::deploy::cluster::Cluster;
use crate::deploy::pods::PodPolicy;
use crate::deploy::run::{self, Options, Progress, Report};
use crate::deploy::target::DeployTarget;
use crate::deploy::watch::{self, Outcome as WatchOutcome};
use serde_json::Value;
use std::time::{Duration, Instant};

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

/// What the locked part of the run needs.
struct Locked<'a> {
    request: &'a Request,
    targets: &'a [DeployTarget],
    options: &'a Options,
    progress: &'a Progress,
    records: &'a super::prepare::Records,
    /// When `deploy-timeout` runs out.
    deadline: Option<Instant>,
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
    let mut services = Vec::new();
    let conflicts = locked.request.conflicts;
    let succeeded = run_waves(
        cluster,
        tracks,
        locked.targets,
        conflicts,
        options,
        progress,
        locked.deadline,
        &mut services,
    )
    .await;
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
    }
}

fn target_item(tracks: &[Track], target: &DeployTarget) -> Option<usize> {
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

/// Applies one wave in dependency order; the first refusal stops it.
async fn apply_wave(
    cluster: &Cluster,
    tracks: &mut [Track],
    members: &[usize],
    conflicts: Conflicts,
    progress: &Progress,
) -> Result<(), String> {
    for &index in members {
        let track = &mut tracks[index];
        let id = track.item.manifest.id();
        if track.item.action == Action::Unchanged {
            track.state = State::Unchanged;
            continue;
        }
        if track.item.action == Action::Prune {
            continue;
        }
        let api = edge::api(cluster.client(), &track.item.resolved, &id);
        if track.item.action == Action::Recreate {
            edge::delete(&api, &id.name)
                .await
                .map_err(|e| format!("{id}: cannot delete it to create it again: {e}"))?;
            wait_gone(&api, &id.name).await;
        }
        match edge::apply(&api, &track.item.manifest.object, Mode::Apply, conflicts).await {
            Ok(applied) => {
                progress(
                    &id.to_string(),
                    if track.item.live.is_none() {
                        "created"
                    } else {
                        "configured"
                    },
                );
                track.applied = Some(applied);
                track.state = State::Applied;
            }
            Err(error) => {
                track.state = State::Failed(format!("the server refused it: {error}"));
                return Err(format!("{id}: the server refused it: {error}"));
            }
        }
    }
    Ok(())
}

async fn wait_gone(api: &kube::Api<kube::api::DynamicObject>, name: &str) {
    for _ in 0..100 {
        if matches!(edge::get(api, name).await, Ok(None)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_waves(
    cluster: &Cluster,
    tracks: &mut [Track],
    targets: &[DeployTarget],
    conflicts: Conflicts,
    options: &Options,
    progress: &Progress,
    deadline: Option<Instant>,
    services: &mut Vec<crate::deploy::result::ServiceResult>,
) -> bool {
    let manifests: Vec<super::object::Manifest> =
        tracks.iter().map(|t| t.item.manifest.clone()).collect();
    let waves: Vec<u32> = tracks.iter().map(|t| t.item.wave).collect();
    let order = super::order::apply_order(&manifests, &waves);
    let mut applied_order: Vec<usize> = Vec::new();
    let mut failure: Option<String> = None;
    for (wave, members) in &order {
        if failure.is_some() {
            break;
        }
        applied_order.extend(members.iter().copied());
        if let Err(error) = apply_wave(cluster, tracks, members, conflicts, progress).await {
            failure = Some(error);
            break;
        }
        let watched = super::watch::watch_wave(
            cluster,
            tracks_view(tracks),
            members,
            targets,
            options,
            deadline,
            progress.clone(),
        )
        .await;
        for (index, outcome) in watched {
            tracks[index].detail = Some(outcome.message.clone());
            if !outcome.ok {
                tracks[index].state = State::Failed(outcome.message.clone());
                failure.get_or_insert(format!(
                    "{}: {}",
                    tracks[index].item.manifest.id(),
                    outcome.message
                ));
            }
        }
        let gated = wave_gates(tracks, targets, *wave, options, progress).await;
        for (service, gate_failure) in gated {
            if let Some(message) = gate_failure {
                failure.get_or_insert(message);
            }
            services.push(service);
        }
    }
    let Some(failure) = failure else {
        return true;
    };
    progress("manifests", &format!("failed: {failure}; rolling back"));
    super::rollback::roll_back(cluster, tracks, &applied_order, options, progress.clone()).await;
    let restored = !tracks
        .iter()
        .any(|t| matches!(t.state, State::RestoreFailed(_)));
    after_failure(services, targets, &failure, restored);
    false
}

/// The health gates of one wave's services, with each service's result and, when a critical
/// gate failed, why.
async fn wave_gates(
    tracks: &[Track],
    targets: &[DeployTarget],
    wave: u32,
    options: &Options,
    progress: &Progress,
) -> Vec<(crate::deploy::result::ServiceResult, Option<String>)> {
    let wave_targets: Vec<&DeployTarget> = targets.iter().filter(|t| t.wave == wave).collect();
    let gates = super::watch::gates(&wave_targets, options, progress.clone()).await;
    let mut results = Vec::new();
    for (target, result) in wave_targets.iter().zip(gates) {
        let mut service = service_result(tracks, target);
        let mut failure = None;
        if let Some(report) = result {
            if !report.passed && report.critical {
                failure = Some(format!(
                    "{}: health gate {}",
                    target.service,
                    report.summary()
                ));
                service.status = crate::deploy::result::Status::Failed;
                service.reason = Some(format!("health gate {}", report.summary()));
            }
            service.health = crate::deploy::result::HealthState::Checked(report);
        } else if options.skip_health && target.health.is_some() {
            service.health = crate::deploy::result::HealthState::Skipped;
        }
        results.push((service, failure));
    }
    results
}

/// After the rollback: what changed is rolled back; services never reached say why.
fn after_failure(
    services: &mut Vec<crate::deploy::result::ServiceResult>,
    targets: &[DeployTarget],
    failure: &str,
    restored: bool,
) {
    use crate::deploy::result::{ServiceResult, Status};
    for service in services.iter_mut().filter(|_| restored) {
        match service.status {
            Status::Succeeded => {
                service.status = Status::RolledBack;
                service
                    .reason
                    .get_or_insert_with(|| format!("rolled back with the whole set: {failure}"));
            }
            Status::Failed => service.status = Status::RolledBack,
            _ => {}
        }
    }
    let missing: Vec<&DeployTarget> = targets
        .iter()
        .filter(|t| !services.iter().any(|s| s.service == t.service))
        .collect();
    for target in missing {
        services.push(ServiceResult::skipped(
            &target.service,
            target.wave,
            format!("not deployed: {failure}"),
        ));
    }
}

fn tracks_view(tracks: &[Track]) -> Vec<(Item, Option<Value>)> {
    tracks
        .iter()
        .map(|t| (t.item.clone(), t.applied.clone()))
        .collect()
}

fn service_result(tracks: &[Track], target: &DeployTarget) -> crate::deploy::result::ServiceResult {
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

fn first_image(object: &Value) -> Option<String> {
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

pub(super) fn describe(outcome: &WatchOutcome) -> String {
    match outcome {
        WatchOutcome::Complete { message } => message.trim().to_string(),
        other => crate::deploy::service::failure_reason(other),
    }
}

pub(super) fn settings(
    target: Option<&DeployTarget>,
    object: &Value,
    generation: Option<i64>,
    options: &Options,
) -> watch::Settings {
    let timeout = target.and_then(|t| t.timeout).unwrap_or_else(|| {
        crate::deploy::service::progress_deadline(object).unwrap_or(run::DEFAULT_PROGRESS_DEADLINE)
            + run::DEADLINE_MARGIN
    });
    watch::Settings {
        timeout,
        generation,
        policy: policy(target, options),
        throttle: options.throttle,
    }
}
