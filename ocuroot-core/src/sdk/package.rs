//! Evaluating package files and calling their functions.
//!
//! [`evaluate_package`] runs a `*.ocu.star` package file (and its `load()`s) with the package
//! globals: the base SDK globals, the package builtins ([`crate::sdk::package_builtins`]) and
//! the Starlark prelude (`prelude.star`). The file declares either a [`Package`], a list of
//! environments, or nothing (spec §1.2).
//!
//! A [`LoadedPackage`] keeps the frozen modules, so that the functions named by the package
//! ([`FnDef`]s, keyed `name/file:line:col`) can be called later with
//! [`LoadedPackage::call`], from any thread. Calls return a [`CallOutcome`]: done, next or
//! failed (spec §4.7). Evaluating the same files again in a later process gives the same
//! function keys, which is how a run is continued.
//!
//! Left to others: reading inputs from state, writing runs and logs (the release engine).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use starlark::environment::{FrozenModule, Globals, Module};
use starlark::eval::Evaluator;
use starlark::syntax::AstModule;
use starlark::values::structs::AllocStruct;
use starlark::values::{OwnedFrozenValue, Value};

use crate::model::{Environment, FnDef, Inputs, JsonMap, Package, Phase, WorkSpec};
use crate::refs::Ref;
use crate::refs::names::{is_valid_input_name, is_valid_tag, release_number};
use crate::sdk::EvalError;
use crate::sdk::context::{HostContext, SdkContext};
use crate::sdk::defs::FileRegistry;
use crate::sdk::json::to_starlark;
use crate::sdk::output::PrintSink;
use crate::sdk::package_builtins::PackageScope;
use crate::sdk::package_builtins::{
    Params, register_internal_builtins, register_package_builtins, to_json,
};
use crate::sdk::secrets::{MaskingSink, Secrets};
use crate::sdk::{Session, dialect, globals_builder};

/// The name errors use for frames in the SDK prelude.
const PRELUDE_FILE: &str = "<ocuroot-sdk>/prelude.star";

/// Returns the globals package files are evaluated with (built once per process).
pub fn package_globals() -> &'static Globals {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    GLOBALS.get_or_init(|| with_prelude(globals_builder()))
}

/// The SDK prelude (`prelude.star`), evaluated once per process. Its functions use no host
/// builtin, so sharing them with the host-less expression globals is safe.
fn prelude() -> &'static FrozenModule {
    static PRELUDE: OnceLock<FrozenModule> = OnceLock::new();
    PRELUDE.get_or_init(|| {
        let prelude_globals = globals_builder()
            .with(register_package_builtins)
            .with(register_internal_builtins)
            .build();
        let ast = AstModule::parse(
            PRELUDE_FILE,
            include_str!("prelude.star").to_owned(),
            &dialect(),
        )
        .expect("the SDK prelude parses");
        let prelude: FrozenModule = Module::with_temp_heap(|module| {
            {
                let mut eval = Evaluator::new(&module);
                eval.eval_module(ast, &prelude_globals)
                    .expect("the SDK prelude evaluates");
            }
            module.freeze().expect("the SDK prelude freezes")
        });
        prelude
    })
}

/// Returns `builder` plus the package builtins and the public names of the prelude.
fn with_prelude(builder: starlark::environment::GlobalsBuilder) -> Globals {
    let prelude = prelude();
    {
        let mut builder = builder.with(register_package_builtins);
        let names: Vec<String> = prelude
            .names()
            .map(|n| n.as_str().to_owned())
            .filter(|n| !n.starts_with('_'))
            .collect();
        for name in names {
            let owned = prelude.get(&name).expect("public prelude name");
            let value = owned
                .owned_value(builder.frozen_heap())
                .unpack_frozen()
                .expect("a frozen value");
            builder.set(&name, value);
        }
        builder.build()
    }
}

/// What [`evaluate_package`] needs.
pub struct PackageEvalOptions {
    /// The repository root (absolute).
    pub root: PathBuf,
    /// The package file relative to `root`, `/`-separated (`backend/package.ocu.star`).
    pub file: String,
    /// The ref relative refs in `ref()`/`input()` resolve against (`<repo>/-/<file>/@r3`).
    pub base_ref: Ref,
    /// What `environments()` returns (from state), sorted by name.
    pub environments: Vec<Environment>,
    /// Host facts (environment variables, working directory).
    pub host: HostContext,
    /// Where prints during evaluation go (secrets are masked first).
    pub sink: Arc<dyn PrintSink>,
    /// The secrets `secret()` registers into, shared with later calls.
    pub secrets: Secrets,
}

