//! The shape of a package: phases, tasks and deployments, where they may be declared,
//! and the function keys that let a later process (or another thread) call them again.

use super::*;

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
