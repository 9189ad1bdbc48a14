//! The manifests scenario (`--manifests`): the same N services (20 by default) deployed from
//! one kustomize overlay (`deploy.manifests.kustomize`) of 3N objects: a ConfigMap, a Service
//! and a Deployment (2 replicas) per service. A first, unmeasured deploy creates them at
//! `:1.0.0`; the measured one changes every image to `:slow-<ms>` (the same delays as the
//! other scenarios) and every ConfigMap (its `RELEASE` value), so 2N objects are applied and
//! N Services are left unchanged (all 3N are read, server-side dry-run and diffed). In the
//! same run, on a fresh server, today's set-image path (`fan_out`, scenario 1) deploys the
//! same N images, so the two overheads are compared side by side.
//!
//! Figures (seconds since the spawn of the process; "server" moments as the bench's own watch
//! of the Deployments received them, stderr lines as they arrived from the pipe):
//! - render: spawn → shipgate's line `manifests: … objects rendered; server-side dry run`
//!   (start-up, config, plan, `kubectl kustomize`, the cluster's version); the same
//!   `kubectl kustomize` alone is timed next to it;
//! - dry run: that line → the first image change in effect at the server (live reads and
//!   discovery, the server-side dry run of every object, the diff, the lock);
//! - apply: first → last Deployment carrying its new image at the server (the objects are
//!   applied in dependency order, ConfigMaps first);
//! - wall, max(t_i) (server-observed rollouts, as in scenario 1) and overhead = wall − max(t_i),
//!   against the set-image overhead of the same run: the target is ≤ 1 s more.

use super::{
    Child, Cluster, NAMESPACE, Options, REGISTRY, Repo, Table, die, fan_out, max, median, name,
    new_images, observe, old_image, ratio, run_shipgate, seconds, slow_ms, verdict,
};
use kube_test_api::KubeApi;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The target: the manifests path adds at most this over the set-image path.
const TARGET_EXTRA: f64 = 1.0;
/// The overlay, relative to the repository.
const OVERLAY: &str = "deploy/bench";
/// The line shipgate prints once the manifests are rendered.
const RENDERED: &str = "objects rendered; server-side dry run";

/// A server with only the namespace (the manifests create everything else).
fn empty_cluster() -> Cluster {
    let api = KubeApi::start();
    api.create_namespace(NAMESPACE);
    Cluster::of(api)
}

/// The overlay's objects: per service a ConfigMap (its `RELEASE`), a Service, a Deployment.
fn overlay(n: usize, release: &dyn Fn(usize) -> String) -> String {
    let mut text = String::new();
    for i in 0..n {
        let service = name(i);
        write!(
            text,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {service}-config}}\n\
             data: {{RELEASE: \"{release}\", LEVEL: info}}\n\
             ---\napiVersion: v1\nkind: Service\nmetadata: {{name: {service}}}\n\
             spec:\n  selector: {{app: {service}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n\
             ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {service}}}\n\
             spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {service}}}}}\n  \
             template:\n    metadata: {{labels: {{app: {service}}}}}\n    spec:\n      \
             containers:\n      - name: {service}\n        image: {image}\n        \
             envFrom: [{{configMapRef: {{name: {service}-config}}}}]\n",
            release = release(i),
            image = old_image(i),
        )
        .unwrap();
    }
    text
}

/// A repository whose config deploys the `n` services from the overlay.
fn manifests_repo(n: usize) -> Repo {
    let repo = Repo::new(n);
    let config_path = repo.root.join(".github/shipgate.yml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    // Each service's workload is the Deployment of its name (`deploy.name` defaults to it).
    let config = config.replacen(
        "services:\n",
        &format!("deploy:\n  manifests:\n    kustomize: {OVERLAY}\nservices:\n"),
        1,
    );
    std::fs::write(&config_path, config).unwrap();
    let dir = repo.root.join(OVERLAY);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("namespace: {NAMESPACE}\nresources: [services.yaml]\n"),
    )
    .unwrap();
    std::fs::write(dir.join("services.yaml"), overlay(n, &|_| "1.0.0".into())).unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&[
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-q",
        "-m",
        "manifests",
    ]);
    repo
}

