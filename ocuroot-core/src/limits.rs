//! Limits on outside input: how deep and how large a value may be.
//!
//! Intent arrives from pull requests, values from `ocuroot state set` in CI scripts and
//! documents from hand edits; task outputs are whatever a function returns. Every one of
//! them is checked against [`Limits`] where it is parsed or produced, so that a hostile or
//! broken value is a clear error instead of a stack overflow, a gigabyte blob or a store
//! that blocks every later command:
//!
//! - nesting ([`Limits::max_depth`], default 128): YAML and JSON documents, Starlark values
//!   converted to documents, and the bracket nesting of Starlark sources;
//! - size ([`Limits::max_document_bytes`], default 1 MiB): one rendered document (intent,
//!   `state set` values, task outputs, release and run records);
//! - logs ([`Limits::max_log_bytes`], default 16 MiB): the stored logs of one run;
//! - sources ([`Limits::max_source_bytes`], default 1 MiB): one `*.ocu.star` file, support
//!   file or `-f starlark` expression;
//! - the support files of a Git store (`store.git(support_files = ...)`): at most
//!   [`Limits::max_support_files`] (default 64), paths at most `max_depth` folders deep,
//!   contents at most `max_document_bytes` together (checked in `config/store.rs`).
//!
//! Numbers keep their value: a number that YAML or JSON spells but that a document cannot
//! hold exactly (an integer outside the 64-bit range such as a 30-digit integer, `1e400`)
//! is refused by [`check_value`] instead of being rounded or turned into `.nan`.
//!
//! The limits are process-wide: the embedding application (the CLI reads `OCU_CFG_max_*`,
//! see `docs/limits.md`) sets them once with [`configure`]; everything in the library reads
//! them with [`current`]. Every check walks values with an explicit stack, never by
//! recursion, so the checks themselves cannot overflow.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde_json::Value;

/// The limits on outside input (see the module documentation for where each applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting of lists and maps in a value (a scalar has depth 0, `[1]` 1).
    pub max_depth: usize,
    /// The largest rendered document, in bytes.
    pub max_document_bytes: usize,
    /// The largest stored logs of one run, in bytes.
    pub max_log_bytes: usize,
    /// The largest Starlark source (a file or an expression), in bytes.
    pub max_source_bytes: usize,
    /// The most files `store.git(support_files = ...)` may ask for.
    pub max_support_files: usize,
}

/// The default nesting limit.
pub const DEFAULT_MAX_DEPTH: usize = 128;
/// The default document size limit (1 MiB).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// The default run log limit (16 MiB).
pub const DEFAULT_MAX_LOG_BYTES: usize = 16 << 20;
/// The default source size limit (1 MiB).
pub const DEFAULT_MAX_SOURCE_BYTES: usize = 1 << 20;
/// The default number of support files of a Git store.
pub const DEFAULT_MAX_SUPPORT_FILES: usize = 64;

/// The hardest nesting limit [`configure`] accepts: deeper values would need more stack
/// than the threads that convert them have, whatever the setting says.
pub const HARD_MAX_DEPTH: usize = 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_source_bytes: DEFAULT_MAX_SOURCE_BYTES,
            max_support_files: DEFAULT_MAX_SUPPORT_FILES,
        }
    }
}

/// The settings that override the defaults, as named in `OCU_CFG_` variables.
pub const SETTINGS: [&str; 5] = [
    "max_depth",
    "max_document_bytes",
    "max_log_bytes",
    "max_source_bytes",
    "max_support_files",
];

