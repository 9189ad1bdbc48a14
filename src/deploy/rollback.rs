//! Rollback: the pod template snapshotted in preflight is restored with a JSON patch that only
//! applies while the spec is still ours (never "undo to the previous revision", which is wrong
//! after a no-op), then the rollback's own rollout is watched to completion. Its reads and patch
//! must happen: they are retried on server errors, throttling and cut connections.

use super::cluster::Cluster;
use super::hub::Hub;
use super::orchestrate::{DEADLINE_MARGIN, DEFAULT_PROGRESS_DEADLINE};
use super::pods::PodPolicy;
use super::preflight::Ready;
use super::result::{Rollback, Timeline};
use super::retry::{MUST_HAPPEN, retry};
use super::service::{failure_reason, progress_deadline};
use super::target::DeployTarget;
use super::watch::{self, Outcome};
use std::time::{Duration, Instant};

/// Whether a rollback is followed until its rollout completes, or only sent (a cancelled run
/// leaves as soon as the rollback is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Follow {
    UntilComplete,
    SendOnly,
}

/// Restores the snapshot taken in preflight, guarded so a spec someone else changed since is
/// left alone, then watches the rollback to completion through the run's shared watches
/// (`hub`; `None`: only send it, as when the run is cancelled).
pub(super) async fn roll_back(
    cluster: &Cluster,
    hub: Option<&Hub>,
    target: &DeployTarget,
    ready: &Ready,
    run_started: Instant,
    timeline: &mut Timeline,
    say: &impl Fn(&str),
) -> Rollback {
    let start = run_started.elapsed();
    let before = ready
        .set
        .changes
        .first()
        .map(|c| c.from.clone())
        .unwrap_or_default();
    say(&format!("rolling back to {before}"));
    let sent = send_rollback(cluster, target, ready).await;
    let restored_generation = match sent {
        Ok(generation) => generation,
        Err(message) => {
            timeline.rollback = Some((start, run_started.elapsed()));
            say(&format!("rollback FAILED: {message}"));
            return Rollback {
                succeeded: false,
                message,
            };
        }
    };
    let Some(hub) = hub else {
        timeline.rollback = Some((start, run_started.elapsed()));
        say(&format!("rollback to {before} sent"));
        return Rollback {
            succeeded: true,
            message: format!(
                "restored {before}; its rollout was not watched (the run was cancelled)"
            ),
        };
    };
    watch_rollback(
        hub,
        target,
        ready,
        restored_generation,
        (run_started, start),
        timeline,
        say,
    )
    .await
}

/// Sends the patch that restores the snapshot, unless the spec is already restored (`Ok(None)`)
/// or was changed by someone else; the generation the rollback produced. The reads and the
/// patch must happen: server errors, throttling and cut connections are retried.
async fn send_rollback(
    cluster: &Cluster,
    target: &DeployTarget,
    ready: &Ready,
) -> Result<Option<i64>, String> {
    let template = &ready.workload["spec"]["template"];
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = match retry(&MUST_HAPPEN, || {
            cluster.get(target.kind, &ready.namespace, &target.name)
        })
        .await
        {
            Ok(Some(current)) => current,
            Ok(None) => {
                return Err(format!("{} no longer exists", target.workload()));
            }
            Err(error) => return Err(format!("cannot read {}: {error}", target.workload())),
        };
        if &current["spec"]["template"] == template {
            return Ok(None);
        }
        let ours = ready.workload["metadata"]["generation"]
            .as_i64()
            .unwrap_or(0)
            + 1;
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(0);
        if generation != ours {
            return Err(format!(
                "{} was changed by someone else during the deploy (generation {generation}, ours {ours}); not rolling back over their change",
                target.workload()
            ));
        }
        let resource_version = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        let patch = super::patch::rollback(template, generation, resource_version);
        // A 5xx or a cut connection is retried; should a patch have landed unanswered, its
        // retry fails the resourceVersion test and the next round finds the snapshot restored.
        match retry(&MUST_HAPPEN, || {
            cluster.patch_json(target.kind, &ready.namespace, &target.name, &patch)
        })
        .await
        {
            Ok(restored) => return Ok(restored["metadata"]["generation"].as_i64()),
            Err(error) if (error.is_conflict() || error.code == Some(422)) && attempts < 4 => {
                continue;
            }
            Err(error) => return Err(format!("the cluster refused the rollback patch: {error}")),
        }
    }
}

/// Watches the rollback's own rollout to completion.
async fn watch_rollback(
    hub: &Hub,
    target: &DeployTarget,
    ready: &Ready,
    restored_generation: Option<i64>,
    (run_started, start): (Instant, Duration),
    timeline: &mut Timeline,
    say: &impl Fn(&str),
) -> Rollback {
    let before = ready
        .set
        .changes
        .first()
        .map(|c| c.from.clone())
        .unwrap_or_default();
    let timeout = watch_bound(&ready.workload);
    let settings = watch::Settings {
        timeout,
        generation: restored_generation,
        policy: PodPolicy {
            fail_after_restarts: u32::MAX,
            unschedulable_grace: timeout,
        },
        throttle: Duration::from_secs(1),
    };
    let (outcome, _) = watch::watch(
        hub,
        target.kind,
        &ready.namespace,
        &target.name,
        &settings,
        |line| say(&format!("rollback: {line}")),
    )
    .await;
    timeline.rollback = Some((start, run_started.elapsed()));
    let took = run_started.elapsed().saturating_sub(start).as_secs_f64();
    match outcome {
        Outcome::Complete { .. } => {
            say(&format!("rolled back to {before} ({took:.1}s)"));
            Rollback {
                succeeded: true,
                message: format!("restored {before}; rollout complete in {took:.1}s"),
            }
        }
        other => {
            let reason = failure_reason(&other);
            say(&format!("rollback did not complete: {reason}"));
            Rollback {
                succeeded: false,
                message: format!("restored {before}, but its rollout did not complete: {reason}"),
            }
        }
    }
}

/// How long a rollout of `workload` is watched: its `progressDeadlineSeconds` (an untrusted
/// number from the cluster) plus [`DEADLINE_MARGIN`], saturating and capped at a week.
pub(super) fn watch_bound(workload: &serde_json::Value) -> Duration {
    const LONGEST: Duration = Duration::from_secs(7 * 24 * 3600);
    progress_deadline(workload)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE)
        .saturating_add(DEADLINE_MARGIN)
        .min(LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_bound_saturates_on_untrusted_progress_deadlines() {
        let workload =
            |seconds: u64| serde_json::json!({"spec": {"progressDeadlineSeconds": seconds}});
        assert_eq!(watch_bound(&workload(600)), Duration::from_secs(630));
        assert_eq!(
            watch_bound(&workload(u64::MAX)),
            Duration::from_secs(7 * 24 * 3600)
        );
        assert_eq!(
            watch_bound(&serde_json::json!({})),
            Duration::from_secs(630)
        );
    }
}
