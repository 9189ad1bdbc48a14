#![allow(clippy::unwrap_used)]
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

/// Manual poking: `KUBE_TEST_API_SERVE=60 cargo test -p kube-test-api --test smoke serve -- --ignored --nocapture`
#[test]
#[ignore = "manual"]
fn serve() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    api.create(
        deployment("shop", "auth")
            .replicas(3)
            .max_surge(1)
            .max_unavailable(0)
            .build(),
    );
    std::fs::write(
        "/tmp/kta-kubeconfig",
        api.kubeconfig_yaml_tls(KubeApi::ADMIN_TOKEN, Some("shop")),
    )
    .unwrap();
    let secs: u64 = std::env::var("KUBE_TEST_API_SERVE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    println!("serving {} for {secs}s", api.url());
    std::thread::sleep(Duration::from_secs(secs));
}

#[test]
#[ignore = "manual"]
fn dump_sequences() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    let url = api.url();
    let rv = api.resource_version();
    let mut w = common::Watch::open(
        &url,
        &format!(
            "/apis/apps/v1/namespaces/shop/deployments?watch=1&resourceVersion={rv}&timeoutSeconds=3"
        ),
        KubeApi::ADMIN_TOKEN,
    );
    let mut wp = common::Watch::open(
        &url,
        &format!("/api/v1/namespaces/shop/pods?watch=1&resourceVersion={rv}&timeoutSeconds=3"),
        KubeApi::ADMIN_TOKEN,
    );
    api.create(
        deployment("shop", "auth")
            .replicas(2)
            .max_surge(1)
            .max_unavailable(0)
            .build(),
    );
    std::thread::sleep(Duration::from_millis(600));
    let body = r#"{"spec":{"template":{"spec":{"containers":[{"image":"registry.local/auth:2","name":"auth"}]}}}}"#;
    common::request(
        &url,
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/auth",
        Some(KubeApi::ADMIN_TOKEN),
        Some("application/strategic-merge-patch+json"),
        body,
    );
    for e in w.collect_until(std::time::Instant::now() + Duration::from_secs(4), |_| {
        false
    }) {
        let o = &e["object"];
        let conds: Vec<String> = o["status"]["conditions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        format!(
                            "{}={}/{}",
                            c["type"].as_str().unwrap(),
                            c["status"].as_str().unwrap(),
                            c["reason"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut st = o["status"].clone();
        if let Some(m) = st.as_object_mut() {
            m.remove("conditions");
        }
        println!(
            "D {} {} g{} rev={} {} {:?}",
            e["type"],
            o["metadata"]["resourceVersion"],
            o["metadata"]["generation"],
            o["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            st,
            conds
        );
    }
    for e in wp.collect_until(std::time::Instant::now() + Duration::from_secs(1), |_| {
        false
    }) {
        let o = &e["object"];
        println!(
            "P {} {} {} node={} phase={} del={} state={} ready={}",
            e["type"],
            o["metadata"]["name"],
            o["metadata"]["resourceVersion"],
            o["spec"]["nodeName"],
            o["status"]["phase"],
            o["metadata"]["deletionTimestamp"],
            o["status"]["containerStatuses"][0]["state"],
            o["status"]["containerStatuses"][0]["ready"]
        );
    }
}
