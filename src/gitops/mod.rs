//! GitOps write-back (`deploy.gitops`): instead of applying to a cluster, `deploy` writes the
//! planned images into the `images:` entries of a kustomization.yaml and commits it (or opens a
//! pull request) through the GitHub API, for Argo CD or Flux to apply.
//!
//! The deciding parts are pure: which entry each planned service gets ([`images`]), the text
//! edit ([`edit`]), the commit message and the branch name ([`message`]). The GitHub exchange is
//! [`write`], over [`crate::github::contents`].

pub mod edit;
pub mod follow;
pub mod message;
pub mod write;

use crate::plan::Plan;
use crate::reference::Reference;
use edit::{ImageEntry, same_image};
use std::collections::BTreeMap;

/// What one planned service writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceImage {
    pub service: String,
    /// The plan's version of the service, when it has one.
    pub version: Option<String>,
    /// The reference the cluster will run (`repo:tag@digest`).
    pub reference: String,
    pub entry: ImageEntry,
}

impl ServiceImage {
    /// The version people read: the service's version, else the tag, else the short digest.
    pub fn shown_version(&self) -> String {
        self.version
            .clone()
            .or_else(|| self.entry.new_tag.clone())
            .or_else(|| {
                self.entry
                    .digest
                    .as_deref()
                    .map(|d| d.chars().take(19).collect())
            })
            .unwrap_or_default()
    }
}

/// What the write-back needs of one planned service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    /// Registry and repository, no tag (the plan's `image`).
    pub image: String,
    /// The primary `image:tag`.
    pub primary: Option<String>,
    pub version: Option<String>,
}

/// The plan's services that have an image.
pub fn planned(plan: &Plan) -> Vec<Planned> {
    plan.services
        .iter()
        .filter(|s| !s.image.is_empty())
        .map(|s| Planned {
            name: s.name.clone(),
            image: s.image.clone(),
            primary: s.refs.first().cloned(),
            version: s.version.clone(),
        })
        .collect()
}

/// The `images:` entry of each planned service: `name` is the service's repository; `newName`
/// when the reference deployed is another repository (an `--image` override); `newTag` its
/// tag; `digest` the build's digest (or the reference's own).
pub fn images(
    services: &[Planned],
    digests: &BTreeMap<String, Option<String>>,
    overrides: &BTreeMap<String, String>,
) -> Result<Vec<ServiceImage>, Vec<String>> {
    let mut images = Vec::new();
    let mut errors = Vec::new();
    for service in services {
        let override_image = overrides.get(&service.name);
        let Some(text) = override_image.or(service.primary.as_ref()) else {
            errors.push(format!(
                "the plan gives `{}` no tags, so there is no image to write",
                service.name
            ));
            continue;
        };
        let reference = match Reference::parse(text) {
            Ok(reference) => reference,
            Err(e) => {
                errors.push(format!(
                    "`{}`: `{}` is not an image reference: {e}",
                    service.name,
                    crate::reference::shown(text)
                ));
                continue;
            }
        };
        let digest = match override_image {
            Some(_) => reference.digest.clone(),
            None => digests
                .get(&service.name)
                .cloned()
                .flatten()
                .or(reference.digest.clone()),
        };
        let name = reference.name();
        let entry = ImageEntry {
            name: service.image.clone(),
            new_name: (!same_image(&name, &service.image)).then(|| name.clone()),
            new_tag: reference.tag.clone(),
            digest: digest.clone(),
        };
        let mut shown = name;
        if let Some(tag) = &entry.new_tag {
            shown.push(':');
            shown.push_str(tag);
        }
        if let Some(digest) = &digest {
            shown.push('@');
            shown.push_str(digest);
        }
        images.push(ServiceImage {
            service: service.name.clone(),
            version: service.version.clone(),
            reference: shown,
            entry,
        });
    }
    if errors.is_empty() {
        Ok(images)
    } else {
        Err(errors)
    }
}

/// The entries to edit, in plan order.
pub fn entries(images: &[ServiceImage]) -> Vec<ImageEntry> {
    images.iter().map(|i| i.entry.clone()).collect()
}

/// A unified diff of the kustomization before and after (empty when equal).
pub fn diff(path: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// Why a run only previews instead of changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewOnly {
    /// `dry-run: true`.
    DryRun,
    /// A pull-request run (`pull_request*` event) without `dry-run`: it previews what merging
    /// would change and never writes or applies.
    PullRequest,
}

impl PreviewOnly {
    /// The run's reason to preview only, if any (the manifests deploy decides the same way).
    pub fn of(event: &str, dry_run: bool) -> Option<PreviewOnly> {
        if dry_run {
            Some(PreviewOnly::DryRun)
        } else if event.starts_with("pull_request") {
            Some(PreviewOnly::PullRequest)
        } else {
            None
        }
    }

