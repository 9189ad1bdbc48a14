//! In-cluster gates (`health.port`): which pod to reach ([`choose_pod`], pure), and a local
//! listener on `127.0.0.1:0` whose every accepted connection is piped into a new
//! port-forward stream to that pod ([`LocalForward`]), so the gate's ordinary HTTP client
//! and judge run unchanged against `http://127.0.0.1:<local port><path>`.
//!
//! One port-forward (a WebSocket to `pods/{name}/portforward`, kube-rs) per connection, as the
//! gate opens a new connection per attempt: a forward that broke cannot spoil later attempts.
//! When a forward fails (the API server refuses it, the pod is gone, the kubelet cannot reach
//! the port) the reason is kept and given to the gate as the attempt's transport error.

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The pod and pod port a gate is forwarded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTarget {
    pub pod: String,
    pub port: u16,
}

fn is_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    pod.metadata.deletion_timestamp.is_none()
        && status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn name_of(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// The container port named `name` in `pod`.
fn named_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

/// The Service's label selector as a list-query string (`app=auth,tier=web`).
pub fn service_selector(service: &Service) -> Option<String> {
    let selector = service.spec.as_ref()?.selector.as_ref()?;
    (!selector.is_empty()).then(|| {
        selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Picks the pod a gate is forwarded to. Without a Service: a ready pod of `new` (the new
/// ReplicaSet's pods, or the updated pods of a StatefulSet/DaemonSet) on `port`. With one:
/// its `port` resolved to the `targetPort` (numeric, or a container port name looked up in
/// each pod), on a ready pod of `selected` (the pods it selects), one in `new` when there
/// is one. Ties go to the first name in order, so the choice is repeatable.
pub fn choose_pod(
    port: u16,
    service: Option<(&str, &Service)>,
    new: &[Pod],
    selected: &[Pod],
) -> Result<PodTarget, String> {
    let Some((service_name, service)) = service else {
        let mut ready: Vec<&Pod> = new.iter().filter(|p| is_ready(p)).collect();
        ready.sort_by_key(|p| name_of(p));
        return ready
            .first()
            .map(|pod| PodTarget {
                pod: name_of(pod).to_string(),
                port,
            })
            .ok_or_else(|| "no ready pod of the new rollout to forward to".to_string());
    };
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .cloned()
        .unwrap_or_default();
    let Some(service_port) = ports.iter().find(|p| p.port == i32::from(port)) else {
        let known: Vec<String> = ports
            .iter()
            .map(|p| match &p.name {
                Some(name) => format!("{} ({name})", p.port),
                None => p.port.to_string(),
            })
            .collect();
        return Err(format!(
            "Service `{service_name}` has no port {port} (its ports: {}); `health.port` is \
             the Service's port when `health.service` is set",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    let resolve = |pod: &Pod| -> Option<u16> {
        match &service_port.target_port {
            None => Some(port),
            Some(IntOrString::Int(n)) => u16::try_from(*n).ok().filter(|n| *n > 0),
            Some(IntOrString::String(name)) => match name.parse::<u16>() {
                Ok(n) => Some(n),
                Err(_) => named_port(pod, name),
            },
        }
    };
    let is_new = |pod: &Pod| new.iter().any(|n| name_of(n) == name_of(pod));
    let mut ready: Vec<&Pod> = selected.iter().filter(|p| is_ready(p)).collect();
    ready.sort_by_key(|p| (!is_new(p), name_of(p)));
    if ready.is_empty() {
        return Err(format!("Service `{service_name}` selects no ready pod"));
    }
    ready
        .iter()
        .find_map(|pod| {
            resolve(pod).map(|port| PodTarget {
                pod: name_of(pod).to_string(),
                port,
            })
        })
        .ok_or_else(|| {
            let target = match &service_port.target_port {
                Some(IntOrString::String(name)) => format!("`{name}`"),
                other => format!("{other:?}"),
            };
            format!(
                "no ready pod selected by Service `{service_name}` has a container port named \
                 {target} (the targetPort of port {port})"
            )
        })
}

/// A local listener forwarding every connection to one pod's port, until dropped.
pub struct LocalForward {
    /// `127.0.0.1:<port>`: where the gate sends its requests.
    pub addr: SocketAddr,
    failures: Arc<Mutex<VecDeque<String>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for LocalForward {
    fn drop(&mut self) {
        // Drops the accept loop and its JoinSet, which aborts every connection still open.
        self.accept.abort();
    }
}

impl LocalForward {
    /// Listens on `127.0.0.1:0`. Each connection opens a port-forward to `target` (bounded by
    /// `open_timeout`) and lives at most `life`.
    pub async fn open(
        pods: Api<Pod>,
        target: PodTarget,
        open_timeout: Duration,
        life: Duration,
    ) -> Result<LocalForward, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1 for the port-forward: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on 127.0.0.1 for the port-forward: {e}"))?;
        let failures: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let kept = failures.clone();
        let accept = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let (pods, target, kept) = (pods.clone(), target.clone(), kept.clone());
                connections.spawn(async move {
                    let piped = pipe(&pods, &target, tcp, open_timeout, &kept);
                    // A stalled pod is the gate's timeout to report; this only ends the pipe.
                    let _ = tokio::time::timeout(life, piped).await;
                });
                // Reap finished connections so the set does not grow with the attempts.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(LocalForward {
            addr,
            failures,
            accept,
        })
    }

    /// Why the latest forwarded connection failed, if one did since the last call.
    pub fn take_failure(&self) -> Option<String> {
        let mut failures = lock(&self.failures);
        let last = failures.pop_back();
        failures.clear();
        last
    }
}

fn lock(failures: &Mutex<VecDeque<String>>) -> std::sync::MutexGuard<'_, VecDeque<String>> {
    failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One connection: opens the forward and copies both ways. A failure is kept in `kept`
/// *before* the local connection closes, so the gate's request, which sees the close, finds
/// the reason already there.
async fn pipe(
    pods: &Api<Pod>,
    target: &PodTarget,
    tcp: TcpStream,
    open_timeout: Duration,
    kept: &Mutex<VecDeque<String>>,
) {
    let PodTarget { pod, port } = target;
    let keep = |failure: String| lock(kept).push_back(failure);
    let opened = tokio::time::timeout(open_timeout, pods.portforward(pod, &[*port])).await;
    let mut forwarder = match opened {
        Err(_) => {
            return keep(format!(
                "the API server did not open the port-forward to pod {pod} within {}",
                super::format_duration(open_timeout)
            ));
        }
        Ok(Err(error)) => {
            let error = crate::deploy::cluster::ApiError::from(error);
            return keep(format!(
                "the API server refused the port-forward to pod {pod}: {}",
                error.message
            ));
        }
        Ok(Ok(forwarder)) => forwarder,
    };
    let (Some(stream), Some(error)) = (forwarder.take_stream(*port), forwarder.take_error(*port))
    else {
        return keep(format!(
            "the port-forward to pod {pod} has no stream for port {port}"
        ));
    };
    let (mut from_pod, mut to_pod) = tokio::io::split(stream);
    let (mut from_client, mut to_client) = tcp.into_split();
    // Set once the gate's client closed its side (done, or gave up on a timeout): a pod side
    // that ends after that is no failure to report.
    let client_gone = std::sync::atomic::AtomicBool::new(false);
    let upstream = async {
        let _ = tokio::io::copy(&mut from_client, &mut to_pod).await;
        client_gone.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = to_pod.shutdown().await;
    };
    let downstream = async {
        let said = copy_from_pod(&mut from_pod, &mut to_client, error, &client_gone, target).await;
        if let Some(failure) = said {
            keep(failure);
        }
        // Closes the local connection only now, after the reason is kept.
        drop(to_client);
    };
    tokio::join!(upstream, downstream);
    forwarder.abort();
}

/// Copies the pod's answer to the local connection until the pod side ends; what went
/// wrong, if anything: the kubelet's error-channel message, a broken stream, or a forward
/// closed before any answer while the client still waited.
async fn copy_from_pod(
    from_pod: &mut (impl tokio::io::AsyncRead + Unpin),
    to_client: &mut (impl tokio::io::AsyncWrite + Unpin),
    error: impl std::future::Future<Output = Option<String>>,
    client_gone: &std::sync::atomic::AtomicBool,
    target: &PodTarget,
) -> Option<String> {
    let PodTarget { pod, port } = target;
    let mut buffer = vec![0u8; 16 * 1024];
    let mut broken = None;
    let mut received = 0usize;
    loop {
        match from_pod.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => {
                received += n;
                if to_client.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                broken = Some(format!("the port-forward to pod {pod} broke: {e}"));
                break;
            }
        }
    }
    // The pod side ended: an error-channel message arrives before the close, so it is there
    // now if there is one.
    match tokio::time::timeout(Duration::from_millis(200), error).await {
        Ok(Some(message)) => Some(format!(
            "port-forward to pod {pod} port {port} failed: {}",
            message.trim()
        )),
        // The kubelet's message can be lost when the request crossed the close.
        _ if received == 0 && !client_gone.load(std::sync::atomic::Ordering::SeqCst) => broken
            .or_else(|| {
                Some(format!(
                    "the port-forward to pod {pod} port {port} closed before any answer \
                     (nothing listening on the port, or the pod went away)"
                ))
            }),
        _ => broken,
    }
}

#[cfg(test)]
mod tests;
