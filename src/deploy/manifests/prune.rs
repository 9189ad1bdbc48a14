//! Prune memory, ApplySet-style: one parent record per namespace (ConfigMap
//! `shipgate-applyset`, labelled like a kubectl ApplySet parent) lists every object shipgate
//! applied there (cluster-scoped objects: in the record of the default namespace). Every run
//! adds what it applied, so the memory accumulates across `prune: false` runs; a `prune: true`
//! run deletes what is recorded, no longer rendered, still live and still labelled
//! `shipgate.dev/managed-by` — never an object shipgate did not create.

use super::object::{Manifest, ObjectRef};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The record's name in each namespace.
pub const RECORD: &str = "shipgate-applyset";

/// The objects a record lists.
pub fn recorded(record: &Value) -> BTreeSet<ObjectRef> {
    record["data"]["objects"]
        .as_str()
        .and_then(|text| serde_json::from_str::<Vec<ObjectRef>>(text).ok())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// The namespace whose record holds `id`.
pub fn record_namespace(id: &ObjectRef, default_namespace: &str) -> String {
    id.namespace
        .clone()
        .unwrap_or_else(|| default_namespace.to_string())
}

/// What to prune: recorded, and no longer rendered (whatever API version either is written in).
pub fn candidates(recorded: &BTreeSet<ObjectRef>, rendered: &[ObjectRef]) -> Vec<ObjectRef> {
    recorded
        .iter()
        .filter(|r| !rendered.iter().any(|id| id.same_object(r)))
        .filter(|r| !(r.kind == "ConfigMap" && r.name == RECORD))
        .cloned()
        .collect()
}

/// A stub manifest for a recorded object (to resolve its kind and read it).
pub fn stub(id: &ObjectRef) -> Manifest {
    let mut object =
        json!({"apiVersion": id.api_version, "kind": id.kind, "metadata": {"name": id.name}});
    if let Some(namespace) = &id.namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    Manifest {
        object,
        origin: format!("the prune record ({RECORD})"),
    }
}

/// Whether a live object is one shipgate applied (the label says so).
pub fn managed(live: &Value) -> bool {
    live["metadata"]["labels"][super::annotate::MANAGED_BY] == "shipgate"
}

/// The record for `namespace` listing `objects`, ready to apply.
pub fn record(namespace: &str, objects: &BTreeSet<ObjectRef>) -> Value {
    let list: Vec<&ObjectRef> = objects.iter().collect();
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| {
            if o.group().is_empty() {
                o.kind.clone()
            } else {
                format!("{}.{}", o.kind, o.group())
            }
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECORD,
            "namespace": namespace,
            "labels": {"applyset.kubernetes.io/id": format!("applyset-shipgate-{namespace}-v1"), super::annotate::MANAGED_BY: "shipgate-record"},
            "annotations": {"applyset.kubernetes.io/tooling": "shipgate/v1", "applyset.kubernetes.io/contains-group-kinds": kinds.join(",")},
        },
        "data": {"objects": serde_json::to_string(&list).unwrap_or_default()},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        }
    }

    #[test]
    fn records_round_trip_and_candidates_are_what_is_no_longer_rendered() {
        let objects: BTreeSet<ObjectRef> = [id("ConfigMap", "a"), id("Service", "b")]
            .into_iter()
            .collect();
        let record = record("shop", &objects);
        assert_eq!(recorded(&record), objects);
        assert_eq!(
            record["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
            "ConfigMap,Service"
        );
        assert_eq!(
            candidates(&objects, &[id("Service", "b")]),
            vec![id("ConfigMap", "a")]
        );
        let mut renamed = id("Service", "b");
        renamed.api_version = "v1beta1".into();
        assert!(candidates(&[id("Service", "b")].into_iter().collect(), &[renamed]).is_empty());
        assert!(managed(
            &json!({"metadata": {"labels": {"shipgate.dev/managed-by": "shipgate"}}})
        ));
        assert!(!managed(&json!({"metadata": {}})));
    }
}
