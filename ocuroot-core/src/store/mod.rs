//! The document store: refs mapped to canonical YAML documents in a Git branch.
//!
//! A [`Store`] is one folder of one branch of a Git repository, read and written with `gix`
//! (no work tree; the `git` binary only for remotes and for [`maintain`], which keeps the
//! repository's objects packed and covered by a multi-pack index after commits and fetches). State and intent are two stores: by default the
//! `state` and `intent` branches of one repository, or two repositories. The layout inside
//! the folder is described in [`layout`] and in `docs/state-format.md`.
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

mod diff;
mod git;
pub mod layout;
mod maintenance;
mod matcher;
pub mod remote;
pub mod support_files;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::clock::Clock;
use crate::refs::{Glob, Ref, RefParseError};
use crate::yaml::YamlError;

pub(crate) use diff::diff_view_checked;
pub use diff::{
    DiffEntry, DiffKind, TreeProblem, diff_intent, diff_intent_at, diff_views, intent_tree_problems,
};
pub use layout::Area;
pub use maintenance::{Maintenance, maintain};
pub use remote::{RemoteOptions, RemoteSettings};

/// The result type of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

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
        opts.remote = Some(remote);
        opts
    }
}

/// Returns the branch a remote's `HEAD` names, for `store.git(url)` without a branch.
///
/// # Errors
///
/// [`StoreError::Remote`] when the remote cannot be asked.
pub fn remote_default_branch(url: &str) -> StoreResult<Option<String>> {
    remote::default_branch(url).map_err(|f| {
        let (remote::RemoteFailure::Remote(detail) | remote::RemoteFailure::Local(detail)) = f;
        StoreError::Remote {
            remote: remote::redact(url),
            action: "ask the default branch of".to_string(),
            detail,
        }
    })
}

/// What sits at a ref: a document or a link.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A document (the JSON value stored as YAML).
    Document(Value),
    /// A link to another ref.
    Link(Ref),
}

/// Options for [`Store::match_refs`].
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchOptions {
    /// Leave out links and everything below a linked prefix.
    pub no_links: bool,
}

/// One operation of a [`Transaction`].
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Writes a document, resolving links in the records area first.
    Set {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        r: Ref,
        /// The document.
        value: Value,
    },
    /// Writes a document's exact text (already valid YAML), without re-rendering it.
    ///
    /// Used for the applied-intent mirror, which must hold the very bytes of the intent
    /// document (however a person formatted it) so that "in sync" stays "identical blob".
    SetRaw {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        r: Ref,
        /// The YAML text.
        text: String,
    },
    /// Writes a document that must not exist yet (checked again on every retry).
    Create {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        r: Ref,
        /// The document.
        value: Value,
    },
    /// Deletes a document, resolving links first.
    Delete {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        r: Ref,
        /// When false, a missing document is an error.
        if_exists: bool,
    },
    /// Points `r` at `target` (records area only).
    Link {
        /// The link's ref.
        r: Ref,
        /// The ref it points at.
        target: Ref,
    },
    /// Removes the link at `r` if there is one.
    Unlink {
        /// The link's ref.
        r: Ref,
    },
    /// Writes nothing: the commit fails with [`StoreError::Changed`] unless the document at
    /// `r` is exactly `value` when the operations are applied (`None`: no document). Checked
    /// again on every retry after a lost race, this makes a transaction a compare-and-swap
    /// on documents it read, which is how a job claims a run (see `engine`).
    Expect {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment; links are not resolved).
        r: Ref,
        /// The document it must hold.
        value: Option<Value>,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let area = |a: &Area| match a {
            Area::Records => "",
            Area::Applied => " (applied)",
            Area::Repos => " (repos)",
        };
        match self {
            Op::Set { area: a, r, .. } | Op::SetRaw { area: a, r, .. } => {
                write!(f, "update {r}{}", area(a))
            }
            Op::Create { area: a, r, .. } => write!(f, "create {r}{}", area(a)),
            Op::Delete { area: a, r, .. } => write!(f, "delete {r}{}", area(a)),
            Op::Link { r, target } => write!(f, "link {r} to {target}"),
            Op::Unlink { r } => write!(f, "unlink {r}"),
            Op::Expect { area: a, r, .. } => write!(f, "check {r}{}", area(a)),
        }
    }
}

