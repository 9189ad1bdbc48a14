//! `shipgate deploy` with `deploy.manifests`: the real binary renders a kustomize overlay with
//! real `kubectl kustomize`, applies it server-side to the test Kubernetes API server (which
//! real kubectl proves honest in `kube_api_kubectl.rs`), watches, gates and rolls back.

use crate::support;

use kube_test_api::KubeApi;
use serde_json::Value;
use std::path::PathBuf;
use support::deploy_config::ManifestsConfig;
use support::{Run, Shipgate, TestRepo};

const KUSTOMIZATION: &str = "resources: [web.yaml, api.yaml, job.yaml]\n";

const WEB: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: web-secret}
stringData: {PASSWORD: s3cr3t-value}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.local/shop/web:latest}]
"#;

const API: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: registry.local/shop/api:latest}]
"#;

const JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: registry.local/shop/migrate:latest}]
"#;

struct Fixture {
    api: KubeApi,
    repo: TestRepo,
    kubeconfig: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let api = KubeApi::start();
        api.create_namespace("shop");
        let repo = TestRepo::new()
            .config(&ManifestsConfig::shop().render())
            .file("services/web/main.go", "package main\n")
            .file("services/api/main.go", "package main\n")
            .file("services/migrate/main.go", "package main\n")
            .file("deploy/overlays/prod/kustomization.yaml", KUSTOMIZATION)
            .file("deploy/overlays/prod/web.yaml", WEB)
            .file("deploy/overlays/prod/api.yaml", API)
            .file("deploy/overlays/prod/job.yaml", JOB)
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

    fn write(&self, path: &str, text: &str) {
        std::fs::write(self.repo.path().join(path), text).unwrap();
    }

