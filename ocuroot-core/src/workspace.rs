//! The context of a command: the source repository, its configuration and its stores.
//!
//! [`Workspace::open`] does what every command needs first (spec §5.1): find the nearest
//! `repo.ocu.star` above the working directory, evaluate it, name the repository (alias,
//! `OCU_REPO_URL_OVERRIDE`, or the `origin` remote), find the current commit (`HEAD`, or
//! `OCU_REPO_COMMIT_OVERRIDE`), and open the state and intent stores the configuration
//! selects. With no `store.set(...)`, both live in the embedded default store: the bare
//! repository `.ocuroot/store.git` under the repository root, branches `state` and `intent`.
//!
//! The process environment reaches this module only as the map in [`WorkspaceOptions`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{self, ConfigError, HostContext, RepoConfig, StoreSelection, StoreSpec};
use crate::refs::{Ref, RefParseError};
use crate::sdk::PrintSink;
use crate::store::layout::MARKER_FILE;
use crate::store::{
    Author, RemoteOptions, RemoteSettings, Store, StoreError, StoreKind, StoreOptions,
};

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
    #[error("unknown repo type in {path}: {message}")]
    UnknownStoreKind {
        /// The marker file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
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
    /// The process environment.
    pub env: BTreeMap<String, String>,
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
    pub root: PathBuf,
    /// The working directory relative to the root (`""` at the root).
    pub cwd_rel: String,
    /// The evaluated configuration.
    pub config: RepoConfig,
    /// The repository name, the first part of its refs.
    pub repo_name: Option<String>,
    /// The current commit, computed on first use (see [`Workspace::commit`]).
    commit: std::sync::OnceLock<String>,
    /// The commit override, if given.
    commit_override: Option<String>,
    /// The state store (shared with the workers of a cascade, see [`Workspace::worker`]).
    pub state: Arc<Store>,
    /// The intent store.
    pub intent: Arc<Store>,
    /// The host facts given to Starlark code.
    pub host: HostContext,
    /// The source repository's `origin` and `HEAD`, read on first use.
    git: std::sync::OnceLock<SourceGit>,
    /// The options this workspace was opened with, for [`Workspace::worker`].
    options: WorkspaceOptions,
    /// Set when the working directory is a checkout of a store branch (spec §5.1 step 3),
    /// not a source repository: which store it is.
    pub store_checkout: Option<StoreKind>,
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
        if let Some((dir, kind)) = find_store_checkout(&options.cwd)?
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
                .env
                .get("OCU_REPO_URL_OVERRIDE")
                .filter(|s| !s.is_empty())
                .cloned()
                .or_else(|| {
                    git.get_or_init(|| SourceGit::read(&root))
                        .origin_url
                        .clone()
                })
                .map(|url| config::repo_name_from_url(&url)),
        };
        let commit_override = options
            .env
            .get("OCU_REPO_COMMIT_OVERRIDE")
            .filter(|s| !s.is_empty())
            .cloned();
        let author = author_from_env(&options.env);
        let (state, intent) = open_stores(
            &root,
            &config,
            &StoreContext {
                author,
                clock: options.clock.clone(),
                home: options.home.clone(),
                remote: options.remote.clone(),
            },
        )?;
        Ok(Workspace {
            root,
            cwd_rel,
            config,
            repo_name,
            commit: std::sync::OnceLock::new(),
            commit_override,
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
        let mut configs = registered_configs(&dir);
        if configs.is_empty() {
            // A separate intent store keeps copies of the configurations in `repos/`.
            configs = copied_configs(&dir);
        }
        if configs.is_empty()
            && let Some(state) = dir.parent().map(|p| p.join("state"))
            && state != dir
            && state.join(MARKER_FILE).is_file()
        {
            // One branch holding both stores: the configurations are in `state/`.
            configs = registered_configs(&state);
        }
        if configs.is_empty() && kind == StoreKind::Intent {
            // State and intent as two branches of one remote: read the state branch.
            configs = registered_configs_on_state_branch(&dir, &options.remote.git);
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
        let (state, intent) = open_stores(
            &options.cwd,
            &config,
            &StoreContext {
                author: author_from_env(&options.env),
                clock: options.clock.clone(),
                home: options.home.clone(),
                remote: options.remote.clone(),
            },
        )?;
        let commit = std::sync::OnceLock::new();
        let _ = commit.set(String::new());
        Ok(Workspace {
            root: dir,
            cwd_rel: String::new(),
            config,
            repo_name: None,
            commit,
            commit_override: None,
            state: Arc::new(state),
            intent: Arc::new(intent),
            host,
            git: std::sync::OnceLock::new(),
            options,
            store_checkout: Some(kind),
        })
    }

    /// Opens a worker on another checkout (a worktree of this repository at another commit,
    /// or a clone of another repository) that shares this workspace's stores (spec §6.7).
    ///
    /// `root` holds the checkout's `repo.ocu.star`; the worker's repository name is
    /// `repo_name` and its commit is `commit`, whatever the checkout's configuration says:
    /// the work it executes was recorded under those.
    ///
    /// # Errors
    ///
    /// [`WorkspaceError::RootNotFound`] when `root` has no `repo.ocu.star`; configuration
    /// errors.
    pub fn worker(
        &self,
        root: &Path,
        repo_name: &str,
        commit: &str,
    ) -> Result<Workspace, WorkspaceError> {
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
            commit_override: Some(commit.to_string()),
            state: self.state.clone(),
            intent: self.intent.clone(),
            host,
            git: std::sync::OnceLock::new(),
            options,
            store_checkout: None,
        })
    }

    /// Returns the options this workspace was opened with.
    pub fn options(&self) -> &WorkspaceOptions {
        &self.options
    }

    /// Returns the current commit: `OCU_REPO_COMMIT_OVERRIDE`, else `HEAD` of the source
    /// repository, else `null` (no commits or no Git repository).
    pub fn commit(&self) -> &str {
        self.commit.get_or_init(|| {
            self.commit_override
                .clone()
                .or_else(|| self.source_git().head.clone())
                .unwrap_or_else(|| "null".to_string())
        })
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

/// Reads the commit author from `OCUROOT_GIT_USER_NAME` / `OCUROOT_GIT_USER_EMAIL`.
pub fn author_from_env(env: &BTreeMap<String, String>) -> Author {
    let mut author = Author::default();
    if let Some(name) = env.get("OCUROOT_GIT_USER_NAME").filter(|s| !s.is_empty()) {
        author.name = name.clone();
    }
    if let Some(email) = env.get("OCUROOT_GIT_USER_EMAIL").filter(|s| !s.is_empty()) {
        author.email = email.clone();
    }
    author
}

/// What opening stores needs besides the configuration.
#[derive(Clone)]
pub struct StoreContext {
    /// The commit author.
    pub author: Author,
    /// The clock for commit times.
    pub clock: Arc<dyn Clock>,
    /// `$OCUROOT_HOME`, for the caches of remote stores.
    pub home: Option<PathBuf>,
    /// Fetch and push behaviour of remote stores.
    pub remote: RemoteSettings,
}

/// Opens the state and intent stores selected by `config` (spec §3.5, DESIGN "hub").
///
/// `store.fs(path)` is a local repository at `path` (branches `state` and `intent` when it
/// holds both stores); `store.git(url, branch=…)` is the branch of a remote, cached under
/// `$OCUROOT_HOME/stores/`, holding both stores in folders `state/` and `intent/` when no
/// separate intent store is given.
///
/// # Errors
///
/// Store errors (an unreachable remote among them), or [`WorkspaceError::Unsupported`] for
/// `store.git` without a home directory.
pub fn open_stores(
    root: &Path,
    config: &RepoConfig,
    ctx: &StoreContext,
) -> Result<(Store, Store), WorkspaceError> {
    let open_opts = |mut opts: StoreOptions| -> Result<Store, WorkspaceError> {
        let kind = opts.kind;
        opts.author = ctx.author.clone();
        Store::open(opts).map_err(|source| WorkspaceError::Store { kind, source })
    };
    let open = |spec: &StoreSpec,
                fs_branch: &str,
                prefix: &str,
                kind: StoreKind|
     -> Result<Store, WorkspaceError> {
        match spec {
            StoreSpec::Fs { path } => {
                let mut opts =
                    StoreOptions::new(root.join(path), fs_branch, kind, ctx.clock.clone());
                opts.prefix = prefix.to_string();
                opts.git = ctx.remote.git.clone();
                open_opts(opts)
            }
            StoreSpec::Git {
                remote_url,
                branch,
                create_branch,
                support_files,
            } => {
                let home = ctx
                    .home
                    .clone()
                    .ok_or_else(|| WorkspaceError::Unsupported {
                        what: "store.git(...) without a home directory (set OCUROOT_HOME or HOME)"
                            .to_string(),
                        path: config.path.clone(),
                    })?;
                let branch = match branch {
                    Some(b) => b.clone(),
                    None if ctx.remote.offline => "main".to_string(),
                    None => crate::store::remote_default_branch(remote_url, &ctx.remote.git)
                        .map_err(|source| WorkspaceError::Store { kind, source })?
                        .unwrap_or_else(|| "main".to_string()),
                };
                let remote = RemoteOptions {
                    url: remote_url.clone(),
                    create_branch: *create_branch,
                    support_files: support_files.clone(),
                    settings: ctx.remote.clone(),
                };
                let mut opts =
                    StoreOptions::for_remote(&home, remote, &branch, kind, ctx.clock.clone());
                opts.prefix = prefix.to_string();
                open_opts(opts)
            }
        }
    };
    match &config.stores {
        None => {
            let hub = root.join(DEFAULT_STORE_DIR);
            ensure_ignored(&hub);
            let spec = StoreSpec::Fs {
                path: DEFAULT_STORE_DIR.to_string(),
            };
            Ok((
                open(&spec, "state", "", StoreKind::State)?,
                open(&spec, "intent", "", StoreKind::Intent)?,
            ))
        }
        Some(StoreSelection {
            state,
            intent: None,
        }) => {
            // One backend for both: a local repository uses two branches, a remote branch
            // two folders (spec §3.5).
            let (sp, ip) = match state {
                StoreSpec::Fs { .. } => ("", ""),
                StoreSpec::Git { .. } => ("state", "intent"),
            };
            Ok((
                open(state, "state", sp, StoreKind::State)?,
                open(state, "intent", ip, StoreKind::Intent)?,
            ))
        }
        Some(StoreSelection {
            state,
            intent: Some(intent),
        }) => Ok((
            open(state, "state", "", StoreKind::State)?,
            open(intent, "intent", "", StoreKind::Intent)?,
        )),
    }
}

/// Finds the nearest folder at or above `cwd` holding a store marker
/// (`ocuroot-store.yaml`), as a checkout of a store branch has.
fn find_store_checkout(cwd: &Path) -> Result<Option<(PathBuf, StoreKind)>, WorkspaceError> {
    let Some(dir) = cwd.ancestors().find(|d| d.join(MARKER_FILE).is_file()) else {
        return Ok(None);
    };
    let path = dir.join(MARKER_FILE);
    #[derive(serde::Deserialize)]
    struct Marker {
        kind: Option<String>,
    }
    let bad = |message: String| WorkspaceError::UnknownStoreKind {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let marker: Marker = crate::yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let kind = match marker.kind.as_deref() {
        Some("state") => StoreKind::State,
        Some("intent") => StoreKind::Intent,
        other => {
            return Err(bad(format!(
                "kind is {other:?}, expected \"state\" or \"intent\""
            )));
        }
    };
    Ok(Some((dir.to_path_buf(), kind)))
}

/// The repository configurations a store folder records (`<repo>/-/repo.ocu.star/@`, the
/// document its link points at), sorted by repository name. Unreadable entries are skipped.
fn registered_configs(dir: &Path) -> Vec<(String, String)> {
    let refs = dir.join("refs");
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(&refs)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            // Globals (`@/…`) hold no repositories; below `-` only packages follow.
            let name = e.file_name().to_string_lossy();
            let below_dash = e
                .path()
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|p| p == "-");
            !(below_dash || e.depth() == 1 && name == "@")
        });
    for entry in walk.flatten() {
        if !entry.file_type().is_dir() || entry.file_name() != "-" {
            continue;
        }
        let link = entry
            .path()
            .join(config::REPO_CONFIG_FILE)
            .join("@")
            .join(crate::store::layout::LINK_FILE);
        let Ok(target) = std::fs::read_to_string(&link) else {
            continue;
        };
        let Ok(target) = Ref::parse(target.trim()) else {
            continue;
        };
        let mut doc = refs.clone();
        doc.extend(target.storage_segments());
        doc.push(crate::store::layout::DOC_FILE);
        let Ok(text) = std::fs::read_to_string(&doc) else {
            continue;
        };
        let Ok(config) = crate::yaml::from_str::<crate::engine::RepoConfigDoc>(&text) else {
            continue;
        };
        out.push((target.repo.clone(), config.source));
    }
    out
}

