//! Folding: writers with separate caches land each other's transactions, so that a writer
//! that keeps losing races to the same winner does not wait for all of the winner's commits.
//!
//! A commit fetches the branch and the *proposals* (`refs/ocuroot/proposals/<branch>/<id>`)
//! in one `git fetch`, builds one commit per proposal on the tip (oldest first, each
//! with its proposer's message, trailers, author and an `Ocuroot-Proposal: <id>` trailer),
//! then its own, and pushes atomically: the branch with its lease, and the deletion of every
//! proposal it folded, each with a lease on its commit. The branch lease lands every
//! proposal at most once; the proposal leases make a proposal's landing and its author's
//! withdrawal exclude each other.
//!
//! After a lost race the writer publishes its own proposal (a commit whose parent is
//! the tip it saw, whose tree holds the serialized transaction and its deadline, and whose
//! author is the writer) and then loops: fetch; if its proposal is gone, the commit that
//! landed it is found by its trailer in the first-parent history since that tip; otherwise
//! it tries to land everything itself, deleting its own proposal too.
//!
//! Invariants:
//! - A proposal whose operations fail on the tip (a create-only document that exists, an
//!   expect that no longer holds) is skipped and left alone: only its author drops it, and
//!   gets the error by applying its transaction itself.
//! - A proposal lands only while [`LAND_MARGIN_SECS`] or more are left before its deadline
//!   ([`PROPOSAL_TTL_SECS`] after it was made, by the proposer's clock); an expired one is
//!   deleted by the next landing push. A killed writer's write therefore lands within its
//!   deadline or never, and blocks nobody.
//! - A writer reports a failure only after its proposal is withdrawn (deleted with a lease)
//!   or, when the remote cannot be asked, after its deadline has passed.
//! - A remote without atomic pushes turns folding off for the cache: the racing loop of
//!   [`super::commit`] runs instead, and the writer's proposal is deleted.
//!
//! Every attempt, the first one included, fetches the branch and the proposals (one `git
//! fetch`, not debounced): the writer that keeps winning, whose cache already holds the tip
//! it pushed, is the one that must see who waits. Measured against skipping that fetch
//! while no race was lost lately (`docs/benchmarks.md`, "Remote stores"): the same writes
//! per second, p99 4.7 s instead of 7.8 s at load 8-11, no streak of one writer's commits.
//! The writer id and whether the remote refused an atomic push live in
//! [`remote::FoldState`].

use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::objs::tree::EntryKind;
use rand::Rng;

use super::{GitBackend, RemoteState, git_err, timed};
use crate::store::remote::{self, PushOutcome};
use crate::store::{CommitOutcome, CommitTimings, StoreError, StoreResult, Transaction};

/// How long a proposal may be landed after it was made (seconds, by its writer's clock).
pub(crate) const PROPOSAL_TTL_SECS: i64 = 10;

/// A proposal with less time than this left before its deadline is not landed any more:
/// the push that would land it may take that long, and its author is about to withdraw it.
const LAND_MARGIN_SECS: i64 = 3;

/// A writer withdraws its proposal after this long (and publishes a fresh one if it loses
/// again), well before combiners stop landing it.
const WITHDRAW_AFTER: Duration = Duration::from_secs(5);

/// Lost races after which a writer publishes its proposal (1 measured better than 2: a
/// proposal out one round earlier is folded one round earlier).
const PUBLISH_AFTER: u32 = 1;

/// The file of a proposal commit's tree that holds the proposal.
const PROPOSAL_FILE: &str = "proposal.json";

/// The trailer that names the proposal a folded commit landed.
pub(crate) const PROPOSAL_TRAILER: &str = "Ocuroot-Proposal";

/// How far below the tip a writer looks for the commit that landed its proposal.
const LANDED_DEPTH: usize = 10_000;

/// The content of a proposal commit's [`PROPOSAL_FILE`].
#[derive(serde::Serialize, serde::Deserialize)]
struct ProposalDoc {
    /// Unix seconds after which the proposal must not land.
    deadline: i64,
    /// What to commit.
    transaction: Transaction,
}

/// A proposal as fetched into the cache.
struct Seen {
    /// Its ref name.
    name: String,
    /// Its id (`<writer>-<nonce>`).
    id: String,
    /// The proposal commit.
    at: ObjectId,
    /// The proposal, `None` when it cannot be read (then it counts as expired).
    doc: Option<(ProposalDoc, gix::actor::Signature)>,
}

impl Seen {
    fn deadline(&self) -> i64 {
        self.doc.as_ref().map_or(i64::MIN, |(d, _)| d.deadline)
    }
}

