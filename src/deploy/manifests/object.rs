//! One rendered Kubernetes object and the name that identifies it (`Kind/namespace/name`).

use serde_json::Value;
use std::fmt;

/// Which object: API group/version, kind, namespace (none for cluster-scoped), name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// The identity of `object`, when it has `apiVersion`, `kind` and `metadata.name`.
    pub fn of(object: &Value) -> Option<ObjectRef> {
        Some(ObjectRef {
            api_version: object["apiVersion"].as_str()?.to_string(),
            kind: object["kind"].as_str()?.to_string(),
            namespace: object["metadata"]["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            name: object["metadata"]["name"].as_str()?.to_string(),
        })
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The same object regardless of the API version it is written in.
    pub fn same_object(&self, other: &ObjectRef) -> bool {
        self.group() == other.group()
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }
}

impl fmt::Display for ObjectRef {
    /// kubectl's way: `Deployment/shop/api`, `Namespace/shop`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{}/{}", self.kind, namespace, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A rendered object with where it came from (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub object: Value,
    /// `k8s/api.yaml` (document 2), or `kustomize build deploy/overlays/prod`.
    pub origin: String,
}

impl Manifest {
    /// The object's identity; rendering guarantees one.
    pub fn id(&self) -> ObjectRef {
        ObjectRef::of(&self.object).unwrap_or_else(|| ObjectRef {
            api_version: String::new(),
            kind: String::new(),
            namespace: None,
            name: String::new(),
        })
    }

    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    pub fn is_secret(&self) -> bool {
        self.kind() == "Secret" && self.id().group().is_empty()
    }
}

/// Kinds that live outside namespaces, for when there is no cluster to ask (discovery decides
/// when there is one).
pub const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "Node",
    "CSIDriver",
];

/// Gives every namespaced object without one `namespace` (like `kubectl apply -n`).
pub fn default_namespaces(
    manifests: &mut [Manifest],
    namespace: &str,
    namespaced: impl Fn(&ObjectRef) -> bool,
) {
    for manifest in manifests {
        let id = manifest.id();
        if id.namespace.is_none() && namespaced(&id) {
            manifest.object["metadata"]["namespace"] = Value::String(namespace.to_string());
        }
    }
}

/// Without discovery: everything but the known cluster-scoped kinds is namespaced.
pub fn namespaced_offline(id: &ObjectRef) -> bool {
    !CLUSTER_SCOPED.contains(&id.kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_and_display() {
        let id = ObjectRef::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"}})).unwrap();
        assert_eq!(id.to_string(), "Deployment/shop/api");
        assert_eq!(id.group(), "apps");
        let ns = ObjectRef::of(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        )
        .unwrap();
        assert_eq!(ns.to_string(), "Namespace/shop");
        assert_eq!(ns.group(), "");
        assert!(ObjectRef::of(&json!({"kind": "X"})).is_none());
    }

    #[test]
    fn namespaces_are_defaulted_for_namespaced_kinds_only() {
        let mut manifests = vec![
            Manifest {
                object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
                origin: "a".into(),
            },
            Manifest {
                object: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
                origin: "a".into(),
            },
            Manifest {
                object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "x"}}),
                origin: "a".into(),
            },
        ];
        default_namespaces(&mut manifests, "shop", namespaced_offline);
        assert_eq!(manifests[0].id().to_string(), "ConfigMap/shop/a");
        assert_eq!(manifests[1].id().to_string(), "Namespace/shop");
        assert_eq!(manifests[2].id().to_string(), "ConfigMap/x/b");
    }
}
