//! The top-level `deploy:` block: where the cluster's objects come from (manifests or a
//! kustomize overlay in the repository) and how they are applied, pruned or written back
//! for a GitOps controller. Absent, `deploy` keeps patching the image of existing workloads.

use super::validate::locate;
use crate::diagnostic::{Diagnostic, Location};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// `deploy:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploySection {
    /// The objects to apply, rendered from the repository.
    pub manifests: Option<ManifestsSettings>,
    /// Delete objects shipgate applied in an earlier run that are no longer rendered.
    #[serde(default)]
    pub prune: bool,
    /// Write the images back to a kustomization instead of applying (Argo CD, Flux).
    pub gitops: Option<GitopsSettings>,
}

/// `deploy.manifests`: exactly one of `kustomize` and `files`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManifestsSettings {
    /// A kustomization directory; `{environment}` is the plan's environment.
    pub kustomize: Option<Spanned<String>>,
    /// Globs of YAML files (multi-document allowed).
    pub files: Option<Vec<Spanned<String>>>,
    /// The namespace of objects that name none (like `kubectl apply -n`); default `default`.
    pub namespace: Option<String>,
    /// Use a manifest's own mutable tag for a service that has no live object yet.
    #[serde(default)]
    pub allow_manifest_tags: bool,
    /// Take over fields another field manager owns (server-side apply `force`).
    #[serde(default)]
    pub force_conflicts: bool,
}

/// `deploy.gitops`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GitopsSettings {
    /// The kustomization.yaml whose `images:` entries are updated; `{environment}` allowed.
    pub kustomization: Spanned<String>,
    /// A branch to commit to, or `pull-request` to open one.
    #[serde(default = "default_branch")]
    pub branch: String,
}

fn default_branch() -> String {
    "pull-request".into()
}

/// Where the manifests come from, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// A kustomization directory (may hold `{environment}`).
    Kustomize(String),
    /// File globs, relative to the repository root.
    Files(Vec<String>),
}

impl ManifestsSettings {
    /// The source, when exactly one of `kustomize` and `files` is given.
    pub fn source(&self) -> Option<ManifestSource> {
        match (&self.kustomize, &self.files) {
            (Some(directory), None) => Some(ManifestSource::Kustomize(directory.value.clone())),
            (None, Some(globs)) => Some(ManifestSource::Files(
                globs.iter().map(|g| g.value.clone()).collect(),
            )),
            _ => None,
        }
    }

    /// The namespace for objects that name none.
    pub fn default_namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

const TITLE: &str = "shipgate config";

/// Checks the block's shape (the files it names are checked by `config check` and `deploy`,
/// which know the repository).
pub fn validate(section: &DeploySection, file: &str, errors: &mut Vec<Diagnostic>) {
    let top = || {
        Some(Location {
            file: file.to_string(),
            line: 1,
            column: 1,
        })
    };
    if let Some(manifests) = &section.manifests {
        validate_manifests(manifests, file, errors);
    }
    if let Some(gitops) = &section.gitops {
        if let Some(manifests) = &section.manifests {
            errors.push(
                Diagnostic::error(
                    TITLE,
                    "`deploy` sets both `manifests` and `gitops`: shipgate either applies the objects or writes the images back for a GitOps controller, not both",
                )
                .at(locate(&gitops.kustomization, file).or_else(|| {
                    manifests
                        .kustomize
                        .as_ref()
                        .and_then(|k| locate(k, file))
                }))
                .with_help("keep one of `deploy.manifests` and `deploy.gitops`"),
            );
        }
        validate_gitops(gitops, file, errors);
    }
    if section.prune && section.manifests.is_none() {
        errors.push(
            Diagnostic::error(TITLE, "`deploy.prune` needs `deploy.manifests`")
                .at(top())
                .with_help(
                    "prune deletes objects shipgate applied from manifests and no longer renders",
                ),
        );
    }
}

/// `deploy.gitops`: a kustomization path and a branch name (or `pull-request`).
fn validate_gitops(gitops: &GitopsSettings, file: &str, errors: &mut Vec<Diagnostic>) {
    let path = gitops.kustomization.value.trim();
    if path.is_empty() {
        errors.push(
            Diagnostic::error(TITLE, "`deploy.gitops.kustomization` is empty")
                .at(locate(&gitops.kustomization, file)),
        );
    } else if path.starts_with('/') || path.split('/').any(|part| part == "..") {
        errors.push(
            Diagnostic::error(
                TITLE,
                format!("`deploy.gitops.kustomization` `{path}` must be a path inside the repository (relative, no `..`)"),
            )
            .at(locate(&gitops.kustomization, file)),
        );
    }
    if let Err(reason) = check_branch(&gitops.branch) {
        errors.push(
            Diagnostic::error(
                TITLE,
                format!("`deploy.gitops.branch` `{}` {reason}", gitops.branch),
            )
            .at(locate(&gitops.kustomization, file))
            .with_help("give the branch to commit to (e.g. `main`) or `pull-request`"),
        );
    }
}

/// Whether `branch` is a name git accepts for a branch (`git check-ref-format --branch`).
pub fn check_branch(branch: &str) -> Result<(), &'static str> {
    if branch.trim().is_empty() {
        return Err("is empty");
    }
    let bad_char = |c: char| c.is_ascii_control() || " ~^:?*[\\".contains(c);
    if branch.chars().any(bad_char)
        || branch.contains("..")
        || branch.contains("@{")
        || branch.contains("//")
        || branch.starts_with(['/', '-', '.'])
        || branch.ends_with(['/', '.'])
        || branch.ends_with(".lock")
        || branch == "@"
        || branch.split('/').any(|part| part.starts_with('.'))
    {
        return Err("is not a valid branch name");
    }
    Ok(())
}

