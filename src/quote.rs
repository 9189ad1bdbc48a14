//! Quoting for the places a value ends up: a POSIX shell word, a CSV field.

/// Quotes a word for a POSIX shell, leaving plain words readable.
pub fn shell(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./@%+=:,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Quotes a CSV field (RFC 4180) when it holds a comma, quote, space or line break.
pub fn csv(field: &str) -> String {
    if field.contains([',', '"', ' ', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_like_paths_filter() {
        assert_eq!(csv("file with space"), "\"file with space\"");
        assert_eq!(csv("file, with coma"), "\"file, with coma\"");
        assert_eq!(
            csv("file \" with double quote"),
            "\"file \"\" with double quote\""
        );
        assert_eq!(csv("path/to/file.txt"), "path/to/file.txt");
    }

    #[test]
    fn shell_words_survive_a_real_shell() {
        for word in [
            "file with space",
            "$var",
            "file'with quote\"",
            "a`b`",
            "x;rm -rf /",
            "-n",
            "",
            "ünï",
        ] {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell(word)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&output.stdout), word, "{word}");
        }
    }
}
