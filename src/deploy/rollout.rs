//! Is a workload's rollout done, still going, or failed? The judgement of `kubectl rollout
//! status`, ported message for message, plus the failures kubectl does not see.
//!
//! kubectl's viewers (`pkg/polymorphichelpers/rollout_status.go`) are the reference users already
//! read in their terminals, so the waiting and success texts are kept byte for byte (without the
//! trailing newline). kubectl waits forever on a paused Deployment and only learns about a quota
//! or admission refusal (`ReplicaFailure`) when the progress deadline expires; those are failures
//! here as soon as the controller has observed the change.
//!
//! Deliberate differences from kubectl, each because a real apiserver object never differs and a
//! hand-made or racing one should not fail a deploy:
//! - an unset `spec.replicas` counts as the apiserver default 1 (kubectl skips the checks that use
//!   it, so `0 updated` of an unset spec would read as complete);
//! - an unset `updateStrategy.type` counts as the default `RollingUpdate`;
//! - the expected revision is compared only once the generation is observed: the controller
//!   writes the revision annotation in the same update as `observedGeneration` (captures 03-07),
//!   so comparing earlier would report a mismatch for every rollout that has not started yet.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetStatus, Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus,
    StatefulSet, StatefulSetSpec, StatefulSetStatus, StatefulSetUpdateStrategy,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The Deployment annotation the controller keeps equal to its newest ReplicaSet's revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// The apiserver's default `spec.progressDeadlineSeconds`.
const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(600);

/// The strategy kubectl can follow; `OnDelete` updates only when someone deletes the pods.
const ROLLING_UPDATE: &str = "RollingUpdate";

/// A workload whose pod template shipgate sets and whose rollout it watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    DaemonSet(DaemonSet),
}

/// Where a rollout stands, with the text to show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutStatus {
    /// Still rolling; kubectl's text without the trailing newline.
    Waiting { message: String },
    /// Done, e.g. `deployment "auth" successfully rolled out`.
    Complete { message: String },
    /// Will not finish by itself: stop waiting.
    Failed {
        reason: RolloutFailure,
        message: String,
    },
}

/// Why a rollout cannot finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutFailure {
    /// The Deployment controller gave up: `Progressing` has reason `ProgressDeadlineExceeded`.
    ProgressDeadlineExceeded,
    /// The Deployment runs another revision than the one expected (someone else rolled out), or
    /// its revision annotation is unreadable.
    RevisionMismatch,
    /// `spec.paused`: the controller observed the change and will not roll it out.
    Paused,
    /// `ReplicaFailure=True`: the ReplicaSet cannot create pods (quota, admission, PodSecurity).
    ReplicaFailure,
    /// `OnDelete` StatefulSet or DaemonSet: nothing rolls until pods are deleted by hand.
    UnsupportedStrategy,
}

impl RolloutStatus {
    /// The text of any state, for logs and summaries.
    pub fn message(&self) -> &str {
        match self {
            RolloutStatus::Waiting { message }
            | RolloutStatus::Complete { message }
            | RolloutStatus::Failed { message, .. } => message,
        }
    }

    /// Whether waiting longer can change anything.
    pub fn is_final(&self) -> bool {
        !matches!(self, RolloutStatus::Waiting { .. })
    }
}

fn waiting(message: String) -> RolloutStatus {
    RolloutStatus::Waiting { message }
}

fn complete(message: String) -> RolloutStatus {
    RolloutStatus::Complete { message }
}

fn failed(reason: RolloutFailure, message: String) -> RolloutStatus {
    RolloutStatus::Failed { reason, message }
}

/// Judges one observation of a workload, as kubectl's status viewer does on every watch event.
///
/// `expected_revision` (Deployments only, ignored when not positive, like kubectl's `--revision`)
/// turns a rollout that someone else replaced into a failure instead of someone else's success.
pub fn rollout_status(workload: &Workload, expected_revision: Option<i64>) -> RolloutStatus {
    match workload {
        Workload::Deployment(d) => deployment_status(d, expected_revision),
        Workload::StatefulSet(s) => stateful_set_status(s),
        Workload::DaemonSet(d) => daemon_set_status(d),
    }
}

