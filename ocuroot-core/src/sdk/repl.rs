//! Evaluating Starlark outside a release: the REPL ([`Repl`]) and package previews.
//!
//! A [`Repl`] evaluates one input at a time (a line, a `def` block, a `-c` expression) with
//! the package globals ([`package_globals`]), a `help()` builtin, the public globals of an
//! optional file, and everything earlier inputs defined. Refs resolve against
//! `preview.git/-/<file>/@preview` ([`REPL_REPO`], [`PREVIEW_RELEASE`]), so
//! `ref("./task/build")` works as in a package file.
//!
//! How definitions persist: starlark modules cannot outlive the closure of
//! `Module::with_temp_heap`, so each input runs in a fresh module. The module first gets
//! every binding made so far (frozen values), and once the input succeeds it is frozen and
//! its globals become the new bindings. A failed input changes nothing.
//!
//! Also here: [`state_environments`] (what `environments()` returns, read from state) and
//! [`render_preview`] (the text of `ocuroot preview`).
//!
//! Left to others: reading lines, prompts and printing (the CLI).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use starlark::environment::{FrozenModule, GlobalsBuilder, Module};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::syntax::AstModule;
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::values::{OwnedFrozenValue, Value};

use crate::model::{Environment, FnDef, InputDesc, Package, WorkSpec};
use crate::refs::SubpathType;
use crate::refs::{Glob, Ref};
use crate::sdk::EvalError;
use crate::sdk::context::{HostContext, InstalledContext, SdkContext};
use crate::sdk::output::PrintSink;
use crate::sdk::package::package_globals;
use crate::sdk::package_builtins::PackageScope;
use crate::sdk::secrets::{MaskingSink, Secrets};
use crate::sdk::{Session, dialect};
use crate::store::{Area, MatchOptions, Store, StoreError};

/// The repository name refs resolve against in the REPL.
pub const REPL_REPO: &str = "preview.git";

/// The release id of REPL and preview evaluations.
pub const PREVIEW_RELEASE: &str = "preview";

/// What [`Repl::new`] needs.
pub struct ReplOptions {
    /// The directory `load()`s may not leave and the file is relative to (absolute).
    pub root: PathBuf,
    /// The file whose globals the REPL starts with, relative to `root`, `/`-separated.
    pub file: Option<String>,
    /// What `environments()` returns.
    pub environments: Vec<Environment>,
    /// Host facts (environment variables, working directory).
    pub host: HostContext,
    /// Where prints go. Prints made while the file loads are prefixed with `[<file>] `.
    pub sink: Arc<dyn PrintSink>,
    /// The release relative refs resolve against (`ocuroot repl --release`); `None` is
    /// [`PREVIEW_RELEASE`].
    pub release: Option<String>,
}

/// A Starlark read-eval-print session with the package SDK.
pub struct Repl {
    ctx: InstalledContext,
    prefix: Arc<PrefixSink>,
    bindings: BTreeMap<String, OwnedFrozenValue>,
    inputs: usize,
}

impl std::fmt::Debug for Repl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repl")
            .field("bindings", &self.bindings.keys().collect::<Vec<_>>())
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

