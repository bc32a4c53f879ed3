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
    assert_eq!(v["items"][0]["ref"], "@/environment/production2");
    assert_eq!(v["items"][0]["work_type"], "delete");
    assert_eq!(v["promotions"], serde_json::json!([]));
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

const APP: &str = "rollback/-/app.ocu.star";

/// The `rollback` fixture with `r1` (build 1) and then `r2` (build 2) deployed to staging
/// and production.
fn two_releases() -> TestEnv {
    let env = TestEnv::from_fixture("rollback");
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    env.run_with(
        "",
        &["release", "new", "app.ocu.star"],
        &[("BUILD_ID", "1")],
        None,
    )
    .success();
    env.run_with(
        "",
        &["release", "new", "app.ocu.star", "--force"],
        &[("BUILD_ID", "2")],
        None,
    )
    .success();
    for e in ["staging", "production"] {
        assert_eq!(deployed_build(&env, e), ("r2".to_string(), "2".to_string()));
    }
    env
}

/// The release and build deployed in `environment`.
fn deployed_build(env: &TestEnv, environment: &str) -> (String, String) {
    let summary: serde_json::Value = serde_json::from_str(
        &env.run(&["state", "get", &format!("{APP}/@/deploy/{environment}")])
            .success()
            .stdout,
    )
    .expect("json");
    let release = summary["release"]
        .as_str()
        .and_then(|r| r.rsplit('@').next())
        .expect("release")
        .to_string();
    let build = summary["output"]["build"]
        .as_str()
        .expect("build")
        .to_string();
    (release, build)
}

fn assert_rolled_back(env: &TestEnv) {
    assert_eq!(
        deployed_build(env, "staging"),
        ("r1".to_string(), "1".to_string())
    );
    assert_eq!(
        deployed_build(env, "production"),
        ("r2".to_string(), "2".to_string())
    );
    assert_eq!(env.run(&["state", "diff"]).success().stdout, "");
    assert!(
        env.run(&["plan"]).success().stdout.contains("No changes"),
        "plan is empty after the rollback"
    );
    // A new run of r1, beside the one that deployed r1 first.
    assert!(exists(
        env,
        &format!("{APP}/@r1/deploy/staging/2/status/complete")
    ));
}

// See: issue 10 ("A rollback through intent is silently dropped"): `plan` said it would run
// `up` of @r1, and `work any` ran nothing because it compared with r1's old summary.
#[test]
fn issue_10_rollback_by_intent_runs_the_older_release() {
    let env = two_releases();
    let r1_staging = env
        .run(&["state", "get", &format!("{APP}/@r1/deploy/staging")])
        .success();
    let summary: serde_json::Value = serde_json::from_str(&r1_staging.stdout).expect("json");
    let intent = serde_json::json!({
        "release": format!("{APP}/@r1"),
        "input": summary["input"],
    });
    env.run(&[
        "state",
        "set",
        "-f",
        "json",
        &format!("{APP}/@/deploy/staging"),
        &intent.to_string(),
    ])
    .success();
    let plan = env.run(&["plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "run `up` of {APP}/@r1 in staging (run {APP}/@r1/deploy/staging/2)"
        )),
        "{}",
        plan.stdout
    );
    let out = env.run(&["work", "any"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_rolled_back(&env);
}

// See: issue 10: the same rollback as a pull request that edits only the `release` line of
// the deploy intent; its inputs, which read r2's build, are read from r1 (docs/guide.md).
/// Commits one intent document by hand (as a merged pull request would) at `path`.
fn hand_intent(env: &TestEnv, path: &str, text: &str) {
    crate::common::hand_commit(
        &env.repo().join(".store/intent"),
        "intent",
        &[(path, Some(text))],
    );
}

// See: issue 10 ("Broken intent passes review"): `plan` listed an unparseable document as a
// `create` and exited 0, so a required check on the pull request went green.
#[test]
fn issue_10_plan_and_diff_refuse_an_unparseable_intent_document() {
    let env = deployed();
    let state_tip = git(&env.repo().join(".store/state"), &["rev-parse", "state"]);
    hand_intent(
        &env,
        "refs/@/environment/broken/#.yaml",
        "name: broken\nattributes: [unclosed\n",
    );
    let plan = env.run(&["plan", "--color", "never"]);
    assert_eq!(plan.code(), 1, "{plan}");
    insta::assert_snapshot!("unparseable_plan", plan.to_string());
    let diff = env.run(&["state", "diff"]);
    assert_eq!(diff.code(), 1, "{diff}");
    insta::assert_snapshot!("unparseable_diff", diff.to_string());
    for args in [
        &["state", "apply", "@/environment/broken"][..],
        &["work", "any"][..],
        &["push"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 1, "{args:?}: {out}");
        assert!(
            out.stderr.contains("refs/@/environment/broken/#.yaml:"),
            "{out}"
        );
    }
    assert_eq!(
        git(&env.repo().join(".store/state"), &["rev-parse", "state"]),
        state_tip,
        "nothing was written"
    );
}

// See: issue 10: a document that parses but does not fit its schema is refused the same way.
#[test]
fn issue_10_plan_and_diff_refuse_an_intent_document_that_breaks_its_schema() {
    let env = deployed();
    hand_intent(
        &env,
        "refs/minimal/repo/-/basic.ocu.star/@/deploy/staging/#.yaml",
        "release: minimal/repo/-/basic.ocu.star/@r9\ninput: {}\n",
    );
    hand_intent(
        &env,
        "refs/@/environment/named/#.yaml",
        "name: 5\nattributes: {}\n",
    );
    let plan = env.run(&["plan", "--color", "never"]);
    assert_eq!(plan.code(), 1, "{plan}");
    insta::assert_snapshot!("schema_plan", plan.to_string());
    let diff = env.run(&["state", "diff"]);
    assert_eq!(diff.code(), 1, "{diff}");
    insta::assert_snapshot!("schema_diff", diff.to_string());
}
