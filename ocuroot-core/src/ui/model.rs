//! The view models of the state viewer: typed structs built from one consistent
//! [`View`] of state (and one of intent) through the engine's typed queries and the plan.
//!
//! Nothing here writes a store or renders HTML: [`super::pages`] turns these structs into
//! markup. Every page model is built from the views a request took, so a page never mixes
//! two commits of a branch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{UiError, UiResult};
use crate::clock::Timestamp;
use crate::engine::query;
use crate::engine::{ReleaseStatus, RunStatus};
use crate::model::{
    BadMark, Environment, Freeze, Inputs, JsonMap, LogEntry, ReleaseDoc, RunDoc, RunType,
    TaskSummary,
};
use crate::refs::{Glob, REPO_CONFIG_FILE, Ref, SubpathType, names, natural_cmp};
use crate::store::{Area, Entry, HistoryChange, MatchOptions, Reader, Store, View};

/// The status a page shows: a run's, a release's, or "waiting" for a pending run that
/// cannot start yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UiStatus {
    /// Finished (a run) or everything finished (a release).
    Complete,
    /// Executing.
    Running,
    /// Failed.
    Failed,
    /// Failed and retried by a later run.
    FailedRetried,
    /// Created, ready to start.
    Pending,
    /// Created, blocked on a missing input or an unmet dependency.
    Waiting,
    /// Paused in a `next()` chain, waiting for inputs.
    Paused,
    /// Cancelled.
    Cancelled,
    /// Could start, but a freeze of its environment or a bad mark of its release holds it.
    Held,
    /// Deployed: the environment's current deployment.
    Deployed,
    /// No status recorded.
    Unknown,
}

impl From<RunStatus> for UiStatus {
    fn from(s: RunStatus) -> UiStatus {
        match s {
            RunStatus::Pending => UiStatus::Pending,
            RunStatus::Running => UiStatus::Running,
            RunStatus::Paused => UiStatus::Paused,
            RunStatus::Complete => UiStatus::Complete,
            RunStatus::Failed => UiStatus::Failed,
            RunStatus::FailedRetried => UiStatus::FailedRetried,
            RunStatus::Cancelled => UiStatus::Cancelled,
        }
    }
}

impl From<ReleaseStatus> for UiStatus {
    fn from(s: ReleaseStatus) -> UiStatus {
        match s {
            ReleaseStatus::Pending => UiStatus::Pending,
            ReleaseStatus::Running => UiStatus::Running,
            ReleaseStatus::Failed => UiStatus::Failed,
            ReleaseStatus::Cancelled => UiStatus::Cancelled,
            ReleaseStatus::Complete => UiStatus::Complete,
        }
    }
}

/// How a status is shown: a text label (so colour is never the only signal), a symbol and
/// the CSS class that colours it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusStyle {
    /// The word shown (`complete`, `waiting`, …).
    pub label: &'static str,
    /// A symbol shown before the word.
    pub symbol: &'static str,
    /// The CSS class (`st-ok`, `st-bad`, …).
    pub class: &'static str,
}

/// The one mapping from a status to its label, symbol and colour class.
pub fn status_style(s: UiStatus) -> StatusStyle {
    let (label, symbol, class) = match s {
        UiStatus::Complete => ("complete", "✔", "st-ok"),
        UiStatus::Deployed => ("deployed", "✔", "st-ok"),
        UiStatus::Running => ("running", "▶", "st-run"),
        UiStatus::Failed => ("failed", "✖", "st-bad"),
        UiStatus::FailedRetried => ("failed, retried", "↻", "st-muted"),
        UiStatus::Pending => ("ready", "○", "st-wait"),
        UiStatus::Waiting => ("waiting", "◔", "st-wait"),
        UiStatus::Paused => ("paused", "‖", "st-wait"),
        UiStatus::Cancelled => ("cancelled", "–", "st-muted"),
        UiStatus::Held => ("held", "⊘", "st-held"),
        UiStatus::Unknown => ("no status", "?", "st-muted"),
    };
    StatusStyle {
        label,
        symbol,
        class,
    }
}

/// The holds of intent that pages show: frozen environments (freezes in force) and releases
/// marked bad.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Holds {
    /// Freezes in force, by environment.
    pub frozen: BTreeMap<String, Freeze>,
    /// Bad marks, by release.
    pub bad: BTreeMap<Ref, BadMark>,
}

/// Reads the holds of `intent` at `now` (see [`crate::plan::holds`]).
///
/// # Errors
///
/// Store reads; freezes and marks that do not fit their schema.
pub fn holds(intent: &View<'_>, now: Timestamp) -> UiResult<Holds> {
    Ok(Holds {
        frozen: crate::plan::holds::Holds::read(intent, now)?
            .freezes()
            .clone(),
        bad: crate::plan::holds::bad_marks(intent)?,
    })
}

/// The counters of the dashboard (as the original's: environments, releases, deployments,
/// custom state).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Registered environments.
    pub environments: usize,
    /// Releases of all packages.
    pub releases: usize,
    /// Current deployments (`<pkg>/@/deploy/<env>`).
    pub deployments: usize,
    /// Custom state documents (global and per release).
    pub custom: usize,
}

/// A deployment: which release runs in an environment, since when, from which commit.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployed {
    /// The release deployed.
    pub release: Ref,
    /// The run that deployed it, if recorded.
    pub run: Option<Ref>,
    /// When that run completed (`YYYY-MM-DD HH:MM:SS` UTC).
    pub time: Option<String>,
    /// The source commit of the release.
    pub commit: Option<String>,
}

