//! How far behind the checked-out head a deployed revision is: the commits in
//! `revision..head` that touch the service's paths, the paths of what it depends on, or the
//! config's `global` paths — the commits that would make `detect` select it.
//!
//! Each commit is diffed against its first parent once, whatever the number of services; each
//! distinct revision is walked once.

use crate::config::Config;
use crate::detect::matcher::Owner;
use git2::{Oid, Repository, Sort};
use std::collections::{BTreeSet, HashMap};

/// Which owners one commit touched.
#[derive(Debug, Clone, Default)]
struct Touched {
    global: bool,
    services: BTreeSet<usize>,
}

/// Counts commits behind `head`, per service.
pub struct Behind<'a> {
    repo: &'a Repository,
    config: &'a Config,
    head: Oid,
    touched: HashMap<Oid, Touched>,
    ranges: HashMap<Oid, Option<Vec<Oid>>>,
}

impl<'a> Behind<'a> {
    pub fn new(repo: &'a Repository, config: &'a Config, head: Oid) -> Self {
        Behind {
            repo,
            config,
            head,
            touched: HashMap::new(),
            ranges: HashMap::new(),
        }
    }

    /// Commits in `revision..head` relevant to the service at `index`; `None` when the revision
    /// is not a full commit SHA of this history (never deployed by shipgate, or a shallow clone
    /// that lacks it).
    pub fn count(&mut self, index: usize, revision: &str) -> Option<usize> {
        let revision = Oid::from_str(revision)
            .ok()
            .filter(|_| revision.len() == 40)?;
        let commits = self.range(revision)?;
        let relevant = self.config.graph.dependencies(index);
        let mut count = 0;
        for commit in commits {
            let touched = self.touched(commit);
            if touched.global || relevant.iter().any(|i| touched.services.contains(i)) {
                count += 1;
            }
        }
        Some(count)
    }

    fn range(&mut self, revision: Oid) -> Option<Vec<Oid>> {
        if let Some(known) = self.ranges.get(&revision) {
            return known.clone();
        }
        let walked = self.walk(revision);
        self.ranges.insert(revision, walked.clone());
        walked
    }

    fn walk(&self, revision: Oid) -> Option<Vec<Oid>> {
        self.repo.find_commit(revision).ok()?;
        let mut walk = self.repo.revwalk().ok()?;
        walk.set_sorting(Sort::TOPOLOGICAL).ok()?;
        walk.push(self.head).ok()?;
        walk.hide(revision).ok()?;
        walk.collect::<Result<Vec<Oid>, _>>().ok()
    }

    fn touched(&mut self, commit: Oid) -> Touched {
        if let Some(known) = self.touched.get(&commit) {
            return known.clone();
        }
        let touched = self.diff(commit).unwrap_or_else(|| Touched {
            // An unreadable commit counts for everyone rather than for no one.
            global: true,
            services: BTreeSet::new(),
        });
        self.touched.insert(commit, touched.clone());
        touched
    }

    fn diff(&self, commit: Oid) -> Option<Touched> {
        let commit = self.repo.find_commit(commit).ok()?;
        let tree = commit.tree().ok()?;
        let parent = match commit.parent(0) {
            Ok(parent) => Some(parent.tree().ok()?),
            Err(_) => None,
        };
        let diff = self
            .repo
            .diff_tree_to_tree(parent.as_ref(), Some(&tree), None)
            .ok()?;
        let mut touched = Touched::default();
        let (mut scratch, mut hits) = (Vec::new(), Vec::new());
        for delta in diff.deltas() {
            for file in [delta.old_file(), delta.new_file()] {
                let Some(path) = file.path().and_then(|p| p.to_str()) else {
                    continue;
                };
                self.config.matcher.hits(path, &mut scratch, &mut hits);
                for hit in &hits {
                    match hit.owner {
                        Owner::Global => touched.global = true,
                        Owner::Service(index) => {
                            touched.services.insert(index);
                        }
                    }
                }
            }
        }
        Some(touched)
    }
}