impl Limits {
    /// Returns the defaults overridden by the settings in `env` (`OCU_CFG_max_depth`,
    /// `OCU_CFG_max_document_bytes`, `OCU_CFG_max_log_bytes`, `OCU_CFG_max_source_bytes`,
    /// `OCU_CFG_max_support_files`; byte counts are plain integers). Empty values are
    /// ignored.
    ///
    /// # Errors
    ///
    /// A [`LimitSettingError`] naming the setting when a value is not a positive integer
    /// or the depth is over [`HARD_MAX_DEPTH`].
    pub fn from_settings(env: &BTreeMap<String, String>) -> Result<Limits, LimitSettingError> {
        let mut limits = Limits::default();
        for name in SETTINGS {
            let var = format!("OCU_CFG_{name}");
            let Some(raw) = env.get(&var).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
                continue;
            };
            let n: usize = raw
                .replace('_', "")
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| LimitSettingError {
                    name: var.clone(),
                    reason: format!("expected a positive integer, got {raw:?}"),
                })?;
            match name {
                "max_depth" if n > HARD_MAX_DEPTH => {
                    return Err(LimitSettingError {
                        name: var,
                        reason: format!("at most {HARD_MAX_DEPTH}"),
                    });
                }
                "max_depth" => limits.max_depth = n,
                "max_document_bytes" => limits.max_document_bytes = n,
                "max_log_bytes" => limits.max_log_bytes = n,
                "max_support_files" => limits.max_support_files = n,
                _ => limits.max_source_bytes = n,
            }
        }
        Ok(limits)
    }
}

/// A limit setting that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct LimitSettingError {
    /// The variable (`OCU_CFG_max_depth`).
    pub name: String,
    /// What is wrong with its value.
    pub reason: String,
}

static CURRENT: RwLock<Limits> = RwLock::new(Limits {
    max_depth: DEFAULT_MAX_DEPTH,
    max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
    max_log_bytes: DEFAULT_MAX_LOG_BYTES,
    max_source_bytes: DEFAULT_MAX_SOURCE_BYTES,
    max_support_files: DEFAULT_MAX_SUPPORT_FILES,
});

/// Sets the process-wide limits (the depth is capped at [`HARD_MAX_DEPTH`]).
pub fn configure(limits: Limits) {
    let limits = Limits {
        max_depth: limits.max_depth.min(HARD_MAX_DEPTH),
        ..limits
    };
    match CURRENT.write() {
        Ok(mut l) => *l = limits,
        Err(poisoned) => *poisoned.into_inner() = limits,
    }
}

/// Returns the process-wide limits.
pub fn current() -> Limits {
    match CURRENT.read() {
        Ok(l) => *l,
        Err(poisoned) => *poisoned.into_inner(),
    }
}

/// A value or text over a limit, or a number that would change its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// Lists and maps nested deeper than the limit.
    #[error("nested deeper than {limit} levels (limit max_depth)")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A document or text larger than the limit.
    #[error("{what} is {bytes} bytes, over the limit of {limit} bytes ({setting})")]
    TooLarge {
        /// What was measured (`the document`, `the logs`, `the source`).
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
        /// The setting that raises the limit.
        setting: &'static str,
    },
    /// A Starlark expression that needed more memory or steps than its budget while it
    /// was evaluated ([`expression_budget`]).
    #[error(
        "evaluating it needs more than {limit} {unit} (budget derived from max_document_bytes)"
    )]
    Evaluation {
        /// The budget that was exhausted.
        limit: usize,
        /// `bytes of memory` or `steps`.
        unit: &'static str,
    },
    /// A number that no document can hold exactly.
    #[error(
        "number {number} cannot be stored exactly (integers must fit in 64 bits, other numbers in a double)"
    )]
    Number {
        /// The number as written.
        number: String,
    },
}

impl LimitError {
    /// Returns the error for `bytes` of a document over `limits`.
    pub fn document(bytes: usize, limits: &Limits) -> LimitError {
        LimitError::TooLarge {
            what: "the document",
            bytes,
            limit: limits.max_document_bytes,
            setting: "max_document_bytes",
        }
    }
}

/// The budget of one `-f starlark` expression while it evaluates: the result must render
/// within [`Limits::max_document_bytes`], so an evaluation may use a fixed multiple of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpressionBudget {
    /// The most bytes the evaluation's Starlark heap may hold: 16 times the document limit
    /// (16 MiB by default), room for the garbage a comprehension leaves behind.
    pub heap_bytes: usize,
    /// The most steps (function calls and loop iterations, as Starlark counts ticks): one
    /// per byte of the document limit (1,048,576 by default). Every item of a document
    /// takes at least a byte, so an expression that builds its value item by item fits;
    /// one that loops over far more items than it keeps may need a larger
    /// `max_document_bytes`.
    pub steps: u64,
}

/// Returns the budget of a `-f starlark` expression under `limits`.
pub fn expression_budget(limits: &Limits) -> ExpressionBudget {
    ExpressionBudget {
        heap_bytes: limits.max_document_bytes.saturating_mul(16),
        steps: u64::try_from(limits.max_document_bytes).unwrap_or(u64::MAX),
    }
}

