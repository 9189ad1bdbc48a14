//! The async edge: send the gate's requests on schedule and record what came back.

use super::judge::{MAX_BODY, body_excerpt, judge};
use super::outcome::{Attempt, AttemptOutcome, HealthReport, Progress, Verdict};
use super::{HealthGate, format_duration};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, redirect};
use std::error::Error as _;
use tokio::time::Instant;

/// How many redirects a health URL may go through before it counts as broken.
const MAX_REDIRECTS: usize = 5;

/// The HTTP client for health gates.
///
/// - user agent `shipgate/<version>`, so the service's logs show who is knocking;
/// - at most 5 redirects, and none to another host or from https to http: gate headers are
///   usually credentials, and reqwest only strips `Authorization`/`Cookie` on such hops, not
///   e.g. `X-Api-Key`. A stopped redirect is judged as the 3xx it is;
/// - no proxy from the environment: the gate must judge the service just deployed, not a
///   corporate proxy's idea of it (a proxy's 502 would read as a wrong answer), and in-cluster
///   checks go to a local port-forward that must never be proxied;
/// - no connection reuse: every attempt opens a new connection, as a new client would, so a
///   service that accepts no new connections cannot pass on an old one.
///
/// Installs the ring TLS provider when nothing did yet (the binary does at startup), since
/// reqwest built with `rustls-no-provider` panics without one.
pub fn client() -> Result<reqwest::Client, String> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect::Policy::custom(|attempt| {
            let Some(first) = attempt.previous().first() else {
                return attempt.follow();
            };
            let other_host = attempt.url().host_str() != first.host_str();
            let downgrade = first.scheme() == "https" && attempt.url().scheme() != "https";
            if other_host || downgrade {
                attempt.stop()
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        }))
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|error| format!("cannot set up the HTTP client for health checks: {error}"))
}

/// Runs `gate`: waits `initial_delay`, then sends up to `attempts` requests `interval` apart
/// (start to start), each bounded by `timeout`, until `success_threshold` consecutive passes
/// or until that is out of reach. `on_attempt` sees each attempt as it completes, for live
/// logging. Never fails: every problem is an attempt outcome in the report.
pub async fn run_gate(
    client: &reqwest::Client,
    gate: &HealthGate,
    on_attempt: impl FnMut(&Attempt),
) -> HealthReport {
    run_gate_explained(client, gate, &|| None, on_attempt).await
}

/// [`run_gate`] where a transport error may have a better explanation than the socket's:
/// `explain` is asked after each one (a port-forward says why it dropped the connection:
/// the pod is gone, the port refused, the API server refused the forward).
pub async fn run_gate_explained(
    client: &reqwest::Client,
    gate: &HealthGate,
    explain: &(dyn Fn() -> Option<String> + Sync),
    mut on_attempt: impl FnMut(&Attempt),
) -> HealthReport {
    let start = Instant::now();
    let attempts_allowed = gate.attempts.max(1);
    let report = |attempts: Vec<Attempt>| {
        HealthReport::new(
            gate.url.clone(),
            gate.critical,
            attempts,
            start.elapsed(),
            attempts_allowed,
            gate.success_threshold.max(1),
        )
    };

    let request = match Request::new(gate) {
        Ok(request) => request,
        Err(error) => {
            // Only reachable for a gate built by hand: `from_settings` validated all this.
            let attempt = Attempt {
                number: 1,
                at: start.elapsed(),
                latency: std::time::Duration::ZERO,
                outcome: AttemptOutcome::TransportError { error },
                body_excerpt: String::new(),
            };
            on_attempt(&attempt);
            return report(vec![attempt]);
        }
    };

    tokio::time::sleep(gate.initial_delay).await;
    let mut progress = Progress::new(attempts_allowed, gate.success_threshold);
    let mut attempts = Vec::new();
    let mut next = Instant::now();
    for number in 1..=attempts_allowed {
        tokio::time::sleep_until(next).await;
        let began = Instant::now();
        next = began + gate.interval;
        let (mut outcome, body_excerpt) = request.send(client, gate).await;
        if let AttemptOutcome::TransportError { error } = &mut outcome
            && let Some(why) = explain()
        {
            *error = why;
        }
        let attempt = Attempt {
            number,
            at: began.duration_since(start),
            latency: began.elapsed(),
            outcome,
            body_excerpt,
        };
        on_attempt(&attempt);
        let verdict = progress.record(attempt.outcome.passed());
        attempts.push(attempt);
        if verdict != Verdict::Continue {
            break;
        }
    }
    report(attempts)
}

