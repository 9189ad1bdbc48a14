//! `shipgate build`: builds the plan's images (given with `--plan`, or planned here), reports
//! every service, and outputs `images`.

use super::{Session, detect, plan};
use crate::build::ServiceReport;
use crate::build::jobs::{self, Action, Job};
use crate::build::log::{Layout, Log};
use crate::build::scheduler::{self, Clients};
use crate::build::workflow::{GitHub, Timing, retry_policy};
use crate::cli::{BuildArgs, non_empty};
use crate::config::Config;
use crate::detect::git::GitRepository;
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::plan::Plan;
use crate::registry::RegistryClient;
use crate::report::build as report;
use crate::runner::Summary;
use serde_json::json;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

const TITLE: &str = "shipgate build";

pub(super) fn execute(session: &Session, args: &BuildArgs) -> Result<u8, Failure> {
    let (plan, config) = load_plan(session, args)?;
    let mut summary = Summary::default();
    let stage = run_builds(session, &plan, config.as_ref(), args, &mut summary)?;
    session.publish(&stage.outputs, &summary)?;
    session.print_result(&stage.terminal, &stage.json);
    Ok(if stage.failed { 1 } else { 0 })
}

/// What the build stage produced, for `build` alone or as a stage of `run`.
pub(super) struct BuildStage {
    /// `images`.
    pub outputs: Vec<(String, String)>,
    pub failed: bool,
    pub terminal: String,
    pub json: serde_json::Value,
}

/// Builds the plan's images; adds the build section to `summary` and reports diagnostics.
pub(super) fn run_builds(
    session: &Session,
    plan: &Plan,
    config: Option<&Config>,
    args: &BuildArgs,
    summary: &mut Summary,
) -> Result<BuildStage, Failure> {
    let token = non_empty(args.plan.detect.github_token.clone());
    mask_secrets(session, plan, token.as_deref());
    let defaults = config.and_then(|c| c.defaults.build.as_ref());
    let fail_fast = args
        .fail_fast
        .or(defaults.and_then(|d| d.fail_fast))
        .unwrap_or(false);
    let push_flag = if args.no_push { Some(false) } else { args.push };
    let (push, no_push_reason) = crate::build::push_decision(push_flag, &plan.context.event);
    let metadata_dir = metadata_dir();
    let settings = jobs::Settings {
        push,
        no_push_reason: no_push_reason.clone(),
        provenance: non_empty(args.provenance.clone()),
        sbom: non_empty(args.sbom.clone()),
        metadata_dir: metadata_dir.clone(),
        workflow_ref: crate::build::workflow_ref(&plan.context),
    };
    let skip_existing = |name: &str| {
        let own = config
            .and_then(|c| c.service_index(name).map(|i| &c.services[i]))
            .and_then(|s| s.settings.build.as_ref())
            .and_then(|b| b.skip_existing);
        args.skip_existing
            .or(own)
            .or(defaults.and_then(|d| d.skip_existing))
            .unwrap_or(false)
    };
    let jobs = jobs::prepare(plan, &settings, &skip_existing).map_err(Failure::Usage)?;
    if !args.dry_run
        && let Some(error) = crate::build::gha_cache::missing_runtime(
            jobs.iter().filter(|j| j.is_active()).map(|j| &j.service),
            session.runner.mode.is_actions(),
            |name| std::env::var(name).ok(),
        )
    {
        return Err(Failure::usage(error));
    }
    // Groups cannot nest: one group per build only when builds never overlap.
    let active = jobs.iter().filter(|j| j.is_active()).count();
    let layout = if args.max_parallel > 1 && active > 1 {
        Layout::Prefixed {
            width: jobs.iter().map(|j| j.service.name.len()).max().unwrap_or(0),
        }
    } else {
        Layout::Grouped
    };
    let log = Log::for_runner(&session.runner, layout);
    // On a live board the builds' output was not streamed: failed builds show their tail after.
    let live = log.is_live();
    let reports = if args.dry_run {
        scheduler::dry_run(&jobs)
    } else {
        let run = Execution {
            token: token.as_deref(),
            push,
            fail_fast,
            metadata_dir: &metadata_dir,
        };
        run.execute(session, plan, args, jobs, log)?
    };
    report::summary(
        &reports,
        push,
        &no_push_reason,
        crate::report::RunMode::from_dry_run(args.dry_run),
        summary,
    );
    Ok(stage_of(session, &reports, args.dry_run, live, summary))
}

