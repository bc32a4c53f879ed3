//! The evaluation context shared by every SDK builtin.
//!
//! An [`SdkContext`] is created by the caller of an evaluation, installed with
//! [`SdkContext::install`] and attached to each evaluator with [`InstalledContext::attach`].
//! Builtins fetch it with [`SdkContext::from_eval`]. It owns:
//!
//! - the host facts ([`HostContext`] plus the package directory): the environment map and
//!   working directory the core must use instead of the process's own;
//! - the single output path, [`SdkContext::print`], which forwards to a [`PrintSink`]. Every
//!   line a config file produces (Starlark `print`, `host.shell` output) goes through it, so
//!   masking and log capture only need to hook in one place;
//! - the recorders that repo-level builtins write into ([`RepoRecorder`]). Later SDK
//!   namespaces add their own recorders here.
//!
//! Why not put `&SdkContext` in `eval.extra` directly: that requires
//! `#[derive(ProvidesStaticType)]`, which expands to an `unsafe impl`, and this crate
//! forbids unsafe code. Instead `eval.extra` holds a `u64` key (a type starlark already
//! implements the trait for) into a thread-local registry of installed contexts; evaluation
//! is single-threaded, so the builtin always runs on the thread that installed the key.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use starlark::PrintHandler;
use starlark::eval::Evaluator;

use crate::sdk::defs::FileRegistry;
use crate::sdk::output::{PrintSink, SourceLocation};
use crate::sdk::package_builtins::{PackageRecorder, PackageScope};
use crate::sdk::secrets::Secrets;
use crate::store::StoreSpec;

/// The facts about the host that evaluation may observe.
///
/// The core never reads the process environment or working directory itself; the caller
/// (normally the CLI) fills this in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostContext {
    /// The environment visible to config code (`env()`) and inherited by `shell()`.
    pub env: BTreeMap<String, String>,
    /// The working directory: `shell(dir=".")` runs here and relative `dir`s resolve from it.
    pub cwd: PathBuf,
}

/// What repo-level builtins (`repo_alias`, `store.set`, `remotes`, `trigger`) recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoRecorder {
    /// The argument of the last `repo_alias(...)` call.
    pub repo_alias: Option<String>,
    /// The argument of the last `remotes(...)` call.
    pub remotes: Option<Vec<String>>,
    /// The stores chosen by `store.set(state, intent)`.
    pub stores: Option<(StoreSpec, Option<StoreSpec>)>,
    /// Whether `trigger(fn)` was called; the function itself is kept as the module's extra
    /// value so that it is frozen together with the module.
    pub trigger_set: bool,
}

/// The context of one evaluation session, reachable from builtins through `eval.extra`.
pub struct SdkContext {
    host: HostContext,
    package_dir: PathBuf,
    sink: Arc<dyn PrintSink>,
    secrets: Secrets,
    scope: Option<PackageScope>,
    /// Recorder for the repo-level builtins.
    pub repo: RefCell<RepoRecorder>,
    /// Recorder for the package builtins (`task`, `deploy`, `phase`, `register_environment`).
    pub package: RefCell<PackageRecorder>,
    /// The evaluated files: `def` positions and frozen modules, for function identity.
    pub files: RefCell<FileRegistry>,
}

impl std::fmt::Debug for SdkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkContext")
            .field("host", &self.host)
            .field("package_dir", &self.package_dir)
            .field("repo", &self.repo)
            .finish_non_exhaustive()
    }
}

/// Raised when a builtin runs without an [`SdkContext`] in `eval.extra`.
#[derive(Debug, thiserror::Error)]
#[error("internal error: the SDK context is missing from the evaluator")]
pub struct MissingContextError;

impl SdkContext {
    /// Creates a context for files of the package in `package_dir` (an absolute directory).
    pub fn new(host: HostContext, package_dir: PathBuf, sink: Arc<dyn PrintSink>) -> Self {
        SdkContext {
            host,
            package_dir,
            sink,
            secrets: Secrets::default(),
            scope: None,
            repo: RefCell::new(RepoRecorder::default()),
            package: RefCell::new(PackageRecorder::default()),
            files: RefCell::new(FileRegistry::default()),
        }
    }

