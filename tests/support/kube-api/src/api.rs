//! The HTTP side: routing, authentication/RBAC, the verbs, watch streams, discovery.

use crate::store::{
    ApiError, RESOURCES, RecordedRequest, ResDef, State, User, WatchEvent, details, find_res, res,
    status_error,
};
use crate::util::{self, name_of, ns_of};
use crate::{defaults, kubelet, patch, selector, table};
use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, mpsc, watch};

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub notify: Notify,
    /// Bumped to cut every open watch stream.
    pub kill: watch::Sender<u64>,
    pub addr: String,
    /// Injected faults (see `faults.rs`).
    pub faults: crate::faults::Faults,
    /// Requests, watches and connections counted for tests and benchmarks.
    pub counter: Arc<crate::counting::Counter>,
    /// Port-forward replies and sessions (see `portforward.rs`).
    pub forwards: crate::portforward::Forwards,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

const VERSION: &str = include_str!("../fixtures/version.json");
const API: &str = include_str!("../fixtures/api.json");
const APIS: &str = include_str!("../fixtures/apis.json");
const API_V1: &str = include_str!("../fixtures/api-v1.json");
const APPS_V1: &str = include_str!("../fixtures/apis-apps-v1.json");
const COORD_V1: &str = include_str!("../fixtures/apis-coordination-v1.json");
const AUTHZ_V1: &str = include_str!("../fixtures/apis-authorization-v1.json");

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

pub(crate) fn status_response(code: u16, body: &Value) -> Response {
    json_response(code, body)
}

fn json_response(code: u16, body: &Value) -> Response {
    let mut r = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        serde_json::to_string(body).unwrap_or_default(),
    )
        .into_response();
    common_headers(r.headers_mut(), "application/json");
    r
}

fn common_headers(h: &mut HeaderMap, ct: &str) {
    if let Ok(v) = HeaderValue::from_str(ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    let audit = format!(
        "{:032x}",
        util::fnv32a(format!("{}", util::now_unix()).as_bytes()) as u128 * 0x1_0000_0001
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}-{}-{}-{}-{}",
        &audit[0..8],
        &audit[8..12],
        &audit[12..16],
        &audit[16..20],
        &audit[20..32]
    )) {
        h.insert("audit-id", v);
    }
}

fn err_response(e: ApiError) -> Response {
    json_response(e.code, &e.body)
}

