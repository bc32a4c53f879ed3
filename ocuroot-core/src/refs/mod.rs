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
//! - [`names`]: validators for tags, release ids, environment and input names.
//! - `natural`: the natural order of refs ([`natural_cmp`]; `r2` before `r10`).
//! - `kinds`: the typed parts ([`SubpathType`], [`RunStatus`]) and the builders of the refs
//!   around a run ([`Ref::status`], [`Ref::run_task`], [`Ref::release_ref`], …).
//!
//! Invariants enforced at parse time: no `.`/`..` segment outside the relative-ref markers,
//! no empty segment, no NUL or control characters, no leading `/`. Such refs could escape
//! a store's tree and are rejected with an error quoting the ref. Names that Git or a Git
//! host refuses are rejected too, so that every store passes `git fsck --strict` and every
//! push to a host with `receive.fsckObjects`: `.git` and its case, NTFS and HFS variants,
//! `.gitmodules` and friends, 8.3 short names (`git~1`), zero-width and text-direction
//! characters, a segment starting with `-`, segments over [`MAX_SEGMENT_LEN`] bytes, refs
//! over [`MAX_REF_LEN`] bytes and an empty fragment (`x#`).
//! [`Ref::ensure_storable`] additionally checks that a ref is absolute before a store uses
//! [`Ref::storage_segments`] as a path.
//!
//! Deliberate differences from the original: a `#` in the repo/filename part is rejected
//! (there is no release for a fragment to attach to), a trailing `/` on the filename is
//! trimmed like the spec trims subpaths, a second `/-` is rejected instead of silently
//! replacing the repo, a subpath type without subpath renders without a trailing `/`, and
//! global refs are not [relative](Ref::is_relative).

use std::cmp::Ordering;
use std::fmt;

pub mod glob;
mod kinds;
pub mod names;
mod natural;
mod parse;
mod resolve;

pub use glob::{Glob, GlobError};
pub use kinds::{BAD_MARK, FREEZE, PROMOTION, REPO_CONFIG_FILE, RunStatus, SubpathType};
pub use natural::natural_cmp;
pub(crate) use parse::is_invisible;
pub use parse::{ErrorKind, MAX_REF_LEN, MAX_SEGMENT_LEN, RefParseError};
pub use resolve::{ReduceError, reduce};

/// A parsed reference.
///
/// Refs order field by field in grammar order, each string field in [natural
/// order](natural_cmp): `pkg/@r2` sorts before `pkg/@r10`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
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
    /// or `None`. `call` is normalised to `task` by the parser.
    pub subpath_type: Option<SubpathType>,
    /// The subpath after the type (`staging`, `build/1/status/complete`), or empty.
    pub subpath: String,
    /// The fragment after `#` (`output/count`), or empty.
    pub fragment: String,
}

