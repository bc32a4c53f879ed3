//! SDK version selection: the top-level `ocuroot("<constraint>")` statement.
//!
//! Before a file runs, its AST is scanned for top-level expression statements that call
//! `ocuroot`. None selects the bundled SDK ([`DEFAULT_SDK_VERSION`]); more than one, a
//! non-literal argument or a wrong argument count is an error. The literal is a semver
//! constraint matched against [`AVAILABLE_SDK_VERSIONS`], taking the highest match; an exact
//! `0.3.<n>` that matches nothing is aliased to `0.3.0` (files written for newer patch
//! releases of the original tool keep working).
//!
//! Constraint syntax follows the Go original (Masterminds semver) where it matters: a bare
//! version is exact (`0.3.0` means `=0.3.0`), comparators may be separated by spaces or
//! commas, `||` separates alternatives, `x`/`*` are wildcards and a leading `v` is ignored.
//! Hyphen ranges (`1.0 - 2.0`) are not supported and resolve to no version.

use starlark::syntax::AstModule;
use starlark::syntax::ast::{ArgumentP, AstLiteral, ExprP, StmtP};

/// The SDK version bundled with this binary, used when a file has no `ocuroot(...)` call.
pub const DEFAULT_SDK_VERSION: &str = "0.3.0";

/// Every SDK version this binary can evaluate.
pub const AVAILABLE_SDK_VERSIONS: &[&str] = &["0.3.0"];

/// Why a file's SDK version could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The file has more than one top-level `ocuroot(...)` call.
    #[error("multiple ocuroot calls found")]
    MultipleCalls,
    /// The argument of `ocuroot(...)` is not a string literal.
    #[error("ocuroot call must have a string literal as its argument")]
    NotStringLiteral,
    /// `ocuroot(...)` was called with zero or several arguments.
    #[error("ocuroot call must have exactly one argument")]
    WrongArgumentCount,
    /// The constraint matches none of the available SDK versions.
    #[error("version {0} not found")]
    NotFound(String),
}

/// A version problem with the location of the offending call, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedVersionError {
    /// `file:line:col` of the `ocuroot` call.
    pub location: String,
    /// What is wrong.
    pub error: VersionError,
}

/// Scans `ast` and returns the SDK version the file asks for.
///
/// # Errors
///
/// Returns a [`LocatedVersionError`] for the cases listed in [`VersionError`].
pub fn sdk_version_of(ast: &AstModule) -> Result<String, LocatedVersionError> {
    let mut calls = Vec::new();
    collect_ocuroot_calls(ast.statement(), &mut calls);
    let locate = |span| ast.file_span(span).resolve().to_string();
    match calls.as_slice() {
        [] => Ok(DEFAULT_SDK_VERSION.to_owned()),
        [(span, args)] => {
            let literal = match args.as_slice() {
                [ArgumentP::Positional(expr)] => match &expr.node {
                    ExprP::Literal(AstLiteral::String(s)) => Some(s.node.clone()),
                    _ => None,
                },
                [ArgumentP::Named(_, _)] => None,
                _ => {
                    return Err(LocatedVersionError {
                        location: locate(*span),
                        error: VersionError::WrongArgumentCount,
                    });
                }
            };
            let Some(literal) = literal else {
                return Err(LocatedVersionError {
                    location: locate(*span),
                    error: VersionError::NotStringLiteral,
                });
            };
            resolve_version(&literal).map_err(|error| LocatedVersionError {
                location: locate(*span),
                error,
            })
        }
        [_, (span, _), ..] => Err(LocatedVersionError {
            location: locate(*span),
            error: VersionError::MultipleCalls,
        }),
    }
}

type Call<'a> = (
    starlark::codemap::Span,
    Vec<&'a ArgumentP<starlark::syntax::ast::AstNoPayload>>,
);

fn collect_ocuroot_calls<'a>(stmt: &'a starlark::syntax::ast::AstStmt, out: &mut Vec<Call<'a>>) {
    match &stmt.node {
        StmtP::Statements(stmts) => {
            for s in stmts {
                collect_ocuroot_calls(s, out);
            }
        }
        StmtP::Expression(expr) => {
            if let ExprP::Call(callee, args) = &expr.node
                && let ExprP::Identifier(ident) = &callee.node
                && ident.node.ident == "ocuroot"
            {
                out.push((expr.span, args.args.iter().map(|a| &a.node).collect()));
            }
        }
        _ => {}
    }
}

/// Resolves a version constraint to the highest available SDK version.
///
/// # Errors
///
/// Returns [`VersionError::NotFound`] when nothing matches (including unparsable
/// constraints).
pub fn resolve_version(constraint: &str) -> Result<String, VersionError> {
    let not_found = || VersionError::NotFound(constraint.to_owned());
    let mut available: Vec<semver::Version> = AVAILABLE_SDK_VERSIONS
        .iter()
        .filter_map(|v| semver::Version::parse(v).ok())
        .collect();
    available.sort();
    if let Some(reqs) = parse_constraint(constraint)
        && let Some(best) = available
            .iter()
            .rev()
            .find(|v| reqs.iter().any(|req| req.matches(v)))
    {
        return Ok(best.to_string());
    }
    // An exact 0.3.<n> from a newer release of the original tool behaves like 0.3.0.
    let bare = constraint.trim();
    let bare = bare.strip_prefix('v').unwrap_or(bare);
    match semver::Version::parse(bare) {
        Ok(v) if v.major == 0 && v.minor == 3 => Ok("0.3.0".to_owned()),
        _ => Err(not_found()),
    }
}

