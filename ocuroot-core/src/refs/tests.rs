//! Tests of the ref grammar: parsing, rendering, round trips (property tests), storage
//! segments and the rules that keep refs inside a store's tree.

use proptest::prelude::*;
use test_case::test_case;

use super::*;

/// Builds a ref from its fields, in grammar order.
fn mk(
    repo: &str,
    filename: &str,
    global: bool,
    release: Option<&str>,
    ty: &str,
    sub: &str,
    frag: &str,
) -> Ref {
    Ref {
        repo: repo.to_owned(),
        filename: filename.to_owned(),
        global,
        release: release.map(str::to_owned),
        subpath_type: SubpathType::parse(ty),
        subpath: sub.to_owned(),
        fragment: frag.to_owned(),
    }
}

fn parse_ok(s: &str) -> Ref {
    Ref::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn parse_err(s: &str) -> RefParseError {
    match Ref::parse(s) {
        Ok(r) => panic!("{s:?} should not parse, got {r:?}"),
        Err(e) => e,
    }
}

// Spec §2.2 table and lexing examples.
#[test_case("github.com/org/repo/-/path/to/package/@/deploy/prod#output/host",
    mk("github.com/org/repo", "path/to/package", false, Some(""), "deploy", "prod", "output/host");
    "full ref with fragment")]
#[test_case("github.com/org/repo/-/path/to/package/@/deploy/prod/ABCDEF/logs",
    mk("github.com/org/repo", "path/to/package", false, Some(""), "deploy", "prod/ABCDEF/logs", "");
    "multi segment subpath")]
#[test_case("path/to/package", mk("", "path/to/package", false, None, "", "", "");
    "filename only")]
#[test_case("./-/path/to/package/@/task/build#output/output1",
    mk(".", "path/to/package", false, Some(""), "task", "build", "output/output1");
    "dot repo")]
#[test_case("github.com/org/repo/-/@abc", mk("github.com/org/repo", "", false, Some("abc"), "", "", "");
    "empty filename with release")]
#[test_case("github.com/org/repo/-/", mk("github.com/org/repo", "", false, None, "", "", "");
    "repo only trailing slash")]
#[test_case("frontend/@", mk("", "frontend", false, Some(""), "", "", ""); "current release")]
#[test_case("@/environment/staging#attributes/type",
    mk("", "", true, Some(""), "environment", "staging", "attributes/type"); "global environment")]
#[test_case("minimal/repo/-/package.ocu.star/@commitid.01JY1YT9R0EDV5EKQH5FVZF64B/custom/approval",
    mk("minimal/repo", "package.ocu.star", false, Some("commitid.01JY1YT9R0EDV5EKQH5FVZF64B"), "custom", "approval", "");
    "commit release")]
#[test_case("//package.ocu.star/@r5/custom/approval",
    mk(".", "package.ocu.star", false, Some("r5"), "custom", "approval", ""); "repo root marker")]
#[test_case("./@/task/build#output/output1",
    mk("", ".", false, Some(""), "task", "build", "output/output1"); "dot at")]
#[test_case("./task/build#output/output1",
    mk("", ".", false, None, "task", "build", "output/output1"); "dot subpath type")]
#[test_case("@/environment/production",
    mk("", "", true, Some(""), "environment", "production", ""); "global")]
#[test_case("./call/build#output/output1",
    mk("", ".", false, None, "task", "build", "output/output1"); "call is task")]
#[test_case("a/-/p/+v1/task/x", mk("a", "p", false, Some("v1"), "task", "x", ""); "plus alias")]
#[test_case("+/custom/x", mk("", "", true, Some(""), "custom", "x", ""); "plus global")]
#[test_case("./+/custom/x", mk("", ".", false, Some(""), "custom", "x", ""); "dot plus")]
#[test_case("./task", mk("", ".", false, None, "task", "", ""); "type without subpath")]
#[test_case(".", mk("", ".", false, None, "", "", ""); "bare dot")]
#[test_case("//", mk(".", "", false, None, "", "", ""); "bare repo root")]
#[test_case("@/environment/bad+environment",
    mk("", "", true, Some(""), "environment", "bad+environment", ""); "plus in subpath")]
#[test_case("@/environment/invalid/name",
    mk("", "", true, Some(""), "environment", "invalid/name", ""); "slash in environment")]
