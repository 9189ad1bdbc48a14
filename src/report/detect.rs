//! How a detection result reads in the job summary and in a terminal.

use crate::detect::ChangeSet;
use crate::detect::changes::Reason;
use crate::runner::summary::{Summary, code_span, escape_markdown};

/// How many files the summary lists before saying "and N more".
const SUMMARY_FILE_LIMIT: usize = 1000;

/// The detect section of the job summary.
pub fn summary(changes: &ChangeSet, summary: &mut Summary) {
    let count = changes.affected.len();
    let total = changes.all_services.len();
    let headline = match count {
        0 => format!("### 🔍 Changed services: none of {total}"),
        _ => format!("### 🔍 Changed services: {count} of {total}"),
    };
    summary.push(format!(
        "{headline}\n\n**Range:** {}",
        escape_markdown(&changes.range.description)
    ));
    if count > 0 {
        let mut table = String::from("| Service | Image | Why |\n| --- | --- | --- |\n");
        for affected in &changes.affected {
            table.push_str(&format!(
                "| **{}** | {} | {} |\n",
                escape_markdown(&affected.name),
                affected
                    .image
                    .as_deref()
                    .map(code_span)
                    .unwrap_or_else(|| "library".into()),
                reason_markdown(&affected.reason)
            ));
        }
        summary.push(table);
        if let Some(graph) = dependency_graph(changes) {
            summary.push(graph);
        }
    }
    let affected: std::collections::HashSet<&str> =
        changes.affected.iter().map(|a| a.name.as_str()).collect();
    let unchanged: Vec<String> = changes
        .all_services
        .iter()
        .filter(|name| !affected.contains(name.as_str()))
        .map(|name| escape_markdown(name))
        .collect();
    if !unchanged.is_empty() {
        summary.details(
            format!("Unchanged services ({})", unchanged.len()),
            unchanged.join(", "),
        );
    }
    if !changes.files.is_empty() {
        let mut body = String::new();
        for file in changes.files.iter().take(SUMMARY_FILE_LIMIT) {
            body.push_str(&format!(
                "- `{}` {}\n",
                file.kind.letter(),
                code_span(&file.path)
            ));
        }
        if changes.files.len() > SUMMARY_FILE_LIMIT {
            body.push_str(&format!(
                "- … and {} more (use `list-files` to get them all)\n",
                changes.files.len() - SUMMARY_FILE_LIMIT
            ));
        }
        summary.details(format!("Changed files ({})", changes.files.len()), body);
    }
}

fn reason_markdown(reason: &Reason) -> String {
    reason.render(&code_span, &escape_markdown)
}

/// The changed files as the step log's group lists them, one `LETTER path` line each. One
/// buffer, not a string per file: the list can be ten thousand lines.
pub fn file_log(changes: &ChangeSet) -> String {
    let mut log = String::with_capacity(changes.files.iter().map(|f| f.path.len() + 3).sum());
    for file in &changes.files {
        log.push(file.kind.letter());
        log.push(' ');
        log.push_str(&file.path);
        log.push('\n');
    }
    log
}

/// A Mermaid flowchart of what changed and what it pulled in, when anything was pulled in.
fn dependency_graph(changes: &ChangeSet) -> Option<String> {
    let mut edges = Vec::new();
    for affected in &changes.affected {
        if let Reason::Dependency { chain, .. } = &affected.reason {
            for pair in chain.windows(2) {
                let edge = (pair[1].clone(), pair[0].clone());
                if !edges.contains(&edge) {
                    edges.push(edge);
                }
            }
        }
    }
    if edges.is_empty() {
        return None;
    }
    let id = |name: &str| {
        let index = changes
            .all_services
            .iter()
            .position(|n| n == name)
            .unwrap_or(0);
        format!("s{index}")
    };
    let mut text = String::from("```mermaid\nflowchart LR\n");
    for affected in &changes.affected {
        let style = match affected.reason {
            Reason::Paths { .. } => ":::changed",
            _ => ":::pulled",
        };
        text.push_str(&format!(
            "  {}[\"{}\"]{style}\n",
            id(&affected.name),
            affected.name
        ));
    }
    for (from, to) in edges {
        text.push_str(&format!("  {} -->|used by| {}\n", id(&from), id(&to)));
    }
    text.push_str("  classDef changed fill:#ffe8a3,stroke:#9a6700\n  classDef pulled fill:#ddf4ff,stroke:#0969da\n```\n");
    text.push_str("_Yellow: changed directly · blue: pulled in through `depends-on` (an arrow points from a service to the ones that use it)._");
    Some(text)
}

