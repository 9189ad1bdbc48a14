//! The git edge: git2 for reading history and diffs, the `git` CLI for fetching (it knows the
//! runner's credentials and protocol settings).

use super::range::History;
use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::plan::content::TreeEntry;
use git2::{ErrorCode, Oid, Repository};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a file changed between two commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum ChangeKind {
    #[serde(rename = "added")]
    Added,
    #[serde(rename = "modified")]
    Modified,
    #[serde(rename = "deleted")]
    Deleted,
    #[serde(rename = "type-changed")]
    TypeChanged,
}

impl ChangeKind {
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Deleted => 'D',
            ChangeKind::TypeChanged => 'T',
        }
    }
}

/// One changed path. A rename is a deletion of the old path and an addition of the new one, so
/// both sides count for matching.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct FileChange {
    pub path: String,
    pub kind: ChangeKind,
}

/// An opened repository plus the remote to deepen from.
pub struct GitRepository {
    repo: Repository,
    root: PathBuf,
    remote: String,
    /// Set when the owner check had to be skipped; `git` then needs it too.
    trusted_by_us: bool,
    /// The `git fetch` commands run, for the log.
    pub fetches: Vec<String>,
    /// A `git diff` started early on the range this run most likely compares.
    pending: Option<PendingDiff>,
    /// A tree walk started early on the commit `plan` most likely plans.
    pending_tree: Option<PendingTree>,
}

/// A [`GitRepository::tree_entries_below`] running on a thread, and what it was asked.
struct PendingTree {
    commit: String,
    directories: Vec<String>,
    files: Vec<String>,
    reader: std::thread::JoinHandle<Option<Vec<TreeEntry>>>,
}

/// A `git diff` started before the range was resolved, on the pair of commits it most likely is
/// ([`super::range::likely_pair`]), so that git reads the trees while the config loads; its
/// output is parsed on a thread as git writes it. Used by [`GitRepository::diff`] only for
/// exactly that pair; otherwise stopped when dropped.
struct PendingDiff {
    base: String,
    head: String,
    child: std::process::Child,
    reader: Option<std::thread::JoinHandle<Option<Vec<FileChange>>>>,
}

impl PendingDiff {
    /// The changes, once git has finished; `None` if it failed (e.g. history was fetched since).
    fn finish(mut self) -> Option<Vec<FileChange>> {
        let changes = self.reader.take()?.join().ok()??;
        self.child.wait().ok()?.success().then_some(changes)
    }
}

impl Drop for PendingDiff {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            // Not used: stop git, then the reader sees the end of its output.
            let _ = self.child.kill();
            let _ = reader.join();
        }
        let _ = self.child.wait();
    }
}

