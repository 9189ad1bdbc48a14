//! What gets deployed where: the plan, the build's images and explicit overrides, joined with
//! each service's `deploy` settings into one [`DeployTarget`] per service. Pure.

use crate::config::Config;
use crate::config::model::{OnFailure, VerifyDigest, WorkloadKind};
use crate::diagnostic::Diagnostic;
use crate::plan::Plan;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Which containers of the pod template get the new image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerSelector {
    /// The only container, else the one named like the service (decided against the workload).
    Auto,
    Named(String),
    /// `*`: every container.
    All,
}

/// Where the deployed image reference came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageSource {
    /// The plan's primary tag.
    PlanTag,
    /// The digest the build reported (pinned: the tag cannot move under it).
    BuildDigest,
    /// `--image service=ref`.
    Override,
}

/// One service to deploy, with every setting resolved except what only the cluster knows
/// (namespace default, container names, progress deadline).
#[derive(Debug, Clone)]
pub struct DeployTarget {
    pub service: String,
    /// `None`: the kubeconfig context's namespace, else `default`.
    pub namespace: Option<String>,
    pub kind: WorkloadKind,
    pub name: String,
    pub container: ContainerSelector,
    pub init_containers: bool,
    pub image: String,
    pub image_source: ImageSource,
    /// The tag can move (`latest`, `*-latest`, no tag) and is not pinned by a digest.
    pub mutable_tag: bool,
    pub timeout: Option<Duration>,
    pub wave: u32,
    pub restart_if_unchanged: bool,
    pub verify_image: bool,
    pub enforce_pull_always: bool,
    /// After the rollout, check the digest the new pods run (`deploy::digest`).
    pub verify_digest: VerifyDigest,
    pub on_failure: OnFailure,
    pub fail_after_restarts: u32,
    pub health: Option<crate::health::HealthGate>,
    /// The commit and version written into the pod template's annotations.
    pub revision: String,
    pub version: Option<String>,
}

impl DeployTarget {
    /// `Deployment/auth` (kubectl's `kind/name`).
    pub fn workload(&self) -> String {
        format!("{}/{}", kind_name(self.kind), self.name)
    }
}

#[cfg(test)]
impl DeployTarget {
    /// The service `auth` deploying `image` to Deployment `shop/auth`, every option off: a
    /// starting point for tests to adjust.
    pub(crate) fn example(image: &str) -> Self {
        DeployTarget {
            service: "auth".into(),
            namespace: Some("shop".into()),
            kind: WorkloadKind::Deployment,
            name: "auth".into(),
            container: ContainerSelector::Auto,
            init_containers: false,
            image: image.into(),
            image_source: ImageSource::PlanTag,
            mutable_tag: is_mutable_reference(image),
            timeout: None,
            wave: 0,
            restart_if_unchanged: false,
            verify_image: false,
            enforce_pull_always: false,
            verify_digest: VerifyDigest::Auto,
            on_failure: OnFailure::Rollback,
            fail_after_restarts: 0,
            health: None,
            revision: "abc123".into(),
            version: Some("1.2.0".into()),
        }
    }
}

pub fn kind_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::StatefulSet => "StatefulSet",
        WorkloadKind::DaemonSet => "DaemonSet",
    }
}

/// A planned service that is not deployed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub service: String,
    pub reason: String,
}

/// The build's `images` output: `{"auth": {"refs": [...], "digest": "sha256:..." | null}}`.
pub fn parse_images(value: &Value) -> Result<BTreeMap<String, Option<String>>, String> {
    let Some(map) = value.as_object() else {
        return Err("the images value must be a JSON object (the build's `images` output)".into());
    };
    let mut digests = BTreeMap::new();
    for (service, entry) in map {
        let digest = match entry.get("digest") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if is_digest(d) => Some(d.clone()),
            Some(other) => {
                return Err(format!(
                    "images.{service}.digest must be `sha256:<64 hex>` or null, not {other}"
                ));
            }
        };
        digests.insert(service.clone(), digest);
    }
    Ok(digests)
}

fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses `--image service=ref` values.
pub fn parse_overrides(values: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for value in values {
        let Some((service, image)) = value.split_once('=') else {
            return Err(format!(
                "`--image {value}`: write it as SERVICE=IMAGE, e.g. auth=ghcr.io/acme/auth:1.4.2"
            ));
        };
        let (service, image) = (service.trim(), image.trim());
        if service.is_empty() || image.is_empty() || image.chars().any(char::is_whitespace) {
            return Err(format!(
                "`--image {value}`: write it as SERVICE=IMAGE, e.g. auth=ghcr.io/acme/auth:1.4.2"
            ));
        }
        if map.insert(service.to_string(), image.to_string()).is_some() {
            return Err(format!("`--image` names the service `{service}` twice"));
        }
    }
    Ok(map)
}

/// Whether an image reference can run different code tomorrow: no digest, and a tag that is
/// missing, `latest` or `*-latest`.
pub fn is_mutable_reference(image: &str) -> bool {
    match crate::reference::Reference::parse(image) {
        Ok(reference) => {
            reference.digest.is_none()
                && reference
                    .tag
                    .is_none_or(|tag| tag == "latest" || tag.ends_with("-latest"))
        }
        // Not a reference the cluster can pull; nothing says it is pinned.
        Err(_) => true,
    }
}

/// `image:tag@sha256:…`: the tag stays readable, the digest decides what runs.
pub fn pin(reference: &str, digest: &str) -> String {
    let base = reference.split('@').next().unwrap_or(reference);
    format!("{base}@{digest}")
}

