//! `push` in process (spec §6.11, §7.10): release what changed since the last push, cascade
//! to the dependants, record the push index; from a checkout of the intent branch, apply
//! intent.

use std::path::PathBuf;

use crate::common::harness::{EngineError, Estate, Harness, fixture_text};

const A: &str = "push/-/a.ocu.star/@/deploy/production#output/message";
const B: &str = "push/-/b.ocu.star/@/deploy/production#output/message";
const INDEX: &str = "push/-/repo.ocu.star/@/push/index";

/// The `push` repository at commit 1, its store in a bare remote.
fn source(estate: &Estate) -> (Harness, PathBuf) {
    let remote = estate.bare("store");
    let mut h = Harness::fixture_in(estate, "push/commit1", "repo");
    h.set_env("REPO_REMOTE", remote.to_str().expect("utf-8"));
    (h, remote)
}

#[test]
fn push_releases_what_changed_since_the_last_push_and_redeploys_dependants() {
    let estate = Estate::new();
    let (mut h, _) = source(&estate);
    assert_eq!(
        h.push_dryrun().expect("dryrun"),
        ["a.ocu.star", "b.ocu.star", "environments.ocu.star"],
        "every package file but repo.ocu.star and release_ignore matches"
    );
    let (files, failed) = h.push().expect("push");
    assert_eq!(files, ["a.ocu.star", "b.ocu.star", "environments.ocu.star"]);
    assert!(!failed);
    assert_eq!(h.text(A), "Message at commit 1");
    assert_eq!(h.text(B), "Message at commit 1");
    assert!(!h.exists("push/-/ignored/broken.ocu.star/@r1"));
    insta::assert_snapshot!("first_push_tree", h.state_tree());

    // Commit 2 changes a.txt: refused while uncommitted, and while staged.
    h.write_file("a.txt", &fixture_text("push/commit2/a.txt"));
    let tip = h.state_tip();
    match h.push() {
        Err(EngineError::Uncommitted { files }) => assert_eq!(files, ["a.txt"]),
        other => panic!("expected a refusal: {other:?}"),
    }
    h.git(&["add", "."]);
    assert!(matches!(h.push(), Err(EngineError::Uncommitted { .. })));
    assert_eq!(h.state_tip(), tip, "nothing written while refused");
    h.commit_files("commit 2", &[]);
    assert_eq!(
        h.push_dryrun().expect("dryrun"),
        ["a.ocu.star"],
        "a watches a.txt"
    );
    let before = h.state_files();
    assert_eq!(h.push().expect("push").0, ["a.ocu.star"]);
    assert_eq!(h.text(A), "Message at commit 2");
    assert_eq!(h.text(B), "Message at commit 2");
    assert!(h.exists("push/-/a.ocu.star/@r2/deploy/production"));
    // b was redeployed within its first release, not re-released.
    assert!(!h.exists("push/-/b.ocu.star/@r2"));
    assert!(h.exists("push/-/b.ocu.star/@r1/deploy/production/2/status/complete"));
    let index = h.get(INDEX).expect("index");
    assert_eq!(index["commit"], h.commit_id(2));
    assert_eq!(index["previous_commit"], h.commit_id(1));
    assert_eq!(
        index["packages"]["a.ocu.star"]["watch_files"],
        serde_json::json!(["a.txt"])
    );
    insta::assert_snapshot!("second_push", h.state_diff(&before));

    // Pushing the same commit again releases nothing.
    assert!(h.push_dryrun().expect("dryrun").is_empty());
    let before = h.state_files();
    assert_eq!(h.push().expect("push again"), (vec![], false));
    assert!(!h.exists("push/-/a.ocu.star/@r3"));
    assert_eq!(h.state_diff(&before), "", "the index is unchanged");
}

#[test]
fn push_releases_a_package_whose_watched_file_changed() {
    let estate = Estate::new();
    let (mut h, _) = source(&estate);
    h.push().expect("push");
    // b watches its own file: touching it re-releases b only.
    let text = std::fs::read_to_string(h.repo().join("b.ocu.star")).expect("read");
    h.commit_files(
        "touch b",
        &[
            ("b.ocu.star", &format!("{text}\n# changed\n")),
            ("ignored/notes.txt", "not a package"),
        ],
    );
    assert_eq!(h.push_dryrun().expect("dryrun"), ["b.ocu.star"]);
    h.push().expect("push");
    assert!(h.exists("push/-/b.ocu.star/@r2/deploy/production"));
    assert!(!h.exists("push/-/a.ocu.star/@r2"));
}

#[test]
fn push_from_a_checkout_of_the_intent_branch_applies_intent() {
    let estate = Estate::new();
    let (h, remote) = source(&estate);
    // As in spec §7.10, the store remote is also the source repository's origin.
    h.git(&["remote", "add", "origin", remote.to_str().expect("utf-8")]);
    h.git(&["push", "-q", "origin", "main"]);
    h.push().expect("push");
    let mut checked_out = String::new();
    for name in ["@/custom/test", "@/custom/test2"] {
        h.set_intent(name, serde_json::json!("1"));
        h.git(&["fetch", "-q", "origin"]);
        h.git(&["checkout", "-q", "intent"]);
        assert!(!h.repo().join("repo.ocu.star").exists());
        assert_eq!(h.push_dryrun().expect("dryrun"), [name]);
        let (applied, failed) = h.push().expect("push");
        assert_eq!(applied, [name]);
        assert!(!failed);
        checked_out = h.git(&["rev-parse", "HEAD"]).trim().to_string();
        h.git(&["checkout", "-q", "main"]);
        assert_eq!(h.text(name), "1");
    }
    // The commit checked out by the last push is recorded.
    let intent_commit = h.get("@/push/intent_commit").expect("recorded");
    assert_eq!(intent_commit["commit"], checked_out.as_str());
}
