//! Path patterns of every service, compiled once into one matcher.
//!
//! A service's `paths` are globs read in list order with gitignore semantics: a file belongs to
//! the service when the *last* pattern that matches it is not a `!` exclusion. So
//! `["a/**", "!a/docs/**", "a/docs/api.md"]` keeps `a/docs/api.md` and drops the other docs.
//! `*` stays inside one path segment, `**` crosses segments, dotfiles match like any file,
//! `dir/**` also matches `dir` itself. The dialect is [`super::glob`]'s.

use super::glob::{self, TrailingRecursive};
use regex::{Regex, RegexSet, RegexSetBuilder};
use std::sync::OnceLock;

/// One pattern as written in the config, parsed.
#[derive(Debug, Clone)]
pub struct PathPattern {
    /// The text as written, e.g. `!services/auth/docs/**`.
    pub text: String,
    /// A `!` pattern removes files that earlier patterns added.
    pub negated: bool,
    /// The glob actually matched, relative to the repository root.
    pub glob: String,
    /// How the glob is matched: a string comparison or its compiled regex.
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    Simple(Simple),
    Regex(Regex),
}

impl PartialEq for PathPattern {
    fn eq(&self, other: &Self) -> bool {
        (&self.text, self.negated, &self.glob) == (&other.text, other.negated, &other.glob)
    }
}

impl Eq for PathPattern {}

impl PathPattern {
    /// Parses a pattern: `!` for exclusion, a leading `./` or `/` is dropped, a trailing `/`
    /// means "everything below".
    pub fn parse(text: &str) -> Result<Self, String> {
        let (negated, rest) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut glob = rest
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_string();
        if glob.is_empty() {
            return Err(format!("pattern `{text}` is empty"));
        }
        if glob.ends_with('/') {
            glob.push_str("**");
        }
        let invalid = |e: glob::GlobError| format!("invalid glob `{}`: {e}", glob::shorten(text));
        if negated && rest.starts_with('(') {
            // `!(x)` is picomatch's extglob, not an exclusion of `(x)`: say so.
            glob::to_regex(text, TrailingRecursive::MatchesDirectoryItself).map_err(invalid)?;
        }
        // The syntax is checked for every glob; only the shapes that need a regex compile one.
        // A simple shape has no wildcard, class, brace or escape in its literal parts, so only
        // its length and an extglob's `(` could be refused: without them the check is skipped.
        let shape = match Simple::parse(&glob) {
            Some(simple) if glob.len() <= glob::MAX_GLOB_LENGTH && !glob.contains('(') => {
                Shape::Simple(simple)
            }
            Some(simple) => {
                glob::to_regex(&glob, TrailingRecursive::MatchesDirectoryItself)
                    .map_err(invalid)?;
                Shape::Simple(simple)
            }
            None => Shape::Regex(compile(&glob).map_err(invalid)?),
        };
        Ok(PathPattern {
            text: text.to_string(),
            negated,
            glob,
            shape,
        })
    }
}

fn compile(glob: &str) -> Result<Regex, glob::GlobError> {
    glob::compile(glob, TrailingRecursive::MatchesDirectoryItself)
}

/// Whose patterns these are: the `global` list or one service (by index in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    Global,
    Service(usize),
}

/// A positive match: which owner took the file, through which of its patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub owner: Owner,
    /// Index into that owner's pattern list.
    pub pattern: usize,
}

/// All owners' patterns, grouped by their literal directory prefix (`services/auth/` for
/// `services/auth/**/*.rs`). A path is only tested against the groups of its ancestor
/// directories (and the root group), and each group's `GlobSet` is compiled the first time a
/// path reaches it: a 200-file pull request in a 200-service repository compiles a handful of
/// small sets instead of one set of a thousand globs.
#[derive(Debug)]
pub struct Matcher {
    /// By directory without its trailing `/` (`""` for the root), so that a path's ancestors
    /// are looked up as slices of it, with no string built per file.
    groups: std::collections::HashMap<String, Group, foldhash::fast::RandomState>,
    /// For each glob, by global index: its owner, the index in the owner's list, and whether
    /// negated. Global indices follow config order, which decides "last match wins".
    slots: Vec<(Owner, usize, bool)>,
}

#[derive(Debug)]
struct Group {
    /// The directory as globs write it, with its trailing `/` (`""` for the root).
    directory: String,
    /// The common shapes, matched with string comparisons: (global index, shape).
    simple: Vec<(usize, Simple)>,
    /// Everything else: (global index, compiled glob).
    globs: Vec<(usize, Regex)>,
    compiled: OnceLock<Compiled>,
}

