//! Runs the jobs: at most `max-parallel` at once, output streamed live, and on a failure either
//! the rest finished (default) or cancelled (`fail-fast`). Every service gets a report.
//!
//! Builds run as tasks on a single-threaded `LocalSet`: they wait on processes and HTTP, never on
//! the CPU, and this keeps the registry and GitHub clients free of `Send` bounds.

use super::existing::{self, Lookup, Registry};
use super::jobs::{Action, Job};
use super::log::Log;
use super::process::{self, Cancel, Exit};
use super::workflow::{self, GitHub, Timing};
use super::{Outcome, ServiceReport, TAIL_LINES};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How the jobs run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// At most this many builds at once (at least 1).
    pub max_parallel: usize,
    /// Cancel the other builds on the first failure.
    pub fail_fast: bool,
    /// Whether images are pushed (re-tags are pushes too).
    pub push: bool,
    /// Where builds run (the repository root: plan paths are relative to it).
    pub workdir: PathBuf,
    /// Workflow builds: timeout and poll interval.
    pub timing: Timing,
}

/// What the builds may call out to.
pub struct Clients<R> {
    /// For `skip-existing` and for the digest of remote builds.
    pub registry: Option<R>,
    /// For workflow builds.
    pub github: Option<GitHub>,
}

/// The reports of a dry run: each job's command (the caller prints them), nothing run.
pub fn dry_run(jobs: &[Job]) -> Vec<ServiceReport> {
    jobs.iter()
        .map(|job| {
            let (outcome, note) = match &job.action {
                Action::Elsewhere => (Outcome::Elsewhere, None),
                Action::Skip(reason) => (Outcome::Skipped, Some(reason.clone())),
                _ => (
                    Outcome::DryRun,
                    job.skip_existing.then(|| {
                        format!(
                            "skip-existing: would first look up {}:{}",
                            job.service.image, job.service.lookup_tag
                        )
                    }),
                ),
            };
            report(job, outcome, None, Duration::ZERO, note, Vec::new())
        })
        .collect()
}

/// Runs every job; the reports come back in the jobs' order.
pub async fn run<R: Registry + 'static>(
    jobs: Vec<Job>,
    settings: Settings,
    log: Rc<Log>,
    clients: Clients<R>,
) -> Vec<ServiceReport> {
    let count = jobs.len();
    let (canceller, cancel) = process::cancellation();
    let canceller = Rc::new(canceller);
    let semaphore = Rc::new(Semaphore::new(settings.max_parallel.max(1)));
    let clients = Rc::new(clients);
    let settings = Rc::new(settings);
    log.begin();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let semaphore = semaphore.clone();
        let mut cancel = cancel.clone();
        let canceller = canceller.clone();
        let clients = clients.clone();
        let settings = settings.clone();
        let log = log.clone();
        tasks.spawn_local(async move {
            if !job.is_active() {
                // Nothing to run: no slot to wait for, nothing to cancel.
                return (
                    index,
                    run_job(&job, &settings, &log, &clients, cancel).await,
                );
            }
            let permit = tokio::select! {
                permit = semaphore.acquire() => permit.ok(),
                () = cancel.cancelled() => None,
            };
            let report = match permit {
                Some(_permit) if !cancel.is_cancelled() => {
                    let report = run_job(&job, &settings, &log, &clients, cancel).await;
                    if report.outcome == Outcome::Failed && settings.fail_fast {
                        canceller.cancel();
                    }
                    report
                }
                _ => report(
                    &job,
                    Outcome::Cancelled,
                    None,
                    Duration::ZERO,
                    Some("not started: another build failed (fail-fast)".into()),
                    Vec::new(),
                ),
            };
            (index, report)
        });
    }
    let mut reports: Vec<Option<ServiceReport>> = vec![None; count];
    while let Some(done) = tasks.join_next().await {
        if let Ok((index, report)) = done {
            reports[index] = Some(report);
        }
    }
    log.end();
    reports.into_iter().flatten().collect()
}

