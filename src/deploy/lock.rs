//! The deploy lock: one `coordination.k8s.io/v1` Lease named `shipgate-lock` in every namespace
//! being deployed, so two runs never deploy the same namespace at once. Taken in sorted
//! namespace order (no deadlock between two runs), renewed every 20 s, deleted on release; a
//! lease nobody renewed for its duration is taken over with a warning naming its holder.

use super::cluster::{ApiError, Cluster};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use std::time::Duration;

pub const LEASE_NAME: &str = "shipgate-lock";
pub const LEASE_SECONDS: i32 = 60;
pub const RENEW_EVERY: Duration = Duration::from_secs(20);

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
        "cannot take the deploy lock (Lease {LEASE_NAME}) in namespace `{namespace}`: {error}{}",
        lease_rights_hint(error, namespace)
    )]
    Api { namespace: String, error: ApiError },
}

/// [`RENEW_EVERY`], or `SHIPGATE_LOCK_RENEW` (hidden; tests watch a renewal happen).
fn renew_every() -> Duration {
    std::env::var("SHIPGATE_LOCK_RENEW")
        .ok()
        .and_then(|v| crate::config::model::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
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
}

/// What a lease says about who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    Free,
    Ours,
    Held { holder: String },
    Expired { holder: String },
}

/// Reads a lease: free when nobody holds it, expired when nobody renewed it in time. Pure.
pub fn lease_state(lease: &Lease, holder: &str, now: Timestamp) -> LeaseState {
    let Some(spec) = &lease.spec else {
        return LeaseState::Free;
    };
    let Some(current) = spec.holder_identity.clone().filter(|h| !h.is_empty()) else {
        return LeaseState::Free;
    };
    if current == holder {
        return LeaseState::Ours;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    let last = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match last {
        Some(last) if now.as_second() - last.as_second() <= duration => {
            LeaseState::Held { holder: current }
        }
        _ => LeaseState::Expired { holder: current },
    }
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
                release_all(cluster, &taken, holder).await;
                return Err(error);
            }
        }
    }
    let renewer = tokio::spawn(renew_loop(
        cluster.clone(),
        taken.clone(),
        holder.to_string(),
    ));
    Ok(Lock {
        cluster: cluster.clone(),
        holder: holder.to_string(),
        namespaces: taken,
        renewer,
    })
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
    let api_error = |error: kube::Error| LockError::Api {
        namespace: namespace.to_string(),
        error: ApiError::from(error),
    };
    let mut announced = false;
    loop {
        let now = Timestamp::now();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(LEASE_NAME.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            spec: Some(spec(holder, now, None, 0)),
        };
        match api.create(&PostParams::default(), &lease).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(api_error(error)),
        }
        let Some(existing) = api.get_opt(LEASE_NAME).await.map_err(api_error)? else {
            continue; // released between our create and get: try again at once
        };
        let transitions = existing
            .spec
            .as_ref()
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0);
        match lease_state(&existing, holder, now) {
            LeaseState::Ours => return Ok(()),
            state @ (LeaseState::Free | LeaseState::Expired { .. }) => {
                let mut replacement = existing.clone();
                replacement.spec = Some(spec(holder, now, None, transitions + 1));
                match api
                    .replace(LEASE_NAME, &PostParams::default(), &replacement)
                    .await
                {
                    Ok(_) => {
                        if let LeaseState::Expired { holder: previous } = state {
                            notice(&format!(
                                "warning: took over the expired deploy lock of namespace `{namespace}` from {previous} (not renewed for {LEASE_SECONDS}s)"
                            ));
                        }
                        return Ok(());
                    }
                    Err(kube::Error::Api(status)) if status.code == 409 => continue,
                    Err(error) => return Err(api_error(error)),
                }
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

async fn renew_loop(cluster: Cluster, namespaces: Vec<String>, holder: String) {
    loop {
        tokio::time::sleep(renew_every()).await;
        for namespace in &namespaces {
            let api: Api<Lease> = cluster.typed(namespace);
            if let Ok(Some(mut lease)) = api.get_opt(LEASE_NAME).await
                && let Some(spec) = &mut lease.spec
                && spec.holder_identity.as_deref() == Some(holder.as_str())
            {
                spec.renew_time = Some(MicroTime(Timestamp::now()));
                let _ = api
                    .replace(LEASE_NAME, &PostParams::default(), &lease)
                    .await;
            }
        }
    }
}

async fn release_all(cluster: &Cluster, namespaces: &[String], holder: &str) {
    for namespace in namespaces {
        let api: Api<Lease> = cluster.typed(namespace);
        // Only our own lease is deleted: one taken over meanwhile belongs to someone else.
        if let Ok(Some(lease)) = api.get_opt(LEASE_NAME).await
            && lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(holder)
        {
            let _ = api.delete(LEASE_NAME, &DeleteParams::default()).await;
        }
    }
}

impl Lock {
    /// Stops renewing and deletes the leases.
    pub async fn release(self) {
        self.renewer.abort();
        release_all(&self.cluster, &self.namespaces, &self.holder).await;
    }

    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
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

    #[test]
    fn lease_states() {
        let (l, now) = lease(Some("run/1"), 10);
        assert_eq!(
            lease_state(&l, "run/2", now),
            LeaseState::Held {
                holder: "run/1".into()
            }
        );
        assert_eq!(lease_state(&l, "run/1", now), LeaseState::Ours);
        let (l, now) = lease(Some("run/1"), 61);
        assert_eq!(
            lease_state(&l, "run/2", now),
            LeaseState::Expired {
                holder: "run/1".into()
            }
        );
        let (l, now) = lease(None, 0);
        assert_eq!(lease_state(&l, "run/2", now), LeaseState::Free);
    }
}
