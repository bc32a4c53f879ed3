//! Running the `git` binary: the one place in core that starts a `git` process.
//!
//! `gix` reads and writes stores, but it cannot push (gitoxide issue 306), write packs, add
//! worktrees or clone at a detached commit, so those steps run `git`. Every such process is
//! built by [`GitCommand`], which makes it hermetic:
//!
//! - the environment is cleared, then holds only the variables of the caller's
//!   [`GitEnvironment`] (what real remotes need: `PATH`, the SSH agent, askpass programs,
//!   proxies, CA bundles) and fixed settings: `LC_ALL=C` (messages ocuroot reads are in
//!   English), `GIT_TERMINAL_PROMPT=0` (a missing credential fails at once instead of
//!   waiting on a terminal CI does not have), `GIT_CONFIG_NOSYSTEM=1` and
//!   `GIT_CONFIG_GLOBAL=/dev/null` (the system and the user's global Git configuration
//!   never apply; a repository's own `config` still does) and `HOME=/dev/null`;
//! - nothing of the parent's `GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, `GIT_AUTHOR_*`
//!   or `GIT_CONFIG_*` ever reaches the child;
//! - standard input is null unless the caller passes input, and the repository is always
//!   named explicitly (`--git-dir <repo>` or `-C <dir>`), never found from the working
//!   directory;
//! - a failure is a typed [`GitError`] holding the arguments, the exit status and what git
//!   wrote, with credentials in URLs redacted by [`redact`].
//!
//! What a command means (fetch, push, maintenance, checkouts) is left to the callers in
//! `store`, `engine` and `workspace`.

use crate::redact::redact;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

/// The variables a caller may pass through to `git`: what reaching a real remote needs.
///
/// `PATH` finds `git` and the programs it runs (`ssh`, helpers); `SSH_AUTH_SOCK` reaches
/// the SSH agent; `GIT_SSH_COMMAND`/`GIT_SSH`/`GIT_SSH_VARIANT` choose the ssh program;
/// `GIT_ASKPASS`/`SSH_ASKPASS` answer credential prompts; the proxy and CA bundle
/// variables are read by libcurl and Git's HTTP transport; `TMPDIR` is where git and ssh
/// put temporary files.
pub const PASSED_THROUGH: &[&str] = &[
    "PATH",
    "TMPDIR",
    "SSH_AUTH_SOCK",
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_SSH_VARIANT",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "SSH_ASKPASS_REQUIRE",
    "DISPLAY",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "GIT_PROXY_COMMAND",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
];

/// The `PATH` of a [`GitEnvironment`] that was given none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The fixed settings of every `git` process, applied after the passed-through variables.
const HERMETIC: &[(&str, &str)] = &[
    ("LC_ALL", "C"),
    ("LANG", "C"),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    // Nothing can be read below a file: no `~/.gitconfig`, `~/.config/git/*` or `~/.netrc`.
    // OpenSSH finds `~/.ssh` through the password database, not `HOME`.
    ("HOME", "/dev/null"),
];

/// The variables `git` processes get from their caller (see [`PASSED_THROUGH`]).
///
/// The CLI builds one from its process environment once; core never reads the environment.
/// [`GitEnvironment::default`] passes nothing but [`DEFAULT_PATH`].
#[derive(Clone, PartialEq, Eq)]
pub struct GitEnvironment {
    vars: BTreeMap<String, String>,
}

impl Default for GitEnvironment {
    fn default() -> Self {
        GitEnvironment {
            vars: [("PATH".to_string(), DEFAULT_PATH.to_string())]
                .into_iter()
                .collect(),
        }
    }
}

impl fmt::Debug for GitEnvironment {
    // Values may hold proxy credentials: show names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitEnvironment")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl GitEnvironment {
    /// Returns the environment that passes the [`PASSED_THROUGH`] variables of `vars`
    /// (empty values left out) and ignores every other one; `PATH` defaults to
    /// [`DEFAULT_PATH`].
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut env = GitEnvironment::default();
        for (name, value) in vars {
            if PASSED_THROUGH.contains(&name) && !value.is_empty() {
                env.vars.insert(name.to_string(), value.to_string());
            }
        }
        env
    }

    /// Returns this environment with `name` set to `value`.
    ///
    /// # Errors
    ///
    /// [`GitError::NotPassedThrough`] when `name` is not one of [`PASSED_THROUGH`].
    pub fn with(mut self, name: &str, value: &str) -> Result<Self, GitError> {
        if !PASSED_THROUGH.contains(&name) {
            return Err(GitError::NotPassedThrough {
                name: name.to_string(),
            });
        }
        self.vars.insert(name.to_string(), value.to_string());
        Ok(self)
    }

    /// Returns the value passed for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// A failed `git` process.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` could not be started, or its input or output failed.
    #[error("cannot run git {args}")]
    Spawn {
        /// The arguments, credentials redacted.
        args: String,
        /// Why it could not run.
        #[source]
        source: std::io::Error,
    },
    /// `git` ran and exited unsuccessfully.
    #[error("git {args} failed ({status}): {stderr}")]
    Failed {
        /// The arguments, credentials redacted.
        args: String,
        /// The exit status.
        status: ExitStatus,
        /// What git wrote to standard output, trimmed, credentials redacted.
        stdout: String,
        /// What git wrote to standard error, trimmed, credentials redacted.
        stderr: String,
    },
    /// A caller tried to pass a variable that [`GitEnvironment`] does not pass through.
    #[error("the environment variable {name} is not passed to git")]
    NotPassedThrough {
        /// The variable's name.
        name: String,
    },
}

