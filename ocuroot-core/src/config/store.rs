//! Store values: what `store.fs(...)` / `store.git(...)` return and how they are read back.
//!
//! In Starlark a store is the dict `{"fs": {"path": ...}}` or
//! `{"git": {"remote_url", "branch", "create_branch", "support_files"}}`, as in the
//! original SDK; [`StoreSpec`] is its Rust form.
//!
//! The support files of a Git store are outside input written into the store branch, so
//! they are held to the [limits](crate::limits) where the store value is made
//! ([`check_support_files`]): an error at the `store.git(...)` call, before any store is
//! opened or written.

use std::collections::BTreeMap;

use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::{Heap, UnpackValue, Value};

use crate::limits::Limits;
use crate::store::layout::{Area, MARKER_FILE};

/// A state or intent store backend, as chosen in `repo.ocu.star`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StoreSpec {
    /// `store.fs(path)`: a local store at `path`, relative to the repo root.
    Fs {
        /// The path given to `store.fs`.
        path: String,
    },
    /// `store.git(remote_url, ...)`: a store in a Git remote.
    Git {
        /// The remote to clone, fetch from and push to.
        remote_url: String,
        /// The branch holding the store; `None` for the remote's default.
        branch: Option<String>,
        /// Whether to create the branch when the remote lacks it.
        create_branch: bool,
        /// Extra files (path -> content) kept in the store branch, e.g. a CI config.
        support_files: BTreeMap<String, String>,
    },
}

/// The stores selected by `store.set(state, intent=None)` or the `*_store` globals.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreSelection {
    /// The state store.
    pub state: StoreSpec,
    /// The intent store; `None` means "the state backend, under an `intent` prefix" (§3.5).
    pub intent: Option<StoreSpec>,
}

impl StoreSpec {
    /// Allocates the Starlark dict form of this store.
    pub fn to_value<'v>(&self, heap: Heap<'v>) -> Value<'v> {
        match self {
            StoreSpec::Fs { path } => {
                let inner = heap.alloc(AllocDict([("path", heap.alloc(path.as_str()))]));
                heap.alloc(AllocDict([("fs", inner)]))
            }
            StoreSpec::Git {
                remote_url,
                branch,
                create_branch,
                support_files,
            } => {
                let branch = match branch {
                    Some(b) => heap.alloc(b.as_str()),
                    None => Value::new_none(),
                };
                let inner = heap.alloc(AllocDict([
                    ("remote_url", heap.alloc(remote_url.as_str())),
                    ("branch", branch),
                    ("create_branch", Value::new_bool(*create_branch)),
                    ("support_files", heap.alloc(support_files.clone())),
                ]));
                heap.alloc(AllocDict([("git", inner)]))
            }
        }
    }

    /// Reads a store back from its Starlark dict form.
    ///
    /// # Errors
    ///
    /// Returns a description of what is wrong when `value` is not a store value.
    pub fn from_value(value: Value<'_>) -> Result<StoreSpec, String> {
        let dict = DictRef::from_value(value).ok_or_else(|| {
            format!(
                "expected a store (store.fs(...) or store.git(...)), got {}",
                value.get_type()
            )
        })?;
        if let Some(fs) = dict.get_str("fs") {
            let fs = DictRef::from_value(fs).ok_or("store.fs value must be a dict")?;
            let path = string_field(&fs, "path")?.ok_or("store.fs value needs a path")?;
            return Ok(StoreSpec::Fs { path });
        }
        if let Some(git) = dict.get_str("git") {
            let git = DictRef::from_value(git).ok_or("store.git value must be a dict")?;
            let remote_url =
                string_field(&git, "remote_url")?.ok_or("store.git value needs a remote_url")?;
            let branch = string_field(&git, "branch")?;
            let create_branch = match git.get_str("create_branch") {
                None => true,
                Some(v) if v.is_none() => true,
                Some(v) => v
                    .unpack_bool()
                    .ok_or("store.git create_branch must be a bool")?,
            };
            let support_files = match git.get_str("support_files") {
                None => BTreeMap::new(),
                Some(v) if v.is_none() => BTreeMap::new(),
                Some(v) => BTreeMap::<String, String>::unpack_value(v)
                    .ok()
                    .flatten()
                    .ok_or("store.git support_files must be a dict of strings")?,
            };
            check_support_files(&support_files, &crate::limits::current())
                .map_err(|e| e.to_string())?;
            return Ok(StoreSpec::Git {
                remote_url,
                branch,
                create_branch,
                support_files,
            });
        }
        Err("expected a store (store.fs(...) or store.git(...)), got a dict without \"fs\" or \"git\"".to_owned())
    }
}