/// Masks every secret a build could print before any build starts: the GitHub token, the
/// registry password, the values `build.secrets` hands to builders.
fn mask_secrets(session: &Session, plan: &Plan, token: Option<&str>) {
    if let Some(token) = token {
        session.runner.mask(token);
    }
    if let Some(password) =
        non_empty(crate::context::RunnerEnvironment::current().registry_password)
    {
        session.runner.mask(&password);
    }
    for value in crate::build::secrets::values(plan, |name| std::env::var(name).ok()) {
        session.runner.mask(&value);
    }
}

/// What a real (not dry) build run needs besides the jobs.
struct Execution<'a> {
    token: Option<&'a str>,
    push: bool,
    fail_fast: bool,
    metadata_dir: &'a std::path::Path,
}

impl Execution<'_> {
    /// Runs the jobs on a runtime of their own, with the registry and GitHub clients.
    fn execute(
        &self,
        session: &Session,
        plan: &Plan,
        args: &BuildArgs,
        jobs: Vec<Job>,
        log: Log,
    ) -> Result<Vec<ServiceReport>, Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Failure::usage(Diagnostic::error(
                    TITLE,
                    format!("cannot start the build runtime: {e}"),
                ))
            })?;
        // The GitHub client starts its worker on the runtime it is built in.
        let github = {
            let _inside = runtime.enter();
            github_client(&jobs, self.token, plan, args)?
        };
        std::fs::create_dir_all(self.metadata_dir).map_err(|e| {
            Failure::usage(Diagnostic::error(
                TITLE,
                format!("cannot create {}: {e}", self.metadata_dir.display()),
            ))
        })?;
        let settings = scheduler::Settings {
            max_parallel: usize::from(args.max_parallel),
            fail_fast: self.fail_fast,
            push: self.push,
            workdir: workdir(session),
            timing: Timing {
                timeout: args.workflow_timeout,
                poll_interval: args.poll_interval,
            },
        };
        let clients = Clients {
            registry: Some(RegistryClient::for_run(
                session.registry_insecure.as_deref(),
            )),
            github,
        };
        let local = tokio::task::LocalSet::new();
        let reports = local.block_on(
            &runtime,
            scheduler::run(jobs, settings, Rc::new(log), clients),
        );
        let _ = std::fs::remove_dir_all(self.metadata_dir);
        Ok(reports)
    }
}

/// The stage's outputs, terminal text and JSON from the reports; the dry run's commands go in
/// the summary.
fn stage_of(
    session: &Session,
    reports: &[ServiceReport],
    dry_run: bool,
    live: bool,
    summary: &mut Summary,
) -> BuildStage {
    if dry_run {
        let commands: Vec<String> = reports
            .iter()
            .filter_map(|r| r.command.as_ref().map(|c| format!("# {}\n{c}", r.name)))
            .collect();
        if let Some((title, body)) = report::commands_details(&commands) {
            summary.details(title, body);
        }
    }
    session.report_diagnostics(&report::diagnostics(reports));
    let images = report::images(reports);
    let mut text = terminal(reports, session.color());
    if live {
        for failed in reports.iter().filter(|r| r.outcome.is_failure()) {
            text.push_str(&format!("\n{} (last lines):\n", failed.name));
            for line in &failed.tail {
                text.push_str(&format!("  {line}\n"));
            }
        }
    }
    BuildStage {
        outputs: vec![("images".to_string(), images.to_string())],
        failed: report::failed(reports),
        terminal: text,
        json: json!({ "images": images, "services": reports }),
    }
}