/// Glob shapes that need no regex; most monorepo patterns are one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Simple {
    /// `Cargo.lock`, `services/auth/package.json`.
    Exact(String),
    /// `services/auth/**` (`prefix` ends with `/`; empty for `**`): also `services/auth`.
    Below(String),
    /// `services/auth/**/*.rs`: below `prefix`, a name ending in `.rs` (`suffix` = `.rs`).
    BelowWithSuffix { prefix: String, suffix: String },
}

impl Simple {
    fn parse(glob: &str) -> Option<Simple> {
        let plain = |s: &str| !s.contains(['*', '?', '[', ']', '{', '}', '\\']);
        if plain(glob) {
            return Some(Simple::Exact(glob.to_string()));
        }
        if glob == "**" {
            return Some(Simple::Below(String::new()));
        }
        if let Some(prefix) = glob.strip_suffix("/**")
            && plain(prefix)
        {
            return Some(Simple::Below(format!("{prefix}/")));
        }
        let (prefix, extension) = match glob.strip_prefix("**/*.") {
            Some(extension) => ("", extension),
            None => {
                let at = glob.find("/**/*.")?;
                (&glob[..=at], &glob[at + "/**/*.".len()..])
            }
        };
        (plain(prefix) && plain(extension) && !extension.contains('/')).then(|| {
            Simple::BelowWithSuffix {
                prefix: prefix.to_string(),
                suffix: format!(".{extension}"),
            }
        })
    }

    fn is_match(&self, path: &str) -> bool {
        match self {
            Simple::Exact(literal) => path == literal,
            Simple::Below(prefix) => {
                path.starts_with(prefix.as_str())
                    || prefix
                        .strip_suffix('/')
                        .is_some_and(|directory| path == directory)
            }
            Simple::BelowWithSuffix { prefix, suffix } => {
                path.starts_with(prefix.as_str())
                    && path.ends_with(suffix.as_str())
                    && path.len() >= prefix.len() + suffix.len()
            }
        }
    }
}

#[derive(Debug)]
enum Compiled {
    Set(RegexSet),
    /// Only if the combined set exceeds the regex size limit: each glob's own regex, compiled
    /// (and so known to be valid) when the config was read.
    Each,
}

/// The combined set of one group may be larger than any one glob; past this it is not built.
const SET_SIZE_LIMIT: usize = 32 << 20;

/// The directory part of a glob before its first wildcard, with its trailing `/`.
fn literal_directory(glob: &str) -> &str {
    let wildcard = glob.find(['*', '?', '[', '{', '\\']).unwrap_or(glob.len());
    match glob[..wildcard].rfind('/') {
        Some(slash) => &glob[..=slash],
        None => "",
    }
}

impl Group {
    fn matches_into(&self, path: &str, local: &mut Vec<usize>, out: &mut Vec<usize>) {
        for (index, simple) in &self.simple {
            if simple.is_match(path) {
                out.push(*index);
            }
        }
        if self.globs.is_empty() {
            return;
        }
        let compiled = self.compiled.get_or_init(|| {
            let built = RegexSetBuilder::new(self.globs.iter().map(|(_, regex)| regex.as_str()))
                .size_limit(SET_SIZE_LIMIT)
                .build();
            match built {
                Ok(set) => Compiled::Set(set),
                Err(_) => Compiled::Each,
            }
        });
        match compiled {
            Compiled::Set(set) => {
                local.clear();
                local.extend(set.matches(path).iter());
                out.extend(local.iter().map(|&i| self.globs[i].0));
            }
            Compiled::Each => {
                for (index, regex) in &self.globs {
                    if regex.is_match(path) {
                        out.push(*index);
                    }
                }
            }
        }
    }
}

