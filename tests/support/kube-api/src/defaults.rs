//! Defaulting and (a little) validation, as the real apiserver applies on create/update.

use crate::store::{ApiError, ResDef};
use crate::util::{self, obj_mut};
use serde_json::{Value, json};

fn default_key(m: &mut serde_json::Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.to_string(), v);
    }
}

fn default_probe(p: &mut Value) {
    if let Some(m) = p.as_object_mut() {
        default_key(m, "timeoutSeconds", 1.into());
        default_key(m, "periodSeconds", 10.into());
        default_key(m, "successThreshold", 1.into());
        default_key(m, "failureThreshold", 3.into());
        if let Some(h) = m.get_mut("httpGet").and_then(Value::as_object_mut) {
            default_key(h, "scheme", "HTTP".into());
        }
    }
}

fn default_container(c: &mut Value) {
    let image = util::s(c, "/image").unwrap_or_default().to_string();
    let Some(m) = c.as_object_mut() else { return };
    default_key(m, "resources", json!({}));
    default_key(m, "terminationMessagePath", "/dev/termination-log".into());
    default_key(m, "terminationMessagePolicy", "File".into());
    let last = image.rsplit('/').next().unwrap_or_default();
    let policy = if image.contains('@') {
        "IfNotPresent"
    } else if !last.contains(':') || last.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    default_key(m, "imagePullPolicy", policy.into());
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            if let Some(pm) = p.as_object_mut() {
                default_key(pm, "protocol", "TCP".into());
            }
        }
    }
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe) {
            default_probe(p);
        }
    }
}

/// Defaults of a PodSpec (as in a template).
pub(crate) fn default_pod_spec(spec: &mut Value) {
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                default_container(c);
            }
        }
    }
    if let Some(m) = spec.as_object_mut() {
        default_key(m, "restartPolicy", "Always".into());
        default_key(m, "terminationGracePeriodSeconds", 30.into());
        default_key(m, "dnsPolicy", "ClusterFirst".into());
        default_key(m, "securityContext", json!({}));
        default_key(m, "schedulerName", "default-scheduler".into());
    }
}

pub(crate) fn default_template(t: &mut Value) {
    let meta = obj_mut(t, "/metadata");
    meta.entry("creationTimestamp").or_insert(Value::Null);
    if !t.get("spec").is_some_and(Value::is_object) {
        t["spec"] = json!({});
    }
    default_pod_spec(&mut t["spec"]);
}

/// Defaults for the kinds we simulate; called on create and update.
pub(crate) fn apply(rd: &ResDef, obj: &mut Value) {
    match rd.plural {
        "deployments" => {
            let spec = obj_mut(obj, "/spec");
            default_key(spec, "replicas", 1.into());
            default_key(spec, "revisionHistoryLimit", 10.into());
            default_key(spec, "progressDeadlineSeconds", 600.into());
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if strategy.get("type").is_none_or(Value::is_null) {
                strategy["type"] = "RollingUpdate".into();
            }
            if strategy["type"] == "RollingUpdate" {
                let ru = obj_mut(strategy, "/rollingUpdate");
                default_key(ru, "maxUnavailable", "25%".into());
                default_key(ru, "maxSurge", "25%".into());
            }
            default_template(
                obj_mut(obj, "/spec")
                    .entry("template")
                    .or_insert_with(|| json!({})),
            );
        }
        "replicasets" => {
            let spec = obj_mut(obj, "/spec");
            default_key(spec, "replicas", 1.into());
            default_template(spec.entry("template").or_insert_with(|| json!({})));
        }
        "statefulsets" => {
            let spec = obj_mut(obj, "/spec");
            default_key(spec, "replicas", 1.into());
            default_key(spec, "podManagementPolicy", "OrderedReady".into());
            default_key(spec, "revisionHistoryLimit", 10.into());
            let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
            if us.get("type").is_none_or(Value::is_null) {
                us["type"] = "RollingUpdate".into();
            }
            if us["type"] == "RollingUpdate" {
                let ru = obj_mut(us, "/rollingUpdate");
                default_key(ru, "partition", 0.into());
            }
            default_template(
                obj_mut(obj, "/spec")
                    .entry("template")
                    .or_insert_with(|| json!({})),
            );
        }
        "daemonsets" => {
            let spec = obj_mut(obj, "/spec");
            default_key(spec, "revisionHistoryLimit", 10.into());
            let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
            if us.get("type").is_none_or(Value::is_null) {
                us["type"] = "RollingUpdate".into();
            }
            if us["type"] == "RollingUpdate" {
                let ru = obj_mut(us, "/rollingUpdate");
                default_key(ru, "maxUnavailable", 1.into());
                default_key(ru, "maxSurge", 0.into());
            }
            default_template(
                obj_mut(obj, "/spec")
                    .entry("template")
                    .or_insert_with(|| json!({})),
            );
        }
        "pods" => {
            let spec = obj_mut(obj, "/spec");
            let mut sv = Value::Object(std::mem::take(spec));
            default_pod_spec(&mut sv);
            obj["spec"] = sv;
        }
        _ => {}
    }
}

