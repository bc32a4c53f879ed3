//! The intent diff: intent documents against the state store's applied-intent mirror.
//!
//! Both sides are Git trees, so the diff walks them together and skips every subtree whose
//! object id is equal on both sides. Object ids are content hashes, so this works even when
//! intent and state live in different repositories, and its cost follows the number of
//! changed documents, not the size of the store.

use std::fmt;

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use super::git::Snapshot;
use super::layout::{Area, DOC_FILE};
use super::{Store, StoreResult};
use crate::refs::Ref;

/// How an intent document differs from what state has applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiffKind {
    /// Intent has a document that state has not applied.
    Create,
    /// Both have the document, with different content.
    Update,
    /// State applied a document that intent no longer has.
    Delete,
}

impl DiffKind {
    /// The work type name used in work items (`create`, `update`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Create => "create",
            DiffKind::Update => "update",
            DiffKind::Delete => "delete",
        }
    }
}

impl fmt::Display for DiffKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One differing ref.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiffEntry {
    /// The intent ref.
    pub r: Ref,
    /// How it differs.
    pub kind: DiffKind,
}

/// Returns the refs whose intent differs from the state store's applied mirror, sorted by ref.
///
/// # Errors
///
/// Fails on Git errors or an unsupported store format on either side.
pub fn diff_intent(intent: &Store, state: &Store) -> StoreResult<Vec<DiffEntry>> {
    diff_snapshots(&intent.backend().snapshot()?, &state.backend().snapshot()?)
}

/// Like [`diff_intent`], for the intent as of revision `rev` of the intent repository (a
/// branch such as a pull request's, or a commit id).
///
/// # Errors
///
/// Fails when `rev` does not resolve, and as [`diff_intent`].
pub fn diff_intent_at(intent: &Store, rev: &str, state: &Store) -> StoreResult<Vec<DiffEntry>> {
    diff_snapshots(
        &intent.backend().snapshot_at(rev)?,
        &state.backend().snapshot()?,
    )
}

/// Like [`diff_intent`], between two views already taken (intent records against state's
/// applied mirror), so callers that read documents afterwards reuse the views' caches.
///
/// # Errors
///
/// Git errors.
pub fn diff_views(
    intent: &super::View<'_>,
    state: &super::View<'_>,
) -> StoreResult<Vec<DiffEntry>> {
    diff_snapshots(intent.snapshot(), state.snapshot())
}

fn diff_snapshots(
    intent_snap: &Snapshot<'_>,
    state_snap: &Snapshot<'_>,
) -> StoreResult<Vec<DiffEntry>> {
    let left = intent_snap.area_tree(Area::Records)?;
    let right = state_snap.area_tree(Area::Applied)?;
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(intent_snap, left, state_snap, right, &mut path, &mut out)?;
    out.sort();
    Ok(out)
}

fn push(path: &[String], kind: DiffKind, out: &mut Vec<DiffEntry>) {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    // A path that is not a valid ref cannot have been written by ocuroot; a hand-made
    // file there is reported by `intent check`, not here.
    if let Ok(r) = Ref::from_storage_segments(&segs) {
        out.push(DiffEntry { r, kind });
    }
}

fn walk(
    ls: &Snapshot<'_>,
    left: Option<ObjectId>,
    rs: &Snapshot<'_>,
    right: Option<ObjectId>,
    path: &mut Vec<String>,
    out: &mut Vec<DiffEntry>,
) -> StoreResult<()> {
    if left == right {
        return Ok(());
    }
    let l = match left {
        Some(id) => ls.tree_children(id)?,
        None => Vec::new(),
    };
    let r = match right {
        Some(id) => rs.tree_children(id)?,
        None => Vec::new(),
    };
    // Index both sides by name: directories with thousands of entries stay linear.
    let lm: std::collections::BTreeMap<&str, &(String, EntryKind, ObjectId)> =
        l.iter().map(|e| (e.0.as_str(), e)).collect();
    let rm: std::collections::BTreeMap<&str, &(String, EntryKind, ObjectId)> =
        r.iter().map(|e| (e.0.as_str(), e)).collect();
    let mut names: Vec<&str> = lm.keys().chain(rm.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let le = lm.get(name).copied();
        let re = rm.get(name).copied();
        // Both sides hold the same subtree or blob: nothing below differs.
        if let (Some(a), Some(b)) = (le, re)
            && a.1 == b.1
            && a.2 == b.2
        {
            continue;
        }
        if name == DOC_FILE {
            let lid = le.filter(|e| e.1 != EntryKind::Tree).map(|e| e.2);
            let rid = re.filter(|e| e.1 != EntryKind::Tree).map(|e| e.2);
            match (lid, rid) {
                (Some(_), None) => push(path, DiffKind::Create, out),
                (None, Some(_)) => push(path, DiffKind::Delete, out),
                (Some(a), Some(b)) if a != b => push(path, DiffKind::Update, out),
                _ => {}
            }
            continue;
        }
        let lt = le.filter(|e| e.1 == EntryKind::Tree).map(|e| e.2);
        let rt = re.filter(|e| e.1 == EntryKind::Tree).map(|e| e.2);
        if lt.is_none() && rt.is_none() {
            continue;
        }
        path.push(name.to_string());
        walk(ls, lt, rs, rt, path, out)?;
        path.pop();
    }
    Ok(())
}
