//! The support files of a Git store (`store.git(remote, support_files = {path: content})`):
//! files a repository asks for at the root of its store branch, written once when missing.
//! They are outside input, so this module owns holding them to the
//! [limits](crate::limits) and to paths a store branch can hold ([`check_support_files`]);
//! callers check them where the store value is made, before any store is opened.

use std::collections::BTreeMap;

use crate::limits::Limits;
use crate::store::layout::{Area, MARKER_FILE};

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