/// A run not complete: its status and what it waits for.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenRun {
    /// The run.
    pub run: Ref,
    /// Its status (pending runs that cannot start are [`UiStatus::Waiting`]).
    pub status: UiStatus,
    /// What it waits for: missing inputs and unmet dependencies, one phrase each.
    pub waiting: Vec<String>,
}

/// One cell of the overview matrix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// The current deployment, if any.
    pub deployed: Option<Deployed>,
    /// The newest run towards this environment when it is not the deployment: running,
    /// failed, waiting.
    pub open: Option<OpenRun>,
    /// The deployed release is marked bad: the mark.
    pub bad: Option<BadMark>,
}

/// A row of the overview matrix: one package.
#[derive(Clone, Debug, PartialEq)]
pub struct PackageRow {
    /// The package (`<repo>/-/<file>`).
    pub package: Ref,
    /// Its newest release and that release's status.
    pub latest: Option<(Ref, UiStatus)>,
    /// One cell per environment of [`Overview::environments`].
    pub cells: Vec<Cell>,
}

/// The overview: counters and the environments × packages matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Overview {
    /// The dashboard counters.
    pub counts: Counts,
    /// The matrix's columns: the registered environments, then any other environment a
    /// deployment names.
    pub environments: Vec<String>,
    /// The matrix's rows, sorted by package.
    pub packages: Vec<PackageRow>,
    /// Runs not complete anywhere (for the "outstanding work" counter).
    pub open_runs: usize,
    /// The holds of intent (frozen columns, bad cells).
    pub holds: Holds,
}

/// An input of a function as a page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct InputRow {
    /// The input name.
    pub name: String,
    /// The ref it reads, if any.
    pub reference: Option<String>,
    /// The value (populated, literal or default).
    pub value: Option<Value>,
    /// True when it has no value and no default.
    pub missing: bool,
}

/// One function of a run's chain.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionRow {
    /// The function name.
    pub name: String,
    /// Its `file:line:col`.
    pub pos: String,
    /// Its dependency globs, each with whether it is satisfied.
    pub dependencies: Vec<(String, bool)>,
    /// Its inputs.
    pub inputs: Vec<InputRow>,
}

/// A card of a release page: a task or a deployment, with its newest run.
#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    /// `task` or `deploy`.
    pub kind: &'static str,
    /// The task or environment name.
    pub name: String,
    /// The entry function.
    pub function: String,
    /// Every run, oldest first, with its status.
    pub runs: Vec<(Ref, UiStatus)>,
    /// The newest run's status ([`UiStatus::Unknown`] without runs).
    pub status: UiStatus,
    /// The newest run's inputs (populated as they are now for a run not complete).
    pub inputs: Vec<InputRow>,
    /// The newest run's outputs.
    pub outputs: Option<JsonMap>,
    /// What the newest run waits for.
    pub waiting: Vec<String>,
}

/// A phase of a release page: one column of cards.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseColumn {
    /// The phase name (may be empty).
    pub name: String,
    /// Its cards.
    pub cards: Vec<Card>,
}

/// The release page.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleasePage {
    /// The release.
    pub release: Ref,
    /// The source commit.
    pub commit: String,
    /// The release's status.
    pub status: UiStatus,
    /// Its phases.
    pub phases: Vec<PhaseColumn>,
    /// Environments where it is the current deployment.
    pub deployed_to: Vec<String>,
    /// The refs stored below it, links included (at most [`MAX_LIST`]), and how many.
    pub children: (Vec<Ref>, usize),
    /// Its bad mark in intent, if it has one.
    pub bad: Option<BadMark>,
}

/// A release as the package page lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseRow {
    /// The release.
    pub release: Ref,
    /// The source commit.
    pub commit: String,
    /// The release's status.
    pub status: UiStatus,
    /// Each phase with the status of each of its cards (`task build`, `deploy staging`).
    pub phases: Vec<(String, Vec<(String, UiStatus)>)>,
    /// Environments where it is the current deployment.
    pub deployed_to: Vec<String>,
}

/// The package page.
#[derive(Clone, Debug, PartialEq)]
pub struct PackagePage {
    /// The package.
    pub package: Ref,
    /// Its releases, newest first.
    pub releases: Vec<ReleaseRow>,
}

/// The run page.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPage {
    /// The run.
    pub run: Ref,
    /// Its release.
    pub release: Ref,
    /// `task`, `up` or `down`.
    pub run_type: RunType,
    /// Its status.
    pub status: UiStatus,
    /// When the status was recorded.
    pub status_time: Option<String>,
    /// The function chain, first to last.
    pub functions: Vec<FunctionRow>,
    /// The outputs, once complete.
    pub outputs: Option<JsonMap>,
    /// What it waits for.
    pub waiting: Vec<String>,
    /// The logs as stored (secrets masked when they were written).
    pub logs: Vec<LogEntry>,
    /// The refs stored below it (at most [`MAX_LIST`]), and how many.
    pub children: (Vec<Ref>, usize),
}

/// A deployment in an environment.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployedHere {
    /// The package.
    pub package: Ref,
    /// The deployment.
    pub deployed: Deployed,
    /// The deployed release is marked bad: the mark.
    pub bad: Option<BadMark>,
}