/// What a package file declares.
#[derive(Debug)]
pub enum PackageEval {
    /// A package (the file called `task`, `deploy` or `phase`).
    Package(LoadedPackage),
    /// Environments (the file called `register_environment`), in declaration order.
    Environments(Vec<Environment>),
    /// Nothing (for example a file that is only loaded by others).
    Nothing,
}

/// An evaluated package whose functions can be called, from any thread.
pub struct LoadedPackage {
    /// The package definition.
    pub package: Package,
    file: String,
    // Boxed: it is large and `PackageEval` holds a `LoadedPackage` by value.
    inner: Box<Loaded>,
}

/// What a [`LoadedPackage`] needs to call functions.
struct Loaded {
    scope: PackageScope,
    files: FileRegistry,
    functions: HashMap<String, OwnedFrozenValue>,
}

impl std::fmt::Debug for LoadedPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.inner.functions.keys().collect();
        keys.sort();
        f.debug_struct("LoadedPackage")
            .field("file", &self.file)
            .field("package", &self.package)
            .field("functions", &keys)
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LoadedPackage>();
};

/// What a function call needs besides its inputs.
pub struct CallContext {
    /// Host facts.
    pub host: HostContext,
    /// The package directory (root joined with the package file's directory): `pwd()`,
    /// `read()`, `write()` and `shell(dir="")` use it.
    pub package_dir: PathBuf,
    /// Where the function's prints go (secrets are masked first).
    pub sink: Arc<dyn PrintSink>,
    /// Secrets to mask; `secret()` registers here.
    pub secrets: Secrets,
}

/// The result of calling a function (spec §4.7).
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The run completes.
    Done {
        /// The outputs to store.
        outputs: JsonMap,
        /// Tags for the release (validated).
        tags: Vec<String>,
        /// Repo-relative path prefixes `push` watches.
        watch: Vec<String>,
    },
    /// The run continues with another function.
    Next {
        /// The next function.
        function: FnDef,
        /// Its input descriptors, checked, with absolute refs.
        inputs: Inputs,
    },
    /// The function failed.
    Failed {
        /// `<file>:<line>:<col>: <error>`, the position of the innermost user frame when known.
        message: String,
    },
}

impl CallOutcome {
    fn failed(message: impl Into<String>) -> Self {
        CallOutcome::Failed {
            message: message.into(),
        }
    }
}

/// Evaluates a package file (spec §1.2, §4.5).
///
/// # Errors
///
/// - [`EvalError::Eval`] for Starlark errors, including input-checking errors of `task`,
///   `deploy` and `next` and bad environment names, with the user's `file:line:col`;
/// - [`EvalError::Validation`] when an environment or task name is used more than once;
/// - [`EvalError::EnvironmentsAndPackage`] when the file declares both;
/// - load and version errors as [`Session::eval_file`].
pub fn evaluate_package(opts: &PackageEvalOptions) -> Result<PackageEval, EvalError> {
    let package_dir = match Path::new(&opts.file).parent() {
        Some(dir) => opts.root.join(dir),
        None => opts.root.clone(),
    };
    let sink: Arc<dyn PrintSink> =
        Arc::new(MaskingSink::new(opts.sink.clone(), opts.secrets.clone()));
    let mut environments = opts.environments.clone();
    environments.sort_by(|a, b| a.name.cmp(&b.name));
    let scope = PackageScope {
        base_ref: opts.base_ref.clone(),
        environments,
    };
    let ctx = SdkContext::new(opts.host.clone(), package_dir, sink)
        .with_secrets(opts.secrets.clone())
        .with_package_scope(scope.clone())
        .install();
    let session = Session::new(&opts.root, package_globals().clone(), &ctx);
    session
        .eval_file(Path::new(&opts.file))
        .map_err(|e| e.masked(&opts.secrets))?;
    let file = PathBuf::from(&opts.file);

    let (declared, phases, environments) = {
        let mut recorder = ctx.context().package.borrow_mut();
        let phases = recorder.finish();
        (
            recorder.declared,
            phases,
            std::mem::take(&mut recorder.environments),
        )
    };
    if declared && !environments.is_empty() {
        return Err(EvalError::EnvironmentsAndPackage { file });
    }
    if !environments.is_empty() {
        return Ok(PackageEval::Environments(environments));
    }
    if !declared {
        return Ok(PackageEval::Nothing);
    }
    let problems = validate(&phases);
    if !problems.is_empty() {
        return Err(EvalError::Validation { file, problems });
    }

    let mut files = ctx.context().files.borrow().clone();
    files.current.clear();
    let functions = function_table(&files);
    Ok(PackageEval::Package(LoadedPackage {
        package: Package { phases },
        file: opts.file.clone(),
        inner: Box::new(Loaded {
            scope,
            files,
            functions,
        }),
    }))
}

