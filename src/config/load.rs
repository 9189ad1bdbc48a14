//! Reading and parsing the config file, turning parser errors into located diagnostics.

use super::model::ConfigFile;
use super::{Config, validate};
use crate::diagnostic::{Diagnostic, Location};
use crate::error::Failure;
use std::path::Path;

/// Loads and validates the config at `path` (`display` is how messages name it).
pub fn load(path: &Path, display: &str) -> Result<Config, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::NotFound {
            format!("no config file at {display}")
        } else {
            format!("cannot read {display}: {e}")
        };
        Failure::usage(Diagnostic::error("shipgate config", message).with_help(
            "create .github/shipgate.yml (see the README's config reference) or pass --config",
        ))
    })?;
    parse(&text, display)
}

/// How many parse errors are collected before giving up on finding more.
const MAX_PARSE_ERRORS: usize = 20;

/// Parses and validates config text, reporting every problem at once.
///
/// The parser stops at its first error. To find the next ones, the line of that error is blanked
/// (when it is a one-line `key: value`, so the structure around it stays intact and line numbers
/// do not move) and the text is parsed again. Once it parses, validation adds its own problems.
pub fn parse(text: &str, display: &str) -> Result<Config, Failure> {
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut current = text.to_string();
    let mut blanked: Vec<String> = Vec::new();
    // Blanking a whole `{ … }` mapping can make a valid part look missing (a service,
    // a dependency); then only the parse errors are reported.
    let mut structure_blanked = false;
    loop {
        let error =
            match serde_saphyr::from_str_with_options::<ConfigFile>(&current, parser_options()) {
                Ok(file) => {
                    return match validate::validate(file, display) {
                        Ok(config) if errors.is_empty() => Ok(config),
                        Ok(_) => Err(Failure::Usage(errors)),
                        Err(_) if structure_blanked => Err(Failure::Usage(errors)),
                        Err(failure) => {
                            errors.extend(
                                failure
                                    .diagnostics()
                                    .iter()
                                    .cloned()
                                    .map(|d| point_inside_health(text, d)),
                            );
                            Err(Failure::Usage(errors))
                        }
                    };
                }
                Err(error) => error,
            };
        let diagnostic = parse_error(&error, display, text);
        // A key we blanked is now "missing": not a problem of the file as written.
        let knock_on = blanked.iter().any(|key| {
            diagnostic
                .message
                .contains(&format!("missing field `{key}`"))
        });
        let line = diagnostic.location.as_ref().map(|l| l.line);
        if !knock_on && !errors.contains(&diagnostic) {
            errors.push(diagnostic);
        }
        let next = line.and_then(|line| blank_line(&current, line));
        match next {
            Some((text, key, structure)) if !knock_on && errors.len() < MAX_PARSE_ERRORS => {
                current = text;
                blanked.push(key);
                structure_blanked |= structure;
            }
            _ => return Err(Failure::Usage(errors)),
        }
    }
}

/// A `….deploy.health: health.<key>…` error located at its `health:` block, moved to the line
/// and column of that key inside the block (`health.headers.<name>`: the header's own line).
/// Unchanged when the key is not found (e.g. a problem of the block as a whole).
fn point_inside_health(text: &str, mut diagnostic: Diagnostic) -> Diagnostic {
    let Some((_, rest)) = diagnostic.message.split_once(".deploy.health: health.") else {
        return diagnostic;
    };
    let path = health_key_path(rest);
    let Some(location) = diagnostic.location.as_mut() else {
        return diagnostic;
    };
    if let Some((line, column)) = key_inside_block(text, location.line, "health", &path) {
        location.line = line;
        location.column = column;
    }
    diagnostic
}

