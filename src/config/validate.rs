//! Turns the parsed file into a [`Config`], collecting every problem with its location.

use super::model::{
    BranchPolicySettings, BuildSettings, Builder, ConfigFile, SecretEntry, ServiceSettings,
};
use super::{Config, Pattern, Service};
use crate::detect::graph::DependencyGraph;
use crate::detect::matcher::{Matcher, Owner, PathPattern};
use crate::diagnostic::{Diagnostic, Location};
use crate::error::Failure;
use crate::plan::tags::TagTemplate;
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
pub fn valid_service_name(name: &str) -> bool {
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

/// Problems found so far; every step adds to them, so all are reported at once.
#[derive(Default)]
struct Findings {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

fn file_start(display: &str) -> Location {
    Location {
        file: display.to_string(),
        line: 1,
        column: 1,
    }
}

/// Validates a parsed config file: each step below checks one part and records its problems.
pub fn validate(file: ConfigFile, display: &str) -> Result<Config, Failure> {
    let mut findings = Findings::default();
    check_header(&file, display, &mut findings);
    let global = patterns(&file.global, display, &mut findings.errors);
    check_tag_templates(file.defaults.tags.as_deref(), display, &mut findings);
    let names: Vec<String> = file
        .services
        .entries
        .iter()
        .map(|(n, _)| n.value.clone())
        .collect();
    // Name → position, so resolving `depends-on` stays linear in the number of services.
    let positions: std::collections::HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(index, name)| (name.clone(), index))
        .collect();
    let mut services = Vec::new();
    let mut edges = Vec::new();
    let default_build = file.defaults.build.as_ref();
    check_secrets(
        default_build
            .map(|b| b.secrets.as_slice())
            .unwrap_or_default(),
        display,
        &mut findings.errors,
    );
    for (name, settings) in file.services.entries {
        check_service_secrets(
            &name.value,
            &settings,
            default_build,
            display,
            &mut findings.errors,
        );
        let known = Known {
            names: &names,
            positions: &positions,
        };
        let (service, service_edges) = service(name, settings, &known, display, &mut findings);
        services.push(service);
        edges.push(service_edges);
    }
    let graph = DependencyGraph::new(names, edges);
    findings
        .errors
        .extend(cycle_error(&graph, &services, display));
    let branch_policy = branch_policy(file.branch_policy.as_ref(), display, &mut findings);
    super::deploy_section::validate(&file.deploy, display, &mut findings.errors);
    if !findings.errors.is_empty() {
        return Err(Failure::Usage(findings.errors));
    }
    let matcher = matcher(&global, &services);
    Ok(Config {
        positions,
        path: display.to_string(),
        services,
        global,
        detect: file.detect,
        defaults: file.defaults,
        branch_policy,
        deploy: file.deploy,
        graph,
        matcher,
        warnings: findings.warnings,
    })
}

/// `version: 1` and at least one service.
fn check_header(file: &ConfigFile, display: &str, findings: &mut Findings) {
    if file.version.value != 1 {
        findings.errors.push(
            error_at(
                format!("unsupported config version {}", file.version.value),
                locate(&file.version, display),
            )
            .with_help("this shipgate reads `version: 1`"),
        );
    }
    if file.services.entries.is_empty() {
        findings.errors.push(error_at(
            "no services are configured under `services:`",
            Some(file_start(display)),
        ));
    }
}

/// Tag templates parse (known `{placeholders}`, tag characters, valid `{date:…}`), each error at
/// its template: found by `config check`, not first by a later `plan`.
fn check_tag_templates(
    templates: Option<&[Spanned<String>]>,
    display: &str,
    findings: &mut Findings,
) {
    for template in templates.unwrap_or_default() {
        if let Err(message) = TagTemplate::parse(&template.value) {
            findings
                .errors
                .push(error_at(message, locate(template, display)));
        }
    }
}

/// One service: its name, paths, dependencies, image, tags and deploy settings.
/// The configured service names, in order, and each one's position.
struct Known<'a> {
    names: &'a [String],
    positions: &'a std::collections::HashMap<String, usize>,
}

