use super::*;
use serde_json::json;

fn pod(name: &str, ready: bool, ports: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "app:1", "ports": ports}]},
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }}
        ]}
    }))
    .unwrap()
}

fn service(ports: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "auth"}, "ports": ports}
    }))
    .unwrap()
}

#[test]
fn container_port_goes_to_the_first_ready_new_pod() {
    let new = [
        pod("auth-b", true, json!([])),
        pod("auth-a", false, json!([])),
        pod("auth-c", true, json!([])),
    ];
    let chosen = choose_pod(8080, None, &new, &[]).unwrap();
    assert_eq!(
        chosen,
        PodTarget {
            pod: "auth-b".into(),
            port: 8080
        }
    );
    let none = choose_pod(8080, None, &[pod("auth-a", false, json!([]))], &[]).unwrap_err();
    assert_eq!(none, "no ready pod of the new rollout to forward to");
}

#[test]
fn service_port_resolves_numeric_and_named_target_ports_preferring_new_pods() {
    let new = [pod(
        "auth-new",
        true,
        json!([{"name": "http", "containerPort": 8080}]),
    )];
    let selected = [
        pod(
            "auth-aaa-old",
            true,
            json!([{"name": "http", "containerPort": 9000}]),
        ),
        pod(
            "auth-new",
            true,
            json!([{"name": "http", "containerPort": 8080}]),
        ),
    ];
    let named = service(json!([{"port": 80, "targetPort": "http"}]));
    let chosen = choose_pod(80, Some(("web", &named)), &new, &selected).unwrap();
    assert_eq!((chosen.pod.as_str(), chosen.port), ("auth-new", 8080));
    // No new pod among the selected ones: any ready selected pod, with its own named port.
    let chosen = choose_pod(80, Some(("web", &named)), &[], &selected[..1]).unwrap();
    assert_eq!((chosen.pod.as_str(), chosen.port), ("auth-aaa-old", 9000));
    let numeric = service(json!([{"port": 80, "targetPort": 3000}, {"port": 443}]));
    let chosen = choose_pod(80, Some(("web", &numeric)), &new, &selected).unwrap();
    assert_eq!(chosen.port, 3000);
    let same = choose_pod(443, Some(("web", &numeric)), &new, &selected).unwrap();
    assert_eq!(same.port, 443, "no targetPort: the port itself");
}

#[test]
fn service_mistakes_say_what_is_there() {
    let named = service(json!([{"port": 80, "name": "web", "targetPort": "grpc"}]));
    let selected = [pod(
        "auth-a",
        true,
        json!([{"name": "http", "containerPort": 8080}]),
    )];
    let missing = choose_pod(8080, Some(("web", &named)), &[], &selected).unwrap_err();
    assert!(
        missing.contains("Service `web` has no port 8080 (its ports: 80 (web))"),
        "{missing}"
    );
    let unnamed = choose_pod(80, Some(("web", &named)), &[], &selected).unwrap_err();
    assert!(
        unnamed.contains("has a container port named `grpc`"),
        "{unnamed}"
    );
    let unready = [pod("auth-a", false, json!([]))];
    let none = choose_pod(80, Some(("web", &named)), &[], &unready).unwrap_err();
    assert_eq!(none, "Service `web` selects no ready pod");
    assert_eq!(service_selector(&named).as_deref(), Some("app=auth"));
}
