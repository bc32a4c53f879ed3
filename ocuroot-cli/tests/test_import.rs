//! `ocuroot store import`: stores in the original's format (made by the generator in
//! `common/original.rs`, written from spec §3.2 and §3.6) imported into the hub, then read
//! back, diffed, continued and imported again.

use std::path::Path;

use ocuroot_core::refs::Ref;
use ocuroot_core::store::{Area, Entry, StoreKind};
use serde_json::{Value, json};

use crate::common::original::{
    APPROVE_PACKAGE, GATE_PACKAGE, OriginalStore, Scenario, scenario, under, write_branch,
    write_folder,
};
use crate::common::{TestEnv, bare_remote, git};

#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Two folders (`store.set(store.fs(a), intent=store.fs(b))`).
    FsSeparate,
    /// One folder with `state/` and `intent/` (`store.set(store.fs(a))`).
    FsSingle,
    /// Two branches of a local repository (`store.git(...)` twice, no prefix).
    GitSeparate,
    /// One branch with `state/` and `intent/`, fetched by URL.
    GitSingleUrl,
}

/// A test repository with the `approve` package committed, and the original's stores of it.
fn setup(version: u64) -> (TestEnv, Scenario) {
    let env = TestEnv::new();
    env.write_file("approve.ocu.star", APPROVE_PACKAGE);
    env.write_file("gate.ocu.star", GATE_PACKAGE);
    env.git(&["add", "approve.ocu.star", "gate.ocu.star"]);
    env.git(&["commit", "-q", "-m", "packages"]);
    let head = env.git(&["rev-parse", "HEAD"]).trim().to_string();
    let sc = scenario("demo", &head, version);
    (env, sc)
}

/// Writes the scenario's stores in `layout` and returns the import arguments.
fn write_source(env: &TestEnv, sc: &Scenario, layout: Layout) -> Vec<String> {
    let src = env.root().join("original");
    let both = || {
        let mut files = under("state", sc.state.files());
        files.extend(under("intent", sc.intent.files()));
        files
    };
    match layout {
        Layout::FsSeparate => {
            write_folder(&src.join("state"), &sc.state.files());
            write_folder(&src.join("intent"), &sc.intent.files());
            vec![
                "../original/state".to_string(),
                src.join("intent").display().to_string(),
            ]
        }
        Layout::FsSingle => {
            write_folder(&src, &both());
            vec![src.display().to_string()]
        }
        Layout::GitSeparate => {
            let repo = env.root().join("original.git");
            bare_remote(&repo);
            write_branch(&repo, "state", &sc.state.files());
            write_branch(&repo, "intent", &sc.intent.files());
            vec![
                format!("{}#state", repo.display()),
                format!("{}#intent", repo.display()),
            ]
        }
        Layout::GitSingleUrl => {
            let repo = env.root().join("original.git");
            bare_remote(&repo);
            write_branch(&repo, "main", &both());
            vec![format!("file://{}#main", repo.display())]
        }
    }
}

fn import(env: &TestEnv, args: &[String], extra: &[&str]) -> crate::common::CommandOutput {
    let mut all = vec!["store", "import"];
    all.extend(args.iter().map(String::as_str));
    all.extend(extra);
    env.run(&all)
}

fn canonical(r: &str) -> String {
    Ref::parse(r).expect("ref").to_string()
}

/// The original's body of the document `r` (links followed once), as our store keeps it:
/// repo configs with their source decoded and credentials removed from remotes.
fn expected_body(sc: &Scenario, store: &OriginalStore, r: &str) -> Option<Value> {
    let (at, body) = if store.is_link(r) {
        let target = store.body(r)?.as_str()?.to_string();
        let body = store.body(&target)?.clone();
        (target, body)
    } else {
        (r.to_string(), store.body(r)?.clone())
    };
    if let Some(configs) = body
        .get("release_configs")
        .filter(|_| at.ends_with("/push/index"))
    {
        // Push indexes gain our `packages`, derived from `release_configs`.
        let mut body = body.clone();
        body["packages"] = our_packages(configs);
        return Some(body);
    }
    if body.get("source").is_some() && body.get("Remotes").is_some() {
        return Some(json!({
            "Remotes": ["https://git.example.com/demo.git"],
            "source": sc.repo_config_source,
        }));
    }
    Some(body)
}

