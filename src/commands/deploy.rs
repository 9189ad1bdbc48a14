//! `shipgate deploy`: sets the plan's images on their workloads, watches every rollout, runs the
//! health gates, rolls back what failed, and reports it (`result` output, job summary).

use super::{Session, build};
use crate::cli::{BuildArgs, DeployArgs, DeployOptions, non_empty};
use crate::config::Config;
use crate::deploy::kubeconfig;
use crate::deploy::orchestrate::{self, Options, Report};
use crate::deploy::result::{ServiceResult, result_json};
use crate::deploy::target::{self, DeployTarget};
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::plan::Plan;
use crate::runner::Summary;
use std::sync::Arc;
use std::time::Duration;

const TITLE: &str = "shipgate deploy";

pub(super) fn execute(session: &Session, args: &DeployArgs) -> Result<u8, Failure> {
    let (plan, config) = load(session, args)?;
    let mut summary = Summary::default();
    let inputs = DeployInputs {
        options: &args.deploy,
        dry_run: args.dry_run,
        github_token: non_empty(args.plan.detect.github_token.clone()),
        environment: non_empty(args.plan.environment.clone()),
    };
    let stage = run_deploy(session, &plan, &config, &inputs, None, &mut summary)?;
    session.publish(&stage.outputs, &summary)?;
    session.print_result(&stage.terminal, &stage.json);
    Ok(if stage.failed { 1 } else { 0 })
}

/// What the deploy stage takes besides the plan and config.
pub(super) struct DeployInputs<'a> {
    pub options: &'a DeployOptions,
    pub dry_run: bool,
    pub github_token: Option<String>,
    pub environment: Option<String>,
}

/// What the deploy stage produced, for `deploy` alone or as a stage of `run`.
pub(super) struct DeployStage {
    /// `result`.
    pub outputs: Vec<(String, String)>,
    pub failed: bool,
    pub terminal: String,
    pub json: serde_json::Value,
}

fn load(session: &Session, args: &DeployArgs) -> Result<(Plan, Config), Failure> {
    let build_args = BuildArgs {
        plan: args.plan.clone(),
        plan_input: args.plan_input.clone(),
        ..crate::cli::BuildArgs::for_plan_only()
    };
    let (plan, config) = build::load_plan(session, &build_args)?;
    let Some(config) = config else {
        return Err(Failure::usage(
            Diagnostic::error(
                TITLE,
                format!(
                    "the deploy needs the config ({}) for each service's `deploy` settings",
                    session.config_path().display()
                ),
            )
            .with_help("run it in the repository, or point --config at the file"),
        ));
    };
    Ok((plan, config))
}

/// Reads a value given as JSON text or as the path of a file holding it.
fn json_input(name: &str, value: &str) -> Result<serde_json::Value, Failure> {
    let trimmed = value.trim();
    let text = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        trimmed.to_string()
    } else {
        std::fs::read_to_string(trimmed).map_err(|e| {
            Failure::usage(Diagnostic::error(
                TITLE,
                format!("cannot read the {name} file `{trimmed}`: {e}"),
            ))
        })?
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::usage(Diagnostic::error(
            TITLE,
            format!("the {name} value is not valid JSON: {e}"),
        ))
    })
}

