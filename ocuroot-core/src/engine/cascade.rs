//! Cascade: carrying a change through every repository and commit it affects (spec §6.7,
//! §6.8).
//!
//! Work belongs to a (repository, commit): a run must execute with the source files of the
//! commit its release was made at. Work of the current checkout runs here; work of another
//! commit of this repository runs in a `git worktree` of it; work of another repository runs
//! in a clone from the remotes recorded with its configuration
//! (`<repo>/-/repo.ocu.star/@<commit>`). Every worker shares this process's stores, so what
//! one batch writes is what the next round of work identification reads. Worktrees and
//! clones live under `$OCUROOT_HOME/worktrees` and `$OCUROOT_HOME/clones` and are removed
//! when their batch is done.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::trigger::RepoConfigDoc;
use super::work::{Changes, WorkFilter, WorkItem, WorkType};
use super::{Engine, EngineError, EngineResult, ProgressEvent, decode, ref_of};
use crate::config::REPO_CONFIG_FILE;
use crate::git_subprocess::{GitCommand, GitEnvironment};

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

/// A worktree or clone made for one batch, removed on drop.
struct Checkout {
    /// The checkout's top folder.
    dir: PathBuf,
    /// The folder holding `repo.ocu.star` inside it.
    root: PathBuf,
    /// For a worktree: the repository it belongs to (to unregister it).
    worktree_of: Option<PathBuf>,
    /// The variables of the `git` processes that remove it.
    git: GitEnvironment,
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(repo) = &self.worktree_of {
            let removed = git(
                &self.git,
                repo,
                &["worktree", "remove", "--force", &path_arg(&self.dir)],
            );
            if removed.is_ok() {
                return;
            }
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = git(&self.git, repo, &["worktree", "prune"]);
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs `git` in `dir`, returning its trimmed standard output or what went wrong.
///
/// `gix` cannot add worktrees or check out a detached commit of a clone, so these steps
/// use the `git` binary (without the user's global Git configuration: a remote's
/// credentials come from its URL, the SSH agent or an askpass program).
fn git(env: &GitEnvironment, dir: &Path, args: &[&str]) -> Result<String, String> {
    GitCommand::in_dir(env, dir)
        .args(args)
        .run_text()
        .map_err(|e| e.detail())
}

impl Engine<'_> {
    /// Returns the refs this process has written to state and intent so far.
    pub fn process_changes(&self) -> Changes {
        Changes::new(self.ws.state.changes(), self.ws.intent.changes())
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
        Err(EngineError::Invalid(format!(
            "cascade stopped after {MAX_ROUNDS} rounds with work still appearing"
        )))
    }

    /// Executes work items, each in a checkout of its repository at its commit (spec §6.7
    /// `ExecuteWorkInCleanWorktrees`): intent first, in place; then the commit-bound items
    /// grouped by repository and commit, in sorted order.
    ///
    /// # Errors
    ///
    /// [`EngineError::Checkout`] when a checkout cannot be made; [`EngineError::Invalid`]
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
                return Err(EngineError::Invalid(format!(
                    "commit is empty for work item {} ({:?})",
                    item.r, item.work_type
                )));
            }
            groups
                .entry((item.r.repo.clone(), item.commit.clone()))
                .or_default()
                .push(item);
        }
        for ((repo, commit), items) in groups {
            if Some(&repo) == self.ws.repo_name.as_ref() && commit == self.ws.commit() {
                failed |= self.execute_work(&items)?;
                continue;
            }
            let checkout = self.checkout(&repo, &commit)?;
            self.progress(ProgressEvent::Message(format!(
                "running {} work item{} of {repo} at {} in {}",
                items.len(),
                if items.len() == 1 { "" } else { "s" },
                short(&commit),
                checkout.dir.display()
            )));
            let worker = self
                .ws
                .worker(&checkout.root, &repo, &commit)
                .map_err(|e| checkout_error(&repo, &commit, e.to_string()))?;
            let engine = Engine::new(&worker, self.opts.clone());
            failed |= engine.execute_work(&items)?;
        }
        Ok(failed)
    }

    fn home(&self) -> EngineResult<&Path> {
        self.ws.options().home.as_deref().ok_or_else(|| {
            EngineError::Invalid(
                "work at other commits needs a home folder for worktrees and clones \
                 (set OCUROOT_HOME or HOME)"
                    .to_string(),
            )
        })
    }

    /// Makes a clean checkout of `repo` at `commit`.
    fn checkout(&self, repo: &str, commit: &str) -> EngineResult<Checkout> {
        let home = self.home()?;
        let git_env = self.ws.options().remote.git.clone();
        if Some(repo) == self.ws.repo_name.as_deref() {
            let top = gix::discover(&self.ws.root)
                .ok()
                .and_then(|r| r.workdir().map(Path::to_path_buf))
                .ok_or_else(|| {
                    checkout_error(
                        repo,
                        commit,
                        format!("{} is not in a Git checkout", self.ws.root.display()),
                    )
                })?;
            let rel = self
                .ws
                .root
                .strip_prefix(&top)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let dir =
                new_dir(&home.join("worktrees")).map_err(|e| checkout_error(repo, commit, e))?;
            git(
                &git_env,
                &top,
                &[
                    "worktree",
                    "add",
                    "--quiet",
                    "--detach",
                    &path_arg(&dir),
                    commit,
                ],
            )
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                checkout_error(repo, commit, e)
            })?;
            let checkout = Checkout {
                root: dir.join(rel),
                dir,
                worktree_of: Some(top),
                git: git_env.clone(),
            };
            verify_head(&checkout, repo, commit)?;
            return Ok(checkout);
        }
        let at = ref_of(&format!("{repo}/-/{REPO_CONFIG_FILE}/@{commit}"))?;
        let Some(doc) = self.ws.state.try_get(&at)? else {
            return Err(checkout_error(
                repo,
                commit,
                format!("no configuration recorded at {at}, so its remotes are unknown"),
            ));
        };
        let doc: RepoConfigDoc = decode(&at, "repository configuration", doc)?;
        if doc.remotes.is_empty() {
            return Err(checkout_error(
                repo,
                commit,
                format!("{at} records no remotes to clone from"),
            ));
        }
        let mut errors = Vec::new();
        for remote in &doc.remotes {
            let dir = new_dir(&home.join("clones")).map_err(|e| checkout_error(repo, commit, e))?;
            let checkout = Checkout {
                root: dir.clone(),
                dir,
                worktree_of: None,
                git: git_env.clone(),
            };
            let cloned = git(
                &git_env,
                home,
                &[
                    "clone",
                    "--quiet",
                    "--no-checkout",
                    remote,
                    &path_arg(&checkout.dir),
                ],
            )
            .and_then(|_| {
                git(
                    &git_env,
                    &checkout.dir,
                    &["checkout", "--quiet", "--detach", commit],
                )
            });
            match cloned {
                Ok(_) => {
                    verify_head(&checkout, repo, commit)?;
                    return Ok(checkout);
                }
                Err(e) => errors.push(format!("{}: {e}", super::redact_url(remote))),
            }
        }
        Err(checkout_error(
            repo,
            commit,
            format!(
                "all remotes exhausted trying to clone the repository:\n  {}",
                errors.join("\n  ")
            ),
        ))
    }
}

/// Creates a new empty folder with a unique name under `parent`.
fn new_dir(parent: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("ocuroot-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a folder in {}: {e}", parent.display()))?;
    Ok(dir.keep())
}

fn verify_head(checkout: &Checkout, repo: &str, commit: &str) -> EngineResult<()> {
    let head = git(&checkout.git, &checkout.dir, &["rev-parse", "HEAD"])
        .map_err(|e| checkout_error(repo, commit, e))?;
    if head != commit && !head.starts_with(commit) {
        return Err(checkout_error(
            repo,
            commit,
            format!("the checkout is at {head}, not at the expected commit"),
        ));
    }
    Ok(())
}

fn checkout_error(repo: &str, commit: &str, message: impl Into<String>) -> EngineError {
    EngineError::Checkout {
        repo: repo.to_string(),
        commit: commit.to_string(),
        message: message.into(),
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
