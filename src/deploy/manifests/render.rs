//! Rendering: `kustomize build DIR` (or `kubectl kustomize DIR` where kustomize is not
//! installed), or the YAML files the globs match, split into one object per document. Every
//! problem is a located diagnostic (file:line:col for YAML errors, the tool's own message for
//! kustomize).

use super::object::{Manifest, ObjectRef};
use crate::config::deploy_section::{ManifestSource, expand_environment};
use crate::diagnostic::{Diagnostic, Location};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const TITLE: &str = "shipgate deploy: manifests";

/// Renders the configured source below the repository `root`.
pub fn render(
    source: &ManifestSource,
    root: &Path,
    environment: Option<&str>,
) -> Result<Vec<Manifest>, Vec<Diagnostic>> {
    match source {
        ManifestSource::Kustomize(directory) => {
            let directory = expand_environment(directory, environment)
                .map_err(|message| vec![Diagnostic::error(TITLE, message)])?;
            kustomize(root, &directory).map_err(|d| vec![d])
        }
        ManifestSource::Files(globs) => files(root, globs),
    }
}

/// The kustomize command available here: `kustomize build`, else `kubectl kustomize`.
fn kustomize_command() -> Option<(String, Vec<&'static str>)> {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    if on_path("kustomize") {
        Some(("kustomize".into(), vec!["build"]))
    } else if on_path("kubectl") {
        Some(("kubectl".into(), vec!["kustomize"]))
    } else {
        None
    }
}

