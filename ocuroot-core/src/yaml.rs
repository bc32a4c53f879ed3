//! Canonical YAML: the one place that talks to the YAML crate.
//!
//! Every document in a store is written by [`to_canonical`], which sorts object keys (a
//! `serde_json::Map` is a `BTreeMap`), indents by two spaces and ends with a newline, so the
//! same value is always the same bytes and therefore the same Git blob. The diff between
//! intent and state relies on that: "in sync" means "identical blob".
//!
//! Reading uses `serde-saphyr`, which rejects duplicate keys and keeps line/column
//! information in its errors.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
}

/// Renders a JSON value as canonical YAML (sorted keys, 2-space indent, trailing newline).
///
/// # Errors
///
/// Fails only if the serializer rejects the value (for example a non-finite float).
pub fn to_canonical(value: &Value) -> Result<String, YamlError> {
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
/// is not valid YAML, has duplicate keys, or does not fit `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str(text).map_err(|e| YamlError::Parse {
        message: e.to_string(),
    })
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
    }
}
