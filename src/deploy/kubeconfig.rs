//! Cluster credentials: the `kubeconfig` input (a path, the YAML itself, or its base64, as teams
//! keep it in a secret), else `KUBECONFIG`, `~/.kube/config`, then the in-cluster account.
//!
//! The input is never written to disk and never printed; its token, password and keys are
//! returned for `::add-mask::` before anything else is logged.

use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the credentials came from, for the "using cluster …" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `kubeconfig` input, given as a file path.
    File(PathBuf),
    /// The `kubeconfig` input, given as YAML or base64 text.
    Inline,
    /// KUBECONFIG, ~/.kube/config or the in-cluster service account.
    Inferred,
}

/// The `kubeconfig` input, decoded: which form it had and the YAML.
#[derive(Debug)]
pub struct Input {
    pub source: Source,
    pub yaml: String,
}

/// Why the kubeconfig cannot be used: our input is wrong (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("cannot read the kubeconfig file {path}: {error}")]
    Unreadable { path: String, error: String },
    #[error(
        "the kubeconfig input is neither a file path, nor kubeconfig YAML, nor base64 of it ({0})"
    )]
    Undecodable(String),
    #[error("the kubeconfig is not valid: {0}")]
    Invalid(String),
    #[error("the kubeconfig has no context named `{wanted}`; its contexts: {available}")]
    NoSuchContext { wanted: String, available: String },
    #[error("{0}")]
    ExecPluginMissing(String),
}

/// Decodes the input: an existing file path → that file; text containing `apiVersion:` or a
/// newline → YAML (unless it is only base64 wrapped over lines, as `base64` prints it: no `:`);
/// anything else → base64 of the YAML.
pub fn decode(value: &str) -> Result<Input, KubeconfigError> {
    let trimmed = value.trim();
    let wrapped_base64 = trimmed.contains('\n') && !trimmed.contains(':');
    if !trimmed.contains('\n') && !trimmed.contains("apiVersion:") {
        let path = Path::new(trimmed);
        if path.is_file() {
            let yaml =
                std::fs::read_to_string(path).map_err(|error| KubeconfigError::Unreadable {
                    path: trimmed.to_string(),
                    error: error.to_string(),
                })?;
            return Ok(Input {
                source: Source::File(path.to_path_buf()),
                yaml,
            });
        }
    }
    if (trimmed.contains('\n') && !wrapped_base64) || trimmed.contains("apiVersion:") {
        return Ok(Input {
            source: Source::Inline,
            yaml: value.to_string(),
        });
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(compact.as_bytes()))
        .map_err(|_| {
            let looks_like_path = trimmed.contains('/') || trimmed.starts_with('~');
            KubeconfigError::Undecodable(if looks_like_path {
                format!("no file exists at `{trimmed}`")
            } else {
                "not base64 either".to_string()
            })
        })?;
    let yaml = String::from_utf8(bytes)
        .map_err(|_| KubeconfigError::Undecodable("its base64 does not decode to text".into()))?;
    Ok(Input {
        source: Source::Inline,
        yaml,
    })
}

/// Every secret a kubeconfig holds (tokens, passwords, private keys, auth-provider tokens), so
/// they can be masked before anything is printed. Works on any YAML, valid or not.
pub fn secrets(yaml: &str) -> Vec<String> {
    let Ok(value) = serde_saphyr::from_str::<Value>(yaml) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for user in value["users"].as_array().into_iter().flatten() {
        let user = &user["user"];
        for key in ["token", "password", "client-key-data"] {
            if let Some(secret) = user[key].as_str() {
                found.push(secret.to_string());
            }
        }
        if let Some(config) = user["auth-provider"]["config"].as_object() {
            for key in ["access-token", "id-token", "refresh-token", "client-secret"] {
                if let Some(secret) = config.get(key).and_then(Value::as_str) {
                    found.push(secret.to_string());
                }
            }
        }
    }
    found.retain(|s| !s.trim().is_empty());
    found
}

/// Parses the YAML and checks the chosen context exists.
pub fn parse(yaml: &str, context: Option<&str>) -> Result<Kubeconfig, KubeconfigError> {
    let kubeconfig =
        Kubeconfig::from_yaml(yaml).map_err(|e| KubeconfigError::Invalid(clean(&e.to_string())))?;
    if let Some(wanted) = context
        && !kubeconfig.contexts.iter().any(|c| c.name == wanted)
    {
        let available = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(KubeconfigError::NoSuchContext {
            wanted: wanted.to_string(),
            available: if available.is_empty() {
                "none".into()
            } else {
                available
            },
        });
    }
    Ok(kubeconfig)
}

