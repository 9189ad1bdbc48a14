//! The `buildx` builder: the exact `docker buildx build` argument list for a planned service, and
//! the digest read back from its `--metadata-file`.
//!
//! Builds are fresh by default (`--pull --no-cache`): a stale cached layer is how `:latest` ships
//! old code. `cache: registry` and `cache: gha` trade that for speed explicitly.

use crate::config::model::CachePolicy;
use crate::plan::PlannedService;
use std::path::Path;

/// The label keys that are also written as OCI manifest annotations.
const OCI_PREFIX: &str = "org.opencontainers.image.";

/// What the run decides for every buildx build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Push the image (`--push`); off for pull requests and `--push false`.
    pub push: bool,
    /// Where buildx writes its metadata (`containerimage.digest`).
    pub metadata_file: Option<String>,
    /// `--provenance <value>`, passed through as given.
    pub provenance: Option<String>,
    /// `--sbom <value>`, passed through as given.
    pub sbom: Option<String>,
}

/// The arguments after `docker`: `buildx build …flags… <context>`.
pub fn buildx_args(service: &PlannedService, options: &BuildOptions) -> Vec<String> {
    let build = &service.build;
    let mut args = Args(vec!["buildx".into(), "build".into(), "--pull".into()]);
    match build.cache {
        CachePolicy::Fresh => args.0.push("--no-cache".into()),
        CachePolicy::Registry => {
            let cache_ref = format!("{}:buildcache", service.image);
            args.flag("--cache-from", format!("type=registry,ref={cache_ref}"));
            args.flag(
                "--cache-to",
                format!("type=registry,ref={cache_ref},mode=max"),
            );
        }
        CachePolicy::Gha => {
            args.flag("--cache-from", format!("type=gha,scope={}", service.name));
            args.flag(
                "--cache-to",
                format!("type=gha,mode=max,scope={}", service.name),
            );
        }
    }
    args.flag("--file", build.dockerfile.clone());
    if let Some(target) = build.target.as_ref().filter(|t| !t.is_empty()) {
        args.flag("--target", target.clone());
    }
    if !build.platforms.is_empty() {
        args.flag("--platform", build.platforms.join(","));
    }
    for (name, value) in &build.args {
        args.flag("--build-arg", format!("{name}={value}"));
    }
    // Names only: buildx reads the value from its own environment or the file.
    for secret in &build.secrets {
        args.flag("--secret", secret.flag());
    }
    for reference in &service.refs {
        args.flag("--tag", reference.clone());
    }
    for (key, value) in &service.labels {
        args.flag("--label", format!("{key}={value}"));
    }
    // Registries show manifest annotations (e.g. GHCR's description); a multi-platform image
    // needs them on the index too.
    let levels: &[&str] = if build.platforms.len() > 1 {
        &["manifest", "index"]
    } else {
        &["manifest"]
    };
    for level in levels {
        for (key, value) in service
            .labels
            .iter()
            .filter(|(k, _)| k.starts_with(OCI_PREFIX))
        {
            args.flag("--annotation", format!("{level}:{key}={value}"));
        }
    }
    if let Some(provenance) = &options.provenance {
        args.flag("--provenance", provenance.clone());
    }
    if let Some(sbom) = &options.sbom {
        args.flag("--sbom", sbom.clone());
    }
    if let Some(path) = &options.metadata_file {
        args.flag("--metadata-file", path.clone());
    }
    if options.push {
        args.0.push("--push".into());
    }
    args.0.push(build.context.clone());
    args.0
}

/// An argument list that flags with values are appended to.
struct Args(Vec<String>);

impl Args {
    fn flag(&mut self, name: &str, value: String) {
        self.0.push(name.to_string());
        self.0.push(value);
    }
}

