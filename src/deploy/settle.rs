//! How a service's deploy ended, decided from what happened to it — the one place that turns
//! "the patch was sent, the rollout failed, the rollback restored the old image" into the
//! `result` output's status, and that decides whether a rollback is due. Pure.

use super::result::Status;
use crate::config::model::OnFailure;

/// Whether this run changed the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The patch was sent and accepted.
    Sent,
    /// Nothing to send: the image was already set.
    NotNeeded,
    /// The cluster refused the patch.
    Refused,
}

/// How the rollout ended, if it was watched to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollout {
    Complete,
    /// Failed, timed out, superseded, or its watch could not be established.
    Failed,
    /// The run stopped (deadline, cancel) before a verdict.
    Interrupted,
    NotWatched,
}

/// What the health gate said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    NotRun,
    Passed,
    /// Failed, but `critical: false`: a warning, nothing more.
    FailedNonCritical,
    Failed,
}

/// What happened to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Happened {
    pub change: Change,
    pub rollout: Rollout,
    pub gate: Gate,
    /// `Some(true)`: a rollback restored the snapshot and its rollout completed.
    pub rollback: Option<bool>,
    /// Another service's failure asked for this one's rollback (`on-failure: rollback-all`).
    pub rollback_requested: bool,
}

impl Happened {
    pub fn new(change: Change) -> Happened {
        Happened {
            change,
            rollout: Rollout::NotWatched,
            gate: Gate::NotRun,
            rollback: None,
            rollback_requested: false,
        }
    }

    /// Whether something of this service itself went wrong.
    pub fn failed(&self) -> bool {
        self.change == Change::Refused
            || matches!(self.rollout, Rollout::Failed | Rollout::Interrupted)
            || self.gate == Gate::Failed
    }
}

/// The status a service ends with.
pub fn settle(happened: &Happened) -> Status {
    match happened.rollback {
        Some(true) => return Status::RolledBack,
        Some(false) => return Status::Failed,
        None => {}
    }
    if happened.failed() {
        return Status::Failed;
    }
    match happened.change {
        Change::Sent => Status::Succeeded,
        Change::NotNeeded => Status::Unchanged,
        Change::Refused => Status::Failed,
    }
}

/// Whether to restore the snapshot now: only what this run changed, only once; a service's
/// own failure when its `on-failure` allows it, any changed service when another one's
/// `rollback-all` asks for it.
pub fn rollback_due(happened: &Happened, on_failure: OnFailure) -> bool {
    happened.change == Change::Sent
        && happened.rollback.is_none()
        && (happened.rollback_requested || (happened.failed() && on_failure != OnFailure::None))
}

/// Manifests mode: whose failure it is. The rendered set is one change, so a failure puts the
/// whole set back unless it belongs to a service with `on-failure: none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetFailure {
    /// A service's workload (its rollout, its apply) or its critical health gate failed.
    Service(OnFailure),
    /// An object of no service (a refused ConfigMap, a failed Job, a workload no service
    /// names), or the run was interrupted (deadline, cancel, lock lost).
    Shared,
}

/// Whether a manifests deploy puts the whole set back: any failure but one of a service with
/// `on-failure: none` (`rollback` and `rollback-all` both mean the set, there being one change).
pub fn set_rollback_due(failures: &[SetFailure]) -> bool {
    failures
        .iter()
        .any(|f| *f != SetFailure::Service(OnFailure::None))
}

