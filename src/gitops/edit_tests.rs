use super::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn entry(name: &str, tag: &str) -> ImageEntry {
    ImageEntry {
        name: name.into(),
        new_name: None,
        new_tag: Some(tag.into()),
        digest: None,
    }
}

const OVERLAY: &str = "\
# Production overlay — edited by people and by shipgate.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base   # the shared objects

images:
  # the API
  - name: ghcr.io/acme/backend
    newTag: \"1.4.1\"   # bumped by CI
  - name: ghcr.io/acme/web
    newTag: 2.0.0
    digest: sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff

# trailing note
namespace: shop
";

#[test]
fn a_tag_is_replaced_in_place_keeping_its_quotes_and_comment() {
    let edited = edit_images(OVERLAY, &[entry("ghcr.io/acme/backend", "1.4.2")]).unwrap();
    assert_eq!(
        edited,
        OVERLAY.replace(
            "newTag: \"1.4.1\"   # bumped",
            "newTag: \"1.4.2\"   # bumped"
        )
    );
}

#[test]
fn a_digest_is_added_after_the_entry_and_a_stale_one_removed() {
    let backend = ImageEntry {
        digest: Some(DIGEST.into()),
        ..entry("ghcr.io/acme/backend", "1.4.2")
    };
    let edited = edit_images(OVERLAY, &[backend, entry("ghcr.io/acme/web", "2.1.0")]).unwrap();
    let expected = OVERLAY
        .replace(
            "    newTag: \"1.4.1\"   # bumped by CI\n",
            &format!("    newTag: \"1.4.2\"   # bumped by CI\n    digest: {DIGEST}\n"),
        )
        .replace(
            "    newTag: 2.0.0\n    digest: sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n",
            "    newTag: 2.1.0\n",
        );
    assert_eq!(edited, expected);
}

#[test]
fn every_untouched_line_stays_byte_for_byte() {
    let edited = edit_images(
        OVERLAY,
        &[ImageEntry {
            new_name: Some("registry.example.com/acme/backend".into()),
            ..entry("ghcr.io/acme/backend", "1.5")
        }],
    )
    .unwrap();
    let diff = similar::TextDiff::from_lines(OVERLAY, &edited);
    let changes: Vec<String> = diff
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .map(|c| format!("{}{}", c.tag(), c.value()))
        .collect();
    assert_eq!(
        changes,
        [
            "-    newTag: \"1.4.1\"   # bumped by CI\n",
            "+    newTag: \"1.5\"   # bumped by CI\n",
            "+    newName: registry.example.com/acme/backend\n",
        ]
    );
}

#[test]
fn a_missing_entry_is_added_at_the_end_of_the_list_in_its_layout() {
    let edited = edit_images(OVERLAY, &[entry("ghcr.io/acme/worker", "0.3.0")]).unwrap();
    assert_eq!(
        edited,
        OVERLAY.replace(
            "ffffffffffff\n\n# trailing note",
            "ffffffffffff\n  - name: ghcr.io/acme/worker\n    newTag: 0.3.0\n\n# trailing note"
        )
    );
    let compact = "images:\n- name: a\n  newTag: '1'\nresources: [x.yaml]\n";
    assert_eq!(
        edit_images(compact, &[entry("b", "2.0"), entry("a", "it's")]).unwrap(),
        "images:\n- name: a\n  newTag: 'it''s'\n- name: b\n  newTag: \"2.0\"\nresources: [x.yaml]\n"
    );
}

#[test]
fn a_file_without_images_gets_the_list_at_its_end() {
    let text = "resources:\n- deployment.yaml\n# end";
    assert_eq!(
        edit_images(text, &[entry("ghcr.io/acme/a", "1.0.0")]).unwrap(),
        "resources:\n- deployment.yaml\n# end\nimages:\n- name: ghcr.io/acme/a\n  newTag: 1.0.0\n"
    );
    let empty = "images: []  # none yet\nresources: []\n";
    assert_eq!(
        edit_images(empty, &[entry("a", "v1")]).unwrap(),
        "images: # none yet\n- name: a\n  newTag: v1\nresources: []\n"
    );
}

#[test]
fn windows_line_endings_are_kept() {
    let text = "images:\r\n  - name: a\r\n    newTag: v1\r\nresources: []\r\n";
    let edited = edit_images(
        text,
        &[ImageEntry {
            digest: Some(DIGEST.into()),
            ..entry("a", "v2")
        }],
    )
    .unwrap();
    assert_eq!(
        edited,
        format!(
            "images:\r\n  - name: a\r\n    newTag: v2\r\n    digest: {DIGEST}\r\nresources: []\r\n"
        )
    );
}

#[test]
fn an_entry_already_right_leaves_the_text_as_it_is() {
    let text = "images:\n  - name: docker.io/library/nginx\n    newTag: '1.27'\n";
    assert_eq!(edit_images(text, &[entry("nginx", "1.27")]).unwrap(), text);
}

#[test]
fn problems_are_located() {
    let at = |text: &str, entries: &[ImageEntry]| {
        let e = edit_images(text, entries).unwrap_err();
        (e.line, e.column, e.message)
    };
    let (line, _, message) = at(
        "resources:\n  - a\nimages:\n  - name: [\n",
        &[entry("a", "1")],
    );
    assert!(
        line >= 4 && message.contains("not valid YAML"),
        "{line} {message}"
    );
    let (line, _, message) = at("images:\n  - {name: a, newTag: v1}\n", &[entry("a", "v2")]);
    assert_eq!(line, 2);
    assert!(message.contains("flow style"), "{message}");
    let (line, column, message) = at("images: [{name: a}]\n", &[entry("a", "v2")]);
    assert_eq!((line, column), (1, 9));
    assert!(message.contains("flow style"), "{message}");
    let (line, _, message) = at(
        "images:\n- name: a\n  newTag: v1\n- name: a\n  newTag: v3\n",
        &[entry("a", "v2")],
    );
    assert_eq!(line, 4);
    assert!(
        message.contains("two `images:` entries name `a`"),
        "{message}"
    );
    let (_, _, message) = at("images: x\n", &[entry("a", "v2")]);
    assert!(message.contains("must be a list"), "{message}");
    let (line, _, message) = at(
        "images:\n- name: a\n  newTag: >-\n    v1\n",
        &[entry("a", "v2")],
    );
    assert_eq!(line, 3);
    assert!(message.contains("not a one-line value"), "{message}");
    let (_, _, message) = at("images:\n- name: a\n  name: b\n", &[entry("a", "v2")]);
    assert!(message.contains("not valid YAML"), "{message}");
}

#[test]
fn a_flow_entry_of_another_image_is_left_alone() {
    let text =
        "images:\n  - {name: other, newTag: v1}  # pinned by hand\n  - name: a\n    newTag: v1\n";
    assert_eq!(
        edit_images(text, &[entry("a", "v2")]).unwrap(),
        text.replace("    newTag: v1\n", "    newTag: v2\n")
    );
}

#[test]
fn values_that_would_read_as_numbers_or_booleans_are_quoted() {
    assert_eq!(render("1.5", Style::Plain), "\"1.5\"");
    assert_eq!(render("true", Style::Plain), "\"true\"");
    assert_eq!(render("1.4.2", Style::Plain), "1.4.2");
    assert_eq!(render(DIGEST, Style::Plain), DIGEST);
    assert_eq!(render("-x", Style::Plain), "\"-x\"");
    assert_eq!(render("v1", Style::Double), "\"v1\"");
}