/// Pod admission: service account volume, default tolerations, status.
pub(crate) fn admit_pod(st: &mut State, p: &mut Value) {
    defaults::apply(res("pods"), p);
    let vol = format!("kube-api-access-{}", st.rng.suffix(5));
    let spec = util::obj_mut(p, "/spec");
    spec.entry("serviceAccountName")
        .or_insert_with(|| "default".into());
    spec.entry("serviceAccount")
        .or_insert_with(|| "default".into());
    let vols = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(a) = vols.as_array_mut() {
        a.push(json!({"name": vol, "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
        ], "defaultMode": 420}}));
    }
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                let m = util::obj_mut(c, "/");
                let vm = m.entry("volumeMounts").or_insert_with(|| json!([]));
                if let Some(a) = vm.as_array_mut() {
                    a.push(json!({"name": vol, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}));
                }
            }
        }
    }
    let tol = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(a) = tol.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !a
                .iter()
                .any(|t| t["key"] == key && t["effect"] == "NoExecute")
            {
                a.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    spec.entry("priority").or_insert_with(|| 0.into());
    spec.entry("enableServiceLinks")
        .or_insert_with(|| true.into());
    spec.entry("preemptionPolicy")
        .or_insert_with(|| "PreemptLowerPriority".into());
    p["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
}

/// POST semantics (also used by `KubeApi::create`).
pub(crate) fn create_object(
    st: &mut State,
    rd: &'static ResDef,
    path_ns: &str,
    mut obj: Value,
    manager: &str,
) -> Result<Value, ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    }
    let body_ns = ns_of(&obj);
    if rd.namespaced {
        if !body_ns.is_empty() && !path_ns.is_empty() && body_ns != path_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let ns = if path_ns.is_empty() {
            body_ns
        } else {
            path_ns.to_string()
        };
        if !st.namespace_exists(&ns) {
            return Err(ApiError::not_found(res("namespaces"), &ns));
        }
        if st
            .get(res("namespaces"), "", &ns)
            .and_then(|n| util::s(n, "/status/phase"))
            == Some("Terminating")
        {
            return Err(status_error(
                403,
                "Forbidden",
                &format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    rd.qualified(),
                    name_of(&obj)
                ),
                Some(details(rd, Some(&name_of(&obj)))),
            ));
        }
        util::obj_mut(&mut obj, "/metadata").insert("namespace".into(), ns.into());
    }
    if name_of(&obj).is_empty() {
        match util::s(&obj, "/metadata/generateName").map(str::to_string) {
            Some(g) if !g.is_empty() => {
                let n = format!("{g}{}", st.rng.suffix(5));
                obj["metadata"]["name"] = n.into();
            }
            _ => {
                return Err(ApiError::invalid(
                    rd,
                    "",
                    &[(
                        "FieldValueRequired".into(),
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
        }
    }
    let name = name_of(&obj);
    if st.get(rd, &ns_of(&obj), &name).is_some() {
        return Err(ApiError::already_exists(rd, &name));
    }
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "managedFields",
            "selfLink",
        ] {
            m.remove(k);
        }
    }
    defaults::apply(rd, &mut obj);
    defaults::validate(rd, &obj)?;
    match rd.plural {
        "deployments" => obj["status"] = json!({}),
        "replicasets" => obj["status"] = json!({"replicas": 0}),
        "statefulsets" => obj["status"] = json!({"replicas": 0, "availableReplicas": 0}),
        "daemonsets" => {
            obj["status"] = json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0})
        }
        "pods" => admit_pod(st, &mut obj),
        "namespaces" => {
            util::obj_mut(&mut obj, "/metadata/labels")
                .insert("kubernetes.io/metadata.name".into(), name.clone().into());
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        _ => {}
    }
    if st.dry_run {
        let uid = st.rng.uid();
        let meta = util::obj_mut(&mut obj, "/metadata");
        meta.insert("uid".into(), uid.into());
        meta.insert("creationTimestamp".into(), util::now_str().into());
        if rd.has_generation() {
            meta.insert("generation".into(), 1.into());
        }
        obj["kind"] = rd.kind.into();
        obj["apiVersion"] = rd.api_version().into();
        return Ok(obj);
    }
    Ok(st.insert(rd, obj, manager))
}

fn strip_volatile(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    v
}

/// PUT/PATCH semantics on the main resource or the status subresource.
pub(crate) fn update_object(
    st: &mut State,
    rd: &'static ResDef,
    cur: &Value,
    mut new: Value,
    sub: Option<&str>,
    manager: &str,
) -> Result<Value, ApiError> {
    let name = name_of(cur);
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format",
        ));
    }
    let body_name = name_of(&new);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(&format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let want_rv = util::s(&new, "/metadata/resourceVersion")
        .unwrap_or_default()
        .to_string();
    let cur_rv = util::s(cur, "/metadata/resourceVersion").unwrap_or_default();
    if !want_rv.is_empty() && want_rv != cur_rv {
        return Err(ApiError::conflict(rd, &name));
    }
    {
        let m = util::obj_mut(&mut new, "/metadata");
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match cur["metadata"].get(k) {
                Some(v) => m.insert(k.into(), v.clone()),
                None => m.remove(k),
            };
        }
        m.insert(
            "managedFields".into(),
            cur["metadata"]
                .get("managedFields")
                .cloned()
                .unwrap_or(json!([])),
        );
    }
    if sub == Some("status") {
        let status = new.get("status").cloned();
        let mut out = cur.clone();
        if let Some(s) = status {
            out["status"] = s;
        }
        new = out;
    } else if rd.has_status()
        && let Some(s) = cur.get("status")
    {
        new["status"] = s.clone();
    }
    defaults::apply(rd, &mut new);
    defaults::validate(rd, &new)?;
    crate::jobs::validate_update(rd, cur, &new)?;
    crate::apply::fold_string_data(rd, &mut new);
    if rd.has_generation() && cur.get("spec") != new.get("spec") {
        let g = util::i(cur, "/metadata/generation").unwrap_or(1) + 1;
        new["metadata"]["generation"] = g.into();
    }
    if strip_volatile(cur) == strip_volatile(&new) {
        return Ok(cur.clone());
    }
    if !st.applying && sub.is_none() {
        crate::apply::record_update(cur, &mut new, rd, manager);
    }
    crate::store::set_managed(&mut new, rd, manager, sub);
    if st.dry_run {
        return Ok(new);
    }
    Ok(st.replace(rd, new))
}

fn forbidden(
    user: &str,
    verb: &str,
    rd: &ResDef,
    sub: Option<&str>,
    ns: Option<&str>,
    name: Option<&str>,
) -> ApiError {
    let resource = match sub {
        Some(s) => format!("{}/{s}", rd.plural),
        None => rd.plural.to_string(),
    };
    let subject = match name {
        Some(n) => format!("{} \"{n}\"", rd.qualified()),
        None => rd.qualified(),
    };
    let scope = match ns {
        Some(n) if rd.namespaced => format!("in the namespace \"{n}\""),
        _ => "at the cluster scope".to_string(),
    };
    status_error(
        403,
        "Forbidden",
        &format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
            rd.group
        ),
        Some(details(rd, name)),
    )
}

