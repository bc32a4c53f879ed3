//! Releases in process (spec §6.2-6.3): a multi-phase release waiting for approvals and
//! continued once they are given, a release waiting for another package's outputs, failing
//! tasks, and retries. Each scenario asserts on the state tree.

use serde_json::json;

use crate::common::harness::{EngineError, Harness, ReleaseOutcome, ReleaseStatus};

/// `(release, status, waiting runs)` of a release outcome, as text.
fn released(outcome: &ReleaseOutcome) -> (String, ReleaseStatus, Vec<String>) {
    match outcome {
        ReleaseOutcome::Release {
            release,
            status,
            waiting,
        } => (
            release.to_string(),
            *status,
            waiting
                .iter()
                .map(|(run, missing)| format!("{run}: {}", missing.join(", ")))
                .collect(),
        ),
        other => panic!("not a release: {other:?}"),
    }
}

/// The `minimal` fixture at commit `commitid` with its environments registered.
fn minimal() -> Harness {
    let mut h = Harness::fixture("minimal");
    h.at_commit("commitid");
    let envs = h
        .release_new("environments/package.ocu.star")
        .expect("environments");
    assert!(matches!(envs, ReleaseOutcome::Environments(ref e) if e.len() == 3));
    h
}

const APPROVALS: &str = "minimal/repo/-/approvals.ocu.star";

#[test]
fn a_release_runs_its_phases_until_an_approval_and_continues_once_approved() {
    let h = minimal();
    let (release, status, waiting) =
        released(&h.release_new("approvals.ocu.star").expect("release"));
    assert_eq!(release, format!("{APPROVALS}/@r1"));
    assert_eq!(status, ReleaseStatus::Complete);
    assert_eq!(
        waiting,
        [format!(
            "{APPROVALS}/@r1/task/prod_approval/1: approval ({APPROVALS}/@r1/custom/approval)"
        )]
    );
    // Build, staging and the check ran; the approval and production wait.
    assert_eq!(
        h.text(&format!("{APPROVALS}/@/deploy/staging#output/env_name")),
        "staging"
    );
    assert!(!h.exists(&format!("{APPROVALS}/@/deploy/production")));
    assert!(h.exists(&format!(
        "{APPROVALS}/@r1/task/prod_approval/1/status/pending"
    )));
    insta::assert_snapshot!("approvals_r1_waiting", h.state_tree());

    // The approval given through the release's tag is applied by `work any`; the approval
    // task then pauses on its second approval.
    let before = h.state_files();
    h.set_intent(&format!("{APPROVALS}/@v1/custom/approval"), json!("1"));
    let dry = h.work_any_dryrun().expect("dryrun");
    assert_eq!(
        crate::common::harness::refs(&dry),
        [format!("{APPROVALS}/@v1/custom/approval")].into()
    );
    assert!(!h.work_any().expect("work any"));
    assert_eq!(h.text(&format!("{APPROVALS}/@r1/custom/approval")), "1");
    assert!(h.exists(&format!(
        "{APPROVALS}/@r1/task/prod_approval/1/status/paused"
    )));
    assert!(!h.exists(&format!("{APPROVALS}/@/deploy/production")));
    insta::assert_snapshot!("approvals_r1_first_approval", h.state_diff(&before));

    // The second approval, applied on its own, and `release continue`: production deploys.
    let before = h.state_files();
    h.set_intent(&format!("{APPROVALS}/@r1/custom/approval2"), json!("1"));
    assert!(
        !h.state_apply(&format!("{APPROVALS}/@r1/custom/approval2"), false)
            .expect("apply")
    );
    let (_, status, waiting) = released(
        &h.release_continue(&format!("{APPROVALS}/@r1"))
            .expect("continue"),
    );
    assert_eq!(status, ReleaseStatus::Complete);
    assert!(waiting.is_empty(), "{waiting:?}");
    for e in ["staging", "production", "production2"] {
        assert_eq!(
            h.text(&format!("{APPROVALS}/@/deploy/{e}#output/count")),
            "1",
            "{e}"
        );
    }
    insta::assert_snapshot!("approvals_r1_continued", h.state_diff(&before));
    assert!(h.work_continue_dryrun().expect("dryrun").is_empty());
    assert!(h.plan().is_empty());

    // A second release waits on its own approvals, given by its tag and continued.
    let (release, _, waiting) = released(&h.release_new_force("approvals.ocu.star").expect("r2"));
    assert_eq!(release, format!("{APPROVALS}/@r2"));
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    for (n, approval) in [(1, "approval"), (2, "approval2")] {
        let r = format!("{APPROVALS}/@v2/custom/{approval}");
        h.set_intent(&r, json!("1"));
        h.state_apply(&r, false).expect("apply");
        h.release_continue(&format!("{APPROVALS}/@v2"))
            .expect("continue");
        // r2's production deploy counts on from r1's (1) only once both approvals exist.
        let count = h.text(&format!("{APPROVALS}/@/deploy/production#output/count"));
        assert_eq!(count, n.to_string(), "after {approval}");
    }
    assert_eq!(
        h.release_status(&format!("{APPROVALS}/@r2")),
        ReleaseStatus::Complete
    );
}

