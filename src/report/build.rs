//! How the build reads: the `images` output, the job summary table, the terminal lines and the
//! annotations of failed builds.

use crate::build::{Outcome, ServiceReport};
use crate::diagnostic::Diagnostic;
use crate::runner::summary::{Summary, code_span, escape_markdown};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// `{"<name>": {"refs": [...], "digest": "sha256:..." | null}}` for every service whose image is
/// usable (built, already there, built elsewhere, or a dry run); failed, cancelled and skipped
/// services are absent.
pub fn images(reports: &[ServiceReport]) -> Value {
    let mut map = Map::new();
    for report in reports.iter().filter(|r| r.outcome.produced_image()) {
        map.insert(
            report.name.clone(),
            json!({ "refs": report.refs, "digest": report.digest }),
        );
    }
    Value::Object(map)
}

/// `1.2s`, `42s`, `3m 05s`.
pub fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else if seconds < 60.0 {
        format!("{}s", seconds.round() as u64)
    } else {
        let whole = seconds.round() as u64;
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

fn icon(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Built | Outcome::BuiltNotPushed | Outcome::Existing => "✅",
        Outcome::Elsewhere | Outcome::DryRun | Outcome::Skipped => "➖",
        Outcome::Failed => "❌",
        Outcome::Cancelled => "⏹️",
    }
}

/// Whether any build failed or was cancelled.
pub fn failed(reports: &[ServiceReport]) -> bool {
    reports.iter().any(|r| r.outcome.is_failure())
}

/// The summary section: one table row per service, then the tail of every failed build.
/// `pushing` is false on runs that only show what *would* be pushed.
pub fn summary(
    reports: &[ServiceReport],
    pushing: bool,
    no_push_reason: &str,
    mode: crate::report::RunMode,
    summary: &mut Summary,
) {
    let failures = reports.iter().filter(|r| r.outcome.is_failure()).count();
    let verdict = if failures > 0 {
        format!("❌ {failures} of {} failed", reports.len())
    } else {
        format!(
            "{} image{}",
            reports.len(),
            if reports.len() == 1 { "" } else { "s" }
        )
    };
    let mut text = format!("### 🏗️ Build: {verdict}\n\n");
    if mode.is_dry_run() {
        text.push_str("_Dry run: the commands were printed, nothing was built or pushed._\n\n");
    } else if !pushing {
        text.push_str(&format!(
            "_Nothing is pushed: {}. The tags below are what **would** be pushed._\n\n",
            escape_markdown(no_push_reason)
        ));
    }
    if reports.is_empty() {
        text.push_str("No planned image to build.\n");
        summary.push(text);
        return;
    }
    let tags_heading = if pushing && !mode.is_dry_run() {
        "Tags"
    } else {
        "Would push"
    };
    text.push_str(&lookup_warning(reports));
    // The table right after its header: a paragraph between them would end the table.
    text.push_str(&format!(
        "| Service | Image | {tags_heading} | Digest | Duration | Result |\n| --- | --- | --- | --- | --- | --- |\n"
    ));
    for report in reports {
        text.push_str(&table_row(report));
    }
    summary.push(text);
    for report in reports.iter().filter(|r| !r.tail.is_empty()) {
        summary.details(
            format!(
                "Last {} lines of {}",
                report.tail.len(),
                escape_markdown(&report.name)
            ),
            fenced("text", &report.tail.join("\n")),
        );
    }
}

/// The warning above the table when `skip-existing` could not ask the registry (empty if
/// every lookup answered).
fn lookup_warning(reports: &[ServiceReport]) -> String {
    let lookups = lookup_failures(reports);
    if lookups.is_empty() {
        return String::new();
    }
    let affected: usize = lookups.iter().map(|(_, n)| n).sum();
    let mut text = format!(
        "⚠️ The registry could not say whether {affected} image{} already exist{}, so {} built instead:\n\n",
        if affected == 1 { "" } else { "s" },
        if affected == 1 { "s" } else { "" },
        if affected == 1 { "it was" } else { "they were" },
    );
    for (error, count) in &lookups {
        text.push_str(&format!(
            "- {}{}\n",
            escape_markdown(error),
            if lookups.len() > 1 {
                format!(" ({count})")
            } else {
                String::new()
            }
        ));
    }
    text.push('\n');
    text
}

/// One service's row of the build table.
fn table_row(report: &ServiceReport) -> String {
    let tags: Vec<String> = report.tags.iter().map(|t| code_span(t)).collect();
    let result = match row_note(report) {
        Some(note) => format!(
            "{} {}<br>{}",
            icon(report.outcome),
            report.outcome.describe(),
            escape_markdown(&note)
        ),
        None => format!("{} {}", icon(report.outcome), report.outcome.describe()),
    };
    format!(
        "| **{}** | {} | {} | {} | {} | {} |\n",
        escape_markdown(&report.name),
        code_span(&report.image),
        tags.join(" "),
        report
            .digest
            .as_deref()
            .map(|d| code_span(short_digest(d)))
            .unwrap_or_else(|| "—".into()),
        duration(report.duration),
        result,
    )
}

