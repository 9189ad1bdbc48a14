//! Watches one workload's rollout to its verdict: the workload itself, its ReplicaSets and its
//! pods through kube-rs watchers (which re-list after `410 Gone` and reconnect after a dropped
//! stream), judged after every event by kubectl's rollout-status logic and the fail-fast pod
//! rules. A doomed pod ends the watch at once instead of at the progress deadline.

use super::cluster::{Cluster, to_json};
use super::pods::{self, PodPolicy, PodProblem, PodVerdict};
use super::rollout::{RolloutStatus, Workload};
use crate::config::model::WorkloadKind;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// How a watched rollout ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// kubectl's success message.
    Complete { message: String },
    /// A verdict before the deadline: a doomed pod, a deadline the controller declared, a
    /// paused workload, a deleted one.
    Failed {
        reason: String,
        message: String,
        problems: Vec<PodProblem>,
    },
    /// Our own timeout; `message` is the last progress message.
    TimedOut { after: Duration, message: String },
}

impl Outcome {
    pub fn is_complete(&self) -> bool {
        matches!(self, Outcome::Complete { .. })
    }
}

/// What the watch saw last, for the diagnosis.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub workload: Option<Value>,
    pub new_replica_set: Option<String>,
    /// The pods of the new rollout.
    pub new_pods: Vec<Pod>,
    /// Warnings raised on the way (unschedulable pods within their grace window).
    pub warnings: Vec<String>,
    /// The last watch error, if the API misbehaved.
    pub last_error: Option<String>,
}

pub struct Settings {
    pub timeout: Duration,
    /// The generation our change produced: a later one means someone else changed the spec
    /// during the rollout, and what completes is no longer what we deployed.
    pub generation: Option<i64>,
    pub policy: PodPolicy,
    /// The least time between two progress lines of one service.
    pub throttle: Duration,
}

type Events<K> = Pin<Box<dyn Stream<Item = Result<Event<K>, watcher::Error>> + Send>>;

/// A map of objects kept in step with a watch, re-built on every re-list.
struct Mirror<K> {
    objects: BTreeMap<String, K>,
    listing: Option<BTreeMap<String, K>>,
}

impl<K: kube::Resource> Mirror<K> {
    fn new() -> Self {
        Mirror {
            objects: BTreeMap::new(),
            listing: None,
        }
    }

    /// Applies one event; true when the mirror changed in a way worth judging.
    fn apply(&mut self, event: Event<K>) -> bool {
        let key = |object: &K| object.meta().name.clone().unwrap_or_default();
        match event {
            Event::Apply(object) => {
                self.objects.insert(key(&object), object);
                true
            }
            Event::Delete(object) => {
                self.objects.remove(&key(&object));
                true
            }
            Event::Init => {
                self.listing = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                if let Some(listing) = &mut self.listing {
                    listing.insert(key(&object), object);
                }
                false
            }
            Event::InitDone => {
                if let Some(listing) = self.listing.take() {
                    self.objects = listing;
                }
                true
            }
        }
    }
}

