//! Intent carried out in process (spec §6.6, issue 10): the plan of an intent change (its
//! effects, snapshotted as `ocuroot plan` lists them and as JSON), executed by the engine,
//! and the state tree after it: a new environment, a removed environment, a removed deploy
//! intent, custom state, a rollback, intent that does not validate, and a freeze holding runs.

use serde_json::json;

use crate::common::harness::{Effect, Harness, plan_json, plan_text};

/// The `environments` fixture with both packages deployed to its three environments.
fn environments() -> Harness {
    let mut h = Harness::fixture("environments");
    h.at_commit("commitid");
    for f in [
        "environments.ocu.star",
        "package1.ocu.star",
        "package2.ocu.star",
    ] {
        h.release_new(f).expect(f);
    }
    for p in ["package1", "package2"] {
        assert!(
            h.exists(&format!("{p}.ocu.star/@/deploy/production2")),
            "{p}"
        );
    }
    h
}

#[test]
fn a_new_environment_is_planned_applied_and_deployed_to_by_ops_and_continue() {
    let h = environments();
    h.set_intent(
        "@/environment/production3",
        json!({"attributes": {"type": "prod"}, "name": "production3"}),
    );
    assert!(
        !h.exists("@/environment/production3"),
        "not state until applied"
    );
    let plan = h.plan();
    assert_eq!(plan.items.len(), 1);
    assert!(matches!(
        plan.items[0].effects.as_slice(),
        [Effect::SetEnvironment { packages, .. }] if packages.len() == 2
    ));
    insta::assert_snapshot!("new_environment_plan", plan_text(&h, &plan));
    insta::assert_snapshot!("new_environment_plan_json", plan_json(&h, &plan));

    let before = h.state_files();
    h.apply_plan(&plan).expect("apply plan");
    assert!(h.exists("@/environment/production3"));
    assert!(h.exists("package1.ocu.star/@r1/op/check_envs"));
    assert!(
        h.plan().is_empty(),
        "the applied mirror was written with it"
    );
    insta::assert_snapshot!("new_environment_applied", h.state_diff(&before));

    // `work ops` adds the runs for the new environment; `work continue` runs them.
    let before = h.state_files();
    assert!(!h.work_ops().expect("ops"));
    assert!(!h.exists("package1.ocu.star/@r1/op/check_envs"));
    assert!(!h.exists("package1.ocu.star/@/deploy/production3"));
    assert!(!h.work_continue().expect("continue"));
    for p in ["package1", "package2"] {
        assert_eq!(
            h.text(&format!(
                "{p}.ocu.star/@/deploy/production3#output/deployed"
            )),
            "production3"
        );
        assert!(
            h.repo()
                .join(format!(".deploys/production3/{p}.txt"))
                .exists()
        );
    }
    insta::assert_snapshot!("new_environment_deployed", h.state_diff(&before));
    assert!(h.work_any_dryrun().expect("dryrun").is_empty());
}

#[test]
fn a_new_environment_is_deployed_to_by_work_any() {
    let h = environments();
    h.set_intent(
        "@/environment/production3",
        json!({"attributes": {"type": "prod"}, "name": "production3"}),
    );
    assert!(!h.work_any().expect("work any"));
    for p in ["package1", "package2"] {
        assert!(
            h.exists(&format!("{p}.ocu.star/@/deploy/production3")),
            "{p}"
        );
    }
    assert!(h.work_any_dryrun().expect("dryrun").is_empty());
}

#[test]
fn an_environment_applied_with_cascade_is_deployed_to_at_once_and_removed_the_same_way() {
    let h = environments();
    h.set_intent(
        "@/environment/production3",
        json!({"attributes": {"type": "prod"}, "name": "production3"}),
    );
    assert!(
        !h.state_apply("@/environment/production3", true)
            .expect("apply --cascade")
    );
    for p in ["package1", "package2"] {
        assert!(
            h.exists(&format!("{p}.ocu.star/@/deploy/production3")),
            "{p}"
        );
        assert!(!h.exists(&format!("{p}.ocu.star/@r1/op/check_envs")), "{p}");
    }
    h.delete_intent("@/environment/production2");
    assert!(
        !h.state_apply("@/environment/production2", true)
            .expect("apply --cascade")
    );
    assert!(!h.exists("@/environment/production2"));
    for p in ["package1", "package2"] {
        assert!(
            !h.exists(&format!("{p}.ocu.star/@/deploy/production2")),
            "{p}"
        );
        assert!(
            !h.repo()
                .join(format!(".deploys/production2/{p}.txt"))
                .exists()
        );
        assert!(
            h.repo()
                .join(format!(".deploys/production/{p}.txt"))
                .exists()
        );
    }
    assert!(
        h.work_any_dryrun().expect("dryrun").is_empty(),
        "nothing left"
    );
}

