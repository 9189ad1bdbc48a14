//! One build process: spawned without a shell, its output streamed line by line, its last lines
//! kept, and stopped (with everything it started) when the run is cancelled.
//!
//! The child gets its own process group so that cancelling reaches the processes it started too
//! (`docker` runs the buildx plugin; a shell script runs its commands): SIGTERM to the group,
//! SIGKILL after a grace period.
//!
//! Its environment is the runner's minus shipgate's secrets ([`withheld`]): every `SHIPGATE_*`
//! input (the kubeconfig, the GitHub token, the registry password …), `KUBECONFIG`,
//! `GITHUB_TOKEN` and `GH_TOKEN`. No builder needs them: buildx pushes with Docker's own login,
//! a remote builder's credential reaches it under its own name (`AZURE_…`, `AWS_…`) from the
//! step's `env:`.
//!
//! The one exception is a build secret the config lists for the service ([`Environment::given`],
//! see [`super::secrets`]): that variable reaches this service's builder, even if it is one of the
//! above, and is withheld from every other service's builder ([`Environment::others`]).

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};

/// How long a cancelled build may take to stop after SIGTERM before it is killed.
const TERMINATE_GRACE: Duration = Duration::from_secs(10);
/// How long output is still read after the process exited (a daemon it started may hold the
/// pipe open forever).
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Environment variables a build never inherits, besides every `SHIPGATE_*` one.
const SECRET_VARIABLES: &[&str] = &["KUBECONFIG", "GITHUB_TOKEN", "GH_TOKEN"];

/// What one build is given of the runner's environment beyond the scrubbed default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Variables the config hands to this build (its `build.secrets`): never withheld.
    pub given: Vec<String>,
    /// Variables the config hands to other builds only: withheld from this one.
    pub others: Vec<String>,
}

/// The variables of `names` (the runner's environment) a build must not see. Pure.
pub fn withheld<'a>(
    names: impl Iterator<Item = &'a str>,
    environment: &Environment,
) -> Vec<&'a str> {
    names
        .filter(|name| {
            !environment.given.iter().any(|g| g == name)
                && (name.starts_with("SHIPGATE_")
                    || SECRET_VARIABLES.contains(name)
                    || environment.others.iter().any(|o| o == name))
        })
        .collect()
}

/// A signal that a run was cancelled; cheap to clone into every build.
#[derive(Clone)]
pub struct Cancel(watch::Receiver<bool>);

/// The sending half: [`Canceller::cancel`] stops every build holding a [`Cancel`].
pub struct Canceller(watch::Sender<bool>);

/// A linked pair.
pub fn cancellation() -> (Canceller, Cancel) {
    let (sender, receiver) = watch::channel(false);
    (Canceller(sender), Cancel(receiver))
}

