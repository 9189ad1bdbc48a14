//! `shipgate status`: what runs where. For every service with `deploy` settings, the workload as
//! the cluster has it (image, the digests its pods really run, the annotations a shipgate deploy
//! wrote, replicas, rollout state), whether it drifted, and how many commits of the checked-out
//! head it lacks.
//!
//! [`judge`] is pure: it takes what one LIST per kind per namespace returned ([`read`]) and
//! the registry's digests of mutable tags, and decides. [`behind`] counts commits with git.

pub mod behind;
pub mod read;
pub mod render;

use crate::config::model::WorkloadKind;
use crate::deploy::patch::{DEPLOYED_AT, REVISION, RUN_URL, VERSION};
use crate::deploy::pods::{self, PodPolicy};
use crate::deploy::rollout::{RolloutFailure, RolloutStatus, Workload, rollout_status};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One service's deploy settings, resolved against the cluster's default namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub service: String,
    pub namespace: String,
    pub kind: WorkloadKind,
    pub workload: String,
    /// `deploy.container`: `None` = the only container, else the one named like the service.
    pub container: Option<String>,
}

/// The rollout state, as `state` in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Complete,
    Progressing,
    /// Progress deadline exceeded, `ReplicaFailure`, or a pod of the newest template that will
    /// not recover (image pull, crash loop, config error).
    Failed,
    Paused,
    /// The workload does not exist.
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::Progressing => "progressing",
            State::Failed => "failed",
            State::Paused => "paused",
            State::Missing => "missing",
        }
    }
}

/// Pods running one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Running {
    pub digest: String,
    pub pods: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Replicas {
    pub desired: i64,
    pub ready: i64,
    pub updated: i64,
    pub available: i64,
}

/// One line of `shipgate status`: the JSON shape of `--format json` (issue #12 §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    pub namespace: String,
    pub kind: &'static str,
    pub workload: String,
    pub desired_image: Option<String>,
    pub running: Vec<Running>,
    pub revision: Option<String>,
    pub version: Option<String>,
    pub run_url: Option<String>,
    pub deployed_at: Option<String>,
    pub replicas: Replicas,
    pub state: State,
    pub drift: bool,
    /// Commits touching the service's paths since `revision`; `None` when unknown.
    pub behind: Option<usize>,
    /// Why `state` or `drift` is what it is (human output only).
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl ServiceStatus {
    /// `unhealthy` for `--fail-on`: failed, missing, paused, or fewer available than desired.
    pub fn unhealthy(&self) -> bool {
        matches!(self.state, State::Failed | State::Missing | State::Paused)
            || self.replicas.available < self.replicas.desired
    }
}

/// What a namespace's LISTs returned, for the workloads of one service.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The workload as JSON, `None` when it does not exist.
    pub workload: Option<&'a Value>,
    /// Every ReplicaSet of the namespace (only Deployments use them).
    pub replica_sets: &'a [ReplicaSet],
    /// Every pod of the namespace.
    pub pods: &'a [Pod],
}

/// Judges one service. `registry` maps a mutable image reference to the digest its registry
/// serves now (absent when unknown).
pub fn judge(
    subject: &Subject,
    observed: Observed<'_>,
    registry: &BTreeMap<String, String>,
    now: k8s_openapi::jiff::Timestamp,
) -> ServiceStatus {
    let mut status = ServiceStatus {
        name: subject.service.clone(),
        namespace: subject.namespace.clone(),
        kind: crate::deploy::target::kind_name(subject.kind),
        workload: subject.workload.clone(),
        desired_image: None,
        running: Vec::new(),
        revision: None,
        version: None,
        run_url: None,
        deployed_at: None,
        replicas: Replicas::default(),
        state: State::Missing,
        drift: false,
        behind: None,
        notes: Vec::new(),
    };
    let Some(json) = observed.workload else {
        status.notes.push(format!(
            "{} `{}` does not exist in namespace `{}`",
            status.kind, subject.workload, subject.namespace
        ));
        return status;
    };
    let annotation = |key: &str| {
        json["spec"]["template"]["metadata"]["annotations"][key]
            .as_str()
            .map(str::to_string)
    };
    status.revision = annotation(REVISION);
    status.version = annotation(VERSION);
    status.run_url = annotation(RUN_URL);
    status.deployed_at = annotation(DEPLOYED_AT);
    status.replicas = replicas(subject.kind, json);
    let containers = target_containers(subject, json);
    status.desired_image = containers.first().map(|(_, image)| image.clone());
    let Some(workload) = crate::deploy::watch::typed(subject.kind, json) else {
        status.state = State::Failed;
        status.notes.push("the workload cannot be read".into());
        return status;
    };
    let owned = owned_pods(&workload, observed.replica_sets, observed.pods);
    let new_rs = match &workload {
        Workload::Deployment(d) => pods::new_replica_set(d, observed.replica_sets),
        _ => None,
    };
    let new_pods: Vec<&Pod> = owned
        .iter()
        .copied()
        .filter(|p| pods::is_new_pod(&workload, new_rs, p))
        .collect();
    status.running = running(&owned, &containers);
    let (state, note) = state(&workload, &status.replicas, &new_pods, now);
    status.state = state;
    status.notes.extend(note);
    let expected = expected_digests(&containers, registry);
    let (drift, notes) = drift(&new_pods, &containers, &expected);
    status.drift = drift;
    status.notes.extend(notes);
    status
}

