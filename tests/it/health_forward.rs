//! In-cluster health gates (`health: { port, path, via: port-forward }`): the real binary
//! against the test Kubernetes API server, whose `pods/{name}/portforward` (WebSocket,
//! `v4.channel.k8s.io`) connects each forward to the HTTP answer a test gives the pod.

use crate::support;

use kube_test_api::{KubeApi, PodReply, PodSelector, deployment};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use support::{Run, Shipgate, TestRepo};

const OLD: &str = "registry.local/shop/auth:1.0.0";
const NEW: &str = "registry.local/shop/auth:1.1.0";

struct Fixture {
    api: KubeApi,
    repo: TestRepo,
    kubeconfig: PathBuf,
}

impl Fixture {
    /// Deployment `shop/auth` (2 replicas) at 1.0.0, rolled out; service `auth` with `health`.
    fn new(health: &str) -> Fixture {
        let api = KubeApi::start();
        api.create_namespace("shop");
        api.create(
            deployment("shop", "auth")
                .image("auth", OLD)
                .replicas(2)
                .build(),
        );
        assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(20)));
        let config = format!(
            "version: 1\ndefaults:\n  registry: registry.local/shop\n  tags: [\"{{sha7}}\"]\n\
             services:\n  auth:\n    paths: [\"services/auth/**\"]\n    image: auth\n    \
             deploy:\n      namespace: shop\n      timeout: 60s\n      health: {health}\n"
        );
        let repo = TestRepo::new()
            .config(&config)
            .file("services/auth/main.go", "package main\n")
            .commit("init");
        let kubeconfig = repo.scratch().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop")),
        )
        .unwrap();
        Fixture {
            api,
            repo,
            kubeconfig,
        }
    }

    fn deploy(&self) -> Shipgate {
        Shipgate::new(&self.repo)
            .actions()
            .args(["deploy", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--services", "auth", "--image", &format!("auth={NEW}")])
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .env("SHIPGATE_LOCK_POLL", "100ms")
    }

    fn image(&self) -> String {
        self.api
            .get("/apis/apps/v1/namespaces/shop/deployments/auth")
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The name of the ReplicaSet whose pods run `image`.
    fn replica_set_of(&self, image: &str) -> String {
        self.api
            .list("/apis/apps/v1/namespaces/shop/replicasets")
            .into_iter()
            .find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == image)
            .and_then(|rs| rs["metadata"]["name"].as_str().map(str::to_string))
            .expect("a ReplicaSet for the image")
    }
}

fn result(run: &Run) -> Value {
    run.output_json("result")["services"]["auth"].clone()
}

#[test]
fn a_gate_passes_through_the_port_forward_to_a_new_pod() {
    let fixture = Fixture::new("{ port: 8080, path: /health, via: port-forward, interval: 50ms }");
    // Old pods would fail: only a new pod may be asked.
    fixture.api.serve_pods(
        "shop",
        PodSelector::Image(OLD.into()),
        8080,
        PodReply::Status(500),
    );
    fixture.api.serve_pods(
        "shop",
        PodSelector::Image(NEW.into()),
        8080,
        PodReply::Healthy,
    );
    let run = fixture.deploy().run().success();
    let auth = result(&run);
    assert_eq!(auth["status"], "succeeded", "{auth}");
    assert_eq!(auth["health"]["passed"], true, "{auth}");
    let requests = fixture.api.pod_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let new_rs = fixture.replica_set_of(NEW);
    assert!(
        requests[0].pod.starts_with(&format!("{new_rs}-")),
        "{requests:?}"
    );
    assert_eq!(
        (requests[0].port, requests[0].path.as_str()),
        (8080, "/health")
    );
    let through = format!("via port-forward to pod shop/{} port 8080", requests[0].pod);
    run.stderr_has(&through);
    run.stderr_has("health gate: GET port 8080 /health via port-forward");
    run.summary_has(&through);
    assert_eq!(auth["health"]["through"], through.as_str(), "{auth}");
    assert_eq!(fixture.image(), NEW);
}

#[test]
fn a_500_through_the_forward_fails_the_gate_and_rolls_back() {
    let fixture = Fixture::new("{ port: 8080, path: /health, attempts: 2, interval: 50ms }");
    fixture.api.serve_pods(
        "shop",
        PodSelector::NamePrefix("auth-".into()),
        8080,
        PodReply::Status(500),
    );
    let run = fixture.deploy().run().code(1);
    let auth = result(&run);
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    assert_eq!(auth["health"]["passed"], false);
    assert_eq!(auth["health"]["attempts"], 2);
    let reason = auth["reason"].as_str().unwrap();
    assert!(reason.contains("status 500"), "{reason}");
    assert!(reason.contains("via port-forward to pod shop/"), "{reason}");
    assert_eq!(fixture.api.pod_requests().len(), 2);
    assert_eq!(fixture.image(), OLD);
}

#[test]
fn a_stalled_pod_times_out_with_a_clear_reason() {
    let fixture =
        Fixture::new("{ port: 8080, path: /health, attempts: 2, interval: 50ms, timeout: 300ms }");
    fixture.api.serve_pods(
        "shop",
        PodSelector::Image(NEW.into()),
        8080,
        PodReply::Stall,
    );
    let run = fixture.deploy().run().code(1);
    let auth = result(&run);
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    assert_eq!(auth["health"]["transport_errors"], 2, "{auth}");
    run.stderr_has("health attempt 1: timed out after 300ms");
    run.stderr_has("health attempt 2: timed out after 300ms");
    run.stdout_has(
        "2 transport errors (timed out after 300ms) (via port-forward to pod shop/auth-",
    );
    assert_eq!(fixture.image(), OLD);
}

#[test]
fn a_port_nobody_listens_on_fails_with_the_kubelets_reason() {
    let fixture = Fixture::new("{ port: 9090, path: /health, attempts: 1 }");
    let run = fixture.deploy().run().code(1);
    let auth = result(&run);
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    let reason = auth["reason"].as_str().unwrap();
    // The kubelet's sentence, or (when the request crossed the close and the message was
    // lost, as with a real kubelet) the forward's own account of it.
    let kubelet = reason.contains("port 9090 failed: error forwarding port 9090 to pod auth-")
        && reason.contains("connection refused");
    let closed = reason.contains("port 9090 closed before any answer (nothing listening");
    assert!(kubelet || closed, "{reason}");
}

#[test]
fn a_service_port_resolves_to_its_target_port_on_a_selected_pod() {
    let fixture = Fixture::new("{ port: 80, path: /ready, service: web, interval: 50ms }");
    fixture.api.create(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "auth"}, "ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "admin", "port": 81, "targetPort": 9000}
        ]}
    }));
    // Port 80 on the pod would fail: the forward must go to the targetPort.
    fixture.api.serve_pods(
        "shop",
        PodSelector::NamePrefix("auth-".into()),
        80,
        PodReply::Status(500),
    );
    fixture.api.serve_pods(
        "shop",
        PodSelector::NamePrefix("auth-".into()),
        8080,
        PodReply::Healthy,
    );
    let run = fixture.deploy().run().success();
    let auth = result(&run);
    assert_eq!(auth["health"]["passed"], true, "{auth}");
    let requests = fixture.api.pod_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        (requests[0].port, requests[0].path.as_str()),
        (8080, "/ready")
    );
    let new_rs = fixture.replica_set_of(NEW);
    assert!(
        requests[0].pod.starts_with(&format!("{new_rs}-")),
        "{requests:?}"
    );
    run.stderr_has("health gate: GET service web port 80 /ready via port-forward");
}

