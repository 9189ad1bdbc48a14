//! Build secrets (`build.secrets`): the named values a service's Dockerfile may read with
//! `RUN --mount=type=secret,id=<id>`, handed to buildx the way BuildKit documents it —
//! `--secret id=<id>,env=<VARIABLE>` or `--secret id=<id>,src=<file>` — never as a build argument
//! (which would be written into the image's history).
//!
//! A builder's environment is scrubbed by default ([`super::process`]); a variable listed here is
//! the one exception, and only for the service that lists it: every other service's builder has
//! it withheld too. Its value is masked before the build stage prints anything, and only the id
//! and the variable's or file's *name* ever reach the plan, the logs and the summary. Pure
//! functions; the caller reads the environment.

use crate::plan::{BuildSpec, Plan, PlannedService};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One secret of a service's build, as the plan carries it: names only, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// What the Dockerfile mounts (`--mount=type=secret,id=<id>`).
    pub id: String,
    /// The variable of shipgate's environment the value comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Or the file it comes from (relative to the repository root, or absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
}

impl Secret {
    /// The value of buildx's `--secret` flag.
    pub fn flag(&self) -> String {
        match (&self.env, &self.src) {
            (Some(env), _) => format!("id={},env={env}", self.id),
            (None, Some(src)) => format!("id={},src={src}", self.id),
            (None, None) => format!("id={}", self.id),
        }
    }
}

/// Untrusted text in a message: escaped and cut.
fn quoted(text: &str) -> String {
    crate::reference::shown(&text.escape_debug().to_string())
}

/// An id BuildKit and a Dockerfile's `--mount` accept unquoted: `[A-Za-z0-9_.-]+`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A POSIX environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_variable(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why `name` cannot be the `env` of a secret, if it cannot.
pub fn variable_problem(name: &str) -> Option<String> {
    if !valid_variable(name) {
        return Some(format!(
            "`{}` is not an environment variable name (letters, digits and `_`, not starting with a digit)",
            quoted(name)
        ));
    }
    if name.starts_with("SHIPGATE_") {
        return Some(format!(
            "`{name}` is one of shipgate's own inputs, which no builder is given; pass the value to the step under its own name (`env: {{ NPM_TOKEN: ${{{{ secrets.NPM_TOKEN }}}} }}`) and name that"
        ));
    }
    if RUNNER_VARIABLES.contains(&name)
        || (RUNNER_PREFIXES.iter().any(|p| name.starts_with(p)) && name != "GITHUB_TOKEN")
    {
        return Some(format!(
            "`{}` configures the runner or the builder itself and every builder gets it; it cannot be one service's secret (listing it would withhold it from the others)",
            quoted(name)
        ));
    }
    None
}

/// Variables every builder needs as they are (`GITHUB_TOKEN` excepted: it is withheld unless
/// listed).
const RUNNER_VARIABLES: &[&str] = &["PATH", "HOME"];
const RUNNER_PREFIXES: &[&str] = &[
    "GITHUB_",
    "RUNNER_",
    "ACTIONS_",
    "DOCKER_",
    "BUILDX_",
    "BUILDKIT_",
];

/// Why `path` cannot be the `src` of a secret, if it cannot (buildx reads `--secret` as CSV).
pub fn src_problem(path: &str) -> Option<String> {
    if path.trim().is_empty() {
        return Some("`src` cannot be empty".into());
    }
    if path.chars().any(|c| c.is_control() || c == ',' || c == '"') {
        return Some(format!(
            "`src` `{}` cannot hold a comma, a quote or a control character",
            quoted(path)
        ));
    }
    None
}

/// Every problem of one secret that parsed: (the key it is about, the message).
pub fn problems(secret: &Secret) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if !valid_id(&secret.id) {
        found.push((
            "id",
            format!(
                "secret id `{}` must be letters, digits, `_`, `.` and `-` (1–128 characters)",
                quoted(&secret.id)
            ),
        ));
    }
    match (&secret.env, &secret.src) {
        (Some(_), Some(_)) => found.push((
            "id",
            format!(
                "secret `{}` has both `env` and `src`; give one",
                quoted(&secret.id)
            ),
        )),
        (None, None) => found.push((
            "id",
            format!(
                "secret `{}` needs `env` (a variable of the step's environment) or `src` (a file)",
                quoted(&secret.id)
            ),
        )),
        (Some(env), None) => found.extend(variable_problem(env).map(|m| ("env", m))),
        (None, Some(src)) => found.extend(src_problem(src).map(|m| ("src", m))),
    }
    found
}

/// `defaults.build.secrets` under a service's own: a service's entry replaces the default with the
/// same id (as `args` are merged by name); the defaults come first.
pub fn merge(defaults: &[Secret], own: &[Secret]) -> Vec<Secret> {
    let mut merged: Vec<Secret> = defaults
        .iter()
        .filter(|d| !own.iter().any(|o| o.id == d.id))
        .cloned()
        .collect();
    merged.extend(own.iter().cloned());
    merged
}

/// The variables a service's builder is given.
pub fn variables(build: &BuildSpec) -> Vec<&str> {
    build
        .secrets
        .iter()
        .filter_map(|s| s.env.as_deref())
        .collect()
}