fn parses_fields(input: &str, expected: Ref) {
    assert_eq!(parse_ok(input), expected);
}

// Canonical rendering: spec §2.1/§2.2 normalisation and every concrete ref of spec §7.
#[test_case("github.com/org/repo/-/path/to/package/@v1/deploy/prod#output/host", None; "spec 2.1 full")]
#[test_case("github.com/org/repo/-/@v1", None; "spec 2.1 empty filename")]
#[test_case("@/environment/production", None; "spec 2.1 environment")]
#[test_case("./task/build#output/output1", None; "spec 2.1 relative")]
#[test_case("./task/build/", Some("./task/build"); "norm trailing slash")]
#[test_case("a/-/p/@/task/build#output/output1/", Some("a/-/p/@/task/build#output/output1");
    "norm fragment trailing slash")]
#[test_case("a/-/p/@/call/build/", Some("a/-/p/@/task/build"); "norm call")]
#[test_case("github.com/org/repo/-/path/to/package/+/task/build/",
    Some("github.com/org/repo/-/path/to/package/@/task/build"); "norm plus")]
#[test_case("github.com/org/repo/-/", Some("github.com/org/repo/-"); "norm repo only")]
#[test_case("//package.ocu.star/@r5/custom/approval",
    Some("./-/package.ocu.star/@r5/custom/approval"); "norm repo root")]
#[test_case("minimal/repo/-/approvals.ocu.star/@v1/custom/approval", None; "minimal tag intent")]
#[test_case("minimal/repo/-/approvals.ocu.star/@r1/custom/approval", None; "minimal applied intent")]
#[test_case("minimal/repo/-/approvals.ocu.star/@r1/custom/approval2", None; "minimal approval2")]
#[test_case("minimal/repo/-/approvals.ocu.star/@v2", None; "minimal continue tag")]
#[test_case("alternate/-/basic.ocu.star/@r1", None; "alias release")]
#[test_case("minimal/repo/-/basic.ocu.star/@/deploy/production", None; "minimal deploy intent")]
#[test_case("basic.ocu.star/@/deploy/staging", None; "assert deployed")]
#[test_case("basic.ocu.star/@r2", None; "release r2")]
#[test_case("build_only.ocu.star/@r1/task/build/1/status/complete", None; "status marker")]
#[test_case("./call/build#output/output1", Some("./task/build#output/output1"); "sdk call ref")]
#[test_case("./@/deploy/staging#output/count", None; "sdk previous count")]
#[test_case("./@/deploy/staging#output/env_name", None; "sdk env name")]
#[test_case("./custom/approval", None; "sdk custom approval")]
#[test_case("./custom/approval2", None; "sdk custom approval2")]
#[test_case("./-/a.ocu.star/@/deploy/production#output/message", None; "cascade b input")]
#[test_case("cascade/-/a.ocu.star/@/deploy/production#output/message", None; "cascade alias")]
#[test_case("repo2/-/b.ocu.star/@/deploy/production#output/message", None; "cascade repo2")]
#[test_case("@/custom/test", None; "global custom")]
#[test_case("@/custom/foo", None; "ci custom foo")]
#[test_case("./task/build/#output/message", Some("./task/build#output/message"); "ci backend")]
#[test_case("./-/backend.ocu.star/@/deploy/staging/#output/foo",
    Some("./-/backend.ocu.star/@/deploy/staging#output/foo"); "ci frontend foo")]
#[test_case("./-/backend.ocu.star/@/deploy/staging#output/message", None; "ci backend message")]
#[test_case("./-/backend/package.ocu.star/@/deploy/staging#output/credential", None;
    "deps credential")]
#[test_case("./-/frontend/package.ocu.star/@/deploy/staging#output/backend_credential", None;
    "deps backend credential")]
