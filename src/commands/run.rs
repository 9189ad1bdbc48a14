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

/// Runs the chosen stages in pipeline order; each step adds to one [`Run`], which writes the one
/// summary and the outputs at the end.
pub(super) fn execute(session: &Session, args: &RunArgs) -> Result<u8, Failure> {
    let stages = parse_stages(non_empty(args.stages.clone()).as_deref())?;
    let (changes, config, context) = detect::run_detect(session, &args.build.plan.detect)?;
    let mut run = Run::default();
    let mode = if args.build.dry_run {
        " (dry run: nothing is changed)"
    } else {
        ""
    };
    run.summary.push(format!(
        "## 🚦 shipgate run{mode}\n\nStages: {}",
        stages.describe()
    ));
    if stages.includes(Stage::BranchPolicy) {
        run.branch_policy(session, &config, &context);
    }
    if stages.includes(Stage::Detect) {
        report::detect::summary(&changes, &mut run.summary);
    }
    let planned = match stages.includes(Stage::Plan) {
        true => Some(run.plan(session, args, &config, &context, &changes)?),
        false => None,
    };
    if stages.includes(Stage::Build) {
        let plan = stage_plan(planned.as_ref(), args, "build")?;
        run.build(session, args, &config, &plan)?;
    }
    if stages.includes(Stage::Deploy) {
        let plan = stage_plan(planned.as_ref(), args, "deploy")?;
        let is_pull_request = matches!(context.event, crate::context::Event::PullRequest(_));
        run.deploy(session, args, &config, &plan, is_pull_request)?;
    }
    if stages.includes(Stage::Status) {
        run.status(session, args, &config)?;
    }
    if let Some(plan) = &planned {
        report::plan::details(plan, &mut run.summary);
    }
    detect::emit(
        session,
        &changes,
        args.build.plan.detect.list_files,
        &run.summary,
        run.outputs,
    )?;
    if session.format == crate::cli::Format::Human {
        for text in run.texts.iter().chain(std::iter::once(&run.policy_text)) {
            crate::runner::write_stdout(text);
        }
    }
    Ok(if run.violated || run.failed { 1 } else { 0 })
}

/// The plan a later stage works on: the one this run made, else the `plan` input.
fn stage_plan(
    planned: Option<&crate::plan::Plan>,
    args: &RunArgs,
    stage: &str,
) -> Result<crate::plan::Plan, Failure> {
    match (planned, non_empty(args.build.plan_input.clone())) {
        (Some(plan), _) => Ok(plan.clone()),
        (None, Some(value)) => crate::plan::Plan::load(&value),
        (None, None) => Err(Failure::usage(
            Diagnostic::error("shipgate run", format!("the {stage} stage needs a plan")).with_help(
                "add the plan stage to `stages`, or pass the plan of an earlier step with `plan`",
            ),
        )),
    }
}

/// What the stages of one run have produced so far.
#[derive(Default)]
struct Run {
    summary: Summary,
    /// Step outputs beyond detect's own.
    outputs: Vec<(String, String)>,
    /// Terminal text of each stage, printed in order at the end.
    texts: Vec<String>,
    policy_text: String,
    violated: bool,
    failed: bool,
    /// The images the build stage produced (service → reference), for the deploy stage.
    built_images: Option<serde_json::Value>,
}

impl Run {
    fn branch_policy(
        &mut self,
        session: &Session,
        config: &crate::config::Config,
        context: &crate::context::Context,
    ) {
        let outcome = branch_policy::check(config, context, &PolicyArgs::default());
        if let branch_policy::Outcome::Checked { branch, verdict } = &outcome {
            self.violated = branch_policy::report(session, config, &outcome, &mut self.summary);
            if let Some(policy) = &config.branch_policy {
                self.policy_text = report::policy::terminal(policy, branch, verdict);
            }
        }
    }

    fn plan(
        &mut self,
        session: &Session,
        args: &RunArgs,
        config: &crate::config::Config,
        context: &crate::context::Context,
        changes: &crate::detect::ChangeSet,
    ) -> Result<crate::plan::Plan, Failure> {
        let repo = crate::detect::git::GitRepository::open(&session.repo, &config.detect.remote)?;
        let (plan, notes) = plan::make_plan(
            config,
            context,
            changes,
            repo,
            non_empty(args.build.plan.environment.clone()),
        )?;
        session.report_diagnostics(&notes);
        report::plan::table(&plan, &mut self.summary);
        self.outputs = crate::plan::outputs::outputs(&plan);
        self.texts
            .push(report::plan::terminal(&plan, session.color()));
        Ok(plan)
    }

    fn build(
        &mut self,
        session: &Session,
        args: &RunArgs,
        config: &crate::config::Config,
        plan: &crate::plan::Plan,
    ) -> Result<(), Failure> {
        let stage = build::run_builds(session, plan, Some(config), &args.build, &mut self.summary)?;
        self.built_images = stage.json.get("images").cloned().or_else(|| {
            stage
                .outputs
                .iter()
                .find(|(name, _)| name == "images")
                .and_then(|(_, value)| serde_json::from_str(value).ok())
        });
        self.outputs.extend(stage.outputs);
        self.failed = stage.failed;
        self.texts.push(stage.terminal);
        Ok(())
    }

    /// Deploys, unless a build failed: then the log and the summary say why nothing was deployed.
    fn deploy(
        &mut self,
        session: &Session,
        args: &RunArgs,
        config: &crate::config::Config,
        plan: &crate::plan::Plan,
        is_pull_request: bool,
    ) -> Result<(), Failure> {
        if self.failed {
            let why = skipped_deploy_reason(plan, self.built_images.as_ref());
            session.report_diagnostics(&[Diagnostic::notice(
                "shipgate run",
                format!("deploy stage skipped: {why}; nothing was deployed"),
            )]);
            self.summary.push(format!(
                "### 🚀 Deploy: ➖ skipped, because {}",
                crate::runner::summary::inline_markdown(&why)
            ));
            return Ok(());
        }
        if is_pull_request && !args.build.dry_run {
            self.summary.push(
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
        let images = self.built_images.take();
        let stage = deploy::run_deploy(session, plan, config, &inputs, images, &mut self.summary)?;
        self.outputs.extend(stage.outputs);
        self.failed = self.failed || stage.failed;
        self.texts.push(stage.terminal);
        Ok(())
    }

    fn status(
        &mut self,
        session: &Session,
        args: &RunArgs,
        config: &crate::config::Config,
    ) -> Result<(), Failure> {
        let inputs = status::StatusInputs {
            kubeconfig: non_empty(args.deploy.kubeconfig.clone()),
            kube_context: non_empty(args.deploy.kube_context.clone()),
            services: None,
            head: non_empty(args.build.plan.detect.head.clone()),
            fail_on: status::parse_fail_on(args.status.fail_on.as_deref())?,
        };
        let stage = status::run_status(session, config, &inputs, &mut self.summary)?;
        self.outputs.extend(stage.outputs);
        self.failed = self.failed || stage.failed;
        self.texts.push(stage.terminal);
        Ok(())
    }
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
