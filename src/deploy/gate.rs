//! Runs a service's health gate: a `url` gate straight from the runner; an in-cluster gate
//! (`health.port`) through a port-forward to a ready pod of the new rollout (or, with
//! `health.service`, a ready pod the Service selects, resolving its `targetPort`).

use super::cluster::Cluster;
use super::target::DeployTarget;
use crate::health::{
    Attempt, AttemptOutcome, HealthGate, HealthReport, LocalForward, PodTarget, choose_pod,
};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use std::time::Duration;
use tokio::time::Instant;

/// Runs `gate` of `target` (in `namespace`); `on_attempt` sees each attempt. Never fails:
/// a forward that cannot be set up is a failed gate whose one attempt says why.
pub(crate) async fn run(
    cluster: &Cluster,
    target: &DeployTarget,
    namespace: &str,
    client: &reqwest::Client,
    gate: &HealthGate,
    say: &(dyn Fn(&str) + Sync),
) -> HealthReport {
    let on_attempt = |attempt: &Attempt| {
        say(&format!(
            "health attempt {}: {}",
            attempt.number,
            attempt.outcome.describe()
        ));
    };
    let Some(forward) = &gate.forward else {
        return crate::health::run_gate(client, gate, on_attempt).await;
    };
    let start = Instant::now();
    // Finding the pod is bounded by the gate's own worst case.
    let chosen = tokio::time::timeout(
        gate.max_duration(),
        pod_for(cluster, target, namespace, forward),
    )
    .await
    .unwrap_or_else(|_| {
        Err(format!(
            "finding a pod to forward to took longer than the gate may ({})",
            crate::health::format_duration(gate.max_duration())
        ))
    });
    let pod = match chosen {
        Ok(pod) => pod,
        Err(error) => return setup_failed(gate, start, error, on_attempt),
    };
    let through = format!(
        "via port-forward to pod {namespace}/{} port {}",
        pod.pod, pod.port
    );
    say(&format!("health gate {through}"));
    let pods: Api<Pod> = Api::namespaced(cluster.client().clone(), namespace);
    // Opening the forward gets most of an attempt's time, so that a forward that does not
    // open is reported as such (before the request's own timeout says less).
    let open_timeout = gate.timeout.mul_f64(0.9);
    let life = gate.timeout.saturating_add(Duration::from_secs(1));
    let local = match LocalForward::open(pods, pod, open_timeout, life).await {
        Ok(local) => local,
        Err(error) => return setup_failed(gate, start, error, on_attempt),
    };
    let explain = || local.take_failure();
    let local_gate = gate.through_local(local.addr);
    let mut report =
        crate::health::run_gate_explained(client, &local_gate, &explain, on_attempt).await;
    report.url = gate.target();
    report.through = Some(through);
    report
}

/// The pod (and pod port) an in-cluster gate is forwarded to.
async fn pod_for(
    cluster: &Cluster,
    target: &DeployTarget,
    namespace: &str,
    forward: &crate::health::Forward,
) -> Result<PodTarget, String> {
    let workload = cluster
        .get(target.kind, namespace, &target.name)
        .await
        .map_err(|e| format!("cannot read {}: {e}", target.workload()))?
        .ok_or_else(|| format!("{} is gone", target.workload()))?;
    let new = super::digest::new_pods(cluster, target, namespace, &workload)
        .await
        .map_err(|e| format!("cannot list the pods of the new rollout: {e}"))?;
    let Some(name) = &forward.service else {
        return choose_pod(forward.port, None, &new, &[]);
    };
    let services: Api<Service> = cluster.typed(namespace);
    let service = services
        .get_opt(name)
        .await
        .map_err(|e| {
            format!(
                "cannot read Service `{name}`: {}",
                super::cluster::ApiError::from(e).message
            )
        })?
        .ok_or_else(|| format!("Service `{name}` not found in namespace `{namespace}`"))?;
    let selector = crate::health::service_selector(&service).ok_or_else(|| {
        format!("Service `{name}` has no selector, so it names no pod to forward to")
    })?;
    let selected = cluster
        .pods(namespace, &selector)
        .await
        .map_err(|e| format!("cannot list the pods Service `{name}` selects: {e}"))?;
    choose_pod(forward.port, Some((name, &service)), &new, &selected)
}

/// A gate that could not start: one failed attempt carrying the reason.
fn setup_failed(
    gate: &HealthGate,
    start: Instant,
    error: String,
    mut on_attempt: impl FnMut(&Attempt),
) -> HealthReport {
    let attempt = Attempt {
        number: 1,
        at: start.elapsed(),
        latency: start.elapsed(),
        outcome: AttemptOutcome::TransportError { error },
        body_excerpt: String::new(),
    };
    on_attempt(&attempt);
    HealthReport::new(
        gate.target(),
        gate.critical,
        vec![attempt],
        start.elapsed(),
        gate.attempts.max(1),
        gate.success_threshold.max(1),
    )
}
