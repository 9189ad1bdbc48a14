//! The GitHub REST API: one client ([`client::Client`]) for everything shipgate asks of GitHub —
//! change detection's fallback, build workflows and Deployments.

pub mod client;
pub mod contents;
pub mod deployments;

pub use client::{Client, Error, Method, RetryPolicy};
