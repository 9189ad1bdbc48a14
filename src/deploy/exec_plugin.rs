//! Exec credential plugins (`aws eks get-token`, `kubelogin`, `gke-gcloud-auth-plugin`), bounded.
//!
//! kube-rs runs a plugin with `Command::output()`: no timeout, its stderr inherited (straight
//! into the log, unmasked) in interactive mode, and on failure an error that prints the command
//! with its environment. So the kubeconfig handed to kube-rs runs this binary instead
//! (`shipgate __exec-credential-plugin <seconds> <secret env names> -- <plugin> <args>…`): it
//! runs the real plugin without a shell, kills it when it overruns, caps what it reads, and
//! writes the plugin's stderr with every secret it knows replaced (the plugin's `env` values
//! from the kubeconfig and the credential the plugin printed). Plugins run non-interactive: a
//! CI job has nobody to answer a prompt.

use kube::config::{ExecInteractiveMode, Kubeconfig};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first argument that makes the binary act as the wrapper.
pub const WRAPPER_ARGUMENT: &str = "__exec-credential-plugin";
/// How long a plugin may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The wrapper's exit code when the plugin overran (as `timeout(1)`).
const TIMED_OUT: u8 = 124;
/// At most this much of the plugin's stdout (an ExecCredential is a few KiB) and stderr is kept.
const STDOUT_LIMIT: usize = 1 << 20;
const STDERR_LIMIT: usize = 16 << 10;

/// Rewrites exec plugins to run through this binary.
#[derive(Debug, Clone)]
pub struct Wrapper {
    program: PathBuf,
    timeout: Duration,
}

impl Wrapper {
    pub fn new(program: PathBuf, timeout: Duration) -> Self {
        Wrapper { program, timeout }
    }

    /// The wrapper for this process: `SHIPGATE_EXEC_PLUGIN_TIMEOUT` (a duration, default 60s).
    pub fn from_env() -> Option<Self> {
        let program = std::env::current_exe().ok()?;
        let timeout = crate::context::RunnerEnvironment::current()
            .tuning
            .exec_plugin_timeout
            .unwrap_or(DEFAULT_TIMEOUT);
        Some(Wrapper::new(program, timeout))
    }

    /// Every user's exec plugin, run through the wrapper, non-interactive.
    pub fn wrap(&self, mut kubeconfig: Kubeconfig) -> Kubeconfig {
        for named in &mut kubeconfig.auth_infos {
            let Some(exec) = named.auth_info.as_mut().and_then(|a| a.exec.as_mut()) else {
                continue;
            };
            let Some(command) = exec.command.take() else {
                continue;
            };
            let secret_names: Vec<String> = exec
                .env
                .iter()
                .flatten()
                .filter_map(|variable| variable.get("name").cloned())
                .collect();
            let mut args = vec![
                WRAPPER_ARGUMENT.to_string(),
                self.timeout.as_secs().max(1).to_string(),
                secret_names.join(","),
                "--".to_string(),
                command,
            ];
            args.extend(exec.args.take().unwrap_or_default());
            exec.command = Some(self.program.to_string_lossy().into_owned());
            exec.args = Some(args);
            exec.interactive_mode = Some(ExecInteractiveMode::Never);
        }
        kubeconfig
    }
}

/// The wrapper's entry point (`args` after the program name, starting with
/// [`WRAPPER_ARGUMENT`]); returns the exit code.
pub fn main(args: &[String]) -> u8 {
    let (seconds, secret_names, command) = match args {
        [_, seconds, names, separator, command @ ..]
            if separator == "--" && !command.is_empty() =>
        {
            (seconds.parse::<u64>().unwrap_or(60), names, command)
        }
        _ => {
            eprintln!(
                "shipgate: {WRAPPER_ARGUMENT} <seconds> <secret env names> -- <command> [args…]"
            );
            return 2;
        }
    };
    let secrets: Vec<String> = secret_names
        .split(',')
        .filter(|name| !name.is_empty())
        .filter_map(|name| std::env::var(name).ok())
        .filter(|value| !value.trim().is_empty())
        .collect();
    let outcome = run(command, Duration::from_secs(seconds));
    let mut secrets = secrets;
    secrets.extend(credential_secrets(&outcome.stdout));
    let stderr = redact(&String::from_utf8_lossy(&outcome.stderr), &secrets);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(stderr.as_bytes());
    match outcome.end {
        End::Exited(code) => {
            if code == 0 {
                let _ = std::io::stdout().lock().write_all(&outcome.stdout);
            }
            code
        }
        End::TimedOut => {
            let _ = writeln!(
                err,
                "`{}` did not finish within {seconds}s and was stopped (is it waiting for a login prompt? run it in an earlier step to see)",
                command[0]
            );
            TIMED_OUT
        }
        End::NotStarted(reason) => {
            let _ = writeln!(
                err,
                "cannot start the exec credential plugin `{}`: {reason}",
                command[0]
            );
            127
        }
    }
}

enum End {
    Exited(u8),
    TimedOut,
    NotStarted(String),
}