/// The configurations copied into a separate intent store
/// (`repos/<repo>/-/repo.ocu.star/@/#.yaml`, see [`crate::store::Area::Repos`]), sorted by
/// repository name. Unreadable entries are skipped.
fn copied_configs(dir: &Path) -> Vec<(String, String)> {
    let repos = dir.join(crate::store::Area::Repos.dir());
    let suffix = [
        "-",
        config::REPO_CONFIG_FILE,
        "@",
        crate::store::layout::DOC_FILE,
    ];
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&repos)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(&repos) else {
            continue;
        };
        let segs: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if segs.len() <= suffix.len() || !segs.ends_with(&suffix.map(str::to_owned)) {
            continue;
        }
        let repo = segs[..segs.len() - suffix.len()].join("/");
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if let Ok(doc) = crate::yaml::from_str::<crate::engine::RepoConfigDoc>(&text) {
            out.push((repo, doc.source));
        }
    }
    out
}

/// As [`registered_configs`], read from the `state` branch of the checkout's `origin`
/// (fetched when the checkout does not have it yet). Empty when there is none.
fn registered_configs_on_state_branch(
    dir: &Path,
    git: &crate::git_subprocess::GitEnvironment,
) -> Vec<(String, String)> {
    const STATE: &str = "refs/remotes/origin/state";
    let read = || -> Option<Vec<(String, String)>> {
        let repo = gix::discover(dir).ok()?;
        let mut reference = repo.find_reference(STATE).ok()?;
        let tree = reference.peel_to_commit().ok()?.tree().ok()?;
        let refs = tree
            .lookup_entry_by_path("refs")
            .ok()??
            .object()
            .ok()?
            .into_tree();
        let mut targets = Vec::new();
        collect_config_links(&refs, true, &mut targets);
        let mut out = Vec::new();
        for target in targets {
            let mut path = target.storage_segments();
            path.push(crate::store::layout::DOC_FILE.to_string());
            let Some(entry) = refs.lookup_entry_by_path(path.join("/")).ok().flatten() else {
                continue;
            };
            let Some(blob) = entry.object().ok() else {
                continue;
            };
            let text = String::from_utf8_lossy(&blob.data).into_owned();
            if let Ok(doc) = crate::yaml::from_str::<crate::engine::RepoConfigDoc>(&text) {
                out.push((target.repo.clone(), doc.source));
            }
        }
        Some(out)
    };
    if let Some(found) = read() {
        return found;
    }
    // The checkout lacks the state branch: fetch it (`gix` has no simple fetch of one
    // refspec into an existing checkout, so this uses the `git` binary).
    let fetched = crate::git_subprocess::GitCommand::in_dir(git, dir)
        .args(["fetch", "-q", "origin", &format!("+state:{STATE}")])
        .succeeds();
    if fetched {
        read().unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// Collects the targets of `<repo>/-/repo.ocu.star/@` links below a `refs/` tree.
fn collect_config_links(tree: &gix::Tree<'_>, top: bool, out: &mut Vec<Ref>) {
    for entry in tree.iter().flatten() {
        if !entry.mode().is_tree() {
            continue;
        }
        let name = entry.filename().to_string();
        if top && name == "@" {
            continue;
        }
        let Ok(object) = entry.object() else {
            continue;
        };
        let child = object.into_tree();
        if name == "-" {
            let link = format!(
                "{}/@/{}",
                config::REPO_CONFIG_FILE,
                crate::store::layout::LINK_FILE
            );
            if let Ok(Some(entry)) = child.lookup_entry_by_path(link)
                && let Ok(blob) = entry.object()
                && let Ok(target) = Ref::parse(String::from_utf8_lossy(&blob.data).trim())
            {
                out.push(target);
            }
            continue;
        }
        collect_config_links(&child, false, out);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn store_checkouts_are_found_by_their_marker() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("store/intent");
        write(&dir.join(MARKER_FILE), "format: 1\nkind: intent\n");
        let deep = dir.join("refs/x");
        std::fs::create_dir_all(&deep).expect("mkdir");
        let (found, kind) = find_store_checkout(&deep)
            .expect("readable")
            .expect("found");
        assert_eq!(found, dir);
        assert_eq!(kind, StoreKind::Intent);
        assert!(find_store_checkout(tmp.path()).expect("readable").is_none());
        write(&dir.join(MARKER_FILE), "format: 1\nkind: cache\n");
        let err = find_store_checkout(&dir).expect_err("unknown kind");
        assert!(err.to_string().contains("unknown repo type"), "{err}");
    }

    #[test]
    fn copied_configs_are_read_from_the_repos_folder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repos = tmp.path().join("repos");
        for repo in ["b/repo", "a"] {
            write(
                &repos.join(format!("{repo}/-/repo.ocu.star/@/#.yaml")),
                &format!("Remotes: []\ncommit: c1\nsource: \"repo_alias('{repo}')\"\n"),
            );
        }
        // Anything else below `repos/` is ignored.
        write(&repos.join("a/-/other.ocu.star/@/#.yaml"), "source: x\n");
        write(&repos.join("-/repo.ocu.star/@/#.yaml"), "source: x\n");
        assert_eq!(
            copied_configs(tmp.path()),
            vec![
                ("a".to_string(), "repo_alias('a')".to_string()),
                ("b/repo".to_string(), "repo_alias('b/repo')".to_string()),
            ]
        );
        assert!(copied_configs(&tmp.path().join("missing")).is_empty());
    }

    #[test]
    fn registered_configs_follow_the_repo_config_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let refs = tmp.path().join("refs");
        for (repo, commit) in [("b/repo", "c2"), ("a", "c1")] {
            write(
                &refs.join(format!("{repo}/-/repo.ocu.star/@/#.link")),
                &format!("{repo}/-/repo.ocu.star/@{commit}\n"),
            );
            write(
                &refs.join(format!("{repo}/-/repo.ocu.star/@{commit}/#.yaml")),
                &format!("Remotes: []\nsource: \"repo_alias('{repo}')\"\n"),
            );
        }
        // A package folder below `-` is not searched, a global `@` folder is skipped.
        write(&refs.join("@/custom/x/#.yaml"), "1\n");
        write(&refs.join("a/-/pkg.ocu.star/@r1/#.yaml"), "{}\n");
        let configs = registered_configs(tmp.path());
        assert_eq!(
            configs,
            vec![
                ("a".to_string(), "repo_alias('a')".to_string()),
                ("b/repo".to_string(), "repo_alias('b/repo')".to_string()),
            ]
        );
    }
}
