//! An OCI distribution API client: does a tag exist (and under which digest), and point more tags
//! at an existing manifest without rebuilding or uploading a layer.
//!
//! Auth follows the registry's lead: every request goes out anonymously (or with what this client
//! cached for the same host and scope), and a `401` is answered from its `WWW-Authenticate`
//! challenge: `Bearer` fetches a token from the realm (with basic credentials when configured),
//! `Basic` retries with the credentials. Tokens are cached per host and scope.
//!
//! Credentials: `registry-username`/`registry-password`, else the Docker client config
//! ([`docker_config`]: what `docker login` / docker/login-action stored, helpers included).
//!
//! Safety rails: every request has a timeout and every body is read bounded; loopback hosts
//! (`localhost`, 127.0.0.0/8, `::1`) and hosts listed in `registry-insecure` are plain http, as
//! Docker treats them; credentials go over plain http only to those; a redirect to another host never carries the `Authorization` header (reqwest
//! strips it) and an https → http redirect is refused; no error message carries a password or a
//! token.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::reference::{Reference, is_valid_digest, is_valid_tag};
pub mod docker_config;

/// Environment variable with the registry user name.
pub const USERNAME_VARIABLE: &str = "SHIPGATE_REGISTRY_USERNAME";
/// Environment variable with the registry password or token.
pub const PASSWORD_VARIABLE: &str = "SHIPGATE_REGISTRY_PASSWORD";

/// Environment variable listing registry hosts reached over plain http (`127.0.0.1:5000`).
pub const INSECURE_VARIABLE: &str = "SHIPGATE_REGISTRY_INSECURE";

/// Docker Hub's API host, used for names without a registry host.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// The manifest media types this client accepts: OCI index and manifest, Docker list and manifest.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 10;
/// Token lifetime when the token service does not say (the distribution spec's default).
const DEFAULT_TOKEN_SECONDS: u64 = 60;
/// A token is kept at most this long, whatever its `expires_in` says (an untrusted number).
const MAX_TOKEN_SECONDS: u64 = 24 * 3600;
/// The distribution spec lets registries refuse manifests over 4 MiB; nothing bigger is read.
const MANIFEST_LIMIT: usize = 4 << 20;
/// Error bodies and token answers are read up to this much.
const SMALL_BODY_LIMIT: usize = 64 << 10;
const DIGEST_HEADER: &str = "docker-content-digest";

/// Registry credentials. `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// Credentials from `SHIPGATE_REGISTRY_USERNAME` and `SHIPGATE_REGISTRY_PASSWORD`; none unless
    /// both are set and non-empty.
    pub fn from_env() -> Option<Credentials> {
        Credentials::from_runner(&crate::context::RunnerEnvironment::current())
    }

    /// Credentials from the runner environment's `registry_username`/`registry_password`.
    pub fn from_runner(env: &crate::context::RunnerEnvironment) -> Option<Credentials> {
        let username = env.registry_username.clone().filter(|v| !v.is_empty())?;
        let password = env.registry_password.clone().filter(|v| !v.is_empty())?;
        Some(Credentials { username, password })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A repository in a registry: `ghcr.io/acme/auth` → host `ghcr.io`, repository `acme/auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The registry's API host, with the port when there is one.
    pub host: String,
    /// The repository path inside the registry.
    pub repository: String,
}

impl ImageName {
    /// Splits `host[:port]/path` the way Docker does: the first component is a host when it has a
    /// `.` or a `:` or is `localhost`; otherwise the name is on Docker Hub, where a single
    /// component gets the `library/` prefix. No tag or digest is allowed.
    pub fn parse(image: &str) -> Result<ImageName, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidImage {
            image: image.to_string(),
            reason: reason.to_string(),
        };
        if image.contains('@') {
            return Err(invalid(
                "a digest (`@sha256:…`) is not allowed here: give `host/repository` only",
            ));
        }
        let parsed = Reference::parse(image).map_err(|e| invalid(&e.reason))?;
        if let Some(tag) = &parsed.tag {
            return Err(invalid(&format!(
                "a tag (`:{tag}`) is not allowed here: give `host/repository` only"
            )));
        }
        let host = match parsed.host.as_deref() {
            None | Some("docker.io" | "index.docker.io") => DOCKER_HUB_HOST,
            Some(other) => other,
        };
        let repository = if host == DOCKER_HUB_HOST && !parsed.path.contains('/') {
            format!("library/{}", parsed.path)
        } else {
            parsed.path
        };
        Ok(ImageName {
            host: host.to_string(),
            repository,
        })
    }
}

/// One challenge of a `WWW-Authenticate` header: its scheme (lower-cased) and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter by name (case-insensitive, as RFC 9110 says).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Parses a `WWW-Authenticate` value into its challenges (RFC 9110 §11.6.1): `Bearer
/// realm="…",service="…",scope="…"`, several challenges separated by commas, quoted strings with
/// commas and `\"` escapes, tokens unquoted.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut parser = ChallengeParser {
        bytes: header.as_bytes(),
        text: header,
        position: 0,
    };
    let mut challenges = Vec::new();
    loop {
        parser.skip(|b| b == b',' || b.is_ascii_whitespace());
        let scheme = parser.token();
        if scheme.is_empty() {
            break;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        loop {
            parser.skip(|b| b == b',' || b.is_ascii_whitespace());
            let start = parser.position;
            let name = parser.token();
            if name.is_empty() {
                break;
            }
            parser.skip(|b| b == b' ' || b == b'\t');
            if parser.peek() != Some(b'=') {
                // Not `name=value`: the next challenge's scheme (or a token68, which we skip).
                parser.position = start;
                break;
            }
            parser.position += 1;
            parser.skip(|b| b == b' ' || b == b'\t');
            let value = if parser.peek() == Some(b'"') {
                parser.quoted()
            } else {
                parser.token().to_string()
            };
            challenge.params.push((name.to_string(), value));
        }
        challenges.push(challenge);
        if parser.position >= parser.bytes.len() {
            break;
        }
        // The inner loop stopped at a name that is no parameter: it is the next scheme, unless it
        // was a token68 (`Basic dXNlcg==`), which has no use here and is skipped.
        if parser.peek_token_followed_by_equals() {
            parser.token();
            parser.skip(|b| b == b'=');
        }
    }
    challenges
}

