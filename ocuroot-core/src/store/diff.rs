//! The intent diff: intent documents against the state store's applied-intent mirror.
//!
//! Both sides are Git trees, so the diff walks them together and skips every subtree whose
//! object id is equal on both sides. Object ids are content hashes, so this works even when
//! intent and state live in different repositories, and its cost follows the number of
//! changed documents, not the size of the store.

use std::cmp::Ordering;
use std::fmt;

use gix::ObjectId;

use super::git::Snapshot;
use super::layout::{Area, DOC_FILE, LINK_FILE};
use super::{Store, StoreResult};
use crate::refs::Ref;

/// How an intent document differs from what state has applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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
    Ok(diff_snapshot_blobs(intent_snap, state_snap)?
        .into_iter()
        .map(|d| d.entry)
        .collect())
}

/// A differing ref with the blob ids of its document on both sides, so that callers read
/// the two documents by id instead of looking their paths up again.
pub(crate) struct DiffBlobs {
    /// The differing ref.
    pub entry: DiffEntry,
    /// The intent document's blob, if intent has one.
    pub intent: Option<ObjectId>,
    /// The applied mirror's blob, if state has one.
    pub applied: Option<ObjectId>,
}

/// Like [`diff_views`], with the blob ids of the documents on both sides and the entries of
/// the intent tree that are no intent documents (see [`TreeProblem`]) beside the diff, from the same walk.
pub(crate) fn diff_view_checked(
    intent: &super::View<'_>,
    state: &super::View<'_>,
) -> StoreResult<(Vec<DiffBlobs>, Vec<TreeProblem>)> {
    diff_snapshot_checked(intent.snapshot(), state.snapshot())
}

fn diff_snapshot_blobs(
    intent_snap: &Snapshot<'_>,
    state_snap: &Snapshot<'_>,
) -> StoreResult<Vec<DiffBlobs>> {
    Ok(diff_snapshot_checked(intent_snap, state_snap)?.0)
}

/// An entry of the intent tree, on a changed path, that is no intent document: a symlink
/// or gitlink where a document is expected, a folder named like a document file, a link
/// file, a file with another name, or a document whose folder names no valid ref.
///
/// Such entries are never part of the diff (so never applied); [`intent_tree_problems`]
/// reports them, and `intent::check_changes` with it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TreeProblem {
    /// The entry's path inside the intent branch.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// Returns the entries of the intent tree that differ from state's applied mirror but are
/// no intent documents (see [`TreeProblem`]), sorted by path. The walk is the one of
/// [`diff_intent`], so its cost follows the changes too.
///
/// # Errors
///
/// Git errors.
pub fn intent_tree_problems(intent: &Store, state: &Store) -> StoreResult<Vec<TreeProblem>> {
    Ok(diff_snapshot_checked(&intent.backend().snapshot()?, &state.backend().snapshot()?)?.1)
}

fn diff_snapshot_checked(
    intent_snap: &Snapshot<'_>,
    state_snap: &Snapshot<'_>,
) -> StoreResult<(Vec<DiffBlobs>, Vec<TreeProblem>)> {
    let left = intent_snap.area_tree(Area::Records)?;
    let right = state_snap.area_tree(Area::Applied)?;
    let mut out = Out::default();
    let mut path = Vec::new();
    walk(intent_snap, left, state_snap, right, &mut path, &mut out)?;
    out.diff.sort_by(|a, b| a.entry.cmp(&b.entry));
    out.problems.sort();
    Ok((out.diff, out.problems))
}

/// What the walk collects.
#[derive(Default)]
struct Out {
    diff: Vec<DiffBlobs>,
    problems: Vec<TreeProblem>,
}

impl Out {
    fn problem(&mut self, snap: &Snapshot<'_>, path: &[String], name: &[u8], message: String) {
        let mut rel = vec![Area::Records.dir().to_string()];
        rel.extend(path.iter().cloned());
        rel.push(String::from_utf8_lossy(name).into_owned());
        self.problems.push(TreeProblem {
            path: snap.full_path(&rel),
            message,
        });
    }
}

