//! `verify-digest`: after a rollout completes, does every ready pod of the new rollout really
//! run the image we meant? Its main purpose is the mutable tag: a node that cached an older
//! `latest` starts the old code under the new ReplicaSet and the rollout "succeeds". The
//! expected digest is the one pinned in the image (the build's digest), else what the registry
//! serves for the tag now (one `HEAD` through the registry client); each target container's
//! `imageID` must carry it.
//!
//! [`judge`] and [`applies`] are pure; [`verify`] is the one I/O function (a LIST of the
//! workload's pods, the registry `HEAD`).

use super::cluster::{Cluster, selector_string};
use super::result::ServiceResult;
use super::rollout::Workload;
use super::target::{DeployTarget, ImageSource, is_mutable_reference};
use super::watch::Seen;
use crate::config::model::VerifyDigest;
use crate::registry::RegistryClient;
use k8s_openapi::api::core::v1::Pod;

/// One target container of one ready new pod, as the kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub pod: String,
    pub node: String,
    pub container: String,
    /// The digest of its `imageID`; `None` when the kubelet reports none.
    pub digest: Option<String>,
}

/// Where the expected digest came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// The build reported it and the image was pinned to it.
    Build,
    /// The image reference names it (`@sha256:`).
    Pinned,
    /// The registry's digest of the tag at deploy time.
    Registry,
}

impl Expectation {
    fn describe(self) -> &'static str {
        match self {
            Expectation::Build => "the build's digest",
            Expectation::Pinned => "the pinned digest",
            Expectation::Registry => "the registry's digest of the tag",
        }
    }
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every checked container runs `digest`.
    Match { digest: String, pods: usize },
    /// Some run another digest (or none): the service fails and is rolled back.
    Mismatch { message: String },
}

/// Whether `verify-digest` asks for a check of this image: `auto` checks a pinned image (a
/// cheap consistency check) and a mutable tag (the trap it exists for).
pub fn applies(mode: VerifyDigest, image: &str) -> bool {
    match mode {
        VerifyDigest::Never => false,
        VerifyDigest::Always => true,
        VerifyDigest::Auto => pinned_digest(image).is_some() || is_mutable_reference(image),
    }
}

/// `sha256:…` of `repo:tag@sha256:…`.
pub fn pinned_digest(image: &str) -> Option<&str> {
    image
        .rsplit_once('@')
        .map(|(_, digest)| digest)
        .filter(|d| d.starts_with("sha256:"))
}