struct Outcome {
    end: End,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs the plugin with a deadline; its output is read on two threads, each capped.
fn run(command: &[String], timeout: Duration) -> Outcome {
    let mut plugin = Command::new(&command[0]);
    plugin
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a timeout stops what it started too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut plugin, 0);
    let mut child = match plugin.spawn() {
        Ok(child) => child,
        Err(error) => {
            return Outcome {
                end: End::NotStarted(error.to_string()),
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
        }
    };
    let stdout = child.stdout.take().map(|s| read_capped(s, STDOUT_LIMIT));
    let stderr = child.stderr.take().map(|s| read_capped(s, STDERR_LIMIT));
    let started = Instant::now();
    let end = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break End::Exited(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)));
            }
            Ok(None) if started.elapsed() >= timeout => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break End::TimedOut;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => break End::NotStarted(error.to_string()),
        }
    };
    // A grandchild may hold the pipes open: take what arrived within a moment.
    let collect = |handle: Option<std::sync::mpsc::Receiver<Vec<u8>>>| {
        handle
            .and_then(|r| r.recv_timeout(Duration::from_secs(1)).ok())
            .unwrap_or_default()
    };
    Outcome {
        end,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

fn read_capped(
    stream: impl Read + Send + 'static,
    limit: usize,
) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buffer = [0u8; 8192];
        let mut stream = stream;
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&buffer[..n.min(room)]);
                }
            }
        }
        let _ = sender.send(kept);
    });
    receiver
}

/// The secrets of an ExecCredential the plugin printed (`status.token`, `status.clientKeyData`).
fn credential_secrets(stdout: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(stdout) else {
        return Vec::new();
    };
    ["token", "clientKeyData"]
        .iter()
        .filter_map(|key| value["status"][key].as_str())
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// `text` with every secret (and every line of a multi-line one) replaced by `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut pieces: Vec<&str> = secrets
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .filter(|s| s.len() >= 3)
        .collect();
    // Longest first, so a secret containing another is replaced whole.
    pieces.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for piece in pieces {
        out = out.replace(piece, "***");
    }
    out
}

/// How many of the plugin's last stderr lines the message keeps.
const STDERR_LINES: usize = 5;

/// An authentication error said as a sentence: which plugin, how it ended (a timeout of the
/// wrapper says so), and the last lines of its (already redacted) stderr. kube-rs's own message
/// is Rust debug text: the whole command with its environment and the `Output` struct, whose
/// stdout is where the credential is.
pub fn describe_auth_error(error: &kube::client::AuthError) -> String {
    use kube::client::AuthError;
    match error {
        AuthError::AuthExecRun { cmd, out } => {
            let program = plugin_program(cmd).unwrap_or_else(|| "its command".into());
            let status = match out.status.code() {
                Some(code) if code == i32::from(TIMED_OUT) => "timed out".to_string(),
                Some(code) => format!("failed with exit code {code}"),
                None => "was killed by a signal".to_string(),
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
                let text: String = lines[start..].join(" / ").chars().take(2000).collect();
                format!("it said: {text}")
            };
            format!("the kubeconfig's exec credential plugin `{program}` {status}; {said}")
        }
        AuthError::AuthExecStart(e) => {
            format!("the kubeconfig's exec credential plugin could not be started: {e}")
        }
        other => other.to_string(),
    }
}

/// The plugin's program from kube-rs's `{:?}` of the `Command` it ran:
/// `ENV="…" "program" "arg"…` (environment assignments first, each value quoted). When the
/// command is this binary's wrapper, the plugin is the word after `"--"`.
fn plugin_program(debug: &str) -> Option<String> {
    let word = r#""((?:[^"\\]|\\.)*)""#;
    let unquote = |w: &str| w.replace("\\\"", "\"").replace("\\\\", "\\");
    let wrapped = regex::Regex::new(&format!(r#"{word}\s+"--"\s+{word}"#)).ok()?;
    if debug.contains(WRAPPER_ARGUMENT)
        && let Some(found) = wrapped.captures(debug)
    {
        return Some(unquote(&found[2]));
    }
    let plain =
        regex::Regex::new(&format!(r#"^(?:[A-Za-z_][A-Za-z0-9_]*={word}\s+)*{word}"#)).ok()?;
    let found = plain.captures(debug.trim())?;
    Some(unquote(&found[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wrapped_plugins_run_through_this_binary_non_interactive() {
        let yaml = "users:\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token]\n      env: [{name: AWS_PROFILE, value: prod}]\n";
        let kubeconfig = Kubeconfig::from_yaml(yaml).unwrap();
        let wrapped = Wrapper::new("/bin/shipgate".into(), Duration::from_secs(7)).wrap(kubeconfig);
        let exec = wrapped.auth_infos[0]
            .auth_info
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap();
        assert_eq!(exec.command.as_deref(), Some("/bin/shipgate"));
        assert_eq!(
            exec.args.clone().unwrap(),
            args(&[
                WRAPPER_ARGUMENT,
                "7",
                "AWS_PROFILE",
                "--",
                "aws",
                "eks",
                "get-token"
            ])
        );
        assert_eq!(exec.interactive_mode, Some(ExecInteractiveMode::Never));
    }

    #[test]
    fn a_plugin_that_hangs_is_killed_on_timeout() {
        let started = Instant::now();
        let outcome = run(
            &args(&["sh", "-c", "echo working >&2; sleep 30"]),
            Duration::from_millis(300),
        );
        assert!(matches!(outcome.end, End::TimedOut));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(String::from_utf8_lossy(&outcome.stderr), "working\n");
    }

    #[test]
    fn plugin_stderr_goes_through_the_masks() {
        let stdout = br#"{"kind":"ExecCredential","status":{"token":"k8s-aws-v1.s3cr3t"}}"#;
        let mut secrets = vec!["env-value-s3cr3t".to_string()];
        secrets.extend(credential_secrets(stdout));
        let text = "using env-value-s3cr3t, got k8s-aws-v1.s3cr3t";
        assert_eq!(redact(text, &secrets), "using ***, got ***");
        let outcome = run(&args(&["sh", "-c", "exit 3"]), Duration::from_secs(5));
        assert!(matches!(outcome.end, End::Exited(3)));
    }
}