impl GitRepository {
    /// Opens the repository at or above `path`.
    ///
    /// libgit2 refuses a repository owned by another user unless `safe.directory` allows it
    /// (container jobs). Inside Actions, the workspace is trusted like `actions/checkout` does.
    pub fn open(path: &Path, remote: &str) -> Result<Self, Failure> {
        // Objects of the local repository are trusted as `git` itself trusts them: re-hashing
        // every tree and blob read costs about a tenth of a plan.
        git2::opts::strict_hash_verification(false);
        let mut trusted_by_us = false;
        let repo = match Repository::discover(path) {
            Ok(repo) => repo,
            Err(e) if e.code() == ErrorCode::Owner && in_actions_workspace(path) => {
                // SAFETY of intent: only the job's own workspace, which the runner checked out.
                unsafe_disable_owner_check();
                trusted_by_us = true;
                Repository::discover(path).map_err(|e| open_error(path, &e))?
            }
            Err(e) => return Err(open_error(path, &e)),
        };
        let root = repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.path().to_path_buf());
        Ok(GitRepository {
            repo,
            root,
            remote: remote.to_string(),
            trusted_by_us,
            fetches: Vec::new(),
            pending: None,
            pending_tree: None,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The libgit2 repository, for read-only history walks outside detection
    /// (`shipgate status` counts the commits a deployed revision lacks).
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// The remote to deepen from, once the config has named it.
    pub fn set_remote(&mut self, remote: &str) {
        self.remote = remote.to_string();
    }

    /// Starts `git diff` on `base..head` (full SHAs) in the background, when both commits are in
    /// the clone; [`GitRepository::diff`] of exactly that pair takes its result.
    pub fn prefetch_diff(&mut self, base: &str, head: &str) {
        let present =
            |sha: &str| Oid::from_str(sha).is_ok_and(|id| self.repo.find_commit(id).is_ok());
        if !present(base) || !present(head) {
            return;
        }
        let Ok(mut child) = self.diff_command(base, head).spawn() else {
            return;
        };
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return;
        };
        let reader = std::thread::spawn(move || read_name_status(stdout));
        self.pending = Some(PendingDiff {
            base: base.to_string(),
            head: head.to_string(),
            child,
            reader: Some(reader),
        });
    }

    /// The files that differ between two commits' trees, sorted by path.
    ///
    /// `git diff --name-status -z --no-renames` when the `git` program is there: on large
    /// diffs it reads trees about three times faster than libgit2 (see `scripts/bench-detect`).
    /// Its output is parsed as it streams in (from a [`GitRepository::prefetch_diff`] of the same
    /// pair when there is one). Otherwise both trees are walked with libgit2, skipping every
    /// unchanged subtree; the two give the same list (`tests/it/git_diff_parity.rs`).
    pub fn diff(&mut self, base: &str, head: &str) -> Result<Vec<FileChange>, git2::Error> {
        let base_commit = self.repo.find_commit(Oid::from_str(base)?)?;
        let head_commit = self.repo.find_commit(Oid::from_str(head)?)?;
        let (base, head) = (base_commit.id().to_string(), head_commit.id().to_string());
        let prefetched = self
            .pending
            .take()
            .filter(|pending| (pending.base.as_str(), pending.head.as_str()) == (&base, &head))
            .and_then(PendingDiff::finish);
        if let Some(mut changes) = prefetched.or_else(|| self.diff_with_git(&base, &head)) {
            changes.sort();
            return Ok(changes);
        }
        let mut changes = Vec::new();
        let (old, new) = (base_commit.tree()?, head_commit.tree()?);
        diff_trees(&self.repo, "", Some(&old), Some(&new), &mut changes)?;
        changes.sort();
        Ok(changes)
    }

    /// The diff by the `git` program, read as it streams; `None` when it is missing or fails.
    fn diff_with_git(&self, base: &str, head: &str) -> Option<Vec<FileChange>> {
        let mut child = self.diff_command(base, head).spawn().ok()?;
        let changes = child.stdout.take().and_then(read_name_status);
        let status = child.wait().ok()?;
        if !status.success() {
            return None;
        }
        changes
    }

    /// `git diff --name-status -z --no-renames base head`, its output piped.
    fn diff_command(&self, base: &str, head: &str) -> Command {
        let mut command = Command::new("git");
        command.arg("-C").arg(&self.root);
        if self.trusted_by_us {
            command
                .arg("-c")
                .arg(format!("safe.directory={}", self.root.display()));
        }
        command
            .args([
                "-c",
                "core.quotepath=false",
                "diff",
                "--name-status",
                "-z",
                "--no-renames",
            ])
            .args([
                "--no-ext-diff",
                "--ignore-submodules=none",
                base,
                head,
                "--",
            ])
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_NO_LAZY_FETCH", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        command
    }

    /// Every file path in a commit's tree (for "this service's paths match nothing").
    pub fn tree_files(&self, commit: &str) -> Result<Vec<String>, git2::Error> {
        let tree = self.repo.find_commit(Oid::from_str(commit)?)?.tree()?;
        let mut files = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(git2::ObjectType::Tree) {
                files.push(format!("{dir}{}", entry.name().unwrap_or_default()));
            }
            git2::TreeWalkResult::Ok
        })?;
        Ok(files)
    }

    /// Every file of a commit's tree with its mode and blob id (for `{content}`), sorted.
    pub fn tree_entries(&self, commit: &str) -> Result<Vec<TreeEntry>, git2::Error> {
        entries_below(&self.repo, commit, &[""], &[])
    }

    /// The files of a commit's tree below the given directories (each ending with `/`, `""` for
    /// the whole tree) plus the given single files, sorted: what `{content}` needs, without
    /// reading the parts of the tree no pattern can reach. Taken from a
    /// [`GitRepository::prefetch_tree_entries`] of exactly the same request when there is one.
    pub fn tree_entries_below(
        &mut self,
        commit: &str,
        directories: &[&str],
        files: &[&str],
    ) -> Result<Vec<TreeEntry>, git2::Error> {
        if let Some(pending) = self.pending_tree.take()
            && pending.commit == commit
            && pending.directories.iter().eq(directories)
            && pending.files.iter().eq(files)
            && let Ok(Some(entries)) = pending.reader.join()
        {
            return Ok(entries);
        }
        entries_below(&self.repo, commit, directories, files)
    }

    /// Starts reading [`GitRepository::tree_entries_below`] of `commit` on a thread, with its
    /// own handle on the repository, so that the tree walk of `plan` runs while `git diff` does.
    /// The result is taken only by a request for exactly the same commit and paths.
    pub fn prefetch_tree_entries(
        &mut self,
        commit: &str,
        directories: Vec<String>,
        files: Vec<String>,
    ) {
        let path = self.repo.path().to_path_buf();
        let (walked_commit, walked_directories, walked_files) =
            (commit.to_string(), directories.clone(), files.clone());
        let reader = std::thread::spawn(move || {
            let repo = Repository::open(path).ok()?;
            let directories: Vec<&str> = walked_directories.iter().map(String::as_str).collect();
            let files: Vec<&str> = walked_files.iter().map(String::as_str).collect();
            entries_below(&repo, &walked_commit, &directories, &files).ok()
        });
        self.pending_tree = Some(PendingTree {
            commit: commit.to_string(),
            directories,
            files,
            reader,
        });
    }

    /// A blob's text by id (a [`TreeEntry`]'s), if it is one and is UTF-8.
    pub fn read_blob(&self, id: &[u8; 20]) -> Option<String> {
        let blob = self.repo.find_blob(Oid::from_bytes(id).ok()?).ok()?;
        String::from_utf8(blob.content().to_vec()).ok()
    }

    /// A file's text in a commit, if it exists and is UTF-8.
    pub fn read_file(&self, commit: &str, path: &str) -> Option<String> {
        let tree = self
            .repo
            .find_commit(Oid::from_str(commit).ok()?)
            .ok()?
            .tree()
            .ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        let blob = self.repo.find_blob(entry.id()).ok()?;
        String::from_utf8(blob.content().to_vec()).ok()
    }

    /// The tags whose commit is `commit` or one of its ancestors (a release tagged on another
    /// branch, or later, does not count).
    pub fn tags_reachable_from(&self, commit: &str) -> Vec<String> {
        let Ok(head) = Oid::from_str(commit) else {
            return Vec::new();
        };
        self.tag_names()
            .into_iter()
            .filter(|name| {
                let tagged = self
                    .repo
                    .revparse_single(&format!("refs/tags/{name}"))
                    .and_then(|o| o.peel_to_commit())
                    .map(|c| c.id());
                tagged.is_ok_and(|t| {
                    t == head || self.repo.graph_descendant_of(head, t).unwrap_or(false)
                })
            })
            .collect()
    }

    /// Every tag name of the repository.
    pub fn tag_names(&self) -> Vec<String> {
        self.repo
            .tag_names(None)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.ok().flatten())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The checked-out branch, if HEAD is on one.
    pub fn current_branch(&self) -> Option<String> {
        let head = self.repo.head().ok()?;
        if head.is_branch() {
            head.shorthand().ok().map(str::to_string)
        } else {
            None
        }
    }

    /// The default branch as the remote's HEAD says, else `main` or `master` if they exist.
    pub fn guess_default_branch(&self) -> Option<String> {
        let head_ref = format!("refs/remotes/{}/HEAD", self.remote);
        if let Ok(reference) = self.repo.find_reference(&head_ref)
            && let Ok(Some(target)) = reference.symbolic_target()
        {
            let prefix = format!("refs/remotes/{}/", self.remote);
            return target.strip_prefix(&prefix).map(str::to_string);
        }
        ["main", "master"]
            .into_iter()
            .map(str::to_string)
            .find(|name| {
                self.repo
                    .find_reference(&format!("refs/heads/{name}"))
                    .is_ok()
                    || self
                        .repo
                        .find_reference(&format!("refs/remotes/{}/{name}", self.remote))
                        .is_ok()
            })
    }

    fn has_remote(&self) -> bool {
        self.repo.find_remote(&self.remote).is_ok()
    }

    /// Runs `git fetch` with fixed, validated arguments (never a shell).
    fn git_fetch(&mut self, args: &[String]) -> bool {
        if !self.has_remote() {
            return false;
        }
        let mut command = Command::new("git");
        command.arg("-C").arg(&self.root);
        if self.trusted_by_us {
            command
                .arg("-c")
                .arg(format!("safe.directory={}", self.root.display()));
        }
        command
            .args([
                "fetch",
                "--no-tags",
                "--quiet",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null());
        self.fetches.push(format!("git fetch {}", args.join(" ")));
        let ok = command
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        // Reopen so libgit2 sees new packs and the new shallow boundary.
        if let Ok(repo) = Repository::open(self.repo.path()) {
            self.repo = repo;
        }
        ok
    }

    fn shallow_boundary(&self) -> String {
        std::fs::read_to_string(self.repo.path().join("shallow")).unwrap_or_default()
    }
}

