//! Reading a store at one commit: [`Snapshot`], a consistent view of the store folder in
//! one commit (the tip when it was taken, a revision, or a preview).
//!
//! It reads documents and links by ref (links resolved as spec §3.3 says: the deepest
//! linked prefix wins, single level), matches globs by walking only below their literal
//! prefix, and lists files for validation. Every file read is checked to be a plain file
//! (not a symlink or gitlink) and parsed as canonical YAML; the format marker is checked
//! when the view is made. Nothing here writes.

use gix::ObjectId;
use gix::objs::tree::EntryKind;
use serde_json::Value;

use super::{GitBackend, git_err};
use crate::refs::{Glob, Ref};
use crate::store::layout::{self, Area, DOC_FILE, FORMAT_VERSION, LINK_FILE, MARKER_FILE};
use crate::store::matcher::SegmentMatcher;
use crate::store::{Entry, FileKind, MatchOptions, StoreError, StoreResult};
use crate::yaml;

/// A consistent read view at one tip.
pub(crate) struct Snapshot<'a> {
    pub(super) backend: &'a GitBackend,
    pub(super) repo: super::Pooled<'a>,
    /// The store folder's tree, if the branch and folder exist.
    pub(super) tree: Option<ObjectId>,
    pub(super) tip: Option<ObjectId>,
}

