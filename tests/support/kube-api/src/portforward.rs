//! The `pods/{name}/portforward` subresource, as the apiserver + kubelet serve it, in the three
//! protocols clients speak:
//!
//! * a WebSocket with the binary channel protocol
//!   (`k8s.io/kubelet/pkg/cri/streaming/portforward/websocket.go`; kube-rs and shipgate):
//!   `GET` or `POST /api/v1/namespaces/{ns}/pods/{name}/portforward?ports=8080[,9090]` (also
//!   `ports=8080&ports=9090`) with `Upgrade: websocket`, subprotocol `v4.channel.k8s.io`
//!   (kube-rs offers `v5.channel.k8s.io, v4.channel.k8s.io`, and a portforward answers v4) or
//!   none (the kubelet's `""` protocol, the same framing). Port `i` gets data channel `2i` and
//!   error channel `2i+1`; every message starts with its channel byte; the server's first
//!   message on each channel is the port, 2 bytes little-endian; then the data channel carries
//!   the TCP bytes both ways and the error channel the kubelet's `error forwarding port …`
//!   sentence when the pod's port cannot be reached.
//! * SPDY/3.1 (`kubectl port-forward`; `httpstream.go` there): a `POST` with `Upgrade:
//!   SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io` is answered `101 Switching
//!   Protocols` and the connection speaks SPDY ([`crate::spdy`]). The ports are not in the
//!   query: per local connection kubectl opens an error stream and a data stream (headers
//!   `streamtype`, `port`, `requestid`); once both of a `requestid` are there the data stream
//!   is piped to the pod's port, or the error stream carries the kubelet's sentence; then both
//!   are half-closed.
//! * the same SPDY tunnelled over a WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`, the
//!   SPDY bytes in binary messages): what kubectl ≥ 1.31 tries first, falling back to plain
//!   SPDY/3.1 when refused (or only plain SPDY with `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`).
//!
//! Each forwarded connection is connected to the test's "pod": one loopback HTTP server per
//! [`KubeApi`](crate::KubeApi), which tells pods apart by the local port of the connection
//! the forward opened. Tests say what a pod answers with [`KubeApi::serve_pods`]; a port
//! nobody serves is refused like a closed container port.

use crate::KubeApi;
use crate::api::Shared;
use crate::spdy;
use axum::extract::FromRequestParts;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::header::{CONNECTION, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The binary channel protocol a port-forward answers with.
pub const V4_PROTOCOL: &str = "v4.channel.k8s.io";
/// kubectl's SPDY tunnelled over a WebSocket.
pub const SPDY_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The port-forward protocol inside SPDY (`X-Stream-Protocol-Version`).
const SPDY_PROTOCOL: &str = "portforward.k8s.io";

/// Which pods a [`PodReply`] is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodSelector {
    /// Pods whose name starts with this (`auth-` for every pod of Deployment `auth`).
    NamePrefix(String),
    /// Pods one of whose containers runs an image containing this text (`auth:2.0.0`).
    Image(String),
}

/// What a pod's HTTP server on a port answers, to every path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodReply {
    /// `200` with `{"status":"ok","pod":NAME,"port":PORT,"path":PATH}`.
    Healthy,
    /// This status with `{"status":"failing","pod":NAME,…}`.
    Status(u16),
    /// Accepts the request and never answers (a hung process).
    Stall,
}

/// One request a pod's HTTP server received through a port-forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRequest {
    pub namespace: String,
    pub pod: String,
    pub port: u16,
    pub method: String,
    pub path: String,
}

/// The registered replies, the loopback server and what it saw.
#[derive(Default)]
pub(crate) struct Forwards {
    state: Mutex<ForwardState>,
    server: tokio::sync::OnceCell<SocketAddr>,
}

