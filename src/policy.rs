//! Branch-name policy for pull requests.
//!
//! Patterns are written with placeholders (`users/{actor}/{slug}`, `release/{semver}`), `*`
//! inside one segment, or a raw anchored regex (`re:^...$`). `{actor}` binds to the pull
//! request's author, so `users/alice/x` opened by bob is refused. A violation explains which
//! pattern came closest, what differs, and how to rename the branch.

use crate::detect::glob::{self, TrailingRecursive};
use regex::Regex;

/// The placeholders a pattern may use, with the regex each stands for.
const PLACEHOLDERS: &[(&str, &str, &str)] = &[
    ("actor", "[^/]+", "the pull request author's login"),
    (
        "user",
        "[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}",
        "a login-like name (letters, digits, single hyphens)",
    ),
    (
        "slug",
        "[a-z0-9]+(?:-[a-z0-9]+)*",
        "lowercase letters and digits separated by single hyphens",
    ),
    (
        "semver",
        r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
        "a semantic version like 1.2.3",
    ),
    (
        "ticket",
        "[A-Z][A-Z0-9]+-[0-9]+",
        "a ticket id like ABC-123",
    ),
];

/// GitHub refuses longer ref names; the config may set a stricter limit.
pub const DEFAULT_MAX_LENGTH: usize = 255;

/// One piece of a pattern segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(&'static str),
    Star,
}

/// A compiled allowed-branch pattern.
#[derive(Debug, Clone)]
pub struct BranchPattern {
    pub text: String,
    regex: Regex,
    /// `None` for raw `re:` patterns, which cannot be explained segment by segment.
    segments: Option<Vec<Vec<Part>>>,
}

/// A compiled exemption glob (`dependabot/**`), in the dialect of `paths`
/// ([`crate::detect::glob`]), except that `dependabot/**` does not exempt `dependabot` itself.
#[derive(Debug, Clone)]
pub struct Exemption {
    pub text: String,
    matcher: Regex,
}

/// The whole policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub patterns: Vec<BranchPattern>,
    pub exempt: Vec<Exemption>,
    pub max_length: usize,
}

/// Why a pattern or exemption does not compile (index into its list, message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub list: PatternList,
    pub index: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternList {
    Patterns,
    Exempt,
}

impl BranchPattern {
    pub fn compile(text: &str) -> Result<Self, String> {
        if let Some(raw) = text.strip_prefix("re:") {
            let regex = Regex::new(&format!("^(?:{raw})$"))
                .map_err(|e| format!("invalid regex in `{text}`: {e}"))?;
            return Ok(BranchPattern {
                text: text.to_string(),
                regex,
                segments: None,
            });
        }
        if text.is_empty() {
            return Err("a branch pattern cannot be empty".into());
        }
        let mut segments = Vec::new();
        let mut regex = String::from("^");
        for (index, segment) in text.split('/').enumerate() {
            if index > 0 {
                regex.push('/');
            }
            let parts = parse_segment(segment, text)?;
            for part in &parts {
                match part {
                    Part::Literal(literal) => regex.push_str(&regex::escape(literal)),
                    Part::Placeholder(name) => {
                        let (_, pattern, _) = placeholder(name).ok_or("unknown placeholder")?;
                        regex.push_str(&format!("(?<{name}_{index}>{pattern})"));
                    }
                    Part::Star => regex.push_str("[^/]*"),
                }
            }
            segments.push(parts);
        }
        regex.push('$');
        let regex = Regex::new(&regex).map_err(|e| format!("invalid pattern `{text}`: {e}"))?;
        Ok(BranchPattern {
            text: text.to_string(),
            regex,
            segments: Some(segments),
        })
    }

    /// Whether `branch` matches, with `{actor}` bound to `actor` (case-insensitive).
    fn matches(&self, branch: &str, actor: Option<&str>) -> bool {
        let Some(captures) = self.regex.captures(branch) else {
            return false;
        };
        for name in self.regex.capture_names().flatten() {
            if name.starts_with("actor_") {
                let value = captures.name(name).map(|m| m.as_str()).unwrap_or_default();
                match actor {
                    Some(actor) if actor.eq_ignore_ascii_case(value) => {}
                    _ => return false,
                }
            }
        }
        true
    }
}

fn placeholder(name: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    PLACEHOLDERS.iter().find(|(n, _, _)| *n == name)
}

