//! `deploy` when the config has `deploy.gitops`: write the planned images into the
//! kustomization.yaml through the GitHub API (a commit, or a pull request) instead of applying
//! to a cluster; a dry run or a pull-request run shows the diff of the file only.

use super::Session;
use super::deploy::{DeployInputs, DeployStage};
use super::manifests::Resolved;
use crate::cli::non_empty;
use crate::config::Config;
use crate::config::deploy_section::{GitopsSettings, expand_environment, kustomization_file};
use crate::deploy::result::{ServiceResult, Status, result_json};
use crate::diagnostic::{Diagnostic, Location};
use crate::error::Failure;
use crate::gitops::follow::{Follow, Followed, should_follow};
use crate::gitops::message::{About, branch_name};
use crate::gitops::write::{Outcome, Request, Target, write_back};
use crate::gitops::{Decision, ServiceImage, decide, edit};
use crate::plan::Plan;
use crate::report::gitops::{Ending, Report};
use crate::runner::Summary;

const TITLE: &str = "shipgate deploy: gitops";
/// `deploy.gitops.branch` that opens a pull request.
const PULL_REQUEST: &str = "pull-request";

fn usage(message: impl Into<String>) -> Failure {
    Failure::usage(Diagnostic::error(TITLE, message))
}

/// Runs the write-back when configured; `None` leaves `deploy` to the other paths.
pub(super) fn run_if_configured(
    session: &Session,
    plan: &Plan,
    config: &Config,
    inputs: &DeployInputs,
    resolved: &Resolved,
    summary: &mut Summary,
) -> Result<Option<DeployStage>, Failure> {
    let Some(settings) = &config.deploy.gitops else {
        return Ok(None);
    };
    let environment = super::manifests::environment(plan, inputs);
    let path = kustomization_path(session, settings, environment.as_deref())?;
    let images = crate::gitops::images(
        &crate::gitops::planned(plan),
        resolved.digests,
        resolved.overrides,
    )
    .map_err(|errors| {
        Failure::Usage(
            errors
                .into_iter()
                .map(|e| Diagnostic::error(TITLE, e))
                .collect(),
        )
    })?;
    let about = About {
        environment: environment.as_deref(),
        path: &path,
        revision: &plan.context.sha,
        run_url: resolved.options.run_url.as_deref(),
    };
    let decision = decide(images.len(), &plan.context.event, inputs.dry_run);
    let (diff, ending) = match decision {
        Decision::Nothing => (String::new(), Ending::Previewed),
        Decision::Preview(why) => {
            super::manifests::preview_notice(
                session,
                TITLE,
                why.notice(
                    "the write-back (the diff of the kustomization)",
                    "writes nothing",
                ),
            );
            (preview(session, &path, &images)?, Ending::Previewed)
        }
        Decision::Write => {
            let target = target(settings, plan, environment.as_deref())?;
            write(
                session,
                inputs,
                &Request {
                    path: &path,
                    target,
                    images: &images,
                    about,
                },
            )?
        }
    };
    let followed = follow(session, inputs, resolved, &images, &ending)?;
    let report = Report {
        path: &path,
        branch: &settings.branch,
        images: &images,
        diff: &diff,
        ending,
    };
    Ok(Some(stage(session, &report, &followed, summary)))
}

/// With a kubeconfig, after a write to a branch the controller syncs: wait for each service's
/// workload to carry its new image and roll out (bounded by `deploy-timeout`; no rollback).
fn follow(
    session: &Session,
    inputs: &DeployInputs,
    resolved: &Resolved,
    images: &[ServiceImage],
    ending: &Ending,
) -> Result<Vec<Followed>, Failure> {
    let cluster = resolved.kubeconfig.is_some() || super::deploy::cluster_configured();
    match should_follow(ending, cluster) {
        Follow::No => return Ok(Vec::new()),
        Follow::NotMerged => {
            session.runner.diagnostic(&Diagnostic::notice(
                TITLE,
                "the GitOps controller applies the images once the pull request is merged; this run does not wait for the rollouts",
            ));
            return Ok(Vec::new());
        }
        Follow::Wait => {}
    }
    let (runtime, cluster) = super::manifests::connect(inputs, resolved)?;
    let (board, progress) = super::deploy::progress_sink(session);
    let options = resolved.options;
    let bound = options.deadline.unwrap_or(
        crate::deploy::orchestrate::DEFAULT_PROGRESS_DEADLINE
            + crate::deploy::orchestrate::DEADLINE_MARGIN,
    );
    crate::runner::write_stderr(&format!(
        "deploy: following the GitOps controller on {} (at most {}s)\n",
        cluster.server,
        bound.as_secs()
    ));
    let followed = runtime.block_on(crate::gitops::follow::follow(
        &cluster,
        resolved.targets,
        images,
        options,
        bound,
        &progress,
    ));
    if let Some(board) = board.and_then(|b| std::sync::Arc::try_unwrap(b).ok()) {
        board.finish();
    }
    Ok(followed)
}

/// The kustomization file, `{environment}` replaced; a directory stands for its
/// kustomization.yaml (resolved in the checkout).
fn kustomization_path(
    session: &Session,
    settings: &GitopsSettings,
    environment: Option<&str>,
) -> Result<String, Failure> {
    let text =
        expand_environment(settings.kustomization.value.trim(), environment).map_err(usage)?;
    Ok(kustomization_file(&session.repo, &text).unwrap_or(text))
}

