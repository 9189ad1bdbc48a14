//! Image names: registry + repository, lower-cased and checked against the reference grammar
//! ([`crate::reference`]).

use crate::reference::{Reference, shown};

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
    // Hosts are case-insensitive and the config may write `Acme/Auth-Service`.
    let parsed = Reference::parse(&full.to_ascii_lowercase())
        .map_err(|e| format!("image `{}`: {e}", shown(&full)))?;
    if parsed.digest.is_some() {
        return Err(format!("image `{}` must not carry a digest", shown(&full)));
    }
    if parsed.tag.is_some() {
        return Err(format!(
            "image `{}` must not carry a tag; tags come from `tags`",
            shown(&full)
        ));
    }
    Ok(parsed.name())
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
                .contains("has ` `")
        );
        assert!(image_name(Some("ghcr.io"), "a--").is_err());
        assert!(image_name(Some("ghcr.io"), "-a").is_err());
    }
}