/// One run of the manifests scenario.
struct Measured {
    wall: f64,
    slowest: f64,
    rendered: f64,
    first_patch: f64,
    last_patch: f64,
    last_done: f64,
    kustomize_alone: f64,
}

fn stamped(child: &Child, text: &str) -> f64 {
    child
        .lines
        .iter()
        .find(|(_, line)| line.contains(text))
        .map_or_else(
            || {
                die(&format!(
                    "shipgate never printed {text:?}:\n{}",
                    child.tail()
                ))
            },
            |(at, _)| *at,
        )
}

/// `kubectl kustomize` of the overlay alone, as shipgate runs it.
fn kustomize_alone(options: &Options, repo: &Repo) -> f64 {
    let kubectl = options.kubectl.clone().unwrap_or_else(|| "kubectl".into());
    let started = Instant::now();
    let status = super::scrub(&mut Command::new(&kubectl))
        .args(["kustomize", OVERLAY])
        .current_dir(&repo.root)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| die(&format!("cannot run {kubectl} kustomize: {e}")));
    if !status.success() {
        die(&format!("{kubectl} kustomize {OVERLAY} failed"));
    }
    started.elapsed().as_secs_f64()
}

fn measure(options: &Options, repo: &Repo) -> Measured {
    let n = options.services;
    let cluster = empty_cluster();
    // The first deploy creates the 3N objects at :1.0.0 (not measured).
    let old: BTreeMap<String, String> = (0..n).map(|i| (name(i), old_image(i))).collect();
    let first = run_shipgate(options, repo, &cluster, &old, Instant::now());
    if !first.status.success() {
        die(&format!(
            "the first manifests deploy failed ({}):\n{}",
            first.status,
            first.tail()
        ));
    }
    let images = new_images(n, None);
    let release = |i: usize| format!("slow-{}", slow_ms(i, n));
    std::fs::write(
        repo.root.join(OVERLAY).join("services.yaml"),
        overlay(n, &release),
    )
    .unwrap();
    let kustomize_alone = kustomize_alone(options, repo);
    let (observed, child) = observe(&cluster.api, &images, false, |t0| {
        run_shipgate(options, repo, &cluster, &images, t0)
    });
    // Put the overlay back for the next run (its first deploy starts from :1.0.0 again).
    std::fs::write(
        repo.root.join(OVERLAY).join("services.yaml"),
        overlay(n, &|_| "1.0.0".into()),
    )
    .unwrap();
    let rollouts = super::rollouts_of(&observed, &child, &images, "the manifests deploy");
    let config = cluster
        .api
        .get(&format!(
            "/api/v1/namespaces/{NAMESPACE}/configmaps/{}-config",
            name(0)
        ))
        .unwrap_or_else(|| die("the ConfigMap of the first service is missing"));
    if config["data"]["RELEASE"] != release(0).as_str() {
        die(&format!("the ConfigMap was not applied: {config}"));
    }
    Measured {
        wall: child.wall,
        slowest: max(&rollouts),
        rendered: stamped(&child, RENDERED),
        first_patch: super::secs(&observed.patched).fold(f64::MAX, f64::min),
        last_patch: super::secs(&observed.patched).fold(0.0, f64::max),
        last_done: super::secs(&observed.done).fold(0.0, f64::max),
        kustomize_alone,
    }
}

