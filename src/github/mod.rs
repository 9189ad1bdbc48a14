//! The GitHub REST API beyond change detection.

pub mod deployments;
