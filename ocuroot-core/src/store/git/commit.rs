//! Committing a transaction: its operations applied to the tip's tree ([`super::overlay`]),
//! written as one commit, and the branch moved by compare-and-swap.
//!
//! A local store moves its branch with [`GitBackend::update_ref`]; a lost race (the branch
//! moved, or its lock was held past the timeout) re-reads the tip and re-applies the
//! operations with jittered back-off. A remote store commits on the remote's tip and pushes
//! with a lease on it, under the cache's commit lock; the cache's branch moves only after
//! the push was accepted. Two stores in one remote share one push
//! ([`GitBackend::commit_joint`]). Create-only and expect operations re-check on every
//! attempt, so concurrent writers never lose each other's writes.

use std::time::Duration;

use gix::ObjectId;
use gix::objs::tree::EntryKind;
use rand::Rng;

use super::overlay::Overlay;
use super::{GitBackend, RemoteState, Snapshot, git_err, timed};
use crate::store::layout::{FORMAT_VERSION, MARKER_FILE};
use crate::store::remote::{self, PushOutcome, RemoteFailure};
use crate::store::{CommitOutcome, CommitTimings, StoreError, StoreResult, Transaction};

impl GitBackend {
    /// A read view of the tip as `tx` would leave it, without committing: the new trees
    /// are written to the object database (unreferenced until a commit uses them), the
    /// branch does not move. The view's commit is the tip it was built on.
    pub(crate) fn preview(&self, tx: &Transaction) -> StoreResult<Snapshot<'_>> {
        // The preview's trees stay in memory: nothing of a preview reaches the disk.
        let snap = self.snapshot()?.buffer_writes();
        let Some((root, _)) = self.build_root(&snap, tx)? else {
            return Ok(snap);
        };
        let tree = self.folder_tree(&snap.repo, root)?;
        Ok(Snapshot { tree, ..snap })
    }

    pub(super) fn signature(&self) -> gix::actor::Signature {
        let now = self.clock.now();
        gix::actor::Signature {
            name: self.author.name.as_str().into(),
            email: self.author.email.as_str().into(),
            time: gix::date::Time {
                seconds: now.seconds,
                offset: 0,
            },
        }
    }

    /// Builds the commit of `tx` on top of `snap`; `None` when the operations change nothing.
    pub(super) fn build_commit(
        &self,
        snap: &Snapshot<'_>,
        tx: &Transaction,
    ) -> StoreResult<Option<ObjectId>> {
        let loc = self.location();
        let Some((new_root, _)) = self.build_root(snap, tx)? else {
            return Ok(None);
        };
        let sig = self.signature();
        let commit = gix::objs::Commit {
            message: tx.commit_message().into(),
            tree: new_root,
            author: sig.clone(),
            committer: sig,
            encoding: None,
            parents: snap.tip.into_iter().collect(),
            extra_headers: Vec::new(),
        };
        Ok(Some(
            snap.repo
                .write_object(&commit)
                .map_err(git_err(&loc, "write commit"))?
                .detach(),
        ))
    }

    /// Applies `tx` to the branch root tree of `snap` and writes the new root tree.
    /// Returns the new and the old root, or `None` when the operations change nothing.
    pub(super) fn build_root(
        &self,
        snap: &Snapshot<'_>,
        tx: &Transaction,
    ) -> StoreResult<Option<(ObjectId, ObjectId)>> {
        let loc = self.location();
        let repo = &snap.repo;
        let mut overlay = Overlay::new(snap);
        for op in tx.ops() {
            overlay.apply(op)?;
        }
        if overlay.edits.is_empty() {
            return Ok(None);
        }
        let marker_missing = snap.read_file(&[MARKER_FILE.to_string()])?.is_none();
        // Build the new root tree.
        let base_root = match snap.tip {
            Some(tip) => repo
                .find_commit(tip)
                .map_err(git_err(&loc, "read commit"))?
                .tree_id()
                .map_err(git_err(&loc, "read commit tree"))?
                .detach(),
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let mut editor = repo
            .edit_tree(base_root)
            .map_err(git_err(&loc, "edit tree"))?;
        if marker_missing {
            let marker = format!("format: {FORMAT_VERSION}\nkind: {}\n", self.kind.as_str());
            let id = repo
                .write_blob(marker.as_bytes())
                .map_err(git_err(&loc, "write blob"))?;
            let path = self.full_path(&[MARKER_FILE.to_string()]);
            editor
                .upsert(path.join("/").as_str(), EntryKind::Blob, id.detach())
                .map_err(git_err(&loc, "edit tree"))?;
        }
        if let Some(remote) = &self.remote
            && !remote.support_files.is_empty()
        {
            // Support files sit at the branch root and are written only when missing, so a
            // person may change them later by hand.
            let root = repo
                .find_tree(base_root)
                .map_err(git_err(&loc, "read tree"))?;
            for (path, content) in &remote.support_files {
                let present = root
                    .lookup_entry(path.split('/').filter(|s| !s.is_empty()))
                    .map_err(git_err(&loc, "read tree"))?
                    .is_some();
                if !present {
                    let id = repo
                        .write_blob(content.as_bytes())
                        .map_err(git_err(&loc, "write blob"))?;
                    editor
                        .upsert(path.as_str(), EntryKind::Blob, id.detach())
                        .map_err(git_err(&loc, "edit tree"))?;
                }
            }
        }
        let mut edits: Vec<_> = overlay.edits.into_iter().collect();
        edits.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, edit) in edits {
            let full = self.full_path(&path);
            match edit {
                Some(bytes) => {
                    let id = repo
                        .write_blob(&bytes)
                        .map_err(git_err(&loc, "write blob"))?;
                    editor
                        .upsert(full.join("/").as_str(), EntryKind::Blob, id.detach())
                        .map_err(git_err(&loc, "edit tree"))?;
                }
                None => {
                    editor
                        .remove(full.join("/").as_str())
                        .map_err(git_err(&loc, "edit tree"))?;
                }
            }
        }
        let new_root = editor
            .write()
            .map_err(git_err(&loc, "write tree"))?
            .detach();
        if new_root == base_root {
            return Ok(None);
        }
        Ok(Some((new_root, base_root)))
    }

    pub(crate) fn commit(&self, tx: &Transaction) -> StoreResult<CommitOutcome> {
        if let Some(remote) = &self.remote {
            return self.commit_remote(remote, tx);
        }
        let loc = self.location();
        let mut retries = 0;
        let mut rng = rand::rng();
        for attempt in 0..self.max_attempts {
            let mut snap = self.snapshot()?.buffer_writes();
            let Some(commit_id) = self.build_commit(&snap, tx)? else {
                return Ok(CommitOutcome {
                    commit: None,
                    retries,
                    timings: CommitTimings::default(),
                });
            };
            snap.persist()?;
            match self.update_ref(&snap.repo, snap.tip, commit_id, tx.message()) {
                Ok(()) => {
                    // Best effort: the commit has landed, and a repository that could not
                    // be maintained now is only slower to read, never wrong.
                    let _ = crate::store::maintenance::maintain(&self.repo_path, &self.git_env);
                    return Ok(CommitOutcome {
                        commit: Some(commit_id.to_string()),
                        retries,
                        timings: CommitTimings::default(),
                    });
                }
                Err(err) => {
                    // Either the branch moved (compare-and-swap lost) or its lock was held past
                    // the timeout. Both are races: re-read the tip and re-apply the operations.
                    let now_tip = self.tip(&snap.repo)?;
                    let lost_race = now_tip != snap.tip || super::lock::is_lock_contention(&err);
                    if !lost_race || attempt + 1 == self.max_attempts {
                        if lost_race {
                            break;
                        }
                        return Err(git_err(&loc, "update branch")(err));
                    }
                    retries += 1;
                    let cap = 2u64.saturating_pow(attempt.min(7)) * 5;
                    std::thread::sleep(Duration::from_millis(rng.random_range(1..=cap.max(2))));
                }
            }
        }
        Err(StoreError::Conflict {
            location: loc,
            attempts: self.max_attempts,
        })
    }

    /// Commits on top of the remote's tip and pushes with a lease on that tip; a rejected
    /// push (another writer pushed first) fetches, re-applies the operations on the new tip
    /// (create-only operations re-check) and tries again with jittered back-off. The cache's
    /// branch moves only to a commit the remote accepted.
    pub(super) fn commit_remote(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
    ) -> StoreResult<CommitOutcome> {
        let loc = self.location();
        if remote.settings.offline {
            return Err(StoreError::Offline { location: loc });
        }
        let mut t = CommitTimings::default();
        let mut waited = Duration::ZERO;
        let out = remote::with_commit_lock(&self.repo_path, &mut waited, || {
            self.commit_remote_locked(remote, tx, &mut t)
        })
        .map_err(|f| self.remote_error(remote, "lock the cache of", f))?;
        out.map(|mut o| {
            o.timings.lock_wait = waited;
            o
        })
    }

    /// [`GitBackend::commit_remote`] under the cache's commit lock.
    pub(super) fn commit_remote_locked(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        t: &mut CommitTimings,
    ) -> StoreResult<CommitOutcome> {
        let loc = self.location();
        let attempts = remote.settings.max_attempts.max(1);
        let mut retries = 0;
        let mut rng = rand::rng();
        for attempt in 0..attempts {
            timed(&mut t.fetch, || {
                if attempt > 0 {
                    self.fetch_now(remote).map(|_| ())
                } else {
                    self.maybe_fetch()
                }
            })?;
            let (snap, commit_id) = timed(&mut t.build, || -> StoreResult<_> {
                let mut snap = self.snapshot_local()?.buffer_writes();
                let commit_id = self.build_commit(&snap, tx)?;
                if commit_id.is_some() {
                    snap.persist()?;
                }
                Ok((snap, commit_id))
            })?;
            let Some(commit_id) = commit_id else {
                return Ok(CommitOutcome {
                    commit: None,
                    retries,
                    timings: *t,
                });
            };
            let outcome = timed(&mut t.push, || {
                remote::push(
                    &self.git_env,
                    &self.repo_path,
                    &remote.url,
                    &self.branch,
                    commit_id,
                    snap.tip,
                )
            })
            .map_err(|f| self.remote_error(remote, "push to", f))?;
            match outcome {
                PushOutcome::Accepted => {
                    // Another process sharing this cache may have fetched a newer tip
                    // meanwhile; then the cache is already ahead and stays as it is.
                    let _ = self.update_ref(&snap.repo, snap.tip, commit_id, tx.message());
                    remote::mark_fetched(&self.repo_path, &self.branch);
                    return Ok(CommitOutcome {
                        commit: Some(commit_id.to_string()),
                        retries,
                        timings: *t,
                    });
                }
                PushOutcome::Rejected => {
                    retries += 1;
                    let cap = 2u64.saturating_pow(attempt.min(5)) * 10;
                    timed(&mut t.backoff, || {
                        std::thread::sleep(Duration::from_millis(rng.random_range(1..=cap)));
                    });
                }
                // A push of one branch is never atomic.
                PushOutcome::AtomicUnsupported => {
                    return Err(self.remote_error(
                        remote,
                        "push to",
                        RemoteFailure::Remote("the remote refused the push".to_string()),
                    ));
                }
            }
        }
        Err(StoreError::Conflict {
            location: loc,
            attempts,
        })
    }

    /// Commits `tx` to `self` and `other_tx` to `other` with a single `git push`, when both
    /// stores live in one remote (same URL, hence one cache): folders of one branch get two
    /// chained commits (`self`'s first) and one branch update; two branches are updated by
    /// one atomic push, so neither lands without the other. A lost race re-fetches, re-applies
    /// both transactions and pushes again, as [`GitBackend::commit`] does.
    ///
    /// Returns `None` when the stores cannot share a push (not both remote, two remotes,
    /// offline, or a remote without atomic pushes), having pushed nothing: the caller then
    /// commits them one after the other.
    pub(crate) fn commit_joint(
        &self,
        tx: &Transaction,
        other: &GitBackend,
        other_tx: &Transaction,
    ) -> StoreResult<Option<[CommitOutcome; 2]>> {
        let (Some(remote), Some(other_remote)) = (&self.remote, &other.remote) else {
            return Ok(None);
        };
        if remote.url != other_remote.url
            || self.repo_path != other.repo_path
            || remote.settings.offline
            || other_remote.settings.offline
        {
            return Ok(None);
        }
        let mut waited = Duration::ZERO;
        remote::with_commit_lock(&self.repo_path, &mut waited, || {
            self.commit_joint_locked(tx, other, other_tx, remote, other_remote)
        })
        .map_err(|f| self.remote_error(remote, "lock the cache of", f))?
    }

    /// [`GitBackend::commit_joint`] under the (shared) cache's commit lock.
    pub(super) fn commit_joint_locked(
        &self,
        tx: &Transaction,
        other: &GitBackend,
        other_tx: &Transaction,
        remote: &RemoteState,
        other_remote: &RemoteState,
    ) -> StoreResult<Option<[CommitOutcome; 2]>> {
        let same_branch = self.branch == other.branch;
        let attempts = remote.settings.max_attempts.max(1);
        let mut rng = rand::rng();
        // Every attempt but the last lost a race: the attempt number is the retry count.
        let outcome = |id: Option<ObjectId>, retries| CommitOutcome {
            commit: id.map(|id| id.to_string()),
            retries,
            timings: CommitTimings::default(),
        };
        for attempt in 0..attempts {
            if attempt > 0 {
                self.fetch_now(remote)?;
                if !same_branch {
                    other.fetch_now(other_remote)?;
                }
            } else {
                self.maybe_fetch()?;
                other.maybe_fetch()?;
            }
            let mut snap = self.snapshot_local()?.buffer_writes();
            let first = self.build_commit(&snap, tx)?;
            let pushed = if same_branch {
                // The other store's commit goes on top of ours, in the same repository. The
                // clone of the handle carries a copy of our buffered objects, so one pack
                // written from it holds both commits.
                let mut other_snap = other.snapshot_on(snap.repo.clone(), first.or(snap.tip))?;
                let second = other.build_commit(&other_snap, other_tx)?;
                other_snap.persist()?;
                let Some(new) = second.or(first) else {
                    return Ok(Some([outcome(None, attempt), outcome(None, attempt)]));
                };
                let update = remote::BranchUpdate {
                    branch: &self.branch,
                    new,
                    expected: snap.tip,
                };
                match remote::push_branches(&self.git_env, &self.repo_path, &remote.url, &[update])
                    .map_err(|f| self.remote_error(remote, "push to", f))?
                {
                    PushOutcome::Accepted => {
                        let _ = self.update_ref(&snap.repo, snap.tip, new, other_tx.message());
                        Some((first, second))
                    }
                    PushOutcome::Rejected => None,
                    PushOutcome::AtomicUnsupported => return Ok(None),
                }
            } else {
                let mut other_snap = other.snapshot_local()?.buffer_writes();
                let second = other.build_commit(&other_snap, other_tx)?;
                snap.persist()?;
                other_snap.persist()?;
                let mut updates = Vec::new();
                if let Some(new) = first {
                    updates.push(remote::BranchUpdate {
                        branch: &self.branch,
                        new,
                        expected: snap.tip,
                    });
                }
                if let Some(new) = second {
                    updates.push(remote::BranchUpdate {
                        branch: &other.branch,
                        new,
                        expected: other_snap.tip,
                    });
                }
                if updates.is_empty() {
                    return Ok(Some([outcome(None, attempt), outcome(None, attempt)]));
                }
                match remote::push_branches(&self.git_env, &self.repo_path, &remote.url, &updates)
                    .map_err(|f| self.remote_error(remote, "push to", f))?
                {
                    PushOutcome::Accepted => {
                        // As in `commit_remote`: a cache already ahead stays as it is.
                        if let Some(new) = first {
                            let _ = self.update_ref(&snap.repo, snap.tip, new, tx.message());
                        }
                        if let Some(new) = second {
                            let _ = other.update_ref(
                                &other_snap.repo,
                                other_snap.tip,
                                new,
                                other_tx.message(),
                            );
                        }
                        Some((first, second))
                    }
                    PushOutcome::Rejected => None,
                    PushOutcome::AtomicUnsupported => return Ok(None),
                }
            };
            if let Some((first, second)) = pushed {
                remote::mark_fetched(&self.repo_path, &self.branch);
                remote::mark_fetched(&other.repo_path, &other.branch);
                return Ok(Some([outcome(first, attempt), outcome(second, attempt)]));
            }
            let cap = 2u64.saturating_pow(attempt.min(5)) * 10;
            std::thread::sleep(Duration::from_millis(rng.random_range(1..=cap)));
        }
        Err(StoreError::Conflict {
            location: self.location(),
            attempts,
        })
    }
}
