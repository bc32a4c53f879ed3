//! The one place the in-process engine tests drive `ocuroot-core`'s engine and workspace.
//!
//! A [`Harness`] owns a source repository made from a fixture under `testdata/` (copied and
//! committed with fixed Git identities and dates, so its commit ids are reproducible), a home
//! folder, and the process environment its commands see. Every method does what one `ocuroot`
//! command does, in the order the command does it (`ocuroot-cli/src/commands/`): it opens a
//! fresh workspace, as a new process would (so a cascade follows only that command's own
//! writes), builds an engine with a fixed clock and a fixed claim owner, and calls the engine.
//! Test files use only this API, so that a change to the engine's or the workspace's API is
//! absorbed here.
//!
//! [`Harness::state_tree`] renders the state store's tree, every file with its text, and
//! [`Harness::state_diff`] what a command changed in it (see [`super::tree`]), with the
//! temporary folder shown as `$TEST_ENV` and commit ids by name (`[commit:1]`) or as `[HASH]`,
//! ready for `insta` snapshots.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ocuroot_core::engine::{
    CascadeScope, ClaimOptions, Engine, EngineOptions, NoProcesses, Owner, Progress, ProgressEvent,
    WorkFilter,
};
use ocuroot_core::refs::Ref;
use ocuroot_core::store::{Area, Transaction};
use ocuroot_core::workspace::{Workspace, WorkspaceOptions};
use serde_json::Value;

pub use ocuroot_core::engine::{
    CascadeReport, EngineError, ReleaseOutcome, ReleaseStatus, WorkItem,
};
pub use ocuroot_core::plan::{Effect, Plan};

use super::git;
pub use super::tree::Tree;
use super::tree::filter;

/// The claim owner every harness engine runs as: a fixed host and pid, so that `running`
/// markers left in state render the same in every run of the suite.
const OWNER_PID: u32 = 4242;

/// At most this many rounds of `work any` (as the CLI).
const MAX_ROUNDS: usize = 50;

/// Progress events as text lines, for asserting on failures and waiting runs.
#[derive(Default)]
pub struct Recorder {
    lines: Mutex<Vec<String>>,
}

impl Recorder {
    /// Returns the lines recorded so far and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Progress for Recorder {
    fn event(&self, event: ProgressEvent) {
        let line = match event {
            ProgressEvent::RunStarted { run } => format!("started {run}"),
            ProgressEvent::RunLog { run, line } => format!("log {run}: {line}"),
            ProgressEvent::RunFinished {
                run,
                status,
                detail,
                ..
            } => match detail {
                Some(d) => format!("finished {run}: {status}: {d}"),
                None => format!("finished {run}: {status}"),
            },
            ProgressEvent::Waiting { run, missing } => {
                format!("waiting {run}: {}", missing.join(", "))
            }
            ProgressEvent::Claimed { run, .. } => format!("claimed {run}"),
            ProgressEvent::TakenOver { run, reason, .. } => format!("taken over {run}: {reason}"),
            ProgressEvent::Held { run, hold } => format!("held {run}: {hold}"),
            ProgressEvent::Message(m) => format!("message: {m}"),
        };
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }
}

/// A temporary folder shared by several harnesses (repositories sharing one store).
pub struct Estate {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Estate {
    /// Makes an empty temporary folder.
    pub fn new() -> Estate {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical temp dir");
        Estate { _tmp: tmp, root }
    }

