//! Nothing untrusted becomes a workflow command: hostile file names, branch names and repository
//! descriptions go through every printer of the real binary in Actions mode, and the output is
//! read the way the runner reads it (a line ends at `\n` or `\r`; `::cmd` after leading
//! whitespace, `##[cmd]` anywhere; nothing inside a `::stop-commands::` fence).

use crate::support;

use shipgate::runner::neutral::{is_command_line, runner_lines};
use support::{Run, Shipgate, TestRepo, payload};

/// Hostile names: each tries to forge a command whose data starts with `PWNED`.
const HOSTILE_FILES: &[&str] = &[
    "docs/a\n::add-mask::PWNED1.md",
    "docs/##[add-mask]PWNED2.md",
    "docs/x\r::warning::PWNED3.md",
    "docs/q\n   ::stop-commands::PWNED4",
    "docs/%0A::notice::PWNED5.md",
    "docs/t\n\t##[error]PWNED6",
];

/// The commands the runner would execute from one stream, outside any fence.
fn commands_seen(stream: &str) -> Vec<String> {
    let mut fence: Option<String> = None;
    let mut seen = Vec::new();
    for line in runner_lines(stream) {
        if let Some(token) = &fence {
            if line == format!("::{token}::") {
                fence = None;
            }
            continue;
        }
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            fence = Some(token.to_string());
        }
        if is_command_line(line) {
            seen.push(line.to_string());
        }
    }
    seen
}

/// Asserts that every command the runner would execute is one of ours: it starts the line
/// (no forged indentation), and none carries hostile data as its own. (A `##[` inside the data of
/// one of our `::error` lines is harmless: the runner parses the `::` form first.)
fn assert_no_forged_command(run: &Run) {
    for (name, stream) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for command in commands_seen(stream) {
            let ours = command.starts_with("::")
                && [
                    "::error",
                    "::warning",
                    "::notice",
                    "::group::",
                    "::endgroup::",
                    "::stop-commands::",
                    "::add-mask::",
                ]
                .iter()
                .any(|prefix| command.starts_with(prefix));
            let data = command.splitn(3, "::").nth(2).unwrap_or_default();
            assert!(
                ours && !data.starts_with("PWNED"),
                "{name} has a forged command: {command:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

fn hostile_repo() -> TestRepo {
    let mut repo = TestRepo::new()
        .config("version: 1\nservices:\n  docs: { paths: ['docs/**'], image: docs }\n  api: { paths: ['api/**'] }\n")
        .file("docs/readme.md", "x\n")
        .commit("init")
        .branch("feature");
    for name in HOSTILE_FILES {
        repo = repo.file(name, "x\n");
    }
    repo.commit("hostile names")
}

#[test]
fn untrusted_text_never_becomes_a_workflow_command_in_detect() {
    let repo = hostile_repo();
    for format in ["human", "json"] {
        let run = Shipgate::new(&repo)
            .args([
                "detect",
                "--base",
                "main",
                "--list-files",
                "json",
                "--format",
                format,
            ])
            .actions()
            .run()
            .success();
        // The hostile names did reach the output (as text).
        assert!(run.stdout.contains("PWNED2"), "{run:#?}");
        assert_no_forged_command(&run);
    }
}

#[test]
fn untrusted_text_never_becomes_a_workflow_command_in_branch_policy_and_plan() {
    let repo = hostile_repo();
    let config = "version: 1\nbranch-policy:\n  patterns: ['users/{actor}/{slug}']\nservices:\n  docs: { paths: ['docs/**'], image: docs }\n";
    std::fs::write(repo.path().join(".github/shipgate.yml"), config).unwrap();
    let base = repo.sha("main");
    let head = repo.sha("feature");
    let mut event = payload::pull_request(
        &base,
        &head,
        "x\n::add-mask::PWNED7 ##[error]PWNED8",
        "octocat",
    );
    event["repository"]["description"] = "Docs\n::add-mask::PWNED9".into();
    for stages in ["branch-policy", "detect,plan"] {
        let run = Shipgate::new(&repo)
            .args(["run", "--stages", stages, "--base", "main", "--dry-run"])
            .env("GITHUB_SHA", &head)
            .event("pull_request", event.clone())
            .run();
        assert!(matches!(run.code, Some(0..=2)), "{run:#?}");
        assert_no_forged_command(&run);
        for (name, value) in &run.outputs {
            if name == "labels" {
                assert!(!value.lines().any(|l| l.starts_with("::")), "{value}");
            }
        }
    }
}
