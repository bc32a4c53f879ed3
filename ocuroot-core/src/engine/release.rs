//! Creating, continuing and retrying releases.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::claim::{ClaimState, claim_state};
use super::query;
use super::run::Candidate;
use super::{Engine, EngineError, EngineResult, ProgressEvent, RunStatus, decode, not_a_run};
use crate::model::RunType;
use crate::model::{self, Environment, Hold, ReleaseDoc, RunDoc, RunFunction};
use crate::plan::holds::{Holds, recorded_hold};
use crate::refs::SubpathType;
use crate::refs::glob::{escape, pattern_below};
use crate::refs::{Glob, Ref, names};
use crate::sdk::{LoadedPackage, PackageEval, PackageEvalOptions, evaluate_package};
use crate::store::{Area, MatchOptions, Reader, StoreError, Transaction};

/// The overall status of a release (spec §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseStatus {
    /// Nothing started.
    Pending,
    /// Some run is running.
    Running,
    /// Some run failed.
    Failed,
    /// A run was cancelled.
    Cancelled,
    /// Everything that could run has completed (runs may still wait for inputs).
    Complete,
}

/// What a release command did.
#[derive(Clone, Debug, PartialEq)]
pub enum ReleaseOutcome {
    /// A release ran until it paused; `waiting` lists runs blocked on inputs.
    Release {
        /// The release ref.
        release: Ref,
        /// Its status afterwards.
        status: ReleaseStatus,
        /// Runs that cannot continue yet, with their missing inputs.
        waiting: Vec<(Ref, Vec<String>)>,
    },
    /// The file registered environments (applied to state).
    Environments(Vec<Environment>),
    /// The file declared nothing.
    Nothing,
}

impl Engine {
    fn package_file(&self, pkg: &Ref) -> EngineResult<String> {
        if let Some(this) = &self.cx.repo_name
            && !pkg.repo.is_empty()
            && &pkg.repo != this
        {
            return Err(EngineError::OtherRepo {
                r: pkg.to_string(),
                repo: pkg.repo.clone(),
                this: this.clone(),
            });
        }
        let file = pkg.filename.clone();
        if file.is_empty() || !self.cx.root.join(&file).is_file() {
            return Err(EngineError::PackageNotFound { path: file });
        }
        Ok(file)
    }

    /// Returns the package file of `pkg` and its package ref in this repository
    /// (`<repo>/-/<file>`, no release).
    fn package_ref(&self, pkg: &Ref) -> EngineResult<(String, Ref)> {
        let file = self.package_file(pkg)?;
        let repo = self
            .cx
            .repo_name
            .clone()
            .unwrap_or_else(|| pkg.repo.clone());
        let r = Ref {
            repo,
            filename: file.clone(),
            ..Ref::default()
        };
        Ok((file, r))
    }

    fn environments(&self) -> EngineResult<Vec<Environment>> {
        query::environments(&*self.cx.state)
    }

    fn evaluate(&self, file: &str, base: &Ref) -> EngineResult<PackageEval> {
        let opts = PackageEvalOptions {
            root: self.cx.root.clone(),
            file: file.to_string(),
            base_ref: base.clone(),
            environments: self.environments()?,
            host: self.cx.host.clone(),
            sink: self.progress_sink(None),
            secrets: self.secrets.clone(),
        };
        Ok(evaluate_package(&opts)?)
    }

