//! `skip-existing`: when the image a service would build is already in the registry, push its
//! other tags onto that manifest instead of building again.
//!
//! The tag looked up is the plan's `lookup_tag`: the `{content}` tag when the service's tags have
//! one (same build inputs → same tag), else the primary tag.

use crate::plan::PlannedService;

/// The registry operations `skip-existing` needs.
#[expect(
    async_fn_in_trait,
    reason = "builds run on a LocalSet; no Send bound is needed"
)]
pub trait Registry {
    /// The manifest digest of `image:tag`, `None` when the tag does not exist.
    async fn manifest_digest(&self, image: &str, tag: &str) -> Result<Option<String>, String>;
    /// Pushes `to_tags` onto the manifest of `image:from_tag`; returns its digest.
    async fn retag(
        &self,
        image: &str,
        from_tag: &str,
        to_tags: &[String],
    ) -> Result<String, String>;
}

impl Registry for crate::registry::RegistryClient {
    async fn manifest_digest(&self, image: &str, tag: &str) -> Result<Option<String>, String> {
        crate::registry::RegistryClient::manifest_digest(self, image, tag)
            .await
            .map_err(|e| e.to_string())
    }

    async fn retag(
        &self,
        image: &str,
        from_tag: &str,
        to_tags: &[String],
    ) -> Result<String, String> {
        crate::registry::RegistryClient::retag(self, image, from_tag, to_tags)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What the lookup decided for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The image exists (and was re-tagged, unless the run does not push).
    Exists { digest: String, note: String },
    /// Not there: build it. `note` says why when the lookup itself failed.
    Build { note: Option<String> },
    /// Re-tagging failed: the other tags are not pushed.
    Failed(String),
}

/// The tags to push onto the existing manifest: every tag but the one looked up.
pub fn other_tags(service: &PlannedService) -> Vec<String> {
    service
        .tags
        .iter()
        .filter(|t| **t != service.lookup_tag)
        .cloned()
        .collect()
}

/// Looks up `service.lookup_tag`; re-tags when it exists and `push` is set.
pub async fn lookup(registry: &impl Registry, service: &PlannedService, push: bool) -> Lookup {
    let image = &service.image;
    let tag = &service.lookup_tag;
    let digest = match registry.manifest_digest(image, tag).await {
        Ok(Some(digest)) => digest,
        Ok(None) => return Lookup::Build { note: None },
        Err(e) => {
            return Lookup::Build {
                note: Some(format!(
                    "{}{image}:{tag} exists ({e}); built instead",
                    super::LOOKUP_FAILED
                )),
            };
        }
    };
    let others = other_tags(service);
    if others.is_empty() {
        return Lookup::Exists {
            digest,
            note: format!("{image}:{tag} exists; nothing to re-tag"),
        };
    }
    if !push {
        return Lookup::Exists {
            digest,
            note: format!(
                "{image}:{tag} exists; would re-tag it as {}",
                others.join(", ")
            ),
        };
    }
    match registry.retag(image, tag, &others).await {
        Ok(retagged) => Lookup::Exists {
            digest: if retagged.starts_with("sha256:") {
                retagged
            } else {
                digest
            },
            note: format!("{image}:{tag} exists; re-tagged as {}", others.join(", ")),
        },
        Err(e) => Lookup::Failed(format!(
            "{image}:{tag} exists, but re-tagging it as {} failed: {e}",
            others.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::BuildSpec;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// A registry holding some tags, recording re-tags.
    struct FakeRegistry {
        tags: Vec<&'static str>,
        retagged: RefCell<Vec<String>>,
        broken: bool,
    }

    impl Registry for FakeRegistry {
        async fn manifest_digest(&self, _image: &str, tag: &str) -> Result<Option<String>, String> {
            if self.broken {
                return Err("connection refused".into());
            }
            Ok(self.tags.contains(&tag).then(|| "sha256:feed".to_string()))
        }
        async fn retag(&self, _: &str, _: &str, to: &[String]) -> Result<String, String> {
            self.retagged.borrow_mut().extend(to.iter().cloned());
            Ok("sha256:feed".into())
        }
    }

    fn service() -> PlannedService {
        PlannedService {
            name: "auth".into(),
            image: "ghcr.io/acme/auth".into(),
            tags: vec!["c-0123".into(), "sha-abc".into(), "1.0.0".into()],
            refs: vec![],
            labels: BTreeMap::new(),
            build: BuildSpec {
                context: ".".into(),
                dockerfile: "Dockerfile".into(),
                target: None,
                args: BTreeMap::new(),
                platforms: vec![],
                builder: crate::config::model::Builder::Buildx,
                cache: crate::config::model::CachePolicy::Fresh,
                command: None,
                workflow: None,
                secrets: vec![],
            },
            reason: crate::detect::changes::Reason::Selected { by: "test".into() },
            version: None,
            content: String::new(),
            lookup_tag: "c-0123".into(),
            mutable_only: false,
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn an_existing_image_is_retagged_not_rebuilt() {
        let registry = FakeRegistry {
            tags: vec!["c-0123"],
            retagged: RefCell::default(),
            broken: false,
        };
        let lookup = block_on(lookup(&registry, &service(), true));
        assert_eq!(
            lookup,
            Lookup::Exists {
                digest: "sha256:feed".into(),
                note: "ghcr.io/acme/auth:c-0123 exists; re-tagged as sha-abc, 1.0.0".into()
            }
        );
        assert_eq!(*registry.retagged.borrow(), ["sha-abc", "1.0.0"]);
    }

    #[test]
    fn without_push_nothing_is_retagged() {
        let registry = FakeRegistry {
            tags: vec!["c-0123"],
            retagged: RefCell::default(),
            broken: false,
        };
        let lookup = block_on(lookup(&registry, &service(), false));
        assert!(matches!(lookup, Lookup::Exists { ref note, .. } if note.contains("would re-tag")));
        assert!(registry.retagged.borrow().is_empty());
    }

    #[test]
    fn a_missing_image_or_a_broken_registry_means_build() {
        let missing = FakeRegistry {
            tags: vec![],
            retagged: RefCell::default(),
            broken: false,
        };
        assert_eq!(
            block_on(lookup(&missing, &service(), true)),
            Lookup::Build { note: None }
        );
        let broken = FakeRegistry {
            tags: vec![],
            retagged: RefCell::default(),
            broken: true,
        };
        assert!(matches!(
            block_on(lookup(&broken, &service(), true)),
            Lookup::Build { note: Some(ref n) } if n.contains("connection refused")
        ));
    }
}
