//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): create-or-merge with
//! per-manager field ownership in `managedFields`, conflicts that name the other manager and
//! the field (409, like the apiserver), `force=true` to take fields over, and fields a
//! manager stops applying removed. Updates by other means (PUT, strategic/merge/JSON patches)
//! take ownership of the fields they change, as `operation: Update` entries.

use crate::fields::{self, Path};
use crate::store::{ApiError, ResDef, State, status_error};
use crate::util;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
    time: Value,
    set: BTreeSet<Path>,
}

fn entries(object: &Value) -> Vec<Entry> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or("Update").to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            subresource: e["subresource"].as_str().map(str::to_string),
            time: e["time"].clone(),
            set: fields::from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

fn encode(list: &[Entry]) -> Value {
    Value::Array(
        list.iter()
            .filter(|e| !e.set.is_empty() || e.subresource.is_some())
            .map(|e| {
                let mut v = json!({"manager": e.manager, "operation": e.operation,
                    "apiVersion": e.api_version, "time": e.time, "fieldsType": "FieldsV1",
                    "fieldsV1": fields::to_fields_v1(&e.set)});
                if let Some(s) = &e.subresource {
                    v["subresource"] = s.clone().into();
                }
                v
            })
            .collect(),
    )
}

/// Whether `owned` covers `path` (the same field, or an atomic ancestor/descendant of it).
fn overlaps(owned: &Path, path: &Path) -> bool {
    owned.starts_with(path) || path.starts_with(owned)
}

/// A Secret's `stringData` becomes base64 `data`, as the apiserver stores it.
pub(crate) fn fold_string_data(rd: &ResDef, object: &mut Value) {
    if rd.plural != "secrets" {
        return;
    }
    let Some(Value::Object(strings)) = object.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        object["data"][key] = base64(text.as_bytes()).into();
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Serves an apply request.
pub(crate) fn apply(
    st: &mut State,
    rd: &'static ResDef,
    ns: &str,
    name: &str,
    body: &[u8],
    manager: Option<&str>,
    force: bool,
) -> Result<(u16, Value), ApiError> {
    let Some(manager) = manager.filter(|m| !m.is_empty()) else {
        return Err(ApiError::bad_request(
            "PATCH, fieldManager: Required value: is required for apply patch",
        ));
    };
    let mut applied: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(&format!("error decoding YAML: {e}")))?;
    check_identity(rd, name, &applied)?;
    fold_string_data(rd, &mut applied);
    let now = util::now_str();
    let mine = |set: BTreeSet<Path>| Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: rd.api_version(),
        subresource: None,
        time: now.clone().into(),
        set,
    };
    let set = fields::leaves(&applied);
    let Some(cur) = st.get_cloned(rd, ns, name) else {
        let managed = encode(&[mine(set)]);
        let mut created = crate::api::create_object(st, rd, ns, applied, "")?;
        created["metadata"]["managedFields"] = managed.clone();
        let key = State::key(rd, &util::ns_of(&created), name);
        if let Some(stored) = st.objects.get_mut(&key) {
            stored["metadata"]["managedFields"] = managed;
        }
        return Ok((201, created));
    };
    let mut list = entries(&cur);
    let conflicts = conflicts(&list, manager, &set, &cur, &applied);
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(rd, name, &conflicts));
    }
    let previous: BTreeSet<Path> = list
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply")
        .flat_map(|e| e.set.iter().cloned())
        .collect();
    for entry in list
        .iter_mut()
        .filter(|e| e.manager != manager || e.operation != "Apply")
    {
        if force || entry.manager == manager {
            entry.set.retain(|owned| {
                !set.iter().any(|p| {
                    overlaps(owned, p)
                        && (entry.manager == manager || conflicts.iter().any(|(_, _, c)| c == p))
                })
            });
        }
    }
    let mut merged = cur.clone();
    for gone in previous.difference(&set) {
        let shared = list
            .iter()
            .any(|e| !(e.manager == manager && e.operation == "Apply") && e.set.contains(gone));
        if !shared {
            fields::remove(&mut merged, gone);
        }
    }
    fields::merge(&mut merged, &applied);
    list.retain(|e| !(e.manager == manager && e.operation == "Apply"));
    list.push(mine(set));
    let managed = encode(&list);
    merged["metadata"]["managedFields"] = managed.clone();
    let mut before = cur.clone();
    before["metadata"]["managedFields"] = managed;
    st.applying = true;
    let result = crate::api::update_object(st, rd, &before, merged, None, manager);
    st.applying = false;
    let updated = result?;
    if updated == before && before != cur && !st.dry_run {
        return Ok((200, st.replace(rd, before)));
    }
    Ok((200, updated))
}

