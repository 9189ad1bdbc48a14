//! The simulated scheduler + kubelet: binds pods, writes pod status by image tag, posts the
//! kubelet/scheduler Events, keeps container logs, finishes pod deletion.

use crate::store::{ApiError, State, res, status_error};
use crate::util::{self, name_of, ns_of, uid_of};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What a container does, chosen by its image tag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Behavior {
    Normal,
    Slow(u64),
    Missing,
    PullDenied,
    Crash,
    Oom,
    BadConfig,
    Unschedulable,
    Unready,
    NeverPull,
    InvalidName(String),
}

/// Checks an image reference like the container runtime's parser; `Err` is the parse error.
fn parse_reference(image: &str) -> Result<(), String> {
    // `repo:tag@sha256:…` is valid: the digest decides, the tag is kept for people.
    let named = image.rsplit_once('@').map_or(image, |(n, _)| n);
    let last_slash = named.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match named[last_slash..].rfind(':') {
        Some(c) => (&named[..last_slash + c], Some(&named[last_slash + c + 1..])),
        None => (named, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err("invalid reference format".into());
        }
    }
    if name.is_empty() {
        return Err("invalid reference format".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        parts.remove(0);
    }
    for p in parts {
        if p.chars().any(|c| c.is_ascii_uppercase()) {
            return Err("invalid reference format: repository name must be lowercase".into());
        }
        let ok = !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && p.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err("invalid reference format".into());
        }
    }
    Ok(())
}

pub(crate) fn behavior(image: &str) -> Behavior {
    if let Err(e) = parse_reference(image) {
        return Behavior::InvalidName(e);
    }
    let last = image.rsplit('/').next().unwrap_or_default();
    let tag = if image.contains('@') {
        ""
    } else {
        last.rsplit_once(':').map(|(_, t)| t).unwrap_or_default()
    };
    match tag {
        "missing" => Behavior::Missing,
        "pull-denied" => Behavior::PullDenied,
        "crash" => Behavior::Crash,
        "oom" => Behavior::Oom,
        "badconfig" => Behavior::BadConfig,
        "unschedulable" => Behavior::Unschedulable,
        "unready" => Behavior::Unready,
        "neverpull" => Behavior::NeverPull,
        t => match t.strip_prefix("slow-").and_then(|ms| ms.parse().ok()) {
            Some(ms) => Behavior::Slow(ms),
            None => Behavior::Normal,
        },
    }
}

fn image_without_tag(image: &str) -> &str {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(c) => &image[..last_slash + c],
        None => image.split('@').next().unwrap_or(image),
    }
}

fn pull_not_found(image: &str) -> String {
    format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found (registry answered 404 MANIFEST_UNKNOWN: manifest unknown)"
    )
}

fn pull_denied(image: &str) -> String {
    let repo = image_without_tag(image);
    let (host, path) = repo.split_once('/').unwrap_or(("docker.io", repo));
    format!(
        "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://{host}/token?scope=repository%3A{path}%3Apull&service={host}: 401 Unauthorized"
    )
}

const BADCONFIG_SECRET: &str = "app-secrets";

