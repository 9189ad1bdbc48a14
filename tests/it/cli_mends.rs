//! Small things a person at a terminal meets first: a mistyped `--services` name, the list
//! `--list-files` asks for, `changed_files` in JSON, what `run --help` says about `--dry-run` and
//! `--plan`, a failing kubeconfig exec plugin, and a refused branch name told once.

use crate::support::{Shipgate, TestRepo};

const CONFIG: &str = r#"version: 1
defaults:
  registry: ghcr.io/acme
branch-policy:
  patterns: ["users/{actor}/{slug}"]
services:
  auth:
    paths: ["services/auth/**"]
    image: auth
    deploy: { namespace: shop, name: auth }
  gateway:
    paths: ["services/gateway/**"]
    image: gateway
"#;

fn repo() -> TestRepo {
    TestRepo::new()
        .config(CONFIG)
        .file("services/auth/a.ts", "1\n")
        .file("services/gateway/main.go", "1\n")
        .commit("base")
        .file("services/auth/a.ts", "2\n")
        .file("services/auth/it's here.ts", "2\n")
        .commit("change")
}

#[test]
fn an_unknown_service_name_gets_a_did_you_mean() {
    Shipgate::new(&repo())
        .args(["detect", "--services", "auht,nope"])
        .run()
        .code(2)
        .stderr_has("unknown service(s) in --services: auht (did you mean `auth`?), nope\n");
}

#[test]
fn list_files_prints_the_list_in_a_terminal_and_json_keeps_an_array() {
    let repo = repo();
    Shipgate::new(&repo)
        .args(["detect", "--base", "HEAD~1", "--list-files", "shell"])
        .run()
        .success()
        .stdout_has("\n2 files changed\nservices/auth/a.ts 'services/auth/it'\\''s here.ts'\n");
    let run = Shipgate::new(&repo)
        .args([
            "detect",
            "--base",
            "HEAD~1",
            "--list-files",
            "csv",
            "--format",
            "json",
        ])
        .run()
        .success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["changed_files"],
        serde_json::json!(["services/auth/a.ts", "services/auth/it's here.ts"])
    );
}

#[test]
fn run_help_says_what_dry_run_and_plan_do_in_each_stage() {
    let run = Shipgate::new(&repo())
        .args(["run", "--help"])
        .run()
        .success();
    for line in [
        "build: prints the exact commands",
        "deploy: reads the workloads when a cluster is configured",
        "plan: when this stage runs it plans anew and --plan is not used",
        "deploy: deploys each service's primary tag",
    ] {
        run.stdout_has(line);
    }
    run.stdout_lacks("The plan to build:");
    run.stdout_lacks("Print the exact commands, run nothing.");
}

#[test]
fn a_refused_branch_name_is_told_once_in_a_terminal() {
    let run = Shipgate::new(&repo())
        .args([
            "branch-policy",
            "--branch",
            "feature/Shorter_Tokens",
            "--actor",
            "octocat",
        ])
        .run()
        .code(1);
    let everything = format!("{}{}", run.stdout, run.stderr);
    let told = everything
        .lines()
        .filter(|l| l.contains("feature/Shorter_Tokens") && !l.trim_start().starts_with("git "))
        .count();
    assert_eq!(told, 1, "{everything}");
    run.stdout_has("branch `feature/Shorter_Tokens` is not allowed\n  - it matches none");
}

#[test]
fn a_failing_exec_plugin_reads_as_a_sentence() {
    let repo = repo();
    let kubeconfig = repo.scratch().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        r#"apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: sh
      args: ["-c", "echo '{\"token\":\"do-not-print\"}'; echo 'error: the SSO session has expired' >&2; exit 3"]
      interactiveMode: Never
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"#,
    )
    .unwrap();
    let run = Shipgate::new(&repo)
        .env("KUBECONFIG", &kubeconfig)
        .args(["run", "--stages", "detect,plan,deploy", "--base", "HEAD~1"])
        .run();
    run.stderr_has(
        "cannot authenticate to the cluster: the kubeconfig's exec credential plugin `sh` failed with exit code 3; it said: error: the SSO session has expired",
    );
    run.stderr_lacks("Output {");
    run.stderr_lacks("KUBERNETES_EXEC_INFO");
    run.stderr_lacks("do-not-print");
}
