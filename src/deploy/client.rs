//! The one Kubernetes client of a run: kube-rs's stack (auth, TLS, timeouts, pooled keep-alive
//! HTTP/1.1 connections) with shipgate's `User-Agent` on every request, kube-rs's retry of
//! 429/503/504 moved where it can be counted, and the counts a deploy reports ("degrade
//! loudly": throttling and retries are never silent).
//!
//! Limits, as the README states them: one-off requests (GET, PATCH, SelfSubjectAccessReview,
//! logs, events) are bounded to [`ONE_OFF_IN_FLIGHT`] at once by [`super::cluster::Cluster`];
//! every open watch holds one HTTP/1.1 connection (three per namespace: workloads, ReplicaSets,
//! pods); a 429/503/504 is retried up to 15 times with exponential back-off from 5 ms (or the
//! server's `Retry-After`), kube-rs's own policy; there is no client-side rate limit (API
//! Priority and Fairness on the server decides, and its 429s are counted).

use http::{HeaderValue, Request, Response, header};
use kube::client::Body;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower::BoxError;

/// One-off requests in flight at once (watches are not counted: each holds its connection).
pub const ONE_OFF_IN_FLIGHT: usize = 4;

/// `shipgate/<version>`, plus the run URL as a comment where there is one, so the API server's
/// audit log and API Priority and Fairness can tell who is calling.
pub fn user_agent(run_url: Option<&str>) -> String {
    let base = format!("shipgate/{}", crate::version::VERSION);
    match run_url.filter(|u| !u.is_empty()) {
        Some(url) => format!("{base} (+{url})"),
        None => base,
    }
}

/// What the client did, counted as it happened.
#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<&'static str, u64>>,
    throttled: AtomicU64,
    retried: AtomicU64,
    watch_errors: AtomicU64,
    watches_started: AtomicU64,
}

/// A snapshot of [`Stats`], for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests by Kubernetes verb (`get`, `list`, `watch`, `create`, `patch`, …), retries not
    /// included.
    pub requests: BTreeMap<String, u64>,
    /// Answers `429 Too Many Requests` (each was retried, or the last one failed the call).
    pub throttled: u64,
    /// Requests sent again after a 429/503/504.
    pub retried: u64,
    /// Errors of watch streams (a dropped connection, a refused watch, `410 Gone`); each was
    /// followed by a resume or a re-list.
    pub watch_errors: u64,
    /// Watch streams started (the first of each, and every resume).
    pub watches_started: u64,
}

impl Usage {
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Whether the API pushed back or misbehaved: worth a warning.
    pub fn degraded(&self) -> bool {
        self.throttled > 0 || self.retried > 0 || self.watch_errors > 0
    }
}

