//! `ocuroot state get|match|set|delete|diff|log` against the default hub store.

use serde_json::json;

use crate::common::{TestEnv, git};

/// Returns the YAML of an intent document as stored in the hub.
fn intent_file(env: &TestEnv, path: &str) -> String {
    git(&env.hub(), &["show", &format!("intent:refs/{path}/#.yaml")])
}

/// A state store with a release, a tag, a deployment link and some global documents.
fn seeded() -> TestEnv {
    let env = TestEnv::new();
    env.seed_state(&[
        (
            "demo/-/backend/api.ocu.star/@r1",
            json!({"commit": "abc", "package": {"phases": []}}),
        ),
        (
            "demo/-/backend/api.ocu.star/@r1/deploy/staging",
            json!({"release": "demo/-/backend/api.ocu.star/@r1", "output": {"url": "https://staging.example.com", "port": 8080}}),
        ),
        (
            "demo/-/frontend/web.ocu.star/@r1",
            json!({"commit": "def"}),
        ),
        (
            "@/environment/staging",
            json!({"name": "staging", "attributes": {"type": "staging"}}),
        ),
        (
            "@/environment/production",
            json!({"name": "production", "attributes": {"type": "prod"}}),
        ),
        ("@/custom/approval", json!("yes")),
    ]);
    env.seed_links(&[
        (
            "demo/-/backend/api.ocu.star/@v1",
            "demo/-/backend/api.ocu.star/@r1",
        ),
        (
            "demo/-/backend/api.ocu.star/@/deploy/staging",
            "demo/-/backend/api.ocu.star/@r1/deploy/staging",
        ),
    ]);
    env
}

#[test]
fn set_string_json_and_yaml() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["state", "set", "@/custom/plain", "1"]));
    insta::assert_snapshot!(env.run(&[
        "state",
        "set",
        "-f",
        "json",
        "@/environment/staging",
        r#"{"name": "staging", "attributes": {"type": "staging", "b": "2", "a": "1"}}"#,
    ]));
    insta::assert_snapshot!(env.run(&[
        "state",
        "set",
        "--format",
        "yaml",
        "@/custom/list",
        "items: [1, two]\nnested: {z: 1, a: 2}",
    ]));
    let files = format!(
        "{}---\n{}---\n{}",
        intent_file(&env, "@/custom/plain"),
        intent_file(&env, "@/environment/staging"),
        intent_file(&env, "@/custom/list"),
    );
    insta::assert_snapshot!(files);
    insta::assert_snapshot!(git(&env.hub(), &["ls-tree", "-r", "--name-only", "intent"]));
}

#[test]
fn set_relative_custom_ref_in_a_package() {
    let env = TestEnv::new();
    // Custom state of a release needs the release (the rules of `intent check`).
    env.seed_state(&[("demo/-/backend/api.ocu.star/@r1", json!({}))]);
    std::fs::create_dir_all(env.repo().join("backend")).expect("mkdir");
    let out = env
        .run_in(
            "backend",
            &["state", "set", "api.ocu.star/@r1/custom/approval", "ok"],
        )
        .success();
    insta::assert_snapshot!(out);
    insta::assert_snapshot!(intent_file(
        &env,
        "demo/-/backend/api.ocu.star/@r1/custom/approval"
    ));
}

#[test]
fn set_refuses_a_non_intent_ref() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["state", "set", "demo/-/api.ocu.star/@r1", "x"]));
    assert_eq!(env.tip(&env.hub(), "intent"), None);
}

#[test]
fn set_refuses_stdin() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run_with(
        "",
        &["state", "set", "@/custom/x", "-"],
        &[],
        Some("hello\n")
    ));
}