#[test]
fn a_release_deploys_everywhere_with_its_outputs_tags_and_logs() {
    let h = minimal();
    let (release, status, waiting) = released(&h.release_new("basic.ocu.star").expect("release"));
    assert_eq!(release, "minimal/repo/-/basic.ocu.star/@r1");
    assert_eq!(status, ReleaseStatus::Complete);
    assert!(waiting.is_empty(), "{waiting:?}");
    assert_eq!(
        h.text("basic.ocu.star/@/deploy/production#output/env_name"),
        "production"
    );
    assert_eq!(h.text("basic.ocu.star/@/deploy/staging#output/count"), "1");
    assert_eq!(
        h.text("basic.ocu.star/@r1/task/build#output/output2"),
        "value2"
    );
    assert!(h.exists("basic.ocu.star/@/deploy/production2"));
    // The build's file functions ran relative to the package directory.
    assert!(h.repo().join(".build/output.txt").exists());
    // Tags from done(tags=...) link to the release.
    assert_eq!(h.text("basic.ocu.star/@v1"), h.text("basic.ocu.star/@r1"));
    // Logs are stored per run, each line with its source.
    let logs = h
        .get("basic.ocu.star/@r1/deploy/staging/1/logs")
        .expect("logs");
    assert_eq!(logs[0]["message"], "deploying to staging");
    assert_eq!(logs[0]["attributes"]["filename"], "tasks.ocu.star");
    insta::assert_snapshot!("basic_r1", h.state_tree());
}

#[test]
fn a_task_without_done_completes_and_a_task_needs_no_phase() {
    let h = minimal();
    for f in ["missing_done", "build_only"] {
        let (_, status, _) = released(&h.release_new(&format!("{f}.ocu.star")).expect(f));
        assert_eq!(status, ReleaseStatus::Complete, "{f}");
        assert!(
            h.exists(&format!("{f}.ocu.star/@r1/task/build/1/status/complete")),
            "{f}"
        );
    }
}

#[test]
fn a_forced_second_release_of_a_commit_counts_on_from_the_first() {
    let mut h = minimal();
    h.release_new("basic.ocu.star").expect("r1");
    assert!(matches!(
        h.release_new("basic.ocu.star"),
        Err(EngineError::AlreadyReleased { .. })
    ));
    let before = h.state_files();
    let (release, status, _) = released(&h.release_new_force("basic.ocu.star").expect("r2"));
    assert_eq!(release, "minimal/repo/-/basic.ocu.star/@r2");
    assert_eq!(status, ReleaseStatus::Complete);
    // The deploy reads its previous count through the deployment link: r2 counts 2.
    assert_eq!(h.text("basic.ocu.star/@/deploy/staging#output/count"), "2");
    assert_eq!(h.text("basic.ocu.star/@v2"), h.text("basic.ocu.star/@r2"));
    insta::assert_snapshot!("basic_r2_forced", h.state_diff(&before));
    // Another commit needs no force.
    h.at_commit("commit2");
    let (release, _, _) = released(&h.release_new("basic.ocu.star").expect("r3"));
    assert_eq!(release, "minimal/repo/-/basic.ocu.star/@r3");
    assert_eq!(h.text("basic.ocu.star/@/deploy/staging#output/count"), "3");
}

