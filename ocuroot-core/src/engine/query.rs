//! Typed queries over a [`Reader`]: what the engine asks of state, answered the same for
//! a store's tip and for an uncommitted [`View`](crate::store::View).
//!
//! Release status, runs with a status, next release and run numbers, environments,
//! dependency checks and input population. The engine's methods of the same names ask the
//! state store; the batch runner asks the view a wave is about to commit.

use std::collections::{BTreeMap, BTreeSet};

use super::{EngineResult, ReleaseStatus, RunStatus, decode};
use crate::model::{Environment, Inputs};
use crate::refs::{Glob, Ref, names};
use crate::store::{Area, MatchOptions, Reader};

/// The status of `release` as `reader` sees it (spec §6.3): pending while every run is
/// pending, failed when one failed, running while one runs, complete when all completed.
pub fn release_status(reader: &dyn Reader, release: &Ref) -> EngineResult<ReleaseStatus> {
    let glob = Glob::below(release, "{task,deploy}/*/*/status/*")?;
    let refs = reader.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?;
    let statuses: BTreeSet<RunStatus> = refs
        .iter()
        .filter_map(|r| r.subpath.rsplit('/').next().and_then(RunStatus::parse))
        .collect();
    Ok(release_status_of(&statuses))
}

/// The status of a release whose runs' status markers name `statuses` (the rule of
/// [`release_status`], for callers that already read the markers).
pub fn release_status_of(statuses: &BTreeSet<RunStatus>) -> ReleaseStatus {
    if statuses.is_empty() || statuses.iter().all(|s| *s == RunStatus::Pending) {
        ReleaseStatus::Pending
    } else if statuses.contains(&RunStatus::Failed) {
        ReleaseStatus::Failed
    } else if statuses.contains(&RunStatus::Running) {
        ReleaseStatus::Running
    } else if statuses.contains(&RunStatus::Cancelled) {
        ReleaseStatus::Cancelled
    } else {
        ReleaseStatus::Complete
    }
}

/// Returns the runs of `release` whose status is one of `statuses`, with that status, read
/// from `reader`, sorted by run.
pub fn run_statuses(
    reader: &dyn Reader,
    release: &Ref,
    statuses: &[RunStatus],
) -> EngineResult<Vec<(Ref, RunStatus)>> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let glob = Glob::below(
        release,
        &format!("{{task,deploy}}/*/*/status/{{{}}}", names.join(",")),
    )?;
    let refs = reader.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?;
    let mut out: Vec<(Ref, RunStatus)> = refs
        .iter()
        .filter_map(|r| {
            let status = r.subpath.rsplit('/').next().and_then(RunStatus::parse)?;
            Some((r.status_run()?, status))
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// The runs of `release` whose status is one of `statuses`, sorted.
pub fn runs_with_status(
    reader: &dyn Reader,
    release: &Ref,
    statuses: &[RunStatus],
) -> EngineResult<Vec<Ref>> {
    Ok(run_statuses(reader, release, statuses)?
        .into_iter()
        .map(|(run, _)| run)
        .collect())
}

/// True when every dependency glob matches at least one ref `reader` sees.
pub fn dependencies_satisfied(reader: &dyn Reader, deps: &[String]) -> EngineResult<bool> {
    for dep in deps {
        let glob = Glob::new(dep)?;
        if reader
            .match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?
            .is_empty()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads each ref input through `reader` (spec §4.6): found sets the value, not found keeps
/// it.
pub fn populate(reader: &dyn Reader, inputs: &Inputs) -> EngineResult<Inputs> {
    let mut out = BTreeMap::new();
    for (name, desc) in inputs {
        let mut d = desc.clone();
        if let Some(r) = &desc.reference {
            let r = Ref::parse(r)?;
            if let Some(v) = reader.try_get(&r)? {
                d.value = Some(v);
            }
        }
        out.insert(name.clone(), d);
    }
    Ok(out)
}

/// The next release number of `pkg`: one more than the greatest `r<N>` recorded.
pub fn next_release_id(reader: &dyn Reader, pkg: &Ref) -> EngineResult<u64> {
    let glob = Glob::below(pkg, "@*")?;
    let refs = reader.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?;
    let max = refs
        .iter()
        .filter_map(|r| r.release.as_deref().and_then(names::release_number))
        .max();
    Ok(max.unwrap_or(0) + 1)
}

/// The next run number of a task or deployment: one more than the greatest recorded.
pub fn next_run_number(reader: &dyn Reader, task: &Ref) -> EngineResult<u64> {
    let glob = Glob::below(task, "*")?;
    let refs = reader.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?;
    let max = refs.iter().filter_map(Ref::run_number).max();
    Ok(max.unwrap_or(0) + 1)
}

/// The environments registered in state (`@/environment/*`), sorted.
pub fn environments(reader: &dyn Reader) -> EngineResult<Vec<Environment>> {
    let refs = reader.match_refs(
        Area::Records,
        &[Glob::new("@/environment/*")?],
        MatchOptions::default(),
    )?;
    let mut out = Vec::new();
    for r in refs {
        if let Some(v) = reader.try_get(&r)? {
            out.push(decode(&r, "environment", v)?);
        }
    }
    out.sort();
    Ok(out)
}