/// A group of operations committed together as one Git commit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transaction {
    message: String,
    ops: Vec<Op>,
}

impl Transaction {
    /// Starts a transaction whose commit message begins with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Transaction {
            message: message.into(),
            ops: Vec::new(),
        }
    }

    /// Returns the operations recorded so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Returns the message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns true if no operation was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Records an arbitrary operation.
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// Records a document write in the records area.
    pub fn set(&mut self, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Set {
            area: Area::Records,
            r: r.clone(),
            value,
        })
    }

    /// Records a document write in `area`.
    pub fn set_in(&mut self, area: Area, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Set {
            area,
            r: r.clone(),
            value,
        })
    }

    /// Records a create-only document write in the records area.
    pub fn create(&mut self, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Create {
            area: Area::Records,
            r: r.clone(),
            value,
        })
    }

    /// Records a delete in the records area (an error at commit if the document is missing).
    pub fn delete(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Delete {
            area: Area::Records,
            r: r.clone(),
            if_exists: false,
        })
    }

    /// Records a delete in the records area that tolerates a missing document.
    pub fn delete_if_exists(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Delete {
            area: Area::Records,
            r: r.clone(),
            if_exists: true,
        })
    }

    /// Records a link from `r` to `target`.
    pub fn link(&mut self, r: &Ref, target: &Ref) -> &mut Self {
        self.push(Op::Link {
            r: r.clone(),
            target: target.clone(),
        })
    }

    /// Records the removal of the link at `r`.
    pub fn unlink(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Unlink { r: r.clone() })
    }

    /// Records a precondition: the commit fails with [`StoreError::Changed`] unless the
    /// records document at `r` is `value` (`None`: absent) when the operations are applied.
    pub fn expect(&mut self, r: &Ref, value: Option<Value>) -> &mut Self {
        self.push(Op::Expect {
            area: Area::Records,
            r: r.clone(),
            value,
        })
    }

    /// Records a write to the applied-intent mirror.
    pub fn set_applied(&mut self, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Set {
            area: Area::Applied,
            r: r.clone(),
            value,
        })
    }

    /// Records a write of the exact intent text to the applied-intent mirror.
    pub fn set_applied_raw(&mut self, r: &Ref, text: String) -> &mut Self {
        self.push(Op::SetRaw {
            area: Area::Applied,
            r: r.clone(),
            text,
        })
    }

    /// Records a removal from the applied-intent mirror (tolerates a missing document).
    pub fn delete_applied(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Delete {
            area: Area::Applied,
            r: r.clone(),
            if_exists: true,
        })
    }

    /// Appends the operations of `other` after this transaction's, so both land in one
    /// commit. The commit message's first line names both (`a; b`), and `other`'s further
    /// lines follow this transaction's.
    pub fn append(&mut self, other: Transaction) -> &mut Self {
        let (head, body) = split_message(&self.message);
        let (other_head, other_body) = split_message(&other.message);
        let head = match (head.is_empty(), other_head.is_empty()) {
            (_, true) => head.to_string(),
            (true, false) => other_head.to_string(),
            (false, false) => format!("{head}; {other_head}"),
        };
        let body: Vec<&str> = [body, other_body]
            .into_iter()
            .filter(|b| !b.is_empty())
            .collect();
        self.message = if body.is_empty() {
            head
        } else {
            format!("{head}\n\n{}", body.join("\n\n"))
        };
        self.ops.extend(other.ops);
        self
    }

    /// Renders the commit message: the message, a blank line, one line per operation.
    pub fn commit_message(&self) -> String {
        const MAX_LINES: usize = 100;
        let mut msg = self.message.trim_end().to_string();
        if !self.ops.is_empty() {
            msg.push_str("\n\n");
            for op in self.ops.iter().take(MAX_LINES) {
                msg.push_str(&op.to_string());
                msg.push('\n');
            }
            if self.ops.len() > MAX_LINES {
                msg.push_str(&format!("... and {} more\n", self.ops.len() - MAX_LINES));
            }
        }
        msg
    }
}

/// Splits a message into its first line and the rest (trimmed).
fn split_message(message: &str) -> (&str, &str) {
    let message = message.trim();
    match message.split_once('\n') {
        Some((head, body)) => (head.trim(), body.trim()),
        None => (message, ""),
    }
}

