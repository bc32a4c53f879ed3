//! `ocuroot push` (spec §6.11): release what changed since the last handled commit, then
//! cascade.
//!
//! The push index (`<repo>/-/repo.ocu.star/@<commit>/push/index`, linked from
//! `<repo>/-/repo.ocu.star/@/push/index`) records the last commit `push` handled and, per
//! package file, the paths its runs asked to watch (`done(watch=[…])`). The next push
//! releases the package files changed between that commit and the current one, plus every
//! package watching a changed path, minus the files matching `release_ignore`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::cascade::CascadeScope;
use super::work::{WorkItem, WorkType};
use super::{Engine, EngineError, EngineResult, ProgressEvent, decode, ref_of};
use crate::config::REPO_CONFIG_FILE;
use crate::model::{self, RunDoc};
use crate::refs::SubpathType;
use crate::refs::glob::escape;
use crate::refs::{Glob, Ref};
use crate::store::{Area, MatchOptions, Transaction};

/// The push index document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushIndex {
    /// The commit this index was written for.
    pub commit: String,
    /// The commit handled before it (`""` for the first push).
    #[serde(default)]
    pub previous_commit: String,
    /// Per package file: the repository-relative paths whose change re-releases it.
    #[serde(default)]
    pub packages: BTreeMap<String, PushPackage>,
}

/// What the push index records of one package file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPackage {
    /// Path prefixes (repository-relative) from `done(watch=[…])`.
    #[serde(default)]
    pub watch_files: Vec<String>,
}

/// What `push` would release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPlan {
    /// The commit handled by the previous push, if any.
    pub previous: Option<String>,
    /// The package files to release (relative to the repository root), sorted.
    pub files: Vec<String>,
    /// The `release` work items for them.
    pub items: Vec<WorkItem>,
    /// The index before this push.
    index: PushIndex,
}

/// What `push` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushReport {
    /// The package files released.
    pub files: Vec<String>,
    /// Whether some release ended failed.
    pub failed: bool,
}

impl Engine {
    fn push_index_link(&self) -> EngineResult<Option<Ref>> {
        self.cx
            .repo_name
            .as_ref()
            .map(|repo| Ok(Ref::repo_config(repo, "").with_subpath(SubpathType::Push, "index")))
            .transpose()
    }

