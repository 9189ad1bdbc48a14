//! `--base-from`: reads each deployable service's deployed commit (from the cluster or the
//! environment's GitHub Deployments), makes
//! sure the commit is in the clone (fetched by SHA when shallow), diffs `base..head` once per
//! distinct base, and hands it all to the pure [`crate::bases::decide`].

use super::Session;
use crate::bases::{Compared, Deployed};
use crate::cli::{DetectArgs, non_empty};
use crate::config::Config;
use crate::config::model::BaseFrom;
use crate::context::Context;
use crate::deploy::cluster::Cluster;
use crate::detect::ChangeSet;
use crate::detect::changes::{Affected, Reason, affected_by_files};
use crate::detect::git::GitRepository;
use crate::detect::range::History;
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::status::{Observed, State};
use std::collections::BTreeMap;

const TITLE: &str = "shipgate detect";

/// Re-decides the deployable services of `changes` from their deployed commits, when
/// `--base-from` (or `defaults.base-from`) asks for it; an explicit selection is kept as is.
pub(super) fn apply(
    session: &Session,
    args: &DetectArgs,
    config: &Config,
    context: &Context,
    repo: &mut GitRepository,
    mut changes: ChangeSet,
) -> Result<ChangeSet, Failure> {
    let Some(mode) = args.base_from.or(config.defaults.base_from) else {
        return Ok(changes);
    };
    if changes
        .affected
        .iter()
        .any(|a| matches!(a.reason, Reason::Selected { .. }))
    {
        return Ok(changes);
    }
    let head = head_commit(repo, &changes, context)?;
    let deployed = match mode {
        BaseFrom::Cluster => from_cluster(session, args, config)?,
        BaseFrom::Github => from_github(session, args, config, context)?,
    };
    let deployed = present(repo, deployed);
    let since = affected_since(config, repo, &deployed, &head)?;
    let counts = commits_behind(config, repo, &deployed, &head)?;
    let compared: Vec<Compared<'_>> = deployed
        .iter()
        .map(|(index, d)| Compared {
            service: *index,
            deployed: d,
            affected_since: match d {
                Deployed::Commit(c) => since.get(c).map(Vec::as_slice).unwrap_or_default(),
                Deployed::Unknown(_) => &[],
            },
            behind: counts.get(index).copied().flatten(),
        })
        .collect();
    let (affected, bases) = crate::bases::decide(config, &changes.affected, &compared);
    changes.affected = affected;
    changes.bases = Some(bases);
    changes.range.description = format!(
        "{}; services with `deploy` compared with the commit each runs (base-from: {})",
        changes.range.description,
        match mode {
            BaseFrom::Cluster => "cluster",
            BaseFrom::Github => "github",
        }
    );
    Ok(changes)
}

/// The commit the services are compared up to: the range's head, the event's, else `HEAD`.
fn head_commit(
    repo: &GitRepository,
    changes: &ChangeSet,
    context: &Context,
) -> Result<String, Failure> {
    changes
        .range
        .head
        .clone()
        .or_else(|| context.sha.clone())
        .and_then(|sha| repo.resolve(&sha))
        .or_else(|| repo.resolve("HEAD"))
        .ok_or_else(|| {
            Failure::usage(Diagnostic::error(
                TITLE,
                "--base-from: the head commit cannot be resolved",
            ))
        })
}

/// What changed since each deployed commit (one diff per distinct commit).
fn affected_since(
    config: &Config,
    repo: &mut GitRepository,
    deployed: &BTreeMap<usize, Deployed>,
    head: &str,
) -> Result<BTreeMap<String, Vec<Affected>>, Failure> {
    let mut since: BTreeMap<String, Vec<Affected>> = BTreeMap::new();
    for commit in deployed.values().filter_map(|d| match d {
        Deployed::Commit(c) => Some(c),
        Deployed::Unknown(_) => None,
    }) {
        if since.contains_key(commit) {
            continue;
        }
        let files = repo.diff(commit, head).map_err(|e| {
            Failure::usage(Diagnostic::error(
                TITLE,
                format!("cannot diff {commit}..{head}: {}", e.message()),
            ))
        })?;
        since.insert(commit.clone(), affected_by_files(config, &files));
    }
    Ok(since)
}

/// How many commits touching each service's paths came after its deployed commit (unknown in a
/// shallow clone).
fn commits_behind(
    config: &Config,
    repo: &GitRepository,
    deployed: &BTreeMap<usize, Deployed>,
    head: &str,
) -> Result<BTreeMap<usize, Option<usize>>, Failure> {
    let head_oid = git2::Oid::from_str(head)
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, format!("bad head {head}: {e}"))))?;
    let mut behind = crate::status::behind::Behind::new(repo.repository(), config, head_oid);
    Ok(deployed
        .iter()
        .map(|(index, d)| {
            let count = match d {
                Deployed::Commit(commit) if !repo.is_shallow() => behind.count(*index, commit),
                _ => None,
            };
            (*index, count)
        })
        .collect())
}

/// A known commit missing from the clone is fetched by SHA; one that stays missing is unknown.
fn present(
    repo: &mut GitRepository,
    deployed: BTreeMap<usize, Deployed>,
) -> BTreeMap<usize, Deployed> {
    deployed
        .into_iter()
        .map(|(index, d)| {
            let d = match d {
                Deployed::Commit(commit)
                    if repo.resolve(&commit).is_none() && !repo.fetch_commits(&[&commit]) =>
                {
                    Deployed::Unknown(format!(
                        "its deployed commit {} is not in this repository, even fetched by SHA",
                        &commit[..7.min(commit.len())]
                    ))
                }
                other => other,
            };
            (index, d)
        })
        .collect()
}