#[derive(Debug, Clone)]
enum CState {
    Waiting(String, Option<String>),
    Running(String),
    Terminated {
        exit: i64,
        reason: String,
        started: String,
        finished: String,
        cid: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Ctr {
    name: String,
    image: String,
    pull_always: bool,
    behavior: Behavior,
    init: bool,
    state: CState,
    last: Option<CState>,
    restarts: u32,
    ready: bool,
    started: bool,
    cid: Option<String>,
    image_id: String,
    /// Log lines of every instance (the last one is the current).
    instances: Vec<Vec<String>>,
    phase: u8,
    next_at: Option<Instant>,
    backoff_step: u32,
    ran: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Unbound,
    Unschedulable,
    Bound,
    Running,
}

#[derive(Debug, Clone)]
pub(crate) struct PodRt {
    created: Instant,
    stage: Stage,
    next_at: Instant,
    init: Vec<Ctr>,
    app: Vec<Ctr>,
    deleting: Option<Instant>,
    ip: String,
    host_ip: String,
    node: String,
    start_time: String,
}

fn new_ctr(c: &Value, init: bool) -> Ctr {
    let image = util::s(c, "/image").unwrap_or_default().to_string();
    Ctr {
        name: util::s(c, "/name").unwrap_or_default().to_string(),
        pull_always: util::s(c, "/imagePullPolicy") == Some("Always"),
        behavior: behavior(&image),
        image,
        init,
        state: CState::Waiting(
            if init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            }
            .into(),
            None,
        ),
        last: None,
        restarts: 0,
        ready: false,
        started: false,
        cid: None,
        image_id: String::new(),
        instances: Vec::new(),
        phase: 0,
        next_at: None,
        backoff_step: 0,
        ran: false,
    }
}

fn state_json(s: &CState) -> Value {
    match s {
        CState::Waiting(r, m) => {
            let mut w = json!({"reason": r});
            if let Some(m) = m {
                w["message"] = m.clone().into();
            }
            json!({"waiting": w})
        }
        CState::Running(at) => json!({"running": {"startedAt": at}}),
        CState::Terminated {
            exit,
            reason,
            started,
            finished,
            cid,
        } => json!({"terminated": {
            "exitCode": exit, "reason": reason, "startedAt": started, "finishedAt": finished, "containerID": cid
        }}),
    }
}

/// A pending kubelet Event: (type, reason, message, fieldPath).
type Ev = (&'static str, &'static str, String, Option<String>);

fn log_line(name: &str, text: &str) -> String {
    format!("{} {name}: {text}", util::now_str())
}

impl Ctr {
    fn field_path(&self) -> Option<String> {
        Some(format!(
            "spec.{}{{{}}}",
            if self.init {
                "initContainers"
            } else {
                "containers"
            },
            self.name
        ))
    }

    fn start_instance(&mut self, rng: &mut util::Rng, evs: &mut Vec<Ev>) {
        let fp = self.field_path();
        if self.instances.is_empty() {
            if self.pull_always {
                evs.push((
                    "Normal",
                    "Pulling",
                    format!("Pulling image \"{}\"", self.image),
                    fp.clone(),
                ));
                evs.push((
                    "Normal",
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{}\" in 1.012s (1.012s including waiting)",
                        self.image
                    ),
                    fp.clone(),
                ));
            } else {
                evs.push((
                    "Normal",
                    "Pulled",
                    format!(
                        "Container image \"{}\" already present on machine",
                        self.image
                    ),
                    fp.clone(),
                ));
            }
        }
        evs.push((
            "Normal",
            "Created",
            format!("Created container {}", self.name),
            fp.clone(),
        ));
        evs.push((
            "Normal",
            "Started",
            format!("Started container {}", self.name),
            fp,
        ));
        let cid = format!("containerd://{}", rng.hex(64));
        self.cid = Some(cid);
        if self.image_id.is_empty() {
            // Not resolved at binding (a pod the kubelet never bound): what the tag gives.
            self.image_id = format!(
                "{}@sha256:{}",
                crate::images::repository(&self.image),
                crate::images::fixed_digest(&self.image)
            );
        }
        self.state = CState::Running(util::now_str());
        self.started = true;
        self.ran = true;
        let n = self.instances.len() + 1;
        let name = self.name.clone();
        let mut lines = vec![
            log_line(&name, &format!("starting {} (instance {n})", self.image)),
            log_line(&name, "reading configuration"),
        ];
        match self.behavior {
            Behavior::Crash | Behavior::Oom => {}
            Behavior::Unready => {
                lines.push(log_line(&name, "listening on :8080"));
                lines.push(log_line(
                    &name,
                    "WARN dependency check failing: /healthz answers 503",
                ));
            }
            _ if self.init => lines.push(log_line(&name, "init done")),
            _ => lines.push(log_line(&name, "listening on :8080")),
        }
        self.instances.push(lines);
    }

