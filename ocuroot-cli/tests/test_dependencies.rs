//! End-to-end scenarios of releases that depend on other packages (spec §7.5): waiting for
//! upstream outputs, redeploying dependants on an upstream change, work bound to its
//! release's commit; live progress on a terminal; numeric release order (issue 11). Run
//! with the real binary in temporary Git repositories.

use crate::common::TestEnv;
use crate::test_release::{exists, fixture, value};

fn setup_dependencies() -> TestEnv {
    let env = fixture("dependencies");
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    env
}

#[test]
fn dependencies_release_with_root_path_from_a_subdirectory() {
    let env = setup_dependencies();
    let out = env.run_in(
        "frontend",
        &["release", "new", "//backend/package.ocu.star"],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(exists(&env, "backend/package.ocu.star/@/deploy/staging"));
}

#[test]
fn dependencies_wait_for_upstream_then_continue() {
    let env = setup_dependencies();
    let out = env.run(&["release", "new", "./-/frontend/package.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("waiting for input: backend_credential"),
        "{}",
        out.stderr
    );
    for e in ["staging", "production", "production2"] {
        assert!(!exists(
            &env,
            &format!("frontend/package.ocu.star/@/deploy/{e}")
        ));
    }
    assert_eq!(
        env.run_in("backend", &["release", "new", "package.ocu.star"])
            .code(),
        0
    );
    for e in ["staging", "production", "production2"] {
        assert!(exists(
            &env,
            &format!("backend/package.ocu.star/@/deploy/{e}")
        ));
    }
    assert_eq!(env.run(&["work", "continue"]).code(), 0);
    for e in ["staging", "production", "production2"] {
        assert!(exists(
            &env,
            &format!("frontend/package.ocu.star/@/deploy/{e}")
        ));
    }
    assert_eq!(
        value(
            &env,
            "./-/backend/package.ocu.star/@/deploy/staging#output/credential"
        ),
        "abcd"
    );
    assert_eq!(
        value(
            &env,
            "./-/frontend/package.ocu.star/@/deploy/staging#output/backend_credential"
        ),
        "abcd"
    );
}

#[test]
fn dependencies_work_is_bound_to_its_commit() {
    let mut env = setup_dependencies();
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commit2");
    assert_eq!(
        env.run(&["release", "new", "./-/frontend/package.ocu.star"])
            .code(),
        0
    );
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commit1");
    assert_eq!(
        env.run(&["release", "new", "backend/package.ocu.star"])
            .code(),
        0
    );
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    // The frontend at commit2 can run now: the trigger asks commit2's CI job to continue.
    let dry = env.run(&["work", "trigger", "--dryrun"]).success();
    assert!(
        dry.stdout.contains("\"commit\": \"commit2\""),
        "{}",
        dry.stdout
    );
    let trigger = env.run(&["work", "trigger"]);
    assert_eq!(trigger.code(), 0, "{trigger}");
    let triggers = env.repo().join(".store/triggers");
    assert!(triggers.join("commit2").exists(), "{trigger}");
    std::fs::remove_file(triggers.join("commit2")).expect("rm trigger");
    assert_eq!(env.run(&["work", "continue"]).code(), 0);
    assert!(
        !exists(&env, "frontend/package.ocu.star/@/deploy/staging"),
        "commitid has no frontend release"
    );
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commit2");
    assert_eq!(env.run(&["work", "continue"]).code(), 0);
    assert_eq!(
        value(
            &env,
            "./-/frontend/package.ocu.star/@/deploy/staging#output/backend_credential"
        ),
        "abcd"
    );
    // A credential change for the backend (released at commit1) triggers commit1, then commit2.
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    let cred = "./-/backend/package.ocu.star/@/custom/credential/staging";
    assert_eq!(env.run(&["state", "set", cred, "efgh"]).code(), 0);
    assert_eq!(env.run(&["state", "apply", cred]).code(), 0);
    assert_eq!(env.run(&["work", "trigger"]).code(), 0);
    assert!(triggers.join("commit1").exists());
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commit1");
    assert_eq!(env.run(&["work", "continue"]).code(), 0);
    assert_eq!(
        value(
            &env,
            "./-/backend/package.ocu.star/@/deploy/staging#output/credential"
        ),
        "efgh"
    );
    assert_eq!(
        value(
            &env,
            "./-/frontend/package.ocu.star/@/deploy/staging#output/backend_credential"
        ),
        "abcd"
    );
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    assert_eq!(env.run(&["work", "trigger"]).code(), 0);
    assert!(triggers.join("commit2").exists());
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commit2");
    assert_eq!(env.run(&["work", "continue"]).code(), 0);
    assert_eq!(
        value(
            &env,
            "./-/frontend/package.ocu.star/@/deploy/staging#output/backend_credential"
        ),
        "efgh"
    );
    // Intent changes trigger the latest recorded commit of each repository.
    let latest = env
        .run(&["work", "trigger", "--intent", "--dryrun"])
        .success();
    assert!(
        latest.stdout.contains("\"repo\": \"dependencies\""),
        "{}",
        latest.stdout
    );
    std::fs::remove_dir_all(&triggers).expect("rm triggers");
    assert_eq!(env.run(&["work", "trigger", "--intent"]).code(), 0);
    assert_eq!(std::fs::read_dir(&triggers).expect("triggers").count(), 1);
    // The configuration each command ran with is recorded, per commit.
    assert!(exists(&env, "dependencies/-/repo.ocu.star/@commit2"));
    assert!(exists(&env, "dependencies/-/repo.ocu.star/@"));
}

#[test]
fn live_progress_on_a_terminal() {
    // `script` gives the command a pseudo-terminal, so the live display is used.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("the `script` command (util-linux) is required for this test");
    }
    let env = crate::test_release::setup_minimal();
    let bin = env!("CARGO_BIN_EXE_ocuroot");
    let cmd = format!("OCU_REPO_COMMIT_OVERRIDE=commitid {bin} release new build_only.ocu.star");
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(env.repo())
        .env_remove("CI")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .output()
        .expect("run script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // Spinner frames are redrawn in place, and the finished line stays.
    assert!(
        text.contains("\u{1b}[2K"),
        "expected terminal redraws: {text:?}"
    );
    assert!(
        text.contains("build_only.ocu.star@r1 task/build#1 complete in"),
        "{text:?}"
    );
    assert!(exists(
        &env,
        "build_only.ocu.star/@r1/task/build/1/status/complete"
    ));
}

/// Issue 11: release ids order as numbers. With twelve releases of one commit, `release
/// retry` without a ref picks `@r12` (not `@r9`, the greatest as a string), and `state
/// match` lists `@r2` before `@r10`.
#[test]
fn issue_11_retry_picks_the_numerically_latest_of_twelve_releases() {
    let env = TestEnv::new();
    env.write_file(
        "fail.ocu.star",
        "def build():\n    fail(\"always\")\n\ntask(build, name = \"build\")\n",
    );
    env.git(&["add", "fail.ocu.star"]);
    env.git(&["commit", "-q", "-m", "failing package"]);
    for n in 1..=12 {
        let out = env.run(&["release", "new", "fail.ocu.star", "--force"]);
        assert_eq!(out.code(), 1, "release {n}: {out}");
    }
    let listed = env
        .run(&["state", "match", "demo/-/fail.ocu.star/@*", "--no-links"])
        .success();
    let want: String = (1..=12)
        .map(|n| format!("demo/-/fail.ocu.star/@r{n}\n"))
        .collect();
    assert_eq!(listed.stdout, want);
    let retry = env.run(&["release", "retry", "fail.ocu.star"]);
    assert_eq!(retry.code(), 1, "{retry}");
    assert!(
        retry
            .stderr
            .contains("release demo/-/fail.ocu.star/@r12 failed"),
        "{retry}"
    );
    assert!(exists(
        &env,
        "fail.ocu.star/@r12/task/build/2/status/failed"
    ));
    assert!(exists(
        &env,
        "fail.ocu.star/@r12/task/build/1/status/failed_retried"
    ));
    for n in 1..=11 {
        assert!(
            !exists(&env, &format!("fail.ocu.star/@r{n}/task/build/2")),
            "r{n} was not retried"
        );
    }
    // `--package`/`--release` build the ref when none is given (spec §5.1).
    let got = env
        .run(&[
            "state",
            "get",
            "--package",
            "fail.ocu.star",
            "--release",
            "r12",
        ])
        .success();
    assert!(got.stdout.contains("commit"), "{got}");
    assert_eq!(env.run(&["state", "get"]).code(), 2, "a ref is required");
    let repl = env
        .run(&[
            "repl",
            "--package",
            "fail.ocu.star",
            "--release",
            "r3",
            "-c",
            "ref(ref = './custom/x')",
        ])
        .success();
    assert!(
        repl.stdout
            .contains("preview.git/-/fail.ocu.star/@r3/custom/x"),
        "{repl}"
    );
}
