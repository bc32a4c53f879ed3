//! Repository configuration: finding the repo root, naming the repo and evaluating
//! `repo.ocu.star` into a [`RepoConfig`].
//!
//! [`evaluate_repo_config`] runs `repo.ocu.star` with the base SDK globals plus the
//! repo-level builtins ([`crate::sdk::repo_builtins`]), then assembles the settings (§5.4) in three layers:
//!
//! 1. what builtin calls recorded (`repo_alias()`, `remotes()`, `store.set()`);
//! 2. same-named globals of the file: `repo_alias`, `repo_remotes`, `state_store`,
//!    `intent_store`, `release_ignore` (`None` leaves a setting unchanged);
//! 3. `OCU_CFG_<name>` variables of the passed-in environment: `repo_alias` as a string, and
//!    `repo_remotes` / `release_ignore` as a JSON list (`["a","b"]`) or a comma-separated
//!    list (`a,b`). The original tool rejected list-typed variables; we accept them. Empty
//!    values are ignored.
//!
//! What this module leaves to others: opening stores, reading git remotes (the caller
//! passes the URL to [`repo_name_from_url`]) and package evaluation.

mod cache;
mod error;
#[cfg(test)]
mod keywords;
mod settings;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use starlark::environment::{FrozenModule, Module};
use starlark::eval::Evaluator;
use starlark::values::dict::FrozenDictRef;
use starlark::values::{OwnedFrozenValue, Value};

pub use crate::store::{StoreSelection, StoreSpec};
pub use cache::evaluate_repo_config_cached;
pub use error::ConfigError;

pub use crate::sdk::HostContext;
use crate::sdk::{EvalError, PrintSink, SdkContext, Session};

/// The name of the file that marks a repository root and configures it.
pub const REPO_CONFIG_FILE: &str = "repo.ocu.star";

/// Returns the nearest ancestor of `start` (including `start`) containing `repo.ocu.star`.
pub fn find_repo_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(REPO_CONFIG_FILE).is_file())
        .map(Path::to_path_buf)
}

/// Derives a repository name from a remote URL or path (§1.1).
///
/// - a trailing `/` and `.git` are stripped;
/// - `[user@]host:path` (scp-like) becomes `host/path`;
/// - `scheme://[user@]host[:port]/path` becomes `host/path` (the port is dropped);
/// - a local path becomes the path **without** its leading `/` (the original kept it, but
///   refs may not start with `/`): `/tmp/x/repo.git` -> `tmp/x/repo`.
pub fn repo_name_from_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let (host, path) = if let Some((_, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        (host, path)
    } else {
        match url.split_once(':') {
            Some((authority, path)) if !authority.contains('/') && !authority.is_empty() => {
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                (host, path)
            }
            _ => ("", url),
        }
    };
    let path = path.trim_start_matches('/');
    match (host.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => host.to_owned(),
        (false, false) => format!("{host}/{path}"),
    }
}

/// The function registered with `trigger(fn)`, kept frozen with its module.
#[derive(Debug, Clone)]
pub struct TriggerFn {
    /// The module of `repo.ocu.star`, keeping the function's heap alive.
    pub module: FrozenModule,
    /// The function.
    pub function: OwnedFrozenValue,
    /// The config file, for error messages.
    pub file: PathBuf,
}

impl TriggerFn {
    /// Calls `fn(commit)` with the repo-level context; prints go to `sink`.
    ///
    /// `root` is the repository root (the package directory of `repo.ocu.star`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Eval`] if the function fails.
    pub fn call(
        &self,
        commit: &str,
        root: &Path,
        host: &HostContext,
        sink: Arc<dyn PrintSink>,
    ) -> Result<(), ConfigError> {
        self.invoke(root, host, sink, |heap| heap.alloc(commit))
    }

    /// Calls `fn(arg)` with the repo-level context, `arg` being the JSON object `fields`
    /// as a Starlark struct (nested objects as dicts); prints go to `sink`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Eval`] if the function fails.
    pub fn call_with(
        &self,
        fields: &serde_json::Map<String, serde_json::Value>,
        root: &Path,
        host: &HostContext,
        sink: Arc<dyn PrintSink>,
    ) -> Result<(), ConfigError> {
        self.invoke(root, host, sink, |heap| {
            heap.alloc(starlark::values::structs::AllocStruct(fields.iter().map(
                |(k, v)| (k.as_str(), crate::sdk::json::to_starlark(heap, v)),
            )))
        })
    }

