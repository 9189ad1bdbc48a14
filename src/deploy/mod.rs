//! Deploy: set the planned image on each workload, watch every rollout at once, fail fast on
//! doomed pods, gate on health checks and roll back what failed.

pub mod client;
pub mod cluster;
pub mod diagnosis;
pub mod digest;
pub mod exec_plugin;
pub(crate) mod gate;
pub mod hub;
pub mod kubeconfig;
pub mod lock;
pub mod manifests;
pub mod orchestrate;
pub mod patch;
pub mod pods;
pub mod preflight;
pub mod result;
pub mod retry;
mod rollback;
pub mod rollout;
pub mod secrets;
pub(crate) mod service;
pub mod settle;
pub mod target;
pub mod watch;