fn in_actions_workspace(path: &Path) -> bool {
    let runner = crate::context::RunnerEnvironment::current();
    let Some(workspace) = runner.workspace.filter(|_| runner.in_actions) else {
        return false;
    };
    let (Ok(path), Ok(workspace)) = (path.canonicalize(), workspace.canonicalize()) else {
        return false;
    };
    path.starts_with(workspace)
}

#[expect(
    unsafe_code,
    reason = "libgit2 global option, set once before any repository is opened"
)]
fn unsafe_disable_owner_check() {
    // libgit2's global option; called before any other repository is opened by this process.
    // SAFETY: set once, single-threaded, before concurrent libgit2 use.
    unsafe {
        let _ = git2::opts::set_verify_owner_validation(false);
    }
}

fn open_error(path: &Path, error: &git2::Error) -> Failure {
    let diagnostic =
        if error.code() == ErrorCode::Owner {
            Diagnostic::error(
                "shipgate git",
                format!(
                    "git refuses {}: it is owned by another user",
                    path.display()
                ),
            )
            .with_help(format!(
                "run `git config --global --add safe.directory {}` first",
                path.display()
            ))
        } else {
            Diagnostic::error(
            "shipgate git",
            format!(
                "{} is not inside a git repository ({})",
                path.canonicalize().unwrap_or_else(|_| path.to_path_buf()).display(),
                error.message()
            ),
        )
        .with_help(
            "pass --repo (working-directory) pointing at a checkout, e.g. after actions/checkout",
        )
        };
    Failure::usage(diagnostic)
}

