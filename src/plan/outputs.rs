//! The step outputs of plan: `plan`, `matrix`, `tags`/`labels` (one service), `bake-file`.

use super::Plan;
use serde_json::{Map, Value, json};

/// `{"include":[{"service","image","context","dockerfile","target","tags","primary"}]}`: one leg
/// per image to build, for `strategy.matrix` on separate runners.
pub fn matrix(plan: &Plan) -> Value {
    let include: Vec<Value> = plan
        .services
        .iter()
        .map(|s| {
            json!({
                "service": s.name,
                "image": s.image,
                "primary": s.refs.first(),
                "tags": s.refs.join("\n"),
                "context": s.build.context,
                "dockerfile": s.build.dockerfile,
                "target": s.build.target.clone().unwrap_or_default(),
                "platforms": s.build.platforms.join(","),
            })
        })
        .collect();
    json!({ "include": include })
}

/// A bake target name: bake allows `[a-zA-Z0-9_-]`.
fn target_name(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A `docker buildx bake` file with one target per service (dockerfile relative to context, as
/// bake expects).
pub fn bake_file(plan: &Plan) -> Value {
    let mut targets = Map::new();
    for service in &plan.services {
        let context = service.build.context.trim_end_matches('/');
        let dockerfile = if context == "." {
            service.build.dockerfile.clone()
        } else {
            service
                .build
                .dockerfile
                .strip_prefix(&format!("{context}/"))
                .map(str::to_string)
                .unwrap_or_else(|| relative_to(context, &service.build.dockerfile))
        };
        let mut target = json!({
            "context": service.build.context,
            "dockerfile": dockerfile,
            "tags": service.refs,
            "labels": service.labels,
            "args": service.build.args,
        });
        if let Some(stage) = &service.build.target {
            target["target"] = json!(stage);
        }
        if !service.build.platforms.is_empty() {
            target["platforms"] = json!(service.build.platforms);
        }
        targets.insert(target_name(&service.name), target);
    }
    let names: Vec<Value> = targets.keys().map(|k| Value::String(k.clone())).collect();
    json!({ "group": { "default": { "targets": names } }, "target": targets })
}

/// `../../x/Dockerfile` from `context` to a repository path.
fn relative_to(context: &str, path: &str) -> String {
    let depth = context
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .count();
    format!("{}{path}", "../".repeat(depth))
}

/// All plan outputs as name/value pairs.
pub fn outputs(plan: &Plan) -> Vec<(String, String)> {
    let mut outputs = vec![
        (
            "plan".to_string(),
            serde_json::to_string(plan).unwrap_or_default(),
        ),
        ("matrix".to_string(), matrix(plan).to_string()),
        ("bake-file".to_string(), bake_file(plan).to_string()),
    ];
    // Drop-in for docker/build-push-action when exactly one image is planned.
    if let [only] = plan.services.as_slice() {
        outputs.push(("tags".to_string(), only.refs.join("\n")));
        let labels: Vec<String> = only
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        outputs.push(("labels".to_string(), labels.join("\n")));
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfiles_are_made_relative_to_their_context() {
        assert_eq!(
            relative_to("services/auth", "docker/auth.Dockerfile"),
            "../../docker/auth.Dockerfile"
        );
        assert_eq!(target_name("api.v2"), "api_v2");
    }
}
