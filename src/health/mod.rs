//! HTTP health gates: after a service's rollout succeeded, ask it whether it really works, and
//! roll it back when it does not.
//!
//! The deciding parts are pure and tested without a network: [`HealthGate::from_settings`]
//! (config → gate, every mistake named with its key), [`judge_response`] (is this response
//! right), [`Progress`] (when is the gate over) and [`HealthReport::summary`]. [`run_gate`] is
//! the thin async edge that sends the requests and keeps time.
//!
//! Semantics follow Argo Rollouts / Flagger where they agree: non-2xx is not healthy by
//! default, connection problems (transport errors) are counted apart from wrong answers, and a
//! gate needs `success-threshold` consecutive passes within `attempts` tries.

mod forward;
mod judge;
mod outcome;
mod probe;

pub use forward::{LocalForward, PodTarget, choose_pod, service_selector};
pub use judge::{JsonCheck, MAX_BODY, StatusSet, body_excerpt, judge_response};
pub use outcome::{Attempt, AttemptOutcome, HealthReport, Progress, Verdict};
pub use probe::{client, run_gate, run_gate_explained};

use crate::config::model::{HealthSettings, JsonExpectation};
use reqwest::header::{HeaderName, HeaderValue};
use std::time::Duration;

/// Defaults, chosen so an unconfigured gate waits about half a minute for a slow starter.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_ATTEMPTS: u32 = 6;

/// An in-cluster gate: a pod's port reached through a port-forward (`health.port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The container port; with `service`, the Service's port (resolved to its `targetPort`).
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
    /// `health.service`: the Service whose port this is.
    pub service: Option<String>,
}

/// One service's gate, validated and with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthGate {
    /// What is requested. For a [`Forward`] gate, `http://127.0.0.1:<port><path>` until
    /// [`HealthGate::through_local`] points it at the forward's local address.
    pub url: String,
    /// `Some`: checked inside the cluster through a port-forward.
    pub forward: Option<Forward>,
    /// `GET`, `HEAD` or `POST`, upper case.
    pub method: String,
    /// Sent with every request. Values are treated as secrets: see [`HealthGate::secret_values`].
    pub headers: Vec<(String, String)>,
    pub expect: StatusSet,
    pub body_contains: Option<String>,
    pub json: Option<JsonCheck>,
    /// Per request, connection to last body byte.
    pub timeout: Duration,
    pub initial_delay: Duration,
    /// Start to start, so a slow request does not push the next one a whole interval back.
    pub interval: Duration,
    pub attempts: u32,
    /// Consecutive passes needed.
    pub success_threshold: u32,
    /// `false`: a failure warns instead of rolling back.
    pub critical: bool,
}

/// `health.method`, upper-cased; GET, HEAD or POST, and no body checks on HEAD.
fn checked_method(settings: &HealthSettings, errors: &mut Vec<String>) -> String {
    let method = settings
        .method
        .as_deref()
        .unwrap_or("GET")
        .trim()
        .to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "HEAD" | "POST") {
        errors.push(format!(
            "health.method: `{method}` is not supported: use GET (the default), HEAD or POST"
        ));
    }
    if method == "HEAD" && (settings.body_contains.is_some() || settings.json.is_some()) {
        errors.push(
            "health.method: HEAD responses have no body, so `body-contains` and \
             `json` can never match: use GET, or drop those checks"
                .to_string(),
        );
    }
    method
}

/// `health.headers`, names trimmed; a bad value is refused without showing it (a token).
fn checked_headers(settings: &HealthSettings, errors: &mut Vec<String>) -> Vec<(String, String)> {
    let headers: Vec<(String, String)> = settings
        .headers
        .iter()
        .map(|(name, value)| (name.trim().to_string(), value.clone()))
        .collect();
    for (name, value) in &headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            errors.push(format!(
                "health.headers: `{name}` is not a valid header name: use letters, digits \
                 and `-`, e.g. `Authorization` or `X-Api-Key`"
            ));
        } else if HeaderValue::from_str(value).is_err() {
            errors.push(format!(
                "health.headers.{name}: the value is not a valid header value (it has a \
                 line break, a control character or non-ASCII text); the value is not \
                 shown because header values are treated as secrets"
            ));
        }
    }
    headers
}

/// When and how often a gate probes, and how many passes it needs.
struct Schedule {
    timeout: Duration,
    initial_delay: Duration,
    interval: Duration,
    attempts: u32,
    success_threshold: u32,
}

