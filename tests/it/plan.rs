//! `shipgate plan` against real git repositories and real webhook payloads: version sources,
//! tag templates, OCI labels (with docker/metadata-action parity), `{content}` digests and the
//! step outputs (`plan`, `matrix`, `tags`, `labels`, `bake-file`).
//!
//! Every run pins the clock with `SOURCE_DATE_EPOCH`, so tags and labels are compared exactly.
//! Event runs get the variables the runner sets next to the payload (`GITHUB_REF`,
//! `GITHUB_SHA`, `GITHUB_SERVER_URL`).

// clippy.toml's `allow-unwrap-in-tests` covers `#[test]` functions, not this file's helpers.

use crate::support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::{Run, Shipgate, TestRepo, ZERO_SHA, payload};

/// The issue's example run time: `1.1.0-1766836944`.
const EPOCH: &str = "1766836944";
/// docker/metadata-action's fixture time (`2020-01-10T00:30:00.000Z`).
const METADATA_ACTION_EPOCH: &str = "1578616200";
/// The `number` of `tests/fixtures/events/pull_request.opened.json`.
const PR_NUMBER: u64 = 2;

// ---------------------------------------------------------------------------------------------
// Helpers

/// `shipgate plan` with a pinned clock, as a GitHub Actions step without an event (outputs and
/// summary are written, `GITHUB_EVENT_NAME` is unset).
fn plan_head(repo: &TestRepo) -> Shipgate {
    Shipgate::new(repo)
        .arg("plan")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .actions()
}

/// `shipgate plan` for a push of `before..after` to `branch`, with what the runner sets.
fn plan_push(repo: &TestRepo, branch: &str, before: &str, after: &str) -> Shipgate {
    Shipgate::new(repo)
        .arg("plan")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .event("push", payload::push(branch, before, after))
        .env("GITHUB_REF", format!("refs/heads/{branch}"))
        .env("GITHUB_SHA", after)
        .env("GITHUB_SERVER_URL", "https://github.com")
}

/// `shipgate plan` for a pull request from `head_ref` (at `head`) into `main` (at `base`).
/// `merge` is GITHUB_SHA: the merge commit GitHub creates, which is not what gets built.
fn plan_pull_request(
    repo: &TestRepo,
    base: &str,
    head: &str,
    head_ref: &str,
    merge: &str,
) -> Shipgate {
    Shipgate::new(repo)
        .arg("plan")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .event(
            "pull_request",
            payload::pull_request(base, head, head_ref, "octocat"),
        )
        .env("GITHUB_REF", format!("refs/pull/{PR_NUMBER}/merge"))
        .env("GITHUB_SHA", merge)
        .env("GITHUB_HEAD_REF", head_ref)
        .env("GITHUB_BASE_REF", "main")
        .env("GITHUB_SERVER_URL", "https://github.com")
}

/// The `plan` output.
fn plan_of(run: &Run) -> Value {
    run.output_json("plan")
}

/// One planned service by name.
fn service<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("service {name} is not planned:\n{plan:#}"))
}

/// The names of the planned services, in plan order.
fn names(plan: &Value) -> Vec<String> {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// The bare tags of one planned service.
fn tags(plan: &Value, name: &str) -> Vec<String> {
    serde_json::from_value(service(plan, name)["tags"].clone()).unwrap()
}

/// The labels of one planned service.
fn labels(plan: &Value, name: &str) -> BTreeMap<String, String> {
    serde_json::from_value(service(plan, name)["labels"].clone()).unwrap()
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The 1-based line of the first line of `text` containing `needle`, and the 1-based column
/// right after `after` on it (where a YAML value starts).
fn position(text: &str, needle: &str, after: &str) -> (usize, usize) {
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the config"));
    let column = line.find(after).unwrap() + after.len() + 1;
    (index + 1, column)
}

/// The annotation lines (`::notice …`, `::warning …`) a run printed on stdout.
fn annotations<'a>(run: &'a Run, level: &str) -> Vec<&'a str> {
    let prefix = format!("::{level} ");
    run.stdout
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .collect()
}

/// Whether a tag follows the Docker grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_docker_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

// ---------------------------------------------------------------------------------------------
// Versions

const VERSIONS_CONFIG: &str = r#"version: 1
defaults:
  registry: ghcr.io/acme
services:
  node:
    paths: ["services/node/**"]
    image: node
    version: { from: services/node/package.json }
  py:
    paths: ["services/py/**"]
    image: py
    version: { from: services/py/pyproject.toml }
  poetry:
    paths: ["services/poetry/**"]
    image: poetry
    version: { from: services/poetry/pyproject.toml }
  gateway:
    paths: ["crates/gateway/**"]
    image: gateway
    version: { from: crates/gateway/Cargo.toml }
  plain:
    paths: ["services/plain/**"]
    image: plain
    version: { from: services/plain/VERSION }
  auth:
    paths: ["services/auth/**"]
    image: auth
    version: { git-tag: "auth/v*" }
  literal:
    paths: ["services/literal/**"]
    image: literal
    version: "3.1.4"
"#;

fn versions_repo() -> TestRepo {
    TestRepo::new()
        .config(VERSIONS_CONFIG)
        .file(
            "services/node/package.json",
            "{\n  \"name\": \"node\",\n  \"version\": \"1.4.2\"\n}\n",
        )
        .file(
            "services/py/pyproject.toml",
            "[project]\nname = \"py\"\nversion = \"0.8.8\"\n",
        )
        .file(
            "services/poetry/pyproject.toml",
            "[tool.poetry]\nname = \"poetry\"\nversion = \"2.0.1\"\n",
        )
        .file(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*\"]\n\n[workspace.package]\nversion = \"4.5.6\"\n",
        )
        .file(
            "crates/gateway/Cargo.toml",
            "[package]\nname = \"gateway\"\nversion.workspace = true\nedition = \"2024\"\n",
        )
        .file("services/plain/VERSION", "\n7.0.0\n")
        .file("services/auth/main.go", "package main\n")
        .file("services/literal/app.sh", "echo hi\n")
        .commit("init")
        .tag("auth/v1.2.3")
        .file("services/auth/main.go", "package main // 2\n")
        .commit("auth 1.10")
        .tag("auth/v1.10.0")
        .tag("auth/v1.10.0-rc.1")
        .tag("web/v9.0.0")
        .tag("auth/vnext")
        .file("services/auth/main.go", "package main // 3\n")
        .commit("auth 1.9.1 backport")
        .tag("auth/v1.9.1")
}

