//! What evaluation errors and prints say: the user's file, line and column, never the
//! SDK's, with registered secrets masked.

use super::*;

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
