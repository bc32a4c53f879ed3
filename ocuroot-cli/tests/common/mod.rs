//! The end-to-end harness: a temporary Git repository with a `repo.ocu.star`, and the real
//! `ocuroot` binary run in it with a hermetic environment.
//!
//! [`TestEnv`] owns a temp dir laid out as `$TEST_ENV/repo` (the source repository) and
//! `$TEST_ENV/home` (`HOME`). Commands run with `env_clear()`, `PATH` kept, Git's global and
//! system config set to `/dev/null` and a fixed `OCUROOT_NOW`, so store commits (and their
//! hashes) are reproducible. [`CommandOutput`] renders stdout, stderr and the exit status
//! together, with the temp root replaced by `$TEST_ENV` and commit hashes by `[HASH]`, ready
//! for `insta` snapshots.
#![allow(dead_code)]

pub mod web;

#[path = "../../../ocuroot-core/tests/common/git.rs"]
mod git_helpers;
/// The generator of stores in the original's format (spec §3.2, §3.6).
#[path = "../../../ocuroot-core/tests/common/original.rs"]
pub mod original;
// `original` reaches the Git helpers as `super::git`, as in the core suite.
use git_helpers as git;
pub use git_helpers::{
    GitDaemon, GitHttp, bare_remote, fake_ssh, git, hand_commit, hand_commit_modes, pushes,
    record_pushes, ssh_log, try_git,
};

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, LazyLock};

use ocuroot_core::clock::{FixedClock, Timestamp};
use ocuroot_core::refs::Ref;
use ocuroot_core::store::{Store, StoreKind, StoreOptions, Transaction};
use regex::Regex;
use serde_json::Value;

/// The time every test command sees (`OCUROOT_NOW`).
pub const NOW: &str = "2026-01-01T00:00:00Z";
/// `NOW` in seconds since the epoch, for stores opened by the tests themselves.
pub const NOW_SECONDS: i64 = 1_767_225_600;
/// The default `repo.ocu.star` of a [`TestEnv`].
pub const DEFAULT_CONFIG: &str = "repo_alias(\"demo\")\n";
/// The embedded default store, relative to the repository root.
pub const HUB: &str = ".ocuroot/store.git";

/// Parses a ref, panicking with the ref in the message.
pub fn r(s: &str) -> Ref {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test ref {s}: {e}"))
}

/// A temp dir holding a Git repository with a `repo.ocu.star`, and a way to run `ocuroot`.
pub struct TestEnv {
    _tmp: tempfile::TempDir,
    /// The temp root (canonical), shown as `$TEST_ENV` in outputs.
    root: PathBuf,
    /// The source repository (`$TEST_ENV/repo`).
    repo: PathBuf,
    /// Extra environment variables for every `ocuroot` run.
    env: BTreeMap<String, String>,
}

impl TestEnv {
    /// Makes a repository whose `repo.ocu.star` names it `demo`, with one commit.
    #[must_use]
    pub fn new() -> TestEnv {
        Self::with_config(DEFAULT_CONFIG)
    }

    /// Makes a repository with the given `repo.ocu.star`, with one commit.
    #[must_use]
    pub fn with_config(config: &str) -> TestEnv {
        let env = Self::without_config();
        env.write_file("repo.ocu.star", config);
        env.git(&["add", "repo.ocu.star"]);
        env.git(&["commit", "-q", "-m", "initial"]);
        env
    }

