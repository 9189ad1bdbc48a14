//! Generated-input fuzzing (cargo-fuzz needs nightly; this is a proptest-driven generator run for
//! a bounded time): config loading, event payloads, kubeconfig decoding and plan loading must end
//! in "success, or exit 2 with a message", never a panic.
//!
//! Each target builds inputs from the shape of the real thing (known keys, valid documents) with
//! hostile leaves (huge and deeply nested globs, line breaks, workflow commands, non-ASCII,
//! wrong types) and random cuts, runs the library entry point in bulk and the real binary for a
//! sample. Time: `SHIPGATE_FUZZ_SECONDS` (default 40) split over the four targets, which the
//! test harness runs in parallel; `SHIPGATE_FUZZ_SEED` replays a run (each failure prints its
//! seed and input).

use crate::support;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};
use support::{Shipgate, TestRepo};

const TARGETS: u32 = 4;
/// One in this many generated inputs also goes through the real binary.
const BINARY_EVERY: u64 = 40;

fn budget() -> Duration {
    let total: f64 = std::env::var("SHIPGATE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40.0);
    Duration::from_secs_f64((total / f64::from(TARGETS)).max(0.0))
}

fn seed() -> u64 {
    std::env::var("SHIPGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Random choices from proptest's generator, replayable from a seed.
struct Gen {
    runner: TestRunner,
}

impl Gen {
    fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        Gen {
            runner: TestRunner::new_with_rng(Config::default(), rng),
        }
    }

    fn draw<S: Strategy>(&mut self, strategy: S) -> S::Value {
        strategy
            .new_tree(&mut self.runner)
            .map(|tree| tree.current())
            .expect("the strategy generates")
    }

    fn below(&mut self, n: usize) -> usize {
        if n <= 1 { 0 } else { self.draw(0..n) }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A hostile string: known troublemakers, arbitrary text, or both glued together.
    fn text(&mut self) -> String {
        let hostile: &[&str] = &[
            "",
            " ",
            "\n",
            "a\nb",
            "x\r\n",
            "{",
            "}",
            "{a,{b,{c",
            "**",
            "a**b",
            "[",
            "[!",
            "[]",
            "[[:alpha:]]",
            "!(x)",
            "+(a|b)",
            "{1..3}",
            "(a|b)",
            "\\",
            "é",
            "日本",
            "🚀",
            "%0A",
            "::add-mask::x",
            "##[error]x",
            "-",
            ".",
            "..",
            "/",
            "//",
            "~",
            "&a",
            "*a",
            "!!binary",
            "? x",
            "'",
            "\"",
            "\t",
            "\u{0}",
            "\u{2028}",
            "-1",
            "1e400",
            "99999999999999999999",
            "true",
            "null",
            "1.2",
            "v1.2",
            "users/x/y",
            "release/1.2",
            "@{",
            "a.lock",
            "https://",
            "http://127.0.0.1:1",
            "localhost:6443",
            "{version}",
            "{date:}",
            "{nope}",
            "{sha:99}",
            "{branch}-{version}",
        ];
        match self.below(6) {
            0 => self.draw("\\PC{0,24}"),
            1 => {
                let piece = self.pick(hostile).to_string();
                piece.repeat(1 + self.below(3000))
            }
            2 => format!(
                "{}{}{}",
                "{a,".repeat(self.below(300)),
                self.pick(hostile),
                "}".repeat(self.below(300))
            ),
            3 => format!("{}{}", self.pick(hostile), self.draw("\\PC{0,8}")),
            _ => self.pick(hostile).to_string(),
        }
    }

    /// A JSON leaf of any type, usually a hostile string.
    fn leaf(&mut self) -> Value {
        match self.below(8) {
            0 => json!(self.draw(proptest::num::i64::ANY)),
            1 => json!(self.chance(2)),
            2 => Value::Null,
            3 => json!([self.text(), self.text()]),
            4 => json!({ self.text(): self.text() }),
            _ => json!(self.text()),
        }
    }

    /// `value` with some leaves replaced, keys dropped or added (from `keys`), lists grown.
    fn mutate(&mut self, value: &Value, keys: &[&str], depth: usize) -> Value {
        if depth > 8 || self.chance(12) {
            return self.leaf();
        }
        match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, child) in map {
                    if self.chance(10) {
                        continue;
                    }
                    out.insert(key.clone(), self.mutate(child, keys, depth + 1));
                }
                if self.chance(4) {
                    let key = if self.chance(3) {
                        self.text()
                    } else {
                        self.pick(keys).to_string()
                    };
                    out.insert(key, self.leaf());
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out: Vec<Value> = items
                    .iter()
                    .map(|item| self.mutate(item, keys, depth + 1))
                    .collect();
                for _ in 0..self.below(3) {
                    out.push(self.leaf());
                }
                Value::Array(out)
            }
            _ => {
                if self.chance(3) {
                    self.leaf()
                } else {
                    value.clone()
                }
            }
        }
    }

    /// The document as text: JSON (which is YAML), sometimes cut or with a byte changed.
    fn render(&mut self, value: &Value) -> String {
        if self.chance(3) {
            return serde_json::to_string_pretty(value).unwrap_or_default();
        }
        let mut text = if self.chance(2) {
            serde_json::to_string(value).unwrap_or_default()
        } else {
            serde_json::to_string_pretty(value).unwrap_or_default()
        };
        if self.chance(6) {
            let mut cut = self.below(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        if self.chance(6) {
            let mut at = self.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let insert = self.text();
            text.insert_str(at, &insert);
        }
        text
    }
}

thread_local! {
    static INPUT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Records the input about to be tried, so a panic can show it.
fn note(input: &str) {
    INPUT.with(|current| *current.borrow_mut() = input.to_string());
}

/// Runs `case` on generated inputs until the time budget is spent; a panic fails the test with
/// the seed and the input (`case` calls [`note`] before using it).
fn fuzz(name: &str, mut case: impl FnMut(&mut Gen, u64)) {
    let seed = seed();
    let mut generator = Gen::new(seed);
    let deadline = Instant::now() + budget();
    let mut count = 0u64;
    while Instant::now() < deadline || count == 0 {
        let outcome = catch_unwind(AssertUnwindSafe(|| case(&mut generator, count)));
        if outcome.is_err() {
            let input = INPUT.with(|current| current.borrow().clone());
            let shown: String = input.chars().take(3000).collect();
            panic!(
                "fuzz target `{name}` panicked after {count} inputs (replay with SHIPGATE_FUZZ_SEED={seed}) on:\n{shown:?}"
            );
        }
        count += 1;
    }
    eprintln!("fuzz target `{name}`: {count} inputs, seed {seed}");
}

/// Asserts the binary ended with a documented code and, for 2, said why.
fn assert_clean_exit(run: &support::Run, input: &str) {
    let shown: String = input.chars().take(2000).collect();
    assert!(
        matches!(run.code, Some(0..=2)),
        "exit {:?} (a crash) on input:\n{shown}\n--- stderr:\n{}",
        run.code,
        run.stderr.chars().take(4000).collect::<String>()
    );
    if run.code == Some(2) {
        assert!(
            !run.stderr.trim().is_empty() || run.stdout.contains("::error"),
            "exit 2 without a message on input:\n{shown}"
        );
    }
}

const CONFIG_KEYS: &[&str] = &[
    "version",
    "defaults",
    "global",
    "detect",
    "branch-policy",
    "services",
    "paths",
    "depends-on",
    "image",
    "tags",
    "tag-preset",
    "labels",
    "build",
    "deploy",
    "health",
    "wave",
    "timeout",
    "patterns",
    "exempt",
    "max-length",
    "url",
    "expect-status",
    "version",
];

fn config_seed() -> Value {
    json!({
        "version": 1,
        "defaults": { "registry": "ghcr.io/acme", "tags": ["{version}-{timestamp}", "sha-{sha7}"], "environment": "prod" },
        "global": [".github/shipgate.yml", "Cargo.lock"],
        "branch-policy": { "patterns": ["users/{actor}/{slug}", "release/{semver}"], "exempt": ["main", "dependabot/**"], "max-length": 60 },
        "services": {
            "common": { "paths": ["libs/common/**"] },
            "auth": {
                "paths": ["services/auth/**", "!services/auth/docs/**"],
                "depends-on": ["common"],
                "image": "auth",
                "version": "1.2.3",
                "tags": ["{branch}-{version}", "{date:%Y%m%d}"],
                "deploy": { "namespace": "shop", "wave": 1, "timeout": "90s",
                    "health": { "url": "https://auth.example.com/health", "attempts": 3, "interval": "1s", "expect-status": "2xx" } }
            }
        }
    })
}

#[test]
fn fuzz_config_loading() {
    let repo = TestRepo::new()
        .file("services/auth/a.ts", "x\n")
        .commit("init");
    let seed = config_seed();
    fuzz("config", |generator, count| {
        let value = generator.mutate(&seed, CONFIG_KEYS, 0);
        let text = generator.render(&value);
        note(&text);
        match shipgate::config::load::parse(&text, "c.yml") {
            Ok(config) => {
                // A config that loads is used: paths matched, branch names judged.
                let mut scratch = Vec::new();
                let mut hits = Vec::new();
                for _ in 0..4 {
                    let path = generator.text();
                    note(&format!("{text}\npath: {path:?}"));
                    config.matcher.hits(&path, &mut scratch, &mut hits);
                    if let Some(policy) = &config.branch_policy {
                        let branch = generator.text();
                        note(&format!("{text}\nbranch: {branch:?}"));
                        let _ = policy.evaluate(&branch, Some("octocat"));
                    }
                }
            }
            Err(failure) => {
                assert!(!failure.diagnostics().is_empty());
                assert!(failure.diagnostics().iter().all(|d| !d.message.is_empty()));
            }
        }
        if count % BINARY_EVERY == 0 {
            std::fs::create_dir_all(repo.path().join(".github")).unwrap();
            std::fs::write(repo.path().join(".github/shipgate.yml"), &text).unwrap();
            let run = Shipgate::new(&repo).args(["config", "check"]).run();
            assert_clean_exit(&run, &text);
            let run = Shipgate::new(&repo)
                // An argument cannot hold a NUL byte (the OS refuses it, not shipgate).
                .args([
                    "branch-policy",
                    "--branch",
                    &generator.text().replace('\0', ""),
                    "--actor",
                    "octocat",
                ])
                .actions()
                .run();
            assert_clean_exit(&run, &text);
        }
    });
}

const EVENT_KEYS: &[&str] = &[
    "pull_request",
    "number",
    "head",
    "base",
    "sha",
    "ref",
    "user",
    "login",
    "repository",
    "default_branch",
    "license",
    "spdx_id",
    "description",
    "before",
    "after",
    "forced",
    "merge_group",
    "head_sha",
    "base_sha",
    "inputs",
    "full_name",
];

#[test]
fn fuzz_event_payload_parsing() {
    let seeds = [
        (
            "pull_request",
            json!({"pull_request": {"number": 7, "title": "t", "base": {"sha": "b", "ref": "main"}, "head": {"sha": "h", "ref": "users/x/y"}, "user": {"login": "octocat"}}, "repository": {"default_branch": "main", "description": "d", "license": {"spdx_id": "MIT"}}}),
        ),
        (
            "push",
            json!({"ref": "refs/heads/main", "before": "a", "after": "b", "forced": false, "repository": {"default_branch": "main"}}),
        ),
        (
            "merge_group",
            json!({"merge_group": {"base_sha": "a", "head_sha": "b"}}),
        ),
        ("workflow_dispatch", json!({"inputs": {"services": "all"}})),
    ];
    let repo = TestRepo::new()
        .config("version: 1\nbranch-policy:\n  patterns: ['users/{actor}/{slug}']\nservices:\n  a: { paths: ['a/**'] }\n")
        .commit("init");
    let names = [
        "pull_request",
        "pull_request_target",
        "push",
        "merge_group",
        "workflow_dispatch",
        "schedule",
        "nope",
        "",
    ];
    fuzz("event", |generator, count| {
        let (seed_name, seed) = generator.pick(&seeds).clone();
        let name = if generator.chance(4) {
            generator.pick(&names).to_string()
        } else {
            seed_name.to_string()
        };
        let payload = generator.mutate(&seed, EVENT_KEYS, 0);
        note(&format!("{name}: {payload}"));
        let env = |_: &str| None;
        match shipgate::context::Context::from_parts(
            &env,
            Some(name.clone()),
            Some(payload.clone()),
        ) {
            Ok(_) => {}
            Err(failure) => assert!(!failure.diagnostics().is_empty()),
        }
        let text = generator.render(&payload);
        if count % BINARY_EVERY == 0 {
            let path = repo.scratch().join("event.json");
            std::fs::write(&path, &text).unwrap();
            let run = Shipgate::new(&repo)
                .args(["branch-policy"])
                .event_at(&name, &path)
                .run();
            assert_clean_exit(&run, &text);
        }
    });
}

const KUBECONFIG_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "clusters",
    "cluster",
    "server",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "users",
    "user",
    "token",
    "tokenFile",
    "username",
    "password",
    "client-certificate-data",
    "client-key-data",
    "exec",
    "command",
    "args",
    "env",
    "contexts",
    "context",
    "namespace",
    "current-context",
    "name",
    "proxy-url",
    "tls-server-name",
];

fn kubeconfig_seed() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": true}}],
        "users": [{"name": "u", "user": {"token": "abc"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "default"}}]
    })
}