impl Canceller {
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the run is cancelled (never, if the sender is gone without cancelling).
    pub async fn cancelled(&mut self) {
        loop {
            if *self.0.borrow_and_update() {
                return;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// Non-zero exit or killed by a signal; says which.
    Failed(String),
    /// Stopped because the run was cancelled.
    Cancelled,
    /// Could not be started at all.
    NotStarted(String),
}

/// What a finished process left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub exit: Exit,
    /// The last output lines (stdout and stderr interleaved as they came).
    pub tail: Vec<String>,
}

/// Runs `program args` in `cwd`, calling `on_line` for every output line.
pub async fn run(
    program: &str,
    args: &[String],
    cwd: &Path,
    environment: &Environment,
    keep_lines: usize,
    mut on_line: impl FnMut(&str),
    mut cancel: Cancel,
) -> Finished {
    let mut tail: VecDeque<String> = VecDeque::with_capacity(keep_lines + 1);
    let mut remember = |line: String, on_line: &mut dyn FnMut(&str)| {
        on_line(&line);
        tail.push_back(line);
        if tail.len() > keep_lines {
            tail.pop_front();
        }
    };
    if cancel.is_cancelled() {
        return Finished {
            exit: Exit::Cancelled,
            tail: Vec::new(),
        };
    }
    let mut child = match spawn(program, args, cwd, environment) {
        Ok(child) => child,
        Err(reason) => {
            return Finished {
                exit: Exit::NotStarted(reason),
                tail: Vec::new(),
            };
        }
    };
    let (sender, mut lines) = mpsc::unbounded_channel::<String>();
    if let Some(stdout) = child.stdout.take() {
        spawn_reader(stdout, sender.clone());
    }
    if let Some(stderr) = child.stderr.take() {
        spawn_reader(stderr, sender.clone());
    }
    drop(sender);

    let mut cancelled = false;
    let status = loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => remember(line, &mut on_line),
                // Both pipes closed: only the exit status is left to wait for.
                None => break wait(&mut child, &mut cancel, &mut cancelled).await,
            },
            status = child.wait() => break status,
            () = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                terminate(&mut child).await;
            }
        }
    };
    // Output written just before the exit is still in the pipe.
    let deadline = tokio::time::Instant::now() + DRAIN_GRACE;
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, lines.recv()).await {
        remember(line, &mut on_line);
    }
    let exit = if cancelled {
        Exit::Cancelled
    } else {
        match status {
            Ok(status) if status.success() => Exit::Success,
            Ok(status) => Exit::Failed(describe_status(status)),
            Err(e) => Exit::Failed(format!("lost track of the process: {e}")),
        }
    };
    Finished {
        exit,
        tail: tail.into_iter().collect(),
    }
}

/// Starts the builder in its own process group, output piped, with the scrubbed environment.
fn spawn(
    program: &str,
    args: &[String],
    cwd: &Path,
    environment: &Environment,
) -> Result<tokio::process::Child, String> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    for name in withheld(names.iter().map(String::as_str), environment) {
        command.env_remove(name);
    }
    #[cfg(unix)]
    command.process_group(0);
    command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("`{program}` was not found on PATH")
        } else {
            format!("cannot start `{program}`: {e}")
        }
    })
}

/// Waits for the exit once the output is closed, still honouring a cancellation.
async fn wait(
    child: &mut tokio::process::Child,
    cancel: &mut Cancel,
    cancelled: &mut bool,
) -> std::io::Result<std::process::ExitStatus> {
    if !*cancelled {
        tokio::select! {
            status = child.wait() => return status,
            () = cancel.cancelled() => {
                *cancelled = true;
                terminate(child).await;
            }
        }
    }
    child.wait().await
}

fn spawn_reader(
    stream: impl AsyncRead + Unpin + Send + 'static,
    sender: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buffer);
                    let line = text.trim_end_matches(['\n', '\r']).to_string();
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// SIGTERM to the process group, then SIGKILL to it if it is still there after the grace period.
async fn terminate(child: &mut tokio::process::Child) {
    let Some(pid) = child.id() else { return };
    signal_group(pid, "TERM").await;
    if tokio::time::timeout(TERMINATE_GRACE, child.wait())
        .await
        .is_err()
    {
        signal_group(pid, "KILL").await;
        let _ = child.start_kill();
    }
    // Whatever the leader left behind in its group goes too.
    signal_group(pid, "KILL").await;
}