    /// Returns the folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes a bare repository `<name>.git` in the folder (a store remote) and returns its
    /// path.
    pub fn bare(&self, name: &str) -> PathBuf {
        let path = self.root.join(format!("{name}.git"));
        super::bare_remote(&path);
        path
    }
}

/// A source repository and the commands run in it (see the module doc).
pub struct Harness {
    /// Owns the temporary folder when the harness is not part of an [`Estate`].
    _tmp: Option<tempfile::TempDir>,
    /// The temporary root, shown as `$TEST_ENV`.
    root: PathBuf,
    /// The source repository.
    repo: PathBuf,
    /// `HOME` of the commands (`$OCUROOT_HOME` is `<home>/.ocuroot`).
    home: PathBuf,
    /// The environment of every command.
    env: BTreeMap<String, String>,
    /// Commit ids of the source repository, in order, rendered as `[commit:<n>]`.
    commits: Vec<String>,
    /// Progress of the commands run so far.
    progress: Arc<Recorder>,
}

/// The text of `testdata/<rel>`.
pub fn fixture_text(rel: &str) -> String {
    std::fs::read_to_string(fixture_dir(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display())) {
        let entry = entry.expect("entry");
        let to = dst.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).expect("copy");
        }
    }
}

impl Harness {
    /// A repository made from `testdata/<fixture>`, in its own temporary folder.
    pub fn fixture(fixture: &str) -> Harness {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical temp dir");
        let mut h = Self::make(&root, fixture, "repo");
        h._tmp = Some(tmp);
        h
    }

    /// A repository made from `testdata/<fixture>` in the folder `<estate>/<name>`.
    pub fn fixture_in(estate: &Estate, fixture: &str, name: &str) -> Harness {
        Self::make(estate.root(), fixture, name)
    }

