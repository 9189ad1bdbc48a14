//! The deploy as a whole: lock, preflight, then wave by wave every service at once — patch,
//! watch, diagnose, health gate, roll back — and the rollbacks `rollback-all` asks for.

use super::client::Usage;
use super::cluster::Cluster;
use super::hub::{Hub, Subject};
use super::lock::LockWatch;
use super::patch::Stamp;
use super::preflight::{self, Problem, Ready};
use super::result::ServiceResult;
use super::retry::{bounded, preflight_within, remaining};
use super::rollback::Follow;
use super::service::{self, Finished, Run};
use super::settle::{Change, Happened};
use super::target::{DeployTarget, waves};
use crate::config::model::OnFailure;
use futures::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Extra time beyond a workload's progress deadline before shipgate gives up on its own.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);
/// kubectl's default `progressDeadlineSeconds`, used for workloads without one.
pub const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(600);
/// Bounds the first call (the server's version) even without a `deploy-timeout`.
pub const FIRST_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines kept per failed service.
pub const LOG_LINES: usize = 25;

/// Receives progress lines: `(service, text)`.
pub type Progress = Arc<dyn Fn(&str, &str) + Send + Sync>;

pub struct Options {
    pub dry_run: bool,
    pub skip_health: bool,
    pub continue_on_failure: bool,
    pub lock_timeout: Duration,
    pub lock_poll: Duration,
    /// Who holds the lock: the run URL, or host and pid locally.
    pub holder: String,
    pub run_url: Option<String>,
    /// Bounds the whole deploy; `None`: only each service's timeout.
    pub deadline: Option<Duration>,
    /// The least time between two progress lines of one service.
    pub throttle: Duration,
    pub unschedulable_grace: Duration,
}

/// Everything the deploy found and did.
#[derive(Debug, Default)]
pub struct Report {
    pub server_version: Option<String>,
    pub server: String,
    pub namespaces: Vec<String>,
    /// Preflight problems: when not empty, nothing was changed.
    pub problems: Vec<Problem>,
    /// The lock could not be taken: nothing was changed.
    pub lock_error: Option<String>,
    pub notices: Vec<String>,
    pub services: Vec<ServiceResult>,
    pub elapsed: Duration,
    /// What the run cost the Kubernetes API (none without a cluster).
    pub api: Option<Usage>,
}

impl Report {
    /// Whether anything failed that makes the step fail.
    pub fn failed(&self) -> bool {
        !self.problems.is_empty()
            || self.lock_error.is_some()
            || self.services.iter().any(|s| s.status.is_failure())
    }
}

/// Runs the deploy of `targets`; `skipped` are planned services without `deploy` settings.
/// Steps: the cluster answers → the lock of every namespace → preflight → the shared watches
/// → wave after wave → the lock released (one place, [`LockGuard`]) → the report. The version
/// check, the lock and the preflight run inside `deploy-timeout` and use it up too.
pub async fn deploy(
    cluster: &Cluster,
    targets: &[DeployTarget],
    skipped: Vec<ServiceResult>,
    options: &Options,
    registry: &crate::registry::RegistryClient,
    progress: Progress,
) -> Report {
    let started = Instant::now();
    let mut report = Report {
        server: cluster.server.clone(),
        namespaces: namespaces(cluster, targets),
        ..Report::default()
    };
    let first_call = remaining(options.deadline, started).min(FIRST_CALL_TIMEOUT);
    let services = match bounded(first_call, cluster.version()).await {
        Ok(version) => {
            report.server_version = Some(version);
            match take_lock(cluster, targets, options, started, &progress, &mut report).await {
                Some(lock) => {
                    let stops = Stops {
                        started,
                        deadline: options.deadline,
                        lock: lock.watch(),
                    };
                    let services = locked(
                        cluster,
                        targets,
                        options,
                        registry,
                        &progress,
                        stops,
                        &mut report,
                    )
                    .await;
                    report.notices.extend(lock.release().await);
                    services
                }
                None => Vec::new(),
            }
        }
        Err(error) => {
            report.problems.push(Problem {
                service: "cluster".into(),
                message: format!("the Kubernetes API at {} does not answer: {error}", cluster.server),
                help: Some("check the kubeconfig's server address, the network path from the runner, and the credentials".into()),
            });
            Vec::new()
        }
    };
    report.services = services.into_iter().chain(skipped).collect();
    report.api = Some(cluster.usage());
    if let Some(warning) = report.api.as_ref().and_then(api_warning) {
        report.notices.push(warning);
    }
    report.elapsed = started.elapsed();
    report
}

