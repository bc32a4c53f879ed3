//! Canonical YAML: the one place that talks to the YAML crate.
//!
//! Every document in a store is written by [`to_canonical`], which sorts object keys (a
//! `serde_json::Map` is a `BTreeMap`), indents by two spaces and ends with a newline, so the
//! same value is always the same bytes and therefore the same Git blob. The diff between
//! intent and state relies on that: "in sync" means "identical blob".
//!
//! Reading uses `serde-saphyr`, which rejects duplicate keys and keeps line/column
//! information in its errors; [`value_from_str`] reads documents in the canonical shape
//! without it (several times faster, the same values) and hands anything else to it.
//!
//! Both directions enforce the [limits]: the parser refuses documents nested
//! deeper than `max_depth`, and [`to_canonical`] refuses values nested deeper than that or
//! holding a number that YAML would not give back exactly (a 30-digit integer, `1e400`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::limits::{self, LimitError};

mod canonical;

/// An error converting between YAML text and values.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The text is not valid YAML, or does not fit the expected shape.
    #[error("invalid YAML: {message}")]
    Parse {
        /// The parser's description, including line and column where known.
        message: String,
    },
    /// The value could not be rendered as YAML.
    #[error("cannot render YAML: {message}")]
    Render {
        /// The serializer's description.
        message: String,
    },
    /// The value or text is over a [limit](crate::limits).
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// Renders a JSON value as canonical YAML (sorted keys, 2-space indent, trailing newline).
///
/// # Errors
///
/// [`YamlError::Limit`] when the value nests deeper than the configured limit or holds a
/// number that would not keep its value; [`YamlError::Render`] if the serializer rejects
/// the value.
pub fn to_canonical(value: &Value) -> Result<String, YamlError> {
    limits::check_value(value, &limits::current())?;
    to_string(&Canonical(value))
}

/// Serializes a JSON value with plain numbers.
///
/// `serde_json`'s `arbitrary_precision` feature (enabled by a dependency) makes a `Number`
/// serialize as a private map; numbers are written here as the integer or float they hold.
struct Canonical<'a>(&'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    s.serialize_i64(i)
                } else if let Some(u) = n.as_u64() {
                    s.serialize_u64(u)
                } else {
                    s.serialize_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(text) => s.serialize_str(text),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Canonical(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut m = s.serialize_map(Some(map.len()))?;
                for k in keys {
                    m.serialize_entry(k, &Canonical(&map[k]))?;
                }
                m.end()
            }
        }
    }
}

/// Renders any serializable value as YAML with the canonical options.
///
/// # Errors
///
/// Fails if the serializer rejects the value.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let mut out = serde_saphyr::to_string(value).map_err(|e| YamlError::Render {
        message: e.to_string(),
    })?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Parses YAML text into a value of type `T`.
///
/// # Errors
///
/// Returns [`YamlError::Parse`] with the parser's message (line and column) when the text
/// is not valid YAML, has duplicate keys, nests deeper than the configured `max_depth`, or
/// does not fit `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let options = || {
        let mut budget = serde_saphyr::Budget::default();
        budget.max_depth = limits::current().max_depth;
        let mut options = serde_saphyr::Options::default();
        options.budget = Some(budget);
        // `1e400`, `.inf` and `.nan` have no JSON form: refuse them instead of storing null.
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::Reject;
        options
    };
    // The parser turns an integer too large for 64 bits into a rounded float without
    // saying so; such an integer is a long run of digits, so look for one first, and
    // refuse the document if it holds the float that run was rounded to.
    let runs = long_integer_runs(text);
    if !runs.is_empty() {
        let value: Value =
            serde_saphyr::from_str_with_options(text, options()).map_err(|e| YamlError::Parse {
                message: e.to_string(),
            })?;
        if let Some(digits) = rounded_integer(&value, &runs) {
            return Err(YamlError::Limit(LimitError::Number {
                number: digits.to_owned(),
            }));
        }
    }
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| YamlError::Parse {
        message: e.to_string(),
    })
}

