//! Bad input: every failure has the documented exit code, a message that says what is wrong and
//! where, and never a panic.

use crate::support;

use support::{Shipgate, TestRepo, payload};

const CONFIG_PATH: &str = ".github/shipgate.yml";

/// A committed repository with this config and one file per service path used below.
fn repo_with_config(yaml: &str) -> TestRepo {
    TestRepo::new()
        .config(yaml)
        .file("services/auth/a.ts", "x\n")
        .file("libs/common/a.rs", "x\n")
        .file("README.md", "# r\n")
        .commit("init")
}

/// Asserts a config error: exit 2 with `file:line:col: error: …` in a terminal (config check),
/// and an `::error file=…,line=…,col=…` annotation plus a summary entry in Actions (detect).
/// `help`, when given, is the hint printed under the message (in an annotation: after `%0A`).
fn assert_config_error(yaml: &str, line: u32, column: u32, message: &[&str], help: Option<&str>) {
    let repo = repo_with_config(yaml);

    let terminal = Shipgate::new(&repo).args(["config", "check"]).run().code(2);
    terminal.stderr_line(&format!("{CONFIG_PATH}:{line}:{column}: error: "), message);
    if let Some(help) = help {
        terminal.stderr_has(&format!("\n  help: {help}"));
    }

    let actions = Shipgate::new(&repo)
        .args(["detect", "--base", "main"])
        .actions()
        .run()
        .code(2);
    let mut parts = message.to_vec();
    let help_part = help.map(|help| format!("%0Ahelp: {help}"));
    parts.extend(help_part.as_deref());
    actions
        .stdout_line(
            &format!("::error file={CONFIG_PATH},line={line},col={column},title=shipgate config::"),
            &parts,
        )
        .summary_has("### ❌ shipgate could not run")
        .summary_has(&format!("- `{CONFIG_PATH}:{line}:{column}` "))
        .no_outputs();
}

// ---------------------------------------------------------------------------------------------
// Config errors

#[test]
fn invalid_yaml_is_located() {
    assert_config_error(
        "version: 1\nservices:\n  auth: { paths: [services/auth/**]\n",
        3,
        9,
        &["unclosed bracket '{'"],
        None,
    );
}

#[test]
fn an_unknown_key_suggests_the_right_one() {
    assert_config_error(
        "version: 1\nservices:\n  auth:\n    pathz: [services/auth/**]\n",
        4,
        5,
        &["unknown key `pathz`; did you mean `paths`?"],
        Some("allowed here: `paths`, `depends-on`, `image`,"),
    );
}

#[test]
fn an_unknown_top_level_key_suggests_the_right_one() {
    assert_config_error(
        "version: 1\nservics:\n  auth: { paths: [services/auth/**] }\n",
        2,
        1,
        &["unknown key `servics`; did you mean `services`?"],
        Some(
            "allowed here: `version`, `defaults`, `global`, `detect`, `branch-policy`, `deploy`, `services`",
        ),
    );
}

#[test]
fn an_unknown_service_in_depends_on_suggests_the_closest_name() {
    assert_config_error(
        "version: 1\nservices:\n  common: { paths: [libs/common/**] }\n  auth:\n    paths: [services/auth/**]\n    depends-on: [comon]\n",
        6,
        18,
        &["service `auth` depends on `comon`, which is not a configured service"],
        Some("did you mean `common`?"),
    );
}

#[test]
fn a_dependency_cycle_is_printed_in_full() {
    assert_config_error(
        "version: 1\nservices:\n  a: { paths: [a/**], depends-on: [b] }\n  b: { paths: [b/**], depends-on: [c] }\n  c: { paths: [c/**], depends-on: [a] }\n",
        3,
        36,
        &["dependency cycle: a → b → c → a"],
        Some("`depends-on` must not loop back; remove one of these edges"),
    );
}

#[test]
fn an_invalid_glob_is_located() {
    assert_config_error(
        "version: 1\nservices:\n  auth: { paths: ['src/[a-'] }\n",
        3,
        19,
        &["invalid glob `src/[a-`", "the class `[` is never closed"],
        None,
    );
}

