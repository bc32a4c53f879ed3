//! Importing stores written by the original Ocuroot (spec §3.2, §3.6) into our format.
//!
//! The original keeps one pretty-printed JSON *envelope* per ref at
//! `refs/<canonical ref>/@object.json` (`{"kind": "ref"|"link", "links": [...], "body": ...}`)
//! with a store info file `.ocuroot-store` (`{"version": 3, "Tags": {"state": {}}}`), in a
//! folder or in a folder of a Git branch; one backend holding both stores keeps them in
//! `state/` and `intent/`. This module owns reading such a source ([`Source`], [`prepare`]),
//! mapping every envelope to our layout ([`Prepared`]: one [`Transaction`] per store), and
//! committing the result ([`Prepared::commit`]).
//!
//! Mapping rules:
//! - a `ref` envelope becomes the document at the same (canonical) ref, its body unchanged;
//!   a `link` envelope becomes a link. Old spellings (`+` for `@`, `call/` for `task/`) are
//!   rewritten to the canonical ref. The `links` back-references are not stored (our links
//!   are found by walking the tree); they are checked against the link envelopes.
//! - repository configurations (`<repo>/-/repo.ocu.star/@<commit>` and its `@` link) live in
//!   the state store only; the intent store's copies are merged into state. Their body is
//!   converted to ours: `source` from base64 to text, `Remotes` to a list of URLs with
//!   credentials removed. Push indexes (`…/repo.ocu.star/@<commit>/push/index`) keep their
//!   fields and gain ours (`packages`: package file → watched paths, from
//!   `release_configs`). These are the only documents whose body changes.
//! - the applied-intent mirror (`applied/`) is derived from what the original's intent diff
//!   (spec §6.6) would find: where intent and state agree the mirror holds the intent
//!   document, so `ocuroot state diff` is empty; where they differ, or state holds an intent
//!   ref the intent store does not, it holds the state's version, so the diff shows the
//!   pending update or delete.
//!
//! Anything that cannot be mapped (a broken envelope, a ref our grammar refuses, a file that
//! is not a document, conflicting copies) is collected as a [`Problem`]; [`Prepared::commit`]
//! refuses to write while there are any. Nothing reads the process environment: the caller
//! passes the working directory and `$OCUROOT_HOME`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::refs::{Ref, names};
use crate::store::{Store, StoreError, StoreKind, Transaction, remote};

/// The file name of an envelope inside its ref folder.
pub const ENVELOPE_FILE: &str = "@object.json";
/// The store info file at the root of an original store.
pub const INFO_FILE: &str = ".ocuroot-store";
/// The repository configuration file name, as it appears in refs.
const REPO_CONFIG: &str = "repo.ocu.star";

/// An error importing a store.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The argument is not a folder, nor `<location>#<branch>`.
    #[error("invalid import source {arg:?}: {reason}")]
    BadArgument {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A folder could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A Git source could not be opened or read.
    #[error("cannot {action} in {source_name}")]
    Git {
        /// The source (`<location>#<branch>`).
        source_name: String,
        /// What was being done.
        action: String,
        /// The Git error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A remote Git source could not be fetched.
    #[error("cannot fetch branch {branch} of {url}")]
    Fetch {
        /// The URL, credentials redacted.
        url: String,
        /// The branch.
        branch: String,
        /// What `git` said.
        #[source]
        source: Detail,
    },
    /// A URL source needs a cache folder, and none was given.
    #[error("importing from {url} needs $OCUROOT_HOME for a cache")]
    NoHome {
        /// The URL, credentials redacted.
        url: String,
    },
    /// The branch does not exist in the Git source.
    #[error("no branch {branch} in {location}")]
    NoBranch {
        /// The repository path or URL.
        location: String,
        /// The branch.
        branch: String,
    },
    /// The source holds no original store.
    #[error(
        "no original ocuroot store in {source_name}: expected {INFO_FILE} and refs/, or state/ and intent/"
    )]
    NotAStore {
        /// The source.
        source_name: String,
    },
    /// The arguments do not fit together.
    #[error("{source_name} holds both state/ and intent/: give it as the only argument")]
    SingleBackendWithIntent {
        /// The source.
        source_name: String,
    },
    /// The store info file is not valid JSON of the expected shape.
    #[error("invalid store info file {path}")]
    BadInfo {
        /// Where the file is.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The store format version is not one this importer reads.
    #[error("unsupported store version {version} in {path}: expected 2 or 3")]
    UnsupportedVersion {
        /// Where the store info file is.
        path: String,
        /// The version found.
        version: u64,
    },
    /// Some files cannot be mapped; nothing was written.
    #[error("cannot import: {count} source files cannot be mapped, nothing was written")]
    Unmappable {
        /// How many problems.
        count: usize,
    },
    /// Writing to our stores failed.
    #[error("cannot write the imported {kind} store")]
    Store {
        /// `state` or `intent`.
        kind: &'static str,
        /// The store error (boxed: it is large, and this is the cold path).
        #[source]
        source: Box<StoreError>,
    },
}

