//! Which pods belong to the new rollout, and are they doomed?
//!
//! The Deployment controller only gives up after `progressDeadlineSeconds` (600 s by default)
//! and StatefulSets and DaemonSets never do, although a missing image or a crash loop is visible
//! in the new pods within seconds. The pod states that do not heal by waiting fail the rollout at
//! once (Krane's `doom_reason`, extended); the ones that may heal (a pull that hit a registry
//! hiccup, a kubelet cache still syncing, a cluster autoscaler adding nodes) only warn, and an
//! unschedulable pod fails after a grace window.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ContainerStatus, Event, Pod, PodStatus, Probe,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::rollout::{REVISION_ANNOTATION, Workload};

/// The label a StatefulSet stamps with the ControllerRevision a pod was made from.
const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// The label a DaemonSet stamps with the template generation a pod was made from.
const POD_TEMPLATE_GENERATION: &str = "pod-template-generation";
/// The DaemonSet annotation holding its template generation, which only moves when the template
/// changes (unlike `metadata.generation`, which any spec change bumps).
const DAEMON_SET_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// The Deployment's newest ReplicaSet: owned by it (controller ownerReference to its UID) and
/// carrying its revision, as Krane finds it.
///
/// `None` until the controller has observed the Deployment's generation: before that the
/// revision annotation still names the previous ReplicaSet, whose pods (possibly crash-looping
/// before this deploy) would be judged as ours.
pub fn new_replica_set<'a>(
    deployment: &Deployment,
    replica_sets: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let observed = deployment.status.as_ref()?.observed_generation?;
    if deployment.metadata.generation.unwrap_or(0) > observed {
        return None;
    }
    let uid = deployment.metadata.uid.as_deref()?;
    let revision = revision_of(&deployment.metadata)?;
    replica_sets
        .iter()
        .find(|rs| controlled_by(&rs.metadata, uid) && revision_of(&rs.metadata) == Some(revision))
}

/// Whether `pod` was made from the workload's current template, i.e. belongs to the rollout.
///
/// - Deployment: controlled by `new_rs` (from [`new_replica_set`]).
/// - StatefulSet: controlled by it and labelled `controller-revision-hash` = `status.updateRevision`.
/// - DaemonSet: controlled by it and labelled `pod-template-generation` = its template generation
///   (`deprecated.daemonset.template.generation`, else `metadata.generation`).
///
/// StatefulSets and DaemonSets must have observed their generation, since `updateRevision` is
/// the previous one until then. A workload without a UID owns nothing: it is not from the API.
pub fn is_new_pod(workload: &Workload, new_rs: Option<&ReplicaSet>, pod: &Pod) -> bool {
    let label = |key: &str| pod.metadata.labels.as_ref().and_then(|l| l.get(key));
    match workload {
        Workload::Deployment(_) => new_rs
            .and_then(|rs| rs.metadata.uid.as_deref())
            .is_some_and(|uid| controlled_by(&pod.metadata, uid)),
        Workload::StatefulSet(s) => {
            let update_revision = s.status.as_ref().and_then(|s| s.update_revision.as_ref());
            workload.generation_observed()
                && workload
                    .uid()
                    .is_some_and(|uid| controlled_by(&pod.metadata, uid))
                && update_revision.is_some_and(|rev| label(CONTROLLER_REVISION_HASH) == Some(rev))
        }
        Workload::DaemonSet(d) => {
            let template_generation = d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DAEMON_SET_TEMPLATE_GENERATION))
                .and_then(|g| g.parse::<i64>().ok())
                .or(d.metadata.generation);
            workload.generation_observed()
                && workload
                    .uid()
                    .is_some_and(|uid| controlled_by(&pod.metadata, uid))
                && template_generation.is_some_and(|generation| {
                    label(POD_TEMPLATE_GENERATION).and_then(|g| g.parse::<i64>().ok())
                        == Some(generation)
                })
        }
    }
}

fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

fn revision_of(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)
        .map(String::as_str)
}

/// How patient to be with pods that may still recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodPolicy {
    /// Restarts a crash-looping (or OOM-killed) container may have before the rollout fails.
    /// 0: fail at the first observation of `CrashLoopBackOff`, which already means the container
    /// exited at least once and the kubelet is backing off.
    pub fail_after_restarts: u32,
    /// How long a pod may stay unschedulable, from the condition's `lastTransitionTime`, before
    /// the rollout fails: long enough for a cluster autoscaler to add a node.
    pub unschedulable_grace: Duration,
}

impl Default for PodPolicy {
    fn default() -> Self {
        PodPolicy {
            fail_after_restarts: 0,
            unschedulable_grace: Duration::from_secs(60),
        }
    }
}

/// The judgement of one observation of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodVerdict {
    Fine,
    /// Wrong, but it may recover: say so and keep waiting.
    Warning(PodProblem),
    /// Will not recover by waiting: the rollout has failed.
    Doomed(PodProblem),
}

impl PodVerdict {
    pub fn problem(&self) -> Option<&PodProblem> {
        match self {
            PodVerdict::Fine => None,
            PodVerdict::Warning(p) | PodVerdict::Doomed(p) => Some(p),
        }
    }

    pub fn is_doomed(&self) -> bool {
        matches!(self, PodVerdict::Doomed(_))
    }
}

