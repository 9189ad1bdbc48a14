//! The Kubernetes edge for rendered objects of any kind: discovery (an unknown kind is found
//! before anything changes), get, server-side apply (field manager `shipgate`, dry run,
//! force on request), delete.

use super::object::{Manifest, ObjectRef};
use crate::deploy::cluster::{ApiError, FIELD_MANAGER};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

/// Where an object's kind is served.
#[derive(Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Whether an apply only validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    DryRun,
    Apply,
}

/// Whether fields other managers own are taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflicts {
    Refuse,
    Force,
}

fn gvk(id: &ObjectRef) -> GroupVersionKind {
    let (group, version) = id
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", id.api_version.as_str()));
    GroupVersionKind::gvk(group, version, &id.kind)
}

/// Resolves every manifest's kind; kinds defined by a CRD of the same set are resolved from
/// it. Errors name each object whose kind the cluster does not serve.
pub async fn discover(
    client: &kube::Client,
    manifests: &[Manifest],
) -> Result<Vec<Resolved>, Vec<String>> {
    let discovery = Discovery::new(client.clone()).run().await.map_err(|e| {
        vec![format!(
            "cannot discover the cluster's kinds: {}",
            ApiError::from(e)
        )]
    })?;
    let mut resolved = Vec::new();
    let mut errors = Vec::new();
    for manifest in manifests {
        let id = manifest.id();
        let gvk = gvk(&id);
        if let Some((resource, capabilities)) = discovery.resolve_gvk(&gvk) {
            resolved.push(Resolved {
                resource,
                namespaced: capabilities.scope == Scope::Namespaced,
            });
        } else if let Some(found) = from_crds(manifests, &gvk) {
            resolved.push(found);
        } else {
            errors.push(format!(
                "{id} ({}): the cluster does not serve the kind {} in {} (no CRD defines it)",
                manifest.origin, id.kind, id.api_version
            ));
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

fn from_crds(manifests: &[Manifest], gvk: &GroupVersionKind) -> Option<Resolved> {
    manifests
        .iter()
        .filter(|m| m.kind() == "CustomResourceDefinition")
        .find_map(|crd| {
            let spec = &crd.object["spec"];
            let served = spec["versions"]
                .as_array()?
                .iter()
                .any(|v| v["name"] == gvk.version.as_str());
            (spec["group"] == gvk.group.as_str()
                && spec["names"]["kind"] == gvk.kind.as_str()
                && served)
                .then(|| Resolved {
                    resource: ApiResource::from_gvk_with_plural(
                        gvk,
                        spec["names"]["plural"].as_str().unwrap_or_default(),
                    ),
                    namespaced: spec["scope"] != "Cluster",
                })
        })
}

/// The API of one object.
pub fn api(client: &kube::Client, resolved: &Resolved, id: &ObjectRef) -> Api<DynamicObject> {
    match (&id.namespace, resolved.namespaced) {
        (Some(namespace), true) => {
            Api::namespaced_with(client.clone(), namespace, &resolved.resource)
        }
        _ => Api::all_with(client.clone(), &resolved.resource),
    }
}

fn json(object: &DynamicObject) -> Result<Value, ApiError> {
    crate::deploy::cluster::to_json(object)
}

/// The live object, or `None`.
pub async fn get(api: &Api<DynamicObject>, name: &str) -> Result<Option<Value>, ApiError> {
    match api.get_opt(name).await? {
        Some(object) => Ok(Some(json(&object)?)),
        None => Ok(None),
    }
}

/// Server-side apply of `object`; the answer is the object as the server stored (or, in a dry
/// run, would store) it.
pub async fn apply(
    api: &Api<DynamicObject>,
    object: &Value,
    mode: Mode,
    conflicts: Conflicts,
) -> Result<Value, ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if conflicts == Conflicts::Force {
        params = params.force();
    }
    if mode == Mode::DryRun {
        params = params.dry_run();
    }
    let answer = api.patch(name, &params, &Patch::Apply(object)).await?;
    json(&answer)
}

/// Deletes an object (dependents in the background, like kubectl).
pub async fn delete(api: &Api<DynamicObject>, name: &str) -> Result<(), ApiError> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = ApiError::from(error);
            if error.is_not_found() {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// The object as it can be applied back: server-set metadata and status removed.
pub fn restorable(live: &Value) -> Value {
    let mut object = live.clone();
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for key in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            metadata.remove(key);
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    object
}
