//! Preflight: everything that can be known before touching anything. Every target is read, its
//! containers chosen, its patch computed, the identity's right to patch checked, paused and
//! OnDelete workloads refused, images optionally looked up in their registry. Any problem stops
//! the deploy with nothing changed, and every problem is reported at once.

use super::cluster::{Cluster, plural};
use super::patch::{self, SetImage, Stamp};
use super::target::{DeployTarget, kind_name};
use crate::config::model::WorkloadKind;
use serde_json::Value;

/// A target that passed preflight: the workload as read (the rollback snapshot) and the change.
#[derive(Debug, Clone)]
pub struct Ready {
    pub namespace: String,
    pub workload: Value,
    pub set: SetImage,
    /// Warnings worth an annotation (stale-image risk).
    pub warnings: Vec<String>,
}

/// One reason a target cannot be deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub service: String,
    pub message: String,
    pub help: Option<String>,
}

/// Checks one target against the cluster.
pub async fn check(
    cluster: &Cluster,
    target: &DeployTarget,
    stamp: &Stamp,
    registry: &crate::registry::RegistryClient,
) -> Result<Ready, Vec<Problem>> {
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace.clone());
    let problem = |message: String, help: Option<String>| Problem {
        service: target.service.clone(),
        message,
        help,
    };
    let kind = kind_name(target.kind);
    let workload = match cluster.get(target.kind, &namespace, &target.name).await {
        Ok(Some(workload)) => workload,
        Ok(None) => {
            return Err(vec![problem(
                format!(
                    "{kind} `{}` does not exist in namespace `{namespace}`",
                    target.name
                ),
                Some(format!(
                    "check services.{}.deploy.name/namespace/kind, or create it first (`kubectl -n {namespace} get {}`)",
                    target.service,
                    plural(target.kind)
                )),
            )]);
        }
        Err(error) => {
            return Err(vec![problem(
                format!(
                    "cannot read {kind} `{}` in namespace `{namespace}`: {error}",
                    target.name
                ),
                None,
            )]);
        }
    };
    let Assessment {
        set,
        mut problems,
        mut warnings,
    } = assess(target, &workload, &namespace, stamp);
    let (rbac_problems, rbac_warnings) = rbac(cluster, target, &namespace).await;
    problems.extend(rbac_problems);
    warnings.extend(rbac_warnings);
    if target.verify_image
        && let Err(message) = verify_image(registry, &target.image).await
    {
        problems.push(problem(
            message,
            Some("build and push it first, or check the plan's tags".into()),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let Some(set) = set else {
        return Err(problems);
    };
    Ok(Ready {
        namespace,
        workload,
        set,
        warnings,
    })
}

/// The identity's rights in the namespace: `patch` on the workload's kind is a must (a
/// problem); reading pods, ReplicaSets, events and logs only sharpens the verdict (a warning).
/// The questions are asked once per namespace, whatever the number of services
/// ([`Cluster::can_i_sub`]).
async fn rbac(
    cluster: &Cluster,
    target: &DeployTarget,
    namespace: &str,
) -> (Vec<Problem>, Vec<String>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let problem = |message: String, help: Option<String>| Problem {
        service: target.service.clone(),
        message,
        help,
    };
    match cluster
        .can_i(namespace, "patch", "apps", plural(target.kind))
        .await
    {
        Ok(true) => {}
        Ok(false) => problems.push(problem(
            format!(
                "this identity may not `patch` {}.apps in namespace `{namespace}`",
                plural(target.kind)
            ),
            Some(format!(
                "grant a Role with verbs [get, list, watch, patch] on {}.apps (and [get, list, watch] on pods, replicasets, events; [create, get, update, delete] on leases.coordination.k8s.io) in `{namespace}`",
                plural(target.kind)
            )),
        )),
        Err(error) => problems.push(problem(
            format!("cannot check RBAC (SelfSubjectAccessReview): {error}"),
            None,
        )),
    }
    problems.extend(gate_rbac(cluster, target, namespace).await);
    // Without these the rollout is still judged, but doomed pods are only seen at the deadline
    // and a failure has no diagnosis: worth a warning, not a stop.
    for (verb, group, resource) in [
        ("watch", "", "pods"),
        ("watch", "apps", "replicasets"),
        ("list", "", "events"),
        ("get", "", "pods/log"),
    ] {
        let (resource, subresource) = match resource.split_once('/') {
            Some((resource, subresource)) => (resource, Some(subresource)),
            None => (resource, None),
        };
        if let Ok(false) = cluster
            .can_i_sub(namespace, verb, group, resource, subresource)
            .await
        {
            let shown = subresource.map_or(resource.to_string(), |s| format!("{resource}/{s}"));
            warnings.push(format!(
                "this identity may not `{verb}` {shown} in namespace `{namespace}`: doomed pods are only noticed at the deadline and failures come without pod details; grant it in the deployer's Role"
            ));
        }
    }
    (problems, warnings)
}

/// An in-cluster health gate (`health.port`) needs `create pods/portforward` (and `get
/// services` with `health.service`): a must, asked only when the service has such a gate,
/// once per namespace like every question.
pub(crate) async fn gate_rbac(
    cluster: &Cluster,
    target: &DeployTarget,
    namespace: &str,
) -> Vec<Problem> {
    let Some(forward) = target.health.as_ref().and_then(|g| g.forward.as_ref()) else {
        return Vec::new();
    };
    let mut needed = vec![("create", "pods", Some("portforward"))];
    if forward.service.is_some() {
        needed.push(("get", "services", None));
    }
    let mut problems = Vec::new();
    for (verb, resource, subresource) in needed {
        let shown = subresource.map_or(resource.to_string(), |s| format!("{resource}/{s}"));
        let message = match cluster
            .can_i_sub(namespace, verb, "", resource, subresource)
            .await
        {
            Ok(true) => continue,
            Ok(false) => format!(
                "this identity may not `{verb}` {shown} in namespace `{namespace}`, which the \
                 health gate of `{}` needs (`health.port` is checked through a port-forward)",
                target.service
            ),
            Err(error) => format!("cannot check RBAC (SelfSubjectAccessReview): {error}"),
        };
        problems.push(Problem {
            service: target.service.clone(),
            message,
            help: Some(format!(
                "grant the deployer's Role verb [{verb}] on {shown} in `{namespace}`, or check \
                 the service from the runner with `health.url`"
            )),
        });
    }
    problems
}

/// What the workload as read says about the target, before any other call: the change to
/// send (or the container problem), a paused or `OnDelete` workload, the stale-image risk of a
/// mutable tag. Pure.
pub struct Assessment {
    pub set: Option<SetImage>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
}

pub fn assess(
    target: &DeployTarget,
    workload: &serde_json::Value,
    namespace: &str,
    stamp: &Stamp,
) -> Assessment {
    let problem = |message: String, help: Option<String>| Problem {
        service: target.service.clone(),
        message,
        help,
    };
    let kind = kind_name(target.kind);
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let set = match patch::set_image(target, workload, stamp) {
        Ok(set) => Some(set),
        Err(message) => {
            problems.push(problem(
                message,
                Some(format!(
                    "set services.{}.deploy.container to one of them, or `*` for all",
                    target.service
                )),
            ));
            None
        }
    };
    if workload["spec"]["paused"].as_bool() == Some(true) {
        problems.push(problem(
            format!(
                "{kind} `{}` is paused: a new image would not roll out",
                target.name
            ),
            Some(format!(
                "resume it first: kubectl -n {namespace} rollout resume {}/{}",
                plural(target.kind),
                target.name
            )),
        ));
    }
    if matches!(
        target.kind,
        WorkloadKind::StatefulSet | WorkloadKind::DaemonSet
    ) && workload["spec"]["updateStrategy"]["type"].as_str() == Some("OnDelete")
    {
        problems.push(problem(
            format!(
                "{kind} `{}` uses the OnDelete update strategy: its pods are not replaced when the image changes",
                target.name
            ),
            Some("use updateStrategy RollingUpdate, or replace its pods by hand".into()),
        ));
    }
    if set.is_some() && target.mutable_tag && !target.enforce_pull_always {
        for container in patch::select(target, workload).unwrap_or_default() {
            if patch::effective_pull_policy(&container) != "Always" {
                warnings.push(format!(
                    "{kind}/{} container `{}` deploys the mutable tag `{}` with imagePullPolicy {}: a node that already has that tag cached keeps running the old image. Deploy an immutable tag or digest, or set deploy.enforce-pull-always: true",
                    target.name,
                    container.name,
                    target.image,
                    patch::effective_pull_policy(&container)
                ));
            }
        }
    }
    Assessment {
        set,
        problems,
        warnings,
    }
}

/// Looks the image up in its registry: `image:tag`, or the digest when pinned.
async fn verify_image(
    registry: &crate::registry::RegistryClient,
    image: &str,
) -> Result<(), String> {
    let (name, reference) = split_reference(image)?;
    match registry.manifest_digest(&name, &reference).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!(
            "the image `{image}` does not exist in its registry"
        )),
        Err(error) => Err(format!("cannot verify the image `{image}`: {error}")),
    }
}

