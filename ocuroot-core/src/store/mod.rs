//! The document store: refs mapped to canonical YAML documents in a Git branch.
//!
//! A [`Store`] is one folder of one branch of a Git repository, read and written with `gix`
//! (no work tree; the `git` binary, through [`crate::git_subprocess`], only for remotes and
//! for [`maintain`], which keeps the repository's objects packed and covered by a
//! multi-pack index after commits and fetches). State and intent are two stores: by default
//! the `state` and `intent` branches of one repository, or two repositories. The layout
//! inside the folder is described in [`layout`] and in `docs/state-format.md`.
//!
//! Reads ([`Store::get`], [`Store::entry`], [`Store::match_refs`]) look at the branch tip at
//! the moment of the call. Writes are [`Transaction`]s: a list of operations that
//! [`Store::commit`] applies to the tip's tree and records as one commit, moving the branch
//! by compare-and-swap. When another writer moved the branch first, the operations are
//! re-applied on the new tip (create-only operations re-check) and the commit retried with
//! jittered back-off, so concurrent writers never lose each other's writes.
//!
//! Links (`@` → `@r1`, tags, `@/deploy/<env>`) are resolved as spec §3.3 says: the deepest
//! linked prefix of a ref wins, and resolution is single-level.
//!
//! ```text
//! mod.rs          Store, StoreOptions, StoreKind, Author: opening and the public API
//! transaction.rs  Transaction and Op (what a commit does), CommitOutcome
//! view.rs         View (a read at one commit), Entry, StoreFile, HistoryEntry
//! error.rs        StoreError, StoreResult
//! layout.rs       refs ↔ paths inside the store folder
//! git/            the gix backend: reads, overlay, commit, ref locking, cache, history
//! remote.rs       fetch and push with `git`, the remote cache's path and commit lock
//! diff.rs         tree diffs of intent against the applied mirror
//! matcher.rs      glob matching segment by segment while walking trees
//! maintenance.rs  packing and the multi-pack index
//! ```

mod diff;
mod error;
mod git;
pub mod layout;
mod maintenance;
mod matcher;
mod reader;
pub mod recorded;
pub mod remote;
mod spec;
pub mod support_files;
mod transaction;
mod view;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::clock::Clock;
use crate::git_subprocess::GitEnvironment;
use crate::refs::{Glob, Ref};

pub(crate) use diff::diff_view_checked;
pub use diff::{
    DiffEntry, DiffKind, TreeProblem, diff_intent, diff_intent_at, diff_views, intent_tree_problems,
};
pub use error::{StoreError, StoreResult};
pub(crate) use git::init_bare;
pub use layout::Area;
pub use maintenance::{Maintenance, maintain};
pub use reader::{Reader, try_get_as};
pub use remote::{RemoteOptions, RemoteSettings};
pub use spec::{StoreSelection, StoreSpec};
pub use transaction::{CommitOutcome, CommitTimings, Op, Transaction};
pub use view::{Entry, FileKind, HistoryChange, HistoryEntry, MatchOptions, StoreFile, View};

/// A lookup's result with "not found" as `None` (the `try_get` of [`Store`] and [`View`]).
pub(crate) fn found<T>(result: StoreResult<T>) -> StoreResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a store holds state (what happened) or intent (what people want).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// The state store: releases, runs, logs, links and the applied-intent mirror.
    State,
    /// The intent store: environments, custom state and deploy intent.
    Intent,
}

impl StoreKind {
    /// The name used in the format marker and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::State => "state",
            StoreKind::Intent => "intent",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The author recorded on store commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    /// The author name (`Ocuroot` by default).
    pub name: String,
    /// The author email (`contact@ocuroot.com` by default).
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "Ocuroot".to_string(),
            email: "contact@ocuroot.com".to_string(),
        }
    }
}

/// Where a store lives and how it writes.
#[derive(Clone)]
pub struct StoreOptions {
    /// The Git repository (bare or not). Created as a bare repository if missing.
    pub repo_path: PathBuf,
    /// The branch holding the store (`state`, `intent`, or a shared branch).
    pub branch: String,
    /// The folder inside the branch (empty for the branch root, `state` or `intent` when
    /// both stores share one branch).
    pub prefix: String,
    /// State or intent.
    pub kind: StoreKind,
    /// The commit author.
    pub author: Author,
    /// The clock used for commit times.
    pub clock: Arc<dyn Clock>,
    /// How many times a commit is retried after losing a compare-and-swap race.
    pub max_attempts: u32,
    /// For a remote-backed store: the remote, whose cache `repo_path` is.
    pub remote: Option<RemoteOptions>,
    /// The variables the store's `git` processes (maintenance, fetch, push) get;
    /// [`StoreOptions::for_remote`] takes them from the remote's settings.
    pub git: GitEnvironment,
}