#[derive(Default)]
struct ForwardState {
    /// (namespace, selector, port, reply); the last registration that matches wins.
    replies: Vec<(String, PodSelector, u16, PodReply)>,
    /// Local port of a forwarded connection → (namespace, pod, pod port, reply).
    connections: HashMap<u16, (String, String, u16, PodReply)>,
    requests: Vec<PodRequest>,
    /// Port-forward sessions opened (upgrades accepted).
    sessions: u64,
}

impl Forwards {
    fn lock(&self) -> MutexGuard<'_, ForwardState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl KubeApi {
    /// Pods of `namespace` chosen by `selector` answer HTTP on container `port` with `reply`
    /// when reached through a port-forward. A later registration overrides an earlier one
    /// for the pods both match.
    pub fn serve_pods(&self, namespace: &str, selector: PodSelector, port: u16, reply: PodReply) {
        self.shared
            .forwards
            .lock()
            .replies
            .push((namespace.to_string(), selector, port, reply));
    }

    /// Every HTTP request the pods received through port-forwards, in order.
    pub fn pod_requests(&self) -> Vec<PodRequest> {
        self.shared.forwards.lock().requests.clone()
    }

    /// How many port-forward sessions (WebSocket or SPDY upgrades) the server accepted.
    pub fn port_forward_sessions(&self) -> u64 {
        self.shared.forwards.lock().sessions
    }
}

/// The ports of `?ports=8080,9090` / `?ports=8080&ports=9090`, or the Status to answer.
fn ports_of(query: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for pair in query.split('&') {
        let Some(value) = pair.strip_prefix("ports=") else {
            continue;
        };
        let value = value.replace("%2C", ",").replace("%2c", ",");
        for port in value.split(',').filter(|p| !p.is_empty()) {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => ports.push(p),
                _ => return Err(format!("invalid port value \"{port}\"")),
            }
        }
    }
    if ports.is_empty() {
        return Err("at least 1 port must be specified".into());
    }
    Ok(ports)
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    crate::api::status_response(
        code,
        &json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message": message, "reason": reason, "code": code}),
    )
}

/// Answers a request routed to `pods/{name}/portforward` (RBAC already checked).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    mut parts: Parts,
    namespace: String,
    name: String,
) -> Response {
    let offered: Vec<String> = header_list(&parts, "sec-websocket-protocol");
    let Some(pod) = shared
        .lock()
        .get_cloned(crate::store::res("pods"), &namespace, &name)
    else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    if pod["status"]["phase"] != "Running" || !pod["metadata"]["deletionTimestamp"].is_null() {
        return status(
            400,
            "BadRequest",
            &format!("unable to upgrade connection: pod {name} is not running"),
        );
    }
    let upgrade = parts
        .headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if upgrade == "spdy/3.1" {
        return spdy_upgrade(shared, &mut parts, namespace, pod);
    }
    let websocket = upgrade == "websocket";
    if websocket && offered.iter().any(|p| p == SPDY_TUNNEL_PROTOCOL) {
        return spdy_tunnel(shared, parts, namespace, pod).await;
    }
    let binary = offered.is_empty() || offered.iter().any(|p| p == V4_PROTOCOL);
    if !websocket || !binary {
        return status(
            400,
            "BadRequest",
            &format!(
                "the test API server serves port-forward as a WebSocket with subprotocol \
                 {V4_PROTOCOL} or {SPDY_TUNNEL_PROTOCOL}, or as SPDY/3.1 (offered: {})",
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            ),
        );
    }
    let ports = match ports_of(parts.uri.query().unwrap_or("")) {
        Ok(ports) => ports,
        Err(message) => return status(400, "BadRequest", &message),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    shared.forwards.lock().sessions += 1;
    let upgrade = if offered.is_empty() {
        upgrade
    } else {
        upgrade.protocols([V4_PROTOCOL])
    };
    upgrade.on_upgrade(move |socket| session(shared, socket, namespace, pod, ports))
}

/// The comma-separated values of every `name` header.
fn header_list(parts: &Parts, name: &str) -> Vec<String> {
    parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The kubelet's sentence when the pod's port cannot be reached.
fn forward_error(port: u16, pod: &str, namespace: &str, error: &str) -> String {
    format!(
        "error forwarding port {port} to pod {pod}, uid : failed to connect to \
         localhost:{port} inside namespace \"{namespace}\": {error}"
    )
}

/// Plain SPDY/3.1 (`Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`):
/// `101 Switching Protocols`, then a SPDY session on the raw connection.
fn spdy_upgrade(shared: Arc<Shared>, parts: &mut Parts, namespace: String, pod: Value) -> Response {
    let offered = header_list(parts, "x-stream-protocol-version");
    if !offered.is_empty() && !offered.iter().any(|p| p == SPDY_PROTOCOL) {
        return status(
            403,
            "Forbidden",
            &format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, \
                 server supports [\"{SPDY_PROTOCOL}\"]"
            ),
        );
    }
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return status(
            400,
            "BadRequest",
            "unable to upgrade: connection not upgradable",
        );
    };
    shared.forwards.lock().sessions += 1;
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            spdy_session(shared, TokioIo::new(upgraded), namespace, pod).await;
        }
    });
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(SPDY_PROTOCOL),
    );
    response
}

