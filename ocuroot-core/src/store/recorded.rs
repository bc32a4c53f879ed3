//! What a checkout of a store branch records about the repositories that use it.
//!
//! A folder holding a store marker (`ocuroot-store.yaml`) is a checkout of a state or
//! intent branch (spec §5.1 step 3). Commands run there open the stores of a repository
//! whose configuration the store records: state keeps each repository's `repo.ocu.star` at
//! `refs/<repo>/-/repo.ocu.star/@<commit>`, linked from `…/@`; a separate intent store keeps
//! copies under `repos/` ([`Area::Repos`]). These functions read those records straight from
//! the checked-out files (or, for an intent checkout whose state is another branch of the
//! same remote, from that branch), without opening a [`Store`](super::Store).
//!
//! Unreadable entries are skipped: a record that cannot be read names no repository.

use std::path::{Path, PathBuf};

use super::StoreKind;
use super::layout::{self, Area, MARKER_FILE};
use crate::refs::Ref;

/// The name of a repository's configuration file, as recorded in state.
const REPO_CONFIG_FILE: &str = "repo.ocu.star";

/// A store marker that cannot be read or names no known store kind.
#[derive(Debug, thiserror::Error)]
#[error("unknown repo type in {path}: {message}", path = .path.display())]
pub struct MarkerError {
    /// The marker file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// Finds the nearest folder at or above `cwd` holding a store marker
/// (`ocuroot-store.yaml`), as a checkout of a store branch has.
pub fn find_store_checkout(cwd: &Path) -> Result<Option<(PathBuf, StoreKind)>, MarkerError> {
    let Some(dir) = cwd.ancestors().find(|d| d.join(MARKER_FILE).is_file()) else {
        return Ok(None);
    };
    let path = dir.join(MARKER_FILE);
    #[derive(serde::Deserialize)]
    struct Marker {
        kind: Option<String>,
    }
    let bad = |message: String| MarkerError {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let marker: Marker = crate::yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let kind = match marker.kind.as_deref() {
        Some("state") => StoreKind::State,
        Some("intent") => StoreKind::Intent,
        other => {
            return Err(bad(format!(
                "kind is {other:?}, expected \"state\" or \"intent\""
            )));
        }
    };
    Ok(Some((dir.to_path_buf(), kind)))
}

/// The repository configurations a store folder records (`<repo>/-/repo.ocu.star/@`, the
/// document its link points at), sorted by repository name. Unreadable entries are skipped.
pub fn registered_configs(dir: &Path) -> Vec<(String, String)> {
    let refs = dir.join("refs");
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(&refs)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            // Globals (`@/…`) hold no repositories; below `-` only packages follow.
            let name = e.file_name().to_string_lossy();
            let below_dash = e
                .path()
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|p| p == "-");
            !(below_dash || e.depth() == 1 && name == "@")
        });
    for entry in walk.flatten() {
        if !entry.file_type().is_dir() || entry.file_name() != "-" {
            continue;
        }
        let link = entry
            .path()
            .join(REPO_CONFIG_FILE)
            .join("@")
            .join(layout::LINK_FILE);
        let Ok(target) = std::fs::read_to_string(&link) else {
            continue;
        };
        let Ok(target) = Ref::parse(target.trim()) else {
            continue;
        };
        let mut doc = refs.clone();
        doc.extend(target.storage_segments());
        doc.push(layout::DOC_FILE);
        let Ok(text) = std::fs::read_to_string(&doc) else {
            continue;
        };
        let Ok(config) = crate::yaml::from_str::<crate::model::RepoConfigDoc>(&text) else {
            continue;
        };
        out.push((target.repo.clone(), config.source));
    }
    out
}

/// The configurations copied into a separate intent store
/// (`repos/<repo>/-/repo.ocu.star/@/#.yaml`, see [`Area::Repos`]), sorted by
/// repository name. Unreadable entries are skipped.
pub fn copied_configs(dir: &Path) -> Vec<(String, String)> {
    let repos = dir.join(Area::Repos.dir());
    let suffix = ["-", REPO_CONFIG_FILE, "@", layout::DOC_FILE];
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&repos)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(&repos) else {
            continue;
        };
        let segs: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if segs.len() <= suffix.len() || !segs.ends_with(&suffix.map(str::to_owned)) {
            continue;
        }
        let repo = segs[..segs.len() - suffix.len()].join("/");
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if let Ok(doc) = crate::yaml::from_str::<crate::model::RepoConfigDoc>(&text) {
            out.push((repo, doc.source));
        }
    }
    out
}

