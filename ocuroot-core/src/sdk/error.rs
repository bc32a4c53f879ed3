//! [`EvalError`]: everything that can go wrong while evaluating `*.ocu.star` files and
//! Starlark expressions: parse and runtime errors, bad `ocuroot(...)` calls, bad `load()`s,
//! package validation and limits. `config` wraps it in its own error.

use std::path::PathBuf;

use crate::sdk::VersionError;

/// An error from evaluating a `*.ocu.star` file or a Starlark expression.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// Starlark failed to parse or run a file.
    ///
    /// `rendered` is Starlark's own rendering, including the `--> file:line:col` snippet of
    /// the user's file.
    #[error("failed to evaluate {file}:\n{rendered}")]
    Eval {
        /// The file (relative to the repo root) whose evaluation failed.
        file: PathBuf,
        /// The rendered Starlark error.
        rendered: String,
    },
    /// The file's `ocuroot(...)` call is invalid or asks for an unknown SDK.
    #[error("invalid SDK version in {location}")]
    Version {
        /// `file:line:col` of the `ocuroot` call.
        location: String,
        /// What is wrong with it.
        #[source]
        source: VersionError,
    },
    /// A `load()` resolves to a path outside the repository root.
    #[error("{location}: load of \"{module}\" escapes the repository root")]
    LoadOutsideRoot {
        /// `file:line:col` of the load statement.
        location: String,
        /// The path given to `load`.
        module: String,
    },
    /// Files load each other in a cycle.
    #[error("cycle in load graph: {}", .files.join(" -> "))]
    LoadCycle {
        /// The files of the cycle, in load order, starting and ending with the same file.
        files: Vec<String>,
    },
    /// A file given to `load()` could not be read.
    #[error("{location}: failed to load \"{module}\"")]
    Load {
        /// `file:line:col` of the load statement.
        location: String,
        /// The path given to `load`.
        module: String,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// Package validation failed (spec §4.5): an environment or task name is used more
    /// than once.
    #[error("validation: Package validation failed:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Validation {
        /// The package file.
        file: PathBuf,
        /// One message per problem.
        problems: Vec<String>,
    },
    /// A file declared both environments and a package.
    #[error("{file}: environments and packages should not be declared in the same file", file = .file.display())]
    EnvironmentsAndPackage {
        /// The package file.
        file: PathBuf,
    },
    /// A file or expression is over a [limit](crate::limits) (size or nesting).
    #[error("{file} is over a limit", file = .file.display())]
    Limit {
        /// The file (relative to the repo root) or `<expression>`.
        file: PathBuf,
        /// Which limit.
        #[source]
        source: crate::limits::LimitError,
    },
    /// Reading a file failed.
    #[error("failed to read {path}")]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl EvalError {
    /// Returns the error with every secret registered in `secrets` masked in its text, so
    /// that an evaluation error (`fail("token " + t)`, an `http.get` to a URL holding the
    /// secret) never prints it.
    pub fn masked(self, secrets: &crate::sdk::Secrets) -> Self {
        if secrets.is_empty() {
            return self;
        }
        match self {
            EvalError::Eval { file, rendered } => EvalError::Eval {
                file,
                rendered: secrets.mask(&rendered),
            },
            EvalError::Validation { file, problems } => EvalError::Validation {
                file,
                problems: problems.iter().map(|p| secrets.mask(p)).collect(),
            },
            EvalError::LoadOutsideRoot { location, module } => EvalError::LoadOutsideRoot {
                location,
                module: secrets.mask(&module),
            },
            other => other,
        }
    }

    /// Wraps a Starlark error raised while evaluating `file`, keeping its rendering.
    pub fn eval(file: impl Into<PathBuf>, error: &starlark::Error) -> Self {
        EvalError::Eval {
            file: file.into(),
            rendered: error.to_string(),
        }
    }
}
