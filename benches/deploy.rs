//! The deploy benchmark; `scripts/bench-deploy` builds and runs it (see there for the options).
//!
//! Everything runs against the test Kubernetes API server (`tests/support/kube-api`), started
//! in this process on 127.0.0.1, with the real `shipgate` binary and the real `kubectl`. Each
//! scenario gets a fresh server with the same 20 Deployments `svc-00`…`svc-19` in namespace
//! `bench` (2 replicas, RollingUpdate with the API defaults 25 %/25 %: one new pod at a time,
//! so a rollout takes about twice its tag's delay), rolled out at `:1.0.0` first. The new
//! images are `:slow-<ms>`, Ready `<ms>` after the pod's creation, with `<ms>` spread evenly
//! over 200–3000 ms (in an order that does not follow the names). Each run of the bench goes
//! through the scenarios in this order; the table shows every run and the medians.
//!
//! 0. **controllers only**: the 20 image changes sent at once by a plain HTTP client (the
//!    strategic merge patch `kubectl set image` sends), then nothing but the server's
//!    simulated controllers and kubelet: the t_i of the same rollouts without any deployer.
//! 1. **shipgate, 20 services**: `shipgate deploy --services all --image svc-NN=…` once, as in
//!    a GitHub Actions step (`SHIPGATE_PROGRESS_THROTTLE_MS` unset: the default).
//!    - wall: from just before spawning the process to its exit.
//!    - t_i: the rollout of service i *as the API server showed it*: from the moment its
//!      Deployment first carried the new image (shipgate's PATCH took effect) to the first
//!      moment it met `kubectl rollout status`'s completion rule (observedGeneration current,
//!      every replica updated and available, no old ones left) at that image. max(t_i) is the
//!      least any deployer could take once the patches are in; overhead = wall − max(t_i) is
//!      everything shipgate adds: start-up, preflight, lock, sending the patches, noticing
//!      completion, the report, releasing the lock, exiting.
//!    - peak memory: `ru_maxrss` of the shipgate process as GNU time reports it (`%M`, from
//!      wait4: exact). Without /usr/bin/time: the highest VmHWM of /proc/<pid>/status polled
//!      every millisecond (a lower bound).
//! 2. **a bad image**: scenario 1 with one service at `:missing`: from the first moment a pod
//!    of that service showed `ErrImagePull` in its container status to the moment shipgate's
//!    rollback (its guarded JSON patch restoring the snapshot, checked in the request log)
//!    took effect at the server (the template carried the old image again).
//! 3. **today's practice**: `kubectl set image` then `kubectl rollout status`, one service
//!    after the other. Its server-observed t_i ("alone", one rollout at a time) are reported
//!    too: their sum is what any sequential loop costs at the least.
//!
//! Server-side moments are when the bench's own watches of the Deployments and pods (plain
//! HTTP/1.1, opened before the scenario starts) received the event: the stream shipgate's
//! watchers read, without polling. The server's simulated controllers hold one state lock
//! while they work, which delays every request; a probe measures that wait every 50 ms and
//! the report shows it. Nothing here asserts a time: missed targets are reported, and only a
//! harness failure (a deploy that should have worked did not, a timeout, a missing tool)
//! exits non-zero. Without `--bench` (as `cargo test --all-targets` runs it) it does nothing.

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

#[path = "deploy/manifests.rs"]
mod manifests;
#[path = "deploy/scale.rs"]
mod scale;

use kube_test_api::{KubeApi, deployment};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const NAMESPACE: &str = "bench";
const REGISTRY: &str = "registry.local/bench";
const MIN_MS: u64 = 200;
const MAX_MS: u64 = 3000;
/// A run that takes longer than this is a harness failure.
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);
const TARGET_OVERHEAD: f64 = 0.5;
const TARGET_FAIL_FAST: f64 = 2.0;
const TARGET_RSS_MB: f64 = 50.0;
const GNU_TIME: &str = "/usr/bin/time";

/// Prefixes of inherited variables that could change what git, shipgate or kubectl do.
const SCRUBBED: &[&str] = &["GITHUB_", "SHIPGATE_", "RUNNER_", "ACTIONS_", "GIT_"];

fn die(message: &str) -> ! {
    eprintln!("bench-deploy: error: {message}");
    std::process::exit(2);
}

struct Options {
    services: usize,
    runs: usize,
    kubectl: Option<String>,
    shipgate: PathBuf,
    label: String,
    /// `--scale 50,100,200`: only the scale scenario, for each N.
    scale: Vec<usize>,
    /// `--manifests`: only the manifests scenario (next to the set-image deploy).
    manifests: bool,
}

