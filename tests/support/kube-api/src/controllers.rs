//! The kube-controller-manager parts we need: deployment, replicaset, garbage collector,
//! namespace lifecycle. The logic follows the real controllers (sync.go, rolling.go,
//! recreate.go, progress.go, replica_set.go) so the status sequences match the captures.

use crate::kubelet::record_event;
use crate::selector;
use crate::store::{State, res};
use crate::util::{self, name_of, ns_of, uid_of};
use serde_json::{Map, Value, json};

const REV: &str = "deployment.kubernetes.io/revision";
const REV_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
const HASH: &str = "pod-template-hash";
const MANAGER: &str = "kube-controller-manager";

pub(crate) fn controller_ref(owner: &Value, kind: &str, api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub(crate) fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|o| o["uid"] == uid && o["controller"] == true))
}

fn strip_template(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH);
        if l.is_empty()
            && let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("labels");
        }
    }
    if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("creationTimestamp");
    }
    t
}

/// `controller.ComputeHash` stand-in: FNV-32a of the template, safe-encoded.
pub(crate) fn template_hash(t: &Value) -> String {
    let s = serde_json::to_string(&strip_template(t)).unwrap_or_default();
    util::safe_encode(util::fnv32a(s.as_bytes()))
}

fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    strip_template(a) == strip_template(b)
}

fn spec_replicas(v: &Value) -> i64 {
    util::i(v, "/spec/replicas").unwrap_or(1)
}

fn st_i(v: &Value, f: &str) -> i64 {
    v.pointer(&format!("/status/{f}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REV))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn creation_key(v: &Value) -> (String, i64, String) {
    (
        util::s(v, "/metadata/creationTimestamp")
            .unwrap_or_default()
            .to_string(),
        revision(v),
        name_of(v),
    )
}

fn max_surge(d: &Value) -> i64 {
    if util::s(d, "/spec/strategy/type") != Some("RollingUpdate") {
        return 0;
    }
    resolve_fenceposts(d).0
}

fn max_unavailable(d: &Value) -> i64 {
    let r = spec_replicas(d);
    if util::s(d, "/spec/strategy/type") != Some("RollingUpdate") || r == 0 {
        return 0;
    }
    resolve_fenceposts(d).1.min(r)
}

fn resolve_fenceposts(d: &Value) -> (i64, i64) {
    let r = spec_replicas(d);
    let ru = d.pointer("/spec/strategy/rollingUpdate");
    let surge = util::int_or_percent(ru.and_then(|x| x.get("maxSurge")), r, true, "25%");
    let mut unav = util::int_or_percent(ru.and_then(|x| x.get("maxUnavailable")), r, false, "25%");
    if surge == 0 && unav == 0 {
        unav = 1;
    }
    (surge, unav)
}

fn get_cond<'a>(obj: &'a Value, typ: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|c| c["type"] == typ))
}

/// `SetDeploymentCondition` on a status object.
fn set_cond(status: &mut Value, typ: &str, st: &str, reason: &str, msg: &str) {
    let now = util::now_str();
    let conds = status
        .as_object_mut()
        .map(|m| m.entry("conditions").or_insert_with(|| json!([])))
        .and_then(Value::as_array_mut);
    let Some(conds) = conds else { return };
    let cur = conds.iter().find(|c| c["type"] == typ).cloned();
    let mut ltt = Value::from(now.clone());
    if let Some(c) = &cur {
        if c["status"] == st && c["reason"] == reason {
            return;
        }
        if c["status"] == st {
            ltt = c["lastTransitionTime"].clone();
        }
    }
    conds.retain(|c| c["type"] != typ);
    conds.push(json!({
        "type": typ, "status": st, "lastUpdateTime": now, "lastTransitionTime": ltt,
        "reason": reason, "message": msg
    }));
}

fn remove_cond(status: &mut Value, typ: &str) {
    if let Some(c) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        c.retain(|c| c["type"] != typ);
    }
}

fn owned(st: &State, plural: &str, ns: &str, uid: &str) -> Vec<Value> {
    st.controlled_by(res(plural), ns, uid)
}

fn fresh(st: &State, plural: &str, v: &Value) -> Value {
    st.get_cloned(res(plural), &ns_of(v), &name_of(v))
        .unwrap_or_else(|| v.clone())
}