#[test_case("./@/custom/credential/staging", None; "deps credential intent")]
#[test_case("./-/backend/package.ocu.star/@/custom/credential/staging", None; "deps set credential")]
#[test_case("//backend/package.ocu.star", Some("./-/backend/package.ocu.star"); "deps rootpath")]
#[test_case("./-/frontend/package.ocu.star", None; "deps frontend")]
#[test_case("backend/package.ocu.star", None; "deps plain path")]
#[test_case("package.ocu.star", None; "deps in backend")]
#[test_case("@/environment/production3", None; "environments create")]
#[test_case("package1.ocu.star/@r1/op/check_envs", None; "environments op")]
#[test_case("package1.ocu.star/@/deploy/production3", None; "environments deploy")]
#[test_case("@/environment/production2", None; "environments delete")]
#[test_case("./-/basic.ocu.star/@/deploy/production", None; "gitstate delete")]
#[test_case("push/-/repo.ocu.star/@/push/index", None; "push index")]
#[test_case("push/-/b.ocu.star/@r2/deploy/production", None; "push r2")]
#[test_case("@/custom/test2", None; "push intent test2")]
#[test_case("@/push/intent_commit", None; "push intent commit")]
#[test_case("release.ocu.star/@r1", None; "retries release")]
#[test_case("release.ocu.star/@/deploy/production", None; "retries deploy")]
#[test_case("release.ocu.star/@r1/task/postrelease/1/status/complete", None; "retries status")]
#[test_case("version_test.ocu.star/@r1/task/deploy_test/1/status/complete", None; "sdk version")]
#[test_case("@/environment/invalid/name", None; "validation invalid name")]
#[test_case("@/environment/bad+environment", None; "validation bad env")]
#[test_case("@/environment/shouldmatch", None; "validation shouldmatch")]
#[test_case("./@/task/version#output/prerelease", None; "versioning prerelease")]
#[test_case("./@/task/finalize#output/version", None; "versioning finalize")]
#[test_case("versioning/-/release.ocu.star/@0.1.0-1/custom/promote", None; "versioning promote")]
#[test_case("versioning/-/release.ocu.star/@0.1.0-1", None; "versioning continue")]
#[test_case("versioning/-/release.ocu.star/@0.1.1-2/custom/promote", None; "versioning promote 2")]
#[test_case("github.com/org/repo/-/repo.ocu.star/@abc123/push/index", None; "repo config push")]
fn renders_canonically(input: &str, canonical: Option<&str>) {
    let canonical = canonical.unwrap_or(input);
    let parsed = parse_ok(input);
    assert_eq!(parsed.to_string(), canonical);
    assert_eq!(
        parse_ok(canonical),
        parsed,
        "canonical form must parse to the same ref"
    );
}

#[test_case("repo.git/package@/deploy/hello", ErrorKind::UnexpectedReleaseInPath; "at in path")]
#[test_case("repo.git/pack+age", ErrorKind::UnexpectedReleaseInPath; "plus in path")]
#[test_case("repo.git/package/@/invalid/sub/path",
    ErrorKind::InvalidSubpathType("invalid".to_owned()); "invalid subpath type")]
#[test_case("a/-x", ErrorKind::ExpectedSlashAfterRepo; "dash segment")]
#[test_case("./task#output/x", ErrorKind::UnexpectedFragment; "fragment in type")]
#[test_case("a/-/p/@/deploy#output/x", ErrorKind::UnexpectedFragment; "fragment after type")]
#[test_case("a/-/p#output/x", ErrorKind::UnexpectedFragment; "fragment in path")]
#[test_case("@/custom/a=b", ErrorKind::UnexpectedEquals; "equals in subpath")]
#[test_case("@/custom/a/@b", ErrorKind::UnexpectedReleaseInSubpath; "release in subpath")]
#[test_case("a/-/p/@/task/x#output/@y", ErrorKind::UnexpectedReleaseInFragment;
    "release in fragment")]