    /// Works out what `push` releases at the current commit, without doing it.
    ///
    /// # Errors
    ///
    /// [`EngineError::Uncommitted`] when the checkout has uncommitted, staged or untracked
    /// changes; [`EngineError::Git`] for history it cannot read; store errors.
    pub fn push_plan(&self) -> EngineResult<PushPlan> {
        let repo_name = self
            .cx
            .repo_name
            .clone()
            .ok_or_else(|| EngineError::NoRepoName)?;
        let git = SourceRepo::open(&self.cx.root)?;
        let changed = git.uncommitted()?;
        if !changed.is_empty() {
            return Err(EngineError::Uncommitted { files: changed });
        }
        let commit = self.cx.commit_name().to_string();
        let link = self.push_index_link()?.expect("repository name is known");
        let index: PushIndex = match self.cx.state.try_get(&link)? {
            Some(v) => decode(&link, "push index", v)?,
            None => PushIndex::default(),
        };
        let previous = (!index.commit.is_empty()).then(|| index.commit.clone());
        let mut files: BTreeSet<String> = BTreeSet::new();
        match &previous {
            // Already handled: nothing to release again (a re-run only cascades).
            Some(prev) if *prev == commit => {}
            Some(prev) => {
                let paths = git.changed_paths(prev, &commit)?;
                for path in &paths {
                    if is_package_file(path) && self.cx.root.join(path).is_file() {
                        files.insert(path.clone());
                    }
                }
                for (file, pkg) in &index.packages {
                    let watched = pkg.watch_files.iter().any(|w| {
                        paths
                            .iter()
                            .any(|p| p.starts_with(w.trim_start_matches("./")))
                    });
                    if watched && self.cx.root.join(file).is_file() {
                        files.insert(file.clone());
                    }
                }
            }
            None => {
                for path in git.files_at_head()? {
                    if is_package_file(&path) {
                        files.insert(path);
                    }
                }
            }
        }
        let ignore = self
            .cx
            .config
            .release_ignore
            .iter()
            .map(|g| Glob::new(g))
            .collect::<Result<Vec<_>, _>>()?;
        let files: Vec<String> = files
            .into_iter()
            .filter(|f| !ignore.iter().any(|g| g.matches(f)))
            .collect();
        let items = files
            .iter()
            .map(|f| {
                Ok(WorkItem {
                    r: ref_of(&format!("{}/-/{f}", escape(&repo_name)))?,
                    work_type: WorkType::Release,
                    commit: commit.clone(),
                })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(PushPlan {
            previous,
            files,
            items,
            index,
        })
    }

    /// Releases what changed (see [`Engine::push_plan`]), cascades, and records the new
    /// push index.
    ///
    /// # Errors
    ///
    /// As [`Engine::push_plan`], [`Engine::cascade`].
    pub fn push(&self) -> EngineResult<PushReport> {
        let plan = self.push_plan()?;
        let commit = self.cx.commit_name().to_string();
        if plan.files.is_empty() {
            self.progress(ProgressEvent::Message(
                "no package files changed since the last push".to_string(),
            ));
        }
        let mut failed = self.execute_in_checkouts(&plan.items)?;
        failed |= self.cascade(CascadeScope::ThisProcess)?.failed;
        let mut index = plan.index;
        if index.commit != commit {
            index.previous_commit = std::mem::take(&mut index.commit);
            index.commit = commit.clone();
        }
        for file in &plan.files {
            let watch = self.watch_files(file, &commit)?;
            index
                .packages
                .insert(file.clone(), PushPackage { watch_files: watch });
        }
        let repo = self.cx.repo_name.clone().unwrap_or_default();
        let at = Ref::repo_config(&repo, &commit).with_subpath(SubpathType::Push, "index");
        let link = self.push_index_link()?.expect("repository name is known");
        let mut tx = Transaction::new(format!("push index\n\n{at}"));
        tx.set(&at, model::to_json(&index));
        tx.link(&link, &at);
        self.cx.state.commit(&tx)?;
        Ok(PushReport {
            files: plan.files,
            failed,
        })
    }

    /// `push` in a checkout of the intent branch (spec §6.11): applies every intent change
    /// (the full intent diff: a tree diff, so its cost follows the changes), cascades, and
    /// records the checked-out commit at `@/push/intent_commit`. Returns the intent refs
    /// applied. With `dryrun`, only lists them.
    ///
    /// # Errors
    ///
    /// [`EngineError::NotAnIntentCheckout`] outside an intent checkout; store and cascade errors.
    pub fn push_intent(&self, dryrun: bool) -> EngineResult<(Vec<Ref>, bool)> {
        match self.cx.store_checkout {
            Some(crate::store::StoreKind::Intent) => {}
            Some(crate::store::StoreKind::State) => {
                return Err(EngineError::PushFromState);
            }
            None => {
                return Err(EngineError::NotAnIntentCheckout);
            }
        }
        let items = self.intent_work()?;
        let refs: Vec<Ref> = items.iter().map(|i| i.r.clone()).collect();
        if dryrun {
            return Ok((refs, false));
        }
        let mut failed = self.execute_in_checkouts(&items)?;
        failed |= self.cascade(CascadeScope::ThisProcess)?.failed;
        let head = SourceRepo::open(&self.cx.root)
            .ok()
            .and_then(|g| g.repo.head_id().ok().map(|id| id.to_string()))
            .unwrap_or_default();
        let at = Ref::global(SubpathType::Push, "intent_commit");
        let mut tx = Transaction::new(format!("push index\n\n{at}"));
        tx.set(&at, serde_json::json!({ "commit": head }));
        self.cx.state.commit(&tx)?;
        Ok((refs, failed))
    }

    /// The union of `watch_files` of every run of the releases of `file` at `commit`.
    fn watch_files(&self, file: &str, commit: &str) -> EngineResult<Vec<String>> {
        let repo = self.cx.repo_name.clone().unwrap_or_default();
        let pkg = format!("{}/-/{}", escape(&repo), escape(file));
        let releases = self.cx.state.match_refs(
            Area::Records,
            &[Glob::new(&format!("{pkg}/@*/commit/{}", escape(commit)))?],
            MatchOptions { no_links: true },
        )?;
        let mut out = BTreeSet::new();
        for marker in releases {
            let release = marker.release_ref();
            let runs = self.cx.state.match_refs(
                Area::Records,
                &[Glob::below(&release, "{task,deploy}/*/*")?],
                MatchOptions { no_links: true },
            )?;
            for run in runs {
                if let Some(v) = self.cx.state.try_get(&run)? {
                    let doc: RunDoc = decode(&run, "run", v)?;
                    out.extend(doc.watch_files.unwrap_or_default());
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

fn is_package_file(path: &str) -> bool {
    path.ends_with(".ocu.star") && path.rsplit('/').next() != Some(REPO_CONFIG_FILE)
}

/// The source repository, read with `gix`.
struct SourceRepo {
    repo: gix::Repository,
    /// The ocuroot root relative to the Git work tree (`""` or `sub/dir/`).
    prefix: String,
}

fn git_error(message: impl std::fmt::Display) -> EngineError {
    EngineError::Git {
        message: message.to_string(),
    }
}

impl SourceRepo {
    fn open(root: &std::path::Path) -> EngineResult<SourceRepo> {
        let repo = gix::discover(root).map_err(|e| {
            git_error(format!(
                "{} is not in a Git repository: {e}",
                root.display()
            ))
        })?;
        let top = repo
            .workdir()
            .ok_or_else(|| git_error("push needs a checkout, not a bare repository"))?
            .to_path_buf();
        let top = top.canonicalize().unwrap_or(top);
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let rel = root
            .strip_prefix(&top)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let prefix = if rel.is_empty() {
            rel
        } else {
            format!("{rel}/")
        };
        Ok(SourceRepo { repo, prefix })
    }

    /// Strips the root prefix from a work-tree path; `None` outside the root.
    fn under_root(&self, path: &str) -> Option<String> {
        path.strip_prefix(&self.prefix).map(str::to_string)
    }

    /// Paths with uncommitted changes: modified, staged, deleted or untracked (ignored
    /// files excluded), relative to the work tree.
    fn uncommitted(&self) -> EngineResult<Vec<String>> {
        let iter = self
            .repo
            .status(gix::progress::Discard)
            .map_err(git_error)?
            .untracked_files(gix::status::UntrackedFiles::Files)
            .into_iter(None)
            .map_err(git_error)?;
        let mut out = BTreeSet::new();
        for item in iter {
            let item = item.map_err(git_error)?;
            out.insert(item.location().to_string());
        }
        Ok(out.into_iter().collect())
    }

    fn tree(&self, rev: &str) -> EngineResult<gix::Tree<'_>> {
        self.repo
            .rev_parse_single(rev)
            .map_err(|e| git_error(format!("cannot find commit {rev}: {e}")))?
            .object()
            .map_err(git_error)?
            .peel_to_tree()
            .map_err(|e| git_error(format!("cannot read the tree of {rev}: {e}")))
    }

    /// Paths (relative to the root) that differ between two commits.
    fn changed_paths(&self, from: &str, to: &str) -> EngineResult<Vec<String>> {
        let old = self.tree(from)?;
        let new = self.tree(to)?;
        let changes = self
            .repo
            .diff_tree_to_tree(Some(&old), Some(&new), None)
            .map_err(git_error)?;
        let mut out = BTreeSet::new();
        for change in changes {
            if let Some(p) = self.under_root(&change.location().to_string()) {
                out.insert(p);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Every file (relative to the root) in the tree of `HEAD`.
    fn files_at_head(&self) -> EngineResult<Vec<String>> {
        let tree = self.tree("HEAD")?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(git_error)?;
        let mut out: Vec<String> = recorder
            .records
            .into_iter()
            .filter(|e| e.mode.is_blob())
            .filter_map(|e| self.under_root(&e.filepath.to_string()))
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_files_are_star_files_except_the_repo_config() {
        assert!(is_package_file("a.ocu.star"));
        assert!(is_package_file("svc/api/package.ocu.star"));
        assert!(!is_package_file("repo.ocu.star"));
        assert!(!is_package_file("sub/repo.ocu.star"));
        assert!(!is_package_file("a.star"));
        assert!(!is_package_file("notes.txt"));
    }

    #[test]
    fn push_index_round_trips_and_tolerates_missing_fields() {
        let mut index = PushIndex {
            commit: "abc".into(),
            previous_commit: String::new(),
            packages: BTreeMap::new(),
        };
        index.packages.insert(
            "a.ocu.star".into(),
            PushPackage {
                watch_files: vec!["a.txt".into()],
            },
        );
        let text = crate::yaml::to_string(&index).expect("yaml");
        let back: PushIndex = crate::yaml::from_str(&text).expect("parse");
        assert_eq!(back, index);
        let minimal: PushIndex = crate::yaml::from_str("commit: abc\n").expect("parse");
        assert_eq!(minimal.commit, "abc");
        assert!(minimal.packages.is_empty());
    }
}
