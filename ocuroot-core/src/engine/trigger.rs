//! Recording repository configurations and triggering work at other commits
//! (spec §6.9, §6.10).
//!
//! Every command that writes records the `repo.ocu.star` it ran with under
//! `<repo>/-/repo.ocu.star/@<commit>` (plain text, remote URLs with credentials removed) and
//! points `<repo>/-/repo.ocu.star/@` at the newest. Work that belongs to another commit is
//! handed to that commit's `trigger(fn)` function, which typically asks the CI system to run
//! `ocuroot work any` there.

use std::collections::BTreeSet;

use serde::Serialize;

use super::work::WorkItem;
use super::{Engine, EngineResult, ProgressEvent, decode};
use crate::config::{self, REPO_CONFIG_FILE, StoreSelection, StoreSpec};
use crate::model::RepoConfigDoc;
use crate::redact::redact_url;
use crate::refs::Glob;
use crate::refs::Ref;
use crate::refs::glob::escape;
use crate::store::{Area, Entry, MatchOptions, Transaction};

/// The outcome of triggering one commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Triggered {
    /// The repository name.
    pub repo: String,
    /// The commit.
    pub commit: String,
    /// `triggered`, `no trigger`, or the error message.
    pub result: String,
}

impl Engine {
    /// Records this repository's configuration for the current commit, once, in state;
    /// with an intent store in another repository, also copies it there as the repository's latest
    /// configuration ([`Area::Repos`]), so that commands run in a checkout of the intent
    /// store find the state store and the triggers (spec §5.1).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn save_repo_config(&self) -> EngineResult<()> {
        let Some(repo) = &self.cx.repo_name else {
            return Ok(());
        };
        let commit = self.cx.commit_name();
        let at = Ref::repo_config(repo, commit);
        let latest = Ref::repo_config(repo, "");
        let mut remotes: Vec<String> = self.cx.config.remotes.clone().unwrap_or_default();
        remotes.extend(self.cx.origin_url.as_deref().map(str::to_string));
        let doc = RepoConfigDoc {
            remotes: remotes.iter().map(|u| redact_url(u)).collect(),
            source: self.cx.config.source.clone(),
            commit: None,
        };
        if self.cx.state.try_get(&at)?.is_none() {
            let mut tx = Transaction::new(format!("Save repo config\n\n{at}"));
            tx.set(&at, crate::model::to_json(&doc));
            tx.link(&latest, &at);
            self.cx.state.commit(&tx)?;
        }
        // Two branches of one repository need no copy: a checkout of the intent branch
        // reads the configurations from the `state` branch of its `origin`.
        let separate_intent = match &self.cx.config.stores {
            Some(StoreSelection {
                state,
                intent: Some(intent),
            }) => !same_repository(state, intent),
            _ => false,
        };
        if separate_intent {
            let copy = crate::model::to_json(&RepoConfigDoc {
                commit: Some(commit.to_string()),
                ..doc
            });
            let current = match self.cx.intent.entry(Area::Repos, &latest)? {
                Some(Entry::Document(v)) => Some(v),
                _ => None,
            };
            if current.as_ref() != Some(&copy) {
                let mut tx = Transaction::new(format!("Save repo config\n\n{at}"));
                tx.set_in(Area::Repos, &latest, copy);
                self.cx.intent.commit(&tx)?;
            }
        }
        Ok(())
    }

    /// Calls the trigger function recorded for each distinct (repository, commit) of
    /// `items` that carries a commit, except the current one. Failures are reported as
    /// progress and in the result, not as errors.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn trigger_items(
        &self,
        items: &[WorkItem],
        include_current: bool,
    ) -> EngineResult<Vec<Triggered>> {
        let mut pairs = BTreeSet::new();
        for item in items.iter().filter(|i| !i.commit.is_empty()) {
            let current = Some(&item.r.repo) == self.cx.repo_name.as_ref()
                && item.commit == self.cx.commit_name();
            if include_current || !current {
                pairs.insert((item.r.repo.clone(), item.commit.clone()));
            }
        }
        pairs
            .into_iter()
            .map(|(repo, commit)| self.trigger(&repo, &commit))
            .collect()
    }

    /// Returns (repository, commit) for the latest recorded configuration of every
    /// repository in state.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn latest_commits(&self) -> EngineResult<Vec<(String, String)>> {
        let glob = Glob::new(&format!("**/-/{}/@", escape(REPO_CONFIG_FILE)))?;
        let mut out = Vec::new();
        for link in self
            .cx
            .state
            .match_refs(Area::Records, &[glob], MatchOptions::default())?
        {
            let target = self.cx.state.resolve_link(&link)?;
            if let Some(commit) = target.release.clone().filter(|c| !c.is_empty()) {
                out.push((link.repo.clone(), commit));
            }
        }
        Ok(out)
    }

    /// Triggers the latest recorded commit of every repository in state (`work trigger --intent`).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn trigger_latest(&self) -> EngineResult<Vec<Triggered>> {
        self.latest_commits()?
            .iter()
            .map(|(repo, commit)| self.trigger(repo, commit))
            .collect()
    }

    fn trigger(&self, repo: &str, commit: &str) -> EngineResult<Triggered> {
        let at = Ref::repo_config(repo, commit);
        let latest = Ref::repo_config(repo, "");
        let doc = match self.cx.state.try_get(&at)? {
            Some(v) => Some(v),
            None => self.cx.state.try_get(&latest)?,
        };
        let result = match doc {
            None => "no recorded repo.ocu.star".to_string(),
            Some(v) => {
                let doc: RepoConfigDoc = decode(&at, "repo config", v)?;
                let path = self.cx.root.join(REPO_CONFIG_FILE);
                let sink = self.progress_sink(None);
                match config::evaluate_repo_config(&path, &doc.source, &self.cx.host, sink.clone())
                {
                    Err(e) => format!("error: {e}"),
                    Ok(cfg) => match cfg.trigger {
                        None => "no trigger".to_string(),
                        Some(t) => match t.call(commit, &self.cx.root, &self.cx.host, sink) {
                            Ok(()) => "triggered".to_string(),
                            Err(e) => format!("error: {e}"),
                        },
                    },
                }
            }
        };
        self.progress(ProgressEvent::Message(format!(
            "trigger {repo} at {commit}: {result}"
        )));
        Ok(Triggered {
            repo: repo.to_string(),
            commit: commit.to_string(),
            result,
        })
    }
}

/// Returns true when two store selections name the same repository (so only their branches
/// differ).
fn same_repository(a: &StoreSpec, b: &StoreSpec) -> bool {
    match (a, b) {
        (StoreSpec::Fs { path: a }, StoreSpec::Fs { path: b }) => a == b,
        (StoreSpec::Git { remote_url: a, .. }, StoreSpec::Git { remote_url: b, .. }) => a == b,
        _ => false,
    }
}
