//! Untrusted text never becomes a workflow command.
//!
//! The runner reads every line of a step's stdout and stderr (a line ends at `\n`, `\r` or
//! `\r\n`) and executes it when, after leading whitespace, it starts with `::cmd` (and has a
//! second `::`), or when it holds the legacy `##[cmd]` form *anywhere*. File names, branch names,
//! pod logs, events and server messages reach our output, so every line we print that is not a
//! command of our own goes through [`neutralise`]: a zero-width space is put between the two
//! colons of a leading `::` and between `##` and `[`. The line reads the same in the log, and the
//! runner no longer sees a command. Commands of our own go through `Runner`'s raw writer only.
//!
//! JSON on stdout ([`JsonGuard`]) is kept exact: `##[` can only occur inside a JSON string
//! there, and is written `##\u005b`, which any JSON reader decodes to the same text; a JSON
//! line never starts with `::` (it starts with `{`, `}`, `[`, `]`, `"` or a value).

use std::borrow::Cow;
use std::io::Write;

const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// Whether the runner would take `line` (one line, no line break) as a workflow command.
///
/// Stricter than the runner: any `##[…]` counts, not only registered command names.
pub fn is_command_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    let v2 = trimmed
        .strip_prefix("::")
        .is_some_and(|rest| rest.contains("::"));
    let legacy = line
        .find("##[")
        .is_some_and(|at| line[at + 3..].contains(']'));
    v2 || legacy
}

/// The lines as the runner splits them (`\n`, `\r` and `\r\n` all end a line).
pub fn runner_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\r', '\n'])
}

/// `text` with every line made inert for the runner (unchanged when nothing needed it).
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if !runner_lines(text).any(needs_neutralising) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for piece in text.split_inclusive(['\r', '\n']) {
        let body = piece.trim_end_matches(['\r', '\n']);
        out.push_str(&neutralise_line(body));
        out.push_str(&piece[body.len()..]);
    }
    Cow::Owned(out)
}

fn needs_neutralising(line: &str) -> bool {
    line.trim_start().starts_with("::") || line.contains("##[")
}

fn neutralise_line(line: &str) -> String {
    let mut line = line.replace("##[", &format!("##{ZERO_WIDTH_SPACE}["));
    let indent = line.len() - line.trim_start().len();
    if line[indent..].starts_with("::") {
        line.insert(indent + 1, ZERO_WIDTH_SPACE);
    }
    line
}

/// A writer for JSON documents that escapes `##[` as `##\u005b` (same JSON value, no legacy
/// workflow command), also across the writes serde makes.
pub struct JsonGuard<W: Write> {
    inner: W,
    /// How many `#` the previous write ended with (0, 1 or 2+).
    hashes: usize,
}

impl<W: Write> JsonGuard<W> {
    pub fn new(inner: W) -> Self {
        JsonGuard { inner, hashes: 0 }
    }
}

