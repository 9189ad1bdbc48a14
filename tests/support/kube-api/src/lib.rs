//! A test Kubernetes API server for shipgate's tests.
//!
//! [`KubeApi::start`] runs a plain-HTTP server on `127.0.0.1:<random port>` on its own thread
//! (with its own tokio runtime), so synchronous tests that spawn the shipgate binary or
//! `kubectl` can use it. It answers with the real REST paths, JSON shapes, `Status` errors and
//! watch framing of a Kubernetes 1.24 apiserver (the captures in `fixtures/` and the
//! `k8s-api` data set), and it simulates the controllers a deploy depends on: Deployment,
//! ReplicaSet, StatefulSet, DaemonSet, garbage collection, namespace deletion, plus a
//! scheduler + kubelet.
//!
//! # Pod behaviour by image tag
//! The simulated kubelet decides what a container does from its image tag:
//!
//! | tag | behaviour |
//! |---|---|
//! | anything else | Running at once, Ready `pod_ready_after` (default 150 ms) after the pod was created |
//! | `:slow-<ms>` | Ready `<ms>` milliseconds after the pod was created |
//! | `:missing` | `ErrImagePull` with containerd's "not found … manifest unknown" message, then `ImagePullBackOff`, alternating with a growing back-off (1 s, 2 s, 4 s, 5 s…) |
//! | `:pull-denied` | the same cycle with an auth failure (`401 Unauthorized`, no "not found") |
//! | `:crash` | runs ~100 ms, exits 1 (`Error`), restarts once at once, then `CrashLoopBackOff` ("back-off 10s/20s… restarting failed container") with `restartCount` growing and `lastState.terminated` set |
//! | `:oom` | like `:crash` but terminated `OOMKilled`, exit code 137 |
//! | `:badconfig` | `CreateContainerConfigError`, message `secret "app-secrets" not found` |
//! | `:unschedulable` | never bound: `PodScheduled=False` reason `Unschedulable` + a `FailedScheduling` event |
//! | `:unready` | Running but never Ready; `Unhealthy` Warning events "Readiness probe failed: HTTP probe failed with statuscode: 503" |
//! | `:neverpull` | `ErrImageNeverPull` |
//! | invalid reference (uppercase repository, bad tag characters) | `InvalidImageName` |
//!
//! A container's `imageID` is `repo@sha256:…` of what it runs, as a real kubelet reports it:
//! the pinned digest of `repo@sha256:…`; with `IfNotPresent` and the tag cached on the node
//! ([`KubeApi::cache_image_on_node`]) the cached image; else what the registry serves for the
//! tag ([`KubeApi::push_image`], else a fixed digest derived from the reference).
//!
//! Init containers run one after the other before the app containers (a default image
//! completes with exit 0 after ~40 ms; the failure tags above work there too).
//!
//! Pod-level Events (Scheduled, Pulling, Pulled, Created, Started, Failed, BackOff, Unhealthy,
//! …) are created like the real kubelet/scheduler would, aggregated (`count`) when repeated.
//! Each container instance keeps a few log lines (`starting <image> (instance N)`,
//! `reading configuration`, `listening on :8080`; crashing ones end with
//! `ERROR …: DATABASE_URL is not set` / `FATAL …: exiting with code 1`), served at
//! `pods/{name}/log` with `container`, `tailLines`, `previous`, `limitBytes` and the real
//! 400/404/204 answers.
//!
//! Timing is compressed (steps of tens of ms) but the order of the status writes is the real
//! one, so a watch sees every intermediate state. `progressDeadlineSeconds` is *not* scaled.
//!
//! # Connecting
//! * [`KubeApi::url`] is plain HTTP; [`KubeApi::kubeconfig_yaml`] points at it (kube-rs sends
//!   the bearer token over plain HTTP).
//! * kubectl/client-go never send credentials over plain HTTP (they would be
//!   `system:anonymous`), so for kubectl use [`KubeApi::kubeconfig_yaml_tls`]: the same
//!   server on [`KubeApi::https_url`] with a fixed self-signed certificate for 127.0.0.1,
//!   embedded as `certificate-authority-data`.
//! * Tokens: [`KubeApi::ADMIN_TOKEN`] (user "admin", may do anything); more users with
//!   [`KubeApi::add_user`]; no token = `system:anonymous` (403 on everything but `/version`);
//!   an unknown token = 401.
//!
//! # Port-forward
//! `pods/{name}/portforward` is served as a WebSocket with kube-rs's binary channel protocol
//! `v4.channel.k8s.io` (see `portforward.rs`); [`KubeApi::serve_pods`] says what a pod answers
//! on a port (healthy, a status, stalled), [`KubeApi::pod_requests`] what it was asked.
//! kubectl's SPDY (tunnelled over a WebSocket, or plain) is refused with a Status naming it.
//!
//! # Counting
//! [`KubeApi::counts`] says what clients cost the server: requests by verb and resource,
//! watches started per namespace and resource, watches and connections open now and at peak,
//! the `User-Agent`s seen ([`KubeApi::reset_counts`] starts afresh after a test's setup). Tests
//! assert the shape of a deploy with it (O(namespaces), not O(services)); `scripts/bench-deploy
//! -- --scale` reports it.
//!
//! # Example
//! ```no_run
//! use kube_test_api::{KubeApi, deployment};
//! use std::time::Duration;
//! let api = KubeApi::start();
//! api.create_namespace("shop");
//! api.create(deployment("shop", "auth").image("auth", "registry.local/auth:1.0.0").replicas(3).build());
//! assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(10)));
//! let kubeconfig = api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop"));
//! # let _ = kubeconfig;
//! ```

