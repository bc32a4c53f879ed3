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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::redact_url;
use crate::intent::IntentKind;
use crate::refs::SubpathType;
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

/// A source's files, relative to its root.
type Files = BTreeMap<String, Vec<u8>>;

/// One original store's files (paths relative to the store folder).
struct RawStore {
    label: String,
    files: Files,
}

enum Layout {
    Single(RawStore),
    Both { state: RawStore, intent: RawStore },
}

/// Decides between one store at the root and the single-backend `state/` + `intent/`.
fn split_layout(label: &str, files: Files) -> Result<Layout, ImportError> {
    let at_root = files.contains_key(INFO_FILE) || files.keys().any(|k| k.starts_with("refs/"));
    if at_root {
        return Ok(Layout::Single(RawStore {
            label: label.to_string(),
            files,
        }));
    }
    let sub = |prefix: &str| -> Files {
        files
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix)
                    .map(|rest| (rest.to_string(), v.clone()))
            })
            .collect()
    };
    let state = sub("state/");
    let intent = sub("intent/");
    if state.is_empty() && intent.is_empty() {
        return Err(ImportError::NotAStore {
            source_name: label.to_string(),
        });
    }
    Ok(Layout::Both {
        state: RawStore {
            label: format!("{label} (state/)"),
            files: state,
        },
        intent: RawStore {
            label: format!("{label} (intent/)"),
            files: intent,
        },
    })
}

/// Reads every file of a source.
fn load(
    src: &Source,
    home: Option<&Path>,
    git: &crate::git_subprocess::GitEnvironment,
) -> Result<Files, ImportError> {
    match src {
        Source::Folder(dir) => load_folder(dir),
        Source::Git { location, branch } => {
            let label = src.to_string();
            let repo_path = if is_url(location) {
                let home = home.ok_or_else(|| ImportError::NoHome {
                    url: remote::redact(location),
                })?;
                fetch_url(home, location, branch, git)?
            } else {
                PathBuf::from(location)
            };
            load_git(&label, &repo_path, location, branch)
        }
    }
}

fn load_folder(dir: &Path) -> Result<Files, ImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    std::fs::metadata(dir).map_err(io(dir))?;
    let mut out = Files::new();
    // A checkout of an original Git store is a folder too: its `.git` is not the store's.
    let walk = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git");
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            ImportError::Io {
                path,
                source: e.into(),
            }
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("walkdir yields paths below its root");
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let bytes = std::fs::read(entry.path()).map_err(io(entry.path()))?;
        out.insert(rel.join("/"), bytes);
    }
    Ok(out)
}

/// Fetches `branch` of `url` into a cache under `<home>/imports/` and returns its path.
fn fetch_url(
    home: &Path,
    url: &str,
    branch: &str,
    git: &crate::git_subprocess::GitEnvironment,
) -> Result<PathBuf, ImportError> {
    let cache = remote::cache_path(&home.join("imports"), url);
    let git_err = |action: &str| {
        let action = action.to_string();
        let source_name = format!("{}#{branch}", remote::redact(url));
        move |e: Box<dyn std::error::Error + Send + Sync>| ImportError::Git {
            source_name,
            action,
            source: e,
        }
    };
    if !cache.join("HEAD").is_file() {
        std::fs::create_dir_all(&cache).map_err(|source| ImportError::Io {
            path: cache.clone(),
            source,
        })?;
        crate::store::init_bare(&cache)
            .map_err(|e| git_err("create a cache repository")(e.into()))?;
    }
    let fetched = remote::fetch(git, &cache, url, branch).map_err(|f| {
        let detail = match f {
            remote::RemoteFailure::Remote(d) | remote::RemoteFailure::Local(d) => d,
        };
        ImportError::Fetch {
            url: remote::redact(url),
            branch: branch.to_string(),
            source: Detail(detail),
        }
    })?;
    if fetched.is_none() {
        return Err(ImportError::NoBranch {
            location: remote::redact(url),
            branch: branch.to_string(),
        });
    }
    Ok(cache)
}

