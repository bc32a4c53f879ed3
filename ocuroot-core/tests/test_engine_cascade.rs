//! Cascades in process (spec §6.8, §7.2, issue 10): a change carried to every dependant at
//! its own commit (a worktree) and in other repositories (a clone), a diamond redeployed
//! once per dependant, and an environment torn down in reverse dependency order. The
//! repositories share one store in a bare remote and have real commits.

use std::path::{Path, PathBuf};

use crate::common::harness::{Estate, Harness, WorkItem, fixture_text, plan_text, refs};

const A: &str = "cascade/-/a.ocu.star/@/deploy/production#output/message";
const B: &str = "cascade/-/b.ocu.star/@/deploy/production#output/message";
const B2: &str = "repo2/-/b.ocu.star/@/deploy/production#output/message";
const ONE: &str = "Message at commit 1";
const TWO: &str = "Message at commit 2";

/// `testdata/<fixture>` as the repository `<estate>/<name>` with its own `origin`, its
/// store in `remote`.
fn repo(estate: &Estate, fixture: &str, name: &str, remote: &Path) -> Harness {
    let mut h = Harness::fixture_in(estate, fixture, name);
    h.set_env("REPO_REMOTE", remote.to_str().expect("utf-8"));
    h.with_origin();
    h
}

/// The second commit of `cascade/repo1`: `a.txt` changed.
fn commit2(h: &mut Harness) {
    h.commit_files(
        "commit 2",
        &[("a.txt", &fixture_text("cascade/commit2/a.txt"))],
    );
}

/// `a` and `b` of `cascade/repo1` released and deployed at commit 1.
fn released(estate: &Estate) -> Harness {
    let remote = estate.bare("store");
    let h = repo(estate, "cascade/repo1", "repo1", &remote);
    for f in ["environments.ocu.star", "a.ocu.star", "b.ocu.star"] {
        h.release_new(f).expect(f);
    }
    assert_eq!(h.text(A), ONE);
    assert_eq!(h.text(B), ONE);
    h
}

#[test]
fn work_cascade_redeploys_a_dependant_at_its_own_commit_in_a_worktree() {
    let estate = Estate::new();
    let mut h = released(&estate);
    commit2(&mut h);
    h.release_new("a.ocu.star").expect("a at commit 2");
    assert_eq!(h.text(A), TWO);
    assert_eq!(h.text(B), ONE);

    let dry = h.work_cascade_dryrun().expect("dryrun");
    assert_eq!(
        serde_json::to_value(&dry).expect("json"),
        serde_json::json!([{
            "ref": "cascade/-/b.ocu.star/@r1/deploy/production",
            "work_type": "run",
            "commit": h.commit_id(1),
        }])
    );
    let before = h.state_files();
    let report = h.work_cascade().expect("cascade");
    assert!(!report.failed);
    assert_eq!(report.rounds, 1);
    assert_eq!(h.text(B), TWO);
    // b was redeployed within its release r1 (made at commit 1), not re-released.
    assert!(!h.exists("cascade/-/b.ocu.star/@r2"));
    assert!(h.exists("cascade/-/b.ocu.star/@r1/deploy/production/2/status/complete"));
    insta::assert_snapshot!("worktree_redeploy", h.state_diff(&before));
    // The whole tree: releases and configurations recorded per commit.
    insta::assert_snapshot!("worktree_tree", h.state_tree());
    assert_eq!(h.leftover_checkouts(), Vec::<String>::new());
    assert!(h.work_cascade_dryrun().expect("dryrun").is_empty());
}

#[test]
fn release_cascade_follows_only_its_own_changes() {
    let estate = Estate::new();
    let mut h = released(&estate);
    commit2(&mut h);
    h.set_intent("@/custom/test", serde_json::json!("foo"));
    let (_, report) = h
        .release_new_cascade("a.ocu.star")
        .expect("release --cascade");
    assert!(!report.failed);
    assert_eq!(
        refs(&report.executed),
        ["cascade/-/b.ocu.star/@r1/deploy/production".to_string()].into()
    );
    assert_eq!(h.text(A), TWO);
    assert_eq!(h.text(B), TWO);
    // Intent set by an earlier command is not this release's consequence.
    assert!(!h.exists("@/custom/test"));
    let report = h.work_cascade().expect("work cascade");
    assert_eq!(refs(&report.executed), ["@/custom/test".to_string()].into());
    assert_eq!(h.text("@/custom/test"), "foo");
    assert_eq!(h.leftover_checkouts(), Vec::<String>::new());
}

/// repo1 deploys `a`; repo2 (another repository sharing the store) deploys its `b` from it.
fn two_repos(estate: &Estate) -> (Harness, Harness) {
    let remote = estate.bare("store");
    let h1 = repo(estate, "cascade/repo1", "repo1", &remote);
    h1.release_new("environments.ocu.star")
        .expect("environments");
    h1.release_new("a.ocu.star").expect("a");
    let h2 = repo(estate, "cascade/repo2", "repo2", &remote);
    h2.release_new("b.ocu.star").expect("b");
    assert_eq!(h2.text(B2), ONE);
    (h1, h2)
}

