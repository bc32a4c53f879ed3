//! Executing a wave of runs concurrently and recording their results in batches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::claim::{ClaimState, RunningMarker};
use super::{Engine, EngineResult, Progress, ProgressEvent, RunStatus, not_a_run};
use crate::clock::Clock;
use crate::model::RunType;
use crate::model::{
    self, DeployIntent, Inputs, JsonMap, LogEntry, RunDoc, RunFunction, TaskSummary,
};
use crate::refs::SubpathType;
use crate::refs::{Ref, names};
use crate::sdk::{CallContext, CallOutcome, LoadedPackage, PrintSink, Secrets, SourceLocation};
use crate::store::Transaction;

/// A run ready to execute, with its populated inputs and the claim that starts it.
pub(crate) struct Candidate {
    pub run: Ref,
    pub doc: RunDoc,
    pub inputs: Inputs,
    /// Always [`ClaimState::Free`]: the marker the claim replaces.
    pub claim: ClaimState,
}

/// The outcome of executing one run.
struct RunResult {
    release: Ref,
    run: Ref,
    doc: RunDoc,
    status: RunStatus,
    logs: Vec<LogEntry>,
    tags: Vec<String>,
    duration: Duration,
    detail: Option<String>,
}

/// The stack of a thread executing runs.
const RUN_STACK_BYTES: usize = 16 << 20;

/// Collects a run's printed lines as log entries and forwards them as progress.
///
/// Lines past the `max_log_bytes` limit are dropped (one line says so) and the run fails.
struct RunSink {
    run: Ref,
    entries: Mutex<Vec<LogEntry>>,
    /// Bytes of messages stored so far; `usize::MAX` once over the limit.
    bytes: Mutex<usize>,
    progress: Arc<dyn Progress>,
    clock: Arc<dyn Clock>,
    secrets: Secrets,
}

impl RunSink {
    fn record(&self, line: &str, attributes: BTreeMap<String, String>) {
        let mut line = self.secrets.mask(line);
        let mut attributes = attributes;
        if let Ok(mut bytes) = self.bytes.lock() {
            if *bytes == usize::MAX {
                return;
            }
            let limit = crate::limits::current().max_log_bytes;
            *bytes = bytes.saturating_add(line.len());
            if *bytes > limit {
                *bytes = usize::MAX;
                line = self.overflow_message(limit);
                attributes = BTreeMap::new();
            }
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.push(LogEntry {
                timestamp: self.clock.now().to_rfc3339(),
                message: line.clone(),
                attributes,
                stream: 0,
            });
        }
        self.progress.event(ProgressEvent::RunLog {
            run: self.run.clone(),
            line,
        });
    }
}

impl RunSink {
    fn overflow_message(&self, limit: usize) -> String {
        format!(
            "the logs are over the limit of {limit} bytes (max_log_bytes): later lines are dropped and the run fails"
        )
    }

    /// Returns the failure message when the logs went over the limit.
    fn overflowed(&self) -> Option<String> {
        let over = self.bytes.lock().map(|b| *b == usize::MAX).unwrap_or(false);
        over.then(|| self.overflow_message(crate::limits::current().max_log_bytes))
    }
}

impl PrintSink for RunSink {
    fn print(&self, line: &str) {
        self.record(line, BTreeMap::new());
    }

    fn print_at(&self, line: &str, at: &SourceLocation) {
        let attributes = BTreeMap::from([
            ("filename".to_string(), at.filename.clone()),
            ("line".to_string(), at.line.to_string()),
            ("col".to_string(), at.col.to_string()),
        ]);
        self.record(line, attributes);
    }
}

/// Forwards prints during package evaluation as progress messages.
struct MessageSink {
    progress: Arc<dyn Progress>,
    secrets: Secrets,
}

impl PrintSink for MessageSink {
    fn print(&self, line: &str) {
        self.progress
            .event(ProgressEvent::Message(self.secrets.mask(line)));
    }
}

impl Engine {
    /// A sink for prints outside runs (package evaluation), masked.
    pub(crate) fn progress_sink(&self, _run: Option<&Ref>) -> Arc<dyn PrintSink> {
        Arc::new(MessageSink {
            progress: self.opts.progress.clone(),
            secrets: self.secrets.clone(),
        })
    }

