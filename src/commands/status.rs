//! `shipgate status` (and the `status` stage of `run`): reads the cluster and the repository,
//! reports what runs where (`status` output, job summary, terminal or JSON), and with
//! `--fail-on` exits 1 when a service drifted, is behind or is unhealthy.

use super::Session;
use crate::cli::{StatusArgs, non_empty};
use crate::config::Config;
use crate::deploy::cluster::Cluster;
use crate::deploy::kubeconfig;
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::runner::Summary;
use crate::status::behind::Behind;
use crate::status::read::{self, ReadError};
use crate::status::{FailOn, Observed, ServiceStatus, Subject};
use std::collections::BTreeSet;

const TITLE: &str = "shipgate status";

pub fn execute(session: &Session, args: &StatusArgs) -> Result<u8, Failure> {
    let fail_on = parse_fail_on(args.status.fail_on.as_deref())?;
    let root = crate::detect::git::GitRepository::open(&session.repo, "origin").ok();
    let config = session.load_config(root.as_ref().map(|r| r.root()))?;
    session.report_diagnostics(&config.warnings);
    let inputs = StatusInputs {
        kubeconfig: non_empty(args.kubeconfig.clone()),
        kube_context: non_empty(args.kube_context.clone()),
        services: non_empty(args.services.clone()),
        head: non_empty(args.head.clone()),
        fail_on,
    };
    let mut summary = Summary::default();
    let stage = run_status(session, &config, &inputs, &mut summary)?;
    session.publish(&stage.outputs, &summary)?;
    session.print_result(&stage.terminal, &stage.json);
    Ok(if stage.failed { 1 } else { 0 })
}

/// `--fail-on`, validated (exit 2 on an unknown word).
pub fn parse_fail_on(text: Option<&str>) -> Result<FailOn, Failure> {
    FailOn::parse(text.unwrap_or_default()).map_err(|message| {
        Failure::usage(
            Diagnostic::error(TITLE, message).with_help("e.g. `--fail-on drift,unhealthy`"),
        )
    })
}

/// What the status stage takes besides the config.
pub struct StatusInputs {
    pub kubeconfig: Option<String>,
    pub kube_context: Option<String>,
    pub services: Option<String>,
    pub head: Option<String>,
    pub fail_on: FailOn,
}

/// What the status stage produced, for `status` alone or as a stage of `run`.
pub struct StatusStage {
    /// `status`.
    pub outputs: Vec<(String, String)>,
    /// `--fail-on` matched.
    pub failed: bool,
    pub terminal: String,
    pub json: serde_json::Value,
}

/// Reads the cluster and the repository; adds the status table to `summary`.
pub fn run_status(
    session: &Session,
    config: &Config,
    inputs: &StatusInputs,
    summary: &mut Summary,
) -> Result<StatusStage, Failure> {
    let cluster_config = connect(
        session,
        inputs.kubeconfig.as_deref(),
        inputs.kube_context.as_deref(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, format!("cannot start: {e}"))))?;
    let cluster = {
        let _guard = runtime.enter();
        Cluster::new(cluster_config)
            .map_err(|e| Failure::usage(Diagnostic::error(TITLE, e.to_string())))?
    };
    let subjects = subjects(
        config,
        &cluster.default_namespace,
        inputs.services.as_deref(),
    )?;
    let registry = crate::registry::RegistryClient::from_env();
    let (namespaces, (digests, warnings)) = runtime.block_on(async {
        let namespaces = read::namespaces(&cluster, &subjects).await;
        let images: BTreeSet<String> = match &namespaces {
            Ok(listed) => desired_images(&subjects, listed),
            Err(_) => BTreeSet::new(),
        };
        (namespaces, read::tag_digests(&registry, images).await)
    });
    let namespaces = namespaces.map_err(|ReadError { message, help }| {
        let mut diagnostic = Diagnostic::error(TITLE, message);
        if let Some(help) = help {
            diagnostic = diagnostic.with_help(help);
        }
        Failure::usage(diagnostic)
    })?;
    for warning in &warnings {
        session
            .runner
            .diagnostic(&Diagnostic::warning(TITLE, warning.clone()));
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    let empty = read::Namespace::default();
    let mut statuses: Vec<ServiceStatus> = subjects
        .iter()
        .map(|subject| {
            let listed = namespaces.get(&subject.namespace).unwrap_or(&empty);
            let observed = Observed {
                workload: listed.workloads.get(&(
                    crate::deploy::cluster::plural(subject.kind),
                    subject.workload.clone(),
                )),
                replica_sets: &listed.replica_sets,
                pods: &listed.pods,
            };
            crate::status::judge(subject, observed, &digests, now)
        })
        .collect();
    count_behind(session, config, inputs.head.as_deref(), &mut statuses)?;
    let failures = inputs.fail_on.reasons(&statuses);
    for failure in &failures {
        session
            .runner
            .diagnostic(&Diagnostic::error(TITLE, failure.clone()));
    }
    summary.push(crate::status::render::markdown(&statuses, &failures));
    let json = serde_json::json!({ "services": statuses });
    Ok(StatusStage {
        outputs: vec![("status".into(), json.to_string())],
        failed: !failures.is_empty(),
        terminal: crate::status::render::terminal(&statuses),
        json,
    })
}

