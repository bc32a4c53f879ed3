//! Store maintenance: keeps a store's repository in the shape that reads fast.
//!
//! What a read costs depends on how the objects are stored, not only on how many are read:
//!
//! - a loose object costs a file open (about 70 µs, against 2 µs from a pack);
//! - `gix` opens a pack index by checking its whole offset table, which is linear in the
//!   objects of the pack: on a store of a million objects that is about 5 M instructions in
//!   every process, whatever the command reads. A *multi-pack index* is opened in constant
//!   time, and the pack indexes it covers are then never opened.
//!
//! Our own commits write one small pack each ([`super::git`]'s pack writer), and fetches
//! write one pack each. [`maintain`] therefore (1) packs loose objects (written by other Git
//! tools), reachable or not, once there are about as many as `git gc --auto` tolerates
//! (`git pack-objects` over exactly the loose objects, then `git prune-packed`); (2) once
//! more than [`Policy::pack_limit`] packs are outside the multi-pack index, rolls packs up
//! with `git repack --geometric=2`, which merges only as many of the smallest packs as keep
//! the pack sizes a geometric progression (so the cost follows the new objects, not the
//! store, and the number of packs stays logarithmic in the objects), keeps every object of
//! the packs it merges, reachable or not, and writes a multi-pack index over the result;
//! (3) writes a multi-pack index when the packs outside it hold more than
//! [`Policy::uncovered_objects`] objects. Small packs outside the index cost a reader
//! little: their indexes are opened in time linear in their few objects. Each step is a
//! `git` process; each check is a directory listing, so a pass that has nothing to do costs
//! a few system calls. The store runs it after each commit to a local repository and after
//! each fetch into a remote store's cache; nothing in it changes what the repository holds,
//! only how.

use std::path::Path;

use super::{StoreError, StoreResult};
use crate::git_subprocess::{GitCommand, GitEnvironment};

/// Thresholds of [`maintain`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Loose objects (estimated) from which they are packed.
    pub loose_limit: usize,
    /// Packs outside the multi-pack index beyond which packs are rolled up.
    pub pack_limit: usize,
    /// Objects in packs outside the multi-pack index beyond which the index is rewritten.
    pub uncovered_objects: usize,
}

/// The loose-object threshold of `git gc --auto` (`gc.auto`); a roll-up every 16 commits;
/// a multi-pack index as soon as opening the uncovered pack indexes costs more than it.
pub(crate) const DEFAULT_POLICY: Policy = Policy {
    loose_limit: 6_700,
    pack_limit: 16,
    uncovered_objects: 20_000,
};

/// What a maintenance pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Loose objects were packed into a new pack (`git repack -d`).
    pub packed_loose: bool,
    /// Small packs were rolled up, with a new multi-pack index
    /// (`git repack --geometric=2 -d --write-midx`).
    pub merged_packs: bool,
    /// A multi-pack index was written (`git multi-pack-index write`).
    pub wrote_multi_pack_index: bool,
}

/// Brings the repository at `repo_path` (bare, or a work tree's `.git`) into the fast shape:
/// loose objects packed, few packs, a multi-pack index covering all but a few small packs.
///
/// # Errors
///
/// [`StoreError::Git`] when a `git` process cannot be started or fails; the repository is
/// then as `git` left it, which is always readable.
pub fn maintain(repo_path: &Path, env: &GitEnvironment) -> StoreResult<Maintenance> {
    maintain_with(repo_path, env, DEFAULT_POLICY)
}