    fn deploy(&self, images: &[(&str, &str)]) -> Shipgate {
        let services: Vec<&str> = images.iter().map(|(s, _)| *s).collect();
        let mut shipgate = Shipgate::new(&self.repo)
            .actions()
            .args(["deploy", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--services", &services.join(",")])
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .env("SHIPGATE_LOCK_POLL", "100ms");
        for (service, tag) in images {
            shipgate = shipgate.args([
                "--image",
                &format!("{service}=registry.local/shop/{service}:{tag}"),
            ]);
        }
        shipgate
    }

    /// The first deploy: everything at 1.0.0.
    fn first(&self) -> Run {
        self.deploy(&[("web", "1.0.0"), ("api", "1.0.0"), ("migrate", "1.0.0")])
            .run()
            .success()
    }

    fn get(&self, path: &str) -> Option<Value> {
        self.api
            .get(&format!("/api/v1/namespaces/shop/{path}"))
            .or_else(|| {
                self.api
                    .get(&format!("/apis/apps/v1/namespaces/shop/{path}"))
            })
    }

    fn image(&self, deployment: &str) -> String {
        self.get(&format!("deployments/{deployment}")).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn result(run: &Run, service: &str) -> Value {
    run.output_json("result")["services"][service].clone()
}

fn diff_names(run: &Run, group: &str) -> Vec<String> {
    run.output_json("diff")[group]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["kind"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn assert_no_secret(run: &Run) {
    let base64 = "czNjcjN0LXZhbHVl";
    // Only the runner's own `::add-mask::` commands may carry the value (the runner hides them).
    let stdout: String = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    for text in [
        stdout.as_str(),
        run.stderr.as_str(),
        run.summary.as_str(),
        run.output("diff"),
    ] {
        assert!(
            !text.contains("s3cr3t-value") && !text.contains(base64),
            "a Secret value was printed:\n{text}"
        );
    }
    assert!(
        run.stdout.contains("::add-mask::s3cr3t-value")
            || run.stdout.contains("::add-mask::n3w-s3cr3t"),
        "the Secret's value is masked first"
    );
}

#[test]
fn first_deploy_creates_everything_second_changes_a_config_and_one_image() {
    let fixture = Fixture::new();
    let run = fixture.first();
    assert_eq!(result(&run, "web")["status"], "succeeded", "{}", run.stderr);
    assert_eq!(result(&run, "api")["status"], "succeeded");
    assert_eq!(fixture.image("web"), "registry.local/shop/web:1.0.0");
    assert_eq!(fixture.image("api"), "registry.local/shop/api:1.0.0");
    let job = fixture
        .api
        .get("/apis/batch/v1/namespaces/shop/jobs/migrate")
        .unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/migrate:1.0.0"
    );
    assert_eq!(job["status"]["succeeded"], 1, "the Job was waited for");
    let mut created = diff_names(&run, "created");
    created.sort();
    assert_eq!(
        created,
        [
            "ConfigMap/web-config",
            "Deployment/api",
            "Deployment/web",
            "Job/migrate",
            "Secret/web-secret",
            "Service/web"
        ]
    );
    let web = fixture.get("deployments/web").unwrap();
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"]["shipgate.dev/revision"],
        fixture.repo.sha("HEAD")
    );
    assert!(web["metadata"]["annotations"]["shipgate.dev/deployed-at"].is_string());
    assert_eq!(
        web["metadata"]["labels"]["shipgate.dev/managed-by"],
        "shipgate"
    );
    let managers: Vec<&str> = web["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"shipgate"), "{managers:?}");
    run.summary_has("Deployment/shop/web");
    assert_no_secret(&run);

    // Second: the ConfigMap changes and api gets 1.1.0; web is not in the run and its manifest
    // says :latest, yet it keeps the live 1.0.0 and does not restart.
    let generation = web["metadata"]["generation"].clone();
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &WEB.replace("LEVEL: info", "LEVEL: debug"),
    );
    let run = fixture.deploy(&[("api", "1.1.0")]).run().success();
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "debug"
    );
    assert_eq!(fixture.image("api"), "registry.local/shop/api:1.1.0");
    assert_eq!(fixture.image("web"), "registry.local/shop/web:1.0.0");
    let web = fixture.get("deployments/web").unwrap();
    assert_eq!(
        web["metadata"]["generation"], generation,
        "web did not restart"
    );
    let mut changed = diff_names(&run, "changed");
    changed.sort();
    assert_eq!(
        changed,
        ["ConfigMap/web-config", "Deployment/api"],
        "{}",
        run.output("diff")
    );
    assert!(
        run.stdout
            .contains("web is not in this run: the image live in the cluster is kept"),
        "{}",
        run.stdout
    );
    assert_no_secret(&run);
}

#[test]
fn a_doomed_image_rolls_back_the_whole_set() {
    let fixture = Fixture::new();
    fixture.first();
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &WEB.replace("LEVEL: info", "LEVEL: debug"),
    );
    fixture.write(
        "deploy/overlays/prod/kustomization.yaml",
        "resources: [web.yaml, api.yaml, job.yaml, extra.yaml]\n",
    );
    fixture.write(
        "deploy/overlays/prod/extra.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: extra}\nspec:\n  selector: {app: extra}\n  ports: [{port: 80}]\n",
    );
    let run = fixture.deploy(&[("api", "missing")]).run().code(1);
    assert_eq!(
        result(&run, "api")["status"],
        "rolled-back",
        "{}",
        run.stderr
    );
    assert_eq!(
        fixture.image("api"),
        "registry.local/shop/api:1.0.0",
        "the image is restored"
    );
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "info",
        "the ConfigMap is restored"
    );
    assert!(
        fixture.get("services/extra").is_none(),
        "the Service this run created is removed"
    );
    run.stdout_has("removed (created by this run)");
    run.stdout_has("restored to its previous state");
    // The restored objects stay shipgate's: the next apply does not conflict.
    fixture.write("deploy/overlays/prod/web.yaml", WEB);
    fixture.deploy(&[("api", "1.0.1")]).run().success();
}

#[test]
fn a_failing_job_stops_the_next_wave() {
    let fixture = Fixture::new();
    fixture.first();
    let run = fixture
        .deploy(&[("migrate", "crash"), ("api", "1.1.0")])
        .run()
        .code(1);
    assert!(
        run.stdout.contains("Job failed: BackoffLimitExceeded"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("CrashLoopBackOff"),
        "the pod's reason:\n{}",
        run.stdout
    );
    assert_eq!(
        fixture.image("api"),
        "registry.local/shop/api:1.0.0",
        "wave 1 was not applied"
    );
    assert_ne!(result(&run, "api")["status"], "succeeded");
}

#[test]
fn a_field_owned_by_another_manager_stops_everything_before_any_change() {
    let fixture = Fixture::new();
    fixture.first();
    let (code, body) = fixture.api.call(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/web",
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":5}}"#,
    );
    assert_eq!(code, 200, "{body}");
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &WEB.replace("LEVEL: info", "LEVEL: debug"),
    );
    let run = fixture.deploy(&[("web", "1.1.0")]).run().code(2);
    // (`KubeApi::call` writes as the manager `kube-test-api`.)
    run.stdout_has(r#"Deployment/shop/web"#);
    run.stdout_has(r#"Apply failed with 1 conflict: conflict with "kube-test-api" using apps/v1: .spec.replicas"#);
    run.no_outputs();
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "info",
        "nothing applied"
    );
    assert_eq!(fixture.image("web"), "registry.local/shop/web:1.0.0");
}

#[test]
fn a_dry_run_shows_the_diff_and_changes_nothing() {
    let fixture = Fixture::new();
    fixture.first();
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &WEB.replace("LEVEL: info", "LEVEL: debug")
            .replace("s3cr3t-value", "n3w-s3cr3t"),
    );
    let run = fixture
        .deploy(&[("api", "1.1.0")])
        .arg("--dry-run")
        .run()
        .success();
    let diff = run.output_json("diff");
    let changed: Vec<&Value> = diff["changed"].as_array().unwrap().iter().collect();
    let config = changed
        .iter()
        .find(|e| e["name"] == "web-config")
        .expect("the ConfigMap changes");
    let text = config["diff"].as_str().unwrap();
    assert!(
        text.contains("-  LEVEL: info") && text.contains("+  LEVEL: debug"),
        "{text}"
    );
    let secret = changed
        .iter()
        .find(|e| e["name"] == "web-secret")
        .expect("the Secret changes");
    assert!(
        secret["diff"].as_str().unwrap().contains("*** (changed)"),
        "{secret}"
    );
    assert!(!run.output("diff").contains("n3w-s3cr3t"));
    assert!(
        diff["unchanged"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "web")
    );
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "info"
    );
    assert_eq!(fixture.image("api"), "registry.local/shop/api:1.0.0");
    assert_no_secret(&run);
}

