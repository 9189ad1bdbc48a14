//! The job summary as a person reads it: its size at 1,000 services, what each section shows once
//! rendered (cmark-gfm, as GitHub and `../shared/tools/render-summary` render it: no literal
//! backticks or backslashes), counts that agree with the tables, and the log saying what the
//! summary says when the deploy stage is skipped.

use crate::support::{Shipgate, TestRepo, payload};
use std::io::Write;
use std::process::{Command, Stdio};

/// The size the issue sets for a 1,000-service dry run with every stage.
const BUDGET: usize = 300 * 1024;

/// The visible text of GFM markdown rendered by cmark-gfm with the options render-summary (and
/// GitHub) use, code blocks left out (their backticks are what the reader is meant to see).
fn visible_text(markdown: &str) -> String {
    let mut child = Command::new("cmark-gfm")
        .args([
            "--unsafe",
            "-e",
            "table",
            "-e",
            "strikethrough",
            "-e",
            "autolink",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cmark-gfm is installed (Debian cmark-gfm; scripts/setup-tools test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(markdown.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let html = String::from_utf8(output.stdout).unwrap();
    let without_pre = regex::Regex::new(r"(?s)<pre[^>]*>.*?</pre>")
        .unwrap()
        .replace_all(&html, "");
    let text = regex::Regex::new(r"<[^>]+>")
        .unwrap()
        .replace_all(&without_pre, "");
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The summary cut into its sections (`### ` headings; the run's title is the first).
fn sections(summary: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in summary.split_inclusive('\n') {
        if line.starts_with("### ") || out.is_empty() {
            out.push((line.trim().to_string(), String::new()));
        }
        out.last_mut().unwrap().1.push_str(line);
    }
    out
}

fn section<'a>(all: &'a [(String, String)], prefix: &str) -> &'a str {
    &all.iter()
        .find(|(h, _)| h.starts_with(prefix))
        .unwrap_or_else(|| panic!("no section {prefix}: {all:?}"))
        .1
}

#[test]
fn a_thousand_service_dry_run_stays_under_300_kb_and_cuts_nothing() {
    let mut config = String::from(
        "version: 1\ndefaults:\n  registry: ghcr.io/acme\nglobal: [\"shared/**\"]\nservices:\n",
    );
    let mut repo = TestRepo::new();
    for i in 0..1000 {
        let name = format!("svc-{i:04}");
        config.push_str(&format!(
            "  {name}:\n    paths: [\"services/{name}/**\"]\n    image: {name}\n    build: {{ context: services/{name} }}\n    deploy: {{ namespace: shop, name: {name} }}\n"
        ));
        repo = repo.file(&format!("services/{name}/Dockerfile"), "FROM scratch\n");
    }
    let repo = repo
        .config(&config)
        .file("shared/lib.txt", "1\n")
        .commit("base")
        .file("shared/lib.txt", "2\n")
        .commit("a change every service sees");
    let run = Shipgate::new(&repo)
        .actions()
        .env("SOURCE_DATE_EPOCH", "1766836944")
        .args(["run", "--dry-run", "--base", "HEAD~1"])
        .run()
        .success();
    let summary = &run.summary;
    eprintln!(
        "the summary of a 1,000-service dry run with every stage: {} bytes ({} KB)",
        summary.len(),
        summary.len().div_ceil(1024)
    );
    assert!(
        summary.len() < BUDGET,
        "{} bytes, over {BUDGET}",
        summary.len()
    );
    assert!(!summary.contains("truncated"), "something was cut");
    let all = sections(summary);
    for (heading, prefix) in [
        ("### 🔍 Changed services: 1000 of 1000", "| **svc-"),
        ("### 📦 Plan: 1000 images", "| **svc-"),
        ("### 🏗️ Build: 1000 images", "| **svc-"),
        ("### 🚀 Deploy: dry run: 1000 services checked", "| svc-"),
    ] {
        let text = section(&all, heading);
        // The collapsed blocks at the bottom follow the last section.
        let text = text.split("<details><summary>Labels").next().unwrap();
        let rows = text.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(rows, 1000, "{heading}: every service has its row");
        assert!(text.len() < BUDGET, "{heading}: {} bytes", text.len());
    }
    // Labels and the plan: one collapsed block each, not one per service.
    assert_eq!(summary.matches("<summary>Labels").count(), 1);
    assert_eq!(summary.matches("<summary>The plan as JSON").count(), 1);
    let labels = &summary[summary.find("<summary>Labels").unwrap()..];
    assert_eq!(
        labels.lines().filter(|l| l.starts_with("| svc-")).count(),
        1000,
        "every image's own labels are listed"
    );
    assert!(summary.contains("It is this step's `plan` output"));
}

#[test]
fn every_section_reads_without_literal_backticks_or_backslashes() {
    let repo = TestRepo::new()
        .config(
            "version: 1\ndefaults:\n  registry: ghcr.io/acme\nbranch-policy:\n  patterns: [\"users/{actor}/{slug}\"]\nservices:\n  lib_common:\n    paths: [\"libs/common/**\"]\n  auth:\n    paths: [\"services/auth/**\"]\n    depends-on: [lib_common]\n    image: auth\n    build: { context: services/auth }\n    deploy: { namespace: shop, name: auth }\n",
        )
        .file("services/auth/Dockerfile", "FROM scratch\n")
        .file("libs/common/a_b.ts", "1\n")
        .commit("base");
    let base = repo.sha("HEAD");
    let repo = repo
        .branch("feature/Shorter_Tokens")
        .file("libs/common/a_b.ts", "2\n")
        .commit("change");
    let head = repo.sha("HEAD");
    let run = Shipgate::new(&repo)
        .event(
            "pull_request",
            payload::pull_request(&base, &head, "feature/Shorter_Tokens", "octocat"),
        )
        .args(["run", "--dry-run"])
        .run();
    let all = sections(&run.summary);
    for heading in [
        "### ❌ Branch name",
        "### 🔍 Changed services",
        "### 📦 Plan",
        "### 🏗️ Build",
        "### 🚀 Deploy",
    ] {
        let text = visible_text(section(&all, heading));
        for bad in ['`', '\\'] {
            assert!(
                !text.contains(bad),
                "{heading} shows a literal {bad} once rendered:\n{text}"
            );
        }
    }
    // The details' titles are HTML: code shows as code there too.
    assert!(
        run.summary
            .contains("<summary>The plan as JSON (the step's <code>plan</code> output)</summary>"),
        "{}",
        run.summary
    );
}

#[test]
fn a_failed_build_says_its_reason_in_its_row_and_the_log_says_the_deploy_was_skipped() {
    let repo = TestRepo::new()
        .config(
            "version: 1\ndefaults:\n  registry: ghcr.io/acme\nservices:\n  auth:\n    paths: [\"services/auth/**\"]\n    image: auth\n    build:\n      context: services/auth\n      builder: command\n      command: [sh, -c, \"echo step one; echo 'ERROR: failed to solve: lockfile is out of date' >&2; exit 3\"]\n    deploy: { namespace: shop, name: auth }\n  web:\n    paths: [\"services/web/**\"]\n    image: web\n    build: { context: services/web, builder: none }\n    deploy: { namespace: shop, name: web }\n",
        )
        .file("services/auth/x", "1\n")
        .file("services/web/x", "1\n")
        .commit("base")
        .file("services/auth/x", "2\n")
        .file("services/web/x", "2\n")
        .commit("change");
    // A cluster that is never reached: the deploy stage must not start.
    let kubeconfig = repo.scratch().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:9\"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let run = Shipgate::new(&repo)
        .actions()
        .env("KUBECONFIG", &kubeconfig)
        .args(["run", "--base", "HEAD~1"])
        .run()
        .code(1);
    let all = sections(&run.summary);
    let build = section(&all, "### 🏗️ Build");
    assert!(build.contains("### 🏗️ Build: ❌ 1 of 2 failed"), "{build}");
    let row = build.lines().find(|l| l.starts_with("| **auth**")).unwrap();
    assert!(
        row.contains("ERROR: failed to solve: lockfile is out of date"),
        "{row}"
    );
    run.summary_has("### 🚀 Deploy: ➖ skipped, because the build of `auth` failed");
    // The step log says it too, once.
    let said = "deploy stage skipped: the build of `auth` failed; nothing was deployed";
    assert_eq!(
        run.stdout.matches(said).count() + run.stderr.matches(said).count(),
        1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}