#[test]
fn a_removed_environment_takes_its_deployments_down_and_removes_their_intent() {
    let h = environments();
    h.delete_intent("@/environment/production2");
    let plan = h.plan();
    insta::assert_snapshot!("removed_environment_plan", plan_text(&h, &plan));
    let before = h.state_files();
    assert!(!h.work_any().expect("work any"));
    assert!(!h.exists("@/environment/production2"));
    for p in ["package1", "package2"] {
        assert!(
            !h.exists(&format!("{p}.ocu.star/@/deploy/production2")),
            "{p}"
        );
        assert!(
            h.intent(&format!("{p}.ocu.star/@/deploy/production2"))
                .is_none()
        );
        assert!(
            !h.repo()
                .join(format!(".deploys/production2/{p}.txt"))
                .exists()
        );
        assert!(
            h.repo()
                .join(format!(".deploys/production/{p}.txt"))
                .exists()
        );
    }
    insta::assert_snapshot!("removed_environment_down", h.state_diff(&before));
    // Idempotent: nothing is left to do, and doing it writes nothing.
    let tip = h.state_tip();
    assert!(h.plan().is_empty());
    assert!(!h.work_any().expect("work any again"));
    assert_eq!(h.state_tip(), tip);
}

#[test]
fn a_removed_deploy_intent_runs_the_deployments_down() {
    let mut h = Harness::fixture("minimal");
    h.at_commit("commitid");
    h.release_new("environments/package.ocu.star")
        .expect("environments");
    h.release_new("basic.ocu.star").expect("release");
    const PROD: &str = "minimal/repo/-/basic.ocu.star/@/deploy/production";
    h.delete_intent(PROD);
    let plan = h.plan();
    assert!(matches!(
        plan.items[0].effects.as_slice(),
        [Effect::Down { environment, .. }] if environment == "production"
    ));
    insta::assert_snapshot!("removed_deploy_intent_plan", plan_text(&h, &plan));

    // `state apply` schedules the down; `work continue` runs it.
    let before = h.state_files();
    assert!(!h.state_apply(PROD, false).expect("apply"));
    assert!(h.exists(PROD), "scheduled, not run");
    h.progress();
    assert!(!h.work_continue().expect("continue"));
    let progress = h.progress();
    assert!(
        progress
            .iter()
            .any(|l| l.ends_with("removing from production")),
        "{progress:#?}"
    );
    assert!(!h.exists(PROD));
    assert!(h.exists("basic.ocu.star/@/deploy/staging"));
    assert!(h.exists("basic.ocu.star/@/deploy/production2"));
    insta::assert_snapshot!("removed_deploy_intent_down", h.state_diff(&before));
    assert!(h.plan().is_empty());
}

#[test]
fn custom_state_is_set_and_removed_through_the_plan() {
    let h = Harness::fixture("customstate");
    h.set_intent("@/custom/test", json!("1"));
    assert!(!h.exists("@/custom/test"));
    let plan = h.plan();
    assert!(matches!(
        plan.items[0].effects.as_slice(),
        [Effect::SetCustom { value }] if *value == json!("1")
    ));
    insta::assert_snapshot!("custom_set_plan", plan_json(&h, &plan));
    h.apply_plan(&plan).expect("apply");
    assert_eq!(h.text("@/custom/test"), "1");
    insta::assert_snapshot!("custom_set_state", h.state_tree());

    h.delete_intent("@/custom/test");
    let plan = h.plan();
    assert!(matches!(
        plan.items[0].effects.as_slice(),
        [Effect::RemoveCustom]
    ));
    let applied = h.apply_intent_changes().expect("apply");
    assert_eq!(applied, plan);
    assert!(!h.exists("@/custom/test"));
    assert_eq!(h.state_tree(), "", "record and mirror removed");
    assert!(h.plan().is_empty());
}