#[test]
fn without_a_cluster_a_dry_run_renders_and_substitutes_and_says_so() {
    let fixture = Fixture::new();
    let run = Shipgate::new(&fixture.repo)
        .actions()
        .args(["deploy", "--dry-run", "--services", "api"])
        .args(["--image", "api=registry.local/shop/api:2.0.0"])
        .env("KUBECONFIG", "")
        .run()
        .success();
    run.stdout_has("could not compare with the cluster");
    run.stdout_has("web is not in this run: a deploy keeps the image live in the cluster");
    let created = run.output("diff");
    assert!(
        created.contains("registry.local/shop/api:2.0.0"),
        "{created}"
    );
    assert_no_secret(&run);
}

#[test]
fn prune_deletes_what_shipgate_applied_earlier_and_no_longer_renders() {
    let fixture = Fixture::new();
    fixture.write(
        "deploy/overlays/prod/kustomization.yaml",
        "resources: [web.yaml, api.yaml, job.yaml, extra.yaml]\n",
    );
    fixture.write(
        "deploy/overlays/prod/extra.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: extra}\nspec:\n  selector: {app: extra}\n  ports: [{port: 80}]\n",
    );
    fixture.first();
    // Someone else's object in the same namespace: never pruned.
    let (code, body) = fixture.api.call(
        "POST",
        "/api/v1/namespaces/shop/configmaps",
        Some("application/json"),
        r#"{"metadata":{"name":"not-ours"},"data":{"a":"b"}}"#,
    );
    assert_eq!(code, 201, "{body}");
    // `extra` is no longer rendered; with prune: false it stays, but it is remembered.
    fixture.write("deploy/overlays/prod/kustomization.yaml", KUSTOMIZATION);
    let run = fixture.deploy(&[("api", "1.1.0")]).run().success();
    assert!(fixture.get("services/extra").is_some());
    assert!(
        run.output_json("diff")["pruned"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let record = fixture
        .get("configmaps/shipgate-applyset")
        .expect("the prune record");
    assert!(
        record["data"]["objects"]
            .as_str()
            .unwrap()
            .contains("\"extra\""),
        "{record}"
    );

    fixture.write(
        ".github/shipgate.yml",
        &ManifestsConfig::shop().prune().render(),
    );
    let preview = fixture
        .deploy(&[("api", "1.1.0")])
        .arg("--dry-run")
        .run()
        .success();
    assert_eq!(
        diff_names(&preview, "pruned"),
        ["Service/extra"],
        "{}",
        preview.output("diff")
    );
    assert!(
        fixture.get("services/extra").is_some(),
        "a dry run deletes nothing"
    );
    let run = fixture.deploy(&[("api", "1.1.0")]).run().success();
    assert_eq!(diff_names(&run, "pruned"), ["Service/extra"]);
    run.stdout_has("Service/shop/extra");
    assert!(fixture.get("services/extra").is_none(), "pruned");
    assert!(
        fixture.get("configmaps/not-ours").is_some(),
        "never an object shipgate did not create"
    );
    let record = fixture.get("configmaps/shipgate-applyset").unwrap();
    assert!(
        !record["data"]["objects"]
            .as_str()
            .unwrap()
            .contains("\"extra\""),
        "{record}"
    );
}

#[test]
fn a_pull_request_run_previews_and_applies_nothing() {
    let fixture = Fixture::new();
    fixture.first();
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &WEB.replace("LEVEL: info", "LEVEL: debug"),
    );
    let sha = fixture.repo.sha("HEAD");
    let event = support::payload::pull_request(&sha, &sha, "users/octocat/x", "octocat");
    let run = fixture
        .deploy(&[("api", "1.1.0")])
        .event("pull_request", event)
        .run()
        .success();
    run.stdout_has("a pull-request run previews the change");
    let changed = diff_names(&run, "changed");
    assert!(
        changed.contains(&"ConfigMap/web-config".to_string()),
        "{changed:?}"
    );
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "info"
    );
    assert_eq!(fixture.image("api"), "registry.local/shop/api:1.0.0");
}