/// The first step of a controller pass: namespace deletion and garbage collection.
pub(crate) fn collect(st: &mut State) {
    namespaces(st);
    gc(st);
}

/// The Deployment controller over the Deployments stored at `keys` (gone ones are skipped).
pub(crate) fn deployments(st: &mut State, keys: &[crate::store::Key]) {
    for key in keys {
        if let Some(d) = st.objects.get(key).cloned() {
            deployment(st, d);
        }
    }
}

/// The ReplicaSet controller over the ReplicaSets stored at `keys` (gone ones are skipped).
pub(crate) fn replicasets(st: &mut State, keys: &[crate::store::Key]) {
    for key in keys {
        if let Some(rs) = st.objects.get(key).cloned() {
            replicaset(st, rs);
        }
    }
}

// ---------------------------------------------------------------- deployment controller

struct Split {
    new: Option<Value>,
    olds: Vec<Value>,
}

fn split(st: &State, d: &Value) -> Split {
    let mut rss = owned(st, "replicasets", &ns_of(d), &uid_of(d));
    rss.sort_by_key(creation_key);
    let t = &d["spec"]["template"];
    let pos = rss
        .iter()
        .position(|rs| equal_ignore_hash(&rs["spec"]["template"], t));
    let new = pos.map(|p| rss.remove(p));
    Split { new, olds: rss }
}

fn set_new_rs_annotations(d: &Value, rs: &mut Value, new_rev: i64, exists: bool) -> bool {
    let skip = [
        REV,
        REV_HISTORY,
        DESIRED,
        MAX,
        "kubectl.kubernetes.io/last-applied-configuration",
        "deprecated.deployment.rollback.to",
    ];
    let mut changed = false;
    let dann = d
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let ann = util::obj_mut(rs, "/metadata/annotations");
    for (k, v) in &dann {
        if skip.contains(&k.as_str()) {
            continue;
        }
        if ann.get(k) != Some(v) {
            ann.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    let old = ann.get(REV).and_then(Value::as_str).map(str::to_string);
    let old_i: i64 = old.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
    if old_i < new_rev {
        ann.insert(REV.into(), new_rev.to_string().into());
        changed = true;
        if let Some(o) = old {
            let hist = ann
                .get(REV_HISTORY)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let h = if hist.is_empty() {
                o
            } else {
                format!("{hist},{o}")
            };
            ann.insert(REV_HISTORY.into(), h.into());
        }
    }
    if !exists {
        let r = spec_replicas(d);
        ann.insert(DESIRED.into(), r.to_string().into());
        ann.insert(MAX.into(), (r + max_surge(d)).to_string().into());
        changed = true;
    }
    changed
}

fn set_deployment_revision(d: &mut Value, rev: &str) -> bool {
    let ann = util::obj_mut(d, "/metadata/annotations");
    if ann.get(REV).and_then(Value::as_str) == Some(rev) {
        return false;
    }
    ann.insert(REV.into(), rev.into());
    true
}

fn has_deadline(d: &Value) -> bool {
    util::i(d, "/spec/progressDeadlineSeconds").is_some_and(|s| s != i64::from(i32::MAX))
}

/// `getAllReplicaSetsAndSyncRevision`.
fn sync_revision(st: &mut State, d: &mut Value, create: bool) -> Split {
    let Split { new, olds } = split(st, d);
    let max_old = olds.iter().map(revision).max().unwrap_or(0);
    let new_rev = max_old + 1;
    if let Some(rs) = new {
        let mut copy = rs.clone();
        let min_ready = d["spec"].get("minReadySeconds").cloned();
        let mr_changed = copy["spec"].get("minReadySeconds").cloned() != min_ready;
        if set_new_rs_annotations(d, &mut copy, new_rev, true) || mr_changed {
            if let Some(m) = copy["spec"].as_object_mut() {
                match min_ready {
                    Some(v) => m.insert("minReadySeconds".into(), v),
                    None => m.remove("minReadySeconds"),
                };
            }
            let rs = st.replace(res("replicasets"), copy);
            return Split {
                new: Some(rs),
                olds,
            };
        }
        let rev = copy
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REV))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut needs = set_deployment_revision(d, &rev);
        if has_deadline(d) && get_cond(d, "Progressing").is_none() {
            let msg = format!("Found new replica set \"{}\"", name_of(&copy));
            set_cond(
                util_status(d),
                "Progressing",
                "True",
                "FoundNewReplicaSet",
                &msg,
            );
            needs = true;
        }
        if needs {
            *d = st.replace(res("deployments"), d.clone());
        }
        return Split {
            new: Some(copy),
            olds,
        };
    }
    if !create {
        return Split { new: None, olds };
    }
    let hash = template_hash(&d["spec"]["template"]);
    let mut template = d["spec"]["template"].clone();
    util::obj_mut(&mut template, "/metadata/labels").insert(HASH.into(), hash.clone().into());
    let mut selector = d["spec"]["selector"].clone();
    util::obj_mut(&mut selector, "/matchLabels").insert(HASH.into(), hash.clone().into());
    let name = format!("{}-{hash}", name_of(d));
    let mut rs = json!({
        "metadata": {
            "name": name,
            "namespace": ns_of(d),
            "labels": template["metadata"]["labels"].clone(),
            "ownerReferences": [controller_ref(d, "Deployment", "apps/v1")],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0},
    });
    if let Some(mr) = d["spec"].get("minReadySeconds") {
        rs["spec"]["minReadySeconds"] = mr.clone();
    }
    let mut all = olds.clone();
    all.push(rs.clone());
    let replicas = new_rs_new_replicas(d, &all, &rs);
    rs["spec"]["replicas"] = replicas.into();
    set_new_rs_annotations(d, &mut rs, new_rev, false);
    if let Some(existing) = st.get_cloned(res("replicasets"), &ns_of(d), &name) {
        // A leftover with the same name (hash collision): treat it as ours.
        return Split {
            new: Some(existing),
            olds,
        };
    }
    let created = st.insert(res("replicasets"), rs, MANAGER);
    if replicas > 0 {
        let msg = format!("Scaled up replica set {name} to {replicas}");
        record_event(
            st,
            d,
            None,
            "Normal",
            "ScalingReplicaSet",
            &msg,
            "deployment-controller",
            None,
        );
    }
    let mut needs = set_deployment_revision(d, &new_rev.to_string());
    if has_deadline(d) {
        let msg = format!("Created new replica set \"{name}\"");
        set_cond(
            util_status(d),
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &msg,
        );
        needs = true;
    }
    if needs {
        *d = st.replace(res("deployments"), d.clone());
    }
    Split {
        new: Some(created),
        olds,
    }
}

