//! Registry conventions users rely on, end to end through `deploy` with `verify-image` against a
//! real `docker-registry` on 127.0.0.1: loopback registries are plain http as Docker treats them,
//! and the credentials `docker login` / `docker/login-action` stored are used (`auths`, and a
//! credential helper found on PATH) when `registry-username`/`registry-password` are not given.

use crate::cluster_faults::{CONFIG, Fixture, printed, status};
use crate::support;

use support::registry::{Registry, base64};

const USER: &str = "login-action-bot";
const PASSWORD: &str = "d0cker-config-pa55-never-shown";

fn verify_image_fixture() -> Fixture {
    Fixture::with_config(&CONFIG.replace(
        "deploy: { namespace: shop, timeout: 60s }",
        "deploy: { namespace: shop, timeout: 60s, verify-image: true }",
    ))
}

fn push(registry: &Registry, tag: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(registry.push_tiny_image("shop/auth", tag));
    registry.image("shop/auth")
}

#[test]
fn registry_on_loopback_is_plain_http_like_docker() {
    let registry = Registry::start();
    let image = push(&registry, "1.1.0");
    let fixture = verify_image_fixture();
    // No SHIPGATE_REGISTRY_INSECURE: 127.0.0.1 is plain http by itself.
    let run = fixture
        .shipgate()
        .args(["--image", &format!("auth={image}:1.1.0")])
        .run()
        .success();
    assert_eq!(status(&run), "succeeded");
    let missing = fixture
        .shipgate()
        .args(["--image", &format!("auth={image}:9.9.9")])
        .run()
        .code(1);
    missing.stdout_has("does not exist in its registry");
}

/// A `$DOCKER_CONFIG` directory with this `config.json`.
fn docker_config(fixture: &Fixture, config: &serde_json::Value) -> std::path::PathBuf {
    let dir = fixture.repo.scratch().join("docker-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

#[test]
fn registry_credentials_from_the_docker_config_auths() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let image = push(&registry, "1.1.0");
    let fixture = verify_image_fixture();
    let without = fixture
        .shipgate()
        .args(["--image", &format!("auth={image}:1.1.0")])
        .run()
        .code(1);
    without.stdout_has("docker/login-action");
    let auth = base64(format!("{USER}:{PASSWORD}").as_bytes());
    let dir = docker_config(
        &fixture,
        &serde_json::json!({"auths": {registry.host.clone(): {"auth": auth}}}),
    );
    let run = fixture
        .shipgate()
        .env("DOCKER_CONFIG", &dir)
        .args(["--image", &format!("auth={image}:1.1.0")])
        .run()
        .success();
    assert_eq!(status(&run), "succeeded");
    assert!(!printed(&run).contains(PASSWORD));
}

#[test]
fn registry_credentials_from_a_docker_credential_helper_on_path() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let image = push(&registry, "1.1.0");
    let fixture = verify_image_fixture();
    let bin = fixture.repo.scratch().join("helper-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-shipgate-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = {} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            registry.host
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dir = docker_config(
        &fixture,
        &serde_json::json!({"credsStore": "shipgate-test"}),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = fixture
        .shipgate()
        .env("DOCKER_CONFIG", &dir)
        .env("PATH", &path)
        .args(["--image", &format!("auth={image}:1.1.0")])
        .run()
        .success();
    assert_eq!(status(&run), "succeeded");
    assert!(!printed(&run).contains(PASSWORD));
}