/// The `minimal` fixture with `basic` deployed and `approvals` waiting for its approval.
fn deployed() -> Harness {
    let mut h = Harness::fixture("minimal");
    h.at_commit("commitid");
    for f in [
        "environments/package.ocu.star",
        "basic.ocu.star",
        "approvals.ocu.star",
    ] {
        h.release_new(f).expect(f);
    }
    h
}

const BASIC: &str = "refs/minimal/repo/-/basic.ocu.star";
const APPROVAL: &str = "refs/minimal/repo/-/approvals.ocu.star/@r1/custom/approval/#.yaml";

#[test]
fn an_intent_commit_made_with_plain_git_is_carried_out_by_work_any() {
    let h = deployed();
    h.hand_commit_intent(&[
        ("refs/@/environment/production2/#.yaml", None),
        (&format!("{BASIC}/@/deploy/production/#.yaml"), None),
        (APPROVAL, Some("'1'\n")),
    ]);
    let plan = h.plan();
    insta::assert_snapshot!("plain_git_plan", plan_text(&h, &plan));
    let before = h.state_files();
    assert!(!h.work_any().expect("work any"));
    assert!(!h.exists("@/environment/production2"));
    assert!(!h.exists("basic.ocu.star/@/deploy/production2"));
    assert!(!h.exists("basic.ocu.star/@/deploy/production"));
    assert!(h.exists("basic.ocu.star/@/deploy/staging"));
    assert!(h.exists("approvals.ocu.star/@r1/task/prod_approval/1/status/paused"));
    insta::assert_snapshot!("plain_git_state", h.state_diff(&before));
    assert!(h.plan().is_empty());
}

#[test]
fn a_plan_of_a_pull_request_branch_shows_what_merging_it_does_and_writes_nothing() {
    let h = deployed();
    let tip = h.state_tip();
    h.hand_commit_intent_on("approve-prod", &[(APPROVAL, Some("'1'\n"))]);
    let plan = h.plan_at("approve-prod");
    insta::assert_snapshot!("branch_plan", plan_text(&h, &plan));
    assert!(h.plan().is_empty(), "the intent branch itself is unchanged");
    assert_eq!(h.state_tip(), tip);
}

const APP: &str = "rollback/-/app.ocu.star";

/// The `rollback` fixture with `r1` (build 1) and then `r2` (build 2) deployed to staging
/// and production.
fn two_releases() -> Harness {
    let mut h = Harness::fixture("rollback");
    h.release_new("environments.ocu.star")
        .expect("environments");
    h.set_env("BUILD_ID", "1");
    h.release_new("app.ocu.star").expect("r1");
    h.set_env("BUILD_ID", "2");
    h.release_new_force("app.ocu.star").expect("r2");
    h.remove_env("BUILD_ID");
    for e in ["staging", "production"] {
        assert_eq!(deployed_build(&h, e), ("r2".to_string(), "2".to_string()));
    }
    h
}

/// The release and build deployed in `environment`.
fn deployed_build(h: &Harness, environment: &str) -> (String, String) {
    let summary = h
        .get(&format!("{APP}/@/deploy/{environment}"))
        .expect("deployed");
    let release = summary["release"]
        .as_str()
        .and_then(|r| r.rsplit('@').next())
        .expect("release");
    let build = summary["output"]["build"].as_str().expect("build");
    (release.to_string(), build.to_string())
}

fn assert_rolled_back(h: &Harness) {
    assert_eq!(deployed_build(h, "staging"), ("r1".into(), "1".into()));
    assert_eq!(deployed_build(h, "production"), ("r2".into(), "2".into()));
    assert!(h.plan().is_empty(), "plan is empty after the rollback");
    // A new run of r1, beside the one that deployed r1 first.
    assert!(h.exists(&format!("{APP}/@r1/deploy/staging/2/status/complete")));
}

#[test]
fn a_deploy_intent_naming_an_older_release_rolls_back_to_it() {
    let h = two_releases();
    let r1 = h
        .get(&format!("{APP}/@r1/deploy/staging"))
        .expect("r1 staging");
    h.set_intent(
        &format!("{APP}/@/deploy/staging"),
        json!({"release": format!("{APP}/@r1"), "input": r1["input"]}),
    );
    let plan = h.plan();
    insta::assert_snapshot!("rollback_plan", plan_text(&h, &plan));
    let before = h.state_files();
    assert!(!h.work_any().expect("work any"));
    assert_rolled_back(&h);
    insta::assert_snapshot!("rollback_state", h.state_diff(&before));
}

