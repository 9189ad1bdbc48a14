//! A text-level editor for the `images:` list of a kustomization.yaml.
//!
//! Only the lines of the entries it changes are touched: every other byte of the file (comments,
//! key order, blank lines, quoting, line endings) stays as it was. The file is parsed first (a
//! YAML error is located), the lines of the top-level `images:` block are followed by
//! indentation and matched one to one with the parsed list, and the edited text is parsed again
//! and compared with the expected document, so an edit that would change anything else is
//! refused instead of written.

use serde_json::{Map, Value};

/// What one `images:` entry must say after the edit: `name` selects it, the other three fields
/// are set when `Some` and removed when `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageEntry {
    fn fields(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("newName", self.new_name.as_deref()),
            ("newTag", self.new_tag.as_deref()),
            ("digest", self.digest.as_deref()),
        ]
    }
}

/// Why the file cannot be edited, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn error(line: usize, column: usize, message: impl Into<String>) -> EditError {
    EditError {
        line: line + 1,
        column: column + 1,
        message: message.into(),
    }
}

/// One line of the file: its text without the line break, and the break.
struct Line<'a> {
    text: &'a str,
    eol: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|raw| {
            let text = raw.trim_end_matches(['\n', '\r']);
            Line {
                text,
                eol: &raw[text.len()..],
            }
        })
        .collect()
}

/// How a scalar value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// A `key: value` line of an entry.
#[derive(Debug)]
struct KeyLine {
    line: usize,
    key: String,
    /// Byte range of the value in the line, and how it is quoted.
    value: Option<(usize, usize, Style)>,
    /// Lines below it that continue its value (a folded scalar).
    continued: bool,
    /// On the `- ` line itself.
    on_dash: bool,
}

/// One entry of the list as laid out in the file.
#[derive(Debug)]
struct EntryLines {
    dash: usize,
    key_column: Option<usize>,
    flow: bool,
    keys: Vec<KeyLine>,
    /// The last line that belongs to the entry (comments after it excluded).
    last: usize,
}

/// The `images:` block as laid out in the file.
struct Block {
    /// The `images:` line, when there is one.
    key_line: Option<usize>,
    /// `images: []` (or `~`, `null`): the value to replace with a block list.
    empty_value: Option<(usize, usize)>,
    sequence_column: Option<usize>,
    entries: Vec<EntryLines>,
}

/// The line edits, applied together at the end.
#[derive(Default)]
struct Edits {
    replace: std::collections::BTreeMap<usize, String>,
    delete: std::collections::BTreeSet<usize>,
    insert_after: std::collections::BTreeMap<usize, Vec<String>>,
    /// New lines at the end of the file.
    append: Vec<String>,
}

/// The kustomization `text` with its `images:` entries set as `entries` say (an entry is added
/// when none has the name). The text is returned unchanged when it already says so.
pub fn edit_images(text: &str, entries: &[ImageEntry]) -> Result<String, EditError> {
    let document = parse(text)?;
    let Value::Object(top) = &document else {
        return Err(error(0, 0, "a kustomization must be a mapping of keys"));
    };
    let parsed: Vec<Value> = match top.get("images") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(error(0, 0, "`images` must be a list")),
    };
    let lines = split_lines(text);
    let block = find_block(&lines, top.contains_key("images"))?;
    if block.entries.len() != parsed.len() {
        return Err(error(
            block.key_line.unwrap_or(0),
            0,
            format!(
                "the `images:` list has {} entries, but {} could be followed line by line; write it as a plain block list (`- name: …`)",
                parsed.len(),
                block.entries.len()
            ),
        ));
    }
    let eol = lines
        .first()
        .map_or("\n", |l| if l.eol.is_empty() { "\n" } else { l.eol });
    let mut edits = Edits::default();
    let mut expected = parsed.clone();
    let mut added = Vec::new();
    for entry in entries {
        let matching: Vec<usize> = (0..parsed.len())
            .filter(|&i| {
                parsed[i]
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| same_image(name, &entry.name))
            })
            .collect();
        match matching.as_slice() {
            [] => {
                added.push(entry);
                expected.push(expected_entry(&Map::new(), entry));
            }
            [index] => {
                let lines_of = &block.entries[*index];
                edit_entry(&lines, lines_of, &parsed[*index], entry, &mut edits)?;
                let Value::Object(map) = &parsed[*index] else {
                    return Err(error(
                        lines_of.dash,
                        0,
                        "an `images:` entry must be a mapping",
                    ));
                };
                expected[*index] = expected_entry(map, entry);
            }
            [first, second, ..] => {
                return Err(error(
                    block.entries[*second].dash,
                    0,
                    format!(
                        "two `images:` entries name `{}` (lines {} and {}); keep one",
                        entry.name,
                        block.entries[*first].dash + 1,
                        block.entries[*second].dash + 1
                    ),
                ));
            }
        }
    }
    add_entries(&lines, &block, &added, &mut edits);
    let edited = apply(&lines, &edits, eol);
    verify(&edited, top, expected, block.key_line)?;
    Ok(edited)
}

