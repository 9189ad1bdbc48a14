//! What the deploy masks before it prints anything: every secret value of the kubeconfig (the
//! input's, or the default files'), the base64 input itself, and the registry password that
//! `verify-image` may send — values only, never whole YAML lines (masking `kind: Config` would
//! hide ordinary log text).

use super::kubeconfig::{self, Input, Source};
use crate::runner::Runner;

/// Masks the kubeconfig input's secrets; a base64 input is masked as a whole too (it decodes to
/// all of them), a YAML input is not (its lines are mostly ordinary words).
pub fn mask_kubeconfig(runner: &Runner, raw: &str, input: &Input) {
    mask_all(runner, kubeconfig::secrets(&input.yaml));
    if input.source == Source::Base64 {
        runner.mask(raw.trim());
    }
}

pub fn mask_all(runner: &Runner, secrets: impl IntoIterator<Item = String>) {
    for secret in secrets {
        runner.mask(&secret);
    }
}

/// The registry password (`registry-password`), masked in `deploy` as in `build`.
pub fn mask_registry_password(runner: &Runner, env: &crate::context::RunnerEnvironment) {
    if let Some(password) = env
        .registry_password
        .clone()
        .filter(|p| !p.trim().is_empty())
    {
        runner.mask(&password);
    }
}
