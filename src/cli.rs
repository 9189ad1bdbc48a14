//! Command-line definitions. Every action input `foo-bar` is also the flag `--foo-bar` and the
//! environment variable `SHIPGATE_FOO_BAR` (action.yml sets those); a flag wins over the variable.

use crate::detect::OnMissingHistory;
use crate::detect::outputs::ListFiles;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "shipgate",
    about = "The whole deploy pipeline of a monorepo: detect, branch policy, plan, build, deploy.",
    long_about = "The whole deploy pipeline of a monorepo: detect which services changed, enforce a \
branch-name policy, plan tags, build and deploy.\n\nRuns as a GitHub Action (outputs, job summary, \
annotations) or in any terminal.",
    after_help = "Examples:\n  shipgate run --dry-run --base main\n  shipgate detect --base main\n  shipgate plan --format json > plan.json\n  shipgate deploy --plan plan.json --kubeconfig ~/.kube/config\n  shipgate branch-policy --branch users/octocat/fix-login --actor octocat\n  shipgate config check\n  shipgate completions bash",
    disable_version_flag = true
)]
pub struct Cli {
    /// Config file, relative to --repo unless absolute.
    #[arg(long, global = true, env = "SHIPGATE_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,

    /// The repository to work in (like `git -C`).
    #[arg(
        long,
        global = true,
        visible_alias = "working-directory",
        env = "SHIPGATE_WORKING_DIRECTORY",
        default_value = "."
    )]
    pub repo: PathBuf,

    /// Output format on stdout.
    #[arg(long, global = true, value_enum, env = "SHIPGATE_FORMAT", default_value_t = Format::Human)]
    pub format: Format,

    /// Registry hosts (`host[:port]`, comma separated) spoken to over plain http instead of
    /// https, for skip-existing and verify-image; loopback hosts (`localhost`, 127.0.0.0/8,
    /// `::1`) always are, as Docker does.
    #[arg(
        long,
        global = true,
        env = "SHIPGATE_REGISTRY_INSECURE",
        value_name = "HOSTS"
    )]
    pub registry_insecure: Option<String>,

    /// Print the version (with --verbose: the source digest the binary was built from).
    #[arg(short = 'V', long)]
    pub version: bool,

    /// With --version: also print the source digest and build target.
    #[arg(long, requires = "version")]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable text (in Actions: also outputs, summary and annotations).
    Human,
    /// The machine-readable result as JSON on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tell which services changed, and why.
    #[command(
        after_help = "Examples:\n  shipgate detect --base main\n  shipgate detect --services auth,web --format json\n  shipgate detect --list-files shell"
    )]
    Detect(DetectCommand),
    /// Check the pull request's branch name against the configured patterns.
    #[command(
        name = "branch-policy",
        after_help = "Examples:\n  shipgate branch-policy                       # in a pull_request workflow\n  shipgate branch-policy --branch feature/x --actor octocat"
    )]
    BranchPolicy(PolicyArgs),
    /// Compute every changed service's image, tags, OCI labels and build inputs.
    #[command(
        after_help = "Examples:\n  shipgate plan --base main\n  shipgate plan --services auth --format json > plan.json\n  SOURCE_DATE_EPOCH=1766836944 shipgate plan --services all"
    )]
    Plan(PlanCommand),
    /// Build the planned images: buildx, a command template, a build workflow, or elsewhere.
    #[command(
        after_help = "Examples:\n  shipgate build --plan plan.json\n  shipgate build --services auth --dry-run\n  shipgate build --max-parallel 4 --fail-fast --skip-existing"
    )]
    Build(BuildArgs),
    /// Set the planned images on their workloads, watch every rollout, gate on health, roll back.
    #[command(
        after_help = "Examples:\n  shipgate deploy --plan plan.json --images images.json\n  shipgate deploy --plan plan.json --dry-run\n  shipgate deploy --plan plan.json --image auth=ghcr.io/acme/auth:1.4.2 --services auth\n  shipgate deploy --plan plan.json --kubeconfig \"$KUBECONFIG_B64\" --kube-context prod"
    )]
    Deploy(DeployArgs),
    /// What runs where: per service the image, the digests its pods run, the deployed commit,
    /// the rollout state, drift, and how many commits behind the checked-out head it is.
    #[command(
        after_help = "Examples:\n  shipgate status --kubeconfig ~/.kube/config\n  shipgate status --format json | jq '.services[] | select(.drift)'\n  shipgate status --fail-on drift,behind,unhealthy     # a scheduled drift alert"
    )]
    Status(StatusArgs),
    /// Run the pipeline's stages in one step: detect, branch-policy, plan, build, deploy.
    #[command(
        after_help = "Examples:\n  shipgate run --dry-run\n  shipgate run --stages detect,branch-policy\n  shipgate run --stages plan,build,deploy --kubeconfig ~/.kube/config",
        // The build's own wording would be wrong here: say what each stage does with them.
        mut_arg("dry_run", |arg| arg
            .help("Decide everything, change nothing: detect and branch-policy as usual, plan computes the plan, build prints the exact commands and runs none, deploy reads the workloads and shows the patches and gates without sending them")
            .long_help(RUN_DRY_RUN)),
        mut_arg("plan_input", |arg| arg
            .help("A plan computed earlier (a file from `shipgate plan --format json`, or the JSON itself) for the build and deploy stages, when the plan stage is not run")
            .long_help(RUN_PLAN))
    )]
    Run(RunArgs),
    /// Check the config or print its JSON Schema.
    #[command(
        subcommand,
        after_help = "Examples:\n  shipgate config check\n  shipgate config schema > shipgate.schema.json\n  check-jsonschema --schemafile shipgate.schema.json .github/shipgate.yml"
    )]
    Config(ConfigCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  shipgate completions bash > ~/.local/share/bash-completion/completions/shipgate\n  shipgate completions zsh > \"${fpath[1]}/_shipgate\"\n  shipgate completions fish > ~/.config/fish/completions/shipgate.fish"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct DetectArgs {
    /// Compare from the merge-base of this revision (branch, tag or SHA); overrides the event.
    #[arg(long, env = "SHIPGATE_BASE")]
    pub base: Option<String>,

    /// Compare up to this revision (default: the event's head, or HEAD).
    #[arg(long, env = "SHIPGATE_HEAD")]
    pub head: Option<String>,

    /// `all` or a comma list of services: select exactly these instead of detecting.
    #[arg(long, env = "SHIPGATE_SERVICES")]
    pub services: Option<String>,

    /// Also output the changed files: none, json, csv or shell.
    #[arg(long, value_enum, env = "SHIPGATE_LIST_FILES", default_value_t = ListFiles::None)]
    pub list_files: ListFiles,

    /// When the event's commits are missing even after deepening: all (select everything, warn) or error.
    #[arg(long, value_enum, env = "SHIPGATE_ON_MISSING_HISTORY", default_value_t = OnMissingHistory::All)]
    pub on_missing_history: OnMissingHistory,

    /// Token for the GitHub API fallback when the clone lacks history.
    #[arg(long, env = "SHIPGATE_GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,

    /// Compare each deployable service with the commit it runs: `cluster` (its workload's
    /// `shipgate.dev/revision`, read with --kubeconfig) or `github` (the environment's newest
    /// successful GitHub Deployment listing it, read with --github-token); default:
    /// `defaults.base-from`, else the event's range.
    #[arg(long, value_enum, env = "SHIPGATE_BASE_FROM")]
    pub base_from: Option<crate::config::model::BaseFrom>,

    /// The cluster `--base-from cluster` reads (set from `--kubeconfig`/`--kube-context`).
    #[arg(skip)]
    pub cluster: ClusterArgs,

    /// The environment `--base-from github` reads (set from `--environment`).
    #[arg(skip)]
    pub environment: Option<String>,
}

/// The cluster to read: `--kubeconfig` and `--kube-context`.
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// The kubeconfig: a file path, the YAML itself, or its base64 (as stored in a secret).
    /// Default: KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    #[arg(
        long,
        env = "SHIPGATE_KUBECONFIG",
        hide_env_values = true,
        value_name = "PATH|YAML|BASE64"
    )]
    pub kubeconfig: Option<String>,

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, env = "SHIPGATE_KUBE_CONTEXT")]
    pub kube_context: Option<String>,
}

