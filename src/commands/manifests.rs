//! `deploy` when the config has `deploy.manifests`: render the repository's objects, then the
//! manifests deploy (or, for a dry run, its preview) — one call from `commands::deploy`.

use super::Session;
use super::deploy::{DeployInputs, DeployStage};
use crate::cli::non_empty;
use crate::config::Config;
use crate::config::deploy_section::ManifestsSettings;
use crate::deploy::kubeconfig;
use crate::deploy::manifests::annotate::RunStamp;
use crate::deploy::manifests::apply::{self, Outcome};
use crate::deploy::manifests::edge::Conflicts;
use crate::deploy::manifests::order::ServiceObject;
use crate::deploy::manifests::outcome::{Action, ObjectResult, State, diff_json};
use crate::deploy::manifests::prepare::Request;
use crate::deploy::manifests::substitute::{Kept, Planned};
use crate::deploy::manifests::{Manifest, render, substitute};
use crate::deploy::orchestrate::{Options, Report};
use crate::deploy::target::{DeployTarget, ImageSource};
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::plan::Plan;
use crate::runner::Summary;
use std::collections::BTreeMap;
use std::sync::Arc;

const TITLE: &str = "shipgate deploy: manifests";

/// What `run_deploy` already resolved.
#[derive(Clone, Copy)]
pub(super) struct Resolved<'a> {
    pub targets: &'a [DeployTarget],
    pub digests: &'a BTreeMap<String, Option<String>>,
    pub overrides: &'a BTreeMap<String, String>,
    pub kubeconfig: Option<&'a kubeconfig::Input>,
    pub options: &'a Options,
}

fn usage(messages: Vec<String>) -> Failure {
    Failure::Usage(
        messages
            .into_iter()
            .map(|m| Diagnostic::error(TITLE, m))
            .collect(),
    )
}

/// The run's environment: `environment`, else the plan's.
pub(super) fn environment(plan: &Plan, inputs: &DeployInputs) -> Option<String> {
    non_empty(inputs.environment.clone()).or_else(|| plan.context.environment.clone())
}

/// A pull-request run's notice that it only previews (`None`: nothing to say).
pub(super) fn preview_notice(session: &Session, title: &str, notice: Option<String>) {
    if let Some(notice) = notice {
        session
            .runner
            .diagnostic(&Diagnostic::notice(title, notice));
    }
}

/// The request: rendered objects and what substitution needs.
fn request(
    session: &Session,
    plan: &Plan,
    config: &Config,
    settings: &ManifestsSettings,
    inputs: &DeployInputs,
    resolved: &Resolved,
) -> Result<Request, Failure> {
    let environment = environment(plan, inputs);
    let Some(source) = settings.source() else {
        return Err(usage(vec![
            "`deploy.manifests` needs `kustomize` or `files`".into(),
        ]));
    };
    let manifests: Vec<Manifest> =
        render::render(&source, &session.repo, environment.as_deref()).map_err(Failure::Usage)?;
    let planned = planned(plan, resolved);
    let kept = kept(plan, config);
    let services = service_objects(config);
    Ok(Request {
        manifests,
        default_namespace: settings.default_namespace().to_string(),
        planned,
        kept,
        allow_manifest_tags: settings.allow_manifest_tags,
        conflicts: if settings.force_conflicts {
            Conflicts::Force
        } else {
            Conflicts::Refuse
        },
        services,
        prune: config.deploy.prune,
        registry: crate::registry::RegistryClient::for_run(session.registry_insecure.as_deref()),
        stamp: RunStamp {
            revision: plan.context.sha.clone(),
            deployed_at: k8s_openapi::jiff::Timestamp::now().to_string(),
            run_url: resolved.options.run_url.clone(),
            versions: plan
                .services
                .iter()
                .filter_map(|s| Some((s.name.clone(), s.version.clone()?)))
                .collect(),
        },
    })
}

