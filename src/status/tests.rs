//! The judgement of `shipgate status` on real captures of a 1.24 control plane
//! (`tests/fixtures/k8s-api`).

use super::*;
use serde_json::json;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/k8s-api/", $name, ".json"))
    };
}

fn body(capture: &str) -> Value {
    let exchange: Value = serde_json::from_str(capture).unwrap();
    exchange["response"]["body"].clone()
}

fn items<T: serde::de::DeserializeOwned>(capture: &str) -> Vec<T> {
    serde_json::from_value(body(capture)["items"].clone()).unwrap()
}

fn now() -> k8s_openapi::jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn subject() -> Subject {
    Subject {
        service: "auth".into(),
        namespace: "shop".into(),
        kind: WorkloadKind::Deployment,
        workload: "auth".into(),
        container: None,
    }
}

const DIGEST: &str = "sha256:e530295ee57e3dac09319d78c614e286b531ed6162650c797af2dfdd1659ae44";

/// The completed `set image` rollout: Deployment, its two ReplicaSets, the three new pods.
fn rolled_out() -> (Value, Vec<ReplicaSet>, Vec<Pod>) {
    (
        body(fixture!("03-06-get-deployment-rollout-complete")),
        items(fixture!("03-09-list-replicasets-after-rollout")),
        items(fixture!("03-10-list-pods-after-rollout")),
    )
}

fn judged(workload: &Value, replica_sets: &[ReplicaSet], pods: &[Pod]) -> ServiceStatus {
    judge(
        &subject(),
        Observed {
            workload: Some(workload),
            replica_sets,
            pods,
        },
        &BTreeMap::new(),
        now(),
    )
}

#[test]
fn a_complete_rollout_reports_its_digest_pods_and_annotations() {
    let (mut deployment, replica_sets, pods) = rolled_out();
    deployment["spec"]["template"]["metadata"]["annotations"] = json!({
        "shipgate.dev/revision": "3b6e075a0c1f4a0f1b7e0c0e5b3c8d9e1f2a3b4c",
        "shipgate.dev/version": "1.1.0",
        "shipgate.dev/run-url": "https://github.com/acme/shop/actions/runs/7",
        "shipgate.dev/deployed-at": "2026-11-22T10:34:30Z"});
    let status = judged(&deployment, &replica_sets, &pods);
    assert_eq!(status.state, State::Complete, "{:?}", status.notes);
    assert_eq!(
        status.running,
        vec![Running {
            digest: DIGEST.into(),
            pods: 3
        }]
    );
    assert_eq!(
        status.replicas,
        Replicas {
            desired: 3,
            ready: 3,
            updated: 3,
            available: 3
        }
    );
    assert_eq!(
        status.desired_image.as_deref(),
        Some("registry.local/auth:1.1.0")
    );
    assert_eq!(status.version.as_deref(), Some("1.1.0"));
    assert_eq!(status.deployed_at.as_deref(), Some("2026-11-22T10:34:30Z"));
    assert!(!status.drift);
    assert!(!status.unhealthy());
    // The JSON keys are exactly the documented ones.
    let json = serde_json::to_value(&status).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut documented = vec![
        "name",
        "namespace",
        "kind",
        "workload",
        "desired_image",
        "running",
        "revision",
        "version",
        "run_url",
        "deployed_at",
        "replicas",
        "state",
        "drift",
        "behind",
    ];
    documented.sort_unstable();
    assert_eq!(keys, documented);
    assert_eq!(json["state"], "complete");
    assert_eq!(json["behind"], Value::Null);
}

#[test]
fn a_missing_workload_is_missing_and_unhealthy() {
    let status = judge(
        &subject(),
        Observed {
            workload: None,
            replica_sets: &[],
            pods: &[],
        },
        &BTreeMap::new(),
        now(),
    );
    assert_eq!(status.state, State::Missing);
    assert!(status.unhealthy());
}