pub(crate) fn allowed(user: &User, verb: &str, resource: &str) -> bool {
    user.admin
        || user
            .allow
            .iter()
            .any(|(v, r)| (v == "*" || v == verb) && (r == "*" || r == resource))
}

fn rbac_reason(user: &User) -> String {
    match user.name.strip_prefix("system:serviceaccount:") {
        Some(rest) => {
            let (ns, sa) = rest.split_once(':').unwrap_or(("default", rest));
            format!(
                "RBAC: allowed by RoleBinding \"{sa}/{ns}\" of Role \"{sa}\" to ServiceAccount \"{sa}/{ns}\""
            )
        }
        None => format!(
            "RBAC: allowed by ClusterRoleBinding \"{0}\" of ClusterRole \"{0}\" to User \"{0}\"",
            user.name
        ),
    }
}

struct Route {
    rd: &'static ResDef,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn route(segs: &[&str], custom: &State) -> Result<Option<Route>, ()> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Ok(None),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let (ns, rest) = match rest {
        ["namespaces", ns, r, tail @ ..] if !matches!(*r, "status" | "finalize") => {
            (Some(ns.to_string()), {
                let mut v = vec![*r];
                v.extend_from_slice(tail);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let plural = rest[0];
    let rd = find_res(group, version, plural)
        .or_else(|| crate::custom::find(custom, group, version, plural))
        .ok_or(())?;
    Ok(Some(Route {
        rd,
        ns,
        name: rest.get(1).map(|s| s.to_string()),
        sub: rest.get(2).map(|s| s.to_string()),
    }))
}

fn discovery(path: &str, addr: &str) -> Option<Value> {
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    match path {
        "/version" => parse(VERSION),
        "/api" => {
            let mut v = parse(API)?;
            v["serverAddressByClientCIDRs"] =
                json!([{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]);
            Some(v)
        }
        "/apis" => parse(APIS),
        "/api/v1" => parse(API_V1),
        "/apis/apps/v1" => parse(APPS_V1),
        "/apis/coordination.k8s.io/v1" => parse(COORD_V1),
        "/apis/authorization.k8s.io/v1" => parse(AUTHZ_V1),
        p => {
            let gv = p.strip_prefix("/apis/")?;
            let apis = parse(APIS)?;
            let known = apis["groups"].as_array()?.iter().any(|g| {
                g["versions"]
                    .as_array()
                    .is_some_and(|vs| vs.iter().any(|v| v["groupVersion"] == gv))
            });
            if known {
                let mut resources = Vec::new();
                if gv == "rbac.authorization.k8s.io/v1" {
                    for r in RESOURCES
                        .iter()
                        .filter(|r| r.group == "rbac.authorization.k8s.io")
                    {
                        resources.push(json!({"name": r.plural, "singularName": "", "namespaced": r.namespaced, "kind": r.kind,
                            "verbs": ["create","delete","deletecollection","get","list","patch","update","watch"]}));
                    }
                }
                Some(
                    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
                )
            } else if let Some(g) = gv.split('/').next()
                && apis["groups"].as_array()?.iter().any(|x| x["name"] == g)
                && !gv.contains('/')
            {
                apis["groups"]
                    .as_array()?
                    .iter()
                    .find(|x| x["name"] == g)
                    .map(|x| {
                        let mut x = x.clone();
                        x["kind"] = "APIGroup".into();
                        x["apiVersion"] = "v1".into();
                        x
                    })
            } else {
                None
            }
        }
    }
}

fn not_found_path() -> ApiError {
    status_error(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn list_kind(rd: &ResDef) -> String {
    format!("{}List", rd.kind)
}

/// Makes an object as it appears inside a list (no kind/apiVersion, like the real apiserver).
fn list_item(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    v
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

struct Filters {
    labels: Vec<selector::Req>,
    fields: Vec<(String, bool, String)>,
}

fn filters(q: &HashMap<String, String>) -> Result<Filters, ApiError> {
    let labels = selector::parse_labels(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(&e))?;
    let fields = selector::parse_fields(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(&e))?;
    Ok(Filters { labels, fields })
}

impl Filters {
    fn matches(&self, v: &Value) -> bool {
        selector::labels_match(&self.labels, v.pointer("/metadata/labels"))
            && selector::fields_match(&self.fields, v)
    }
}

fn do_list(
    st: &State,
    rd: &'static ResDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    accept: &str,
) -> Result<(Value, &'static str), ApiError> {
    let f = filters(q)?;
    let mut items: Vec<Value> = st.scan(rd, ns).filter(|v| f.matches(v)).cloned().collect();
    let mut meta = json!({"resourceVersion": st.rv.to_string()});
    if let Some(c) = q.get("continue").filter(|c| !c.is_empty()) {
        let after = hex_decode(c).ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: illegal base64 data")
        })?;
        items.retain(|v| format!("{}/{}", ns_of(v), name_of(v)) > after);
    }
    if let Some(limit) = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        && items.len() > limit
    {
        let rest = items.len() - limit;
        items.truncate(limit);
        if let Some(last) = items.last() {
            meta["continue"] = hex_encode(&format!("{}/{}", ns_of(last), name_of(last))).into();
            meta["remainingItemCount"] = rest.into();
        }
    }
    if accept.contains("as=Table") {
        return Ok((
            table::table(rd, &items, meta, st),
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        ));
    }
    Ok((
        json!({"kind": list_kind(rd), "apiVersion": rd.api_version(), "metadata": meta, "items": items.iter().map(list_item).collect::<Vec<_>>()}),
        "application/json",
    ))
}

fn event_line(typ: &str, obj: &Value) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":\"{typ}\",\"object\":{}}}\n",
        serde_json::to_string(obj).unwrap_or_default()
    ))
}

fn bookmark(rd: &ResDef, rv: u64) -> Value {
    let meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    let tmpl = json!({"metadata": {"creationTimestamp": null}, "spec": {"containers": null}});
    let mut o = json!({"kind": rd.kind, "apiVersion": rd.api_version(), "metadata": meta});
    match rd.plural {
        "deployments" => {
            o["spec"] = json!({"replicas": 0, "selector": null, "template": tmpl, "strategy": {}});
            o["status"] = json!({});
        }
        "replicasets" => {
            o["spec"] = json!({"replicas": 0, "selector": null, "template": tmpl});
            o["status"] = json!({"replicas": 0});
        }
        "statefulsets" => {
            o["spec"] = json!({"selector": null, "template": tmpl, "serviceName": "", "updateStrategy": {}});
            o["status"] = json!({"replicas": 0, "availableReplicas": 0});
        }
        "daemonsets" => {
            o["spec"] = json!({"selector": null, "template": tmpl, "updateStrategy": {}});
            o["status"] = json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0});
        }
        "pods" => {
            o["spec"] = json!({"containers": null});
            o["status"] = json!({});
        }
        "leases" | "namespaces" => {
            o["spec"] = json!({});
        }
        _ => {}
    }
    o
}

