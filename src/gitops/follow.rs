//! After a write-back, with a kubeconfig: follow the GitOps controller (Argo CD, Flux) as it
//! applies the commit. For each written service, wait until its workload's spec carries the
//! new image, then watch the rollout with the deploy's own watch (fail-fast classes,
//! diagnoses), all bounded by `deploy-timeout`. Nothing is rolled back: git is the source of
//! truth, so a failure says how to go back (revert the commit).
//!
//! [`should_follow`], [`carries`] and the messages are pure; [`follow`] is the I/O.

use super::ServiceImage;
use super::edit::same_image;
use super::write::Outcome;
use crate::deploy::cluster::Cluster;
use crate::deploy::orchestrate::{Options, Progress};
use crate::deploy::target::DeployTarget;
use crate::reference::Reference;
use crate::report::gitops::Ending;
use futures::future::join_all;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How often the workload is read while the GitOps controller has not applied the commit.
const POLL: Duration = Duration::from_millis(500);

/// Whether to follow the write-back into the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// No cluster credentials, or nothing was written to a branch the controller syncs.
    No,
    /// A pull request was opened: the controller applies it only once merged.
    NotMerged,
    /// The branch carries the images (committed now, or already): wait for them.
    Wait,
}

/// Decides from the write-back's ending and whether cluster credentials were given.
pub fn should_follow(ending: &Ending, cluster: bool) -> Follow {
    match ending {
        _ if !cluster => Follow::No,
        Ending::Done(Outcome::Committed { .. } | Outcome::UpToDate { .. }) => Follow::Wait,
        Ending::Done(Outcome::PullRequest { .. }) => Follow::NotMerged,
        Ending::Previewed | Ending::Failed(_) => Follow::No,
    }
}

/// Whether a container image is the written one: the same repository, and the written digest
/// (when one was written, as kustomize pins it) or else the written tag.
pub fn carries(image: &str, written: &ServiceImage) -> bool {
    let Ok(running) = Reference::parse(image) else {
        return false;
    };
    let entry = &written.entry;
    let repository = entry.new_name.as_deref().unwrap_or(&entry.name);
    if !same_image(&running.name(), repository) {
        return false;
    }
    match (&entry.digest, &entry.new_tag) {
        (Some(digest), _) => running.digest.as_ref() == Some(digest),
        (None, Some(tag)) => running.tag.as_ref() == Some(tag) && running.digest.is_none(),
        (None, None) => false,
    }
}

/// The images of a workload's containers (init containers included).
fn images_of(workload: &Value) -> Vec<String> {
    let spec = &workload["spec"]["template"]["spec"];
    ["containers", "initContainers"]
        .iter()
        .flat_map(|key| spec[key].as_array().into_iter().flatten())
        .filter_map(|c| c["image"].as_str().map(str::to_string))
        .collect()
}

/// What became of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub service: String,
    pub workload: String,
    pub ok: bool,
    pub message: String,
}

/// The message when the controller did not apply the commit in time.
pub fn not_applied(workload: &str, image: &str, waited: Duration) -> String {
    format!(
        "{workload} did not carry {image} within {}s: the GitOps controller (Argo CD, Flux) has not applied the commit; check that it syncs the kustomization (e.g. `argocd app sync`, `flux reconcile kustomization`); nothing was rolled back",
        waited.as_secs()
    )
}

/// The message of a failed rollout: no rollback, git decides.
pub fn rollout_failed(reason: &str) -> String {
    format!(
        "rollout failed after the GitOps controller applied the commit: {reason}; nothing was rolled back: revert the commit, and the controller rolls the workload back"
    )
}

/// The summary's section: each followed workload and how its rollout ended.
pub fn markdown(followed: &[Followed]) -> String {
    let mut text = String::from("**Rollouts after the write-back**\n\n");
    for f in followed {
        text.push_str(&format!(
            "- {} `{}` ({}): {}\n",
            if f.ok { "✅" } else { "❌" },
            f.service,
            f.workload,
            crate::runner::summary::escape_markdown(&f.message)
        ));
    }
    text
}

/// Follows every written service that has a workload, at once, within `bound`.
pub async fn follow(
    cluster: &Cluster,
    targets: &[DeployTarget],
    images: &[ServiceImage],
    options: &Options,
    bound: Duration,
    progress: &Progress,
) -> Vec<Followed> {
    let deadline = Instant::now() + bound;
    let work = images.iter().filter_map(|image| {
        let target = targets.iter().find(|t| t.service == image.service)?;
        Some(follow_one(
            cluster, target, image, options, deadline, progress,
        ))
    });
    join_all(work).await
}