fn load_git(
    label: &str,
    repo_path: &Path,
    location: &str,
    branch: &str,
) -> Result<Files, ImportError> {
    let err = |action: &str| {
        let action = action.to_string();
        let source_name = label.to_string();
        move |e: Box<dyn std::error::Error + Send + Sync>| ImportError::Git {
            source_name,
            action,
            source: e,
        }
    };
    let repo = gix::open_opts(repo_path, gix::open::Options::isolated())
        .map_err(|e| err("open the repository")(e.into()))?;
    let name = format!("refs/heads/{branch}");
    let reference = repo
        .try_find_reference(name.as_str())
        .map_err(|e| err("read the branch")(e.into()))?;
    let Some(mut reference) = reference else {
        return Err(ImportError::NoBranch {
            location: if is_url(location) {
                remote::redact(location)
            } else {
                location.to_string()
            },
            branch: branch.to_string(),
        });
    };
    let id = reference
        .peel_to_id()
        .map_err(|e| err("resolve the branch")(e.into()))?
        .detach();
    let tree = repo
        .find_commit(id)
        .map_err(|e| err("read the branch's commit")(e.into()))?
        .tree_id()
        .map_err(|e| err("read the branch's tree")(e.into()))?
        .detach();
    let mut out = Files::new();
    walk_tree(&repo, tree, "", &mut out).map_err(err("read the branch's files"))?;
    Ok(out)
}

fn walk_tree(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    prefix: &str,
    out: &mut Files,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let entries: Vec<(String, gix::object::tree::EntryKind, gix::ObjectId)> = {
        let tree = repo.find_tree(tree)?;
        let decoded = tree.decode()?;
        decoded
            .entries
            .iter()
            .map(|e| (e.filename.to_string(), e.mode.kind(), e.oid.to_owned()))
            .collect()
    };
    for (name, kind, oid) in entries {
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        match kind {
            gix::object::tree::EntryKind::Tree => walk_tree(repo, oid, &path, out)?,
            gix::object::tree::EntryKind::Blob | gix::object::tree::EntryKind::BlobExecutable => {
                let blob = repo.find_object(oid)?;
                out.insert(path, blob.data.clone());
            }
            // Symlinks and submodules are not store files; leave a marker so they are
            // reported rather than skipped silently.
            _ => {
                out.insert(path, Vec::new());
            }
        }
    }
    Ok(())
}

/// The store info file's shape.
#[derive(Deserialize)]
struct StoreInfo {
    version: u64,
    #[serde(rename = "Tags", default)]
    tags: Option<BTreeMap<String, Value>>,
}

/// An envelope (spec §3.2); stacks and `body_type` are ignored.
#[derive(Deserialize)]
struct Envelope {
    kind: String,
    #[serde(default)]
    links: Option<Vec<String>>,
    /// `Some(Value::Null)` for a `null` body, `None` when the key is missing.
    #[serde(default, deserialize_with = "present")]
    body: Option<Value>,
}

/// Deserializes a field that is present (whatever its value, `null` included) as `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// What sits at a ref in the source.
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Doc(Value),
    Link(Ref),
}

/// One original store, parsed.
struct ParsedStore {
    label: String,
    kind: StoreKind,
    items: BTreeMap<Ref, Item>,
    /// Back-references: for a ref, the refs its envelope says link to it.
    back_refs: BTreeMap<Ref, Vec<String>>,
}

