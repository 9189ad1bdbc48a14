//! Rendering results for people: job-summary markdown and terminal text (pure functions).

pub mod deploy;
pub mod detect;
pub mod live;
pub mod plan;
pub mod policy;
