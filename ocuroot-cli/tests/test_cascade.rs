//! Cascade (spec §6.8, §7.2): one command carries a change to every dependant, in other
//! commits of this repository (git worktrees) and in other repositories (clones).

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, bare_remote};

/// A fixture repository of `testdata/cascade/<name>`, sharing the store `remote`, with real
/// commits (no commit override) and its own bare `origin`.
fn repo(tmp: &Path, name: &str, remote: &Path) -> (TestEnv, PathBuf) {
    repo_of(tmp, "cascade", name, remote)
}

/// As [`repo`], from `testdata/<fixture>/<name>`.
fn repo_of(tmp: &Path, fixture: &str, name: &str, remote: &Path) -> (TestEnv, PathBuf) {
    let mut env = TestEnv::from_fixture(&format!("{fixture}/{name}"));
    env.set_env("REPO_REMOTE", remote.to_str().expect("utf-8"));
    let origin = tmp.join(format!("{name}-origin.git"));
    bare_remote(&origin);
    env.git(&["remote", "add", "origin", origin.to_str().expect("utf-8")]);
    env.git(&["push", "-q", "origin", "main"]);
    (env, origin)
}

fn store_remote(tmp: &Path) -> PathBuf {
    let remote = tmp.join("store.git");
    bare_remote(&remote);
    remote
}

fn message(env: &TestEnv, r: &str) -> String {
    let out = env.run(&["state", "get", r]).success();
    serde_json::from_str::<String>(&out.stdout).expect("a JSON string")
}

fn exists(env: &TestEnv, r: &str) -> bool {
    env.run(&["state", "get", r]).code() == 0
}

/// Commits the second version of `a.txt` and pushes it.
fn commit2(env: &TestEnv) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/cascade/commit2/a.txt"),
    )
    .expect("read commit2/a.txt");
    env.write_file("a.txt", &text);
    env.git(&["commit", "-q", "-am", "commit 2"]);
    env.git(&["push", "-q", "origin", "main"]);
}

const A: &str = "cascade/-/a.ocu.star/@/deploy/production#output/message";
const B: &str = "cascade/-/b.ocu.star/@/deploy/production#output/message";
const B2: &str = "repo2/-/b.ocu.star/@/deploy/production#output/message";
const ONE: &str = "Message at commit 1";
const TWO: &str = "Message at commit 2";

/// Both packages released and deployed at commit 1.
fn released(tmp: &Path) -> TestEnv {
    let remote = store_remote(tmp);
    let (env, _) = repo(tmp, "repo1", &remote);
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    env.run(&["release", "new", "a.ocu.star"]).success();
    env.run(&["release", "new", "b.ocu.star"]).success();
    assert_eq!(message(&env, A), ONE);
    assert_eq!(message(&env, B), ONE);
    env
}

fn worktrees_and_clones_removed(env: &TestEnv) {
    for dir in ["worktrees", "clones"] {
        let path = env.root().join("home/.ocuroot").join(dir);
        let left: Vec<_> = std::fs::read_dir(&path)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{dir} left behind: {left:?}");
    }
    let listed = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 1, "{listed}");
}

#[test]
fn work_cascade_redeploys_a_dependant_at_its_own_commit_in_a_worktree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = released(tmp.path());
    let commit1 = env.git(&["rev-parse", "HEAD"]).trim().to_string();
    commit2(&env);
    env.run(&["release", "new", "a.ocu.star"]).success();
    assert_eq!(message(&env, A), TWO);
    assert_eq!(message(&env, B), ONE);

    let dry = env.run(&["work", "cascade", "--dryrun"]).success();
    let items: serde_json::Value = serde_json::from_str(&dry.stdout).expect("json");
    assert_eq!(
        items,
        serde_json::json!([{
            "ref": "cascade/-/b.ocu.star/@r1/deploy/production",
            "work_type": "run",
            "commit": commit1,
        }]),
        "{dry}"
    );

    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env, B), TWO);
    // b was redeployed within its release r1 (made at commit 1), not re-released.
    assert!(!exists(&env, "cascade/-/b.ocu.star/@r2"));
    assert!(exists(&env, "cascade/-/b.ocu.star/@r1/deploy/production/2"));
    worktrees_and_clones_removed(&env);
    assert_eq!(
        env.run(&["work", "cascade", "--dryrun"]).success().stdout,
        "null\n"
    );
}

fn two_repos(tmp: &Path) -> (TestEnv, TestEnv) {
    let remote = store_remote(tmp);
    let (env1, _) = repo(tmp, "repo1", &remote);
    env1.run(&["release", "new", "environments.ocu.star"])
        .success();
    env1.run(&["release", "new", "a.ocu.star"]).success();
    let (env2, _) = repo(tmp, "repo2", &remote);
    env2.run(&["release", "new", "b.ocu.star"]).success();
    assert_eq!(message(&env2, B2), ONE);
    (env1, env2)
}

#[test]
fn work_cascade_from_a_checkout_of_the_intent_branch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env1, _env2) = two_repos(tmp.path());
    commit2(&env1);
    env1.run(&["state", "set", "@/custom/test", "foo"])
        .success();
    env1.run(&["release", "new", "a.ocu.star"]).success();
    // The store remote checked out at its intent branch, as a CI job on an intent push
    // would have it.
    let remote = tmp.path().join("store.git");
    let clone = env1.root().join("store-clone");
    crate::common::git(
        env1.root(),
        &[
            "clone",
            "-q",
            "-b",
            "intent",
            remote.to_str().expect("utf-8"),
            clone.to_str().expect("utf-8"),
        ],
    );
    let dry = env1.run_in("../store-clone", &["work", "cascade", "--dryrun"]);
    assert_eq!(dry.code(), 0, "{dry}");
    assert!(dry.stdout.contains("@/custom/test"), "{dry}");
    assert!(
        dry.stdout
            .contains("repo2/-/b.ocu.star/@r1/deploy/production"),
        "{dry}"
    );
    let out = env1.run_in("../store-clone", &["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env1, "@/custom/test"), "foo");
    assert_eq!(message(&env1, B2), TWO);
    worktrees_and_clones_removed(&env1);
    // Relative refs mean nothing in a store checkout.
    let out = env1.run_in("../store-clone", &["state", "get", "./-/a.ocu.star/@"]);
    assert_eq!(out.code(), 1, "{out}");
}

/// The estate benchmark's scenario at a small size: packages in five repositories with
/// dependency chains across them, releases but no deployments, environments as intent, then
/// one `work cascade` must deploy everything (the script checks every deployment).
#[test]
fn estate_from_no_deployments_to_all_in_one_cascade() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/estate_bench.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .args(["20", "5", "3"])
        .env("OCUROOT_BIN", env!("CARGO_BIN_EXE_ocuroot"))
        .output()
        .expect("run bench/estate_bench.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("deployments: 60 of 60"), "{stdout}");
    assert!(stdout.contains("\"0-0/1-0/2-0/3-0/4-0\""), "{stdout}");
    // One commit per wave of a batch, not per release: 3 environments applied, 5 batches
    // of operations, and for each of the 5 batches of releases the start of its wave and
    // its results: 18. Committing each operation alone and each release's first wave and
    // results separately made 63; one commit per release boundary, 33.
    let commits: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("state commits made by the cascade: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("commit count");
    assert!(commits <= 25, "{commits} commits: {stdout}");
}

// See: issue 10 ("One intent pipeline"): removing an environment ran every `down` at once;
// a deployment that reads another's outputs must go down before the one it reads from.
// See: issue 10: a `down` ordered after its reader's `down` follows a `release retry` of
// that reader's failed `down` instead of waiting for the failed run forever.