impl Options {
    /// `None` without `--bench` (a `cargo test` run).
    fn parse() -> Option<Options> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if !args.iter().any(|a| a == "--bench") {
            return None;
        }
        let mut options = Options {
            services: 20,
            runs: 3,
            kubectl: Some(std::env::var("KUBECTL_BIN").unwrap_or_else(|_| "kubectl".into())),
            shipgate: std::env::var_os("SHIPGATE_BIN").map_or_else(
                || PathBuf::from(env!("CARGO_BIN_EXE_shipgate")),
                PathBuf::from,
            ),
            label: String::new(),
            scale: Vec::new(),
            manifests: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> usize {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| die(&format!("{name} needs a positive number")))
            };
            match arg.as_str() {
                "--bench" => {}
                "--services" => options.services = number("--services").clamp(2, 100),
                "--runs" => options.runs = number("--runs"),
                "--no-kubectl" => options.kubectl = None,
                "--manifests" => options.manifests = true,
                "--scale" => {
                    options.scale = args
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .map(|n| {
                            n.trim()
                                .parse()
                                .ok()
                                .filter(|&n: &usize| (2..=500).contains(&n))
                        })
                        .collect::<Option<Vec<usize>>>()
                        .unwrap_or_else(|| die("--scale needs sizes like 50,100,200 (2..=500)"));
                }
                other => die(&format!(
                    "unknown argument {other:?} (known: --services N, --runs N, --no-kubectl, --scale N,N,…, --manifests)"
                )),
            }
        }
        options.label = std::env::var("BENCH_SHIPGATE_LABEL")
            .unwrap_or_else(|_| options.shipgate.display().to_string());
        Some(options)
    }
}

fn name(i: usize) -> String {
    format!("svc-{i:02}")
}

/// The `:slow-<ms>` delay of service `i`: evenly spread over MIN_MS..=MAX_MS (10 ms steps),
/// in an order that does not follow the names (shipgate may patch in name order).
fn slow_ms(i: usize, n: usize) -> u64 {
    let rank = if n.is_multiple_of(7) { i } else { (i * 7) % n } as u64;
    let ms = MIN_MS + (MAX_MS - MIN_MS) * rank / (n as u64 - 1);
    ms / 10 * 10
}

fn old_image(i: usize) -> String {
    format!("{REGISTRY}/{}:1.0.0", name(i))
}

fn new_image(i: usize, n: usize) -> String {
    format!("{REGISTRY}/{}:slow-{}", name(i), slow_ms(i, n))
}

fn scrub(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && (SCRUBBED.iter().any(|p| key.starts_with(p))
                || ["CI", "NO_COLOR", "KUBECONFIG", "XDG_CONFIG_HOME"].contains(&key))
        {
            command.env_remove(key);
        }
    }
    command
}

/// A fresh server with the `n` Deployments rolled out at `:1.0.0`, and its kubeconfigs.
struct Cluster {
    api: KubeApi,
    dir: TempDir,
    kubeconfig: PathBuf,
    kubeconfig_tls: PathBuf,
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        let api = KubeApi::start();
        api.create_namespace(NAMESPACE);
        for i in 0..n {
            api.create(
                deployment(NAMESPACE, &name(i))
                    .image(&name(i), &old_image(i))
                    .replicas(2)
                    .build(),
            );
        }
        for i in 0..n {
            if !api.wait_rolled_out(NAMESPACE, "Deployment", &name(i), Duration::from_secs(60)) {
                die(&format!(
                    "the initial rollout of {} did not finish",
                    name(i)
                ));
            }
        }
        Cluster::of(api)
    }

    /// The server `api` as it is, with its kubeconfigs.
    fn of(api: KubeApi) -> Cluster {
        let dir = TempDir::new().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let kubeconfig_tls = dir.path().join("kubeconfig-tls");
        std::fs::write(
            &kubeconfig,
            api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some(NAMESPACE)),
        )
        .unwrap();
        std::fs::write(
            &kubeconfig_tls,
            api.kubeconfig_yaml_tls(KubeApi::ADMIN_TOKEN, Some(NAMESPACE)),
        )
        .unwrap();
        Cluster {
            api,
            dir,
            kubeconfig,
            kubeconfig_tls,
        }
    }
}

/// A watch of one collection of the server over a plain HTTP/1.1 connection, every event
/// stamped with the moment it arrived here.
struct Watch {
    stream: TcpStream,
    reader: std::thread::JoinHandle<Vec<(Instant, Value)>>,
}

impl Watch {
    /// Watches `collection` (an API path) from the server's current resourceVersion on.
    fn start(api: &KubeApi, collection: &str) -> Watch {
        let url = api.url();
        let address = url.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        write!(
            stream,
            "GET {collection}?watch=true&resourceVersion={} HTTP/1.1\r\nHost: {address}\r\n\
             Authorization: Bearer {}\r\nAccept: application/json\r\n\r\n",
            api.resource_version(),
            KubeApi::ADMIN_TOKEN
        )
        .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        if !head.starts_with("HTTP/1.1 200") {
            die(&format!("the watch of {collection} was refused: {head}"));
        }
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let reader = std::thread::spawn(move || read_events(reader, chunked));
        Watch { stream, reader }
    }

