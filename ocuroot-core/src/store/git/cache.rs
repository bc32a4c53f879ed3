//! The local cache of a remote store: a bare repository under `$OCUROOT_HOME/stores/`
//! holding only what the remote had or accepted.
//!
//! [`prepare_cache`] makes it usable before the store opens it (created if missing,
//! rebuilt if broken, the branch fetched); [`GitBackend::repair`] rebuilds a cache found
//! damaged mid-command. Rebuilding loses nothing, because the cache's branch only moves to
//! commits the remote holds. Fetches are debounced per process ([`GitBackend::maybe_fetch`])
//! and followed by maintenance. The `git` commands themselves are in [`super::remote`].

use std::path::Path;

use gix::ObjectId;

use super::{GitBackend, RemoteState, git_err};
use crate::git_subprocess::{GitCommand, GitEnvironment};
use crate::store::remote::{self, RemoteFailure, RemoteOptions};
use crate::store::{StoreError, StoreOptions, StoreResult};

impl GitBackend {
    pub(super) fn remote_error(
        &self,
        remote: &RemoteState,
        action: &str,
        failure: RemoteFailure,
    ) -> StoreError {
        let (RemoteFailure::Remote(detail) | RemoteFailure::Local(detail)) = failure;
        StoreError::Remote {
            remote: remote::redact(&remote.url),
            action: action.to_string(),
            detail,
        }
    }

    /// Rebuilds a damaged remote cache from the remote and reopens it. The cache holds
    /// nothing the remote lacks (the cache branch only moves to pushed commits), so this
    /// loses nothing.
    pub(crate) fn repair(&self) -> StoreResult<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let loc = self.location();
        rebuild(&self.repo_path, &loc)?;
        self.fetch_now(remote)?;
        let repo = gix::ThreadSafeRepository::open_opts(
            self.repo_path.clone(),
            gix::open::Options::isolated(),
        )
        .map_err(git_err(&loc, "reopen rebuilt cache"))?;
        match self.repo.write() {
            Ok(mut guard) => *guard = repo,
            Err(poisoned) => *poisoned.into_inner() = repo,
        }
        self.drop_pooled_handles();
        Ok(())
    }

    /// Fetches the branch now (not debounced).
    pub(super) fn fetch_now(&self, remote: &RemoteState) -> StoreResult<Option<ObjectId>> {
        let tip = remote::fetch(&self.git_env, &self.repo_path, &remote.url, &self.branch)
            .map_err(|f| self.remote_error(remote, "fetch from", f))?;
        remote::mark_fetched(&self.repo_path, &self.branch);
        // A fetch brings packs; best effort, as after a local commit.
        let _ = crate::store::maintenance::maintain(&self.repo_path, &self.git_env);
        Ok(tip)
    }

    /// Fetches before a read unless offline or fetched within the debounce interval.
    pub(super) fn maybe_fetch(&self) -> StoreResult<()> {
        if let Some(remote) = &self.remote
            && !remote.settings.offline
            && !remote::fetched_recently(
                &self.repo_path,
                &self.branch,
                remote.settings.fetch_interval,
            )
        {
            self.fetch_now(remote)?;
        }
        Ok(())
    }
}

/// Makes the cache of a remote-backed store usable before it is opened: a missing or broken
/// cache is (re)built from the remote, and the branch is fetched (unless offline).
pub(super) fn prepare_cache(
    options: &StoreOptions,
    r: &RemoteOptions,
    location: &str,
) -> StoreResult<()> {
    let cache = &options.repo_path;
    let env = &options.git;
    let redacted = remote::redact(&r.url);
    let failure = |action: &str, f: RemoteFailure| {
        let (RemoteFailure::Remote(detail) | RemoteFailure::Local(detail)) = f;
        StoreError::Remote {
            remote: redacted.clone(),
            action: action.to_string(),
            detail,
        }
    };
    let healthy = |cache: &Path| {
        cache.join("HEAD").is_file()
            && gix::open_opts(cache, gix::open::Options::isolated()).is_ok()
    };
    if cache.exists() && !healthy(cache) {
        // The cache holds only what the remote has: rebuilding it loses nothing.
        rebuild(cache, location)?;
    }
    init_cache(cache, location)?;
    if r.settings.offline {
        return Ok(());
    }
    let mut tip = match remote::fetch(env, cache, &r.url, &options.branch) {
        Ok(tip) => tip,
        Err(RemoteFailure::Local(_)) => {
            rebuild(cache, location)?;
            remote::fetch(env, cache, &r.url, &options.branch)
                .map_err(|f| failure("fetch from", f))?
        }
        Err(f) => return Err(failure("fetch from", f)),
    };
    if let Some(id) = tip
        && !readable(env, cache, id)
    {
        rebuild(cache, location)?;
        tip = remote::fetch(env, cache, &r.url, &options.branch)
            .map_err(|f| failure("fetch from", f))?;
    }
    remote::mark_fetched(cache, &options.branch);
    if tip.is_none() && !r.create_branch {
        return Err(StoreError::Remote {
            remote: redacted,
            action: "use".to_string(),
            detail: format!(
                "the remote has no branch {:?} and create_branch=False",
                options.branch
            ),
        });
    }
    Ok(())
}

/// True when the commit `id` and its root tree can be read from the cache.
pub(super) fn readable(env: &GitEnvironment, cache: &Path, id: ObjectId) -> bool {
    GitCommand::in_git_dir(env, cache)
        .args(["cat-file", "-e", &format!("{id}^{{tree}}")])
        .succeeds()
}

/// Creates a bare repository at `path`, reading no Git configuration but its own (as every
/// store repository is opened: `gix::init_bare` would read the user's global configuration,
/// and fail when it does not parse).
pub(crate) fn init_bare(path: &Path) -> Result<gix::ThreadSafeRepository, gix::Error> {
    gix::ThreadSafeRepository::init_opts(
        path,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        gix::open::Options::isolated(),
    )
}

/// Creates the bare cache repository if it does not exist (tolerating a concurrent creator).
pub(super) fn init_cache(cache: &Path, location: &str) -> StoreResult<()> {
    if cache.join("HEAD").is_file() {
        return Ok(());
    }
    // The repository is made beside the cache and renamed into place, so that a cache
    // folder only ever exists complete: another process that finds it half made would take
    // it for a broken cache and rebuild it under the feet of the one still creating it.
    let parent = cache.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(git_err(location, "create cache directory"))?;
    let fresh = cache.with_extension(format!(
        "init-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    init_bare(&fresh).map_err(git_err(location, "create cache repository"))?;
    if std::fs::rename(&fresh, cache).is_err() {
        // Another process put its cache in place first: use that one.
        let _ = std::fs::remove_dir_all(&fresh);
        if !cache.join("HEAD").is_file() {
            return Err(git_err(location, "create cache repository")(
                std::io::Error::other(format!(
                    "{} exists but is not a Git repository",
                    cache.display()
                )),
            ));
        }
    }
    Ok(())
}

/// Replaces a broken cache with an empty one (moved aside first, so that a process still
/// reading the old one is not disturbed mid-read).
pub(super) fn rebuild(cache: &Path, location: &str) -> StoreResult<()> {
    let aside = cache.with_extension(format!(
        "broken-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    if std::fs::rename(cache, &aside).is_ok() {
        let _ = std::fs::remove_dir_all(&aside);
    }
    init_cache(cache, location)
}
