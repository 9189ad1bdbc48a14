//! `shipgate status` end to end: the real binary against the test Kubernetes API server and a
//! real git history. One cluster holds a service deployed by shipgate (healthy), one whose
//! nodes disagree about a mutable tag (drift), one mid-rollout, one never deployed by shipgate,
//! one deployed several commits ago (behind) and one whose workload is missing.

use crate::support;

use kube_test_api::{KubeApi, deployment};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use support::{Run, Shipgate, TestRepo};

const CONFIG: &str = r#"version: 1
defaults:
  registry: registry.local/shop
  tags: ["{sha7}"]
services:
  common: { paths: ["libs/common/**"] }
  auth:
    paths: ["services/auth/**"]
    image: auth
    deploy: { namespace: shop, timeout: 60s }
  events:
    paths: ["services/events/**"]
    image: events
    deploy: { namespace: shop }
  search:
    paths: ["services/search/**"]
    image: search
    deploy: { namespace: shop }
  legacy:
    paths: ["services/legacy/**"]
    image: legacy
    deploy: { namespace: shop }
  billing:
    paths: ["services/billing/**"]
    depends-on: [common]
    image: billing
    deploy: { namespace: shop, name: billing-api }
  ghost:
    paths: ["services/ghost/**"]
    image: ghost
    deploy: { namespace: shop }
"#;

const OLD: &str = "sha256:01d0000000000000000000000000000000000000000000000000000000000000";
const NEW: &str = "sha256:9e90000000000000000000000000000000000000000000000000000000000000";

struct Fixture {
    api: KubeApi,
    repo: TestRepo,
    kubeconfig: PathBuf,
    /// The commit billing was deployed from (4 commits ago, 2 of them touch it).
    billing_revision: String,
}

/// A Deployment whose pod template carries the annotations a shipgate deploy writes.
fn annotated(name: &str, image: &str, revision: &str) -> Value {
    let mut object = deployment("shop", name)
        .image(name, image)
        .replicas(2)
        .build();
    object["spec"]["template"]["metadata"]["annotations"] = json!({
        "shipgate.dev/revision": revision,
        "shipgate.dev/version": "0.9.0",
        "shipgate.dev/run-url": "https://github.com/acme/shop/actions/runs/41",
        "shipgate.dev/deployed-at": "2026-11-30T08:00:00Z",
    });
    object
}

impl Fixture {
    fn new() -> Fixture {
        let api = KubeApi::builder().nodes(2).build();
        api.create_namespace("shop");
        let repo = TestRepo::new()
            .config(CONFIG)
            .file("libs/common/lib.go", "package common\n")
            .file("services/auth/main.go", "package main\n")
            .file("services/events/main.go", "package main\n")
            .file("services/search/main.go", "package main\n")
            .file("services/legacy/main.go", "package main\n")
            .file("services/billing/main.go", "package main\n")
            .commit("init");
        let billing_revision = repo.sha("HEAD");
        let repo = repo
            .file("services/billing/main.go", "package main // 2\n")
            .commit("billing: change")
            .file("services/auth/main.go", "package main // 2\n")
            .commit("auth: change")
            .file("libs/common/lib.go", "package common // 2\n")
            .commit("common: change (billing depends on it)")
            .file("docs/readme.md", "# docs\n")
            .commit("docs");
        // events: one node has an old image cached under the mutable tag; the other pulls the
        // tag as the registry serves it now.
        let tag = "registry.local/shop/events:prod-latest";
        api.push_image(tag, NEW);
        api.cache_image_on_node("fake-node-1", tag, OLD);
        let head = repo.sha("HEAD");
        api.create(
            deployment("shop", "legacy")
                .image("legacy", "registry.local/shop/legacy:2019")
                .build(),
        );
        api.create(annotated("events", tag, &head));
        api.create(annotated(
            "billing-api",
            "registry.local/shop/billing:1.0.0",
            &billing_revision,
        ));
        for name in ["legacy", "events", "billing-api"] {
            assert!(api.wait_rolled_out("shop", "Deployment", name, Duration::from_secs(20)));
        }
        api.create(annotated(
            "search",
            "registry.local/shop/search:slow-600000",
            &head,
        ));
        api.create(
            deployment("shop", "auth")
                .image("auth", "registry.local/shop/auth:1.0.0")
                .replicas(2)
                .build(),
        );
        assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(20)));
        let kubeconfig = repo.scratch().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop")),
        )
        .unwrap();
        let fixture = Fixture {
            api,
            repo,
            kubeconfig,
            billing_revision,
        };
        // auth is deployed by shipgate itself, from HEAD.
        Shipgate::new(&fixture.repo)
            .args(["deploy", "--services", "auth", "--kubeconfig"])
            .arg(&fixture.kubeconfig)
            .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .run()
            .success();
        fixture
    }

    fn status(&self) -> Shipgate {
        Shipgate::new(&self.repo)
            .actions()
            .args(["status", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .env("SHIPGATE_REGISTRY_INSECURE", "registry.local")
    }

    fn as_user(&self, token: &str, rights: &[(&str, &str)]) {
        self.api.add_user(token, "reader", rights);
        std::fs::write(
            &self.kubeconfig,
            self.api.kubeconfig_yaml(token, Some("shop")),
        )
        .unwrap();
    }
}

fn service(run: &Run, name: &str) -> Value {
    run.json()["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no service {name} in {}", run.stdout))
}

