//! Files beside packages and values they name: environments files, host functions run
//! in the package directory, inputs and refs, private and aliased functions, and the
//! `sdk_version` scenario.

use super::*;

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
