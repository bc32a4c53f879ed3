//! Work: intent to apply, runs ready to execute, deployments whose inputs changed, and
//! pending operations (spec §6.1, §6.4-6.7).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use super::claim::{ClaimState, claim_state};
use super::{
    Engine, EngineError, EngineResult, RunStatus, decode, get_decoded, not_a_run, try_decode,
};
use crate::intent::IntentKind;
use crate::model::RunType;
use crate::model::{self, ReleaseDoc, RunDoc, RunFunction, TaskSummary};
use crate::plan::holds::{Holds, recorded_hold};
use crate::refs::glob::escape;
use crate::refs::{Glob, Ref, SubpathType};
use crate::store::{Area, MatchOptions, Transaction, diff_intent};

/// The kind of a work item (`work_type` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkType {
    /// Intent exists that state has not applied.
    Create,
    /// Intent differs from what state applied.
    Update,
    /// State applied intent that no longer exists.
    Delete,
    /// A run to execute or continue (or a deployment to redeploy).
    Run,
    /// A new release to start.
    Release,
    /// An operation marker (`check_envs`).
    Op,
}

/// One piece of work (spec §6.1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct WorkItem {
    /// The ref the work is about.
    #[serde(rename = "ref", serialize_with = "ser_ref")]
    pub r: Ref,
    /// What to do.
    pub work_type: WorkType,
    /// The commit the work must run at, for commit-bound work.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

fn ser_ref<S: serde::Serializer>(r: &Ref, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(r)
}

/// Which work to consider.
#[derive(Clone, Debug, Default)]
pub struct WorkFilter {
    /// Only work of releases made at this commit (and in this repository).
    pub commit: Option<String>,
    /// Only work that follows from these changes (a cascade, spec §6.8).
    pub changes: Option<Arc<Changes>>,
}

/// The refs a process changed, which a cascade follows (spec §6.8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Refs written to the state store.
    pub state: BTreeSet<Ref>,
    /// Refs written to the intent store.
    pub intent: BTreeSet<Ref>,
    /// The state refs as text, for prefix queries.
    state_text: BTreeSet<String>,
}

impl Changes {
    /// Collects changes to state and intent.
    pub fn new(state: BTreeSet<Ref>, intent: BTreeSet<Ref>) -> Changes {
        let state_text = state.iter().map(ToString::to_string).collect();
        Changes {
            state,
            intent,
            state_text,
        }
    }

    /// Returns whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty() && self.intent.is_empty()
    }

    /// The changed state refs whose text starts with `prefix`.
    fn state_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.state_text
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |t| t.starts_with(prefix))
    }
}

