//! `cache: gha` needs what GitHub gives only to JavaScript actions: the runtime token and the
//! cache service's URL. A `run:` step or a composite action (like shipgate's) does not get them,
//! and buildx would then fail each build late with a terse error (or, with an old buildx, skip
//! the cache silently). This check says so before anything is built, with the one-step fix.

use crate::diagnostic::Diagnostic;
use crate::plan::PlannedService;

/// The error for buildx builds with `cache: gha` when the runtime variables are missing, given
/// how to read the environment. Outside Actions (a terminal) nothing is checked: buildx there
/// may reach a cache through other means.
pub fn missing_runtime<'a>(
    services: impl IntoIterator<Item = &'a PlannedService>,
    in_actions: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Diagnostic> {
    if !in_actions {
        return None;
    }
    let names: Vec<&str> = services
        .into_iter()
        .filter(|s| {
            s.build.builder == crate::config::model::Builder::Buildx
                && s.build.cache == crate::config::model::CachePolicy::Gha
        })
        .map(|s| s.name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    let mut missing = Vec::new();
    if !set("ACTIONS_RUNTIME_TOKEN") {
        missing.push("ACTIONS_RUNTIME_TOKEN");
    }
    if !set("ACTIONS_CACHE_URL") && !set("ACTIONS_RESULTS_URL") {
        missing.push("ACTIONS_CACHE_URL (or ACTIONS_RESULTS_URL)");
    }
    if missing.is_empty() {
        return None;
    }
    Some(
        Diagnostic::error(
            "shipgate build",
            format!(
                "`cache: gha` ({}) needs {}, which GitHub gives only to JavaScript actions, not to this step",
                names.join(", "),
                missing.join(" and ")
            ),
        )
        .with_help(
            "add `uses: crazy-max/ghaction-github-runtime` (and docker/setup-buildx-action for a builder that can export a cache) before this step; see the README's Build section",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, cache: &str) -> PlannedService {
        let mut value = serde_json::json!({
            "name": name, "image": format!("ghcr.io/acme/{name}"), "tags": ["1"], "refs": [],
            "labels": {}, "reason": "r", "cause": {"kind": "selected", "by": "--services"}, "version": null, "content": "c", "lookup_tag": "1",
            "mutable_only": false,
            "build": {"context": ".", "dockerfile": "Dockerfile", "target": null, "args": {},
                      "platforms": [], "builder": "buildx", "cache": cache}
        });
        value["refs"] = serde_json::json!([format!("ghcr.io/acme/{name}:1")]);
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn gha_caches_need_the_runtime_variables_in_actions() {
        let services = [service("auth", "gha"), service("web", "fresh")];
        let none = |_: &str| None;
        let error = missing_runtime(&services, true, none).unwrap();
        assert!(error.message.contains("`cache: gha` (auth) needs ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL (or ACTIONS_RESULTS_URL)"), "{}", error.message);
        let exposed = |name: &str| {
            matches!(name, "ACTIONS_RUNTIME_TOKEN" | "ACTIONS_RESULTS_URL").then(|| "x".to_string())
        };
        assert!(missing_runtime(&services, true, exposed).is_none());
        assert!(missing_runtime(&services, false, none).is_none());
        assert!(missing_runtime(&[service("web", "registry")], true, none).is_none());
    }
}
