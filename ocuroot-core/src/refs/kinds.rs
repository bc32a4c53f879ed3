//! The typed parts of a ref and the builders of the refs the state layout uses.
//!
//! [`SubpathType`] is the segment after the release (`deploy`, `task`, …); [`RunStatus`] is
//! the last segment of a run's status marker (`<run>/status/<status>`). The builders on
//! [`Ref`] name the documents around a run — its status markers, its task, its release —
//! so that no caller formats a ref string and parses it back.
//!
//! A run ref is `<repo>/-/<package>/@<release>/<type>/<name>/<n>`: the task (or deployment)
//! ref plus the run number. Its status markers are `<run>/status/<status>`; a dependency on
//! a run's completion is the escaped glob `<run>/status/complete`.

use std::fmt;

use super::Ref;
use super::glob::{Glob, GlobError, pattern_below};

/// The subpath type of a ref: what kind of document follows the release.
///
/// `call` is an alias of `task` (the parser normalises it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubpathType {
    /// A deployment to an environment (`…/@r1/deploy/staging`).
    Deploy,
    /// A task (`…/@r1/task/build`).
    Task,
    /// Custom state (`@/custom/approval`, `…/@r1/custom/x`).
    Custom,
    /// An environment (`@/environment/staging`).
    Environment,
    /// A commit's record (`…/repo.ocu.star/@<sha>/commit/…`).
    Commit,
    /// The push index (`…/repo.ocu.star/push/index`).
    Push,
    /// An operation (`…/op/…`).
    Op,
}

impl SubpathType {
    /// Every subpath type.
    pub const ALL: [SubpathType; 7] = [
        SubpathType::Deploy,
        SubpathType::Task,
        SubpathType::Custom,
        SubpathType::Environment,
        SubpathType::Commit,
        SubpathType::Push,
        SubpathType::Op,
    ];