fn util_status(d: &mut Value) -> &mut Value {
    if !d["status"].is_object() {
        d["status"] = json!({});
    }
    &mut d["status"]
}

fn new_rs_new_replicas(d: &Value, all: &[Value], new: &Value) -> i64 {
    let desired = spec_replicas(d);
    let cur_new = spec_replicas(new);
    if util::s(d, "/spec/strategy/type") == Some("RollingUpdate") {
        let surge = max_surge(d);
        let current: i64 = all.iter().map(spec_replicas).sum();
        let max_total = desired + surge;
        if current >= max_total {
            return cur_new;
        }
        let up = (max_total - current).min(desired - cur_new);
        cur_new + up
    } else {
        desired
    }
}

/// `scaleReplicaSetAndRecordEvent`; returns the updated RS when it scaled.
fn scale_rs(st: &mut State, d: &Value, rs: &Value, to: i64) -> Option<Value> {
    let from = spec_replicas(rs);
    let desired = spec_replicas(d);
    let max = desired + max_surge(d);
    let ann = rs.pointer("/metadata/annotations");
    let ann_ok = ann.and_then(|a| a.get(DESIRED)) == Some(&Value::from(desired.to_string()))
        && ann.and_then(|a| a.get(MAX)) == Some(&Value::from(max.to_string()));
    if from == to && ann_ok {
        return None;
    }
    let mut copy = rs.clone();
    copy["spec"]["replicas"] = to.into();
    let a = util::obj_mut(&mut copy, "/metadata/annotations");
    a.insert(DESIRED.into(), desired.to_string().into());
    a.insert(MAX.into(), max.to_string().into());
    let out = st.replace(res("replicasets"), copy);
    if from != to {
        let op = if to > from { "up" } else { "down" };
        let msg = format!(
            "Scaled {op} replica set {} to {to} from {from}",
            name_of(rs)
        );
        record_event(
            st,
            d,
            None,
            "Normal",
            "ScalingReplicaSet",
            &msg,
            "deployment-controller",
            None,
        );
        Some(out)
    } else {
        None
    }
}

