//! Before anything changes: resolve every kind, read what is live, substitute and annotate,
//! then a server-side dry run of every object. Any refusal here is a usage error (exit 2)
//! naming the object and the server's message — and nothing has been applied.

use super::annotate::{RunStamp, annotate};
use super::diff;
use super::edge::{self, Conflicts, Mode, Resolved};
use super::object::{Manifest, default_namespaces};
use super::order::ServiceObject;
use super::outcome::Action;
use super::substitute::{Inputs, Kept, LiveObjects, Planned, Substitution, live_key, substitute};
use crate::deploy::cluster::Cluster;
use futures::future::join_all;
use serde_json::Value;

/// What the deploy was asked to apply.
pub struct Request {
    pub manifests: Vec<Manifest>,
    pub default_namespace: String,
    pub planned: Vec<Planned>,
    pub kept: Vec<Kept>,
    pub allow_manifest_tags: bool,
    pub conflicts: Conflicts,
    pub services: Vec<ServiceObject>,
    pub stamp: RunStamp,
}

/// One object, ready to apply.
#[derive(Clone)]
pub struct Item {
    pub manifest: Manifest,
    pub resolved: Resolved,
    /// The live object before this run (the rollback snapshot).
    pub live: Option<Value>,
    /// What the server-side dry run answered (the object as it would be stored).
    pub preview: Value,
    pub action: Action,
    pub wave: u32,
}

/// Everything prepared, or every reason it cannot be.
pub async fn prepare(
    cluster: &Cluster,
    request: &Request,
) -> Result<(Vec<Item>, Vec<Substitution>), Vec<String>> {
    let client = cluster.client();
    let mut manifests = request.manifests.clone();
    let resolved = edge::discover(client, &manifests).await?;
    let namespaced: Vec<bool> = resolved.iter().map(|r| r.namespaced).collect();
    for (manifest, namespaced) in manifests.iter_mut().zip(&namespaced) {
        default_namespaces(
            std::slice::from_mut(manifest),
            &request.default_namespace,
            |_| *namespaced,
        );
        if !namespaced && let Some(metadata) = manifest.object["metadata"].as_object_mut() {
            metadata.remove("namespace");
        }
    }
    let lives = join_all(manifests.iter().zip(&resolved).map(|(m, r)| async move {
        let id = m.id();
        edge::get(&edge::api(client, r, &id), &id.name)
            .await
            .map_err(|e| format!("{id}: cannot read it: {e}"))
    }))
    .await;
    let mut live = LiveObjects::new();
    let mut snapshots = Vec::new();
    for (manifest, found) in manifests.iter().zip(lives) {
        let found = found.map_err(|e| vec![e])?;
        if let Some(object) = &found {
            live.insert(live_key(&manifest.id()), object.clone());
        }
        snapshots.push(found);
    }
    let inputs = Inputs {
        planned: &request.planned,
        kept: &request.kept,
        live: &live,
        allow_manifest_tags: request.allow_manifest_tags,
    };
    let substitutions = substitute(&mut manifests, &inputs)?;
    annotate(&mut manifests, &substitutions, &live, &request.stamp);
    let waves = super::order::object_waves(&manifests, &substitutions, &request.services);
    let items = dry_run(
        client,
        manifests,
        resolved,
        snapshots,
        waves,
        request.conflicts,
    )
    .await?;
    Ok((items, substitutions))
}

/// Namespaces this set creates: objects in them cannot be dry-run before they exist.
fn new_namespaces(manifests: &[Manifest], snapshots: &[Option<Value>]) -> Vec<String> {
    manifests
        .iter()
        .zip(snapshots)
        .filter(|(m, live)| m.kind() == "Namespace" && live.is_none())
        .map(|(m, _)| m.id().name)
        .collect()
}

async fn dry_run(
    client: &kube::Client,
    manifests: Vec<Manifest>,
    resolved: Vec<Resolved>,
    snapshots: Vec<Option<Value>>,
    waves: Vec<u32>,
    conflicts: Conflicts,
) -> Result<Vec<Item>, Vec<String>> {
    let created_namespaces = new_namespaces(&manifests, &snapshots);
    let answers = join_all(manifests.iter().zip(&resolved).map(|(manifest, resolved)| {
        let id = manifest.id();
        let skip = id
            .namespace
            .as_ref()
            .is_some_and(|n| created_namespaces.contains(n));
        async move {
            if skip {
                return Ok(None);
            }
            let api = edge::api(client, resolved, &id);
            edge::apply(&api, &manifest.object, Mode::DryRun, conflicts)
                .await
                .map(Some)
        }
    }))
    .await;
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for ((((manifest, resolved), live), wave), answer) in manifests
        .into_iter()
        .zip(resolved)
        .zip(snapshots)
        .zip(waves)
        .zip(answers)
    {
        let id = manifest.id();
        let (preview, action) = match (answer, &live) {
            (Ok(None), _) => (manifest.object.clone(), Action::Create),
            (Ok(Some(preview)), None) => (preview, Action::Create),
            (Ok(Some(preview)), Some(live)) => {
                let action = if diff::differs(live, &preview) {
                    Action::Change
                } else {
                    Action::Unchanged
                };
                (preview, action)
            }
            (Err(error), Some(_))
                if manifest.kind() == "Job" && error.message.contains("field is immutable") =>
            {
                (manifest.object.clone(), Action::Recreate)
            }
            (Err(error), _) => {
                errors.push(format!(
                    "{id} ({}): the server refused it: {error}",
                    manifest.origin
                ));
                continue;
            }
        };
        items.push(Item {
            manifest,
            resolved,
            live,
            preview,
            action,
            wave,
        });
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}
