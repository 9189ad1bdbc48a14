//! Workflow commands (`::error file=…::message`) with the runner's exact escaping rules.
//!
//! The runner unescapes `%25`, `%0D`, `%0A` in the message ("data") and additionally `%3A`, `%2C`
//! in property values, so anything we do not escape could end a property early or forge a
//! second command on a new line.

use crate::diagnostic::{Diagnostic, Level};

/// Escapes the message part of a workflow command.
pub fn escape_data(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=`, `title=`…): data escaping plus `:` and `,`.
pub fn escape_property(value: &str) -> String {
    escape_data(value).replace(':', "%3A").replace(',', "%2C")
}

/// Formats `::name key=value,…::message` with escaping applied.
pub fn workflow_command(name: &str, properties: &[(&str, String)], message: &str) -> String {
    let mut line = format!("::{name}");
    let mut first = true;
    for (key, value) in properties {
        line.push(if first { ' ' } else { ',' });
        first = false;
        line.push_str(key);
        line.push('=');
        line.push_str(&escape_property(value));
    }
    line.push_str("::");
    line.push_str(&escape_data(message));
    line
}

/// The annotation for a diagnostic (`::error file=…,line=…,col=…,title=…::message`).
pub fn annotation(diagnostic: &Diagnostic) -> String {
    let mut properties: Vec<(&str, String)> = Vec::new();
    if let Some(location) = &diagnostic.location {
        properties.push(("file", location.file.clone()));
        properties.push(("line", location.line.to_string()));
        properties.push(("col", location.column.to_string()));
    }
    if !diagnostic.title.is_empty() {
        properties.push(("title", diagnostic.title.clone()));
    }
    let name = match diagnostic.level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    workflow_command(name, &properties, &diagnostic.full_message())
}

/// `::add-mask::` for every non-empty line of a secret (the runner masks line by line).
pub fn add_mask(secret: &str) -> Vec<String> {
    secret
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| format!("::add-mask::{}", escape_data(line)))
        .collect()
}

/// The runner's unescaping of a property value, used by tests to prove the escaping round-trips.
pub fn unescape_property(value: &str) -> String {
    value
        .replace("%2C", ",")
        .replace("%3A", ":")
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

/// The runner's unescaping of command data.
pub fn unescape_data(value: &str) -> String {
    value
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Location;
    use proptest::prelude::*;

    #[test]
    fn escapes_data_and_properties() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn annotation_with_location_and_title() {
        let diagnostic = Diagnostic::error("config", "unknown key `pathz`").at(Some(Location {
            file: ".github/shipgate.yml".into(),
            line: 7,
            column: 5,
        }));
        assert_eq!(
            annotation(&diagnostic),
            "::error file=.github/shipgate.yml,line=7,col=5,title=config::unknown key `pathz`"
        );
    }

    #[test]
    fn a_newline_in_a_branch_name_cannot_forge_a_second_command() {
        let diagnostic = Diagnostic::error("branch", "bad\n::add-mask::x");
        let line = annotation(&diagnostic);
        assert_eq!(line.lines().count(), 1);
        assert!(line.ends_with("bad%0A::add-mask::x"));
    }

    #[test]
    fn masks_each_line() {
        assert_eq!(add_mask("a\n\nb\n"), vec!["::add-mask::a", "::add-mask::b"]);
    }

    /// Splits `::cmd k=v,k=v::data` the way the runner does: properties end at the first `::`
    /// after the command name, each property at `,`, each key at the first `=`.
    fn parse(line: &str) -> (String, Vec<(String, String)>, String) {
        let rest = line.strip_prefix("::").unwrap_or(line);
        let (head, data) = rest.split_once("::").unwrap_or((rest, ""));
        let (name, props) = head.split_once(' ').unwrap_or((head, ""));
        let properties = props
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), unescape_property(v))
            })
            .collect();
        (name.to_string(), properties, unescape_data(data))
    }

    proptest! {
        #[test]
        fn workflow_commands_round_trip(file in ".*", title in ".*", message in ".*") {
            let line = workflow_command("warning", &[("file", file.clone()), ("title", title.clone())], &message);
            prop_assert!(!line.contains('\n') && !line.contains('\r'));
            let (name, properties, data) = parse(&line);
            prop_assert_eq!(name, "warning");
            prop_assert_eq!(properties, vec![("file".to_string(), file), ("title".to_string(), title)]);
            prop_assert_eq!(data, message);
        }
    }
}