fn calculate_status(d: &Value, all: &[Value], new: Option<&Value>) -> Value {
    let available: i64 = all.iter().map(|r| st_i(r, "availableReplicas")).sum();
    let total: i64 = all.iter().map(spec_replicas).sum();
    let unavailable = (total - available).max(0);
    let mut s = Map::new();
    let mut put = |k: &str, v: i64| {
        if v != 0 {
            s.insert(k.into(), v.into());
        }
    };
    put(
        "observedGeneration",
        util::i(d, "/metadata/generation").unwrap_or(0),
    );
    put("replicas", all.iter().map(|r| st_i(r, "replicas")).sum());
    put("updatedReplicas", new.map_or(0, |n| st_i(n, "replicas")));
    put(
        "readyReplicas",
        all.iter().map(|r| st_i(r, "readyReplicas")).sum(),
    );
    put("availableReplicas", available);
    put("unavailableReplicas", unavailable);
    if let Some(c) = d.pointer("/status/collisionCount") {
        s.insert("collisionCount".into(), c.clone());
    }
    if let Some(c) = d.pointer("/status/conditions") {
        s.insert("conditions".into(), c.clone());
    }
    let mut status = Value::Object(s);
    if available >= spec_replicas(d) - max_unavailable(d) {
        set_cond(
            &mut status,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        );
    } else {
        set_cond(
            &mut status,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        );
    }
    status
}

fn deployment_complete(d: &Value, status: &Value) -> bool {
    let r = spec_replicas(d);
    let g = |k: &str| status.get(k).and_then(Value::as_i64).unwrap_or(0);
    g("updatedReplicas") == r
        && g("replicas") == r
        && g("availableReplicas") == r
        && g("observedGeneration") >= util::i(d, "/metadata/generation").unwrap_or(0)
}

fn deployment_progressing(d: &Value, new: &Value) -> bool {
    let o = |k: &str| st_i(d, k);
    let n = |k: &str| new.get(k).and_then(Value::as_i64).unwrap_or(0);
    n("updatedReplicas") > o("updatedReplicas")
        || n("readyReplicas") > o("readyReplicas")
        || n("availableReplicas") > o("availableReplicas")
        || (o("replicas") - o("updatedReplicas")) > (n("replicas") - n("updatedReplicas"))
}

fn timed_out(d: &Value, status: &Value) -> bool {
    if !has_deadline(d) {
        return false;
    }
    let Some(c) = status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|c| c["type"] == "Progressing"))
    else {
        return false;
    };
    match c["reason"].as_str() {
        Some("NewReplicaSetAvailable") => return false,
        Some("ProgressDeadlineExceeded") => return true,
        _ => {}
    }
    let Some(from) = c["lastUpdateTime"].as_str().and_then(util::parse_time) else {
        return false;
    };
    let secs = util::i(d, "/spec/progressDeadlineSeconds").unwrap_or(600) as f64;
    from + secs < util::now_unix()
}