mod api;
mod apply;
mod builders;
mod controllers;
mod counting;
mod custom;
mod defaults;
mod faults;
mod fields;
mod images;
mod jobs;
mod kubelet;
mod patch;
mod portforward;
mod selector;
mod spdy;
mod store;
mod table;
mod tls;
mod util;
mod workloads;

pub use builders::{
    DaemonSetBuilder, DeploymentBuilder, StatefulSetBuilder, daemon_set, deployment, stateful_set,
};
pub use counting::Counts;
pub use faults::Fault;
pub use portforward::{PodReply, PodRequest, PodSelector};
pub use store::RecordedRequest;

use api::Shared;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::{Config, State, User, res};

/// A running test API server. Dropping it stops the server.
pub struct KubeApi {
    shared: Arc<Shared>,
    port: u16,
    tls_port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Options for [`KubeApi`].
#[derive(Debug, Clone)]
pub struct KubeApiBuilder {
    pod_ready_after: Duration,
    nodes: usize,
}

impl KubeApiBuilder {
    /// How long after creation a default pod becomes Ready (default 150 ms).
    pub fn pod_ready_after(mut self, d: Duration) -> Self {
        self.pod_ready_after = d;
        self
    }

    /// Number of nodes `fake-node-1..n` (default 1; a DaemonSet runs one pod per node).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n.max(1);
        self
    }

