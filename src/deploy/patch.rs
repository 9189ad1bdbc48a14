//! The exact changes shipgate sends to the cluster, computed from the workload as it is: the
//! set-image strategic merge patch (or none when nothing would change: no new ReplicaSet),
//! kubectl's restart annotation, and the rollback JSON patch that restores the snapshot. Pure.

use super::target::{ContainerSelector, DeployTarget};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// kubectl's restart annotation (kube-rs's `restart()` writes a different key).
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
pub const REVISION: &str = "shipgate.dev/revision";
pub const VERSION: &str = "shipgate.dev/version";
pub const RUN_URL: &str = "shipgate.dev/run-url";
/// When the deploy set the image (RFC 3339); `shipgate status` reports it.
pub const DEPLOYED_AT: &str = "shipgate.dev/deployed-at";

/// One container of the pod template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub init: bool,
    pub pull_policy: Option<String>,
}

/// The containers of a workload's pod template, init containers first.
pub fn containers(workload: &Value) -> Vec<Container> {
    let spec = &workload["spec"]["template"]["spec"];
    let mut all = Vec::new();
    for (key, init) in [("initContainers", true), ("containers", false)] {
        for container in spec[key].as_array().into_iter().flatten() {
            all.push(Container {
                name: container["name"].as_str().unwrap_or_default().to_string(),
                image: container["image"].as_str().unwrap_or_default().to_string(),
                init,
                pull_policy: container["imagePullPolicy"].as_str().map(str::to_string),
            });
        }
    }
    all
}

/// Which containers a target changes; the error lists the real names.
pub fn select(target: &DeployTarget, workload: &Value) -> Result<Vec<Container>, String> {
    let all = containers(workload);
    let candidates: Vec<&Container> = all
        .iter()
        .filter(|c| !c.init || target.init_containers)
        .collect();
    let regular: Vec<&Container> = all.iter().filter(|c| !c.init).collect();
    let listing = || {
        all.iter()
            .map(|c| {
                if c.init {
                    format!("{} (init)", c.name)
                } else {
                    c.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Vec<Container> = match &target.container {
        ContainerSelector::All => candidates.into_iter().cloned().collect(),
        ContainerSelector::Named(name) => {
            let found: Vec<Container> = candidates
                .iter()
                .filter(|c| &c.name == name)
                .map(|c| (*c).clone())
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{} has no container named `{name}`; its containers: {}",
                    target.workload(),
                    listing()
                ));
            }
            found
        }
        ContainerSelector::Auto => {
            if regular.len() == 1 {
                let mut chosen = vec![regular[0].clone()];
                if target.init_containers {
                    chosen.extend(
                        all.iter()
                            .filter(|c| c.init && c.name == target.service)
                            .cloned(),
                    );
                }
                chosen
            } else {
                let named: Vec<Container> = candidates
                    .iter()
                    .filter(|c| c.name == target.service)
                    .map(|c| (*c).clone())
                    .collect();
                if named.is_empty() {
                    return Err(format!(
                        "{} has {} containers and none is named `{}`; its containers: {}",
                        target.workload(),
                        regular.len(),
                        target.service,
                        listing()
                    ));
                }
                named
            }
        }
    };
    if chosen.is_empty() {
        return Err(format!("{} has no containers", target.workload()));
    }
    Ok(chosen)
}

/// One container whose image is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerChange {
    pub name: String,
    pub init: bool,
    pub from: String,
    pub to: String,
}

/// What setting the image amounts to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetImage {
    pub changes: Vec<ContainerChange>,
    /// Every selected container already runs the image.
    pub unchanged: bool,
    /// The strategic merge patch to send; `None` when nothing is sent.
    pub patch: Option<Value>,
}

/// The run facts written into the pod template's annotations.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    pub run_url: Option<String>,
    /// RFC 3339 time for `restartedAt`.
    pub now: String,
}

