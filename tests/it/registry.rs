//! The registry client against a real OCI registry (Debian's `docker-registry`, started per test
//! on 127.0.0.1 with its own storage) and against small stand-in servers for the bearer-token
//! flow and redirects.
//!
//! Needs `/usr/bin/docker-registry` and `htpasswd`: `apt-get install -y docker-registry
//! apache2-utils`.

use crate::support;

use shipgate::registry::{Credentials, RegistryClient, RegistryError, sha256_digest};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::registry::{OCI_MANIFEST, Registry, base64};

const USER: &str = "ci-bot";
const PASSWORD: &str = "pa55-Secret-never-shown";

fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ---------------------------------------------------------------------------------------------
// A real registry: lookups and retags
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn digest_of_a_pushed_tag_is_the_one_the_registry_reported() {
    install_crypto_provider();
    let registry = Registry::start();
    let pushed = registry
        .push_tiny_image("acme/auth", "1.0.0-1766836944")
        .await;
    let client = registry.client(None);

    let digest = client
        .manifest_digest(&registry.image("acme/auth"), "1.0.0-1766836944")
        .await
        .unwrap();

    assert_eq!(digest, Some(pushed));
}

#[tokio::test]
async fn a_missing_tag_or_repository_is_none() {
    install_crypto_provider();
    let registry = Registry::start();
    registry.push_tiny_image("acme/auth", "v1").await;
    let client = registry.client(None);

    let missing_tag = client
        .manifest_digest(&registry.image("acme/auth"), "never-pushed")
        .await
        .unwrap();
    let missing_repository = client
        .manifest_digest(&registry.image("acme/nothing-here"), "v1")
        .await
        .unwrap();

    assert_eq!(missing_tag, None);
    assert_eq!(missing_repository, None);
    // Both are 404s (a HEAD has no body, so the client cannot tell them apart, and need not);
    // the registry knows the one repository and not the other.
    let (status, _, body) = registry.raw_manifest("acme/auth", "never-pushed").await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("MANIFEST_UNKNOWN"));
    let (status, body) = registry.raw_get("acme/nothing-here/tags/list").await;
    assert_eq!(status, 404);
    assert!(body.contains("NAME_UNKNOWN"), "{body}");
}

#[tokio::test]
async fn retag_points_new_tags_at_the_same_manifest_without_uploading_a_blob() {
    install_crypto_provider();
    let registry = Registry::start();
    let pushed = registry.push_tiny_image("acme/auth", "sha-abc1234").await;
    let (_, _, original) = registry.raw_manifest("acme/auth", "sha-abc1234").await;
    let blobs_before = registry.blob_count();
    let log_before = registry.log().len();
    assert_eq!(blobs_before, 3, "config, layer and manifest");
    let client = registry.client(None);
    let image = registry.image("acme/auth");

    let digest = client
        .retag(
            &image,
            "sha-abc1234",
            &["prod-latest".into(), "1.2.3".into()],
        )
        .await
        .unwrap();

    assert_eq!(digest, pushed);
    for tag in ["prod-latest", "1.2.3"] {
        assert_eq!(
            client.manifest_digest(&image, tag).await.unwrap(),
            Some(pushed.clone()),
            "{tag}"
        );
        let (status, content_type, bytes) = registry.raw_manifest("acme/auth", tag).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, OCI_MANIFEST);
        assert_eq!(bytes, original, "the manifest is pushed byte for byte");
    }
    assert_eq!(registry.blob_count(), blobs_before, "no blob was uploaded");
    let log = registry.log();
    let during_retag = &log[log_before..];
    assert!(
        during_retag.contains("http.request.method=PUT")
            && during_retag.contains("http.request.useragent=shipgate/"),
        "the retag's requests are in the log:\n{during_retag}"
    );
    assert!(
        !during_retag.contains("/blobs/"),
        "the retag must not touch a blob:\n{during_retag}"
    );
}