fn service(
    name: Spanned<String>,
    settings: ServiceSettings,
    known: &Known<'_>,
    display: &str,
    findings: &mut Findings,
) -> (Service, Vec<usize>) {
    let location = locate(&name, display).unwrap_or_else(|| file_start(display));
    if !valid_service_name(&name.value) {
        findings.errors.push(
            error_at(format!("invalid service name `{}`", name.value), Some(location.clone()))
                .with_help("use letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 63 characters"),
        );
    }
    let paths = patterns(&settings.paths, display, &mut findings.errors);
    let (depends_on, edges) = dependencies(&name.value, &settings, known, display, findings);
    if settings.paths.is_empty() && settings.depends_on.is_empty() {
        findings.warnings.push(
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
        findings
            .errors
            .push(error_at("`image` cannot be empty", locate(image, display)));
    }
    check_tag_templates(settings.tags.as_deref(), display, findings);
    check_deploy(&name.value, &settings, &location, display, findings);
    let service = Service {
        name: name.value.clone(),
        location,
        paths,
        depends_on,
        image: settings.image.as_ref().map(|i| i.value.clone()),
        settings,
    };
    (service, edges)
}

/// `depends-on`: names that exist (with a suggestion), each once; the graph edges.
fn dependencies(
    name: &str,
    settings: &ServiceSettings,
    known: &Known<'_>,
    display: &str,
    findings: &mut Findings,
) -> (Vec<String>, Vec<usize>) {
    let mut depends_on = Vec::new();
    let mut edges = Vec::new();
    for dependency in &settings.depends_on {
        match known.positions.get(dependency.value.as_str()).copied() {
            Some(index) => {
                if !edges.contains(&index) {
                    edges.push(index);
                    depends_on.push(dependency.value.clone());
                }
            }
            None => {
                let diagnostic = error_at(
                    format!(
                        "service `{name}` depends on `{}`, which is not a configured service",
                        dependency.value
                    ),
                    locate(dependency, display),
                );
                findings.errors.push(
                    match did_you_mean(&dependency.value, known.names.iter().map(String::as_str)) {
                        Some(best) => diagnostic.with_help(format!("did you mean `{best}`?")),
                        None => diagnostic
                            .with_help(format!("configured services: {}", known.names.join(", "))),
                    },
                );
            }
        }
    }
    (depends_on, edges)
}

/// `deploy`: needs an `image`; the health gate must be complete (errors at the `health:` block,
/// then at the key inside it).
fn check_deploy(
    name: &str,
    settings: &ServiceSettings,
    location: &Location,
    display: &str,
    findings: &mut Findings,
) {
    let Some(deploy) = &settings.deploy else {
        return;
    };
    if settings.image.is_none() {
        findings.errors.push(
            error_at(
                format!(
                    "service `{name}` has `deploy` settings but no `image`: there is nothing to deploy"
                ),
                Some(location.clone()),
            )
            .with_help("add `image: <repository name>` (the registry comes from `defaults.registry`)"),
        );
    }
    if let Some(health) = &deploy.health {
        let problem = crate::health::HealthGate::from_settings(&health.value, None).err();
        // One error per problem, at the `health:` block; the loader moves each to its key
        // (`load::point_inside_health`), which this parsed value no longer knows the place of.
        for message in problem.iter().flat_map(|m| m.lines()) {
            findings.errors.push(error_at(
                format!("services.{name}.deploy.health: {message}"),
                locate(health, display).or_else(|| Some(location.clone())),
            ));
        }
    }
}

/// `build.secrets` entries: an id BuildKit accepts, once each, and exactly one of a variable name
/// (not one of shipgate's own `SHIPGATE_*` inputs) or a file, each error at its value.
fn check_secrets(entries: &[SecretEntry], display: &str, errors: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::HashSet::new();
    for entry in entries {
        for (key, message) in crate::build::secrets::problems(&entry.to_secret()) {
            let spanned = match key {
                "env" => entry.env.as_ref(),
                "src" => entry.src.as_ref(),
                _ => None,
            };
            let location = spanned
                .and_then(|s| locate(s, display))
                .or_else(|| locate(&entry.id, display));
            errors.push(error_at(message, location).with_help(
                "e.g. `secrets: [{ id: npm_token, env: NPM_TOKEN }]`; the Dockerfile reads it with `RUN --mount=type=secret,id=npm_token …`",
            ));
        }
        if !seen.insert(entry.id.value.as_str()) {
            errors.push(error_at(
                format!("the secret id `{}` is listed twice", entry.id.value),
                locate(&entry.id, display),
            ));
        }
    }
}

/// A service's own `build.secrets`: valid, and only on a service built with `buildx`, the one
/// builder shipgate hands them to (`defaults.build.secrets` reach only buildx services).
fn check_service_secrets(
    name: &str,
    settings: &ServiceSettings,
    defaults: Option<&BuildSettings>,
    display: &str,
    errors: &mut Vec<Diagnostic>,
) {
    let Some(build) = &settings.build else {
        return;
    };
    check_secrets(&build.secrets, display, errors);
    let builder = build
        .builder
        .or_else(|| defaults.and_then(|d| d.builder))
        .unwrap_or(Builder::Buildx);
    if let Some(first) = build.secrets.first()
        && builder != Builder::Buildx
    {
        errors.push(
            error_at(
                format!(
                    "service `{name}` is built with `builder: {}`, which shipgate cannot hand build secrets to",
                    builder.as_str()
                ),
                locate(&first.id, display),
            )
            .with_help(builder_secrets_help(builder)),
        );
    }
}

/// Where a non-buildx builder gets its secrets instead.
fn builder_secrets_help(builder: Builder) -> &'static str {
    match builder {
        Builder::Command => {
            "a command builder gets its credentials from the step's `env:` under their own names; `build.secrets` is for `builder: buildx`"
        }
        Builder::Workflow => {
            "a dispatched build workflow reads its own `secrets` context; workflow inputs are not secret, so shipgate never passes one through them"
        }
        _ => {
            "with `builder: none` the job that builds passes secrets itself (docker/build-push-action's `secret-envs`), or runs `shipgate build --plan … --services <name>` with `builder: buildx`"
        }
    }
}

