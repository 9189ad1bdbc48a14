//! Tag templates (`{version}-{timestamp}`, `sha-{sha7}`, `{environment}-latest`) and the Docker
//! tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
//!
//! Values that come from the event (branch names) are sanitised; literal parts of a template
//! that could never form a valid tag are refused when the config is read.

use sha2::{Digest, Sha256};

/// The longest tag a registry accepts.
pub const MAX_TAG_LENGTH: usize = crate::reference::MAX_TAG_LENGTH;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Value(Placeholder),
}

/// What a `{…}` in a template stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    Version,
    Timestamp,
    /// `{sha}` (40 characters) or `{sha:12}`.
    Sha(Option<usize>),
    Sha7,
    Branch,
    Pr,
    Environment,
    RunNumber,
    /// `{date:%Y%m%d}`.
    Date(String),
    Content,
}

impl Placeholder {
    /// Whether the value differs between builds of different commits or runs.
    fn is_unique(&self) -> bool {
        matches!(
            self,
            Placeholder::Version
                | Placeholder::Timestamp
                | Placeholder::Sha(_)
                | Placeholder::Sha7
                | Placeholder::RunNumber
                | Placeholder::Content
        )
    }
}

/// A parsed tag template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTemplate {
    pub text: String,
    pieces: Vec<Piece>,
}

/// The values a template is rendered with; `None` where the run has no such value.
#[derive(Debug, Clone, Default)]
pub struct TagValues {
    pub version: Option<String>,
    pub timestamp: i64,
    pub sha: Option<String>,
    pub branch: Option<String>,
    pub pr: Option<u64>,
    pub environment: Option<String>,
    pub run_number: Option<String>,
    pub content: Option<String>,
}

/// Why a rendered template yields no tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// A value the template needs does not exist in this run (`{pr}` on a push).
    Missing(&'static str),
}

const KNOWN: &str = "{version}, {timestamp}, {sha}, {sha:N}, {sha7}, {branch}, {pr}, {environment}, {run_number}, {date:FORMAT}, {content}";

impl TagTemplate {
    /// Parses a template; literal text must be tag characters (`[A-Za-z0-9_.-]`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '{' {
                let mut inner = String::new();
                let mut closed = false;
                for n in chars.by_ref() {
                    if n == '}' {
                        closed = true;
                        break;
                    }
                    inner.push(n);
                }
                if !closed {
                    return Err(format!("tag template `{text}` has an unclosed `{{`"));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Value(parse_placeholder(&inner, text)?));
            } else if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                literal.push(c);
            } else {
                return Err(format!(
                    "tag template `{text}` contains {c:?}, which a tag can never hold (tags use letters, digits, `_`, `.` and `-`)"
                ));
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        if pieces.is_empty() {
            return Err("a tag template cannot be empty".into());
        }
        if let Some(Piece::Literal(first)) = pieces.first()
            && (first.starts_with('.') || first.starts_with('-'))
        {
            return Err(format!(
                "tag template `{text}` starts with `{}`; a tag cannot",
                &first[..1]
            ));
        }
        let literal_length: usize = pieces
            .iter()
            .map(|p| {
                if let Piece::Literal(l) = p {
                    l.len()
                } else {
                    0
                }
            })
            .sum();
        if literal_length > MAX_TAG_LENGTH {
            return Err(format!(
                "tag template `{text}` is longer than {MAX_TAG_LENGTH} characters"
            ));
        }
        Ok(TagTemplate {
            text: text.to_string(),
            pieces,
        })
    }

    /// `latest`-like: the same tag is moved to every new build.
    pub fn is_latest(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Literal(l) if l.to_ascii_lowercase().contains("latest")))
    }

    /// Whether two different builds can ever get the same tag from this template.
    pub fn is_mutable(&self) -> bool {
        self.is_latest()
            || !self
                .pieces
                .iter()
                .any(|p| matches!(p, Piece::Value(v) if v.is_unique()))
    }

    pub fn uses(&self, placeholder: &Placeholder) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Value(v) if v == placeholder))
    }

    pub fn uses_version(&self) -> bool {
        self.uses(&Placeholder::Version)
    }

    pub fn uses_content(&self) -> bool {
        self.uses(&Placeholder::Content)
    }

    /// Renders the tag, or says which value this run lacks.
    ///
    /// A value with no letter or digit left after sanitising (a branch `🚀`, an environment
    /// `ü`) is replaced by a stand-in derived from it ([`stand_in`]), so `{branch}-{version}`
    /// never collapses into the `{version}` tag, nor `{environment}-latest` into `latest`.
    pub fn render(&self, values: &TagValues) -> Result<String, Skip> {
        let mut tag = String::new();
        // The raw values, for the hash of a tag that must be cut: branches that sanitise alike
        // (`a/b…`, `a-b…`) still get different tags.
        let mut raw = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(literal) => {
                    tag.push_str(literal);
                    raw.push_str(literal);
                }
                Piece::Value(placeholder) => {
                    let value = render_value(placeholder, values)?;
                    tag.push_str(&tag_part(placeholder, &value));
                    raw.push('\0');
                    raw.push_str(&value);
                    raw.push('\0');
                }
            }
        }
        Ok(finalize(&tag, &raw))
    }
}

