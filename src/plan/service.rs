//! One service's entry in the plan, in named steps: its image name, its version, the tag
//! templates that apply, the rendered tags, then labels and build inputs.
//!
//! Problems are collected in [`Findings`] (every service is planned, so one run reports every
//! error); a service with an error gets no entry.

use super::tags::{Skip, TagTemplate, TagValues};
use super::{PlanContext, PlannedService, ServiceFacts, TITLE, default_tags, image, labels};
use crate::config::model::{Defaults, LatestPolicy, TagPreset};
use crate::config::validate::locate;
use crate::config::{Config, Service};
use crate::detect::changes::Reason;
use crate::diagnostic::{Diagnostic, Location};
use crate::error::Failure;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// What planning found besides the plan: errors fail it, notes and warnings are reported.
#[derive(Default)]
pub(super) struct Findings {
    errors: Vec<Diagnostic>,
    notes: Vec<Diagnostic>,
    /// `service `template`` of each latest-like tag left out off the default branch.
    skipped_latest: Vec<String>,
}

impl Findings {
    /// The notes to report, or every error as one usage failure.
    pub(super) fn finish(mut self) -> Result<Vec<Diagnostic>, Failure> {
        if !self.errors.is_empty() {
            return Err(Failure::Usage(self.errors));
        }
        if !self.skipped_latest.is_empty() {
            self.notes.push(Diagnostic::notice(
                TITLE,
                format!(
                    "latest-like tags are only pushed from the default branch; skipped: {}",
                    self.skipped_latest.join(", ")
                ),
            ));
        }
        Ok(self.notes)
    }
}

/// Everything one service's entry is decided from.
pub(super) struct Input<'a> {
    pub config: &'a Config,
    pub context: &'a PlanContext,
    /// The service's index in `config.services`.
    pub index: usize,
    pub reason: &'a Reason,
    pub fact: &'a ServiceFacts,
}

impl Input<'_> {
    fn service(&self) -> &Service {
        &self.config.services[self.index]
    }

    /// The spanned value's location, else the service's own.
    fn at(&self, location: Option<Location>) -> Option<Location> {
        location.or_else(|| Some(self.service().location.clone()))
    }
}

/// A tag template as written, with where it was written (none for built-in defaults).
type Written = (String, Option<Location>);

/// The tags of one service, rendered.
struct Rendered {
    tags: Vec<String>,
    /// The first tag rendered from a `{content}` template.
    content_tag: Option<String>,
    mutable_only: bool,
}

/// Plans one service; `None` when it has no image or something is wrong (then in `findings`).
pub(super) fn plan_service(input: &Input, findings: &mut Findings) -> Option<PlannedService> {
    let service = input.service();
    let image_setting = service.settings.image.as_ref()?;
    let image = image_name(input, image_setting, findings)?;
    let version = version(input, findings)?;
    let written = written_tags(input.config, service, version.is_some());
    let rendered = render_tags(input, &written, version.as_deref(), findings)?;
    if rendered.tags.is_empty() {
        findings.errors.push(
            Diagnostic::error(
                TITLE,
                format!("service `{}` gets no tag in this run", service.name),
            )
            .at(Some(service.location.clone()))
            .with_help("add a tag that always applies, e.g. `sha-{sha7}`"),
        );
        return None;
    }
    if rendered.mutable_only {
        findings
            .notes
            .push(mutable_only_warning(service, &rendered.tags));
    }
    Some(entry(input, image, version, rendered))
}

/// The registry joined with the service's `image`, validated.
fn image_name(input: &Input, setting: &Spanned<String>, findings: &mut Findings) -> Option<String> {
    let registry = input
        .config
        .defaults
        .registry
        .as_ref()
        .map(|r| r.value.as_str());
    match image::image_name(registry, &setting.value) {
        Ok(image) => Some(image),
        Err(message) => {
            let location = input.at(locate(setting, &input.config.path));
            findings
                .errors
                .push(Diagnostic::error(TITLE, message).at(location));
            None
        }
    }
}

/// The resolved version: `Some(None)` without a `version:` setting, `None` when it failed.
fn version(input: &Input, findings: &mut Findings) -> Option<Option<String>> {
    match &input.fact.version {
        None => Some(None),
        Some(Ok(version)) => Some(Some(version.clone())),
        Some(Err(message)) => {
            let service = input.service();
            let location = service
                .settings
                .version
                .as_ref()
                .and_then(|v| locate(v, &input.config.path));
            findings.errors.push(
                Diagnostic::error(TITLE, format!("service `{}`: {message}", service.name))
                    .at(input.at(location)),
            );
            None
        }
    }
}

