//! Builders for workload manifests (plain `serde_json::Value`s, as a client would POST them).

use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct PodParts {
    containers: Vec<(String, String)>,
    init: Vec<(String, String)>,
    pull_policy: Option<String>,
}

impl PodParts {
    fn new() -> PodParts {
        PodParts {
            containers: Vec::new(),
            init: Vec::new(),
            pull_policy: None,
        }
    }

    fn template(&self, name: &str) -> Value {
        let containers: Vec<(String, String)> = if self.containers.is_empty() {
            vec![(name.to_string(), format!("registry.local/{name}:1.0.0"))]
        } else {
            self.containers.clone()
        };
        let mk = |(n, i): &(String, String), ports: bool| {
            let mut c = json!({"name": n, "image": i});
            if ports {
                c["ports"] = json!([{"name": "http", "containerPort": 8080}]);
            }
            if let Some(p) = &self.pull_policy {
                c["imagePullPolicy"] = p.clone().into();
            }
            c
        };
        let first = containers.first().map(|c| c.0.clone());
        let mut spec = json!({
            "containers": containers.iter().map(|c| mk(c, Some(&c.0) == first.as_ref())).collect::<Vec<_>>(),
        });
        if !self.init.is_empty() {
            spec["initContainers"] = self.init.iter().map(|c| mk(c, false)).collect();
        }
        json!({"metadata": {"labels": {"app": name}}, "spec": spec})
    }
}

/// A Deployment manifest: labels/selector `app=<name>`, one container `<name>` with image
/// `registry.local/<name>:1.0.0` unless `.image()` is given, 1 replica, RollingUpdate with the
/// API defaults (25%/25%) unless set.
#[derive(Debug, Clone)]
pub struct DeploymentBuilder {
    namespace: String,
    name: String,
    pod: PodParts,
    replicas: i64,
    recreate: bool,
    max_surge: Option<Value>,
    max_unavailable: Option<Value>,
    progress_deadline_seconds: Option<i64>,
    paused: Option<bool>,
    revision_history_limit: Option<i64>,
}

/// Starts a Deployment manifest.
pub fn deployment(namespace: &str, name: &str) -> DeploymentBuilder {
    DeploymentBuilder {
        namespace: namespace.into(),
        name: name.into(),
        pod: PodParts::new(),
        replicas: 1,
        recreate: false,
        max_surge: None,
        max_unavailable: None,
        progress_deadline_seconds: None,
        paused: None,
        revision_history_limit: None,
    }
}

impl DeploymentBuilder {
    /// Adds a container (call several times for several containers). The image tag picks
    /// the simulated behaviour (see the crate docs).
    pub fn image(mut self, container: &str, image: &str) -> Self {
        self.pod.containers.push((container.into(), image.into()));
        self
    }
    /// Adds an init container.
    pub fn init_container(mut self, name: &str, image: &str) -> Self {
        self.pod.init.push((name.into(), image.into()));
        self
    }
    pub fn replicas(mut self, n: i64) -> Self {
        self.replicas = n;
        self
    }
    /// Strategy `Recreate`.
    pub fn recreate(mut self) -> Self {
        self.recreate = true;
        self
    }
    /// `maxSurge`: an int (`1`) or a percentage (`"25%"`).
    pub fn max_surge(mut self, v: impl Into<Value>) -> Self {
        self.max_surge = Some(v.into());
        self
    }
    /// `maxUnavailable`: an int (`0`) or a percentage (`"25%"`).
    pub fn max_unavailable(mut self, v: impl Into<Value>) -> Self {
        self.max_unavailable = Some(v.into());
        self
    }
    pub fn progress_deadline_seconds(mut self, s: i64) -> Self {
        self.progress_deadline_seconds = Some(s);
        self
    }
    pub fn paused(mut self, p: bool) -> Self {
        self.paused = Some(p);
        self
    }
    pub fn revision_history_limit(mut self, n: i64) -> Self {
        self.revision_history_limit = Some(n);
        self
    }
    /// `imagePullPolicy` for every container.
    pub fn image_pull_policy(mut self, p: &str) -> Self {
        self.pod.pull_policy = Some(p.into());
        self
    }
    pub fn build(self) -> Value {
        let mut strategy = if self.recreate {
            json!({"type": "Recreate"})
        } else {
            json!({"type": "RollingUpdate", "rollingUpdate": {}})
        };
        if let Some(v) = self.max_surge {
            strategy["rollingUpdate"]["maxSurge"] = v;
        }
        if let Some(v) = self.max_unavailable {
            strategy["rollingUpdate"]["maxUnavailable"] = v;
        }
        if strategy.get("rollingUpdate") == Some(&json!({}))
            && let Some(m) = strategy.as_object_mut()
        {
            m.remove("rollingUpdate");
        }
        let mut d = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": {"app": self.name}},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": {"app": self.name}},
                "strategy": strategy,
                "template": self.pod.template(&self.name),
            }
        });
        if let Some(s) = self.progress_deadline_seconds {
            d["spec"]["progressDeadlineSeconds"] = s.into();
        }
        if let Some(p) = self.paused {
            d["spec"]["paused"] = p.into();
        }
        if let Some(n) = self.revision_history_limit {
            d["spec"]["revisionHistoryLimit"] = n.into();
        }
        d
    }
}