fn kustomize(root: &Path, directory: &str) -> Result<Vec<Manifest>, Diagnostic> {
    let path = root.join(directory);
    if !path.is_dir() {
        return Err(Diagnostic::error(
            TITLE,
            format!("the kustomization directory `{directory}` does not exist"),
        ));
    }
    let Some((program, args)) = kustomize_command() else {
        return Err(
            Diagnostic::error(TITLE, "neither `kustomize` nor `kubectl` is on PATH")
                .with_help("GitHub's hosted runners have both; elsewhere install kubectl"),
        );
    };
    let shown = format!("{program} {} {directory}", args.join(" "));
    let output = Command::new(&program)
        .args(&args)
        .arg(&path)
        .current_dir(root)
        .output()
        .map_err(|e| Diagnostic::error(TITLE, format!("cannot run `{shown}`: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Diagnostic::error(
            TITLE,
            format!("`{shown}` failed: {}", stderr.trim()),
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    split(&text, &shown).map_err(|mut d| {
        d.location = None;
        d
    })
}

/// The files below `root` that the globs match, sorted, each split into its documents.
fn files(root: &Path, globs: &[String]) -> Result<Vec<Manifest>, Vec<Diagnostic>> {
    let mut set = Vec::new();
    for glob in globs {
        let compiled =
            crate::detect::glob::compile(glob, crate::detect::glob::TrailingRecursive::OnlyBelow)
                .map_err(|e| {
                vec![Diagnostic::error(
                    TITLE,
                    format!("invalid glob `{}`: {e}", crate::detect::glob::shorten(glob)),
                )]
            })?;
        set.push(compiled);
    }
    let mut matched: Vec<String> = walk(root)
        .into_iter()
        .filter(|relative| set.iter().any(|glob| glob.is_match(relative)))
        .collect();
    matched.sort();
    if matched.is_empty() {
        return Err(vec![Diagnostic::error(
            TITLE,
            format!(
                "`deploy.manifests.files` ({}) matches no file",
                globs.join(", ")
            ),
        )]);
    }
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for relative in matched {
        match std::fs::read_to_string(root.join(&relative)) {
            Ok(text) => match split(&text, &relative) {
                Ok(found) => manifests.extend(found),
                Err(diagnostic) => errors.push(diagnostic),
            },
            Err(e) => errors.push(Diagnostic::error(
                TITLE,
                format!("cannot read {relative}: {e}"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

/// Files below `root`, relative with `/`, skipping `.git`.
fn walk(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}

/// Splits a multi-document YAML stream into objects; `v1` `List`s are flattened, empty
/// documents skipped. `origin` names the file in messages.
pub fn split(text: &str, origin: &str) -> Result<Vec<Manifest>, Diagnostic> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        let location = e.location().and_then(|l| {
            (l.line() > 0).then(|| Location {
                file: origin.to_string(),
                line: l.line(),
                column: l.column().max(1),
            })
        });
        let message = e.without_snippet().to_string();
        let message = message.lines().next().unwrap_or_default().to_string();
        Diagnostic::error(TITLE, format!("{origin}: invalid YAML: {message}")).at(location)
    })?;
    let mut manifests = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        let place = format!("{origin} (document {})", index + 1);
        match document {
            Value::Null => {}
            Value::Object(_) if document["kind"] == "List" => {
                for item in document["items"].as_array().into_iter().flatten() {
                    manifests.push(checked(item.clone(), &place)?);
                }
            }
            Value::Object(_) => manifests.push(checked(document, &place)?),
            _ => {
                return Err(Diagnostic::error(
                    TITLE,
                    format!(
                        "{place} is not a Kubernetes object (a mapping with apiVersion, kind and metadata.name)"
                    ),
                ));
            }
        }
    }
    Ok(manifests)
}

fn checked(object: Value, place: &str) -> Result<Manifest, Diagnostic> {
    if ObjectRef::of(&object).is_none() {
        let missing: Vec<&str> = [
            ("apiVersion", object["apiVersion"].is_string()),
            ("kind", object["kind"].is_string()),
            ("metadata.name", object["metadata"]["name"].is_string()),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(key, _)| key)
        .collect();
        return Err(Diagnostic::error(
            TITLE,
            format!("{place} has no {}", missing.join(", ")),
        )
        .with_help("every object needs apiVersion, kind and metadata.name (generateName is not supported by apply)"));
    }
    Ok(Manifest {
        object,
        origin: place.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_and_lists_flattened() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: b}}\n";
        let manifests = split(text, "k8s/a.yaml").unwrap();
        let ids: Vec<String> = manifests.iter().map(|m| m.id().to_string()).collect();
        assert_eq!(ids, ["ConfigMap/a", "Service/b"]);
        assert_eq!(manifests[0].object["data"]["x"], "1");
        assert_eq!(manifests[0].origin, "k8s/a.yaml (document 1)");
    }

    #[test]
    fn yaml_errors_are_located() {
        let error = split(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n",
            "k8s/b.yaml",
        )
        .unwrap_err();
        let location = error.location.expect("located");
        assert_eq!(location.file, "k8s/b.yaml");
        assert!(location.line >= 4, "{location:?}");
        assert!(error.message.contains("invalid YAML"), "{}", error.message);
    }

    #[test]
    fn objects_need_an_identity() {
        let error = split("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "c.yaml").unwrap_err();
        assert!(
            error
                .message
                .contains("c.yaml (document 1) has no metadata.name"),
            "{}",
            error.message
        );
        assert!(
            split("- a\n", "c.yaml")
                .unwrap_err()
                .message
                .contains("not a Kubernetes object")
        );
    }

    #[test]
    fn files_are_matched_and_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("k8s/x")).unwrap();
        std::fs::write(
            dir.path().join("k8s/b.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("k8s/x/a.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("k8s/notes.md"), "no").unwrap();
        let source = ManifestSource::Files(vec!["k8s/**/*.yaml".into()]);
        let manifests = render(&source, dir.path(), None).unwrap();
        let ids: Vec<String> = manifests.iter().map(|m| m.id().to_string()).collect();
        assert_eq!(ids, ["ConfigMap/b", "ConfigMap/a"]);
        let none = ManifestSource::Files(vec!["deploy/*.yaml".into()]);
        assert!(
            render(&none, dir.path(), None).unwrap_err()[0]
                .message
                .contains("matches no file")
        );
    }

    #[test]
    fn kustomize_renders_with_the_real_tool_and_reports_its_errors() {
        let dir = tempfile::tempdir().unwrap();
        let overlay = dir.path().join("o/prod");
        std::fs::create_dir_all(&overlay).unwrap();
        std::fs::write(
            overlay.join("kustomization.yaml"),
            "namespace: shop\nresources: [cm.yaml]\n",
        )
        .unwrap();
        std::fs::write(
            overlay.join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )
        .unwrap();
        let source = ManifestSource::Kustomize("o/{environment}".into());
        let manifests = render(&source, dir.path(), Some("prod")).unwrap();
        assert_eq!(manifests[0].id().to_string(), "ConfigMap/shop/a");
        std::fs::write(
            overlay.join("kustomization.yaml"),
            "resources: [missing.yaml]\n",
        )
        .unwrap();
        let error = render(&source, dir.path(), Some("prod")).unwrap_err();
        assert!(error[0].message.contains("failed:"), "{}", error[0].message);
        assert!(
            error[0].message.contains("missing.yaml"),
            "{}",
            error[0].message
        );
        assert!(
            render(&source, dir.path(), None).unwrap_err()[0]
                .message
                .contains("no environment")
        );
    }
}