impl Snapshot<'_> {
    pub(super) fn loc(&self) -> String {
        self.backend.location()
    }

    /// Keeps the objects written through this snapshot in memory, readable through it,
    /// until [`Snapshot::persist`] writes them as one pack (see [`super::pack`]).
    pub(super) fn buffer_writes(mut self) -> Self {
        self.repo.objects.enable_object_memory();
        self
    }

    /// Writes the objects buffered since [`Snapshot::buffer_writes`] (or the last persist)
    /// into the repository as one pack. Call it before anything names them.
    pub(super) fn persist(&mut self) -> StoreResult<()> {
        let Some(memory) = self.repo.objects.take_object_memory() else {
            return Ok(());
        };
        self.repo.objects.enable_object_memory();
        let dir = self.repo.objects.store_ref().path().to_owned();
        super::pack::persist(&dir, &memory).map_err(super::git_err(
            &self.loc(),
            "write the commit's objects as a pack",
        ))?;
        Ok(())
    }

    /// Returns the path inside the branch of `rel` (relative to the store folder).
    pub(crate) fn full_path(&self, rel: &[String]) -> String {
        self.backend.full_path(rel).join("/")
    }

    pub(super) fn check_marker(&self) -> StoreResult<()> {
        let Some((_, id)) = self.lookup(&[MARKER_FILE.to_string()])? else {
            return Ok(());
        };
        let known = |id| {
            self.backend
                .marker_ok
                .lock()
                .is_ok_and(|ok| *ok == Some(id))
        };
        if known(id) {
            return Ok(());
        }
        let Some(bytes) = self.read_file(&[MARKER_FILE.to_string()])? else {
            return Ok(());
        };
        #[derive(serde::Deserialize)]
        struct Marker {
            format: Option<Value>,
            kind: Option<String>,
        }
        let path = self.backend.full_path(&[MARKER_FILE.to_string()]).join("/");
        let text = String::from_utf8_lossy(&bytes);
        let marker: Marker = yaml::from_str(&text).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            location: self.loc(),
            source,
        })?;
        let format = marker.format.unwrap_or(Value::Null);
        if format.as_u64() != Some(FORMAT_VERSION) {
            return Err(StoreError::UnsupportedFormat {
                location: self.loc(),
                found: format.to_string(),
                expected: FORMAT_VERSION,
            });
        }
        if let Some(kind) = marker.kind
            && kind != self.backend.kind.as_str()
        {
            return Err(StoreError::WrongKind {
                location: self.loc(),
                found: kind,
                expected: self.backend.kind,
            });
        }
        if let Ok(mut ok) = self.backend.marker_ok.lock() {
            *ok = Some(id);
        }
        Ok(())
    }

    /// Looks up a path relative to the store folder.
    pub(super) fn lookup(&self, rel: &[String]) -> StoreResult<Option<(EntryKind, ObjectId)>> {
        let Some(mut tree) = self.tree else {
            return Ok(None);
        };
        let Some((last, folders)) = rel.split_last() else {
            return Ok(Some((EntryKind::Tree, tree)));
        };
        for seg in folders {
            match self.tree_entries(tree)?.find(seg) {
                Some(e) if e.kind == EntryKind::Tree => tree = e.id,
                _ => return Ok(None),
            }
        }
        Ok(self.tree_entries(tree)?.find(last).map(|e| (e.kind, e.id)))
    }

    /// The entries of tree `id`, from the backend's cache of decoded trees when it holds
    /// them (a tree's content never changes, so neither do its entries).
    pub(crate) fn tree_entries(&self, id: ObjectId) -> StoreResult<TreeEntries> {
        if let Some(entries) = self
            .backend
            .trees
            .read()
            .ok()
            .and_then(|c| c.map.get(&id).cloned())
        {
            return Ok(entries);
        }
        let loc = self.loc();
        let tree = self
            .repo
            .find_tree(id)
            .map_err(git_err(&loc, "read tree"))?;
        let decoded = tree.decode().map_err(git_err(&loc, "decode tree"))?;
        let mut bytes = 0;
        let entries: Vec<TreeEntry> = decoded
            .entries
            .iter()
            .map(|e| {
                bytes += e.filename.len() + std::mem::size_of::<TreeEntry>();
                TreeEntry {
                    name: e.filename.to_string().into_boxed_str(),
                    kind: e.mode.kind(),
                    id: e.oid.to_owned(),
                }
            })
            .collect();
        let entries = TreeEntries(std::sync::Arc::from(entries));
        if let Ok(mut cache) = self.backend.trees.write() {
            if cache.bytes + bytes > Trees::BUDGET {
                cache.map.clear();
                cache.bytes = 0;
            }
            cache.bytes += bytes;
            cache.map.insert(id, entries.clone());
        }
        Ok(entries)
    }

    pub(super) fn read_file(&self, rel: &[String]) -> StoreResult<Option<Vec<u8>>> {
        match self.lookup(rel)? {
            Some((kind, id)) if kind != EntryKind::Tree => {
                let loc = self.loc();
                check_file_kind(kind, &self.backend.full_path(rel).join("/"), &loc)?;
                let blob = self
                    .repo
                    .find_blob(id)
                    .map_err(git_err(&loc, "read blob"))?;
                Ok(Some(blob.data.clone()))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn raw_document(&self, area: Area, r: &Ref) -> StoreResult<Option<String>> {
        Ok(self
            .read_file(&layout::doc_path(area, r))?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// [`decode_entry`] through the backend's cache of decoded blobs: a cached document is
    /// shared, not copied.
    fn decode(&self, id: ObjectId, is_link: bool, path: &str) -> StoreResult<Shared> {
        let cached = self
            .backend
            .decoded
            .lock()
            .ok()
            .and_then(|c| c.map.get(&(id, is_link)).cloned());
        if let Some(entry) = cached {
            return Ok(entry);
        }
        let loc = self.loc();
        let blob = self
            .repo
            .find_blob(id)
            .map_err(git_err(&loc, format!("read {path}")))?;
        let entry = Shared::from(decode_bytes(&blob.data, is_link, path, &loc)?);
        if let Ok(mut cache) = self.backend.decoded.lock() {
            if cache.bytes + blob.data.len() > Decoded::BUDGET {
                cache.map.clear();
                cache.bytes = 0;
            }
            cache.bytes += blob.data.len();
            cache.map.insert((id, is_link), entry.clone());
        }
        Ok(entry)
    }

    pub(crate) fn entry(&self, area: Area, r: &Ref) -> StoreResult<Option<Entry>> {
        Ok(self.shared_entry(area, r)?.map(Shared::into_entry))
    }

    /// What is stored exactly at `r`, as the decoded cache shares it.
    fn shared_entry(&self, area: Area, r: &Ref) -> StoreResult<Option<Shared>> {
        let loc = self.loc();
        let doc = layout::doc_path(area, r);
        if let Some((kind, id)) = self.lookup(&doc)?
            && kind != EntryKind::Tree
        {
            let path = self.backend.full_path(&doc).join("/");
            check_file_kind(kind, &path, &loc)?;
            return self.decode(id, false, &path).map(Some);
        }
        if area == Area::Records {
            let link = layout::link_path(area, r);
            if let Some((kind, id)) = self.lookup(&link)?
                && kind != EntryKind::Tree
            {
                let path = self.backend.full_path(&link).join("/");
                check_file_kind(kind, &path, &loc)?;
                return self.decode(id, true, &path).map(Some);
            }
        }
        Ok(None)
    }

    /// The link files in the folders on the path of `segments` (a ref's storage segments,
    /// records area), shallowest first: how many segments name the folder, and the file's
    /// entry. One descent from the root; nothing is decoded.
    pub(super) fn links_on_path(
        &self,
        segments: &[String],
    ) -> StoreResult<Vec<(usize, EntryKind, ObjectId)>> {
        let mut out = Vec::new();
        let Some(mut tree) = self.area_tree(Area::Records)? else {
            return Ok(out);
        };
        for (i, seg) in segments.iter().enumerate() {
            match self.tree_entries(tree)?.find(seg) {
                Some(e) if e.kind == EntryKind::Tree => tree = e.id,
                _ => break,
            }
            if let Some(link) = self.tree_entries(tree)?.find(LINK_FILE)
                && link.kind != EntryKind::Tree
            {
                out.push((i + 1, link.kind, link.id));
            }
        }
        Ok(out)
    }

    /// The target of the link file `(kind, id)` of the folder of `segments`.
    pub(super) fn link_target(
        &self,
        segments: &[String],
        kind: EntryKind,
        id: ObjectId,
    ) -> StoreResult<Ref> {
        let mut rel = vec![Area::Records.dir().to_string()];
        rel.extend(segments.iter().cloned());
        rel.push(LINK_FILE.to_string());
        let path = self.backend.full_path(&rel).join("/");
        check_file_kind(kind, &path, &self.loc())?;
        match self.decode(id, true, &path)? {
            Shared::Link(t) => Ok(t),
            Shared::Document(_) => unreachable!("a link file decodes as a link or fails"),
        }
    }

    pub(crate) fn resolve_link(&self, r: &Ref) -> StoreResult<Ref> {
        let segments = r.storage_segments();
        let links = self.links_on_path(&segments)?;
        let deepest_first = links
            .into_iter()
            .rev()
            .map(|(len, kind, id)| (len, (kind, id)));
        resolve_found(r, &segments, deepest_first, |len, (kind, id)| {
            self.link_target(&segments[..len], kind, id)
        })
    }

    pub(crate) fn get(&self, r: &Ref) -> StoreResult<Value> {
        self.with_document(r, Value::clone)
    }

    /// Calls `f` on the document at `r` (links resolved, fragment applied) where the decoded
    /// cache keeps it: a caller that decodes a type from it, or reads one field, copies
    /// nothing else.
    pub(crate) fn with_document<T>(&self, r: &Ref, f: impl FnOnce(&Value) -> T) -> StoreResult<T> {
        let resolved = self.resolve_link(r)?;
        let bare = resolved.without_fragment();
        let not_found = || StoreError::NotFound { r: r.to_string() };
        let value = match self.shared_entry(Area::Records, &bare)? {
            Some(Shared::Document(v)) => v,
            Some(Shared::Link(_)) | None => return Err(not_found()),
        };
        let mut current = &*value;
        for seg in resolved.fragment_segments() {
            current = match current {
                Value::Object(map) => map.get(seg).ok_or_else(not_found)?,
                _ => return Err(not_found()),
            };
        }
        if current.is_null() && !resolved.fragment.is_empty() {
            return Err(not_found());
        }
        Ok(f(current))
    }

    /// Lists the direct children of tree `tree`.
    pub(super) fn children(&self, tree: ObjectId) -> StoreResult<TreeEntries> {
        self.tree_entries(tree)
    }

    pub(crate) fn match_refs(
        &self,
        area: Area,
        globs: &[Glob],
        options: MatchOptions,
    ) -> StoreResult<Vec<Ref>> {
        let mut out = Vec::new();
        let Some(root) = self.lookup(&[area.dir().to_string()])? else {
            return Ok(out);
        };
        if root.0 != EntryKind::Tree {
            return Ok(out);
        }
        for glob in globs {
            let matcher = SegmentMatcher::new(glob);
            // Walk only below the glob's literal prefix.
            let prefix = glob.literal_prefix_segments();
            let mut start = root.1;
            let mut path: Vec<String> = Vec::new();
            let mut found = true;
            for seg in &prefix {
                match self.children(start)?.find(seg) {
                    Some(e) if e.kind == EntryKind::Tree => {
                        start = e.id;
                        path.push(seg.clone());
                    }
                    _ => {
                        found = false;
                        break;
                    }
                }
            }
            if !found {
                continue;
            }
            let states = matcher.advance_all(&path);
            self.walk(start, &mut path, &states, glob, &matcher, options, &mut out)?;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn walk(
        &self,
        tree: ObjectId,
        path: &mut Vec<String>,
        states: &crate::store::matcher::States,
        glob: &Glob,
        matcher: &SegmentMatcher,
        options: MatchOptions,
        out: &mut Vec<Ref>,
    ) -> StoreResult<()> {
        if states.is_dead() {
            return Ok(());
        }
        let children = self.children(tree)?;
        let has_link = children
            .find(LINK_FILE)
            .is_some_and(|e| e.kind != EntryKind::Tree);
        let has_doc = children
            .find(DOC_FILE)
            .is_some_and(|e| e.kind != EntryKind::Tree);
        if has_link && options.no_links {
            return Ok(());
        }
        if (has_doc || has_link) && !path.is_empty() {
            let joined = path.join("/");
            if glob.matches(&joined) {
                let segs: Vec<&str> = path.iter().map(String::as_str).collect();
                if let Ok(r) = Ref::from_storage_segments(&segs) {
                    out.push(r);
                }
            }
        }
        for e in children.iter() {
            if e.kind != EntryKind::Tree {
                continue;
            }
            let next = matcher.advance(states, &e.name);
            if next.is_dead() {
                continue;
            }
            path.push(e.name.to_string());
            self.walk(e.id, path, &next, glob, matcher, options, out)?;
            path.pop();
        }
        Ok(())
    }
}

/// Resolves links in `r` (spec §3.3): `found` lists the folders on its path that hold a
/// link file, deepest first, as (number of storage segments, what was found); the first
/// of them that names a ref replaces that prefix with `target` of it (single level).
///
/// A folder whose segments are not a ref is passed over before its link is read, so a
/// stray file there is never an error.
pub(crate) fn resolve_found<F>(
    r: &Ref,
    segments: &[String],
    found: impl Iterator<Item = (usize, F)>,
    mut target: impl FnMut(usize, F) -> StoreResult<Ref>,
) -> StoreResult<Ref> {
    for (len, link) in found {
        let candidate: Vec<&str> = segments[..len].iter().map(String::as_str).collect();
        if Ref::from_storage_segments(&candidate).is_err() {
            continue;
        }
        let mut new_segs = target(len, link)?.storage_segments();
        new_segs.extend(segments[len..].iter().cloned());
        let segs: Vec<&str> = new_segs.iter().map(String::as_str).collect();
        let resolved = Ref::from_storage_segments(&segs)?;
        return Ok(if r.fragment.is_empty() {
            resolved
        } else {
            resolved.with_fragment(&r.fragment)
        });
    }
    Ok(r.clone())
}

impl Snapshot<'_> {
    /// Returns the tree id of an area (`refs/`, `applied/`), if present.
    pub(crate) fn area_tree(&self, area: Area) -> StoreResult<Option<ObjectId>> {
        Ok(match self.lookup(&[area.dir().to_string()])? {
            Some((EntryKind::Tree, id)) => Some(id),
            _ => None,
        })
    }

    /// Returns the tree `id` (from the object cache when it was read before).
    pub(crate) fn find_tree(&self, id: ObjectId) -> StoreResult<gix::Tree<'_>> {
        self.repo
            .find_tree(id)
            .map_err(git_err(&self.loc(), "read tree"))
    }

    /// The error for a tree object that does not decode.
    pub(crate) fn corrupt_tree(&self, id: ObjectId) -> StoreError {
        StoreError::Git {
            location: self.loc(),
            action: "decode tree".to_string(),
            source: format!("tree {id} is not a well-formed tree object").into(),
        }
    }

    /// Returns the document in the blob `id`, the file of `r` in `area` (for messages).
    pub(crate) fn document_by_id(&self, area: Area, r: &Ref, id: ObjectId) -> StoreResult<Value> {
        let path = self.backend.full_path(&layout::doc_path(area, r)).join("/");
        let loc = self.loc();
        let blob = self
            .repo
            .find_blob(id)
            .map_err(git_err(&loc, format!("read {path}")))?;
        parse_document(&blob.data, &path, &loc)
    }
}

/// A file found under an area by [`Snapshot::files`].
#[derive(Clone, Debug)]
pub(crate) struct RawFile {
    /// Path relative to the area folder.
    pub rel: Vec<String>,
    /// Path inside the branch, for messages.
    pub path: String,
    /// What kind of entry it is.
    pub kind: FileKind,
    /// The content (empty for a gitlink).
    pub bytes: Vec<u8>,
}

impl Snapshot<'_> {
    /// Lists every file below an area, depth first.
    pub(crate) fn files(&self, area: Area) -> StoreResult<Vec<RawFile>> {
        let mut out = Vec::new();
        let Some(root) = self.area_tree(area)? else {
            return Ok(out);
        };
        let mut stack = vec![(root, Vec::<String>::new())];
        let loc = self.loc();
        while let Some((tree, rel)) = stack.pop() {
            for e in self.children(tree)?.iter() {
                let (kind, id) = (e.kind, e.id);
                let mut p = rel.clone();
                p.push(e.name.to_string());
                if kind == EntryKind::Tree {
                    stack.push((id, p));
                } else {
                    let file_kind = FileKind::of(kind);
                    // A gitlink names a commit of another repository: there is no blob.
                    let bytes = if file_kind == FileKind::Submodule {
                        Vec::new()
                    } else {
                        self.repo
                            .find_blob(id)
                            .map_err(git_err(&loc, "read blob"))?
                            .data
                            .clone()
                    };
                    let mut full = vec![area.dir().to_string()];
                    full.extend(p.iter().cloned());
                    out.push(RawFile {
                        path: self.backend.full_path(&full).join("/"),
                        rel: p,
                        kind: file_kind,
                        bytes,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// Returns the commit this view reads.
    pub(crate) fn commit_id(&self) -> Option<ObjectId> {
        self.tip
    }
}

pub(super) fn decode_entry(
    repo: &gix::Repository,
    id: ObjectId,
    is_link: bool,
    path: &str,
    loc: &str,
) -> StoreResult<Entry> {
    let blob = repo
        .find_blob(id)
        .map_err(git_err(loc, format!("read {path}")))?;
    decode_bytes(&blob.data, is_link, path, loc)
}

/// Decodes a document's or link's bytes.
fn decode_bytes(data: &[u8], is_link: bool, path: &str, loc: &str) -> StoreResult<Entry> {
    let text = String::from_utf8_lossy(data);
    if is_link {
        let target = Ref::parse(text.trim()).map_err(|source| StoreError::CorruptLink {
            path: path.to_string(),
            location: loc.to_string(),
            source,
        })?;
        Ok(Entry::Link(target))
    } else {
        parse_document(data, path, loc).map(Entry::Document)
    }
}

/// Documents and links already decoded, by blob id: a blob's content never changes, so
/// neither does what it decodes to. The engine reads the same run documents, summaries and
/// links in every round of a cascade; parsing their YAML again dominated its time. Bounded by
/// [`Decoded::BUDGET`] bytes of YAML (emptied when full); errors are not kept.
#[derive(Default)]
pub(crate) struct Decoded {
    map: std::collections::HashMap<(ObjectId, bool), Shared>,
    bytes: usize,
}

impl Decoded {
    /// Bytes of decoded YAML kept at most.
    const BUDGET: usize = 8 << 20;
}

/// A decoded blob as [`Decoded`] keeps it: a document behind an `Arc`, so that a read
/// borrows it (or copies only the fragment it asked for) instead of copying the whole tree
/// of values out of the cache.
#[derive(Clone)]
pub(crate) enum Shared {
    /// A document.
    Document(std::sync::Arc<Value>),
    /// A link's target.
    Link(Ref),
}

impl Shared {
    /// The public [`Entry`]: the document copied unless this was its last holder.
    fn into_entry(self) -> Entry {
        match self {
            Shared::Document(v) => Entry::Document(std::sync::Arc::unwrap_or_clone(v)),
            Shared::Link(r) => Entry::Link(r),
        }
    }
}

impl From<Entry> for Shared {
    fn from(e: Entry) -> Shared {
        match e {
            Entry::Document(v) => Shared::Document(std::sync::Arc::new(v)),
            Entry::Link(r) => Shared::Link(r),
        }
    }
}

/// One entry of a decoded tree.
#[derive(Debug)]
pub(crate) struct TreeEntry {
    /// The file or folder name.
    pub(crate) name: Box<str>,
    /// Blob, executable, link, tree or commit.
    pub(crate) kind: EntryKind,
    /// The object it names.
    pub(crate) id: ObjectId,
}

/// A decoded tree's entries in Git's order, shared between readers.
#[derive(Clone, Debug)]
pub(crate) struct TreeEntries(std::sync::Arc<[TreeEntry]>);

impl TreeEntries {
    /// The entry named `name`.
    pub(crate) fn find(&self, name: &str) -> Option<&TreeEntry> {
        self.0.iter().find(|e| &*e.name == name)
    }

    /// The entries in Git's order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, TreeEntry> {
        self.0.iter()
    }
}

/// Trees already decoded, by id. Every read of a document looks up each folder on its path
/// from the root, and gix copies a tree's bytes out of its object cache on every lookup (the
/// estate's cascade spent a third of its time there); a decoded tree is shared instead.
/// Bounded by [`Trees::BUDGET`] bytes of names and entries (emptied when full).
#[derive(Default)]
pub(crate) struct Trees {
    map: std::collections::HashMap<ObjectId, TreeEntries>,
    bytes: usize,
}

impl Trees {
    /// Bytes of decoded entries kept at most.
    const BUDGET: usize = 32 << 20;
}

/// Refuses a tree entry that is not a plain file where a document or link is expected: a
/// symlink's blob is its target path and a gitlink names a commit of another repository,
/// so neither may be read as a document.
pub(super) fn check_file_kind(kind: EntryKind, path: &str, loc: &str) -> StoreResult<()> {
    match FileKind::of(kind) {
        FileKind::File => Ok(()),
        other => Err(StoreError::NotAFile {
            path: path.to_string(),
            location: loc.to_string(),
            what: other.describe(),
        }),
    }
}

/// Parses a document file's bytes; `path` and `loc` name the file in errors.
pub(super) fn parse_document(bytes: &[u8], path: &str, loc: &str) -> StoreResult<Value> {
    let text = String::from_utf8_lossy(bytes);
    yaml::value_from_str(&text).map_err(|source| StoreError::Corrupt {
        path: path.to_string(),
        location: loc.to_string(),
        source,
    })
}