/// The containers shipgate sets the image of, as `(name, image)`: `deploy.container` (`*` =
/// all), else the only container, else the one named like the service.
fn target_containers(subject: &Subject, json: &Value) -> Vec<(String, String)> {
    let all: Vec<(String, String)> = json["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["image"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    match subject.container.as_deref().map(str::trim) {
        Some("*") => all,
        Some(name) if !name.is_empty() => all.into_iter().filter(|(n, _)| n == name).collect(),
        _ if all.len() == 1 => all,
        _ => all
            .into_iter()
            .filter(|(n, _)| *n == subject.service)
            .collect(),
    }
}

fn replicas(kind: WorkloadKind, json: &Value) -> Replicas {
    let number = |pointer: &str| json.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    match kind {
        WorkloadKind::DaemonSet => Replicas {
            desired: number("/status/desiredNumberScheduled"),
            ready: number("/status/numberReady"),
            updated: number("/status/updatedNumberScheduled"),
            available: number("/status/numberAvailable"),
        },
        WorkloadKind::Deployment | WorkloadKind::StatefulSet => Replicas {
            desired: json
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            ready: number("/status/readyReplicas"),
            updated: number("/status/updatedReplicas"),
            available: number("/status/availableReplicas"),
        },
    }
}

/// The pods the workload controls: a Deployment's through the ReplicaSets it controls, the
/// others directly (ownerReferences, as the garbage collector follows them).
fn owned_pods<'a>(
    workload: &Workload,
    replica_sets: &[ReplicaSet],
    all: &'a [Pod],
) -> Vec<&'a Pod> {
    let uid = workload.uid().unwrap_or_default();
    let controlled_by = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                         owner: &str| {
        meta.owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.uid == owner)
    };
    let owners: Vec<&str> = match workload {
        Workload::Deployment(_) => replica_sets
            .iter()
            .filter(|rs| controlled_by(&rs.metadata, uid))
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .collect(),
        _ => vec![uid],
    };
    all.iter()
        .filter(|pod| {
            pod.metadata.deletion_timestamp.is_none()
                && owners
                    .iter()
                    .any(|owner| controlled_by(&pod.metadata, owner))
        })
        .collect()
}

/// The digest of an `imageID` (`docker-pullable://repo@sha256:…`, `repo@sha256:…`,
/// `sha256:…`); `None` while the container has not started.
pub fn digest_of(image_id: &str) -> Option<String> {
    let digest = image_id.rsplit('@').next().unwrap_or(image_id);
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| digest.to_string())
}

/// The digests the target containers of `pods` run, with pod counts, most pods first.
fn running(pods: &[&Pod], containers: &[(String, String)]) -> Vec<Running> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods {
        let mut digests: Vec<String> = pod_digests(pod, containers)
            .into_iter()
            .map(|(_, digest)| digest)
            .collect();
        digests.sort();
        digests.dedup();
        for digest in digests {
            *counts.entry(digest).or_default() += 1;
        }
    }
    let mut running: Vec<Running> = counts
        .into_iter()
        .map(|(digest, pods)| Running { digest, pods })
        .collect();
    running.sort_by(|a, b| b.pods.cmp(&a.pods).then(a.digest.cmp(&b.digest)));
    running
}

/// `(container, digest)` of every started target container of a pod.
fn pod_digests(pod: &Pod, containers: &[(String, String)]) -> Vec<(String, String)> {
    pod.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter(|c| containers.iter().any(|(name, _)| *name == c.name))
        .filter_map(|c| digest_of(&c.image_id).map(|d| (c.name.clone(), d)))
        .collect()
}