/// The `images` input: JSON, a file, or a directory whose `*.json` files (one per build matrix
/// leg, e.g. downloaded artifacts) are merged.
fn images_input(value: &str) -> Result<serde_json::Value, Failure> {
    let path = std::path::Path::new(value.trim());
    if !path.is_dir() {
        return json_input("images", value);
    }
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map_err(|e| {
            Failure::usage(Diagnostic::error(
                TITLE,
                format!("cannot read the images directory `{}`: {e}", path.display()),
            ))
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    let mut merged = serde_json::Map::new();
    for file in entries {
        let value = json_input("images", &file.to_string_lossy())?;
        let Some(object) = value.as_object() else {
            return Err(Failure::usage(Diagnostic::error(
                TITLE,
                format!("{} is not an images object", file.display()),
            )));
        };
        for (service, entry) in object {
            if merged.insert(service.clone(), entry.clone()).is_some() {
                return Err(Failure::usage(Diagnostic::error(
                    TITLE,
                    format!("two images files report the service `{service}`"),
                )));
            }
        }
    }
    Ok(serde_json::Value::Object(merged))
}

/// The `kubeconfig` input decoded; its secrets (or the default kubeconfig's) and the registry
/// password masked before anything prints.
fn masked_kubeconfig(
    session: &Session,
    inputs: &DeployInputs,
) -> Result<Option<kubeconfig::Input>, Failure> {
    crate::deploy::secrets::mask_registry_password(
        &session.runner,
        &crate::context::RunnerEnvironment::current(),
    );
    let Some(value) = non_empty(inputs.options.kubeconfig.clone()) else {
        crate::deploy::secrets::mask_all(&session.runner, kubeconfig::default_secrets());
        return Ok(None);
    };
    let input = kubeconfig::decode(&value).map_err(|e| {
        Failure::usage(Diagnostic::error(TITLE, e.to_string()).with_help(
            "give a file path, the kubeconfig YAML, or its base64 (`base64 -w0 ~/.kube/config`)",
        ))
    })?;
    crate::deploy::secrets::mask_kubeconfig(&session.runner, &value, &input);
    Ok(Some(input))
}

/// The deploy's options from the inputs and the run.
fn deploy_options(session: &Session, plan: &Plan, inputs: &DeployInputs) -> Options {
    let context = session.context().ok();
    let tuning = crate::context::RunnerEnvironment::current().tuning;
    let run_url = plan
        .context
        .run_url
        .clone()
        .or_else(|| context.as_ref().and_then(|c| c.run_url()));
    Options {
        dry_run: inputs.dry_run,
        skip_health: inputs.options.skip_health,
        continue_on_failure: inputs.options.continue_on_failure,
        lock_timeout: inputs.options.lock_timeout,
        lock_poll: tuning.lock_poll.unwrap_or(Duration::from_secs(5)),
        holder: lock_holder(run_url.as_deref()),
        run_url,
        deadline: Some(inputs.options.deploy_timeout).filter(|d| !d.is_zero()),
        throttle: tuning
            .progress_throttle
            .unwrap_or(Duration::from_millis(1000)),
        unschedulable_grace: tuning
            .unschedulable_grace
            .unwrap_or(Duration::from_secs(60)),
    }
}

/// Deploys the plan; adds the deploy section to `summary` and reports annotations.
/// `images` (the build's output) comes from `run`; alone, from `--images`.
pub(super) fn run_deploy(
    session: &Session,
    plan: &Plan,
    config: &Config,
    inputs: &DeployInputs,
    images: Option<serde_json::Value>,
    summary: &mut Summary,
) -> Result<DeployStage, Failure> {
    // Secrets first: nothing may be printed before they are masked.
    let kubeconfig_input = masked_kubeconfig(session, inputs)?;
    let Targets {
        targets,
        skipped,
        digests,
        overrides,
    } = deploy_targets(session, plan, config, inputs, images)?;
    let skipped: Vec<ServiceResult> = skipped
        .into_iter()
        .map(|s| ServiceResult::skipped(&s.service, 0, s.reason))
        .collect();
    let options = deploy_options(session, plan, inputs);
    let resolved = super::manifests::Resolved {
        targets: &targets,
        digests: &digests,
        overrides: &overrides,
        kubeconfig: kubeconfig_input.as_ref(),
        options: &options,
    };
    if let Some(stage) =
        super::gitops::run_if_configured(session, plan, config, inputs, &resolved, summary)?
    {
        return Ok(stage);
    }
    if let Some(stage) =
        super::manifests::run_if_configured(session, plan, config, inputs, &resolved, summary)?
    {
        return Ok(stage);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, format!("cannot start: {e}"))))?;
    let report = if targets.is_empty() {
        Report {
            services: skipped,
            ..Report::default()
        }
    } else if inputs.dry_run && kubeconfig_input.is_none() && !cluster_configured() {
        offline_dry_run(&targets, skipped, inputs.options.skip_health)
    } else {
        on_cluster(
            session,
            inputs,
            plan,
            &runtime,
            kubeconfig_input.as_ref(),
            (&targets, skipped),
            &options,
        )?
    };
    Ok(stage_of(session, &report, inputs.dry_run, summary))
}

