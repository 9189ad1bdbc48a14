//! The shape of a deploy at scale, asserted on what the test API server counted (requests by
//! verb and resource, watches per namespace and resource, connections), never on time: the
//! RBAC questions are asked once per namespace, the rollouts are watched once per namespace
//! and kind, also after every watch was dropped and resumed.

use crate::support;

use kube_test_api::{Counts, KubeApi, deployment};
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use support::{Shipgate, TestRepo};

const NAMESPACES: [&str; 2] = ["north", "south"];
const SERVICES: usize = 30;

fn name(i: usize) -> String {
    format!("svc-{i:02}")
}

fn namespace(i: usize) -> &'static str {
    NAMESPACES[i % NAMESPACES.len()]
}

/// 30 services, alternately in `north` and `south`, each a rolled-out Deployment of 1 replica.
fn cluster() -> (KubeApi, TestRepo, std::path::PathBuf) {
    let api = KubeApi::start();
    for ns in NAMESPACES {
        api.create_namespace(ns);
    }
    let mut config = String::from(
        "version: 1\ndefaults:\n  registry: registry.local/scale\n  tags: [\"{sha7}\"]\nservices:\n",
    );
    let mut repo = TestRepo::new();
    for i in 0..SERVICES {
        let service = name(i);
        api.create(
            deployment(namespace(i), &service)
                .image(&service, &format!("registry.local/scale/{service}:1.0.0"))
                .replicas(1)
                .build(),
        );
        let _ = write!(
            config,
            "  {service}:\n    paths: [\"services/{service}/**\"]\n    image: {service}\n    deploy: {{ namespace: {}, timeout: 120s }}\n",
            namespace(i)
        );
        repo = repo.file(&format!("services/{service}/main.go"), "package main\n");
    }
    for i in 0..SERVICES {
        assert!(api.wait_rolled_out(
            namespace(i),
            "Deployment",
            &name(i),
            Duration::from_secs(60)
        ));
    }
    let repo = repo.config(&config).commit("init");
    let kubeconfig = repo.scratch().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, None)).unwrap();
    api.reset_counts();
    (api, repo, kubeconfig)
}

fn deploy(repo: &TestRepo, kubeconfig: &std::path::Path, tag: &str) -> Shipgate {
    let mut command = Shipgate::new(repo)
        .actions()
        .args(["deploy", "--services", "all", "--kubeconfig"])
        .arg(kubeconfig)
        .env("SHIPGATE_LOCK_POLL", "100ms");
    for i in 0..SERVICES {
        let service = name(i);
        command = command.args([
            "--image".to_string(),
            format!("{service}=registry.local/scale/{service}:{tag}"),
        ]);
    }
    command
}

/// The O(namespace) shape: per namespace at most 5 RBAC questions and, per kind, the first
/// watch and its resumes.
fn assert_namespace_shape(counts: &Counts, watches_per_kind: u64) {
    let ssar = counts.requests("create", "selfsubjectaccessreviews");
    assert!(
        ssar <= 5 * NAMESPACES.len() as u64,
        "{ssar} SSARs: {counts:#?}"
    );
    for resource in ["pods", "replicasets", "deployments"] {
        assert!(
            counts.max_watches_per_namespace(resource) <= watches_per_kind,
            "{resource}: {counts:#?}"
        );
    }
    let pod_and_rs = counts.watches_of("pods") + counts.watches_of("replicasets");
    assert!(
        pod_and_rs <= 2 * NAMESPACES.len() as u64 * watches_per_kind,
        "{counts:#?}"
    );
    // Three feeds per namespace open at once, never one per service.
    assert!(
        counts.watches_peak <= 3 * NAMESPACES.len() as u64,
        "{counts:#?}"
    );
    // One connection per open watch, at most 4 one-off requests in flight, the lease of each
    // namespace, and a little slack for the connection pool's connect races (a connection
    // opened while another is being returned stays in the pool): far below one per service.
    assert!(
        counts.connections_peak <= 3 * NAMESPACES.len() as u64 + 4 + 2 * NAMESPACES.len() as u64,
        "{counts:#?}"
    );
    assert_eq!(counts.requests("patch", "deployments"), SERVICES as u64);
    assert!(
        counts
            .user_agents
            .iter()
            .all(|agent| agent.starts_with("shipgate/")),
        "{:?}",
        counts.user_agents
    );
}