struct ChallengeParser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    position: usize,
}

impl<'a> ChallengeParser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn skip(&mut self, predicate: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&predicate) {
            self.position += 1;
        }
    }

    /// Reads up to a delimiter (`=`, `,`, whitespace, `"`). Delimiters are ASCII, so the slice
    /// always falls on character boundaries.
    fn token(&mut self) -> &'a str {
        let start = self.position;
        self.skip(|b| !(b == b'=' || b == b',' || b == b'"' || b.is_ascii_whitespace()));
        self.text.get(start..self.position).unwrap_or_default()
    }

    /// Reads a quoted string starting at `"`, unescaping `\x`; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        self.position += 1;
        let mut value = Vec::new();
        while let Some(byte) = self.peek() {
            self.position += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.position += 1;
                    }
                }
                other => value.push(other),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }

    /// After a stop on a bare word: is it a token68 (`abc==` then end or comma)?
    fn peek_token_followed_by_equals(&self) -> bool {
        let rest = self.bytes.get(self.position..).unwrap_or_default();
        let word = rest
            .iter()
            .take_while(|b| !(**b == b'=' || **b == b',' || b.is_ascii_whitespace()))
            .count();
        let after = rest.get(word..).unwrap_or_default();
        let equals = after.iter().take_while(|b| **b == b'=').count();
        equals > 0
            && after
                .get(equals..)
                .is_none_or(|tail| tail.first().is_none_or(|b| *b == b','))
    }
}

/// What a registry call was doing, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `HEAD /v2/<name>/manifests/<tag>`.
    LookUpManifest,
    /// `GET /v2/<name>/manifests/<tag>`.
    FetchManifest,
    /// `PUT /v2/<name>/manifests/<tag>`.
    PushManifest,
}

impl Operation {
    fn access(self) -> Access {
        match self {
            Operation::LookUpManifest | Operation::FetchManifest => Access::Pull,
            Operation::PushManifest => Access::PullPush,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::LookUpManifest => "looking up the manifest (HEAD)",
            Operation::FetchManifest => "fetching the manifest (GET)",
            Operation::PushManifest => "pushing the manifest (PUT)",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    PullPush,
}

impl Access {
    fn scope(self, repository: &str) -> String {
        match self {
            Access::Pull => format!("repository:{repository}:pull"),
            Access::PullPush => format!("repository:{repository}:pull,push"),
        }
    }

    fn needs(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::PullPush => "pull and push",
        }
    }
}

/// Why a registry call failed. Messages name the registry, the repository and the tag, say what
/// to do, and never contain a password or a token.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image name `{image}`: {reason}")]
    InvalidImage { image: String, reason: String },

    #[error("invalid tag `{tag}`: tags are `[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}`")]
    InvalidTag { tag: String },

    #[error("could not set up the HTTP client for registries: {detail}")]
    Client { detail: String },

    #[error(
        "could not reach registry {host} while {operation}: {detail}; check the host name and the network, and list the host as insecure if it only speaks plain http (a local test registry)"
    )]
    Transport {
        host: String,
        operation: Operation,
        detail: String,
    },

    #[error("{status} from {place} while {operation}{code}: {hint}")]
    Unauthorized {
        place: Box<Place>,
        operation: Operation,
        status: u16,
        code: ErrorCode,
        hint: String,
    },

    #[error("{place} does not exist{code}: nothing to retag; build and push it first")]
    ManifestNotFound { place: Box<Place>, code: ErrorCode },

    #[error("HTTP {status} from {place} while {operation}{code}{message}: {hint}")]
    UnexpectedStatus {
        place: Box<Place>,
        operation: Operation,
        status: u16,
        code: ErrorCode,
        message: String,
        hint: String,
    },

    #[error("the token service {realm} (for {host}) failed: {detail}; {hint}")]
    Token {
        host: String,
        realm: String,
        detail: String,
        hint: String,
    },

    #[error(
        "{host} sent an authentication challenge shipgate cannot answer ({challenge}): {detail}"
    )]
    Challenge {
        host: String,
        challenge: String,
        detail: String,
    },

    #[error(
        "refusing to send credentials to {target} over plain http: use https, or list its host as insecure (only for a local test registry)"
    )]
    PlainHttpCredentials { target: String },

    #[error("unexpected answer from {place}: {detail}")]
    UnexpectedResponse { place: Box<Place>, detail: String },
}

/// What a registry call was about: `host/repository:tag` (or `@digest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub host: String,
    pub repository: String,
    pub reference: String,
}