#[test]
fn a_release_waits_for_another_packages_outputs_and_continues_when_they_exist() {
    let mut h = Harness::fixture("dependencies");
    h.at_commit("commitid");
    h.release_new("environments/package.ocu.star")
        .expect("environments");
    let (_, status, waiting) = released(
        &h.release_new("./-/frontend/package.ocu.star")
            .expect("frontend"),
    );
    assert_eq!(status, ReleaseStatus::Complete);
    assert_eq!(
        waiting,
        [
            "dependencies/-/frontend/package.ocu.star/@r1/deploy/staging/1: backend_credential \
          (dependencies/-/backend/package.ocu.star/@/deploy/staging#output/credential)"
        ]
    );
    assert!(!h.exists("frontend/package.ocu.star/@/deploy/staging"));
    h.release_new("backend/package.ocu.star").expect("backend");
    let ready = h.work_continue_dryrun().expect("dryrun");
    assert_eq!(
        crate::common::harness::refs(&ready),
        ["dependencies/-/frontend/package.ocu.star/@r1/deploy/staging/1".to_string()].into()
    );
    let before = h.state_files();
    assert!(!h.work_continue().expect("work continue"));
    for e in ["staging", "production", "production2"] {
        assert_eq!(
            h.text(&format!(
                "./-/frontend/package.ocu.star/@/deploy/{e}#output/backend_credential"
            )),
            "abcd"
        );
    }
    insta::assert_snapshot!("frontend_continued", h.state_diff(&before));
    assert!(h.work_continue_dryrun().expect("dryrun").is_empty());
}

#[test]
fn an_upstream_change_redeploys_the_dependants_within_their_release() {
    let mut h = Harness::fixture("dependencies");
    h.at_commit("commitid");
    for f in [
        "environments/package.ocu.star",
        "backend/package.ocu.star",
        "./-/frontend/package.ocu.star",
    ] {
        h.release_new(f).expect(f);
    }
    let before = h.state_files();
    let cred = "./-/backend/package.ocu.star/@/custom/credential/staging";
    h.set_intent(cred, json!("efgh"));
    h.state_apply(cred, false).expect("apply");
    // The backend's staging input changed: it redeploys, in its same release.
    assert_eq!(
        crate::common::harness::refs(&h.work_continue_dryrun().expect("dryrun")),
        ["dependencies/-/backend/package.ocu.star/@r1/deploy/staging".to_string()].into()
    );
    assert!(!h.work_continue().expect("continue"));
    assert_eq!(
        h.text("./-/backend/package.ocu.star/@/deploy/staging#output/credential"),
        "efgh"
    );
    // Now the frontend reads a changed output: it redeploys, staging only.
    assert_eq!(
        crate::common::harness::refs(&h.work_continue_dryrun().expect("dryrun")),
        ["dependencies/-/frontend/package.ocu.star/@r1/deploy/staging".to_string()].into()
    );
    assert!(!h.work_continue().expect("continue"));
    assert_eq!(
        h.text("./-/frontend/package.ocu.star/@/deploy/staging#output/backend_credential"),
        "efgh"
    );
    assert!(h.exists("frontend/package.ocu.star/@r1/deploy/staging/2/status/complete"));
    assert!(
        !h.exists("frontend/package.ocu.star/@r2"),
        "a redeploy, no new release"
    );
    insta::assert_snapshot!("upstream_change_redeployed", h.state_diff(&before));
    assert!(h.work_continue_dryrun().expect("dryrun").is_empty());
}