impl Repl {
    /// Creates a session, evaluating `opts.file` first if given.
    ///
    /// A file named `repo.ocu.star` is evaluated with the repo-level builtins (`repo_alias`,
    /// `store`, ...), as ocuroot itself does; any other file with the package globals.
    ///
    /// # Errors
    ///
    /// The errors of [`Session::eval_file`] when the file does not evaluate.
    pub fn new(opts: ReplOptions) -> Result<Repl, EvalError> {
        let prefix = Arc::new(PrefixSink {
            inner: opts.sink,
            prefix: Mutex::new(None),
        });
        let secrets = Secrets::default();
        let sink: Arc<dyn PrintSink> = Arc::new(MaskingSink::new(prefix.clone(), secrets.clone()));
        let package_dir = match opts.file.as_deref().and_then(|f| Path::new(f).parent()) {
            Some(dir) => opts.root.join(dir),
            None => opts.root.clone(),
        };
        let mut environments = opts.environments;
        environments.sort_by(|a, b| a.name.cmp(&b.name));
        let scope = PackageScope {
            base_ref: Ref {
                repo: REPL_REPO.to_owned(),
                filename: opts.file.clone().unwrap_or_default(),
                release: Some(
                    opts.release
                        .clone()
                        .unwrap_or_else(|| PREVIEW_RELEASE.to_owned()),
                ),
                ..Ref::default()
            },
            environments,
        };
        let ctx = SdkContext::new(opts.host, package_dir, sink)
            .with_secrets(secrets)
            .with_package_scope(scope)
            .install();

        let mut bindings = BTreeMap::new();
        bindings.insert("help".to_owned(), help_function());
        if let Some(file) = &opts.file {
            let globals = if Path::new(file)
                .file_name()
                .is_some_and(|n| n == "repo.ocu.star")
            {
                crate::sdk::globals_builder()
                    .with(crate::sdk::repo_builtins::register_repo_builtins)
                    .build()
            } else {
                package_globals().clone()
            };
            prefix.set(Some(format!("[{file}] ")));
            let loaded = Session::new(&opts.root, globals, &ctx).eval_file(Path::new(file));
            prefix.set(None);
            let loaded = loaded?;
            for name in loaded.module.names() {
                if let Ok(value) = loaded.module.get(name.as_str()) {
                    bindings.insert(name.as_str().to_owned(), value);
                }
            }
        }
        Ok(Repl {
            ctx,
            prefix,
            bindings,
            inputs: 0,
        })
    }

    /// Evaluates one input (statements or an expression) and returns the pretty rendering of
    /// its value, or `None` when the value is `None` (assignments, `def`s, `print(...)`).
    ///
    /// Definitions of a successful input are visible to later inputs. Inputs are named
    /// `<input-N>` in error locations.
    ///
    /// # Errors
    ///
    /// [`EvalError::Eval`] when the input does not parse or fails; the session is left as
    /// it was before the input.
    pub fn eval(&mut self, source: &str) -> Result<Option<String>, EvalError> {
        self.inputs += 1;
        let name = format!("<input-{}>", self.inputs);
        let ast = AstModule::parse(&name, source.to_owned(), &dialect())
            .map_err(|e| EvalError::eval(&name, &e))?;
        self.prefix.set(None);
        let ctx = &self.ctx;
        let bindings = &self.bindings;
        let (rendered, names, frozen) = Module::with_temp_heap(|module| {
            for (n, v) in bindings {
                // Going through FrozenValue detaches the value from the borrow of `module`;
                // the reference added to the module's frozen heap keeps it alive.
                if let Some(v) = v.owned_value(module.frozen_heap()).unpack_frozen() {
                    module.set(n, v.to_value());
                }
            }
            let rendered = {
                let mut eval = Evaluator::new(&module);
                ctx.attach(&mut eval);
                let value = eval
                    .eval_module(ast, package_globals())
                    .map_err(|e| EvalError::eval(&name, &e))?;
                (!value.is_none()).then(|| pretty(value))
            };
            let names: Vec<String> = module.names().map(|n| n.as_str().to_owned()).collect();
            let frozen = module.freeze().map_err(|e| EvalError::Eval {
                file: PathBuf::from(&name),
                rendered: format!("{e:?}"),
            })?;
            Ok::<_, EvalError>((rendered, names, frozen))
        })?;
        for n in names {
            if let Ok(v) = frozen.get(&n) {
                self.bindings.insert(n, v);
            }
        }
        Ok(rendered)
    }

    /// Returns true when `source` is an unfinished input: a block opened by a line ending in
    /// `:` (finished by a blank line) or unclosed brackets.
    pub fn is_incomplete(source: &str) -> bool {
        let lines: Vec<&str> = source.lines().collect();
        let opens_block = lines.iter().any(|l| {
            let code = l.split('#').next().unwrap_or("").trim_end();
            code.ends_with(':')
        });
        if opens_block {
            return !source.ends_with("\n\n") && lines.last().is_some_and(|l| !l.trim().is_empty());
        }
        bracket_depth(source) > 0
    }
}

/// Counts unclosed brackets outside strings and comments.
fn bracket_depth(source: &str) -> i64 {
    let mut depth = 0i64;
    let mut quote: Option<char> = None;
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, _) => {}
        }
    }
    depth
}

/// Adds a prefix (`[<file>] `) to lines printed while a file loads.
struct PrefixSink {
    inner: Arc<dyn PrintSink>,
    prefix: Mutex<Option<String>>,
}

