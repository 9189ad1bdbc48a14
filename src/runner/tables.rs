//! Summary markdown that stays readable (and small) at any scale: a long table whose column holds
//! the same value in every row says that value once above the table instead of in every row, and
//! a `<details>` title (raw HTML, where markdown is not rendered) shows code as `<code>`, not as
//! backticks and backslashes.

/// Tables with more rows than this have their constant columns lifted; shorter ones (the common
/// case of a handful of services) stay exactly as written.
pub const LIFT_ROWS: usize = 10;

/// Cells of one table line, split on pipes that are not escaped (`\|` inside code spans).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut escaped = false;
    for c in inner.chars() {
        if c == '|' && !escaped {
            cells.push(cell.trim().to_string());
            cell.clear();
        } else {
            cell.push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    cells.push(cell.trim().to_string());
    cells
}

fn is_delimiter(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('|')
        && line.contains('-')
        && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// The kept cells of a row as a table line.
fn row(cells: &[String], kept: &[usize]) -> String {
    let joined: Vec<&str> = kept.iter().map(|&c| cells[c].as_str()).collect();
    format!("| {} |", joined.join(" | "))
}

/// One table (header, delimiter, rows) rewritten without its constant columns, or `None` when
/// it is short or nothing is constant. The first column (what the row is about) always stays.
fn lift(header: &str, rows: &[&str]) -> Option<String> {
    if rows.len() <= LIFT_ROWS {
        return None;
    }
    let names = cells(header);
    let body: Vec<Vec<String>> = rows.iter().map(|r| cells(r)).collect();
    if body.iter().any(|r| r.len() != names.len()) {
        return None;
    }
    let constant: Vec<usize> = (1..names.len())
        .filter(|&c| body.iter().all(|r| r[c] == body[0][c]))
        .collect();
    if constant.is_empty() {
        return None;
    }
    let kept: Vec<usize> = (0..names.len()).filter(|c| !constant.contains(c)).collect();
    let same: Vec<String> = constant
        .iter()
        // A line break inside a cell reads as a separator on one line.
        .map(|&c| format!("**{}** {}", names[c], body[0][c].replace("<br>", ": ")))
        .collect();
    let mut text = format!("In all {} rows: {}\n\n", rows.len(), same.join(" · "));
    text.push_str(&row(&names, &kept));
    text.push('\n');
    text.push_str(&format!("|{}\n", " --- |".repeat(kept.len())));
    for r in &body {
        text.push_str(&row(r, &kept));
        text.push('\n');
    }
    Some(text)
}

/// The markdown with every long table's constant columns said once above it.
pub fn lift_constant_columns(markdown: &str) -> String {
    let lines: Vec<&str> = markdown.split_inclusive('\n').collect();
    let mut out = String::with_capacity(markdown.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim_start().starts_with('|') && lines.get(i + 1).is_some_and(|l| is_delimiter(l)) {
            let mut end = i + 2;
            while end < lines.len() && lines[end].trim_start().starts_with('|') {
                end += 1;
            }
            let rows: Vec<&str> = lines[i + 2..end]
                .iter()
                .map(|l| l.trim_end_matches('\n'))
                .collect();
            if let Some(text) = lift(line.trim_end_matches('\n'), &rows) {
                out.push_str(&text);
                if !lines[end - 1].ends_with('\n') {
                    out.pop();
                }
                i = end;
                continue;
            }
        }
        out.push_str(line);
        i += 1;
    }
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A `<details>` title written as inline markdown (escapes, code spans), as HTML: inside the
/// raw `<summary>` element GitHub renders no markdown, so backticks and backslashes would show.
pub fn html_title(markdown: &str) -> String {
    let chars: Vec<char> = markdown.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) {
            out.push(chars[i + 1]);
            i += 2;
        } else if c == '`' {
            let run = chars[i..].iter().take_while(|&&c| c == '`').count();
            let start = i + run;
            // The closing run of exactly the same length.
            let mut j = start;
            let mut close = None;
            while j < chars.len() {
                if chars[j] == '`' {
                    let len = chars[j..].iter().take_while(|&&c| c == '`').count();
                    if len == run {
                        close = Some(j);
                        break;
                    }
                    j += len;
                } else {
                    j += 1;
                }
            }
            match close {
                Some(end) => {
                    let content: String = chars[start..end].iter().collect();
                    let content = if content.len() > 2
                        && content.starts_with(' ')
                        && content.ends_with(' ')
                    {
                        content[1..content.len() - 1].to_string()
                    } else {
                        content
                    };
                    out.push_str(&format!(
                        "<code>{}</code>",
                        html_escape(&content.replace("\\|", "|"))
                    ));
                    i = end + run;
                }
                None => {
                    out.push_str(&"`".repeat(run));
                    i = start;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize) -> String {
        let mut text =
            String::from("### Build\n\n| Service | Image | Result |\n| --- | --- | --- |\n");
        for i in 0..rows {
            text.push_str(&format!("| **s{i}** | `img{i}` | ➖ dry run |\n"));
        }
        text
    }

    #[test]
    fn short_tables_are_untouched() {
        assert_eq!(lift_constant_columns(&table(LIFT_ROWS)), table(LIFT_ROWS));
    }

    #[test]
    fn constant_columns_of_long_tables_are_said_once() {
        let text = lift_constant_columns(&table(12));
        assert!(text.starts_with("### Build\n\nIn all 12 rows: **Result** ➖ dry run\n\n| Service | Image |\n| --- | --- |\n| **s0** | `img0` |\n"), "{text}");
        assert_eq!(text.matches("dry run").count(), 1, "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("| **s")).count(), 12);
    }

    #[test]
    fn escaped_pipes_stay_inside_their_cell() {
        assert_eq!(cells("| a | `x\\|y` | b |"), vec!["a", "`x\\|y`", "b"]);
    }

    #[test]
    fn titles_show_code_as_html() {
        assert_eq!(html_title("Labels of auth\\_svc"), "Labels of auth_svc");
        assert_eq!(
            html_title("The plan (JSON, the `plan` output) of `a<b`"),
            "The plan (JSON, the <code>plan</code> output) of <code>a&lt;b</code>"
        );
        assert_eq!(
            html_title("Diagnosis of api: x &lt;y&gt;"),
            "Diagnosis of api: x &lt;y&gt;"
        );
        assert_eq!(html_title("`` a`b ``"), "<code>a`b</code>");
    }
}