fn sync_rollout_status(st: &mut State, d: &mut Value, all: &[Value], new: Option<&Value>) {
    let mut ns = calculate_status(d, all, new);
    if !has_deadline(d) {
        remove_cond(&mut ns, "Progressing");
    }
    let cur = get_cond(d, "Progressing").cloned();
    let n = |k: &str| ns.get(k).and_then(Value::as_i64).unwrap_or(0);
    let is_complete = n("replicas") == n("updatedReplicas")
        && cur
            .as_ref()
            .is_some_and(|c| c["reason"] == "NewReplicaSetAvailable");
    if has_deadline(d) && !is_complete {
        let rs_name = new.map(name_of);
        if deployment_complete(d, &ns) {
            let msg = match &rs_name {
                Some(r) => format!("ReplicaSet \"{r}\" has successfully progressed."),
                None => format!("Deployment \"{}\" has successfully progressed.", name_of(d)),
            };
            set_cond(
                &mut ns,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &msg,
            );
        } else if deployment_progressing(d, &ns) {
            let msg = match &rs_name {
                Some(r) => format!("ReplicaSet \"{r}\" is progressing."),
                None => format!("Deployment \"{}\" is progressing.", name_of(d)),
            };
            let now = util::now_str();
            let mut c = json!({
                "type": "Progressing", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now,
                "reason": "ReplicaSetUpdated", "message": msg
            });
            if let Some(cc) = &cur {
                if cc["status"] == "True" {
                    c["lastTransitionTime"] = cc["lastTransitionTime"].clone();
                }
                remove_cond(&mut ns, "Progressing");
            }
            if let Some(a) = ns
                .as_object_mut()
                .map(|m| m.entry("conditions").or_insert_with(|| json!([])))
                .and_then(Value::as_array_mut)
            {
                a.push(c);
            }
        } else if timed_out(d, &ns) {
            let msg = match &rs_name {
                Some(r) => format!("ReplicaSet \"{r}\" has timed out progressing."),
                None => format!("Deployment \"{}\" has timed out progressing.", name_of(d)),
            };
            set_cond(
                &mut ns,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &msg,
            );
        }
    }
    write_status(st, d, ns);
}

fn write_status(st: &mut State, d: &mut Value, status: Value) {
    if d.get("status") == Some(&status) {
        return;
    }
    let mut copy = d.clone();
    copy["status"] = status;
    *d = st.replace(res("deployments"), copy);
}

fn cleanup(st: &mut State, d: &Value, olds: &[Value]) {
    let limit = util::i(d, "/spec/revisionHistoryLimit")
        .unwrap_or(10)
        .max(0) as usize;
    let mut cleanable: Vec<&Value> = olds
        .iter()
        .filter(|r| {
            spec_replicas(r) == 0
                && st_i(r, "replicas") == 0
                && r.pointer("/metadata/deletionTimestamp").is_none()
        })
        .collect();
    if cleanable.len() <= limit {
        return;
    }
    cleanable.sort_by_key(|r| revision(r));
    let n = cleanable.len() - limit;
    for r in cleanable.into_iter().take(n) {
        st.remove(res("replicasets"), &ns_of(r), &name_of(r));
    }
}

fn deployment(st: &mut State, d: Value) {
    if d.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let mut d = d;
    // checkPausedConditions
    let paused = d.pointer("/spec/paused") == Some(&Value::Bool(true));
    let cond = get_cond(&d, "Progressing").cloned();
    let reason = cond
        .as_ref()
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default()
        .to_string();
    if reason != "ProgressDeadlineExceeded" {
        let paused_exists = reason == "DeploymentPaused";
        if paused && !paused_exists {
            set_cond(
                util_status(&mut d),
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
            );
            d = st.replace(res("deployments"), d);
        } else if !paused && paused_exists {
            set_cond(
                util_status(&mut d),
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
            );
            d = st.replace(res("deployments"), d);
        }
    }
    if paused || is_scaling_event(st, &mut d) {
        sync_scale(st, &mut d, paused);
        return;
    }
    if util::s(&d, "/spec/strategy/type") == Some("Recreate") {
        rollout_recreate(st, &mut d);
    } else {
        rollout_rolling(st, &mut d);
    }
}

fn is_scaling_event(st: &mut State, d: &mut Value) -> bool {
    let sp = sync_revision(st, d, false);
    let Some(new) = sp.new else { return false };
    let desired = spec_replicas(d).to_string();
    std::iter::once(&new)
        .chain(sp.olds.iter())
        .filter(|r| spec_replicas(r) > 0)
        .any(|r| {
            r.pointer("/metadata/annotations")
                .and_then(|a| a.get(DESIRED))
                .and_then(Value::as_str)
                .is_some_and(|v| v != desired)
        })
}