    /// Creates a release of the package `pkg` at the current commit and runs it until it
    /// pauses (`ocuroot release new`).
    ///
    /// # Errors
    ///
    /// [`EngineError::AlreadyReleased`] without `force` when the commit has a release;
    /// evaluation, validation and store errors. A failing task is not an error: the outcome's
    /// status is [`ReleaseStatus::Failed`].
    pub fn release_new(&self, pkg: &Ref, force: bool) -> EngineResult<ReleaseOutcome> {
        if pkg.has_release() {
            return Err(EngineError::ReleaseSpecified { r: pkg.to_string() });
        }
        let (file, pkg) = self.package_ref(pkg)?;
        let commit = self.cx.commit_name().to_string();
        if !force {
            let glob = Glob::new(&format!(
                "{}/@*/commit/{}",
                escape(&pkg.to_string()),
                escape(&commit)
            ))?;
            let existing = self.cx.state.match_refs(
                Area::Records,
                &[glob],
                MatchOptions { no_links: true },
            )?;
            if !existing.is_empty() {
                let refs = existing.iter().map(Ref::release_ref).collect();
                return Err(EngineError::AlreadyReleased { commit, refs });
            }
        }
        loop {
            let id = self.next_release_id(&pkg)?;
            let release = pkg.with_release(Some(&format!("r{id}")));
            let loaded = match self.evaluate(&file, &release)? {
                PackageEval::Nothing => return Ok(ReleaseOutcome::Nothing),
                PackageEval::Environments(envs) => {
                    super::apply::register_environments(self, &envs)?;
                    return Ok(ReleaseOutcome::Environments(envs));
                }
                PackageEval::Package(loaded) => loaded,
            };
            // The first wave starts in the commit that creates the release.
            let init = self.init_release(&release, &commit, &loaded)?;
            let ran = self
                .run_to_pause_carrying(&release, &loaded, Some(init))
                .and_then(|done| self.commit_leftover(done));
            match ran {
                Ok(outcome) => return Ok(outcome),
                // Another job took this id between our read and our commit: take the next.
                Err(EngineError::Store(StoreError::AlreadyExists { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn next_release_id(&self, pkg: &Ref) -> EngineResult<u64> {
        query::next_release_id(&*self.cx.state, pkg)
    }

    /// Returns the transaction that creates `release` (not committed yet): the release
    /// document (create-only), the commit marker and run 1 of every task.
    fn init_release(
        &self,
        release: &Ref,
        commit: &str,
        loaded: &LoadedPackage,
    ) -> EngineResult<Transaction> {
        let mut tx = Transaction::new(format!("initializing release\n\n{release}"));
        tx.create(
            release,
            model::to_json(&ReleaseDoc {
                commit: commit.to_string(),
                package: loaded.package.clone(),
            }),
        );
        tx.set(
            &release.with_subpath(SubpathType::Commit, commit),
            self.marker(),
        );
        self.add_first_runs(&mut tx, release, &loaded.package, false)?;
        Ok(tx)
    }

    /// Records run 1 (status `pending`) of every task and deployment of `package`, each
    /// depending on the completion of every task of the previous phase (spec §6.2). With
    /// `skip_existing`, tasks that already have runs are left alone: that is how a release
    /// gains deployments to environments added after it was made (`check_envs`).
    pub(crate) fn add_first_runs(
        &self,
        tx: &mut Transaction,
        release: &Ref,
        package: &model::Package,
        skip_existing: bool,
    ) -> EngineResult<()> {
        let mut previous: Vec<String> = Vec::new();
        for phase in &package.phases {
            let mut this = Vec::new();
            for spec in &phase.tasks {
                let kind = match spec {
                    model::WorkSpec::Task(_) => SubpathType::Task,
                    model::WorkSpec::Deploy(_) => SubpathType::Deploy,
                };
                let task = release.with_subpath(kind, spec.name());
                this.push(pattern_below(&task, "*/status/complete"));
                if skip_existing && self.next_run_number(&task)? > 1 {
                    continue;
                }
                let run = task.child(1);
                let doc = RunDoc {
                    run_type: if spec.kind() == "task" {
                        RunType::Task
                    } else {
                        RunType::Up
                    },
                    release: release.to_string(),
                    functions: vec![RunFunction {
                        function: spec.entry().clone(),
                        dependencies: previous.clone(),
                        inputs: spec.inputs().clone(),
                    }],
                    output: None,
                    watch_files: None,
                    override_freeze: false,
                };
                check_input_names(&run, &doc.functions[0].inputs)?;
                tx.set(&run, model::to_json(&doc));
                // A new run has no other status marker to remove.
                tx.set(&run.status(RunStatus::Pending), self.marker());
            }
            previous = this;
        }
        Ok(())
    }

    /// Continues a release at the current commit (`ocuroot release continue`).
    ///
    /// # Errors
    ///
    /// [`EngineError::ReleaseNotFound`], [`EngineError::CommitMismatch`], evaluation and
    /// store errors.
    pub fn release_continue(&self, release: &Ref) -> EngineResult<ReleaseOutcome> {
        let (release, loaded) = self.open_release(release)?;
        self.run_to_pause(&release, &loaded)
    }

    /// Resolves a release ref (tags, `@` links) and evaluates its package at the current
    /// checkout, checking that the commit matches.
    pub(crate) fn open_release(&self, release: &Ref) -> EngineResult<(Ref, LoadedPackage)> {
        if !release.has_release() || release.release.as_deref() == Some("") {
            return Err(EngineError::ReleaseRequired {
                r: release.to_string(),
            });
        }
        let resolved = self
            .cx
            .state
            .resolve_link(&release.release_ref())?
            .release_ref();
        let Some(doc) = self.cx.state.try_get(&resolved)? else {
            return Err(EngineError::ReleaseNotFound {
                r: release.to_string(),
            });
        };
        let doc: ReleaseDoc = decode(&resolved, "release", doc)?;
        if doc.commit != self.cx.commit_name() {
            return Err(EngineError::CommitMismatch {
                release: resolved.to_string(),
                expected: doc.commit,
                current: self.cx.commit_name().to_string(),
            });
        }
        let file = self.package_file(&resolved)?;
        match self.evaluate(&file, &resolved)? {
            PackageEval::Package(loaded) => Ok((resolved, loaded)),
            _ => Err(EngineError::NotAPackage { file }),
        }
    }

    /// Retries the failed runs of a release (`ocuroot release retry`): each failed run gets a
    /// new sibling run and becomes `failed_retried`; then the release runs until it pauses.
    ///
    /// # Errors
    ///
    /// [`EngineError::NoFailedRuns`] when nothing failed; as [`Engine::release_continue`].
    pub fn release_retry(&self, release: &Ref) -> EngineResult<ReleaseOutcome> {
        let (release, loaded) = self.open_release(release)?;
        let failed = self.runs_with_status(&release, &[RunStatus::Failed])?;
        if failed.is_empty() {
            return Err(EngineError::NoFailedRuns {
                release: release.to_string(),
            });
        }
        let mut tx = Transaction::new(format!("retrying failed runs\n\n{release}"));
        let mut moved = Vec::new();
        for run in failed {
            let doc: RunDoc = decode(&run, "run", self.cx.state.get(&run)?)?;
            let task = not_a_run(run.run_task(), &run)?;
            let next = self.next_run_number(&task)?;
            let new_run = task.child(next);
            let first = doc
                .functions
                .first()
                .cloned()
                .ok_or_else(|| EngineError::NoFunctions {
                    run: run.to_string(),
                })?;
            let new_doc = RunDoc {
                functions: vec![first],
                output: None,
                watch_files: None,
                ..doc
            };
            tx.set(&new_run, model::to_json(&new_doc));
            tx.set(&new_run.status(RunStatus::Pending), self.marker());
            moved.push((run.completion_glob(), new_run.completion_glob()));
            self.set_status(
                &mut tx,
                &run,
                &[RunStatus::Failed],
                RunStatus::FailedRetried,
            )?;
        }
        self.follow_retries(&mut tx, &moved)?;
        // The new runs start in the same commit.
        let done = self.run_to_pause_carrying(&release, &loaded, Some(tx))?;
        self.commit_leftover(done)
    }

    /// Points runs that wait for one of the retried runs (a `down` ordered after its
    /// reader's `down`, see [`crate::plan`]) at the retry instead: `moved` holds each old and
    /// new completion dependency. Waiting runs anywhere in the store are looked at, so this
    /// costs a walk of the pending and paused runs, once per retry.
    fn follow_retries(&self, tx: &mut Transaction, moved: &[(String, String)]) -> EngineResult<()> {
        let glob = Glob::new("**/status/{pending,paused}")?;
        let waiting =
            self.cx
                .state
                .match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?;
        for status in waiting {
            let run = not_a_run(status.status_run(), &status)?;
            let Some(v) = self.cx.state.try_get(&run)? else {
                continue;
            };
            let mut doc: RunDoc = decode(&run, "run", v)?;
            let mut changed = false;
            for dep in doc
                .functions
                .iter_mut()
                .flat_map(|f| f.dependencies.iter_mut())
            {
                if let Some((_, new)) = moved.iter().find(|(old, _)| old == dep) {
                    *dep = new.clone();
                    changed = true;
                }
            }
            if changed {
                tx.set(&run, model::to_json(&doc));
            }
        }
        Ok(())
    }

    /// Returns the release refs recorded for `commit` in this repository, sorted.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn releases_for_commit(&self, commit: &str) -> EngineResult<Vec<Ref>> {
        let repo = self.cx.repo_name.clone().unwrap_or_default();
        let glob = Glob::new(&format!(
            "{}/-/**/@*/commit/{}",
            escape(&repo),
            escape(commit)
        ))?;
        let refs =
            self.cx
                .state
                .match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?;
        let mut out: Vec<Ref> = refs.iter().map(Ref::release_ref).collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub(crate) fn next_run_number(&self, task: &Ref) -> EngineResult<u64> {
        query::next_run_number(&*self.cx.state, task)
    }

    /// Returns the run refs of `release` whose status is one of `statuses`.
    pub(crate) fn runs_with_status(
        &self,
        release: &Ref,
        statuses: &[RunStatus],
    ) -> EngineResult<Vec<Ref>> {
        query::runs_with_status(&*self.cx.state, release, statuses)
    }

    /// Records a status change: removes the markers the run can have now (`from`; a new
    /// run has none) and writes the new one, keeping exactly one `status/<s>` marker.
    /// Callers name `from` precisely so a wave of runs costs few tree lookups per run.
    pub(crate) fn set_status(
        &self,
        tx: &mut Transaction,
        run: &Ref,
        from: &[RunStatus],
        status: RunStatus,
    ) -> EngineResult<()> {
        for other in from.iter().filter(|s| **s != status) {
            tx.delete_if_exists(&run.status(*other));
        }
        tx.set(&run.status(status), self.marker());
        Ok(())
    }

    /// Computes the release status from its run markers (spec §6.3).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub fn release_status(&self, release: &Ref) -> EngineResult<ReleaseStatus> {
        query::release_status(&*self.cx.state, release)
    }

    /// Runs `release` until no run can make progress (spec §6.3).
    ///
    /// # Errors
    ///
    /// Store errors and missing functions; failing tasks are reported in the outcome.
    pub fn run_to_pause(
        &self,
        release: &Ref,
        loaded: &LoadedPackage,
    ) -> EngineResult<ReleaseOutcome> {
        let done = self.run_to_pause_carrying(release, loaded, None)?;
        self.commit_leftover(done)
    }

    /// As [`Engine::run_to_pause`], starting the first wave in one commit with `carry`
    /// (writes not committed yet), and returning the last wave's results uncommitted when no
    /// wave followed them: the caller commits them, alone or together with the first wave
    /// of the next release it runs, so a batch of releases costs one commit per release
    /// boundary instead of two.
    pub(crate) fn run_to_pause_carrying(
        &self,
        release: &Ref,
        loaded: &LoadedPackage,
        carry: Option<Transaction>,
    ) -> EngineResult<(ReleaseOutcome, Option<Transaction>)> {
        let (mut outcomes, leftover) = self.run_batch(&[(release, loaded)], carry)?;
        let outcome = outcomes.pop().ok_or_else(|| EngineError::NoOutcome {
            release: release.to_string(),
        })?;
        Ok((outcome, leftover))
    }

    /// Commits what a run to pause left uncommitted and returns its outcome.
    fn commit_leftover(
        &self,
        (outcome, leftover): (ReleaseOutcome, Option<Transaction>),
    ) -> EngineResult<ReleaseOutcome> {
        if let Some(tx) = leftover {
            self.cx.state.commit(&tx)?;
        }
        self.send_notifications();
        Ok(outcome)
    }

    /// Runs several releases until none can make progress, together: each wave gathers the
    /// ready runs of *every* release, starts them in one commit, executes them concurrently
    /// and records their results in one write, which is committed together with the start
    /// of the next wave. So a batch costs a commit per wave, not per release and wave, and
    /// a release that becomes ready through another one's results in the batch runs in the
    /// same batch.
    ///
    /// `carry` (writes not committed yet: a release's initialisation, an earlier batch's
    /// results) goes into the first commit. Waves are found on a preview of the store with
    /// the uncommitted writes applied, exactly as they would be found after committing them.
    /// The last results are returned uncommitted, for the caller to commit alone or with
    /// its next write. Outcomes are in the order of `releases`.
    ///
    /// # Errors
    ///
    /// Store errors and missing functions; failing tasks are reported in the outcomes.
    pub(crate) fn run_batch(
        &self,
        releases: &[(&Ref, &LoadedPackage)],
        mut carry: Option<Transaction>,
    ) -> EngineResult<(Vec<ReleaseOutcome>, Option<Transaction>)> {
        let mut waiting: Vec<Waiting> = vec![Vec::new(); releases.len()];
        let mut lost_claims = 0u32;
        // Runs that pause or fail leave the pending set, runs that wait for inputs are not
        // ready, and runs another job holds are skipped, so each wave makes progress and the
        // loop ends.
        // Holds come from intent as it is when the batch starts (see `plan::holds`).
        let intent_view = self.cx.intent.view()?;
        let holds = Holds::read(&intent_view, self.opts.clock.now())?;
        let mut held_runs: BTreeMap<Ref, Hold> = BTreeMap::new();
        'waves: loop {
            let mut wave: Vec<(usize, Candidate)> = Vec::new();
            let mut newly_held: Vec<(Ref, RunStatus, Value, Hold)> = Vec::new();
            {
                let preview;
                let view;
                let reader: &dyn Reader = match &carry {
                    Some(tx) => {
                        preview = self.cx.state.preview(tx)?;
                        &preview
                    }
                    None => {
                        view = self.cx.state.view()?;
                        &view
                    }
                };
                for (i, (release, loaded)) in releases.iter().enumerate() {
                    let found = self.candidates(reader, release, loaded, &holds)?;
                    waiting[i] = found.blocked;
                    wave.extend(found.ready.into_iter().map(|c| (i, c)));
                    for (run, owner) in found.claimed {
                        self.report_held(run, owner);
                    }
                    for (run, status, marker, hold) in found.held {
                        held_runs.insert(run.clone(), hold.clone());
                        if recorded_hold(&marker).as_ref() != Some(&hold) {
                            newly_held.push((run, status, marker, hold));
                        }
                    }
                }
            }
            // Held runs wait with the hold recorded in their marker (`state get`, `plan`).
            if !newly_held.is_empty() {
                let tx = carry.get_or_insert_with(|| Transaction::new("runs held"));
                for (run, status, marker, hold) in newly_held {
                    self.queue_notification(&run, "held", None, Some(&hold.to_string()));
                    let mut marker = match marker {
                        Value::Object(m) => m,
                        _ => serde_json::Map::new(),
                    };
                    marker.insert("held".to_string(), model::to_json(&hold));
                    tx.set(&run.status(status), Value::Object(marker));
                }
            }
            if wave.is_empty() {
                break;
            }
            // A wave of a large batch goes in slices, bounding memory; each slice's results
            // travel in the commit that starts the next.
            while !wave.is_empty() {
                let rest = wave.split_off(wave.len().min(self.opts.wave_slice.max(1)));
                let held = carry.clone();
                match self.start_wave(releases, carry.take(), &wave) {
                    Ok(()) => {}
                    // Another job claimed one of these runs first: nothing of this commit
                    // landed. Decide again on the store as it is now, where that run shows
                    // as theirs.
                    Err(EngineError::Store(StoreError::Changed { .. }))
                        if lost_claims < MAX_LOST_CLAIMS =>
                    {
                        lost_claims += 1;
                        carry = held;
                        continue 'waves;
                    }
                    Err(e) => return Err(e),
                }
                carry = self.execute_wave(releases, wave)?;
                wave = rest;
            }
        }
        let preview;
        let reader: &dyn Reader = match &carry {
            Some(tx) => {
                preview = self.cx.state.preview(tx)?;
                &preview
            }
            None => &*self.cx.state,
        };
        for (run, hold) in held_runs {
            self.progress(ProgressEvent::Held { run, hold });
        }
        let mut outcomes = Vec::with_capacity(releases.len());
        for ((release, _), waiting) in releases.iter().zip(waiting) {
            for (run, missing) in &waiting {
                self.progress(ProgressEvent::Waiting {
                    run: run.clone(),
                    missing: missing.clone(),
                });
            }
            outcomes.push(ReleaseOutcome::Release {
                release: (*release).clone(),
                status: query::release_status(reader, release)?,
                waiting,
            });
        }
        Ok((outcomes, carry))
    }

    /// Evaluates a package file and describes its phases (`ocuroot release lint`).
    ///
    /// # Errors
    ///
    /// Evaluation and validation errors.
    pub fn lint(&self, pkg: &Ref) -> EngineResult<Vec<String>> {
        let (file, pkg) = self.package_ref(pkg)?;
        let base = pkg.with_release(Some("lint"));
        let mut lines = Vec::new();
        match self.evaluate(&file, &base)? {
            PackageEval::Package(loaded) => {
                for phase in &loaded.package.phases {
                    if !phase.name.is_empty() || phase.tasks.len() > 1 {
                        lines.push(format!(
                            "Phase {:?}: {} tasks",
                            phase.name,
                            phase.tasks.len()
                        ));
                    }
                    for t in &phase.tasks {
                        let indent = if !phase.name.is_empty() || phase.tasks.len() > 1 {
                            "  "
                        } else {
                            ""
                        };
                        lines.push(match t {
                            model::WorkSpec::Task(t) => format!("{indent}Task: {:?}", t.name),
                            model::WorkSpec::Deploy(d) => {
                                format!("{indent}Deployment to {:?}", d.environment)
                            }
                        });
                    }
                }
            }
            PackageEval::Environments(envs) => {
                for e in envs {
                    lines.push(format!("Environment: {:?}", e.name));
                }
            }
            PackageEval::Nothing => lines.push("No release configured".to_string()),
        }
        Ok(lines)
    }

    /// Returns the runs that can execute now, the ones blocked on inputs, and the ones
    /// another job holds, as `reader` sees the store.
    fn candidates(
        &self,
        reader: &dyn Reader,
        release: &Ref,
        loaded: &LoadedPackage,
        holds: &Holds<'_>,
    ) -> EngineResult<Found> {
        // `running` runs are candidates only when their claim can be taken over (see
        // `engine::claim`): a run left `running` by a job that is gone is executed again
        // (at least once), one that another live job holds is skipped.
        let runs = query::run_statuses(
            reader,
            release,
            &[RunStatus::Pending, RunStatus::Paused, RunStatus::Running],
        )?;
        let mut ready = Vec::new();
        let mut blocked = Vec::new();
        let mut claimed = Vec::new();
        let mut held = Vec::new();
        for (run, status) in runs {
            let marker = reader.try_get(&run.status(status))?.unwrap_or(Value::Null);
            let claim = match claim_state(&self.opts.claims, status, marker) {
                ClaimState::Held(owner) => {
                    claimed.push((run, owner));
                    continue;
                }
                free => free,
            };
            let doc: RunDoc = super::get_decoded(reader, &run, "run")?;
            let Some(last) = doc.functions.last().cloned() else {
                continue;
            };
            if !query::dependencies_satisfied(reader, &last.dependencies)? {
                continue;
            }
            let inputs = query::populate(reader, &last.inputs)?;
            let missing: Vec<String> = inputs
                .iter()
                .filter(|(_, d)| d.is_missing())
                .map(|(k, d)| match &d.reference {
                    Some(r) => format!("{k} ({r})"),
                    None => k.clone(),
                })
                .collect();
            if !missing.is_empty() {
                blocked.push((run, missing));
                continue;
            }
            if status != RunStatus::Running
                && let Some(hold) = holds.hold_of(&run, &doc)?
            {
                let marker = reader.try_get(&run.status(status))?.unwrap_or(Value::Null);
                held.push((run, status, marker, hold));
                continue;
            }
            if !loaded.function(&last.function) {
                return Err(EngineError::FunctionNotFound {
                    key: last.function.key(),
                    run: run.to_string(),
                });
            }
            ready.push(Candidate {
                run,
                doc,
                inputs,
                claim,
            });
        }
        Ok(Found {
            ready,
            blocked,
            claimed,
            held,
        })
    }

    /// True when every dependency glob matches at least one state ref.
    pub(crate) fn dependencies_satisfied(&self, deps: &[String]) -> EngineResult<bool> {
        query::dependencies_satisfied(&*self.cx.state, deps)
    }

    /// Reads each ref input from state (spec §4.6): found sets the value, not found keeps it.
    pub(crate) fn populate(&self, inputs: &model::Inputs) -> EngineResult<model::Inputs> {
        query::populate(&*self.cx.state, inputs)
    }

    pub(crate) fn package_dir(&self, release: &Ref) -> std::path::PathBuf {
        let dir = Path::new(&release.filename)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        self.cx.root.join(dir)
    }
}

fn check_input_names(run: &Ref, inputs: &model::Inputs) -> EngineResult<()> {
    for name in inputs.keys() {
        if !names::is_valid_input_name(name) {
            return Err(EngineError::BadInputName {
                name: name.to_string(),
                run: run.to_string(),
            });
        }
    }
    Ok(())
}

/// Runs blocked on inputs, with the missing input names.
type Waiting = Vec<(Ref, Vec<String>)>;

/// How many times one batch re-decides a wave after losing a claim to another job before
/// giving up: each loss means another job made progress, so this bounds only a pathological
/// stream of competitors.
const MAX_LOST_CLAIMS: u32 = 1000;

/// Runs another job holds, with their owners.
type Claimed = Vec<(Ref, Option<super::Owner>)>;

/// What [`Engine::candidates`] finds among a release's runs.
struct Found {
    /// Runs that can execute now.
    ready: Vec<Candidate>,
    /// Runs blocked on inputs.
    blocked: Waiting,
    /// Runs another job holds.
    claimed: Claimed,
    /// Runs a freeze or a bad mark holds: status, current marker, hold.
    held: Vec<(Ref, RunStatus, Value, Hold)>,
}