fn string_field(dict: &DictRef<'_>, key: &str) -> Result<Option<String>, String> {
    match dict.get_str(key) {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .unpack_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| format!("store field {key} must be a string")),
    }
}

/// A support file of `store.git(...)` that the store cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupportFileError {
    /// More files than [`Limits::max_support_files`].
    #[error(
        "support_files names {count} files, over the limit of {limit} (limit max_support_files)"
    )]
    TooMany {
        /// How many files were given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The contents together are over [`Limits::max_document_bytes`].
    #[error(
        "support_files hold {bytes} bytes, over the limit of {limit} bytes (limit max_document_bytes)"
    )]
    TooLarge {
        /// The contents' total size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A path deeper than [`Limits::max_depth`] folders.
    #[error("support file {path:?} is nested deeper than {limit} levels (limit max_depth)")]
    TooDeep {
        /// The path as given.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// A path the store branch cannot hold.
    #[error("support file {path:?}: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Checks the support files of a Git store against `limits` and the store's layout: at
/// most [`Limits::max_support_files`] files, contents at most
/// [`Limits::max_document_bytes`] together, paths at most [`Limits::max_depth`] folders
/// deep; every path relative, of non-empty folder names of at most
/// [`MAX_SEGMENT_LEN`](crate::refs::MAX_SEGMENT_LEN) bytes without `.`/`..`, control or
/// invisible characters, not a name Git refuses in a tree (`.git` in any spelling,
/// `.gitmodules`), not inside the store's own folders (`refs/`, `applied/`, `repos/`, the
/// `state/` and `intent/` of a shared branch, `ocuroot-store.yaml`), and no file inside
/// another (`a` beside `a/b`).
///
/// # Errors
///
/// The first [`SupportFileError`] found, naming the file.
pub fn check_support_files(
    files: &BTreeMap<String, String>,
    limits: &Limits,
) -> Result<(), SupportFileError> {
    if files.len() > limits.max_support_files {
        return Err(SupportFileError::TooMany {
            count: files.len(),
            limit: limits.max_support_files,
        });
    }
    let bytes = files
        .values()
        .map(String::len)
        .fold(0usize, usize::saturating_add);
    if bytes > limits.max_document_bytes {
        return Err(SupportFileError::TooLarge {
            bytes,
            limit: limits.max_document_bytes,
        });
    }
    let bad = |path: &str, reason: String| SupportFileError::BadPath {
        path: path.to_owned(),
        reason,
    };
    for path in files.keys() {
        let segments: Vec<&str> = path.split('/').collect();
        if segments.len() > limits.max_depth {
            return Err(SupportFileError::TooDeep {
                path: path.clone(),
                limit: limits.max_depth,
            });
        }
        for seg in &segments {
            if let Some(reason) = segment_problem(seg) {
                return Err(bad(path, reason));
            }
        }
        let first = segments[0];
        let reserved = [
            Area::Records.dir(),
            Area::Applied.dir(),
            Area::Repos.dir(),
            "state",
            "intent",
            MARKER_FILE,
        ];
        if reserved.contains(&first) {
            return Err(bad(path, format!("{first:?} belongs to the store")));
        }
        // BTreeMap order puts `a/b` right after `a/` prefixes' siblings; check directly.
        let folder = format!("{path}/");
        if let Some(inner) = files.keys().find(|k| k.starts_with(&folder)) {
            return Err(bad(path, format!("it is also the folder of {inner:?}")));
        }
    }
    Ok(())
}

/// Returns what is wrong with one folder or file name of a support file's path.
fn segment_problem(seg: &str) -> Option<String> {
    if seg.is_empty() {
        return Some(
            "empty folder names (a leading, trailing or double '/') are not allowed".into(),
        );
    }
    if seg == "." || seg == ".." {
        return Some(format!("{seg:?} is not allowed"));
    }
    if seg.len() > crate::refs::MAX_SEGMENT_LEN {
        return Some(format!(
            "a name is {} bytes long, the limit is {}",
            seg.len(),
            crate::refs::MAX_SEGMENT_LEN
        ));
    }
    if let Some(c) = seg
        .chars()
        .find(|&c| c.is_control() || crate::refs::is_invisible(c) || c == '\\')
    {
        return Some(format!("character U+{:04X} is not allowed", u32::from(c)));
    }
    // What `git fsck` flags in a tree (hasDotgit, gitmodulesBlob): `.git` in any case, with
    // trailing dots or spaces (NTFS), its 8.3 short name, and `.gitmodules` likewise.
    let folded = seg
        .to_ascii_lowercase()
        .trim_end_matches(['.', ' '])
        .to_owned();
    let short = |stem: &str| {
        folded
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('~'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if folded == ".git" || folded == ".gitmodules" || short("git") || short("gitmod") {
        return Some(format!("{seg:?} is a name Git reserves"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn one(path: &str) -> Result<(), SupportFileError> {
        let files = BTreeMap::from([(path.to_owned(), "x".to_owned())]);
        check_support_files(&files, &Limits::default())
    }

    #[test_case(".github/workflows/ocuroot.yml"; "github workflow")]
    #[test_case(".gitlab-ci.yml"; "gitlab ci")]
    #[test_case(".gitignore"; "gitignore blob")]
    #[test_case("README.md"; "readme")]
    #[test_case("ci/a-b/c.yml"; "nested")]
    #[test_case("refsx/a"; "close to a store folder")]
    #[test_case("-x"; "leading dash is a file name like any other")]
    fn accepted(path: &str) {
        assert_eq!(one(path), Ok(()));
    }

    #[test_case(""; "empty")]
    #[test_case("/etc/passwd"; "absolute")]
    #[test_case("a//b"; "double slash")]
    #[test_case("a/"; "trailing slash")]
    #[test_case("../outside"; "dot dot")]
    #[test_case("a/./b"; "dot")]
    #[test_case(".git/config"; "dot git")]
    #[test_case(".GIT/hooks/x"; "dot git upper")]
    #[test_case(".git./x"; "dot git trailing dot")]
    #[test_case("git~1/config"; "dot git short name")]
    #[test_case(".gitmodules"; "gitmodules")]
    #[test_case(".GitModules "; "gitmodules case and space")]
    #[test_case("gitmod~1"; "gitmodules short name")]
    #[test_case(".g\u{200c}it/config"; "zero width")]
    #[test_case("a\u{202e}b"; "direction override")]
    #[test_case("a\nb"; "newline")]
    #[test_case("a\\b"; "backslash")]
    #[test_case("refs/@/custom/x/#.yaml"; "store records")]
    #[test_case("applied/x"; "applied mirror")]
    #[test_case("repos/x"; "repos")]
    #[test_case("intent/refs/x"; "shared branch intent")]
    #[test_case("state"; "shared branch state")]
    #[test_case("ocuroot-store.yaml"; "format marker")]
    fn refused_paths_name_the_file(path: &str) {
        match one(path) {
            Err(SupportFileError::BadPath { path: named, .. }) => assert_eq!(named, path),
            other => panic!("{path:?}: {other:?}"),
        }
    }

    #[test]
    fn long_names_and_deep_paths_are_refused() {
        assert!(matches!(
            one(&"a".repeat(256)),
            Err(SupportFileError::BadPath { .. })
        ));
        assert_eq!(one(&"a".repeat(255)), Ok(()));
        let deep = vec!["d"; 129].join("/");
        assert_eq!(
            one(&deep),
            Err(SupportFileError::TooDeep {
                path: deep.clone(),
                limit: 128
            })
        );
        assert_eq!(one(&vec!["d"; 128].join("/")), Ok(()));
    }

    #[test]
    fn a_file_cannot_be_a_folder_too() {
        let files = BTreeMap::from([
            ("ci".to_owned(), "x".to_owned()),
            ("ci/a.yml".to_owned(), "y".to_owned()),
        ]);
        let err = check_support_files(&files, &Limits::default()).expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "support file \"ci\": it is also the folder of \"ci/a.yml\""
        );
    }

    #[test]
    fn count_and_size_are_limited() {
        let limits = Limits::default();
        let many: BTreeMap<String, String> = (0..=limits.max_support_files)
            .map(|i| (format!("f{i}"), String::new()))
            .collect();
        assert_eq!(
            check_support_files(&many, &limits),
            Err(SupportFileError::TooMany {
                count: 65,
                limit: 64
            })
        );
        let big = BTreeMap::from([
            (
                "a".to_owned(),
                "x".repeat(limits.max_document_bytes / 2 + 1),
            ),
            ("b".to_owned(), "x".repeat(limits.max_document_bytes / 2)),
        ]);
        let err = check_support_files(&big, &limits).expect_err("too large");
        assert!(err.to_string().contains("max_document_bytes"), "{err}");
        let small = Limits {
            max_support_files: 1,
            ..Limits::default()
        };
        let two = BTreeMap::from([
            ("a".to_owned(), String::new()),
            ("b".to_owned(), String::new()),
        ]);
        assert!(check_support_files(&two, &small).is_err());
    }
}
