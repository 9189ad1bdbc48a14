//! A plan given back with `--plan`: read, version-checked and validated like a config.
//!
//! A plan crosses runners as a workflow output or an artifact, and can be edited by hand or by a
//! script in between. Whatever it holds reaches `docker buildx` arguments, registry requests,
//! Kubernetes patches and summary tables, so it is checked on load by the same rules the plan
//! was made with (service names, the image reference and tag grammar, digests), every problem at
//! once, each located at `file:line:col`, exit 2 — never a panic or a half-run build.

use super::json_location::{Step, locate};
use super::{PLAN_VERSION, Plan, PlannedService};
use crate::diagnostic::{Diagnostic, Location};
use crate::error::Failure;
use crate::reference::{Reference, is_valid_tag, shown, shown_up_to};
use std::collections::HashSet;

const TITLE: &str = "shipgate plan";
/// What locations say when the plan was given inline rather than as a file.
const INLINE: &str = "plan";

/// Reads a plan given as JSON text or as the path of a file holding it.
pub(super) fn load(value: &str) -> Result<Plan, Failure> {
    let (text, source) = if value.trim_start().starts_with('{') {
        (value.to_string(), INLINE.to_string())
    } else {
        let text = std::fs::read_to_string(value).map_err(|e| {
            Failure::usage(Diagnostic::error(
                TITLE,
                format!("cannot read the plan file {}: {e}", shown(value)),
            ))
        })?;
        (text, value.to_string())
    };
    parse(&text, &source)
}

/// Parses and validates a plan's text; `source` names it in locations.
pub(super) fn parse(text: &str, source: &str) -> Result<Plan, Failure> {
    check_version(text, source)?;
    let plan: Plan = serde_json::from_str(text).map_err(|e| json_error(&e, source))?;
    let problems = problems(&plan);
    if problems.is_empty() {
        return Ok(plan);
    }
    Err(Failure::Usage(
        problems
            .into_iter()
            .map(|problem| {
                let location = locate(text, &problem.path).map(|(line, column)| Location {
                    file: source.to_string(),
                    line,
                    column,
                });
                Diagnostic::error(TITLE, problem.message)
                    .at(location)
                    .with_help("give the `plan` output of `shipgate plan` unchanged")
            })
            .collect(),
    ))
}

/// Only the version first: a plan of another version may not even have today's shape.
fn check_version(text: &str, source: &str) -> Result<(), Failure> {
    #[derive(serde::Deserialize)]
    struct Header {
        version: Option<serde_json::Value>,
    }
    let header: Header = serde_json::from_str(text).map_err(|e| json_error(&e, source))?;
    let at = |path: &[Step]| {
        locate(text, path).map(|(line, column)| Location {
            file: source.to_string(),
            line,
            column,
        })
    };
    let version = match header.version {
        None => {
            return Err(Failure::usage(
                Diagnostic::error(TITLE, "this is not a shipgate plan: it has no `version`")
                    .at(at(&[]))
                    .with_help("give the `plan` output of `shipgate plan`"),
            ));
        }
        Some(value) => value,
    };
    let message = match version.as_u64() {
        Some(found) if found == u64::from(PLAN_VERSION) => return Ok(()),
        Some(found) if found < u64::from(PLAN_VERSION) => format!(
            "plan version {found} was written by an older shipgate; this shipgate reads plan version {PLAN_VERSION}"
        ),
        Some(found) => format!(
            "plan version {found} was written by a newer shipgate; this shipgate reads plan version {PLAN_VERSION}"
        ),
        None => format!(
            "the plan's `version` must be a whole number, not {}",
            shown(&version.to_string())
        ),
    };
    Err(Failure::usage(
        Diagnostic::error(TITLE, message)
            .at(at(&[Step::Key("version")]))
            .with_help("plan, build and deploy with the same shipgate release (the same `uses: …@ref` in every job)"),
    ))
}

