//! The integration tests, as one test binary (as ripgrep and just do): each module below is one
//! area, run against the real `shipgate` binary, real git repositories, real servers on
//! 127.0.0.1 and the test Kubernetes API server (`tests/support/kube-api`). One binary links
//! kube, git2 and octocrab once instead of once per file.
//!
//! Run one area with `cargo test --test it deploy::`, one test with its full name.

#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[path = "../support/mod.rs"]
mod support;

mod act_cache;
mod act_e2e;
mod act_fanout;
mod act_status;
mod act_workflows;
mod base_from;
mod build;
mod build_environment;
mod build_registry;
mod build_secrets;
mod cli_errors;
mod cli_mends;
mod cluster_faults;
mod completions;
mod container_ownership;
mod content_parity;
mod deploy;
mod deploy_scale;
mod detect_git;
mod fuzz;
mod git_diff_parity;
mod github_api;
mod github_deployments;
mod gitops;
mod health;
mod health_forward;
mod kube_api_kubectl;
mod manifests;
mod plan;
mod readme;
mod readme_commands;
mod registry;
mod registry_conventions;
mod snapshots;
mod status;
mod summary;
mod terminal;
mod verify_digest;
mod workflow_commands;