#[test]
fn status_reports_what_runs_where() {
    let fixture = Fixture::new();
    let head = fixture.repo.sha("HEAD");
    let before = fixture.api.requests().len();
    let run = fixture.status().args(["--format", "json"]).run().success();
    let json = run.json();
    let services: Vec<&str> = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // Every service with `deploy`, in config order; the library is not listed.
    assert_eq!(
        services,
        ["auth", "events", "search", "legacy", "billing", "ghost"]
    );

    let auth = service(&run, "auth");
    let keys: Vec<&str> = auth
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut documented = vec![
        "name",
        "namespace",
        "kind",
        "workload",
        "desired_image",
        "running",
        "revision",
        "version",
        "run_url",
        "deployed_at",
        "replicas",
        "state",
        "drift",
        "behind",
    ];
    documented.sort_unstable();
    assert_eq!(keys, documented);
    assert_eq!(auth["namespace"], "shop");
    assert_eq!(auth["kind"], "Deployment");
    assert_eq!(auth["workload"], "auth");
    assert_eq!(auth["desired_image"], "registry.local/shop/auth:1.1.0");
    assert_eq!(auth["state"], "complete");
    assert_eq!(auth["revision"], head.as_str());
    assert_eq!(auth["behind"], 0);
    assert_eq!(auth["drift"], false);
    assert_eq!(
        auth["replicas"],
        json!({"desired": 2, "ready": 2, "updated": 2, "available": 2})
    );
    assert_eq!(auth["running"].as_array().unwrap().len(), 1);
    assert_eq!(auth["running"][0]["pods"], 2);
    assert!(
        auth["running"][0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // The deploy stamped when it set the image (RFC 3339).
    let deployed_at = auth["deployed_at"].as_str().unwrap();
    assert!(
        deployed_at.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
        "{deployed_at}"
    );

    // Two nodes, two digests of one mutable tag: drift.
    let events = service(&run, "events");
    assert_eq!(events["drift"], true, "{events}");
    assert_eq!(events["state"], "complete");
    let mut digests: Vec<&str> = events["running"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["digest"].as_str().unwrap())
        .collect();
    digests.sort_unstable();
    assert_eq!(digests, [OLD, NEW]);
    assert_eq!(events["version"], "0.9.0");
    assert_eq!(
        events["run_url"],
        "https://github.com/acme/shop/actions/runs/41"
    );
    assert_eq!(events["deployed_at"], "2026-11-30T08:00:00Z");

    let search = service(&run, "search");
    assert_eq!(search["state"], "progressing");
    assert_eq!(search["replicas"]["ready"], 0);

    let legacy = service(&run, "legacy");
    assert_eq!(legacy["state"], "complete");
    assert_eq!(legacy["revision"], Value::Null);
    assert_eq!(legacy["behind"], Value::Null);

    // billing: deployed 4 commits ago; its own change and its library's change count, auth's
    // and the docs' do not.
    let billing = service(&run, "billing");
    assert_eq!(billing["workload"], "billing-api");
    assert_eq!(billing["revision"], fixture.billing_revision.as_str());
    assert_eq!(billing["behind"], 2);

    let ghost = service(&run, "ghost");
    assert_eq!(ghost["state"], "missing");

    // One LIST per kind per namespace: deployments, replicasets, pods; no GET per service.
    let requests: Vec<String> = fixture.api.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        {
            let mut sorted = requests.clone();
            sorted.sort();
            sorted
        },
        [
            "GET /api/v1/namespaces/shop/pods",
            "GET /apis/apps/v1/namespaces/shop/deployments",
            "GET /apis/apps/v1/namespaces/shop/replicasets",
        ],
        "{requests:?}"
    );
    // The output and the job summary say the same.
    assert_eq!(run.output_json("status"), run.json());
    crate::support::snapshot::filtered(&[fixture.repo.path(), fixture.repo.scratch()])
        .bind(|| insta::assert_snapshot!("status_summary", run.summary));
}

#[test]
fn fail_on_exits_1_only_for_what_it_names() {
    let fixture = Fixture::new();
    // Without --fail-on: 0 whatever the states.
    fixture.status().run().success();
    let run = fixture.status().args(["--fail-on", "drift"]).run().code(1);
    run.stdout_has("events: drift");
    let run = fixture
        .status()
        .args(["--services", "auth,billing", "--fail-on", "behind"])
        .run()
        .code(1);
    run.stdout_has("billing: 2 commits behind");
    let run = fixture
        .status()
        .args(["--services", "ghost", "--fail-on", "unhealthy"])
        .run()
        .code(1);
    run.stdout_has("ghost: unhealthy (missing");
    // Healthy, not drifted, up to date: 0 even with every condition.
    fixture
        .status()
        .args(["--services", "auth", "--fail-on", "drift,behind,unhealthy"])
        .run()
        .success();
    // Bad usage: 2.
    fixture
        .status()
        .args(["--fail-on", "sometimes"])
        .run()
        .code(2)
        .stdout_has("drift, behind, unhealthy");
    fixture
        .status()
        .args(["--services", "common"])
        .run()
        .code(2)
        .stdout_has("no service `common` with `deploy` settings");
}

#[test]
fn a_read_only_identity_works_and_a_missing_right_is_named() {
    let fixture = Fixture::new();
    fixture.as_user(
        "reader-token",
        &[
            ("get", "deployments"),
            ("list", "deployments"),
            ("list", "replicasets"),
            ("list", "pods"),
        ],
    );
    let run = fixture
        .status()
        .args(["--services", "auth", "--format", "json"])
        .run()
        .success();
    assert_eq!(service(&run, "auth")["state"], "complete");
    fixture.as_user(
        "no-pods-token",
        &[("list", "deployments"), ("list", "replicasets")],
    );
    fixture
        .status()
        .run()
        .code(2)
        .stdout_has("may not `list` pods in namespace `shop`")
        .stdout_has("no patch rights are needed");
}

#[test]
fn a_rollback_restores_the_previous_revision() {
    let fixture = Fixture::new();
    let deployed = fixture.repo.sha("HEAD");
    let repo = TestRepo::clone_of(&fixture.repo, &[]);
    let repo = repo
        .file("services/auth/main.go", "package main // 3\n")
        .commit("auth: broken");
    let kubeconfig = fixture.kubeconfig.to_string_lossy().into_owned();
    Shipgate::new(&repo)
        .args(["deploy", "--services", "auth", "--kubeconfig", &kubeconfig])
        .args(["--image", "auth=registry.local/shop/auth:missing"])
        .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
        .run()
        .code(1);
    let run = Shipgate::new(&repo)
        .args(["status", "--services", "auth", "--format", "json"])
        .args(["--kubeconfig", &kubeconfig])
        .run()
        .success();
    let auth = service(&run, "auth");
    assert_eq!(auth["revision"], deployed.as_str(), "{auth}");
    assert_eq!(auth["desired_image"], "registry.local/shop/auth:1.1.0");
    // The failed commit is the one the cluster lacks.
    assert_eq!(auth["behind"], 1);
}
