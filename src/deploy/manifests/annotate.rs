//! shipgate's annotations on rendered workloads (issue #11 §9):
//! - a workload whose image this run changes gets the planned commit, the service version, the
//!   run URL and the change-cause on its pod template (as the set-image path writes them), and
//!   `shipgate.dev/revision` + `shipgate.dev/deployed-at` on the object itself;
//! - a workload of a service NOT in this run (or whose image is already live) keeps its live
//!   shipgate annotations, so its pods do not restart and its deployed commit stays true;
//! - every object carries the `shipgate.dev/managed-by` label that prune looks for.

use super::object::Manifest;
use super::substitute::{
    LiveObjects, Reason, Substitution, containers, live_key, pod_spec_pointer,
};
use crate::deploy::patch::{CHANGE_CAUSE, REVISION, RUN_URL, VERSION};
use serde_json::{Map, Value, json};

pub const DEPLOYED_AT: &str = "shipgate.dev/deployed-at";
pub const MANAGED_BY: &str = "shipgate.dev/managed-by";

/// The facts of this run.
#[derive(Debug, Clone)]
pub struct RunStamp {
    /// The planned commit.
    pub revision: String,
    /// RFC 3339.
    pub deployed_at: String,
    pub run_url: Option<String>,
    /// Service → version, for `shipgate.dev/version`.
    pub versions: Vec<(String, String)>,
}

/// Whether a key is one shipgate writes (and so keeps from the live object).
fn ours(key: &str) -> bool {
    key.starts_with("shipgate.dev/") || key == CHANGE_CAUSE
}

/// Stamps or preserves annotations on every workload, and labels every object as managed.
pub fn annotate(
    manifests: &mut [Manifest],
    substitutions: &[Substitution],
    live: &LiveObjects,
    stamp: &RunStamp,
) {
    for manifest in manifests.iter_mut() {
        let id = manifest.id();
        manifest.object["metadata"]["labels"][MANAGED_BY] = json!("shipgate");
        let Some(pointer) = pod_spec_pointer(&manifest.object) else {
            continue;
        };
        let live_object = live.get(&live_key(&id));
        let live_images = live_object.map(containers).unwrap_or_default();
        let changed: Vec<&Substitution> = substitutions
            .iter()
            .filter(|s| s.object == id && matches!(s.reason, Reason::Planned { .. }))
            .filter(|s| {
                !live_images.iter().any(|(init, name, image)| {
                    *init == s.init && *name == s.container && *image == s.to
                })
            })
            .collect();
        let template = pointer.trim_end_matches("/spec");
        if changed.is_empty() {
            if let Some(live_object) = live_object {
                keep_live(&mut manifest.object, live_object, template);
            }
            continue;
        }
        stamp_workload(&mut manifest.object, template, &changed, stamp);
    }
}