/// This writer's own published proposal.
struct Mine {
    name: String,
    id: String,
    at: ObjectId,
    /// The tip it was made on: the commit that lands it is above.
    base: Option<ObjectId>,
    published: Instant,
}

impl GitBackend {
    /// Commits `tx` on a remote branch, folding the proposals of other writers and
    /// proposing its own after lost races (see the module docs).
    pub(super) fn commit_remote_folding(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        t: &mut CommitTimings,
    ) -> StoreResult<CommitOutcome> {
        let mut mine: Option<Mine> = None;
        let out = self.fold_loop(remote, tx, t, &mut mine);
        let Some(m) = mine else { return out };
        // Leaving with a proposal out (an error, nothing to commit): withdraw it first. If it
        // landed meanwhile, that is the outcome.
        match self.withdraw(remote, &m, t) {
            Some(landed) => Ok(self.outcome(Some(landed), out_retries(&out), t)),
            None => out,
        }
    }

    fn outcome(&self, commit: Option<ObjectId>, retries: u32, t: &CommitTimings) -> CommitOutcome {
        CommitOutcome {
            commit: commit.map(|c| c.to_string()),
            retries,
            timings: *t,
        }
    }

    fn fold_loop(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        t: &mut CommitTimings,
        mine: &mut Option<Mine>,
    ) -> StoreResult<CommitOutcome> {
        let loc = self.location();
        let attempts = remote.settings.max_attempts.max(1);
        let state = remote::fold_state(&self.repo_path, &self.branch);
        let writer = state.writer.clone();
        let mut rng = rand::rng();
        let mut retries = 0;
        for attempt in 0..attempts {
            // Every attempt looks at the proposals, the first one too: a writer that keeps
            // winning (its cache holds the tip it pushed) is the one that must land them.
            let seen = timed(&mut t.fetch, || self.fetch_proposals(remote))?;
            if let Some(m) = mine.as_ref() {
                if !seen.iter().any(|s| s.name == m.name) {
                    // Gone: landed by another writer, or deleted as expired.
                    let landed = self.find_landed(m)?;
                    *mine = None;
                    if let Some(c) = landed {
                        return Ok(self.outcome(Some(c), retries, t));
                    }
                } else if m.published.elapsed() > WITHDRAW_AFTER {
                    let m = mine.take().expect("checked above");
                    if let Some(c) = self.withdraw(remote, &m, t) {
                        return Ok(self.outcome(Some(c), retries, t));
                    }
                }
            }
            let now = self.clock.now().seconds;
            let built = timed(&mut t.build, || self.build_folded(tx, &seen, mine, now))?;
            let Some(built) = built else {
                return Ok(self.outcome(None, retries, t));
            };
            let update = remote::BranchUpdate {
                branch: &self.branch,
                new: built.tip,
                expected: built.base,
            };
            t.pushes += 1;
            let pushed = timed(&mut t.push, || {
                remote::push_with_deletions(
                    &self.git_env,
                    &self.repo_path,
                    &remote.url,
                    &[update],
                    &built.deletions,
                )
            });
            let outcome = match pushed {
                Ok(o) => o,
                // The branch did not move: a proposal no longer at its lease (landed or
                // withdrawn meanwhile) refused the atomic push. Look again.
                Err(_) if !built.deletions.is_empty() => PushOutcome::Rejected,
                Err(f) => return Err(self.remote_error(remote, "push to", f)),
            };
            match outcome {
                PushOutcome::Accepted => {
                    let repo = self.local();
                    let _ = self.update_ref(&repo, built.base, built.tip, tx.message());
                    remote::mark_fetched(&self.repo_path, &self.branch);
                    // Our proposal, if any, was deleted by this push.
                    *mine = None;
                    return Ok(self.outcome(built.own, retries, t));
                }
                PushOutcome::Rejected => {
                    retries += 1;
                    if mine.is_none() && retries >= PUBLISH_AFTER {
                        *mine = Some(self.publish(remote, tx, built.base, &writer, t)?);
                    }
                    let cap = if mine.is_some() {
                        // Someone lands us soon, or we land everyone: look again shortly.
                        60
                    } else {
                        2u64.saturating_pow(attempt.min(5)) * 10
                    };
                    timed(&mut t.backoff, || {
                        std::thread::sleep(Duration::from_millis(rng.random_range(cap / 3..=cap)));
                    });
                }
                PushOutcome::AtomicUnsupported => {
                    remote::update_fold_state(&self.repo_path, &self.branch, |s| {
                        s.unsupported = true;
                    });
                    if let Some(m) = mine.take()
                        && let Some(c) = self.withdraw(remote, &m, t)
                    {
                        return Ok(self.outcome(Some(c), retries, t));
                    }
                    return self.commit_remote_racing(remote, tx, t, retries);
                }
            }
        }
        Err(StoreError::Conflict {
            location: loc,
            attempts,
        })
    }

