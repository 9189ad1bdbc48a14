//! Pure verdicts on one response: is the status accepted, does the body say what it should.
//!
//! Kept free of I/O so every "wrong answer" message can be tested without a server.

use crate::config::model::{ExpectStatus, StatusSpec};
use serde_json::Value;

use super::HealthGate;

/// The accepted HTTP statuses, as inclusive ranges in the order they were written (so
/// [`StatusSet::describe`] echoes the config back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    /// `2xx`, the same default as Argo Rollouts' web metric and Flagger's webhooks.
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    /// Reads `expect-status`: `200`, `[200, 204]`, `"200-299"`, `"2xx"`, or a list mixing them.
    pub fn parse(expect: &ExpectStatus) -> Result<Self, String> {
        let specs: Vec<&StatusSpec> = match expect {
            ExpectStatus::One(spec) => vec![spec],
            ExpectStatus::Many(specs) => specs.iter().collect(),
        };
        if specs.is_empty() {
            return Err(
                "health.expect-status is an empty list: list at least one status, \
                 e.g. `[200, 204]`, or remove the key to accept any 2xx"
                    .to_string(),
            );
        }
        specs
            .into_iter()
            .map(parse_spec)
            .collect::<Result<Vec<_>, _>>()
            .map(StatusSet)
    }

    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        self.0
            .iter()
            .any(|&(low, high)| (low..=high).contains(&code))
    }

    /// `2xx`, `200, 204`, `200-299`: how the set reads in a "wrong answer" message.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|&(low, high)| match (low, high) {
                _ if low == high => low.to_string(),
                _ if low % 100 == 0 && high == low + 99 => format!("{}xx", low / 100),
                _ => format!("{low}-{high}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn parse_spec(spec: &StatusSpec) -> Result<(u16, u16), String> {
    let how = "write a status like `200`, a range like `200-299` or a class like `2xx`";
    match spec {
        StatusSpec::Code(code) => check_code(*code, how).map(|code| (code, code)),
        StatusSpec::Range(text) => {
            let text = text.trim();
            let bad = || format!("health.expect-status: `{text}` is not a status: {how}");
            if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
                let digit: u16 = match class.as_bytes() {
                    [d @ b'1'..=b'5'] => u16::from(d - b'0'),
                    _ => return Err(bad()),
                };
                return Ok((digit * 100, digit * 100 + 99));
            }
            let (low, high) = match text.split_once('-') {
                Some((low, high)) => (low.trim(), high.trim()),
                None => (text, text),
            };
            let low = low.parse::<u16>().map_err(|_| bad())?;
            let high = high.parse::<u16>().map_err(|_| bad())?;
            let low = check_code(low, how)?;
            let high = check_code(high, how)?;
            if low > high {
                return Err(format!(
                    "health.expect-status: range `{text}` is backwards: write it `{high}-{low}`"
                ));
            }
            Ok((low, high))
        }
    }
}

fn check_code(code: u16, how: &str) -> Result<u16, String> {
    if (100..=599).contains(&code) {
        Ok(code)
    } else {
        Err(format!(
            "health.expect-status: {code} is not an HTTP status (100-599): {how}"
        ))
    }
}

/// A JSON pointer check; every predicate that is set must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCheck {
    /// RFC 6901 pointer, `""` for the whole document.
    pub pointer: String,
    /// The value there must equal this (JSON equality: `1` ≠ `"1"`).
    pub equals: Option<Value>,
    /// The value there must be one of these.
    pub one_of: Option<Vec<Value>>,
    /// `Some(true)`: must be present; `Some(false)`: must be absent.
    pub exists: Option<bool>,
}

/// Bodies longer than this are judged on their beginning only: a health endpoint that returns
/// megabytes is answering something else, and the gate must not buffer it all.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why this response is a wrong answer, or `Ok` when it passes. Checks run in the order a human
/// would debug them: status, then text, then JSON.
pub fn judge_response(gate: &HealthGate, status: u16, body: &[u8]) -> Result<(), String> {
    judge(gate, status, body, false)
}

/// [`judge_response`] knowing whether the body was cut at [`MAX_BODY`], so a JSON parse failure
/// says so instead of blaming the server's JSON.
pub(super) fn judge(
    gate: &HealthGate,
    status: u16,
    body: &[u8],
    truncated: bool,
) -> Result<(), String> {
    if !gate.expect.contains(status) {
        return Err(format!(
            "status {status}, expected {}",
            gate.expect.describe()
        ));
    }
    if let Some(needle) = &gate.body_contains {
        let text = String::from_utf8_lossy(body);
        if !text.contains(needle.as_str()) {
            return Err(format!("body does not contain {needle:?}"));
        }
    }
    if let Some(check) = &gate.json {
        let document: Value = serde_json::from_slice(body).map_err(|error| {
            if truncated {
                format!(
                    "body is larger than {} MiB; not parsed as JSON",
                    MAX_BODY >> 20
                )
            } else if body.iter().all(u8::is_ascii_whitespace) {
                "body is empty, expected JSON".to_string()
            } else {
                format!("body is not JSON: {error}")
            }
        })?;
        judge_json(check, &document)?;
    }
    Ok(())
}

