//! The release engine: creating releases and running them until they pause (spec §6.2-6.3).
//!
//! A release is a package evaluated at one commit. Creating it writes the release document,
//! a commit marker and one `pending` run per task and deployment. [`Engine::run_to_pause`]
//! then repeatedly picks the runs whose previous phase is complete and whose inputs are all
//! available, executes them concurrently (bounded by [`EngineOptions::parallel`]), and
//! records the results, until no run can make progress: the release is complete, failed,
//! or waiting for inputs (an approval, an upstream deployment).
//!
//! Writes are grouped so that a release pushes once per phase boundary plus once at the end
//! (hosted Git services allow only a few pushes per minute per repository). The commit that
//! starts a wave (its runs `running`, their deploy intent and its applied mirror) is folded
//! into the commit before it: the release's initialisation for the first wave, the previous
//! wave's last results for the others (the next wave is found on a preview of the store with
//! those results applied, [`Store::preview`](crate::store::Store::preview)). Deploy intent
//! shares that push when state and intent live in one remote
//! ([`Store::commit_with`](crate::store::Store::commit_with)). Results of a wave whose runs
//! finish far apart are committed at most once per [`EngineOptions::results_window`].
//!
//! A crash loses at most the results not yet committed: those runs are still `running` and
//! are executed again by a later `release continue` or `work continue` (at least once).
//!
//! Progress (run started/finished, log lines) is reported through the [`Progress`] trait;
//! the engine itself never prints.

mod apply;
mod cascade;
mod claim;
mod context;
mod push;
pub mod query;
mod release;
mod run;
mod trigger;
mod work;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::clock::Clock;
use crate::refs::{GlobError, Ref, RefParseError};
use crate::sdk::{EvalError, Secrets};
use crate::store::StoreError;
use crate::workspace::Workspace;

pub use crate::redact::redact_url;
pub use crate::refs::RunStatus;
pub use cascade::{CascadeReport, CascadeScope};
pub use claim::{ClaimOptions, LocalProcesses, NoProcesses, Owner, Processes};
pub use context::{CheckoutSource, Context, Worker};
pub use push::{PushIndex, PushPackage, PushPlan, PushReport};
pub use release::{ReleaseOutcome, ReleaseStatus};
pub use trigger::Triggered;
pub use work::{Changes, OPS_PER_COMMIT, RELEASES_PER_BATCH, WorkFilter, WorkItem, WorkType};

/// What the engine reports while it works.
#[derive(Clone, Debug)]
pub enum ProgressEvent {
    /// A run started executing.
    RunStarted {
        /// The run ref.
        run: Ref,
    },
    /// A run printed a line.
    RunLog {
        /// The run ref.
        run: Ref,
        /// The line (secrets masked).
        line: String,
    },
    /// A run finished (or paused).
    RunFinished {
        /// The run ref.
        run: Ref,
        /// Its new status.
        status: RunStatus,
        /// How long it executed.
        duration: Duration,
        /// Outputs when complete.
        outputs: Option<Value>,
        /// The failure message when failed, or the missing inputs when paused.
        detail: Option<String>,
    },
    /// A run cannot start yet because inputs are missing.
    Waiting {
        /// The run ref.
        run: Ref,
        /// The missing input names with their refs.
        missing: Vec<String>,
    },
    /// A run was not started because another job holds it (see [`ClaimOptions`]).
    Claimed {
        /// The run ref.
        run: Ref,
        /// The job that holds it (`None`: its marker names no owner).
        owner: Option<Owner>,
    },
    /// A run left `running` by a job that is gone was taken over by this one.
    TakenOver {
        /// The run ref.
        run: Ref,
        /// The previous owner, when its marker names one.
        previous: Option<Owner>,
        /// Why the takeover was allowed.
        reason: String,
    },
    /// A run that could start is held: its environment is frozen or its release is marked
    /// bad (see [`crate::plan::holds`]). It starts on a work command after the hold ends.
    Held {
        /// The run ref.
        run: Ref,
        /// Why it is held.
        hold: crate::model::Hold,
    },
    /// A general message.
    Message(String),
}

/// Receives progress events. Implementations must be cheap: events arrive from worker threads.
pub trait Progress: Send + Sync {
    /// Handles one event.
    fn event(&self, event: ProgressEvent);
}

/// A progress receiver that drops everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: ProgressEvent) {}
}

