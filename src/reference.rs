//! Image references as Docker reads them — `[host[:port]/]path[:tag][@algorithm:hex]` — and the
//! tag grammar. The one parser every part of shipgate uses (the plan, a plan given back with
//! `--plan`, the registry client, deploy's image checks), so that a name accepted in one place is
//! never refused in another.
//!
//! The grammar is the one of `distribution/reference` (what `docker`, containerd and registries
//! implement): path components of lower-case letters and digits joined by `.`, `_`, `__` or runs of
//! `-`; a host when the first component has a `.` or a `:` or is `localhost`; tags
//! `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; a name of at most 255 characters. Docker Hub's
//! `library/` and `docker.io` conventions belong to the registry client, not here.

use std::fmt;

/// The longest tag Docker accepts.
pub const MAX_TAG_LENGTH: usize = 128;
/// The longest name (host and path) Docker accepts.
pub const MAX_NAME_LENGTH: usize = 255;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host, with its port, when the reference names one.
    pub host: Option<String>,
    /// The repository path inside the registry (`acme/auth`).
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:…` when the reference is pinned.
    pub digest: Option<String>,
}

/// Why a text is not an image reference; `Display` never repeats more than a prefix of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    pub reason: String,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ReferenceError {}

fn error(reason: impl Into<String>) -> ReferenceError {
    ReferenceError {
        reason: reason.into(),
    }
}

impl Reference {
    /// Parses a reference the way Docker does.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if text.is_empty() {
            return Err(error("the reference is empty"));
        }
        let (named, digest) = match text.split_once('@') {
            Some((named, digest)) => {
                if !is_valid_digest(digest) {
                    return Err(error(format!(
                        "`@{}` is not a digest (`sha256:` and at least 32 hex digits)",
                        shown(digest)
                    )));
                }
                (named, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (host, rest) = split_host(named);
        let (path, tag) = match rest.rsplit_once(':') {
            Some((path, tag)) => {
                if !is_valid_tag(tag) {
                    return Err(error(format!(
                        "`{}` is not a valid tag ({TAG_RULE})",
                        shown(tag)
                    )));
                }
                (path, Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if let Some(host) = host
            && !is_valid_host(host)
        {
            return Err(error(format!(
                "`{}` is not a valid registry host",
                shown(host)
            )));
        }
        for component in path.split('/') {
            check_path_component(component)?;
        }
        let name_length = host.map_or(0, |h| h.len() + 1) + path.len();
        if name_length > MAX_NAME_LENGTH {
            return Err(error(format!(
                "the name is {name_length} characters long; Docker allows at most {MAX_NAME_LENGTH}"
            )));
        }
        Ok(Reference {
            host: host.map(str::to_string),
            path: path.to_string(),
            tag,
            digest,
        })
    }

    /// `host/path`, without tag or digest.
    pub fn name(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// What a registry is asked for: the digest when pinned, else the tag, else `latest`.
    pub fn tag_or_digest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

const TAG_RULE: &str =
    "letters, digits, `_`, `.` and `-`, not starting with `.` or `-`, at most 128 characters";

/// `host/rest` when the first component is a host (has a `.` or a `:`, or is `localhost`).
fn split_host(named: &str) -> (Option<&str>, &str) {
    match named.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, named),
    }
}

/// Whether `tag` is a tag Docker accepts: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= MAX_TAG_LENGTH
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Whether `digest` is `algorithm:hex` as the OCI spec allows (`sha256:0123…`).
pub fn is_valid_digest(digest: &str) -> bool {
    digest.split_once(':').is_some_and(|(algorithm, hex)| {
        algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }) && hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Whether `host` is `name(.name)*(:port)?` or `[ipv6](:port)?`.
pub fn is_valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let label = |label: &str| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    name.split('.').all(label)
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// One path component: `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
pub fn check_path_component(component: &str) -> Result<(), ReferenceError> {
    if component.is_empty() {
        return Err(error(
            "the repository path has an empty component (`//` or a trailing `/`)",
        ));
    }
    if let Some(bad) = component
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(error(format!(
            "`{}` has `{bad}`: repository paths are lower-case letters, digits, and `.`, `_`, `__` or `-` between them",
            shown(component)
        )));
    }
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let starts_and_ends = component.starts_with(alphanumeric) && component.ends_with(alphanumeric);
    if !starts_and_ends
        || !component
            .split(alphanumeric)
            .all(|run| run.is_empty() || is_separator(run))
    {
        return Err(error(format!(
            "`{}` must start and end with a letter or digit, with `.`, `_`, `__` or `-` between",
            shown(component)
        )));
    }
    Ok(())
}

