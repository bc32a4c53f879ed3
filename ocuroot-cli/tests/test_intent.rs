//! Intent as Git commits: plans, hand-made intent commits, and validation.

use crate::common::{TestEnv, git};

fn exists(env: &TestEnv, r: &str) -> bool {
    env.run(&["state", "get", r]).code() == 0
}

/// The minimal fixture with environments, a released `basic.ocu.star` and an
/// `approvals.ocu.star` release waiting for its approval.
fn deployed() -> TestEnv {
    let mut env = TestEnv::from_fixture("minimal");
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    for f in [
        "environments/package.ocu.star",
        "basic.ocu.star",
        "approvals.ocu.star",
    ] {
        let out = env.run(&["release", "new", f]);
        assert_eq!(out.code(), 0, "{out}");
    }
    env
}

/// Clones the intent repository, lets `edit` change the work tree, commits and pushes, as a
/// merged pull request would.
fn push_intent_commit(env: &TestEnv, message: &str, edit: impl FnOnce(&std::path::Path)) {
    let clone = env.root().join("intent-clone");
    let intent_repo = env.repo().join(".store/intent");
    git(
        env.root(),
        &[
            "clone",
            "-q",
            "-b",
            "intent",
            intent_repo.to_str().expect("utf8"),
            clone.to_str().expect("utf8"),
        ],
    );
    edit(&clone);
    git(&clone, &["add", "-A"]);
    git(
        &clone,
        &[
            "-c",
            "user.name=Reviewer",
            "-c",
            "user.email=reviewer@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
    git(&clone, &["push", "-q", "origin", "intent"]);
    std::fs::remove_dir_all(&clone).expect("remove clone");
}

const BASIC: &str = "refs/minimal/repo/-/basic.ocu.star";

#[test]
fn plan_add_environment() {
    let env = deployed();
    let doc = r#"{"attributes": {"type": "prod"}, "name": "production3"}"#;
    env.run(&[
        "state",
        "set",
        "-f",
        "json",
        "@/environment/production3",
        doc,
    ])
    .success();
    insta::assert_snapshot!(env.run(&["plan", "--color", "never"]).to_string());
}

#[test]
fn plan_remove_environment() {
    let env = deployed();
    env.run(&["state", "delete", "@/environment/production2"])
        .success();
    insta::assert_snapshot!(env.run(&["plan", "--color", "never"]).to_string());
}

#[test]
fn plan_remove_deployment() {
    let env = deployed();
    env.run(&[
        "state",
        "delete",
        "minimal/repo/-/basic.ocu.star/@/deploy/production",
    ])
    .success();
    insta::assert_snapshot!(env.run(&["plan", "--color", "never"]).to_string());
}

#[test]
fn plan_approve_on_a_branch() {
    let env = deployed();
    // The approval arrives on a pull-request branch; plan shows what merging it does.
    let clone = env.root().join("pr");
    let intent_repo = env.repo().join(".store/intent");
    git(
        env.root(),
        &[
            "clone",
            "-q",
            "-b",
            "intent",
            intent_repo.to_str().expect("utf8"),
            clone.to_str().expect("utf8"),
        ],
    );
    let dir = clone.join("refs/minimal/repo/-/approvals.ocu.star/@r1/custom/approval");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("#.yaml"), "'1'\n").expect("write");
    git(&clone, &["checkout", "-q", "-b", "approve-prod"]);
    git(&clone, &["add", "-A"]);
    git(
        &clone,
        &[
            "-c",
            "user.name=R",
            "-c",
            "user.email=r@example.com",
            "commit",
            "-q",
            "-m",
            "approve prod",
        ],
    );
    git(&clone, &["push", "-q", "origin", "approve-prod"]);
    insta::assert_snapshot!(
        env.run(&["plan", "--intent", "approve-prod", "--color", "never"])
            .to_string()
    );
    // The plan wrote nothing and the intent branch itself is unchanged.
    assert_eq!(
        env.run(&["plan", "--color", "never"]).success().stdout,
        "No changes: state matches intent.\n"
    );
}

#[test]
fn plan_json_output() {
    let env = deployed();
    env.run(&["state", "delete", "@/environment/production2"])
        .success();
    let out = env.run(&["plan", "-o", "json"]).success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v[0]["ref"], "@/environment/production2");
    assert_eq!(v[0]["work_type"], "delete");
}

#[test]
fn intent_committed_with_plain_git_is_carried_out_by_work_any() {
    let env = deployed();
    push_intent_commit(
        &env,
        "retire production2, drop basic from production, approve",
        |clone| {
            std::fs::remove_dir_all(clone.join("refs/@/environment/production2")).expect("rm env");
            std::fs::remove_dir_all(clone.join(format!("{BASIC}/@/deploy/production")))
                .expect("rm deploy");
            let approval = clone.join("refs/minimal/repo/-/approvals.ocu.star/@r1/custom/approval");
            std::fs::create_dir_all(&approval).expect("mkdir");
            std::fs::write(approval.join("#.yaml"), "'1'\n").expect("write");
        },
    );
    assert_eq!(env.run(&["intent", "check"]).code(), 0);
    let out = env.run(&["work", "any"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!exists(&env, "@/environment/production2"));
    assert!(!exists(&env, "basic.ocu.star/@/deploy/production2"));
    assert!(!exists(&env, "basic.ocu.star/@/deploy/production"));
    assert!(exists(&env, "basic.ocu.star/@/deploy/staging"));
    assert!(
        exists(
            &env,
            "approvals.ocu.star/@r1/task/prod_approval/1/status/paused"
        ),
        "{out}"
    );
    assert_eq!(env.run(&["state", "diff"]).success().stdout, "");
}

#[test]
fn malformed_intent_is_reported_and_nothing_runs() {
    let env = deployed();
    push_intent_commit(&env, "broken", |clone| {
        let dir = clone.join("refs/@/environment/broken");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("#.yaml"), "name: broken\nattributes: [unclosed\n").expect("write");
        let bad = clone.join("refs/@/environment/wrongname");
        std::fs::create_dir_all(&bad).expect("mkdir");
        std::fs::write(bad.join("#.yaml"), "name: other\nattributes: {}\n").expect("write");
    });
    let state_tip = git(&env.repo().join(".store/state"), &["rev-parse", "state"]);
    let check = env.run(&["intent", "check"]);
    assert_eq!(check.code(), 1, "{check}");
    assert!(
        check
            .stdout
            .contains("refs/@/environment/broken/#.yaml: @/environment/broken: invalid YAML"),
        "{check}"
    );
    assert!(
        check.stdout.contains("refs/@/environment/wrongname/#.yaml"),
        "{check}"
    );
    let work = env.run(&["work", "any"]);
    assert_eq!(work.code(), 1, "{work}");
    assert!(
        work.stderr.contains("refs/@/environment/broken/#.yaml"),
        "{work}"
    );
    assert_eq!(
        git(&env.repo().join(".store/state"), &["rev-parse", "state"]),
        state_tip,
        "state is unchanged"
    );
}