/// The plan from `--plan`, else planned here; plus the config when there is one (for
/// `defaults.build`).
pub(super) fn load_plan(
    session: &Session,
    args: &BuildArgs,
) -> Result<(Plan, Option<Config>), Failure> {
    if let Some(value) = non_empty(args.plan_input.clone()) {
        let mut plan = Plan::load(&value)?;
        // With a given plan, `services` narrows it: one build matrix leg, a manual redeploy.
        if let Some(selection) = non_empty(args.plan.detect.services.clone()) {
            select_services(&mut plan, &selection)?;
        }
        // The plan decided everything else; the config, when present, only adds build defaults.
        let root = GitRepository::open(&session.repo, "origin").ok();
        let config = if session.config_path().exists() {
            Some(session.load_config(root.as_ref().map(|r| r.root()))?)
        } else {
            None
        };
        return Ok((plan, config));
    }
    let (changes, config, context) = detect::run_detect(session, &args.plan.detect)?;
    let repo = GitRepository::open(&session.repo, &config.detect.remote)?;
    let (plan, notes) = plan::make_plan(
        &config,
        &context,
        &changes,
        repo,
        non_empty(args.plan.environment.clone()),
    )?;
    session.report_diagnostics(&changes.diagnostics);
    session.report_diagnostics(&notes);
    Ok((plan, Some(config)))
}

/// Keeps only the plan's services named in `selection` (`all` keeps every one); a name the plan
/// does not have is a usage error.
pub(super) fn select_services(plan: &mut Plan, selection: &str) -> Result<(), Failure> {
    if selection.trim() == "all" {
        return Ok(());
    }
    let wanted: Vec<&str> = selection
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for name in &wanted {
        if !plan.services.iter().any(|s| s.name == *name) {
            return Err(Failure::usage(
                Diagnostic::error(
                    "shipgate",
                    format!("`services` names `{name}`, which is not in the plan"),
                )
                .with_help(format!(
                    "the plan has: {}",
                    if plan.services.is_empty() {
                        "no services".to_string()
                    } else {
                        plan.services
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )),
            ));
        }
    }
    plan.services.retain(|s| wanted.contains(&s.name.as_str()));
    Ok(())
}

/// A private directory for buildx metadata files, under `RUNNER_TEMP` in Actions.
fn metadata_dir() -> PathBuf {
    let base = crate::context::RunnerEnvironment::current()
        .temp
        .unwrap_or_else(std::env::temp_dir);
    let random = crate::runner::output::random_delimiter();
    let suffix = random.trim_start_matches("ghadelimiter_");
    base.join(format!(
        "shipgate-build-{}",
        &suffix[..12.min(suffix.len())]
    ))
}

/// Builds run at the repository root: the plan's paths are relative to it.
fn workdir(session: &Session) -> PathBuf {
    GitRepository::open(&session.repo, "origin")
        .map(|r| r.root().to_path_buf())
        .unwrap_or_else(|_| session.repo.clone())
}

/// The GitHub client, when a job dispatches a workflow; a usage error when it cannot be built.
fn github_client(
    jobs: &[Job],
    token: Option<&str>,
    plan: &Plan,
    args: &BuildArgs,
) -> Result<Option<GitHub>, Failure> {
    let Some(first) = jobs
        .iter()
        .find(|j| matches!(j.action, Action::Workflow(_)))
    else {
        return Ok(None);
    };
    let service = &first.service.name;
    let missing = |what: &str, help: &str| {
        Failure::usage(
            Diagnostic::error(
                TITLE,
                format!("service `{service}` is built by a workflow, which needs {what}"),
            )
            .with_help(help.to_string()),
        )
    };
    let Some(token) = token else {
        return Err(missing(
            "a GitHub token",
            "pass --github-token (the action input `github-token`), with `actions: write` permission",
        ));
    };
    let runner = crate::context::RunnerEnvironment::current();
    let repository = plan
        .context
        .repository
        .clone()
        .or_else(|| runner.repository.clone());
    let Some(repository) = repository else {
        return Err(missing(
            "the repository",
            "run inside GitHub Actions, or set GITHUB_REPOSITORY=owner/name",
        ));
    };
    let api_url = runner.api_url;
    let retry = retry_policy(args.poll_interval.min(Duration::from_secs(1)));
    GitHub::new(&api_url, token, &repository, retry)
        .map(Some)
        .map_err(|message| Failure::usage(Diagnostic::error(TITLE, message)))
}

/// The terminal result; a dry run also lists the commands it would run.
fn terminal(reports: &[ServiceReport], color: bool) -> String {
    let mut text = report::terminal(reports, color);
    for report in reports {
        if report.outcome == crate::build::Outcome::DryRun
            && let Some(command) = &report.command
        {
            text.push_str(&format!("\n# {}\n{command}\n", report.name));
        }
    }
    text
}