fn is_full_hex(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit())
}

impl History for GitRepository {
    fn resolve(&self, rev: &str) -> Option<String> {
        let found = self
            .repo
            .revparse_single(rev)
            .or_else(|_| self.repo.revparse_single(&format!("{}/{rev}", self.remote)))
            .ok()?;
        found.peel_to_commit().ok().map(|c| c.id().to_string())
    }

    fn default_branch(&mut self, name: &str) -> Option<String> {
        let tracking = format!("refs/remotes/{}/{name}", self.remote);
        let lookup = |repo: &Repository| {
            repo.revparse_single(&tracking)
                .or_else(|_| repo.revparse_single(&format!("refs/heads/{name}")))
                .ok()
                .and_then(|o| o.peel_to_commit().ok())
                .map(|c| c.id().to_string())
        };
        if let Some(found) = lookup(&self.repo) {
            return Some(found);
        }
        if crate::policy::check_ref_format(name).is_err() {
            return None;
        }
        let mut args = Vec::new();
        if self.repo.is_shallow() {
            args.push("--depth=32".to_string());
        }
        args.push(self.remote.clone());
        args.push(format!("+refs/heads/{name}:{tracking}"));
        self.git_fetch(&args);
        lookup(&self.repo)
    }

    fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let a = Oid::from_str(a).ok()?;
        let b = Oid::from_str(b).ok()?;
        self.repo.merge_base(a, b).ok().map(|o| o.to_string())
    }

    fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        let (Ok(a), Ok(d)) = (Oid::from_str(ancestor), Oid::from_str(descendant)) else {
            return false;
        };
        a == d || self.repo.graph_descendant_of(d, a).unwrap_or(false)
    }

    fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    fn fetch_commits(&mut self, shas: &[&str]) -> bool {
        let missing: Vec<String> = shas
            .iter()
            .filter(|s| self.resolve(s).is_none())
            .map(|s| s.to_string())
            .collect();
        if missing.is_empty() {
            return true;
        }
        if !missing.iter().all(|s| is_full_hex(s)) {
            return false;
        }
        let mut args = Vec::new();
        if self.repo.is_shallow() {
            args.push("--depth=32".to_string());
        }
        args.push(self.remote.clone());
        args.extend(missing.iter().cloned());
        self.git_fetch(&args);
        missing.iter().all(|s| self.resolve(s).is_some())
    }

    fn deepen(&mut self, tips: &[&str], by: u32) -> bool {
        if !self.repo.is_shallow() || !tips.iter().all(|t| is_full_hex(t)) {
            return false;
        }
        let before = self.shallow_boundary();
        let mut args = vec![format!("--deepen={by}"), self.remote.clone()];
        args.extend(tips.iter().map(|t| t.to_string()));
        let fetched = self.git_fetch(&args);
        fetched && self.shallow_boundary() != before
    }
}

