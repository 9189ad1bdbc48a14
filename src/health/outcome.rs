//! What a gate run produced, and the pure arithmetic that decides when it is over.

use std::time::Duration;

/// How one request ended. A transport error (nothing usable came back) is told apart from a
/// wrong answer (the service answered, badly): the first points at networking or a pod that is
/// not listening, the second at the application (Argo Rollouts calls them Error vs Failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Passed { status: u16 },
    WrongAnswer { status: u16, reason: String },
    TransportError { error: String },
}

impl AttemptOutcome {
    pub fn passed(&self) -> bool {
        matches!(self, AttemptOutcome::Passed { .. })
    }

    /// The HTTP status, when one came back.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Passed { status } | AttemptOutcome::WrongAnswer { status, .. } => {
                Some(*status)
            }
            AttemptOutcome::TransportError { .. } => None,
        }
    }

    /// One phrase for a log line: `200 ok`, `status 503, expected 2xx`, `connect failed: …`.
    pub fn describe(&self) -> String {
        match self {
            AttemptOutcome::Passed { status } => format!("{status} ok"),
            AttemptOutcome::WrongAnswer { reason, .. } => reason.clone(),
            AttemptOutcome::TransportError { error } => error.clone(),
        }
    }
}

/// One request of a gate, recorded for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// When the request started, since the gate started (initial delay included).
    pub at: Duration,
    /// From sending the request to the end of the body (or the error / timeout).
    pub latency: Duration,
    pub outcome: AttemptOutcome,
    /// See [`super::body_excerpt`]; empty for transport errors.
    pub body_excerpt: String,
}

/// The result of one service's gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub url: String,
    pub passed: bool,
    /// A failed non-critical gate warns instead of rolling back.
    pub critical: bool,
    pub attempts: Vec<Attempt>,
    pub transport_errors: u32,
    pub wrong_answers: u32,
    /// From the gate's start (initial delay included) to its verdict.
    pub elapsed: Duration,
    /// The configured `attempts`; more than `attempts.len()` when the gate stopped early.
    pub max_attempts: u32,
    /// The configured `success-threshold` (consecutive passes needed).
    pub success_threshold: u32,
    /// How an in-cluster gate reached the service: `via port-forward to pod shop/auth-7d9f-x2k
    /// port 8080`; shown after the summary.
    pub through: Option<String>,
}

impl HealthReport {
    /// Builds the report from the attempts made, so the counters cannot disagree with them.
    pub fn new(
        url: String,
        critical: bool,
        attempts: Vec<Attempt>,
        elapsed: Duration,
        max_attempts: u32,
        success_threshold: u32,
    ) -> Self {
        let count = |f: fn(&AttemptOutcome) -> bool| {
            u32::try_from(attempts.iter().filter(|a| f(&a.outcome)).count()).unwrap_or(u32::MAX)
        };
        let transport_errors = count(|o| matches!(o, AttemptOutcome::TransportError { .. }));
        let wrong_answers = count(|o| matches!(o, AttemptOutcome::WrongAnswer { .. }));
        let passed = consecutive_passes(&attempts) >= success_threshold.max(1);
        HealthReport {
            url,
            passed,
            critical,
            attempts,
            transport_errors,
            wrong_answers,
            elapsed,
            max_attempts,
            success_threshold,
            through: None,
        }
    }

    /// One line: `passed after 3 attempts (2 transport errors)`, or
    /// `failed: 6 attempts, 4 wrong answers (status 503, expected 2xx), 2 transport errors
    /// (connection refused)`. The parentheses carry the latest reason of each kind, which is
    /// the one that matters when a service was still settling.
    pub fn summary(&self) -> String {
        let verdict = self.verdict();
        match &self.through {
            Some(through) => format!("{verdict} ({through})"),
            None => verdict,
        }
    }