    /// The segment as written in a canonical ref.
    pub fn as_str(self) -> &'static str {
        match self {
            SubpathType::Deploy => "deploy",
            SubpathType::Task => "task",
            SubpathType::Custom => "custom",
            SubpathType::Environment => "environment",
            SubpathType::Commit => "commit",
            SubpathType::Push => "push",
            SubpathType::Op => "op",
        }
    }

    /// Parses a segment (`call` is `task`); `None` for anything else.
    pub fn parse(s: &str) -> Option<SubpathType> {
        if s == "call" {
            return Some(SubpathType::Task);
        }
        SubpathType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for SubpathType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a run, as its marker (`<run>/status/<status>`) names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunStatus {
    /// Created, not started.
    Pending,
    /// Executing.
    Running,
    /// Waiting for inputs of a `next()` function.
    Paused,
    /// Finished with `done()`.
    Complete,
    /// Failed.
    Failed,
    /// Failed and superseded by a retry run.
    FailedRetried,
    /// Cancelled (never produced, kept for compatibility).
    Cancelled,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Paused,
        RunStatus::Complete,
        RunStatus::Failed,
        RunStatus::FailedRetried,
        RunStatus::Cancelled,
    ];

    /// The marker name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
            RunStatus::FailedRetried => "failed_retried",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a marker name.
    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last segment of an environment's freeze (`@/environment/<env>/freeze`).
pub const FREEZE: &str = "freeze";

/// The last segment of an environment's promotion record (`@/environment/<env>/promotion`).
pub const PROMOTION: &str = "promotion";

/// The custom-state subpath of a release's bad mark (`<release>/custom/ocuroot/bad`);
/// `custom/ocuroot/` is reserved for ocuroot's own documents.
pub const BAD_MARK: &str = "ocuroot/bad";

/// The file that configures a repository (`repo.ocu.star`); state records its copies as
/// refs of this package.
pub const REPO_CONFIG_FILE: &str = "repo.ocu.star";

impl Ref {
    /// A recorded repository configuration: `<repo>/-/repo.ocu.star/@<commit>`; an empty
    /// `commit` names the link to the latest (`…/@`).
    ///
    /// Like every builder, this checks nothing: a store refuses a ref that is not
    /// [storable](Ref::ensure_storable).
    pub fn repo_config(repo: &str, commit: &str) -> Ref {
        Ref {
            repo: repo.to_string(),
            filename: REPO_CONFIG_FILE.to_string(),
            release: Some(commit.to_string()),
            ..Ref::default()
        }
    }

    /// A global ref: `@/<type>/<name>` (`@/environment/staging`, `@/custom/approval`).
    pub fn global(ty: SubpathType, name: &str) -> Ref {
        Ref {
            global: true,
            release: Some(String::new()),
            subpath_type: Some(ty),
            subpath: name.to_string(),
            ..Ref::default()
        }
    }

    /// The freeze of environment `env` in intent: `@/environment/<env>/freeze`.
    pub fn freeze(env: &str) -> Ref {
        Ref::global(SubpathType::Environment, &format!("{env}/{FREEZE}"))
    }

    /// The record of the last promotion to environment `env` in intent:
    /// `@/environment/<env>/promotion`.
    pub fn promotion(env: &str) -> Ref {
        Ref::global(SubpathType::Environment, &format!("{env}/{PROMOTION}"))
    }

    /// The bad mark of this ref's release in intent: `<release>/custom/ocuroot/bad`.
    pub fn bad_mark(&self) -> Ref {
        self.release_ref()
            .with_subpath(SubpathType::Custom, BAD_MARK)
    }

    /// The release part only: `<repo>/-/<package>/@<release>` (global refs keep their
    /// global marker).
    pub fn release_ref(&self) -> Ref {
        Ref {
            repo: self.repo.clone(),
            filename: self.filename.clone(),
            global: self.global,
            release: self.release.clone(),
            ..Ref::default()
        }
    }

    /// The package part only: `<repo>/-/<package>`.
    pub fn package_ref(&self) -> Ref {
        Ref {
            release: None,
            ..self.release_ref()
        }
    }

    /// This ref with another subpath type and subpath, and no fragment:
    /// `release.with_subpath(SubpathType::Deploy, "staging")` is `<release>/deploy/staging`.
    pub fn with_subpath(&self, ty: SubpathType, subpath: impl Into<String>) -> Ref {
        Ref {
            subpath_type: Some(ty),
            subpath: subpath.into(),
            fragment: String::new(),
            ..self.clone()
        }
    }

    /// This ref with `segment` appended to its subpath (`<task>` → `<task>/<segment>`).
    pub fn child(&self, segment: impl fmt::Display) -> Ref {
        let subpath = if self.subpath.is_empty() {
            segment.to_string()
        } else {
            format!("{}/{segment}", self.subpath)
        };
        Ref {
            subpath,
            fragment: String::new(),
            ..self.clone()
        }
    }

    /// The status marker of this run: `<run>/status/<status>`.
    pub fn status(&self, status: RunStatus) -> Ref {
        self.child("status").child(status)
    }

    /// The glob of every status marker of this run: `<run>/status/*`.
    ///
    /// # Errors
    ///
    /// A [`GlobError`] if the escaped ref does not compile (it always does for a parsed ref).
    pub fn status_glob(&self) -> Result<Glob, GlobError> {
        Glob::below(self, "status/*")
    }

    /// The dependency glob that waits for this run to complete
    /// (`<run>/status/complete`, escaped), as run documents record it.
    pub fn completion_glob(&self) -> String {
        pattern_below(self, "status/complete")
    }

    /// The run a status marker belongs to (`<run>/status/<x>` → `<run>`), or `None` when
    /// this is not a status marker.
    pub fn status_run(&self) -> Option<Ref> {
        let (run, status) = self.subpath.rsplit_once("/status/")?;
        if status.contains('/') {
            return None;
        }
        Some(Ref {
            subpath: run.to_string(),
            fragment: String::new(),
            ..self.clone()
        })
    }

    /// The status a marker names (`<run>/status/complete` → `Complete`), if it is one.
    pub fn marker_status(&self) -> Option<RunStatus> {
        let (_, status) = self.subpath.rsplit_once("/status/")?;
        RunStatus::parse(status)
    }

    /// The task or deployment of a run (`<release>/<type>/<name>/<n>` →
    /// `<release>/<type>/<name>`), or `None` when the subpath has one segment.
    pub fn run_task(&self) -> Option<Ref> {
        let (task, _) = self.subpath.rsplit_once('/')?;
        Some(Ref {
            subpath: task.to_string(),
            fragment: String::new(),
            ..self.clone()
        })
    }

    /// The run number of a run ref (`…/deploy/staging/3` → 3).
    pub fn run_number(&self) -> Option<u64> {
        self.subpath.rsplit_once('/')?.1.parse().ok()
    }

    /// Whether the subpath type is `t`.
    pub fn is(&self, t: SubpathType) -> bool {
        self.subpath_type == Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Ref {
        Ref::parse(s).expect("ref")
    }

    #[test]
    fn builders_name_the_documents_of_a_run() {
        let run = r("repo/-/pkg.ocu.star/@r2/deploy/staging/3");
        assert_eq!(run.release_ref(), r("repo/-/pkg.ocu.star/@r2"));
        assert_eq!(run.package_ref(), r("repo/-/pkg.ocu.star"));
        assert_eq!(
            run.status(RunStatus::Complete),
            r("repo/-/pkg.ocu.star/@r2/deploy/staging/3/status/complete")
        );
        let marker = run.status(RunStatus::FailedRetried);
        assert_eq!(marker.status_run(), Some(run.clone()));
        assert_eq!(marker.marker_status(), Some(RunStatus::FailedRetried));
        assert_eq!(
            run.run_task(),
            Some(r("repo/-/pkg.ocu.star/@r2/deploy/staging"))
        );
        assert_eq!(run.run_number(), Some(3));
        assert_eq!(run.status_run(), None);
        assert!(run.is(SubpathType::Deploy));
        assert_eq!(
            run.release_ref()
                .with_subpath(SubpathType::Task, "build")
                .child(1),
            r("repo/-/pkg.ocu.star/@r2/task/build/1")
        );
        assert_eq!(
            run.completion_glob(),
            "repo/-/pkg.ocu.star/@r2/deploy/staging/3/status/complete"
        );
        assert!(
            run.status_glob()
                .expect("glob")
                .matches("repo/-/pkg.ocu.star/@r2/deploy/staging/3/status/paused")
        );
    }

    #[test]
    fn builders_of_repository_and_global_refs() {
        assert_eq!(
            Ref::repo_config("github.com/a/b", "abc"),
            r("github.com/a/b/-/repo.ocu.star/@abc")
        );
        assert_eq!(Ref::repo_config("a", ""), r("a/-/repo.ocu.star/@"));
        assert_eq!(
            Ref::global(SubpathType::Environment, "staging"),
            r("@/environment/staging")
        );
        assert_eq!(
            Ref::repo_config("a", "c1").with_subpath(SubpathType::Push, "index"),
            r("a/-/repo.ocu.star/@c1/push/index")
        );
    }

    #[test]
    fn names_round_trip() {
        for t in SubpathType::ALL {
            assert_eq!(SubpathType::parse(t.as_str()), Some(t));
        }
        assert_eq!(SubpathType::parse("call"), Some(SubpathType::Task));
        assert_eq!(SubpathType::parse("calls"), None);
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
    }
}
