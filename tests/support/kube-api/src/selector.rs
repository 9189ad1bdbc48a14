//! Label and field selectors with the real syntax and error messages.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Id(String),
    Eq,
    DEq,
    Ne,
    Not,
    Open,
    Close,
    Comma,
    In,
    NotIn,
    End,
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Id(s) => s.clone(),
        Tok::Eq => "=".into(),
        Tok::DEq => "==".into(),
        Tok::Ne => "!=".into(),
        Tok::Not => "!".into(),
        Tok::Open => "(".into(),
        Tok::Close => ")".into(),
        Tok::Comma => ",".into(),
        Tok::In => "in".into(),
        Tok::NotIn => "notin".into(),
        Tok::End => String::new(),
    }
}

fn lex(s: &str) -> Vec<Tok> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '=' {
            if cs.get(i + 1) == Some(&'=') {
                out.push(Tok::DEq);
                i += 2;
            } else {
                out.push(Tok::Eq);
                i += 1;
            }
        } else if c == '!' {
            if cs.get(i + 1) == Some(&'=') {
                out.push(Tok::Ne);
                i += 2;
            } else {
                out.push(Tok::Not);
                i += 1;
            }
        } else if c == '(' {
            out.push(Tok::Open);
            i += 1;
        } else if c == ')' {
            out.push(Tok::Close);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else {
            let start = i;
            while i < cs.len() && !cs[i].is_whitespace() && !"=!(),".contains(cs[i]) {
                i += 1;
            }
            let w: String = cs[start..i].iter().collect();
            out.push(match w.as_str() {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Id(w),
            });
        }
    }
    out.push(Tok::End);
    out
}

/// Parses a label selector; errors carry the real parser's message.
pub(crate) fn parse_labels(s: &str) -> Result<Vec<Req>, String> {
    let toks = lex(s);
    let mut p = 0;
    let mut reqs = Vec::new();
    if toks[0] == Tok::End {
        return Ok(reqs);
    }
    loop {
        let (neg, key) = match &toks[p] {
            Tok::Not => {
                p += 1;
                match &toks[p] {
                    Tok::Id(k) => (true, k.clone()),
                    t => {
                        return Err(format!(
                            "unable to parse requirement: found '{}', expected: identifier",
                            tok_text(t)
                        ));
                    }
                }
            }
            Tok::Id(k) => (false, k.clone()),
            t => {
                return Err(format!(
                    "unable to parse requirement: found '{}', expected: !, identifier",
                    tok_text(t)
                ));
            }
        };
        p += 1;
        if neg {
            reqs.push(Req::NotExists(key));
        } else {
            match &toks[p] {
                Tok::Comma | Tok::End => reqs.push(Req::Exists(key)),
                Tok::Eq | Tok::DEq | Tok::Ne => {
                    let op = toks[p].clone();
                    p += 1;
                    let val = match &toks[p] {
                        Tok::Id(v) => {
                            p += 1;
                            v.clone()
                        }
                        Tok::Comma | Tok::End => String::new(),
                        t => {
                            return Err(format!(
                                "unable to parse requirement: found '{}', expected: identifier",
                                tok_text(t)
                            ));
                        }
                    };
                    reqs.push(if op == Tok::Ne {
                        Req::Ne(key, val)
                    } else {
                        Req::Eq(key, val)
                    });
                }
                Tok::In | Tok::NotIn => {
                    let notin = toks[p] == Tok::NotIn;
                    p += 1;
                    if toks[p] != Tok::Open {
                        return Err(format!(
                            "unable to parse requirement: found '{}', expected: '('",
                            tok_text(&toks[p])
                        ));
                    }
                    p += 1;
                    let mut vals = Vec::new();
                    loop {
                        match &toks[p] {
                            Tok::Id(v) => {
                                vals.push(v.clone());
                                p += 1;
                            }
                            Tok::Close => {
                                p += 1;
                                break;
                            }
                            _ => {}
                        }
                        match &toks[p] {
                            Tok::Comma => p += 1,
                            Tok::Close => {
                                p += 1;
                                break;
                            }
                            t => {
                                return Err(format!(
                                    "unable to parse requirement: found '{}', expected: ',' or ')'",
                                    tok_text(t)
                                ));
                            }
                        }
                    }
                    reqs.push(if notin {
                        Req::NotIn(key, vals)
                    } else {
                        Req::In(key, vals)
                    });
                }
                t => {
                    return Err(format!(
                        "unable to parse requirement: found '{}', expected: in, notin, =, ==, !=, gt, lt",
                        tok_text(t)
                    ));
                }
            }
        }
        match &toks[p] {
            Tok::End => break,
            Tok::Comma => p += 1,
            t => {
                return Err(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    tok_text(t)
                ));
            }
        }
    }
    Ok(reqs)
}

pub(crate) fn labels_match(reqs: &[Req], labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k) == Some(v.as_str()),
        Req::Ne(k, v) => get(k) != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

/// A label selector object (`matchLabels` + `matchExpressions`) as requirements.
pub(crate) fn from_label_selector(sel: &Value) -> Vec<Req> {
    let mut out = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            out.push(Req::Eq(
                k.clone(),
                v.as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    if let Some(es) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in es {
            let k = e["key"].as_str().unwrap_or_default().to_string();
            let vals: Vec<String> = e["values"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push(match e["operator"].as_str().unwrap_or_default() {
                "In" => Req::In(k, vals),
                "NotIn" => Req::NotIn(k, vals),
                "Exists" => Req::Exists(k),
                _ => Req::NotExists(k),
            });
        }
    }
    out
}

/// Field selector: `a.b=c`, `a.b==c`, `a.b!=c`, comma separated.
pub(crate) fn parse_fields(s: &str) -> Result<Vec<(String, bool, String)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        if let Some((k, v)) = part.split_once("!=") {
            out.push((k.to_string(), false, v.to_string()));
        } else if let Some((k, v)) = part.split_once("==") {
            out.push((k.to_string(), true, v.to_string()));
        } else if let Some((k, v)) = part.split_once('=') {
            out.push((k.to_string(), true, v.to_string()));
        } else {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{part}'"
            ));
        }
    }
    Ok(out)
}

pub(crate) fn fields_match(reqs: &[(String, bool, String)], obj: &Value) -> bool {
    reqs.iter().all(|(k, eq, v)| {
        let ptr = format!("/{}", k.replace('.', "/"));
        let actual = match obj.pointer(&ptr) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(x) => x.to_string(),
        };
        (actual == *v) == *eq
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_syntax() {
        let l = json!({"app": "auth", "tier": "web"});
        let m = |s: &str| labels_match(&parse_labels(s).expect("parses"), Some(&l));
        assert!(m("app=auth"));
        assert!(m("app==auth,tier"));
        assert!(m("app!=x"));
        assert!(m("app in (auth, x)"));
        assert!(m("tier notin (db)"));
        assert!(m("!missing"));
        assert!(!m("app="));
        assert_eq!(
            parse_labels("app in (a").expect_err("fails"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
    }
}
