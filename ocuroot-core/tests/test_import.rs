//! Importing stores in the original's format (made by `common::original`, written from
//! spec §3.2 and §3.6) into real Git-backed stores, through the library.

use ocuroot_core::import::{self, ImportError, ImportRequest, Source};
use ocuroot_core::refs::Ref;
use ocuroot_core::store::{Area, Entry, Store, StoreKind, diff_intent};
use serde_json::{Value, json};

use crate::common::original::{Scenario, scenario, under, write_branch, write_folder};
use crate::common::{bare_remote, open};

const COMMIT: &str = "2222222222222222222222222222222222222222";

fn stores(dir: &std::path::Path) -> (Store, Store) {
    let hub = dir.join("hub.git");
    (
        open(&hub, "state", "", StoreKind::State),
        open(&hub, "intent", "", StoreKind::Intent),
    )
}

fn request(state: &str, intent: Option<&str>, dir: &std::path::Path) -> ImportRequest {
    ImportRequest {
        state: Source::parse(state, dir).expect("source"),
        intent: intent.map(|i| Source::parse(i, dir).expect("source")),
        home: Some(dir.join("home")),
        git: Default::default(),
    }
}

/// Every original document reads back unchanged (links followed once), every link is the
/// same link, and the repo configs are in state with their source decoded.
fn assert_imported(sc: &Scenario, state: &Store, intent: &Store) {
    for r in sc.state.refs() {
        let parsed = Ref::parse(&r).expect("ref");
        let body = if sc.state.is_link(&r) {
            let target = sc.state.body(&r).and_then(Value::as_str).expect("target");
            assert_eq!(
                state.entry(Area::Records, &parsed).expect("entry"),
                Some(Entry::Link(Ref::parse(target).expect("target"))),
                "{r}"
            );
            sc.state.body(target).expect("target body").clone()
        } else {
            sc.state.body(&r).expect("body").clone()
        };
        let expected = if parsed.filename == "repo.ocu.star" && body.get("source").is_some() {
            json!({"Remotes": ["https://git.example.com/demo.git"], "source": sc.repo_config_source})
        } else if parsed.subpath == "index" && body.get("release_configs").is_some() {
            let mut body = body;
            body["packages"] = json!({
                "app.ocu.star": {"watch_files": ["src"]},
                "approve.ocu.star": {"watch_files": []},
            });
            body
        } else {
            body
        };
        assert_eq!(state.get(&parsed).expect("document"), expected, "{r}");
    }
    for r in sc.intent.refs() {
        let parsed = Ref::parse(&r).expect("ref");
        if parsed.filename == "repo.ocu.star" {
            assert_eq!(intent.try_get(&parsed).expect("read"), None, "{r}");
        } else {
            assert_eq!(
                intent.get(&parsed).expect("intent"),
                *sc.intent.body(&r).expect("body")
            );
        }
    }
    let mut pending: Vec<String> = diff_intent(intent, state)
        .expect("diff")
        .into_iter()
        .map(|e| e.r.to_string())
        .collect();
    pending.sort();
    assert_eq!(pending, sc.pending);
}

#[test]
fn folders_import_once_and_again_without_a_commit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sc = scenario("demo", COMMIT, 3);
    write_folder(&tmp.path().join("old/state"), &sc.state.files());
    write_folder(&tmp.path().join("old/intent"), &sc.intent.files());
    let (state, intent) = stores(tmp.path());
    let req = request("old/state", Some("old/intent"), tmp.path());
    let prepared = import::prepare(&req).expect("prepare");
    assert!(prepared.problems.is_empty(), "{:?}", prepared.problems);
    let first = prepared.commit(&state, &intent).expect("import");
    assert!(first.state_commit.is_some() && first.intent_commit.is_some());
    assert_imported(&sc, &state, &intent);
    let again = import::prepare(&req)
        .expect("prepare")
        .commit(&state, &intent)
        .expect("import again");
    assert_eq!(again.state_commit, None);
    assert_eq!(again.intent_commit, None);
}

