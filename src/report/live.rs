//! A live status board for a terminal: one line per service with a spinner, redrawn in place
//! while builds or rollouts run. Only used when stderr is a TTY outside Actions; logs (CI, pipes)
//! get plain lines instead, which stay readable when replayed.
//!
//! Redrawing in place moves the cursor up by the number of lines drawn, so no line may wrap and
//! the board may not be taller than the screen: rows are cut to the terminal's width (asked from
//! the tty with TIOCGWINSZ on every redraw, so a resize is followed; `COLUMNS` overrides it), and
//! past the terminal's height the last line says how many more services there are.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

#[derive(Default)]
struct State {
    rows: Vec<(String, String)>,
    drawn: usize,
    frame: usize,
}

/// The rows as they are drawn: spinner, padded name, latest line, each cut to fit in `width`
/// columns without wrapping, and at most `height - 1` lines (the last one then says how many
/// rows are not shown). Pure.
fn render(rows: &[(String, String)], frame: usize, width: usize, height: usize) -> String {
    let name_width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    // The last column stays empty: a character there makes some terminals wrap.
    let width = width.saturating_sub(1).max(10);
    let room = height.saturating_sub(1).max(2);
    let shown = if rows.len() > room {
        room - 1
    } else {
        rows.len()
    };
    let mut text = String::new();
    for (name, line) in &rows[..shown] {
        let spinner = FRAMES[frame % FRAMES.len()];
        let row = format!("{spinner} {name:<name_width$}  {line}");
        text.push_str("\r\x1b[2K");
        text.push_str(&cut(&row, width));
        text.push('\n');
    }
    if shown < rows.len() {
        text.push_str("\r\x1b[2K");
        text.push_str(&cut(
            &format!("  … and {} more running", rows.len() - shown),
            width,
        ));
        text.push('\n');
    }
    text
}

/// `text` in at most `width` columns (control characters dropped; wide characters count two).
fn cut(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let total: usize = text.chars().map(columns).sum();
    for c in text.chars().filter(|c| !c.is_control()) {
        let w = columns(c);
        if total > width && used + w > width.saturating_sub(1) {
            out.push('…');
            return out;
        }
        used += w;
        out.push(c);
    }
    out
}

/// Columns a character takes: two for East Asian wide characters and most emoji, else one.
fn columns(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// A board redrawn every 100 ms until [`Board::finish`].
pub struct Board {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

/// The terminal's (columns, rows): the tty's size (stderr, where the board is drawn), `COLUMNS`
/// and `LINES` when set (an override, as for other tools), else 80×24.
fn terminal_size() -> (usize, usize) {
    let (tty_columns, tty_rows) = tty_size().unwrap_or((80, 24));
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c >= 2)
    };
    (
        var("COLUMNS").unwrap_or(tty_columns),
        var("LINES").unwrap_or(tty_rows),
    )
}

#[cfg(unix)]
fn tty_size() -> Option<(usize, usize)> {
    let size = rustix::termios::tcgetwinsize(std::io::stderr()).ok()?;
    (size.ws_col > 0).then_some((usize::from(size.ws_col), usize::from(size.ws_row)))
}

#[cfg(not(unix))]
fn tty_size() -> Option<(usize, usize)> {
    None
}

fn redraw(state: &mut State) {
    let mut stderr = std::io::stderr().lock();
    let mut text = String::new();
    if state.drawn > 0 {
        text.push_str(&format!("\x1b[{}A", state.drawn));
    }
    let (width, height) = terminal_size();
    // Problem rows first when the board is taller than the terminal.
    let shown = visible(&state.rows, height.saturating_sub(2));
    let board = render(&shown, state.frame, width, height);
    text.push_str(&board);
    // What was drawn above the board stays; only the board's own lines are redrawn.
    let drawn = board.matches('\n').count();
    if drawn < state.drawn {
        // Fewer lines than last time (the terminal got shorter): clear the rest.
        for _ in drawn..state.drawn {
            text.push_str("\r\x1b[2K\n");
        }
        text.push_str(&format!("\x1b[{}A", state.drawn - drawn));
    }
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
    state.drawn = drawn;
}