#[test]
fn an_unknown_kind_is_a_usage_error_before_anything_changes() {
    let fixture = Fixture::new();
    fixture.write(
        "deploy/overlays/prod/kustomization.yaml",
        "resources: [web.yaml, api.yaml, job.yaml, gadget.yaml]\n",
    );
    fixture.write(
        "deploy/overlays/prod/gadget.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
    );
    let run = fixture
        .deploy(&[("web", "1.0.0"), ("api", "1.0.0"), ("migrate", "1.0.0")])
        .run()
        .code(2);
    run.stdout_has("Gadget/g (kubectl kustomize deploy/overlays/prod (document 7))");
    run.stdout_has("the cluster does not serve the kind Gadget in example.com/v1");
    assert!(
        fixture.get("configmaps/web-config").is_none(),
        "nothing applied"
    );
    assert!(fixture.get("deployments/web").is_none());
}

#[test]
fn the_deploy_timeout_bounds_the_rollouts_and_rolls_back() {
    let fixture = Fixture::new();
    fixture.first();
    let run = fixture
        .deploy(&[("api", "slow-20000")])
        .args(["--deploy-timeout", "2s"])
        .run()
        .code(1);
    assert_eq!(
        result(&run, "api")["status"],
        "rolled-back",
        "{}",
        run.stdout
    );
    assert_eq!(fixture.image("api"), "registry.local/shop/api:1.0.0");
}

