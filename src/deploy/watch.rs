//! Watches one workload's rollout to its verdict: the workload itself, its ReplicaSets and its
//! pods as the run's shared watches show them ([`super::hub`], one watch per namespace and
//! kind, which re-list after `410 Gone` and resume after a dropped stream), judged after every
//! change by kubectl's rollout-status logic and the fail-fast pod rules. A doomed pod ends the
//! watch at once instead of at the progress deadline.

use super::hub::{Feed, Hub, Snapshot};
use super::pods::{self, PodPolicy, PodProblem, PodVerdict};
use super::rollout::{RolloutStatus, Workload};
use crate::config::model::WorkloadKind;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
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

/// Watches until a verdict or `settings.timeout`, through the run's shared watches (`hub`,
/// which must have been started with this workload). `progress` receives kubectl's waiting
/// messages (throttled) and warnings.
pub async fn watch(
    hub: &Hub,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    settings: &Settings,
    mut progress: impl FnMut(&str),
) -> (Outcome, Seen) {
    let started = Instant::now();
    let seen = Seen::default();
    let Some(mut subscription) = hub.subscribe(kind, namespace, name) else {
        return (
            failed(
                "NotWatched",
                format!(
                    "internal error: {} in namespace `{namespace}` is not among the watched workloads",
                    kind_path(kind, name)
                ),
            ),
            seen,
        );
    };
    let mut state = Watching {
        existed: false,
        last_message: String::from("waiting for the first status"),
        printer: Throttled {
            every: settings.throttle,
            last: None,
        },
        warned: Vec::new(),
        seen,
    };
    let deadline = tokio::time::sleep(settings.timeout);
    tokio::pin!(deadline);
    // Time alone can change a verdict (an unschedulable pod's grace window ends with no event),
    // so a pod with a warning is judged again every second.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let changed = tokio::select! {
            () = &mut deadline => {
                let outcome = Outcome::TimedOut { after: started.elapsed(), message: state.last_message };
                return (outcome, state.seen);
            }
            _ = tick.tick() => !state.warned.is_empty(),
            () = subscription.changed() => true,
        };
        if !changed {
            continue;
        }
        let snapshot = subscription.snapshot();
        let target = (kind, namespace, name);
        if let Some(outcome) = state.observe(snapshot, target, settings, &mut progress) {
            return (outcome, state.seen);
        }
    }
}

/// What one [`watch`] remembers between snapshots.
struct Watching {
    /// The workload was seen once: its disappearance is a deletion, not a slow start.
    existed: bool,
    /// kubectl's latest waiting message, for the time-out.
    last_message: String,
    printer: Throttled,
    /// Warnings already said (each is said once).
    warned: Vec<String>,
    seen: Seen,
}

impl Watching {
    /// Judges one snapshot of the workload and its ReplicaSets and pods: a final outcome, or
    /// `None` to keep watching (progress and new warnings said through `progress`).
    fn observe(
        &mut self,
        snapshot: Snapshot,
        (kind, namespace, name): (WorkloadKind, &str, &str),
        settings: &Settings,
        progress: &mut impl FnMut(&str),
    ) -> Option<Outcome> {
        if let Some(failed) = feed_problems(
            &snapshot,
            namespace,
            &mut self.warned,
            &mut self.seen,
            progress,
        ) {
            return Some(failed);
        }
        let Some(json) = snapshot.workload else {
            if self.existed && snapshot.workload_synced {
                let message = format!("{} was deleted during the rollout", kind_path(kind, name));
                return Some(failed("Deleted", message));
            }
            return None;
        };
        self.existed = true;
        let judged = judge(
            kind,
            &json,
            &snapshot.replica_sets,
            &snapshot.pods,
            settings.generation,
            &settings.policy,
            k8s_openapi::jiff::Timestamp::now(),
        );
        self.seen.workload = Some(json);
        if judged.observed {
            self.seen.new_replica_set = judged.new_replica_set;
            self.seen.new_pods = judged.new_pods;
        }
        match judged.verdict {
            Verdict::Done(outcome) => Some(outcome),
            Verdict::Waiting { message, warnings } => {
                warn_once(warnings, &mut self.warned, &mut self.seen, progress);
                self.printer.say(&message, progress);
                self.last_message = message;
                None
            }
        }
    }
}

