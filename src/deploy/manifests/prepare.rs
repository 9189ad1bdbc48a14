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
    /// Delete what shipgate applied earlier and no longer renders.
    pub prune: bool,
    /// Looks up the manifest's own immutable tags of services with nothing live.
    pub registry: crate::registry::RegistryClient,
}

/// The prune records read, by namespace.
pub type Records =
    std::collections::BTreeMap<String, std::collections::BTreeSet<super::object::ObjectRef>>;

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

/// Asks each image's registry whether its tag exists (`HEAD` of the manifest), all at once.
async fn look_up(
    registry: &crate::registry::RegistryClient,
    images: std::collections::BTreeSet<String>,
) -> super::substitute::Lookups {
    use super::substitute::Lookup;
    let answers = join_all(images.iter().map(|image| async move {
        let (name, reference) = match crate::deploy::preflight::split_reference(image) {
            Ok(parts) => parts,
            Err(error) => return Lookup::Failed(error),
        };
        match registry.manifest_digest(&name, &reference).await {
            Ok(Some(_)) => Lookup::Exists,
            Ok(None) => Lookup::Missing,
            Err(error) => Lookup::Failed(error.to_string()),
        }
    }))
    .await;
    images.into_iter().zip(answers).collect()
}

/// Everything prepared, or every reason it cannot be.
pub async fn prepare(
    cluster: &Cluster,
    request: &Request,
) -> Result<(Vec<Item>, Vec<Substitution>, Records), Vec<String>> {
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
    let mut inputs = Inputs {
        planned: &request.planned,
        kept: &request.kept,
        live: &live,
        allow_manifest_tags: request.allow_manifest_tags,
        registry: &super::substitute::NO_LOOKUPS,
    };
    let wanted = super::substitute::lookups(&manifests, &inputs);
    let found = look_up(&request.registry, wanted).await;
    inputs.registry = &found;
    let substitutions = substitute(&mut manifests, &inputs)?;
    annotate(&mut manifests, &substitutions, &live, &request.stamp);
    let waves = super::order::object_waves(&manifests, &substitutions, &request.services);
    let rendered: Vec<super::object::ObjectRef> = manifests.iter().map(Manifest::id).collect();
    let mut items = dry_run(
        client,
        manifests,
        resolved,
        snapshots,
        waves,
        request.conflicts,
    )
    .await?;
    let records = read_records(client, &rendered, &request.default_namespace).await;
    if request.prune {
        items.extend(prune_items(client, &records, &rendered).await);
    }
    Ok((items, substitutions, records))
}

fn record_api(client: &kube::Client, namespace: &str) -> kube::Api<kube::api::DynamicObject> {
    let resource = kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    kube::Api::namespaced_with(client.clone(), namespace, &resource)
}

/// The prune record of every namespace the set touches (missing records are empty).
async fn read_records(
    client: &kube::Client,
    rendered: &[super::object::ObjectRef],
    default_namespace: &str,
) -> Records {
    let mut namespaces: Vec<String> = rendered
        .iter()
        .map(|id| super::prune::record_namespace(id, default_namespace))
        .chain(std::iter::once(default_namespace.to_string()))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let mut records = Records::new();
    for namespace in namespaces {
        let found = edge::get(&record_api(client, &namespace), super::prune::RECORD).await;
        let objects = found
            .ok()
            .flatten()
            .map(|r| super::prune::recorded(&r))
            .unwrap_or_default();
        records.insert(namespace, objects);
    }
    records
}

/// The recorded objects no longer rendered that are still live and still shipgate's.
async fn prune_items(
    client: &kube::Client,
    records: &Records,
    rendered: &[super::object::ObjectRef],
) -> Vec<Item> {
    let recorded: std::collections::BTreeSet<_> = records.values().flatten().cloned().collect();
    let mut items = Vec::new();
    for id in super::prune::candidates(&recorded, rendered) {
        let stub = super::prune::stub(&id);
        let Ok(mut resolved) = edge::discover(client, std::slice::from_ref(&stub)).await else {
            continue;
        };
        let Some(resolved) = resolved.pop() else {
            continue;
        };
        let live = edge::get(&edge::api(client, &resolved, &id), &id.name)
            .await
            .ok()
            .flatten();
        if let Some(live) = live.filter(super::prune::managed) {
            items.push(Item {
                manifest: stub,
                resolved,
                live: Some(live),
                preview: Value::Null,
                action: Action::Prune,
                wave: 0,
            });
        }
    }
    items
}

/// Writes the record of each namespace: what it held, minus what was pruned, plus what this
/// run left applied.
pub async fn write_records(
    client: &kube::Client,
    records: &Records,
    kept: &[super::object::ObjectRef],
    pruned: &[super::object::ObjectRef],
    default_namespace: &str,
) -> Vec<String> {
    let mut updated = records.clone();
    for id in pruned {
        if let Some(set) = updated.get_mut(&super::prune::record_namespace(id, default_namespace)) {
            set.retain(|r| !r.same_object(id));
        }
    }
    for id in kept {
        updated
            .entry(super::prune::record_namespace(id, default_namespace))
            .or_default()
            .insert(id.clone());
    }
    let mut problems = Vec::new();
    for (namespace, objects) in updated {
        if records.get(&namespace) == Some(&objects) {
            continue;
        }
        let record = super::prune::record(&namespace, &objects);
        if let Err(error) = edge::apply(
            &record_api(client, &namespace),
            &record,
            Mode::Apply,
            Conflicts::Force,
        )
        .await
        {
            problems.push(format!(
                "warning: could not update the prune record {namespace}/{}: {error}",
                super::prune::RECORD
            ));
        }
    }
    problems
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
