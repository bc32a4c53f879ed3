//! The `gix` backend of [`Store`](super::Store): one branch folder of a Git repository,
//! read as trees and written as commits, never through a work tree.
//!
//! ```text
//! mod.rs      GitBackend: opening (and sharing) the repository handle, the branch tip,
//!             read views at the tip or at a revision
//! read.rs     Snapshot: a consistent read view at one commit (documents, links, globs,
//!             the file listing used by validation)
//! overlay.rs  Overlay: a transaction's operations applied as pending file edits
//! commit.rs   building the commit of a transaction and moving the branch, locally or
//!             by pushing to the remote (with retries after a lost race)
//! lock.rs     the compare-and-swap of the branch ref under its lock, and what a lock
//!             failure means
//! cache.rs    the local cache of a remote store: creating, fetching, rebuilding
//! history.rs  the changes of one ref along the first-parent history
//! ```
//!
//! Invariants: the branch only ever moves by compare-and-swap from the tip a commit was
//! built on; a remote store's cache branch only holds commits the remote had or accepted;
//! every repository is opened (and created) without reading the user's Git configuration.
//! The `git` binary runs only for what `gix` cannot do (push, fetch, packs), through
//! [`crate::git_subprocess`]; the format of paths inside the folder is [`super::layout`]'s.

mod cache;
mod commit;
mod fold;
mod history;
mod lock;
mod overlay;
mod pack;
mod read;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::refs::FullName;

use super::remote::{self, RemoteSettings};
use super::{StoreError, StoreKind, StoreOptions, StoreResult};
use crate::clock::Clock;
use crate::git_subprocess::GitEnvironment;

pub(crate) use cache::init_bare;
use cache::prepare_cache;
pub(crate) use read::{Snapshot, resolve_found};

/// A store's repository handle and location.
pub(crate) struct GitBackend {
    /// The repository handle; replaced when a damaged remote cache is rebuilt.
    repo: std::sync::RwLock<gix::ThreadSafeRepository>,
    repo_path: PathBuf,
    branch: String,
    ref_name: FullName,
    prefix: Vec<String>,
    kind: StoreKind,
    author: super::Author,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
    /// The remote this store's repository caches, if any.
    remote: Option<RemoteState>,
    /// The variables of the store's `git` processes.
    git_env: GitEnvironment,
    /// Thread-local handles not in use, with their object caches warm (see [`Pooled`]).
    handles: std::sync::Mutex<Vec<gix::Repository>>,
    /// The marker file's blob id last found valid, so that a read of an unchanged store does
    /// not parse the marker again.
    marker_ok: std::sync::Mutex<Option<ObjectId>>,
    /// Documents and links decoded so far, by blob id.
    decoded: std::sync::Mutex<read::Decoded>,
    /// Trees decoded so far, by id.
    trees: std::sync::RwLock<read::Trees>,
    /// The commit last read whose marker was found valid, and its store folder's tree.
    checked_tip: std::sync::Mutex<Option<(ObjectId, Option<ObjectId>)>>,
    /// Threads whose reads are pinned to one tip ([`GitBackend::pin`]).
    pins: std::sync::Mutex<Vec<(std::thread::ThreadId, Option<ObjectId>)>>,
}

/// Handles kept in a backend's pool at most (about the threads that read at once).
const POOL_SIZE: usize = 8;

/// A thread-local handle of a store's repository, taken from the backend's pool and given
/// back when dropped. A fresh handle starts with an empty object cache, so every read of a
/// path would inflate each tree on it again (a cascade reads tens of thousands of documents);
/// a pooled one keeps the trees it inflated (objects never change, so a cache of them is
/// never stale; refs are read anew every time). Buffered writes ([`read::Snapshot::buffer_writes`])
/// are dropped with the handle's object memory before it goes back.
pub(crate) struct Pooled<'a> {
    repo: Option<gix::Repository>,
    pool: &'a std::sync::Mutex<Vec<gix::Repository>>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = gix::Repository;
    fn deref(&self) -> &gix::Repository {
        self.repo
            .as_ref()
            .expect("a pooled handle is present until dropped")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut gix::Repository {
        self.repo
            .as_mut()
            .expect("a pooled handle is present until dropped")
    }
}

impl Clone for Pooled<'_> {
    fn clone(&self) -> Self {
        Pooled {
            repo: self.repo.clone(),
            pool: self.pool,
        }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(mut repo) = self.repo.take() {
            repo.objects.take_object_memory();
            if let Ok(mut pool) = self.pool.lock()
                && pool.len() < POOL_SIZE
            {
                pool.push(repo);
            }
        }
    }
}

