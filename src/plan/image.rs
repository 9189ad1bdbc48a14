//! Image names: registry + repository, lower-cased and checked against the reference grammar.

use regex::Regex;
use std::sync::LazyLock;

static DOMAIN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$").ok()
});
static COMPONENT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").ok());

/// Joins the registry and the image, lower-cases the repository path and validates the whole.
pub fn image_name(registry: Option<&str>, image: &str) -> Result<String, String> {
    let image = image.trim();
    let full = match registry
        .map(|r| r.trim().trim_end_matches('/'))
        .filter(|r| !r.is_empty())
    {
        Some(registry) => format!("{registry}/{image}"),
        None => image.to_string(),
    };
    if full.contains('@') {
        return Err(format!("image `{full}` must not carry a digest"));
    }
    if full.contains(':')
        && !full
            .split('/')
            .next()
            .is_some_and(|first| first.contains(':') && full.contains('/'))
    {
        return Err(format!(
            "image `{full}` must not carry a tag; tags come from `tags`"
        ));
    }
    let mut parts: Vec<&str> = full.split('/').collect();
    // The first part is a registry host when it looks like one (a dot, a port, or localhost).
    let domain = if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        Some(parts.remove(0))
    } else {
        None
    };
    if let Some(domain) = domain
        && !DOMAIN.as_ref().is_some_and(|re| re.is_match(domain))
    {
        return Err(format!(
            "`{domain}` in image `{full}` is not a valid registry host"
        ));
    }
    let path: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    for component in &path {
        if !COMPONENT.as_ref().is_some_and(|re| re.is_match(component)) {
            return Err(format!(
                "`{component}` in image `{full}` is not a valid repository name part (lowercase letters, digits, and `.`, `_`, `__`, `-` between them)"
            ));
        }
    }
    let name = match domain {
        Some(domain) => format!("{}/{}", domain.to_ascii_lowercase(), path.join("/")),
        None => path.join("/"),
    };
    if name.len() > 255 {
        return Err(format!("image `{name}` is longer than 255 characters"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_and_image_are_joined_and_lower_cased() {
        assert_eq!(
            image_name(Some("ghcr.io/Acme"), "Auth-Service").unwrap(),
            "ghcr.io/acme/auth-service"
        );
        assert_eq!(
            image_name(Some("localhost:5000/"), "x").unwrap(),
            "localhost:5000/x"
        );
        assert_eq!(image_name(None, "user/app").unwrap(), "user/app");
        assert_eq!(
            image_name(Some("127.0.0.1:5000"), "a/b_c").unwrap(),
            "127.0.0.1:5000/a/b_c"
        );
    }

    #[test]
    fn invalid_names_say_why() {
        assert!(
            image_name(None, "app:1.0")
                .unwrap_err()
                .contains("must not carry a tag")
        );
        assert!(
            image_name(None, "app@sha256:00")
                .unwrap_err()
                .contains("digest")
        );
        assert!(
            image_name(Some("ghcr.io"), "bad name")
                .unwrap_err()
                .contains("not a valid repository name part")
        );
        assert!(image_name(Some("ghcr.io"), "a--").is_err());
        assert!(image_name(Some("ghcr.io"), "-a").is_err());
    }
}