/// The service's own tags or preset, then the defaults' tags or preset, then the built-in ones.
fn written_tags(config: &Config, service: &Service, has_version: bool) -> Vec<Written> {
    let listed = |list: &Vec<Spanned<String>>| -> Vec<Written> {
        list.iter()
            .map(|t| (t.value.clone(), locate(t, &config.path)))
            .collect()
    };
    let preset = |preset: TagPreset| -> Vec<Written> {
        preset
            .templates()
            .iter()
            .map(|t| (t.to_string(), Some(service.location.clone())))
            .collect()
    };
    let settings = &service.settings;
    let defaults: &Defaults = &config.defaults;
    if let Some(list) = &settings.tags {
        listed(list)
    } else if let Some(own) = settings.tag_preset {
        preset(own)
    } else if let Some(list) = &defaults.tags {
        listed(list)
    } else if let Some(shared) = defaults.tag_preset {
        preset(shared)
    } else {
        default_tags(has_version)
            .into_iter()
            .map(|t| (t.to_string(), None))
            .collect()
    }
}

/// Renders every template that applies in this run; `None` when a template is wrong.
fn render_tags(
    input: &Input,
    written: &[Written],
    version: Option<&str>,
    findings: &mut Findings,
) -> Option<Rendered> {
    let service = input.service();
    let context = input.context;
    let latest = service
        .settings
        .latest
        .or(input.config.defaults.latest)
        .unwrap_or_default();
    let values = TagValues {
        version: version.map(str::to_string),
        timestamp: context.timestamp,
        sha: Some(context.sha.clone()),
        branch: context.branch.clone(),
        pr: context.pr,
        environment: context.environment.clone(),
        run_number: context.run_number.clone(),
        content: Some(input.fact.content.chars().take(16).collect()),
    };
    let mut rendered = Rendered {
        tags: Vec::new(),
        content_tag: None,
        mutable_only: true,
    };
    let mut failed = false;
    for (text, location) in written {
        let Some(template) = template(input, text, location, version.is_some(), findings) else {
            failed = true;
            continue;
        };
        if template.is_latest() && !latest_allowed(latest, context) {
            findings
                .skipped_latest
                .push(format!("{} `{text}`", service.name));
            continue;
        }
        match template.render(&values) {
            Ok(tag) => {
                rendered.mutable_only &= template.is_mutable();
                if template.uses_content() && rendered.content_tag.is_none() {
                    rendered.content_tag = Some(tag.clone());
                }
                if !rendered.tags.contains(&tag) {
                    rendered.tags.push(tag);
                }
            }
            Err(Skip::Missing(what)) => findings.notes.push(Diagnostic::notice(
                TITLE,
                format!(
                    "service `{}`: tag `{text}` skipped: this run has no {what}",
                    service.name
                ),
            )),
        }
    }
    (!failed).then_some(rendered)
}

/// One tag template, parsed and checked against what the service has.
fn template(
    input: &Input,
    text: &str,
    location: &Option<Location>,
    has_version: bool,
    findings: &mut Findings,
) -> Option<TagTemplate> {
    let template = match TagTemplate::parse(text) {
        Ok(template) => template,
        Err(message) => {
            findings
                .errors
                .push(Diagnostic::error(TITLE, message).at(input.at(location.clone())));
            return None;
        }
    };
    if template.uses_version() && !has_version {
        findings.errors.push(
            Diagnostic::error(
                TITLE,
                format!(
                    "service `{}` uses {{version}} in `{text}` but has no `version:`",
                    input.service().name
                ),
            )
            .at(input.at(location.clone()))
            .with_help("add `version: { from: path/to/package.json }` (or pyproject.toml, Cargo.toml, VERSION), `version: { git-tag: \"svc/v*\" }`, or a literal"),
        );
        return None;
    }
    Some(template)
}

fn latest_allowed(policy: LatestPolicy, context: &PlanContext) -> bool {
    match policy {
        LatestPolicy::Always => true,
        LatestPolicy::Never => false,
        LatestPolicy::DefaultBranch => context.is_default_branch,
    }
}

fn mutable_only_warning(service: &Service, tags: &[String]) -> Diagnostic {
    Diagnostic::warning(
        TITLE,
        format!(
            "service `{}` only gets mutable tags ({}): such an image cannot be traced or rolled back, and `imagePullPolicy: IfNotPresent` will run stale code",
            service.name,
            tags.join(", ")
        ),
    )
    .at(Some(service.location.clone()))
    .with_help("add a unique tag such as `sha-{sha7}` or `{version}-{timestamp}`")
}

/// The plan entry: refs, labels and build inputs around the rendered tags.
fn entry(
    input: &Input,
    image: String,
    version: Option<String>,
    rendered: Rendered,
) -> PlannedService {
    let service = input.service();
    let defaults = &input.config.defaults;
    let primary = rendered.tags[0].clone();
    let custom: Vec<&BTreeMap<String, String>> = vec![&defaults.labels, &service.settings.labels];
    let labels = labels::labels(
        input.context,
        &labels::LabelInputs {
            service: &service.name,
            description: service.settings.description.as_deref(),
            primary_tag: &primary,
            custom,
        },
    );
    PlannedService {
        name: service.name.clone(),
        refs: rendered
            .tags
            .iter()
            .map(|t| format!("{image}:{t}"))
            .collect(),
        image,
        lookup_tag: rendered.content_tag.unwrap_or(primary),
        tags: rendered.tags,
        labels,
        build: super::build_spec(input.config, input.index),
        reason: input.reason.clone(),
        version,
        content: input.fact.content.clone(),
        mutable_only: rendered.mutable_only,
    }
}