#[test]
fn duplicate_service_names_are_refused() {
    assert_config_error(
        "version: 1\nservices:\n  auth: { paths: [services/auth/**] }\n  auth: { paths: [libs/common/**] }\n",
        4,
        3,
        &["`auth` is defined twice"],
        None,
    );
}

#[test]
fn duplicate_service_names_are_explained_in_config_terms() {
    let repo = repo_with_config(
        "version: 1\nservices:\n  auth: { paths: [services/auth/**] }\n  auth: { paths: [libs/common/**] }\n",
    );
    Shipgate::new(&repo)
        .args(["config", "check"])
        .run()
        .code(2)
        .stderr_line(&format!("{CONFIG_PATH}:4:3: error: "), &["auth"])
        .stderr_lacks("DuplicateKeyPolicy")
        .stderr_lacks("Options");
}

#[test]
fn every_config_error_is_reported_at_once() {
    let repo =
        repo_with_config("version: 2\nservices:\n  a: { paths: ['src/[a-'], depends-on: [zzz] }\n");
    let run = Shipgate::new(&repo)
        .args(["detect", "--base", "main"])
        .actions()
        .run()
        .code(2);
    run.stdout_line(
        &format!("::error file={CONFIG_PATH},line=1,col=10,"),
        &["unsupported config version 2"],
    )
    .stdout_line(
        &format!("::error file={CONFIG_PATH},line=3,col=16,"),
        &["invalid glob `src/[a-`"],
    )
    .stdout_line(
        &format!("::error file={CONFIG_PATH},line=3,"),
        &["service `a` depends on `zzz`"],
    );
    assert_eq!(run.stdout.matches("::error ").count(), 3, "{run:#?}");
}

#[test]
fn a_service_whose_paths_match_nothing_is_a_warning_of_config_check() {
    let repo = repo_with_config(
        "version: 1\nservices:\n  auth: { paths: [services/auth/**] }\n  ghost: { paths: [nothing/here/**] }\n",
    );

    Shipgate::new(&repo)
        .args(["config", "check"])
        .run()
        .success()
        .stderr_line(
            &format!("{CONFIG_PATH}:4:20: warning: "),
            &["the paths of service `ghost` match no file in the repository"],
        )
        .stderr_lacks("`auth`")
        .stdout_has(&format!("{CONFIG_PATH}: ok (2 services, 1 warning)"));

    Shipgate::new(&repo)
        .args(["config", "check"])
        .actions()
        .run()
        .success()
        .stdout_line(
            &format!("::warning file={CONFIG_PATH},line=4,col=20,title=shipgate config::"),
            &["the paths of service `ghost` match no file in the repository"],
        );
}

#[test]
fn a_missing_config_is_a_usage_error() {
    let repo = TestRepo::new().file("README.md", "x\n").commit("init");
    Shipgate::new(&repo)
        .args(["detect", "--base", "main"])
        .run()
        .code(2)
        .stderr_has(&format!("error: no config file at {CONFIG_PATH}"))
        .stderr_has("help: create .github/shipgate.yml");
}

// ---------------------------------------------------------------------------------------------
// Repository, event and revision errors

const VALID: &str = "version: 1\nservices:\n  auth: { paths: [services/auth/**] }\n";

#[test]
fn a_directory_outside_git_is_a_usage_error() {
    let outside = tempfile::TempDir::new().unwrap();
    let home = outside.path().join("home");
    let work = outside.path().join("work");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();

    Shipgate::in_dir(outside.path(), &home)
        .arg("detect")
        .arg("--repo")
        .arg(&work)
        .run()
        .code(2)
        .stderr_has(&format!(
            "error: {} is not inside a git repository",
            work.display()
        ))
        .stderr_has("help: pass --repo (working-directory) pointing at a checkout");
}

#[test]
fn a_missing_event_file_is_a_usage_error() {
    let repo = repo_with_config(VALID);
    let missing = repo.scratch().join("no-such-event.json");

    Shipgate::new(&repo)
        .args(["detect"])
        .event_at("push", &missing)
        .run()
        .code(2)
        .stdout_line(
            "::error title=shipgate context::",
            &[&format!(
                "cannot read the event payload GITHUB_EVENT_PATH={}",
                missing.display()
            )],
        )
        .no_outputs();
}