/// What the deploy of each planned service is: its workload, image (by the build's digest or an
/// override) and gates; the services left out, with why. Gate header values are masked here.
fn deploy_targets(
    session: &Session,
    plan: &Plan,
    config: &Config,
    inputs: &DeployInputs,
    images: Option<serde_json::Value>,
) -> Result<Targets, Failure> {
    let images = match (images, non_empty(inputs.options.images.clone())) {
        (Some(images), _) => images,
        (None, Some(value)) => images_input(&value)?,
        (None, None) => serde_json::json!({}),
    };
    let digests =
        target::parse_images(&images).map_err(|e| Failure::usage(Diagnostic::error(TITLE, e)))?;
    let overrides = target::parse_overrides(&inputs.options.image_overrides)
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, e)))?;
    let (mut targets, skipped) =
        target::targets(config, plan, &digests, &overrides).map_err(Failure::Usage)?;
    if let Some(mode) = inputs.options.verify_digest {
        for target in &mut targets {
            target.verify_digest = mode;
        }
    }
    for target in &targets {
        if let Some(gate) = &target.health {
            for secret in gate.secret_values() {
                session.runner.mask(&secret);
            }
        }
    }
    Ok(Targets {
        targets,
        skipped,
        digests,
        overrides,
    })
}

/// [`deploy_targets`]' answer.
struct Targets {
    targets: Vec<DeployTarget>,
    skipped: Vec<target::Skipped>,
    /// Service → the build's digest, from `images`.
    digests: std::collections::BTreeMap<String, Option<String>>,
    /// Service → image, from `image-overrides`.
    overrides: std::collections::BTreeMap<String, String>,
}

/// The annotations, the summary section, the terminal text and the `result` output of a deploy.
fn stage_of(
    session: &Session,
    report: &Report,
    dry_run: bool,
    summary: &mut Summary,
) -> DeployStage {
    annotate(session, report);
    let mode = crate::report::RunMode::from_dry_run(dry_run);
    crate::report::deploy::summary(report, mode, summary);
    let json = result_json(&report.services);
    DeployStage {
        outputs: vec![("result".into(), json.to_string())],
        failed: report.failed(),
        terminal: crate::report::deploy::terminal(report, mode),
        json,
    }
}

/// The deploy against the cluster: connect, announce, the live board or plain lines, the
/// GitHub deployment around it.
fn on_cluster(
    session: &Session,
    inputs: &DeployInputs,
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    kubeconfig_input: Option<&kubeconfig::Input>,
    (targets, skipped): (&[DeployTarget], Vec<ServiceResult>),
    options: &Options,
) -> Result<Report, Failure> {
    let context_name = non_empty(inputs.options.kube_context.clone());
    let run_url = options.run_url.clone();
    let config = runtime
        .block_on(kubeconfig::client_config(
            kubeconfig_input,
            context_name.as_deref(),
            &crate::deploy::exec_plugin::Wrapper::from_env().map_or(
                kubeconfig::ExecGuard::Direct,
                kubeconfig::ExecGuard::Bounded,
            ),
        ))
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, e.to_string())))?;
    let cluster = {
        let _guard = runtime.enter();
        crate::deploy::cluster::Cluster::connect(config, run_url.as_deref())
            .map_err(|e| Failure::usage(Diagnostic::error(TITLE, e.to_string())))?
    };
    crate::runner::write_stderr(&format!(
        "deploy: cluster {}{}, {} service{}{}\n",
        cluster.server,
        context_name
            .as_deref()
            .map(|c| format!(" (context {c})"))
            .unwrap_or_default(),
        targets.len(),
        if targets.len() == 1 { "" } else { "s" },
        if inputs.dry_run { " (dry run)" } else { "" }
    ));
    let (board, progress) = progress_sink(session);
    let registry = crate::registry::RegistryClient::for_run(session.registry_insecure.as_deref());
    let github = github_deployments(session, inputs, plan, targets, run_url.clone());
    let started = match &github {
        Some((client, request)) => match runtime.block_on(client.start(request)) {
            Ok(handle) => Some(handle),
            Err(error) => {
                session.runner.diagnostic(&Diagnostic::warning(
                    TITLE,
                    format!("could not record a GitHub deployment: {error}"),
                ));
                // Created but not marked in progress: still finish it, or it stays pending.
                error.created_deployment().cloned()
            }
        },
        None => None,
    };
    let report = runtime.block_on(orchestrate::deploy(
        &cluster, targets, skipped, options, &registry, progress,
    ));
    if let Some(board) = board.and_then(|b| Arc::try_unwrap(b).ok()) {
        board.finish();
    }
    if let (Some((client, _)), Some(handle)) = (&github, &started) {
        use crate::github::deployments::DeploymentOutcome;
        let outcome = if report.failed() {
            DeploymentOutcome::Failure
        } else {
            DeploymentOutcome::Success
        };
        let text = report_line(
            &report,
            crate::report::RunMode::from_dry_run(inputs.dry_run),
        );
        if let Err(error) = runtime.block_on(client.finish(handle, outcome, &text)) {
            session.runner.diagnostic(&Diagnostic::warning(
                TITLE,
                format!("could not update the GitHub deployment: {error}"),
            ));
        }
    }
    Ok(report)
}