/// Each deployable service's commit as its live workload says (`shipgate.dev/revision` on a
/// completed rollout): one LIST per kind per namespace, like `shipgate status`.
fn from_cluster(
    session: &Session,
    args: &DetectArgs,
    config: &Config,
) -> Result<BTreeMap<usize, Deployed>, Failure> {
    let kube = super::status::connect(
        session,
        non_empty(args.cluster.kubeconfig.clone()).as_deref(),
        non_empty(args.cluster.kube_context.clone()).as_deref(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(Diagnostic::error(TITLE, format!("cannot start: {e}"))))?;
    let cluster = {
        let _guard = runtime.enter();
        Cluster::new(kube).map_err(|e| Failure::usage(Diagnostic::error(TITLE, e.to_string())))?
    };
    let subjects = super::status::subjects(config, &cluster.default_namespace, None)?;
    let listed = runtime
        .block_on(crate::status::read::namespaces(&cluster, &subjects))
        .map_err(|error| {
            let mut diagnostic =
                Diagnostic::error(TITLE, format!("--base-from cluster: {}", error.message));
            if let Some(help) = error.help {
                diagnostic = diagnostic.with_help(help);
            }
            Failure::usage(diagnostic)
        })?;
    let empty = crate::status::read::Namespace::default();
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut deployed = BTreeMap::new();
    for subject in &subjects {
        let Some(index) = config.service_index(&subject.service) else {
            continue;
        };
        let namespace = listed.get(&subject.namespace).unwrap_or(&empty);
        let status = crate::status::judge(
            subject,
            Observed {
                workload: namespace.workloads.get(&(
                    crate::deploy::cluster::plural(subject.kind),
                    subject.workload.clone(),
                )),
                replica_sets: &namespace.replica_sets,
                pods: &namespace.pods,
            },
            &BTreeMap::new(),
            now,
        );
        deployed.insert(index, from_status(&status));
    }
    Ok(deployed)
}

/// What a workload's status says about its deployed commit.
fn from_status(status: &crate::status::ServiceStatus) -> Deployed {
    let workload = format!("{}/{}/{}", status.namespace, status.kind, status.workload);
    match (status.state, &status.revision) {
        (State::Missing, _) => {
            Deployed::Unknown(format!("never deployed: {workload} does not exist"))
        }
        (_, None) => Deployed::Unknown(format!(
            "never deployed by shipgate ({workload} has no shipgate.dev/revision)"
        )),
        (State::Progressing, Some(_)) => Deployed::Unknown(format!("{workload} is mid-rollout")),
        (State::Failed, Some(_)) => Deployed::Unknown(format!("{workload}'s rollout failed")),
        (State::Paused, Some(_)) => Deployed::Unknown(format!("{workload} is paused")),
        (State::Complete, Some(revision)) if is_commit(revision) => {
            Deployed::Commit(revision.to_ascii_lowercase())
        }
        (State::Complete, Some(revision)) => Deployed::Unknown(format!(
            "{workload}'s shipgate.dev/revision `{revision}` is not a commit SHA"
        )),
    }
}

fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Each deployable service's commit as the environment's GitHub Deployments record it: the
/// newest deployment first, one status read per deployment, until every service has its answer
/// (at most [`MAX_RECORDED`](crate::github::deployments::MAX_RECORDED) deployments).
fn from_github(
    session: &Session,
    args: &DetectArgs,
    config: &Config,
    context: &Context,
) -> Result<BTreeMap<usize, Deployed>, Failure> {
    use crate::github::deployments::{DeploymentsClient, MAX_RECORDED};
    let refuse = |message: String| Failure::usage(Diagnostic::error(TITLE, message));
    let token = non_empty(args.github_token.clone()).ok_or_else(|| {
        refuse("--base-from github needs github-token (a token with `deployments: read`)".into())
    })?;
    session.runner.mask(&token);
    let repository = context
        .repository
        .as_deref()
        .ok_or_else(|| refuse("--base-from github needs GITHUB_REPOSITORY (owner/name)".into()))?;
    let environment = non_empty(args.environment.clone())
        .or_else(|| config.defaults.environment.clone())
        .unwrap_or_else(|| "production".into());
    let client = DeploymentsClient::reader(&context.api_url, &token, repository)
        .map_err(|e| refuse(format!("--base-from github: {e}")))?;
    let deployable: BTreeMap<String, usize> = config
        .services
        .iter()
        .enumerate()
        .filter(|(_, s)| s.settings.deploy.is_some())
        .map(|(index, s)| (s.name.clone(), index))
        .collect();
    let mut search = crate::bases::github::Search::new(&environment, deployable.keys().cloned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| refuse(format!("cannot start: {e}")))?;
    runtime
        .block_on(async {
            if search.done() {
                return Ok(());
            }
            for mut deployment in client.list(&environment, MAX_RECORDED).await? {
                deployment.states = client.states(deployment.id).await?;
                search.offer(&deployment);
                if search.done() {
                    break;
                }
            }
            Ok(())
        })
        .map_err(|e: crate::github::deployments::DeploymentsError| {
            refuse(format!("--base-from github: {e}"))
        })?;
    Ok(search
        .finish()
        .into_iter()
        .filter_map(|(name, d)| deployable.get(&name).map(|index| (*index, d)))
        .collect())
}