#[test]
fn work_cascade_redeploys_a_dependant_in_another_repository_from_a_clone() {
    let estate = Estate::new();
    let (mut h1, h2) = two_repos(&estate);
    commit2(&mut h1);
    h1.release_new("a.ocu.star").expect("a at commit 2");
    assert_eq!(h1.text(B2), ONE);
    let before = h1.state_files();
    h1.progress();
    let report = h1.work_cascade().expect("cascade");
    assert!(!report.failed);
    assert_eq!(h1.text(B2), TWO);
    let progress = h1.progress();
    assert!(
        progress.iter().any(|l| l.contains("of repo2 at")),
        "{progress:#?}"
    );
    assert!(h1.exists("repo2/-/b.ocu.star/@r1/deploy/production/2/status/complete"));
    insta::assert_snapshot!("clone_redeploy", h1.state_diff(&before));
    assert_eq!(h1.leftover_checkouts(), Vec::<String>::new());
    // repo2's own view agrees.
    assert_eq!(h2.text(B2), TWO);
}

#[test]
fn release_cascade_reaches_another_repository() {
    let estate = Estate::new();
    let (mut h1, _h2) = two_repos(&estate);
    commit2(&mut h1);
    h1.set_intent("@/custom/test", serde_json::json!("foo"));
    let (_, report) = h1
        .release_new_cascade("a.ocu.star")
        .expect("release --cascade");
    assert!(!report.failed);
    assert_eq!(h1.text(B2), TWO);
    assert!(
        !h1.exists("@/custom/test"),
        "not this release's consequence"
    );
    h1.work_cascade().expect("work cascade");
    assert_eq!(h1.text("@/custom/test"), "foo");
    assert_eq!(h1.leftover_checkouts(), Vec::<String>::new());
}

#[test]
fn a_cascade_to_a_repository_whose_remote_is_gone_names_it_and_changes_nothing_there() {
    let estate = Estate::new();
    let (mut h1, h2) = two_repos(&estate);
    let origin2 = estate.root().join("repo2-origin.git");
    std::fs::remove_dir_all(&origin2).expect("remove repo2's origin");
    drop(h2);
    commit2(&mut h1);
    let err = h1
        .release_new_cascade("a.ocu.star")
        .expect_err("cascade fails");
    let text = err.to_string();
    assert!(text.contains("cannot check out repo2 at commit"), "{text}");
    assert!(text.contains("all remotes exhausted"), "{text}");
    assert!(text.contains(origin2.to_str().expect("utf-8")), "{text}");
    assert_eq!(h1.text(B2), ONE);
    assert_eq!(h1.leftover_checkouts(), Vec::<String>::new());
}

/// The runs of a deployment: `[1]` before any redeploy.
fn runs(h: &Harness, deployment: &str) -> Vec<u32> {
    let mut runs: Vec<u32> = h
        .matching(&format!("{deployment}/*/status/*"))
        .iter()
        .filter_map(|l| l.strip_prefix(&format!("{deployment}/")))
        .filter_map(|l| l.split('/').next()?.parse().ok())
        .collect();
    runs.sort_unstable();
    runs.dedup();
    runs
}

#[test]
fn a_diamond_across_two_repositories_redeploys_each_dependant_once_in_order() {
    let estate = Estate::new();
    let remote = estate.bare("store");
    let mut h1 = repo(&estate, "diamond/repo1", "repo1", &remote);
    let h2 = repo(&estate, "diamond/repo2", "repo2", &remote);
    for f in ["environments.ocu.star", "top.ocu.star", "left.ocu.star"] {
        h1.release_new(f).expect(f);
    }
    for f in ["right.ocu.star", "bottom.ocu.star"] {
        h2.release_new(f).expect(f);
    }
    const BOTTOM: &str = "diamond-repo2/-/bottom.ocu.star/@/deploy/production#output/message";
    assert_eq!(h1.text(BOTTOM), "left(top v1) + right(top v1)");

    h1.commit_files("top v2", &[("top.txt", "top v2")]);
    let (_, report) = h1.release_new_cascade("top.ocu.star").expect("cascade");
    assert!(!report.failed);
    assert_eq!(h1.text(BOTTOM), "left(top v2) + right(top v2)");
    // bottom waits for the second round, after both of its inputs changed.
    assert_eq!(report.rounds, 2);
    let executed: Vec<Vec<String>> = [&report.executed[..2], &report.executed[2..]]
        .iter()
        .map(|items: &&[WorkItem]| items.iter().map(|i| i.r.to_string()).collect())
        .collect();
    assert_eq!(
        executed,
        [
            vec![
                "diamond-repo1/-/left.ocu.star/@r1/deploy/production".to_string(),
                "diamond-repo2/-/right.ocu.star/@r1/deploy/production".to_string(),
            ],
            vec!["diamond-repo2/-/bottom.ocu.star/@r1/deploy/production".to_string()],
        ]
    );
    for d in [
        "diamond-repo1/-/left.ocu.star/@r1/deploy/production",
        "diamond-repo2/-/right.ocu.star/@r1/deploy/production",
        "diamond-repo2/-/bottom.ocu.star/@r1/deploy/production",
    ] {
        assert_eq!(runs(&h1, d), vec![1, 2], "{d}");
    }
    assert_eq!(
        runs(&h1, "diamond-repo1/-/top.ocu.star/@r2/deploy/production"),
        vec![1]
    );
    assert!(h1.work_cascade_dryrun().expect("dryrun").is_empty());
    assert_eq!(h1.leftover_checkouts(), Vec::<String>::new());
}

