//! shipgate: the deploy pipeline of a monorepo as one GitHub Action.
//!
//! The deciding parts (`detect::changes`, `detect::range`, `policy`, `report`) are pure and
//! unit-tested; git, the runner files and the GitHub API are thin edges around them.

pub mod bases;
pub mod build;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod deploy;
pub mod detect;
pub mod diagnostic;
pub mod error;
mod fast_mem;
pub mod github;
pub mod gitops;
pub mod health;
pub mod http;
pub mod plan;
pub mod policy;
pub mod quote;
pub mod reference;
pub mod registry;
pub mod report;
pub mod runner;
pub mod status;
pub mod version;
