//! From plan to jobs: per planned service, exactly what its build will do. Everything that can be
//! wrong (an unknown builder, a bad command template, a missing workflow) is found here, for every
//! service at once, before anything runs.

use super::buildx::{self, BuildOptions};
use super::command;
use super::process::Environment;
use super::workflow;
use crate::config::model::Builder;
use crate::diagnostic::Diagnostic;
use crate::plan::{Plan, PlannedService};
use std::path::PathBuf;

const TITLE: &str = "shipgate build";

/// What a build does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Runs a program (`docker buildx build …` or a command template).
    Process {
        program: String,
        args: Vec<String>,
        /// Where buildx writes the digest.
        metadata_file: Option<PathBuf>,
    },
    /// Dispatches a build workflow.
    Workflow(workflow::Request),
    /// `builder: none`.
    Elsewhere,
    /// Not run, for this reason.
    Skip(String),
}

/// One service's build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub service: PlannedService,
    pub action: Action,
    /// Look the image up in the registry first (`skip-existing`).
    pub skip_existing: bool,
    /// What its builder process is given of the environment (its `build.secrets` variables).
    pub environment: super::process::Environment,
}

impl Job {
    /// Whether the job does anything: runs a build or asks the registry.
    pub fn is_active(&self) -> bool {
        self.skip_existing || matches!(self.action, Action::Process { .. } | Action::Workflow(_))
    }

    /// The command line shown for the job (shell-quoted, for reading and copying only: it is
    /// never given to a shell).
    pub fn command_line(&self) -> String {
        match &self.action {
            Action::Process { program, args, .. } => std::iter::once(program)
                .chain(args)
                .map(|a| crate::quote::shell(a))
                .collect::<Vec<_>>()
                .join(" "),
            Action::Workflow(request) => format!(
                "workflow_dispatch {} on {} with inputs {}",
                request.workflow,
                request.git_ref,
                serde_json::to_string(&request.inputs).unwrap_or_default()
            ),
            Action::Elsewhere => "built elsewhere (builder: none)".into(),
            Action::Skip(reason) => format!("skipped: {reason}"),
        }
    }
}

/// What the whole run decides for every job.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Push images; when off, `no_push_reason` says why.
    pub push: bool,
    pub no_push_reason: String,
    pub provenance: Option<String>,
    pub sbom: Option<String>,
    /// Where buildx metadata files go.
    pub metadata_dir: PathBuf,
    /// The branch or tag a build workflow is dispatched on.
    pub workflow_ref: String,
}

/// The jobs of `plan`, or every reason it cannot be built. `skip_existing` answers per service.
pub fn prepare(
    plan: &Plan,
    settings: &Settings,
    skip_existing: &dyn Fn(&str) -> bool,
) -> Result<Vec<Job>, Vec<Diagnostic>> {
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    let listed = super::secrets::all_variables(plan);
    for (index, service) in plan.services.iter().enumerate() {
        match action(service, index, settings) {
            Ok(action) => jobs.push(Job {
                skip_existing: skip_existing(&service.name) && !matches!(action, Action::Elsewhere),
                environment: environment(service, &listed),
                service: service.clone(),
                action,
            }),
            Err((message, help)) => errors.push(
                Diagnostic::error(TITLE, format!("service `{}`: {message}", service.name))
                    .with_help(help),
            ),
        }
    }
    if errors.is_empty() {
        Ok(jobs)
    } else {
        Err(errors)
    }
}

/// The builder's environment: its own secrets' variables given, every other service's withheld.
fn environment(service: &PlannedService, listed: &[String]) -> Environment {
    let given: Vec<String> = super::secrets::variables(&service.build)
        .into_iter()
        .map(str::to_string)
        .collect();
    Environment {
        others: listed
            .iter()
            .filter(|name| !given.contains(name))
            .cloned()
            .collect(),
        given,
    }
}