/// One job, from the registry lookup to its verdict.
async fn run_job<R: Registry>(
    job: &Job,
    settings: &Settings,
    log: &Log,
    clients: &Clients<R>,
    cancel: Cancel,
) -> ServiceReport {
    let started = Instant::now();
    let name = &job.service.name;
    if !job.is_active() {
        // Nothing runs: nothing to log (and no group to open in another build's output).
        let (outcome, note) = match &job.action {
            Action::Skip(reason) => (Outcome::Skipped, Some(reason.clone())),
            _ => (Outcome::Elsewhere, None),
        };
        return report(job, outcome, None, Duration::ZERO, note, Vec::new());
    }
    let reuse = job.skip_existing && clients.registry.is_some();
    let title = match reuse {
        true => format!(
            "reuse {}:{} if the registry has it, else {}",
            job.service.image,
            job.service.lookup_tag,
            job.command_line()
        ),
        false => job.command_line(),
    };
    log.started(name, &title);
    let mut notes: Vec<String> = Vec::new();
    if job.skip_existing
        && let Some(registry) = &clients.registry
    {
        match look_up_existing(job, registry, settings, log).await {
            Ok(note) => notes.extend(note),
            Err((outcome, digest, note)) => {
                log.finished(name, &note);
                return report(
                    job,
                    outcome,
                    digest,
                    started.elapsed(),
                    Some(note),
                    Vec::new(),
                );
            }
        }
    }
    let (outcome, mut digest, note, tail) = build(job, settings, log, clients, cancel).await;
    notes.extend(note);
    if outcome == Outcome::Built && digest.is_none() {
        digest = pushed_digest(job, clients, &mut notes).await;
    }
    let verdict = match &digest {
        Some(digest) => format!("{} ({digest})", outcome.describe()),
        None => outcome.describe().to_string(),
    };
    log.finished(
        name,
        &format!(
            "{verdict} in {}",
            crate::report::build::duration(started.elapsed())
        ),
    );
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    let tail = if outcome == Outcome::Failed {
        tail
    } else {
        Vec::new()
    };
    report(job, outcome, digest, started.elapsed(), note, tail)
}

/// `skip-existing`: `Err` ends the job here (the image exists, or the lookup failed), with its
/// outcome, digest and note; `Ok` builds, with a note to keep.
async fn look_up_existing<R: Registry>(
    job: &Job,
    registry: &R,
    settings: &Settings,
    log: &Log,
) -> Result<Option<String>, (Outcome, Option<String>, String)> {
    match existing::lookup(registry, &job.service, settings.push).await {
        Lookup::Exists { digest, note } => Err((Outcome::Existing, Some(digest), note)),
        Lookup::Failed(message) => Err((Outcome::Failed, None, message)),
        Lookup::Build { note } => {
            log.line(
                &job.service.name,
                note.as_deref().unwrap_or(&format!(
                    "{}:{} is not in the registry yet: building",
                    job.service.image, job.service.lookup_tag
                )),
            );
            Ok(note)
        }
    }
}

/// Runs the job's action: a local builder process or a remote workflow.
async fn build<R: Registry>(
    job: &Job,
    settings: &Settings,
    log: &Log,
    clients: &Clients<R>,
    cancel: Cancel,
) -> Verdict {
    match &job.action {
        Action::Elsewhere => (Outcome::Elsewhere, None, None, Vec::new()),
        Action::Skip(reason) => (Outcome::Skipped, None, Some(reason.clone()), Vec::new()),
        Action::Process {
            program,
            args,
            metadata_file,
        } => {
            run_process(
                job,
                program,
                args,
                metadata_file.as_deref(),
                settings,
                log,
                cancel,
            )
            .await
        }
        Action::Workflow(request) => match &clients.github {
            Some(github) => run_workflow(job, github, request, settings.timing, log, cancel).await,
            None => (
                Outcome::Failed,
                None,
                Some(
                    "a workflow build needs a GitHub token (--github-token) and GITHUB_REPOSITORY"
                        .into(),
                ),
                Vec::new(),
            ),
        },
    }
}