fn watch_response(
    shared: &Arc<Shared>,
    rd: &'static ResDef,
    ns: Option<String>,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let f = filters(q)?;
    if q.contains_key("resourceVersionMatch") {
        let mut causes = vec![
            json!({"reason": "FieldValueForbidden", "message": "Forbidden: resourceVersionMatch is forbidden for watch", "field": "resourceVersionMatch"}),
        ];
        let mut msgs = vec![
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch"
                .to_string(),
        ];
        if q.get("resourceVersion").is_none_or(String::is_empty) {
            causes.push(json!({"reason": "FieldValueForbidden", "message": "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided", "field": "resourceVersionMatch"}));
            msgs.push("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".into());
        }
        let msg = if msgs.len() == 1 {
            msgs[0].clone()
        } else {
            format!("[{}]", msgs.join(", "))
        };
        return Err(status_error(
            422,
            "Invalid",
            &format!("ListOptions.meta.k8s.io \"\" is invalid: {msg}"),
            Some(json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes})),
        ));
    }
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1024);
    let mut initial: Vec<Bytes> = Vec::new();
    let sub: broadcast::Receiver<Arc<WatchEvent>>;
    let start_rv: u64;
    let qualified = rd.qualified();
    let in_scope = {
        let ns = ns.clone();
        let q2 = qualified.clone();
        move |e: &WatchEvent| e.res == q2 && ns.as_ref().is_none_or(|n| &e.ns == n)
    };
    {
        let st = shared.lock();
        sub = st.tx.subscribe();
        if rv_param.is_empty() || rv_param == "0" {
            for o in st
                .list(rd, ns.as_deref())
                .into_iter()
                .filter(|o| f.matches(o))
            {
                initial.push(event_line("ADDED", &o));
            }
            start_rv = st.rv;
        } else {
            let Ok(from) = rv_param.parse::<u64>() else {
                return Err(ApiError::bad_request(&format!(
                    "invalid resource version: {rv_param}"
                )));
            };
            if from < st.compacted {
                let e = status_error(
                    410,
                    "Expired",
                    &format!("too old resource version: {from} ({})", st.compacted),
                    None,
                );
                initial.push(event_line("ERROR", &e.body));
                let _ = tx.try_send(Ok(initial.remove(0)));
                drop(tx);
                return Ok(stream_response(rx));
            }
            for e in st.history_after(from).iter().filter(|e| in_scope(e)) {
                if let Some((typ, o)) = filter_event(e, &f) {
                    initial.push(event_line(typ, o));
                }
            }
            start_rv = st.rv.max(from);
        }
    }
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let bookmarks = matches!(
        q.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let mut kill = shared.kill.subscribe();
    let shared2 = shared.clone();
    let open = shared.counter.watch_opened(ns.as_deref(), rd.plural);
    tokio::spawn(async move {
        let _open = open;
        let mut sub = sub;
        for b in initial {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let mut next_bookmark = if timeout >= Duration::from_secs(5) {
            Some(deadline - Duration::from_secs(2))
                .map(|t| t.min(started + Duration::from_secs(60)))
        } else {
            None
        };
        let mut last = start_rv;
        loop {
            let bm = next_bookmark;
            tokio::select! {
                ev = sub.recv() => match ev {
                    Ok(e) => {
                        if e.rv <= last || !in_scope(&e) { continue; }
                        last = e.rv;
                        if let Some((typ, o)) = filter_event(&e, &f)
                            && tx.send(Ok(event_line(typ, o))).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = async { match bm { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    let rv = shared2.lock().rv;
                    if bookmarks {
                        let _ = tx.send(Ok(event_line("BOOKMARK", &bookmark(rd, rv)))).await;
                    }
                    next_bookmark = bm.map(|t| (t + Duration::from_secs(60)).min(deadline - Duration::from_secs(2))).filter(|t| Some(*t) != bm);
                },
                _ = kill.changed() => {
                    let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "watch cut by the test"))).await;
                    return;
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(stream_response(rx))
}

fn filter_event<'a>(e: &'a WatchEvent, f: &Filters) -> Option<(&'static str, &'a Value)> {
    let cur = f.matches(&e.obj);
    let prev = e.prev.as_ref().map(|p| f.matches(p));
    match (e.typ, cur, prev) {
        ("MODIFIED", true, Some(false)) => Some(("ADDED", &e.obj)),
        ("MODIFIED", false, Some(true)) => Some(("DELETED", &e.obj)),
        (_, true, _) => Some((e.typ, &e.obj)),
        _ => None,
    }
}

fn stream_response(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    common_headers(r.headers_mut(), "application/json");
    r
}

fn decode_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            format!("invalid character in JSON: {e}")
        };
        ApiError::bad_request(&msg)
    })
}

fn ssar(user: &User, body: &[u8]) -> Result<Value, ApiError> {
    let mut req = match ssar_from_protobuf(body) {
        Some(v) => v,
        None => decode_body(body)?,
    };
    let ra = req.pointer("/spec/resourceAttributes").cloned();
    let allowed_now = match &ra {
        Some(ra) => {
            let verb = ra["verb"].as_str().unwrap_or_default();
            let mut resource = ra["resource"].as_str().unwrap_or_default().to_string();
            if let Some(s) = ra["subresource"].as_str().filter(|s| !s.is_empty()) {
                resource = format!("{resource}/{s}");
            }
            allowed(user, verb, &resource)
        }
        None => true,
    };
    let mut status = json!({"allowed": allowed_now});
    if allowed_now && !user.admin {
        status["reason"] = rbac_reason(user).into();
    }
    req["status"] = status;
    req["kind"] = "SelfSubjectAccessReview".into();
    req["apiVersion"] = "authorization.k8s.io/v1".into();
    let meta = util::obj_mut(&mut req, "/metadata");
    meta.insert("creationTimestamp".into(), Value::Null);
    Ok(req)
}

fn verb_of(method: &Method, has_name: bool, q: &HashMap<String, String>) -> &'static str {
    let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    match *method {
        Method::GET if watch => "watch",
        Method::GET if has_name => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if has_name => "delete",
        Method::DELETE => "deletecollection",
        _ => "get",
    }
}

