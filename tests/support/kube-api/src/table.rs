//! `Table` answers (what `kubectl get` asks for), with the real column sets.

use crate::controllers::pod_ready;
use crate::store::{ResDef, State};
use crate::util::{self, human_age};
use serde_json::{Value, json};

fn col(name: &str, typ: &str, format: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": typ, "format": format, "description": description, "priority": priority})
}

fn i(v: &Value, p: &str) -> i64 {
    util::i(v, p).unwrap_or(0)
}

fn age(v: &Value) -> String {
    human_age(util::s(v, "/metadata/creationTimestamp").unwrap_or_default())
}

fn containers(v: &Value, ptr: &str) -> (String, String) {
    let cs = v
        .pointer(ptr)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = cs.iter().filter_map(|c| c["image"].as_str()).collect();
    (names.join(","), images.join(","))
}

fn selector_str(v: &Value) -> String {
    v.pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// kubectl's pod STATUS column (printers.go `printPod`, simplified).
pub(crate) fn pod_status(p: &Value) -> (String, i64) {
    let mut reason = util::s(p, "/status/phase").unwrap_or("Pending").to_string();
    if let Some(r) = util::s(p, "/status/reason") {
        reason = r.to_string();
    }
    let mut restarts = 0;
    let inits = p
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let n_init = p
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut initializing = false;
    for (idx, c) in inits.iter().enumerate() {
        restarts += c["restartCount"].as_i64().unwrap_or(0);
        if c.pointer("/state/terminated/exitCode") == Some(&json!(0)) {
            continue;
        }
        initializing = true;
        reason = if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            format!("Init:{r}")
        } else if let Some(r) = c
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{idx}/{n_init}")
        };
        break;
    }
    if !initializing {
        restarts = 0;
        let mut has_running = false;
        let cs = p
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for c in cs.iter().rev() {
            restarts += c["restartCount"].as_i64().unwrap_or(0);
            if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
                reason = r.to_string();
            } else if let Some(r) = c
                .pointer("/state/terminated/reason")
                .and_then(Value::as_str)
            {
                reason = r.to_string();
            } else if c.pointer("/state/terminated").is_some() {
                reason = "Error".into();
            } else if c["ready"] == true && c.pointer("/state/running").is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = if pod_ready(p) {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if p.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    (reason, restarts)
}

pub(crate) fn table(rd: &ResDef, items: &[Value], meta: Value, _st: &State) -> Value {
    let name_col = col(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    );
    let age_col = col(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    let (cols, rows): (Vec<Value>, Vec<Vec<Value>>) = match rd.plural {
        "deployments" => (
            vec![
                name_col,
                col(
                    "Ready",
                    "string",
                    "",
                    0,
                    "Number of the pod with ready state",
                ),
                col(
                    "Up-to-date",
                    "string",
                    "",
                    0,
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                col(
                    "Available",
                    "string",
                    "",
                    0,
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age_col,
                col(
                    "Containers",
                    "string",
                    "",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    "",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col(
                    "Selector",
                    "string",
                    "",
                    1,
                    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
                ),
            ],
            items
                .iter()
                .map(|d| {
                    let (c, im) = containers(d, "/spec/template/spec/containers");
                    vec![
                        util::name_of(d).into(),
                        format!(
                            "{}/{}",
                            i(d, "/status/readyReplicas"),
                            i(d, "/spec/replicas")
                        )
                        .into(),
                        i(d, "/status/updatedReplicas").into(),
                        i(d, "/status/availableReplicas").into(),
                        age(d).into(),
                        c.into(),
                        im.into(),
                        selector_str(d).into(),
                    ]
                })
                .collect(),
        ),
        "replicasets" => (
            vec![
                name_col,
                col(
                    "Desired",
                    "integer",
                    "",
                    0,
                    "Replicas is the number of desired replicas.",
                ),
                col(
                    "Current",
                    "integer",
                    "",
                    0,
                    "Replicas is the most recently observed number of replicas.",
                ),
                col(
                    "Ready",
                    "integer",
                    "",
                    0,
                    "The number of ready replicas for this replica set.",
                ),
                age_col,
                col(
                    "Containers",
                    "string",
                    "",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    "",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col("Selector", "string", "", 1, "Label selector for pods."),
            ],
            items
                .iter()
                .map(|r| {
                    let (c, im) = containers(r, "/spec/template/spec/containers");
                    vec![
                        util::name_of(r).into(),
                        i(r, "/spec/replicas").into(),
                        i(r, "/status/replicas").into(),
                        i(r, "/status/readyReplicas").into(),
                        age(r).into(),
                        c.into(),
                        im.into(),
                        selector_str(r).into(),
                    ]
                })
                .collect(),
        ),
        "statefulsets" => (
            vec![
                name_col,
                col(
                    "Ready",
                    "string",
                    "",
                    0,
                    "Number of the pod with ready state",
                ),
                age_col,
                col(
                    "Containers",
                    "string",
                    "",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    "",
                    1,
                    "Images referenced by each container in the template.",
                ),
            ],
            items
                .iter()
                .map(|s| {
                    let (c, im) = containers(s, "/spec/template/spec/containers");
                    vec![
                        util::name_of(s).into(),
                        format!(
                            "{}/{}",
                            i(s, "/status/readyReplicas"),
                            i(s, "/spec/replicas")
                        )
                        .into(),
                        age(s).into(),
                        c.into(),
                        im.into(),
                    ]
                })
                .collect(),
        ),
        "daemonsets" => (
            vec![
                name_col,
                col(
                    "Desired",
                    "integer",
                    "",
                    0,
                    "The total number of nodes that should be running the daemon pod.",
                ),
                col(
                    "Current",
                    "integer",
                    "",
                    0,
                    "The number of nodes that are running at least 1 daemon pod.",
                ),
                col(
                    "Ready",
                    "integer",
                    "",
                    0,
                    "The number of nodes that should be running the daemon pod and have one or more running and ready.",
                ),
                col(
                    "Up-to-date",
                    "integer",
                    "",
                    0,
                    "The total number of nodes that are running updated daemon pod",
                ),
                col(
                    "Available",
                    "integer",
                    "",
                    0,
                    "The number of nodes that should be running the daemon pod and have one or more running and available.",
                ),
                col(
                    "Node Selector",
                    "string",
                    "",
                    0,
                    "NodeSelector is a selector which must be true for the pod to fit on a node.",
                ),
                age_col,
            ],
            items
                .iter()
                .map(|s| {
                    let sel = s
                        .pointer("/spec/template/spec/nodeSelector")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .filter(|x| !x.is_empty())
                        .unwrap_or_else(|| "<none>".into());
                    vec![
                        util::name_of(s).into(),
                        i(s, "/status/desiredNumberScheduled").into(),
                        i(s, "/status/currentNumberScheduled").into(),
                        i(s, "/status/numberReady").into(),
                        i(s, "/status/updatedNumberScheduled").into(),
                        i(s, "/status/numberAvailable").into(),
                        sel.into(),
                        age(s).into(),
                    ]
                })
                .collect(),
        ),
        "pods" => (
            vec![
                name_col,
                col(
                    "Ready",
                    "string",
                    "",
                    0,
                    "The aggregate readiness state of this pod for accepting traffic.",
                ),
                col(
                    "Status",
                    "string",
                    "",
                    0,
                    "The aggregate status of the containers in this pod.",
                ),
                col(
                    "Restarts",
                    "string",
                    "",
                    0,
                    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                ),
                age_col,
                col(
                    "IP",
                    "string",
                    "",
                    1,
                    "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                ),
                col(
                    "Node",
                    "string",
                    "",
                    1,
                    "NodeName is a request to schedule this pod onto a specific node.",
                ),
            ],
            items
                .iter()
                .map(|p| {
                    let total = p
                        .pointer("/spec/containers")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    let ready = p
                        .pointer("/status/containerStatuses")
                        .and_then(Value::as_array)
                        .map_or(0, |a| a.iter().filter(|c| c["ready"] == true).count());
                    let (status, restarts) = pod_status(p);
                    vec![
                        util::name_of(p).into(),
                        format!("{ready}/{total}").into(),
                        status.into(),
                        restarts.to_string().into(),
                        age(p).into(),
                        util::s(p, "/status/podIP").unwrap_or("<none>").into(),
                        util::s(p, "/spec/nodeName").unwrap_or("<none>").into(),
                    ]
                })
                .collect(),
        ),
        "namespaces" => (
            vec![
                name_col,
                col("Status", "string", "", 0, "The status of the namespace"),
                age_col,
            ],
            items
                .iter()
                .map(|n| {
                    vec![
                        util::name_of(n).into(),
                        util::s(n, "/status/phase").unwrap_or_default().into(),
                        age(n).into(),
                    ]
                })
                .collect(),
        ),
        "events" => (
            vec![
                col(
                    "Last Seen",
                    "string",
                    "",
                    0,
                    "Time when last event occurred",
                ),
                col("Type", "string", "", 0, "Type of this event."),
                col(
                    "Reason",
                    "string",
                    "",
                    0,
                    "Reason is why the action was taken.",
                ),
                col("Object", "string", "", 0, "The object this Event is about."),
                col(
                    "Message",
                    "string",
                    "",
                    0,
                    "A human-readable description of the status of this operation.",
                ),
            ],
            items
                .iter()
                .map(|e| {
                    vec![
                        human_age(util::s(e, "/lastTimestamp").unwrap_or_default()).into(),
                        util::s(e, "/type").unwrap_or_default().into(),
                        util::s(e, "/reason").unwrap_or_default().into(),
                        format!(
                            "{}/{}",
                            util::s(e, "/involvedObject/kind")
                                .unwrap_or_default()
                                .to_ascii_lowercase(),
                            util::s(e, "/involvedObject/name").unwrap_or_default()
                        )
                        .into(),
                        util::s(e, "/message").unwrap_or_default().into(),
                    ]
                })
                .collect(),
        ),
        _ => (
            vec![name_col, age_col],
            items
                .iter()
                .map(|v| vec![util::name_of(v).into(), age(v).into()])
                .collect(),
        ),
    };
    let rows: Vec<Value> = items
        .iter()
        .zip(rows)
        .map(|(obj, cells)| {
            let mut m = obj.get("metadata").cloned().unwrap_or(json!({}));
            if let Some(mm) = m.as_object_mut() {
                mm.remove("managedFields");
            }
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": m}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols, "rows": rows})
}