impl Ref {
    /// The subpath type as written (`""` for none).
    pub fn type_str(&self) -> &'static str {
        self.subpath_type.map_or("", SubpathType::as_str)
    }

    /// Parses a ref string (spec §2.2); the same as [`str::parse`].
    ///
    /// # Errors
    ///
    /// Returns a [`RefParseError`] quoting `s` when it breaks the grammar, names an unknown
    /// subpath type, or could escape a store's tree (`.`/`..`/empty segments outside the
    /// relative markers, a leading `/`, control characters).
    pub fn parse(s: &str) -> Result<Ref, RefParseError> {
        s.parse()
    }

    /// Returns true if the ref needs [resolving](Ref::relative_to) against a base ref.
    ///
    /// A ref is relative when its repo is empty or `.`, its filename is `.` or its release is
    /// `.` (spec §2.4). Unlike the original, global refs (`@/environment/x`) are never
    /// relative: resolution leaves them unchanged and they are valid store keys.
    pub fn is_relative(&self) -> bool {
        !self.global
            && (self.repo.is_empty()
                || self.repo == "."
                || self.filename == "."
                || self.release.as_deref() == Some("."))
    }

    /// Returns a copy of this ref without its fragment.
    pub fn without_fragment(&self) -> Ref {
        self.with_fragment("")
    }

    /// Returns a copy of this ref with its fragment replaced (`""` removes it).
    pub fn with_fragment(&self, fragment: &str) -> Ref {
        Ref {
            fragment: fragment.to_owned(),
            ..self.clone()
        }
    }

    /// Returns a copy of this ref with its release replaced.
    ///
    /// `None` removes the release, `Some("")` is the current/latest release `@`.
    pub fn with_release(&self, release: Option<&str>) -> Ref {
        Ref {
            release: release.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Returns true if the ref has a release part (possibly the empty `@`).
    pub fn has_release(&self) -> bool {
        self.release.is_some()
    }

    /// Checks that the ref can be used as a store key.
    ///
    /// # Errors
    ///
    /// Returns [`ErrorKind::Relative`] for a relative ref, [`ErrorKind::NotCanonical`] when
    /// the fields do not survive a render/parse round trip, or the parse error of the
    /// rendered string when a hand-built field breaks the grammar or the safety rules.
    pub fn ensure_storable(&self) -> Result<(), RefParseError> {
        let rendered = self.to_string();
        if self.is_relative() {
            return Err(RefParseError::new(&rendered, ErrorKind::Relative));
        }
        parse::check_fields(self).map_err(|kind| RefParseError::new(&rendered, kind))?;
        if Ref::parse(&rendered)? != *self {
            return Err(RefParseError::new(&rendered, ErrorKind::NotCanonical));
        }
        Ok(())
    }

    /// Returns the canonical string without the fragment, split on `/`: the store path.
    ///
    /// For a ref accepted by [`Ref::ensure_storable`] no segment is empty, `.` or `..`.
    pub fn storage_segments(&self) -> Vec<String> {
        self.without_fragment()
            .to_string()
            .split('/')
            .map(str::to_owned)
            .collect()
    }

    /// Rebuilds a ref from store path segments: the inverse of [`Ref::storage_segments`].
    ///
    /// # Errors
    ///
    /// Returns an error when the joined segments do not parse, are not
    /// [storable](Ref::ensure_storable), carry a fragment, or are not the ref's own
    /// [`storage_segments`](Ref::storage_segments) (an old or loose spelling such as `+`
    /// for `@`: [`ErrorKind::NotCanonicalFolder`]).
    pub fn from_storage_segments(segs: &[&str]) -> Result<Ref, RefParseError> {
        let joined = segs.join("/");
        let r = Ref::parse(&joined)?;
        if !r.fragment.is_empty() {
            return Err(RefParseError::new(
                &joined,
                ErrorKind::FragmentInStoragePath,
            ));
        }
        // This runs for every folder a tree walk reads. When the canonical string is the
        // folder path, parsing it again gives `r` back, so of `ensure_storable` only the
        // field checks remain; any other spelling takes the whole check, for its error.
        if r.to_string() == joined {
            if r.is_relative() {
                return Err(RefParseError::new(&joined, ErrorKind::Relative));
            }
            parse::check_fields(&r).map_err(|kind| RefParseError::new(&joined, kind))?;
            return Ok(r);
        }
        r.ensure_storable()?;
        // Without a fragment the storage segments are the canonical string split at `/`,
        // and no segment holds a `/`: comparing the strings is the same check without
        // building the segments again.
        Err(RefParseError::new(
            &joined,
            ErrorKind::NotCanonicalFolder(r.to_string()),
        ))
    }

    /// Returns the fragment path as segments (`output/count` gives `["output", "count"]`).
    ///
    /// The result is empty when there is no fragment.
    pub fn fragment_segments(&self) -> Vec<&str> {
        if self.fragment.is_empty() {
            Vec::new()
        } else {
            self.fragment.split('/').collect()
        }
    }
}

impl Ord for Ref {
    fn cmp(&self, other: &Self) -> Ordering {
        let opt = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => natural_cmp(a, b),
        };
        natural_cmp(&self.repo, &other.repo)
            .then_with(|| natural_cmp(&self.filename, &other.filename))
            .then_with(|| self.global.cmp(&other.global))
            .then_with(|| opt(&self.release, &other.release))
            .then_with(|| natural_cmp(self.type_str(), other.type_str()))
            .then_with(|| natural_cmp(&self.subpath, &other.subpath))
            .then_with(|| natural_cmp(&self.fragment, &other.fragment))
    }
}

impl PartialOrd for Ref {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Renders the canonical form (spec §2.1): `+` is normalised to `@`, `call` to `task`, and
/// trailing `/` are gone because the parser trimmed them.
impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut seg = |f: &mut fmt::Formatter<'_>, s: &str, at: bool| -> fmt::Result {
            if !first {
                f.write_str("/")?;
            }
            first = false;
            if at {
                f.write_str("@")?;
            }
            f.write_str(s)
        };
        if !self.global {
            if !self.repo.is_empty() {
                seg(f, &self.repo, false)?;
                seg(f, "-", false)?;
            }
            if !self.filename.is_empty() {
                seg(f, &self.filename, false)?;
            }
        }
        if let Some(release) = &self.release {
            seg(f, release, true)?;
        }
        if self.subpath_type.is_some() || !self.subpath.is_empty() {
            seg(f, self.type_str(), false)?;
            // Deviation: no trailing '/' for a type without subpath, so `./task` round-trips.
            if !self.subpath.is_empty() {
                seg(f, &self.subpath, false)?;
            }
        }
        if !self.fragment.is_empty() {
            f.write_str("#")?;
            f.write_str(&self.fragment)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
