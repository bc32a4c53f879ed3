//! The pending edits of one commit attempt: a transaction's operations applied, in order,
//! on top of a [`Snapshot`], as file contents by path relative to the store folder.
//!
//! Later operations see earlier ones (a link set, then a document written through it);
//! create-only and expect operations are checked against the snapshot plus the edits, so a
//! retry on a new tip checks them again. Links are resolved in the records area only.
//! Turning the edits into trees and a commit is [`super::commit`]'s.

use std::collections::HashMap;

use gix::objs::tree::EntryKind;
use serde_json::Value;

use super::{Snapshot, resolve_found};
use crate::refs::Ref;
use crate::store::layout::{self, Area, LINK_FILE};
use crate::store::{Op, StoreError, StoreResult};
use crate::yaml;

/// Pending file edits of one commit attempt, on top of a snapshot.
pub(super) struct Overlay<'s, 'a> {
    snap: &'s Snapshot<'a>,
    /// Path relative to the store folder → new content (`None` = removed).
    pub(super) edits: HashMap<Vec<String>, Option<Vec<u8>>>,
    /// Whether some edit is of a link file (else links resolve in the snapshot alone).
    links_edited: bool,
}

/// A link file on a ref's path: in the snapshot, or written by an earlier operation.
enum Found<'e> {
    Base(EntryKind, gix::ObjectId),
    Edited(&'e [u8]),
}

/// The path of the link file of the records folder `segments`.
fn link_file(segments: &[String]) -> Vec<String> {
    let mut path = Vec::with_capacity(segments.len() + 2);
    path.push(Area::Records.dir().to_string());
    path.extend(segments.iter().cloned());
    path.push(LINK_FILE.to_string());
    path
}

impl<'s, 'a> Overlay<'s, 'a> {
    pub(super) fn new(snap: &'s Snapshot<'a>) -> Self {
        Overlay {
            snap,
            edits: HashMap::new(),
            links_edited: false,
        }
    }

    pub(super) fn exists(&self, path: &[String]) -> StoreResult<bool> {
        if let Some(e) = self.edits.get(path) {
            return Ok(e.is_some());
        }
        Ok(matches!(self.snap.lookup(path)?, Some((k, _)) if k != EntryKind::Tree))
    }

    pub(super) fn read(&self, path: &[String]) -> StoreResult<Option<Vec<u8>>> {
        if let Some(e) = self.edits.get(path) {
            return Ok(e.clone());
        }
        self.snap.read_file(path)
    }

    pub(super) fn resolve(&self, area: Area, r: &Ref) -> StoreResult<Ref> {
        // Only records hold links.
        if area != Area::Records {
            return Ok(r.clone());
        }
        let segments = r.storage_segments();
        let mut found: Vec<(usize, Found<'_>)> = self
            .snap
            .links_on_path(&segments)?
            .into_iter()
            .map(|(len, kind, id)| (len, Found::Base(kind, id)))
            .collect();
        if self.links_edited {
            // Edits win over the snapshot: a link set or removed by an earlier operation.
            found.retain(|(len, _)| !self.edits.contains_key(&link_file(&segments[..*len])));
            for len in 1..=segments.len() {
                if let Some(Some(bytes)) = self.edits.get(&link_file(&segments[..len])) {
                    found.push((len, Found::Edited(bytes)));
                }
            }
            found.sort_by_key(|(len, _)| *len);
        }
        resolve_found(
            r,
            &segments,
            found.into_iter().rev(),
            |len, link| match link {
                Found::Base(kind, id) => self.snap.link_target(&segments[..len], kind, id),
                Found::Edited(bytes) => {
                    let text = String::from_utf8_lossy(bytes);
                    Ref::parse(text.trim()).map_err(|source| StoreError::CorruptLink {
                        path: self
                            .snap
                            .backend
                            .full_path(&link_file(&segments[..len]))
                            .join("/"),
                        location: self.snap.loc(),
                        source,
                    })
                }
            },
        )
    }

    /// Records an edit of the file at `path`.
    fn edit(&mut self, path: Vec<String>, content: Option<Vec<u8>>) {
        if path.last().is_some_and(|f| f == LINK_FILE) {
            self.links_edited = true;
        }
        self.edits.insert(path, content);
    }

    pub(super) fn render(r: &Ref, value: &Value) -> StoreResult<Vec<u8>> {
        let text = yaml::to_canonical(value).map_err(|source| StoreError::Render {
            r: r.to_string(),
            source,
        })?;
        // The last line of defence against gigabyte blobs: outside input is held to the
        // document limit where it enters, and a run's logs to the log limit, the largest.
        let limit = crate::limits::current().max_log_bytes;
        crate::limits::check_size("the document", text.len(), limit, "max_log_bytes").map_err(
            |e| StoreError::Render {
                r: r.to_string(),
                source: e.into(),
            },
        )?;
        Ok(text.into_bytes())
    }

    pub(super) fn apply(&mut self, op: &Op) -> StoreResult<()> {
        match op {
            Op::Set { area, r, value } | Op::Create { area, r, value } => {
                let target = self.resolve(*area, r)?;
                let doc = layout::doc_path(*area, &target);
                if matches!(op, Op::Create { .. }) && self.exists(&doc)? {
                    return Err(StoreError::AlreadyExists {
                        r: target.to_string(),
                    });
                }
                let bytes = Self::render(&target, value)?;
                self.edit(doc, Some(bytes));
                let link = layout::link_path(*area, &target);
                if self.exists(&link)? {
                    self.edit(link, None);
                }
            }
            Op::SetRaw { area, r, text } => {
                let target = self.resolve(*area, r)?;
                self.edit(
                    layout::doc_path(*area, &target),
                    Some(text.clone().into_bytes()),
                );
            }
            Op::Delete { area, r, if_exists } => {
                let target = self.resolve(*area, r)?;
                let doc = layout::doc_path(*area, &target);
                if self.exists(&doc)? {
                    self.edit(doc, None);
                } else if !if_exists {
                    return Err(StoreError::NotFound { r: r.to_string() });
                }
            }
            Op::Link { r, target } => {
                let doc = layout::doc_path(Area::Records, r);
                if self.exists(&doc)? {
                    return Err(StoreError::NotALink { r: r.to_string() });
                }
                let link = layout::link_path(Area::Records, r);
                self.edits
                    .insert(link, Some(format!("{target}\n").into_bytes()));
            }
            Op::Unlink { r } => {
                let link = layout::link_path(Area::Records, r);
                if self.exists(&link)? {
                    self.edit(link, None);
                }
            }
            Op::Expect { area, r, value } => {
                let current = self.read(&layout::doc_path(*area, r))?;
                let expected = value.as_ref().map(|v| Self::render(r, v)).transpose()?;
                if current != expected {
                    return Err(StoreError::Changed { r: r.to_string() });
                }
            }
        }
        Ok(())
    }
}