    /// Fetches the branch and its proposals (one `git fetch`) and reads the proposals from
    /// the cache.
    fn fetch_proposals(&self, remote: &RemoteState) -> StoreResult<Vec<Seen>> {
        remote::fetch_proposals(&self.git_env, &self.repo_path, &remote.url, &self.branch)
            .map_err(|f| self.remote_error(remote, "fetch from", f))?;
        remote::mark_fetched(&self.repo_path, &self.branch);
        let _ = crate::store::maintenance::maintain(&self.repo_path, &self.git_env);
        let loc = self.location();
        let repo = self.local();
        let refs = repo.references().map_err(git_err(&loc, "read refs"))?;
        let mut seen = Vec::new();
        for r in refs.all().map_err(git_err(&loc, "read refs"))? {
            let Ok(mut r) = r else { continue };
            let name = r.name().as_bstr().to_string();
            let Some(id) = remote::proposal_id(&self.branch, &name) else {
                continue;
            };
            let id = id.to_string();
            let Ok(at) = r.peel_to_id() else { continue };
            let at = at.detach();
            let doc = read_proposal(&repo, at);
            seen.push(Seen { name, id, at, doc });
        }
        Ok(seen)
    }

    /// Builds, on the cache's tip, one commit per landable proposal in `seen` (oldest first)
    /// and then `tx`'s, and lists the refs the landing push deletes. `None` when nothing is
    /// to be pushed.
    fn build_folded(
        &self,
        tx: &Transaction,
        seen: &[Seen],
        mine: &Option<Mine>,
        now: i64,
    ) -> StoreResult<Option<Built>> {
        let mut snap = self.snapshot_local()?.buffer_writes();
        let base = snap.tip;
        let mut cur = base;
        let mut deletions = Vec::new();
        let mut others: Vec<&Seen> = seen
            .iter()
            .filter(|s| mine.as_ref().is_none_or(|m| m.name != s.name))
            .collect();
        others.sort_by(|a, b| a.deadline().cmp(&b.deadline()).then(a.id.cmp(&b.id)));
        for s in others {
            let Some((doc, author)) = &s.doc else {
                deletions.push((s.name.clone(), s.at));
                continue;
            };
            if doc.deadline <= now {
                // Expired: its author has given up on it (or died). Nobody lands it now.
                deletions.push((s.name.clone(), s.at));
                continue;
            }
            if doc.deadline - now < LAND_MARGIN_SECS {
                continue;
            }
            let mut ptx = doc.transaction.clone();
            ptx.trailer(PROPOSAL_TRAILER, &s.id);
            snap = self.snapshot_on(snap.repo, cur)?;
            // A proposal that fails here (its create-only document exists, its expectation
            // no longer holds) or changes nothing is left to its author.
            if let Ok(Some(c)) = self.build_commit_by(&snap, &ptx, Some(author.clone())) {
                cur = Some(c);
                deletions.push((s.name.clone(), s.at));
            }
        }
        snap = self.snapshot_on(snap.repo, cur)?;
        let own = self.build_commit(&snap, tx)?;
        if let Some(m) = mine {
            deletions.push((m.name.clone(), m.at));
        }
        let Some(tip) = own.or(cur).filter(|c| Some(*c) != base) else {
            return Ok(None);
        };
        snap.persist()?;
        Ok(Some(Built {
            base,
            tip,
            own,
            deletions,
        }))
    }

