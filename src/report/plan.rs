//! How a plan reads in the job summary and in a terminal.

use crate::plan::Plan;
use crate::runner::summary::{Summary, code_span, escape_markdown};

/// The plan section of the job summary: a table, then each service's labels collapsed.
pub fn summary(plan: &Plan, summary: &mut Summary) {
    table(plan, summary);
    details(plan, summary);
}

/// The plan's table (one row per image).
pub fn table(plan: &Plan, summary: &mut Summary) {
    let count = plan.services.len();
    let mut text = format!(
        "### 📦 Plan: {count} image{}\n\n",
        if count == 1 { "" } else { "s" }
    );
    if let Some(note) = &plan.context.sha_note {
        text.push_str(&format!("_{}_\n\n", escape_markdown(note)));
    }
    if count == 0 {
        text.push_str("No changed service has an image.\n");
        summary.push(text);
        return;
    }
    text.push_str("| Service | Image | Tags | Version | Build | Why |\n| --- | --- | --- | --- | --- | --- |\n");
    for service in &plan.services {
        let tags: Vec<String> = service.tags.iter().map(|t| code_span(t)).collect();
        text.push_str(&format!(
            "| **{}** | {} | {} | {} | {} {} | {} |\n",
            escape_markdown(&service.name),
            code_span(&service.image),
            tags.join(" "),
            service
                .version
                .as_deref()
                .map(code_span)
                .unwrap_or_else(|| "—".into()),
            escape_markdown(service.build.builder.as_str()),
            code_span(&service.build.context),
            service.reason.render(&code_span, &escape_markdown),
        ));
    }
    summary.push(text);
}

/// Each service's labels, then the whole plan as JSON, collapsed (the bottom of a run's summary).
pub fn details(plan: &Plan, summary: &mut Summary) {
    for service in &plan.services {
        let mut body = String::from("| Label | Value |\n| --- | --- |\n");
        for (key, value) in &service.labels {
            body.push_str(&format!("| {} | {} |\n", code_span(key), code_span(value)));
        }
        summary.details(
            format!("Labels of {}", escape_markdown(&service.name)),
            body,
        );
    }
    if !plan.services.is_empty() {
        let json = serde_json::to_string_pretty(plan).unwrap_or_default();
        summary.details(
            "The plan (JSON, as the `plan` output)",
            format!("```json\n{json}\n```"),
        );
    }
}

/// The terminal rendering: one block per image.
pub fn terminal(plan: &Plan, color: bool) -> String {
    let (bold, reset) = if color {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    let mut text = format!(
        "{bold}plan{reset}  {} image(s) for {}\n",
        plan.services.len(),
        &plan.context.sha.get(..12).unwrap_or(&plan.context.sha)
    );
    for service in &plan.services {
        text.push_str(&format!(
            "  {bold}{}{reset}  {}\n",
            service.name, service.image
        ));
        for tag in &service.tags {
            text.push_str(&format!("      :{tag}\n"));
        }
        text.push_str(&format!(
            "      build: {} {} ({})\n",
            service.build.builder.as_str(),
            service.build.context,
            service.build.dockerfile
        ));
        text.push_str(&format!("      why: {}\n", service.reason.describe()));
    }
    text
}