/// `shipgate detect`: detection, plus the cluster `--base-from cluster` reads.
#[derive(Debug, Args, Clone)]
pub struct DetectCommand {
    #[command(flatten)]
    pub detect: DetectArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The environment whose GitHub Deployments `--base-from github` reads (default:
    /// `defaults.environment`, else production).
    #[arg(long, env = "SHIPGATE_ENVIRONMENT")]
    pub environment: Option<String>,
}

/// `shipgate plan`: planning, plus the cluster `--base-from cluster` reads.
#[derive(Debug, Args, Clone)]
pub struct PlanCommand {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PlanArgs {
    #[command(flatten)]
    pub detect: DetectArgs,

    /// The environment `{environment}` tags name (default: `defaults.environment`).
    #[arg(long, env = "SHIPGATE_ENVIRONMENT")]
    pub environment: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct StatusArgs {
    /// `all` or a comma list of services to report (default: every service with `deploy`).
    #[arg(long, env = "SHIPGATE_SERVICES")]
    pub services: Option<String>,

    /// Count commits behind this revision (default: HEAD).
    #[arg(long, env = "SHIPGATE_HEAD")]
    pub head: Option<String>,

    /// The kubeconfig: a file path, the YAML itself, or its base64 (as stored in a secret).
    /// Default: KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    #[arg(
        long,
        env = "SHIPGATE_KUBECONFIG",
        hide_env_values = true,
        value_name = "PATH|YAML|BASE64"
    )]
    pub kubeconfig: Option<String>,

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, env = "SHIPGATE_KUBE_CONTEXT")]
    pub kube_context: Option<String>,

    #[command(flatten)]
    pub status: StatusOptions,
}

