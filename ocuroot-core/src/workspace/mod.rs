//! The context of a command: the source repository, its configuration and its stores.
//!
//! [`Workspace::open`] does what every command needs first (spec §5.1): find the nearest
//! `repo.ocu.star` above the working directory, evaluate it, name the repository (alias,
//! `OCU_REPO_URL_OVERRIDE`, or the `origin` remote), find the current commit (`HEAD`, or
//! `OCU_REPO_COMMIT_OVERRIDE`), and open the state and intent stores the configuration
//! selects. With no `store.set(...)`, both live in the embedded default store: the bare
//! repository `.ocuroot/store.git` under the repository root, branches `state` and `intent`.
//!
//! The process environment reaches this module only as typed [`WorkspaceOptions`]: the
//! caller (the CLI) resolves `OCU_REPO_*`, `OCUROOT_GIT_USER_*` and the remote settings
//! once; the environment map in the options is what Starlark code sees (`env()`).
//!
//! Submodules: `stores` opens the stores a configuration selects ([`open_stores`]);
//! `checkout` makes checkouts of other commits and repositories for a cascade
//! ([`Checkouts`]).

mod checkout;
mod stores;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use checkout::{Checkout, CheckoutError, Checkouts};
pub use stores::{StoreContext, open_stores};

use crate::clock::Clock;
use crate::config::{self, ConfigError, HostContext, RepoConfig};
use crate::refs::{Ref, RefParseError};
use crate::sdk::PrintSink;
use crate::store::layout::MARKER_FILE;
use crate::store::recorded::{self, MarkerError};
use crate::store::{Author, RemoteSettings, Store, StoreError, StoreKind};

/// The commit recorded for a repository without commits, as the original records it.
pub const NO_COMMIT: &str = "null";

/// The folder (relative to the repository root) for ocuroot's local files: the embedded
/// default store and caches. It holds a `.gitignore` of `*`.
pub const CACHE_DIR: &str = ".ocuroot";

/// The folder of the embedded default store, relative to the repository root.
pub const DEFAULT_STORE_DIR: &str = ".ocuroot/store.git";

/// Errors opening a workspace or resolving refs in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkspaceError {
    /// No `repo.ocu.star` in the working directory or above it.
    #[error("no repo.ocu.star found in {cwd} or any parent directory")]
    RootNotFound {
        /// Where the search started.
        cwd: PathBuf,
    },
    /// Reading `repo.ocu.star` failed.
    #[error("failed to read {path}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Evaluating `repo.ocu.star` failed.
    #[error("failed to evaluate {path}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The evaluation error.
        #[source]
        source: ConfigError,
    },
    /// The configured store kind is not available yet.
    #[error("{what} is not supported yet (configured in {path})")]
    Unsupported {
        /// What is missing.
        what: String,
        /// The config file.
        path: PathBuf,
    },
    /// Opening a store failed.
    #[error("failed to open the {kind} store")]
    Store {
        /// State or intent.
        kind: StoreKind,
        /// The store error.
        #[source]
        source: StoreError,
    },
    /// A checked-out store records no repository configuration to read its stores from.
    #[error("no repos registered in the store checked out at {dir}")]
    NoReposRegistered {
        /// The store folder.
        dir: PathBuf,
    },
    /// A checked-out store's marker does not say `kind: state` or `kind: intent`.
    #[error(transparent)]
    UnknownStoreKind(#[from] MarkerError),
    /// A relative ref needs a repository name and none could be determined.
    #[error("cannot resolve relative ref {r:?}: the repository has no name")]
    NoRepoName {
        /// The ref as typed.
        r: String,
    },
    /// A ref did not parse.
    #[error(transparent)]
    Ref(#[from] RefParseError),
}

/// What the caller passes in: the process facts core does not read itself.
#[derive(Clone)]
pub struct WorkspaceOptions {
    /// The working directory.
    pub cwd: PathBuf,
    /// The environment Starlark code sees (`env()`) and `shell()` runs with.
    pub env: BTreeMap<String, String>,
    /// The repository's URL, naming it instead of its `origin` remote
    /// (`OCU_REPO_URL_OVERRIDE`).
    pub repo_url_override: Option<String>,
    /// The current commit instead of `HEAD` (`OCU_REPO_COMMIT_OVERRIDE`).
    pub commit_override: Option<String>,
    /// The author of store commits (`OCUROOT_GIT_USER_NAME`, `OCUROOT_GIT_USER_EMAIL`).
    pub author: Author,
    /// The clock for commit times and status markers.
    pub clock: Arc<dyn Clock>,
    /// Where prints from `repo.ocu.star` go.
    pub sink: Arc<dyn PrintSink>,
    /// `$OCUROOT_HOME` (default `~/.ocuroot`): where remote stores keep their caches.
    /// Required only when `repo.ocu.star` selects `store.git(...)`.
    pub home: Option<PathBuf>,
    /// Fetch and push behaviour of remote stores.
    pub remote: RemoteSettings,
}

/// An opened source repository with its stores.
pub struct Workspace {
    /// The repository root (the folder holding `repo.ocu.star`).
    root: PathBuf,
    /// The working directory relative to the root (`""` at the root).
    cwd_rel: String,
    /// The evaluated configuration.
    config: RepoConfig,
    /// The repository name, the first part of its refs.
    repo_name: Option<String>,
    /// The current commit, computed on first use (see [`Workspace::commit`]).
    commit: std::sync::OnceLock<Option<String>>,
    /// The state store (shared with the workers of a cascade, see [`Workspace::worker`]).
    state: Arc<Store>,
    /// The intent store.
    intent: Arc<Store>,
    /// The host facts given to Starlark code.
    host: HostContext,
    /// The source repository's `origin` and `HEAD`, read on first use.
    git: std::sync::OnceLock<SourceGit>,
    /// The options this workspace was opened with, for [`Workspace::worker`].
    options: WorkspaceOptions,
    /// Set when the working directory is a checkout of a store branch (spec §5.1 step 3),
    /// not a source repository: which store it is.
    store_checkout: Option<StoreKind>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("root", &self.root)
            .field("repo_name", &self.repo_name)
            .field("commit", &self.commit)
            .finish_non_exhaustive()
    }
}

