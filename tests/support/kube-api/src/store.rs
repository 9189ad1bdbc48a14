//! The object store: resources, the global resourceVersion, the watch history, Status errors.

use crate::util::{self, Rng, name_of, ns_of};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// One served resource type.
#[derive(Debug)]
pub(crate) struct ResDef {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

impl ResDef {
    /// "deployments.apps", or "pods" for the core group (the form used in messages).
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// "Deployment.apps" / "Pod", as in 422 and delete-precondition messages.
    pub(crate) fn kind_qualified(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Whether spec changes bump `metadata.generation` (the apps kinds).
    pub(crate) fn has_generation(&self) -> bool {
        (self.group == "apps" && self.plural != "controllerrevisions")
            || self.group == "batch"
            || self.group == "apiextensions.k8s.io"
            || (self.group.contains('.') && !self.group.ends_with("k8s.io"))
    }

    /// Whether the main resource ignores status writes (there is a status subresource).
    pub(crate) fn has_status(&self) -> bool {
        matches!(
            self.plural,
            "deployments"
                | "replicasets"
                | "statefulsets"
                | "daemonsets"
                | "pods"
                | "namespaces"
                | "nodes"
                | "services"
                | "jobs"
                | "cronjobs"
                | "customresourcedefinitions"
        )
    }
}

macro_rules! res {
    ($g:expr, $v:expr, $p:expr, $k:expr, $n:expr) => {
        ResDef {
            group: $g,
            version: $v,
            plural: $p,
            kind: $k,
            namespaced: $n,
        }
    };
}

pub(crate) static RESOURCES: &[ResDef] = &[
    res!("", "v1", "pods", "Pod", true),
    res!("", "v1", "events", "Event", true),
    res!("", "v1", "namespaces", "Namespace", false),
    res!("", "v1", "nodes", "Node", false),
    res!("", "v1", "services", "Service", true),
    res!("", "v1", "serviceaccounts", "ServiceAccount", true),
    res!("", "v1", "configmaps", "ConfigMap", true),
    res!("", "v1", "secrets", "Secret", true),
    res!("", "v1", "endpoints", "Endpoints", true),
    res!("apps", "v1", "deployments", "Deployment", true),
    res!("apps", "v1", "replicasets", "ReplicaSet", true),
    res!("apps", "v1", "statefulsets", "StatefulSet", true),
    res!("apps", "v1", "daemonsets", "DaemonSet", true),
    res!(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true
    ),
    res!("coordination.k8s.io", "v1", "leases", "Lease", true),
    res!(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true
    ),
    res!("batch", "v1", "jobs", "Job", true),
    res!("batch", "v1", "cronjobs", "CronJob", true),
    res!(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false
    ),
    res!("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false
    ),
];

pub(crate) fn find_res(group: &str, version: &str, plural: &str) -> Option<&'static ResDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub(crate) fn res(plural: &str) -> &'static ResDef {
    RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .expect("internal resource names are in the table")
}

pub(crate) fn res_by_kind(kind: &str) -> Option<&'static ResDef> {
    let k = kind.to_ascii_lowercase();
    RESOURCES
        .iter()
        .find(|r| r.kind.to_ascii_lowercase() == k || r.plural == k)
}

/// An error answer: an HTTP code and a `Status` body (or an empty body for 204-like cases).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub body: Value,
}