    /// Publishes `tx` as this writer's proposal, made on `base`.
    fn publish(
        &self,
        remote: &RemoteState,
        tx: &Transaction,
        base: Option<ObjectId>,
        writer: &str,
        t: &mut CommitTimings,
    ) -> StoreResult<Mine> {
        let loc = self.location();
        let now = self.clock.now().seconds;
        let doc = ProposalDoc {
            deadline: now + PROPOSAL_TTL_SECS,
            transaction: tx.clone(),
        };
        let json = serde_json::to_vec(&doc).map_err(|e| StoreError::Remote {
            remote: remote::redact(&remote.url),
            action: "serialize a proposal for".to_string(),
            detail: e.to_string(),
        })?;
        let id = format!("{writer}-{:08x}", rand::random::<u32>());
        let name = remote::proposal_ref(&self.branch, &id);
        let repo = self.local();
        let blob = repo
            .write_blob(&json)
            .map_err(git_err(&loc, "write blob"))?
            .detach();
        let mut editor = repo
            .edit_tree(ObjectId::empty_tree(repo.object_hash()))
            .map_err(git_err(&loc, "edit tree"))?;
        editor
            .upsert(PROPOSAL_FILE, EntryKind::Blob, blob)
            .map_err(git_err(&loc, "edit tree"))?;
        let tree = editor
            .write()
            .map_err(git_err(&loc, "write tree"))?
            .detach();
        let sig = self.signature();
        let commit = gix::objs::Commit {
            message: format!("ocuroot proposal {id}\n").into(),
            tree,
            author: sig.clone(),
            committer: sig,
            encoding: None,
            parents: base.into_iter().collect(),
            extra_headers: Vec::new(),
        };
        let at = repo
            .write_object(&commit)
            .map_err(git_err(&loc, "write commit"))?
            .detach();
        let published = Instant::now();
        t.pushes += 1;
        let pushed = timed(&mut t.push, || {
            remote::push_proposal(&self.git_env, &self.repo_path, &remote.url, &name, at)
        });
        let m = Mine {
            name,
            id,
            at,
            base,
            published,
        };
        if let Err(f) = pushed {
            // It may have arrived although git failed: withdraw before reporting.
            let _ = self.withdraw(remote, &m, t);
            return Err(self.remote_error(remote, "push to", f));
        }
        Ok(m)
    }

    /// Deletes this writer's proposal (with a lease). Returns the commit that landed it when
    /// it was landed meanwhile; `None` once it is sure not to land. When the remote cannot
    /// be asked, waits until its deadline has passed (nobody lands it after that).
    fn withdraw(&self, remote: &RemoteState, m: &Mine, t: &mut CommitTimings) -> Option<ObjectId> {
        t.pushes += 1;
        let deleted = timed(&mut t.push, || {
            remote::delete_marker(&self.git_env, &self.repo_path, &remote.url, &m.name, m.at)
        });
        if deleted.is_ok() {
            return None;
        }
        // Gone (landed, or deleted as expired), or the remote did not answer.
        let look = |t: &mut CommitTimings| -> Option<Option<ObjectId>> {
            let seen = timed(&mut t.fetch, || self.fetch_proposals(remote)).ok()?;
            if seen.iter().any(|s| s.name == m.name) {
                return None;
            }
            self.find_landed(m).ok()
        };
        if let Some(found) = look(t) {
            return found;
        }
        let until = m.published + Duration::from_secs(PROPOSAL_TTL_SECS as u64 + 1);
        timed(&mut t.backoff, || {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        });
        look(t).flatten()
    }

    /// The commit of the cache's branch that landed `m`: its trailer, in the first-parent
    /// history above the tip `m` was made on.
    fn find_landed(&self, m: &Mine) -> StoreResult<Option<ObjectId>> {
        let loc = self.location();
        let repo = self.local();
        let line = format!("{PROPOSAL_TRAILER}: {}", m.id);
        let mut cur = self.tip(&repo)?;
        let mut depth = 0;
        while let Some(id) = cur {
            if Some(id) == m.base || depth >= LANDED_DEPTH {
                break;
            }
            let commit = repo.find_commit(id).map_err(git_err(&loc, "read commit"))?;
            let message = commit.message_raw_sloppy().to_string();
            if message.lines().any(|l| l.trim_end() == line) {
                return Ok(Some(id));
            }
            cur = commit.parent_ids().next().map(|p| p.detach());
            depth += 1;
        }
        Ok(None)
    }
}

/// What [`GitBackend::build_folded`] built.
struct Built {
    /// The tip it was built on (the lease).
    base: Option<ObjectId>,
    /// The new tip.
    tip: ObjectId,
    /// This writer's own commit, `None` when its transaction changes nothing.
    own: Option<ObjectId>,
    /// Refs to delete with the landing push, each with the commit it must still be at.
    deletions: Vec<(String, ObjectId)>,
}

/// Reads the proposal at commit `at` and its author.
fn read_proposal(
    repo: &gix::Repository,
    at: ObjectId,
) -> Option<(ProposalDoc, gix::actor::Signature)> {
    let commit = repo.find_commit(at).ok()?;
    let author = commit.author().ok()?.to_owned().ok()?;
    let tree = commit.tree().ok()?;
    let entry = tree.lookup_entry([PROPOSAL_FILE]).ok()??;
    let blob = repo.find_object(entry.object_id()).ok()?;
    let doc: ProposalDoc = serde_json::from_slice(&blob.data).ok()?;
    Some((doc, author))
}

fn out_retries(out: &StoreResult<CommitOutcome>) -> u32 {
    out.as_ref().map_or(0, |o| o.retries)
}
