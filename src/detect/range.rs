//! Which commits to compare, decided from the event and the flags (pure), then resolved against
//! the repository's history through the [`History`] trait (deepening shallow clones on the way).

use crate::context::{Event, ZERO_SHA};
use crate::diagnostic::Diagnostic;

/// What the event and flags ask for, before looking at the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Compare `merge-base(base, head)..head`: the pull request's "Files changed" view.
    MergeBase { base: Rev, head: Rev, why: String },
    /// Compare `base..head` directly (merge queue; a push that is known not to be forced).
    TwoDot { base: Rev, head: Rev, why: String },
    /// A push: `before..after` when `before` is an ancestor, else merge-base with the default
    /// branch (a force push).
    Push {
        before: String,
        after: String,
        default_branch: Option<String>,
    },
    /// Every service, with the reason (tag push, schedule, first commit).
    All { why: String },
    /// Nothing changed (a deleted branch).
    Nothing { why: String },
}

/// A revision to resolve: a full SHA from the event, a branch name, or a user's expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rev {
    /// A commit SHA from the event payload (may need fetching).
    Sha(String),
    /// The repository's default branch (resolved through the remote).
    DefaultBranch(String),
    /// What the user typed in `--base`/`--head` (`main`, `HEAD~3`, a SHA).
    User(String),
    /// The checked-out commit.
    Head,
}

impl std::fmt::Display for Rev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rev::Sha(sha) => write!(f, "{}", short(sha)),
            Rev::DefaultBranch(name) => write!(f, "{name}"),
            Rev::User(text) => write!(f, "{text}"),
            Rev::Head => write!(f, "HEAD"),
        }
    }
}

/// The first 7 characters of a SHA, for messages.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Flags that override the event (`--base`, `--head`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeFlags {
    pub base: Option<String>,
    pub head: Option<String>,
}

/// Decides what to compare. `default_branch` comes from the payload (or the remote's HEAD
/// locally); `sha` is `GITHUB_SHA`.
pub fn request(
    event: &Event,
    flags: &RangeFlags,
    default_branch: Option<&str>,
    sha: Option<&str>,
) -> RangeRequest {
    let head_flag = flags.head.clone().map(Rev::User);
    if let Some(base) = &flags.base {
        let why = match &flags.head {
            Some(head) => format!("compared with --base {base} --head {head}"),
            None => format!("compared with --base {base}"),
        };
        return RangeRequest::MergeBase {
            base: Rev::User(base.clone()),
            head: head_flag.unwrap_or(Rev::Head),
            why,
        };
    }
    let default = |why: &str| match default_branch {
        Some(branch) => RangeRequest::MergeBase {
            base: Rev::DefaultBranch(branch.to_string()),
            head: flags
                .head
                .clone()
                .map(Rev::User)
                .unwrap_or_else(|| sha.map(|s| Rev::Sha(s.to_string())).unwrap_or(Rev::Head)),
            why: why.to_string(),
        },
        None => RangeRequest::All {
            why: format!("{why}, but the default branch is unknown"),
        },
    };
    match event {
        Event::PullRequest(pr) => RangeRequest::MergeBase {
            base: Rev::Sha(pr.base_sha.clone()),
            head: head_flag.unwrap_or_else(|| Rev::Sha(pr.head_sha.clone())),
            why: format!(
                "pull request #{}: merge-base of base and head, like its \"Files changed\" tab",
                pr.number
            ),
        },
        Event::MergeGroup { base_sha, head_sha } => RangeRequest::TwoDot {
            base: Rev::Sha(base_sha.clone()),
            head: head_flag.unwrap_or_else(|| Rev::Sha(head_sha.clone())),
            why: "merge queue: base_sha..head_sha".into(),
        },
        Event::Push(push) => push_request(push, default_branch),
        Event::WorkflowDispatch { .. } => default("manual run: merge-base with the default branch"),
        Event::Schedule => RangeRequest::All {
            why: "scheduled run".into(),
        },
        Event::Other => RangeRequest::All {
            why: "this event carries no range to compare".into(),
        },
        Event::Local => default("local run: merge-base with the default branch"),
    }
}