fn manager_of(q: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.split('/').next().unwrap_or(ua).to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) async fn handle(AxState(shared): AxState<Arc<Shared>>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    shared.counter.request(
        parts.method.as_str(),
        &path,
        &query,
        parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let q = parse_query(&query);
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let user: Option<User> = {
        let mut st = shared.lock();
        let user = match &token {
            None => Some(User {
                name: "system:anonymous".into(),
                admin: false,
                allow: vec![],
            }),
            Some(t) => st.users.get(t).cloned(),
        };
        st.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            content_type: ct.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            user: user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        });
        user
    };
    if let Some(response) = shared.faults.intercept(parts.method.as_str(), &path).await {
        return response;
    }
    let Some(user) = user else {
        return json_response(
            401,
            &json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}),
        );
    };
    let anonymous = token.is_none();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let manager = manager_of(&q, &parts.headers);

    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        let mut r = (StatusCode::OK, "ok").into_response();
        common_headers(r.headers_mut(), "text/plain; charset=utf-8");
        return r;
    }
    if parts.method == Method::POST
        && path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    {
        if anonymous {
            return err_response(forbidden(
                &user.name,
                "create",
                &ResDef {
                    group: "authorization.k8s.io",
                    version: "v1",
                    plural: "selfsubjectaccessreviews",
                    kind: "SelfSubjectAccessReview",
                    namespaced: false,
                },
                None,
                None,
                None,
            ));
        }
        return match ssar(&user, &body) {
            Ok(v) => json_response(201, &v),
            Err(e) => err_response(e),
        };
    }
    let routed = {
        let mut st = shared.lock();
        crate::custom::reconcile(&mut st);
        route(&segs, &st)
    };
    let route = match routed {
        Ok(r) => r,
        Err(()) => return err_response(not_found_path()),
    };
    let Some(r) = route else {
        if parts.method == Method::GET {
            if anonymous && path != "/version" {
                return err_response(status_error(
                    403,
                    "Forbidden",
                    &format!("forbidden: User \"system:anonymous\" cannot get path \"{path}\""),
                    Some(json!({})),
                ));
            }
            let added = crate::custom::discovery(&shared.lock(), &path, APIS);
            if let Some(v) = added.or_else(|| discovery(&path, &shared.addr)) {
                return json_response(200, &v);
            }
        }
        return err_response(not_found_path());
    };
    // A port-forward is `create pods/portforward` whatever the method (WebSocket upgrades
    // are GETs; the apiserver asks for `create` since 1.35).
    let portforward = r.rd.plural == "pods" && r.sub.as_deref() == Some("portforward");
    let verb = if portforward {
        "create"
    } else {
        verb_of(&parts.method, r.name.is_some(), &q)
    };
    let resource_for_rbac = match &r.sub {
        Some(s) => format!("{}/{s}", r.rd.plural),
        None => r.rd.plural.to_string(),
    };
    if !allowed(&user, verb, &resource_for_rbac) {
        return err_response(forbidden(
            &user.name,
            verb,
            r.rd,
            r.sub.as_deref(),
            r.ns.as_deref(),
            r.name.as_deref(),
        ));
    }
    if portforward && let (Some(ns), Some(name)) = (r.ns.clone(), r.name.clone()) {
        return crate::portforward::handle(shared, parts, ns, name).await;
    }
    if verb == "watch" {
        return match watch_response(&shared, r.rd, r.ns.clone(), &q) {
            Ok(resp) => resp,
            Err(e) => err_response(e),
        };
    }
    let result = {
        let mut st = shared.lock();
        st.dry_run = q.get("dryRun").is_some_and(|d| d == "All");
        let res = dispatch(
            &mut st,
            &r,
            &parts.method,
            &q,
            &ct,
            &accept,
            &body,
            &manager,
        );
        st.dry_run = false;
        if st.dirty {
            shared.notify.notify_one();
        }
        res
    };
    match result {
        Ok(Reply::Json(code, v, ctype)) => {
            let mut resp = json_response(code, &v);
            common_headers(resp.headers_mut(), ctype);
            resp
        }
        Ok(Reply::Text(t)) => {
            let mut resp = (StatusCode::OK, t).into_response();
            common_headers(resp.headers_mut(), "text/plain");
            resp
        }
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err_response(e),
    }
}

