//! `shipgate plan`.

use super::{Session, detect};
use crate::cli::{PlanArgs, non_empty};
use crate::context::Context;
use crate::detect::ChangeSet;
use crate::detect::git::GitRepository;
use crate::detect::range::History;
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::plan::content::{self, BuildInputs};
use crate::plan::{Plan, PlanContext, ServiceFacts, version};
use crate::report;
use crate::runner::Summary;

pub(super) fn execute(session: &Session, args: &PlanArgs) -> Result<u8, Failure> {
    let (changes, config, context, repo) =
        detect::run_detect_with(session, &args.detect, prefetch_tree)?;
    let (plan, notes) = make_plan(
        &config,
        &context,
        &changes,
        repo,
        non_empty(args.environment.clone()),
    )?;
    let mut summary = Summary::default();
    report::plan::summary(&plan, &mut summary);
    report::detect::summary(&changes, &mut summary);
    session.report_diagnostics(&changes.diagnostics);
    session.report_diagnostics(&notes);
    let mut outputs = crate::detect::outputs::outputs(&changes, args.detect.list_files);
    outputs.retain(|(name, _)| name != "matrix");
    outputs.extend(crate::plan::outputs::outputs(&plan));
    session.publish(&outputs, &summary)?;
    session.print_result(
        &report::plan::terminal(&plan, session.color()),
        &serde_json::to_value(&plan).unwrap_or_default(),
    );
    Ok(0)
}

/// The commit a run builds: the pull request's head, the pushed commit, else GITHUB_SHA or HEAD.
fn planned_commit(
    context: &Context,
    changes: &ChangeSet,
    repo: &mut GitRepository,
) -> Result<String, Failure> {
    let wanted = crate::plan::planned_revision(
        &context.event,
        changes.range.head.as_deref(),
        context.sha.as_deref(),
    );
    if let Some(sha) = repo.resolve(&wanted) {
        return Ok(sha);
    }
    if repo.fetch_commits(&[&wanted])
        && let Some(sha) = repo.resolve(&wanted)
    {
        return Ok(sha);
    }
    Err(Failure::usage(Diagnostic::error(
        "shipgate plan",
        format!("the commit to plan ({wanted}) is not in the clone and could not be fetched"),
    )))
}

/// Reads versions and content digests from git, then plans.
pub(super) fn make_plan(
    config: &crate::config::Config,
    context: &Context,
    changes: &ChangeSet,
    mut repo: GitRepository,
    environment: Option<String>,
) -> Result<(Plan, Vec<Diagnostic>), Failure> {
    let head = planned_commit(context, changes, &mut repo)?;
    let source_date_epoch = source_date_epoch()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let environment = environment.or_else(|| config.defaults.environment.clone());
    let mut context = context.clone();
    if context.default_branch.is_none() {
        context.default_branch = repo.guess_default_branch();
    }
    let plan_context = PlanContext::new(
        &context,
        &head,
        repo.current_branch(),
        environment,
        source_date_epoch,
        now,
    );

    let inputs = build_inputs(config);
    let dockerfiles: Vec<&str> = inputs
        .iter()
        .filter_map(|i| i.dockerfile.as_deref())
        .collect();
    let tree = repo
        .tree_entries_below(&head, &config.matcher.directories(), &dockerfiles)
        .map_err(|e| {
            Failure::usage(Diagnostic::error(
                "shipgate plan",
                format!("cannot read the tree of {head}: {}", e.message()),
            ))
        })?;
    let digests = content::digests(config, &tree, &inputs);
    let files = CommitFiles {
        repo: &repo,
        commit: head.clone(),
        tree: &tree,
    };
    let affected: std::collections::HashSet<&str> =
        changes.affected.iter().map(|a| a.name.as_str()).collect();
    let facts: Vec<ServiceFacts> = config
        .services
        .iter()
        .zip(digests)
        .map(|(service, content)| ServiceFacts {
            version: (affected.contains(service.name.as_str()) && service.image.is_some())
                .then(|| {
                    service
                        .settings
                        .version
                        .as_ref()
                        .map(|v| version::resolve(&v.value, &files))
                })
                .flatten(),
            content,
        })
        .collect();
    crate::plan::plan(config, plan_context, &changes.affected, &facts)
}

/// What besides its files goes into each service's `{content}` digest (by config index).
fn build_inputs(config: &crate::config::Config) -> Vec<BuildInputs> {
    (0..config.services.len())
        .map(|index| {
            let spec = crate::plan::build_spec(config, index);
            BuildInputs {
                dockerfile: Some(spec.dockerfile),
                target: spec.target,
                args: spec.args.into_iter().collect(),
            }
        })
        .collect()
}

/// Starts reading the tree entries `{content}` needs of the commit that will most likely be
/// planned, on a thread, while detection's `git diff` runs ([`make_plan`] takes them only if
/// it plans that very commit with the same paths).
fn prefetch_tree(
    config: &crate::config::Config,
    context: &Context,
    repo: &mut GitRepository,
    likely_head: Option<&str>,
) {
    let Some(likely_head) = likely_head else {
        return;
    };
    let wanted =
        crate::plan::planned_revision(&context.event, Some(likely_head), context.sha.as_deref());
    let Some(head) = repo.resolve(&wanted) else {
        return;
    };
    let directories = config
        .matcher
        .directories()
        .into_iter()
        .map(str::to_string)
        .collect();
    let dockerfiles = build_inputs(config)
        .into_iter()
        .filter_map(|i| i.dockerfile)
        .collect();
    repo.prefetch_tree_entries(&head, directories, dockerfiles);
}

/// `SOURCE_DATE_EPOCH`, when set: the run time of reproducible builds.
fn source_date_epoch() -> Result<Option<i64>, Failure> {
    let Some(value) = crate::context::RunnerEnvironment::current().source_date_epoch else {
        return Ok(None);
    };
    value.trim().parse::<i64>().map(Some).map_err(|_| {
        Failure::usage(Diagnostic::error(
            "shipgate plan",
            format!(
                "SOURCE_DATE_EPOCH={} is not a number of seconds",
                crate::reference::shown(&value)
            ),
        ))
    })
}

/// Files of one commit, for version sources; `tree` holds some of its entries (sorted by path),
/// read by blob id without looking the path up again.
struct CommitFiles<'a> {
    repo: &'a GitRepository,
    commit: String,
    tree: &'a [content::TreeEntry],
}

impl version::Files for CommitFiles<'_> {
    fn read(&self, path: &str) -> Option<String> {
        let path = path.trim_start_matches("./");
        match self.tree.binary_search_by(|e| e.path.as_str().cmp(path)) {
            Ok(found) => self.repo.read_blob(&self.tree[found].blob),
            Err(_) => self.repo.read_file(&self.commit, path),
        }
    }
    fn tags(&self) -> Vec<String> {
        self.repo.tags_reachable_from(&self.commit)
    }
}
