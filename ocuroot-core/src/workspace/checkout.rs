//! Checkouts of other commits and repositories, for work that must run with their files
//! (spec §6.7 `ExecuteWorkInCleanWorktrees`).
//!
//! Work of another commit of this repository runs in a `git worktree` of it; work of
//! another repository runs in a clone from the remotes recorded with its configuration.
//! Worktrees and clones live under `$OCUROOT_HOME/worktrees` and `$OCUROOT_HOME/clones`;
//! a [`Checkout`] removes its folder when dropped. [`Checkouts::worker`] opens a
//! [`Workspace`] over a checkout that shares this process's stores, so what one batch
//! writes is what the next round of work identification reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{HostContext, Workspace, WorkspaceError, WorkspaceOptions};
use crate::config;
use crate::git_subprocess::{GitCommand, GitEnvironment};
use crate::store::Store;

/// A checkout could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot check out {repo} at {commit}: {message}")]
pub struct CheckoutError {
    /// The repository.
    pub repo: String,
    /// The commit.
    pub commit: String,
    /// What went wrong (the redacted output of `git` among it).
    pub message: String,
}

/// A worktree or clone made for one batch of work, removed on drop.
#[derive(Debug)]
pub struct Checkout {
    /// The checkout's top folder.
    dir: PathBuf,
    /// The folder holding `repo.ocu.star` inside it.
    root: PathBuf,
    /// For a worktree: the repository it belongs to (to unregister it).
    worktree_of: Option<PathBuf>,
    /// The variables of the `git` processes that remove it.
    git: GitEnvironment,
}

impl Checkout {
    /// The checkout's top folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder holding `repo.ocu.star` inside the checkout.
    pub fn root(&self) -> &Path {
        &self.root
    }
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

/// Makes checkouts for a workspace and opens workers over them (see the module docs).
#[derive(Clone)]
pub struct Checkouts {
    options: WorkspaceOptions,
    root: PathBuf,
    repo_name: Option<String>,
    state: Arc<Store>,
    intent: Arc<Store>,
}

impl Checkouts {
    pub(super) fn new(ws: &Workspace) -> Checkouts {
        Checkouts {
            options: ws.options.clone(),
            root: ws.root.clone(),
            repo_name: ws.repo_name.clone(),
            state: ws.state.clone(),
            intent: ws.intent.clone(),
        }
    }

    /// Makes a clean checkout of `repo` at `commit`: a worktree when `repo` is this
    /// workspace's repository, otherwise a clone from the first of `remotes` that works.
    ///
    /// # Errors
    ///
    /// A [`CheckoutError`] without a home folder, when `git` fails (every remote failing,
    /// for a clone), or when the checkout is not at `commit`.
    pub fn checkout(
        &self,
        repo: &str,
        commit: &str,
        remotes: &[String],
    ) -> Result<Checkout, CheckoutError> {
        let error = |message: String| CheckoutError {
            repo: repo.to_string(),
            commit: commit.to_string(),
            message,
        };
        let home = self.options.home.as_deref().ok_or_else(|| {
            error(
                "work at other commits needs a home folder for worktrees and clones \
                 (set OCUROOT_HOME or HOME)"
                    .to_string(),
            )
        })?;
        let git_env = &self.options.remote.git;
        if Some(repo) == self.repo_name.as_deref() {
            let top = gix::discover(&self.root)
                .ok()
                .and_then(|r| r.workdir().map(Path::to_path_buf))
                .ok_or_else(|| {
                    error(format!("{} is not in a Git checkout", self.root.display()))
                })?;
            let rel = self
                .root
                .strip_prefix(&top)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let dir = new_dir(&home.join("worktrees")).map_err(error)?;
            git(
                git_env,
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
                error(e)
            })?;
            let checkout = Checkout {
                root: dir.join(rel),
                dir,
                worktree_of: Some(top),
                git: git_env.clone(),
            };
            verify_head(&checkout, commit).map_err(error)?;
            return Ok(checkout);
        }
        if remotes.is_empty() {
            return Err(error(
                "its recorded configuration names no remotes to clone from".to_string(),
            ));
        }
        let mut errors = Vec::new();
        for remote in remotes {
            let dir = new_dir(&home.join("clones")).map_err(error)?;
            let checkout = Checkout {
                root: dir.clone(),
                dir,
                worktree_of: None,
                git: git_env.clone(),
            };
            let cloned = git(
                git_env,
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
                    git_env,
                    &checkout.dir,
                    &["checkout", "--quiet", "--detach", commit],
                )
            });
            match cloned {
                Ok(_) => {
                    verify_head(&checkout, commit).map_err(error)?;
                    return Ok(checkout);
                }
                Err(e) => errors.push(format!("{}: {e}", crate::redact::redact_url(remote))),
            }
        }
        Err(error(format!(
            "all remotes exhausted trying to clone the repository:\n  {}",
            errors.join("\n  ")
        )))
    }

    /// Opens a worker on `checkout` that shares this workspace's stores (spec §6.7).
    ///
    /// The worker's repository name is `repo_name` and its commit is `commit`, whatever the
    /// checkout's configuration says: the work it executes was recorded under those.
    ///
    /// # Errors
    ///
    /// [`WorkspaceError::RootNotFound`] when the checkout has no `repo.ocu.star`;
    /// configuration errors.
    pub fn worker(
        &self,
        checkout: &Checkout,
        repo_name: &str,
        commit: &str,
    ) -> Result<Workspace, WorkspaceError> {
        let root = checkout.root();
        let config_path = root.join(config::REPO_CONFIG_FILE);
        if !config_path.is_file() {
            return Err(WorkspaceError::RootNotFound {
                cwd: root.to_path_buf(),
            });
        }
        let source =
            std::fs::read_to_string(&config_path).map_err(|source| WorkspaceError::ReadConfig {
                path: config_path.clone(),
                source,
            })?;
        let mut options = self.options.clone();
        options.cwd = root.to_path_buf();
        options.commit_override = Some(commit.to_string());
        let host = HostContext {
            env: options.env.clone(),
            cwd: root.to_path_buf(),
        };
        let config = config::evaluate_repo_config_cached(
            &config_path,
            &source,
            &host,
            options.sink.clone(),
            None,
        )
        .map_err(|source| WorkspaceError::Config {
            path: config_path.clone(),
            source,
        })?;
        Ok(Workspace {
            root: root.to_path_buf(),
            cwd_rel: String::new(),
            config,
            repo_name: Some(repo_name.to_string()),
            commit: std::sync::OnceLock::new(),
            state: self.state.clone(),
            intent: self.intent.clone(),
            host,
            git: std::sync::OnceLock::new(),
            options,
            store_checkout: None,
        })
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

fn verify_head(checkout: &Checkout, commit: &str) -> Result<(), String> {
    let head = git(&checkout.git, &checkout.dir, &["rev-parse", "HEAD"])?;
    if head != commit && !head.starts_with(commit) {
        return Err(format!(
            "the checkout is at {head}, not at the expected commit"
        ));
    }
    Ok(())
}