impl Place {
    fn boxed(name: &ImageName, reference: &str) -> Box<Place> {
        Box::new(Place {
            host: name.host.clone(),
            repository: name.repository.clone(),
            reference: reference.to_string(),
        })
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let separator = if is_valid_digest(&self.reference) {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{separator}{}",
            self.host, self.repository, self.reference
        )
    }
}

/// The registry's error code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`, …) when it sent one;
/// displays as ` (CODE)` or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCode(pub Option<String>);

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(code) => write!(f, " ({code})"),
            None => Ok(()),
        }
    }
}

/// What was learned about authenticating to one host for one scope.
#[derive(Clone)]
enum Authorization {
    Bearer { token: String, expires: Instant },
    Basic,
}

impl Authorization {
    fn is_fresh(&self) -> bool {
        match self {
            Authorization::Bearer { expires, .. } => Instant::now() < *expires,
            Authorization::Basic => true,
        }
    }
}

type CacheKey = (String, String);

/// Talks to OCI registries over the distribution API. Cheap to clone; clones share the token
/// cache.
#[derive(Clone)]
pub struct RegistryClient {
    http: Result<reqwest::Client, String>,
    credentials: Option<Credentials>,
    insecure_hosts: Vec<String>,
    cache: Arc<Mutex<HashMap<CacheKey, Authorization>>>,
    /// Docker's client config (`docker login`), for hosts without explicit credentials.
    docker_config: Option<Arc<serde_json::Value>>,
    /// What the Docker config gave per host (helpers are run once per host).
    found: Arc<Mutex<HashMap<String, Option<Credentials>>>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("credentials", &self.credentials)
            .field("insecure_hosts", &self.insecure_hosts)
            .finish_non_exhaustive()
    }
}

