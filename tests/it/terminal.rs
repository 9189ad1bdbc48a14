//! The live board in a real pseudo-terminal (tmux) at 80 and 200 columns: it takes the tty's
//! width without `COLUMNS`, never wraps, and leaves no stale board lines behind once erased.

use crate::support::TestRepo;
use std::process::Command;
use std::time::{Duration, Instant};

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A repository whose two services build with a command that prints 150-character lines for
/// about two seconds.
fn repo() -> TestRepo {
    let line = format!("step $i {}", "x".repeat(140));
    let command = format!("for i in 1 2 3 4 5 6 7 8; do echo \"{line}\"; sleep 0.25; done");
    let service = |name: &str| {
        format!(
            "  {name}:\n    paths: [\"services/{name}/**\"]\n    image: {name}\n    build:\n      context: services/{name}\n      builder: command\n      command: [sh, -c, '{command}']\n"
        )
    };
    TestRepo::new()
        .config(&format!(
            "version: 1\ndefaults:\n  registry: ghcr.io/acme\nservices:\n{}{}",
            service("auth"),
            service("gateway")
        ))
        .file("services/auth/x", "1\n")
        .file("services/gateway/x", "1\n")
        .commit("base")
        .file("services/auth/x", "2\n")
        .file("services/gateway/x", "2\n")
        .commit("change")
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command
    }

    fn capture(&self, history: bool) -> String {
        let mut command = self.command();
        command.args(["capture-pane", "-p", "-t", "board"]);
        if history {
            command.args(["-S", "-"]);
        }
        String::from_utf8_lossy(&command.output().unwrap().stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

/// Runs a build of the repository in a `columns`-wide tmux pane; returns every board line seen
/// while it ran and the pane's whole history at the end.
fn build_in_tmux(columns: u16) -> (Vec<String>, String) {
    let repo = repo();
    let tmux = Tmux {
        socket: format!("shipgate-board-{}-{columns}", std::process::id()),
    };
    let script = format!(
        "cd '{}' && env -i PATH=\"$PATH\" HOME='{}' TERM=xterm-256color GIT_CONFIG_NOSYSTEM=1 '{}' run --stages detect,plan,build --base HEAD~1; echo \"EXIT=$?\"; sleep 60",
        repo.path().display(),
        repo.home().display(),
        env!("CARGO_BIN_EXE_shipgate"),
    );
    let status = tmux
        .command()
        .args([
            "new-session",
            "-d",
            "-s",
            "board",
            "-x",
            &columns.to_string(),
            "-y",
            "30",
        ])
        .arg(&script)
        .env_remove("COLUMNS")
        .env_remove("LINES")
        .status()
        .expect("tmux is installed (Debian tmux)");
    assert!(status.success());
    let mut board = Vec::new();
    let started = Instant::now();
    loop {
        let screen = tmux.capture(false);
        board.extend(
            screen
                .lines()
                .filter(|l| l.starts_with(FRAMES))
                .map(str::to_string),
        );
        if screen.contains("EXIT=") {
            assert!(screen.contains("EXIT=0"), "{screen}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the build did not finish:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (board, tmux.capture(true))
}

fn width(line: &str) -> usize {
    line.trim_end().chars().count()
}

#[test]
fn the_board_fits_80_columns_and_leaves_nothing_behind() {
    let (board, history) = build_in_tmux(80);
    assert!(
        board
            .iter()
            .any(|l| l.contains("auth") && l.contains("step")),
        "the board showed the builds' lines: {board:?}"
    );
    for line in &board {
        assert!(width(line) < 80, "a board line fills the row: {line}");
    }
    assert!(
        board.iter().any(|l| l.trim_end().ends_with('…')),
        "150-character lines are cut: {board:?}"
    );
    // Redrawn in place, then erased: no spinner line is left in the scrollback.
    let stale: Vec<&str> = history.lines().filter(|l| l.starts_with(FRAMES)).collect();
    assert!(stale.is_empty(), "stale board lines: {stale:?}\n{history}");
    assert!(history.contains("build  2 image(s)"), "{history}");
}

#[test]
fn the_board_uses_200_columns_when_the_terminal_has_them() {
    let (board, history) = build_in_tmux(200);
    let longest = board.iter().map(|l| width(l)).max().unwrap_or(0);
    assert!(
        longest > 150 && longest < 200,
        "the board's lines are not cut at 100 columns (longest {longest}): {board:?}"
    );
    assert!(history.lines().all(|l| !l.starts_with(FRAMES)), "{history}");
}