/// What a successful [`Store::commit`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The new commit id (hex), or `None` when the operations changed nothing.
    pub commit: Option<String>,
    /// How many compare-and-swap races were lost before the commit landed.
    pub retries: u32,
    /// Where the time of a remote commit went (all zero for a local store).
    pub timings: CommitTimings,
}

/// Where the time of one remote [`Store::commit`] went, summed over its attempts.
///
/// For benchmarks and diagnostics (`docs/benchmarks.md`, "Remote stores").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitTimings {
    /// Waiting for the cache's commit lock (writers sharing `$OCUROOT_HOME` take turns).
    pub lock_wait: std::time::Duration,
    /// Fetching the branch (`git fetch`) or asking for its tip (`git ls-remote`).
    pub fetch: std::time::Duration,
    /// Reading the tip and building the commit (re-applying the operations).
    pub build: std::time::Duration,
    /// Pushing (`git push`), accepted or rejected.
    pub push: std::time::Duration,
    /// Sleeping between attempts (back-off after a rejected push).
    pub backoff: std::time::Duration,
}

/// One change to a ref in the store's history (see [`Store::history`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    /// The commit id (hex).
    pub commit: String,
    /// The commit time, seconds since the Unix epoch.
    pub time: i64,
    /// The commit author name.
    pub author_name: String,
    /// The commit author email.
    pub author_email: String,
    /// The first line of the commit message.
    pub summary: String,
    /// How the ref changed in this commit.
    pub change: HistoryChange,
    /// The document or link target after the change (`None` when deleted).
    pub value: Option<Entry>,
}

/// How a ref changed in one commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryChange {
    /// The ref appeared.
    Added,
    /// The ref's document or link target changed.
    Modified,
    /// The ref disappeared.
    Deleted,
}

impl fmt::Display for HistoryChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HistoryChange::Added => "added",
            HistoryChange::Modified => "modified",
            HistoryChange::Deleted => "deleted",
        })
    }
}