    /// Ends the watch; its events in order.
    fn stop(self) -> Vec<(Instant, Value)> {
        let _ = self.stream.shutdown(Shutdown::Both);
        self.reader.join().unwrap()
    }
}

/// Reads newline-framed watch events (chunked or not) until the connection ends.
fn read_events(mut reader: BufReader<TcpStream>, chunked: bool) -> Vec<(Instant, Value)> {
    let mut events = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let mut data = Vec::new();
        if chunked {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let size = size.trim().split(';').next().unwrap_or_default();
            let Ok(size) = usize::from_str_radix(size, 16) else {
                break;
            };
            if size == 0 {
                break;
            }
            data.resize(size + 2, 0);
            if reader.read_exact(&mut data).is_err() {
                break;
            }
            data.truncate(size);
        } else if reader.read_until(b'\n', &mut data).unwrap_or(0) == 0 {
            break;
        }
        let at = Instant::now();
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Ok(event) = serde_json::from_slice::<Value>(&line) {
                events.push((at, event));
            }
        }
    }
    events
}

/// Moments (since the scenario's start) at which the server's watch streams showed each step,
/// per Deployment.
#[derive(Debug, Default)]
struct Observed {
    /// The Deployment's template first carried the new image: the image PATCH took effect.
    patched: BTreeMap<String, Duration>,
    /// After that, the template carried the old image again: the rollback took effect.
    rolled_back: BTreeMap<String, Duration>,
    /// After that, `kubectl rollout status`'s completion rule held at the new image.
    done: BTreeMap<String, Duration>,
    /// A pod of the service first showed `ErrImagePull`.
    pull_error: BTreeMap<String, Duration>,
    /// How long a probe waited for the server's state lock (which its simulated controllers
    /// hold while they work), every 50 ms through the scenario, in seconds.
    lock_waits: Vec<f64>,
}

impl Observed {
    /// Replays the events of the Deployments and (optionally) the pods watches.
    fn from_events(
        t0: Instant,
        deployments: &[(Instant, Value)],
        pods: &[(Instant, Value)],
        old: &BTreeMap<String, String>,
        new: &BTreeMap<String, String>,
    ) -> Observed {
        let mut observed = Observed::default();
        let since = |at: &Instant| at.saturating_duration_since(t0);
        for (at, event) in deployments {
            let object = &event["object"];
            let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let (Some(old), Some(new)) = (old.get(name), new.get(name)) else {
                continue;
            };
            let image = object
                .pointer("/spec/template/spec/containers/0/image")
                .and_then(Value::as_str);
            if !observed.patched.contains_key(name) {
                if image == Some(new) {
                    observed.patched.insert(name.to_string(), since(at));
                } else {
                    continue;
                }
            }
            if image == Some(old) {
                observed
                    .rolled_back
                    .entry(name.to_string())
                    .or_insert(since(at));
            }
            if !observed.done.contains_key(name)
                && !observed.rolled_back.contains_key(name)
                && rolled_out(object, new)
            {
                observed.done.insert(name.to_string(), since(at));
            }
        }
        for (at, event) in pods {
            let object = &event["object"];
            let pulling = object
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .is_some_and(|statuses| {
                    statuses.iter().any(|s| {
                        s.pointer("/state/waiting/reason").and_then(Value::as_str)
                            == Some("ErrImagePull")
                    })
                });
            if let Some(app) = object
                .pointer("/metadata/labels/app")
                .and_then(Value::as_str)
                && pulling
            {
                observed
                    .pull_error
                    .entry(app.to_string())
                    .or_insert(since(at));
            }
        }
        observed
    }

    fn between(
        map_a: &BTreeMap<String, Duration>,
        map_b: &BTreeMap<String, Duration>,
        key: &str,
    ) -> Option<f64> {
        Some(map_b.get(key)?.as_secs_f64() - map_a.get(key)?.as_secs_f64())
    }

    /// t_i: image change in effect → rolled out, per service (None when either is missing).
    fn rollout(&self, service: &str) -> Option<f64> {
        Observed::between(&self.patched, &self.done, service)
    }
}

/// `kubectl rollout status`'s rule for a Deployment, at the expected image.
fn rolled_out(object: &Value, image: &str) -> bool {
    let int = |p: &str| object.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let at_image = object
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        == Some(image);
    let spec = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = int("/status/updatedReplicas");
    at_image
        && int("/metadata/generation") <= int("/status/observedGeneration")
        && updated >= spec
        && int("/status/replicas") <= updated
        && int("/status/availableReplicas") >= updated
}