/// The edited text must parse to the original document with the expected `images:` list.
fn verify(
    edited: &str,
    top: &Map<String, Value>,
    expected: Vec<Value>,
    key_line: Option<usize>,
) -> Result<(), EditError> {
    let mut want = top.clone();
    if !expected.is_empty() || top.get("images").is_some_and(|v| !v.is_null()) {
        want.insert("images".into(), Value::Array(expected));
    }
    let got = parse(edited).map_err(|e| EditError {
        message: format!(
            "the edited file would not parse ({}); nothing written",
            e.message
        ),
        ..e
    })?;
    if got != Value::Object(want) {
        return Err(error(
            key_line.unwrap_or(0),
            0,
            "the edit would change more than the `images:` entries; nothing written (write the list as a plain block list)",
        ));
    }
    Ok(())
}

/// The document, or the parser's error at its place.
fn parse(text: &str) -> Result<Value, EditError> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
        let (line, column) = (
            usize::try_from(line).unwrap_or(1),
            usize::try_from(column).unwrap_or(1),
        );
        let raw = e.without_snippet().to_string();
        EditError {
            line,
            column,
            message: format!(
                "not valid YAML: {}",
                raw.lines().next().unwrap_or(&raw).trim()
            ),
        }
    })
}

/// Whether two image names are the same repository (`docker.io/library/x` is `x`).
pub fn same_image(a: &str, b: &str) -> bool {
    fn normal(name: &str) -> &str {
        let name = name
            .strip_prefix("docker.io/")
            .or_else(|| name.strip_prefix("index.docker.io/"))
            .unwrap_or(name);
        name.strip_prefix("library/").unwrap_or(name)
    }
    normal(a) == normal(b)
}

fn expected_entry(current: &Map<String, Value>, entry: &ImageEntry) -> Value {
    let mut map = current.clone();
    if !map.contains_key("name") {
        map.insert("name".into(), Value::String(entry.name.clone()));
    }
    for (key, value) in entry.fields() {
        match value {
            Some(value) => map.insert(key.into(), Value::String(value.into())),
            None => map.remove(key),
        };
    }
    Value::Object(map)
}

fn indent_of(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

fn is_insignificant(text: &str) -> bool {
    let trimmed = text.trim_start();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// The value after `key:` on a line, without its comment.
fn value_after_colon(text: &str) -> &str {
    strip_comment(text).trim()
}

fn strip_comment(text: &str) -> &str {
    let mut previous = ' ';
    let mut quote: Option<char> = None;
    for (index, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && (previous == ' ' || previous == '\t') => return &text[..index],
            None if (c == '\'' || c == '"') && (previous == ' ' || previous == ':') => {
                quote = Some(c)
            }
            None => {}
        }
        previous = c;
    }
    text
}

/// The top-level `images:` block: its key line and the lines of each entry.
fn find_block(lines: &[Line], has_key: bool) -> Result<Block, EditError> {
    let key_line = lines.iter().position(|l| {
        l.text
            .strip_prefix("images:")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    });
    let mut block = Block {
        key_line,
        empty_value: None,
        sequence_column: None,
        entries: Vec::new(),
    };
    let Some(start) = key_line else {
        if has_key {
            return Err(error(
                0,
                0,
                "cannot find the top-level `images:` line (write the key unquoted at the start of a line)",
            ));
        }
        return Ok(block);
    };
    let rest = &lines[start].text["images:".len()..];
    let value = value_after_colon(rest);
    match value {
        "" => {}
        "[]" | "~" | "null" => {
            let from = "images:".len() + rest.find(value).unwrap_or(0);
            block.empty_value = Some((from, from + value.len()));
            return Ok(block);
        }
        _ => {
            return Err(error(
                start,
                "images: ".len(),
                "`images:` is written in flow style (`[…]`) or with an anchor; shipgate edits block lists (`- name: …`) only",
            ));
        }
    }
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let inside = is_insignificant(l.text)
                || l.text.starts_with([' ', '\t'])
                || l.text == "-"
                || l.text.starts_with("- ");
            !inside
        })
        .map_or(lines.len(), |offset| start + 1 + offset);
    for (index, line) in lines.iter().enumerate().take(end).skip(start + 1) {
        let text = line.text;
        if is_insignificant(text) {
            continue;
        }
        if text.trim_start().starts_with('\t') || text.starts_with('\t') {
            return Err(error(
                index,
                0,
                "a tab in the indentation; YAML indents with spaces",
            ));
        }
        let indent = indent_of(text);
        let column = *block.sequence_column.get_or_insert(indent);
        let body = &text[indent..];
        if indent == column && (body == "-" || body.starts_with("- ")) {
            block.entries.push(dash_line(index, column, body));
            continue;
        }
        let Some(entry) = block.entries.last_mut().filter(|_| indent > column) else {
            return Err(error(
                index,
                indent,
                "expected an `images:` entry (`- name: …`) here",
            ));
        };
        key_line_of(entry, index, indent, body)?;
    }
    Ok(block)
}