/// One request, replayable after a challenge.
struct Request<'a> {
    name: &'a ImageName,
    reference: &'a str,
    operation: Operation,
    method: Method,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl RegistryClient {
    /// `insecure_hosts`: registry hosts to reach over plain http (e.g. `127.0.0.1:5000`,
    /// `localhost:5000`); everything else is https.
    pub fn new(credentials: Option<Credentials>, insecure_hosts: Vec<String>) -> Self {
        // reqwest is built without a crypto provider; main installs ring, and so does this for
        // library users and tests (a second install is refused, harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(crate::http::redirect_policy(MAX_REDIRECTS))
            .build()
            .map_err(|error| crate::http::error_chain(&error));
        RegistryClient {
            http,
            credentials,
            insecure_hosts,
            cache: Arc::new(Mutex::new(HashMap::new())),
            docker_config: None,
            found: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Also looks credentials up in this Docker client config (parsed `config.json`).
    pub fn with_docker_config(mut self, config: Option<serde_json::Value>) -> Self {
        self.docker_config = config.map(Arc::new);
        self
    }

    /// The client for a run: credentials from `registry-username`/`registry-password`, else from
    /// the Docker config (`DOCKER_CONFIG` or `~/.docker/config.json`, helpers included); plain
    /// http for loopback hosts and for `insecure` (`registry-insecure`, comma separated).
    pub fn for_run(insecure: Option<&str>) -> Self {
        let insecure = parse_hosts(insecure.unwrap_or_default());
        let lookup = |name: &str| std::env::var(name).ok();
        let docker_config = docker_config::config_path(&lookup)
            .as_deref()
            .and_then(docker_config::read);
        RegistryClient::new(Credentials::from_env(), insecure).with_docker_config(docker_config)
    }

    /// The credentials for a registry host: the explicit ones, else the Docker config's.
    fn credentials_of(&self, host: &str) -> Option<Credentials> {
        if let Some(credentials) = &self.credentials {
            return Some(credentials.clone());
        }
        let config = self.docker_config.as_ref()?;
        let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        found
            .entry(host.to_string())
            .or_insert_with(|| {
                let path = std::env::var("PATH").ok();
                docker_config::credentials_for(config, host, path.as_deref())
            })
            .clone()
    }

    /// Credentials from the environment: `SHIPGATE_REGISTRY_USERNAME` /
    /// `SHIPGATE_REGISTRY_PASSWORD`, else none; no insecure hosts.
    pub fn from_env() -> Self {
        let env = crate::context::RunnerEnvironment::current();
        RegistryClient::for_run(env.registry_insecure.as_deref())
    }

    /// The digest of `image:tag` (`Docker-Content-Digest` of a `HEAD`), `None` when the tag or the
    /// repository does not exist (404).
    pub async fn manifest_digest(
        &self,
        image: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        let name = ImageName::parse(image)?;
        check_reference(tag)?;
        let response = self
            .send(Request {
                name: &name,
                reference: tag,
                operation: Operation::LookUpManifest,
                method: Method::HEAD,
                headers: accept_manifests(),
                body: None,
            })
            .await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self
                .status_error(&name, tag, Operation::LookUpManifest, response)
                .await);
        }
        if let Some(digest) = digest_header(&response) {
            return Ok(Some(digest));
        }
        // A registry that does not say: the digest is the sha256 of the manifest's bytes.
        match self.fetch_manifest(&name, tag).await? {
            Fetched::Manifest(manifest) => Ok(Some(manifest.digest)),
            Fetched::Missing(_) => Ok(None),
        }
    }

    /// Points each of `to_tags` at the manifest of `from_tag`: fetches the manifest's exact bytes
    /// and media type and pushes them unchanged under every tag. No rebuild, no layer upload.
    /// Returns the manifest's digest.
    pub async fn retag(
        &self,
        image: &str,
        from_tag: &str,
        to_tags: &[String],
    ) -> Result<String, RegistryError> {
        let name = ImageName::parse(image)?;
        check_reference(from_tag)?;
        if let Some(tag) = to_tags.iter().find(|tag| !is_valid_tag(tag)) {
            return Err(RegistryError::InvalidTag { tag: tag.clone() });
        }
        let manifest = match self.fetch_manifest(&name, from_tag).await? {
            Fetched::Manifest(manifest) => manifest,
            Fetched::Missing(code) => {
                return Err(RegistryError::ManifestNotFound {
                    place: Place::boxed(&name, from_tag),
                    code,
                });
            }
        };
        for tag in to_tags {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, manifest.media_type.clone());
            let response = self
                .send(Request {
                    name: &name,
                    reference: tag,
                    operation: Operation::PushManifest,
                    method: Method::PUT,
                    headers,
                    body: Some(manifest.bytes.clone()),
                })
                .await?;
            if !response.status().is_success() {
                return Err(self
                    .status_error(&name, tag, Operation::PushManifest, response)
                    .await);
            }
        }
        Ok(manifest.digest)
    }

    /// `GET` a manifest: its bytes, media type and digest, or the error code of a 404.
    async fn fetch_manifest(
        &self,
        name: &ImageName,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let response = self
            .send(Request {
                name,
                reference,
                operation: Operation::FetchManifest,
                method: Method::GET,
                headers: accept_manifests(),
                body: None,
            })
            .await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            let body = read_limited(response, SMALL_BODY_LIMIT)
                .await
                .unwrap_or_default();
            return Ok(Fetched::Missing(ErrorCode(
                registry_error(&String::from_utf8_lossy(&body)).0,
            )));
        }
        if !status.is_success() {
            return Err(self
                .status_error(name, reference, Operation::FetchManifest, response)
                .await);
        }
        let header_digest = digest_header(&response);
        let header_type = response.headers().get(CONTENT_TYPE).cloned();
        if response
            .content_length()
            .is_some_and(|length| length > MANIFEST_LIMIT as u64)
        {
            return Err(RegistryError::UnexpectedResponse {
                place: Place::boxed(name, reference),
                detail: format!("the manifest is larger than {} MiB", MANIFEST_LIMIT >> 20),
            });
        }
        let bytes = match read_limited(response, MANIFEST_LIMIT + 1).await {
            Ok(bytes) if bytes.len() > MANIFEST_LIMIT => {
                return Err(RegistryError::UnexpectedResponse {
                    place: Place::boxed(name, reference),
                    detail: format!("the manifest is larger than {} MiB", MANIFEST_LIMIT >> 20),
                });
            }
            Ok(bytes) => bytes,
            Err(error) => return Err(self.transport_error(name, Operation::FetchManifest, &error)),
        };
        let unexpected = |detail: String| RegistryError::UnexpectedResponse {
            place: Place::boxed(name, reference),
            detail,
        };
        let media_type = match header_type {
            Some(value) if !value.as_bytes().is_empty() => value,
            _ => media_type_from_body(&bytes).ok_or_else(|| {
                unexpected("the manifest has no Content-Type and no mediaType field".into())
            })?,
        };
        let digest = header_digest.unwrap_or_else(|| sha256_digest(&bytes));
        Ok(Fetched::Manifest(Manifest {
            bytes,
            media_type,
            digest,
        }))
    }

    /// Sends a request; on a 401 answers the challenge once and sends it again. Any other status,
    /// and a 401 that survives, is returned for the caller to judge.
    async fn send(&self, request: Request<'_>) -> Result<Response, RegistryError> {
        let name = request.name;
        let scope = request.operation.access().scope(&name.repository);
        let key: CacheKey = (name.host.clone(), scope.clone());
        let cached = self.cached(&key);
        let response = self.attempt(&request, cached.as_ref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.forget(&key);
        let challenges: Vec<Challenge> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let Some(authorization) = self.answer(name, &scope, &challenges).await? else {
            return Ok(response);
        };
        let retried = self.attempt(&request, Some(&authorization)).await?;
        if retried.status() != StatusCode::UNAUTHORIZED {
            self.remember(key, authorization);
        }
        Ok(retried)
    }

    async fn attempt(
        &self,
        request: &Request<'_>,
        authorization: Option<&Authorization>,
    ) -> Result<Response, RegistryError> {
        let http = self.http()?;
        let name = request.name;
        let url = format!(
            "{}://{}/v2/{}/manifests/{}",
            self.scheme(&name.host),
            name.host,
            name.repository,
            request.reference
        );
        let mut builder = http
            .request(request.method.clone(), &url)
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        match authorization {
            Some(Authorization::Bearer { token, .. }) => builder = builder.bearer_auth(token),
            Some(Authorization::Basic) => {
                let credentials = self.credentials_for(&url, &name.host, &name.host)?;
                if let Some(credentials) = credentials {
                    builder =
                        builder.basic_auth(&credentials.username, Some(&credentials.password));
                }
            }
            None => {}
        }
        builder
            .send()
            .await
            .map_err(|error| self.transport_error(name, request.operation, &error))
    }

    /// Turns a challenge into an authorization; `None` when there is nothing to answer with (the
    /// caller then reports the 401).
    async fn answer(
        &self,
        name: &ImageName,
        scope: &str,
        challenges: &[Challenge],
    ) -> Result<Option<Authorization>, RegistryError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            return self.fetch_token(name, scope, bearer).await.map(Some);
        }
        if challenges.iter().any(|c| c.scheme == "basic")
            && self.credentials_of(&name.host).is_some()
        {
            return Ok(Some(Authorization::Basic));
        }
        Ok(None)
    }

    /// The bearer token flow: `GET <realm>?service=…&scope=…`, with basic credentials when
    /// configured; the answer's `token` (or `access_token`).
    async fn fetch_token(
        &self,
        name: &ImageName,
        scope: &str,
        challenge: &Challenge,
    ) -> Result<Authorization, RegistryError> {
        let url = token_url(&name.host, scope, challenge)?;
        let realm = challenge.param("realm").unwrap_or_default();
        let realm_host = host_with_port(&url);
        let token_error = |detail: String, hint: &str| RegistryError::Token {
            host: name.host.clone(),
            realm: realm.to_string(),
            detail,
            hint: hint.to_string(),
        };
        let http = self.http()?;
        let mut builder = http.get(url.clone());
        if let Some(credentials) = self.credentials_for(url.as_str(), &realm_host, &name.host)? {
            builder = builder.basic_auth(&credentials.username, Some(&credentials.password));
        }
        let response = builder.send().await.map_err(|error| {
            token_error(
                self.redact(&crate::http::error_chain(&error)),
                "check the network; the registry names this token service in its 401 challenge",
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = read_limited(response, SMALL_BODY_LIMIT)
                .await
                .unwrap_or_default();
            let detail = format!(
                "HTTP {}{}",
                status.as_u16(),
                self.error_summary(&String::from_utf8_lossy(&body))
            );
            let hint = refused_token_hint(
                status.as_u16(),
                self.credentials_of(&name.host).is_some(),
                &name.repository,
            );
            return Err(token_error(detail, &hint));
        }
        let body = read_limited(response, SMALL_BODY_LIMIT)
            .await
            .map_err(|error| {
                token_error(
                    self.redact(&crate::http::error_chain(&error)),
                    "retry later",
                )
            })?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|error| {
            token_error(
                format!("its answer is not the expected JSON ({error})"),
                "check that the realm is a Docker token service",
            )
        })?;
        let token = answer
            .token
            .filter(|token| !token.is_empty())
            .or(answer.access_token.filter(|token| !token.is_empty()))
            .ok_or_else(|| {
                token_error(
                    "its answer has neither `token` nor `access_token`".into(),
                    "check that the realm is a Docker token service",
                )
            })?;
        Ok(Authorization::Bearer {
            token,
            expires: token_expiry(Instant::now(), answer.expires_in),
        })
    }

    /// The credentials to send to `target`, refusing plain http unless the host is insecure.
    /// The credentials of `registry` to send to `target` (on `host`), refusing plain http
    /// unless the host is insecure.
    fn credentials_for(
        &self,
        target: &str,
        host: &str,
        registry: &str,
    ) -> Result<Option<Credentials>, RegistryError> {
        let Some(credentials) = self.credentials_of(registry) else {
            return Ok(None);
        };
        if target.starts_with("http://") && !self.is_insecure(host) {
            return Err(RegistryError::PlainHttpCredentials {
                target: target.split('?').next().unwrap_or(target).to_string(),
            });
        }
        Ok(Some(credentials))
    }

    fn http(&self) -> Result<&reqwest::Client, RegistryError> {
        self.http.as_ref().map_err(|detail| RegistryError::Client {
            detail: detail.clone(),
        })
    }

    /// Plain http: a loopback host (as Docker treats `localhost` and 127.0.0.0/8), or one listed
    /// in `registry-insecure` (with its port, or without one for every port).
    fn is_insecure(&self, host: &str) -> bool {
        is_loopback(host)
            || self.insecure_hosts.iter().any(|insecure| {
                insecure.eq_ignore_ascii_case(host)
                    || (!insecure.contains(':') && insecure.eq_ignore_ascii_case(host_name(host)))
            })
    }

    fn scheme(&self, host: &str) -> &'static str {
        if self.is_insecure(host) {
            "http"
        } else {
            "https"
        }
    }

    fn cached(&self, key: &CacheKey) -> Option<Authorization> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        cache.get(key).filter(|entry| entry.is_fresh()).cloned()
    }

    fn remember(&self, key: CacheKey, authorization: Authorization) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        cache.insert(key, authorization);
    }

    fn forget(&self, key: &CacheKey) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        cache.remove(key);
    }

    fn transport_error(
        &self,
        name: &ImageName,
        operation: Operation,
        error: &reqwest::Error,
    ) -> RegistryError {
        RegistryError::Transport {
            host: name.host.clone(),
            operation,
            detail: self.redact(&crate::http::error_chain(error)),
        }
    }

    /// The error for a status the caller did not expect, with the registry's error code.
    async fn status_error(
        &self,
        name: &ImageName,
        reference: &str,
        operation: Operation,
        response: Response,
    ) -> RegistryError {
        let status = response.status().as_u16();
        let body = read_limited(response, SMALL_BODY_LIMIT)
            .await
            .unwrap_or_default();
        let (code, message) = registry_error(&String::from_utf8_lossy(&body));
        let code = ErrorCode(code);
        let access = operation.access();
        let repository = &name.repository;
        match status {
            401 => RegistryError::Unauthorized {
                place: Place::boxed(name, reference),
                operation,
                status,
                code,
                hint: match self.credentials_of(&name.host) {
                    None => format!(
                        "the registry wants credentials: set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE} (inputs registry-username/registry-password: a user and a password or token with {} access to {repository}), or log in first (docker/login-action; its ~/.docker/config.json is read)",
                        access.needs()
                    ),
                    Some(_) => format!(
                        "the registry refused the credentials from {USERNAME_VARIABLE}/{PASSWORD_VARIABLE}: check them and their {} access to {repository} (or the repository may not exist)",
                        access.needs()
                    ),
                },
            },
            403 => RegistryError::Unauthorized {
                place: Place::boxed(name, reference),
                operation,
                status,
                code,
                hint: format!(
                    "access denied: the credentials need {} access to {repository}",
                    access.needs()
                ),
            },
            _ => RegistryError::UnexpectedStatus {
                place: Place::boxed(name, reference),
                operation,
                status,
                code,
                message: message
                    .map(|message| format!(": {}", self.redact(&message)))
                    .unwrap_or_default(),
                hint: if status >= 500 {
                    "the registry failed; retry later".to_string()
                } else if operation == Operation::PushManifest {
                    "the registry refused the manifest; check that it accepts this media type and allows overwriting tags".to_string()
                } else {
                    "check the image name and that the host is an OCI registry".to_string()
                },
            },
        }
    }

    /// ` (CODE: message)` from a token service's or registry's error body, redacted and short.
    fn error_summary(&self, body: &str) -> String {
        let (code, message) = registry_error(body);
        match (code, message) {
            (Some(code), Some(message)) => format!(" ({code}: {})", self.redact(&message)),
            (Some(code), None) => format!(" ({code})"),
            (None, Some(message)) => format!(" ({})", self.redact(&message)),
            (None, None) => String::new(),
        }
    }

    /// Removes the password from text a server or a library produced, in case it echoes it.
    fn redact(&self, text: &str) -> String {
        let mut passwords: Vec<String> = self
            .credentials
            .iter()
            .map(|c| c.password.clone())
            .collect();
        passwords.extend(
            self.found
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .flatten()
                .map(|c| c.password.clone()),
        );
        let mut text = text.to_string();
        for password in passwords.iter().filter(|p| !p.is_empty()) {
            text = text.replace(password.as_str(), "<redacted>");
        }
        text
    }
}

