//! The plan: per service the image, its tags and labels, and how to build it.
//!
//! Everything is decided here, once, from the config, the context and git objects; the plan is
//! plain data that build and deploy (possibly on other runners) take back with `--plan` and never
//! recompute.

pub mod content;
pub mod image;
pub mod labels;
pub mod outputs;
pub mod tags;
pub mod time;
pub mod version;

use crate::config::Config;
use crate::config::model::{Builder, CachePolicy, LatestPolicy};
use crate::context::{Context, Event};
use crate::detect::changes::Affected;
use crate::diagnostic::{Diagnostic, Location};
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tags::{Skip, TagTemplate, TagValues};

/// The run-wide facts every service's tags and labels come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanContext {
    /// The commit built: the pull request's head commit on `pull_request`, not the merge commit.
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub event: String,
    /// Unix seconds, taken once per run (`SOURCE_DATE_EPOCH` overrides).
    pub timestamp: i64,
    pub branch: Option<String>,
    pub pr: Option<u64>,
    pub default_branch: Option<String>,
    pub is_default_branch: bool,
    pub repository: Option<String>,
    pub repository_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    pub run_number: Option<String>,
    pub run_url: Option<String>,
    pub environment: Option<String>,
    /// Said in the summary when `sha` is not `GITHUB_SHA` (pull requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha_note: Option<String>,
}

impl PlanContext {
    /// Derives the plan context. `head` is the commit being planned, `current_branch` the local
    /// branch (terminal runs), `now` the run time when `SOURCE_DATE_EPOCH` is not set.
    pub fn new(
        context: &Context,
        head: &str,
        current_branch: Option<String>,
        environment: Option<String>,
        source_date_epoch: Option<i64>,
        now: i64,
    ) -> Self {
        let git_ref = context
            .git_ref
            .clone()
            .or_else(|| current_branch.as_ref().map(|b| format!("refs/heads/{b}")))
            .unwrap_or_default();
        let (branch, pr, sha_note) = match &context.event {
            Event::PullRequest(pr) => (
                Some(pr.head_ref.clone()),
                Some(pr.number),
                Some(format!(
                    "pull request #{}: tags and labels use its head commit {}, not the merge commit GITHUB_SHA",
                    pr.number,
                    &pr.head_sha.get(..7).unwrap_or(&pr.head_sha)
                )),
            ),
            _ => (
                git_ref
                    .strip_prefix("refs/heads/")
                    .map(str::to_string)
                    .or(current_branch),
                None,
                None,
            ),
        };
        let default_branch = context.default_branch.clone();
        let is_default_branch = match &context.event {
            Event::PullRequest(_) | Event::MergeGroup { .. } => false,
            Event::Schedule => true,
            _ => branch.is_some() && branch == default_branch,
        };
        PlanContext {
            sha: head.to_string(),
            git_ref,
            event: context.event_name.clone().unwrap_or_else(|| "local".into()),
            timestamp: source_date_epoch.unwrap_or(now),
            branch,
            pr,
            default_branch,
            is_default_branch,
            repository: context.repository.clone(),
            repository_url: context
                .repository
                .as_ref()
                .map(|r| format!("{}/{r}", context.server_url)),
            repository_description: context.repository_description.clone(),
            license: context.license.clone(),
            run_number: context.run_number.clone(),
            run_url: context.run_url(),
            environment,
            sha_note,
        }
    }
}

/// The commit a run builds: the pull request's head (not the merge commit), the pushed commit,
/// the merge queue's head; otherwise the compared head, `GITHUB_SHA`, or `HEAD`.
pub fn planned_revision(event: &Event, range_head: Option<&str>, sha: Option<&str>) -> String {
    match event {
        Event::PullRequest(pr) => pr.head_sha.clone(),
        Event::Push(push) => push.after.clone(),
        Event::MergeGroup { head_sha, .. } => head_sha.clone(),
        _ => range_head.or(sha).unwrap_or("HEAD").to_string(),
    }
}