/// A remote builder pushed without telling the digest: the registry knows it.
async fn pushed_digest<R: Registry>(
    job: &Job,
    clients: &Clients<R>,
    notes: &mut Vec<String>,
) -> Option<String> {
    let remote = matches!(&job.action, Action::Workflow(_))
        || matches!(
            &job.action,
            Action::Process {
                metadata_file: None,
                ..
            }
        );
    let registry = clients.registry.as_ref().filter(|_| remote)?;
    let tag = job.service.tags.first()?;
    match registry.manifest_digest(&job.service.image, tag).await {
        Ok(found) => found,
        Err(e) => {
            notes.push(format!("digest unknown: {e}"));
            None
        }
    }
}

type Verdict = (Outcome, Option<String>, Option<String>, Vec<String>);

async fn run_process(
    job: &Job,
    program: &str,
    args: &[String],
    metadata_file: Option<&Path>,
    settings: &Settings,
    log: &Log,
    cancel: Cancel,
) -> Verdict {
    let name = &job.service.name;
    // A listed build secret that is not there fails this build before its builder starts.
    if let Some(message) = super::secrets::missing(&job.service, &settings.workdir, |variable| {
        std::env::var(variable).ok()
    }) {
        log.line(name, &message);
        return (Outcome::Failed, None, Some(message), Vec::new());
    }
    let finished = process::run(
        program,
        args,
        &settings.workdir,
        &job.environment,
        TAIL_LINES,
        |line| log.line(name, line),
        cancel,
    )
    .await;
    match finished.exit {
        Exit::Success => {
            let (digest, note) = match metadata_file.map(super::buildx::read_digest) {
                Some(Ok(digest)) => (digest, None),
                Some(Err(e)) => (None, Some(format!("digest unknown: {e}"))),
                None => (None, None),
            };
            let outcome = if settings.push {
                Outcome::Built
            } else {
                Outcome::BuiltNotPushed
            };
            // Nothing was pushed: a digest would name an image no registry has.
            let digest = digest.filter(|_| settings.push);
            (outcome, digest, note, finished.tail)
        }
        Exit::Failed(reason) => (Outcome::Failed, None, Some(reason), finished.tail),
        Exit::NotStarted(reason) => (Outcome::Failed, None, Some(reason), finished.tail),
        Exit::Cancelled => (
            Outcome::Cancelled,
            None,
            Some("stopped: another build failed (fail-fast)".into()),
            finished.tail,
        ),
    }
}

async fn run_workflow(
    job: &Job,
    github: &GitHub,
    request: &workflow::Request,
    timing: Timing,
    log: &Log,
    cancel: Cancel,
) -> Verdict {
    let name = &job.service.name;
    let mut lines: Vec<String> = Vec::new();
    let mut on_status = |line: &str| {
        log.line(name, line);
        lines.push(line.to_string());
    };
    let ending = workflow::build(github, request, timing, &mut on_status, cancel).await;
    let keep = lines.len().saturating_sub(TAIL_LINES);
    let tail = lines.split_off(keep);
    match ending {
        workflow::Ending::Succeeded { url, digest } => (Outcome::Built, digest, url, tail),
        workflow::Ending::Failed(message) => (Outcome::Failed, None, Some(message), tail),
        workflow::Ending::Cancelled => (
            Outcome::Cancelled,
            None,
            Some("stopped: another build failed (fail-fast)".into()),
            tail,
        ),
    }
}

/// A report for `job`.
pub fn report(
    job: &Job,
    outcome: Outcome,
    digest: Option<String>,
    duration: Duration,
    note: Option<String>,
    tail: Vec<String>,
) -> ServiceReport {
    let service = &job.service;
    ServiceReport {
        name: service.name.clone(),
        image: service.image.clone(),
        tags: service.tags.clone(),
        refs: service.refs.clone(),
        builder: service.build.builder,
        outcome,
        digest,
        duration,
        note,
        command: match job.action {
            Action::Process { .. } | Action::Workflow(_) => Some(job.command_line()),
            _ => None,
        },
        tail,
    }
}
