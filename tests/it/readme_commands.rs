//! The README's "In a terminal" commands, run exactly as written, in order, with `bash`: in a
//! copy of `examples/monorepo` on a branch that changes the shared library, with the test
//! Kubernetes API server as the current kube context (`KUBECONFIG`), holding the example's
//! Deployments. The only adaptation: the example's health-check URL points at a local server.

use crate::support;

use kube_test_api::{KubeApi, deployment};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::TestRepo;
use support::http::HttpStandIn;

/// The lines of the README's `sh` block under "## In a terminal", comments removed.
fn readme_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("\n## In a terminal\n").nth(1).unwrap();
    let block = section.split("```sh\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    block
        .lines()
        .map(|line| match line.find("  #") {
            Some(i) => line[..i].trim_end().to_string(),
            None => line.trim_end().to_string(),
        })
        .filter(|line| !line.is_empty())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Answers 200 `{"status":"ok"}` to anything.
fn health_server() -> String {
    let server = HttpStandIn::in_turn(vec![(200, r#"{"status":"ok"}"#.into())]);
    format!("{}/health", server.url())
}

#[test]
fn the_terminal_examples_run_as_written() {
    let api = KubeApi::start();
    for namespace in ["shop", "web"] {
        api.create_namespace(namespace);
    }
    for (name, image) in [
        ("auth-service", "ghcr.io/acme/auth-service:1.4.1"),
        ("events", "ghcr.io/acme/events:0.8.7"),
        ("gateway", "ghcr.io/acme/gateway:1.0.9"),
    ] {
        api.create(
            deployment("shop", name)
                .image(name, image)
                .replicas(2)
                .build(),
        );
        assert!(api.wait_rolled_out("shop", "Deployment", name, Duration::from_secs(20)));
    }

    let repo = TestRepo::new();
    copy_dir(
        &PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/monorepo")),
        repo.path(),
    );
    let config = repo.path().join(".github/shipgate.yml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("https://auth.example.com/health"));
    std::fs::write(
        &config,
        text.replace("https://auth.example.com/health", &health_server()),
    )
    .unwrap();
    let repo = repo
        .commit("acme monorepo")
        .branch("users/octocat/shorter-token-lifetime");
    let tokens = repo.path().join("libs/common/src/tokens.ts");
    let source = std::fs::read_to_string(&tokens).unwrap();
    let repo = repo
        .file(
            "libs/common/src/tokens.ts",
            &source.replace("15 * 60", "10 * 60"),
        )
        .commit("common: shorter token lifetime");
    let kubeconfig = repo.scratch().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        api.kubeconfig_yaml(KubeApi::ADMIN_TOKEN, Some("shop")),
    )
    .unwrap();
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_shipgate"))
        .parent()
        .unwrap()
        .to_path_buf();

    let lines = readme_lines();
    assert!(lines.len() >= 8, "{lines:?}");
    for line in &lines {
        let output = Command::new("bash")
            .args(["-c", &format!("set -euo pipefail; {line}")])
            .current_dir(repo.path())
            .env_clear()
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env("HOME", repo.home())
            .env("KUBECONFIG", &kubeconfig)
            .env("NO_COLOR", "1")
            .env("SHIPGATE_LOCK_POLL", "100ms")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "README line `{line}` failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // What the lines did: the plan was written, and the pinned deploy changed the cluster.
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("plan.json")).unwrap())
            .unwrap();
    let planned: Vec<&str> = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["auth", "events", "gateway"]);
    let image = |name: &str| {
        api.get(&format!("/apis/apps/v1/namespaces/shop/deployments/{name}"))
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // "Pin one service" deploys that service only: the others keep what they run.
    assert_eq!(image("auth-service"), "ghcr.io/acme/auth-service:1.4.0");
    assert_eq!(image("events"), "ghcr.io/acme/events:0.8.7");
    assert_eq!(image("gateway"), "ghcr.io/acme/gateway:1.0.9");
}
