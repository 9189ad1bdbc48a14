//! The `shipgate status` benchmark; `scripts/bench-status` builds and runs it.
//!
//! A test Kubernetes API server (`tests/support/kube-api`) runs in this process on 127.0.0.1
//! with `--services` Deployments (1 replica each, rolled out) spread over `--namespaces`
//! namespaces, each pod template annotated with the revision it was "deployed" from. A git
//! repository in a temporary directory configures one service per Deployment and has
//! `--commits` commits after that revision, each touching one service, so `behind` is computed
//! for every service. Then, `--runs` times (medians reported):
//!
//! 1. **shipgate status**: `shipgate status --format json` once: wall time from spawning the
//!    process to its exit, and the API requests the server received meanwhile (by method and
//!    collection). Target: one LIST per kind per namespace (here: deployments, replicasets,
//!    pods), under 2 s.
//! 2. **per-service reads** (the baseline, in the same run): what reading the same facts one
//!    service at a time costs: for every service a GET of its Deployment and a LIST of its pods
//!    by label selector, over one plain HTTP/1.1 connection (keep-alive), from this process.
//!    It does no judging, no registry and no git, so it is a lower bound for any per-service
//!    tool.
//!
//! Nothing asserts a time; only a harness failure exits non-zero. Without `--bench` (as
//! `cargo test --all-targets` runs it) it does nothing.

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use kube_test_api::{KubeApi, deployment};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET_SECONDS: f64 = 2.0;

fn die(message: &str) -> ! {
    eprintln!("bench-status: error: {message}");
    std::process::exit(2);
}

struct Options {
    services: usize,
    namespaces: usize,
    commits: usize,
    runs: usize,
}

fn options() -> Option<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return None;
    }
    let value = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| die(&format!("{name} {v}"))))
            .unwrap_or(default)
    };
    Some(Options {
        services: value("--services", 200),
        namespaces: value("--namespaces", 4).max(1),
        commits: value("--commits", 50),
        runs: value("--runs", 3).max(1),
    })
}

fn name(i: usize) -> String {
    format!("svc-{i:03}")
}