/// Signals a whole process group through kill(1) (no libc binding needed).
async fn signal_group(pid: u32, signal: &str) {
    let _ = tokio::process::Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

fn describe_status(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    "ended without an exit code".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".into(), script.into()]
    }

    #[test]
    fn output_is_streamed_and_the_tail_kept() {
        let (_canceller, cancel) = cancellation();
        let mut seen = Vec::new();
        let finished = runtime().block_on(run(
            "sh",
            &sh("for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; exit 3"),
            Path::new("."),
            &Environment::default(),
            3,
            |line| seen.push(line.to_string()),
            cancel,
        ));
        assert_eq!(finished.exit, Exit::Failed("exit code 3".into()));
        assert_eq!(seen.len(), 6);
        assert_eq!(finished.tail.len(), 3);
        assert!(finished.tail.contains(&"oops".to_string()));
    }

    #[test]
    fn builds_get_no_kubeconfig_token_or_registry_password() {
        let names = [
            "PATH",
            "HOME",
            "DOCKER_CONFIG",
            "ACTIONS_RUNTIME_TOKEN",
            "SHIPGATE_KUBECONFIG",
            "SHIPGATE_GITHUB_TOKEN",
            "SHIPGATE_REGISTRY_PASSWORD",
            "KUBECONFIG",
            "GITHUB_TOKEN",
            "GH_TOKEN",
        ];
        assert_eq!(
            withheld(names.into_iter(), &Environment::default()),
            [
                "SHIPGATE_KUBECONFIG",
                "SHIPGATE_GITHUB_TOKEN",
                "SHIPGATE_REGISTRY_PASSWORD",
                "KUBECONFIG",
                "GITHUB_TOKEN",
                "GH_TOKEN"
            ]
        );
    }

    #[test]
    fn a_build_secret_reaches_only_the_build_that_lists_it() {
        let names = [
            "PATH",
            "NPM_TOKEN",
            "PIP_TOKEN",
            "GITHUB_TOKEN",
            "KUBECONFIG",
            "SHIPGATE_REGISTRY_PASSWORD",
        ];
        let auth = Environment {
            given: vec!["NPM_TOKEN".into(), "GITHUB_TOKEN".into()],
            others: vec!["PIP_TOKEN".into()],
        };
        assert_eq!(
            withheld(names.into_iter(), &auth),
            ["PIP_TOKEN", "KUBECONFIG", "SHIPGATE_REGISTRY_PASSWORD"]
        );
        let web = Environment {
            given: vec!["PIP_TOKEN".into()],
            others: vec!["NPM_TOKEN".into(), "GITHUB_TOKEN".into()],
        };
        assert_eq!(
            withheld(names.into_iter(), &web),
            [
                "NPM_TOKEN",
                "GITHUB_TOKEN",
                "KUBECONFIG",
                "SHIPGATE_REGISTRY_PASSWORD"
            ]
        );
    }

    #[test]
    fn a_given_variable_reaches_the_process_and_a_withheld_one_does_not() {
        // The real spawn path: `env` in a child with PATH given and HOME withheld as if it were
        // another build's secret.
        let (_canceller, cancel) = cancellation();
        let mut seen = Vec::new();
        let environment = Environment {
            given: vec!["PATH".into()],
            others: vec!["HOME".into()],
        };
        let finished = runtime().block_on(run(
            "sh",
            &sh("env"),
            Path::new("."),
            &environment,
            200,
            |line| seen.push(line.to_string()),
            cancel,
        ));
        assert_eq!(finished.exit, Exit::Success);
        assert!(seen.iter().any(|l| l.starts_with("PATH=")), "{seen:?}");
        assert!(!seen.iter().any(|l| l.starts_with("HOME=")), "{seen:?}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let (_canceller, cancel) = cancellation();
        let finished = runtime().block_on(run(
            "shipgate-no-such-program",
            &[],
            Path::new("."),
            &Environment::default(),
            3,
            |_| {},
            cancel,
        ));
        assert_eq!(
            finished.exit,
            Exit::NotStarted("`shipgate-no-such-program` was not found on PATH".into())
        );
    }

    #[test]
    fn cancelling_stops_the_process_and_its_children() {
        let (canceller, cancel) = cancellation();
        let started = std::time::Instant::now();
        let script = sh("echo started; sleep 30; echo never");
        let finished = runtime().block_on(async {
            let environment = Environment::default();
            let build = run(
                "sh",
                &script,
                Path::new("."),
                &environment,
                30,
                |_| {},
                cancel,
            );
            let stop = async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                canceller.cancel();
            };
            tokio::join!(build, stop).0
        });
        assert_eq!(finished.exit, Exit::Cancelled);
        assert_eq!(finished.tail, ["started"]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
