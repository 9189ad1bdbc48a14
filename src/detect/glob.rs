//! The glob dialect of `paths`, `global` and `branch-policy.exempt`, translated to one regex.
//!
//! Why not globset: it compiles globs to byte-oriented regexes, so `?` and `[…]` match one
//! *byte* of a non-ASCII name, and its fallback compiles (and panics) on globs past the regex
//! size limit. Here the translation is ours and small, the matching is the `regex` crate's in
//! Unicode mode, and every failure (too long, too deeply nested, unsupported syntax) is a
//! `GlobError` with the reason, never a panic.
//!
//! The dialect: `*` stays in one segment, `**` as a whole segment crosses segments (and
//! `dir/**` also matches `dir` itself for paths), `?` is one character, `[a-z]`/`[!a-z]`/`[^a-z]`
//! are one character of a class, `{a,b}` alternatives (nestable, empty allowed), `\` escapes.
//! What picomatch reads differently is refused, never taken as literal text: extglobs
//! (`!(x)`, `+(a|b)`, `@(…)`, `*(…)`, `?(…)`), regex groups `(a|b)`, POSIX classes
//! (`[[:alpha:]]`), ranges `{1..3}`, one-item braces `{a}`.

use regex::{Regex, RegexBuilder};

/// The longest glob accepted; real globs are far shorter, and the regex engine has limits.
pub const MAX_GLOB_LENGTH: usize = 1024;

/// Limits handed to the regex engine: a glob that needs more is refused, never a panic.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const NEST_LIMIT: u32 = 64;

/// What `**` at the end of a glob (`dir/**`) matches besides everything below `dir/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailingRecursive {
    /// `dir/**` also matches `dir` (a path: a submodule bump or a symlink is a change at
    /// exactly that path).
    MatchesDirectoryItself,
    /// `dependabot/**` matches `dependabot/x` but not `dependabot` (branch names).
    OnlyBelow,
}

/// Why a glob is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GlobError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, GlobError> {
    Err(GlobError(message.into()))
}

/// A glob as quoted in a message: a 5,000-character one is cut.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Compiles `glob` into an anchored, Unicode regex.
pub fn compile(glob: &str, trailing: TrailingRecursive) -> Result<Regex, GlobError> {
    let source = to_regex(glob, trailing)?;
    RegexBuilder::new(&source)
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|e| GlobError(regex_failure(&e)))
}

/// The regex engine's refusal in words (its own text names internal limits).
fn regex_failure(error: &regex::Error) -> String {
    match error {
        regex::Error::CompiledTooBig(_) => {
            "the glob is too complex to compile (too many alternatives or classes); split it into several globs".into()
        }
        other => {
            let text = other.to_string();
            if text.contains("nest") {
                "the glob nests `{…}` too deeply; flatten the alternatives".into()
            } else {
                format!(
                    "the glob cannot be compiled: {}",
                    text.lines().last().unwrap_or_default().trim()
                )
            }
        }
    }
}

