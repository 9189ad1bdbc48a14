//! `shipgate run`: the pipeline's stages in one step, with one job summary.

use super::{Session, branch_policy, build, deploy, detect, plan, status};
use crate::cli::{PolicyArgs, RunArgs, non_empty};
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::report;
use crate::runner::Summary;

/// One stage of the pipeline; the order of the variants is the pipeline's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Stage {
    Detect,
    BranchPolicy,
    Plan,
    Build,
    Deploy,
    Status,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub(super) const ALL: [Stage; 6] = [
        Stage::Detect,
        Stage::BranchPolicy,
        Stage::Plan,
        Stage::Build,
        Stage::Deploy,
        Stage::Status,
    ];

    /// The stages run when `stages` is not given (`status` reads the cluster: only on request).
    pub(super) const DEFAULT: [Stage; 5] = [
        Stage::Detect,
        Stage::BranchPolicy,
        Stage::Plan,
        Stage::Build,
        Stage::Deploy,
    ];

    /// The name in `stages` and in the summary.
    pub(super) fn name(self) -> &'static str {
        match self {
            Stage::Detect => "detect",
            Stage::BranchPolicy => "branch-policy",
            Stage::Plan => "plan",
            Stage::Build => "build",
            Stage::Deploy => "deploy",
            Stage::Status => "status",
        }
    }
}

/// The stages a run does, in pipeline order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stages(Vec<Stage>);

impl Stages {
    pub(super) fn includes(&self, stage: Stage) -> bool {
        self.0.contains(&stage)
    }

    /// `detect → plan → …` for the summary.
    fn describe(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|s| s.name()).collect();
        names.join(" → ")
    }
}

/// Parses `stages`; an unknown name is a usage error.
pub(super) fn parse_stages(text: Option<&str>) -> Result<Stages, Failure> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Stages(Stage::DEFAULT.to_vec()));
    };
    let mut stages = Vec::new();
    for name in text
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some(stage) = Stage::ALL.into_iter().find(|s| s.name() == name) else {
            let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
            return Err(Failure::usage(
                Diagnostic::error(
                    "shipgate run",
                    format!("unknown stage `{}`", crate::reference::shown(name)),
                )
                .with_help(format!("stages: {}", names.join(", "))),
            ));
        };
        if !stages.contains(&stage) {
            stages.push(stage);
        }
    }
    stages.sort();
    Ok(Stages(stages))
}

