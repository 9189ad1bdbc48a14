//! The GitHub Actions runner protocol: outputs, step summary, annotations, groups and masks.
//!
//! Everything a command wants to tell the world goes through [`Runner`], which knows whether it
//! is inside Actions (`GITHUB_ACTIONS=true`: workflow commands and the runner's files) or in a
//! terminal (readable lines, colour only on a TTY).

pub mod commands;
pub mod neutral;
pub mod output;
pub mod summary;
pub mod tables;

use crate::diagnostic::{Diagnostic, Level};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub use summary::{Block, Summary};

/// Where the process runs, as far as presentation is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Inside a GitHub Actions job: workflow commands on stdout, files for outputs and summary.
    Actions {
        output_file: Option<PathBuf>,
        summary_file: Option<PathBuf>,
    },
    /// A terminal or a pipe: plain lines, colour when `color` is set.
    Terminal { color: bool },
}

impl Mode {
    /// Detects the mode from the environment.
    pub fn from_env() -> Self {
        Mode::from_runner(
            crate::context::RunnerEnvironment::current(),
            std::io::stderr().is_terminal(),
        )
    }

    /// The mode for this runner environment, `tty` when stderr is a terminal.
    pub fn from_runner(env: crate::context::RunnerEnvironment, tty: bool) -> Self {
        if env.in_actions {
            Mode::Actions {
                output_file: env.output_file,
                summary_file: env.summary_file,
            }
        } else {
            Mode::Terminal {
                color: tty && !env.no_color,
            }
        }
    }

    pub fn is_actions(&self) -> bool {
        matches!(self, Mode::Actions { .. })
    }
}

/// Writes what a command produced, in the form the current [`Mode`] calls for.
pub struct Runner {
    pub mode: Mode,
    /// Workflow commands go to stderr when stdout carries JSON (the runner reads both).
    pub commands_on_stderr: bool,
}

impl Runner {
    pub fn new(mode: Mode, commands_on_stderr: bool) -> Self {
        Runner {
            mode,
            commands_on_stderr,
        }
    }

    /// Writes one workflow-command line (ours) where the runner will read it; the only writer
    /// whose text is not neutralised.
    fn command_line(&self, line: &str) {
        self.command_text(&format!("{line}\n"));
    }

    /// Writes workflow commands, each line already ended by `\n`.
    fn command_text(&self, text: &str) {
        if self.commands_on_stderr {
            write_raw(&mut std::io::stderr().lock(), text);
        } else {
            write_raw(&mut std::io::stdout().lock(), text);
        }
    }

    /// Masks a secret in all later log output (Actions only; a terminal shows nothing anyway).
    pub fn mask(&self, secret: &str) {
        if self.mode.is_actions() {
            for line in commands::add_mask(secret) {
                self.command_line(&line);
            }
        }
    }

    /// Reports a diagnostic: an annotation in Actions, `file:line:col: level: message` elsewhere.
    pub fn diagnostic(&self, diagnostic: &Diagnostic) {
        match &self.mode {
            Mode::Actions { .. } => self.command_line(&commands::annotation(diagnostic)),
            Mode::Terminal { color } => {
                let (start, end) = match (color, diagnostic.level) {
                    (false, _) => ("", ""),
                    (true, Level::Error) => ("\x1b[1;31m", "\x1b[0m"),
                    (true, Level::Warning) => ("\x1b[1;33m", "\x1b[0m"),
                    (true, Level::Notice) => ("\x1b[1;36m", "\x1b[0m"),
                };
                let location = diagnostic
                    .location
                    .as_ref()
                    .map(|l| format!("{l}: "))
                    .unwrap_or_default();
                let mut text = format!(
                    "{location}{start}{}{end}: {}",
                    diagnostic.level.as_str(),
                    diagnostic.message
                );
                if let Some(help) = &diagnostic.help {
                    text.push_str(&format!("\n  help: {help}"));
                }
                write_stderr(&format!("{text}\n"));
            }
        }
    }

    /// Prints a block of log text; in Actions inside a collapsible group.
    ///
    /// Untrusted text (file names, branch names) is fenced with `::stop-commands::` so a line
    /// like `::add-mask::` inside it is printed, not executed.
    pub fn group(&self, title: &str, body: &str) {
        match &self.mode {
            Mode::Actions { .. } => {
                let token = output::random_delimiter();
                let title = commands::escape_data(title);
                // Built once at its final size: the body can be ten thousand lines.
                let mut text =
                    String::with_capacity(body.len() + title.len() + 2 * token.len() + 64);
                text.push_str("::group::");
                text.push_str(&title);
                text.push_str("\n::stop-commands::");
                text.push_str(&token);
                text.push('\n');
                text.push_str(body);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str("::");
                text.push_str(&token);
                text.push_str("::\n::endgroup::\n");
                self.command_text(&text);
            }
            Mode::Terminal { .. } => {
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "{body}");
                if !body.ends_with('\n') {
                    let _ = writeln!(stderr);
                }
            }
        }
    }

    /// Writes step outputs to `$GITHUB_OUTPUT` (Actions only).
    pub fn outputs(&self, outputs: &[(String, String)]) -> std::io::Result<()> {
        if let Mode::Actions {
            output_file: Some(path),
            ..
        } = &self.mode
        {
            let text = output::format_outputs(outputs)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            append(path, &text)?;
        }
        Ok(())
    }

    /// Appends the job summary to `$GITHUB_STEP_SUMMARY` (Actions only), under the size limit.
    pub fn summary(&self, summary: &Summary) -> std::io::Result<()> {
        if let Mode::Actions {
            summary_file: Some(path),
            ..
        } = &self.mode
            && !summary.is_empty()
        {
            let existing = std::fs::metadata(path)
                .map(|m| m.len() as usize)
                .unwrap_or(0);
            let limit = summary::SUMMARY_LIMIT.saturating_sub(existing);
            append(path, &summary.render(limit))?;
        }
        Ok(())
    }
}

/// Whether this process runs inside Actions (the same test as [`Mode::from_env`]): then every
/// line printed through [`write_stdout`]/[`write_stderr`] is neutralised.
pub fn in_actions() -> bool {
    static ACTIONS: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| crate::context::RunnerEnvironment::current().in_actions);
    *ACTIONS
}

/// Text as printed: in Actions, no line of it can be taken for a workflow command.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if in_actions() {
        neutral::neutralise(text)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn write_raw(stream: &mut impl Write, text: &str) {
    let _ = stream
        .write_all(text.as_bytes())
        .and_then(|()| stream.flush());
}

/// Writes to stdout; a reader that went away (`| head`) is not an error worth a panic. In
/// Actions the text is neutralised ([`neutral`]): it may hold file names, branch names, logs.
pub fn write_stdout(text: &str) {
    write_raw(&mut std::io::stdout().lock(), &printable(text));
}

/// Writes to stderr, ignoring a closed stream; neutralised in Actions like [`write_stdout`].
pub fn write_stderr(text: &str) {
    write_raw(&mut std::io::stderr().lock(), &printable(text));
}

fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
}
