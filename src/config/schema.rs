//! The JSON Schema of `.github/shipgate.yml`, for editors (`shipgate config schema`).
//!
//! Kept next to the serde model; a test checks that every key the parser accepts is in the
//! schema and the other way round, so the two cannot drift apart.

/// The schema as JSON text.
pub const SCHEMA: &str = include_str!("schema.json");

#[cfg(test)]
mod tests {
    use super::*;
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
            ("version: 1\ndetect: { zzz: 1 }\n".to_string() + svc, "/$defs/detect"),
            ("version: 1\nbranch-policy: { patterns: [x], zzz: 1 }\n".to_string() + svc, "/$defs/branchPolicy"),
            ("version: 1\nservices:\n  a: { zzz: 1 }\n".to_string(), "/$defs/service"),
            ("version: 1\nservices:\n  a: { build: { zzz: 1 } }\n".to_string(), "/$defs/build"),
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