impl Placeholder {
    /// The name as written in a template, without braces or argument.
    fn name(&self) -> &'static str {
        match self {
            Placeholder::Version => "version",
            Placeholder::Timestamp => "timestamp",
            Placeholder::Sha(_) => "sha",
            Placeholder::Sha7 => "sha7",
            Placeholder::Branch => "branch",
            Placeholder::Pr => "pr",
            Placeholder::Environment => "environment",
            Placeholder::RunNumber => "run_number",
            Placeholder::Date(_) => "date",
            Placeholder::Content => "content",
        }
    }
}

/// A value as it appears in a tag: sanitised, or its stand-in when nothing of it would be left.
fn tag_part(placeholder: &Placeholder, value: &str) -> String {
    let sanitized = sanitize(value);
    if sanitized.chars().any(|c| c.is_ascii_alphanumeric()) {
        sanitized
    } else {
        stand_in(placeholder, value)
    }
}

/// `branch-1a2b3c4d`: the placeholder's name and a hash of the raw value. Stable (the same
/// branch always gives the same tag), distinct for distinct values, never empty.
pub fn stand_in(placeholder: &Placeholder, value: &str) -> String {
    format!("{}-{}", placeholder.name(), short_hash(value))
}

fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_placeholder(inner: &str, text: &str) -> Result<Placeholder, String> {
    let (name, argument) = match inner.split_once(':') {
        Some((name, argument)) => (name, Some(argument)),
        None => (inner, None),
    };
    Ok(match (name, argument) {
        ("version", None) => Placeholder::Version,
        ("timestamp", None) => Placeholder::Timestamp,
        ("sha", None) => Placeholder::Sha(None),
        ("sha", Some(length)) => {
            let length: usize = length
                .parse()
                .ok()
                .filter(|n| (4..=40).contains(n))
                .ok_or_else(|| {
                    format!(
                        "`{{sha:{length}}}` in `{text}`: the length must be a number from 4 to 40"
                    )
                })?;
            Placeholder::Sha(Some(length))
        }
        ("sha7", None) => Placeholder::Sha7,
        ("branch", None) => Placeholder::Branch,
        ("pr", None) => Placeholder::Pr,
        ("environment", None) => Placeholder::Environment,
        ("run_number", None) => Placeholder::RunNumber,
        ("date", Some(pattern)) => {
            super::time::format(0, pattern)
                .map_err(|e| format!("`{{date:{pattern}}}` in `{text}`: {e}"))?;
            let has_field = pattern.split("%%").any(|part| part.contains('%'));
            if !has_field {
                return Err(format!(
                    "`{{date:{pattern}}}` in `{text}` has no date field; write one like `{{date:%Y%m%d}}`"
                ));
            }
            Placeholder::Date(pattern.to_string())
        }
        ("content", None) => Placeholder::Content,
        _ => {
            return Err(format!(
                "unknown placeholder `{{{inner}}}` in tag template `{text}`; known: {KNOWN}"
            ));
        }
    })
}

fn render_value(value: &Placeholder, values: &TagValues) -> Result<String, Skip> {
    let need = |v: &Option<String>, name: &'static str| v.clone().ok_or(Skip::Missing(name));
    Ok(match value {
        Placeholder::Version => need(&values.version, "{version}")?,
        Placeholder::Timestamp => values.timestamp.to_string(),
        Placeholder::Sha(length) => {
            let sha = need(&values.sha, "{sha}")?;
            sha.chars().take(length.unwrap_or(40)).collect()
        }
        Placeholder::Sha7 => need(&values.sha, "{sha7}")?.chars().take(7).collect(),
        Placeholder::Branch => need(&values.branch, "{branch}")?,
        Placeholder::Pr => values
            .pr
            .map(|n| n.to_string())
            .ok_or(Skip::Missing("{pr}"))?,
        Placeholder::Environment => need(&values.environment, "{environment}")?,
        Placeholder::RunNumber => need(&values.run_number, "{run_number}")?,
        // The pattern was checked when the template was parsed; formatting depends on it only.
        Placeholder::Date(pattern) => {
            super::time::format(values.timestamp, pattern).unwrap_or_else(|_| pattern.clone())
        }
        Placeholder::Content => need(&values.content, "{content}")?,
    })
}

