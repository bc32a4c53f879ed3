//! What `repo.ocu.star` and the environment decide: the repository name, the stores, the
//! commit author, and the errors of a missing or broken configuration.

use ocuroot_core::store::{StoreKind, Transaction};
use serde_json::json;

use crate::common::{TestEnv, git, open_store, r, try_git};

#[test]
fn missing_repo_config() {
    let env = TestEnv::without_config();
    insta::assert_snapshot!(env.run(&["state", "get", "@/environment/staging"]));
}

#[test]
fn starlark_error_names_file_line_and_column() {
    let env = TestEnv::with_config("repo_alias(\"demo\")\n\nx = 1 +\n");
    let out = env.run(&["state", "match"]);
    assert!(out.stderr.contains("repo.ocu.star:3:8"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn starlark_runtime_error() {
    let env = TestEnv::with_config("repo_alias(\"demo\")\nrepo_alias(42)\n");
    let out = env.run(&["state", "match"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("repo.ocu.star:2:"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn store_git_missing_remote_is_named() {
    let env = TestEnv::with_config(
        "repo_alias(\"demo\")\nstore.set(store.git(\"/nonexistent/state.git\", branch=\"state\"))\n",
    );
    insta::assert_snapshot!(env.run(&["state", "set", "@/custom/x", "1"]));
    assert!(!env.hub().exists());
}

#[test]
fn store_fs_hub() {
    let env = TestEnv::with_config("repo_alias(\"demo\")\nstore.set(store.fs(\".store\"))\n");
    env.run(&[
        "state",
        "set",
        "-f",
        "json",
        "@/environment/staging",
        r#"{"name": "staging"}"#,
    ])
    .success();
    let store = env.repo().join(".store");
    insta::assert_snapshot!(git(&store, &["ls-tree", "-r", "--name-only", "intent"]));
    // The default hub is not used.
    assert!(!env.hub().exists());
    // State is read from the same repository's `state` branch.
    let mut tx = Transaction::new("seed");
    tx.set(&r("@/environment/staging"), json!({"name": "staging"}));
    open_store(&store, "state", StoreKind::State)
        .commit(&tx)
        .expect("seed");
    insta::assert_snapshot!(env.run(&["state", "get", "@/environment/staging#name"]));
    assert!(try_git(&store, &["rev-parse", "--verify", "-q", "refs/heads/state"]).is_some());
    assert!(
        try_git(
            &store,
            &["rev-parse", "--verify", "-q", "refs/heads/intent"]
        )
        .is_some()
    );
    insta::assert_snapshot!(env.run(&["state", "diff"]));
}

#[test]
fn store_fs_separate_state_and_intent() {
    let env = TestEnv::with_config(
        "repo_alias(\"demo\")\nstore.set(store.fs(\".store/state\"), intent=store.fs(\".store/intent\"))\n",
    );
    env.run(&["state", "set", "@/custom/x", "1"]).success();
    let state = env.repo().join(".store/state");
    let intent = env.repo().join(".store/intent");
    // Both repositories exist (bare); intent has its branch, state none yet.
    assert_eq!(
        git(&state, &["rev-parse", "--is-bare-repository"]).trim(),
        "true"
    );
    assert!(
        try_git(
            &intent,
            &["rev-parse", "--verify", "-q", "refs/heads/intent"]
        )
        .is_some()
    );
    assert!(try_git(&state, &["rev-parse", "--verify", "-q", "refs/heads/state"]).is_none());
    insta::assert_snapshot!(git(&intent, &["ls-tree", "-r", "intent"]));
    // The intent diff compares across the two repositories.
    insta::assert_snapshot!(env.run(&["state", "diff"]));
    let mut tx = Transaction::new("seed");
    tx.set_applied(&r("@/custom/x"), json!("1"));
    open_store(&state, "state", StoreKind::State)
        .commit(&tx)
        .expect("seed");
    insta::assert_snapshot!(env.run(&["state", "diff"]));
}

#[test]
fn repo_alias_env_override() {
    let mut env = TestEnv::new();
    env.seed_state(&[
        ("alternate/-/pkg.ocu.star/@r1", json!({"commit": "alt"})),
        ("demo/-/pkg.ocu.star/@r1", json!({"commit": "demo"})),
    ]);
    insta::assert_snapshot!(env.run(&["state", "get", "pkg.ocu.star/@r1#commit"]));
    env.set_env("OCU_CFG_repo_alias", "alternate");
    insta::assert_snapshot!(env.run(&["state", "get", "pkg.ocu.star/@r1#commit"]));
    env.run(&["state", "set", "pkg.ocu.star/@r1/custom/flag", "on"])
        .success();
    insta::assert_snapshot!(git(&env.hub(), &["ls-tree", "-r", "--name-only", "intent"]));
}

#[test]
fn repo_name_from_origin_remote() {
    let env = TestEnv::with_config("");
    env.git(&["remote", "add", "origin", "git@github.com:org/app.git"]);
    env.run(&["state", "set", "pkg.ocu.star/@/custom/approval", "yes"])
        .success();
    insta::assert_snapshot!(git(&env.hub(), &["ls-tree", "-r", "--name-only", "intent"]));
}

#[test]
fn relative_ref_without_repo_name() {
    let env = TestEnv::with_config("");
    insta::assert_snapshot!(env.run(&["state", "get", "pkg.ocu.star/@r1"]));
}

#[test]
fn commit_author_from_env() {
    let mut env = TestEnv::new();
    env.run(&["state", "set", "@/custom/x", "1"]).success();
    env.set_env("OCUROOT_GIT_USER_NAME", "CI Bot");
    env.set_env("OCUROOT_GIT_USER_EMAIL", "ci@example.com");
    env.run(&["state", "set", "@/custom/x", "2"]).success();
    insta::assert_snapshot!(git(
        &env.hub(),
        &["log", "--format=%an <%ae> / %cn <%ce> / %aI%n%B", "intent"]
    ));
}
