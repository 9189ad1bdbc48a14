//! After a wave is applied: watch every workload whose spec moved with the existing rollout
//! watch (fail-fast classes included), wait for every created or changed Job, and run the
//! health gates of the wave's services.

use super::apply::{describe, kind_of, settings};
use super::edge;
use super::outcome::Action;
use super::prepare::Item;
use crate::deploy::cluster::Cluster;
use crate::deploy::orchestrate::{Options, Progress};
use crate::deploy::target::DeployTarget;
use futures::future::join_all;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How a watched object ended.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub ok: bool,
    pub message: String,
    /// A failed workload's diagnosis (replica counts, pod problems, events, logs).
    pub diagnosis: Option<crate::deploy::diagnosis::Diagnosis>,
    /// When the watch started and ended, from the start of the deploy.
    pub span: Option<(Duration, Duration)>,
    /// The digest every new pod of a service's workload was verified to run (`verify-digest`).
    pub digest: Option<String>,
    /// What the digest check could not verify (`verify-digest: auto` goes on).
    pub warnings: Vec<String>,
}

impl Watched {
    /// A completed rollout of a service's workload, judged by `verify-digest`: a mismatch
    /// fails it like a failed rollout, so the whole set is rolled back.
    fn verified(mut self, check: crate::deploy::digest::Check, say: &dyn Fn(&str)) -> Watched {
        use crate::deploy::digest::Check;
        match check {
            Check::Skipped => {}
            Check::Passed { digest } => {
                say(&format!(
                    "digest verified: every new pod runs {}",
                    crate::deploy::digest::short(&digest)
                ));
                self.digest = Some(digest);
            }
            Check::Unverifiable { warning } => {
                say(&format!("digest not verified: {warning}"));
                self.warnings.push(format!("verify-digest: {warning}"));
            }
            Check::Failed { message } => {
                say(&message);
                self.ok = false;
                self.message = message;
            }
        }
        self
    }
}

fn target_for<'a>(targets: &'a [DeployTarget], item: &Item) -> Option<&'a DeployTarget> {
    let id = item.manifest.id();
    targets.iter().find(|t| {
        crate::deploy::target::kind_name(t.kind) == id.kind
            && t.name == id.name
            && t.namespace
                .as_ref()
                .is_none_or(|n| id.namespace.as_ref() == Some(n))
    })
}

/// Whether this run moved the object's spec (a rollout or a Job to wait for).
fn moved(item: &Item, applied: &Value) -> bool {
    match item.action {
        Action::Create | Action::Recreate => true,
        Action::Change => {
            let generation = |v: &Value| v["metadata"]["generation"].as_i64();
            item.live.as_ref().map(generation) != Some(generation(applied))
        }
        Action::Unchanged | Action::Prune => false,
    }
}

/// Watches the wave's moved workloads and Jobs at once: `(index, how it ended)`.
pub(super) async fn watch_wave(
    w: &super::waves::Waves<'_>,
    view: Vec<(Item, Option<Value>)>,
    members: &[usize],
) -> Vec<(usize, Watched)> {
    let (cluster, targets, options, deadline) = (w.cluster, w.targets, w.options, w.deadline);
    let progress = w.progress.clone();
    let started = w.started;
    // `deploy-timeout` bounds every wait: a wait cut short fails, and the set is rolled back.
    let bound = |timeout: Duration| match deadline {
        Some(at) => timeout.min(at.saturating_duration_since(Instant::now())),
        None => timeout,
    };
    // One shared watch per namespace and kind for every workload this wave moved.
    let subjects: Vec<crate::deploy::hub::Subject> = members
        .iter()
        .filter_map(|&index| {
            let (item, applied) = &view[index];
            let applied = applied.as_ref()?;
            let id = item.manifest.id();
            let kind = kind_of(&id.kind)?;
            moved(item, applied).then(|| {
                crate::deploy::hub::Subject::of(
                    kind,
                    id.namespace.as_deref().unwrap_or_default(),
                    &id.name,
                    applied,
                )
            })
        })
        .collect();
    let hub = crate::deploy::hub::Hub::start(cluster, &subjects);
    let hub = &hub;
    let work = members.iter().filter_map(|&index| {
        let (item, applied) = &view[index];
        let applied = applied.as_ref()?;
        if !moved(item, applied) {
            return None;
        }
        let id = item.manifest.id();
        let target = target_for(targets, item);
        let progress = progress.clone();
        if let Some(kind) = kind_of(&id.kind) {
            let mut settings = settings(
                target,
                applied,
                applied["metadata"]["generation"].as_i64(),
                options,
            );
            settings.timeout = bound(settings.timeout);
            let subject = Moved {
                kind,
                namespace: id.namespace.clone().unwrap_or_default(),
                name: id.name.clone(),
                label: id.to_string(),
                target,
            };
            return Some(Box::pin(async move {
                let watched =
                    watch_workload(cluster, hub, &subject, &settings, started, &progress).await;
                (index, watched)
            })
                as std::pin::Pin<
                    Box<dyn std::future::Future<Output = (usize, Watched)> + Send + '_>,
                >);
        }
        if id.kind == "Job" {
            let timeout = bound(
                target
                    .and_then(|t| t.timeout)
                    .unwrap_or(Duration::from_secs(600)),
            );
            let item = item.clone();
            return Some(Box::pin(async move {
                let watched = wait_job(cluster, &item, timeout, &progress).await;
                (index, watched)
            }));
        }
        None
    });
    join_all(work).await
}