/// A watch the verdict depends on that could not be established: the workload's fails the
/// rollout; the ReplicaSets' or pods' is said once (doomed pods are then only seen at the
/// deadline).
fn feed_problems(
    snapshot: &Snapshot,
    namespace: &str,
    warned: &mut Vec<String>,
    seen: &mut Seen,
    progress: &mut impl FnMut(&str),
) -> Option<Outcome> {
    for (feed, reason) in &snapshot.unavailable {
        seen.last_error = Some(reason.clone());
        if matches!(feed, Feed::Workloads(_)) {
            return Some(failed(
                "WatchFailed",
                format!(
                    "cannot watch {} in namespace `{namespace}`, so the rollout cannot be judged: {reason}",
                    feed.resource()
                ),
            ));
        }
        let key = format!("watch/{}", feed.resource());
        if !warned.contains(&key) {
            warned.push(key);
            progress(&format!(
                "warning: cannot watch {} in namespace `{namespace}` ({reason}): doomed pods are only noticed at the deadline",
                feed.resource()
            ));
        }
    }
    None
}

/// Progress lines of one service: a changed message at most every `every`.
struct Throttled {
    every: Duration,
    last: Option<(Instant, String)>,
}

impl Throttled {
    fn say(&mut self, message: &str, progress: &mut impl FnMut(&str)) {
        let due = self
            .last
            .as_ref()
            .is_none_or(|(at, text)| text != message && at.elapsed() >= self.every);
        if due {
            progress(message);
            self.last = Some((Instant::now(), message.to_string()));
        }
    }
}

fn failed(reason: &str, message: String) -> Outcome {
    Outcome::Failed {
        reason: reason.into(),
        message,
        problems: Vec::new(),
    }
}

/// Says each pod problem worth a warning once.
fn warn_once(
    problems: Vec<PodProblem>,
    warned: &mut Vec<String>,
    seen: &mut Seen,
    progress: &mut impl FnMut(&str),
) {
    for problem in problems {
        let key = format!("{}/{}", problem.pod, problem.reason);
        if !warned.contains(&key) {
            warned.push(key);
            let text = format!("{}: {}", problem.pod, problem.message);
            progress(&format!("warning: {text}"));
            seen.warnings.push(text);
        }
    }
}

/// What the objects say right now.
#[derive(Debug)]
pub enum Verdict {
    /// The watch is over.
    Done(Outcome),
    /// Still rolling out: kubectl's message, and pods worth a warning.
    Waiting {
        message: String,
        warnings: Vec<PodProblem>,
    },
}

/// A [`Verdict`] and the new rollout's ReplicaSet and pods it was judged on.
#[derive(Debug)]
pub struct Judged {
    pub verdict: Verdict,
    /// Whether the controller has seen the current spec (otherwise no pod is "new" yet).
    pub observed: bool,
    pub new_replica_set: Option<String>,
    pub new_pods: Vec<Pod>,
}

/// Judges one moment of a rollout: an object older than our change (`generation`; a list
/// from the watch cache may be stale) waits; a spec someone else changed after ours supersedes
/// it; the new pods (only once the controller observed our change: before that,
/// the "new" ReplicaSet is still the old one) fail it when one is doomed; otherwise kubectl's
/// rollout-status verdict. Pure: the watch calls it after every event.
pub fn judge(
    kind: WorkloadKind,
    json: &Value,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    generation: Option<i64>,
    policy: &PodPolicy,
    now: k8s_openapi::jiff::Timestamp,
) -> Judged {
    let name = json["metadata"]["name"].as_str().unwrap_or_default();
    let observed = is_observed(json);
    let done = |outcome| Judged {
        verdict: Verdict::Done(outcome),
        observed,
        new_replica_set: None,
        new_pods: Vec::new(),
    };
    if let Some(verdict) = against_ours(kind, name, json, generation) {
        let observed = observed && matches!(verdict, Verdict::Done(_));
        return Judged {
            verdict,
            observed,
            new_replica_set: None,
            new_pods: Vec::new(),
        };
    }
    let Some(workload) = typed(kind, json) else {
        return done(Outcome::Failed {
            reason: "Unreadable".into(),
            message: format!(
                "{} is not a valid {}",
                kind_path(kind, name),
                super::target::kind_name(kind)
            ),
            problems: Vec::new(),
        });
    };
    let status = super::rollout::rollout_status(&workload, None);
    let mut judged = Judged {
        verdict: Verdict::Waiting {
            message: String::new(),
            warnings: Vec::new(),
        },
        observed,
        new_replica_set: None,
        new_pods: Vec::new(),
    };
    let mut warnings = Vec::new();
    if observed {
        let (new_replica_set, new_pods) = new_rollout(&workload, replica_sets, pods);
        judged.new_replica_set = new_replica_set;
        judged.new_pods = new_pods;
        if !matches!(status, RolloutStatus::Complete { .. }) {
            let (doomed, warned) = judge_pods(&judged.new_pods, policy, now);
            if let Some(first) = doomed.first() {
                judged.verdict = Verdict::Done(Outcome::Failed {
                    reason: first.reason.clone(),
                    message: first.message.clone(),
                    problems: doomed,
                });
                return judged;
            }
            warnings = warned;
        }
    }
    judged.verdict = match status {
        RolloutStatus::Complete { message } => Verdict::Done(Outcome::Complete { message }),
        RolloutStatus::Failed { reason, message } => Verdict::Done(Outcome::Failed {
            reason: format!("{reason:?}"),
            message,
            problems: Vec::new(),
        }),
        RolloutStatus::Waiting { message } => Verdict::Waiting { message, warnings },
    };
    judged
}