#[test]
fn a_pod_running_another_digest_than_the_registry_serves_is_drift() {
    let (mut deployment, replica_sets, pods) = rolled_out();
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.local/auth:latest");
    let other = format!("sha256:{}", "b".repeat(64));
    let registry = BTreeMap::from([("registry.local/auth:latest".to_string(), other.clone())]);
    let status = judge(
        &subject(),
        Observed {
            workload: Some(&deployment),
            replica_sets: &replica_sets,
            pods: &pods,
        },
        &registry,
        now(),
    );
    assert!(status.drift);
    assert!(
        status.notes[0].contains("runs sha256:e530295ee57e, not sha256:bbbbbbbbbbbb"),
        "{:?}",
        status.notes
    );
    // Without the registry's answer the pods agree with each other: no drift.
    assert!(!judged(&deployment, &replica_sets, &pods).drift);
}

#[test]
fn pods_of_one_template_running_two_digests_drift_and_a_pinned_spec_is_checked() {
    let (deployment, replica_sets, mut pods) = rolled_out();
    let other = format!("registry.local/auth@sha256:{}", "c".repeat(64));
    pods[0]
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[0]
        .image_id = other;
    let status = judged(&deployment, &replica_sets, &pods);
    assert!(status.drift);
    assert_eq!(status.running.len(), 2);
    assert_eq!(status.running[0].pods, 2);
    // Pinned: every pod must run the pinned digest.
    let (mut pinned, replica_sets, pods) = rolled_out();
    pinned["spec"]["template"]["spec"]["containers"][0]["image"] = json!(format!(
        "registry.local/auth:1.1.0@sha256:{}",
        "d".repeat(64)
    ));
    let status = judged(&pinned, &replica_sets, &pods);
    assert!(status.drift);
    assert!(status.notes[0].contains("the digest the spec pins"));
}

#[test]
fn a_rolling_deployment_is_progressing_and_old_pods_are_not_drift() {
    let deployment = body(fixture!("03-03-get-deployment-rolling-new-rs-1-surge"));
    let replica_sets: Vec<ReplicaSet> = items(fixture!("03-09-list-replicasets-after-rollout"));
    let status = judged(&deployment, &replica_sets, &[]);
    assert_eq!(status.state, State::Progressing);
}

#[test]
fn deadline_exceeded_and_doomed_pods_are_failed_paused_is_paused() {
    let deployment = body(fixture!("05-08-get-deployment-progress-deadline-exceeded"));
    let replica_sets: Vec<ReplicaSet> = items(fixture!("05-10-list-replicasets-missing-stuck"));
    assert_eq!(judged(&deployment, &replica_sets, &[]).state, State::Failed);
    // Before the deadline, the new ReplicaSet's ErrImagePull pod already fails it.
    let mut early = deployment.clone();
    early["status"]["conditions"] = json!([]);
    let pod: Pod = serde_json::from_value(body(fixture!("05-05-get-pod-errimagepull"))).unwrap();
    let status = judged(&early, &replica_sets, &[pod]);
    assert_eq!(status.state, State::Failed, "{:?}", status.notes);
    let paused = body(fixture!("07-02-get-deployment-paused"));
    let status = judged(&paused, &[], &[]);
    assert_eq!(status.state, State::Paused);
    assert!(status.unhealthy());
}

#[test]
fn fail_on_names_each_reason() {
    let (deployment, replica_sets, pods) = rolled_out();
    let mut status = judged(&deployment, &replica_sets, &pods);
    status.behind = Some(4);
    let all = FailOn::parse("drift, behind,unhealthy").unwrap();
    assert_eq!(
        all.reasons(std::slice::from_ref(&status)),
        vec!["auth: 4 commits behind"]
    );
    assert!(FailOn::default().reasons(&[status]).is_empty());
    assert!(FailOn::parse("drifted").is_err());
}

#[test]
fn image_ids_give_their_digest() {
    let hex = "a".repeat(64);
    assert_eq!(
        digest_of(&format!("docker-pullable://r/a@sha256:{hex}")),
        Some(format!("sha256:{hex}"))
    );
    assert_eq!(
        digest_of(&format!("sha256:{hex}")),
        Some(format!("sha256:{hex}"))
    );
    assert_eq!(digest_of(""), None);
}
