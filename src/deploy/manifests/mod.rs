//! Deploying the Kubernetes objects kept in the repository (`deploy.manifests`): render them
//! (kustomize or YAML files), substitute the planned images (kustomize `images:` semantics),
//! keep what is live for services not in the run, stamp shipgate's annotations, and order them
//! for server-side apply. Everything here but `render`'s process and file reading is pure.

pub mod annotate;
pub mod apply;
pub mod diff;
pub mod edge;
pub mod image;
pub mod object;
pub mod order;
pub mod outcome;
pub mod prepare;
pub mod prune;
pub mod render;
mod rollback;
pub mod substitute;
pub mod summary;
pub mod watch;
mod waves;

pub use object::{Manifest, ObjectRef};
