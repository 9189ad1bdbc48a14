//! What a write-back tells: the `gitops` output (JSON), the job summary section and the
//! terminal line. Pure: built from the outcome.

use crate::gitops::ServiceImage;
use crate::gitops::write::Outcome;
use crate::runner::summary::code_span;
use serde_json::{Value, json};

/// How the write-back ended, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A dry run (or a pull-request run): the diff only.
    Previewed,
    Done(Outcome),
    /// It failed with this message.
    Failed(String),
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub path: &'a str,
    /// The branch written to, or `pull-request`.
    pub branch: &'a str,
    pub images: &'a [ServiceImage],
    pub diff: &'a str,
    pub ending: Ending,
}

impl Report<'_> {
    pub fn failed(&self) -> bool {
        matches!(self.ending, Ending::Failed(_))
    }

    /// The one line that says what was written.
    pub fn headline(&self) -> String {
        match &self.ending {
            Ending::Previewed if self.diff.is_empty() => format!(
                "dry run: {} already holds these images; nothing would be written",
                self.path
            ),
            Ending::Previewed => format!(
                "dry run: {} would be written ({}); nothing written",
                self.path,
                if self.branch == "pull-request" {
                    "in a pull request".to_string()
                } else {
                    format!("to {}", self.branch)
                }
            ),
            Ending::Done(Outcome::UpToDate { branch }) => {
                format!(
                    "{} on {branch} already holds these images; nothing committed",
                    self.path
                )
            }
            Ending::Done(Outcome::Committed { branch, commit }) => {
                format!("committed {} to {branch}: {}", self.path, commit.html_url)
            }
            Ending::Done(Outcome::PullRequest {
                pull_request, base, ..
            }) => format!(
                "opened pull request #{} into {base} for {}: {}",
                pull_request.number, self.path, pull_request.html_url
            ),
            Ending::Failed(message) => format!("the write-back of {} failed: {message}", self.path),
        }
    }

    /// The `gitops` output.
    pub fn json(&self) -> Value {
        let (commit, pull_request, branch) = match &self.ending {
            Ending::Done(Outcome::Committed { branch, commit }) => (
                json!({"sha": commit.sha, "url": commit.html_url}),
                Value::Null,
                json!(branch),
            ),
            Ending::Done(Outcome::PullRequest {
                branch,
                commit,
                pull_request,
                ..
            }) => (
                commit
                    .as_ref()
                    .map_or(Value::Null, |c| json!({"sha": c.sha, "url": c.html_url})),
                json!({"number": pull_request.number, "url": pull_request.html_url}),
                json!(branch),
            ),
            Ending::Done(Outcome::UpToDate { branch }) => (Value::Null, Value::Null, json!(branch)),
            Ending::Previewed | Ending::Failed(_) => (Value::Null, Value::Null, Value::Null),
        };
        json!({
            "kustomization": self.path,
            "mode": if self.branch == "pull-request" { "pull-request" } else { "branch" },
            "state": match &self.ending {
                Ending::Previewed => "previewed",
                Ending::Done(Outcome::UpToDate { .. }) => "up-to-date",
                Ending::Done(_) => "written",
                Ending::Failed(_) => "failed",
            },
            "branch": branch,
            "commit": commit,
            "pull_request": pull_request,
            "error": match &self.ending { Ending::Failed(m) => json!(m), _ => Value::Null },
            "services": self.images.iter().map(|i| json!({
                "service": i.service,
                "version": i.shown_version(),
                "image": i.reference,
            })).collect::<Vec<_>>(),
            "diff": self.diff,
        })
    }

    /// The job summary section (Markdown) and its collapsible diff.
    pub fn markdown(&self) -> (String, Option<String>) {
        let mut text = format!(
            "### GitOps write-back\n\n{}\n\n| Service | Version | Image |\n|---|---|---|\n",
            crate::runner::summary::inline_markdown(&self.headline())
        );
        for image in self.images {
            text.push_str(&format!(
                "| {} | {} | {} |\n",
                code_span(&image.service),
                code_span(&image.shown_version()),
                code_span(&image.reference)
            ));
        }
        let diff = (!self.diff.is_empty())
            .then(|| format!("```diff\n{}```", self.diff.replace("```", "`\u{200b}``")));
        (text, diff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::contents::{Commit, PullRequest};

    fn report(ending: Ending) -> Report<'static> {
        Report {
            path: "o/prod/kustomization.yaml",
            branch: "main",
            images: &[],
            diff: "-a\n+b\n",
            ending,
        }
    }

    #[test]
    fn the_output_says_what_was_written() {
        let committed = report(Ending::Done(Outcome::Committed {
            branch: "main".into(),
            commit: Commit {
                sha: "c0ffee".into(),
                html_url: "https://github.com/acme/shop/commit/c0ffee".into(),
            },
        }));
        let json = committed.json();
        assert_eq!(json["state"], "written");
        assert_eq!(
            json["commit"]["url"],
            "https://github.com/acme/shop/commit/c0ffee"
        );
        assert_eq!(json["pull_request"], Value::Null);
        assert_eq!(
            committed.headline(),
            "committed o/prod/kustomization.yaml to main: https://github.com/acme/shop/commit/c0ffee"
        );
        let opened = Report {
            branch: "pull-request",
            ..report(Ending::Done(Outcome::PullRequest {
                branch: "shipgate/prod/3370e22".into(),
                base: "main".into(),
                commit: None,
                pull_request: PullRequest {
                    number: 7,
                    html_url: "https://github.com/acme/shop/pull/7".into(),
                },
            }))
        };
        assert_eq!(opened.json()["mode"], "pull-request");
        assert_eq!(opened.json()["pull_request"]["number"], 7);
        assert!(
            opened
                .headline()
                .starts_with("opened pull request #7 into main")
        );
        let failed = report(Ending::Failed("HTTP 403".into()));
        assert!(failed.failed());
        assert_eq!(failed.json()["error"], "HTTP 403");
        let (markdown, diff) = report(Ending::Previewed).markdown();
        assert!(
            markdown.contains("would be written (to main)"),
            "{markdown}"
        );
        assert_eq!(diff.as_deref(), Some("```diff\n-a\n+b\n```"));
    }
}
