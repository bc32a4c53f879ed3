//! [`StoreError`](super::StoreError), the one error type of store operations, and [`StoreResult`].
//!
//! Backend failures (gix, the `git` binary, a remote) convert into it, so callers only
//! ever see this type. Each variant names what the user can act on: the ref, the file
//! inside the branch, the store location (repository and branch, credentials redacted) or
//! the remote. [`StoreError::Conflict`](super::StoreError::Conflict) and [`StoreError::Changed`](super::StoreError::Changed) mean another writer got
//! in first; the CLI decides how to present them.

use crate::refs::RefParseError;
use crate::yaml::YamlError;

use super::StoreKind;

/// The result type of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

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
    /// An [`Op::Expect`](super::Op::Expect) precondition failed: another writer changed the document since it
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