/// Where progress lines go: a live board on a terminal, plain lines in logs.
pub(super) fn progress_sink(
    session: &Session,
) -> (
    Option<Arc<crate::report::live::Board>>,
    orchestrate::Progress,
) {
    let board = (!session.runner.mode.is_actions()
        && session.format == crate::cli::Format::Human
        && std::io::IsTerminal::is_terminal(&std::io::stderr()))
    .then(|| Arc::new(crate::report::live::Board::start()));
    let progress: orchestrate::Progress = match &board {
        Some(board) => {
            let board = board.clone();
            Arc::new(move |service: &str, line: &str| board.update(service, line))
        }
        None => Arc::new(|service: &str, line: &str| {
            crate::runner::write_stderr(&format!("{service}: {line}\n"));
        }),
    };
    (board, progress)
}

fn report_line(report: &Report, mode: crate::report::RunMode) -> String {
    crate::report::deploy::headline(report, mode)
}

/// Annotations: every preflight problem, lock error and failed service as an error; warnings.
fn annotate(session: &Session, report: &Report) {
    for problem in &report.problems {
        let mut diagnostic = Diagnostic::error(
            format!("{TITLE}: {}", problem.service),
            problem.message.clone(),
        );
        if let Some(help) = &problem.help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        session.runner.diagnostic(&diagnostic);
    }
    if let Some(error) = &report.lock_error {
        session
            .runner
            .diagnostic(&Diagnostic::error(TITLE, error.clone()));
    }
    for notice in &report.notices {
        if notice.starts_with("warning: ") {
            session.runner.diagnostic(&Diagnostic::warning(
                TITLE,
                notice.trim_start_matches("warning: "),
            ));
        }
    }
    for result in &report.services {
        for warning in &result.warnings {
            session.runner.diagnostic(&Diagnostic::warning(
                format!("{TITLE}: {}", result.service),
                warning.clone(),
            ));
        }
        if matches!(result.health, crate::deploy::result::HealthState::Skipped)
            && result.status != crate::deploy::result::Status::Skipped
        {
            session.runner.diagnostic(&Diagnostic::warning(
                format!("{TITLE}: {}", result.service),
                "the health gate was skipped (skip-health)",
            ));
        }
        if result.status.is_failure() {
            let mut message = result.reason.clone().unwrap_or_else(|| "failed".into());
            if let Some(rollback) = &result.rollback {
                message.push_str(&format!(
                    "; rollback {}: {}",
                    if rollback.succeeded {
                        "succeeded"
                    } else {
                        "FAILED"
                    },
                    rollback.message
                ));
            }
            session.runner.diagnostic(&Diagnostic::error(
                format!("{TITLE}: {}", result.service),
                message,
            ));
        }
    }
}