/// The parts of a request that are the same for every attempt, parsed once.
struct Request {
    method: Method,
    headers: HeaderMap,
}

impl Request {
    fn new(gate: &HealthGate) -> Result<Self, String> {
        let method = Method::from_bytes(gate.method.as_bytes())
            .map_err(|_| format!("invalid HTTP method `{}`", gate.method))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &gate.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name `{name}`"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value for header `{name}`"))?;
            // Keeps it out of reqwest's Debug output and HTTP/2 header compression tables.
            value.set_sensitive(true);
            headers.append(name, value);
        }
        Ok(Request { method, headers })
    }

    /// One attempt: the outcome and the body excerpt.
    async fn send(&self, client: &reqwest::Client, gate: &HealthGate) -> (AttemptOutcome, String) {
        let exchange = async {
            let response = client
                .request(self.method.clone(), &gate.url)
                .headers(self.headers.clone())
                .send()
                .await?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            let (body, truncated) = read_capped(response).await?;
            Ok::<_, reqwest::Error>((status, location, body, truncated))
        };
        match tokio::time::timeout(gate.timeout, exchange).await {
            Err(_) => (
                AttemptOutcome::TransportError {
                    error: format!("timed out after {}", format_duration(gate.timeout)),
                },
                String::new(),
            ),
            Ok(Err(error)) => (
                AttemptOutcome::TransportError {
                    error: describe_error(&error, gate),
                },
                String::new(),
            ),
            Ok(Ok((status, location, body, truncated))) => {
                let excerpt = body_excerpt(&body);
                let outcome = match judge(gate, status, &body, truncated) {
                    Ok(()) => AttemptOutcome::Passed { status },
                    Err(mut reason) => {
                        if let (300..=399, Some(location)) = (status, location) {
                            reason.push_str(&format!(
                                " (redirect to {} not followed)",
                                body_excerpt(location.as_bytes())
                            ));
                        }
                        AttemptOutcome::WrongAnswer { status, reason }
                    }
                };
                (outcome, excerpt)
            }
        }
    }
}

/// Reads at most [`MAX_BODY`] bytes; the flag says whether there was more.
async fn read_capped(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            body.truncate(MAX_BODY);
            return Ok((body, true));
        }
    }
    Ok((body, false))
}

/// The innermost useful causes of a reqwest error, e.g. `connection refused`, `connection
/// closed before message completed`, `invalid peer certificate: UnknownIssuer`. reqwest's own
/// top line repeats the URL, which the report already shows.
fn describe_error(error: &reqwest::Error, gate: &HealthGate) -> String {
    if error.is_timeout() {
        return format!("timed out after {}", format_duration(gate.timeout));
    }
    let mut causes: Vec<String> = Vec::new();
    let mut tls = false;
    let mut source = error.source();
    while let Some(cause) = source {
        tls |= is_tls(cause);
        let text = cause.to_string();
        if !text.is_empty() && !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    let kind = if tls {
        "TLS failed"
    } else if error.is_connect() {
        "connect failed"
    } else if error.is_body() || error.is_decode() {
        "reading the body failed"
    } else if error.is_redirect() {
        "redirect failed"
    } else {
        "request failed"
    };
    // The last cause is the root; hyper's wrappers ("client error (Connect)") add nothing.
    match causes.last() {
        Some(root) => format!("{kind}: {}", lowercase_first(root)),
        None => format!("{kind}: {error}"),
    }
}

/// rustls errors arrive inside `io::Error`s (nested, through tokio-rustls and the connector),
/// whose `source()` skips the wrapped error, so the wrappers are opened by hand.
fn is_tls(cause: &(dyn std::error::Error + 'static)) -> bool {
    if cause.is::<rustls::Error>() {
        return true;
    }
    match cause
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => is_tls(inner),
        None => false,
    }
}

/// `Connection refused (os error 111)` → `connection refused (os error 111)`, to read as the
/// continuation of a phrase; `TLS handshake` keeps its acronym.
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_string(),
    }
}
