//! `--base-from github`: each deployable service's deployed commit from the environment's GitHub
//! Deployments. `deploy` records one deployment per run for the commit it deployed, its payload
//! listing the services (`{"services": [{"service", "image", "workload"}]}`); a service's base is
//! the commit of the newest *successful* deployment that lists it. Pure: the deployments and
//! their states come from [`crate::github::deployments`] through `commands::bases`.
//!
//! "Successful" means a `success` status that was not followed by `failure`/`error`: GitHub marks
//! an environment's older successful deployments `inactive` when a newer one succeeds, so a
//! superseded success is still what ran until then.

use super::Deployed;
use crate::github::deployments::RecordedDeployment;
use serde_json::Value;
use std::collections::BTreeMap;

/// Whether a deployment with these states (newest first) rolled out: its newest state is
/// `success`, or `inactive` after a `success`.
pub fn succeeded(states: &[String]) -> bool {
    match states.first().map(String::as_str) {
        Some("success") => true,
        Some("inactive") => states.iter().any(|s| s == "success"),
        _ => false,
    }
}

/// The services a deployment's payload lists (`services[].service`); the payload may arrive as
/// an object or as its JSON text. Anything else lists nothing.
pub fn listed_services(payload: &Value) -> Vec<String> {
    let parsed;
    let object = match payload {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            &parsed
        }
        other => other,
    };
    object
        .get("services")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("service").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The newest-first search through an environment's deployments for each wanted service.
#[derive(Debug)]
pub struct Search {
    environment: String,
    /// Service name → what was found so far (`None`: not yet).
    found: BTreeMap<String, Option<Deployed>>,
    examined: usize,
}

impl Search {
    pub fn new(environment: &str, services: impl IntoIterator<Item = String>) -> Self {
        Search {
            environment: environment.to_string(),
            found: services.into_iter().map(|s| (s, None)).collect(),
            examined: 0,
        }
    }

    /// Every wanted service has its answer: no older deployment needs reading.
    pub fn done(&self) -> bool {
        self.found.values().all(Option::is_some)
    }

    /// Takes the next deployment (newest first) with its states; a successful one gives its
    /// commit to the services it lists that have none yet.
    pub fn offer(&mut self, deployment: &RecordedDeployment) {
        self.examined += 1;
        if !succeeded(&deployment.states) {
            return;
        }
        for name in listed_services(&deployment.payload) {
            let Some(slot @ None) = self.found.get_mut(&name) else {
                continue;
            };
            *slot = Some(if is_commit(&deployment.sha) {
                Deployed::Commit(deployment.sha.to_ascii_lowercase())
            } else {
                Deployed::Unknown(format!(
                    "GitHub deployment {} to `{}` records `{}`, not a commit SHA",
                    deployment.id, self.environment, deployment.sha
                ))
            });
        }
    }

    /// Service name → its deployed commit, or why it is unknown.
    pub fn finish(self) -> BTreeMap<String, Deployed> {
        let environment = self.environment;
        let examined = self.examined;
        self.found
            .into_iter()
            .map(|(name, found)| {
                let found = found.unwrap_or_else(|| {
                    Deployed::Unknown(match examined {
                        0 => format!("never deployed: `{environment}` has no GitHub deployment"),
                        n => format!(
                            "never deployed: no successful GitHub deployment to `{environment}` lists it (the last {n} read)"
                        ),
                    })
                });
                (name, found)
            })
            .collect()
    }
}

fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OLD: &str = "1111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222";
    const NEWEST: &str = "3333333333333333333333333333333333333333";

    fn recorded(id: u64, sha: &str, services: &[&str], states: &[&str]) -> RecordedDeployment {
        RecordedDeployment {
            id,
            sha: sha.into(),
            payload: json!({"services": services.iter().map(|s| json!({"service": s})).collect::<Vec<_>>()}),
            created_at: String::new(),
            states: states.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn states(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn success_and_superseded_success_count_failures_do_not() {
        assert!(succeeded(&states(&["success", "in_progress"])));
        assert!(succeeded(&states(&["inactive", "success", "in_progress"])));
        assert!(!succeeded(&states(&["inactive"])));
        assert!(!succeeded(&states(&["failure", "in_progress"])));
        assert!(!succeeded(&states(&["error"])));
        assert!(!succeeded(&states(&["in_progress"])));
        assert!(!succeeded(&[]));
    }

    #[test]
    fn payloads_list_services_as_objects_or_text() {
        let object = json!({"services": [{"service": "auth", "image": "x"}, {"image": "y"}]});
        assert_eq!(listed_services(&object), ["auth"]);
        assert_eq!(
            listed_services(&Value::String(object.to_string())),
            ["auth"]
        );
        assert!(listed_services(&json!("not json")).is_empty());
        assert!(listed_services(&json!({"services": "auth"})).is_empty());
        assert!(listed_services(&Value::Null).is_empty());
    }

    #[test]
    fn each_service_takes_the_newest_successful_deployment_that_lists_it() {
        let mut search = Search::new(
            "production",
            ["auth", "events", "billing", "orphan"].map(String::from),
        );
        // Newest first: a failed deploy of auth (rolled back), a success of events only, an
        // older success of auth + billing since marked inactive.
        let history = [
            recorded(9, NEWEST, &["auth"], &["failure", "in_progress"]),
            recorded(8, NEW, &["events"], &["success", "in_progress"]),
            recorded(
                7,
                OLD,
                &["auth", "billing", "events"],
                &["inactive", "success"],
            ),
            recorded(6, "main", &["orphan"], &["success"]),
        ];
        for deployment in &history {
            assert!(!search.done());
            search.offer(deployment);
        }
        assert!(search.done());
        let found = search.finish();
        assert_eq!(found["auth"], Deployed::Commit(OLD.into()));
        assert_eq!(found["billing"], Deployed::Commit(OLD.into()));
        assert_eq!(found["events"], Deployed::Commit(NEW.into()));
        assert_eq!(
            found["orphan"],
            Deployed::Unknown(
                "GitHub deployment 6 to `production` records `main`, not a commit SHA".into()
            )
        );
    }

    #[test]
    fn services_no_successful_deployment_lists_are_unknown_with_the_reason() {
        let search = Search::new("staging", ["auth".to_string()]);
        assert_eq!(
            search.finish()["auth"],
            Deployed::Unknown("never deployed: `staging` has no GitHub deployment".into())
        );
        let mut search = Search::new("staging", ["auth".to_string()]);
        search.offer(&recorded(1, OLD, &["auth"], &["failure"]));
        search.offer(&recorded(2, OLD, &["events"], &["success"]));
        assert_eq!(
            search.finish()["auth"],
            Deployed::Unknown(
                "never deployed: no successful GitHub deployment to `staging` lists it (the last 2 read)"
                    .into()
            )
        );
    }
}
