//! `find-deploys`: which current deployments run code from a range of commits (spec §5.2).
//!
//! [`commits_between`] walks the source repository's history with `gix`: END and its
//! ancestors back to START (inclusive), that is every commit reachable from END that is not
//! reachable from START, plus START itself. Merged side branches count: a commit that came
//! in through a merge after START is "between" START and END. The walk visits at most
//! [`MAX_DEPTH`] commits, as the original tool did.
//!
//! [`find_deploys`] then maps every current deployment of the repository
//! (`<repo>/-/**/@/deploy/*` in state) to the commit its release was made from and keeps the
//! deployments whose commit is in that range. Unlike the original, several deployments of
//! releases made at the same commit are all reported, not only the last one found.
//!
//! Revisions are whatever `git rev-parse` accepts for a commit: full or short hashes, branch
//! and tag names, `HEAD~2`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::model::ReleaseDoc;
use crate::refs::{Glob, GlobError, Ref, RefParseError};
use crate::store::{Area, MatchOptions, StoreError};
use crate::workspace::Workspace;

/// The most commits [`commits_between`] visits before giving up.
pub const MAX_DEPTH: usize = 1000;

/// A boxed error from `gix`, kept as the source of our errors.
type GitSource = Box<dyn std::error::Error + Send + Sync>;

