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
use super::{Engine, EngineResult, ProgressEvent, decode, ref_of};
use crate::config::{self, REPO_CONFIG_FILE, StoreSelection, StoreSpec};
use crate::model::RepoConfigDoc;
use crate::refs::Glob;
use crate::refs::glob::escape;
use crate::store::{Area, Entry, MatchOptions, Transaction};

/// Removes credentials from a URL so they never reach state or logs, keeping it usable for
/// cloning: for `http(s)://` the whole user part goes (it is a token or `user:token`); for
/// other schemes only a password (`ssh://git:pw@host` -> `ssh://git@host`: the user name
/// is part of the address, as `git@` is for GitHub). A password containing an unencoded `@`
/// is removed whole (the last `@` of the authority ends the user part).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return format!("{scheme}://{host}{path}");
    }
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}@{host}{path}"),
        None => url.to_string(),
    }
}

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

impl Engine<'_> {
    /// Records this repository's configuration for the current commit, once, in state;
    /// with an intent store in another repository, also copies it there as the repository's latest
    /// configuration ([`Area::Repos`]), so that commands run in a checkout of the intent
    /// store find the state store and the triggers (spec §5.1).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn save_repo_config(&self) -> EngineResult<()> {
        let Some(repo) = &self.ws.repo_name else {
            return Ok(());
        };
        let commit = self.ws.commit();
        let at = ref_of(&format!("{repo}/-/{REPO_CONFIG_FILE}/@{commit}"))?;
        let latest = ref_of(&format!("{repo}/-/{REPO_CONFIG_FILE}/@"))?;
        let mut remotes: Vec<String> = self.ws.config.remotes.clone().unwrap_or_default();
        remotes.extend(self.ws.origin_url().map(str::to_string));
        let doc = RepoConfigDoc {
            remotes: remotes.iter().map(|u| redact_url(u)).collect(),
            source: self.ws.config.source.clone(),
            commit: None,
        };
        if self.ws.state.try_get(&at)?.is_none() {
            let mut tx = Transaction::new(format!("Save repo config\n\n{at}"));
            tx.set(&at, crate::model::to_json(&doc));
            tx.link(&latest, &at);
            self.ws.state.commit(&tx)?;
        }
        // Two branches of one repository need no copy: a checkout of the intent branch
        // reads the configurations from the `state` branch of its `origin`.
        let separate_intent = match &self.ws.config.stores {
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
            let current = match self.ws.intent.entry(Area::Repos, &latest)? {
                Some(Entry::Document(v)) => Some(v),
                _ => None,
            };
            if current.as_ref() != Some(&copy) {
                let mut tx = Transaction::new(format!("Save repo config\n\n{at}"));
                tx.set_in(Area::Repos, &latest, copy);
                self.ws.intent.commit(&tx)?;
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
            let current =
                Some(&item.r.repo) == self.ws.repo_name.as_ref() && item.commit == self.ws.commit();
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
            .ws
            .state
            .match_refs(Area::Records, &[glob], MatchOptions::default())?
        {
            let target = self.ws.state.resolve_link(&link)?;
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
        let at = ref_of(&format!("{repo}/-/{REPO_CONFIG_FILE}/@{commit}"))?;
        let latest = ref_of(&format!("{repo}/-/{REPO_CONFIG_FILE}/@"))?;
        let doc = match self.ws.state.try_get(&at)? {
            Some(v) => Some(v),
            None => self.ws.state.try_get(&latest)?,
        };
        let result = match doc {
            None => "no recorded repo.ocu.star".to_string(),
            Some(v) => {
                let doc: RepoConfigDoc = decode(&at, "repo config", v)?;
                let path = self.ws.root.join(REPO_CONFIG_FILE);
                let sink = self.progress_sink(None);
                match config::evaluate_repo_config(&path, &doc.source, &self.ws.host, sink.clone())
                {
                    Err(e) => format!("error: {e}"),
                    Ok(cfg) => match cfg.trigger {
                        None => "no trigger".to_string(),
                        Some(t) => match t.call(commit, &self.ws.root, &self.ws.host, sink) {
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

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_are_removed() {
        assert_eq!(
            redact_url("https://user:token@github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            redact_url("https://github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            redact_url("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
        // The ssh user is part of the address, not a secret; a password is.
        assert_eq!(redact_url("ssh://git@host/x"), "ssh://git@host/x");
        assert_eq!(redact_url("ssh://git:pw@host/x"), "ssh://git@host/x");
        assert_eq!(
            redact_url("https://x-access-token:p@ss@github.com/a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(redact_url("https://tok@host"), "https://host");
        assert_eq!(
            redact_url("file:///srv/a@b/repo.git"),
            "file:///srv/a@b/repo.git"
        );
    }
}
