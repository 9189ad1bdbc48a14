//! The manifests part of the job summary and terminal report: every object with what was
//! done to it and where it ended, every image substitution (from → to, and why), and the
//! diffs grouped created / changed / unchanged / pruned. Diffs are already redacted.

use super::apply::Outcome;
use super::outcome::{Action, ObjectResult};
use crate::runner::Summary;
use crate::runner::summary::{code_span, escape_markdown};
use std::fmt::Write;

fn action(object: &ObjectResult) -> &'static str {
    match object.action {
        Action::Create => "create",
        Action::Change => "change",
        Action::Unchanged => "unchanged",
        Action::Recreate => "re-create (Job)",
        Action::Prune => "prune",
    }
}

/// The summary section.
pub fn section(outcome: &Outcome, summary: &mut Summary) {
    let mut text =
        String::from("#### Objects\n\n| Object | Wave | Action | Outcome |\n|---|---|---|---|\n");
    for object in &outcome.objects {
        let mut state = escape_markdown(&object.state.describe());
        if let Some(detail) = &object.detail {
            let _ = write!(state, "<br>{}", escape_markdown(detail));
        }
        let _ = writeln!(
            text,
            "| {} | {} | {} | {state} |",
            code_span(&object.object.to_string()),
            object.wave,
            action(object)
        );
    }
    if !outcome.substitutions.is_empty() {
        text.push_str(
            "\n#### Images\n\n| Object | Container | From | To | Why |\n|---|---|---|---|---|\n",
        );
        for s in &outcome.substitutions {
            let _ = writeln!(
                text,
                "| {} | {}{} | {} | {} | {} |",
                code_span(&s.object.to_string()),
                code_span(&s.container),
                if s.init { " (init)" } else { "" },
                code_span(&s.from),
                code_span(&s.to),
                escape_markdown(&s.reason.describe())
            );
        }
    }
    summary.push(text);
    diagnoses(outcome, summary);
    for (title, wanted) in [
        ("Created", &[Action::Create][..]),
        ("Changed", &[Action::Change, Action::Recreate][..]),
        ("Pruned", &[Action::Prune][..]),
    ] {
        let diffs: Vec<&ObjectResult> = outcome
            .objects
            .iter()
            .filter(|o| wanted.contains(&o.action))
            .collect();
        if diffs.is_empty() {
            continue;
        }
        let mut body = String::new();
        for object in diffs {
            let _ = write!(
                body,
                "```diff\n{}```\n",
                object
                    .diff
                    .as_deref()
                    .unwrap_or_default()
                    .replace("```", "` ` `")
            );
        }
        summary.details(
            format!(
                "{title}: {} object(s)",
                wanted
                    .iter()
                    .map(|a| outcome.objects.iter().filter(|o| o.action == *a).count())
                    .sum::<usize>()
            ),
            body,
        );
    }
    let unchanged = outcome
        .objects
        .iter()
        .filter(|o| o.action == Action::Unchanged)
        .count();
    if unchanged > 0 {
        summary.push(format!("Unchanged: {unchanged} object(s).\n"));
    }
}

/// The diagnosis of every failed workload no service names (a service's is in its row).
fn diagnoses(outcome: &Outcome, summary: &mut Summary) {
    for object in &outcome.objects {
        let Some(diagnosis) = &object.diagnosis else {
            continue;
        };
        let id = object.object.to_string();
        if outcome
            .report
            .services
            .iter()
            .any(|s| s.workload.as_deref() == Some(id.as_str()) && s.diagnosis.is_some())
        {
            continue;
        }
        summary.details(
            format!("{id}: diagnosis"),
            format!(
                "```text\n{}```\n",
                crate::report::deploy::diagnosis_text(diagnosis).replace("```", "` ` `")
            ),
        );
    }
}

/// The terminal lines.
pub fn terminal(outcome: &Outcome) -> String {
    let mut text = String::from("\nobjects:\n");
    for object in &outcome.objects {
        let _ = writeln!(
            text,
            "  {:<50} {:<16} {}",
            object.object.to_string(),
            action(object),
            object.state.describe()
        );
    }
    for s in &outcome.substitutions {
        let _ = writeln!(
            text,
            "  image {} {}: {} -> {} ({})",
            s.object,
            s.container,
            s.from,
            s.to,
            s.reason.describe()
        );
    }
    text
}
