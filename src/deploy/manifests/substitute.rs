//! Image substitution with kustomize `images:` semantics: every `containers[]` and
//! `initContainers[]` image whose repository is a planned service's gets the planned
//! reference. A configured service that is NOT in this run keeps what is live for that
//! container — never the manifest's tag, which may be stale or `:latest`. With no live object
//! the manifest's image is used only when pinned by digest, or when its tag is immutable and
//! exists in the registry (looked up before, [`lookups`]), or with `allow-manifest-tags`.

use super::image::{ImageRef, same_repository};
use super::object::{Manifest, ObjectRef};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A service of this run: its repository and the reference to deploy.
#[derive(Debug, Clone)]
pub struct Planned {
    pub service: String,
    /// Registry and repository, no tag (the plan's `image`).
    pub repository: String,
    /// The reference to deploy (pinned to the build's digest when there is one).
    pub image: String,
    /// Where `image` came from: `plan tag`, `build digest`, `--image`.
    pub source: String,
}

/// A configured service that is not in this run.
#[derive(Debug, Clone)]
pub struct Kept {
    pub service: String,
    pub repository: String,
}

/// Why a container runs the image it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// The service is in this run.
    Planned { service: String, source: String },
    /// Not in this run: the image live in the cluster for this container.
    Live { service: String },
    /// Not in this run and nothing live: the manifest's image, pinned by digest.
    ManifestPinned { service: String },
    /// Not in this run and nothing live: the manifest's immutable tag, found in the registry.
    ManifestTagExists { service: String },
    /// Not in this run and nothing live: the manifest's tag (`allow-manifest-tags`).
    ManifestAllowed { service: String },
    /// Not in this run, and no cluster to read the live image from (an offline preview).
    NotCompared { service: String },
}

impl Reason {
    pub fn service(&self) -> &str {
        match self {
            Reason::Planned { service, .. }
            | Reason::Live { service }
            | Reason::ManifestPinned { service }
            | Reason::ManifestTagExists { service }
            | Reason::ManifestAllowed { service }
            | Reason::NotCompared { service } => service,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Reason::Planned { service, source } => format!("{service} is in this run ({source})"),
            Reason::Live { service } => {
                format!("{service} is not in this run: the image live in the cluster is kept")
            }
            Reason::ManifestPinned { service } => format!(
                "{service} is not in this run and not live yet: the manifest's digest-pinned image"
            ),
            Reason::ManifestTagExists { service } => format!(
                "{service} is not in this run and not live yet: the manifest's immutable tag, found in its registry"
            ),
            Reason::ManifestAllowed { service } => format!(
                "{service} is not in this run and not live yet: the manifest's tag (allow-manifest-tags)"
            ),
            Reason::NotCompared { service } => format!(
                "{service} is not in this run: a deploy keeps the image live in the cluster (not read: no cluster credentials)"
            ),
        }
    }
}

/// One container whose image was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Substitution {
    pub object: ObjectRef,
    pub container: String,
    pub init: bool,
    /// The manifest's image.
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub reason: Reason,
}

/// Live objects by [`live_key`].
pub type LiveObjects = BTreeMap<String, Value>;

/// The key of an object in [`LiveObjects`]: the API version does not matter.
pub fn live_key(id: &ObjectRef) -> String {
    format!(
        "{}/{}/{}/{}",
        id.group(),
        id.kind,
        id.namespace.as_deref().unwrap_or_default(),
        id.name
    )
}

/// The JSON pointer of the pod spec inside an object of `kind`, if it has one.
pub fn pod_spec_pointer(object: &Value) -> Option<&'static str> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let pointer = match kind {
        "Pod" => "/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    };
    object.pointer(pointer).filter(|v| v.is_object())?;
    Some(pointer)
}

/// `(init, name, image)` of every container of the object's pod spec.
pub fn containers(object: &Value) -> Vec<(bool, String, String)> {
    let Some(spec) = pod_spec_pointer(object).and_then(|p| object.pointer(p)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (key, init) in [("initContainers", true), ("containers", false)] {
        for container in spec[key].as_array().into_iter().flatten() {
            if let (Some(name), Some(image)) =
                (container["name"].as_str(), container["image"].as_str())
            {
                found.push((init, name.to_string(), image.to_string()));
            }
        }
    }
    found
}

/// What the registry said of a manifest's own image (`HEAD` of its manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Exists,
    Missing,
    /// The registry could not be asked or refused: why.
    Failed(String),
}

