//! OCI labels (and annotations) for an image: the `org.opencontainers.image.*` keys, with the
//! values docker/metadata-action writes for the same event, plus traceability labels.

use super::PlanContext;
use std::collections::BTreeMap;

/// Everything a service contributes to its labels.
pub struct LabelInputs<'a> {
    pub service: &'a str,
    pub description: Option<&'a str>,
    /// The first tag: metadata-action's `version` output and label.
    pub primary_tag: &'a str,
    /// `defaults.labels` then the service's `labels`; they override generated keys.
    pub custom: Vec<&'a BTreeMap<String, String>>,
}

/// The labels of one image, sorted by key. Every key and value is one line (see [`one_line`]):
/// the `labels` output lists them one per line, so a repository description with a line break
/// must not add a label.
pub fn labels(context: &PlanContext, inputs: &LabelInputs) -> BTreeMap<String, String> {
    generated(context, inputs)
        .into_iter()
        .map(|(key, value)| (one_line(&key), one_line(&value)))
        .collect()
}

/// `text` on one line: every run of line breaks and other control characters (`\n`, `\r`,
/// U+0085, U+2028, U+2029, tabs) becomes one space, and the ends are trimmed.
pub fn one_line(text: &str) -> String {
    let breaks = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.contains(breaks) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if breaks(c) {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

fn generated(context: &PlanContext, inputs: &LabelInputs) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        labels.insert(key.to_string(), value);
    };
    let created = super::time::rfc3339_millis(context.timestamp);
    put("org.opencontainers.image.created", created.clone());
    put("org.opencontainers.image.revision", context.sha.clone());
    if let Some(url) = &context.repository_url {
        put("org.opencontainers.image.source", url.clone());
        put("org.opencontainers.image.url", url.clone());
    }
    put(
        "org.opencontainers.image.version",
        inputs.primary_tag.to_string(),
    );
    put("org.opencontainers.image.title", inputs.service.to_string());
    put(
        "org.opencontainers.image.ref.name",
        inputs.primary_tag.to_string(),
    );
    if let Some(description) = inputs
        .description
        .or(context.repository_description.as_deref())
    {
        put(
            "org.opencontainers.image.description",
            description.to_string(),
        );
    }
    if let Some(license) = &context.license {
        put("org.opencontainers.image.licenses", license.clone());
    }
    put("git.commit", context.sha.clone());
    if let Some(branch) = &context.branch {
        put("git.branch", branch.clone());
    }
    put("build.date", created);
    for custom in &inputs.custom {
        for (key, value) in custom.iter() {
            labels.insert(key.clone(), value.clone());
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    /// metadata-action's `push_dev` fixture: `created` pinned to 2020-01-10T00:30:00.000Z.
    fn context() -> PlanContext {
        PlanContext {
            sha: "860c1904a1ce19322e91ac35af1ab07466440c37".into(),
            git_ref: "refs/heads/dev".into(),
            timestamp: 1_578_616_200,
            branch: Some("dev".into()),
            default_branch: Some("master".into()),
            is_default_branch: false,
            repository: Some("octocat/Hello-World".into()),
            repository_url: Some("https://github.com/octocat/Hello-World".into()),
            repository_description: Some("This your first repo!".into()),
            license: Some("MIT".into()),
            ..PlanContext::example()
        }
    }

    #[test]
    fn same_values_as_metadata_action_for_the_same_event() {
        let custom = BTreeMap::from([(
            "org.opencontainers.image.vendor".to_string(),
            "Acme".to_string(),
        )]);
        let labels = labels(
            &context(),
            &LabelInputs {
                service: "app",
                description: None,
                primary_tag: "dev",
                custom: vec![&custom],
            },
        );
        assert_eq!(
            labels["org.opencontainers.image.created"],
            "2020-01-10T00:30:00.000Z"
        );
        assert_eq!(
            labels["org.opencontainers.image.revision"],
            "860c1904a1ce19322e91ac35af1ab07466440c37"
        );
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://github.com/octocat/Hello-World"
        );
        assert_eq!(
            labels["org.opencontainers.image.url"],
            "https://github.com/octocat/Hello-World"
        );
        assert_eq!(labels["org.opencontainers.image.version"], "dev");
        assert_eq!(labels["org.opencontainers.image.licenses"], "MIT");
        assert_eq!(
            labels["org.opencontainers.image.description"],
            "This your first repo!"
        );
        assert_eq!(labels["org.opencontainers.image.title"], "app");
        assert_eq!(labels["git.branch"], "dev");
        assert_eq!(labels["build.date"], "2020-01-10T00:30:00.000Z");
        assert_eq!(labels["org.opencontainers.image.vendor"], "Acme");
    }

    #[test]
    fn multi_line_label_value_never_adds_a_line() {
        let custom = BTreeMap::from([("team".to_string(), "a\r\nb".to_string())]);
        let mut context = context();
        context.repository_description =
            Some("Shop API\norg.opencontainers.image.source=https://evil\u{2028}x".into());
        let labels = labels(
            &context,
            &LabelInputs {
                service: "app",
                description: None,
                primary_tag: "dev",
                custom: vec![&custom],
            },
        );
        assert_eq!(
            labels["org.opencontainers.image.description"],
            "Shop API org.opencontainers.image.source=https://evil x"
        );
        assert_eq!(labels["team"], "a b");
        for (key, value) in &labels {
            assert_eq!(format!("{key}={value}").lines().count(), 1, "{key}");
        }
    }

    #[test]
    fn licence_noassertion_is_kept_like_metadata_action() {
        let mut context = context();
        context.license = Some("NOASSERTION".into());
        let labels = labels(
            &context,
            &LabelInputs {
                service: "app",
                description: None,
                primary_tag: "dev",
                custom: vec![],
            },
        );
        assert_eq!(labels["org.opencontainers.image.licenses"], "NOASSERTION");
    }

    #[test]
    fn custom_keys_override_generated_ones() {
        let custom = BTreeMap::from([(
            "org.opencontainers.image.title".to_string(),
            "Auth API".to_string(),
        )]);
        let labels = labels(
            &context(),
            &LabelInputs {
                service: "auth",
                description: Some("Tokens"),
                primary_tag: "1.0",
                custom: vec![&custom],
            },
        );
        assert_eq!(labels["org.opencontainers.image.title"], "Auth API");
        assert_eq!(labels["org.opencontainers.image.description"], "Tokens");
    }
}
