//! Writes that must happen (a rollback patch, the lease's release and renewal) are retried on
//! what a healthy retry can cure — a 5xx, a 429, no answer at all — with exponential backoff,
//! each attempt bounded, so a sick API server or a trickling connection costs seconds, not the
//! change. A refusal (4xx) is returned at once: trying again would get the same answer.

use super::cluster::ApiError;
use std::future::Future;
use std::time::Duration;

/// How often and how patiently to try.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Bounds each attempt (a peer that trickles bytes never finishes on its own).
    pub per_attempt: Duration,
}

/// For writes that must happen: 6 attempts over about 10 s of waiting.
pub const MUST_HAPPEN: Backoff = Backoff {
    attempts: 6,
    first_delay: Duration::from_millis(300),
    max_delay: Duration::from_secs(4),
    per_attempt: Duration::from_secs(15),
};

impl Backoff {
    /// The wait before attempt `n + 1` (after attempt `n`, from 1): doubling, capped. Pure.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Whether another attempt may succeed: a server error, throttling, a timeout, or no answer
/// (the connection failed or was cut). Pure.
pub fn is_transient(error: &ApiError) -> bool {
    match error.code {
        Some(code) => code >= 500 || code == 429 || code == 408,
        None => {
            error.message.starts_with("cannot reach the Kubernetes API")
                || error.message.starts_with("no answer within")
        }
    }
}

/// Runs `call` until it succeeds, fails for good, or the attempts are used up; the last error
/// says how many attempts were made.
pub async fn retry<T, F, Fut>(backoff: &Backoff, mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match tokio::time::timeout(backoff.per_attempt, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) => ApiError {
                code: None,
                message: format!("no answer within {}", whole_seconds(backoff.per_attempt)),
            },
        };
        if !is_transient(&error) {
            return Err(error);
        }
        if attempt >= backoff.attempts {
            return Err(ApiError {
                code: error.code,
                message: format!("{} (after {attempt} attempts)", error.message),
            });
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
    }
}

/// Bounds a single call (reads the deploy cannot do without, such as the first version check).
pub async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(ApiError {
            code: None,
            message: format!("no answer within {}", whole_seconds(limit)),
        })
    })
}

/// `2s` for 1.99 s: what was left of a deadline reads as the deadline given.
fn whole_seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64().ceil())
}

/// What is left of the deploy's deadline (`None`: no global bound), never more than a year.
pub fn remaining(deadline: Option<Duration>, started: std::time::Instant) -> Duration {
    const UNBOUNDED: Duration = Duration::from_secs(365 * 24 * 3600);
    deadline
        .filter(|d| !d.is_zero())
        .map_or(UNBOUNDED, |d| d.saturating_sub(started.elapsed()))
        .min(UNBOUNDED)
}

/// The preflight checks, inside what is left of `deploy-timeout`; when they overrun, one
/// problem says so (and nothing is changed).
pub async fn preflight_within<T>(
    limit: Duration,
    checks: impl Future<Output = Vec<Result<T, Vec<super::preflight::Problem>>>>,
) -> Vec<Result<T, Vec<super::preflight::Problem>>> {
    match tokio::time::timeout(limit, checks).await {
        Ok(checks) => checks,
        Err(_) => vec![Err(vec![super::preflight::Problem {
            service: "cluster".into(),
            message: format!(
                "the preflight checks did not finish within the deploy timeout ({}s left): the Kubernetes API answers too slowly",
                limit.as_secs()
            ),
            help: Some("check the API server's health and the network path from the runner, or raise deploy-timeout".into()),
        }])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn error(code: Option<u16>, message: &str) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    const FAST: Backoff = Backoff {
        attempts: 4,
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        per_attempt: Duration::from_millis(200),
    };

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn server_errors_and_lost_connections_are_retried_refusals_are_not() {
        assert!(is_transient(&error(Some(503), "x")));
        assert!(is_transient(&error(Some(429), "x")));
        assert!(is_transient(&error(
            None,
            "cannot reach the Kubernetes API: reset"
        )));
        assert!(!is_transient(&error(Some(409), "conflict")));
        assert!(!is_transient(&error(Some(403), "forbidden")));
        assert!(!is_transient(&error(None, "cannot authenticate")));
    }

    #[test]
    fn backoff_doubles_and_saturates() {
        assert_eq!(MUST_HAPPEN.delay(1), Duration::from_millis(300));
        assert_eq!(MUST_HAPPEN.delay(2), Duration::from_millis(600));
        assert_eq!(MUST_HAPPEN.delay(5), Duration::from_secs(4));
        assert_eq!(MUST_HAPPEN.delay(u32::MAX), Duration::from_secs(4));
    }

    #[test]
    fn a_write_is_retried_until_it_succeeds() {
        let calls = Cell::new(0);
        let result = runtime().block_on(retry(&FAST, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(error(Some(503), "unavailable"))
                } else {
                    Ok(n)
                }
            }
        }));
        assert_eq!(result.unwrap(), 3);
    }

    #[test]
    fn attempts_are_bounded_and_counted_in_the_error() {
        let calls = Cell::new(0);
        let result: Result<(), ApiError> = runtime().block_on(retry(&FAST, || {
            calls.set(calls.get() + 1);
            async { Err(error(Some(500), "boom")) }
        }));
        assert_eq!(calls.get(), 4);
        assert_eq!(result.unwrap_err().message, "boom (after 4 attempts)");
        let calls = Cell::new(0);
        let refused: Result<(), ApiError> = runtime().block_on(retry(&FAST, || {
            calls.set(calls.get() + 1);
            async { Err(error(Some(422), "invalid")) }
        }));
        assert_eq!(calls.get(), 1);
        assert_eq!(refused.unwrap_err().message, "invalid");
    }

    #[test]
    fn a_stalled_attempt_is_cut_and_retried() {
        let calls = Cell::new(0);
        let result = runtime().block_on(retry(&FAST, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n == 1 {
                    std::future::pending::<()>().await;
                }
                Ok(n)
            }
        }));
        assert_eq!(result.unwrap(), 2);
    }
}