/// What is wrong with a pod, worded for the person who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    pub pod: String,
    /// `None` for pod-level problems (unschedulable, phase Failed without a failed container).
    pub container: Option<String>,
    /// The kubelet's or scheduler's reason, e.g. `ImagePullBackOff`, `OOMKilled`, `Unschedulable`.
    pub reason: String,
    /// Krane-like, without the pod name so that equal problems of several pods read alike.
    pub message: String,
    pub exit_code: Option<i32>,
    pub restarts: i32,
}

/// Judges one pod of the new rollout as observed at `now`.
///
/// Order: a pod being deleted is fine (its replacement is judged instead); then the pod phase
/// (`Failed` except Evicted/Preempting); then every init container and container, the first
/// doomed one winning over any warning; then scheduling.
pub fn judge_pod(pod: &Pod, policy: &PodPolicy, now: Timestamp) -> PodVerdict {
    if pod.metadata.deletion_timestamp.is_some() {
        return PodVerdict::Fine;
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(status) = pod.status.as_ref() else {
        return PodVerdict::Fine;
    };
    let init = status.init_container_statuses.iter().flatten();
    let regular = status.container_statuses.iter().flatten();
    let containers: Vec<&ContainerStatus> = init.chain(regular).collect();

    if status.phase.as_deref() == Some("Failed")
        && !matches!(status.reason.as_deref(), Some("Evicted" | "Preempting"))
    {
        return PodVerdict::Doomed(failed_pod(&name, status, &containers));
    }

    let mut warning = None;
    for container in &containers {
        match judge_container(pod, container, policy) {
            Some(PodVerdict::Doomed(problem)) => return PodVerdict::Doomed(problem.on(&name)),
            Some(PodVerdict::Warning(problem)) if warning.is_none() => {
                warning = Some(problem.on(&name));
            }
            _ => {}
        }
    }
    if let Some(verdict) = judge_scheduling(pod, &name, policy, now) {
        return verdict;
    }
    warning.map_or(PodVerdict::Fine, PodVerdict::Warning)
}

impl PodProblem {
    fn on(mut self, pod: &str) -> Self {
        pod.clone_into(&mut self.pod);
        self
    }
}

/// `phase: Failed`: the kubelet will not restart anything (restartPolicy Never/OnFailure ran
/// out, or the node rejected the pod). Names the first container that exited non-zero, if any,
/// so that its log can be shown.
fn failed_pod(name: &str, status: &PodStatus, containers: &[&ContainerStatus]) -> PodProblem {
    let reason = status.reason.clone().unwrap_or_else(|| "Failed".to_owned());
    let crashed = containers.iter().find_map(|c| {
        let t = c.state.as_ref()?.terminated.as_ref()?;
        (t.exit_code != 0).then_some((c, t.exit_code))
    });
    let mut message = format!("Pod status: Failed (Reason: {reason}).");
    if let Some(detail) = status
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        message = format!("{message} {detail}");
    }
    if let Some((c, code)) = crashed {
        message = format!("{message} Container {} exited with code {code}.", c.name);
    }
    PodProblem {
        pod: name.to_owned(),
        container: crashed.map(|(c, _)| c.name.clone()),
        reason,
        message,
        exit_code: crashed.map(|(_, code)| code),
        restarts: crashed.map_or(0, |(c, _)| c.restart_count),
    }
}

/// Kubectl's and Krane's verdict on one container: doomed (fail fast), a warning, or nothing.
fn judge_container(pod: &Pod, c: &ContainerStatus, policy: &PodPolicy) -> Option<PodVerdict> {
    let seen = SeenContainer::new(pod, c, policy);
    if let Some(verdict) = seen.judge_waiting() {
        return Some(verdict);
    }
    if let Some(verdict) = seen.last_terminated.filter(|_| seen.waiting).and_then(|t| {
        if t.reason.as_deref() == Some("OOMKilled") {
            Some(seen.after_restarts(seen.problem(
                "OOMKilled",
                format!(
                    "Killed for exceeding its memory limit (OOMKilled, exit {}). See logs below.",
                    t.exit_code
                ),
                Some(t.exit_code),
            )))
        } else {
            seen.cannot_run(t)
        }
    }) {
        return Some(verdict);
    }
    if seen.waiting_reason == "CrashLoopBackOff" {
        let exit_code = seen.last_terminated.map(|t| t.exit_code);
        let message = match exit_code {
            Some(code) => format!("Crashing repeatedly (exit {code}). See logs below."),
            None => "Crashing repeatedly. See logs below.".to_owned(),
        };
        return Some(seen.after_restarts(seen.problem(seen.waiting_reason, message, exit_code)));
    }
    c.state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| seen.cannot_run(t))
}

/// What [`judge_container`] reads from one container status.
struct SeenContainer<'a> {
    status: &'a ContainerStatus,
    /// The image as the pod spec names it (the status may show a resolved one).
    image: &'a str,
    waiting: bool,
    waiting_reason: &'a str,
    waiting_message: &'a str,
    last_terminated: Option<&'a ContainerStateTerminated>,
    crash_threshold_met: bool,
}