/// Parses the envelopes of one original store.
fn read_store(
    raw: &RawStore,
    kind: StoreKind,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> Result<ParsedStore, ImportError> {
    let info_path = format!("{}: {INFO_FILE}", raw.label);
    match raw.files.get(INFO_FILE) {
        Some(bytes) => {
            let info: StoreInfo =
                serde_json::from_slice(bytes).map_err(|source| ImportError::BadInfo {
                    path: info_path.clone(),
                    source,
                })?;
            if info.version != 2 && info.version != 3 {
                return Err(ImportError::UnsupportedVersion {
                    path: info_path,
                    version: info.version,
                });
            }
            // Version 2 has no tags; version 3 names the store's role.
            if info.version == 3
                && let Some(tags) = &info.tags
            {
                let other = match kind {
                    StoreKind::State => "intent",
                    StoreKind::Intent => "state",
                };
                if tags.contains_key(other) && !tags.contains_key(kind.as_str()) {
                    problems.push(Problem {
                        path: info_path,
                        message: format!(
                            "the store is tagged {other} but was given as the {kind} store"
                        ),
                    });
                }
            }
        }
        None if raw.files.keys().any(|k| k.starts_with("refs/")) => {
            // The original creates the file on first open (version 3): a store without
            // one was never opened by a version that wrote it, and reads the same.
            notes.push(format!("{}: no {INFO_FILE}, read as version 3", raw.label));
        }
        None => {
            return Err(ImportError::NotAStore {
                source_name: raw.label.clone(),
            });
        }
    }
    let mut store = ParsedStore {
        label: raw.label.clone(),
        kind,
        items: BTreeMap::new(),
        back_refs: BTreeMap::new(),
    };
    let mut origin: BTreeMap<Ref, String> = BTreeMap::new();
    let mut rewritten = 0usize;
    for (path, bytes) in &raw.files {
        let shown = format!("{}: {path}", raw.label);
        let problem = |message: String| Problem {
            path: shown.clone(),
            message,
        };
        if path == INFO_FILE {
            continue;
        }
        let Some(rest) = path.strip_prefix("refs/") else {
            if path.starts_with("dependencies/") {
                problems.push(problem(
                    "dependency bookkeeping (spec §3.2) has no equivalent here".to_string(),
                ));
            } else {
                notes.push(format!("{shown}: not a store file, left out"));
            }
            continue;
        };
        let Some(ref_text) = rest
            .strip_suffix(ENVELOPE_FILE)
            .and_then(|r| r.strip_suffix('/'))
        else {
            problems.push(problem(format!(
                "not an envelope (expected {ENVELOPE_FILE})"
            )));
            continue;
        };
        let r = match Ref::parse(ref_text) {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(format!("not a valid ref: {e}")));
                continue;
            }
        };
        if let Err(e) = r.ensure_storable() {
            problems.push(problem(format!("not a storable ref: {e}")));
            continue;
        }
        if !r.fragment.is_empty() {
            problems.push(problem(
                "a ref with a fragment cannot hold a document".to_string(),
            ));
            continue;
        }
        if r.to_string() != ref_text {
            rewritten += 1;
        }
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(e) => {
                problems.push(problem(format!("broken envelope: {e}")));
                continue;
            }
        };
        let item = match (envelope.kind.as_str(), envelope.body) {
            ("ref", Some(body)) => Item::Doc(body),
            ("link", Some(Value::String(target))) => {
                match Ref::parse(&target).and_then(|t| t.ensure_storable().map(|()| t)) {
                    Ok(t) if t.fragment.is_empty() => Item::Link(t),
                    Ok(_) => {
                        problems.push(problem(format!("link target {target:?} has a fragment")));
                        continue;
                    }
                    Err(e) => {
                        problems.push(problem(format!("link target is not a valid ref: {e}")));
                        continue;
                    }
                }
            }
            ("link", Some(_)) => {
                problems.push(problem(
                    "broken envelope: a link's body must be a ref string".to_string(),
                ));
                continue;
            }
            (_, None) => {
                problems.push(problem("broken envelope: no body".to_string()));
                continue;
            }
            (other, _) => {
                problems.push(problem(format!(
                    "broken envelope: unknown kind {other:?} (expected \"ref\" or \"link\")"
                )));
                continue;
            }
        };
        if let Some(previous) = store.items.get(&r) {
            // An old spelling next to the canonical one: fine when they agree.
            if *previous != item {
                problems.push(problem(format!(
                    "{r} is also stored at {} with different content",
                    origin.get(&r).map_or("another path", String::as_str)
                )));
            }
            continue;
        }
        if let Some(links) = envelope.links.filter(|l| !l.is_empty()) {
            store.back_refs.insert(r.clone(), links);
        }
        origin.insert(r.clone(), shown.clone());
        store.items.insert(r, item);
    }
    if rewritten > 0 {
        notes.push(format!(
            "{}: {rewritten} refs in an old spelling (`+`, `call/`) rewritten to the canonical form",
            raw.label
        ));
    }
    Ok(store)
}