#[cfg(test)]
impl PlanContext {
    /// A push to the default branch `main` at a fixed time, for tests to adjust.
    pub(crate) fn example() -> Self {
        PlanContext {
            sha: "3370e228a1ce19322e91ac35af1ab07466440c37".into(),
            git_ref: "refs/heads/main".into(),
            event: "push".into(),
            timestamp: 1_766_836_944,
            branch: Some("main".into()),
            pr: None,
            default_branch: Some("main".into()),
            is_default_branch: true,
            repository: None,
            repository_url: None,
            repository_description: None,
            license: None,
            run_number: None,
            run_url: None,
            environment: None,
            sha_note: None,
        }
    }
}

/// How one image is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSpec {
    pub context: String,
    pub dockerfile: String,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    pub platforms: Vec<String>,
    pub builder: String,
    pub cache: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// One service of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedService {
    pub name: String,
    /// Registry and repository, no tag.
    pub image: String,
    /// Bare tags, primary first.
    pub tags: Vec<String>,
    /// `image:tag` for each tag.
    pub refs: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub build: BuildSpec,
    /// Why the service is in the plan.
    pub reason: String,
    pub version: Option<String>,
    /// The `{content}` digest (sha256 of the build inputs).
    pub content: String,
    /// The tag `skip-existing` looks up: the `{content}` tag if there is one, else the primary.
    pub lookup_tag: String,
    /// Whether every tag is mutable (`latest`-like or without a unique value).
    pub mutable_only: bool,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub context: PlanContext,
    pub services: Vec<PlannedService>,
}

impl Plan {
    /// Reads a plan given as JSON text or as the path of a file holding it.
    pub fn load(value: &str) -> Result<Plan, Failure> {
        let text = if value.trim_start().starts_with('{') {
            value.to_string()
        } else {
            std::fs::read_to_string(value).map_err(|e| {
                Failure::usage(Diagnostic::error(
                    "shipgate plan",
                    format!("cannot read the plan file {value}: {e}"),
                ))
            })?
        };
        let plan: Plan = serde_json::from_str(&text).map_err(|e| {
            Failure::usage(Diagnostic::error(
                "shipgate plan",
                format!("the plan is not a shipgate plan: {e}"),
            ))
        })?;
        if plan.version != 1 {
            return Err(Failure::usage(Diagnostic::error(
                "shipgate plan",
                format!(
                    "plan version {} is not supported by this shipgate (expects 1)",
                    plan.version
                ),
            )));
        }
        Ok(plan)
    }
}

/// Per planned service, what the edges computed: its version and content digest.
pub struct ServiceFacts {
    pub version: Option<Result<String, String>>,
    pub content: String,
}

const TITLE: &str = "shipgate plan";

/// The default tags when neither the service nor `defaults` set any.
pub fn default_tags(has_version: bool) -> Vec<&'static str> {
    if has_version {
        vec!["{version}-{timestamp}", "sha-{sha7}"]
    } else {
        vec!["sha-{sha7}-{timestamp}", "sha-{sha7}"]
    }
}