enum Fetched {
    Manifest(Manifest),
    Missing(ErrorCode),
}

struct Manifest {
    bytes: Vec<u8>,
    media_type: HeaderValue,
    digest: String,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

fn check_reference(reference: &str) -> Result<(), RegistryError> {
    if is_valid_tag(reference) || is_valid_digest(reference) {
        Ok(())
    } else {
        Err(RegistryError::InvalidTag {
            tag: reference.to_string(),
        })
    }
}

fn accept_manifests() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static(
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json",
        ),
    );
    headers
}

fn digest_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get(HeaderName::from_static(DIGEST_HEADER))
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|digest| is_valid_digest(digest))
        .map(str::to_string)
}

fn media_type_from_body(bytes: &[u8]) -> Option<HeaderValue> {
    let manifest: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let media_type = manifest.get("mediaType")?.as_str()?;
    HeaderValue::from_str(media_type).ok()
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// The first error code and message of a distribution API error body (`{"errors": [{"code",
/// "message"}]}`), or of a token service's `{"error", "error_description"}`; messages are cut to
/// 200 characters.
fn registry_error(body: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return (None, None);
    };
    let text = |value: Option<&serde_json::Value>| {
        value
            .and_then(serde_json::Value::as_str)
            .filter(|text| !text.is_empty())
            .map(|text| text.chars().take(200).collect::<String>())
    };
    if let Some(first) = value
        .get("errors")
        .and_then(serde_json::Value::as_array)
        .and_then(|errors| errors.first())
    {
        return (text(first.get("code")), text(first.get("message")));
    }
    (
        text(value.get("error")),
        text(value.get("error_description").or(value.get("details"))),
    )
}

