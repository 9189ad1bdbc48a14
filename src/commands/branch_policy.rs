//! `shipgate branch-policy`.

use super::Session;
use crate::cli::{PolicyArgs, non_empty};
use crate::config::Config;
use crate::context::{Context, Event};
use crate::detect::git::GitRepository;
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::policy::Verdict;
use crate::report;
use crate::runner::Summary;
use serde_json::json;

const TITLE: &str = "Branch name";

/// What the check found.
pub(super) enum Outcome {
    /// Nothing to check (not a pull request, or no policy configured).
    Skipped(String),
    Checked {
        branch: String,
        verdict: Verdict,
    },
}

pub(super) fn execute(session: &Session, args: &PolicyArgs) -> Result<u8, Failure> {
    let context = session.context()?;
    let root = GitRepository::open(&session.repo, "origin")
        .ok()
        .map(|r| r.root().to_path_buf());
    let config = session.load_config(root.as_deref())?;
    session.report_diagnostics(&config.warnings);
    let mut summary = Summary::default();
    let outcome = check(&config, &context, args);
    let violated = report(session, &config, &outcome, &mut summary);
    session.publish(&[], &summary)?;
    let (human, json) = match &outcome {
        Outcome::Skipped(why) => (
            format!("branch policy: {why}\n"),
            json!({"checked": false, "reason": why}),
        ),
        Outcome::Checked { branch, verdict } => {
            let policy = config.branch_policy.as_ref();
            let human = policy
                .map(|p| report::policy::terminal(p, branch, verdict))
                .unwrap_or_default();
            (
                human,
                json!({"checked": true, "branch": branch, "allowed": !violated, "verdict": verdict_json(verdict)}),
            )
        }
    };
    session.print_result(&human, &json);
    Ok(if violated { 1 } else { 0 })
}

/// Decides, without side effects.
pub(super) fn check(config: &Config, context: &Context, args: &PolicyArgs) -> Outcome {
    let Some(policy) = &config.branch_policy else {
        return Outcome::Skipped("no `branch-policy` is configured".into());
    };
    let from_event = match &context.event {
        Event::PullRequest(pr) => Some((pr.head_ref.clone(), pr.author.clone())),
        _ => None,
    };
    let branch =
        non_empty(args.branch.clone()).or_else(|| from_event.as_ref().map(|(b, _)| b.clone()));
    let Some(branch) = branch else {
        let event = context
            .event_name
            .clone()
            .unwrap_or_else(|| "a local run".into());
        return Outcome::Skipped(format!(
            "{event} is not a pull request; branch names are checked on pull requests"
        ));
    };
    let actor = non_empty(args.actor.clone())
        .or_else(|| from_event.map(|(_, author)| author))
        .or_else(|| context.actor.clone());
    let verdict = policy.evaluate(&branch, actor.as_deref());
    Outcome::Checked { branch, verdict }
}

/// Annotations and summary for an outcome; returns whether the policy was violated.
pub(super) fn report(
    session: &Session,
    config: &Config,
    outcome: &Outcome,
    summary: &mut Summary,
) -> bool {
    match outcome {
        Outcome::Skipped(why) => {
            session.runner.diagnostic(&Diagnostic::notice(
                TITLE,
                format!("branch policy skipped: {why}"),
            ));
            false
        }
        Outcome::Checked { branch, verdict } => {
            if let Some(policy) = &config.branch_policy {
                report::policy::summary(policy, branch, verdict, summary);
            }
            match verdict {
                Verdict::Violation(_) => {
                    let mut diagnostic = Diagnostic::error(
                        TITLE,
                        report::policy::annotation_message(branch, verdict),
                    );
                    if let Some(policy) = &config.branch_policy {
                        let patterns: Vec<&str> =
                            policy.patterns.iter().map(|p| p.text.as_str()).collect();
                        diagnostic = diagnostic
                            .with_help(format!("allowed patterns: {}", patterns.join(", ")));
                    }
                    // In a terminal the report printed after this says it all: the refused
                    // name is told once, not again as an error line.
                    if session.runner.mode.is_actions()
                        || session.format != crate::cli::Format::Human
                    {
                        session.runner.diagnostic(&diagnostic);
                    }
                    true
                }
                _ => false,
            }
        }
    }
}

fn verdict_json(verdict: &Verdict) -> serde_json::Value {
    match verdict {
        Verdict::Allowed { pattern } => json!({"result": "allowed", "pattern": pattern}),
        Verdict::Exempt { glob } => json!({"result": "exempt", "glob": glob}),
        Verdict::Violation(v) => json!({
            "result": "violation",
            "problems": v.problems,
            "closest": v.closest.as_ref().map(|c| json!({"pattern": c.pattern, "differences": c.differences, "suggestion": c.suggestion})),
            "fix": v.fix_commands(),
        }),
    }
}