/// The `- ` line that starts an entry.
fn dash_line(index: usize, column: usize, body: &str) -> EntryLines {
    let after = &body[1..];
    let spaces = after.len() - after.trim_start_matches(' ').len();
    let content = &after[spaces..];
    let mut entry = EntryLines {
        dash: index,
        key_column: None,
        flow: false,
        keys: Vec::new(),
        last: index,
    };
    if content.is_empty() || content.starts_with('#') {
        return entry;
    }
    if content.starts_with('{') {
        entry.flow = true;
        return entry;
    }
    let key_column = column + 1 + spaces;
    entry.key_column = Some(key_column);
    if let Some(mut key) = parse_key(index, key_column, content) {
        key.on_dash = true;
        entry.keys.push(key);
    }
    entry
}

/// A line inside an entry: a key at the entry's key column, or the continuation of a value.
fn key_line_of(
    entry: &mut EntryLines,
    index: usize,
    indent: usize,
    body: &str,
) -> Result<(), EditError> {
    entry.last = index;
    let key_column = *entry.key_column.get_or_insert(indent);
    if indent == key_column && !entry.flow {
        if let Some(key) = parse_key(index, key_column, body) {
            entry.keys.push(key);
            return Ok(());
        }
        return Err(error(
            index,
            indent,
            "expected `key: value` in an `images:` entry",
        ));
    }
    if indent > key_column
        && let Some(key) = entry.keys.last_mut()
    {
        key.continued = true;
        return Ok(());
    }
    if entry.flow {
        return Ok(());
    }
    Err(error(
        index,
        indent,
        "this line's indentation does not fit its `images:` entry",
    ))
}

/// `key: value` at `column` of line `index`.
fn parse_key(index: usize, column: usize, body: &str) -> Option<KeyLine> {
    let colon = body
        .char_indices()
        .find(|&(i, c)| {
            c == ':'
                && body[i + 1..]
                    .chars()
                    .next()
                    .is_none_or(|n| n == ' ' || n == '\t')
        })?
        .0;
    let key = body[..colon].trim().trim_matches(['"', '\'']).to_string();
    let after = &body[colon + 1..];
    let spaces = after.len() - after.trim_start().len();
    let start = column + colon + 1 + spaces;
    let value = scalar_span(&after[spaces..]).map(|(length, style)| (start, start + length, style));
    Some(KeyLine {
        line: index,
        key,
        value,
        continued: false,
        on_dash: false,
    })
}

/// The length of the scalar at the start of `text`, and its style; `None` for no value, a block
/// scalar, a flow collection, an anchor or an alias.
fn scalar_span(text: &str) -> Option<(usize, Style)> {
    let first = text.chars().next()?;
    match first {
        '\'' => {
            let mut chars = text.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                        continue;
                    }
                    return Some((i + 1, Style::Single));
                }
            }
            None
        }
        '"' => {
            let mut escaped = false;
            for (i, c) in text.char_indices().skip(1) {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => return Some((i + 1, Style::Double)),
                    _ => {}
                }
            }
            None
        }
        '#' | '|' | '>' | '[' | '{' | '&' | '*' | '!' => None,
        _ => Some((strip_comment(text).trim_end().len(), Style::Plain)),
    }
}

/// `value` written in `style`; plain only when it reads back as the same string.
fn render(value: &str, style: Style) -> String {
    match style {
        Style::Single => format!("'{}'", value.replace('\'', "''")),
        Style::Plain if plain_is_safe(value) => value.to_string(),
        Style::Plain | Style::Double => {
            serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
        }
    }
}