/// `host/repo:tag@digest` → (`host/repo`, the digest, else the tag, else `latest`).
pub fn split_reference(image: &str) -> Result<(String, String), String> {
    let reference = crate::reference::Reference::parse(image).map_err(|e| {
        format!(
            "`{}` is not an image reference: {e}",
            crate::reference::shown(image)
        )
    })?;
    Ok((reference.name(), reference.tag_or_digest().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::target::ContainerSelector;
    use serde_json::json;

    fn target(kind: WorkloadKind, image: &str) -> DeployTarget {
        DeployTarget {
            kind,
            ..DeployTarget::example(image)
        }
    }

    fn workload(spec: serde_json::Value) -> serde_json::Value {
        let mut workload = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "auth", "image": "r/auth:1.0.0"}]}}}});
        for (key, value) in spec.as_object().unwrap() {
            workload["spec"][key] = value.clone();
        }
        workload
    }

    #[test]
    fn a_ready_workload_gets_its_patch_and_no_problem() {
        let assessed = assess(
            &target(WorkloadKind::Deployment, "r/auth:1.1.0"),
            &workload(json!({})),
            "shop",
            &Stamp::default(),
        );
        assert!(assessed.problems.is_empty());
        assert!(assessed.warnings.is_empty());
        assert!(assessed.set.unwrap().patch.is_some());
    }

    #[test]
    fn paused_and_on_delete_workloads_are_refused_with_the_fix() {
        let assessed = assess(
            &target(WorkloadKind::Deployment, "r/auth:1.1.0"),
            &workload(json!({"paused": true})),
            "shop",
            &Stamp::default(),
        );
        assert_eq!(assessed.problems.len(), 1);
        assert_eq!(
            assessed.problems[0].help.as_deref(),
            Some("resume it first: kubectl -n shop rollout resume deployments/auth")
        );
        let assessed = assess(
            &target(WorkloadKind::StatefulSet, "r/auth:1.1.0"),
            &workload(json!({"updateStrategy": {"type": "OnDelete"}})),
            "shop",
            &Stamp::default(),
        );
        assert!(assessed.problems[0].message.contains("OnDelete"));
    }

    #[test]
    fn a_mutable_tag_warns_unless_always_is_enforced() {
        let mut mutable = target(WorkloadKind::Deployment, "r/auth:prod-latest");
        let assessed = assess(&mutable, &workload(json!({})), "shop", &Stamp::default());
        assert_eq!(assessed.warnings.len(), 1);
        assert!(assessed.warnings[0].contains("imagePullPolicy IfNotPresent"));
        mutable.enforce_pull_always = true;
        let assessed = assess(&mutable, &workload(json!({})), "shop", &Stamp::default());
        assert!(assessed.warnings.is_empty());
    }

    #[test]
    fn a_missing_container_is_a_problem_with_the_real_names() {
        let mut named = target(WorkloadKind::Deployment, "r/auth:1.1.0");
        named.container = ContainerSelector::Named("api".into());
        let assessed = assess(&named, &workload(json!({})), "shop", &Stamp::default());
        assert!(assessed.set.is_none());
        assert!(
            assessed.problems[0]
                .message
                .contains("its containers: auth")
        );
    }

    #[test]
    fn references_split_like_docker() {
        assert_eq!(
            split_reference("localhost:5000/shop/auth:1.2"),
            Ok(("localhost:5000/shop/auth".into(), "1.2".into()))
        );
        assert_eq!(
            split_reference("localhost:5000/shop/auth"),
            Ok(("localhost:5000/shop/auth".into(), "latest".into()))
        );
        assert_eq!(
            split_reference(&format!("ghcr.io/a/b:1@sha256:{}", "a".repeat(64))),
            Ok(("ghcr.io/a/b".into(), format!("sha256:{}", "a".repeat(64))))
        );
    }
}