fn judge_json(check: &JsonCheck, document: &Value) -> Result<(), String> {
    let place = if check.pointer.is_empty() {
        "the JSON body".to_string()
    } else {
        check.pointer.clone()
    };
    let found = document.pointer(&check.pointer);
    match (found, check.exists) {
        (Some(value), Some(false)) => {
            return Err(format!(
                "{place} is {}, expected it to be absent",
                show(value)
            ));
        }
        (None, Some(false)) => return Ok(()),
        _ => {}
    }
    let expected = match (&check.equals, &check.one_of) {
        (Some(equals), _) => show(equals),
        (None, Some(one_of)) => format!("one of {}", show_list(one_of)),
        (None, None) => "it to exist".to_string(),
    };
    let Some(value) = found else {
        return Err(format!("{place} is missing, expected {expected}"));
    };
    if let Some(equals) = &check.equals
        && value != equals
    {
        return Err(format!(
            "{place} is {}, expected {}",
            show(value),
            show(equals)
        ));
    }
    if let Some(one_of) = &check.one_of
        && !one_of.contains(value)
    {
        return Err(format!(
            "{place} is {}, expected one of {}",
            show(value),
            show_list(one_of)
        ));
    }
    Ok(())
}

/// A JSON value as it appears in a message: compact, and cut so a huge object stays one line.
fn show(value: &Value) -> String {
    const LIMIT: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        text
    } else {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("{cut}…")
    }
}

fn show_list(values: &[Value]) -> String {
    values.iter().map(show).collect::<Vec<_>>().join(", ")
}

