//! Files and branches through the REST API, for the GitOps write-back: read a file at a ref
//! (`GET /repos/{owner}/{repo}/contents/{path}?ref=`), write it with the blob sha it was read at
//! (`PUT …/contents/{path}`: GitHub refuses with 409 when the file moved meanwhile), read a
//! branch head (`GET …/git/ref/heads/{branch}`), create a branch (`POST …/git/refs`) and open or
//! find a pull request (`POST`/`GET …/pulls`).
//!
//! Every call goes through the shared [`Client`](super::client::Client): timeouts, retries on
//! 5xx and rate limits, a `PUT` or `POST` never re-sent once it may have reached GitHub, the
//! token scrubbed from every error.

use super::client::{Client, Error, Method};
use base64::Engine;
use serde_json::{Value, json};

/// A file as read at a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAt {
    pub text: String,
    /// The blob sha, which a write must name.
    pub sha: String,
}

/// A commit made by a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub html_url: String,
}

/// How a write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Committed(Commit),
    /// The file is no longer at the sha it was read at (the branch moved): read it again.
    Conflict,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub html_url: String,
}

/// Percent-encodes each segment of a repository path (keeping the `/` between them).
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn unexpected(action: &str, status: u16, detail: impl Into<String>) -> Error {
    Error::Response {
        action: action.to_string(),
        status,
        detail: detail.into(),
    }
}

/// The file at `path` on `git_ref` (a branch or a commit sha); `None` when there is none.
pub async fn read_file(
    client: &Client,
    path: &str,
    git_ref: &str,
) -> Result<Option<FileAt>, Error> {
    let action = format!("reading {path} at {git_ref}");
    let route = format!(
        "/repos/{}/contents/{}?ref={}",
        client.repository(),
        encode_path(path),
        encode_path(git_ref)
    );
    let (answer, attempts) = client.exchange(&action, Method::Get, &route).await?;
    if answer.status.as_u16() == 404 {
        return Ok(None);
    }
    if !answer.status.is_success() {
        return Err(client.refused(&action, &route, &answer, attempts));
    }
    let body = answer.json();
    if body.is_array() || body["type"] != "file" {
        return Err(unexpected(&action, 200, format!("{path} is not a file")));
    }
    let sha = body["sha"].as_str().unwrap_or_default().to_string();
    let encoded = body["content"].as_str().unwrap_or_default();
    if body["encoding"] != "base64" || sha.is_empty() {
        return Err(unexpected(
            &action,
            200,
            "no base64 content (a file over 1 MB is not served inline)",
        ));
    }
    let compact: String = encoded.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| unexpected(&action, 200, format!("the content is not base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| unexpected(&action, 200, format!("{path} is not UTF-8 text")))?;
    Ok(Some(FileAt { text, sha }))
}

/// Writes `text` to `path` on `branch`, replacing the blob `sha` it was read at.
pub async fn write_file(
    client: &Client,
    path: &str,
    branch: &str,
    message: &str,
    text: &str,
    sha: &str,
) -> Result<Written, Error> {
    let action = format!("committing {path} to {branch}");
    let route = format!(
        "/repos/{}/contents/{}",
        client.repository(),
        encode_path(path)
    );
    let body = json!({
        "message": message,
        "content": base64::engine::general_purpose::STANDARD.encode(text),
        "sha": sha,
        "branch": branch,
    });
    let (answer, attempts) = client
        .exchange(&action, Method::Put(Some(&body)), &route)
        .await?;
    match answer.status.as_u16() {
        200 | 201 => {
            let commit = &answer.json()["commit"];
            match (commit["sha"].as_str(), commit["html_url"].as_str()) {
                (Some(sha), Some(url)) => Ok(Written::Committed(Commit {
                    sha: sha.to_string(),
                    html_url: url.to_string(),
                })),
                _ => Err(unexpected(
                    &action,
                    answer.status.as_u16(),
                    "no commit in the answer",
                )),
            }
        }
        409 => Ok(Written::Conflict),
        // GitHub says 422 "sha wasn't supplied" or "does not match" when the file moved too.
        422 if answer.message().contains("sha") => Ok(Written::Conflict),
        _ => Err(client.refused(&action, &route, &answer, attempts)),
    }
}

/// The commit sha `branch` points at.
pub async fn branch_head(client: &Client, branch: &str) -> Result<String, Error> {
    let action = format!("reading the branch {branch}");
    let route = format!(
        "/repos/{}/git/ref/heads/{}",
        client.repository(),
        encode_path(branch)
    );
    let body = client.get_json(&action, &route).await?;
    body["object"]["sha"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| unexpected(&action, 200, "no object.sha in the answer"))
}

/// Creates `branch` at `sha`; `false` when it exists already.
pub async fn create_branch(client: &Client, branch: &str, sha: &str) -> Result<bool, Error> {
    let action = format!("creating the branch {branch}");
    let route = format!("/repos/{}/git/refs", client.repository());
    let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
    let (answer, attempts) = client
        .exchange(&action, Method::Post(Some(&body)), &route)
        .await?;
    match answer.status.as_u16() {
        201 => Ok(true),
        422 if answer.message().contains("already exists") => Ok(false),
        _ => Err(client.refused(&action, &route, &answer, attempts)),
    }
}

/// Opens a pull request from `head` into `base`; when one is open already, that one.
pub async fn open_pull_request(
    client: &Client,
    head: &str,
    base: &str,
    title: &str,
    body: &str,
) -> Result<PullRequest, Error> {
    let action = format!("opening a pull request from {head} into {base}");
    let route = format!("/repos/{}/pulls", client.repository());
    let request = json!({"title": title, "head": head, "base": base, "body": body});
    let (answer, attempts) = client
        .exchange(&action, Method::Post(Some(&request)), &route)
        .await?;
    match answer.status.as_u16() {
        201 => pull_request(&action, &answer.json()),
        422 if answer.message().contains("already exists") => {
            let owner = client.repository().split('/').next().unwrap_or_default();
            let list = format!(
                "{route}?state=open&head={}&base={}",
                encode_path(&format!("{owner}:{head}")),
                encode_path(base)
            );
            let found = client.get_json(&action, &list).await?;
            match found.as_array().and_then(|list| list.first()) {
                Some(existing) => pull_request(&action, existing),
                None => Err(unexpected(
                    &action,
                    422,
                    "GitHub says a pull request exists, but lists none open",
                )),
            }
        }
        _ => Err(client.refused(&action, &route, &answer, attempts)),
    }
}

fn pull_request(action: &str, value: &Value) -> Result<PullRequest, Error> {
    match (value["number"].as_u64(), value["html_url"].as_str()) {
        (Some(number), Some(url)) => Ok(PullRequest {
            number,
            html_url: url.to_string(),
        }),
        _ => Err(unexpected(
            action,
            201,
            "no number or html_url in the answer",
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_encoded_segment_by_segment() {
        assert_eq!(
            super::encode_path("deploy/overlays/eu west/kustomization.yaml"),
            "deploy/overlays/eu%20west/kustomization.yaml"
        );
        assert_eq!(super::encode_path("a?b#c"), "a%3Fb%23c");
    }
}