/// The rows that fit `max` lines (a board taller than the terminal cannot be redrawn in
/// place): the ones with a problem first, then the others in order, and a last row counting
/// what is left out. Pure.
fn visible(rows: &[(String, String)], max: usize) -> Vec<(String, String)> {
    if rows.len() <= max {
        return rows.to_vec();
    }
    let problem = |line: &str| {
        let line = line.to_ascii_lowercase();
        ["fail", "warning", "rolling back", "error"]
            .iter()
            .any(|word| line.contains(word))
    };
    let keep = max.saturating_sub(1).max(1);
    let mut shown: Vec<(String, String)> = rows
        .iter()
        .filter(|(_, line)| problem(line))
        .chain(rows.iter().filter(|(_, line)| !problem(line)))
        .take(keep)
        .cloned()
        .collect();
    shown.push((
        "…".to_string(),
        format!("{} more not shown", rows.len() - shown.len()),
    ));
    shown
}

impl Board {
    pub fn start() -> Board {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if let Ok(mut state) = state.lock()
                        && !state.rows.is_empty()
                    {
                        state.frame += 1;
                        redraw(&mut state);
                    }
                }
            })
        };
        Board {
            state,
            stop,
            ticker: Some(ticker),
        }
    }

    /// Sets the latest line of `name` (a new row the first time).
    pub fn update(&self, name: &str, line: &str) {
        if let Ok(mut state) = self.state.lock() {
            let line = line.lines().next().unwrap_or_default().to_string();
            match state.rows.iter_mut().find(|(n, _)| n == name) {
                Some(row) => row.1 = line,
                None => state.rows.push((name.to_string(), line)),
            }
            redraw(&mut state);
        }
    }

    /// Stops the spinner and erases the board (the final report follows).
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        if let Ok(state) = self.state.lock()
            && state.drawn > 0
        {
            let mut stderr = std::io::stderr().lock();
            let mut text = format!("\x1b[{}A", state.drawn);
            for _ in 0..state.drawn {
                text.push_str("\r\x1b[2K\n");
            }
            text.push_str(&format!("\x1b[{}A", state.drawn));
            let _ = stderr.write_all(text.as_bytes());
            let _ = stderr.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_padded_and_cut_to_the_width() {
        let rows = vec![
            (
                "auth".to_string(),
                "2 of 3 updated replicas are available...".to_string(),
            ),
            ("gateway".to_string(), "set image".to_string()),
        ];
        let text = render(&rows, 0, 31, 24);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "\r\x1b[2K⠋ auth     2 of 3 updated rep…");
        assert_eq!(lines[1], "\r\x1b[2K⠋ gateway  set image");
        assert!(render(&rows, 1, 100, 24).contains("⠙ auth"));
    }

    #[test]
    fn no_row_is_wider_than_the_terminal() {
        let rows = vec![("api".to_string(), "界".repeat(100) + &"x".repeat(300))];
        for width in [20, 80, 200] {
            let text = render(&rows, 0, width, 24);
            let row = text.trim_start_matches("\r\x1b[2K").trim_end();
            let used: usize = row.chars().map(columns).sum();
            assert!(used < width, "{used} columns at {width}: {row}");
            assert!(row.ends_with('…'));
        }
        // A line that fits is not cut.
        let rows = vec![("api".to_string(), "y".repeat(150))];
        assert!(!render(&rows, 0, 200, 24).contains('…'));
    }

    #[test]
    fn a_board_taller_than_the_screen_says_how_many_rows_are_hidden() {
        let rows: Vec<(String, String)> = (0..30)
            .map(|i| (format!("svc-{i:02}"), "rolling out".to_string()))
            .collect();
        let text = render(&rows, 0, 80, 10);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 9);
        assert!(lines[8].ends_with("… and 22 more running"), "{}", lines[8]);
    }

    #[test]
    fn a_board_taller_than_the_terminal_shows_problems_first_and_counts_the_rest() {
        let mut rows: Vec<(String, String)> = (0..200)
            .map(|i| (format!("svc-{i:03}"), "Waiting for rollout...".to_string()))
            .collect();
        rows[150].1 = "rollout failed: ErrImagePull".into();
        let shown = visible(&rows, 10);
        assert_eq!(shown.len(), 10);
        assert_eq!(shown[0].0, "svc-150");
        assert_eq!(shown[1].0, "svc-000");
        assert_eq!(shown[9].1, "191 more not shown");
        assert_eq!(visible(&rows[..5], 10).len(), 5);
    }
}
