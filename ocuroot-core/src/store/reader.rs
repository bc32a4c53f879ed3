//! [`Reader`]: reading documents, whether from a store's tip or from an uncommitted
//! [`View`] of it.
//!
//! A [`Store`] reads its branch tip; a [`View`] reads one commit plus the writes of a
//! transaction not committed yet. Code that only reads (the engine's queries, the intent
//! pipeline's callers) takes `&dyn Reader` and works on either, so a decision can be made
//! against the state a transaction is about to commit. The model is jj's `Repo` trait over
//! `ReadonlyRepo` and `MutableRepo`.

use serde_json::Value;

use super::{Area, MatchOptions, Store, StoreResult, View};
use crate::refs::{Glob, Ref};

/// Reads documents and matches refs.
pub trait Reader {
    /// Returns the document at `r` (links resolved, fragment applied), if any.
    ///
    /// # Errors
    ///
    /// As [`Store::try_get`].
    fn try_get(&self, r: &Ref) -> StoreResult<Option<Value>>;

    /// Calls `f` on the document at `r` (links resolved, fragment applied) without copying
    /// it out of the store's cache of decoded documents; returns whether there was one.
    ///
    /// # Errors
    ///
    /// As [`Store::try_get`].
    fn try_visit(&self, r: &Ref, f: &mut dyn FnMut(&Value)) -> StoreResult<bool>;

    /// Returns the refs matching any of `globs` in `area`, sorted.
    ///
    /// # Errors
    ///
    /// As [`Store::match_refs`].
    fn match_refs(
        &self,
        area: Area,
        globs: &[Glob],
        options: MatchOptions,
    ) -> StoreResult<Vec<Ref>>;
}

impl Reader for Store {
    fn try_get(&self, r: &Ref) -> StoreResult<Option<Value>> {
        Store::try_get(self, r)
    }

    fn try_visit(&self, r: &Ref, f: &mut dyn FnMut(&Value)) -> StoreResult<bool> {
        Ok(Store::try_with(self, r, f)?.is_some())
    }

    fn match_refs(
        &self,
        area: Area,
        globs: &[Glob],
        options: MatchOptions,
    ) -> StoreResult<Vec<Ref>> {
        Store::match_refs(self, area, globs, options)
    }
}

impl Reader for View<'_> {
    fn try_get(&self, r: &Ref) -> StoreResult<Option<Value>> {
        View::try_get(self, r)
    }

    fn try_visit(&self, r: &Ref, f: &mut dyn FnMut(&Value)) -> StoreResult<bool> {
        Ok(View::try_with(self, r, f)?.is_some())
    }

    fn match_refs(
        &self,
        area: Area,
        globs: &[Glob],
        options: MatchOptions,
    ) -> StoreResult<Vec<Ref>> {
        View::match_refs(self, area, globs, options)
    }
}

/// Decodes the document at `r` as `T` straight from the store's cache of decoded documents
/// (no copy of the document first): `None` when there is none, `Some(Err)` when it does not
/// have `T`'s shape.
///
/// # Errors
///
/// As [`Store::try_get`].
pub fn try_get_as<T: serde::de::DeserializeOwned>(
    reader: &dyn Reader,
    r: &Ref,
) -> StoreResult<Option<Result<T, serde_json::Error>>> {
    let mut out = None;
    reader.try_visit(r, &mut |v| out = Some(T::deserialize(v)))?;
    Ok(out)
}
