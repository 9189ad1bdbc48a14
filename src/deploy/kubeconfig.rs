//! Cluster credentials: the `kubeconfig` input (a path, the YAML itself — JSON included, being
//! YAML — or its base64, as teams keep it in a secret), else `KUBECONFIG`, `~/.kube/config`,
//! then the in-cluster account.
//!
//! The input is never written to disk and never echoed, not even in an error; every secret it
//! holds (in every document) is returned for `::add-mask::` before anything else is logged, and
//! every field passed on to the HTTP stack is checked first ([`check`]), so a value the stack
//! would reject later with a panic is a located usage error instead.

use super::exec_plugin;
use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the credentials came from, for the "using cluster …" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `kubeconfig` input, given as a file path.
    File(PathBuf),
    /// The `kubeconfig` input, given as YAML (or JSON) text.
    Yaml,
    /// The `kubeconfig` input, given as base64 of the YAML.
    Base64,
    /// KUBECONFIG, ~/.kube/config or the in-cluster service account.
    Inferred,
}

/// The `kubeconfig` input, decoded: which form it had and the YAML.
#[derive(Debug)]
pub struct Input {
    pub source: Source,
    pub yaml: String,
}

/// Why the kubeconfig cannot be used: our input is wrong (exit 2). No variant carries the
/// input's content.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("cannot read the kubeconfig file {path}: {error}")]
    Unreadable { path: String, error: String },
    #[error("the kubeconfig input {0}")]
    Undecodable(String),
    #[error("the kubeconfig is not valid: {0}")]
    Invalid(String),
    #[error("kubeconfig {place}: {problem}")]
    Field { place: String, problem: String },
    #[error("the kubeconfig has no context named `{wanted}`; its contexts: {available}")]
    NoSuchContext { wanted: String, available: String },
    #[error("{0}")]
    ExecPluginMissing(String),
}

/// Decodes the input: an existing file path → that file; text that is YAML (a newline that is
/// not base64 wrapped over lines, `apiVersion:`) or JSON (`{`) → as is; anything else → base64
/// of the YAML. An input that is none of these is described by what it looked like, never shown.
pub fn decode(value: &str) -> Result<Input, KubeconfigError> {
    let trimmed = value.trim();
    let multi_line = trimmed.contains('\n');
    let wrapped_base64 = multi_line && !trimmed.contains(':');
    let looks_like_yaml = (multi_line && !wrapped_base64)
        || trimmed.contains("apiVersion:")
        || trimmed.starts_with('{');
    if !multi_line && !looks_like_yaml {
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
    if looks_like_yaml {
        return Ok(Input {
            source: Source::Yaml,
            yaml: value.to_string(),
        });
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(compact.as_bytes()))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.as_bytes()))
        .map_err(|_| KubeconfigError::Undecodable(describe_undecodable(trimmed)))?;
    let yaml = String::from_utf8(bytes).map_err(|_| {
        KubeconfigError::Undecodable(
            "looks like base64, but it does not decode to text (is it base64 of something else, or encrypted?)".into(),
        )
    })?;
    Ok(Input {
        source: Source::Base64,
        yaml,
    })
}

/// What an input that is neither an existing file, nor YAML, nor base64 looked like — without
/// a word of its content (it may be a secret pasted into the wrong place).
fn describe_undecodable(trimmed: &str) -> String {
    let looks_like_path =
        trimmed.contains('/') || trimmed.starts_with('~') || trimmed.starts_with('.');
    if looks_like_path {
        format!(
            "looks like a file path ({} characters), but no file exists there (the path is relative to the working directory; `~` is not expanded)",
            trimmed.chars().count()
        )
    } else {
        format!(
            "is neither a file path, nor kubeconfig YAML or JSON, nor base64 of it ({} characters, not valid base64)",
            trimmed.chars().count()
        )
    }
}

/// Every document of the YAML as JSON values (kube-rs merges documents, so all of them count).
pub fn documents(yaml: &str) -> Result<Vec<Value>, KubeconfigError> {
    serde_saphyr::from_multiple::<Value>(yaml).map_err(|error| {
        KubeconfigError::Invalid(format!("not YAML: {}", scrub(&error.to_string())))
    })
}

