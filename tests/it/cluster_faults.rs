//! Hardening of the cluster side, end to end against the test Kubernetes API server with
//! injected faults (`kube_test_api::Fault`): kubeconfig values the HTTP stack would panic on,
//! secrets in every kubeconfig source, bounded exec plugins, retried writes that must happen,
//! a lock that cannot be lost silently, and first API calls inside `deploy-timeout`. Each test
//! is named after the class of failure it pins.

use crate::support;

use base64::Engine;
use kube_test_api::{Fault, KubeApi, deployment};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::{Run, Shipgate, TestRepo};

pub(crate) const CONFIG: &str = r#"version: 1
defaults:
  registry: registry.local/shop
  tags: ["{sha7}"]
services:
  auth:
    paths: ["services/auth/**"]
    image: auth
    deploy: { namespace: shop, timeout: 60s }
"#;

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/auth";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock";

pub(crate) struct Fixture {
    pub(crate) api: KubeApi,
    pub(crate) repo: TestRepo,
    kubeconfig: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture::with_config(CONFIG)
    }

    pub(crate) fn with_config(config: &str) -> Fixture {
        let api = KubeApi::start();
        api.create_namespace("shop");
        api.create(
            deployment("shop", "auth")
                .image("auth", "registry.local/shop/auth:1.0.0")
                .replicas(2)
                .build(),
        );
        assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(20)));
        let repo = TestRepo::new()
            .config(config)
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
        }
    }

    pub(crate) fn shipgate(&self) -> Shipgate {
        Shipgate::new(&self.repo)
            .actions()
            .args(["deploy", "--services", "auth", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .env("SHIPGATE_LOCK_POLL", "100ms")
    }

    /// A run with the kubeconfig given as this text (YAML, JSON or base64) in the input.
    fn shipgate_with_kubeconfig(&self, text: &str) -> Shipgate {
        Shipgate::new(&self.repo)
            .actions()
            .args(["deploy", "--services", "auth"])
            .env("SHIPGATE_KUBECONFIG", text)
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
    }

    fn image(&self) -> String {
        self.api.get(DEPLOYMENT).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn count(&self, method: &str, path_end: &str) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(path_end))
            .count()
    }

    /// A kubeconfig for the server with this user section (indented under `user:`).
    fn kubeconfig_with_user(&self, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{}'}}\nusers:\n- name: u\n  user:\n{user}contexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: shop}}\ncurrent-context: c\n",
            self.api.url()
        )
    }
}

