//! Run claims: how a job makes a run its own before it executes it.
//!
//! A run's status is a single marker document, `<run>/status/<status>`. Starting a run
//! replaces its `pending` or `paused` marker (or the `running` marker of an owner that is
//! gone) with a `running` marker that names this job as its [`Owner`], in a transaction that
//! also *expects* the marker it replaces ([`Op::Expect`](crate::store::Op::Expect)). The
//! transaction is therefore a compare-and-swap on the run's status: of two jobs that start
//! the same run at the same moment (two CI jobs on one remote, two processes on one local
//! store), exactly one commit lands, and for a remote store it has been pushed before the
//! function executes. The other job's transaction fails on re-application with
//! [`StoreError::Changed`](crate::store::StoreError::Changed); it reads the store again,
//! finds the run `running` under another owner, skips it (reporting
//! [`ProgressEvent::Claimed`](super::ProgressEvent::Claimed)) and goes on with the rest.
//!
//! A `running` marker outlives its owner when the job is killed. It can be taken over:
//!
//! - automatically when the owner ran on this host, in this process-id namespace, and its
//!   process no longer exists ([`Processes::is_gone`], from `/proc` in [`LocalProcesses`]);
//! - by a job of this very process (a run it left `running` after an error);
//! - explicitly with [`ClaimOptions::takeover`] (`--takeover` on the CLI) for an owner on
//!   another machine, which ocuroot cannot see: a person or a CI retry decides the job is
//!   gone. Taking over a job that still runs executes the run twice at once.
//!
//! A takeover is itself a claim (it expects the old owner's marker), and is recorded as the
//! first line of the run's logs. Runs stay at least once after a crash: the function of a
//! killed job's run executes again, never concurrently with itself unless forced.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::RunStatus;

/// The job that owns a running run: where it runs and which process it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The process-id namespace (`/proc/self/ns/pid`), so that containers sharing a host
    /// name are told apart; empty when unknown.
    #[serde(
        default,
        rename = "pid-namespace",
        skip_serializing_if = "String::is_empty"
    )]
    pub pid_namespace: String,
    /// When the process started (RFC 3339), telling apart processes that reuse a pid.
    pub started: String,
    /// The CI job, where the CI environment names one (GitHub Actions, GitLab CI,
    /// Buildkite, Jenkins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} on {}", self.pid, self.host)?;
        if let Some(job) = &self.job {
            write!(f, " (job {job})")?;
        }
        write!(f, ", started {}", self.started)
    }
}

/// Tells whether the owner of a claim is certainly gone.
pub trait Processes: Send + Sync {
    /// Returns true only when `owner` is known not to run any more. An owner this cannot
    /// judge (another host) is not gone.
    fn is_gone(&self, owner: &Owner) -> bool;
}

/// Judges owners on this host from `/proc`: an owner of this host and pid namespace whose
/// process id no longer exists is gone. A reused pid keeps the claim (safe: the run waits
/// for `--takeover` instead of running twice).
#[derive(Clone, Debug)]
pub struct LocalProcesses {
    /// This host's name.
    pub host: String,
    /// This process's pid namespace (empty: unknown, nothing is judged gone).
    pub pid_namespace: String,
}

impl Processes for LocalProcesses {
    fn is_gone(&self, owner: &Owner) -> bool {
        !self.pid_namespace.is_empty()
            && owner.host == self.host
            && owner.pid_namespace == self.pid_namespace
            && Path::new("/proc/self").exists()
            && !Path::new(&format!("/proc/{}", owner.pid)).exists()
    }
}

/// Judges no owner gone (an embedding that cannot see processes).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProcesses;

impl Processes for NoProcesses {
    fn is_gone(&self, _owner: &Owner) -> bool {
        false
    }
}

/// Who claims runs, and when a claim of someone else may be taken over.
#[derive(Clone)]
pub struct ClaimOptions {
    /// This job.
    pub owner: Owner,
    /// Take over runs that another owner holds, whether or not it looks alive
    /// (`--takeover`). For owners on other machines that are known to be gone.
    pub takeover: bool,
    /// Judges whether an owner is gone.
    pub processes: Arc<dyn Processes>,
}

impl ClaimOptions {
    /// Claims as `owner`, taking over only owners judged gone by `processes`.
    pub fn new(owner: Owner, processes: Arc<dyn Processes>) -> ClaimOptions {
        ClaimOptions {
            owner,
            takeover: false,
            processes,
        }
    }
}

impl fmt::Debug for ClaimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimOptions")
            .field("owner", &self.owner)
            .field("takeover", &self.takeover)
            .finish_non_exhaustive()
    }
}