#[test_case("a/-/b/-/c", ErrorKind::DuplicateRepo; "two repos")]
#[test_case("//a/-/b", ErrorKind::DuplicateRepo; "repo after root marker")]
#[test_case("", ErrorKind::Empty; "empty")]
#[test_case("a/../b", ErrorKind::DotSegment("..".to_owned()); "dotdot in filename")]
#[test_case("../-/x", ErrorKind::DotSegment("..".to_owned()); "dotdot repo")]
#[test_case("..", ErrorKind::DotSegment("..".to_owned()); "bare dotdot")]
#[test_case("a/-/../x/@r1", ErrorKind::DotSegment("..".to_owned()); "dotdot after repo")]
#[test_case("a/-/b/./c", ErrorKind::DotSegment(".".to_owned()); "dot in filename")]
#[test_case("a/-/.", ErrorKind::DotSegment(".".to_owned()); "dot filename with repo")]
#[test_case("./-/.", ErrorKind::DotSegment(".".to_owned()); "dot filename with dot repo")]
#[test_case("./..", ErrorKind::DotSegment("..".to_owned()); "dotdot as type")]
#[test_case("@/custom/../../x", ErrorKind::DotSegment("..".to_owned()); "dotdot in subpath")]
#[test_case("@/custom/a/.", ErrorKind::DotSegment(".".to_owned()); "dot in subpath")]
#[test_case("@/custom/x#../y", ErrorKind::DotSegment("..".to_owned()); "dotdot in fragment")]
#[test_case("a//b", ErrorKind::EmptySegment; "empty in filename")]
#[test_case("a/-//b", ErrorKind::EmptySegment; "empty after repo")]
#[test_case("a/-/b//@r1", ErrorKind::EmptySegment; "empty before release")]
#[test_case("@/custom/a//b", ErrorKind::EmptySegment; "empty in subpath")]
#[test_case("@/custom//", ErrorKind::EmptySegment; "empty trailing subpath")]
#[test_case("@//custom", ErrorKind::EmptySegment; "empty type")]
#[test_case(".//x", ErrorKind::EmptySegment; "empty type after dot")]
#[test_case("@/custom/x#a//b", ErrorKind::EmptySegment; "empty in fragment")]
#[test_case("a/-/b//", ErrorKind::EmptySegment; "double trailing slash")]
#[test_case("///x", ErrorKind::EmptySegment; "triple slash")]
#[test_case("/etc/passwd", ErrorKind::LeadingSlash; "absolute path")]
#[test_case("/-/x", ErrorKind::LeadingSlash; "leading slash repo")]
#[test_case("a\0b", ErrorKind::ControlCharacter; "nul")]
#[test_case("a/-/b/@r1\n", ErrorKind::ControlCharacter; "newline")]
#[test_case("@/custom/x#a\u{7f}", ErrorKind::ControlCharacter; "del in fragment")]
// Names Git refuses (issue 12): `git fsck` flags them as hasDotgit or gitmodulesBlob.
#[test_case("@/custom/.git", ErrorKind::GitReserved(".git".to_owned()); "dot git")]
#[test_case("@/custom/.GIT", ErrorKind::GitReserved(".GIT".to_owned()); "dot git upper")]
#[test_case("@/custom/.Git/x", ErrorKind::GitReserved(".Git".to_owned()); "dot git mixed case")]
#[test_case("@/custom/git~1", ErrorKind::GitReserved("git~1".to_owned()); "ntfs short name")]
#[test_case("@/custom/GIT~1", ErrorKind::GitReserved("GIT~1".to_owned()); "ntfs short name upper")]
#[test_case("@/custom/.git.", ErrorKind::GitReserved(".git.".to_owned()); "ntfs trailing dot")]
#[test_case("@/custom/.git ", ErrorKind::GitReserved(".git ".to_owned()); "ntfs trailing space")]
#[test_case("@/custom/.git~1", ErrorKind::GitReserved(".git~1".to_owned()); "dot git tilde")]
#[test_case("@/custom/.git::$INDEX_ALLOCATION",
    ErrorKind::GitReserved(".git::$INDEX_ALLOCATION".to_owned()); "ntfs stream")]
#[test_case("@/custom/.gitmodules", ErrorKind::GitReserved(".gitmodules".to_owned()); "gitmodules")]
#[test_case("@/custom/.GITMODULES", ErrorKind::GitReserved(".GITMODULES".to_owned()); "gitmodules upper")]
#[test_case("@/custom/gitmod~1", ErrorKind::GitReserved("gitmod~1".to_owned()); "gitmodules short")]
#[test_case("@/custom/.gitattributes", ErrorKind::GitReserved(".gitattributes".to_owned());
    "gitattributes")]
