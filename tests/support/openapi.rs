//! A validator for the JSON Schema subset GitHub's published OpenAPI description uses (the
//! fixtures under `tests/fixtures/github-openapi/`, extracted from `@octokit/openapi`), and the
//! smallest published-shape instance of a schema: the stand-in GitHub APIs of the gitops and
//! Deployments tests check every request against it and build every answer from it.
//!
//! A keyword the validator does not implement fails the test that meets it, so a fixture update
//! cannot silently weaken the check.

use serde_json::{Value, json};

/// Keywords the validator implements, and the annotations it may ignore.
pub(crate) const IMPLEMENTED: &[&str] = &[
    "type",
    "nullable",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "oneOf",
    "format",
    "maxLength",
    "minLength",
];
pub(crate) const ANNOTATIONS: &[&str] = &[
    "title",
    "default",
    "deprecated",
    "discriminator",
    "x-github-breaking-changes",
];

/// The violations of `value` against `schema`; unknown properties count as violations unless the
/// schema says `additionalProperties`.
pub(crate) fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(schema, value, "$", &mut found);
    found
}

fn check(schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            found.push(format!("{at}: not allowed here"));
        }
        return;
    };
    for keyword in schema.keys() {
        assert!(
            IMPLEMENTED.contains(&keyword.as_str()) || ANNOTATIONS.contains(&keyword.as_str()),
            "the schema uses `{keyword}`, which the test's validator does not implement"
        );
    }
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let matches = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("unknown type {other}"),
        };
        if !matches {
            found.push(format!("{at}: expected {kind}, got {value}"));
            return;
        }
    } else if value.is_null() && !schema.contains_key("oneOf") {
        found.push(format!("{at}: null is not allowed"));
        return;
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        found.push(format!("{at}: {value} is not one of {choices:?}"));
    }
    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = alternatives
            .iter()
            .filter(|alternative| violations(alternative, value).is_empty())
            .count();
        if matching != 1 {
            found.push(format!(
                "{at}: {value} matches {matching} of the oneOf alternatives, not exactly one"
            ));
        }
    }
    if let Some(text) = value.as_str() {
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && text.chars().count() as u64 > max
        {
            found.push(format!("{at}: longer than {max} characters"));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (text.chars().count() as u64) < min
        {
            found.push(format!("{at}: shorter than {min} characters"));
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("uri") if !is_uri(text) => found.push(format!("{at}: `{text}` is not a URI")),
            Some("date-time") if !is_date_time(text) => {
                found.push(format!("{at}: `{text}` is not an RFC 3339 date-time"));
            }
            Some("uri" | "date-time") | None => {}
            Some(other) => panic!("unknown string format {other}"),
        }
    }
    if let Some(items) = value.as_array()
        && let Some(item_schema) = schema.get("items")
    {
        for (index, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{at}[{index}]"), found);
        }
    }
    // Object keywords apply where the schema says `type: object` (not to a `oneOf` wrapper).
    if let Some(object) = value
        .as_object()
        .filter(|_| schema.get("type") == Some(&json!("object")))
    {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                found.push(format!("{at}: missing required `{name}`"));
            }
        }
        for (name, property) in object {
            let place = format!("{at}.{name}");
            match properties.and_then(|properties| properties.get(name)) {
                Some(property_schema) => check(property_schema, property, &place, found),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(true)) => {}
                    Some(extra) if extra.is_object() => check(extra, property, &place, found),
                    _ => found.push(format!("{place}: not a property the schema declares")),
                },
            }
        }
    }
}

fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !text.contains(char::is_whitespace)
}

/// `YYYY-MM-DDTHH:MM:SS` with optional fraction, then `Z` or `±HH:MM`.
fn is_date_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let head = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(bytes.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
        && digits(14..16)
        && bytes.get(16) == Some(&b':')
        && digits(17..19);
    if !head {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return false;
        }
        rest = &fraction[end..];
    }
    rest == "Z" || rest == "z" || {
        let zone = rest.as_bytes();
        zone.len() == 6
            && matches!(zone[0], b'+' | b'-')
            && zone[1..3].iter().all(u8::is_ascii_digit)
            && zone[3] == b':'
            && zone[4..6].iter().all(u8::is_ascii_digit)
    }
}

/// The smallest instance of `schema` (nullable → null, only required properties).
pub(crate) fn minimal(schema: &Value) -> Value {
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        return Value::Null;
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        return minimal(&alternatives[0]);
    }
    match schema["type"].as_str() {
        Some("object") => Value::Object(
            schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|name| (name.to_string(), minimal(&schema["properties"][name])))
                .collect(),
        ),
        Some("array") => json!([]),
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(false),
        _ => match schema["format"].as_str() {
            Some("uri") => json!("https://github.com/octo-org/shop"),
            Some("date-time") => json!("2026-12-06T00:00:00Z"),
            _ => json!("x"),
        },
    }
}

/// `overlay` laid over `base`: objects merged key by key, anything else replaced.
pub(crate) fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}