pub(crate) fn status(run: &Run) -> String {
    run.output_json("result")["services"]["auth"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Everything the run wrote, except the mask commands themselves.
pub(crate) fn printed(run: &Run) -> String {
    let stdout: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    format!(
        "{}\n{}\n{}\n{}",
        stdout.join("\n"),
        run.stderr,
        run.summary,
        run.outputs.values().cloned().collect::<Vec<_>>().join("\n")
    )
}

pub(crate) fn masks(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .map(str::to_string)
        .collect()
}

// §1 Kubeconfig values the HTTP stack rejects later with a panic.

#[test]
fn kubeconfig_token_with_a_trailing_line_break_is_trimmed_like_kubectl() {
    let fixture = Fixture::new();
    let yaml =
        fixture.kubeconfig_with_user(&format!("    token: |\n      {}\n", KubeApi::ADMIN_TOKEN));
    let run = fixture
        .shipgate_with_kubeconfig(&yaml)
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert_eq!(status(&run), "succeeded");
}

#[test]
fn kubeconfig_token_with_an_inner_line_break_is_a_located_usage_error() {
    let fixture = Fixture::new();
    let yaml = fixture.kubeconfig_with_user("    token: \"first-half\\nsecond-half\"\n");
    let run = fixture
        .shipgate_with_kubeconfig(&yaml)
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(2);
    run.stdout_has("kubeconfig user `u`: its token has a line break inside");
    assert!(!printed(&run).contains("second-half"));
    assert!(fixture.api.requests().is_empty(), "nothing was sent");
}

#[test]
fn kubeconfig_server_without_a_scheme_is_a_located_usage_error() {
    let fixture = Fixture::new();
    let yaml = fixture
        .kubeconfig_with_user(&format!("    token: {}\n", KubeApi::ADMIN_TOKEN))
        .replace("server: 'http://", "server: '");
    let run = fixture.shipgate_with_kubeconfig(&yaml).run().code(2);
    run.stdout_has("kubeconfig cluster `c`: its server is not a URL (it has no scheme");
}

// §2 Secrets.

#[test]
fn kubeconfig_input_that_cannot_be_decoded_is_never_echoed() {
    let fixture = Fixture::new();
    let pasted = "ghp_this-is-a-token-pasted-into-the-wrong-secret!";
    let run = fixture.shipgate_with_kubeconfig(pasted).run().code(2);
    run.stdout_has("not valid base64");
    assert!(!printed(&run).contains("ghp_this"), "{}", printed(&run));
    let path_like = "./deploy/kube-s3cr3t-config";
    let run = fixture.shipgate_with_kubeconfig(path_like).run().code(2);
    run.stdout_has("looks like a file path");
    assert!(!printed(&run).contains("s3cr3t"));
}

#[test]
fn kubeconfig_as_one_line_json_is_accepted() {
    let fixture = Fixture::new();
    let json = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": fixture.api.url()}}],
        "users": [{"name": "u", "user": {"token": KubeApi::ADMIN_TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "shop"}}],
        "current-context": "c",
    });
    let run = fixture
        .shipgate_with_kubeconfig(&json.to_string())
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert_eq!(status(&run), "succeeded");
    assert!(masks(&run).contains(&KubeApi::ADMIN_TOKEN.to_string()));
}

#[test]
fn kubeconfig_secrets_of_every_source_are_masked_as_values_not_lines() {
    let fixture = Fixture::new();
    let token_file = fixture.repo.scratch().join("token");
    std::fs::write(&token_file, format!("{}\n", KubeApi::ADMIN_TOKEN)).unwrap();
    let yaml = format!(
        "{}---\nusers:\n- name: spare\n  user: {{token: second-document-token, client-key-data: a2V5LXMzY3IzdA==}}\n",
        fixture
            .kubeconfig_with_user(&format!("    tokenFile: {}\n", token_file.display()))
            .replace("server: 'http://", "server: 'http://deployer:url-password@")
    );
    let run = fixture
        .shipgate_with_kubeconfig(&yaml)
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    let masks = masks(&run);
    for secret in [
        KubeApi::ADMIN_TOKEN,
        "second-document-token",
        "a2V5LXMzY3IzdA==",
        "url-password",
    ] {
        assert!(masks.contains(&secret.to_string()), "{secret}: {masks:?}");
    }
    for line in [
        "apiVersion: v1",
        "kind: Config",
        "---",
        "current-context: c",
    ] {
        assert!(!masks.contains(&line.to_string()), "{line}: {masks:?}");
    }
    // The masks come before anything else.
    assert!(run.stdout.starts_with("::add-mask::"), "{}", run.stdout);
}

#[test]
fn registry_password_is_masked_in_deploy_as_in_build() {
    let fixture = Fixture::new();
    let run = fixture
        .shipgate()
        .env("SHIPGATE_REGISTRY_USERNAME", "bot")
        .env("SHIPGATE_REGISTRY_PASSWORD", "registry-pass-4711")
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert!(masks(&run).contains(&"registry-pass-4711".to_string()));
}

/// A kubeconfig whose user runs this exec plugin script.
fn exec_kubeconfig(fixture: &Fixture, script: &str) -> String {
    let plugin = fixture.repo.scratch().join("plugin.sh");
    std::fs::write(&plugin, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    fixture.kubeconfig_with_user(&format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {}\n      env: [{{name: PLUGIN_SECRET, value: exec-env-s3cr3t-value}}]\n",
        plugin.display()
    ))
}

