//! How the deploy reads: the job summary (one table, a timeline, a diagnosis per failed
//! service), Krane-style diagnosis text, and the terminal lines.

use super::RunMode;
use crate::deploy::diagnosis::{Diagnosis, Verdict};
use crate::deploy::orchestrate::Report;
use crate::deploy::result::HealthState;
use crate::deploy::result::{ServiceResult, Status};
use crate::report::build::duration;
use crate::runner::summary::{Summary, code_span, escape_markdown};
use std::fmt::Write as _;

fn icon(status: Status) -> &'static str {
    match status {
        Status::Succeeded => "✅",
        Status::Unchanged => "✅",
        Status::Failed => "❌",
        Status::RolledBack => "↩️",
        Status::Skipped => "➖",
    }
}

/// The last path component and tag of an image, to keep the table narrow; digests shortened.
fn short_image(image: &str) -> String {
    let (named, digest) = match image.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (image, None),
    };
    let last = named.rsplit('/').next().unwrap_or(named);
    match digest {
        Some(digest) => {
            let hex = digest.trim_start_matches("sha256:");
            format!("{last}@{}", hex.chars().take(12).collect::<String>())
        }
        None => last.to_string(),
    }
}

fn image_cell(result: &ServiceResult) -> String {
    let cell = image_change_cell(result);
    let pinned = result
        .image_after
        .as_deref()
        .and_then(|image| image.rsplit_once('@'))
        .map(|(_, digest)| digest);
    match &result.digest {
        // verify-digest: what every new pod was seen to run (already shown when pinned to it).
        Some(digest) if pinned != Some(digest.as_str()) => {
            format!("{cell}<br>runs {}", code_span(&short_digest(digest)))
        }
        _ => cell,
    }
}

fn short_digest(digest: &str) -> String {
    // The digest comes from the cluster (a pod's imageID): cut by characters, never bytes.
    let hex: String = digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    format!("sha256:{hex}")
}

fn image_change_cell(result: &ServiceResult) -> String {
    match (&result.image_before, &result.image_after) {
        (Some(before), Some(after)) if before == after => code_span(&short_image(after)),
        (Some(before), Some(after)) => format!(
            "{} → {}",
            code_span(&short_image(before)),
            code_span(&short_image(after))
        ),
        (None, Some(after)) => code_span(&short_image(after)),
        _ => "—".into(),
    }
}

fn health_cell(result: &ServiceResult) -> String {
    match &result.health {
        HealthState::WouldCheck(plan) => format!("would check {}", escape_markdown(plan)),
        HealthState::Skipped => "⚠️ skipped".into(),
        HealthState::Checked(report) if report.passed => {
            format!("✅ {}", escape_markdown(&report.summary()))
        }
        HealthState::Checked(report) if !report.critical => {
            format!("⚠️ {} (not critical)", escape_markdown(&report.summary()))
        }
        HealthState::Checked(report) => format!("❌ {}", escape_markdown(&report.summary())),
        HealthState::NoGate => "—".into(),
    }
}

fn result_cell(result: &ServiceResult) -> String {
    let mut text = format!("{} {}", icon(result.status), result.status.as_str());
    if let Some(rollback) = &result.rollback
        && !rollback.succeeded
    {
        text.push_str(" (rollback failed)");
    }
    text
}

/// Headline of the deploy section.
pub fn headline(report: &Report, mode: RunMode) -> String {
    if !report.problems.is_empty() {
        return format!(
            "❌ preflight found {} problem{}: nothing was changed",
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        );
    }
    if let Some(error) = &report.lock_error {
        return format!("❌ {}: nothing was changed", error);
    }
    if report.services.is_empty() {
        return "➖ nothing to deploy: no planned service changed".into();
    }
    let deployed: Vec<&ServiceResult> = report
        .services
        .iter()
        .filter(|s| s.status != Status::Skipped)
        .collect();
    let failed = report
        .services
        .iter()
        .filter(|s| s.status.is_failure())
        .count();
    if mode.is_dry_run() {
        return format!(
            "dry run: {} service{} checked, nothing was changed",
            report.services.len(),
            if report.services.len() == 1 { "" } else { "s" }
        );
    }
    if failed > 0 {
        let rolled = report
            .services
            .iter()
            .filter(|s| s.status == Status::RolledBack)
            .count();
        // Counted over the whole table: skipped rows are in it too.
        return format!(
            "❌ {failed} of {} service{} failed ({rolled} rolled back{}) in {}",
            report.services.len(),
            if report.services.len() == 1 { "" } else { "s" },
            skipped_note(report.services.len() - deployed.len()),
            duration(report.elapsed)
        );
    }
    format!(
        "✅ {} service{} deployed{} in {}",
        deployed.len(),
        if deployed.len() == 1 { "" } else { "s" },
        skipped_note(report.services.len() - deployed.len()),
        duration(report.elapsed)
    )
}

