//! How a command fails, and the exit code each failure maps to.
//!
//! 0 success · 1 a gate said no (policy violation, failed rollout, failed health check) ·
//! 2 usage or configuration error. Anything else is a crash we failed to prevent.

use crate::diagnostic::Diagnostic;
use std::fmt;

/// Why a command could not do its job.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags, bad config, a missing file, a revision that does not exist: exit 2.
    Usage(Vec<Diagnostic>),
    /// Everything was valid but a gate said no (e.g. a branch-name violation): exit 1.
    Gate(Vec<Diagnostic>),
}

impl Failure {
    pub fn usage(diagnostic: Diagnostic) -> Self {
        Failure::Usage(vec![diagnostic])
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Gate(_) => 1,
        }
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Failure::Usage(d) | Failure::Gate(d) => d,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.diagnostics().iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Shorthand for a usage failure with one error diagnostic.
pub fn usage(title: &str, message: impl Into<String>) -> Failure {
    Failure::usage(Diagnostic::error(title, message))
}
