//! The job summary as a list of blocks, rendered under GitHub's 1 MiB step-summary limit.
//!
//! Blocks that carry detail (file lists, logs) are collapsible and are the first to be cut when
//! the whole would not fit; the summary then says what was cut.

/// GitHub refuses to upload a step summary over 1 MiB; stay clearly below it.
pub const SUMMARY_LIMIT: usize = 1024 * 1024 - 16 * 1024;

/// One piece of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Always shown (headings, verdicts, tables).
    Essential(String),
    /// A collapsible `<details>` block whose body may be truncated to fit.
    Details { summary: String, body: String },
}

/// The whole job summary of one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub blocks: Vec<Block>,
}

impl Summary {
    pub fn push(&mut self, markdown: impl Into<String>) {
        self.blocks.push(Block::Essential(markdown.into()));
    }

    pub fn details(&mut self, summary: impl Into<String>, body: impl Into<String>) {
        self.blocks.push(Block::Details {
            summary: summary.into(),
            body: body.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Renders the summary in at most `limit` bytes, shortening details first.
    pub fn render(&self, limit: usize) -> String {
        let mut bodies: Vec<Option<String>> = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Details { body, .. } => Some(body.clone()),
                Block::Essential(_) => None,
            })
            .collect();
        let mut text = render_with(&self.blocks, &bodies);
        if text.len() <= limit {
            return text;
        }
        // Cut the largest detail bodies first until the whole fits.
        loop {
            let largest = bodies
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.as_ref().map(|b| (i, b.len())))
                .filter(|(_, len)| *len > 200)
                .max_by_key(|(_, len)| *len);
            let Some((index, len)) = largest else { break };
            let excess = text.len().saturating_sub(limit);
            let keep = len.saturating_sub(excess + 200);
            let body = bodies[index].take().unwrap_or_default();
            let cut = floor_char_boundary(&body, keep);
            bodies[index] = Some(format!(
                "{}\n\n… truncated: {} bytes omitted to keep the job summary under GitHub's 1 MiB limit; the full text is in the job log.",
                &body[..cut],
                body.len() - cut
            ));
            text = render_with(&self.blocks, &bodies);
            if text.len() <= limit {
                return text;
            }
        }
        // Essential blocks alone are too large: hard cut with a note.
        let note = "\n\n**… summary truncated at GitHub's 1 MiB limit; see the job log.**\n";
        let cut = floor_char_boundary(&text, limit.saturating_sub(note.len()));
        format!("{}{note}", &text[..cut])
    }
}

fn render_with(blocks: &[Block], bodies: &[Option<String>]) -> String {
    let mut out = String::new();
    for (block, body) in blocks.iter().zip(bodies) {
        match block {
            Block::Essential(markdown) => {
                out.push_str(&super::tables::lift_constant_columns(markdown))
            }
            Block::Details { summary, .. } => {
                out.push_str("<details><summary>");
                out.push_str(&super::tables::html_title(summary));
                out.push_str("</summary>\n\n");
                out.push_str(body.as_deref().unwrap_or_default());
                out.push_str("\n\n</details>");
            }
        }
        if !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
    }
    out
}

fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Escapes text for a GFM table cell or inline text: HTML, Markdown markup, pipes and newlines.
/// Branch names, file names and titles come from the event and are attacker-controlled.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' | '@' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Inline text that marks code with backticks (`kubeconfig`, as messages write it): the code
/// becomes code spans, everything else is escaped, so a reader sees neither backticks nor
/// backslashes.
pub fn inline_markdown(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An unpaired backtick: no code spans, escape it all.
        return escape_markdown(text);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 && !part.is_empty() {
                code_span(part)
            } else {
                escape_markdown(part)
            }
        })
        .collect()
}

/// Wraps text in an inline code span that its own backticks cannot break out of.
pub fn code_span(text: &str) -> String {
    if !text
        .bytes()
        .any(|b| matches!(b, b'\n' | b'\r' | b'`' | b'|'))
    {
        // Nothing to replace or fence against (a path, a name): one backtick each side. A
        // summary quotes up to a thousand files this way.
        let mut span = String::with_capacity(text.len() + 2);
        span.push('`');
        span.push_str(text);
        span.push('`');
        return span;
    }
    let clean: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let longest_run = clean.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if clean.starts_with('`') || clean.ends_with('`') {
        " "
    } else {
        ""
    };
    // Inside a table a pipe still splits the cell, even in a code span.
    let clean = clean.replace('|', "\\|");
    format!("{fence}{pad}{clean}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_summaries_are_untouched() {
        let mut summary = Summary::default();
        summary.push("## Detect");
        summary.details("files", "a\nb");
        assert_eq!(
            summary.render(SUMMARY_LIMIT),
            "## Detect\n\n<details><summary>files</summary>\n\na\nb\n\n</details>\n\n"
        );
    }

    #[test]
    fn details_are_cut_first_and_the_cut_is_said() {
        let mut summary = Summary::default();
        summary.push("## Verdict: ok");
        summary.details("logs", "x".repeat(5000));
        summary.push("end table");
        let text = summary.render(2000);
        assert!(text.len() <= 2000, "{}", text.len());
        assert!(text.contains("## Verdict: ok"));
        assert!(text.contains("end table"));
        assert!(text.contains("truncated"));
    }

    #[test]
    fn essential_overflow_is_hard_cut_with_a_note() {
        let mut summary = Summary::default();
        summary.push("é".repeat(3000));
        let text = summary.render(1000);
        assert!(text.len() <= 1000);
        assert!(text.contains("summary truncated"));
    }

    #[test]
    fn markdown_escaping_neutralises_markup() {
        assert_eq!(
            escape_markdown("<img src=x>|**b**\n"),
            "&lt;img src=x&gt;&#124;\\*\\*b\\*\\* "
        );
    }

    #[test]
    fn code_spans_fence_backticks_and_neutralise_breaks_and_pipes() {
        for (text, span) in [
            // Plain text (the direct path): one backtick each side.
            ("services/auth/src/main.rs", "`services/auth/src/main.rs`"),
            ("", "``"),
            ("a b*_<x>", "`a b*_<x>`"),
            // Anything else takes the general path.
            ("a`b", "``a`b``"),
            ("`x", "`` `x ``"),
            ("``x``", "``` ``x`` ```"),
            ("a|b", "`a\\|b`"),
            ("line\nbreak\r", "`line break `"),
        ] {
            assert_eq!(code_span(text), span, "{text:?}");
        }
    }
}