    /// Starts the server.
    pub fn build(self) -> KubeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind a loopback port for the test API server");
        let port = listener
            .local_addr()
            .expect("a bound listener has an address")
            .port();
        listener
            .set_nonblocking(true)
            .expect("set the listener non-blocking");
        let tls_listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind a loopback port for the TLS listener");
        let tls_port = tls_listener
            .local_addr()
            .expect("a bound listener has an address")
            .port();
        tls_listener
            .set_nonblocking(true)
            .expect("set the listener non-blocking");
        let mut st = State::new(Config {
            pod_ready_after: self.pod_ready_after,
        });
        st.users.insert(
            KubeApi::ADMIN_TOKEN.to_string(),
            User {
                name: "admin".into(),
                admin: true,
                allow: vec![],
            },
        );
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = api::create_object(
                &mut st,
                res("namespaces"),
                "",
                json!({"metadata": {"name": ns}}),
                "kube-apiserver",
            );
        }
        for n in 1..=self.nodes {
            let name = format!("fake-node-{n}");
            let node = json!({
                "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"
                }},
                "spec": {},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                    "addresses": [{"type": "InternalIP", "address": format!("127.0.0.{n}")}, {"type": "Hostname", "address": name}],
                    "nodeInfo": {"kubeletVersion": "v1.24.0", "containerRuntimeVersion": "containerd://1.6.4", "operatingSystem": "linux", "architecture": "amd64"}
                }
            });
            st.insert(res("nodes"), node, "kubelet");
        }
        let (kill, _) = tokio::sync::watch::channel(0u64);
        let shared = Arc::new(Shared {
            state: Mutex::new(st),
            notify: tokio::sync::Notify::new(),
            kill,
            addr: format!("127.0.0.1:{port}"),
            faults: faults::Faults::default(),
            counter: Arc::default(),
            forwards: Default::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kube-test-api-{port}"))
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let listener = counting::CountingListener::new(listener, sh.counter.clone());
                    let app = axum::Router::new()
                        .fallback(api::handle)
                        .with_state(sh.clone());
                    let counter = sh.counter.clone();
                    let ctl = tokio::spawn(controller_loop(sh));
                    let tls = tls::listener(tls_listener);
                    let tls_app = app.clone();
                    let tls_serve = async move {
                        match tls {
                            Some(l) => {
                                let l = counting::CountingListener::new(l, counter);
                                let _ = axum::serve(l, tls_app).await;
                            }
                            None => std::future::pending::<()>().await,
                        }
                    };
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = tls_serve => {}
                        _ = stop_rx => {}
                    }
                    ctl.abort();
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .expect("spawn the test API server thread");
        KubeApi {
            shared,
            port,
            tls_port,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

/// Objects a controller step handles before it lets requests in (see [`controller_loop`]).
const CONTROLLER_CHUNK: usize = 20;

/// One step of a controller pass over the objects of `plural`, `CONTROLLER_CHUNK` at a time,
/// the state lock released (and the runtime yielded to) between chunks.
async fn chunked<T>(
    shared: &Shared,
    plural: &str,
    mut step: impl FnMut(&mut State, &[store::Key]) -> T,
) -> Vec<T> {
    let keys = shared.lock().keys(res(plural));
    let mut out = Vec::new();
    for chunk in keys.chunks(CONTROLLER_CHUNK) {
        out.push(step(&mut shared.lock(), chunk));
        tokio::task::yield_now().await;
    }
    out
}

/// The simulated kubelet and controllers, pass after pass. A pass over hundreds of objects
/// takes a while (at 200 Deployments, ~180 ms in an optimized build); held in one piece it
/// made every request wait for it, so the pass goes in chunks with the state lock released
/// between them — as a real apiserver serves requests while its controllers work.
async fn controller_loop(shared: Arc<Shared>) {
    loop {
        shared.lock().dirty = false;
        let next = chunked(&shared, "pods", kubelet::tick)
            .await
            .into_iter()
            .flatten()
            .min();
        controllers::collect(&mut shared.lock());
        chunked(&shared, "deployments", controllers::deployments).await;
        chunked(&shared, "replicasets", controllers::replicasets).await;
        let dirty = {
            let mut st = shared.lock();
            workloads::reconcile(&mut st);
            custom::reconcile(&mut st);
            jobs::reconcile(&mut st);
            st.dirty
        };
        if dirty {
            tokio::time::sleep(Duration::from_millis(3)).await;
            continue;
        }
        let wait = next
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(50))
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        tokio::select! {
            _ = shared.notify.notified() => tokio::time::sleep(Duration::from_millis(5)).await,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.shared.kill.send_modify(|v| *v += 1);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl KubeApi {
    /// Bearer token of user "admin" (group system:masters: may do anything).
    pub const ADMIN_TOKEN: &'static str = "kube-test-api-admin-token";

    /// Starts a server with the defaults (1 node, pods Ready ~150 ms after creation).
    pub fn start() -> KubeApi {
        KubeApi::builder().build()
    }

    pub fn builder() -> KubeApiBuilder {
        KubeApiBuilder {
            pod_ready_after: Duration::from_millis(150),
            nodes: 1,
        }
    }

    /// "http://127.0.0.1:PORT"
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// "https://127.0.0.1:PORT": the same server over TLS (a fixed self-signed certificate for
    /// 127.0.0.1, see [`KubeApi::kubeconfig_yaml_tls`]). kubectl/client-go only send a bearer
    /// token over TLS, so kubectl needs this one.
    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.tls_port)
    }

    /// Like [`KubeApi::kubeconfig_yaml`] but for [`KubeApi::https_url`], with the server's
    /// certificate as `certificate-authority-data` (what kubectl needs).
    pub fn kubeconfig_yaml_tls(&self, token: &str, namespace: Option<&str>) -> String {
        self.kubeconfig_yaml(token, namespace).replace(
            &format!("    server: {}\n", self.url()),
            &format!(
                "    server: {}\n    certificate-authority-data: {}\n",
                self.https_url(),
                tls::CA_B64.trim()
            ),
        )
    }

    /// Adds a user with that bearer token who may do only the listed `(verb, resource)` pairs
    /// (`"*"` = any; a subresource is written `"pods/log"`). Anyone authenticated may create
    /// SelfSubjectAccessReviews and read discovery.
    pub fn add_user(&self, token: &str, user: &str, allow: &[(&str, &str)]) {
        self.shared.lock().users.insert(
            token.to_string(),
            User {
                name: user.to_string(),
                admin: false,
                allow: allow
                    .iter()
                    .map(|(v, r)| (v.to_string(), r.to_string()))
                    .collect(),
            },
        );
    }

    /// A kubeconfig (context "test", cluster "test-cluster", user "test-user").
    pub fn kubeconfig_yaml(&self, token: &str, namespace: Option<&str>) -> String {
        let ns = namespace
            .map(|n| format!("    namespace: {n}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test-cluster\n  cluster:\n    server: {}\ncontexts:\n- name: test\n  context:\n    cluster: test-cluster\n    user: test-user\n{ns}current-context: test\nusers:\n- name: test-user\n  user:\n    token: {token}\npreferences: {{}}\n",
            self.url()
        )
    }

    /// Creates an object as a POST would (namespaces included); returns the stored object.
    /// Panics with the `Status` message when the server would refuse it.
    pub fn create(&self, object: Value) -> Value {
        match self.try_create(object) {
            Ok(v) => v,
            Err(e) => panic!("kube-test-api: create refused: {e}"),
        }
    }

    /// Like [`KubeApi::create`], but returns the `Status` body on refusal.
    pub fn try_create(&self, object: Value) -> Result<Value, Value> {
        let kind = object["kind"].as_str().unwrap_or_default();
        let Some(rd) = store::res_by_kind(kind) else {
            return Err(json!({"message": format!("unknown kind {kind:?}")}));
        };
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(if rd.namespaced { "default" } else { "" })
            .to_string();
        let mut st = self.shared.lock();
        let r = api::create_object(&mut st, rd, &ns, object, "kube-test-api").map_err(|e| e.body);
        drop(st);
        self.shared.notify.notify_one();
        r
    }

    /// Creates a namespace (no error if it exists).
    pub fn create_namespace(&self, name: &str) {
        let _ = self.try_create(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        );
    }

    fn resolve(&self, path: &str) -> Option<(&'static store::ResDef, String, Option<String>)> {
        let segs: Vec<&str> = path.split(['/', '?']).filter(|s| !s.is_empty()).collect();
        let (group, version, rest) = match segs.as_slice() {
            ["api", v, rest @ ..] => ("", *v, rest.to_vec()),
            ["apis", g, v, rest @ ..] => (*g, *v, rest.to_vec()),
            _ => return None,
        };
        let (ns, rest) = match rest.as_slice() {
            ["namespaces", ns, r, tail @ ..] => (ns.to_string(), {
                let mut v = vec![*r];
                v.extend_from_slice(tail);
                v
            }),
            other => (String::new(), other.to_vec()),
        };
        let rd = store::find_res(group, version, rest.first()?)?;
        Some((rd, ns, rest.get(1).map(|s| s.to_string())))
    }

    /// The stored object at an API path, e.g. "/apis/apps/v1/namespaces/shop/deployments/auth".
    pub fn get(&self, path: &str) -> Option<Value> {
        let (rd, ns, name) = self.resolve(path)?;
        self.shared.lock().get_cloned(rd, &ns, &name?)
    }

    /// The objects of a collection path, e.g. "/api/v1/namespaces/shop/pods" (sorted by name).
    pub fn list(&self, collection_path: &str) -> Vec<Value> {
        let Some((rd, ns, _)) = self.resolve(collection_path) else {
            return vec![];
        };
        self.shared
            .lock()
            .list(rd, if ns.is_empty() { None } else { Some(&ns) })
    }

    /// Waits until the workload's rollout is complete, as `kubectl rollout status` decides
    /// (kind "Deployment", "StatefulSet" or "DaemonSet"). False on timeout, on
    /// ProgressDeadlineExceeded, or if the object does not exist at the end.
    pub fn wait_rolled_out(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
        timeout: Duration,
    ) -> bool {
        let Some(rd) = store::res_by_kind(kind) else {
            return false;
        };
        let end = Instant::now() + timeout;
        loop {
            let obj = self.shared.lock().get_cloned(rd, namespace, name);
            if let Some(o) = obj {
                match rollout_done(rd.plural, &o) {
                    Some(done) if done => return true,
                    None => return false,
                    _ => {}
                }
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Serves one request as the admin user without HTTP (not recorded in
    /// [`KubeApi::requests`]); no watches. Returns the HTTP code and the JSON body (a log
    /// text comes back as a JSON string, 204 as `null`). Example:
    /// `api.call("PATCH", "/apis/apps/v1/namespaces/shop/deployments/auth", Some("application/merge-patch+json"), r#"{"spec":{"replicas":2}}"#)`.
    pub fn call(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        api::call(&self.shared, method, path_and_query, content_type, body)
    }

    /// Requests by verb and resource, watches and connections counted so far (see
    /// [`Counts`]); [`KubeApi::call`] is not counted.
    pub fn counts(&self) -> Counts {
        self.shared.counter.snapshot()
    }

    /// Starts the counts afresh (open watches and connections stay counted as open), e.g.
    /// after a test's setup.
    pub fn reset_counts(&self) {
        self.shared.counter.reset();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Abruptly ends every open watch stream (the connection is cut, no final event).
    pub fn disconnect_watches(&self) {
        self.shared.kill.send_modify(|v| *v += 1);
    }

    /// From now on a watch from a resourceVersion older than the current one gets the
    /// `410 Expired` ERROR event ("too old resource version"), as after a compaction.
    pub fn expire_watch_history(&self) {
        let mut st = self.shared.lock();
        st.compacted = st.rv;
    }

    /// Makes matching requests fail from now on (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.shared.faults.inject(fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Makes the simulated registry serve `reference` (`repo:tag`) as `digest` (`sha256:…`):
    /// pods pulling the tag from now on run that digest (their `imageID`), like a `docker push`
    /// that moves the tag.
    pub fn push_image(&self, reference: &str, digest: &str) {
        self.shared
            .lock()
            .images
            .tags
            .insert(reference.to_string(), digest.to_string());
    }

    /// Gives `node` (e.g. `fake-node-1`) a cached image under `reference` (`repo:tag`): a
    /// container with `imagePullPolicy: IfNotPresent` started there runs `digest` whatever the
    /// registry serves now (a node with a stale cached tag).
    pub fn cache_image_on_node(&self, node: &str, reference: &str, digest: &str) {
        self.shared.lock().images.cached.insert(
            (node.to_string(), reference.to_string()),
            digest.to_string(),
        );
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().rv
    }
}

/// `Some(true)` done, `Some(false)` not yet, `None` failed (deadline exceeded).
fn rollout_done(plural: &str, o: &Value) -> Option<bool> {
    let i = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let generation = i("/metadata/generation");
    let observed = i("/status/observedGeneration");
    match plural {
        "deployments" => {
            if generation > observed {
                return Some(false);
            }
            let deadline = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|a| {
                    a.iter().any(|c| {
                        c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
                    })
                });
            if deadline {
                return None;
            }
            let spec = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let updated = i("/status/updatedReplicas");
            Some(
                updated >= spec
                    && i("/status/replicas") <= updated
                    && i("/status/availableReplicas") >= updated,
            )
        }
        "statefulsets" => {
            if observed == 0 || generation > observed {
                return Some(false);
            }
            let spec = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if i("/status/readyReplicas") < spec {
                return Some(false);
            }
            if let Some(p) = o
                .pointer("/spec/updateStrategy/rollingUpdate/partition")
                .and_then(Value::as_i64)
                && p > 0
            {
                return Some(i("/status/updatedReplicas") >= spec - p);
            }
            Some(o.pointer("/status/updateRevision") == o.pointer("/status/currentRevision"))
        }
        "daemonsets" => {
            if generation > observed {
                return Some(false);
            }
            let desired = i("/status/desiredNumberScheduled");
            Some(
                i("/status/updatedNumberScheduled") >= desired
                    && i("/status/numberAvailable") >= desired,
            )
        }
        _ => Some(true),
    }
}
