//! Parsing one original store's files (spec §3.2): the store info file, and every
//! `@object.json` envelope into a document or a link at its canonical ref ([`read_store`]);
//! what cannot be parsed becomes a [`Problem`]. Mapping the result to our layout is
//! [`super::map`]'s.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::load::RawStore;
use super::{ENVELOPE_FILE, INFO_FILE, ImportError, Problem};
use crate::refs::Ref;
use crate::store::StoreKind;

/// The store info file's shape.
#[derive(Deserialize)]
struct StoreInfo {
    version: u64,
    #[serde(rename = "Tags", default)]
    tags: Option<BTreeMap<String, Value>>,
}

/// An envelope (spec §3.2); stacks and `body_type` are ignored.
#[derive(Deserialize)]
struct Envelope {
    kind: String,
    #[serde(default)]
    links: Option<Vec<String>>,
    /// `Some(Value::Null)` for a `null` body, `None` when the key is missing.
    #[serde(default, deserialize_with = "present")]
    body: Option<Value>,
}

/// Deserializes a field that is present (whatever its value, `null` included) as `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// What sits at a ref in the source.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Item {
    Doc(Value),
    Link(Ref),
}

/// One original store, parsed.
pub(super) struct ParsedStore {
    pub(super) label: String,
    pub(super) kind: StoreKind,
    pub(super) items: BTreeMap<Ref, Item>,
    /// Back-references: for a ref, the refs its envelope says link to it.
    pub(super) back_refs: BTreeMap<Ref, Vec<String>>,
}

/// Parses the envelopes of one original store.
pub(super) fn read_store(
    raw: &RawStore,
    kind: StoreKind,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> Result<ParsedStore, ImportError> {
    let info_path = format!("{}: {INFO_FILE}", raw.label);
    match raw.files.get(INFO_FILE) {
        Some(bytes) => {
            let info: StoreInfo =
                serde_json::from_slice(bytes).map_err(|source| ImportError::BadInfo {
                    path: info_path.clone(),
                    source,
                })?;
            if info.version != 2 && info.version != 3 {
                return Err(ImportError::UnsupportedVersion {
                    path: info_path,
                    version: info.version,
                });
            }
            // Version 2 has no tags; version 3 names the store's role.
            if info.version == 3
                && let Some(tags) = &info.tags
            {
                let other = match kind {
                    StoreKind::State => "intent",
                    StoreKind::Intent => "state",
                };
                if tags.contains_key(other) && !tags.contains_key(kind.as_str()) {
                    problems.push(Problem {
                        path: info_path,
                        message: format!(
                            "the store is tagged {other} but was given as the {kind} store"
                        ),
                    });
                }
            }
        }
        None if raw.files.keys().any(|k| k.starts_with("refs/")) => {
            // The original creates the file on first open (version 3): a store without
            // one was never opened by a version that wrote it, and reads the same.
            notes.push(format!("{}: no {INFO_FILE}, read as version 3", raw.label));
        }
        None => {
            return Err(ImportError::NotAStore {
                source_name: raw.label.clone(),
            });
        }
    }
    let mut store = ParsedStore {
        label: raw.label.clone(),
        kind,
        items: BTreeMap::new(),
        back_refs: BTreeMap::new(),
    };
    let mut origin: BTreeMap<Ref, String> = BTreeMap::new();
    let mut rewritten = 0usize;
    for (path, bytes) in &raw.files {
        let shown = format!("{}: {path}", raw.label);
        let problem = |message: String| Problem {
            path: shown.clone(),
            message,
        };
        if path == INFO_FILE {
            continue;
        }
        let Some(rest) = path.strip_prefix("refs/") else {
            if path.starts_with("dependencies/") {
                problems.push(problem(
                    "dependency bookkeeping (spec §3.2) has no equivalent here".to_string(),
                ));
            } else {
                notes.push(format!("{shown}: not a store file, left out"));
            }
            continue;
        };
        let Some(ref_text) = rest
            .strip_suffix(ENVELOPE_FILE)
            .and_then(|r| r.strip_suffix('/'))
        else {
            problems.push(problem(format!(
                "not an envelope (expected {ENVELOPE_FILE})"
            )));
            continue;
        };
        let r = match Ref::parse(ref_text) {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(format!("not a valid ref: {e}")));
                continue;
            }
        };
        if let Err(e) = r.ensure_storable() {
            problems.push(problem(format!("not a storable ref: {e}")));
            continue;
        }
        if !r.fragment.is_empty() {
            problems.push(problem(
                "a ref with a fragment cannot hold a document".to_string(),
            ));
            continue;
        }
        if r.to_string() != ref_text {
            rewritten += 1;
        }
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(e) => {
                problems.push(problem(format!("broken envelope: {e}")));
                continue;
            }
        };
        let item = match (envelope.kind.as_str(), envelope.body) {
            ("ref", Some(body)) => Item::Doc(body),
            ("link", Some(Value::String(target))) => {
                match Ref::parse(&target).and_then(|t| t.ensure_storable().map(|()| t)) {
                    Ok(t) if t.fragment.is_empty() => Item::Link(t),
                    Ok(_) => {
                        problems.push(problem(format!("link target {target:?} has a fragment")));
                        continue;
                    }
                    Err(e) => {
                        problems.push(problem(format!("link target is not a valid ref: {e}")));
                        continue;
                    }
                }
            }
            ("link", Some(_)) => {
                problems.push(problem(
                    "broken envelope: a link's body must be a ref string".to_string(),
                ));
                continue;
            }
            (_, None) => {
                problems.push(problem("broken envelope: no body".to_string()));
                continue;
            }
            (other, _) => {
                problems.push(problem(format!(
                    "broken envelope: unknown kind {other:?} (expected \"ref\" or \"link\")"
                )));
                continue;
            }
        };
        if let Some(previous) = store.items.get(&r) {
            // An old spelling next to the canonical one: fine when they agree.
            if *previous != item {
                problems.push(problem(format!(
                    "{r} is also stored at {} with different content",
                    origin.get(&r).map_or("another path", String::as_str)
                )));
            }
            continue;
        }
        if let Some(links) = envelope.links.filter(|l| !l.is_empty()) {
            store.back_refs.insert(r.clone(), links);
        }
        origin.insert(r.clone(), shown.clone());
        store.items.insert(r, item);
    }
    if rewritten > 0 {
        notes.push(format!(
            "{}: {rewritten} refs in an old spelling (`+`, `call/`) rewritten to the canonical form",
            raw.label
        ));
    }
    Ok(store)
}

/// Resolves links in `r` against `links` (deepest linked prefix, single level, spec §3.3).
pub(super) fn resolve(items: &BTreeMap<Ref, Item>, r: &Ref) -> Ref {
    let segs = r.storage_segments();
    for n in (1..=segs.len()).rev() {
        let prefix: Vec<&str> = segs[..n].iter().map(String::as_str).collect();
        let Ok(candidate) = Ref::from_storage_segments(&prefix) else {
            continue;
        };
        if let Some(Item::Link(target)) = items.get(&candidate) {
            let mut joined = target.storage_segments();
            joined.extend(segs[n..].iter().cloned());
            let joined: Vec<&str> = joined.iter().map(String::as_str).collect();
            return Ref::from_storage_segments(&joined).unwrap_or_else(|_| r.clone());
        }
    }
    r.clone()
}
