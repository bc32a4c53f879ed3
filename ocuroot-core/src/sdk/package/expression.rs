//! `-f starlark` values: evaluating one expression to a JSON value without host access
//! ([`eval_expression_json`]), held to the [limits](crate::limits) while it evaluates: a
//! heap and step budget ([`crate::limits::expression_budget`]), `*`, `+` and `%` through
//! checked functions, and no augmented assignment that grows a value.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use starlark::environment::{Globals, Module};
use starlark::eval::Evaluator;
use starlark::syntax::AstModule;
use starlark::values::Value;

use super::with_prelude;
use crate::sdk::EvalError;
use crate::sdk::context::{HostContext, SdkContext};
use crate::sdk::dialect;
use crate::sdk::output::CollectingSink;
use crate::sdk::package_builtins::to_json;

/// The globals of `-f starlark` expressions: the package globals without any host access
/// (no `host`, `shell`, `env`, `read`, `write`, `http`, `secret`).
fn expression_globals() -> &'static Globals {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    GLOBALS.get_or_init(|| with_prelude(crate::sdk::pure_globals_builder().with(checked_operators)))
}

/// Evaluates a Starlark expression with the SDK globals and returns its JSON form (used by
/// `ocuroot state set -f starlark`).
///
/// The expression is a value, not a program: it is evaluated without host access (no
/// `shell`, `env`, `read`, `http`, `secret`): only Starlark's universals, `struct`,
/// `json` and the pure helpers of the SDK (`environment(...)`, `done`, ...). Its source, the value's nesting, its numbers and its
/// size are held to the [limits](crate::limits), and its evaluation to the budget of
/// [`crate::limits::expression_budget`] while it runs.
///
/// # Errors
///
/// [`EvalError::Eval`] when the expression does not parse, fails, uses a builtin that is
/// not available, or has no JSON form; [`EvalError::Limit`] when it is over a limit.
pub fn eval_expression_json(expr: &str) -> Result<serde_json::Value, EvalError> {
    const FILE: &str = "<expression>";
    let limits = crate::limits::current();
    let over = |source| EvalError::Limit {
        file: PathBuf::from(FILE),
        source,
    };
    crate::limits::check_source(expr, &limits).map_err(over)?;
    let ctx = SdkContext::new(
        HostContext::default(),
        PathBuf::new(),
        Arc::new(CollectingSink::default()),
    )
    .install();
    let mut ast = AstModule::parse(FILE, expr.to_owned(), &dialect())
        .map_err(|e| EvalError::eval(FILE, &e))?;
    // `*`, `+` and `%` can build a huge value in one step, between two of Starlark's
    // checks (`"ab" * 2147483647`): they go through functions that check the budget.
    // `x *= n` does not go through them: refused (a value is one expression, and a
    // `def` in it can write `x = x * n`).
    if let Some(span) = augmented_growth(ast.statement()) {
        return Err(EvalError::Eval {
            file: PathBuf::from(FILE),
            rendered: format!(
                "{}: augmented assignment (`*=`, `+=`, `%=`) is not allowed in a value; write `x = x * y`",
                ast.file_span(span)
            ),
        });
    }
    ast.replace_binary_operators(
        &CHECKED_OPERATORS
            .iter()
            .map(|(op, f)| ((*op).to_owned(), (*f).to_owned()))
            .collect(),
    );
    let budget = crate::limits::expression_budget(&limits);
    Module::with_temp_heap(|module| {
        let mut eval = Evaluator::new(&module);
        ctx.attach(&mut eval);
        // Checked by Starlark every thousand steps while it evaluates, and once more here
        // for what a single operation (`"a" * n`) allocated since the last check.
        eval.set_max_heap_size(budget.heap_bytes)
            .and_then(|()| eval.set_max_tick_count(budget.steps))
            .map_err(|e| EvalError::eval(FILE, &starlark::Error::from(e)))?;
        let result = eval.eval_module(ast, expression_globals());
        if let Some(e) = over_budget(&eval, &budget) {
            return Err(over(e));
        }
        if let Err(e) = &result
            && let starlark::ErrorKind::Other(other) = e.kind()
            && let Some(limit) = other.downcast_ref::<crate::limits::LimitError>()
        {
            return Err(over(limit.clone()));
        }
        let value = result.map_err(|e| EvalError::eval(FILE, &e))?;
        let json = to_json(value).map_err(|e| EvalError::eval(FILE, &e))?;
        let size = serde_json::to_string(&json).map_or(0, |s| s.len());
        if size > limits.max_document_bytes {
            return Err(over(crate::limits::LimitError::document(size, &limits)));
        }
        Ok(json)
    })
}

