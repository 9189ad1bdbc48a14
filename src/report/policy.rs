//! How a branch-policy verdict reads in the job summary and in a terminal.

use crate::policy::{Policy, Verdict};
use crate::runner::summary::{Summary, code_span, inline_markdown};

/// The branch-policy section of the job summary.
pub fn summary(policy: &Policy, branch: &str, verdict: &Verdict, summary: &mut Summary) {
    match verdict {
        Verdict::Allowed { pattern } => summary.push(format!(
            "### ✅ Branch name\n\n{} matches {}.",
            code_span(branch),
            code_span(pattern)
        )),
        Verdict::Exempt { glob } => summary.push(format!(
            "### ✅ Branch name\n\n{} is exempt ({}).",
            code_span(branch),
            code_span(glob)
        )),
        Verdict::Violation(violation) => {
            let mut text = format!(
                "### ❌ Branch name {} is not allowed\n\n",
                code_span(branch)
            );
            for problem in &violation.problems {
                text.push_str(&format!("- {}\n", inline_markdown(problem)));
            }
            text.push_str("\n**Allowed patterns:**\n\n");
            for pattern in &policy.patterns {
                text.push_str(&format!("- {}\n", code_span(&pattern.text)));
            }
            if let Some(closest) = &violation.closest {
                text.push_str(&format!(
                    "\n**Closest pattern:** {}\n\n",
                    code_span(&closest.pattern)
                ));
                for difference in &closest.differences {
                    text.push_str(&format!("- {}\n", inline_markdown(difference)));
                }
            }
            if let Some(commands) = violation.fix_commands() {
                text.push_str("\n**To fix it**, rename the branch (then reopen the pull request from it):\n\n```sh\n");
                for command in commands {
                    // Quoted for the shell already; a fence cannot be closed from inside a line.
                    text.push_str(&command.replace("```", "'```'"));
                    text.push('\n');
                }
                text.push_str("```\n");
            }
            summary.push(text);
        }
    }
}

/// The terminal rendering of a verdict.
pub fn terminal(policy: &Policy, branch: &str, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allowed { pattern } => {
            format!("branch `{branch}` is allowed (matches `{pattern}`)\n")
        }
        Verdict::Exempt { glob } => format!("branch `{branch}` is exempt (`{glob}`)\n"),
        Verdict::Violation(violation) => {
            let mut text = format!("branch `{branch}` is not allowed\n");
            // The name is in the line above: the problems say "it" instead of repeating it.
            let named = format!("`{branch}` ");
            for problem in &violation.problems {
                let problem = problem
                    .strip_prefix(&named)
                    .map(|rest| format!("it {rest}"))
                    .unwrap_or_else(|| problem.clone());
                text.push_str(&format!("  - {problem}\n"));
            }
            text.push_str("  allowed patterns:\n");
            for pattern in &policy.patterns {
                text.push_str(&format!("    {}\n", pattern.text));
            }
            if let Some(closest) = &violation.closest {
                text.push_str(&format!("  closest: {}\n", closest.pattern));
                for difference in &closest.differences {
                    text.push_str(&format!("    - {difference}\n"));
                }
            }
            if let Some(commands) = violation.fix_commands() {
                text.push_str("  to fix it:\n");
                for command in commands {
                    text.push_str(&format!("    {command}\n"));
                }
            }
            text
        }
    }
}

/// The one-line message used for the `::error` annotation.
pub fn annotation_message(branch: &str, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Violation(violation) => {
            let mut message = format!(
                "branch `{branch}` is not allowed: {}",
                violation.problems.join("; ")
            );
            if let Some(suggestion) = violation
                .closest
                .as_ref()
                .and_then(|c| c.suggestion.as_ref())
            {
                message.push_str(&format!(". Rename it, e.g. to `{suggestion}`"));
            }
            message
        }
        _ => format!("branch `{branch}` is allowed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_summary_lists_patterns_and_the_fix() {
        let policy = Policy::compile(&["users/{actor}/{slug}".into()], &[], None).unwrap();
        let branch = "users/Octo Cat/<x>";
        let verdict = policy.evaluate(branch, Some("octocat"));
        let mut out = Summary::default();
        summary(&policy, branch, &verdict, &mut out);
        let text = out.render(1 << 20);
        assert!(text.contains("### ❌ Branch name `users/Octo Cat/<x>` is not allowed"));
        assert!(text.contains("- `users/{actor}/{slug}`"));
        assert!(
            text.contains("git branch -m 'users/Octo Cat/<x>' users/octocat/x"),
            "{text}"
        );
        assert!(!text.contains("<x> is"), "raw HTML must not leak: {text}");
    }
}