/// The keys a health message names first: `expect-status: …` → `[expect-status]`,
/// `headers.X-Api: …` and ``headers: `X-Api` is …`` → `[headers, X-Api]`. Pure.
fn health_key_path(message: &str) -> Vec<&str> {
    let key_end = message
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(message.len());
    let key = &message[..key_end];
    let mut path = vec![key];
    // `headers.<name>: …` or `headers: `<name>` is not …`.
    let rest = &message[key_end..];
    if key == "headers" {
        if let Some(named) = rest.strip_prefix('.') {
            path.push(&named[..named.find([':', ' ']).unwrap_or(named.len())]);
        } else if let Some(quoted) = rest.strip_prefix(": `") {
            path.push(&quoted[..quoted.find('`').unwrap_or(quoted.len())]);
        }
    }
    path.retain(|k| !k.is_empty());
    path
}

/// Where `path` (nested keys) is inside the block `block:` found at or just above `near`
/// (1-based line): block style (each key deeper than the last) or one flow-style `{ … }` line.
/// (line, column), both 1-based. Pure.
fn key_inside_block(text: &str, near: u64, block: &str, path: &[&str]) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_key = |l: &str, key: &str| {
        let t = l.trim_start().trim_start_matches("- ");
        let t = t.strip_prefix(['"', '\'']).unwrap_or(t);
        t.strip_prefix(key).is_some_and(|r| {
            r.trim_start_matches(['"', '\''])
                .trim_start()
                .starts_with(':')
        })
    };
    let near = usize::try_from(near).ok()?.checked_sub(1)?;
    let start = (near.saturating_sub(1)..=near.min(lines.len().checked_sub(1)?))
        .rev()
        .find(|&i| is_key(lines[i], block))?;
    if let Some(flow) = lines[start].split_once('{').map(|(before, _)| before.len()) {
        let line = lines[start];
        let key = path.last()?;
        let column = line[flow..].find(&format!("{key}:")).map(|at| flow + at)?;
        return Some(((start + 1) as u64, (column + 1) as u64));
    }
    let (mut at, mut depth) = (start, indent(lines[start]));
    for key in path {
        let found = lines
            .iter()
            .enumerate()
            .skip(at + 1)
            .take_while(|(_, l)| {
                l.trim().is_empty() || l.trim_start().starts_with('#') || indent(l) > depth
            })
            .find(|(_, l)| is_key(l, key))?;
        at = found.0;
        depth = indent(found.1);
    }
    Some(((at + 1) as u64, (depth + 1) as u64))
}

/// `text` with line `line` (1-based) emptied, when it is a one-line `key: value` whose next line
/// is not indented deeper; with the key it held and whether its value was a `{…}` mapping.
fn blank_line(text: &str, line: u64) -> Option<(String, String, bool)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let target = *lines.get(index)?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let key = key_of_line(target)?;
    let (_, value) = target.split_once(':')?;
    if value.trim().is_empty() {
        return None;
    }
    let deeper_follows = lines
        .iter()
        .skip(index + 1)
        .find(|l| !l.trim().is_empty())
        .is_some_and(|next| indent(next) > indent(target));
    if deeper_follows {
        return None;
    }
    let structure = value.trim_start().starts_with('{');
    let mut out: Vec<&str> = lines;
    out[index] = "";
    Some((out.join("\n"), key, structure))
}

/// The key of a `key: value` or `- key: value` line.
fn key_of_line(line: &str) -> Option<String> {
    let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
    let (key, _) = trimmed.split_once(':')?;
    let key = key.trim().trim_matches(['"', '\'']);
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then(|| key.to_string())
}

/// The key whose value is at `line`:`column`: the last `key:` before the column on that line,
/// else the nearest line above, indented less, that ends with `key:`.
fn key_at(text: &str, line: u64, column: u64) -> Option<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let target = *lines.get(index)?;
    let before: String = target
        .chars()
        .take(usize::try_from(column).ok()?.saturating_sub(1))
        .collect();
    let pattern = regex::Regex::new(r"([A-Za-z0-9_-]+)['\x22]?\s*:\s*[^:]*$").ok()?;
    if let Some(captures) = pattern.captures(&before) {
        return Some(captures[1].to_string());
    }
    let indent = target.len() - target.trim_start().len();
    lines[..index]
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .find(|l| l.len() - l.trim_start().len() < indent)
        .and_then(|l| key_of_line(l))
}

