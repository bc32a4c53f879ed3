//! Evaluating files and their `load()`s: [`Session`].
//!
//! A session evaluates `*.ocu.star` files of one repository with one set of [`Globals`] and
//! one [`SdkContext`]. For each file it:
//!
//! 1. parses it with [`dialect()`](crate::sdk::dialect), naming it by its path relative to
//!    the repo root so errors read `repo.ocu.star:3:1`;
//! 2. determines its SDK version ([`sdk_version_of`]);
//! 3. resolves each `load("./x.ocu.star", ...)` relative to the loading file's directory,
//!    rejecting paths that leave the repo root (checked lexically; symlinks are not
//!    followed), and evaluates the loaded files first (each once per session; a file that
//!    is still being evaluated when loaded again is a cycle);
//! 4. runs it with `eval.extra` set to the context and `print` routed to
//!    [`SdkContext::print`], then freezes the module.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use starlark::environment::{FrozenModule, Globals, Module};
use starlark::eval::{Evaluator, ReturnFileLoader};
use starlark::syntax::AstModule;

use crate::sdk::EvalError;
use crate::sdk::context::{InstalledContext, SdkContext};
use crate::sdk::dialect;
use crate::sdk::version::sdk_version_of;

/// A file evaluated by a [`Session`].
#[derive(Debug, Clone)]
pub struct LoadedModule {
    /// The frozen module: its globals and, if set, its extra value.
    pub module: FrozenModule,
    /// The SDK version the file selected with `ocuroot(...)`.
    pub sdk_version: String,
}

/// One evaluation session: shared globals, context and module cache.
pub struct Session<'c> {
    root: PathBuf,
    globals: Globals,
    ctx: &'c InstalledContext,
    cache: RefCell<HashMap<PathBuf, LoadedModule>>,
    in_progress: RefCell<Vec<PathBuf>>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("root", &self.root)
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

/// Normalizes `.` and `..` components without touching the filesystem.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

impl<'c> Session<'c> {
    /// Creates a session for the repository at `root` (an absolute path).
    pub fn new(root: impl Into<PathBuf>, globals: Globals, ctx: &'c InstalledContext) -> Self {
        Session {
            root: normalize(&root.into()),
            globals,
            ctx,
            cache: RefCell::new(HashMap::new()),
            in_progress: RefCell::new(Vec::new()),
        }
    }

