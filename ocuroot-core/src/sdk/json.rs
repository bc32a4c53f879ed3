//! The `json` namespace, following Go Starlark's `json` module.
//!
//! - `json.encode(x)`: compact JSON; dict keys are sorted, as in Go Starlark, so output is
//!   deterministic.
//! - `json.decode(s)`: JSON text to Starlark values.
//! - `json.indent(s, *, prefix="", indent="\t")`: reformats valid JSON text.
//! - `json.encode_indent(x, *, prefix="", indent="\t")`: `indent(encode(x))`.

use starlark::environment::GlobalsBuilder;
use starlark::starlark_module;
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::{AllocList, ListRef};
use starlark::values::structs::StructRef;
use starlark::values::tuple::TupleRef;
use starlark::values::{Heap, Value};

use crate::limits::{self, LimitError};

/// Checks that a Starlark value nests lists, tuples, dicts and structs at most `max`
/// levels deep, walking it with an explicit stack.
///
/// Starlark's own conversion to JSON recurses once per level, so a value built with
/// `x = [x]` in a loop would overflow the stack of the thread converting it; this check
/// runs first and turns that into an error naming the limit.
///
/// # Errors
///
/// [`LimitError::TooDeep`].
pub fn check_depth(value: Value<'_>, max: usize) -> Result<(), LimitError> {
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        if d > max {
            return Err(LimitError::TooDeep { limit: max });
        }
        if let Some(list) = ListRef::from_value(v) {
            stack.extend(list.iter().map(|x| (x, d + 1)));
        } else if let Some(tuple) = TupleRef::from_value(v) {
            stack.extend(tuple.iter().map(|x| (x, d + 1)));
        } else if let Some(dict) = DictRef::from_value(v) {
            stack.extend(dict.iter().flat_map(|(k, x)| [(k, d + 1), (x, d + 1)]));
        } else if let Some(st) = StructRef::from_value(v) {
            stack.extend(st.iter().map(|(_, x)| (x, d + 1)));
        }
    }
    Ok(())
}

/// Returns the JSON form of a Starlark value, after checking it against the
/// [limits]: nesting first (the conversion recurses), then the numbers.
///
/// # Errors
///
/// A limit error, or Starlark's error for values without a JSON form.
pub fn to_json_checked(value: Value<'_>) -> starlark::Result<serde_json::Value> {
    let limits = limits::current();
    check_depth(value, limits.max_depth).map_err(starlark::Error::new_other)?;
    let json = value.to_json_value().map_err(starlark::Error::new_other)?;
    limits::check_value(&json, &limits).map_err(starlark::Error::new_other)?;
    Ok(json)
}

/// Converts JSON into Starlark values; object keys are inserted in sorted order, so dict
/// iteration and `str(d)` are deterministic (spec §9.1.11).
pub fn to_starlark<'v>(heap: Heap<'v>, value: &serde_json::Value) -> Value<'v> {
    match value {
        serde_json::Value::Null => Value::new_none(),
        serde_json::Value::Bool(b) => Value::new_bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                heap.alloc(i)
            } else if let Some(u) = n.as_u64() {
                heap.alloc(u)
            } else {
                heap.alloc(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => heap.alloc(s.as_str()),
        serde_json::Value::Array(items) => {
            heap.alloc(AllocList(items.iter().map(|x| to_starlark(heap, x))))
        }
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            heap.alloc(AllocDict(
                entries
                    .into_iter()
                    .map(|(k, v)| (heap.alloc(k.as_str()), to_starlark(heap, v))),
            ))
        }
    }
}

/// Errors raised by the `json` builtins.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The text given to `decode` or `indent` is not valid JSON.
    #[error("json: invalid JSON: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// Writes `value` as compact JSON with object keys sorted.
fn write_sorted(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_sorted(v, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Returns the compact JSON encoding of a Starlark value, with dict keys sorted.
///
/// # Errors
///
/// Fails for values that have no JSON form (functions, non-string dict keys, ...).
pub fn encode_value(value: Value<'_>) -> starlark::Result<String> {
    let json = to_json_checked(value)?;
    let mut out = String::new();
    write_sorted(&json, &mut out);
    Ok(out)
}

/// Reformats JSON text like Go's `json.Indent`: one element per line, each line starting
/// with `prefix` followed by one `indent` per nesting level; empty arrays and objects stay
/// `[]` and `{}`.
///
/// # Errors
///
/// Fails with [`JsonError::Invalid`] when `src` is not valid JSON.
pub fn indent_json(src: &str, prefix: &str, indent: &str) -> Result<String, JsonError> {
    serde_json::from_str::<serde::de::IgnoredAny>(src)?;
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    // Set after an opening bracket: the newline is written only if the container is not
    // empty, so that `[]` stays on one line.
    let mut pending_open = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(prefix);
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in src.trim_start().chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if pending_open {
            pending_open = false;
            if c != ']' && c != '}' {
                newline(&mut out, depth);
            } else {
                depth -= 1;
                out.push(c);
                continue;
            }
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                depth += 1;
                pending_open = true;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            other => out.push(other),
        }
    }
    Ok(out)
}

fn json_err(e: JsonError) -> starlark::Error {
    starlark::Error::new_other(e)
}

#[starlark_module]
fn json_members(builder: &mut GlobalsBuilder) {
    /// Returns the JSON encoding of `x`; dict keys are sorted.
    fn encode(#[starlark(require = pos)] x: Value) -> starlark::Result<String> {
        encode_value(x)
    }

    /// Decodes a JSON string into Starlark values.
    fn decode<'v>(
        #[starlark(require = pos)] x: &str,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let value: serde_json::Value =
            serde_json::from_str(x).map_err(|e| json_err(JsonError::Invalid(e)))?;
        Ok(to_starlark(heap, &value))
    }

    /// Reformats a JSON string with one element per line.
    fn indent(
        #[starlark(require = pos)] x: &str,
        #[starlark(require = named, default = "")] prefix: &str,
        #[starlark(require = named, default = "\t")] indent: &str,
    ) -> starlark::Result<String> {
        indent_json(x, prefix, indent).map_err(json_err)
    }

    /// Returns the indented JSON encoding of `x`.
    fn encode_indent(
        #[starlark(require = pos)] x: Value,
        #[starlark(require = named, default = "")] prefix: &str,
        #[starlark(require = named, default = "\t")] indent: &str,
    ) -> starlark::Result<String> {
        let compact = encode_value(x)?;
        indent_json(&compact, prefix, indent).map_err(json_err)
    }
}

/// Registers the `json` namespace.
pub fn register_json(builder: &mut GlobalsBuilder) {
    builder.namespace("json", json_members);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_matches_go() {
        assert_eq!(
            indent_json(r#"{"a":[1,2],"b":{},"c":[],"d":"x, y: {"}"#, "", "  ").expect("valid"),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": [],\n  \"d\": \"x, y: {\"\n}"
        );
        assert_eq!(indent_json("[1]", ">", "\t").expect("valid"), "[\n>\t1\n>]");
        assert!(indent_json("{", "", "\t").is_err());
    }
}