/// As [`registered_configs`], read from the `state` branch of the checkout's `origin`
/// (fetched when the checkout does not have it yet). Empty when there is none.
pub fn registered_configs_on_state_branch(
    dir: &Path,
    git: &crate::git_subprocess::GitEnvironment,
) -> Vec<(String, String)> {
    const STATE: &str = "refs/remotes/origin/state";
    let read = || -> Option<Vec<(String, String)>> {
        let repo = gix::discover(dir).ok()?;
        let mut reference = repo.find_reference(STATE).ok()?;
        let tree = reference.peel_to_commit().ok()?.tree().ok()?;
        let refs = tree
            .lookup_entry_by_path("refs")
            .ok()??
            .object()
            .ok()?
            .into_tree();
        let mut targets = Vec::new();
        collect_config_links(&refs, true, &mut targets);
        let mut out = Vec::new();
        for target in targets {
            let mut path = target.storage_segments();
            path.push(layout::DOC_FILE.to_string());
            let Some(entry) = refs.lookup_entry_by_path(path.join("/")).ok().flatten() else {
                continue;
            };
            let Some(blob) = entry.object().ok() else {
                continue;
            };
            let text = String::from_utf8_lossy(&blob.data).into_owned();
            if let Ok(doc) = crate::yaml::from_str::<crate::model::RepoConfigDoc>(&text) {
                out.push((target.repo.clone(), doc.source));
            }
        }
        Some(out)
    };
    if let Some(found) = read() {
        return found;
    }
    // The checkout lacks the state branch: fetch it (`gix` has no simple fetch of one
    // refspec into an existing checkout, so this uses the `git` binary).
    let fetched = crate::git_subprocess::GitCommand::in_dir(git, dir)
        .args(["fetch", "-q", "origin", &format!("+state:{STATE}")])
        .succeeds();
    if fetched {
        read().unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// Collects the targets of `<repo>/-/repo.ocu.star/@` links below a `refs/` tree.
fn collect_config_links(tree: &gix::Tree<'_>, top: bool, out: &mut Vec<Ref>) {
    for entry in tree.iter().flatten() {
        if !entry.mode().is_tree() {
            continue;
        }
        let name = entry.filename().to_string();
        if top && name == "@" {
            continue;
        }
        let Ok(object) = entry.object() else {
            continue;
        };
        let child = object.into_tree();
        if name == "-" {
            let link = format!("{}/@/{}", REPO_CONFIG_FILE, layout::LINK_FILE);
            if let Ok(Some(entry)) = child.lookup_entry_by_path(link)
                && let Ok(blob) = entry.object()
                && let Ok(target) = Ref::parse(String::from_utf8_lossy(&blob.data).trim())
            {
                out.push(target);
            }
            continue;
        }
        collect_config_links(&child, false, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn store_checkouts_are_found_by_their_marker() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("store/intent");
        write(&dir.join(MARKER_FILE), "format: 1\nkind: intent\n");
        let deep = dir.join("refs/x");
        std::fs::create_dir_all(&deep).expect("mkdir");
        let (found, kind) = find_store_checkout(&deep)
            .expect("readable")
            .expect("found");
        assert_eq!(found, dir);
        assert_eq!(kind, StoreKind::Intent);
        assert!(find_store_checkout(tmp.path()).expect("readable").is_none());
        write(&dir.join(MARKER_FILE), "format: 1\nkind: cache\n");
        let err = find_store_checkout(&dir).expect_err("unknown kind");
        assert!(err.to_string().contains("unknown repo type"), "{err}");
    }

    #[test]
    fn copied_configs_are_read_from_the_repos_folder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repos = tmp.path().join("repos");
        for repo in ["b/repo", "a"] {
            write(
                &repos.join(format!("{repo}/-/repo.ocu.star/@/#.yaml")),
                &format!("Remotes: []\ncommit: c1\nsource: \"repo_alias('{repo}')\"\n"),
            );
        }
        // Anything else below `repos/` is ignored.
        write(&repos.join("a/-/other.ocu.star/@/#.yaml"), "source: x\n");
        write(&repos.join("-/repo.ocu.star/@/#.yaml"), "source: x\n");
        assert_eq!(
            copied_configs(tmp.path()),
            vec![
                ("a".to_string(), "repo_alias('a')".to_string()),
                ("b/repo".to_string(), "repo_alias('b/repo')".to_string()),
            ]
        );
        assert!(copied_configs(&tmp.path().join("missing")).is_empty());
    }

    #[test]
    fn registered_configs_follow_the_repo_config_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let refs = tmp.path().join("refs");
        for (repo, commit) in [("b/repo", "c2"), ("a", "c1")] {
            write(
                &refs.join(format!("{repo}/-/repo.ocu.star/@/#.link")),
                &format!("{repo}/-/repo.ocu.star/@{commit}\n"),
            );
            write(
                &refs.join(format!("{repo}/-/repo.ocu.star/@{commit}/#.yaml")),
                &format!("Remotes: []\nsource: \"repo_alias('{repo}')\"\n"),
            );
        }
        // A package folder below `-` is not searched, a global `@` folder is skipped.
        write(&refs.join("@/custom/x/#.yaml"), "1\n");
        write(&refs.join("a/-/pkg.ocu.star/@r1/#.yaml"), "{}\n");
        let configs = registered_configs(tmp.path());
        assert_eq!(
            configs,
            vec![
                ("a".to_string(), "repo_alias('a')".to_string()),
                ("b/repo".to_string(), "repo_alias('b/repo')".to_string()),
            ]
        );
    }
}