/// A syntax or shape error, located where serde_json stopped.
fn json_error(error: &serde_json::Error, source: &str) -> Failure {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the location says that already.
    let message = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    let location = (error.line() > 0).then(|| Location {
        file: source.to_string(),
        line: error.line() as u64,
        column: error.column().max(1) as u64,
    });
    Failure::usage(
        Diagnostic::error(
            TITLE,
            format!(
                "the plan is not a shipgate plan: {}",
                shown_up_to(message, 300)
            ),
        )
        .at(location)
        .with_help("give the `plan` output of `shipgate plan` unchanged"),
    )
}

/// One thing wrong in a plan that parsed, with the path of the value it is about.
struct Problem {
    path: Vec<Step<'static>>,
    message: String,
}

fn problem(path: Vec<Step<'static>>, message: String) -> Problem {
    Problem { path, message }
}

/// Every problem of a parsed plan.
fn problems(plan: &Plan) -> Vec<Problem> {
    let mut found = Vec::new();
    let sha = &plan.context.sha;
    if !is_object_id(sha) {
        found.push(problem(
            vec![Step::Key("context"), Step::Key("sha")],
            format!("context.sha `{}` is not a commit id", shown(sha)),
        ));
    }
    let mut names = HashSet::new();
    for (index, service) in plan.services.iter().enumerate() {
        let at = |steps: &[Step<'static>]| {
            let mut path = vec![Step::Key("services"), Step::Index(index)];
            path.extend_from_slice(steps);
            path
        };
        if !crate::config::validate::valid_service_name(&service.name) {
            found.push(problem(
                at(&[Step::Key("name")]),
                format!(
                    "`{}` is not a service name (letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 63 characters)",
                    shown(&service.name)
                ),
            ));
        } else if !names.insert(service.name.as_str()) {
            found.push(problem(
                at(&[Step::Key("name")]),
                format!("the service `{}` is planned twice", service.name),
            ));
        }
        check_service(service, &at, &mut found);
    }
    found
}