    /// Makes a repository from the fixture `testdata/<name>` (copied and committed).
    #[must_use]
    pub fn from_fixture(name: &str) -> TestEnv {
        let env = Self::without_config();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name);
        copy_dir(&src, &env.repo);
        env.git(&["add", "-A"]);
        env.git(&["commit", "-q", "-m", "fixture"]);
        env
    }

    /// Makes an empty Git repository without `repo.ocu.star` (and without commits).
    #[must_use]
    pub fn without_config() -> TestEnv {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical temp dir");
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).expect("create repo dir");
        std::fs::create_dir_all(root.join("home")).expect("create home dir");
        let env = TestEnv {
            _tmp: tmp,
            root,
            repo,
            env: BTreeMap::new(),
        };
        env.git(&["init", "-q", "-b", "main"]);
        env
    }

    /// Returns the temp root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the source repository root.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// Returns the default hub store's path.
    pub fn hub(&self) -> PathBuf {
        self.repo.join(HUB)
    }

    /// Adds an environment variable to every later `ocuroot` run.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.insert(key.to_string(), value.to_string());
    }

    /// Writes a file relative to the repository root, creating parent directories.
    pub fn write_file(&self, rel: &str, content: &str) {
        let path = self.repo.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, content).expect("write file");
    }

    /// Writes files (relative to the repository root) and commits them all.
    pub fn commit_files(&self, files: &[(&str, &str)], message: &str) {
        for (rel, content) in files {
            self.write_file(rel, content);
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// Writes one file (relative to the repository root) and commits it.
    pub fn commit_file(&self, rel: &str, content: &str, message: &str) {
        self.commit_files(&[(rel, content)], message);
    }

    /// Runs `ocuroot release new <file>` for each file in turn, each of which must succeed.
    pub fn release_all(&self, files: &[&str]) {
        for file in files {
            self.run(&["release", "new", file]).success();
        }
    }

    /// Returns the JSON value `ocuroot state get <reference>` prints (which must succeed).
    pub fn get_json(&self, reference: &str) -> Value {
        let out = self.run(&["state", "get", reference]).success();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state get {reference}: not JSON ({e}):\n{out}"))
    }

    /// Returns the string `ocuroot state get <reference>` prints (which must succeed).
    pub fn get_string(&self, reference: &str) -> String {
        match self.get_json(reference) {
            Value::String(s) => s,
            other => panic!("state get {reference}: not a string: {other}"),
        }
    }

    /// Runs `ocuroot` at the repository root.
    #[must_use]
    pub fn run(&self, args: &[&str]) -> CommandOutput {
        self.run_in("", args)
    }

    /// Runs `ocuroot` in `dir` (relative to the repository root).
    #[must_use]
    pub fn run_in(&self, dir: &str, args: &[&str]) -> CommandOutput {
        self.run_with(dir, args, &[], None)
    }

    /// Runs `ocuroot` with extra environment variables and optional standard input.
    #[must_use]
    pub fn run_with(
        &self,
        dir: &str,
        args: &[&str],
        vars: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> CommandOutput {
        let mut cmd = self.command(dir, args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ocuroot");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            // The command may refuse stdin without reading it; a broken pipe is fine.
            let _ = pipe.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().expect("wait for ocuroot");
        CommandOutput {
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
            status: out.status,
            root: self.root.clone(),
        }
    }

    /// Returns a hermetic `ocuroot` command (not yet started) in `dir`.
    #[must_use]
    pub fn command(&self, dir: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ocuroot"));
        cmd.current_dir(self.repo.join(dir)).args(args).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("HOME", self.root.join("home"))
            .env("OCUROOT_HOME", self.root.join("home/.ocuroot"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_SYSTEM", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("OCUROOT_NOW", NOW);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `git` in the source repository and returns its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.repo, args)
    }

    /// Returns the commit a branch of a store repository points at, or `None`.
    pub fn tip(&self, store_repo: &Path, branch: &str) -> Option<String> {
        try_git(
            store_repo,
            &[
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ],
        )
        .map(|s| s.trim().to_string())
    }

    /// Opens the default hub's state or intent store with the test clock.
    pub fn store(&self, kind: StoreKind) -> Store {
        open_store(&self.hub(), kind.as_str(), kind)
    }

    /// Writes state documents (records area) in one commit, as a release would.
    pub fn seed_state(&self, docs: &[(&str, Value)]) {
        let mut tx = Transaction::new("seed state");
        for (reference, value) in docs {
            tx.set(&r(reference), value.clone());
        }
        self.store(StoreKind::State)
            .commit(&tx)
            .expect("seed state");
    }

    /// Writes links in the state store's records area in one commit.
    pub fn seed_links(&self, links: &[(&str, &str)]) {
        let mut tx = Transaction::new("seed links");
        for (reference, target) in links {
            tx.link(&r(reference), &r(target));
        }
        self.store(StoreKind::State)
            .commit(&tx)
            .expect("seed links");
    }

    /// Writes documents into the state store's applied-intent mirror in one commit.
    pub fn seed_applied(&self, docs: &[(&str, Value)]) {
        let mut tx = Transaction::new("seed applied intent");
        for (reference, value) in docs {
            tx.set_applied(&r(reference), value.clone());
        }
        self.store(StoreKind::State)
            .commit(&tx)
            .expect("seed applied");
    }
}

/// Opens a store with the test clock.
pub fn open_store(repo: &Path, branch: &str, kind: StoreKind) -> Store {
    let opts = StoreOptions::new(
        repo,
        branch,
        kind,
        Arc::new(FixedClock(Timestamp {
            seconds: NOW_SECONDS,
            nanos: 0,
        })),
    );
    Store::open(opts).expect("open store")
}

/// What an `ocuroot` run printed and how it exited.
#[derive(Debug)]
pub struct CommandOutput {
    /// Standard output, raw.
    pub stdout: String,
    /// Standard error, raw.
    pub stderr: String,
    /// The exit status.
    pub status: ExitStatus,
    root: PathBuf,
}

static HASH40: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[0-9a-f]{40}\b").expect("regex"));
static HASH12: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[0-9a-f]{12}\b").expect("regex"));

impl CommandOutput {
    /// Returns `text` with the temp root replaced by `$TEST_ENV` and hashes by `[HASH]`.
    #[must_use]
    pub fn normalize(&self, text: &str) -> String {
        let text = text.replace(&self.root.display().to_string(), "$TEST_ENV");
        let text = HASH40.replace_all(&text, "[HASH]");
        HASH12.replace_all(&text, "[HASH]").into_owned()
    }

    /// Returns the normalised stdout.
    #[must_use]
    pub fn normalized_stdout(&self) -> String {
        self.normalize(&self.stdout)
    }

    /// Returns the exit code (`-1` when killed by a signal).
    #[must_use]
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Panics (showing both streams) unless the command exited 0; returns `self`.
    #[track_caller]
    pub fn success(self) -> Self {
        assert!(self.status.success(), "command failed:\n{self}");
        self
    }
}

impl fmt::Display for CommandOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}[EOF]", self.normalize(&self.stdout))?;
        if !self.stderr.is_empty() {
            write!(
                f,
                "------- stderr -------\n{}[EOF]\n",
                self.normalize(&self.stderr)
            )?;
        }
        if !self.status.success() {
            writeln!(f, "[exit status: {}]", self.code())?;
        }
        Ok(())
    }
}

/// Copies a directory tree (files only), skipping `.store`, `.ocuroot` and build leftovers.
pub fn copy_dir(src: &Path, dst: &Path) {
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display())) {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if matches!(
            name_str.as_ref(),
            ".store" | ".ocuroot" | ".build" | ".deploys" | ".data" | ".git"
        ) {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        if from.is_dir() {
            std::fs::create_dir_all(&to).expect("mkdir");
            copy_dir(&from, &to);
        } else {
            std::fs::copy(&from, &to).expect("copy file");
        }
    }
}
