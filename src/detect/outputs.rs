//! The step outputs of detect: `services`, `changes`, `matrix`, `any-changed`, `changed-files`.

use super::ChangeSet;
use serde_json::{Map, Value, json};

/// How `changed-files` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFiles {
    /// No `changed-files` output.
    #[default]
    None,
    /// A JSON array.
    Json,
    /// One line, comma separated, RFC 4180 quoting.
    Csv,
    /// One line, space separated, each path quoted for a POSIX shell.
    Shell,
}

/// `["auth","payments"]`: every affected config entry (libraries too), sorted.
pub fn services(changes: &ChangeSet) -> Value {
    Value::Array(
        changes
            .affected
            .iter()
            .map(|a| Value::String(a.name.clone()))
            .collect(),
    )
}

/// `{"auth": true, "web": false, …}` for every configured service.
pub fn changes_map(changes: &ChangeSet) -> Value {
    let affected: std::collections::HashSet<&str> =
        changes.affected.iter().map(|a| a.name.as_str()).collect();
    let mut map = Map::new();
    for name in &changes.all_services {
        map.insert(name.clone(), Value::Bool(affected.contains(name.as_str())));
    }
    Value::Object(map)
}

/// `{"include":[{"service":"auth","image":"auth-service"}, …]}`; `{"include":[]}` when empty.
pub fn matrix(changes: &ChangeSet) -> Value {
    let include: Vec<Value> = changes
        .affected
        .iter()
        .map(|a| {
            let mut entry = Map::new();
            entry.insert("service".into(), Value::String(a.name.clone()));
            if let Some(image) = &a.image {
                entry.insert("image".into(), Value::String(image.clone()));
            }
            Value::Object(entry)
        })
        .collect();
    json!({ "include": include })
}

/// The changed files in the requested format, sorted and de-duplicated.
pub fn changed_files(changes: &ChangeSet, format: ListFiles) -> Option<String> {
    if format == ListFiles::None {
        // Sorting ten thousand paths for an output nobody asked for is a visible share of detect.
        return None;
    }
    let mut paths: Vec<&str> = changes.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    match format {
        ListFiles::None => None,
        ListFiles::Json => Some(Value::from(paths).to_string()),
        ListFiles::Csv => Some(
            paths
                .iter()
                .map(|p| crate::quote::csv(p))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ListFiles::Shell => Some(
            paths
                .iter()
                .map(|p| crate::quote::shell(p))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// All outputs as name/value pairs, in a stable order.
pub fn outputs(changes: &ChangeSet, list_files: ListFiles) -> Vec<(String, String)> {
    let mut outputs = vec![
        ("services".to_string(), services(changes).to_string()),
        ("changes".to_string(), changes_map(changes).to_string()),
        ("matrix".to_string(), matrix(changes).to_string()),
        (
            "any-changed".to_string(),
            (!changes.affected.is_empty()).to_string(),
        ),
    ];
    if let Some(files) = changed_files(changes, list_files) {
        outputs.push(("changed-files".to_string(), files));
    }
    if let Some(bases) = &changes.bases {
        outputs.push((
            "bases".to_string(),
            serde_json::to_value(bases).unwrap_or_default().to_string(),
        ));
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::RangeInfo;
    use crate::detect::changes::{Affected, Reason};
    use crate::detect::git::{ChangeKind, FileChange};

    fn change_set(affected: &[&str], files: &[&str]) -> ChangeSet {
        ChangeSet {
            range: RangeInfo {
                base: None,
                head: None,
                description: String::new(),
            },
            files: files
                .iter()
                .map(|p| FileChange {
                    path: p.to_string(),
                    kind: ChangeKind::Modified,
                })
                .collect(),
            affected: affected
                .iter()
                .map(|n| Affected {
                    name: n.to_string(),
                    image: (*n != "common").then(|| format!("{n}-img")),
                    reason: Reason::Selected { by: "test".into() },
                })
                .collect(),
            all_services: vec!["auth".into(), "common".into(), "web".into()],
            diagnostics: Vec::new(),
            bases: None,
        }
    }

    #[test]
    fn outputs_have_the_documented_shapes() {
        let outputs = outputs(
            &change_set(&["auth", "common"], &["b c.txt", "a.txt"]),
            ListFiles::Json,
        );
        let get = |name: &str| outputs.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(get("services"), r#"["auth","common"]"#);
        assert_eq!(get("changes"), r#"{"auth":true,"common":true,"web":false}"#);
        assert_eq!(
            get("matrix"),
            r#"{"include":[{"image":"auth-img","service":"auth"},{"service":"common"}]}"#
        );
        assert_eq!(get("any-changed"), "true");
        assert_eq!(get("changed-files"), r#"["a.txt","b c.txt"]"#);
    }

    #[test]
    fn nothing_changed_still_gives_a_valid_matrix() {
        let outputs = outputs(&change_set(&[], &[]), ListFiles::None);
        assert_eq!(outputs[2].1, r#"{"include":[]}"#);
        assert_eq!(outputs[3].1, "false");
        assert_eq!(outputs.len(), 4);
        let set = change_set(&[], &["a.txt"]);
        assert_eq!(changed_files(&set, ListFiles::None), None);
        assert!(
            super::outputs(&set, ListFiles::None)
                .iter()
                .all(|(name, _)| name != "changed-files")
        );
    }

    #[test]
    fn csv_and_shell_lists() {
        let set = change_set(&[], &["x'y", "a,b", "plain"]);
        assert_eq!(
            changed_files(&set, ListFiles::Csv).unwrap(),
            "\"a,b\",plain,x'y"
        );
        assert_eq!(
            changed_files(&set, ListFiles::Shell).unwrap(),
            "a,b plain 'x'\\''y'"
        );
    }
}