/// SPDY tunnelled over a WebSocket (`SPDY/3.1+portforward.k8s.io`): the same SPDY bytes in
/// binary messages, message boundaries meaningless.
async fn spdy_tunnel(
    shared: Arc<Shared>,
    mut parts: Parts,
    namespace: String,
    pod: Value,
) -> Response {
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    shared.forwards.lock().sessions += 1;
    upgrade
        .protocols([SPDY_TUNNEL_PROTOCOL])
        .on_upgrade(move |socket| async move {
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            tokio::spawn(spdy_session(shared, theirs, namespace, pod));
            bridge(socket, ours).await;
        })
}

/// Carries bytes between a WebSocket's binary messages and `io` until either side ends.
async fn bridge(socket: WebSocket, io: tokio::io::DuplexStream) {
    let (mut sink, mut stream) = socket.split();
    let (mut read, mut write) = tokio::io::split(io);
    let to_client = async {
        let mut buffer = vec![0u8; 32 * 1024];
        while let Ok(n) = read.read(&mut buffer).await
            && n > 0
        {
            if sink
                .send(Message::Binary(buffer[..n].to_vec().into()))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    };
    let from_client = async {
        while let Some(Ok(message)) = stream.next().await {
            let done = match message {
                Message::Binary(data) => write.write_all(&data).await.is_err(),
                Message::Close(_) => true,
                _ => false,
            };
            if done {
                break;
            }
        }
        let _ = write.shutdown().await;
    };
    tokio::select! {
        () = to_client => {}
        () = from_client => {}
    }
}

/// A SPDY port-forward session: kubectl opens, per connection, an error stream and a data
/// stream with the same `requestid`; once both are there the data stream is connected to the
/// pod's port (`k8s.io/kubelet/pkg/cri/streaming/portforward/httpstream.go`).
async fn spdy_session<IO>(shared: Arc<Shared>, io: IO, namespace: String, pod: Value)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let mut pairs: HashMap<String, (Option<spdy::Stream>, Option<spdy::Stream>)> = HashMap::new();
    let _ = spdy::serve(io, |stream| {
        let data = match stream.header("streamtype") {
            Some("error") => false,
            Some("data") => true,
            // The kubelet resets a stream of another type; dropping it ignores it.
            _ => return,
        };
        // Clients before requestid paired streams by id: error N, data N+2.
        let key = match stream.header("requestid") {
            Some(id) => id.to_string(),
            None if data => stream.id.saturating_sub(2).to_string(),
            None => stream.id.to_string(),
        };
        let pair = pairs.entry(key.clone()).or_default();
        if data {
            pair.1 = Some(stream);
        } else {
            pair.0 = Some(stream);
        }
        if pair.0.is_some()
            && pair.1.is_some()
            && let Some((Some(error), Some(data))) = pairs.remove(&key)
        {
            let (shared, namespace, pod) = (shared.clone(), namespace.clone(), pod.clone());
            tokio::spawn(forward_streams(shared, namespace, pod, error, data));
        }
    })
    .await;
}