impl Matcher {
    /// Builds the matcher from parsed (so valid) patterns; it cannot fail.
    pub fn new<'a>(owners: impl IntoIterator<Item = (Owner, &'a [PathPattern])>) -> Self {
        let mut groups: std::collections::HashMap<String, Group, foldhash::fast::RandomState> =
            Default::default();
        let mut slots = Vec::new();
        for (owner, patterns) in owners {
            for (index, pattern) in patterns.iter().enumerate() {
                let directory = literal_directory(&pattern.glob);
                let group = groups
                    .entry(directory.strip_suffix('/').unwrap_or(directory).to_string())
                    .or_insert_with(|| Group {
                        directory: directory.to_string(),
                        simple: Vec::new(),
                        globs: Vec::new(),
                        compiled: OnceLock::new(),
                    });
                match &pattern.shape {
                    Shape::Simple(simple) => group.simple.push((slots.len(), simple.clone())),
                    Shape::Regex(regex) => group.globs.push((slots.len(), regex.clone())),
                }
                slots.push((owner, index, pattern.negated));
            }
        }
        Matcher { groups, slots }
    }

    /// The directories below which some pattern can match (`""` when one can match anywhere):
    /// everything else of a tree can be skipped.
    pub fn directories(&self) -> Vec<&str> {
        let mut directories: Vec<&str> =
            self.groups.values().map(|g| g.directory.as_str()).collect();
        directories.sort_unstable();
        directories
    }

    /// The owners that take `path`, each with the pattern that decided it.
    ///
    /// `scratch` is reused between calls to avoid an allocation per file.
    pub fn hits(&self, path: &str, scratch: &mut Vec<usize>, out: &mut Vec<Hit>) {
        out.clear();
        scratch.clear();
        let mut local = Vec::new();
        if let Some(group) = self.groups.get("") {
            group.matches_into(path, &mut local, scratch);
        }
        for position in memchr::memchr_iter(b'/', path.as_bytes()).filter(|p| *p > 0) {
            if let Some(group) = self.groups.get(&path[..position]) {
                group.matches_into(path, &mut local, scratch);
            }
        }
        // `dir/**` matches `dir` itself (a submodule or a symlink changed at that path).
        if !path.is_empty()
            && !path.ends_with('/')
            && let Some(group) = self.groups.get(path)
        {
            group.matches_into(path, &mut local, scratch);
        }
        // In global order, an owner's globs are contiguous: its last matching glob decides.
        scratch.sort_unstable();
        let mut index = 0;
        while index < scratch.len() {
            let (owner, _, _) = self.slots[scratch[index]];
            let mut last = index;
            while last + 1 < scratch.len() && self.slots[scratch[last + 1]].0 == owner {
                last += 1;
            }
            let (_, pattern, negated) = self.slots[scratch[last]];
            if !negated {
                out.push(Hit { owner, pattern });
            }
            index = last + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(texts: &[&str]) -> Vec<PathPattern> {
        texts
            .iter()
            .map(|t| PathPattern::parse(t).unwrap())
            .collect()
    }

    fn owners_of(matcher: &Matcher, path: &str) -> Vec<Hit> {
        let mut scratch = Vec::new();
        let mut out = Vec::new();
        matcher.hits(path, &mut scratch, &mut out);
        out
    }

    fn single(texts: &[&str]) -> Matcher {
        let p = patterns(texts);
        Matcher::new([(Owner::Service(0), p.as_slice())])
    }

    #[test]
    fn double_star_crosses_segments_and_star_does_not() {
        let m = single(&["src/**/*.js"]);
        assert_eq!(owners_of(&m, "src/app/module/file.js").len(), 1);
        assert_eq!(owners_of(&m, "not_src/other_file.js").len(), 0);
        let m = single(&["src/*.js"]);
        assert_eq!(owners_of(&m, "src/a.js").len(), 1);
        assert_eq!(owners_of(&m, "src/app/a.js").len(), 0);
    }

    #[test]
    fn dotfiles_match() {
        let m = single(&["**/*.js"]);
        assert_eq!(owners_of(&m, ".test/.test.js").len(), 1);
        let m = single(&["services/auth/**"]);
        assert_eq!(owners_of(&m, "services/auth/.env.example").len(), 1);
    }

    #[test]
    fn exclusions_apply_in_list_order() {
        let m = single(&["a/**", "!a/docs/**", "a/docs/api.md"]);
        assert_eq!(
            owners_of(&m, "a/docs/api.md"),
            vec![Hit {
                owner: Owner::Service(0),
                pattern: 2
            }]
        );
        assert!(owners_of(&m, "a/docs/guide.md").is_empty());
        assert_eq!(
            owners_of(&m, "a/src/main.rs"),
            vec![Hit {
                owner: Owner::Service(0),
                pattern: 0
            }]
        );
        // An exclusion before the inclusion excludes nothing (it is overridden).
        let m = single(&["!a/docs/**", "a/**"]);
        assert_eq!(owners_of(&m, "a/docs/guide.md").len(), 1);
    }

    #[test]
    fn exclusions_are_real_exclusions_not_everything_else() {
        // dorny/paths-filter treats `!docs/**` as "anything outside docs"; here an exclusion
        // alone matches nothing.
        let m = single(&["!docs/**"]);
        assert!(owners_of(&m, "src/main.rs").is_empty());
        // The paths-filter case `every: ['pkg/a/b/c/**','!**/*.jpeg','!**/*.md']`.
        let m = single(&["pkg/a/b/c/**", "!**/*.jpeg", "!**/*.md"]);
        for yes in [
            "pkg/a/b/c/some-class.ts",
            "pkg/a/b/c/src/main/some-class.ts",
        ] {
            assert_eq!(owners_of(&m, yes).len(), 1, "{yes}");
        }
        for no in [
            "pkg/x/y/z/some-class.ts",
            "pkg/x/y/z/some-pic.jpeg",
            "pkg/a/b/c/some-pics.jpeg",
            "pkg/a/b/c/src/main/some-docs.md",
        ] {
            assert!(owners_of(&m, no).is_empty(), "{no}");
        }
    }

    #[test]
    fn trailing_slash_and_leading_dot_slash() {
        let m = single(&["./libs/common/"]);
        assert_eq!(owners_of(&m, "libs/common/x/y.rs").len(), 1);
        assert!(owners_of(&m, "libs/commonx/y.rs").is_empty());
    }

    #[test]
    fn braces_and_classes() {
        let m = single(&["web/**/*.{ts,tsx}", "Dockerfile.[a-z]*"]);
        assert_eq!(owners_of(&m, "web/src/App.tsx").len(), 1);
        assert_eq!(owners_of(&m, "Dockerfile.prod").len(), 1);
        assert!(owners_of(&m, "web/src/App.css").is_empty());
    }

    #[test]
    fn many_owners_each_decide_for_themselves() {
        let a = patterns(&["libs/**"]);
        let b = patterns(&["libs/**", "!libs/b/**"]);
        let g = patterns(&["Cargo.lock"]);
        let m = Matcher::new([
            (Owner::Global, g.as_slice()),
            (Owner::Service(0), a.as_slice()),
            (Owner::Service(1), b.as_slice()),
        ]);
        assert_eq!(
            owners_of(&m, "libs/b/x"),
            vec![Hit {
                owner: Owner::Service(0),
                pattern: 0
            }]
        );
        assert_eq!(owners_of(&m, "libs/c/x").len(), 2);
        assert_eq!(
            owners_of(&m, "Cargo.lock"),
            vec![Hit {
                owner: Owner::Global,
                pattern: 0
            }]
        );
    }

    #[test]
    fn globs_are_grouped_by_their_literal_directory() {
        assert_eq!(literal_directory("services/auth/**/*.rs"), "services/auth/");
        assert_eq!(
            literal_directory("services/auth/package.json"),
            "services/auth/"
        );
        assert_eq!(literal_directory("**/*.md"), "");
        assert_eq!(literal_directory("Cargo.lock"), "");
        assert_eq!(literal_directory("web/{a,b}/x"), "web/");
        assert_eq!(literal_directory("a/b[0-9]/c"), "a/");
        // A glob in a group deeper than the path's directory never matches it anyway, and one in
        // an ancestor's group is found.
        let p: Vec<PathPattern> = ["a/b/**", "a/**", "**/x.rs"]
            .iter()
            .map(|t| PathPattern::parse(t).unwrap())
            .collect();
        let m = Matcher::new([
            (Owner::Service(0), &p[..1]),
            (Owner::Service(1), &p[1..2]),
            (Owner::Service(2), &p[2..]),
        ]);
        let owners: Vec<Owner> = owners_of(&m, "a/b/c/x.rs")
            .iter()
            .map(|h| h.owner)
            .collect();
        assert_eq!(
            owners,
            vec![Owner::Service(0), Owner::Service(1), Owner::Service(2)]
        );
    }

    #[test]
    fn simple_shapes_match_exactly_like_the_glob_engine() {
        let globs = [
            "Cargo.lock",
            "services/auth/package.json",
            "**",
            "services/auth/**",
            "a/**/*.rs",
            "**/*.md",
            "a/**/*.tar.gz",
            "a/b/**/*.x",
            ".github/**",
            "x/**/*.",
        ];
        let paths = [
            "Cargo.lock",
            "sub/Cargo.lock",
            "services/auth/package.json",
            "services/auth/x/package.json",
            "services/auth",
            "services/auth/",
            "services/auth/a.ts",
            "services/authx/a.ts",
            "a/x.rs",
            "a/b/c/x.rs",
            "a/.rs",
            "a/x.rsx",
            "b/a/x.rs",
            "README.md",
            "docs/a/b.md",
            ".md",
            "a/x.tar.gz",
            "a/b/y.x",
            "a/b/x",
            ".github/workflows/ci.yml",
            ".github",
            "x/y.",
            "x/.",
        ];
        for text in globs {
            let simple = Simple::parse(text).unwrap_or_else(|| panic!("{text} is a simple shape"));
            let glob = compile(text).unwrap();
            for path in paths {
                assert_eq!(
                    simple.is_match(path),
                    glob.is_match(path),
                    "{text} on {path}"
                );
            }
        }
        for complex in [
            "*.md",
            "a/*/b",
            "a/{b,c}/**",
            "a/**/x",
            "a/**/*.{ts,tsx}",
            "a/[bc]/**",
            "a/b?/**",
            "**/*.d/x",
        ] {
            assert_eq!(Simple::parse(complex), None, "{complex}");
        }
    }

    #[test]
    fn glob_the_engine_cannot_compile_is_refused_not_a_panic() {
        let nested = format!("src/{}x{}", "{a,".repeat(100), "}".repeat(100));
        let error = PathPattern::parse(&nested).unwrap_err();
        assert!(error.contains("nests `{…}` too deeply"), "{error}");
        assert!(error.len() < 300, "the glob is quoted shortened: {error}");
        // globset built this one, then panicked compiling it (`compile_matcher`) when a file
        // below `src/` was matched.
        let long = format!("src/{}", "?".repeat(200_000));
        assert!(
            PathPattern::parse(&long)
                .unwrap_err()
                .contains("limit is 1024")
        );
        // Many valid, large globs in one directory group still match (one set or one by one).
        let globs: Vec<String> = (0..12)
            .map(|i| format!("big/{}{i}", "[!x]?".repeat(120)))
            .collect();
        let texts: Vec<&str> = globs.iter().map(String::as_str).collect();
        let m = single(&texts);
        let path = format!("big/{}7", "ab".repeat(120));
        assert_eq!(owners_of(&m, &path).len(), 1);
    }

    #[test]
    fn glob_question_mark_and_class_match_one_character_of_a_non_ascii_name() {
        let m = single(&["docs/?.md", "img/[äöü]/*.png"]);
        assert_eq!(owners_of(&m, "docs/é.md").len(), 1);
        assert_eq!(owners_of(&m, "docs/日.md").len(), 1);
        assert_eq!(owners_of(&m, "img/ö/a.png").len(), 1);
        assert!(owners_of(&m, "docs/ab.md").is_empty());
    }

    #[test]
    fn glob_directory_star_star_matches_the_directory_itself() {
        // A submodule bump or a symlink is a change at exactly `vendor/lib`.
        let m = single(&["vendor/lib/**", "tools/{a,b}/**"]);
        assert_eq!(owners_of(&m, "vendor/lib").len(), 1);
        assert_eq!(owners_of(&m, "vendor/lib/x.c").len(), 1);
        assert_eq!(owners_of(&m, "tools/b").len(), 1);
        assert!(owners_of(&m, "vendor/library").is_empty());
        assert!(owners_of(&m, "vendor").is_empty());
        let m = single(&["vendor/lib/"]);
        assert_eq!(owners_of(&m, "vendor/lib").len(), 1);
    }

    #[test]
    fn glob_unsupported_syntax_is_refused_not_read_as_literal_text() {
        for (glob, reason) in [
            ("!(**/*.tsx|**/*.less)", "extglob `!(…)`"),
            ("src/+(a|b)/**", "extglob `+(…)`"),
            ("src/[[:alpha:]]*", "POSIX classes"),
            ("v{1..3}/**", "range `{1..3}`"),
            ("src/(a|b)/**", "`(a|b)` groups"),
        ] {
            let error = PathPattern::parse(glob).unwrap_err();
            assert!(error.contains(reason), "{glob}: {error}");
        }
    }

    #[test]
    fn invalid_globs_are_reported() {
        let error = PathPattern::parse("src/[a-").unwrap_err();
        assert!(error.contains("invalid glob `src/[a-`"), "{error}");
        assert!(PathPattern::parse("!").is_err());
    }
}
