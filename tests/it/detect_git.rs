//! `shipgate detect` against real git repositories and real webhook payloads.

use crate::support;

use serde_json::json;
use support::{Run, Shipgate, TestRepo, ZERO_SHA, payload};

/// Four services: a library and two services that depend on it, plus an independent one.
const CONFIG: &str = r#"version: 1
global: [".github/shipgate.yml"]
services:
  common: { paths: ["libs/common/**"] }
  auth:
    paths: ["services/auth/**"]
    depends-on: [common]
    image: auth-service
  payments:
    paths: ["services/payments/**"]
    depends-on: [common]
    image: payments
  web:
    paths: ["services/web/**"]
    image: web
"#;

const ALL: [&str; 4] = ["auth", "common", "payments", "web"];

/// A monorepo on `main` with one file per service and a README, in one commit.
fn monorepo() -> TestRepo {
    TestRepo::new()
        .config(CONFIG)
        .file("libs/common/a.rs", "pub fn common() {}\n")
        .file("services/auth/handler.ts", "export const auth = 1;\n")
        .file("services/payments/app.py", "print('pay')\n")
        .file("services/web/index.ts", "export const web = 1;\n")
        .file("README.md", "# monorepo\n")
        .commit("init")
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The `changes` output expected when exactly `changed` are affected.
fn changes(changed: &[&str]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = ALL
        .iter()
        .map(|name| (name.to_string(), json!(changed.contains(name))))
        .collect();
    serde_json::Value::Object(map)
}

fn assert_services(run: &Run, expected: &[&str]) {
    assert_eq!(run.services(), expected, "services output\n{run:#?}");
    assert_eq!(run.output_json("changes"), changes(expected), "{run:#?}");
    assert_eq!(
        run.output("any-changed"),
        (!expected.is_empty()).to_string(),
        "{run:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Pull requests

#[test]
fn a_pull_request_counts_only_its_own_changes_when_main_moved_on() {
    let repo = monorepo()
        .branch("users/octocat/login-fix")
        .file("services/auth/handler.ts", "export const auth = 2;\n")
        .commit("auth: fix login")
        // Meanwhile main receives a merged pull request (web) and a direct commit (common).
        .checkout("main")
        .branch("users/someone/web")
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("web: redesign")
        .checkout("main")
        .merge("users/someone/web")
        .file("libs/common/a.rs", "pub fn common2() {}\n")
        .commit("common: refactor");
    let branch_point = repo.sha("main~2");
    let (base, head) = (repo.sha("main"), repo.sha("users/octocat/login-fix"));

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/login-fix", "octocat"),
        )
        .run()
        .success();

    assert_services(&run, &["auth"]);
    assert_eq!(
        run.output("matrix"),
        r#"{"include":[{"image":"auth-service","service":"auth"}]}"#
    );
    run.stdout_has(&format!(
        "pull request #2: merge-base of base and head, like its \"Files changed\" tab ({}...{}, merge-base {})",
        short(&base),
        short(&head),
        short(&branch_point)
    ))
    .stdout_has("  ● auth      services/auth/handler.ts matched services/auth/**\n")
    .stdout_has("  ○ web       unchanged\n")
    .stdout_has("1 file changed\n");
}

#[test]
fn a_pull_request_that_merged_main_in_still_counts_only_its_own_changes() {
    let repo = monorepo()
        .branch("users/octocat/pay")
        .file("services/payments/app.py", "print('pay v2')\n")
        .commit("payments: v2")
        .checkout("main")
        .file("services/web/index.ts", "export const web = 3;\n")
        .commit("web on main")
        .checkout("users/octocat/pay")
        .merge("main");
    let (base, head) = (repo.sha("main"), repo.sha("users/octocat/pay"));

    let run = Shipgate::new(&repo)
        .args(["detect", "--format", "json"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/pay", "octocat"),
        )
        .run()
        .success();

    assert_services(&run, &["payments"]);
    assert_eq!(run.json_services(), ["payments"]);
    assert_eq!(
        run.json()["files"],
        json!([{"path": "services/payments/app.py", "kind": "modified"}])
    );
    assert_eq!(run.json()["range"]["base"], json!(base));
    assert_eq!(run.json()["range"]["head"], json!(head));
}

#[test]
fn a_pull_request_head_missing_from_the_clone_is_fetched_by_sha() {
    // Like a pull request from a fork: the head commit is on the server, not in the clone.
    let (origin, base, head) = origin_with_a_pull_request();
    let clone = TestRepo::clone_of(&origin, &["--single-branch", "--branch", "main"]);
    assert!(!clone.has_commit(&head));

    let run = Shipgate::new(&clone)
        .args(["detect"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/auth", "octocat"),
        )
        .run()
        .success();

    assert_services(&run, &["auth"]);
    run.stdout_has(&format!("git fetch origin {head}"));
}

#[test]
fn a_pull_request_that_edits_the_config_warns_about_paths_matching_nothing() {
    let repo = monorepo()
        .branch("users/octocat/new-service")
        .config(&format!(
            "{CONFIG}  search:\n    paths: [\"services/serach/**\"]\n    image: search\n"
        ))
        .file("services/search/main.go", "package main\n")
        .commit("add the search service");
    let (base, head) = (repo.sha("main"), repo.sha("HEAD"));

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/new-service", "octocat"),
        )
        .run()
        .success();

    // A config change is global: everything is selected, and the typo is pointed out.
    assert_eq!(
        run.services(),
        ["auth", "common", "payments", "search", "web"]
    );
    run.stdout_line(
        "::warning file=.github/shipgate.yml,line=17,col=13,",
        &["the paths of service `search` match no file in the repository"],
    );
}

// ---------------------------------------------------------------------------------------------
// Pushes

#[test]
fn a_new_branch_push_compares_with_the_merge_base_of_the_default_branch() {
    let repo = monorepo()
        .branch("feature")
        .file("services/payments/app.py", "print('pay 1')\n")
        .commit("payments 1")
        .file("services/payments/app.py", "print('pay 2')\n")
        .commit("payments 2")
        .checkout("main")
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("web moved on");
    let head = repo.sha("feature");
    let branch_point = repo.sha("main~1");

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("push", payload::push("feature", ZERO_SHA, &head))
        .run()
        .success();

    assert_services(&run, &["payments"]);
    run.stdout_has(&format!(
        "range  new branch feature: merge-base with main ({}...{}, merge-base {})",
        short(&repo.sha("main")),
        short(&head),
        short(&branch_point)
    ));
}

#[test]
fn a_push_compares_before_and_after() {
    let repo = monorepo()
        .file("services/auth/handler.ts", "export const auth = 2;\n")
        .commit("auth")
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("web")
        .file("services/payments/app.py", "print('pay 2')\n")
        .commit("payments");
    let (before, after) = (repo.sha("main~2"), repo.sha("main"));

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("push", payload::push("main", &before, &after))
        .run()
        .success();

    assert_services(&run, &["payments", "web"]);
    run.stdout_has(&format!(
        "range  push: before..after ({}..{})",
        short(&before),
        short(&after)
    ))
    .stdout_lacks("::notice");
}

#[test]
fn a_force_push_falls_back_to_the_merge_base_with_the_default_branch() {
    // The branch first changed auth; it was then rewritten to change web instead. A two-dot
    // diff of before..after would list auth (its change was dropped) as well.
    let repo = monorepo()
        .branch("feature")
        .file("services/auth/handler.ts", "export const auth = 2;\n")
        .commit("auth (dropped later)");
    let before = repo.sha("feature");
    let repo = repo
        .checkout("main")
        .reset_branch("feature", "main")
        .checkout("feature")
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("web instead");
    let after = repo.sha("feature");

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("push", payload::force_push("feature", &before, &after))
        .run()
        .success();

    assert_services(&run, &["web"]);
    run.stdout_line(
        "::notice ",
        &[&format!(
            "force push: {} is not an ancestor of {}; changes are computed against the merge-base with main",
            short(&before),
            short(&after)
        )],
    );
}

#[test]
fn a_force_push_whose_old_tip_is_gone_also_uses_the_default_branch() {
    let repo = monorepo()
        .branch("feature")
        .file("services/payments/app.py", "print('pay 2')\n")
        .commit("payments");
    let after = repo.sha("feature");
    let gone = "1111111111111111111111111111111111111111";

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("push", payload::force_push("feature", gone, &after))
        .run()
        .success();

    assert_services(&run, &["payments"]);
    run.stdout_line(
        "::notice ",
        &["the previous tip 1111111 no longer exists (force push)"],
    );
}

// ---------------------------------------------------------------------------------------------
// Shallow clones

/// An origin with history on both sides of a pull request, served to shallow clones.
/// main: init ← web 1 ← web 2 ← web 3; the PR branch: init ← auth.
fn origin_with_a_pull_request() -> (TestRepo, String, String) {
    let origin = monorepo()
        .branch("users/octocat/auth")
        .file("services/auth/handler.ts", "export const auth = 2;\n")
        .commit("auth")
        .checkout("main")
        .file("services/web/index.ts", "1\n")
        .commit("web 1")
        .file("services/web/index.ts", "2\n")
        .commit("web 2")
        .file("services/web/index.ts", "3\n")
        .commit("web 3")
        .set_config("uploadpack.allowAnySHA1InWant", "true")
        .set_config("uploadpack.allowFilter", "true");
    let base = origin.sha("main");
    let head = origin.sha("users/octocat/auth");
    (origin, base, head)
}

/// What `actions/checkout` leaves for a pull request: a depth-1 clone with the PR head checked
/// out at depth 1.
fn shallow_checkout(origin: &TestRepo, head: &str) -> TestRepo {
    let clone = TestRepo::clone_of(origin, &["--depth", "1", "--branch", "main"]);
    clone.git(["fetch", "-q", "--depth", "1", "origin", head]);
    let clone = clone.checkout(head);
    assert!(clone.is_shallow());
    assert!(
        !clone.has_commit(&origin.sha("main~3")),
        "the branch point must be missing from the clone"
    );
    clone
}

#[test]
fn a_shallow_clone_is_deepened_until_the_merge_base_is_found() {
    let (origin, base, head) = origin_with_a_pull_request();
    let clone = shallow_checkout(&origin, &head);

    let run = Shipgate::new(&clone)
        .args(["detect"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/auth", "octocat"),
        )
        .run()
        .success();

    assert_services(&run, &["auth"]);
    run.stdout_has("::group::shipgate: fetched history\n")
        .stdout_has(&format!("git fetch --deepen=32 origin {base} {head}"))
        .stdout_has(&format!("merge-base {}", short(&origin.sha("main~3"))))
        .stdout_lacks("::warning");
    assert!(clone.has_commit(&origin.sha("main~3")));
}

#[test]
fn a_shallow_clone_without_its_remote_selects_every_service_with_a_warning() {
    let (origin, base, head) = origin_with_a_pull_request();
    let clone = shallow_checkout(&origin, &head);
    clone.git(["remote", "remove", "origin"]);

    let run = Shipgate::new(&clone)
        .args(["detect"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/auth", "octocat"),
        )
        .run()
        .success();

    assert_services(&run, &ALL);
    run.stdout_line(
        "::warning ",
        &[
            &format!(
                "no merge-base of {} ({}) and {} ({}) in the clone: every service is selected",
                short(&base),
                short(&base),
                short(&head),
                short(&head)
            ),
            "fetch-depth: 0",
        ],
    )
    .stdout_lacks("shipgate: fetched history");
}

#[test]
fn a_shallow_clone_whose_remote_is_unreachable_fails_with_on_missing_history_error() {
    let (origin, base, head) = origin_with_a_pull_request();
    let clone = shallow_checkout(&origin, &head);
    let missing = clone.scratch().join("no-such-origin");
    clone.git(["remote", "set-url", "origin", &missing.to_string_lossy()]);

    let run = Shipgate::new(&clone)
        .args(["detect", "--on-missing-history", "error"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/auth", "octocat"),
        )
        .run()
        .code(2);

    run.stdout_line(
        "::error ",
        &[
            "title=shipgate detect::",
            &format!(
                "no merge-base of {} ({}) and {} ({}) in the clone (on-missing-history: error)",
                short(&base),
                short(&base),
                short(&head),
                short(&head)
            ),
        ],
    )
    .summary_has("### ❌ shipgate could not run")
    .no_outputs();
}

#[test]
fn a_push_to_a_shallow_clone_fetches_the_previous_tip() {
    let (origin, _, _) = origin_with_a_pull_request();
    let (before, after) = (origin.sha("main~2"), origin.sha("main"));
    let clone = TestRepo::clone_of(&origin, &["--depth", "1", "--branch", "main"]);
    assert!(!clone.has_commit(&before));

    let run = Shipgate::new(&clone)
        .args(["detect"])
        .event("push", payload::push("main", &before, &after))
        .run()
        .success();

    assert_services(&run, &["web"]);
    run.stdout_has("::group::shipgate: fetched history\n")
        .stdout_has(&format!(
            "range  push: before..after ({}..{})",
            short(&before),
            short(&after)
        ));
}

#[test]
fn a_new_branch_pushed_to_a_single_branch_shallow_clone_fetches_the_default_branch() {
    let (origin, _, head) = origin_with_a_pull_request();
    let clone = TestRepo::clone_of(
        &origin,
        &[
            "--depth",
            "1",
            "--single-branch",
            "--branch",
            "users/octocat/auth",
        ],
    );

    let run = Shipgate::new(&clone)
        .args(["detect"])
        .event("push", payload::push("users/octocat/auth", ZERO_SHA, &head))
        .run()
        .success();

    assert_services(&run, &["auth"]);
    run.stdout_has("git fetch --depth=32 origin +refs/heads/main:refs/remotes/origin/main");
}

#[test]
fn a_local_run_compares_head_with_the_default_branch() {
    let repo = monorepo()
        .branch("work")
        .file("services/payments/app.py", "print('local')\n")
        .commit("local work")
        .checkout("main")
        .file("services/web/index.ts", "export const web = 5;\n")
        .commit("main moved on")
        .checkout("work");

    let run = Shipgate::new(&repo).args(["detect"]).run().success();

    run.stdout_has("range  local run: merge-base with the default branch (")
        .stdout_has("  ● payments  services/payments/app.py matched services/payments/**\n")
        .stdout_has("  ○ web       unchanged\n");
}

#[test]
fn deepening_stops_at_max_fetch_depth_and_then_selects_everything() {
    let (origin, base, head) = origin_with_a_pull_request();
    // The branch point is 3 commits below main's tip; allow deepening by 2 only.
    let clone = shallow_checkout(&origin, &head)
        .config(&CONFIG.replace("services:\n", "detect: { max-fetch-depth: 2 }\nservices:\n"));

    let run = Shipgate::new(&clone)
        .args(["detect"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/auth", "octocat"),
        )
        .run()
        .success();

    assert_services(&run, &ALL);
    run.stdout_has(&format!("git fetch --deepen=2 origin {base} {head}"))
        .stdout_lacks("--deepen=32")
        .stdout_line("::warning ", &["in the clone: every service is selected"]);
}

// ---------------------------------------------------------------------------------------------
// What counts as a change

#[test]
fn a_rename_across_services_counts_for_both() {
    let repo = monorepo()
        .branch("move")
        .rename("services/auth/handler.ts", "services/web/handler.ts")
        .commit("move the handler to web");

    let run = Shipgate::new(&repo)
        .args(["detect", "--base", "main", "--format", "json"])
        .run()
        .success();

    assert_eq!(run.json_services(), ["auth", "web"]);
    assert_eq!(
        run.json()["files"],
        json!([
            {"path": "services/auth/handler.ts", "kind": "deleted"},
            {"path": "services/web/handler.ts", "kind": "added"},
        ])
    );
}

#[test]
fn a_deletion_counts() {
    let repo = monorepo()
        .branch("cleanup")
        .remove("services/payments/app.py")
        .commit("drop the payments app");

    let run = Shipgate::new(&repo)
        .args(["detect", "--base", "main"])
        .actions()
        .run()
        .success();

    assert_services(&run, &["payments"]);
    run.stdout_has("services/payments/app.py matched services/payments/**")
        .stdout_has("D services/payments/app.py\n");
}

#[test]
fn nothing_changed_gives_empty_but_valid_outputs() {
    let repo = monorepo()
        .branch("docs")
        .file("README.md", "# monorepo\n\nMore words.\n")
        .commit("docs");

    let run = Shipgate::new(&repo)
        .args(["detect", "--base", "main"])
        .actions()
        .run()
        .success();

    assert_eq!(run.output("services"), "[]");
    assert_eq!(run.output("matrix"), r#"{"include":[]}"#);
    assert_eq!(run.output("any-changed"), "false");
    assert_eq!(run.output_json("changes"), changes(&[]));
    run.stdout_has("0 of 4 services changed\n")
        .summary_has("### 🔍 Changed services: none of 4")
        .summary_has("<summary>Unchanged services (4)</summary>");
}

#[test]
fn a_global_path_selects_every_service() {
    let repo = monorepo()
        .branch("tune-config")
        .config(&format!("{CONFIG}# a comment\n"))
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("touch the config and web");

    let run = Shipgate::new(&repo)
        .args(["detect", "--base", "main"])
        .actions()
        .run()
        .success();

    assert_services(&run, &ALL);
    run.summary_has(
        "| **auth** | `auth-service` | global: `.github/shipgate.yml` matched `.github/shipgate.yml` |",
    )
    // A service's own change explains it better than the global one.
    .summary_has("| **web** | `web` | `services/web/index.ts` matched `services/web/**` |");
}

#[test]
fn a_tag_push_selects_every_service_with_a_notice() {
    let repo = monorepo()
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("release")
        .tag("v1.2.3");

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("push", payload::tag_push("v1.2.3", &repo.sha("v1.2.3")))
        .run()
        .success();

    assert_services(&run, &ALL);
    run.stdout_line(
        "::notice ",
        &["tag push (refs/tags/v1.2.3): every service is selected"],
    )
    .summary_has("all services: tag push (refs/tags/v1.2.3)");
}

#[test]
fn deleting_a_tag_selects_nothing() {
    let repo = monorepo();
    let mut event = payload::fixture("push.tag");
    event["before"] = json!(repo.sha("main"));
    event["repository"]["default_branch"] = json!("main");

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("push", event)
        .run()
        .success();

    assert_services(&run, &[]);
}

#[test]
fn deleting_a_branch_selects_nothing() {
    let repo = monorepo();
    let mut event = payload::push("gone", &repo.sha("main"), ZERO_SHA);
    event["deleted"] = json!(true);

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("push", event)
        .run()
        .success();

    assert_services(&run, &[]);
    run.stdout_line(
        "::notice ",
        &["branch refs/heads/gone was deleted: no service changed"],
    );
}

#[test]
fn a_scheduled_run_selects_every_service() {
    let repo = monorepo();

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("schedule", payload::schedule())
        .run()
        .success();

    assert_services(&run, &ALL);
    run.stdout_line("::notice ", &["scheduled run: every service is selected"]);
}

#[test]
fn a_merge_group_compares_base_sha_to_head_sha() {
    // main: init ← payments. The queue holds two pull requests on top: auth, then web.
    let repo = monorepo()
        .file("services/payments/app.py", "print('pay 2')\n")
        .commit("payments on main")
        .branch("gh-readonly-queue/main/pr-104")
        .file("services/auth/handler.ts", "export const auth = 2;\n")
        .commit("Merge pull request #103")
        .file("services/web/index.ts", "export const web = 2;\n")
        .commit("Merge pull request #104");
    let (base, head) = (repo.sha("main"), repo.sha("gh-readonly-queue/main/pr-104"));

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event("merge_group", payload::merge_group(&base, &head))
        .run()
        .success();

    assert_services(&run, &["auth", "web"]);
    run.stdout_has(&format!(
        "range  merge queue: base_sha..head_sha ({}..{})",
        short(&base),
        short(&head)
    ));
}

// ---------------------------------------------------------------------------------------------
// Explicit selections

#[test]
fn workflow_dispatch_services_input_selects_exactly_those() {
    let repo = monorepo();

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event(
            "workflow_dispatch",
            payload::workflow_dispatch(json!({"services": "auth,web"})),
        )
        .run()
        .success();

    // common (a dependency of auth) is not pulled in: a selection is exact.
    assert_services(&run, &["auth", "web"]);
    assert_eq!(
        run.output("matrix"),
        r#"{"include":[{"image":"auth-service","service":"auth"},{"image":"web","service":"web"}]}"#
    );
    run.summary_has(
        "| **auth** | `auth-service` | selected by the workflow\\_dispatch input \\`services\\` |",
    );
}

#[test]
fn workflow_dispatch_selecting_a_library_does_not_pull_in_its_dependents() {
    let repo = monorepo();

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event(
            "workflow_dispatch",
            payload::workflow_dispatch(json!({"services": "common"})),
        )
        .run()
        .success();

    assert_services(&run, &["common"]);
}

#[test]
fn workflow_dispatch_with_an_unknown_service_lists_the_known_ones() {
    let repo = monorepo();

    let run = Shipgate::new(&repo)
        .args(["detect"])
        .event(
            "workflow_dispatch",
            payload::workflow_dispatch(json!({"services": "auth,nope"})),
        )
        .run()
        .code(2);

    run.stdout_line(
        "::error ",
        &[
            "unknown service(s) in the workflow_dispatch input `services`: nope",
            "configured services: auth, common, payments, web (or `all`)",
        ],
    )
    .no_outputs();
}

#[test]
fn services_all_selects_everything() {
    let repo = monorepo();

    let run = Shipgate::new(&repo)
        .args(["detect", "--services", "all"])
        .actions()
        .run()
        .success();

    assert_services(&run, &ALL);
    run.stdout_has("  ● common    selected by --services (all)\n");
}

// ---------------------------------------------------------------------------------------------
// Outputs

/// File names that break naive CSV, shell and JSON handling.
const HOSTILE: [&str; 8] = [
    "services/web/a b.ts",
    "services/web/it's \"quoted\".ts",
    "services/web/$HOME.ts",
    "services/web/a,b.ts",
    "services/web/`id`;[x]*.ts",
    "services/web/tab\there.ts",
    "services/web/new\nline.ts",
    "services/web/-n",
];

fn hostile_repo() -> TestRepo {
    let mut repo = monorepo().branch("hostile");
    for name in HOSTILE {
        repo = repo.file(name, "x\n");
    }
    repo.commit("hostile names")
}

fn sorted_hostile() -> Vec<String> {
    let mut names: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}

fn list_files(repo: &TestRepo, format: &str) -> Run {
    Shipgate::new(repo)
        .args(["detect", "--base", "main", "--list-files", format])
        .actions()
        .run()
        .success()
}

/// One RFC 4180 record (a quoted field may hold a line break).
fn parse_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if field.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[test]
fn list_files_json_round_trips_hostile_names() {
    let repo = hostile_repo();
    let run = list_files(&repo, "json");
    let files: Vec<String> = serde_json::from_str(run.output("changed-files")).unwrap();
    assert_eq!(files, sorted_hostile());
    assert_services(&run, &["web"]);
}

#[test]
fn list_files_csv_round_trips_hostile_names() {
    let repo = hostile_repo();
    let run = list_files(&repo, "csv");
    assert_eq!(
        parse_csv_line(run.output("changed-files")),
        sorted_hostile()
    );
}

#[test]
fn list_files_shell_round_trips_hostile_names_through_sh() {
    let repo = hostile_repo();
    let run = list_files(&repo, "shell");
    let value = run.output("changed-files");
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            r#"eval "set -- $1"; for f in "$@"; do printf '%s\0' "$f"; done"#,
            "sh",
            value,
        ])
        .env("HOME", "/should-not-appear")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let words: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_string)
        .collect();
    assert_eq!(words, sorted_hostile(), "value: {value}");
}

#[test]
fn outputs_parse_back_exactly_and_the_summary_explains_dependencies() {
    let repo = monorepo()
        .branch("users/octocat/common")
        .file("libs/common/a.rs", "pub fn common2() {}\n")
        .commit("common: v2");
    let (base, head) = (repo.sha("main"), repo.sha("HEAD"));

    let run = Shipgate::new(&repo)
        .args(["detect", "--list-files", "json"])
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "users/octocat/common", "octocat"),
        )
        .run()
        .success();

    assert_eq!(
        run.outputs_in_order,
        [
            "services",
            "changes",
            "matrix",
            "any-changed",
            "changed-files"
        ]
    );
    assert_eq!(run.output("services"), r#"["auth","common","payments"]"#);
    assert_eq!(
        run.output("changes"),
        r#"{"auth":true,"common":true,"payments":true,"web":false}"#
    );
    assert_eq!(
        run.output("matrix"),
        r#"{"include":[{"image":"auth-service","service":"auth"},{"service":"common"},{"image":"payments","service":"payments"}]}"#
    );
    assert_eq!(run.output("any-changed"), "true");
    assert_eq!(run.output("changed-files"), r#"["libs/common/a.rs"]"#);

    run.summary_has("### 🔍 Changed services: 3 of 4")
        .summary_has("| Service | Image | Why |\n| --- | --- | --- |\n")
        .summary_has("| **common** | library | `libs/common/a.rs` matched `libs/common/**` |")
        .summary_has("| **payments** | `payments` | payments ← common ← `libs/common/a.rs` |")
        .summary_has("| **auth** | `auth-service` | auth ← common ← `libs/common/a.rs` |")
        .summary_has("```mermaid\nflowchart LR\n")
        .summary_has("<summary>Unchanged services (1)</summary>\n\nweb")
        .summary_has("- `M` `libs/common/a.rs`")
        .stdout_has("  ● payments  payments ← common ← libs/common/a.rs\n");
}

#[test]
fn json_format_keeps_stdout_pure_json_in_actions() {
    let repo = monorepo()
        .branch("b")
        .file("services/auth/handler.ts", "export const auth = 3;\n")
        .commit("auth");

    let run = Shipgate::new(&repo)
        .args(["detect", "--base", "main", "--format", "json"])
        .actions()
        .run()
        .success();

    assert_eq!(run.json_services(), ["auth"]);
    assert_eq!(run.json()["any_changed"], json!(true));
    assert_eq!(run.json()["matrix"], run.output_json("matrix"));
    run.stderr_has("::group::shipgate: 1 changed files");
}

// ---------------------------------------------------------------------------------------------
// Where the config is

#[test]
fn a_relative_config_is_resolved_against_repo() {
    let repo = monorepo()
        .file("ci/shipgate.yml", CONFIG)
        .commit("a second config location")
        .branch("b")
        .file("services/web/index.ts", "export const web = 9;\n")
        .commit("web");
    // Run from outside the repository: `ci/shipgate.yml` only exists relative to --repo.
    let elsewhere = repo.scratch().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    let run = Shipgate::in_dir(&elsewhere, repo.home())
        .arg("detect")
        .arg("--repo")
        .arg(repo.path())
        .args(["--config", "ci/shipgate.yml", "--base", "main"])
        .actions()
        .run()
        .success();

    assert_services(&run, &["web"]);
}

#[test]
fn a_relative_config_error_is_annotated_relative_to_the_repository() {
    let repo = monorepo()
        .file(
            "ci/shipgate.yml",
            "version: 1\nservices:\n  web:\n    pathz: [a/**]\n",
        )
        .commit("a broken config");
    let elsewhere = repo.scratch().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    Shipgate::in_dir(&elsewhere, repo.home())
        .arg("detect")
        .arg("--repo")
        .arg(repo.path())
        .args(["--config", "ci/shipgate.yml", "--base", "main"])
        .actions()
        .run()
        .code(2)
        .stdout_line(
            "::error file=ci/shipgate.yml,line=4,col=5,",
            &["unknown key `pathz`; did you mean `paths`?"],
        );
}