/// A dry run without any cluster: the targets and images, no patches (nothing to read).
fn offline_dry_run(
    targets: &[DeployTarget],
    skipped: Vec<ServiceResult>,
    skip_health: bool,
) -> Report {
    let mut services: Vec<ServiceResult> = targets
        .iter()
        .map(|t| {
            let mut result = ServiceResult::skipped(&t.service, t.wave, "dry run");
            result.workload = Some(format!(
                "{}/{}",
                t.namespace.as_deref().unwrap_or("(context namespace)"),
                t.workload()
            ));
            result.image_after = Some(t.image.clone());
            result.health =
                crate::deploy::result::HealthState::not_checked(t.health.as_ref(), skip_health);
            result
        })
        .collect();
    services.extend(skipped);
    Report {
        services,
        notices: vec![
            "no cluster is configured (no `kubeconfig`, KUBECONFIG, ~/.kube/config or in-cluster account): this dry run shows what would be deployed where; the workloads were not read, so containers and patches are not checked".into(),
        ],
        ..Report::default()
    }
}

/// Whether kube-rs could find a cluster without the input.
pub(super) fn cluster_configured() -> bool {
    let env = crate::context::RunnerEnvironment::current();
    env.kubeconfig.is_some()
        || env.in_cluster
        || env
            .home
            .is_some_and(|home| home.join(".kube/config").is_file())
}

/// Who holds the deploy lock: the run (with its attempt and job) and the process, so two jobs
/// of one run — or a re-run — never mistake each other's lease for their own.
fn lock_holder(run_url: Option<&str>) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let process = format!("{host} pid {}", std::process::id());
    match run_url {
        Some(url) => {
            let env = crate::context::RunnerEnvironment::current();
            let attempt = (env.run_attempt)
                .map(|a| format!("/attempts/{a}"))
                .unwrap_or_default();
            let job = (env.job).map(|j| format!("job {j}, ")).unwrap_or_default();
            format!("{url}{attempt} ({job}{process})")
        }
        None => process,
    }
}

pub(super) type GitHubDeployment = (
    crate::github::deployments::DeploymentsClient,
    crate::github::deployments::NewDeployment,
);

/// The GitHub Deployments client, when `github-deployments` is on and the run can use it.
pub(super) fn github_deployments(
    session: &Session,
    inputs: &DeployInputs,
    plan: &Plan,
    targets: &[DeployTarget],
    run_url: Option<String>,
) -> Option<GitHubDeployment> {
    if !inputs.options.github_deployments || inputs.dry_run {
        return None;
    }
    let warn = |message: &str| {
        session
            .runner
            .diagnostic(&Diagnostic::warning(TITLE, message.to_string()));
    };
    let Some(token) = non_empty(inputs.github_token.clone()) else {
        warn(
            "github-deployments needs github-token (with `deployments: write`); no deployment recorded",
        );
        return None;
    };
    session.runner.mask(&token);
    let context = session.context().ok()?;
    let Some(repository) = context.repository.clone() else {
        warn("github-deployments needs GITHUB_REPOSITORY; no deployment recorded");
        return None;
    };
    let client = match crate::github::deployments::DeploymentsClient::new(
        &context.api_url,
        &token,
        &repository,
    ) {
        Ok(client) => client,
        Err(error) => {
            warn(&format!("cannot record a GitHub deployment: {error}"));
            return None;
        }
    };
    let environment = non_empty(inputs.environment.clone())
        .or_else(|| plan.context.environment.clone())
        .unwrap_or_else(|| "production".into());
    let payload = serde_json::json!({
        "services": targets.iter().map(|t| serde_json::json!({
            "service": t.service, "image": t.image, "workload": t.workload(),
        })).collect::<Vec<_>>(),
    });
    let request = crate::github::deployments::NewDeployment {
        git_ref: plan.context.sha.clone(),
        environment,
        description: format!(
            "shipgate: {}",
            targets
                .iter()
                .map(|t| t.service.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        payload,
        log_url: run_url,
        environment_url: non_empty(inputs.options.environment_url.clone()),
        production_environment: None,
        transient_environment: None,
    };
    Some((client, request))
}
