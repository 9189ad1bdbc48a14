//! StatefulSet and DaemonSet controllers (stateful_set_control.go / daemon_controller.go,
//! reduced to what a rollout needs), with their ControllerRevisions.

use crate::controllers::{
    controller_ref, delete_pod, pod_active, pod_from_template, pod_ready, template_hash,
};
use crate::kubelet::record_event;
use crate::store::{State, res};
use crate::util::{self, name_of, ns_of, uid_of};
use serde_json::{Map, Value, json};

const MANAGER: &str = "kube-controller-manager";

pub(crate) fn reconcile(st: &mut State) {
    for s in st.list(res("statefulsets"), None) {
        statefulset(st, s);
    }
    for d in st.list(res("daemonsets"), None) {
        daemonset(st, d);
    }
}

fn owned(st: &State, plural: &str, ns: &str, uid: &str) -> Vec<Value> {
    st.controlled_by(res(plural), ns, uid)
}

/// Makes sure a ControllerRevision for the current template exists (and is the newest);
/// returns its name and the plain hash.
fn sync_revision(st: &mut State, owner: &Value, kind: &str) -> (String, String) {
    let ns = ns_of(owner);
    let hash = template_hash(&owner["spec"]["template"]);
    let name = format!("{}-{hash}", name_of(owner));
    let revs = owned(st, "controllerrevisions", &ns, &uid_of(owner));
    let max = revs
        .iter()
        .filter_map(|r| r["revision"].as_i64())
        .max()
        .unwrap_or(0);
    match revs.iter().find(|r| name_of(r) == name) {
        Some(r) => {
            if r["revision"].as_i64().unwrap_or(0) < max {
                let mut c = r.clone();
                c["revision"] = (max + 1).into();
                st.replace(res("controllerrevisions"), c);
            }
        }
        None => {
            let mut template = owner["spec"]["template"].clone();
            if let Some(m) = template.as_object_mut() {
                m.insert("$patch".into(), "replace".into());
            }
            let mut labels = owner
                .pointer("/spec/template/metadata/labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            labels.insert("controller.kubernetes.io/hash".into(), hash.clone().into());
            let cr = json!({
                "metadata": {
                    "name": name, "namespace": ns, "labels": labels,
                    "ownerReferences": [controller_ref(owner, kind, "apps/v1")],
                },
                "data": {"spec": {"template": template}},
                "revision": max + 1,
            });
            st.insert(res("controllerrevisions"), cr, MANAGER);
        }
    }
    (name, hash)
}

fn template_of_revision(st: &State, ns: &str, rev: &str) -> Option<Value> {
    let cr = st.get(res("controllerrevisions"), ns, rev)?;
    let mut t = cr.pointer("/data/spec/template")?.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    Some(t)
}

fn put(s: &mut Map<String, Value>, k: &str, v: i64) {
    if v != 0 {
        s.insert(k.into(), v.into());
    }
}

fn write_status(st: &mut State, plural: &str, obj: &Value, status: Value) {
    if let Some(cur) = st.get_cloned(res(plural), &ns_of(obj), &name_of(obj))
        && cur.get("status") != Some(&status)
    {
        let mut c = cur;
        c["status"] = status;
        st.replace(res(plural), c);
    }
}

// ---------------------------------------------------------------- StatefulSet

fn ordinal(p: &Value, set: &str) -> Option<i64> {
    name_of(p)
        .strip_prefix(&format!("{set}-"))
        .and_then(|o| o.parse().ok())
}

fn statefulset(st: &mut State, s: Value) {
    if s.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let ns = ns_of(&s);
    let name = name_of(&s);
    let (update_rev, _) = sync_revision(st, &s, "StatefulSet");
    let s = st.get_cloned(res("statefulsets"), &ns, &name).unwrap_or(s);
    let current_rev = s
        .pointer("/status/currentRevision")
        .and_then(Value::as_str)
        .filter(|r| st.get(res("controllerrevisions"), &ns, r).is_some())
        .map(str::to_string)
        .unwrap_or_else(|| update_rev.clone());
    let replicas = util::i(&s, "/spec/replicas").unwrap_or(1);
    let rolling = util::s(&s, "/spec/updateStrategy/type") != Some("OnDelete");
    let partition = if rolling {
        util::i(&s, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0)
    } else {
        0
    };
    let parallel = util::s(&s, "/spec/podManagementPolicy") == Some("Parallel");
    let rev_of = |p: &Value| {
        util::s(p, "/metadata/labels/controller-revision-hash")
            .unwrap_or_default()
            .to_string()
    };
    let mut pods: Vec<Value> = owned(st, "pods", &ns, &uid_of(&s));
    pods.sort_by_key(|p| ordinal(p, &name).unwrap_or(i64::MAX));
    let healthy =
        |p: &Value| pod_active(p) && util::s(p, "/status/phase") == Some("Running") && pod_ready(p);

    'manage: {
        // Create missing pods in ordinal order; OrderedReady waits for each to be healthy.
        for ord in 0..replicas {
            let pname = format!("{name}-{ord}");
            match pods.iter().find(|p| name_of(p) == pname) {
                None => {
                    let (rev, template) = if rolling && ord < partition {
                        (
                            current_rev.clone(),
                            template_of_revision(st, &ns, &current_rev),
                        )
                    } else {
                        (update_rev.clone(), Some(s["spec"]["template"].clone()))
                    };
                    let template = template.unwrap_or_else(|| s["spec"]["template"].clone());
                    let mut p = pod_from_template(
                        &template,
                        &ns,
                        controller_ref(&s, "StatefulSet", "apps/v1"),
                    );
                    p["metadata"]["name"] = pname.clone().into();
                    p["metadata"]["generateName"] = format!("{name}-").into();
                    let labels = util::obj_mut(&mut p, "/metadata/labels");
                    labels.insert("controller-revision-hash".into(), rev.into());
                    labels.insert(
                        "statefulset.kubernetes.io/pod-name".into(),
                        pname.clone().into(),
                    );
                    p["spec"]["hostname"] = pname.clone().into();
                    if let Some(svc) = s["spec"].get("serviceName").and_then(Value::as_str) {
                        p["spec"]["subdomain"] = svc.into();
                    }
                    crate::api::admit_pod(st, &mut p);
                    st.insert(res("pods"), p, MANAGER);
                    let msg = format!("create Pod {pname} in StatefulSet {name} successful");
                    record_event(
                        st,
                        &s,
                        None,
                        "Normal",
                        "SuccessfulCreate",
                        &msg,
                        "statefulset-controller",
                        None,
                    );
                    if !parallel {
                        break 'manage;
                    }
                }
                Some(p) if !healthy(p) && !parallel => break 'manage,
                _ => {}
            }
        }
        // Scale down from the highest ordinal.
        let mut condemned: Vec<&Value> = pods
            .iter()
            .filter(|p| ordinal(p, &name).is_none_or(|o| o >= replicas))
            .collect();
        condemned.reverse();
        for p in condemned {
            if pod_active(p) {
                delete_pod(st, p);
                let msg = format!("delete Pod {} in StatefulSet {name} successful", name_of(p));
                record_event(
                    st,
                    &s,
                    None,
                    "Normal",
                    "SuccessfulDelete",
                    &msg,
                    "statefulset-controller",
                    None,
                );
            }
            if !parallel {
                break 'manage;
            }
        }
        // Rolling update from the highest ordinal down to the partition.
        if rolling {
            for ord in (partition..replicas).rev() {
                let Some(p) = pods.iter().find(|p| ordinal(p, &name) == Some(ord)) else {
                    break 'manage;
                };
                if rev_of(p) != update_rev && pod_active(p) {
                    delete_pod(st, p);
                    let msg = format!("delete Pod {} in StatefulSet {name} successful", name_of(p));
                    record_event(
                        st,
                        &s,
                        None,
                        "Normal",
                        "SuccessfulDelete",
                        &msg,
                        "statefulset-controller",
                        None,
                    );
                    break 'manage;
                }
                if !healthy(p) {
                    break 'manage;
                }
            }
        }
    }

    let pods: Vec<Value> = owned(st, "pods", &ns, &uid_of(&s));
    let in_range: Vec<&Value> = pods
        .iter()
        .filter(|p| ordinal(p, &name).is_some())
        .collect();
    let ready = in_range.iter().filter(|p| healthy(p)).count() as i64;
    let created = in_range.len() as i64;
    let live: Vec<&&Value> = in_range.iter().filter(|p| pod_active(p)).collect();
    let mut current = live.iter().filter(|p| rev_of(p) == current_rev).count() as i64;
    let updated = live.iter().filter(|p| rev_of(p) == update_rev).count() as i64;
    let mut cur_rev = current_rev.clone();
    if rolling && updated == created && ready == created && created == replicas {
        current = updated;
        cur_rev = update_rev.clone();
    }
    let mut m = Map::new();
    put(
        &mut m,
        "observedGeneration",
        util::i(&s, "/metadata/generation").unwrap_or(0),
    );
    m.insert("replicas".into(), created.into());
    put(&mut m, "readyReplicas", ready);
    put(&mut m, "currentReplicas", current);
    put(&mut m, "updatedReplicas", updated);
    m.insert("currentRevision".into(), cur_rev.into());
    m.insert("updateRevision".into(), update_rev.into());
    m.insert("collisionCount".into(), 0.into());
    m.insert("availableReplicas".into(), ready.into());
    write_status(st, "statefulsets", &s, Value::Object(m));
}