    fn terminate(&mut self, exit: i64, reason: &str) {
        let started = match &self.state {
            CState::Running(at) => at.clone(),
            _ => util::now_str(),
        };
        let name = self.name.clone();
        if let Some(cur) = self.instances.last_mut() {
            match self.behavior {
                Behavior::Crash => {
                    cur.push(format!(
                        "{} ERROR {name}: DATABASE_URL is not set",
                        util::now_str()
                    ));
                    cur.push(format!(
                        "{} FATAL {name}: exiting with code 1",
                        util::now_str()
                    ));
                }
                Behavior::Oom => {
                    cur.push(log_line(&name, "loading cache into memory"));
                    cur.push(format!(
                        "{} fatal error: runtime: out of memory",
                        util::now_str()
                    ));
                }
                _ => {}
            }
        }
        self.state = CState::Terminated {
            exit,
            reason: reason.into(),
            started,
            finished: util::now_str(),
            cid: self.cid.clone().unwrap_or_default(),
        };
        self.started = false;
        self.ready = false;
    }

    /// Advances this container one step; returns whether its status changed.
    fn step(
        &mut self,
        now: Instant,
        rt_created: Instant,
        ready_after: Duration,
        pod_ref: &str,
        rng: &mut util::Rng,
        evs: &mut Vec<Ev>,
    ) -> bool {
        let fp = self.field_path();
        let backoff = |step: u32| Duration::from_millis((1000u64 << step.min(3)).min(5000));
        match (self.behavior.clone(), self.phase) {
            (Behavior::Missing | Behavior::PullDenied, 0) => {
                let msg = if self.behavior == Behavior::Missing {
                    pull_not_found(&self.image)
                } else {
                    pull_denied(&self.image)
                };
                evs.push((
                    "Normal",
                    "Pulling",
                    format!("Pulling image \"{}\"", self.image),
                    fp.clone(),
                ));
                evs.push((
                    "Warning",
                    "Failed",
                    format!("Failed to pull image \"{}\": {msg}", self.image),
                    fp.clone(),
                ));
                evs.push(("Warning", "Failed", "Error: ErrImagePull".into(), fp));
                self.state = CState::Waiting("ErrImagePull".into(), Some(msg));
                self.phase = 1;
                self.next_at = Some(now + Duration::from_millis(100));
            }
            (Behavior::Missing | Behavior::PullDenied, _) => {
                let msg = if self.behavior == Behavior::Missing {
                    pull_not_found(&self.image)
                } else {
                    pull_denied(&self.image)
                };
                evs.push((
                    "Normal",
                    "BackOff",
                    format!("Back-off pulling image \"{}\"", self.image),
                    fp.clone(),
                ));
                evs.push(("Warning", "Failed", "Error: ImagePullBackOff".into(), fp));
                self.state = CState::Waiting(
                    "ImagePullBackOff".into(),
                    Some(format!(
                        "Back-off pulling image \"{}\": ErrImagePull: {msg}",
                        self.image
                    )),
                );
                self.phase = 0;
                self.next_at = Some(now + backoff(self.backoff_step));
                self.backoff_step += 1;
            }
            (Behavior::BadConfig, _) => {
                if self.phase == 0 {
                    evs.push((
                        "Normal",
                        "Pulled",
                        format!(
                            "Container image \"{}\" already present on machine",
                            self.image
                        ),
                        fp.clone(),
                    ));
                }
                evs.push((
                    "Warning",
                    "Failed",
                    format!("Error: secret \"{BADCONFIG_SECRET}\" not found"),
                    fp,
                ));
                self.state = CState::Waiting(
                    "CreateContainerConfigError".into(),
                    Some(format!("secret \"{BADCONFIG_SECRET}\" not found")),
                );
                self.phase = 1;
                self.next_at = Some(now + Duration::from_secs(1));
            }
            (Behavior::NeverPull, _) => {
                let msg = format!(
                    "Container image \"{}\" is not present with pull policy of Never",
                    self.image
                );
                evs.push(("Warning", "ErrImageNeverPull", msg.clone(), fp.clone()));
                evs.push(("Warning", "Failed", "Error: ErrImageNeverPull".into(), fp));
                self.state = CState::Waiting("ErrImageNeverPull".into(), Some(msg));
                self.phase = 1;
                self.next_at = Some(now + Duration::from_secs(1));
            }
            (Behavior::InvalidName(err), _) => {
                let msg = format!(
                    "Failed to apply default image tag \"{}\": couldn't parse image reference \"{}\": {err}",
                    self.image, self.image
                );
                evs.push(("Warning", "InspectFailed", msg.clone(), fp.clone()));
                evs.push(("Warning", "Failed", "Error: InvalidImageName".into(), fp));
                self.state = CState::Waiting("InvalidImageName".into(), Some(msg));
                self.phase = 1;
                self.next_at = Some(now + Duration::from_secs(1));
            }
            (Behavior::Crash | Behavior::Oom, 0) => {
                self.start_instance(rng, evs);
                self.phase = 1;
                self.next_at = Some(now + Duration::from_millis(100));
            }
            (Behavior::Crash | Behavior::Oom, 1) => {
                if self.behavior == Behavior::Oom {
                    self.terminate(137, "OOMKilled");
                } else {
                    self.terminate(1, "Error");
                }
                if self.restarts == 0 {
                    self.phase = 2;
                    self.next_at = Some(now + Duration::from_millis(100));
                } else {
                    self.phase = 3;
                    self.next_at = Some(now + Duration::from_millis(50));
                }
            }
            (Behavior::Crash | Behavior::Oom, 2) => {
                self.last = Some(self.state.clone());
                self.restarts += 1;
                self.start_instance(rng, evs);
                self.phase = 1;
                self.next_at = Some(now + Duration::from_millis(100));
            }
            (Behavior::Crash | Behavior::Oom, _) => {
                self.last = Some(self.state.clone());
                let secs = 10u64 << (self.restarts.saturating_sub(1)).min(5);
                self.state = CState::Waiting(
                    "CrashLoopBackOff".into(),
                    Some(format!(
                        "back-off {}s restarting failed container",
                        secs.min(300)
                    )),
                );
                evs.push((
                    "Warning",
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {} in pod {pod_ref}",
                        self.name
                    ),
                    fp,
                ));
                self.phase = 2;
                self.next_at = Some(now + backoff(self.restarts.saturating_sub(1)));
            }
            (_, 0) => {
                self.start_instance(rng, evs);
                self.phase = 1;
                if self.init {
                    self.next_at = Some(now + Duration::from_millis(40));
                } else if self.behavior == Behavior::Unready {
                    self.next_at = Some(now + Duration::from_millis(100));
                } else {
                    let ready_after = match self.behavior {
                        Behavior::Slow(ms) => Duration::from_millis(ms),
                        _ => ready_after,
                    };
                    let at = (rt_created + ready_after).max(now + Duration::from_millis(5));
                    self.next_at = Some(at);
                }
            }
            (Behavior::Unready, _) => {
                evs.push((
                    "Warning",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                    fp,
                ));
                self.next_at = Some(now + Duration::from_millis(300));
            }
            (_, _) => {
                if self.init {
                    self.terminate(0, "Completed");
                    self.ready = true;
                } else {
                    self.ready = true;
                }
                self.next_at = None;
            }
        }
        true
    }

    fn status_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "state": state_json(&self.state),
            "lastState": self.last.as_ref().map(state_json).unwrap_or_else(|| json!({})),
            "ready": self.ready,
            "restartCount": self.restarts,
            "image": self.image,
            "imageID": self.image_id,
            "started": self.started,
        });
        if let Some(c) = &self.cid {
            v["containerID"] = c.clone().into();
        }
        v
    }
}