/// Git's mode of a symbolic link and of a gitlink (submodule) entry.
const MODE_SYMLINK: &[u8] = b"120000";
const MODE_GITLINK: &[u8] = b"160000";

fn push(
    path: &[String],
    intent: Option<ObjectId>,
    applied: Option<ObjectId>,
    out: &mut Out,
) -> Result<(), String> {
    let kind = match (intent, applied) {
        (Some(_), None) => DiffKind::Create,
        (None, Some(_)) => DiffKind::Delete,
        (Some(a), Some(b)) if a != b => DiffKind::Update,
        _ => return Ok(()),
    };
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    match Ref::from_storage_segments(&segs) {
        Ok(r) => {
            out.diff.push(DiffBlobs {
                entry: DiffEntry { r, kind },
                intent,
                applied,
            });
            Ok(())
        }
        // A path that is not a valid ref cannot have been written by ocuroot: a hand-made
        // file on the intent side is a problem to report, never a change to apply. On the
        // applied side only ocuroot writes, so there is nothing to report.
        Err(e) if intent.is_some() => Err(format!("the folder does not name a valid ref: {e}")),
        Err(_) => Ok(()),
    }
}

/// Orders tree entries as Git sorts them: by name, where a tree's name is compared as if
/// it ended in `/`. Both sides of the diff are Git trees, so walking them in this order
/// pairs equal entries without sorting or indexing anything.
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let end = |name: &[u8], tree: bool| name.get(n).copied().or(tree.then_some(b'/'));
        end(a, a_tree).cmp(&end(b, b_tree))
    })
}

/// A tree entry: name, whether it is a tree, object id, mode.
type Item<'t> = (&'t [u8], bool, &'t gix::oid, &'t [u8]);

/// Splits a tree object's bytes into its entries in one pass, borrowing names and ids.
///
/// Git's tree format is `<octal mode> <name>\0<binary id>` repeated; a folder's mode is
/// exactly `40000`. This is the diff's hot loop on wide folders, so it does only what the
/// walk needs (no mode validation beyond that, no intermediate entry list); `None` means
/// the bytes are not a well-formed tree.
fn parse_tree(data: &[u8], hash_len: usize) -> Option<Vec<Item<'_>>> {
    let mut out = Vec::with_capacity(data.len() / (hash_len + 16));
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let (mode, tail) = (&rest[..space], &rest[space + 1..]);
        let nul = tail.iter().position(|&b| b == 0)?;
        let (name, tail) = (&tail[..nul], &tail[nul + 1..]);
        if tail.len() < hash_len {
            return None;
        }
        let id = gix::oid::try_from_bytes(&tail[..hash_len]).ok()?;
        rest = &tail[hash_len..];
        out.push((name, mode == b"40000", id, mode));
    }
    Some(out)
}

/// The entries of tree `id` of `snap`, or none for `None`.
fn tree_entries<'t>(
    snap: &Snapshot<'_>,
    tree: Option<&'t gix::Tree<'_>>,
) -> StoreResult<Vec<Item<'t>>> {
    let Some(tree) = tree else {
        return Ok(Vec::new());
    };
    parse_tree(&tree.data, tree.id.kind().len_in_bytes()).ok_or_else(|| snap.corrupt_tree(tree.id))
}