#[test]
fn a_git_branch_with_both_stores_imports_the_same() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sc = scenario("demo", COMMIT, 2);
    let repo = tmp.path().join("old.git");
    bare_remote(&repo);
    let mut files = under("state", sc.state.files());
    files.extend(under("intent", sc.intent.files()));
    write_branch(&repo, "main", &files);
    let (state, intent) = stores(tmp.path());
    let prepared = import::prepare(&request("old.git#main", None, tmp.path())).expect("prepare");
    assert!(prepared.problems.is_empty(), "{:?}", prepared.problems);
    prepared.commit(&state, &intent).expect("import");
    assert_imported(&sc, &state, &intent);
    // A URL to the same branch reads the same files, through a fetch into the cache.
    let url = format!("file://{}#main", repo.display());
    let by_url = import::prepare(&request(&url, None, tmp.path())).expect("prepare by URL");
    assert_eq!(
        by_url.state.transaction().ops(),
        prepared.state.transaction().ops()
    );
    assert!(tmp.path().join("home/imports").is_dir());
}

#[test]
fn problems_stop_the_import_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut sc = scenario("demo", COMMIT, 3);
    sc.state
        .raw("refs/@/custom/broken/@object.json", "{\"kind\": ");
    write_folder(&tmp.path().join("old/state"), &sc.state.files());
    let (state, intent) = stores(tmp.path());
    let prepared = import::prepare(&request("old/state", None, tmp.path())).expect("prepare");
    assert_eq!(prepared.problems.len(), 1, "{:?}", prepared.problems);
    let err = prepared.commit(&state, &intent).expect_err("refused");
    assert!(matches!(err, ImportError::Unmappable { count: 1 }), "{err}");
    assert_eq!(state.tip().expect("tip"), None);
    assert_eq!(intent.tip().expect("tip"), None);
}

#[test]
fn missing_sources_and_branches_are_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let err = import::prepare(&request("nowhere", None, tmp.path())).expect_err("missing");
    assert!(matches!(err, ImportError::Io { .. }), "{err}");
    let repo = tmp.path().join("old.git");
    bare_remote(&repo);
    let err = import::prepare(&request("old.git#nope", None, tmp.path())).expect_err("branch");
    assert!(matches!(err, ImportError::NoBranch { .. }), "{err}");
    std::fs::create_dir_all(tmp.path().join("empty")).expect("mkdir");
    let err = import::prepare(&request("empty", None, tmp.path())).expect_err("empty");
    assert!(matches!(err, ImportError::NotAStore { .. }), "{err}");
}

#[test]
fn a_store_that_cannot_take_the_import_gets_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sc = scenario("demo", COMMIT, 3);
    write_folder(&tmp.path().join("old/state"), &sc.state.files());
    write_folder(&tmp.path().join("old/intent"), &sc.intent.files());
    let (state, intent) = stores(tmp.path());
    // A document where the original has a link: the state transaction cannot apply.
    let mut tx = ocuroot_core::store::Transaction::new("in the way");
    tx.set(
        &Ref::parse("demo/-/app.ocu.star/@v1").expect("ref"),
        json!(1),
    );
    state.commit(&tx).expect("seed");
    let before = state.tip().expect("tip");
    let req = request("old/state", Some("old/intent"), tmp.path());
    let err = import::prepare(&req)
        .expect("prepare")
        .commit(&state, &intent)
        .expect_err("refused");
    assert!(
        matches!(err, ImportError::Store { kind: "state", .. }),
        "{err}"
    );
    assert_eq!(state.tip().expect("tip"), before);
    assert_eq!(
        intent.tip().expect("tip"),
        None,
        "intent must not land alone"
    );
}

#[test]
fn a_checkout_of_an_original_git_store_reads_as_a_folder() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sc = scenario("demo", COMMIT, 3);
    let checkout = tmp.path().join("checkout");
    write_folder(&checkout, &under("state", sc.state.files()));
    write_folder(&checkout, &under("intent", sc.intent.files()));
    crate::common::git(&checkout, &["init", "-q", "-b", "main"]);
    let prepared = import::prepare(&request("checkout", None, tmp.path())).expect("prepare");
    assert!(prepared.problems.is_empty(), "{:?}", prepared.problems);
    assert!(
        prepared.notes.iter().all(|n| !n.contains(".git")),
        "{:?}",
        prepared.notes
    );
}