fn deployment_status(d: &Deployment, expected_revision: Option<i64>) -> RolloutStatus {
    let name = name_of(&d.metadata);
    let no_status = DeploymentStatus::default();
    let status = d.status.as_ref().unwrap_or(&no_status);
    let generation = d.metadata.generation.unwrap_or(0);
    if generation > status.observed_generation.unwrap_or(0) {
        return waiting("Waiting for deployment spec update to be observed...".to_owned());
    }
    let conditions = status.conditions.as_deref().unwrap_or_default();
    if condition(conditions, "Progressing")
        .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    {
        return failed(
            RolloutFailure::ProgressDeadlineExceeded,
            format!("deployment \"{name}\" exceeded its progress deadline"),
        );
    }

    let no_spec = DeploymentSpec::default();
    let spec = d.spec.as_ref().unwrap_or(&no_spec);
    let kubectl = deployment_counts(name, spec, status);
    let done = matches!(kubectl, RolloutStatus::Complete { .. });

    // A paused Deployment that already runs its template is not waiting for anything.
    if spec.paused == Some(true) && !done {
        return failed(
            RolloutFailure::Paused,
            format!(
                "deployment \"{name}\" is paused, so its new pod template is not rolled out \
                 (kubectl rollout resume deployment/{name})"
            ),
        );
    }
    if let Some(mismatch) = revision_mismatch(d, name, expected_revision) {
        return mismatch;
    }
    if !done && let Some(c) = condition(conditions, "ReplicaFailure").filter(|c| c.status == "True")
    {
        let message = match c.message.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => format!(
                "deployment \"{name}\" cannot create pods ({})",
                c.reason.as_deref().unwrap_or("ReplicaFailure")
            ),
        };
        return failed(RolloutFailure::ReplicaFailure, message);
    }
    kubectl
}

/// kubectl's `DeploymentStatusViewer` on the replica counts alone.
fn deployment_counts(
    name: &str,
    spec: &DeploymentSpec,
    status: &DeploymentStatus,
) -> RolloutStatus {
    let wanted = spec.replicas.unwrap_or(1);
    let replicas = status.replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {updated} out of {wanted} new replicas have been updated..."
        ))
    } else if replicas > updated {
        waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ))
    } else if available < updated {
        waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available..."
        ))
    } else {
        complete(format!("deployment \"{name}\" successfully rolled out"))
    }
}

/// kubectl's `--revision` check: a failure when the Deployment runs another revision than the
/// one this rollout made (someone else rolled it since), `None` when it matches or is not asked.
fn revision_mismatch(
    d: &Deployment,
    name: &str,
    expected_revision: Option<i64>,
) -> Option<RolloutStatus> {
    let expected = expected_revision.filter(|r| *r > 0)?;
    let running = match d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
    {
        None => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(rev) => rev,
            Err(e) => {
                return Some(failed(
                    RolloutFailure::RevisionMismatch,
                    format!("cannot get the revision of deployment \"{name}\": {e}"),
                ));
            }
        },
    };
    (running != expected).then(|| {
        failed(
            RolloutFailure::RevisionMismatch,
            format!(
                "desired revision ({expected}) is different from the running revision ({running})"
            ),
        )
    })
}