    /// The notice a pull-request run shows (`previews`: what it shows, `spares`: what it does
    /// not do); a dry run asked for it and needs none.
    pub fn notice(self, previews: &str, spares: &str) -> Option<String> {
        (self == PreviewOnly::PullRequest)
            .then(|| format!("a pull-request run previews {previews}; it {spares}"))
    }
}

/// What the write-back does in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No planned service has an image: nothing to write or show.
    Nothing,
    /// Show the diff of the kustomization, write nothing.
    Preview(PreviewOnly),
    /// Commit the edited kustomization (or open a pull request).
    Write,
}

/// Decides the run: `images` planned images, the run's event and `dry-run`.
pub fn decide(images: usize, event: &str, dry_run: bool) -> Decision {
    match PreviewOnly::of(event, dry_run) {
        _ if images == 0 => Decision::Nothing,
        Some(why) => Decision::Preview(why),
        None => Decision::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_or_a_pull_request_run_previews_and_only_a_real_run_writes() {
        use Decision::{Nothing, Preview, Write};
        use PreviewOnly::{DryRun, PullRequest};
        let table = [
            (2, "push", false, Write),
            (2, "workflow_dispatch", false, Write),
            (2, "push", true, Preview(DryRun)),
            (2, "pull_request", false, Preview(PullRequest)),
            (2, "pull_request_target", false, Preview(PullRequest)),
            (2, "pull_request", true, Preview(DryRun)),
            (0, "push", false, Nothing),
            (0, "pull_request", false, Nothing),
            (0, "push", true, Nothing),
        ];
        for (images, event, dry_run, expected) in table {
            assert_eq!(
                decide(images, event, dry_run),
                expected,
                "{images} images, {event}, dry run {dry_run}"
            );
        }
        assert_eq!(PreviewOnly::DryRun.notice("x", "y"), None);
        assert_eq!(
            PreviewOnly::PullRequest.notice("the write-back", "writes nothing"),
            Some("a pull-request run previews the write-back; it writes nothing".into())
        );
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn plan() -> Vec<Planned> {
        let service = |name: &str, version: Option<&str>| Planned {
            name: name.into(),
            image: format!("ghcr.io/acme/{name}"),
            primary: Some(format!("ghcr.io/acme/{name}:1.4.2")),
            version: version.map(str::to_string),
        };
        vec![
            service("backend", Some("1.4.2")),
            service("web", None),
            service("tools", None),
        ]
    }

    #[test]
    fn each_planned_service_gets_its_entry() {
        let digests = BTreeMap::from([("backend".to_string(), Some(DIGEST.to_string()))]);
        let overrides = BTreeMap::from([(
            "web".to_string(),
            "registry.example.com/mirror/web:hotfix-2".to_string(),
        )]);
        let images = images(&plan(), &digests, &overrides).unwrap();
        assert_eq!(images.len(), 3);
        assert_eq!(
            images[0].entry,
            ImageEntry {
                name: "ghcr.io/acme/backend".into(),
                new_name: None,
                new_tag: Some("1.4.2".into()),
                digest: Some(DIGEST.into()),
            }
        );
        assert_eq!(
            images[0].reference,
            format!("ghcr.io/acme/backend:1.4.2@{DIGEST}")
        );
        assert_eq!(images[0].shown_version(), "1.4.2");
        assert_eq!(
            images[1].entry,
            ImageEntry {
                name: "ghcr.io/acme/web".into(),
                new_name: Some("registry.example.com/mirror/web".into()),
                new_tag: Some("hotfix-2".into()),
                digest: None,
            }
        );
        assert_eq!(images[1].shown_version(), "hotfix-2");
        assert_eq!(images[2].entry.digest, None);
    }

    #[test]
    fn a_service_without_tags_is_an_error() {
        let mut services = plan();
        services[2].primary = None;
        let errors = images(&services, &BTreeMap::new(), &BTreeMap::new()).unwrap_err();
        assert_eq!(
            errors,
            ["the plan gives `tools` no tags, so there is no image to write"]
        );
    }

    #[test]
    fn a_bad_override_is_an_error_naming_the_service() {
        let overrides = BTreeMap::from([("web".to_string(), "Not A Ref".to_string())]);
        let errors = images(&plan(), &BTreeMap::new(), &overrides).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`web`:"), "{}", errors[0]);
    }

    #[test]
    fn the_diff_names_the_file() {
        assert_eq!(diff("k.yaml", "a\n", "a\n"), "");
        let text = diff("o/k.yaml", "x: 1\n", "x: 2\n");
        assert!(
            text.starts_with("--- a/o/k.yaml\n+++ b/o/k.yaml\n"),
            "{text}"
        );
        assert!(text.contains("-x: 1\n+x: 2\n"), "{text}");
    }
}