/// The kustomization file `path` (with `{environment}` already replaced) names below `root`:
/// the file itself, or the kustomization file of the directory it names.
pub fn kustomization_file(root: &std::path::Path, path: &str) -> Option<String> {
    let path = path.trim().trim_end_matches('/');
    if root.join(path).is_file() {
        return Some(path.to_string());
    }
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|name| format!("{path}/{name}"))
        .find(|candidate| root.join(candidate).is_file())
}

fn top(file: &str) -> Option<Location> {
    Some(Location {
        file: file.to_string(),
        line: 1,
        column: 1,
    })
}

/// `deploy.manifests`: exactly one source, valid globs, a valid namespace.
fn validate_manifests(manifests: &ManifestsSettings, file: &str, errors: &mut Vec<Diagnostic>) {
    let top = || top(file);
    match (&manifests.kustomize, &manifests.files) {
        (Some(_), Some(globs)) => errors.push(
            Diagnostic::error(
                TITLE,
                "`deploy.manifests` sets both `kustomize` and `files`",
            )
            .at(globs.first().and_then(|g| locate(g, file)).or_else(top))
            .with_help("keep one: a kustomization directory, or globs of YAML files"),
        ),
        (None, None) => errors.push(
            Diagnostic::error(
                TITLE,
                "`deploy.manifests` needs `kustomize` (a directory) or `files` (globs)",
            )
            .at(top()),
        ),
        (Some(directory), None) if directory.value.trim().is_empty() => errors.push(
            Diagnostic::error(TITLE, "`deploy.manifests.kustomize` is empty")
                .at(locate(directory, file)),
        ),
        (None, Some(globs)) => {
            if globs.is_empty() {
                errors
                    .push(Diagnostic::error(TITLE, "`deploy.manifests.files` is empty").at(top()));
            }
            for glob in globs {
                if let Err(message) = crate::detect::glob::compile(
                    &glob.value,
                    crate::detect::glob::TrailingRecursive::OnlyBelow,
                ) {
                    errors.push(
                        Diagnostic::error(
                            TITLE,
                            format!(
                                "invalid glob `{}`: {message}",
                                crate::detect::glob::shorten(&glob.value)
                            ),
                        )
                        .at(locate(glob, file)),
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(namespace) = &manifests.namespace
        && !valid_dns_label(namespace)
    {
        errors.push(
            Diagnostic::error(
                TITLE,
                format!("`deploy.manifests.namespace` `{namespace}` is not a valid namespace name"),
            )
            .at(top())
            .with_help("lower-case letters, digits and `-`, at most 63 characters"),
        );
    }
}

/// A Kubernetes namespace name (RFC 1123 label).
pub fn valid_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Replaces `{environment}`; with no environment in the plan that is an error naming it.
pub fn expand_environment(text: &str, environment: Option<&str>) -> Result<String, String> {
    if !text.contains("{environment}") {
        return Ok(text.to_string());
    }
    match environment.filter(|e| !e.is_empty()) {
        Some(environment) => Ok(text.replace("{environment}", environment)),
        None => Err(format!(
            "`{text}` uses {{environment}}, but the plan has no environment (set `defaults.environment` or the `environment` input)"
        )),
    }
}

/// Problems with the files the block names, relative to the repository `root` (`files`: the
/// repository's files, relative): the kustomization directory must exist (with no environment
/// known, at least one directory `{environment}` can stand for), each glob must match a file.
pub fn check_files(
    section: &DeploySection,
    root: &std::path::Path,
    environment: Option<&str>,
    files: &[String],
    display: &str,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    if let Some(gitops) = &section.gitops {
        problems.extend(check_gitops_file(gitops, root, environment, files, display));
    }
    let Some(manifests) = &section.manifests else {
        return problems;
    };
    if let Some(directory) = &manifests.kustomize {
        let at = locate(directory, display);
        let text = directory.value.trim_end_matches('/');
        let found = match expand_environment(text, environment) {
            Ok(expanded) => ["kustomization.yaml", "kustomization.yml", "Kustomization"]
                .iter()
                .any(|name| root.join(&expanded).join(name).is_file()),
            Err(_) => {
                let pattern = format!("{}/kustomization.y*ml", text.replace("{environment}", "*"));
                glob_matches(&pattern, files)
            }
        };
        if !found {
            problems.push(
                Diagnostic::error(
                    TITLE,
                    format!(
                        "`deploy.manifests.kustomize`: `{}` is not a kustomization directory (no kustomization.yaml there)",
                        expand_environment(text, environment).unwrap_or_else(|_| text.to_string())
                    ),
                )
                .at(at),
            );
        }
    }
    for glob in manifests.files.iter().flatten() {
        if !glob_matches(&glob.value, files) {
            problems.push(
                Diagnostic::error(
                    TITLE,
                    format!("`deploy.manifests.files`: `{}` matches no file", glob.value),
                )
                .at(locate(glob, display)),
            );
        }
    }
    problems
}

/// The `deploy.gitops.kustomization` file must exist (with no environment known, at least one
/// file `{environment}` can stand for).
fn check_gitops_file(
    gitops: &GitopsSettings,
    root: &std::path::Path,
    environment: Option<&str>,
    files: &[String],
    display: &str,
) -> Option<Diagnostic> {
    let text = gitops.kustomization.value.trim().trim_end_matches('/');
    let found = match expand_environment(text, environment) {
        Ok(expanded) => kustomization_file(root, &expanded).is_some(),
        Err(_) => {
            let pattern = text.replace("{environment}", "*");
            glob_matches(&pattern, files)
                || glob_matches(&format!("{pattern}/kustomization.y*ml"), files)
        }
    };
    (!found).then(|| {
        Diagnostic::error(
            TITLE,
            format!(
                "`deploy.gitops.kustomization`: `{}` is not a kustomization file (nor a directory holding one)",
                expand_environment(text, environment).unwrap_or_else(|_| text.to_string())
            ),
        )
        .at(locate(&gitops.kustomization, display))
    })
}

fn glob_matches(pattern: &str, files: &[String]) -> bool {
    crate::detect::glob::compile(pattern, crate::detect::glob::TrailingRecursive::OnlyBelow)
        .is_ok_and(|matcher| files.iter().any(|f| matcher.is_match(f)))
}

#[cfg(test)]
mod tests {
    use crate::config::load::parse;

    fn error_of(text: &str) -> String {
        match parse(text, "c.yml") {
            Ok(_) => panic!("expected an error"),
            Err(failure) => failure.diagnostics()[0].message.clone(),
        }
    }

    const SERVICES: &str = "services:\n  a: { paths: [a/**], image: a }\n";

    #[test]
    fn a_kustomize_block_loads() {
        let config = parse(
            &format!("version: 1\ndeploy:\n  manifests:\n    kustomize: deploy/overlays/{{environment}}\n    allow-manifest-tags: true\n  prune: true\n{SERVICES}"),
            "c.yml",
        )
        .unwrap();
        let manifests = config.deploy.manifests.as_ref().unwrap();
        assert_eq!(
            manifests.source(),
            Some(super::ManifestSource::Kustomize(
                "deploy/overlays/{environment}".into()
            ))
        );
        assert!(manifests.allow_manifest_tags);
        assert!(!manifests.force_conflicts);
        assert_eq!(manifests.default_namespace(), "default");
        assert!(config.deploy.prune);
    }

    #[test]
    fn exactly_one_source() {
        assert!(
            error_of(&format!("version: 1\ndeploy:\n  manifests:\n    kustomize: k\n    files: [a.yaml]\n{SERVICES}"))
                .contains("both `kustomize` and `files`")
        );
        assert!(
            error_of(&format!(
                "version: 1\ndeploy:\n  manifests: {{ namespace: shop }}\n{SERVICES}"
            ))
            .contains("needs `kustomize`")
        );
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(
            error_of(&format!(
                "version: 1\ndeploy:\n  manifests: {{ files: ['k8s/[a-'] }}\n{SERVICES}"
            ))
            .contains("invalid glob")
        );
        assert!(
            error_of(&format!("version: 1\ndeploy:\n  manifests: {{ files: [a.yaml], namespace: Shop }}\n{SERVICES}"))
                .contains("not a valid namespace")
        );
        assert!(
            error_of(&format!("version: 1\ndeploy:\n  prune: true\n{SERVICES}"))
                .contains("needs `deploy.manifests`")
        );
        assert!(
            error_of(&format!(
                "version: 1\ndeploy:\n  manifests: {{ kustomise: k }}\n{SERVICES}"
            ))
            .contains("did you mean `kustomize`")
        );
    }

    #[test]
    fn a_gitops_block_loads_and_is_checked() {
        let config = parse(
            &format!("version: 1\ndeploy:\n  gitops: {{ kustomization: 'o/{{environment}}/kustomization.yaml', branch: main }}\n{SERVICES}"),
            "c.yml",
        )
        .unwrap();
        let gitops = config.deploy.gitops.as_ref().unwrap();
        assert_eq!(gitops.branch, "main");
        let both = error_of(&format!(
            "version: 1\ndeploy:\n  manifests: {{ kustomize: k }}\n  gitops: {{ kustomization: k/kustomization.yaml }}\n{SERVICES}"
        ));
        assert!(both.contains("both `manifests` and `gitops`"), "{both}");
        for (bad, expected) in [
            ("kustomization: ''", "is empty"),
            ("kustomization: ../other/k.yaml", "inside the repository"),
            (
                "kustomization: k.yaml, branch: 'a b'",
                "not a valid branch name",
            ),
            (
                "kustomization: k.yaml, branch: main..x",
                "not a valid branch name",
            ),
            ("kustomization: k.yaml, branch: ''", "is empty"),
        ] {
            let message = error_of(&format!(
                "version: 1\ndeploy:\n  gitops: {{ {bad} }}\n{SERVICES}"
            ));
            assert!(message.contains(expected), "{bad}: {message}");
        }
        for good in ["main", "release/2026.12", "pull-request", "deploy_prod-1"] {
            assert_eq!(super::check_branch(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn the_gitops_kustomization_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("o/prod")).unwrap();
        std::fs::write(dir.path().join("o/prod/kustomization.yaml"), "images: []\n").unwrap();
        let check = |path: &str, environment, files: &[String]| {
            let config = parse(
                &format!(
                    "version: 1\ndeploy:\n  gitops: {{ kustomization: '{path}' }}\n{SERVICES}"
                ),
                "c.yml",
            )
            .unwrap();
            super::check_files(&config.deploy, dir.path(), environment, files, "c.yml")
                .into_iter()
                .map(|d| d.message)
                .collect::<Vec<_>>()
        };
        assert!(check("o/{environment}/kustomization.yaml", Some("prod"), &[]).is_empty());
        assert!(check("o/{environment}", Some("prod"), &[]).is_empty());
        assert!(
            check("o/{environment}/kustomization.yaml", Some("dev"), &[])[0]
                .contains("`o/dev/kustomization.yaml` is not a kustomization file")
        );
        assert!(
            check(
                "o/{environment}/kustomization.yaml",
                None,
                &["o/prod/kustomization.yaml".into()]
            )
            .is_empty()
        );
        assert_eq!(
            check("o/{environment}/kustomization.yaml", None, &[]).len(),
            1
        );
        assert_eq!(
            super::kustomization_file(dir.path(), "o/prod/").as_deref(),
            Some("o/prod/kustomization.yaml")
        );
    }

    #[test]
    fn environment_placeholder() {
        assert_eq!(
            super::expand_environment("o/{environment}", Some("prod")).unwrap(),
            "o/prod"
        );
        assert!(
            super::expand_environment("o/{environment}", None)
                .unwrap_err()
                .contains("no environment")
        );
    }

    #[test]
    fn files_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("o/prod")).unwrap();
        std::fs::write(
            dir.path().join("o/prod/kustomization.yaml"),
            "resources: []\n",
        )
        .unwrap();
        let config = parse(
            &format!(
                "version: 1\ndeploy:\n  manifests: {{ kustomize: 'o/{{environment}}' }}\n{SERVICES}"
            ),
            "c.yml",
        )
        .unwrap();
        let check = |environment, files: &[String]| {
            super::check_files(&config.deploy, dir.path(), environment, files, "c.yml")
                .into_iter()
                .map(|d| d.message)
                .collect::<Vec<_>>()
        };
        assert!(check(Some("prod"), &[]).is_empty());
        assert!(check(Some("dev"), &[])[0].contains("`o/dev` is not a kustomization directory"));
        assert!(check(None, &["o/prod/kustomization.yaml".into()]).is_empty());
        assert_eq!(check(None, &[]).len(), 1);
        let config = parse(
            &format!(
                "version: 1\ndeploy:\n  manifests: {{ files: ['k8s/**/*.yaml'] }}\n{SERVICES}"
            ),
            "c.yml",
        )
        .unwrap();
        let check =
            |files: &[String]| super::check_files(&config.deploy, dir.path(), None, files, "c.yml");
        assert!(check(&["k8s/a/b.yaml".into()]).is_empty());
        let problems = check(&["k8s/a.yml".into()]);
        assert!(problems[0].message.contains("matches no file"));
        assert_eq!(problems[0].location.as_ref().unwrap().line, 3);
    }
}
