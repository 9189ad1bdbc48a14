//! The JSON Schema of `.github/shipgate.yml`, for editors (`shipgate config schema`).
//!
//! Kept next to the serde model; a test checks that every key the parser accepts is in the
//! schema and the other way round, so the two cannot drift apart.

/// The schema as JSON text.
pub const SCHEMA: &str = include_str!("schema.json");

/// The config reference as a markdown table, generated from the schema (the README embeds it,
/// and a test keeps the two equal): every key with its type and description.
pub fn reference_markdown() -> String {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap_or_default();
    let mut rows = Vec::new();
    walk(&schema, &schema, "", &mut rows, 0);
    let mut text = String::from("| Key | Type | Description |\n|---|---|---|\n");
    for (key, kind, description) in rows {
        text.push_str(&format!(
            "| `{key}` | {kind} | {} |\n",
            description.replace('|', "\\|").replace('\n', " ")
        ));
    }
    text
}

fn resolve<'a>(root: &'a serde_json::Value, node: &'a serde_json::Value) -> &'a serde_json::Value {
    match node.get("$ref").and_then(serde_json::Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/")
            .map(|path| {
                path.split('/')
                    .fold(root, |node, part| node.get(part).unwrap_or(node))
            })
            .unwrap_or(node),
        None => node,
    }
}