/// The namespaces the targets deploy to, sorted.
fn namespaces(cluster: &Cluster, targets: &[DeployTarget]) -> Vec<String> {
    let mut namespaces: Vec<String> = targets
        .iter()
        .map(|t| {
            t.namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone())
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

/// Holds the deploy lock (none in a dry run) until [`LockGuard::release`]. Dropped without it —
/// a future dropped mid-way — it still releases, in the background (a lease left behind is
/// then told on stderr, there being no report to tell it in).
struct LockGuard(Option<super::lock::Lock>);

impl LockGuard {
    /// Tells when the lock is lost while held (`None`: no lock is held).
    fn watch(&self) -> Option<LockWatch> {
        self.0.as_ref().map(super::lock::Lock::watch)
    }

    /// Releases the leases; a warning per lease left behind, for the report.
    async fn release(mut self) -> Vec<String> {
        match self.0.take() {
            Some(lock) => lock.release().await,
            None => Vec::new(),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(lock) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                for notice in lock.release().await {
                    crate::runner::write_stderr(&format!("{notice}\n"));
                }
            });
        }
    }
}

/// Takes the lock of every namespace, inside what is left of `deploy-timeout`; `None` (and
/// `report.lock_error`) when it cannot.
async fn take_lock(
    cluster: &Cluster,
    targets: &[DeployTarget],
    options: &Options,
    started: Instant,
    progress: &Progress,
    report: &mut Report,
) -> Option<LockGuard> {
    if options.dry_run || targets.is_empty() {
        return Some(LockGuard(None));
    }
    let notices = std::sync::Mutex::new(Vec::new());
    let taken = super::lock::acquire_within(
        remaining(options.deadline, started),
        cluster,
        &report.namespaces,
        &options.holder,
        options.lock_timeout,
        options.lock_poll,
        |line| {
            progress("lock", line);
            if let Ok(mut n) = notices.lock() {
                n.push(line.to_string());
            }
        },
    )
    .await;
    report
        .notices
        .extend(notices.into_inner().unwrap_or_default());
    match taken {
        Ok(lock) => Some(LockGuard(Some(lock))),
        Err(error) => {
            report.lock_error = Some(error.to_string());
            None
        }
    }
}

/// Everything under the lock: preflight, the shared watches, the waves.
async fn locked(
    cluster: &Cluster,
    targets: &[DeployTarget],
    options: &Options,
    registry: &crate::registry::RegistryClient,
    progress: &Progress,
    stops: Stops,
    report: &mut Report,
) -> Vec<ServiceResult> {
    let within = stops.remaining();
    let ready = match preflight_all(cluster, targets, options, registry, within).await {
        Ok(ready) => ready,
        Err(problems) => {
            report.problems = problems;
            return Vec::new();
        }
    };
    let hub = (!options.dry_run).then(|| {
        let subjects: Vec<Subject> = targets
            .iter()
            .zip(&ready)
            .map(|(t, r)| Subject::of(t.kind, &r.namespace, &t.name, &r.workload))
            .collect();
        Hub::start(cluster, &subjects)
    });
    let run = Run {
        cluster,
        hub: hub.as_ref(),
        options,
        started: Instant::now(),
        progress: progress.clone(),
    };
    let (finished, interruption) = run_waves(&run, targets, &ready, &stops).await;
    if let Some(interruption) = &interruption {
        report.notices.push(interruption.notice(options));
    }
    if let Some(hub) = &hub {
        report.notices.extend(watch_notices(hub));
    }
    finished.into_iter().map(|f| f.result).collect()
}