/// The kubeconfig input decoded and masked (before anything prints), as a client config.
pub(crate) fn connect(
    session: &Session,
    kubeconfig_value: Option<&str>,
    context: Option<&str>,
) -> Result<kube::Config, Failure> {
    let input = match kubeconfig_value {
        Some(value) => {
            let input = kubeconfig::decode(value).map_err(|e| {
                Failure::usage(Diagnostic::error(TITLE, e.to_string()).with_help(
                    "give a file path, the kubeconfig YAML, or its base64 (`base64 -w0 ~/.kube/config`)",
                ))
            })?;
            crate::deploy::secrets::mask_kubeconfig(&session.runner, value, &input);
            Some(input)
        }
        None => {
            crate::deploy::secrets::mask_all(&session.runner, kubeconfig::default_secrets());
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, format!("cannot start: {e}"))))?;
    runtime
        .block_on(kubeconfig::client_config(
            input.as_ref(),
            context,
            &crate::deploy::exec_plugin::Wrapper::from_env().map_or(
                kubeconfig::ExecGuard::Direct,
                kubeconfig::ExecGuard::Bounded,
            ),
        ))
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, e.to_string())))
}

/// Every service with `deploy` settings (or the `--services` selection of them).
pub(crate) fn subjects(
    config: &Config,
    default_namespace: &str,
    selection: Option<&str>,
) -> Result<Vec<Subject>, Failure> {
    let wanted: Option<Vec<&str>> = selection.filter(|s| s.trim() != "all").map(|s| {
        s.split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect()
    });
    if let Some(wanted) = &wanted {
        for name in wanted {
            let deployable = config
                .service_index(name)
                .is_some_and(|i| config.services[i].settings.deploy.is_some());
            if !deployable {
                return Err(Failure::usage(
                    Diagnostic::error(
                        TITLE,
                        format!("`--services {name}`: no service `{name}` with `deploy` settings"),
                    )
                    .with_help(format!(
                        "services with `deploy`: {}",
                        deployable_names(config)
                    )),
                ));
            }
        }
    }
    Ok(config
        .services
        .iter()
        .filter(|s| wanted.as_ref().is_none_or(|w| w.contains(&s.name.as_str())))
        .filter_map(|service| {
            let deploy = service.settings.deploy.as_ref()?;
            Some(Subject {
                service: service.name.clone(),
                namespace: deploy
                    .namespace
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| default_namespace.to_string()),
                kind: deploy.kind,
                workload: deploy
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| service.name.clone()),
                container: deploy.container.clone(),
            })
        })
        .collect())
}

fn deployable_names(config: &Config) -> String {
    let names: Vec<&str> = config
        .services
        .iter()
        .filter(|s| s.settings.deploy.is_some())
        .map(|s| s.name.as_str())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The images the listed workloads' containers are set to.
fn desired_images(
    subjects: &[Subject],
    listed: &std::collections::BTreeMap<String, read::Namespace>,
) -> BTreeSet<String> {
    let mut images = BTreeSet::new();
    for subject in subjects {
        let Some(workload) = listed.get(&subject.namespace).and_then(|n| {
            n.workloads.get(&(
                crate::deploy::cluster::plural(subject.kind),
                subject.workload.clone(),
            ))
        }) else {
            continue;
        };
        for container in workload["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(image) = container["image"].as_str() {
                images.insert(image.to_string());
            }
        }
    }
    images
}

/// Fills `behind` from the repository's history (left unknown, with a warning, when the
/// directory is no git repository or `--head` does not resolve).
fn count_behind(
    session: &Session,
    config: &Config,
    head: Option<&str>,
    statuses: &mut [ServiceStatus],
) -> Result<(), Failure> {
    let repo = match crate::detect::git::GitRepository::open(&session.repo, &config.detect.remote) {
        Ok(repo) => repo,
        Err(_) => {
            session.runner.diagnostic(&Diagnostic::warning(
                TITLE,
                "not in a git repository: how far behind each service is stays unknown",
            ));
            return Ok(());
        }
    };
    let git = repo.repository();
    let head_name = head.unwrap_or("HEAD");
    let head = git
        .revparse_single(head_name)
        .and_then(|object| object.peel_to_commit())
        .map_err(|e| {
            Failure::usage(Diagnostic::error(
                TITLE,
                format!(
                    "`{head_name}` is not a commit of this repository: {}",
                    e.message()
                ),
            ))
        })?;
    let mut behind = Behind::new(git, config, head.id());
    for status in statuses {
        let (Some(index), Some(revision)) = (config.service_index(&status.name), &status.revision)
        else {
            continue;
        };
        status.behind = behind.count(index, revision);
        if status.behind.is_none() {
            status.notes.push(format!(
                "the deployed revision {revision} is not in this clone's history (fetch it, or clone deeper)"
            ));
        }
    }
    Ok(())
}
