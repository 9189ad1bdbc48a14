//! The deploy lock: one `coordination.k8s.io/v1` Lease named `shipgate-lock` in every namespace
//! being deployed, so two runs never deploy the same namespace at once. Taken in sorted
//! namespace order (no deadlock between two runs), renewed every 20 s, deleted on release; a
//! lease nobody renewed for its duration is taken over with a warning naming its holder.
//!
//! The holder checks every renewal: a lease found taken over or deleted, or renewals failing
//! until the lease may have expired for others, marks the lock lost ([`LockWatch`]); the deploy
//! then sends no new patch, puts back what it changed and fails. Expiry is judged from the
//! lease's own fields with a margin for clock skew, or from having watched it unchanged for its
//! whole duration on the local monotonic clock (client-go's leader election does the same), so
//! a runner whose clock runs ahead cannot take a live lock.

use super::cluster::{ApiError, Cluster};
use super::retry;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use std::time::Duration;

pub const LEASE_NAME: &str = "shipgate-lock";
pub const LEASE_SECONDS: i32 = 60;
pub const RENEW_EVERY: Duration = Duration::from_secs(20);
/// Clocks of two runners may disagree by this much; a lease is judged expired from its
/// `renewTime` only beyond its duration plus this margin.
pub const CLOCK_SKEW_MARGIN: Duration = Duration::from_secs(15);
/// After this many renewals failed in a row the lock counts as lost (with the default period,
/// 60 s: the lease's whole duration).
pub const RENEWAL_FAILURES_LOST: u32 = 3;
/// Bounds every lease call (a stalled API server must not stall the lock).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "namespace `{namespace}` is being deployed by {holder}; waited {waited}s for its deploy lock (Lease {LEASE_NAME})"
    )]
    Busy {
        namespace: String,
        holder: String,
        waited: u64,
    },
    #[error(
        "the deploy timeout elapsed while taking the deploy lock (Lease {LEASE_NAME}) after {waited}s"
    )]
    Deadline { waited: u64 },
    #[error(
        "cannot take the deploy lock (Lease {LEASE_NAME}) in namespace `{namespace}`: {error}{}",
        lease_rights_hint(error, namespace)
    )]
    Api { namespace: String, error: ApiError },
}

/// [`RENEW_EVERY`], or `SHIPGATE_LOCK_RENEW` (tests watch a renewal happen).
fn renew_every() -> Duration {
    crate::context::RunnerEnvironment::current()
        .tuning
        .lock_renew
        .unwrap_or(RENEW_EVERY)
}

/// What to grant when the lock was refused for lack of rights.
fn lease_rights_hint(error: &ApiError, namespace: &str) -> String {
    if error.code == Some(403) {
        format!(
            "; the deployer needs [create, get, update, delete] on leases.coordination.k8s.io in `{namespace}`"
        )
    } else {
        String::new()
    }
}

/// Held leases; renewed in the background until released.
pub struct Lock {
    cluster: Cluster,
    holder: String,
    namespaces: Vec<String>,
    renewer: tokio::task::JoinHandle<()>,
    lost: tokio::sync::watch::Receiver<Option<String>>,
}

/// Tells whether (and why) the lock was lost while held. Cheap to clone.
#[derive(Clone)]
pub struct LockWatch(tokio::sync::watch::Receiver<Option<String>>);

