//! `shipgate config check|schema`.

use super::Session;
use crate::cli::ConfigCommand;
use crate::detect::changes::unmatched_path_warnings;
use crate::detect::git::GitRepository;
use crate::error::Failure;
use serde_json::json;

pub(super) fn execute(session: &Session, command: ConfigCommand) -> Result<u8, Failure> {
    match command {
        ConfigCommand::Schema => {
            crate::runner::write_stdout(crate::config::schema::SCHEMA);
            Ok(0)
        }
        ConfigCommand::Check => check(session),
        ConfigCommand::Reference => {
            crate::runner::write_stdout(&crate::config::schema::reference_markdown());
            Ok(0)
        }
    }
}

fn check(session: &Session) -> Result<u8, Failure> {
    let repo = GitRepository::open(&session.repo, "origin").ok();
    let config = session.load_config(repo.as_ref().map(|r| r.root()))?;
    let mut diagnostics = config.warnings.clone();
    // Paths that match nothing: against HEAD's tree when there is one, else the files on disk.
    let files: Vec<String> = match repo.as_ref().and_then(|r| {
        use crate::detect::range::History;
        let head = r.resolve("HEAD")?;
        r.tree_files(&head).ok()
    }) {
        Some(files) => files,
        None => walk(&session.repo),
    };
    diagnostics.extend(unmatched_path_warnings(
        &config,
        files.iter().map(String::as_str),
    ));
    let root = repo
        .as_ref()
        .map_or_else(|| session.repo.clone(), |r| r.root().to_path_buf());
    let missing = crate::config::deploy_section::check_files(
        &config.deploy,
        &root,
        config.defaults.environment.as_deref(),
        &files,
        &config.path,
    );
    if !missing.is_empty() {
        return Err(Failure::Usage(missing));
    }
    session.report_diagnostics(&diagnostics);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let human = format!(
        "{}: ok ({}, {})\n",
        config.path,
        plural(config.services.len(), "service"),
        plural(diagnostics.len(), "warning")
    );
    session.print_result(
        &human,
        &json!({"config": config.path, "valid": true, "services": config.service_names(), "diagnostics": diagnostics}),
    );
    Ok(0)
}

/// Files below `root`, relative, skipping `.git`.
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files
}
