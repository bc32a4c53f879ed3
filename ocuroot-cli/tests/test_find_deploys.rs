//! `ocuroot find-deploys START END` on real Git history: releases made at different commits,
//! and the deployments whose release commit lies in the range.

use crate::common::TestEnv;

const ENVIRONMENTS: &str = r#"register_environment(environment("staging", {}))
register_environment(environment("production", {}))
"#;

/// A package deploying to every environment, or only to `only`.
fn package(only: Option<&str>) -> String {
    let filter = only.map_or(String::new(), |e| format!(" if e.name == \"{e}\""));
    format!(
        "def up(environment):\n    return done()\n\n\
         def down(environment):\n    return done()\n\n\
         phase(\"deploy\", tasks = [deploy(up = up, down = down, environment = e) \
         for e in environments(){filter}])\n"
    )
}

fn commit(env: &TestEnv, message: &str) -> String {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
    env.git(&["rev-parse", "HEAD"]).trim().to_string()
}

fn release(env: &TestEnv, file: &str) {
    env.run(&["release", "new", file]).success();
}

/// History: c1 releases a and b; c2 re-releases a; c3 releases nothing; c4 re-releases b,
/// now deploying to production only (b's staging deployment stays at c1).
fn scenario() -> (TestEnv, [String; 4]) {
    let env = TestEnv::new();
    env.write_file("environments.ocu.star", ENVIRONMENTS);
    env.write_file("a.ocu.star", &package(None));
    env.write_file("b.ocu.star", &package(None));
    let c1 = commit(&env, "c1");
    release(&env, "environments.ocu.star");
    release(&env, "a.ocu.star");
    release(&env, "b.ocu.star");
    env.write_file("a.txt", "2");
    let c2 = commit(&env, "c2");
    release(&env, "a.ocu.star");
    env.write_file("notes.txt", "3");
    let c3 = commit(&env, "c3");
    env.write_file("b.ocu.star", &package(Some("production")));
    let c4 = commit(&env, "c4");
    release(&env, "b.ocu.star");
    (env, [c1, c2, c3, c4])
}

fn find(env: &TestEnv, start: &str, end: &str) -> Vec<String> {
    let out = env.run(&["find-deploys", start, end]).success();
    out.stdout.lines().map(str::to_string).collect()
}

const A_STAGING: &str = "demo/-/a.ocu.star/@/deploy/staging";
const A_PRODUCTION: &str = "demo/-/a.ocu.star/@/deploy/production";
const B_STAGING: &str = "demo/-/b.ocu.star/@/deploy/staging";
const B_PRODUCTION: &str = "demo/-/b.ocu.star/@/deploy/production";

#[test]
fn deployments_in_commit_ranges() {
    let (env, [c1, c2, c3, c4]) = scenario();
    assert_eq!(
        find(&env, &c1, &c4),
        [A_PRODUCTION, A_STAGING, B_PRODUCTION, B_STAGING]
    );
    assert_eq!(find(&env, &c2, &c3), [A_PRODUCTION, A_STAGING]);
    assert_eq!(find(&env, &c3, &c4), [B_PRODUCTION]);
    // Only b's staging deployment still runs code released at c1.
    assert_eq!(find(&env, &c1, &c1), [B_STAGING]);
    assert!(find(&env, &c3, &c3).is_empty());
    // Short hashes, branch names and relative revisions work too.
    assert_eq!(find(&env, &c2[..10], "main~1"), [A_PRODUCTION, A_STAGING]);
    assert_eq!(find(&env, "HEAD", "main"), [B_PRODUCTION]);
}

#[test]
fn bad_ranges_are_named() {
    let (env, [c1, _, _, c4]) = scenario();
    let out = env.run(&["find-deploys", "nosuchbranch", "main"]);
    insta::assert_snapshot!(out, @r#"
    [EOF]
    ------- stderr -------
    error: unknown revision "nosuchbranch"
    caused by: Reference "nosuchbranch" could not be found
    hint: give a commit hash, a branch or a tag of this repository; fetch it first if it only exists on a remote
    [EOF]
    [exit status: 1]
    "#);
    let out = env.run(&["find-deploys", &c4, &c1]);
    assert_eq!(out.code(), 1, "{out}");
    insta::assert_snapshot!(out, @r"
    [EOF]
    ------- stderr -------
    error: [HASH] is not an ancestor of [HASH]
    hint: give the older commit first: ocuroot find-deploys <START> <END>
    [EOF]
    [exit status: 1]
    ");
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    let out = env.run(&["find-deploys", "main"]);
    assert_eq!(out.code(), 2, "{out}");
}
