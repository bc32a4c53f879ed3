//! `ocuroot push` (spec §6.11, §7.10): release what changed since the last push, cascade.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, bare_remote};

fn fixture_file(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/push")
            .join(rel),
    )
    .unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// The `push` repository at commit 1, its store in a bare remote.
fn source(tmp: &Path) -> (TestEnv, PathBuf) {
    let remote = tmp.join("store.git");
    bare_remote(&remote);
    let mut env = TestEnv::from_fixture("push/commit1");
    env.set_env("REPO_REMOTE", remote.to_str().expect("utf-8"));
    (env, remote)
}

fn message(env: &TestEnv, r: &str) -> String {
    let out = env.run(&["state", "get", r]).success();
    serde_json::from_str::<String>(&out.stdout).expect("a JSON string")
}

fn exists(env: &TestEnv, r: &str) -> bool {
    env.run(&["state", "get", r]).code() == 0
}

const A: &str = "push/-/a.ocu.star/@/deploy/production#output/message";
const B: &str = "push/-/b.ocu.star/@/deploy/production#output/message";

#[test]
fn push_from_source_releases_changes_and_redeploys_dependants() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env, _) = source(tmp.path());
    let dry = env.run(&["push", "--dryrun"]).success();
    assert_eq!(
        dry.stdout, "a.ocu.star\nb.ocu.star\nenvironments.ocu.star\n",
        "every package file but repo.ocu.star and release_ignore matches: {dry}"
    );
    let out = env.run(&["push"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env, A), "Message at commit 1");
    assert_eq!(message(&env, B), "Message at commit 1");
    assert!(exists(&env, "push/-/repo.ocu.star/@/push/index"));
    assert!(!exists(&env, "push/-/ignored/broken.ocu.star/@r1"));

    // Commit 2 changes a.txt: refused while uncommitted, and while staged.
    env.write_file("a.txt", &fixture_file("commit2/a.txt"));
    let out = env.run(&["push"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("you have uncommitted changes") && out.stderr.contains("a.txt"),
        "{out}"
    );
    env.git(&["add", "."]);
    let out = env.run(&["push"]);
    assert_eq!(out.code(), 1, "staged changes refuse too: {out}");
    env.git(&["commit", "-q", "-m", "commit 2"]);
    let dry = env.run(&["push", "-n"]).success();
    assert_eq!(dry.stdout, "a.ocu.star\n", "a watches a.txt: {dry}");

    let out = env.run(&["push"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(message(&env, A), "Message at commit 2");
    assert_eq!(message(&env, B), "Message at commit 2");
    assert!(exists(&env, "push/-/a.ocu.star/@r2/deploy/production"));
    // b was redeployed within its first release, not re-released.
    assert!(!exists(&env, "push/-/b.ocu.star/@r2/deploy/production"));
    assert!(exists(&env, "push/-/b.ocu.star/@r1/deploy/production/2"));

    let index = env
        .run(&["state", "get", "push/-/repo.ocu.star/@/push/index"])
        .success();
    let index: serde_json::Value = serde_json::from_str(&index.stdout).expect("json");
    let head = env.git(&["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(index["commit"], head.as_str());
    assert_eq!(
        index["packages"]["a.ocu.star"]["watch_files"],
        serde_json::json!(["a.txt"])
    );

    // Pushing the same commit again releases nothing.
    assert_eq!(env.run(&["push", "-n"]).success().stdout, "");
    let out = env.run(&["push"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!exists(&env, "push/-/a.ocu.star/@r3"));
}

#[test]
fn push_releases_a_package_whose_watched_file_changed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env, _) = source(tmp.path());
    env.run(&["push"]).success();
    // b watches its own file: touching it re-releases b only.
    let text = std::fs::read_to_string(env.repo().join("b.ocu.star")).expect("read");
    env.write_file("b.ocu.star", &format!("{text}\n# changed\n"));
    env.write_file("ignored/notes.txt", "not a package");
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "touch b"]);
    assert_eq!(env.run(&["push", "-n"]).success().stdout, "b.ocu.star\n");
    env.run(&["push"]).success();
    assert!(exists(&env, "push/-/b.ocu.star/@r2/deploy/production"));
    assert!(!exists(&env, "push/-/a.ocu.star/@r2"));
}

#[test]
fn push_from_a_checkout_of_the_intent_branch_applies_intent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env, remote) = source(tmp.path());
    // As in spec §7.10, the store remote is also the source repository's origin.
    env.git(&["remote", "add", "origin", remote.to_str().expect("utf-8")]);
    env.git(&["push", "-q", "origin", "main"]);
    env.run(&["push"]).success();
    for (name, round) in [("@/custom/test", 1), ("@/custom/test2", 2)] {
        env.run(&["state", "set", name, "1"]).success();
        env.git(&["fetch", "-q", "origin"]);
        env.git(&["checkout", "-q", "intent"]);
        assert!(!env.repo().join("repo.ocu.star").exists());
        let dry = env.run(&["push", "--dryrun"]).success();
        assert_eq!(dry.stdout, format!("{name}\n"), "round {round}: {dry}");
        let out = env.run(&["push"]);
        assert_eq!(out.code(), 0, "round {round}: {out}");
        env.git(&["checkout", "-q", "main"]);
        assert_eq!(message(&env, name), "1");
    }
    assert_eq!(message(&env, "@/custom/test"), "1");
    let index = env.run(&["state", "get", "@/push/intent_commit"]).success();
    assert!(index.stdout.contains("\"commit\""), "{index}");
}