/// One change of an environment's deployments, from the store's Git history.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentChange {
    /// The commit time (`YYYY-MM-DD HH:MM:SS` UTC).
    pub time: String,
    /// Seconds since the epoch (for sorting).
    pub seconds: i64,
    /// The store commit.
    pub commit: String,
    /// Its author (`name <email>`).
    pub author: String,
    /// The package.
    pub package: Ref,
    /// Added, modified, deleted.
    pub change: HistoryChange,
    /// The release deployed after the change (`None` when removed).
    pub release: Option<Ref>,
}

/// The environment page.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentPage {
    /// The name.
    pub name: String,
    /// Its attributes in state, if registered.
    pub attributes: Option<BTreeMap<String, String>>,
    /// Its attributes in intent, if any.
    pub intent_attributes: Option<BTreeMap<String, String>>,
    /// What is deployed there now.
    pub deployed: Vec<DeployedHere>,
    /// Runs towards it that are not complete.
    pub open: Vec<OpenRun>,
    /// Its deployment history, newest first.
    pub history: Vec<EnvironmentChange>,
    /// Of how many packages the history was read, and how many have deployed here.
    pub history_packages: (usize, usize),
    /// Its freeze in force, if it is frozen.
    pub frozen: Option<Freeze>,
}

/// One pending intent change, as `ocuroot plan` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanRow {
    /// The intent ref.
    pub r: Ref,
    /// `create`, `update`, `delete`.
    pub work_type: &'static str,
    /// Its effects in one sentence.
    pub effect: String,
}

/// The outstanding-work page.
#[derive(Clone, Debug, PartialEq)]
pub struct OutstandingPage {
    /// Pending intent changes, or why none could be planned.
    pub plan: Result<Vec<PlanRow>, String>,
    /// Runs that can start now.
    pub ready: Vec<OpenRun>,
    /// Runs executing.
    pub running: Vec<OpenRun>,
    /// Runs waiting (pending or paused) with what they wait for.
    pub waiting: Vec<OpenRun>,
    /// Failed runs not retried.
    pub failed: Vec<OpenRun>,
}

/// A generic ref page: the document or link, and child refs.
#[derive(Clone, Debug, PartialEq)]
pub struct RefPage {
    /// The ref asked for.
    pub r: Ref,
    /// Where its links lead, when that is another ref.
    pub resolved: Option<Ref>,
    /// The document, if any.
    pub document: Option<Value>,
    /// Refs below it, sorted naturally (at most [`MAX_LIST`]).
    pub children: Vec<Ref>,
    /// How many children there are in all.
    pub total_children: usize,
}

/// A `/match/<glob>` page.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchPage {
    /// The glob.
    pub glob: String,
    /// The refs found, sorted naturally (at most [`MAX_LIST`]).
    pub refs: Vec<Ref>,
    /// How many matched in all.
    pub total: usize,
}

/// The most refs a list page shows.
pub const MAX_LIST: usize = 2000;

/// What `/ref/<ref>` shows, chosen by the ref's shape.
#[derive(Clone, Debug, PartialEq)]
pub enum RefView {
    /// A package ref.
    Package(PackagePage),
    /// A release ref.
    Release(ReleasePage),
    /// A run ref.
    Run(Box<RunPage>),
    /// `@/environment/<name>`.
    Environment(EnvironmentPage),
    /// Anything else.
    Generic(RefPage),
}

fn glob(text: &str) -> UiResult<Glob> {
    Ok(Glob::new(text)?)
}

fn no_links() -> MatchOptions {
    MatchOptions { no_links: true }
}

/// Renders an RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replacen('T', " ", 1)
}

fn marker_time(reader: &dyn Reader, marker: &Ref) -> UiResult<Option<String>> {
    Ok(reader
        .try_get(marker)?
        .and_then(|v| v.get("time").and_then(Value::as_str).map(short_time)))
}

/// True for `<repo>/-/<file>/@rN` of a package other than `repo.ocu.star`.
fn is_release(r: &Ref) -> bool {
    !r.global
        && r.subpath_type.is_none()
        && r.filename != REPO_CONFIG_FILE
        && r.release
            .as_deref()
            .is_some_and(|rel| names::release_number(rel).is_some())
}

fn release_number(r: &Ref) -> u64 {
    r.release
        .as_deref()
        .and_then(names::release_number)
        .unwrap_or(0)
}

/// The status a page shows for a release: the engine's, except that a release whose runs
/// all completed but some still wait (for an approval, an input) is waiting, not complete.
fn release_status(reader: &dyn Reader, release: &Ref) -> UiResult<UiStatus> {
    let glob = Glob::below(release, "{task,deploy}/*/*/status/*")?;
    let statuses: BTreeSet<RunStatus> = reader
        .match_refs(Area::Records, &[glob], no_links())?
        .iter()
        .filter_map(Ref::marker_status)
        .collect();
    Ok(release_status_of(&statuses))
}

/// [`release_status`] from the status markers of the release's runs.
fn release_status_of(statuses: &BTreeSet<RunStatus>) -> UiStatus {
    let status = query::release_status_of(statuses);
    if status == ReleaseStatus::Complete
        && (statuses.contains(&RunStatus::Pending) || statuses.contains(&RunStatus::Paused))
    {
        return UiStatus::Waiting;
    }
    status.into()
}

