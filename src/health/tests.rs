use super::*;
use crate::config::model::HealthSettings;
use serde_json::json;

fn settings(yaml: &str) -> HealthSettings {
    serde_saphyr::from_str(yaml).unwrap()
}

fn gate(yaml: &str) -> Result<HealthGate, String> {
    HealthGate::from_settings(&settings(yaml), None)
}

#[test]
fn defaults() {
    let gate = gate("url: https://api.example.com/healthz\n").unwrap();
    assert_eq!(
        gate,
        HealthGate {
            url: "https://api.example.com/healthz".to_string(),
            forward: None,
            method: "GET".to_string(),
            headers: vec![],
            expect: StatusSet::default(),
            body_contains: None,
            json: None,
            timeout: Duration::from_secs(5),
            initial_delay: Duration::ZERO,
            interval: Duration::from_secs(5),
            attempts: 6,
            success_threshold: 1,
            critical: true,
        }
    );
    assert_eq!(gate.max_duration(), Duration::from_secs(30));
}

#[test]
fn everything_set() {
    let gate = gate(
        "url: http://10.0.0.1:8080/ready\n\
         method: post\n\
         headers: { Authorization: Bearer abc, X-Team: core }\n\
         expect-status: [200, \"202-204\"]\n\
         body-contains: ok\n\
         json: { pointer: /status, in: [ok, up] }\n\
         timeout: 250ms\n\
         initial-delay: 1s\n\
         interval: 2s\n\
         attempts: 10\n\
         success-threshold: 3\n\
         critical: false\n",
    )
    .unwrap();
    assert_eq!(gate.method, "POST");
    assert_eq!(
        gate.headers,
        vec![
            ("Authorization".to_string(), "Bearer abc".to_string()),
            ("X-Team".to_string(), "core".to_string()),
        ]
    );
    assert_eq!(gate.expect.describe(), "200, 202-204");
    assert_eq!(
        gate.json,
        Some(JsonCheck {
            pointer: "/status".to_string(),
            equals: None,
            one_of: Some(vec![json!("ok"), json!("up")]),
            exists: None,
        })
    );
    assert_eq!(gate.timeout, Duration::from_millis(250));
    assert_eq!(gate.initial_delay, Duration::from_secs(1));
    assert_eq!(gate.interval, Duration::from_secs(2));
    assert_eq!((gate.attempts, gate.success_threshold), (10, 3));
    assert!(!gate.critical);
    assert_eq!(gate.secret_values(), vec!["Bearer abc", "core"]);
}

#[test]
fn in_cluster_gates_use_the_forwarded_address() {
    let yaml = settings("port: 8080\npath: /healthz\nvia: port-forward\n");
    let gate = HealthGate::from_settings(&yaml, Some("http://127.0.0.1:41234/")).unwrap();
    assert_eq!(gate.url, "http://127.0.0.1:41234/healthz");
    let gate = HealthGate::from_settings(&yaml, None).unwrap();
    let forward = gate.forward.clone().unwrap();
    assert_eq!((forward.port, forward.path.as_str()), (8080, "/healthz"));
    assert_eq!(forward.service, None);
    assert_eq!(gate.target(), "port 8080 /healthz via port-forward");
    let local = gate.through_local("127.0.0.1:41234".parse().unwrap());
    assert_eq!(local.url, "http://127.0.0.1:41234/healthz");
    // `via` defaults to port-forward; `service` names a Service port.
    let service =
        HealthGate::from_settings(&settings("port: 80\npath: /ready\nservice: web\n"), None)
            .unwrap();
    assert_eq!(service.forward.unwrap().service.as_deref(), Some("web"));
    let url = HealthGate::from_settings(&settings("url: https://x/health\n"), None).unwrap();
    assert_eq!(url.target(), "https://x/health");
    assert_eq!(url.forward, None);
}