/// Builds the plan for the affected services that have an image. `facts` is indexed like
/// `config.services`. Every problem is collected; any error fails the whole plan.
pub fn plan(
    config: &Config,
    context: PlanContext,
    affected: &[Affected],
    facts: &[ServiceFacts],
) -> Result<(Plan, Vec<Diagnostic>), Failure> {
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut skipped_latest: Vec<String> = Vec::new();
    let mut services = Vec::new();
    let defaults = &config.defaults;
    let registry = defaults.registry.as_ref().map(|r| r.value.as_str());

    for affected in affected {
        let Some(index) = config.service_index(&affected.name) else {
            continue;
        };
        let service = &config.services[index];
        let settings = &service.settings;
        let Some(image_setting) = &settings.image else {
            continue;
        };
        let at = |spanned_location: Option<Location>| {
            spanned_location.or_else(|| Some(service.location.clone()))
        };
        let image_location = at(crate::config::validate::locate(image_setting, &config.path));
        let image = match image::image_name(registry, &image_setting.value) {
            Ok(image) => image,
            Err(message) => {
                errors.push(Diagnostic::error(TITLE, message).at(image_location));
                continue;
            }
        };

        let fact = &facts[index];
        let version = match &fact.version {
            None => None,
            Some(Ok(version)) => Some(version.clone()),
            Some(Err(message)) => {
                let location = settings
                    .version
                    .as_ref()
                    .and_then(|v| crate::config::validate::locate(v, &config.path));
                errors.push(
                    Diagnostic::error(TITLE, format!("service `{}`: {message}", service.name))
                        .at(at(location)),
                );
                continue;
            }
        };

        // The service's own tags or preset, then the defaults' tags or preset, then built-in.
        let listed =
            |list: &Vec<serde_saphyr::Spanned<String>>| -> Vec<(String, Option<Location>)> {
                list.iter()
                    .map(|t| {
                        (
                            t.value.clone(),
                            crate::config::validate::locate(t, &config.path),
                        )
                    })
                    .collect()
            };
        let preset = |preset: crate::config::model::TagPreset| -> Vec<(String, Option<Location>)> {
            preset
                .templates()
                .iter()
                .map(|t| (t.to_string(), Some(service.location.clone())))
                .collect()
        };
        let written: Vec<(String, Option<Location>)> = if let Some(list) = &settings.tags {
            listed(list)
        } else if let Some(own) = settings.tag_preset {
            preset(own)
        } else if let Some(list) = &defaults.tags {
            listed(list)
        } else if let Some(shared) = defaults.tag_preset {
            preset(shared)
        } else {
            default_tags(version.is_some())
                .into_iter()
                .map(|t| (t.to_string(), None))
                .collect()
        };
        let latest = settings.latest.or(defaults.latest).unwrap_or_default();
        let values = TagValues {
            version: version.clone(),
            timestamp: context.timestamp,
            sha: Some(context.sha.clone()),
            branch: context.branch.clone(),
            pr: context.pr,
            environment: context.environment.clone(),
            run_number: context.run_number.clone(),
            content: Some(fact.content.chars().take(16).collect()),
        };
        let mut tags: Vec<String> = Vec::new();
        let mut lookup_tag = None;
        let mut all_mutable = true;
        let mut failed = false;
        for (text, location) in &written {
            let template = match TagTemplate::parse(text) {
                Ok(template) => template,
                Err(message) => {
                    errors.push(Diagnostic::error(TITLE, message).at(at(location.clone())));
                    failed = true;
                    continue;
                }
            };
            if template.uses_version() && version.is_none() {
                errors.push(
                    Diagnostic::error(TITLE, format!("service `{}` uses {{version}} in `{text}` but has no `version:`", service.name))
                        .at(at(location.clone()))
                        .with_help("add `version: { from: path/to/package.json }` (or pyproject.toml, Cargo.toml, VERSION), `version: { git-tag: \"svc/v*\" }`, or a literal"),
                );
                failed = true;
                continue;
            }
            if template.is_latest() {
                let allowed = match latest {
                    LatestPolicy::Always => true,
                    LatestPolicy::Never => false,
                    LatestPolicy::DefaultBranch => context.is_default_branch,
                };
                if !allowed {
                    skipped_latest.push(format!("{} `{text}`", service.name));
                    continue;
                }
            }
            match template.render(&values) {
                Ok(tag) => {
                    if !template.is_mutable() {
                        all_mutable = false;
                    }
                    if template.uses_content() && lookup_tag.is_none() {
                        lookup_tag = Some(tag.clone());
                    }
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                Err(Skip::Missing(what)) => notes.push(Diagnostic::notice(
                    TITLE,
                    format!(
                        "service `{}`: tag `{text}` skipped: this run has no {what}",
                        service.name
                    ),
                )),
            }
        }
        if failed {
            continue;
        }
        if tags.is_empty() {
            errors.push(
                Diagnostic::error(
                    TITLE,
                    format!("service `{}` gets no tag in this run", service.name),
                )
                .at(Some(service.location.clone()))
                .with_help("add a tag that always applies, e.g. `sha-{sha7}`"),
            );
            continue;
        }
        if all_mutable {
            notes.push(
                Diagnostic::warning(
                    TITLE,
                    format!(
                        "service `{}` only gets mutable tags ({}): such an image cannot be traced or rolled back, and `imagePullPolicy: IfNotPresent` will run stale code",
                        service.name,
                        tags.join(", ")
                    ),
                )
                .at(Some(service.location.clone()))
                .with_help("add a unique tag such as `sha-{sha7}` or `{version}-{timestamp}`"),
            );
        }

        let build = build_spec(config, index);
        let primary = tags[0].clone();
        let custom: Vec<&BTreeMap<String, String>> = vec![&defaults.labels, &settings.labels];
        let labels = labels::labels(
            &context,
            &labels::LabelInputs {
                service: &service.name,
                description: settings.description.as_deref(),
                primary_tag: &primary,
                custom,
            },
        );
        services.push(PlannedService {
            name: service.name.clone(),
            refs: tags.iter().map(|t| format!("{image}:{t}")).collect(),
            image,
            lookup_tag: lookup_tag.unwrap_or_else(|| primary.clone()),
            tags,
            labels,
            build,
            reason: affected.reason.describe(),
            version,
            content: fact.content.clone(),
            mutable_only: all_mutable,
        });
    }
    if !errors.is_empty() {
        return Err(Failure::Usage(errors));
    }
    if !skipped_latest.is_empty() {
        notes.push(Diagnostic::notice(
            TITLE,
            format!(
                "latest-like tags are only pushed from the default branch; skipped: {}",
                skipped_latest.join(", ")
            ),
        ));
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((
        Plan {
            version: 1,
            context,
            services,
        },
        notes,
    ))
}

/// The build settings of a service over `defaults.build`.
pub fn build_spec(config: &Config, index: usize) -> BuildSpec {
    let own = config.services[index].settings.build.as_ref();
    let defaults = config.defaults.build.as_ref();
    let pick = |f: &dyn Fn(&crate::config::model::BuildSettings) -> Option<String>| {
        own.and_then(f).or_else(|| defaults.and_then(f))
    };
    let context = pick(&|b| b.context.clone()).unwrap_or_else(|| ".".into());
    let dockerfile = pick(&|b| b.dockerfile.clone()).unwrap_or_else(|| {
        if context == "." {
            "Dockerfile".into()
        } else {
            format!("{}/Dockerfile", context.trim_end_matches('/'))
        }
    });
    let mut args = defaults.map(|b| b.args.clone()).unwrap_or_default();
    args.extend(own.map(|b| b.args.clone()).unwrap_or_default());
    let platforms = own
        .filter(|b| !b.platforms.is_empty())
        .or(defaults)
        .map(|b| b.platforms.clone())
        .unwrap_or_default();
    let builder = own
        .and_then(|b| b.builder)
        .or_else(|| defaults.and_then(|b| b.builder))
        .unwrap_or(Builder::Buildx);
    let cache = own
        .and_then(|b| b.cache)
        .or_else(|| defaults.and_then(|b| b.cache))
        .unwrap_or(CachePolicy::Fresh);
    BuildSpec {
        context,
        dockerfile,
        target: pick(&|b| b.target.clone()),
        args,
        platforms,
        builder: match builder {
            Builder::Buildx => "buildx",
            Builder::Command => "command",
            Builder::Workflow => "workflow",
            Builder::None => "none",
        }
        .into(),
        cache: match cache {
            CachePolicy::Fresh => "fresh",
            CachePolicy::Registry => "registry",
            CachePolicy::Gha => "gha",
        }
        .into(),
        command: own
            .and_then(|b| b.command.clone())
            .or_else(|| defaults.and_then(|b| b.command.clone())),
        workflow: pick(&|b| b.workflow.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse;
    use crate::detect::changes::Reason;

    const CONFIG: &str = "version: 1
defaults:
  registry: ghcr.io/Acme
  environment: prod
  tags: [\"{version}-{timestamp}\", \"sha-{sha7}\", \"{environment}-latest\"]
  labels: { org.opencontainers.image.vendor: Acme }
services:
  common: { paths: [libs/**] }
  auth: { paths: [auth/**], depends-on: [common], image: Auth-Service, version: { from: auth/package.json }, description: Tokens }
  web: { paths: [web/**], image: web, tags: [\"{branch}\", latest] }
";

    fn context(is_default_branch: bool) -> PlanContext {
        PlanContext {
            is_default_branch,
            repository: Some("acme/shop".into()),
            repository_url: Some("https://github.com/acme/shop".into()),
            run_number: Some("7".into()),
            environment: Some("prod".into()),
            ..PlanContext::example()
        }
    }

    #[test]
    fn the_planned_commit_is_the_pull_request_head_or_the_pushed_commit() {
        use crate::context::{PullRequest, Push};
        let pr = Event::PullRequest(PullRequest {
            number: 1,
            base_sha: "b".into(),
            head_sha: "h".into(),
            base_ref: "main".into(),
            head_ref: "f".into(),
            author: "o".into(),
            title: String::new(),
            changed_files: None,
        });
        assert_eq!(planned_revision(&pr, Some("x"), Some("merge")), "h");
        let push = Event::Push(Push {
            before: "a".into(),
            after: "p".into(),
            git_ref: "refs/heads/main".into(),
            forced: false,
            created: false,
            deleted: false,
        });
        assert_eq!(planned_revision(&push, None, Some("p2")), "p");
        let queue = Event::MergeGroup {
            base_sha: "b".into(),
            head_sha: "q".into(),
        };
        assert_eq!(planned_revision(&queue, None, None), "q");
        assert_eq!(planned_revision(&Event::Local, Some("r"), Some("s")), "r");
        assert_eq!(planned_revision(&Event::Schedule, None, Some("s")), "s");
        assert_eq!(planned_revision(&Event::Local, None, None), "HEAD");
    }

    fn affected(names: &[&str]) -> Vec<Affected> {
        names
            .iter()
            .map(|n| Affected {
                name: n.to_string(),
                image: None,
                reason: Reason::Selected { by: "test".into() },
            })
            .collect()
    }

    fn facts(version: Option<Result<String, String>>) -> Vec<ServiceFacts> {
        vec![
            ServiceFacts {
                version: None,
                content: "c0".repeat(32),
            },
            ServiceFacts {
                version,
                content: "a1".repeat(32),
            },
            ServiceFacts {
                version: None,
                content: "b2".repeat(32),
            },
        ]
    }

    #[test]
    fn tags_refs_and_labels_on_the_default_branch() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let (plan, notes) = plan(
            &config,
            context(true),
            &affected(&["common", "auth"]),
            &facts(Some(Ok("1.1.0".into()))),
        )
        .unwrap();
        assert_eq!(plan.services.len(), 1, "libraries are not planned");
        let auth = &plan.services[0];
        assert_eq!(auth.image, "ghcr.io/acme/auth-service");
        assert_eq!(
            auth.tags,
            vec!["1.1.0-1766836944", "sha-3370e22", "prod-latest"]
        );
        assert_eq!(auth.refs[0], "ghcr.io/acme/auth-service:1.1.0-1766836944");
        assert_eq!(
            auth.labels["org.opencontainers.image.version"],
            "1.1.0-1766836944"
        );
        assert_eq!(
            auth.labels["org.opencontainers.image.description"],
            "Tokens"
        );
        assert_eq!(auth.labels["org.opencontainers.image.vendor"], "Acme");
        assert_eq!(auth.build.dockerfile, "Dockerfile");
        assert!(!auth.mutable_only);
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn latest_is_skipped_off_the_default_branch_and_mutable_only_warns() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let mut off = context(false);
        off.branch = Some("my/feature#1245".into());
        let (plan, notes) = plan(
            &config,
            off,
            &affected(&["auth", "web"]),
            &facts(Some(Ok("1.1.0".into()))),
        )
        .unwrap();
        assert_eq!(
            plan.services[0].tags,
            vec!["1.1.0-1766836944", "sha-3370e22"]
        );
        assert_eq!(plan.services[1].tags, vec!["my-feature-1245"]);
        assert!(plan.services[1].mutable_only);
        assert!(notes.iter().any(|n| {
            n.message
                .contains("skipped: auth `{environment}-latest`, web `latest`")
        }));
        assert!(
            notes
                .iter()
                .any(|n| n.level == crate::diagnostic::Level::Warning
                    && n.message.contains("service `web` only gets mutable tags"))
        );
    }

    #[test]
    fn a_version_problem_is_located_at_the_version_key() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let error = plan(
            &config,
            context(true),
            &affected(&["auth"]),
            &facts(Some(Err("no version".into()))),
        )
        .unwrap_err();
        let d = &error.diagnostics()[0];
        assert!(d.message.contains("service `auth`: no version"));
        assert_eq!(d.location.as_ref().map(|l| l.line), Some(9));
    }

    #[test]
    fn a_version_placeholder_without_a_version_source_is_an_error() {
        let config = parse(
            &CONFIG.replace(", version: { from: auth/package.json }", ""),
            "c.yml",
        )
        .unwrap();
        let error = plan(&config, context(true), &affected(&["auth"]), &facts(None)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("uses {version} in `{version}-{timestamp}` but has no `version:`")
        );
        assert_eq!(
            error.diagnostics()[0].location.as_ref().map(|l| l.line),
            Some(5)
        );
    }

    #[test]
    fn plans_round_trip_through_json() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let (plan, _) = plan(
            &config,
            context(true),
            &affected(&["auth", "web"]),
            &facts(Some(Ok("1.1.0".into()))),
        )
        .unwrap();
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(Plan::load(&text).unwrap(), plan);
        assert!(Plan::load("{\"version\": 2, \"context\": {}, \"services\": []}").is_err());
        assert!(
            Plan::load("/nonexistent/plan.json")
                .unwrap_err()
                .to_string()
                .contains("cannot read the plan file")
        );
    }

    #[test]
    fn the_plan_context_uses_the_pull_request_head() {
        let payload = serde_json::json!({"pull_request": {"number": 15, "base": {"sha": "b", "ref": "master"},
            "head": {"sha": "3370e228a1ce19322e91ac35af1ab07466440c37", "ref": "feature"}, "user": {"login": "o"}},
            "repository": {"default_branch": "master"}});
        let env = |name: &str| match name {
            "GITHUB_SHA" => Some("a9c8c58bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".to_string()),
            "GITHUB_REPOSITORY" => Some("octocat/Hello-World".to_string()),
            "GITHUB_REF" => Some("refs/pull/15/merge".to_string()),
            _ => None,
        };
        let context =
            Context::from_parts(&env, Some("pull_request".into()), Some(payload)).unwrap();
        let plan_context = PlanContext::new(
            &context,
            "3370e228a1ce19322e91ac35af1ab07466440c37",
            None,
            None,
            Some(1),
            2,
        );
        assert_eq!(plan_context.sha, "3370e228a1ce19322e91ac35af1ab07466440c37");
        assert_eq!(plan_context.pr, Some(15));
        assert_eq!(plan_context.branch.as_deref(), Some("feature"));
        assert!(!plan_context.is_default_branch);
        assert_eq!(plan_context.timestamp, 1);
        assert!(
            plan_context
                .sha_note
                .unwrap()
                .contains("not the merge commit")
        );
        assert_eq!(
            plan_context.repository_url.as_deref(),
            Some("https://github.com/octocat/Hello-World")
        );
    }
}

#[cfg(test)]
mod preset_tests {
    use super::*;
    use crate::config::load::parse;
    use crate::detect::changes::Reason;

    #[test]
    fn ready_made_tag_sets() {
        let config = parse(
            "version: 1\ndefaults: { environment: prod, tag-preset: environment }\nservices:\n  events: { paths: [e/**], image: events, version: \"0.8.8\" }\n  auth: { paths: [a/**], image: auth, version: \"1.1.0\", tag-preset: version-timestamp }\n",
            "c.yml",
        )
        .unwrap();
        let context = PlanContext {
            sha: "983315b4f53e5c5d4c8a4e9b0f0e3d3e1c2b1a09".into(),
            environment: Some("prod".into()),
            ..PlanContext::example()
        };
        let affected: Vec<Affected> = ["events", "auth"]
            .iter()
            .map(|n| Affected {
                name: n.to_string(),
                image: None,
                reason: Reason::Selected { by: "t".into() },
            })
            .collect();
        let facts = vec![
            ServiceFacts {
                version: Some(Ok("0.8.8".into())),
                content: "0".repeat(64),
            },
            ServiceFacts {
                version: Some(Ok("1.1.0".into())),
                content: "1".repeat(64),
            },
        ];
        let (plan, _) = plan(&config, context, &affected, &facts).unwrap();
        assert_eq!(
            plan.services[0].tags,
            vec!["1.1.0-1766836944", "sha-983315b", "latest"]
        );
        assert_eq!(
            plan.services[1].tags,
            vec![
                "prod-v0.8.8",
                "prod-983315b4f53e5c5d4c8a4e9b0f0e3d3e1c2b1a09",
                "prod-latest"
            ]
        );
    }
}