enum Reply {
    Json(u16, Value, &'static str),
    Text(String),
    NoContent,
}

#[expect(
    clippy::too_many_arguments,
    reason = "test-server plumbing mirrors the object fields it builds"
)]
fn dispatch(
    st: &mut State,
    r: &Route,
    method: &Method,
    q: &HashMap<String, String>,
    ct: &str,
    accept: &str,
    body: &[u8],
    manager: &str,
) -> Result<Reply, ApiError> {
    let rd = r.rd;
    let ns = r.ns.clone().unwrap_or_default();
    let json = |code: u16, v: Value| Ok(Reply::Json(code, v, "application/json"));
    match (method.clone(), &r.name, r.sub.as_deref()) {
        (Method::GET, None, _) => {
            let (v, ctype) = do_list(st, rd, r.ns.as_deref(), q, accept)?;
            Ok(Reply::Json(200, v, ctype))
        }
        (Method::GET, Some(name), Some("log")) if rd.plural == "pods" => {
            match kubelet::logs(st, &ns, name, q)? {
                Some(t) => Ok(Reply::Text(t)),
                None => Ok(Reply::NoContent),
            }
        }
        (Method::GET, Some(name), sub) => {
            let v = st
                .get_cloned(rd, &ns, name)
                .ok_or_else(|| ApiError::not_found(rd, name))?;
            if sub == Some("scale") {
                return json(200, scale_of(rd, &v));
            }
            if accept.contains("as=Table") {
                let t = table::table(rd, &[v], json!({"resourceVersion": st.rv.to_string()}), st);
                return Ok(Reply::Json(
                    200,
                    t,
                    "application/json;as=Table;v=v1;g=meta.k8s.io",
                ));
            }
            json(200, v)
        }
        (Method::POST, None, None) => {
            let obj = decode_body(body)?;
            let v = create_object(st, rd, &ns, obj, manager)?;
            json(201, v)
        }
        (Method::POST, Some(_), Some(_)) => Err(not_found_path()),
        (Method::PUT, Some(name), sub) => {
            let cur = st
                .get_cloned(rd, &ns, name)
                .ok_or_else(|| ApiError::not_found(rd, name))?;
            let new = decode_body(body)?;
            if sub == Some("scale") {
                let replicas = util::i(&new, "/spec/replicas").unwrap_or(0);
                let mut obj = cur.clone();
                obj["spec"]["replicas"] = replicas.into();
                let out = update_object(st, rd, &cur, obj, None, manager)?;
                return json(200, scale_of(rd, &out));
            }
            json(200, update_object(st, rd, &cur, new, sub, manager)?)
        }
        (Method::PATCH, Some(name), None) if ct.starts_with("application/apply-patch+yaml") => {
            let manager = q.get("fieldManager").map(String::as_str);
            let (code, v) =
                crate::apply::apply(st, rd, &ns, name, body, manager, crate::apply::force_of(q))?;
            json(code, v)
        }
        (Method::PATCH, Some(name), sub) => {
            let cur = st
                .get_cloned(rd, &ns, name)
                .ok_or_else(|| ApiError::not_found(rd, name))?;
            let base = if sub == Some("scale") {
                scale_of(rd, &cur)
            } else {
                cur.clone()
            };
            let ctype = ct.split(';').next().unwrap_or("").trim();
            let patched = match ctype {
                "application/strategic-merge-patch+json" => {
                    let p = decode_body(body)?;
                    patch::strategic(&base, &p)?
                }
                "application/merge-patch+json" => {
                    let p = decode_body(body)?;
                    patch::merge(&base, &p)
                }
                "application/json-patch+json" => {
                    let p = decode_body(body)?;
                    patch::json_patch(&base, &p)?
                }
                "application/apply-patch+yaml" => {
                    let p = decode_body(body)?;
                    patch::merge(&base, &p)
                }
                _ => {
                    return Err(status_error(
                        415,
                        "UnsupportedMediaType",
                        "415: Unsupported Media Type",
                        Some(json!({})),
                    ));
                }
            };
            if sub == Some("scale") {
                let replicas = util::i(&patched, "/spec/replicas").unwrap_or(0);
                let mut obj = cur.clone();
                obj["spec"]["replicas"] = replicas.into();
                let out = update_object(st, rd, &cur, obj, None, manager)?;
                return json(200, scale_of(rd, &out));
            }
            json(200, update_object(st, rd, &cur, patched, sub, manager)?)
        }
        (Method::DELETE, Some(name), None) => {
            let cur = st
                .get_cloned(rd, &ns, name)
                .ok_or_else(|| ApiError::not_found(rd, name))?;
            if st.dry_run {
                return json(200, cur);
            }
            let opts: Value = if body.is_empty() {
                json!({})
            } else {
                decode_body(body)?
            };
            if let Some(want) = opts
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
            {
                let have = util::s(&cur, "/metadata/resourceVersion").unwrap_or_default();
                if want != have {
                    return Err(status_error(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {} \"{name}\": the ResourceVersion in the precondition ({want}) does not match the ResourceVersion in record ({have}). The object might have been modified",
                            rd.kind_qualified()
                        ),
                        Some({
                            let mut d = Map::new();
                            d.insert("name".into(), name.clone().into());
                            if !rd.group.is_empty() {
                                d.insert("group".into(), rd.group.into());
                            }
                            d.insert("kind".into(), rd.kind.into());
                            Value::Object(d)
                        }),
                    ));
                }
            }
            if let Some(want) = opts.pointer("/preconditions/uid").and_then(Value::as_str) {
                let have = util::uid_of(&cur);
                if want != have {
                    return Err(status_error(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {want}, UID in object meta: {have}",
                            rd.kind_qualified()
                        ),
                        Some(json!({"name": name, "group": rd.group, "kind": rd.kind})),
                    ));
                }
            }
            let grace = q
                .get("gracePeriodSeconds")
                .and_then(|g| g.parse::<i64>().ok())
                .or_else(|| util::i(&opts, "/gracePeriodSeconds"));
            match rd.plural {
                "pods" if grace != Some(0) => {
                    crate::controllers::delete_pod(st, &cur);
                    let v = st.get_cloned(rd, &ns, name).unwrap_or(cur);
                    json(200, v)
                }
                "pods" => {
                    let v = st.remove(rd, &ns, name).unwrap_or(cur);
                    json(200, v)
                }
                "namespaces" => {
                    let mut c = cur.clone();
                    c["metadata"]["deletionTimestamp"] = util::now_str().into();
                    c["status"]["phase"] = "Terminating".into();
                    let v = st.replace(rd, c);
                    json(200, v)
                }
                _ => {
                    st.remove(rd, &ns, name);
                    let mut d = Map::new();
                    d.insert("name".into(), name.clone().into());
                    if !rd.group.is_empty() {
                        d.insert("group".into(), rd.group.into());
                    }
                    d.insert("kind".into(), rd.plural.into());
                    d.insert("uid".into(), util::uid_of(&cur).into());
                    json(
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}),
                    )
                }
            }
        }
        (Method::DELETE, None, None) => {
            let f = filters(q)?;
            let items: Vec<Value> = st
                .list(rd, r.ns.as_deref())
                .into_iter()
                .filter(|v| f.matches(v))
                .collect();
            for it in &items {
                if rd.plural == "pods" {
                    crate::controllers::delete_pod(st, it);
                } else {
                    st.remove(rd, &ns_of(it), &name_of(it));
                }
            }
            json(
                200,
                json!({"kind": list_kind(rd), "apiVersion": rd.api_version(), "metadata": {"resourceVersion": st.rv.to_string()}, "items": items.iter().map(list_item).collect::<Vec<_>>()}),
            )
        }
        _ => Err(status_error(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )),
    }
}

