//! Apply order: wave by wave (a service's `wave` applies to its objects; objects tied to no
//! service go in the first wave), and inside a wave by dependency — Namespaces, CRDs,
//! ServiceAccounts/RBAC, ConfigMaps/Secrets/PVCs, Services, workloads, then Jobs/CronJobs;
//! other kinds (custom resources, Ingresses, …) last. Stable: file order breaks ties.

use super::object::Manifest;
use super::substitute::Substitution;
use std::collections::BTreeMap;

/// The rank of a kind in the apply order (lower first).
pub fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "PriorityClass" | "StorageClass" | "IngressClass" | "RuntimeClass" => 2,
        "ResourceQuota" | "LimitRange" | "NetworkPolicy" | "PodDisruptionBudget" => 3,
        "ServiceAccount" => 4,
        "ClusterRole" | "Role" => 5,
        "ClusterRoleBinding" | "RoleBinding" => 6,
        "Secret" | "ConfigMap" => 7,
        "PersistentVolume" | "PersistentVolumeClaim" => 8,
        "Service" => 9,
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Pod" => 10,
        "HorizontalPodAutoscaler" => 11,
        "Job" | "CronJob" => 12,
        _ => 13,
    }
}

/// The workload a service's `deploy` settings name: the service's objects beyond its images.
#[derive(Debug, Clone)]
pub struct ServiceObject {
    pub service: String,
    pub wave: u32,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// Each manifest's wave.
pub fn object_waves(
    manifests: &[Manifest],
    substitutions: &[Substitution],
    services: &[ServiceObject],
) -> Vec<u32> {
    let wave_of: BTreeMap<&str, u32> = services
        .iter()
        .map(|s| (s.service.as_str(), s.wave))
        .collect();
    let first = services.iter().map(|s| s.wave).min().unwrap_or(0);
    manifests
        .iter()
        .map(|manifest| {
            let id = manifest.id();
            let by_image = substitutions
                .iter()
                .filter(|s| s.object == id)
                .filter_map(|s| wave_of.get(s.reason.service()).copied());
            let by_name = services
                .iter()
                .filter(|s| {
                    s.kind == id.kind
                        && s.name == id.name
                        && (s.namespace.is_none() || s.namespace == id.namespace)
                })
                .map(|s| s.wave);
            by_image.chain(by_name).max().unwrap_or(first)
        })
        .collect()
}

/// Manifest indexes grouped by wave (lowest first), each group in apply order.
pub fn apply_order(manifests: &[Manifest], waves: &[u32]) -> Vec<(u32, Vec<usize>)> {
    let mut grouped: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, wave) in waves.iter().enumerate() {
        grouped.entry(*wave).or_default().push(index);
    }
    grouped
        .into_iter()
        .map(|(wave, mut members)| {
            members.sort_by_key(|&i| (kind_rank(manifests[i].kind()), i));
            (wave, members)
        })
        .collect()
}

/// Deletion order (prune, rollback of created objects): the reverse of the apply order.
pub fn delete_order(kinds: &[&str]) -> Vec<usize> {
    let mut indexes: Vec<usize> = (0..kinds.len()).collect();
    indexes.sort_by_key(|&i| (std::cmp::Reverse(kind_rank(kinds[i])), i));
    indexes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::manifests::substitute::Reason;
    use serde_json::json;

    fn manifest(kind: &str, name: &str) -> Manifest {
        Manifest {
            object: json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "shop"}}),
            origin: "t".into(),
        }
    }

    #[test]
    fn dependencies_first_jobs_last_waves_in_order() {
        let manifests = vec![
            manifest("Deployment", "api"),
            manifest("Job", "migrate"),
            manifest("Service", "web"),
            manifest("Deployment", "web"),
            manifest("ConfigMap", "web"),
            manifest("Namespace", "shop"),
            manifest("Widget", "w"),
        ];
        let services = vec![
            ServiceObject {
                service: "web".into(),
                wave: 0,
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into(),
            },
            ServiceObject {
                service: "api".into(),
                wave: 1,
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "api".into(),
            },
        ];
        let substitution = |object: &Manifest, service: &str| Substitution {
            object: object.id(),
            container: "c".into(),
            init: false,
            from: "a".into(),
            to: "b".into(),
            reason: Reason::Planned {
                service: service.into(),
                source: "plan tag".into(),
            },
        };
        let substitutions = vec![substitution(&manifests[1], "web")];
        let waves = object_waves(&manifests, &substitutions, &services);
        assert_eq!(waves, [1, 0, 0, 0, 0, 0, 0]);
        let order = apply_order(&manifests, &waves);
        let names = |indexes: &[usize]| -> Vec<String> {
            indexes
                .iter()
                .map(|&i| manifests[i].id().to_string())
                .collect()
        };
        assert_eq!(order[0].0, 0);
        assert_eq!(
            names(&order[0].1),
            [
                "Namespace/shop/shop",
                "ConfigMap/shop/web",
                "Service/shop/web",
                "Deployment/shop/web",
                "Job/shop/migrate",
                "Widget/shop/w"
            ]
        );
        assert_eq!(names(&order[1].1), ["Deployment/shop/api"]);
        assert_eq!(
            delete_order(&["Namespace", "Deployment", "ConfigMap"]),
            [1, 2, 0]
        );
    }
}