// ---------------------------------------------------------------- DaemonSet

const DS_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

fn pod_node(p: &Value) -> Option<String> {
    if let Some(n) = util::s(p, "/spec/nodeName").filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    p.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn daemonset(st: &mut State, d: Value) {
    if d.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let ns = ns_of(&d);
    let name = name_of(&d);
    let (_, hash) = sync_revision(st, &d, "DaemonSet");
    let d = st.get_cloned(res("daemonsets"), &ns, &name).unwrap_or(d);
    let generation = util::i(&d, "/metadata/generation").unwrap_or(1);
    let nodes: Vec<String> = st.list(res("nodes"), None).iter().map(name_of).collect();
    let pods = owned(st, "pods", &ns, &uid_of(&d));
    let hash_of = |p: &Value| {
        util::s(p, "/metadata/labels/controller-revision-hash")
            .unwrap_or_default()
            .to_string()
    };
    let rolling = util::s(&d, "/spec/updateStrategy/type") != Some("OnDelete");
    let max_unav = util::int_or_percent(
        d.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable"),
        nodes.len() as i64,
        true,
        "1",
    )
    .max(1);
    let mut unavailable = 0;
    let mut candidates: Vec<Value> = Vec::new();
    for node in &nodes {
        let on_node: Vec<&Value> = pods
            .iter()
            .filter(|p| pod_node(p).as_deref() == Some(node.as_str()))
            .collect();
        let live: Vec<&&Value> = on_node.iter().filter(|p| pod_active(p)).collect();
        if live.is_empty() {
            let mut p = pod_from_template(
                &d["spec"]["template"],
                &ns,
                controller_ref(&d, "DaemonSet", "apps/v1"),
            );
            p["metadata"]["generateName"] = format!("{name}-").into();
            let pname = format!("{name}-{}", st.rng.suffix(5));
            p["metadata"]["name"] = pname.clone().into();
            let labels = util::obj_mut(&mut p, "/metadata/labels");
            labels.insert("controller-revision-hash".into(), hash.clone().into());
            labels.insert(
                "pod-template-generation".into(),
                generation.to_string().into(),
            );
            p["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
            }}});
            let tol = util::obj_mut(&mut p, "/spec")
                .entry("tolerations")
                .or_insert_with(|| json!([]));
            if let Some(a) = tol.as_array_mut() {
                for (k, e) in DS_TOLERATIONS {
                    a.push(json!({"key": k, "operator": "Exists", "effect": e}));
                }
            }
            crate::api::admit_pod(st, &mut p);
            st.insert(res("pods"), p, MANAGER);
            record_event(
                st,
                &d,
                None,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {pname}"),
                "daemonset-controller",
                None,
            );
            unavailable += 1;
            continue;
        }
        for p in &live {
            let available = pod_ready(p);
            if hash_of(p) == hash {
                if !available {
                    unavailable += 1;
                }
            } else if rolling {
                if available {
                    candidates.push((**p).clone());
                } else {
                    delete_pod(st, p);
                    record_event(
                        st,
                        &d,
                        None,
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", name_of(p)),
                        "daemonset-controller",
                        None,
                    );
                }
            }
        }
    }
    let mut budget = max_unav - unavailable;
    for p in candidates {
        if budget <= 0 {
            break;
        }
        delete_pod(st, &p);
        record_event(
            st,
            &d,
            None,
            "Normal",
            "SuccessfulDelete",
            &format!("Deleted pod: {}", name_of(&p)),
            "daemonset-controller",
            None,
        );
        budget -= 1;
    }

    let pods = owned(st, "pods", &ns, &uid_of(&d));
    let mut scheduled = 0;
    let mut ready = 0;
    let mut updated = 0;
    for node in &nodes {
        let live: Vec<&Value> = pods
            .iter()
            .filter(|p| pod_node(p).as_deref() == Some(node.as_str()) && pod_active(p))
            .collect();
        if live.is_empty() {
            continue;
        }
        scheduled += 1;
        if live.iter().any(|p| pod_ready(p)) {
            ready += 1;
        }
        if live.iter().any(|p| hash_of(p) == hash) {
            updated += 1;
        }
    }
    let desired = nodes.len() as i64;
    let mut m = Map::new();
    m.insert("currentNumberScheduled".into(), scheduled.into());
    m.insert("numberMisscheduled".into(), 0.into());
    m.insert("desiredNumberScheduled".into(), desired.into());
    m.insert("numberReady".into(), ready.into());
    put(&mut m, "observedGeneration", generation);
    put(&mut m, "updatedNumberScheduled", updated);
    put(&mut m, "numberAvailable", ready);
    put(&mut m, "numberUnavailable", desired - ready);
    write_status(st, "daemonsets", &d, Value::Object(m));
}