/// The image, tags, refs, digest and build inputs of one service.
fn check_service(
    service: &PlannedService,
    at: &dyn Fn(&[Step<'static>]) -> Vec<Step<'static>>,
    found: &mut Vec<Problem>,
) {
    let name = shown(&service.name);
    match Reference::parse(&service.image) {
        Ok(reference) if reference.tag.is_none() && reference.digest.is_none() => {}
        Ok(_) => found.push(problem(
            at(&[Step::Key("image")]),
            format!(
                "service `{name}`: the image `{}` must not carry a tag or digest",
                shown(&service.image)
            ),
        )),
        Err(e) => found.push(problem(
            at(&[Step::Key("image")]),
            format!(
                "service `{name}`: the image `{}`: {e}",
                shown(&service.image)
            ),
        )),
    }
    if service.tags.is_empty() {
        found.push(problem(
            at(&[Step::Key("tags")]),
            format!("service `{name}` has no tag"),
        ));
    }
    for (index, tag) in service.tags.iter().enumerate() {
        if !is_valid_tag(tag) {
            found.push(problem(
                at(&[Step::Key("tags"), Step::Index(index)]),
                format!("service `{name}`: `{}` is not a Docker tag (letters, digits, `_`, `.` and `-`, not starting with `.` or `-`, at most 128 characters)", shown(tag)),
            ));
        }
    }
    check_refs(service, at, found);
    if !service.tags.contains(&service.lookup_tag) {
        found.push(problem(
            at(&[Step::Key("lookup_tag")]),
            format!(
                "service `{name}`: lookup_tag `{}` is not one of its tags",
                shown(&service.lookup_tag)
            ),
        ));
    }
    if !(service.content.len() == 64 && service.content.bytes().all(|b| b.is_ascii_hexdigit())) {
        found.push(problem(
            at(&[Step::Key("content")]),
            format!(
                "service `{name}`: content `{}` is not a sha256 digest (64 hex digits)",
                shown(&service.content)
            ),
        ));
    }
    check_build(service, at, found);
    check_secrets(service, at, found);
}

/// `build.secrets`: what becomes buildx's `--secret` flags and the builder's environment.
fn check_secrets(
    service: &PlannedService,
    at: &dyn Fn(&[Step<'static>]) -> Vec<Step<'static>>,
    found: &mut Vec<Problem>,
) {
    let mut ids = HashSet::new();
    for (index, secret) in service.build.secrets.iter().enumerate() {
        let path = |key: &'static str| {
            at(&[
                Step::Key("build"),
                Step::Key("secrets"),
                Step::Index(index),
                Step::Key(key),
            ])
        };
        for (key, message) in crate::build::secrets::problems(secret) {
            found.push(problem(
                path(key),
                format!("service `{}`: {message}", shown(&service.name)),
            ));
        }
        if !ids.insert(secret.id.as_str()) {
            found.push(problem(
                path("id"),
                format!(
                    "service `{}`: the secret id `{}` is listed twice",
                    shown(&service.name),
                    shown(&secret.id)
                ),
            ));
        }
    }
}

/// `refs` are exactly `image:tag` for each tag, in order: build pushes refs, deploy sets tags.
fn check_refs(
    service: &PlannedService,
    at: &dyn Fn(&[Step<'static>]) -> Vec<Step<'static>>,
    found: &mut Vec<Problem>,
) {
    if service.refs.len() != service.tags.len() {
        found.push(problem(
            at(&[Step::Key("refs")]),
            format!(
                "service `{}` has {} refs for {} tags (one `image:tag` per tag)",
                shown(&service.name),
                service.refs.len(),
                service.tags.len()
            ),
        ));
        return;
    }
    for (index, (reference, tag)) in service.refs.iter().zip(&service.tags).enumerate() {
        let expected = format!("{}:{tag}", service.image);
        if *reference != expected {
            found.push(problem(
                at(&[Step::Key("refs"), Step::Index(index)]),
                format!(
                    "service `{}`: ref `{}` is not `{}` (its image and tag)",
                    shown(&service.name),
                    shown(reference),
                    shown(&expected)
                ),
            ));
        }
    }
}

/// Build inputs that become `docker buildx` arguments.
fn check_build(
    service: &PlannedService,
    at: &dyn Fn(&[Step<'static>]) -> Vec<Step<'static>>,
    found: &mut Vec<Problem>,
) {
    let name = shown(&service.name);
    let build = &service.build;
    for (key, text) in [
        ("context", &build.context),
        ("dockerfile", &build.dockerfile),
    ] {
        if text.is_empty() || text.chars().any(char::is_control) {
            found.push(problem(
                at(&[Step::Key("build"), Step::Key(key)]),
                format!("service `{name}`: build.{key} must be a path (not empty, no control characters)"),
            ));
        }
    }
    for key in build.args.keys() {
        if key.is_empty()
            || key.contains('=')
            || key.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            found.push(problem(
                at(&[Step::Key("build"), Step::Key("args")]),
                format!(
                    "service `{name}`: build argument name `{}` is not a variable name",
                    shown(key)
                ),
            ));
        }
    }
    for (index, platform) in build.platforms.iter().enumerate() {
        let parts: Vec<&str> = platform.split('/').collect();
        let valid = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            });
        if !valid {
            found.push(problem(
                at(&[Step::Key("build"), Step::Key("platforms"), Step::Index(index)]),
                format!("service `{name}`: `{}` is not a platform (os/arch[/variant], e.g. linux/arm64)", shown(platform)),
            ));
        }
    }
    for key in service.labels.keys() {
        if key.is_empty()
            || key.contains('=')
            || key.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            found.push(problem(
                at(&[Step::Key("labels")]),
                format!(
                    "service `{name}`: label key `{}` is not a label name",
                    shown(key)
                ),
            ));
        }
    }
}

/// A git object id: 40 (SHA-1) or 64 (SHA-256) hex digits.
fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Builder, CachePolicy};
    use crate::detect::changes::Reason;
    use crate::plan::{BuildSpec, PlanContext};
    use serde_json::{Value, json};

    fn service(name: &str) -> PlannedService {
        PlannedService {
            name: name.into(),
            image: format!("ghcr.io/acme/{name}"),
            tags: vec!["1.0.0".into(), "sha-0123456".into()],
            refs: vec![
                format!("ghcr.io/acme/{name}:1.0.0"),
                format!("ghcr.io/acme/{name}:sha-0123456"),
            ],
            labels: [("git.commit".to_string(), "0123456".to_string())].into(),
            build: BuildSpec {
                context: ".".into(),
                dockerfile: "Dockerfile".into(),
                target: None,
                args: Default::default(),
                platforms: vec!["linux/arm64".into()],
                builder: Builder::Buildx,
                cache: CachePolicy::Fresh,
                command: None,
                workflow: None,
                secrets: vec![],
            },
            reason: Reason::Paths {
                file: format!("{name}/a.ts"),
                pattern: format!("{name}/**"),
                files: 2,
            },
            version: Some("1.0.0".into()),
            content: "ab".repeat(32),
            lookup_tag: "1.0.0".into(),
            mutable_only: false,
        }
    }

    fn plan_json() -> Value {
        serde_json::to_value(Plan {
            version: PLAN_VERSION,
            context: PlanContext::example(),
            services: vec![service("auth"), service("web")],
        })
        .unwrap()
    }

    /// The plan pretty-printed (one value a line, so locations are easy to read), parsed back.
    fn load_value(value: &Value) -> Result<Plan, Failure> {
        parse(&serde_json::to_string_pretty(value).unwrap(), "plan.json")
    }

    fn errors(value: &Value) -> Vec<String> {
        load_value(value)
            .unwrap_err()
            .diagnostics()
            .iter()
            .map(|d| match &d.location {
                Some(at) => format!("{at}: {}", d.message),
                None => d.message.clone(),
            })
            .collect()
    }

    #[test]
    fn a_written_plan_loads_back_unchanged() {
        let value = plan_json();
        let plan = load_value(&value).unwrap();
        assert_eq!(serde_json::to_value(&plan).unwrap(), value);
        assert_eq!(
            plan.services[0].reason.describe(),
            "auth/a.ts matched auth/** and 1 more"
        );
    }

    #[test]
    fn build_secrets_are_written_by_name_and_checked_on_load() {
        let mut value = plan_json();
        assert!(
            value["services"][0]["build"].get("secrets").is_none(),
            "a plan without secrets is written as before"
        );
        value["services"][0]["build"]["secrets"] = json!([{"id": "npm_token", "env": "NPM_TOKEN"}]);
        let plan = load_value(&value).unwrap();
        assert_eq!(
            plan.services[0].build.secrets[0].flag(),
            "id=npm_token,env=NPM_TOKEN"
        );
        assert_eq!(serde_json::to_value(&plan).unwrap(), value);
        value["services"][1]["build"]["secrets"] = json!([
            {"id": "a b", "env": "X"},
            {"id": "ok", "env": "BAD-NAME"},
            {"id": "ok", "src": "f"},
        ]);
        let found = errors(&value);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].contains("service `web`: secret id `a b`"),
            "{}",
            found[0]
        );
        assert!(found[1].contains("`BAD-NAME` is not an environment variable name"));
        assert!(found[2].contains("`ok` is listed twice"));
        assert!(
            found.iter().all(|f| f.starts_with("plan.json:")),
            "{found:#?}"
        );
        value["services"][1]["build"]["secrets"] = json!([{"id": "x", "value": "s3cr3t"}]);
        assert!(load_value(&value).is_err(), "unknown keys are refused");
    }

    #[test]
    fn older_newer_and_missing_versions_are_clear_errors() {
        let mut older = plan_json();
        older["version"] = json!(1);
        older["services"][0]["build"]["builder"] = json!(42);
        let error = load_value(&older).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let text = serde_json::to_string_pretty(&older).unwrap();
        let line = text
            .lines()
            .position(|l| l.contains("\"version\": 1"))
            .unwrap()
            + 1;
        assert_eq!(
            errors(&older),
            [format!(
                "plan.json:{line}:14: plan version 1 was written by an older shipgate; this shipgate reads plan version 2"
            )]
        );
        let mut newer = plan_json();
        newer["version"] = json!(3);
        assert!(errors(&newer)[0].contains("plan version 3 was written by a newer shipgate"));
        newer["version"] = json!("2");
        assert!(errors(&newer)[0].contains("must be a whole number, not \"2\""));
        assert!(
            errors(&json!({"services": []}))[0]
                .contains("not a shipgate plan: it has no `version`")
        );
    }

    #[test]
    fn syntax_and_shape_errors_are_located_where_serde_stopped() {
        let error = parse("{\"version\": 2,\n \"context\": {,}}", "p.json").unwrap_err();
        let diagnostic = &error.diagnostics()[0];
        assert_eq!(
            diagnostic.location.as_ref().map(|l| (l.line, l.column)),
            Some((2, 14))
        );
        assert!(
            !diagnostic.message.contains(" at line "),
            "{}",
            diagnostic.message
        );
        let mut unknown = plan_json();
        unknown["services"][1]["build"]["builder"] = json!("kaniko");
        let message = &errors(&unknown)[0];
        assert!(message.starts_with("plan.json:"), "{message}");
        assert!(
            message.contains(
                "unknown variant `kaniko`, expected one of `buildx`, `command`, `workflow`, `none`"
            ),
            "{message}"
        );
    }

    #[test]
    fn names_tags_refs_and_digests_are_checked_and_located() {
        let mut bad = plan_json();
        let web = &mut bad["services"][1];
        web["name"] = json!("auth");
        web["tags"][1] = json!("-bad");
        web["refs"][0] = json!("ghcr.io/acme/other:1.0.0");
        web["image"] = json!("ghcr.io/Acme/web");
        web["content"] = json!("nope");
        web["lookup_tag"] = json!("2.0.0");
        web["build"]["platforms"][0] = json!("linux");
        web["build"]["args"] = json!({"A=B": "x"});
        bad["context"]["sha"] = json!("HEAD");
        let found = errors(&bad);
        let expected = [
            "context.sha `HEAD` is not a commit id",
            "the service `auth` is planned twice",
            "the image `ghcr.io/Acme/web`: `Acme` has `A`",
            "`-bad` is not a Docker tag",
            "ref `ghcr.io/acme/other:1.0.0` is not `ghcr.io/Acme/web:1.0.0`",
            "ref `ghcr.io/acme/web:sha-0123456` is not `ghcr.io/Acme/web:-bad`",
            "lookup_tag `2.0.0` is not one of its tags",
            "content `nope` is not a sha256 digest",
            "build argument name `A=B` is not a variable name",
            "`linux` is not a platform",
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for (found, expected) in found.iter().zip(expected) {
            assert!(found.starts_with("plan.json:"), "{found}");
            assert!(found.contains(expected), "{found} should say {expected}");
        }
        // Each is located at its own value.
        let text = serde_json::to_string_pretty(&bad).unwrap();
        let line_of =
            |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
        let lines: Vec<u64> = load_value(&bad)
            .unwrap_err()
            .diagnostics()
            .iter()
            .map(|d| d.location.as_ref().unwrap().line)
            .collect();
        assert_eq!(lines[0], line_of("\"HEAD\""));
        assert_eq!(lines[3], line_of("\"-bad\""));
        assert_eq!(lines[6], line_of("\"2.0.0\""));
        assert_eq!(lines[9], line_of("\"linux\""));
    }

    #[test]
    fn a_huge_service_name_is_refused_briefly_never_a_panic() {
        let mut huge = plan_json();
        huge["services"][0]["name"] = json!("a".repeat(70_000));
        let found = errors(&huge);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("… (70000 characters)` is not a service name"),
            "{}",
            &found[0][..200]
        );
        assert!(found[0].len() < 400);
    }

    #[test]
    fn a_missing_file_says_so_and_inline_json_is_named_plan() {
        let error = load("/nonexistent/plan.json").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("cannot read the plan file /nonexistent/plan.json")
        );
        let inline = load("{\"version\": 2, \"context\": 1}").unwrap_err();
        assert_eq!(
            inline.diagnostics()[0]
                .location
                .as_ref()
                .map(|l| l.file.as_str()),
            Some("plan")
        );
    }
}
