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

/// How long a writer waits behind the same first marker of the queue before it passes it
/// over (its writer may have been killed).
const QUEUE_HEAD_WAIT: Duration = Duration::from_secs(3);

/// A writer that found nobody waiting looks at the queue again after this many commits.
const QUEUE_LONE_CHECK: u32 = 4;

/// The next writer in the queue polls at most this often (milliseconds, jittered down to
/// half); one `k` places further back polls about every `k` times [`QUEUE_FAR_POLL_MS`].
const QUEUE_NEXT_POLL_MS: u64 = 25;

/// See [`QUEUE_NEXT_POLL_MS`].
const QUEUE_FAR_POLL_MS: u64 = 150;

/// How long a commit stays in the queue at most before it races as without one.
const QUEUE_MAX_WAIT: Duration = Duration::from_secs(60);

/// Why a commit left the waiting queue without landing.
enum QueueExit {
    /// Go on without the queue (the remote cannot push atomically, or the queue misbehaves),
    /// with this many pushes already rejected.
    Racing(u32),
    /// A real failure.
    Failed(StoreError),
}

impl From<StoreError> for QueueExit {
    fn from(e: StoreError) -> QueueExit {
        QueueExit::Failed(e)
    }
}

/// One commit's place in the waiting queue.
struct Queued {
    state: remote::QueueState,
    /// Our marker on the remote and the commit it points at, while we wait.
    marker: Option<ObjectId>,
    /// Stale markers seen at the last look, deleted by our landing push.
    stale: Vec<(String, ObjectId)>,
    /// The first marker ahead of us and since when it has been first.
    head: Option<((String, ObjectId), std::time::Instant)>,
    /// How many markers were ahead of ours at the last look.
    position: usize,
}

impl Queued {
    fn new(state: remote::QueueState) -> Queued {
        Queued {
            state,
            marker: None,
            stale: Vec::new(),
            head: None,
            position: 0,
        }
    }

