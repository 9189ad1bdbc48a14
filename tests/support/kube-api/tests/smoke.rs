#![allow(clippy::unwrap_used)]
mod common;
use kube_test_api::{KubeApi, deployment};
use std::time::Duration;

#[test]
fn smoke_rollout() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    let d = api.create(deployment("shop", "auth").replicas(3).max_surge(1).max_unavailable(0).build());
    println!("{}", serde_json::to_string(&d).unwrap());
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(5)));
    let d = api.get("/apis/apps/v1/namespaces/shop/deployments/auth").unwrap();
    println!("{}", serde_json::to_string_pretty(&d["status"]).unwrap());
    for rs in api.list("/apis/apps/v1/namespaces/shop/replicasets") {
        println!("RS {} {}", rs["metadata"]["name"], rs["status"]);
    }
    for p in api.list("/api/v1/namespaces/shop/pods") {
        println!("POD {} {}", p["metadata"]["name"], p["status"]["phase"]);
    }
    for e in api.list("/api/v1/namespaces/shop/events") {
        println!("EV {} {} {}", e["involvedObject"]["name"], e["reason"], e["message"]);
    }
}

/// Manual poking: `KUBE_TEST_API_SERVE=60 cargo test -p kube-test-api --test smoke serve -- --ignored --nocapture`
#[test]
#[ignore = "manual"]
fn serve() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    api.create(deployment("shop", "auth").replicas(3).max_surge(1).max_unavailable(0).build());
    std::fs::write("/tmp/kta-kubeconfig", api.kubeconfig_yaml_tls(KubeApi::ADMIN_TOKEN, Some("shop"))).unwrap();
    let secs: u64 = std::env::var("KUBE_TEST_API_SERVE").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    println!("serving {} for {secs}s", api.url());
    std::thread::sleep(Duration::from_secs(secs));
}