/// The remote of a remote-backed store (its repository is then a cache).
pub(crate) struct RemoteState {
    url: String,
    support_files: std::collections::BTreeMap<String, String>,
    settings: RemoteSettings,
}

fn git_err<E>(location: &str, action: impl Into<String>) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let location = location.to_string();
    let action = action.into();
    move |e| StoreError::Git {
        location,
        action,
        source: Box::new(e),
    }
}

impl GitBackend {
    pub(crate) fn open(options: StoreOptions) -> StoreResult<GitBackend> {
        let location = match &options.remote {
            Some(r) => format!("{} (branch {})", remote::redact(&r.url), options.branch),
            None => format!(
                "{} (branch {})",
                options.repo_path.display(),
                options.branch
            ),
        };
        if let Some(r) = &options.remote {
            prepare_cache(&options, r, &location)?;
        }
        let ref_name: FullName = format!("refs/heads/{}", options.branch)
            .try_into()
            .map_err(git_err(&location, "invalid branch name"))?;
        let open_opts = gix::open::Options::isolated();
        // Stores in one local repository (the `state` and `intent` branches of the hub)
        // share one handle, so pack indexes are loaded and validated once per process. Remote
        // caches are not shared: `prepare_cache` may rebuild them under the same path.
        let local = options.remote.is_none();
        if local && let Some(repo) = shared_repo(&options.repo_path, None) {
            return Ok(Self::from_repo(repo, options, ref_name));
        }
        let open =
            || gix::ThreadSafeRepository::open_opts(options.repo_path.clone(), open_opts.clone());
        // Concurrent first use (several CI jobs in one checkout) races on creating the
        // repository: a loser of that race waits for the winner's repository to open.
        let wait_for_open = || {
            (0..50).find_map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                open().ok()
            })
        };
        let repo = match open() {
            Ok(repo) => repo,
            Err(open_err) => {
                if options.repo_path.join("HEAD").exists()
                    || options.repo_path.join(".git").exists()
                {
                    wait_for_open()
                        .ok_or_else(|| git_err(&location, "open repository")(open_err))?
                } else {
                    std::fs::create_dir_all(&options.repo_path)
                        .map_err(git_err(&location, "create repository directory"))?;
                    match init_bare(&options.repo_path) {
                        Ok(_) => open().map_err(git_err(&location, "open repository"))?,
                        Err(init_err) => wait_for_open().ok_or_else(|| {
                            git_err(&location, "create bare repository")(init_err)
                        })?,
                    }
                }
            }
        };
        if local {
            shared_repo(&options.repo_path, Some(&repo));
        }
        Ok(Self::from_repo(repo, options, ref_name))
    }

    fn from_repo(
        repo: gix::ThreadSafeRepository,
        options: StoreOptions,
        ref_name: FullName,
    ) -> GitBackend {
        let prefix = options
            .prefix
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        GitBackend {
            repo: std::sync::RwLock::new(repo),
            repo_path: options.repo_path,
            branch: options.branch,
            ref_name,
            prefix,
            kind: options.kind,
            author: options.author,
            clock: options.clock,
            max_attempts: options.max_attempts.max(1),
            git_env: options.git,
            remote: options.remote.map(|r| RemoteState {
                url: r.url,
                support_files: r.support_files,
                settings: r.settings,
            }),
            handles: std::sync::Mutex::new(Vec::new()),
            marker_ok: std::sync::Mutex::new(None),
            decoded: std::sync::Mutex::new(read::Decoded::default()),
            trees: std::sync::RwLock::new(read::Trees::default()),
            checked_tip: std::sync::Mutex::new(None),
            pins: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn location(&self) -> String {
        let place = match &self.remote {
            Some(r) => remote::redact(&r.url),
            None => self.repo_path.display().to_string(),
        };
        if self.prefix.is_empty() {
            format!("{place} (branch {})", self.branch)
        } else {
            format!(
                "{place} (branch {}, folder {})",
                self.branch,
                self.prefix.join("/")
            )
        }
    }

    pub(crate) fn repo_path(&self) -> &Path {
        &self.repo_path
    }

    /// Returns the remote URL as configured (credentials included), if the store has one.
    pub(crate) fn remote_url(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.url.as_str())
    }

    pub(crate) fn branch(&self) -> &str {
        &self.branch
    }

    /// A thread-local handle of the repository, from the pool when one is free.
    pub(crate) fn local(&self) -> Pooled<'_> {
        let pooled = self.handles.lock().ok().and_then(|mut pool| pool.pop());
        let repo = pooled.unwrap_or_else(|| {
            let handle = match self.repo.read() {
                Ok(guard) => guard.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            let mut repo = handle.to_thread_local();
            repo.object_cache_size_if_unset(4 * 1024 * 1024);
            repo
        });
        Pooled {
            repo: Some(repo),
            pool: &self.handles,
        }
    }

    /// Reopens the repository with a fresh object database and forgets the pooled handles.
    ///
    /// `gix` finds objects through the packs its shared object database knows and rescans
    /// the pack folder when an object is missing. Between threads of one process that share
    /// the database, the rescan can be skipped because another thread rescanned a moment
    /// earlier, before a concurrent writer's new pack existed: the writer's commit is then
    /// not found although its pack is complete on disk (about one run in twelve of eight
    /// threads committing 60 times; with loose objects, every lookup looked at the disk).
    /// A fresh database scans the disk when first used, so a read retried after this sees
    /// every pack whose index was written.
    pub(crate) fn reopen(&self) -> StoreResult<()> {
        let repo = gix::ThreadSafeRepository::open_opts(
            self.repo_path.clone(),
            gix::open::Options::isolated(),
        )
        .map_err(git_err(&self.location(), "reopen the repository"))?;
        match self.repo.write() {
            Ok(mut guard) => *guard = repo,
            Err(poisoned) => *poisoned.into_inner() = repo,
        }
        self.drop_pooled_handles();
        Ok(())
    }

    /// Forgets the pooled handles (after the repository handle was replaced).
    pub(super) fn drop_pooled_handles(&self) {
        if let Ok(mut pool) = self.handles.lock() {
            pool.clear();
        }
    }

    fn tip(&self, repo: &gix::Repository) -> StoreResult<Option<ObjectId>> {
        let loc = self.location();
        let reference = repo
            .try_find_reference(self.ref_name.as_ref())
            .map_err(git_err(&loc, format!("read branch {}", self.branch)))?;
        match reference {
            None => Ok(None),
            Some(mut r) => {
                let id = r
                    .peel_to_id()
                    .map_err(git_err(&loc, format!("resolve branch {}", self.branch)))?;
                Ok(Some(id.detach()))
            }
        }
    }

    pub(crate) fn tip_hex(&self) -> StoreResult<Option<String>> {
        self.maybe_fetch()?;
        let repo = self.local();
        Ok(self.tip(&repo)?.map(|id| id.to_string()))
    }

    /// Returns the tree id of the store folder in `commit`, if present.
    fn store_tree(
        &self,
        repo: &gix::Repository,
        commit: ObjectId,
    ) -> StoreResult<Option<ObjectId>> {
        let loc = self.location();
        let commit = repo
            .find_commit(commit)
            .map_err(git_err(&loc, "read commit"))?;
        let root = commit
            .tree_id()
            .map_err(git_err(&loc, "read commit tree"))?
            .detach();
        self.folder_tree(repo, root)
    }

    /// Returns the tree id of the store folder below the branch root tree `root`.
    fn folder_tree(&self, repo: &gix::Repository, root: ObjectId) -> StoreResult<Option<ObjectId>> {
        let loc = self.location();
        if self.prefix.is_empty() {
            return Ok(Some(root));
        }
        let tree = repo.find_tree(root).map_err(git_err(&loc, "read tree"))?;
        let entry = tree
            .lookup_entry(self.prefix.iter().map(String::as_str))
            .map_err(git_err(&loc, "read tree"))?;
        Ok(entry.filter(|e| e.mode().is_tree()).map(|e| e.object_id()))
    }

    /// A read view at the commit `rev` names (a branch, tag or commit id of the store's
    /// repository). For a remote store, a revision the cache does not know is fetched from
    /// the remote first, so `plan --intent <pull request branch>` works in a fresh CI job.
    pub(crate) fn snapshot_at(&self, rev: &str) -> StoreResult<Snapshot<'_>> {
        self.maybe_fetch()?;
        let loc = self.location();
        let repo = self.local();
        let id = match repo.rev_parse_single(rev) {
            Ok(id) => id.detach(),
            Err(e) => match &self.remote {
                Some(remote) if !remote.settings.offline => {
                    match remote::fetch_rev(&self.git_env, &self.repo_path, &remote.url, rev)
                        .map_err(|f| self.remote_error(remote, "fetch a revision from", f))?
                    {
                        Some(id) => id,
                        None => return Err(git_err(&loc, format!("resolve revision {rev}"))(e)),
                    }
                }
                _ => return Err(git_err(&loc, format!("resolve revision {rev}"))(e)),
            },
        };
        let id = repo
            .find_object(id)
            .map_err(git_err(&loc, format!("read revision {rev}")))?
            .peel_to_commit()
            .map_err(git_err(&loc, format!("revision {rev} is not a commit")))?
            .id;
        let tree = self.store_tree(&repo, id)?;
        let snap = Snapshot {
            backend: self,
            repo,
            tree,
            tip: Some(id),
        };
        snap.check_marker()?;
        Ok(snap)
    }

    pub(crate) fn snapshot(&self) -> StoreResult<Snapshot<'_>> {
        self.maybe_fetch()?;
        self.snapshot_local()
    }

    /// The snapshot a read on this thread sees: at the pinned tip while the thread holds a
    /// pin ([`GitBackend::pin`]), else a fresh [`GitBackend::snapshot`]. Commits never read
    /// through this: they always build on the branch's real tip.
    pub(crate) fn read_snapshot(&self) -> StoreResult<Snapshot<'_>> {
        match self.pinned_tip() {
            Some(tip) => self.snapshot_on(self.local(), tip),
            None => self.snapshot(),
        }
    }

    fn pinned_tip(&self) -> Option<Option<ObjectId>> {
        let me = std::thread::current().id();
        let pins = self.pins.lock().ok()?;
        pins.iter().find(|(t, _)| *t == me).map(|(_, tip)| *tip)
    }

    /// Pins this thread's reads ([`GitBackend::read_snapshot`]) to the current tip (after a
    /// fetch, for a remote store) until [`GitBackend::unpin`]; returns false, changing
    /// nothing, when the thread already holds a pin.
    pub(crate) fn pin(&self) -> StoreResult<bool> {
        if self.pinned_tip().is_some() {
            return Ok(false);
        }
        self.maybe_fetch()?;
        let tip = self.tip(&self.local())?;
        let me = std::thread::current().id();
        if let Ok(mut pins) = self.pins.lock() {
            pins.push((me, tip));
        }
        Ok(true)
    }

    /// Moves this thread's pin, if it holds one, to `tip`: a commit it just landed (which
    /// holds everything the pinned tip held), so that its own writes stay visible to it.
    pub(crate) fn repin(&self, tip: ObjectId) {
        let me = std::thread::current().id();
        if let Ok(mut pins) = self.pins.lock()
            && let Some(pin) = pins.iter_mut().find(|(t, _)| *t == me)
        {
            pin.1 = Some(tip);
        }
    }

    /// Ends this thread's pin.
    pub(crate) fn unpin(&self) {
        let me = std::thread::current().id();
        if let Ok(mut pins) = self.pins.lock() {
            pins.retain(|(t, _)| *t != me);
        }
    }

    /// A read view at the cache's tip, without fetching.
    fn snapshot_local(&self) -> StoreResult<Snapshot<'_>> {
        let repo = self.local();
        let tip = self.tip(&repo)?;
        self.snapshot_on(repo, tip)
    }

    /// A read view of this store's folder in the commit `tip` (`None`: an empty branch),
    /// read through `repo`.
    fn snapshot_on<'a>(
        &'a self,
        repo: Pooled<'a>,
        tip: Option<ObjectId>,
    ) -> StoreResult<Snapshot<'a>> {
        // A commit never changes, so neither does its store folder nor the marker in it:
        // the commit last found valid (usually the tip of every read since) is not looked
        // at again.
        let known = tip.and_then(|tip| {
            self.checked_tip
                .lock()
                .ok()
                .and_then(|c| c.filter(|(id, _)| *id == tip).map(|(_, tree)| tree))
        });
        if let Some(tree) = known {
            return Ok(Snapshot {
                backend: self,
                repo,
                tree,
                tip,
            });
        }
        let tree = match tip {
            Some(tip) => self.store_tree(&repo, tip)?,
            None => None,
        };
        let snap = Snapshot {
            backend: self,
            repo,
            tree,
            tip,
        };
        snap.check_marker()?;
        if let Some(tip) = tip
            && let Ok(mut checked) = self.checked_tip.lock()
        {
            *checked = Some((tip, tree));
        }
        Ok(snap)
    }

    /// True for a store kept in a remote repository through a local cache.
    pub(crate) fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    pub(crate) fn full_path(&self, rel: &[String]) -> Vec<String> {
        let mut out = self.prefix.clone();
        out.extend(rel.iter().cloned());
        out
    }
}

/// Runs `f`, adding the time it took to `slot`.
fn timed<T>(slot: &mut Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    *slot += start.elapsed();
    out
}

/// Returns the process-wide handle of the repository at `path`, registering `insert` first
/// when given.
fn shared_repo(
    path: &Path,
    insert: Option<&gix::ThreadSafeRepository>,
) -> Option<gix::ThreadSafeRepository> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static REPOS: LazyLock<Mutex<HashMap<PathBuf, gix::ThreadSafeRepository>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut repos = REPOS.lock().ok()?;
    if let Some(repo) = insert {
        repos.insert(path.to_path_buf(), repo.clone());
    }
    repos.get(path).cloned()
}