#[test_case("@/custom/.gitignore", ErrorKind::GitReserved(".gitignore".to_owned()); "gitignore")]
#[test_case("@/custom/.mailmap", ErrorKind::GitReserved(".mailmap".to_owned()); "mailmap")]
#[test_case(".git/-/p/@r1", ErrorKind::GitReserved(".git".to_owned()); "dot git repo")]
#[test_case("a/-/x/.git/p.ocu.star", ErrorKind::GitReserved(".git".to_owned()); "dot git filename")]
#[test_case("@/custom/.g\u{200c}it", ErrorKind::InvisibleCharacter('\u{200c}'); "zero width non joiner")]
#[test_case("@/custom/x\u{200b}", ErrorKind::InvisibleCharacter('\u{200b}'); "zero width space")]
#[test_case("@/custom/\u{feff}.git", ErrorKind::InvisibleCharacter('\u{feff}'); "byte order mark")]
#[test_case("@/custom/a\u{202e}b", ErrorKind::InvisibleCharacter('\u{202e}'); "right to left override")]
#[test_case("@/custom/x#a\u{2066}", ErrorKind::InvisibleCharacter('\u{2066}'); "isolate in fragment")]
#[test_case("@/custom/-x", ErrorKind::LeadingDash("-x".to_owned()); "dash subpath")]
#[test_case("a/-/-x", ErrorKind::LeadingDash("-x".to_owned()); "dash filename")]
#[test_case("-a/-/x", ErrorKind::LeadingDash("-a".to_owned()); "dash repo")]
#[test_case("@/custom/x#", ErrorKind::EmptyFragment; "empty fragment")]
#[test_case("a/-/p/@r1#", ErrorKind::EmptyFragment; "empty fragment after release")]
#[test_case("@/custom/#x", ErrorKind::UnexpectedFragment; "hash first in subpath")]
#[test_case("@/custom/#.yaml", ErrorKind::UnexpectedFragment; "document file name as segment")]
fn rejects(input: &str, kind: ErrorKind) {
    let err = parse_err(input);
    assert_eq!(err.kind(), &kind);
    assert_eq!(err.input(), input);
}

#[test]
fn lengths_are_limited() {
    let seg = "a".repeat(MAX_SEGMENT_LEN);
    parse_ok(&format!("@/custom/{seg}"));
    let long = "a".repeat(MAX_SEGMENT_LEN + 1);
    assert_eq!(
        parse_err(&format!("@/custom/{long}")).kind(),
        &ErrorKind::SegmentTooLong(MAX_SEGMENT_LEN + 1)
    );
    // The release folder is `@<release>`.
    let release = "a".repeat(MAX_SEGMENT_LEN);
    assert_eq!(
        parse_err(&format!("x/-/p/@{release}")).kind(),
        &ErrorKind::SegmentTooLong(MAX_SEGMENT_LEN + 1)
    );
    parse_ok(&format!("x/-/p/@{}", &release[1..]));
    let many = vec!["abcdefgh"; 120].join("/");
    let r = format!("@/custom/{many}");
    assert!(r.len() > MAX_REF_LEN);
    assert_eq!(parse_err(&r).kind(), &ErrorKind::TooLong(r.len()));
    let at_limit = format!("@/custom/{}", &many[..MAX_REF_LEN - "@/custom/".len()]);
    assert_eq!(at_limit.len(), MAX_REF_LEN);
    if !at_limit.ends_with('/') {
        parse_ok(&at_limit);
    }
}

#[test]
fn names_close_to_reserved_ones_are_accepted() {
    for ok in [
        "@/custom/git",
        "@/custom/x.git",
        "@/custom/a.gitmodules",
        "@/custom/git~x",
        "@/custom/x-y",
        "@/custom/x#-y",
        "@/custom/x#.git",
        "a/-/p/@v1.git",
        "a/-/p/@-x",
    ] {
        parse_ok(ok);
    }
}

#[test]
fn error_message_quotes_ref() {
    assert_eq!(
        parse_err("@/custom/.git").to_string(),
        r#"invalid ref "@/custom/.git": segment ".git" is a name Git reserves"#
    );
    assert_eq!(
        parse_err("a/../b").to_string(),
        r#"invalid ref "a/../b": segment ".." is not allowed"#
    );
    assert_eq!(
        parse_err("repo.git/package/@/invalid/sub/path").to_string(),
        r#"invalid ref "repo.git/package/@/invalid/sub/path": invalid subpath type: invalid"#
    );
    assert_eq!(
        parse_err("a\0").to_string(),
        r#"invalid ref "a\0": control characters are not allowed"#
    );
}