#[test]
fn exec_plugin_that_hangs_is_killed_on_timeout_with_a_clear_error() {
    let fixture = Fixture::new();
    let yaml = exec_kubeconfig(&fixture, "#!/bin/sh\nsleep 60\n");
    let started = Instant::now();
    let run = fixture
        .shipgate_with_kubeconfig(&yaml)
        .env("SHIPGATE_EXEC_PLUGIN_TIMEOUT", "1s")
        .run()
        .code(2);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    run.stdout_has("did not finish within 1s and was stopped");
}

#[test]
fn exec_plugin_stderr_goes_through_the_masks() {
    let fixture = Fixture::new();
    let yaml = exec_kubeconfig(
        &fixture,
        "#!/bin/sh\necho \"login failed for $PLUGIN_SECRET\" >&2\nexit 3\n",
    );
    let run = fixture.shipgate_with_kubeconfig(&yaml).run().code(2);
    run.stdout_has("failed with exit code 3; it said: login failed for ***");
    assert!(
        !printed(&run).contains("exec-env-s3cr3t-value"),
        "{}",
        printed(&run)
    );
    assert!(masks(&run).contains(&"exec-env-s3cr3t-value".to_string()));
}

#[test]
fn exec_plugin_credentials_are_used() {
    let fixture = Fixture::new();
    let yaml = exec_kubeconfig(
        &fixture,
        &format!(
            "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'\n",
            KubeApi::ADMIN_TOKEN
        ),
    );
    let run = fixture
        .shipgate_with_kubeconfig(&yaml)
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert_eq!(status(&run), "succeeded");
}

// §4 Timeouts.