/// Resolves links in `r` against `links` (deepest linked prefix, single level, spec §3.3).
fn resolve(items: &BTreeMap<Ref, Item>, r: &Ref) -> Ref {
    let segs = r.storage_segments();
    for n in (1..=segs.len()).rev() {
        let prefix: Vec<&str> = segs[..n].iter().map(String::as_str).collect();
        let Ok(candidate) = Ref::from_storage_segments(&prefix) else {
            continue;
        };
        if let Some(Item::Link(target)) = items.get(&candidate) {
            let mut joined = target.storage_segments();
            joined.extend(segs[n..].iter().cloned());
            let joined: Vec<&str> = joined.iter().map(String::as_str).collect();
            return Ref::from_storage_segments(&joined).unwrap_or_else(|_| r.clone());
        }
    }
    r.clone()
}

/// True for the state refs the original's intent diff looks at (spec §6.6): deploy links,
/// single-segment custom state and environments.
fn in_original_diff(r: &Ref, item: &Item) -> bool {
    let single = !r.subpath.is_empty() && !r.subpath.contains('/');
    match (r.type_str(), item) {
        ("deploy", Item::Link(_)) => !r.global && r.release.as_deref() == Some("") && single,
        ("custom", Item::Doc(_)) => single && r.release.is_some(),
        ("environment", Item::Doc(_)) => r.global && single,
        _ => false,
    }
}

/// `{release, input}` of a deploy intent or task summary, for comparing them (spec §3.6).
fn deploy_key(doc: &Value) -> Value {
    json!({
        "release": doc.get("release").cloned().unwrap_or(Value::Null),
        "input": doc.get("input").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| json!({})),
    })
}

/// Converts an original repository configuration (base64 `source`, remote records) to ours.
fn convert_repo_config(body: &Value) -> Result<Value, String> {
    let Some(obj) = body.as_object() else {
        return Err("a repo config must be an object".to_string());
    };
    let mut out = obj.clone();
    let source = match obj.get("source") {
        Some(Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| format!("repo config source is not base64: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "repo config source is not UTF-8".to_string())?
        }
        Some(Value::Null) | None => String::new(),
        Some(_) => return Err("repo config source must be a string".to_string()),
    };
    let mut remotes = Vec::new();
    match obj.get("Remotes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(url) => remotes.push(redact_url(url)),
                    Value::Object(rec) => {
                        let mut found = false;
                        for key in ["URL", "Url", "url"] {
                            if let Some(Value::String(url)) = rec.get(key) {
                                remotes.push(redact_url(url));
                                found = true;
                            }
                        }
                        for key in ["URLs", "Urls", "urls"] {
                            if let Some(Value::Array(urls)) = rec.get(key) {
                                for url in urls.iter().filter_map(Value::as_str) {
                                    remotes.push(redact_url(url));
                                    found = true;
                                }
                            }
                        }
                        if !found {
                            return Err(format!("repo config remote {item} has no URL"));
                        }
                    }
                    other => return Err(format!("repo config remote {other} is not a URL")),
                }
            }
        }
        Some(_) => return Err("repo config Remotes must be a list".to_string()),
    }
    out.insert("Remotes".to_string(), json!(remotes));
    out.insert("source".to_string(), Value::String(source));
    Ok(out.into())
}