/// The releases of every package, newest first per package.
fn releases_by_package(reader: &dyn Reader) -> UiResult<BTreeMap<Ref, Vec<Ref>>> {
    let mut out: BTreeMap<Ref, Vec<Ref>> = BTreeMap::new();
    for r in reader.match_refs(Area::Records, &[glob("**/@*")?], no_links())? {
        if is_release(&r) {
            out.entry(r.package_ref()).or_default().push(r);
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|r| std::cmp::Reverse(release_number(r)));
    }
    Ok(out)
}

/// The latest status marker of every run matching `glob_text` (a status glob).
fn run_markers(reader: &dyn Reader, globs: &[&str]) -> UiResult<Vec<(Ref, RunStatus)>> {
    let globs: Vec<Glob> = globs.iter().map(|g| glob(g)).collect::<UiResult<_>>()?;
    let mut out: BTreeMap<Ref, RunStatus> = BTreeMap::new();
    for m in reader.match_refs(Area::Records, &globs, no_links())? {
        if let (Some(run), Some(status)) = (m.status_run(), m.marker_status()) {
            // A run has one marker; should two exist, the later in the lifecycle wins.
            let e = out.entry(run).or_insert(status);
            if status_rank(status) > status_rank(*e) {
                *e = status;
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn status_rank(s: RunStatus) -> u8 {
    match s {
        RunStatus::Pending => 0,
        RunStatus::Paused => 1,
        RunStatus::Running => 2,
        RunStatus::Cancelled => 3,
        RunStatus::Complete => 4,
        RunStatus::Failed => 5,
        RunStatus::FailedRetried => 6,
    }
}

fn decode<T: serde::de::DeserializeOwned>(r: &Ref, what: &'static str, v: Value) -> UiResult<T> {
    serde_json::from_value(v).map_err(|source| UiError::BadDocument {
        r: r.to_string(),
        what,
        source,
    })
}

fn read_run(reader: &dyn Reader, run: &Ref) -> UiResult<Option<RunDoc>> {
    reader
        .try_get(run)?
        .map(|v| decode(run, "run", v))
        .transpose()
}

/// The rows of an input table for `inputs`.
pub fn input_rows(inputs: &Inputs) -> Vec<InputRow> {
    inputs
        .iter()
        .map(|(name, d)| InputRow {
            name: name.clone(),
            reference: d.reference.clone(),
            value: d.effective().cloned(),
            missing: d.is_missing(),
        })
        .collect()
}

/// What a run that is not complete waits for: its last function's unmet dependencies and
/// missing inputs (an approval is an input naming the approval's ref).
fn waiting_for(reader: &dyn Reader, doc: &RunDoc) -> UiResult<Vec<String>> {
    let mut out = Vec::new();
    let Some(f) = doc.functions.last() else {
        return Ok(out);
    };
    for dep in &f.dependencies {
        if !query::dependencies_satisfied(reader, std::slice::from_ref(dep))? {
            out.push(format!("dependency {dep}"));
        }
    }
    for (name, d) in query::populate(reader, &f.inputs)? {
        if d.is_missing() {
            out.push(match d.reference {
                Some(r) => format!("input {name} ({r})"),
                None => format!("input {name}"),
            });
        }
    }
    Ok(out)
}

fn open_run(reader: &dyn Reader, run: &Ref, status: RunStatus) -> UiResult<OpenRun> {
    let mut out = OpenRun {
        run: run.clone(),
        status: status.into(),
        waiting: Vec::new(),
    };
    if matches!(status, RunStatus::Pending | RunStatus::Paused)
        && let Some(doc) = read_run(reader, run)?
    {
        out.waiting = waiting_for(reader, &doc)?;
        if status == RunStatus::Pending && !out.waiting.is_empty() {
            out.status = UiStatus::Waiting;
        }
        // A hold the engine recorded in the marker comes first: it is why the run waits.
        if let Some(hold) = reader
            .try_get(&run.status(status))?
            .and_then(|m| crate::plan::holds::recorded_hold(&m))
        {
            out.status = UiStatus::Held;
            out.waiting.insert(0, hold.to_string());
        }
    }
    Ok(out)
}

/// Reads releases' commits once each.
#[derive(Default)]
struct Commits(HashMap<Ref, Option<String>>);

impl Commits {
    fn of(&mut self, reader: &dyn Reader, release: &Ref) -> UiResult<Option<String>> {
        if let Some(c) = self.0.get(release) {
            return Ok(c.clone());
        }
        let commit = reader
            .try_get(&release.with_fragment("commit"))?
            .and_then(|v| v.as_str().map(str::to_string));
        self.0.insert(release.clone(), commit.clone());
        Ok(commit)
    }
}

/// The deployment behind `<pkg>/@/deploy/<env>` (a link in state to the release's
/// deployment summary).
fn deployment(view: &View<'_>, r: &Ref, commits: &mut Commits) -> UiResult<Option<Deployed>> {
    let release = match view.entry(Area::Records, r)? {
        Some(Entry::Link(target)) => target.release_ref(),
        Some(Entry::Document(v)) => match v.get("release").and_then(Value::as_str) {
            Some(rel) => Ref::parse(rel)?.release_ref(),
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    let summary: Option<TaskSummary> = view
        .try_get(r)?
        .map(|v| decode(r, "deployment summary", v))
        .transpose()?;
    let run = summary.map(|s| Ref::parse(&s.run_ref)).transpose()?;
    let time = match &run {
        Some(run) => marker_time(view, &run.status(RunStatus::Complete))?,
        None => None,
    };
    Ok(Some(Deployed {
        commit: commits.of(view, &release)?,
        release,
        run,
        time,
    }))
}

/// The environment a deployment ref or deploy run names.
fn env_of(r: &Ref) -> Option<&str> {
    if r.subpath_type == Some(SubpathType::Deploy) {
        r.subpath.split('/').next()
    } else {
        None
    }
}

/// Builds the overview from one view of state and the holds of intent.
///
/// # Errors
///
/// Store reads and documents of the wrong shape.
pub fn overview(view: &View<'_>, holds: Holds) -> UiResult<Overview> {
    let reader: &dyn Reader = view;
    let registered: Vec<Environment> = query::environments(reader)?;
    let releases = releases_by_package(reader)?;
    let custom = reader
        .match_refs(
            Area::Records,
            &[glob("**/@*/custom/**")?, glob("@/custom/**")?],
            no_links(),
        )?
        .len();
    let deploy_refs = reader.match_refs(
        Area::Records,
        &[glob("**/@/deploy/*")?],
        MatchOptions::default(),
    )?;
    let mut commits = Commits::default();
    let mut cells: BTreeMap<Ref, BTreeMap<String, Cell>> = BTreeMap::new();
    let mut envs: Vec<String> = registered.iter().map(|e| e.name.clone()).collect();
    let mut deployments = 0;
    for r in &deploy_refs {
        let Some(env) = env_of(r) else { continue };
        if let Some(d) = deployment(view, r, &mut commits)? {
            deployments += 1;
            let cell = cells
                .entry(r.package_ref())
                .or_default()
                .entry(env.to_string())
                .or_default();
            cell.bad = holds.bad.get(&d.release).cloned();
            cell.deployed = Some(d);
        }
    }
    // The newest deploy run of each (package, environment); shown when it is not the one
    // deployed.
    let mut newest: BTreeMap<(Ref, String), (u64, u64, Ref, RunStatus)> = BTreeMap::new();
    let mut open_runs = 0;
    // Every run's status, by release: the release statuses below come from these.
    let mut by_release: HashMap<Ref, BTreeSet<RunStatus>> = HashMap::new();
    for (run, status) in run_markers(reader, &["**/@*/{task,deploy}/*/*/status/*"])? {
        by_release
            .entry(run.release_ref())
            .or_default()
            .insert(status);
        if !matches!(status, RunStatus::Complete | RunStatus::FailedRetried) {
            open_runs += 1;
        }
        let Some(env) = env_of(&run) else { continue };
        let key = (run.package_ref(), env.to_string());
        let order = (release_number(&run), run.run_number().unwrap_or(0));
        if newest
            .get(&key)
            .is_none_or(|(rel, n, _, _)| order > (*rel, *n))
        {
            newest.insert(key, (order.0, order.1, run, status));
        }
    }
    for ((pkg, env), (_, _, run, status)) in newest {
        let cell = cells.entry(pkg).or_default().entry(env).or_default();
        let deployed_release = cell.deployed.as_ref().map(|d| d.release.clone());
        if status == RunStatus::Complete && deployed_release == Some(run.release_ref()) {
            continue;
        }
        cell.open = Some(open_run(reader, &run, status)?);
    }
    for env_cells in cells.values() {
        for env in env_cells.keys() {
            if !envs.contains(env) {
                envs.push(env.clone());
            }
        }
    }
    let mut packages: BTreeSet<Ref> = releases.keys().cloned().collect();
    packages.extend(cells.keys().cloned());
    let mut rows = Vec::with_capacity(packages.len());
    for pkg in packages {
        let none = BTreeSet::new();
        let latest = releases.get(&pkg).and_then(|l| l.first()).map(|rel| {
            (
                rel.clone(),
                release_status_of(by_release.get(rel).unwrap_or(&none)),
            )
        });
        let mut by_env = cells.remove(&pkg).unwrap_or_default();
        rows.push(PackageRow {
            cells: envs
                .iter()
                .map(|e| by_env.remove(e).unwrap_or_default())
                .collect(),
            package: pkg,
            latest,
        });
    }
    Ok(Overview {
        counts: Counts {
            environments: registered.len(),
            releases: releases.values().map(Vec::len).sum(),
            deployments,
            custom,
        },
        environments: envs,
        packages: rows,
        open_runs,
        holds,
    })
}

/// The environments where `package`'s current deployments are, by release.
fn deployed_releases(view: &View<'_>, package: &Ref) -> UiResult<BTreeMap<Ref, Vec<String>>> {
    let mut out: BTreeMap<Ref, Vec<String>> = BTreeMap::new();
    let refs = view.match_refs(
        Area::Records,
        &[Glob::below(package, "@/deploy/*")?],
        MatchOptions::default(),
    )?;
    for r in refs {
        if let (Some(env), Some(Entry::Link(target))) = (env_of(&r), view.entry(Area::Records, &r)?)
        {
            out.entry(target.release_ref())
                .or_default()
                .push(env.to_string());
        }
    }
    Ok(out)
}

fn release_doc(reader: &dyn Reader, release: &Ref) -> UiResult<Option<ReleaseDoc>> {
    reader
        .try_get(release)?
        .map(|v| decode(release, "release", v))
        .transpose()
}

/// Every run of `release` by task (`<release>/<kind>/<name>`), oldest first.
fn runs_by_task(
    reader: &dyn Reader,
    release: &Ref,
) -> UiResult<BTreeMap<Ref, Vec<(Ref, RunStatus)>>> {
    let mut out: BTreeMap<Ref, Vec<(Ref, RunStatus)>> = BTreeMap::new();
    for (run, status) in query::run_statuses(reader, release, &RunStatus::ALL)? {
        if let Some(task) = run.run_task() {
            out.entry(task).or_default().push((run, status));
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|(r, _)| r.run_number().unwrap_or(0));
    }
    Ok(out)
}

/// Builds the package page.
///
/// # Errors
///
/// Store reads and documents of the wrong shape.
pub fn package(view: &View<'_>, package: &Ref) -> UiResult<PackagePage> {
    let reader: &dyn Reader = view;
    let mut releases: Vec<Ref> = reader
        .match_refs(Area::Records, &[Glob::below(package, "@*")?], no_links())?
        .into_iter()
        .filter(is_release)
        .collect();
    releases.sort_by_key(|r| std::cmp::Reverse(release_number(r)));
    let deployed = deployed_releases(view, package)?;
    let mut rows = Vec::new();
    for rel in releases {
        let doc = release_doc(reader, &rel)?;
        let runs = runs_by_task(reader, &rel)?;
        let phases = doc
            .as_ref()
            .map(|d| {
                d.package
                    .phases
                    .iter()
                    .map(|p| {
                        let cards = p
                            .tasks
                            .iter()
                            .map(|t| {
                                let task = rel.with_subpath(
                                    SubpathType::parse(t.kind()).unwrap_or(SubpathType::Task),
                                    t.name(),
                                );
                                let status = runs
                                    .get(&task)
                                    .and_then(|l| l.last())
                                    .map_or(UiStatus::Unknown, |(_, s)| (*s).into());
                                (format!("{} {}", t.kind(), t.name()), status)
                            })
                            .collect();
                        (p.name.clone(), cards)
                    })
                    .collect()
            })
            .unwrap_or_default();
        rows.push(ReleaseRow {
            commit: doc.map(|d| d.commit).unwrap_or_default(),
            status: release_status(reader, &rel)?,
            deployed_to: deployed.get(&rel).cloned().unwrap_or_default(),
            phases,
            release: rel,
        });
    }
    Ok(PackagePage {
        package: package.clone(),
        releases: rows,
    })
}

/// Builds the release page, or `None` when there is no such release.
///
/// # Errors
///
/// Store reads and documents of the wrong shape.
pub fn release(view: &View<'_>, holds: &Holds, release: &Ref) -> UiResult<Option<ReleasePage>> {
    let reader: &dyn Reader = view;
    let Some(doc) = release_doc(reader, release)? else {
        return Ok(None);
    };
    let runs = runs_by_task(reader, release)?;
    let mut phases = Vec::new();
    for p in &doc.package.phases {
        let mut cards = Vec::new();
        for t in &p.tasks {
            let ty = SubpathType::parse(t.kind()).unwrap_or(SubpathType::Task);
            let task = release.with_subpath(ty, t.name());
            let list = runs.get(&task).cloned().unwrap_or_default();
            let mut card = Card {
                kind: t.kind(),
                name: t.name().to_string(),
                function: t.entry().name.clone(),
                runs: list.iter().map(|(r, s)| (r.clone(), (*s).into())).collect(),
                status: UiStatus::Unknown,
                inputs: input_rows(t.inputs()),
                outputs: None,
                waiting: Vec::new(),
            };
            if let Some((run, status)) = list.last() {
                let open = open_run(reader, run, *status)?;
                card.status = open.status;
                card.waiting = open.waiting;
                if let Some(doc) = read_run(reader, run)? {
                    if let Some(f) = doc.functions.last() {
                        card.inputs = input_rows(&query::populate(reader, &f.inputs)?);
                    }
                    card.outputs = doc.output;
                }
            }
            cards.push(card);
        }
        phases.push(PhaseColumn {
            name: p.name.clone(),
            cards,
        });
    }
    let deployed = deployed_releases(view, &release.package_ref())?;
    Ok(Some(ReleasePage {
        release: release.clone(),
        commit: doc.commit,
        status: release_status(reader, release)?,
        phases,
        deployed_to: deployed.get(release).cloned().unwrap_or_default(),
        children: children(view, release)?,
        bad: holds.bad.get(release).cloned(),
    }))
}

/// Builds the run page, or `None` when there is no such run.
///
/// # Errors
///
/// Store reads and documents of the wrong shape.
pub fn run(view: &View<'_>, run: &Ref) -> UiResult<Option<RunPage>> {
    let reader: &dyn Reader = view;
    let Some(doc) = read_run(reader, run)? else {
        return Ok(None);
    };
    let markers = run_markers(
        reader,
        &[&format!(
            "{}/status/*",
            crate::refs::glob::escape(&run.to_string())
        )],
    )?;
    let status = markers.first().map(|(_, s)| *s);
    let (ui_status, waiting) = match status {
        Some(s) => {
            let open = open_run(reader, run, s)?;
            (open.status, open.waiting)
        }
        None => (UiStatus::Unknown, Vec::new()),
    };
    let status_time = match status {
        Some(s) => marker_time(reader, &run.status(s))?,
        None => None,
    };
    let mut functions = Vec::new();
    for f in &doc.functions {
        let mut deps = Vec::new();
        for d in &f.dependencies {
            deps.push((
                d.clone(),
                query::dependencies_satisfied(reader, std::slice::from_ref(d))?,
            ));
        }
        let inputs = if status == Some(RunStatus::Complete) {
            f.inputs.clone()
        } else {
            query::populate(reader, &f.inputs)?
        };
        functions.push(FunctionRow {
            name: f.function.name.clone(),
            pos: f.function.pos.clone(),
            dependencies: deps,
            inputs: input_rows(&inputs),
        });
    }
    let logs_ref = run.child("logs");
    let logs: Vec<LogEntry> = reader
        .try_get(&logs_ref)?
        .map(|v| decode(&logs_ref, "logs", v))
        .transpose()?
        .unwrap_or_default();
    Ok(Some(RunPage {
        release: Ref::parse(&doc.release)?,
        run: run.clone(),
        run_type: doc.run_type,
        status: ui_status,
        status_time,
        functions,
        outputs: doc.output,
        waiting,
        logs,
        children: children(view, run)?,
    }))
}

/// Builds the environment page from a view of state, a view of intent and the state
/// store (for its history).
///
/// # Errors
///
/// Store reads and documents of the wrong shape.
pub fn environment(
    view: &View<'_>,
    intent: &View<'_>,
    holds: &Holds,
    state: &Store,
    name: &str,
) -> UiResult<Option<EnvironmentPage>> {
    let env_ref = Ref::global(SubpathType::Environment, name);
    let attrs = |v: Option<Value>| -> UiResult<Option<BTreeMap<String, String>>> {
        Ok(v.map(|v| decode::<Environment>(&env_ref, "environment", v))
            .transpose()?
            .map(|e| e.attributes))
    };
    let attributes = attrs(view.try_get(&env_ref)?)?;
    let intent_attributes = attrs(intent.try_get(&env_ref)?)?;
    let escaped = crate::refs::glob::escape(name);
    let deploy_refs = view.match_refs(
        Area::Records,
        &[glob(&format!("**/@/deploy/{escaped}"))?],
        MatchOptions::default(),
    )?;
    let runs = run_markers(view, &[&format!("**/@*/deploy/{escaped}/*/status/*")])?;
    if attributes.is_none()
        && intent_attributes.is_none()
        && deploy_refs.is_empty()
        && runs.is_empty()
    {
        return Ok(None);
    }
    let mut commits = Commits::default();
    let mut deployed = Vec::new();
    for r in &deploy_refs {
        if let Some(d) = deployment(view, r, &mut commits)? {
            deployed.push(DeployedHere {
                package: r.package_ref(),
                bad: holds.bad.get(&d.release).cloned(),
                deployed: d,
            });
        }
    }
    let mut newest: BTreeMap<Ref, (u64, u64, Ref, RunStatus)> = BTreeMap::new();
    for (run, status) in runs {
        let order = (release_number(&run), run.run_number().unwrap_or(0));
        let key = run.package_ref();
        if newest.get(&key).is_none_or(|(a, b, _, _)| order > (*a, *b)) {
            newest.insert(key, (order.0, order.1, run, status));
        }
    }
    let mut open = Vec::new();
    let mut packages: BTreeSet<Ref> = deploy_refs.iter().map(Ref::package_ref).collect();
    for (pkg, (_, _, run, status)) in newest {
        packages.insert(pkg);
        if !matches!(status, RunStatus::Complete | RunStatus::FailedRetried) {
            open.push(open_run(view, &run, status)?);
        }
    }
    // Each package's history is a walk of the store's commits: read it for the packages
    // deployed here most recently (those with runs here but no deployment come last).
    let history_total = packages.len();
    let mut recent: Vec<(Option<String>, Ref)> = packages
        .into_iter()
        .map(|pkg| {
            let time = deployed
                .iter()
                .find(|d| d.package == pkg)
                .and_then(|d| d.deployed.time.clone());
            (time, pkg)
        })
        .collect();
    recent.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    recent.truncate(HISTORY_PACKAGES);
    let mut history = Vec::new();
    for (_, pkg) in recent {
        let r = pkg
            .with_release(Some(""))
            .with_subpath(SubpathType::Deploy, name);
        for h in state.history(Area::Records, &r, HISTORY_PER_PACKAGE)? {
            let release = match &h.value {
                Some(Entry::Link(t)) => Some(t.release_ref()),
                Some(Entry::Document(v)) => v
                    .get("release")
                    .and_then(Value::as_str)
                    .and_then(|s| Ref::parse(s).ok()),
                None => None,
            };
            history.push(EnvironmentChange {
                time: short_time(
                    &crate::clock::Timestamp {
                        seconds: h.time,
                        nanos: 0,
                    }
                    .to_rfc3339(),
                ),
                seconds: h.time,
                author: format!("{} <{}>", h.author_name, h.author_email),
                commit: h.commit,
                package: pkg.clone(),
                change: h.change,
                release,
            });
        }
    }
    history.sort_by(|a, b| {
        b.seconds
            .cmp(&a.seconds)
            .then_with(|| a.package.cmp(&b.package))
    });
    history.truncate(HISTORY_LIMIT);
    Ok(Some(EnvironmentPage {
        name: name.to_string(),
        attributes,
        intent_attributes,
        deployed,
        open,
        history,
        history_packages: (history_total.min(HISTORY_PACKAGES), history_total),
        frozen: holds.frozen.get(name).cloned(),
    }))
}

/// The most history entries the environment page shows.
pub const HISTORY_LIMIT: usize = 200;
/// The most changes the environment page reads of one package's deployment.
pub const HISTORY_PER_PACKAGE: usize = 20;
/// The most packages whose history the environment page reads (the most recently
/// deployed).
pub const HISTORY_PACKAGES: usize = 50;

/// Builds the outstanding-work page: the plan of intent changes (`plan`, already made
/// from the same views) and every run not complete.
///
/// # Errors
///
/// Store reads and documents of the wrong shape.
pub fn outstanding(
    view: &View<'_>,
    plan: Result<crate::plan::Plan, crate::plan::PlanError>,
) -> UiResult<OutstandingPage> {
    let plan = plan
        .map(|p| {
            p.items
                .into_iter()
                .map(|i| PlanRow {
                    r: i.r,
                    work_type: i.work_type.as_str(),
                    effect: i.effect,
                })
                .collect()
        })
        .map_err(|e| e.to_string());
    let mut page = OutstandingPage {
        plan,
        ready: Vec::new(),
        running: Vec::new(),
        waiting: Vec::new(),
        failed: Vec::new(),
    };
    let markers = run_markers(
        view,
        &["**/@*/{task,deploy}/*/*/status/{pending,paused,running,failed}"],
    )?;
    for (run, status) in markers {
        let open = open_run(view, &run, status)?;
        match open.status {
            UiStatus::Pending => page.ready.push(open),
            UiStatus::Running => page.running.push(open),
            UiStatus::Failed => page.failed.push(open),
            _ => page.waiting.push(open),
        }
    }
    Ok(page)
}

/// The refs stored below `r` (links included, `r` itself left out), sorted naturally, at
/// most [`MAX_LIST`], and how many there are.
fn children(view: &View<'_>, r: &Ref) -> UiResult<(Vec<Ref>, usize)> {
    let mut refs = view.match_refs(
        Area::Records,
        &[Glob::below(r, "**")?],
        MatchOptions::default(),
    )?;
    refs.retain(|c| c != r);
    let total = refs.len();
    refs.sort_by(|a, b| natural_cmp(&a.to_string(), &b.to_string()));
    refs.truncate(MAX_LIST);
    Ok((refs, total))
}

/// Builds what `/ref/<ref>` shows, or `None` when nothing is stored at or below it.
///
/// # Errors
///
/// Store reads and documents of the wrong shape.
pub fn ref_view(
    view: &View<'_>,
    intent: &View<'_>,
    holds: &Holds,
    state: &Store,
    r: &Ref,
) -> UiResult<Option<RefView>> {
    if r.fragment.is_empty() {
        if r.global
            && r.subpath_type == Some(SubpathType::Environment)
            && !r.subpath.is_empty()
            && !r.subpath.contains('/')
        {
            return Ok(
                environment(view, intent, holds, state, &r.subpath)?.map(RefView::Environment)
            );
        }
        if !r.global && !r.filename.is_empty() && r.release.is_none() && r.subpath_type.is_none() {
            let page = package(view, r)?;
            if !page.releases.is_empty() {
                return Ok(Some(RefView::Package(page)));
            }
        }
        if is_release(r)
            && let Some(page) = release(view, holds, r)?
        {
            return Ok(Some(RefView::Release(page)));
        }
        if matches!(
            r.subpath_type,
            Some(SubpathType::Task | SubpathType::Deploy)
        ) && r.run_number().is_some()
            && let Some(page) = run(view, r)?
        {
            return Ok(Some(RefView::Run(Box::new(page))));
        }
    }
    let resolved = view.resolve_link(&r.without_fragment())?;
    let document = view.try_get(r)?;
    let (children, total_children) = if r.fragment.is_empty() {
        children(view, &resolved)?
    } else {
        (Vec::new(), 0)
    };
    if document.is_none() && total_children == 0 {
        return Ok(None);
    }
    Ok(Some(RefView::Generic(RefPage {
        resolved: (resolved != r.without_fragment()).then_some(resolved),
        r: r.clone(),
        document,
        children,
        total_children,
    })))
}

/// Runs a `/match/<glob>` query.
///
/// # Errors
///
/// A glob that does not parse; store reads.
pub fn match_page(view: &View<'_>, pattern: &str) -> UiResult<MatchPage> {
    let mut refs = view.match_refs(Area::Records, &[glob(pattern)?], MatchOptions::default())?;
    let total = refs.len();
    refs.sort_by(|a, b| natural_cmp(&a.to_string(), &b.to_string()));
    refs.truncate(MAX_LIST);
    Ok(MatchPage {
        glob: pattern.to_string(),
        refs,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_distinct_label() {
        let all = [
            UiStatus::Complete,
            UiStatus::Running,
            UiStatus::Failed,
            UiStatus::FailedRetried,
            UiStatus::Pending,
            UiStatus::Waiting,
            UiStatus::Paused,
            UiStatus::Cancelled,
            UiStatus::Deployed,
            UiStatus::Unknown,
        ];
        let labels: BTreeSet<&str> = all.iter().map(|s| status_style(*s).label).collect();
        assert_eq!(labels.len(), all.len());
    }

    #[test]
    fn short_time_drops_fraction_and_zone() {
        assert_eq!(
            short_time("2026-01-02T03:04:05.123Z"),
            "2026-01-02 03:04:05"
        );
        assert_eq!(short_time("bad"), "bad");
    }
}