/// The files of `commit`'s tree below `directories` (each ending with `/`; `""` is the whole
/// tree) plus the single `files`, sorted, in one walk from the root.
fn entries_below(
    repo: &Repository,
    commit: &str,
    directories: &[&str],
    files: &[&str],
) -> Result<Vec<TreeEntry>, git2::Error> {
    let root = repo.find_commit(Oid::from_str(commit)?)?.tree()?;
    let everything = directories.contains(&"");
    let wanted = WantedPaths::new(directories, files);
    let mut entries = Vec::new();
    // Whether all of the directory the walk is in is taken, decided once per directory.
    let mut current: (String, bool) = (String::new(), everything);
    // One walk from the root, reading each tree once: a lookup per directory or file would
    // parse the trees on its way again every time (libgit2 does not cache large trees), which
    // made 10,000 services in one folder quadratic.
    root.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if current.0 != dir {
            current = (dir.to_string(), everything || wanted.takes_all_below(dir));
        }
        let all_below = current.1;
        let name = entry.name().unwrap_or_default();
        if entry.kind() == Some(git2::ObjectType::Tree) {
            return if all_below || wanted.leads_to(&format!("{dir}{name}/")) {
                git2::TreeWalkResult::Ok
            } else {
                git2::TreeWalkResult::Skip
            };
        }
        let path = format!("{dir}{name}");
        if all_below || wanted.files.contains(path.as_str()) {
            entries.push(TreeEntry {
                path,
                mode: entry.filemode() as u32,
                blob: blob_id(entry.id()),
            });
        }
        git2::TreeWalkResult::Ok
    })?;
    entries.sort();
    entries.dedup();
    Ok(entries)
}

/// An object id as the 20 bytes `{content}` hashes.
fn blob_id(id: Oid) -> [u8; 20] {
    let mut bytes = [0u8; 20];
    let raw = id.as_bytes();
    let length = raw.len().min(20);
    bytes[..length].copy_from_slice(&raw[..length]);
    bytes
}

/// The directories (each ending with `/`) and single files a tree walk collects.
struct WantedPaths<'a> {
    directories: HashSet<&'a str>,
    files: HashSet<&'a str>,
    /// Every directory on the way to a wanted directory or file (`a/` for `a/b/`).
    on_the_way: HashSet<&'a str>,
}

