//! The keyword table test (issue 11): every SDK global and namespace member takes its
//! parameters by keyword, with the names of the original's Starlark stubs (SDK 0.3.0, spec
//! §4). The table lists one keyword call per builtin; [`every_sdk_name_is_in_the_table`]
//! fails when a builtin is added without a row, and the scenario tests evaluate every row
//! in a real package, environments or repo file, where a rejected keyword is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::eval::Evaluator;
use starlark::syntax::AstModule;

use crate::config::evaluate_repo_config;
use crate::model::Environment;
use crate::refs::Ref;
use crate::sdk::package::package_globals;
use crate::sdk::{
    CollectingSink, HostContext, PackageEval, PackageEvalOptions, Secrets, dialect,
    evaluate_package, globals_builder,
};

/// Where a row is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// A package file (tasks, deploys, phases, host access).
    Package,
    /// A file that registers environments.
    Environments,
    /// `repo.ocu.star`.
    Repo,
}

/// One builtin, called by keyword with the stub's parameter names. `HTTP` stands for the
/// address of a local test server.
const TABLE: &[(&str, Scope, &str)] = &[
    ("ocuroot", Scope::Package, r#"ocuroot(version = "0.3.0")"#),
    (
        "task",
        Scope::Package,
        r#"task(fn = build, name = "build", annotation = "a", inputs = {"x": 1})"#,
    ),
    (
        "call",
        Scope::Package,
        r#"call(fn = build, name = "build2", annotation = "", inputs = {})"#,
    ),
    (
        "deploy",
        Scope::Package,
        r#"deploy(environment = STAGING, up = up, down = down, inputs = {"x": 2})"#,
    ),
    (
        "phase",
        Scope::Package,
        r#"phase(name = "staging", work = [], tasks = [K_deploy])"#,
    ),
    ("ref", Scope::Package, r#"ref(ref = "./custom/x")"#),
    (
        "input",
        Scope::Package,
        r#"input(ref = "./custom/x", default = 1)"#,
    ),
    (
        "done",
        Scope::Package,
        r#"done(annotation = "a", outputs = {"o": 1}, tags = ["v1"], watch = ["src"])"#,
    ),
    (
        "next",
        Scope::Package,
        r#"next(fn = build, annotation = "a", inputs = {"x": 3})"#,
    ),
    ("outputs", Scope::Package, r#"outputs(a = 1, b = "two")"#),
    (
        "unwrap",
        Scope::Package,
        r#"unwrap(d = {"k": 5}, key = "k")"#,
    ),
    (
        "environment",
        Scope::Package,
        r#"environment(name = "dev", attributes = {"type": "dev"})"#,
    ),
    ("environments", Scope::Package, r#"environments()"#),
    (
        "environment_from_json",
        Scope::Package,
        r#"environment_from_json(envJSON = '{"name": "dev", "attributes": {}}')"#,
    ),
    (
        "environment_from_dict",
        Scope::Package,
        r#"environment_from_dict(envDict = {"name": "dev", "attributes": {}})"#,
    ),
    ("debug_break", Scope::Package, r#"debug_break()"#),
    (
        "secret",
        Scope::Package,
        r#"secret(value = "s3cret-value")"#,
    ),
    ("os", Scope::Package, r#"os()"#),
    ("arch", Scope::Package, r#"arch()"#),
    ("env", Scope::Package, r#"env()"#),
    ("pwd", Scope::Package, r#"pwd()"#),
    (
        "shell",
        Scope::Package,
        r#"shell(command = "echo hi", shell = "sh", dir = ".", env = {"K": "v"}, mute = True, continue_on_error = False)"#,
    ),
    (
        "write",
        Scope::Package,
        r#"write(path = "out/a.txt", content = "alpha")"#,
    ),
    ("read", Scope::Package, r#"read(path = "out/a.txt")"#),
    ("read_dir", Scope::Package, r#"read_dir(path = "out")"#),
    ("is_dir", Scope::Package, r#"is_dir(path = "out")"#),
    ("host.os", Scope::Package, r#"host.os()"#),
    ("host.arch", Scope::Package, r#"host.arch()"#),
    ("host.env", Scope::Package, r#"host.env()"#),
    ("host.pwd", Scope::Package, r#"host.pwd()"#),
    (
        "host.shell",
        Scope::Package,
        r#"host.shell(command = "echo hi", shell = "sh", dir = ".", env = {}, mute = True, continue_on_error = True)"#,
    ),
    (
        "host.write_file",
        Scope::Package,
        r#"host.write_file(path = "out/b.txt", content = "beta")"#,
    ),
    (
        "host.read_file",
        Scope::Package,
        r#"host.read_file(path = "out/b.txt")"#,
    ),
    (
        "host.read_dir",
        Scope::Package,
        r#"host.read_dir(path = "out")"#,
    ),
    (
        "host.is_dir",
        Scope::Package,
        r#"host.is_dir(path = "out/b.txt")"#,
    ),
    (
        "http.get",
        Scope::Package,
        r#"http.get(url = HTTP + "/get", headers = {"X-A": "1"})"#,
    ),
    (
        "http.head",
        Scope::Package,
        r#"http.head(url = HTTP + "/head", headers = {})"#,
    ),
    (
        "http.delete",
        Scope::Package,
        r#"http.delete(url = HTTP + "/delete", headers = {})"#,
    ),
    (
        "http.post",
        Scope::Package,
        r#"http.post(url = HTTP + "/post", headers = {}, body = "p")"#,
    ),
    (
        "http.put",
        Scope::Package,
        r#"http.put(url = HTTP + "/put", headers = {}, body = "u")"#,
    ),
    (
        "http.patch",
        Scope::Package,
        r#"http.patch(url = HTTP + "/patch", headers = {}, body = "a")"#,
    ),
    // The standard Starlark json module: `x` is positional-only there too (Go Starlark).
    ("json.encode", Scope::Package, r#"json.encode({"a": 1})"#),
    ("json.decode", Scope::Package, r#"json.decode('{"a": 1}')"#),
    (
        "json.indent",
        Scope::Package,
        r#"json.indent('{"a":1}', prefix = "", indent = "  ")"#,
    ),
    (
        "json.encode_indent",
        Scope::Package,
        r#"json.encode_indent({"a": 1}, prefix = "", indent = "  ")"#,
    ),
    (
        "register_environment",
        Scope::Environments,
        r#"register_environment(env = environment(name = "staging", attributes = {}))"#,
    ),
    (
        "repo_alias",
        Scope::Repo,
        r#"repo_alias(alias = "kw/repo")"#,
    ),
    (
        "remotes",
        Scope::Repo,
        r#"remotes(remotes = ["https://example.invalid/kw.git"])"#,
    ),
    ("trigger", Scope::Repo, r#"trigger(fn = _trigger)"#),
    ("notify", Scope::Repo, r#"notify(fn = _notify)"#),
    (
        "store.git",
        Scope::Repo,
        r#"store.git(remote_url = "https://example.invalid/s.git", branch = "state", create_branch = False, support_files = {"a.txt": "x"})"#,
    ),
    (
        "store.fs",
        Scope::Repo,
        r#"store.fs(path = ".store/intent")"#,
    ),
    (
        "store.set",
        Scope::Repo,
        r#"store.set(state = K_store_git, intent = K_store_fs)"#,
    ),
];

/// What the keyword calls must return (checked inside the Starlark files, so a builtin
/// that accepts the keyword but ignores it also fails).
const PACKAGE_CHECKS: &str = r#"
def _check(cond, what):
    if not cond:
        fail("keyword call gave the wrong result: " + what)

_check(K_ref == {"ref": "kw/repo/-/pkg.ocu.star/@r1/custom/x"}, "ref")
_check(K_input == {"ref": "kw/repo/-/pkg.ocu.star/@r1/custom/x", "default": 1}, "input")
_check(K_task["task"]["name"] == "build" and K_task["task"]["inputs"] == {"x": {"value": 1}}, "task")
_check(K_call["task"]["name"] == "build2", "call")
_check(K_deploy["deploy"]["environment"] == "staging", "deploy")
_check(K_phase["phase"]["name"] == "staging", "phase")
_check(K_done["done"] == {"outputs": {"o": 1}, "tags": ["v1"], "watch": ["src"]}, "done")
_check(K_next["next"]["inputs"] == {"x": {"value": 3}} and K_next["next"]["annotation"] == "a", "next")
_check(K_outputs == {"outputs": {"a": 1, "b": "two"}}, "outputs")
_check(K_unwrap == 5, "unwrap")
_check(K_environment.name == "dev" and K_environment.attributes == {"type": "dev"}, "environment")
_check([e.name for e in K_environments] == ["staging"], "environments")
_check(K_environment_from_json.name == "dev" and K_environment_from_dict.name == "dev", "environment_from_*")
_check(K_secret == "s3cret-value", "secret")
_check(K_shell.stdout == "hi\n" and K_shell.exit_code == 0, "shell")
_check(K_host_shell.exit_code == 0, "host.shell")
_check(K_read == "alpha" and K_host_read_file == "beta", "read")
_check(K_read_dir == ["a.txt"] and K_host_read_dir == ["a.txt", "b.txt"], "read_dir")
_check(K_is_dir == True and K_host_is_dir == False, "is_dir")
_check(K_http_get.status_code == 200 and K_http_get.body == "GET /get 1", "http.get")
_check(K_http_post.body == "POST /post p" and K_http_put.body == "PUT /put u", "http.post/put")
_check(K_http_patch.body == "PATCH /patch a" and K_http_delete.status_code == 200, "http.patch/delete")
_check(K_json_decode == {"a": 1} and K_json_encode == '{"a":1}', "json")
"#;

const REPO_CHECKS: &str = r#"
if K_store_fs != {"fs": {"path": ".store/intent"}}:
    fail("store.fs")
if K_store_git["git"]["branch"] != "state" or K_store_git["git"]["create_branch"] != False:
    fail("store.git")
"#;

/// Returns the name a row's result is bound to: `K_<name>` with dots as underscores.
fn var(name: &str) -> String {
    format!("K_{}", name.replace('.', "_"))
}

fn rows(scope: Scope) -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE
        .iter()
        .filter(move |(_, s, _)| *s == scope)
        .map(|(n, _, c)| (*n, *c))
}

/// Returns `var = call` lines for the rows of `scope`.
fn bindings(scope: Scope, http: &str) -> String {
    rows(scope)
        .map(|(name, call)| {
            format!(
                "{} = {}\n",
                var(name),
                call.replace("HTTP", &format!("{http:?}"))
            )
        })
        .collect()
}

/// Lists the SDK names of `globals` beyond the Starlark universals, `struct` and `print`:
/// plain globals by name, namespace members as `ns.member`.
fn sdk_names(globals: &Globals) -> BTreeSet<String> {
    let base: BTreeSet<String> =
        GlobalsBuilder::extended_by(&[LibraryExtension::StructType, LibraryExtension::Print])
            .build()
            .names()
            .map(|n| n.as_str().to_owned())
            .collect();
    let mut out = BTreeSet::new();
    for name in globals.names() {
        let name = name.as_str().to_owned();
        if base.contains(&name) || name.starts_with('_') {
            continue;
        }
        let members = Module::with_temp_heap(|module| {
            let mut eval = Evaluator::new(&module);
            let src = format!("[{name}, type({name}), dir({name})]");
            let ast = AstModule::parse("names.star", src, &dialect()).expect("parses");
            let v = eval.eval_module(ast, globals).expect("evaluates");
            let list = starlark::values::list::ListRef::from_value(v).expect("list");
            let ty = list[1].unpack_str().unwrap_or_default().to_owned();
            let dir: Vec<String> = starlark::values::list::ListRef::from_value(list[2])
                .expect("dir list")
                .iter()
                .map(|m| m.unpack_str().unwrap_or_default().to_owned())
                .collect();
            starlark::Result::Ok((ty, dir))
        })
        .expect("names evaluate");
        match members {
            (ty, dir) if ty == "namespace" => {
                out.extend(dir.into_iter().map(|m| format!("{name}.{m}")));
            }
            _ => {
                out.insert(name);
            }
        }
    }
    out
}

/// The package-level builtins that only stand in for package builtins in `repo.ocu.star`
/// (they fail with "not available"), so the package rows cover their parameters.
const REPO_STAND_INS: &[&str] = &[
    "environments",
    "ref",
    "input",
    "task",
    "call",
    "deploy",
    "phase",
];

#[test]
fn every_sdk_name_is_in_the_table() {
    let table: BTreeSet<String> = TABLE.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    let mut names = sdk_names(package_globals());
    let repo_globals = globals_builder()
        .with(crate::sdk::repo_builtins::register_repo_builtins)
        .build();
    names.extend(
        sdk_names(&repo_globals)
            .into_iter()
            .filter(|n| !REPO_STAND_INS.contains(&n.as_str())),
    );
    let missing: Vec<&String> = names.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "SDK names without a keyword row: {missing:?}"
    );
    let stale: Vec<&String> = table.difference(&names).collect();
    assert!(
        stale.is_empty(),
        "keyword rows for names the SDK lacks: {stale:?}"
    );
}

/// Serves `n` requests, answering each with `METHOD PATH BODY` (the `X-A` header value for
/// a GET).
fn serve(n: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        for _ in 0..n {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("read");
            let (mut length, mut header) = (0usize, String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read");
                let line = line.trim_end().to_ascii_lowercase();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("content-length:") {
                    length = v.trim().parse().expect("length");
                }
                if let Some(v) = line.strip_prefix("x-a:") {
                    header = v.trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_owned();
            let path = parts.next().unwrap_or_default().to_owned();
            let tail = if body.is_empty() {
                header
            } else {
                String::from_utf8_lossy(&body).into_owned()
            };
            let text = format!("{method} {path} {tail}");
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let mut stream = stream;
            stream.write_all(response.as_bytes()).expect("write");
        }
    });
    (addr, handle)
}

fn eval_file(root: &Path, file: &str, source: &str) -> Result<PackageEval, String> {
    std::fs::write(root.join(file), source).expect("write");
    let opts = PackageEvalOptions {
        root: root.to_path_buf(),
        file: file.to_owned(),
        base_ref: Ref::parse(&format!("kw/repo/-/{file}/@r1")).expect("ref"),
        environments: vec![Environment {
            name: "staging".to_owned(),
            attributes: BTreeMap::new(),
        }],
        host: HostContext {
            env: BTreeMap::new(),
            cwd: root.to_path_buf(),
        },
        sink: Arc::new(CollectingSink::default()),
        secrets: Secrets::default(),
    };
    evaluate_package(&opts).map_err(|e| e.to_string())
}

const PACKAGE_PREAMBLE: &str = r#"
def build(x = 0):
    return done()

def up(environment, x = 0):
    return done()

def down(environment, x = 0):
    return done()

STAGING = environment(name = "staging", attributes = {})
"#;

#[test]
fn package_builtins_take_keywords() {
    let http_rows = rows(Scope::Package)
        .filter(|(n, _)| n.starts_with("http."))
        .count();
    let (addr, server) = serve(http_rows);
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!(
        "{PACKAGE_PREAMBLE}{}{PACKAGE_CHECKS}",
        bindings(Scope::Package, &addr)
    );
    match eval_file(dir.path(), "pkg.ocu.star", &source) {
        Ok(PackageEval::Package(p)) => {
            let names: Vec<&str> = p.package.phases.iter().map(|ph| ph.name.as_str()).collect();
            assert!(names.contains(&"staging"), "phases: {names:?}");
        }
        Ok(other) => panic!("expected a package, got {other:?}"),
        Err(e) => panic!("keyword calls failed: {e}"),
    }
    server.join().expect("server");
}

#[test]
fn environment_builtins_take_keywords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = bindings(Scope::Environments, "");
    match eval_file(dir.path(), "envs.ocu.star", &source) {
        Ok(PackageEval::Environments(envs)) => {
            assert_eq!(envs.len(), 1);
            assert_eq!(envs[0].name, "staging");
        }
        other => panic!("expected environments, got {other:?}"),
    }
}

#[test]
fn repo_builtins_take_keywords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!(
        "def _trigger(commit):\n    pass\n\ndef _notify(run):\n    pass\n\n{}{REPO_CHECKS}",
        bindings(Scope::Repo, "")
    );
    let host = HostContext {
        env: BTreeMap::new(),
        cwd: dir.path().to_path_buf(),
    };
    let config = evaluate_repo_config(
        Path::new("repo.ocu.star"),
        &source,
        &host,
        Arc::new(CollectingSink::default()),
    )
    .unwrap_or_else(|e| panic!("keyword calls failed: {e}"));
    assert_eq!(config.repo_alias.as_deref(), Some("kw/repo"));
    assert_eq!(
        config.remotes,
        Some(vec!["https://example.invalid/kw.git".to_owned()])
    );
    assert!(config.trigger.is_some());
    assert!(config.notify.is_some());
    assert!(config.stores.is_some());
}

/// The positional forms the stubs allow keep working beside the keywords.
#[test]
fn positional_forms_still_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = r#"
def build():
    return done()

r = ref("./custom/x")
s = secret("v")
write("f.txt", "c")
if read("f.txt") != "c" or r["ref"] != "kw/repo/-/pkg.ocu.star/@r1/custom/x" or s != "v":
    fail("positional")
task(build, "build")
"#;
    match eval_file(dir.path(), "pkg.ocu.star", source) {
        Ok(PackageEval::Package(_)) => {}
        Ok(other) => panic!("expected a package, got {other:?}"),
        Err(e) => panic!("positional calls failed: {e}"),
    }
}
