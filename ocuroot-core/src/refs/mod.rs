//! References: the names of every document in a store.
//!
//! A ref has the grammar `[repo]/-/[path]/@[release]/[subpath-type]/[subpath]#[fragment]`
//! (spec §2). [`Ref`] is the parsed form; its [`Display`](std::fmt::Display) output is the
//! *canonical* string, which is the storage key of the document. Parsing and rendering
//! round-trip exactly: `r.to_string().parse::<Ref>() == Ok(r)`.
//!
//! Submodules:
//! - `parse`: the lexer/parser and [`RefParseError`].
//! - [`glob`]: glob patterns over canonical ref strings ([`Glob`]).
//! - `resolve`: relative refs ([`Ref::relative_to`]) and [`reduce`].
//!
//! Invariants enforced at parse time: no `.`/`..` segment outside the relative-ref markers,
//! no empty segment, no NUL or control characters, no leading `/`. Such refs could escape
//! a store's tree and are rejected with an error quoting the ref.

pub mod glob;
mod parse;
mod resolve;

pub use glob::{Glob, GlobError};
pub use parse::RefParseError;
pub use resolve::{ReduceError, reduce};

/// A parsed reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ref {
    /// The repository name (`github.com/org/repo`), `.` for "this repo", or empty.
    pub repo: String,
    /// The package file path within the repo (`path/to/package.ocu.star`), `.`, or empty.
    pub filename: String,
    /// True for global refs (`@/environment/x`, `@/custom/x`).
    pub global: bool,
    /// The release part: `None` when absent, `Some("")` for `@` (latest/current),
    /// `Some("r1")`, a tag, or a commit.
    pub release: Option<String>,
    /// The subpath type (`deploy`, `task`, `custom`, `environment`, `commit`, `push`, `op`),
    /// or empty. `call` is normalised to `task` by the parser.
    pub subpath_type: String,
    /// The subpath after the type (`staging`, `build/1/status/complete`), or empty.
    pub subpath: String,
    /// The fragment after `#` (`output/count`), or empty.
    pub fragment: String,
}
