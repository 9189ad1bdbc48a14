//! How a service is built: its own `build` settings over `defaults.build`.

use super::BuildSpec;
use crate::config::Config;
use crate::config::model::{BuildSettings, Builder, CachePolicy};

/// The build settings of a service over `defaults.build`.
pub fn build_spec(config: &Config, index: usize) -> BuildSpec {
    let own = config.services[index].settings.build.as_ref();
    let defaults = config.defaults.build.as_ref();
    let pick = |f: &dyn Fn(&BuildSettings) -> Option<String>| {
        own.and_then(f).or_else(|| defaults.and_then(f))
    };
    let context = pick(&|b| b.context.clone()).unwrap_or_else(|| ".".into());
    let dockerfile = pick(&|b| b.dockerfile.clone()).unwrap_or_else(|| {
        if context == "." {
            "Dockerfile".into()
        } else {
            format!("{}/Dockerfile", context.trim_end_matches('/'))
        }
    });
    let mut args = defaults.map(|b| b.args.clone()).unwrap_or_default();
    args.extend(own.map(|b| b.args.clone()).unwrap_or_default());
    let platforms = own
        .filter(|b| !b.platforms.is_empty())
        .or(defaults)
        .map(|b| b.platforms.clone())
        .unwrap_or_default();
    let builder = own
        .and_then(|b| b.builder)
        .or_else(|| defaults.and_then(|b| b.builder))
        .unwrap_or(Builder::Buildx);
    // Only buildx is handed secrets: other builders inherit none from the defaults (and the
    // config check refuses their own).
    let inherited = if builder == Builder::Buildx {
        secrets_of(defaults)
    } else {
        Vec::new()
    };
    BuildSpec {
        context,
        dockerfile,
        target: pick(&|b| b.target.clone()),
        args,
        platforms,
        builder,
        cache: own
            .and_then(|b| b.cache)
            .or_else(|| defaults.and_then(|b| b.cache))
            .unwrap_or(CachePolicy::Fresh),
        command: own
            .and_then(|b| b.command.clone())
            .or_else(|| defaults.and_then(|b| b.command.clone())),
        workflow: pick(&|b| b.workflow.clone()),
        secrets: crate::build::secrets::merge(&inherited, &secrets_of(own)),
    }
}

fn secrets_of(build: Option<&BuildSettings>) -> Vec<crate::build::secrets::Secret> {
    build
        .map(|b| b.secrets.iter().map(|s| s.to_secret()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_secrets_merge_by_id_and_reach_only_buildx_services() {
        // Defaults reach only buildx services: a `none` service inherits nothing and is fine.
        let config = crate::config::load::parse(
            concat!(
                "version: 1\n",
                "defaults: { build: { secrets: [{ id: npm, env: NPM_TOKEN }] } }\n",
                "services:\n",
                "  elsewhere: { paths: [a/**], image: a, build: { builder: none } }\n",
                "  web: { paths: [b/**], image: b, build: { secrets: [{ id: pip, src: ci/pip.conf }] } }\n",
            ),
            "c.yml",
        )
        .unwrap();
        let elsewhere = build_spec(&config, 0);
        assert!(elsewhere.secrets.is_empty());
        let web = build_spec(&config, 1);
        let ids: Vec<&str> = web.secrets.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["npm", "pip"]);
        assert_eq!(web.secrets[0].env.as_deref(), Some("NPM_TOKEN"));
    }
}
