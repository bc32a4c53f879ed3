//! Bad input: every case exits 1 with a message naming the ref or file, and leaves the
//! store branches exactly where they were.

use serde_json::json;

use crate::common::{CommandOutput, TestEnv, hand_commit};

/// A repository whose hub has both branches.
fn with_both_branches() -> TestEnv {
    let env = TestEnv::new();
    env.seed_state(&[("@/environment/staging", json!({"name": "staging"}))]);
    env.run(&["state", "set", "@/custom/x", "1"]).success();
    env
}

/// The tips of the hub's `state` and `intent` branches.
fn tips(env: &TestEnv) -> (Option<String>, Option<String>) {
    (env.tip(&env.hub(), "state"), env.tip(&env.hub(), "intent"))
}

#[track_caller]
fn assert_refused(out: &CommandOutput, needle: &str) {
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(
        out.stderr.contains(needle),
        "stderr does not name {needle:?}:\n{out}"
    );
}

const MALFORMED: &[&str] = &[
    "a/../b",
    "repo.git/package@/deploy/hello",
    "x/@/invalid/y",
    "@/custom/bad\u{1}name",
    "/absolute/@/custom/x",
    "@/custom/a//b",
    "a/-b",
];

#[test]
fn malformed_refs_are_refused_without_writing() {
    let env = with_both_branches();
    let before = tips(&env);
    for bad in MALFORMED {
        // The message names the ref as typed (control characters escaped).
        let shown = format!("{bad:?}");
        let shown = shown.trim_matches('"');
        for args in [
            vec!["state", "get", bad],
            vec!["state", "set", bad, "v"],
            vec!["state", "delete", bad],
            vec!["state", "log", bad],
        ] {
            let out = env.run(&args);
            assert_refused(&out, shown);
        }
        assert_eq!(tips(&env), before, "{bad} moved a branch");
    }
    let report: String = MALFORMED
        .iter()
        .map(|bad| {
            format!(
                "$ ocuroot state set {bad:?} v\n{}",
                env.run(&["state", "set", bad, "v"])
            )
        })
        .collect();
    insta::assert_snapshot!(report);
}

#[test]
fn fragment_writes_are_refused() {
    let env = with_both_branches();
    let before = tips(&env);
    insta::assert_snapshot!(env.run(&["state", "set", "@/custom/x#field", "v"]));
    insta::assert_snapshot!(env.run(&["state", "delete", "@/custom/x#field"]));
    assert_eq!(tips(&env), before);
}

#[test]
fn unparseable_store_file_is_named() {
    let env = with_both_branches();
    hand_commit(
        &env.hub(),
        "state",
        &[(
            "refs/@/custom/broken/#.yaml",
            Some("a: [unclosed\n  - b: {\n"),
        )],
    );
    let before = tips(&env);
    let out = env.run(&["state", "get", "@/custom/broken"]);
    assert_refused(&out, "refs/@/custom/broken/#.yaml");
    insta::assert_snapshot!(out);
    // Other documents stay readable.
    env.run(&["state", "get", "@/environment/staging"])
        .success();
    assert_eq!(tips(&env), before);
}

#[test]
fn unparseable_link_file_is_named() {
    let env = with_both_branches();
    hand_commit(
        &env.hub(),
        "state",
        &[("refs/@/custom/badlink/#.link", Some("not/../a/ref\n"))],
    );
    let before = tips(&env);
    let out = env.run(&["state", "get", "@/custom/badlink"]);
    assert_refused(&out, "refs/@/custom/badlink/#.link");
    insta::assert_snapshot!(out);
    assert_eq!(tips(&env), before);
}

#[test]
fn unknown_state_format_is_refused() {
    let env = with_both_branches();
    hand_commit(
        &env.hub(),
        "state",
        &[("ocuroot-store.yaml", Some("format: 99\nkind: state\n"))],
    );
    let before = tips(&env);
    let out = env.run(&["state", "get", "@/environment/staging"]);
    assert_refused(&out, "unsupported store format 99");
    insta::assert_snapshot!(out);
    assert_refused(&env.run(&["state", "match"]), "store.git (branch state)");
    assert_refused(&env.run(&["state", "diff"]), "unsupported store format 99");
    assert_eq!(tips(&env), before);
}

#[test]
fn unknown_intent_format_is_refused() {
    let env = with_both_branches();
    hand_commit(
        &env.hub(),
        "intent",
        &[("ocuroot-store.yaml", Some("format: 2\nkind: intent\n"))],
    );
    let before = tips(&env);
    let out = env.run(&["state", "set", "@/custom/y", "1"]);
    assert_refused(&out, "unsupported store format 2");
    insta::assert_snapshot!(out);
    assert_refused(
        &env.run(&["state", "delete", "@/custom/x"]),
        "unsupported store format 2",
    );
    assert_eq!(tips(&env), before);
}

#[test]
fn wrong_store_kind_is_refused() {
    let env = with_both_branches();
    hand_commit(
        &env.hub(),
        "intent",
        &[("ocuroot-store.yaml", Some("format: 1\nkind: state\n"))],
    );
    let before = tips(&env);
    let out = env.run(&["state", "set", "@/custom/y", "1"]);
    assert_refused(&out, "holds a state store, expected intent");
    assert_eq!(tips(&env), before);
}

#[test]
fn bad_values_are_refused_without_writing() {
    let env = with_both_branches();
    let before = tips(&env);
    assert_refused(
        &env.run(&["state", "set", "-f", "json", "@/custom/x", "[1,"]),
        "not valid JSON",
    );
    assert_refused(
        &env.run(&["state", "set", "-f", "yaml", "@/custom/x", "a: [1"]),
        "not valid YAML",
    );
    assert_eq!(tips(&env), before);
}