    /// Of the markers `ahead` of ours (first come first), how many we still wait for
    /// (`None`: none, our turn). A marker first for longer than [`QUEUE_HEAD_WAIT`] is
    /// passed over from then on.
    fn first_unpassed(&mut self, ahead: &[(String, ObjectId)]) -> Option<usize> {
        let waiting: Vec<&(String, ObjectId)> = ahead
            .iter()
            .filter(|m| !self.state.passed.contains(*m))
            .collect();
        let first = (*waiting.first()?).clone();
        let now = std::time::Instant::now();
        match &self.head {
            Some((m, since)) if *m == first => {
                if now.duration_since(*since) > QUEUE_HEAD_WAIT {
                    self.state.passed.insert(first);
                    self.head = None;
                    return self.first_unpassed(ahead);
                }
            }
            _ => self.head = Some((first, now)),
        }
        Some(waiting.len())
    }
}

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
        self.build_commit_by(snap, tx, None)
    }

    /// [`GitBackend::build_commit`] with `author` as the commit's author (this store's
    /// signature when `None`; the committer is always this store's): how a folded proposal
    /// keeps its writer.
    pub(super) fn build_commit_by(
        &self,
        snap: &Snapshot<'_>,
        tx: &Transaction,
        author: Option<gix::actor::Signature>,
    ) -> StoreResult<Option<ObjectId>> {
        let loc = self.location();
        let Some((new_root, _)) = self.build_root(snap, tx)? else {
            return Ok(None);
        };
        let sig = self.signature();
        let commit = gix::objs::Commit {
            message: tx.commit_message().into(),
            tree: new_root,
            author: author.unwrap_or_else(|| sig.clone()),
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
        // The objects go straight into the snapshot's object memory (written as one pack
        // before the branch moves, see `pack.rs`): `gix`'s own tree editor and `write_blob`
        // first ask the object database whether each object exists, which for a new
        // object means a miss in every pack index and a `stat` of a loose file that is not
        // there. A cascade writes hundreds of thousands of new objects; an object already
        // stored is at worst stored again in the new pack. Path components are checked as
        // `gix`'s editor checks them.
        let base = if snap.tip.is_some() {
            repo.find_tree(base_root)
                .map_err(git_err(&loc, "read tree"))?
                .decode()
                .map_err(git_err(&loc, "decode tree"))?
                .into()
        } else {
            gix::objs::Tree::empty()
        };
        let objects = &repo.objects;
        let mut editor = gix::objs::tree::Editor::new(base, objects, repo.object_hash());
        let write_blob = |bytes: &[u8]| {
            gix::objs::Write::write_buf(objects, gix::objs::Kind::Blob, bytes)
                .map_err(git_err(&loc, "write blob"))
        };
        let upsert = |editor: &mut gix::objs::tree::Editor<'_>,
                      path: &[String],
                      id: ObjectId|
         -> StoreResult<()> {
            check_components(path, &loc)?;
            editor
                .upsert(path.iter().map(String::as_str), EntryKind::Blob, id)
                .map_err(git_err(&loc, "edit tree"))?;
            Ok(())
        };
        if marker_missing {
            let marker = format!("format: {FORMAT_VERSION}\nkind: {}\n", self.kind.as_str());
            let id = write_blob(marker.as_bytes())?;
            upsert(&mut editor, &self.full_path(&[MARKER_FILE.to_string()]), id)?;
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
                    let id = write_blob(content.as_bytes())?;
                    let parts: Vec<String> = path
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    upsert(&mut editor, &parts, id)?;
                }
            }
        }
        let mut edits: Vec<_> = overlay.edits.into_iter().collect();
        edits.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, edit) in edits {
            let full = self.full_path(&path);
            match edit {
                Some(bytes) => {
                    let id = write_blob(&bytes)?;
                    upsert(&mut editor, &full, id)?;
                }
                None => {
                    editor
                        .remove(full.iter().map(String::as_str))
                        .map_err(git_err(&loc, "edit tree"))?;
                }
            }
        }
        let new_root = editor
            .write(|tree| gix::objs::Write::write(objects, tree))
            .map_err(git_err(&loc, "write tree"))?;
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

    /// [`GitBackend::commit_remote`] under the cache's commit lock: through the remote's
    /// waiting queue when [`RemoteSettings::queue_turn`](remote::RemoteSettings) is set and
    /// the remote takes atomic pushes, else [`GitBackend::commit_remote_racing`].
    pub(super) fn commit_remote_locked(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        t: &mut CommitTimings,
    ) -> StoreResult<CommitOutcome> {
        let turn = remote.settings.queue_turn;
        if turn == 0 {
            if remote.settings.fold
                && !remote::fold_state(&self.repo_path, &self.branch).unsupported
            {
                return self.commit_remote_folding(remote, tx, t);
            }
            return self.commit_remote_racing(remote, tx, t, 0);
        }
        let state = remote::queue_state(&self.repo_path, &self.branch, turn);
        if state.unsupported {
            return self.commit_remote_racing(remote, tx, t, 0);
        }
        let mut q = Queued::new(state);
        let out = self.commit_remote_queued(remote, tx, t, &mut q);
        if let Some(at) = q.marker.take() {
            // Leaving the queue without landing (an error, nothing to commit, or the remote
            // refused the atomic push): take the marker away so that nobody waits for it.
            t.pushes += 1;
            let name = remote::marker_ref(&self.branch, &q.state.writer);
            let _ = remote::delete_marker(&self.git_env, &self.repo_path, &remote.url, &name, at);
        }
        remote::set_queue_state(&self.repo_path, &self.branch, q.state.clone());
        match out {
            Err(QueueExit::Racing(retries)) => self.commit_remote_racing(remote, tx, t, retries),
            Err(QueueExit::Failed(e)) => Err(e),
            Ok(o) => Ok(o),
        }
    }

    /// The writers of separate caches take turns through a queue on the remote. A writer
    /// that lost a race registers a marker ref (`refs/ocuroot/waiting/<branch>/w-<id>`, at
    /// the tip it saw) and, from then on, pushes only when no live marker older than its own
    /// is left; its landing push deletes its marker (and stale ones) atomically with the
    /// branch update. A writer that landed lands at most `queue_turn` commits in a row
    /// without looking at the queue (a fetch of the branch and the markers, which it skips
    /// otherwise); when others wait, it joins the end of the queue before its next commit.
    /// A marker that stays first for [`QUEUE_HEAD_WAIT`] is passed over, so a killed writer
    /// blocks nobody for longer.
    fn commit_remote_queued(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        t: &mut CommitTimings,
        q: &mut Queued,
    ) -> Result<CommitOutcome, QueueExit> {
        let loc = self.location();
        let attempts = remote.settings.max_attempts.max(1);
        let turn = remote.settings.queue_turn;
        let mut rng = rand::rng();
        let mut retries = 0;
        let mut attempt = 0;
        let queue_started = std::time::Instant::now();
        let mut checked = false;
        while attempt < attempts {
            let look = q.marker.is_some()
                || attempt > 0
                || q.state.turn_left == 0
                || !remote::fetched_recently(
                    &self.repo_path,
                    &self.branch,
                    remote.settings.fetch_interval,
                );
            let mut wait = None;
            if look {
                checked = true;
                // A waiter far from its turn only asks who waits (no objects, no cache
                // update); the next in line and everyone else fetch, so that the objects of
                // the tip are there when the turn comes.
                let far = q.marker.is_some() && q.position > 1;
                let (tip, markers) = if far {
                    let (_, markers) = timed(&mut t.fetch, || {
                        remote::list_queue(
                            &self.git_env,
                            &self.repo_path,
                            &remote.url,
                            &self.branch,
                        )
                    })
                    .map_err(|f| QueueExit::Failed(self.remote_error(remote, "fetch from", f)))?;
                    // Older markers point at commits the cache has: depths are measured from
                    // the cache's tip, and markers it does not know are younger than ours.
                    (self.local_queue()?.0, markers)
                } else {
                    timed(&mut t.fetch, || self.fetch_queue(remote))?
                };
                if let Some(tip) = tip {
                    let depth = self.first_parent_depths(tip, &markers)?;
                    let (mut live, stale) = remote::order_queue(&markers, &depth);
                    live.retain(|m| !q.state.passed.contains(&(m.writer.clone(), m.at)));
                    if !far {
                        q.stale = stale.iter().map(|m| (m.writer.clone(), m.at)).collect();
                    }
                    let me = &q.state.writer;
                    let others = live.iter().filter(|m| &m.writer != me).count();
                    let ours_live = live.iter().any(|m| &m.writer == me);
                    if q.marker.is_some() && !ours_live {
                        // Our marker went away (deleted as stale by another writer): join
                        // again.
                        q.marker = None;
                    }
                    if q.marker.is_none() && (attempt > 0 || others > 0) {
                        // Lost a race, or others are waiting and our turn is over: join the
                        // end of the queue.
                        let name = remote::marker_ref(&self.branch, me);
                        t.pushes += 1;
                        timed(&mut t.push, || {
                            remote::push_marker(
                                &self.git_env,
                                &self.repo_path,
                                &remote.url,
                                &name,
                                tip,
                            )
                        })
                        .map_err(|f| QueueExit::Failed(self.remote_error(remote, "push to", f)))?;
                        q.marker = Some(tip);
                        // We are the youngest, unless we already were in the queue.
                        if !ours_live {
                            let ahead: Vec<_> = live
                                .iter()
                                .filter(|m| &m.writer != me)
                                .map(|m| (m.writer.clone(), m.at))
                                .collect();
                            wait = q.first_unpassed(&ahead);
                        }
                    } else if q.marker.is_some() {
                        let ahead: Vec<_> = live
                            .iter()
                            .take_while(|m| &m.writer != me)
                            .map(|m| (m.writer.clone(), m.at))
                            .collect();
                        wait = q.first_unpassed(&ahead);
                    }
                }
            }
            q.position = wait.unwrap_or(0);
            if let Some(position) = wait {
                if queue_started.elapsed() > QUEUE_MAX_WAIT {
                    // Something is badly wrong with the queue: race as before.
                    return Err(QueueExit::Racing(retries));
                }
                // Those ahead take their turns; poll the sooner the nearer ours is.
                // The next in line polls often (the turn passes when the current writer's
                // marker goes); the others only need to notice that they became next within
                // about a turn, and each poll is a `git` process on the remote and here.
                let cap = if position <= 1 {
                    QUEUE_NEXT_POLL_MS
                } else {
                    (QUEUE_FAR_POLL_MS * (position as u64 - 1)).min(1000)
                };
                timed(&mut t.backoff, || {
                    std::thread::sleep(Duration::from_millis(rng.random_range(cap / 2..=cap)));
                });
                continue;
            }
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
            let me = q.state.writer.clone();
            let mut deletions: Vec<(String, ObjectId)> = Vec::new();
            if let Some(at) = q.marker {
                deletions.push((remote::marker_ref(&self.branch, &me), at));
                for (writer, at) in q.stale.iter().chain(&q.state.passed) {
                    if *writer != me {
                        deletions.push((remote::marker_ref(&self.branch, writer), *at));
                    }
                }
            }
            let update = remote::BranchUpdate {
                branch: &self.branch,
                new: commit_id,
                expected: snap.tip,
            };
            t.pushes += 1;
            let outcome = timed(&mut t.push, || {
                remote::push_with_deletions(
                    &self.git_env,
                    &self.repo_path,
                    &remote.url,
                    &[update],
                    &deletions,
                )
            });
            let outcome = match outcome {
                Ok(o) => o,
                // The branch did not move: a marker not at its lease may be why (another
                // writer deleted it); the loop without the queue decides.
                Err(_) if !deletions.is_empty() => return Err(QueueExit::Racing(retries)),
                Err(f) => return Err(QueueExit::Failed(self.remote_error(remote, "push to", f))),
            };
            attempt += 1;
            match outcome {
                PushOutcome::Accepted => {
                    let _ = self.update_ref(&snap.repo, snap.tip, commit_id, tx.message());
                    remote::mark_fetched(&self.repo_path, &self.branch);
                    if deletions.len() > 1 {
                        // Deleted with our marker: nobody waits for them any more.
                        q.state.passed.clear();
                    }
                    q.state.turn_left = if q.marker.take().is_some() {
                        turn - 1
                    } else if checked {
                        // Nobody waited: look again after a longer stretch.
                        turn.max(QUEUE_LONE_CHECK) - 1
                    } else {
                        q.state.turn_left.saturating_sub(1)
                    };
                    return Ok(CommitOutcome {
                        commit: Some(commit_id.to_string()),
                        retries,
                        timings: *t,
                    });
                }
                PushOutcome::Rejected => {
                    retries += 1;
                    if q.marker.is_none() {
                        let cap = 2u64.saturating_pow(attempt.min(5)) * 10;
                        timed(&mut t.backoff, || {
                            std::thread::sleep(Duration::from_millis(rng.random_range(1..=cap)));
                        });
                    }
                }
                PushOutcome::AtomicUnsupported => {
                    q.state.unsupported = true;
                    return Err(QueueExit::Racing(retries));
                }
            }
        }
        Err(QueueExit::Failed(StoreError::Conflict {
            location: loc,
            attempts,
        }))
    }

    /// Fetches the branch and its waiting queue (one `git fetch`) and reads both from the
    /// cache.
    fn fetch_queue(
        &self,
        remote: &RemoteState,
    ) -> StoreResult<(Option<ObjectId>, Vec<remote::Marker>)> {
        remote::fetch_queue(&self.git_env, &self.repo_path, &remote.url, &self.branch)
            .map_err(|f| self.remote_error(remote, "fetch from", f))?;
        remote::mark_fetched(&self.repo_path, &self.branch);
        let _ = crate::store::maintenance::maintain(&self.repo_path, &self.git_env);
        self.local_queue()
    }

    /// The cache's tip of the branch and the markers of its waiting queue as last fetched.
    fn local_queue(&self) -> StoreResult<(Option<ObjectId>, Vec<remote::Marker>)> {
        let loc = self.location();
        let repo = self.local();
        let tip = self.tip(&repo)?;
        let refs = repo.references().map_err(git_err(&loc, "read refs"))?;
        let mut markers = Vec::new();
        for r in refs.all().map_err(git_err(&loc, "read refs"))? {
            let Ok(mut r) = r else { continue };
            let name = r.name().as_bstr().to_string();
            let Some(writer) = remote::marker_writer(&self.branch, &name) else {
                continue;
            };
            let writer = writer.to_string();
            if let Ok(id) = r.peel_to_id() {
                markers.push(remote::Marker {
                    writer,
                    at: id.detach(),
                });
            }
        }
        Ok((tip, markers))
    }

    /// How many first-parent steps below `tip` the commits of `markers` are, walking at most
    /// [`remote::STALE_DEPTH`] commits (and no further than the deepest marker).
    fn first_parent_depths(
        &self,
        tip: ObjectId,
        markers: &[remote::Marker],
    ) -> StoreResult<std::collections::HashMap<ObjectId, usize>> {
        let loc = self.location();
        let mut wanted: std::collections::HashSet<ObjectId> =
            markers.iter().map(|m| m.at).collect();
        let mut depth = std::collections::HashMap::new();
        if wanted.is_empty() {
            return Ok(depth);
        }
        let repo = self.local();
        let mut cur = Some(tip);
        let mut d = 0;
        while let Some(id) = cur {
            if d >= remote::STALE_DEPTH || wanted.is_empty() {
                break;
            }
            if wanted.remove(&id) {
                depth.insert(id, d);
            }
            let commit = repo.find_commit(id).map_err(git_err(&loc, "read commit"))?;
            cur = commit.parent_ids().next().map(|p| p.detach());
            d += 1;
        }
        Ok(depth)
    }

    /// The loop before the waiting queue, and for remotes without atomic pushes: whose push
    /// arrives first wins; a rejected push fetches, re-applies the operations on the new tip
    /// and tries again after a jittered exponential back-off. `retries` counts the pushes
    /// already rejected for this transaction.
    pub(super) fn commit_remote_racing(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        t: &mut CommitTimings,
        mut retries: u32,
    ) -> StoreResult<CommitOutcome> {
        let loc = self.location();
        let attempts = remote.settings.max_attempts.max(1);
        let mut rng = rand::rng();
        for attempt in 0..attempts {
            timed(&mut t.fetch, || {
                if attempt > 0 || retries > 0 {
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
            t.pushes += 1;
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

/// Refuses a path component that `gix`'s tree editor would refuse (empty, `.`, `..`, a
/// slash, `.git` and its look-alikes): the store's own paths never hold one, and a tree
/// must not either, whatever asked for it.
fn check_components(path: &[String], loc: &str) -> StoreResult<()> {
    for c in path {
        gix::validate::path::component(
            c.as_str().into(),
            None,
            gix::validate::path::component::Options::default(),
        )
        .map_err(git_err(
            loc,
            format!("edit tree: invalid path component {c:?}"),
        ))?;
    }
    Ok(())
}