fn parse_segment(segment: &str, pattern: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = segment.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for n in chars.by_ref() {
                    if n == '}' {
                        closed = true;
                        break;
                    }
                    name.push(n);
                }
                if !closed {
                    return Err(format!("unclosed `{{` in pattern `{pattern}`"));
                }
                let Some((known, _, _)) = placeholder(&name) else {
                    let names: Vec<String> = PLACEHOLDERS
                        .iter()
                        .map(|(n, _, _)| format!("{{{n}}}"))
                        .collect();
                    return Err(format!(
                        "unknown placeholder `{{{name}}}` in pattern `{pattern}`; known: {}",
                        names.join(", ")
                    ));
                };
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Placeholder(known));
            }
            '}' => return Err(format!("unmatched `}}` in pattern `{pattern}`")),
            '*' => {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                parts.push(Part::Star);
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(parts)
}

impl Policy {
    /// Compiles the policy, collecting every invalid pattern.
    pub fn compile(
        patterns: &[String],
        exempt: &[String],
        max_length: Option<usize>,
    ) -> Result<Self, Vec<PatternError>> {
        let mut errors = Vec::new();
        let mut compiled = Vec::new();
        for (index, text) in patterns.iter().enumerate() {
            match BranchPattern::compile(text) {
                Ok(pattern) => compiled.push(pattern),
                Err(message) => errors.push(PatternError {
                    list: PatternList::Patterns,
                    index,
                    message,
                }),
            }
        }
        let mut exemptions = Vec::new();
        for (index, text) in exempt.iter().enumerate() {
            match glob::compile(text, TrailingRecursive::OnlyBelow) {
                Ok(matcher) => exemptions.push(Exemption {
                    text: text.clone(),
                    matcher,
                }),
                Err(e) => errors.push(PatternError {
                    list: PatternList::Exempt,
                    index,
                    message: format!("invalid exemption glob `{}`: {e}", glob::shorten(text)),
                }),
            }
        }
        if errors.is_empty() {
            Ok(Policy {
                patterns: compiled,
                exempt: exemptions,
                max_length: max_length.unwrap_or(DEFAULT_MAX_LENGTH),
            })
        } else {
            Err(errors)
        }
    }

    /// Judges a branch name opened by `actor`.
    pub fn evaluate(&self, branch: &str, actor: Option<&str>) -> Verdict {
        if let Some(exemption) = self.exempt.iter().find(|e| e.matcher.is_match(branch)) {
            return Verdict::Exempt {
                glob: exemption.text.clone(),
            };
        }
        let mut problems = Vec::new();
        if let Err(reason) = check_ref_format(branch) {
            problems.push(format!(
                "`{branch}` is not a valid git branch name: {reason}"
            ));
        }
        if branch.len() > self.max_length {
            problems.push(format!(
                "the name is {} bytes long; the limit is {}",
                branch.len(),
                self.max_length
            ));
        }
        if problems.is_empty()
            && let Some(pattern) = self.patterns.iter().find(|p| p.matches(branch, actor))
        {
            return Verdict::Allowed {
                pattern: pattern.text.clone(),
            };
        }
        let closest = self.closest(branch, actor);
        if problems.is_empty() {
            problems.push(match &closest {
                Some(c) => format!(
                    "`{branch}` matches none of the allowed patterns; closest is `{}`",
                    c.pattern
                ),
                None => format!("`{branch}` matches none of the allowed patterns"),
            });
        }
        Verdict::Violation(Violation {
            branch: branch.to_string(),
            problems,
            closest,
        })
    }

    fn closest(&self, branch: &str, actor: Option<&str>) -> Option<Closest> {
        let mut best: Option<(f64, Closest)> = None;
        for pattern in &self.patterns {
            let valid = |s: &String| {
                s != branch && check_ref_format(s).is_ok() && pattern.matches(s, actor)
            };
            // Built from the pattern's parts; else (a `re:` pattern) the name itself repaired.
            let suggestion = suggest(pattern, branch, actor)
                .and_then(|s| fit(&s, self.max_length))
                .filter(valid)
                .or_else(|| fit(&repaired(branch), self.max_length).filter(valid));
            let compared = suggestion.as_deref().unwrap_or(&pattern.text);
            let score = strsim::normalized_levenshtein(branch, compared);
            let candidate = Closest {
                pattern: pattern.text.clone(),
                differences: differences(pattern, branch, actor),
                suggestion,
            };
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, candidate));
            }
        }
        best.map(|(_, c)| c)
    }
}