/// The object's generation against the one our change produced: a later one means someone
/// else changed the spec (superseded); an earlier one is a list from the watch cache that
/// predates our patch (wait for the object to show it).
fn against_ours(
    kind: WorkloadKind,
    name: &str,
    json: &Value,
    generation: Option<i64>,
) -> Option<Verdict> {
    let (ours, current) = (generation?, json["metadata"]["generation"].as_i64()?);
    let path = kind_path(kind, name);
    match current.cmp(&ours) {
        std::cmp::Ordering::Greater => Some(Verdict::Done(Outcome::Failed {
            reason: "Superseded".into(),
            message: format!(
                "{path} was changed by someone else during the rollout (generation {current}, ours {ours})"
            ),
            problems: Vec::new(),
        })),
        std::cmp::Ordering::Less => Some(Verdict::Waiting {
            message: format!(
                "Waiting for the API to show our change ({path} at generation {current}, ours {ours})..."
            ),
            warnings: Vec::new(),
        }),
        std::cmp::Ordering::Equal => None,
    }
}

/// The new rollout's ReplicaSet (Deployments) and pods.
fn new_rollout(
    workload: &Workload,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
) -> (Option<String>, Vec<Pod>) {
    let new_rs = match workload {
        Workload::Deployment(deployment) => pods::new_replica_set(deployment, replica_sets),
        _ => None,
    };
    let new_pods = pods
        .iter()
        .filter(|pod| pods::is_new_pod(workload, new_rs, pod))
        .cloned()
        .collect();
    (new_rs.and_then(|rs| rs.metadata.name.clone()), new_pods)
}

