//! Mapping parsed original stores to our layout ([`map_stores`]): one [`Transaction`] per
//! store, repository configurations merged into state and converted, push indexes given
//! our `packages`, and the applied-intent mirror derived from the original's intent diff
//! (spec §6.6), as the parent module's documentation states.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::{Value, json};

use super::parse::{Item, ParsedStore, resolve};
use super::{DocKind, ENVELOPE_FILE, Prepared, Problem, REPO_CONFIG, StorePlan};
use crate::intent::IntentKind;
use crate::redact::redact_url;
use crate::refs::Ref;
use crate::refs::SubpathType;
use crate::store::{StoreKind, Transaction};

/// True for the state refs the original's intent diff looks at (spec §6.6): deploy links,
/// single-segment custom state and environments.
fn in_original_diff(r: &Ref, item: &Item) -> bool {
    let single = !r.subpath.is_empty() && !r.subpath.contains('/');
    match (r.type_str(), item) {
        ("deploy", Item::Link(_)) => !r.global && r.release.as_deref() == Some("") && single,
        ("custom", Item::Doc(_)) => single && r.release.is_some(),
        ("environment", Item::Doc(_)) => r.global && single,
        _ => false,
    }
}

/// `{release, input}` of a deploy intent or task summary, for comparing them (spec §3.6).
fn deploy_key(doc: &Value) -> Value {
    json!({
        "release": doc.get("release").cloned().unwrap_or(Value::Null),
        "input": doc.get("input").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| json!({})),
    })
}

/// Converts an original repository configuration (base64 `source`, remote records) to ours.
pub(super) fn convert_repo_config(body: &Value) -> Result<Value, String> {
    let Some(obj) = body.as_object() else {
        return Err("a repo config must be an object".to_string());
    };
    let mut out = obj.clone();
    let source = match obj.get("source") {
        Some(Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| format!("repo config source is not base64: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "repo config source is not UTF-8".to_string())?
        }
        Some(Value::Null) | None => String::new(),
        Some(_) => return Err("repo config source must be a string".to_string()),
    };
    let mut remotes = Vec::new();
    match obj.get("Remotes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(url) => remotes.push(redact_url(url)),
                    Value::Object(rec) => {
                        let mut found = false;
                        for key in ["URL", "Url", "url"] {
                            if let Some(Value::String(url)) = rec.get(key) {
                                remotes.push(redact_url(url));
                                found = true;
                            }
                        }
                        for key in ["URLs", "Urls", "urls"] {
                            if let Some(Value::Array(urls)) = rec.get(key) {
                                for url in urls.iter().filter_map(Value::as_str) {
                                    remotes.push(redact_url(url));
                                    found = true;
                                }
                            }
                        }
                        if !found {
                            return Err(format!("repo config remote {item} has no URL"));
                        }
                    }
                    other => return Err(format!("repo config remote {other} is not a URL")),
                }
            }
        }
        Some(_) => return Err("repo config Remotes must be a list".to_string()),
    }
    out.insert("Remotes".to_string(), json!(remotes));
    out.insert("source".to_string(), Value::String(source));
    Ok(out.into())
}

/// True for a push index of a repository configuration (`…/repo.ocu.star/@<c>/push/index`).
pub(super) fn is_push_index(r: &Ref) -> bool {
    !r.global && r.filename == REPO_CONFIG && r.is(SubpathType::Push) && r.subpath == "index"
}

/// Adds our `packages` (package file → watched paths) to an original push index, whose
/// `release_configs` are keyed by package ref; the original's fields are kept as they are,
/// so the index reads back with everything it had, and `push` knows what each package
/// watches.
pub(super) fn convert_push_index(body: &Value) -> Value {
    let Some(obj) = body.as_object() else {
        return body.clone();
    };
    let Some(Value::Object(configs)) = obj.get("release_configs") else {
        return body.clone();
    };
    if obj.contains_key("packages") {
        return body.clone();
    }
    let packages: serde_json::Map<String, Value> = configs
        .iter()
        .map(|(pkg, config)| {
            let file = pkg.split_once("/-/").map_or(pkg.as_str(), |(_, f)| f);
            let watch = match config.get("watch_files") {
                Some(Value::Array(items)) => Value::Array(items.clone()),
                _ => json!([]),
            };
            (file.to_string(), json!({"watch_files": watch}))
        })
        .collect();
    let mut out = obj.clone();
    out.insert("packages".to_string(), Value::Object(packages));
    out.into()
}

/// True for a repository configuration document or its `@` link.
fn is_repo_config(r: &Ref) -> bool {
    !r.global && r.filename == REPO_CONFIG && r.release.is_some() && r.subpath_type.is_none()
}