impl<W: Write> Write for JsonGuard<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut start = 0;
        // Only a `[` can complete `##[`: look at the bytes (or the carried count) before each.
        for index in memchr::memchr_iter(b'[', buf) {
            let before = &buf[..index];
            let own = before
                .iter()
                .rev()
                .take(2)
                .take_while(|b| **b == b'#')
                .count();
            let hashes = if own == before.len() {
                own + self.hashes
            } else {
                own
            };
            if hashes >= 2 {
                self.inner.write_all(&buf[start..index])?;
                self.inner.write_all(b"\\u005b")?;
                start = index + 1;
            }
        }
        let trailing = buf.iter().rev().take_while(|b| **b == b'#').count();
        self.hashes = if trailing == buf.len() {
            self.hashes + trailing
        } else {
            trailing
        };
        self.inner.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_leading_double_colon_and_a_legacy_command_anywhere_are_neutralised() {
        for hostile in [
            "::add-mask::secret",
            "   ::error::forged",
            "\t::stop-commands::x",
            "\u{a0}::warning::nbsp is whitespace to the runner",
            "file a ##[add-mask]secret",
            "##[group]x",
        ] {
            assert!(is_command_line(hostile), "{hostile}");
            let safe = neutralise(hostile);
            assert!(!is_command_line(&safe), "{safe}");
            assert_eq!(safe.replace(ZERO_WIDTH_SPACE, ""), hostile);
        }
        assert_eq!(neutralise("a :: b"), "a :: b");
        assert!(matches!(neutralise("plain\ntext"), Cow::Borrowed(_)));
    }

    #[test]
    fn carriage_returns_start_a_line_for_the_runner() {
        let safe = neutralise("progress 10%\r::add-mask::x\r\n##[error]y\n");
        assert!(runner_lines(&safe).all(|l| !is_command_line(l)), "{safe:?}");
        assert_eq!(safe.matches('\r').count(), 2);
    }

    #[test]
    fn json_keeps_its_value_and_loses_the_legacy_command() {
        let value = serde_json::json!({"files": ["##[add-mask]x", "#", "a##", "[b"]});
        let mut out = Vec::new();
        let mut guard = JsonGuard::new(&mut out);
        // Byte by byte, to cross every write boundary.
        for byte in serde_json::to_vec_pretty(&value).unwrap() {
            guard.write_all(&[byte]).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("##["), "{text}");
        assert!(runner_lines(&text).all(|l| !is_command_line(l)));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    fn hostile() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "::",
            "##[",
            "]",
            "\n",
            "\r",
            "\r\n",
            "%0A",
            "%0D",
            "%25",
            " ",
            "\t",
            "\u{a0}",
            "\u{2028}",
            "add-mask",
            "error",
            "stop-commands",
            "::add-mask::",
            "x",
            "é",
        ]);
        prop::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
    }

    /// The text of the reports printed in Actions (detect, branch policy) for hostile names.
    fn reports(name: &str) -> Vec<String> {
        use crate::detect::changes::{Affected, Reason};
        use crate::detect::git::{ChangeKind, FileChange};
        use crate::detect::{ChangeSet, RangeInfo};
        let changes = ChangeSet {
            range: RangeInfo {
                base: Some(name.into()),
                head: None,
                description: format!("pull request {name}"),
            },
            files: vec![FileChange {
                path: format!("libs/{name}"),
                kind: ChangeKind::Modified,
            }],
            affected: vec![Affected {
                name: "common".into(),
                image: Some(name.into()),
                reason: Reason::Paths {
                    file: format!("libs/{name}"),
                    pattern: "libs/**".into(),
                    files: 1,
                },
            }],
            all_services: vec!["common".into()],
            diagnostics: Vec::new(),
            bases: None,
        };
        let policy = crate::policy::Policy::compile(
            &["users/{actor}/{slug}".to_string(), "feature/*".to_string()],
            &[],
            None,
        )
        .expect("a valid policy");
        let verdict = policy.evaluate(name, Some(name));
        vec![
            crate::report::detect::terminal(&changes, false),
            crate::report::detect::terminal(&changes, true),
            crate::report::policy::terminal(&policy, name, &verdict),
            crate::report::policy::annotation_message(name, &verdict),
        ]
    }

    proptest! {
        #[test]
        fn hostile_names_through_every_printed_report_give_no_command_line(name in hostile()) {
            for report in reports(&name) {
                let printed = neutralise(&report);
                for line in runner_lines(&printed) {
                    prop_assert!(!is_command_line(line), "{:?} in {:?}", line, report);
                }
            }
        }

        #[test]
        fn no_line_of_a_neutralised_text_is_a_command(text in hostile()) {
            let safe = neutralise(&text);
            for line in runner_lines(&safe) {
                prop_assert!(!is_command_line(line), "{:?} from {:?}", line, text);
            }
            prop_assert_eq!(safe.replace(ZERO_WIDTH_SPACE, ""), text.replace(ZERO_WIDTH_SPACE, ""));
        }

        #[test]
        fn json_of_hostile_strings_has_no_command_and_the_same_value(items in prop::collection::vec(hostile(), 0..6)) {
            let value = serde_json::json!({ "items": items });
            let mut out = Vec::new();
            serde_json::to_writer_pretty(JsonGuard::new(&mut out), &value).unwrap();
            let text = String::from_utf8(out).unwrap();
            for line in runner_lines(&text) {
                prop_assert!(!is_command_line(line), "{:?}", line);
            }
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, value);
        }
    }
}