impl Workspace {
    /// Discovers and opens the workspace around `options.cwd`.
    ///
    /// # Errors
    ///
    /// [`WorkspaceError::RootNotFound`] without a `repo.ocu.star`; configuration and store
    /// errors otherwise.
    pub fn open(options: WorkspaceOptions) -> Result<Workspace, WorkspaceError> {
        let repo_root = config::find_repo_root(&options.cwd);
        // The deeper of the source root and a store checkout wins (spec §5.1).
        if let Some((dir, kind)) = recorded::find_store_checkout(&options.cwd)?
            && repo_root
                .as_ref()
                .is_none_or(|r| dir.starts_with(r) && &dir != r)
        {
            return Self::open_store_checkout(options, dir, kind);
        }
        let root = repo_root.ok_or_else(|| WorkspaceError::RootNotFound {
            cwd: options.cwd.clone(),
        })?;
        let config_path = root.join(config::REPO_CONFIG_FILE);
        let source =
            std::fs::read_to_string(&config_path).map_err(|source| WorkspaceError::ReadConfig {
                path: config_path.clone(),
                source,
            })?;
        let host = HostContext {
            env: options.env.clone(),
            cwd: options.cwd.clone(),
        };
        let cache_dir = root.join(CACHE_DIR);
        ensure_ignored(&cache_dir.join("store.git"));
        let config = config::evaluate_repo_config_cached(
            &config_path,
            &source,
            &host,
            options.sink.clone(),
            Some(&cache_dir),
        )
        .map_err(|source| WorkspaceError::Config {
            path: config_path.clone(),
            source,
        })?;
        let cwd_rel = options
            .cwd
            .strip_prefix(&root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        // Reading the source repository costs a repository discovery: only do it when the
        // name or the commit is actually needed.
        let git = std::sync::OnceLock::new();
        let repo_name = match config.repo_alias.clone() {
            Some(alias) => Some(alias),
            None => options
                .repo_url_override
                .clone()
                .or_else(|| {
                    git.get_or_init(|| SourceGit::read(&root))
                        .origin_url
                        .clone()
                })
                .map(|url| config::repo_name_from_url(&url)),
        };
        let (state, intent) = open_stores(&root, &config, &StoreContext::of(&options))?;
        Ok(Workspace {
            root,
            cwd_rel,
            config,
            repo_name,
            commit: std::sync::OnceLock::new(),
            state: Arc::new(state),
            intent: Arc::new(intent),
            host,
            git,
            options,
            store_checkout: None,
        })
    }

    /// Opens a workspace in a checkout of a store branch: the stores are those of the first
    /// repository whose configuration the checkout records (its stored `repo.ocu.star`,
    /// evaluated again); there is no repository name and the commit is `""`, so all
    /// commit-bound work runs in clones (spec §5.1 step 3).
    fn open_store_checkout(
        options: WorkspaceOptions,
        dir: PathBuf,
        kind: StoreKind,
    ) -> Result<Workspace, WorkspaceError> {
        let mut configs = recorded::registered_configs(&dir);
        if configs.is_empty() {
            // A separate intent store keeps copies of the configurations in `repos/`.
            configs = recorded::copied_configs(&dir);
        }
        if configs.is_empty()
            && let Some(state) = dir.parent().map(|p| p.join("state"))
            && state != dir
            && state.join(MARKER_FILE).is_file()
        {
            // One branch holding both stores: the configurations are in `state/`.
            configs = recorded::registered_configs(&state);
        }
        if configs.is_empty() && kind == StoreKind::Intent {
            // State and intent as two branches of one remote: read the state branch.
            configs = recorded::registered_configs_on_state_branch(&dir, &options.remote.git);
        }
        let Some((repo, source)) = configs.into_iter().next() else {
            return Err(WorkspaceError::NoReposRegistered { dir });
        };
        let host = HostContext {
            env: options.env.clone(),
            cwd: options.cwd.clone(),
        };
        let config_path = dir.join(format!("refs/{repo}/-/{}", config::REPO_CONFIG_FILE));
        let config =
            config::evaluate_repo_config(&config_path, &source, &host, options.sink.clone())
                .map_err(|source| WorkspaceError::Config {
                    path: config_path.clone(),
                    source,
                })?;
        if config.stores.is_none() {
            return Err(WorkspaceError::Unsupported {
                what: format!(
                    "working in a store checkout whose recorded configuration ({repo}) uses the \
                     default local store"
                ),
                path: config_path,
            });
        }
        let (state, intent) = open_stores(&options.cwd, &config, &StoreContext::of(&options))?;
        // No source repository, so no commit: commit-bound work runs in clones.
        let commit = std::sync::OnceLock::new();
        let _ = commit.set(None);
        Ok(Workspace {
            root: dir,
            cwd_rel: String::new(),
            config,
            repo_name: None,
            commit,
            state: Arc::new(state),
            intent: Arc::new(intent),
            host,
            git: std::sync::OnceLock::new(),
            options,
            store_checkout: Some(kind),
        })
    }

    /// Returns the options this workspace was opened with.
    pub fn options(&self) -> &WorkspaceOptions {
        &self.options
    }

    /// Returns the current commit: the override (`OCU_REPO_COMMIT_OVERRIDE`), else `HEAD`
    /// of the source repository; `None` without commits, without a Git repository, or in a
    /// store checkout.
    pub fn commit(&self) -> Option<&str> {
        self.commit
            .get_or_init(|| {
                self.options
                    .commit_override
                    .clone()
                    .or_else(|| self.source_git().head.clone())
            })
            .as_deref()
    }

    /// Returns the current commit as recorded in state: [`NO_COMMIT`] (`null`) when there
    /// is none, as the original records it.
    pub fn commit_name(&self) -> &str {
        self.commit().unwrap_or(NO_COMMIT)
    }

    /// The repository root (the folder holding `repo.ocu.star`; in a store checkout, the
    /// checked-out store folder).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The working directory relative to the root (`""` at the root).
    pub fn cwd_rel(&self) -> &str {
        &self.cwd_rel
    }

    /// The evaluated `repo.ocu.star`.
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// The repository name, the first part of its refs; `None` when it has none (no alias,
    /// no `origin`) and in a store checkout.
    pub fn repo_name(&self) -> Option<&str> {
        self.repo_name.as_deref()
    }

    /// The state store (shared with the workers of a cascade).
    pub fn state(&self) -> &Arc<Store> {
        &self.state
    }

    /// The intent store.
    pub fn intent(&self) -> &Arc<Store> {
        &self.intent
    }

    /// The host facts given to Starlark code (environment, working directory).
    pub fn host(&self) -> &HostContext {
        &self.host
    }

    /// Which store the working directory is a checkout of, if it is one (spec §5.1 step 3).
    pub fn store_checkout(&self) -> Option<StoreKind> {
        self.store_checkout
    }

    /// Returns what makes checkouts of other commits and repositories for this workspace,
    /// sharing its stores.
    pub fn checkouts(&self) -> Checkouts {
        Checkouts::new(self)
    }

    /// Returns the source repository's `origin` URL, if any.
    pub fn origin_url(&self) -> Option<&str> {
        self.source_git().origin_url.as_deref()
    }

    fn source_git(&self) -> &SourceGit {
        self.git.get_or_init(|| SourceGit::read(&self.root))
    }

    /// Parses a ref typed on the command line, resolving a relative one against the
    /// repository name and the working directory (spec §2.4).
    ///
    /// # Errors
    ///
    /// Parse errors, or [`WorkspaceError::NoRepoName`] for a relative ref in a repository
    /// without a name.
    pub fn resolve_cli_ref(&self, text: &str) -> Result<Ref, WorkspaceError> {
        let r = Ref::parse(text)?;
        if !r.is_relative() || r.global {
            return Ok(r);
        }
        let repo = self
            .repo_name
            .clone()
            .ok_or_else(|| WorkspaceError::NoRepoName {
                r: text.to_string(),
            })?;
        let base = Ref {
            repo,
            filename: self.cwd_rel.clone(),
            ..Ref::default()
        };
        let resolved = r.relative_to(&base);
        resolved.ensure_storable()?;
        Ok(resolved)
    }
}

/// Keeps the embedded store out of the source repository's `git status`.
fn ensure_ignored(hub: &Path) {
    if let Some(dir) = hub.parent() {
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            // Best effort: a read-only checkout still works, it just shows the folder.
            let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&ignore, "*\n"));
        }
    }
}

/// What the source repository's Git metadata says.
struct SourceGit {
    head: Option<String>,
    origin_url: Option<String>,
}

impl SourceGit {
    fn read(root: &Path) -> SourceGit {
        let Ok(repo) = gix::discover(root) else {
            return SourceGit {
                head: None,
                origin_url: None,
            };
        };
        let head = repo.head_id().ok().map(|id| id.to_string());
        let origin_url = repo
            .config_snapshot()
            .string("remote.origin.url")
            .map(|s| s.to_string());
        SourceGit { head, origin_url }
    }
}