/// The set-image patch for `target` against the workload as it is now.
///
/// An image that is already set sends nothing (an annotation change alone would start a new
/// ReplicaSet), unless `restart-if-unchanged` asks for kubectl's restart annotation.
pub fn set_image(
    target: &DeployTarget,
    workload: &Value,
    stamp: &Stamp,
) -> Result<SetImage, String> {
    let selected = select(target, workload)?;
    let changes: Vec<ContainerChange> = selected
        .iter()
        .map(|c| ContainerChange {
            name: c.name.clone(),
            init: c.init,
            from: c.image.clone(),
            to: target.image.clone(),
        })
        .collect();
    let pull_fix: Vec<&Container> = if target.enforce_pull_always && target.mutable_tag {
        selected
            .iter()
            .filter(|c| c.pull_policy.as_deref() != Some("Always"))
            .collect()
    } else {
        Vec::new()
    };
    let unchanged = changes.iter().all(|c| c.from == c.to) && pull_fix.is_empty();
    if unchanged && !target.restart_if_unchanged {
        return Ok(SetImage {
            changes,
            unchanged,
            patch: None,
        });
    }
    let mut annotations = Map::new();
    if unchanged {
        annotations.insert(RESTARTED_AT.into(), json!(stamp.now));
    } else {
        annotations.insert(CHANGE_CAUSE.into(), json!(change_cause(target, stamp)));
        annotations.insert(REVISION.into(), json!(target.revision));
        annotations.insert(DEPLOYED_AT.into(), json!(stamp.now));
        if let Some(version) = &target.version {
            annotations.insert(VERSION.into(), json!(version));
        }
        if let Some(url) = &stamp.run_url {
            annotations.insert(RUN_URL.into(), json!(url));
        }
    }
    let mut pod_spec = Map::new();
    for (key, init) in [("initContainers", true), ("containers", false)] {
        let entries: Vec<Value> = selected
            .iter()
            .filter(|c| c.init == init)
            .map(|c| {
                let mut entry = json!({ "name": c.name, "image": target.image });
                if pull_fix
                    .iter()
                    .any(|p| p.name == c.name && p.init == c.init)
                {
                    entry["imagePullPolicy"] = json!("Always");
                }
                entry
            })
            .collect();
        if !entries.is_empty() && !unchanged {
            pod_spec.insert(key.into(), Value::Array(entries));
        }
    }
    let mut template = json!({ "metadata": { "annotations": annotations } });
    if !pod_spec.is_empty() {
        template["spec"] = Value::Object(pod_spec);
    }
    Ok(SetImage {
        changes,
        unchanged,
        patch: Some(json!({ "spec": { "template": template } })),
    })
}

fn change_cause(target: &DeployTarget, stamp: &Stamp) -> String {
    let mut cause = format!("shipgate: {} {}", target.service, target.image);
    if let Some(url) = &stamp.run_url {
        cause.push_str(&format!(" ({url})"));
    }
    cause
}

/// Restores `template` (the snapshot taken before the set-image patch) as a JSON patch that only
/// applies if nobody else changed the spec since: `generation` must still be ours, and the
/// `resourceVersion` of the object we just read makes the apiserver refuse (409) a stale write.
pub fn rollback(template: &Value, generation: i64, resource_version: &str) -> Value {
    json!([
        { "op": "test", "path": "/metadata/generation", "value": generation },
        { "op": "replace", "path": "/metadata/resourceVersion", "value": resource_version },
        { "op": "replace", "path": "/spec/template", "value": template },
    ])
}

