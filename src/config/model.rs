//! The shape of `.github/shipgate.yml`, exactly as written (kebab-case keys, unknown keys
//! rejected). Values that later need a location in an error are `Spanned`.
//!
//! Validation into the domain type [`crate::config::Config`] happens in `validate.rs`.

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;

/// A mapping that keeps its keys in file order with their locations (service names).
#[derive(Debug, Default)]
pub struct OrderedMap<V> {
    pub entries: Vec<(Spanned<String>, V)>,
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names to settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<V>()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap { entries })
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap {
                    entries: Vec::new(),
                })
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// The whole config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub defaults: Defaults,
    /// Paths that affect every service (a change to one of them deploys everything).
    #[serde(default)]
    pub global: Vec<Spanned<String>>,
    #[serde(default)]
    pub detect: DetectSettings,
    #[serde(default)]
    pub branch_policy: Option<BranchPolicySettings>,
    /// Where the cluster's objects come from (manifests, kustomize, GitOps write-back).
    #[serde(default)]
    pub deploy: super::deploy_section::DeploySection,
    pub services: OrderedMap<ServiceSettings>,
}

/// Settings every service inherits unless it sets its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Defaults {
    pub registry: Option<Spanned<String>>,
    pub environment: Option<String>,
    pub tags: Option<Vec<Spanned<String>>>,
    /// A ready-made tag set, used when no `tags` are given.
    pub tag_preset: Option<TagPreset>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub build: Option<BuildSettings>,
    /// When `latest`-like tags are pushed (default: only from the default branch).
    pub latest: Option<LatestPolicy>,
    /// Deploy settings every service inherits.
    pub deploy: Option<DeployDefaults>,
    /// Compare each deployable service with what is deployed instead of the event's range.
    pub base_from: Option<BaseFrom>,
}

/// Where `--base-from` reads each service's deployed commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BaseFrom {
    /// The `shipgate.dev/revision` annotation of the live workload.
    Cluster,
    /// The commit of the environment's newest successful GitHub Deployment that lists it.
    Github,
}

/// `defaults.deploy`: the deploy settings a service inherits unless it sets its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeployDefaults {
    pub verify_digest: Option<VerifyDigest>,
}

/// Whether, after a rollout, the pods' `imageID`s are checked against the expected digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VerifyDigest {
    /// When a digest is known (pinned, or the build's) or the tag is mutable.
    #[default]
    Auto,
    Always,
    Never,
}

impl VerifyDigest {
    /// `auto`, `true` or `false` (as the input and flag spell it).
    pub fn parse(text: &str) -> Result<VerifyDigest, String> {
        match text.trim() {
            "auto" => Ok(VerifyDigest::Auto),
            "true" => Ok(VerifyDigest::Always),
            "false" => Ok(VerifyDigest::Never),
            other => Err(format!("`{other}`: expected auto, true or false")),
        }
    }
}

impl<'de> Deserialize<'de> for VerifyDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bool(true) => Ok(VerifyDigest::Always),
            Raw::Bool(false) => Ok(VerifyDigest::Never),
            Raw::Text(text) => VerifyDigest::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Tag sets that reproduce what teams do by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagPreset {
    /// `1.1.0-1766836944`, `sha-983315b`, `latest`.
    VersionTimestamp,
    /// `prod-v0.8.8`, `prod-<sha>`, `prod-latest`.
    Environment,
}

impl TagPreset {
    pub fn templates(self) -> &'static [&'static str] {
        match self {
            TagPreset::VersionTimestamp => &["{version}-{timestamp}", "sha-{sha7}", "latest"],
            TagPreset::Environment => &[
                "{environment}-v{version}",
                "{environment}-{sha}",
                "{environment}-latest",
            ],
        }
    }
}

/// When `latest`-like tags (`latest`, `{environment}-latest`) are produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatestPolicy {
    /// Only for builds of the default branch (never for pull requests or other branches).
    #[default]
    DefaultBranch,
    Always,
    Never,
}

/// How dependents of a changed service are pulled in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dependents {
    /// Only the services whose own paths changed.
    None,
    /// Plus the services that list a changed one in `depends-on`.
    Direct,
    /// Plus everything that depends on a changed service, however indirectly.
    #[default]
    Transitive,
}

/// Change-detection settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DetectSettings {
    #[serde(default)]
    pub dependents: Dependents,
    /// The remote that shallow clones are deepened from.
    #[serde(default = "default_remote")]
    pub remote: String,
    /// How deep `git fetch --deepen` may go, in commits, before giving up on local history.
    #[serde(default = "default_max_fetch_depth")]
    pub max_fetch_depth: u32,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            dependents: Dependents::default(),
            remote: default_remote(),
            max_fetch_depth: default_max_fetch_depth(),
        }
    }
}

fn default_remote() -> String {
    "origin".into()
}

fn default_max_fetch_depth() -> u32 {
    2048
}

/// The branch-name policy for pull requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BranchPolicySettings {
    pub patterns: Vec<Spanned<String>>,
    #[serde(default)]
    pub exempt: Vec<Spanned<String>>,
    /// Longest allowed branch name, in bytes.
    pub max_length: Option<Spanned<usize>>,
}

/// One service (or library) of the monorepo.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceSettings {
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub description: Option<String>,
    pub tags: Option<Vec<Spanned<String>>>,
    pub tag_preset: Option<TagPreset>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub build: Option<BuildSettings>,
    pub version: Option<Spanned<VersionSource>>,
    pub latest: Option<LatestPolicy>,
    pub deploy: Option<DeploySettings>,
}