fn our_packages(configs: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (pkg, config) in configs.as_object().expect("release_configs") {
        let file = pkg.split_once("/-/").expect("package ref").1;
        let watch = config["watch_files"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        out.insert(file.to_string(), json!({"watch_files": watch}));
    }
    Value::Object(out)
}

/// Every state document and link reads back as the original's: through `ocuroot state get`
/// for documents and links alike, and as the same link in the store.
fn assert_state_matches(env: &TestEnv, sc: &Scenario) {
    let state = env.store(StoreKind::State);
    for r in sc.state.refs() {
        let c = canonical(&r);
        let expected = expected_body(sc, &sc.state, &r).expect("scenario links resolve");
        let out = env.run(&["state", "get", &c]).success();
        let got: Value = serde_json::from_str(&out.stdout).expect("state get prints JSON");
        assert_eq!(got, expected, "state get {c}");
        if sc.state.is_link(&r) {
            let target = canonical(sc.state.body(&r).and_then(Value::as_str).expect("target"));
            assert_eq!(
                state
                    .entry(Area::Records, &Ref::parse(&c).expect("ref"))
                    .expect("entry"),
                Some(Entry::Link(Ref::parse(&target).expect("target ref"))),
                "link {c}"
            );
        }
    }
}

/// Every intent document is in our intent store as it was; the repo configs the original
/// kept in intent too are in state only.
fn assert_intent_matches(env: &TestEnv, sc: &Scenario) {
    let intent = env.store(StoreKind::Intent);
    let state = env.store(StoreKind::State);
    for r in sc.intent.refs() {
        let parsed = Ref::parse(&r).expect("ref");
        if parsed.filename == "repo.ocu.star" {
            assert_eq!(
                intent.try_get(&parsed).expect("read"),
                None,
                "{r} not in intent"
            );
            let expected = expected_body(sc, &sc.intent, &r).expect("body");
            assert_eq!(
                state.get(&parsed).expect("repo config in state"),
                expected,
                "{r}"
            );
            continue;
        }
        assert_eq!(
            intent.get(&parsed).expect("intent document"),
            *sc.intent.body(&r).expect("body"),
            "intent {r}"
        );
    }
}

fn commits(repo: &Path, branch: &str) -> Vec<String> {
    git(repo, &["log", "--format=%s", branch])
        .lines()
        .map(str::to_string)
        .collect()
}

fn check_import(layout: Layout, version: u64) {
    let (env, sc) = setup(version);
    let args = write_source(&env, &sc, layout);

    // --dryrun counts and writes nothing.
    let dry = import(&env, &args, &["--dryrun"]).success();
    assert!(
        dry.stdout.contains("  releases:                  5\n"),
        "{dry}"
    );
    assert!(env.tip(&env.hub(), "state").is_none(), "dryrun wrote state");
    assert!(
        env.tip(&env.hub(), "intent").is_none(),
        "dryrun wrote intent"
    );

    let out = import(&env, &args, &[]).success();
    assert!(out.stdout.contains("Imported state into"), "{out}");
    // One commit per store, naming the source.
    let state_log = commits(&env.hub(), "state");
    let intent_log = commits(&env.hub(), "intent");
    assert_eq!(state_log.len(), 1, "{state_log:?}");
    assert_eq!(intent_log.len(), 1, "{intent_log:?}");
    assert!(
        state_log[0].starts_with("import state store from "),
        "{state_log:?}"
    );
    assert!(
        intent_log[0].starts_with("import intent store from "),
        "{intent_log:?}"
    );
    assert!(state_log[0].contains("original"), "{state_log:?}");

    assert_state_matches(&env, &sc);
    assert_intent_matches(&env, &sc);

    // Where intent and state agreed there is nothing to do; the rest is pending.
    let diff = env.run(&["state", "diff"]).success();
    let mut pending: Vec<&str> = diff.stdout.lines().collect();
    pending.sort_unstable();
    assert_eq!(pending, sc.pending, "{diff}");

    // The imported intent is valid intent, and plan shows the pending work.
    env.run(&["intent", "check"]).success();
    let plan = env.run(&["plan"]).success();
    assert!(plan.stdout.contains("@/custom/wanted"), "{plan}");

    // Importing again changes nothing.
    let tips = (env.tip(&env.hub(), "state"), env.tip(&env.hub(), "intent"));
    let again = import(&env, &args, &[]).success();
    assert!(
        again.stdout.contains("Nothing to import into state"),
        "{again}"
    );
    assert!(
        again.stdout.contains("Nothing to import into intent"),
        "{again}"
    );
    assert_eq!(
        tips,
        (env.tip(&env.hub(), "state"), env.tip(&env.hub(), "intent"))
    );

    // The release that waited for its approval continues once approved.
    let waiting = env.run(&["release", "continue", &sc.paused_release]);
    assert!(
        env.run(&["state", "get", "approve.ocu.star/@r2/task/approve"])
            .code()
            == 1,
        "not complete before the approval: {waiting}"
    );
    env.run(&[
        "state",
        "set",
        "approve.ocu.star/@r2/custom/approval",
        "alice",
    ])
    .success();
    env.run(&["state", "apply", "approve.ocu.star/@r2/custom/approval"])
        .success();
    env.run(&["release", "continue", &sc.paused_release])
        .success();
    let approved = env
        .run(&[
            "state",
            "get",
            "approve.ocu.star/@r2/task/approve#output/approved_by",
        ])
        .success();
    assert_eq!(approved.stdout.trim(), "\"alice\"");
    let status = env
        .run(&[
            "state",
            "match",
            "demo/-/approve.ocu.star/@r2/task/approve/*/status/*",
        ])
        .success();
    assert_eq!(
        status.stdout,
        "demo/-/approve.ocu.star/@r2/task/approve/1/status/complete\n"
    );
    // The run paused in next() goes on with its second function once the ticket is there.
    env.run(&["state", "set", "gate.ocu.star/@r1/custom/ticket", "T-1"])
        .success();
    env.run(&["state", "apply", "gate.ocu.star/@r1/custom/ticket"])
        .success();
    env.run(&["release", "continue", &sc.paused_gate]).success();
    let ticket = env
        .run(&["state", "get", "gate.ocu.star/@r1/task/check#output/ticket"])
        .success();
    assert_eq!(ticket.stdout.trim(), "\"T-1\"");
    let logs = env
        .run(&["state", "get", "demo/-/gate.ocu.star/@r1/task/check/1/logs"])
        .success();
    let logs: Value = serde_json::from_str(&logs.stdout).expect("logs");
    assert_eq!(
        logs[0]["message"], "checking",
        "imported log lines stay first"
    );

    // Release numbering goes on from the imported releases.
    let _ = env.run(&["release", "new", "approve.ocu.star", "--force"]);
    let releases = env
        .run(&["state", "match", "demo/-/approve.ocu.star/@r*"])
        .success();
    assert_eq!(
        releases.stdout,
        "demo/-/approve.ocu.star/@r1\ndemo/-/approve.ocu.star/@r2\ndemo/-/approve.ocu.star/@r3\n"
    );
}

/// The import goes to the stores `repo.ocu.star` selects, here two local repositories.
#[test]
fn into_the_stores_repo_ocu_star_selects() {
    let env = TestEnv::with_config(
        "repo_alias(\"demo\")\nstore.set(store.fs(\".store/state\"), intent = store.fs(\".store/intent\"))\n",
    );
    let sc = scenario("demo", "3333333333333333333333333333333333333333", 3);
    let args = write_source(&env, &sc, Layout::GitSeparate);
    import(&env, &args, &[]).success();
    assert!(!env.hub().exists(), "nothing in the default store");
    let state =
        crate::common::open_store(&env.repo().join(".store/state"), "state", StoreKind::State);
    let intent = crate::common::open_store(
        &env.repo().join(".store/intent"),
        "intent",
        StoreKind::Intent,
    );
    let env_ref = Ref::parse("@/environment/production").expect("ref");
    assert_eq!(
        state.get(&env_ref).expect("state"),
        *sc.state.body("@/environment/production").expect("body")
    );
    assert_eq!(
        intent.get(&env_ref).expect("intent"),
        *sc.intent.body("@/environment/production").expect("body")
    );
    let diff = env.run(&["state", "diff"]).success();
    assert_eq!(diff.stdout, "@/custom/dropped\n@/custom/wanted\n");
}

#[test]
fn fs_separate_stores_version_3() {
    check_import(Layout::FsSeparate, 3);
}

#[test]
fn fs_single_backend_version_2() {
    check_import(Layout::FsSingle, 2);
}

#[test]
fn git_separate_branches_version_2() {
    check_import(Layout::GitSeparate, 2);
}

#[test]
fn git_single_backend_by_url_version_3() {
    check_import(Layout::GitSingleUrl, 3);
}

#[test]
fn dryrun_counts_every_kind() {
    let (env, sc) = setup(3);
    let args = write_source(&env, &sc, Layout::FsSingle);
    let out = import(&env, &args, &["--dryrun"]).success();
    insta::assert_snapshot!(out.to_string());
}

#[test]
fn broken_envelope_is_listed_and_nothing_is_written() {
    let (env, mut sc) = setup(3);
    sc.state.raw(
        "refs/demo/-/app.ocu.star/@r9/@object.json",
        "{\"kind\": \"ref\", \"body\": ",
    );
    sc.intent.raw("refs/@/custom/x/notes.txt", "hello");
    let args = write_source(&env, &sc, Layout::FsSeparate);
    for extra in [&[][..], &["--dryrun"][..]] {
        let out = import(&env, &args, extra);
        assert_eq!(out.code(), 1, "{out}");
        let stderr = out.normalize(&out.stderr);
        assert!(
            stderr.contains(
                "cannot import $TEST_ENV/original/state: refs/demo/-/app.ocu.star/@r9/@object.json: broken envelope"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("refs/@/custom/x/notes.txt: not an envelope"),
            "{stderr}"
        );
        assert!(
            stderr.contains(
                "error: cannot import: 2 source files cannot be mapped, nothing was written"
            ),
            "{stderr}"
        );
        assert!(env.tip(&env.hub(), "state").is_none());
        assert!(env.tip(&env.hub(), "intent").is_none());
    }
}

#[test]
fn unknown_version_exits_1_and_writes_nothing() {
    let (env, sc) = setup(3);
    let args = write_source(&env, &sc, Layout::FsSingle);
    let info = env.root().join("original/intent/.ocuroot-store");
    std::fs::write(&info, "{\"version\": 4, \"Tags\": {\"intent\": {}}}").expect("write");
    let out = import(&env, &args, &[]);
    insta::assert_snapshot!(out.to_string(), @r"
    [EOF]
    ------- stderr -------
    error: unsupported store version 4 in $TEST_ENV/original (intent/): .ocuroot-store: expected 2 or 3
    hint: stores of version 2 and 3 (Ocuroot up to v0.3.16) can be imported; open this one with the original first
    [EOF]
    [exit status: 1]
    ");
    assert!(env.tip(&env.hub(), "state").is_none());
}

/// A remote store (`store.git`, both stores in one branch) receives the import by push.
#[test]
fn into_a_remote_store() {
    let tmp = tempfile::tempdir().expect("tmp");
    let remote = tmp.path().join("remote.git");
    bare_remote(&remote);
    let config = format!(
        "repo_alias(\"demo\")\nstore.set(store.git({:?}, branch = \"main\"))\n",
        remote.display().to_string()
    );
    let env = TestEnv::with_config(&config);
    let sc = scenario("demo", "3333333333333333333333333333333333333333", 3);
    let args = write_source(&env, &sc, Layout::FsSeparate);
    import(&env, &args, &[]).success();
    let log = commits(&remote, "main");
    assert_eq!(log.len(), 2, "one commit per store: {log:?}");
    let got = env
        .run(&[
            "state",
            "get",
            "demo/-/app.ocu.star/@v2/task/build#output/version",
        ])
        .success();
    assert_eq!(got.stdout.trim(), "\"1.1\"");
    let diff = env.run(&["state", "diff"]).success();
    assert_eq!(diff.stdout, "@/custom/dropped\n@/custom/wanted\n");
    let again = import(&env, &args, &[]).success();
    assert!(
        again.stdout.contains("Nothing to import into state"),
        "{again}"
    );
    assert_eq!(commits(&remote, "main").len(), 2);
}

/// A target store that cannot take the import (a document where the original has a link)
/// gets nothing, and neither does the other store.
#[test]
fn a_store_in_the_way_gets_nothing() {
    let (env, sc) = setup(3);
    env.seed_state(&[("demo/-/app.ocu.star/@v1", json!("in the way"))]);
    let before = env.tip(&env.hub(), "state");
    let args = write_source(&env, &sc, Layout::FsSingle);
    let out = import(&env, &args, &[]);
    assert_eq!(out.code(), 1, "{out}");
    let stderr = out.normalize(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot write the imported state store\ncaused by: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the target store holds a document where the original has a link"),
        "{stderr}"
    );
    assert_eq!(env.tip(&env.hub(), "state"), before);
    assert!(env.tip(&env.hub(), "intent").is_none());
}