/// Translates `glob` into regex syntax (`(?s)^…$`), refusing what the dialect does not have.
pub fn to_regex(glob: &str, trailing: TrailingRecursive) -> Result<String, GlobError> {
    let length = glob.chars().count();
    if length > MAX_GLOB_LENGTH {
        return refuse(format!(
            "the glob is {length} characters long; the limit is {MAX_GLOB_LENGTH}"
        ));
    }
    let chars: Vec<char> = glob.chars().collect();
    let braces = match_braces(&chars)?;
    let mut out = String::from("(?s)^");
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if matches!(c, '!' | '+' | '@' | '*' | '?') && next == Some('(') {
            return refuse(format!(
                "extglob `{c}(…)` is not supported; write the alternatives as `{{a,b}}`, or escape the parenthesis as `\\(`"
            ));
        }
        match c {
            '\\' => {
                let Some(escaped) = next else {
                    return refuse("the glob ends with a lone `\\`");
                };
                out.push_str(&regex::escape(&escaped.to_string()));
                i += 2;
                continue;
            }
            '*' if next == Some('*') => {
                i = recursive(&chars, i, depth, &mut out)?;
                continue;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                i = class(&chars, i, &mut out)?;
                continue;
            }
            '{' => {
                let group = &braces[i];
                if let Some(range) = group.range.as_deref() {
                    return refuse(format!(
                        "the range `{{{range}}}` is not supported; list the values: `{{{}}}`",
                        example_list(range)
                    ));
                }
                if !group.has_comma {
                    return refuse(format!(
                        "`{{{}}}` has a single alternative; write it without braces, or escape them as `\\{{`",
                        group.inner
                    ));
                }
                depth += 1;
                out.push_str("(?:");
            }
            '}' => {
                if depth == 0 {
                    return refuse("unmatched `}`; escape a literal brace as `\\}`");
                }
                depth -= 1;
                out.push(')');
            }
            ',' if depth > 0 => out.push('|'),
            '/' if trailing == TrailingRecursive::MatchesDirectoryItself
                && chars.get(i + 1..i + 3) == Some(&['*', '*'])
                && ends_alternative(&chars, i + 3, depth) =>
            {
                // `dir/**` (at the end of the glob or of an alternative): `dir` itself too.
                out.push_str("(?:/.*)?");
                i += 3;
                continue;
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    refuse_regex_groups(&chars)?;
    out.push('$');
    Ok(out)
}

/// Whether position `at` ends the glob or the current `{…}` alternative.
fn ends_alternative(chars: &[char], at: usize, depth: usize) -> bool {
    match chars.get(at) {
        None => true,
        Some(',') | Some('}') => depth > 0,
        _ => false,
    }
}

/// Whether position `at` starts the glob, a segment or a `{…}` alternative.
fn starts_segment(chars: &[char], at: usize, depth: usize) -> bool {
    at == 0 || chars[at - 1] == '/' || (depth > 0 && matches!(chars[at - 1], '{' | ','))
}

/// `**` at `at`: a whole segment crosses directories; anywhere else it is refused.
fn recursive(
    chars: &[char],
    at: usize,
    depth: usize,
    out: &mut String,
) -> Result<usize, GlobError> {
    let mut end = at;
    while chars.get(end) == Some(&'*') {
        end += 1;
    }
    if end - at > 2 || !starts_segment(chars, at, depth) {
        return refuse(
            "`**` must be a whole path segment (`a/**/b`, `**/x`, `a/**`); inside a segment use `*`",
        );
    }
    match chars.get(end) {
        Some('/') => {
            out.push_str("(?:.*/)?");
            Ok(end + 1)
        }
        None => {
            out.push_str(".*");
            Ok(end)
        }
        Some(',') | Some('}') if depth > 0 => {
            out.push_str(".*");
            Ok(end)
        }
        _ => refuse(
            "`**` must be a whole path segment (`a/**/b`, `**/x`, `a/**`); inside a segment use `*`",
        ),
    }
}

/// A character class starting at `at` (`[`); returns the index after its `]`.
fn class(chars: &[char], at: usize, out: &mut String) -> Result<usize, GlobError> {
    let mut i = at + 1;
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = String::new();
    let mut first = true;
    let mut previous: Option<char> = None;
    loop {
        let Some(&c) = chars.get(i) else {
            return refuse(
                "the class `[` is never closed with `]`; escape a literal bracket as `\\[`",
            );
        };
        if c == ']' && !first {
            break;
        }
        if c == '[' && chars.get(i + 1) == Some(&':') {
            return refuse(
                "POSIX classes like `[[:alpha:]]` are not supported; write the characters, e.g. `[a-zA-Z]`",
            );
        }
        first = false;
        let literal = if c == '\\' {
            i += 1;
            *chars
                .get(i)
                .ok_or_else(|| GlobError("the glob ends with a lone `\\`".into()))?
        } else {
            c
        };
        let is_range =
            c == '-' && previous.is_some() && chars.get(i + 1).is_some_and(|&n| n != ']');
        if is_range {
            let low = previous.unwrap_or(literal);
            let mut high = chars[i + 1];
            i += 1;
            if high == '\\' {
                i += 1;
                high = *chars
                    .get(i)
                    .ok_or_else(|| GlobError("the glob ends with a lone `\\`".into()))?;
            }
            if high < low {
                return refuse(format!(
                    "the class range `{low}-{high}` is backwards; write `{high}-{low}`"
                ));
            }
            items.push('-');
            items.push_str(&regex::escape(&high.to_string()));
            previous = None;
        } else {
            items.push_str(&regex::escape(&literal.to_string()));
            previous = Some(literal);
        }
        i += 1;
    }
    if negated {
        out.push_str(&format!("[^/{items}]"));
    } else {
        out.push_str(&format!("[{items}&&[^/]]"));
    }
    Ok(i + 1)
}

/// One `{…}` group: whether it has a top-level `,`, and its text when it is a `{1..3}` range.
#[derive(Debug, Clone, Default)]
struct Braces {
    has_comma: bool,
    range: Option<String>,
    inner: String,
}

/// Pairs every `{` with its `}` (outside classes and escapes), iteratively: deep nesting is
/// refused by the regex engine's limit, never by a stack overflow here.
fn match_braces(chars: &[char]) -> Result<Vec<Braces>, GlobError> {
    let mut groups = vec![Braces::default(); chars.len()];
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' if !in_class => {
                in_class = true;
                // `[]…]` and `[!]…]`: a `]` first in a class is literal.
                if matches!(chars.get(i + 1), Some('!') | Some('^')) {
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    i += 1;
                }
            }
            ']' if in_class => in_class = false,
            '{' if !in_class => open.push(i),
            ',' if !in_class => {
                if let Some(&start) = open.last() {
                    groups[start].has_comma = true;
                }
            }
            '}' if !in_class => {
                let Some(start) = open.pop() else {
                    return refuse("unmatched `}`; escape a literal brace as `\\}`");
                };
                let inner: String = chars[start + 1..i].iter().collect();
                if is_range(&inner) {
                    groups[start].range = Some(inner.clone());
                }
                groups[start].inner = inner;
            }
            _ => {}
        }
        i += 1;
    }
    if !open.is_empty() {
        return refuse("`{` is never closed with `}`; escape a literal brace as `\\{`");
    }
    Ok(groups)
}