impl StoreOptions {
    /// Returns options for a store in `repo_path` on `branch` at the branch root.
    pub fn new(
        repo_path: impl Into<PathBuf>,
        branch: &str,
        kind: StoreKind,
        clock: Arc<dyn Clock>,
    ) -> Self {
        StoreOptions {
            repo_path: repo_path.into(),
            branch: branch.to_string(),
            prefix: String::new(),
            kind,
            author: Author::default(),
            clock,
            max_attempts: 64,
            remote: None,
            git: GitEnvironment::default(),
        }
    }

    /// Returns options for a store in `branch` of a Git remote, cached in a bare repository
    /// under `home/stores/` (see [`remote::cache_path`]).
    pub fn for_remote(
        home: &Path,
        remote: RemoteOptions,
        branch: &str,
        kind: StoreKind,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut opts = Self::new(remote::cache_path(home, &remote.url), branch, kind, clock);
        opts.git = remote.settings.git.clone();
        opts.remote = Some(remote);
        opts
    }
}

/// Returns the branch a remote's `HEAD` names, for `store.git(url)` without a branch.
///
/// # Errors
///
/// [`StoreError::Remote`] when the remote cannot be asked.
pub fn remote_default_branch(url: &str, git: &GitEnvironment) -> StoreResult<Option<String>> {
    remote::default_branch(git, url).map_err(|f| {
        let (remote::RemoteFailure::Remote(detail) | remote::RemoteFailure::Local(detail)) = f;
        StoreError::Remote {
            remote: remote::redact(url),
            action: "ask the default branch of".to_string(),
            detail,
        }
    })
}

/// A state or intent store in a Git branch.
pub struct Store {
    git: git::GitBackend,
    kind: StoreKind,
    /// Every records-area ref this process's transactions wrote (see [`Store::changes`]).
    changes: std::sync::Mutex<std::collections::BTreeSet<Ref>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location())
            .field("kind", &self.kind)
            .finish()
    }
}

impl Store {
    /// Opens the store described by `options`, creating a bare repository if none exists.
    ///
    /// The branch is created by the first commit. Opening does not read the branch.
    ///
    /// # Errors
    ///
    /// Fails if the repository cannot be opened or created.
    pub fn open(options: StoreOptions) -> StoreResult<Store> {
        let kind = options.kind;
        Ok(Store {
            git: git::GitBackend::open(options)?,
            kind,
            changes: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        })
    }

    /// Returns a description of where the store lives (`<repo> (branch state)`).
    pub fn location(&self) -> String {
        self.git.location()
    }

    /// Returns the repository path.
    pub fn repo_path(&self) -> &Path {
        self.git.repo_path()
    }

    /// Returns the branch name.
    pub fn branch(&self) -> &str {
        self.git.branch()
    }

    /// Returns whether this is a state or intent store.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Returns the current tip commit of the branch (hex), or `None` if it does not exist yet.
    ///
    /// # Errors
    ///
    /// Fails on Git errors.
    pub fn tip(&self) -> StoreResult<Option<String>> {
        self.git.tip_hex()
    }

    /// Returns the credentials in this store's remote URL ([`url_credentials`]), which
    /// callers register as secrets so that no log, output or message shows them.
    pub fn credentials(&self) -> Vec<String> {
        self.git
            .remote_url()
            .map(url_credentials)
            .unwrap_or_default()
    }

    /// Returns what is stored exactly at `r` (no link resolution, fragment ignored).
    ///
    /// # Errors
    ///
    /// Fails on Git errors, corrupt files or an unsupported store format.
    pub fn entry(&self, area: Area, r: &Ref) -> StoreResult<Option<Entry>> {
        r.ensure_storable()?;
        self.read(|snap| snap.entry(area, r))
    }

    /// Resolves links in `r` (deepest linked prefix, single level, spec §3.3).
    ///
    /// # Errors
    ///
    /// Fails on Git errors or corrupt link files.
    pub fn resolve_link(&self, r: &Ref) -> StoreResult<Ref> {
        r.ensure_storable()?;
        self.read(|snap| snap.resolve_link(r))
    }