impl Engine {
    /// Lists the intent differences as work items.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn intent_work(&self) -> EngineResult<Vec<WorkItem>> {
        let diff = diff_intent(&self.cx.intent, &self.cx.state)?;
        Ok(diff
            .into_iter()
            .map(|d| WorkItem {
                r: d.r,
                work_type: match d.kind {
                    crate::store::DiffKind::Create => WorkType::Create,
                    crate::store::DiffKind::Update => WorkType::Update,
                    crate::store::DiffKind::Delete => WorkType::Delete,
                },
                commit: String::new(),
            })
            .collect())
    }

    fn repo_prefix(&self, filter: &WorkFilter) -> String {
        match (&filter.commit, &self.cx.repo_name) {
            (Some(_), Some(repo)) => format!("{}/-/**", escape(repo)),
            _ => "**".to_string(),
        }
    }

    fn release_commit(&self, release: &Ref) -> EngineResult<Option<String>> {
        let resolved = self.cx.state.resolve_link(&release.release_ref())?;
        let release = resolved.release_ref();
        // Only the commit is wanted: read that field where the store's cache keeps the
        // document, instead of decoding the whole package definition (every identification
        // asks this of every run and deployment).
        let commit = self.cx.state.try_with(&release, |v| {
            v.get("commit")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })?;
        match commit {
            None => Ok(None),
            Some(Some(commit)) => Ok(Some(commit)),
            // Not a release document: the full decode says why.
            Some(None) => Ok(
                try_decode::<ReleaseDoc>(&*self.cx.state, &release, "release")?.map(|d| d.commit),
            ),
        }
    }

    /// Runs that are pending or paused with dependencies satisfied and inputs available, and
    /// runs left `running` by a job that is gone (resumed at least once; see `engine::claim`).
    /// Runs another live job holds are left out.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn ready_runs(&self, filter: &WorkFilter) -> EngineResult<Vec<WorkItem>> {
        let glob = Glob::new(&format!(
            "{}/@*/{{deploy,task}}/*/*/status/{{pending,paused,running}}",
            self.repo_prefix(filter)
        ))?;
        let mut out = Vec::new();
        let intent_view = self.cx.intent.view()?;
        let holds = Holds::read(&intent_view, self.opts.clock.now())?;
        for status in
            self.cx
                .state
                .match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?
        {
            let run = not_a_run(status.status_run(), &status)?;
            if status.subpath.ends_with("/status/running") {
                let marker = self.cx.state.try_get(&status)?.unwrap_or_default();
                // Held by another live job: not work for this one (and not planned as such),
                // but said, so that a run stuck under a gone job on another machine shows.
                if let ClaimState::Held(owner) =
                    claim_state(&self.opts.claims, RunStatus::Running, marker)
                {
                    self.report_held(run, owner);
                    continue;
                }
            }
            let Some(commit) = self.release_commit(&run)? else {
                continue;
            };
            if filter.commit.as_ref().is_some_and(|c| c != &commit) {
                continue;
            }
            let doc: RunDoc = get_decoded(&*self.cx.state, &run, "run")?;
            let Some(last) = doc.functions.last() else {
                continue;
            };
            if let Some(changes) = &filter.changes
                && !self.run_touched(changes, &run, last)?
            {
                continue;
            }
            if !self.dependencies_satisfied(&last.dependencies)? {
                continue;
            }
            if self
                .populate(&last.inputs)?
                .values()
                .any(model::InputDesc::is_missing)
            {
                continue;
            }
            // A held run whose marker already records that hold is not work; one that does
            // not yet is, so that executing it records the hold (see `plan::holds`).
            if !status.subpath.ends_with("/status/running")
                && let Some(hold) = holds.hold_of(&run, &doc)?
                && self
                    .cx
                    .state
                    .try_get(&status)?
                    .and_then(|m| recorded_hold(&m))
                    .as_ref()
                    == Some(&hold)
            {
                continue;
            }
            out.push(WorkItem {
                r: run,
                work_type: WorkType::Run,
                commit,
            });
        }
        Ok(out)
    }

    /// Current deployments whose upstream inputs changed since they ran (spec §6.5).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn reconcilable_deployments(&self, filter: &WorkFilter) -> EngineResult<Vec<WorkItem>> {
        let glob = Glob::new(&format!("{}/@/deploy/*", self.repo_prefix(filter)))?;
        let mut out = Vec::new();
        for link in self
            .cx
            .state
            .match_refs(Area::Records, &[glob], MatchOptions::default())?
        {
            let deployment = self.cx.state.resolve_link(&link)?;
            let Some(commit) = self.release_commit(&deployment)? else {
                continue;
            };
            if filter.commit.as_ref().is_some_and(|c| c != &commit) {
                continue;
            }
            let changes = filter.changes.as_ref().map(|c| &c.state);
            if self
                .deployment_inputs_changed(&deployment, changes)?
                .is_some()
                && !self.intent_moved_on(&link, &deployment)?
            {
                out.push(WorkItem {
                    r: deployment,
                    work_type: WorkType::Run,
                    commit,
                });
            }
        }
        Ok(out)
    }

    /// Whether the deploy intent at `link` (`<pkg>/@/deploy/<env>`) names another release
    /// than `deployment`'s: a rollback or promotion is on its way there, and redeploying the
    /// current release on an input change would work against it.
    fn intent_moved_on(&self, link: &Ref, deployment: &Ref) -> EngineResult<bool> {
        let Some(v) = self.cx.intent.try_get(link)? else {
            return Ok(false);
        };
        let Ok(intent) = serde_json::from_value::<model::DeployIntent>(v) else {
            return Ok(false);
        };
        let Ok(named) = Ref::parse(&intent.release) else {
            return Ok(false);
        };
        let named = self
            .cx
            .state
            .resolve_link(&named.release_ref())?
            .release_ref();
        Ok(named != deployment.release_ref())
    }

    /// Returns the re-populated entry function when a deployment's inputs changed. With
    /// `changes`, only inputs read from changed refs count.
    fn deployment_inputs_changed(
        &self,
        deployment: &Ref,
        changes: Option<&BTreeSet<Ref>>,
    ) -> EngineResult<Option<RunFunction>> {
        let Some(summary) = try_decode::<TaskSummary>(&*self.cx.state, deployment, "task summary")?
        else {
            return Ok(None);
        };
        if summary.run_type == RunType::Down {
            return Ok(None);
        }
        let run = Ref::parse(&summary.run_ref)?;
        let doc: RunDoc = get_decoded(&*self.cx.state, &run, "run")?;
        let Some(entry) = doc.functions.first().cloned() else {
            return Ok(None);
        };
        if !self.dependencies_satisfied(&entry.dependencies)? {
            return Ok(None);
        }
        let fresh = self.populate(&entry.inputs)?;
        let mut changed = false;
        for (name, new) in &fresh {
            let source = new.reference.as_deref().and_then(|r| Ref::parse(r).ok());
            if let Some(r) = &source {
                if same_job(r, deployment) {
                    continue;
                }
                if let Some(changes) = changes
                    && !self.touched(changes, r)?
                {
                    continue;
                }
            } else if changes.is_some() {
                // A literal input cannot have been changed by anyone.
                continue;
            }
            if entry.inputs.get(name).and_then(|o| o.value.as_ref()) != new.value.as_ref() {
                changed = true;
                break;
            }
        }
        Ok(changed.then(|| RunFunction {
            inputs: fresh,
            dependencies: Vec::new(),
            ..entry
        }))
    }

    /// Pending operation markers.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn pending_ops(&self, filter: &WorkFilter) -> EngineResult<Vec<WorkItem>> {
        let glob = Glob::new(&format!("{}/@*/op/*", self.repo_prefix(filter)))?;
        let mut out = Vec::new();
        for op in
            self.cx
                .state
                .match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?
        {
            if filter
                .changes
                .as_ref()
                .is_some_and(|c| !c.state.contains(&op))
            {
                continue;
            }
            let Some(commit) = self.release_commit(&op)? else {
                continue;
            };
            if filter.commit.as_ref().is_some_and(|c| c != &commit) {
                continue;
            }
            out.push(WorkItem {
                r: op,
                work_type: WorkType::Op,
                commit,
            });
        }
        Ok(out)
    }

    /// All work: intent diff, ready runs, reconcilable deployments, ops (spec §6.1).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn identify_work(
        &self,
        filter: &WorkFilter,
        include_intent: bool,
    ) -> EngineResult<Vec<WorkItem>> {
        // Every read of one identification sees one state and one intent (and costs no look
        // at the branches): a writer landing meanwhile is seen by the next identification.
        self.cx.state.pinned(|| {
            self.cx
                .intent
                .pinned(|| self.identify_work_in(filter, include_intent))
        })??
    }

    fn identify_work_in(
        &self,
        filter: &WorkFilter,
        include_intent: bool,
    ) -> EngineResult<Vec<WorkItem>> {
        let mut items = Vec::new();
        if include_intent {
            let intent = self.intent_work()?;
            match &filter.changes {
                None => items.extend(intent),
                Some(changes) => {
                    for item in intent {
                        if self.intent_touched(&changes.intent, &item.r)? {
                            items.push(item);
                        }
                    }
                }
            }
        }
        items.extend(self.ready_runs(filter)?);
        items.extend(self.reconcilable_deployments(filter)?);
        items.extend(self.pending_ops(filter)?);
        Ok(items)
    }

    /// Returns whether `r` (fragment ignored) or the ref its links resolve to in state is
    /// among `changes`.
    pub(crate) fn touched(&self, changes: &BTreeSet<Ref>, r: &Ref) -> EngineResult<bool> {
        let bare = Ref {
            fragment: String::new(),
            ..r.clone()
        };
        if changes.contains(&bare) {
            return Ok(true);
        }
        let resolved = self.cx.state.resolve_link(&bare)?;
        Ok(resolved != bare && changes.contains(&resolved))
    }

    /// As [`Engine::touched`] for an intent ref, resolved through intent links as well.
    fn intent_touched(&self, changes: &BTreeSet<Ref>, r: &Ref) -> EngineResult<bool> {
        if self.touched(changes, r)? {
            return Ok(true);
        }
        let resolved = self.cx.intent.resolve_link(r)?;
        Ok(changes.contains(&resolved))
    }

    /// Whether a waiting run can have become ready through `changes` (spec §6.4): the run
    /// itself changed, a dependency it waits for changed, or a ref it reads changed.
    fn run_touched(&self, changes: &Changes, run: &Ref, last: &RunFunction) -> EngineResult<bool> {
        let prefix = format!("{run}/");
        if changes.state.contains(run) || changes.state_with_prefix(&prefix).next().is_some() {
            return Ok(true);
        }
        // Dependencies are globs (`<task>/*/status/complete`): unlike the original, whose
        // check compared them as refs and never matched, match them against the changes
        // under their literal prefix.
        for dep in &last.dependencies {
            let glob = Glob::new(dep)?;
            let mut literal = glob.literal_prefix_segments().join("/");
            if !literal.is_empty() {
                literal.push('/');
            }
            if changes.state_with_prefix(&literal).any(|c| glob.matches(c)) {
                return Ok(true);
            }
        }
        for input in last.inputs.values() {
            if let Some(r) = input.reference.as_deref().and_then(|r| Ref::parse(r).ok())
                && self.touched(&changes.state, &r)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Executes work items in this checkout (spec §6.7): intent first, then ops, then new
    /// releases, then runs.
    ///
    /// Commit-bound items of other commits must have been filtered out by the caller.
    ///
    /// # Errors
    ///
    /// Store and evaluation errors; failed runs are reported through progress and the return
    /// value is `true` when some release ended failed.
    pub fn execute_work(&self, items: &[WorkItem]) -> EngineResult<bool> {
        let intent: BTreeSet<Ref> = items
            .iter()
            .filter(|i| {
                matches!(
                    i.work_type,
                    WorkType::Create | WorkType::Update | WorkType::Delete
                )
            })
            .map(|i| i.r.clone())
            .collect();
        if !intent.is_empty() {
            self.apply_intent_changes(Some(&intent))?;
        }
        let ops: Vec<Ref> = items
            .iter()
            .filter(|i| i.work_type == WorkType::Op)
            .map(|i| i.r.clone())
            .collect();
        self.run_ops(&ops)?;
        let mut failed = false;
        for item in items.iter().filter(|i| i.work_type == WorkType::Release) {
            // `push` work: a new release of a changed package file, whatever releases this
            // commit already has (spec §6.7).
            if let super::ReleaseOutcome::Release { status, .. } =
                self.release_new(&item.r, true)?
            {
                failed |= status == super::ReleaseStatus::Failed;
            }
        }
        let mut releases = BTreeSet::new();
        for item in items.iter().filter(|i| i.work_type == WorkType::Run) {
            if item.r.is(SubpathType::Deploy)
                && !item.r.subpath.contains('/')
                && let Some(entry) = self.deployment_inputs_changed(&item.r, None)?
            {
                let next = self.next_run_number(&item.r)?;
                let run = item.r.child(next);
                let doc = RunDoc {
                    run_type: RunType::Up,
                    release: item.r.release_ref().to_string(),
                    functions: vec![entry],
                    output: None,
                    watch_files: None,
                    override_freeze: false,
                };
                let mut tx = Transaction::new(format!("redeploy on input change\n\n{run}"));
                tx.set(&run, model::to_json(&doc));
                self.set_status(&mut tx, &run, &[], RunStatus::Pending)?;
                self.cx.state.commit(&tx)?;
            }
            releases.insert(item.r.release_ref());
        }
        // The releases run together, [`RELEASES_PER_BATCH`] at a time (each holds its
        // evaluated package in memory): one commit per wave of a batch (see
        // `Engine::run_batch`), and each batch's last results travel in the next batch's
        // first commit.
        let releases: Vec<Ref> = releases.into_iter().collect();
        let mut carry: Option<Transaction> = None;
        for chunk in releases.chunks(RELEASES_PER_BATCH) {
            let mut opened = Vec::new();
            for release in chunk {
                match self.open_release(release) {
                    Ok(x) => opened.push(x),
                    Err(EngineError::ReleaseNotFound { .. }) => {}
                    Err(e) => {
                        self.commit_carry(carry)?;
                        return Err(e);
                    }
                }
            }
            let batch: Vec<(&Ref, &crate::sdk::LoadedPackage)> =
                opened.iter().map(|(r, l)| (r, l)).collect();
            let held = carry.clone();
            let (outcomes, leftover) = match self.run_batch(&batch, carry) {
                Ok(x) => x,
                Err(e) => {
                    // Keep the previous batch's results if the error came before they were
                    // committed (re-applying committed writes changes nothing). Best effort:
                    // a run whose result is lost stays `running` and runs again.
                    let _ = self.commit_carry(held);
                    return Err(e);
                }
            };
            carry = leftover;
            for outcome in outcomes {
                if let super::ReleaseOutcome::Release { status, .. } = outcome {
                    failed |= status == super::ReleaseStatus::Failed;
                }
            }
        }
        self.commit_carry(carry)?;
        Ok(failed)
    }

    fn commit_carry(&self, carry: Option<Transaction>) -> EngineResult<()> {
        if let Some(tx) = carry {
            self.cx.state.commit(&tx)?;
        }
        self.send_notifications();
        Ok(())
    }

    /// Applies the intent at `r` to state (`ocuroot state apply`, spec §6.6), as the plan
    /// for it says (see [`crate::plan`]); nothing happens when state already matches.
    ///
    /// # Errors
    ///
    /// [`EngineError::NotIntent`] for refs that are not intent; [`EngineError::Plan`] for
    /// invalid intent; store errors.
    pub fn apply_intent(&self, r: &Ref) -> EngineResult<()> {
        if IntentKind::of(r).is_none() {
            return Err(EngineError::NotIntent { r: r.to_string() });
        }
        self.apply_intent_changes(Some(&BTreeSet::from([r.clone()])))?;
        Ok(())
    }

    /// Runs an operation marker (`check_envs`): adds runs for tasks of the release's package
    /// that have none yet (deployments to new environments), then removes the marker.
    ///
    /// # Errors
    ///
    /// Store and evaluation errors, or a commit mismatch.
    pub fn run_op(&self, op: &Ref) -> EngineResult<()> {
        self.run_ops(std::slice::from_ref(op))
    }

    /// Runs operation markers as [`Engine::run_op`] does, [`OPS_PER_COMMIT`] to a commit.
    ///
    /// # Errors
    ///
    /// As [`Engine::run_op`]; markers of earlier commits stay done.
    pub fn run_ops(&self, ops: &[Ref]) -> EngineResult<()> {
        for chunk in ops.chunks(OPS_PER_COMMIT) {
            let mut tx = Transaction::new(match chunk {
                [one] => format!("running task\n\n{one}"),
                _ => format!(
                    "running {} operations\n\n{}",
                    chunk.len(),
                    chunk
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            });
            for op in chunk {
                let (release, loaded) = self.open_release(&op.release_ref())?;
                self.add_first_runs(&mut tx, &release, &loaded.package, true)?;
                let mut doc: ReleaseDoc =
                    decode(&release, "release", self.cx.state.get(&release)?)?;
                doc.package = loaded.package.clone();
                tx.set(&release, model::to_json(&doc));
                tx.delete_if_exists(op);
            }
            self.cx.state.commit(&tx)?;
        }
        Ok(())
    }
}

/// How many releases run together in one batch of `execute_work`: each holds its evaluated
/// package (a few MB) while the batch runs.
pub const RELEASES_PER_BATCH: usize = 64;

/// How many operation markers one commit handles: few commits (and pushes) for an estate,
/// transactions small enough to re-apply quickly after a lost race.
pub const OPS_PER_COMMIT: usize = 100;

/// True when `input` reads the same job as `deployment` (same repo, package, type and
/// first subpath segment, any release), e.g. `previous_count` reading its own last output.
fn same_job(input: &Ref, deployment: &Ref) -> bool {
    input.repo == deployment.repo
        && input.filename == deployment.filename
        && input.subpath_type == deployment.subpath_type
        && input.subpath.split('/').next() == deployment.subpath.split('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Ref {
        s.parse().expect("ref")
    }

    #[test]
    fn changes_answer_prefix_queries_exactly() {
        let changes = Changes::new(
            [
                r("repo/-/a.ocu.star/@r1/deploy/prod/1/status/complete"),
                r("repo/-/a.ocu.star/@r10/deploy/prod/1"),
                r("repo/-/ab.ocu.star/@r1/task/build/1"),
            ]
            .into_iter()
            .collect(),
            BTreeSet::new(),
        );
        let under = |p: &str| changes.state_with_prefix(p).cloned().collect::<Vec<_>>();
        assert_eq!(
            under("repo/-/a.ocu.star/@r1/"),
            vec!["repo/-/a.ocu.star/@r1/deploy/prod/1/status/complete".to_string()]
        );
        assert_eq!(under("repo/-/a.ocu.star/").len(), 2);
        assert_eq!(under("repo/").len(), 3);
        assert!(under("other/").is_empty());
        assert!(!changes.is_empty());
        assert!(Changes::default().is_empty());
    }

    #[test]
    fn same_job_ignores_the_release() {
        let deployment = r("repo/-/a.ocu.star/@r2/deploy/prod");
        assert!(same_job(
            &r("repo/-/a.ocu.star/@/deploy/prod#output/count"),
            &deployment
        ));
        assert!(!same_job(
            &r("repo/-/a.ocu.star/@/deploy/staging#output/count"),
            &deployment
        ));
        assert!(!same_job(
            &r("repo/-/b.ocu.star/@/deploy/prod#output/count"),
            &deployment
        ));
    }
}