impl GitError {
    /// Returns what git wrote to standard error (empty when it did not run).
    pub fn stderr(&self) -> &str {
        match self {
            GitError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }

    /// Returns what git wrote to standard output (empty when it did not run).
    pub fn stdout(&self) -> &str {
        match self {
            GitError::Failed { stdout, .. } => stdout,
            _ => "",
        }
    }

    /// Returns a one-line or multi-line description for messages: git's own words when it
    /// ran, the reason it could not run otherwise.
    pub fn detail(&self) -> String {
        match self {
            GitError::Failed { stderr, .. } if !stderr.is_empty() => stderr.clone(),
            GitError::Spawn { source, .. } => format!("cannot run git: {source}"),
            other => other.to_string(),
        }
    }
}

/// What a successful `git` process wrote.
#[derive(Clone, Debug)]
pub struct GitOutput {
    /// Standard output, as written.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded and trimmed (not redacted: it may hold a URL given
    /// as an argument).
    pub stderr: String,
}

impl GitOutput {
    /// Returns standard output, lossily decoded and trimmed.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }
}

/// Where a `git` process looks for its repository.
#[derive(Clone, Debug)]
enum Location {
    /// `--git-dir <path>`: a bare repository or a `.git` folder.
    GitDir(PathBuf),
    /// `-C <dir>`: a work tree (or a folder outside any repository, for `clone`).
    Dir(PathBuf),
}

/// A `git` invocation with a hermetic environment (see the module docs).
#[derive(Clone, Debug)]
pub struct GitCommand {
    env: GitEnvironment,
    location: Location,
    args: Vec<OsString>,
    input: Option<Vec<u8>>,
}

impl GitCommand {
    /// Starts a command on the repository at `git_dir` (`--git-dir`).
    pub fn in_git_dir(env: &GitEnvironment, git_dir: impl Into<PathBuf>) -> Self {
        GitCommand {
            env: env.clone(),
            location: Location::GitDir(git_dir.into()),
            args: Vec::new(),
            input: None,
        }
    }

    /// Starts a command in the folder `dir` (`-C dir`): a work tree, or any folder for
    /// commands that need no repository (`clone`, `ls-remote`).
    pub fn in_dir(env: &GitEnvironment, dir: impl Into<PathBuf>) -> Self {
        GitCommand {
            env: env.clone(),
            location: Location::Dir(dir.into()),
            args: Vec::new(),
            input: None,
        }
    }