/// The outcome of checking one branch name.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allowed { pattern: String },
    Exempt { glob: String },
    Violation(Violation),
}

/// Everything needed to explain a refused branch name.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub branch: String,
    pub problems: Vec<String>,
    pub closest: Option<Closest>,
}

/// The allowed pattern nearest to the refused name.
#[derive(Debug, Clone, PartialEq)]
pub struct Closest {
    pub pattern: String,
    pub differences: Vec<String>,
    /// A name that would pass, when one can be derived from the refused one.
    pub suggestion: Option<String>,
}

impl Violation {
    /// `git branch -m` (and push) commands that rename the branch, shell-quoted.
    pub fn fix_commands(&self) -> Option<Vec<String>> {
        let new = self.closest.as_ref()?.suggestion.as_ref()?;
        Some(vec![
            format!(
                "git branch -m {} {}",
                crate::quote::shell(&self.branch),
                crate::quote::shell(new)
            ),
            format!("git push origin -u {}", crate::quote::shell(new)),
            format!(
                "git push origin --delete {}",
                crate::quote::shell(&self.branch)
            ),
        ])
    }
}

/// Turns free text into a `{slug}`.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

static SEMVER_ANYWHERE: std::sync::LazyLock<Option<Regex>> =
    std::sync::LazyLock::new(|| Regex::new(&format!("({})", PLACEHOLDERS[3].1)).ok());
static TICKET_ANYWHERE: std::sync::LazyLock<Option<Regex>> =
    std::sync::LazyLock::new(|| Regex::new("(?i)[a-z][a-z0-9]+-[0-9]+").ok());

/// Builds a name that fits `pattern` from the refused `branch`, if one can be derived.
fn suggest(pattern: &BranchPattern, branch: &str, actor: Option<&str>) -> Option<String> {
    let segments = pattern.segments.as_ref()?;
    let branch_segments: Vec<&str> = branch.split('/').collect();
    let describing = branch_segments.last().copied().unwrap_or(branch);
    let mut out = Vec::new();
    for (index, parts) in segments.iter().enumerate() {
        let mut segment = String::new();
        for part in parts {
            match part {
                Part::Literal(literal) => segment.push_str(literal),
                Part::Placeholder("actor") | Part::Placeholder("user") => {
                    segment.push_str(actor.or_else(|| branch_segments.get(index).copied())?)
                }
                Part::Placeholder("slug") => {
                    let slug = slugify(describing);
                    if slug.is_empty() {
                        return None;
                    }
                    segment.push_str(&slug);
                }
                Part::Placeholder("semver") => match SEMVER_ANYWHERE.as_ref()?.find(branch) {
                    Some(version) => segment.push_str(version.as_str()),
                    None => segment.push_str(&complete_version(branch)?),
                },
                Part::Placeholder("ticket") => {
                    let ticket = TICKET_ANYWHERE.as_ref()?.find(branch)?;
                    segment.push_str(&ticket.as_str().to_ascii_uppercase());
                }
                Part::Placeholder(_) | Part::Star => {
                    segment.push_str(&ref_safe(branch_segments.get(index)?));
                }
            }
        }
        out.push(segment);
    }
    Some(out.join("/"))
}

static PARTIAL_VERSION: std::sync::LazyLock<Option<Regex>> =
    std::sync::LazyLock::new(|| Regex::new(r"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?").ok());

/// `1.2` → `1.2.0`, `v3` → `3.0.0`, `01.2.3` → `1.2.3`: the version an incomplete one means.
fn complete_version(branch: &str) -> Option<String> {
    let captures = PARTIAL_VERSION.as_ref()?.captures(branch)?;
    let part = |i: usize| -> Option<u64> {
        match captures.get(i) {
            Some(m) => m.as_str().parse().ok(),
            None => Some(0),
        }
    };
    Some(format!("{}.{}.{}", part(1)?, part(2)?, part(3)?))
}

/// A segment with what git refuses in a ref replaced: characters (`~^:?*[\`, spaces, control
/// characters) become `-`, `..` becomes `.`, no leading `.`/`-`, no `.lock` or `.` at the end.
fn ref_safe(segment: &str) -> String {
    let mut out = String::new();
    for c in segment.chars() {
        let bad = c.is_ascii_control() || c.is_whitespace() || " ~^:?*[\\@{".contains(c);
        let c = if bad { '-' } else { c };
        if (c == '-' && out.ends_with('-')) || (c == '.' && out.ends_with('.')) {
            continue;
        }
        out.push(c);
    }
    let mut out = out.trim_start_matches(['.', '-']).to_string();
    while out.ends_with(".lock") || out.ends_with('.') || out.ends_with('-') {
        out = out
            .strip_suffix(".lock")
            .unwrap_or(&out)
            .trim_end_matches(['.', '-'])
            .to_string();
    }
    out
}