/// Forwards one connection: the data stream to the pod's port, or the kubelet's error
/// sentence on the error stream; then half-closes both, as the kubelet does.
async fn forward_streams(
    shared: Arc<Shared>,
    namespace: String,
    pod: Value,
    error: spdy::Stream,
    data: spdy::Stream,
) {
    let port = data
        .header("port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    let spdy::Stream { incoming, out, .. } = data;
    match connect(&shared, &namespace, &pod, port).await {
        Ok(tcp) => pipe(tcp, incoming, &out).await,
        Err(e) => {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let message = forward_error(port, name, &namespace, &e);
            error.out.data(message.as_bytes()).await;
        }
    }
    error.out.finish().await;
    out.finish().await;
}

/// Copies the client's data to the pod (closing the pod's input at the client's FIN) and the
/// pod's answer back until the pod closes.
async fn pipe(
    tcp: TcpStream,
    mut incoming: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    out: &spdy::StreamWriter,
) {
    let (mut read, mut write) = tcp.into_split();
    tokio::spawn(async move {
        while let Some(chunk) = incoming.recv().await {
            if write.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    let mut buffer = vec![0u8; 32 * 1024];
    while let Ok(n) = read.read(&mut buffer).await
        && n > 0
    {
        if !out.data(&buffer[..n]).await {
            return;
        }
    }
}

/// One port-forward: announces the ports, then pipes each data channel to the pod.
async fn session(
    shared: Arc<Shared>,
    socket: WebSocket,
    namespace: String,
    pod: Value,
    ports: Vec<u16>,
) {
    let (mut sink, mut stream) = socket.split();
    if !announce(&mut sink, &ports).await {
        return;
    }
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (to_ws, mut from_pods) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let mut to_pods: Vec<Option<tokio::net::tcp::OwnedWriteHalf>> = Vec::new();
    let mut open = 0usize;
    for (i, port) in ports.iter().enumerate() {
        match connect(&shared, &namespace, &pod, *port).await {
            Ok(tcp) => {
                let (read, write) = tcp.into_split();
                to_pods.push(Some(write));
                open += 1;
                tokio::spawn(pod_to_socket(read, (2 * i) as u8, to_ws.clone()));
            }
            Err(error) => {
                to_pods.push(None);
                let mut frame = vec![(2 * i + 1) as u8];
                frame.extend_from_slice(forward_error(*port, &name, &namespace, &error).as_bytes());
                let _ = sink.send(Message::Binary(frame.into())).await;
            }
        }
    }
    drop(to_ws);
    if open == 0 {
        let _ = sink.send(Message::Close(None)).await;
        return;
    }
    loop {
        tokio::select! {
            frame = from_pods.recv() => match frame {
                Some(frame) if frame.len() == 1 => {
                    open = open.saturating_sub(1);
                    if open == 0 {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                }
                Some(frame) => {
                    if sink.send(Message::Binary(frame.into())).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            message = stream.next() => match message {
                Some(Ok(Message::Binary(data))) if data.len() > 1 => {
                    let channel = data[0] as usize;
                    let writer = channel.is_multiple_of(2)
                        .then(|| to_pods.get_mut(channel / 2))
                        .flatten()
                        .and_then(Option::as_mut);
                    if let Some(writer) = writer
                        && writer.write_all(&data[1..]).await.is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The first frame of every channel: its port, 2 bytes little-endian. False when the client
/// is gone.
async fn announce(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    ports: &[u16],
) -> bool {
    for (i, port) in ports.iter().enumerate() {
        for channel in [2 * i, 2 * i + 1] {
            let mut frame = vec![channel as u8];
            frame.extend_from_slice(&port.to_le_bytes());
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                return false;
            }
        }
    }
    true
}

/// Copies what the pod sends on one port into data-channel frames; an empty frame (the
/// channel byte alone) marks the end of the stream.
async fn pod_to_socket(
    mut read: tokio::net::tcp::OwnedReadHalf,
    channel: u8,
    to_ws: tokio::sync::mpsc::Sender<Vec<u8>>,
) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut frame = Vec::with_capacity(n + 1);
                frame.push(channel);
                frame.extend_from_slice(&buffer[..n]);
                if to_ws.send(frame).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_ws.send(vec![channel]).await;
}

/// Opens the pod's side of a forwarded port: a connection to the loopback pod server,
/// registered under its local port so the server knows which pod it is; refused when no
/// [`PodReply`] covers this pod and port.
async fn connect(
    shared: &Arc<Shared>,
    namespace: &str,
    pod: &Value,
    port: u16,
) -> Result<TcpStream, String> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let images: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str())
        .collect();
    let reply = shared
        .forwards
        .lock()
        .replies
        .iter()
        .rev()
        .find(|(ns, selector, p, _)| {
            ns == namespace
                && *p == port
                && match selector {
                    PodSelector::NamePrefix(prefix) => name.starts_with(prefix.as_str()),
                    PodSelector::Image(text) => images.iter().any(|i| i.contains(text.as_str())),
                }
        })
        .map(|(_, _, _, reply)| reply.clone())
        .ok_or_else(|| "dial tcp4 127.0.0.1: connect: connection refused".to_string())?;
    let addr = *shared
        .forwards
        .server
        .get_or_try_init(|| start_pod_server(shared.clone()))
        .await
        .map_err(|e| format!("cannot start the pod server: {e}"))?;
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("dial tcp4 {addr}: {e}"))?;
    let local = tcp.local_addr().map_err(|e| e.to_string())?.port();
    shared.forwards.lock().connections.insert(
        local,
        (namespace.to_string(), name.to_string(), port, reply),
    );
    Ok(tcp)
}

/// The loopback HTTP server that plays every pod.
async fn start_pod_server(shared: Arc<Shared>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = serve_one(&shared, tcp, peer.port()).await;
            });
        }
    });
    Ok(addr)
}

/// One HTTP/1.1 exchange (`Connection: close`), answered as the pod's [`PodReply`] says.
async fn serve_one(shared: &Arc<Shared>, mut tcp: TcpStream, peer: u16) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buffer).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let path = words.next().unwrap_or("/").to_string();
    // The forward registers the connection right after connecting; wait for it briefly.
    let mut known = None;
    for _ in 0..100 {
        known = shared.forwards.lock().connections.get(&peer).cloned();
        if known.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let Some((namespace, pod, port, reply)) = known else {
        return Ok(());
    };
    shared.forwards.lock().requests.push(PodRequest {
        namespace,
        pod: pod.clone(),
        port,
        method: method.clone(),
        path: path.clone(),
    });
    let (code, state) = match reply {
        PodReply::Healthy => (200, "ok"),
        PodReply::Status(code) => (code, "failing"),
        PodReply::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
    };
    let body = json!({"status": state, "pod": pod, "port": port, "path": path}).to_string();
    let body = if method == "HEAD" {
        String::new()
    } else {
        body
    };
    let response = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        reason(code),
        body.len()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.shutdown().await
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::ports_of;

    #[test]
    fn ports_come_comma_separated_or_repeated() {
        assert_eq!(ports_of("&ports=80%2C1234"), Ok(vec![80, 1234]));
        assert_eq!(ports_of("ports=8080&ports=9090"), Ok(vec![8080, 9090]));
        assert!(ports_of("ports=0").is_err());
        assert!(ports_of("").is_err());
    }
}