impl<'a> WantedPaths<'a> {
    fn new(directories: &[&'a str], files: &[&'a str]) -> Self {
        let mut on_the_way = HashSet::new();
        for path in directories.iter().chain(files) {
            let inner = path.strip_suffix('/').unwrap_or(path);
            for (position, c) in inner.char_indices() {
                if c == '/' {
                    on_the_way.insert(&inner[..=position]);
                }
            }
        }
        WantedPaths {
            directories: directories.iter().copied().collect(),
            files: files.iter().copied().collect(),
            on_the_way,
        }
    }

    /// Whether `directory` (ending with `/`) is wanted or on the way to something wanted.
    fn leads_to(&self, directory: &str) -> bool {
        self.directories.contains(directory) || self.on_the_way.contains(directory)
    }

    /// Whether everything in `directory` (`""` for the root, else ending with `/`) is taken:
    /// it is a wanted directory or below one.
    fn takes_all_below(&self, directory: &str) -> bool {
        directory
            .char_indices()
            .filter(|(_, c)| *c == '/')
            .any(|(position, _)| self.directories.contains(&directory[..=position]))
    }
}

/// Parses `git diff --name-status -z --no-renames` output: `STATUS NUL PATH NUL` pairs.
pub fn parse_name_status(output: &[u8]) -> Option<Vec<FileChange>> {
    read_name_status(output)
}

/// Reads `git diff --name-status -z --no-renames` output as it arrives: `STATUS NUL PATH NUL`
/// pairs; `None` on a status it does not know (a rename or copy) or a status without a path.
pub fn read_name_status(input: impl std::io::Read) -> Option<Vec<FileChange>> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, input);
    let mut changes = Vec::new();
    let mut field = Vec::new();
    let mut next_field = |field: &mut Vec<u8>| -> Option<bool> {
        loop {
            field.clear();
            if reader.read_until(0, field).ok()? == 0 {
                return Some(false);
            }
            if field.last() == Some(&0) {
                field.pop();
            }
            if !field.is_empty() {
                return Some(true);
            }
        }
    };
    while next_field(&mut field)? {
        let kind = match field.first()? {
            b'A' => ChangeKind::Added,
            b'D' => ChangeKind::Deleted,
            b'T' => ChangeKind::TypeChanged,
            b'M' | b'U' | b'X' => ChangeKind::Modified,
            _ => return None,
        };
        if !next_field(&mut field)? {
            return None;
        }
        let path = match std::str::from_utf8(&field) {
            Ok(path) => path.to_string(),
            Err(_) => String::from_utf8_lossy(&field).into_owned(),
        };
        changes.push(FileChange { path, kind });
    }
    Some(changes)
}

/// A tree's entries by name: (id, file mode).
type Entries = std::collections::BTreeMap<Vec<u8>, (Oid, i32)>;

const TREE_MODE: i32 = 0o040000;
const LINK_MODE: i32 = 0o120000;

fn entries(tree: Option<&git2::Tree>) -> Entries {
    let mut map = Entries::new();
    if let Some(tree) = tree {
        for entry in tree.iter() {
            map.insert(entry.name_bytes().to_vec(), (entry.id(), entry.filemode()));
        }
    }
    map
}