#[tokio::test]
async fn retag_of_a_tag_that_was_never_pushed_says_so() {
    install_crypto_provider();
    let registry = Registry::start();
    registry.push_tiny_image("acme/auth", "v1").await;
    let client = registry.client(None);

    let error = client
        .retag(&registry.image("acme/auth"), "v2", &["latest".into()])
        .await
        .unwrap_err();

    assert!(
        matches!(error, RegistryError::ManifestNotFound { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("{}/acme/auth:v2 does not exist", registry.host)),
        "{message}"
    );
    assert!(message.contains("MANIFEST_UNKNOWN"), "{message}");
    assert!(message.contains("build and push it first"), "{message}");
}

#[tokio::test]
async fn a_loopback_registry_is_plain_http_without_listing_it_like_docker() {
    install_crypto_provider();
    let registry = Registry::start();
    let pushed = registry.push_tiny_image("acme/auth", "v1").await;
    let client = RegistryClient::new(None, Vec::new());

    let digest = client
        .manifest_digest(&registry.image("acme/auth"), "v1")
        .await
        .unwrap();

    assert_eq!(digest, Some(pushed));
}

#[tokio::test]
async fn an_unreachable_registry_fails_with_a_hint() {
    install_crypto_provider();
    let client = RegistryClient::new(None, Vec::new());

    let error = client
        .manifest_digest("registry.invalid:5000/acme/auth", "v1")
        .await
        .unwrap_err();

    assert!(
        matches!(error, RegistryError::Transport { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("registry.invalid:5000"), "{message}");
    assert!(message.contains("insecure"), "{message}");
}

#[tokio::test]
async fn names_and_tags_are_checked_before_any_request() {
    install_crypto_provider();
    let client = RegistryClient::new(None, Vec::new());

    let bad_name = client.manifest_digest("127.0.0.1:9/Acme/auth", "v1").await;
    let tagged_name = client
        .manifest_digest("127.0.0.1:9/acme/auth:v1", "v1")
        .await;
    let bad_tag = client
        .retag("127.0.0.1:9/acme/auth", "v1", &["feature/x".into()])
        .await;

    assert!(
        matches!(bad_name, Err(RegistryError::InvalidImage { .. })),
        "{bad_name:?}"
    );
    assert!(
        matches!(tagged_name, Err(RegistryError::InvalidImage { .. })),
        "{tagged_name:?}"
    );
    assert!(
        matches!(bad_tag, Err(RegistryError::InvalidTag { .. })),
        "{bad_tag:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A real registry with htpasswd (basic) auth
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn basic_auth_without_credentials_is_a_401_that_says_what_to_do() {
    install_crypto_provider();
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    registry.push_tiny_image("acme/auth", "v1").await;

    let error = registry
        .client(None)
        .manifest_digest(&registry.image("acme/auth"), "v1")
        .await
        .unwrap_err();

    assert!(
        matches!(error, RegistryError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("401 from {}/acme/auth:v1", registry.host)),
        "{message}"
    );
    assert!(message.contains("SHIPGATE_REGISTRY_USERNAME"), "{message}");
    assert!(message.contains("SHIPGATE_REGISTRY_PASSWORD"), "{message}");
}

#[tokio::test]
async fn basic_auth_with_credentials_looks_up_and_retags() {
    install_crypto_provider();
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let pushed = registry.push_tiny_image("acme/auth", "v1").await;
    let client = registry.client(registry.credentials.clone());
    let image = registry.image("acme/auth");

    assert_eq!(
        client.manifest_digest(&image, "v1").await.unwrap(),
        Some(pushed.clone())
    );
    assert_eq!(client.manifest_digest(&image, "v9").await.unwrap(), None);
    let retagged = client
        .retag(&image, "v1", &["stable".into()])
        .await
        .unwrap();

    assert_eq!(retagged, pushed);
    assert_eq!(
        client.manifest_digest(&image, "stable").await.unwrap(),
        Some(pushed)
    );
}

#[tokio::test]
async fn the_password_never_appears_in_an_error() {
    install_crypto_provider();
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    registry.push_tiny_image("acme/auth", "v1").await;
    let image = registry.image("acme/auth");
    let wrong = RegistryClient::new(
        Some(Credentials {
            username: USER.into(),
            password: "wrong-Password-42".into(),
        }),
        vec![registry.host.clone()],
    );
    let right = registry.client(registry.credentials.clone());

    let errors: Vec<RegistryError> = vec![
        wrong.manifest_digest(&image, "v1").await.unwrap_err(),
        wrong.retag(&image, "v1", &["x".into()]).await.unwrap_err(),
        right
            .retag(&image, "missing", &["x".into()])
            .await
            .unwrap_err(),
    ];

    let refused = errors[0].to_string();
    assert!(refused.contains("401"), "{refused}");
    assert!(refused.contains("refused the credentials"), "{refused}");
    for error in &errors {
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains(PASSWORD), "{text}");
            assert!(!text.contains("wrong-Password-42"), "{text}");
        }
    }
    for client in [&wrong, &right] {
        let debug = format!("{client:?}");
        assert!(
            !debug.contains(PASSWORD) && !debug.contains("wrong-Password-42"),
            "{debug}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Stand-in servers: the bearer-token flow and redirects
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }

    fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| percent_decode(value))
        })
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn json(self, body: &str) -> Reply {
        let mut reply = self.header("content-type", "application/json");
        reply.body = body.as_bytes().to_vec();
        reply
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A tiny HTTP/1.1 server on 127.0.0.1 that records every request and answers through a
/// handler; one request per connection.
struct StandIn {
    host: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

impl StandIn {
    fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = serve(stream, &*handler, &requests);
                }
            });
        }
        StandIn {
            host,
            requests,
            stop,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host); // wakes the accept loop
    }
}