/// Whether the next wave of a manifests deploy starts: always without failures; after
/// failures only with `continue-on-failure` and when none of them puts the set back (a set
/// rolled back is not built on).
pub fn next_wave_starts(failures: &[SetFailure], continue_on_failure: bool) -> bool {
    failures.is_empty() || (continue_on_failure && !set_rollback_due(failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn happened(change: Change, rollout: Rollout, gate: Gate, rollback: Option<bool>) -> Happened {
        Happened {
            change,
            rollout,
            gate,
            rollback,
            rollback_requested: false,
        }
    }

    #[test]
    fn the_status_follows_from_what_happened() {
        use Change::*;
        use Gate as G;
        use Rollout as R;
        let table = [
            (Sent, R::Complete, G::NotRun, None, Status::Succeeded),
            (Sent, R::Complete, G::Passed, None, Status::Succeeded),
            (NotNeeded, R::Complete, G::Passed, None, Status::Unchanged),
            (NotNeeded, R::Complete, G::NotRun, None, Status::Unchanged),
            (
                Sent,
                R::Complete,
                G::FailedNonCritical,
                None,
                Status::Succeeded,
            ),
            (Refused, R::NotWatched, G::NotRun, None, Status::Failed),
            (Sent, R::Failed, G::NotRun, None, Status::Failed),
            (Sent, R::Failed, G::NotRun, Some(true), Status::RolledBack),
            (Sent, R::Failed, G::NotRun, Some(false), Status::Failed),
            (NotNeeded, R::Failed, G::NotRun, None, Status::Failed),
            (Sent, R::Complete, G::Failed, Some(true), Status::RolledBack),
            (Sent, R::Complete, G::Failed, None, Status::Failed),
            (NotNeeded, R::Complete, G::Failed, None, Status::Failed),
            (
                Sent,
                R::Interrupted,
                G::NotRun,
                Some(true),
                Status::RolledBack,
            ),
            (Sent, R::Interrupted, G::NotRun, None, Status::Failed),
            // Rolled back with the rest of the deploy (rollback-all).
            (Sent, R::Complete, G::Passed, Some(true), Status::RolledBack),
            (Sent, R::Complete, G::Passed, Some(false), Status::Failed),
        ];
        for (change, rollout, gate, rollback, want) in table {
            let what = happened(change, rollout, gate, rollback);
            assert_eq!(settle(&what), want, "{what:?}");
        }
    }

    #[test]
    fn only_what_this_run_changed_is_rolled_back_once() {
        use Change::*;
        let failed = happened(Sent, Rollout::Failed, Gate::NotRun, None);
        assert!(rollback_due(&failed, OnFailure::Rollback));
        assert!(rollback_due(&failed, OnFailure::RollbackAll));
        assert!(!rollback_due(&failed, OnFailure::None));
        let unchanged = happened(NotNeeded, Rollout::Failed, Gate::NotRun, None);
        assert!(!rollback_due(&unchanged, OnFailure::Rollback));
        let done = happened(Sent, Rollout::Failed, Gate::NotRun, Some(false));
        assert!(!rollback_due(&done, OnFailure::Rollback));
        let healthy = happened(Sent, Rollout::Complete, Gate::Passed, None);
        assert!(!rollback_due(&healthy, OnFailure::Rollback));
        let soft = happened(Sent, Rollout::Complete, Gate::FailedNonCritical, None);
        assert!(!rollback_due(&soft, OnFailure::Rollback));
        let requested = Happened {
            rollback_requested: true,
            ..healthy
        };
        assert!(rollback_due(&requested, OnFailure::Rollback));
        assert!(rollback_due(&requested, OnFailure::None));
        let interrupted = happened(Sent, Rollout::Interrupted, Gate::NotRun, None);
        assert!(rollback_due(&interrupted, OnFailure::Rollback));
    }

    #[test]
    fn a_manifests_set_is_put_back_unless_every_failure_says_none() {
        use SetFailure::*;
        assert!(!set_rollback_due(&[]));
        assert!(!set_rollback_due(&[Service(OnFailure::None)]));
        assert!(set_rollback_due(&[Service(OnFailure::Rollback)]));
        assert!(set_rollback_due(&[Service(OnFailure::RollbackAll)]));
        assert!(set_rollback_due(&[Shared]));
        assert!(set_rollback_due(&[Service(OnFailure::None), Shared]));
        assert!(set_rollback_due(&[
            Service(OnFailure::None),
            Service(OnFailure::Rollback)
        ]));
    }

    #[test]
    fn later_waves_start_after_failures_only_when_asked_and_nothing_is_put_back() {
        use SetFailure::*;
        assert!(next_wave_starts(&[], false));
        assert!(next_wave_starts(&[], true));
        assert!(!next_wave_starts(&[Service(OnFailure::None)], false));
        assert!(next_wave_starts(&[Service(OnFailure::None)], true));
        assert!(!next_wave_starts(&[Service(OnFailure::Rollback)], true));
        assert!(!next_wave_starts(&[Shared], true));
        assert!(!next_wave_starts(
            &[Service(OnFailure::None), Service(OnFailure::RollbackAll)],
            true
        ));
    }
}