/// The gate's [`Schedule`] with its defaults; one that could never pass is refused.
fn checked_schedule(settings: &HealthSettings, errors: &mut Vec<String>) -> Schedule {
    let pick = |value: &Option<serde_saphyr::Spanned<crate::config::model::Duration>>,
                default: Duration| value.as_ref().map_or(default, |d| d.value.0);
    let schedule = Schedule {
        timeout: pick(&settings.timeout, DEFAULT_TIMEOUT),
        initial_delay: pick(&settings.initial_delay, Duration::ZERO),
        interval: pick(&settings.interval, DEFAULT_INTERVAL),
        attempts: settings.attempts.unwrap_or(DEFAULT_ATTEMPTS),
        success_threshold: settings.success_threshold.unwrap_or(1),
    };
    let (attempts, success_threshold) = (schedule.attempts, schedule.success_threshold);
    if schedule.timeout.is_zero() {
        errors.push("health.timeout must be more than 0: write e.g. `5s` or `500ms`".to_string());
    }
    if schedule.interval.is_zero() && attempts > 1 {
        errors.push(
            "health.interval must be more than 0 when there are several attempts: \
             write e.g. `5s` or `500ms`"
                .to_string(),
        );
    }
    if attempts == 0 {
        errors.push("health.attempts must be at least 1 (the default is 6)".to_string());
    }
    if success_threshold == 0 {
        errors.push("health.success-threshold must be at least 1 (the default is 1)".to_string());
    } else if attempts > 0 && success_threshold > attempts {
        errors.push(format!(
            "health.success-threshold ({success_threshold}) is more than health.attempts \
             ({attempts}), so the gate could never pass: raise `attempts` or lower \
             `success-threshold`"
        ));
    }
    schedule
}

impl HealthGate {
    /// Validates `settings` and applies defaults. `url_override` is the local address (e.g. a
    /// port-forward, `http://127.0.0.1:41234`) used when the gate names an in-cluster `port`;
    /// `path` is appended to it. Every mistake is reported, one per line, each naming its key
    /// and the fix. Header values never appear in errors: they are usually tokens.
    pub fn from_settings(
        settings: &HealthSettings,
        url_override: Option<&str>,
    ) -> Result<HealthGate, String> {
        let mut errors = Vec::new();
        let (url, forward) = gate_target(settings, url_override).unwrap_or_else(|error| {
            errors.push(error);
            (String::new(), None)
        });
        let method = checked_method(settings, &mut errors);
        let headers = checked_headers(settings, &mut errors);
        let expect = match &settings.expect_status {
            None => StatusSet::default(),
            Some(expect) => StatusSet::parse(expect).unwrap_or_else(|error| {
                errors.push(error);
                StatusSet::default()
            }),
        };
        if settings.body_contains.as_deref() == Some("") {
            errors.push(
                "health.body-contains is empty, so it would match anything: give the \
                 text the body must contain, or remove the key"
                    .to_string(),
            );
        }
        let json = settings.json.as_ref().map(|json| {
            if let Err(error) = check_json(json) {
                errors.push(error);
            }
            JsonCheck {
                pointer: json.pointer.clone(),
                equals: json.equals.clone(),
                one_of: json.one_of.clone(),
                exists: json.exists,
            }
        });
        let schedule = checked_schedule(settings, &mut errors);
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        Ok(HealthGate {
            url,
            forward,
            method,
            headers,
            expect,
            body_contains: settings.body_contains.clone(),
            json,
            timeout: schedule.timeout,
            initial_delay: schedule.initial_delay,
            interval: schedule.interval,
            attempts: schedule.attempts,
            success_threshold: schedule.success_threshold,
            critical: settings.critical.unwrap_or(true),
        })
    }

    /// The header values, for `::add-mask::` before anything about the gate is logged: they
    /// are typically bearer tokens or API keys. Empty values are left out (masking "" is
    /// meaningless); duplicates appear once.
    pub fn secret_values(&self) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for (_, value) in &self.headers {
            let value = value.trim();
            if !value.is_empty() && !values.iter().any(|v| v == value) {
                values.push(value.to_string());
            }
        }
        values
    }

    /// What the gate checks, for logs and plans: the URL, or `port 8080 /health via
    /// port-forward` (`service auth port 80 …`).
    pub fn target(&self) -> String {
        match &self.forward {
            None => self.url.clone(),
            Some(forward) => format!(
                "{}port {} {} via port-forward",
                forward
                    .service
                    .as_ref()
                    .map(|s| format!("service {s} "))
                    .unwrap_or_default(),
                forward.port,
                forward.path
            ),
        }
    }

    /// This gate sending its requests to a forward's local address (`127.0.0.1:41234`).
    pub fn through_local(&self, local: std::net::SocketAddr) -> HealthGate {
        let mut gate = self.clone();
        if let Some(forward) = &self.forward {
            gate.url = format!("http://{local}{}", forward.path);
        }
        gate
    }

    /// The worst-case time the gate can take, for planning and for the log line announcing it.
    pub fn max_duration(&self) -> Duration {
        let rounds = self.attempts.saturating_sub(1);
        self.initial_delay
            .saturating_add(self.interval.max(self.timeout).saturating_mul(rounds))
            .saturating_add(self.timeout)
    }
}

