//! `shipgate detect`.

use super::Session;
use crate::cli::{DetectArgs, non_empty};
use crate::config::Config;
use crate::detect::git::GitRepository;
use crate::detect::outputs::{self, ListFiles};
use crate::detect::range::{self, RangeFlags, likely_pair};
use crate::detect::{ChangeSet, DetectOptions};
use crate::error::Failure;
use crate::report;
use crate::runner::Summary;

pub(super) fn execute(session: &Session, args: &DetectArgs) -> Result<u8, Failure> {
    let (changes, _config, _context) = run_detect(session, args)?;
    let mut summary = Summary::default();
    report::detect::summary(&changes, &mut summary);
    emit(session, &changes, args.list_files, &summary, Vec::new())?;
    Ok(0)
}

/// Detection with everything loaded; shared with `run`.
pub(super) fn run_detect(
    session: &Session,
    args: &DetectArgs,
) -> Result<(ChangeSet, Config, crate::context::Context), Failure> {
    let (changes, config, context, _repo) = run_detect_with(session, args, |_, _, _, _| {})?;
    Ok((changes, config, context))
}

/// [`run_detect`] that lets a later stage start work while `git diff` runs: `prepare` is called
/// once the config is loaded, before the range is compared, with the head of the likely range
/// (full SHA) when it is known. Hands back the repository too.
pub(super) fn run_detect_with(
    session: &Session,
    args: &DetectArgs,
    prepare: impl FnOnce(&Config, &crate::context::Context, &mut GitRepository, Option<&str>),
) -> Result<(ChangeSet, Config, crate::context::Context, GitRepository), Failure> {
    let token = non_empty(args.github_token.clone());
    if let Some(token) = &token {
        session.runner.mask(token);
    }
    let context = session.context()?;
    let mut repo = GitRepository::open(&session.repo, "origin")?;
    let options = DetectOptions {
        range: RangeFlags {
            base: non_empty(args.base.clone()),
            head: non_empty(args.head.clone()),
        },
        services: non_empty(args.services.clone()),
        on_missing_history: args.on_missing_history,
        github_token: token,
    };
    // git reads the trees while the config loads (used only if the range turns out the same).
    let likely = likely_pair(&range::request(
        &context.event,
        &options.range,
        context.default_branch.as_deref(),
        context.sha.as_deref(),
    ));
    if options.services.is_none()
        && let Some((base, head)) = &likely
    {
        repo.prefetch_diff(base, head);
    }
    let config = session.load_config(Some(repo.root()))?;
    repo.set_remote(&config.detect.remote);
    prepare(
        &config,
        &context,
        &mut repo,
        likely.as_ref().map(|(_, head)| head.as_str()),
    );
    let changes = crate::detect::detect(&config, &context, &mut repo, &options)?;
    let changes = super::bases::apply(session, args, &config, &context, &mut repo, changes)?;
    if !repo.fetches.is_empty() {
        session
            .runner
            .group("shipgate: fetched history", &repo.fetches.join("\n"));
    }
    Ok((changes, config, context, repo))
}

/// Reports a change set: diagnostics, outputs (later stages' `extra` outputs replace same-named
/// ones), the summary, and the result on stdout.
pub(super) fn emit(
    session: &Session,
    changes: &ChangeSet,
    list_files: ListFiles,
    summary: &Summary,
    extra: Vec<(String, String)>,
) -> Result<(), Failure> {
    session.report_diagnostics(&changes.diagnostics);
    let mut all = outputs::outputs(changes, list_files);
    all.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
    all.extend(extra);
    session.publish(&all, summary)?;
    if session.runner.mode.is_actions() && !changes.files.is_empty() {
        session.runner.group(
            &format!("shipgate: {} changed files", changes.files.len()),
            &report::detect::file_log(changes),
        );
    }
    let mut human = report::detect::terminal(changes, session.color());
    // `--list-files` asks for the list: print it, in its format, after the report.
    if let Some(files) = outputs::changed_files(changes, list_files) {
        human.push_str(&files);
        if !files.ends_with('\n') {
            human.push('\n');
        }
    }
    session.print_result(&human, &json_result(changes, list_files));
    Ok(())
}

/// The `--format json` document of detect, borrowing the change set (files can be many).
#[derive(serde::Serialize)]
pub(super) struct DetectJson<'a> {
    range: &'a crate::detect::RangeInfo,
    services: serde_json::Value,
    changes: serde_json::Value,
    matrix: serde_json::Value,
    any_changed: bool,
    affected: &'a [crate::detect::changes::Affected],
    files: &'a [crate::detect::git::FileChange],
    diagnostics: &'a [crate::diagnostic::Diagnostic],
    /// With `--list-files`: the changed paths as a JSON array, whatever the output format is
    /// (the `changed-files` output carries that format).
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_files: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bases: Option<&'a std::collections::BTreeMap<String, Option<String>>>,
}

/// The `--format json` document of detect.
pub(super) fn json_result(changes: &ChangeSet, list_files: ListFiles) -> DetectJson<'_> {
    DetectJson {
        range: &changes.range,
        services: outputs::services(changes),
        changes: outputs::changes_map(changes),
        matrix: outputs::matrix(changes),
        any_changed: !changes.affected.is_empty(),
        affected: &changes.affected,
        files: &changes.files,
        diagnostics: &changes.diagnostics,
        changed_files: (list_files != ListFiles::None)
            .then(|| changes.files.iter().map(|f| f.path.as_str()).collect()),
        bases: changes.bases.as_ref(),
    }
}
