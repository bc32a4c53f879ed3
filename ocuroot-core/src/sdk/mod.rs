//! The Starlark SDK (version 0.3.0): dialect, globals, host access, loading, package
//! evaluation and function calls.
//!
//! - [`dialect()`]: the accepted Starlark dialect, a superset of Go Starlark's "legacy"
//!   Bazel-like dialect (def, lambda, comprehensions, load, keyword arguments; top-level
//!   `if`/`for` and keyword-only parameters are also accepted);
//! - [`globals_builder()`]: the universals plus `print`, `struct`, `json`, `ocuroot`, the
//!   `host` namespace and its top-level aliases, [`http`] and `secret`. Callers add their
//!   own builtins with `globals_builder().with(register_more).build()`;
//! - [`SdkContext`]: the per-session context reached through `eval.extra`, with the host
//!   facts, the one output path ([`PrintSink`]), the [`Secrets`] and the builtin recorders;
//! - [`Session`]: evaluation of a file and its `load()`s, with caching and cycle detection;
//!   it records each file's `def` positions for function identity ([`defs`]);
//! - [`version`]: the `ocuroot("<constraint>")` scan;
//! - [`package`]: [`evaluate_package`] and [`LoadedPackage::call`], over the package
//!   builtins of [`package_builtins`] and the Starlark prelude (`prelude.star`);
//! - [`secrets`]: [`Secrets`] and the masking [`MaskingSink`];
//! - [`repl`]: the REPL session ([`repl::Repl`]) and the text of package previews;
//! - [`stubs`]: the SDK rendered as Starlark stubs, and [`examples`]: the example
//!   configurations shipped in the binary (both for `ocuroot mcp`).
//!
//! - [`repo_builtins`]: the builtins of `repo.ocu.star` (`repo_alias`, `store.*`, …), which
//!   [`crate::config`] registers on top of [`globals_builder()`]; [`store_value`]: the
//!   Starlark form of a store.
//!
//! Errors are [`EvalError`]s; `config` wraps them in its own error.

pub mod context;
pub mod defs;
mod error;
pub mod examples;
pub mod host;
pub mod http;
pub mod json;
pub mod loader;
pub mod output;
pub mod package;
pub mod package_builtins;
pub mod repl;
pub mod repo_builtins;
pub mod secrets;
pub mod store_value;
pub mod stubs;
pub mod version;

use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::syntax::Dialect;
use starlark::values::Value;
use starlark::values::none::NoneType;

pub use context::{HostContext, InstalledContext, RepoRecorder, SdkContext};
pub use error::EvalError;
pub use loader::{LoadedModule, Session};
pub use output::{CollectingSink, PrintSink, SourceLocation};
pub use package::{
    CallContext, CallOutcome, LoadedPackage, PackageEval, PackageEvalOptions, eval_expression_json,
    evaluate_package,
};
pub use package_builtins::PackageScope;
pub use secrets::{MaskingSink, Secrets};
pub use version::{DEFAULT_SDK_VERSION, VersionError};

/// Returns the Starlark dialect config files are parsed with.
pub fn dialect() -> Dialect {
    Dialect {
        enable_keyword_only_arguments: true,
        enable_top_level_stmt: true,
        ..Dialect::Standard
    }
}

#[starlark_module]
fn ocuroot_builtin(builder: &mut GlobalsBuilder) {
    /// Selects the SDK version of this file.
    ///
    /// The version is read from the source before the file runs; at run time the call does
    /// nothing and returns `None`.
    fn ocuroot(version: &str) -> starlark::Result<NoneType> {
        let _ = version;
        Ok(NoneType)
    }
}

/// `secret(value)` was given something other than a string.
#[derive(Debug, thiserror::Error)]
#[error("secret value must be a string")]
pub struct SecretNotString;

#[starlark_module]
fn secret_builtin(builder: &mut GlobalsBuilder) {
    /// Registers `value` as a secret, masked in all output from now on, and returns it.
    fn secret<'v>(
        value: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let s = value
            .unpack_str()
            .ok_or_else(|| starlark::Error::new_other(SecretNotString))?;
        SdkContext::from_eval(eval)?.secrets().register(s);
        Ok(value)
    }
}

/// Registers `secret(value)` (see [`Secrets`]).
fn register_secret(builder: &mut GlobalsBuilder) {
    secret_builtin(builder);
}

/// Returns a builder holding the base SDK globals, ready for more builtins to be added.
pub fn globals_builder() -> GlobalsBuilder {
    GlobalsBuilder::extended_by(&[LibraryExtension::StructType, LibraryExtension::Print])
        .with(ocuroot_builtin)
        .with(json::register_json)
        .with(host::register_host)
        .with(http::register_http)
        .with(register_secret)
}

/// Returns a builder of the SDK globals without host access: the universals plus `print`,
/// `struct`, `json` and `ocuroot` (no `host` namespace or aliases, no `http`, no `secret`).
/// Used for values given on the command line (`ocuroot state set -f starlark`).
pub fn pure_globals_builder() -> GlobalsBuilder {
    GlobalsBuilder::extended_by(&[LibraryExtension::StructType, LibraryExtension::Print])
        .with(ocuroot_builtin)
        .with(json::register_json)
}

/// Returns the base SDK globals (see [`globals_builder`]).
pub fn globals() -> Globals {
    globals_builder().build()
}