/// The status stage's own settings (shared by `status` and `run`).
#[derive(Debug, Args, Clone, Default)]
pub struct StatusOptions {
    /// Exit 1 when any service is: drift (pods run another digest than expected), behind
    /// (commits touching it since its deployed revision), unhealthy (failed, missing, paused,
    /// or fewer available replicas than desired). A comma list; default: never.
    #[arg(long, env = "SHIPGATE_FAIL_ON", value_name = "drift,behind,unhealthy")]
    pub fail_on: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArgs {
    /// The branch to check (default: the pull request's head branch from the event payload).
    #[arg(long)]
    pub branch: Option<String>,

    /// The login `{actor}` must equal (default: the pull request's author).
    #[arg(long)]
    pub actor: Option<String>,
}

/// `run --dry-run`, per stage.
const RUN_DRY_RUN: &str = "Decide everything, change nothing. Per stage:\n\
  detect, branch-policy: as usual (they change nothing anyway)\n\
  plan: computes the plan and its outputs\n\
  build: prints the exact commands (buildx, the command template, the workflow dispatch) and runs none\n\
  deploy: reads the workloads when a cluster is configured and shows the patches and gates it would apply; sends nothing";

/// `run --plan`, per stage.
const RUN_PLAN: &str = "A plan computed earlier: a file written by `shipgate plan --format json`, or the JSON itself (e.g. the `plan` output of an earlier step). Per stage:\n\
  detect, branch-policy: not used\n\
  plan: when this stage runs it plans anew and --plan is not used\n\
  build: builds the plan's images (when the plan stage is not in --stages)\n\
  deploy: deploys each service's primary tag (its first) from it (when the plan stage is not in --stages)";

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Everything detect, plan and build take (`--dry-run` decides everything, changes nothing).
    #[command(flatten)]
    pub build: BuildArgs,

    #[command(flatten)]
    pub deploy: DeployOptions,

    #[command(flatten)]
    pub status: StatusOptions,

    /// Comma list of stages to run (default: every available stage).
    #[arg(long, env = "SHIPGATE_STAGES")]
    pub stages: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    /// Plan inputs, used only when --plan is not given (the build then plans itself).
    #[command(flatten)]
    pub plan: PlanArgs,

    /// The plan to build: a file written by `shipgate plan --format json`, or the JSON itself
    /// (e.g. the `plan` output of an earlier step). Default: plan now, like `shipgate plan`.
    #[arg(long = "plan", env = "SHIPGATE_PLAN", value_name = "FILE|JSON")]
    pub plan_input: Option<String>,

    /// At most this many builds at once.
    #[arg(long, env = "SHIPGATE_MAX_PARALLEL", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: u16,

    /// Look each image up in the registry first; if it exists, push its other tags onto it
    /// instead of building (default: `defaults.build.skip-existing`, else false).
    #[arg(long, env = "SHIPGATE_SKIP_EXISTING", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub skip_existing: Option<bool>,

    /// On the first failed build, cancel the others (default: `defaults.build.fail-fast`, else
    /// false: finish them all).
    #[arg(long, env = "SHIPGATE_FAIL_FAST", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub fail_fast: Option<bool>,

    /// Print the exact commands, run nothing.
    #[arg(long, env = "SHIPGATE_DRY_RUN", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub dry_run: bool,

    /// Push the images (default: yes, except on pull requests, which show what would be pushed).
    #[arg(long, env = "SHIPGATE_PUSH", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", overrides_with = "no_push")]
    pub push: Option<bool>,

    /// Build without pushing (same as --push false).
    #[arg(long, overrides_with = "push")]
    pub no_push: bool,

    /// Passed to `docker buildx build --provenance` (e.g. `mode=max`, `false`).
    #[arg(long, env = "SHIPGATE_PROVENANCE")]
    pub provenance: Option<String>,

    /// Passed to `docker buildx build --sbom` (e.g. `true`, `false`).
    #[arg(long, env = "SHIPGATE_SBOM")]
    pub sbom: Option<String>,

    /// How long a build workflow may take, from dispatch to conclusion.
    #[arg(long, env = "SHIPGATE_WORKFLOW_TIMEOUT", default_value = "60m", value_parser = crate::config::model::parse_duration)]
    pub workflow_timeout: std::time::Duration,