#[test]
fn a_failing_deploy_fails_the_release_keeps_its_siblings_and_a_retry_fails_the_same_way() {
    let mut h = Harness::fixture("errors");
    h.at_commit("commitid");
    h.release_new("environments/package.ocu.star")
        .expect("environments");
    h.progress();
    let (release, status, _) = released(&h.release_new("package.ocu.star").expect("release"));
    assert_eq!(release, "errors/repo/-/package.ocu.star/@r1");
    assert_eq!(status, ReleaseStatus::Failed);
    assert_eq!(h.release_status(&release), ReleaseStatus::Failed);
    let progress = h.progress();
    assert!(
        progress.iter().any(|l| l.starts_with(
            "finished errors/repo/-/package.ocu.star/@r1/deploy/production2/1: failed:"
        ) && l.contains("something is wrong in production2")
            && l.contains("package.ocu.star:8:")),
        "{progress:#?}"
    );
    // production, in the same phase, deployed; production2 failed and is not deployed.
    assert!(h.exists("package.ocu.star/@/deploy/production"));
    assert!(!h.exists("package.ocu.star/@/deploy/production2"));
    insta::assert_snapshot!("errors_r1_failed", h.state_tree());

    let before = h.state_files();
    let (_, status, _) = released(&h.release_retry("package.ocu.star/@r1").expect("retry"));
    assert_eq!(status, ReleaseStatus::Failed);
    assert!(h.exists("package.ocu.star/@r1/deploy/production2/1/status/failed_retried"));
    assert!(h.exists("package.ocu.star/@r1/deploy/production2/2/status/failed"));
    insta::assert_snapshot!("errors_r1_retried", h.state_diff(&before));
}

#[test]
fn a_failed_deploy_stops_later_phases_and_a_retry_in_a_fixed_environment_completes() {
    let h = Harness::fixture("retries");
    // No alias: the repository is named after its origin.
    h.set_origin_url("https://github.com/example/retries.git");
    h.release_new("environments.ocu.star")
        .expect("environments");
    let (release, status, _) = released(&h.release_new("release.ocu.star").expect("release"));
    assert_eq!(release, "github.com/example/retries/-/release.ocu.star/@r1");
    assert_eq!(status, ReleaseStatus::Failed);
    // The next phase's task was created and never started.
    assert!(h.exists("release.ocu.star/@r1/task/postrelease/1/status/pending"));
    assert!(!h.exists("release.ocu.star/@/deploy/production"));
    insta::assert_snapshot!("retries_r1_failed", h.state_tree());

    // The first attempt left `.data/ready.txt` behind: the retry (by package, picking the
    // commit's latest release) succeeds, in a new run; the failed run is kept.
    let before = h.state_files();
    let (release, status, _) = released(&h.release_retry("release.ocu.star").expect("retry"));
    assert_eq!(release, "github.com/example/retries/-/release.ocu.star/@r1");
    assert_eq!(status, ReleaseStatus::Complete);
    assert!(h.exists("release.ocu.star/@r1/deploy/production/1/status/failed_retried"));
    assert!(h.exists("release.ocu.star/@r1/deploy/production/2/status/complete"));
    assert!(h.exists("release.ocu.star/@r1/task/postrelease/1/status/complete"));
    assert_eq!(
        h.text("release.ocu.star/@/deploy/production#output/attempt"),
        "second"
    );
    insta::assert_snapshot!("retries_r1_retried", h.state_diff(&before));

    let tip = h.state_tip();
    assert!(matches!(
        h.release_retry("release.ocu.star"),
        Err(EngineError::NoFailedRuns { .. })
    ));
    assert_eq!(h.state_tip(), tip, "nothing written");
}

#[test]
fn a_retry_reads_an_input_fixed_after_the_failure() {
    let h = Harness::fixture("retry_input");
    h.release_new("environments.ocu.star")
        .expect("environments");
    let (release, status, _) = released(&h.release_new("package.ocu.star").expect("release"));
    assert_eq!(status, ReleaseStatus::Failed);
    assert!(h.exists("package.ocu.star/@r1/deploy/production/1/status/failed"));
    assert!(h.exists("package.ocu.star/@r1/task/report/1/status/pending"));

    let before = h.state_files();
    h.set_intent("package.ocu.star/@/custom/switch", json!("on"));
    h.state_apply("package.ocu.star/@/custom/switch", false)
        .expect("apply");
    let (_, status, _) = released(&h.release_retry(&release).expect("retry"));
    assert_eq!(status, ReleaseStatus::Complete);
    assert_eq!(
        h.text("package.ocu.star/@/deploy/production#output/switch"),
        "on"
    );
    assert!(h.exists("package.ocu.star/@r1/deploy/production/1/status/failed_retried"));
    assert!(h.exists("package.ocu.star/@r1/task/report/1/status/complete"));
    insta::assert_snapshot!("retry_input_retried", h.state_diff(&before));
}