/// Every variable some service of the plan lists: withheld from the builders of the others.
pub fn all_variables(plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = plan
        .services
        .iter()
        .flat_map(|s| variables(&s.build))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The values to mask: every listed variable that is set, for every service of the plan.
pub fn values(plan: &Plan, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    all_variables(plan)
        .iter()
        .filter_map(|name| lookup(name))
        .filter(|value| !value.trim().is_empty())
        .collect()
}

/// Why `service`'s build cannot start: a listed variable that is not set (or empty, as
/// `${{ secrets.X }}` is on a pull request from a fork) or a listed file that does not exist.
/// Names the variable or file, never a value (the report names the service).
pub fn missing(
    service: &PlannedService,
    workdir: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let mut problems = Vec::new();
    for secret in &service.build.secrets {
        if let Some(env) = &secret.env
            && lookup(env).is_none_or(|v| v.is_empty())
        {
            problems.push(format!(
                "build secret `{}` reads the variable `{env}`, which is not set (or empty) in shipgate's environment",
                secret.id
            ));
        }
        if let Some(src) = &secret.src
            && !workdir.join(src).is_file()
        {
            problems.push(format!(
                "build secret `{}` reads the file `{src}`, which does not exist",
                secret.id
            ));
        }
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{}; the builder was not started (give the step `env: {{ VARIABLE: ${{{{ secrets.NAME }}}} }}`, or create the file before shipgate runs)",
            problems.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(id: &str, variable: &str) -> Secret {
        Secret {
            id: id.into(),
            env: Some(variable.into()),
            src: None,
        }
    }

    fn planned(name: &str) -> PlannedService {
        PlannedService {
            name: name.into(),
            image: format!("ghcr.io/acme/{name}"),
            tags: vec!["1".into()],
            refs: vec![format!("ghcr.io/acme/{name}:1")],
            labels: Default::default(),
            build: BuildSpec {
                context: ".".into(),
                dockerfile: "Dockerfile".into(),
                target: None,
                args: Default::default(),
                platforms: vec![],
                builder: crate::config::model::Builder::Buildx,
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

    #[test]
    fn flags_are_buildkit_s_documented_form() {
        assert_eq!(
            env("npm_token", "NPM_TOKEN").flag(),
            "id=npm_token,env=NPM_TOKEN"
        );
        let file = Secret {
            id: "aws".into(),
            env: None,
            src: Some("/run/secrets/aws".into()),
        };
        assert_eq!(file.flag(), "id=aws,src=/run/secrets/aws");
    }

    #[test]
    fn ids_variables_and_files_are_checked() {
        assert!(valid_id("npm_token") && valid_id("a.b-C_9"));
        assert!(!valid_id("") && !valid_id("a b") && !valid_id("a,env=X") && !valid_id("ä"));
        assert!(valid_variable("NPM_TOKEN") && valid_variable("_x1"));
        assert!(!valid_variable("1X") && !valid_variable("A-B") && !valid_variable(""));
        assert!(variable_problem("SHIPGATE_REGISTRY_PASSWORD").is_some());
        assert!(variable_problem("GITHUB_TOKEN").is_none());
        for runner in [
            "PATH",
            "HOME",
            "DOCKER_CONFIG",
            "ACTIONS_RUNTIME_TOKEN",
            "GITHUB_SHA",
        ] {
            assert!(
                variable_problem(runner).is_some_and(|m| m.contains("every builder gets it")),
                "{runner}"
            );
        }
        assert!(src_problem("a,b").is_some() && src_problem(" ").is_some());
        assert!(src_problem("secrets/npmrc").is_none());
        let both = Secret {
            src: Some("f".into()),
            ..env("x", "X")
        };
        assert_eq!(problems(&both)[0].0, "id");
        let neither = Secret {
            env: None,
            ..env("x", "X")
        };
        assert!(problems(&neither)[0].1.contains("needs `env`"));
        assert_eq!(problems(&env("x", "1X"))[0].0, "env");
        assert!(problems(&env("npm_token", "NPM_TOKEN")).is_empty());
    }

    #[test]
    fn a_service_s_secret_replaces_the_default_of_the_same_id() {
        let merged = merge(
            &[env("npm", "DEFAULT_NPM"), env("pip", "PIP")],
            &[env("npm", "OWN_NPM"), env("go", "GO")],
        );
        assert_eq!(
            merged,
            [env("pip", "PIP"), env("npm", "OWN_NPM"), env("go", "GO")]
        );
    }

    #[test]
    fn a_missing_variable_or_file_names_it_and_the_service_not_a_value() {
        let mut service = planned("auth");
        service.build.secrets = vec![
            env("npm_token", "NPM_TOKEN"),
            env("empty", "EMPTY"),
            env("set", "SET"),
        ];
        let lookup = |name: &str| match name {
            "EMPTY" => Some(String::new()),
            "SET" => Some("v4lue".into()),
            _ => None,
        };
        let message = missing(&service, Path::new("."), lookup).unwrap();
        assert!(
            message.starts_with("build secret `npm_token` reads the variable `NPM_TOKEN`"),
            "{message}"
        );
        assert!(message.contains("`EMPTY`"), "{message}");
        assert!(!message.contains("`SET`") && !message.contains("v4lue"));
        service.build.secrets = vec![env("set", "SET")];
        assert_eq!(missing(&service, Path::new("."), lookup), None);
        service.build.secrets = vec![Secret {
            id: "f".into(),
            env: None,
            src: Some("no/such/file".into()),
        }];
        assert!(
            missing(&service, Path::new("."), lookup)
                .unwrap()
                .contains("`no/such/file`, which does not exist")
        );
    }
}