/// Text from an external tool, used as an error source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Detail(pub String);

/// Where an original store is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder of an original file-system store.
    Folder(PathBuf),
    /// A branch of an original Git store: a local repository or a URL.
    Git {
        /// The repository path (absolute) or URL.
        location: String,
        /// The branch.
        branch: String,
    },
}

impl Source {
    /// Parses an import argument: `<git URL or path>#<branch>` for a Git branch, otherwise
    /// a folder. Relative paths are taken relative to `cwd`.
    ///
    /// # Errors
    ///
    /// [`ImportError::BadArgument`] for an empty argument, branch or location.
    pub fn parse(arg: &str, cwd: &Path) -> Result<Source, ImportError> {
        let bad = |reason| ImportError::BadArgument {
            arg: arg.to_string(),
            reason,
        };
        if arg.is_empty() {
            return Err(bad("empty"));
        }
        match arg.rsplit_once('#') {
            Some((location, branch)) => {
                if location.is_empty() {
                    return Err(bad("no repository before '#'"));
                }
                if branch.is_empty() {
                    return Err(bad("no branch after '#'"));
                }
                let location = if is_url(location) {
                    location.to_string()
                } else {
                    normalize(&cwd.join(location)).display().to_string()
                };
                Ok(Source::Git {
                    location,
                    branch: branch.to_string(),
                })
            }
            None => Ok(Source::Folder(normalize(&cwd.join(arg)))),
        }
    }
}

/// Removes `.` and `..` components without touching the file system (the path may not
/// exist, and symlinks are the user's business), so messages show the path plainly.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Folder(p) => write!(f, "{}", p.display()),
            Source::Git { location, branch } if is_url(location) => {
                write!(f, "{}#{branch}", remote::redact(location))
            }
            Source::Git { location, branch } => write!(f, "{location}#{branch}"),
        }
    }
}

/// Returns true when `location` is a URL (`scheme://…` or scp-like `[user@]host:path`).
fn is_url(location: &str) -> bool {
    if location.contains("://") {
        return true;
    }
    match location.split_once(':') {
        Some((host, _)) => {
            !host.is_empty() && !host.contains('/') && !host.starts_with('.') && host.len() > 1
        }
        None => false,
    }
}

/// The kinds of document an import counts (`--dryrun` prints one line per kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocKind {
    /// `<pkg>/@rN`.
    Release,
    /// `<pkg>/@rN/commit/<commit>`.
    CommitMarker,
    /// `<pkg>/@<tag>`, a link to `@rN`.
    Tag,
    /// `<rel>/{task,deploy}/<name>/<k>`.
    Run,
    /// `<run>/status/<status>`.
    StatusMarker,
    /// `<run>/logs`.
    Logs,
    /// `<rel>/{task,deploy}/<name>`.
    TaskSummary,
    /// `<pkg>/@/deploy/<env>` in state, a link to the task summary.
    DeployLink,
    /// `<pkg>/@/task/<name>` in state, a link to the task summary.
    TaskLink,
    /// `<rel>/op/<op>`.
    OpMarker,
    /// `…/custom/…`.
    CustomState,
    /// `@/environment/<name>`.
    Environment,
    /// `<pkg>/@/deploy/<env>` in intent.
    DeployIntent,
    /// `<repo>/-/repo.ocu.star/@<commit>`.
    RepoConfig,
    /// `<repo>/-/repo.ocu.star/@`.
    RepoConfigLink,
    /// `…/push/index`, `@/push/intent_commit`.
    PushIndex,
    /// `<repo>/-/repo.ocu.star/@/push/index`.
    PushIndexLink,
    /// Any other document (imported unchanged).
    OtherDocument,
    /// Any other link (imported unchanged).
    OtherLink,
    /// Applied-intent mirror entries where intent and state agree.
    AppliedInSync,
    /// Applied-intent mirror entries recording a pending update or delete.
    AppliedPending,
}

