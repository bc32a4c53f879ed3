//! Resolving relative refs ([`Ref::relative_to`], spec §2.4) and [`reduce`] (spec §2.6).
//!
//! Both reproduce the original's behaviour, quirks included: a non-empty release on the
//! relative ref is replaced by the base's release, and `reduce` walks up the ref one
//! `/`-segment at a time, trying the canonical form and the `@` (current release) form.

use std::fmt;

use super::{Glob, Ref, RefParseError};

impl Ref {
    /// Resolves this ref against `base`, filling in what the relative ref leaves out.
    ///
    /// A ref that is not relative, names a real repo, or is global is returned unchanged.
    /// Otherwise the repo comes from `base`; an empty or `.` filename is replaced by the
    /// base's, and a plain relative filename (empty repo) is joined onto the base's. A
    /// missing release is taken from `base`; a non-empty release is replaced by the base's
    /// when the base has one (original quirk), while an explicit `@` is kept.
    pub fn relative_to(&self, base: &Ref) -> Ref {
        if !self.is_relative() || (!self.repo.is_empty() && self.repo != ".") || self.global {
            return self.clone();
        }
        let mut out = self.clone();
        out.repo = base.repo.clone();
        if self.filename.is_empty() || self.filename == "." {
            out.filename = base.filename.clone();
        } else if self.repo.is_empty() {
            out.filename = join_path(&base.filename, &self.filename);
        }
        match (&self.release, &base.release) {
            (None, Some(b)) => out.release = Some(b.clone()),
            (Some(r), Some(b)) if !r.is_empty() => out.release = Some(b.clone()),
            _ => {}
        }
        out
    }
}

/// Joins two relative '/'-paths, treating an empty or `.` base as the current directory.
fn join_path(base: &str, rel: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.is_empty() || base == "." {
        rel.to_owned()
    } else {
        format!("{base}/{rel}")
    }
}

/// Returns the parent of a '/'-path, `.` for a single segment (like Go's `path.Dir`, but
/// always strictly shorter so the caller's loop terminates).
fn dirname(s: &str) -> &str {
    match s.rfind('/') {
        Some(i) if i > 0 => &s[..i],
        _ => ".",
    }
}

/// The error from [`reduce`]: no prefix of the ref matched, or a prefix did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReduceError {
    input: String,
    glob: String,
    source: Option<RefParseError>,
}

impl ReduceError {
    /// Returns the ref that was being reduced.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Returns the glob pattern the ref was reduced against.
    pub fn glob(&self) -> &str {
        &self.glob
    }

    /// Returns true when the error is "no match" rather than an unparseable ref.
    pub fn is_no_match(&self) -> bool {
        self.source.is_none()
    }
}

impl fmt::Display for ReduceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source.is_some() {
            write!(
                f,
                "failed to reduce ref {:?} to glob {:?}",
                self.input, self.glob
            )
        } else {
            write!(
                f,
                "no match for ref {:?} in glob {:?}",
                self.input, self.glob
            )
        }
    }
}

impl std::error::Error for ReduceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Reduces `r` to its longest prefix that matches `glob` (spec §2.6).
///
/// While the glob does not match: a ref containing `@` is parsed and its canonical form, or
/// that form with the release set to `@`, is returned if it matches; otherwise the last
/// `/`-segment is dropped. Used to go from a status ref to its run, a run to its task, and
/// anything to its release.
///
/// # Errors
///
/// Returns a "no match" [`ReduceError`] when no prefix matches, or one wrapping the
/// [`RefParseError`] when a prefix containing `@` (or the matching prefix) does not parse.
pub fn reduce(r: &str, glob: &Glob) -> Result<Ref, ReduceError> {
    let fail = |source| ReduceError {
        input: r.to_owned(),
        glob: glob.as_str().to_owned(),
        source,
    };
    let mut cur = r;
    while !glob.matches(cur) {
        if cur == "." {
            return Err(fail(None));
        }
        if cur.contains('@') {
            let parsed = Ref::parse(cur).map_err(|e| fail(Some(e)))?;
            if glob.matches(&parsed.to_string()) {
                return Ok(parsed);
            }
            let current = parsed.with_release(Some(""));
            if glob.matches(&current.to_string()) {
                return Ok(current);
            }
        }
        cur = dirname(cur);
    }
    Ref::parse(cur).map_err(|e| fail(Some(e)))
}