/// The `running` marker: when the run started and who runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunningMarker {
    pub time: String,
    /// Absent in markers written before claims existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// What a job may do with a run it found pending, paused or running.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ClaimState {
    /// The job may claim it by replacing `marker`, the marker of status `from`.
    Free {
        /// The status the run has now.
        from: RunStatus,
        /// Its marker, exactly as read: the claim expects it.
        marker: Value,
        /// The owner being taken over and why, for a `running` run.
        takeover: Option<(Option<Owner>, &'static str)>,
    },
    /// Another job holds it (`None`: a marker that names no owner).
    Held(Option<Owner>),
}

/// Decides what a job with `options` may do with a run of status `from` whose marker is
/// `marker`.
pub(crate) fn claim_state(options: &ClaimOptions, from: RunStatus, marker: Value) -> ClaimState {
    if from != RunStatus::Running {
        return ClaimState::Free {
            from,
            marker,
            takeover: None,
        };
    }
    let owner = serde_json::from_value::<RunningMarker>(marker.clone())
        .ok()
        .and_then(|m| m.owner);
    let reason = match &owner {
        Some(o) if *o == options.owner => Some("left running by this process"),
        Some(o) if options.processes.is_gone(o) => Some("its process is gone"),
        _ if options.takeover => Some("--takeover"),
        _ => None,
    };
    match reason {
        Some(reason) => ClaimState::Free {
            from,
            marker,
            takeover: Some((owner, reason)),
        },
        None => ClaimState::Held(owner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner(host: &str, pid: u32) -> Owner {
        Owner {
            host: host.to_string(),
            pid,
            pid_namespace: "pid:[1]".to_string(),
            started: "2026-01-01T00:00:00Z".to_string(),
            job: None,
        }
    }

    struct Gone(u32);

    impl Processes for Gone {
        fn is_gone(&self, owner: &Owner) -> bool {
            owner.pid == self.0
        }
    }

    fn options(me: Owner, gone: u32, takeover: bool) -> ClaimOptions {
        ClaimOptions {
            owner: me,
            takeover,
            processes: Arc::new(Gone(gone)),
        }
    }

    fn running(o: Option<Owner>) -> Value {
        serde_json::to_value(RunningMarker {
            time: "t".to_string(),
            owner: o,
        })
        .expect("marker")
    }

    #[test]
    fn pending_and_paused_runs_are_free() {
        let opts = options(owner("a", 1), 0, false);
        for from in [RunStatus::Pending, RunStatus::Paused] {
            let state = claim_state(&opts, from, json!({"time": "t"}));
            assert!(
                matches!(state, ClaimState::Free { takeover: None, .. }),
                "{state:?}"
            );
        }
    }

    #[test]
    fn a_live_owner_holds_its_run() {
        let opts = options(owner("a", 1), 0, false);
        let other = owner("b", 7);
        assert_eq!(
            claim_state(&opts, RunStatus::Running, running(Some(other.clone()))),
            ClaimState::Held(Some(other))
        );
        // A marker from before claims names nobody: held until someone takes it over.
        assert_eq!(
            claim_state(&opts, RunStatus::Running, json!({"time": "t"})),
            ClaimState::Held(None)
        );
    }

    #[test]
    fn gone_owners_own_runs_and_takeover_free_them() {
        let me = owner("a", 1);
        let dead = owner("a", 9);
        let state = claim_state(
            &options(me.clone(), 9, false),
            RunStatus::Running,
            running(Some(dead.clone())),
        );
        assert!(
            matches!(&state, ClaimState::Free { takeover: Some((Some(o), _)), .. } if *o == dead),
            "{state:?}"
        );
        let mine = claim_state(
            &options(me.clone(), 0, false),
            RunStatus::Running,
            running(Some(me.clone())),
        );
        assert!(matches!(mine, ClaimState::Free { .. }), "{mine:?}");
        let forced = claim_state(
            &options(me, 0, true),
            RunStatus::Running,
            running(Some(owner("b", 7))),
        );
        assert!(
            matches!(
                forced,
                ClaimState::Free {
                    takeover: Some((_, "--takeover")),
                    ..
                }
            ),
            "{forced:?}"
        );
    }

    #[test]
    fn local_processes_judge_only_this_host_and_namespace() {
        let ns = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if ns.is_empty() {
            return; // No procfs: nothing can be judged, which is what NoProcesses does.
        }
        let local = LocalProcesses {
            host: "here".to_string(),
            pid_namespace: ns.clone(),
        };
        let mut alive = owner("here", std::process::id());
        alive.pid_namespace = ns.clone();
        assert!(!local.is_gone(&alive));
        // pid_max is at most 2^22 on Linux: this pid cannot exist.
        let mut dead = alive.clone();
        dead.pid = u32::MAX - 1;
        assert!(local.is_gone(&dead));
        let mut elsewhere = dead.clone();
        elsewhere.host = "there".to_string();
        assert!(!local.is_gone(&elsewhere));
        let mut other_ns = dead;
        other_ns.pid_namespace = "pid:[2]".to_string();
        assert!(!local.is_gone(&other_ns));
    }
}