fn action(
    service: &PlannedService,
    index: usize,
    settings: &Settings,
) -> Result<Action, (String, String)> {
    if service.refs.is_empty() {
        return Err((
            "the plan gives it no image reference".into(),
            "plan again with `shipgate plan`; every planned image has at least one tag".into(),
        ));
    }
    let build = &service.build;
    if !build.secrets.is_empty() && build.builder != Builder::Buildx {
        return Err((
            format!(
                "build secrets are handed to `builder: buildx` only, and it is built with `builder: {}`",
                build.builder.as_str()
            ),
            "plan again with `shipgate plan` (the config check refuses this), or remove `build.secrets`".into(),
        ));
    }
    match build.builder {
        Builder::Buildx => {
            let metadata_file = settings
                .metadata_dir
                .join(format!("{index}-{}.json", file_safe(&service.name)));
            let options = BuildOptions {
                push: settings.push,
                metadata_file: Some(metadata_file.to_string_lossy().into_owned()),
                provenance: settings.provenance.clone(),
                sbom: settings.sbom.clone(),
            };
            Ok(Action::Process {
                program: "docker".into(),
                args: buildx::buildx_args(service, &options),
                metadata_file: Some(metadata_file),
            })
        }
        Builder::Command => command_action(service, settings),
        Builder::Workflow => {
            let Some(name) = build.workflow.as_deref().filter(|w| !w.trim().is_empty()) else {
                return Err((
                    "`builder: workflow` needs `build.workflow`".into(),
                    "name the workflow file, e.g. `workflow: build-image.yml`".into(),
                ));
            };
            if !settings.push {
                return Ok(Action::Skip(format!(
                    "a build workflow pushes by itself, and {}",
                    settings.no_push_reason
                )));
            }
            Ok(Action::Workflow(workflow::Request::new(
                service,
                name,
                &settings.workflow_ref,
                &workflow::correlation_id(&service.name),
            )))
        }
        Builder::None => Ok(Action::Elsewhere),
    }
}

/// `builder: command`: the config's argv with the service's values; skipped when not pushing
/// (the command pushes by itself).
fn command_action(
    service: &PlannedService,
    settings: &Settings,
) -> Result<Action, (String, String)> {
    let build = &service.build;
    let template = build.command.as_deref().unwrap_or_default();
    let argv = command::expand(template, service).map_err(|m| {
        (
            format!("bad `build.command`: {m}"),
            "write the builder's argv as a list, e.g. [az, acr, build, --image, \"{ref}\", --file, \"{dockerfile}\", \"{context}\"]".to_string(),
        )
    })?;
    if !settings.push {
        return Ok(Action::Skip(format!(
            "a command builder pushes by itself, and {}",
            settings.no_push_reason
        )));
    }
    let (program, args) = argv
        .split_first()
        .map(|(p, a)| (p.clone(), a.to_vec()))
        .unwrap_or_default();
    Ok(Action::Process {
        program,
        args,
        metadata_file: None,
    })
}

