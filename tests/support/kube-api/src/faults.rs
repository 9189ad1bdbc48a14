//! Fault injection: make chosen requests fail the way a sick control plane or network does, so
//! every retry, timeout and "lost the lock" path has an end-to-end test.
//!
//! A [`Fault`] matches requests by verb and a path fragment and answers them instead of the
//! server, a number of times or for a while:
//!
//! | fault | what the client sees |
//! |---|---|
//! | [`Fault::status`] | a `Status` error with that code (`503 ServiceUnavailable`, `500`, `429` …); nothing is changed |
//! | [`Fault::stall`] | no answer for that long, then the real one |
//! | [`Fault::drop_connection`] | the connection is cut before a complete answer; nothing is changed |
//! | [`Fault::trickle`] | `200` headers, then one byte of whitespace per interval, forever |
//!
//! ```no_run
//! use kube_test_api::{Fault, KubeApi};
//! use std::time::Duration;
//! let api = KubeApi::start();
//! // The next three PATCHes of the Deployment fail with 503.
//! api.inject(Fault::status(503).on("PATCH", "/deployments/auth").times(3));
//! // Lease renewals fail for the next 5 s.
//! api.inject(Fault::status(500).on("PUT", "/leases/").lasting(Duration::from_secs(5)));
//! ```
//!
//! The hook is one call at the top of the request handler, after the request was recorded (a
//! failed request still counts in [`crate::KubeApi::requests`]).

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a fault does to a matching request.
#[derive(Debug, Clone)]
enum Action {
    Status(u16),
    Stall(Duration),
    Drop,
    Trickle(Duration),
}

/// One injected fault; build with [`Fault::status`] & co., narrow with [`Fault::on`], bound
/// with [`Fault::times`] or [`Fault::lasting`] (default: until [`crate::KubeApi::clear_faults`]).
#[derive(Debug, Clone)]
pub struct Fault {
    action: Action,
    method: Option<String>,
    path_contains: String,
    skip: usize,
    remaining: Option<usize>,
    lasting: Option<Duration>,
    until: Option<Instant>,
}

impl Fault {
    fn new(action: Action) -> Fault {
        Fault {
            action,
            method: None,
            path_contains: String::new(),
            skip: 0,
            remaining: None,
            lasting: None,
            until: None,
        }
    }

    /// Answer with this HTTP status and a Kubernetes `Status` body.
    pub fn status(code: u16) -> Fault {
        Fault::new(Action::Status(code))
    }

    /// Hold the request this long, then serve it.
    pub fn stall(delay: Duration) -> Fault {
        Fault::new(Action::Stall(delay))
    }

    /// Cut the connection before a complete answer (the request is not served).
    pub fn drop_connection() -> Fault {
        Fault::new(Action::Drop)
    }

    /// Send `200` headers, then one space per `interval`, never finishing.
    pub fn trickle(interval: Duration) -> Fault {
        Fault::new(Action::Trickle(interval))
    }

    /// Only requests with this verb (`GET`, `PATCH`, …; `*` for any) whose path contains
    /// `path_fragment`.
    pub fn on(mut self, method: &str, path_fragment: &str) -> Fault {
        self.method = (method != "*").then(|| method.to_ascii_uppercase());
        self.path_contains = path_fragment.to_string();
        self
    }

    /// Let the first `n` matching requests through untouched (e.g. the set-image PATCH, so the
    /// rollback's PATCH is the one that fails).
    pub fn after(mut self, n: usize) -> Fault {
        self.skip = n;
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Fault {
        self.remaining = Some(n);
        self
    }

    /// Only for this long after it was injected.
    pub fn lasting(mut self, duration: Duration) -> Fault {
        self.lasting = Some(duration);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && path.contains(&self.path_contains)
            && self.remaining != Some(0)
            && self.until.is_none_or(|until| Instant::now() < until)
    }
}

/// The faults in force.
#[derive(Debug, Default)]
pub(crate) struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    pub(crate) fn inject(&self, mut fault: Fault) {
        fault.until = fault.lasting.map(|d| Instant::now() + d);
        self.lock().push(fault);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The first fault matching the request, used up by one.
    fn take(&self, method: &str, path: &str) -> Option<Action> {
        let mut faults = self.lock();
        let fault = faults.iter_mut().find(|f| f.matches(method, path))?;
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        Some(fault.action.clone())
    }

    /// The hook: `Some(response)` when a fault answers the request instead of the server.
    pub(crate) async fn intercept(&self, method: &str, path: &str) -> Option<Response> {
        match self.take(method, path)? {
            Action::Status(code) => Some(status_response(code)),
            Action::Stall(delay) => {
                tokio::time::sleep(delay).await;
                None
            }
            Action::Drop => {
                let cut = futures::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "kube-test-api: injected dropped connection",
                    ))
                });
                Some(streaming(Body::from_stream(cut)))
            }
            Action::Trickle(interval) => {
                let drip = futures::stream::unfold((), move |()| async move {
                    tokio::time::sleep(interval).await;
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from_static(b" ")), ()))
                });
                Some(streaming(Body::from_stream(drip)))
            }
        }
    }
}

fn streaming(body: Body) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn status_response(code: u16) -> Response {
    let reason = match code {
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    };
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("kube-test-api: injected {code}"), "reason": reason, "code": code,
    });
    let mut response = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