/// `, 2 skipped` when rows of the table were skipped.
fn skipped_note(skipped: usize) -> String {
    if skipped == 0 {
        String::new()
    } else {
        format!(", {skipped} skipped")
    }
}

/// The deploy section of the job summary: headline, cluster and API usage, notices, one table
/// row per service (failures first), the timeline, a diagnosis per failed service, and in a
/// dry run the patches.
pub fn summary(report: &Report, mode: RunMode, summary: &mut Summary) {
    let mut text = format!(
        "### 🚀 Deploy: {}\n\n",
        escape_markdown(&headline(report, mode))
    );
    text.push_str(&cluster_lines(report));
    if !report.problems.is_empty() {
        text.push_str(&problems_table(report));
        summary.push(text);
        return;
    }
    for notice in &report.notices {
        let _ = writeln!(
            text,
            "> {}\n",
            crate::runner::summary::inline_markdown(notice)
        );
    }
    text.push_str(&services_table(report));
    summary.push(text);
    match timeline(report) {
        Some(gantt) => summary.push(gantt),
        None if timed(report).len() > TIMELINE_MAX => summary.push(format!(
            "_Timeline left out: {} services are more than a chart shows readably ({TIMELINE_MAX})._\n",
            timed(report).len()
        )),
        None => {}
    }
    for result in failures_first(report) {
        failure_details(result, summary);
    }
    dry_run_patches(report, mode, summary);
}

/// Services in the order the summary shows them: failed and rolled back first, then the rest,
/// each group in deploy order.
fn failures_first(report: &Report) -> Vec<&ServiceResult> {
    let mut services: Vec<&ServiceResult> = report.services.iter().collect();
    services.sort_by_key(|s| !s.status.is_failure());
    services
}

