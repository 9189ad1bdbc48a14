//! Which services changed, and why.
//!
//! The range comes from the event (or `--base/--head`), is resolved against git history
//! (deepening shallow clones), and the diff's files are matched against every service's paths in
//! one pass; `depends-on` then pulls in dependents.

pub mod changes;
pub mod git;
pub mod github_api;
pub mod glob;
pub mod graph;
pub mod matcher;
pub mod outputs;
pub mod range;

use crate::config::Config;
use crate::context::{Context, Event};
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use changes::{Affected, Reason};
use git::{FileChange, GitRepository};
use range::{RangeError, RangeFlags, Resolution};
use serde::Serialize;

/// What to do when the event's commits cannot be found, even after deepening.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMissingHistory {
    /// Select every service, with a warning (fail safe: deploy too much rather than too little).
    #[default]
    All,
    /// Fail the step (exit 2).
    Error,
}

/// Detection inputs beyond the config and context.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions {
    pub range: RangeFlags,
    /// `--services`: `all` or a list; overrides detection.
    pub services: Option<String>,
    pub on_missing_history: OnMissingHistory,
    /// Used for the GitHub API fallback when history is missing.
    pub github_token: Option<String>,
}

/// The compared range, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeInfo {
    pub base: Option<String>,
    pub head: Option<String>,
    pub description: String,
}

/// The result of detection.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeSet {
    pub range: RangeInfo,
    pub files: Vec<FileChange>,
    pub affected: Vec<Affected>,
    /// Every configured service name, sorted (for the `changes` output).
    pub all_services: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// `--base-from`: every service with `deploy` → the commit it was compared from (`None`:
    /// unknown, so it counts as changed). The `bases` output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bases: Option<std::collections::BTreeMap<String, Option<String>>>,
}

impl ChangeSet {
    /// A result that compared no commits (a selection, "all services", "nothing").
    fn without_range(
        description: String,
        affected: Vec<Affected>,
        all_services: Vec<String>,
        diagnostics: Vec<Diagnostic>,
    ) -> Self {
        ChangeSet {
            range: RangeInfo {
                base: None,
                head: None,
                description,
            },
            files: Vec::new(),
            affected,
            all_services,
            diagnostics,
            bases: None,
        }
    }

    pub fn is_affected(&self, name: &str) -> bool {
        self.affected.iter().any(|a| a.name == name)
    }
}

const TITLE: &str = "shipgate detect";

/// Runs detection: an explicit selection wins; otherwise the range is resolved (the GitHub API
/// stands in for missing history) and its diff decides.
pub fn detect(
    config: &Config,
    context: &Context,
    repo: &mut GitRepository,
    options: &DetectOptions,
) -> Result<ChangeSet, Failure> {
    let mut all_services: Vec<String> = config.services.iter().map(|s| s.name.clone()).collect();
    all_services.sort();
    let mut diagnostics = config.warnings.clone();
    if let Some((selection, by)) = selection(context, options) {
        match changes::select(config, &selection, by) {
            Ok(Some(affected)) => {
                let head = explicit_head(repo, options)?;
                return Ok(ChangeSet {
                    range: RangeInfo {
                        base: None,
                        head,
                        description: format!("services selected by {by}"),
                    },
                    files: Vec::new(),
                    affected,
                    all_services,
                    diagnostics,
                    bases: None,
                });
            }
            Ok(None) => {}
            Err(unknown) => return Err(unknown_services(&unknown, by)),
        }
    }
    let resolution = match resolve_range(config, context, repo, options)? {
        Ok(resolution) => resolution,
        Err(message) => {
            match from_github_api(config, context, options, &message, &mut diagnostics) {
                Some(fallback) => {
                    return Ok(ChangeSet {
                        all_services,
                        diagnostics,
                        ..fallback
                    });
                }
                None => all_for_missing_history(&message, options, &mut diagnostics)?,
            }
        }
    };
    from_resolution(config, repo, resolution, all_services, diagnostics)
}

/// `--services`, else the `services` input of a `workflow_dispatch`, with who chose it.
fn selection(context: &Context, options: &DetectOptions) -> Option<(String, &'static str)> {
    let dispatch_selection = match &context.event {
        Event::WorkflowDispatch { services } => services
            .clone()
            .map(|s| (s, "the workflow_dispatch input `services`")),
        _ => None,
    };
    options
        .services
        .clone()
        .map(|s| (s, "--services"))
        .or(dispatch_selection)
}

/// An explicit `--head` still names the commit later stages work on.
fn explicit_head(
    repo: &mut GitRepository,
    options: &DetectOptions,
) -> Result<Option<String>, Failure> {
    options
        .range
        .head
        .as_ref()
        .map(|head| {
            range::resolve_head(repo, head)
                .map_err(|message| Failure::usage(Diagnostic::error(TITLE, message)))
        })
        .transpose()
}

fn unknown_services(unknown: &changes::UnknownServices, by: &str) -> Failure {
    Failure::usage(
        Diagnostic::error(
            TITLE,
            format!(
                "unknown service(s) in {by}: {}",
                with_suggestions(&unknown.unknown, &unknown.known)
            ),
        )
        .with_help(format!(
            "configured services: {} (or `all`)",
            unknown.known.join(", ")
        )),
    )
}