/// `branch` with every segment made ref-safe (empty segments dropped).
fn repaired(branch: &str) -> String {
    branch
        .split('/')
        .map(ref_safe)
        .filter(|segment| !segment.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// `name` cut to `max_length` bytes by shortening its last segment (the description), or
/// `None` when even that cannot make it fit.
fn fit(name: &str, max_length: usize) -> Option<String> {
    if name.len() <= max_length {
        return Some(name.to_string());
    }
    let (head, last) = match name.rfind('/') {
        Some(at) => (&name[..=at], &name[at + 1..]),
        None => ("", name),
    };
    let room = max_length.checked_sub(head.len())?;
    let mut cut = 0;
    for (index, c) in last.char_indices() {
        if index + c.len_utf8() > room {
            break;
        }
        cut = index + c.len_utf8();
    }
    let mut kept = &last[..cut];
    // Whole words: `a-very-long-description` cut to 12 is `a-very-long`, not `a-very-long-`.
    let mid_word = last[cut..].starts_with(|c: char| c.is_ascii_alphanumeric());
    if mid_word && let Some(at) = kept.rfind(['-', '_', '.']) {
        kept = &kept[..at];
    }
    let kept = kept.trim_end_matches(['-', '.', '_']);
    (!kept.is_empty()).then(|| format!("{head}{kept}"))
}

/// Segment-by-segment explanation of why `branch` does not fit `pattern`.
fn differences(pattern: &BranchPattern, branch: &str, actor: Option<&str>) -> Vec<String> {
    let Some(segments) = &pattern.segments else {
        return vec![format!(
            "`{branch}` does not match the regex `{}`",
            pattern.text
        )];
    };
    let branch_segments: Vec<&str> = branch.split('/').collect();
    let mut out = Vec::new();
    if branch_segments.len() != segments.len() {
        out.push(format!(
            "it has {} `/`-separated parts, the pattern has {}",
            branch_segments.len(),
            segments.len()
        ));
    }
    // With as many parts as the pattern, compare part by part; otherwise only the first parts
    // (the prefix) and the last parts (the description) line up meaningfully.
    let pairs: Vec<(&Vec<Part>, &&str)> = if branch_segments.len() == segments.len() {
        segments.iter().zip(&branch_segments).collect()
    } else {
        let mut pairs = Vec::new();
        if let (Some(first), Some(actual)) = (segments.first(), branch_segments.first()) {
            pairs.push((first, actual));
        }
        if segments.len() > 1
            && branch_segments.len() > 1
            && let (Some(last), Some(actual)) = (segments.last(), branch_segments.last())
        {
            pairs.push((last, actual));
        }
        pairs
    };
    for (parts, actual) in pairs {
        let expected: String = parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.clone(),
                Part::Placeholder(n) => format!("{{{n}}}"),
                Part::Star => "*".into(),
            })
            .collect();
        let Ok(single) = BranchPattern::compile(&expected) else {
            continue;
        };
        if single.matches(actual, actor) {
            continue;
        }
        let message = match parts.as_slice() {
            [Part::Literal(literal)] => format!("`{actual}` should be `{literal}`"),
            [Part::Placeholder("actor")] => match actor {
                Some(actor) => format!("`{actual}` should be the author's login `{actor}`"),
                None => format!("`{actual}` should be the author's login (unknown for this event)"),
            },
            [Part::Placeholder(name)] => {
                let description = placeholder(name).map(|p| p.2).unwrap_or_default();
                format!("`{actual}` is not a {{{name}}}: {description}")
            }
            _ => format!("`{actual}` does not match `{expected}`"),
        };
        out.push(message);
    }
    out
}