/// Options of an engine.
#[derive(Clone)]
pub struct EngineOptions {
    /// How many runs execute at once.
    pub parallel: usize,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
    /// The clock for markers and log timestamps.
    pub clock: Arc<dyn Clock>,
    /// How long a finished run of a wave may wait for others before the results gathered so
    /// far are committed. The last results of a wave are always held for the commit that
    /// starts the next wave (or ends the release), so this only bounds the extra pushes of a
    /// wave whose runs finish far apart: at most one per window.
    pub results_window: Duration,
    /// At most this many runs start in one commit and execute before their results are
    /// recorded; a larger wave (many releases run together) goes in slices of this size,
    /// bounding memory and the work a crash would repeat.
    pub wave_slice: usize,
    /// Who this job is when it claims runs, and when it takes over another job's claim.
    pub claims: ClaimOptions,
    /// The person the job runs for (the CI's actor, or the git user): named in a
    /// `Requested-by:` trailer on every intent commit the engine makes.
    pub requested_by: Option<String>,
}

impl EngineOptions {
    /// The default [`EngineOptions::wave_slice`].
    pub const DEFAULT_WAVE_SLICE: usize = 256;

    /// The default [`EngineOptions::results_window`]: at most six extra pushes per minute
    /// while a long wave runs.
    pub const DEFAULT_RESULTS_WINDOW: Duration = Duration::from_secs(10);
}

/// Errors of release operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Evaluating a package failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A ref did not parse.
    #[error(transparent)]
    Ref(#[from] RefParseError),
    /// A glob did not compile.
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// Intent could not be planned (invalid intent documents, unreadable state).
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// `release new` was given a release.
    #[error("release should not be specified: {r}")]
    ReleaseSpecified {
        /// The ref.
        r: String,
    },
    /// A release command needs a release.
    #[error("a release id or tag must be specified: {r}")]
    ReleaseRequired {
        /// The ref.
        r: String,
    },
    /// The package file does not exist.
    #[error("package file {path} not found")]
    PackageNotFound {
        /// The path relative to the repository root.
        path: String,
    },
    /// The ref names another repository.
    #[error("{r} belongs to repository {repo}, not to this one ({this})")]
    OtherRepo {
        /// The ref.
        r: String,
        /// Its repository.
        repo: String,
        /// This repository's name.
        this: String,
    },
    /// Releases already exist for this commit.
    #[error("there are already {} releases for commit {commit}", refs.len())]
    AlreadyReleased {
        /// The commit.
        commit: String,
        /// The existing releases.
        refs: Vec<Ref>,
    },
    /// The release does not exist.
    #[error("release not found: {r}")]
    ReleaseNotFound {
        /// The ref.
        r: String,
    },
    /// The release was made at another commit.
    #[error("release {release} was made at commit {expected}, but the current commit is {current}")]
    CommitMismatch {
        /// The release.
        release: String,
        /// Its commit.
        expected: String,
        /// The current commit.
        current: String,
    },
    /// The package no longer declares a function a run needs.
    #[error("function {key} of run {run} not found in the current package")]
    FunctionNotFound {
        /// The function key.
        key: String,
        /// The run.
        run: String,
    },
    /// `release retry` found nothing to retry.
    #[error("no failed functions found in {release}")]
    NoFailedRuns {
        /// The release.
        release: String,
    },
    /// A stored document does not have the expected shape.
    #[error("document {r} is not a valid {what}")]
    BadDocument {
        /// The ref.
        r: String,
        /// The expected type.
        what: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// A checkout of a repository at a commit (worktree or clone) could not be made.
    #[error("cannot check out {repo} at commit {commit}: {message}")]
    Checkout {
        /// The repository name.
        repo: String,
        /// The commit.
        commit: String,
        /// What went wrong.
        message: String,
    },
    /// `push` refuses to run with uncommitted changes.
    #[error("you have uncommitted changes, please commit or stash them before running push\n\nChanged files:\n  {}", files.join("\n  "))]
    Uncommitted {
        /// The changed paths.
        files: Vec<String>,
    },
    /// The source repository's history could not be read.
    #[error("{message}")]
    Git {
        /// What went wrong.
        message: String,
    },
    /// A cascade found the same work again right after executing it.
    #[error("cascade made no progress; this work is still outstanding after running it:\n  {}", items.join("\n  "))]
    NoProgress {
        /// The refs of the outstanding work.
        items: Vec<String>,
    },
    /// A cascade kept finding new work round after round.
    #[error("cascade stopped after {rounds} rounds with work still appearing")]
    TooManyRounds {
        /// The rounds run.
        rounds: usize,
    },
    /// Commit-bound work without a commit to run it at.
    #[error("no commit recorded for work item {r}")]
    NoCommit {
        /// The work item's ref.
        r: String,
    },
    /// A ref that should name a run (or a run's status marker) does not.
    #[error("{r} is not a run or a run's status marker")]
    NotARun {
        /// The ref.
        r: String,
    },
    /// A ref given as intent is not one (`@/environment/…`, `@/custom/…`, a deploy intent).
    #[error("unknown subpath type: {r} is not an intent ref")]
    NotIntent {
        /// The ref.
        r: String,
    },
    /// A release's package file no longer declares a package.
    #[error("{file} no longer declares a package")]
    NotAPackage {
        /// The package file.
        file: String,
    },
    /// A run document has no function to run.
    #[error("run {run} has no functions")]
    NoFunctions {
        /// The run.
        run: String,
    },
    /// A batch ended without an outcome for one of its releases (a bug).
    #[error("no outcome for release {release}")]
    NoOutcome {
        /// The release.
        release: String,
    },
    /// An input name that cannot be a ref segment.
    #[error("invalid input name {name:?} in {run}")]
    BadInputName {
        /// The input name.
        name: String,
        /// The run declaring it.
        run: String,
    },
    /// A worker thread could not be started.
    #[error("cannot start a worker thread")]
    Thread {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A run another job holds was about to be run here.
    #[error("run {run} is held by another job")]
    Held {
        /// The run.
        run: String,
    },
    /// `push` without a repository name.
    #[error("push needs a repository name: set repo_alias() or an origin remote")]
    NoRepoName,
    /// `push` in a checkout of the state branch.
    #[error(
        "push from a checkout of the state branch is not supported: run it in a source repository or a checkout of the intent branch"
    )]
    PushFromState,
    /// An intent push outside a checkout of the intent branch.
    #[error("push_intent needs a checkout of the intent branch")]
    NotAnIntentCheckout,
    /// An environment name that is not letters, digits, periods and underscores.
    #[error(
        "environment validation failed: environment names may only contain letters, numbers, periods and underscores: {name}"
    )]
    BadEnvironmentName {
        /// The name.
        name: String,
    },
    /// A document could not be rendered as YAML (over a limit).
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
}

