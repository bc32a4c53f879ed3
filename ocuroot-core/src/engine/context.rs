//! What the engine works on: [`Context`], a small value holding the two stores, the source
//! repository's identity and commit, and host access; and [`CheckoutSource`], through which
//! work of other commits and repositories gets a checkout and a context of its own.
//!
//! The engine never sees a [`Workspace`]: [`Context::of`] takes what it needs from one, and
//! the workspace's [`Checkouts`] implement [`CheckoutSource`]. An embedder can build a
//! `Context` from its own parts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{EngineError, EngineResult};
use crate::config::RepoConfig;
use crate::sdk::HostContext;
use crate::store::{Store, StoreKind};
use crate::workspace::{Checkout, Checkouts, NO_COMMIT, Workspace};

/// The stores, the source repository and host access of one engine.
#[derive(Clone)]
pub struct Context {
    /// The state store.
    pub state: Arc<Store>,
    /// The intent store.
    pub intent: Arc<Store>,
    /// The source repository root (the folder holding `repo.ocu.star`).
    pub root: PathBuf,
    /// The repository name, the first part of its refs.
    pub repo_name: Option<String>,
    /// The current commit; `None` without one (recorded as `null`, see [`NO_COMMIT`]).
    pub commit: Option<String>,
    /// The source repository's `origin` URL, recorded (redacted) with its configuration.
    pub origin_url: Option<String>,
    /// The evaluated `repo.ocu.star`.
    pub config: RepoConfig,
    /// The host facts given to Starlark code.
    pub host: HostContext,
    /// Set when the working directory is a checkout of a store branch.
    pub store_checkout: Option<StoreKind>,
    /// Where checkouts of other commits and repositories come from.
    pub checkouts: Arc<dyn CheckoutSource>,
}

impl Context {
    /// The context of a workspace, its checkouts made by the workspace's [`Checkouts`].
    pub fn of(ws: &Workspace) -> Context {
        Context {
            state: ws.state().clone(),
            intent: ws.intent().clone(),
            root: ws.root().to_path_buf(),
            repo_name: ws.repo_name().map(str::to_string),
            commit: ws.commit().map(str::to_string),
            origin_url: ws.origin_url().map(str::to_string),
            config: ws.config().clone(),
            host: ws.host().clone(),
            store_checkout: ws.store_checkout(),
            checkouts: Arc::new(ws.checkouts()),
        }
    }

    /// The current commit as state records it: `null` when there is none.
    pub fn commit_name(&self) -> &str {
        self.commit.as_deref().unwrap_or(NO_COMMIT)
    }

    /// Whether `(repo, commit)` is this context's own repository and commit.
    pub fn is_current(&self, repo: &str, commit: &str) -> bool {
        self.repo_name.as_deref() == Some(repo) && self.commit_name() == commit
    }
}

/// A checkout of another commit or repository with the context to run its work in. The
/// checkout's folder is removed when this is dropped.
pub struct Worker {
    /// The context over the checkout, sharing the stores of the context that asked.
    pub context: Context,
    /// The checkout's folder (for progress messages).
    pub dir: PathBuf,
    /// Keeps the checkout alive.
    _checkout: Box<dyn Send + Sync>,
}

impl Worker {
    /// A worker over `context`, keeping `checkout` (any guard that cleans up on drop) alive.
    pub fn new(context: Context, dir: &Path, checkout: Box<dyn Send + Sync>) -> Worker {
        Worker {
            context,
            dir: dir.to_path_buf(),
            _checkout: checkout,
        }
    }
}

/// Makes checkouts of other commits and repositories (spec §6.7).
pub trait CheckoutSource: Send + Sync {
    /// Checks out `repo` at `commit` (cloning from `remotes` for another repository) and
    /// returns a worker whose context shares this one's stores.
    ///
    /// # Errors
    ///
    /// [`EngineError::Checkout`] when the checkout cannot be made or opened.
    fn open(&self, repo: &str, commit: &str, remotes: &[String]) -> EngineResult<Worker>;
}

impl CheckoutSource for Checkouts {
    fn open(&self, repo: &str, commit: &str, remotes: &[String]) -> EngineResult<Worker> {
        let checkout: Checkout =
            self.checkout(repo, commit, remotes)
                .map_err(|e| EngineError::Checkout {
                    repo: e.repo,
                    commit: e.commit,
                    message: e.message,
                })?;
        let ws = self
            .worker(&checkout, repo, commit)
            .map_err(|e| EngineError::Checkout {
                repo: repo.to_string(),
                commit: commit.to_string(),
                message: e.to_string(),
            })?;
        let dir = checkout.dir().to_path_buf();
        Ok(Worker::new(Context::of(&ws), &dir, Box::new(checkout)))
    }
}