/// The scenario: each run measures the manifests deploy and the set-image deploy of the same
/// images, each on a fresh server; prints the table.
pub(super) fn run(options: &Options) {
    let n = options.services;
    let runs = options.runs;
    let manifests_repo = manifests_repo(n);
    let set_image_repo = Repo::new(n);
    let mut measured = Vec::new();
    let mut set_image = Vec::new();
    for run in 1..=runs {
        let m = measure(options, &manifests_repo);
        eprintln!(
            "bench-deploy: run {run}/{runs}: manifests ({} objects): wall {:.2} s, max(t_i) {:.2} s",
            3 * n,
            m.wall,
            m.slowest
        );
        measured.push(m);
        let f = fan_out(options, &set_image_repo);
        eprintln!(
            "bench-deploy: run {run}/{runs}: set image: wall {:.2} s, max(t_i) {:.2} s",
            f.wall,
            max(&f.rollouts)
        );
        set_image.push(f);
    }
    let col = |f: &dyn Fn(&Measured) -> f64| measured.iter().map(f).collect::<Vec<f64>>();
    let overheads = col(&|m| m.wall - m.slowest);
    let set_overheads: Vec<f64> = set_image
        .iter()
        .map(|f| f.wall - max(&f.rollouts))
        .collect();
    let extra: Vec<f64> = overheads
        .iter()
        .zip(&set_overheads)
        .map(|(m, s)| m - s)
        .collect();
    println!();
    println!(
        "`shipgate deploy --services all` of {n} services from one kustomize overlay ({} objects: \
         ConfigMap + Service + Deployment x 2 replicas per service; the measured deploy changes \
         the {n} images to `:slow-<ms>`, {}-{} ms, and the {n} ConfigMaps) against the \
         in-process test API server, next to today's set-image deploy of the same images; \
         {runs} runs, each on a fresh server; {} CPUs.",
        3 * n,
        super::MIN_MS,
        super::MAX_MS,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("shipgate: {}", options.label);
    println!();
    let mut table = Table::new(runs);
    table.row(
        "render: start → objects rendered (start-up, plan, kubectl kustomize, cluster version)",
        &col(&|m| m.rendered),
        seconds,
        "",
    );
    table.row(
        &format!(
            "`kubectl kustomize` of the overlay alone ({} objects)",
            3 * n
        ),
        &col(&|m| m.kustomize_alone),
        seconds,
        "",
    );
    table.row(
        "dry run: rendered → first image change at the server (reads, server-side dry run, diff, lock)",
        &col(&|m| m.first_patch - m.rendered),
        seconds,
        "",
    );
    table.row(
        "apply: first → last Deployment changed at the server",
        &col(&|m| m.last_patch - m.first_patch),
        seconds,
        "",
    );
    table.row("manifests: wall time", &col(&|m| m.wall), seconds, "");
    table.row(
        "manifests: max(t_i), server-observed",
        &col(&|m| m.slowest),
        seconds,
        "",
    );
    table.row(
        "manifests: overhead = wall − max(t_i)",
        &overheads,
        seconds,
        "",
    );
    table.row(
        "manifests: last rollout complete → shipgate exited",
        &col(&|m| m.wall - m.last_done),
        seconds,
        "",
    );
    table.row(
        "set image: wall time",
        &set_image.iter().map(|f| f.wall).collect::<Vec<_>>(),
        seconds,
        "",
    );
    table.row(
        "set image: overhead = wall − max(t_i)",
        &set_overheads,
        seconds,
        "",
    );
    let target = verdict(median(&extra) <= TARGET_EXTRA, "≤ 1 s");
    table.row(
        "manifests overhead − set-image overhead",
        &extra,
        seconds,
        &target,
    );
    let to_set: Vec<f64> = measured
        .iter()
        .zip(&set_image)
        .map(|(m, f)| m.wall / f.wall)
        .collect();
    table.row("manifests wall / set-image wall", &to_set, ratio, "");
    print!("{}", table.text);
    println!();
    println!(
        "Moments: stderr lines as they arrived from shipgate's pipe; server moments as the \
         bench's own watch of the Deployments received the events. Registry {REGISTRY} is \
         never contacted (the images are the test server's `:slow-<ms>` tags)."
    );
}