fn plain_is_safe(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+')
        })
        && value.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && !value.ends_with(':')
        && serde_saphyr::from_str::<Value>(&format!("k: {value}\n"))
            .is_ok_and(|parsed| parsed["k"] == Value::String(value.into()))
}

/// Edits the lines of one entry that `entry` changes.
fn edit_entry(
    lines: &[Line],
    layout: &EntryLines,
    current: &Value,
    entry: &ImageEntry,
    edits: &mut Edits,
) -> Result<(), EditError> {
    if layout.flow {
        return Err(error(
            layout.dash,
            0,
            format!(
                "the `images:` entry for `{}` is written in flow style (`{{…}}`); write it as a block mapping so shipgate can edit it",
                entry.name
            ),
        ));
    }
    let key_column = layout.key_column.unwrap_or(0);
    let mut missing = Vec::new();
    for (name, wanted) in entry.fields() {
        let existing = layout.keys.iter().find(|k| k.key == name);
        let now = current.get(name).and_then(Value::as_str);
        match (existing, wanted) {
            (Some(_), Some(value)) if now == Some(value) => {}
            (Some(key), Some(value)) => {
                let Some((from, to, style)) = key.value.filter(|_| !key.continued) else {
                    return Err(error(
                        key.line,
                        key_column,
                        format!(
                            "`{name}` of `{}` is not a one-line value; write it on one line",
                            entry.name
                        ),
                    ));
                };
                let text = lines[key.line].text;
                edits.replace.insert(
                    key.line,
                    format!("{}{}{}", &text[..from], render(value, style), &text[to..]),
                );
            }
            (Some(key), None) => {
                if key.on_dash || key.continued {
                    return Err(error(
                        key.line,
                        key_column,
                        format!(
                            "cannot remove `{name}` of `{}` from this line; put it on a line of its own",
                            entry.name
                        ),
                    ));
                }
                edits.delete.insert(key.line);
            }
            (None, Some(value)) => missing.push(format!(
                "{}{name}: {}",
                " ".repeat(key_column),
                render(value, Style::Plain)
            )),
            (None, None) => {}
        }
    }
    if !missing.is_empty() {
        let after = layout
            .keys
            .iter()
            .map(|k| k.line)
            .max()
            .map_or(layout.dash, |line| {
                // A continued value's lines belong to its key.
                let mut last = line;
                while last < layout.last && !is_insignificant(lines[last + 1].text) {
                    last += 1;
                }
                last
            });
        edits.insert_after.entry(after).or_default().extend(missing);
    }
    Ok(())
}

/// The lines of new entries, at the end of the list (or of the file).
fn add_entries(lines: &[Line], block: &Block, added: &[&ImageEntry], edits: &mut Edits) {
    if added.is_empty() {
        return;
    }
    let column = block.sequence_column.unwrap_or(0);
    let offset = block
        .entries
        .iter()
        .find_map(|e| e.key_column)
        .map_or(2, |key| key.saturating_sub(column).max(2));
    let mut new = Vec::new();
    for entry in added {
        new.push(format!(
            "{}-{}name: {}",
            " ".repeat(column),
            " ".repeat(offset - 1),
            render(&entry.name, Style::Plain)
        ));
        for (name, value) in entry.fields() {
            if let Some(value) = value {
                new.push(format!(
                    "{}{name}: {}",
                    " ".repeat(column + offset),
                    render(value, Style::Plain)
                ));
            }
        }
    }
    match block.key_line {
        None => {
            edits.append.push("images:".into());
            edits.append.extend(new);
        }
        Some(key_line) => {
            if let Some((_, to)) = block.empty_value {
                let text = lines[key_line].text;
                let rest = text[to..].trim_start();
                let line = if rest.is_empty() {
                    "images:".to_string()
                } else {
                    format!("images: {rest}")
                };
                edits.replace.insert(key_line, line);
            }
            let after = block.entries.last().map_or(key_line, |e| e.last);
            edits.insert_after.entry(after).or_default().extend(new);
        }
    }
}

fn apply(lines: &[Line], edits: &Edits, eol: &str) -> String {
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        if !edits.delete.contains(&index) {
            out.push_str(edits.replace.get(&index).map_or(line.text, String::as_str));
            out.push_str(line.eol);
        }
        if let Some(new) = edits.insert_after.get(&index) {
            if line.eol.is_empty() {
                out.push_str(eol);
            }
            for text in new {
                out.push_str(text);
                out.push_str(eol);
            }
        }
    }
    if !edits.append.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(eol);
        }
        for text in &edits.append {
            out.push_str(text);
            out.push_str(eol);
        }
    }
    out
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