/// The pair of commits the request most likely resolves to, when both are already known as full
/// SHAs: `base..head` for a two-dot range or a push, and for a merge-base request the guess that
/// `head` descends from `base` (a pull request that is up to date, `--base main --head <new>`).
/// Only a guess: `git diff` can start on it while the config loads, and its result is used only
/// if the resolved range is exactly this pair (see `GitRepository::prefetch_diff`). Pure.
pub fn likely_pair(request: &RangeRequest) -> Option<(String, String)> {
    let sha = |rev: &Rev| match rev {
        Rev::Sha(text) | Rev::User(text) => full_sha(text),
        Rev::DefaultBranch(_) | Rev::Head => None,
    };
    match request {
        RangeRequest::MergeBase { base, head, .. } | RangeRequest::TwoDot { base, head, .. } => {
            Some((sha(base)?, sha(head)?))
        }
        RangeRequest::Push { before, after, .. } if before != ZERO_SHA => {
            Some((full_sha(before)?, full_sha(after)?))
        }
        _ => None,
    }
}

/// A full object id (40 hex digits, or 64 for SHA-256), lower-cased as git prints it.
fn full_sha(text: &str) -> Option<String> {
    (matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// What a push compares: nothing for a deletion, everything for a tag or the default branch's
/// first push, the merge-base with the default branch for a new branch, else before..after.
fn push_request(push: &crate::context::Push, default_branch: Option<&str>) -> RangeRequest {
    if push.deleted || push.after == ZERO_SHA {
        let what = match push.git_ref.strip_prefix("refs/tags/") {
            Some(tag) => format!("tag {tag}"),
            None => format!("branch {}", push.git_ref),
        };
        return RangeRequest::Nothing {
            why: format!("{what} was deleted"),
        };
    }
    if push.git_ref.starts_with("refs/tags/") {
        return RangeRequest::All {
            why: format!("tag push ({})", push.git_ref),
        };
    }
    if push.before == ZERO_SHA || push.created {
        let branch = push.git_ref.trim_start_matches("refs/heads/");
        if Some(branch) == default_branch {
            return RangeRequest::All {
                why: format!("first push of the default branch {branch}"),
            };
        }
        return match default_branch {
            Some(default_branch) => RangeRequest::MergeBase {
                base: Rev::DefaultBranch(default_branch.to_string()),
                head: Rev::Sha(push.after.clone()),
                why: format!("new branch {branch}: merge-base with {default_branch}"),
            },
            None => RangeRequest::All {
                why: format!("new branch {branch} and the default branch is unknown"),
            },
        };
    }
    RangeRequest::Push {
        before: push.before.clone(),
        after: push.after.clone(),
        default_branch: default_branch.map(str::to_string),
    }
}

/// The repository operations range resolution needs; implemented with git2 and `git fetch`,
/// and by a fake in tests.
pub trait History {
    /// The commit a revision names, if it is present locally.
    fn resolve(&self, rev: &str) -> Option<String>;
    /// The local commit of the default branch (remote-tracking or local branch), fetching it if
    /// missing.
    fn default_branch(&mut self, name: &str) -> Option<String>;
    fn merge_base(&self, a: &str, b: &str) -> Option<String>;
    fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool;
    fn is_shallow(&self) -> bool;
    /// Fetches missing commits by SHA; returns whether all of them are present afterwards.
    fn fetch_commits(&mut self, shas: &[&str]) -> bool;
    /// Deepens a shallow history by `by` commits; false when it cannot (no remote, not shallow).
    fn deepen(&mut self, tips: &[&str], by: u32) -> bool;
}

/// A range that could be resolved to two commits, or a decision that needs no diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Diff {
        base: String,
        head: String,
        /// How the range was chosen, for the summary ("pull request #7: merge-base …").
        description: String,
        notes: Vec<Diagnostic>,
    },
    All {
        why: String,
        notes: Vec<Diagnostic>,
    },
    Nothing {
        why: String,
    },
}

/// Why a range could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// A revision the user typed does not exist (exit 2).
    UnknownRevision(String),
    /// The event's commits or their merge-base are not in the clone even after deepening.
    MissingHistory(String),
}

const TITLE: &str = "shipgate detect";