#[test]
fn first_api_calls_are_inside_deploy_timeout_against_a_trickling_peer() {
    let fixture = Fixture::new();
    fixture
        .api
        .inject(Fault::trickle(Duration::from_millis(200)).on("GET", "/version"));
    let started = Instant::now();
    let run = fixture
        .shipgate()
        .args(["--deploy-timeout", "2s"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    run.stdout_has("does not answer: no answer within 2s");
    assert_eq!(fixture.count("PATCH", "/deployments/auth"), 0);
}

#[test]
fn preflight_stalled_is_inside_deploy_timeout() {
    let fixture = Fixture::new();
    fixture
        .api
        .inject(Fault::stall(Duration::from_secs(30)).on("GET", "/deployments/auth"));
    let started = Instant::now();
    let run = fixture
        .shipgate()
        .args(["--deploy-timeout", "3s"])
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    run.stdout_has("did not finish within the deploy timeout");
    assert_eq!(fixture.image(), "registry.local/shop/auth:1.0.0");
}

// §4 Writes that must happen.

#[test]
fn rollback_patch_is_retried_on_server_errors_and_dropped_connections() {
    let fixture = Fixture::new();
    // The set-image PATCH passes; the rollback's first attempts fail.
    fixture.api.inject(
        Fault::status(503)
            .on("PATCH", "/deployments/auth")
            .after(1)
            .times(2),
    );
    fixture.api.inject(
        Fault::drop_connection()
            .on("PATCH", "/deployments/auth")
            .times(1),
    );
    let run = fixture
        .shipgate()
        .args(["--image", "auth=registry.local/shop/auth:crash"])
        .run()
        .code(1);
    assert_eq!(status(&run), "rolled-back", "{}", run.stdout);
    assert_eq!(fixture.image(), "registry.local/shop/auth:1.0.0");
    assert!(fixture.count("PATCH", "/deployments/auth") >= 4);
}

#[test]
fn rollback_that_cannot_be_sent_is_reported_loudly() {
    let fixture = Fixture::new();
    fixture
        .api
        .inject(Fault::status(500).on("PATCH", "/deployments/auth").after(1));
    let run = fixture
        .shipgate()
        .args(["--image", "auth=registry.local/shop/auth:crash"])
        .run()
        .code(1);
    assert_eq!(status(&run), "failed");
    run.stdout_line("::error", &["rollback FAILED", "after 6 attempts"]);
    run.summary_has("rollback failed");
    assert_eq!(fixture.image(), "registry.local/shop/auth:crash");
}

#[test]
fn lease_release_is_retried_on_server_errors() {
    let fixture = Fixture::new();
    fixture.api.inject(
        Fault::status(500)
            .on("DELETE", "/leases/shipgate-lock")
            .times(2),
    );
    fixture
        .shipgate()
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert!(fixture.api.get(LEASE).is_none(), "the lease was released");
    assert_eq!(fixture.count("DELETE", "/leases/shipgate-lock"), 3);
}

#[test]
fn lease_that_cannot_be_released_is_reported_loudly() {
    let fixture = Fixture::new();
    fixture
        .api
        .inject(Fault::status(500).on("DELETE", "/leases/shipgate-lock"));
    let run = fixture
        .shipgate()
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    run.stdout_line(
        "::warning",
        &[
            "could not release the deploy lock",
            "kubectl delete lease shipgate-lock -n shop",
        ],
    );
    run.summary_has("could not release the deploy lock");
}

// §4 A lock that cannot be lost silently.

/// Runs a slow deploy while `meddle` acts on the cluster once the set-image patch was sent.
fn with_lease_meddling(fixture: &Fixture, meddle: impl FnOnce(&KubeApi) + Send) -> Run {
    let command = fixture
        .shipgate()
        .env("SHIPGATE_LOCK_RENEW", "200ms")
        .args(["--image", "auth=registry.local/shop/auth:slow-20000"]);
    let api = &fixture.api;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if api.requests().iter().any(|r| r.method == "PATCH") {
                    meddle(api);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        command.run()
    })
}

#[test]
fn lock_taken_over_stops_the_deploy_and_rolls_back() {
    let fixture = Fixture::new();
    let started = Instant::now();
    let run = with_lease_meddling(&fixture, |api| {
        let (code, _) = api.call(
            "PATCH",
            LEASE,
            Some("application/merge-patch+json"),
            r#"{"spec":{"holderIdentity":"another-run"}}"#,
        );
        assert_eq!(code, 200);
    });
    let run = run.code(1);
    assert!(started.elapsed() < Duration::from_secs(40));
    run.stdout_line("::warning", &["was taken over by another-run"]);
    assert_eq!(status(&run), "rolled-back", "{}", run.stdout);
    assert_eq!(fixture.image(), "registry.local/shop/auth:1.0.0");
    // Someone else's lease is left alone.
    assert_eq!(
        fixture.api.get(LEASE).unwrap()["spec"]["holderIdentity"],
        "another-run"
    );
}

#[test]
fn lock_whose_renewals_keep_failing_stops_the_deploy() {
    let fixture = Fixture::new();
    let run = with_lease_meddling(&fixture, |api| {
        api.inject(Fault::status(500).on("PUT", "/leases/shipgate-lock"));
    });
    let run = run.code(1);
    run.stdout_line("::warning", &["could not be renewed 3 times in a row"]);
    assert_eq!(status(&run), "rolled-back");
    assert_eq!(fixture.image(), "registry.local/shop/auth:1.0.0");
}

// §4 Bounded bodies.

#[test]
fn pod_logs_are_fetched_with_a_byte_limit() {
    let fixture = Fixture::new();
    fixture
        .shipgate()
        .args(["--image", "auth=registry.local/shop/auth:crash"])
        .run()
        .code(1);
    let logs: Vec<_> = fixture
        .api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .collect();
    assert!(!logs.is_empty());
    assert!(
        logs.iter().all(|r| r.query.contains("limitBytes=65536")),
        "{logs:?}"
    );
}

#[test]
fn kubeconfig_given_as_base64_is_masked_whole_and_decoded() {
    let fixture = Fixture::new();
    let yaml = fixture.kubeconfig_with_user(&format!("    token: {}\n", KubeApi::ADMIN_TOKEN));
    let encoded = base64::engine::general_purpose::STANDARD.encode(&yaml);
    let run = fixture
        .shipgate_with_kubeconfig(&encoded)
        .args(["--image", "auth=registry.local/shop/auth:1.1.0"])
        .run()
        .success();
    assert!(masks(&run).contains(&encoded));
    assert!(!printed(&run).contains(KubeApi::ADMIN_TOKEN));
}