/// Every secret a kubeconfig holds, in every document: tokens, passwords, private keys,
/// auth-provider values, exec-plugin `env` values, the contents of `tokenFile`s, credentials in
/// server and proxy URLs. Values only, one per entry, never whole lines of YAML. Works on any
/// YAML, valid or not (nothing is found in text that does not parse).
pub fn secrets(yaml: &str) -> Vec<String> {
    let mut found = Vec::new();
    for document in documents(yaml).unwrap_or_default() {
        document_secrets(&document, &mut found);
    }
    found.retain(|s| !s.trim().is_empty());
    found.sort();
    found.dedup();
    found
}

fn document_secrets(document: &Value, found: &mut Vec<String>) {
    let text = |value: &Value| value.as_str().map(str::to_string);
    for user in document["users"].as_array().into_iter().flatten() {
        let user = &user["user"];
        for key in ["token", "password", "client-key-data"] {
            found.extend(text(&user[key]));
        }
        if let Some(token) =
            text(&user["tokenFile"]).and_then(|path| std::fs::read_to_string(path).ok())
        {
            found.push(token.trim().to_string());
        }
        if let Some(config) = user["auth-provider"]["config"].as_object() {
            found.extend(config.values().filter_map(text));
        }
        for variable in user["exec"]["env"].as_array().into_iter().flatten() {
            found.extend(text(&variable["value"]));
        }
    }
    for cluster in document["clusters"].as_array().into_iter().flatten() {
        for key in ["server", "proxy-url"] {
            if let Some(url) = text(&cluster["cluster"][key]) {
                found.extend(url_secrets(&url));
            }
        }
    }
}

/// The credentials inside a URL: the user-info (user and password) and every query value.
fn url_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    // `user:password@`: the password; a lone `token@`: the user part is the credential.
    match parsed.password() {
        Some(password) => found.push(password.to_string()),
        None if !parsed.username().is_empty() => found.push(parsed.username().to_string()),
        None => {}
    }
    for pair in parsed.query().unwrap_or_default().split('&') {
        if let Some((_, value)) = pair.split_once('=') {
            found.push(value.to_string());
        }
    }
    found.extend(parsed.query_pairs().map(|(_, value)| value.into_owned()));
    found
}

/// A URL for messages: without user-info and query (which may carry credentials).
fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

/// Parses the YAML, checks (and normalises) every field passed on to the HTTP stack, and checks
/// the chosen context exists.
pub fn parse(yaml: &str, context: Option<&str>) -> Result<Kubeconfig, KubeconfigError> {
    let mut documents = documents(yaml)?;
    let mut kubeconfig = Kubeconfig::default();
    for document in &mut documents {
        if document.is_null() {
            continue;
        }
        check(document)?;
        let next: Kubeconfig = serde_json::from_value(document.clone())
            .map_err(|e| KubeconfigError::Invalid(scrub(&e.to_string())))?;
        kubeconfig = kubeconfig
            .merge(next)
            .map_err(|e| KubeconfigError::Invalid(scrub(&e.to_string())))?;
    }
    check_context(&kubeconfig, context)?;
    Ok(kubeconfig)
}

fn check_context(kubeconfig: &Kubeconfig, context: Option<&str>) -> Result<(), KubeconfigError> {
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
    Ok(())
}

/// Checks one document's clusters, users and contexts, fixing what kubectl fixes (a trailing
/// line break of a token, as a YAML block scalar adds) and refusing what the HTTP stack would
/// reject later (a line break inside a header value, a server URL without a scheme). Pure
/// apart from reading `tokenFile`s.
pub fn check(document: &mut Value) -> Result<(), KubeconfigError> {
    // Anything but a mapping is refused by the typed parse that follows; indexing it mutably
    // here would panic.
    if !document.is_object() {
        return Ok(());
    }
    for cluster in document["clusters"].as_array_mut().into_iter().flatten() {
        if !cluster.is_object() {
            continue;
        }
        let place = format!(
            "cluster `{}`",
            cluster["name"].as_str().unwrap_or("(unnamed)")
        );
        let fields = &mut cluster["cluster"];
        match fields["server"].as_str() {
            Some(server) => check_url(&place, "server", server)?,
            None if fields.is_object() => {
                return Err(field(
                    &place,
                    "has no `server` (the API server's https:// URL)",
                ));
            }
            None => {}
        }
        if let Some(proxy) = fields["proxy-url"].as_str() {
            check_url(&place, "proxy-url", proxy)?;
        }
        if let Some(name) = fields["tls-server-name"].as_str() {
            check_header_value(&place, "tls-server-name", name)?;
        }
        check_base64(
            &place,
            "certificate-authority-data",
            &fields["certificate-authority-data"],
        )?;
    }
    for user in document["users"].as_array_mut().into_iter().flatten() {
        if !user.is_object() {
            continue;
        }
        let place = format!("user `{}`", user["name"].as_str().unwrap_or("(unnamed)"));
        check_user(&place, &mut user["user"])?;
    }
    for context in document["contexts"].as_array().into_iter().flatten() {
        let place = format!(
            "context `{}`",
            context["name"].as_str().unwrap_or("(unnamed)")
        );
        if let Some(namespace) = context["context"]["namespace"].as_str()
            && !is_dns_label(namespace)
        {
            return Err(field(
                &place,
                "its namespace is not a valid namespace name (lower-case letters, digits and `-`, at most 63)",
            ));
        }
    }
    Ok(())
}