/// The run's services: repository and the reference to deploy.
fn planned(plan: &Plan, resolved: &Resolved) -> Vec<Planned> {
    plan.services
        .iter()
        .filter(|s| !s.image.is_empty())
        .filter_map(|service| {
            let target = resolved.targets.iter().find(|t| t.service == service.name);
            let (image, source) = match target {
                Some(t) => (
                    t.image.clone(),
                    match t.image_source {
                        ImageSource::PlanTag => "plan tag",
                        ImageSource::BuildDigest => "build digest",
                        ImageSource::Override => "--image",
                    },
                ),
                None => match (
                    resolved.overrides.get(&service.name),
                    resolved.digests.get(&service.name),
                ) {
                    (Some(image), _) => (image.clone(), "--image"),
                    (None, Some(Some(digest))) => (
                        crate::deploy::target::pin(service.refs.first()?, digest),
                        "build digest",
                    ),
                    _ => (service.refs.first()?.clone(), "plan tag"),
                },
            };
            Some(Planned {
                service: service.name.clone(),
                repository: service.image.clone(),
                image,
                source: source.into(),
            })
        })
        .collect()
}

/// Configured services not in this run (their live image is kept).
fn kept(plan: &Plan, config: &Config) -> Vec<Kept> {
    let registry = config.defaults.registry.as_ref().map(|r| r.value.as_str());
    config
        .services
        .iter()
        .filter(|s| !plan.services.iter().any(|p| p.name == s.name))
        .filter_map(|s| {
            let repository = crate::plan::image::image_name(registry, s.image.as_deref()?).ok()?;
            Some(Kept {
                service: s.name.clone(),
                repository,
            })
        })
        .collect()
}

/// Each service's workload and wave.
fn service_objects(config: &Config) -> Vec<ServiceObject> {
    config
        .services
        .iter()
        .filter_map(|s| {
            let deploy = s.settings.deploy.as_ref()?;
            Some(ServiceObject {
                service: s.name.clone(),
                wave: deploy.wave,
                kind: crate::deploy::target::kind_name(deploy.kind).into(),
                namespace: deploy.namespace.clone(),
                name: deploy.name.clone().unwrap_or_else(|| s.name.clone()),
            })
        })
        .collect()
}

/// Every value of every rendered Secret is masked before anything can print it (a server's
/// error message may quote a value): raw `stringData`, and `data` both encoded and decoded.
fn mask_secrets(session: &Session, manifests: &[Manifest]) {
    use base64::Engine;
    for manifest in manifests.iter().filter(|m| m.is_secret()) {
        for value in manifest.object["stringData"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            if let Some(text) = value.as_str().filter(|t| !t.is_empty()) {
                session.runner.mask(text);
            }
        }
        for value in manifest.object["data"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            let Some(encoded) = value.as_str().filter(|t| !t.is_empty()) else {
                continue;
            };
            session.runner.mask(encoded);
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded)
                && let Ok(text) = String::from_utf8(bytes)
                && !text.is_empty()
            {
                session.runner.mask(&text);
            }
        }
    }
}

/// Runs the manifests deploy when configured; `None` leaves `deploy` to the set-image path.
pub(super) fn run_if_configured(
    session: &Session,
    plan: &Plan,
    config: &Config,
    inputs: &DeployInputs,
    resolved: &Resolved,
    summary: &mut Summary,
) -> Result<Option<DeployStage>, Failure> {
    let Some(settings) = &config.deploy.manifests else {
        return Ok(None);
    };
    let request = request(session, plan, config, settings, inputs, resolved)?;
    mask_secrets(session, &request.manifests);
    if settings.force_conflicts {
        session.runner.diagnostic(&Diagnostic::warning(
            TITLE,
            "force-conflicts is on: fields other field managers own are taken over by shipgate",
        ));
    }
    // A pull request previews what merging would change; it never applies.
    let preview_only = crate::gitops::PreviewOnly::of(&plan.context.event, inputs.dry_run);
    let dry_run = preview_only.is_some();
    let options = preview_options(resolved.options, dry_run);
    let resolved = Resolved {
        options: &options,
        ..*resolved
    };
    let outcome = if dry_run
        && resolved.kubeconfig.is_none()
        && !crate::commands::deploy::cluster_configured()
    {
        offline(&request, resolved.targets)?
    } else {
        online(session, plan, &request, inputs, &resolved)?
    };
    preview_notice(
        session,
        TITLE,
        preview_only.and_then(|why| {
            why.notice(
                "the change (server-side dry run and diff)",
                "applies nothing",
            )
        }),
    );
    Ok(Some(stage(session, &outcome, dry_run, summary)))
}