fn scale_of(_rd: &ResDef, v: &Value) -> Value {
    let sel = crate::controllers::selector_of(v)
        .iter()
        .map(|r| match r {
            selector::Req::Eq(k, val) => format!("{k}={val}"),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(",");
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": name_of(v), "namespace": ns_of(v), "uid": util::uid_of(v),
            "resourceVersion": util::s(v, "/metadata/resourceVersion"), "creationTimestamp": util::s(v, "/metadata/creationTimestamp"),
        },
        "spec": {"replicas": util::i(v, "/spec/replicas").unwrap_or(0)},
        "status": {"replicas": util::i(v, "/status/replicas").unwrap_or(0), "selector": sel},
    })
}

/// Minimal protobuf reading: (field number, payload) of length-delimited fields.
fn pb_fields(mut b: &[u8]) -> Vec<(u64, Vec<u8>)> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&x, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let Some(key) = varint(&mut b) else { break };
        match key & 7 {
            0 => {
                if varint(&mut b).is_none() {
                    break;
                }
            }
            2 => {
                let Some(len) = varint(&mut b) else { break };
                let len = len as usize;
                if len > b.len() {
                    break;
                }
                out.push((key >> 3, b[..len].to_vec()));
                b = &b[len..];
            }
            5 => b = b.get(4..).unwrap_or_default(),
            1 => b = b.get(8..).unwrap_or_default(),
            _ => break,
        }
    }
    out
}

