use serde_json::json;

use super::*;
use crate::model::{DeploySpec, InputDesc, TaskSpec};

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn env(name: &str, kind: &str) -> Environment {
    Environment {
        name: name.to_owned(),
        attributes: [("type".to_owned(), kind.to_owned())].into_iter().collect(),
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    sink: Arc<CollectingSink>,
    secrets: Secrets,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, content) in files {
            write(dir.path(), path, content);
        }
        Fixture {
            dir,
            sink: Arc::new(CollectingSink::default()),
            secrets: Secrets::default(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn opts(&self, file: &str) -> PackageEvalOptions {
        PackageEvalOptions {
            root: self.root().to_path_buf(),
            file: file.to_owned(),
            base_ref: Ref::parse(&format!("minimal/repo/-/{file}/@r1")).expect("ref"),
            environments: vec![
                env("production", "prod"),
                env("production2", "prod"),
                env("staging", "staging"),
            ],
            host: HostContext {
                env: BTreeMap::new(),
                cwd: self.root().to_path_buf(),
            },
            sink: self.sink.clone(),
            secrets: self.secrets.clone(),
        }
    }

    fn eval(&self, file: &str) -> Result<PackageEval, EvalError> {
        evaluate_package(&self.opts(file))
    }

    fn package(&self, file: &str) -> LoadedPackage {
        match self.eval(file) {
            Ok(PackageEval::Package(p)) => p,
            other => panic!("expected a package, got {other:?}"),
        }
    }

    fn eval_error(&self, file: &str) -> String {
        match self.eval(file) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("expected an error, got {other:?}"),
        }
    }

    fn call_ctx(&self, sink: Arc<CollectingSink>) -> CallContext {
        CallContext {
            host: HostContext {
                env: BTreeMap::new(),
                cwd: self.root().to_path_buf(),
            },
            package_dir: self.root().to_path_buf(),
            sink,
            secrets: self.secrets.clone(),
        }
    }
}

fn call(
    pkg: &LoadedPackage,
    fx: &Fixture,
    name: &str,
    pos: &str,
    inputs: serde_json::Value,
) -> (CallOutcome, Vec<String>) {
    let sink = Arc::new(CollectingSink::default());
    let inputs: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(inputs).expect("input map");
    let f = FnDef {
        name: name.to_owned(),
        pos: pos.to_owned(),
    };
    assert!(pkg.function(&f), "unknown function {}", f.key());
    let outcome = pkg.call(&f, &inputs, &fx.call_ctx(sink.clone()));
    (outcome, sink.lines())
}

fn failed(outcome: CallOutcome) -> String {
    match outcome {
        CallOutcome::Failed { message } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

const TASKS: &str = r##"def build():
    print("building on", os())
    return done(outputs = {"output1": 5.5, "output2": "value2"})

def up(environment, input1, previous_count = 0, staging_name = ""):
    print("deploying to " + environment["name"])
    count = previous_count + 1
    return next(up_stage2, inputs = {"count": count, "environment": environment, "input1": input1})

def up_stage2(count, environment, input1):
    return done(outputs = {"env_name": environment["name"], "count": count}, tags = ["v" + str(count)])

def down(environment, staging_name = "", previous_count = 0, input1 = None):
    return done()
"##;

const BASIC: &str = r##"load("./tasks.ocu.star", "build", "up", "down")

task(build, name = "build")

phase(
    "staging",
    [
        deploy(
            environment = e,
            up = up,
            down = down,
            inputs = {
                "input1": ref("./call/build#output/output1"),
                "previous_count": input(ref = "./@/deploy/" + e.name + "#output/count", default = 0),
            },
        )
        for e in environments()
        if e.attributes["type"] == "staging"
    ],
)

phase(
    "prod",
    tasks = [
        deploy(
            environment = e,
            up = up,
            down = down,
            inputs = {
                "input1": ref("./task/build#output/output1"),
                "staging_name": ref("./@/deploy/staging#output/env_name"),
            },
        )
        for e in environments()
        if e.attributes["type"] == "prod"
    ],
)
"##;

fn fn_def(name: &str, pos: &str) -> FnDef {
    FnDef {
        name: name.to_owned(),
        pos: pos.to_owned(),
    }
}

#[test]
fn basic_package_structure() {
    let fx = Fixture::new(&[("tasks.ocu.star", TASKS), ("basic.ocu.star", BASIC)]);
    let pkg = fx.package("basic.ocu.star");
    let names: Vec<&str> = pkg.package.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["", "staging", "prod"]);
    assert_eq!(
        pkg.package.phases[0].tasks,
        vec![WorkSpec::Task(TaskSpec {
            name: "build".to_owned(),
            function: fn_def("build", "tasks.ocu.star:1:5"),
            inputs: Inputs::new(),
            annotation: String::new(),
        })]
    );
    let staging = &pkg.package.phases[1].tasks;
    assert_eq!(staging.len(), 1);
    let WorkSpec::Deploy(DeploySpec {
        environment,
        up,
        down,
        inputs,
    }) = &staging[0]
    else {
        panic!("expected a deploy, got {staging:?}");
    };
    assert_eq!(environment, "staging");
    assert_eq!(up, &fn_def("up", "tasks.ocu.star:5:5"));
    assert_eq!(down, &fn_def("down", "tasks.ocu.star:13:5"));
    assert_eq!(
        inputs["environment"],
        InputDesc {
            reference: Some("@/environment/staging".to_owned()),
            default: None,
            value: None,
        }
    );
    assert_eq!(
        inputs["input1"].reference.as_deref(),
        Some("minimal/repo/-/basic.ocu.star/@r1/task/build#output/output1")
    );
    assert_eq!(
        inputs["previous_count"],
        InputDesc {
            reference: Some(
                "minimal/repo/-/basic.ocu.star/@/deploy/staging#output/count".to_owned()
            ),
            default: Some(json!(0)),
            value: None,
        }
    );
    let prod: Vec<&str> = pkg.package.phases[2]
        .tasks
        .iter()
        .map(WorkSpec::name)
        .collect();
    assert_eq!(prod, ["production", "production2"]);

    // The serialized form is the release document's `package`.
    let doc = crate::model::to_json(&pkg.package);
    assert_eq!(
        doc["phases"][1]["tasks"][0]["deploy"]["up"],
        json!({"name": "up", "pos": "tasks.ocu.star:5:5"})
    );
    assert_eq!(
        doc["phases"][0]["tasks"][0],
        json!({"task": {"name": "build", "fn": {"name": "build", "pos": "tasks.ocu.star:1:5"}}})
    );
    assert_eq!(
        doc["phases"][2]["tasks"][0]["deploy"]["inputs"]["environment"],
        json!({"ref": "@/environment/production"})
    );
}

#[test]
fn calls_next_chain_and_tags() {
    let fx = Fixture::new(&[("tasks.ocu.star", TASKS), ("basic.ocu.star", BASIC)]);
    let pkg = fx.package("basic.ocu.star");

    let (outcome, lines) = call(&pkg, &fx, "build", "tasks.ocu.star:1:5", json!({}));
    let mut outputs = JsonMap::new();
    outputs.insert("output1".to_owned(), json!(5.5));
    outputs.insert("output2".to_owned(), json!("value2"));
    assert_eq!(
        outcome,
        CallOutcome::Done {
            outputs,
            tags: vec![],
            watch: vec![]
        }
    );
    assert_eq!(
        lines,
        vec![format!("building on {}", crate::sdk::host::go_os())]
    );

    let environment = json!({"name": "staging", "attributes": {"type": "staging"}});
    let (outcome, lines) = call(
        &pkg,
        &fx,
        "up",
        "tasks.ocu.star:5:5",
        json!({"environment": environment, "input1": 5.5, "previous_count": 0}),
    );
    assert_eq!(lines, vec!["deploying to staging"]);
    let CallOutcome::Next { function, inputs } = outcome else {
        panic!("expected next, got {outcome:?}");
    };
    assert_eq!(function, fn_def("up_stage2", "tasks.ocu.star:10:5"));
    assert_eq!(inputs["count"], InputDesc::literal(json!(1)));
    assert_eq!(
        inputs["environment"],
        InputDesc::literal(environment.clone())
    );

    let values: serde_json::Value = inputs
        .iter()
        .map(|(k, v)| (k.clone(), v.effective().cloned().unwrap_or_default()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let (outcome, _) = call(&pkg, &fx, &function.name, &function.pos, values);
    let CallOutcome::Done { outputs, tags, .. } = outcome else {
        panic!("expected done, got {outcome:?}");
    };
    assert_eq!(tags, vec!["v1"]);
    assert_eq!(outputs["env_name"], json!("staging"));
    assert_eq!(outputs["count"], json!(1));

    assert!(!pkg.function(&fn_def("up_stage2", "tasks.ocu.star:1:5")));
    assert_eq!(
        failed(pkg.call(
            &fn_def("nope", "tasks.ocu.star:1:5"),
            &BTreeMap::new(),
            &fx.call_ctx(Arc::new(CollectingSink::default()))
        )),
        "function nope/tasks.ocu.star:1:5 not found"
    );
}

#[test]
fn functions_resolve_after_re_evaluation_and_across_threads() {
    let fx = Fixture::new(&[("tasks.ocu.star", TASKS), ("basic.ocu.star", BASIC)]);
    let first = fx.package("basic.ocu.star");
    let second = fx.package("basic.ocu.star");
    assert_eq!(first.package, second.package);
    for work in first.package.phases.iter().flat_map(|p| &p.tasks) {
        assert!(second.function(work.entry()), "{:?}", work.entry());
    }
    let pkg = Arc::new(second);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let pkg = pkg.clone();
            let fx = &fx;
            s.spawn(move || {
                for _ in 0..20 {
                    let (outcome, _) = call(&pkg, fx, "build", "tasks.ocu.star:1:5", json!({}));
                    assert!(matches!(outcome, CallOutcome::Done { .. }), "{outcome:?}");
                }
            });
        }
    });
}

#[test]
fn placement_rules() {
    let fx = Fixture::new(&[
        (
            "only.ocu.star",
            "def build():\n    pass\ntask(build, \"build\")\n",
        ),
        (
            "mixed.ocu.star",
            r##"def f():
    pass
a = task(f, "a")
b = call(f, name = "b")
phase("p", [b])
c = task(f, "c")
d = task(f, "d")
phase("q", work = [d])
task(f, "e")
"##,
        ),
    ]);
    let only = fx.package("only.ocu.star");
    assert_eq!(only.package.phases.len(), 1);
    assert_eq!(only.package.phases[0].name, "");
    assert_eq!(only.package.phases[0].tasks[0].name(), "build");

    let mixed = fx.package("mixed.ocu.star");
    let shape: Vec<(String, Vec<&str>)> = mixed
        .package
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.tasks.iter().map(WorkSpec::name).collect()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (String::new(), vec!["a"]),
            ("p".to_owned(), vec!["b"]),
            (String::new(), vec!["c"]),
            ("q".to_owned(), vec!["d"]),
            (String::new(), vec!["e"]),
        ]
    );
}