/// The run's options, as a dry run when `dry_run`.
fn preview_options(options: &Options, dry_run: bool) -> Options {
    Options {
        dry_run,
        skip_health: options.skip_health,
        continue_on_failure: options.continue_on_failure,
        lock_timeout: options.lock_timeout,
        lock_poll: options.lock_poll,
        holder: options.holder.clone(),
        run_url: options.run_url.clone(),
        deadline: options.deadline,
        throttle: options.throttle,
        unschedulable_grace: options.unschedulable_grace,
    }
}

fn online(
    session: &Session,
    plan: &Plan,
    request: &Request,
    inputs: &DeployInputs,
    resolved: &Resolved,
) -> Result<Outcome, Failure> {
    let (runtime, cluster) = connect(inputs, resolved)?;
    crate::runner::write_stderr(&format!(
        "deploy: cluster {}, {} objects from the manifests{}\n",
        cluster.server,
        request.manifests.len(),
        if resolved.options.dry_run {
            " (dry run)"
        } else {
            ""
        }
    ));
    let (board, progress) = super::deploy::progress_sink(session);
    let github = (!resolved.options.dry_run)
        .then(|| {
            super::deploy::github_deployments(
                session,
                inputs,
                plan,
                resolved.targets,
                resolved.options.run_url.clone(),
            )
        })
        .flatten();
    let recorded = github
        .as_ref()
        .and_then(|github| start_deployment(session, &runtime, github));
    let outcome = runtime.block_on(apply::deploy(
        &cluster,
        request,
        resolved.targets,
        resolved.options,
        progress,
    ));
    if let Some(board) = board.and_then(|b| Arc::try_unwrap(b).ok()) {
        board.finish();
    }
    if let (Some((client, _)), Some(handle)) = (&github, &recorded) {
        finish_deployment(session, &runtime, client, handle, outcome.as_ref());
    }
    outcome.map_err(usage)
}

/// A runtime and the cluster of the run's kubeconfig (also what a GitOps write-back follows).
pub(super) fn connect(
    inputs: &DeployInputs,
    resolved: &Resolved,
) -> Result<(tokio::runtime::Runtime, crate::deploy::cluster::Cluster), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| usage(vec![format!("cannot start: {e}")]))?;
    let context = non_empty(inputs.options.kube_context.clone());
    let config = runtime
        .block_on(kubeconfig::client_config(
            resolved.kubeconfig,
            context.as_deref(),
            &crate::deploy::exec_plugin::Wrapper::from_env().map_or(
                kubeconfig::ExecGuard::Direct,
                kubeconfig::ExecGuard::Bounded,
            ),
        ))
        .map_err(|e| usage(vec![e.to_string()]))?;
    let cluster = {
        let _guard = runtime.enter();
        crate::deploy::cluster::Cluster::new(config).map_err(|e| usage(vec![e.to_string()]))?
    };
    Ok((runtime, cluster))
}

/// Records the GitHub deployment as in progress; a failure is a warning.
fn start_deployment(
    session: &Session,
    runtime: &tokio::runtime::Runtime,
    (client, request): &super::deploy::GitHubDeployment,
) -> Option<crate::github::deployments::DeploymentHandle> {
    match runtime.block_on(client.start(request)) {
        Ok(handle) => Some(handle),
        Err(error) => {
            session.runner.diagnostic(&Diagnostic::warning(
                TITLE,
                format!("could not record a GitHub deployment: {error}"),
            ));
            // Created but not marked in progress: still finish it, or it stays pending.
            error.created_deployment().cloned()
        }
    }
}

/// Marks the GitHub deployment `success` or `failure` with the deploy's headline.
fn finish_deployment(
    session: &Session,
    runtime: &tokio::runtime::Runtime,
    client: &crate::github::deployments::DeploymentsClient,
    handle: &crate::github::deployments::DeploymentHandle,
    outcome: Result<&Outcome, &Vec<String>>,
) {
    use crate::github::deployments::DeploymentOutcome;
    let (state, text) = match outcome {
        Ok(outcome) => (
            if failed(outcome) {
                DeploymentOutcome::Failure
            } else {
                DeploymentOutcome::Success
            },
            crate::report::deploy::headline(&outcome.report, crate::report::RunMode::Live),
        ),
        Err(errors) => (
            DeploymentOutcome::Failure,
            format!("shipgate: {}", errors.join("; ")),
        ),
    };
    if let Err(error) = runtime.block_on(client.finish(handle, state, &text)) {
        session.runner.diagnostic(&Diagnostic::warning(
            TITLE,
            format!("could not update the GitHub deployment: {error}"),
        ));
    }
}