    /// Executes a wave of runs (already marked `running` by [`Engine::start_wave`]) on
    /// worker threads and gathers their results.
    ///
    /// Returns the transaction recording the results not committed yet, for the caller to
    /// fold into the commit that starts the next wave (or ends the release). Results are
    /// committed before the wave ends only when one has waited for
    /// [`EngineOptions::results_window`](super::EngineOptions::results_window), or when a
    /// run could not be executed (then everything gathered is committed and the error
    /// returned).
    pub(crate) fn execute_wave(
        &self,
        releases: &[(&Ref, &LoadedPackage)],
        candidates: Vec<(usize, Candidate)>,
    ) -> EngineResult<Option<Transaction>> {
        let total = candidates.len();
        let queue = Mutex::new(candidates.into_iter().collect::<VecDeque<_>>());
        let workers = self.opts.parallel.clamp(1, total.max(1));
        let window = self.opts.results_window;
        let (tx, rx) = mpsc::channel::<EngineResult<RunResult>>();
        std::thread::scope(|scope| -> EngineResult<Option<Transaction>> {
            for _ in 0..workers {
                let tx = tx.clone();
                let queue = &queue;
                // Starlark evaluation recurses with the user's code; give workers the
                // stack of a main thread, not the 2 MiB default of spawned threads.
                let spawned = std::thread::Builder::new()
                    .stack_size(RUN_STACK_BYTES)
                    .spawn_scoped(scope, move || {
                        loop {
                            let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                            let Some((i, candidate)) = next else { break };
                            let (release, loaded) = releases[i];
                            let result = self.execute_run(release, loaded, candidate);
                            if tx.send(result).is_err() {
                                break;
                            }
                        }
                    });
                if let Err(source) = spawned {
                    return Err(super::EngineError::Thread { source });
                }
            }
            drop(tx);
            let mut received = 0;
            let mut first_error = None;
            let mut gathered: Vec<RunResult> = Vec::new();
            // When the oldest result not committed yet arrived.
            let mut oldest: Option<Instant> = None;
            while received < total {
                let next = match oldest {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(t) => rx.recv_timeout(window.saturating_sub(t.elapsed())),
                };
                match next {
                    Ok(result) => {
                        received += 1;
                        match result {
                            Ok(r) => {
                                gathered.push(r);
                                oldest.get_or_insert_with(Instant::now);
                            }
                            Err(e) => {
                                first_error.get_or_insert(e);
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                let due = oldest.is_some_and(|t| t.elapsed() >= window);
                if due && received < total {
                    oldest = None;
                    let results = std::mem::take(&mut gathered);
                    let committed = self.results_tx(results).and_then(|tx| {
                        if let Some(tx) = tx {
                            self.cx.state.commit(&tx)?;
                        }
                        Ok(())
                    });
                    if let Err(e) = committed {
                        first_error.get_or_insert(e);
                    }
                }
            }
            let results = self.results_tx(gathered)?;
            match first_error {
                Some(e) => {
                    if let Some(tx) = results {
                        self.cx.state.commit(&tx)?;
                    }
                    Err(e)
                }
                None => Ok(results),
            }
        })
    }

    /// Commits the start of a wave: every run of it `running` with its populated inputs,
    /// the deploy intent of deployments that start, and its applied mirror. `carry` (writes
    /// not committed yet) goes into the same state commit, and the intent shares its push
    /// when state and intent live in one remote.
    pub(crate) fn start_wave(
        &self,
        releases: &[(&Ref, &LoadedPackage)],
        carry: Option<Transaction>,
        candidates: &[(usize, Candidate)],
    ) -> EngineResult<()> {
        let mut names: Vec<String> = candidates
            .iter()
            .map(|(i, _)| releases[*i].0.to_string())
            .collect();
        names.dedup();
        let names = names.join("\n");
        let mut started = Transaction::new(format!("execution started\n\n{names}"));
        let mut intent_tx = Transaction::new(format!("deployments started\n\n{names}"));
        for (i, c) in candidates {
            let release = releases[*i].0;
            let mut doc = c.doc.clone();
            if let Some(last) = doc.functions.last_mut() {
                last.inputs = c.inputs.clone();
            }
            started.set(&c.run, self.secrets.mask_json(&model::to_json(&doc)));
            self.claim(&mut started, c)?;
            if c.run.is(SubpathType::Deploy) && doc.functions.len() == 1 {
                let env = c.run.subpath.split('/').next().unwrap_or_default();
                let intent_ref = Ref {
                    release: Some(String::new()),
                    ..c.run.package_ref()
                }
                .with_subpath(SubpathType::Deploy, env);
                if doc.run_type == RunType::Down {
                    intent_tx.delete_if_exists(&intent_ref);
                    started.delete_applied(&intent_ref);
                } else {
                    let intent = DeployIntent {
                        release: release.to_string(),
                        input: c.inputs.clone(),
                        override_freeze: false,
                    };
                    let value = self.secrets.mask_json(&model::to_json(&intent));
                    intent_tx.set(&intent_ref, value.clone());
                    started.set_applied(&intent_ref, value);
                }
            }
        }
        let state_tx = match carry {
            Some(mut carry) => {
                carry.append(started);
                carry
            }
            None => started,
        };
        // Intent first: when the two cannot share a push, the applied mirror must never
        // be ahead of the intent it mirrors (that would read as intent deleted).
        self.sign(&mut intent_tx);
        self.cx
            .intent
            .commit_with(&intent_tx, &self.cx.state, &state_tx)?;
        Ok(())
    }

    /// Records in `tx` the claim of candidate `c` (see `engine::claim`): the marker it was
    /// found with is expected, and replaced by a `running` marker naming this job.
    fn claim(&self, tx: &mut Transaction, c: &Candidate) -> EngineResult<()> {
        let ClaimState::Free { from, marker, .. } = &c.claim else {
            return Err(super::EngineError::Held {
                run: c.run.to_string(),
            });
        };
        let from_ref = c.run.status(*from);
        tx.expect(&from_ref, Some(marker.clone()));
        if *from != RunStatus::Running {
            tx.delete(&from_ref);
        }
        let running = RunningMarker {
            time: self.now(),
            owner: Some(self.opts.claims.owner.clone()),
        };
        tx.set(&c.run.status(RunStatus::Running), model::to_json(&running));
        Ok(())
    }

    fn execute_run(
        &self,
        release: &Ref,
        loaded: &LoadedPackage,
        c: Candidate,
    ) -> EngineResult<RunResult> {
        let started = Instant::now();
        self.progress(ProgressEvent::RunStarted { run: c.run.clone() });
        let sink = Arc::new(RunSink {
            run: c.run.clone(),
            entries: Mutex::new(Vec::new()),
            bytes: Mutex::new(0),
            progress: self.opts.progress.clone(),
            clock: self.opts.clock.clone(),
            secrets: self.secrets.clone(),
        });
        if let ClaimState::Free {
            takeover: Some((previous, reason)),
            ..
        } = &c.claim
        {
            let from = previous.as_ref().map_or_else(
                || "a job that left no owner".to_string(),
                ToString::to_string,
            );
            sink.print(&format!(
                "ocuroot: took over this run from {from} ({reason})"
            ));
            self.progress(ProgressEvent::TakenOver {
                run: c.run.clone(),
                previous: previous.clone(),
                reason: reason.to_string(),
            });
        }
        let ctx = CallContext {
            host: self.cx.host.clone(),
            package_dir: self.package_dir(release),
            sink: sink.clone(),
            secrets: self.secrets.clone(),
        };
        let mut doc = c.doc;
        let mut inputs = c.inputs;
        if let Some(last) = doc.functions.last_mut() {
            last.inputs = inputs.clone();
        }
        let mut tags = Vec::new();
        let (status, detail) = loop {
            let Some(function) = doc.functions.last().map(|f| f.function.clone()) else {
                break (RunStatus::Failed, Some("run has no functions".to_string()));
            };
            if !loaded.function(&function) {
                break (
                    RunStatus::Failed,
                    Some(format!(
                        "function {} not found in the current package",
                        function.key()
                    )),
                );
            }
            let values: BTreeMap<String, Value> = inputs
                .iter()
                .map(|(k, d)| (k.clone(), d.effective().cloned().unwrap_or(Value::Null)))
                .collect();
            match loaded.call(&function, &values, &ctx) {
                CallOutcome::Done {
                    outputs,
                    tags: t,
                    watch,
                } => {
                    doc.output = Some(mask_map(&self.secrets, outputs));
                    doc.watch_files = Some(watch);
                    tags = t;
                    break (RunStatus::Complete, None);
                }
                CallOutcome::Failed { message } => {
                    let message = self.secrets.mask(&message);
                    sink.print(&message);
                    break (RunStatus::Failed, Some(message));
                }
                CallOutcome::Next {
                    function,
                    inputs: next_inputs,
                } => {
                    if let Some(bad) = next_inputs.keys().find(|k| !names::is_valid_input_name(k)) {
                        let message = format!(
                            "invalid input name {bad:?} passed to next({})",
                            function.name
                        );
                        sink.print(&message);
                        break (RunStatus::Failed, Some(message));
                    }
                    let populated = self.populate(&next_inputs)?;
                    doc.functions.push(RunFunction {
                        function,
                        dependencies: Vec::new(),
                        inputs: populated.clone(),
                    });
                    let missing: Vec<String> = populated
                        .iter()
                        .filter(|(_, d)| d.is_missing())
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !missing.is_empty() {
                        break (
                            RunStatus::Paused,
                            Some(format!("waiting for {}", missing.join(", "))),
                        );
                    }
                    inputs = populated;
                }
            }
        };
        let (status, detail) = match sink.overflowed() {
            Some(message) if status == RunStatus::Complete || status == RunStatus::Paused => {
                doc.output = None;
                tags.clear();
                (RunStatus::Failed, Some(message))
            }
            _ => (status, detail),
        };
        let logs = sink.entries.lock().map(|e| e.clone()).unwrap_or_default();
        let duration = started.elapsed();
        let outputs = doc.output.clone().map(Value::Object);
        self.progress(ProgressEvent::RunFinished {
            run: c.run.clone(),
            status,
            duration,
            outputs,
            detail: detail.clone(),
        });
        Ok(RunResult {
            release: release.clone(),
            run: c.run,
            doc,
            status,
            logs,
            tags,
            duration,
            detail,
        })
    }

    /// Returns the transaction recording the results of finished runs (`None` for none).
    fn results_tx(&self, results: Vec<RunResult>) -> EngineResult<Option<Transaction>> {
        if results.is_empty() {
            return Ok(None);
        }
        let mut tx = Transaction::new(format!(
            "execution finished\n\n{}",
            results
                .iter()
                .map(|r| format!("{} {}", r.run, r.status))
                .collect::<Vec<_>>()
                .join("\n")
        ));
        for r in results {
            let _ = (r.duration, &r.detail);
            let release = &r.release;
            let logs_ref = r.run.child("logs");
            let mut logs: Vec<Value> = match self.cx.state.try_get(&logs_ref)? {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            logs.extend(r.logs.iter().map(model::to_json));
            if !logs.is_empty() {
                tx.set(&logs_ref, Value::Array(logs));
            }
            tx.set(&r.run, self.secrets.mask_json(&model::to_json(&r.doc)));
            // This process marked the run `running` when the wave started.
            self.set_status(&mut tx, &r.run, &[RunStatus::Running], r.status)?;
            if matches!(
                r.status,
                RunStatus::Complete | RunStatus::Failed | RunStatus::Paused
            ) {
                let outputs = self
                    .secrets
                    .mask_json(&Value::Object(r.doc.output.clone().unwrap_or_default()));
                self.queue_notification(
                    &r.run,
                    r.status.as_str(),
                    outputs.as_object(),
                    r.detail.as_deref(),
                );
            }
            if r.status != RunStatus::Complete {
                continue;
            }
            let task = not_a_run(r.run.run_task(), &r.run)?;
            for tag in &r.tags {
                tx.link(
                    &Ref {
                        release: Some(tag.clone()),
                        ..r.run.package_ref()
                    },
                    release,
                );
            }
            let summary = TaskSummary {
                run_ref: r.run.to_string(),
                run_type: r.doc.run_type,
                release: release.to_string(),
                input: r
                    .doc
                    .functions
                    .first()
                    .map(|f| f.inputs.clone())
                    .unwrap_or_default(),
                output: r.doc.output.clone().unwrap_or_default(),
            };
            tx.set(&task, self.secrets.mask_json(&model::to_json(&summary)));
            let latest = Ref {
                release: Some(String::new()),
                ..task.clone()
            };
            if r.doc.run_type == RunType::Down {
                tx.unlink(&latest);
            } else {
                tx.link(&latest, &task);
            }
        }
        Ok(Some(tx))
    }
}

fn mask_map(secrets: &Secrets, map: JsonMap) -> JsonMap {
    match secrets.mask_json(&Value::Object(map)) {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}