/// complete / progressing / failed / paused, as issue #12 §7 defines them.
fn state(
    workload: &Workload,
    replicas: &Replicas,
    new_pods: &[&Pod],
    now: k8s_openapi::jiff::Timestamp,
) -> (State, Option<String>) {
    if let Workload::Deployment(d) = workload
        && d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
    {
        return (
            State::Paused,
            Some("paused (`kubectl rollout resume` continues it)".into()),
        );
    }
    let policy = PodPolicy::default();
    if let Some(problem) = new_pods
        .iter()
        .map(|pod| pods::judge_pod(pod, &policy, now))
        .find(|verdict| verdict.is_doomed())
        .and_then(|verdict| verdict.problem().cloned())
    {
        return (
            State::Failed,
            Some(format!(
                "pod {}: {} — {}",
                problem.pod, problem.reason, problem.message
            )),
        );
    }
    match rollout_status(workload, None) {
        RolloutStatus::Complete { .. } => (State::Complete, None),
        RolloutStatus::Waiting { message } => (State::Progressing, Some(message)),
        RolloutStatus::Failed {
            reason: RolloutFailure::UnsupportedStrategy,
            ..
        } => {
            if replicas.updated >= replicas.desired && replicas.available >= replicas.desired {
                (State::Complete, None)
            } else {
                (
                    State::Progressing,
                    Some("OnDelete: pods update only when deleted".into()),
                )
            }
        }
        RolloutStatus::Failed {
            reason: RolloutFailure::Paused,
            message,
        } => (State::Paused, Some(message)),
        RolloutStatus::Failed { message, .. } => (State::Failed, Some(message)),
    }
}

/// Per target container, the digest its pods must run: the one pinned in the spec
/// (`@sha256:`), else the registry's digest of a mutable tag when known.
fn expected_digests(
    containers: &[(String, String)],
    registry: &BTreeMap<String, String>,
) -> BTreeMap<String, (String, &'static str)> {
    containers
        .iter()
        .filter_map(|(name, image)| {
            if let Some((_, digest)) = image.rsplit_once('@') {
                return digest_of(digest).map(|d| (name.clone(), (d, "the digest the spec pins")));
            }
            registry.get(image).map(|d| {
                (
                    name.clone(),
                    (d.clone(), "the registry's digest of the tag"),
                )
            })
        })
        .collect()
}

/// Drift: a pod of the current template running another digest than expected, or — when
/// nothing says what to expect — the current template's pods running different digests.
fn drift(
    new_pods: &[&Pod],
    containers: &[(String, String)],
    expected: &BTreeMap<String, (String, &'static str)>,
) -> (bool, Vec<String>) {
    let mut notes = Vec::new();
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pod in new_pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| "?".into());
        for (container, digest) in pod_digests(pod, containers) {
            if let Some((wanted, source)) = expected.get(&container)
                && *wanted != digest
            {
                notes.push(format!(
                    "pod {name} on {node}: container {container} runs {}, not {} ({source})",
                    short_digest(&digest),
                    short_digest(wanted)
                ));
            }
            let list = seen.entry(container).or_default();
            if !list.contains(&digest) {
                list.push(digest);
            }
        }
    }
    for (container, digests) in &seen {
        if digests.len() > 1 && !expected.contains_key(container) {
            notes.push(format!(
                "container {container}: pods of the same template run {} different digests ({})",
                digests.len(),
                digests
                    .iter()
                    .map(|d| short_digest(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    (!notes.is_empty(), notes)
}

/// `sha256:` and the first 12 hex digits, as `docker images` shows digests.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

/// What `--fail-on` may name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOn {
    pub drift: bool,
    pub behind: bool,
    pub unhealthy: bool,
}

impl FailOn {
    /// `drift,behind,unhealthy` (any subset, comma or space separated).
    pub fn parse(text: &str) -> Result<FailOn, String> {
        let mut fail_on = FailOn::default();
        for word in text
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            match word {
                "drift" => fail_on.drift = true,
                "behind" => fail_on.behind = true,
                "unhealthy" => fail_on.unhealthy = true,
                other => {
                    return Err(format!(
                        "`--fail-on {other}`: expected a comma list of drift, behind, unhealthy"
                    ));
                }
            }
        }
        Ok(fail_on)
    }

    /// Why `status` fails under this setting (one line per service and reason); empty = exit 0.
    pub fn reasons(&self, statuses: &[ServiceStatus]) -> Vec<String> {
        let mut reasons = Vec::new();
        for s in statuses {
            if self.unhealthy && s.unhealthy() {
                reasons.push(format!(
                    "{}: unhealthy ({}, {}/{} available)",
                    s.name,
                    s.state.as_str(),
                    s.replicas.available,
                    s.replicas.desired
                ));
            }
            if self.drift && s.drift {
                reasons.push(format!("{}: drift", s.name));
            }
            if self.behind
                && let Some(count) = s.behind.filter(|c| *c > 0)
            {
                reasons.push(format!(
                    "{}: {count} commit{} behind",
                    s.name,
                    if count == 1 { "" } else { "s" }
                ));
            }
        }
        reasons
    }
}

#[cfg(test)]
mod tests;