    fn make(root: &Path, fixture: &str, name: &str) -> Harness {
        let repo = root.join(name);
        let home = root.join(format!("{name}-home"));
        copy_dir(&fixture_dir(fixture), &repo);
        std::fs::create_dir_all(&home).expect("mkdir home");
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "fixture"]);
        let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
        let mut env = BTreeMap::new();
        // Tasks' shell commands find their tools on the test's own PATH.
        if let Ok(path) = std::env::var("PATH") {
            env.insert("PATH".to_string(), path);
        }
        env.insert("HOME".to_string(), home.to_string_lossy().into_owned());
        Harness {
            _tmp: None,
            root: root.to_path_buf(),
            repo,
            home,
            env,
            commits: vec![head],
            progress: Arc::new(Recorder::default()),
        }
    }

    /// Returns the source repository.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// Sets an environment variable for every later command.
    pub fn set_env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// Removes an environment variable for every later command.
    pub fn remove_env(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// Pins the current commit to `commit` (`OCU_REPO_COMMIT_OVERRIDE`).
    pub fn at_commit(&mut self, commit: &str) -> &mut Self {
        self.set_env("OCU_REPO_COMMIT_OVERRIDE", commit)
    }

    /// Adds a bare `origin` under the harness's root, pushes `main` to it, and returns it.
    pub fn with_origin(&self) -> PathBuf {
        let origin = self.root.join(format!(
            "{}-origin.git",
            self.repo.file_name().expect("name").to_string_lossy()
        ));
        super::bare_remote(&origin);
        git(
            &self.repo,
            &["remote", "add", "origin", origin.to_str().expect("utf-8")],
        );
        git(&self.repo, &["push", "-q", "origin", "main"]);
        origin
    }

    /// Writes a file of the source repository (not committed).
    pub fn write_file(&self, rel: &str, text: &str) {
        let path = self.repo.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    /// Runs `git` in the source repository and returns its output.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.repo, args)
    }

    /// Adds `origin` with `url` (never fetched), which names a repository without an alias.
    pub fn set_origin_url(&self, url: &str) {
        git(&self.repo, &["remote", "add", "origin", url]);
    }

    /// Writes `files` (path relative to the repository, content), commits them and pushes
    /// to `origin` when there is one; the new commit renders as the next `[commit:<n>]`.
    pub fn commit_files(&mut self, message: &str, files: &[(&str, &str)]) -> String {
        for (path, text) in files {
            let path = self.repo.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, text).expect("write");
        }
        git(&self.repo, &["add", "-A"]);
        git(&self.repo, &["commit", "-q", "-m", message]);
        if !git(&self.repo, &["remote"]).trim().is_empty() {
            git(&self.repo, &["push", "-q", "origin", "main"]);
        }
        let head = git(&self.repo, &["rev-parse", "HEAD"]).trim().to_string();
        self.commits.push(head.clone());
        head
    }

    /// The worktrees and clones a cascade left under `$OCUROOT_HOME`, and the worktrees
    /// still registered with the source repository besides its own.
    pub fn leftover_checkouts(&self) -> Vec<String> {
        let mut left = Vec::new();
        for dir in ["worktrees", "clones"] {
            let path = self.home.join(".ocuroot").join(dir);
            if let Ok(entries) = std::fs::read_dir(&path) {
                left.extend(entries.flatten().map(|e| e.path().display().to_string()));
            }
        }
        let listed = git(&self.repo, &["worktree", "list", "--porcelain"]);
        left.extend(
            listed
                .lines()
                .filter(|l| l.starts_with("worktree "))
                .skip(1)
                .map(str::to_string),
        );
        left
    }

    /// Returns the `n`th commit (1-based) of the source repository.
    pub fn commit_id(&self, n: usize) -> &str {
        &self.commits[n - 1]
    }

    /// Returns the progress lines of the commands since the last call.
    pub fn progress(&self) -> Vec<String> {
        self.progress.take()
    }

    fn options(&self) -> EngineOptions {
        EngineOptions {
            parallel: 4,
            progress: self.progress.clone(),
            clock: super::clock(),
            results_window: EngineOptions::DEFAULT_RESULTS_WINDOW,
            wave_slice: EngineOptions::DEFAULT_WAVE_SLICE,
            claims: ClaimOptions::new(
                Owner {
                    host: "test".to_string(),
                    pid: OWNER_PID,
                    ..Owner::default()
                },
                Arc::new(NoProcesses),
            ),
            requested_by: None,
        }
    }

    /// Opens the workspace as a new command would.
    fn workspace(&self) -> Workspace {
        self.workspace_in(&self.repo)
    }

    fn workspace_in(&self, cwd: &Path) -> Workspace {
        Workspace::open(WorkspaceOptions {
            cwd: cwd.to_path_buf(),
            env: self.env.clone(),
            repo_url_override: self.env.get("OCU_REPO_URL_OVERRIDE").cloned(),
            commit_override: self.env.get("OCU_REPO_COMMIT_OVERRIDE").cloned(),
            author: super::author_from(&self.env),
            clock: super::clock(),
            sink: Arc::new(ocuroot_core::sdk::CollectingSink::default()),
            home: Some(self.home.join(".ocuroot")),
            remote: ocuroot_core::store::RemoteSettings {
                fetch_interval: std::time::Duration::ZERO,
                ..Default::default()
            },
        })
        .expect("open workspace")
    }

    /// Runs `f` with a fresh workspace and an engine on it.
    fn command<T>(&self, f: impl FnOnce(&Workspace, &Engine) -> T) -> T {
        let ws = self.workspace();
        let engine = Engine::new(&ws, self.options());
        f(&ws, &engine)
    }

    fn resolve(ws: &Workspace, text: &str) -> Ref {
        ws.resolve_cli_ref(text)
            .unwrap_or_else(|e| panic!("bad ref {text}: {e}"))
    }

    /// Work never starts from intent that does not validate (the `work` commands' check).
    fn refuse_invalid_intent(ws: &Workspace) -> Result<(), EngineError> {
        let problems = ocuroot_core::intent::check_changes(ws.intent(), ws.state())?;
        if problems.is_empty() {
            return Ok(());
        }
        Err(EngineError::Plan(ocuroot_core::plan::PlanError::Invalid(
            problems,
        )))
    }

    // --- release ------------------------------------------------------------------------

    /// `ocuroot release new <file>`.
    pub fn release_new(&self, file: &str) -> Result<ReleaseOutcome, EngineError> {
        self.release_new_with(file, false, false).map(|(o, _)| o)
    }

    /// `ocuroot release new <file> --force`.
    pub fn release_new_force(&self, file: &str) -> Result<ReleaseOutcome, EngineError> {
        self.release_new_with(file, true, false).map(|(o, _)| o)
    }

    /// `ocuroot release new <file> --cascade`: the outcome and the cascade's report.
    pub fn release_new_cascade(
        &self,
        file: &str,
    ) -> Result<(ReleaseOutcome, CascadeReport), EngineError> {
        self.release_new_with(file, false, true)
            .map(|(o, c)| (o, c.expect("cascaded")))
    }

    fn release_new_with(
        &self,
        file: &str,
        force: bool,
        cascade: bool,
    ) -> Result<(ReleaseOutcome, Option<CascadeReport>), EngineError> {
        self.command(|ws, engine| {
            let r = Self::resolve(ws, file);
            engine.save_repo_config()?;
            let outcome = engine.release_new(&r, force)?;
            let report = if cascade {
                Some(engine.cascade(CascadeScope::ThisProcess)?)
            } else {
                None
            };
            Ok((outcome, report))
        })
    }

    /// `ocuroot release continue <release>`.
    pub fn release_continue(&self, release: &str) -> Result<ReleaseOutcome, EngineError> {
        self.command(|ws, engine| {
            let r = Self::resolve(ws, release);
            engine.save_repo_config()?;
            engine.release_continue(&r)
        })
    }

    /// `ocuroot release retry <ref>`: a package ref without a release retries the latest
    /// release of the current commit.
    pub fn release_retry(&self, target: &str) -> Result<ReleaseOutcome, EngineError> {
        self.command(|ws, engine| {
            let mut r = Self::resolve(ws, target);
            engine.save_repo_config()?;
            if !r.has_release() {
                let releases = engine.releases_for_commit(ws.commit_name())?;
                let mine: Vec<&Ref> = releases
                    .iter()
                    .filter(|x| x.filename == r.filename)
                    .collect();
                r = (*mine
                    .last()
                    .or(releases.last().as_ref())
                    .unwrap_or_else(|| panic!("no release of {target} at this commit")))
                .clone();
            }
            engine.release_retry(&r)
        })
    }

    // --- work ---------------------------------------------------------------------------

    fn filter(ws: &Workspace) -> WorkFilter {
        WorkFilter {
            commit: Some(ws.commit_name().to_string()),
            changes: None,
        }
    }

    /// `ocuroot work continue --dryrun`: the runs ready at this commit and the deployments
    /// whose inputs changed.
    pub fn work_continue_dryrun(&self) -> Result<Vec<WorkItem>, EngineError> {
        self.command(|ws, engine| {
            let filter = Self::filter(ws);
            let mut items = engine.ready_runs(&filter)?;
            items.extend(engine.reconcilable_deployments(&filter)?);
            Ok(items)
        })
    }

    /// `ocuroot work continue`: returns whether some run failed.
    pub fn work_continue(&self) -> Result<bool, EngineError> {
        self.command(|ws, engine| {
            Self::refuse_invalid_intent(ws)?;
            engine.save_repo_config()?;
            let filter = Self::filter(ws);
            let mut items = engine.ready_runs(&filter)?;
            items.extend(engine.reconcilable_deployments(&filter)?);
            engine.execute_work(&items)
        })
    }

    /// `ocuroot work ops`: runs the pending operations of this commit.
    pub fn work_ops(&self) -> Result<bool, EngineError> {
        self.command(|ws, engine| {
            Self::refuse_invalid_intent(ws)?;
            engine.save_repo_config()?;
            let items = engine.pending_ops(&Self::filter(ws))?;
            engine.execute_work(&items)
        })
    }

    /// `ocuroot work any --dryrun`: all work of this commit, intent included.
    pub fn work_any_dryrun(&self) -> Result<Vec<WorkItem>, EngineError> {
        self.command(|ws, engine| engine.identify_work(&Self::filter(ws), true))
    }

    /// `ocuroot work any`: applies intent and runs what is ready at this commit until
    /// nothing changes, then triggers the rest. Returns whether some run failed.
    pub fn work_any(&self) -> Result<bool, EngineError> {
        self.command(|ws, engine| {
            Self::refuse_invalid_intent(ws)?;
            engine.save_repo_config()?;
            let filter = Self::filter(ws);
            let mut failed = false;
            let mut previous: Option<Vec<WorkItem>> = None;
            for _ in 0..MAX_ROUNDS {
                let items = engine.identify_work(&filter, true)?;
                if items.is_empty() || previous.as_ref() == Some(&items) {
                    break;
                }
                failed |= engine.execute_work(&items)?;
                previous = Some(items);
            }
            let rest = engine.identify_work(&WorkFilter::default(), false)?;
            engine.trigger_items(&rest, false)?;
            Ok(failed)
        })
    }

    /// `ocuroot work cascade --dryrun`: all outstanding work, of every commit.
    pub fn work_cascade_dryrun(&self) -> Result<Vec<WorkItem>, EngineError> {
        self.command(|_, engine| engine.identify_work(&WorkFilter::default(), true))
    }

    /// `ocuroot work cascade`.
    pub fn work_cascade(&self) -> Result<CascadeReport, EngineError> {
        self.command(|ws, engine| {
            Self::refuse_invalid_intent(ws)?;
            engine.save_repo_config()?;
            engine.cascade(CascadeScope::All)
        })
    }

    /// `ocuroot work trigger --dryrun`: the commit-bound work of every commit.
    pub fn work_trigger_dryrun(&self) -> Result<Vec<WorkItem>, EngineError> {
        self.command(|_, engine| engine.identify_work(&WorkFilter::default(), false))
    }

    /// `ocuroot work trigger`: triggers every (repository, commit) with commit-bound work;
    /// returns `(repo, commit, result)` of each.
    pub fn work_trigger(&self) -> Result<Vec<(String, String, String)>, EngineError> {
        self.command(|_, engine| {
            let items = engine.identify_work(&WorkFilter::default(), false)?;
            Ok(engine
                .trigger_items(&items, true)?
                .into_iter()
                .map(|t| (t.repo, t.commit, t.result))
                .collect())
        })
    }

    // --- intent -------------------------------------------------------------------------

    /// `ocuroot state set <ref> <value>` (validated as the CLI does).
    pub fn set_intent(&self, target: &str, value: Value) {
        self.command(|ws, _| {
            let r = Self::resolve(ws, target);
            ocuroot_core::intent::check_write(&r, &value, ws.state())
                .unwrap_or_else(|e| panic!("cannot set {r}: {e}"));
            let mut tx = Transaction::new(format!("set intent {r}"));
            tx.set(&r, value);
            ws.intent().commit(&tx).expect("commit intent");
        })
    }

    /// `ocuroot state delete <ref>`.
    pub fn delete_intent(&self, target: &str) {
        self.command(|ws, _| {
            let r = Self::resolve(ws, target);
            let mut tx = Transaction::new(format!("delete intent {r}"));
            tx.delete(&r);
            ws.intent().commit(&tx).expect("commit intent");
        })
    }

    /// Returns the intent document at `target`, if any.
    pub fn intent(&self, target: &str) -> Option<Value> {
        self.command(|ws, _| {
            ws.intent()
                .try_get(&Self::resolve(ws, target))
                .expect("read intent")
        })
    }

    /// `ocuroot plan`: what applying the intent branch's tip would do.
    pub fn plan(&self) -> Plan {
        self.try_plan().expect("plan")
    }

    /// As [`Harness::plan`], with planning errors (invalid intent) as text.
    pub fn try_plan(&self) -> Result<Plan, String> {
        self.command(|ws, _| {
            ocuroot_core::plan::plan(ws.intent(), None, ws.state()).map_err(|e| e.to_string())
        })
    }

    /// Commits `files` (path inside the intent branch, content; `None` deletes) to the intent
    /// store with plain Git, as a merged pull request would.
    pub fn hand_commit_intent(&self, files: &[(&str, Option<&str>)]) {
        self.command(|ws, _| {
            super::hand_commit(ws.intent().repo_path(), ws.intent().branch(), files);
        })
    }

    /// As [`Harness::hand_commit_intent`], on `branch` of the intent store's repository (a
    /// pull-request branch), made from the intent branch's tip if it does not exist.
    pub fn hand_commit_intent_on(&self, branch: &str, files: &[(&str, Option<&str>)]) {
        self.command(|ws, _| {
            let repo = ws.intent().repo_path();
            if super::git::try_git(repo, &["rev-parse", "--verify", "-q", branch]).is_none() {
                git(repo, &["branch", branch, ws.intent().branch()]);
            }
            super::hand_commit(repo, branch, files);
        })
    }

    /// `ocuroot plan --intent <rev>`: what applying the intent at `rev` would do.
    pub fn plan_at(&self, rev: &str) -> Plan {
        self.command(|ws, _| {
            ocuroot_core::plan::plan(ws.intent(), Some(rev), ws.state()).expect("plan")
        })
    }

    /// The text of the intent document file at `path` inside the intent branch.
    pub fn intent_file(&self, path: &str) -> String {
        self.command(|ws, _| {
            git(
                ws.intent().repo_path(),
                &["show", &format!("{}:{path}", ws.intent().branch())],
            )
        })
    }

    /// Carries out `plan` as it is (the engine's plan executor).
    pub fn apply_plan(&self, plan: &Plan) -> Result<(), EngineError> {
        self.command(|_, engine| engine.apply_plan(plan))
    }

    /// Plans all intent changes and carries them out; returns the plan applied.
    pub fn apply_intent_changes(&self) -> Result<Plan, EngineError> {
        self.command(|_, engine| engine.apply_intent_changes(None))
    }

    /// `ocuroot state apply <ref>` (with `--cascade` when `cascade`).
    pub fn state_apply(&self, target: &str, cascade: bool) -> Result<bool, EngineError> {
        self.command(|ws, engine| {
            Self::refuse_invalid_intent(ws)?;
            let r = Self::resolve(ws, target);
            engine.apply_intent(&r)?;
            if cascade {
                engine.save_repo_config()?;
                return Ok(engine.cascade(CascadeScope::ThisProcess)?.failed);
            }
            Ok(false)
        })
    }

    // --- push ---------------------------------------------------------------------------

    /// `ocuroot push --dryrun`: the package files `push` would release (in a checkout of
    /// the intent branch: the intent refs it would apply).
    pub fn push_dryrun(&self) -> Result<Vec<String>, EngineError> {
        self.command(|ws, engine| {
            if ws.store_checkout().is_some() {
                let (refs, _) = engine.push_intent(true)?;
                return Ok(refs.iter().map(ToString::to_string).collect());
            }
            Ok(engine.push_plan()?.files)
        })
    }

    /// `ocuroot push`: the package files released (in a checkout of the intent branch: the
    /// intent refs applied) and whether some run failed.
    pub fn push(&self) -> Result<(Vec<String>, bool), EngineError> {
        self.command(|ws, engine| {
            Self::refuse_invalid_intent(ws)?;
            if ws.store_checkout().is_some() {
                let (refs, failed) = engine.push_intent(false)?;
                return Ok((refs.iter().map(ToString::to_string).collect(), failed));
            }
            engine.save_repo_config()?;
            let report = engine.push()?;
            Ok((report.files, report.failed))
        })
    }

    // --- reading state ------------------------------------------------------------------

    /// `ocuroot state get <ref>`: the document (links resolved, fragment applied), if any.
    pub fn get(&self, target: &str) -> Option<Value> {
        self.command(|ws, _| {
            ws.state()
                .try_get(&Self::resolve(ws, target))
                .expect("read state")
        })
    }

    /// Whether `state get <ref>` finds a document.
    pub fn exists(&self, target: &str) -> bool {
        self.get(target).is_some()
    }

    /// `state get <ref>` as a string (a JSON string's content, else the JSON text).
    pub fn text(&self, target: &str) -> String {
        match self
            .get(target)
            .unwrap_or_else(|| panic!("{target} not found"))
        {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }

    /// `ocuroot state match <glob>`: the matching refs (links included), as text.
    pub fn matching(&self, glob: &str) -> Vec<String> {
        self.command(|ws, _| {
            let glob = ocuroot_core::refs::Glob::new(glob).expect("glob");
            ws.state()
                .match_refs(Area::Records, &[glob], Default::default())
                .expect("match")
                .iter()
                .map(ToString::to_string)
                .collect()
        })
    }

    /// The release's overall status.
    pub fn release_status(&self, release: &str) -> ReleaseStatus {
        self.command(|ws, engine| {
            engine
                .release_status(&Self::resolve(ws, release))
                .expect("release status")
        })
    }

    /// `git log -p --all` of the state store's repository: everything its history holds.
    pub fn state_history(&self) -> String {
        self.command(|ws, _| git(ws.state().repo_path(), &["log", "-p", "--all"]))
    }

    /// The state store's tip commit, to tell whether a command wrote anything.
    pub fn state_tip(&self) -> Option<String> {
        self.command(|ws, _| ws.state().tip().expect("tip"))
    }

    /// The state store's tree: every file of the records and the applied mirror with its
    /// text, sorted by path (see the module doc for the filters).
    pub fn state_tree(&self) -> String {
        self.state_files().render()
    }

    /// The state store's files, to compare with a later state ([`Harness::state_diff`]).
    pub fn state_files(&self) -> Tree {
        self.command(|ws, _| self.files(ws.state(), &[Area::Records, Area::Applied]))
    }

    /// What changed in the state store since `before`: files added (`+`, with their text),
    /// changed (`~`, with their new text) and removed (`-`).
    pub fn state_diff(&self, before: &Tree) -> String {
        self.state_files().diff(before)
    }

    /// The intent store's tree, rendered as [`Harness::state_tree`].
    pub fn intent_tree(&self) -> String {
        self.command(|ws, _| self.files(ws.intent(), &[Area::Records]))
            .render()
    }

    fn files(&self, store: &ocuroot_core::store::Store, areas: &[Area]) -> Tree {
        let view = store.view().expect("view");
        let mut files = BTreeMap::new();
        for area in areas {
            for file in view.files(*area).expect("files") {
                files.insert(self.filter_text(&file.path), self.filter_text(&file.text));
            }
        }
        Tree(files)
    }

    /// Replaces the temporary root with `$TEST_ENV`, known commits with `[commit:<n>]` and
    /// other 40-digit hex ids with `[HASH]` (see [`filter`]).
    pub fn filter_text(&self, text: &str) -> String {
        filter(text, &self.root, &self.commits)
    }
}

/// Renders a plan as `ocuroot plan -o json` does, filtered as [`Harness::filter_text`].
pub fn plan_json(h: &Harness, plan: &Plan) -> String {
    h.filter_text(&serde_json::to_string_pretty(plan).expect("plan json"))
}

/// Renders a plan's effects as `ocuroot plan` lists them: one ref, its change and one line
/// per effect.
pub fn plan_text(h: &Harness, plan: &Plan) -> String {
    let mut out = String::new();
    for item in &plan.items {
        out.push_str(&format!("{} {}\n", item.work_type.as_str(), item.r));
        for e in &item.effects {
            out.push_str(&format!("  {e}\n"));
        }
    }
    h.filter_text(&out)
}

/// The refs of work items, as text.
pub fn refs(items: &[WorkItem]) -> BTreeSet<String> {
    items.iter().map(|i| i.r.to_string()).collect()
}