/// Errors of [`commits_between`] and [`find_deploys`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FindDeploysError {
    /// No Git repository holds the source directory.
    #[error("no Git repository found at {path}")]
    NoRepository {
        /// Where the search started.
        path: PathBuf,
        /// The discovery error.
        #[source]
        source: GitSource,
    },
    /// A revision does not name anything in the repository.
    #[error("unknown revision {rev:?}")]
    UnknownRevision {
        /// The revision as given.
        rev: String,
        /// Why it did not resolve.
        #[source]
        source: GitSource,
    },
    /// A revision names something that is not a commit (a tree or a blob).
    #[error("revision {rev:?} is not a commit")]
    NotACommit {
        /// The revision as given.
        rev: String,
        /// The peeling error.
        #[source]
        source: GitSource,
    },
    /// START is not an ancestor of END, so there is no range between them.
    #[error("{start} is not an ancestor of {end}")]
    NotAncestor {
        /// The start revision as given.
        start: String,
        /// The end revision as given.
        end: String,
    },
    /// The walk from END visited [`MAX_DEPTH`] commits without reaching START.
    #[error("{start} was not found within {limit} commits of the history of {end}")]
    TooDeep {
        /// The start revision as given.
        start: String,
        /// The end revision as given.
        end: String,
        /// The limit.
        limit: usize,
    },
    /// Reading the history failed.
    #[error("failed to walk the history of {rev}")]
    Walk {
        /// The revision the walk started from.
        rev: String,
        /// The Git error.
        #[source]
        source: GitSource,
    },
    /// The repository has no name, so its deployments cannot be found.
    #[error("the repository has no name")]
    NoRepoName,
    /// Reading state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A ref did not parse.
    #[error(transparent)]
    Ref(#[from] RefParseError),
    /// The deployment glob did not compile.
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// A release document does not have the expected shape.
    #[error("document {r} is not a valid release")]
    BadRelease {
        /// The release ref.
        r: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

/// The result type of this module.
pub type FindDeploysResult<T> = Result<T, FindDeploysError>;

/// Returns the commits (full hex ids) from `end` back to `start`, both included: every
/// commit reachable from `end` but not from `start`, then `start`.
///
/// The repository is discovered from `repo_dir` (a work tree or any folder in it). The order
/// is the walk's (newest first), with `start` last.
///
/// # Errors
///
/// [`FindDeploysError::UnknownRevision`] or [`FindDeploysError::NotACommit`] naming the
/// revision, [`FindDeploysError::NotAncestor`] when `start` is not an ancestor of `end`,
/// [`FindDeploysError::TooDeep`] when the walk visits [`MAX_DEPTH`] commits without
/// reaching `start`, and Git errors.
pub fn commits_between(repo_dir: &Path, start: &str, end: &str) -> FindDeploysResult<Vec<String>> {
    commits_between_limited(repo_dir, start, end, MAX_DEPTH)
}

fn commits_between_limited(
    repo_dir: &Path,
    start: &str,
    end: &str,
    limit: usize,
) -> FindDeploysResult<Vec<String>> {
    let repo = gix::discover(repo_dir).map_err(|e| FindDeploysError::NoRepository {
        path: repo_dir.to_path_buf(),
        source: Box::new(e),
    })?;
    let start_id = resolve_commit(&repo, start)?;
    let end_id = resolve_commit(&repo, end)?;
    if start_id == end_id {
        return Ok(vec![start_id.to_string()]);
    }
    let walk_error = |e: GitSource| FindDeploysError::Walk {
        rev: end.to_string(),
        source: e,
    };
    let walk = repo
        .rev_walk([end_id])
        .with_hidden([start_id])
        .all()
        .map_err(|e| walk_error(Box::new(e)))?;
    // START is an ancestor of END exactly when some commit reachable from END but not from
    // START has START as a parent: the last step of any path from END down to START.
    let mut reached_start = false;
    let mut commits = Vec::new();
    for info in walk {
        let info = info.map_err(|e| walk_error(Box::new(e)))?;
        if commits.len() == limit {
            return Err(FindDeploysError::TooDeep {
                start: start.to_string(),
                end: end.to_string(),
                limit,
            });
        }
        reached_start |= info.parent_ids.contains(&start_id);
        commits.push(info.id.to_string());
    }
    if !reached_start {
        return Err(FindDeploysError::NotAncestor {
            start: start.to_string(),
            end: end.to_string(),
        });
    }
    commits.push(start_id.to_string());
    Ok(commits)
}

fn resolve_commit(repo: &gix::Repository, rev: &str) -> FindDeploysResult<gix::ObjectId> {
    let id = repo
        .rev_parse_single(rev)
        .map_err(|e| FindDeploysError::UnknownRevision {
            rev: rev.to_string(),
            source: Box::new(GitDetail::deepest(&e)),
        })?;
    let not_commit = |e: GitSource| FindDeploysError::NotACommit {
        rev: rev.to_string(),
        source: e,
    };
    let commit = id
        .object()
        .map_err(|e| not_commit(Box::new(e)))?
        .peel_to_commit()
        .map_err(|e| not_commit(Box::new(e)))?;
    Ok(commit.id)
}

/// The most specific message of a `gix` error chain (its outer layers repeat the input and
/// its innermost is often a bare variant name such as `NotFound`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct GitDetail(String);

impl GitDetail {
    fn deepest(e: &(dyn std::error::Error + 'static)) -> GitDetail {
        let mut best = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if text.contains(' ') {
                best = text;
            }
            next = cause.source();
        }
        GitDetail(best)
    }
}

/// Returns the current deployments of the workspace's repository (the `@/deploy/<env>`
/// links, sorted) whose release was made at a commit between `start` and `end` inclusive
/// (see [`commits_between`]).
///
/// # Errors
///
/// The errors of [`commits_between`], [`FindDeploysError::NoRepoName`] for a repository
/// without a name, store errors and [`FindDeploysError::BadRelease`] for a release document
/// that does not decode.
pub fn find_deploys(ws: &Workspace, start: &str, end: &str) -> FindDeploysResult<Vec<Ref>> {
    let repo = ws.repo_name().ok_or(FindDeploysError::NoRepoName)?;
    let commits: BTreeSet<String> = commits_between(ws.root(), start, end)?
        .into_iter()
        .collect();
    let by_commit = deployments_by_commit(ws, repo)?;
    let mut out: Vec<Ref> = by_commit
        .into_iter()
        .filter(|(commit, _)| commits.contains(commit))
        .flat_map(|(_, refs)| refs)
        .collect();
    out.sort_by_key(ToString::to_string);
    Ok(out)
}

/// Maps each release commit to the current deployment links of releases made at it.
fn deployments_by_commit(
    ws: &Workspace,
    repo: &str,
) -> FindDeploysResult<BTreeMap<String, Vec<Ref>>> {
    let glob = Glob::new(&format!(
        "{}/-/**/@/deploy/*",
        crate::refs::glob::escape(repo)
    ))?;
    let mut out: BTreeMap<String, Vec<Ref>> = BTreeMap::new();
    let mut release_commits: BTreeMap<String, Option<String>> = BTreeMap::new();
    for link in ws
        .state()
        .match_refs(Area::Records, &[glob], MatchOptions::default())?
    {
        let deployment = ws.state().resolve_link(&link)?;
        let release = ws.state().resolve_link(&Ref {
            repo: deployment.repo.clone(),
            filename: deployment.filename.clone(),
            global: deployment.global,
            release: deployment.release.clone(),
            ..Ref::default()
        })?;
        let key = release.to_string();
        let commit = match release_commits.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = match ws.state().try_get(&release)? {
                    Some(v) => Some(
                        serde_json::from_value::<ReleaseDoc>(v)
                            .map_err(|source| FindDeploysError::BadRelease {
                                r: key.clone(),
                                source,
                            })?
                            .commit,
                    ),
                    None => None,
                };
                release_commits.insert(key, c.clone());
                c
            }
        };
        if let Some(commit) = commit {
            out.entry(commit).or_default().push(link);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests build repositories with plain `git`
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(dir: &Path, name: &str) -> String {
        std::fs::write(dir.join(name), name).expect("write");
        git(dir, &["add", name]);
        git(dir, &["commit", "-q", "-m", name]);
        git(dir, &["rev-parse", "HEAD"])
    }

    /// a - b - c - m (main), with a side branch d forked at a and merged at m.
    fn history() -> (tempfile::TempDir, BTreeMap<&'static str, String>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let mut ids = BTreeMap::new();
        ids.insert("a", commit(dir, "a"));
        git(dir, &["checkout", "-q", "-b", "side"]);
        ids.insert("d", commit(dir, "d"));
        git(dir, &["checkout", "-q", "main"]);
        ids.insert("b", commit(dir, "b"));
        ids.insert("c", commit(dir, "c"));
        git(dir, &["merge", "-q", "--no-ff", "-m", "m", "side"]);
        ids.insert("m", git(dir, &["rev-parse", "HEAD"]));
        (tmp, ids)
    }

    fn names(ids: &BTreeMap<&'static str, String>, commits: &[String]) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = commits
            .iter()
            .map(|c| {
                *ids.iter()
                    .find(|(_, id)| *id == c)
                    .map(|(n, _)| n)
                    .expect("known commit")
            })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn range_includes_both_ends_and_merged_commits() {
        let (tmp, ids) = history();
        let got = commits_between(tmp.path(), &ids["b"], "main").expect("range");
        assert_eq!(names(&ids, &got), ["b", "c", "d", "m"]);
        let got = commits_between(tmp.path(), &ids["a"], &ids["m"][..8]).expect("range");
        assert_eq!(names(&ids, &got), ["a", "b", "c", "d", "m"]);
        let got = commits_between(tmp.path(), "HEAD", "main").expect("range");
        assert_eq!(names(&ids, &got), ["m"]);
    }

    #[test]
    fn start_must_be_an_ancestor() {
        let (tmp, ids) = history();
        let err = commits_between(tmp.path(), &ids["c"], "side").expect_err("not ancestor");
        assert!(matches!(err, FindDeploysError::NotAncestor { .. }), "{err}");
        let err = commits_between(tmp.path(), "main", &ids["b"]).expect_err("reversed");
        assert_eq!(
            err.to_string(),
            format!("main is not an ancestor of {}", ids["b"])
        );
    }

    #[test]
    fn unknown_revisions_are_named() {
        let (tmp, _) = history();
        let err = commits_between(tmp.path(), "nope", "main").expect_err("unknown");
        assert_eq!(err.to_string(), "unknown revision \"nope\"");
        let err = commits_between(tmp.path(), "main", "deadbeef").expect_err("unknown");
        assert_eq!(err.to_string(), "unknown revision \"deadbeef\"");
    }

    #[test]
    fn the_walk_is_bounded() {
        let (tmp, ids) = history();
        let err = commits_between_limited(tmp.path(), &ids["a"], "main", 3).expect_err("too deep");
        assert!(
            matches!(err, FindDeploysError::TooDeep { limit: 3, .. }),
            "{err}"
        );
        let got = commits_between_limited(tmp.path(), &ids["b"], "main", 3).expect("fits");
        assert_eq!(got.len(), 4);
    }
}