/// Runs `work` (given the scenario's start) while the bench watches the server's Deployments
/// (and pods, when asked) in namespace `bench`.
fn observe<R>(
    api: &KubeApi,
    images: &BTreeMap<String, String>,
    pods: bool,
    work: impl FnOnce(Instant) -> R,
) -> (Observed, R) {
    let deployments = Watch::start(
        api,
        &format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments"),
    );
    let pod_watch =
        pods.then(|| Watch::start(api, &format!("/api/v1/namespaces/{NAMESPACE}/pods")));
    let t0 = Instant::now();
    let stop = AtomicBool::new(false);
    let (result, lock_waits) = std::thread::scope(|scope| {
        let probe = scope.spawn(|| {
            let mut waits = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let asked = Instant::now();
                api.resource_version();
                waits.push(asked.elapsed().as_secs_f64());
                std::thread::sleep(Duration::from_millis(50));
            }
            waits
        });
        let result = work(t0);
        stop.store(true, Ordering::SeqCst);
        (result, probe.join().unwrap())
    });
    // Events already sent are in the socket: give the reader a moment to take them.
    std::thread::sleep(Duration::from_millis(200));
    let deployment_events = deployments.stop();
    let pod_events = pod_watch.map(Watch::stop).unwrap_or_default();
    let old: BTreeMap<String, String> =
        (0..images.len()).map(|i| (name(i), old_image(i))).collect();
    let mut observed = Observed::from_events(t0, &deployment_events, &pod_events, &old, images);
    observed.lock_waits = lock_waits;
    (observed, result)
}

/// A git repository whose config declares the `n` services, and a private HOME.
struct Repo {
    _dir: TempDir,
    root: PathBuf,
    home: PathBuf,
}

impl Repo {
    fn new(n: usize) -> Repo {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("repo");
        let home = dir.path().join("home");
        std::fs::create_dir_all(root.join(".github")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let mut config = format!(
            "version: 1\ndefaults:\n  registry: {REGISTRY}\n  tags: [\"{{sha7}}\"]\nservices:\n"
        );
        for i in 0..n {
            let service = name(i);
            writeln!(
                config,
                "  {service}:\n    paths: [\"services/{service}/**\"]\n    image: {service}\n    deploy: {{ namespace: {NAMESPACE} }}"
            )
            .unwrap();
            let dir = root.join("services").join(&service);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("main.go"), "package main\n").unwrap();
        }
        std::fs::write(root.join(".github/shipgate.yml"), config).unwrap();
        let repo = Repo {
            _dir: dir,
            root,
            home,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["add", "-A"]);
        repo.git(&["-c", "commit.gpgsign=false", "commit", "-q", "-m", "init"]);
        repo
    }

