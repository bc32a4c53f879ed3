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
//! Repo-level builtins live in [`crate::config`] and register themselves on top of
//! [`globals_builder()`].

pub mod context;
pub mod defs;
pub mod examples;
pub mod host;
pub mod http;
pub mod json;
pub mod loader;
pub mod package;
pub mod package_builtins;
pub mod repl;
pub mod secrets;
pub mod stubs;
pub mod version;

use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension};
use starlark::starlark_module;
use starlark::syntax::Dialect;
use starlark::values::none::NoneType;

pub use context::{
    CollectingSink, HostContext, InstalledContext, PackageScope, PrintSink, RepoRecorder,
    SdkContext, SourceLocation,
};
pub use loader::{LoadedModule, Session};
pub use package::{
    CallContext, CallOutcome, LoadedPackage, PackageEval, PackageEvalOptions, eval_expression_json,
    evaluate_package,
};
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

/// Returns a builder holding the base SDK globals, ready for more builtins to be added.
pub fn globals_builder() -> GlobalsBuilder {
    GlobalsBuilder::extended_by(&[LibraryExtension::StructType, LibraryExtension::Print])
        .with(ocuroot_builtin)
        .with(json::register_json)
        .with(host::register_host)
        .with(http::register_http)
        .with(secrets::register_secret)
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
