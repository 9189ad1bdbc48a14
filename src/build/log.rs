//! Live build output.
//!
//! One build at a time: each service's output sits in its own `::group::` in Actions (a header
//! line in a terminal). Builds in parallel: every line is prefixed with its service's name, so
//! interleaved output stays readable.
//!
//! Build output is untrusted (a Dockerfile `RUN echo "::add-mask::…"` runs code from the pull
//! request), so in Actions it is fenced with `::stop-commands::` and a random token: the runner
//! prints such lines instead of executing them.

use crate::runner::commands::escape_data;
use crate::runner::output::random_delimiter;
use crate::runner::{Mode, Runner};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// How lines of several builds are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One build at a time, each in its own group.
    Grouped,
    /// Builds in parallel; each line prefixed with the service name padded to `width`.
    Prefixed { width: usize },
}

/// Where the log goes.
#[derive(Clone)]
pub enum Sink {
    Stdout,
    Stderr,
    /// Collected in memory (tests).
    Buffer(Arc<Mutex<Vec<u8>>>),
}

/// The build log of one `build` run.
pub struct Log {
    actions: bool,
    layout: Layout,
    sink: Sink,
    token: String,
    lock: Mutex<()>,
    /// On a terminal: a live board (one line per build) instead of the streamed output.
    board: Mutex<Option<crate::report::live::Board>>,
}

impl Log {
    /// A log on the stream the runner's workflow commands use (stderr in a terminal).
    pub fn for_runner(runner: &Runner, layout: Layout) -> Self {
        let actions = runner.mode.is_actions();
        let sink = match (&runner.mode, runner.commands_on_stderr) {
            (Mode::Actions { .. }, false) => Sink::Stdout,
            _ => Sink::Stderr,
        };
        let mut log = Self::new(actions, layout, sink);
        let live = !actions
            && !runner.commands_on_stderr
            && std::io::IsTerminal::is_terminal(&std::io::stderr());
        if live {
            log.board = Mutex::new(Some(crate::report::live::Board::start()));
        }
        log
    }

    /// Whether the output goes to a live board (so a failed build's lines were not shown).
    pub fn is_live(&self) -> bool {
        self.board.lock().is_ok_and(|b| b.is_some())
    }

    /// Shows `text` as `service`'s line on the live board; false when there is none.
    fn on_board(&self, service: &str, text: &str) -> bool {
        match self.board.lock() {
            Ok(board) => match board.as_ref() {
                Some(board) => {
                    board.update(service, text);
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }

    pub fn new(actions: bool, layout: Layout, sink: Sink) -> Self {
        Log {
            actions,
            layout,
            sink,
            token: random_delimiter(),
            lock: Mutex::new(()),
            board: Mutex::new(None),
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn write(&self, text: &str) {
        let _guard = self.lock.lock();
        match &self.sink {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            }
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            Sink::Buffer(buffer) => {
                if let Ok(mut buffer) = buffer.lock() {
                    buffer.extend_from_slice(text.as_bytes());
                }
            }
        }
    }

    fn prefix(&self, service: &str) -> String {
        match self.layout {
            Layout::Prefixed { width } => format!("{service:<width$} | "),
            Layout::Grouped => String::new(),
        }
    }

    /// Opens the build phase (parallel builds in Actions: the command fence for all of them).
    pub fn begin(&self) {
        if self.actions && matches!(self.layout, Layout::Prefixed { .. }) {
            self.write(&format!("::stop-commands::{}\n", self.token));
        }
    }

    /// Closes the build phase.
    pub fn end(&self) {
        if let Some(board) = self.board.lock().ok().and_then(|mut b| b.take()) {
            board.finish();
        }
        if self.actions && matches!(self.layout, Layout::Prefixed { .. }) {
            self.write(&format!("::{}::\n", self.token));
        }
    }

    /// A service's build starts; `title` says what runs.
    pub fn started(&self, service: &str, title: &str) {
        if self.on_board(service, &format!("▶ {title}")) {
            return;
        }
        let text = match (self.layout, self.actions) {
            (Layout::Grouped, true) => format!(
                "::group::{}\n::stop-commands::{}\n",
                escape_data(&format!("{service}: {title}")),
                self.token
            ),
            (Layout::Grouped, false) => format!("── {service}: {title}\n"),
            (Layout::Prefixed { .. }, _) => format!("{}▶ {title}\n", self.prefix(service)),
        };
        self.write(&text);
    }

    /// One line of a build's output.
    pub fn line(&self, service: &str, text: &str) {
        if self.on_board(service, text) {
            return;
        }
        self.write(&format!("{}{text}\n", self.prefix(service)));
    }

    /// A service's build ended; `verdict` says how.
    pub fn finished(&self, service: &str, verdict: &str) {
        if self.on_board(service, &format!("■ {verdict}")) {
            return;
        }
        let text = match (self.layout, self.actions) {
            (Layout::Grouped, true) => {
                format!("{verdict}\n::{}::\n::endgroup::\n", self.token)
            }
            (Layout::Grouped, false) => format!("── {service}: {verdict}\n"),
            (Layout::Prefixed { .. }, _) => format!("{}■ {verdict}\n", self.prefix(service)),
        };
        self.write(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn sequential_builds_are_grouped_and_fenced_in_actions() {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let log = Log::new(true, Layout::Grouped, Sink::Buffer(buffer.clone()));
        log.begin();
        log.started("auth", "docker buildx build");
        log.line("auth", "::add-mask::evil");
        log.finished("auth", "built in 1.0s");
        log.end();
        let text = collected(&buffer);
        let token = &log.token;
        assert_eq!(
            text,
            format!(
                "::group::auth: docker buildx build\n::stop-commands::{token}\n::add-mask::evil\nbuilt in 1.0s\n::{token}::\n::endgroup::\n"
            )
        );
    }

    #[test]
    fn parallel_builds_prefix_every_line() {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let log = Log::new(
            false,
            Layout::Prefixed { width: 4 },
            Sink::Buffer(buffer.clone()),
        );
        log.started("web", "docker buildx build");
        log.line("auth", "step 1");
        log.line("web", "step 1");
        log.finished("auth", "failed");
        assert_eq!(
            collected(&buffer),
            "web  | ▶ docker buildx build\nauth | step 1\nweb  | step 1\nauth | ■ failed\n"
        );
    }
}