/// The range to compare: `Ok(Err(message))` when the history it needs is missing.
fn resolve_range(
    config: &Config,
    context: &Context,
    repo: &mut GitRepository,
    options: &DetectOptions,
) -> Result<Result<Resolution, String>, Failure> {
    let default_branch = context
        .default_branch
        .clone()
        .or_else(|| repo.guess_default_branch());
    let request = range::request(
        &context.event,
        &options.range,
        default_branch.as_deref(),
        context.sha.as_deref(),
    );
    match range::resolve(&request, repo, config.detect.max_fetch_depth) {
        Ok(resolution) => Ok(Ok(resolution)),
        Err(RangeError::UnknownRevision(message)) => Err(Failure::usage(
            Diagnostic::error(TITLE, message)
                .with_help("check --base/--head; in Actions use actions/checkout with `fetch-depth: 0` or pass SHAs that exist"),
        )),
        Err(RangeError::MissingHistory(message)) => Ok(Err(message)),
    }
}

/// The changed files from the GitHub API when the clone lacks the history; `None` (with a
/// warning when the API was asked and failed) when it cannot stand in.
fn from_github_api(
    config: &Config,
    context: &Context,
    options: &DetectOptions,
    message: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ChangeSet> {
    match github_api::changed_files(context, options.github_token.as_deref()) {
        Ok(Some((files, description))) => {
            diagnostics.push(Diagnostic::notice(
                TITLE,
                format!("{message}; the changed files were taken from the GitHub API instead"),
            ));
            let affected = changes::affected_by_files(config, &files);
            Some(ChangeSet {
                range: RangeInfo {
                    base: None,
                    head: None,
                    description,
                },
                files,
                affected,
                all_services: Vec::new(),
                diagnostics: Vec::new(),
                bases: None,
            })
        }
        Ok(None) => None,
        Err(api_problem) => {
            diagnostics.push(Diagnostic::warning(TITLE, api_problem));
            None
        }
    }
}

/// Every service, with a warning, unless `on-missing-history: error`.
fn all_for_missing_history(
    message: &str,
    options: &DetectOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Resolution, Failure> {
    missing_history(message, options.on_missing_history)?;
    diagnostics.push(
        Diagnostic::warning(TITLE, format!("{message}: every service is selected"))
            .with_help("use actions/checkout with `fetch-depth: 0`, or pass `github-token` so the GitHub API can be asked"),
    );
    Ok(Resolution::All {
        why: format!("history unavailable ({message})"),
        notes: Vec::new(),
    })
}

/// The change set a resolved range gives: all, nothing, or the diff's files and services.
fn from_resolution(
    config: &Config,
    repo: &mut GitRepository,
    resolution: Resolution,
    all_services: Vec<String>,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<ChangeSet, Failure> {
    match resolution {
        Resolution::All { why, notes } => {
            diagnostics.extend(notes);
            let affected = changes::all_services(config, &Reason::All { why: why.clone() });
            Ok(ChangeSet::without_range(
                why,
                affected,
                all_services,
                diagnostics,
            ))
        }
        Resolution::Nothing { why } => {
            diagnostics.push(Diagnostic::notice(
                TITLE,
                format!("{why}: no service changed"),
            ));
            Ok(ChangeSet::without_range(
                why,
                Vec::new(),
                all_services,
                diagnostics,
            ))
        }
        Resolution::Diff {
            base,
            head,
            description,
            notes,
        } => {
            diagnostics.extend(notes);
            let files = repo.diff(&base, &head).map_err(|e| {
                Failure::usage(Diagnostic::error(
                    TITLE,
                    format!("cannot diff {base}..{head}: {}", e.message()),
                ))
            })?;
            let affected = changes::affected_by_files(config, &files);
            // A config change is when typos in paths are made: check them against the new tree.
            let config_changed = files.iter().any(|f| f.path == config.path);
            if config_changed && let Ok(tree) = repo.tree_files(&head) {
                diagnostics.extend(changes::unmatched_path_warnings(
                    config,
                    tree.iter().map(String::as_str),
                ));
            }
            Ok(ChangeSet {
                range: RangeInfo {
                    base: Some(base),
                    head: Some(head),
                    description,
                },
                files,
                affected,
                all_services,
                diagnostics,
                bases: None,
            })
        }
    }
}

fn missing_history(message: &str, policy: OnMissingHistory) -> Result<(), Failure> {
    match policy {
        OnMissingHistory::All => Ok(()),
        OnMissingHistory::Error => Err(Failure::usage(
            Diagnostic::error(TITLE, format!("{message} (on-missing-history: error)"))
                .with_help("use actions/checkout with `fetch-depth: 0`, or pass `github-token` so the GitHub API can be asked"),
        )),
    }
}

/// Each unknown name, with the configured name it most likely meant: `auht (did you mean
/// `auth`?)`.
fn with_suggestions(unknown: &[String], known: &[String]) -> String {
    unknown
        .iter()
        .map(|name| {
            let closest = known
                .iter()
                .map(|k| (strsim::jaro_winkler(name, k), k))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match closest {
                Some((_, k)) => format!("{name} (did you mean `{k}`?)"),
                None => name.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