/// The doomed pods and the ones worth a warning.
fn judge_pods(
    new_pods: &[Pod],
    policy: &PodPolicy,
    now: k8s_openapi::jiff::Timestamp,
) -> (Vec<PodProblem>, Vec<PodProblem>) {
    let mut doomed = Vec::new();
    let mut warnings = Vec::new();
    for pod in new_pods {
        match pods::judge_pod(pod, policy, now) {
            PodVerdict::Doomed(problem) => doomed.push(problem),
            PodVerdict::Warning(problem) => warnings.push(problem),
            PodVerdict::Fine => {}
        }
    }
    (doomed, warnings)
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

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/k8s-api/", $name, ".json"))
        };
    }

    fn body(capture: &str) -> Value {
        let exchange: Value = serde_json::from_str(capture).unwrap();
        exchange["response"]["body"].clone()
    }

    fn items<T: serde::de::DeserializeOwned>(capture: &str) -> Vec<T> {
        serde_json::from_value(body(capture)["items"].clone()).unwrap()
    }

    fn now() -> k8s_openapi::jiff::Timestamp {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn policy() -> PodPolicy {
        PodPolicy {
            fail_after_restarts: 0,
            unschedulable_grace: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_doomed_new_pod_fails_before_the_deadline_does() {
        // The captured :missing rollout at its deadline, its ReplicaSets and the new pod.
        let deployment = body(fixture!("05-08-get-deployment-progress-deadline-exceeded"));
        let replica_sets: Vec<ReplicaSet> = items(fixture!("05-10-list-replicasets-missing-stuck"));
        let pod: Pod =
            serde_json::from_value(body(fixture!("05-05-get-pod-errimagepull"))).unwrap();
        let generation = deployment["metadata"]["generation"].as_i64();
        let judged = judge(
            WorkloadKind::Deployment,
            &deployment,
            &replica_sets,
            std::slice::from_ref(&pod),
            generation,
            &policy(),
            now(),
        );
        assert_eq!(judged.new_pods.len(), 1);
        assert!(judged.new_replica_set.is_some());
        match judged.verdict {
            Verdict::Done(Outcome::Failed {
                reason, problems, ..
            }) => {
                assert_eq!(reason, "ErrImagePull");
                assert_eq!(problems.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        // Without the pod, kubectl's own verdict: the deadline.
        let judged = judge(
            WorkloadKind::Deployment,
            &deployment,
            &replica_sets,
            &[],
            generation,
            &policy(),
            now(),
        );
        match judged.verdict {
            Verdict::Done(Outcome::Failed {
                reason, message, ..
            }) => {
                assert_eq!(reason, "ProgressDeadlineExceeded");
                assert_eq!(
                    message,
                    "deployment \"auth\" exceeded its progress deadline"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn before_the_controller_observes_the_change_no_pod_is_judged() {
        let deployment = body(fixture!(
            "03-02-get-deployment-after-patch-observedgeneration-lagging"
        ));
        let pod: Pod =
            serde_json::from_value(body(fixture!("05-05-get-pod-errimagepull"))).unwrap();
        let judged = judge(
            WorkloadKind::Deployment,
            &deployment,
            &[],
            &[pod],
            deployment["metadata"]["generation"].as_i64(),
            &policy(),
            now(),
        );
        assert!(!judged.observed);
        assert!(judged.new_pods.is_empty());
        match judged.verdict {
            Verdict::Waiting { message, warnings } => {
                assert_eq!(
                    message,
                    "Waiting for deployment spec update to be observed..."
                );
                assert!(warnings.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_later_generation_than_ours_supersedes_the_rollout() {
        let deployment = body(fixture!("03-06-get-deployment-rollout-complete"));
        let generation = deployment["metadata"]["generation"].as_i64().unwrap();
        let judged = judge(
            WorkloadKind::Deployment,
            &deployment,
            &[],
            &[],
            Some(generation - 1),
            &policy(),
            now(),
        );
        assert!(matches!(
            judged.verdict,
            Verdict::Done(Outcome::Failed { ref reason, .. }) if reason == "Superseded"
        ));
        let judged = judge(
            WorkloadKind::Deployment,
            &deployment,
            &[],
            &[],
            Some(generation),
            &policy(),
            now(),
        );
        assert!(matches!(
            judged.verdict,
            Verdict::Done(Outcome::Complete { .. })
        ));
    }

    #[test]
    fn a_list_from_the_watch_cache_older_than_our_patch_is_not_a_verdict() {
        // The complete rollout of the previous generation, as a stale cache may still show it.
        let deployment = body(fixture!("03-06-get-deployment-rollout-complete"));
        let generation = deployment["metadata"]["generation"].as_i64().unwrap();
        let judged = judge(
            WorkloadKind::Deployment,
            &deployment,
            &[],
            &[],
            Some(generation + 1),
            &policy(),
            now(),
        );
        assert!(!judged.observed);
        match judged.verdict {
            Verdict::Waiting { message, .. } => {
                assert!(
                    message.starts_with("Waiting for the API to show our change"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unschedulable_pod_is_a_warning_while_waiting() {
        let statefulset = body(fixture!("11-06-get-statefulset-update-mid"));
        let mut pod: Pod =
            serde_json::from_value(body(fixture!("05-21-get-pod-unschedulable"))).unwrap();
        // Make it one of the StatefulSet's new pods.
        let revision = statefulset["status"]["updateRevision"]
            .as_str()
            .unwrap()
            .to_string();
        let uid = statefulset["metadata"]["uid"].as_str().unwrap().to_string();
        pod.metadata.labels = Some([("controller-revision-hash".to_string(), revision)].into());
        pod.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "apps/v1".into(),
                kind: "StatefulSet".into(),
                name: "db".into(),
                uid,
                controller: Some(true),
                ..Default::default()
            },
        ]);
        let scheduled_at = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0)
            .unwrap();
        let judged = judge(
            WorkloadKind::StatefulSet,
            &statefulset,
            &[],
            &[pod],
            statefulset["metadata"]["generation"].as_i64(),
            &policy(),
            scheduled_at,
        );
        match judged.verdict {
            Verdict::Waiting { warnings, .. } => {
                assert_eq!(warnings.len(), 1);
                assert_eq!(warnings[0].reason, "Unschedulable");
            }
            other => panic!("{other:?}"),
        }
    }
}