fn parser_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options
}

/// A parser error as a diagnostic at its location, with "did you mean" for unknown keys and
/// type errors in words (`wave: one` → "`wave` must be a whole number").
fn parse_error(error: &serde_saphyr::Error, display: &str, text: &str) -> Diagnostic {
    let location = error.location().and_then(|l| {
        (l.line() > 0).then(|| Location {
            file: display.to_string(),
            line: l.line(),
            column: l.column().max(1),
        })
    });
    let raw = error.without_snippet().to_string();
    let message = first_line_without_location(&raw);
    let key = location
        .as_ref()
        .and_then(|l| key_at(text, l.line, l.column));
    let (message, help) = match explain_type(&message, key.as_deref()) {
        Some(explained) => explained,
        None => explain(&message),
    };
    let mut diagnostic = Diagnostic::error("shipgate config", message).at(location);
    if let Some(help) = help {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

fn first_line_without_location(raw: &str) -> String {
    let line = raw.lines().next().unwrap_or(raw).trim();
    // serde-saphyr appends " at line X, column Y"; the location is reported separately.
    let re = regex::Regex::new(r"\s*at line \d+,? column \d+\s*$").ok();
    match re {
        Some(re) => re.replace(line, "").to_string(),
        None => line.to_string(),
    }
}

/// The parser's type errors ("invalid u32", "expected sequence start") in words.
fn explain_type(message: &str, key: Option<&str>) -> Option<(String, Option<String>)> {
    let subject = key.map_or_else(|| "this value".to_string(), |k| format!("`{k}`"));
    let example = |e: &str| Some(format!("for example `{}: {e}`", key.unwrap_or("key")));
    let message = message.trim();
    let (what, help) = match message {
        "invalid u8" => ("a whole number from 0 to 255", None),
        "invalid u16" => ("a whole number from 0 to 65535", None),
        "invalid u32" | "invalid u64" | "invalid usize" => {
            ("a whole number (0 or more)", example("3"))
        }
        "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64" => ("a whole number", None),
        "invalid f32" | "invalid f64" => ("a number", None),
        "invalid boolean" | "invalid bool" => ("`true` or `false`", None),
        "expected string scalar" => ("text (one value, not a list or mapping)", None),
        "expected sequence start" => ("a list", example("[a, b]")),
        "expected mapping start" => ("a mapping of names to values", example("{ name: value }")),
        _ => return None,
    };
    Some((format!("{subject} must be {what}"), help))
}

/// Rewrites serde's "unknown field" message into a suggestion.
fn explain(message: &str) -> (String, Option<String>) {
    let unknown =
        regex::Regex::new(r"unknown (field|variant) `([^`]*)`, expected (?:one of )?(.*)$");
    if let Ok(re) = unknown
        && let Some(captures) = re.captures(message)
    {
        let what = if &captures[1] == "field" {
            "key"
        } else {
            "value"
        };
        let name = captures[2].to_string();
        let expected: Vec<String> = captures[3]
            .split(", ")
            .map(|e| e.trim().trim_matches('`').to_string())
            .filter(|e| !e.is_empty())
            .collect();
        let best = expected
            .iter()
            .map(|candidate| (strsim::jaro_winkler(&name, candidate), candidate))
            .filter(|(score, _)| *score > 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c.clone());
        let message = match &best {
            Some(best) => format!("unknown {what} `{name}`; did you mean `{best}`?"),
            None => format!("unknown {what} `{name}`"),
        };
        let help = format!(
            "allowed here: {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return (message, Some(help));
    }
    let duplicate =
        regex::Regex::new(r"^duplicate mapping key: (.*?)(?:, set DuplicateKeyPolicy.*)?$");
    if let Ok(re) = duplicate
        && let Some(captures) = re.captures(message)
    {
        return (
            format!("`{}` is defined twice", &captures[1]),
            Some("each name may appear once in a mapping; merge the two entries".into()),
        );
    }
    (message.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> Diagnostic {
        match parse(text, "shipgate.yml") {
            Ok(_) => panic!("expected an error"),
            Err(failure) => failure.diagnostics()[0].clone(),
        }
    }

    #[test]
    fn unknown_keys_get_a_suggestion_and_a_location() {
        let d = error_of("version: 1\nservices:\n  auth:\n    pathz: [a/**]\n");
        assert_eq!(d.message, "unknown key `pathz`; did you mean `paths`?");
        let location = d.location.unwrap();
        assert_eq!((location.line, location.column), (4, 5));
        assert!(d.help.unwrap().contains("`depends-on`"));
    }

    #[test]
    fn invalid_yaml_is_located() {
        let d = error_of("version: 1\nservices:\n  auth: [unclosed\n");
        assert!(d.location.is_some(), "{d:?}");
    }

    #[test]
    fn duplicate_service_names_are_refused() {
        let d = error_of("version: 1\nservices:\n  auth: {}\n  auth: {}\n");
        assert_eq!(d.message, "`auth` is defined twice");
        assert_eq!(d.location.unwrap().line, 4);
    }

    #[test]
    fn wrong_types_are_located() {
        let d = error_of("version: 1\nservices:\n  auth:\n    paths: 3\n");
        assert_eq!(d.location.unwrap().line, 4);
    }

    fn errors_of(text: &str) -> Vec<Diagnostic> {
        match parse(text, "shipgate.yml") {
            Ok(_) => panic!("expected errors"),
            Err(failure) => failure.diagnostics().to_vec(),
        }
    }

    #[test]
    fn config_type_errors_are_explained_in_words() {
        let d = error_of(
            "version: 1\nservices:\n  a:\n    paths: [a/**]\n    image: a\n    deploy:\n      wave: one\n",
        );
        assert_eq!(d.message, "`wave` must be a whole number (0 or more)");
        let d = error_of("version: 1\nservices:\n  a:\n    paths: a/**\n");
        assert_eq!(d.message, "`paths` must be a list");
        assert_eq!(d.help.as_deref(), Some("for example `paths: [a, b]`"));
        let d = error_of(
            "version: 1\nservices:\n  a:\n    image: a\n    deploy: { init-containers: maybe }\n",
        );
        assert_eq!(d.message, "`init-containers` must be `true` or `false`");
        let d = error_of(
            "version: 1\nservices:\n  a:\n    image: a\n    deploy:\n      health: { url: 'http://x', port: 99999 }\n",
        );
        assert_eq!(d.message, "`port` must be a whole number from 0 to 65535");
    }

    #[test]
    fn config_check_reports_every_parse_error_at_once() {
        let e = errors_of(
            "version: 1\nservices:\n  a:\n    paths: [a/**]\n    image: a\n    deploy:\n      wave: one\n      init-containers: maybe\n      kind: Pod\n  b:\n    pathz: [b/**]\n    depends-on: [zzz]\n",
        );
        let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(e.len(), 5, "{messages:#?}");
        assert_eq!(messages[0], "`wave` must be a whole number (0 or more)");
        assert_eq!(messages[1], "`init-containers` must be `true` or `false`");
        assert_eq!(messages[2], "unknown value `Pod`");
        assert!(messages[3].starts_with("unknown key `pathz`"));
        assert!(messages[4].contains("depends on `zzz`"));
        let lines: Vec<u64> = e
            .iter()
            .map(|d| d.location.as_ref().unwrap().line)
            .collect();
        assert_eq!(lines, vec![7, 8, 9, 11, 12]);
    }

    #[test]
    fn a_blanked_flow_mapping_adds_no_knock_on_errors() {
        let e = errors_of(
            "version: 1\nservices:\n  common: { paths: [a/**], bogus: 1 }\n  auth: { paths: [b/**], depends-on: [common] }\n",
        );
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].message.starts_with("unknown key `bogus`"));
    }

    #[test]
    fn a_blanked_required_key_is_not_reported_as_missing() {
        let e = errors_of("version: one\nservices:\n  a: { paths: [a/**] }\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].message, "`version` must be a whole number (0 or more)");
    }
}
