mod common;
use kube_test_api::{KubeApi, deployment};
use std::time::Duration;

#[test]
fn smoke_rollout() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    let d = api.create(
        deployment("shop", "auth")
            .replicas(3)
            .max_surge(1)
            .max_unavailable(0)
            .build(),
    );
    println!("{}", serde_json::to_string(&d).unwrap());
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(5)));
    let d = api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap();
    println!("{}", serde_json::to_string_pretty(&d["status"]).unwrap());
    for rs in api.list("/apis/apps/v1/namespaces/shop/replicasets") {
        println!("RS {} {}", rs["metadata"]["name"], rs["status"]);
    }
    for p in api.list("/api/v1/namespaces/shop/pods") {
        println!("POD {} {}", p["metadata"]["name"], p["status"]["phase"]);
    }
    let (code, d) = api.call(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/auth",
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":2}}"#,
    );
    assert_eq!((code, d["spec"]["replicas"].as_i64()), (200, Some(2)));
    assert_eq!(
        api.call(
            "GET",
            "/apis/apps/v1/namespaces/shop/deployments/x",
            None,
            ""
        )
        .0,
        404
    );
    for e in api.list("/api/v1/namespaces/shop/events") {
        println!(
            "EV {} {} {}",
            e["involvedObject"]["name"], e["reason"], e["message"]
        );
    }
}