fn sync_scale(st: &mut State, d: &mut Value, paused: bool) {
    let sp = sync_revision(st, d, false);
    let desired = spec_replicas(d);
    let mut actives: Vec<Value> = sp
        .new
        .iter()
        .chain(sp.olds.iter())
        .filter(|r| spec_replicas(r) > 0)
        .cloned()
        .collect();
    if actives.len() <= 1 {
        let target = actives.pop().or_else(|| sp.new.clone()).or_else(|| {
            let mut o = sp.olds.clone();
            o.sort_by_key(creation_key);
            o.pop()
        });
        if let Some(t) = target {
            scale_rs(st, d, &t, desired);
        }
    } else if let Some(new) = sp
        .new
        .as_ref()
        .filter(|n| spec_replicas(n) == desired && st_i(n, "availableReplicas") == desired)
    {
        let _ = new;
        for o in sp.olds.iter().filter(|r| spec_replicas(r) > 0) {
            scale_rs(st, d, o, 0);
        }
    } else {
        // Proportional scaling, simplified: the difference goes to the newest active set.
        let allowed = desired + max_surge(d);
        let total: i64 = actives.iter().map(spec_replicas).sum();
        let diff = allowed - total;
        actives.sort_by_key(creation_key);
        if diff > 0 {
            if let Some(t) = actives.last() {
                scale_rs(st, d, t, spec_replicas(t) + diff);
            }
        } else if diff < 0 {
            let mut left = -diff;
            for t in &actives {
                if left == 0 {
                    break;
                }
                let take = left.min(spec_replicas(t));
                scale_rs(st, d, t, spec_replicas(t) - take);
                left -= take;
            }
        }
    }
    let sp = split(st, d);
    if paused {
        cleanup(st, d, &sp.olds);
    }
    let sp = split(st, d);
    let all: Vec<Value> = sp.olds.iter().chain(sp.new.iter()).cloned().collect();
    let status = calculate_status(d, &all, sp.new.as_ref());
    write_status(st, d, status);
}

fn rollout_rolling(st: &mut State, d: &mut Value) {
    let sp = sync_revision(st, d, true);
    let Some(new) = sp.new else { return };
    let all: Vec<Value> = sp
        .olds
        .iter()
        .chain(std::iter::once(&new))
        .cloned()
        .collect();
    // reconcileNewReplicaSet
    let desired = spec_replicas(d);
    let cur = spec_replicas(&new);
    let scaled_up = if cur == desired {
        false
    } else if cur > desired {
        scale_rs(st, d, &new, desired).is_some()
    } else {
        let n = new_rs_new_replicas(d, &all, &new);
        scale_rs(st, d, &new, n).is_some()
    };
    if scaled_up {
        finish(st, d);
        return;
    }
    if reconcile_old(st, d, &all, &sp.olds, &new) {
        finish(st, d);
        return;
    }
    let status = d["status"].clone();
    if deployment_complete(d, &status) {
        let sp = split(st, d);
        cleanup(st, d, &sp.olds);
    }
    finish(st, d);
}

fn finish(st: &mut State, d: &mut Value) {
    let sp = split(st, d);
    let all: Vec<Value> = sp.olds.iter().chain(sp.new.iter()).cloned().collect();
    sync_rollout_status(st, d, &all, sp.new.as_ref());
}

fn reconcile_old(st: &mut State, d: &Value, all: &[Value], olds: &[Value], new: &Value) -> bool {
    let old_count: i64 = olds.iter().map(spec_replicas).sum();
    if old_count == 0 {
        return false;
    }
    let all_count: i64 = all.iter().map(spec_replicas).sum();
    let min_available = spec_replicas(d) - max_unavailable(d);
    let new_unavailable = spec_replicas(new) - st_i(new, "availableReplicas");
    let max_scaled_down = all_count - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    // cleanupUnhealthyReplicas
    let mut olds: Vec<Value> = olds.to_vec();
    olds.sort_by_key(creation_key);
    let mut cleaned = 0;
    for rs in olds.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let r = spec_replicas(rs);
        let avail = st_i(rs, "availableReplicas");
        if r == 0 || avail == r {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(r - avail);
        if let Some(updated) = scale_rs(st, d, rs, r - n) {
            *rs = updated;
        }
        cleaned += n;
    }
    // scaleDownOldReplicaSetsForRollingUpdate
    let fresh_all: Vec<Value> = olds
        .iter()
        .chain(std::iter::once(new))
        .map(|r| fresh(st, "replicasets", r))
        .collect();
    let available: i64 = fresh_all.iter().map(|r| st_i(r, "availableReplicas")).sum();
    let mut scaled = 0;
    if available > min_available {
        let total = available - min_available;
        for rs in &olds {
            if scaled >= total {
                break;
            }
            let rs = fresh(st, "replicasets", rs);
            let r = spec_replicas(&rs);
            if r == 0 {
                continue;
            }
            let n = r.min(total - scaled);
            scale_rs(st, d, &rs, r - n);
            scaled += n;
        }
    }
    cleaned + scaled > 0
}

