//! Whole-output snapshots with `insta`: job summaries and terminal output are compared in full,
//! so a reviewer sees every line that changed in the `.snap` diff.
//!
//! [`filtered`] hides what differs between runs: the temporary directories, commit SHAs, image
//! digests, times and durations. Snapshots live in `tests/it/snapshots/`; `cargo insta review`
//! (or `INSTA_UPDATE=always`) accepts changes. In CI (`CI=true`) a mismatch fails the test and
//! nothing is written.

use std::path::Path;

/// Settings whose filters replace `scratch` (the test's temporary directories) and every
/// run-dependent value with a placeholder; run the assertion inside `bind`.
pub(crate) fn filtered(scratch: &[&Path]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    for path in scratch {
        let text = path.display().to_string();
        if let Ok(real) = path.canonicalize() {
            settings.add_filter(&regex_escape(&real.display().to_string()), "[TMP]");
        }
        settings.add_filter(&regex_escape(&text), "[TMP]");
    }
    for (pattern, replacement) in FILTERS {
        settings.add_filter(pattern, *replacement);
    }
    settings
}

/// Applied in order: digests before SHAs (a digest holds 64 hex digits), times before durations.
const FILTERS: &[(&str, &str)] = &[
    (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
    (r#""timestamp": \d+"#, r#""timestamp": [EPOCH]"#),
    (r"\b[0-9a-f]{40}\b", "[SHA]"),
    (r"\b[0-9a-f]{7,12}\b", "[SHORT-SHA]"),
    (
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[TIME]",
    ),
    (r"\b\d+m \d{2}s\b", "[DURATION]"),
    (r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]"),
    (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
    (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
];

/// A run's terminal output, both streams, labelled.
pub(crate) fn terminal(run: &super::Run) -> String {
    format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr)
}

fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
