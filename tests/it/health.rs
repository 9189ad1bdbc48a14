//! Health gates against real HTTP servers on 127.0.0.1: answers, flapping, hangs, refused and
//! closed connections, wrong JSON, headers. Durations are tens of milliseconds; time is only
//! bounded from below (timers never fire early) or very generously from above.

use shipgate::health::{
    Attempt, AttemptOutcome, HealthGate, HealthReport, JsonCheck, StatusSet, client, run_gate,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the test server does with the n-th connection (the last entry repeats).
#[derive(Clone)]
enum Reply {
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Reads the request, then never answers (and never closes).
    Hang,
    /// Reads the request, then closes the connection without a word.
    Close,
    /// Writes a plain-HTTP answer at once, without reading (a TLS client waits for the server).
    Plain,
}

fn answer(status: u16, body: &str) -> Reply {
    Reply::Answer {
        status,
        headers: vec![],
        body: body.as_bytes().to_vec(),
        delay: Duration::ZERO,
    }
}

struct Server {
    base: String,
    /// Every request head received, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(script: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = requests.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((socket, _)) = listener.accept().await {
            let reply = script[n.min(script.len() - 1)].clone();
            n += 1;
            tokio::spawn(handle(socket, reply, recorded.clone()));
        }
    });
    Server { base, requests }
}