/// A `depends-on` cycle, printed in full and located at its first edge.
fn cycle_error(graph: &DependencyGraph, services: &[Service], display: &str) -> Option<Diagnostic> {
    let cycle = graph.find_cycle()?;
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
    Some(
        error_at(format!("dependency cycle: {}", chain.join(" → ")), location)
            .with_help("`depends-on` must not loop back; remove one of these edges"),
    )
}

/// `branch-policy`: patterns and exemption globs compile, each error at its item.
fn branch_policy(
    settings: Option<&BranchPolicySettings>,
    display: &str,
    findings: &mut Findings,
) -> Option<Policy> {
    let settings = settings?;
    let texts: Vec<String> = settings.patterns.iter().map(|p| p.value.clone()).collect();
    let exempt: Vec<String> = settings.exempt.iter().map(|p| p.value.clone()).collect();
    if texts.is_empty() {
        findings.errors.push(error_at(
            "`branch-policy.patterns` is empty: no branch could ever pass",
            Some(file_start(display)),
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
                findings.errors.push(error_at(
                    e.message,
                    list.get(e.index).and_then(|s| locate(s, display)),
                ));
            }
            None
        }
    }
}

/// Every owner's patterns in one matcher (config order decides "last match wins").
fn matcher(global: &[Pattern], services: &[Service]) -> Matcher {
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
    Matcher::new(owners)
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
    fn glob_that_cannot_compile_is_located_in_paths_global_and_exempt() {
        let nested = format!("{}x{}", "{a,".repeat(100), "}".repeat(100));
        let e = errors_of(&format!(
            "version: 1\nglobal: ['{nested}']\nbranch-policy:\n  patterns: ['*']\n  exempt: ['{nested}']\nservices:\n  a: {{ paths: ['a/**', '{nested}'] }}\n"
        ));
        assert_eq!(e.len(), 3, "{e:#?}");
        for d in &e {
            assert!(d.message.contains("too deeply"), "{}", d.message);
        }
        assert_eq!(line_col(&e[0]), (2, 10));
        assert_eq!(line_col(&e[1]).0, 7);
        assert_eq!(line_col(&e[2]), (5, 12));
    }

    #[test]
    fn glob_too_long_to_compile_is_located_not_a_panic() {
        // globset's `compile_matcher` panics on this one (its regex passes the size limit): the
        // old code called it for exemptions, and for paths in the fallback after the set failed.
        let huge = "?".repeat(200_000);
        let e = errors_of(&format!(
            "version: 1\nbranch-policy:\n  patterns: ['*']\n  exempt: ['{huge}']\nservices:\n  a: {{ paths: ['{huge}'] }}\n"
        ));
        assert_eq!(e.len(), 2, "{e:#?}");
        for d in &e {
            assert!(d.message.contains("the limit is 1024"), "{}", d.message);
            assert!(d.message.len() < 400, "the glob is quoted shortened");
        }
        assert_eq!(line_col(&e[0]), (6, 16));
        assert_eq!(line_col(&e[1]), (4, 12));
    }

    #[test]
    fn glob_unsupported_syntax_is_located() {
        let e = errors_of("version: 1\nservices:\n  a:\n    paths:\n      - 'v{1..3}/**'\n");
        assert!(e[0].message.contains("range `{1..3}` is not supported"));
        assert_eq!(line_col(&e[0]), (5, 9));
    }

    #[test]
    fn config_check_validates_tag_templates_and_placeholders() {
        let e = errors_of(
            "version: 1\ndefaults:\n  tags: ['{nope}-x', 'sha-{sha7}']\nservices:\n  a:\n    paths: [a/**]\n    tags:\n      - 'v/{version}'\n      - '{date:}'\n",
        );
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(e[0].message.contains("unknown placeholder `{nope}`"));
        assert_eq!(line_col(&e[0]), (3, 10));
        assert!(e[1].message.contains("contains '/'"));
        assert_eq!(line_col(&e[1]), (8, 9));
        assert!(e[2].message.contains("no date field"));
        assert_eq!(line_col(&e[2]).0, 9);
    }

    #[test]
    fn config_health_errors_point_at_the_health_line() {
        let e = errors_of(
            "version: 1\nservices:\n  a:\n    paths: [a/**]\n    image: a\n    deploy:\n      namespace: x\n      health:\n        url: 'http://x'\n        expect-status: abc\n",
        );
        assert!(e[0].message.contains("expect-status"), "{e:#?}");
        // The key inside the block, not the `health:` line (8).
        assert_eq!(line_col(&e[0]), (10, 9), "{e:#?}");
    }

    #[test]
    fn every_health_problem_points_at_its_own_key() {
        let e = errors_of(
            "version: 1\nservices:\n  a:\n    paths: [a/**]\n    image: a\n    deploy:\n      namespace: x\n      health:\n        url: 'http://x'\n        # a comment\n        method: PUT\n        headers:\n          Good: v\n          'Bad Name': v\n        attempts: 0\n",
        );
        let at = |key: &str| {
            let d = e
                .iter()
                .find(|d| d.message.contains(key))
                .unwrap_or_else(|| panic!("{key}: {e:#?}"));
            line_col(d)
        };
        assert_eq!(at("health.method"), (11, 9), "{e:#?}");
        assert_eq!(at("health.headers"), (14, 11), "{e:#?}");
        assert_eq!(at("health.attempts"), (15, 9), "{e:#?}");
        // Flow style: the key's column on the block's line.
        let e = errors_of(
            "version: 1\nservices:\n  a:\n    paths: [a/**]\n    image: a\n    deploy:\n      namespace: x\n      health: { url: 'http://x', attempts: 0 }\n",
        );
        assert_eq!(line_col(&e[0]), (8, 34), "{e:#?}");
    }

    #[test]
    fn build_secret_errors_are_located_at_their_value() {
        let e = errors_of(concat!(
            "version: 1\n",
            "defaults:\n",
            "  build:\n",
            "    secrets: [{ id: 'bad id', env: NPM_TOKEN }]\n",
            "services:\n",
            "  auth:\n",
            "    paths: [a/**]\n",
            "    build:\n",
            "      secrets:\n",
            "        - { id: npm, env: 1NPM }\n",
            "        - { id: both, env: A, src: f }\n",
            "        - { id: neither }\n",
            "        - { id: npm, env: NPM }\n",
            "        - { id: own, env: SHIPGATE_REGISTRY_PASSWORD }\n",
            "        - { id: file, src: 'a,b' }\n",
        ));
        let found: Vec<(u64, u64, &str)> = e
            .iter()
            .map(|d| (line_col(d).0, line_col(d).1, d.message.as_str()))
            .collect();
        assert_eq!(found.len(), 7, "{found:#?}");
        assert!(found[0].2.contains("secret id `bad id`"), "{found:#?}");
        assert_eq!((found[0].0, found[0].1), (4, 21));
        assert!(
            found[1]
                .2
                .contains("`1NPM` is not an environment variable name")
        );
        assert_eq!((found[1].0, found[1].1), (10, 27));
        assert!(found[2].2.contains("both `env` and `src`"));
        assert_eq!((found[2].0, found[2].1), (11, 17));
        assert!(found[3].2.contains("needs `env`"));
        assert_eq!(found[3].0, 12);
        assert!(found[4].2.contains("`npm` is listed twice"));
        assert_eq!((found[4].0, found[4].1), (13, 17));
        assert!(found[5].2.contains("shipgate's own inputs"));
        assert_eq!((found[5].0, found[5].1), (14, 27));
        assert!(found[6].2.contains("cannot hold a comma"));
        assert_eq!((found[6].0, found[6].1), (15, 28));
    }

    #[test]
    fn build_secrets_are_refused_for_builders_shipgate_cannot_hand_them_to() {
        let e = errors_of(concat!(
            "version: 1\n",
            "services:\n",
            "  remote:\n",
            "    paths: [a/**]\n",
            "    build:\n",
            "      builder: workflow\n",
            "      workflow: build.yml\n",
            "      secrets: [{ id: npm, env: NPM_TOKEN }]\n",
        ));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].message.contains("`builder: workflow`"),
            "{}",
            e[0].message
        );
        assert_eq!(line_col(&e[0]), (8, 23));
        assert!(e[0].help.as_deref().unwrap().contains("secrets"));
    }

    #[test]
    fn an_unknown_key_in_a_build_secret_is_refused() {
        let e = errors_of(
            "version: 1\nservices:\n  a:\n    paths: [a/**]\n    build: { secrets: [{ id: x, value: s3cr3t }] }\n",
        );
        assert!(e[0].message.contains("value"), "{e:#?}");
        assert_eq!(line_col(&e[0]).0, 5);
    }

    #[test]
    fn in_cluster_health_gates_load_and_their_mistakes_are_located() {
        let ok = "version: 1\nservices:\n  a:\n    paths: [a/**]\n    image: a\n    deploy:\n      health: { port: 8080, path: /health, via: port-forward }\n  b:\n    paths: [b/**]\n    image: b\n    deploy:\n      health: { port: 80, path: /ready, service: web }\n";
        assert!(parse(ok, "c.yml").is_ok());
        let head = "version: 1\nservices:\n  a:\n    paths: [a/**]\n    image: a\n    deploy:\n      health:\n";
        for (body, message, at) in [
            (
                "        url: http://x\n        port: 8080\n",
                "services.a.deploy.health: health: set either `url`",
                (8, 9),
            ),
            (
                "        port: 8080\n",
                "services.a.deploy.health: health.port 8080 needs `health.path`",
                (8, 9),
            ),
            (
                "        port: 8080\n        path: /h\n        via: ingress\n",
                "services.a.deploy.health: health.via: `ingress` is not supported",
                (10, 9),
            ),
            (
                "        service: web\n",
                "services.a.deploy.health: health.service needs `health.port`",
                (8, 9),
            ),
        ] {
            let e = errors_of(&format!("{head}{body}"));
            assert_eq!(e.len(), 1, "{body}: {e:#?}");
            assert!(e[0].message.starts_with(message), "{body}: {e:#?}");
            assert_eq!(line_col(&e[0]), at, "{body}: {e:#?}");
        }
        let e = errors_of(&format!("{head}        port: 70000\n        path: /h\n"));
        assert_eq!(
            e[0].message,
            "`port` must be a whole number from 0 to 65535"
        );
        assert!(
            !e.iter().any(|d| d.message.contains("not available")),
            "{e:#?}"
        );
    }

    #[test]
    fn invalid_service_names() {
        let e = errors_of("version: 1\nservices:\n  'bad name': { paths: [a/**] }\n");
        assert!(e[0].message.contains("invalid service name"));
    }
}