#[test]
fn config_check_requires_the_kustomization_directory() {
    let fixture = Fixture::new();
    Shipgate::new(&fixture.repo)
        .args(["config", "check"])
        .run()
        .success();
    fixture.write(
        ".github/shipgate.yml",
        &ManifestsConfig::shop()
            .kustomize("deploy/overlay/{environment}")
            .render(),
    );
    Shipgate::new(&fixture.repo)
        .args(["config", "check"])
        .run()
        .code(2)
        .stderr_has(".github/shipgate.yml:8:16: error: `deploy.manifests.kustomize`: `deploy/overlay/prod` is not a kustomization directory");
}

#[test]
fn a_namespace_of_the_set_is_created_first_and_its_objects_follow() {
    let fixture = Fixture::new();
    fixture.write(
        "deploy/overlays/prod/kustomization.yaml",
        "resources: [web.yaml, api.yaml, job.yaml, tools.yaml]\n",
    );
    fixture.write(
        "deploy/overlays/prod/tools.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tools, namespace: tools}\ndata: {a: b}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: tools}\n",
    );
    let run = fixture.first();
    assert!(fixture.api.get("/api/v1/namespaces/tools").is_some());
    assert!(
        fixture
            .api
            .get("/api/v1/namespaces/tools/configmaps/tools")
            .is_some()
    );
    let created = diff_names(&run, "created");
    assert!(
        created.contains(&"Namespace/tools".to_string()),
        "{created:?}"
    );
}

impl Fixture {
    /// The config with `from` replaced by `to` (a service's `deploy` settings, say).
    fn configure(&self, from: &str, to: &str) {
        let path = ".github/shipgate.yml";
        let text = std::fs::read_to_string(self.repo.path().join(path)).unwrap();
        assert!(text.contains(from), "{from} not in the config");
        self.write(path, &text.replacen(from, to, 1));
    }
}

#[test]
fn on_failure_none_leaves_the_set_as_applied_and_says_so() {
    let fixture = Fixture::new();
    fixture.first();
    fixture.configure(
        "name: api, wave: 1, timeout: 30s",
        "name: api, wave: 1, timeout: 30s, on-failure: none",
    );
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &WEB.replace("LEVEL: info", "LEVEL: debug"),
    );
    let run = fixture.deploy(&[("api", "missing")]).run().code(1);
    let api = result(&run, "api");
    assert_eq!(api["status"], "failed", "{api}\n{}", run.stderr);
    assert_eq!(fixture.image("api"), "registry.local/shop/api:missing");
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "debug",
        "nothing was put back"
    );
    run.stderr_has("nothing put back (on-failure: none)");
    // The failed workload's diagnosis, as for set-image.
    run.summary_has("Deployment/api: FAILED");
    run.summary_has("ErrImagePull");
}

#[test]
fn continue_on_failure_starts_the_next_wave_when_nothing_is_put_back() {
    let fixture = Fixture::new();
    fixture.first();
    fixture.configure(
        "name: web, timeout: 30s",
        "name: web, timeout: 30s, on-failure: none",
    );
    let run = fixture
        .deploy(&[("web", "missing"), ("api", "1.1.0")])
        .arg("--continue-on-failure")
        .run()
        .code(1);
    assert_eq!(result(&run, "web")["status"], "failed", "{}", run.stderr);
    assert_eq!(result(&run, "api")["status"], "succeeded", "{}", run.stderr);
    assert_eq!(fixture.image("api"), "registry.local/shop/api:1.1.0");
    assert_eq!(fixture.image("web"), "registry.local/shop/web:missing");

    // Without continue-on-failure the next wave does not start.
    let run = fixture
        .deploy(&[("web", "pull-denied"), ("api", "1.2.0")])
        .run()
        .code(1);
    assert_eq!(fixture.image("api"), "registry.local/shop/api:1.1.0");
    let api = result(&run, "api");
    assert_eq!(api["status"], "skipped", "{api}");
    assert!(
        api["reason"]
            .as_str()
            .unwrap()
            .contains("not deployed: web"),
        "{api}"
    );
}