/// Records an Event like client-go's recorder: identical events are aggregated (count++).
#[expect(
    clippy::too_many_arguments,
    reason = "test-server plumbing mirrors the object fields it builds"
)]
pub(crate) fn record_event(
    st: &mut State,
    involved: &Value,
    field_path: Option<&str>,
    typ: &str,
    reason: &str,
    message: &str,
    component: &str,
    host: Option<&str>,
) {
    let rd_kind = util::s(involved, "/kind").unwrap_or_default().to_string();
    let ns = ns_of(involved);
    let name = name_of(involved);
    let uid = uid_of(involved);
    // client-go's EventAggregator: more than 10 distinct messages for the same
    // (source, object, type, reason) within 10 minutes are combined into one event.
    let agg_key = format!(
        "{component}\u{0}{uid}\u{0}{}\u{0}{typ}\u{0}{reason}",
        field_path.unwrap_or("")
    );
    let seen = st.event_aggregates.entry(agg_key.clone()).or_default();
    seen.insert(message.to_string());
    let combined;
    let (key, message) = if seen.len() < 10 {
        (format!("{agg_key}\u{0}{message}"), message)
    } else {
        if let Some(any) = seen.iter().find(|m| m.as_str() != message).cloned() {
            seen.remove(&any);
        }
        combined = format!("(combined from similar events): {message}");
        (agg_key, combined.as_str())
    };
    let now = util::now_str();
    let evres = res("events");
    if let Some((ens, ename)) = st.event_keys.get(&key).cloned()
        && let Some(mut e) = st.get_cloned(evres, &ens, &ename)
    {
        let count = util::i(&e, "/count").unwrap_or(1) + 1;
        e["count"] = count.into();
        e["message"] = message.into();
        e["lastTimestamp"] = now.into();
        st.replace(evres, e);
        return;
    }
    let ns = if ns.is_empty() {
        "default".to_string()
    } else {
        ns
    };
    let nanos = (util::now_unix() * 1e9) as u64 + st.rng.next() % 1000;
    let ename = format!("{name}.{nanos:x}");
    let mut io = json!({
        "kind": rd_kind,
        "namespace": ns,
        "name": name,
        "uid": uid,
        "apiVersion": util::s(involved, "/apiVersion").unwrap_or("v1"),
    });
    if component != "kubelet" && component != "default-scheduler" {
        io["resourceVersion"] = util::s(involved, "/metadata/resourceVersion")
            .unwrap_or_default()
            .into();
    }
    if let Some(fp) = field_path {
        io["fieldPath"] = fp.into();
    }
    let mut source = json!({"component": component});
    if let Some(h) = host {
        source["host"] = h.into();
    }
    let (rc, ri) = match component {
        "kubelet" => ("kubelet", host.unwrap_or_default()),
        "default-scheduler" => ("default-scheduler", ""),
        _ => ("", ""),
    };
    let ev = json!({
        "metadata": {"name": ename, "namespace": ns},
        "involvedObject": io,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": typ,
        "eventTime": null,
        "reportingComponent": rc,
        "reportingInstance": ri,
    });
    st.insert(evres, ev, "");
    st.event_keys.insert(key, (ns, ename));
}