async fn follow_one(
    cluster: &Cluster,
    target: &DeployTarget,
    image: &ServiceImage,
    options: &Options,
    deadline: Instant,
    progress: &Progress,
) -> Followed {
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace.clone());
    let workload = format!(
        "{}/{namespace}/{}",
        crate::deploy::target::kind_name(target.kind),
        target.name
    );
    let say = |line: &str| progress(&image.service, line);
    let end = |ok: bool, message: String| Followed {
        service: image.service.clone(),
        workload: workload.clone(),
        ok,
        message,
    };
    let started = Instant::now();
    let mut waiting = false;
    let object = loop {
        match cluster.get(target.kind, &namespace, &target.name).await {
            Ok(Some(object)) if images_of(&object).iter().any(|i| carries(i, image)) => {
                break object;
            }
            Ok(_) | Err(_) if Instant::now() >= deadline => {
                let message = not_applied(&workload, &image.reference, started.elapsed());
                say(&message);
                return end(false, message);
            }
            _ => {}
        }
        if !waiting {
            say(&format!(
                "waiting for the GitOps controller (Argo CD, Flux) to apply {} to {workload}",
                image.reference
            ));
            waiting = true;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    };
    say("the GitOps controller applied the commit; watching the rollout");
    let generation = object["metadata"]["generation"].as_i64();
    let mut settings =
        crate::deploy::manifests::apply::settings(Some(target), &object, generation, options);
    settings.timeout = settings
        .timeout
        .min(deadline.saturating_duration_since(Instant::now()));
    let subject = crate::deploy::hub::Subject::of(target.kind, &namespace, &target.name, &object);
    let hub = crate::deploy::hub::Hub::start(cluster, &[subject]);
    let (outcome, _) =
        crate::deploy::watch::watch(&hub, target.kind, &namespace, &target.name, &settings, say)
            .await;
    let described = crate::deploy::manifests::apply::describe(&outcome);
    if outcome.is_complete() {
        say(&described);
        end(true, described)
    } else {
        let message = rollout_failed(&described);
        say(&message);
        end(false, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::contents::Commit;
    use crate::gitops::edit::ImageEntry;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn written(new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> ServiceImage {
        ServiceImage {
            service: "api".into(),
            version: None,
            reference: String::new(),
            entry: ImageEntry {
                name: "ghcr.io/acme/api".into(),
                new_name: new_name.map(str::to_string),
                new_tag: tag.map(str::to_string),
                digest: digest.map(str::to_string),
            },
        }
    }

    #[test]
    fn the_written_image_is_recognised_as_kustomize_renders_it() {
        let tagged = written(None, Some("1.4.2"), None);
        let pinned = written(None, Some("1.4.2"), Some(DIGEST));
        let moved = written(Some("registry.local/api"), Some("2"), None);
        let table = [
            (&tagged, "ghcr.io/acme/api:1.4.2", true),
            (&tagged, "ghcr.io/acme/api:1.4.1", false),
            (&tagged, "ghcr.io/acme/web:1.4.2", false),
            (&pinned, &format!("ghcr.io/acme/api@{DIGEST}") as &str, true),
            (&pinned, &format!("ghcr.io/acme/api:1.4.2@{DIGEST}"), true),
            (&pinned, "ghcr.io/acme/api:1.4.2", false),
            (&moved, "registry.local/api:2", true),
            (&moved, "ghcr.io/acme/api:2", false),
            (&tagged, "not a reference", false),
        ];
        for (image, running, expected) in table {
            assert_eq!(carries(running, image), expected, "{running}");
        }
    }

    #[test]
    fn only_a_write_to_a_synced_branch_with_a_cluster_is_followed() {
        let commit = Commit {
            sha: "c0ffee".into(),
            html_url: String::new(),
        };
        let committed = Ending::Done(Outcome::Committed {
            branch: "main".into(),
            commit: commit.clone(),
        });
        let up_to_date = Ending::Done(Outcome::UpToDate {
            branch: "main".into(),
        });
        assert_eq!(should_follow(&committed, true), Follow::Wait);
        assert_eq!(should_follow(&up_to_date, true), Follow::Wait);
        assert_eq!(should_follow(&committed, false), Follow::No);
        assert_eq!(should_follow(&Ending::Previewed, true), Follow::No);
        assert_eq!(should_follow(&Ending::Failed("x".into()), true), Follow::No);
    }
}