fn check_identity(rd: &ResDef, name: &str, applied: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if applied["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        causes.push("apiVersion must be set");
    }
    if applied["kind"].as_str().unwrap_or_default().is_empty() {
        causes.push("kind must be set");
    }
    if !causes.is_empty() {
        return Err(ApiError::bad_request(&causes.join(", ")));
    }
    if applied["kind"] != rd.kind || applied["apiVersion"] != rd.api_version() {
        return Err(ApiError::bad_request(&format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            applied["apiVersion"].as_str().unwrap_or_default(),
            rd.api_version()
        )));
    }
    let body_name = util::s(applied, "/metadata/name").unwrap_or_default();
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(&format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

/// `(manager, apiVersion, path)` of every field another manager owns with a different value.
fn conflicts(
    list: &[Entry],
    manager: &str,
    set: &BTreeSet<Path>,
    cur: &Value,
    applied: &Value,
) -> Vec<(String, String, Path)> {
    let mut found = Vec::new();
    for path in set.iter().filter(|p| p.last().is_none_or(|l| l != ".")) {
        if fields::get(cur, path) == fields::get(applied, path) {
            continue;
        }
        for entry in list
            .iter()
            .filter(|e| e.manager != manager && e.subresource.is_none())
        {
            if entry.set.iter().any(|owned| overlaps(owned, path)) {
                found.push((
                    entry.manager.clone(),
                    entry.api_version.clone(),
                    path.clone(),
                ));
            }
        }
    }
    found
}

fn conflict_error(rd: &ResDef, name: &str, conflicts: &[(String, String, Path)]) -> ApiError {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(m, v, p)| format!("conflict with \"{m}\" using {v}: {}", fields::display(p)))
        .collect();
    let message = if let [one] = lines.as_slice() {
        format!("Apply failed with 1 conflict: {one}")
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            lines.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, v, p)| json!({"type": "FieldManagerConflict", "message": format!("conflict with \"{m}\" using {v}"), "field": fields::display(p)}))
        .collect();
    let mut details = json!({"name": name, "kind": rd.plural, "causes": causes});
    if !rd.group.is_empty() {
        details["group"] = rd.group.into();
    }
    status_error(409, "Conflict", &message, Some(details))
}

/// After a non-apply write: the writer owns the fields it changed (taken from the others).
pub(crate) fn record_update(cur: &Value, new: &mut Value, rd: &ResDef, manager: &str) {
    if manager.is_empty() {
        return;
    }
    let before = fields::leaves(cur);
    let after = fields::leaves(new);
    let changed: BTreeSet<Path> = after
        .iter()
        .filter(|p| p.last().is_none_or(|l| l != "."))
        .filter(|p| fields::get(cur, p) != fields::get(new, p))
        .cloned()
        .chain(before.difference(&after).cloned())
        .collect();
    if changed.is_empty() {
        return;
    }
    let mut list = entries(cur);
    for entry in &mut list {
        entry.set.retain(|owned| !changed.contains(owned));
    }
    let now = util::now_str();
    match list
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Update" && e.subresource.is_none())
    {
        Some(entry) => {
            entry
                .set
                .extend(changed.into_iter().filter(|p| after.contains(p)));
            entry.time = now.into();
        }
        None => list.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: rd.api_version(),
            subresource: None,
            time: now.into(),
            set: changed.into_iter().filter(|p| after.contains(p)).collect(),
        }),
    }
    new["metadata"]["managedFields"] = encode(&list);
}

/// Where a manager name must be given: apply requests only.
pub(crate) fn force_of(q: &std::collections::HashMap<String, String>) -> bool {
    q.get("force").is_some_and(|f| f == "true")
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_like_the_apiserver() {
        assert_eq!(super::base64(b"hunter2"), "aHVudGVyMg==");
        assert_eq!(super::base64(b"abc"), "YWJj");
    }
}