fn check_user(place: &str, user: &mut Value) -> Result<(), KubeconfigError> {
    if !user.is_object() {
        return Ok(());
    }
    for key in ["token", "username", "password"] {
        if let Some(value) = user[key].as_str() {
            let trimmed = trim_line_end(value);
            check_header_value(place, key, trimmed)?;
            user[key] = Value::String(trimmed.to_string());
        }
    }
    if let Some(path) = user["tokenFile"].as_str().map(str::to_string) {
        let token = std::fs::read_to_string(&path)
            .map_err(|error| field(place, &format!("cannot read its tokenFile {path}: {error}")))?;
        let trimmed = trim_line_end(&token);
        check_header_value(place, "tokenFile contents", trimmed)?;
        if trimmed != token && user["token"].is_null() {
            // kube-rs sends the file as it is; kubectl trims it. Send what kubectl sends.
            user["token"] = Value::String(trimmed.to_string());
        }
    }
    for key in ["impersonate", "impersonate-uid"] {
        if let Some(value) = user[key].as_str() {
            check_header_value(place, key, value)?;
        }
    }
    for group in user["impersonate-groups"].as_array().into_iter().flatten() {
        if let Some(group) = group.as_str() {
            check_header_value(place, "impersonate-groups", group)?;
        }
    }
    for key in ["client-certificate-data", "client-key-data"] {
        check_base64(place, key, &user[key])?;
    }
    let exec = &user["exec"];
    if exec.is_object() {
        match exec["command"].as_str() {
            Some(command) if !command.trim().is_empty() && !command.contains('\0') => {}
            _ => return Err(field(place, "its exec plugin has no `command`")),
        }
        for variable in exec["env"].as_array().into_iter().flatten() {
            let name = variable["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.contains(['=', '\0']) || variable["value"].as_str().is_none()
            {
                return Err(field(
                    place,
                    "its exec plugin has an `env` entry without a valid `name` and `value`",
                ));
            }
            if variable["value"].as_str().is_some_and(|v| v.contains('\0')) {
                return Err(field(
                    place,
                    &format!("its exec plugin's env `{name}` has a NUL byte"),
                ));
            }
        }
    }
    Ok(())
}

/// Removes one trailing line break (`\n` or `\r\n`) and trailing spaces, as kubectl trims token
/// files and as a YAML block scalar (`token: |`) adds one.
fn trim_line_end(value: &str) -> &str {
    value.trim_end_matches([' ', '\t', '\r', '\n'])
}

/// A value that goes into an HTTP header: no line break and no other control character.
fn check_header_value(place: &str, key: &str, value: &str) -> Result<(), KubeconfigError> {
    if value.contains(['\n', '\r']) {
        return Err(field(
            place,
            &format!(
                "its {key} has a line break inside (only a trailing one is removed, as kubectl does); check how the secret was pasted"
            ),
        ));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(field(
            place,
            &format!(
                "its {key} has the control character U+{:04X}, which cannot be sent in an HTTP header",
                u32::from(bad)
            ),
        ));
    }
    Ok(())
}

fn check_url(place: &str, key: &str, value: &str) -> Result<(), KubeconfigError> {
    let value = value.trim();
    let parsed = reqwest::Url::parse(value).map_err(|error| {
        let hint = if !value.contains("://") {
            " (it has no scheme: write `https://host:port`)".to_string()
        } else {
            format!(" ({error})")
        };
        field(place, &format!("its {key} is not a URL{hint}"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(field(
            place,
            &format!(
                "its {key} `{}` is not an http(s) URL with a host (write `https://host:port`)",
                display_url(value)
            ),
        ));
    }
    Ok(())
}

fn check_base64(place: &str, key: &str, value: &Value) -> Result<(), KubeconfigError> {
    let Some(text) = value.as_str() else {
        return Ok(());
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map(|_| ())
        .map_err(|_| field(place, &format!("its {key} is not base64")))
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn field(place: &str, problem: &str) -> KubeconfigError {
    KubeconfigError::Field {
        place: place.to_string(),
        problem: problem.to_string(),
    }
}

/// The exec credential plugin the chosen context's user runs (`aws`, `kubelogin`,
/// `gke-gcloud-auth-plugin`), checked on PATH now: a missing one otherwise fails late with an
/// obscure transport error.
pub fn check_exec_plugin(
    kubeconfig: &Kubeconfig,
    context: Option<&str>,
    path_variable: Option<&str>,
) -> Result<(), KubeconfigError> {
    let Some((user_name, exec)) = context_exec(kubeconfig, context) else {
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

/// The chosen context's user and its exec plugin, when it has one.
fn context_exec<'a>(
    kubeconfig: &'a Kubeconfig,
    context: Option<&str>,
) -> Option<(String, &'a kube::config::ExecConfig)> {
    let context_name = context.or(kubeconfig.current_context.as_deref())?;
    let user_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())?;
    let exec = kubeconfig
        .auth_infos
        .iter()
        .find(|a| a.name == user_name)
        .and_then(|a| a.auth_info.as_ref())
        .and_then(|a| a.exec.as_ref())?;
    Some((user_name, exec))
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

/// How exec credential plugins are run.
#[derive(Debug, Clone)]
pub enum ExecGuard {
    /// As kube-rs runs them (library use, unit tests).
    Direct,
    /// Through this binary's bounded wrapper ([`exec_plugin`]): killed after the timeout, its
    /// stderr redacted.
    Bounded(exec_plugin::Wrapper),
}

/// The kube client config for the input (or inferred), with the context chosen.
pub async fn client_config(
    input: Option<&Input>,
    context: Option<&str>,
    guard: &ExecGuard,
) -> Result<kube::Config, KubeconfigError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let path = std::env::var("PATH").ok();
    let kubeconfig = match input {
        Some(input) => parse(&input.yaml, context)?,
        None => match read_default() {
            Some(Ok(yaml_files)) => yaml_files,
            Some(Err(error)) if context.is_some() => return Err(error),
            Some(Err(error)) => {
                // No usable file: the in-cluster account, if there is one.
                return kube::Config::incluster().map_err(|_| {
                    KubeconfigError::Invalid(format!(
                        "{error}; give the `kubeconfig` input, set KUBECONFIG, or run inside a cluster"
                    ))
                });
            }
            None => {
                return kube::Config::infer().await.map_err(|e| {
                    KubeconfigError::Invalid(format!(
                        "{}; give the `kubeconfig` input, set KUBECONFIG, or run inside a cluster",
                        scrub(&e.to_string())
                    ))
                });
            }
        },
    };
    check_context(&kubeconfig, context)?;
    check_exec_plugin(&kubeconfig, context, path.as_deref())?;
    let kubeconfig = match guard {
        ExecGuard::Direct => kubeconfig,
        ExecGuard::Bounded(wrapper) => wrapper.wrap(kubeconfig),
    };
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| KubeconfigError::Invalid(scrub(&e.to_string())))
}

/// The default kubeconfig files: `KUBECONFIG`'s list, else `~/.kube/config`.
fn default_files(env: &crate::context::RunnerEnvironment) -> Vec<PathBuf> {
    match &env.kubeconfig {
        Some(list) => std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => env
            .home
            .iter()
            .map(|home| home.join(".kube/config"))
            .collect(),
    }
}

/// `KUBECONFIG` (its files merged) or `~/.kube/config`, checked like the input; `None` when
/// neither exists.
fn read_default() -> Option<Result<Kubeconfig, KubeconfigError>> {
    let files: Vec<PathBuf> = default_files(&crate::context::RunnerEnvironment::current())
        .into_iter()
        .filter(|f| f.is_file())
        .collect();
    if files.is_empty() {
        return None;
    }
    let mut merged = Kubeconfig::default();
    for file in files {
        let yaml = match std::fs::read_to_string(&file) {
            Ok(yaml) => yaml,
            Err(error) => {
                return Some(Err(KubeconfigError::Unreadable {
                    path: file.display().to_string(),
                    error: error.to_string(),
                }));
            }
        };
        let next = match parse(&yaml, None) {
            Ok(next) => next,
            Err(error) => return Some(Err(error)),
        };
        merged = match merged.merge(next) {
            Ok(merged) => merged,
            Err(e) => return Some(Err(KubeconfigError::Invalid(scrub(&e.to_string())))),
        };
    }
    Some(Ok(merged))
}

/// The secrets of the default kubeconfig files (`KUBECONFIG` or `~/.kube/config`), to mask.
pub fn default_secrets() -> Vec<String> {
    default_files(&crate::context::RunnerEnvironment::current())
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|yaml| secrets(&yaml))
        .collect()
}

/// Error texts from parsers can quote the document (`invalid type: string "s3cr3t"`): keep the
/// first line and replace every quoted part.
fn scrub(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(first.len());
    let mut quote: Option<char> = None;
    for c in first.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if matches!(c, '"' | '`' | '\'') => {
                out.push(c);
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_files_are_kubeconfigs_list_else_the_home_config() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            crate::context::RunnerEnvironment::load(move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(
            default_files(&env(&[("KUBECONFIG", "/a/one::/b/two"), ("HOME", "/h")])),
            [PathBuf::from("/a/one"), PathBuf::from("/b/two")]
        );
        assert_eq!(
            default_files(&env(&[("HOME", "/h")])),
            [PathBuf::from("/h/.kube/config")]
        );
        assert!(default_files(&env(&[])).is_empty());
    }

    #[test]
    fn kubeconfig_documents_of_the_wrong_shape_are_refused_not_a_panic() {
        // Found by the fuzzer: a scalar document, or a cluster/user entry that is not a mapping,
        // was indexed mutably (a panic in serde_json) before the typed parse could refuse it.
        for yaml in [
            "just text",
            "[1, 2]",
            "clusters: [x]\nusers: [y]",
            "clusters: [{name: c, cluster: 5}]\nusers: [{name: u, user: [1]}]",
        ] {
            let _ = parse(yaml, None);
        }
    }

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
        assert_eq!(raw.source, Source::Yaml);
        let encoded = base64::engine::general_purpose::STANDARD.encode(YAML);
        let decoded = decode(&encoded).unwrap();
        assert_eq!(decoded.yaml, YAML);
        assert_eq!(decoded.source, Source::Base64);
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
    }

    #[test]
    fn undecodable_input_is_described_never_echoed() {
        for (input, says) in [
            ("/no/such/kubeconfig-s3cr3t", "looks like a file path"),
            ("not*base64*s3cr3t", "not valid base64"),
        ] {
            let error = decode(input).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
            assert!(!error.contains("s3cr3t"), "{error}");
        }
        let binary = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00, 0x80]);
        let error = decode(&binary).unwrap_err().to_string();
        assert!(error.contains("does not decode to text"), "{error}");
        // YAML that does not parse: no quote of it in the message.
        let error = parse("users: [{name: x, user: {token: \"s3cr3t\"", None)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cr3t"), "{error}");
        let error = parse("users:\n- name: x\n  user: {token: [s3cr3t]}\n", None)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cr3t"), "{error}");
    }

    #[test]
    fn a_one_line_json_kubeconfig_is_accepted() {
        let json = r#"{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://10.0.0.1"}}],"users":[{"name":"u","user":{"token":"json-s3cr3t"}}],"contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}],"current-context":"c"}"#;
        let input = decode(json).unwrap();
        assert_eq!(input.source, Source::Yaml);
        let kubeconfig = parse(&input.yaml, None).unwrap();
        assert_eq!(kubeconfig.clusters[0].name, "c");
        assert_eq!(secrets(json), vec!["json-s3cr3t".to_string()]);
    }

    #[test]
    fn secrets_are_found_for_masking() {
        assert_eq!(secrets(YAML), vec!["s3cr3t-token".to_string()]);
        assert!(secrets("not: [valid").is_empty());
    }

    #[test]
    fn every_secret_of_every_source_is_masked_values_not_lines() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "file-token-s3cr3t\n").unwrap();
        let yaml = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://admin:url-pass@k8s.example:6443/?access_token=query-tok
users:
- name: a
  user:
    password: basic-pass
    client-key-data: a2V5
    tokenFile: {}
- name: b
  user:
    auth-provider: {{name: oidc, config: {{id-token: oidc-id, refresh-token: oidc-refresh}}}}
    exec:
      command: aws
      env: [{{name: AWS_SECRET_ACCESS_KEY, value: exec-env-s3cr3t}}]
---
users:
- name: second-document
  user: {{token: second-doc-token}}
",
            token_file.display()
        );
        let found = secrets(&yaml);
        for secret in [
            "file-token-s3cr3t",
            "url-pass",
            "query-tok",
            "basic-pass",
            "a2V5",
            "oidc-id",
            "oidc-refresh",
            "exec-env-s3cr3t",
            "second-doc-token",
        ] {
            assert!(found.contains(&secret.to_string()), "{secret}: {found:?}");
        }
        // Values, never YAML lines that would hide ordinary log text.
        for line in [
            "kind: Config",
            "apiVersion: v1",
            "Config",
            "v1",
            "aws",
            "admin",
        ] {
            assert!(!found.contains(&line.to_string()), "{line}: {found:?}");
        }
    }

    #[test]
    fn kubeconfig_values_the_http_stack_rejects_are_located_errors() {
        let with = |user: &str, server: &str| {
            format!(
                "apiVersion: v1\nclusters:\n- name: prod\n  cluster: {{server: '{server}'}}\nusers:\n- name: deployer\n  user:\n{user}\ncontexts:\n- name: c\n  context: {{cluster: prod, user: deployer}}\ncurrent-context: c\n"
            )
        };
        // A block scalar adds a trailing line break: trimmed, as kubectl does.
        let trailing = with("    token: |\n      abc-token\n", "https://10.0.0.1");
        let kubeconfig = parse(&trailing, None).unwrap();
        let token = serde_json::to_value(&kubeconfig.auth_infos[0].auth_info).unwrap();
        assert_eq!(token["token"], "abc-token");
        // A line break inside is refused, naming the user, not quoting the token.
        let inner = with("    token: \"abc\\ndef-s3cr3t\"\n", "https://10.0.0.1");
        let error = parse(&inner, None).unwrap_err().to_string();
        assert!(error.contains("user `deployer`"), "{error}");
        assert!(error.contains("line break inside"), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
        let control = with(
            "    password: \"a\\u0007b\"\n    username: u\n",
            "https://10.0.0.1",
        );
        assert!(
            parse(&control, None)
                .unwrap_err()
                .to_string()
                .contains("U+0007")
        );
        // A server without a scheme.
        let no_scheme = with("    token: t\n", "10.0.0.1:6443");
        let error = parse(&no_scheme, None).unwrap_err().to_string();
        assert!(error.contains("cluster `prod`"), "{error}");
        assert!(error.contains("no scheme"), "{error}");
        let ftp = with("    token: t\n", "ftp://user:pw-s3cr3t@10.0.0.1");
        let error = parse(&ftp, None).unwrap_err().to_string();
        assert!(error.contains("not an http(s) URL"), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
        let bad_data = with("    client-key-data: '*not base64*'\n", "https://10.0.0.1");
        assert!(
            parse(&bad_data, None)
                .unwrap_err()
                .to_string()
                .contains("client-key-data")
        );
        let empty_exec = with("    exec: {apiVersion: v1}\n", "https://10.0.0.1");
        assert!(
            parse(&empty_exec, None)
                .unwrap_err()
                .to_string()
                .contains("no `command`")
        );
    }

    #[test]
    fn a_token_file_with_a_trailing_newline_is_sent_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "file-token\n").unwrap();
        let yaml = format!(
            "clusters:\n- name: c\n  cluster: {{server: 'https://10.0.0.1'}}\nusers:\n- name: u\n  user: {{tokenFile: '{}'}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\n",
            file.display()
        );
        let kubeconfig = parse(&yaml, None).unwrap();
        let user = serde_json::to_value(&kubeconfig.auth_infos[0].auth_info).unwrap();
        assert_eq!(user["token"], "file-token");
        std::fs::write(&file, "file\ntoken\n").unwrap();
        assert!(
            parse(&yaml, None)
                .unwrap_err()
                .to_string()
                .contains("line break inside")
        );
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

    #[test]
    fn scrub_removes_quoted_text() {
        assert_eq!(
            scrub("invalid type: string \"s3cr3t\", expected a sequence\nat line 3"),
            "invalid type: string \"…\", expected a sequence"
        );
        assert_eq!(scrub("unterminated 'abc"), "unterminated '…");
    }
}