#[test]
fn in_cluster_mistakes_name_their_key() {
    for (yaml, expected) in [
        ("url: http://x\nport: 80", "either `url`"),
        ("url: http://x\nvia: port-forward", "either `url`"),
        ("url: http://x\nservice: web", "either `url`"),
        ("port: 8080", "health.port 8080 needs `health.path`"),
        (
            "port: 0\npath: /h",
            "health.port must be the container port to check (1-65535)",
        ),
        (
            "port: 80\npath: /h\nvia: ingress",
            "health.via: `ingress` is not supported",
        ),
        ("via: port-forward", "health.via needs `health.port`"),
        ("service: web\npath: /h", "health.path needs `health.port`"),
        ("service: web", "health.service needs `health.port`"),
        (
            "port: 80\npath: /h\nservice: ' '",
            "health.service is empty",
        ),
    ] {
        let error = HealthGate::from_settings(&settings(yaml), None).unwrap_err();
        assert!(error.contains(expected), "{yaml}: {error}");
    }
}

#[test]
fn mistakes_name_their_key_and_the_fix() {
    for (yaml, expected) in [
        ("{}", "health needs `url: https://…`"),
        ("url: ftp://x/y", "must start with http:// or https://"),
        ("url: not a url", "health.url: `not a url` is not a URL"),
        ("url: http://x\nport: 80", "either `url`"),
        ("path: /healthz", "health.path needs `health.port`"),
        ("port: 80\npath: healthz", "write `/healthz`"),
        (
            "url: http://x\nmethod: PUT",
            "health.method: `PUT` is not supported",
        ),
        (
            "url: http://x\nmethod: HEAD\nbody-contains: ok",
            "HEAD responses have no body",
        ),
        (
            "url: http://x\nheaders: { \"bad name\": v }",
            "`bad name` is not a valid header",
        ),
        ("url: http://x\nexpect-status: 2xy", "`2xy` is not a status"),
        (
            "url: http://x\nbody-contains: \"\"",
            "health.body-contains is empty",
        ),
        (
            "url: http://x\njson: { pointer: status }",
            "write `/status`",
        ),
        (
            "url: http://x\njson: { pointer: /a, exists: false, equals: 1 }",
            "contradicts",
        ),
        (
            "url: http://x\njson: { pointer: /a, in: [] }",
            "health.json.in is an empty list",
        ),
        (
            "url: http://x\ntimeout: 0s",
            "health.timeout must be more than 0",
        ),
        (
            "url: http://x\ninterval: 0s",
            "health.interval must be more than 0",
        ),
        (
            "url: http://x\nattempts: 0",
            "health.attempts must be at least 1",
        ),
        (
            "url: http://x\nsuccess-threshold: 0",
            "health.success-threshold must be at least 1",
        ),
        (
            "url: http://x\nattempts: 2\nsuccess-threshold: 3",
            "health.success-threshold (3) is more than health.attempts (2)",
        ),
    ] {
        let error = gate(yaml).unwrap_err();
        assert!(error.contains(expected), "{yaml:?} gave {error:?}");
    }
    // A single attempt needs no interval.
    assert!(gate("url: http://x\nattempts: 1\ninterval: 0s").is_ok());
    // Every mistake at once, one per line.
    let several = gate("url: http://x\nattempts: 0\ntimeout: 0s\nmethod: PUT").unwrap_err();
    assert_eq!(several.lines().count(), 3, "{several}");
}

#[test]
fn secrets_stay_out_of_errors() {
    let credentials = gate("url: https://user:hunter2@example.com/").unwrap_err();
    assert!(!credentials.contains("hunter2"), "{credentials}");
    assert!(credentials.contains("health.headers"), "{credentials}");
    let bad_value = gate("url: http://x\nheaders: { X-Key: \"zqx\\nzqx\" }").unwrap_err();
    assert!(bad_value.contains("health.headers.X-Key"), "{bad_value}");
    assert!(!bad_value.contains("zqx"), "{bad_value}");
}

#[test]
fn secret_values_skip_empty_and_repeat() {
    let gate = gate("url: http://x\nheaders: { A: tok, B: tok, C: \"\" }").unwrap();
    assert_eq!(gate.secret_values(), vec!["tok"]);
}

#[test]
fn durations_read_like_the_config() {
    assert_eq!(format_duration(Duration::from_secs(5)), "5s");
    assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
    assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    assert_eq!(format_duration(Duration::ZERO), "0s");
}
