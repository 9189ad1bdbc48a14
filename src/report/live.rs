//! A live status board for a terminal: one line per service with a spinner, redrawn in place
//! while builds or rollouts run. Only used when stderr is a TTY outside Actions; logs (CI, pipes)
//! get plain lines instead, which stay readable when replayed.

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

/// The rows as they are drawn: spinner, padded name, latest line (cut to `width`). Pure.
fn render(rows: &[(String, String)], frame: usize, width: usize) -> String {
    let name_width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (name, line) in rows {
        let spinner = FRAMES[frame % FRAMES.len()];
        let mut row = format!("{spinner} {name:<name_width$}  {line}");
        if row.chars().count() > width {
            row = row
                .chars()
                .take(width.saturating_sub(1))
                .collect::<String>()
                + "…";
        }
        text.push_str("\r\x1b[2K");
        text.push_str(&row);
        text.push('\n');
    }
    text
}

/// A board redrawn every 100 ms until [`Board::finish`].
pub struct Board {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 20)
        .unwrap_or(100)
}

fn redraw(state: &mut State) {
    let mut stderr = std::io::stderr().lock();
    let mut text = String::new();
    if state.drawn > 0 {
        text.push_str(&format!("\x1b[{}A", state.drawn));
    }
    let shown = visible(&state.rows, terminal_height().saturating_sub(2));
    text.push_str(&render(&shown, state.frame, terminal_width()));
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
    state.drawn = shown.len();
}

fn terminal_height() -> usize {
    std::env::var("LINES")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 5)
        .unwrap_or(30)
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
        let text = render(&rows, 0, 30);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "\r\x1b[2K⠋ auth     2 of 3 updated rep…");
        assert_eq!(lines[1], "\r\x1b[2K⠋ gateway  set image");
        assert!(render(&rows, 1, 100).contains("⠙ auth"));
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
