//! The Kubernetes edge: the few API calls the deploy makes, through kube-rs, with errors turned
//! into sentences. Workloads travel as JSON (`DynamicObject`) so one code path serves
//! Deployments, StatefulSets and DaemonSets; the judging code reads them as typed objects.

use super::client::{self, Stats, Usage};
use crate::config::model::WorkloadKind;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch, PatchParams,
    PostParams,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// At most this much of a container's log is fetched for a diagnosis (`limitBytes`).
pub const LOG_LIMIT_BYTES: i64 = 64 * 1024;

/// Field manager of every write, so `managedFields` says who changed the image.
pub const FIELD_MANAGER: &str = "shipgate";

/// A failed API call, as a sentence, with the HTTP status when the server answered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: Option<u16>,
    pub message: String,
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        self.code == Some(404)
    }
    pub fn is_conflict(&self) -> bool {
        self.code == Some(409)
    }
}

impl From<kube::Error> for ApiError {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => ApiError {
                code: Some(status.code),
                message: if status.message.is_empty() {
                    format!("{} ({})", status.reason, status.code)
                } else {
                    status.message.clone()
                },
            },
            kube::Error::Auth(e) => ApiError {
                code: None,
                message: format!(
                    "cannot authenticate to the cluster: {}",
                    super::exec_plugin::describe_auth_error(&e)
                ),
            },
            other => ApiError {
                code: None,
                message: format!("cannot reach the Kubernetes API: {other}"),
            },
        }
    }
}

/// One connected cluster: the run's one client (see [`super::client`]), its counts, the RBAC
/// answers already known, and the bound on one-off requests in flight.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    /// The context's namespace (or `default`).
    pub default_namespace: String,
    /// The API server URL, for the "using cluster" line.
    pub server: String,
    stats: Arc<Stats>,
    one_off: Arc<tokio::sync::Semaphore>,
    answers: Arc<Mutex<HashMap<Question, Answer>>>,
}

/// One RBAC question: (namespace, verb, group, resource, subresource).
type Question = (String, String, String, String, Option<String>);
/// Its answer, shared by every service that asks it (asked once, even concurrently).
type Answer = Shared<BoxFuture<'static, Result<bool, ApiError>>>;

fn resource(kind: WorkloadKind) -> ApiResource {
    let gvk = GroupVersionKind::gvk("apps", "v1", super::target::kind_name(kind));
    let plural = match kind {
        WorkloadKind::Deployment => "deployments",
        WorkloadKind::StatefulSet => "statefulsets",
        WorkloadKind::DaemonSet => "daemonsets",
    };
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

/// The plural resource name RBAC and SelfSubjectAccessReviews speak of.
pub fn plural(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "deployments",
        WorkloadKind::StatefulSet => "statefulsets",
        WorkloadKind::DaemonSet => "daemonsets",
    }
}

impl Cluster {
    /// Connects with the User-Agent `shipgate/<version>`; inside a tokio runtime.
    pub fn new(config: kube::Config) -> Result<Cluster, ApiError> {
        Cluster::connect(config, None)
    }

    /// [`Cluster::new`] with the run URL in the User-Agent, so the audit log names the run.
    pub fn connect(config: kube::Config, run_url: Option<&str>) -> Result<Cluster, ApiError> {
        let default_namespace = config.default_namespace.clone();
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let stats = Arc::new(Stats::default());
        let client = client::build(config, &client::user_agent(run_url), stats.clone())
            .map_err(ApiError::from)?;
        Ok(Cluster {
            client,
            default_namespace,
            server,
            stats,
            one_off: Arc::new(tokio::sync::Semaphore::new(client::ONE_OFF_IN_FLIGHT)),
            answers: Arc::default(),
        })
    }

    /// The client, for callers that reach kinds beyond the workloads (`deploy::manifests`).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// What this client has cost the API so far.
    pub fn usage(&self) -> Usage {
        self.stats.usage()
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Runs a one-off request within the bound on requests in flight.
    async fn bounded<T>(&self, request: impl Future<Output = T>) -> T {
        // The semaphore is never closed, so a permit always comes.
        let _permit = self.one_off.acquire().await.ok();
        request.await
    }

    /// The server's version (`v1.24.0`): proves the cluster answers before anything else.
    pub async fn version(&self) -> Result<String, ApiError> {
        let info = self.bounded(self.client.apiserver_version()).await?;
        Ok(info.git_version)
    }

    pub fn workloads(&self, kind: WorkloadKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &resource(kind))
    }