/// Registry answers by image reference.
pub type Lookups = BTreeMap<String, Lookup>;

/// No registry answers (an offline preview, or nothing to look up).
pub static NO_LOOKUPS: Lookups = Lookups::new();

/// What the substitution needs to decide.
pub struct Inputs<'a> {
    pub planned: &'a [Planned],
    pub kept: &'a [Kept],
    pub live: &'a LiveObjects,
    pub allow_manifest_tags: bool,
    /// What the registry said of the images [`lookups`] asked for.
    pub registry: &'a Lookups,
}

/// The manifest images to look up in their registry before substituting: those of a service
/// not in this run with nothing live, not pinned, whose tag is immutable (a `latest` tag is
/// refused without asking: it may point elsewhere tomorrow).
pub fn lookups(manifests: &[Manifest], inputs: &Inputs) -> std::collections::BTreeSet<String> {
    let mut wanted = std::collections::BTreeSet::new();
    for manifest in manifests {
        let live = inputs.live.get(&live_key(&manifest.id()));
        let live_containers = live.map(containers).unwrap_or_default();
        for (init, name, image) in containers(&manifest.object) {
            let live_image = live_containers
                .iter()
                .find(|(i, n, _)| *i == init && *n == name)
                .map(|(_, _, image)| image.as_str());
            let unlooked = Inputs {
                registry: &NO_LOOKUPS,
                ..*inputs
            };
            if matches!(decide(&image, live_image, &unlooked), Decision::Refused(_))
                && !crate::deploy::target::is_mutable_reference(&image)
            {
                wanted.insert(image);
            }
        }
    }
    wanted
}