/// Appends the changes between two (possibly absent) trees under `prefix`. A rename is a
/// deletion plus an addition; a directory replaced by a file lists both sides.
fn diff_trees(
    repo: &Repository,
    prefix: &str,
    old: Option<&git2::Tree>,
    new: Option<&git2::Tree>,
    out: &mut Vec<FileChange>,
) -> Result<(), git2::Error> {
    let old_entries = entries(old);
    let new_entries = entries(new);
    let mut names: Vec<&Vec<u8>> = old_entries.keys().chain(new_entries.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let before = old_entries.get(name).copied();
        let after = new_entries.get(name).copied();
        if before == after {
            continue;
        }
        let path = format!("{prefix}{}", String::from_utf8_lossy(name));
        let subtree = |entry: Option<(Oid, i32)>| entry.filter(|(_, mode)| *mode == TREE_MODE);
        let file = |entry: Option<(Oid, i32)>| entry.filter(|(_, mode)| *mode != TREE_MODE);
        if subtree(before).is_some() || subtree(after).is_some() {
            let old_tree = subtree(before)
                .map(|(id, _)| repo.find_tree(id))
                .transpose()?;
            let new_tree = subtree(after)
                .map(|(id, _)| repo.find_tree(id))
                .transpose()?;
            diff_trees(
                repo,
                &format!("{path}/"),
                old_tree.as_ref(),
                new_tree.as_ref(),
                out,
            )?;
        }
        let kind = match (file(before), file(after)) {
            (Some(_), None) => ChangeKind::Deleted,
            (None, Some(_)) => ChangeKind::Added,
            (Some((_, old_mode)), Some((_, new_mode))) => {
                if (old_mode == LINK_MODE) != (new_mode == LINK_MODE) {
                    ChangeKind::TypeChanged
                } else {
                    ChangeKind::Modified
                }
            }
            (None, None) => continue,
        };
        out.push(FileChange { path, kind });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_below_directories_and_single_files_in_one_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = [
            "a/x.rs",
            "a/b/y.rs",
            "ab/z.rs",
            "c/d/e/f.rs",
            "c/d/other.rs",
            "c/top.rs",
            "docker/api/Dockerfile",
            "docker/web/Dockerfile",
            "README.md",
        ];
        for file in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .current_dir(root)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .output()
                .unwrap();
            assert!(status.status.success(), "{status:?}");
            String::from_utf8(status.stdout).unwrap()
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "x"]);
        let head = git(&["rev-parse", "HEAD"]).trim().to_string();
        let mut repo = GitRepository::open(root, "origin").unwrap();
        let below = repo
            .tree_entries_below(
                &head,
                &["a/", "c/d/e/"],
                &["docker/api/Dockerfile", "a/x.rs"],
            )
            .unwrap();
        let paths: Vec<&str> = below.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["a/b/y.rs", "a/x.rs", "c/d/e/f.rs", "docker/api/Dockerfile"]
        );
        let all = repo.tree_entries(&head).unwrap();
        assert!(
            below.iter().all(|e| all.contains(e)),
            "same modes and blob ids"
        );

        // Read ahead on a thread: the same entries for the same request, and another request
        // (other paths) walks again rather than taking them.
        let owned = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        repo.prefetch_tree_entries(
            &head,
            owned(&["a/", "c/d/e/"]),
            owned(&["docker/api/Dockerfile", "a/x.rs"]),
        );
        let prefetched = repo
            .tree_entries_below(
                &head,
                &["a/", "c/d/e/"],
                &["docker/api/Dockerfile", "a/x.rs"],
            )
            .unwrap();
        assert_eq!(prefetched, below);
        repo.prefetch_tree_entries(&head, owned(&["a/"]), Vec::new());
        let other = repo.tree_entries_below(&head, &["c/"], &[]).unwrap();
        let paths: Vec<&str> = other.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["c/d/e/f.rs", "c/d/other.rs", "c/top.rs"]);
        let blob = other.iter().find(|e| e.path == "c/top.rs").unwrap().blob;
        assert_eq!(repo.read_blob(&blob).as_deref(), Some("c/top.rs"));
    }

    #[test]
    fn name_status_output_is_parsed() {
        let changes = parse_name_status(b"M\0a b.txt\0A\0new\0D\0gone\0T\0link\0").unwrap();
        let kinds: Vec<(&str, ChangeKind)> =
            changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("a b.txt", ChangeKind::Modified),
                ("new", ChangeKind::Added),
                ("gone", ChangeKind::Deleted),
                ("link", ChangeKind::TypeChanged)
            ]
        );
        assert_eq!(parse_name_status(b"").unwrap(), vec![]);
        assert!(parse_name_status(b"M\0").is_none());
        assert!(
            parse_name_status(b"R100\0a\0b\0").is_none(),
            "renames are never asked for"
        );
    }
}
