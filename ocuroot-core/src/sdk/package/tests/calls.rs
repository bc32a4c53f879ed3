//! Calling package functions: keyword styles, `None` defaults, result shapes (`done`,
//! `next`, failures) and the validation of `next(...)`.

use super::*;

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