fn type_of(root: &serde_json::Value, node: &serde_json::Value) -> String {
    let node = resolve(root, node);
    if let Some(value) = node.get("const") {
        return format!("`{value}`");
    }
    if let Some(values) = node.get("enum").and_then(serde_json::Value::as_array) {
        return values
            .iter()
            .map(|v| {
                format!(
                    "`{}`",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    if let Some(options) = node.get("oneOf").and_then(serde_json::Value::as_array) {
        return one_of(root, options);
    }
    match node.get("type") {
        Some(serde_json::Value::String(kind)) if kind == "array" => {
            let items = node
                .get("items")
                .map_or_else(|| "any".to_string(), |i| type_of(root, i));
            format!("list of {items}")
        }
        Some(serde_json::Value::String(kind)) if kind == "object" => {
            match node.get("additionalProperties").filter(|a| a.is_object()) {
                Some(values) if node.get("properties").is_none() => {
                    let values = resolve(root, values);
                    if values.get("properties").is_some() {
                        "map of name to settings".into()
                    } else {
                        format!("map of {}", type_of(root, values))
                    }
                }
                _ if node.get("properties").is_some() => "map".into(),
                _ => "map of string".into(),
            }
        }
        Some(serde_json::Value::String(kind)) if kind == "integer" => whole_number(node),
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(serde_json::Value::Array(kinds)) => kinds
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

/// `integer` with its bounds in words: "whole number (0 or more)", "whole number 1–65535".
fn whole_number(node: &serde_json::Value) -> String {
    let minimum = node.get("minimum").and_then(serde_json::Value::as_i64);
    let maximum = node.get("maximum").and_then(serde_json::Value::as_i64);
    match (minimum, maximum) {
        (Some(low), Some(high)) => format!("whole number {low}–{high}"),
        (Some(low), None) => format!("whole number ({low} or more)"),
        _ => "whole number".into(),
    }
}

/// A `oneOf`: a duration (seconds or `1m30s`), an HTTP status, or the alternatives joined.
fn one_of(root: &serde_json::Value, options: &[serde_json::Value]) -> String {
    let pattern_of = |o: &serde_json::Value| {
        resolve(root, o)
            .get("pattern")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let kinds: Vec<String> = options.iter().map(|o| type_of(root, o)).collect();
    let has_integer = kinds.iter().any(|k| k.starts_with("whole number"));
    if has_integer && options.iter().any(|o| pattern_of(o).contains("(ms|s|m|h)")) {
        return "duration".into();
    }
    if has_integer && options.iter().any(|o| pattern_of(o).contains("[1-5]")) {
        return "status".into();
    }
    let objects = options
        .iter()
        .filter(|o| resolve(root, o).get("properties").is_some())
        .count();
    let mut kinds: Vec<String> = kinds.into_iter().filter(|k| k != "map").collect();
    if objects > 0 {
        kinds.push("map".into());
    }
    kinds.join(" or ")
}

fn walk(
    root: &serde_json::Value,
    node: &serde_json::Value,
    prefix: &str,
    rows: &mut Vec<(String, String, String)>,
    depth: usize,
) {
    let node = resolve(root, node);
    if depth > 8 {
        return;
    }
    if let Some(properties) = node
        .get("properties")
        .and_then(serde_json::Value::as_object)
    {
        for (key, child) in properties {
            let path = format!("{prefix}{key}");
            let resolved = resolve(root, child);
            let description = child
                .get("description")
                .or_else(|| resolved.get("description"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string();
            rows.push((path.clone(), type_of(root, child), description));
            walk(root, child, &format!("{path}."), rows, depth + 1);
        }
    }
    if let Some(additional) = node.get("additionalProperties").filter(|a| a.is_object())
        && resolve(root, additional).get("properties").is_some()
    {
        walk(
            root,
            additional,
            &format!("{prefix}<name>."),
            rows,
            depth + 1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_in_reference(key: &str) -> String {
        let reference = reference_markdown();
        let line = reference
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("{key} missing"));
        line.split(" | ").nth(1).unwrap_or_default().to_string()
    }

    #[test]
    fn config_reference_shows_correct_types() {
        assert_eq!(type_in_reference("version"), "`1`");
        assert_eq!(type_in_reference("services"), "map of name to settings");
        assert_eq!(
            type_in_reference("services.<name>.deploy.wave"),
            "whole number (0 or more)"
        );
        assert_eq!(
            type_in_reference("services.<name>.deploy.health.port"),
            "whole number 1–65535"
        );
        assert_eq!(
            type_in_reference("services.<name>.deploy.health.expect-status"),
            "status or list of status"
        );
        assert_eq!(
            type_in_reference("services.<name>.deploy.timeout"),
            "duration"
        );
        assert_eq!(
            type_in_reference("services.<name>.version"),
            "string or map"
        );
        assert_eq!(
            type_in_reference("services.<name>.deploy.health.json.in"),
            "list of any"
        );
    }

    #[test]
    fn the_reference_lists_every_key_with_a_description() {
        let reference = reference_markdown();
        for key in [
            "`version`",
            "`services.<name>.deploy.health.json.pointer`",
            "`services.<name>.deploy.on-failure`",
            "`defaults.build.cache`",
        ] {
            assert!(reference.contains(key), "{key} missing:\n{reference}");
        }
        for line in reference.lines().skip(2) {
            let description = line.rsplit(" | ").next().unwrap_or_default();
            assert!(description.len() > 3, "undocumented key: {line}");
        }
    }
    use crate::config::load::parse;
    use serde_json::Value;

    /// The keys the parser accepts at a place in the config, learned from its own
    /// "unknown key … allowed here: …" message.
    fn accepted_keys(config_with_bogus_key: &str) -> Vec<String> {
        let failure = parse(config_with_bogus_key, "c.yml").expect_err("bogus key must fail");
        let help = failure.diagnostics()[0].help.clone().unwrap_or_default();
        let mut keys: Vec<String> = regex::Regex::new(r"`([^`]*)`")
            .unwrap()
            .captures_iter(&help)
            .map(|c| c[1].to_string())
            .collect();
        keys.sort();
        keys
    }

    fn schema_keys(pointer: &str) -> Vec<String> {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let node = schema
            .pointer(pointer)
            .unwrap_or_else(|| panic!("no {pointer}"));
        let mut keys: Vec<String> = node["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn schema_is_valid_json_and_matches_the_parser() {
        let svc = "services:\n  a:\n    paths: [a/**]\n";
        let cases = [
            ("zzz: 1\nversion: 1\n".to_string() + svc, ""),
            ("version: 1\ndefaults: { zzz: 1 }\n".to_string() + svc, "/$defs/defaults"),
            ("version: 1\ndefaults: { deploy: { zzz: 1 } }\n".to_string() + svc, "/$defs/deployDefaults"),
            ("version: 1\ndetect: { zzz: 1 }\n".to_string() + svc, "/$defs/detect"),
            ("version: 1\nbranch-policy: { patterns: [x], zzz: 1 }\n".to_string() + svc, "/$defs/branchPolicy"),
            ("version: 1\nservices:\n  a: { zzz: 1 }\n".to_string(), "/$defs/service"),
            ("version: 1\ndeploy: { zzz: 1 }\n".to_string() + svc, "/$defs/deploySection"),
            ("version: 1\ndeploy: { manifests: { files: [a], zzz: 1 } }\n".to_string() + svc, "/$defs/manifests"),
            ("version: 1\ndeploy: { gitops: { kustomization: k, zzz: 1 } }\n".to_string() + svc, "/$defs/gitops"),
            ("version: 1\nservices:\n  a: { build: { zzz: 1 } }\n".to_string(), "/$defs/build"),
            ("version: 1\nservices:\n  a: { build: { secrets: [{ id: x, env: X, zzz: 1 }] } }\n".to_string(), "/$defs/buildSecret"),
            ("version: 1\nservices:\n  a: { deploy: { zzz: 1 } }\n".to_string(), "/$defs/deploy"),
            ("version: 1\nservices:\n  a: { deploy: { health: { zzz: 1 } } }\n".to_string(), "/$defs/health"),
            ("version: 1\nservices:\n  a: { deploy: { health: { json: { pointer: /a, zzz: 1 } } } }\n".to_string(), "/$defs/jsonExpectation"),
        ];
        for (config, pointer) in cases {
            assert_eq!(
                accepted_keys(&config),
                schema_keys(pointer),
                "at {pointer:?}"
            );
        }
    }
}
