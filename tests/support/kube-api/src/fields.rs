//! Field sets as server-side apply tracks them (`managedFields[].fieldsV1`): `f:<key>` for a
//! map key, `k:{"name":"x"}` for an element of a list keyed by `name` (containers, env,
//! ports, volumes, …), `.` for the element itself. Other lists are atomic (owned whole).

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// One owned field: the path of `f:`/`k:` elements from the object root.
pub(crate) type Path = Vec<String>;

/// Fields never tracked: identity and server-owned metadata.
fn ignored(path: &[String]) -> bool {
    match path {
        [first] => matches!(first.as_str(), "f:apiVersion" | "f:kind" | "f:status"),
        [first, second, ..] if first == "f:metadata" => matches!(
            second.as_str(),
            "f:name"
                | "f:namespace"
                | "f:uid"
                | "f:resourceVersion"
                | "f:generation"
                | "f:creationTimestamp"
                | "f:managedFields"
                | "f:deletionTimestamp"
        ),
        [first, ..] => first == "f:status",
        [] => true,
    }
}

fn keyed(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

fn key_of(item: &Value) -> String {
    format!("k:{}", json!({"name": item["name"]}))
}

/// The leaf fields a (partial) object sets.
pub(crate) fn leaves(value: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out.retain(|p| !ignored(p));
    out
}

fn walk(value: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                path.push(format!("f:{key}"));
                walk(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) if keyed(items) => {
            for item in items {
                path.push(key_of(item));
                path.push(".".into());
                out.insert(path.clone());
                path.pop();
                walk(item, path, out);
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The `fieldsV1` JSON of a set.
pub(crate) fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for part in path {
            node = node
                .entry(part.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("field set nodes are objects");
        }
    }
    Value::Object(root)
}

/// The set a `fieldsV1` JSON describes.
pub(crate) fn from_fields_v1(value: &Value) -> BTreeSet<Path> {
    fn go(value: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        match value.as_object() {
            Some(map) if !map.is_empty() => {
                for (key, child) in map {
                    path.push(key.clone());
                    go(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    go(value, &mut Vec::new(), &mut out);
    out
}

/// The value at a field path (`None` when absent).
pub(crate) fn get<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = object;
    for part in path {
        if part == "." {
            return Some(node);
        }
        node = if let Some(key) = part.strip_prefix("f:") {
            node.get(key)?
        } else if let Some(key) = part.strip_prefix("k:") {
            let wanted: Value = serde_json::from_str(key).ok()?;
            node.as_array()?
                .iter()
                .find(|item| item["name"] == wanted["name"])?
        } else {
            return None;
        };
    }
    Some(node)
}

/// Removes the field at `path` (a `.` path removes the list element).
pub(crate) fn remove(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if last == "." {
        if let Some((element, list_path)) = parents.split_last()
            && let Some(key) = element.strip_prefix("k:")
            && let Ok(wanted) = serde_json::from_str::<Value>(key)
            && let Some(list) = get_mut(object, list_path).and_then(Value::as_array_mut)
        {
            list.retain(|item| item["name"] != wanted["name"]);
        }
        return;
    }
    if let Some(key) = last.strip_prefix("f:")
        && let Some(map) = get_mut(object, parents).and_then(Value::as_object_mut)
    {
        map.remove(key);
    }
}

fn get_mut<'a>(object: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut node = object;
    for part in path {
        node = if let Some(key) = part.strip_prefix("f:") {
            node.get_mut(key)?
        } else if let Some(key) = part.strip_prefix("k:") {
            let wanted: Value = serde_json::from_str(key).ok()?;
            node.as_array_mut()?
                .iter_mut()
                .find(|item| item["name"] == wanted["name"])?
        } else {
            return None;
        };
    }
    Some(node)
}

/// The field path as the apiserver prints it in conflicts:
/// `.spec.template.spec.containers[name="api"].image`.
pub(crate) fn display(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if let Some(key) = part.strip_prefix("f:") {
            out.push('.');
            out.push_str(key);
        } else if let Some(key) = part.strip_prefix("k:") {
            let wanted: Value = serde_json::from_str(key).unwrap_or_default();
            out.push_str(&format!("[name={}]", wanted["name"]));
        }
    }
    out
}

/// Merges an applied configuration into an object: maps recursively, lists keyed by `name`
/// element by element (live order kept, new elements appended), everything else replaced.
pub(crate) fn merge(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(live), Value::Object(applied)) => {
            for (key, value) in applied {
                match live.get_mut(key) {
                    Some(existing) if !value.is_null() => merge(existing, value),
                    _ => {
                        live.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(live), Value::Array(applied)) if keyed(applied) && keyed(live) => {
            for item in applied {
                match live.iter_mut().find(|l| l["name"] == item["name"]) {
                    Some(existing) => merge(existing, item),
                    None => live.push(item.clone()),
                }
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_round_trip_and_display() {
        let applied = json!({"apiVersion": "apps/v1", "metadata": {"name": "a", "labels": {"x": "1"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": "i:1"}]}}}});
        let set = leaves(&applied);
        let shown: Vec<String> = set.iter().map(|p| display(p)).collect();
        assert!(
            shown.contains(&".spec.template.spec.containers[name=\"api\"].image".to_string()),
            "{shown:?}"
        );
        assert!(shown.contains(&".metadata.labels.x".to_string()));
        assert!(!shown.contains(&".metadata.name".to_string()));
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
        let image = set.iter().find(|p| display(p).ends_with(".image")).unwrap();
        assert_eq!(get(&applied, image), Some(&json!("i:1")));
    }

    #[test]
    fn merge_and_remove() {
        let mut live = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}], "x": [1, 2]}});
        merge(
            &mut live,
            &json!({"spec": {"containers": [{"name": "b", "image": "3"}], "x": [3]}}),
        );
        assert_eq!(
            live,
            json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "3"}], "x": [3]}})
        );
        remove(
            &mut live,
            &[
                "f:spec".into(),
                "f:containers".into(),
                "k:{\"name\":\"a\"}".into(),
                ".".into(),
            ],
        );
        remove(&mut live, &["f:spec".into(), "f:x".into()]);
        assert_eq!(
            live,
            json!({"spec": {"containers": [{"name": "b", "image": "3"}]}})
        );
    }
}