#[test]
fn a_failure_of_a_service_with_rollback_puts_back_the_whole_set_even_with_continue_on_failure() {
    let fixture = Fixture::new();
    fixture.first();
    let run = fixture
        .deploy(&[("web", "missing"), ("api", "1.1.0")])
        .arg("--continue-on-failure")
        .run()
        .code(1);
    assert_eq!(
        result(&run, "web")["status"],
        "rolled-back",
        "{}",
        run.stderr
    );
    assert_eq!(fixture.image("web"), "registry.local/shop/web:1.0.0");
    assert_eq!(
        fixture.image("api"),
        "registry.local/shop/api:1.0.0",
        "a set put back is not built on"
    );
}

#[test]
fn a_cancelled_run_puts_back_the_whole_set_and_releases_the_lock() {
    let fixture = Fixture::new();
    fixture.first();
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &WEB.replace("LEVEL: info", "LEVEL: debug"),
    );
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    std::fs::write(&outputs, "").unwrap();
    // Spawned by hand to signal it mid-rollout, as a cancelled GitHub job does.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(fixture.repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", fixture.repo.home())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .args(["deploy", "--services", "web", "--kubeconfig"])
        .arg(&fixture.kubeconfig)
        .args(["--image", "web=registry.local/shop/web:slow-20000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = std::time::Instant::now();
    while fixture.image("web") != "registry.local/shop/web:slow-20000" {
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(30),
            "the image was never set"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the cancelled run lingered"
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let written = std::fs::read_to_string(&outputs).unwrap();
    let parsed = shipgate::runner::output::parse_output_file(&written);
    let result: Value =
        serde_json::from_str(&parsed.into_iter().find(|(n, _)| n == "result").unwrap().1).unwrap();
    let web = &result["services"]["web"];
    assert_eq!(web["status"], "rolled-back", "{web}");
    assert!(
        web["reason"].as_str().unwrap().contains("cancelled"),
        "{web}"
    );
    assert_eq!(fixture.image("web"), "registry.local/shop/web:1.0.0");
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "info",
        "the ConfigMap is put back too"
    );
    assert!(
        fixture
            .api
            .get("/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipgate-lock")
            .is_none()
    );
}

#[test]
fn github_deployments_record_a_manifests_deploy_and_its_outcome() {
    let fixture = Fixture::new();
    let github = crate::deploy::GitHubStandIn::start();
    fixture
        .deploy(&[("web", "1.0.0"), ("api", "1.0.0"), ("migrate", "1.0.0")])
        .env("GITHUB_API_URL", github.url())
        .env("SHIPGATE_GITHUB_TOKEN", "ghs_secret_token_123")
        .args(["--github-deployments", "--environment", "prod"])
        .run()
        .success();
    let failed = crate::deploy::GitHubStandIn::start();
    fixture
        .deploy(&[("api", "missing")])
        .env("GITHUB_API_URL", failed.url())
        .env("SHIPGATE_GITHUB_TOKEN", "ghs_secret_token_123")
        .arg("--github-deployments")
        .run()
        .code(1);
    for (github, state) in [(&github, "success"), (&failed, "failure")] {
        let requests = github.requests();
        let paths: Vec<&str> = requests.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/repos/Codertocat/Hello-World/deployments",
                "/repos/Codertocat/Hello-World/deployments/42/statuses",
                "/repos/Codertocat/Hello-World/deployments/42/statuses",
            ]
        );
        assert_eq!(requests[0].1["ref"], fixture.repo.sha("HEAD"));
        assert_eq!(requests[1].1["state"], "in_progress");
        assert_eq!(requests[2].1["state"], state);
    }
}