fn rollout_recreate(st: &mut State, d: &mut Value) {
    let sp = sync_revision(st, d, false);
    let mut scaled_down = false;
    for o in sp.olds.iter().filter(|r| spec_replicas(r) > 0) {
        scaled_down |= scale_rs(st, d, o, 0).is_some();
    }
    if scaled_down {
        finish(st, d);
        return;
    }
    let old_running = sp.olds.iter().any(|r| {
        owned(st, "pods", &ns_of(r), &uid_of(r))
            .iter()
            .any(|p| !matches!(util::s(p, "/status/phase"), Some("Succeeded" | "Failed")))
    });
    if old_running {
        finish(st, d);
        return;
    }
    let new = match sp.new {
        Some(n) => n,
        None => match sync_revision(st, d, true).new {
            Some(n) => n,
            None => return,
        },
    };
    let desired = spec_replicas(d);
    if spec_replicas(&new) != desired {
        scale_rs(st, d, &new, desired);
    }
    let status = d["status"].clone();
    if deployment_complete(d, &status) {
        let sp = split(st, d);
        cleanup(st, d, &sp.olds);
    }
    finish(st, d);
}

// ---------------------------------------------------------------- replicaset controller

pub(crate) fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

pub(crate) fn pod_active(p: &Value) -> bool {
    p.pointer("/metadata/deletionTimestamp").is_none()
        && !matches!(util::s(p, "/status/phase"), Some("Succeeded" | "Failed"))
}

/// Builds a pod from a template, as the workload controllers do.
pub(crate) fn pod_from_template(template: &Value, ns: &str, owner_ref: Value) -> Value {
    let mut meta = Map::new();
    meta.insert("namespace".into(), ns.into());
    if let Some(l) = template.pointer("/metadata/labels") {
        meta.insert("labels".into(), l.clone());
    }
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta.insert("annotations".into(), a.clone());
    }
    meta.insert("ownerReferences".into(), json!([owner_ref]));
    json!({"metadata": meta, "spec": template["spec"].clone()})
}

/// Marks a pod for graceful deletion (the kubelet finishes it).
pub(crate) fn delete_pod(st: &mut State, p: &Value) {
    if p.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let grace = util::i(p, "/spec/terminationGracePeriodSeconds").unwrap_or(30);
    let mut c = p.clone();
    c["metadata"]["deletionTimestamp"] = util::rfc3339(util::now_unix() + grace as f64).into();
    c["metadata"]["deletionGracePeriodSeconds"] = grace.into();
    st.replace(res("pods"), c);
}

