//! `examples/workflows/drift-alert.yml` run in `act` (offline, on the host, see
//! `tests/support/act.rs`) against the test Kubernetes API server: green while the cluster runs
//! what the repository says, red (with the reason as an error annotation and the table in the
//! job summary) when a node runs a stale image of a mutable tag.
//!
//! As in `act_workflows.rs`, `actions/checkout` becomes a step that fetches from the local
//! consumer repository and the action pin becomes `./.shipgate-action` (each replacement is
//! checked to apply); the kubeconfig arrives as the `KUBECONFIG` secret, base64-encoded.

use crate::support;

use base64::Engine;
use kube_test_api::{KubeApi, deployment};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::time::Duration;
use support::act::{ActOptions, Run, Workspace, act, commit, git, write};

/// The release pin of the example (`scripts/release --pin-examples` rewrites it).
const PIN: &str = r"shipgate/shipgate@[0-9a-f]{40} # v[0-9][0-9A-Za-z.+-]*";
const CHECKOUT: &str =
    "      - uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2
        with:
          fetch-depth: 0
          persist-credentials: false
";
const CHECKOUT_STAND_IN: &str = r#"      - name: actions/checkout (stand-in)
        run: |
          set -euo pipefail
          git init --quiet .
          git remote add origin "file://$E2E_SOURCE_REPO"
          git fetch --quiet --tags origin '+refs/heads/*:refs/remotes/origin/*'
          git checkout --quiet --detach origin/main
          ln -s "$E2E_ACTION_DIR" .shipgate-action
"#;

const CONFIG: &str = r#"version: 1
defaults:
  registry: registry.local/shop
services:
  auth:
    paths: ["services/auth/**"]
    image: auth
    deploy: { namespace: shop }
  events:
    paths: ["services/events/**"]
    image: events
    deploy: { namespace: shop }
"#;

const TAG: &str = "registry.local/shop/events:prod-latest";
const OLD: &str = "sha256:01d0000000000000000000000000000000000000000000000000000000000000";
const NEW: &str = "sha256:9e90000000000000000000000000000000000000000000000000000000000000";

/// The example workflow with the engine's replacements.
fn adapted() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows/drift-alert.yml");
    let original = fs::read_to_string(path).unwrap();
    let pin = regex::Regex::new(PIN).unwrap();
    assert_eq!(pin.find_iter(&original).count(), 1, "{original}");
    assert_eq!(original.matches(CHECKOUT).count(), 1, "{original}");
    pin.replace_all(&original, "./.shipgate-action")
        .replace(CHECKOUT, CHECKOUT_STAND_IN)
}

/// A cluster where both services were deployed from `revision`; with `stale_node`, the events
/// pods run two digests of their mutable tag (one node cached an old image).
fn cluster(revision: &str, stale_node: bool) -> KubeApi {
    let api = KubeApi::builder().nodes(2).build();
    api.create_namespace("shop");
    api.push_image(TAG, NEW);
    if stale_node {
        api.cache_image_on_node("fake-node-1", TAG, OLD);
    }
    for (name, image) in [("auth", "registry.local/shop/auth:1.0.0"), ("events", TAG)] {
        let mut object = deployment("shop", name)
            .image(name, image)
            .replicas(2)
            .build();
        object["spec"]["template"]["metadata"]["annotations"] =
            json!({"shipgate.dev/revision": revision});
        api.create(object);
        assert!(api.wait_rolled_out("shop", "Deployment", name, Duration::from_secs(20)));
    }
    api
}

fn run(workspace: &Workspace, label: &str, api: &KubeApi) -> Run {
    let kubeconfig = base64::engine::general_purpose::STANDARD
        .encode(api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop")));
    let options = ActOptions {
        secrets: vec![("KUBECONFIG".into(), kubeconfig)],
        // registry.local is not reachable: drift is judged from the pods alone.
        env: vec![("SHIPGATE_REGISTRY_INSECURE".into(), "registry.local".into())],
        ..ActOptions::default()
    };
    workspace.act_with(
        label,
        "schedule",
        "drift-alert.yml",
        &support::payload::schedule(),
        &options,
    )
}

fn errors(run: &Run) -> Vec<String> {
    run.commands("error")
        .filter_map(|r| r["arg"].as_str().map(str::to_string))
        .collect()
}

fn summary(run: &Run) -> String {
    run.commands("summary")
        .filter_map(|r| r["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_drift_alert_is_green_until_a_node_runs_a_stale_image() {
    if act().is_none() {
        return;
    }
    let workspace = Workspace::new("shipgate-act-status-");
    let repo = &workspace.repo;
    write(repo, ".github/shipgate.yml", CONFIG);
    write(repo, ".github/workflows/drift-alert.yml", &adapted());
    write(repo, "services/auth/main.go", "package main\n");
    write(repo, "services/events/main.go", "package main\n");
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    let head = commit(repo, "Initial import", 0);

    let healthy = cluster(&head, false);
    let green = run(&workspace, "healthy", &healthy);
    assert!(green.status.success(), "{green}");
    assert_eq!(errors(&green), Vec::<String>::new(), "{green}");
    let table = summary(&green);
    assert!(table.contains("What runs where"), "{green}");
    assert!(
        table.contains("| ✅ | events | `shop/Deployment/events` | complete |"),
        "{table}"
    );
    drop(healthy);

    let drifted = cluster(&head, true);
    let red = run(&workspace, "drifted", &drifted);
    assert!(!red.status.success(), "{red}");
    let errors = errors(&red);
    assert!(
        errors.iter().any(|e| e == "events: drift"),
        "{errors:?}\n{red}"
    );
    assert!(!errors.iter().any(|e| e.starts_with("auth:")), "{errors:?}");
    let table = summary(&red);
    assert!(table.contains("❌ events: drift"), "{table}");
    assert!(
        table.contains("pods of the same template run 2 different digests"),
        "{table}"
    );
    let status: Value = red
        .commands("set-output")
        .filter(|r| r["name"] == "status")
        .find_map(|r| r["arg"].as_str())
        .map(|text| serde_json::from_str(text).unwrap())
        .unwrap_or_else(|| panic!("no status output\n{red}"));
    assert_eq!(status["services"][1]["name"], "events");
    assert_eq!(status["services"][1]["drift"], true);
    assert_eq!(status["services"][0]["behind"], 0);
}
