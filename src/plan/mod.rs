//! The plan: per service the image, its tags and labels, and how to build it.
//!
//! Everything is decided here, once, from the config, the context and git objects; the plan is
//! plain data that build and deploy (possibly on other runners) take back with `--plan` and never
//! recompute.

mod build_spec;
pub mod content;
pub mod image;
mod json_location;
pub mod labels;
mod load;
pub mod outputs;
mod service;
pub mod tags;
pub mod time;
pub mod version;

pub use build_spec::build_spec;

use crate::config::Config;
use crate::config::model::{Builder, CachePolicy};
use crate::context::{Context, Event};
use crate::detect::changes::{Affected, Reason};
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

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

/// The version of the plan format this shipgate writes and reads. Plans cross runners (matrix
/// legs, a later deploy job), so both ends must agree; a plan of another version is refused with
/// a clear error rather than half-understood. Version 2: `build.builder`/`build.cache` are checked
/// names and every service carries its typed `cause` next to the one-line `reason`.
pub const PLAN_VERSION: u32 = 2;

/// How one image is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSpec {
    pub context: String,
    pub dockerfile: String,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    pub platforms: Vec<String>,
    pub builder: Builder,
    pub cache: CachePolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// `build.secrets`: ids and the names of their variables or files, never values. Left out
    /// when empty, so a plan without secrets reads the same as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<crate::build::secrets::Secret>,
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
    /// Why the service is in the plan. In JSON: `reason`, the one line people read, and `cause`,
    /// the same typed value `detect` writes (`{"kind": "paths", "file": …}`).
    #[serde(flatten, with = "reason_fields")]
    pub reason: Reason,
    pub version: Option<String>,
    /// The `{content}` digest (sha256 of the build inputs).
    pub content: String,
    /// The tag `skip-existing` looks up: the `{content}` tag if there is one, else the primary.
    pub lookup_tag: String,
    /// Whether every tag is mutable (`latest`-like or without a unique value).
    pub mutable_only: bool,
}

/// `PlannedService.reason` as two JSON keys: `reason` (text, written, ignored on load) and
/// `cause` (typed, the source of truth).
mod reason_fields {
    use crate::detect::changes::Reason;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        reason: &Reason,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("reason", &reason.describe())?;
        map.serialize_entry("cause", reason)?;
        map.end()
    }

    #[derive(Deserialize)]
    struct Fields {
        cause: Reason,
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Reason, D::Error> {
        Fields::deserialize(deserializer).map(|fields| fields.cause)
    }
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub context: PlanContext,
    pub services: Vec<PlannedService>,
}

impl Plan {
    /// Reads a plan given as JSON text or as the path of a file holding it, and validates it like
    /// a config: every problem at once, located, exit 2 (see [`load`]).
    pub fn load(value: &str) -> Result<Plan, Failure> {
        load::load(value)
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
    let mut findings = service::Findings::default();
    let index_of: HashMap<&str, usize> = config
        .services
        .iter()
        .enumerate()
        .map(|(index, service)| (service.name.as_str(), index))
        .collect();
    let mut services = Vec::new();
    for affected in affected {
        let Some(&index) = index_of.get(affected.name.as_str()) else {
            continue;
        };
        let input = service::Input {
            config,
            context: &context,
            index,
            reason: &affected.reason,
            fact: &facts[index],
        };
        if let Some(planned) = service::plan_service(&input, &mut findings) {
            services.push(planned);
        }
    }
    let notes = findings.finish()?;
    services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((
        Plan {
            version: PLAN_VERSION,
            context,
            services,
        },
        notes,
    ))
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
        assert!(Plan::load("{\"version\": 3, \"context\": {}, \"services\": []}").is_err());
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["services"][0]["reason"], "selected by test");
        assert_eq!(json["services"][0]["cause"]["kind"], "selected");
        assert_eq!(json["services"][0]["build"]["builder"], "buildx");
        assert_eq!(json["services"][0]["build"]["cache"], "fresh");
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