#[test]
fn refs_sort_in_natural_order() {
    let mut refs: Vec<Ref> = [
        "r/-/p/@r10/task/build/10",
        "r/-/p/@r2",
        "r/-/p/@r10/task/build/9",
        "r/-/p/@r1",
        "r/-/p/@",
        "r/-/p",
    ]
    .iter()
    .map(|s| parse_ok(s))
    .collect();
    refs.sort();
    let got: Vec<String> = refs.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "r/-/p",
            "r/-/p/@",
            "r/-/p/@r1",
            "r/-/p/@r2",
            "r/-/p/@r10/task/build/9",
            "r/-/p/@r10/task/build/10",
        ]
    );
}

#[test]
fn accessors() {
    let r = parse_ok("a/-/p/@r1/deploy/prod#output/count");
    assert!(r.has_release());
    assert!(!r.is_relative());
    assert_eq!(r.fragment_segments(), ["output", "count"]);
    assert_eq!(r.without_fragment().to_string(), "a/-/p/@r1/deploy/prod");
    assert_eq!(r.with_fragment("x").to_string(), "a/-/p/@r1/deploy/prod#x");
    assert_eq!(
        r.with_release(Some("")).to_string(),
        "a/-/p/@/deploy/prod#output/count"
    );
    assert_eq!(
        r.with_release(None).without_fragment().to_string(),
        "a/-/p/deploy/prod"
    );
    assert!(r.without_fragment().fragment_segments().is_empty());
    assert_eq!(
        r.storage_segments(),
        ["a", "-", "p", "@r1", "deploy", "prod"]
    );
    let back = Ref::from_storage_segments(&["a", "-", "p", "@r1", "deploy", "prod"]);
    assert_eq!(back, Ok(r.without_fragment()));
    assert_eq!(
        parse_ok("@/environment/x").storage_segments(),
        ["@", "environment", "x"]
    );
}

#[test_case("./task/build", true; "dot filename")]
#[test_case("./-/p/@r1", true; "dot repo")]
#[test_case("p/@r1", true; "no repo")]
#[test_case("a/-/p/@.", true; "dot release")]
#[test_case("a/-/p/@r1", false; "absolute")]
#[test_case("@/environment/x", false; "global")]
fn relative(input: &str, expected: bool) {
    assert_eq!(parse_ok(input).is_relative(), expected);
}

#[test_case("a/-/p/@r1/deploy/x#output/y", None; "absolute with fragment")]
#[test_case("@/custom/x", None; "global")]
#[test_case("a/-", None; "repo only")]
#[test_case("./task/x", Some(ErrorKind::Relative); "relative dot")]
#[test_case("p/@r1", Some(ErrorKind::Relative); "relative path")]
fn storable(input: &str, expected: Option<ErrorKind>) {
    assert_eq!(
        parse_ok(input)
            .ensure_storable()
            .err()
            .map(|e| e.kind().clone()),
        expected
    );
}

#[test]
fn hand_built_refs_are_checked_before_storing() {
    let escape = mk("a", "../../etc", false, Some("r1"), "", "", "");
    assert_eq!(
        escape.ensure_storable().map_err(|e| e.kind().clone()),
        Err(ErrorKind::DotSegment("..".to_owned()))
    );
    let bad_release = mk("a", "p", false, Some("r1/x"), "", "", "");
    assert!(bad_release.ensure_storable().is_err());
    // A subpath needs a type (the enum makes an unknown type unrepresentable).
    let no_type = mk("a", "p", false, Some("r1"), "", "x", "");
    assert_eq!(
        no_type.ensure_storable().map_err(|e| e.kind().clone()),
        Err(ErrorKind::EmptySegment)
    );
}