/// The registry error inside a failed lookup's note (`could not ask the registry whether
/// <ref> exists (<error>); built instead`).
fn lookup_error(part: &str) -> Option<&str> {
    let rest = part.strip_prefix(crate::build::LOOKUP_FAILED)?;
    let start = rest.find(" exists (")? + " exists (".len();
    let end = rest.rfind("); built instead")?;
    rest.get(start..end)
}

/// Each distinct registry lookup error with how many images it hit, in first-seen order.
fn lookup_failures(reports: &[ServiceReport]) -> Vec<(String, usize)> {
    let mut errors: Vec<(String, usize)> = Vec::new();
    for report in reports {
        for part in report.note.iter().flat_map(|n| n.split("; built instead")) {
            let part = format!("{}; built instead", part.trim_start_matches("; "));
            if let Some(error) = lookup_error(&part) {
                match errors.iter_mut().find(|(e, _)| e == error) {
                    Some((_, count)) => *count += 1,
                    None => errors.push((error.to_string(), 1)),
                }
            }
        }
    }
    errors
}

/// The line a row shows under its result: its note without the lookup error (said once above
/// the table), and for a failed build the error its own output ends with, not only the exit code.
fn row_note(report: &ServiceReport) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for part in report.note.iter().flat_map(|n| n.split("; ")) {
        if part.starts_with(crate::build::LOOKUP_FAILED) {
            parts.push("registry lookup failed (above)".into());
        } else if part == "built instead" || part.ends_with("built instead") {
            continue;
        } else if !part.is_empty() {
            parts.push(part.to_string());
        }
    }
    if report.outcome == Outcome::Failed
        && let Some(reason) = failure_reason(&report.tail)
    {
        parts.insert(0, reason);
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The error a failed build's output ends with: its last line that says error (buildx's
/// `ERROR: failed to solve: …`), else its last line; at most 200 characters.
pub fn failure_reason(tail: &[String]) -> Option<String> {
    let line = tail
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .or_else(|| tail.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty()))?;
    let mut reason: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        reason.push('…');
    }
    Some(reason)
}

/// The dry run's commands are shown in the summary up to this size; beyond it the first one
/// shows their form and the step log has every one.
pub const COMMANDS_LIMIT: usize = 48 * 1024;

/// The collapsed block of a dry run's commands (`# service` then the command, each).
pub fn commands_details(commands: &[String]) -> Option<(String, String)> {
    let first = commands.first()?;
    let all = commands.join("\n");
    if all.len() <= COMMANDS_LIMIT {
        let title = format!("Commands ({})", commands.len());
        return Some((title, fenced("sh", &all)));
    }
    let others = commands.len() - 1;
    Some((
        format!("Commands ({}): the first of them", commands.len()),
        format!(
            "{}\n\nThe {others} other commands have the same form, with each service's context, \
             tags and labels; the step log prints every one.",
            fenced("sh", first)
        ),
    ))
}

/// A fenced code block that backticks inside `text` cannot close.
pub fn fenced(language: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{language}\n{text}\n{fence}")
}