fn ledger(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn downs(path: &Path) -> Vec<String> {
    ledger(path)
        .into_iter()
        .filter(|l| l.starts_with("down"))
        .collect()
}

/// The `teardown` fixture's two repositories sharing a store, every package deployed to
/// both environments; returns repo1 (repo2 is no longer needed) and the ledger file.
fn teardown_deployed(estate: &Estate) -> (Harness, PathBuf) {
    let remote = estate.bare("store");
    let book = estate.root().join("ledger.txt");
    let mut h1 = repo(estate, "teardown/repo1", "repo1", &remote);
    let mut h2 = repo(estate, "teardown/repo2", "repo2", &remote);
    for h in [&mut h1, &mut h2] {
        h.set_env("LEDGER", book.to_str().expect("utf-8"));
    }
    for f in ["environments.ocu.star", "network.ocu.star", "db.ocu.star"] {
        h1.release_new(f).expect(f);
    }
    h2.release_new("app.ocu.star").expect("app");
    assert_eq!(ledger(&book).len(), 6, "{:?}", ledger(&book));
    (h1, book)
}

const TEARDOWN: [&str; 3] = [
    "teardown-repo1/-/network.ocu.star",
    "teardown-repo1/-/db.ocu.star",
    "teardown-repo2/-/app.ocu.star",
];

#[test]
fn removing_an_environment_runs_downs_in_reverse_dependency_order() {
    let estate = Estate::new();
    let (h1, book) = teardown_deployed(&estate);
    h1.delete_intent("@/environment/production");
    // The plan orders the downs: app first, then db, network last.
    let plan = h1.plan();
    insta::assert_snapshot!("teardown_plan", plan_text(&h1, &plan));
    let before = h1.state_files();
    let report = h1.work_cascade().expect("cascade");
    assert!(!report.failed);
    assert_eq!(
        downs(&book),
        [
            "down app production",
            "down db production",
            "down network production"
        ]
    );
    for pkg in TEARDOWN {
        assert!(!h1.exists(&format!("{pkg}/@/deploy/production")), "{pkg}");
        assert!(h1.exists(&format!("{pkg}/@/deploy/staging")), "{pkg}");
    }
    insta::assert_snapshot!("teardown_state", h1.state_diff(&before));
    assert!(h1.plan().is_empty());
    assert_eq!(h1.leftover_checkouts(), Vec::<String>::new());
}

#[test]
fn a_waiting_down_follows_the_retry_of_its_readers_failed_down() {
    let estate = Estate::new();
    let (mut h1, book) = teardown_deployed(&estate);
    h1.delete_intent("@/environment/production");
    h1.set_env("FAIL_DB_DOWN", "1");
    let report = h1.work_cascade().expect("cascade");
    assert!(report.failed, "db's down fails");
    assert_eq!(downs(&book), ["down app production"], "network waits");
    assert!(h1.exists("teardown-repo1/-/db.ocu.star/@r1/deploy/production/2/status/failed"));
    assert!(h1.exists("teardown-repo1/-/network.ocu.star/@r1/deploy/production/2/status/pending"));
    h1.remove_env("FAIL_DB_DOWN");
    let before = h1.state_files();
    h1.release_retry("db.ocu.star/@r1").expect("retry");
    // The network's down now waits for the retry's run, not for the failed one (and
    // still for app's down).
    let network = h1
        .get("teardown-repo1/-/network.ocu.star/@r1/deploy/production/2")
        .expect("network down");
    assert_eq!(
        network["functions"][0]["dependencies"],
        serde_json::json!([
            "teardown-repo1/-/db.ocu.star/@r1/deploy/production/3/status/complete",
            "teardown-repo2/-/app.ocu.star/@r1/deploy/production/2/status/complete"
        ])
    );
    insta::assert_snapshot!("teardown_retried", h1.state_diff(&before));
    assert!(!h1.work_cascade().expect("cascade").failed);
    assert_eq!(
        downs(&book),
        [
            "down app production",
            "down db production",
            "down network production"
        ]
    );
    assert!(!h1.exists("teardown-repo1/-/network.ocu.star/@/deploy/production"));
    assert!(h1.plan().is_empty());
}