/// The cluster, its version, the namespaces, and what the run cost its API.
fn cluster_lines(report: &Report) -> String {
    let mut text = String::new();
    if let Some(version) = &report.server_version {
        let _ = write!(
            text,
            "Cluster {} (Kubernetes {}), namespace{} {}\n\n",
            code_span(&report.server),
            escape_markdown(version),
            if report.namespaces.len() == 1 {
                ""
            } else {
                "s"
            },
            report
                .namespaces
                .iter()
                .map(|n| code_span(n))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(usage) = report.api.as_ref().filter(|u| u.total_requests() > 0) {
        let _ = write!(text, "{}\n\n", escape_markdown(&api_line(usage)));
    }
    text
}

/// `Kubernetes API: 67 requests (4 create, 32 get, 6 list, 30 patch, 6 watch); 0 throttled
/// (429), 0 retried, 0 watch errors`.
pub fn api_line(usage: &crate::deploy::client::Usage) -> String {
    let verbs: Vec<String> = usage
        .requests
        .iter()
        .map(|(verb, n)| format!("{n} {verb}"))
        .collect();
    format!(
        "Kubernetes API: {} requests ({}); {} throttled (429), {} retried, {} watch error{}",
        usage.total_requests(),
        verbs.join(", "),
        usage.throttled,
        usage.retried,
        usage.watch_errors,
        if usage.watch_errors == 1 { "" } else { "s" }
    )
}

fn problems_table(report: &Report) -> String {
    let mut text = String::from("| Service | Problem |\n|---|---|\n");
    for problem in &report.problems {
        let mut message = escape_markdown(&problem.message);
        if let Some(help) = &problem.help {
            let _ = write!(message, "<br>💡 {}", escape_markdown(help));
        }
        let _ = writeln!(
            text,
            "| {} | {message} |",
            escape_markdown(&problem.service)
        );
    }
    text
}

fn services_table(report: &Report) -> String {
    if report.services.is_empty() {
        return String::new();
    }
    let waves = report.services.iter().any(|s| s.wave > 0);
    let mut text = String::from(
        "| Service | Workload | Image | Rollout | Health | Result |\n|---|---|---|---|---|---|\n",
    );
    for result in failures_first(report) {
        let workload = result
            .workload
            .as_deref()
            .map(code_span)
            .unwrap_or_else(|| "—".into());
        let rollout = result.rollout.map(duration).unwrap_or_else(|| "—".into());
        let mut outcome = result_cell(result);
        // A failed gate is already told in the Health column.
        if let Some(reason) = &result.reason
            && result.status != Status::Succeeded
            && !reason.starts_with("health gate")
        {
            let _ = write!(outcome, "<br>{}", escape_markdown(&truncate(reason, 160)));
        }
        let wave = if waves {
            format!(" (wave {})", result.wave)
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "| {}{wave} | {workload} | {} | {rollout} | {} | {outcome} |",
            escape_markdown(&result.service),
            image_cell(result),
            health_cell(result),
        );
    }
    text
}

fn rollback_line(rollback: &crate::deploy::result::Rollback) -> String {
    format!(
        "{} {}",
        if rollback.succeeded {
            "succeeded:"
        } else {
            "FAILED:"
        },
        rollback.message
    )
}

/// The collapsed details of a failed service: its diagnosis, or its health attempts.
fn failure_details(result: &ServiceResult, summary: &mut Summary) {
    if let Some(diagnosis) = &result.diagnosis {
        let mut body = format!("```text\n{}", diagnosis_text(diagnosis));
        if let Some(rollback) = &result.rollback {
            let _ = writeln!(body, "Rollback: {}", rollback_line(rollback));
        }
        body.push_str("```");
        summary.details(
            format!(
                "{} {}: {}",
                icon(result.status),
                escape_markdown(&result.service),
                escape_markdown(&truncate(result.reason.as_deref().unwrap_or("failed"), 120))
            ),
            body,
        );
        return;
    }
    let Some(health) = result.health.report().filter(|h| !h.passed) else {
        return;
    };
    let mut body = String::from("| # | At | Latency | Outcome | Body |\n|---|---|---|---|---|\n");
    for attempt in &health.attempts {
        let _ = writeln!(
            body,
            "| {} | {} | {} | {} | {} |",
            attempt.number,
            duration(attempt.at),
            format_ms(attempt.latency),
            escape_markdown(&attempt.outcome.describe()),
            code_span(&truncate(&attempt.body_excerpt, 80))
        );
    }
    if let Some(rollback) = &result.rollback {
        let _ = write!(
            body,
            "\nRollback {}",
            escape_markdown(&rollback_line(rollback))
        );
    }
    summary.details(
        format!(
            "{} {}: health gate {}",
            icon(result.status),
            escape_markdown(&result.service),
            escape_markdown(&health.summary())
        ),
        body,
    );
}

fn dry_run_patches(report: &Report, mode: RunMode, summary: &mut Summary) {
    let dry: Vec<&ServiceResult> = report
        .services
        .iter()
        .filter(|r| mode.is_dry_run() && r.patch.is_some())
        .collect();
    if dry.is_empty() {
        return;
    }
    let mut body = String::new();
    for result in dry {
        let _ = write!(
            body,
            "**{}** ({}):\n\n```json\n{}\n```\n\n",
            escape_markdown(&result.service),
            result.workload.as_deref().unwrap_or_default(),
            serde_json::to_string_pretty(&result.patch).unwrap_or_default()
        );
    }
    summary.details("The patches a real run would send", body);
}

fn format_ms(d: std::time::Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The most services a timeline chart shows: past that it is a wall of bars.
const TIMELINE_MAX: usize = 30;

fn timed(report: &Report) -> Vec<&ServiceResult> {
    report
        .services
        .iter()
        .filter(|s| s.timeline.rollout.is_some())
        .collect()
}

/// A Mermaid Gantt chart of each service's rollout, health gate and rollback (up to
/// [`TIMELINE_MAX`] services).
pub fn timeline(report: &Report) -> Option<String> {
    let timed = timed(report);
    if timed.is_empty() || timed.len() > TIMELINE_MAX {
        return None;
    }
    let end = timed
        .iter()
        .flat_map(|r| [r.timeline.rollout, r.timeline.health, r.timeline.rollback])
        .flatten()
        .map(|(_, end)| end)
        .max()
        .unwrap_or_default();
    // Seconds with milliseconds for short deploys, minutes and seconds for long ones.
    let axis = if end < std::time::Duration::from_secs(60) {
        "%S.%Ls"
    } else {
        "%M:%S"
    };
    let mut text = format!(
        "```mermaid\ngantt\n  title Deploy timeline\n  dateFormat x\n  axisFormat {axis}\n"
    );
    for result in timed {
        let name: String = result
            .service
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let _ = writeln!(text, "  section {name}");
        let spans = [
            (
                "rollout",
                result.timeline.rollout,
                result.diagnosis.is_some(),
            ),
            (
                "health",
                result.timeline.health,
                result.health.report().is_some_and(|h| !h.passed),
            ),
            (
                "rollback",
                result.timeline.rollback,
                result.rollback.as_ref().is_some_and(|r| !r.succeeded),
            ),
        ];
        for (label, span, failed) in spans {
            if let Some((start, end)) = span {
                let end = end.max(start + std::time::Duration::from_millis(1));
                let tag = if failed { "crit, " } else { "" };
                let _ = writeln!(
                    text,
                    "  {label} :{tag}{}, {}",
                    start.as_millis(),
                    end.as_millis()
                );
            }
        }
    }
    text.push_str("```\n");
    Some(text)
}

/// Krane's failure report, as plain text.
pub fn diagnosis_text(diagnosis: &Diagnosis) -> String {
    let verdict = match &diagnosis.verdict {
        Verdict::Failed => "FAILED".to_string(),
        Verdict::TimedOut { deadline } => format!("TIMED OUT (after {}s)", deadline.as_secs()),
    };
    let mut text = format!("{}: {verdict}\n", diagnosis.workload);
    if let Some(rs) = &diagnosis.new_replica_set {
        let _ = writeln!(text, "Latest ReplicaSet: {rs}");
    }
    for problem in &diagnosis.pod_problems {
        let _ = writeln!(text, "- {problem}");
    }
    if !diagnosis.final_status.is_empty() {
        let _ = writeln!(text, "- Final status: {}", diagnosis.final_status);
    }
    if !diagnosis.events.is_empty() || diagnosis.suppressed_events > 0 {
        let _ = writeln!(
            text,
            "- Events (common success events excluded: {}):",
            diagnosis.suppressed_events
        );
        for event in &diagnosis.events {
            let _ = writeln!(text, "    {event}");
        }
    }
    if let Some(logs) = &diagnosis.logs {
        let _ = writeln!(
            text,
            "- Logs from container '{}' of {}{} (last {} lines shown):",
            logs.container,
            logs.pod,
            if logs.previous {
                ", previous instance"
            } else {
                ""
            },
            logs.lines.len()
        );
        for line in &logs.lines {
            let _ = writeln!(text, "    {line}");
        }
    }
    text
}

/// The terminal report: one line per service, then each diagnosis.
pub fn terminal(report: &Report, mode: RunMode) -> String {
    let mut text = format!("deploy: {}\n", headline(report, mode));
    for problem in &report.problems {
        let _ = writeln!(text, "  ✗ {}: {}", problem.service, problem.message);
        if let Some(help) = &problem.help {
            let _ = writeln!(text, "      help: {help}");
        }
    }
    if let Some(usage) = report.api.as_ref().filter(|u| u.total_requests() > 0) {
        let _ = writeln!(text, "  {}", api_line(usage));
    }
    for result in failures_first(report) {
        let image = match (&result.image_before, &result.image_after) {
            (Some(b), Some(a)) if b != a => format!("{} → {}", short_image(b), short_image(a)),
            (_, Some(a)) => short_image(a),
            _ => String::new(),
        };
        let mut line = format!(
            "  {} {:<12} {:<10} {image}",
            icon(result.status),
            result.service,
            result.status.as_str()
        );
        if let Some(rollout) = result.rollout {
            let _ = write!(line, "  rollout {}", duration(rollout));
        }
        if let Some(digest) = &result.digest {
            let _ = write!(line, "  runs {}", short_digest(digest));
        }
        match &result.health {
            HealthState::Checked(health) => {
                let _ = write!(line, "  health {}", health.summary());
            }
            HealthState::WouldCheck(plan) => {
                let _ = write!(line, "  would check {plan}");
            }
            HealthState::Skipped => line.push_str("  health SKIPPED"),
            HealthState::NoGate => {}
        }
        if let Some(reason) = &result.reason
            && result.status != Status::Succeeded
        {
            let _ = write!(line, "\n      {reason}");
        }
        if let Some(rollback) = &result.rollback {
            let _ = write!(line, "\n      rollback: {}", rollback.message);
        }
        let _ = writeln!(text, "{line}");
    }
    for result in failures_first(report) {
        if let Some(diagnosis) = &result.diagnosis {
            text.push('\n');
            text.push_str(&diagnosis_text(diagnosis));
        }
    }
    if mode.is_dry_run() {
        for result in report.services.iter().filter(|r| r.patch.is_some()) {
            let _ = writeln!(
                text,
                "\n{} would be patched ({}):\n{}",
                result.service,
                result.workload.as_deref().unwrap_or_default(),
                serde_json::to_string_pretty(&result.patch).unwrap_or_default()
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_shortened_for_the_table() {
        assert_eq!(short_image("ghcr.io/acme/auth:1.2.3"), "auth:1.2.3");
        assert_eq!(
            short_image(&format!(
                "ghcr.io/acme/auth:1.2.3@sha256:{}",
                "ab".repeat(32)
            )),
            "auth:1.2.3@abababababab"
        );
    }
}
