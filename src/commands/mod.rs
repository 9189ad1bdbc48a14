//! The imperative shell: each command gathers its inputs (files, env, git), calls the pure core,
//! and hands the result to the runner protocol.

mod bases;
mod branch_policy;
mod build;
mod config;
mod deploy;
mod detect;
mod gitops;
mod manifests;
mod plan;
mod run;
pub mod status;

use crate::cli::{Cli, Command, Format};
use crate::config::Config;
use crate::context::Context;
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::runner::{Mode, Runner, Summary, write_stdout};
use std::path::{Path, PathBuf};

/// What every command needs: where to look and how to report.
pub struct Session {
    pub runner: Runner,
    pub format: Format,
    pub repo: PathBuf,
    pub config: PathBuf,
    /// `registry-insecure`: registry hosts reached over plain http.
    pub registry_insecure: Option<String>,
}

impl Session {
    /// The config file's absolute path (a relative `--config` is resolved against `--repo`).
    pub fn config_path(&self) -> PathBuf {
        if self.config.is_absolute() {
            self.config.clone()
        } else {
            self.repo.join(&self.config)
        }
    }

    /// Loads the config, naming it relative to `root` (the git work tree) in messages, so that
    /// annotations land on the right file.
    pub fn load_config(&self, root: Option<&Path>) -> Result<Config, Failure> {
        let path = self.config_path();
        let display = root
            .and_then(|root| {
                let absolute = path.canonicalize().ok()?;
                let root = root.canonicalize().ok()?;
                absolute
                    .strip_prefix(root)
                    .ok()
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
            })
            .unwrap_or_else(|| self.config.to_string_lossy().into_owned());
        crate::config::load(&path, &display)
    }

    pub fn context(&self) -> Result<Context, Failure> {
        Context::load(|name| std::env::var(name).ok())
    }

    pub fn report_diagnostics(&self, diagnostics: &[Diagnostic]) {
        for diagnostic in diagnostics {
            self.runner.diagnostic(diagnostic);
        }
    }

    /// Prints the command's result on stdout (human text or JSON).
    pub fn print_result<T: serde::Serialize + ?Sized>(&self, human: &str, json: &T) {
        match self.format {
            Format::Human => write_stdout(human),
            Format::Json => {
                // Streamed: a 10,000-file result is never held as one string.
                use std::io::Write;
                // `##[` inside a string is written `##\u005b`: the same value, and no legacy workflow
                // command when the runner reads stdout.
                // Buffered before the guard, so that it scans large chunks, not every token.
                let guard = crate::runner::neutral::JsonGuard::new(std::io::stdout().lock());
                let mut stdout = std::io::BufWriter::with_capacity(1 << 16, guard);
                let _ = serde_json::to_writer_pretty(&mut stdout, json)
                    .map_err(std::io::Error::other)
                    .and_then(|()| stdout.write_all(b"\n"))
                    .and_then(|()| stdout.flush());
            }
        }
    }

    pub fn color(&self) -> bool {
        matches!(self.runner.mode, Mode::Terminal { color: true })
    }

    /// Writes outputs and summary; a failure to write them is itself a failure.
    pub fn publish(&self, outputs: &[(String, String)], summary: &Summary) -> Result<(), Failure> {
        self.runner.outputs(outputs).map_err(|e| {
            Failure::usage(Diagnostic::error(
                "shipgate",
                format!("cannot write step outputs: {e}"),
            ))
        })?;
        self.runner.summary(summary).map_err(|e| {
            Failure::usage(Diagnostic::error(
                "shipgate",
                format!("cannot write the job summary: {e}"),
            ))
        })
    }
}

/// Runs the parsed command line and returns the process exit code.
pub fn execute(cli: Cli) -> u8 {
    if cli.version {
        write_stdout(&crate::version::describe(cli.verbose));
        return 0;
    }
    let session = Session {
        runner: Runner::new(Mode::from_env(), cli.format == Format::Json),
        format: cli.format,
        repo: cli.repo,
        config: cli.config,
        registry_insecure: cli.registry_insecure,
    };
    let Some(command) = cli.command else {
        crate::runner::write_stderr("shipgate: no command given; try `shipgate --help`\n");
        return 2;
    };
    match dispatch(&session, command) {
        Ok(code) => code,
        Err(failure) => report_failure(&session, &failure),
    }
}

/// Runs one subcommand; the cluster and environment flags some commands share reach detect.
fn dispatch(session: &Session, command: Command) -> Result<u8, Failure> {
    match command {
        Command::Detect(mut args) => {
            args.detect.cluster = args.cluster;
            args.detect.environment = args.environment;
            detect::execute(session, &args.detect)
        }
        Command::BranchPolicy(args) => branch_policy::execute(session, &args),
        Command::Run(mut args) => {
            args.build.plan.detect.cluster = crate::cli::ClusterArgs {
                kubeconfig: args.deploy.kubeconfig.clone(),
                kube_context: args.deploy.kube_context.clone(),
            };
            args.build.plan.detect.environment = args.build.plan.environment.clone();
            run::execute(session, &args)
        }
        Command::Config(command) => config::execute(session, command),
        Command::Plan(mut args) => {
            args.plan.detect.cluster = args.cluster;
            args.plan.detect.environment = args.plan.environment.clone();
            plan::execute(session, &args.plan)
        }
        Command::Build(args) => build::execute(session, &args),
        Command::Deploy(mut args) => {
            args.plan.detect.cluster = crate::cli::ClusterArgs {
                kubeconfig: args.deploy.kubeconfig.clone(),
                kube_context: args.deploy.kube_context.clone(),
            };
            args.plan.detect.environment = args.plan.environment.clone();
            deploy::execute(session, &args)
        }
        Command::Status(args) => status::execute(session, &args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "shipgate", &mut script);
            write_stdout(&String::from_utf8_lossy(&script));
            Ok(0)
        }
    }
}

/// Says why the command failed, in the log and in the job summary; returns its exit code.
fn report_failure(session: &Session, failure: &Failure) -> u8 {
    session.report_diagnostics(failure.diagnostics());
    let mut summary = Summary::default();
    let heading = match failure {
        Failure::Usage(_) => "### ❌ shipgate could not run",
        Failure::Gate(_) => "### ❌ shipgate: a gate failed",
    };
    let mut text = format!("{heading}\n\n");
    for diagnostic in failure.diagnostics() {
        let location = diagnostic
            .location
            .as_ref()
            .map(|l| format!("{} ", crate::runner::summary::code_span(&l.to_string())))
            .unwrap_or_default();
        text.push_str(&format!(
            "- {location}{}\n",
            crate::runner::summary::inline_markdown(&diagnostic.full_message())
        ));
    }
    summary.push(text);
    let _ = session.runner.summary(&summary);
    failure.exit_code()
}