#[test_case(&["a", "-", "p", "@r1#x"], ErrorKind::FragmentInStoragePath; "fragment")]
#[test_case(&["p", "@r1"], ErrorKind::Relative; "relative")]
#[test_case(&["a", "..", "p"], ErrorKind::DotSegment("..".to_owned()); "dotdot")]
#[test_case(&["a", "", "p"], ErrorKind::EmptySegment; "empty")]
// See: issue 12, found by `fuzz_store_tree_folders` (docs/fuzzing.md): a hand-made
// folder `refs/+/custom/x` was read as `@/custom/x`, whose folder is another one.
#[test_case(&["+", "custom", "x"], ErrorKind::NotCanonicalFolder("@/custom/x".to_owned()); "issue 12 fuzz plus for at")]
#[test_case(&["a", "-", "p", "+r1", "call", "b"], ErrorKind::NotCanonicalFolder("a/-/p/@r1/task/b".to_owned()); "issue 12 fuzz old task spelling")]
fn from_storage_segments_rejects(segs: &[&str], kind: ErrorKind) {
    let err = Ref::from_storage_segments(segs).expect_err("should be rejected");
    assert_eq!(err.kind(), &kind);
}

// Property tests.

const TYPES: &[&str] = &[
    "deploy",
    "task",
    "custom",
    "environment",
    "commit",
    "push",
    "op",
];

fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9._-]{0,5}"
}

fn path(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), min..=max).prop_map(|v| v.join("/"))
}

fn release() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._+@-]{0,8}"
}

/// Type, subpath and fragment: all empty, type only, or type + subpath (+ fragment).
fn tail() -> impl Strategy<Value = (String, String, String)> {
    prop_oneof![
        Just((String::new(), String::new(), String::new())),
        prop::sample::select(TYPES).prop_map(|t| (t.to_owned(), String::new(), String::new())),
        (
            prop::sample::select(TYPES),
            path(1, 3),
            prop_oneof![Just(String::new()), path(1, 3)]
        )
            .prop_map(|(t, s, f)| (t.to_owned(), s, f)),
    ]
}

/// Refs that the parser can produce, in every shape of the grammar.
fn valid_ref() -> impl Strategy<Value = Ref> {
    let with_release = || (release(), tail());
    prop_oneof![
        // Absolute: repo/-/[filename]/[@release/...]
        (
            path(1, 3),
            prop_oneof![Just(String::new()), path(1, 3)],
            prop::option::of(with_release())
        )
            .prop_map(|(repo, filename, rel)| build(repo, filename, false, rel)),
        // Repo-root relative: ./-/[filename]/[@release/...]
        (
            prop_oneof![Just(String::new()), path(1, 3)],
            prop::option::of(with_release())
        )
            .prop_map(|(filename, rel)| build(".".to_owned(), filename, false, rel)),
        // Package relative: filename[/@release/...]
        (path(1, 3), prop::option::of(with_release())).prop_map(|(filename, rel)| build(
            String::new(),
            filename,
            false,
            rel
        )),
        // Global: @release[/type/subpath][#fragment]
        with_release().prop_map(|rel| build(String::new(), String::new(), true, Some(rel))),
        // ./@release/... and ./type/subpath
        prop::option::of(with_release()).prop_map(|rel| build(
            String::new(),
            ".".to_owned(),
            false,
            rel
        )),
        tail().prop_map(|(t, s, f)| {
            let mut r = build(String::new(), ".".to_owned(), false, None);
            if !t.is_empty() {
                (r.subpath_type, r.subpath, r.fragment) = (SubpathType::parse(&t), s, f);
            }
            r
        }),
    ]
}

fn build(
    repo: String,
    filename: String,
    global: bool,
    rel: Option<(String, (String, String, String))>,
) -> Ref {
    let mut r = Ref {
        repo,
        filename,
        global,
        ..Ref::default()
    };
    if let Some((release, (t, s, f))) = rel {
        r.release = Some(release);
        (r.subpath_type, r.subpath, r.fragment) = (SubpathType::parse(&t), s, f);
    }
    r
}

/// Strings over the characters that matter to the lexer.
fn tricky_string() -> impl Strategy<Value = String> {
    "[/@+#.=a1_-]{0,24}"
}

/// A name `git fsck` flags, decorated the ways Git folds names on NTFS and HFS.
fn reserved_variant() -> impl Strategy<Value = String> {
    let base = prop::sample::select(vec![
        ".git",
        ".gitmodules",
        "git~1",
        ".gitattributes",
        ".gitignore",
        ".mailmap",
        "gitmod~1",
        "gi7eba~1",
        "-x",
        "x#",
        "#x",
        "#.yaml",
    ]);
    let decor = || {
        prop::sample::select(vec![
            "",
            "",
            ".",
            " ",
            "\u{200c}",
            "\u{200b}",
            "\u{feff}",
            "\u{202e}",
            "~1",
            "::$INDEX_ALLOCATION",
        ])
    };
    (base, decor(), decor(), any::<bool>()).prop_map(|(b, pre, post, upper)| {
        let b = if upper {
            b.to_uppercase()
        } else {
            b.to_owned()
        };
        format!("{pre}{b}{post}")
    })
}