#[test]
fn a_hand_made_intent_commit_editing_only_the_release_line_rolls_back_with_its_own_inputs() {
    let h = two_releases();
    let path = format!("refs/{APP}/@/deploy/staging/#.yaml");
    let text = h.intent_file(&path);
    let edited: String = text
        .lines()
        .map(|l| {
            if l.starts_with("release:") {
                l.replace("@r2", "@r1")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert_ne!(edited, text, "the release line changed");
    h.hand_commit_intent(&[(path.as_str(), Some(edited.as_str()))]);
    let plan = h.plan();
    // The inputs read r2's build; the plan reads them from r1 instead.
    insta::assert_snapshot!("rollback_by_hand_plan", plan_json(&h, &plan));
    assert!(matches!(
        plan.items[0].effects.as_slice(),
        [Effect::Up { release, inputs, .. }]
            if release.to_string() == format!("{APP}/@r1")
                && inputs["build"].reference.as_deref()
                    == Some(format!("{APP}/@r1/task/build#output/build").as_str())
    ));
    assert!(!h.work_any().expect("work any"));
    assert_rolled_back(&h);
}

#[test]
fn intent_that_does_not_validate_is_refused_and_nothing_is_written() {
    let mut h = Harness::fixture("minimal");
    h.at_commit("commitid");
    h.release_new("environments/package.ocu.star")
        .expect("environments");
    h.release_new("basic.ocu.star").expect("release");
    let tip = h.state_tip();
    h.hand_commit_intent(&[
        (
            "refs/@/environment/broken/#.yaml",
            Some("name: broken\nattributes: [unclosed\n"),
        ),
        (
            "refs/minimal/repo/-/basic.ocu.star/@/deploy/staging/#.yaml",
            Some("release: minimal/repo/-/basic.ocu.star/@r9\ninput: {}\n"),
        ),
    ]);
    let refused = h.try_plan().expect_err("invalid intent");
    insta::assert_snapshot!("invalid_intent_plan", h.filter_text(&refused));
    let work = h.work_any().expect_err("work any refuses");
    assert!(
        work.to_string()
            .contains("refs/@/environment/broken/#.yaml"),
        "{work}"
    );
    assert!(h.apply_intent_changes().is_err());
    assert!(h.state_apply("@/environment/broken", false).is_err());
    assert_eq!(h.state_tip(), tip, "nothing was written");
}

#[test]
fn a_freeze_holds_runs_with_the_reason_in_their_marker_until_it_is_removed() {
    let mut h = Harness::fixture("environments");
    h.at_commit("commitid");
    h.release_new("environments.ocu.star")
        .expect("environments");
    h.set_intent(
        "@/environment/production2/freeze",
        json!({"reason": "audit"}),
    );
    // The plan shows the freeze; applying it copies it to state.
    let plan = h.plan();
    assert!(matches!(
        plan.items[0].effects.as_slice(),
        [Effect::Freeze { environment, .. }] if environment == "production2"
    ));
    h.apply_plan(&plan).expect("apply");
    assert_eq!(
        h.get("@/environment/production2/freeze"),
        Some(json!({"reason": "audit"}))
    );
    // A release deploys everywhere but production2, whose run waits, held.
    h.release_new("package1.ocu.star").expect("package1");
    assert!(h.exists("package1.ocu.star/@/deploy/production"));
    assert!(!h.exists("package1.ocu.star/@/deploy/production2"));
    assert_eq!(
        h.get("package1.ocu.star/@r1/deploy/production2/1/status/pending#held"),
        Some(json!({"reason": "frozen", "environment": "production2", "detail": "audit"}))
    );
    assert!(
        h.progress()
            .iter()
            .any(|l| l.starts_with("held ") && l.contains("deploy/production2/1")),
        "{:?}",
        h.progress()
    );
    // Held and recorded: not work any more, so nothing loops.
    assert!(h.work_any_dryrun().expect("dryrun").is_empty());
    // Unfrozen: the next work command starts it.
    h.delete_intent("@/environment/production2/freeze");
    h.work_any().expect("work any");
    assert!(h.exists("package1.ocu.star/@/deploy/production2"));
    assert!(!h.exists("@/environment/production2/freeze"));
}