/// Preflight of every target at once, within `limit` (what is left of `deploy-timeout`); every
/// problem of every target, or what is ready.
async fn preflight_all(
    cluster: &Cluster,
    targets: &[DeployTarget],
    options: &Options,
    registry: &crate::registry::RegistryClient,
    limit: Duration,
) -> Result<Vec<Ready>, Vec<Problem>> {
    let stamp = Stamp {
        run_url: options.run_url.clone(),
        now: k8s_openapi::jiff::Timestamp::now().to_string(),
    };
    let checks = preflight_within(
        limit,
        join_all(
            targets
                .iter()
                .map(|t| preflight::check(cluster, t, &stamp, registry)),
        ),
    )
    .await;
    let mut ready = Vec::new();
    let mut problems = Vec::new();
    for check in checks {
        match check {
            Ok(r) => ready.push(r),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() {
        Ok(ready)
    } else {
        Err(problems)
    }
}

/// The waves, in order, each service of a wave at once, until one of the [`Stops`] or
/// SIGINT/SIGTERM interrupts them; what an interruption left unfinished is put back.
async fn run_waves(
    run: &Run<'_>,
    targets: &[DeployTarget],
    ready: &[Ready],
    stops: &Stops,
) -> (Vec<Finished>, Option<Interruption>) {
    let mut results: Vec<Option<Finished>> = vec![None; targets.len()];
    // The services whose wave started: their patch may have been sent.
    let dispatched = std::cell::RefCell::new(Vec::new());
    let work = async {
        let mut stop = false;
        for (wave, members) in waves(targets) {
            if stop {
                for &index in &members {
                    results[index] = Some(skipped(&targets[index], wave, "an earlier wave failed"));
                }
                continue;
            }
            dispatched.borrow_mut().extend(members.iter().copied());
            stop = run_wave(run, targets, ready, &members, &mut results).await;
        }
    };
    // Dropping `work` on an interruption stops every service's steps: no new patch is sent.
    let interrupted = tokio::select! {
        () = work => None,
        () = stops.deadline() => Some(Interruption::Deadline),
        () = shutdown_signal() => Some(Interruption::Cancelled),
        reason = stops.lock_lost() => Some(Interruption::LockLost { reason }),
    };
    if let Some(interruption) = &interrupted {
        let dispatched = dispatched.into_inner();
        let unfinished: Vec<usize> = (0..targets.len())
            .filter(|&i| results[i].is_none() && dispatched.contains(&i))
            .collect();
        let put_back = join_all(unfinished.iter().map(|&i| {
            service::interrupted(
                run,
                &targets[i],
                &ready[i],
                interruption.reason(),
                interruption.follow(),
            )
        }))
        .await;
        for (&i, finished) in unfinished.iter().zip(put_back) {
            results[i] = Some(finished);
        }
    }
    let finished = results
        .into_iter()
        .zip(targets)
        .map(|(result, target)| {
            result.unwrap_or_else(|| {
                let reason = interrupted
                    .as_ref()
                    .map_or("not deployed", Interruption::reason);
                skipped(target, target.wave, reason)
            })
        })
        .collect();
    (finished, interrupted)
}

/// One wave: its services at once, then `rollback-all` if one of them asks for it. True when
/// the next waves must not start.
async fn run_wave(
    run: &Run<'_>,
    targets: &[DeployTarget],
    ready: &[Ready],
    members: &[usize],
    results: &mut [Option<Finished>],
) -> bool {
    let outcomes = join_all(
        members
            .iter()
            .map(|&i| service::deploy_one(run, &targets[i], &ready[i])),
    )
    .await;
    for (&index, outcome) in members.iter().zip(outcomes) {
        results[index] = Some(outcome);
    }
    let failed: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| {
            results[i]
                .as_ref()
                .is_some_and(|f| f.result.status.is_failure())
        })
        .collect();
    if failed
        .iter()
        .any(|&i| targets[i].on_failure == OnFailure::RollbackAll)
    {
        roll_back_all(run, targets, ready, results).await;
    }
    !failed.is_empty() && !run.options.continue_on_failure
}

/// `rollback-all`: every service this run changed and has not rolled back yet, through the one
/// rollback path.
async fn roll_back_all(
    run: &Run<'_>,
    targets: &[DeployTarget],
    ready: &[Ready],
    results: &mut [Option<Finished>],
) {
    let rollbacks = results.iter_mut().enumerate().filter_map(|(i, finished)| {
        let finished = finished.as_mut()?;
        finished.happened.rollback_requested = true;
        Some(finished.roll_back_if_due(run, &targets[i], &ready[i]))
    });
    join_all(rollbacks).await;
}

fn skipped(target: &DeployTarget, wave: u32, reason: &str) -> Finished {
    Finished {
        result: ServiceResult::skipped(&target.service, wave, reason),
        happened: Happened::new(Change::NotNeeded),
    }
}

/// Watches that could not be established, once per namespace and kind.
fn watch_notices(hub: &Hub) -> Vec<String> {
    hub.health()
        .into_iter()
        .filter_map(|(namespace, feed, health)| {
            let reason = health.unavailable?;
            Some(format!(
                "warning: the watch of {} in namespace `{namespace}` could not be established ({reason})",
                feed.resource()
            ))
        })
        .collect()
}

/// A warning with the numbers when the API pushed back or watches failed.
pub fn api_warning(usage: &Usage) -> Option<String> {
    usage.degraded().then(|| {
        format!(
            "warning: the Kubernetes API pushed back: {} throttled (429), {} retried, {} watch error{} (each watch resumed or re-listed)",
            usage.throttled,
            usage.retried,
            usage.watch_errors,
            if usage.watch_errors == 1 { "" } else { "s" }
        )
    })
}

/// What interrupts the waves besides SIGINT/SIGTERM: `deploy-timeout`, counted from the start
/// of the deploy (the version check, the lock and the preflight used some of it), and the loss
/// of the deploy lock.
struct Stops {
    started: Instant,
    deadline: Option<Duration>,
    /// `None`: no lock is held (a dry run).
    lock: Option<LockWatch>,
}

impl Stops {
    /// What is left of `deploy-timeout`.
    fn remaining(&self) -> Duration {
        remaining(self.deadline, self.started)
    }

    /// Resolves when `deploy-timeout` has elapsed (never without one).
    async fn deadline(&self) {
        match self.deadline {
            Some(deadline) if !deadline.is_zero() => {
                tokio::time::sleep(deadline.saturating_sub(self.started.elapsed())).await;
            }
            _ => std::future::pending().await,
        }
    }

    /// Resolves with the reason once the lock is taken over or cannot be renewed.
    async fn lock_lost(&self) -> String {
        match self.lock.clone() {
            Some(watch) => watch.lost().await,
            None => std::future::pending().await,
        }
    }
}

/// Why the deploy stopped before every service finished.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interruption {
    Deadline,
    Cancelled,
    /// The deploy lock was taken over or could not be renewed.
    LockLost {
        reason: String,
    },
}

