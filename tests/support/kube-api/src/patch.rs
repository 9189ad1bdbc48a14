//! PATCH bodies: strategic merge patch (the subset Kubernetes types use), JSON merge patch
//! (RFC 7386) and JSON patch (RFC 6902).

use crate::store::{ApiError, status_error};
use serde_json::{Map, Value, json};

/// Merge key of a list field in the built-in types (strategy "merge"); `None` = replace.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

fn primitive_merge(field: &str) -> bool {
    field == "finalizers"
}

/// Applies a strategic merge patch to `orig`.
pub(crate) fn strategic(orig: &Value, patch: &Value) -> Result<Value, ApiError> {
    match (orig, patch) {
        (_, Value::Object(p)) => Ok(Value::Object(merge_map(orig.as_object(), p)?)),
        _ => Ok(patch.clone()),
    }
}

fn merge_map(
    orig: Option<&Map<String, Value>>,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch.clone();
        p.remove("$patch");
        return Ok(p);
    }
    if patch.get("$patch").and_then(Value::as_str) == Some("delete") {
        return Ok(Map::new());
    }
    let mut out = orig.cloned().unwrap_or_default();
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, pv) in patch {
        if k.starts_with('$') {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let _ = field;
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        let ov = out.get(k);
        let merged = match pv {
            Value::Object(pm) => Value::Object(merge_map(ov.and_then(Value::as_object), pm)?),
            Value::Array(pa) => {
                let order = patch
                    .get(&format!("$setElementOrder/{k}"))
                    .and_then(Value::as_array);
                merge_list(k, ov.and_then(Value::as_array), pa, order)?
            }
            _ => pv.clone(),
        };
        out.insert(k.clone(), merged);
    }
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(cur)), Value::Array(del)) = (out.get(field).cloned(), pv)
        {
            let kept: Vec<Value> = cur.into_iter().filter(|v| !del.contains(v)).collect();
            out.insert(field.to_string(), Value::Array(kept));
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/")
            && !patch.contains_key(field)
            && let (Some(Value::Array(cur)), Value::Array(order)) = (out.get(field).cloned(), pv)
        {
            let mk = merge_key(field);
            let reordered = reorder(cur, order, mk);
            out.insert(field.to_string(), Value::Array(reordered));
        }
    }
    Ok(out)
}

fn key_of<'a>(v: &'a Value, mk: Option<&str>) -> Option<&'a Value> {
    match mk {
        Some(k) => v.get(k),
        None => Some(v),
    }
}

fn reorder(items: Vec<Value>, order: &[Value], mk: Option<&str>) -> Vec<Value> {
    let idx = |v: &Value| {
        order
            .iter()
            .position(|o| key_of(o, mk).is_some() && key_of(o, mk) == key_of(v, mk))
    };
    let (mut listed, rest): (Vec<Value>, Vec<Value>) =
        items.into_iter().partition(|v| idx(v).is_some());
    listed.sort_by_key(|v| idx(v).unwrap_or(usize::MAX));
    listed.extend(rest);
    listed
}

