//! What a client costs the server, counted so a test or a benchmark can assert the shape of a
//! deploy (requests by verb and resource, watches per namespace and resource, connections)
//! instead of timing it. Three small hooks feed it: [`Counter::request`] at the top of the
//! request handler, [`Counter::watch_opened`] when a watch stream starts (the guard it returns
//! is dropped when the stream ends), and [`CountingListener`] around each listener (one
//! accepted socket = one connection, open until the server side drops it).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// The counts so far ([`crate::KubeApi::counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests by Kubernetes verb (`get`, `list`, `watch`, `create`, `patch`, …; discovery and
    /// `/version` are `get`).
    pub by_verb: BTreeMap<String, u64>,
    /// Requests by (verb, resource), the resource as RBAC names it (`pods`, `deployments`,
    /// `selfsubjectaccessreviews`, `pods/log`); discovery paths are left out.
    pub by_resource: BTreeMap<(String, String), u64>,
    /// Watches started, by (namespace, resource); `""` for cluster-wide.
    pub watches_started: BTreeMap<(String, String), u64>,
    /// Watch streams open right now, and the most open at once.
    pub watches_open: u64,
    pub watches_peak: u64,
    /// Connections (accepted sockets) so far, open now and the most open at once.
    pub connections: u64,
    pub connections_open: u64,
    pub connections_peak: u64,
    /// `User-Agent` headers seen (`""` for a request without one).
    pub user_agents: BTreeSet<String>,
}

impl Counts {
    /// Requests with this verb on this resource.
    pub fn requests(&self, verb: &str, resource: &str) -> u64 {
        self.by_resource
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Watches started on this resource, summed over namespaces.
    pub fn watches_of(&self, resource: &str) -> u64 {
        self.watches_started
            .iter()
            .filter(|((_, r), _)| r == resource)
            .map(|(_, n)| n)
            .sum()
    }

    /// The most watches started on one (namespace, resource).
    pub fn max_watches_per_namespace(&self, resource: &str) -> u64 {
        self.watches_started
            .iter()
            .filter(|((_, r), _)| r == resource)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    }

    /// Every request counted.
    pub fn total(&self) -> u64 {
        self.by_verb.values().sum()
    }
}

/// The shared counter behind the hooks.
#[derive(Default)]
pub(crate) struct Counter {
    counts: Mutex<Counts>,
}

impl Counter {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn snapshot(&self) -> Counts {
        self.lock().clone()
    }

    /// Forgets the requests and watches counted so far; open watches and connections stay
    /// open (and counted as open).
    pub(crate) fn reset(&self) {
        let mut counts = self.lock();
        let (watches, connections) = (counts.watches_open, counts.connections_open);
        *counts = Counts {
            watches_open: watches,
            watches_peak: watches,
            connections_open: connections,
            connections_peak: connections,
            ..Counts::default()
        };
    }

    /// The request hook: one call per request, before anything else.
    pub(crate) fn request(&self, method: &str, path: &str, query: &str, user_agent: &str) {
        let (verb, resource) = classify(method, path, query);
        let mut counts = self.lock();
        *counts.by_verb.entry(verb.to_string()).or_default() += 1;
        if let Some(resource) = resource {
            *counts
                .by_resource
                .entry((verb.to_string(), resource))
                .or_default() += 1;
        }
        if !counts.user_agents.contains(user_agent) {
            counts.user_agents.insert(user_agent.to_string());
        }
    }

    /// The watch hook: the stream is open until the guard is dropped.
    pub(crate) fn watch_opened(
        self: &Arc<Self>,
        namespace: Option<&str>,
        resource: &str,
    ) -> OpenGuard {
        let mut counts = self.lock();
        *counts
            .watches_started
            .entry((
                namespace.unwrap_or_default().to_string(),
                resource.to_string(),
            ))
            .or_default() += 1;
        counts.watches_open += 1;
        counts.watches_peak = counts.watches_peak.max(counts.watches_open);
        OpenGuard {
            counter: self.clone(),
            what: Open::Watch,
        }
    }

    fn connection_opened(self: &Arc<Self>) -> OpenGuard {
        let mut counts = self.lock();
        counts.connections += 1;
        counts.connections_open += 1;
        counts.connections_peak = counts.connections_peak.max(counts.connections_open);
        OpenGuard {
            counter: self.clone(),
            what: Open::Connection,
        }
    }
}

enum Open {
    Watch,
    Connection,
}

/// Counts a watch or a connection as open while it lives.
pub(crate) struct OpenGuard {
    counter: Arc<Counter>,
    what: Open,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let mut counts = self.counter.lock();
        match self.what {
            Open::Watch => counts.watches_open = counts.watches_open.saturating_sub(1),
            Open::Connection => {
                counts.connections_open = counts.connections_open.saturating_sub(1);
            }
        }
    }
}

/// The Kubernetes verb and the RBAC resource of a request, from its method, path and query.
fn classify(method: &str, path: &str, query: &str) -> (&'static str, Option<String>) {
    let watch = query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segments.as_slice() {
        ["api", _, rest @ ..] | ["apis", _, _, rest @ ..] => rest,
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _, resource, tail @ ..] => {
            let mut all = vec![*resource];
            all.extend_from_slice(tail);
            all
        }
        other => other.to_vec(),
    };
    let resource = match rest.as_slice() {
        [] => None,
        [resource] | [resource, _] => Some((*resource).to_string()),
        [resource, _, sub, ..] => Some(format!("{resource}/{sub}")),
    };
    let named = rest.len() >= 2;
    let verb = match method {
        "GET" if watch => "watch",
        "GET" if named || resource.is_none() => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if named => "delete",
        "DELETE" => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

/// A listener whose accepted sockets are counted as connections while they are open.
pub(crate) struct CountingListener<L> {
    inner: L,
    counter: Arc<Counter>,
}

impl<L> CountingListener<L> {
    pub(crate) fn new(inner: L, counter: Arc<Counter>) -> Self {
        CountingListener { inner, counter }
    }
}

impl<L> axum::serve::Listener for CountingListener<L>
where
    L: axum::serve::Listener,
    L::Io: Unpin,
{
    type Io = Counted<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        let guard = self.counter.connection_opened();
        (
            Counted {
                inner: io,
                _guard: guard,
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted socket, counted as open until dropped.
pub(crate) struct Counted<T> {
    inner: T,
    _guard: OpenGuard,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn requests_are_classified_like_rbac() {
        let c = |m, p, q| classify(m, p, q);
        assert_eq!(
            c(
                "GET",
                "/api/v1/namespaces/shop/pods",
                "watch=true&labelSelector=a"
            ),
            ("watch", Some("pods".into()))
        );
        assert_eq!(
            c("GET", "/apis/apps/v1/namespaces/shop/replicasets", ""),
            ("list", Some("replicasets".into()))
        );
        assert_eq!(
            c(
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/auth",
                ""
            ),
            ("patch", Some("deployments".into()))
        );
        assert_eq!(
            c(
                "GET",
                "/api/v1/namespaces/shop/pods/auth-1/log",
                "tailLines=5"
            ),
            ("get", Some("pods/log".into()))
        );
        assert_eq!(
            c(
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                ""
            ),
            ("create", Some("selfsubjectaccessreviews".into()))
        );
        assert_eq!(c("GET", "/version", ""), ("get", None));
        assert_eq!(c("GET", "/apis/apps/v1", ""), ("get", None));
    }
}
