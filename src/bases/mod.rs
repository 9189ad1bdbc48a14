//! `--base-from`: each service with `deploy` settings is compared with the commit it runs, not
//! with the event's range, so a deploy that failed and was rolled back, or a run that was
//! cancelled, is healed by the next push. Pure: the commits come from the cluster or GitHub
//! (`commands::bases`), the diffs from git.
//!
//! A service whose deployed commit is unknown (no workload, no `shipgate.dev/revision`, a
//! rollout in progress or failed, a commit not in the history) counts as changed, with the
//! reason. Libraries (no `deploy`) have no base of their own: a dependent is changed when a
//! library it depends on changed since the dependent's own base.

pub mod github;

use crate::config::Config;
use crate::detect::changes::{Affected, Reason};
use std::collections::BTreeMap;

/// What is known about one deployable service's deployed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    /// The full commit it runs, present in the repository.
    Commit(String),
    /// Why its commit is unknown ("never deployed by shipgate").
    Unknown(String),
}

/// One deployable service compared from its own base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared<'a> {
    /// The service's index in the config.
    pub service: usize,
    pub deployed: &'a Deployed,
    /// For a known commit: what `affected_by_files` found for `commit..head`.
    pub affected_since: &'a [Affected],
    /// Commits since its base that touch it, when countable.
    pub behind: Option<usize>,
}

/// The new affected list: the event's result for services without `deploy`, the per-base
/// decision for the others; sorted by name. Also the `bases` output.
pub fn decide(
    config: &Config,
    event_affected: &[Affected],
    compared: &[Compared<'_>],
) -> (Vec<Affected>, BTreeMap<String, Option<String>>) {
    let mut affected: Vec<Affected> = event_affected
        .iter()
        .filter(|a| {
            config
                .service_index(&a.name)
                .is_none_or(|i| config.services[i].settings.deploy.is_none())
        })
        .cloned()
        .collect();
    let mut bases = BTreeMap::new();
    for one in compared {
        let service = &config.services[one.service];
        match one.deployed {
            Deployed::Unknown(why) => {
                bases.insert(service.name.clone(), None);
                affected.push(Affected {
                    name: service.name.clone(),
                    image: service.image.clone(),
                    reason: Reason::Deployed { note: why.clone() },
                });
            }
            Deployed::Commit(commit) => {
                bases.insert(service.name.clone(), Some(commit.clone()));
                if let Some(found) = one.affected_since.iter().find(|a| a.name == service.name) {
                    affected.push(Affected {
                        name: service.name.clone(),
                        image: service.image.clone(),
                        reason: Reason::Deployed {
                            note: changed_since(commit, one.behind, &found.reason),
                        },
                    });
                }
            }
        }
    }
    affected.sort_by(|a, b| a.name.cmp(&b.name));
    (affected, bases)
}

/// `running 3b6e075, 4 commits behind, changed since: services/auth/src/login.ts matched …`.
fn changed_since(commit: &str, behind: Option<usize>, reason: &Reason) -> String {
    let short: String = commit.chars().take(7).collect();
    let behind = match behind {
        Some(1) => ", 1 commit behind".to_string(),
        Some(n) => format!(", {n} commits behind"),
        None => String::new(),
    };
    format!(
        "running {short}{behind}, changed since: {}",
        reason.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::load::parse(
            "version: 1\nservices:\n  common: { paths: [\"libs/**\"] }\n  auth:\n    paths: [\"auth/**\"]\n    depends-on: [common]\n    image: auth\n    deploy: { namespace: shop }\n  events:\n    paths: [\"events/**\"]\n    image: events\n    deploy: { namespace: shop }\n",
            "shipgate.yml",
        )
        .unwrap()
    }

    fn affected(name: &str, reason: Reason) -> Affected {
        Affected {
            name: name.into(),
            image: None,
            reason,
        }
    }

    #[test]
    fn each_service_is_judged_from_its_own_base() {
        let config = config();
        let auth = config.service_index("auth").unwrap();
        let events = config.service_index("events").unwrap();
        let commit = "3b6e0757a1b2c3d4e5f60718293a4b5c6d7e8f90".to_string();
        // Since auth's base, the library changed (and pulled auth in).
        let since_auth = vec![
            affected(
                "common",
                Reason::Paths {
                    file: "libs/x".into(),
                    pattern: "libs/**".into(),
                    files: 1,
                },
            ),
            affected(
                "auth",
                Reason::Dependency {
                    chain: vec!["auth".into(), "common".into()],
                    file: "libs/x".into(),
                },
            ),
        ];
        let known = Deployed::Commit(commit.clone());
        let unknown = Deployed::Unknown("never deployed by shipgate".into());
        // The event itself changed nothing deployable.
        let event = vec![affected(
            "common",
            Reason::Paths {
                file: "libs/y".into(),
                pattern: "libs/**".into(),
                files: 1,
            },
        )];
        let (result, bases) = decide(
            &config,
            &event,
            &[
                Compared {
                    service: auth,
                    deployed: &known,
                    affected_since: &since_auth,
                    behind: Some(4),
                },
                Compared {
                    service: events,
                    deployed: &unknown,
                    affected_since: &[],
                    behind: None,
                },
            ],
        );
        let names: Vec<&str> = result.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["auth", "common", "events"]);
        assert_eq!(
            result[0].reason.describe(),
            "running 3b6e075, 4 commits behind, changed since: auth ← common ← libs/x"
        );
        assert_eq!(result[2].reason.describe(), "never deployed by shipgate");
        assert_eq!(bases["auth"].as_deref(), Some(commit.as_str()));
        assert_eq!(bases["events"], None);
        assert!(!bases.contains_key("common"));
        // Nothing changed since its base: not affected, still listed in `bases`.
        let (result, bases) = decide(
            &config,
            &[],
            &[Compared {
                service: auth,
                deployed: &known,
                affected_since: &[],
                behind: Some(0),
            }],
        );
        assert!(result.is_empty());
        assert_eq!(bases.len(), 1);
    }
}
