//! The words of a write-back: the commit message (services and versions), the pull request's
//! title and body, and the branch a pull request comes from.

use super::ServiceImage;

/// What the message says besides the images.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    pub environment: Option<&'a str>,
    /// The kustomization.yaml written.
    pub path: &'a str,
    /// The commit the images were built from.
    pub revision: &'a str,
    pub run_url: Option<&'a str>,
}

/// How many services the first line names before "and N more".
const TITLE_SERVICES: usize = 3;

/// `deploy(production): backend 1.4.2, web 2.0.0` — the first line of the commit and the title
/// of the pull request.
pub fn title(about: &About, images: &[ServiceImage]) -> String {
    let scope = about
        .environment
        .map(|e| format!("({e})"))
        .unwrap_or_default();
    let mut named: Vec<String> = images
        .iter()
        .take(TITLE_SERVICES)
        .map(|i| format!("{} {}", i.service, i.shown_version()))
        .collect();
    if images.len() > TITLE_SERVICES {
        named.push(format!("and {} more", images.len() - TITLE_SERVICES));
    }
    format!("deploy{scope}: {}", named.join(", "))
}

/// The commit message: the title, then each service with its version and image, the source
/// commit and the run.
pub fn commit_message(about: &About, images: &[ServiceImage]) -> String {
    let mut text = title(about, images);
    text.push_str(&format!(
        "\n\nshipgate updated the images of {}:\n\n",
        about.path
    ));
    for image in images {
        text.push_str(&format!(
            "- {} {}: {}\n",
            image.service,
            image.shown_version(),
            image.reference
        ));
    }
    text.push_str(&format!("\nBuilt from: {}\n", about.revision));
    if let Some(url) = about.run_url {
        text.push_str(&format!("Run: {url}\n"));
    }
    text
}

/// The pull request's body (Markdown).
pub fn pull_request_body(about: &About, images: &[ServiceImage], diff: &str) -> String {
    use crate::runner::summary::code_span;
    let mut text = format!(
        "shipgate updates the images of {} for {}.\n\n| Service | Version | Image |\n|---|---|---|\n",
        code_span(about.path),
        about
            .environment
            .map_or_else(|| "the deploy".to_string(), code_span)
    );
    for image in images {
        text.push_str(&format!(
            "| {} | {} | {} |\n",
            code_span(&image.service),
            code_span(&image.shown_version()),
            code_span(&image.reference)
        ));
    }
    text.push_str(&format!("\nBuilt from {}.", code_span(about.revision)));
    if let Some(url) = about.run_url {
        text.push_str(&format!(" Run: {url}"));
    }
    if !diff.is_empty() {
        text.push_str(&format!(
            "\n\n```diff\n{}```\n",
            diff.replace("```", "`\u{200b}``")
        ));
    }
    text
}

/// `shipgate/<environment>/<short-sha>`, every character a branch name may not hold replaced by
/// `-` (`deploy` when the plan has no environment).
pub fn branch_name(environment: Option<&str>, revision: &str) -> String {
    let clean = |text: &str| -> String {
        let cleaned: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        cleaned.trim_matches('-').to_string()
    };
    let environment = environment
        .map(clean)
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "deploy".into());
    let short: String = clean(revision).chars().take(7).collect();
    format!(
        "shipgate/{environment}/{}",
        if short.is_empty() { "head" } else { &short }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitops::edit::ImageEntry;

    fn image(service: &str, version: Option<&str>, tag: &str) -> ServiceImage {
        ServiceImage {
            service: service.into(),
            version: version.map(str::to_string),
            reference: format!("ghcr.io/acme/{service}:{tag}"),
            entry: ImageEntry {
                name: format!("ghcr.io/acme/{service}"),
                new_name: None,
                new_tag: Some(tag.into()),
                digest: None,
            },
        }
    }

    const ABOUT: About = About {
        environment: Some("production"),
        path: "deploy/overlays/production/kustomization.yaml",
        revision: "3370e228a1ce19322e91ac35af1ab07466440c37",
        run_url: Some("https://github.com/acme/shop/actions/runs/42"),
    };

    #[test]
    fn the_commit_message_lists_services_and_versions() {
        let images = [
            image("backend", Some("1.4.2"), "1.4.2-20261206"),
            image("web", None, "sha-3370e22"),
        ];
        assert_eq!(
            commit_message(&ABOUT, &images),
            "deploy(production): backend 1.4.2, web sha-3370e22\n\n\
             shipgate updated the images of deploy/overlays/production/kustomization.yaml:\n\n\
             - backend 1.4.2: ghcr.io/acme/backend:1.4.2-20261206\n\
             - web sha-3370e22: ghcr.io/acme/web:sha-3370e22\n\n\
             Built from: 3370e228a1ce19322e91ac35af1ab07466440c37\n\
             Run: https://github.com/acme/shop/actions/runs/42\n"
        );
    }

    #[test]
    fn a_long_list_is_cut_in_the_title_only() {
        let images: Vec<ServiceImage> = (0..5)
            .map(|i| image(&format!("s{i}"), None, "v1"))
            .collect();
        let about = About {
            environment: None,
            run_url: None,
            ..ABOUT
        };
        assert_eq!(
            title(&about, &images),
            "deploy: s0 v1, s1 v1, s2 v1, and 2 more"
        );
        assert_eq!(commit_message(&about, &images).matches("\n- ").count(), 5);
    }

    #[test]
    fn the_pull_request_body_shows_the_table_and_the_diff() {
        let body = pull_request_body(&ABOUT, &[image("web", None, "v2")], "-a\n+b\n");
        assert!(
            body.contains("| `web` | `v2` | `ghcr.io/acme/web:v2` |"),
            "{body}"
        );
        assert!(body.ends_with("```diff\n-a\n+b\n```\n"), "{body}");
    }

    #[test]
    fn branch_names_are_valid_refs() {
        assert_eq!(
            branch_name(Some("production"), ABOUT.revision),
            "shipgate/production/3370e22"
        );
        assert_eq!(
            branch_name(Some("eu west/1"), "abc"),
            "shipgate/eu-west-1/abc"
        );
        assert_eq!(branch_name(None, ""), "shipgate/deploy/head");
        assert_eq!(branch_name(Some(".."), "x"), "shipgate/deploy/x");
    }
}
