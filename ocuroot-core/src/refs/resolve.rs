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

#[cfg(test)]
mod tests {
    use test_case::test_case;

    use super::*;
    use crate::refs::glob::patterns;

    const BASE: &str = "github.com/org/repo/-/path/to/package/@abc123";

    fn resolve(r: &str, base: &str) -> String {
        let r = Ref::parse(r).expect("ref parses");
        let base = Ref::parse(base).expect("base parses");
        r.relative_to(&base).to_string()
    }

    #[test_case("./task/build#output/output1", BASE,
        "github.com/org/repo/-/path/to/package/@abc123/task/build#output/output1"; "dot subpath")]
    #[test_case("./@/task/build#output/output1", BASE,
        "github.com/org/repo/-/path/to/package/@/task/build#output/output1"; "explicit current release")]
    #[test_case("./-/path/to/package/@/task/build#output/output1", BASE,
        "github.com/org/repo/-/path/to/package/@/task/build#output/output1"; "repo root relative")]
    #[test_case("github.com/org/repo2/-/path/to/package2/@/deploy/prod#output/host", BASE,
        "github.com/org/repo2/-/path/to/package2/@/deploy/prod#output/host"; "absolute unchanged")]
    #[test_case("@/environment/production", BASE, "@/environment/production"; "global unchanged")]
    #[test_case("./@v3", "minimal/repo.git/-/", "minimal/repo.git/-/@v3"; "release on repo base")]
    #[test_case("./@v2/custom/x", BASE,
        "github.com/org/repo/-/path/to/package/@abc123/custom/x"; "quirk release replaced")]
    #[test_case("package.ocu.star", "r/-/backend", "r/-/backend/package.ocu.star"; "cli cwd join")]
    #[test_case("//backend/package.ocu.star", "r/-/frontend", "r/-/backend/package.ocu.star";
        "cli repo root")]
    #[test_case("./-/backend/x.ocu.star/@/deploy/staging#output/credential", "r/-/frontend/p/@r1",
        "r/-/backend/x.ocu.star/@/deploy/staging#output/credential"; "sdk other package current")]
    #[test_case("package.ocu.star", "r/-", "r/-/package.ocu.star"; "cli at repo root")]
    #[test_case("./custom/approval", "minimal/repo/-/approvals.ocu.star/@r1",
        "minimal/repo/-/approvals.ocu.star/@r1/custom/approval"; "sdk custom approval")]
    fn relative_to(r: &str, base: &str, expected: &str) {
        assert_eq!(resolve(r, base), expected);
    }

    const COMMIT_TASK: &str = "minimal/repo/-/release.ocu.star/@commitid/task/build";

    #[test_case(COMMIT_TASK, "**/@*", "minimal/repo/-/release.ocu.star/@commitid"; "to release")]
    #[test_case(COMMIT_TASK, "**/@", "minimal/repo/-/release.ocu.star/@"; "to current release")]
    #[test_case(COMMIT_TASK, "**/@/task/*", "minimal/repo/-/release.ocu.star/@/task/build";
        "to current task")]
    #[test_case("a/-/p/@r1/task/build/1/status/complete", patterns::RUN, "a/-/p/@r1/task/build/1";
        "status to run")]
    #[test_case("a/-/p/@r1/task/build/1", patterns::TASK, "a/-/p/@r1/task/build"; "run to task")]
    #[test_case("a/-/p/@r1/deploy/prod/2/logs", patterns::RELEASE, "a/-/p/@r1"; "logs to release")]
    fn reduces(r: &str, glob: &str, expected: &str) {
        let glob = Glob::new(glob).expect("glob compiles");
        assert_eq!(
            reduce(r, &glob).map(|r| r.to_string()),
            Ok(expected.to_owned())
        );
    }

    #[test_case(COMMIT_TASK, "**/@/deploy/*"; "wrong type")]
    #[test_case("minimal/repo/-/release.ocu.star/@commitid", "**/@/task/*"; "too short")]
    #[test_case("/a/b", "x"; "leading slash terminates")]
    fn reduce_no_match(r: &str, glob: &str) {
        let glob = Glob::new(glob).expect("glob compiles");
        let err = reduce(r, &glob).expect_err("no match");
        assert!(err.is_no_match());
        assert_eq!(err.input(), r);
        assert_eq!(
            err.to_string(),
            format!("no match for ref {r:?} in glob {:?}", glob.as_str())
        );
    }

    #[test]
    fn reduce_reports_unparseable_ref() {
        let glob = Glob::new("**/@/deploy/*").expect("glob compiles");
        let err = reduce("a/../p/@r1/task/x", &glob).expect_err("bad ref");
        assert!(!err.is_no_match());
        assert!(std::error::Error::source(&err).is_some());
    }
}
