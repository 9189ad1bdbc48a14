//! `shipgate build --skip-existing` end to end against a real OCI registry.
//!
//! Debian's `docker-registry` is started per test on 127.0.0.1 with its own storage (optionally
//! behind htpasswd basic auth); the test pushes a tiny image through the registry HTTP API under
//! the `{content}` tag that `shipgate plan` computed for a git repository fixture, then runs
//! `shipgate build --plan <file> --skip-existing` with a `docker` stand-in on PATH that records its
//! argv (no Docker engine exists where these tests run):
//! - the service whose content tag exists is not built: its other tags are pushed onto the
//!   existing manifest (they then resolve to the same digest), and `images` carries that digest;
//! - the service whose content tag does not exist is built by the stand-in, in the same run;
//! - with basic auth, `SHIPGATE_REGISTRY_USERNAME`/`SHIPGATE_REGISTRY_PASSWORD` work; wrong ones
//!   say so, and the password shows up nowhere but in the `::add-mask::` line that comes first.
//!
//! Needs `/usr/bin/docker-registry` and `htpasswd`: `apt-get install -y docker-registry
//! apache2-utils`.

use crate::support;

use serde_json::Value;
use shipgate::registry::sha256_digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::docker::StandIn;
use support::registry::{Registry, base64};
use support::{Run, Shipgate, TestRepo};

const EPOCH: &str = "1766836944";
const USER: &str = "ci-bot";
/// The registry's password: distinctive, so any leak of it is found by a plain search.
const PASSWORD: &str = "Reg1stry-pa55-Secret-never-shown";
const WRONG_PASSWORD: &str = "Wr0ng-pa55-Secret-never-shown-either";

/// Runs a future to completion (the HTTP side of a test; shipgate itself runs as a process).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

// ---------------------------------------------------------------------------------------------
// The `docker` stand-in (tests/support/docker.rs)
// ---------------------------------------------------------------------------------------------

