//! Moving a store's branch under its ref lock, by compare-and-swap.
//!
//! [`GitBackend::update_ref`] edits `refs/heads/<branch>` with an explicit previous value
//! (`MustExistAndMatch(tip)`, or `MustNotExist` for a new branch), waiting up to half a
//! second for the ref and packed-refs locks. A failure is either a lost race or something
//! real: [`is_lock_contention`] tells lock contention (another writer holding the lock)
//! by the error's classification, not by its text; a moved tip is seen by re-reading it.
//! Writers sharing a remote cache are serialised earlier, by the commit lock of
//! [`crate::store::remote::with_commit_lock`].

use std::time::Duration;

use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::GitBackend;

impl GitBackend {
    /// Moves the branch of `repo` from `expected` to `new` by compare-and-swap.
    pub(super) fn update_ref(
        &self,
        repo: &gix::Repository,
        expected: Option<ObjectId>,
        new: ObjectId,
        message: &str,
    ) -> Result<(), gix::Error> {
        let sig = self.signature();
        let expected = match expected {
            Some(tip) => PreviousValue::MustExistAndMatch(Target::Object(tip)),
            None => PreviousValue::MustNotExist,
        };
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: message.lines().next().unwrap_or("ocuroot").into(),
                },
                expected,
                new: Target::Object(new),
            },
            name: self.ref_name.clone(),
            deref: false,
        };
        let mut time_buf = gix::date::parse::TimeBuf::default();
        repo.refs
            .transaction()
            .prepare(
                Some(edit),
                gix::lock::acquire::Fail::AfterDurationWithBackoff(Duration::from_millis(500)),
                gix::lock::acquire::Fail::AfterDurationWithBackoff(Duration::from_millis(500)),
            )
            .and_then(|t| t.commit(Some(sig.to_ref(&mut time_buf))))
            .map(|_| ())
    }
}

/// True when a ref transaction failed because another process held the ref's (or the
/// packed refs') lock file past the timeout: `gix-lock` classifies exactly that as
/// retryable, keeping the `AlreadyExists` I/O error as its source.
pub(super) fn is_lock_contention(err: &gix::Error) -> bool {
    err.is_retryable()
        || err
            .downcast_any_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gix::ObjectId;
    use serde_json::json;

    use super::is_lock_contention;
    use crate::clock::{FixedClock, Timestamp};
    use crate::store::{Store, StoreError, StoreKind, StoreOptions, Transaction};

    fn options(path: &std::path::Path) -> StoreOptions {
        let clock = Arc::new(FixedClock(Timestamp {
            seconds: 1_767_225_600,
            nanos: 0,
        }));
        StoreOptions::new(path, "state", StoreKind::State, clock)
    }

    fn commit(store: &Store, r: &str) -> ObjectId {
        let mut tx = Transaction::new("write");
        tx.set(&r.parse().expect("ref"), json!(1));
        let id = store.commit(&tx).expect("commit").commit.expect("a commit");
        ObjectId::from_hex(id.as_bytes()).expect("hex")
    }

    #[test]
    fn a_held_ref_lock_is_told_from_a_moved_branch_by_classification() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.git");
        let store = Store::open(options(&path)).expect("open");
        let first = commit(&store, "@/custom/a");
        let second = commit(&store, "@/custom/b");
        let backend = store.backend();
        let repo = backend.local();

        // The branch is at `second`, not at the expected `first`: a failed compare-and-swap,
        // not lock contention (the caller sees the moved tip by reading it again).
        let stale = backend
            .update_ref(&repo, Some(first), first, "stale")
            .expect_err("the branch moved");
        assert!(!is_lock_contention(&stale), "{stale:?}");

        // Another writer holds the branch's lock file.
        let lock = path.join("refs/heads/state.lock");
        std::fs::write(&lock, "").expect("take the lock");
        let held = backend
            .update_ref(&repo, Some(second), first, "held")
            .expect_err("the lock is held");
        assert!(is_lock_contention(&held), "{held:?}");

        // A commit meeting a held lock treats it as a lost race: after its attempts it
        // reports a conflict, not a Git failure.
        let mut opts = options(&path);
        opts.max_attempts = 2;
        let contended = Store::open(opts).expect("open");
        let mut tx = Transaction::new("contended");
        tx.set(&"@/custom/c".parse().expect("ref"), json!(1));
        let err = contended.commit(&tx).expect_err("the lock is held");
        assert!(
            matches!(err, StoreError::Conflict { attempts: 2, .. }),
            "{err:?}"
        );
        std::fs::remove_file(&lock).expect("release the lock");
        contended
            .commit(&tx)
            .expect("commit after the lock is released");
    }
}