fn node_for(st: &State, pod: &Value) -> String {
    if let Some(n) = util::s(pod, "/spec/nodeName").filter(|n| !n.is_empty()) {
        return n.to_string();
    }
    if let Some(terms) = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
    {
        for t in terms {
            for f in t["matchFields"].as_array().into_iter().flatten() {
                if f["key"] == "metadata.name"
                    && let Some(v) = f["values"][0].as_str()
                {
                    return v.to_string();
                }
            }
        }
    }
    let nodes = st.list(res("nodes"), None);
    nodes
        .iter()
        .map(name_of)
        .min_by_key(|n| {
            st.scan(res("pods"), None)
                .filter(|p| util::s(p, "/spec/nodeName") == Some(n.as_str()))
                .count()
        })
        .unwrap_or_else(|| "fake-node-1".into())
}

fn host_ip(node: &str) -> String {
    let n: u32 = node
        .rsplit('-')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(1);
    format!("127.0.0.{n}")
}

/// One pass of the kubelet over the pods stored at `keys` (gone ones are skipped); returns the
/// time of its next due step.
pub(crate) fn tick(st: &mut State, keys: &[crate::store::Key]) -> Option<Instant> {
    let now = Instant::now();
    let pods: Vec<Value> = keys
        .iter()
        .filter_map(|key| st.objects.get(key).cloned())
        .collect();
    let mut next: Option<Instant> = None;
    let mut bump = |t: Instant| {
        next = Some(next.map_or(t, |n: Instant| n.min(t)));
    };
    for pod in pods {
        let uid = uid_of(&pod);
        if !st.kubelet.contains_key(&uid) {
            let init = pod["spec"]["initContainers"]
                .as_array()
                .map(|a| a.iter().map(|c| new_ctr(c, true)).collect())
                .unwrap_or_default();
            let app = pod["spec"]["containers"]
                .as_array()
                .map(|a| a.iter().map(|c| new_ctr(c, false)).collect())
                .unwrap_or_default();
            st.kubelet.insert(
                uid.clone(),
                PodRt {
                    created: now,
                    stage: Stage::Unbound,
                    next_at: now + Duration::from_millis(10),
                    init,
                    app,
                    deleting: None,
                    ip: String::new(),
                    host_ip: String::new(),
                    node: String::new(),
                    start_time: String::new(),
                },
            );
        }
        let Some(mut rt) = st.kubelet.get(&uid).cloned() else {
            continue;
        };
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            let due = *rt.deleting.get_or_insert(now + Duration::from_millis(40));
            if now >= due {
                let mut p = pod.clone();
                p["metadata"]["deletionTimestamp"] = util::now_str().into();
                p["metadata"]["deletionGracePeriodSeconds"] = 0.into();
                st.replace(res("pods"), p);
                st.remove(res("pods"), &ns_of(&pod), &name_of(&pod));
                continue;
            }
            bump(due);
            st.kubelet.insert(uid, rt);
            continue;
        }
        let mut changed = false;
        let mut evs: Vec<Ev> = Vec::new();
        let mut sched_events: Vec<(&str, &str, String)> = Vec::new();
        let mut p = pod.clone();
        match rt.stage {
            Stage::Unbound if now >= rt.next_at => {
                if rt
                    .app
                    .iter()
                    .chain(rt.init.iter())
                    .any(|c| c.behavior == Behavior::Unschedulable)
                {
                    let n = st.list(res("nodes"), None).len().max(1);
                    let msg = format!(
                        "0/{n} nodes are available: {n} Insufficient cpu. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."
                    );
                    p["status"]["conditions"] = json!([{
                        "type": "PodScheduled", "status": "False", "lastProbeTime": null,
                        "lastTransitionTime": util::now_str(), "reason": "Unschedulable", "message": msg
                    }]);
                    sched_events.push(("Warning", "FailedScheduling", msg));
                    rt.stage = Stage::Unschedulable;
                } else {
                    let node = node_for(st, &pod);
                    p["spec"]["nodeName"] = node.clone().into();
                    p["status"]["conditions"] = json!([{
                        "type": "PodScheduled", "status": "True", "lastProbeTime": null,
                        "lastTransitionTime": util::now_str()
                    }]);
                    sched_events.push((
                        "Normal",
                        "Scheduled",
                        format!(
                            "Successfully assigned {}/{} to {node}",
                            ns_of(&pod),
                            name_of(&pod)
                        ),
                    ));
                    rt.host_ip = host_ip(&node);
                    rt.node = node;
                    rt.stage = Stage::Bound;
                    rt.next_at = now + Duration::from_millis(8);
                    bump(rt.next_at);
                }
                changed = true;
            }
            Stage::Bound if now >= rt.next_at => {
                st.rng.next();
                let n = 2 + (st.rv % 250);
                rt.ip = format!("10.244.0.{n}");
                rt.start_time = util::now_str();
                rt.stage = Stage::Running;
                // What each container runs is decided by the pull at binding (images.rs).
                for c in rt.init.iter_mut().chain(rt.app.iter_mut()) {
                    c.image_id = st.images.resolve(&rt.node, &c.image, c.pull_always);
                }
                let first = now + Duration::from_millis(25);
                if let Some(c) = rt.init.first_mut() {
                    c.next_at = Some(first);
                } else {
                    for c in &mut rt.app {
                        c.next_at = Some(first);
                    }
                }
                changed = true;
            }
            Stage::Running => {
                let pod_ref = format!("{}_{}({})", name_of(&pod), ns_of(&pod), uid);
                let ready_after = st.cfg.pod_ready_after;
                let mut rng = util::Rng::new();
                let init_done_before = rt.init.iter().all(|c| c.ready);
                if let Some(c) = rt.init.iter_mut().find(|c| !c.ready)
                    && c.next_at.is_some_and(|t| now >= t)
                {
                    changed |= c.step(now, rt.created, ready_after, &pod_ref, &mut rng, &mut evs);
                }
                if !init_done_before && rt.init.iter().all(|c| c.ready) {
                    for c in &mut rt.app {
                        c.next_at = Some(now + Duration::from_millis(20));
                        c.state = CState::Waiting("ContainerCreating".into(), None);
                    }
                    changed = true;
                }
                if rt.init.iter().all(|c| c.ready) {
                    for c in &mut rt.app {
                        if c.next_at.is_some_and(|t| now >= t) {
                            changed |=
                                c.step(now, rt.created, ready_after, &pod_ref, &mut rng, &mut evs);
                        }
                    }
                }
            }
            _ => {}
        }
        if rt.stage == Stage::Running {
            for c in rt.init.iter().chain(rt.app.iter()) {
                if let Some(t) = c.next_at
                    && (!c.init || !c.ready)
                {
                    bump(t);
                }
            }
        } else if rt.stage != Stage::Unschedulable {
            bump(rt.next_at);
        }
        if changed {
            if rt.stage == Stage::Running {
                write_status(&mut p, &rt);
            }
            let p = st.replace(res("pods"), p);
            for (typ, reason, msg) in sched_events {
                record_event(st, &p, None, typ, reason, &msg, "default-scheduler", None);
            }
            for (typ, reason, msg, fp) in evs {
                record_event(
                    st,
                    &p,
                    fp.as_deref(),
                    typ,
                    reason,
                    &msg,
                    "kubelet",
                    Some(&rt.node),
                );
            }
        }
        st.kubelet.insert(uid, rt);
    }
    next
}