/// The token service's URL from a Bearer challenge (`realm`, with `service` and `scope`).
fn token_url(host: &str, scope: &str, challenge: &Challenge) -> Result<Url, RegistryError> {
    let refused = |detail: &str| RegistryError::Challenge {
        host: host.to_owned(),
        challenge: format!(
            "Bearer {}",
            challenge
                .params
                .iter()
                .map(|(key, value)| format!("{key}=\"{value}\""))
                .collect::<Vec<_>>()
                .join(",")
        ),
        detail: detail.to_owned(),
    };
    let realm = challenge
        .param("realm")
        .ok_or_else(|| refused("the Bearer challenge has no realm to ask for a token"))?;
    let mut url =
        Url::parse(realm).map_err(|error| refused(&format!("the realm is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("the realm is neither http nor https"));
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = challenge.param("service") {
            query.append_pair("service", service);
        }
        query.append_pair("scope", challenge.param("scope").unwrap_or(scope));
    }
    Ok(url)
}

/// What to do about a token service that answered `status` instead of a token.
fn refused_token_hint(status: u16, has_credentials: bool, repository: &str) -> String {
    match (status, has_credentials) {
        (401 | 403, false) => format!(
            "the registry allows no anonymous access to {repository}: set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}"
        ),
        (401 | 403, true) => format!(
            "the credentials from {USERNAME_VARIABLE}/{PASSWORD_VARIABLE} were refused: check the user name, the password or token, and its access to {repository}"
        ),
        _ => "retry later, or check the token service".to_string(),
    }
}

/// When a bearer token expires: `expires_in` (an untrusted number: zero, absent or huge) is
/// clamped to one day, and the token is renewed at 90 % of its life. Saturates; never panics.
fn token_expiry(now: Instant, expires_in: Option<u64>) -> Instant {
    let seconds = expires_in
        .filter(|seconds| *seconds > 0)
        .unwrap_or(DEFAULT_TOKEN_SECONDS)
        .min(MAX_TOKEN_SECONDS);
    let lifetime = Duration::from_millis(seconds.saturating_mul(900));
    now.checked_add(lifetime).unwrap_or(now)
}

/// Reads a body up to `limit` bytes (a bit more than that is read only to notice it is over).
async fn read_limited(mut response: Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

/// Registry hosts from a list separated by commas, spaces or lines.
pub fn parse_hosts(list: &str) -> Vec<String> {
    list.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(str::to_string)
        .collect()
}

/// The host name of `host[:port]` (`[::1]:5000` → `[::1]`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(name, _)| &host[..=name.len()]);
    }
    host.split(':').next().unwrap_or(host)
}

/// `localhost`, 127.0.0.0/8 and `::1`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    name.eq_ignore_ascii_case("localhost")
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` of a URL, as insecure hosts are listed.
fn host_with_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn image(host: &str, repository: &str) -> ImageName {
        ImageName {
            host: host.into(),
            repository: repository.into(),
        }
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
        Credentials::from_runner(&crate::context::RunnerEnvironment::load(lookup))
    }

    #[test]
    fn names_without_a_host_are_on_docker_hub() {
        assert_eq!(
            ImageName::parse("nginx").unwrap(),
            image(DOCKER_HUB_HOST, "library/nginx")
        );
        assert_eq!(
            ImageName::parse("acme/auth").unwrap(),
            image(DOCKER_HUB_HOST, "acme/auth")
        );
        assert_eq!(
            ImageName::parse("docker.io/nginx").unwrap(),
            image(DOCKER_HUB_HOST, "library/nginx")
        );
        assert_eq!(
            ImageName::parse("index.docker.io/acme/auth").unwrap(),
            image(DOCKER_HUB_HOST, "acme/auth")
        );
    }

    #[test]
    fn hosts_are_recognised_by_dot_port_or_localhost() {
        assert_eq!(
            ImageName::parse("ghcr.io/acme/auth-service").unwrap(),
            image("ghcr.io", "acme/auth-service")
        );
        assert_eq!(
            ImageName::parse("127.0.0.1:5000/acme/auth").unwrap(),
            image("127.0.0.1:5000", "acme/auth")
        );
        assert_eq!(
            ImageName::parse("localhost:5000/auth").unwrap(),
            image("localhost:5000", "auth")
        );
        assert_eq!(
            ImageName::parse("localhost/auth").unwrap(),
            image("localhost", "auth")
        );
        assert_eq!(
            ImageName::parse("registry:5000/a/b/c").unwrap(),
            image("registry:5000", "a/b/c")
        );
        // Single-component names on another registry get no `library/` prefix.
        assert_eq!(
            ImageName::parse("myregistry.azurecr.io/auth").unwrap(),
            image("myregistry.azurecr.io", "auth")
        );
    }

    #[test]
    fn names_with_tags_digests_or_bad_characters_are_refused_with_the_reason() {
        let message = |name: &str| ImageName::parse(name).unwrap_err().to_string();
        assert!(message("ghcr.io/acme/auth:1.0").contains("a tag (`:1.0`)"));
        assert!(message("nginx:latest").contains("a tag (`:latest`)"));
        assert!(message("ghcr.io/acme/auth@sha256:abc").contains("digest"));
        assert!(message("ghcr.io/Acme/auth").contains("lower-case"));
        assert!(message("ghcr.io/acme//auth").contains("empty component"));
        assert!(message("ghcr.io/acme/").contains("empty component"));
        assert!(message("ghcr.io/-acme/auth").contains("start and end"));
        assert!(message("").contains("empty"));
    }

    #[test]
    fn tags_follow_the_docker_grammar() {
        assert!(is_valid_tag("1.1.0-1766836944"));
        assert!(is_valid_tag("_x"));
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag(".hidden"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a/b"));
        assert!(!is_valid_tag(""));
        assert!(is_valid_digest(&sha256_digest(b"")));
        assert!(!is_valid_digest("sha256:xyz"));
    }

    #[test]
    fn bearer_challenge_with_commas_inside_quotes() {
        let challenges = parse_challenges(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/auth:pull,push""#,
        );
        assert_eq!(challenges.len(), 1);
        let bearer = &challenges[0];
        assert_eq!(bearer.scheme, "bearer");
        assert_eq!(bearer.param("realm"), Some("https://ghcr.io/token"));
        assert_eq!(bearer.param("service"), Some("ghcr.io"));
        assert_eq!(
            bearer.param("scope"),
            Some("repository:acme/auth:pull,push")
        );
        assert_eq!(
            bearer.param("SCOPE"),
            Some("repository:acme/auth:pull,push")
        );
    }

    #[test]
    fn challenge_params_with_spaces_escapes_and_bare_tokens() {
        let challenges = parse_challenges(
            r#"Bearer  realm = "https://auth.example/token" , service=registry.example, error="insufficient_scope", note="say \"hi\", then go""#,
        );
        assert_eq!(challenges.len(), 1);
        let bearer = &challenges[0];
        assert_eq!(bearer.param("realm"), Some("https://auth.example/token"));
        assert_eq!(bearer.param("service"), Some("registry.example"));
        assert_eq!(bearer.param("error"), Some("insufficient_scope"));
        assert_eq!(bearer.param("note"), Some(r#"say "hi", then go"#));
        assert_eq!(bearer.param("scope"), None);
    }

    #[test]
    fn several_challenges_in_one_header() {
        let challenges = parse_challenges(
            r#"Basic realm="Registry Realm", Bearer realm="https://a/token",service="a", Negotiate"#,
        );
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "negotiate"]);
        assert_eq!(challenges[0].param("realm"), Some("Registry Realm"));
        assert_eq!(challenges[1].param("realm"), Some("https://a/token"));
        assert_eq!(challenges[1].param("service"), Some("a"));
        assert!(challenges[2].params.is_empty());
    }

    #[test]
    fn token68_and_odd_input_do_not_confuse_the_parser() {
        let challenges = parse_challenges("Basic dXNlcjpwYXNz==, Bearer realm=x");
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer"]);
        assert_eq!(challenges[1].param("realm"), Some("x"));
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges(" , ,").is_empty());
        let unterminated = parse_challenges(r#"Bearer realm="https://a/token"#);
        assert_eq!(unterminated[0].param("realm"), Some("https://a/token"));
        let unicode = parse_challenges(r#"Basic realm="Régistre, privé""#);
        assert_eq!(unicode[0].param("realm"), Some("Régistre, privé"));
    }

    #[test]
    fn credentials_need_both_variables() {
        let lookup = |values: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                values
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            }
        };
        let both = from_lookup(lookup(&[
            (USERNAME_VARIABLE, "bot"),
            (PASSWORD_VARIABLE, "s3cret"),
        ]));
        assert_eq!(
            both,
            Some(Credentials {
                username: "bot".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(from_lookup(lookup(&[(USERNAME_VARIABLE, "bot")])), None);
        assert_eq!(
            from_lookup(lookup(&[
                (USERNAME_VARIABLE, "bot"),
                (PASSWORD_VARIABLE, "")
            ])),
            None
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let credentials = Credentials {
            username: "bot".into(),
            password: "hunter2-secret".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
        let client = RegistryClient::new(Some(credentials), vec!["127.0.0.1:5000".into()]);
        let debug = format!("{client:?}");
        assert!(
            debug.contains("bot") && !debug.contains("hunter2"),
            "{debug}"
        );
        assert_eq!(client.redact("echo hunter2-secret"), "echo <redacted>");
    }

    #[test]
    fn registry_and_token_error_bodies() {
        assert_eq!(
            registry_error(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#
            ),
            (
                Some("MANIFEST_UNKNOWN".into()),
                Some("manifest unknown".into())
            )
        );
        assert_eq!(
            registry_error(r#"{"error":"invalid_grant","error_description":"bad password"}"#),
            (Some("invalid_grant".into()), Some("bad password".into()))
        );
        assert_eq!(registry_error("<html>"), (None, None));
    }

    #[test]
    fn the_accept_header_lists_every_manifest_media_type() {
        assert_eq!(
            accept_manifests()[ACCEPT].to_str().unwrap(),
            MANIFEST_MEDIA_TYPES.join(", ")
        );
    }

    #[test]
    fn token_expiry_saturates_on_untrusted_numbers() {
        let now = Instant::now();
        assert_eq!(token_expiry(now, Some(100)), now + Duration::from_secs(90));
        assert_eq!(token_expiry(now, None), now + Duration::from_secs(54));
        assert_eq!(token_expiry(now, Some(0)), now + Duration::from_secs(54));
        // u64::MAX seconds used to overflow `Instant + Duration` (a panic).
        assert_eq!(
            token_expiry(now, Some(u64::MAX)),
            now + Duration::from_secs(MAX_TOKEN_SECONDS * 9 / 10)
        );
    }

    #[test]
    fn loopback_registries_are_plain_http_like_docker() {
        let client = RegistryClient::new(None, parse_hosts("registry.internal:5000, build-cache"));
        for host in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(client.is_insecure(host), "{host}");
            assert_eq!(client.scheme(host), "http");
        }
        assert!(client.is_insecure("registry.internal:5000"));
        assert!(!client.is_insecure("registry.internal:443"));
        assert!(
            client.is_insecure("build-cache:8080"),
            "a host without port: every port"
        );
        for host in [
            "ghcr.io",
            "128.0.0.1:5000",
            "localhost.evil.example",
            "[::2]:5000",
        ] {
            assert!(!client.is_insecure(host), "{host}");
        }
    }

    #[test]
    fn futures_can_run_on_a_multi_threaded_runtime() {
        fn assert_send<T: Send>(_: &T) {}
        let client = RegistryClient::new(None, Vec::new());
        assert_send(&client.manifest_digest("a/b", "t"));
        assert_send(&client.retag("a/b", "t", &[]));
    }
}