/// Joins plan, images and overrides with the config. Every problem is collected.
pub fn targets(
    config: &Config,
    plan: &Plan,
    images: &BTreeMap<String, Option<String>>,
    overrides: &BTreeMap<String, String>,
) -> Result<(Vec<DeployTarget>, Vec<Skipped>), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut deployed = Vec::new();
    let mut skipped = Vec::new();
    for name in overrides.keys() {
        if !plan.services.iter().any(|s| &s.name == name) {
            errors.push(
                Diagnostic::error(
                    "shipgate deploy",
                    format!("`--image {name}=…` names a service that is not in the plan"),
                )
                .with_help(format!(
                    "services in the plan: {}; select it with `--services {name}`",
                    names(plan)
                )),
            );
        }
    }
    for planned in &plan.services {
        let Some(service) = config
            .service_index(&planned.name)
            .map(|i| &config.services[i])
        else {
            errors.push(Diagnostic::error(
                "shipgate deploy",
                format!(
                    "the plan has the service `{}`, which {} does not configure",
                    planned.name, config.path
                ),
            ));
            continue;
        };
        let Some(settings) = &service.settings.deploy else {
            skipped.push(Skipped {
                service: planned.name.clone(),
                reason: "no `deploy` settings".into(),
            });
            continue;
        };
        let (image, image_source) = if let Some(image) = overrides.get(&planned.name) {
            (image.clone(), ImageSource::Override)
        } else if let Some(Some(digest)) = images.get(&planned.name) {
            let Some(primary) = planned.refs.first() else {
                errors.push(no_tags(&planned.name));
                continue;
            };
            (pin(primary, digest), ImageSource::BuildDigest)
        } else if let Some(primary) = planned.refs.first() {
            (primary.clone(), ImageSource::PlanTag)
        } else {
            errors.push(no_tags(&planned.name));
            continue;
        };
        let health = match &settings.health {
            Some(health) => match crate::health::HealthGate::from_settings(&health.value, None) {
                Ok(gate) => Some(gate),
                Err(message) => {
                    errors.push(
                        Diagnostic::error(
                            "shipgate deploy",
                            format!("services.{}.deploy.health: {message}", planned.name),
                        )
                        .at(Some(service.location.clone())),
                    );
                    continue;
                }
            },
            None => None,
        };
        let container = match settings.container.as_deref().map(str::trim) {
            None | Some("") => ContainerSelector::Auto,
            Some("*") => ContainerSelector::All,
            Some(name) => ContainerSelector::Named(name.to_string()),
        };
        deployed.push(DeployTarget {
            service: planned.name.clone(),
            namespace: settings.namespace.clone().filter(|n| !n.trim().is_empty()),
            kind: settings.kind,
            name: settings
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| planned.name.clone()),
            container,
            init_containers: settings.init_containers,
            mutable_tag: is_mutable_reference(&image),
            image,
            image_source,
            timeout: settings.timeout.as_ref().map(|t| t.value.0),
            wave: settings.wave,
            restart_if_unchanged: settings.restart_if_unchanged,
            verify_image: settings.verify_image,
            enforce_pull_always: settings.enforce_pull_always,
            verify_digest: settings
                .verify_digest
                .or_else(|| config.defaults.deploy.as_ref()?.verify_digest)
                .unwrap_or_default(),
            on_failure: settings.on_failure.unwrap_or(OnFailure::Rollback),
            fail_after_restarts: settings.fail_after_restarts.unwrap_or(0),
            health,
            revision: plan.context.sha.clone(),
            version: planned.version.clone(),
        });
    }
    if errors.is_empty() {
        Ok((deployed, skipped))
    } else {
        Err(errors)
    }
}

fn names(plan: &Plan) -> String {
    if plan.services.is_empty() {
        return "none".into();
    }
    plan.services
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn no_tags(service: &str) -> Diagnostic {
    Diagnostic::error(
        "shipgate deploy",
        format!("the plan gives `{service}` no tags, so there is no image to deploy"),
    )
}

/// The targets grouped by wave, lowest first; services keep their plan order inside a wave.
pub fn waves(targets: &[DeployTarget]) -> Vec<(u32, Vec<usize>)> {
    let mut waves: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, target) in targets.iter().enumerate() {
        waves.entry(target.wave).or_default().push(index);
    }
    waves.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutable_references() {
        assert!(is_mutable_reference("ghcr.io/acme/auth"));
        assert!(is_mutable_reference("ghcr.io/acme/auth:latest"));
        assert!(is_mutable_reference("localhost:5000/auth:prod-latest"));
        assert!(!is_mutable_reference("localhost:5000/auth:1.2.3"));
        assert!(!is_mutable_reference(
            "ghcr.io/acme/auth:latest@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        ));
        // A registry port is not a tag.
        assert!(is_mutable_reference("localhost:5000/auth"));
    }

    #[test]
    fn digests_pin_the_primary_tag() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            pin("ghcr.io/acme/auth:1.2.3", &digest),
            format!("ghcr.io/acme/auth:1.2.3@{digest}")
        );
        let images = serde_json::json!({"auth": {"refs": [], "digest": digest}, "web": {"refs": [], "digest": null}});
        let parsed = parse_images(&images).unwrap();
        assert_eq!(parsed["auth"].as_deref(), Some(digest.as_str()));
        assert_eq!(parsed["web"], None);
        assert!(parse_images(&serde_json::json!({"auth": {"digest": "md5:x"}})).is_err());
        assert!(parse_images(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn overrides_are_service_equals_image() {
        let parsed = parse_overrides(&["auth=ghcr.io/acme/auth:1.4.2".into()]).unwrap();
        assert_eq!(parsed["auth"], "ghcr.io/acme/auth:1.4.2");
        assert!(parse_overrides(&["auth".into()]).is_err());
        assert!(parse_overrides(&["auth=".into()]).is_err());
        assert!(parse_overrides(&["auth=a:1".into(), "auth=a:2".into()]).is_err());
    }
}
