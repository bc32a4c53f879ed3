//! Which stores a repository uses, as plain data: [`StoreSpec`] (one backend) and
//! [`StoreSelection`] (the state store and, optionally, a separate intent store).
//!
//! `repo.ocu.star` chooses them with `store.fs(...)`, `store.git(...)` and `store.set(...)`;
//! the Starlark form of these values (a dict, as in the original SDK) is
//! [`crate::sdk::store_value`]'s. The workspace opens the [`Store`](super::Store)s they
//! name; the stored repo configuration records them so that other jobs find the same
//! stores.

use std::collections::BTreeMap;

/// A state or intent store backend, as chosen in `repo.ocu.star`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StoreSpec {
    /// `store.fs(path)`: a local store at `path`, relative to the repo root.
    Fs {
        /// The path given to `store.fs`.
        path: String,
    },
    /// `store.git(remote_url, ...)`: a store in a Git remote.
    Git {
        /// The remote to clone, fetch from and push to.
        remote_url: String,
        /// The branch holding the store; `None` for the remote's default.
        branch: Option<String>,
        /// Whether to create the branch when the remote lacks it.
        create_branch: bool,
        /// Extra files (path -> content) kept in the store branch, e.g. a CI config.
        support_files: BTreeMap<String, String>,
    },
}

/// The stores selected by `store.set(state, intent=None)` or the `*_store` globals.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreSelection {
    /// The state store.
    pub state: StoreSpec,
    /// The intent store; `None` means "the state backend, under an `intent` prefix" (§3.5).
    pub intent: Option<StoreSpec>,
}
