//! The write-back through the GitHub API: read the kustomization at the branch, edit it, write
//! it with the blob sha it was read at; when the branch moved meanwhile (GitHub answers 409),
//! read it again and re-apply the edit. With a pull request: branch `shipgate/<env>/<sha>` from
//! the base, commit there, open the pull request (or find the one already open).

use super::ServiceImage;
use super::edit::{EditError, edit_images};
use super::message::{About, commit_message, pull_request_body, title};
use crate::github::Client;
use crate::github::contents::{self, Commit, PullRequest, Written};

/// How often a write is re-applied after the branch moved under it.
pub const WRITE_ATTEMPTS: u32 = 4;

/// Where the commit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Straight onto this branch.
    Branch(String),
    /// Onto a new branch `head` from `base`, with a pull request into `base`.
    PullRequest { base: String, head: String },
}

/// One write-back.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The kustomization.yaml, relative to the repository root.
    pub path: &'a str,
    pub target: Target,
    pub images: &'a [ServiceImage],
    pub about: About<'a>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file already said so: nothing committed.
    UpToDate {
        branch: String,
    },
    Committed {
        branch: String,
        commit: Commit,
    },
    PullRequest {
        branch: String,
        base: String,
        /// `None` when the branch already held the edit (a re-run).
        commit: Option<Commit>,
        pull_request: PullRequest,
    },
}

/// What the write-back did, with the diff of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBack {
    pub outcome: Outcome,
    pub diff: String,
}

/// Why the write-back failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    GitHub(#[from] crate::github::Error),
    #[error("{path}:{}:{} (at {at}): {}", .error.line, .error.column, .error.message)]
    Edit {
        path: String,
        at: String,
        error: EditError,
    },
    #[error("{path} does not exist on {at}")]
    Missing { path: String, at: String },
    #[error(
        "{path} changed on {branch} during each of {attempts} attempts to write it; nothing written"
    )]
    Conflicts {
        path: String,
        branch: String,
        attempts: u32,
    },
}

/// Reads the file at `at` and edits it: `(file, edited text)`.
async fn read_and_edit(
    client: &Client,
    request: &Request<'_>,
    at: &str,
) -> Result<(contents::FileAt, String), WriteError> {
    let Some(file) = contents::read_file(client, request.path, at).await? else {
        return Err(WriteError::Missing {
            path: request.path.to_string(),
            at: at.to_string(),
        });
    };
    let edited = edit_images(&file.text, &super::entries(request.images)).map_err(|error| {
        WriteError::Edit {
            path: request.path.to_string(),
            at: at.to_string(),
            error,
        }
    })?;
    Ok((file, edited))
}

/// Commits the edit onto `branch`, re-reading and re-applying it while the branch moves under
/// it; `None` when the branch already holds it.
async fn commit_onto(
    client: &Client,
    request: &Request<'_>,
    branch: &str,
) -> Result<Option<Commit>, WriteError> {
    let message = commit_message(&request.about, request.images);
    for _ in 0..WRITE_ATTEMPTS {
        let (file, edited) = read_and_edit(client, request, branch).await?;
        if edited == file.text {
            return Ok(None);
        }
        match contents::write_file(client, request.path, branch, &message, &edited, &file.sha)
            .await?
        {
            Written::Committed(commit) => return Ok(Some(commit)),
            Written::Conflict => continue,
        }
    }
    Err(WriteError::Conflicts {
        path: request.path.to_string(),
        branch: branch.to_string(),
        attempts: WRITE_ATTEMPTS,
    })
}

/// Writes the images back as `request` says.
pub async fn write_back(client: &Client, request: &Request<'_>) -> Result<WriteBack, WriteError> {
    match &request.target {
        Target::Branch(branch) => {
            let (file, edited) = read_and_edit(client, request, branch).await?;
            let diff = super::diff(request.path, &file.text, &edited);
            let outcome = match commit_onto(client, request, branch).await? {
                Some(commit) => Outcome::Committed {
                    branch: branch.clone(),
                    commit,
                },
                None => Outcome::UpToDate {
                    branch: branch.clone(),
                },
            };
            Ok(WriteBack { outcome, diff })
        }
        Target::PullRequest { base, head } => {
            let base_sha = contents::branch_head(client, base).await?;
            let (file, edited) = read_and_edit(client, request, &base_sha).await?;
            let diff = super::diff(request.path, &file.text, &edited);
            if edited == file.text {
                return Ok(WriteBack {
                    outcome: Outcome::UpToDate {
                        branch: base.clone(),
                    },
                    diff,
                });
            }
            contents::create_branch(client, head, &base_sha).await?;
            let commit = commit_onto(client, request, head).await?;
            let pull_request = contents::open_pull_request(
                client,
                head,
                base,
                &title(&request.about, request.images),
                &pull_request_body(&request.about, request.images, &diff),
            )
            .await?;
            Ok(WriteBack {
                outcome: Outcome::PullRequest {
                    branch: head.clone(),
                    base: base.clone(),
                    commit,
                    pull_request,
                },
                diff,
            })
        }
    }
}