/// Parses YAML text into a JSON value, as [`from_str`] does: a document in the shape
/// [`to_canonical`] writes (see `yaml/canonical.rs`) is read directly, anything else by
/// the general parser, with the same result.
///
/// # Errors
///
/// As [`from_str`].
pub fn value_from_str(text: &str) -> Result<Value, YamlError> {
    match canonical::read(text, limits::current().max_depth) {
        Some(value) => Ok(value),
        None => from_str(text),
    }
}

/// Returns the runs of 20 or more ASCII digits in `text` that do not fit in a `u64`, with
/// the float each would be rounded to.
fn long_integer_runs(text: &str) -> Vec<(&str, f64)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, b) in text.bytes().chain(std::iter::once(b' ')).enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let run = &text[s..i];
                if run.len() >= 20
                    && run.parse::<u64>().is_err()
                    && let Ok(f) = run.parse::<f64>()
                {
                    out.push((run, f));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Returns the digit run whose rounded float `v` holds (as a float, not an integer): what
/// the parser makes of an integer literal too large for `u64`/`i64`.
fn rounded_integer<'t>(v: &Value, runs: &[(&'t str, f64)]) -> Option<&'t str> {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) if !n.is_i64() && !n.is_u64() => {
                let f = n.as_f64()?;
                if let Some((run, _)) = runs.iter().find(|(_, r)| r.abs() == f.abs()) {
                    return Some(run);
                }
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_output_is_stable() {
        let v = json!({"zeta": 1, "alpha": {"b": true, "a": "x"}, "mid": [1, "two", null]});
        let text = to_canonical(&v).expect("render");
        let alpha = text.find("alpha").expect("alpha");
        let mid = text.find("mid").expect("mid");
        let zeta = text.find("zeta").expect("zeta");
        assert!(alpha < mid && mid < zeta, "{text}");
        assert_eq!(
            text,
            to_canonical(&from_str::<Value>(&text).expect("parse")).expect("again")
        );
    }

    #[test]
    fn strings_that_look_like_other_scalars_round_trip() {
        for s in [
            "1", "true", "null", "yes", "no", "~", "1.0", "0x10", "", " lead", "a: b", "#x", "- x",
        ] {
            let v = Value::String(s.to_string());
            let text = to_canonical(&v).expect("render");
            assert_eq!(
                from_str::<Value>(&text).expect("parse"),
                v,
                "{s:?} -> {text:?}"
            );
        }
    }

    fn nested(n: usize) -> Value {
        let mut v = json!("x");
        for _ in 0..n {
            let mut map = serde_json::Map::new();
            map.insert("a".to_owned(), Value::Array(vec![v]));
            v = Value::Object(map);
        }
        v
    }

    #[test]
    fn depth_limit_holds_both_ways() {
        // The serializer and the parser recurse per level: at the limit they need more
        // than the 2 MiB of a test thread (unoptimised), as much as a main thread has.
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(depth_limit_body)
            .expect("spawn")
            .join()
            .expect("no panic");
    }

    fn depth_limit_body() {
        // 64 maps of one list each: 128 levels, exactly the default limit.
        let ok = nested(64);
        let text = to_canonical(&ok).expect("at the limit");
        assert_eq!(from_str::<Value>(&text).expect("parse"), ok);
        let deep = nested(65);
        assert!(matches!(
            to_canonical(&deep),
            Err(YamlError::Limit(LimitError::TooDeep { limit: 128 }))
        ));
        let flow = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(from_str::<Value>(&flow).is_err());
        let block: String = (0..200)
            .map(|i| format!("{}- \n", "  ".repeat(i)))
            .collect();
        assert!(from_str::<Value>(&block).is_err());
    }

    // See: issue 12 ("Numbers change silently").
    #[test]
    fn issue_12_numbers_keep_their_value_or_are_refused() {
        for text in ["1e400", "123456789012345678901234567890"] {
            let json: Value = serde_json::from_str(text).expect("json");
            assert!(
                matches!(
                    to_canonical(&json),
                    Err(YamlError::Limit(LimitError::Number { .. }))
                ),
                "{text}"
            );
            let yaml: Result<Value, _> = from_str(text);
            if let Ok(v) = yaml {
                assert!(to_canonical(&v).is_err(), "{text} read as {v:?}");
            }
        }
        let big: Value = serde_json::from_str("18446744073709551615").expect("json");
        assert_eq!(to_canonical(&big).expect("u64"), "18446744073709551615\n");
    }

    // See: issue 12, found by `fuzz_state_set_json` (docs/fuzzing.md): a number spelled
    // with an exponent keeps its value and gets the canonical spelling.
    #[test]
    fn issue_12_fuzz_exponent_spelling_is_canonical() {
        let v: Value = serde_json::from_str("100000000000000e0").expect("json");
        let text = to_canonical(&v).expect("render");
        assert_eq!(text, "100000000000000.0\n");
        let back: Value = from_str(&text).expect("parse");
        assert_eq!(back.as_f64(), v.as_f64());
        assert_eq!(to_canonical(&back).expect("again"), text);
    }

    // See: issue 12, found by `fuzz_intent_documents` (docs/fuzzing.md): a 20-digit
    // integer that fits in `u64` beside a large float was refused as a rounded integer.
    #[test]
    fn issue_12_fuzz_u64_beside_a_large_float_is_kept() {
        let v = json!([10000000000000000000u64, 1e19]);
        let text = to_canonical(&v).expect("render");
        let back: Value = from_str(&text).expect("both numbers are exact");
        assert_eq!(to_canonical(&back).expect("again"), text);
        assert!(from_str::<Value>("[123456789012345678901234567890, 1e19]").is_err());
        assert!(from_str::<Value>("x: '123456789012345678901234567890'\ny: 1e19\n").is_ok());
    }

    // See: issue 12, found by `fuzz_state_set_json` (docs/fuzzing.md): a double whose
    // YAML spelling is not Rust's shortest one was accepted but not readable again.
    #[test]
    fn issue_12_fuzz_double_spelled_by_the_yaml_writer_reads_back() {
        let v: Value = serde_json::from_str("6000000000000003e-1").expect("json");
        let text = to_canonical(&v).expect("render");
        let back: Value = from_str(&text).expect("parse");
        assert_eq!(back.as_f64(), v.as_f64());
        assert_eq!(to_canonical(&back).expect("again"), text);
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(from_str::<Value>("a: 1\na: 2\n").is_err());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            (-1.0e9f64..1.0e9).prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_./-]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_value_round_trips(v in arb_json()) {
            let text = to_canonical(&v).expect("render");
            let back: Value = from_str(&text).expect("parse");
            prop_assert_eq!(&back, &v, "yaml was {:?}", text);
            prop_assert_eq!(to_canonical(&back).expect("render"), text);
        }

        #[test]
        fn parser_never_panics(s in ".{0,64}") {
            let _ = from_str::<Value>(&s);
        }

        // The fuzz campaign of the YAML loader (`docs/fuzzing.md`): text made of YAML's
        // own punctuation, deep flow and block nesting, anchors and aliases, long numbers.
        // Whatever parses re-renders canonically (or is refused by a limit) and reads back
        // as the same value.
        #[test]
        fn fuzz_yaml_loader(s in prop_oneof![
            "[\\[\\]{}:,#&*!|>'\"\n -a1.e+~?%@`]{0,80}",
            (1usize..400).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
            (1usize..300).prop_map(|n| (0..n).map(|i| format!("{}- \n", "  ".repeat(i))).collect()),
            (1usize..300).prop_map(|n| (0..n).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect()),
            "[0-9]{15,40}(\\.[0-9]{0,30})?(e[+-]?[0-9]{1,4})?",
            Just("a: &a [1, 2]\nb: [*a, *a, *a]\n".to_owned()),
        ]) {
            // The deep cases recurse in the serializer: run where a main thread's stack is.
            let result = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || -> Result<(), String> {
                    if let Ok(v) = from_str::<Value>(&s) {
                        match to_canonical(&v) {
                            Ok(text) => {
                                let back: Value = from_str(&text).map_err(|e| e.to_string())?;
                                if back != v {
                                    return Err(format!("{s:?} -> {text:?} -> {back:?}"));
                                }
                            }
                            Err(YamlError::Limit(_)) => {}
                            Err(e) => return Err(format!("{s:?}: {e}")),
                        }
                    }
                    Ok(())
                })
                .expect("spawn")
                .join()
                .map_err(|_| "panicked".to_owned())
                .and_then(|r| r);
            prop_assert!(result.is_ok(), "{:?}", result);
        }
    }
}