    /// How often a build workflow's run is looked at; the first API retry waits as long (at most 1s).
    #[arg(long, env = "SHIPGATE_POLL_INTERVAL", default_value = "10s", value_parser = crate::config::model::parse_duration, hide = true)]
    pub poll_interval: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct DeployArgs {
    /// Plan inputs, used only when --plan is not given (the deploy then plans itself).
    #[command(flatten)]
    pub plan: PlanArgs,

    /// The plan to deploy: a file written by `shipgate plan --format json`, or the JSON itself.
    /// Each service's primary tag (its first) is deployed.
    #[arg(long = "plan", env = "SHIPGATE_PLAN", value_name = "FILE|JSON")]
    pub plan_input: Option<String>,

    /// Decide everything (targets, containers, the exact patches, the gates) and change nothing.
    #[arg(long, env = "SHIPGATE_DRY_RUN", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub dry_run: bool,

    #[command(flatten)]
    pub deploy: DeployOptions,
}

/// The deploy stage's own settings (shared by `deploy` and `run`).
#[derive(Debug, Args, Clone)]
pub struct DeployOptions {
    /// The build's `images` output: JSON, a file, or a directory of such files (one per matrix
    /// leg). A digest reported there is deployed instead of the tag.
    #[arg(long, env = "SHIPGATE_IMAGES", value_name = "FILE|DIR|JSON")]
    pub images: Option<String>,

    /// Deploy exactly this image for one service (`auth=ghcr.io/acme/auth:1.4.2`); repeatable.
    #[arg(long = "image", value_name = "SERVICE=IMAGE")]
    pub image_overrides: Vec<String>,

    /// The kubeconfig: a file path, the YAML itself, or its base64 (as stored in a secret).
    /// Default: KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    #[arg(
        long,
        env = "SHIPGATE_KUBECONFIG",
        hide_env_values = true,
        value_name = "PATH|YAML|BASE64"
    )]
    pub kubeconfig: Option<String>,

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, env = "SHIPGATE_KUBE_CONTEXT")]
    pub kube_context: Option<String>,

    /// Skip the health gates (reported loudly in the summary).
    #[arg(long, env = "SHIPGATE_SKIP_HEALTH", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub skip_health: bool,

    /// After each rollout, check that every new pod runs the expected digest (the build's, the
    /// pinned one, or the registry's digest of the tag): auto (when a digest is known or the tag
    /// is mutable), true, false. Overrides `deploy.verify-digest` and `defaults.deploy`.
    #[arg(long, env = "SHIPGATE_VERIFY_DIGEST", value_name = "auto|true|false", value_parser = crate::config::model::VerifyDigest::parse)]
    pub verify_digest: Option<crate::config::model::VerifyDigest>,

    /// Start the next wave even when a service of an earlier wave failed.
    #[arg(long, env = "SHIPGATE_CONTINUE_ON_FAILURE", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub continue_on_failure: bool,

    /// How long to wait for another run's deploy lock on a namespace.
    #[arg(long, env = "SHIPGATE_LOCK_TIMEOUT", default_value = "10m", value_parser = crate::config::model::parse_duration)]
    pub lock_timeout: std::time::Duration,

    /// Bounds the whole deploy (every wave, rollout and gate); 0 = no bound beyond each service's.
    #[arg(long, env = "SHIPGATE_DEPLOY_TIMEOUT", default_value = "30m", value_parser = crate::config::model::parse_duration)]
    pub deploy_timeout: std::time::Duration,

    /// Record the deploy as a GitHub Deployment with statuses (needs `deployments: write`).
    #[arg(long, env = "SHIPGATE_GITHUB_DEPLOYMENTS", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub github_deployments: bool,

    /// The environment's URL, shown on the GitHub Deployment.
    #[arg(long, env = "SHIPGATE_ENVIRONMENT_URL")]
    pub environment_url: Option<String>,
}

impl BuildArgs {
    /// Only the planning inputs set; the build settings at their defaults (for stages that
    /// need a plan but build nothing).
    pub fn for_plan_only() -> Self {
        BuildArgs {
            plan: PlanArgs::default(),
            plan_input: None,
            max_parallel: 2,
            skip_existing: None,
            fail_fast: None,
            dry_run: false,
            push: None,
            no_push: false,
            provenance: None,
            sbom: None,
            workflow_timeout: std::time::Duration::from_secs(3600),
            poll_interval: std::time::Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config: syntax, keys, names, globs, dependencies, and paths that match nothing.
    #[command(visible_alias = "validate")]
    Check,
    /// Print the config's JSON Schema (for editors and check-jsonschema).
    Schema,
    /// Print the config reference (every key, its type and meaning) as a markdown table.
    Reference,
}

/// Normalises empty environment values (an unset action input arrives as "") to "absent".
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}