    fn verdict(&self) -> String {
        let made = self.attempts.len();
        if self.passed {
            let mut extras = Vec::new();
            if self.wrong_answers > 0 {
                extras.push(plural(self.wrong_answers, "wrong answer"));
            }
            if self.transport_errors > 0 {
                extras.push(plural(self.transport_errors, "transport error"));
            }
            let extras = if extras.is_empty() {
                String::new()
            } else {
                format!(" ({})", extras.join(", "))
            };
            return format!("passed after {}{extras}", plural(made, "attempt"));
        }
        let mut parts = vec![if made < self.max_attempts as usize {
            format!("{made} of {} attempts", self.max_attempts)
        } else {
            plural(made, "attempt")
        }];
        let passes = made
            .saturating_sub(self.wrong_answers as usize)
            .saturating_sub(self.transport_errors as usize);
        if passes > 0 {
            parts.push(format!(
                "{passes} passed ({} in a row needed)",
                self.success_threshold
            ));
        }
        if self.wrong_answers > 0 {
            parts.push(format!(
                "{} ({})",
                plural(self.wrong_answers, "wrong answer"),
                self.last(|o| matches!(o, AttemptOutcome::WrongAnswer { .. }))
            ));
        }
        if self.transport_errors > 0 {
            parts.push(format!(
                "{} ({})",
                plural(self.transport_errors, "transport error"),
                self.last(|o| matches!(o, AttemptOutcome::TransportError { .. }))
            ));
        }
        format!("failed: {}", parts.join(", "))
    }

    fn last(&self, kind: fn(&AttemptOutcome) -> bool) -> String {
        self.attempts
            .iter()
            .rev()
            .find(|a| kind(&a.outcome))
            .map(|a| a.outcome.describe())
            .unwrap_or_default()
    }
}

fn consecutive_passes(attempts: &[Attempt]) -> u32 {
    let run = attempts
        .iter()
        .rev()
        .take_while(|a| a.outcome.passed())
        .count();
    u32::try_from(run).unwrap_or(u32::MAX)
}

fn plural(n: impl std::fmt::Display, noun: &str) -> String {
    if n.to_string() == "1" {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Where a gate stands after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `success_threshold` consecutive passes reached.
    Passed,
    /// The attempts left cannot reach the threshold any more (or none are left).
    Failed,
    Continue,
}

/// The stopping rule, apart from any clock: pass as soon as `threshold` consecutive attempts
/// passed; fail as soon as the remaining attempts, all passing, could not complete such a run,
/// so a gate that can no longer succeed does not keep the deploy waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    attempts: u32,
    threshold: u32,
    done: u32,
    consecutive: u32,
}

impl Progress {
    pub fn new(attempts: u32, threshold: u32) -> Self {
        Progress {
            attempts,
            threshold: threshold.max(1),
            done: 0,
            consecutive: 0,
        }
    }