/// The digest the stand-in writes into the metadata file of the build of `name`.
fn stand_in_digest(name: &str) -> String {
    sha256_digest(name.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// The repository fixture and the plan
// ---------------------------------------------------------------------------------------------

/// Two services in `registry`; the `{content}` tag is not the primary one, so the lookup tag is
/// not simply the first tag.
fn repo(registry: &str) -> TestRepo {
    TestRepo::new()
        .config(&format!(
            r#"version: 1
defaults:
  registry: {registry}
services:
  auth:
    paths: ["services/auth/**"]
    image: acme/auth
    tags: ["sha-{{sha7}}", "c-{{content}}", "t-{{timestamp}}"]
    build: {{ context: services/auth }}
  web:
    paths: ["services/web/**"]
    image: acme/web
    tags: ["sha-{{sha7}}", "c-{{content}}", "t-{{timestamp}}"]
    build: {{ context: services/web }}
"#
        ))
        .file("services/auth/Dockerfile", "FROM scratch\nCOPY . /auth\n")
        .file("services/auth/main.go", "package main\n")
        .file("services/web/Dockerfile", "FROM scratch\nCOPY . /web\n")
        .file("services/web/index.ts", "export const web = 1;\n")
        .commit("init")
}

/// One planned service, as `shipgate plan --format json` printed it.
#[derive(Debug, Clone)]
struct Planned {
    image: String,
    /// The image's repository inside the registry (`acme/auth`).
    repository: String,
    tags: Vec<String>,
    refs: Vec<Value>,
    lookup_tag: String,
}

/// `shipgate plan --format json` for every service, with a fixed time; the plan is written to a
/// file next to the repository. Returns the file and the planned services by name.
fn plan(repo: &TestRepo, registry: &str) -> (PathBuf, BTreeMap<String, Planned>) {
    let run = Shipgate::new(repo)
        .args(["plan", "--services", "all", "--format", "json"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .run()
        .success();
    let plan = run.json();
    let path = repo.scratch().join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let mut services = BTreeMap::new();
    for entry in plan["services"].as_array().unwrap() {
        let image = entry["image"].as_str().unwrap().to_string();
        let repository = image
            .strip_prefix(&format!("{registry}/"))
            .unwrap_or_else(|| panic!("{image} is not in {registry}"))
            .to_string();
        let tags: Vec<String> = serde_json::from_value(entry["tags"].clone()).unwrap();
        let lookup_tag = entry["lookup_tag"].as_str().unwrap().to_string();
        // The plan looks up the content tag: `c-` and the first 16 hex digits of `content`.
        let content = entry["content"].as_str().unwrap();
        assert_eq!(lookup_tag, format!("c-{}", &content[..16]), "{entry:#}");
        assert_eq!(tags[1], lookup_tag, "{entry:#}");
        assert_eq!(tags[2], format!("t-{EPOCH}"), "{entry:#}");
        services.insert(
            entry["name"].as_str().unwrap().to_string(),
            Planned {
                image,
                repository,
                tags,
                refs: entry["refs"].as_array().unwrap().clone(),
                lookup_tag,
            },
        );
    }
    assert_eq!(
        services.keys().collect::<Vec<_>>(),
        ["auth", "web"],
        "{plan:#}"
    );
    (path, services)
}

/// `shipgate build --plan <file> --skip-existing` with the registry reached over plain http.
fn build(docker: &StandIn, repo: &TestRepo, plan: &Path, registry: &Registry) -> Shipgate {
    docker
        .shipgate(repo)
        .args(["build", "--skip-existing", "--plan"])
        .arg(plan)
        .env("SHIPGATE_REGISTRY_INSECURE", &registry.host)
}

/// `{name: (outcome, note)}` of a `--format json` build.
fn outcomes(run: &Run) -> BTreeMap<String, (String, String)> {
    run.json()["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                (
                    s["outcome"].as_str().unwrap().to_string(),
                    s["note"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// Every other planned tag of `service` now resolves in the registry to `digest`.
fn assert_all_tags_resolve(registry: &Registry, service: &Planned, digest: &str) {
    for tag in &service.tags {
        let (status, found) = block_on(registry.head_manifest(&service.repository, tag));
        assert_eq!(status, 200, "HEAD {}:{tag}", service.image);
        assert_eq!(found.as_deref(), Some(digest), "{}:{tag}", service.image);
    }
}

/// Asserts that no tag of `service` exists in the registry.
fn assert_no_tag_exists(registry: &Registry, service: &Planned) {
    for tag in &service.tags {
        let (status, _) = block_on(registry.head_manifest(&service.repository, tag));
        assert_eq!(status, 404, "{}:{tag} must not exist", service.image);
    }
}

/// The password appears nowhere but in one `::add-mask::` line, which comes before anything
/// else on its stream; nowhere in the other stream, the outputs, the summary or the builds'
/// environment. `masks_on_stderr`: `--format json` moves workflow commands to stderr.
fn assert_password_never_shown(run: &Run, docker: &StandIn, password: &str, masks_on_stderr: bool) {
    let (commands, other) = if masks_on_stderr {
        (&run.stderr, &run.stdout)
    } else {
        (&run.stdout, &run.stderr)
    };
    let mask = format!("::add-mask::{password}");
    let lines: Vec<&str> = commands.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(mask.as_str()),
        "the mask comes first:\n{commands}"
    );
    let showing: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.contains(password))
        .collect();
    assert_eq!(showing, [mask.as_str()], "only the mask shows it");
    assert!(!other.contains(password), "{other}");
    for (name, value) in &run.outputs {
        assert!(!value.contains(password), "output {name}: {value}");
    }
    assert!(!run.summary.contains(password), "{}", run.summary);
    // The password must not be sent along in another form either (e.g. a basic-auth header).
    let basic = base64(format!("{USER}:{password}").as_bytes());
    for text in [&run.stdout, &run.stderr, &run.summary] {
        assert!(!text.contains(&basic), "{text}");
    }
    // Builds never inherit it.
    let environments = docker.environments();
    assert!(environments.contains("STANDIN_LOG="), "a build ran");
    assert!(!environments.contains(password), "{environments}");
}

// ---------------------------------------------------------------------------------------------
// Anonymous registry
// ---------------------------------------------------------------------------------------------

#[test]
fn an_existing_content_tag_is_retagged_and_a_missing_one_is_built_in_the_same_run() {
    let registry = Registry::start();
    let repo = repo(&registry.host);
    let (plan, services) = plan(&repo, &registry.host);
    let (auth, web) = (&services["auth"], &services["web"]);
    let pushed = block_on(registry.push_tiny_image(&auth.repository, &auth.lookup_tag));
    // Before the build only the content tag of auth exists.
    for tag in auth.tags.iter().filter(|t| **t != auth.lookup_tag) {
        let (status, _) = block_on(registry.head_manifest(&auth.repository, tag));
        assert_eq!(status, 404, "{tag}");
    }
    assert_no_tag_exists(&registry, web);
    let blobs_before = registry.blob_count();
    let log_before = registry.log().len();
    let docker = StandIn::new();

    let run = build(&docker, &repo, &plan, &registry)
        .args(["--format", "json"])
        .actions()
        .run()
        .success();

    // auth: not built, re-tagged; web: built by the stand-in.
    assert!(
        docker.builds_of(&auth.image).is_empty(),
        "auth must not be built: {:?}",
        docker.argvs()
    );
    let web_builds = docker.builds_of(&web.image);
    assert_eq!(web_builds.len(), 1, "{:?}", docker.argvs());
    assert_eq!(docker.argvs().len(), 1, "{:?}", docker.argvs());
    assert_eq!(web_builds[0][..3], ["docker", "buildx", "build"]);
    for tag in &web.tags {
        assert!(
            web_builds[0]
                .windows(2)
                .any(|w| w[0] == "--tag" && w[1] == format!("{}:{tag}", web.image)),
            "{tag}: {:?}",
            web_builds[0]
        );
    }
    let outcomes = outcomes(&run);
    let others = auth.tags[..1]
        .iter()
        .chain(&auth.tags[2..])
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(
        outcomes["auth"],
        (
            "existing".to_string(),
            format!(
                "{}:{} exists; re-tagged as {others}",
                auth.image, auth.lookup_tag
            )
        ),
        "{outcomes:#?}"
    );
    assert_eq!(outcomes["web"].0, "built", "{outcomes:#?}");
    assert_eq!(run.json()["services"][0]["digest"], pushed.as_str());

    // Every planned tag of auth now points at the pushed manifest; no blob was uploaded.
    assert_all_tags_resolve(&registry, auth, &pushed);
    assert_eq!(
        registry.blob_count(),
        blobs_before,
        "a retag uploads no blob"
    );
    let during_build = &registry.log()[log_before..];
    assert!(
        !during_build.contains("/blobs/"),
        "the retag must not touch a blob:\n{during_build}"
    );
    assert!(
        during_build.contains("http.request.useragent=shipgate/"),
        "shipgate asked the registry:\n{during_build}"
    );
    // The stand-in pushed nothing, so web's tags are still absent: the build ran, no retag.
    assert_no_tag_exists(&registry, web);

    // `images`: auth with the registry's digest, web with the one its build reported.
    let images = serde_json::json!({
        "auth": { "refs": auth.refs, "digest": pushed },
        "web": { "refs": web.refs, "digest": stand_in_digest("web") },
    });
    assert_eq!(run.output_json("images"), images);
    assert_eq!(run.json()["images"], images);
    run.summary_has("exists, re-tagged")
        .summary_has(&format!("| **auth** | `{}` |", auth.image));
}

#[test]
fn the_text_report_says_which_image_exists_and_which_was_built() {
    let registry = Registry::start();
    let repo = repo(&registry.host);
    let (plan, services) = plan(&repo, &registry.host);
    let auth = &services["auth"];
    let pushed = block_on(registry.push_tiny_image(&auth.repository, &auth.lookup_tag));
    let docker = StandIn::new();

    let run = build(&docker, &repo, &plan, &registry)
        .actions()
        .run()
        .success();

    assert_eq!(docker.argvs().len(), 1, "only web is built");
    // Two active jobs in parallel: every log line carries its service.
    run.stdout_line(
        "auth",
        &[&format!(
            "■ {}:{} exists; re-tagged as",
            auth.image, auth.lookup_tag
        )],
    )
    .stdout_line(
        "web ",
        &[&format!(
            "{}:{} is not in the registry yet: building",
            services["web"].image, services["web"].lookup_tag
        )],
    )
    .stdout_line("web ", &["#9 DONE web"]);
    assert_eq!(run.output_json("images")["auth"]["digest"], pushed.as_str());
    assert_all_tags_resolve(&registry, auth, &pushed);
}

// ---------------------------------------------------------------------------------------------
// htpasswd (basic) auth
// ---------------------------------------------------------------------------------------------

#[test]
fn registry_credentials_from_the_environment_work_and_are_masked() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let repo = repo(&registry.host);
    let (plan, services) = plan(&repo, &registry.host);
    let (auth, web) = (&services["auth"], &services["web"]);
    let pushed = block_on(registry.push_tiny_image(&auth.repository, &auth.lookup_tag));
    let docker = StandIn::new();

    let run = build(&docker, &repo, &plan, &registry)
        .env("SHIPGATE_REGISTRY_USERNAME", USER)
        .env("SHIPGATE_REGISTRY_PASSWORD", PASSWORD)
        .actions()
        .run()
        .success();

    assert!(
        docker.builds_of(&auth.image).is_empty(),
        "{:?}",
        docker.argvs()
    );
    assert_eq!(
        docker.builds_of(&web.image).len(),
        1,
        "{:?}",
        docker.argvs()
    );
    assert_all_tags_resolve(&registry, auth, &pushed);
    assert_eq!(
        run.output_json("images"),
        serde_json::json!({
            "auth": { "refs": auth.refs, "digest": pushed },
            "web": { "refs": web.refs, "digest": stand_in_digest("web") },
        })
    );
    run.summary_has("exists, re-tagged");
    assert_password_never_shown(&run, &docker, PASSWORD, false);
    // The retag's manifest PUTs went through as the user.
    let log = registry.log();
    assert!(log.contains(&format!("auth.user.name={USER}")), "{log}");
    for tag in auth.tags.iter().filter(|t| **t != auth.lookup_tag) {
        let put = format!(
            "\"PUT /v2/{}/manifests/{tag} HTTP/1.1\" 201 ",
            auth.repository
        );
        assert!(log.contains(&put), "{put}\n{log}");
    }
}

#[test]
fn wrong_registry_credentials_are_reported_and_never_shown() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let repo = repo(&registry.host);
    let (plan, services) = plan(&repo, &registry.host);
    let auth = &services["auth"];
    let pushed = block_on(registry.push_tiny_image(&auth.repository, &auth.lookup_tag));

    for json in [false, true] {
        let docker = StandIn::new();
        let mut shipgate = build(&docker, &repo, &plan, &registry)
            .env("SHIPGATE_REGISTRY_USERNAME", USER)
            .env("SHIPGATE_REGISTRY_PASSWORD", WRONG_PASSWORD)
            .actions();
        if json {
            shipgate = shipgate.args(["--format", "json"]);
        }
        let run = shipgate.run().success();

        // The lookup failed: both services are built rather than trusted blindly.
        assert_eq!(docker.argvs().len(), 2, "{:?}", docker.argvs());
        let expected = format!(
            "could not ask the registry whether {}:{} exists (401 from {}:{} while looking up the manifest (HEAD): the registry refused the credentials from SHIPGATE_REGISTRY_USERNAME/SHIPGATE_REGISTRY_PASSWORD",
            auth.image, auth.lookup_tag, auth.image, auth.lookup_tag
        );
        if json {
            let outcomes = outcomes(&run);
            assert_eq!(outcomes["auth"].0, "built", "{outcomes:#?}");
            assert!(outcomes["auth"].1.starts_with(&expected), "{outcomes:#?}");
            assert!(
                outcomes["auth"].1.ends_with("; built instead"),
                "{outcomes:#?}"
            );
        } else {
            run.stdout_line("auth", &[&expected]);
        }
        // The summary says the registry's error once, above the table, Markdown escaped (`_`).
        let said_once = format!(
            "401 from {}:{} while looking up the manifest (HEAD): the registry refused the credentials from SHIPGATE_REGISTRY_USERNAME/SHIPGATE_REGISTRY_PASSWORD",
            auth.image, auth.lookup_tag
        );
        run.summary_has(&said_once.replace('_', "\\_"));
        // And a warning annotation says it (on stderr when stdout carries JSON).
        let commands = if json { &run.stderr } else { &run.stdout };
        assert!(
            commands.lines().any(|l| l
                .starts_with("::warning title=shipgate build::could not ask the registry whether")
                && l.contains(&format!("{}:{}", auth.image, auth.lookup_tag))),
            "{commands}"
        );
        assert_password_never_shown(&run, &docker, WRONG_PASSWORD, json);
    }
    // Nothing was re-tagged with the wrong credentials.
    for tag in auth.tags.iter().filter(|t| **t != auth.lookup_tag) {
        let (status, _) = block_on(registry.head_manifest(&auth.repository, tag));
        assert_eq!(status, 404, "{tag}");
    }
    let (_, digest) = block_on(registry.head_manifest(&auth.repository, &auth.lookup_tag));
    assert_eq!(digest, Some(pushed));
}