fn serve(
    stream: TcpStream,
    handler: &Handler,
    requests: &Mutex<Vec<Recorded>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let recorded = Recorded {
        method,
        target,
        headers,
        body,
    };
    let reply = handler(&recorded);
    requests.lock().unwrap().push(recorded);
    let mut response = format!(
        "HTTP/1.1 {} Stand-in\r\nconnection: close\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
    let mut stream = stream;
    stream.write_all(response.as_bytes())?;
    stream.write_all(&reply.body)?;
    stream.flush()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
                decoded.push(u8::from_str_radix(hex, 16).unwrap());
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap()
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;

/// A stand-in registry with token auth: `/v2/…` wants `Bearer <token for that scope>`, `/token`
/// issues `pull` or `pull,push` tokens (optionally only to `USER:PASSWORD`).
fn token_registry(token_field: &'static str, require_credentials: bool) -> StandIn {
    let realm_host: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let realm_for_handler = Arc::clone(&realm_host);
    let expected_basic = format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes()));
    let server = StandIn::start(move |request| {
        let host = realm_for_handler.lock().unwrap().clone();
        if request.path() == "/token" {
            if require_credentials
                && request.header("authorization") != Some(expected_basic.as_str())
            {
                return Reply::new(401)
                    .json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#);
            }
            let scope = request.query("scope").unwrap_or_default();
            let token = if scope.ends_with(":pull,push") {
                "push-token"
            } else {
                "pull-token"
            };
            return Reply::new(200).json(&format!(
                r#"{{"{token_field}":"{token}","expires_in":300}}"#
            ));
        }
        let push = request.method == "PUT";
        let allowed = if push {
            request.header("authorization") == Some("Bearer push-token")
        } else {
            matches!(
                request.header("authorization"),
                Some("Bearer pull-token" | "Bearer push-token")
            )
        };
        if !allowed {
            let actions = if push { "pull,push" } else { "pull" };
            return Reply::new(401)
                .header(
                    "www-authenticate",
                    &format!(
                        r#"Bearer realm="http://{host}/token",service="x",scope="repository:a/b:{actions}""#
                    ),
                )
                .json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
        }
        match (request.method.as_str(), request.path()) {
            ("PUT", _) => {
                Reply::new(201).header("docker-content-digest", &sha256_digest(&request.body))
            }
            (_, "/v2/a/b/manifests/t") => {
                let reply = Reply::new(200)
                    .header("content-type", OCI_MANIFEST)
                    .header("docker-content-digest", &sha256_digest(MANIFEST.as_bytes()));
                if request.method == "HEAD" {
                    reply
                } else {
                    Reply {
                        body: MANIFEST.as_bytes().to_vec(),
                        ..reply
                    }
                }
            }
            _ => Reply::new(404)
                .json(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#),
        }
    });
    *realm_host.lock().unwrap() = server.host.clone();
    server
}

fn credentials() -> Option<Credentials> {
    Some(Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    })
}