#[test]
fn fuzz_kubeconfig_decoding() {
    use base64::Engine;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seed = kubeconfig_seed();
    fuzz("kubeconfig", |generator, _| {
        // Half the time only the fields below change: the rest of the document stays valid.
        let mut value = if generator.chance(2) {
            seed.clone()
        } else {
            generator.mutate(&seed, KUBECONFIG_KEYS, 0)
        };
        // The fields passed on to the HTTP stack get hostile values more often.
        for pointer in [
            "/users/0/user/token",
            "/clusters/0/cluster/server",
            "/contexts/0/context/namespace",
            "/users/0/user/username",
        ] {
            let targeted = [
                "abc\n",
                "a\nb",
                "a\rb",
                "a\u{7f}b",
                "127.0.0.1:6443",
                "localhost",
                "",
                "https://user:pass@127.0.0.1:1/?token=x",
                "http://[::1",
                "https://127.0.0.1:1",
            ];
            let replacement = if generator.chance(2) {
                generator.pick(&targeted).to_string()
            } else {
                generator.text()
            };
            if generator.chance(3)
                && let Some(field) = value.pointer_mut(pointer)
            {
                *field = json!(replacement);
            }
        }
        // Never run a generated exec plugin: only a name that is on no PATH.
        scrub_exec(&mut value);
        let yaml = generator.render(&value);
        let text = match generator.below(3) {
            0 => base64::engine::general_purpose::STANDARD.encode(&yaml),
            _ => yaml,
        };
        if text.trim().starts_with('/') || text.trim().starts_with('.') {
            return; // a path: the fuzzer does not read arbitrary files
        }
        note(&text);
        if let Ok(input) = shipgate::deploy::kubeconfig::decode(&text) {
            let context = generator.chance(4).then(|| generator.text());
            let _ = shipgate::deploy::kubeconfig::parse(&input.yaml, context.as_deref());
            let _ = shipgate::deploy::kubeconfig::secrets(&input.yaml);
            runtime.block_on(async {
                if let Ok(config) = shipgate::deploy::kubeconfig::client_config(
                    Some(&input),
                    context.as_deref(),
                    &shipgate::deploy::kubeconfig::ExecGuard::Direct,
                )
                .await
                {
                    let _ = shipgate::deploy::cluster::Cluster::new(config);
                }
            });
        }
    });
}

