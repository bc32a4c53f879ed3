//! The process facts (environment, working directory, clock) read once and handed to core.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ocuroot_core::clock::{Clock, FixedClock, SystemClock, Timestamp};
use ocuroot_core::sdk::PrintSink;

/// The environment and working directory of this process.
pub struct ProcessEnv {
    /// Every environment variable (non-UTF-8 values are dropped).
    pub vars: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

impl ProcessEnv {
    /// Reads the environment and the working directory.
    pub fn capture() -> ProcessEnv {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        ProcessEnv { vars, cwd }
    }

    /// Returns a variable if set and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
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