/// Strings for the fuzz campaign of the ref parser (`docs/fuzzing.md`).
fn fuzz_input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        tricky_string(),
        (path(1, 2), reserved_variant()).prop_map(|(p, v)| format!("@/custom/{p}/{v}")),
        reserved_variant().prop_map(|v| format!("a/-/{v}/@r1")),
        reserved_variant().prop_map(|v| format!("{v}/-/p/@r1/task/x#{v}")),
        ("[a-z]{1,3}", 1usize..400).prop_map(|(x, n)| format!("@/custom/{}", x.repeat(n))),
        (1usize..200).prop_map(|n| format!("@/custom/{}", vec!["ab"; n].join("/"))),
    ]
}

proptest! {
    // See: issue 12 (names Git refuses). Every storable ref's folders are names that
    // `git fsck --strict` and Git hosts accept.
    #[test]
    fn fuzz_refs_are_git_safe(s in fuzz_input()) {
        if let Ok(r) = Ref::parse(&s) {
            prop_assert!(s.len() <= MAX_REF_LEN);
            prop_assert!(!s.chars().any(parse::is_invisible), "{:?}", s);
            let again = Ref::parse(&r.to_string());
            prop_assert_eq!(again.as_ref(), Ok(&r));
            if r.ensure_storable().is_ok() {
                for seg in r.storage_segments() {
                    prop_assert!(seg.len() <= MAX_SEGMENT_LEN, "{:?}", s);
                    prop_assert!(seg == "-" || !seg.starts_with('-'), "{:?}", s);
                    prop_assert!(!seg.contains('#'), "{:?}", s);
                    let folded = seg.to_ascii_lowercase();
                    let trimmed = folded.trim_end_matches(['.', ' ']);
                    prop_assert!(
                        trimmed != ".git" && trimmed != "git~1"
                            && !folded.starts_with(".gitmodules")
                            && !folded.starts_with(".git"),
                        "{:?} has folder {:?}", s, seg
                    );
                }
            }
        }
    }

    #[test]
    fn generated_refs_round_trip(r in valid_ref()) {
        let s = r.to_string();
        let parsed = Ref::parse(&s);
        prop_assert_eq!(parsed.as_ref(), Ok(&r), "rendered as {:?}", s);
        prop_assert_eq!(r.to_string(), s);
    }

    #[test]
    fn parse_never_panics(s in any::<String>()) {
        let _ = Ref::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_tricky(s in tricky_string()) {
        let _ = Ref::parse(&s);
    }

    #[test]
    fn parsed_refs_rerender_stably(s in prop_oneof![tricky_string(), any::<String>()]) {
        if let Ok(r) = Ref::parse(&s) {
            let canonical = r.to_string();
            let again = Ref::parse(&canonical);
            prop_assert_eq!(again.as_ref(), Ok(&r), "{:?} rendered as {:?}", s, canonical);
            prop_assert_eq!(again.map(|a| a.to_string()), Ok(canonical));
        }
    }

    #[test]
    fn storage_segments_are_safe(
        s in prop_oneof![tricky_string(), "[a-z]{1,3}/-/[/@+#.=a1_-]{0,20}", valid_ref().prop_map(|r| r.to_string())]
    ) {
        let parsed = Ref::parse(&s);
        if let Ok(r) = parsed && r.ensure_storable().is_ok() {
            let segs = r.storage_segments();
            for seg in &segs {
                prop_assert!(!matches!(seg.as_str(), "" | "." | ".."), "{:?} -> {:?}", s, segs);
                prop_assert!(!seg.chars().any(char::is_control));
            }
            let borrowed: Vec<&str> = segs.iter().map(String::as_str).collect();
            prop_assert_eq!(Ref::from_storage_segments(&borrowed), Ok(r.without_fragment()));
        }
    }
}
