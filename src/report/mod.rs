//! Rendering results for people: job-summary markdown and terminal text (pure functions).

pub mod build;
pub mod deploy;
pub mod detect;
pub mod gitops;
pub mod live;
pub mod plan;
pub mod policy;

/// Whether a run changed things or only showed what it would change; renderers word their
/// headlines and sections by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Live,
    DryRun,
}

impl RunMode {
    /// `--dry-run` as given.
    pub fn from_dry_run(dry_run: bool) -> Self {
        if dry_run {
            RunMode::DryRun
        } else {
            RunMode::Live
        }
    }

    pub fn is_dry_run(self) -> bool {
        self == RunMode::DryRun
    }
}
