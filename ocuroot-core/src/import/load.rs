//! Reading an original store's files: from a folder, a local Git branch or a remote
//! fetched into a cache under `$OCUROOT_HOME/imports/`, and deciding between one store at
//! the root and the single-backend `state/` + `intent/` layout ([`split_layout`]). Parsing
//! the files is [`super::parse`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Detail, INFO_FILE, ImportError, Source, is_url};
use crate::store::remote;

/// A source's files, relative to its root.
pub(super) type Files = BTreeMap<String, Vec<u8>>;

/// One original store's files (paths relative to the store folder).
pub(super) struct RawStore {
    pub(super) label: String,
    pub(super) files: Files,
}

pub(super) enum Layout {
    Single(RawStore),
    Both { state: RawStore, intent: RawStore },
}

/// Decides between one store at the root and the single-backend `state/` + `intent/`.
pub(super) fn split_layout(label: &str, files: Files) -> Result<Layout, ImportError> {
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
pub(super) fn load(
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