impl Stats {
    pub fn usage(&self) -> Usage {
        let requests = self
            .requests
            .lock()
            .map(|r| r.iter().map(|(k, v)| ((*k).to_string(), *v)).collect())
            .unwrap_or_default();
        Usage {
            requests,
            throttled: self.throttled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            watch_errors: self.watch_errors.load(Ordering::Relaxed),
            watches_started: self.watches_started.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn watch_error(&self) {
        self.watch_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn request(&self, verb: &'static str) {
        if verb == "watch" {
            self.watches_started.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry(verb).or_default() += 1;
        }
    }
}

/// The Kubernetes verb of a request, as the audit log would name it.
fn verb<B>(request: &Request<B>) -> &'static str {
    let query = request.uri().query().unwrap_or_default();
    let watch = query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    let segments: Vec<&str> = request
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let rest: &[&str] = match segments.as_slice() {
        ["api", _, rest @ ..] | ["apis", _, _, rest @ ..] => rest,
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    // Discovery (no resource) and a named object are gets; a bare resource is a collection.
    let named = rest.len() != 1;
    match *request.method() {
        http::Method::GET if watch => "watch",
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// Builds the client: kube-rs's default stack without its retry layer, under a buffer (so the
/// retry can re-send), a counted retry, and the layer that stamps the User-Agent and counts.
pub fn build(
    mut config: kube::Config,
    user_agent: &str,
    stats: Arc<Stats>,
) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    let agent =
        HeaderValue::from_str(user_agent).unwrap_or_else(|_| HeaderValue::from_static("shipgate"));
    let builder = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&tower::retry::RetryLayer::new(CountedRetry {
            policy: kube::client::retry::RetryPolicy::server_retry(),
            stats: stats.clone(),
        }))
        .with_layer(&ObserveLayer { agent, stats });
    Ok(builder.build())
}

/// kube-rs's retry policy, with every retry and every 429 counted.
#[derive(Clone)]
struct CountedRetry {
    policy: kube::client::retry::RetryPolicy,
    stats: Arc<Stats>,
}

impl<Res> tower::retry::Policy<Request<Body>, Response<Res>, BoxError> for CountedRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        if let Ok(response) = result
            && response.status() == http::StatusCode::TOO_MANY_REQUESTS
        {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
        }
        let again = self.policy.retry(request, result);
        if again.is_some() {
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
        }
        again
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        <kube::client::retry::RetryPolicy as tower::retry::Policy<
            Request<Body>,
            Response<Res>,
            BoxError,
        >>::clone_request(&mut self.policy, request)
    }
}

#[derive(Clone)]
struct ObserveLayer {
    agent: HeaderValue,
    stats: Arc<Stats>,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            agent: self.agent.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// Stamps the User-Agent and counts the request by verb.
#[derive(Clone)]
struct Observe<S> {
    inner: S,
    agent: HeaderValue,
    stats: Arc<Stats>,
}

impl<S, B> tower::Service<Request<B>> for Observe<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        self.stats.request(verb(&request));
        request
            .headers_mut()
            .insert(header::USER_AGENT, self.agent.clone());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str) -> Request<()> {
        Request::builder().method(method).uri(uri).body(()).unwrap()
    }

    #[test]
    fn verbs_are_named_like_the_audit_log() {
        let cases = [
            (
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments/auth",
                "get",
            ),
            (
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments?labelSelector=a",
                "list",
            ),
            (
                "GET",
                "/api/v1/namespaces/shop/pods?watch=true&resourceVersion=0",
                "watch",
            ),
            ("GET", "/api/v1/namespaces/shop/pods", "list"),
            (
                "GET",
                "/api/v1/namespaces/shop/pods/auth-1/log?tailLines=5",
                "get",
            ),
            ("GET", "/api/v1/namespaces/shop/pods/auth-1", "get"),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/auth",
                "patch",
            ),
            (
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "create",
            ),
            ("GET", "/version", "get"),
        ];
        for (method, uri, want) in cases {
            assert_eq!(verb(&request(method, uri)), want, "{method} {uri}");
        }
    }

    #[tokio::test]
    async fn throttling_and_retries_are_counted() {
        use tower::retry::Policy;
        let stats = Arc::new(Stats::default());
        let mut policy = CountedRetry {
            policy: kube::client::retry::RetryPolicy::server_retry(),
            stats: stats.clone(),
        };
        let mut request = Request::builder()
            .uri("/api/v1/namespaces/shop/pods")
            .body(Body::empty())
            .unwrap();
        let throttled = Response::builder().status(429).body(()).unwrap();
        let mut result: Result<Response<()>, BoxError> = Ok(throttled);
        assert!(policy.retry(&mut request, &mut result).is_some());
        let fine = Response::builder().status(200).body(()).unwrap();
        let mut result: Result<Response<()>, BoxError> = Ok(fine);
        assert!(policy.retry(&mut request, &mut result).is_none());
        let usage = stats.usage();
        assert_eq!((usage.throttled, usage.retried), (1, 1));
        assert!(usage.degraded());
    }

    #[test]
    fn the_user_agent_names_the_version_and_the_run() {
        let version = crate::version::VERSION;
        assert_eq!(user_agent(None), format!("shipgate/{version}"));
        assert_eq!(
            user_agent(Some("https://github.com/o/r/actions/runs/7")),
            format!("shipgate/{version} (+https://github.com/o/r/actions/runs/7)")
        );
    }
}
