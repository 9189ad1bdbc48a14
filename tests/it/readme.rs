//! The README must not promise what the code does not do: its config example is a valid config,
//! its workflow examples are the files CI validates, and its input and output tables list exactly
//! what action.yml declares.

use std::collections::BTreeSet;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// Fenced blocks of a language whose first line is `# <label>`.
fn blocks(text: &str, language: &str) -> Vec<(String, String)> {
    let fence = format!("```{language}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&fence) {
        let body_start = start + fence.len();
        let Some(length) = rest[body_start..].find("```") else {
            break;
        };
        let body = &rest[body_start..body_start + length];
        let label = body
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .to_string();
        out.push((label, body.to_string()));
        rest = &rest[body_start + length + 3..];
    }
    out
}

#[test]
fn the_config_reference_is_a_valid_config() {
    let readme = readme();
    let configs: Vec<String> = blocks(&readme, "yaml")
        .into_iter()
        .filter(|(label, _)| label.starts_with(".github/shipgate.yml"))
        .map(|(_, body)| body)
        .collect();
    assert_eq!(
        configs.len(),
        1,
        "the README has one config reference block"
    );
    let config =
        shipgate::config::load::parse(&configs[0], "README.md").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.service_names(), vec!["common", "auth"]);
    assert!(config.branch_policy.is_some());
}

#[test]
fn workflow_examples_are_the_validated_files() {
    let readme = readme();
    let examples: Vec<(String, String)> = blocks(&readme, "yaml")
        .into_iter()
        .filter(|(label, _)| label.starts_with("examples/workflows/"))
        .collect();
    assert!(
        !examples.is_empty(),
        "the README shows the example workflows"
    );
    for (label, body) in examples {
        let path = format!("{}/{label}", env!("CARGO_MANIFEST_DIR"));
        let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let shown: String = body.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(shown, file, "README block {label} differs from the file");
    }
}

/// Names in the first column of the markdown table under `heading`.
fn table_names(readme: &str, heading: &str) -> BTreeSet<String> {
    let section = readme.split(heading).nth(1).unwrap_or_default();
    let mut names = BTreeSet::new();
    for line in section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
    {
        let cell = line.split('|').nth(1).unwrap_or_default();
        for name in cell.split(',') {
            let name = name.trim().trim_matches('`');
            if !name.is_empty() {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn input_and_output_tables_match_action_yml() {
    let action: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap(),
    )
    .unwrap();
    let declared = |key: &str| -> BTreeSet<String> {
        action[key].as_object().unwrap().keys().cloned().collect()
    };
    let readme = readme();
    assert_eq!(table_names(&readme, "\n## Inputs\n"), declared("inputs"));
    assert_eq!(table_names(&readme, "\n## Outputs\n"), declared("outputs"));
}

#[test]
fn every_input_is_mapped_to_its_environment_variable() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    let action: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let env = &action["runs"]["steps"][0]["env"];
    for input in action["inputs"].as_object().unwrap().keys() {
        let variable = format!("SHIPGATE_{}", input.to_uppercase().replace('-', "_"));
        assert_eq!(
            env[&variable],
            format!("${{{{ inputs.{input} }}}}"),
            "{variable}"
        );
    }
    let run = action["runs"]["steps"][0]["run"].as_str().unwrap();
    assert!(
        !run.contains("${{"),
        "no expression may be interpolated into the shell script"
    );
}

#[test]
fn the_config_reference_table_is_generated_from_the_schema() {
    let readme = readme();
    let table = readme
        .split("<!-- config-reference:start -->\n")
        .nth(1)
        .and_then(|rest| rest.split("<!-- config-reference:end -->").next())
        .expect("the README has the generated config reference");
    assert_eq!(
        table,
        shipgate::config::schema::reference_markdown(),
        "regenerate it with `shipgate config reference`"
    );
}

/// Every `uses: …/shipgate@…` line of the README and the example workflows pins the repository
/// Cargo.toml names, at one full commit SHA with its version as the comment (as Dependabot and
/// Renovate write it), and that commit exists in this history and says that version.
#[test]
fn the_action_is_pinned_to_a_commit_of_this_repository_with_its_version() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let repository = manifest
        .lines()
        .find_map(|l| l.strip_prefix("repository = \"https://github.com/"))
        .map(|r| r.trim_end_matches('"').to_string())
        .expect("Cargo.toml names the repository");
    assert_eq!(repository, "shipgate/shipgate");
    let mut texts = vec![("README.md".to_string(), readme())];
    for entry in std::fs::read_dir(format!("{root}/examples/workflows")).unwrap() {
        let path = entry.unwrap().path();
        texts.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    let uses = regex::Regex::new(r"(?m)^\s*(?:-\s+)?uses: *([^@\s]+/shipgate)@(\S+)(.*)").unwrap();
    let mut pins = BTreeSet::new();
    for (file, text) in &texts {
        for found in uses.captures_iter(text) {
            assert_eq!(&found[1], repository, "{file}: {}", &found[0]);
            assert!(
                found[2].len() == 40 && found[2].bytes().all(|b| b.is_ascii_hexdigit()),
                "{file}: not a full commit SHA: {}",
                &found[0]
            );
            let comment = found[3].trim();
            assert!(
                comment.starts_with("# v"),
                "{file}: no version comment: {}",
                &found[0]
            );
            pins.insert((found[2].to_string(), comment[3..].to_string()));
        }
    }
    assert_eq!(pins.len(), 1, "one pin everywhere: {pins:?}");
    let (sha, version) = pins.into_iter().next().unwrap();
    // The pinned commit is in this history and its Cargo.toml says the commented version.
    let shown = std::process::Command::new("git")
        .args(["-C", root, "show", &format!("{sha}:Cargo.toml")])
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "the pinned commit {sha} is not in this repository's history (scripts/release --pin-examples)"
    );
    let pinned_manifest = String::from_utf8_lossy(&shown.stdout);
    assert!(
        pinned_manifest
            .lines()
            .any(|l| l == format!("version = \"{version}\"")),
        "Cargo.toml at {sha} does not say version {version}"
    );
}