/// Parses a Masterminds-style constraint into alternatives (`||`) of semver requirements.
fn parse_constraint(constraint: &str) -> Option<Vec<semver::VersionReq>> {
    let mut alternatives = Vec::new();
    for alternative in constraint.split("||") {
        let mut comparators = Vec::new();
        let mut pending_op = String::new();
        for token in alternative.split(|c: char| c == ',' || c.is_whitespace()) {
            if token.is_empty() {
                continue;
            }
            if token.chars().all(|c| "<>=~^!".contains(c)) {
                pending_op.push_str(token);
                continue;
            }
            let token = std::mem::take(&mut pending_op) + token;
            let op_len = token.find(|c: char| !"<>=~^".contains(c))?;
            let (op, version) = token.split_at(op_len);
            let version = version.strip_prefix('v').unwrap_or(version);
            let is_wildcard = version
                .split('.')
                .any(|part| matches!(part, "x" | "X" | "*"));
            // A bare version is exact in Masterminds semver; in the semver crate it is `^`.
            let op = if op.is_empty() && !is_wildcard {
                "="
            } else {
                op
            };
            comparators.push(format!("{op}{version}"));
        }
        if !pending_op.is_empty() {
            return None;
        }
        if comparators.is_empty() {
            comparators.push("*".to_owned());
        }
        alternatives.push(semver::VersionReq::parse(&comparators.join(", ")).ok()?);
    }
    Some(alternatives)
}

#[cfg(test)]
mod tests {
    use starlark::syntax::AstModule;
    use test_case::test_case;

    use super::*;
    use crate::sdk::dialect;

    #[test_case("0.3.0", Ok("0.3.0"); "exact")]
    #[test_case("0.3.x", Ok("0.3.0"); "wildcard x")]
    #[test_case("0.3.*", Ok("0.3.0"); "wildcard star")]
    #[test_case(">=0.3", Ok("0.3.0"); "at least minor")]
    #[test_case(">= 0.3", Ok("0.3.0"); "spaced operator")]
    #[test_case(">=0.2, <0.4", Ok("0.3.0"); "range with comma")]
    #[test_case(">=0.2 <0.4", Ok("0.3.0"); "range with space")]
    #[test_case("^0.3", Ok("0.3.0"); "caret")]
    #[test_case("~0.3.0", Ok("0.3.0"); "tilde")]
    #[test_case("v0.3.0", Ok("0.3.0"); "v prefix")]
    #[test_case("0.2.0 || 0.3.x", Ok("0.3.0"); "alternatives")]
    #[test_case("0.3.14", Ok("0.3.0"); "newer patch aliases")]
    #[test_case("0.3.1", Ok("0.3.0"); "patch one aliases")]
    #[test_case("0.4.0", Err("version 0.4.0 not found"); "newer minor")]
    #[test_case("1.0.0", Err("version 1.0.0 not found"); "newer major")]
    #[test_case(">=0.4", Err("version >=0.4 not found"); "constraint above")]
    #[test_case("banana", Err("version banana not found"); "garbage")]
    #[test_case("0.2.0", Err("version 0.2.0 not found"); "older")]
    fn resolves(constraint: &str, expected: Result<&str, &str>) {
        let got = resolve_version(constraint).map_err(|e| e.to_string());
        assert_eq!(
            got,
            expected.map(str::to_owned).map_err(str::to_owned),
            "{constraint}"
        );
    }

    fn scan(source: &str) -> Result<String, String> {
        let ast = AstModule::parse("f.ocu.star", source.to_owned(), &dialect())
            .expect("test source parses");
        sdk_version_of(&ast).map_err(|e| format!("{}: {}", e.location, e.error))
    }

    #[test_case("x = 1\n", Ok("0.3.0"); "no call")]
    #[test_case("ocuroot(\"0.3.0\")\n", Ok("0.3.0"); "exact call")]
    #[test_case("ocuroot(\"0.3.14\")\nx = 1\n", Ok("0.3.0"); "aliased")]
    #[test_case("ocuroot(\">=0.3\")\n", Ok("0.3.0"); "constraint")]
    #[test_case("x = 1\nocuroot(\"9.9.9\")\n", Err("f.ocu.star:2:1-17: version 9.9.9 not found"); "unknown")]
    #[test_case("ocuroot(\"0.3.0\")\nocuroot(\"0.3.0\")\n", Err("f.ocu.star:2:1-17: multiple ocuroot calls found"); "twice")]
    #[test_case("V = \"0.3.0\"\nocuroot(V)\n", Err("f.ocu.star:2:1-11: ocuroot call must have a string literal as its argument"); "non literal")]
    #[test_case("ocuroot(v=\"0.3.0\")\n", Err("f.ocu.star:1:1-19: ocuroot call must have a string literal as its argument"); "named")]
    #[test_case("ocuroot()\n", Err("f.ocu.star:1:1-10: ocuroot call must have exactly one argument"); "no args")]
    #[test_case("ocuroot(\"0.3.0\", \"x\")\n", Err("f.ocu.star:1:1-22: ocuroot call must have exactly one argument"); "two args")]
    #[test_case("def f():\n    ocuroot(\"9.9.9\")\n", Ok("0.3.0"); "nested call ignored")]
    fn scans(source: &str, expected: Result<&str, &str>) {
        assert_eq!(
            scan(source),
            expected.map(str::to_owned).map_err(str::to_owned)
        );
    }
}
