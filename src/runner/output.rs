//! Step outputs written to `$GITHUB_OUTPUT` as `name<<DELIMITER` heredocs.
//!
//! The delimiter is random for every value, so a value (e.g. a file list that an attacker
//! controls) cannot end the heredoc early and inject another output.

use std::fmt::Write as _;

/// Why an output could not be written safely.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutputError {
    #[error("output name `{0}` is not a valid name (letters, digits, `-` and `_` only)")]
    InvalidName(String),
    #[error("the value of output `{0}` contains its heredoc delimiter; refusing to write it")]
    DelimiterInValue(String),
}

/// A random delimiter in the runner's own style (`ghadelimiter_<128 random bits>`).
pub fn random_delimiter() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to time and address entropy; the value check below still
        // refuses any value that contains the delimiter.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let address = &bytes as *const _ as usize as u128;
        bytes = (nanos ^ (address << 64)).to_le_bytes();
    }
    let mut delimiter = String::from("ghadelimiter_");
    for byte in bytes {
        let _ = write!(delimiter, "{byte:02x}");
    }
    delimiter
}

/// Formats one output entry with the given delimiter.
pub fn format_output(name: &str, value: &str, delimiter: &str) -> Result<String, OutputError> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(OutputError::InvalidName(name.to_string()));
    }
    if value.contains(delimiter) {
        return Err(OutputError::DelimiterInValue(name.to_string()));
    }
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Formats all outputs, each with a fresh random delimiter.
pub fn format_outputs(outputs: &[(String, String)]) -> Result<String, OutputError> {
    let mut text = String::new();
    for (name, value) in outputs {
        text.push_str(&format_output(name, value, &random_delimiter())?);
    }
    Ok(text)
}

/// Reads back a `$GITHUB_OUTPUT` file the way the runner does (used by tests and `act` checks).
pub fn parse_output_file(text: &str) -> Vec<(String, String)> {
    let mut outputs = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value_lines = Vec::new();
            for value_line in lines.by_ref() {
                if value_line == delimiter {
                    break;
                }
                value_lines.push(value_line);
            }
            outputs.push((name.to_string(), value_lines.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.push((name.to_string(), value.to_string()));
        }
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delimiters_are_random_and_long() {
        let a = random_delimiter();
        let b = random_delimiter();
        assert_ne!(a, b);
        assert_eq!(a.len(), "ghadelimiter_".len() + 32);
    }

    #[test]
    fn a_value_holding_the_delimiter_is_refused() {
        let error = format_output("files", "a\nEOF\nevil=1", "EOF").unwrap_err();
        assert_eq!(error, OutputError::DelimiterInValue("files".into()));
    }

    #[test]
    fn names_are_checked() {
        assert!(format_output("a\nb", "x", "D").is_err());
        assert!(format_output("any-changed", "true", "D").is_ok());
    }

    proptest! {
        #[test]
        fn any_value_round_trips(value in "(?s).*") {
            let text = format_outputs(&[("changed-files".into(), value.clone()), ("next".into(), "1".into())]).unwrap();
            let parsed = parse_output_file(&text);
            prop_assert_eq!(parsed, vec![("changed-files".to_string(), value), ("next".to_string(), "1".to_string())]);
        }
    }
}