    /// Returns the document at `r` after link resolution, with the fragment applied.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when there is no document or the fragment path does not exist;
    /// other errors for Git failures or corrupt files.
    pub fn get(&self, r: &Ref) -> StoreResult<Value> {
        r.ensure_storable()?;
        self.read(|snap| snap.get(r))
    }

    /// Returns the document at `r`, or `None` when not found.
    ///
    /// # Errors
    ///
    /// As [`Store::get`], except that "not found" is `Ok(None)`.
    pub fn try_get(&self, r: &Ref) -> StoreResult<Option<Value>> {
        found(self.get(r))
    }

    /// Calls `f` on the document at `r` (links resolved, fragment applied) where the
    /// store's cache of decoded documents keeps it, instead of copying it out as
    /// [`Store::try_get`] does; returns `None` when not found. For callers that decode a
    /// type from the document or read one field of it (see [`reader::try_get_as`]).
    ///
    /// # Errors
    ///
    /// As [`Store::try_get`].
    pub fn try_with<T>(&self, r: &Ref, f: impl FnOnce(&Value) -> T) -> StoreResult<Option<T>> {
        r.ensure_storable()?;
        // `read` may run its closure twice (after a Git error); `f` runs at most once, on
        // the attempt that found the document.
        let f = std::cell::RefCell::new(Some(f));
        found(self.read(|snap| {
            snap.with_document(r, |v| {
                let f = f
                    .borrow_mut()
                    .take()
                    .expect("called once: the read succeeded");
                f(v)
            })
        }))
    }

    /// Returns the refs (documents and links) matching any of `globs`, sorted and unique.
    ///
    /// # Errors
    ///
    /// Fails on Git errors or an unsupported store format.
    pub fn match_refs(
        &self,
        area: Area,
        globs: &[Glob],
        options: MatchOptions,
    ) -> StoreResult<Vec<Ref>> {
        self.read(|snap| snap.match_refs(area, globs, options))
    }