/// Reads `containerimage.digest` from a buildx metadata file; `Ok(None)` when buildx wrote no
/// digest (nothing pushed, or an old buildx).
pub fn read_digest(path: &Path) -> Result<Option<String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    Ok(value["containerimage.digest"]
        .as_str()
        .filter(|d| d.starts_with("sha256:"))
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::BuildSpec;
    use std::collections::BTreeMap;

    fn service(cache: CachePolicy, platforms: &[&str]) -> PlannedService {
        PlannedService {
            name: "auth".into(),
            image: "ghcr.io/acme/auth".into(),
            tags: vec!["1.2.0-1766836944".into(), "sha-abc1234".into()],
            refs: vec![
                "ghcr.io/acme/auth:1.2.0-1766836944".into(),
                "ghcr.io/acme/auth:sha-abc1234".into(),
            ],
            labels: BTreeMap::from([
                ("git.commit".to_string(), "abc1234".to_string()),
                (
                    "org.opencontainers.image.revision".to_string(),
                    "abc1234".to_string(),
                ),
            ]),
            build: BuildSpec {
                context: "services/auth".into(),
                dockerfile: "services/auth/Dockerfile".into(),
                target: Some("runtime".into()),
                args: BTreeMap::from([("NODE_ENV".to_string(), "production".to_string())]),
                platforms: platforms.iter().map(|p| p.to_string()).collect(),
                builder: crate::config::model::Builder::Buildx,
                cache,
                command: None,
                workflow: None,
                secrets: vec![],
            },
            reason: crate::detect::changes::Reason::Selected { by: "test".into() },
            version: Some("1.2.0".into()),
            content: "0".repeat(64),
            lookup_tag: "1.2.0-1766836944".into(),
            mutable_only: false,
        }
    }

    #[test]
    fn fresh_builds_push_with_every_tag_label_and_annotation() {
        let options = BuildOptions {
            push: true,
            metadata_file: Some("/tmp/m.json".into()),
            ..BuildOptions::default()
        };
        assert_eq!(
            buildx_args(&service(CachePolicy::Fresh, &[]), &options),
            [
                "buildx",
                "build",
                "--pull",
                "--no-cache",
                "--file",
                "services/auth/Dockerfile",
                "--target",
                "runtime",
                "--build-arg",
                "NODE_ENV=production",
                "--tag",
                "ghcr.io/acme/auth:1.2.0-1766836944",
                "--tag",
                "ghcr.io/acme/auth:sha-abc1234",
                "--label",
                "git.commit=abc1234",
                "--label",
                "org.opencontainers.image.revision=abc1234",
                "--annotation",
                "manifest:org.opencontainers.image.revision=abc1234",
                "--metadata-file",
                "/tmp/m.json",
                "--push",
                "services/auth",
            ]
        );
    }

    #[test]
    fn secrets_are_passed_by_name_after_the_build_arguments() {
        use crate::build::secrets::Secret;
        let mut service = service(CachePolicy::Fresh, &[]);
        service.build.secrets = vec![
            Secret {
                id: "npm_token".into(),
                env: Some("NPM_TOKEN".into()),
                src: None,
            },
            Secret {
                id: "pip".into(),
                env: None,
                src: Some("ci/pip.conf".into()),
            },
        ];
        let text = buildx_args(&service, &BuildOptions::default()).join(" ");
        assert!(
            text.contains("--build-arg NODE_ENV=production --secret id=npm_token,env=NPM_TOKEN --secret id=pip,src=ci/pip.conf --tag"),
            "{text}"
        );
        let plain = buildx_args(
            &self::service(CachePolicy::Fresh, &[]),
            &BuildOptions::default(),
        );
        assert!(!plain.contains(&"--secret".to_string()));
    }

    #[test]
    fn registry_cache_uses_a_buildcache_tag() {
        let args = buildx_args(
            &service(CachePolicy::Registry, &[]),
            &BuildOptions::default(),
        );
        let text = args.join(" ");
        assert!(!text.contains("--no-cache"), "{text}");
        assert!(text.starts_with("buildx build --pull --cache-from type=registry,ref=ghcr.io/acme/auth:buildcache --cache-to type=registry,ref=ghcr.io/acme/auth:buildcache,mode=max --file"), "{text}");
        assert!(!text.contains("--push"), "{text}");
    }

    #[test]
    fn gha_cache_is_scoped_per_service() {
        let text = buildx_args(&service(CachePolicy::Gha, &[]), &BuildOptions::default()).join(" ");
        assert!(
            text.contains(
                "--cache-from type=gha,scope=auth --cache-to type=gha,mode=max,scope=auth"
            ),
            "{text}"
        );
    }

    #[test]
    fn platforms_are_one_comma_list_and_annotate_the_index() {
        let options = BuildOptions {
            provenance: Some("mode=max".into()),
            sbom: Some("false".into()),
            ..BuildOptions::default()
        };
        let text = buildx_args(
            &service(CachePolicy::Fresh, &["linux/amd64", "linux/arm64"]),
            &options,
        )
        .join(" ");
        assert!(
            text.contains("--platform linux/amd64,linux/arm64"),
            "{text}"
        );
        assert!(
            text.contains("--annotation index:org.opencontainers.image.revision=abc1234"),
            "{text}"
        );
        assert!(
            text.contains("--provenance mode=max --sbom false services/auth"),
            "{text}"
        );
    }

    #[test]
    fn the_digest_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        assert_eq!(read_digest(&path), Ok(None));
        std::fs::write(
            &path,
            r#"{"containerimage.digest":"sha256:abc","image.name":"x"}"#,
        )
        .unwrap();
        assert_eq!(read_digest(&path), Ok(Some("sha256:abc".into())));
        std::fs::write(&path, "nope").unwrap();
        assert!(read_digest(&path).is_err());
    }
}
