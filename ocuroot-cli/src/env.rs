//! The process facts (environment, working directory, clock) read once and handed to core.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ocuroot_core::clock::{Clock, FixedClock, SystemClock, Timestamp};
use ocuroot_core::engine::{ClaimOptions, LocalProcesses, Owner};
use ocuroot_core::git_subprocess::GitEnvironment;
use ocuroot_core::sdk::PrintSink;
use ocuroot_core::store::{Author, RemoteSettings};

/// The environment and working directory of this process.
#[derive(Clone)]
pub struct ProcessEnv {
    /// Every environment variable (non-UTF-8 values are dropped).
    pub vars: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// `--offline`: read remote stores' caches only (as `OCUROOT_OFFLINE=1`).
    pub offline: bool,
}

impl ProcessEnv {
    /// Reads the environment and the working directory.
    // The one place the CLI reads its process environment; everything else gets it from here.
    #[allow(clippy::disallowed_methods)]
    pub fn capture() -> ProcessEnv {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        ProcessEnv {
            vars,
            cwd,
            offline: false,
        }
    }

    /// Returns a variable if set and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Returns `$OCUROOT_HOME`, by default `~/.ocuroot` (spec §3.8).
    pub fn ocuroot_home(&self) -> Option<PathBuf> {
        self.get("OCUROOT_HOME")
            .map(PathBuf::from)
            .or_else(|| self.get("HOME").map(|h| PathBuf::from(h).join(".ocuroot")))
            .map(|p| if p.is_relative() { self.cwd.join(p) } else { p })
    }

    /// Returns how remote stores fetch and push: `OCUROOT_OFFLINE` (read the local cache
    /// only, refuse writes), `OCUROOT_FETCH_INTERVAL` (seconds between fetches before
    /// reads, default 5; 0 fetches before every read) and `OCUROOT_QUEUE_TURN` (writers of
    /// separate caches take turns through a queue on the remote, landing at most this many
    /// commits in a row while others wait; default 0: no queue) and `OCUROOT_FOLD` (`1`:
    /// writers that lost a race publish their transaction for others to land; default off).
    pub fn remote_settings(&self) -> RemoteSettings {
        let mut settings = RemoteSettings::default();
        if let Some(v) = self.get("OCUROOT_OFFLINE") {
            settings.offline = !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no");
        }
        settings.offline |= self.offline;
        if let Some(secs) = self
            .get("OCUROOT_FETCH_INTERVAL")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            settings.fetch_interval = Duration::from_secs_f64(secs);
        }
        if let Some(turn) = self
            .get("OCUROOT_QUEUE_TURN")
            .and_then(|v| v.parse::<u32>().ok())
        {
            settings.queue_turn = turn;
        }
        if let Some(v) = self.get("OCUROOT_FOLD") {
            settings.fold = !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no");
        }
        settings.git = self.git_environment();
        settings
    }

    /// Returns the author of store commits: `OCUROOT_GIT_USER_NAME` and
    /// `OCUROOT_GIT_USER_EMAIL`, each defaulting to ocuroot's own identity.
    pub fn author(&self) -> Author {
        let mut author = Author::default();
        if let Some(name) = self.get("OCUROOT_GIT_USER_NAME") {
            author.name = name.to_string();
        }
        if let Some(email) = self.get("OCUROOT_GIT_USER_EMAIL") {
            author.email = email.to_string();
        }
        author
    }

    /// Returns what `git` processes get of this environment: the variables of
    /// [`ocuroot_core::git_subprocess::PASSED_THROUGH`] (`PATH`, the SSH agent, askpass,
    /// proxies, CA bundles), nothing else.
    pub fn git_environment(&self) -> GitEnvironment {
        GitEnvironment::from_vars(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Returns who this process is when it claims runs (host, pid, pid namespace, start
    /// time, CI job) and how it judges other owners on this host (`/proc`).
    pub fn claim_options(&self) -> ClaimOptions {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| self.get("HOSTNAME").map(str::to_string))
            .unwrap_or_else(|| "localhost".to_string());
        let pid_namespace = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let owner = Owner {
            host: host.clone(),
            pid: std::process::id(),
            pid_namespace: pid_namespace.clone(),
            started: SystemClock.now().to_rfc3339(),
            job: self.ci_job(),
        };
        ClaimOptions::new(
            owner,
            Arc::new(LocalProcesses {
                host,
                pid_namespace,
            }),
        )
    }

    /// Names the CI job this process runs in, from the variables GitHub Actions, GitLab CI,
    /// Buildkite and Jenkins set.
    fn ci_job(&self) -> Option<String> {
        if let (Some(run), Some(job)) = (self.get("GITHUB_RUN_ID"), self.get("GITHUB_JOB")) {
            let attempt = self.get("GITHUB_RUN_ATTEMPT").unwrap_or("1");
            return Some(format!("github {run}/{attempt}/{job}"));
        }
        if let Some(id) = self.get("CI_JOB_ID") {
            return Some(format!("gitlab {id}"));
        }
        if let Some(id) = self.get("BUILDKITE_JOB_ID") {
            return Some(format!("buildkite {id}"));
        }
        self.get("BUILD_TAG").map(|tag| format!("jenkins {tag}"))
    }

    /// Returns the clock: fixed when `OCUROOT_NOW` holds a timestamp (for reproducible runs).
    pub fn clock(&self) -> Arc<dyn Clock> {
        match self.get("OCUROOT_NOW").and_then(Timestamp::parse) {
            Some(t) => Arc::new(FixedClock(t)),
            None => Arc::new(SystemClock),
        }
    }
}

/// Sends prints from Starlark code to stderr, as progress output.
pub struct StderrSink;

impl PrintSink for StderrSink {
    #[allow(clippy::print_stderr)]
    fn print(&self, line: &str) {
        eprintln!("{line}");
    }
}
