//! The deploy tests' `.github/shipgate.yml`, built fluently: services `auth` and `events`
//! (Deployments in namespace `shop`, `timeout: 60s`) and the library `docs`, each service's
//! `deploy:` replaceable on its own, instead of string surgery on the whole file; and the
//! manifests tests' ([`ManifestsConfig`]).
//!
//! ```ignore
//! let config = DeployConfig::shop()
//!     .deploy("auth", "{ namespace: shop, wave: 0 }")
//!     .deploy("events", "{ namespace: shop, wave: 1 }")
//!     .render();
//! ```

pub(crate) struct DeployConfig {
    services: Vec<Service>,
}

struct Service {
    name: &'static str,
    paths: &'static str,
    image: Option<&'static str>,
    deploy: Option<String>,
}

const DEFAULT_DEPLOY: &str = "{ namespace: shop, timeout: 60s }";

impl DeployConfig {
    /// `auth` and `events` deployed to `shop` with a 60 s timeout; `docs` a library.
    pub(crate) fn shop() -> Self {
        let service = |name, paths, image: Option<&'static str>| Service {
            name,
            paths,
            image,
            deploy: image.map(|_| DEFAULT_DEPLOY.to_string()),
        };
        DeployConfig {
            services: vec![
                service("auth", "services/auth/**", Some("auth")),
                service("events", "services/events/**", Some("events")),
                service("docs", "docs/**", None),
            ],
        }
    }

    /// Sets `service`'s `deploy:` to `value` (YAML, flow style).
    pub(crate) fn deploy(mut self, service: &str, value: impl Into<String>) -> Self {
        let found = self
            .services
            .iter_mut()
            .find(|s| s.name == service)
            .unwrap_or_else(|| panic!("no service {service} in the deploy tests' config"));
        found.deploy = Some(value.into());
        self
    }

    /// Sets `service`'s `deploy:` to namespace `shop` with this health gate (YAML, flow style).
    pub(crate) fn health(self, service: &str, gate: &str) -> Self {
        self.deploy(service, format!("{{ namespace: shop, health: {gate} }}"))
    }

    pub(crate) fn render(&self) -> String {
        let mut yaml = String::from(
            "version: 1\ndefaults:\n  registry: registry.local/shop\n  tags: [\"{sha7}\"]\nservices:\n",
        );
        for service in &self.services {
            yaml.push_str(&format!(
                "  {}:\n    paths: [\"{}\"]\n",
                service.name, service.paths
            ));
            if let Some(image) = service.image {
                yaml.push_str(&format!("    image: {image}\n"));
            }
            if let Some(deploy) = &service.deploy {
                yaml.push_str(&format!("    deploy: {deploy}\n"));
            }
        }
        yaml
    }
}

/// The manifests tests' `.github/shipgate.yml`: services `web`, `api` (wave 1) and `migrate`
/// from the kustomization of `kustomize` (`deploy/overlays/{environment}` by default), in
/// environment `prod`, namespace `shop`.
pub(crate) struct ManifestsConfig {
    kustomize: String,
    prune: bool,
    /// `services.web.deploy.health`, in flow style.
    web_health: Option<String>,
}

impl ManifestsConfig {
    pub(crate) fn shop() -> Self {
        ManifestsConfig {
            kustomize: "deploy/overlays/{environment}".to_string(),
            prune: false,
            web_health: None,
        }
    }

    /// `deploy.manifests.kustomize`.
    pub(crate) fn kustomize(mut self, path: &str) -> Self {
        self.kustomize = path.to_string();
        self
    }

    /// `deploy.prune: true`.
    pub(crate) fn prune(mut self) -> Self {
        self.prune = true;
        self
    }

    /// `services.web.deploy.health` (flow style, e.g. `{ port: 8080, path: /health }`).
    pub(crate) fn web_health(mut self, gate: &str) -> Self {
        self.web_health = Some(gate.to_string());
        self
    }

    pub(crate) fn render(&self) -> String {
        let prune = if self.prune { "  prune: true\n" } else { "" };
        let web_health = self
            .web_health
            .as_ref()
            .map(|gate| format!(", health: {gate}"))
            .unwrap_or_default();
        format!(
            r#"version: 1
defaults:
  registry: registry.local/shop
  tags: ["{{sha7}}"]
  environment: prod
deploy:
  manifests:
    kustomize: {kustomize}
    namespace: shop
{prune}services:
  web:
    paths: ["services/web/**"]
    image: web
    deploy: {{ namespace: shop, name: web, timeout: 30s{web_health} }}
  api:
    paths: ["services/api/**"]
    image: api
    deploy: {{ namespace: shop, name: api, wave: 1, timeout: 30s }}
  migrate:
    paths: ["services/migrate/**"]
    image: migrate
"#,
            kustomize = self.kustomize,
        )
    }
}