fn rfc1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) fn rfc1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(rfc1123_label)
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn go_map(m: Option<&Value>) -> String {
    let Some(Value::Object(m)) = m else {
        return "map[string]string(nil)".into();
    };
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// Validation of the workload kinds (the errors a deployer can realistically hit).
pub(crate) fn validate(rd: &ResDef, obj: &Value) -> Result<(), ApiError> {
    let name = util::name_of(obj);
    let mut causes: Vec<(String, String, String)> = Vec::new();
    let invalid = |field: &str, value: String, msg: &str| {
        (
            "FieldValueInvalid".to_string(),
            field.to_string(),
            format!("Invalid value: {value}: {msg}"),
        )
    };
    if !rfc1123_subdomain(&name) && rd.plural != "events" {
        causes.push(invalid("metadata.name", format!("{name:?}"), SUBDOMAIN_MSG));
    }
    let workload = matches!(
        rd.plural,
        "deployments" | "replicasets" | "statefulsets" | "daemonsets"
    );
    if workload {
        if let Some(r) = util::i(obj, "/spec/replicas")
            && r < 0
        {
            causes.push(invalid(
                "spec.replicas",
                r.to_string(),
                "must be greater than or equal to 0",
            ));
        }
        let sel = obj
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object);
        let labels = obj.pointer("/spec/template/metadata/labels");
        if let Some(sel) = sel {
            let ok = sel
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
            if !ok {
                causes.push(invalid(
                    "spec.template.metadata.labels",
                    go_map(labels),
                    "`selector` does not match template `labels`",
                ));
            }
        } else if obj.pointer("/spec/selector/matchExpressions").is_none() {
            causes.push((
                "FieldValueRequired".into(),
                "spec.selector".into(),
                "Required value".into(),
            ));
        }
    }
    let spec_ptr = match rd.plural {
        "pods" => Some("/spec"),
        _ if workload => Some("/spec/template/spec"),
        _ => None,
    };
    if let Some(sp) = spec_ptr {
        let field_base = sp.trim_start_matches('/').replace('/', ".");
        for list in ["initContainers", "containers"] {
            let cs = obj
                .pointer(&format!("{sp}/{list}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if list == "containers" && cs.is_empty() {
                causes.push((
                    "FieldValueRequired".into(),
                    format!("{field_base}.containers"),
                    "Required value".into(),
                ));
            }
            for (idx, c) in cs.iter().enumerate() {
                let cname = util::s(c, "/name").unwrap_or_default();
                if !rfc1123_label(cname) {
                    causes.push(invalid(
                        &format!("{field_base}.{list}[{idx}].name"),
                        format!("{cname:?}"),
                        LABEL_MSG,
                    ));
                }
                if util::s(c, "/image").unwrap_or_default().trim().is_empty() {
                    causes.push((
                        "FieldValueRequired".into(),
                        format!("{field_base}.{list}[{idx}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
    }
    if rd.plural == "deployments"
        && obj.pointer("/spec/strategy/type") == Some(&json!("RollingUpdate"))
    {
        let replicas = util::i(obj, "/spec/replicas").unwrap_or(1);
        let ru = obj.pointer("/spec/strategy/rollingUpdate");
        let surge = util::int_or_percent(ru.and_then(|r| r.get("maxSurge")), replicas, true, "25%");
        let unav = util::int_or_percent(
            ru.and_then(|r| r.get("maxUnavailable")),
            replicas,
            false,
            "25%",
        );
        let raw_surge = ru
            .and_then(|r| r.get("maxSurge"))
            .cloned()
            .unwrap_or(Value::Null);
        let raw_unav = ru
            .and_then(|r| r.get("maxUnavailable"))
            .cloned()
            .unwrap_or(Value::Null);
        let is_zero = |v: &Value| v == &json!(0) || v == &json!("0%");
        if is_zero(&raw_surge) && is_zero(&raw_unav) {
            causes.push(invalid(
                "spec.strategy.rollingUpdate.maxUnavailable",
                "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".into(),
                "may not be 0 when `maxSurge` is 0",
            ));
        }
        let _ = (surge, unav);
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rd, &name, &causes))
    }
}
