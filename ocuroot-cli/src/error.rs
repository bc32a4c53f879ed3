//! Turning errors into messages and exit codes.
//!
//! Every failure prints `error: <what failed>`, then the chain of causes, then hints, on
//! stderr. Exit codes: 1 for problems the user can fix (bad refs, missing documents, bad
//! configuration, failed releases), 2 for usage errors (clap's), 255 for internal errors.

use std::error::Error as StdError;
use std::process::ExitCode;

use ocuroot_core::engine::EngineError;
use ocuroot_core::find_deploys::{FindDeploysError, MAX_DEPTH};
use ocuroot_core::init::InitError;
use ocuroot_core::plan::PlanError;
use ocuroot_core::refs::RefParseError;
use ocuroot_core::store::StoreError;
use ocuroot_core::workspace::WorkspaceError;

/// How an error is classified at the CLI edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The user can fix it (exit 1).
    User,
    /// A bug or an environment problem we did not expect (exit 255).
    Internal,
}

/// A failed command.
#[derive(Debug)]
pub struct CommandError {
    kind: Kind,
    error: Box<dyn StdError + Send + Sync>,
    hints: Vec<String>,
}

impl CommandError {
    /// A user error from any error value.
    pub fn user(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        CommandError {
            kind: Kind::User,
            error: error.into(),
            hints: Vec::new(),
        }
    }

    /// A user error with just a message.
    pub fn message(text: impl Into<String>) -> Self {
        Self::user(text.into())
    }

    /// Wraps the error in a message naming what was being done (`cannot set <ref>`); the
    /// original error becomes its cause.
    pub fn context(self, message: impl Into<String>) -> Self {
        CommandError {
            kind: self.kind,
            error: Box::new(Context {
                message: message.into(),
                source: self.error,
            }),
            hints: self.hints,
        }
    }

    /// Adds a hint shown after the error.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Prints the error and returns the exit code.
    #[allow(clippy::print_stderr)]
    pub fn report(self) -> ExitCode {
        // `ocuroot state match | head` closes stdout early: that is the reader's choice,
        // not an error (as in ripgrep and jj).
        if let Some(io) = self.error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return ExitCode::SUCCESS;
        }
        let text = self.render();
        eprint!("{text}");
        match self.kind {
            Kind::User => ExitCode::from(1),
            Kind::Internal => ExitCode::from(255),
        }
    }

    /// Returns the text `report` prints: `error: …`, the causes and the hints.
    pub fn render(&self) -> String {
        let mut text = format!("error: {}\n", self.error);
        let mut source = self.error.source();
        let mut causes = Vec::new();
        while let Some(cause) = source {
            let line = cause.to_string();
            // Skip causes that repeat the message above them (transparent wrappers).
            if !text.contains(&line) {
                causes.push(line);
            }
            source = cause.source();
        }
        if causes.len() == 1 {
            text.push_str(&format!("caused by: {}\n", causes[0]));
        } else if !causes.is_empty() {
            text.push_str("caused by:\n");
            for (i, c) in causes.iter().enumerate() {
                text.push_str(&format!("  {}: {}\n", i + 1, c.replace('\n', "\n     ")));
            }
        }
        for hint in &self.hints {
            text.push_str(&format!("hint: {hint}\n"));
        }
        text
    }
}

