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

/// Parses and validates config text.
pub fn parse(text: &str, display: &str) -> Result<Config, Failure> {
    let file: ConfigFile = serde_saphyr::from_str_with_options(text, parser_options())
        .map_err(|e| Failure::Usage(vec![parse_error(&e, display)]))?;
    validate::validate(file, display)
}

fn parser_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options
}

/// A parser error as a diagnostic at its location, with "did you mean" for unknown keys.
fn parse_error(error: &serde_saphyr::Error, display: &str) -> Diagnostic {
    let location = error.location().and_then(|l| {
        (l.line() > 0).then(|| Location {
            file: display.to_string(),
            line: l.line(),
            column: l.column().max(1),
        })
    });
    let raw = error.without_snippet().to_string();
    let message = first_line_without_location(&raw);
    let (message, help) = explain(&message);
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
}
