//! From changed files to affected services, with the reason for each (pure).

use super::git::FileChange;
use super::matcher::{Hit, Owner};
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a service is in the change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// One of its own paths changed: the first file (in path order) and the pattern that took it.
    Paths {
        file: String,
        pattern: String,
        files: usize,
    },
    /// A `global` path changed.
    Global { file: String, pattern: String },
    /// A service it depends on changed: `chain` runs from this service down to the changed one,
    /// and `file` is what changed there.
    Dependency { chain: Vec<String>, file: String },
    /// Chosen explicitly (`--services`, a dispatch input).
    Selected { by: String },
    /// Every service, because the range could not or should not be narrowed.
    All { why: String },
    /// `--base-from`: compared with the commit it runs (`running 3b6e075, 4 commits behind,
    /// changed since: …`), or changed because that commit is unknown (`never deployed by
    /// shipgate`).
    Deployed { note: String },
}

impl Reason {
    /// One line for tables and logs: `services/auth/x.ts matched services/auth/**`,
    /// `payments ← common ← libs/common/x.rs`.
    pub fn describe(&self) -> String {
        self.render(&|path| path.to_string(), &|text| text.to_string())
    }

    /// The same line with paths and free text passed through `path` and `text` (markdown uses
    /// code spans and escaping).
    pub fn render(&self, path: &dyn Fn(&str) -> String, text: &dyn Fn(&str) -> String) -> String {
        match self {
            Reason::Paths {
                file,
                pattern,
                files,
            } => {
                let more = if *files > 1 {
                    format!(" and {} more", files - 1)
                } else {
                    String::new()
                };
                format!("{} matched {}{more}", path(file), path(pattern))
            }
            Reason::Global { file, pattern } => {
                format!("global: {} matched {}", path(file), path(pattern))
            }
            Reason::Dependency { chain, file } => {
                let chain: Vec<String> = chain.iter().map(|s| text(s)).collect();
                format!("{} ← {}", chain.join(" ← "), path(file))
            }
            Reason::Selected { by } => format!("selected by {}", text(by)),
            Reason::Deployed { note } => text(note),
            Reason::All { why } => format!("all services: {}", text(why)),
        }
    }
}

/// One affected service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Affected {
    pub name: String,
    pub image: Option<String>,
    pub reason: Reason,
}

/// Maps changed files to the services they affect.
pub fn affected_by_files(config: &Config, files: &[FileChange]) -> Vec<Affected> {
    let count = config.services.len();
    // First file and pattern per service (files are sorted, so "first" is stable), plus counts.
    let mut direct: Vec<Option<(String, String)>> = vec![None; count];
    let mut direct_files = vec![0usize; count];
    let mut global: Option<(String, String)> = None;
    let mut scratch = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    for change in files {
        config.matcher.hits(&change.path, &mut scratch, &mut hits);
        for hit in &hits {
            match hit.owner {
                Owner::Global => {
                    if global.is_none() {
                        global = Some((
                            change.path.clone(),
                            config.global[hit.pattern].pattern.text.clone(),
                        ));
                    }
                }
                Owner::Service(index) => {
                    direct_files[index] += 1;
                    if direct[index].is_none() {
                        let pattern = config.services[index].paths[hit.pattern]
                            .pattern
                            .text
                            .clone();
                        direct[index] = Some((change.path.clone(), pattern));
                    }
                }
            }
        }
    }
    let changed: Vec<usize> = (0..count).filter(|i| direct[*i].is_some()).collect();
    let pulled = config.graph.pulled_in(&changed, config.detect.dependents);

    let mut affected = Vec::new();
    for (index, service) in config.services.iter().enumerate() {
        let reason = if let Some((file, pattern)) = &direct[index] {
            Some(Reason::Paths {
                file: file.clone(),
                pattern: pattern.clone(),
                files: direct_files[index],
            })
        } else if let Some((file, pattern)) = &global {
            Some(Reason::Global {
                file: file.clone(),
                pattern: pattern.clone(),
            })
        } else {
            pulled.get(&index).map(|chain| {
                let root = *chain.last().unwrap_or(&index);
                Reason::Dependency {
                    chain: chain
                        .iter()
                        .map(|i| config.services[*i].name.clone())
                        .collect(),
                    file: direct[root]
                        .as_ref()
                        .map(|(f, _)| f.clone())
                        .unwrap_or_default(),
                }
            })
        };
        if let Some(reason) = reason {
            affected.push(Affected {
                name: service.name.clone(),
                image: service.image.clone(),
                reason,
            });
        }
    }
    affected.sort_by(|a, b| a.name.cmp(&b.name));
    affected
}

/// Every service, for one reason.
pub fn all_services(config: &Config, reason: &Reason) -> Vec<Affected> {
    let mut affected: Vec<Affected> = config
        .services
        .iter()
        .map(|s| Affected {
            name: s.name.clone(),
            image: s.image.clone(),
            reason: reason.clone(),
        })
        .collect();
    affected.sort_by(|a, b| a.name.cmp(&b.name));
    affected
}

/// Why a `--services` selection was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownServices {
    pub unknown: Vec<String>,
    pub known: Vec<String>,
}

