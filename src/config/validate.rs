//! Turns the parsed file into a [`Config`], collecting every problem with its location.

use super::model::ConfigFile;
use super::{Config, Pattern, Service};
use crate::detect::graph::DependencyGraph;
use crate::detect::matcher::{Matcher, Owner, PathPattern};
use crate::diagnostic::{Diagnostic, Location};
use crate::error::Failure;
use crate::policy::{PatternList, Policy};
use serde_saphyr::Spanned;

const TITLE: &str = "shipgate config";

/// The place of a spanned value in the config file.
pub fn locate<T>(spanned: &Spanned<T>, file: &str) -> Option<Location> {
    let line = spanned.referenced.line();
    (line > 0).then(|| Location {
        file: file.to_string(),
        line,
        column: spanned.referenced.column().max(1),
    })
}

fn error_at(message: impl Into<String>, location: Option<Location>) -> Diagnostic {
    Diagnostic::error(TITLE, message).at(location)
}

/// A valid service name can be used as a matrix value, a JSON key and a Kubernetes label.
fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn patterns(list: &[Spanned<String>], file: &str, errors: &mut Vec<Diagnostic>) -> Vec<Pattern> {
    let mut out = Vec::new();
    for item in list {
        match PathPattern::parse(&item.value) {
            Ok(pattern) => out.push(Pattern {
                pattern,
                location: locate(item, file).unwrap_or_else(|| Location {
                    file: file.to_string(),
                    line: 1,
                    column: 1,
                }),
            }),
            Err(message) => errors.push(error_at(message, locate(item, file))),
        }
    }
    out
}