fn cond(old: &Value, typ: &str, ok: bool, reason: Option<&str>, msg: Option<String>) -> Value {
    let status = if ok { "True" } else { "False" };
    let prev = old["status"]["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == typ));
    let ltt = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => util::now_str().into(),
    };
    let mut c =
        json!({"type": typ, "status": status, "lastProbeTime": null, "lastTransitionTime": ltt});
    if let Some(r) = reason {
        c["reason"] = r.into();
    }
    if let Some(m) = msg {
        c["message"] = m.into();
    }
    c
}

fn write_status(p: &mut Value, rt: &PodRt) {
    let init_done = rt.init.iter().all(|c| c.ready);
    let unready: Vec<&str> = rt
        .app
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let incomplete: Vec<&str> = rt
        .init
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let all_ready = unready.is_empty() && init_done;
    let not_ready_msg = format!("containers with unready status: [{}]", unready.join(" "));
    let initialized = if init_done {
        cond(p, "Initialized", true, None, None)
    } else {
        cond(
            p,
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            )),
        )
    };
    let ready_c = |t: &str| {
        if all_ready {
            cond(p, t, true, None, None)
        } else {
            cond(
                p,
                t,
                false,
                Some("ContainersNotReady"),
                Some(not_ready_msg.clone()),
            )
        }
    };
    let conditions = json!([
        initialized,
        ready_c("Ready"),
        ready_c("ContainersReady"),
        cond(p, "PodScheduled", true, None, None),
    ]);
    let phase = if init_done && rt.app.iter().any(|c| c.ran) {
        "Running"
    } else {
        "Pending"
    };
    let mut app: Vec<&Ctr> = rt.app.iter().collect();
    app.sort_by(|a, b| a.name.cmp(&b.name));
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": rt.host_ip,
        "podIP": rt.ip,
        "podIPs": [{"ip": rt.ip}],
        "startTime": rt.start_time,
        "containerStatuses": app.iter().map(|c| {
            let mut s = c.status_json();
            if !init_done {
                s["state"] = json!({"waiting": {"reason": "PodInitializing"}});
            }
            s
        }).collect::<Vec<_>>(),
        "qosClass": "BestEffort",
    });
    if !rt.init.is_empty() {
        status["initContainerStatuses"] = rt.init.iter().map(Ctr::status_json).collect();
    }
    p["status"] = status;
}