#[test]
fn every_version_source_gives_the_version_and_the_version_timestamp_tag() {
    let repo = versions_repo();
    let run = plan_head(&repo).args(["--services", "all"]).run().success();
    let plan = plan_of(&run);
    let head = repo.sha("HEAD");

    for (name, version) in [
        ("node", "1.4.2"),
        ("py", "0.8.8"),
        ("poetry", "2.0.1"),
        // `version.workspace = true`: the root Cargo.toml's `[workspace.package].version`.
        ("gateway", "4.5.6"),
        ("plain", "7.0.0"),
        // The highest semver after the prefix, not the most recent tag nor a pre-release.
        ("auth", "1.10.0"),
        ("literal", "3.1.4"),
    ] {
        assert_eq!(service(&plan, name)["version"], version, "{name}\n{run:#?}");
        // Without `tags`, a versioned service gets `{version}-{timestamp}` and `sha-{sha7}`.
        assert_eq!(
            tags(&plan, name),
            vec![
                format!("{version}-{EPOCH}"),
                format!("sha-{}", short(&head))
            ],
            "{name}"
        );
    }
    run.summary_has("| **gateway** | `ghcr.io/acme/gateway` | `4.5.6-1766836944`");
}

#[test]
fn versions_are_read_from_the_planned_commit_not_the_working_tree() {
    let repo = versions_repo()
        // Uncommitted (even staged) edits must not change what is tagged.
        .file(
            "services/node/package.json",
            "{\n  \"name\": \"node\",\n  \"version\": \"9.9.9\"\n}\n",
        )
        .file("services/plain/VERSION", "8.0.0\n");
    repo.git(["add", "services/plain/VERSION"]);

    let run = plan_head(&repo)
        .args(["--services", "node,plain"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(tags(&plan, "node")[0], format!("1.4.2-{EPOCH}"));
    assert_eq!(tags(&plan, "plain")[0], format!("7.0.0-{EPOCH}"));
    run.stdout_lacks("9.9.9").stdout_lacks("8.0.0");
}

#[test]
fn a_push_plans_the_pushed_commit_even_when_another_is_checked_out() {
    let repo = versions_repo();
    let before = repo.sha("HEAD");
    let repo = repo
        .file(
            "services/node/package.json",
            "{\n  \"name\": \"node\",\n  \"version\": \"1.5.0\"\n}\n",
        )
        .commit("node 1.5.0");
    let pushed = repo.sha("HEAD");
    // The work tree moves on (a later commit is checked out); the event names `pushed`.
    let repo = repo
        .file(
            "services/node/package.json",
            "{\n  \"name\": \"node\",\n  \"version\": \"2.0.0\"\n}\n",
        )
        .commit("node 2.0.0");

    let run = plan_push(&repo, "main", &before, &pushed).run().success();
    let plan = plan_of(&run);
    assert_eq!(names(&plan), ["node"]);
    assert_eq!(
        tags(&plan, "node"),
        [format!("1.5.0-{EPOCH}"), format!("sha-{}", short(&pushed))]
    );
    assert_eq!(plan["context"]["sha"], pushed);
}

#[test]
fn a_dynamic_pyproject_version_is_a_located_error_that_says_where_else_to_take_it() {
    let repo = versions_repo()
        .file(
            "services/py/pyproject.toml",
            "[project]\nname = \"py\"\ndynamic = [\"version\"]\n",
        )
        .commit("py: version from setuptools-scm");
    let (line, column) = position(
        VERSIONS_CONFIG,
        "version: { from: services/py/pyproject.toml }",
        "version: ",
    );

    let run = Shipgate::new(&repo)
        .args(["plan", "--services", "py"])
        .run()
        .code(2);
    run.stderr_line(
        &format!(".github/shipgate.yml:{line}:{column}: error: service `py`:"),
        &[
            "`services/py/pyproject.toml` declares `dynamic = [\"version\"]`",
            "git tag (`version: { git-tag:",
            "a VERSION file",
            "write it literally",
        ],
    );
    run.stdout_lacks("py-");

    // In Actions: an annotation on the same place, and no outputs.
    let run = plan_head(&repo).args(["--services", "py"]).run().code(2);
    run.stdout_line(
        &format!("::error file=.github/shipgate.yml,line={line},col={column},"),
        &["dynamic = [\"version\"]"],
    );
    run.no_outputs();
}

#[test]
fn a_missing_version_file_is_a_located_error_never_an_empty_tag() {
    // Present in the work tree, but never committed: it is not in the planned commit.
    let config = VERSIONS_CONFIG.replace(
        "services/node/package.json }",
        "services/node/web/package.json }",
    );
    let repo = versions_repo().config(&config).commit("node: moved").file(
        "services/node/web/package.json",
        "{\"version\": \"1.0.0\"}\n",
    );
    let (line, column) = position(
        &config,
        "version: { from: services/node/web/package.json }",
        "version: ",
    );

    let run = Shipgate::new(&repo)
        .args(["plan", "--services", "node"])
        .run()
        .code(2);
    run.stderr_line(
        &format!(".github/shipgate.yml:{line}:{column}: error: service `node`:"),
        &["version file `services/node/web/package.json` does not exist in the planned commit"],
    );
}

#[test]
fn malformed_version_files_and_missing_keys_are_located_errors() {
    let repo = versions_repo()
        .file("services/node/package.json", "{\"version\": 1.4\n")
        .file(
            "services/poetry/pyproject.toml",
            "[tool.poetry]\nname = \"p\"\n",
        )
        .file(
            "crates/gateway/Cargo.toml",
            "[package]\nname = \"gateway\"\n",
        )
        .commit("break them");
    let run = Shipgate::new(&repo)
        .args(["plan", "--services", "node,poetry,gateway,plain"])
        .run()
        .code(2);
    // Every problem is reported, each at its own service's `version:`.
    for (service, needle, message) in [
        (
            "node",
            "version: { from: services/node/package.json }",
            "`services/node/package.json` is not valid JSON",
        ),
        (
            "poetry",
            "version: { from: services/poetry/pyproject.toml }",
            "has neither `[project].version` nor `[tool.poetry].version`",
        ),
        (
            "gateway",
            "version: { from: crates/gateway/Cargo.toml }",
            "`crates/gateway/Cargo.toml` has no `[package].version`",
        ),
    ] {
        let (line, column) = position(VERSIONS_CONFIG, needle, "version: ");
        run.stderr_line(
            &format!(".github/shipgate.yml:{line}:{column}: error: service `{service}`:"),
            &[message],
        );
    }
}

#[test]
fn a_git_tag_source_without_a_matching_tag_is_an_error() {
    let config = VERSIONS_CONFIG.replace("\"auth/v*\"", "\"payments/v*\"");
    let repo = versions_repo().config(&config).commit("auth: wrong prefix");
    let run = Shipgate::new(&repo)
        .args(["plan", "--services", "auth"])
        .run()
        .code(2);
    run.stderr_has("service `auth`: no git tag matches `payments/v*`");
}

// ---------------------------------------------------------------------------------------------
// Tags

const TAGS_CONFIG: &str = r#"version: 1
defaults:
  registry: ghcr.io/acme
services:
  api:
    paths: ["services/api/**"]
    image: api
    version: { from: services/api/VERSION }
    tags: ["{environment}-v{version}", "{environment}-{sha}", "{environment}-latest"]
  web:
    paths: ["services/web/**"]
    image: web
    version: "1.1.0"
    tags: ["{version}-{timestamp}", "sha-{sha7}", "latest"]
  preview:
    paths: ["services/preview/**"]
    image: preview
    tags: ["br-{branch}", "pr-{pr}", "sha-{sha:12}", "run-{run_number}", "d-{date:%Y%m%d}"]
"#;

fn tags_repo() -> TestRepo {
    TestRepo::new()
        .config(TAGS_CONFIG)
        .file("services/api/VERSION", "0.8.8\n")
        .file("services/web/index.ts", "export const web = 1;\n")
        .file("services/preview/index.ts", "export const preview = 1;\n")
        .commit("init")
}

/// Changes every service on a new commit of the current branch.
fn touch_all(repo: TestRepo, round: u32) -> TestRepo {
    repo.file("services/api/main.go", &format!("// {round}\n"))
        .file("services/web/index.ts", &format!("// {round}\n"))
        .file("services/preview/index.ts", &format!("// {round}\n"))
        .commit(&format!("change {round}"))
}

#[test]
fn environment_templates_and_latest_on_a_push_to_the_default_branch() {
    let repo = tags_repo();
    let before = repo.sha("HEAD");
    let repo = touch_all(repo, 1);
    let after = repo.sha("HEAD");

    let run = plan_push(&repo, "main", &before, &after)
        .args(["--environment", "prod"])
        .env("GITHUB_RUN_NUMBER", "42")
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(
        tags(&plan, "api"),
        [
            "prod-v0.8.8".to_string(),
            format!("prod-{after}"),
            "prod-latest".to_string()
        ]
    );
    assert_eq!(
        tags(&plan, "web"),
        [
            format!("1.1.0-{EPOCH}"),
            format!("sha-{}", short(&after)),
            "latest".to_string()
        ]
    );
    assert_eq!(
        tags(&plan, "preview"),
        [
            "br-main".to_string(),
            format!("sha-{}", &after[..12]),
            "run-42".to_string(),
            "d-20251227".to_string()
        ]
    );
    assert_eq!(
        service(&plan, "api")["refs"],
        json!([
            "ghcr.io/acme/api:prod-v0.8.8",
            format!("ghcr.io/acme/api:prod-{after}"),
            "ghcr.io/acme/api:prod-latest"
        ])
    );
    assert_eq!(plan["context"]["environment"], "prod");
    assert_eq!(plan["context"]["is_default_branch"], true);
    // No latest-like tag was skipped; `{pr}` has no value on a push and says so.
    assert!(!run.stdout.contains("latest-like tags"), "{}", run.stdout);
    assert_eq!(
        annotations(&run, "notice")
            .iter()
            .filter(|l| l.contains("service `preview`: tag `pr-{pr}` skipped: this run has no {pr}"))
            .count(),
        1,
        "{run:#?}"
    );
}

#[test]
fn the_environment_comes_from_defaults_when_no_input_names_one() {
    let config = TAGS_CONFIG.replace(
        "  registry: ghcr.io/acme\n",
        "  registry: ghcr.io/acme\n  environment: staging\n",
    );
    let repo = tags_repo().config(&config).commit("staging");
    let run = plan_head(&repo).args(["--services", "api"]).run().success();
    assert_eq!(tags(&plan_of(&run), "api")[0], "staging-v0.8.8");
    // The input wins over the default.
    let run = plan_head(&repo)
        .args(["--services", "api"])
        .env("SHIPGATE_ENVIRONMENT", "prod")
        .run()
        .success();
    assert_eq!(tags(&plan_of(&run), "api")[0], "prod-v0.8.8");
}

#[test]
fn latest_tags_are_left_out_of_a_push_to_another_branch_with_one_notice() {
    let repo = tags_repo();
    let base = repo.sha("HEAD");
    let repo = touch_all(repo.branch("feature/login"), 1);
    let after = repo.sha("HEAD");

    let run = plan_push(&repo, "feature/login", &base, &after)
        .args(["--environment", "prod"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(
        tags(&plan, "api"),
        ["prod-v0.8.8".to_string(), format!("prod-{after}")]
    );
    assert_eq!(
        tags(&plan, "web"),
        [format!("1.1.0-{EPOCH}"), format!("sha-{}", short(&after))]
    );
    assert_eq!(plan["context"]["is_default_branch"], false);
    let notices: Vec<&str> = annotations(&run, "notice")
        .into_iter()
        .filter(|l| l.contains("latest-like tags are only pushed from the default branch"))
        .collect();
    assert_eq!(notices.len(), 1, "{run:#?}");
    assert!(
        notices[0].contains("skipped: api `{environment}-latest`, web `latest`"),
        "{}",
        notices[0]
    );
}

#[test]
fn latest_tags_are_left_out_of_a_pull_request_with_one_notice() {
    let repo = tags_repo();
    let base = repo.sha("HEAD");
    let repo = touch_all(repo.branch("feature/login"), 1);
    let head = repo.sha("HEAD");

    let run = plan_pull_request(&repo, &base, &head, "feature/login", &head)
        .args(["--environment", "prod"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert!(
        !tags(&plan, "api").iter().any(|t| t.contains("latest")),
        "{plan:#}"
    );
    assert!(
        !tags(&plan, "web").iter().any(|t| t.contains("latest")),
        "{plan:#}"
    );
    assert_eq!(
        annotations(&run, "notice")
            .iter()
            .filter(|l| l.contains("latest-like tags are only pushed from the default branch"))
            .count(),
        1,
        "{run:#?}"
    );
}

#[test]
fn latest_always_and_latest_never_override_the_default_branch_rule() {
    let config = TAGS_CONFIG
        .replace(
            "    tags: [\"{version}-{timestamp}\", \"sha-{sha7}\", \"latest\"]\n",
            "    tags: [\"{version}-{timestamp}\", \"sha-{sha7}\", \"latest\"]\n    latest: always\n",
        )
        .replace(
            "  registry: ghcr.io/acme\n",
            "  registry: ghcr.io/acme\n  latest: never\n",
        );
    let repo = tags_repo().config(&config).commit("latest policies");
    let base = repo.sha("HEAD");
    let repo = touch_all(repo.branch("feature/x"), 1);
    let head = repo.sha("HEAD");

    // A pull request: `web` (always) gets latest, `api` (never, from defaults) does not.
    let run = plan_pull_request(&repo, &base, &head, "feature/x", &head)
        .args(["--environment", "prod"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(tags(&plan, "web").last().unwrap(), "latest");
    assert!(!tags(&plan, "api").contains(&"prod-latest".to_string()));

    // The default branch: `never` still wins.
    let repo = repo.checkout("main").merge("feature/x");
    let merged = repo.sha("HEAD");
    let run = plan_push(&repo, "main", &base, &merged)
        .args(["--environment", "prod"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert!(!tags(&plan, "api").contains(&"prod-latest".to_string()));
    assert_eq!(tags(&plan, "web").last().unwrap(), "latest");
}

#[test]
fn branch_names_are_sanitised_into_valid_tags() {
    let repo = tags_repo();
    let base = repo.sha("HEAD");
    let repo = touch_all(repo.branch("my/feature#1245"), 1);
    let head = repo.sha("HEAD");

    let run = plan_push(&repo, "my/feature#1245", &base, &head)
        .args(["--environment", "prod"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(tags(&plan, "preview")[0], "br-my-feature-1245");
    // The label keeps the real branch name.
    assert_eq!(labels(&plan, "preview")["git.branch"], "my/feature#1245");

    // Unicode and other characters a tag cannot hold.
    let run = plan_push(&repo, "feature/Über Fix", &base, &head)
        .args(["--environment", "prod"])
        .run()
        .success();
    assert_eq!(tags(&plan_of(&run), "preview")[0], "br-feature-ber-Fix");
}

#[test]
fn a_300_character_branch_is_cut_to_128_with_a_hash_so_long_branches_never_collide() {
    let repo = tags_repo();
    let base = repo.sha("HEAD");
    let repo = touch_all(repo, 1);
    let head = repo.sha("HEAD");
    let long = |suffix: &str| format!("feature/{}/{}{suffix}", "a".repeat(150), "b".repeat(139));

    let mut cut = Vec::new();
    for suffix in ["-one", "-two"] {
        let branch = long(suffix);
        assert_eq!(branch.len(), 302);
        let run = plan_push(&repo, &branch, &base, &head)
            .args(["--environment", "prod"])
            .run()
            .success();
        let tag = tags(&plan_of(&run), "preview")[0].clone();
        assert_eq!(tag.len(), 128, "{tag}");
        assert!(is_docker_tag(&tag), "{tag}");
        assert!(tag.starts_with("br-feature-aaaa"), "{tag}");
        // The last 9 characters are `-` and 8 hex digits of a hash of the whole name.
        let (_, hash) = tag.split_at(119);
        assert!(
            hash.starts_with('-') && hash[1..].chars().all(|c| c.is_ascii_hexdigit()),
            "{tag}"
        );
        cut.push(tag);
    }
    // The names differ only after character 128; the tags still differ.
    assert_ne!(cut[0], cut[1]);
}

#[test]
fn pr_tags_and_the_pull_request_head_sha_not_the_merge_commit() {
    let repo = tags_repo();
    let base = repo.sha("main");
    let repo = touch_all(repo.branch("feature/login"), 1);
    let head = repo.sha("HEAD");
    // main moves on (api 0.9.0), then GitHub's test merge commit (refs/pull/2/merge) is
    // checked out, as actions/checkout does for a pull request.
    let repo = repo
        .checkout("main")
        .file("services/api/VERSION", "0.9.0\n")
        .commit("main moves on")
        .branch("pull/2/merge")
        .merge("feature/login");
    let merge = repo.sha("HEAD");
    assert_ne!(merge, head);

    let run = plan_pull_request(&repo, &base, &head, "feature/login", &merge)
        .args(["--environment", "pr"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(plan["context"]["sha"], head);
    assert_eq!(plan["context"]["event"], "pull_request");
    assert_eq!(plan["context"]["pr"], PR_NUMBER);
    // The version is the PR head's, not the merge commit's (which has main's 0.9.0).
    assert_eq!(
        tags(&plan, "api"),
        ["pr-v0.8.8".to_string(), format!("pr-{head}")]
    );
    assert_eq!(
        tags(&plan, "preview")[..3],
        [
            "br-feature-login".to_string(),
            format!("pr-{PR_NUMBER}"),
            format!("sha-{}", &head[..12])
        ]
    );
    let preview = labels(&plan, "preview");
    assert_eq!(preview["org.opencontainers.image.revision"], head);
    assert_eq!(preview["git.commit"], head);
    assert_eq!(preview["git.branch"], "feature/login");
    assert!(!run.stdout.contains(&merge), "{run:#?}");
    run.summary_has(&format!(
        "pull request \\#{PR_NUMBER}: tags and labels use its head commit {}, not the merge commit GITHUB\\_SHA",
        short(&head)
    ));
}

#[test]
fn a_literal_template_that_can_never_be_a_tag_is_refused_with_the_reason() {
    let config = TAGS_CONFIG.replace("\"{environment}-latest\"", "\"release/v{version}\"");
    let repo = tags_repo().config(&config).commit("bad tag");
    let (line, column) = position(
        &config,
        "\"release/v{version}\"",
        "\"{environment}-{sha}\", ",
    );

    let run = Shipgate::new(&repo)
        .args(["plan", "--services", "api"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .run()
        .code(2);
    run.stderr_line(
        &format!(".github/shipgate.yml:{line}:{column}: error: "),
        &["tag template `release/v{version}` contains '/', which a tag can never hold"],
    );
}

#[test]
fn a_service_with_only_mutable_tags_gets_a_warning() {
    let config = TAGS_CONFIG.replace(
        "\"br-{branch}\", \"pr-{pr}\", \"sha-{sha:12}\", \"run-{run_number}\", \"d-{date:%Y%m%d}\"",
        "\"{branch}\", \"latest\"",
    );
    let repo = tags_repo().config(&config).commit("mutable");
    let run = plan_head(&repo)
        .args(["--services", "all", "--environment", "prod"])
        .run()
        .success();
    let warnings = annotations(&run, "warning");
    assert_eq!(warnings.len(), 1, "{run:#?}");
    assert!(
        warnings[0].contains("service `preview` only gets mutable tags (main, latest)"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("IfNotPresent"), "{}", warnings[0]);
    let plan = plan_of(&run);
    assert_eq!(service(&plan, "preview")["mutable_only"], true);
    assert_eq!(service(&plan, "web")["mutable_only"], false);
}

// ---------------------------------------------------------------------------------------------
// Labels: docker/metadata-action parity

const LABELS_CONFIG: &str = r#"version: 1
defaults:
  registry: ghcr.io/octocat
services:
  app:
    paths: ["app/**"]
    image: app
    version: { git-tag: "v*" }
    tags: ["{branch}", "sha-{sha7}"]
  release:
    paths: ["app/**"]
    image: release
    version: { git-tag: "v*" }
    tags: ["{version}", "sha-{sha7}"]
  preview:
    paths: ["app/**"]
    image: preview
    tags: ["pr-{pr}", "sha-{sha7}"]
"#;

fn labels_repo() -> TestRepo {
    TestRepo::new()
        .config(LABELS_CONFIG)
        .file("app/main.go", "package main\n")
        .commit("init")
        .tag("v1.0.0")
}

/// The labels metadata-action writes for these values (the parity keys only).
fn metadata_action_labels(sha: &str, version: &str, url: &str) -> BTreeMap<String, String> {
    BTreeMap::from(
        [
            (
                "org.opencontainers.image.created",
                "2020-01-10T00:30:00.000Z",
            ),
            ("org.opencontainers.image.revision", sha),
            ("org.opencontainers.image.source", url),
            ("org.opencontainers.image.url", url),
            ("org.opencontainers.image.version", version),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

fn assert_parity(labels: &BTreeMap<String, String>, expected: &BTreeMap<String, String>) {
    for (key, value) in expected {
        assert_eq!(labels.get(key), Some(value), "label {key}\n{labels:#?}");
    }
}

#[test]
fn labels_match_metadata_action_on_a_push_to_a_branch() {
    // metadata-action's `push_dev` case: refs/heads/dev, `type=ref,event=branch` → version `dev`.
    let repo = labels_repo();
    let base = repo.sha("HEAD");
    let repo = repo
        .branch("dev")
        .file("app/main.go", "package main // dev\n")
        .commit("dev");
    let sha = repo.sha("HEAD");

    let run = plan_push(&repo, "dev", &base, &sha)
        .env("SOURCE_DATE_EPOCH", METADATA_ACTION_EPOCH)
        .env("GITHUB_REPOSITORY", "octocat/Hello-World")
        .run()
        .success();
    let plan = plan_of(&run);
    let app = labels(&plan, "app");
    assert_parity(
        &app,
        &metadata_action_labels(&sha, "dev", "https://github.com/octocat/Hello-World"),
    );
    assert_eq!(app["org.opencontainers.image.title"], "app");
    assert_eq!(app["org.opencontainers.image.ref.name"], "dev");
    assert_eq!(app["git.commit"], sha);
    assert_eq!(app["git.branch"], "dev");
    assert_eq!(app["build.date"], "2020-01-10T00:30:00.000Z");
    // `version` is always the service's own first tag.
    assert_eq!(
        labels(&plan, "release")["org.opencontainers.image.version"],
        "1.0.0"
    );
    assert_eq!(
        labels(&plan, "release")["org.opencontainers.image.title"],
        "release"
    );
}

#[test]
fn labels_match_metadata_action_on_a_tag_push() {
    // metadata-action's semver case: refs/tags/v1.1.1, `type=semver,pattern={{version}}` →
    // version `1.1.1`. The checkout is detached at the tag, as actions/checkout leaves it.
    let repo = labels_repo()
        .file("app/main.go", "package main // 1.1.1\n")
        .commit("release 1.1.1")
        .tag("v1.1.1");
    let sha = repo.sha("v1.1.1");
    let repo = repo.checkout(&sha);

    let run = Shipgate::new(&repo)
        .arg("plan")
        .event("push", payload::tag_push("v1.1.1", &sha))
        .env("GITHUB_REF", "refs/tags/v1.1.1")
        .env("GITHUB_SHA", &sha)
        .env("GITHUB_REPOSITORY", "octocat/Hello-World")
        // GitHub Enterprise Server: the URL comes from the runner, not github.com.
        .env("GITHUB_SERVER_URL", "https://ghe.example.com")
        .env("SOURCE_DATE_EPOCH", METADATA_ACTION_EPOCH)
        .run()
        .success();
    let plan = plan_of(&run);
    let release = labels(&plan, "release");
    assert_parity(
        &release,
        &metadata_action_labels(&sha, "1.1.1", "https://ghe.example.com/octocat/Hello-World"),
    );
    assert_eq!(release["org.opencontainers.image.title"], "release");
    assert_eq!(
        tags(&plan, "release"),
        ["1.1.1".to_string(), format!("sha-{}", short(&sha))]
    );
    assert_eq!(plan["context"]["ref"], "refs/tags/v1.1.1");
    // A tag is not a branch: `{branch}` is skipped and there is no `git.branch` label.
    assert_eq!(plan["context"]["is_default_branch"], false);
    assert!(!release.contains_key("git.branch"), "{release:#?}");
}

#[test]
fn labels_match_metadata_action_on_a_pull_request() {
    // metadata-action's `type=ref,event=pr` → version `pr-2`; revision is the PR head as with
    // its `DOCKER_METADATA_PR_HEAD_SHA=true` (GITHUB_SHA would be the merge commit).
    let repo = labels_repo();
    let base = repo.sha("HEAD");
    let repo = repo
        .branch("feature")
        .file("app/main.go", "package main // pr\n")
        .commit("pr");
    let head = repo.sha("HEAD");
    let merge = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4";

    let run = plan_pull_request(&repo, &base, &head, "feature", merge)
        .env("GITHUB_REPOSITORY", "octocat/Hello-World")
        .env("SOURCE_DATE_EPOCH", METADATA_ACTION_EPOCH)
        .run()
        .success();
    let plan = plan_of(&run);
    let preview = labels(&plan, "preview");
    assert_parity(
        &preview,
        &metadata_action_labels(&head, "pr-2", "https://github.com/octocat/Hello-World"),
    );
    assert_eq!(preview["org.opencontainers.image.title"], "preview");
}

#[test]
fn custom_labels_override_generated_keys_service_over_defaults() {
    let config = r#"version: 1
defaults:
  labels:
    org.opencontainers.image.vendor: Acme
    org.opencontainers.image.title: Acme service
    org.opencontainers.image.licenses: Apache-2.0
services:
  auth:
    paths: ["auth/**"]
    image: auth
    description: Issues tokens
    labels:
      org.opencontainers.image.title: Auth API
      org.opencontainers.image.source: https://git.example.com/auth
      team: identity
  web:
    paths: ["web/**"]
    image: web
"#;
    let repo = TestRepo::new()
        .config(config)
        .file("auth/a", "1\n")
        .file("web/w", "1\n")
        .commit("init");
    let run = plan_head(&repo)
        .args(["--services", "all"])
        .env("GITHUB_REPOSITORY", "acme/shop")
        .run()
        .success();
    let plan = plan_of(&run);
    let auth = labels(&plan, "auth");
    assert_eq!(auth["org.opencontainers.image.title"], "Auth API");
    assert_eq!(
        auth["org.opencontainers.image.source"],
        "https://git.example.com/auth"
    );
    assert_eq!(
        auth["org.opencontainers.image.url"],
        "https://github.com/acme/shop"
    );
    assert_eq!(auth["org.opencontainers.image.vendor"], "Acme");
    assert_eq!(auth["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(
        auth["org.opencontainers.image.description"],
        "Issues tokens"
    );
    assert_eq!(auth["team"], "identity");
    let web = labels(&plan, "web");
    assert_eq!(web["org.opencontainers.image.title"], "Acme service");
    assert_eq!(
        web["org.opencontainers.image.source"],
        "https://github.com/acme/shop"
    );
    assert!(!web.contains_key("team"));
}

// ---------------------------------------------------------------------------------------------
// {content}

const CONTENT_CONFIG: &str = r#"version: 1
services:
  common:
    paths: ["libs/common/**"]
  auth:
    paths: ["services/auth/**", "!services/auth/**/*.md"]
    depends-on: [common]
    image: auth
    tags: ["c-{content}", "sha-{sha7}"]
    build:
      context: services/auth
      dockerfile: docker/auth.Dockerfile
      args: { NODE_ENV: production }
  web:
    paths: ["services/web/**"]
    image: web
    tags: ["c-{content}"]
"#;

fn content_repo() -> TestRepo {
    TestRepo::new()
        .config(CONTENT_CONFIG)
        .file("libs/common/lib.ts", "export const common = 1;\n")
        .file("services/auth/index.ts", "export const auth = 1;\n")
        .file("services/web/index.ts", "export const web = 1;\n")
        .file("docker/auth.Dockerfile", "FROM node:22\n")
        .file("README.md", "# shop\n")
        .commit("init")
}

/// The `{content}` tags of auth and web at HEAD (plus auth's full plan entry).
fn content_tags(repo: &TestRepo) -> (String, String, Value) {
    let run = plan_head(repo)
        .args(["--services", "auth,web"])
        .run()
        .success();
    let plan = plan_of(&run);
    let auth = service(&plan, "auth").clone();
    (
        tags(&plan, "auth")[0].clone(),
        tags(&plan, "web")[0].clone(),
        auth,
    )
}

#[test]
fn the_content_tag_depends_on_the_build_inputs_only() {
    let repo = content_repo();
    let (auth_1, web_1, entry) = content_tags(&repo);
    // `c-` and the first 16 hex digits of the sha256 digest; skip-existing looks it up.
    let digest = entry["content"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert_eq!(auth_1, format!("c-{}", &digest[..16]));
    assert_eq!(entry["lookup_tag"], auth_1.as_str());

    // Unrelated files (README, an excluded file, another service) change: same auth tag on a
    // new commit.
    let repo = repo
        .file("README.md", "# shop\n\nMore docs.\n")
        .file("services/auth/docs/usage.md", "# Usage\n")
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("docs and web");
    let (auth_2, web_2, entry_2) = content_tags(&repo);
    assert_eq!(auth_2, auth_1, "unrelated files must not change auth's tag");
    assert_ne!(web_2, web_1, "web's own change changes its tag");
    assert_ne!(entry_2["tags"][1], entry["tags"][1], "the sha tag moved");

    // A dependency (depends-on) changes.
    let repo = repo
        .file("libs/common/lib.ts", "export const common = 2;\n")
        .commit("common");
    let (auth_3, web_3, _) = content_tags(&repo);
    assert_ne!(auth_3, auth_2, "a dependency's change changes the tag");
    assert_eq!(web_3, web_2, "web does not depend on common");

    // The Dockerfile (outside the service's paths) changes.
    let repo = repo
        .file("docker/auth.Dockerfile", "FROM node:24\n")
        .commit("node 24");
    let (auth_4, _, _) = content_tags(&repo);
    assert_ne!(auth_4, auth_3, "the Dockerfile's change changes the tag");

    // A build argument changes…
    let repo = repo
        .config(&CONTENT_CONFIG.replace("NODE_ENV: production", "NODE_ENV: development"))
        .commit("dev build");
    let (auth_5, web_5, _) = content_tags(&repo);
    assert_ne!(auth_5, auth_4, "a build argument's change changes the tag");
    assert_eq!(web_5, web_3);

    // …and back: the same inputs give the same tag again, on yet another commit.
    let repo = repo.config(CONTENT_CONFIG).commit("production build");
    let (auth_6, _, _) = content_tags(&repo);
    assert_eq!(auth_6, auth_4, "same content, same tag");
}

#[test]
fn the_content_tag_ignores_uncommitted_edits() {
    let repo = content_repo();
    let (before, _, _) = content_tags(&repo);
    let repo = repo.file("services/auth/index.ts", "export const auth = 99;\n");
    let (after, _, _) = content_tags(&repo);
    assert_eq!(after, before);
}

// ---------------------------------------------------------------------------------------------
// Outputs

/// Services listed out of order; a library; build settings of every kind.
const OUTPUTS_CONFIG: &str = r#"version: 1
defaults:
  registry: registry.example.com/shop
  build:
    args: { BASE: debian }
services:
  zeta:
    paths: ["services/zeta/**"]
    image: zeta
  common:
    paths: ["libs/common/**"]
  billing:
    paths: ["services/billing/**"]
    depends-on: [common]
    image: billing
    build:
      context: services/billing
      dockerfile: docker/billing.Dockerfile
  auth:
    paths: ["services/auth/**"]
    depends-on: [common]
    image: auth
    build:
      context: services/auth
      target: runtime
      args: { NODE_ENV: production }
      platforms: [linux/amd64, linux/arm64]
"#;

fn outputs_repo() -> TestRepo {
    TestRepo::new()
        .config(OUTPUTS_CONFIG)
        .file("libs/common/lib.ts", "export const common = 1;\n")
        .file("services/auth/index.ts", "1\n")
        .file("services/billing/index.ts", "1\n")
        .file("services/zeta/index.ts", "1\n")
        .file("docker/billing.Dockerfile", "FROM scratch\n")
        .commit("init")
}

#[test]
fn the_plan_output_has_the_documented_shape() {
    let repo = outputs_repo();
    let sha = repo.sha("HEAD");
    let run = plan_head(&repo).args(["--services", "all"]).run().success();
    let plan = plan_of(&run);

    assert_eq!(plan["version"], 2);
    let context = &plan["context"];
    assert_eq!(context["sha"], sha);
    assert_eq!(context["ref"], "refs/heads/main");
    assert_eq!(context["event"], "local");
    assert_eq!(context["timestamp"], 1_766_836_944);
    // Sorted by name; the library has no image and is not planned.
    assert_eq!(names(&plan), ["auth", "billing", "zeta"]);

    for entry in plan["services"].as_array().unwrap() {
        for key in ["name", "image", "tags", "refs", "labels", "build", "reason"] {
            assert!(entry.get(key).is_some(), "no `{key}` in {entry:#}");
        }
        for key in ["context", "dockerfile", "target", "args", "platforms"] {
            assert!(
                entry["build"].get(key).is_some(),
                "no build.{key} in {entry:#}"
            );
        }
        let image = entry["image"].as_str().unwrap();
        assert!(!image.contains(':'), "the image has no tag: {image}");
        let refs: Vec<String> = entry["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{image}:{}", t.as_str().unwrap()))
            .collect();
        assert_eq!(entry["refs"], json!(refs));
        assert_eq!(entry["reason"], "selected by --services (all)");
        assert_eq!(
            entry["cause"],
            json!({"kind": "selected", "by": "--services (all)"})
        );
    }

    let auth = service(&plan, "auth");
    assert_eq!(auth["image"], "registry.example.com/shop/auth");
    // No version: `sha-{sha7}-{timestamp}` first, then `sha-{sha7}`.
    assert_eq!(
        auth["tags"],
        json!([
            format!("sha-{}-{EPOCH}", short(&sha)),
            format!("sha-{}", short(&sha))
        ])
    );
    assert_eq!(
        auth["build"],
        json!({
            "context": "services/auth",
            "dockerfile": "services/auth/Dockerfile",
            "target": "runtime",
            "args": {"BASE": "debian", "NODE_ENV": "production"},
            "platforms": ["linux/amd64", "linux/arm64"],
            "builder": "buildx",
            "cache": "fresh",
        })
    );
    assert_eq!(service(&plan, "zeta")["build"]["context"], ".");
    assert_eq!(service(&plan, "zeta")["build"]["dockerfile"], "Dockerfile");
    assert_eq!(service(&plan, "zeta")["build"]["target"], Value::Null);

    // `--format json` prints the same plan on stdout.
    let json_run = plan_cmd_json(&repo);
    assert_eq!(json_run.json(), plan);
}

fn plan_cmd_json(repo: &TestRepo) -> Run {
    plan_head(repo)
        .args(["--services", "all", "--format", "json"])
        .run()
        .success()
}

#[test]
fn matrix_has_one_leg_per_image_and_tags_labels_only_for_a_single_service() {
    let repo = outputs_repo();
    let run = plan_head(&repo).args(["--services", "all"]).run().success();
    let plan = plan_of(&run);
    let matrix = run.output_json("matrix");
    let legs = matrix["include"].as_array().unwrap();
    assert_eq!(legs.len(), 3, "{matrix:#}");
    for (leg, entry) in legs.iter().zip(plan["services"].as_array().unwrap()) {
        assert_eq!(leg["service"], entry["name"]);
        assert_eq!(leg["image"], entry["image"]);
        assert_eq!(leg["primary"], entry["refs"][0]);
        assert_eq!(
            leg["tags"],
            entry["refs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(leg["context"], entry["build"]["context"]);
        assert_eq!(leg["dockerfile"], entry["build"]["dockerfile"]);
    }
    assert_eq!(legs[0]["platforms"], "linux/amd64,linux/arm64");
    assert_eq!(legs[0]["target"], "runtime");
    // Three images: no drop-in `tags`/`labels` for docker/build-push-action.
    assert!(!run.outputs.contains_key("tags"), "{run:#?}");
    assert!(!run.outputs.contains_key("labels"), "{run:#?}");

    // Exactly one image: newline lists.
    let run = plan_head(&repo)
        .args(["--services", "billing"])
        .run()
        .success();
    let plan = plan_of(&run);
    let billing = service(&plan, "billing");
    let refs: Vec<&str> = billing["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(run.output("tags"), refs.join("\n"));
    let expected: Vec<String> = labels(&plan, "billing")
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(run.output("labels"), expected.join("\n"));
    assert!(
        run.output("labels")
            .lines()
            .any(|l| l == "org.opencontainers.image.title=billing")
    );
}

#[test]
fn a_library_change_plans_its_dependents_images_only() {
    let repo = outputs_repo();
    let before = repo.sha("HEAD");
    let repo = repo
        .file("libs/common/lib.ts", "export const common = 2;\n")
        .commit("common");
    let after = repo.sha("HEAD");
    let run = plan_push(&repo, "main", &before, &after).run().success();
    // Detection still reports the library…
    assert_eq!(run.services(), ["auth", "billing", "common"]);
    assert_eq!(run.output("any-changed"), "true");
    // …but the plan and its matrix only have images.
    let plan = plan_of(&run);
    assert_eq!(names(&plan), ["auth", "billing"]);
    let matrix = run.output_json("matrix");
    let legs: Vec<&str> = matrix["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["service"].as_str().unwrap())
        .collect();
    assert_eq!(legs, ["auth", "billing"]);
    assert!(
        service(&plan, "auth")["reason"]
            .as_str()
            .unwrap()
            .contains("libs/common/lib.ts"),
        "{plan:#}"
    );
}

#[test]
fn nothing_to_build_gives_an_empty_plan_and_matrix() {
    let repo = outputs_repo();
    let before = repo.sha("HEAD");
    let repo = repo.file("README.md", "# docs\n").commit("docs");
    let after = repo.sha("HEAD");
    let run = plan_push(&repo, "main", &before, &after).run().success();
    assert_eq!(plan_of(&run)["services"], json!([]));
    assert_eq!(run.output("matrix"), r#"{"include":[]}"#);
    assert_eq!(run.output("any-changed"), "false");
    assert!(!run.outputs.contains_key("tags"));
    run.summary_has("### 📦 Plan: 0 images");
}

#[test]
fn the_bake_file_is_valid_bake_json_with_one_target_per_service() {
    let repo = outputs_repo();
    let run = plan_head(&repo).args(["--services", "all"]).run().success();
    let plan = plan_of(&run);
    let bake = run.output_json("bake-file");

    assert_eq!(
        bake["group"],
        json!({"default": {"targets": ["auth", "billing", "zeta"]}})
    );
    let targets = bake["target"].as_object().unwrap();
    assert_eq!(targets.len(), 3);
    for (name, target) in targets {
        let entry = service(&plan, name);
        assert_eq!(target["context"], entry["build"]["context"]);
        assert_eq!(target["tags"], entry["refs"]);
        assert_eq!(target["labels"], entry["labels"]);
        assert_eq!(target["args"], entry["build"]["args"]);
        // Bake resolves `dockerfile` against `context`.
        let context = target["context"].as_str().unwrap();
        let dockerfile = target["dockerfile"].as_str().unwrap();
        let resolved = std::path::Path::new(context).join(dockerfile);
        let expected = entry["build"]["dockerfile"].as_str().unwrap();
        assert_eq!(
            normalize(&resolved),
            expected,
            "target {name}: {context} + {dockerfile}"
        );
        // Only keys bake knows.
        for key in target.as_object().unwrap().keys() {
            assert!(
                [
                    "context",
                    "dockerfile",
                    "tags",
                    "labels",
                    "args",
                    "target",
                    "platforms"
                ]
                .contains(&key.as_str()),
                "unknown bake key {key}"
            );
        }
    }
    assert_eq!(bake["target"]["auth"]["dockerfile"], "Dockerfile");
    assert_eq!(bake["target"]["auth"]["target"], "runtime");
    assert_eq!(
        bake["target"]["auth"]["platforms"],
        json!(["linux/amd64", "linux/arm64"])
    );
    assert_eq!(
        bake["target"]["billing"]["dockerfile"],
        "../../docker/billing.Dockerfile"
    );
    assert!(bake["target"]["billing"].get("target").is_none());
    assert!(bake["target"]["zeta"].get("platforms").is_none());
}

/// `a/b/../../c` → `c` (lexically, like bake does).
fn normalize(path: &std::path::Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

#[test]
fn image_names_are_lower_cased_and_invalid_ones_are_located_errors() {
    let config = r#"version: 1
defaults:
  registry: GHCR.io/Acme-Corp/
services:
  auth:
    paths: ["auth/**"]
    image: Auth-Service
"#;
    let repo = TestRepo::new()
        .config(config)
        .file("auth/a", "1\n")
        .commit("init");
    let run = plan_head(&repo)
        .args(["--services", "auth"])
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(
        service(&plan, "auth")["image"],
        "ghcr.io/acme-corp/auth-service"
    );
    assert!(
        run.output("tags")
            .starts_with("ghcr.io/acme-corp/auth-service:sha-")
    );

    let config = config.replace("image: Auth-Service", "image: auth:1.0");
    let repo = repo.config(&config).commit("tagged image");
    let (line, column) = position(&config, "image: auth:1.0", "image: ");
    let run = Shipgate::new(&repo)
        .args(["plan", "--services", "auth"])
        .run()
        .code(2);
    run.stderr_line(
        &format!(".github/shipgate.yml:{line}:{column}: error: "),
        &["must not carry a tag; tags come from `tags`"],
    );
}

#[test]
fn an_explicit_head_is_planned_with_a_service_selection() {
    // `--head` names the commit to plan; selecting services must not silently plan HEAD.
    let repo = outputs_repo();
    let first = repo.sha("HEAD");
    let repo = repo.file("services/auth/index.ts", "2\n").commit("auth 2");
    let run = plan_head(&repo)
        .args(["--services", "auth", "--head", &first])
        .run()
        .success();
    assert_eq!(plan_of(&run)["context"]["sha"], first);
}

#[test]
fn a_new_branch_push_plans_its_commits_against_the_default_branch() {
    let repo = outputs_repo();
    let repo = repo
        .branch("users/octocat/billing")
        .file("services/billing/index.ts", "2\n")
        .commit("billing");
    let head = repo.sha("HEAD");
    let run = plan_push(&repo, "users/octocat/billing", ZERO_SHA, &head)
        .run()
        .success();
    let plan = plan_of(&run);
    assert_eq!(names(&plan), ["billing"]);
    assert_eq!(plan["context"]["branch"], "users/octocat/billing");
    assert_eq!(plan["context"]["is_default_branch"], false);
}
