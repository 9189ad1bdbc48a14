//! The diagnosis of a failed or timed-out rollout, gathered from the cluster: replica counts,
//! the new pods' problems, the events since the deploy started and the failing container's
//! last log lines (judged and formatted by `diagnostics`).

use super::{self as diagnostics, ContainerLogs, Diagnosis, Verdict};
use crate::deploy::cluster::Cluster;
use crate::deploy::orchestrate::LOG_LINES;
use crate::deploy::target::DeployTarget;
use crate::deploy::watch::{self, Outcome, Seen};

/// Gathers what explains a failed rollout: replica counts, pod problems, events, logs.
pub(in crate::deploy) async fn diagnose(
    cluster: &Cluster,
    target: &DeployTarget,
    namespace: &str,
    outcome: &Outcome,
    seen: &Seen,
    since: k8s_openapi::jiff::Timestamp,
) -> Diagnosis {
    let workload = Workload {
        kind: target.kind,
        namespace,
        name: &target.name,
    };
    diagnose_workload(cluster, &workload, outcome, seen, since).await
}

/// The workload a diagnosis is about (a service's, or any workload a manifests deploy moved).
pub(in crate::deploy) struct Workload<'a> {
    pub kind: crate::config::model::WorkloadKind,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// [`diagnose`] for any workload, tied to a service or not.
pub(in crate::deploy) async fn diagnose_workload(
    cluster: &Cluster,
    workload: &Workload<'_>,
    outcome: &Outcome,
    seen: &Seen,
    since: k8s_openapi::jiff::Timestamp,
) -> Diagnosis {
    let namespace = workload.namespace;
    let label = format!(
        "{}/{}",
        crate::deploy::target::kind_name(workload.kind),
        workload.name
    );
    let problems = match outcome {
        Outcome::Failed { problems, .. } => problems.clone(),
        _ => Vec::new(),
    };
    let verdict = match outcome {
        Outcome::TimedOut { after, .. } => Verdict::TimedOut { deadline: *after },
        _ => Verdict::Failed,
    };
    let final_status = seen
        .workload
        .as_ref()
        .and_then(|w| watch::typed(workload.kind, w))
        .map(|w| w.replica_summary())
        .unwrap_or_default();
    let mut events = Vec::new();
    for (kind, name) in &event_objects(workload, seen, &problems) {
        if let Ok(found) = cluster.events_for(namespace, kind, name).await {
            events.extend(found);
        }
    }
    let (event_lines, suppressed) = diagnostics::relevant_events(&events, since);
    let mut pod_problems = diagnostics::dedupe_problems(&problems);
    if problems.is_empty() {
        for pod in &seen.new_pods {
            if let Some(explanation) = crate::deploy::pods::readiness_explanation(pod, &events) {
                pod_problems.push(explanation);
            }
        }
        pod_problems.dedup();
    }
    let log_target = diagnostics::log_target(&problems).or_else(|| {
        let pod = seen.new_pods.first()?;
        let name = pod.metadata.name.clone()?;
        let container = pod.spec.as_ref()?.containers.first()?.name.clone();
        Some((name, container, false))
    });
    let logs = match log_target {
        Some((pod, container, previous)) => {
            container_logs(cluster, namespace, pod, container, previous).await
        }
        None => None,
    };
    Diagnosis {
        verdict,
        workload: label,
        new_replica_set: seen.new_replica_set.clone(),
        final_status,
        pod_problems,
        events: event_lines,
        suppressed_events: suppressed,
        logs,
    }
}

/// The objects whose events explain a rollout: the workload, its new ReplicaSet and up to three
/// of the pods with problems (else one new pod).
fn event_objects(
    workload: &Workload<'_>,
    seen: &Seen,
    problems: &[crate::deploy::pods::PodProblem],
) -> Vec<(String, String)> {
    let mut objects = vec![(
        crate::deploy::target::kind_name(workload.kind).to_string(),
        workload.name.to_string(),
    )];
    if let Some(rs) = &seen.new_replica_set {
        objects.push(("ReplicaSet".into(), rs.clone()));
    }
    let mut pods: Vec<String> = problems.iter().map(|p| p.pod.clone()).collect();
    if pods.is_empty() {
        pods.extend(
            seen.new_pods
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .take(1),
        );
    }
    pods.dedup();
    for pod in pods.iter().take(3) {
        objects.push(("Pod".into(), pod.clone()));
    }
    objects
}

/// The container's last log lines: of its previous run when it crashed (else of the current one,
/// when the previous is gone).
async fn container_logs(
    cluster: &Cluster,
    namespace: &str,
    pod: String,
    container: String,
    previous: bool,
) -> Option<ContainerLogs> {
    let limit = LOG_LINES as i64;
    match cluster
        .logs(namespace, &pod, &container, previous, limit)
        .await
    {
        Ok(text) => Some(ContainerLogs {
            pod,
            container,
            previous,
            lines: diagnostics::tail(&text, LOG_LINES),
        }),
        Err(_) if previous => cluster
            .logs(namespace, &pod, &container, false, limit)
            .await
            .ok()
            .map(|text| ContainerLogs {
                pod,
                container,
                previous: false,
                lines: diagnostics::tail(&text, LOG_LINES),
            }),
        Err(_) => None,
    }
}
