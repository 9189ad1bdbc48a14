//! The GitHub API fallback for changed files when the clone lacks the history.
//!
//! Pull requests: the PR-files endpoint, paginated; it stops at 3000 files, so a list that is
//! shorter than the PR's `changed_files` (or hits the cap) is refused rather than trusted.
//! Pushes: the compare endpoint, whose file list stops at 300 files, refused likewise.
//! Requests go through the shared GitHub [`Client`]: timeouts, retries, and an overall bound.

use super::git::{ChangeKind, FileChange};
use crate::context::{Context, Event, ZERO_SHA};
use crate::github::{Client, RetryPolicy};
use serde_json::Value;
use std::time::Duration;

/// The PR-files endpoint never returns more than this many files.
pub const PR_FILES_CAP: usize = 3000;
/// The compare endpoint lists at most this many files.
pub const COMPARE_FILES_CAP: usize = 300;
/// The most the fallback may take in all (pages, retries, waits): detection must not hang on a
/// slow or stalled API.
const OVERALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Changed files from the API, with a description of the range; `Ok(None)` when there is no
/// token or the event has no range the API can answer for; `Err` with the reason when the API
/// answer is unusable (error, truncated list).
pub fn changed_files(
    context: &Context,
    token: Option<&str>,
) -> Result<Option<(Vec<FileChange>, String)>, String> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let Some(repository) = context.repository.clone() else {
        return Ok(None);
    };
    let request = match &context.event {
        Event::PullRequest(pr) => Request::PullFiles {
            number: pr.number,
            expected: pr.changed_files,
        },
        Event::Push(push) if push.before != ZERO_SHA && !push.created => Request::Compare {
            base: push.before.clone(),
            head: push.after.clone(),
        },
        _ => return Ok(None),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the GitHub API client: {e}"))?;
    let client = Client::new(&context.api_url, token, &repository)
        .map_err(|e| format!("GitHub API: {e}"))?
        .with_retry_policy(RetryPolicy::default())
        .with_deadline(OVERALL_TIMEOUT);
    runtime.block_on(fetch(&client, request)).map(Some)
}

enum Request {
    PullFiles { number: u64, expected: Option<u64> },
    Compare { base: String, head: String },
}

async fn fetch(client: &Client, request: Request) -> Result<(Vec<FileChange>, String), String> {
    let repository = client.repository();
    match request {
        Request::PullFiles { number, expected } => {
            let action = format!("GitHub API: listing the files of pull request #{number}");
            let entries = client
                .get_pages(
                    &action,
                    &format!("/repos/{repository}/pulls/{number}/files"),
                    PR_FILES_CAP,
                    |page| page.as_array().cloned(),
                )
                .await
                .map_err(|e| e.to_string())?;
            let truncated = entries.len() >= PR_FILES_CAP
                || expected.is_some_and(|n| (entries.len() as u64) < n);
            if truncated {
                return Err(format!(
                    "GitHub API: pull request #{number} lists {} of {} files (the API stops at {PR_FILES_CAP}); refusing a truncated list",
                    entries.len(),
                    expected
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "more".into())
                ));
            }
            Ok((
                to_changes(&entries),
                format!("pull request #{number} files from the GitHub API"),
            ))
        }
        Request::Compare { base, head } => {
            let action = format!("GitHub API: comparing {base}...{head}");
            let route = format!("/repos/{repository}/compare/{base}...{head}?per_page=100");
            let answer = client
                .get_json(&action, &route)
                .await
                .map_err(|e| e.to_string())?;
            let files = answer["files"].as_array().cloned().unwrap_or_default();
            if files.len() >= COMPARE_FILES_CAP {
                return Err(format!(
                    "GitHub API: the comparison lists {} files, the most it ever returns; refusing a possibly truncated list",
                    files.len()
                ));
            }
            let short = |s: &str| s.get(..7).unwrap_or(s).to_string();
            Ok((
                to_changes(&files),
                format!(
                    "compare {}...{} from the GitHub API",
                    short(&base),
                    short(&head)
                ),
            ))
        }
    }
}

/// API file entries to changes; a rename counts as its old and its new path.
pub fn to_changes(entries: &[Value]) -> Vec<FileChange> {
    let mut changes = Vec::new();
    for entry in entries {
        let Some(path) = entry["filename"].as_str() else {
            continue;
        };
        let kind = match entry["status"].as_str() {
            Some("added") | Some("copied") => ChangeKind::Added,
            Some("removed") => ChangeKind::Deleted,
            _ => ChangeKind::Modified,
        };
        if entry["status"] == "renamed"
            && let Some(previous) = entry["previous_filename"].as_str()
        {
            changes.push(FileChange {
                path: previous.to_string(),
                kind: ChangeKind::Deleted,
            });
            changes.push(FileChange {
                path: path.to_string(),
                kind: ChangeKind::Added,
            });
            continue;
        }
        changes.push(FileChange {
            path: path.to_string(),
            kind,
        });
    }
    changes.sort();
    changes.dedup();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_count_both_paths() {
        let entries = vec![
            json!({"filename": "new/a.rs", "status": "renamed", "previous_filename": "old/a.rs"}),
            json!({"filename": "b.rs", "status": "removed"}),
            json!({"filename": "c.rs", "status": "modified"}),
        ];
        let changes = to_changes(&entries);
        let paths: Vec<(&str, ChangeKind)> =
            changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            paths,
            vec![
                ("b.rs", ChangeKind::Deleted),
                ("c.rs", ChangeKind::Modified),
                ("new/a.rs", ChangeKind::Added),
                ("old/a.rs", ChangeKind::Deleted)
            ]
        );
    }
}