impl PrefixSink {
    fn set(&self, prefix: Option<String>) {
        match self.prefix.lock() {
            Ok(mut p) => *p = prefix,
            Err(poisoned) => *poisoned.into_inner() = prefix,
        }
    }
}

impl PrintSink for PrefixSink {
    fn print(&self, line: &str) {
        let prefix = match self.prefix.lock() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        match prefix {
            Some(prefix) => self.inner.print(&format!("{prefix}{line}")),
            None => self.inner.print(line),
        }
    }
}

#[starlark_module]
fn help_builtin(builder: &mut GlobalsBuilder) {
    /// Returns a dict of the names available in the REPL, each mapped to its type.
    fn help<'v>(eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
        let mut names: BTreeMap<String, String> = package_globals()
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_value().get_type().to_owned()))
            .collect();
        let module = eval.module();
        for name in module.names() {
            if let Some(v) = module.get(name.as_str()) {
                names.insert(name.as_str().to_owned(), v.get_type().to_owned());
            }
        }
        Ok(eval.heap().alloc(AllocDict(names)))
    }
}

/// Returns the `help` function as a frozen value.
fn help_function() -> OwnedFrozenValue {
    let globals = GlobalsBuilder::new().with(help_builtin).build();
    FrozenModule::from_globals(&globals)
        .expect("a module of builtins freezes")
        .get("help")
        .expect("help is registered")
}

/// Renders a value for the REPL: dicts, lists and tuples indented like JSON, anything else
/// as its Starlark `repr`.
pub fn pretty(value: Value<'_>) -> String {
    let mut out = String::new();
    pretty_into(value, 0, &mut out);
    out
}

fn pretty_into(value: Value<'_>, indent: usize, out: &mut String) {
    if let Some(dict) = DictRef::from_value(value) {
        let entries = dict.iter().map(|(k, v)| (Some(k), v)).collect();
        pretty_items(out, indent, ("{", "}"), entries);
    } else if let Some(list) = ListRef::from_value(value) {
        let entries = list.iter().map(|v| (None, v)).collect();
        pretty_items(out, indent, ("[", "]"), entries);
    } else if let Some(tuple) = TupleRef::from_value(value) {
        let entries = tuple.iter().map(|v| (None, v)).collect();
        pretty_items(out, indent, ("(", ")"), entries);
    } else {
        out.push_str(&value.to_repr());
    }
}

