//! A real OCI registry: Debian's `docker-registry`, started per test on 127.0.0.1 with its own
//! storage (optionally behind htpasswd basic auth), killed on drop.
//!
//! Needs `/usr/bin/docker-registry` and `htpasswd`: `apt-get install -y docker-registry
//! apache2-utils`.

// Each test binary uses a different part of the harness.
#![expect(clippy::unwrap_used, reason = "a failed setup fails the test")]

use shipgate::registry::{Credentials, RegistryClient, sha256_digest};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
pub(crate) const INSTALL_HINT: &str = "apt-get install -y docker-registry apache2-utils";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A `docker-registry` process with its own storage, killed on drop.
pub(crate) struct Registry {
    child: Child,
    directory: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// User and password the registry accepts (htpasswd), used by [`Registry::authorize`].
    pub credentials: Option<Credentials>,
}

impl Registry {
    /// A registry without authentication.
    pub(crate) fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that accepts only `user`/`password` (HTTP basic auth).
    pub(crate) fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Registry::start_with(Some(Credentials {
            username: user.into(),
            password: password.into(),
        }))
    }

    fn start_with(credentials: Option<Credentials>) -> Registry {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: {INSTALL_HINT}"
        );
        // A free port can be taken between the probe and the start: try a few.
        let mut last_log = String::new();
        for _ in 0..5 {
            match Registry::try_start(credentials.clone()) {
                Ok(registry) => return registry,
                Err(log) => last_log = log,
            }
        }
        panic!("docker-registry did not start; its log:\n{last_log}");
    }

    fn try_start(credentials: Option<Credentials>) -> Result<Registry, String> {
        let directory = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let auth = match &credentials {
            Some(credentials) => {
                let htpasswd = directory.path().join("htpasswd");
                std::fs::write(&htpasswd, bcrypt_line(credentials)).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: shipgate-test\n    path: {}\n",
                    htpasswd.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {host}\n  secret: shipgate-test-secret\n\
             {auth}",
            directory.path().join("data").display()
        );
        let config_path = directory.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log_path = directory.path().join("registry.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Registry {
            child,
            directory,
            host,
            credentials,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if registry.child.try_wait().unwrap().is_some() {
                return Err(std::fs::read_to_string(&log_path).unwrap_or_default());
            }
            if answers_http(&registry.host) {
                return Ok(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Drop kills it.
        Err(format!(
            "not answering GET /v2/ after 20 s\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        ))
    }

    /// `host/repository`.
    pub(crate) fn image(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host)
    }

    /// A client that reaches this registry over plain http.
    pub(crate) fn client(&self, credentials: Option<Credentials>) -> RegistryClient {
        RegistryClient::new(credentials, vec![self.host.clone()])
    }

    /// How many blobs the registry stores (a retag must not add any).
    pub(crate) fn blob_count(&self) -> usize {
        fn count(path: &Path) -> usize {
            let Ok(entries) = std::fs::read_dir(path) else {
                return 0;
            };
            entries
                .map(|entry| entry.unwrap().path())
                .map(|path| {
                    if path.is_dir() {
                        count(&path)
                    } else {
                        usize::from(path.file_name().is_some_and(|name| name == "data"))
                    }
                })
                .sum()
        }
        count(&self.directory.path().join("data/docker/registry/v2/blobs"))
    }

    /// What the registry logged so far (its access log included).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("registry.log")).unwrap_or_default()
    }

    /// Pushes a tiny image (an OCI config and one empty-tar layer) the way `docker push` does,
    /// through the HTTP API; returns the manifest digest the registry reported.
    pub(crate) async fn push_tiny_image(&self, repository: &str, tag: &str) -> String {
        let http = reqwest::Client::new();
        let base = format!("http://{}", self.host);
        let layer = vec![0_u8; 1024]; // an empty tar archive: two zero blocks
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            sha256_digest(&layer)
        )
        .into_bytes();
        for blob in [&config, &layer] {
            let upload = self
                .authorize(http.post(format!("{base}/v2/{repository}/blobs/uploads/")))
                .send()
                .await
                .unwrap();
            assert_eq!(upload.status(), 202, "{}", upload.text().await.unwrap());
            let location = upload.headers()["location"].to_str().unwrap().to_string();
            let location = if location.starts_with('/') {
                format!("{base}{location}")
            } else {
                location
            };
            let separator = if location.contains('?') { '&' } else { '?' };
            let finished = self
                .authorize(http.put(format!(
                    "{location}{separator}digest={}",
                    sha256_digest(blob)
                )))
                .header("content-type", "application/octet-stream")
                .body(blob.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(finished.status(), 201, "{}", finished.text().await.unwrap());
        }
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
            sha256_digest(&config),
            config.len(),
            sha256_digest(&layer),
            layer.len()
        );
        let pushed = self
            .authorize(http.put(format!("{base}/v2/{repository}/manifests/{tag}")))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), 201, "{}", pushed.text().await.unwrap());
        let digest = pushed.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(digest, sha256_digest(manifest.as_bytes()));
        digest
    }

    /// `GET` a manifest with plain reqwest: status, content type, registry error code, bytes.
    pub(crate) async fn raw_manifest(&self, repository: &str, tag: &str) -> (u16, String, Vec<u8>) {
        let response = self
            .authorize(reqwest::Client::new().get(format!(
                "http://{}/v2/{repository}/manifests/{tag}",
                self.host
            )))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_string())
            .unwrap_or_default();
        (
            status,
            content_type,
            response.bytes().await.unwrap().to_vec(),
        )
    }

    /// `HEAD /v2/<repository>/manifests/<tag>`: the status and `Docker-Content-Digest`.
    pub(crate) async fn head_manifest(&self, repository: &str, tag: &str) -> (u16, Option<String>) {
        let response = self
            .authorize(reqwest::Client::new().head(format!(
                "http://{}/v2/{repository}/manifests/{tag}",
                self.host
            )))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        let digest = response
            .headers()
            .get("docker-content-digest")
            .map(|value| value.to_str().unwrap().to_string());
        (response.status().as_u16(), digest)
    }

    /// `GET /v2/<path>` with plain reqwest: status and body.
    pub(crate) async fn raw_get(&self, path: &str) -> (u16, String) {
        let response = self
            .authorize(reqwest::Client::new().get(format!("http://{}/v2/{path}", self.host)))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Adds the registry's basic-auth credentials, if it has any, to a plain reqwest request.
    pub(crate) fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some(credentials) => {
                request.basic_auth(&credentials.username, Some(&credentials.password))
            }
            None => request,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One htpasswd line with a bcrypt hash (the only kind docker-registry accepts).
fn bcrypt_line(credentials: &Credentials) -> String {
    let output = Command::new("htpasswd")
        .args(["-Bbn", &credentials.username, &credentials.password])
        .output()
        .unwrap_or_else(|error| panic!("htpasswd: {error}; {INSTALL_HINT}"));
    assert!(output.status.success(), "htpasswd failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Does something answer `GET /v2/` with HTTP (200 or 401) on this host?
fn answers_http(host: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(host) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(
            format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .is_err()
    {
        return false;
    }
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).is_ok()
        && (head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.1 401"))
}

/// Standard base64 with padding (what an HTTP basic `Authorization` header carries).
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let number = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        for position in 0..4 {
            if position <= chunk.len() {
                let index = (number >> (18 - 6 * position)) & 63;
                encoded.push(char::from(ALPHABET[index as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    encoded
}