/// Issue 11: release ids order as numbers. With twelve releases of one commit, `release
/// retry` without a release picks `@r12` (not `@r9`, the greatest as a string).
#[test]
fn issue_11_retry_picks_the_numerically_latest_of_twelve_releases() {
    let h = Harness::fixture("always_fails");
    for n in 1..=12 {
        let (release, status, _) =
            released(&h.release_new_force("fail.ocu.star").expect("release"));
        assert_eq!(release, format!("demo/-/fail.ocu.star/@r{n}"));
        assert_eq!(status, ReleaseStatus::Failed);
    }
    let listed: Vec<String> = h
        .matching("demo/-/fail.ocu.star/@*")
        .into_iter()
        .filter(|r| r.contains("@r"))
        .collect();
    let want: Vec<String> = (1..=12)
        .map(|n| format!("demo/-/fail.ocu.star/@r{n}"))
        .collect();
    assert_eq!(listed, want, "ordered as numbers");
    let (release, status, _) = released(&h.release_retry("fail.ocu.star").expect("retry"));
    assert_eq!(release, "demo/-/fail.ocu.star/@r12");
    assert_eq!(status, ReleaseStatus::Failed);
    assert!(h.exists("fail.ocu.star/@r12/task/build/2/status/failed"));
    assert!(h.exists("fail.ocu.star/@r12/task/build/1/status/failed_retried"));
    for n in 1..=11 {
        assert!(
            !h.exists(&format!("fail.ocu.star/@r{n}/task/build/2")),
            "r{n} was not retried"
        );
    }
}

#[test]
fn work_is_bound_to_the_commit_its_release_was_made_at() {
    let mut h = Harness::fixture("dependencies");
    h.at_commit("commitid");
    h.release_new("environments/package.ocu.star")
        .expect("environments");
    h.at_commit("commit2");
    h.release_new("./-/frontend/package.ocu.star")
        .expect("frontend at commit2");
    h.at_commit("commit1");
    h.release_new("backend/package.ocu.star")
        .expect("backend at commit1");
    h.at_commit("commitid");
    // The frontend at commit2 can run now: the trigger asks commit2's CI job to continue.
    let bound = h.work_trigger_dryrun().expect("dryrun");
    assert!(bound.iter().all(|i| i.commit == "commit2"), "{bound:?}");
    assert_eq!(
        h.work_trigger().expect("trigger"),
        [(
            "dependencies".to_string(),
            "commit2".to_string(),
            "triggered".to_string()
        )]
    );
    let triggers = h.repo().join(".store/triggers");
    assert!(triggers.join("commit2").exists());
    // commitid has no frontend release: nothing runs there.
    assert!(!h.work_continue().expect("continue at commitid"));
    assert!(!h.exists("frontend/package.ocu.star/@/deploy/staging"));
    h.at_commit("commit2");
    let before = h.state_files();
    assert!(!h.work_continue().expect("continue at commit2"));
    assert_eq!(
        h.text("./-/frontend/package.ocu.star/@/deploy/staging#output/backend_credential"),
        "abcd"
    );
    insta::assert_snapshot!("bound_to_commit2", h.state_diff(&before));
    // The configuration each command ran with is recorded, per commit.
    assert!(h.exists("dependencies/-/repo.ocu.star/@commit2"));
    assert!(h.exists("dependencies/-/repo.ocu.star/@"));
}

#[test]
fn secrets_are_masked_in_progress_logs_and_store_history() {
    let h = Harness::fixture("secrets");
    let (_, status, _) = released(&h.release_new("release.ocu.star").expect("release"));
    assert_eq!(status, ReleaseStatus::Complete);
    let progress = h.progress().join("\n");
    assert!(progress.contains("the token is <secret>"), "{progress}");
    let history = h.state_history();
    assert!(history.contains("<secret>"), "the logs are stored masked");
    for secret in ["abc123", "def456"] {
        assert!(!progress.contains(secret), "progress leaks {secret}");
        assert!(!history.contains(secret), "store history leaks {secret}");
    }
}
