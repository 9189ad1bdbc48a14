//! `verify-digest` end to end: the real binary, the test Kubernetes API server (whose kubelet
//! reports `imageID`s like a real one, node image caches included) and a real registry
//! (`docker-registry`) serving the tag. A node that cached an old image under a mutable tag
//! runs old code under a "successful" rollout: shipgate fails the service, names the pod, the
//! node, both digests and the cause, and rolls it back.

use crate::support;

use kube_test_api::{KubeApi, deployment};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use support::registry::Registry;
use support::{Run, Shipgate, TestRepo};

const OLD: &str = "sha256:01d0000000000000000000000000000000000000000000000000000000000000";

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

struct Fixture {
    api: KubeApi,
    repo: TestRepo,
    kubeconfig: PathBuf,
    registry: Registry,
    /// `<registry>/shop/auth:prod-latest`, pushed.
    tag: String,
    /// What the registry serves for it.
    digest: String,
}

impl Fixture {
    /// `auth` runs `:1.0.0` (2 replicas on one node); the registry serves `prod-latest`.
    fn new(verify: Option<&str>) -> Fixture {
        let registry = Registry::start();
        let digest = block_on(registry.push_tiny_image("shop/auth", "prod-latest"));
        let tag = format!("{}/shop/auth:prod-latest", registry.host);
        let api = KubeApi::start();
        api.create_namespace("shop");
        api.push_image(&tag, &digest);
        api.create(
            deployment("shop", "auth")
                .image("auth", &format!("{}/shop/auth:1.0.0", registry.host))
                .replicas(2)
                .build(),
        );
        assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(20)));
        let setting = verify
            .map(|v| format!(", verify-digest: {v}"))
            .unwrap_or_default();
        let config = format!(
            "version: 1\ndefaults:\n  registry: {}/shop\nservices:\n  auth:\n    paths: [\"services/auth/**\"]\n    image: auth\n    deploy: {{ namespace: shop, timeout: 60s{setting} }}\n",
            registry.host
        );
        let repo = TestRepo::new()
            .config(&config)
            .file("services/auth/main.go", "package main\n")
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
            registry,
            tag,
            digest,
        }
    }

    fn deploy(&self, image: &str) -> Shipgate {
        Shipgate::new(&self.repo)
            .actions()
            .args(["deploy", "--services", "auth", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--image", &format!("auth={image}")])
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .env("SHIPGATE_REGISTRY_INSECURE", &self.registry.host)
    }

    fn image(&self) -> String {
        self.api
            .get("/apis/apps/v1/namespaces/shop/deployments/auth")
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn auth(run: &Run) -> Value {
    run.output_json("result")["services"]["auth"].clone()
}

#[test]
fn a_node_with_a_stale_cached_tag_fails_and_rolls_back() {
    let fixture = Fixture::new(None);
    fixture
        .api
        .cache_image_on_node("fake-node-1", &fixture.tag, OLD);
    let run = fixture.deploy(&fixture.tag).run().code(1);
    let auth = auth(&run);
    assert_eq!(auth["status"], "rolled-back", "{auth}");
    let reason = auth["reason"].as_str().unwrap();
    let short = &fixture.digest["sha256:".len().."sha256:".len() + 12];
    for part in [
        &format!("digest mismatch: expected sha256:{short} (the registry's digest of the tag)"),
        "on fake-node-1 (container auth) runs sha256:01d000000000",
        "Likely cause: mutable tag `prod-latest` with imagePullPolicy IfNotPresent: the node used its cached image",
    ] {
        assert!(reason.contains(part), "{part}\n{reason}");
    }
    assert_eq!(auth["digest"], Value::Null);
    assert_eq!(
        fixture.image(),
        format!("{}/shop/auth:1.0.0", fixture.registry.host)
    );
    run.summary_has("digest mismatch");
}

#[test]
fn pods_running_the_registry_digest_pass_and_the_summary_shows_it() {
    let fixture = Fixture::new(None);
    let run = fixture.deploy(&fixture.tag).run().success();
    let auth = auth(&run);
    assert_eq!(auth["status"], "succeeded", "{auth}");
    assert_eq!(auth["digest"], fixture.digest.as_str());
    let short = &fixture.digest["sha256:".len().."sha256:".len() + 12];
    run.summary_has(&format!("runs `sha256:{short}`"));
    assert_eq!(fixture.image(), fixture.tag);
}

#[test]
fn a_build_digest_is_checked_and_verify_digest_false_checks_nothing() {
    // Pinned to the build's digest: the kubelet runs exactly it.
    let fixture = Fixture::new(None);
    let pinned = format!("{}@{}", fixture.tag, fixture.digest);
    let run = fixture.deploy(&pinned).run().success();
    assert_eq!(auth(&run)["digest"], fixture.digest.as_str());

    // Off in the config: a stale node goes unnoticed, as before.
    let fixture = Fixture::new(Some("false"));
    fixture
        .api
        .cache_image_on_node("fake-node-1", &fixture.tag, OLD);
    let run = fixture.deploy(&fixture.tag).run().success();
    assert_eq!(auth(&run)["status"], "succeeded");
    assert_eq!(auth(&run)["digest"], Value::Null);
    // The input wins over the config: the same image again (nothing to roll back) is found
    // running the stale digest.
    let run = fixture
        .deploy(&fixture.tag)
        .args(["--verify-digest", "true"])
        .run()
        .code(1);
    let auth = auth(&run);
    assert_eq!(auth["status"], "failed", "{auth}");
    assert!(
        auth["reason"]
            .as_str()
            .unwrap()
            .contains("runs sha256:01d000000000"),
        "{auth}"
    );
}

#[test]
fn verify_digest_true_fails_when_the_registry_cannot_say() {
    let fixture = Fixture::new(Some("true"));
    let missing = format!("{}/shop/auth:gone-latest", fixture.registry.host);
    fixture.api.push_image(&missing, &fixture.digest);
    let run = fixture.deploy(&missing).run().code(1);
    let reason = auth(&run)["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("verify-digest: the registry has no"),
        "{reason}"
    );
}
