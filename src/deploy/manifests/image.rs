//! Image references as kustomize's `images:` reads them: the name is everything before the tag
//! or digest (a registry port is not a tag), so `localhost:5000/api:1.2` is `localhost:5000/api`.

/// An image reference split into name, tag and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Registry and repository: what `images[].name` matches.
    pub name: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(reference: &'a str) -> ImageRef<'a> {
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (reference, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => {
                let at = last_slash + colon;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        ImageRef { name, tag, digest }
    }

    /// Pinned: the digest decides what runs, whatever the tag says.
    pub fn pinned(&self) -> bool {
        self.digest.is_some_and(|d| d.starts_with("sha256:"))
    }
}

/// Whether `reference` names the repository `name` (kustomize: `name`, `name:tag`, `name@digest`).
/// Docker Hub's implicit prefixes are equal: `nginx`, `docker.io/nginx`, `docker.io/library/nginx`.
pub fn same_repository(reference: &str, name: &str) -> bool {
    normalize(ImageRef::parse(reference).name) == normalize(name)
}

fn normalize(name: &str) -> String {
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_digests() {
        let d = "sha256:aaaa";
        assert_eq!(
            ImageRef::parse("localhost:5000/shop/api:1.2"),
            ImageRef {
                name: "localhost:5000/shop/api",
                tag: Some("1.2"),
                digest: None
            }
        );
        assert_eq!(
            ImageRef::parse("localhost:5000/shop/api"),
            ImageRef {
                name: "localhost:5000/shop/api",
                tag: None,
                digest: None
            }
        );
        assert_eq!(
            ImageRef::parse(&format!("ghcr.io/a/api:1.2@{d}")),
            ImageRef {
                name: "ghcr.io/a/api",
                tag: Some("1.2"),
                digest: Some(d)
            }
        );
        assert!(ImageRef::parse(&format!("api@{d}")).pinned());
        assert!(!ImageRef::parse("api:latest").pinned());
    }

    #[test]
    fn repositories_match_like_kustomize_images() {
        assert!(same_repository("ghcr.io/a/api:latest", "ghcr.io/a/api"));
        assert!(same_repository("ghcr.io/a/api", "ghcr.io/a/api"));
        assert!(same_repository("ghcr.io/a/api@sha256:1", "ghcr.io/a/api"));
        assert!(!same_repository("ghcr.io/a/api-worker:1", "ghcr.io/a/api"));
        assert!(!same_repository("ghcr.io/b/api:1", "ghcr.io/a/api"));
        assert!(same_repository("nginx:1.27", "docker.io/library/nginx"));
        assert!(same_repository(
            "localhost:5000/api:2",
            "localhost:5000/api"
        ));
    }
}