/// Replaces every run of characters a tag cannot hold (`/`, `#`, spaces, non-ASCII) by `-`.
pub fn sanitize(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

/// Makes a rendered tag valid: no leading `.`/`-`, at most 128 characters. A cut tag ends with
/// a hash of `raw` (the template's literal text and *raw* values), so two long branch names
/// never collide, even when they sanitise to the same text.
fn finalize(tag: &str, raw: &str) -> String {
    let trimmed = tag.trim_start_matches(['.', '-']);
    let tag = if trimmed.is_empty() { "_" } else { trimmed };
    if tag.len() <= MAX_TAG_LENGTH {
        return tag.to_string();
    }
    let hash = short_hash(raw);
    let keep = MAX_TAG_LENGTH - hash.len() - 1;
    // The tag is ASCII here (sanitised), so any byte index is a character boundary.
    format!("{}-{hash}", &tag[..keep])
}

/// The Docker tag grammar (one definition for all of shipgate).
pub use crate::reference::is_valid_tag;

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> TagValues {
        TagValues {
            version: Some("1.1.0".into()),
            timestamp: 1_766_836_944,
            sha: Some("983315b4f53e5c5d4c8a4e9b0f0e3d3e1c2b1a09".into()),
            branch: Some("my/feature#1245".into()),
            pr: None,
            environment: Some("prod".into()),
            run_number: Some("42".into()),
            content: Some("0123456789abcdef".into()),
        }
    }

    fn render(text: &str) -> Result<String, Skip> {
        TagTemplate::parse(text).unwrap().render(&values())
    }

    #[test]
    fn every_placeholder() {
        assert_eq!(render("{version}-{timestamp}").unwrap(), "1.1.0-1766836944");
        assert_eq!(render("sha-{sha7}").unwrap(), "sha-983315b");
        assert_eq!(
            render("{sha}").unwrap(),
            "983315b4f53e5c5d4c8a4e9b0f0e3d3e1c2b1a09"
        );
        assert_eq!(render("{sha:12}").unwrap(), "983315b4f53e");
        assert_eq!(render("{environment}-v{version}").unwrap(), "prod-v1.1.0");
        assert_eq!(render("{environment}-latest").unwrap(), "prod-latest");
        assert_eq!(render("build-{run_number}").unwrap(), "build-42");
        assert_eq!(render("nightly-{date:%Y%m%d}").unwrap(), "nightly-20251227");
        assert_eq!(render("c-{content}").unwrap(), "c-0123456789abcdef");
        assert_eq!(render("pr-{pr}"), Err(Skip::Missing("{pr}")));
    }

    #[test]
    fn branch_values_are_sanitised() {
        assert_eq!(render("{branch}").unwrap(), "my-feature-1245");
        let mut v = values();
        v.branch = Some("feature/ÜberFix".into());
        assert_eq!(
            TagTemplate::parse("{branch}").unwrap().render(&v).unwrap(),
            "feature-berFix"
        );
        v.branch = Some(".hidden/-x".into());
        assert_eq!(
            TagTemplate::parse("{branch}").unwrap().render(&v).unwrap(),
            "hidden--x"
        );
        v.version = Some("1.2.3+build.5".into());
        assert_eq!(
            TagTemplate::parse("{version}").unwrap().render(&v).unwrap(),
            "1.2.3-build.5"
        );
    }

    #[test]
    fn long_branches_are_cut_without_collisions() {
        let mut v = values();
        v.branch = Some(format!("{}-a", "x".repeat(300)));
        let a = TagTemplate::parse("{branch}").unwrap().render(&v).unwrap();
        v.branch = Some(format!("{}-b", "x".repeat(300)));
        let b = TagTemplate::parse("{branch}").unwrap().render(&v).unwrap();
        assert_eq!(a.len(), 128);
        assert_ne!(a, b);
        assert!(is_valid_tag(&a) && is_valid_tag(&b));
    }

    fn render_with(text: &str, change: impl Fn(&mut TagValues)) -> String {
        let mut v = values();
        change(&mut v);
        TagTemplate::parse(text).unwrap().render(&v).unwrap()
    }

    #[test]
    fn tag_part_that_sanitises_to_nothing_never_collapses_into_another_tag() {
        let version = render_with("{version}", |_| {});
        let emoji = render_with("{branch}-{version}", |v| v.branch = Some("🚀".into()));
        assert_ne!(emoji, version);
        assert!(
            emoji.starts_with("branch-") && emoji.ends_with("-1.1.0"),
            "{emoji}"
        );
        let latest = render_with("{environment}-latest", |v| v.environment = Some("ü".into()));
        assert_ne!(latest, "latest");
        assert!(latest.starts_with("environment-"), "{latest}");
        // Stable, and distinct for distinct values.
        assert_eq!(
            latest,
            render_with("{environment}-latest", |v| v.environment = Some("ü".into()))
        );
        assert_ne!(
            latest,
            render_with("{environment}-latest", |v| v.environment = Some("é".into()))
        );
        // A version that is not one.
        let tag = render_with("v{version}", |v| v.version = Some("+++".into()));
        assert!(tag.starts_with("vversion-"), "{tag}");
        for symbols in ["", "-", ".", "_", "--..", "///"] {
            let tag = render_with("{branch}", |v| v.branch = Some(symbols.into()));
            assert!(
                tag.starts_with("branch-") && is_valid_tag(&tag),
                "{symbols:?}: {tag}"
            );
        }
    }

    #[test]
    fn tag_hash_of_a_long_branch_comes_from_the_raw_name() {
        let long = "x".repeat(300);
        let a = render_with("{branch}", |v| v.branch = Some(format!("{long}/a")));
        let b = render_with("{branch}", |v| v.branch = Some(format!("{long}-a")));
        assert_ne!(a, b, "branches that sanitise alike still differ");
        assert!(is_valid_tag(&a) && is_valid_tag(&b));
        assert_eq!(a.len(), MAX_TAG_LENGTH);
    }

    #[test]
    fn tag_date_with_an_invalid_format_is_an_error_not_underscore() {
        for bad in [
            "{date:}",
            "{date:%%}",
            "{date:abc}",
            "{date:%Q}",
            "x-{date:%%Y}",
        ] {
            let error = TagTemplate::parse(bad).unwrap_err();
            assert!(error.contains("date"), "{bad}: {error}");
        }
        assert_eq!(render("{date:%Y.%m}").unwrap(), "2025.12");
    }

    /// What a value contributes to a tag, as far as it can tell values apart.
    fn identity(value: &str) -> String {
        let sanitized = sanitize(value);
        if sanitized.chars().any(|c| c.is_ascii_alphanumeric()) {
            sanitized.trim_start_matches(['.', '-']).to_string()
        } else {
            format!("stand-in for {value:?}")
        }
    }

    proptest::proptest! {
        #[test]
        fn tag_distinct_inputs_give_distinct_tags(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            for template in ["{branch}", "{branch}-{version}", "{environment}-latest", "pre-{branch}"] {
                let field = |v: &mut TagValues, value: &str| {
                    v.branch = Some(value.into());
                    v.environment = Some(value.into());
                };
                let ta = render_with(template, |v| field(v, &a));
                let tb = render_with(template, |v| field(v, &b));
                proptest::prop_assert!(is_valid_tag(&ta), "{}", ta);
                if identity(&a) != identity(&b) {
                    proptest::prop_assert_ne!(&ta, &tb, "{} with {:?} and {:?}", template, a, b);
                }
                // Never the tag of another template.
                proptest::prop_assert_ne!(&ta, "latest");
                proptest::prop_assert_ne!(&ta, &render_with("{version}", |_| {}));
            }
        }
    }

    #[test]
    fn impossible_templates_are_refused_with_the_reason() {
        assert!(TagTemplate::parse("v1/x").unwrap_err().contains("'/'"));
        assert!(
            TagTemplate::parse("-x")
                .unwrap_err()
                .contains("starts with `-`")
        );
        assert!(
            TagTemplate::parse("{nope}")
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(TagTemplate::parse("{sha:2}").is_err());
        assert!(TagTemplate::parse("{date:%Q}").is_err());
        assert!(TagTemplate::parse(&"a".repeat(129)).is_err());
        assert!(TagTemplate::parse("{version").is_err());
    }

    #[test]
    fn mutability() {
        assert!(TagTemplate::parse("latest").unwrap().is_mutable());
        assert!(
            TagTemplate::parse("{environment}-latest")
                .unwrap()
                .is_mutable()
        );
        assert!(TagTemplate::parse("{branch}").unwrap().is_mutable());
        assert!(!TagTemplate::parse("sha-{sha7}").unwrap().is_mutable());
        assert!(!TagTemplate::parse("{version}").unwrap().is_mutable());
    }

    #[test]
    fn tag_grammar() {
        assert!(is_valid_tag("v1.2.3_x-y"));
        assert!(is_valid_tag("_x"));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag(&"a".repeat(129)));
    }
}
