//! Rollback: the pod template snapshotted in preflight is restored with a JSON patch that only
//! applies while the spec is still ours (never "undo to the previous revision", which is wrong
//! after a no-op), then the rollback's own rollout is watched to completion.

use super::cluster::Cluster;
use super::pods::PodPolicy;
use super::preflight::Ready;
use super::result::{Rollback, ServiceResult, Status, Timeline};
use super::retry::{MUST_HAPPEN, retry};
use super::run::{
    DEADLINE_MARGIN, DEFAULT_PROGRESS_DEADLINE, Progress, failure_reason, progress_deadline,
};
use super::target::DeployTarget;
use super::watch::{self, Outcome};
use futures::future::join_all;
use std::time::{Duration, Instant};

/// Whether a rollback is followed until its rollout completes, or only sent (a cancelled run
/// leaves as soon as the rollback is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Follow {
    UntilComplete,
    SendOnly,
}

/// Restores the snapshot taken in preflight, guarded so a spec someone else changed since is
/// left alone, then watches the rollback to completion unless told to only send it.
pub(super) async fn roll_back(
    cluster: &Cluster,
    target: &DeployTarget,
    ready: &Ready,
    run_started: Instant,
    timeline: &mut Timeline,
    say: &impl Fn(&str),
    follow: Follow,
) -> Rollback {
    let start = run_started.elapsed();
    let template = ready.workload["spec"]["template"].clone();
    let before = ready
        .set
        .changes
        .first()
        .map(|c| c.from.clone())
        .unwrap_or_default();
    say(&format!("rolling back to {before}"));
    let mut attempts = 0;
    let sent: Result<Option<i64>, String> = loop {
        attempts += 1;
        let current = match retry(&MUST_HAPPEN, || {
            cluster.get(target.kind, &ready.namespace, &target.name)
        })
        .await
        {
            Ok(Some(current)) => current,
            Ok(None) => {
                break Err(format!("{} no longer exists", target.workload()));
            }
            Err(error) => break Err(format!("cannot read {}: {error}", target.workload())),
        };
        if current["spec"]["template"] == template {
            break Ok(None);
        }
        let ours = ready.workload["metadata"]["generation"]
            .as_i64()
            .unwrap_or(0)
            + 1;
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(0);
        if generation != ours {
            break Err(format!(
                "{} was changed by someone else during the deploy (generation {generation}, ours {ours}); not rolling back over their change",
                target.workload()
            ));
        }
        let resource_version = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        let patch = super::patch::rollback(&template, generation, resource_version);
        // A 5xx or a cut connection is retried; should a patch have landed unanswered, its
        // retry fails the resourceVersion test and the next round finds the snapshot restored.
        match retry(&MUST_HAPPEN, || {
            cluster.patch_json(target.kind, &ready.namespace, &target.name, &patch)
        })
        .await
        {
            Ok(restored) => break Ok(restored["metadata"]["generation"].as_i64()),
            Err(error) if (error.is_conflict() || error.code == Some(422)) && attempts < 4 => {
                continue;
            }
            Err(error) => break Err(format!("the cluster refused the rollback patch: {error}")),
        }
    };
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
    if follow == Follow::SendOnly {
        timeline.rollback = Some((start, run_started.elapsed()));
        say(&format!("rollback to {before} sent"));
        return Rollback {
            succeeded: true,
            message: format!(
                "restored {before}; its rollout was not watched (the run was cancelled)"
            ),
        };
    }
    let timeout = watch_bound(&ready.workload);
    let selector = super::cluster::selector_string(&ready.workload);
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
        cluster,
        target.kind,
        &ready.namespace,
        &target.name,
        selector.as_deref(),
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

/// `rollback-all`: every service this run changed and has not rolled back yet.
pub(super) async fn roll_back_all(
    cluster: &Cluster,
    targets: &[DeployTarget],
    ready: &[Ready],
    results: &mut [Option<ServiceResult>],
    run_started: Instant,
    progress: Progress,
) {
    let pending: Vec<usize> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let r = r.as_ref()?;
            let changed = ready[i].set.patch.is_some();
            (changed
                && r.rollback.is_none()
                && matches!(r.status, Status::Succeeded | Status::Failed))
            .then_some(i)
        })
        .collect();
    let rollbacks = join_all(pending.iter().map(|&i| {
        let progress = progress.clone();
        async move {
            let mut timeline = Timeline::default();
            let say = |text: &str| progress(&targets[i].service, text);
            let rollback = roll_back(
                cluster,
                &targets[i],
                &ready[i],
                run_started,
                &mut timeline,
                &say,
                Follow::UntilComplete,
            )
            .await;
            (rollback, timeline)
        }
    }))
    .await;
    for (&i, (rollback, timeline)) in pending.iter().zip(rollbacks) {
        if let Some(result) = results[i].as_mut() {
            if rollback.succeeded {
                result.status = Status::RolledBack;
                if result.reason.is_none() {
                    result.reason = Some(
                        "rolled back with the rest of the deploy (on-failure: rollback-all)".into(),
                    );
                }
            } else {
                result.status = Status::Failed;
            }
            result.timeline.rollback = timeline.rollback;
            result.rollback = Some(rollback);
        }
    }
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