impl LockWatch {
    /// Why the lock was lost, if it was.
    pub fn lost_because(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Resolves with the reason once the lock is lost (never, while it is held).
    pub async fn lost(mut self) -> String {
        loop {
            if let Some(reason) = self.0.borrow_and_update().clone() {
                return reason;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// What a lease says about who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    Free,
    Ours,
    Held { holder: String },
    Expired { holder: String },
}

/// Reads a lease: free when nobody holds it, expired when nobody renewed it in time — judged
/// from its own `renewTime` and `leaseDurationSeconds` plus [`CLOCK_SKEW_MARGIN`], or from
/// `unchanged_for`: how long this process has watched it without any change (monotonic, immune
/// to clock skew). Pure.
pub fn lease_state(
    lease: &Lease,
    holder: &str,
    now: Timestamp,
    unchanged_for: Duration,
) -> LeaseState {
    let Some(spec) = &lease.spec else {
        return LeaseState::Free;
    };
    let Some(current) = spec.holder_identity.clone().filter(|h| !h.is_empty()) else {
        return LeaseState::Free;
    };
    if current == holder {
        return LeaseState::Ours;
    }
    let duration = u64::try_from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS))
        .unwrap_or(0)
        .max(1);
    if unchanged_for >= Duration::from_secs(duration) {
        return LeaseState::Expired { holder: current };
    }
    let last = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    let limit = duration.saturating_add(CLOCK_SKEW_MARGIN.as_secs());
    match last {
        Some(last)
            if now.as_second().saturating_sub(last.as_second())
                <= i64::try_from(limit).unwrap_or(i64::MAX) =>
        {
            LeaseState::Held { holder: current }
        }
        _ => LeaseState::Expired { holder: current },
    }
}

/// A lease's resourceVersion and renewTime.
type Record = (Option<String>, Option<String>);

/// What identifies one version of a lease record: when it changes, someone renewed it.
fn record(lease: &Lease) -> Record {
    (
        lease.metadata.resource_version.clone(),
        lease
            .spec
            .as_ref()
            .and_then(|s| s.renew_time.as_ref())
            .map(|t| t.0.to_string()),
    )
}

fn spec(holder: &str, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(holder.to_string()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..Default::default()
    }
}

/// Takes the lock of every namespace (sorted), waiting up to `timeout` for each. `notice`
/// receives "waiting for …" and "took over …" lines.
pub async fn acquire(
    cluster: &Cluster,
    namespaces: &[String],
    holder: &str,
    timeout: Duration,
    poll: Duration,
    mut notice: impl FnMut(&str),
) -> Result<Lock, LockError> {
    let mut sorted: Vec<String> = namespaces.to_vec();
    sorted.sort();
    sorted.dedup();
    let started = std::time::Instant::now();
    let mut taken = Vec::new();
    for namespace in &sorted {
        match take(
            cluster,
            namespace,
            holder,
            started,
            timeout,
            poll,
            &mut notice,
        )
        .await
        {
            Ok(()) => taken.push(namespace.clone()),
            Err(error) => {
                for problem in release_all(cluster, &taken, holder).await {
                    notice(&problem);
                }
                return Err(error);
            }
        }
    }
    let (lost_sender, lost) = tokio::sync::watch::channel(None);
    let renewer = tokio::spawn(renew_loop(
        cluster.clone(),
        taken.clone(),
        holder.to_string(),
        renew_every(),
        lost_sender,
    ));
    Ok(Lock {
        cluster: cluster.clone(),
        holder: holder.to_string(),
        namespaces: taken,
        renewer,
        lost,
    })
}

/// [`acquire`] inside what is left of `deploy-timeout`; on overrun, whatever was taken is
/// released again.
pub async fn acquire_within(
    limit: Duration,
    cluster: &Cluster,
    namespaces: &[String],
    holder: &str,
    timeout: Duration,
    poll: Duration,
    mut notice: impl FnMut(&str),
) -> Result<Lock, LockError> {
    let started = std::time::Instant::now();
    let taking = acquire(cluster, namespaces, holder, timeout, poll, &mut notice);
    match tokio::time::timeout(limit, taking).await {
        Ok(taken) => taken,
        Err(_) => {
            for problem in release_all(cluster, namespaces, holder).await {
                notice(&problem);
            }
            Err(LockError::Deadline {
                waited: started.elapsed().as_secs(),
            })
        }
    }
}

async fn take(
    cluster: &Cluster,
    namespace: &str,
    holder: &str,
    started: std::time::Instant,
    timeout: Duration,
    poll: Duration,
    notice: &mut impl FnMut(&str),
) -> Result<(), LockError> {
    let api: Api<Lease> = cluster.typed(namespace);
    let api_error = |error: ApiError| LockError::Api {
        namespace: namespace.to_string(),
        error,
    };
    let mut announced = false;
    // The record last seen and since when (monotonic): a lease unchanged for its whole duration
    // is expired whatever the clocks say.
    let mut observed: Option<(Record, std::time::Instant)> = None;
    loop {
        let now = Timestamp::now();
        if create(&api, namespace, holder, now)
            .await
            .map_err(api_error)?
        {
            return Ok(());
        }
        let existing = retry::bounded(CALL_TIMEOUT, async {
            api.get_opt(LEASE_NAME).await.map_err(ApiError::from)
        })
        .await
        .map_err(api_error)?;
        let Some(existing) = existing else {
            continue; // released between our create and get: try again at once
        };
        let seen = record(&existing);
        let unchanged_since = match &observed {
            Some((previous, since)) if *previous == seen => *since,
            _ => std::time::Instant::now(),
        };
        observed = Some((seen, unchanged_since));
        match lease_state(&existing, holder, now, unchanged_since.elapsed()) {
            LeaseState::Ours => return Ok(()),
            state @ (LeaseState::Free | LeaseState::Expired { .. }) => {
                if !take_over(&api, &existing, holder, now)
                    .await
                    .map_err(api_error)?
                {
                    continue; // someone else was quicker: look again
                }
                if let LeaseState::Expired { holder: previous } = state {
                    notice(&format!(
                        "warning: took over the expired deploy lock of namespace `{namespace}` from {previous} (not renewed for {LEASE_SECONDS}s)"
                    ));
                }
                return Ok(());
            }
            LeaseState::Held { holder: current } => {
                if started.elapsed() >= timeout {
                    return Err(LockError::Busy {
                        namespace: namespace.to_string(),
                        holder: current,
                        waited: started.elapsed().as_secs(),
                    });
                }
                if !announced {
                    notice(&format!(
                        "waiting for the deploy lock of namespace `{namespace}`, held by {current} (up to {}s)",
                        timeout.as_secs()
                    ));
                    announced = true;
                }
                tokio::time::sleep(poll.min(timeout.saturating_sub(started.elapsed()))).await;
            }
        }
    }
}

/// Creates the lease for `holder`; `false` when one exists already.
async fn create(
    api: &Api<Lease>,
    namespace: &str,
    holder: &str,
    now: Timestamp,
) -> Result<bool, ApiError> {
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(LEASE_NAME.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        spec: Some(spec(holder, now, None, 0)),
    };
    let created = retry::bounded(CALL_TIMEOUT, async {
        api.create(&PostParams::default(), &lease)
            .await
            .map_err(ApiError::from)
    })
    .await;
    match created {
        Ok(_) => Ok(true),
        Err(error) if error.is_conflict() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Replaces a free or expired lease with ours (guarded by its resourceVersion); `false` when
/// someone else changed it first.
async fn take_over(
    api: &Api<Lease>,
    existing: &Lease,
    holder: &str,
    now: Timestamp,
) -> Result<bool, ApiError> {
    let transitions = existing
        .spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0);
    let mut replacement = existing.clone();
    replacement.spec = Some(spec(holder, now, None, transitions.saturating_add(1)));
    let replaced = retry::bounded(CALL_TIMEOUT, async {
        api.replace(LEASE_NAME, &PostParams::default(), &replacement)
            .await
            .map_err(ApiError::from)
    })
    .await;
    match replaced {
        Ok(_) => Ok(true),
        Err(error) if error.is_conflict() => Ok(false),
        Err(error) => Err(error),
    }
}

/// What one renewal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// The lease belongs to someone else now, or is gone: the lock is lost at once.
    Lost(String),
    /// The API did not let us renew (an error, a conflict): try again next period.
    Failed(String),
}

/// Renews one namespace's lease, checking first that it is still ours.
async fn renew(cluster: &Cluster, namespace: &str, holder: &str) -> Renewal {
    let api: Api<Lease> = cluster.typed(namespace);
    let lease = retry::bounded(CALL_TIMEOUT, async {
        api.get_opt(LEASE_NAME).await.map_err(ApiError::from)
    })
    .await;
    let mut lease = match lease {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            return Renewal::Lost(format!(
                "the deploy lock (Lease {LEASE_NAME}) of namespace `{namespace}` was deleted by someone else"
            ));
        }
        Err(error) => return Renewal::Failed(error.message),
    };
    let current = lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default();
    if current != holder {
        return Renewal::Lost(format!(
            "the deploy lock of namespace `{namespace}` was taken over by {}",
            if current.is_empty() {
                "nobody (it was cleared)"
            } else {
                current.as_str()
            }
        ));
    }
    if let Some(spec) = &mut lease.spec {
        spec.renew_time = Some(MicroTime(Timestamp::now()));
    }
    match retry::bounded(CALL_TIMEOUT, async {
        api.replace(LEASE_NAME, &PostParams::default(), &lease)
            .await
            .map_err(ApiError::from)
    })
    .await
    {
        Ok(_) => Renewal::Renewed,
        Err(error) => Renewal::Failed(error.message),
    }
}

/// Whether failed renewals in a row mean the lock is lost. Pure.
pub fn renewals_lost(failures_in_a_row: u32) -> bool {
    failures_in_a_row >= RENEWAL_FAILURES_LOST
}

async fn renew_loop(
    cluster: Cluster,
    namespaces: Vec<String>,
    holder: String,
    every: Duration,
    lost: tokio::sync::watch::Sender<Option<String>>,
) {
    let mut failures = vec![0u32; namespaces.len()];
    loop {
        tokio::time::sleep(every).await;
        for (index, namespace) in namespaces.iter().enumerate() {
            match renew(&cluster, namespace, &holder).await {
                Renewal::Renewed => failures[index] = 0,
                Renewal::Lost(reason) => {
                    let _ = lost.send(Some(reason));
                    return;
                }
                Renewal::Failed(error) => {
                    failures[index] = failures[index].saturating_add(1);
                    if renewals_lost(failures[index]) {
                        let _ = lost.send(Some(format!(
                            "the deploy lock of namespace `{namespace}` could not be renewed {} times in a row (last error: {error}); another run may take it over",
                            failures[index]
                        )));
                        return;
                    }
                }
            }
        }
    }
}

/// Deletes our leases (only ours: one taken over meanwhile belongs to someone else), each
/// retried on server and connection errors. Returns a warning per lease it could not release.
async fn release_all(cluster: &Cluster, namespaces: &[String], holder: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for namespace in namespaces {
        let api: Api<Lease> = cluster.typed(namespace);
        let released = retry::retry(&retry::MUST_HAPPEN, || async {
            let lease = api.get_opt(LEASE_NAME).await.map_err(ApiError::from)?;
            let ours = lease
                .as_ref()
                .and_then(|l| l.spec.as_ref())
                .and_then(|s| s.holder_identity.as_deref())
                == Some(holder);
            if !ours {
                return Ok(());
            }
            match api.delete(LEASE_NAME, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                Err(error) => Err(ApiError::from(error)),
            }
        })
        .await;
        if let Err(error) = released {
            problems.push(format!(
                "warning: could not release the deploy lock (Lease {LEASE_NAME}) of namespace `{namespace}`: {error}; the next run waits until it expires ({LEASE_SECONDS}s) or delete it: kubectl delete lease {LEASE_NAME} -n {namespace}"
            ));
        }
    }
    problems
}

impl Lock {
    /// Stops renewing and deletes the leases; returns a warning per lease left behind.
    pub async fn release(self) -> Vec<String> {
        self.renewer.abort();
        release_all(&self.cluster, &self.namespaces, &self.holder).await
    }

    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Watches for the loss of the lock while it is held.
    pub fn watch(&self) -> LockWatch {
        LockWatch(self.lost.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed_seconds_ago: i64) -> (Lease, Timestamp) {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let renewed = Timestamp::from_second(1_800_000_000 - renewed_seconds_ago).unwrap();
        let lease = Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                lease_duration_seconds: Some(60),
                renew_time: Some(MicroTime(renewed)),
                ..Default::default()
            }),
        };
        (lease, now)
    }

    const FRESH: Duration = Duration::ZERO;

    #[test]
    fn lease_states() {
        let (l, now) = lease(Some("run/1"), 10);
        assert_eq!(
            lease_state(&l, "run/2", now, FRESH),
            LeaseState::Held {
                holder: "run/1".into()
            }
        );
        assert_eq!(lease_state(&l, "run/1", now, FRESH), LeaseState::Ours);
        let (l, now) = lease(Some("run/1"), 76);
        assert_eq!(
            lease_state(&l, "run/2", now, FRESH),
            LeaseState::Expired {
                holder: "run/1".into()
            }
        );
        let (l, now) = lease(None, 0);
        assert_eq!(lease_state(&l, "run/2", now, FRESH), LeaseState::Free);
    }

    #[test]
    fn lease_expiry_allows_for_clock_skew() {
        // Renewed 70 s ago by the other runner's clock: within 60 s + the skew margin.
        let (l, now) = lease(Some("run/1"), 70);
        assert_eq!(
            lease_state(&l, "run/2", now, FRESH),
            LeaseState::Held {
                holder: "run/1".into()
            }
        );
        // A renewTime in the future (the holder's clock runs ahead) is held, not a panic.
        let (l, now) = lease(Some("run/1"), -3600);
        assert!(matches!(
            lease_state(&l, "run/2", now, FRESH),
            LeaseState::Held { .. }
        ));
        // But watched unchanged for its whole duration, it is expired whatever the clocks say.
        assert!(matches!(
            lease_state(&l, "run/2", now, Duration::from_secs(60)),
            LeaseState::Expired { .. }
        ));
        // A nonsense duration cannot overflow.
        let (mut l, now) = lease(Some("run/1"), 10);
        l.spec.as_mut().unwrap().lease_duration_seconds = Some(i32::MAX);
        assert!(matches!(
            lease_state(&l, "run/2", now, FRESH),
            LeaseState::Held { .. }
        ));
        l.spec.as_mut().unwrap().lease_duration_seconds = Some(-5);
        assert!(matches!(
            lease_state(&l, "run/2", now, Duration::from_secs(2)),
            LeaseState::Expired { .. }
        ));
    }

    #[test]
    fn renewals_failing_in_a_row_lose_the_lock() {
        assert!(!renewals_lost(1));
        assert!(!renewals_lost(2));
        assert!(renewals_lost(3));
    }
}