impl DocKind {
    /// The name printed for this kind.
    pub fn name(self) -> &'static str {
        match self {
            DocKind::Release => "releases",
            DocKind::CommitMarker => "commit markers",
            DocKind::Tag => "tags",
            DocKind::Run => "runs",
            DocKind::StatusMarker => "status markers",
            DocKind::Logs => "logs",
            DocKind::TaskSummary => "task summaries",
            DocKind::DeployLink => "deploy links",
            DocKind::TaskLink => "task links",
            DocKind::OpMarker => "op markers",
            DocKind::CustomState => "custom state",
            DocKind::Environment => "environments",
            DocKind::DeployIntent => "deploy intents",
            DocKind::RepoConfig => "repo configs",
            DocKind::RepoConfigLink => "repo config links",
            DocKind::PushIndex => "push indexes",
            DocKind::PushIndexLink => "push index links",
            DocKind::OtherDocument => "other documents",
            DocKind::OtherLink => "other links",
            DocKind::AppliedInSync => "applied intent (in sync)",
            DocKind::AppliedPending => "applied intent (pending)",
        }
    }

    /// Classifies the entry at `r` in a store of `kind`.
    fn of(kind: StoreKind, r: &Ref, link: bool) -> DocKind {
        let release = r.release.as_deref();
        let segs: Vec<&str> = if r.subpath.is_empty() {
            Vec::new()
        } else {
            r.subpath.split('/').collect()
        };
        if r.global {
            return match r.type_str() {
                "environment" if !link => DocKind::Environment,
                "custom" if !link => DocKind::CustomState,
                "push" if !link => DocKind::PushIndex,
                _ if link => DocKind::OtherLink,
                _ => DocKind::OtherDocument,
            };
        }
        if r.filename == REPO_CONFIG && release.is_some() {
            return match (r.type_str(), link, release) {
                ("", true, Some("")) => DocKind::RepoConfigLink,
                ("", false, Some(c)) if !c.is_empty() => DocKind::RepoConfig,
                ("push", true, Some("")) => DocKind::PushIndexLink,
                ("push", false, _) => DocKind::PushIndex,
                (_, true, _) => DocKind::OtherLink,
                _ => DocKind::OtherDocument,
            };
        }
        let Some(release) = release else {
            return if link {
                DocKind::OtherLink
            } else {
                DocKind::OtherDocument
            };
        };
        let rn = names::release_number(release).is_some();
        match (r.type_str(), link) {
            ("", true) if names::is_valid_tag(release) => DocKind::Tag,
            ("", false) if rn => DocKind::Release,
            ("commit", false) => DocKind::CommitMarker,
            ("custom", false) => DocKind::CustomState,
            ("op", false) => DocKind::OpMarker,
            ("deploy", false) if release.is_empty() && kind == StoreKind::Intent => {
                DocKind::DeployIntent
            }
            ("deploy", true) if release.is_empty() && segs.len() == 1 => DocKind::DeployLink,
            ("task", true) if release.is_empty() && segs.len() == 1 => DocKind::TaskLink,
            ("task" | "deploy", false) => match segs.as_slice() {
                [_] => DocKind::TaskSummary,
                [_, _] => DocKind::Run,
                [_, _, "logs"] => DocKind::Logs,
                [_, _, "status", _] => DocKind::StatusMarker,
                _ => DocKind::OtherDocument,
            },
            (_, true) => DocKind::OtherLink,
            _ => DocKind::OtherDocument,
        }
    }
}

/// A source file that cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file (source and path inside it).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What one of our stores receives from an import.
#[derive(Clone, Debug)]
pub struct StorePlan {
    /// The source the documents come from (for messages).
    pub source: String,
    /// How many entries of each kind were read (for the intent store: including the repo
    /// configurations that go to state).
    pub counts: BTreeMap<DocKind, usize>,
    tx: Transaction,
}

impl StorePlan {
    /// Returns the transaction that writes the imported entries.
    pub fn transaction(&self) -> &Transaction {
        &self.tx
    }
}