#[tokio::test]
async fn bearer_challenge_fetches_a_token_with_service_scope_and_basic_credentials() {
    install_crypto_provider();
    let server = token_registry("token", true);
    let client = RegistryClient::new(credentials(), vec![server.host.clone()]);
    let image = format!("{}/a/b", server.host);

    let first = client.manifest_digest(&image, "t").await.unwrap();
    let second = client.manifest_digest(&image, "t").await.unwrap();

    let digest = sha256_digest(MANIFEST.as_bytes());
    assert_eq!(first, Some(digest.clone()));
    assert_eq!(second, Some(digest));
    let requests = server.requests();
    let summary: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path().to_string()))
        .collect();
    assert_eq!(
        summary,
        [
            ("HEAD".into(), "/v2/a/b/manifests/t".into()),
            ("GET".into(), "/token".into()),
            ("HEAD".into(), "/v2/a/b/manifests/t".into()),
            // The token is cached: the second lookup needs no challenge and no token request.
            ("HEAD".into(), "/v2/a/b/manifests/t".into()),
        ]
    );
    assert_eq!(requests[0].header("authorization"), None, "anonymous first");
    let token_request = &requests[1];
    assert_eq!(token_request.query("service").as_deref(), Some("x"));
    assert_eq!(
        token_request.query("scope").as_deref(),
        Some("repository:a/b:pull")
    );
    assert_eq!(
        token_request.header("authorization"),
        Some(format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes())).as_str())
    );
    assert_eq!(
        requests[2].header("authorization"),
        Some("Bearer pull-token")
    );
    assert_eq!(
        requests[3].header("authorization"),
        Some("Bearer pull-token")
    );
    let accept = requests[0].header("accept").unwrap();
    for media_type in [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ] {
        assert!(accept.contains(media_type), "{accept}");
    }
}

#[tokio::test]
async fn anonymous_tokens_from_access_token_work_without_credentials() {
    install_crypto_provider();
    let server = token_registry("access_token", false);
    let client = RegistryClient::new(None, vec![server.host.clone()]);

    let digest = client
        .manifest_digest(&format!("{}/a/b", server.host), "t")
        .await
        .unwrap();
    let missing = client
        .manifest_digest(&format!("{}/a/b", server.host), "nope")
        .await
        .unwrap();

    assert_eq!(digest, Some(sha256_digest(MANIFEST.as_bytes())));
    assert_eq!(missing, None);
    let token_request = server
        .requests()
        .into_iter()
        .find(|r| r.path() == "/token")
        .unwrap();
    assert_eq!(token_request.header("authorization"), None);
}

#[tokio::test]
async fn retag_gets_a_push_token_and_puts_the_manifest_bytes_unchanged() {
    install_crypto_provider();
    let server = token_registry("token", true);
    let client = RegistryClient::new(credentials(), vec![server.host.clone()]);

    let digest = client
        .retag(
            &format!("{}/a/b", server.host),
            "t",
            &["prod-latest".into(), "1.0.0".into()],
        )
        .await
        .unwrap();

    assert_eq!(digest, sha256_digest(MANIFEST.as_bytes()));
    let requests = server.requests();
    assert!(
        requests.iter().all(|r| !r.path().contains("/blobs/")),
        "{requests:?}"
    );
    let puts: Vec<&Recorded> = requests.iter().filter(|r| r.method == "PUT").collect();
    let put_paths: Vec<&str> = puts
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer push-token"))
        .map(|r| r.path())
        .collect();
    assert_eq!(
        put_paths,
        ["/v2/a/b/manifests/prod-latest", "/v2/a/b/manifests/1.0.0"]
    );
    for put in &puts {
        assert_eq!(put.body, MANIFEST.as_bytes());
        assert_eq!(put.header("content-type"), Some(OCI_MANIFEST));
    }
    let scopes: Vec<String> = requests
        .iter()
        .filter(|r| r.path() == "/token")
        .map(|r| r.query("scope").unwrap())
        .collect();
    assert_eq!(scopes, ["repository:a/b:pull", "repository:a/b:pull,push"]);
}