/// Errors of store operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No document at the ref (after link resolution and fragment lookup).
    #[error("ref not found: {r}")]
    NotFound {
        /// The ref as asked for.
        r: String,
    },
    /// A create-only write found an existing document.
    #[error("ref already exists: {r}")]
    AlreadyExists {
        /// The ref.
        r: String,
    },
    /// Writes cannot address a fragment.
    #[error("cannot write through a fragment: {r}")]
    FragmentWrite {
        /// The ref.
        r: String,
    },
    /// A link would replace a document.
    #[error("existing ref is not a link, cannot overwrite: {r}")]
    NotALink {
        /// The ref.
        r: String,
    },
    /// The ref cannot be a store key (relative ref, bad segment).
    #[error(transparent)]
    InvalidRef(#[from] RefParseError),
    /// A glob did not compile.
    #[error(transparent)]
    InvalidGlob(#[from] crate::refs::GlobError),
    /// A file in the store does not parse (for example after a hand-made commit).
    #[error("store file {path} in {location} is not valid")]
    Corrupt {
        /// The file's path inside the branch.
        path: String,
        /// The store location (repository and branch).
        location: String,
        /// Why it does not parse.
        #[source]
        source: YamlError,
    },
    /// A link file does not hold a valid ref.
    #[error("link file {path} in {location} does not hold a valid ref")]
    CorruptLink {
        /// The file's path inside the branch.
        path: String,
        /// The store location.
        location: String,
        /// Why the target does not parse.
        #[source]
        source: RefParseError,
    },
    /// A tree entry where a document or link file is expected is a symlink or a gitlink
    /// (for example after a hand-made commit).
    #[error("store file {path} in {location} is {what}, not a file")]
    NotAFile {
        /// The entry's path inside the branch.
        path: String,
        /// The store location.
        location: String,
        /// What it is (`a symlink`, `a submodule (gitlink)`).
        what: &'static str,
    },
    /// The store was written by an incompatible version.
    #[error(
        "unsupported store format {found} in {location} (this ocuroot reads format {expected})"
    )]
    UnsupportedFormat {
        /// The store location.
        location: String,
        /// The format found in the marker.
        found: String,
        /// The format this build supports.
        expected: u64,
    },
    /// The branch holds the other kind of store.
    #[error("{location} holds a {found} store, expected {expected}")]
    WrongKind {
        /// The store location.
        location: String,
        /// The kind in the marker.
        found: String,
        /// The kind asked for.
        expected: StoreKind,
    },
    /// An [`Op::Expect`] precondition failed: another writer changed the document since it
    /// was read. Nothing was committed; the caller decides again on fresh state.
    #[error("{r} changed since it was read (another job wrote it first)")]
    Changed {
        /// The ref whose document differs.
        r: String,
    },
    /// The branch kept moving: the commit lost every compare-and-swap race.
    #[error("could not commit to {location} after {attempts} attempts: the branch kept moving")]
    Conflict {
        /// The store location.
        location: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// A Git operation failed.
    #[error("git operation failed on {location}: {action}")]
    Git {
        /// The store location.
        location: String,
        /// What was being done.
        action: String,
        /// The gix error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store's Git remote could not be fetched from or pushed to.
    #[error("cannot {action} {remote}: {detail}")]
    Remote {
        /// The remote URL, credentials redacted.
        remote: String,
        /// What was being done (`fetch from`, `push to`).
        action: String,
        /// What `git` said, credentials redacted.
        detail: String,
    },
    /// A write to a remote-backed store while offline.
    #[error("cannot write to {location}: offline (OCUROOT_OFFLINE is set)")]
    Offline {
        /// The store location.
        location: String,
    },
    /// A document could not be rendered.
    #[error("cannot render the document for {r}")]
    Render {
        /// The ref.
        r: String,
        /// The YAML error.
        #[source]
        source: YamlError,
    },
}

impl StoreError {
    /// Returns true for "ref not found".
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
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
        match self.get(r) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
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

    /// Runs a read on a fresh snapshot. For a remote store, a Git error (a damaged local
    /// cache: missing or corrupt objects) rebuilds the cache from the remote once and
    /// retries, so a broken cache never needs manual cleanup.
    fn read<T>(&self, f: impl Fn(&git::Snapshot<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let first = self.git.snapshot().and_then(|snap| f(&snap));
        match first {
            Err(StoreError::Git { .. }) if self.git.is_remote() => {
                self.git.repair()?;
                let snap = self.git.snapshot()?;
                f(&snap)
            }
            other => other,
        }
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
            // A damaged remote cache: rebuild it from the remote and apply the ops again.
            Err(StoreError::Git { .. }) if self.git.is_remote() => {
                self.git.repair()?;
                self.git.commit(tx)
            }
            other => other,
        }?;
        self.record_changes(tx);
        Ok(outcome)
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

/// What a non-folder entry of a store tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular (or executable) file: the only kind ocuroot writes.
    File,
    /// A symbolic link.
    Symlink,
    /// A gitlink: a submodule entry naming a commit of another repository.
    Submodule,
}

impl FileKind {
    pub(crate) fn of(kind: gix::objs::tree::EntryKind) -> FileKind {
        use gix::objs::tree::EntryKind;
        match kind {
            EntryKind::Link => FileKind::Symlink,
            EntryKind::Commit => FileKind::Submodule,
            EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Tree => FileKind::File,
        }
    }

    /// Returns how messages name the kind (`a file`, `a symlink`, `a submodule (gitlink)`).
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::File => "a file",
            FileKind::Symlink => "a symlink",
            FileKind::Submodule => "a submodule (gitlink)",
        }
    }
}

/// A file of a store as it is in Git, for validation (see [`View::files`]).
#[derive(Clone, Debug)]
pub struct StoreFile {
    /// The path inside the branch (for messages).
    pub path: String,
    /// The ref the file belongs to, if its folder names a valid ref.
    pub r: Option<Ref>,
    /// The file name inside the ref folder (`#.yaml`, `#.link`, or something unexpected).
    pub name: String,
    /// Whether it is a file, a symlink or a gitlink.
    pub kind: FileKind,
    /// Why the folder names no ref, when [`StoreFile::r`] is `None`.
    pub folder_error: Option<String>,
    /// The raw content.
    pub text: String,
}

/// A consistent read-only view of a store at one commit.
pub struct View<'a> {
    snap: git::Snapshot<'a>,
}

