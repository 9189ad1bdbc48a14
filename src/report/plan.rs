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

/// The plan JSON is shown in the summary up to this size; a larger one is the `plan` output
/// (and an artifact, when the workflow keeps one) instead.
pub const PLAN_JSON_LIMIT: usize = 48 * 1024;

/// The labels of every image and the whole plan as JSON, one collapsed block each (the bottom of
/// a run's summary).
pub fn details(plan: &Plan, summary: &mut Summary) {
    if plan.services.is_empty() {
        return;
    }
    summary.details(
        format!(
            "Labels of the {} image{}",
            plan.services.len(),
            plural(plan.services.len())
        ),
        labels(plan),
    );
    let json = serde_json::to_string_pretty(plan).unwrap_or_default();
    let body = if json.len() <= PLAN_JSON_LIMIT {
        crate::report::build::fenced("json", &json)
    } else {
        format!(
            "The plan is {} KB of JSON, too large to show here. It is this step's `plan` output; \
             keep it as a file for later jobs with `actions/upload-artifact` (write \
             `${{{{ steps.<id>.outputs.plan }}}}` to `plan.json` through an environment \
             variable first), or run `shipgate plan --format json` locally.",
            json.len().div_ceil(1024)
        )
    };
    summary.details("The plan as JSON (the step's `plan` output)", body);
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Labels as two tables: those with one value on every image, said once, and per image only
/// the labels whose values differ (its title, version, ref name).
fn labels(plan: &Plan) -> String {
    let first = &plan.services[0].labels;
    let shared: Vec<(&String, &String)> = first
        .iter()
        .filter(|(key, value)| {
            plan.services
                .iter()
                .all(|s| s.labels.get(*key) == Some(*value))
        })
        .collect();
    let mut varying: Vec<&String> = plan
        .services
        .iter()
        .flat_map(|s| s.labels.keys())
        .filter(|key| !shared.iter().any(|(k, _)| k == key))
        .collect();
    varying.sort();
    varying.dedup();
    let mut text = String::new();
    if !shared.is_empty() {
        text.push_str(if plan.services.len() == 1 {
            "| Label | Value |\n| --- | --- |\n"
        } else {
            "Every image has these labels:\n\n| Label | Value |\n| --- | --- |\n"
        });
        for (key, value) in &shared {
            text.push_str(&format!("| {} | {} |\n", code_span(key), code_span(value)));
        }
    }
    if !varying.is_empty() {
        text.push_str("\nPer image:\n\n| Service |");
        for key in &varying {
            text.push_str(&format!(" {} |", code_span(key)));
        }
        text.push_str(&format!("\n| --- |{}\n", " --- |".repeat(varying.len())));
        for service in &plan.services {
            text.push_str(&format!("| {} |", escape_markdown(&service.name)));
            for key in &varying {
                let value = service
                    .labels
                    .get(*key)
                    .map(|v| code_span(v))
                    .unwrap_or_else(|| "—".into());
                text.push_str(&format!(" {value} |"));
            }
            text.push('\n');
        }
    }
    text
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
