//! `shipgate status` for people: a terminal table and the job-summary table. Pure.

use super::{ServiceStatus, State, short_digest};
use crate::runner::summary::{code_span, escape_markdown};

fn state_mark(status: &ServiceStatus) -> &'static str {
    match status.state {
        State::Complete if status.unhealthy() => "⚠️",
        State::Complete => "✅",
        State::Progressing => "⏳",
        State::Failed => "❌",
        State::Paused => "⏸️",
        State::Missing => "❓",
    }
}

fn short_revision(revision: Option<&str>) -> String {
    revision.map_or_else(
        || "never deployed by shipgate".to_string(),
        |r| r.chars().take(7).collect(),
    )
}

fn behind_text(status: &ServiceStatus) -> String {
    match (status.behind, status.revision.as_deref()) {
        (Some(0), _) => "up to date".into(),
        (Some(1), _) => "1 commit behind".into(),
        (Some(n), _) => format!("{n} commits behind"),
        (None, None) => "—".into(),
        (None, Some(_)) => "revision not in this history".into(),
    }
}

fn running_text(status: &ServiceStatus) -> String {
    if status.running.is_empty() {
        return "no running pods".into();
    }
    status
        .running
        .iter()
        .map(|r| format!("{} ×{}", short_digest(&r.digest), r.pods))
        .collect::<Vec<_>>()
        .join(", ")
}

fn replicas_text(status: &ServiceStatus) -> String {
    let r = &status.replicas;
    format!(
        "{}/{} ready, {} updated, {} available",
        r.ready, r.desired, r.updated, r.available
    )
}

/// The terminal text: one block per service (warnings go out as diagnostics).
pub fn terminal(statuses: &[ServiceStatus]) -> String {
    let mut text = String::new();
    for status in statuses {
        text.push_str(&format!(
            "{} {}  {}/{}/{}  {}\n",
            state_mark(status),
            status.name,
            status.namespace,
            status.kind,
            status.workload,
            status.state.as_str()
        ));
        if status.state != State::Missing {
            text.push_str(&format!(
                "    image     {}\n    running   {}\n    replicas  {}\n",
                status.desired_image.as_deref().unwrap_or("?"),
                running_text(status),
                replicas_text(status)
            ));
        }
        text.push_str(&format!(
            "    revision  {}{}{}  {}\n",
            short_revision(status.revision.as_deref()),
            status
                .version
                .as_deref()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default(),
            status
                .deployed_at
                .as_deref()
                .map(|d| format!(", deployed {d}"))
                .unwrap_or_default(),
            behind_text(status)
        ));
        if let Some(url) = &status.run_url {
            text.push_str(&format!("    run       {url}\n"));
        }
        if status.drift {
            text.push_str("    DRIFT\n");
        }
        for note in &status.notes {
            text.push_str(&format!("    - {note}\n"));
        }
    }
    text
}

/// The job-summary section: a table, then the notes.
pub fn markdown(statuses: &[ServiceStatus], failures: &[String]) -> String {
    let verdict = if failures.is_empty() { "" } else { " — ❌ " };
    let mut text = format!(
        "### 📡 What runs where{verdict}{}\n\n| | Service | Workload | State | Image | Running | Replicas | Revision | Behind | Drift |\n|---|---|---|---|---|---|---|---|---|---|\n",
        if failures.is_empty() {
            String::new()
        } else {
            escape_markdown(&failures.join("; "))
        }
    );
    for status in statuses {
        let revision = match (&status.revision, &status.run_url) {
            (Some(revision), Some(url)) if url.starts_with("https://") => {
                format!("[{}]({url})", code_span(&short_revision(Some(revision))))
            }
            (Some(revision), _) => code_span(&short_revision(Some(revision))),
            (None, _) => "never deployed by shipgate".into(),
        };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            state_mark(status),
            escape_markdown(&status.name),
            code_span(&format!(
                "{}/{}/{}",
                status.namespace, status.kind, status.workload
            )),
            status.state.as_str(),
            status
                .desired_image
                .as_deref()
                .map(code_span)
                .unwrap_or_else(|| "—".into()),
            running_text(status),
            replicas_text(status),
            revision,
            behind_text(status),
            if status.drift { "⚠️ yes" } else { "no" }
        ));
    }
    let notes: Vec<String> = statuses
        .iter()
        .flat_map(|s| {
            s.notes
                .iter()
                .map(move |n| format!("- **{}**: {}", escape_markdown(&s.name), escape_markdown(n)))
        })
        .collect();
    if !notes.is_empty() {
        text.push('\n');
        text.push_str(&notes.join("\n"));
        text.push('\n');
    }
    text
}
