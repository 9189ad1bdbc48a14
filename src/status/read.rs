//! The I/O of `shipgate status`: one LIST per kind per namespace (the workload kinds in use,
//! ReplicaSets when a Deployment is among them, pods), never a GET per service; and one registry
//! HEAD per distinct mutable tag. A refused read says which rights are missing.

use super::Subject;
use crate::config::model::WorkloadKind;
use crate::deploy::cluster::{ApiError, Cluster, plural, to_json};
use crate::registry::RegistryClient;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What one namespace holds, as listed.
#[derive(Debug, Default)]
pub struct Namespace {
    /// `(plural of the kind, name)` → the workload as JSON.
    pub workloads: BTreeMap<(&'static str, String), Value>,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
}

/// A read the cluster refused or could not answer, with the rights to grant when that is why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    pub message: String,
    pub help: Option<String>,
}

/// Lists every namespace the subjects live in, all namespaces at once.
pub async fn namespaces(
    cluster: &Cluster,
    subjects: &[Subject],
) -> Result<BTreeMap<String, Namespace>, ReadError> {
    let mut kinds: BTreeMap<String, Vec<WorkloadKind>> = BTreeMap::new();
    for subject in subjects {
        let list = kinds.entry(subject.namespace.clone()).or_default();
        if !list.contains(&subject.kind) {
            list.push(subject.kind);
        }
    }
    let reads = kinds.iter().map(|(namespace, kinds)| async move {
        (
            namespace.clone(),
            list_namespace(cluster, namespace, kinds).await,
        )
    });
    let mut listed = BTreeMap::new();
    for (namespace, result) in join_all(reads).await {
        match result {
            Ok(contents) => {
                listed.insert(namespace, contents);
            }
            Err((resource, error)) => {
                return Err(
                    refused(cluster, &namespace, resource, error, &kinds[&namespace]).await,
                );
            }
        }
    }
    Ok(listed)
}

/// The LISTs of one namespace, concurrently. The error names the resource that failed.
async fn list_namespace(
    cluster: &Cluster,
    namespace: &str,
    kinds: &[WorkloadKind],
) -> Result<Namespace, (&'static str, ApiError)> {
    let params = ListParams::default();
    let workloads = join_all(kinds.iter().map(|kind| {
        let params = params.clone();
        async move {
            let list = cluster.workloads(*kind, namespace).list(&params).await;
            (*kind, list)
        }
    }));
    let replica_sets = async {
        if kinds.contains(&WorkloadKind::Deployment) {
            let api = cluster.typed::<ReplicaSet>(namespace);
            api.list(&params).await.map(|l| l.items)
        } else {
            Ok(Vec::new())
        }
    };
    let pods = async {
        let api = cluster.typed::<Pod>(namespace);
        api.list(&params).await.map(|l| l.items)
    };
    let (workloads, replica_sets, pods) = futures::join!(workloads, replica_sets, pods);
    let mut contents = Namespace {
        replica_sets: replica_sets.map_err(|e| ("replicasets", ApiError::from(e)))?,
        pods: pods.map_err(|e| ("pods", ApiError::from(e)))?,
        ..Namespace::default()
    };
    for (kind, list) in workloads {
        let list = list.map_err(|e| (plural(kind), ApiError::from(e)))?;
        for object in &list.items {
            let json = to_json(object).map_err(|e| (plural(kind), e))?;
            let name = json["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            contents.workloads.insert((plural(kind), name), json);
        }
    }
    Ok(contents)
}

/// The error for a refused LIST: which of the rights `status` needs this identity lacks.
async fn refused(
    cluster: &Cluster,
    namespace: &str,
    resource: &str,
    error: ApiError,
    kinds: &[WorkloadKind],
) -> ReadError {
    if error.code != Some(403) {
        return ReadError {
            message: format!("cannot list {resource} in namespace `{namespace}`: {error}"),
            help: None,
        };
    }
    let mut needed: Vec<(&str, &str)> = kinds.iter().map(|k| ("apps", plural(*k))).collect();
    if kinds.contains(&WorkloadKind::Deployment) {
        needed.push(("apps", "replicasets"));
    }
    needed.push(("", "pods"));
    let checks = join_all(
        needed
            .iter()
            .map(|(group, resource)| cluster.can_i(namespace, "list", group, resource)),
    )
    .await;
    let missing: Vec<String> = needed
        .iter()
        .zip(checks)
        .filter(|(_, allowed)| !matches!(allowed, Ok(true)))
        .map(|((group, resource), _)| {
            if group.is_empty() {
                (*resource).to_string()
            } else {
                format!("{resource}.{group}")
            }
        })
        .collect();
    let missing = if missing.is_empty() {
        vec![resource.to_string()]
    } else {
        missing
    };
    ReadError {
        message: format!(
            "this identity may not `list` {} in namespace `{namespace}` ({error})",
            missing.join(", ")
        ),
        help: Some(format!(
            "status only reads: grant a Role with verbs [get, list] on {} in `{namespace}` (no patch rights are needed)",
            missing.join(", ")
        )),
    }
}

/// The registry's digest of every distinct mutable tag among `images`, looked up concurrently.
/// A tag the registry cannot answer for is left out, with a warning.
pub async fn tag_digests(
    registry: &RegistryClient,
    images: BTreeSet<String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let lookups = images
        .into_iter()
        .filter(|image| crate::deploy::target::is_mutable_reference(image))
        .map(|image| async move {
            let answer = match crate::deploy::preflight::split_reference(&image) {
                Ok((name, tag)) => registry.manifest_digest(&name, &tag).await,
                Err(reason) => Err(crate::registry::RegistryError::InvalidImage {
                    image: image.clone(),
                    reason,
                }),
            };
            (image, answer)
        });
    let mut digests = BTreeMap::new();
    let mut warnings = Vec::new();
    for (image, answer) in join_all(lookups).await {
        match answer {
            Ok(Some(digest)) => {
                digests.insert(image, digest);
            }
            Ok(None) => warnings.push(format!(
                "the registry has no `{image}`: drift is judged from the pods alone"
            )),
            Err(error) => warnings.push(format!(
                "cannot look up `{image}` in its registry ({error}): drift is judged from the pods alone"
            )),
        }
    }
    (digests, warnings)
}