async fn handle(mut socket: TcpStream, reply: Reply, requests: Arc<Mutex<Vec<String>>>) {
    if let Reply::Plain = reply {
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await;
        let _ = socket.shutdown().await;
        return;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match socket.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let is_head = head.starts_with("HEAD ");
    requests.lock().unwrap().push(head);
    match reply {
        Reply::Answer {
            status,
            headers,
            body,
            delay,
        } => {
            tokio::time::sleep(delay).await;
            let mut response = format!(
                "HTTP/1.1 {status} Test\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            let mut bytes = response.into_bytes();
            if !is_head {
                bytes.extend_from_slice(&body);
            }
            let _ = socket.write_all(&bytes).await;
            let _ = socket.shutdown().await;
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            drop(socket);
        }
        Reply::Close | Reply::Plain => drop(socket),
    }
}

/// A gate with test-sized timing: 2 s per request, 10 ms apart, 6 attempts.
fn gate(url: String) -> HealthGate {
    HealthGate {
        url,
        forward: None,
        method: "GET".to_string(),
        headers: vec![],
        expect: StatusSet::default(),
        body_contains: None,
        json: None,
        timeout: Duration::from_secs(2),
        initial_delay: Duration::ZERO,
        interval: Duration::from_millis(10),
        attempts: 6,
        success_threshold: 1,
        critical: true,
    }
}

async fn run(gate: &HealthGate) -> (HealthReport, Vec<Attempt>) {
    let client = client().unwrap();
    let mut seen = Vec::new();
    let report = run_gate(&client, gate, |attempt| seen.push(attempt.clone())).await;
    assert_eq!(
        seen, report.attempts,
        "on_attempt sees every attempt, in order"
    );
    (report, seen)
}

fn transport_error(attempt: &Attempt) -> &str {
    match &attempt.outcome {
        AttemptOutcome::TransportError { error } => error,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_healthy_service_passes_on_the_first_attempt() {
    let server = serve(vec![answer(200, "ok")]).await;
    let (report, _) = run(&gate(server.url("/healthz"))).await;
    assert!(report.passed, "{}", report.summary());
    assert!(report.critical);
    assert_eq!(report.url, server.url("/healthz"));
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(report.attempts[0].number, 1);
    assert_eq!(
        report.attempts[0].outcome,
        AttemptOutcome::Passed { status: 200 }
    );
    assert_eq!(report.attempts[0].body_excerpt, "ok");
    assert_eq!(report.summary(), "passed after 1 attempt");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].starts_with("GET /healthz HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    let user_agent = format!("user-agent: shipgate/{}\r\n", env!("CARGO_PKG_VERSION"));
    assert!(
        requests[0].to_lowercase().contains(&user_agent),
        "{}",
        requests[0]
    );
}

#[tokio::test]
async fn a_flapping_service_passes_once_two_in_a_row_pass() {
    let server = serve(vec![
        answer(503, "starting"),
        answer(200, "ok"),
        answer(503, "starting"),
        answer(200, "ok"),
        answer(200, "ok"),
        answer(503, "never asked"),
    ])
    .await;
    let gate = HealthGate {
        success_threshold: 2,
        ..gate(server.url("/"))
    };
    let (report, seen) = run(&gate).await;
    assert!(report.passed, "{}", report.summary());
    assert_eq!(
        seen.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        seen.iter().map(|a| a.outcome.status()).collect::<Vec<_>>(),
        [Some(503), Some(200), Some(503), Some(200), Some(200)]
    );
    assert_eq!((report.wrong_answers, report.transport_errors), (2, 0));
    assert_eq!(server.requests().len(), 5, "no request after the verdict");
    assert_eq!(
        report.summary(),
        "passed after 5 attempts (2 wrong answers)"
    );
    // Attempts are spaced by the interval (lower bound only).
    for pair in seen.windows(2) {
        assert!(pair[1].at >= pair[0].at + gate.interval, "{pair:?}");
    }
}

#[tokio::test]
async fn a_flapping_service_fails_early_when_the_threshold_is_out_of_reach() {
    let server = serve(vec![
        answer(200, "ok"),
        answer(503, "busy"),
        answer(200, "ok"),
        answer(503, "busy"),
        answer(200, "ok"),
    ])
    .await;
    let gate = HealthGate {
        attempts: 5,
        success_threshold: 3,
        ..gate(server.url("/"))
    };
    let (report, _) = run(&gate).await;
    assert!(!report.passed);
    // After attempt 4 fails, one attempt is left and three passes in a row are needed.
    assert_eq!(report.attempts.len(), 4);
    assert_eq!(server.requests().len(), 4);
    assert_eq!(
        report.summary(),
        "failed: 4 of 5 attempts, 2 passed (3 in a row needed), \
         2 wrong answers (status 503, expected 2xx)"
    );
}

#[tokio::test]
async fn a_hanging_service_times_out_on_every_attempt() {
    let server = serve(vec![Reply::Hang]).await;
    let gate = HealthGate {
        timeout: Duration::from_millis(100),
        attempts: 3,
        ..gate(server.url("/"))
    };
    let started = std::time::Instant::now();
    let (report, _) = run(&gate).await;
    let took = started.elapsed();
    assert!(!report.passed);
    assert_eq!((report.transport_errors, report.wrong_answers), (3, 0));
    for attempt in &report.attempts {
        assert_eq!(transport_error(attempt), "timed out after 100ms");
        assert!(attempt.latency >= gate.timeout, "{attempt:?}");
        assert_eq!(attempt.body_excerpt, "");
    }
    assert_eq!(
        report.summary(),
        "failed: 3 attempts, 3 transport errors (timed out after 100ms)"
    );
    // About attempts × timeout, and certainly not forever.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(report.elapsed <= took);
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let gate = HealthGate {
        attempts: 2,
        ..gate(format!("http://127.0.0.1:{port}/healthz"))
    };
    let (report, _) = run(&gate).await;
    assert!(!report.passed);
    assert_eq!((report.transport_errors, report.wrong_answers), (2, 0));
    let error = transport_error(&report.attempts[0]);
    assert!(error.starts_with("connect failed: "), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(
        !error.contains("http://"),
        "the URL is in the report already: {error}"
    );
}

#[tokio::test]
async fn a_closed_connection_is_a_transport_error() {
    let server = serve(vec![Reply::Close, answer(200, "ok")]).await;
    let (report, _) = run(&gate(server.url("/"))).await;
    assert!(report.passed, "{}", report.summary());
    assert_eq!(report.attempts.len(), 2);
    let error = transport_error(&report.attempts[0]);
    assert!(!error.contains("timed out"), "{error}");
    assert!(error.contains("closed"), "{error}");
    assert_eq!(
        report.summary(),
        "passed after 2 attempts (1 transport error)"
    );
}

#[tokio::test]
async fn json_checks_against_real_bodies() {
    let check = JsonCheck {
        pointer: "/status".to_string(),
        equals: Some(serde_json::json!("ok")),
        one_of: None,
        exists: None,
    };
    let server = serve(vec![
        answer(200, "<html>it works</html>"),
        answer(200, r#"{"status": "degraded"}"#),
        answer(200, r#"{"version": 3}"#),
        answer(200, r#"{"status": "ok", "version": 3}"#),
    ])
    .await;
    let gate = HealthGate {
        json: Some(check),
        ..gate(server.url("/status"))
    };
    let (report, seen) = run(&gate).await;
    assert!(report.passed, "{}", report.summary());
    let reasons: Vec<String> = seen.iter().map(|a| a.outcome.describe()).collect();
    assert!(
        reasons[0].starts_with("body is not JSON: "),
        "{}",
        reasons[0]
    );
    assert_eq!(reasons[1], r#"/status is "degraded", expected "ok""#);
    assert_eq!(reasons[2], r#"/status is missing, expected "ok""#);
    assert_eq!(reasons[3], "200 ok");
    assert_eq!(seen[1].body_excerpt, r#"{"status": "degraded"}"#);
    assert_eq!(report.wrong_answers, 3);
}

#[tokio::test]
async fn body_contains_is_checked() {
    let server = serve(vec![answer(200, "warming up"), answer(200, "READY\n")]).await;
    let gate = HealthGate {
        body_contains: Some("READY".to_string()),
        attempts: 2,
        ..gate(server.url("/"))
    };
    let (report, seen) = run(&gate).await;
    assert!(report.passed);
    assert_eq!(
        seen[0].outcome.describe(),
        "body does not contain \"READY\""
    );
}

#[tokio::test]
async fn a_500_keeps_the_start_of_its_body() {
    let trace = format!(
        "panic: nil map\n\tat main.go:42\x1b[0m\n{}",
        "x".repeat(400)
    );
    let server = serve(vec![answer(500, &trace)]).await;
    let gate = HealthGate {
        attempts: 2,
        ..gate(server.url("/"))
    };
    let (report, _) = run(&gate).await;
    assert!(!report.passed);
    let attempt = &report.attempts[1];
    assert_eq!(
        attempt.outcome,
        AttemptOutcome::WrongAnswer {
            status: 500,
            reason: "status 500, expected 2xx".to_string()
        }
    );
    assert!(
        attempt
            .body_excerpt
            .starts_with("panic: nil map at main.go:42 [0m xxx"),
        "{}",
        attempt.body_excerpt
    );
    assert_eq!(
        attempt.body_excerpt.chars().count(),
        201,
        "200 characters and an ellipsis"
    );
    assert!(!attempt.body_excerpt.chars().any(char::is_control));
    assert_eq!(
        report.summary(),
        "failed: 2 attempts, 2 wrong answers (status 500, expected 2xx)"
    );
}

#[tokio::test]
async fn huge_bodies_are_read_only_so_far() {
    let body = format!(
        "{{\"status\": \"ok\", \"pad\": \"{}\"}}",
        "x".repeat(2 << 20)
    );
    let server = serve(vec![answer(200, &body)]).await;
    let gate = HealthGate {
        attempts: 1,
        json: Some(JsonCheck {
            pointer: "/status".to_string(),
            equals: None,
            one_of: None,
            exists: Some(true),
        }),
        ..gate(server.url("/"))
    };
    let (report, _) = run(&gate).await;
    assert_eq!(
        report.attempts[0].outcome.describe(),
        "body is larger than 1 MiB; not parsed as JSON"
    );
}

#[tokio::test]
async fn headers_are_sent_and_listed_as_secrets() {
    let server = serve(vec![answer(204, "")]).await;
    let gate = HealthGate {
        headers: vec![
            (
                "Authorization".to_string(),
                "Bearer s3cr3t-token".to_string(),
            ),
            ("X-Api-Key".to_string(), "k-123".to_string()),
        ],
        expect: StatusSet::parse(&serde_saphyr::from_str("[200, 204]").unwrap()).unwrap(),
        ..gate(server.url("/ready"))
    };
    assert_eq!(gate.secret_values(), vec!["Bearer s3cr3t-token", "k-123"]);
    let (report, _) = run(&gate).await;
    assert!(report.passed, "{}", report.summary());
    let head = server.requests()[0].to_lowercase();
    assert!(
        head.contains("\r\nauthorization: bearer s3cr3t-token\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-api-key: k-123\r\n"), "{head}");
    assert!(
        !format!("{report:?}").contains("s3cr3t"),
        "the report never holds header values"
    );
}

#[tokio::test]
async fn head_and_post_are_sent_as_such() {
    let server = serve(vec![answer(200, "ignored for HEAD")]).await;
    for method in ["HEAD", "POST"] {
        let gate = HealthGate {
            method: method.to_string(),
            ..gate(server.url("/probe"))
        };
        let (report, _) = run(&gate).await;
        assert!(report.passed, "{method}: {}", report.summary());
    }
    let requests = server.requests();
    assert!(requests[0].starts_with("HEAD /probe "), "{}", requests[0]);
    assert!(requests[1].starts_with("POST /probe "), "{}", requests[1]);
}

#[tokio::test]
async fn redirects_are_followed_on_the_same_host_only() {
    let elsewhere = serve(vec![answer(200, "login page")]).await;
    // Same address spelled differently is another host as far as the URL goes.
    let elsewhere_url = elsewhere.url("/login").replace("127.0.0.1", "localhost");
    let redirect = |location: String| Reply::Answer {
        status: 302,
        headers: vec![("location".to_string(), location)],
        body: vec![],
        delay: Duration::ZERO,
    };
    let server = serve(vec![
        redirect("/healthz/".to_string()),
        answer(200, "ok"),
        redirect(elsewhere_url.clone()),
    ])
    .await;
    let gate = HealthGate {
        headers: vec![("X-Api-Key".to_string(), "k-123".to_string())],
        attempts: 1,
        ..gate(server.url("/healthz"))
    };
    let (followed, _) = run(&gate).await;
    assert!(followed.passed, "{}", followed.summary());
    assert!(server.requests()[1].starts_with("GET /healthz/ "));

    let (stopped, _) = run(&gate).await;
    assert!(!stopped.passed);
    assert_eq!(
        stopped.attempts[0].outcome.describe(),
        format!("status 302, expected 2xx (redirect to {elsewhere_url} not followed)")
    );
    assert!(
        elsewhere.requests().is_empty(),
        "the API key never left for another host"
    );
}

#[tokio::test]
async fn initial_delay_comes_before_the_first_attempt() {
    let server = serve(vec![answer(200, "ok")]).await;
    let gate = HealthGate {
        initial_delay: Duration::from_millis(50),
        ..gate(server.url("/"))
    };
    let (report, _) = run(&gate).await;
    assert!(report.passed);
    assert!(
        report.attempts[0].at >= gate.initial_delay,
        "{:?}",
        report.attempts[0]
    );
    assert!(report.elapsed >= gate.initial_delay);
}

/// The interval runs start to start: a request slower than the interval is followed by the
/// next one right away, not a whole interval later. The slack (500 ms) only has to absorb
/// the bookkeeping between two attempts, which involves no waiting.
#[tokio::test]
async fn a_slow_answer_does_not_add_an_interval_on_top() {
    let slow = Reply::Answer {
        status: 503,
        headers: vec![],
        body: b"slow".to_vec(),
        delay: Duration::from_millis(700),
    };
    let server = serve(vec![slow]).await;
    let gate = HealthGate {
        interval: Duration::from_millis(500),
        attempts: 2,
        ..gate(server.url("/"))
    };
    let (report, _) = run(&gate).await;
    let [first, second] = &report.attempts[..] else {
        panic!("{report:?}")
    };
    assert!(first.latency >= Duration::from_millis(700), "{first:?}");
    let gap = second.at - first.at;
    assert!(gap >= first.latency, "{gap:?}");
    assert!(gap < first.latency + gate.interval, "{gap:?} vs {first:?}");
}

#[tokio::test]
async fn https_against_a_plain_server_is_a_transport_error() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = serve(vec![Reply::Plain]).await;
    let gate = HealthGate {
        attempts: 1,
        ..gate(server.url("/").replace("http://", "https://"))
    };
    let (report, _) = run(&gate).await;
    assert!(!report.passed);
    let error = transport_error(&report.attempts[0]);
    assert!(!error.contains("timed out"), "{error}");
    assert!(error.starts_with("TLS failed: "), "{error}");
}

#[tokio::test]
async fn from_settings_and_run_together() {
    let server = serve(vec![answer(200, r#"{"checks": [{"ok": true}]}"#)]).await;
    let settings = serde_saphyr::from_str(
        "port: 8080\npath: /healthz\njson: { pointer: /checks/0/ok, equals: true }\n\
         interval: 10ms\ntimeout: 2s\nheaders: { X-Token: abc }\n",
    )
    .unwrap();
    let gate = HealthGate::from_settings(&settings, Some(&server.base)).unwrap();
    assert_eq!(gate.url, server.url("/healthz"));
    let (report, _) = run(&gate).await;
    assert!(report.passed, "{}", report.summary());
    assert!(server.requests()[0].to_lowercase().contains("x-token: abc"));
}