/// `imagePullPolicy` as Kubernetes defaults it: `Always` for `:latest` or no tag, else
/// `IfNotPresent`.
pub fn effective_pull_policy(container: &Container) -> &str {
    if let Some(policy) = &container.pull_policy {
        return policy;
    }
    if container.image.contains('@') {
        return "IfNotPresent";
    }
    let last = container.image.rsplit('/').next().unwrap_or_default();
    match last.split_once(':') {
        None | Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(image: &str) -> DeployTarget {
        DeployTarget::example(image)
    }

    fn workload(containers: Value, init: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": containers, "initContainers": init}}}})
    }

    fn stamp() -> Stamp {
        Stamp {
            run_url: Some("https://github.com/acme/shop/actions/runs/1".into()),
            now: "2026-11-22T10:00:00Z".into(),
        }
    }

    #[test]
    fn the_only_container_gets_the_image_with_annotations() {
        let w = workload(json!([{"name": "app", "image": "r/auth:1.1.0"}]), json!([]));
        let set = set_image(&target("r/auth:1.2.0"), &w, &stamp()).unwrap();
        assert!(!set.unchanged);
        assert_eq!(
            set.patch.unwrap(),
            json!({"spec": {"template": {
                "metadata": {"annotations": {
                    "kubernetes.io/change-cause": "shipgate: auth r/auth:1.2.0 (https://github.com/acme/shop/actions/runs/1)",
                    "shipgate.dev/revision": "abc123",
                    "shipgate.dev/deployed-at": "2026-11-22T10:00:00Z",
                    "shipgate.dev/version": "1.2.0",
                    "shipgate.dev/run-url": "https://github.com/acme/shop/actions/runs/1"}},
                "spec": {"containers": [{"name": "app", "image": "r/auth:1.2.0"}]}}}})
        );
    }

    #[test]
    fn an_image_already_set_sends_nothing() {
        let w = workload(
            json!([{"name": "auth", "image": "r/auth:1.2.0"}]),
            json!([]),
        );
        let set = set_image(&target("r/auth:1.2.0"), &w, &stamp()).unwrap();
        assert!(set.unchanged);
        assert_eq!(set.patch, None);
    }

    #[test]
    fn restart_if_unchanged_uses_kubectls_key_only() {
        let w = workload(
            json!([{"name": "auth", "image": "r/auth:1.2.0"}]),
            json!([]),
        );
        let mut t = target("r/auth:1.2.0");
        t.restart_if_unchanged = true;
        let set = set_image(&t, &w, &stamp()).unwrap();
        assert_eq!(
            set.patch.unwrap(),
            json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-11-22T10:00:00Z"}}}}})
        );
    }

    #[test]
    fn several_containers_pick_the_one_named_like_the_service() {
        let w = workload(
            json!([{"name": "proxy", "image": "envoy:1"}, {"name": "auth", "image": "r/auth:1"}]),
            json!([{"name": "migrate", "image": "r/auth:1"}]),
        );
        let set = set_image(&target("r/auth:2"), &w, &stamp()).unwrap();
        assert_eq!(set.changes.len(), 1);
        assert_eq!(set.changes[0].name, "auth");
        let mut t = target("r/auth:2");
        t.service = "billing".into();
        let error = set_image(&t, &w, &stamp()).unwrap_err();
        assert!(error.contains("none is named `billing`"), "{error}");
        assert!(error.contains("proxy, auth"), "{error}");
        assert!(error.contains("migrate (init)"), "{error}");
    }

    #[test]
    fn named_star_and_init_containers() {
        let w = workload(
            json!([{"name": "a", "image": "x:1"}, {"name": "b", "image": "x:1"}]),
            json!([{"name": "init", "image": "x:1"}]),
        );
        let mut t = target("x:2");
        t.container = ContainerSelector::All;
        t.init_containers = true;
        let patch = set_image(&t, &w, &stamp()).unwrap().patch.unwrap();
        let spec = &patch["spec"]["template"]["spec"];
        assert_eq!(spec["containers"].as_array().unwrap().len(), 2);
        assert_eq!(
            spec["initContainers"],
            json!([{"name": "init", "image": "x:2"}])
        );
        t.container = ContainerSelector::Named("nope".into());
        let error = set_image(&t, &w, &stamp()).unwrap_err();
        assert!(
            error.contains("no container named `nope`; its containers: init (init), a, b"),
            "{error}"
        );
        // Without init-containers, a named init container is not a candidate.
        t.init_containers = false;
        t.container = ContainerSelector::Named("init".into());
        assert!(set_image(&t, &w, &stamp()).is_err());
    }

    #[test]
    fn mutable_tags_can_enforce_always() {
        let w = workload(
            json!([{"name": "auth", "image": "r/auth:latest", "imagePullPolicy": "IfNotPresent"}]),
            json!([]),
        );
        let mut t = target("r/auth:latest");
        t.enforce_pull_always = true;
        let set = set_image(&t, &w, &stamp()).unwrap();
        assert!(!set.unchanged);
        assert_eq!(
            set.patch.unwrap()["spec"]["template"]["spec"]["containers"],
            json!([{"name": "auth", "image": "r/auth:latest", "imagePullPolicy": "Always"}])
        );
    }

    #[test]
    fn rollback_is_guarded() {
        let patch = rollback(&json!({"spec": {}}), 4, "1198");
        assert_eq!(
            patch[0],
            json!({"op": "test", "path": "/metadata/generation", "value": 4})
        );
        assert_eq!(patch[1]["value"], "1198");
        assert_eq!(patch[2]["path"], "/spec/template");
    }

    #[test]
    fn default_pull_policies() {
        let c = |image: &str| Container {
            name: "a".into(),
            image: image.into(),
            init: false,
            pull_policy: None,
        };
        assert_eq!(effective_pull_policy(&c("r/a:latest")), "Always");
        assert_eq!(effective_pull_policy(&c("r/a")), "Always");
        assert_eq!(effective_pull_policy(&c("r/a:prod-latest")), "IfNotPresent");
        assert_eq!(effective_pull_policy(&c("r/a:1.0")), "IfNotPresent");
    }
}
