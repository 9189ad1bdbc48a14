#![expect(clippy::unwrap_used, reason = "test code")]
//! StatefulSet / DaemonSet / garbage collection / init containers.

mod common;
use common::request;
use kube_test_api::{KubeApi, daemon_set, deployment, stateful_set};
use serde_json::Value;
use std::time::{Duration, Instant};

const ADMIN: &str = KubeApi::ADMIN_TOKEN;
const SMP: &str = "application/strategic-merge-patch+json";

fn api() -> KubeApi {
    let api = KubeApi::builder()
        .nodes(3)
        .pod_ready_after(Duration::from_millis(80))
        .build();
    api.create_namespace("shop");
    api
}

fn until(max: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + max;
    while !f() {
        assert!(Instant::now() < end, "condition not reached");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn images(api: &KubeApi, app: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = api
        .list("/api/v1/namespaces/shop/pods")
        .iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == app
                && p["metadata"].get("deletionTimestamp").is_none()
        })
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn statefulset_ordered_creation_partition_and_update() {
    let api = api();
    api.create(
        stateful_set("shop", "db")
            .image("db", "registry.local/db:1.0.0")
            .replicas(3)
            .partition(1)
            .build(),
    );
    assert!(api.wait_rolled_out("shop", "StatefulSet", "db", Duration::from_secs(10)));
    let s = api
        .get("/apis/apps/v1/namespaces/shop/statefulsets/db")
        .unwrap();
    assert_eq!(s["status"]["replicas"], 3);
    assert_eq!(
        s["status"]["currentRevision"],
        s["status"]["updateRevision"]
    );
    let pods = api.list("/api/v1/namespaces/shop/pods");
    let p0 = pods
        .iter()
        .find(|p| p["metadata"]["name"] == "db-0")
        .unwrap();
    assert_eq!(p0["spec"]["hostname"], "db-0");
    assert_eq!(p0["spec"]["subdomain"], "db");
    assert_eq!(
        p0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "db-0"
    );
    assert_eq!(
        p0["metadata"]["labels"]["controller-revision-hash"],
        s["status"]["updateRevision"]
    );
    // Pods were created one at a time: db-1 only after db-0 was Ready.
    let t = |n: &str| {
        pods.iter().find(|p| p["metadata"]["name"] == n).unwrap()["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(t("db-0") < t("db-1") && t("db-1") < t("db-2"));

    let r = request(
        &api.url(),
        "PATCH",
        "/apis/apps/v1/namespaces/shop/statefulsets/db",
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"db"}],"containers":[{"image":"registry.local/db:1.1.0","name":"db"}]}}}}"#,
    );
    assert_eq!(r.json()["metadata"]["generation"], 2);
    assert!(api.wait_rolled_out("shop", "StatefulSet", "db", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    let imgs = images(&api, "db");
    assert_eq!(
        imgs,
        [
            ("db-0".to_string(), "registry.local/db:1.0.0".to_string()),
            ("db-1".to_string(), "registry.local/db:1.1.0".to_string()),
            ("db-2".to_string(), "registry.local/db:1.1.0".to_string()),
        ],
        "partition 1 keeps db-0 on the old revision"
    );
    let s = api
        .get("/apis/apps/v1/namespaces/shop/statefulsets/db")
        .unwrap();
    assert_ne!(
        s["status"]["currentRevision"],
        s["status"]["updateRevision"]
    );
    assert_eq!(s["status"]["updatedReplicas"], 2);
    let crs = api.list("/apis/apps/v1/namespaces/shop/controllerrevisions");
    assert_eq!(crs.len(), 2);
    assert!(
        crs.iter()
            .any(|c| c["revision"] == 2 && c["data"]["spec"]["template"]["$patch"] == "replace")
    );
    // Partition 0 finishes the update; currentRevision catches up.
    request(
        &api.url(),
        "PATCH",
        "/apis/apps/v1/namespaces/shop/statefulsets/db",
        Some(ADMIN),
        Some("application/merge-patch+json"),
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    );
    until(Duration::from_secs(10), || {
        let s = api
            .get("/apis/apps/v1/namespaces/shop/statefulsets/db")
            .unwrap();
        s["status"]["currentRevision"] == s["status"]["updateRevision"]
            && s["status"]["currentReplicas"] == 3
    });
    assert!(
        images(&api, "db")
            .iter()
            .all(|(_, i)| i == "registry.local/db:1.1.0")
    );
}

#[test]
fn statefulset_on_delete_waits_for_manual_deletion() {
    let api = api();
    api.create(stateful_set("shop", "db").replicas(2).on_delete().build());
    until(Duration::from_secs(10), || {
        api.get("/apis/apps/v1/namespaces/shop/statefulsets/db")
            .unwrap()["status"]["readyReplicas"]
            == 2
    });
    request(
        &api.url(),
        "PATCH",
        "/apis/apps/v1/namespaces/shop/statefulsets/db",
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"registry.local/db:2.0.0","name":"db"}]}}}}"#,
    );
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        images(&api, "db")
            .iter()
            .all(|(_, i)| i == "registry.local/db:1.0.0")
    );
    request(
        &api.url(),
        "DELETE",
        "/api/v1/namespaces/shop/pods/db-1",
        Some(ADMIN),
        None,
        "",
    );
    until(Duration::from_secs(5), || {
        images(&api, "db").contains(&("db-1".into(), "registry.local/db:2.0.0".into()))
    });
}