fn walk(
    ls: &Snapshot<'_>,
    left: Option<ObjectId>,
    rs: &Snapshot<'_>,
    right: Option<ObjectId>,
    path: &mut Vec<String>,
    out: &mut Out,
) -> StoreResult<()> {
    if left == right {
        return Ok(());
    }
    let l_tree = left.map(|id| ls.find_tree(id)).transpose()?;
    let r_tree = right.map(|id| rs.find_tree(id)).transpose()?;
    let l = tree_entries(ls, l_tree.as_ref())?;
    let r = tree_entries(rs, r_tree.as_ref())?;
    // Merge-join both sides in Git order: cost is linear in the entries of the trees on
    // the changed paths, and no name is copied unless the walk descends into it.
    let (mut i, mut j) = (0, 0);
    while i < l.len() || j < r.len() {
        let order = match (l.get(i), r.get(j)) {
            (Some(a), Some(b)) => git_order(a.0, a.1, b.0, b.1),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (le, re) = match order {
            Ordering::Less => (l.get(i), None),
            Ordering::Greater => (None, r.get(j)),
            Ordering::Equal => (l.get(i), r.get(j)),
        };
        if le.is_some() {
            i += 1;
        }
        if re.is_some() {
            j += 1;
        }
        // Both sides hold the same subtree or blob: nothing below differs.
        if let (Some(a), Some(b)) = (le, re)
            && a.2 == b.2
        {
            continue;
        }
        let Some(&(name, is_tree, _, _)) = le.or(re) else {
            continue;
        };
        let file_name = name == DOC_FILE.as_bytes() || name == LINK_FILE.as_bytes();
        if let Some(&(_, true, _, _)) = le
            && file_name
        {
            out.problem(
                ls,
                path,
                name,
                "a folder where a file is expected".to_string(),
            );
            continue;
        }
        if !is_tree {
            // Judge every file on the intent side; the applied side is ocuroot's own.
            let mut intent = le.map(|e| e.2.to_owned());
            if let Some(&(_, _, _, mode)) = le {
                let problem = if mode == MODE_SYMLINK {
                    Some("a symlink is not allowed in intent; write the document itself")
                } else if mode == MODE_GITLINK {
                    Some("a submodule (gitlink) is not allowed in intent")
                } else if name == LINK_FILE.as_bytes() {
                    Some("links are not allowed in intent; write the document itself")
                } else if name != DOC_FILE.as_bytes() {
                    Some("unexpected file: intent documents are named #.yaml")
                } else {
                    None
                };
                if let Some(message) = problem {
                    out.problem(ls, path, name, message.to_string());
                    intent = None;
                    if name != DOC_FILE.as_bytes() {
                        continue;
                    }
                }
            }
            if name == DOC_FILE.as_bytes() {
                let applied = re.filter(|e| !e.1).map(|e| e.2.to_owned());
                if intent.is_none() && le.is_some() {
                    // A bad entry stands where a document was: neither update nor delete
                    // until it is fixed.
                    continue;
                }
                if let Err(message) = push(path, intent, applied, out) {
                    out.problem(ls, path, name, message);
                }
            }
            continue;
        }
        path.push(String::from_utf8_lossy(name).into_owned());
        walk(
            ls,
            le.map(|e| e.2.to_owned()),
            rs,
            re.map(|e| e.2.to_owned()),
            path,
            out,
        )?;
        path.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tree_agrees_with_gix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = gix::init_bare(dir.path().join("r.git")).expect("init");
        let blob = repo.write_blob(b"x\n").expect("blob").detach();
        let mut editor = repo
            .edit_tree(ObjectId::empty_tree(repo.object_hash()))
            .expect("editor");
        for path in ["a/#.yaml", "a-b/#.yaml", "a.b", "#.yaml", "x/y/z", "a0"] {
            editor
                .upsert(path, gix::objs::tree::EntryKind::Blob, blob)
                .expect("upsert");
        }
        let id = editor.write().expect("write").detach();
        let tree = repo.find_tree(id).expect("tree");
        let ours = parse_tree(&tree.data, 20).expect("well-formed");
        let theirs = tree.decode().expect("decode");
        assert_eq!(ours.len(), theirs.entries.len());
        for (o, t) in ours.iter().zip(&theirs.entries) {
            assert_eq!(o.0, t.filename);
            assert_eq!(o.1, t.mode.is_tree());
            assert_eq!(o.2, t.oid);
            let mut backing = [0u8; 6];
            assert_eq!(o.3, t.mode.as_bytes(&mut backing).as_ref() as &[u8]);
        }
        assert_eq!(parse_tree(b"", 20), Some(Vec::new()));
        // Truncated: a name without its id, a mode without a name.
        assert_eq!(parse_tree(b"100644 a\0short", 20), None);
        assert_eq!(parse_tree(b"100644", 20), None);
    }
}