    /// Runs a read on a fresh snapshot. A Git error reopens the repository once and retries
    /// (a concurrent writer's or fetch's new pack that the shared object database had not
    /// seen yet; see `GitBackend::reopen`). For a remote store, a second Git error (a
    /// damaged local cache: missing or corrupt objects) rebuilds the cache from the remote
    /// and retries, so a broken cache never needs manual cleanup; only then, because a
    /// rebuild moves the cache away under every other user of it. A local store that is
    /// really damaged fails the same way again.
    fn read<T>(&self, f: impl Fn(&git::Snapshot<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let attempt = || self.git.read_snapshot().and_then(|snap| f(&snap));
        match attempt() {
            Err(StoreError::Git { .. }) => self.recover(attempt),
            other => other,
        }
    }

    /// After a Git error: reopens the repository and runs `again`; for a remote store whose
    /// cache cannot be reopened or fails `again` with a Git error too, rebuilds the cache
    /// from the remote and runs `again` once more.
    fn recover<T>(&self, again: impl Fn() -> StoreResult<T>) -> StoreResult<T> {
        let reopened = self.git.reopen();
        if !self.git.is_remote() {
            reopened?;
            return again();
        }
        if reopened.is_ok() {
            match again() {
                Err(StoreError::Git { .. }) => {}
                other => return other,
            }
        }
        self.git.repair()?;
        again()
    }

    /// Applies `tx` as one commit, retrying on lost compare-and-swap races.
    ///
    /// # Errors
    ///
    /// Operation errors ([`StoreError::NotFound`] for deleting a missing document,
    /// [`StoreError::AlreadyExists`] for a create-only write, [`StoreError::NotALink`]),
    /// [`StoreError::Conflict`] when the retries run out, Git errors. On error nothing is
    /// written to the branch.
    pub fn commit(&self, tx: &Transaction) -> StoreResult<CommitOutcome> {
        check_ops(tx)?;
        let outcome = match self.git.commit(tx) {
            // A new pack of a concurrent writer not seen yet, or a damaged remote cache
            // (see `Store::read`): apply the ops again after recovering.
            Err(StoreError::Git { .. }) => self.recover(|| self.git.commit(tx)),
            other => other,
        }?;
        self.record_changes(tx);
        self.repin(&outcome);
        Ok(outcome)
    }

    /// Runs `f` with every read of this store on this thread ([`Store::get`],
    /// [`Store::match_refs`], …) at one commit: the tip when `f` began (fetched first, for a
    /// remote store). A decision made from many reads (the engine's work identification)
    /// then sees one consistent state, and reads cost no look at the branch each. Commits
    /// made on this thread meanwhile move the pin to the commit they landed, so the thread
    /// reads its own writes; commits always build on the branch's real tip, whatever the
    /// pin. Nested calls keep the outer pin. Other threads are not affected.
    ///
    /// # Errors
    ///
    /// Fails when the tip cannot be read (or fetched).
    pub fn pinned<T>(&self, f: impl FnOnce() -> T) -> StoreResult<T> {
        struct Unpin<'a>(&'a git::GitBackend);
        impl Drop for Unpin<'_> {
            fn drop(&mut self) {
                self.0.unpin();
            }
        }
        if !self.git.pin()? {
            return Ok(f());
        }
        let _unpin = Unpin(&self.git);
        Ok(f())
    }

    /// Moves this thread's pin (see [`Store::pinned`]) to the commit `outcome` landed.
    fn repin(&self, outcome: &CommitOutcome) {
        if let Some(id) = outcome
            .commit
            .as_deref()
            .and_then(|c| gix::ObjectId::from_hex(c.as_bytes()).ok())
        {
            self.git.repin(id);
        }
    }

    /// Adds the records-area refs `tx` wrote to [`Store::changes`].
    fn record_changes(&self, tx: &Transaction) {
        let mut changes = self
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for op in tx.ops() {
            match op {
                Op::Set {
                    area: Area::Records,
                    r,
                    ..
                }
                | Op::SetRaw {
                    area: Area::Records,
                    r,
                    ..
                }
                | Op::Create {
                    area: Area::Records,
                    r,
                    ..
                }
                | Op::Delete {
                    area: Area::Records,
                    r,
                    ..
                }
                | Op::Link { r, .. }
                | Op::Unlink { r } => {
                    changes.insert(r.clone());
                }
                _ => {}
            }
        }
    }

    /// Returns every ref (records area, as written: links not resolved) that transactions
    /// committed through this handle set, created, deleted, linked or unlinked.
    ///
    /// A cascade (spec §6.8) follows exactly these changes: work that the current process
    /// caused, not work that other jobs or earlier commands left behind.
    pub fn changes(&self) -> std::collections::BTreeSet<Ref> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Commits `tx` to this store and `other_tx` to `other` with as few pushes as possible.
    ///
    /// When both stores live in one remote (two branches of it, or two folders of one
    /// branch), one `git push` carries both commits: two branches are updated atomically, so
    /// neither lands without the other; one branch gets this store's commit and `other`'s on
    /// top of it. Otherwise (local stores, two remotes, a remote without atomic pushes) this
    /// store is committed first, then `other`, each as [`Store::commit`] does. An empty
    /// transaction is skipped.
    ///
    /// # Errors
    ///
    /// As [`Store::commit`]. When the stores share a push, an error means neither commit
    /// landed; otherwise an error from `other` leaves this store's commit in place.
    pub fn commit_with(
        &self,
        tx: &Transaction,
        other: &Store,
        other_tx: &Transaction,
    ) -> StoreResult<[CommitOutcome; 2]> {
        let none = || CommitOutcome {
            commit: None,
            retries: 0,
            timings: CommitTimings::default(),
        };
        if other_tx.is_empty() {
            return Ok([self.commit(tx)?, none()]);
        }
        if tx.is_empty() {
            return Ok([none(), other.commit(other_tx)?]);
        }
        check_ops(tx)?;
        check_ops(other_tx)?;
        match self.git.commit_joint(tx, &other.git, other_tx) {
            Ok(Some(outcomes)) => {
                self.record_changes(tx);
                other.record_changes(other_tx);
                self.repin(&outcomes[0]);
                other.repin(&outcomes[1]);
                return Ok(outcomes);
            }
            // Not one remote, or no atomic pushes: nothing was pushed yet.
            Ok(None) => {}
            // A damaged cache: nothing was pushed; the one-by-one commits below repair it.
            Err(StoreError::Git { .. }) if self.git.is_remote() => {}
            Err(e) => return Err(e),
        }
        let first = self.commit(tx)?;
        Ok([first, other.commit(other_tx)?])
    }

    /// Returns a read-only view of the store as it would be after committing `tx` on the
    /// current tip, without committing anything (the branch does not move and nothing is
    /// pushed). [`View::commit`] of a preview is the tip it was built on.
    ///
    /// # Errors
    ///
    /// As [`Store::commit`] for the operations (for example [`StoreError::AlreadyExists`]
    /// for a create-only write of an existing document), Git errors.
    pub fn preview(&self, tx: &Transaction) -> StoreResult<View<'_>> {
        check_ops(tx)?;
        Ok(View {
            snap: self.git.preview(tx)?,
        })
    }

    /// Returns the changes to the document or link at exactly `r`, newest first.
    ///
    /// # Errors
    ///
    /// Fails on Git errors.
    pub fn history(&self, area: Area, r: &Ref, limit: usize) -> StoreResult<Vec<HistoryEntry>> {
        r.ensure_storable()?;
        self.git.history(area, r, limit)
    }

    /// Returns a read-only view of the store as of revision `rev` (branch, tag or commit).
    ///
    /// # Errors
    ///
    /// Fails when `rev` does not resolve to a commit, or the store format there is unsupported.
    pub fn view_at(&self, rev: &str) -> StoreResult<View<'_>> {
        Ok(View {
            snap: self.git.snapshot_at(rev)?,
        })
    }

    /// Returns the exact text of the document file at `r` (no link resolution, not parsed).
    ///
    /// # Errors
    ///
    /// Git errors.
    pub fn raw_document(&self, area: Area, r: &Ref) -> StoreResult<Option<String>> {
        r.ensure_storable()?;
        self.read(|snap| snap.raw_document(area, r))
    }

    /// Returns the path of `r`'s document file inside the branch (for messages).
    pub fn doc_path(&self, area: Area, r: &Ref) -> String {
        self.git.full_path(&layout::doc_path(area, r)).join("/")
    }

    /// Returns a read-only view of the store at its current tip.
    ///
    /// # Errors
    ///
    /// Git errors or an unsupported store format.
    pub fn view(&self) -> StoreResult<View<'_>> {
        Ok(View {
            snap: self.git.snapshot()?,
        })
    }

    pub(crate) fn backend(&self) -> &git::GitBackend {
        &self.git
    }
}