/// A service name as a file name part.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BuildSpec, PlanContext};
    use std::collections::BTreeMap;

    fn service(name: &str, builder: Builder) -> PlannedService {
        PlannedService {
            name: name.into(),
            image: format!("ghcr.io/acme/{name}"),
            tags: vec!["1".into()],
            refs: vec![format!("ghcr.io/acme/{name}:1")],
            labels: BTreeMap::new(),
            build: BuildSpec {
                context: ".".into(),
                dockerfile: "Dockerfile".into(),
                target: None,
                args: BTreeMap::new(),
                platforms: vec![],
                builder,
                cache: crate::config::model::CachePolicy::Fresh,
                command: None,
                workflow: None,
                secrets: vec![],
            },
            reason: crate::detect::changes::Reason::Selected { by: "test".into() },
            version: None,
            content: String::new(),
            lookup_tag: "1".into(),
            mutable_only: false,
        }
    }

    fn plan(services: Vec<PlannedService>) -> Plan {
        Plan {
            version: crate::plan::PLAN_VERSION,
            context: PlanContext {
                sha: "a".repeat(40),
                timestamp: 0,
                ..PlanContext::example()
            },
            services,
        }
    }

    #[test]
    fn every_bad_service_is_reported_at_once() {
        let mut bad_template = service("b", Builder::Command);
        bad_template.build.command = Some(vec!["az".into(), "{nope}".into()]);
        let errors = prepare(
            &plan(vec![
                bad_template,
                service("c", Builder::Workflow),
                service("d", Builder::Buildx),
            ]),
            &Settings::default(),
            &|_| false,
        )
        .unwrap_err();
        let messages: Vec<String> = errors.iter().map(|d| d.message.clone()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("unknown placeholder `{nope}`"));
        assert!(messages[1].contains("needs `build.workflow`"));
    }

    #[test]
    fn remote_builders_are_skipped_when_the_run_does_not_push() {
        let mut remote = service("a", Builder::Command);
        remote.build.command = Some(vec!["az".into(), "{ref}".into()]);
        let settings = Settings {
            push: false,
            no_push_reason: "pull request runs do not push".into(),
            ..Settings::default()
        };
        let jobs = prepare(
            &plan(vec![remote, service("b", Builder::None)]),
            &settings,
            &|_| true,
        )
        .unwrap();
        assert_eq!(
            jobs[0].action,
            Action::Skip(
                "a command builder pushes by itself, and pull request runs do not push".into()
            )
        );
        assert_eq!(jobs[1].action, Action::Elsewhere);
        assert!(
            !jobs[1].skip_existing,
            "nothing to look up for images built elsewhere"
        );
    }

    fn secret(id: &str, env: &str) -> crate::build::secrets::Secret {
        crate::build::secrets::Secret {
            id: id.into(),
            env: Some(env.into()),
            src: None,
        }
    }

    #[test]
    fn each_builder_is_given_its_own_secrets_and_none_of_the_others() {
        let mut auth = service("auth", Builder::Buildx);
        auth.build.secrets = vec![secret("npm", "NPM_TOKEN"), secret("gh", "GITHUB_TOKEN")];
        let mut web = service("web", Builder::Buildx);
        web.build.secrets = vec![secret("pip", "PIP_TOKEN")];
        let plain = service("plain", Builder::Buildx);
        let jobs = prepare(&plan(vec![auth, web, plain]), &Settings::default(), &|_| {
            false
        })
        .unwrap();
        let given = |i: usize| jobs[i].environment.given.clone();
        let others = |i: usize| jobs[i].environment.others.clone();
        assert_eq!(given(0), ["NPM_TOKEN", "GITHUB_TOKEN"]);
        assert_eq!(others(0), ["PIP_TOKEN"]);
        assert_eq!(given(1), ["PIP_TOKEN"]);
        assert_eq!(others(1), ["GITHUB_TOKEN", "NPM_TOKEN"]);
        assert!(given(2).is_empty());
        assert_eq!(others(2), ["GITHUB_TOKEN", "NPM_TOKEN", "PIP_TOKEN"]);
        assert!(
            jobs[0]
                .command_line()
                .contains("--secret id=npm,env=NPM_TOKEN --secret id=gh,env=GITHUB_TOKEN")
        );
    }

    #[test]
    fn a_plan_giving_secrets_to_another_builder_is_refused() {
        let mut remote = service("remote", Builder::Command);
        remote.build.command = Some(vec!["az".into(), "{ref}".into()]);
        remote.build.secrets = vec![secret("npm", "NPM_TOKEN")];
        let errors = prepare(&plan(vec![remote]), &Settings::default(), &|_| false).unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("service `remote`: build secrets are handed to `builder: buildx` only"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn command_lines_are_quoted_for_reading() {
        let mut hostile = service("a", Builder::Command);
        hostile.build.command = Some(vec!["tool".into(), "--x={context}".into()]);
        hostile.build.context = "a b;$c".into();
        let settings = Settings {
            push: true,
            ..Settings::default()
        };
        let jobs = prepare(&plan(vec![hostile]), &settings, &|_| false).unwrap();
        assert_eq!(jobs[0].command_line(), "tool '--x=a b;$c'");
    }
}
