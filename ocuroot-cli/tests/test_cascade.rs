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

#[test]
fn release_cascade_follows_only_its_own_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = released(tmp.path());
    commit2(&env);
    env.run(&["state", "set", "@/custom/test", "foo"]).success();
    assert!(!exists(&env, "@/custom/test"));
    let out = env.run(&["release", "new", "a.ocu.star", "--cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env, A), TWO);
    assert_eq!(message(&env, B), TWO);
    // Intent set by an earlier command is not this release's consequence.
    assert!(!exists(&env, "@/custom/test"));
    env.run(&["work", "cascade"]).success();
    assert_eq!(message(&env, "@/custom/test"), "foo");
    worktrees_and_clones_removed(&env);
}

/// repo1 deploys `a`; repo2 (another repository sharing the store) deploys its `b` from it.
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
fn work_cascade_redeploys_a_dependant_in_another_repository_from_a_clone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env1, env2) = two_repos(tmp.path());
    commit2(&env1);
    env1.run(&["state", "set", "@/custom/test", "foo"])
        .success();
    env1.run(&["release", "new", "a.ocu.star"]).success();
    assert_eq!(message(&env1, A), TWO);
    assert_eq!(message(&env1, B2), ONE);
    assert!(!exists(&env1, "@/custom/test"));
    let out = env1.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env1, B2), TWO);
    assert_eq!(message(&env1, "@/custom/test"), "foo");
    assert!(out.stderr.contains("of repo2 at"), "{out}");
    worktrees_and_clones_removed(&env1);
    // repo2's own view agrees.
    assert_eq!(message(&env2, B2), TWO);
}