/// Returns the credentials a remote URL carries: the user-info part (`token@`,
/// `user:password@`: the token, the password and the whole part) and the query string
/// (the whole string and each parameter's value), longest first. A URL without any gives
/// nothing; values under 4 bytes are left out, as they would mask ordinary text.
pub fn url_credentials(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if url.contains("://")
        && let Some((userinfo, _host)) = authority.rsplit_once('@')
    {
        match userinfo.split_once(':') {
            Some((_user, password)) => {
                out.push(password.to_owned());
                out.push(userinfo.to_owned());
            }
            None => out.push(userinfo.to_owned()),
        }
    }
    if let Some((_, query)) = rest.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        out.push(query.to_owned());
        for pair in query.split('&') {
            if let Some((_, value)) = pair.split_once('=') {
                out.push(value.to_owned());
            }
        }
    }
    out.retain(|c| c.len() >= 4);
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Checks that every operation of `tx` addresses a storable ref without a fragment.
fn check_ops(tx: &Transaction) -> StoreResult<()> {
    for op in tx.ops() {
        let r = match op {
            Op::Set { r, .. }
            | Op::SetRaw { r, .. }
            | Op::Create { r, .. }
            | Op::Delete { r, .. }
            | Op::Expect { r, .. }
            | Op::Unlink { r } => r,
            Op::Link { r, target } => {
                target.ensure_storable()?;
                r
            }
        };
        r.ensure_storable()?;
        if !r.fragment.is_empty() {
            return Err(StoreError::FragmentWrite { r: r.to_string() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_found() {
        assert_eq!(
            url_credentials("https://user:hunter22@host/r.git?token=abcd1234&x=1"),
            [
                "token=abcd1234&x=1",
                "user:hunter22",
                "abcd1234",
                "hunter22"
            ]
        );
        assert_eq!(url_credentials("https://tok3n@host/r.git"), ["tok3n"]);
        assert!(url_credentials("git@github.com:org/r.git").is_empty());
        assert!(url_credentials("/plain/path").is_empty());
    }
}