/// The exec credential plugin the chosen context's user runs (`aws`, `kubelogin`,
/// `gke-gcloud-auth-plugin`), checked on PATH now: a missing one otherwise fails late with an
/// obscure transport error.
pub fn check_exec_plugin(
    kubeconfig: &Kubeconfig,
    context: Option<&str>,
    path_variable: Option<&str>,
) -> Result<(), KubeconfigError> {
    let Some(context_name) = context.or(kubeconfig.current_context.as_deref()) else {
        return Ok(());
    };
    let Some(user_name) = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
    else {
        return Ok(());
    };
    let Some(exec) = kubeconfig
        .auth_infos
        .iter()
        .find(|a| a.name == user_name)
        .and_then(|a| a.auth_info.as_ref())
        .and_then(|a| a.exec.as_ref())
    else {
        return Ok(());
    };
    let Some(command) = exec.command.as_deref() else {
        return Ok(());
    };
    if find_on_path(command, path_variable).is_some() {
        return Ok(());
    }
    let mut message = format!(
        "the kubeconfig user `{user_name}` gets its credentials from the exec plugin `{command}`, which is not installed here (not found on PATH)"
    );
    let hint = exec.install_hint.clone().unwrap_or_else(|| match command {
        "aws" => "install the AWS CLI (for EKS: `aws eks get-token`), e.g. with aws-actions/configure-aws-credentials".into(),
        "kubelogin" => "install kubelogin (Azure: azure/use-kubelogin)".into(),
        "gke-gcloud-auth-plugin" => "install it with `gcloud components install gke-gcloud-auth-plugin` (google-github-actions/get-gke-credentials does this)".into(),
        _ => "install it on the runner before this step".into(),
    });
    message.push_str(&format!("; {}", hint.trim()));
    Err(KubeconfigError::ExecPluginMissing(message))
}

/// Resolves a command like a shell would: a path with `/` as is, else each PATH entry.
fn find_on_path(command: &str, path_variable: Option<&str>) -> Option<PathBuf> {
    if command.contains('/') {
        let path = PathBuf::from(command);
        return path.is_file().then_some(path);
    }
    std::env::split_paths(path_variable?)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

/// The kube client config for the input (or inferred), with the context chosen.
pub async fn client_config(
    input: Option<&Input>,
    context: Option<&str>,
) -> Result<kube::Config, KubeconfigError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    match input {
        Some(input) => {
            let kubeconfig = parse(&input.yaml, context)?;
            check_exec_plugin(&kubeconfig, context, std::env::var("PATH").ok().as_deref())?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| KubeconfigError::Invalid(clean(&e.to_string())))
        }
        None if context.is_some() => {
            let kubeconfig =
                Kubeconfig::read().map_err(|e| KubeconfigError::Invalid(clean(&e.to_string())))?;
            let kubeconfig = parse_checked(kubeconfig, context)?;
            check_exec_plugin(&kubeconfig, context, std::env::var("PATH").ok().as_deref())?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| KubeconfigError::Invalid(clean(&e.to_string())))
        }
        None => {
            if let Ok(kubeconfig) = Kubeconfig::read() {
                check_exec_plugin(&kubeconfig, None, std::env::var("PATH").ok().as_deref())?;
            }
            kube::Config::infer().await.map_err(|e| {
                KubeconfigError::Invalid(format!(
                    "{}; give the `kubeconfig` input, set KUBECONFIG, or run inside a cluster",
                    clean(&e.to_string())
                ))
            })
        }
    }
}

fn parse_checked(
    kubeconfig: Kubeconfig,
    context: Option<&str>,
) -> Result<Kubeconfig, KubeconfigError> {
    if let Some(wanted) = context
        && !kubeconfig.contexts.iter().any(|c| c.name == wanted)
    {
        return Err(KubeconfigError::NoSuchContext {
            wanted: wanted.to_string(),
            available: kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(kubeconfig)
}

/// Error texts from the YAML parser can quote the document; keep the first line only.
fn clean(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: 'https://127.0.0.1:6443'}
users:
- name: deployer
  user: {token: s3cr3t-token}
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws-not-installed-here
      args: [eks, get-token]
contexts:
- name: prod
  context: {cluster: prod, user: deployer, namespace: shop}
- name: eks
  context: {cluster: prod, user: eks}
current-context: prod
";

    #[test]
    fn the_three_forms_of_the_input() {
        let raw = decode(YAML).unwrap();
        assert_eq!(raw.source, Source::Inline);
        let encoded = base64::engine::general_purpose::STANDARD.encode(YAML);
        assert_eq!(decode(&encoded).unwrap().yaml, YAML);
        // Secrets often arrive wrapped at 76 columns.
        let wrapped: String = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        assert_eq!(decode(wrapped.trim_end()).unwrap().yaml, YAML);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, YAML).unwrap();
        let from_file = decode(file.to_str().unwrap()).unwrap();
        assert_eq!(from_file.source, Source::File(file.clone()));
        let missing = decode("/no/such/kubeconfig").unwrap_err().to_string();
        assert!(
            missing.contains("no file exists at `/no/such/kubeconfig`"),
            "{missing}"
        );
    }

    #[test]
    fn secrets_are_found_for_masking() {
        assert_eq!(secrets(YAML), vec!["s3cr3t-token".to_string()]);
        assert!(secrets("not: [valid").is_empty());
    }

    #[test]
    fn contexts_and_exec_plugins_are_checked_up_front() {
        let error = parse(YAML, Some("staging")).unwrap_err().to_string();
        assert_eq!(
            error,
            "the kubeconfig has no context named `staging`; its contexts: prod, eks"
        );
        let kubeconfig = parse(YAML, Some("eks")).unwrap();
        let error = check_exec_plugin(&kubeconfig, Some("eks"), Some("/usr/bin:/bin"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("exec plugin `aws-not-installed-here`"),
            "{error}"
        );
        assert!(check_exec_plugin(&kubeconfig, Some("prod"), Some("/usr/bin")).is_ok());
        assert!(parse("clusters: 3", None).is_err());
    }
}