/// Renders the entries of a container, one per line; dict entries have a key.
fn pretty_items<'v>(
    out: &mut String,
    indent: usize,
    (open, close): (&str, &str),
    entries: Vec<(Option<Value<'v>>, Value<'v>)>,
) {
    out.push_str(open);
    if entries.is_empty() {
        out.push_str(close);
        return;
    }
    out.push('\n');
    let last = entries.len() - 1;
    for (i, (k, v)) in entries.into_iter().enumerate() {
        out.push_str(&"  ".repeat(indent + 1));
        if let Some(k) = k {
            out.push_str(&k.to_repr());
            out.push_str(": ");
        }
        pretty_into(v, indent + 1, out);
        if i != last {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str(&"  ".repeat(indent));
    out.push_str(close);
}

/// Errors of [`state_environments`].
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentsError {
    /// Reading the state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An environment document does not have the environment shape.
    #[error("invalid environment document {r}")]
    Invalid {
        /// The ref of the document.
        r: String,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
}

/// Returns the environments in state (`@/environment/*`), sorted by name.
///
/// # Errors
///
/// [`EnvironmentsError::Store`] when the store cannot be read, and
/// [`EnvironmentsError::Invalid`] for documents that are not environments.
pub fn state_environments(state: &Store) -> Result<Vec<Environment>, EnvironmentsError> {
    let glob = Glob::new("@/environment/*").map_err(StoreError::from)?;
    let refs = state.match_refs(Area::Records, &[glob], MatchOptions::default())?;
    let mut out = Vec::new();
    for r in refs {
        if let Some(v) = state.try_get(&r)? {
            let env = serde_json::from_value(v).map_err(|source| EnvironmentsError::Invalid {
                r: r.to_string(),
                source,
            })?;
            out.push(env);
        }
    }
    out.sort();
    Ok(out)
}

/// Renders the text of `ocuroot preview`: each phase with its tasks and deployments (entry
/// functions and inputs), then, per environment, what deploys to it and which tasks read
/// its deployment.
///
/// `environments` are the environments known to state; environments that only appear in
/// deployments are listed too.
pub fn render_preview(file: &str, package: &Package, environments: &[Environment]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Package {file} (release {PREVIEW_RELEASE})");
    if package.phases.is_empty() {
        let _ = writeln!(out, "\nNo phases");
    }
    for (i, phase) in package.phases.iter().enumerate() {
        let name = if phase.name.is_empty() {
            String::new()
        } else {
            format!(": {}", phase.name)
        };
        let _ = writeln!(out, "\nPhase {}{name}", i + 1);
        for work in &phase.tasks {
            match work {
                WorkSpec::Task(t) => {
                    let _ = writeln!(out, "  Task {:?}", t.name);
                    let _ = writeln!(out, "    fn: {}", fn_text(&t.function));
                    if !t.annotation.is_empty() {
                        let _ = writeln!(out, "    annotation: {}", t.annotation);
                    }
                }
                WorkSpec::Deploy(d) => {
                    let _ = writeln!(out, "  Deployment to {:?}", d.environment);
                    let _ = writeln!(out, "    up: {}", fn_text(&d.up));
                    let _ = writeln!(out, "    down: {}", fn_text(&d.down));
                }
            }
            let inputs = work.inputs();
            if inputs.is_empty() {
                let _ = writeln!(out, "    inputs: none");
            } else {
                let _ = writeln!(out, "    inputs:");
                for (name, desc) in inputs {
                    let _ = writeln!(out, "      {name} = {}", input_text(desc));
                }
            }
        }
    }

    let mut envs: BTreeSet<&str> = environments.iter().map(|e| e.name.as_str()).collect();
    for work in package.phases.iter().flat_map(|p| &p.tasks) {
        if let WorkSpec::Deploy(d) = work {
            envs.insert(d.environment.as_str());
        }
    }
    let _ = writeln!(out, "\nEnvironments");
    if envs.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for env in envs {
        let _ = writeln!(out, "  {env}");
        let mut any = false;
        for phase in &package.phases {
            for work in &phase.tasks {
                let phase_name = if phase.name.is_empty() {
                    String::new()
                } else {
                    format!(" (phase {:?})", phase.name)
                };
                if let WorkSpec::Deploy(d) = work
                    && d.environment == env
                {
                    any = true;
                    let _ = writeln!(out, "    deployed by Deployment to {env:?}{phase_name}");
                }
                let readers: Vec<&str> = work
                    .inputs()
                    .iter()
                    .filter(|(_, desc)| reads_deployment(desc, env))
                    .map(|(name, _)| name.as_str())
                    .collect();
                if !readers.is_empty() {
                    any = true;
                    let what = match work {
                        WorkSpec::Task(t) => format!("Task {:?}", t.name),
                        WorkSpec::Deploy(d) => format!("Deployment to {:?}", d.environment),
                    };
                    let _ = writeln!(
                        out,
                        "    read by {what}{phase_name}: {}",
                        readers.join(", ")
                    );
                }
            }
        }
        if !any {
            let _ = writeln!(out, "    nothing in this package");
        }
    }
    out
}

fn fn_text(f: &FnDef) -> String {
    format!("{} ({})", f.name, f.pos)
}

fn input_text(desc: &InputDesc) -> String {
    let json = |v: &serde_json::Value| v.to_string();
    match (&desc.reference, &desc.value, &desc.default) {
        (Some(r), _, Some(default)) => format!("ref {r} (default {})", json(default)),
        (Some(r), _, None) => format!("ref {r}"),
        (None, Some(v), _) => json(v),
        (None, None, Some(default)) => format!("default {}", json(default)),
        (None, None, None) => "none".to_owned(),
    }
}

/// Returns true when the input reads the deployment of `env` (`.../@/deploy/<env>...`).
fn reads_deployment(desc: &InputDesc, env: &str) -> bool {
    let Some(r) = &desc.reference else {
        return false;
    };
    let Ok(r) = r.parse::<Ref>() else {
        return false;
    };
    r.is(SubpathType::Deploy) && r.subpath == env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::CollectingSink;

    fn repl(root: &Path, file: Option<&str>) -> (Result<Repl, EvalError>, Arc<CollectingSink>) {
        let sink = Arc::new(CollectingSink::default());
        let repl = Repl::new(ReplOptions {
            root: root.to_path_buf(),
            file: file.map(str::to_owned),
            environments: vec![Environment {
                name: "staging".to_owned(),
                attributes: BTreeMap::new(),
            }],
            host: HostContext::default(),
            sink: sink.clone(),
            release: None,
        });
        (repl, sink)
    }

    #[test]
    fn expressions_and_definitions_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (repl, sink) = repl(dir.path(), None);
        let mut repl = repl.expect("repl");
        assert_eq!(repl.eval("1 + 1").expect("eval"), Some("2".to_owned()));
        assert_eq!(repl.eval("x = 1").expect("eval"), None);
        assert_eq!(repl.eval("x = x + 1").expect("eval"), None);
        assert_eq!(
            repl.eval("def f(a):\n    return a * x\n").expect("eval"),
            None
        );
        assert_eq!(repl.eval("f(3)").expect("eval"), Some("6".to_owned()));
        assert!(repl.eval("y = x +").is_err());
        assert!(repl.eval("x = 10\nfail('no')").is_err());
        assert_eq!(repl.eval("x").expect("eval"), Some("2".to_owned()));
        assert_eq!(repl.eval("print('hi', x)").expect("eval"), None);
        assert_eq!(sink.lines(), vec!["hi 2"]);
    }

    #[test]
    fn file_globals_refs_and_environments() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("pkg.ocu.star"),
            "def fn(msg):\n    print('fn: ' + msg)\nGLOBAL_VAR = 'value'\nprint('loading')\n",
        )
        .expect("write");
        let (repl, sink) = repl(dir.path(), Some("pkg.ocu.star"));
        let mut repl = repl.expect("repl");
        assert_eq!(repl.eval("fn('a')").expect("eval"), None);
        assert_eq!(
            repl.eval("GLOBAL_VAR").expect("eval"),
            Some("\"value\"".to_owned())
        );
        assert_eq!(
            repl.eval("ref('./task/build')").expect("eval"),
            Some("{\n  \"ref\": \"preview.git/-/pkg.ocu.star/@preview/task/build\"\n}".to_owned())
        );
        assert_eq!(
            repl.eval("[e.name for e in environments()]").expect("eval"),
            Some("[\n  \"staging\"\n]".to_owned())
        );
        assert_eq!(sink.lines(), vec!["[pkg.ocu.star] loading", "fn: a"]);
        let help = repl.eval("help()").expect("eval").expect("a dict");
        assert!(help.contains("\"task\": \"function\""), "{help}");
        assert!(help.contains("\"GLOBAL_VAR\": \"string\""), "{help}");
    }

    #[test]
    fn release_option_sets_the_base_of_relative_refs() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pkg.ocu.star"), "X = 1\n").expect("write");
        let mut repl = Repl::new(ReplOptions {
            root: dir.path().to_path_buf(),
            file: Some("pkg.ocu.star".to_owned()),
            environments: Vec::new(),
            host: HostContext::default(),
            sink: Arc::new(CollectingSink::default()),
            release: Some("r7".to_owned()),
        })
        .expect("repl");
        assert_eq!(
            repl.eval("ref(ref = './custom/x')").expect("eval"),
            Some("{\n  \"ref\": \"preview.git/-/pkg.ocu.star/@r7/custom/x\"\n}".to_owned())
        );
    }

    #[test]
    fn pretty_nests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (repl, _) = repl(dir.path(), None);
        let mut repl = repl.expect("repl");
        assert_eq!(
            repl.eval("{'a': [1, {}], 'b': (), 'c': {'d': None}}")
                .expect("eval"),
            Some(
                "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": (),\n  \"c\": {\n    \"d\": None\n  }\n}"
                    .to_owned()
            )
        );
    }

    #[test]
    fn incomplete_inputs() {
        assert!(Repl::is_incomplete("def f():"));
        assert!(Repl::is_incomplete("def f():\n    return 1"));
        assert!(!Repl::is_incomplete("def f():\n    return 1\n\n"));
        assert!(Repl::is_incomplete("x = [1,"));
        assert!(!Repl::is_incomplete("x = '[' # ("));
        assert!(!Repl::is_incomplete("1 + 1"));
    }
}