pub(crate) fn maintain_with(
    repo_path: &Path,
    env: &GitEnvironment,
    policy: Policy,
) -> StoreResult<Maintenance> {
    let dot_git = repo_path.join(".git");
    let repo_path = if dot_git.is_dir() {
        dot_git.as_path()
    } else {
        repo_path
    };
    let objects = repo_path.join("objects");
    let mut done = Maintenance::default();
    if estimate_loose(&objects) >= policy.loose_limit {
        let ids = loose_objects(&objects);
        let pack_base = objects.join("pack").join("pack");
        let pack_base = pack_base.to_string_lossy();
        git_with_input(env, repo_path, &["pack-objects", "-q", &pack_base], &ids)?;
        git(env, repo_path, &["prune-packed", "-q"])?;
        done.packed_loose = true;
    }
    let uncovered = uncovered_packs(&objects);
    if uncovered.len() > policy.pack_limit {
        // `--geometric` merges whole packs with `pack-objects --stdin-packs`, which keeps
        // every object of them: a concurrent writer may be about to point a branch at an
        // object nothing references yet.
        git(
            env,
            repo_path,
            &[
                "repack",
                "--geometric=2",
                "-d",
                "--write-midx",
                "-q",
                "--no-write-bitmap-index",
            ],
        )?;
        done.merged_packs = true;
        done.wrote_multi_pack_index = true;
    } else if uncovered.iter().map(|p| p.objects).sum::<usize>() > policy.uncovered_objects {
        git(env, repo_path, &["multi-pack-index", "write"])?;
        done.wrote_multi_pack_index = true;
    }
    Ok(done)
}

/// Estimates the number of loose objects from one of the 256 fan-out folders, as
/// `git gc --auto` does: object ids are uniformly distributed.
fn estimate_loose(objects: &Path) -> usize {
    std::fs::read_dir(objects.join("17"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.file_name().len() == 38)
                .count()
        })
        .unwrap_or(0)
        * 256
}

/// The ids of all loose objects, one per line.
fn loose_objects(objects: &Path) -> String {
    let mut out = String::new();
    for i in 0..=255u8 {
        let dir = format!("{i:02x}");
        let Ok(entries) = std::fs::read_dir(objects.join(&dir)) else {
            continue;
        };
        for name in entries.filter_map(Result::ok).map(|e| e.file_name()) {
            if let Some(name) = name.to_str()
                && name.len() == 38
                && name.bytes().all(|b| b.is_ascii_hexdigit())
            {
                out.push_str(&dir);
                out.push_str(name);
                out.push('\n');
            }
        }
    }
    out
}