impl CommandError {
    /// The hints a store error gets, for errors that wrap one.
    fn from_store_hints(e: &StoreError) -> Vec<String> {
        match e {
            StoreError::NotALink { .. } => vec![
                "the target store holds a document where the original has a link: import into new, empty stores".to_string(),
            ],
            StoreError::Remote { .. } => vec![
                "check the remote's URL, the network and the credentials: `git fetch` and `git push` of that URL must work".to_string(),
            ],
            _ => Vec::new(),
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        let hint = match &e {
            StoreError::NotFound { .. } => {
                Some("list existing refs with `ocuroot state match '<glob>'`")
            }
            StoreError::Corrupt { .. } | StoreError::CorruptLink { .. } => {
                Some("fix or revert the commit that wrote this file on the store branch")
            }
            StoreError::UnsupportedFormat { .. } => {
                Some("this store was written by a newer ocuroot; upgrade ocuroot")
            }
            StoreError::Conflict { .. } => {
                Some("other writers kept the branch busy; run the command again")
            }
            StoreError::Remote { .. } => Some(
                "check the remote's URL, the network and the credentials: `git fetch` and `git push` of that URL must work",
            ),
            StoreError::Offline { .. } => {
                Some("drop --offline / unset OCUROOT_OFFLINE to write to remote stores")
            }
            _ => None,
        };
        let kind = match &e {
            StoreError::Git { .. } => Kind::Internal,
            _ => Kind::User,
        };
        let mut err = CommandError {
            kind,
            error: Box::new(e),
            hints: Vec::new(),
        };
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

impl From<WorkspaceError> for CommandError {
    fn from(e: WorkspaceError) -> Self {
        let hint = match &e {
            WorkspaceError::RootNotFound { .. } => Some(
                "run ocuroot inside a repository whose root has a repo.ocu.star file (it may be empty)",
            ),
            WorkspaceError::NoRepoName { .. } => Some(
                "set repo_alias(\"name\") in repo.ocu.star, add an `origin` remote, or use an absolute ref",
            ),
            _ => None,
        };
        let mut err = match e {
            WorkspaceError::Store { source, .. } => CommandError::from(source),
            WorkspaceError::Ref(source) => CommandError::from(source),
            other => CommandError::user(other),
        };
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

impl From<PlanError> for CommandError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Store(s) => CommandError::from(s),
            e @ PlanError::Invalid(_) => CommandError::user(e).hint(
                "fix the files listed above on the intent branch (`ocuroot intent check` lists every problem)",
            ),
            other => CommandError::user(other),
        }
    }
}

impl From<EngineError> for CommandError {
    fn from(e: EngineError) -> Self {
        let hint = match &e {
            EngineError::CommitMismatch { expected, .. } => Some(format!(
                "to check out the expected commit, run: git checkout {expected}"
            )),
            EngineError::NoFailedRuns { .. } => Some(
                "nothing to retry; `ocuroot state match '<release>/**/status/*'` shows run states"
                    .to_string(),
            ),
            EngineError::Uncommitted { .. } => Some(
                "push releases what is committed: commit (or stash) the changes, then push again"
                    .to_string(),
            ),
            EngineError::Checkout { .. } => Some(
                "work of another commit runs in a git worktree, of another repository in a clone \
                 from the remotes recorded in state: check that the commit exists there and that \
                 your Git credentials can fetch it"
                    .to_string(),
            ),
            EngineError::NoProgress { .. } => Some(
                "`ocuroot work cascade --dryrun` lists the work; `ocuroot state get <ref>` shows \
                 why a run cannot finish"
                    .to_string(),
            ),
            _ => None,
        };
        let mut err = match e {
            EngineError::Store(s) => CommandError::from(s),
            EngineError::Plan(p) => CommandError::from(p),
            other => CommandError::user(other),
        };
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

impl From<FindDeploysError> for CommandError {
    fn from(e: FindDeploysError) -> Self {
        let hint = match &e {
            FindDeploysError::UnknownRevision { .. } => Some(
                "give a commit hash, a branch or a tag of this repository; fetch it first if it only exists on a remote"
                    .to_string(),
            ),
            FindDeploysError::NotAncestor { .. } => {
                Some("give the older commit first: ocuroot find-deploys <START> <END>".to_string())
            }
            FindDeploysError::TooDeep { .. } => Some(format!(
                "the search stops after {MAX_DEPTH} commits; give a START closer to END"
            )),
            FindDeploysError::NoRepoName => Some(
                "set repo_alias(\"name\") in repo.ocu.star or add an `origin` remote".to_string(),
            ),
            _ => None,
        };
        let mut err = match e {
            FindDeploysError::Store(s) => CommandError::from(s),
            other => CommandError::user(other),
        };
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

impl From<InitError> for CommandError {
    fn from(e: InitError) -> Self {
        let hint = match &e {
            InitError::NoAlias { .. } | InitError::InvalidAlias { .. } => {
                Some("give one with --alias, e.g. --alias github.com/acme/app")
            }
            _ => None,
        };
        let err = CommandError::user(e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<RefParseError> for CommandError {
    fn from(e: RefParseError) -> Self {
        CommandError::user(e).hint("refs look like <repo>/-/<path>/@<release>/<type>/<name>#<fragment>; see docs/state-format.md")
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        CommandError {
            kind: Kind::Internal,
            error: Box::new(e),
            hints: Vec::new(),
        }
    }
}

impl From<ocuroot_core::import::ImportError> for CommandError {
    fn from(e: ocuroot_core::import::ImportError) -> Self {
        use ocuroot_core::import::ImportError;
        let hint = match &e {
            ImportError::UnsupportedVersion { .. } => Some(
                "stores of version 2 and 3 (Ocuroot up to v0.3.16) can be imported; open this one with the original first",
            ),
            ImportError::Unmappable { .. } => Some(
                "fix or remove the files listed above in a copy of the source, then import again",
            ),
            ImportError::NotAStore { .. } | ImportError::BadArgument { .. } => Some(
                "give a folder holding .ocuroot-store and refs/ (or state/ and intent/), or <repository>#<branch>",
            ),
            _ => None,
        };
        let store_hint = match &e {
            ImportError::Store { source, .. } => CommandError::from_store_hints(source),
            _ => Vec::new(),
        };
        let mut err = CommandError::user(e);
        err.hints.extend(store_hint);
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

/// An error with a message saying what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Context {
    message: String,
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

/// The result of a command: an exit code, or an error to report.
pub type CommandResult = Result<ExitCode, CommandError>;

impl From<ocuroot_core::ui::UiError> for CommandError {
    fn from(e: ocuroot_core::ui::UiError) -> Self {
        use ocuroot_core::ui::UiError;
        let hint = match &e {
            UiError::Bind { .. } => Some("choose another port with --port, or stop what uses it"),
            UiError::NoFreePort { .. } => Some("choose a port with --port"),
            _ => None,
        };
        let kind = match &e {
            UiError::Serve(_) => Kind::Internal,
            _ => Kind::User,
        };
        let err = CommandError {
            kind,
            error: Box::new(e),
            hints: Vec::new(),
        };
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}