/// Resolves a request against the history, deepening a shallow clone in doubling steps up to
/// `max_depth` commits.
pub fn resolve(
    request: &RangeRequest,
    history: &mut dyn History,
    max_depth: u32,
) -> Result<Resolution, RangeError> {
    match request {
        RangeRequest::All { why } => Ok(Resolution::All {
            why: why.clone(),
            notes: vec![Diagnostic::notice(
                TITLE,
                format!("{why}: every service is selected"),
            )],
        }),
        RangeRequest::Nothing { why } => Ok(Resolution::Nothing { why: why.clone() }),
        RangeRequest::TwoDot { base, head, why } => {
            let base_sha = resolve_rev(history, base)?;
            let head_sha = resolve_rev(history, head)?;
            Ok(Resolution::Diff {
                description: format!("{why} ({}..{})", short(&base_sha), short(&head_sha)),
                base: base_sha,
                head: head_sha,
                notes: Vec::new(),
            })
        }
        RangeRequest::MergeBase { base, head, why } => {
            resolve_merge_base(history, base, head, why, max_depth)
        }
        RangeRequest::Push {
            before,
            after,
            default_branch,
        } => resolve_push(history, before, after, default_branch.as_deref(), max_depth),
    }
}

/// The diff from the merge-base of `base` and `head` (what a pull request's "Files changed" shows).
fn resolve_merge_base(
    history: &mut dyn History,
    base: &Rev,
    head: &Rev,
    why: &str,
    max_depth: u32,
) -> Result<Resolution, RangeError> {
    let base_sha = resolve_rev(history, base)?;
    let head_sha = resolve_rev(history, head)?;
    let merge_base =
        find_merge_base(history, &base_sha, &head_sha, max_depth).ok_or_else(|| {
            RangeError::MissingHistory(format!(
                "no merge-base of {base} ({}) and {head} ({}) in the clone",
                short(&base_sha),
                short(&head_sha)
            ))
        })?;
    Ok(Resolution::Diff {
        description: format!(
            "{why} ({}...{}, merge-base {})",
            short(&base_sha),
            short(&head_sha),
            short(&merge_base)
        ),
        base: merge_base,
        head: head_sha,
        notes: Vec::new(),
    })
}

/// before..after when `before` is an ancestor of `after`; after a force push (or when `before`
/// is gone), the merge-base with the default branch instead.
fn resolve_push(
    history: &mut dyn History,
    before: &str,
    after: &str,
    default_branch: Option<&str>,
    max_depth: u32,
) -> Result<Resolution, RangeError> {
    let after_sha = resolve_rev(history, &Rev::Sha(after.to_string()))?;
    let before_present = history.resolve(before).is_some() || history.fetch_commits(&[before]);
    if before_present && is_ancestor_deepening(history, before, &after_sha, max_depth) {
        return Ok(Resolution::Diff {
            description: format!(
                "push: before..after ({}..{})",
                short(before),
                short(&after_sha)
            ),
            base: before.to_string(),
            head: after_sha,
            notes: Vec::new(),
        });
    }
    // A force push (or `before` is gone): compare with the default branch instead.
    let why = if before_present {
        format!(
            "force push: {} is not an ancestor of {}",
            short(before),
            short(&after_sha)
        )
    } else {
        format!(
            "the previous tip {} no longer exists (force push)",
            short(before)
        )
    };
    let Some(default_branch) = default_branch else {
        return Ok(Resolution::All {
            notes: vec![Diagnostic::notice(
                TITLE,
                format!("{why}; the default branch is unknown, so every service is selected"),
            )],
            why,
        });
    };
    let base_sha = resolve_rev(history, &Rev::DefaultBranch(default_branch.to_string()))?;
    let merge_base =
        find_merge_base(history, &base_sha, &after_sha, max_depth).ok_or_else(|| {
            RangeError::MissingHistory(format!(
                "{why}, and no merge-base with {default_branch} was found in the clone"
            ))
        })?;
    Ok(Resolution::Diff {
        description: format!(
            "{why}; compared with {default_branch} instead ({}...{}, merge-base {})",
            short(&base_sha),
            short(&after_sha),
            short(&merge_base)
        ),
        base: merge_base,
        head: after_sha,
        notes: vec![Diagnostic::notice(
            TITLE,
            format!("{why}; changes are computed against the merge-base with {default_branch}"),
        )],
    })
}

fn resolve_rev(history: &mut dyn History, rev: &Rev) -> Result<String, RangeError> {
    match rev {
        Rev::Head => history
            .resolve("HEAD")
            .ok_or_else(|| RangeError::UnknownRevision("HEAD does not point at a commit".into())),
        Rev::User(text) => match history.resolve(text) {
            Some(sha) => Ok(sha),
            None if looks_like_sha(text) && history.fetch_commits(&[text]) => {
                history.resolve(text).ok_or_else(|| {
                    RangeError::UnknownRevision(format!("`{text}` does not name a commit"))
                })
            }
            None => Err(RangeError::UnknownRevision(format!(
                "`{text}` does not name a commit in this repository"
            ))),
        },
        Rev::Sha(sha) => match history.resolve(sha) {
            Some(found) => Ok(found),
            None if history.fetch_commits(&[sha]) => history.resolve(sha).ok_or_else(|| {
                RangeError::MissingHistory(format!("commit {} is not in the clone", short(sha)))
            }),
            None => Err(RangeError::MissingHistory(format!(
                "commit {} is not in the clone and could not be fetched",
                short(sha)
            ))),
        },
        Rev::DefaultBranch(name) => history.default_branch(name).ok_or_else(|| {
            RangeError::MissingHistory(format!(
                "the default branch {name} is not in the clone and could not be fetched"
            ))
        }),
    }
}