    /// Sets the secrets `secret()` registers into.
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// Makes the package builtins available, resolving refs against `scope`.
    pub fn with_package_scope(mut self, scope: PackageScope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Starts from already evaluated files (to identify functions given to `next`).
    pub fn with_files(self, files: FileRegistry) -> Self {
        *self.files.borrow_mut() = files;
        self
    }

    /// Returns the secrets of this session.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Returns the package scope, if package builtins are available.
    pub fn scope(&self) -> Option<&PackageScope> {
        self.scope.as_ref()
    }

    /// Registers the context on this thread so evaluators can be attached to it.
    pub fn install(self) -> InstalledContext {
        let key = NEXT_KEY.with(|next| {
            let key = next.get();
            next.set(key.wrapping_add(1));
            key
        });
        let ctx = Rc::new(self);
        REGISTRY.with(|r| r.borrow_mut().insert(key, ctx.clone()));
        InstalledContext { key, ctx }
    }

    /// Returns the context attached to `eval`.
    ///
    /// # Errors
    ///
    /// Fails when the evaluator was not attached to an installed context, which is a bug in
    /// the caller, reported as a Starlark error rather than a panic.
    pub fn from_eval(eval: &Evaluator<'_, '_, '_>) -> starlark::Result<Rc<SdkContext>> {
        eval.extra
            .and_then(|extra| extra.downcast_ref::<u64>())
            .and_then(|key| REGISTRY.with(|r| r.borrow().get(key).cloned()))
            .ok_or_else(|| starlark::Error::new_other(MissingContextError))
    }

    /// Returns the host facts.
    pub fn host(&self) -> &HostContext {
        &self.host
    }

    /// Returns the directory of the package being evaluated; `read`/`write`/`pwd` use it.
    pub fn package_dir(&self) -> &std::path::Path {
        &self.package_dir
    }

    /// Sends one line of output to the sink; the only output path of the SDK.
    pub fn print(&self, line: &str) {
        self.sink.print(line);
    }

    /// Sends the text of a Starlark `print` at `at` to the sink, one line at a time.
    pub fn print_at(&self, text: &str, at: &SourceLocation) {
        for line in text.split('\n') {
            self.sink.print_at(line, at);
        }
    }
}

thread_local! {
    static REGISTRY: RefCell<HashMap<u64, Rc<SdkContext>>> = RefCell::new(HashMap::new());
    static NEXT_KEY: Cell<u64> = const { Cell::new(0) };
}

/// An [`SdkContext`] registered on the current thread; unregistered on drop.
pub struct InstalledContext {
    key: u64,
    ctx: Rc<SdkContext>,
}

impl std::fmt::Debug for InstalledContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstalledContext")
            .field("key", &self.key)
            .field("ctx", &self.ctx)
            .finish()
    }
}

impl InstalledContext {
    /// Returns the context.
    pub fn context(&self) -> &SdkContext {
        &self.ctx
    }

    /// Attaches `eval` to this context: builtins find it through `eval.extra`, and
    /// Starlark `print` goes to [`SdkContext::print`].
    pub fn attach<'a>(&'a self, eval: &mut Evaluator<'_, 'a, '_>) {
        eval.extra = Some(&self.key);
        eval.set_print_handler(&*self.ctx);
    }
}

impl Drop for InstalledContext {
    fn drop(&mut self) {
        // `try_with` because the registry may already be gone when a thread is exiting.
        let _ = REGISTRY.try_with(|r| r.borrow_mut().remove(&self.key));
    }
}

impl PrintHandler for SdkContext {
    fn println(&self, text: &str) -> starlark::Result<()> {
        // A multi-line print is several log lines; keeping lines atomic lets the sink mask
        // and timestamp each one.
        for line in text.split('\n') {
            self.print(line);
        }
        Ok(())
    }
}