fn namespace(i: usize, options: &Options) -> String {
    format!("team-{}", i % options.namespaces)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    if !output.status.success() {
        die(&format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The repository: one service per Deployment; returns the revision the cluster runs.
fn repository(dir: &Path, options: &Options) -> String {
    let mut config =
        String::from("version: 1\ndefaults:\n  registry: registry.local/bench\nservices:\n");
    for i in 0..options.services {
        let n = name(i);
        config.push_str(&format!(
            "  {n}:\n    paths: [\"services/{n}/**\"]\n    image: {n}\n    deploy: {{ namespace: {} }}\n",
            namespace(i, options)
        ));
        let path = dir.join(format!("services/{n}/main.go"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "package main\n").unwrap();
    }
    std::fs::create_dir_all(dir.join(".github")).unwrap();
    std::fs::write(dir.join(".github/shipgate.yml"), config).unwrap();
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "--message", "init"]);
    let revision = git(dir, &["rev-parse", "HEAD"]);
    for c in 0..options.commits {
        let i = (c * 7) % options.services;
        let path = dir.join(format!("services/{}/main.go", name(i)));
        std::fs::write(path, format!("package main // {c}\n")).unwrap();
        git(
            dir,
            &[
                "commit",
                "--quiet",
                "--all",
                "--message",
                &format!("change {c}"),
            ],
        );
    }
    revision
}

fn cluster(options: &Options, revision: &str) -> KubeApi {
    let api = KubeApi::start();
    for n in 0..options.namespaces {
        api.create_namespace(&format!("team-{n}"));
    }
    for i in 0..options.services {
        let mut object = deployment(&namespace(i, options), &name(i))
            .image(&name(i), &format!("registry.local/bench/{}:1.0.0", name(i)))
            .replicas(1)
            .build();
        object["spec"]["template"]["metadata"]["annotations"] = json!({"shipgate.dev/revision": revision, "shipgate.dev/deployed-at": "2026-12-01T00:00:00Z"});
        api.create(object);
    }
    for i in 0..options.services {
        if !api.wait_rolled_out(
            &namespace(i, options),
            "Deployment",
            &name(i),
            Duration::from_secs(120),
        ) {
            die(&format!("{} did not roll out", name(i)));
        }
    }
    api
}

/// One `shipgate status`: wall time, requests by `METHOD path`, and the services judged.
fn shipgate_status(
    api: &KubeApi,
    repo: &Path,
    kubeconfig: &Path,
) -> (f64, BTreeMap<String, usize>, Value) {
    let binary = std::env::var("SHIPGATE_BIN").unwrap_or_else(|_| die("SHIPGATE_BIN is not set"));
    let before = api.requests().len();
    let started = Instant::now();
    let output = Command::new(&binary)
        .current_dir(repo)
        .args(["status", "--format", "json", "--kubeconfig"])
        .arg(kubeconfig)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        die(&format!(
            "shipgate status failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut requests = BTreeMap::new();
    for request in &api.requests()[before..] {
        *requests
            .entry(format!("{} {}", request.method, request.path))
            .or_default() += 1;
    }
    (
        wall,
        requests,
        serde_json::from_slice(&output.stdout).unwrap(),
    )
}

/// The baseline: a GET of each Deployment and a LIST of its pods, one service at a time.
fn per_service(api: &KubeApi, options: &Options) -> (f64, usize) {
    let address = api.url().trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&address).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut count = 0;
    let started = Instant::now();
    for i in 0..options.services {
        let ns = namespace(i, options);
        for path in [
            format!("/apis/apps/v1/namespaces/{ns}/deployments/{}", name(i)),
            format!(
                "/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{}",
                name(i)
            ),
        ] {
            write!(
                writer,
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\n\r\n",
                KubeApi::ADMIN_TOKEN
            )
            .unwrap();
            let body = read_response(&mut reader);
            serde_json::from_slice::<Value>(&body).unwrap_or_else(|e| die(&format!("{path}: {e}")));
            count += 1;
        }
    }
    (started.elapsed().as_secs_f64(), count)
}

/// Reads one HTTP/1.1 response (Content-Length or chunked); returns its body.
fn read_response(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut length = None;
    let mut chunked = false;
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    if !status.starts_with("HTTP/1.1 200") {
        die(&format!("the server answered {status}"));
    }
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body).unwrap();
    }
    body
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let Some(options) = options() else {
        return;
    };
    let label = std::env::var("BENCH_SHIPGATE_LABEL").unwrap_or_else(|_| "shipgate".into());
    let dir = tempfile::TempDir::new().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    eprintln!(
        "bench-status: {} services in {} namespaces, {} commits since their revision",
        options.services, options.namespaces, options.commits
    );
    let revision = repository(&repo, &options);
    let api = cluster(&options, &revision);
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, None)).unwrap();
    let (mut walls, mut baselines) = (Vec::new(), Vec::new());
    let mut last_requests = BTreeMap::new();
    let mut baseline_requests = 0;
    for run in 1..=options.runs {
        let (wall, requests, json) = shipgate_status(&api, &repo, &kubeconfig);
        let services = json["services"].as_array().map_or(0, Vec::len);
        let behind: u64 = json["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["behind"].as_u64())
            .sum();
        if services != options.services || behind != options.commits as u64 {
            die(&format!(
                "status reported {services} services and {behind} commits behind in all (expected {} and {})",
                options.services, options.commits
            ));
        }
        let (baseline, count) = per_service(&api, &options);
        eprintln!(
            "run {run}: shipgate status {wall:.3} s ({} requests), per-service reads {baseline:.3} s ({count} requests)",
            requests.values().sum::<usize>()
        );
        walls.push(wall);
        baselines.push(baseline);
        last_requests = requests;
        baseline_requests = count;
    }
    let wall = median(&mut walls);
    let baseline = median(&mut baselines);
    let total: usize = last_requests.values().sum();
    let lists_wanted = options.namespaces * 3;
    println!(
        "\nshipgate status benchmark ({label}); medians of {} runs\n",
        options.runs
    );
    println!("| Measure | Median | Target |\n|---|---:|---|");
    println!(
        "| `shipgate status`, {} services in {} namespaces | {wall:.2} s | < {TARGET_SECONDS} s: {} |",
        options.services,
        options.namespaces,
        if wall < TARGET_SECONDS {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "| API requests of one status | {total} | one LIST per kind per namespace ({lists_wanted}): {} |",
        if total == lists_wanted {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "| per-service reads (GET + pod LIST each, no judging), measured | {baseline:.2} s, {baseline_requests} requests | |"
    );
    println!(
        "| shipgate status / per-service reads | {:.2}× | |",
        wall / baseline
    );
    println!("\nrequests of the last status run:");
    for (request, count) in &last_requests {
        println!("  {count} × {request}");
    }
}
