//! `.github/shipgate.yml`: loading with source locations, validation, and the JSON Schema.

pub mod deploy_section;
pub mod load;
pub mod model;
pub mod schema;
pub mod validate;

use crate::detect::graph::DependencyGraph;
use crate::detect::matcher::{Matcher, PathPattern};
use crate::diagnostic::{Diagnostic, Location};
use crate::policy::Policy;
pub use load::load;
pub use model::Dependents;

/// The default config path, relative to the repository root.
pub const DEFAULT_PATH: &str = ".github/shipgate.yml";

/// A validated config: names resolved, globs compiled, graph acyclic.
#[derive(Debug)]
pub struct Config {
    /// The config path as shown in messages (relative to the repository when possible).
    pub path: String,
    pub services: Vec<Service>,
    pub global: Vec<Pattern>,
    pub detect: model::DetectSettings,
    pub defaults: model::Defaults,
    pub branch_policy: Option<Policy>,
    /// The top-level `deploy:` block (manifests, prune, GitOps).
    pub deploy: deploy_section::DeploySection,
    pub graph: DependencyGraph,
    pub matcher: Matcher,
    /// Warnings found while validating (they do not stop the run).
    pub warnings: Vec<Diagnostic>,
    /// Service name → index in `services`: lookups by name stay constant-time with thousands.
    positions: std::collections::HashMap<String, usize>,
}

/// One configured service or library.
#[derive(Debug)]
pub struct Service {
    pub name: String,
    pub location: Location,
    pub paths: Vec<Pattern>,
    pub depends_on: Vec<String>,
    pub image: Option<String>,
    pub settings: model::ServiceSettings,
}

/// A path pattern with where it was written.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub pattern: PathPattern,
    pub location: Location,
}

impl Config {
    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }

    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }
}