pub(super) fn execute(session: &Session, args: &RunArgs) -> Result<u8, Failure> {
    let stages = parse_stages(non_empty(args.stages.clone()).as_deref())?;
    let (changes, config, context) = detect::run_detect(session, &args.build.plan.detect)?;
    let mut summary = Summary::default();
    let mode = if args.build.dry_run {
        " (dry run: nothing is changed)"
    } else {
        ""
    };
    summary.push(format!(
        "## 🚦 shipgate run{mode}\n\nStages: {}",
        stages.describe()
    ));
    let mut violated = false;
    let mut policy_text = String::new();
    if stages.includes(Stage::BranchPolicy) {
        let outcome = branch_policy::check(&config, &context, &PolicyArgs::default());
        if let branch_policy::Outcome::Checked { branch, verdict } = &outcome {
            violated = branch_policy::report(session, &config, &outcome, &mut summary);
            if let Some(policy) = &config.branch_policy {
                policy_text = report::policy::terminal(policy, branch, verdict);
            }
        }
    }
    if stages.includes(Stage::Detect) {
        report::detect::summary(&changes, &mut summary);
    }
    let mut extra = Vec::new();
    let mut texts = Vec::new();
    let mut planned = None;
    if stages.includes(Stage::Plan) {
        let repo = crate::detect::git::GitRepository::open(&session.repo, &config.detect.remote)?;
        let (plan, notes) = plan::make_plan(
            &config,
            &context,
            &changes,
            repo,
            non_empty(args.build.plan.environment.clone()),
        )?;
        session.report_diagnostics(&notes);
        report::plan::table(&plan, &mut summary);
        extra = crate::plan::outputs::outputs(&plan);
        texts.push(report::plan::terminal(&plan, session.color()));
        planned = Some(plan);
    }
    let mut failed = false;
    let mut built_images = None;
    let planned_for_deploy = planned.clone();
    let plan_for_details = planned.clone();
    if stages.includes(Stage::Build) {
        let plan = match (planned, non_empty(args.build.plan_input.clone())) {
            (Some(plan), _) => plan,
            (None, Some(value)) => crate::plan::Plan::load(&value)?,
            (None, None) => {
                return Err(Failure::usage(
                    Diagnostic::error("shipgate run", "the build stage needs a plan")
                        .with_help("add the plan stage to `stages`, or pass the plan of an earlier step with `plan`"),
                ));
            }
        };
        let stage = build::run_builds(session, &plan, Some(&config), &args.build, &mut summary)?;
        built_images = stage.json.get("images").cloned().or_else(|| {
            stage
                .outputs
                .iter()
                .find(|(name, _)| name == "images")
                .and_then(|(_, value)| serde_json::from_str(value).ok())
        });
        extra.extend(stage.outputs);
        failed = stage.failed;
        texts.push(stage.terminal);
    }
    if stages.includes(Stage::Deploy) {
        let plan = match (planned_for_deploy, non_empty(args.build.plan_input.clone())) {
            (Some(plan), _) => plan,
            (None, Some(value)) => crate::plan::Plan::load(&value)?,
            (None, None) => {
                return Err(Failure::usage(
                    Diagnostic::error("shipgate run", "the deploy stage needs a plan")
                        .with_help("add the plan stage to `stages`, or pass the plan of an earlier step with `plan`"),
                ));
            }
        };
        let is_pull_request = matches!(context.event, crate::context::Event::PullRequest(_));
        if failed {
            // The log says what the summary says: nothing was deployed, and why.
            let why = skipped_deploy_reason(&plan, built_images.as_ref());
            session.report_diagnostics(&[Diagnostic::notice(
                "shipgate run",
                format!("deploy stage skipped: {why}; nothing was deployed"),
            )]);
            summary.push(format!(
                "### 🚀 Deploy: ➖ skipped, because {}",
                crate::runner::summary::inline_markdown(&why)
            ));
        } else {
            if is_pull_request && !args.build.dry_run {
                summary.push(
                    "> Pull request: the deploy stage is a dry run (what merging this would deploy)."
                        .to_string(),
                );
            }
            let inputs = deploy::DeployInputs {
                options: &args.deploy,
                dry_run: args.build.dry_run || is_pull_request,
                github_token: non_empty(args.build.plan.detect.github_token.clone()),
                environment: non_empty(args.build.plan.environment.clone()),
            };
            let stage =
                deploy::run_deploy(session, &plan, &config, &inputs, built_images, &mut summary)?;
            extra.extend(stage.outputs);
            failed = failed || stage.failed;
            texts.push(stage.terminal);
        }
    }
    if stages.includes(Stage::Status) {
        let inputs = status::StatusInputs {
            kubeconfig: non_empty(args.deploy.kubeconfig.clone()),
            kube_context: non_empty(args.deploy.kube_context.clone()),
            services: None,
            head: non_empty(args.build.plan.detect.head.clone()),
            fail_on: status::parse_fail_on(args.status.fail_on.as_deref())?,
        };
        let stage = status::run_status(session, &config, &inputs, &mut summary)?;
        extra.extend(stage.outputs);
        failed = failed || stage.failed;
        texts.push(stage.terminal);
    }
    if let Some(plan) = &plan_for_details {
        report::plan::details(plan, &mut summary);
    }
    detect::emit(
        session,
        &changes,
        args.build.plan.detect.list_files,
        &summary,
        extra,
    )?;
    if session.format == crate::cli::Format::Human {
        for text in texts.iter().chain(std::iter::once(&policy_text)) {
            crate::runner::write_stdout(text);
        }
    }
    Ok(if violated || failed { 1 } else { 0 })
}

/// Why the deploy stage did not run after a failed build: the services whose images the build
/// did not produce (failed or cancelled), named.
fn skipped_deploy_reason(plan: &crate::plan::Plan, images: Option<&serde_json::Value>) -> String {
    let missing: Vec<String> = plan
        .services
        .iter()
        .filter(|s| images.and_then(|i| i.get(&s.name)).is_none())
        .map(|s| format!("`{}`", s.name))
        .collect();
    match missing.len() {
        0 => "a build failed".into(),
        1 => format!("the build of {} failed", missing[0]),
        n => format!("the builds of {n} services failed ({})", missing.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_validated_and_ordered() {
        assert_eq!(parse_stages(None).unwrap(), Stages(Stage::DEFAULT.to_vec()));
        assert_eq!(
            parse_stages(Some("branch-policy, detect")).unwrap(),
            Stages(vec![Stage::Detect, Stage::BranchPolicy])
        );
        assert_eq!(parse_stages(Some("nope")).unwrap_err().exit_code(), 2);
        let deploy_detect = parse_stages(Some("deploy,detect,deploy")).unwrap();
        assert_eq!(deploy_detect, Stages(vec![Stage::Detect, Stage::Deploy]));
        assert_eq!(deploy_detect.describe(), "detect → deploy");
        assert!(deploy_detect.includes(Stage::Deploy) && !deploy_detect.includes(Stage::Plan));
        assert_eq!(
            parse_stages(Some("status,deploy")).unwrap(),
            Stages(vec![Stage::Deploy, Stage::Status])
        );
    }
}