/// The result type of engine operations.
pub type EngineResult<T> = Result<T, EngineError>;

/// Runs releases in a workspace.
pub struct Engine {
    cx: Context,
    opts: EngineOptions,
    secrets: Secrets,
    /// Runs reported as held by another job, each reported once.
    held: std::sync::Mutex<std::collections::BTreeSet<Ref>>,
    /// Run ends (and holds) not yet passed to `notify(fn)`: they are, once committed.
    notifications: std::sync::Mutex<Vec<crate::model::JsonMap>>,
}

impl Engine {
    /// Creates an engine for the workspace `ws` (see [`Context::of`]).
    pub fn new(ws: &Workspace, opts: EngineOptions) -> Engine {
        Engine::with_context(Context::of(ws), opts)
    }

    /// Creates an engine over `cx`.
    pub fn with_context(cx: Context, opts: EngineOptions) -> Engine {
        // A remote store's URL often comes from the environment (`store.git(env()[...])`),
        // so a task printing its environment would print the token: mask it like a secret.
        let secrets = Secrets::default();
        for credential in cx
            .state
            .credentials()
            .into_iter()
            .chain(cx.intent.credentials())
        {
            secrets.register(&credential);
        }
        Engine {
            cx,
            opts,
            secrets,
            held: Default::default(),
            notifications: Default::default(),
        }
    }