/// The terminal rendering: range, one line per service, a file count.
pub fn terminal(changes: &ChangeSet, color: bool) -> String {
    let (bold, green, dim, reset) = if color {
        ("\x1b[1m", "\x1b[32m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let mut text = format!("{bold}range{reset}  {}\n", changes.range.description);
    let width = changes
        .all_services
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0);
    text.push_str(&format!(
        "{bold}{} of {} services changed{reset}\n",
        changes.affected.len(),
        changes.all_services.len()
    ));
    let affected: std::collections::HashMap<&str, &crate::detect::changes::Affected> = changes
        .affected
        .iter()
        .map(|a| (a.name.as_str(), a))
        .collect();
    for name in &changes.all_services {
        match affected.get(name.as_str()) {
            Some(affected) => text.push_str(&format!(
                "  {green}●{reset} {name:width$}  {}\n",
                affected.reason.describe()
            )),
            None => text.push_str(&format!("  {dim}○ {name:width$}  unchanged{reset}\n")),
        }
    }
    if !changes.files.is_empty() {
        let plural = if changes.files.len() == 1 { "" } else { "s" };
        text.push_str(&format!("{} file{plural} changed\n", changes.files.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::RangeInfo;
    use crate::detect::changes::Affected;
    use crate::detect::git::{ChangeKind, FileChange};

    fn sample() -> ChangeSet {
        ChangeSet {
            range: RangeInfo {
                base: None,
                head: None,
                description: "pull request #1".into(),
            },
            files: vec![FileChange {
                path: "libs/common/<b>|x.rs".into(),
                kind: ChangeKind::Modified,
            }],
            affected: vec![
                Affected {
                    name: "common".into(),
                    image: None,
                    reason: Reason::Paths {
                        file: "libs/common/<b>|x.rs".into(),
                        pattern: "libs/common/**".into(),
                        files: 1,
                    },
                },
                Affected {
                    name: "payments".into(),
                    image: Some("payments".into()),
                    reason: Reason::Dependency {
                        chain: vec!["payments".into(), "common".into()],
                        file: "libs/common/<b>|x.rs".into(),
                    },
                },
            ],
            all_services: vec!["common".into(), "payments".into(), "web".into()],
            diagnostics: Vec::new(),
            bases: None,
        }
    }

    #[test]
    fn summary_has_table_graph_and_escaped_file_names() {
        let mut out = Summary::default();
        summary(&sample(), &mut out);
        let text = out.render(1 << 20);
        assert!(text.contains("### 🔍 Changed services: 2 of 3"));
        assert!(text.contains(
            "| **payments** | `payments` | payments ← common ← `libs/common/<b>\\|x.rs` |"
        ));
        assert!(text.contains("s0 -->|used by| s1"));
        assert!(text.contains("<summary>Unchanged services (1)</summary>"));
        assert!(
            !text.contains("|x.rs |"),
            "a pipe in a file name must not split the cell"
        );
    }

    #[test]
    fn file_log_has_a_line_per_file_with_its_change_letter() {
        let mut changes = sample();
        changes.files.push(FileChange {
            path: "web/new file.ts".into(),
            kind: ChangeKind::Added,
        });
        assert_eq!(
            file_log(&changes),
            "M libs/common/<b>|x.rs\nA web/new file.ts\n"
        );
        changes.files.clear();
        assert_eq!(file_log(&changes), "");
    }

    #[test]
    fn terminal_lists_every_service() {
        let text = terminal(&sample(), false);
        assert!(text.contains("2 of 3 services changed"));
        assert!(text.contains("  ● payments  payments ← common ← libs/common/<b>|x.rs"));
        assert!(text.contains("  ○ web       unchanged"));
    }
}