    pub fn typed<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The workload as JSON, or `None` when it does not exist.
    pub async fn get(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        match self
            .bounded(self.workloads(kind, namespace).get_opt(name))
            .await?
        {
            Some(object) => Ok(Some(to_json(&object)?)),
            None => Ok(None),
        }
    }

    /// Whether this identity may `verb` the resource (SelfSubjectAccessReview).
    pub async fn can_i(
        &self,
        namespace: &str,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> Result<bool, ApiError> {
        self.can_i_sub(namespace, verb, group, resource, None).await
    }

    /// [`Cluster::can_i`] for a subresource (`pods/log`). Each question is asked once per run:
    /// the services of a namespace share the answer (and a question in flight).
    pub async fn can_i_sub(
        &self,
        namespace: &str,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
    ) -> Result<bool, ApiError> {
        let question: Question = (
            namespace.to_string(),
            verb.to_string(),
            group.to_string(),
            resource.to_string(),
            subresource.map(str::to_string),
        );
        let answer = {
            let mut answers = self
                .answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            answers
                .entry(question.clone())
                .or_insert_with(|| {
                    let cluster = self.clone();
                    async move { cluster.review(question).await }
                        .boxed()
                        .shared()
                })
                .clone()
        };
        answer.await
    }

    /// Asks one SelfSubjectAccessReview.
    async fn review(&self, question: Question) -> Result<bool, ApiError> {
        let (namespace, verb, group, resource, subresource) = question;
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace),
                    verb: Some(verb),
                    group: Some(group),
                    resource: Some(resource),
                    subresource,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answer = self
            .bounded(api.create(&PostParams::default(), &review))
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    pub async fn patch_strategic(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, ApiError> {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        let object = self
            .bounded(
                self.workloads(kind, namespace)
                    .patch(name, &params, &Patch::Strategic(patch)),
            )
            .await?;
        to_json(&object)
    }

    pub async fn patch_json(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, ApiError> {
        let operations: json_patch::Patch =
            serde_json::from_value(patch.clone()).map_err(|e| ApiError {
                code: None,
                message: format!("internal error: bad JSON patch: {e}"),
            })?;
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        let object = self
            .bounded(self.workloads(kind, namespace).patch(
                name,
                &params,
                &Patch::<()>::Json(operations),
            ))
            .await?;
        to_json(&object)
    }

    pub async fn replica_sets(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<ReplicaSet>, ApiError> {
        let api: Api<ReplicaSet> = self.typed(namespace);
        Ok(self
            .bounded(api.list(&ListParams::default().labels(selector)))
            .await?
            .items)
    }

    pub async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Pod>, ApiError> {
        let api: Api<Pod> = self.typed(namespace);
        Ok(self
            .bounded(api.list(&ListParams::default().labels(selector)))
            .await?
            .items)
    }

    /// The namespace's events about one object (core/v1, as `kubectl describe` reads them).
    pub async fn events_for(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Vec<Event>, ApiError> {
        let api: Api<Event> = self.typed(namespace);
        let fields = format!("involvedObject.kind={kind},involvedObject.name={name}");
        Ok(self
            .bounded(api.list(&ListParams::default().fields(&fields)))
            .await?
            .items)
    }

    pub async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        tail: i64,
    ) -> Result<String, ApiError> {
        let api: Api<Pod> = self.typed(namespace);
        let params = LogParams {
            container: Some(container.to_string()),
            previous,
            tail_lines: Some(tail),
            // A pod that logs megabytes per line must not fill our memory or the summary.
            limit_bytes: Some(LOG_LIMIT_BYTES),
            ..Default::default()
        };
        Ok(self.bounded(api.logs(pod, &params)).await?)
    }
}

pub fn to_json(object: &DynamicObject) -> Result<Value, ApiError> {
    serde_json::to_value(object).map_err(|e| ApiError {
        code: None,
        message: format!("internal error: cannot read the object: {e}"),
    })
}

/// `matchLabels` and `matchExpressions` of a workload's `spec.selector` as a label selector
/// string.
pub fn selector_string(workload: &Value) -> Option<String> {
    let selector = &workload["spec"]["selector"];
    let mut parts = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (key, value) in labels {
            parts.push(format!("{key}={}", value.as_str().unwrap_or_default()));
        }
    }
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match expression["operator"].as_str().unwrap_or_default() {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_become_label_selector_strings() {
        let workload = json!({"spec": {"selector": {
            "matchLabels": {"app": "auth", "tier": "api"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "canary"]},
                {"key": "legacy", "operator": "DoesNotExist"}]}}});
        assert_eq!(
            selector_string(&workload).unwrap(),
            "app=auth,tier=api,env in (prod,canary),!legacy"
        );
        assert_eq!(selector_string(&json!({})), None);
    }
}