fn stateful_set_status(s: &StatefulSet) -> RolloutStatus {
    let no_spec = StatefulSetSpec::default();
    let spec = s.spec.as_ref().unwrap_or(&no_spec);
    let no_strategy = StatefulSetUpdateStrategy::default();
    let strategy = spec.update_strategy.as_ref().unwrap_or(&no_strategy);
    if strategy.type_.as_deref().unwrap_or(ROLLING_UPDATE) != ROLLING_UPDATE {
        return unsupported_strategy();
    }
    let no_status = StatefulSetStatus::default();
    let status = s.status.as_ref().unwrap_or(&no_status);
    let observed = status.observed_generation.unwrap_or(0);
    if observed == 0 || s.metadata.generation.unwrap_or(0) > observed {
        return waiting("Waiting for statefulset spec update to be observed...".to_owned());
    }
    let wanted = spec.replicas.unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    if ready < wanted {
        return waiting(format!(
            "Waiting for {} pods to be ready...",
            wanted - ready
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    if let Some(rolling) = &strategy.rolling_update {
        if let Some(partition) = rolling.partition {
            let to_update = wanted - partition;
            if updated < to_update {
                return waiting(format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {to_update} new pods have been updated..."
                ));
            }
        }
        return complete(format!(
            "partitioned roll out complete: {updated} new pods have been updated..."
        ));
    }
    let update_revision = status.update_revision.as_deref().unwrap_or_default();
    let current_revision = status.current_revision.as_deref().unwrap_or_default();
    if update_revision != current_revision {
        return waiting(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    complete(format!(
        "statefulset rolling update complete {} pods at revision {current_revision}...",
        status.current_replicas.unwrap_or(0)
    ))
}

fn daemon_set_status(d: &DaemonSet) -> RolloutStatus {
    let strategy = d.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    if strategy
        .and_then(|s| s.type_.as_deref())
        .unwrap_or(ROLLING_UPDATE)
        != ROLLING_UPDATE
    {
        return unsupported_strategy();
    }
    let name = name_of(&d.metadata);
    let no_status = DaemonSetStatus::default();
    let status = d.status.as_ref().unwrap_or(&no_status);
    if d.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0) {
        return waiting("Waiting for daemon set spec update to be observed...".to_owned());
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated < desired {
        waiting(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {updated} out of {desired} new pods have been updated..."
        ))
    } else if available < desired {
        waiting(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired} updated pods are available..."
        ))
    } else {
        complete(format!("daemon set \"{name}\" successfully rolled out"))
    }
}

fn unsupported_strategy() -> RolloutStatus {
    failed(
        RolloutFailure::UnsupportedStrategy,
        "rollout status is only available for RollingUpdate strategy type".to_owned(),
    )
}

fn condition<'a>(
    conditions: &'a [DeploymentCondition],
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

/// `1 replica`, `0 replicas`, `3 replicas`: Krane's pluralisation of status counters.
fn counted(n: i32, singular: &str) -> String {
    if n == 1 {
        format!("{n} {singular}")
    } else {
        format!("{n} {singular}s")
    }
}

impl Workload {
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Workload::Deployment(d) => &d.metadata,
            Workload::StatefulSet(s) => &s.metadata,
            Workload::DaemonSet(d) => &d.metadata,
        }
    }

    pub fn name(&self) -> &str {
        name_of(self.metadata())
    }

    pub fn kind_str(&self) -> &'static str {
        match self {
            Workload::Deployment(_) => "Deployment",
            Workload::StatefulSet(_) => "StatefulSet",
            Workload::DaemonSet(_) => "DaemonSet",
        }
    }

    /// `Deployment/auth`, the name reports and kubectl use.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind_str(), self.name())
    }

    /// The `metadata.uid` pods and ReplicaSets point at in their ownerReferences.
    pub fn uid(&self) -> Option<&str> {
        self.metadata().uid.as_deref()
    }

    /// `metadata.generation`, 0 when unset (as kubectl reads it).
    pub fn generation(&self) -> i64 {
        self.metadata().generation.unwrap_or(0)
    }

    /// `status.observedGeneration`, 0 when unset.
    pub fn observed_generation(&self) -> i64 {
        match self {
            Workload::Deployment(d) => d.status.as_ref().and_then(|s| s.observed_generation),
            Workload::StatefulSet(s) => s.status.as_ref().and_then(|s| s.observed_generation),
            Workload::DaemonSet(d) => d.status.as_ref().and_then(|s| s.observed_generation),
        }
        .unwrap_or(0)
    }

    /// Whether the controller has seen the current spec: before that, status, revision and
    /// `updateRevision` describe the previous rollout. StatefulSets also need a first
    /// observation, as in kubectl.
    pub fn generation_observed(&self) -> bool {
        let observed = self.observed_generation();
        match self {
            Workload::StatefulSet(_) => observed != 0 && self.generation() <= observed,
            _ => self.generation() <= observed,
        }
    }

    /// The Deployment's `deployment.kubernetes.io/revision`; StatefulSets and DaemonSets have
    /// none (they version through ControllerRevisions).
    pub fn revision(&self) -> Option<i64> {
        match self {
            Workload::Deployment(d) => d
                .metadata
                .annotations
                .as_ref()?
                .get(REVISION_ANNOTATION)?
                .parse()
                .ok(),
            _ => None,
        }
    }

    /// How long the Deployment controller waits for progress before giving up (default 600 s).
    /// StatefulSets and DaemonSets have no such deadline, so the caller's timeout applies.
    pub fn progress_deadline(&self) -> Option<Duration> {
        match self {
            Workload::Deployment(d) => Some(
                d.spec
                    .as_ref()
                    .and_then(|s| s.progress_deadline_seconds)
                    .and_then(|s| u64::try_from(s).ok())
                    .map_or(DEFAULT_PROGRESS_DEADLINE, Duration::from_secs),
            ),
            _ => None,
        }
    }

    /// Krane's "Final status" line: the counters that tell how far the rollout got, e.g.
    /// `4 replicas, 1 updatedReplica, 3 availableReplicas, 1 unavailableReplica`. Zero counters
    /// are shown (the apiserver omits them), `unavailable` only when there are any.
    pub fn replica_summary(&self) -> String {
        match self {
            Workload::Deployment(d) => {
                let no_status = DeploymentStatus::default();
                let s = d.status.as_ref().unwrap_or(&no_status);
                let mut parts = vec![
                    counted(s.replicas.unwrap_or(0), "replica"),
                    counted(s.updated_replicas.unwrap_or(0), "updatedReplica"),
                    counted(s.available_replicas.unwrap_or(0), "availableReplica"),
                ];
                if let Some(n) = s.unavailable_replicas.filter(|n| *n > 0) {
                    parts.push(counted(n, "unavailableReplica"));
                }
                parts.join(", ")
            }
            Workload::StatefulSet(s) => {
                let no_status = StatefulSetStatus::default();
                let s = s.status.as_ref().unwrap_or(&no_status);
                [
                    counted(s.replicas, "replica"),
                    counted(s.updated_replicas.unwrap_or(0), "updatedReplica"),
                    counted(s.ready_replicas.unwrap_or(0), "readyReplica"),
                ]
                .join(", ")
            }
            // DaemonSet counters are not nouns; Krane prints them unpluralised.
            Workload::DaemonSet(d) => {
                let no_status = DaemonSetStatus::default();
                let s = d.status.as_ref().unwrap_or(&no_status);
                format!(
                    "{} desiredNumberScheduled, {} updatedNumberScheduled, {} numberAvailable",
                    s.desired_number_scheduled,
                    s.updated_number_scheduled.unwrap_or(0),
                    s.number_available.unwrap_or(0)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateStatefulSetStrategy,
    };

    /// The `response.body` of a captured exchange.
    fn captured<T: serde::de::DeserializeOwned>(capture: &str) -> T {
        let exchange: serde_json::Value = serde_json::from_str(capture).unwrap();
        serde_json::from_value(exchange["response"]["body"].clone()).unwrap()
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/k8s-api/", $name, ".json"))
        };
    }

    fn meta(generation: i64) -> ObjectMeta {
        ObjectMeta {
            name: Some("foo".to_owned()),
            generation: Some(generation),
            ..ObjectMeta::default()
        }
    }

    /// kubectl's deployment test rows: generation, observed, spec, replicas, updated, available.
    fn deployment(gen_: i64, obs: i64, spec: Option<i32>, r: i32, u: i32, a: i32) -> Deployment {
        Deployment {
            metadata: meta(gen_),
            spec: Some(DeploymentSpec {
                replicas: spec,
                ..DeploymentSpec::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: Some(obs),
                replicas: Some(r),
                updated_replicas: Some(u),
                available_replicas: Some(a),
                unavailable_replicas: Some(r - a),
                ..DeploymentStatus::default()
            }),
        }
    }

    fn status_of(d: Deployment) -> RolloutStatus {
        rollout_status(&Workload::Deployment(d), None)
    }

    fn with_condition(
        mut d: Deployment,
        type_: &str,
        status: &str,
        reason: &str,
        msg: &str,
    ) -> Deployment {
        let s = d.status.get_or_insert_default();
        s.conditions
            .get_or_insert_default()
            .push(DeploymentCondition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason: Some(reason.to_owned()),
                message: Some(msg.to_owned()),
                ..DeploymentCondition::default()
            });
        d
    }

    fn with_revision(mut d: Deployment, revision: &str) -> Deployment {
        d.metadata
            .annotations
            .get_or_insert_default()
            .insert(REVISION_ANNOTATION.to_owned(), revision.to_owned());
        d
    }

    #[test]
    fn kubectl_deployment_table() {
        let rows = [
            (
                "D1",
                deployment(0, 1, Some(1), 1, 0, 1),
                waiting(
                    "Waiting for deployment \"foo\" rollout to finish: 0 out of 1 new replicas have been updated...".into(),
                ),
            ),
            (
                "D2",
                deployment(1, 1, Some(1), 2, 1, 2),
                waiting(
                    "Waiting for deployment \"foo\" rollout to finish: 1 old replicas are pending termination...".into(),
                ),
            ),
            (
                "D3",
                deployment(1, 1, Some(2), 2, 2, 1),
                waiting(
                    "Waiting for deployment \"foo\" rollout to finish: 1 of 2 updated replicas are available...".into(),
                ),
            ),
            (
                "D4",
                deployment(1, 1, Some(2), 2, 2, 2),
                complete("deployment \"foo\" successfully rolled out".into()),
            ),
            (
                "D5",
                deployment(2, 1, Some(2), 2, 2, 2),
                waiting("Waiting for deployment spec update to be observed...".into()),
            ),
        ];
        for (row, d, want) in rows {
            assert_eq!(status_of(d), want, "{row}");
        }
    }

    #[test]
    fn progress_deadline_exceeded_fails_with_kubectls_error() {
        let d = with_condition(
            deployment(1, 1, Some(2), 3, 1, 2),
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            "ReplicaSet \"foo-1\" has timed out progressing.",
        );
        assert_eq!(
            status_of(d),
            failed(
                RolloutFailure::ProgressDeadlineExceeded,
                "deployment \"foo\" exceeded its progress deadline".into()
            )
        );
    }

    #[test]
    fn progress_deadline_of_a_previous_generation_is_not_trusted() {
        let d = with_condition(
            deployment(2, 1, Some(2), 3, 1, 2),
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            "old",
        );
        assert_eq!(
            status_of(d).message(),
            "Waiting for deployment spec update to be observed..."
        );
    }

    #[test]
    fn revision_mismatch_fails_once_observed() {
        let d = with_revision(deployment(3, 3, Some(2), 2, 2, 2), "5");
        let w = Workload::Deployment(d.clone());
        assert_eq!(
            rollout_status(&w, Some(4)),
            failed(
                RolloutFailure::RevisionMismatch,
                "desired revision (4) is different from the running revision (5)".into()
            )
        );
        assert_eq!(
            rollout_status(&w, Some(5)),
            complete("deployment \"foo\" successfully rolled out".into())
        );
        // kubectl ignores a non-positive --revision.
        assert!(matches!(
            rollout_status(&w, Some(0)),
            RolloutStatus::Complete { .. }
        ));
        // A missing annotation reads as revision 0, as in kubectl.
        let bare = Workload::Deployment(deployment(3, 3, Some(2), 2, 2, 2));
        assert_eq!(
            rollout_status(&bare, Some(1)).message(),
            "desired revision (1) is different from the running revision (0)"
        );
        let garbled = Workload::Deployment(with_revision(deployment(3, 3, Some(2), 2, 2, 2), "x"));
        assert!(matches!(
            rollout_status(&garbled, Some(1)),
            RolloutStatus::Failed {
                reason: RolloutFailure::RevisionMismatch,
                ..
            }
        ));
    }

    #[test]
    fn revision_is_not_compared_before_the_controller_observed_the_change() {
        // Right after the patch the annotation still names the old revision (capture 03-02).
        let d = with_revision(deployment(2, 1, Some(3), 3, 3, 3), "1");
        assert_eq!(
            rollout_status(&Workload::Deployment(d), Some(2)).message(),
            "Waiting for deployment spec update to be observed..."
        );
    }

    #[test]
    fn unset_spec_replicas_means_the_default_one() {
        // kubectl would call this complete: no replicas at all, none updated.
        let d = deployment(1, 1, None, 0, 0, 0);
        assert_eq!(
            status_of(d).message(),
            "Waiting for deployment \"foo\" rollout to finish: 0 out of 1 new replicas have been updated..."
        );
        let done = deployment(1, 1, None, 1, 1, 1);
        assert!(matches!(status_of(done), RolloutStatus::Complete { .. }));
        // Scaled to zero on purpose is complete.
        assert!(matches!(
            status_of(deployment(1, 1, Some(0), 0, 0, 0)),
            RolloutStatus::Complete { .. }
        ));
    }

    #[test]
    fn paused_fails_only_once_observed_and_unfinished() {
        let paused = |mut d: Deployment| {
            d.spec.get_or_insert_default().paused = Some(true);
            d
        };
        let stuck = paused(deployment(2, 2, Some(3), 3, 0, 3));
        assert_eq!(
            status_of(stuck),
            failed(
                RolloutFailure::Paused,
                "deployment \"foo\" is paused, so its new pod template is not rolled out \
                 (kubectl rollout resume deployment/foo)"
                    .into()
            )
        );
        let unobserved = paused(deployment(3, 2, Some(3), 3, 0, 3));
        assert!(matches!(
            status_of(unobserved),
            RolloutStatus::Waiting { .. }
        ));
        let already_there = paused(deployment(2, 2, Some(3), 3, 3, 3));
        assert!(matches!(
            status_of(already_there),
            RolloutStatus::Complete { .. }
        ));
    }

    #[test]
    fn replica_failure_fails_with_the_conditions_message() {
        let quota = "pods \"foo-5d8f-abcde\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=9, limited: cpu=10";
        let d = with_condition(
            deployment(2, 2, Some(3), 3, 0, 3),
            "ReplicaFailure",
            "True",
            "FailedCreate",
            quota,
        );
        assert_eq!(
            status_of(d),
            failed(RolloutFailure::ReplicaFailure, quota.into())
        );
        let cleared = with_condition(
            deployment(2, 2, Some(3), 3, 0, 3),
            "ReplicaFailure",
            "False",
            "FailedCreate",
            quota,
        );
        assert!(matches!(status_of(cleared), RolloutStatus::Waiting { .. }));
        let no_message = with_condition(
            deployment(2, 2, Some(3), 3, 0, 3),
            "ReplicaFailure",
            "True",
            "FailedCreate",
            " ",
        );
        assert_eq!(
            status_of(no_message).message(),
            "deployment \"foo\" cannot create pods (FailedCreate)"
        );
        // A rollout that finished anyway is complete.
        let finished = with_condition(
            deployment(2, 2, Some(3), 3, 3, 3),
            "ReplicaFailure",
            "True",
            "FailedCreate",
            quota,
        );
        assert!(matches!(
            status_of(finished),
            RolloutStatus::Complete { .. }
        ));
    }

    fn daemon_set(gen_: i64, obs: i64, updated: i32, desired: i32, available: i32) -> DaemonSet {
        DaemonSet {
            metadata: meta(gen_),
            spec: Some(DaemonSetSpec {
                update_strategy: Some(DaemonSetUpdateStrategy {
                    type_: Some("RollingUpdate".to_owned()),
                    ..DaemonSetUpdateStrategy::default()
                }),
                ..DaemonSetSpec::default()
            }),
            status: Some(DaemonSetStatus {
                observed_generation: Some(obs),
                updated_number_scheduled: Some(updated),
                desired_number_scheduled: desired,
                number_available: Some(available),
                ..DaemonSetStatus::default()
            }),
        }
    }

    #[test]
    fn kubectl_daemon_set_table() {
        let ds = |d: DaemonSet| rollout_status(&Workload::DaemonSet(d), None);
        assert_eq!(
            ds(daemon_set(0, 1, 0, 1, 0)),
            waiting("Waiting for daemon set \"foo\" rollout to finish: 0 out of 1 new pods have been updated...".into()),
            "DS1"
        );
        assert_eq!(
            ds(daemon_set(1, 1, 2, 2, 1)),
            waiting("Waiting for daemon set \"foo\" rollout to finish: 1 of 2 updated pods are available...".into()),
            "DS2"
        );
        assert_eq!(
            ds(daemon_set(1, 1, 2, 2, 2)),
            complete("daemon set \"foo\" successfully rolled out".into()),
            "DS3"
        );
        assert_eq!(
            ds(daemon_set(2, 1, 2, 2, 2)),
            waiting("Waiting for daemon set spec update to be observed...".into()),
            "DS4"
        );
        let mut on_delete = daemon_set(1, 1, 0, 1, 0);
        on_delete.spec.get_or_insert_default().update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("OnDelete".to_owned()),
            ..DaemonSetUpdateStrategy::default()
        });
        assert_eq!(ds(on_delete), unsupported_strategy());
        assert_eq!(
            unsupported_strategy().message(),
            "rollout status is only available for RollingUpdate strategy type"
        );
    }

    fn stateful_set(
        gen_: i64,
        strategy: StatefulSetUpdateStrategy,
        status: StatefulSetStatus,
    ) -> Workload {
        Workload::StatefulSet(StatefulSet {
            metadata: meta(gen_),
            spec: Some(StatefulSetSpec {
                replicas: Some(3),
                update_strategy: Some(strategy),
                ..StatefulSetSpec::default()
            }),
            status: Some(status),
        })
    }

    fn rolling(partition: Option<i32>) -> StatefulSetUpdateStrategy {
        StatefulSetUpdateStrategy {
            type_: Some("RollingUpdate".to_owned()),
            rolling_update: partition.map(|p| RollingUpdateStatefulSetStrategy {
                partition: Some(p),
                ..RollingUpdateStatefulSetStrategy::default()
            }),
        }
    }

    #[test]
    fn kubectl_stateful_set_table() {
        let sts =
            |gen_, strategy, status| rollout_status(&stateful_set(gen_, strategy, status), None);
        let on_delete = StatefulSetUpdateStrategy {
            type_: Some("OnDelete".to_owned()),
            rolling_update: None,
        };
        assert_eq!(
            sts(1, on_delete, StatefulSetStatus::default()),
            unsupported_strategy(),
            "on delete"
        );
        assert_eq!(
            sts(
                2,
                rolling(None),
                StatefulSetStatus {
                    observed_generation: Some(1),
                    replicas: 3,
                    ready_replicas: Some(3),
                    ..StatefulSetStatus::default()
                }
            ),
            waiting("Waiting for statefulset spec update to be observed...".into()),
            "unobserved"
        );
        assert_eq!(
            sts(
                1,
                rolling(None),
                StatefulSetStatus {
                    observed_generation: Some(2),
                    replicas: 3,
                    ready_replicas: Some(2),
                    ..StatefulSetStatus::default()
                }
            ),
            waiting("Waiting for 1 pods to be ready...".into()),
            "not ready"
        );
        assert_eq!(
            sts(
                1,
                rolling(Some(2)),
                StatefulSetStatus {
                    observed_generation: Some(2),
                    replicas: 3,
                    ready_replicas: Some(3),
                    updated_replicas: Some(1),
                    ..StatefulSetStatus::default()
                }
            ),
            complete("partitioned roll out complete: 1 new pods have been updated...".into()),
            "partition complete"
        );
        assert_eq!(
            sts(
                1,
                rolling(Some(2)),
                StatefulSetStatus {
                    observed_generation: Some(2),
                    replicas: 3,
                    ready_replicas: Some(3),
                    updated_replicas: Some(0),
                    ..StatefulSetStatus::default()
                }
            ),
            waiting(
                "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...".into()
            ),
            "partition in progress"
        );
        assert_eq!(
            sts(
                1,
                rolling(None),
                StatefulSetStatus {
                    observed_generation: Some(2),
                    replicas: 3,
                    ready_replicas: Some(3),
                    current_replicas: Some(3),
                    current_revision: Some("foo".into()),
                    update_revision: Some("foo".into()),
                    ..StatefulSetStatus::default()
                }
            ),
            complete("statefulset rolling update complete 3 pods at revision foo...".into()),
            "update complete"
        );
        assert_eq!(
            sts(
                1,
                rolling(None),
                StatefulSetStatus {
                    observed_generation: Some(2),
                    replicas: 3,
                    ready_replicas: Some(3),
                    updated_replicas: Some(2),
                    current_replicas: Some(1),
                    current_revision: Some("foo".into()),
                    update_revision: Some("bar".into()),
                    ..StatefulSetStatus::default()
                }
            ),
            waiting(
                "waiting for statefulset rolling update to complete 2 pods at revision bar..."
                    .into()
            ),
            "update in progress"
        );
        // A StatefulSet the controller has never observed waits, even at generation 0.
        assert_eq!(
            sts(0, rolling(None), StatefulSetStatus::default()).message(),
            "Waiting for statefulset spec update to be observed..."
        );
    }

    #[test]
    fn captured_deployments() {
        let status = |capture: &str| status_of(captured(capture));
        assert_eq!(
            status(fixture!(
                "03-02-get-deployment-after-patch-observedgeneration-lagging"
            )),
            waiting("Waiting for deployment spec update to be observed...".into())
        );
        assert_eq!(
            status(fixture!("03-05-get-deployment-rolling-3-updated-old-pod-left")),
            waiting(
                "Waiting for deployment \"auth\" rollout to finish: 1 old replicas are pending termination...".into()
            )
        );
        assert_eq!(
            status(fixture!("03-06-get-deployment-rollout-complete")),
            complete("deployment \"auth\" successfully rolled out".into())
        );
        assert_eq!(
            status(fixture!("05-03-get-deployment-missing-rollout-stuck")),
            waiting(
                "Waiting for deployment \"auth\" rollout to finish: 1 out of 3 new replicas have been updated...".into()
            )
        );
        assert_eq!(
            status(fixture!("05-08-get-deployment-progress-deadline-exceeded")),
            failed(
                RolloutFailure::ProgressDeadlineExceeded,
                "deployment \"auth\" exceeded its progress deadline".into()
            )
        );
        assert!(matches!(
            status(fixture!("07-04-get-deployment-paused-after-set-image")),
            RolloutStatus::Failed {
                reason: RolloutFailure::Paused,
                ..
            }
        ));
    }

    #[test]
    fn captured_deployment_accessors() {
        let stuck = Workload::Deployment(captured(fixture!(
            "05-08-get-deployment-progress-deadline-exceeded"
        )));
        assert_eq!(stuck.name(), "auth");
        assert_eq!(stuck.kind_str(), "Deployment");
        assert_eq!(stuck.id(), "Deployment/auth");
        assert_eq!(stuck.revision(), Some(4));
        assert_eq!(stuck.generation(), 5);
        assert!(stuck.generation_observed());
        assert_eq!(stuck.progress_deadline(), Some(Duration::from_secs(15)));
        assert_eq!(
            stuck.replica_summary(),
            "4 replicas, 1 updatedReplica, 3 availableReplicas, 1 unavailableReplica"
        );
        assert_eq!(
            rollout_status(&stuck, Some(4)).message(),
            "deployment \"auth\" exceeded its progress deadline"
        );

        let lagging = Workload::Deployment(captured(fixture!(
            "03-02-get-deployment-after-patch-observedgeneration-lagging"
        )));
        assert!(!lagging.generation_observed());
        assert_eq!(lagging.progress_deadline(), Some(Duration::from_secs(600)));
        assert_eq!(
            Workload::Deployment(captured(fixture!("03-06-get-deployment-rollout-complete")))
                .replica_summary(),
            "3 replicas, 3 updatedReplicas, 3 availableReplicas"
        );
        let mut bare = deployment(1, 1, Some(1), 1, 1, 1);
        bare.spec = None;
        assert_eq!(
            Workload::Deployment(bare).progress_deadline(),
            Some(DEFAULT_PROGRESS_DEADLINE)
        );
    }

    #[test]
    fn captured_stateful_sets_and_daemon_sets() {
        let mid = Workload::StatefulSet(captured(fixture!("11-06-get-statefulset-update-mid")));
        assert_eq!(
            rollout_status(&mid, None).message(),
            "Waiting for 1 pods to be ready..."
        );
        assert_eq!(
            mid.replica_summary(),
            "3 replicas, 2 updatedReplicas, 2 readyReplicas"
        );
        assert_eq!(mid.revision(), None);
        assert_eq!(mid.progress_deadline(), None);
        // The apiserver defaults `rollingUpdate.partition: 0`, so kubectl's partition branch
        // decides every real RollingUpdate StatefulSet.
        let done =
            Workload::StatefulSet(captured(fixture!("11-07-get-statefulset-update-complete")));
        assert_eq!(
            rollout_status(&done, None),
            complete("partitioned roll out complete: 3 new pods have been updated...".into())
        );

        let ds_mid = Workload::DaemonSet(captured(fixture!("11-15-get-daemonset-update-mid")));
        assert_eq!(
            rollout_status(&ds_mid, None).message(),
            "Waiting for daemon set \"auth-agent\" rollout to finish: 0 of 1 updated pods are available..."
        );
        assert_eq!(
            ds_mid.replica_summary(),
            "1 desiredNumberScheduled, 1 updatedNumberScheduled, 0 numberAvailable"
        );
        let ds_done =
            Workload::DaemonSet(captured(fixture!("11-16-get-daemonset-update-complete")));
        assert_eq!(
            rollout_status(&ds_done, None),
            complete("daemon set \"auth-agent\" successfully rolled out".into())
        );
        assert_eq!(ds_done.kind_str(), "DaemonSet");
    }

    #[test]
    fn unset_strategy_type_is_the_rolling_update_default() {
        let mut d = daemon_set(1, 1, 1, 1, 1);
        d.spec = None;
        assert!(matches!(
            rollout_status(&Workload::DaemonSet(d), None),
            RolloutStatus::Complete { .. }
        ));
        let s = stateful_set(
            1,
            StatefulSetUpdateStrategy::default(),
            StatefulSetStatus {
                observed_generation: Some(1),
                replicas: 3,
                ready_replicas: Some(3),
                current_replicas: Some(3),
                current_revision: Some("r".into()),
                update_revision: Some("r".into()),
                ..StatefulSetStatus::default()
            },
        );
        assert!(matches!(
            rollout_status(&s, None),
            RolloutStatus::Complete { .. }
        ));
    }

    #[test]
    fn replica_summary_pluralises_like_krane() {
        let w = Workload::Deployment(deployment(1, 1, Some(2), 2, 1, 1));
        assert_eq!(
            w.replica_summary(),
            "2 replicas, 1 updatedReplica, 1 availableReplica, 1 unavailableReplica"
        );
        let empty = Workload::Deployment(Deployment::default());
        assert_eq!(
            empty.replica_summary(),
            "0 replicas, 0 updatedReplicas, 0 availableReplicas"
        );
    }
}