fn replicaset(st: &mut State, rs: Value) {
    if rs.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let ns = ns_of(&rs);
    let uid = uid_of(&rs);
    let name = name_of(&rs);
    let pods: Vec<Value> = owned(st, "pods", &ns, &uid)
        .into_iter()
        .filter(pod_active)
        .collect();
    let want = spec_replicas(&rs);
    let diff = pods.len() as i64 - want;
    if diff < 0 {
        for _ in 0..(-diff) {
            let mut p = pod_from_template(
                &rs["spec"]["template"],
                &ns,
                controller_ref(&rs, "ReplicaSet", "apps/v1"),
            );
            p["metadata"]["generateName"] = format!("{name}-").into();
            let pname = format!("{name}-{}", st.rng.suffix(5));
            p["metadata"]["name"] = pname.clone().into();
            crate::api::admit_pod(st, &mut p);
            st.insert(res("pods"), p, MANAGER);
            record_event(
                st,
                &rs,
                None,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {pname}"),
                "replicaset-controller",
                None,
            );
        }
    } else if diff > 0 {
        let mut ranked = pods.clone();
        let phase_rank = |p: &Value| match util::s(p, "/status/phase") {
            Some("Pending") => 0,
            Some("Unknown") => 1,
            Some("Running") => 2,
            _ => 3,
        };
        ranked.sort_by_key(|p| {
            (
                util::s(p, "/spec/nodeName").is_some(),
                phase_rank(p),
                pod_ready(p),
                std::cmp::Reverse(
                    p.pointer("/status/containerStatuses")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|c| c["restartCount"].as_i64())
                                .sum::<i64>()
                        })
                        .unwrap_or(0),
                ),
                std::cmp::Reverse(
                    util::s(p, "/metadata/creationTimestamp")
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        });
        for p in ranked.iter().take(diff as usize) {
            delete_pod(st, p);
            record_event(
                st,
                &rs,
                None,
                "Normal",
                "SuccessfulDelete",
                &format!("Deleted pod: {}", name_of(p)),
                "replicaset-controller",
                None,
            );
        }
    }
    let rs = fresh(st, "replicasets", &rs);
    let pods: Vec<Value> = owned(st, "pods", &ns, &uid)
        .into_iter()
        .filter(pod_active)
        .collect();
    let tl = rs.pointer("/spec/template/metadata/labels").cloned();
    let fully = pods
        .iter()
        .filter(|p| {
            tl.as_ref().and_then(Value::as_object).is_none_or(|m| {
                m.iter()
                    .all(|(k, v)| p.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
            })
        })
        .count() as i64;
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let mut s = Map::new();
    s.insert("replicas".into(), (pods.len() as i64).into());
    let mut put = |k: &str, v: i64| {
        if v != 0 {
            s.insert(k.into(), v.into());
        }
    };
    put("fullyLabeledReplicas", fully);
    put("readyReplicas", ready);
    put("availableReplicas", ready);
    put(
        "observedGeneration",
        util::i(&rs, "/metadata/generation").unwrap_or(0),
    );
    let status = Value::Object(s);
    if rs.get("status") != Some(&status) {
        let mut c = rs.clone();
        c["status"] = status;
        st.replace(res("replicasets"), c);
    }
}

// ---------------------------------------------------------------- gc + namespaces

fn gc(st: &mut State) {
    let mut doomed: Vec<(&'static str, Value)> = Vec::new();
    let uids: std::collections::HashSet<String> = st
        .objects
        .iter()
        .filter(|((r, _, _), _)| r != "events")
        .filter_map(|(_, v)| util::s(v, "/metadata/uid").map(str::to_string))
        .collect();
    for plural in ["pods", "replicasets", "controllerrevisions"] {
        for o in st.scan(res(plural), None) {
            let Some(refs) = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
            else {
                continue;
            };
            if refs.is_empty() {
                continue;
            }
            let alive = refs
                .iter()
                .any(|r| r["uid"].as_str().is_some_and(|u| uids.contains(u)));
            if !alive {
                doomed.push((plural, o.clone()));
            }
        }
    }
    for (plural, o) in doomed {
        if plural == "pods" {
            delete_pod(st, &o);
        } else {
            st.remove(res(plural), &ns_of(&o), &name_of(&o));
        }
    }
}

fn namespaces(st: &mut State) {
    for nsobj in st.list(res("namespaces"), None) {
        if util::s(&nsobj, "/status/phase") != Some("Terminating") {
            continue;
        }
        let ns = name_of(&nsobj);
        let keys: Vec<_> = st
            .objects
            .keys()
            .filter(|(_, n, _)| *n == ns)
            .cloned()
            .collect();
        if keys.is_empty() {
            st.remove(res("namespaces"), "", &ns);
            continue;
        }
        for (r, n, name) in keys {
            if let Some(rd) = crate::store::RESOURCES.iter().find(|d| d.qualified() == r) {
                st.remove(rd, &n, &name);
            }
        }
    }
}

/// Label selector of a workload as requirements (for status/table use).
pub(crate) fn selector_of(obj: &Value) -> Vec<selector::Req> {
    selector::from_label_selector(&obj["spec"]["selector"])
}