    /// Returns the secrets registered so far (for masking output outside the engine).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    fn now(&self) -> String {
        self.opts.clock.now().to_rfc3339()
    }

    fn marker(&self) -> Value {
        serde_json::json!({ "time": self.now() })
    }

    /// Records a run's end (or hold) for `notify(fn)`: `status` is `complete`, `failed`,
    /// `paused` or `held`; `outputs` and `error` are masked already.
    pub(crate) fn queue_notification(
        &self,
        run: &Ref,
        status: &str,
        outputs: Option<&crate::model::JsonMap>,
        error: Option<&str>,
    ) {
        if self.cx.config.notify.is_none() {
            return;
        }
        let environment = run.is(crate::refs::SubpathType::Deploy).then(|| {
            run.subpath
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string()
        });
        let mut fields = crate::model::JsonMap::new();
        fields.insert("ref".into(), Value::from(run.to_string()));
        fields.insert("package".into(), Value::from(run.package_ref().to_string()));
        fields.insert("release".into(), Value::from(run.release_ref().to_string()));
        fields.insert(
            "environment".into(),
            environment.map_or(Value::Null, Value::from),
        );
        fields.insert("status".into(), Value::from(status));
        fields.insert(
            "commit".into(),
            Value::from(self.cx.commit_name().to_string()),
        );
        fields.insert(
            "outputs".into(),
            Value::Object(outputs.cloned().unwrap_or_default()),
        );
        fields.insert(
            "error".into(),
            error.map_or(Value::Null, |e| Value::from(self.secrets.mask(e))),
        );
        if let Ok(mut queue) = self.notifications.lock() {
            queue.push(fields);
        }
    }

    /// Calls `notify(fn)` for every run end recorded since the last call. Call it only once
    /// the writes recording those ends are committed. A failing `notify` is warned about
    /// through progress and never fails anything.
    pub(crate) fn send_notifications(&self) {
        let queued = match self.notifications.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => return,
        };
        let Some(notify) = &self.cx.config.notify else {
            return;
        };
        for fields in queued {
            let sink = self.progress_sink(None);
            if let Err(e) = notify.call_with(&fields, &self.cx.root, &self.cx.host, sink) {
                let run = fields
                    .get("ref")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.progress(ProgressEvent::Message(
                    self.secrets
                        .mask(&format!("warning: notify failed for {run}: {e}")),
                ));
            }
        }
    }

    /// Adds the `Requested-by:` trailer of [`EngineOptions::requested_by`] to an intent
    /// transaction.
    pub(crate) fn sign(&self, intent_tx: &mut crate::store::Transaction) {
        if let Some(person) = &self.opts.requested_by {
            intent_tx.trailer("Requested-by", person);
        }
    }

    fn progress(&self, event: ProgressEvent) {
        self.opts.progress.event(event);
    }

    /// Reports once that `run` is held by another job.
    fn report_held(&self, run: Ref, owner: Option<Owner>) {
        let first = self
            .held
            .lock()
            .map(|mut h| h.insert(run.clone()))
            .unwrap_or(true);
        if first {
            self.progress(ProgressEvent::Claimed { run, owner });
        }
    }
}

/// Decodes a stored document into a model type, naming the ref on failure.
/// The document at `r` decoded as `T` straight from the store's cache of decoded documents
/// (no copy of the whole document first, see [`crate::store::try_get_as`]); `None` when
/// there is none.
pub(crate) fn try_decode<T: serde::de::DeserializeOwned>(
    reader: &dyn crate::store::Reader,
    r: &Ref,
    what: &'static str,
) -> EngineResult<Option<T>> {
    match crate::store::try_get_as::<T>(reader, r)? {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(source)) => Err(EngineError::BadDocument {
            r: r.to_string(),
            what,
            source,
        }),
    }
}

/// As [`try_decode`], with a missing document a [`StoreError::NotFound`](crate::store::StoreError::NotFound).
pub(crate) fn get_decoded<T: serde::de::DeserializeOwned>(
    reader: &dyn crate::store::Reader,
    r: &Ref,
    what: &'static str,
) -> EngineResult<T> {
    try_decode(reader, r, what)?
        .ok_or_else(|| crate::store::StoreError::NotFound { r: r.to_string() }.into())
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    r: &Ref,
    what: &'static str,
    v: Value,
) -> EngineResult<T> {
    serde_json::from_value(v).map_err(|source| EngineError::BadDocument {
        r: r.to_string(),
        what,
        source,
    })
}

/// The run a status marker or run ref names, or [`EngineError::NotARun`].
pub(crate) fn not_a_run(found: Option<Ref>, of: &Ref) -> EngineResult<Ref> {
    found.ok_or_else(|| EngineError::NotARun { r: of.to_string() })
}

/// Parses a ref built from known-good parts.
pub(crate) fn ref_of(text: &str) -> EngineResult<Ref> {
    Ok(Ref::parse(text)?)
}