/// Where a service's version comes from.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum VersionSource {
    /// `{ from: services/auth/package.json }` (pyproject.toml, package.json, Cargo.toml, VERSION).
    File { from: String },
    /// `{ git-tag: "auth/v*" }`: the newest semver tag with that prefix.
    GitTag {
        #[serde(rename = "git-tag")]
        git_tag: String,
    },
    /// A literal version.
    Literal(String),
}

/// How an image is built.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSettings {
    pub context: Option<String>,
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default)]
    pub platforms: Vec<String>,
    pub builder: Option<Builder>,
    pub command: Option<Vec<String>>,
    pub workflow: Option<String>,
    pub cache: Option<CachePolicy>,
    pub skip_existing: Option<bool>,
    pub fail_fast: Option<bool>,
    /// BuildKit secrets handed to this service's builder (`--secret id=…,env=…|src=…`).
    #[serde(default)]
    pub secrets: Vec<SecretEntry>,
}

/// One entry of `build.secrets`: `{ id: npm_token, env: NPM_TOKEN }` or `{ id: …, src: file }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretEntry {
    pub id: Spanned<String>,
    pub env: Option<Spanned<String>>,
    pub src: Option<Spanned<String>>,
}

impl SecretEntry {
    /// The plan's form: names only.
    pub fn to_secret(&self) -> crate::build::secrets::Secret {
        crate::build::secrets::Secret {
            id: self.id.value.clone(),
            env: self.env.as_ref().map(|e| e.value.clone()),
            src: self.src.as_ref().map(|s| s.value.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builder {
    Buildx,
    Command,
    Workflow,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CachePolicy {
    Fresh,
    Registry,
    Gha,
}

impl Builder {
    /// The name as written in the config and the plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Builder::Buildx => "buildx",
            Builder::Command => "command",
            Builder::Workflow => "workflow",
            Builder::None => "none",
        }
    }
}

/// Where and how a service is deployed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploySettings {
    pub namespace: Option<String>,
    #[serde(default)]
    pub kind: WorkloadKind,
    pub name: Option<String>,
    pub container: Option<String>,
    #[serde(default)]
    pub init_containers: bool,
    pub timeout: Option<Spanned<Duration>>,
    #[serde(default)]
    pub wave: u32,
    #[serde(default)]
    pub restart_if_unchanged: bool,
    #[serde(default)]
    pub verify_image: bool,
    pub on_failure: Option<OnFailure>,
    /// Crash-loop restarts tolerated before the rollout is failed (default 0: the first
    /// `CrashLoopBackOff` fails it).
    pub fail_after_restarts: Option<u32>,
    /// Set `imagePullPolicy: Always` on the changed containers when the tag is mutable, instead
    /// of only warning that a node may run a stale cached image.
    #[serde(default)]
    pub enforce_pull_always: bool,
    /// After the rollout, check the digest the pods run (default: `defaults.deploy`, else auto).
    pub verify_digest: Option<VerifyDigest>,
    pub health: Option<Spanned<HealthSettings>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum WorkloadKind {
    #[default]
    Deployment,
    StatefulSet,
    DaemonSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    Rollback,
    RollbackAll,
    None,
}

/// A health gate run after a rollout succeeded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HealthSettings {
    pub url: Option<String>,
    pub port: Option<u16>,
    pub path: Option<String>,
    /// How `port` is reached: `port-forward` (the only way, and the default with `port`).
    pub via: Option<String>,
    /// With `port`: a Service's port, resolved to its `targetPort` on a pod it selects.
    pub service: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub expect_status: Option<ExpectStatus>,
    pub body_contains: Option<String>,
    pub json: Option<JsonExpectation>,
    pub timeout: Option<Spanned<Duration>>,
    pub initial_delay: Option<Spanned<Duration>>,
    pub interval: Option<Spanned<Duration>>,
    pub attempts: Option<u32>,
    pub success_threshold: Option<u32>,
    pub critical: Option<bool>,
}

/// Accepted HTTP statuses: `200`, `[200, 204]`, `"200-299"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ExpectStatus {
    One(StatusSpec),
    Many(Vec<StatusSpec>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    Code(u16),
    Range(String),
}

/// A JSON pointer check on the response body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JsonExpectation {
    pub pointer: String,
    pub equals: Option<serde_json::Value>,
    #[serde(rename = "in")]
    pub one_of: Option<Vec<serde_json::Value>>,
    pub exists: Option<bool>,
}

/// A duration written `10s`, `1m30s`, `250ms`, `2h` or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(s) => Ok(Duration(std::time::Duration::from_secs(s))),
            Raw::Text(text) => parse_duration(&text)
                .map(Duration)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `1m30s`-style durations.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(seconds));
    }
    let invalid =
        || format!("invalid duration `{text}`: write it like `10s`, `1m30s`, `250ms` or `2h`");
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => std::time::Duration::from_millis(number),
            "s" => std::time::Duration::from_secs(number),
            "m" => std::time::Duration::from_secs(number.saturating_mul(60)),
            "h" => std::time::Duration::from_secs(number.saturating_mul(3600)),
            _ => return Err(invalid()),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1m30s"),
            Ok(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("2h"),
            Ok(std::time::Duration::from_secs(7200))
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }
}
