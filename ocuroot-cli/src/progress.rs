//! Progress output on stderr: one line per run start and finish (with duration and status),
//! each log line of a run prefixed by the run, and messages.
//!
//! Lines are written whole under a lock, so concurrent runs never interleave mid-line.
//! When stderr is a terminal, [`TtyProgress`] also shows a live spinner per running run
//! with its latest log line and elapsed time; the same lines scroll above the spinners.

use std::io::Write;
use std::sync::Mutex;

use ocuroot_core::engine::{Progress, ProgressEvent, RunStatus};
use ocuroot_core::refs::Ref;

/// Writes progress events to stderr as plain lines.
pub struct StderrProgress {
    lock: Mutex<()>,
}

impl StderrProgress {
    /// Creates the renderer.
    pub fn new() -> Self {
        StderrProgress {
            lock: Mutex::new(()),
        }
    }

    fn line(&self, text: &str) {
        let _guard = self.lock.lock();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }
}

/// The live display for terminals.
pub struct TtyProgress {
    multi: indicatif::MultiProgress,
    bars: Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl TtyProgress {
    /// Creates the display.
    pub fn new() -> Self {
        TtyProgress {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            bars: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }
}

impl Progress for TtyProgress {
    fn event(&self, event: ProgressEvent) {
        match &event {
            ProgressEvent::RunStarted { run } => {
                let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} [{elapsed}] {wide_msg}",
                ) {
                    bar.set_style(style);
                }
                bar.set_prefix(run_label(run));
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(run.to_string(), bar);
                }
            }
            ProgressEvent::RunLog { run, line } => {
                if let Ok(bars) = self.bars.lock()
                    && let Some(bar) = bars.get(&run.to_string())
                {
                    bar.set_message(line.clone());
                }
            }
            ProgressEvent::RunFinished { run, .. } => {
                if let Ok(mut bars) = self.bars.lock()
                    && let Some(bar) = bars.remove(&run.to_string())
                {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
            }
            _ => {}
        }
        if let Some(text) = render(&event) {
            self.println(&text);
        }
    }
}

/// A short label for a run: `basic.ocu.star@r1 deploy/staging#1`.
pub fn run_label(run: &Ref) -> String {
    let release = run.release.as_deref().unwrap_or_default();
    let (task, n) = run
        .subpath
        .rsplit_once('/')
        .unwrap_or((run.subpath.as_str(), ""));
    format!("{}@{release} {}/{task}#{n}", run.filename, run.type_str())
}

impl Progress for StderrProgress {
    fn event(&self, event: ProgressEvent) {
        if let Some(text) = render(&event) {
            self.line(&text);
        }
    }
}

/// Renders an event as the line(s) printed for it.
fn render(event: &ProgressEvent) -> Option<String> {
    Some(match event {
        ProgressEvent::RunStarted { run } => format!("▶ {} started", run_label(run)),
        ProgressEvent::RunLog { run, line } => format!("  {} │ {line}", run_label(run)),
        ProgressEvent::RunFinished {
            run,
            status,
            duration,
            outputs,
            detail,
        } => {
            let mark = match status {
                RunStatus::Complete => "✔",
                RunStatus::Failed => "✖",
                RunStatus::Paused => "⏸",
                _ => "•",
            };
            let mut text = format!(
                "{mark} {} {status} in {:.2}s",
                run_label(run),
                duration.as_secs_f64()
            );
            if let Some(d) = detail {
                text.push_str(&format!(": {d}"));
            }
            if let Some(o) = outputs
                .as_ref()
                .filter(|o| o.as_object().is_some_and(|m| !m.is_empty()))
            {
                text.push_str(&format!("\n  outputs: {o}"));
            }
            text
        }
        ProgressEvent::Waiting { run, missing } => {
            format!(
                "⏳ {} waiting for input: {}",
                run_label(run),
                missing.join(", ")
            )
        }
        ProgressEvent::Claimed { run, owner } => match owner {
            Some(o) => format!(
                "⏭ {} is being run by another job ({o}); skipped",
                run_label(run)
            ),
            None => format!(
                "⏭ {} is marked running by a job that left no owner; skipped \
                 (`--takeover` takes it over once that job is known to be gone)",
                run_label(run)
            ),
        },
        ProgressEvent::TakenOver {
            run,
            previous,
            reason,
        } => match previous {
            Some(o) => format!("↻ {} taken over from {o} ({reason})", run_label(run)),
            None => format!("↻ {} taken over ({reason})", run_label(run)),
        },
        ProgressEvent::Held { run, hold } => format!("⏸ {} held: {hold}", run_label(run)),
        ProgressEvent::Message(m) => m.clone(),
    })
}

/// Writes a note line to stderr.
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