/// The start of a body for the summary: at most `EXCERPT_CHARS` characters of lossy UTF-8,
/// every control character (newlines, ANSI escapes, `\r`) turned into a space and runs of
/// whitespace collapsed, so a server's output can neither break the log line nor inject
/// workflow commands or terminal escapes.
pub fn body_excerpt(body: &[u8]) -> String {
    const EXCERPT_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if count == EXCERPT_CHARS {
            out.push('…');
            break;
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(expect: ExpectStatus) -> Result<StatusSet, String> {
        StatusSet::parse(&expect)
    }
    fn range(text: &str) -> StatusSpec {
        StatusSpec::Range(text.to_string())
    }

    #[test]
    fn status_sets_parse_and_describe() {
        let two_xx = set(ExpectStatus::One(range("2xx"))).unwrap();
        assert_eq!(two_xx, StatusSet::default());
        assert_eq!(two_xx.describe(), "2xx");
        assert!(two_xx.contains(200) && two_xx.contains(299));
        assert!(!two_xx.contains(199) && !two_xx.contains(300));

        let list = set(ExpectStatus::Many(vec![
            StatusSpec::Code(200),
            StatusSpec::Code(204),
        ]))
        .unwrap();
        assert_eq!(list.describe(), "200, 204");
        assert!(list.contains(204) && !list.contains(201));

        let spelled = set(ExpectStatus::One(range("200-299"))).unwrap();
        assert_eq!(spelled.describe(), "2xx");
        let odd = set(ExpectStatus::One(range(" 200 - 204 "))).unwrap();
        assert_eq!(odd.describe(), "200-204");
        let mixed = set(ExpectStatus::Many(vec![range("3XX"), range("404")])).unwrap();
        assert_eq!(mixed.describe(), "3xx, 404");
        assert!(mixed.contains(404) && mixed.contains(301) && !mixed.contains(200));
    }

    #[test]
    fn status_set_errors_say_how_to_fix() {
        for (bad, hint) in [
            (
                ExpectStatus::One(StatusSpec::Code(42)),
                "not an HTTP status",
            ),
            (ExpectStatus::One(range("ok")), "`ok` is not a status"),
            (ExpectStatus::One(range("6xx")), "`6xx` is not a status"),
            (ExpectStatus::One(range("299-200")), "write it `200-299`"),
            (
                ExpectStatus::One(range("200-700")),
                "700 is not an HTTP status",
            ),
            (ExpectStatus::Many(vec![]), "empty list"),
        ] {
            let error = set(bad).unwrap_err();
            assert!(error.starts_with("health.expect-status"), "{error}");
            assert!(error.contains(hint), "{error}");
        }
    }

    fn gate() -> HealthGate {
        HealthGate {
            url: "http://127.0.0.1/healthz".to_string(),
            forward: None,
            method: "GET".to_string(),
            headers: vec![],
            expect: StatusSet::default(),
            body_contains: None,
            json: None,
            timeout: std::time::Duration::from_secs(5),
            initial_delay: std::time::Duration::ZERO,
            interval: std::time::Duration::from_secs(5),
            attempts: 6,
            success_threshold: 1,
            critical: true,
        }
    }

    fn json_gate(
        equals: Option<Value>,
        one_of: Option<Vec<Value>>,
        exists: Option<bool>,
    ) -> HealthGate {
        HealthGate {
            json: Some(JsonCheck {
                pointer: "/status".to_string(),
                equals,
                one_of,
                exists,
            }),
            ..gate()
        }
    }

    #[test]
    fn status_is_judged_first() {
        let gate = HealthGate {
            body_contains: Some("ready".to_string()),
            ..gate()
        };
        assert_eq!(
            judge_response(&gate, 503, b"ready"),
            Err("status 503, expected 2xx".to_string())
        );
        assert_eq!(judge_response(&gate, 200, b"all ready"), Ok(()));
        assert_eq!(
            judge_response(&gate, 200, b"starting"),
            Err("body does not contain \"ready\"".to_string())
        );
    }

    #[test]
    fn json_predicates() {
        let equals = json_gate(Some(json!("ok")), None, None);
        assert_eq!(judge_response(&equals, 200, br#"{"status":"ok"}"#), Ok(()));
        assert_eq!(
            judge_response(&equals, 200, br#"{"status":"degraded"}"#),
            Err(r#"/status is "degraded", expected "ok""#.to_string())
        );
        assert_eq!(
            judge_response(&equals, 200, br#"{"other":1}"#),
            Err(r#"/status is missing, expected "ok""#.to_string())
        );
        let not_json = judge_response(&equals, 200, b"<html>").unwrap_err();
        assert!(not_json.starts_with("body is not JSON: "), "{not_json}");
        assert_eq!(
            judge_response(&equals, 200, b" \n"),
            Err("body is empty, expected JSON".to_string())
        );

        // JSON equality, not text equality.
        let number = json_gate(Some(json!(1)), None, None);
        assert_eq!(judge_response(&number, 200, br#"{"status":1}"#), Ok(()));
        assert_eq!(
            judge_response(&number, 200, br#"{"status":"1"}"#),
            Err(r#"/status is "1", expected 1"#.to_string())
        );

        let one_of = json_gate(None, Some(vec![json!("ok"), json!("up")]), None);
        assert_eq!(judge_response(&one_of, 200, br#"{"status":"up"}"#), Ok(()));
        assert_eq!(
            judge_response(&one_of, 200, br#"{"status":"down"}"#),
            Err(r#"/status is "down", expected one of "ok", "up""#.to_string())
        );

        let exists = json_gate(None, None, Some(true));
        assert_eq!(judge_response(&exists, 200, br#"{"status":null}"#), Ok(()));
        assert_eq!(
            judge_response(&exists, 200, b"{}"),
            Err("/status is missing, expected it to exist".to_string())
        );
        let absent = json_gate(None, None, Some(false));
        assert_eq!(judge_response(&absent, 200, b"{}"), Ok(()));
        assert_eq!(
            judge_response(&absent, 200, br#"{"status":[1,2]}"#),
            Err("/status is [1,2], expected it to be absent".to_string())
        );

        let both = json_gate(
            Some(json!("ok")),
            Some(vec![json!("ok"), json!("up")]),
            Some(true),
        );
        assert_eq!(judge_response(&both, 200, br#"{"status":"ok"}"#), Ok(()));
        assert!(judge_response(&both, 200, br#"{"status":"up"}"#).is_err());
    }

    #[test]
    fn whole_document_pointer_and_truncation() {
        let gate = HealthGate {
            json: Some(JsonCheck {
                pointer: String::new(),
                equals: Some(json!({"a": 1})),
                one_of: None,
                exists: None,
            }),
            ..gate()
        };
        assert_eq!(judge_response(&gate, 200, br#"{ "a" : 1 }"#), Ok(()));
        assert_eq!(
            judge_response(&gate, 200, br#"[1]"#),
            Err(r#"the JSON body is [1], expected {"a":1}"#.to_string())
        );
        assert_eq!(
            judge(&gate, 200, br#"{"a": 1, "b": ["#, true),
            Err("body is larger than 1 MiB; not parsed as JSON".to_string())
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = Value::String("x".repeat(500));
        let shown = show(&long);
        assert_eq!(shown.chars().count(), 81);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn excerpts_are_short_single_clean_lines() {
        assert_eq!(body_excerpt(b""), "");
        assert_eq!(
            body_excerpt(b"line one\r\n\r\n\tline\x1b[31m two\n::error::x\n"),
            "line one line [31m two ::error::x"
        );
        assert_eq!(body_excerpt(b"caf\xc3\xa9 \xff"), "café �");
        let long = body_excerpt("é".repeat(1000).as_bytes());
        assert_eq!(long.chars().count(), 201);
        assert!(long.ends_with('…'));
        assert_eq!(
            body_excerpt("a".repeat(200).as_bytes()).chars().count(),
            200
        );
    }
}