#[test]
fn set_format_starlark() {
    let env = TestEnv::new();
    let out = env.run(&[
        "state",
        "set",
        "-f",
        "starlark",
        "@/custom/x",
        "{\"n\": 1 + 1, \"l\": [\"a\"] * 2}",
    ]);
    assert_eq!(out.code(), 0, "{out}");
    let log = env
        .run(&["state", "log", "--intent", "-o", "json", "@/custom/x"])
        .success();
    assert!(log.stdout.contains("\"n\": 2"), "{}", log.stdout);
    let bad = env.run(&["state", "set", "-f", "starlark", "@/custom/x", "1 +"]);
    assert_eq!(bad.code(), 1, "{bad}");
    assert!(bad.stderr.contains("<expression>:1:"), "{bad}");
}

#[test]
fn set_invalid_json() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["state", "set", "-f", "json", "@/custom/x", "{nope"]));
    assert_eq!(env.tip(&env.hub(), "intent"), None);
}

#[test]
fn get_json_and_yaml() {
    let env = seeded();
    insta::assert_snapshot!(env.run(&["state", "get", "@/environment/staging"]));
    insta::assert_snapshot!(env.run(&[
        "state",
        "get",
        "-o",
        "yaml",
        "demo/-/backend/api.ocu.star/@r1/deploy/staging"
    ]));
    insta::assert_snapshot!(env.run(&["state", "get", "@/custom/approval"]));
}

#[test]
fn get_fragments() {
    let env = seeded();
    insta::assert_snapshot!(env.run(&[
        "state",
        "get",
        "demo/-/backend/api.ocu.star/@r1/deploy/staging#output/url"
    ]));
    insta::assert_snapshot!(env.run(&[
        "state",
        "get",
        "demo/-/backend/api.ocu.star/@r1/deploy/staging#output"
    ]));
    insta::assert_snapshot!(env.run(&[
        "state",
        "get",
        "demo/-/backend/api.ocu.star/@r1/deploy/staging#output/missing"
    ]));
}

#[test]
fn get_through_links() {
    let env = seeded();
    // A tag and the "current deployment" link both resolve to the release's documents.
    insta::assert_snapshot!(env.run(&["state", "get", "demo/-/backend/api.ocu.star/@v1#commit"]));
    insta::assert_snapshot!(env.run(&[
        "state",
        "get",
        "demo/-/backend/api.ocu.star/@/deploy/staging#output/port"
    ]));
}

#[test]
fn get_relative_refs() {
    let env = seeded();
    std::fs::create_dir_all(env.repo().join("backend/deep")).expect("mkdir");
    // Inside backend/, a plain path is relative to the current directory.
    insta::assert_snapshot!(env.run_in("backend", &["state", "get", "api.ocu.star/@r1#commit"]));
    // `//` and `./-/` are relative to the repository root, from anywhere.
    insta::assert_snapshot!(env.run_in(
        "backend/deep",
        &["state", "get", "//backend/api.ocu.star/@v1#commit"]
    ));
    insta::assert_snapshot!(env.run(&["state", "get", "./-/frontend/web.ocu.star/@r1"]));
    // At the root, the same plain path misses (it means `demo/-/api.ocu.star/@r1`).
    insta::assert_snapshot!(env.run(&["state", "get", "api.ocu.star/@r1"]));
}

#[test]
fn get_not_found() {
    let env = seeded();
    insta::assert_snapshot!(env.run(&["state", "get", "@/environment/nowhere"]));
}

#[test]
fn get_in_an_empty_store() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["state", "get", "@/environment/staging"]));
}

#[test]
fn match_globs() {
    let env = seeded();
    insta::assert_snapshot!(env.run(&["state", "match"]));
    insta::assert_snapshot!(env.run(&["state", "match", "@/{custom,environment}/*"]));
    insta::assert_snapshot!(env.run(&["state", "match", "**/@/deploy/*"]));
    insta::assert_snapshot!(env.run(&["state", "match", "demo/-/**/@*"]));
    insta::assert_snapshot!(env.run(&["state", "match", "nothing/**"]));
}