/// `1..3`, `a..e`, `01..10..2`: bash/picomatch ranges.
fn is_range(inner: &str) -> bool {
    let parts: Vec<&str> = inner.split("..").collect();
    if !(2..=3).contains(&parts.len()) {
        return false;
    }
    let number = |p: &str| {
        let digits = p.strip_prefix('-').unwrap_or(p);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    };
    let letter = |p: &str| p.chars().count() == 1 && p.chars().all(|c| c.is_ascii_alphabetic());
    (parts.iter().all(|p| number(p))) || (parts.len() == 2 && letter(parts[0]) && letter(parts[1]))
}

/// `1..3` → `1,2,3` for the help text (only small ranges are spelled out).
fn example_list(range: &str) -> String {
    let parts: Vec<&str> = range.split("..").collect();
    if let (Some(Ok(low)), Some(Ok(high))) = (
        parts.first().map(|p| p.parse::<i64>()),
        parts.get(1).map(|p| p.parse::<i64>()),
    ) && parts.len() == 2
        && low <= high
        && high - low < 10
    {
        return (low..=high)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
    }
    "a,b,c".into()
}

/// picomatch reads `(a|b)` as a regex group; here parentheses are literal, so refuse the form
/// that would silently mean something else.
fn refuse_regex_groups(chars: &[char]) -> Result<(), GlobError> {
    let mut open = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '(' => open = true,
            ')' => open = false,
            '|' if open => {
                return refuse(
                    "`(a|b)` groups are not supported; write the alternatives as `{a,b}`, or escape the parenthesis as `\\(`",
                );
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrailingRecursive::{MatchesDirectoryItself, OnlyBelow};

    fn matches(glob: &str, path: &str) -> bool {
        compile(glob, MatchesDirectoryItself)
            .unwrap()
            .is_match(path)
    }

    fn refused(glob: &str) -> String {
        compile(glob, MatchesDirectoryItself).unwrap_err().0
    }

    #[test]
    fn question_mark_and_classes_match_one_character_not_one_byte() {
        assert!(matches("docs/?.md", "docs/é.md"));
        assert!(matches("docs/?.md", "docs/日.md"));
        assert!(!matches("docs/?.md", "docs/ab.md"));
        assert!(matches("docs/[é].md", "docs/é.md"));
        assert!(matches("docs/[!a].md", "docs/ü.md"));
        assert!(matches("docs/[à-ü]x", "docs/éx"));
        assert!(!matches("a?b", "a/b"));
        assert!(!matches("a[!x]b", "a/b"));
        assert!(!matches("a[/]b", "a/b"));
    }

    #[test]
    fn directory_glob_matches_the_directory_itself() {
        assert!(matches("vendor/lib/**", "vendor/lib"));
        assert!(matches("vendor/lib/**", "vendor/lib/a/b"));
        assert!(!matches("vendor/lib/**", "vendor/library"));
        assert!(matches("{a,b}/**", "a"));
        assert!(matches("x/{a/**,c}", "x/a"));
        let below = compile("dependabot/**", OnlyBelow).unwrap();
        assert!(!below.is_match("dependabot"));
        assert!(below.is_match("dependabot/npm/x"));
    }

    #[test]
    fn recursive_star_star() {
        assert!(matches("**/x.rs", "x.rs"));
        assert!(matches("**/x.rs", "a/b/x.rs"));
        assert!(matches("a/**/b", "a/b"));
        assert!(matches("a/**/b", "a/x/y/b"));
        assert!(!matches("a/**/b", "ab"));
        assert!(matches("**", ".github/workflows/ci.yml"));
        assert!(matches("a/*.rs", "a/.hidden.rs"));
        assert!(!matches("a/*.rs", "a/b/c.rs"));
        assert!(refused("a**").contains("whole path segment"));
        assert!(refused("a/***/b").contains("whole path segment"));
    }

    #[test]
    fn braces_escapes_and_literal_metacharacters() {
        assert!(matches("web/**/*.{ts,tsx}", "web/src/App.tsx"));
        assert!(matches("a{,.min}.js", "a.js"));
        assert!(matches("a{b,{c,d}}e", "ade"));
        assert!(matches("lit\\*", "lit*"));
        assert!(!matches("lit\\*", "litx"));
        assert!(matches("a+b(c)$.^", "a+b(c)$.^"));
        assert!(matches("[]]x", "]x"));
        assert!(matches("[!]]x", "ax"));
    }

    #[test]
    fn unsupported_syntax_is_refused_with_what_to_write() {
        assert!(refused("!(x)").contains("extglob `!(…)`"));
        assert!(refused("src/+(a|b)/x").contains("extglob `+(…)`"));
        assert!(refused("src/@(a)").contains("extglob"));
        assert!(refused("src/*(a)").contains("extglob"));
        assert!(refused("src/(a|b)/x").contains("`(a|b)` groups"));
        assert!(refused("[[:alpha:]]").contains("POSIX classes"));
        assert!(refused("v{1..3}").contains("`{1,2,3}`"));
        assert!(refused("v{a..c}").contains("range"));
        assert!(refused("{a}").contains("single alternative"));
        assert!(refused("src/[a-").contains("never closed"));
        assert!(refused("a{b").contains("never closed"));
        assert!(refused("a}b").contains("unmatched `}`"));
        assert!(refused("[z-a]").contains("backwards"));
        assert!(refused("a\\").contains("lone"));
        // Literal parentheses are fine.
        assert!(matches("docs/(draft)/x", "docs/(draft)/x"));
    }

    proptest::proptest! {
        #[test]
        fn any_glob_compiles_or_is_refused_never_a_panic(glob in "[a-z/*?!^\\[\\]{},.:\\\\()|+@-]{0,24}") {
            if let Ok(regex) = compile(&glob, MatchesDirectoryItself) {
                let _ = regex.is_match("a/b.c");
            }
        }
    }

    #[test]
    fn huge_or_deeply_nested_globs_are_refused_not_a_panic() {
        let long = "a".repeat(MAX_GLOB_LENGTH + 1);
        assert!(refused(&long).contains("the limit is 1024"));
        let nested = format!("{}x{}", "{a,".repeat(200), "}".repeat(200));
        assert!(
            refused(&nested).contains("too deeply"),
            "{}",
            refused(&nested)
        );
        // The longest globs allowed still compile (the limit is the length, not the engine).
        for worst in ["?".repeat(1000), "[!a]".repeat(250), "{a,b}?".repeat(160)] {
            assert!(compile(&worst, MatchesDirectoryItself).is_ok());
        }
    }
}