/// Validates a parsed config file.
pub fn validate(file: ConfigFile, display: &str) -> Result<Config, Failure> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    if file.version.value != 1 {
        errors.push(
            error_at(
                format!("unsupported config version {}", file.version.value),
                locate(&file.version, display),
            )
            .with_help("this shipgate reads `version: 1`"),
        );
    }
    if file.services.entries.is_empty() {
        errors.push(error_at(
            "no services are configured under `services:`",
            Some(Location {
                file: display.to_string(),
                line: 1,
                column: 1,
            }),
        ));
    }

    let global = patterns(&file.global, display, &mut errors);
    let names: Vec<String> = file
        .services
        .entries
        .iter()
        .map(|(n, _)| n.value.clone())
        .collect();

    let mut services = Vec::new();
    let mut edges = Vec::new();
    for (name, settings) in file.services.entries {
        let location = locate(&name, display).unwrap_or_else(|| Location {
            file: display.to_string(),
            line: 1,
            column: 1,
        });
        if !valid_service_name(&name.value) {
            errors.push(
                error_at(format!("invalid service name `{}`", name.value), Some(location.clone()))
                    .with_help("use letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 63 characters"),
            );
        }
        let paths = patterns(&settings.paths, display, &mut errors);
        let mut depends_on = Vec::new();
        let mut service_edges = Vec::new();
        for dependency in &settings.depends_on {
            match names.iter().position(|n| *n == dependency.value) {
                Some(index) => {
                    if !service_edges.contains(&index) {
                        service_edges.push(index);
                        depends_on.push(dependency.value.clone());
                    }
                }
                None => {
                    let mut diagnostic = error_at(
                        format!(
                            "service `{}` depends on `{}`, which is not a configured service",
                            name.value, dependency.value
                        ),
                        locate(dependency, display),
                    );
                    diagnostic =
                        match did_you_mean(&dependency.value, names.iter().map(String::as_str)) {
                            Some(best) => diagnostic.with_help(format!("did you mean `{best}`?")),
                            None => diagnostic
                                .with_help(format!("configured services: {}", names.join(", "))),
                        };
                    errors.push(diagnostic);
                }
            }
        }
        if settings.paths.is_empty() && settings.depends_on.is_empty() {
            warnings.push(
                Diagnostic::warning(
                    TITLE,
                    format!(
                        "service `{}` has no `paths` and no `depends-on`: only a global change or an explicit selection will ever include it",
                        name.value
                    ),
                )
                .at(Some(location.clone())),
            );
        }
        if let Some(image) = &settings.image
            && image.value.trim().is_empty()
        {
            errors.push(error_at("`image` cannot be empty", locate(image, display)));
        }
        if let Some(deploy) = &settings.deploy {
            if settings.image.is_none() {
                errors.push(
                    error_at(
                        format!(
                            "service `{}` has `deploy` settings but no `image`: there is nothing to deploy",
                            name.value
                        ),
                        Some(location.clone()),
                    )
                    .with_help("add `image: <repository name>` (the registry comes from `defaults.registry`)"),
                );
            }
            if let Some(health) = &deploy.health {
                let problem = if health.url.is_none()
                    && (health.port.is_some() || health.path.is_some())
                {
                    Some("in-cluster checks (`port`/`path`, through a port-forward) are not available in this version; give `url` (a public URL, or the Service's cluster DNS name from a runner inside the cluster)".to_string())
                } else {
                    crate::health::HealthGate::from_settings(health, None).err()
                };
                if let Some(message) = problem {
                    errors.push(error_at(
                        format!("services.{}.deploy.health: {message}", name.value),
                        Some(location.clone()),
                    ));
                }
            }
        }
        edges.push(service_edges);
        services.push(Service {
            name: name.value.clone(),
            location,
            paths,
            depends_on,
            image: settings.image.as_ref().map(|i| i.value.clone()),
            settings,
        });
    }

    let graph = DependencyGraph::new(names.clone(), edges);
    if let Some(cycle) = graph.find_cycle() {
        let mut chain: Vec<&str> = cycle.iter().map(|i| graph.name(*i)).collect();
        chain.push(graph.name(cycle[0]));
        let first = &services[cycle[0]];
        let next = graph.name(*cycle.get(1).unwrap_or(&cycle[0]));
        let location = first
            .settings
            .depends_on
            .iter()
            .find(|d| d.value == next)
            .and_then(|d| locate(d, display))
            .or_else(|| Some(first.location.clone()));
        errors.push(
            error_at(format!("dependency cycle: {}", chain.join(" → ")), location)
                .with_help("`depends-on` must not loop back; remove one of these edges"),
        );
    }

    let branch_policy = match &file.branch_policy {
        None => None,
        Some(settings) => {
            let texts: Vec<String> = settings.patterns.iter().map(|p| p.value.clone()).collect();
            let exempt: Vec<String> = settings.exempt.iter().map(|p| p.value.clone()).collect();
            if texts.is_empty() {
                errors.push(error_at(
                    "`branch-policy.patterns` is empty: no branch could ever pass",
                    Some(Location {
                        file: display.to_string(),
                        line: 1,
                        column: 1,
                    }),
                ));
            }
            match Policy::compile(
                &texts,
                &exempt,
                settings.max_length.as_ref().map(|m| m.value),
            ) {
                Ok(policy) => Some(policy),
                Err(pattern_errors) => {
                    for e in pattern_errors {
                        let list = match e.list {
                            PatternList::Patterns => &settings.patterns,
                            PatternList::Exempt => &settings.exempt,
                        };
                        errors.push(error_at(
                            e.message,
                            list.get(e.index).and_then(|s| locate(s, display)),
                        ));
                    }
                    None
                }
            }
        }
    };

    super::deploy_section::validate(&file.deploy, display, &mut errors);

    if !errors.is_empty() {
        return Err(Failure::Usage(errors));
    }

    let global_patterns: Vec<PathPattern> = global.iter().map(|p| p.pattern.clone()).collect();
    let service_patterns: Vec<Vec<PathPattern>> = services
        .iter()
        .map(|s| s.paths.iter().map(|p| p.pattern.clone()).collect())
        .collect();
    let owners = std::iter::once((Owner::Global, global_patterns.as_slice())).chain(
        service_patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (Owner::Service(i), p.as_slice())),
    );
    let matcher = Matcher::new(owners).map_err(|e| {
        Failure::usage(error_at(
            format!("cannot compile the path patterns: {e}"),
            None,
        ))
    })?;

    Ok(Config {
        path: display.to_string(),
        services,
        global,
        detect: file.detect,
        defaults: file.defaults,
        branch_policy,
        deploy: file.deploy,
        graph,
        matcher,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::load::parse;
    use crate::diagnostic::Diagnostic;

    fn errors_of(text: &str) -> Vec<Diagnostic> {
        match parse(text, "c.yml") {
            Ok(_) => panic!("expected errors"),
            Err(failure) => failure.diagnostics().to_vec(),
        }
    }

    fn line_col(d: &Diagnostic) -> (u64, u64) {
        let l = d.location.as_ref().unwrap();
        (l.line, l.column)
    }

    #[test]
    fn a_valid_config_loads() {
        let config = parse(
            "version: 1\nglobal: [.github/shipgate.yml]\nservices:\n  common: { paths: [libs/common/**] }\n  auth:\n    paths: [services/auth/**]\n    depends-on: [common]\n    image: auth-service\n",
            "c.yml",
        )
        .unwrap();
        assert_eq!(config.service_names(), vec!["common", "auth"]);
        assert_eq!(config.services[1].depends_on, vec!["common"]);
        assert_eq!(config.services[1].image.as_deref(), Some("auth-service"));
    }

    #[test]
    fn unknown_dependency_with_suggestion() {
        let e = errors_of(
            "version: 1\nservices:\n  common: { paths: [a/**] }\n  auth:\n    paths: [b/**]\n    depends-on: [comon]\n",
        );
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("depends on `comon`"));
        assert_eq!(e[0].help.as_deref(), Some("did you mean `common`?"));
        assert_eq!(line_col(&e[0]), (6, 18));
    }

    #[test]
    fn cycles_are_printed_and_located() {
        let e = errors_of(
            "version: 1\nservices:\n  a: { paths: [a/**], depends-on: [b] }\n  b: { paths: [b/**], depends-on: [c] }\n  c: { paths: [c/**], depends-on: [a] }\n",
        );
        assert_eq!(e[0].message, "dependency cycle: a → b → c → a");
        assert_eq!(line_col(&e[0]).0, 3);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let e =
            errors_of("version: 2\nservices:\n  a: { paths: ['src/[a-'], depends-on: [zzz] }\n");
        assert_eq!(e.len(), 3, "{e:#?}");
        assert_eq!(line_col(&e[0]), (1, 10));
        assert!(e[1].message.contains("invalid glob"));
        assert_eq!(line_col(&e[1]).0, 3);
    }

    #[test]
    fn invalid_branch_patterns_are_located() {
        let e = errors_of(
            "version: 1\nbranch-policy:\n  patterns:\n    - users/{actor}/{slug}\n    - feat/{name}\nservices:\n  a: { paths: [a/**] }\n",
        );
        assert!(e[0].message.contains("unknown placeholder `{name}`"));
        assert_eq!(line_col(&e[0]), (5, 7));
    }

    #[test]
    fn invalid_service_names() {
        let e = errors_of("version: 1\nservices:\n  'bad name': { paths: [a/**] }\n");
        assert!(e[0].message.contains("invalid service name"));
    }
}
