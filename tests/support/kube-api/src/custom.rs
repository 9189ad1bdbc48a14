//! The kinds beyond the built-in table: CustomResourceDefinitions become served resources the
//! moment they are stored (status `Established`), and discovery lists every served resource of
//! a group version (batch/v1, apiextensions.k8s.io/v1, CRD groups), so kubectl and kube-rs
//! discovery resolve any kind they apply.

use crate::store::{RESOURCES, ResDef, State, res};
use crate::util;
use serde_json::{Value, json};

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_string().into_boxed_str())
}

/// A served custom resource (or `None`).
pub(crate) fn find(
    st: &State,
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'static ResDef> {
    st.custom
        .iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Registers the resources of every stored CRD and marks it Established.
pub(crate) fn reconcile(st: &mut State) {
    for crd in st.list(res("customresourcedefinitions"), None) {
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or_default();
        let namespaced = crd["spec"]["scope"] != "Cluster";
        for version in crd["spec"]["versions"].as_array().into_iter().flatten() {
            let Some(v) = version["name"].as_str() else {
                continue;
            };
            if version["served"] == false || find(st, group, v, plural).is_some() {
                continue;
            }
            st.custom.push(Box::leak(Box::new(ResDef {
                group: leak(group),
                version: leak(v),
                plural: leak(plural),
                kind: leak(kind),
                namespaced,
            })));
        }
        if crd["status"]["conditions"]
            .as_array()
            .is_none_or(Vec::is_empty)
            && !st.dry_run
        {
            let mut established = crd.clone();
            let now = util::now_str();
            established["status"] = json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
                ],
                "acceptedNames": crd["spec"]["names"].clone(),
                "storedVersions": crd["spec"]["versions"].as_array().into_iter().flatten().filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>(),
            });
            st.replace(res("customresourcedefinitions"), established);
        }
    }
}

fn resource_json(r: &ResDef) -> Value {
    let mut verbs = vec![
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    verbs.sort_unstable();
    json!({"name": r.plural, "singularName": r.kind.to_ascii_lowercase(), "namespaced": r.namespaced,
        "kind": r.kind, "verbs": verbs})
}

fn served(st: &State) -> Vec<&'static ResDef> {
    RESOURCES.iter().chain(st.custom.iter().copied()).collect()
}

/// Discovery answers this module adds: `/apis` with CRD groups, and the resource list of any
/// group version not served from a captured fixture.
pub(crate) fn discovery(st: &State, path: &str, apis_fixture: &str) -> Option<Value> {
    if let Some(rest) = path.strip_prefix("/openapi/v3") {
        return openapi_v3(st, rest.trim_start_matches('/'));
    }
    if path == "/apis" {
        let mut apis: Value = serde_json::from_str(apis_fixture).ok()?;
        let groups = apis["groups"].as_array_mut()?;
        for r in &st.custom {
            if groups.iter().any(|g| g["name"] == r.group) {
                continue;
            }
            let gv =
                json!({"groupVersion": format!("{}/{}", r.group, r.version), "version": r.version});
            groups.push(json!({"name": r.group, "versions": [gv.clone()], "preferredVersion": gv}));
        }
        return Some(apis);
    }
    let gv = path.strip_prefix("/apis/")?;
    let (group, version) = gv.split_once('/')?;
    if matches!(
        group,
        "apps" | "coordination.k8s.io" | "authorization.k8s.io" | "rbac.authorization.k8s.io"
    ) {
        return None;
    }
    let resources: Vec<Value> = served(st)
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(|r| {
            let status = json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]});
            [resource_json(r), status]
        })
        .collect();
    if resources.is_empty() {
        return None;
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn gv_path(r: &ResDef) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// The OpenAPI v3 index and per-group-version documents, reduced to what clients read from
/// them: kubectl checks that PATCH of a kind takes `fieldValidation` (else it falls back to
/// downloading the whole v2 schema for client-side validation).
fn openapi_v3(st: &State, gv: &str) -> Option<Value> {
    let served = served(st);
    if gv.is_empty() {
        let mut paths = serde_json::Map::new();
        for r in &served {
            let key = gv_path(r);
            let hash = format!("{:016X}", util::fnv32a(key.as_bytes()));
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
        return Some(json!({"paths": paths}));
    }
    let mut paths = serde_json::Map::new();
    for r in served.iter().filter(|r| gv_path(r) == gv) {
        let scope = if r.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let parameters = json!([
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}}
        ]);
        paths.insert(
            format!("/{gv}/{scope}{}/{{name}}", r.plural),
            json!({"patch": {"operationId": format!("patch{}", r.kind), "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk, "parameters": parameters, "responses": {}}}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.24.0"}, "paths": paths, "components": {"schemas": {}}}),
    )
}