#[test]
fn a_new_service_starts_from_the_manifest_tag_only_when_its_registry_has_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = support::registry::Registry::start();
    let host = registry.host.clone();
    let fixture = Fixture::new();
    fixture.configure(
        "registry: registry.local/shop",
        &format!("registry: {host}/shop"),
    );
    let ours = |text: &str| text.replace("registry.local/shop", &format!("{host}/shop"));
    fixture.write("deploy/overlays/prod/web.yaml", &ours(WEB));
    fixture.write("deploy/overlays/prod/api.yaml", &ours(API));
    fixture.write(
        "deploy/overlays/prod/job.yaml",
        &ours(JOB).replace("migrate:latest", "migrate:1.0.0"),
    );
    let deploy = || {
        Shipgate::new(&fixture.repo)
            .actions()
            .args(["deploy", "--kubeconfig"])
            .arg(&fixture.kubeconfig)
            .args(["--services", "web,api"])
            .args(["--image", &format!("web={host}/shop/web:1.0.0")])
            .args(["--image", &format!("api={host}/shop/api:1.0.0")])
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .env("SHIPGATE_REGISTRY_INSECURE", &host)
    };
    // migrate is not in the run and nothing is live: its immutable tag is looked up, and the
    // registry does not have it.
    let run = deploy().run().code(2);
    run.stdout_has(&format!(
        "Job/shop/migrate container `migrate` has the image `{host}/shop/migrate:1.0.0` of the service `migrate`, which is not in this run and not live in the cluster; its tag does not exist in the registry"
    ));
    assert!(fixture.get("deployments/web").is_none(), "nothing applied");
    assert!(
        registry.log().contains("/v2/shop/migrate/manifests/1.0.0"),
        "{}",
        registry.log()
    );

    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(registry.push_tiny_image("shop/migrate", "1.0.0"));
    let run = deploy().run().success();
    let job = fixture
        .api
        .get("/apis/batch/v1/namespaces/shop/jobs/migrate")
        .unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{host}/shop/migrate:1.0.0")
    );
    run.stdout_has("migrate is not in this run and not live yet: the manifest's immutable tag, found in its registry");
}