/// Compares what runs with what was expected. `pull_policy` is the effective
/// `imagePullPolicy` of the target containers, for naming the classic cause.
pub fn judge(
    image: &str,
    expected: &str,
    expectation: Expectation,
    running: &[Running],
    pull_policy: &str,
) -> Verdict {
    let wrong: Vec<&Running> = running
        .iter()
        .filter(|r| r.digest.as_deref() != Some(expected))
        .collect();
    if wrong.is_empty() {
        let mut pods: Vec<&str> = running.iter().map(|r| r.pod.as_str()).collect();
        pods.dedup();
        return Verdict::Match {
            digest: expected.to_string(),
            pods: pods.len(),
        };
    }
    let listing = wrong
        .iter()
        .map(|r| {
            format!(
                "pod {} on {} (container {}) runs {}",
                r.pod,
                r.node,
                r.container,
                r.digest
                    .as_deref()
                    .map_or_else(|| "no reported digest".to_string(), short)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut message = format!(
        "digest mismatch: expected {} ({}) for `{image}`, but {listing}",
        short(expected),
        expectation.describe()
    );
    if let Some(cause) = cause(image, pull_policy) {
        message.push_str(&format!(". Likely cause: {cause}"));
    }
    Verdict::Mismatch { message }
}

/// The classic cause: a mutable tag that nodes do not re-pull.
fn cause(image: &str, pull_policy: &str) -> Option<String> {
    if !is_mutable_reference(image) || pull_policy == "Always" {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once(':').map_or("latest", |(_, tag)| tag);
    Some(format!(
        "mutable tag `{tag}` with imagePullPolicy {pull_policy}: the node used its cached image (deploy by digest, or set `enforce-pull-always: true`)"
    ))
}

/// `sha256:` and 12 hex digits.
pub fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

/// What [`verify`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Not asked for (`verify-digest` off, or `auto` and nothing to compare against).
    Skipped,
    /// Every new pod runs `digest`.
    Passed { digest: String },
    /// Could not be checked; `auto` goes on with this warning.
    Unverifiable { warning: String },
    /// The service must fail (and be rolled back).
    Failed { message: String },
}

/// Checks the ready new pods of a completed rollout against the expected digest.
pub async fn verify(
    cluster: &Cluster,
    target: &DeployTarget,
    namespace: &str,
    seen: &Seen,
) -> Check {
    if !applies(target.verify_digest, &target.image) {
        return Check::Skipped;
    }
    let unverifiable = |warning: String| match target.verify_digest {
        VerifyDigest::Always => Check::Failed {
            message: format!("verify-digest: {warning}"),
        },
        _ => Check::Unverifiable { warning },
    };
    let (expected, expectation) = match pinned_digest(&target.image) {
        Some(digest) if target.image_source == ImageSource::BuildDigest => {
            (digest.to_string(), Expectation::Build)
        }
        Some(digest) => (digest.to_string(), Expectation::Pinned),
        None => {
            let (name, tag) = match super::preflight::split_reference(&target.image) {
                Ok(parts) => parts,
                Err(problem) => return unverifiable(problem),
            };
            // The same client (credentials, insecure hosts) as the deploy's preflight.
            let registry = RegistryClient::from_env();
            match registry.manifest_digest(&name, &tag).await {
                Ok(Some(digest)) => (digest, Expectation::Registry),
                Ok(None) => {
                    return unverifiable(format!(
                        "the registry has no `{}`, so the digest the pods run cannot be checked",
                        target.image
                    ));
                }
                Err(error) => {
                    return unverifiable(format!(
                        "cannot read the digest of `{}` from its registry ({error}), so the digest the pods run cannot be checked",
                        target.image
                    ));
                }
            }
        }
    };
    let Some(workload) = &seen.workload else {
        return unverifiable("the workload was not seen after the rollout".into());
    };
    let pods = match new_pods(cluster, target, namespace, workload).await {
        Ok(pods) => pods,
        Err(error) => return unverifiable(format!("cannot list the new pods: {error}")),
    };
    let containers: Vec<String> = super::patch::select(target, workload)
        .map(|chosen| {
            chosen
                .into_iter()
                .filter(|c| !c.init)
                .map(|c| c.name)
                .collect()
        })
        .unwrap_or_default();
    let running = running(&pods, &containers);
    if running.is_empty() {
        return unverifiable("no ready pod of the new rollout reports an image".into());
    }
    let pull_policy = super::patch::containers(workload)
        .iter()
        .find(|c| containers.contains(&c.name) && !c.init)
        .map(|c| super::patch::effective_pull_policy(c).to_string())
        .unwrap_or_else(|| "IfNotPresent".into());
    match judge(
        &target.image,
        &expected,
        expectation,
        &running,
        &pull_policy,
    ) {
        Verdict::Match { digest, .. } => Check::Passed { digest },
        Verdict::Mismatch { message } => Check::Failed { message },
    }
}

/// Puts a check into the service's result (the running digest, a warning, progress) and
/// returns the failure to roll back for, if any.
pub fn record(check: Check, result: &mut ServiceResult, say: &dyn Fn(&str)) -> Option<String> {
    match check {
        Check::Skipped => None,
        Check::Passed { digest } => {
            say(&format!(
                "digest verified: every new pod runs {}",
                short(&digest)
            ));
            result.digest = Some(digest);
            None
        }
        Check::Unverifiable { warning } => {
            say(&format!("digest not verified: {warning}"));
            result.warnings.push(format!("verify-digest: {warning}"));
            None
        }
        Check::Failed { message } => {
            say(&message);
            Some(message)
        }
    }
}

/// The pods of the workload's current template (a Deployment's newest ReplicaSet, the
/// updated pods of a StatefulSet or DaemonSet), listed now.
pub(crate) async fn new_pods(
    cluster: &Cluster,
    target: &DeployTarget,
    namespace: &str,
    workload: &serde_json::Value,
) -> Result<Vec<Pod>, super::cluster::ApiError> {
    let Some(selector) = selector_string(workload) else {
        return Ok(Vec::new());
    };
    let Some(typed) = super::watch::typed(target.kind, workload) else {
        return Ok(Vec::new());
    };
    let replica_sets = match &typed {
        Workload::Deployment(_) => cluster.replica_sets(namespace, &selector).await?,
        _ => Vec::new(),
    };
    let new_rs = match &typed {
        Workload::Deployment(d) => super::pods::new_replica_set(d, &replica_sets),
        _ => None,
    };
    Ok(cluster
        .pods(namespace, &selector)
        .await?
        .into_iter()
        .filter(|pod| super::pods::is_new_pod(&typed, new_rs, pod))
        .collect())
}

/// The target containers of the ready, not terminating pods.
fn running(pods: &[Pod], containers: &[String]) -> Vec<Running> {
    let mut running = Vec::new();
    for pod in pods {
        let Some(status) = pod.status.as_ref() else {
            continue;
        };
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if !ready || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| "?".into());
        for container in status.container_statuses.iter().flatten() {
            if !containers.contains(&container.name) {
                continue;
            }
            running.push(Running {
                pod: name.clone(),
                node: node.clone(),
                container: container.name.clone(),
                digest: crate::status::digest_of(&container.image_id),
            });
        }
    }
    running
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn pod(name: &str, node: &str, digest: &str) -> Running {
        Running {
            pod: name.into(),
            node: node.into(),
            container: "auth".into(),
            digest: Some(digest.into()),
        }
    }

    #[test]
    fn auto_checks_pinned_images_and_mutable_tags_only() {
        let pinned = format!("r/auth:1.2@{}", hex('a'));
        assert!(applies(VerifyDigest::Auto, &pinned));
        assert!(applies(VerifyDigest::Auto, "r/auth:latest"));
        assert!(applies(VerifyDigest::Auto, "r/auth:prod-latest"));
        assert!(!applies(VerifyDigest::Auto, "r/auth:1.2.3"));
        assert!(applies(VerifyDigest::Always, "r/auth:1.2.3"));
        assert!(!applies(VerifyDigest::Never, &pinned));
    }

    #[test]
    fn every_pod_running_the_expected_digest_passes() {
        let running = [pod("a-1", "n1", &hex('a')), pod("a-2", "n2", &hex('a'))];
        assert_eq!(
            judge(
                "r/auth:latest",
                &hex('a'),
                Expectation::Registry,
                &running,
                "Always"
            ),
            Verdict::Match {
                digest: hex('a'),
                pods: 2
            }
        );
    }

    #[test]
    fn a_stale_node_names_pod_node_digests_and_the_classic_cause() {
        let running = [pod("a-1", "n1", &hex('b')), pod("a-2", "n2", &hex('a'))];
        let Verdict::Mismatch { message } = judge(
            "r/auth:latest",
            &hex('a'),
            Expectation::Registry,
            &running,
            "IfNotPresent",
        ) else {
            panic!("a mismatch");
        };
        assert_eq!(
            message,
            "digest mismatch: expected sha256:aaaaaaaaaaaa (the registry's digest of the tag) for `r/auth:latest`, but pod a-1 on n1 (container auth) runs sha256:bbbbbbbbbbbb. Likely cause: mutable tag `latest` with imagePullPolicy IfNotPresent: the node used its cached image (deploy by digest, or set `enforce-pull-always: true`)"
        );
        // A pinned image has no such cause.
        let pinned = format!("r/auth:1.2@{}", hex('a'));
        let Verdict::Mismatch { message } = judge(
            &pinned,
            &hex('a'),
            Expectation::Build,
            &running,
            "IfNotPresent",
        ) else {
            panic!("a mismatch");
        };
        assert!(message.contains("(the build's digest)"), "{message}");
        assert!(!message.contains("Likely cause"), "{message}");
    }
}