#[test]
fn thirty_services_in_two_namespaces_cost_requests_per_namespace() {
    let (api, repo, kubeconfig) = cluster();
    let run = deploy(&repo, &kubeconfig, "1.1.0").run().success();
    let result = run.output_json("result");
    for i in 0..SERVICES {
        assert_eq!(
            result["services"][name(i)]["status"],
            "succeeded",
            "{}",
            name(i)
        );
    }
    let counts = api.counts();
    assert_namespace_shape(&counts, 1);
    assert_eq!(counts.watches_of("pods"), 2, "{counts:#?}");
    assert_eq!(counts.watches_of("replicasets"), 2, "{counts:#?}");
    // The initial lists are served from the watch cache (resourceVersion=0).
    let lists: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/pods") && !r.query.contains("watch="))
        .collect();
    assert!(!lists.is_empty());
    assert!(
        lists.iter().all(|r| r.query.contains("resourceVersion=0")),
        "{lists:#?}"
    );
    run.summary_has("Kubernetes API:");
}

#[test]
fn dropped_watches_resume_once_per_namespace_and_kind_and_verdicts_stay_right() {
    let (api, repo, kubeconfig) = cluster();
    let command = deploy(&repo, &kubeconfig, "slow-1500");
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Once every namespace's three watches are open, cut them all.
            let end = Instant::now() + Duration::from_secs(60);
            while api.counts().watches_open < 3 * NAMESPACES.len() as u64 {
                assert!(Instant::now() < end, "{:#?}", api.counts());
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(300));
            api.disconnect_watches();
        });
        command.run()
    });
    let run = run.success();
    let result = run.output_json("result");
    for i in 0..SERVICES {
        assert_eq!(
            result["services"][name(i)]["status"],
            "succeeded",
            "{}",
            name(i)
        );
    }
    let counts = api.counts();
    assert_namespace_shape(&counts, 3);
    assert!(counts.watches_of("pods") >= 4, "resumed: {counts:#?}");
    run.stdout_has("watch error");
}

/// Every service's patch reaches the server before the first rollout completes: nothing in
/// the orchestration (preflight, RBAC questions, the lock, the watches, the bound on one-off
/// requests) makes a service wait for another's rollout, so the wall time is the slowest
/// rollout plus a constant, not a sum. Asserted on order, not on time: the cluster is read
/// first and the server's count of patches after it, so a completed rollout seen with fewer
/// than all patches counted means a patch really came after that completion.
#[test]
fn every_patch_is_sent_before_the_first_rollout_completes() {
    let (api, repo, kubeconfig) = cluster();
    let command = deploy(&repo, &kubeconfig, "slow-2000");
    let done = std::sync::atomic::AtomicBool::new(false);
    let run = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let end = Instant::now() + Duration::from_secs(120);
            while !done.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < end {
                let completed: Vec<String> = NAMESPACES
                    .iter()
                    .flat_map(|ns| api.list(&format!("/apis/apps/v1/namespaces/{ns}/deployments")))
                    .filter(|d| rolled_out_at(d, "slow-2000"))
                    .map(|d| {
                        d["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect();
                if !completed.is_empty() {
                    return (completed, api.counts().requests("patch", "deployments"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (Vec::new(), 0)
        });
        let run = command.run();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (run, watcher.join().unwrap())
    });
    let (run, (completed, patches_then)) = run;
    run.success();
    assert!(!completed.is_empty(), "no rollout was seen completing");
    assert_eq!(
        patches_then, SERVICES as u64,
        "{completed:?} completed when only {patches_then} of {SERVICES} patches had been sent"
    );
}

/// `kubectl rollout status`'s rule for a Deployment whose container runs `…:tag`.
fn rolled_out_at(d: &serde_json::Value, tag: &str) -> bool {
    let int = |p: &str| {
        d.pointer(p)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0)
    };
    let image = d
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    image.ends_with(&format!(":{tag}"))
        && int("/metadata/generation") <= int("/status/observedGeneration")
        && int("/status/updatedReplicas") >= int("/spec/replicas")
        && int("/status/replicas") <= int("/status/updatedReplicas")
        && int("/status/availableReplicas") >= int("/status/updatedReplicas")
}