/// Whether the deploy failed: a service, the lock, or any object.
fn failed(outcome: &Outcome) -> bool {
    outcome.report.failed() || outcome.objects.iter().any(|o| o.state.is_failure())
}

/// Without cluster credentials: render and substitute only, and say so.
fn offline(request: &Request, targets: &[DeployTarget]) -> Result<Outcome, Failure> {
    let mut manifests = request.manifests.clone();
    crate::deploy::manifests::object::default_namespaces(
        &mut manifests,
        &request.default_namespace,
        crate::deploy::manifests::object::namespaced_offline,
    );
    let live = substitute::LiveObjects::new();
    let inputs = substitute::Inputs {
        planned: &request.planned,
        kept: &request.kept,
        live: &live,
        allow_manifest_tags: true,
        registry: &crate::deploy::manifests::substitute::NO_LOOKUPS,
    };
    let mut substitutions = substitute::substitute(&mut manifests, &inputs).map_err(usage)?;
    for substitution in &mut substitutions {
        if let substitute::Reason::ManifestAllowed { service }
        | substitute::Reason::ManifestPinned { service } = &substitution.reason
        {
            substitution.reason = substitute::Reason::NotCompared {
                service: service.clone(),
            };
        }
    }
    let objects = manifests
        .iter()
        .map(|m| ObjectResult {
            object: m.id(),
            wave: 0,
            action: Action::Create,
            state: State::Previewed,
            diff: Some(crate::deploy::manifests::diff::unified(
                &m.id().to_string(),
                None,
                Some(&m.object),
            )),
            detail: None,
            diagnosis: None,
        })
        .collect();
    let services = targets
        .iter()
        .map(|t| {
            let mut result = crate::deploy::result::ServiceResult::skipped(
                &t.service,
                t.wave,
                "dry run without a cluster",
            );
            result.image_after = Some(t.image.clone());
            result
        })
        .collect();
    let report = Report {
        services,
        notices: vec!["no cluster credentials: this preview renders the manifests and substitutes the images only; it could not compare with the cluster (every object is shown as it would be applied)".into()],
        ..Report::default()
    };
    Ok(Outcome {
        report,
        objects,
        substitutions,
    })
}

fn stage(
    session: &Session,
    outcome: &Outcome,
    dry_run: bool,
    summary: &mut Summary,
) -> DeployStage {
    for notice in &outcome.report.notices {
        session
            .runner
            .diagnostic(&Diagnostic::notice(TITLE, notice.clone()));
    }
    if let Some(error) = &outcome.report.lock_error {
        session
            .runner
            .diagnostic(&Diagnostic::error(TITLE, error.clone()));
    }
    for object in outcome.objects.iter().filter(|o| o.state.is_failure()) {
        session.runner.diagnostic(&Diagnostic::error(
            TITLE,
            format!("{}: {}", object.object, object.state.describe()),
        ));
    }
    crate::report::deploy::summary(
        &outcome.report,
        crate::report::RunMode::from_dry_run(dry_run),
        summary,
    );
    crate::deploy::manifests::summary::section(outcome, summary);
    let failed = failed(outcome);
    let result = crate::deploy::result::result_json(&outcome.report.services);
    let diff = diff_json(&outcome.objects);
    let mut terminal = crate::report::deploy::terminal(
        &outcome.report,
        crate::report::RunMode::from_dry_run(dry_run),
    );
    terminal.push_str(&crate::deploy::manifests::summary::terminal(outcome));
    let mut json = result.clone();
    json["objects"] = serde_json::to_value(&outcome.objects).unwrap_or_default();
    json["substitutions"] = serde_json::to_value(&outcome.substitutions).unwrap_or_default();
    DeployStage {
        outputs: vec![
            ("result".into(), result.to_string()),
            ("diff".into(), diff.to_string()),
        ],
        failed,
        terminal,
        json,
    }
}
