//! What the simulated kubelet pulls: the digest an image reference resolves to, and the images
//! each node has cached. Like a real kubelet (and containerd), a container's `imageID` is
//! `repo@sha256:<digest>` of what it runs: the pinned digest for `repo@sha256:…`; otherwise,
//! with `imagePullPolicy: IfNotPresent` and the tag cached on the node, the cached image (stale
//! when the tag moved since: the classic mutable-tag trap); otherwise what the registry serves
//! for the tag now, which the node then caches.
//!
//! The "registry" is a table set by tests ([`crate::KubeApi::push_image`]); a tag it does not
//! list resolves to a fixed digest derived from the reference.

use std::collections::HashMap;

/// Tags as a registry serves them, and each node's image cache.
#[derive(Debug, Default)]
pub(crate) struct Images {
    /// `repo:tag` → `sha256:…` the registry serves now.
    pub tags: HashMap<String, String>,
    /// `(node, repo:tag)` → `sha256:…` of the image the node has under that tag.
    pub cached: HashMap<(String, String), String>,
}

/// `repo` of `repo:tag@digest`, `repo:tag` or `repo`.
pub(crate) fn repository(image: &str) -> &str {
    let named = image.split('@').next().unwrap_or(image);
    let last_slash = named.rfind('/').map_or(0, |i| i + 1);
    match named[last_slash..].rfind(':') {
        Some(c) => &named[..last_slash + c],
        None => named,
    }
}

/// `repo:tag` (`:latest` added when no tag), without any digest.
fn tagged(image: &str) -> String {
    let named = image.split('@').next().unwrap_or(image);
    if repository(named).len() == named.len() {
        format!("{named}:latest")
    } else {
        named.to_string()
    }
}

impl Images {
    /// The `imageID` a container of `image` gets on `node`; records what the node pulled.
    pub(crate) fn resolve(&mut self, node: &str, image: &str, pull_always: bool) -> String {
        let repo = repository(image).to_string();
        if let Some((_, digest)) = image.split_once('@')
            && digest.starts_with("sha256:")
        {
            return format!("{repo}@{digest}");
        }
        let reference = tagged(image);
        let key = (node.to_string(), reference.clone());
        if !pull_always && let Some(cached) = self.cached.get(&key) {
            return format!("{repo}@{cached}");
        }
        let digest = self
            .tags
            .get(&reference)
            .cloned()
            .unwrap_or_else(|| format!("sha256:{}", fixed_digest(&reference)));
        self.cached.insert(key, digest.clone());
        format!("{repo}@{digest}")
    }
}

/// 64 hex digits derived from the reference (stable across runs).
pub(crate) fn fixed_digest(reference: &str) -> String {
    let mut out = String::new();
    let mut seed = crate::util::fnv32a(reference.as_bytes());
    while out.len() < 64 {
        seed = crate::util::fnv32a(&seed.to_le_bytes());
        out.push_str(&format!("{seed:08x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_cached_and_pulled_images() {
        let mut images = Images::default();
        let pinned = format!("r/auth:1@sha256:{}", "a".repeat(64));
        assert_eq!(
            images.resolve("n1", &pinned, false),
            format!("r/auth@sha256:{}", "a".repeat(64))
        );
        let old = format!("sha256:{}", "b".repeat(64));
        let new = format!("sha256:{}", "c".repeat(64));
        images
            .cached
            .insert(("n1".into(), "r/auth:latest".into()), old.clone());
        images.tags.insert("r/auth:latest".into(), new.clone());
        // IfNotPresent on the caching node: the stale image.
        assert_eq!(
            images.resolve("n1", "r/auth:latest", false),
            format!("r/auth@{old}")
        );
        // Always, or another node: what the registry serves, then cached there.
        assert_eq!(
            images.resolve("n1", "r/auth", true),
            format!("r/auth@{new}")
        );
        assert_eq!(
            images.resolve("n2", "r/auth:latest", false),
            format!("r/auth@{new}")
        );
        assert_eq!(
            images.cached[&("n2".to_string(), "r/auth:latest".to_string())],
            new
        );
        assert_eq!(repository("localhost:5000/auth:1.0"), "localhost:5000/auth");
        assert_eq!(repository("localhost:5000/auth"), "localhost:5000/auth");
    }
}
