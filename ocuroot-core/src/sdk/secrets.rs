//! Secret masking: [`Secrets`] and [`MaskingSink`].
//!
//! `secret(value)` registers a string in the [`Secrets`] of the evaluation or call. Every line
//! that reaches a [`PrintSink`] through a [`MaskingSink`] has each registered secret replaced
//! by `<secret>` (spec §4.10), so progress output and stored logs never contain them.
//! A [`Secrets`] value is a cheap handle: clones share the same list, so secrets registered
//! while evaluating a package also mask the output of its functions' runs.

use std::sync::{Arc, RwLock};

use crate::sdk::output::{PrintSink, SourceLocation};

/// The replacement text for a masked secret.
pub const MASK: &str = "<secret>";

/// The key of the marker that replaces an output string holding a secret:
/// `{"masked_secret": "Bearer <secret>"}` (see [`Secrets::mark_json`]).
pub const MARKER_KEY: &str = "masked_secret";

/// A shared list of secret strings; clones share the list.
#[derive(Clone, Default, Debug)]
pub struct Secrets(Arc<RwLock<Vec<String>>>);

impl Secrets {
    /// Registers `s` as a secret; empty strings are ignored (they would match everywhere).
    pub fn register(&self, s: &str) {
        if s.is_empty() {
            return;
        }
        let mut list = match self.0.write() {
            Ok(list) => list,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !list.iter().any(|x| x == s) {
            list.push(s.to_owned());
            // Longest first, so a secret containing another is masked whole.
            list.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        }
    }

    /// Returns `text` with every registered secret replaced by `<secret>`.
    pub fn mask(&self, text: &str) -> String {
        let list = match self.0.read() {
            Ok(list) => list,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = text.to_owned();
        for secret in list.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// Returns `v` with every string (keys excluded) masked as by [`Secrets::mask`].
    pub fn mask_json(&self, v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => serde_json::Value::String(self.mask(s)),
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(|x| self.mask_json(x)).collect())
            }
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, x)| (k.clone(), self.mask_json(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Returns `v` with every string holding a registered secret replaced by the marker
    /// `{"masked_secret": "<the string, masked>"}`.
    ///
    /// Used for task outputs: a consumer reading the output through `input()` receives a
    /// dict it can detect (`"masked_secret" in v`) instead of a string such as
    /// `Bearer <secret>` that would silently break a shell command interpolating it; using
    /// the marker as a string fails the consumer's run with a type error.
    pub fn mark_json(&self, v: &serde_json::Value) -> serde_json::Value {
        if self.is_empty() {
            return v.clone();
        }
        match v {
            serde_json::Value::String(s) => {
                let masked = self.mask(s);
                if masked == *s {
                    v.clone()
                } else {
                    serde_json::json!({ MARKER_KEY: masked })
                }
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(|x| self.mark_json(x)).collect())
            }
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, x)| (self.mask(k), self.mark_json(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Returns true when no secret has been registered.
    pub fn is_empty(&self) -> bool {
        match self.0.read() {
            Ok(list) => list.is_empty(),
            Err(poisoned) => poisoned.into_inner().is_empty(),
        }
    }
}

/// A [`PrintSink`] that masks secrets, then forwards each line to another sink.
pub struct MaskingSink {
    inner: Arc<dyn PrintSink>,
    secrets: Secrets,
}

impl std::fmt::Debug for MaskingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskingSink")
            .field("secrets", &self.secrets.is_empty())
            .finish_non_exhaustive()
    }
}

impl MaskingSink {
    /// Creates a sink masking `secrets` before forwarding to `inner`.
    pub fn new(inner: Arc<dyn PrintSink>, secrets: Secrets) -> Self {
        MaskingSink { inner, secrets }
    }
}

impl PrintSink for MaskingSink {
    fn print(&self, line: &str) {
        self.inner.print(&self.secrets.mask(line));
    }

    fn print_at(&self, line: &str, at: &SourceLocation) {
        self.inner.print_at(&self.secrets.mask(line), at);
    }
}

/// `secret()` was given something other than a string.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::CollectingSink;

    #[test]
    fn masks_text_json_and_sink_output() {
        let secrets = Secrets::default();
        assert!(secrets.is_empty());
        secrets.register("abc");
        secrets.register("abc123");
        secrets.register("");
        assert!(!secrets.is_empty());
        assert_eq!(secrets.mask("x abc123 abc y"), "x <secret> <secret> y");
        let v = serde_json::json!({"abc": ["abc", 1, {"k": "zabcz"}]});
        assert_eq!(
            secrets.mask_json(&v),
            serde_json::json!({"abc": ["<secret>", 1, {"k": "z<secret>z"}]})
        );
        assert_eq!(
            secrets.mark_json(&serde_json::json!({"h": "Bearer abc", "n": 1, "l": ["x"]})),
            serde_json::json!({"h": {"masked_secret": "Bearer <secret>"}, "n": 1, "l": ["x"]})
        );
        let collect = Arc::new(CollectingSink::default());
        let sink = MaskingSink::new(collect.clone(), secrets.clone());
        sink.print("token=abc123");
        assert_eq!(collect.lines(), vec!["token=<secret>"]);
    }
}