/// The rules of `git check-ref-format` for a branch name.
pub fn check_ref_format(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name == "@" {
        return Err("`@` alone is not allowed".into());
    }
    if name.starts_with('-') {
        return Err("it starts with `-`".into());
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err("it starts or ends with `/`".into());
    }
    if name.contains("//") {
        return Err("it contains `//`".into());
    }
    if name.ends_with('.') {
        return Err("it ends with `.`".into());
    }
    if name.contains("..") {
        return Err("it contains `..`".into());
    }
    if name.contains("@{") {
        return Err("it contains `@{`".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_ascii_control() || " ~^:?*[\\".contains(*c))
    {
        return Err(format!("it contains the character {c:?}"));
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return Err(format!("the part `{component}` starts with `.`"));
        }
        if component.ends_with(".lock") {
            return Err(format!("the part `{component}` ends with `.lock`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &[&str], exempt: &[&str]) -> Policy {
        Policy::compile(
            &patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &exempt.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            None,
        )
        .unwrap()
    }

    fn allowed(p: &Policy, branch: &str, actor: &str) -> bool {
        matches!(
            p.evaluate(branch, Some(actor)),
            Verdict::Allowed { .. } | Verdict::Exempt { .. }
        )
    }

    #[test]
    fn actor_binds_to_the_author_case_insensitively() {
        let p = policy(&["users/{actor}/{slug}"], &[]);
        assert!(allowed(&p, "users/octocat/add-login", "Octocat"));
        assert!(!allowed(&p, "users/alice/add-login", "octocat"));
        assert!(!allowed(&p, "users/octocat/add-login", "octo"));
    }

    #[test]
    fn each_placeholder() {
        let p = policy(&["feat/{user}/{slug}"], &[]);
        assert!(allowed(&p, "feat/some-one/x1-y2", "z"));
        assert!(!allowed(&p, "feat/-bad/x", "z"));
        assert!(!allowed(&p, "feat/a/Not_Slug", "z"));
        assert!(!allowed(&p, "feat/a/double--hyphen", "z"));
        let p = policy(&["release/{semver}"], &[]);
        assert!(allowed(&p, "release/1.2.3", "z"));
        assert!(allowed(&p, "release/1.2.3-rc.1+build.5", "z"));
        assert!(!allowed(&p, "release/1.2", "z"));
        assert!(!allowed(&p, "release/01.2.3", "z"));
        let p = policy(&["fix/{ticket}-{slug}"], &[]);
        assert!(allowed(&p, "fix/ABC-123-crash-on-start", "z"));
        assert!(!allowed(&p, "fix/abc-123-crash", "z"));
    }

    #[test]
    fn star_stays_in_one_segment_and_regex_is_anchored() {
        let p = policy(&["feature/*"], &[]);
        assert!(allowed(&p, "feature/anything_Goes", "z"));
        assert!(!allowed(&p, "feature/a/b", "z"));
        let p = policy(&["re:(fix|feat)/DEV-[0-9]{4}"], &[]);
        assert!(allowed(&p, "feat/DEV-1234", "z"));
        assert!(!allowed(&p, "x/feat/DEV-1234", "z"));
        assert!(!allowed(&p, "feat/DEV-12345", "z"));
    }

    #[test]
    fn exemptions_for_bots() {
        let p = policy(
            &["users/{actor}/{slug}"],
            &["main", "dependabot/**", "renovate/**"],
        );
        assert_eq!(
            p.evaluate(
                "dependabot/npm_and_yarn/lodash-4.17.21",
                Some("dependabot[bot]")
            ),
            Verdict::Exempt {
                glob: "dependabot/**".into()
            }
        );
        assert!(!allowed(&p, "dependabot", "x"));
    }

    #[test]
    fn invalid_ref_names_are_refused_even_if_a_pattern_matches() {
        let p = policy(&["*"], &[]);
        for bad in [
            "a..b", "x.lock", ".hidden", "a b", "a~1", "end.", "a@{b", "-x", "a\\b",
        ] {
            assert!(check_ref_format(bad).is_err(), "{bad}");
            assert!(!allowed(&p, bad, "z"), "{bad}");
        }
        assert!(check_ref_format("users/a/b-c").is_ok());
    }

    #[test]
    fn max_length() {
        let p = Policy::compile(&["*".into()], &[], Some(5)).unwrap();
        assert!(matches!(p.evaluate("abcdef", None), Verdict::Violation(_)));
        assert!(matches!(p.evaluate("abcde", None), Verdict::Allowed { .. }));
    }

    #[test]
    fn violations_explain_and_suggest_a_fix() {
        let p = policy(
            &["users/{actor}/{slug}", "release/{semver}", "hotfix/{slug}"],
            &[],
        );
        let Verdict::Violation(v) = p.evaluate("feature/Add_Login Page", Some("octocat")) else {
            panic!("should be refused")
        };
        let closest = v.closest.clone().unwrap();
        assert_eq!(closest.suggestion.as_deref(), Some("hotfix/add-login-page"));
        assert!(
            v.problems[0].contains("not a valid git branch name"),
            "{:?}",
            v.problems
        );
        let fix = v.fix_commands().unwrap();
        assert_eq!(
            fix[0],
            "git branch -m 'feature/Add_Login Page' hotfix/add-login-page"
        );

        let Verdict::Violation(v) = p.evaluate("users/alice/new-thing", Some("octocat")) else {
            panic!("should be refused")
        };
        let closest = v.closest.unwrap();
        assert_eq!(closest.pattern, "users/{actor}/{slug}");
        assert_eq!(
            closest.suggestion.as_deref(),
            Some("users/octocat/new-thing")
        );
        assert_eq!(
            closest.differences,
            vec!["`alice` should be the author's login `octocat`"]
        );
    }

    fn fix_for(p: &Policy, branch: &str, actor: &str) -> String {
        let Verdict::Violation(v) = p.evaluate(branch, Some(actor)) else {
            panic!("{branch} should be refused")
        };
        let fix = v
            .fix_commands()
            .unwrap_or_else(|| panic!("no fix for {branch}: {v:#?}"));
        let new = v.closest.unwrap().suggestion.unwrap();
        assert!(allowed(p, &new, actor), "{new} must pass");
        fix[0].clone()
    }

    #[test]
    fn branch_fix_for_a_name_that_only_fails_a_placeholder() {
        let p = policy(&["release/{semver}"], &[]);
        assert_eq!(
            fix_for(&p, "release/1.2", "z"),
            "git branch -m release/1.2 release/1.2.0"
        );
        assert_eq!(
            fix_for(&p, "release/v3", "z"),
            "git branch -m release/v3 release/3.0.0"
        );
        assert_eq!(
            fix_for(&p, "release/01.2.3", "z"),
            "git branch -m release/01.2.3 release/1.2.3"
        );
    }

    #[test]
    fn branch_fix_for_invalid_ref_syntax() {
        let p = policy(&["feature/*"], &[]);
        assert_eq!(
            fix_for(&p, "feature/a..b c~1", "z"),
            "git branch -m 'feature/a..b c~1' feature/a.b-c-1"
        );
        assert_eq!(
            fix_for(&p, "feature/.x.lock", "z"),
            "git branch -m feature/.x.lock feature/x"
        );
        let p = policy(&["re:(fix|feat)/[a-z.-]+"], &[]);
        assert_eq!(
            fix_for(&p, "feat/a b..c.lock", "z"),
            "git branch -m 'feat/a b..c.lock' feat/a-b.c"
        );
        let p = Policy::compile(&["re:v[0-9]+-.+".into()], &[], Some(8)).unwrap();
        assert_eq!(
            fix_for(&p, "v1-abc-defgh", "z"),
            "git branch -m v1-abc-defgh v1-abc"
        );
        let p = policy(&["users/{actor}/{slug}"], &[]);
        assert_eq!(
            fix_for(&p, "users/octocat/Fix: the [bug]", "octocat"),
            "git branch -m 'users/octocat/Fix: the [bug]' users/octocat/fix-the-bug"
        );
    }

    #[test]
    fn branch_fix_for_a_name_over_the_length_limit() {
        let p = Policy::compile(&["hotfix/{slug}".into()], &[], Some(20)).unwrap();
        let fix = fix_for(&p, "hotfix/a-very-long-description-here", "z");
        assert_eq!(
            fix,
            "git branch -m hotfix/a-very-long-description-here hotfix/a-very-long"
        );
        let p = Policy::compile(&["feature/*".into()], &[], Some(12)).unwrap();
        assert_eq!(
            fix_for(&p, "feature/abcdefgh", "z"),
            "git branch -m feature/abcdefgh feature/abcd"
        );
    }

    #[test]
    fn bad_patterns_are_reported_with_their_index() {
        let errors = Policy::compile(
            &["ok/{slug}".into(), "bad/{nope}".into(), "re:(".into()],
            &["[".into()],
            None,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].index, 1);
        assert!(errors[0].message.contains("unknown placeholder `{nope}`"));
        assert_eq!(errors[2].list, PatternList::Exempt);
    }
}