#[test]
fn daemonset_one_pod_per_node_and_rolling_update() {
    let api = api();
    api.create(daemon_set("shop", "agent").build());
    assert!(api.wait_rolled_out("shop", "DaemonSet", "agent", Duration::from_secs(10)));
    let ds = api
        .get("/apis/apps/v1/namespaces/shop/daemonsets/agent")
        .unwrap();
    assert_eq!(ds["status"]["desiredNumberScheduled"], 3);
    assert_eq!(ds["status"]["numberAvailable"], 3);
    let pods = api.list("/api/v1/namespaces/shop/pods");
    let mut nodes: Vec<&str> = pods
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap())
        .collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["fake-node-1", "fake-node-2", "fake-node-3"]);
    assert!(
        pods.iter()
            .all(|p| p["metadata"]["labels"]["pod-template-generation"] == "1")
    );
    request(
        &api.url(),
        "PATCH",
        "/apis/apps/v1/namespaces/shop/daemonsets/agent",
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"registry.local/agent:2","name":"agent"}]}}}}"#,
    );
    // maxUnavailable 1: never more than one node without an available pod.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let ds = api
            .get("/apis/apps/v1/namespaces/shop/daemonsets/agent")
            .unwrap();
        assert!(
            ds["status"]["numberUnavailable"].as_i64().unwrap_or(0) <= 1,
            "{}",
            ds["status"]
        );
        if ds["status"]["observedGeneration"] == 2
            && ds["status"]["updatedNumberScheduled"] == 3
            && ds["status"]["numberAvailable"] == 3
        {
            break;
        }
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        images(&api, "agent")
            .iter()
            .all(|(_, i)| i == "registry.local/agent:2")
    );
}

#[test]
fn deleting_a_deployment_cascades() {
    let api = api();
    api.create(deployment("shop", "auth").replicas(2).build());
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(10)));
    let r = request(
        &api.url(),
        "DELETE",
        "/apis/apps/v1/namespaces/shop/deployments/auth",
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(r.json()["status"], "Success");
    until(Duration::from_secs(5), || {
        api.list("/apis/apps/v1/namespaces/shop/replicasets")
            .is_empty()
            && api.list("/api/v1/namespaces/shop/pods").is_empty()
    });
}

#[test]
fn init_containers_run_first_and_can_fail() {
    let api = api();
    api.create(
        deployment("shop", "auth")
            .init_container("migrate", "registry.local/migrate:1")
            .build(),
    );
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(10)));
    let p = &api.list("/api/v1/namespaces/shop/pods")[0];
    assert_eq!(
        p["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    api.create(
        deployment("shop", "bad")
            .init_container("migrate", "registry.local/migrate:crash")
            .build(),
    );
    until(Duration::from_secs(5), || {
        api.list("/api/v1/namespaces/shop/pods").iter().any(|p| {
            p["metadata"]["labels"]["app"] == "bad"
                && p["status"]["initContainerStatuses"][0]["state"]["waiting"]["reason"]
                    == "CrashLoopBackOff"
                && p["status"]["phase"] == "Pending"
                && p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "PodInitializing"
        })
    });
    let t = request(
        &api.url(),
        "GET",
        "/api/v1/namespaces/shop/pods",
        Some(ADMIN),
        None,
        "",
    );
    let _ = t;
}

#[test]
fn unready_pods_hit_the_progress_deadline() {
    let api = api();
    api.create(
        deployment("shop", "auth")
            .image("auth", "registry.local/auth:unready")
            .progress_deadline_seconds(1)
            .build(),
    );
    assert!(!api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(6)));
    let d: Value = api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap();
    let c = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("ProgressDeadlineExceeded"))
    );
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .ends_with("has timed out progressing.")
    );
    let a = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Available")
        .unwrap()
        .clone();
    assert_eq!(a["reason"], "MinimumReplicasUnavailable");
}

#[test]
fn similar_events_are_combined_like_client_go() {
    let api = api();
    api.create(
        deployment("shop", "auth")
            .replicas(1)
            .max_surge(1)
            .max_unavailable(0)
            .build(),
    );
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(10)));
    for i in 0..6 {
        request(
            &api.url(),
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/auth",
            Some(ADMIN),
            Some(SMP),
            &format!(
                r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"image":"registry.local/auth:2.{i}","name":"auth"}}]}}}}}}}}"#
            ),
        );
        std::thread::sleep(Duration::from_millis(30));
        assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(10)));
    }
    let evs: Vec<Value> = api
        .list("/api/v1/namespaces/shop/events")
        .into_iter()
        .filter(|e| e["involvedObject"]["kind"] == "Deployment")
        .collect();
    let combined = evs
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("(combined from similar events): Scaled ")
        })
        .expect("a combined event");
    assert!(combined["count"].as_i64().unwrap() >= 2, "{combined}");
    assert_eq!(evs.len(), 10, "9 distinct events + 1 combined one");
}