/// Returns the problems of package validation (spec §4.5).
fn validate(phases: &[Phase]) -> Vec<String> {
    let mut envs: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tasks: BTreeMap<&str, usize> = BTreeMap::new();
    for work in phases.iter().flat_map(|p| &p.tasks) {
        match work {
            WorkSpec::Deploy(d) => *envs.entry(&d.environment).or_default() += 1,
            WorkSpec::Task(t) => *tasks.entry(&t.name).or_default() += 1,
        }
    }
    let mut problems = Vec::new();
    for (env, n) in envs.into_iter().filter(|(_, n)| *n > 1) {
        problems.push(format!(
            "Environment '{env}' is used in {n} phases, should be used in exactly one"
        ));
    }
    for (task, n) in tasks.into_iter().filter(|(_, n)| *n > 1) {
        problems.push(format!(
            "Task '{task}' is used in {n} phases, should be used in exactly one"
        ));
    }
    problems
}

/// Maps the key of every top-level function of every evaluated file to its value.
///
/// Names come from the files' `def`s rather than the modules, because frozen modules only
/// list public names and functions such as `_noop` are valid `next` targets.
fn function_table(files: &FileRegistry) -> HashMap<String, OwnedFrozenValue> {
    let mut out = HashMap::new();
    for (file, module) in &files.modules {
        let Some(defs) = files.defs.get(file) else {
            continue;
        };
        for def in defs.iter().filter(|d| d.top_level) {
            let Ok((value, _)) = module.get_any_visibility(&def.name) else {
                continue;
            };
            let is_def = value.value().parameters_spec().is_some()
                && value.value().function_name() == Some(def.name.as_str());
            // A later `def` of the same name wins, as it does for the module's global.
            if is_def && files.top_level_def(file, &def.name) == Some(def) {
                let key = FnDef {
                    name: def.name.clone(),
                    pos: format!("{file}:{}:{}", def.line, def.col),
                }
                .key();
                out.insert(key, value);
            }
        }
    }
    out
}

impl LoadedPackage {
    /// Returns true if `f` names a top-level function of the package or its loads.
    pub fn function(&self, f: &FnDef) -> bool {
        self.inner.functions.contains_key(&f.key())
    }

    /// Calls `f` with `inputs` (the effective input values).
    ///
    /// Inputs are passed as keyword arguments, or as `ctx.inputs.<name>` when the function's
    /// only parameter is `ctx`. Prints go to `ctx.sink`, masked. Errors never escape: they
    /// are [`CallOutcome::Failed`].
    pub fn call(
        &self,
        f: &FnDef,
        inputs: &BTreeMap<String, serde_json::Value>,
        ctx: &CallContext,
    ) -> CallOutcome {
        let Some(function) = self.inner.functions.get(&f.key()) else {
            return CallOutcome::failed(format!("function {} not found", f.key()));
        };
        let sink: Arc<dyn PrintSink> =
            Arc::new(MaskingSink::new(ctx.sink.clone(), ctx.secrets.clone()));
        let sdk = SdkContext::new(ctx.host.clone(), ctx.package_dir.clone(), sink)
            .with_secrets(ctx.secrets.clone())
            .with_package_scope(self.inner.scope.clone())
            .with_files(self.inner.files.clone())
            .install();
        Module::with_temp_heap(|module| {
            // Going through FrozenValue detaches the value from the borrow of `module`; the
            // reference added to the module's frozen heap keeps it alive.
            let function = function
                .owned_value(module.frozen_heap())
                .unpack_frozen()
                .map_or_else(Value::new_none, |f| f.to_value());
            let heap = module.heap();
            let mut eval = Evaluator::new(&module);
            sdk.attach(&mut eval);
            let result = if Params::of(function).is_ctx_style() {
                let fields: Vec<(&str, Value)> = inputs
                    .iter()
                    .map(|(k, v)| (k.as_str(), to_starlark(heap, v)))
                    .collect();
                let ctx_value =
                    heap.alloc(AllocStruct([("inputs", heap.alloc(AllocStruct(fields)))]));
                eval.eval_function(function, &[ctx_value], &[])
            } else {
                let named: Vec<(&str, Value)> = inputs
                    .iter()
                    .map(|(k, v)| (k.as_str(), to_starlark(heap, v)))
                    .collect();
                eval.eval_function(function, &[], &named)
            };
            match result {
                Ok(value) => decode_result(value, &ctx.secrets),
                Err(e) => CallOutcome::failed(ctx.secrets.mask(&failure_message(&e))),
            }
        })
    }
}