/// Returns the nesting depth of `v` (a scalar is 0, `[1]` is 1), walking iteratively.
pub fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|x| (x, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// Checks that `v` nests at most `limits.max_depth` levels and that every number keeps its
/// value ([`check_number`]).
///
/// # Errors
///
/// [`LimitError::TooDeep`] or [`LimitError::Number`].
pub fn check_value(v: &Value, limits: &Limits) -> Result<(), LimitError> {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        if d > limits.max_depth {
            return Err(LimitError::TooDeep {
                limit: limits.max_depth,
            });
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|x| (x, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|x| (x, d + 1))),
            Value::Number(n) => check_number(n)?,
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `bytes` of text are within `limit`.
///
/// # Errors
///
/// [`LimitError::TooLarge`] naming `what` and `setting`.
pub fn check_size(
    what: &'static str,
    bytes: usize,
    limit: usize,
    setting: &'static str,
) -> Result<(), LimitError> {
    if bytes > limit {
        return Err(LimitError::TooLarge {
            what,
            bytes,
            limit,
            setting,
        });
    }
    Ok(())
}

/// Checks that a number keeps its value in a document: integers must fit in `i64` or
/// `u64`; any other number must be a finite double written with at most 17 significant
/// digits, the most a double carries (`0.1` and `1.5e300` are fine; `1e400` and
/// `0.10000000000000000000001` are not). Such a number is stored as the double nearest to
/// it and reads back as that same double.
///
/// # Errors
///
/// [`LimitError::Number`] quoting the number.
pub fn check_number(n: &serde_json::Number) -> Result<(), LimitError> {
    if n.is_i64() || n.is_u64() {
        return Ok(());
    }
    let written = n.to_string();
    let refused = || LimitError::Number {
        number: written.clone(),
    };
    let f = n.as_f64().filter(|f| f.is_finite()).ok_or_else(refused)?;
    if !written.contains(['.', 'e', 'E']) {
        // An integer outside the 64-bit range would become a rounded float.
        return Err(refused());
    }
    match decimal(&written) {
        // Zero only if written as zero; a subnormal double has fewer digits than written.
        Some((_, digits, _)) if digits.is_empty() => Ok(()),
        Some((_, digits, _)) if digits.len() <= 17 && f.is_normal() => Ok(()),
        _ => Err(refused()),
    }
}

/// A decimal number normalised to (negative, significant digits, exponent of the first
/// digit).
fn decimal(s: &str) -> Option<(bool, String, i64)> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let lead = digits.bytes().take_while(|&b| b == b'0').count();
    let sig = digits[lead..].trim_end_matches('0');
    if sig.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = i64::try_from(int.len()).ok()? - i64::try_from(lead).ok()?;
    Some((neg, sig.to_owned(), exp.checked_add(point)?))
}

/// Returns the deepest bracket nesting (`(`, `[`, `{`) of Starlark source `text`, skipping
/// strings and comments; a cheap guard run before the parser, whose recursion follows the
/// nesting of the source.
pub fn source_nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => {
                let triple = bytes.get(i..i + 3) == Some(&[q, q, q][..]);
                i += if triple { 3 } else { 1 };
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if triple {
                        if bytes.get(i..i + 3) == Some(&[q, q, q][..]) {
                            i += 2;
                            break;
                        }
                    } else if bytes[i] == q || bytes[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// Checks a Starlark source against the size and nesting limits.
///
/// # Errors
///
/// [`LimitError::TooLarge`] or [`LimitError::TooDeep`].
pub fn check_source(text: &str, limits: &Limits) -> Result<(), LimitError> {
    check_size(
        "the source",
        text.len(),
        limits.max_source_bytes,
        "max_source_bytes",
    )?;
    if source_nesting(text) > limits.max_depth {
        return Err(LimitError::TooDeep {
            limit: limits.max_depth,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use test_case::test_case;

    fn nested(n: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..n {
            // Not `json!([v])`: the macro serializes its argument, recursively.
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn depth_is_counted_without_recursion() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": [1]})), 2);
        let limits = Limits::default();
        assert_eq!(check_value(&nested(128), &limits), Ok(()));
        assert_eq!(
            check_value(&nested(129), &limits),
            Err(LimitError::TooDeep { limit: 128 })
        );
        // Far deeper than any stack could recurse; dropped with `forget` because
        // serde_json's own drop recurses.
        let deep = nested(200_000);
        assert_eq!(depth(&deep), 200_000);
        std::mem::forget(deep);
    }

    #[test_case("1", true; "small integer")]
    #[test_case("-9223372036854775808", true; "i64 min")]
    #[test_case("18446744073709551615", true; "u64 max")]
    #[test_case("18446744073709551616", false; "u64 max plus one")]
    #[test_case("123456789012345678901234567890", false; "thirty digits")]
    #[test_case("0.1", true; "tenth")]
    #[test_case("1.5e10", true; "exponent")]
    #[test_case("2.5E-3", true; "negative exponent")]
    #[test_case("1e400", false; "overflow")]
    #[test_case("-1e400", false; "negative overflow")]
    #[test_case("1e-400", false; "underflow")]
    #[test_case("0.10000000000000000000001", false; "too many digits")]
    #[test_case("1.2345678901234568e+29", true; "shortest double")]
    #[test_case("0.0", true; "zero")]
    // See: issue 12, found by `fuzz_state_set_json` (docs/fuzzing.md): the YAML writer
    // spells this double `600000000000000.2`, which must read back.
    #[test_case("6000000000000003e-1", true; "issue 12 fuzz yaml spelling")]
    #[test_case("600000000000000.2", true; "issue 12 fuzz yaml spelling read back")]
    #[test_case("100.0", true; "trailing zeros")]
    fn numbers_keep_their_value(text: &str, ok: bool) {
        let v: Value = serde_json::from_str(text).expect("json");
        let Value::Number(n) = v else {
            panic!("not a number")
        };
        assert_eq!(check_number(&n).is_ok(), ok, "{text}");
    }

    #[test]
    fn source_nesting_skips_strings_and_comments() {
        assert_eq!(source_nesting("x = [[1], (2)]"), 2);
        assert_eq!(source_nesting("x = '[[[[' # ((((\ny = {}"), 1);
        assert_eq!(source_nesting("x = \"\"\"[[[\n[[\"\"\" + f(1)"), 1);
        assert_eq!(source_nesting(&"[".repeat(300)), 300);
        let limits = Limits::default();
        assert!(
            check_source(&format!("{}1{}", "[".repeat(260), "]".repeat(260)), &limits).is_err()
        );
    }

    #[test]
    fn settings_override_defaults() {
        let mut env = BTreeMap::new();
        assert_eq!(Limits::from_settings(&env), Ok(Limits::default()));
        env.insert("OCU_CFG_max_depth".to_owned(), "32".to_owned());
        env.insert("OCU_CFG_max_document_bytes".to_owned(), "4_096".to_owned());
        let l = Limits::from_settings(&env).expect("valid");
        assert_eq!((l.max_depth, l.max_document_bytes), (32, 4096));
        env.insert("OCU_CFG_max_support_files".to_owned(), "3".to_owned());
        assert_eq!(
            Limits::from_settings(&env).map(|l| l.max_support_files),
            Ok(3)
        );
        env.insert("OCU_CFG_max_log_bytes".to_owned(), "lots".to_owned());
        let err = Limits::from_settings(&env).expect_err("invalid");
        assert_eq!(err.name, "OCU_CFG_max_log_bytes");
        env.remove("OCU_CFG_max_log_bytes");
        env.insert("OCU_CFG_max_depth".to_owned(), "100000".to_owned());
        assert!(Limits::from_settings(&env).is_err());
    }

    proptest! {
        #[test]
        fn fuzz_source_nesting_never_panics(s in ".{0,200}") {
            let _ = source_nesting(&s);
        }

        #[test]
        fn fuzz_numbers_that_pass_keep_their_value(f in any::<f64>()) {
            if let Some(n) = serde_json::Number::from_f64(f) {
                let text = n.to_string();
                let back: Value = serde_json::from_str(&text).expect("json");
                if let Value::Number(m) = back && check_number(&m).is_ok() {
                    prop_assert_eq!(m.as_f64(), Some(f));
                }
            }
        }
    }
}