/// `GET pods/{name}/log`: the text, or the apiserver/kubelet error.
pub(crate) fn logs(
    st: &State,
    ns: &str,
    name: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<Option<String>, ApiError> {
    let pod = st
        .get(res("pods"), ns, name)
        .ok_or_else(|| ApiError::not_found(res("pods"), name))?;
    let app: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let init: Vec<String> = pod["spec"]["initContainers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None if app.len() == 1 => app[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                app.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(ApiError::bad_request(&msg));
        }
    };
    if !app.contains(&container) && !init.contains(&container) {
        return Err(ApiError::bad_request(&format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    if util::s(pod, "/spec/nodeName").is_none_or(str::is_empty) {
        return Ok(None);
    }
    let rt = st.kubelet.get(&uid_of(pod));
    let ctr = rt.and_then(|rt| {
        rt.init
            .iter()
            .chain(rt.app.iter())
            .find(|c| c.name == container)
    });
    let previous = matches!(q.get("previous").map(String::as_str), Some("true" | "1"));
    let lines: Vec<String> = match ctr {
        None => {
            return Err(status_error(
                400,
                "BadRequest",
                &format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
                ),
                None,
            ));
        }
        Some(c) if previous => {
            if c.instances.len() < 2 {
                return Err(ApiError::bad_request(&format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                )));
            }
            c.instances[c.instances.len() - 2].clone()
        }
        Some(c) => match (&c.state, c.instances.last()) {
            (CState::Waiting(reason, _), None) => {
                return Err(ApiError::bad_request(&format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
                )));
            }
            (_, Some(l)) => l.clone(),
            (_, None) => Vec::new(),
        },
    };
    let mut lines = lines;
    if let Some(n) = q.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines = lines.split_off(skip);
    }
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if let Some(n) = q.get("limitBytes").and_then(|t| t.parse::<usize>().ok()) {
        text.truncate(n);
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(behavior("registry.local/auth:1.0.0"), Behavior::Normal);
        assert_eq!(behavior("registry.local/auth:missing"), Behavior::Missing);
        assert_eq!(behavior("localhost:5000/auth:crash"), Behavior::Crash);
        assert_eq!(
            behavior("registry.local/auth:slow-500"),
            Behavior::Slow(500)
        );
        assert!(matches!(
            behavior("registry.local/Auth:1"),
            Behavior::InvalidName(_)
        ));
        assert!(matches!(
            behavior("registry.local/auth:bad tag"),
            Behavior::InvalidName(_)
        ));
        assert_eq!(behavior("nginx"), Behavior::Normal);
    }
}