/// Formats an error as `<file>:<line>:<col>: <error>` at the innermost user frame.
fn failure_message(e: &starlark::Error) -> String {
    let message = e.without_diagnostic().to_string();
    let format = |span: &starlark::codemap::FileSpan| {
        let pos = span.resolve_span();
        format!(
            "{}:{}:{}",
            span.filename(),
            pos.begin.line + 1,
            pos.begin.column + 1
        )
    };
    let location = e
        .span()
        .filter(|s| s.filename() != PRELUDE_FILE)
        .map(format)
        .or_else(|| {
            e.call_stack()
                .frames
                .iter()
                .rev()
                .filter_map(|f| f.location.as_ref())
                .find(|s| s.filename() != PRELUDE_FILE)
                .map(format)
        });
    match location {
        Some(location) => format!("{location}: {message}"),
        None => message,
    }
}

#[derive(Deserialize)]
struct NextJson {
    #[serde(rename = "fn")]
    function: FnDef,
    #[serde(default)]
    inputs: Inputs,
}

#[derive(Deserialize)]
struct DoneJson {
    #[serde(default)]
    outputs: Option<JsonMap>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    watch: Option<Vec<String>>,
}

/// Interprets a function's return value (spec §4.7).
///
/// Outputs are checked against the [limits](crate::limits) here, where they are converted,
/// so that an output too deep, too large or holding a number no document can keep fails
/// the run instead of the commit that would record it. Strings holding a registered
/// secret are replaced by the masked-secret marker ([`Secrets::mark_json`]); a tag
/// holding a secret fails the run, since tags become ref names and commit messages.
fn decode_result(value: Value<'_>, secrets: &Secrets) -> CallOutcome {
    if value.is_none() {
        return CallOutcome::Done {
            outputs: JsonMap::new(),
            tags: Vec::new(),
            watch: Vec::new(),
        };
    }
    let json = match to_json(value) {
        Ok(json) => json,
        Err(e) => return CallOutcome::failed(format!("invalid return value: {e}")),
    };
    let serde_json::Value::Object(map) = json else {
        return CallOutcome::failed(format!(
            "invalid return value {}: expected done() or next()",
            value.to_repr()
        ));
    };
    if let Some(next) = map.get("next") {
        let next: NextJson = match serde_json::from_value(next.clone()) {
            Ok(next) => next,
            Err(e) => return CallOutcome::failed(format!("invalid next() value: {e}")),
        };
        if let Some(bad) = next.inputs.keys().find(|k| !is_valid_input_name(k)) {
            return CallOutcome::failed(format!("invalid input name \"{bad}\""));
        }
        return CallOutcome::Next {
            function: next.function,
            inputs: next.inputs,
        };
    }
    let done = match map.get("done") {
        Some(done) => match serde_json::from_value::<DoneJson>(done.clone()) {
            Ok(done) => done,
            Err(e) => return CallOutcome::failed(format!("invalid done() value: {e}")),
        },
        None => DoneJson {
            outputs: map.get("outputs").and_then(|o| o.as_object().cloned()),
            tags: None,
            watch: None,
        },
    };
    let tags = done.tags.unwrap_or_default();
    for tag in &tags {
        if secrets.mask(tag) != *tag {
            return CallOutcome::failed(
                "a tag must not contain a secret: tags become ref names and commit messages",
            );
        }
        if tag.len() >= crate::refs::MAX_SEGMENT_LEN {
            return CallOutcome::failed(format!(
                "invalid tag: {} bytes long, tags are at most {} bytes",
                tag.len(),
                crate::refs::MAX_SEGMENT_LEN - 1
            ));
        }
        if release_number(tag).is_some() {
            return CallOutcome::failed(format!(
                "tags must not be in the release format (r<number>): {tag}"
            ));
        }
        if !is_valid_tag(tag) {
            return CallOutcome::failed(format!("invalid tag: {tag}"));
        }
    }
    let outputs =
        match secrets.mark_json(&serde_json::Value::Object(done.outputs.unwrap_or_default())) {
            serde_json::Value::Object(m) => m,
            _ => JsonMap::new(),
        };
    let limits = crate::limits::current();
    let size = serde_json::to_string(&outputs).map_or(0, |s| s.len());
    if size > limits.max_document_bytes {
        return CallOutcome::failed(format!(
            "outputs are too large: {}",
            crate::limits::LimitError::document(size, &limits)
        ));
    }
    CallOutcome::Done {
        outputs,
        tags,
        watch: done.watch.unwrap_or_default(),
    }
}
mod expression;

pub use expression::eval_expression_json;

#[cfg(test)]
mod tests;
