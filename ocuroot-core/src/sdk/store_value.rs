//! The Starlark form of a store: what `store.fs(...)` / `store.git(...)` return and how it
//! is read back.
//!
//! In Starlark a store is the dict `{"fs": {"path": ...}}` or
//! `{"git": {"remote_url", "branch", "create_branch", "support_files"}}`, as in the
//! original SDK; [`StoreSpec`] is its Rust form.
//!
//! The support files of a Git store are outside input written into the store branch, so
//! they are checked where the store value is made
//! ([`crate::store::support_files::check_support_files`]): an error at the `store.git(...)`
//! call, before any store is opened or written.

use std::collections::BTreeMap;

use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::{Heap, UnpackValue, Value};

use crate::store::StoreSpec;
use crate::store::support_files::check_support_files;

/// Allocates the Starlark dict form of `spec`.
pub fn to_value<'v>(spec: &StoreSpec, heap: Heap<'v>) -> Value<'v> {
    match spec {
        StoreSpec::Fs { path } => {
            let inner = heap.alloc(AllocDict([("path", heap.alloc(path.as_str()))]));
            heap.alloc(AllocDict([("fs", inner)]))
        }
        StoreSpec::Git {
            remote_url,
            branch,
            create_branch,
            support_files,
        } => {
            let branch = match branch {
                Some(b) => heap.alloc(b.as_str()),
                None => Value::new_none(),
            };
            let inner = heap.alloc(AllocDict([
                ("remote_url", heap.alloc(remote_url.as_str())),
                ("branch", branch),
                ("create_branch", Value::new_bool(*create_branch)),
                ("support_files", heap.alloc(support_files.clone())),
            ]));
            heap.alloc(AllocDict([("git", inner)]))
        }
    }
}

/// Reads a store back from its Starlark dict form.
///
/// # Errors
///
/// Returns a description of what is wrong when `value` is not a store value.
pub fn from_value(value: Value<'_>) -> Result<StoreSpec, String> {
    let dict = DictRef::from_value(value).ok_or_else(|| {
        format!(
            "expected a store (store.fs(...) or store.git(...)), got {}",
            value.get_type()
        )
    })?;
    if let Some(fs) = dict.get_str("fs") {
        let fs = DictRef::from_value(fs).ok_or("store.fs value must be a dict")?;
        let path = string_field(&fs, "path")?.ok_or("store.fs value needs a path")?;
        return Ok(StoreSpec::Fs { path });
    }
    if let Some(git) = dict.get_str("git") {
        let git = DictRef::from_value(git).ok_or("store.git value must be a dict")?;
        let remote_url =
            string_field(&git, "remote_url")?.ok_or("store.git value needs a remote_url")?;
        let branch = string_field(&git, "branch")?;
        let create_branch = match git.get_str("create_branch") {
            None => true,
            Some(v) if v.is_none() => true,
            Some(v) => v
                .unpack_bool()
                .ok_or("store.git create_branch must be a bool")?,
        };
        let support_files = match git.get_str("support_files") {
            None => BTreeMap::new(),
            Some(v) if v.is_none() => BTreeMap::new(),
            Some(v) => BTreeMap::<String, String>::unpack_value(v)
                .ok()
                .flatten()
                .ok_or("store.git support_files must be a dict of strings")?,
        };
        check_support_files(&support_files, &crate::limits::current())
            .map_err(|e| e.to_string())?;
        return Ok(StoreSpec::Git {
            remote_url,
            branch,
            create_branch,
            support_files,
        });
    }
    Err(
        "expected a store (store.fs(...) or store.git(...)), got a dict without \"fs\" or \"git\""
            .to_owned(),
    )
}

fn string_field(dict: &DictRef<'_>, key: &str) -> Result<Option<String>, String> {
    match dict.get_str(key) {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .unpack_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| format!("store field {key} must be a string")),
    }
}
