//! Registry credentials from Docker's client config, as `docker login` and
//! `docker/login-action` write it: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`), its `auths` (`auth` is base64 of `user:password`, or
//! `username`/`password`, or an `identitytoken`), and credential helpers (`credHelpers` per
//! host, else `credsStore`) run as `docker-credential-<name> get` with the server on stdin —
//! only when the helper is on PATH, bounded in time, its output capped. So a workflow that
//! logs in once works for skip-existing and verify-image without repeating the secret.

use super::Credentials;
use base64::Engine;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a credential helper may take (they may talk to a keychain or a cloud API).
const HELPER_TIMEOUT: Duration = Duration::from_secs(20);
/// The identity-token user name Docker uses (`<token>`): the token is then a refresh token.
const TOKEN_USER: &str = "<token>";

/// The Docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path(lookup: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    match lookup("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => lookup("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".docker/config.json")),
    }
}

/// The keys a host may be stored under (`ghcr.io`, `https://ghcr.io`, Docker Hub's legacy
/// `https://index.docker.io/v1/`).
fn keys_for(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == super::DOCKER_HUB_HOST {
        keys.extend(
            [
                "docker.io",
                "index.docker.io",
                "https://index.docker.io/v1/",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
    }
    keys
}

/// Credentials for `host` from the parsed config: a credential helper first (as Docker does),
/// then `auths`. `path_variable` finds helpers. `None` when the config has nothing for it.
pub fn credentials_for(
    config: &Value,
    host: &str,
    path_variable: Option<&str>,
) -> Option<Credentials> {
    let keys = keys_for(host);
    let helper = keys
        .iter()
        .find_map(|key| config["credHelpers"][key].as_str())
        .or_else(|| config["credsStore"].as_str())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper
        && let Some(program) = find_helper(helper, path_variable)
        && let Some(credentials) = keys
            .iter()
            .take(2)
            .find_map(|key| run_helper(&program, key))
    {
        return Some(credentials);
    }
    keys.iter()
        .find_map(|key| config["auths"].get(key))
        .and_then(from_auth_entry)
}

/// One `auths` entry: `auth` (base64 `user:password`), or `username` and `password`, or an
/// `identitytoken`.
fn from_auth_entry(entry: &Value) -> Option<Credentials> {
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        return non_empty(username, password);
    }
    if let (Some(username), Some(password)) =
        (entry["username"].as_str(), entry["password"].as_str())
    {
        return non_empty(username, password);
    }
    entry["identitytoken"]
        .as_str()
        .and_then(|token| non_empty(TOKEN_USER, token))
}

fn non_empty(username: &str, password: &str) -> Option<Credentials> {
    (!username.is_empty() && !password.is_empty()).then(|| Credentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

fn find_helper(name: &str, path_variable: Option<&str>) -> Option<PathBuf> {
    if name.contains('/') {
        return None;
    }
    let program = format!("docker-credential-{name}");
    std::env::split_paths(path_variable?)
        .map(|dir| dir.join(&program))
        .find(|candidate| candidate.is_file())
}

/// `docker-credential-<name> get` with the server URL on stdin; its JSON answer
/// (`{"Username", "Secret"}`). A helper that fails, says "credentials not found", overruns or
/// answers something else gives nothing.
fn run_helper(program: &Path, server: &str) -> Option<Credentials> {
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let _ = (&mut stdout).take(64 * 1024).read_to_end(&mut answer);
        answer
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < HELPER_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let answer = reader.join().ok()?;
    if !status.success() {
        return None;
    }
    let value: Value = serde_json::from_slice(&answer).ok()?;
    let username = value["Username"].as_str().unwrap_or_default();
    let secret = value["Secret"].as_str().unwrap_or_default();
    non_empty(username, secret)
}

/// Reads and parses the config file; `None` when there is none or it is not JSON.
pub fn read(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auths_entries_in_the_forms_docker_writes() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bot:s3cret:with-colon");
        let config = json!({"auths": {
            "ghcr.io": {"auth": auth},
            "https://registry.example": {"username": "u", "password": "p"},
            "https://index.docker.io/v1/": {"identitytoken": "refresh"},
            "empty.example": {},
        }});
        let found = |host: &str| credentials_for(&config, host, None);
        assert_eq!(
            found("ghcr.io").unwrap(),
            Credentials {
                username: "bot".into(),
                password: "s3cret:with-colon".into()
            }
        );
        assert_eq!(found("registry.example").unwrap().username, "u");
        assert_eq!(
            found(super::super::DOCKER_HUB_HOST).unwrap().username,
            TOKEN_USER
        );
        assert!(found("empty.example").is_none());
        assert!(found("other.example").is_none());
    }

    #[test]
    fn the_config_is_found_like_docker_finds_it() {
        let lookup = |values: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                values
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            config_path(&lookup(&[("DOCKER_CONFIG", "/d"), ("HOME", "/h")])),
            Some(PathBuf::from("/d/config.json"))
        );
        assert_eq!(
            config_path(&lookup(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.docker/config.json"))
        );
    }

    #[test]
    fn a_credential_helper_on_path_answers_first() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-test");
        std::fs::write(
            &helper,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = ghcr.io ] || { echo 'credentials not found in native keychain'; exit 1; }\necho '{\"ServerURL\":\"ghcr.io\",\"Username\":\"helper-user\",\"Secret\":\"helper-secret\"}'\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.path().to_string_lossy().into_owned();
        let config =
            json!({"credsStore": "test", "auths": {"ghcr.io": {"username": "a", "password": "b"}}});
        let found = credentials_for(&config, "ghcr.io", Some(&path)).unwrap();
        assert_eq!(found.password, "helper-secret");
        // The helper knows nothing of this host; nothing in auths either.
        assert!(credentials_for(&config, "quay.io", Some(&path)).is_none());
        // Not on PATH: the auths entry.
        assert_eq!(
            credentials_for(&config, "ghcr.io", Some("/nonexistent"))
                .unwrap()
                .password,
            "b"
        );
        // credHelpers per host wins over credsStore.
        let per_host = json!({"credsStore": "missing", "credHelpers": {"ghcr.io": "test"}});
        assert_eq!(
            credentials_for(&per_host, "ghcr.io", Some(&path))
                .unwrap()
                .username,
            "helper-user"
        );
    }
}