#[test]
fn an_event_file_that_is_not_json_is_a_usage_error() {
    let repo = repo_with_config(VALID);
    let garbage = repo.scratch().join("event.json");
    std::fs::write(&garbage, "{not json").unwrap();

    Shipgate::new(&repo)
        .args(["detect"])
        .event_at("pull_request", &garbage)
        .run()
        .code(2)
        .stdout_line("::error ", &["is not valid JSON"]);
}

#[test]
fn a_pull_request_payload_without_a_head_sha_is_a_usage_error() {
    let repo = repo_with_config(VALID);
    let sha = repo.sha("HEAD");
    let mut event = payload::pull_request(&sha, &sha, "users/octocat/x", "octocat");
    event["pull_request"]["head"]
        .as_object_mut()
        .unwrap()
        .remove("sha");

    Shipgate::new(&repo)
        .args(["detect"])
        .event("pull_request", event)
        .run()
        .code(2)
        .stdout_line(
            "::error ",
            &["the `pull_request` payload has no `pull_request.head.sha`"],
        );
}

#[test]
fn an_unknown_base_sha_is_a_usage_error() {
    let repo = repo_with_config(VALID);
    let unknown = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

    Shipgate::new(&repo)
        .args(["detect", "--base", unknown])
        .run()
        .code(2)
        .stderr_has(&format!(
            "error: `{unknown}` does not name a commit in this repository"
        ))
        .stderr_has("help: check --base/--head");
}

#[test]
fn an_unknown_base_branch_is_a_usage_error() {
    let repo = repo_with_config(VALID);
    Shipgate::new(&repo)
        .args(["detect", "--base", "no-such-branch"])
        .run()
        .code(2)
        .stderr_has("error: `no-such-branch` does not name a commit in this repository");
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let repo = repo_with_config(VALID);
    for args in [
        &["detect", "--list-files", "xml"][..],
        &["detect", "--on-missing-history", "maybe"],
        &["detect", "--format", "yaml"],
        &["build", "--max-parallel", "0"],
        &["build", "--fail-fast", "maybe"],
        &["deploy", "--lock-timeout", "soon"],
        &["deploy", "--services", "all", "--image", "auth"],
        &["run", "--stages", "detect,nope"],
        &[],
    ] {
        let run = Shipgate::new(&repo).args(args.iter()).run().code(2);
        assert!(!run.stderr.trim().is_empty(), "{args:?} explains itself");
    }
    Shipgate::new(&repo)
        .args(["deploy", "--services", "all", "--image", "auth"])
        .run()
        .code(2)
        .stderr_has("`--image auth`: write it as SERVICE=IMAGE");
}

