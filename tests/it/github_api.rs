//! The GitHub API fallback, against a local stand-in of the REST API on 127.0.0.1.
//!
//! The clone has no history for the event's commits and no remote to deepen from, so shipgate
//! must ask the API; a truncated answer (the PR-files endpoint stops at 3000 files) must not be
//! trusted.

use crate::support;

use std::path::Path;
use std::process::Command;
use support::git;
use support::http::{Answer, HttpStandIn};

/// The REST API stand-in: answers each request with `respond(path)`.
fn api_stand_in(respond: impl Fn(&str) -> (u16, String) + Send + 'static) -> HttpStandIn {
    HttpStandIn::start(move |request| {
        let (status, body) = respond(&request.path);
        Answer::new(status, body)
    })
}

/// A one-commit repository: the PR's base commit is not in it and there is no remote.
fn repo_without_history() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join(".github")).unwrap();
    std::fs::write(
        root.join(".github/shipgate.yml"),
        "version: 1\nservices:\n  common: { paths: [libs/common/**] }\n  auth: { paths: [services/auth/**], depends-on: [common], image: auth }\n  web: { paths: [web/**], image: web }\n",
    )
    .unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "only commit"]);
    dir
}

/// The real `pull_request.opened` payload, pointed at commits this clone does not have.
fn pull_request_payload(dir: &Path, changed_files: u64) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/events/pull_request.opened.json"
    ))
    .unwrap();
    let mut payload: serde_json::Value = serde_json::from_str(&text).unwrap();
    payload["pull_request"]["base"]["sha"] = "1111111111111111111111111111111111111111".into();
    payload["pull_request"]["head"]["sha"] = "2222222222222222222222222222222222222222".into();
    payload["pull_request"]["changed_files"] = changed_files.into();
    let path = dir.join("event.json");
    std::fs::write(&path, payload.to_string()).unwrap();
    path
}

fn run(dir: &Path, event: &Path, api: &str, extra: &[&str]) -> (i32, String, String) {
    let output_file = dir.join("outputs");
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("GITHUB_")
            || name.starts_with("SHIPGATE_")
            || name.starts_with("RUNNER_")
        {
            command.env_remove(name);
        }
    }
    let output = command
        .current_dir(dir)
        .args(["detect", "--github-token", "ghs_secret_token_value"])
        .args(extra)
        .env("HOME", dir)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event)
        .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
        .env("GITHUB_API_URL", api)
        .env("GITHUB_OUTPUT", &output_file)
        .output()
        .unwrap();
    let outputs = std::fs::read_to_string(&output_file).unwrap_or_default();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        outputs,
    )
}

fn output_value(outputs: &str, name: &str) -> String {
    shipgate::runner::output::parse_output_file(outputs)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

#[test]
fn missing_history_is_answered_by_the_pull_request_files_api() {
    let dir = repo_without_history();
    let event = pull_request_payload(dir.path(), 2);
    let api = api_stand_in(|path| {
        if path.starts_with("/repos/Codertocat/Hello-World/pulls/2/files") {
            (200, r#"[{"filename":"services/web/x.ts","status":"renamed","previous_filename":"services/auth/x.ts"},{"filename":"libs/common/a.rs","status":"modified"}]"#.into())
        } else {
            (404, r#"{"message":"Not Found"}"#.into())
        }
    });
    let (code, stdout, outputs) = run(dir.path(), &event, &api.url(), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(output_value(&outputs, "services"), r#"["auth","common"]"#);
    assert!(stdout.contains("taken from the GitHub API"), "{stdout}");
    assert!(
        stdout.contains("::add-mask::ghs_secret_token_value"),
        "the token is masked first"
    );
    assert_eq!(
        stdout.matches("ghs_secret_token_value").count(),
        1,
        "the token appears only in the mask command"
    );
    let requests = api.requests();
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].path,
        "/repos/Codertocat/Hello-World/pulls/2/files?per_page=100&page=1"
    );
    assert!(
        requests[0]
            .header("authorization")
            .is_some_and(|a| a.ends_with("ghs_secret_token_value"))
    );
}

#[test]
fn a_truncated_pull_request_file_list_is_not_trusted() {
    let dir = repo_without_history();
    let event = pull_request_payload(dir.path(), 3500);
    let api = api_stand_in(|path| {
        // 30 full pages of 100 files: the API's cap of 3000, short of the PR's 3500.
        let page: usize = path
            .rsplit("page=")
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let files: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    r#"{{"filename":"docs/{}.md","status":"added"}}"#,
                    (page - 1) * 100 + i
                )
            })
            .collect();
        (200, format!("[{}]", files.join(",")))
    });
    let (code, stdout, outputs) = run(dir.path(), &event, &api.url(), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("lists 3000 of 3500 files"), "{stdout}");
    // Fail safe: every service, with a warning, instead of a silently short list.
    assert_eq!(
        output_value(&outputs, "services"),
        r#"["auth","common","web"]"#
    );
    assert!(stdout.contains("::warning"), "{stdout}");
    assert_eq!(api.requests().len(), 30);

    let (code, stdout, _) = run(
        dir.path(),
        &event,
        &api.url(),
        &["--on-missing-history", "error"],
    );
    assert_eq!(code, 2, "{stdout}");
}

#[test]
fn an_api_error_falls_back_safely() {
    let dir = repo_without_history();
    let event = pull_request_payload(dir.path(), 2);
    let api = api_stand_in(|_| {
        (
            403,
            r#"{"message":"Resource not accessible by integration"}"#.into(),
        )
    });
    let (code, stdout, outputs) = run(dir.path(), &event, &api.url(), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("Resource not accessible by integration"),
        "{stdout}"
    );
    assert_eq!(output_value(&outputs, "any-changed"), "true");
}