    fn git(&self, args: &[&str]) {
        let output = scrub(&mut Command::new("git"))
            .current_dir(&self.root)
            .args(args)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .output()
            .unwrap_or_else(|e| die(&format!("git: {e}")));
        if !output.status.success() {
            die(&format!(
                "git {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
}

/// How the shipgate process ended.
struct Child {
    wall: f64,
    status: ExitStatus,
    /// Peak resident memory in KiB.
    max_rss_kib: Option<u64>,
    stderr: PathBuf,
    /// Each line of stderr with the moment (since the scenario's start) it arrived.
    lines: Vec<(f64, String)>,
}

impl Child {
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `shipgate deploy --services all` with the images, as in a GitHub Actions step.
fn run_shipgate(
    options: &Options,
    repo: &Repo,
    cluster: &Cluster,
    images: &BTreeMap<String, String>,
    t0: Instant,
) -> Child {
    let files = cluster.dir.path();
    let output_file = files.join("github_output");
    let summary_file = files.join("step_summary");
    let rss_file = files.join("rss");
    let stdout = files.join("stdout");
    let stderr = files.join("stderr");
    std::fs::write(&output_file, "").unwrap();
    std::fs::write(&summary_file, "").unwrap();
    let gnu_time = Path::new(GNU_TIME).exists();
    let mut command = if gnu_time {
        let mut command = Command::new(GNU_TIME);
        command
            .args(["-f", "%M", "-o"])
            .arg(&rss_file)
            .arg("--")
            .arg(&options.shipgate);
        command
    } else {
        Command::new(&options.shipgate)
    };
    scrub(&mut command)
        .current_dir(&repo.root)
        .args(["deploy", "--services", "all", "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .args(
            images
                .iter()
                .flat_map(|(service, image)| ["--image".to_string(), format!("{service}={image}")]),
        )
        .env("HOME", &repo.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("NO_COLOR", "1")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .env("GITHUB_WORKSPACE", &repo.root)
        .env("GITHUB_REPOSITORY", "bench/monorepo")
        .env("GITHUB_RUN_ID", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| die(&format!("cannot run {}: {e}", options.shipgate.display())));
    // Each line of stderr is kept (in the file) with the moment it arrived here.
    let pipe = child.stderr.take().unwrap();
    let mut file = std::fs::File::create(&stderr).unwrap();
    let stamper = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            lines.push((t0.elapsed().as_secs_f64(), line.clone()));
            let _ = writeln!(file, "{line}");
        }
        lines
    });
    let mut hwm = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !gnu_time {
            hwm = vm_hwm_kib(child.id()).max(hwm);
        }
        if t0.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            die(&format!(
                "shipgate deploy did not finish within {CHILD_TIMEOUT:?}; its stderr is in {}",
                stderr.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = t0.elapsed().as_secs_f64();
    let lines = stamper.join().unwrap();
    let max_rss_kib = if gnu_time {
        // GNU time writes "Command exited with non-zero status N" first when it did.
        std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
    } else {
        hwm
    };
    Child {
        wall,
        status,
        max_rss_kib,
        stderr,
        lines,
    }
}

fn kubectl(kubectl: &str, cluster: &Cluster, args: &[&str]) {
    let output = scrub(&mut Command::new(kubectl))
        .arg(format!(
            "--cache-dir={}",
            cluster.dir.path().join("kube-cache").display()
        ))
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig_tls)
        .env("HOME", cluster.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| die(&format!("cannot run {kubectl}: {e}")));
    if !output.status.success() {
        die(&format!(
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

fn new_images(n: usize, bad: Option<usize>) -> BTreeMap<String, String> {
    (0..n)
        .map(|i| {
            let image = if bad == Some(i) {
                format!("{REGISTRY}/{}:missing", name(i))
            } else {
                new_image(i, n)
            };
            (name(i), image)
        })
        .collect()
}

/// Scenario 1, one run.
struct FanOut {
    wall: f64,
    rollouts: Vec<f64>,
    first_patch: f64,
    last_patch: f64,
    last_done: f64,
    rss_kib: Option<u64>,
    /// The probe's waits for the server's state lock, in seconds.
    lock_waits: Vec<f64>,
}

/// t_i of each service of a deploy that must have succeeded (else the harness fails).
fn rollouts_of(
    observed: &Observed,
    child: &Child,
    images: &BTreeMap<String, String>,
    what: &str,
) -> Vec<f64> {
    if !child.status.success() {
        die(&format!(
            "{what} failed ({}):\n{}",
            child.status,
            child.tail()
        ));
    }
    images
        .keys()
        .map(|s| {
            observed.rollout(s).unwrap_or_else(|| {
                die(&format!(
                    "the server never saw {s} changed and rolled out ({what}):\n{}",
                    child.tail()
                ))
            })
        })
        .collect()
}

fn fan_out(options: &Options, repo: &Repo) -> FanOut {
    let n = options.services;
    let cluster = Cluster::new(n);
    let images = new_images(n, None);
    let (observed, child) = observe(&cluster.api, &images, false, |t0| {
        run_shipgate(options, repo, &cluster, &images, t0)
    });
    let rollouts = rollouts_of(&observed, &child, &images, "shipgate deploy");
    FanOut {
        wall: child.wall,
        rollouts,
        first_patch: secs(&observed.patched).fold(f64::MAX, f64::min),
        last_patch: secs(&observed.patched).fold(0.0, f64::max),
        last_done: secs(&observed.done).fold(0.0, f64::max),
        rss_kib: child.max_rss_kib,
        lock_waits: observed.lock_waits.clone(),
    }
}

/// `PATCH` of one container's image with a plain HTTP/1.1 request, as `kubectl set image` sends
/// it (a strategic merge patch).
fn patch_image(api: &KubeApi, service: &str, image: &str) {
    let url = api.url();
    let address = url.strip_prefix("http://").unwrap();
    let body = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": service, "image": image}
    ]}}}})
    .to_string();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "PATCH /apis/apps/v1/namespaces/{NAMESPACE}/deployments/{service}?fieldManager=bench HTTP/1.1\r\n\
         Host: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/strategic-merge-patch+json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        KubeApi::ADMIN_TOKEN,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    if !answer.starts_with("HTTP/1.1 200") {
        die(&format!("PATCH of {service} refused: {answer}"));
    }
}

/// Scenario 0, one run: the same 20 image changes sent at once by a plain HTTP client, then
/// only the server's controllers at work.
fn controllers_only(options: &Options) -> Vec<f64> {
    let n = options.services;
    let cluster = Cluster::new(n);
    let images = new_images(n, None);
    let (observed, ()) = observe(&cluster.api, &images, false, |_| {
        for (service, image) in &images {
            patch_image(&cluster.api, service, image);
        }
        for service in images.keys() {
            if !cluster
                .api
                .wait_rolled_out(NAMESPACE, "Deployment", service, CHILD_TIMEOUT)
            {
                die(&format!("{service} did not roll out"));
            }
        }
    });
    images
        .keys()
        .map(|s| {
            observed
                .rollout(s)
                .unwrap_or_else(|| die(&format!("the server never saw {s} rolled out")))
        })
        .collect()
}

/// Scenario 2, one run.
struct Sequential {
    wall: f64,
    rollouts: Vec<f64>,
}

fn sequential(options: &Options, kubectl_bin: &str) -> Sequential {
    let n = options.services;
    let cluster = Cluster::new(n);
    let images = new_images(n, None);
    let (observed, wall) = observe(&cluster.api, &images, false, |t0| {
        for (service, image) in &images {
            let target = format!("deployment/{service}");
            kubectl(
                kubectl_bin,
                &cluster,
                &[
                    "-n",
                    NAMESPACE,
                    "set",
                    "image",
                    &target,
                    &format!("{service}={image}"),
                ],
            );
            kubectl(
                kubectl_bin,
                &cluster,
                &[
                    "-n",
                    NAMESPACE,
                    "rollout",
                    "status",
                    &target,
                    "--timeout=120s",
                ],
            );
        }
        t0.elapsed().as_secs_f64()
    });
    let rollouts = images
        .keys()
        .map(|s| {
            observed
                .rollout(s)
                .unwrap_or_else(|| die(&format!("the server never saw {s} rolled out by kubectl")))
        })
        .collect();
    Sequential { wall, rollouts }
}

/// Scenario 3, one run.
struct BadImage {
    /// ErrImagePull seen → rollback PATCH arrived.
    fail_fast: f64,
    /// Image PATCH → ErrImagePull seen.
    pull_error: f64,
    /// Image PATCH → rollback PATCH.
    patch_to_rollback: f64,
    wall: f64,
    code: Option<i32>,
    rss_kib: Option<u64>,
}

fn bad_image(options: &Options, repo: &Repo, bad: usize) -> BadImage {
    let n = options.services;
    let cluster = Cluster::new(n);
    let images = new_images(n, Some(bad));
    let (observed, child) = observe(&cluster.api, &images, true, |t0| {
        run_shipgate(options, repo, &cluster, &images, t0)
    });
    let service = name(bad);
    let get = |m: &BTreeMap<String, Duration>, what: &str| -> f64 {
        m.get(&service).map_or_else(
            || {
                die(&format!(
                    "{what} of {service} was never seen (shipgate {}):\n{}",
                    child.status,
                    child.tail()
                ))
            },
            Duration::as_secs_f64,
        )
    };
    let patched = get(&observed.patched, "the image PATCH");
    let pulled = get(&observed.pull_error, "ErrImagePull");
    let rolled_back = get(&observed.rolled_back, "the rollback PATCH");
    if child.status.success() {
        die("shipgate deploy succeeded with an image that cannot be pulled");
    }
    // The rollback is shipgate's guarded JSON patch (not someone else's change).
    let path = format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{service}");
    if !cluster.api.requests().iter().any(|r| {
        r.method == "PATCH" && r.path == path && r.content_type == "application/json-patch+json"
    }) {
        die(&format!("no JSON patch of {service} reached the server"));
    }
    BadImage {
        fail_fast: rolled_back - pulled,
        pull_error: pulled - patched,
        patch_to_rollback: rolled_back - patched,
        wall: child.wall,
        code: child.status.code(),
        rss_kib: child.max_rss_kib,
    }
}

fn secs(map: &BTreeMap<String, Duration>) -> impl Iterator<Item = f64> + '_ {
    map.values().map(Duration::as_secs_f64)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        f64::midpoint(v[mid - 1], v[mid])
    }
}