/// A moved workload and, when it carries a service, the service's target.
struct Moved<'a> {
    kind: crate::config::model::WorkloadKind,
    namespace: String,
    name: String,
    label: String,
    target: Option<&'a DeployTarget>,
}

/// Watches one workload's rollout (the shared watch, fail-fast classes); a failure carries its
/// diagnosis, and a service's completed rollout is judged by `verify-digest`.
async fn watch_workload(
    cluster: &Cluster,
    hub: &crate::deploy::hub::Hub,
    subject: &Moved<'_>,
    settings: &crate::deploy::watch::Settings,
    started: Instant,
    progress: &Progress,
) -> Watched {
    let (kind, namespace, name, label) = (
        subject.kind,
        subject.namespace.as_str(),
        subject.name.as_str(),
        subject.label.as_str(),
    );
    let since = k8s_openapi::jiff::Timestamp::now();
    let start = started.elapsed();
    let (outcome, seen) =
        crate::deploy::watch::watch(hub, kind, namespace, name, settings, |line| {
            progress(label, line)
        })
        .await;
    let span = Some((start, started.elapsed()));
    let message = describe(&outcome);
    progress(label, &message);
    if outcome.is_complete() {
        let watched = Watched {
            ok: true,
            message,
            span,
            ..Watched::default()
        };
        // A service's workload: do its new pods run the expected digest?
        let Some(target) = subject.target else {
            return watched;
        };
        let check = crate::deploy::digest::verify(cluster, target, namespace, &seen).await;
        return watched.verified(check, &|line| progress(label, line));
    }
    let workload = crate::deploy::diagnosis::gather::Workload {
        kind,
        namespace,
        name,
    };
    let diagnosis = crate::deploy::diagnosis::gather::diagnose_workload(
        cluster, &workload, &outcome, &seen, since,
    )
    .await;
    Watched {
        ok: false,
        message,
        diagnosis: Some(diagnosis),
        span,
        ..Watched::default()
    }
}

/// Waits for a Job to complete or fail; a failure carries the pod's reason and last log lines.
async fn wait_job(
    cluster: &Cluster,
    item: &Item,
    timeout: Duration,
    progress: &Progress,
) -> Watched {
    let id = item.manifest.id();
    let label = id.to_string();
    let api = edge::api(cluster.client(), &item.resolved, &id);
    let started = Instant::now();
    progress(&label, "waiting for the Job to complete");
    while started.elapsed() < timeout {
        if let Ok(Some(job)) = edge::get(&api, &id.name).await {
            let condition = |kind: &str| {
                job["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == kind && c["status"] == "True")
                    .cloned()
            };
            if condition("Complete").is_some() {
                progress(&label, "Job completed");
                return Watched {
                    ok: true,
                    message: "Job completed".into(),
                    ..Watched::default()
                };
            }
            if let Some(failed) = condition("Failed") {
                let namespace = id.namespace.clone().unwrap_or_default();
                let pods = job_pods(cluster, &namespace, &id.name).await;
                let message = format!(
                    "Job failed: {}: {}{pods}",
                    failed["reason"].as_str().unwrap_or("Failed"),
                    failed["message"].as_str().unwrap_or_default()
                );
                progress(&label, &message);
                return Watched {
                    ok: false,
                    message,
                    ..Watched::default()
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Watched {
        ok: false,
        message: format!(
            "timed out after {}s waiting for the Job to complete",
            timeout.as_secs()
        ),
        ..Watched::default()
    }
}

/// The Job's pods: each container's reason and its last log lines.
async fn job_pods(cluster: &Cluster, namespace: &str, job: &str) -> String {
    let Ok(pods) = cluster.pods(namespace, &format!("job-name={job}")).await else {
        return String::new();
    };
    let mut text = String::new();
    for pod in pods.iter().take(1) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for status in pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            let state = status.state.as_ref();
            let reason = state
                .and_then(|s| s.waiting.as_ref())
                .map(|w| {
                    format!(
                        "{} {}",
                        w.reason.clone().unwrap_or_default(),
                        w.message.clone().unwrap_or_default()
                    )
                })
                .or_else(|| {
                    status
                        .last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .map(|t| {
                            format!(
                                "{} (exit code {})",
                                t.reason.clone().unwrap_or_default(),
                                t.exit_code
                            )
                        })
                })
                .unwrap_or_default();
            text.push_str(&format!(
                "; pod {name} container {}: {}",
                status.name,
                reason.trim()
            ));
            let previous = status.restart_count > 0;
            if let Ok(logs) = cluster
                .logs(namespace, &name, &status.name, previous, 5)
                .await
                && !logs.trim().is_empty()
            {
                text.push_str(&format!(
                    "; last log lines: {}",
                    logs.trim().replace('\n', " | ")
                ));
            }
        }
    }
    text
}

/// The health gates of a wave's services (`None`: no gate, or skipped).
pub async fn gates(
    cluster: &crate::deploy::cluster::Cluster,
    targets: &[&DeployTarget],
    options: &Options,
    progress: Progress,
) -> Vec<Option<crate::health::HealthReport>> {
    let client = crate::health::client().ok();
    join_all(targets.iter().map(|target| {
        let progress = progress.clone();
        let client = client.clone();
        async move {
            let gate = target.health.as_ref().filter(|_| !options.skip_health)?;
            let client = client?;
            let say = |line: &str| progress(&target.service, line);
            say(&format!("health gate: {} {}", gate.method, gate.target()));
            let namespace = target
                .namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone());
            let report =
                crate::deploy::gate::run(cluster, target, &namespace, &client, gate, &say).await;
            say(&format!("health gate {}", report.summary()));
            Some(report)
        }
    }))
    .await
}
