//! The history of one ref: the commits of the branch's first-parent history in which the
//! document or link at exactly that ref appeared, changed or disappeared, newest first.
//!
//! Each commit's entry is compared with its first parent's by object id, so unchanged
//! commits cost two tree lookups and no blob read.

use gix::ObjectId;

use super::read::decode_entry;
use super::{GitBackend, git_err};
use crate::refs::Ref;
use crate::store::layout::{self, Area};
use crate::store::{HistoryChange, HistoryEntry, StoreResult};

impl GitBackend {
    pub(crate) fn history(
        &self,
        area: Area,
        r: &Ref,
        limit: usize,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.maybe_fetch()?;
        let loc = self.location();
        let repo = self.local();
        let Some(tip) = self.tip(&repo)? else {
            return Ok(Vec::new());
        };
        let doc = self.full_path(&layout::doc_path(area, r));
        let link = self.full_path(&layout::link_path(area, r));
        let lookup = |commit: ObjectId| -> StoreResult<Option<(bool, ObjectId)>> {
            let c = repo
                .find_commit(commit)
                .map_err(git_err(&loc, "read commit"))?;
            let tree = c.tree().map_err(git_err(&loc, "read tree"))?;
            if let Some(e) = tree
                .lookup_entry(doc.iter().map(String::as_str))
                .map_err(git_err(&loc, "read tree"))?
            {
                return Ok(Some((false, e.object_id())));
            }
            if let Some(e) = tree
                .lookup_entry(link.iter().map(String::as_str))
                .map_err(git_err(&loc, "read tree"))?
            {
                return Ok(Some((true, e.object_id())));
            }
            Ok(None)
        };
        let walk = repo
            .rev_walk([tip])
            .first_parent_only()
            .all()
            .map_err(git_err(&loc, "walk history"))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(git_err(&loc, "walk history"))?;
            let here = lookup(info.id)?;
            let parent = match info.parent_ids.first() {
                Some(p) => lookup(*p)?,
                None => None,
            };
            if here == parent {
                continue;
            }
            let change = match (&parent, &here) {
                (None, Some(_)) => HistoryChange::Added,
                (Some(_), None) => HistoryChange::Deleted,
                _ => HistoryChange::Modified,
            };
            let value = match here {
                Some((is_link, id)) => {
                    let path = if is_link { &link } else { &doc };
                    Some(decode_entry(&repo, id, is_link, &path.join("/"), &loc)?)
                }
                None => None,
            };
            let commit = repo
                .find_commit(info.id)
                .map_err(git_err(&loc, "read commit"))?;
            let author = commit
                .author()
                .map_err(git_err(&loc, "read commit author"))?;
            let time = author.time().map(|t| t.seconds).unwrap_or_default();
            let message = commit.message_raw_sloppy().to_string();
            let summary = message.lines().next().unwrap_or_default().to_string();
            let requested_by = message
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("Requested-by:"))
                .map(|v| v.trim().to_string());
            out.push(HistoryEntry {
                commit: info.id.to_string(),
                time,
                author_name: author.name.to_string(),
                author_email: author.email.to_string(),
                summary,
                requested_by,
                change,
                value,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}