fn keep_live(object: &mut Value, live: &Value, template: &str) {
    for pointer in ["/metadata".to_string(), format!("{template}/metadata")] {
        let Some(annotations) = live
            .pointer(&format!("{pointer}/annotations"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (key, value) in annotations.iter().filter(|(k, _)| ours(k)) {
            if let Some(target) = annotations_mut(object, &pointer)
                && !target.contains_key(key)
            {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

fn stamp_workload(object: &mut Value, template: &str, changed: &[&Substitution], stamp: &RunStamp) {
    let services: Vec<&str> = {
        let mut names: Vec<&str> = changed.iter().map(|s| s.reason.service()).collect();
        names.dedup();
        names
    };
    let images: Vec<&str> = changed.iter().map(|s| s.to.as_str()).collect();
    let mut cause = format!("shipgate: {} {}", services.join(", "), images.join(", "));
    if let Some(url) = &stamp.run_url {
        cause.push_str(&format!(" ({url})"));
    }
    let mut on_template = vec![
        (REVISION, stamp.revision.clone()),
        (CHANGE_CAUSE, cause.clone()),
    ];
    if let [service] = services.as_slice()
        && let Some((_, version)) = stamp.versions.iter().find(|(s, _)| s == service)
    {
        on_template.push((VERSION, version.clone()));
    }
    if let Some(url) = &stamp.run_url {
        on_template.push((RUN_URL, url.clone()));
    }
    if let Some(annotations) = annotations_mut(object, &format!("{template}/metadata")) {
        for (key, value) in &on_template {
            annotations.insert((*key).to_string(), json!(value));
        }
    }
    if let Some(annotations) = annotations_mut(object, "/metadata") {
        annotations.insert(REVISION.into(), json!(stamp.revision));
        annotations.insert(DEPLOYED_AT.into(), json!(stamp.deployed_at));
        annotations.insert(CHANGE_CAUSE.into(), json!(cause));
        if let Some(url) = &stamp.run_url {
            annotations.insert(RUN_URL.into(), json!(url));
        }
    }
}

/// The `annotations` map under the metadata at `pointer`, created when missing.
fn annotations_mut<'a>(object: &'a mut Value, pointer: &str) -> Option<&'a mut Map<String, Value>> {
    let metadata = ensure_object(object, pointer)?;
    metadata
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
}

fn ensure_object<'a>(object: &'a mut Value, pointer: &str) -> Option<&'a mut Map<String, Value>> {
    let mut node = object;
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        let map = node.as_object_mut()?;
        node = map.entry(part).or_insert_with(|| json!({}));
        if node.is_null() {
            *node = json!({});
        }
    }
    node.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::manifests::substitute::{Inputs, Kept, Planned, substitute};

    fn deployment(name: &str, image: &str, annotations: Value) -> Manifest {
        Manifest {
            object: json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "shop", "annotations": annotations.clone()},
                "spec": {"template": {"metadata": {"annotations": annotations}, "spec": {"containers": [{"name": name, "image": image}]}}}}),
            origin: "t".into(),
        }
    }

    fn stamp() -> RunStamp {
        RunStamp {
            revision: "c0ffee".into(),
            deployed_at: "2026-12-05T21:00:00Z".into(),
            run_url: Some("https://github.com/a/b/actions/runs/9".into()),
            versions: vec![("api".into(), "1.3.0".into())],
        }
    }

    #[test]
    fn changed_workloads_are_stamped_kept_ones_keep_their_live_annotations() {
        let mut manifests = vec![
            deployment("api", "r/api:latest", json!({})),
            deployment("web", "r/web:latest", json!({"team": "x"})),
            Manifest {
                object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
                origin: "t".into(),
            },
        ];
        let mut live = LiveObjects::new();
        let live_web = deployment(
            "web",
            "r/web:1.0",
            json!({"shipgate.dev/revision": "old", "kubernetes.io/change-cause": "shipgate: web r/web:1.0", "team": "y"}),
        );
        live.insert(live_key(&live_web.id()), live_web.object);
        let planned = [Planned {
            service: "api".into(),
            repository: "r/api".into(),
            image: "r/api:1.3".into(),
            source: "plan tag".into(),
        }];
        let kept = [Kept {
            service: "web".into(),
            repository: "r/web".into(),
        }];
        let inputs = Inputs {
            planned: &planned,
            kept: &kept,
            live: &live,
            allow_manifest_tags: false,
            registry: &super::super::substitute::NO_LOOKUPS,
        };
        let made = substitute(&mut manifests, &inputs).unwrap();
        annotate(&mut manifests, &made, &live, &stamp());
        let api = &manifests[0].object;
        let template = &api["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(template[REVISION], "c0ffee");
        assert_eq!(template[VERSION], "1.3.0");
        assert_eq!(
            template[CHANGE_CAUSE],
            "shipgate: api r/api:1.3 (https://github.com/a/b/actions/runs/9)"
        );
        assert!(
            template.get(DEPLOYED_AT).is_none(),
            "a timestamp on the template restarts pods"
        );
        assert_eq!(
            api["metadata"]["annotations"][DEPLOYED_AT],
            "2026-12-05T21:00:00Z"
        );
        let web = &manifests[1].object;
        assert_eq!(
            web["spec"]["template"]["metadata"]["annotations"][REVISION],
            "old"
        );
        assert_eq!(
            web["spec"]["template"]["metadata"]["annotations"]["team"], "x",
            "not ours: as rendered"
        );
        assert_eq!(
            web["metadata"]["annotations"][CHANGE_CAUSE],
            "shipgate: web r/web:1.0"
        );
        assert_eq!(
            manifests[2].object["metadata"]["labels"][MANAGED_BY],
            "shipgate"
        );
        assert!(manifests[2].object["metadata"].get("annotations").is_none());
    }

    #[test]
    fn a_planned_image_already_live_does_not_restart() {
        let mut manifests = vec![deployment("api", "r/api:latest", json!({}))];
        let mut live = LiveObjects::new();
        let live_api = deployment(
            "api",
            "r/api:1.3",
            json!({"shipgate.dev/revision": "before"}),
        );
        live.insert(live_key(&live_api.id()), live_api.object);
        let planned = [Planned {
            service: "api".into(),
            repository: "r/api".into(),
            image: "r/api:1.3".into(),
            source: "plan tag".into(),
        }];
        let inputs = Inputs {
            planned: &planned,
            kept: &[],
            live: &live,
            allow_manifest_tags: false,
            registry: &super::super::substitute::NO_LOOKUPS,
        };
        let made = substitute(&mut manifests, &inputs).unwrap();
        annotate(&mut manifests, &made, &live, &stamp());
        assert_eq!(
            manifests[0].object["spec"]["template"]["metadata"]["annotations"][REVISION],
            "before"
        );
    }
}