/// Maps the parsed stores to our transactions.
pub(super) fn map_stores(
    mut state: ParsedStore,
    intent: Option<ParsedStore>,
    mut problems: Vec<Problem>,
    mut notes: Vec<String>,
) -> Prepared {
    let message = |store: &ParsedStore| format!("import {} store from {}", store.kind, store.label);
    let mut state_counts = BTreeMap::new();
    let mut intent_counts = BTreeMap::new();

    // Repo configs of the intent store join state's.
    let mut intent_items = BTreeMap::new();
    let mut merged = BTreeSet::new();
    if let Some(intent) = &intent {
        for (r, item) in &intent.items {
            let kind = DocKind::of(StoreKind::Intent, r, matches!(item, Item::Link(_)));
            *intent_counts.entry(kind).or_insert(0) += 1;
            if is_repo_config(r) {
                match state.items.get(r) {
                    None => {
                        state.items.insert(r.clone(), item.clone());
                        merged.insert(r.clone());
                    }
                    Some(existing) if existing == item => {}
                    Some(_) if matches!(item, Item::Link(_)) => notes.push(format!(
                        "{}: {r} points elsewhere than in state; state's link is kept",
                        intent.label
                    )),
                    Some(_) => problems.push(Problem {
                        path: format!("{}: refs/{r}/{ENVELOPE_FILE}", intent.label),
                        message: "differs from the state store's copy".to_string(),
                    }),
                }
                continue;
            }
            match (IntentKind::of(r), item) {
                (Some(_), Item::Doc(v)) => {
                    intent_items.insert(r.clone(), v.clone());
                }
                _ => problems.push(Problem {
                    path: format!("{}: refs/{r}/{ENVELOPE_FILE}", intent.label),
                    message: if matches!(item, Item::Link(_)) {
                        "a link in the intent store has no equivalent here".to_string()
                    } else {
                        "not an intent document (environment, custom state or deploy intent)"
                            .to_string()
                    },
                }),
            }
        }
    }

    // State entries.
    let mut state_tx = Transaction::new(message(&state));
    for (r, item) in &state.items {
        let link = matches!(item, Item::Link(_));
        // Repo configs merged in from intent are counted there.
        if !merged.contains(r) {
            *state_counts
                .entry(DocKind::of(StoreKind::State, r, link))
                .or_insert(0) += 1;
        }
        match item {
            Item::Doc(v) if is_repo_config(r) => match convert_repo_config(v) {
                Ok(doc) => {
                    state_tx.set(r, doc);
                }
                Err(message) => problems.push(Problem {
                    path: format!("{}: refs/{r}/{ENVELOPE_FILE}", state.label),
                    message,
                }),
            },
            Item::Doc(v) if is_push_index(r) => {
                state_tx.set(r, convert_push_index(v));
            }
            Item::Doc(v) => {
                state_tx.set(r, v.clone());
            }
            // Links go in after every document, so that no document is written through
            // a link of the same transaction.
            Item::Link(_) => {}
        }
    }
    for (r, item) in &state.items {
        if let Item::Link(target) = item {
            state_tx.link(r, target);
        }
    }
    // Back-references: derived data; check them against the links.
    let mut stale = 0usize;
    for store in std::iter::once(&state).chain(intent.iter()) {
        for (target, links) in &store.back_refs {
            for l in links {
                let ok = Ref::parse(l).ok().is_some_and(
                    |l| matches!(store.items.get(&l), Some(Item::Link(t)) if t == target),
                );
                if !ok {
                    stale += 1;
                }
            }
        }
    }
    if stale > 0 {
        notes.push(format!(
            "{stale} stale back-references (`links` naming refs that no longer link there) dropped"
        ));
    }

    // The applied-intent mirror, from the original's intent diff.
    let intent_plan = intent.as_ref().map(|i| {
        let mut tx = Transaction::new(message(i));
        for (r, v) in &intent_items {
            tx.set(r, v.clone());
        }
        StorePlan {
            source: i.label.clone(),
            counts: intent_counts,
            tx,
        }
    });
    if intent.is_some() {
        let mut unmatched: BTreeSet<Ref> = state
            .items
            .iter()
            .filter(|(r, item)| in_original_diff(r, item))
            .map(|(r, _)| r.clone())
            .collect();
        for (i, intent_doc) in &intent_items {
            let resolved = resolve(&state.items, i);
            let is_deploy = IntentKind::of(i) == Some(IntentKind::Deploy);
            // A deploy intent pairs with the state's deploy link at the same ref.
            let state_key = if is_deploy {
                i.clone()
            } else {
                resolved.clone()
            };
            unmatched.remove(&state_key);
            unmatched.remove(i);
            let state_doc: Option<Value> = if is_deploy {
                match state.items.get(i) {
                    Some(Item::Link(target)) => match state.items.get(target) {
                        Some(Item::Doc(summary)) => Some(deploy_key(summary)),
                        _ => None,
                    },
                    _ => None,
                }
            } else {
                match state.items.get(&resolved) {
                    Some(Item::Doc(v)) => Some(v.clone()),
                    _ => None,
                }
            };
            let wanted = if is_deploy {
                deploy_key(intent_doc)
            } else {
                intent_doc.clone()
            };
            match state_doc {
                Some(s) if s == wanted => {
                    state_tx.set_applied(i, intent_doc.clone());
                    *state_counts.entry(DocKind::AppliedInSync).or_insert(0) += 1;
                }
                Some(s) => {
                    state_tx.set_applied(i, s);
                    *state_counts.entry(DocKind::AppliedPending).or_insert(0) += 1;
                }
                None => {}
            }
        }
        // State holds intent refs that intent does not: the original would remove them.
        for r in unmatched {
            let value = match state.items.get(&r) {
                Some(Item::Link(target)) => match state.items.get(target) {
                    Some(Item::Doc(summary)) => deploy_key(summary),
                    _ => continue,
                },
                Some(Item::Doc(v)) => v.clone(),
                None => continue,
            };
            state_tx.set_applied(&r, value);
            *state_counts.entry(DocKind::AppliedPending).or_insert(0) += 1;
        }
    }

    problems.sort();
    Prepared {
        state: StorePlan {
            source: state.label.clone(),
            counts: state_counts,
            tx: state_tx,
        },
        intent: intent_plan,
        notes,
        problems,
    }
}