/// An import read and mapped, not written yet.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// What goes to the state store.
    pub state: StorePlan,
    /// What goes to the intent store, when an intent store was imported.
    pub intent: Option<StorePlan>,
    /// Remarks that do not stop the import (old refs rewritten, stale back-references,
    /// files outside the store left out).
    pub notes: Vec<String>,
    /// What cannot be mapped; while not empty, [`Prepared::commit`] writes nothing.
    pub problems: Vec<Problem>,
}

/// What [`Prepared::commit`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The new state commit, or `None` when state already held everything.
    pub state_commit: Option<String>,
    /// The new intent commit, or `None` when nothing changed (or no intent was imported).
    pub intent_commit: Option<String>,
}

impl Prepared {
    /// Writes the import: one commit to the intent store, then one to the state store (the
    /// applied mirror never lands before the intent it mirrors). A store that already holds
    /// everything gets no commit, so importing twice changes nothing.
    ///
    /// # Errors
    ///
    /// [`ImportError::Unmappable`] while there are problems (nothing is written);
    /// [`ImportError::Store`] when a commit fails (for example a link over an existing
    /// document).
    pub fn commit(&self, state: &Store, intent: &Store) -> Result<ImportOutcome, ImportError> {
        if !self.problems.is_empty() {
            return Err(ImportError::Unmappable {
                count: self.problems.len(),
            });
        }
        // Both transactions are tried on the current tips first, so that one that cannot
        // apply (a link over an existing document, say) fails before the other lands.
        let state_err = |source| ImportError::Store {
            kind: "state",
            source: Box::new(source),
        };
        let intent_err = |source| ImportError::Store {
            kind: "intent",
            source: Box::new(source),
        };
        state.preview(&self.state.tx).map_err(state_err)?;
        if let Some(plan) = &self.intent {
            intent.preview(&plan.tx).map_err(intent_err)?;
        }
        let intent_commit = match &self.intent {
            Some(plan) => intent.commit(&plan.tx).map_err(intent_err)?.commit,
            None => None,
        };
        let state_commit = state.commit(&self.state.tx).map_err(state_err)?.commit;
        Ok(ImportOutcome {
            state_commit,
            intent_commit,
        })
    }
}

/// Where the sources are and where a URL source may be cached.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// The state source (or both stores, in the single-backend layout).
    pub state: Source,
    /// The intent source, if separate.
    pub intent: Option<Source>,
    /// `$OCUROOT_HOME`: URL sources are fetched into `<home>/imports/`.
    pub home: Option<PathBuf>,
    /// The variables of the `git` processes that fetch URL sources.
    pub git: crate::git_subprocess::GitEnvironment,
}

/// Reads the sources and maps every envelope. Problems are collected in the result, not
/// returned as errors, so that `--dryrun` can list them all.
///
/// # Errors
///
/// Sources that cannot be read at all: missing folders or branches, Git and fetch errors,
/// no original store, an invalid store info file or an unsupported format version.
pub fn prepare(req: &ImportRequest) -> Result<Prepared, ImportError> {
    let state_files = load(&req.state, req.home.as_deref(), &req.git)?;
    let state_label = req.state.to_string();
    let (state_raw, intent_raw) = match split_layout(&state_label, state_files)? {
        Layout::Single(s) => {
            let intent = match &req.intent {
                Some(src) => {
                    let label = src.to_string();
                    let files = load(src, req.home.as_deref(), &req.git)?;
                    Some(match split_layout(&label, files)? {
                        Layout::Single(i) => i,
                        Layout::Both { intent, .. } => intent,
                    })
                }
                None => None,
            };
            (s, intent)
        }
        Layout::Both { state, intent } => {
            if req.intent.is_some() {
                return Err(ImportError::SingleBackendWithIntent {
                    source_name: state_label,
                });
            }
            (state, Some(intent))
        }
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let state = read_store(&state_raw, StoreKind::State, &mut problems, &mut notes)?;
    let intent = match &intent_raw {
        Some(raw) => Some(read_store(
            raw,
            StoreKind::Intent,
            &mut problems,
            &mut notes,
        )?),
        None => None,
    };
    Ok(map_stores(state, intent, problems, notes))
}

mod load;
mod map;
mod parse;

use load::{Layout, load, split_layout};
use map::map_stores;
use parse::read_store;

#[cfg(test)]
mod tests;
