//! Cascade: carrying a change through every repository and commit it affects (spec §6.7,
//! §6.8).
//!
//! Work belongs to a (repository, commit): a run must execute with the source files of the
//! commit its release was made at. Work of the current checkout runs here; work of another
//! commit of this repository runs in a `git worktree` of it; work of another repository runs
//! in a clone from the remotes recorded with its configuration
//! (`<repo>/-/repo.ocu.star/@<commit>`). Checkouts come from the context's
//! [`CheckoutSource`](super::CheckoutSource) (the workspace's worktrees and clones, see
//! `workspace::checkout`). Every worker shares this process's stores, so what one batch
//! writes is what the next round of work identification reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::work::{Changes, WorkFilter, WorkItem, WorkType};
use super::{Engine, EngineError, EngineResult, ProgressEvent, decode};
use crate::model::RepoConfigDoc;
use crate::refs::Ref;

/// At most this many rounds of identify-then-execute in one cascade.
const MAX_ROUNDS: usize = 100;

/// Which work a cascade follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CascadeScope {
    /// Only work caused by this process's own writes (`release new --cascade`,
    /// `state apply --cascade`, `push`): intent set earlier by others is left alone.
    ThisProcess,
    /// All outstanding work in the stores (`work cascade`).
    All,
}

/// What a cascade did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CascadeReport {
    /// Rounds of identify-then-execute that found work.
    pub rounds: usize,
    /// Work items executed, in order.
    pub executed: Vec<WorkItem>,
    /// Whether some release ended failed.
    pub failed: bool,
}

impl Engine {
    /// Returns the refs this process has written to state and intent so far.
    pub fn process_changes(&self) -> Changes {
        Changes::new(self.cx.state.changes(), self.cx.intent.changes())
    }

    /// Identifies and executes work until none is left (spec §6.8).
    ///
    /// Each round identifies work across every repository and commit (following only this
    /// process's changes with [`CascadeScope::ThisProcess`]) and executes it with
    /// [`Engine::execute_in_checkouts`].
    ///
    /// # Errors
    ///
    /// [`EngineError::NoProgress`] when a round finds exactly the work the previous round
    /// executed; checkout, store and evaluation errors.
    pub fn cascade(&self, scope: CascadeScope) -> EngineResult<CascadeReport> {
        let mut report = CascadeReport::default();
        let mut previous: Option<Vec<WorkItem>> = None;
        for _ in 0..MAX_ROUNDS {
            let filter = WorkFilter {
                commit: None,
                changes: match scope {
                    CascadeScope::ThisProcess => Some(Arc::new(self.process_changes())),
                    CascadeScope::All => None,
                },
            };
            let items = self.identify_work(&filter, true)?;
            if items.is_empty() {
                return Ok(report);
            }
            if previous.as_ref() == Some(&items) {
                return Err(EngineError::NoProgress {
                    items: items.iter().map(|i| i.r.to_string()).collect(),
                });
            }
            report.rounds += 1;
            self.progress(ProgressEvent::Message(format!(
                "cascade round {}: {} work item{}",
                report.rounds,
                items.len(),
                if items.len() == 1 { "" } else { "s" }
            )));
            report.failed |= self.execute_in_checkouts(&items)?;
            report.executed.extend(items.iter().cloned());
            previous = Some(items);
        }
        Err(EngineError::TooManyRounds { rounds: MAX_ROUNDS })
    }

    /// Executes work items, each in a checkout of its repository at its commit (spec §6.7
    /// `ExecuteWorkInCleanWorktrees`): intent first, in place; then the commit-bound items
    /// grouped by repository and commit, in sorted order.
    ///
    /// # Errors
    ///
    /// [`EngineError::Checkout`] when a checkout cannot be made; [`EngineError::NoCommit`]
    /// for commit-bound work without a commit; store and evaluation errors. Returns `true`
    /// when some release ended failed.
    pub fn execute_in_checkouts(&self, items: &[WorkItem]) -> EngineResult<bool> {
        let (intent, bound): (Vec<_>, Vec<_>) = items.iter().cloned().partition(|i| {
            matches!(
                i.work_type,
                WorkType::Create | WorkType::Update | WorkType::Delete
            )
        });
        let mut failed = self.execute_work(&intent)?;
        let mut groups: BTreeMap<(String, String), Vec<WorkItem>> = BTreeMap::new();
        for item in bound {
            if item.commit.is_empty() {
                return Err(EngineError::NoCommit {
                    r: item.r.to_string(),
                });
            }
            groups
                .entry((item.r.repo.clone(), item.commit.clone()))
                .or_default()
                .push(item);
        }
        for ((repo, commit), items) in groups {
            if self.cx.is_current(&repo, &commit) {
                failed |= self.execute_work(&items)?;
                continue;
            }
            let remotes = if self.cx.repo_name.as_deref() == Some(repo.as_str()) {
                Vec::new()
            } else {
                self.recorded_remotes(&repo, &commit)?
            };
            let worker = self.cx.checkouts.open(&repo, &commit, &remotes)?;
            self.progress(ProgressEvent::Message(format!(
                "running {} work item{} of {repo} at {} in {}",
                items.len(),
                if items.len() == 1 { "" } else { "s" },
                short(&commit),
                worker.dir.display()
            )));
            let engine = Engine::with_context(worker.context.clone(), self.opts.clone());
            failed |= engine.execute_work(&items)?;
        }
        Ok(failed)
    }

    /// The remotes recorded with `repo`'s configuration at `commit`, to clone it from.
    fn recorded_remotes(&self, repo: &str, commit: &str) -> EngineResult<Vec<String>> {
        let at = Ref::repo_config(repo, commit);
        let Some(doc) = self.cx.state.try_get(&at)? else {
            return Err(EngineError::Checkout {
                repo: repo.to_string(),
                commit: commit.to_string(),
                message: format!("no configuration recorded at {at}, so its remotes are unknown"),
            });
        };
        let doc: RepoConfigDoc = decode(&at, "repository configuration", doc)?;
        Ok(doc.remotes)
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