/// The binary operators of `-f starlark` expressions that go through a checked function,
/// and the function (see [`checked_operators`]).
const CHECKED_OPERATORS: [(&str, &str); 3] = [
    ("*", "_ocu_checked_mul"),
    ("+", "_ocu_checked_add"),
    ("%", "_ocu_checked_percent"),
];

/// The functions behind [`CHECKED_OPERATORS`]: each refuses a repetition whose result
/// would be over the memory budget before allocating it, and checks the heap after the
/// operation, so that a value cannot grow between two of Starlark's periodic checks.
#[starlark::starlark_module]
fn checked_operators(builder: &mut starlark::environment::GlobalsBuilder) {
    /// `lhs * rhs`, refusing a repetition over the memory budget before it is built.
    fn _ocu_checked_mul<'v>(
        lhs: Value<'v>,
        rhs: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let budget = crate::limits::expression_budget(&crate::limits::current());
        let repeated = |seq: Value<'v>, n: Value<'v>| -> Option<usize> {
            let n = usize::try_from(n.unpack_i32()?).unwrap_or(0);
            let (len, item) = match seq.unpack_str() {
                Some(s) => (s.len(), 1),
                None => (usize::try_from(seq.length().ok()?).ok()?, 8),
            };
            Some(len.saturating_mul(n).saturating_mul(item))
        };
        if let Some(bytes) = repeated(lhs, rhs).or_else(|| repeated(rhs, lhs))
            && bytes > budget.heap_bytes
        {
            return Err(budget_exceeded(&budget));
        }
        let value = lhs.mul(rhs, eval.heap())?;
        check_heap(eval, &budget)?;
        Ok(value)
    }

    /// `lhs + rhs`, checking the heap afterwards.
    fn _ocu_checked_add<'v>(
        lhs: Value<'v>,
        rhs: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let budget = crate::limits::expression_budget(&crate::limits::current());
        let value = lhs.add(rhs, eval.heap())?;
        check_heap(eval, &budget)?;
        Ok(value)
    }

    /// `lhs % rhs`, checking the heap afterwards.
    fn _ocu_checked_percent<'v>(
        lhs: Value<'v>,
        rhs: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let budget = crate::limits::expression_budget(&crate::limits::current());
        let value = lhs.percent(rhs, eval.heap())?;
        check_heap(eval, &budget)?;
        Ok(value)
    }
}

/// Returns the place of the first `*=`, `+=` or `%=` in `stmt` (nested statements
/// included): the operators [`CHECKED_OPERATORS`] check, in a form they do not see.
fn augmented_growth(stmt: &starlark::syntax::ast::AstStmt) -> Option<starlark::codemap::Span> {
    use starlark::syntax::ast::{AssignOp, StmtP};
    if let StmtP::AssignModify(_, AssignOp::Multiply | AssignOp::Add | AssignOp::Percent, _) =
        &stmt.node
    {
        return Some(stmt.span);
    }
    let mut found = None;
    stmt.visit_stmt(|child| {
        if found.is_none() {
            found = augmented_growth(child);
        }
    });
    found
}

/// The error of an evaluation over its memory budget.
fn budget_exceeded(budget: &crate::limits::ExpressionBudget) -> starlark::Error {
    starlark::Error::new_other(crate::limits::LimitError::Evaluation {
        limit: budget.heap_bytes,
        unit: "bytes of memory",
    })
}

/// Fails when the evaluation's heap is over the memory budget.
fn check_heap(
    eval: &Evaluator<'_, '_, '_>,
    budget: &crate::limits::ExpressionBudget,
) -> starlark::Result<()> {
    if eval.heap().allocated_bytes() > budget.heap_bytes {
        return Err(budget_exceeded(budget));
    }
    Ok(())
}

/// Returns the limit error if the evaluation of `eval` went over its heap or step budget
/// (measured as Starlark's own checks measure them).
fn over_budget(
    eval: &Evaluator<'_, '_, '_>,
    budget: &crate::limits::ExpressionBudget,
) -> Option<crate::limits::LimitError> {
    let heap = eval.heap().peak_allocated_bytes() + eval.frozen_heap().allocated_bytes();
    if heap > budget.heap_bytes {
        return Some(crate::limits::LimitError::Evaluation {
            limit: budget.heap_bytes,
            unit: "bytes of memory",
        });
    }
    if eval.get_total_tick_count() > budget.steps {
        return Some(crate::limits::LimitError::Evaluation {
            limit: usize::try_from(budget.steps).unwrap_or(usize::MAX),
            unit: "steps",
        });
    }
    None
}