/// True for a push index of a repository configuration (`…/repo.ocu.star/@<c>/push/index`).
fn is_push_index(r: &Ref) -> bool {
    !r.global && r.filename == REPO_CONFIG && r.is(SubpathType::Push) && r.subpath == "index"
}

/// Adds our `packages` (package file → watched paths) to an original push index, whose
/// `release_configs` are keyed by package ref; the original's fields are kept as they are,
/// so the index reads back with everything it had, and `push` knows what each package
/// watches.
fn convert_push_index(body: &Value) -> Value {
    let Some(obj) = body.as_object() else {
        return body.clone();
    };
    let Some(Value::Object(configs)) = obj.get("release_configs") else {
        return body.clone();
    };
    if obj.contains_key("packages") {
        return body.clone();
    }
    let packages: serde_json::Map<String, Value> = configs
        .iter()
        .map(|(pkg, config)| {
            let file = pkg.split_once("/-/").map_or(pkg.as_str(), |(_, f)| f);
            let watch = match config.get("watch_files") {
                Some(Value::Array(items)) => Value::Array(items.clone()),
                _ => json!([]),
            };
            (file.to_string(), json!({"watch_files": watch}))
        })
        .collect();
    let mut out = obj.clone();
    out.insert("packages".to_string(), Value::Object(packages));
    out.into()
}

/// True for a repository configuration document or its `@` link.
fn is_repo_config(r: &Ref) -> bool {
    !r.global && r.filename == REPO_CONFIG && r.release.is_some() && r.subpath_type.is_none()
}