/// File names of the pack indexes, sorted.
fn pack_indexes(objects: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(objects.join("pack"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("pack-") && n.ends_with(".idx"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A pack that the multi-pack index does not cover.
struct Uncovered {
    /// About how many objects it holds (from the size of its index).
    objects: usize,
}

/// The packs outside the multi-pack index (all of them when there is none).
fn uncovered_packs(objects: &Path) -> Vec<Uncovered> {
    let packs = pack_indexes(objects);
    if packs.is_empty() {
        return Vec::new();
    }
    let path = objects.join("pack").join("multi-pack-index");
    let covered: std::collections::BTreeSet<String> =
        match gix::odb::pack::multi_index::File::at(&path, None) {
            Ok(midx) => midx
                .index_names()
                .iter()
                .filter_map(|p| p.to_str().map(str::to_string))
                .collect(),
            Err(_) => Default::default(),
        };
    packs
        .into_iter()
        .filter(|name| !covered.contains(name))
        .map(|name| {
            // A version-2 index: a 1,032-byte header and fan-out table, 28 bytes per object
            // (id, CRC, offset) and two trailing hashes.
            let size = std::fs::metadata(objects.join("pack").join(&name))
                .map(|m| m.len())
                .unwrap_or(0);
            Uncovered {
                objects: (size.saturating_sub(1072) / 28) as usize,
            }
        })
        .collect()
}

/// True when there is no pack, or a multi-pack index lists exactly the packs present.
#[cfg(test)]
fn multi_pack_index_is_current(objects: &Path) -> bool {
    uncovered_packs(objects).is_empty()
}

fn git(env: &GitEnvironment, repo_path: &Path, args: &[&str]) -> StoreResult<()> {
    git_with_input(env, repo_path, args, "")
}

/// Runs `git --git-dir <repo_path> <args>` with `input` on its standard input.
fn git_with_input(
    env: &GitEnvironment,
    repo_path: &Path,
    args: &[&str],
    input: &str,
) -> StoreResult<()> {
    let mut cmd = GitCommand::in_git_dir(env, repo_path);
    cmd.args(args);
    if !input.is_empty() {
        cmd.input(input);
    }
    cmd.run().map(|_| ()).map_err(|e| StoreError::Git {
        location: repo_path.display().to_string(),
        action: format!("run git {}", args.first().copied().unwrap_or_default()),
        source: Box::new(e),
    })
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests build repositories with plain `git`
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn bare_repo() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("store.git");
        gix::init_bare(&repo).expect("init");
        (dir, repo)
    }

    fn write_blobs(repo_path: &Path, n: usize) {
        let repo = gix::open(repo_path).expect("open");
        for i in 0..n {
            repo.write_blob(format!("blob {i}\n").as_bytes())
                .expect("write");
        }
    }

    fn count_loose(objects: &Path) -> usize {
        (0..256)
            .filter_map(|i| std::fs::read_dir(objects.join(format!("{i:02x}"))).ok())
            .map(|d| d.count())
            .sum()
    }

    #[test]
    fn empty_repository_needs_nothing() {
        let (_dir, repo) = bare_repo();
        assert_eq!(
            maintain(&repo, &GitEnvironment::default()).expect("maintain"),
            Maintenance::default()
        );
    }

    #[test]
    fn loose_objects_are_packed_and_indexed() {
        let (_dir, repo) = bare_repo();
        write_blobs(&repo, 3_000);
        let objects = repo.join("objects");
        let policy = Policy {
            loose_limit: 1_000,
            pack_limit: 16,
            uncovered_objects: 1_000,
        };
        // Unreachable objects too (a writer that lost a race leaves some): all of them move
        // into one pack, which a multi-pack index covers.
        let done = maintain_with(&repo, &GitEnvironment::default(), policy).expect("maintain");
        assert_eq!(
            done,
            Maintenance {
                packed_loose: true,
                merged_packs: false,
                wrote_multi_pack_index: true
            }
        );
        assert_eq!(count_loose(&objects), 0);
        assert_eq!(pack_indexes(&objects).len(), 1);
        assert!(multi_pack_index_is_current(&objects));
        // Nothing left to do: the pass is idempotent.
        let again = maintain_with(&repo, &GitEnvironment::default(), policy).expect("maintain");
        assert_eq!(again, Maintenance::default());
        // The objects read back through a fresh handle (via the multi-pack index).
        let r = gix::open(&repo).expect("open");
        let id = r.write_blob(b"blob 7\n").expect("blob").detach();
        assert_eq!(count_loose(&objects), 0, "found in the pack, not rewritten");
        assert_eq!(r.find_blob(id).expect("blob").data, b"blob 7\n");
    }

    #[test]
    fn many_packs_are_merged() {
        let (_dir, repo) = bare_repo();
        let objects = repo.join("objects");
        for i in 0..4 {
            // One pack per `git pack-objects` call over a fresh blob.
            let r = gix::open(&repo).expect("open");
            let id = r
                .write_blob(format!("pack {i}\n").as_bytes())
                .expect("blob")
                .detach();
            let mut child = Command::new("git")
                .arg("--git-dir")
                .arg(&repo)
                .args(["pack-objects", "-q", "objects/pack/pack"])
                .current_dir(&repo)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("pack-objects");
            writeln!(child.stdin.take().expect("stdin"), "{id}").expect("write");
            assert!(child.wait().expect("wait").success());
        }
        assert_eq!(pack_indexes(&objects).len(), 4);
        let done = maintain_with(
            &repo,
            &GitEnvironment::default(),
            Policy {
                loose_limit: usize::MAX,
                pack_limit: 2,
                uncovered_objects: usize::MAX,
            },
        )
        .expect("maintain");
        assert!(done.merged_packs);
        assert!(done.wrote_multi_pack_index);
        // Four packs of one object each are not a geometric progression: they merge.
        assert_eq!(pack_indexes(&objects).len(), 1);
        assert!(multi_pack_index_is_current(&objects));
    }
}