    /// Starts a command that needs no repository (`ls-remote <url>`), run with `-C /` so
    /// that no repository is found from the working directory.
    pub fn outside_repository(env: &GitEnvironment) -> Self {
        Self::in_dir(env, "/")
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// Gives the process `input` on its standard input (null otherwise).
    pub fn input(&mut self, input: impl Into<Vec<u8>>) -> &mut Self {
        self.input = Some(input.into());
        self
    }

    /// Returns the arguments for messages, credentials redacted.
    pub fn display_args(&self) -> String {
        redact(
            &self
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// Builds the child process.
    // The one `Command::new` for `git` in core: every git process gets the environment
    // above and nothing else.
    #[allow(clippy::disallowed_methods)]
    fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("git");
        cmd.env_clear();
        for (k, v) in &self.env.vars {
            cmd.env(k, v);
        }
        for (k, v) in HERMETIC {
            cmd.env(k, v);
        }
        // The repository is named on the command line, so the working directory (which
        // stays the caller's, keeping relative paths valid) is never searched for one.
        match &self.location {
            Location::GitDir(p) => cmd.arg("--git-dir").arg(p),
            Location::Dir(p) => cmd.arg("-C").arg(p),
        };
        cmd.args(&self.args)
            .stdin(if self.input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs the command to its end.
    ///
    /// # Errors
    ///
    /// [`GitError::Spawn`] when git cannot be started or its pipes fail,
    /// [`GitError::Failed`] when it exits unsuccessfully.
    pub fn run(&self) -> Result<GitOutput, GitError> {
        let spawn_err = |source| GitError::Spawn {
            args: self.display_args(),
            source,
        };
        let mut child = self.command().spawn().map_err(spawn_err)?;
        if let (Some(input), Some(mut stdin)) = (&self.input, child.stdin.take()) {
            // The commands given input (`pack-objects`) read all of it before writing much,
            // so writing it all first cannot dead-lock on a full pipe.
            stdin.write_all(input).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.status.success() {
            Ok(GitOutput {
                stdout: out.stdout,
                stderr,
            })
        } else {
            Err(GitError::Failed {
                args: self.display_args(),
                status: out.status,
                stdout: redact(String::from_utf8_lossy(&out.stdout).trim()),
                stderr: redact(&stderr),
            })
        }
    }

    /// Runs the command and returns its trimmed standard output.
    ///
    /// # Errors
    ///
    /// As [`GitCommand::run`].
    pub fn run_text(&self) -> Result<String, GitError> {
        self.run().map(|o| o.stdout_text())
    }

    /// Runs the command and returns whether it succeeded (for checks whose failure is an
    /// answer, such as `cat-file -e`).
    pub fn succeeds(&self) -> bool {
        self.run().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_variables_pass() {
        let env = GitEnvironment::from_vars([
            ("PATH", "/opt/git/bin"),
            ("SSH_AUTH_SOCK", "/run/agent"),
            ("GIT_DIR", "/elsewhere"),
            ("GIT_AUTHOR_NAME", "Mallory"),
            ("GIT_CONFIG_GLOBAL", "/broken"),
            ("HTTPS_PROXY", ""),
        ]);
        assert_eq!(env.get("PATH"), Some("/opt/git/bin"));
        assert_eq!(env.get("SSH_AUTH_SOCK"), Some("/run/agent"));
        assert_eq!(env.get("GIT_DIR"), None);
        assert_eq!(env.get("GIT_AUTHOR_NAME"), None);
        assert_eq!(env.get("GIT_CONFIG_GLOBAL"), None);
        assert_eq!(env.get("HTTPS_PROXY"), None);
        assert_eq!(GitEnvironment::default().get("PATH"), Some(DEFAULT_PATH));
        assert!(matches!(
            GitEnvironment::default().with("GIT_DIR", "/x"),
            Err(GitError::NotPassedThrough { name }) if name == "GIT_DIR"
        ));
        let shown = format!(
            "{:?}",
            env.with("HTTPS_PROXY", "http://u:pw@proxy").expect("ok")
        );
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn the_child_sees_only_the_hermetic_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = GitEnvironment::from_vars([("SSH_AUTH_SOCK", "/run/agent")]);
        // `git var -l` lists the configuration git read and its identity variables; `!env`
        // aliases are not available without config, so ask git for its view.
        let out = GitCommand::in_dir(&env, dir.path())
            .args(["config", "--list", "--show-origin"])
            .run();
        // No system or global configuration: nothing to list (outside a repository).
        match out {
            Ok(o) => assert_eq!(o.stdout_text(), ""),
            Err(e) => assert_eq!(e.stdout(), "", "{e}"),
        }
        let home = GitCommand::in_dir(&env, dir.path())
            .args(["rev-parse", "--git-path", "x"])
            .run();
        // Outside any repository (no GIT_DIR, nothing found from the folder): an error.
        let err = home.expect_err("no repository");
        assert!(matches!(err, GitError::Failed { .. }), "{err}");
        assert!(err.stderr().contains("not a git repository"), "{err}");
        assert!(
            err.to_string()
                .starts_with("git rev-parse --git-path x failed")
        );
    }

    #[test]
    fn failures_name_the_arguments_with_credentials_redacted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = GitCommand::in_dir(&GitEnvironment::default(), dir.path())
            .args([
                "ls-remote",
                "--",
                "http://tok3n:s3cret@127.0.0.1:1/x?token=s3cret",
            ])
            .run()
            .expect_err("no such remote");
        let text = err.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("git ls-remote"), "{text}");
    }

    #[test]
    fn input_reaches_standard_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("r.git");
        gix::init_bare(&repo).expect("init");
        let out = GitCommand::in_git_dir(&GitEnvironment::default(), &repo)
            .args(["hash-object", "--stdin"])
            .input("hello\n")
            .run_text()
            .expect("hash-object");
        assert_eq!(out, "ce013625030ba8dba906f756967f9e9ca394464a");
    }
}