fn is_separator(text: &str) -> bool {
    matches!(text, "." | "_" | "__") || text.bytes().all(|b| b == b'-')
}

/// A prefix of untrusted text for a message: at most 64 characters, then how long it was.
pub fn shown(text: &str) -> String {
    shown_up_to(text, 64)
}

/// A prefix of untrusted text of at most `keep` characters, then how long it was.
pub fn shown_up_to(text: &str, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    #[test]
    fn names_tags_and_digests_split_like_docker() {
        let full = parse("localhost:5000/shop/auth:1.2@sha256:0123456789abcdef0123456789abcdef");
        assert_eq!(full.host.as_deref(), Some("localhost:5000"));
        assert_eq!(full.path, "shop/auth");
        assert_eq!(full.tag.as_deref(), Some("1.2"));
        assert_eq!(
            full.tag_or_digest(),
            "sha256:0123456789abcdef0123456789abcdef"
        );
        assert_eq!(full.name(), "localhost:5000/shop/auth");
        let bare = parse("nginx");
        assert_eq!(
            (bare.host.as_deref(), bare.tag_or_digest()),
            (None, "latest")
        );
        assert_eq!(parse("acme/auth:v1").host, None);
        assert_eq!(parse("localhost/auth").host.as_deref(), Some("localhost"));
        assert_eq!(parse("[::1]:5000/auth").host.as_deref(), Some("[::1]:5000"));
        assert_eq!(parse("127.0.0.1:5000/a/b_c:x").path, "a/b_c");
        assert_eq!(parse("ghcr.io/a/b__c.d-e---f").path, "a/b__c.d-e---f");
    }

    #[test]
    fn what_docker_refuses_is_refused_with_the_reason() {
        let reason = |text: &str| Reference::parse(text).unwrap_err().to_string();
        assert!(reason("").contains("empty"));
        assert!(reason("Acme/auth").contains("has `A`"));
        assert!(reason("ghcr.io/a//b").contains("empty component"));
        assert!(reason("ghcr.io/a/").contains("empty component"));
        assert!(reason("ghcr.io/-a").contains("start and end"));
        assert!(reason("ghcr.io/a-").contains("start and end"));
        assert!(reason("ghcr.io/a..b").contains("start and end"));
        assert!(reason("ghcr.io/a___b").contains("start and end"));
        assert!(reason("ghcr.io/a:.x").contains("not a valid tag"));
        assert!(reason("ghcr.io/a@sha256:xyz").contains("not a digest"));
        assert!(reason("bad_host.io:5000x/a").contains("registry host"));
        assert!(reason(&format!("ghcr.io/{}", "a".repeat(300))).contains("at most 255"));
        let long = reason(&format!("ghcr.io/a:{}", "x".repeat(70_000)));
        assert!(
            long.len() < 300,
            "messages never repeat huge inputs: {long}"
        );
    }

    #[test]
    fn tag_grammar() {
        assert!(is_valid_tag("1.1.0-1766836944"));
        assert!(is_valid_tag("v1.2.3_x-y"));
        assert!(is_valid_tag("_x"));
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag(".hidden"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a/b"));
        assert!(!is_valid_tag("ä"));
        assert!(!is_valid_tag(""));
    }

    #[test]
    fn digests_and_hosts() {
        assert!(is_valid_digest(&format!("sha256:{}", "0".repeat(64))));
        assert!(is_valid_digest(&format!("sha512+b64.x:{}", "a".repeat(32))));
        assert!(!is_valid_digest("sha256:abc"));
        assert!(!is_valid_digest(&format!("SHA256:{}", "0".repeat(64))));
        assert!(!is_valid_digest(&format!(":{}", "0".repeat(64))));
        assert!(is_valid_host("registry:5000"));
        assert!(is_valid_host("my-registry.example.com"));
        assert!(!is_valid_host("-bad.io"));
        assert!(!is_valid_host("a..b"));
        assert!(!is_valid_host("host:"));
        assert!(!is_valid_host("[::1"));
    }
}
