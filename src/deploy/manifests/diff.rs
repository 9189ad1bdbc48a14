//! `kubectl diff`-style previews: live vs what would be applied, as unified diffs of YAML with
//! the server's bookkeeping left out (status, managedFields, resourceVersion, generation, uid,
//! timestamps) and every Secret value replaced by `***` (equal values stay equal, so a
//! reviewer still sees *that* a key changed, never its content).

use serde_json::Value;

/// The object as a reviewer compares it.
pub fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for key in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "selfLink",
        ] {
            metadata.remove(key);
        }
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            annotations.remove(super::annotate::DEPLOYED_AT);
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
    }
    object
}

/// Which side of a diff an object is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Live,
    Applied,
}

/// Secret values as `***`; on the applied side a value that differs from `other` reads
/// `*** (changed)`, so the change shows without its content.
pub fn redact(object: &Value, other: Option<&Value>, side: Side) -> Value {
    let mut object = object.clone();
    if object["kind"] != "Secret" {
        return object;
    }
    for key in ["data", "stringData"] {
        let Some(map) = object.get_mut(key).and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, value) in map.iter_mut() {
            let changed =
                side == Side::Applied && other.is_some_and(|o| o[key][name.as_str()] != *value);
            *value = Value::String(if changed {
                "*** (changed)".into()
            } else {
                "***".into()
            });
        }
    }
    object
}

/// The YAML text of an object (keys sorted: serde_json keeps them in order).
pub fn yaml(object: &Value) -> String {
    serde_saphyr::to_string(object).unwrap_or_else(|_| object.to_string())
}

/// A unified diff `live → applied` of `id`'s YAML; `None` live means a creation, `None`
/// applied a deletion. Empty when equal.
pub fn unified(id: &str, live: Option<&Value>, applied: Option<&Value>) -> String {
    let live = live.map(comparable);
    let applied = applied.map(comparable);
    let old = live
        .as_ref()
        .map(|l| redact(l, applied.as_ref(), Side::Live))
        .map(|v| yaml(&v))
        .unwrap_or_default();
    let new = applied
        .as_ref()
        .map(|a| redact(a, live.as_ref(), Side::Applied))
        .map(|v| yaml(&v))
        .unwrap_or_default();
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{id}"), &format!("applied/{id}"))
        .to_string()
}

/// Whether applying changes anything a reviewer would see.
pub fn differs(live: &Value, applied: &Value) -> bool {
    comparable(live) != comparable(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bookkeeping_is_left_out_and_changes_are_shown() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "5", "managedFields": [{}]}, "data": {"LEVEL": "info"}});
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "9"}, "data": {"LEVEL": "debug"}});
        let diff = unified("ConfigMap/shop/c", Some(&live), Some(&applied));
        assert!(
            diff.contains("-  LEVEL: info") && diff.contains("+  LEVEL: debug"),
            "{diff}"
        );
        assert!(
            !diff.contains("resourceVersion") && !diff.contains("managedFields"),
            "{diff}"
        );
        assert!(
            diff.starts_with("--- live/ConfigMap/shop/c\n+++ applied/ConfigMap/shop/c\n"),
            "{diff}"
        );
        let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"LEVEL": "info"}});
        assert_eq!(unified("x", Some(&live), Some(&same)), "");
        assert!(!differs(&live, &same));
    }

    #[test]
    fn secret_values_never_appear() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"A": "b2xk", "B": "c2FtZQ=="}});
        let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"A": "bmV3", "B": "c2FtZQ=="}});
        let diff = unified("Secret/shop/s", Some(&live), Some(&applied));
        for secret in ["b2xk", "bmV3", "c2FtZQ=="] {
            assert!(!diff.contains(secret), "{diff}");
        }
        assert!(
            diff.contains("+  A: '*** (changed)'")
                || diff.contains("+  A: \"*** (changed)\"")
                || diff.contains("+  A: *** (changed)"),
            "{diff}"
        );
        let created = unified("Secret/shop/s", None, Some(&applied));
        assert!(
            !created.contains("bmV3") && created.contains("***"),
            "{created}"
        );
    }
}
