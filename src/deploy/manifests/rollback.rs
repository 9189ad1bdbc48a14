//! Rollback of a manifests deploy: every object this run changed is put back to its snapshot
//! by server-side apply with field manager `shipgate` (so the next apply does not conflict),
//! every object it created is deleted (in reverse apply order), and the restored workloads are
//! watched. A Job is never re-created from a snapshot: running an old Job again is not a
//! rollback.

use super::apply::{Track, describe, kind_of, settings};
use super::edge::{self, Conflicts, Mode};
use super::outcome::{Action, State};
use crate::deploy::cluster::Cluster;
use crate::deploy::orchestrate::{Options, Progress};

/// Puts back every object whose apply was sent, the last sent first; `watch`: follow the
/// restored workloads' rollouts (not on a cancelled run, which is killed seconds later).
pub(super) async fn roll_back(
    cluster: &Cluster,
    tracks: &mut [Track],
    options: &Options,
    progress: Progress,
    watch: bool,
) {
    let restored = put_back(cluster, tracks, &progress).await;
    if watch {
        watch_restored(cluster, tracks, restored, options, &progress).await;
    }
}

/// Deletes what this run created and restores what it changed, the last sent first; returns the
/// restored objects (track index, the server's answer).
async fn put_back(
    cluster: &Cluster,
    tracks: &mut [Track],
    progress: &Progress,
) -> Vec<(usize, serde_json::Value)> {
    let mut sent: Vec<(usize, usize)> = tracks
        .iter()
        .enumerate()
        .filter_map(|(index, t)| Some((t.sent?, index)))
        .collect();
    sent.sort_unstable_by(|a, b| b.cmp(a));
    let mut restored = Vec::new();
    for (_, index) in sent {
        let track = &mut tracks[index];
        let id = track.item.manifest.id();
        let label = id.to_string();
        let api = edge::api(cluster.client(), &track.item.resolved, &id);
        match (&track.item.live, track.item.action) {
            (_, Action::Recreate) => {
                track.detail = Some("a Job is not re-created from its snapshot (it would run again); the new Job is left as is".into());
            }
            (None, _) => match edge::delete(&api, &id.name).await {
                Ok(()) => {
                    progress(&label, "rollback: deleted (created by this run)");
                    track.state = State::Removed;
                }
                Err(error) => {
                    track.state = State::RestoreFailed(format!("cannot delete it: {error}"))
                }
            },
            (Some(live), _) => {
                let snapshot = edge::restorable(live);
                match edge::apply(&api, &snapshot, Mode::Apply, Conflicts::Force).await {
                    Ok(answer) => {
                        progress(&label, "rollback: restored its previous state");
                        track.state = State::Restored;
                        restored.push((index, answer));
                    }
                    Err(error) => {
                        track.state = State::RestoreFailed(format!("cannot restore it: {error}"))
                    }
                }
            }
        }
    }
    restored
}

/// Follows the restored workloads' rollouts through one shared watch per namespace and kind; a
/// restore whose rollout does not complete is a failed restore.
async fn watch_restored(
    cluster: &Cluster,
    tracks: &mut [Track],
    restored: Vec<(usize, serde_json::Value)>,
    options: &Options,
    progress: &Progress,
) {
    // One shared watch per namespace and kind for every restored workload.
    let subjects: Vec<crate::deploy::hub::Subject> = restored
        .iter()
        .filter_map(|(index, answer)| {
            let id = tracks[*index].item.manifest.id();
            let kind = kind_of(&id.kind)?;
            Some(crate::deploy::hub::Subject::of(
                kind,
                id.namespace.as_deref().unwrap_or_default(),
                &id.name,
                answer,
            ))
        })
        .collect();
    let hub = crate::deploy::hub::Hub::start(cluster, &subjects);
    for (index, answer) in restored {
        let id = tracks[index].item.manifest.id();
        let Some(kind) = kind_of(&id.kind) else {
            continue;
        };
        let settings = settings(
            None,
            &answer,
            answer["metadata"]["generation"].as_i64(),
            options,
        );
        let label = id.to_string();
        let (outcome, _) = crate::deploy::watch::watch(
            &hub,
            kind,
            id.namespace.as_deref().unwrap_or_default(),
            &id.name,
            &settings,
            |line| progress(&label, line),
        )
        .await;
        let message = describe(&outcome);
        if outcome.is_complete() {
            tracks[index].detail = Some(format!("restored; {message}"));
        } else {
            tracks[index].state = State::RestoreFailed(format!(
                "restored, but its rollout did not complete: {message}"
            ));
        }
    }
}