/// Substitutes every matching container in place. Errors name the object and container that
/// would have run an unpinned manifest tag.
pub fn substitute(
    manifests: &mut [Manifest],
    inputs: &Inputs,
) -> Result<Vec<Substitution>, Vec<String>> {
    let mut made = Vec::new();
    let mut errors = Vec::new();
    for manifest in manifests.iter_mut() {
        let id = manifest.id();
        let Some(pointer) = pod_spec_pointer(&manifest.object) else {
            continue;
        };
        let live = inputs.live.get(&live_key(&id));
        let live_containers = live.map(containers).unwrap_or_default();
        let Some(spec) = manifest.object.pointer_mut(pointer) else {
            continue;
        };
        for (key, init) in [("initContainers", true), ("containers", false)] {
            // `get_mut`, not `spec[key]`: indexing would insert `key: null` when it is absent,
            // and the apply would send it.
            for container in spec
                .get_mut(key)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let (Some(name), Some(image)) = (
                    container["name"].as_str().map(str::to_string),
                    container["image"].as_str().map(str::to_string),
                ) else {
                    continue;
                };
                let live_image = live_containers
                    .iter()
                    .find(|(i, n, _)| *i == init && *n == name)
                    .map(|(_, _, image)| image.as_str());
                match decide(&image, live_image, inputs) {
                    Decision::Untouched => {}
                    Decision::Refused(service) => errors.push(format!(
                        "{id} container `{name}` has the image `{image}` of the service `{service}`, which is not in this run and not live in the cluster; {}",
                        refusal(&image, inputs.registry.get(&image))
                    )),
                    Decision::Image(to, reason) => {
                        container["image"] = Value::String(to.clone());
                        made.push(Substitution {
                            object: id.clone(),
                            container: name,
                            init,
                            from: image,
                            to,
                            reason,
                        });
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(made)
    } else {
        Err(errors)
    }
}

/// Why the manifest's own image is not used; what to do instead.
fn refusal(image: &str, lookup: Option<&Lookup>) -> String {
    const FIX: &str = "pin it by digest, deploy the service in this run, or set `deploy.manifests.allow-manifest-tags: true`";
    if crate::deploy::target::is_mutable_reference(image) {
        return format!("a mutable tag would deploy whatever it points to today ({FIX})");
    }
    match lookup {
        Some(Lookup::Failed(why)) => {
            format!("its tag could not be looked up in the registry: {why} ({FIX})")
        }
        _ => format!("its tag does not exist in the registry ({FIX})"),
    }
}

enum Decision {
    Untouched,
    Image(String, Reason),
    /// Not in the run, nothing live, not pinned: the service's name.
    Refused(String),
}

fn decide(image: &str, live_image: Option<&str>, inputs: &Inputs) -> Decision {
    if let Some(planned) = inputs
        .planned
        .iter()
        .find(|p| same_repository(image, &p.repository))
    {
        return Decision::Image(
            planned.image.clone(),
            Reason::Planned {
                service: planned.service.clone(),
                source: planned.source.clone(),
            },
        );
    }
    let Some(kept) = inputs
        .kept
        .iter()
        .find(|k| same_repository(image, &k.repository))
    else {
        return Decision::Untouched;
    };
    let service = kept.service.clone();
    match live_image {
        Some(live) => Decision::Image(live.to_string(), Reason::Live { service }),
        None if ImageRef::parse(image).pinned() => {
            Decision::Image(image.to_string(), Reason::ManifestPinned { service })
        }
        None if inputs.registry.get(image) == Some(&Lookup::Exists)
            && !crate::deploy::target::is_mutable_reference(image) =>
        {
            Decision::Image(image.to_string(), Reason::ManifestTagExists { service })
        }
        None if inputs.allow_manifest_tags => {
            Decision::Image(image.to_string(), Reason::ManifestAllowed { service })
        }
        None => Decision::Refused(service),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_immutable_manifest_tag_is_used_only_when_its_registry_has_it() {
        let live = LiveObjects::new();
        let rendered = |image: &str| vec![deployment("web", &[("web", image)], &[])];
        let inputs = Inputs {
            planned: &planned(),
            kept: &kept(),
            live: &live,
            allow_manifest_tags: false,
            registry: &NO_LOOKUPS,
        };
        // Only an immutable, unpinned tag of a kept service with nothing live is asked for.
        let tagged = "localhost:5000/shop/web:1.0.7";
        assert_eq!(
            lookups(&rendered(tagged), &inputs),
            [tagged.to_string()].into()
        );
        assert!(lookups(&rendered("localhost:5000/shop/web:latest"), &inputs).is_empty());
        assert!(lookups(&rendered("localhost:5000/shop/web@sha256:abc"), &inputs).is_empty());
        assert!(lookups(&rendered("localhost:5000/shop/api:9"), &inputs).is_empty());
        let allowed = Inputs {
            allow_manifest_tags: true,
            ..inputs
        };
        assert!(lookups(&rendered(tagged), &allowed).is_empty());

        let answers = |lookup: Lookup| Lookups::from([(tagged.to_string(), lookup)]);
        let found = answers(Lookup::Exists);
        let made = substitute(
            &mut rendered(tagged),
            &Inputs {
                registry: &found,
                ..inputs
            },
        )
        .unwrap();
        assert_eq!(
            made[0].reason,
            Reason::ManifestTagExists {
                service: "web".into()
            }
        );
        // What the registry answered for the manifest's image → why it is refused. A `latest`
        // found in the registry is still refused: it may point elsewhere tomorrow.
        let latest = "localhost:5000/shop/web:latest";
        let refusals = [
            (
                tagged,
                Lookup::Missing,
                "its tag does not exist in the registry",
            ),
            (
                tagged,
                Lookup::Failed("connection refused".into()),
                "could not be looked up in the registry: connection refused",
            ),
            (latest, Lookup::Exists, "a mutable tag"),
        ];
        for (image, lookup, why) in refusals {
            let registry = Lookups::from([(image.to_string(), lookup)]);
            let errors = substitute(
                &mut rendered(image),
                &Inputs {
                    registry: &registry,
                    ..inputs
                },
            )
            .unwrap_err();
            assert!(errors[0].contains(why), "{image}: {}", errors[0]);
        }
    }

    fn deployment(name: &str, images: &[(&str, &str)], init: &[(&str, &str)]) -> Manifest {
        let list = |items: &[(&str, &str)]| {
            items
                .iter()
                .map(|(n, i)| json!({"name": n, "image": i}))
                .collect::<Vec<_>>()
        };
        Manifest {
            object: json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"template": {"spec": {"containers": list(images), "initContainers": list(init)}}}}),
            origin: "test".into(),
        }
    }

    fn planned() -> Vec<Planned> {
        vec![Planned {
            service: "api".into(),
            repository: "localhost:5000/shop/api".into(),
            image: "localhost:5000/shop/api:1.3@sha256:abc".into(),
            source: "build digest".into(),
        }]
    }

    fn kept() -> Vec<Kept> {
        vec![Kept {
            service: "web".into(),
            repository: "localhost:5000/shop/web".into(),
        }]
    }

    #[test]
    fn planned_images_replace_every_matching_container_and_init_container() {
        let mut manifests = vec![deployment(
            "api",
            &[
                ("api", "localhost:5000/shop/api:latest"),
                ("proxy", "envoy:1.30"),
            ],
            &[("migrate", "localhost:5000/shop/api")],
        )];
        let live = LiveObjects::new();
        let inputs = Inputs {
            planned: &planned(),
            kept: &kept(),
            live: &live,
            allow_manifest_tags: false,
            registry: &NO_LOOKUPS,
        };
        let made = substitute(&mut manifests, &inputs).unwrap();
        assert_eq!(made.len(), 2);
        assert!(made[0].init && made[0].container == "migrate");
        let spec = &manifests[0].object["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["image"],
            "localhost:5000/shop/api:1.3@sha256:abc"
        );
        assert_eq!(
            spec["containers"][1]["image"], "envoy:1.30",
            "not a service: as rendered"
        );
        assert_eq!(
            spec["initContainers"][0]["image"],
            "localhost:5000/shop/api:1.3@sha256:abc"
        );
        assert_eq!(
            made[1].reason.describe(),
            "api is in this run (build digest)"
        );
    }

    #[test]
    fn a_service_not_in_the_run_keeps_its_live_image() {
        let mut manifests = vec![deployment(
            "web",
            &[("web", "localhost:5000/shop/web:latest")],
            &[],
        )];
        let mut live = LiveObjects::new();
        let live_web = deployment("web", &[("web", "localhost:5000/shop/web:1.0.7")], &[]);
        live.insert(live_key(&live_web.id()), live_web.object);
        let inputs = Inputs {
            planned: &planned(),
            kept: &kept(),
            live: &live,
            allow_manifest_tags: false,
            registry: &NO_LOOKUPS,
        };
        let made = substitute(&mut manifests, &inputs).unwrap();
        assert_eq!(made[0].to, "localhost:5000/shop/web:1.0.7");
        assert_eq!(
            made[0].reason,
            Reason::Live {
                service: "web".into()
            }
        );
        // A pod spec without init containers gets no `initContainers` key (a `null` would be
        // applied and shown in every diff).
        let mut plain = deployment("web", &[("web", "localhost:5000/shop/web:latest")], &[]);
        let spec = plain.object.pointer_mut("/spec/template/spec").unwrap();
        spec.as_object_mut().unwrap().remove("initContainers");
        let mut manifests = vec![plain];
        substitute(&mut manifests, &inputs).unwrap();
        assert_eq!(
            manifests[0]
                .object
                .pointer("/spec/template/spec/initContainers"),
            None
        );
    }

    #[test]
    fn without_a_live_object_only_a_pinned_or_allowed_manifest_image_is_used() {
        let live = LiveObjects::new();
        let mut manifests = vec![deployment(
            "web",
            &[("web", "localhost:5000/shop/web:latest")],
            &[],
        )];
        let inputs = Inputs {
            planned: &planned(),
            kept: &kept(),
            live: &live,
            allow_manifest_tags: false,
            registry: &NO_LOOKUPS,
        };
        let errors = substitute(&mut manifests, &inputs).unwrap_err();
        assert!(
            errors[0].starts_with("Deployment/shop/web container `web`"),
            "{}",
            errors[0]
        );
        let inputs = Inputs {
            allow_manifest_tags: true,
            ..inputs
        };
        let made = substitute(&mut manifests, &inputs).unwrap();
        assert_eq!(
            made[0].reason,
            Reason::ManifestAllowed {
                service: "web".into()
            }
        );
        let mut manifests = vec![deployment(
            "web",
            &[("web", "localhost:5000/shop/web@sha256:1")],
            &[],
        )];
        let inputs = Inputs {
            allow_manifest_tags: false,
            ..inputs
        };
        let made = substitute(&mut manifests, &inputs).unwrap();
        assert_eq!(
            made[0].reason,
            Reason::ManifestPinned {
                service: "web".into()
            }
        );
    }

    #[test]
    fn cron_jobs_and_pods_are_substituted_too() {
        let mut manifests = vec![
            Manifest {
                object: json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "localhost:5000/shop/api:old"}]}}}}}}),
                origin: "t".into(),
            },
            Manifest {
                object: json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "localhost:5000/shop/api"}]}}),
                origin: "t".into(),
            },
            Manifest {
                object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"image": "x"}}),
                origin: "t".into(),
            },
        ];
        let live = LiveObjects::new();
        let inputs = Inputs {
            planned: &planned(),
            kept: &[],
            live: &live,
            allow_manifest_tags: false,
            registry: &NO_LOOKUPS,
        };
        assert_eq!(substitute(&mut manifests, &inputs).unwrap().len(), 2);
    }
}
