//! The `command` builder: a service's argv template (`build.command`) with its placeholders
//! filled in, run without a shell.
//!
//! Each template element becomes exactly one argument (or, for `{refs}`, one per ref), whatever
//! the value holds: spaces, quotes, `$`, `;` and backticks reach the program unchanged, because
//! no shell ever parses them.
//!
//! Placeholders: `{image}`, `{tag}` (the primary tag), `{ref}` (`image:primary-tag`), `{refs}`,
//! `{context}`, `{dockerfile}`, `{target}` (empty when none), `{service}`. An element holding
//! `{refs}` is repeated once per ref, so `--image={refs}` gives `--image=a:1 --image=a:2`. `{{` and
//! `}}` stand for literal braces.

use crate::plan::PlannedService;

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "image",
    "tag",
    "ref",
    "refs",
    "context",
    "dockerfile",
    "target",
    "service",
];

/// One piece of a template element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Placeholder(&'static str),
}

/// Splits one template element into text and placeholders.
fn parse_element(element: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = element.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let rest = &element[index + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(format!(
                        "unclosed `{{` in `{element}` (write `{{{{` for a literal brace)"
                    ));
                };
                let name = &rest[..end];
                let Some(known) = PLACEHOLDERS.iter().find(|p| **p == name) else {
                    return Err(format!(
                        "unknown placeholder `{{{name}}}` in `{element}`; known: {} (write `{{{{` for a literal brace)",
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                };
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Placeholder(known));
                for _ in 0..=end {
                    chars.next();
                }
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` in `{element}` (write `}}}}` for a literal brace)"
                ));
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    let refs = pieces
        .iter()
        .filter(|p| **p == Piece::Placeholder("refs"))
        .count();
    if refs > 1 {
        return Err(format!(
            "`{element}` uses {{refs}} {refs} times; an element may expand {{refs}} once"
        ));
    }
    Ok(pieces)
}

/// Checks a template without filling it in.
pub fn validate(template: &[String]) -> Result<(), String> {
    if template.is_empty() || template[0].trim().is_empty() {
        return Err("the command template is empty; its first element is the program".into());
    }
    for element in template {
        parse_element(element)?;
    }
    if parse_element(&template[0])?.contains(&Piece::Placeholder("refs")) {
        return Err("the program (first element) cannot be {refs}".into());
    }
    Ok(())
}

/// The value of a single-valued placeholder for `service`.
fn value<'a>(service: &'a PlannedService, name: &str, primary_ref: &'a str) -> &'a str {
    match name {
        "image" => &service.image,
        "tag" => service.tags.first().map(String::as_str).unwrap_or_default(),
        "ref" => primary_ref,
        "context" => &service.build.context,
        "dockerfile" => &service.build.dockerfile,
        "target" => service.build.target.as_deref().unwrap_or_default(),
        "service" => &service.name,
        _ => "",
    }
}

/// Fills in `template` for `service`: the argv to run, program first.
pub fn expand(template: &[String], service: &PlannedService) -> Result<Vec<String>, String> {
    validate(template)?;
    let primary_ref = service.refs.first().cloned().unwrap_or_default();
    let mut argv = Vec::new();
    for element in template {
        let pieces = parse_element(element)?;
        let render = |reference: Option<&str>| {
            let mut out = String::new();
            for piece in &pieces {
                match piece {
                    Piece::Text(text) => out.push_str(text),
                    Piece::Placeholder("refs") => out.push_str(reference.unwrap_or_default()),
                    Piece::Placeholder(name) => out.push_str(value(service, name, &primary_ref)),
                }
            }
            out
        };
        if pieces.contains(&Piece::Placeholder("refs")) {
            argv.extend(service.refs.iter().map(|r| render(Some(r))));
        } else {
            argv.push(render(None));
        }
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::BuildSpec;
    use std::collections::BTreeMap;

    fn service(name: &str, context: &str) -> PlannedService {
        PlannedService {
            name: name.into(),
            image: "acme.azurecr.io/auth".into(),
            tags: vec!["1.0.0".into(), "sha-abc1234".into()],
            refs: vec![
                "acme.azurecr.io/auth:1.0.0".into(),
                "acme.azurecr.io/auth:sha-abc1234".into(),
            ],
            labels: BTreeMap::new(),
            build: BuildSpec {
                context: context.into(),
                dockerfile: format!("{context}/Dockerfile"),
                target: None,
                args: BTreeMap::new(),
                platforms: vec![],
                builder: crate::config::model::Builder::Command,
                cache: crate::config::model::CachePolicy::Fresh,
                command: None,
                workflow: None,
                secrets: vec![],
            },
            reason: crate::detect::changes::Reason::Selected { by: "test".into() },
            version: None,
            content: String::new(),
            lookup_tag: "1.0.0".into(),
            mutable_only: false,
        }
    }

    fn template(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn az_acr_build_template() {
        let argv = expand(
            &template(&[
                "az",
                "acr",
                "build",
                "--registry",
                "acme",
                "--image",
                "{refs}",
                "--file",
                "{dockerfile}",
                "{context}",
            ]),
            &service("auth", "services/auth"),
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "az",
                "acr",
                "build",
                "--registry",
                "acme",
                "--image",
                "acme.azurecr.io/auth:1.0.0",
                "acme.azurecr.io/auth:sha-abc1234",
                "--file",
                "services/auth/Dockerfile",
                "services/auth",
            ]
        );
    }

    #[test]
    fn refs_repeat_their_whole_element_and_braces_escape() {
        let argv = expand(
            &template(&[
                "tool",
                "--tag={refs}",
                "{{literal}}",
                "{image}:{tag}",
                "{ref}",
                "[{target}]",
            ]),
            &service("auth", "."),
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "tool",
                "--tag=acme.azurecr.io/auth:1.0.0",
                "--tag=acme.azurecr.io/auth:sha-abc1234",
                "{literal}",
                "acme.azurecr.io/auth:1.0.0",
                "acme.azurecr.io/auth:1.0.0",
                "[]",
            ]
        );
    }

    #[test]
    fn hostile_values_stay_one_argument_each() {
        let hostile = "dir with space/it's \"quoted\" $HOME; rm -rf / `id`";
        let argv = expand(
            &template(&["build", "{context}", "--name={service}"]),
            &service("a;b $(x)", hostile),
        )
        .unwrap();
        assert_eq!(argv, ["build", hostile, "--name=a;b $(x)"]);
    }

    #[test]
    fn unknown_and_malformed_placeholders_are_explained() {
        let error = expand(&template(&["x", "{imgae}"]), &service("a", ".")).unwrap_err();
        assert!(error.contains("unknown placeholder `{imgae}`"), "{error}");
        assert!(error.contains("{image}"), "{error}");
        assert!(
            validate(&template(&["x", "{image"]))
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(
            validate(&template(&["x", "a}b"]))
                .unwrap_err()
                .contains("unmatched")
        );
        assert!(validate(&template(&["x", "{refs}{refs}"])).is_err());
        assert!(validate(&[]).is_err());
        assert!(validate(&template(&["{refs}"])).is_err());
    }
}