impl<'a> SeenContainer<'a> {
    fn new(pod: &'a Pod, c: &'a ContainerStatus, policy: &PodPolicy) -> Self {
        let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
        SeenContainer {
            status: c,
            image: spec_image(pod, &c.name).unwrap_or(&c.image),
            waiting: waiting.is_some(),
            waiting_reason: waiting
                .and_then(|w| w.reason.as_deref())
                .unwrap_or_default(),
            waiting_message: waiting
                .and_then(|w| w.message.as_deref())
                .unwrap_or_default()
                .trim(),
            last_terminated: c.last_state.as_ref().and_then(|s| s.terminated.as_ref()),
            crash_threshold_met: u32::try_from(c.restart_count).unwrap_or(0)
                >= policy.fail_after_restarts,
        }
    }

    fn problem(&self, reason: &str, message: String, exit_code: Option<i32>) -> PodProblem {
        PodProblem {
            pod: String::new(),
            container: Some(self.status.name.clone()),
            reason: reason.to_owned(),
            message,
            exit_code,
            restarts: self.status.restart_count,
        }
    }

    /// Crashes are doomed only once the restart threshold is met; a warning until then.
    fn after_restarts(&self, problem: PodProblem) -> PodVerdict {
        if self.crash_threshold_met {
            PodVerdict::Doomed(problem)
        } else {
            PodVerdict::Warning(problem)
        }
    }

    fn cannot_run(&self, t: &ContainerStateTerminated) -> Option<PodVerdict> {
        // Exit 128 has been seen from node or runtime trouble that went away (Krane).
        (t.reason.as_deref() == Some("ContainerCannotRun") && t.exit_code != 128).then(|| {
            PodVerdict::Doomed(self.problem(
                "ContainerCannotRun",
                format!(
                    "Failed to start (exit {}): {}",
                    t.exit_code,
                    t.message.as_deref().unwrap_or_default().trim()
                ),
                Some(t.exit_code),
            ))
        })
    }

    /// The waiting reasons that decide on their own: bad image names and pulls, config errors.
    fn judge_waiting(&self) -> Option<PodVerdict> {
        let (reason, message, image) = (self.waiting_reason, self.waiting_message, self.image);
        let doomed = |text: String| Some(PodVerdict::Doomed(self.problem(reason, text, None)));
        let warning = |text: String| Some(PodVerdict::Warning(self.problem(reason, text, None)));
        match reason {
            "InvalidImageName" => {
                doomed(with_detail(format!("Invalid image name {image}."), message))
            }
            "ErrImageNeverPull" => doomed(format!(
                "Image {image} is not present on the node and imagePullPolicy is Never."
            )),
            // A secret or config map the kubelet has not synced yet: kubernetes#74755.
            "CreateContainerConfigError" if is_cache_sync_error(message) => warning(format!(
                "Waiting for the kubelet to sync configuration: {message}"
            )),
            "CreateContainerConfigError" => doomed(format!(
                "Failed to generate container configuration: {message}"
            )),
            "ErrImagePull" | "ImagePullBackOff" if image_missing(message, image) => {
                doomed(format!(
                    "Failed to pull image {image}: not found. Did you wait for it to be built and pushed to the registry?"
                ))
            }
            // Auth, TLS, rate limits and network errors: the kubelet retries them.
            "ErrImagePull" | "ImagePullBackOff" => warning(with_detail(
                format!("Failed to pull image {image}, retrying."),
                message,
            )),
            _ => None,
        }
    }
}

/// Krane's `failed to sync (.*?) cache` test on a CreateContainerConfigError message.
fn is_cache_sync_error(message: &str) -> bool {
    message
        .find("failed to sync ")
        .is_some_and(|at| message[at + "failed to sync ".len()..].contains(" cache"))
}

/// Whether a pull error says the image does not exist (as opposed to auth or network trouble).
/// The image reference is cut out first, so that a tag like `notfound` cannot match.
fn image_missing(message: &str, image: &str) -> bool {
    let mut text = message.to_lowercase();
    let image = image.to_lowercase();
    if !image.is_empty() {
        text = text.replace(&image, "");
    }
    text.contains("not found") || text.contains("manifest unknown")
}

fn with_detail(head: String, detail: &str) -> String {
    if detail.is_empty() {
        head
    } else {
        format!("{head} {detail}")
    }
}

/// The image as written in the pod spec: what the user pushed (or forgot to), where the status
/// may carry a runtime-normalised name.
fn spec_image<'a>(pod: &'a Pod, container: &str) -> Option<&'a str> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container)?
        .image
        .as_deref()
}

fn judge_scheduling(
    pod: &Pod,
    name: &str,
    policy: &PodPolicy,
    now: Timestamp,
) -> Option<PodVerdict> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled")?;
    if condition.status != "False" || condition.reason.as_deref() != Some("Unschedulable") {
        return None;
    }
    let since = condition
        .last_transition_time
        .as_ref()
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0);
    let age = since.map_or(SignedDuration::ZERO, |t| now.duration_since(t));
    let grace = SignedDuration::try_from(policy.unschedulable_grace).unwrap_or(SignedDuration::MAX);
    let problem = PodProblem {
        pod: name.to_owned(),
        container: None,
        reason: "Unschedulable".to_owned(),
        message: format!(
            "Pod could not be scheduled because {}",
            condition
                .message
                .as_deref()
                .unwrap_or("no node fits it")
                .trim()
        ),
        exit_code: None,
        restarts: 0,
    };
    Some(if age >= grace {
        PodVerdict::Doomed(problem)
    } else {
        PodVerdict::Warning(problem)
    })
}