fn scrub_exec(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(exec) = map.get_mut("exec") {
                *exec = json!({"apiVersion": "client.authentication.k8s.io/v1", "command": "shipgate-fuzz-no-such-plugin"});
            }
            for (key, child) in map.iter_mut() {
                if matches!(
                    key.as_str(),
                    "tokenFile" | "client-certificate" | "client-key" | "certificate-authority"
                ) {
                    *child = json!("/nonexistent/shipgate-fuzz");
                } else {
                    scrub_exec(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_exec),
        _ => {}
    }
}

const PLAN_KEYS: &[&str] = &[
    "version",
    "context",
    "services",
    "name",
    "image",
    "refs",
    "tags",
    "labels",
    "build",
    "deploy",
    "reasons",
    "platforms",
    "sha",
    "branch",
];

#[test]
fn fuzz_plan_loading() {
    let repo = TestRepo::new()
        .config("version: 1\ndefaults: { registry: ghcr.io/acme }\nservices:\n  auth: { paths: ['services/auth/**'], image: auth, version: '1.2.3', deploy: { namespace: shop } }\n  web: { paths: ['web/**'], image: web, version: '2.0.0' }\n")
        .file("services/auth/a.ts", "x\n")
        .file("web/a.ts", "x\n")
        .commit("init");
    let planned = Shipgate::new(&repo)
        .args(["plan", "--services", "all", "--format", "json"])
        .run()
        .success();
    let seed: Value = serde_json::from_str(&planned.stdout).unwrap();
    fuzz("plan", |generator, count| {
        let mut value = if generator.chance(2) {
            seed.clone()
        } else {
            generator.mutate(&seed, PLAN_KEYS, 0)
        };
        // Names and tags size columns and paths: sometimes huge or hostile.
        for pointer in [
            "/services/0/name",
            "/services/0/image",
            "/services/0/refs/0",
            "/services/1/name",
        ] {
            if generator.chance(4)
                && let Some(field) = value.pointer_mut(pointer)
            {
                *field = if generator.chance(2) {
                    json!("a".repeat(70_000))
                } else {
                    json!(generator.text())
                };
            }
        }
        let text = generator.render(&value);
        if !text.trim_start().starts_with('{') {
            return; // would be read as a file path
        }
        note(&text);
        if let Ok(plan) = shipgate::plan::Plan::load(&text) {
            let _ = shipgate::report::plan::terminal(&plan, false);
            let _ = shipgate::plan::outputs::outputs(&plan);
            let mut summary = shipgate::runner::Summary::default();
            shipgate::report::plan::summary(&plan, &mut summary);
            let _ = summary.render(1 << 20);
        }
        if count % (BINARY_EVERY / 4) == 0 {
            for command in ["build", "deploy"] {
                let run = Shipgate::new(&repo)
                    .args([command, "--plan", &text.replace('\0', ""), "--dry-run"])
                    .run();
                assert_clean_exit(&run, &text);
            }
        }
    });
}