#[test]
fn match_no_links() {
    let env = seeded();
    insta::assert_snapshot!(env.run(&["state", "match", "--no-links", "demo/**"]));
    insta::assert_snapshot!(env.run(&["state", "match", "-l", "**/@*"]));
}

#[test]
fn match_bad_glob() {
    let env = seeded();
    let out = env.run(&["state", "match", "[oops"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("[oops"), "{out}");
}

#[test]
fn delete() {
    let env = TestEnv::new();
    env.run(&["state", "set", "@/custom/a", "1"]).success();
    env.run(&["state", "set", "@/custom/b", "2"]).success();
    insta::assert_snapshot!(env.run(&["state", "delete", "@/custom/a"]));
    insta::assert_snapshot!(git(&env.hub(), &["ls-tree", "-r", "--name-only", "intent"]));
    insta::assert_snapshot!(git(&env.hub(), &["log", "--format=%an <%ae> %s", "intent"]));
}

#[test]
fn delete_not_found() {
    let env = TestEnv::new();
    env.run(&["state", "set", "@/custom/b", "2"]).success();
    let before = env.tip(&env.hub(), "intent");
    insta::assert_snapshot!(env.run(&["state", "delete", "@/custom/a"]));
    assert_eq!(env.tip(&env.hub(), "intent"), before);
}

#[test]
fn diff_lists_one_ref_per_line() {
    let env = TestEnv::new();
    // State has applied three documents.
    env.seed_applied(&[
        ("@/environment/staging", json!({"name": "staging"})),
        (
            "@/environment/production",
            json!({"name": "production", "attributes": {"v": "old"}}),
        ),
        ("@/custom/retired", json!("gone from intent")),
    ]);
    for (r, v) in [
        ("@/environment/staging", r#"{"name": "staging"}"#),
        (
            "@/environment/production",
            r#"{"name": "production", "attributes": {"v": "new"}}"#,
        ),
        ("@/custom/credential/staging", r#""c""#),
    ] {
        env.run(&["state", "set", "-f", "json", r, v]).success();
    }
    insta::assert_snapshot!(env.run(&["state", "diff"]));
}

#[test]
fn diff_in_sync_is_empty() {
    let env = TestEnv::new();
    env.seed_applied(&[("@/environment/staging", json!({"name": "staging"}))]);
    env.run(&[
        "state",
        "set",
        "-f",
        "json",
        "@/environment/staging",
        r#"{"name":"staging"}"#,
    ])
    .success();
    insta::assert_snapshot!(env.run(&["state", "diff"]));
    // A fresh repository has nothing to do either.
    insta::assert_snapshot!(TestEnv::new().run(&["state", "diff"]));
}

#[test]
fn log_text_and_json() {
    let env = TestEnv::new();
    env.run(&["state", "set", "@/custom/x", "1"]).success();
    env.run(&["state", "set", "@/custom/other", "1"]).success();
    env.run_with(
        "",
        &["state", "set", "@/custom/x", "2"],
        &[
            ("OCUROOT_NOW", "2026-01-02T10:00:00Z"),
            ("OCUROOT_GIT_USER_NAME", "Alice"),
            ("OCUROOT_GIT_USER_EMAIL", "alice@example.com"),
        ],
        None,
    )
    .success();
    env.run(&["state", "delete", "@/custom/x"]).success();
    insta::assert_snapshot!(env.run(&["state", "log", "--intent", "@/custom/x"]));
    insta::assert_snapshot!(env.run(&["state", "log", "--intent", "-n", "1", "@/custom/x"]));
    insta::assert_snapshot!(env.run(&["state", "log", "--intent", "-o", "json", "@/custom/x"]));
}

#[test]
fn log_of_a_state_link() {
    let env = seeded();
    insta::assert_snapshot!(env.run(&[
        "state",
        "log",
        "demo/-/backend/api.ocu.star/@/deploy/staging"
    ]));
    insta::assert_snapshot!(env.run(&["state", "log", "@/custom/never"]));
}
