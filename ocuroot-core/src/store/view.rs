//! Read-only views of a store: [`View`] at one commit, what sits at a ref ([`Entry`]),
//! the file listing used by validation ([`StoreFile`], [`FileKind`]) and the history of a
//! ref ([`HistoryEntry`]).
//!
//! A view is consistent: every read goes to the same commit, whatever other writers do
//! meanwhile. [`Store::view`](super::Store::view) takes one at the tip,
//! [`Store::view_at`](super::Store::view_at) at a revision, and
//! [`Store::preview`](super::Store::preview) of the tip as a transaction would leave it.
//! The reading itself is the backend's `Snapshot` (`git/read.rs`).

use std::fmt;

use serde_json::Value;

use super::StoreResult;
use super::git;
use super::layout::Area;
use crate::refs::{Glob, Ref};

/// What sits at a ref: a document or a link.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A document (the JSON value stored as YAML).
    Document(Value),
    /// A link to another ref.
    Link(Ref),
}

/// One change to a ref in the store's history (see [`Store::history`](super::Store::history)).
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
    /// The person who asked for the change: the commit message's `Requested-by:` trailer.
    pub requested_by: Option<String>,
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

/// Options for [`Store::match_refs`](super::Store::match_refs).
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchOptions {
    /// Leave out links and everything below a linked prefix.
    pub no_links: bool,
}

/// A consistent read-only view of a store at one commit.
pub struct View<'a> {
    pub(super) snap: git::Snapshot<'a>,
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
    /// As [`Store::get`](super::Store::get).
    pub fn get(&self, r: &Ref) -> StoreResult<Value> {
        r.ensure_storable()?;
        self.snap.get(r)
    }

    /// Returns the document at `r`, or `None` when not found.
    ///
    /// # Errors
    ///
    /// As [`Store::try_get`](super::Store::try_get).
    pub fn try_get(&self, r: &Ref) -> StoreResult<Option<Value>> {
        super::found(self.get(r))
    }

    /// As [`Store::try_with`](super::Store::try_with), on this view.
    ///
    /// # Errors
    ///
    /// As [`Store::try_get`](super::Store::try_get).
    pub fn try_with<T>(&self, r: &Ref, f: impl FnOnce(&Value) -> T) -> StoreResult<Option<T>> {
        r.ensure_storable()?;
        super::found(self.snap.with_document(r, f))
    }

    /// Returns the refs matching any of `globs`, sorted and unique.
    ///
    /// # Errors
    ///
    /// As [`Store::match_refs`](super::Store::match_refs).
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
    /// As [`Store::entry`](super::Store::entry).
    pub fn entry(&self, area: Area, r: &Ref) -> StoreResult<Option<Entry>> {
        r.ensure_storable()?;
        self.snap.entry(area, r)
    }

    /// Follows links from `r` (records area) to the ref they end at.
    ///
    /// # Errors
    ///
    /// As [`Store::resolve_link`](super::Store::resolve_link).
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
