//! What a builder process sees of the runner's environment: everything but shipgate's secrets
//! (the kubeconfig, the GitHub token, the registry password), which no builder needs.

use crate::support;

use serde_json::json;
use support::TestRepo;
use support::docker::StandIn;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn builder_environment_has_no_kubeconfig_github_token_or_registry_password() {
    let repo = TestRepo::new()
        .file("services/auth/Dockerfile", "FROM scratch\n")
        .commit("init");
    let plan = json!({
        "version": 2,
        "context": {
            "sha": SHA, "ref": "refs/heads/main", "event": "push", "timestamp": 1766836944,
            "branch": "main", "pr": null, "default_branch": "main", "is_default_branch": true,
            "repository": "acme/shop", "repository_url": "https://github.com/acme/shop",
            "run_number": "7", "run_url": null, "environment": "prod",
        },
        "services": [{
            "name": "auth", "image": "127.0.0.1:9/acme/auth", "tags": ["1.0.0"],
            "refs": ["127.0.0.1:9/acme/auth:1.0.0"], "labels": {},
            "build": {"context": "services/auth", "dockerfile": "services/auth/Dockerfile",
                      "target": null, "args": {}, "platforms": [], "builder": "buildx",
                      "cache": "fresh"},
            "reason": "selected by --services", "cause": {"kind": "selected", "by": "--services"},
            "version": "1.0.0", "content": "0".repeat(64),
            "lookup_tag": "1.0.0", "mutable_only": false,
        }],
    });
    let path = repo.scratch().join("plan.json");
    std::fs::write(&path, plan.to_string()).unwrap();
    let docker = StandIn::new();
    docker
        .shipgate(&repo)
        .args(["build", "--plan"])
        .arg(&path)
        .env("SHIPGATE_KUBECONFIG", "kubeconfig-input-s3cr3t")
        .env("KUBECONFIG", "/runner/kubeconfig-path-s3cr3t")
        .env("SHIPGATE_GITHUB_TOKEN", "ghs_token-input-s3cr3t")
        .env("GITHUB_TOKEN", "ghs_token-env-s3cr3t")
        .env("GH_TOKEN", "gh-cli-token-s3cr3t")
        .env("SHIPGATE_REGISTRY_PASSWORD", "registry-password-s3cr3t")
        .env("BUILDER_OWN_CREDENTIAL", "passed-through")
        .run()
        .success();
    let environments = docker.environments();
    assert!(environments.contains("STANDIN_LOG="), "a build ran");
    assert!(
        environments.contains("BUILDER_OWN_CREDENTIAL=passed-through"),
        "other variables pass"
    );
    assert!(!environments.contains("s3cr3t"), "{environments}");
}