/// Why a Running pod is not Ready, for the report of a rollout that timed out: the latest
/// readiness (or startup) probe failure the kubelet reported as an `Unhealthy` event, and what
/// the probe expects. `None` when the pod is Ready or not Running (then [`judge_pod`] or the
/// rollout status explains it).
pub fn readiness_explanation(pod: &Pod, events: &[Event]) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready");
    if ready.is_some_and(|c| c.status == "True") {
        return None;
    }
    let spec_containers: &[Container] = pod.spec.as_ref().map_or(&[], |s| &s.containers);
    let mut lines = Vec::new();
    for c in status.container_statuses.iter().flatten() {
        let running = c.state.as_ref().is_some_and(|s| s.running.is_some());
        if c.ready || !running {
            continue;
        }
        let probe = spec_containers
            .iter()
            .find(|s| s.name == c.name)
            .and_then(|s| s.readiness_probe.as_ref());
        let mut line = format!("container {} is not ready", c.name);
        if let Some((message, count)) = latest_probe_failure(pod, &c.name, events) {
            let times = if count == 1 {
                "once".to_owned()
            } else {
                format!("{count} times")
            };
            line = format!("{line}: {message} ({times})");
        } else if c.started == Some(false) {
            line = format!("{line}: it has not passed its startup probe yet");
        }
        if let Some(expects) = probe.and_then(describe_probe) {
            line = format!("{line}; it {expects}");
        }
        lines.push(line);
    }
    if lines.is_empty() {
        // Readiness gates or a condition the kubelet explains itself.
        let message = ready.and_then(|c| c.message.as_deref()).map(str::trim)?;
        return (!message.is_empty()).then(|| format!("Pod is not ready: {message}"));
    }
    Some(lines.join("; "))
}

/// The newest readiness/startup probe failure of one container and how often probes failed.
fn latest_probe_failure(pod: &Pod, container: &str, events: &[Event]) -> Option<(String, i32)> {
    let field_path = format!("spec.containers{{{container}}}");
    let about_pod = |e: &Event| {
        let o = &e.involved_object;
        match (o.uid.as_deref(), pod.metadata.uid.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => {
                o.kind.as_deref() == Some("Pod")
                    && o.name.is_some()
                    && o.name.as_deref() == pod.metadata.name.as_deref()
            }
        }
    };
    let mut latest: Option<(Timestamp, &str)> = None;
    let mut count = 0;
    for e in events {
        let message = e.message.as_deref().unwrap_or_default();
        let probe_failure =
            message.starts_with("Readiness probe") || message.starts_with("Startup probe");
        let same_container = e
            .involved_object
            .field_path
            .as_deref()
            .is_none_or(|p| p == field_path);
        if e.reason.as_deref() != Some("Unhealthy") || !probe_failure || !same_container {
            continue;
        }
        if !about_pod(e) {
            continue;
        }
        count += e.count.filter(|n| *n > 0).unwrap_or(1);
        let at = e
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        if latest.is_none_or(|(t, _)| at >= t) {
            latest = Some((at, message));
        }
    }
    latest.map(|(_, m)| (m.trim().replace('\n', " "), count))
}

