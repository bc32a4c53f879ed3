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

/// The limit error of an expression that evaluates over its budget.
fn over_budget(expr: &str) -> crate::limits::LimitError {
    match eval_expression_json(expr) {
        Err(EvalError::Limit { file, source }) => {
            assert_eq!(file, Path::new("<expression>"));
            source
        }
        other => panic!("expected a limit error for {expr}, got {other:?}"),
    }
}

// See: issue 12 ("`state set -f starlark` with `[x for x in range(100000000)]` writes a
// 1.09 GB blob"): the evaluation stops at its step or memory budget, long before the
// hundred million items exist, instead of being size-checked once evaluated.
#[test]
fn issue_12_a_huge_comprehension_stops_at_the_evaluation_budget() {
    let budget = crate::limits::expression_budget(&crate::limits::current());
    match over_budget("[x for x in range(100000000)]") {
        crate::limits::LimitError::Evaluation { limit, unit } => {
            assert!(
                (unit == "steps" && limit as u64 == budget.steps)
                    || (unit == "bytes of memory" && limit == budget.heap_bytes),
                "{unit} {limit}"
            );
        }
        other => panic!("expected the evaluation budget, got {other}"),
    }
    // Nested loops are counted step by step too, and so are calls.
    assert!(matches!(
        over_budget("[[y for y in range(10000)] for x in range(10000)]"),
        crate::limits::LimitError::Evaluation { .. }
    ));
    assert!(matches!(
        over_budget("[(lambda v: v)(x) for x in range(3000000)]"),
        crate::limits::LimitError::Evaluation { .. }
    ));
    // The message names the budget and the setting it derives from.
    let text = over_budget("[x for x in range(100000000)]").to_string();
    assert!(text.contains("max_document_bytes"), "{text}");
}

// A single operation allocates before Starlark's next check: the check after the
// evaluation still refuses it before it is converted to a document.
#[test]
fn issue_12_one_large_allocation_is_over_the_memory_budget() {
    let budget = crate::limits::expression_budget(&crate::limits::current());
    assert_eq!(
        over_budget("\"a\" * 20000000"),
        crate::limits::LimitError::Evaluation {
            limit: budget.heap_bytes,
            unit: "bytes of memory",
        }
    );
}

#[test]
fn expressions_within_the_budget_evaluate() {
    let v = eval_expression_json("[x * 2 for x in range(20000)]").expect("within budget");
    assert_eq!(v.as_array().map(Vec::len), Some(20000));
    let v = eval_expression_json("{str(k): [k] for k in range(1000)}").expect("within budget");
    assert_eq!(v.as_object().map(serde_json::Map::len), Some(1000));
}

// Found while bounding the evaluation: a repetition of a few bytes by 2,147,483,647 asked
// for tens of gigabytes in one step (`[1, 2, 3] * 2147483647` aborted the process,
// `"aaaaaaaaaa" * 2147483647` grew to 21 GB): it is refused before it is built, and so is
// a value doubled by `+` or `%` in nested comprehension clauses, one step each.
#[test]
fn issue_12_repetitions_and_doublings_are_refused_before_they_are_built() {
    for expr in [
        "\"aaaaaaaaaa\" * 2147483647",
        "2147483647 * \"aaaaaaaaaa\"",
        "[1, 2, 3] * 2147483647",
        "(1, 2) * 2147483647",
        &format!(
            "[x0 for x0 in [\"aaaaaaaa\"] {}][0]",
            (1..40)
                .map(|i| format!("for x{i} in [x{p} + x{p}]", p = i - 1))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        &format!(
            "[x0 for x0 in [\"aaaaaaaa\"] {}][0]",
            (1..40)
                .map(|i| format!("for x{i} in [\"%s%s\" % (x{p}, x{p})]", p = i - 1))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    ] {
        assert!(
            matches!(
                over_budget(expr),
                crate::limits::LimitError::Evaluation {
                    unit: "bytes of memory",
                    ..
                }
            ),
            "{expr}"
        );
    }
}

#[test]
fn checked_operators_keep_their_meaning() {
    assert_eq!(
        eval_expression_json(
            "[2 * 3, 1.5 * 2, \"ab\" * 2, [1] * 3, 3 * (0,), 1 + 2, 1 + 0.5, \"a\" + \"b\", \
             [1] + [2], \"%d-%s\" % (5, \"x\"), 7 % 3, -2 * 4]"
        )
        .expect("evaluates"),
        json!([
            6,
            3.0,
            "abab",
            [1, 1, 1],
            [0, 0, 0],
            3,
            1.5,
            "ab",
            [1, 2],
            "5-x",
            1,
            -8
        ])
    );
    let err = eval_expression_json("\"a\" * \"b\"").expect_err("not a number");
    assert!(err.to_string().contains("<expression>"), "{err}");
}

// `x *= n` is the same repetition in a form the checked operators do not see: refused
// before evaluation, wherever it is (a `def` included).
#[test]
fn issue_12_augmented_assignments_that_grow_values_are_refused() {
    for expr in [
        "x = [1, 2, 3]\nx *= 2147483647\nx",
        "def f():\n    s = \"ab\"\n    s += s\n    return s\nf()",
        "x = \"%s\"\nx %= (\"a\",)\nx",
    ] {
        match eval_expression_json(expr) {
            Err(EvalError::Eval { file, rendered }) => {
                assert_eq!(file, Path::new("<expression>"));
                assert!(rendered.contains("augmented assignment"), "{rendered}");
                assert!(rendered.contains("<expression>:"), "{rendered}");
            }
            other => panic!("{expr}: {other:?}"),
        }
    }
    assert_eq!(
        eval_expression_json("x = 5\nx -= 2\nx").expect("evaluates"),
        json!(3)
    );
}