fn merge_list(
    field: &str,
    orig: Option<&Vec<Value>>,
    patch: &[Value],
    order: Option<&Vec<Value>>,
) -> Result<Value, ApiError> {
    let orig = orig.cloned().unwrap_or_default();
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let items: Vec<Value> = patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .cloned()
            .collect();
        return Ok(Value::Array(items));
    }
    let Some(mk) = merge_key(field) else {
        if primitive_merge(field) {
            let mut out = orig;
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            return Ok(Value::Array(out));
        }
        return Ok(Value::Array(patch.to_vec()));
    };
    let mut merged = orig.clone();
    let mut patch_keys: Vec<Value> = Vec::new();
    for p in patch {
        let Some(pk) = p.get(mk).cloned() else {
            return Err(status_error(
                500,
                "InternalError",
                &format!("map: {p} does not contain declared merge key: {mk}"),
                None,
            ));
        };
        let pos = merged.iter().position(|o| o.get(mk) == Some(&pk));
        if p.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                merged.remove(i);
            }
            continue;
        }
        patch_keys.push(pk.clone());
        let pm = p.as_object().cloned().unwrap_or_default();
        match pos {
            Some(i) => {
                let m = merge_map(merged[i].as_object(), &pm)?;
                merged[i] = Value::Object(m);
            }
            None => {
                let m = merge_map(None, &pm)?;
                merged.push(Value::Object(m));
            }
        }
    }
    // Element order, as apimachinery's normalizeElementOrder + mergeSortedSlice do.
    let patch_order: Vec<Value> = match order {
        Some(o) => o.iter().filter_map(|v| v.get(mk).cloned()).collect(),
        None => patch_keys.clone(),
    };
    let server_order: Vec<Value> = orig.iter().filter_map(|v| v.get(mk).cloned()).collect();
    let in_patch = |v: &Value| {
        v.get(mk)
            .is_some_and(|k| patch_order.contains(k) || patch_keys.contains(k))
    };
    let (mut left, mut right): (Vec<Value>, Vec<Value>) = merged.into_iter().partition(in_patch);
    let pidx = |v: &Value| {
        v.get(mk)
            .and_then(|k| patch_order.iter().position(|x| x == k))
            .unwrap_or(usize::MAX)
    };
    left.sort_by_key(pidx);
    let sidx = |v: &Value| {
        v.get(mk)
            .and_then(|k| server_order.iter().position(|x| x == k))
    };
    right.sort_by_key(|v| sidx(v).unwrap_or(usize::MAX));
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        if i >= left.len() {
            out.push(right[j].clone());
            j += 1;
        } else if j >= right.len() {
            out.push(left[i].clone());
            i += 1;
        } else {
            match (sidx(&left[i]), sidx(&right[j])) {
                (Some(a), Some(b)) if a >= b => {
                    out.push(right[j].clone());
                    j += 1;
                }
                _ => {
                    out.push(left[i].clone());
                    i += 1;
                }
            }
        }
    }
    Ok(Value::Array(out))
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge(orig: &Value, patch: &Value) -> Value {
    let mut doc = orig.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

/// RFC 6902 JSON patch, with evanphx/json-patch's error wording (what the apiserver uses).
pub(crate) fn json_patch(orig: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| ApiError::bad_request(&e.to_string()))?;
    let mut doc = orig.clone();
    if let Err(e) = json_patch::patch(&mut doc, &ops) {
        let path = e.path.to_string();
        let msg = match e.kind {
            json_patch::PatchErrorKind::TestFailed => {
                format!("testing value {path} failed: test failed")
            }
            json_patch::PatchErrorKind::InvalidPointer => {
                let op = ops.0.get(e.operation).map(op_name).unwrap_or("replace");
                format!(
                    "{op} operation does not apply: doc is missing path: \"{path}\": missing value"
                )
            }
            _ => e.to_string(),
        };
        return Err(ApiError {
            code: 422,
            body: json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "the server rejected our request due to an error in our request",
                "reason": "Invalid",
                "details": {"causes": [{"reason": "UnexpectedServerResponse", "message": msg}]},
                "code": 422,
            }),
        });
    }
    Ok(doc)
}

fn op_name(op: &json_patch::PatchOperation) -> &'static str {
    match op {
        json_patch::PatchOperation::Add(_) => "add",
        json_patch::PatchOperation::Remove(_) => "remove",
        json_patch::PatchOperation::Replace(_) => "replace",
        json_patch::PatchOperation::Move(_) => "move",
        json_patch::PatchOperation::Copy(_) => "copy",
        json_patch::PatchOperation::Test(_) => "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep() -> Value {
        json!({"spec": {"paused": true, "template": {"spec": {"containers": [
            {"name": "auth", "image": "a:1", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
        ]}}}})
    }

    #[test]
    fn set_image_like_kubectl() {
        let p = json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"auth"}],"containers":[{"image":"a:2","name":"auth"}]}}}});
        let out = strategic(&dep(), &p).expect("applies");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "a:2"
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
            8080
        );
        assert!(
            out["spec"]["template"]["spec"]
                .get("$setElementOrder/containers")
                .is_none()
        );
    }

    #[test]
    fn unknown_container_is_added_first() {
        let p = json!({"spec":{"template":{"spec":{"containers":[{"image":"w:2","name":"web"}]}}}});
        let out = strategic(&dep(), &p).expect("applies");
        let cs = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("list");
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0]["name"], "web");
        assert_eq!(cs[1]["name"], "auth");
        let del =
            json!({"spec":{"template":{"spec":{"containers":[{"name":"web","$patch":"delete"}]}}}});
        let back = strategic(&out, &del).expect("applies");
        assert_eq!(back, dep());
    }

    #[test]
    fn null_deletes_key() {
        let out = strategic(&dep(), &json!({"spec":{"paused":null}})).expect("applies");
        assert!(out["spec"].get("paused").is_none());
    }

    #[test]
    fn json_patch_test_failure() {
        let e = json_patch(
            &json!({"metadata":{"resourceVersion":"5"}}),
            &json!([
                {"op":"test","path":"/metadata/resourceVersion","value":"4"}
            ]),
        )
        .expect_err("test fails");
        assert_eq!(e.code, 422);
        assert_eq!(
            e.body["details"]["causes"][0]["message"],
            "testing value /metadata/resourceVersion failed: test failed"
        );
    }
}