#[test]
fn ctx_style_kwargs_none_and_result_shapes() {
    let fx = Fixture::new(&[(
        "pkg.ocu.star",
        r##"def with_ctx(ctx):
    return done(outputs = {"a": ctx.inputs.a, "s": str(ctx.inputs.env)})

def nothing(x = 1):
    print("no done")

def plain_dict():
    return {"outputs": {"k": 1}}

def a_string():
    return "oops"

def env_str(environment):
    return done(outputs = {"s": str(environment)}, watch = ["src/"])

def failing():
    x = 1
    fail("boom", x)

def bad_tag():
    return done(tags = ["invalid/tag"])

def release_tag():
    return done(tags = ["r123"])

def uses_helpers():
    return outputs(v = unwrap({"k": "v"}, "k"))

def missing_key():
    return unwrap({}, "k")

task(with_ctx, "a", inputs = {"a": 1, "env": {"value": {"z": 1, "a": 2}}})
task(nothing, "b")
"##,
    )]);
    let pkg = fx.package("pkg.ocu.star");
    let pos = |name: &str| {
        let line = std::fs::read_to_string(fx.root().join("pkg.ocu.star"))
            .expect("read")
            .lines()
            .position(|l| l.starts_with(&format!("def {name}(")))
            .expect("def exists");
        format!("pkg.ocu.star:{}:5", line + 1)
    };
    let done_outputs = |outcome: CallOutcome| match outcome {
        CallOutcome::Done { outputs, .. } => serde_json::Value::Object(outputs),
        other => panic!("expected done, got {other:?}"),
    };

    let (outcome, _) = call(
        &pkg,
        &fx,
        "with_ctx",
        &pos("with_ctx"),
        json!({"a": 1, "env": {"z": 1, "a": 2}}),
    );
    assert_eq!(
        done_outputs(outcome),
        json!({"a": 1, "s": "{\"a\": 2, \"z\": 1}"})
    );

    let (outcome, lines) = call(&pkg, &fx, "nothing", &pos("nothing"), json!({}));
    assert_eq!(done_outputs(outcome), json!({}));
    assert_eq!(lines, vec!["no done"]);

    let (outcome, _) = call(&pkg, &fx, "plain_dict", &pos("plain_dict"), json!({}));
    assert_eq!(done_outputs(outcome), json!({"k": 1}));

    let (outcome, _) = call(&pkg, &fx, "a_string", &pos("a_string"), json!({}));
    assert!(failed(outcome).starts_with("invalid return value"));

    // Dicts built from JSON iterate in key order, whatever order the JSON had.
    let env_a = json!({"name": "staging", "attributes": {"type": "staging", "a": "b"}});
    let (outcome, _) = call(
        &pkg,
        &fx,
        "env_str",
        &pos("env_str"),
        json!({"environment": env_a}),
    );
    let CallOutcome::Done { outputs, watch, .. } = outcome else {
        panic!("expected done");
    };
    assert_eq!(
        outputs["s"],
        json!(r##"{"attributes": {"a": "b", "type": "staging"}, "name": "staging"}"##)
    );
    assert_eq!(watch, vec!["src/"]);

    let message = failed(call(&pkg, &fx, "failing", &pos("failing"), json!({})).0);
    let fail_line = std::fs::read_to_string(fx.root().join("pkg.ocu.star"))
        .expect("read")
        .lines()
        .position(|l| l.contains("fail(\"boom\""))
        .expect("line")
        + 1;
    assert!(
        message.starts_with(&format!("pkg.ocu.star:{fail_line}:5: ")),
        "{message}"
    );
    assert!(message.ends_with(": fail: boom 1"), "{message}");

    assert_eq!(
        failed(call(&pkg, &fx, "bad_tag", &pos("bad_tag"), json!({})).0),
        "invalid tag: invalid/tag"
    );
    assert_eq!(
        failed(call(&pkg, &fx, "release_tag", &pos("release_tag"), json!({})).0),
        "tags must not be in the release format (r<number>): r123"
    );
    let (outcome, _) = call(&pkg, &fx, "uses_helpers", &pos("uses_helpers"), json!({}));
    assert_eq!(done_outputs(outcome), json!({"v": "v"}));
    let message = failed(call(&pkg, &fx, "missing_key", &pos("missing_key"), json!({})).0);
    assert!(message.starts_with("pkg.ocu.star:"), "{message}");
    assert!(message.contains("expected key k in {}"), "{message}");
}

#[test]
fn next_validation() {
    let fx = Fixture::new(&[(
        "badinputsinnext.ocu.star",
        r##"def foo():
    return next(bar, inputs = {"0startswithnumber": 1, "bad-input": 2})

def bar():
    return done()

def baz():
    return next(anything, inputs = {"bad-input": 2})

def anything(**kwargs):
    return done()

def nested():
    def inner():
        pass
    return next(inner)

def no_inputs():
    return next(bar, annotation = "wait")

task(foo, "foo")
"##,
    )]);
    let pkg = fx.package("badinputsinnext.ocu.star");
    let message = failed(call(&pkg, &fx, "foo", "badinputsinnext.ocu.star:1:5", json!({})).0);
    assert_eq!(
        message,
        "badinputsinnext.ocu.star:2:12: Input '0startswithnumber' is not in function parameters \
         for 'bar' at badinputsinnext.ocu.star:4:5"
    );
    assert_eq!(
        failed(call(&pkg, &fx, "baz", "badinputsinnext.ocu.star:7:5", json!({})).0),
        "invalid input name \"bad-input\""
    );
    let message = failed(
        call(
            &pkg,
            &fx,
            "nested",
            "badinputsinnext.ocu.star:13:5",
            json!({}),
        )
        .0,
    );
    assert!(
        message.ends_with(
            "function \"inner\" must be defined at the top level of a file, it was defined at \
             badinputsinnext.ocu.star:14:9"
        ),
        "{message}"
    );
    let (outcome, _) = call(
        &pkg,
        &fx,
        "no_inputs",
        "badinputsinnext.ocu.star:18:5",
        json!({}),
    );
    assert_eq!(
        outcome,
        CallOutcome::Next {
            function: fn_def("bar", "badinputsinnext.ocu.star:4:5"),
            inputs: Inputs::new()
        }
    );
}

#[test]
fn evaluation_errors_name_the_users_position() {
    let fx = Fixture::new(&[
        (
            "badinputs.ocu.star",
            "def foo():\n    pass\n\ntask(foo, name = \"foo\", inputs = {\"0startswithnumber\": 1, \"bad-input\": 2})\n",
        ),
        (
            "functionargs.ocu.star",
            "def foo(i1, missing, i2 = \"default\"):\n    pass\n\ntask(foo, name = \"foo\", inputs = {\"i1\": 1, \"i2\": 2})\n",
        ),
        (
            "environments.ocu.star",
            "register_environment(environment(\"staging\"))\nregister_environment(environment(\"invalid/name\"))\n",
        ),
        (
            "nested.ocu.star",
            "def make():\n    def inner(environment):\n        pass\n    return inner\n\ndef down(environment):\n    pass\n\ndeploy(environment = environment(\"staging\"), up = make(), down = down)\n",
        ),
        (
            "reserved.ocu.star",
            "def up(environment):\n    pass\n\ndeploy(environment = environment(\"staging\"), up = up, down = up, inputs = {\"environment\": 1})\n",
        ),
        (
            "downargs.ocu.star",
            "def up(environment, x):\n    pass\n\ndef down(environment):\n    pass\n\ndeploy(environment = environment(\"staging\"), up = up, down = down, inputs = {\"x\": 1})\n",
        ),
        (
            "duplicates.ocu.star",
            r##"def f(environment = None):
    pass
e = environment("staging")
task(f, "t")
phase("a", [deploy(environment = e, up = f, down = f)])
phase("b", [deploy(environment = e, up = f, down = f), task(f, "t")])
"##,
        ),
        (
            "both.ocu.star",
            "def f():\n    pass\ntask(f, \"t\")\nregister_environment(environment(\"x\"))\n",
        ),
        ("noinput.ocu.star", "input()\n"),
    ]);
    let msg = fx.eval_error("badinputs.ocu.star");
    assert!(
        msg.contains(
            "Input '0startswithnumber' is not in function parameters for 'foo' at badinputs.ocu.star:1:5"
        ),
        "{msg}"
    );
    assert!(msg.contains("badinputs.ocu.star:4:1"), "{msg}");

    let msg = fx.eval_error("functionargs.ocu.star");
    assert!(
        msg.contains(
            "Function parameter 'missing' is not present in inputs and has no default value for 'foo' at functionargs.ocu.star:1:5"
        ),
        "{msg}"
    );

    let msg = fx.eval_error("environments.ocu.star");
    assert!(
        msg.contains(
            "environment names may only contain letters, numbers, periods and underscores: invalid/name"
        ),
        "{msg}"
    );
    assert!(msg.contains("environments.ocu.star:2:1"), "{msg}");

    let msg = fx.eval_error("nested.ocu.star");
    assert!(
        msg.contains(
            "function \"inner\" must be defined at the top level of a file, it was defined at nested.ocu.star:2:9"
        ),
        "{msg}"
    );

    let msg = fx.eval_error("reserved.ocu.star");
    assert!(
        msg.contains("environment is a reserved input for deployments"),
        "{msg}"
    );

    let msg = fx.eval_error("downargs.ocu.star");
    assert!(
        msg.contains("Input 'x' is not in function parameters for 'down' at downargs.ocu.star:4:5"),
        "{msg}"
    );

    let err = fx.eval("duplicates.ocu.star").expect_err("invalid");
    assert!(matches!(err, EvalError::Validation { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "validation: Package validation failed:\n  \
         - Environment 'staging' is used in 2 phases, should be used in exactly one\n  \
         - Task 't' is used in 2 phases, should be used in exactly one"
    );

    assert_eq!(
        fx.eval_error("both.ocu.star"),
        "both.ocu.star: environments and packages should not be declared in the same file"
    );
    let msg = fx.eval_error("noinput.ocu.star");
    assert!(
        msg.contains("input must have either ref or default"),
        "{msg}"
    );
}

#[test]
fn environments_file_and_helpers() {
    let fx = Fixture::new(&[
        (
            "environments/package.ocu.star",
            r##"register_environment(environment("staging", {"type": "staging"}))
register_environment(environment_from_json('{"name": "production", "attributes": {"type": "prod"}}'))
e = environment_from_dict({"name": "production2", "attributes": {"type": "prod"}})
register_environment(e)
print(e.json())
print(str(e.dict()))
print(str([x.name for x in environments()]))
"##,
        ),
        ("nothing.ocu.star", "def helper():\n    pass\n"),
    ]);
    let envs = match fx.eval("environments/package.ocu.star").expect("evaluates") {
        PackageEval::Environments(envs) => envs,
        other => panic!("expected environments, got {other:?}"),
    };
    assert_eq!(
        envs,
        vec![
            env("staging", "staging"),
            env("production", "prod"),
            env("production2", "prod")
        ]
    );
    assert_eq!(
        fx.sink.lines(),
        vec![
            r##"{"attributes":{"type":"prod"},"name":"production2"}"##,
            r##"{"name": "production2", "attributes": {"type": "prod"}}"##,
            r##"["production", "production2", "staging"]"##,
        ]
    );
    assert!(matches!(
        fx.eval("nothing.ocu.star").expect("evaluates"),
        PackageEval::Nothing
    ));
}

#[test]
fn secrets_are_masked_in_evaluation_and_calls() {
    let fx = Fixture::new(&[(
        "release.ocu.star",
        r##"def fn():
    secret("abc123")
    print("abc123")
    print("def456 and abc123")
    shell("echo abc123")
    return done()

task(fn, "fn")
secret("def456")
print("def456")
"##,
    )]);
    let pkg = fx.package("release.ocu.star");
    assert_eq!(fx.sink.lines(), vec!["<secret>"]);
    let (outcome, lines) = call(&pkg, &fx, "fn", "release.ocu.star:1:5", json!({}));
    assert!(matches!(outcome, CallOutcome::Done { .. }), "{outcome:?}");
    assert_eq!(lines, vec!["<secret>", "<secret> and <secret>", "<secret>"]);
    assert_eq!(fx.secrets.mask("abc123"), "<secret>");
}

#[test]
fn host_functions_use_the_package_directory() {
    let fx = Fixture::new(&[
        ("backend/src.txt", "Content here"),
        (
            "backend/package.ocu.star",
            r##"load("../lib/tasks.ocu.star", "build")
print(read("src.txt"))
task(build, "build")
"##,
        ),
        (
            "lib/tasks.ocu.star",
            r##"def build():
    write(".build/output.txt", read("src.txt"))
    return done(outputs = {"pwd": pwd(), "dir": is_dir(".build"), "ls": read_dir(".build")})
"##,
        ),
    ]);
    let pkg = fx.package("backend/package.ocu.star");
    assert_eq!(fx.sink.lines(), vec!["Content here"]);
    let backend = fx.root().join("backend");
    let ctx = CallContext {
        package_dir: backend.clone(),
        ..fx.call_ctx(Arc::new(CollectingSink::default()))
    };
    let outcome = pkg.call(
        &fn_def("build", "lib/tasks.ocu.star:1:5"),
        &BTreeMap::new(),
        &ctx,
    );
    let CallOutcome::Done { outputs, .. } = outcome else {
        panic!("expected done, got {outcome:?}");
    };
    assert_eq!(outputs["pwd"], json!(backend.to_string_lossy()));
    assert_eq!(outputs["dir"], json!(true));
    assert_eq!(outputs["ls"], json!(["output.txt"]));
}

#[test]
fn inputs_and_refs() {
    let fx = Fixture::new(&[(
        "pkg.ocu.star",
        r##"def f(a, b, c, d, e):
    pass

task(f, "t", inputs = {
    "a": input(default = 3),
    "b": input(ref = ref("./custom/approval")),
    "c": {"value": 1},
    "d": [1, 2],
    "e": ref("other.ocu.star/@/deploy/staging#output/x"),
})
"##,
    )]);
    let pkg = fx.package("pkg.ocu.star");
    let inputs = pkg.package.phases[0].tasks[0].inputs();
    let json = crate::model::to_json(inputs);
    assert_eq!(
        json,
        json!({
            "a": {"default": 3},
            "b": {"ref": "minimal/repo/-/pkg.ocu.star/@r1/custom/approval"},
            "c": {"value": 1},
            "d": {"value": [1, 2]},
            "e": {"ref": "minimal/repo/-/pkg.ocu.star/other.ocu.star/@/deploy/staging#output/x"},
        })
    );
}

#[test]
fn expressions_evaluate_to_json() {
    assert_eq!(
        eval_expression_json(r##"{"b": 1, "a": [1, True, None, "x"], "c": struct(k = 2.5)}"##)
            .expect("evaluates"),
        json!({"a": [1, true, null, "x"], "b": 1, "c": {"k": 2.5}})
    );
    assert_eq!(
        eval_expression_json("environment('x').dict()").expect("evaluates"),
        json!({"name": "x", "attributes": {}})
    );
    let err = eval_expression_json("ref('./x')").expect_err("unavailable");
    assert!(
        err.to_string()
            .contains("ref is not available under the current configuration"),
        "{err}"
    );
    assert!(eval_expression_json("1 +").is_err());
}

#[test]
fn private_and_aliased_functions() {
    let fx = Fixture::new(&[
        (
            "lib.ocu.star",
            "def approve(approval):\n    return next(_noop, inputs = {\"approval\": input(ref = ref(\"./custom/approval2\"))})\n\ndef _noop(approval):\n    debug_break()\n    return done(outputs = {\"approval\": approval})\n",
        ),
        (
            "approvals.ocu.star",
            "load(\"./lib.ocu.star\", gate = \"approve\")\ntask(gate, \"prod_approval\", inputs = {\"approval\": input(ref = ref(\"./custom/approval\"))})\n",
        ),
    ]);
    let pkg = fx.package("approvals.ocu.star");
    let WorkSpec::Task(task) = &pkg.package.phases[0].tasks[0] else {
        panic!("expected a task");
    };
    assert_eq!(task.function, fn_def("approve", "lib.ocu.star:1:5"));
    assert_eq!(
        task.inputs["approval"].reference.as_deref(),
        Some("minimal/repo/-/approvals.ocu.star/@r1/custom/approval")
    );
    let (outcome, _) = call(
        &pkg,
        &fx,
        "approve",
        "lib.ocu.star:1:5",
        json!({"approval": 1}),
    );
    let CallOutcome::Next { function, inputs } = outcome else {
        panic!("expected next, got {outcome:?}");
    };
    assert_eq!(function, fn_def("_noop", "lib.ocu.star:4:5"));
    assert_eq!(
        inputs["approval"].reference.as_deref(),
        Some("minimal/repo/-/approvals.ocu.star/@r1/custom/approval2")
    );
    let (outcome, _) = call(
        &pkg,
        &fx,
        "_noop",
        "lib.ocu.star:4:5",
        json!({"approval": 2}),
    );
    assert!(
        matches!(&outcome, CallOutcome::Done { outputs, .. } if outputs["approval"] == json!(2)),
        "{outcome:?}"
    );
}

#[test]
fn sdk_version_scenario() {
    let tasks = r##"ocuroot("0.3.14")

def build():
    res = shell("echo hi", mute = True)
    print(os(), arch(), res.stdout.strip())
    return done(outputs = {"version_used": "0.3.14", "test_result": "success"})

def deploy_test(version_used, test_result):
    return done()
"##;
    for (file, line) in [
        ("version_test.ocu.star", "ocuroot(\"0.3.14\")\n"),
        ("no_version_test.ocu.star", ""),
        ("semver_test.ocu.star", "ocuroot(\"0.3.x\")\n"),
        ("semver_constraint_test.ocu.star", "ocuroot(\">=0.3\")\n"),
    ] {
        let source = format!(
            "{line}load(\"./tasks.ocu.star\", \"build\", \"deploy_test\")\n\
             task(build, name = \"build\")\n\
             phase(\"deploy\", [task(deploy_test, name = \"deploy_test\", inputs = {{\n\
             \"version_used\": ref(\"./task/build#output/version_used\"),\n\
             \"test_result\": ref(\"./task/build#output/test_result\"),\n}})])\n"
        );
        let fx = Fixture::new(&[("tasks.ocu.star", tasks), (file, &source)]);
        let pkg = fx.package(file);
        let names: Vec<(&str, Vec<&str>)> = pkg
            .package
            .phases
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.tasks.iter().map(WorkSpec::name).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![("", vec!["build"]), ("deploy", vec!["deploy_test"])]
        );
        let (outcome, lines) = call(&pkg, &fx, "build", "tasks.ocu.star:3:5", json!({}));
        assert!(matches!(outcome, CallOutcome::Done { .. }), "{outcome:?}");
        assert!(
            lines.last().is_some_and(|l| l.ends_with(" hi")),
            "{lines:?}"
        );
        let (outcome, _) = call(
            &pkg,
            &fx,
            "deploy_test",
            "tasks.ocu.star:8:5",
            json!({"version_used": "0.3.14", "test_result": "success"}),
        );
        assert!(matches!(outcome, CallOutcome::Done { .. }), "{outcome:?}");
    }
}

#[derive(Default)]
struct LocatingSink(std::sync::Mutex<Vec<String>>);

impl PrintSink for LocatingSink {
    fn print(&self, line: &str) {
        self.0.lock().expect("lock").push(line.to_owned());
    }

    fn print_at(&self, line: &str, at: &crate::sdk::SourceLocation) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("{}:{}:{} {line}", at.filename, at.line, at.col));
    }
}

#[test]
fn prints_carry_their_position() {
    let fx = Fixture::new(&[
        (
            "lib/tasks.ocu.star",
            "def build():\n    secret(\"s3cr3t\")\n    print(\"a\", 1, \"s3cr3t\", sep = \"-\")\n    print(\"two\\nlines\")\n    shell(\"echo out\")\n",
        ),
        (
            "pkg.ocu.star",
            "load(\"./lib/tasks.ocu.star\", \"build\")\n\ntask(build, \"build\")\n",
        ),
    ]);
    let pkg = fx.package("pkg.ocu.star");
    let sink = Arc::new(LocatingSink::default());
    let ctx = CallContext {
        sink: sink.clone(),
        ..fx.call_ctx(Arc::new(CollectingSink::default()))
    };
    let outcome = pkg.call(
        &fn_def("build", "lib/tasks.ocu.star:1:5"),
        &BTreeMap::new(),
        &ctx,
    );
    assert!(matches!(outcome, CallOutcome::Done { .. }), "{outcome:?}");
    assert_eq!(
        sink.0.lock().expect("lock").clone(),
        vec![
            "lib/tasks.ocu.star:3:5 a-1-<secret>",
            "lib/tasks.ocu.star:4:5 two",
            "lib/tasks.ocu.star:4:5 lines",
            "out",
        ]
    );
}