/// Maps the parsed stores to our transactions.
fn map_stores(
    mut state: ParsedStore,
    intent: Option<ParsedStore>,
    mut problems: Vec<Problem>,
    mut notes: Vec<String>,
) -> Prepared {
    let message = |store: &ParsedStore| format!("import {} store from {}", store.kind, store.label);
    let mut state_counts = BTreeMap::new();
    let mut intent_counts = BTreeMap::new();

    // Repo configs of the intent store join state's.
    let mut intent_items = BTreeMap::new();
    let mut merged = BTreeSet::new();
    if let Some(intent) = &intent {
        for (r, item) in &intent.items {
            let kind = DocKind::of(StoreKind::Intent, r, matches!(item, Item::Link(_)));
            *intent_counts.entry(kind).or_insert(0) += 1;
            if is_repo_config(r) {
                match state.items.get(r) {
                    None => {
                        state.items.insert(r.clone(), item.clone());
                        merged.insert(r.clone());
                    }
                    Some(existing) if existing == item => {}
                    Some(_) if matches!(item, Item::Link(_)) => notes.push(format!(
                        "{}: {r} points elsewhere than in state; state's link is kept",
                        intent.label
                    )),
                    Some(_) => problems.push(Problem {
                        path: format!("{}: refs/{r}/{ENVELOPE_FILE}", intent.label),
                        message: "differs from the state store's copy".to_string(),
                    }),
                }
                continue;
            }
            match (IntentKind::of(r), item) {
                (Some(_), Item::Doc(v)) => {
                    intent_items.insert(r.clone(), v.clone());
                }
                _ => problems.push(Problem {
                    path: format!("{}: refs/{r}/{ENVELOPE_FILE}", intent.label),
                    message: if matches!(item, Item::Link(_)) {
                        "a link in the intent store has no equivalent here".to_string()
                    } else {
                        "not an intent document (environment, custom state or deploy intent)"
                            .to_string()
                    },
                }),
            }
        }
    }

    // State entries.
    let mut state_tx = Transaction::new(message(&state));
    for (r, item) in &state.items {
        let link = matches!(item, Item::Link(_));
        // Repo configs merged in from intent are counted there.
        if !merged.contains(r) {
            *state_counts
                .entry(DocKind::of(StoreKind::State, r, link))
                .or_insert(0) += 1;
        }
        match item {
            Item::Doc(v) if is_repo_config(r) => match convert_repo_config(v) {
                Ok(doc) => {
                    state_tx.set(r, doc);
                }
                Err(message) => problems.push(Problem {
                    path: format!("{}: refs/{r}/{ENVELOPE_FILE}", state.label),
                    message,
                }),
            },
            Item::Doc(v) if is_push_index(r) => {
                state_tx.set(r, convert_push_index(v));
            }
            Item::Doc(v) => {
                state_tx.set(r, v.clone());
            }
            // Links go in after every document, so that no document is written through
            // a link of the same transaction.
            Item::Link(_) => {}
        }
    }
    for (r, item) in &state.items {
        if let Item::Link(target) = item {
            state_tx.link(r, target);
        }
    }
    // Back-references: derived data; check them against the links.
    let mut stale = 0usize;
    for store in std::iter::once(&state).chain(intent.iter()) {
        for (target, links) in &store.back_refs {
            for l in links {
                let ok = Ref::parse(l).ok().is_some_and(
                    |l| matches!(store.items.get(&l), Some(Item::Link(t)) if t == target),
                );
                if !ok {
                    stale += 1;
                }
            }
        }
    }
    if stale > 0 {
        notes.push(format!(
            "{stale} stale back-references (`links` naming refs that no longer link there) dropped"
        ));
    }

    // The applied-intent mirror, from the original's intent diff.
    let intent_plan = intent.as_ref().map(|i| {
        let mut tx = Transaction::new(message(i));
        for (r, v) in &intent_items {
            tx.set(r, v.clone());
        }
        StorePlan {
            source: i.label.clone(),
            counts: intent_counts,
            tx,
        }
    });
    if intent.is_some() {
        let mut unmatched: BTreeSet<Ref> = state
            .items
            .iter()
            .filter(|(r, item)| in_original_diff(r, item))
            .map(|(r, _)| r.clone())
            .collect();
        for (i, intent_doc) in &intent_items {
            let resolved = resolve(&state.items, i);
            let is_deploy = IntentKind::of(i) == Some(IntentKind::Deploy);
            // A deploy intent pairs with the state's deploy link at the same ref.
            let state_key = if is_deploy {
                i.clone()
            } else {
                resolved.clone()
            };
            unmatched.remove(&state_key);
            unmatched.remove(i);
            let state_doc: Option<Value> = if is_deploy {
                match state.items.get(i) {
                    Some(Item::Link(target)) => match state.items.get(target) {
                        Some(Item::Doc(summary)) => Some(deploy_key(summary)),
                        _ => None,
                    },
                    _ => None,
                }
            } else {
                match state.items.get(&resolved) {
                    Some(Item::Doc(v)) => Some(v.clone()),
                    _ => None,
                }
            };
            let wanted = if is_deploy {
                deploy_key(intent_doc)
            } else {
                intent_doc.clone()
            };
            match state_doc {
                Some(s) if s == wanted => {
                    state_tx.set_applied(i, intent_doc.clone());
                    *state_counts.entry(DocKind::AppliedInSync).or_insert(0) += 1;
                }
                Some(s) => {
                    state_tx.set_applied(i, s);
                    *state_counts.entry(DocKind::AppliedPending).or_insert(0) += 1;
                }
                None => {}
            }
        }
        // State holds intent refs that intent does not: the original would remove them.
        for r in unmatched {
            let value = match state.items.get(&r) {
                Some(Item::Link(target)) => match state.items.get(target) {
                    Some(Item::Doc(summary)) => deploy_key(summary),
                    _ => continue,
                },
                Some(Item::Doc(v)) => v.clone(),
                None => continue,
            };
            state_tx.set_applied(&r, value);
            *state_counts.entry(DocKind::AppliedPending).or_insert(0) += 1;
        }
    }

    problems.sort();
    Prepared {
        state: StorePlan {
            source: state.label.clone(),
            counts: state_counts,
            tx: state_tx,
        },
        intent: intent_plan,
        notes,
        problems,
    }
}

#[cfg(test)]
mod tests;