/// What a readiness probe expects, in Krane's words.
fn describe_probe(probe: &Probe) -> Option<String> {
    let port = |p: &IntOrString| match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    if let Some(http) = &probe.http_get {
        return Some(format!(
            "must respond with a good status code at '{}' on port {}",
            http.path.as_deref().unwrap_or("/"),
            port(&http.port)
        ));
    }
    if let Some(exec) = &probe.exec {
        return Some(format!(
            "must exit 0 from the following command: '{}'",
            exec.command.as_deref().unwrap_or_default().join(" ")
        ));
    }
    if let Some(tcp) = &probe.tcp_socket {
        return Some(format!(
            "must accept TCP connections on port {}",
            port(&tcp.port)
        ));
    }
    probe
        .grpc
        .as_ref()
        .map(|g| format!("must answer gRPC health checks on port {}", g.port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateWaiting, HTTPGetAction,
        ObjectReference, PodCondition, PodSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn captured<T: serde::de::DeserializeOwned>(capture: &str) -> T {
        let exchange: serde_json::Value = serde_json::from_str(capture).unwrap();
        serde_json::from_value(exchange["response"]["body"].clone()).unwrap()
    }

    fn captured_items<T: serde::de::DeserializeOwned>(capture: &str) -> Vec<T> {
        let exchange: serde_json::Value = serde_json::from_str(capture).unwrap();
        serde_json::from_value(exchange["response"]["body"]["items"].clone()).unwrap()
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/k8s-api/", $name, ".json"))
        };
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn judge(pod: &Pod) -> PodVerdict {
        judge_pod(pod, &PodPolicy::default(), at("2026-11-22T10:43:34Z"))
    }

    fn doomed(verdict: PodVerdict) -> PodProblem {
        match verdict {
            PodVerdict::Doomed(p) => p,
            other => panic!("expected Doomed, got {other:?}"),
        }
    }

    fn warning(verdict: PodVerdict) -> PodProblem {
        match verdict {
            PodVerdict::Warning(p) => p,
            other => panic!("expected Warning, got {other:?}"),
        }
    }

    /// A pod named `web-1` with one container `web` (image `registry.local/web:1`) in `status`.
    fn pod_with(status: ContainerStatus) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web-1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some("registry.local/web:1".into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                container_statuses: Some(vec![status]),
                ..PodStatus::default()
            }),
        }
    }

    fn container(
        state: ContainerState,
        last: Option<ContainerState>,
        restarts: i32,
    ) -> ContainerStatus {
        ContainerStatus {
            name: "web".into(),
            image: "registry.local/web:1".into(),
            state: Some(state),
            last_state: last,
            restart_count: restarts,
            ..ContainerStatus::default()
        }
    }

    fn waiting_state(reason: &str, message: &str) -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: Some(message.into()),
            }),
            ..ContainerState::default()
        }
    }

    fn terminated_state(reason: &str, exit_code: i32, message: &str) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some(reason.into()),
                exit_code,
                message: Some(message.into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }
    }

    fn waiting_pod(reason: &str, message: &str) -> Pod {
        pod_with(container(waiting_state(reason, message), None, 0))
    }

    #[test]
    fn captured_missing_image_is_doomed_in_both_pull_states() {
        for capture in [
            fixture!("05-05-get-pod-errimagepull"),
            fixture!("05-06-get-pod-imagepullbackoff"),
        ] {
            let problem = doomed(judge(&captured(capture)));
            assert_eq!(problem.pod, "auth-7cdc9bd4f-hf5sj");
            assert_eq!(problem.container.as_deref(), Some("auth"));
            assert_eq!(
                problem.message,
                "Failed to pull image registry.local/auth:missing: not found. Did you wait for it to be built and pushed to the registry?"
            );
            assert_eq!((problem.exit_code, problem.restarts), (None, 0));
        }
        let pull: Pod = captured(fixture!("05-05-get-pod-errimagepull"));
        assert_eq!(doomed(judge(&pull)).reason, "ErrImagePull");
    }

    #[test]
    fn transient_pull_errors_only_warn() {
        for message in [
            "rpc error: code = Unknown desc = failed to pull and unpack image \"registry.local/web:1\": failed to authorize: 401 Unauthorized",
            "rpc error: code = Unknown desc = dial tcp: lookup registry.local: i/o timeout",
            "pull access denied, repository does not exist or may require authorization",
            "Back-off pulling image \"registry.local/web:1\"",
        ] {
            let problem = warning(judge(&waiting_pod("ErrImagePull", message)));
            assert!(
                problem
                    .message
                    .starts_with("Failed to pull image registry.local/web:1, retrying.")
            );
        }
        // "manifest unknown" counts as missing, case-insensitively.
        assert!(
            judge(&waiting_pod(
                "ImagePullBackOff",
                "MANIFEST_UNKNOWN: Manifest Unknown"
            ))
            .is_doomed()
        );
        // The image's own name cannot make it "not found".
        let mut pod = waiting_pod(
            "ErrImagePull",
            "pulling registry.local/not found:1 timed out",
        );
        pod.spec.as_mut().unwrap().containers[0].image = Some("registry.local/not found:1".into());
        assert!(!judge(&pod).is_doomed());
    }

    #[test]
    fn captured_crash_loop_is_doomed_at_first_sight_by_default() {
        for (capture, restarts) in [
            (fixture!("05-16-get-pod-crashloopbackoff-restart-1"), 1),
            (fixture!("05-17-get-pod-crashloopbackoff-restart-2"), 2),
        ] {
            let problem = doomed(judge(&captured(capture)));
            assert_eq!(problem.reason, "CrashLoopBackOff");
            assert_eq!(
                problem.message,
                "Crashing repeatedly (exit 1). See logs below."
            );
            assert_eq!(problem.exit_code, Some(1));
            assert_eq!(problem.restarts, restarts);
        }
        // The first exit, before any back-off, is not judged yet.
        let first_exit: Pod = captured(fixture!("05-15-get-pod-crash-first-exit-error"));
        assert_eq!(judge(&first_exit), PodVerdict::Fine);
    }

    #[test]
    fn crash_loop_below_the_restart_threshold_warns() {
        let policy = PodPolicy {
            fail_after_restarts: 2,
            ..PodPolicy::default()
        };
        let now = at("2026-11-22T10:43:34Z");
        let one: Pod = captured(fixture!("05-16-get-pod-crashloopbackoff-restart-1"));
        let two: Pod = captured(fixture!("05-17-get-pod-crashloopbackoff-restart-2"));
        assert_eq!(
            warning(judge_pod(&one, &policy, now)).reason,
            "CrashLoopBackOff"
        );
        assert!(judge_pod(&two, &policy, now).is_doomed());
    }

    #[test]
    fn captured_unschedulable_warns_then_fails_after_the_grace() {
        let pod: Pod = captured(fixture!("05-21-get-pod-unschedulable"));
        let policy = PodPolicy::default();
        // lastTransitionTime 10:43:31, grace 60 s.
        let early = warning(judge_pod(&pod, &policy, at("2026-11-22T10:44:30Z")));
        assert_eq!(early.reason, "Unschedulable");
        assert_eq!(early.container, None);
        assert_eq!(
            early.message,
            "Pod could not be scheduled because 0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        assert!(judge_pod(&pod, &policy, at("2026-11-22T10:44:31Z")).is_doomed());
    }

    #[test]
    fn captured_missing_secret_is_doomed_but_cache_sync_is_not() {
        let problem = doomed(judge(&captured(fixture!(
            "05-22-get-pod-createcontainerconfigerror"
        ))));
        assert_eq!(problem.reason, "CreateContainerConfigError");
        assert_eq!(
            problem.message,
            "Failed to generate container configuration: secret \"acc-missing-secret\" not found"
        );
        let syncing = waiting_pod(
            "CreateContainerConfigError",
            "failed to sync secret cache: timed out waiting for the condition",
        );
        assert_eq!(
            warning(judge(&syncing)).reason,
            "CreateContainerConfigError"
        );
    }

    #[test]
    fn healthy_captured_pods_are_fine() {
        let pods: Vec<Pod> = captured_items(fixture!("03-10-list-pods-after-rollout"));
        assert_eq!(pods.len(), 3);
        for pod in &pods {
            assert_eq!(judge(pod), PodVerdict::Fine);
            assert_eq!(readiness_explanation(pod, &[]), None);
        }
    }

    #[test]
    fn bad_image_references_are_doomed_at_once() {
        let invalid = doomed(judge(&waiting_pod(
            "InvalidImageName",
            "Failed to apply default image tag \"Web:1\": couldn't parse image reference \"Web:1\": invalid reference format: repository name must be lowercase",
        )));
        assert_eq!(invalid.reason, "InvalidImageName");
        assert!(
            invalid
                .message
                .starts_with("Invalid image name registry.local/web:1. Failed to apply")
        );
        let never = doomed(judge(&waiting_pod(
            "ErrImageNeverPull",
            "Container image \"registry.local/web:1\" is not present with pull policy of Never",
        )));
        assert_eq!(
            never.message,
            "Image registry.local/web:1 is not present on the node and imagePullPolicy is Never."
        );
    }

    #[test]
    fn oom_killed_and_waiting_again_is_doomed() {
        let oom = terminated_state("OOMKilled", 137, "");
        let pod = pod_with(container(
            waiting_state(
                "CrashLoopBackOff",
                "back-off 10s restarting failed container",
            ),
            Some(oom.clone()),
            1,
        ));
        let problem = doomed(judge(&pod));
        assert_eq!(problem.reason, "OOMKilled");
        assert_eq!(
            problem.message,
            "Killed for exceeding its memory limit (OOMKilled, exit 137). See logs below."
        );
        assert_eq!((problem.exit_code, problem.restarts), (Some(137), 1));
        // Waiting for any reason counts, not only CrashLoopBackOff.
        let creating = pod_with(container(
            waiting_state("ContainerCreating", ""),
            Some(oom.clone()),
            1,
        ));
        assert_eq!(doomed(judge(&creating)).reason, "OOMKilled");
        // Running again after an OOM kill: it may have been a spike.
        let running = ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..ContainerState::default()
        };
        assert_eq!(
            judge(&pod_with(container(running, Some(oom), 1))),
            PodVerdict::Fine
        );
    }

    #[test]
    fn container_cannot_run_is_doomed_unless_exit_128() {
        let broken = pod_with(container(
            terminated_state(
                "ContainerCannotRun",
                127,
                "exec: \"/app\": stat /app: no such file or directory",
            ),
            None,
            0,
        ));
        let problem = doomed(judge(&broken));
        assert_eq!(problem.reason, "ContainerCannotRun");
        assert_eq!(
            problem.message,
            "Failed to start (exit 127): exec: \"/app\": stat /app: no such file or directory"
        );
        let flaky = pod_with(container(
            terminated_state("ContainerCannotRun", 128, "runtime hiccup"),
            None,
            0,
        ));
        assert_eq!(judge(&flaky), PodVerdict::Fine);
        // From lastState while waiting to be restarted.
        let again = pod_with(container(
            waiting_state("CrashLoopBackOff", "back-off"),
            Some(terminated_state(
                "ContainerCannotRun",
                126,
                "permission denied",
            )),
            2,
        ));
        assert_eq!(doomed(judge(&again)).reason, "ContainerCannotRun");
    }

    #[test]
    fn failed_phase_is_doomed_unless_evicted_or_preempted() {
        let mut pod = pod_with(container(terminated_state("Error", 2, ""), None, 0));
        let status = pod.status.as_mut().unwrap();
        status.phase = Some("Failed".into());
        let problem = doomed(judge(&pod));
        assert_eq!(problem.reason, "Failed");
        assert_eq!(
            problem.message,
            "Pod status: Failed (Reason: Failed). Container web exited with code 2."
        );
        assert_eq!(
            (problem.container.as_deref(), problem.exit_code),
            (Some("web"), Some(2))
        );
        for transient in ["Evicted", "Preempting"] {
            let mut evicted = pod.clone();
            let status = evicted.status.as_mut().unwrap();
            status.reason = Some(transient.into());
            status.message = Some("The node was low on resource: memory.".into());
            assert_eq!(judge(&evicted), PodVerdict::Fine, "{transient}");
        }
        let mut rejected = pod.clone();
        let status = rejected.status.as_mut().unwrap();
        status.reason = Some("OutOfcpu".into());
        status.message = Some("Node didn't have enough resource: cpu".into());
        status.container_statuses = None;
        let problem = doomed(judge(&rejected));
        assert_eq!(problem.reason, "OutOfcpu");
        assert_eq!(problem.container, None);
        assert_eq!(
            problem.message,
            "Pod status: Failed (Reason: OutOfcpu). Node didn't have enough resource: cpu"
        );
    }

    #[test]
    fn init_containers_are_judged_first() {
        let mut pod = waiting_pod("PodInitializing", "");
        let spec = pod.spec.as_mut().unwrap();
        spec.init_containers = Some(vec![Container {
            name: "migrate".into(),
            image: Some("registry.local/migrate:7".into()),
            ..Container::default()
        }]);
        let mut init = container(
            waiting_state(
                "CrashLoopBackOff",
                "back-off 20s restarting failed container",
            ),
            Some(terminated_state("Error", 3, "")),
            2,
        );
        init.name = "migrate".into();
        pod.status.as_mut().unwrap().init_container_statuses = Some(vec![init]);
        let problem = doomed(judge(&pod));
        assert_eq!(problem.container.as_deref(), Some("migrate"));
        assert_eq!(
            problem.message,
            "Crashing repeatedly (exit 3). See logs below."
        );

        let mut missing = waiting_pod("PodInitializing", "");
        missing.spec.as_mut().unwrap().init_containers =
            pod.spec.as_ref().unwrap().init_containers.clone();
        let mut init = container(
            waiting_state("ErrImagePull", "registry.local/migrate:7: not found"),
            None,
            0,
        );
        init.name = "migrate".into();
        missing.status.as_mut().unwrap().init_container_statuses = Some(vec![init]);
        assert_eq!(
            doomed(judge(&missing)).message,
            "Failed to pull image registry.local/migrate:7: not found. Did you wait for it to be built and pushed to the registry?"
        );
    }

    #[test]
    fn a_doomed_container_wins_over_an_earlier_warning() {
        let mut pod = waiting_pod("ErrImagePull", "i/o timeout");
        let mut second = container(
            waiting_state("CreateContainerConfigError", "configmap \"x\" not found"),
            None,
            0,
        );
        second.name = "sidecar".into();
        pod.status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()
            .push(second);
        assert_eq!(doomed(judge(&pod)).container.as_deref(), Some("sidecar"));
    }

    #[test]
    fn terminating_pods_are_not_judged() {
        let mut pod: Pod = captured(fixture!("05-16-get-pod-crashloopbackoff-restart-1"));
        pod.metadata.deletion_timestamp = Some(Time(at("2026-11-22T10:39:00Z")));
        assert_eq!(judge(&pod), PodVerdict::Fine);
    }

    #[test]
    fn new_replica_set_and_its_pods_from_captures() {
        let deployment: Deployment =
            captured(fixture!("05-08-get-deployment-progress-deadline-exceeded"));
        let replica_sets: Vec<ReplicaSet> =
            captured_items(fixture!("05-10-list-replicasets-missing-stuck"));
        let new_rs = new_replica_set(&deployment, &replica_sets).unwrap();
        assert_eq!(new_rs.metadata.name.as_deref(), Some("auth-7cdc9bd4f"));

        let workload = Workload::Deployment(deployment.clone());
        let missing_pod: Pod = captured(fixture!("05-05-get-pod-errimagepull"));
        assert!(is_new_pod(&workload, Some(new_rs), &missing_pod));
        let old_pods: Vec<Pod> = captured_items(fixture!("03-10-list-pods-after-rollout"));
        assert!(
            old_pods
                .iter()
                .all(|p| !is_new_pod(&workload, Some(new_rs), p))
        );
        assert!(!is_new_pod(&workload, None, &missing_pod));

        // Same revision but another owner: not ours.
        let mut foreign = replica_sets.clone();
        for rs in &mut foreign {
            for r in rs.metadata.owner_references.iter_mut().flatten() {
                r.uid = "someone-else".into();
            }
        }
        assert!(new_replica_set(&deployment, &foreign).is_none());

        // Before the controller observed the change, the newest ReplicaSet is the old one.
        let lagging: Deployment = captured(fixture!(
            "03-02-get-deployment-after-patch-observedgeneration-lagging"
        ));
        let rs_after: Vec<ReplicaSet> =
            captured_items(fixture!("03-09-list-replicasets-after-rollout"));
        assert!(new_replica_set(&lagging, &rs_after).is_none());
        let complete: Deployment = captured(fixture!("03-06-get-deployment-rollout-complete"));
        let rs = new_replica_set(&complete, &rs_after).unwrap();
        assert_eq!(rs.metadata.name.as_deref(), Some("auth-755c7d99c"));
        let workload = Workload::Deployment(complete);
        assert!(old_pods.iter().all(|p| is_new_pod(&workload, Some(rs), p)));
    }

    #[test]
    fn stateful_set_pods_match_the_update_revision() {
        let done =
            Workload::StatefulSet(captured(fixture!("11-07-get-statefulset-update-complete")));
        let pods: Vec<Pod> = captured_items(fixture!("11-09-list-pods-statefulset"));
        assert_eq!(pods.len(), 3);
        assert!(pods.iter().all(|p| is_new_pod(&done, None, p)));
        // Pods of the previous revision are not new.
        let Workload::StatefulSet(mut sts) = done.clone() else {
            unreachable!()
        };
        sts.status.as_mut().unwrap().update_revision = Some("auth-db-5458b6c8bc".into());
        let older = Workload::StatefulSet(sts.clone());
        assert!(pods.iter().all(|p| !is_new_pod(&older, None, p)));
        // Unobserved: the update revision is stale.
        sts.status.as_mut().unwrap().update_revision = Some("auth-db-56c5bbb66".into());
        sts.metadata.generation = Some(3);
        assert!(
            pods.iter()
                .all(|p| !is_new_pod(&Workload::StatefulSet(sts.clone()), None, p))
        );
        // Another owner.
        sts.metadata.generation = Some(2);
        sts.metadata.uid = Some("other".into());
        assert!(
            pods.iter()
                .all(|p| !is_new_pod(&Workload::StatefulSet(sts.clone()), None, p))
        );
    }

    #[test]
    fn daemon_set_pods_match_the_template_generation() {
        let done = Workload::DaemonSet(captured(fixture!("11-16-get-daemonset-update-complete")));
        let pods: Vec<Pod> = captured_items(fixture!("11-18-list-pods-daemonset"));
        assert_eq!(pods.len(), 1);
        assert!(is_new_pod(&done, None, &pods[0]));
        let Workload::DaemonSet(mut ds) = done else {
            unreachable!()
        };
        // A spec change outside the template bumps metadata.generation only.
        ds.metadata.generation = Some(3);
        ds.status.as_mut().unwrap().observed_generation = Some(3);
        assert!(is_new_pod(&Workload::DaemonSet(ds.clone()), None, &pods[0]));
        ds.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(DAEMON_SET_TEMPLATE_GENERATION.into(), "3".into());
        assert!(!is_new_pod(
            &Workload::DaemonSet(ds.clone()),
            None,
            &pods[0]
        ));
        // Without the annotation, metadata.generation is the template generation.
        ds.metadata.annotations = None;
        assert!(!is_new_pod(
            &Workload::DaemonSet(ds.clone()),
            None,
            &pods[0]
        ));
        ds.metadata.generation = Some(2);
        ds.status.as_mut().unwrap().observed_generation = Some(2);
        assert!(is_new_pod(&Workload::DaemonSet(ds), None, &pods[0]));
    }

    fn running_unready_pod() -> Pod {
        let running = ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..ContainerState::default()
        };
        let mut pod = pod_with(container(running, None, 0));
        pod.metadata.uid = Some("uid-1".into());
        pod.spec.as_mut().unwrap().containers[0].readiness_probe = Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::Int(8080),
                ..HTTPGetAction::default()
            }),
            ..Probe::default()
        });
        let status = pod.status.as_mut().unwrap();
        status.phase = Some("Running".into());
        status.conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            reason: Some("ContainersNotReady".into()),
            message: Some("containers with unready status: [web]".into()),
            ..PodCondition::default()
        }]);
        pod
    }

    fn unhealthy(message: &str, count: i32, last: &str) -> Event {
        Event {
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some("web-1".into()),
                uid: Some("uid-1".into()),
                field_path: Some("spec.containers{web}".into()),
                ..ObjectReference::default()
            },
            reason: Some("Unhealthy".into()),
            message: Some(message.into()),
            count: Some(count),
            last_timestamp: Some(Time(at(last))),
            type_: Some("Warning".into()),
            ..Event::default()
        }
    }

    #[test]
    fn readiness_explanation_names_the_failing_probe() {
        let pod = running_unready_pod();
        let events = [
            unhealthy(
                "Readiness probe failed: Get \"http://10.0.0.7:8080/healthz\": dial tcp 10.0.0.7:8080: connect: connection refused",
                3,
                "2026-11-22T10:00:05Z",
            ),
            unhealthy(
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
                9,
                "2026-11-22T10:01:00Z",
            ),
            unhealthy(
                "Liveness probe failed: HTTP probe failed with statuscode: 500",
                2,
                "2026-11-22T10:02:00Z",
            ),
        ];
        assert_eq!(
            readiness_explanation(&pod, &events).as_deref(),
            Some(
                "container web is not ready: Readiness probe failed: HTTP probe failed with statuscode: 503 (12 times); it must respond with a good status code at '/healthz' on port 8080"
            )
        );
        // Without events, the probe still says what is expected.
        assert_eq!(
            readiness_explanation(&pod, &[]).as_deref(),
            Some(
                "container web is not ready; it must respond with a good status code at '/healthz' on port 8080"
            )
        );
        // Another pod's events do not count.
        let mut other = events[1].clone();
        other.involved_object.uid = Some("uid-2".into());
        other.involved_object.name = Some("web-2".into());
        assert_eq!(
            readiness_explanation(&pod, &[other]),
            readiness_explanation(&pod, &[])
        );
    }

    #[test]
    fn readiness_explanation_only_for_running_unready_pods() {
        let pending: Pod = captured(fixture!("05-05-get-pod-errimagepull"));
        assert_eq!(readiness_explanation(&pending, &[]), None);
        let crash: Pod = captured(fixture!("05-16-get-pod-crashloopbackoff-restart-1"));
        // Running phase, but the container is waiting: a crash, not a probe. The Ready condition
        // is what remains to say.
        assert_eq!(
            readiness_explanation(&crash, &[]).as_deref(),
            Some("Pod is not ready: containers with unready status: [auth]")
        );
    }
}