    /// Calls the function with the one argument `arg` allocates, in the repo-level context
    /// (installed for the call), on a temporary heap.
    fn invoke(
        &self,
        root: &Path,
        host: &HostContext,
        sink: Arc<dyn PrintSink>,
        arg: impl for<'v> FnOnce(starlark::values::Heap<'v>) -> Value<'v>,
    ) -> Result<(), ConfigError> {
        let ctx = SdkContext::new(host.clone(), root.to_path_buf(), sink).install();
        Module::with_temp_heap(|module| {
            // The frozen value keeps the function's heap alive inside this module's heap.
            let function = self
                .function
                .owned_value(module.frozen_heap())
                .unpack_frozen()
                .map(|f| f.to_value())
                .unwrap_or_else(Value::new_none);
            let arg = arg(module.heap());
            let mut eval = Evaluator::new(&module);
            ctx.attach(&mut eval);
            eval.eval_function(function, &[arg], &[])
                .map(|_| ())
                .map_err(|e| ConfigError::from(EvalError::eval(&self.file, &e)))
        })
    }
}

/// The evaluated `repo.ocu.star` with its settings assembled.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// The path of `repo.ocu.star`.
    pub path: PathBuf,
    /// Its source, kept so it can be saved to state (§6.9).
    pub source: String,
    /// The SDK version it selected.
    pub sdk_version: String,
    /// The repository name override (`repo_alias`).
    pub repo_alias: Option<String>,
    /// The remotes override (`remotes()` / `repo_remotes`).
    pub remotes: Option<Vec<String>>,
    /// The store selection, if any.
    pub stores: Option<StoreSelection>,
    /// Globs of package files `push` ignores.
    pub release_ignore: Vec<String>,
    /// The function registered with `trigger(fn)`.
    pub trigger: Option<TriggerFn>,
    /// The function registered with `notify(fn)`, called with a struct for every run that
    /// ends or is held (see [`TriggerFn::call_with`]).
    pub notify: Option<TriggerFn>,
}

/// Evaluates `repo.ocu.star` (`source`, read from `path`) and assembles its settings.
///
/// The repository root is the directory of `path` (made absolute against `host.cwd`).
/// Prints go to `sink`.
///
/// # Errors
///
/// - [`ConfigError::Eval`] wrapping the SDK's [`EvalError`]: Starlark errors (with the
///   `repo.ocu.star:LINE:COL` snippet), a bad `ocuroot(...)` call, load errors from
///   [`Session::eval_source`];
/// - [`ConfigError::BadSetting`] for a global or `OCU_CFG_` value of the wrong type.
pub fn evaluate_repo_config(
    path: &Path,
    source: &str,
    host: &HostContext,
    sink: Arc<dyn PrintSink>,
) -> Result<RepoConfig, ConfigError> {
    let abs = host.cwd.join(path);
    let root = abs
        .parent()
        .map_or_else(|| host.cwd.clone(), Path::to_path_buf);
    let ctx = SdkContext::new(host.clone(), root.clone(), sink).install();
    let globals = crate::sdk::globals_builder()
        .with(crate::sdk::repo_builtins::register_repo_builtins)
        .build();
    let session = Session::new(&root, globals, &ctx);
    let loaded = session.eval_source(&abs, source.to_owned())?;
    let file = PathBuf::from(session.display_name(&abs));

    let recorded = ctx.context().repo.borrow().clone();
    let mut config = RepoConfig {
        path: path.to_path_buf(),
        source: source.to_owned(),
        sdk_version: loaded.sdk_version,
        repo_alias: recorded.repo_alias,
        remotes: recorded.remotes,
        stores: recorded
            .stores
            .map(|(state, intent)| StoreSelection { state, intent }),
        release_ignore: Vec::new(),
        trigger: None,
        notify: None,
    };
    if let Some(hooks) = loaded.module.owned_extra_value() {
        let hook = |key: &str| {
            hooks
                .try_map(|v| {
                    FrozenDictRef::from_frozen_value(v)
                        .and_then(|d| d.get_str(key))
                        .ok_or(())
                })
                .ok()
                .map(|function| TriggerFn {
                    module: loaded.module.clone(),
                    function,
                    file: file.clone(),
                })
        };
        config.trigger = hook(crate::sdk::repo_builtins::TRIGGER_HOOK);
        config.notify = hook(crate::sdk::repo_builtins::NOTIFY_HOOK);
    }
    settings::apply_globals(&loaded.module, &mut config)?;
    settings::apply_env(&host.env, &mut config)?;
    Ok(config)
}

#[cfg(test)]
mod tests;