    /// Returns the context passed to builtins.
    pub fn context(&self) -> &'c SdkContext {
        self.ctx.context()
    }

    /// Returns the globals files are evaluated with.
    pub fn globals(&self) -> &Globals {
        &self.globals
    }

    /// Returns the repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns `path` relative to the repo root with `/` separators, as shown to users.
    pub fn display_name(&self, path: &Path) -> String {
        let abs = normalize(&self.root.join(path));
        let rel = abs.strip_prefix(&self.root).unwrap_or(&abs);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Reads and evaluates the file at `path` (absolute, or relative to the repo root).
    ///
    /// # Errors
    ///
    /// [`EvalError::Io`] if the file cannot be read, otherwise as [`Session::eval_source`].
    pub fn eval_file(&self, path: &Path) -> Result<LoadedModule, EvalError> {
        let abs = normalize(&self.root.join(path));
        if let Some(done) = self.cache.borrow().get(&abs) {
            return Ok(done.clone());
        }
        let source = std::fs::read_to_string(&abs).map_err(|source| EvalError::Io {
            path: abs.clone(),
            source,
        })?;
        self.eval_source(&abs, source)
    }

    /// Evaluates `source` as the file at `path` (absolute, or relative to the repo root).
    ///
    /// The result is cached: later loads of the same path reuse it.
    ///
    /// # Errors
    ///
    /// - [`EvalError::Eval`] for syntax and runtime errors, rendered against the user's
    ///   file (a loaded file's error names that file);
    /// - [`EvalError::Version`] for a bad `ocuroot(...)` call;
    /// - [`EvalError::LoadOutsideRoot`], [`EvalError::LoadCycle`] and
    ///   [`EvalError::Load`] for bad `load()`s.
    pub fn eval_source(&self, path: &Path, source: String) -> Result<LoadedModule, EvalError> {
        let abs = normalize(&self.root.join(path));
        if let Some(done) = self.cache.borrow().get(&abs) {
            return Ok(done.clone());
        }
        let name = self.display_name(&abs);
        {
            let in_progress = self.in_progress.borrow();
            if let Some(start) = in_progress.iter().position(|p| *p == abs) {
                let mut files: Vec<String> = in_progress[start..]
                    .iter()
                    .map(|p| self.display_name(p))
                    .collect();
                files.push(name);
                return Err(EvalError::LoadCycle { files });
            }
        }
        // The parser and compiler recurse along the nesting of the source: refuse deep
        // nesting before they run, so that a hostile file cannot overflow the stack.
        crate::limits::check_source(&source, &crate::limits::current()).map_err(|source| {
            EvalError::Limit {
                file: PathBuf::from(&name),
                source,
            }
        })?;
        let ast =
            AstModule::parse(&name, source, &dialect()).map_err(|e| EvalError::eval(&name, &e))?;
        let sdk_version = sdk_version_of(&ast).map_err(|e| EvalError::Version {
            location: e.location,
            source: e.error,
        })?;

        self.in_progress.borrow_mut().push(abs.clone());
        let loaded = self.eval_loads(&abs, &ast);
        self.in_progress.borrow_mut().pop();
        let loaded = loaded?;

        let modules: HashMap<&str, &FrozenModule> =
            loaded.iter().map(|(id, m)| (id.as_str(), m)).collect();
        let loader = ReturnFileLoader { modules: &modules };
        let ctx = self.ctx;
        ctx.context().files.borrow_mut().enter(&name, &ast);
        let module = Module::with_temp_heap(|module| {
            {
                let mut eval = Evaluator::new(&module);
                ctx.attach(&mut eval);
                eval.set_loader(&loader);
                eval.eval_module(ast, &self.globals)
                    .map_err(|e| EvalError::eval(&name, &e))?;
            }
            module.freeze().map_err(|e| EvalError::Eval {
                file: PathBuf::from(&name),
                rendered: format!("{e:?}"),
            })
        });
        ctx.context()
            .files
            .borrow_mut()
            .leave(&name, module.as_ref().ok());
        let module = module?;
        let result = LoadedModule {
            module,
            sdk_version,
        };
        self.cache.borrow_mut().insert(abs, result.clone());
        Ok(result)
    }

    /// Evaluates every file `ast` loads, returning them by their `load` string.
    fn eval_loads(
        &self,
        file: &Path,
        ast: &AstModule,
    ) -> Result<Vec<(String, FrozenModule)>, EvalError> {
        let dir = file.parent().unwrap_or(&self.root).to_path_buf();
        let mut out = Vec::new();
        for load in ast.loads() {
            let location = load.span.resolve().to_string();
            let module_id = load.module_id.to_owned();
            let target = normalize(&dir.join(&module_id));
            if !target.starts_with(&self.root) {
                return Err(EvalError::LoadOutsideRoot {
                    location,
                    module: module_id,
                });
            }
            let cached = self.cache.borrow().get(&target).cloned();
            let loaded = match cached {
                Some(m) => m,
                None => {
                    let in_progress = self.in_progress.borrow().contains(&target);
                    let source = if in_progress {
                        // Let eval_source report the cycle with the whole chain.
                        String::new()
                    } else {
                        std::fs::read_to_string(&target).map_err(|source| EvalError::Load {
                            location: location.clone(),
                            module: module_id.clone(),
                            source,
                        })?
                    };
                    self.eval_source(&target, source)?
                }
            };
            out.push((module_id, loaded.module));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sdk::{CollectingSink, HostContext, globals};

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }

    fn eval(root: &Path, file: &str) -> Result<(LoadedModule, Vec<String>), EvalError> {
        let sink = Arc::new(CollectingSink::default());
        let ctx =
            SdkContext::new(HostContext::default(), root.to_path_buf(), sink.clone()).install();
        let session = Session::new(root, globals(), &ctx);
        let module = session.eval_file(Path::new(file))?;
        Ok((module, sink.lines()))
    }

    fn get_str(m: &LoadedModule, name: &str) -> String {
        let v = m.module.get(name).expect("global exists");
        v.value().unpack_str().expect("a string").to_owned()
    }

    #[test]
    fn relative_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "tasks.ocu.star",
            "def build():\n    return 'built'\nX = 1\n",
        );
        write(
            dir.path(),
            "pkg.ocu.star",
            "load(\"./tasks.ocu.star\", \"build\", y = \"X\")\nR = build() + str(y)\nprint('hi', R)\n",
        );
        let (m, lines) = eval(dir.path(), "pkg.ocu.star").expect("evaluates");
        assert_eq!(get_str(&m, "R"), "built1");
        assert_eq!(lines, vec!["hi built1"]);
        assert_eq!(m.sdk_version, "0.3.0");
    }

    #[test]
    fn load_from_subdir_and_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "lib/common.ocu.star", "NAME = 'common'\n");
        write(
            dir.path(),
            "lib/more.ocu.star",
            "load('common.ocu.star', 'NAME')\nMORE = NAME + '+more'\n",
        );
        write(
            dir.path(),
            "app/pkg.ocu.star",
            "load('../lib/more.ocu.star', 'MORE')\nload('../lib/common.ocu.star', 'NAME')\nR = MORE + '/' + NAME\n",
        );
        let (m, _) = eval(dir.path(), "app/pkg.ocu.star").expect("evaluates");
        assert_eq!(get_str(&m, "R"), "common+more/common");
    }

    #[test]
    fn cycle_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.ocu.star",
            "load('./b.ocu.star', 'B')\nA = 1\n",
        );
        write(
            dir.path(),
            "b.ocu.star",
            "load('./sub/c.ocu.star', 'C')\nB = 1\n",
        );
        write(
            dir.path(),
            "sub/c.ocu.star",
            "load('../a.ocu.star', 'A')\nC = 1\n",
        );
        let err = eval(dir.path(), "a.ocu.star").expect_err("cycle");
        assert_eq!(
            err.to_string(),
            "cycle in load graph: a.ocu.star -> b.ocu.star -> sub/c.ocu.star -> a.ocu.star"
        );
    }

    #[test]
    fn escaping_the_root_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("repo");
        write(dir.path(), "outside.ocu.star", "X = 1\n");
        write(
            &root,
            "pkg.ocu.star",
            "\nload('../outside.ocu.star', 'X')\n",
        );
        let err = eval(&root, "pkg.ocu.star").expect_err("escape");
        let msg = err.to_string();
        assert!(msg.starts_with("pkg.ocu.star:2:6"), "{msg}");
        assert!(
            msg.ends_with("load of \"../outside.ocu.star\" escapes the repository root"),
            "{msg}"
        );
    }

    #[test]
    fn missing_load_names_the_loading_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "pkg.ocu.star", "load('./nope.ocu.star', 'X')\n");
        let err = eval(dir.path(), "pkg.ocu.star").expect_err("missing");
        assert!(matches!(err, EvalError::Load { .. }), "{err:?}");
        assert!(err.to_string().starts_with("pkg.ocu.star:1:6"), "{err}");
    }

    #[test]
    fn error_in_loaded_file_names_that_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "lib/bad.ocu.star", "X = 1\nY = X + 'a'\n");
        write(
            dir.path(),
            "pkg.ocu.star",
            "load('./lib/bad.ocu.star', 'X')\n",
        );
        let err = eval(dir.path(), "pkg.ocu.star").expect_err("fails");
        match err {
            EvalError::Eval { file, rendered } => {
                assert_eq!(file, PathBuf::from("lib/bad.ocu.star"));
                assert!(rendered.contains("lib/bad.ocu.star:2:5"), "{rendered}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn dialect_and_builtins() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "pkg.ocu.star",
            r#"
ocuroot("0.3.x")
def f(a, b = 2, *args, **kwargs):
    return a + b + len(args) + len(kwargs)
sq = [x * x for x in range(4) if x > 0]
d = {k: v for k, v in [("a", 1)]}
g = lambda x: x + 1
s = struct(name = "n", n = f(1, b = 3, c = 4))
E = json.encode({"b": [1, True, None], "a": s.name, "c": {"z": 1, "y": "q"}})
D = json.decode('{"k": [1, 2.5, "x"]}')
I = json.indent('{"a":[1,2]}', indent = "  ")
EI = json.encode_indent({"a": 1})
R = str(sq) + str(d) + str(g(1)) + str(s.n) + str(D["k"])
"#,
        );
        let (m, _) = eval(dir.path(), "pkg.ocu.star").expect("evaluates");
        assert_eq!(get_str(&m, "R"), "[1, 4, 9]{\"a\": 1}25[1, 2.5, \"x\"]");
        assert_eq!(
            get_str(&m, "E"),
            r#"{"a":"n","b":[1,true,null],"c":{"y":"q","z":1}}"#
        );
        assert_eq!(get_str(&m, "I"), "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
        assert_eq!(get_str(&m, "EI"), "{\n\t\"a\": 1\n}");
    }

    #[test]
    fn version_error_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "pkg.ocu.star", "ocuroot('2.0.0')\n");
        let err = eval(dir.path(), "pkg.ocu.star").expect_err("bad version");
        match &err {
            EvalError::Version { location, source } => {
                assert!(location.starts_with("pkg.ocu.star:1:1"), "{location}");
                assert_eq!(source.to_string(), "version 2.0.0 not found");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