/// Decodes a protobuf-encoded SelfSubjectAccessReview (what kubectl's typed client sends)
/// into its JSON form.
pub(crate) fn ssar_from_protobuf(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let raw = pb_fields(unknown).into_iter().find(|(n, _)| *n == 2)?.1;
    let spec = pb_fields(&raw).into_iter().find(|(n, _)| *n == 2)?.1;
    let mut out = json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {}, "spec": {}});
    for (n, payload) in pb_fields(&spec) {
        let names: &[&str] = match n {
            1 => &[
                "namespace",
                "verb",
                "group",
                "version",
                "resource",
                "subresource",
                "name",
            ],
            2 => &["path", "verb"],
            _ => continue,
        };
        let mut attrs = Map::new();
        for (f, v) in pb_fields(&payload) {
            if let Some(k) = names.get(f as usize - 1) {
                attrs.insert((*k).into(), String::from_utf8_lossy(&v).into_owned().into());
            }
        }
        let key = if n == 1 {
            "resourceAttributes"
        } else {
            "nonResourceAttributes"
        };
        out["spec"][key] = Value::Object(attrs);
    }
    Some(out)
}

/// Serves one non-watch request as the admin user, without HTTP (for `KubeApi::call`).
pub(crate) fn call(
    shared: &Shared,
    method: &str,
    path_and_query: &str,
    ct: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let q = parse_query(query);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let routed = {
        let mut st = shared.lock();
        crate::custom::reconcile(&mut st);
        route(&segs, &st)
    };
    let Ok(Some(r)) = routed else {
        let added = crate::custom::discovery(&shared.lock(), path, APIS);
        return match added.or_else(|| discovery(path, &shared.addr)) {
            Some(v) if method == "GET" => (200, v),
            _ => (404, not_found_path().body),
        };
    };
    let Ok(m) = Method::from_bytes(method.as_bytes()) else {
        return (405, json!({}));
    };
    let mut st = shared.lock();
    st.dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    let res = dispatch(
        &mut st,
        &r,
        &m,
        &q,
        ct.unwrap_or(""),
        "application/json",
        body.as_bytes(),
        "kube-test-api",
    );
    st.dry_run = false;
    let dirty = st.dirty;
    drop(st);
    if dirty {
        shared.notify.notify_one();
    }
    match res {
        Ok(Reply::Json(code, v, _)) => (code, v),
        Ok(Reply::Text(t)) => (200, Value::String(t)),
        Ok(Reply::NoContent) => (204, Value::Null),
        Err(e) => (e.code, e.body),
    }
}
