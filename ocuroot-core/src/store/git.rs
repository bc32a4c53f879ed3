//! The `gix` plumbing behind [`Store`](super::Store): reading trees at the branch tip,
//! applying a transaction's operations to a tree, and moving the branch by compare-and-swap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::objs::tree::EntryKind;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::{FullName, Target};
use rand::Rng;
use serde_json::Value;

use super::layout::{self, Area, DOC_FILE, FORMAT_VERSION, LINK_FILE, MARKER_FILE};
use super::matcher::SegmentMatcher;
use super::remote::{self, PushOutcome, RemoteFailure, RemoteOptions, RemoteSettings};
use super::{
    CommitOutcome, CommitTimings, Entry, FileKind, HistoryChange, HistoryEntry, MatchOptions, Op,
    StoreError, StoreKind, StoreOptions, StoreResult, Transaction,
};
use crate::clock::Clock;
use crate::git_subprocess::{GitCommand, GitEnvironment};
use crate::refs::{Glob, Ref};
use crate::yaml;

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

    pub(crate) fn local(&self) -> gix::Repository {
        let handle = match self.repo.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut repo = handle.to_thread_local();
        repo.object_cache_size_if_unset(4 * 1024 * 1024);
        repo
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

    /// A read view at the cache's tip, without fetching.
    fn snapshot_local(&self) -> StoreResult<Snapshot<'_>> {
        let repo = self.local();
        let tip = self.tip(&repo)?;
        self.snapshot_on(repo, tip)
    }

    /// A read view of this store's folder in the commit `tip` (`None`: an empty branch),
    /// read through `repo`.
    fn snapshot_on(
        &self,
        repo: gix::Repository,
        tip: Option<ObjectId>,
    ) -> StoreResult<Snapshot<'_>> {
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
        Ok(snap)
    }

    /// A read view of the tip as `tx` would leave it, without committing: the new trees
    /// are written to the object database (unreferenced until a commit uses them), the
    /// branch does not move. The view's commit is the tip it was built on.
    pub(crate) fn preview(&self, tx: &Transaction) -> StoreResult<Snapshot<'_>> {
        let snap = self.snapshot()?;
        let Some((root, _)) = self.build_root(&snap, tx)? else {
            return Ok(snap);
        };
        let tree = self.folder_tree(&snap.repo, root)?;
        Ok(Snapshot { tree, ..snap })
    }

    fn signature(&self) -> gix::actor::Signature {
        let now = self.clock.now();
        gix::actor::Signature {
            name: self.author.name.as_str().into(),
            email: self.author.email.as_str().into(),
            time: gix::date::Time {
                seconds: now.seconds,
                offset: 0,
            },
        }
    }

    /// Builds the commit of `tx` on top of `snap`; `None` when the operations change nothing.
    fn build_commit(&self, snap: &Snapshot<'_>, tx: &Transaction) -> StoreResult<Option<ObjectId>> {
        let loc = self.location();
        let Some((new_root, _)) = self.build_root(snap, tx)? else {
            return Ok(None);
        };
        let sig = self.signature();
        let commit = gix::objs::Commit {
            message: tx.commit_message().into(),
            tree: new_root,
            author: sig.clone(),
            committer: sig,
            encoding: None,
            parents: snap.tip.into_iter().collect(),
            extra_headers: Vec::new(),
        };
        Ok(Some(
            snap.repo
                .write_object(&commit)
                .map_err(git_err(&loc, "write commit"))?
                .detach(),
        ))
    }

    /// Applies `tx` to the branch root tree of `snap` and writes the new root tree.
    /// Returns the new and the old root, or `None` when the operations change nothing.
    fn build_root(
        &self,
        snap: &Snapshot<'_>,
        tx: &Transaction,
    ) -> StoreResult<Option<(ObjectId, ObjectId)>> {
        let loc = self.location();
        let repo = &snap.repo;
        let mut overlay = Overlay::new(snap);
        for op in tx.ops() {
            overlay.apply(op)?;
        }
        if overlay.edits.is_empty() {
            return Ok(None);
        }
        let marker_missing = snap.read_file(&[MARKER_FILE.to_string()])?.is_none();
        // Build the new root tree.
        let base_root = match snap.tip {
            Some(tip) => repo
                .find_commit(tip)
                .map_err(git_err(&loc, "read commit"))?
                .tree_id()
                .map_err(git_err(&loc, "read commit tree"))?
                .detach(),
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let mut editor = repo
            .edit_tree(base_root)
            .map_err(git_err(&loc, "edit tree"))?;
        if marker_missing {
            let marker = format!("format: {FORMAT_VERSION}\nkind: {}\n", self.kind.as_str());
            let id = repo
                .write_blob(marker.as_bytes())
                .map_err(git_err(&loc, "write blob"))?;
            let path = self.full_path(&[MARKER_FILE.to_string()]);
            editor
                .upsert(path.join("/").as_str(), EntryKind::Blob, id.detach())
                .map_err(git_err(&loc, "edit tree"))?;
        }
        if let Some(remote) = &self.remote
            && !remote.support_files.is_empty()
        {
            // Support files sit at the branch root and are written only when missing, so a
            // person may change them later by hand.
            let root = repo
                .find_tree(base_root)
                .map_err(git_err(&loc, "read tree"))?;
            for (path, content) in &remote.support_files {
                let present = root
                    .lookup_entry(path.split('/').filter(|s| !s.is_empty()))
                    .map_err(git_err(&loc, "read tree"))?
                    .is_some();
                if !present {
                    let id = repo
                        .write_blob(content.as_bytes())
                        .map_err(git_err(&loc, "write blob"))?;
                    editor
                        .upsert(path.as_str(), EntryKind::Blob, id.detach())
                        .map_err(git_err(&loc, "edit tree"))?;
                }
            }
        }
        let mut edits: Vec<_> = overlay.edits.into_iter().collect();
        edits.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, edit) in edits {
            let full = self.full_path(&path);
            match edit {
                Some(bytes) => {
                    let id = repo
                        .write_blob(&bytes)
                        .map_err(git_err(&loc, "write blob"))?;
                    editor
                        .upsert(full.join("/").as_str(), EntryKind::Blob, id.detach())
                        .map_err(git_err(&loc, "edit tree"))?;
                }
                None => {
                    editor
                        .remove(full.join("/").as_str())
                        .map_err(git_err(&loc, "edit tree"))?;
                }
            }
        }
        let new_root = editor
            .write()
            .map_err(git_err(&loc, "write tree"))?
            .detach();
        if new_root == base_root {
            return Ok(None);
        }
        Ok(Some((new_root, base_root)))
    }

    /// Moves the branch of `repo` from `expected` to `new` by compare-and-swap.
    fn update_ref(
        &self,
        repo: &gix::Repository,
        expected: Option<ObjectId>,
        new: ObjectId,
        message: &str,
    ) -> Result<(), gix::Error> {
        let sig = self.signature();
        let expected = match expected {
            Some(tip) => PreviousValue::MustExistAndMatch(Target::Object(tip)),
            None => PreviousValue::MustNotExist,
        };
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: message.lines().next().unwrap_or("ocuroot").into(),
                },
                expected,
                new: Target::Object(new),
            },
            name: self.ref_name.clone(),
            deref: false,
        };
        let mut time_buf = gix::date::parse::TimeBuf::default();
        repo.refs
            .transaction()
            .prepare(
                Some(edit),
                gix::lock::acquire::Fail::AfterDurationWithBackoff(Duration::from_millis(500)),
                gix::lock::acquire::Fail::AfterDurationWithBackoff(Duration::from_millis(500)),
            )
            .and_then(|t| t.commit(Some(sig.to_ref(&mut time_buf))))
            .map(|_| ())
    }

    pub(crate) fn commit(&self, tx: &Transaction) -> StoreResult<CommitOutcome> {
        if let Some(remote) = &self.remote {
            return self.commit_remote(remote, tx);
        }
        let loc = self.location();
        let mut retries = 0;
        let mut rng = rand::rng();
        for attempt in 0..self.max_attempts {
            let snap = self.snapshot()?;
            let Some(commit_id) = self.build_commit(&snap, tx)? else {
                return Ok(CommitOutcome {
                    commit: None,
                    retries,
                    timings: CommitTimings::default(),
                });
            };
            match self.update_ref(&snap.repo, snap.tip, commit_id, tx.message()) {
                Ok(()) => {
                    // Best effort: the commit has landed, and a repository that could not
                    // be maintained now is only slower to read, never wrong.
                    let _ = super::maintenance::maintain(&self.repo_path, &self.git_env);
                    return Ok(CommitOutcome {
                        commit: Some(commit_id.to_string()),
                        retries,
                        timings: CommitTimings::default(),
                    });
                }
                Err(err) => {
                    // Either the branch moved (compare-and-swap lost) or its lock was held past
                    // the timeout. Both are races: re-read the tip and re-apply the operations.
                    let now_tip = self.tip(&snap.repo)?;
                    let lost_race = now_tip != snap.tip || is_lock_error(&err);
                    if !lost_race || attempt + 1 == self.max_attempts {
                        if lost_race {
                            break;
                        }
                        return Err(git_err(&loc, "update branch")(err));
                    }
                    retries += 1;
                    let cap = 2u64.saturating_pow(attempt.min(7)) * 5;
                    std::thread::sleep(Duration::from_millis(rng.random_range(1..=cap.max(2))));
                }
            }
        }
        Err(StoreError::Conflict {
            location: loc,
            attempts: self.max_attempts,
        })
    }

    /// Commits on top of the remote's tip and pushes with a lease on that tip; a rejected
    /// push (another writer pushed first) fetches, re-applies the operations on the new tip
    /// (create-only operations re-check) and tries again with jittered back-off. The cache's
    /// branch moves only to a commit the remote accepted.
    fn commit_remote(&self, remote: &RemoteState, tx: &Transaction) -> StoreResult<CommitOutcome> {
        let loc = self.location();
        if remote.settings.offline {
            return Err(StoreError::Offline { location: loc });
        }
        let mut t = CommitTimings::default();
        let mut waited = Duration::ZERO;
        let out = remote::with_commit_lock(&self.repo_path, &mut waited, || {
            self.commit_remote_locked(remote, tx, &mut t)
        })
        .map_err(|f| self.remote_error(remote, "lock the cache of", f))?;
        out.map(|mut o| {
            o.timings.lock_wait = waited;
            o
        })
    }

    /// [`GitBackend::commit_remote`] under the cache's commit lock.
    fn commit_remote_locked(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        t: &mut CommitTimings,
    ) -> StoreResult<CommitOutcome> {
        let loc = self.location();
        let attempts = remote.settings.max_attempts.max(1);
        let mut retries = 0;
        let mut rng = rand::rng();
        for attempt in 0..attempts {
            timed(&mut t.fetch, || {
                if attempt > 0 {
                    self.fetch_now(remote).map(|_| ())
                } else {
                    self.maybe_fetch()
                }
            })?;
            let (snap, commit_id) = timed(&mut t.build, || -> StoreResult<_> {
                let snap = self.snapshot_local()?;
                let commit_id = self.build_commit(&snap, tx)?;
                Ok((snap, commit_id))
            })?;
            let Some(commit_id) = commit_id else {
                return Ok(CommitOutcome {
                    commit: None,
                    retries,
                    timings: *t,
                });
            };
            let outcome = timed(&mut t.push, || {
                remote::push(
                    &self.git_env,
                    &self.repo_path,
                    &remote.url,
                    &self.branch,
                    commit_id,
                    snap.tip,
                )
            })
            .map_err(|f| self.remote_error(remote, "push to", f))?;
            match outcome {
                PushOutcome::Accepted => {
                    // Another process sharing this cache may have fetched a newer tip
                    // meanwhile; then the cache is already ahead and stays as it is.
                    let _ = self.update_ref(&snap.repo, snap.tip, commit_id, tx.message());
                    remote::mark_fetched(&self.repo_path, &self.branch);
                    return Ok(CommitOutcome {
                        commit: Some(commit_id.to_string()),
                        retries,
                        timings: *t,
                    });
                }
                PushOutcome::Rejected => {
                    retries += 1;
                    let cap = 2u64.saturating_pow(attempt.min(5)) * 10;
                    timed(&mut t.backoff, || {
                        std::thread::sleep(Duration::from_millis(rng.random_range(1..=cap)));
                    });
                }
                // A push of one branch is never atomic.
                PushOutcome::AtomicUnsupported => {
                    return Err(self.remote_error(
                        remote,
                        "push to",
                        RemoteFailure::Remote("the remote refused the push".to_string()),
                    ));
                }
            }
        }
        Err(StoreError::Conflict {
            location: loc,
            attempts,
        })
    }

    /// Commits `tx` to `self` and `other_tx` to `other` with a single `git push`, when both
    /// stores live in one remote (same URL, hence one cache): folders of one branch get two
    /// chained commits (`self`'s first) and one branch update; two branches are updated by
    /// one atomic push, so neither lands without the other. A lost race re-fetches, re-applies
    /// both transactions and pushes again, as [`GitBackend::commit`] does.
    ///
    /// Returns `None` when the stores cannot share a push (not both remote, two remotes,
    /// offline, or a remote without atomic pushes), having pushed nothing: the caller then
    /// commits them one after the other.
    pub(crate) fn commit_joint(
        &self,
        tx: &Transaction,
        other: &GitBackend,
        other_tx: &Transaction,
    ) -> StoreResult<Option<[CommitOutcome; 2]>> {
        let (Some(remote), Some(other_remote)) = (&self.remote, &other.remote) else {
            return Ok(None);
        };
        if remote.url != other_remote.url
            || self.repo_path != other.repo_path
            || remote.settings.offline
            || other_remote.settings.offline
        {
            return Ok(None);
        }
        let mut waited = Duration::ZERO;
        remote::with_commit_lock(&self.repo_path, &mut waited, || {
            self.commit_joint_locked(tx, other, other_tx, remote, other_remote)
        })
        .map_err(|f| self.remote_error(remote, "lock the cache of", f))?
    }

    /// [`GitBackend::commit_joint`] under the (shared) cache's commit lock.
    fn commit_joint_locked(
        &self,
        tx: &Transaction,
        other: &GitBackend,
        other_tx: &Transaction,
        remote: &RemoteState,
        other_remote: &RemoteState,
    ) -> StoreResult<Option<[CommitOutcome; 2]>> {
        let same_branch = self.branch == other.branch;
        let attempts = remote.settings.max_attempts.max(1);
        let mut rng = rand::rng();
        // Every attempt but the last lost a race: the attempt number is the retry count.
        let outcome = |id: Option<ObjectId>, retries| CommitOutcome {
            commit: id.map(|id| id.to_string()),
            retries,
            timings: CommitTimings::default(),
        };
        for attempt in 0..attempts {
            if attempt > 0 {
                self.fetch_now(remote)?;
                if !same_branch {
                    other.fetch_now(other_remote)?;
                }
            } else {
                self.maybe_fetch()?;
                other.maybe_fetch()?;
            }
            let snap = self.snapshot_local()?;
            let first = self.build_commit(&snap, tx)?;
            let pushed = if same_branch {
                // The other store's commit goes on top of ours, in the same repository.
                let other_snap = other.snapshot_on(snap.repo.clone(), first.or(snap.tip))?;
                let second = other.build_commit(&other_snap, other_tx)?;
                let Some(new) = second.or(first) else {
                    return Ok(Some([outcome(None, attempt), outcome(None, attempt)]));
                };
                let update = remote::BranchUpdate {
                    branch: &self.branch,
                    new,
                    expected: snap.tip,
                };
                match remote::push_branches(&self.git_env, &self.repo_path, &remote.url, &[update])
                    .map_err(|f| self.remote_error(remote, "push to", f))?
                {
                    PushOutcome::Accepted => {
                        let _ = self.update_ref(&snap.repo, snap.tip, new, other_tx.message());
                        Some((first, second))
                    }
                    PushOutcome::Rejected => None,
                    PushOutcome::AtomicUnsupported => return Ok(None),
                }
            } else {
                let other_snap = other.snapshot_local()?;
                let second = other.build_commit(&other_snap, other_tx)?;
                let mut updates = Vec::new();
                if let Some(new) = first {
                    updates.push(remote::BranchUpdate {
                        branch: &self.branch,
                        new,
                        expected: snap.tip,
                    });
                }
                if let Some(new) = second {
                    updates.push(remote::BranchUpdate {
                        branch: &other.branch,
                        new,
                        expected: other_snap.tip,
                    });
                }
                if updates.is_empty() {
                    return Ok(Some([outcome(None, attempt), outcome(None, attempt)]));
                }
                match remote::push_branches(&self.git_env, &self.repo_path, &remote.url, &updates)
                    .map_err(|f| self.remote_error(remote, "push to", f))?
                {
                    PushOutcome::Accepted => {
                        // As in `commit_remote`: a cache already ahead stays as it is.
                        if let Some(new) = first {
                            let _ = self.update_ref(&snap.repo, snap.tip, new, tx.message());
                        }
                        if let Some(new) = second {
                            let _ = other.update_ref(
                                &other_snap.repo,
                                other_snap.tip,
                                new,
                                other_tx.message(),
                            );
                        }
                        Some((first, second))
                    }
                    PushOutcome::Rejected => None,
                    PushOutcome::AtomicUnsupported => return Ok(None),
                }
            };
            if let Some((first, second)) = pushed {
                remote::mark_fetched(&self.repo_path, &self.branch);
                remote::mark_fetched(&other.repo_path, &other.branch);
                return Ok(Some([outcome(first, attempt), outcome(second, attempt)]));
            }
            let cap = 2u64.saturating_pow(attempt.min(5)) * 10;
            std::thread::sleep(Duration::from_millis(rng.random_range(1..=cap)));
        }
        Err(StoreError::Conflict {
            location: self.location(),
            attempts,
        })
    }

    fn remote_error(
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

    /// True for a store kept in a remote repository through a local cache.
    pub(crate) fn is_remote(&self) -> bool {
        self.remote.is_some()
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
        Ok(())
    }

    /// Fetches the branch now (not debounced).
    fn fetch_now(&self, remote: &RemoteState) -> StoreResult<Option<ObjectId>> {
        let tip = remote::fetch(&self.git_env, &self.repo_path, &remote.url, &self.branch)
            .map_err(|f| self.remote_error(remote, "fetch from", f))?;
        remote::mark_fetched(&self.repo_path, &self.branch);
        // A fetch brings packs; best effort, as after a local commit.
        let _ = super::maintenance::maintain(&self.repo_path, &self.git_env);
        Ok(tip)
    }

    /// Fetches before a read unless offline or fetched within the debounce interval.
    fn maybe_fetch(&self) -> StoreResult<()> {
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

    pub(crate) fn full_path(&self, rel: &[String]) -> Vec<String> {
        let mut out = self.prefix.clone();
        out.extend(rel.iter().cloned());
        out
    }

    pub(crate) fn history(
        &self,
        area: Area,
        r: &Ref,
        limit: usize,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.maybe_fetch()?;
        let loc = self.location();
        let repo = self.local();
        let Some(tip) = self.tip(&repo)? else {
            return Ok(Vec::new());
        };
        let doc = self.full_path(&layout::doc_path(area, r));
        let link = self.full_path(&layout::link_path(area, r));
        let lookup = |commit: ObjectId| -> StoreResult<Option<(bool, ObjectId)>> {
            let c = repo
                .find_commit(commit)
                .map_err(git_err(&loc, "read commit"))?;
            let tree = c.tree().map_err(git_err(&loc, "read tree"))?;
            if let Some(e) = tree
                .lookup_entry(doc.iter().map(String::as_str))
                .map_err(git_err(&loc, "read tree"))?
            {
                return Ok(Some((false, e.object_id())));
            }
            if let Some(e) = tree
                .lookup_entry(link.iter().map(String::as_str))
                .map_err(git_err(&loc, "read tree"))?
            {
                return Ok(Some((true, e.object_id())));
            }
            Ok(None)
        };
        let walk = repo
            .rev_walk([tip])
            .first_parent_only()
            .all()
            .map_err(git_err(&loc, "walk history"))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(git_err(&loc, "walk history"))?;
            let here = lookup(info.id)?;
            let parent = match info.parent_ids.first() {
                Some(p) => lookup(*p)?,
                None => None,
            };
            if here == parent {
                continue;
            }
            let change = match (&parent, &here) {
                (None, Some(_)) => HistoryChange::Added,
                (Some(_), None) => HistoryChange::Deleted,
                _ => HistoryChange::Modified,
            };
            let value = match here {
                Some((is_link, id)) => {
                    let path = if is_link { &link } else { &doc };
                    Some(decode_entry(&repo, id, is_link, &path.join("/"), &loc)?)
                }
                None => None,
            };
            let commit = repo
                .find_commit(info.id)
                .map_err(git_err(&loc, "read commit"))?;
            let author = commit
                .author()
                .map_err(git_err(&loc, "read commit author"))?;
            let time = author.time().map(|t| t.seconds).unwrap_or_default();
            let summary = commit
                .message_raw_sloppy()
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            out.push(HistoryEntry {
                commit: info.id.to_string(),
                time,
                author_name: author.name.to_string(),
                author_email: author.email.to_string(),
                summary,
                change,
                value,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
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

/// Makes the cache of a remote-backed store usable before it is opened: a missing or broken
/// cache is (re)built from the remote, and the branch is fetched (unless offline).
fn prepare_cache(options: &StoreOptions, r: &RemoteOptions, location: &str) -> StoreResult<()> {
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
fn readable(env: &GitEnvironment, cache: &Path, id: ObjectId) -> bool {
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
fn init_cache(cache: &Path, location: &str) -> StoreResult<()> {
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
fn rebuild(cache: &Path, location: &str) -> StoreResult<()> {
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

fn is_lock_error(err: &gix::Error) -> bool {
    let text = format!("{err:?}");
    text.contains("lock") || text.contains("Lock")
}

fn decode_entry(
    repo: &gix::Repository,
    id: ObjectId,
    is_link: bool,
    path: &str,
    loc: &str,
) -> StoreResult<Entry> {
    let blob = repo
        .find_blob(id)
        .map_err(git_err(loc, format!("read {path}")))?;
    let text = String::from_utf8_lossy(&blob.data);
    if is_link {
        let target = Ref::parse(text.trim()).map_err(|source| StoreError::CorruptLink {
            path: path.to_string(),
            location: loc.to_string(),
            source,
        })?;
        Ok(Entry::Link(target))
    } else {
        parse_document(&blob.data, path, loc).map(Entry::Document)
    }
}

/// Refuses a tree entry that is not a plain file where a document or link is expected: a
/// symlink's blob is its target path and a gitlink names a commit of another repository,
/// so neither may be read as a document.
fn check_file_kind(kind: EntryKind, path: &str, loc: &str) -> StoreResult<()> {
    match FileKind::of(kind) {
        FileKind::File => Ok(()),
        other => Err(StoreError::NotAFile {
            path: path.to_string(),
            location: loc.to_string(),
            what: other.describe(),
        }),
    }
}

/// Parses a document file's bytes; `path` and `loc` name the file in errors.
fn parse_document(bytes: &[u8], path: &str, loc: &str) -> StoreResult<Value> {
    let text = String::from_utf8_lossy(bytes);
    yaml::from_str(&text).map_err(|source| StoreError::Corrupt {
        path: path.to_string(),
        location: loc.to_string(),
        source,
    })
}

/// A consistent read view at one tip.
pub(crate) struct Snapshot<'a> {
    backend: &'a GitBackend,
    repo: gix::Repository,
    /// The store folder's tree, if the branch and folder exist.
    tree: Option<ObjectId>,
    tip: Option<ObjectId>,
}

impl Snapshot<'_> {
    fn loc(&self) -> String {
        self.backend.location()
    }

    /// Returns the path inside the branch of `rel` (relative to the store folder).
    pub(crate) fn full_path(&self, rel: &[String]) -> String {
        self.backend.full_path(rel).join("/")
    }

    fn check_marker(&self) -> StoreResult<()> {
        let Some(bytes) = self.read_file(&[MARKER_FILE.to_string()])? else {
            return Ok(());
        };
        #[derive(serde::Deserialize)]
        struct Marker {
            format: Option<Value>,
            kind: Option<String>,
        }
        let path = self.backend.full_path(&[MARKER_FILE.to_string()]).join("/");
        let text = String::from_utf8_lossy(&bytes);
        let marker: Marker = yaml::from_str(&text).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            location: self.loc(),
            source,
        })?;
        let format = marker.format.unwrap_or(Value::Null);
        if format.as_u64() != Some(FORMAT_VERSION) {
            return Err(StoreError::UnsupportedFormat {
                location: self.loc(),
                found: format.to_string(),
                expected: FORMAT_VERSION,
            });
        }
        if let Some(kind) = marker.kind
            && kind != self.backend.kind.as_str()
        {
            return Err(StoreError::WrongKind {
                location: self.loc(),
                found: kind,
                expected: self.backend.kind,
            });
        }
        Ok(())
    }

    /// Looks up a path relative to the store folder.
    fn lookup(&self, rel: &[String]) -> StoreResult<Option<(EntryKind, ObjectId)>> {
        let Some(tree) = self.tree else {
            return Ok(None);
        };
        let loc = self.loc();
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(git_err(&loc, "read tree"))?;
        let entry = tree
            .lookup_entry(rel.iter().map(String::as_str))
            .map_err(git_err(&loc, "read tree"))?;
        Ok(entry.map(|e| (e.mode().kind(), e.object_id())))
    }

    fn read_file(&self, rel: &[String]) -> StoreResult<Option<Vec<u8>>> {
        match self.lookup(rel)? {
            Some((kind, id)) if kind != EntryKind::Tree => {
                let loc = self.loc();
                check_file_kind(kind, &self.backend.full_path(rel).join("/"), &loc)?;
                let blob = self
                    .repo
                    .find_blob(id)
                    .map_err(git_err(&loc, "read blob"))?;
                Ok(Some(blob.data.clone()))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn raw_document(&self, area: Area, r: &Ref) -> StoreResult<Option<String>> {
        Ok(self
            .read_file(&layout::doc_path(area, r))?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    pub(crate) fn entry(&self, area: Area, r: &Ref) -> StoreResult<Option<Entry>> {
        let loc = self.loc();
        let doc = layout::doc_path(area, r);
        if let Some((kind, id)) = self.lookup(&doc)?
            && kind != EntryKind::Tree
        {
            let path = self.backend.full_path(&doc).join("/");
            check_file_kind(kind, &path, &loc)?;
            return decode_entry(&self.repo, id, false, &path, &loc).map(Some);
        }
        if area == Area::Records {
            let link = layout::link_path(area, r);
            if let Some((kind, id)) = self.lookup(&link)?
                && kind != EntryKind::Tree
            {
                let path = self.backend.full_path(&link).join("/");
                check_file_kind(kind, &path, &loc)?;
                return decode_entry(&self.repo, id, true, &path, &loc).map(Some);
            }
        }
        Ok(None)
    }

    fn link_at(&self, r: &Ref) -> StoreResult<Option<Ref>> {
        let link = layout::link_path(Area::Records, r);
        match self.lookup(&link)? {
            Some((kind, id)) if kind != EntryKind::Tree => {
                let path = self.backend.full_path(&link).join("/");
                check_file_kind(kind, &path, &self.loc())?;
                match decode_entry(&self.repo, id, true, &path, &self.loc())? {
                    Entry::Link(t) => Ok(Some(t)),
                    Entry::Document(_) => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn resolve_link(&self, r: &Ref) -> StoreResult<Ref> {
        resolve_with(r, |candidate| self.link_at(candidate))
    }

    pub(crate) fn get(&self, r: &Ref) -> StoreResult<Value> {
        let resolved = self.resolve_link(r)?;
        let bare = resolved.without_fragment();
        let not_found = || StoreError::NotFound { r: r.to_string() };
        let value = match self.entry(Area::Records, &bare)? {
            Some(Entry::Document(v)) => v,
            Some(Entry::Link(_)) | None => return Err(not_found()),
        };
        let mut current = &value;
        for seg in resolved.fragment_segments() {
            current = match current {
                Value::Object(map) => map.get(seg).ok_or_else(not_found)?,
                _ => return Err(not_found()),
            };
        }
        if current.is_null() && !resolved.fragment.is_empty() {
            return Err(not_found());
        }
        Ok(current.clone())
    }

    /// Lists the direct children (name, kind, id) of the tree at `rel`.
    fn children(&self, tree: ObjectId) -> StoreResult<Vec<(String, EntryKind, ObjectId)>> {
        let loc = self.loc();
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(git_err(&loc, "read tree"))?;
        let decoded = tree.decode().map_err(git_err(&loc, "decode tree"))?;
        Ok(decoded
            .entries
            .iter()
            .map(|e| (e.filename.to_string(), e.mode.kind(), e.oid.to_owned()))
            .collect())
    }

    pub(crate) fn match_refs(
        &self,
        area: Area,
        globs: &[Glob],
        options: MatchOptions,
    ) -> StoreResult<Vec<Ref>> {
        let mut out = Vec::new();
        let Some(root) = self.lookup(&[area.dir().to_string()])? else {
            return Ok(out);
        };
        if root.0 != EntryKind::Tree {
            return Ok(out);
        }
        for glob in globs {
            let matcher = SegmentMatcher::new(glob);
            // Walk only below the glob's literal prefix.
            let prefix = glob.literal_prefix_segments();
            let mut start = root.1;
            let mut path: Vec<String> = Vec::new();
            let mut found = true;
            for seg in &prefix {
                match self
                    .children(start)?
                    .into_iter()
                    .find(|(n, k, _)| n == seg && *k == EntryKind::Tree)
                {
                    Some((_, _, id)) => {
                        start = id;
                        path.push(seg.clone());
                    }
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            if !found {
                continue;
            }
            let states = matcher.advance_all(&path);
            self.walk(start, &mut path, &states, glob, &matcher, options, &mut out)?;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        tree: ObjectId,
        path: &mut Vec<String>,
        states: &super::matcher::States,
        glob: &Glob,
        matcher: &SegmentMatcher,
        options: MatchOptions,
        out: &mut Vec<Ref>,
    ) -> StoreResult<()> {
        if states.is_dead() {
            return Ok(());
        }
        let children = self.children(tree)?;
        let has_link = children
            .iter()
            .any(|(n, k, _)| n == LINK_FILE && *k != EntryKind::Tree);
        let has_doc = children
            .iter()
            .any(|(n, k, _)| n == DOC_FILE && *k != EntryKind::Tree);
        if has_link && options.no_links {
            return Ok(());
        }
        if (has_doc || has_link) && !path.is_empty() {
            let joined = path.join("/");
            if glob.matches(&joined) {
                let segs: Vec<&str> = path.iter().map(String::as_str).collect();
                if let Ok(r) = Ref::from_storage_segments(&segs) {
                    out.push(r);
                }
            }
        }
        for (name, kind, id) in children {
            if kind != EntryKind::Tree {
                continue;
            }
            let next = matcher.advance(states, &name);
            if next.is_dead() {
                continue;
            }
            path.push(name);
            self.walk(id, path, &next, glob, matcher, options, out)?;
            path.pop();
        }
        Ok(())
    }
}

/// Resolves links in `r` with `link_at` answering "is there a link exactly at this ref?".
///
/// Candidates are the ref without fragment and then each of its `/`-prefixes, deepest
/// first; the first link found replaces that prefix (spec §3.3).
pub(crate) fn resolve_with(
    r: &Ref,
    mut link_at: impl FnMut(&Ref) -> StoreResult<Option<Ref>>,
) -> StoreResult<Ref> {
    let bare = r.without_fragment();
    let segments = bare.storage_segments();
    for len in (1..=segments.len()).rev() {
        let candidate_segs: Vec<&str> = segments[..len].iter().map(String::as_str).collect();
        let Ok(candidate) = Ref::from_storage_segments(&candidate_segs) else {
            continue;
        };
        if let Some(target) = link_at(&candidate)? {
            let mut new_segs = target.storage_segments();
            new_segs.extend(segments[len..].iter().cloned());
            let segs: Vec<&str> = new_segs.iter().map(String::as_str).collect();
            let resolved = Ref::from_storage_segments(&segs)?;
            return Ok(if r.fragment.is_empty() {
                resolved
            } else {
                resolved.with_fragment(&r.fragment)
            });
        }
    }
    Ok(r.clone())
}

/// Pending file edits of one commit attempt, on top of a snapshot.
struct Overlay<'s, 'a> {
    snap: &'s Snapshot<'a>,
    /// Path relative to the store folder → new content (`None` = removed).
    edits: HashMap<Vec<String>, Option<Vec<u8>>>,
}

impl<'s, 'a> Overlay<'s, 'a> {
    fn new(snap: &'s Snapshot<'a>) -> Self {
        Overlay {
            snap,
            edits: HashMap::new(),
        }
    }

    fn exists(&self, path: &[String]) -> StoreResult<bool> {
        if let Some(e) = self.edits.get(path) {
            return Ok(e.is_some());
        }
        Ok(matches!(self.snap.lookup(path)?, Some((k, _)) if k != EntryKind::Tree))
    }

    fn read(&self, path: &[String]) -> StoreResult<Option<Vec<u8>>> {
        if let Some(e) = self.edits.get(path) {
            return Ok(e.clone());
        }
        self.snap.read_file(path)
    }

    fn link_at(&self, r: &Ref) -> StoreResult<Option<Ref>> {
        let path = layout::link_path(Area::Records, r);
        match self.read(&path)? {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                Ref::parse(text.trim())
                    .map(Some)
                    .map_err(|source| StoreError::CorruptLink {
                        path: self.snap.backend.full_path(&path).join("/"),
                        location: self.snap.loc(),
                        source,
                    })
            }
            None => Ok(None),
        }
    }

    fn resolve(&self, area: Area, r: &Ref) -> StoreResult<Ref> {
        // Only records hold links.
        if area != Area::Records {
            return Ok(r.clone());
        }
        resolve_with(r, |c| self.link_at(c))
    }

    fn render(r: &Ref, value: &Value) -> StoreResult<Vec<u8>> {
        let text = yaml::to_canonical(value).map_err(|source| StoreError::Render {
            r: r.to_string(),
            source,
        })?;
        // The last line of defence against gigabyte blobs: outside input is held to the
        // document limit where it enters, and a run's logs to the log limit, the largest.
        let limit = crate::limits::current().max_log_bytes;
        crate::limits::check_size("the document", text.len(), limit, "max_log_bytes").map_err(
            |e| StoreError::Render {
                r: r.to_string(),
                source: e.into(),
            },
        )?;
        Ok(text.into_bytes())
    }

    fn apply(&mut self, op: &Op) -> StoreResult<()> {
        match op {
            Op::Set { area, r, value } | Op::Create { area, r, value } => {
                let target = self.resolve(*area, r)?;
                let doc = layout::doc_path(*area, &target);
                if matches!(op, Op::Create { .. }) && self.exists(&doc)? {
                    return Err(StoreError::AlreadyExists {
                        r: target.to_string(),
                    });
                }
                let bytes = Self::render(&target, value)?;
                self.edits.insert(doc, Some(bytes));
                let link = layout::link_path(*area, &target);
                if self.exists(&link)? {
                    self.edits.insert(link, None);
                }
            }
            Op::SetRaw { area, r, text } => {
                let target = self.resolve(*area, r)?;
                self.edits.insert(
                    layout::doc_path(*area, &target),
                    Some(text.clone().into_bytes()),
                );
            }
            Op::Delete { area, r, if_exists } => {
                let target = self.resolve(*area, r)?;
                let doc = layout::doc_path(*area, &target);
                if self.exists(&doc)? {
                    self.edits.insert(doc, None);
                } else if !if_exists {
                    return Err(StoreError::NotFound { r: r.to_string() });
                }
            }
            Op::Link { r, target } => {
                let doc = layout::doc_path(Area::Records, r);
                if self.exists(&doc)? {
                    return Err(StoreError::NotALink { r: r.to_string() });
                }
                let link = layout::link_path(Area::Records, r);
                self.edits
                    .insert(link, Some(format!("{target}\n").into_bytes()));
            }
            Op::Unlink { r } => {
                let link = layout::link_path(Area::Records, r);
                if self.exists(&link)? {
                    self.edits.insert(link, None);
                }
            }
            Op::Expect { area, r, value } => {
                let current = self.read(&layout::doc_path(*area, r))?;
                let expected = value.as_ref().map(|v| Self::render(r, v)).transpose()?;
                if current != expected {
                    return Err(StoreError::Changed { r: r.to_string() });
                }
            }
        }
        Ok(())
    }
}

impl Snapshot<'_> {
    /// Returns the tree id of an area (`refs/`, `applied/`), if present.
    pub(crate) fn area_tree(&self, area: Area) -> StoreResult<Option<ObjectId>> {
        Ok(match self.lookup(&[area.dir().to_string()])? {
            Some((EntryKind::Tree, id)) => Some(id),
            _ => None,
        })
    }

    /// Returns the tree `id` (from the object cache when it was read before).
    pub(crate) fn find_tree(&self, id: ObjectId) -> StoreResult<gix::Tree<'_>> {
        self.repo
            .find_tree(id)
            .map_err(git_err(&self.loc(), "read tree"))
    }

    /// The error for a tree object that does not decode.
    pub(crate) fn corrupt_tree(&self, id: ObjectId) -> StoreError {
        StoreError::Git {
            location: self.loc(),
            action: "decode tree".to_string(),
            source: format!("tree {id} is not a well-formed tree object").into(),
        }
    }

    /// Returns the document in the blob `id`, the file of `r` in `area` (for messages).
    pub(crate) fn document_by_id(&self, area: Area, r: &Ref, id: ObjectId) -> StoreResult<Value> {
        let path = self.backend.full_path(&layout::doc_path(area, r)).join("/");
        let loc = self.loc();
        let blob = self
            .repo
            .find_blob(id)
            .map_err(git_err(&loc, format!("read {path}")))?;
        parse_document(&blob.data, &path, &loc)
    }
}

/// A file found under an area by [`Snapshot::files`].
#[derive(Clone, Debug)]
pub(crate) struct RawFile {
    /// Path relative to the area folder.
    pub rel: Vec<String>,
    /// Path inside the branch, for messages.
    pub path: String,
    /// What kind of entry it is.
    pub kind: FileKind,
    /// The content (empty for a gitlink).
    pub bytes: Vec<u8>,
}

impl Snapshot<'_> {
    /// Lists every file below an area, depth first.
    pub(crate) fn files(&self, area: Area) -> StoreResult<Vec<RawFile>> {
        let mut out = Vec::new();
        let Some(root) = self.area_tree(area)? else {
            return Ok(out);
        };
        let mut stack = vec![(root, Vec::<String>::new())];
        let loc = self.loc();
        while let Some((tree, rel)) = stack.pop() {
            for (name, kind, id) in self.children(tree)? {
                let mut p = rel.clone();
                p.push(name);
                if kind == EntryKind::Tree {
                    stack.push((id, p));
                } else {
                    let file_kind = FileKind::of(kind);
                    // A gitlink names a commit of another repository: there is no blob.
                    let bytes = if file_kind == FileKind::Submodule {
                        Vec::new()
                    } else {
                        self.repo
                            .find_blob(id)
                            .map_err(git_err(&loc, "read blob"))?
                            .data
                            .clone()
                    };
                    let mut full = vec![area.dir().to_string()];
                    full.extend(p.iter().cloned());
                    out.push(RawFile {
                        path: self.backend.full_path(&full).join("/"),
                        rel: p,
                        kind: file_kind,
                        bytes,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// Returns the commit this view reads.
    pub(crate) fn commit_id(&self) -> Option<ObjectId> {
        self.tip
    }
}
