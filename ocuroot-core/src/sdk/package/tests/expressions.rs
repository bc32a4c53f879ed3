//! `-f starlark` expressions ([`eval_expression_json`]): values as JSON, no host access,
//! and the limits that hold while they evaluate.

use super::*;

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