    pub fn record(&mut self, passed: bool) -> Verdict {
        self.done = self.done.saturating_add(1);
        self.consecutive = if passed {
            self.consecutive.saturating_add(1)
        } else {
            0
        };
        if self.consecutive >= self.threshold {
            return Verdict::Passed;
        }
        let remaining = self.attempts.saturating_sub(self.done);
        if self.consecutive.saturating_add(remaining) < self.threshold {
            Verdict::Failed
        } else {
            Verdict::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a pass/fail sequence; returns the verdict and how many attempts it took.
    fn run(attempts: u32, threshold: u32, results: &str) -> (Verdict, usize) {
        let mut progress = Progress::new(attempts, threshold);
        for (i, c) in results.chars().enumerate() {
            let verdict = progress.record(c == '+');
            if verdict != Verdict::Continue {
                return (verdict, i + 1);
            }
        }
        (Verdict::Continue, results.len())
    }

    #[test]
    fn passes_as_soon_as_the_threshold_is_met() {
        assert_eq!(run(6, 1, "+"), (Verdict::Passed, 1));
        assert_eq!(run(6, 1, "--+"), (Verdict::Passed, 3));
        assert_eq!(run(5, 2, "-+-++"), (Verdict::Passed, 5));
        assert_eq!(run(3, 3, "+++"), (Verdict::Passed, 3));
    }

    #[test]
    fn fails_early_once_the_threshold_is_out_of_reach() {
        // 6 attempts, 3 in a row: after a failure at attempt 4 only 2 remain.
        assert_eq!(run(6, 3, "+-+-++"), (Verdict::Failed, 4));
        // A failure at attempt 3 still leaves exactly 3.
        assert_eq!(run(6, 3, "---+++"), (Verdict::Passed, 6));
        // Threshold equal to attempts: the first failure ends it.
        assert_eq!(run(4, 4, "++-"), (Verdict::Failed, 3));
        // A running streak counts towards what is still reachable.
        assert_eq!(run(4, 3, "-++"), (Verdict::Continue, 3));
        assert_eq!(run(4, 3, "-++-"), (Verdict::Failed, 4));
        assert_eq!(run(1, 1, "-"), (Verdict::Failed, 1));
        assert_eq!(run(6, 1, "------"), (Verdict::Failed, 6));
        assert_eq!(run(6, 1, "-----"), (Verdict::Continue, 5));
    }

    #[test]
    fn a_zero_threshold_behaves_as_one() {
        assert_eq!(run(2, 0, "-+"), (Verdict::Passed, 2));
    }

    fn attempt(number: u32, outcome: AttemptOutcome) -> Attempt {
        Attempt {
            number,
            at: Duration::from_millis(u64::from(number) * 10),
            latency: Duration::from_millis(1),
            outcome,
            body_excerpt: String::new(),
        }
    }
    fn refused() -> AttemptOutcome {
        AttemptOutcome::TransportError {
            error: "connection refused".to_string(),
        }
    }
    fn unavailable() -> AttemptOutcome {
        AttemptOutcome::WrongAnswer {
            status: 503,
            reason: "status 503, expected 2xx".to_string(),
        }
    }
    fn ok() -> AttemptOutcome {
        AttemptOutcome::Passed { status: 200 }
    }
    fn report(outcomes: Vec<AttemptOutcome>, max: u32, threshold: u32) -> HealthReport {
        let attempts = outcomes
            .into_iter()
            .zip(1..)
            .map(|(o, n)| attempt(n, o))
            .collect();
        HealthReport::new(
            "http://x/healthz".to_string(),
            true,
            attempts,
            Duration::from_secs(1),
            max,
            threshold,
        )
    }

    #[test]
    fn summaries() {
        let passed = report(vec![refused(), refused(), ok()], 6, 1);
        assert!(passed.passed);
        assert_eq!((passed.transport_errors, passed.wrong_answers), (2, 0));
        assert_eq!(
            passed.summary(),
            "passed after 3 attempts (2 transport errors)"
        );
        assert_eq!(report(vec![ok()], 6, 1).summary(), "passed after 1 attempt");
        assert_eq!(
            report(vec![unavailable(), refused(), ok()], 6, 1).summary(),
            "passed after 3 attempts (1 wrong answer, 1 transport error)"
        );

        let failed = report(
            vec![
                refused(),
                refused(),
                unavailable(),
                unavailable(),
                unavailable(),
                unavailable(),
            ],
            6,
            1,
        );
        assert!(!failed.passed);
        assert_eq!(
            failed.summary(),
            "failed: 6 attempts, 4 wrong answers (status 503, expected 2xx), \
             2 transport errors (connection refused)"
        );

        let early = report(vec![ok(), unavailable(), ok(), unavailable()], 6, 3);
        assert!(!early.passed);
        assert_eq!(
            early.summary(),
            "failed: 4 of 6 attempts, 2 passed (3 in a row needed), \
             2 wrong answers (status 503, expected 2xx)"
        );
        // Passes that end the list but fall short of the threshold are not a pass.
        assert!(!report(vec![unavailable(), ok()], 2, 2).passed);
    }
}