/// `sha256:` and the first 12 hex digits.
fn short_digest(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// The terminal rendering: one line per service.
pub fn terminal(reports: &[ServiceReport], color: bool) -> String {
    let (bold, red, reset) = if color {
        ("\x1b[1m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let width = reports.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut text = format!("{bold}build{reset}  {} image(s)\n", reports.len());
    for report in reports {
        let (start, end) = if report.outcome.is_failure() {
            (red, reset)
        } else {
            ("", "")
        };
        text.push_str(&format!(
            "  {bold}{:<width$}{reset}  {start}{}{end}  {}",
            report.name,
            report.outcome.describe(),
            duration(report.duration),
        ));
        if let Some(digest) = &report.digest {
            text.push_str(&format!("  {digest}"));
        }
        text.push('\n');
        for reference in &report.refs {
            text.push_str(&format!("      {reference}\n"));
        }
        if let Some(note) = &report.note {
            text.push_str(&format!("      {note}\n"));
        }
    }
    text
}

/// An error annotation for every failed or cancelled build.
pub fn diagnostics(reports: &[ServiceReport]) -> Vec<Diagnostic> {
    // A failed registry lookup does not fail the build, but it must not go unnoticed: wrong
    // credentials would otherwise silently turn every skip-existing run into full rebuilds.
    // One warning per distinct error, not one per image.
    let lookups = lookup_failures(reports).into_iter().map(|(error, count)| {
        Diagnostic::warning(
            "shipgate build",
            format!(
                "could not ask the registry whether {count} image{} already exist{} ({error}); built instead",
                if count == 1 { "" } else { "s" },
                if count == 1 { "s" } else { "" },
            ),
        )
        .with_help("check SHIPGATE_REGISTRY_USERNAME/SHIPGATE_REGISTRY_PASSWORD (inputs registry-username/registry-password)")
    });
    let failures = reports.iter().filter(|r| r.outcome.is_failure()).map(|r| {
        let message = format!(
            "service `{}`: build {}{}",
            r.name,
            r.outcome.describe(),
            row_note(r).map(|n| format!(" ({n})")).unwrap_or_default()
        );
        let diagnostic = Diagnostic::error("shipgate build", message);
        if r.outcome == Outcome::Failed {
            diagnostic.with_help(
                "its output is in the build log (the job summary keeps its last 30 lines)",
            )
        } else {
            diagnostic
        }
    });
    lookups.chain(failures).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, outcome: Outcome, digest: Option<&str>) -> ServiceReport {
        ServiceReport {
            name: name.into(),
            image: format!("ghcr.io/acme/{name}"),
            tags: vec!["1.0.0".into()],
            refs: vec![format!("ghcr.io/acme/{name}:1.0.0")],
            builder: crate::config::model::Builder::Buildx,
            outcome,
            digest: digest.map(str::to_string),
            duration: Duration::from_millis(65_400),
            note: None,
            command: None,
            tail: if outcome == Outcome::Failed {
                vec!["ERROR: failed to solve".into(), "```".into()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn images_has_the_contract_shape() {
        let reports = [
            report("auth", Outcome::Built, Some("sha256:abc")),
            report("web", Outcome::BuiltNotPushed, None),
            report("api", Outcome::Failed, None),
        ];
        assert_eq!(
            images(&reports),
            json!({
                "auth": { "refs": ["ghcr.io/acme/auth:1.0.0"], "digest": "sha256:abc" },
                "web": { "refs": ["ghcr.io/acme/web:1.0.0"], "digest": null }
            })
        );
    }

    #[test]
    fn the_summary_has_a_row_per_service_and_the_failed_tail() {
        let reports = [
            report(
                "auth",
                Outcome::Built,
                Some(&format!("sha256:{}", "a".repeat(64))),
            ),
            report("api", Outcome::Failed, None),
        ];
        let mut out = Summary::default();
        summary(&reports, true, "", crate::report::RunMode::Live, &mut out);
        let text = out.render(usize::MAX);
        assert!(text.contains("### 🏗️ Build: ❌ 1 of 2 failed"), "{text}");
        assert!(text.contains("| Service | Image | Tags | Digest | Duration | Result |"));
        assert!(text.contains("| **auth** | `ghcr.io/acme/auth` | `1.0.0` | `sha256:aaaaaaaaaaaa` | 1m 05s | ✅ built |"), "{text}");
        assert!(
            text.contains("<summary>Last 2 lines of api</summary>"),
            "{text}"
        );
        // The tail's own backticks cannot close the fence.
        assert!(
            text.contains("````text\nERROR: failed to solve\n```\n````"),
            "{text}"
        );
    }

    #[test]
    fn a_registry_error_is_said_once_and_a_failed_row_says_its_own_reason() {
        let lookup = |name: &str| {
            format!(
                "{}ghcr.io/acme/{name}:1.0.0 exists (401 Unauthorized: a very long registry message); built instead",
                crate::build::LOOKUP_FAILED
            )
        };
        let mut ok = report("auth", Outcome::Built, None);
        ok.note = Some(lookup("auth"));
        let mut failed = report("api", Outcome::Failed, None);
        failed.note = Some(format!("{}; exit code 1", lookup("api")));
        failed.tail = vec![
            "#5 [2/3] RUN make".into(),
            "ERROR: failed to solve: process \"/bin/sh -c make\" did not complete successfully: exit code: 2".into(),
            "".into(),
        ];
        let reports = [ok, failed];
        let mut out = Summary::default();
        summary(&reports, true, "", crate::report::RunMode::Live, &mut out);
        let text = out.render(usize::MAX);
        // The error stands above the table, never between its header and its rows.
        assert!(
            text.contains("| --- | --- | --- | --- | --- | --- |\n| **auth**"),
            "{text}"
        );
        assert_eq!(
            text.matches("a very long registry message").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("could not say whether 2 images already exist"),
            "{text}"
        );
        assert!(
            text.contains("❌ failed<br>ERROR: failed to solve: process \"/bin/sh -c make\" did not complete successfully: exit code: 2; registry lookup failed (above); exit code 1 |"),
            "{text}"
        );
        let annotations = diagnostics(&reports);
        let messages: Vec<&str> = annotations.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages
                .iter()
                .filter(|m| m.contains("a very long registry message"))
                .count(),
            1,
            "{messages:?}"
        );
    }

    #[test]
    fn pull_requests_show_what_would_be_pushed() {
        let mut out = Summary::default();
        summary(
            &[report("auth", Outcome::BuiltNotPushed, None)],
            false,
            "pull request runs do not push",
            crate::report::RunMode::Live,
            &mut out,
        );
        let text = out.render(usize::MAX);
        assert!(text.contains("**would** be pushed"), "{text}");
        assert!(text.contains("| Service | Image | Would push |"), "{text}");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
    }
}