/// A StatefulSet manifest (serviceName = name, 1 replica, RollingUpdate partition 0).
#[derive(Debug, Clone)]
pub struct StatefulSetBuilder {
    namespace: String,
    name: String,
    pod: PodParts,
    replicas: i64,
    partition: Option<i64>,
    on_delete: bool,
    parallel: bool,
}

pub fn stateful_set(namespace: &str, name: &str) -> StatefulSetBuilder {
    StatefulSetBuilder {
        namespace: namespace.into(),
        name: name.into(),
        pod: PodParts::new(),
        replicas: 1,
        partition: None,
        on_delete: false,
        parallel: false,
    }
}

impl StatefulSetBuilder {
    pub fn image(mut self, container: &str, image: &str) -> Self {
        self.pod.containers.push((container.into(), image.into()));
        self
    }
    pub fn init_container(mut self, name: &str, image: &str) -> Self {
        self.pod.init.push((name.into(), image.into()));
        self
    }
    pub fn replicas(mut self, n: i64) -> Self {
        self.replicas = n;
        self
    }
    /// `updateStrategy.rollingUpdate.partition`.
    pub fn partition(mut self, n: i64) -> Self {
        self.partition = Some(n);
        self
    }
    /// `updateStrategy.type: OnDelete`.
    pub fn on_delete(mut self) -> Self {
        self.on_delete = true;
        self
    }
    /// `podManagementPolicy: Parallel`.
    pub fn parallel(mut self) -> Self {
        self.parallel = true;
        self
    }
    pub fn image_pull_policy(mut self, p: &str) -> Self {
        self.pod.pull_policy = Some(p.into());
        self
    }
    pub fn build(self) -> Value {
        let us = if self.on_delete {
            json!({"type": "OnDelete"})
        } else {
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": self.partition.unwrap_or(0)}})
        };
        let mut s = json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": {"app": self.name}},
            "spec": {
                "replicas": self.replicas,
                "serviceName": self.name,
                "selector": {"matchLabels": {"app": self.name}},
                "updateStrategy": us,
                "template": self.pod.template(&self.name),
            }
        });
        if self.parallel {
            s["spec"]["podManagementPolicy"] = "Parallel".into();
        }
        s
    }
}

/// A DaemonSet manifest (tolerates every taint, RollingUpdate maxUnavailable 1).
#[derive(Debug, Clone)]
pub struct DaemonSetBuilder {
    namespace: String,
    name: String,
    pod: PodParts,
    on_delete: bool,
    max_unavailable: Option<Value>,
}

pub fn daemon_set(namespace: &str, name: &str) -> DaemonSetBuilder {
    DaemonSetBuilder {
        namespace: namespace.into(),
        name: name.into(),
        pod: PodParts::new(),
        on_delete: false,
        max_unavailable: None,
    }
}

impl DaemonSetBuilder {
    pub fn image(mut self, container: &str, image: &str) -> Self {
        self.pod.containers.push((container.into(), image.into()));
        self
    }
    pub fn init_container(mut self, name: &str, image: &str) -> Self {
        self.pod.init.push((name.into(), image.into()));
        self
    }
    pub fn on_delete(mut self) -> Self {
        self.on_delete = true;
        self
    }
    pub fn max_unavailable(mut self, v: impl Into<Value>) -> Self {
        self.max_unavailable = Some(v.into());
        self
    }
    pub fn image_pull_policy(mut self, p: &str) -> Self {
        self.pod.pull_policy = Some(p.into());
        self
    }
    pub fn build(self) -> Value {
        let us = if self.on_delete {
            json!({"type": "OnDelete"})
        } else {
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": self.max_unavailable.unwrap_or(json!(1))}})
        };
        let mut template = self.pod.template(&self.name);
        template["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
        json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": {"app": self.name}},
            "spec": {
                "selector": {"matchLabels": {"app": self.name}},
                "updateStrategy": us,
                "template": template,
            }
        })
    }
}