#[tokio::test]
async fn a_refused_token_request_names_the_realm_and_hides_the_password() {
    install_crypto_provider();
    let server = token_registry("token", true);
    let wrong = Credentials {
        username: USER.into(),
        password: "not-the-Password-7".into(),
    };
    let client = RegistryClient::new(Some(wrong), vec![server.host.clone()]);

    let error = client
        .manifest_digest(&format!("{}/a/b", server.host), "t")
        .await
        .unwrap_err();

    assert!(matches!(error, RegistryError::Token { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("http://{}/token", server.host)),
        "{message}"
    );
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("SHIPGATE_REGISTRY_USERNAME"), "{message}");
    for text in [message, format!("{error:?}")] {
        assert!(!text.contains("not-the-Password-7"), "{text}");
    }
}

#[tokio::test]
async fn credentials_never_go_to_a_plain_http_realm_that_is_not_insecure() {
    install_crypto_provider();
    // The registry (on loopback: plain http) names a plain-http realm elsewhere, not listed.
    let server = StandIn::start(|_| {
        Reply::new(401).header(
            "www-authenticate",
            r#"Bearer realm="http://token.invalid:1/token",service="x",scope="repository:a/b:pull""#,
        )
    });
    let client = RegistryClient::new(credentials(), vec![server.host.clone()]);

    let error = client
        .manifest_digest(&format!("{}/a/b", server.host), "t")
        .await
        .unwrap_err();

    assert!(
        matches!(error, RegistryError::PlainHttpCredentials { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("http://token.invalid:1/token"),
        "{error}"
    );
}

#[tokio::test]
async fn a_redirect_to_another_host_carries_no_credentials() {
    install_crypto_provider();
    let elsewhere = StandIn::start(|_| {
        Reply::new(200).header("docker-content-digest", &sha256_digest(b"elsewhere"))
    });
    let elsewhere_host = elsewhere.host.clone();
    let registry = StandIn::start(move |request| {
        if request.header("authorization").is_none() {
            Reply::new(401).header("www-authenticate", r#"Basic realm="stand-in""#)
        } else {
            Reply::new(307).header(
                "location",
                &format!("http://{elsewhere_host}/v2/a/b/manifests/t"),
            )
        }
    });
    let client = RegistryClient::new(credentials(), vec![registry.host.clone()]);

    let digest = client
        .manifest_digest(&format!("{}/a/b", registry.host), "t")
        .await
        .unwrap();

    assert_eq!(digest, Some(sha256_digest(b"elsewhere")));
    let followed = elsewhere.requests();
    assert_eq!(followed.len(), 1);
    assert_eq!(followed[0].header("authorization"), None);
    assert!(
        registry.requests()[1]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
}

#[tokio::test]
async fn without_digest_and_content_type_headers_the_manifest_bytes_decide() {
    install_crypto_provider();
    let server = StandIn::start(|request| match request.method.as_str() {
        "HEAD" => Reply::new(200),
        "GET" => Reply {
            body: MANIFEST.as_bytes().to_vec(),
            ..Reply::new(200)
        },
        _ => Reply::new(201),
    });
    let client = RegistryClient::new(None, vec![server.host.clone()]);
    let image = format!("{}/a/b", server.host);

    let digest = client.manifest_digest(&image, "t").await.unwrap();
    let retagged = client.retag(&image, "t", &["u".into()]).await.unwrap();

    let expected = sha256_digest(MANIFEST.as_bytes());
    assert_eq!(digest, Some(expected.clone()));
    assert_eq!(retagged, expected);
    let put = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.path(), "/v2/a/b/manifests/u");
    assert_eq!(put.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(put.body, MANIFEST.as_bytes());
}

#[tokio::test]
async fn registry_answers_are_read_bounded_a_huge_manifest_is_refused() {
    install_crypto_provider();
    // 5 MiB of manifest (over the distribution spec's 4 MiB) without a Content-Length hint.
    let server = StandIn::start(|_| {
        let mut reply =
            Reply::new(200).header("content-type", "application/vnd.oci.image.manifest.v1+json");
        reply.body = vec![b' '; 5 << 20];
        reply
    });
    let client = RegistryClient::new(None, Vec::new());

    let error = client
        .retag(&format!("{}/a/b", server.host), "v1", &["v2".into()])
        .await
        .unwrap_err();

    assert!(
        matches!(error, RegistryError::UnexpectedResponse { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("larger than 4 MiB"), "{error}");
}