/// The value at quantile `q` (0..=1, nearest rank); 0 for no values.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((v.len() - 1) as f64 * q).round() as usize;
    v[rank.min(v.len() - 1)]
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

fn sum(values: &[f64]) -> f64 {
    values.iter().sum()
}

fn first_line(command: &mut Command) -> String {
    command
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A table row: label, unit formatter, one value per run, the median, a target verdict.
struct Table {
    runs: usize,
    text: String,
}

impl Table {
    fn new(runs: usize) -> Table {
        let mut text = String::from("| Measure |");
        for r in 1..=runs {
            write!(text, " run {r} |").unwrap();
        }
        text.push_str(" median | target |\n|---|");
        for _ in 0..=runs {
            text.push_str("---:|");
        }
        text.push_str("---|\n");
        Table { runs, text }
    }

    fn row(&mut self, label: &str, values: &[f64], unit: fn(f64) -> String, target: &str) {
        assert_eq!(values.len(), self.runs);
        write!(self.text, "| {label} |").unwrap();
        for v in values {
            write!(self.text, " {} |", unit(*v)).unwrap();
        }
        writeln!(self.text, " **{}** | {target} |", unit(median(values))).unwrap();
    }
}

fn seconds(v: f64) -> String {
    format!("{v:.2} s")
}

fn ratio(v: f64) -> String {
    format!("{v:.2}x")
}

fn mib(v: f64) -> String {
    format!("{v:.1} MiB")
}

fn verdict(met: bool, target: &str) -> String {
    format!("{target}: {}", if met { "met" } else { "**missed**" })
}

fn main() {
    let Some(options) = Options::parse() else {
        println!("deploy bench: nothing to do without --bench (run scripts/bench-deploy)");
        return;
    };
    let n = options.services;
    let runs = options.runs;
    let bad = n / 2;
    if !options.shipgate.exists() {
        die(&format!(
            "no shipgate binary at {}",
            options.shipgate.display()
        ));
    }
    let version = first_line(Command::new(&options.shipgate).args(["--version", "--verbose"]));
    let kubectl_version = options.kubectl.as_ref().map(|k| {
        let v = first_line(Command::new(k).args(["version", "--client"]));
        if v.is_empty() {
            die(&format!(
                "{k} does not run (use --no-kubectl to skip the kubectl loop)"
            ));
        }
        v
    });
    if !options.scale.is_empty() {
        eprintln!(
            "bench-deploy: scale scenario for N = {:?}; shipgate = {}",
            options.scale, options.label
        );
        scale::run(&options, &options.scale);
        return;
    }
    if options.manifests {
        eprintln!(
            "bench-deploy: manifests scenario, {n} services ({} objects), {runs} runs; shipgate = {}",
            3 * n,
            options.label
        );
        manifests::run(&options);
        return;
    }
    let repo = Repo::new(n);
    eprintln!(
        "bench-deploy: {n} services, {runs} runs of each scenario; shipgate = {}",
        options.label
    );

    let mut fan = Vec::new();
    let mut ctl = Vec::new();
    let mut seq = Vec::new();
    let mut bads = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let c = controllers_only(&options);
        eprintln!(
            "bench-deploy: run {run}/{runs}: controllers only: max(t_i) {:.2} s",
            max(&c)
        );
        ctl.push(c);
        let f = fan_out(&options, &repo);
        eprintln!(
            "bench-deploy: run {run}/{runs}: shipgate {n} services: wall {:.2} s, max(t_i) {:.2} s",
            f.wall,
            max(&f.rollouts)
        );
        fan.push(f);
        let b = bad_image(&options, &repo, bad);
        eprintln!(
            "bench-deploy: run {run}/{runs}: bad image: ErrImagePull → rollback {:.2} s",
            b.fail_fast
        );
        bads.push(b);
        if let Some(k) = &options.kubectl {
            let s = sequential(&options, k);
            eprintln!(
                "bench-deploy: run {run}/{runs}: kubectl loop: wall {:.2} s",
                s.wall
            );
            seq.push(s);
        }
        eprintln!(
            "bench-deploy: run {run}/{runs} took {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }

    let col = |f: &dyn Fn(&FanOut) -> f64| fan.iter().map(f).collect::<Vec<f64>>();
    let walls = col(&|f| f.wall);
    let maxes = col(&|f| max(&f.rollouts));
    let sums = col(&|f| sum(&f.rollouts));
    let overheads: Vec<f64> = walls.iter().zip(&maxes).map(|(w, m)| w - m).collect();
    let rss: Vec<f64> = fan
        .iter()
        .map(|f| f.rss_kib.map_or(f64::NAN, |k| k as f64 / 1024.0))
        .collect();
    let lock_waits: Vec<f64> = fan.iter().flat_map(|f| f.lock_waits.clone()).collect();

    println!();
    println!(
        "`shipgate deploy --services all` on {n} Deployments x 2 replicas (RollingUpdate 25%/25%: one new pod at a time) \
         against the in-process test API server; new images `:slow-<ms>` with <ms> spread over {MIN_MS}-{MAX_MS} ms; \
         {runs} runs of each scenario, each on a fresh server; {} CPUs.",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("shipgate: {} ({version})", options.label);
    if let Some(v) = &kubectl_version {
        println!(
            "kubectl: {} ({v})",
            options.kubectl.as_deref().unwrap_or_default()
        );
    }
    println!();
    let mut table = Table::new(runs);
    table.row(
        &format!("shipgate wall time, {n} services"),
        &walls,
        seconds,
        "",
    );
    table.row("max(t_i), server-observed", &maxes, seconds, "");
    table.row("sum(t_i), server-observed", &sums, seconds, "");
    let overhead_target = verdict(median(&overheads) <= TARGET_OVERHEAD, "≤ 0.5 s");
    table.row(
        "overhead = wall − max(t_i)",
        &overheads,
        seconds,
        &overhead_target,
    );
    let ctl_maxes: Vec<f64> = ctl.iter().map(|c| max(c)).collect();
    table.row(
        "max(t_i), controllers only (all image PATCHes at once, no deployer)",
        &ctl_maxes,
        seconds,
        "",
    );
    table.row(
        "sum(t_i), controllers only",
        &ctl.iter().map(|c| sum(c)).collect::<Vec<_>>(),
        seconds,
        "",
    );
    let ctl_overheads: Vec<f64> = walls.iter().zip(&ctl_maxes).map(|(w, m)| w - m).collect();
    table.row(
        "wall − max(t_i) controllers only",
        &ctl_overheads,
        seconds,
        "",
    );
    let to_max: Vec<f64> = walls.iter().zip(&maxes).map(|(w, m)| w / m).collect();
    table.row("wall / max(t_i)", &to_max, ratio, "");
    let to_sum: Vec<f64> = walls.iter().zip(&sums).map(|(w, s)| w / s).collect();
    table.row("wall / sum(t_i)", &to_sum, ratio, "");
    if !seq.is_empty() {
        let loop_walls: Vec<f64> = seq.iter().map(|s| s.wall).collect();
        let alone: Vec<f64> = seq.iter().map(|s| sum(&s.rollouts)).collect();
        table.row(
            "kubectl loop wall time (set image + rollout status, one by one)",
            &loop_walls,
            seconds,
            "",
        );
        table.row(
            "sum(t_i) alone, server-observed in the kubectl loop",
            &alone,
            seconds,
            "",
        );
        let to_loop: Vec<f64> = walls.iter().zip(&loop_walls).map(|(w, l)| w / l).collect();
        table.row("shipgate wall / kubectl loop wall", &to_loop, ratio, "");
    }
    table.row(
        "start → first image PATCH at the server",
        &col(&|f| f.first_patch),
        seconds,
        "",
    );
    table.row(
        "first → last image PATCH",
        &col(&|f| f.last_patch - f.first_patch),
        seconds,
        "",
    );
    table.row(
        "last rollout complete at the server → shipgate exited",
        &col(&|f| f.wall - f.last_done),
        seconds,
        "",
    );
    let rss_target = verdict(median(&rss) < TARGET_RSS_MB, "< 50 MB");
    table.row(
        &format!("peak RSS of shipgate, {n} services"),
        &rss,
        mib,
        &rss_target,
    );
    let fail_fast: Vec<f64> = bads.iter().map(|b| b.fail_fast).collect();
    let fail_target = verdict(median(&fail_fast) < TARGET_FAIL_FAST, "< 2 s");
    table.row(
        &format!("bad image ({}): ErrImagePull → rollback PATCH", name(bad)),
        &fail_fast,
        seconds,
        &fail_target,
    );
    table.row(
        "bad image: image PATCH → ErrImagePull",
        &bads.iter().map(|b| b.pull_error).collect::<Vec<_>>(),
        seconds,
        "",
    );
    table.row(
        "bad image: image PATCH → rollback PATCH",
        &bads.iter().map(|b| b.patch_to_rollback).collect::<Vec<_>>(),
        seconds,
        "",
    );
    table.row(
        &format!("bad image: shipgate wall time ({} good + 1 bad)", n - 1),
        &bads.iter().map(|b| b.wall).collect::<Vec<_>>(),
        seconds,
        "",
    );
    table.row(
        "bad image: peak RSS of shipgate",
        &bads
            .iter()
            .map(|b| b.rss_kib.map_or(f64::NAN, |k| k as f64 / 1024.0))
            .collect::<Vec<_>>(),
        mib,
        "",
    );
    print!("{}", table.text);
    println!();
    let codes: Vec<String> = bads
        .iter()
        .map(|b| b.code.map_or("signal".into(), |c| c.to_string()))
        .collect();
    println!(
        "Bad-image runs exited with {} (kubectl rollout status would wait for the progress deadline, \
         600 s by default, before failing; not run).",
        codes.join(", ")
    );
    println!(
        "Peak RSS: {}. Server-side moments: when the bench's own watch of the Deployments (and \
         pods) received the event, as shipgate's watchers would.",
        if Path::new(GNU_TIME).exists() {
            "ru_maxrss of the shipgate process from GNU time (%M), MiB = KiB/1024"
        } else {
            "highest VmHWM of /proc/<pid>/status polled every 1 ms (a lower bound)"
        }
    );
    println!(
        "The test API server's simulated controllers hold its state lock while they work: during \
         the shipgate runs a probe waited for it {:.0} ms in the median, {:.0} ms at the 90th \
         percentile, {:.0} ms at most ({} probes).",
        percentile(&lock_waits, 0.5) * 1000.0,
        percentile(&lock_waits, 0.9) * 1000.0,
        percentile(&lock_waits, 1.0) * 1000.0,
        lock_waits.len()
    );
    println!();
    println!(
        "Per service (medians): t_i with shipgate (all at once), with the controllers only (all \
         at once, no deployer) and alone (the kubectl loop)."
    );
    println!();
    println!("| Service | New image tag | t_i with shipgate | t_i controllers only | t_i alone |");
    println!("|---|---|---:|---:|---:|");
    for i in 0..n {
        let with: Vec<f64> = fan.iter().map(|f| f.rollouts[i]).collect();
        let alone = if seq.is_empty() {
            "-".to_string()
        } else {
            seconds(median(
                &seq.iter().map(|s| s.rollouts[i]).collect::<Vec<_>>(),
            ))
        };
        let only: Vec<f64> = ctl.iter().map(|c| c[i]).collect();
        println!(
            "| {} | slow-{} | {} | {} | {alone} |",
            name(i),
            slow_ms(i, n),
            seconds(median(&with)),
            seconds(median(&only))
        );
    }
}