impl Interruption {
    fn notice(&self, options: &Options) -> String {
        match self {
            Interruption::Deadline => format!(
                "warning: the deploy timeout ({}s) elapsed: unfinished services are failed and what they changed is rolled back",
                options.deadline.unwrap_or_default().as_secs()
            ),
            Interruption::Cancelled => "warning: the run was cancelled: unfinished services are failed and what they changed is rolled back".into(),
            Interruption::LockLost { reason } => format!(
                "warning: {reason}: this run stopped sending changes, puts back what it changed and fails"
            ),
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Interruption::Deadline => "the global deploy timeout elapsed before it finished",
            Interruption::Cancelled => "the run was cancelled (SIGINT/SIGTERM) before it finished",
            Interruption::LockLost { .. } => {
                "the deploy lock was lost before it finished (see the warning); no more changes were sent"
            }
        }
    }

    /// A cancelled job is killed seconds later: its rollbacks are only sent. Otherwise they are
    /// watched to completion.
    fn follow(&self) -> Follow {
        match self {
            Interruption::Cancelled => Follow::SendOnly,
            Interruption::Deadline | Interruption::LockLost { .. } => Follow::UntilComplete,
        }
    }
}

/// Resolves on SIGINT or SIGTERM (a cancelled GitHub job sends both, seconds apart).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(terminate) => {
                    terminate.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(used: Duration, deadline: Option<Duration>) -> Stops {
        Stops {
            started: Instant::now().checked_sub(used).unwrap(),
            deadline,
            lock: None,
        }
    }

    #[tokio::test]
    async fn the_deadline_counts_what_the_version_check_lock_and_preflight_used() {
        let spent = stops(Duration::from_secs(10), Some(Duration::from_secs(5)));
        assert_eq!(spent.remaining(), Duration::ZERO);
        // Already elapsed: the waves are interrupted at once, not 5 s after they start.
        tokio::time::timeout(Duration::from_secs(2), spent.deadline())
            .await
            .unwrap();
        let left = stops(Duration::from_secs(10), Some(Duration::from_secs(60)));
        assert!(left.remaining() <= Duration::from_secs(50));
        assert!(left.remaining() > Duration::from_secs(40));
    }

    #[tokio::test]
    async fn without_a_deadline_or_a_lock_nothing_interrupts() {
        let unbounded = stops(Duration::ZERO, None);
        assert!(unbounded.remaining() > Duration::from_secs(3600));
        let quiet = async {
            tokio::select! {
                () = unbounded.deadline() => "deadline",
                _ = unbounded.lock_lost() => "lock lost",
            }
        };
        assert!(
            tokio::time::timeout(Duration::from_millis(200), quiet)
                .await
                .is_err()
        );
    }

    #[test]
    fn only_a_cancelled_run_leaves_its_rollbacks_unwatched() {
        assert_eq!(Interruption::Cancelled.follow(), Follow::SendOnly);
        assert_eq!(Interruption::Deadline.follow(), Follow::UntilComplete);
        let lost = Interruption::LockLost {
            reason: "the deploy lock of namespace `shop` was taken over by run/2".into(),
        };
        assert_eq!(lost.follow(), Follow::UntilComplete);
        let options = Options {
            dry_run: false,
            skip_health: false,
            continue_on_failure: false,
            lock_timeout: Duration::ZERO,
            lock_poll: Duration::ZERO,
            holder: String::new(),
            run_url: None,
            deadline: None,
            throttle: Duration::ZERO,
            unschedulable_grace: Duration::ZERO,
        };
        assert_eq!(
            lost.notice(&options),
            "warning: the deploy lock of namespace `shop` was taken over by run/2: this run stopped sending changes, puts back what it changed and fails"
        );
    }
}