pub(crate) fn status_error(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> ApiError {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    ApiError { code, body }
}

pub(crate) fn details(rd: &ResDef, name: Option<&str>) -> Value {
    let mut d = Map::new();
    if let Some(n) = name {
        d.insert("name".into(), n.into());
    }
    if !rd.group.is_empty() {
        d.insert("group".into(), rd.group.into());
    }
    d.insert("kind".into(), rd.plural.into());
    Value::Object(d)
}

impl ApiError {
    pub(crate) fn not_found(rd: &ResDef, name: &str) -> ApiError {
        status_error(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", rd.qualified()),
            Some(details(rd, Some(name))),
        )
    }

    pub(crate) fn already_exists(rd: &ResDef, name: &str) -> ApiError {
        status_error(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", rd.qualified()),
            Some(details(rd, Some(name))),
        )
    }

    pub(crate) fn conflict(rd: &ResDef, name: &str) -> ApiError {
        status_error(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                rd.qualified()
            ),
            Some(details(rd, Some(name))),
        )
    }

    pub(crate) fn bad_request(message: &str) -> ApiError {
        status_error(400, "BadRequest", message, None)
    }

    /// 422 Invalid with one cause per (reason, field, message-after-"field: ").
    pub(crate) fn invalid(
        rd: &ResDef,
        name: &str,
        causes: &[(String, String, String)],
    ) -> ApiError {
        let parts: Vec<String> = causes.iter().map(|(_, f, m)| format!("{f}: {m}")).collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let mut d = Map::new();
        d.insert("name".into(), name.into());
        if !rd.group.is_empty() {
            d.insert("group".into(), rd.group.into());
        }
        d.insert("kind".into(), rd.kind.into());
        d.insert(
            "causes".into(),
            causes
                .iter()
                .map(|(r, f, m)| json!({"reason": r, "message": m, "field": f}))
                .collect(),
        );
        status_error(
            422,
            "Invalid",
            &format!("{} \"{name}\" is invalid: {joined}", rd.kind_qualified()),
            Some(Value::Object(d)),
        )
    }
}

/// One change, as a watch sees it.
#[derive(Debug)]
pub(crate) struct WatchEvent {
    pub rv: u64,
    pub res: String,
    pub ns: String,
    pub typ: &'static str,
    pub obj: Value,
    pub prev: Option<Value>,
}

/// A request as the server received it (for tests to assert on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// "GET", "PATCH", ...
    pub method: String,
    /// The path, e.g. "/apis/apps/v1/namespaces/shop/deployments/auth".
    pub path: String,
    /// The raw query string ("" when none), e.g. "fieldManager=kubectl-set".
    pub query: String,
    /// The Content-Type header ("" when none).
    pub content_type: String,
    /// The request body as text (lossy UTF-8).
    pub body: String,
    /// The authenticated user ("system:anonymous" without a token, "" for an unknown token).
    pub user: String,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub name: String,
    pub admin: bool,
    pub allow: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub pod_ready_after: Duration,
}

pub(crate) type Key = (String, String, String);

pub(crate) struct State {
    pub rv: u64,
    pub objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<WatchEvent>>,
    /// Events with `rv <= compacted` can no longer be watched from (410).
    pub compacted: u64,
    pub tx: broadcast::Sender<Arc<WatchEvent>>,
    pub users: HashMap<String, User>,
    pub requests: Vec<RecordedRequest>,
    pub rng: Rng,
    pub cfg: Config,
    pub kubelet: HashMap<String, crate::kubelet::PodRt>,
    /// Aggregation key of an Event → (namespace, name) of the stored Event.
    pub event_keys: HashMap<String, (String, String)>,
    /// Aggregate key of an Event → distinct messages seen (client-go's EventAggregator).
    pub event_aggregates: HashMap<String, std::collections::HashSet<String>>,
    /// Set when something changed (the controller loop runs again).
    pub dirty: bool,
    /// The request being served has `?dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// Tag digests and node image caches the kubelet pulls from (images.rs).
    pub images: crate::images::Images,
    /// Resources served for stored CustomResourceDefinitions (see `custom.rs`).
    pub custom: Vec<&'static ResDef>,
    /// A server-side apply is writing: it keeps `managedFields` itself (see `apply.rs`).
    pub applying: bool,
    /// The keys of the objects each controller (by uid) owns, kept by `insert`, `replace` and
    /// `remove`: the simulated controllers ask "what does this workload own" for every
    /// workload on every pass, and scanning the namespace for it made a pass quadratic.
    owners: HashMap<String, std::collections::BTreeSet<Key>>,
}