/// Where the commit goes: the configured branch, or a new branch from the run's branch.
fn target(
    settings: &GitopsSettings,
    plan: &Plan,
    environment: Option<&str>,
) -> Result<Target, Failure> {
    if settings.branch != PULL_REQUEST {
        return Ok(Target::Branch(settings.branch.clone()));
    }
    let base = plan
        .context
        .branch
        .clone()
        .or_else(|| plan.context.default_branch.clone())
        .ok_or_else(|| {
            usage("`deploy.gitops.branch: pull-request` needs the branch the run is on (GITHUB_REF_NAME) or the repository's default branch as the pull request's base; neither is known")
        })?;
    Ok(Target::PullRequest {
        base,
        head: branch_name(environment, &plan.context.sha),
    })
}

/// The diff of the checkout's kustomization, nothing written.
fn preview(session: &Session, path: &str, images: &[ServiceImage]) -> Result<String, Failure> {
    let file = session.repo.join(path);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| usage(format!("cannot read the kustomization `{path}`: {e}")))?;
    let edited = edit::edit_images(&text, &crate::gitops::entries(images))
        .map_err(|e| edit_failure(path, &e))?;
    Ok(crate::gitops::diff(path, &text, &edited))
}

fn edit_failure(path: &str, error: &edit::EditError) -> Failure {
    Failure::usage(
        Diagnostic::error(TITLE, format!("{path}: {}", error.message)).at(Some(Location {
            file: path.to_string(),
            line: error.line as u64,
            column: error.column as u64,
        })),
    )
}

/// The write through the GitHub API: a refused or unreachable API fails the deploy (exit 1); a
/// file that cannot be edited is exit 2.
fn write(
    session: &Session,
    inputs: &DeployInputs,
    request: &Request,
) -> Result<(String, Ending), Failure> {
    let Some(token) = non_empty(inputs.github_token.clone()) else {
        return Err(Failure::usage(
            Diagnostic::error(TITLE, "`deploy.gitops` commits through the GitHub API and needs `github-token`")
                .with_help("give the job `permissions: contents: write` (and `pull-requests: write` for `branch: pull-request`) and pass `github-token: ${{ github.token }}`"),
        ));
    };
    session.runner.mask(&token);
    let context = session.context()?;
    let repository = context
        .repository
        .clone()
        .ok_or_else(|| usage("`deploy.gitops` needs GITHUB_REPOSITORY (owner/name)"))?;
    let permission = match request.target {
        Target::Branch(_) => "contents: write",
        Target::PullRequest { .. } => "contents: write` and `pull-requests: write",
    };
    let mut client = crate::github::Client::new(&context.api_url, &token, &repository)
        .map_err(|e| usage(e.to_string()))?
        .with_permission(permission);
    if !inputs.options.deploy_timeout.is_zero() {
        client = client.with_deadline(inputs.options.deploy_timeout);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start: {e}")))?;
    crate::runner::write_stderr(&format!(
        "deploy: writing {} image{} to {} on {repository}\n",
        request.images.len(),
        if request.images.len() == 1 { "" } else { "s" },
        request.path
    ));
    match runtime.block_on(write_back(&client, request)) {
        Ok(written) => Ok((written.diff, Ending::Done(written.outcome))),
        Err(crate::gitops::write::WriteError::Edit { path, error, .. }) => {
            Err(edit_failure(&path, &error))
        }
        Err(error) => Ok((String::new(), Ending::Failed(error.to_string()))),
    }
}

/// Outputs, summary and annotations.
fn stage(
    session: &Session,
    report: &Report,
    followed: &[Followed],
    summary: &mut Summary,
) -> DeployStage {
    let services: Vec<ServiceResult> = report
        .images
        .iter()
        .map(|image| {
            let (status, reason) = match &report.ending {
                Ending::Previewed => (Status::Skipped, Some("dry run".to_string())),
                Ending::Done(Outcome::UpToDate { .. }) => (Status::Unchanged, None),
                Ending::Done(_) => (Status::Succeeded, None),
                Ending::Failed(message) => (Status::Failed, Some(message.clone())),
            };
            let mut result = ServiceResult::new(&image.service, 0, status);
            result.reason = reason;
            result.image_after = Some(image.reference.clone());
            result.digest = image.entry.digest.clone();
            if let Some(rollout) = followed.iter().find(|f| f.service == image.service) {
                result.workload = Some(rollout.workload.clone());
                result.rollout_message = Some(rollout.message.clone());
                if !rollout.ok {
                    result.status = Status::Failed;
                    result.reason = Some(rollout.message.clone());
                }
            }
            result
        })
        .collect();
    let failed = report.failed() || followed.iter().any(|f| !f.ok);
    for rollout in followed.iter().filter(|f| !f.ok) {
        session.runner.diagnostic(&Diagnostic::error(
            format!("{TITLE}: {}", rollout.service),
            rollout.message.clone(),
        ));
    }
    let headline = report.headline();
    if report.failed() {
        session
            .runner
            .diagnostic(&Diagnostic::error(TITLE, headline.clone()));
    } else {
        session
            .runner
            .diagnostic(&Diagnostic::notice(TITLE, headline.clone()));
    }
    let (markdown, diff) = report.markdown();
    summary.push(markdown);
    if !followed.is_empty() {
        summary.push(crate::gitops::follow::markdown(followed));
    }
    if let Some(diff) = diff {
        summary.details(format!("Diff of {}", report.path), diff);
    }
    let result = result_json(&services);
    let gitops = report.json();
    let mut json = result.clone();
    json["gitops"] = gitops.clone();
    let mut terminal = format!("{headline}\n");
    if !report.diff.is_empty() {
        terminal.push_str(report.diff);
    }
    DeployStage {
        outputs: vec![
            ("result".into(), result.to_string()),
            ("gitops".into(), gitops.to_string()),
        ],
        failed,
        terminal,
        json,
    }
}
