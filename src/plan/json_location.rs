//! Where a value is in a JSON text, for located errors about a plan that parsed but is wrong.
//!
//! serde_json gives positions only for syntax and type errors; a semantic check knows the path of
//! the bad value (`services[3].name`). This walks the (already well-formed) text along that path
//! without building anything, and only runs when there is an error to locate.

/// One step of a path into a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The 1-based line and column (in characters) where the value at `path` starts.
pub(super) fn locate(text: &str, path: &[Step]) -> Option<(u64, u64)> {
    let mut cursor = Cursor {
        text: text.as_bytes(),
        at: 0,
    };
    for step in path {
        cursor.skip_space();
        match step {
            Step::Key(key) => cursor.enter_key(key)?,
            Step::Index(index) => cursor.enter_index(*index)?,
        }
    }
    cursor.skip_space();
    Some(line_and_column(text, cursor.at))
}

fn line_and_column(text: &str, offset: usize) -> (u64, u64) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|b| *b == b'\n').count() as u64 + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[start..].chars().count() as u64 + 1;
    (line, column)
}

struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Moves past a string, returning its raw (still escaped) content.
    fn string(&mut self) -> Option<&[u8]> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => break,
                _ => self.at += 1,
            }
        }
        let raw = self.text.get(start..self.at)?;
        self.at += 1;
        Some(raw)
    }

    /// Moves past one value of any kind.
    fn skip_value(&mut self) -> Option<()> {
        self.skip_space();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                self.skip_space();
                if self.peek()? == close {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value()?;
                    self.skip_space();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b if b == close => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                Some(())
            }
        }
    }

    /// Inside an object, moves to the value of `key` (the last one when repeated, like serde).
    fn enter_key(&mut self, key: &str) -> Option<()> {
        self.expect(b'{')?;
        let mut found = None;
        loop {
            self.skip_space();
            if self.peek()? == b'}' {
                break;
            }
            let raw = self.string()?;
            let matches = raw == key.as_bytes()
                || (raw.contains(&b'\\')
                    && serde_json::from_slice::<String>(&[b"\"", raw, b"\""].concat())
                        .is_ok_and(|decoded| decoded == key));
            self.expect(b':')?;
            self.skip_space();
            if matches {
                found = Some(self.at);
            }
            self.skip_value()?;
            self.skip_space();
            if self.peek()? == b',' {
                self.at += 1;
            }
        }
        self.at = found?;
        Some(())
    }

    /// Inside an array, moves to element `index`.
    fn enter_index(&mut self, index: usize) -> Option<()> {
        self.expect(b'[')?;
        for _ in 0..index {
            self.skip_value()?;
            self.expect(b',')?;
        }
        self.skip_space();
        (self.peek()? != b']').then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_along_their_path() {
        let text = "{\n  \"version\": 2,\n  \"services\": [\n    {\"name\": \"a\", \"tags\": []},\n    {\"n\\u0061me\": \"ä\", \"name\": \"b\",\n     \"tags\": [\"x\", {\"k\": [1, 2]}, \"z\"]}\n  ]\n}";
        let at = |path: &[Step]| locate(text, path);
        assert_eq!(at(&[Step::Key("version")]), Some((2, 14)));
        assert_eq!(
            at(&[Step::Key("services"), Step::Index(0), Step::Key("name")]),
            Some((4, 14))
        );
        assert_eq!(
            at(&[Step::Key("services"), Step::Index(1), Step::Key("name")]),
            Some((5, 32))
        );
        assert_eq!(
            at(&[
                Step::Key("services"),
                Step::Index(1),
                Step::Key("tags"),
                Step::Index(2)
            ]),
            Some((6, 35))
        );
        assert_eq!(at(&[Step::Key("services"), Step::Index(2)]), None);
        assert_eq!(at(&[Step::Key("nothing")]), None);
        assert_eq!(at(&[]), Some((1, 1)));
    }
}
