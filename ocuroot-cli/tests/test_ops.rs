//! Issue 15: rollback, bad marks, promotion, freezes and approvals with a name, as intent
//! commits carried out by the ordinary work commands, with real commits of a source
//! repository.

use crate::common::TestEnv;

const PKG: &str = "ops/-/api.ocu.star";

fn version(env: &TestEnv, environment: &str) -> String {
    let out = env
        .run(&[
            "state",
            "get",
            &format!("{PKG}/@/deploy/{environment}#output/version"),
        ])
        .success();
    serde_json::from_str::<String>(&out.stdout).expect("a JSON string")
}

fn release_of(env: &TestEnv, environment: &str) -> String {
    let out = env
        .run(&[
            "state",
            "get",
            &format!("{PKG}/@/deploy/{environment}#release"),
        ])
        .success();
    serde_json::from_str::<String>(&out.stdout).expect("a JSON string")
}

fn held(env: &TestEnv, run: &str) -> serde_json::Value {
    let out = env
        .run(&["state", "get", &format!("{PKG}/@{run}/status/pending#held")])
        .success();
    serde_json::from_str(&out.stdout).expect("json")
}

/// The `ops` fixture with r1 deployed to qa, us and eu.
fn released() -> TestEnv {
    let env = TestEnv::from_fixture("ops");
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    env.run(&["release", "new", "api.ocu.star"]).success();
    for e in ["qa", "us", "eu"] {
        assert_eq!(version(&env, e), "1", "{e}");
    }
    env
}

fn commit(env: &TestEnv, file: &str, text: &str, message: &str) {
    env.write_file(file, text);
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
}

#[test]
fn freeze_rollback_bad_mark_and_promotion_end_to_end() {
    let env = released();

    // Freeze eu; r2 at a new commit reaches qa and us while eu waits as frozen.
    env.run(&["freeze", "eu", "--reason", "audit week"])
        .success();
    commit(&env, "version.txt", "2\n", "version 2");
    let out = env.run(&["release", "new", "api.ocu.star"]).success();
    assert!(
        out.stderr.contains(
            "api.ocu.star@r2 deploy/eu#1 held: frozen: environment eu is frozen (audit week)"
        ),
        "{out}"
    );
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(version(&env, "qa"), "2");
    assert_eq!(version(&env, "us"), "2");
    assert_eq!(version(&env, "eu"), "1");
    assert_eq!(
        held(&env, "r2/deploy/eu/1"),
        serde_json::json!({"reason": "frozen", "environment": "eu", "detail": "audit week"})
    );
    let plan = env.run(&["plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "frozen: eu (audit week) until unfrozen\n    held: {PKG}/@r2/deploy/eu/1"
        )),
        "{plan}"
    );

    // qa and us run the same release: promoting qa to us changes nothing.
    let out = env
        .run(&["promote", "--from", "qa", "--to", "us"])
        .success();
    assert!(out.stdout.contains("Nothing to change"), "{out}");
    assert!(env.run(&["plan"]).success().stdout.contains("No changes"));

    // Roll us back: r1, with the inputs it ran with there.
    let out = env.run(&["rollback", "api", "us"]).success();
    assert!(
        out.stdout.contains(&format!(
            "run `up` of {PKG}/@r1 in us (run {PKG}/@r1/deploy/us/2)"
        )),
        "{out}"
    );
    env.run(&["work", "cascade"]).success();
    assert_eq!(version(&env, "us"), "1");
    assert_eq!(release_of(&env, "us"), format!("{PKG}/@r1"));
    // An unrelated commit, then the work commands: the rollback stays.
    commit(&env, "notes.txt", "unrelated\n", "unrelated change");
    env.run(&["work", "any"]).success();
    env.run(&["work", "cascade"]).success();
    assert_eq!(version(&env, "us"), "1");
    assert_eq!(version(&env, "eu"), "1");

    // r2 is bad; unfreezing eu leaves it on r1, its r2 run held as bad.
    env.run(&[
        "release",
        "mark-bad",
        "api.ocu.star/@r2",
        "--reason",
        "corrupts orders",
    ])
    .success();
    env.run(&["unfreeze", "eu"]).success();
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    env.run(&["work", "any"]).success();
    assert_eq!(version(&env, "eu"), "1");
    assert_eq!(
        held(&env, "r2/deploy/eu/1"),
        serde_json::json!({"reason": "bad", "release": format!("{PKG}/@r2"), "detail": "corrupts orders"})
    );
    let plan = env.run(&["plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "bad: {PKG}/@r2 (corrupts orders) still runs in qa\n    held: {PKG}/@r2/deploy/eu/1"
        )),
        "{plan}"
    );

    // A rollback to a bad release is refused, and writes nothing.
    let tip = env.tip(&env.hub(), "intent");
    let out = env.run(&["rollback", "api", "us", "--to", "r2"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "release {PKG}/@r2 is marked bad (corrupts orders)"
        )),
        "{out}"
    );
    assert_eq!(env.tip(&env.hub(), "intent"), tip);

    // Promoting us (r1) to qa takes qa off the bad r2.
    let out = env
        .run(&["promote", "--from", "us", "--to", "qa"])
        .success();
    assert!(out.stdout.contains("Wrote one intent commit"), "{out}");
    // The runs belong to r1, made at the first commit: `work cascade` runs them there.
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(version(&env, "qa"), "1");
    assert_eq!(release_of(&env, "qa"), format!("{PKG}/@r1"));
    let plan = env.run(&["plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "bad: {PKG}/@r2 (corrupts orders) is not deployed anywhere"
        )),
        "{plan}"
    );
}
