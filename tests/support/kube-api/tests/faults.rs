#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
//! The fault injection hook: each fault kind, its bounds, and that a refused write changes
//! nothing.
mod common;
use kube_test_api::{Fault, KubeApi, deployment};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/auth";

fn api() -> KubeApi {
    let api = KubeApi::start();
    api.create_namespace("shop");
    api.create(deployment("shop", "auth").replicas(1).build());
    api
}

fn get(api: &KubeApi) -> u16 {
    common::request(
        &api.url(),
        "GET",
        PATH,
        Some(KubeApi::ADMIN_TOKEN),
        None,
        "",
    )
    .status
}

#[test]
fn status_faults_answer_a_given_number_of_matching_requests_and_change_nothing() {
    let api = api();
    api.inject(Fault::status(503).on("PATCH", "/deployments/auth").times(2));
    let patch = |api: &KubeApi| {
        common::request(
            &api.url(),
            "PATCH",
            PATH,
            Some(KubeApi::ADMIN_TOKEN),
            Some("application/merge-patch+json"),
            r#"{"spec":{"replicas":2}}"#,
        )
    };
    let first = patch(&api);
    assert_eq!(first.status, 503);
    assert_eq!(first.json()["reason"], "ServiceUnavailable");
    assert_eq!(get(&api), 200, "other verbs are untouched");
    assert_eq!(patch(&api).status, 503);
    assert_eq!(
        api.get(PATH).unwrap()["spec"]["replicas"],
        1,
        "nothing changed"
    );
    assert_eq!(patch(&api).status, 200, "used up after two");
    assert_eq!(api.get(PATH).unwrap()["spec"]["replicas"], 2);
    // Still recorded, failed or not.
    assert_eq!(
        api.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        3
    );
}

#[test]
fn faults_can_last_for_a_while_and_be_cleared() {
    let api = api();
    api.inject(
        Fault::status(500)
            .on("*", "/deployments/")
            .lasting(Duration::from_millis(300)),
    );
    assert_eq!(get(&api), 500);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(get(&api), 200);
    api.inject(Fault::status(429).on("GET", "/deployments/").after(1));
    assert_eq!(get(&api), 200, "the first one passes");
    assert_eq!(get(&api), 429);
    api.clear_faults();
    assert_eq!(get(&api), 200);
}

#[test]
fn a_stall_delays_the_real_answer() {
    let api = api();
    api.inject(
        Fault::stall(Duration::from_millis(500))
            .on("GET", "/deployments/auth")
            .times(1),
    );
    let started = Instant::now();
    assert_eq!(get(&api), 200);
    assert!(started.elapsed() >= Duration::from_millis(500));
}

fn raw(api: &KubeApi, read_for: Duration) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(api.url().trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(read_for)).unwrap();
    write!(
        stream,
        "GET {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        KubeApi::ADMIN_TOKEN
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + read_for;
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return (received, true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (received, true),
            Err(_) => return (received, false),
        }
    }
    (received, false)
}

#[test]
fn a_dropped_connection_ends_without_a_complete_body() {
    let api = api();
    api.inject(
        Fault::drop_connection()
            .on("GET", "/deployments/auth")
            .times(1),
    );
    let (received, closed) = raw(&api, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&received);
    assert!(closed, "the server closed the connection");
    assert!(!text.contains("\"kind\""), "no object was sent: {text}");
}

#[test]
fn a_trickle_sends_bytes_slowly_and_never_finishes() {
    let api = api();
    api.inject(Fault::trickle(Duration::from_millis(100)).on("GET", "/deployments/auth"));
    let (received, closed) = raw(&api, Duration::from_millis(700));
    let text = String::from_utf8_lossy(&received);
    assert!(!closed, "still open: {text}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
