//! End-to-end release scenarios (spec §7.1, 7.4, 7.6, 7.7, 7.12-7.15) with our fixtures in
//! `testdata/`, run with the real binary in temporary Git repositories.

use crate::common::TestEnv;

/// A fixture repository with the commit override the scenarios use.
pub(crate) fn fixture(name: &str) -> TestEnv {
    let mut env = TestEnv::from_fixture(name);
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    env
}

/// Whether `ocuroot state get REF` finds a document.
pub(crate) fn exists(env: &TestEnv, r: &str) -> bool {
    env.run(&["state", "get", r]).code() == 0
}

/// `ocuroot state get REF | jq -r .`
pub(crate) fn value(env: &TestEnv, r: &str) -> String {
    let out = env.run(&["state", "get", r]).success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

pub(crate) fn setup_minimal() -> TestEnv {
    let env = fixture("minimal");
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    env
}

#[test]
fn minimal_basic_release_deploys_everywhere() {
    let env = setup_minimal();
    let out = env.run(&["release", "new", "basic.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout.trim(), "minimal/repo/-/basic.ocu.star/@r1");
    for e in ["staging", "production", "production2"] {
        assert!(
            exists(&env, &format!("basic.ocu.star/@/deploy/{e}")),
            "not deployed to {e}"
        );
    }
    assert_eq!(
        value(&env, "basic.ocu.star/@/deploy/production#output/env_name"),
        "production"
    );
    assert_eq!(
        value(&env, "basic.ocu.star/@/deploy/staging#output/count"),
        "1"
    );
    assert_eq!(
        value(&env, "basic.ocu.star/@r1/task/build#output/output2"),
        "value2"
    );
    // The build's file functions ran relative to the package directory.
    assert!(env.repo().join(".build/output.txt").exists());
    // Tags from done(tags=...) link to the release.
    assert!(exists(&env, "basic.ocu.star/@v1"));
    // Progress shows each run with its status and duration.
    assert!(
        out.stderr
            .contains("basic.ocu.star@r1 task/build#1 complete in"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("deploying to production2"),
        "{}",
        out.stderr
    );
    // Logs are stored per run.
    let logs = env
        .run(&["state", "get", "basic.ocu.star/@r1/deploy/staging/1/logs"])
        .success();
    assert!(
        logs.stdout.contains("deploying to staging"),
        "{}",
        logs.stdout
    );
    assert!(
        logs.stdout.contains("\"filename\": \"tasks.ocu.star\""),
        "log lines carry their source: {}",
        logs.stdout
    );
}

#[test]
fn minimal_repo_alias_override() {
    let mut env = setup_minimal();
    env.set_env("OCU_CFG_repo_alias", "alternate");
    let out = env.run(&["release", "new", "basic.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(exists(&env, "alternate/-/basic.ocu.star/@r1"));
}

#[test]
fn minimal_two_releases_with_approvals() {
    let env = setup_minimal();
    let pkg = "minimal/repo/-/approvals.ocu.star";
    let out = env.run(&["release", "new", "approvals.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("waiting for input: approval"),
        "{}",
        out.stderr
    );
    assert!(exists(&env, "approvals.ocu.star/@/deploy/staging"));
    assert!(!exists(&env, "approvals.ocu.star/@/deploy/production"));
    assert_eq!(
        env.run(&["state", "set", &format!("{pkg}/@v1/custom/approval"), "1"])
            .code(),
        0
    );
    let dry = env.run(&["work", "any", "--dryrun"]).success();
    assert!(
        dry.stdout.contains("\"work_type\": \"create\""),
        "{}",
        dry.stdout
    );
    assert_eq!(env.run(&["work", "any"]).code(), 0);
    assert!(
        exists(&env, &format!("{pkg}/@r1/custom/approval")),
        "the @v1 intent applies through the tag"
    );
    assert_eq!(
        env.run(&["state", "set", &format!("{pkg}/@r1/custom/approval2"), "1"])
            .code(),
        0
    );
    assert_eq!(env.run(&["work", "any"]).code(), 0);
    for e in ["staging", "production", "production2"] {
        assert!(
            exists(&env, &format!("approvals.ocu.star/@/deploy/{e}")),
            "not deployed to {e}"
        );
    }
    assert_eq!(
        env.run(&["work", "continue", "--dryrun"]).success().stdout,
        "null\n"
    );
    assert_eq!(env.run(&["work", "continue"]).code(), 0);

    // A second release waits on its own approvals, given by tag.
    assert_eq!(
        env.run(&["release", "new", "approvals.ocu.star", "--force"])
            .code(),
        0
    );
    assert!(exists(&env, &format!("{pkg}/@v2")));
    assert_eq!(
        env.run(&["state", "set", &format!("{pkg}/@v2/custom/approval"), "1"])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["state", "apply", &format!("{pkg}/@v2/custom/approval")])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["release", "continue", &format!("{pkg}/@v2")])
            .code(),
        0
    );
    assert_eq!(
        value(&env, "approvals.ocu.star/@/deploy/production#output/count"),
        "1"
    );
    assert_eq!(
        env.run(&["state", "set", &format!("{pkg}/@v2/custom/approval2"), "1"])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["state", "apply", &format!("{pkg}/@v2/custom/approval2")])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["release", "continue", &format!("{pkg}/@v2")])
            .code(),
        0
    );
    assert_eq!(
        value(&env, "approvals.ocu.star/@/deploy/production#output/count"),
        "2"
    );
}

#[test]
fn minimal_deleting_deploy_intent_takes_the_deployment_down() {
    let env = setup_minimal();
    assert_eq!(env.run(&["release", "new", "basic.ocu.star"]).code(), 0);
    assert_eq!(
        env.run(&[
            "state",
            "delete",
            "minimal/repo/-/basic.ocu.star/@/deploy/production"
        ])
        .code(),
        0
    );
    let diff = env.run(&["state", "diff"]).success();
    assert_eq!(
        diff.stdout,
        "minimal/repo/-/basic.ocu.star/@/deploy/production\n"
    );
    assert_eq!(
        env.run(&[
            "state",
            "apply",
            "minimal/repo/-/basic.ocu.star/@/deploy/production"
        ])
        .code(),
        0
    );
    let out = env.run(&["work", "continue"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("removing from production"),
        "{}",
        out.stderr
    );
    assert!(exists(&env, "basic.ocu.star/@/deploy/staging"));
    assert!(exists(&env, "basic.ocu.star/@/deploy/production2"));
    assert!(!exists(&env, "basic.ocu.star/@/deploy/production"));
    assert_eq!(env.run(&["state", "diff"]).success().stdout, "");
}

#[test]
fn customstate_set_apply_delete() {
    let env = TestEnv::from_fixture("customstate");
    assert_eq!(env.run(&["state", "set", "@/custom/test", "1"]).code(), 0);
    assert!(
        !exists(&env, "@/custom/test"),
        "intent is not state until applied"
    );
    assert_eq!(env.run(&["state", "apply", "@/custom/test"]).code(), 0);
    assert_eq!(value(&env, "@/custom/test"), "1");
    assert_eq!(env.run(&["state", "delete", "@/custom/test"]).code(), 0);
    assert_eq!(env.run(&["state", "apply", "@/custom/test"]).code(), 0);
    assert!(!exists(&env, "@/custom/test"));
}

fn setup_environments() -> TestEnv {
    let env = fixture("environments");
    for f in [
        "environments.ocu.star",
        "package1.ocu.star",
        "package2.ocu.star",
    ] {
        let out = env.run(&["release", "new", f]);
        assert_eq!(out.code(), 0, "{out}");
    }
    assert!(exists(&env, "package1.ocu.star/@/deploy/production2"));
    assert!(exists(&env, "package2.ocu.star/@/deploy/production2"));
    env
}

const PRODUCTION3: &str = r#"{"attributes": {"type": "prod"},"name": "production3"}"#;

#[test]
fn environments_create_with_apply_ops_and_continue() {
    let env = setup_environments();
    assert_eq!(
        env.run(&[
            "state",
            "set",
            "-f=json",
            "@/environment/production3",
            PRODUCTION3
        ])
        .code(),
        0
    );
    assert_eq!(
        env.run(&["state", "apply", "@/environment/production3"])
            .code(),
        0
    );
    assert!(exists(&env, "package1.ocu.star/@r1/op/check_envs"));
    assert_eq!(env.run(&["work", "ops"]).code(), 0);
    assert!(!exists(&env, "package1.ocu.star/@r1/op/check_envs"));
    assert_eq!(env.run(&["work", "continue"]).code(), 0);
    assert!(exists(&env, "package1.ocu.star/@/deploy/production3"));
    assert!(exists(&env, "package2.ocu.star/@/deploy/production3"));
}

#[test]
fn environments_delete_takes_deployments_down() {
    let env = setup_environments();
    let file = |p: &str| env.repo().join(format!(".deploys/production2/{p}.txt"));
    assert!(file("package1").exists() && file("package2").exists());
    assert_eq!(
        env.run(&["state", "delete", "@/environment/production2"])
            .code(),
        0
    );
    assert_eq!(
        env.run(&["state", "apply", "@/environment/production2"])
            .code(),
        0
    );
    assert!(!exists(&env, "@/environment/production2"));
    let out = env.run(&["work", "continue"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!exists(&env, "package1.ocu.star/@/deploy/production2"));
    assert!(!file("package1").exists() && !file("package2").exists());
    assert!(env.repo().join(".deploys/staging/package1.txt").exists());
    assert!(env.repo().join(".deploys/production/package2.txt").exists());
}

#[test]
fn errors_failing_task_exits_1_and_retry_works() {
    let env = fixture("errors");
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    let out = env.run(&["release", "new", "package.ocu.star"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("something is wrong in production2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("package.ocu.star:8:"),
        "the failure names the user's file and line: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("error: release errors/repo/-/package.ocu.star/@r1 failed"),
        "{}",
        out.stderr
    );
    assert!(exists(&env, "package.ocu.star/@/deploy/production"));
    assert!(exists(
        &env,
        "package.ocu.star/@r1/deploy/production2/1/status/failed"
    ));
    // The store is consistent: retrying fails again the same way, keeping history.
    let retry = env.run(&["release", "retry", "package.ocu.star/@r1"]);
    assert_eq!(retry.code(), 1, "{retry}");
    assert!(exists(
        &env,
        "package.ocu.star/@r1/deploy/production2/1/status/failed_retried"
    ));
    assert!(exists(
        &env,
        "package.ocu.star/@r1/deploy/production2/2/status/failed"
    ));
}

#[test]
fn sdk_version_constraints() {
    let env = fixture("sdk_version");
    for f in [
        "version_test",
        "no_version_test",
        "semver_test",
        "semver_constraint_test",
    ] {
        let out = env.run(&["release", "new", &format!("{f}.ocu.star")]);
        assert_eq!(out.code(), 0, "{f}: {out}");
        assert!(exists(
            &env,
            &format!("{f}.ocu.star/@r1/task/build/1/status/complete")
        ));
        assert!(exists(
            &env,
            &format!("{f}.ocu.star/@r1/task/deploy_test/1/status/complete")
        ));
    }
}

#[test]
fn secrets_never_reach_output_or_history() {
    let env = fixture("secrets");
    let out = env.run(&["release", "new", "release.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    for secret in ["abc123", "def456"] {
        assert!(!out.stdout.contains(secret), "stdout leaks {secret}");
        assert!(
            !out.stderr.contains(secret),
            "stderr leaks {secret}: {}",
            out.stderr
        );
    }
    assert!(
        out.stderr.contains("the token is <secret>"),
        "{}",
        out.stderr
    );
    let history = env.git(&["-C", ".store/state", "log", "-p", "--all"]);
    assert!(history.contains("<secret>"), "the logs are stored masked");
    for secret in ["abc123", "def456"] {
        assert!(!history.contains(secret), "store history leaks {secret}");
    }
}

#[test]
fn validation_errors() {
    let env = TestEnv::from_fixture("validation");
    env.git(&[
        "remote",
        "add",
        "origin",
        "git@github.com:example/validation.git",
    ]);
    let cases = [
        (
            "badinputs",
            "Input '0startswithnumber' is not in function parameters for 'foo' at badinputs.ocu.star:1:5",
        ),
        (
            "badinputsinnext",
            "invalid input name \"0startswithnumber\"",
        ),
        ("tags", "invalid tag: invalid/tag"),
        (
            "tags2",
            "tags must not be in the release format (r<number>): r123",
        ),
        (
            "environments",
            "environment names may only contain letters, numbers, periods and underscores: invalid/name",
        ),
        (
            "functionargs",
            "Function parameter 'missing' is not present in inputs and has no default value for 'foo'",
        ),
        (
            "duplicate",
            "Task 'same' is used in 2 phases, should be used in exactly one",
        ),
    ];
    for (f, message) in cases {
        let out = env.run(&["release", "new", &format!("{f}.ocu.star")]);
        assert_eq!(out.code(), 1, "{f} should fail: {out}");
        assert!(out.stderr.contains("error: "), "{f}: {out}");
        assert!(
            out.stderr.contains(message),
            "{f}: expected {message:?} in {}",
            out.stderr
        );
    }
    assert!(!exists(&env, "@/environment/invalid/name"));
    // Invalid environments are refused when written (issue 12), with the messages `work`
    // gives for hand-made intent, so nothing is left to block later `work` commands.
    let bad = r#"{"attributes": {"type": "prod"},"name": "bad+environment"}"#;
    let out = env.run(&[
        "state",
        "set",
        "-f=json",
        "@/environment/bad+environment",
        bad,
    ]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(
            "environment names may only contain letters, numbers, periods and underscores"
        ),
        "{out}"
    );
    let mismatch = r#"{"attributes": {"type": "prod"},"name": "non_matching"}"#;
    let out = env.run(&[
        "state",
        "set",
        "-f=json",
        "@/environment/shouldmatch",
        mismatch,
    ]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("must match subpath"), "{out}");
    assert_eq!(env.run(&["work", "any"]).code(), 0);
    assert!(!exists(&env, "@/environment/bad+environment"));
    assert!(!exists(&env, "@/environment/shouldmatch"));
}

#[test]
fn starlark_errors_name_the_users_file() {
    let env = TestEnv::new();
    env.write_file("syntax.ocu.star", "def build(:\n    pass\n");
    env.write_file(
        "unknown.ocu.star",
        "def build():\n    return done()\n\ntask(build, name = nosuch_builtin)\n",
    );
    env.write_file(
        "types.ocu.star",
        "def build():\n    return done()\n\ntask(build, name = 42)\n",
    );
    for (file, line) in [
        ("syntax", "syntax.ocu.star:1:"),
        ("unknown", "unknown.ocu.star:4:"),
        ("types", "types.ocu.star:4:"),
    ] {
        let out = env.run(&["release", "new", &format!("{file}.ocu.star")]);
        assert_eq!(out.code(), 1, "{file}: {out}");
        assert!(out.stderr.contains(line), "{file}: {}", out.stderr);
    }
    // Nothing was written for those files.
    assert_eq!(env.run(&["state", "match", "**/@r*"]).success().stdout, "");
}