#[test]
fn a_missing_service_fails_the_gate_clearly() {
    let fixture = Fixture::new("{ port: 80, path: /ready, service: nope, attempts: 1 }");
    let run = fixture.deploy().run().code(1);
    let reason = result(&run)["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("Service `nope` not found in namespace `shop`"),
        "{reason}"
    );
    assert_eq!(fixture.image(), OLD);
}

#[test]
fn preflight_without_create_pods_portforward_fails_before_any_change() {
    let fixture = Fixture::new("{ port: 8080, path: /health }");
    let rights = [
        ("get", "deployments"),
        ("list", "deployments"),
        ("watch", "deployments"),
        ("patch", "deployments"),
        ("*", "pods"),
        ("*", "replicasets"),
        ("*", "events"),
        ("*", "leases"),
        ("create", "selfsubjectaccessreviews"),
    ];
    fixture.api.add_user(
        "deployer-token",
        "system:serviceaccount:shop:deployer",
        &rights,
    );
    std::fs::write(
        &fixture.kubeconfig,
        fixture.api.kubeconfig_yaml("deployer-token", Some("shop")),
    )
    .unwrap();
    let run = fixture.deploy().run().code(1);
    run.stdout_has(
        "this identity may not `create` pods/portforward in namespace `shop`, which the health \
         gate of `auth` needs",
    );
    let patches = fixture
        .api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 0);
    assert_eq!(fixture.api.port_forward_sessions(), 0);
}

/// The forward's own edge: a pod that is gone is a failed attempt saying the API server
/// refused the forward and why, and a pod that answers passes, over kube-rs's WebSocket.
#[tokio::test]
async fn the_local_forward_reports_a_pod_gone_and_forwards_a_live_one() {
    use k8s_openapi::api::core::v1::Pod;
    use shipgate::health::{HealthGate, LocalForward, PodTarget, client, run_gate_explained};
    let api = KubeApi::start();
    api.create_namespace("shop");
    api.create(
        deployment("shop", "auth")
            .image("auth", OLD)
            .replicas(1)
            .build(),
    );
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(20)));
    api.serve_pods(
        "shop",
        PodSelector::Image(OLD.into()),
        8080,
        PodReply::Healthy,
    );
    let live = api.list("/api/v1/namespaces/shop/pods")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let http = client().unwrap();
    let yaml = api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop"));
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let pods: kube::Api<Pod> =
        kube::Api::namespaced(kube::Client::try_from(config).unwrap(), "shop");
    let settings =
        serde_saphyr::from_str("port: 8080\npath: /health\nattempts: 1\ntimeout: 3s\n").unwrap();
    let gate = HealthGate::from_settings(&settings, None).unwrap();
    for (pod, passes) in [("auth-gone", false), (live.as_str(), true)] {
        let target = PodTarget {
            pod: pod.to_string(),
            port: 8080,
        };
        let local = LocalForward::open(
            pods.clone(),
            target,
            Duration::from_secs(2),
            Duration::from_secs(4),
        )
        .await
        .unwrap();
        let explain = || local.take_failure();
        let report =
            run_gate_explained(&http, &gate.through_local(local.addr), &explain, |_| {}).await;
        assert_eq!(report.passed, passes, "{pod}: {}", report.summary());
        if !passes {
            assert!(
                report.summary().contains(
                    "the API server refused the port-forward to pod auth-gone: pods \"auth-gone\" not found"
                ),
                "{}",
                report.summary()
            );
        }
    }
    assert_eq!(api.pod_requests().len(), 1);
}