/// Watches until a verdict or `settings.timeout`. `progress` receives kubectl's waiting
/// messages (throttled) and warnings.
pub async fn watch(
    cluster: &Cluster,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    selector: Option<&str>,
    settings: &Settings,
    mut progress: impl FnMut(&str),
) -> (Outcome, Seen) {
    let started = Instant::now();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut workloads: Events<kube::api::DynamicObject> =
        Box::pin(watcher::watcher(cluster.workloads(kind, namespace), config).default_backoff());
    let mut pods: Events<Pod> = match selector {
        Some(selector) => {
            let api: Api<Pod> = cluster.typed(namespace);
            Box::pin(
                watcher::watcher(api, watcher::Config::default().labels(selector))
                    .default_backoff(),
            )
        }
        None => Box::pin(futures::stream::pending()),
    };
    let mut replica_sets: Events<ReplicaSet> = match (kind, selector) {
        (WorkloadKind::Deployment, Some(selector)) => {
            let api: Api<ReplicaSet> = cluster.typed(namespace);
            Box::pin(
                watcher::watcher(api, watcher::Config::default().labels(selector))
                    .default_backoff(),
            )
        }
        _ => Box::pin(futures::stream::pending()),
    };
    let mut workload_mirror: Mirror<kube::api::DynamicObject> = Mirror::new();
    let mut pod_mirror: Mirror<Pod> = Mirror::new();
    let mut rs_mirror: Mirror<ReplicaSet> = Mirror::new();
    let mut seen = Seen::default();
    let mut existed = false;
    let mut last_message = String::from("waiting for the first status");
    let mut last_printed: Option<(Instant, String)> = None;
    let mut warned: Vec<String> = Vec::new();
    let deadline = tokio::time::sleep(settings.timeout);
    tokio::pin!(deadline);
    // Time alone can change a verdict (an unschedulable pod's grace window ends with no event),
    // so a pod with a warning is judged again every second.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let changed = tokio::select! {
            () = &mut deadline => {
                return (Outcome::TimedOut { after: started.elapsed(), message: last_message }, seen);
            }
            _ = tick.tick() => !warned.is_empty(),
            Some(event) = workloads.next() => match event {
                Ok(event) => workload_mirror.apply(event),
                Err(error) => { seen.last_error = Some(error.to_string()); false }
            },
            Some(event) = pods.next() => match event {
                Ok(event) => pod_mirror.apply(event),
                Err(error) => { seen.last_error = Some(error.to_string()); false }
            },
            Some(event) = replica_sets.next() => match event {
                Ok(event) => rs_mirror.apply(event),
                Err(error) => { seen.last_error = Some(error.to_string()); false }
            },
        };
        if !changed {
            continue;
        }
        let Some(object) = workload_mirror.objects.get(name) else {
            if existed && workload_mirror.listing.is_none() {
                return (
                    Outcome::Failed {
                        reason: "Deleted".into(),
                        message: format!(
                            "{} was deleted during the rollout",
                            kind_path(kind, name)
                        ),
                        problems: Vec::new(),
                    },
                    seen,
                );
            }
            continue;
        };
        existed = true;
        let Ok(json) = to_json(object) else { continue };
        let Some(workload) = typed(kind, &json) else {
            continue;
        };
        let observed = is_observed(&json);
        if let (Some(ours), Some(now)) =
            (settings.generation, json["metadata"]["generation"].as_i64())
            && now > ours
        {
            return (
                Outcome::Failed {
                    reason: "Superseded".into(),
                    message: format!(
                        "{} was changed by someone else during the rollout (generation {now}, ours {ours})",
                        kind_path(kind, name)
                    ),
                    problems: Vec::new(),
                },
                seen,
            );
        }
        seen.workload = Some(json);
        let status = super::rollout::rollout_status(&workload, None);
        // Pods are judged only once the controller has observed our change: before that, the
        // "new" ReplicaSet is still the old one.
        if observed {
            let replica_sets: Vec<ReplicaSet> = rs_mirror.objects.values().cloned().collect();
            let new_rs = match &workload {
                Workload::Deployment(deployment) => {
                    pods::new_replica_set(deployment, &replica_sets).cloned()
                }
                _ => None,
            };
            seen.new_replica_set = new_rs.as_ref().and_then(|rs| rs.metadata.name.clone());
            seen.new_pods = pod_mirror
                .objects
                .values()
                .filter(|pod| pods::is_new_pod(&workload, new_rs.as_ref(), pod))
                .cloned()
                .collect();
            if !matches!(status, RolloutStatus::Complete { .. }) {
                let now = k8s_openapi::jiff::Timestamp::now();
                let mut doomed = Vec::new();
                for pod in &seen.new_pods {
                    match pods::judge_pod(pod, &settings.policy, now) {
                        PodVerdict::Doomed(problem) => doomed.push(problem),
                        PodVerdict::Warning(problem) => {
                            let key = format!("{}/{}", problem.pod, problem.reason);
                            if !warned.contains(&key) {
                                warned.push(key);
                                let text = format!("{}: {}", problem.pod, problem.message);
                                progress(&format!("warning: {text}"));
                                seen.warnings.push(text);
                            }
                        }
                        PodVerdict::Fine => {}
                    }
                }
                if let Some(first) = doomed.first() {
                    let message = first.message.clone();
                    let reason = first.reason.clone();
                    return (
                        Outcome::Failed {
                            reason,
                            message,
                            problems: doomed,
                        },
                        seen,
                    );
                }
            }
        }
        match status {
            RolloutStatus::Complete { message } => {
                return (Outcome::Complete { message }, seen);
            }
            RolloutStatus::Failed { reason, message } => {
                return (
                    Outcome::Failed {
                        reason: format!("{reason:?}"),
                        message,
                        problems: Vec::new(),
                    },
                    seen,
                );
            }
            RolloutStatus::Waiting { message } => {
                let due = last_printed
                    .as_ref()
                    .is_none_or(|(at, text)| *text != message && at.elapsed() >= settings.throttle);
                if due {
                    progress(&message);
                    last_printed = Some((Instant::now(), message.clone()));
                }
                last_message = message;
            }
        }
    }
}

/// The workload as the typed object the judging code reads.
pub fn typed(kind: WorkloadKind, json: &Value) -> Option<Workload> {
    match kind {
        WorkloadKind::Deployment => serde_json::from_value(json.clone())
            .ok()
            .map(Workload::Deployment),
        WorkloadKind::StatefulSet => serde_json::from_value(json.clone())
            .ok()
            .map(Workload::StatefulSet),
        WorkloadKind::DaemonSet => serde_json::from_value(json.clone())
            .ok()
            .map(Workload::DaemonSet),
    }
}

/// Whether the controller has seen the current spec (`observedGeneration >= generation`).
pub fn is_observed(json: &Value) -> bool {
    let generation = json["metadata"]["generation"].as_i64().unwrap_or(0);
    json["status"]["observedGeneration"].as_i64().unwrap_or(0) >= generation
}

fn kind_path(kind: WorkloadKind, name: &str) -> String {
    format!("{}/{name}", super::target::kind_name(kind))
}
