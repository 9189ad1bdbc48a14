//! What a manifests deploy did to each object, for the summary, the `diff` output and the exit
//! code. Secrets are marked so that nothing of their content is ever shown.

use super::object::ObjectRef;
use serde::Serialize;

/// What the server-side dry run says applying an object amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Change,
    Unchanged,
    /// A Job whose pod template changed: Jobs are immutable, it is deleted and created again.
    Recreate,
    /// Applied earlier by shipgate, no longer rendered: deleted (`prune: true`).
    Prune,
}

/// Where an object ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "message")]
pub enum State {
    /// A dry run: nothing was sent but the server-side dry run.
    Previewed,
    Applied,
    Unchanged,
    Deleted,
    /// The apply was refused, or what it started failed (rollout, Job).
    Failed(String),
    /// Changed, then put back to its snapshot.
    Restored,
    /// Created by this run, then deleted again by the rollback.
    Removed,
    /// The rollback could not put it back: what is live is said.
    RestoreFailed(String),
    /// Not applied: an earlier step failed.
    NotApplied,
}

impl State {
    pub fn describe(&self) -> String {
        match self {
            State::Previewed => "previewed (dry run)".into(),
            State::Applied => "applied".into(),
            State::Unchanged => "unchanged".into(),
            State::Deleted => "deleted".into(),
            State::Failed(message) => format!("FAILED: {message}"),
            State::Restored => "restored to its previous state".into(),
            State::Removed => "removed (created by this run)".into(),
            State::RestoreFailed(message) => format!("ROLLBACK FAILED: {message}"),
            State::NotApplied => "not applied".into(),
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, State::Failed(_) | State::RestoreFailed(_))
    }
}

/// One object of the run.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectResult {
    pub object: ObjectRef,
    pub wave: u32,
    pub action: Action,
    pub state: State,
    /// A unified diff of the YAML, live → applied (Secret values `***`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The rollout or Job message, when one was watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A failed workload's diagnosis (shown in the summary).
    #[serde(skip)]
    pub diagnosis: Option<crate::deploy::diagnosis::Diagnosis>,
}

/// The `diff` output: `{"created","changed","unchanged","pruned"}`, each entry
/// `{"kind","namespace","name","diff"}`.
pub fn diff_json(objects: &[ObjectResult]) -> serde_json::Value {
    let entries = |wanted: &[Action]| -> Vec<serde_json::Value> {
        objects
            .iter()
            .filter(|o| wanted.contains(&o.action))
            .map(|o| {
                serde_json::json!({
                    "kind": o.object.kind,
                    "namespace": o.object.namespace,
                    "name": o.object.name,
                    "diff": o.diff.clone().unwrap_or_default(),
                })
            })
            .collect()
    };
    serde_json::json!({
        "created": entries(&[Action::Create]),
        "changed": entries(&[Action::Change, Action::Recreate]),
        "unchanged": entries(&[Action::Unchanged]),
        "pruned": entries(&[Action::Prune]),
    })
}
