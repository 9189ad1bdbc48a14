//! A failing kubeconfig exec credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`…)
//! said as a sentence: which program, how it ended, and what it printed on stderr. kube-rs's own
//! message is Rust debug text (the whole `Command` with its environment, the `Output` struct),
//! and would print the plugin's stdout, which is where a credential is.

use kube::client::AuthError;

/// How many of the plugin's last stderr lines the message keeps.
const STDERR_LINES: usize = 5;

/// The sentence for an authentication error.
pub fn describe(error: &AuthError) -> String {
    match error {
        AuthError::AuthExecRun { cmd, out } => {
            let program = program(cmd).unwrap_or_else(|| "its command".into());
            let status = match out.status.code() {
                Some(code) => format!("exit code {code}"),
                None => "a signal".into(),
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let said = if lines.is_empty() {
                "it printed nothing on stderr".to_string()
            } else {
                let start = lines.len().saturating_sub(STDERR_LINES);
                format!("it said: {}", lines[start..].join(" / "))
            };
            format!(
                "the kubeconfig's exec credential plugin `{program}` failed with {status}; {said}"
            )
        }
        AuthError::AuthExecStart(e) => {
            format!("the kubeconfig's exec credential plugin could not be started: {e}")
        }
        other => other.to_string(),
    }
}

/// The program of a `std::process::Command` as kube-rs formats it with `{:?}`:
/// `ENV="…" "program" "arg"…` (environment assignments first, each value quoted).
fn program(debug: &str) -> Option<String> {
    let pattern = regex::Regex::new(
        r#"^(?:[A-Za-z_][A-Za-z0-9_]*="(?:[^"\\]|\\.)*"\s+)*"((?:[^"\\]|\\.)*)""#,
    )
    .ok()?;
    let found = pattern.captures(debug.trim())?;
    Some(found[1].replace("\\\"", "\"").replace("\\\\", "\\"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_failed_plugin_reads_as_a_sentence_without_its_stdout() {
        let error = AuthError::AuthExecRun {
            cmd: r#"KUBERNETES_EXEC_INFO="{\"kind\":\"ExecCredential\"}" "aws" "eks" "get-token""#
                .into(),
            out: Box::new(std::process::Output {
                status: std::process::ExitStatus::from_raw(256),
                stdout: b"{\"status\":{\"token\":\"k8s-aws-v1.secret\"}}".to_vec(),
                stderr: b"\nerror: the SSO session has expired; run aws sso login\n".to_vec(),
            }),
        };
        assert_eq!(
            describe(&error),
            "the kubeconfig's exec credential plugin `aws` failed with exit code 1; it said: error: the SSO session has expired; run aws sso login"
        );
        assert!(!describe(&error).contains("secret"));
    }

    #[test]
    fn the_program_is_found_after_the_environment() {
        assert_eq!(
            program(r#""gke-gcloud-auth-plugin""#).as_deref(),
            Some("gke-gcloud-auth-plugin")
        );
        assert_eq!(
            program(r#"A="x \"y\"" B="" "/usr/bin/aws" "eks""#).as_deref(),
            Some("/usr/bin/aws")
        );
        assert_eq!(program("garbage"), None);
    }
}