/// Parses a `services` selection: `all`, or a comma/space/newline separated list of names.
/// Returns `None` for an empty selection (detect as usual).
pub fn select(
    config: &Config,
    selection: &str,
    by: &str,
) -> Result<Option<Vec<Affected>>, UnknownServices> {
    let names: Vec<&str> = selection
        .split([',', '\n', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    if names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        return Ok(Some(all_services(
            config,
            &Reason::Selected {
                by: format!("{by} (all)"),
            },
        )));
    }
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| config.service_index(n).is_none())
        .map(|n| n.to_string())
        .collect();
    if !unknown.is_empty() {
        let mut known: Vec<String> = config
            .service_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        known.sort();
        return Err(UnknownServices { unknown, known });
    }
    let mut selected: BTreeMap<String, Affected> = BTreeMap::new();
    for name in names {
        if let Some(index) = config.service_index(name) {
            let service = &config.services[index];
            selected.insert(
                service.name.clone(),
                Affected {
                    name: service.name.clone(),
                    image: service.image.clone(),
                    reason: Reason::Selected { by: by.to_string() },
                },
            );
        }
    }
    Ok(Some(selected.into_values().collect()))
}

/// A warning, located at the first pattern, for every service whose paths match no file.
pub fn unmatched_path_warnings<'a>(
    config: &Config,
    files: impl Iterator<Item = &'a str>,
) -> Vec<crate::diagnostic::Diagnostic> {
    unmatched_services(config, files)
        .into_iter()
        .map(|index| {
            let service = &config.services[index];
            crate::diagnostic::Diagnostic::warning(
                "shipgate config",
                format!(
                    "the paths of service `{}` match no file in the repository",
                    service.name
                ),
            )
            .at(service.paths.first().map(|p| p.location.clone()))
        })
        .collect()
}

/// Services none of whose positive patterns match any file of `files` (likely a typo).
pub fn unmatched_services<'a>(config: &Config, files: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut matched = vec![false; config.services.len()];
    let mut scratch = Vec::new();
    let mut hits = Vec::new();
    for file in files {
        config.matcher.hits(file, &mut scratch, &mut hits);
        for hit in &hits {
            if let Owner::Service(index) = hit.owner {
                matched[index] = true;
            }
        }
    }
    (0..config.services.len())
        .filter(|i| !matched[*i] && !config.services[*i].paths.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse;
    use crate::detect::git::ChangeKind;

    const CONFIG: &str = "version: 1
global: [.github/shipgate.yml]
services:
  common: { paths: [libs/common/**] }
  auth: { paths: [services/auth/**], depends-on: [common], image: auth }
  payments: { paths: [services/payments/**, '!services/payments/docs/**'], depends-on: [auth], image: payments }
  web: { paths: [web/**], image: web }
";

    fn files(paths: &[&str]) -> Vec<FileChange> {
        let mut v: Vec<FileChange> = paths
            .iter()
            .map(|p| FileChange {
                path: p.to_string(),
                kind: ChangeKind::Modified,
            })
            .collect();
        v.sort();
        v
    }

    fn names(affected: &[Affected]) -> Vec<&str> {
        affected.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn a_library_change_pulls_in_its_transitive_dependents_with_the_chain() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let affected = affected_by_files(&config, &files(&["libs/common/x.rs"]));
        assert_eq!(names(&affected), vec!["auth", "common", "payments"]);
        let payments = affected.iter().find(|a| a.name == "payments").unwrap();
        assert_eq!(
            payments.reason.describe(),
            "payments ← auth ← common ← libs/common/x.rs"
        );
    }

    #[test]
    fn excluded_paths_do_not_count() {
        let config = parse(CONFIG, "c.yml").unwrap();
        assert!(affected_by_files(&config, &files(&["services/payments/docs/a.md"])).is_empty());
        assert!(affected_by_files(&config, &files(&["README.md"])).is_empty());
    }

    #[test]
    fn a_global_change_selects_everything() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let affected = affected_by_files(&config, &files(&[".github/shipgate.yml", "web/a.ts"]));
        assert_eq!(affected.len(), 4);
        let web = affected.iter().find(|a| a.name == "web").unwrap();
        assert!(matches!(web.reason, Reason::Paths { .. }));
        let auth = affected.iter().find(|a| a.name == "auth").unwrap();
        assert_eq!(
            auth.reason.describe(),
            "global: .github/shipgate.yml matched .github/shipgate.yml"
        );
    }

    #[test]
    fn own_changes_are_counted_and_the_first_file_explains() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let affected = affected_by_files(&config, &files(&["web/b.ts", "web/a.ts"]));
        assert_eq!(
            affected[0].reason.describe(),
            "web/a.ts matched web/** and 1 more"
        );
    }

    #[test]
    fn selection_is_exact_and_validated() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let picked = select(&config, "web, auth", "--services").unwrap().unwrap();
        assert_eq!(names(&picked), vec!["auth", "web"]);
        assert_eq!(
            select(&config, "all", "--services").unwrap().unwrap().len(),
            4
        );
        assert_eq!(select(&config, " ", "--services").unwrap(), None);
        let error = select(&config, "auth,nope", "--services").unwrap_err();
        assert_eq!(error.unknown, vec!["nope"]);
        assert_eq!(error.known, vec!["auth", "common", "payments", "web"]);
    }

    #[test]
    fn services_whose_paths_match_nothing_are_found() {
        let config = parse(CONFIG, "c.yml").unwrap();
        let unmatched = unmatched_services(&config, ["libs/common/a", "web/x"].into_iter());
        let unmatched: Vec<&str> = unmatched
            .iter()
            .map(|i| config.services[*i].name.as_str())
            .collect();
        assert_eq!(unmatched, vec!["auth", "payments"]);
    }
}