#[test]
fn release_cascade_reaches_another_repository() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env1, _env2) = two_repos(tmp.path());
    commit2(&env1);
    env1.run(&["state", "set", "@/custom/test", "foo"])
        .success();
    let out = env1.run(&["release", "new", "a.ocu.star", "--cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env1, B2), TWO);
    assert!(!exists(&env1, "@/custom/test"));
    env1.run(&["work", "cascade"]).success();
    assert_eq!(message(&env1, "@/custom/test"), "foo");
    worktrees_and_clones_removed(&env1);
}

#[test]
fn cascade_to_a_repository_whose_remote_is_gone_names_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env1, env2) = two_repos(tmp.path());
    let origin2 = tmp.path().join("repo2-origin.git");
    std::fs::remove_dir_all(&origin2).expect("remove repo2's origin");
    drop(env2);
    commit2(&env1);
    let out = env1.run(&["release", "new", "a.ocu.star", "--cascade"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("cannot check out repo2 at commit"),
        "{out}"
    );
    assert!(out.stderr.contains("all remotes exhausted"), "{out}");
    assert!(
        out.stderr.contains(origin2.to_str().expect("utf-8")),
        "{out}"
    );
    // Nothing of repo2 changed, and the failed clone was cleaned up.
    assert_eq!(message(&env1, B2), ONE);
    worktrees_and_clones_removed(&env1);
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

/// The runs of a deployment: `[1]` before any redeploy.
fn runs(env: &TestEnv, deployment: &str) -> Vec<u32> {
    let out = env
        .run(&["state", "match", &format!("{deployment}/*/status/*")])
        .success();
    let mut runs: Vec<u32> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{deployment}/")))
        .filter_map(|l| l.split('/').next()?.parse().ok())
        .collect();
    runs.sort_unstable();
    runs.dedup();
    runs
}

#[test]
fn diamond_across_two_repositories_redeploys_each_dependant_once_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = store_remote(tmp.path());
    let (env1, _) = repo_of(tmp.path(), "diamond", "repo1", &remote);
    let (env2, _) = repo_of(tmp.path(), "diamond", "repo2", &remote);
    for f in ["environments.ocu.star", "top.ocu.star", "left.ocu.star"] {
        env1.run(&["release", "new", f]).success();
    }
    for f in ["right.ocu.star", "bottom.ocu.star"] {
        env2.run(&["release", "new", f]).success();
    }
    const BOTTOM: &str = "diamond-repo2/-/bottom.ocu.star/@/deploy/production#output/message";
    assert_eq!(message(&env1, BOTTOM), "left(top v1) + right(top v1)");

    env1.write_file("top.txt", "top v2");
    env1.git(&["commit", "-q", "-am", "top v2"]);
    env1.git(&["push", "-q", "origin", "main"]);
    let out = env1.run(&["release", "new", "top.ocu.star", "--cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env1, BOTTOM), "left(top v2) + right(top v2)");
    // Each dependant redeployed exactly once, within its first release; bottom only after
    // both of its inputs had changed (else it would have run twice).
    for d in [
        "diamond-repo1/-/left.ocu.star/@r1/deploy/production",
        "diamond-repo2/-/right.ocu.star/@r1/deploy/production",
        "diamond-repo2/-/bottom.ocu.star/@r1/deploy/production",
    ] {
        assert_eq!(runs(&env1, d), vec![1, 2], "{d}: {out}");
    }
    assert_eq!(
        runs(&env1, "diamond-repo1/-/top.ocu.star/@r2/deploy/production"),
        vec![1]
    );
    assert!(
        out.stderr.contains("cascade round 2"),
        "bottom waits for a second round: {out}"
    );
    assert_eq!(
        env1.run(&["work", "cascade", "--dryrun"]).success().stdout,
        "null\n"
    );
    worktrees_and_clones_removed(&env1);
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

fn ledger(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `teardown` fixture's two repositories sharing a store under `tmp`, every package
/// deployed to both environments; returns repo1's environment and the ledger file.
fn teardown_deployed(tmp: &Path) -> (TestEnv, PathBuf) {
    let remote = store_remote(tmp);
    let book = tmp.join("ledger.txt");
    let (mut env1, _) = repo_of(tmp, "teardown", "repo1", &remote);
    let (mut env2, _) = repo_of(tmp, "teardown", "repo2", &remote);
    for env in [&mut env1, &mut env2] {
        env.set_env("LEDGER", book.to_str().expect("utf-8"));
    }
    for f in ["environments.ocu.star", "network.ocu.star", "db.ocu.star"] {
        env1.run(&["release", "new", f]).success();
    }
    env2.run(&["release", "new", "app.ocu.star"]).success();
    (env1, book)
}

// See: issue 10 ("One intent pipeline"): removing an environment ran every `down` at once;
// a deployment that reads another's outputs must go down before the one it reads from.
#[test]
fn issue_10_removing_an_environment_runs_downs_in_reverse_dependency_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env1, book) = teardown_deployed(tmp.path());
    assert_eq!(ledger(&book).len(), 6, "{:?}", ledger(&book));

    env1.run(&["state", "delete", "@/environment/production"])
        .success();
    // The plan shows the order: app first, then db, network last.
    let plan = env1.run(&["plan"]).success();
    let app_down = "teardown-repo2/-/app.ocu.star/@r1/deploy/production/2";
    let db_down = "teardown-repo1/-/db.ocu.star/@r1/deploy/production/2";
    assert!(
        plan.stdout
            .contains(&format!("(run {db_down}), after {app_down}")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("after {db_down} and {app_down}"))
            || plan
                .stdout
                .contains(&format!("after {app_down} and {db_down}")),
        "network waits for both readers: {}",
        plan.stdout
    );
    let out = env1.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    let downs: Vec<String> = ledger(&book)
        .into_iter()
        .filter(|l| l.starts_with("down"))
        .collect();
    assert_eq!(
        downs,
        [
            "down app production",
            "down db production",
            "down network production"
        ],
        "{out}"
    );
    for pkg in [
        "teardown-repo1/-/network.ocu.star",
        "teardown-repo1/-/db.ocu.star",
        "teardown-repo2/-/app.ocu.star",
    ] {
        assert!(
            !exists(&env1, &format!("{pkg}/@/deploy/production")),
            "{pkg}"
        );
        assert!(exists(&env1, &format!("{pkg}/@/deploy/staging")), "{pkg}");
    }
    assert_eq!(env1.run(&["state", "diff"]).success().stdout, "");
    worktrees_and_clones_removed(&env1);
}

// See: issue 10: a `down` ordered after its reader's `down` follows a `release retry` of
// that reader's failed `down` instead of waiting for the failed run forever.
#[test]
fn issue_10_a_waiting_down_follows_the_retry_of_its_readers_down() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env1, book) = teardown_deployed(tmp.path());
    env1.run(&["state", "delete", "@/environment/production"])
        .success();
    let out = env1.run_with("", &["work", "cascade"], &[("FAIL_DB_DOWN", "1")], None);
    assert_eq!(out.code(), 1, "db's down fails: {out}");
    let downs = |book: &Path| -> Vec<String> {
        ledger(book)
            .into_iter()
            .filter(|l| l.starts_with("down"))
            .collect()
    };
    assert_eq!(
        downs(&book),
        ["down app production"],
        "network waits: {out}"
    );
    let retry = env1.run(&["release", "retry", "db.ocu.star/@r1"]);
    assert_eq!(retry.code(), 0, "{retry}");
    let out = env1.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        downs(&book),
        [
            "down app production",
            "down db production",
            "down network production"
        ],
        "{out}"
    );
    assert!(!exists(
        &env1,
        "teardown-repo1/-/network.ocu.star/@/deploy/production"
    ));
    assert_eq!(env1.run(&["state", "diff"]).success().stdout, "");
}