/// A duration the way the config writes it: `5s`, `250ms`, `1m30s`, `2h`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_string();
    }
    let (hours, minutes, seconds, millis) = (
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000,
    );
    let mut out = String::new();
    for (value, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

/// The URL to request and, for an in-cluster gate, its [`Forward`]. `url_override`: a local
/// address the in-cluster `path` is appended to (a forward already open).
fn gate_target(
    settings: &HealthSettings,
    url_override: Option<&str>,
) -> Result<(String, Option<Forward>), String> {
    let in_cluster = settings.port.is_some()
        || settings.path.is_some()
        || settings.via.is_some()
        || settings.service.is_some();
    if let Some(url) = &settings.url {
        if in_cluster {
            return Err(
                "health: set either `url` (checked from the runner) or `port` and \
                 `path` (checked inside the cluster through a port-forward; `via`, `service` \
                 go with them), not both"
                    .to_string(),
            );
        }
        return Ok((check_url(url.trim(), "health.url")?, None));
    }
    let Some(port) = settings.port else {
        return Err(match (&settings.path, &settings.via, &settings.service) {
            (Some(_), _, _) => {
                "health.path needs `health.port` (the container port to \
                 check), or write the full address as `health.url`"
            }
            (_, Some(_), _) => {
                "health.via needs `health.port` (the container port to reach \
                 through the port-forward)"
            }
            (_, _, Some(_)) => {
                "health.service needs `health.port` (the Service's port, e.g. \
                 `80`)"
            }
            _ => {
                "health needs `url: https://…` (checked from the runner) or `port` and \
                 `path` (checked inside the cluster through a port-forward)"
            }
        }
        .to_string());
    };
    forward_target(settings, port, url_override)
}

/// [`gate_target`] of a gate with `port`.
fn forward_target(
    settings: &HealthSettings,
    port: u16,
    url_override: Option<&str>,
) -> Result<(String, Option<Forward>), String> {
    if port == 0 {
        return Err("health.port must be the container port to check (1-65535)".into());
    }
    if let Some(via) = settings.via.as_deref().map(str::trim)
        && via != "port-forward"
    {
        return Err(format!(
            "health.via: `{via}` is not supported: write `port-forward` (the default with \
             `port`)"
        ));
    }
    let service = match settings.service.as_deref().map(str::trim) {
        Some("") => {
            return Err(
                "health.service is empty: name the Service whose port `health.port` is, or \
                 remove the key to check the container port"
                    .to_string(),
            );
        }
        other => other.map(str::to_string),
    };
    let Some(path) = settings.path.as_deref().map(str::trim) else {
        return Err(format!(
            "health.port {port} needs `health.path`, the path to request (e.g. `/health`)"
        ));
    };
    if !path.starts_with('/') {
        return Err(format!(
            "health.path `{path}` must start with `/`: write `/{path}`"
        ));
    }
    let base = url_override.map_or_else(
        || format!("http://127.0.0.1:{port}"),
        |base| base.trim().trim_end_matches('/').to_string(),
    );
    let url = check_url(&format!("{base}{path}"), "health.path")?;
    let forward = Forward {
        port,
        path: path.to_string(),
        service,
    };
    Ok((url, Some(forward)))
}

fn check_url(url: &str, key: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        format!(
            "{key}: `{url}` is not a URL ({error}): write e.g. `https://api.example.com/healthz`"
        )
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // The URL is echoed in logs and summaries; do not repeat the credentials here either.
        return Err(format!(
            "{key}: the URL contains credentials: send them in `health.headers` (e.g. \
             `Authorization`), whose values are masked in logs"
        ));
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{key}: `{url}` must start with http:// or https://"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{key}: `{url}` has no host"));
    }
    Ok(url.to_string())
}

fn check_json(json: &JsonExpectation) -> Result<(), String> {
    let pointer = &json.pointer;
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!(
            "health.json.pointer `{pointer}` must start with `/` (RFC 6901, e.g. `/status` or \
             `/checks/0/ok`), or be \"\" for the whole body: write `/{pointer}`"
        ));
    }
    if json.exists == Some(false) && (json.equals.is_some() || json.one_of.is_some()) {
        return Err(
            "health.json: `exists: false` contradicts `equals`/`in`: an absent value \
             cannot equal anything; keep one of them"
                .to_string(),
        );
    }
    if json.one_of.as_ref().is_some_and(Vec::is_empty) {
        return Err(
            "health.json.in is an empty list, so nothing could match: list the accepted values"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