/// The uids of an object's controller owner references.
fn controller_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter(|o| o["controller"] == true)
                .filter_map(|o| o["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const HISTORY_CAP: usize = 20_000;

impl State {
    pub(crate) fn new(cfg: Config) -> State {
        let (tx, _) = broadcast::channel(65_536);
        State {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            tx,
            users: HashMap::new(),
            requests: Vec::new(),
            rng: Rng::new(),
            cfg,
            kubelet: HashMap::new(),
            event_keys: HashMap::new(),
            event_aggregates: HashMap::new(),
            dirty: true,
            dry_run: false,
            images: crate::images::Images::default(),
            custom: Vec::new(),
            applying: false,
            owners: HashMap::new(),
        }
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn emit(&mut self, rd: &ResDef, typ: &'static str, obj: &Value, prev: Option<Value>) {
        let mut o = obj.clone();
        o["kind"] = rd.kind.into();
        o["apiVersion"] = rd.api_version().into();
        let ev = Arc::new(WatchEvent {
            rv: self.rv,
            res: rd.qualified(),
            ns: ns_of(obj),
            typ,
            obj: o,
            prev,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > HISTORY_CAP {
            if let Some(old) = self.history.pop_front() {
                self.compacted = self.compacted.max(old.rv);
            }
        }
        let _ = self.tx.send(ev);
        self.dirty = true;
    }

    /// Events after `rv` (for a watch from that resourceVersion).
    pub(crate) fn history_after(&self, rv: u64) -> Vec<Arc<WatchEvent>> {
        self.history.iter().filter(|e| e.rv > rv).cloned().collect()
    }

    pub(crate) fn key(rd: &ResDef, ns: &str, name: &str) -> Key {
        (
            rd.qualified(),
            if rd.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    pub(crate) fn get(&self, rd: &ResDef, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&Self::key(rd, ns, name))
    }

    pub(crate) fn get_cloned(&self, rd: &ResDef, ns: &str, name: &str) -> Option<Value> {
        self.get(rd, ns, name).cloned()
    }

    /// Objects of a resource, optionally in one namespace, sorted by namespace/name.
    pub(crate) fn list(&self, rd: &ResDef, ns: Option<&str>) -> Vec<Value> {
        self.scan(rd, ns).cloned().collect()
    }

    /// The objects of `list`, by reference: a range of the ordered keys (resource, namespace,
    /// name), so that its cost is that of what it returns, not of everything stored (events
    /// and pods of every namespace). The simulated controllers list for every workload on
    /// every pass, under the state lock that every request waits for.
    pub(crate) fn scan<'a>(
        &'a self,
        rd: &ResDef,
        ns: Option<&str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        let q = rd.qualified();
        let ns = match ns {
            Some(_) if !rd.namespaced => Some(String::new()),
            other => other.map(str::to_string),
        };
        let start = (q.clone(), ns.clone().unwrap_or_default(), String::new());
        self.objects
            .range(start..)
            .take_while(move |((r, n, _), _)| *r == q && ns.as_ref().is_none_or(|ns| n == ns))
            .map(|(_, v)| v)
    }

    /// Records `key` under its controllers' uids in the owner index, and forgets it under
    /// those of `prev` (what was stored before).
    fn index_owners(&mut self, key: &Key, prev: Option<&Value>, now: Option<&Value>) {
        let before = prev.map(controller_uids).unwrap_or_default();
        let after = now.map(controller_uids).unwrap_or_default();
        for uid in before.iter().filter(|u| !after.contains(u)) {
            if let Some(keys) = self.owners.get_mut(uid) {
                keys.remove(key);
                if keys.is_empty() {
                    self.owners.remove(uid);
                }
            }
        }
        for uid in after {
            self.owners.entry(uid).or_default().insert(key.clone());
        }
    }

    /// The objects of a resource in namespace `ns` whose controller is `uid`, sorted by name
    /// (what `list` then a filter on the controller reference returns, without the scan).
    pub(crate) fn controlled_by(&self, rd: &ResDef, ns: &str, uid: &str) -> Vec<Value> {
        let q = rd.qualified();
        self.owners
            .get(uid)
            .into_iter()
            .flatten()
            .filter(|(r, n, _)| *r == q && (!rd.namespaced || n == ns))
            .filter_map(|key| self.objects.get(key))
            .cloned()
            .collect()
    }

    /// The keys of a resource's objects (every namespace), in order.
    pub(crate) fn keys(&self, rd: &ResDef) -> Vec<Key> {
        let q = rd.qualified();
        self.objects
            .range((q.clone(), String::new(), String::new())..)
            .take_while(|((r, _, _), _)| *r == q)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Stores a new object: uid, resourceVersion, creationTimestamp; ADDED event.
    pub(crate) fn insert(&mut self, rd: &ResDef, mut obj: Value, manager: &str) -> Value {
        let rv = self.next_rv();
        let now = util::now_str();
        let uid = self.rng.uid();
        {
            let meta = util::obj_mut(&mut obj, "/metadata");
            meta.insert("uid".into(), uid.into());
            meta.insert("resourceVersion".into(), rv.to_string().into());
            meta.insert("creationTimestamp".into(), now.clone().into());
            if rd.has_generation() {
                meta.insert("generation".into(), 1.into());
            }
            if !rd.namespaced {
                meta.remove("namespace");
            }
        }
        set_managed(&mut obj, rd, manager, None);
        obj["kind"] = rd.kind.into();
        obj["apiVersion"] = rd.api_version().into();
        let key = Self::key(rd, &ns_of(&obj), &name_of(&obj));
        let prev = self.objects.insert(key.clone(), obj.clone());
        self.index_owners(&key, prev.as_ref(), Some(&obj));
        self.emit(rd, "ADDED", &obj, None);
        obj
    }

    /// Replaces a stored object (new resourceVersion; MODIFIED event).
    pub(crate) fn replace(&mut self, rd: &ResDef, mut obj: Value) -> Value {
        let rv = self.next_rv();
        util::obj_mut(&mut obj, "/metadata")
            .insert("resourceVersion".into(), rv.to_string().into());
        obj["kind"] = rd.kind.into();
        obj["apiVersion"] = rd.api_version().into();
        let key = Self::key(rd, &ns_of(&obj), &name_of(&obj));
        let prev = self.objects.insert(key.clone(), obj.clone());
        self.index_owners(&key, prev.as_ref(), Some(&obj));
        self.emit(rd, "MODIFIED", &obj, prev);
        obj
    }

    /// Removes an object for good (DELETED event with a fresh resourceVersion).
    pub(crate) fn remove(&mut self, rd: &ResDef, ns: &str, name: &str) -> Option<Value> {
        let key = Self::key(rd, ns, name);
        let mut obj = self.objects.remove(&key)?;
        self.index_owners(&key, Some(&obj), None);
        let rv = self.next_rv();
        util::obj_mut(&mut obj, "/metadata")
            .insert("resourceVersion".into(), rv.to_string().into());
        self.emit(rd, "DELETED", &obj, None);
        if rd.plural == "pods" {
            self.kubelet.remove(&util::uid_of(&obj));
        }
        Some(obj)
    }

    pub(crate) fn namespace_exists(&self, ns: &str) -> bool {
        self.get(res("namespaces"), "", ns).is_some()
    }
}

/// Upserts a light managedFields entry for `manager`.
pub(crate) fn set_managed(obj: &mut Value, rd: &ResDef, manager: &str, subresource: Option<&str>) {
    if manager.is_empty() {
        return;
    }
    let now = util::now_str();
    let meta = util::obj_mut(obj, "/metadata");
    let mf = meta
        .entry("managedFields".to_string())
        .or_insert_with(|| Value::Array(vec![]));
    if !mf.is_array() {
        *mf = Value::Array(vec![]);
    }
    let Some(arr) = mf.as_array_mut() else { return };
    let sub = subresource.map(str::to_string);
    if let Some(e) = arr.iter_mut().find(|e| {
        e["manager"] == manager
            && e.get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string)
                == sub
    }) {
        e["time"] = now.into();
        return;
    }
    let mut e = json!({
        "manager": manager,
        "operation": "Update",
        "apiVersion": rd.api_version(),
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": {},
    });
    if let Some(s) = subresource {
        e["subresource"] = s.into();
    }
    arr.push(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned_by(uid: &str, controller: bool) -> Value {
        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": controller}])
    }

    fn pod(ns: &str, name: &str, owners: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": ns, "ownerReferences": owners}})
    }

    /// What `controlled_by` must equal: the scan of the namespace, filtered.
    fn scanned(st: &State, ns: &str, uid: &str) -> Vec<String> {
        st.list(res("pods"), Some(ns))
            .into_iter()
            .filter(|p| crate::controllers::owned_by(p, uid))
            .map(|p| util::name_of(&p))
            .collect()
    }

    fn indexed(st: &State, ns: &str, uid: &str) -> Vec<String> {
        st.controlled_by(res("pods"), ns, uid)
            .iter()
            .map(util::name_of)
            .collect()
    }

    #[test]
    fn the_owner_index_follows_inserts_replacements_and_removals() {
        let mut st = State::new(Config {
            pod_ready_after: Duration::from_millis(1),
        });
        st.insert(res("pods"), pod("a", "p2", owned_by("u1", true)), "t");
        st.insert(res("pods"), pod("a", "p1", owned_by("u1", true)), "t");
        st.insert(res("pods"), pod("b", "p3", owned_by("u1", true)), "t");
        st.insert(res("pods"), pod("a", "p4", owned_by("u1", false)), "t");
        st.insert(res("pods"), pod("a", "p5", owned_by("u2", true)), "t");
        assert_eq!(indexed(&st, "a", "u1"), ["p1", "p2"]);
        assert_eq!(indexed(&st, "a", "u1"), scanned(&st, "a", "u1"));
        assert_eq!(indexed(&st, "b", "u1"), ["p3"]);
        // Adopted by another controller, released, removed.
        let mut moved = st.get_cloned(res("pods"), "a", "p2").unwrap();
        moved["metadata"]["ownerReferences"] = owned_by("u2", true);
        st.replace(res("pods"), moved);
        let mut released = st.get_cloned(res("pods"), "a", "p5").unwrap();
        released["metadata"]["ownerReferences"] = json!([]);
        st.replace(res("pods"), released);
        st.remove(res("pods"), "a", "p1");
        for (ns, uid) in [("a", "u1"), ("a", "u2"), ("b", "u1"), ("b", "u2")] {
            assert_eq!(indexed(&st, ns, uid), scanned(&st, ns, uid), "{ns} {uid}");
        }
        assert_eq!(indexed(&st, "a", "u2"), ["p2"]);
        assert!(indexed(&st, "a", "u1").is_empty());
        // Another resource's objects under the same owner are not pods.
        assert!(st.controlled_by(res("replicasets"), "a", "u2").is_empty());
    }

    #[test]
    fn a_ranged_list_returns_what_a_full_scan_did() {
        let mut st = State::new(Config {
            pod_ready_after: Duration::from_millis(1),
        });
        for (ns, name) in [("b", "x"), ("a", "y"), ("ab", "z"), ("a", "w")] {
            st.insert(res("pods"), pod(ns, name, json!([])), "t");
            st.insert(res("configmaps"), pod(ns, name, json!([])), "t");
        }
        st.insert(res("namespaces"), json!({"metadata": {"name": "a"}}), "t");
        let names = |v: Vec<Value>| v.iter().map(util::name_of).collect::<Vec<_>>();
        assert_eq!(names(st.list(res("pods"), Some("a"))), ["w", "y"]);
        assert_eq!(names(st.list(res("pods"), None)), ["w", "y", "z", "x"]);
        assert!(st.list(res("pods"), Some("c")).is_empty());
        // A cluster-scoped resource ignores the namespace asked for.
        assert_eq!(names(st.list(res("namespaces"), Some("b"))), ["a"]);
    }
}