#[test]
fn a_digest_mismatch_of_a_service_workload_rolls_back_the_whole_set() {
    // verify-digest (auto) judges a mutable tag: a node that cached an older image under it
    // runs old code under a "successful" rollout; the service fails and the set is put back.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = support::registry::Registry::start();
    let host = registry.host.clone();
    let digest = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(registry.push_tiny_image("shop/web", "prod-latest"));
    let tag = format!("{host}/shop/web:prod-latest");
    let fixture = Fixture::new();
    fixture.configure(
        "registry: registry.local/shop",
        &format!("registry: {host}/shop"),
    );
    let ours = |text: &str| text.replace("registry.local/shop", &format!("{host}/shop"));
    fixture.write("deploy/overlays/prod/web.yaml", &ours(WEB));
    fixture.write("deploy/overlays/prod/api.yaml", &ours(API));
    fixture.write("deploy/overlays/prod/job.yaml", &ours(JOB));
    let deploy = |images: &[(&str, String)]| {
        let services: Vec<&str> = images.iter().map(|(s, _)| *s).collect();
        let mut shipgate = Shipgate::new(&fixture.repo)
            .actions()
            .args(["deploy", "--kubeconfig"])
            .arg(&fixture.kubeconfig)
            .args(["--services", &services.join(",")])
            .env("SHIPGATE_PROGRESS_THROTTLE_MS", "0")
            .env("SHIPGATE_REGISTRY_INSECURE", &host);
        for (service, image) in images {
            shipgate = shipgate.args(["--image", &format!("{service}={image}")]);
        }
        shipgate
    };
    let version = |service: &str| format!("{host}/shop/{service}:1.0.0");
    deploy(&[
        ("web", version("web")),
        ("api", version("api")),
        ("migrate", version("migrate")),
    ])
    .run()
    .success();
    fixture.api.push_image(&tag, &digest);
    fixture.api.cache_image_on_node(
        "fake-node-1",
        &tag,
        "sha256:01d0000000000000000000000000000000000000000000000000000000000000",
    );
    fixture.write(
        "deploy/overlays/prod/web.yaml",
        &ours(WEB).replace("LEVEL: info", "LEVEL: debug"),
    );
    fixture.write(
        "deploy/overlays/prod/kustomization.yaml",
        "resources: [web.yaml, api.yaml, job.yaml, extra.yaml]\n",
    );
    fixture.write(
        "deploy/overlays/prod/extra.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: extra}\nspec:\n  selector: {app: extra}\n  ports: [{port: 80}]\n",
    );
    let run = deploy(&[("web", tag.clone())]).run().code(1);
    let web = result(&run, "web");
    assert_eq!(web["status"], "rolled-back", "{}", run.stderr);
    let reason = web["reason"].as_str().unwrap();
    let short = &digest["sha256:".len().."sha256:".len() + 12];
    for part in [
        &format!("digest mismatch: expected sha256:{short} (the registry's digest of the tag)"),
        "on fake-node-1 (container web) runs sha256:01d000000000",
    ] {
        assert!(reason.contains(part), "{part}\n{reason}");
    }
    assert_eq!(web["digest"], Value::Null);
    assert_eq!(
        fixture.image("web"),
        version("web"),
        "the image is restored"
    );
    assert_eq!(
        fixture.get("configmaps/web-config").unwrap()["data"]["LEVEL"],
        "info",
        "the ConfigMap is restored"
    );
    assert!(
        fixture.get("services/extra").is_none(),
        "the Service this run created is removed"
    );
    run.summary_has("digest mismatch");

    // Without the stale node cache the same tag is verified and its digest reported.
    fixture
        .api
        .cache_image_on_node("fake-node-1", &tag, &digest);
    let run = deploy(&[("web", tag.clone())]).run().success();
    assert_eq!(result(&run, "web")["digest"], digest.as_str());
    run.stderr_has("Deployment/shop/web: digest verified: every new pod runs");
}

/// An in-cluster health gate in manifests mode needs `create pods/portforward`, checked before
/// the dry run like the set-image preflight: without it nothing is sent (not even a dry run)
/// and the message names the right and the service.
#[test]
fn a_gate_through_a_port_forward_without_the_right_stops_before_anything_is_sent() {
    let fixture = Fixture::new();
    fixture.write(
        ".github/shipgate.yml",
        &ManifestsConfig::shop()
            .web_health("{ port: 8080, path: /health }")
            .render(),
    );
    let everything_but_port_forward = [
        ("*", "deployments"),
        ("*", "configmaps"),
        ("*", "services"),
        ("*", "jobs"),
        ("*", "pods"),
        ("*", "replicasets"),
        ("*", "events"),
        ("*", "leases"),
        ("*", "namespaces"),
        ("create", "selfsubjectaccessreviews"),
    ];
    fixture.api.add_user(
        "deployer-token",
        "system:serviceaccount:shop:deployer",
        &everything_but_port_forward,
    );
    std::fs::write(
        &fixture.kubeconfig,
        fixture.api.kubeconfig_yaml("deployer-token", Some("shop")),
    )
    .unwrap();
    let run = fixture
        .deploy(&[("web", "1.0.0"), ("api", "1.0.0"), ("migrate", "1.0.0")])
        .run()
        .code(2);
    run.stdout_has(
        "this identity may not `create` pods/portforward in namespace `shop`, which the health \
         gate of `web` needs",
    );
    run.no_outputs();
    let sent = fixture
        .api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" || r.method == "POST" && !r.path.contains("selfsubject"))
        .count();
    assert_eq!(sent, 0, "nothing applied, not even a dry run");
    assert!(fixture.get("deployments/web").is_none());
}