/// Resolves a user's `--head` (fetching it when it is a SHA the clone lacks).
pub fn resolve_head(history: &mut dyn History, head: &str) -> Result<String, String> {
    resolve_rev(history, &Rev::User(head.to_string())).map_err(|e| match e {
        RangeError::UnknownRevision(m) | RangeError::MissingHistory(m) => m,
    })
}

fn looks_like_sha(text: &str) -> bool {
    (7..=40).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Deepening steps: 32, 64, 128… commits until `max_depth` in total.
fn deepen_steps(max_depth: u32) -> impl Iterator<Item = u32> {
    let mut total = 0u32;
    let mut step = 32u32;
    std::iter::from_fn(move || {
        if total >= max_depth {
            return None;
        }
        let this = step.min(max_depth - total);
        total += this;
        step = step.saturating_mul(2);
        Some(this)
    })
}

fn find_merge_base(history: &mut dyn History, a: &str, b: &str, max_depth: u32) -> Option<String> {
    if let Some(found) = history.merge_base(a, b) {
        return Some(found);
    }
    for step in deepen_steps(max_depth) {
        if !history.is_shallow() || !history.deepen(&[a, b], step) {
            return None;
        }
        if let Some(found) = history.merge_base(a, b) {
            return Some(found);
        }
    }
    None
}

fn is_ancestor_deepening(
    history: &mut dyn History,
    ancestor: &str,
    descendant: &str,
    max_depth: u32,
) -> bool {
    if history.is_ancestor(ancestor, descendant) {
        return true;
    }
    for step in deepen_steps(max_depth) {
        if !history.is_shallow() || !history.deepen(&[ancestor, descendant], step) {
            return false;
        }
        if history.is_ancestor(ancestor, descendant) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{PullRequest, Push};
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn likely_pair_only_from_full_shas() {
        let (a, b) = ("a".repeat(40), "B".repeat(40));
        let flags = |base: &str, head: Option<&str>| RangeFlags {
            base: Some(base.to_string()),
            head: head.map(str::to_string),
        };
        let guess = |flags: &RangeFlags| likely_pair(&request(&Event::Local, flags, None, None));
        assert_eq!(
            guess(&flags(&a, Some(&b))),
            Some((a.clone(), "b".repeat(40)))
        );
        // A branch name, a short SHA or the checked-out HEAD must be resolved first: no guess.
        assert_eq!(guess(&flags("main", Some(&b))), None);
        assert_eq!(guess(&flags(&a[..12], Some(&b))), None);
        assert_eq!(guess(&flags(&a, None)), None);
        let push = |before: &str| RangeRequest::Push {
            before: before.to_string(),
            after: b.clone(),
            default_branch: None,
        };
        assert_eq!(likely_pair(&push(&a)), Some((a.clone(), "b".repeat(40))));
        assert_eq!(likely_pair(&push(ZERO_SHA)), None);
        assert_eq!(likely_pair(&RangeRequest::All { why: "x".into() }), None);
    }

    /// A history where each commit has parents; `visible` commits are in the clone, the rest can
    /// be fetched (or deepened into) only when `remote` is set.
    struct FakeHistory {
        parents: BTreeMap<&'static str, Vec<&'static str>>,
        visible: BTreeSet<String>,
        remote: bool,
        branches: BTreeMap<&'static str, &'static str>,
        deepen_calls: u32,
    }

    impl FakeHistory {
        /// `main: a ← b ← c`, `feature: b ← f1 ← f2`, `forced: a ← x`.
        fn new(visible: &[&str], remote: bool) -> Self {
            let parents = BTreeMap::from([
                ("a", vec![]),
                ("b", vec!["a"]),
                ("c", vec!["b"]),
                ("f1", vec!["b"]),
                ("f2", vec!["f1"]),
                ("x", vec!["a"]),
            ]);
            FakeHistory {
                parents,
                visible: visible.iter().map(|s| s.to_string()).collect(),
                remote,
                branches: BTreeMap::from([("main", "c")]),
                deepen_calls: 0,
            }
        }
        fn ancestors(&self, start: &str) -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            let mut stack = vec![start.to_string()];
            while let Some(node) = stack.pop() {
                if !self.visible.contains(&node) || !out.insert(node.clone()) {
                    continue;
                }
                for p in self.parents.get(node.as_str()).into_iter().flatten() {
                    stack.push(p.to_string());
                }
            }
            out
        }
    }

    impl History for FakeHistory {
        fn resolve(&self, rev: &str) -> Option<String> {
            let rev = if rev == "HEAD" { "f2" } else { rev };
            self.visible.contains(rev).then(|| rev.to_string())
        }
        fn default_branch(&mut self, name: &str) -> Option<String> {
            let tip = self.branches.get(name)?.to_string();
            if !self.visible.contains(&tip) && self.remote {
                self.visible.insert(tip.clone());
            }
            self.resolve(&tip)
        }
        fn merge_base(&self, a: &str, b: &str) -> Option<String> {
            let left = self.ancestors(a);
            // Nearest common ancestor, walking b's first parents.
            let mut node = Some(b.to_string());
            while let Some(n) = node {
                if left.contains(&n) && self.visible.contains(&n) {
                    return Some(n);
                }
                node = self
                    .parents
                    .get(n.as_str())
                    .and_then(|p| p.first())
                    .map(|s| s.to_string());
                if let Some(next) = &node
                    && !self.visible.contains(next)
                {
                    return None;
                }
            }
            None
        }
        fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
            self.ancestors(descendant).contains(ancestor)
        }
        fn is_shallow(&self) -> bool {
            self.parents.keys().any(|c| !self.visible.contains(*c))
        }
        fn fetch_commits(&mut self, shas: &[&str]) -> bool {
            if !self.remote {
                return shas.iter().all(|s| self.visible.contains(*s));
            }
            for sha in shas {
                if self.parents.contains_key(sha) {
                    self.visible.insert(sha.to_string());
                }
            }
            shas.iter().all(|s| self.visible.contains(*s))
        }
        fn deepen(&mut self, _tips: &[&str], _by: u32) -> bool {
            if !self.remote {
                return false;
            }
            self.deepen_calls += 1;
            let all: Vec<String> = self.parents.keys().map(|s| s.to_string()).collect();
            self.visible.extend(all);
            true
        }
    }

    fn pr() -> Event {
        Event::PullRequest(PullRequest {
            number: 7,
            base_sha: "c".into(),
            head_sha: "f2".into(),
            base_ref: "main".into(),
            head_ref: "users/a/b".into(),
            author: "a".into(),
            title: "t".into(),
            changed_files: None,
        })
    }

    fn push(before: &str, after: &str, git_ref: &str) -> Event {
        Event::Push(Push {
            before: before.into(),
            after: after.into(),
            git_ref: git_ref.into(),
            forced: false,
            created: false,
            deleted: false,
        })
    }

    fn diff_of(resolution: Resolution) -> (String, String) {
        match resolution {
            Resolution::Diff { base, head, .. } => (base, head),
            other => panic!("expected a diff, got {other:?}"),
        }
    }

    const ALL: &[&str] = &["a", "b", "c", "f1", "f2", "x"];

    #[test]
    fn pull_request_uses_the_merge_base_even_when_base_moved_on() {
        let request = request(&pr(), &RangeFlags::default(), Some("main"), None);
        let mut history = FakeHistory::new(ALL, false);
        assert_eq!(
            diff_of(resolve(&request, &mut history, 100).unwrap()),
            ("b".into(), "f2".into())
        );
    }

    #[test]
    fn a_shallow_pull_request_clone_is_deepened() {
        let request = request(&pr(), &RangeFlags::default(), Some("main"), None);
        let mut history = FakeHistory::new(&["c", "f2"], true);
        assert_eq!(
            diff_of(resolve(&request, &mut history, 100).unwrap()),
            ("b".into(), "f2".into())
        );
        assert_eq!(history.deepen_calls, 1);
    }

    #[test]
    fn a_shallow_clone_without_remote_reports_missing_history() {
        let request = request(&pr(), &RangeFlags::default(), Some("main"), None);
        let mut history = FakeHistory::new(&["c", "f2"], false);
        assert!(matches!(
            resolve(&request, &mut history, 100),
            Err(RangeError::MissingHistory(_))
        ));
    }

    #[test]
    fn push_compares_before_and_after() {
        let request = request(
            &push("f1", "f2", "refs/heads/feature"),
            &RangeFlags::default(),
            Some("main"),
            None,
        );
        let mut history = FakeHistory::new(ALL, false);
        assert_eq!(
            diff_of(resolve(&request, &mut history, 100).unwrap()),
            ("f1".into(), "f2".into())
        );
    }

    #[test]
    fn force_push_falls_back_to_the_default_branch_with_a_notice() {
        let request = request(
            &push("x", "f2", "refs/heads/feature"),
            &RangeFlags::default(),
            Some("main"),
            None,
        );
        let mut history = FakeHistory::new(ALL, false);
        let resolution = resolve(&request, &mut history, 100).unwrap();
        let Resolution::Diff { base, notes, .. } = resolution else {
            panic!()
        };
        assert_eq!(base, "b");
        assert!(notes[0].message.contains("force push"));
    }

    #[test]
    fn new_branch_push_uses_the_merge_base_with_the_default_branch() {
        let request = request(
            &push(ZERO_SHA, "f2", "refs/heads/feature"),
            &RangeFlags::default(),
            Some("main"),
            None,
        );
        let mut history = FakeHistory::new(ALL, false);
        assert_eq!(
            diff_of(resolve(&request, &mut history, 100).unwrap()),
            ("b".into(), "f2".into())
        );
    }

    #[test]
    fn tag_pushes_first_pushes_of_main_schedules_select_all() {
        let flags = RangeFlags::default();
        assert!(matches!(
            request(&push("b", "c", "refs/tags/v1"), &flags, Some("main"), None),
            RangeRequest::All { .. }
        ));
        assert!(matches!(
            request(
                &push(ZERO_SHA, "c", "refs/heads/main"),
                &flags,
                Some("main"),
                None
            ),
            RangeRequest::All { .. }
        ));
        assert!(matches!(
            request(&Event::Schedule, &flags, Some("main"), None),
            RangeRequest::All { .. }
        ));
        assert!(matches!(
            request(&Event::Other, &flags, Some("main"), None),
            RangeRequest::All { .. }
        ));
    }

    #[test]
    fn deleted_branch_changes_nothing() {
        let mut event = push("c", ZERO_SHA, "refs/heads/gone");
        if let Event::Push(p) = &mut event {
            p.deleted = true;
        }
        assert!(matches!(
            request(&event, &RangeFlags::default(), Some("main"), None),
            RangeRequest::Nothing { .. }
        ));
    }

    #[test]
    fn merge_group_is_two_dot() {
        let event = Event::MergeGroup {
            base_sha: "c".into(),
            head_sha: "f2".into(),
        };
        let request = request(&event, &RangeFlags::default(), Some("main"), None);
        let mut history = FakeHistory::new(ALL, false);
        assert_eq!(
            diff_of(resolve(&request, &mut history, 100).unwrap()),
            ("c".into(), "f2".into())
        );
    }

    #[test]
    fn dispatch_compares_with_the_default_branch() {
        let event = Event::WorkflowDispatch { services: None };
        let request = request(&event, &RangeFlags::default(), Some("main"), Some("f2"));
        let mut history = FakeHistory::new(ALL, false);
        assert_eq!(
            diff_of(resolve(&request, &mut history, 100).unwrap()),
            ("b".into(), "f2".into())
        );
    }

    #[test]
    fn flags_win_over_the_event_and_unknown_revisions_are_usage_errors() {
        let flags = RangeFlags {
            base: Some("a".into()),
            head: Some("c".into()),
        };
        let request = request(&pr(), &flags, Some("main"), None);
        let mut history = FakeHistory::new(ALL, false);
        assert_eq!(
            diff_of(resolve(&request, &mut history, 100).unwrap()),
            ("a".into(), "c".into())
        );
        let flags = RangeFlags {
            base: Some("nope".into()),
            head: None,
        };
        let request = super::request(&pr(), &flags, Some("main"), None);
        assert!(matches!(
            resolve(&request, &mut history, 100),
            Err(RangeError::UnknownRevision(_))
        ));
    }

    #[test]
    fn deepening_doubles_up_to_the_bound() {
        assert_eq!(deepen_steps(200).collect::<Vec<_>>(), vec![32, 64, 104]);
        assert_eq!(deepen_steps(0).count(), 0);
    }
}