#[test]
fn empty_action_inputs_count_as_unset() {
    let repo = repo_with_config(VALID)
        .branch("b")
        .file("services/auth/a.ts", "y\n")
        .commit("auth");
    let run = Shipgate::new(&repo)
        .args(["detect"])
        .env("SHIPGATE_BASE", "main")
        .env("SHIPGATE_LIST_FILES", "")
        .env("SHIPGATE_ON_MISSING_HISTORY", "")
        .env("SHIPGATE_SERVICES", "")
        .env("SHIPGATE_FORMAT", "")
        .actions()
        .run()
        .success();
    assert_eq!(run.output("services"), r#"["auth"]"#);
}

#[test]
fn a_closed_stdout_does_not_panic() {
    let repo = repo_with_config(VALID);
    // A pipe whose reading end is closed before the binary starts, like `| head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let run = Shipgate::new(&repo)
        .args(["detect", "--base", "main", "--format", "json"])
        .run_with_stdout(Some(writer.into()));
    run.stderr_lacks("panicked");
    assert_ne!(run.code, Some(101), "{run:#?}");
}

// ---------------------------------------------------------------------------------------------
// Branch policy

const POLICY: &str = r#"version: 1
branch-policy:
  patterns: ["users/{actor}/{slug}", "release/{semver}", "hotfix/{slug}"]
  exempt: ["main", "dependabot/**", "renovate/**"]
services:
  auth: { paths: [services/auth/**] }
"#;

#[test]
fn an_allowed_branch_passes() {
    let repo = repo_with_config(POLICY);
    Shipgate::new(&repo)
        .args([
            "branch-policy",
            "--branch",
            "users/octocat/fix-login",
            "--actor",
            "octocat",
        ])
        .run()
        .success()
        .stdout_has(
            "branch `users/octocat/fix-login` is allowed (matches `users/{actor}/{slug}`)\n",
        );
}

#[test]
fn a_pull_request_from_someone_elses_user_branch_is_refused_with_a_fix() {
    let repo = repo_with_config(POLICY);
    let sha = repo.sha("HEAD");

    let run = Shipgate::new(&repo)
        .args(["branch-policy"])
        .event(
            "pull_request",
            payload::pull_request(&sha, &sha, "users/alice/new-thing", "octocat"),
        )
        .run()
        .code(1);

    run.stdout_line(
        "::error title=Branch name::",
        &[
            "branch `users/alice/new-thing` is not allowed",
            "Rename it, e.g. to `users/octocat/new-thing`",
            "help: allowed patterns: users/{actor}/{slug}, release/{semver}, hotfix/{slug}",
        ],
    )
    .summary_has("### ❌ Branch name `users/alice/new-thing` is not allowed")
    .summary_has(
        "**Allowed patterns:**\n\n- `users/{actor}/{slug}`\n- `release/{semver}`\n- `hotfix/{slug}`\n",
    )
    .summary_has("**Closest pattern:** `users/{actor}/{slug}`")
    .summary_has("author's login `octocat`")
    .summary_has("git branch -m users/alice/new-thing users/octocat/new-thing\n");
}

#[test]
fn a_refused_branch_in_json_format() {
    let repo = repo_with_config(POLICY);
    let sha = repo.sha("HEAD");

    let run = Shipgate::new(&repo)
        .args(["branch-policy", "--format", "json"])
        .event(
            "pull_request",
            payload::pull_request(&sha, &sha, "feature/add-login", "octocat"),
        )
        .run()
        .code(1);

    let json = run.json();
    assert_eq!(json["branch"], "feature/add-login");
    assert_eq!(json["allowed"], false);
    assert_eq!(json["verdict"]["closest"]["pattern"], "hotfix/{slug}");
    assert_eq!(json["verdict"]["closest"]["suggestion"], "hotfix/add-login");
    assert_eq!(
        json["verdict"]["fix"][0],
        "git branch -m feature/add-login hotfix/add-login"
    );
    run.stderr_line("::error title=Branch name::", &["`feature/add-login`"]);
}

#[test]
fn a_push_skips_the_branch_policy_with_a_notice() {
    let repo = repo_with_config(POLICY);
    let sha = repo.sha("HEAD");

    Shipgate::new(&repo)
        .args(["branch-policy"])
        .event("push", payload::push("Not A Valid Pattern", &sha, &sha))
        .run()
        .success()
        .stdout_line(
            "::notice title=Branch name::",
            &["branch policy skipped: push is not a pull request; branch names are checked on pull requests"],
        )
        .stdout_lacks("::error");
}

#[test]
fn a_bot_branch_is_exempt() {
    let repo = repo_with_config(POLICY);
    let sha = repo.sha("HEAD");

    Shipgate::new(&repo)
        .args(["branch-policy"])
        .event(
            "pull_request",
            payload::pull_request(
                &sha,
                &sha,
                "dependabot/npm_and_yarn/lodash-4.17.21",
                "dependabot[bot]",
            ),
        )
        .run()
        .success()
        .stdout_has("branch `dependabot/npm_and_yarn/lodash-4.17.21` is exempt (`dependabot/**`)")
        .summary_has("### ✅ Branch name\n\n`dependabot/npm_and_yarn/lodash-4.17.21` is exempt (`dependabot/**`).");
}
