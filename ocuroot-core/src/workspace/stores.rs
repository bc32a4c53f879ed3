//! Opening the state and intent stores a configuration selects (spec §3.5, DESIGN "hub").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{DEFAULT_STORE_DIR, WorkspaceError, ensure_ignored};
use crate::clock::Clock;
use crate::config::RepoConfig;
use crate::store::{
    Author, RemoteOptions, RemoteSettings, Store, StoreKind, StoreOptions, StoreSelection,
    StoreSpec,
};

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

impl StoreContext {
    /// The store context of a workspace opened with `options`.
    pub fn of(options: &super::WorkspaceOptions) -> StoreContext {
        StoreContext {
            author: options.author.clone(),
            clock: options.clock.clone(),
            home: options.home.clone(),
            remote: options.remote.clone(),
        }
    }
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