impl<'a> View<'a> {
    pub(crate) fn snapshot(&self) -> &git::Snapshot<'a> {
        &self.snap
    }

    /// Returns the document stored in blob `id`, the document file of `r` in `area`.
    pub(crate) fn document_by_id(
        &self,
        area: Area,
        r: &Ref,
        id: gix::ObjectId,
    ) -> StoreResult<Value> {
        self.snap.document_by_id(area, r, id)
    }
}

impl View<'_> {
    /// Returns the commit id (hex) this view reads, if the branch exists.
    pub fn commit(&self) -> Option<String> {
        self.snap.commit_id().map(|id| id.to_string())
    }

    /// Returns the document at `r` (links resolved, fragment applied).
    ///
    /// # Errors
    ///
    /// As [`Store::get`].
    pub fn get(&self, r: &Ref) -> StoreResult<Value> {
        r.ensure_storable()?;
        self.snap.get(r)
    }

    /// Returns the document at `r`, or `None` when not found.
    ///
    /// # Errors
    ///
    /// As [`Store::try_get`].
    pub fn try_get(&self, r: &Ref) -> StoreResult<Option<Value>> {
        match self.get(r) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Returns the refs matching any of `globs`, sorted and unique.
    ///
    /// # Errors
    ///
    /// As [`Store::match_refs`].
    pub fn match_refs(
        &self,
        area: Area,
        globs: &[Glob],
        options: MatchOptions,
    ) -> StoreResult<Vec<Ref>> {
        self.snap.match_refs(area, globs, options)
    }

    /// Returns what is stored exactly at `r` in `area`.
    ///
    /// # Errors
    ///
    /// As [`Store::entry`].
    pub fn entry(&self, area: Area, r: &Ref) -> StoreResult<Option<Entry>> {
        r.ensure_storable()?;
        self.snap.entry(area, r)
    }

    /// Follows links from `r` (records area) to the ref they end at.
    ///
    /// # Errors
    ///
    /// As [`Store::resolve_link`].
    pub fn resolve_link(&self, r: &Ref) -> StoreResult<Ref> {
        r.ensure_storable()?;
        self.snap.resolve_link(r)
    }

    /// Returns the exact text of the document file of `r` in `area`, if any.
    ///
    /// # Errors
    ///
    /// Git errors.
    pub fn raw_document(&self, area: Area, r: &Ref) -> StoreResult<Option<String>> {
        self.snap.raw_document(area, r)
    }

    /// Lists every file below `area` with the ref its folder names.
    ///
    /// # Errors
    ///
    /// Git errors.
    pub fn files(&self, area: Area) -> StoreResult<Vec<StoreFile>> {
        Ok(self
            .snap
            .files(area)?
            .into_iter()
            .map(|f| {
                let name = f.rel.last().cloned().unwrap_or_default();
                let dir: Vec<&str> = f.rel[..f.rel.len().saturating_sub(1)]
                    .iter()
                    .map(String::as_str)
                    .collect();
                let parsed = Ref::from_storage_segments(&dir);
                StoreFile {
                    path: f.path,
                    folder_error: parsed.as_ref().err().map(ToString::to_string),
                    r: parsed.ok(),
                    name,
                    kind: f.kind,
                    text: String::from_utf8_lossy(&f.bytes).into_owned(),
                }
            })
            .collect())
    }
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

    #[test]
    fn appended_transactions_name_both_in_the_summary_and_keep_every_op() {
        let a: Ref = "@/custom/a".parse().expect("ref");
        let b: Ref = "@/custom/b".parse().expect("ref");
        let mut first = Transaction::new("execution finished\n\nrun 1 complete");
        first.set(&a, Value::Null);
        let mut second = Transaction::new("execution started\n\nrelease r1");
        second.delete(&b);
        first.append(second);
        assert_eq!(
            first.message(),
            "execution finished; execution started\n\nrun 1 complete\n\nrelease r1"
        );
        assert_eq!(first.ops().len(), 2);
        assert!(matches!(&first.ops()[1], Op::Delete { r, .. } if *r == b));
        let mut bare = Transaction::new("");
        bare.append(Transaction::new("only"));
        assert_eq!(bare.message(), "only");
    }
}
