use serde_json::{Value, json};

use super::load::{Files, RawStore};
use super::map::*;
use super::parse::*;
use super::*;
use proptest::prelude::*;
use test_case::test_case;

fn r(s: &str) -> Ref {
    Ref::parse(s).expect("ref")
}

fn envelope_ref(body: Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({"kind": "ref", "body_type": "x", "body": body}))
        .expect("json")
}

fn envelope_link(target: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({"kind": "link", "body": target})).expect("json")
}

fn raw(label: &str, version: u64, tag: &str, files: &[(&str, Vec<u8>)]) -> RawStore {
    let mut map = Files::new();
    map.insert(
        INFO_FILE.to_string(),
        serde_json::to_vec(&json!({"version": version, "Tags": {tag: {}}})).expect("json"),
    );
    for (p, c) in files {
        map.insert((*p).to_string(), c.clone());
    }
    RawStore {
        label: label.to_string(),
        files: map,
    }
}

fn parse(store: &RawStore, kind: StoreKind) -> (ParsedStore, Vec<Problem>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let parsed = read_store(store, kind, &mut problems, &mut notes).expect("readable store");
    (parsed, problems, notes)
}

#[test_case("state", Source::Folder(PathBuf::from("/w/state")); "relative folder")]
#[test_case("../old/./state", Source::Folder(PathBuf::from("/old/state")); "dots removed")]
#[test_case("/abs/store", Source::Folder(PathBuf::from("/abs/store")); "absolute folder")]
#[test_case("store.git#state", Source::Git { location: "/w/store.git".into(), branch: "state".into() }; "local branch")]
#[test_case("https://h/x.git#main", Source::Git { location: "https://h/x.git".into(), branch: "main".into() }; "url")]
#[test_case("git@host:org/x.git#a#b", Source::Git { location: "git@host:org/x.git#a".into(), branch: "b".into() }; "last hash splits, scp like")]
fn sources_parse(arg: &str, expected: Source) {
    assert_eq!(
        Source::parse(arg, Path::new("/w")).expect("parse"),
        expected
    );
}

#[test_case(""; "empty")]
#[test_case("x.git#"; "no branch")]
#[test_case("#main"; "no location")]
fn bad_sources_are_refused(arg: &str) {
    assert!(matches!(
        Source::parse(arg, Path::new("/w")),
        Err(ImportError::BadArgument { .. })
    ));
}

#[test]
fn url_sources_show_without_credentials() {
    let s = Source::parse("https://u:tok@h/x.git#main", Path::new("/w")).expect("parse");
    assert!(!s.to_string().contains("tok"), "{s}");
}

proptest! {
    #[test]
    fn source_parse_never_panics_and_keeps_the_branch(loc in "[a-z./:@]{1,12}", branch in "[a-z0-9_-]{1,8}") {
        let arg = format!("{loc}#{branch}");
        match Source::parse(&arg, Path::new("/w")).expect("valid") {
            Source::Git { branch: b, .. } => prop_assert_eq!(b, branch),
            Source::Folder(_) => prop_assert!(false, "a # makes a Git source"),
        }
        let _ = Source::parse(&loc, Path::new("/w"));
    }
}

#[test_case("demo/-/a.ocu.star/@r1", false, DocKind::Release)]
#[test_case("demo/-/a.ocu.star/@r1/commit/abc", false, DocKind::CommitMarker)]
#[test_case("demo/-/a.ocu.star/@v1", true, DocKind::Tag)]
#[test_case("demo/-/a.ocu.star/@r1/deploy/prod/2", false, DocKind::Run)]
#[test_case(
    "demo/-/a.ocu.star/@r1/task/build/1/status/complete",
    false,
    DocKind::StatusMarker
)]
#[test_case("demo/-/a.ocu.star/@r1/task/build/1/logs", false, DocKind::Logs)]
#[test_case("demo/-/a.ocu.star/@r1/deploy/prod", false, DocKind::TaskSummary)]
#[test_case("demo/-/a.ocu.star/@/deploy/prod", true, DocKind::DeployLink)]
#[test_case("demo/-/a.ocu.star/@/task/build", true, DocKind::TaskLink)]
#[test_case("demo/-/a.ocu.star/@r1/op/check_envs", false, DocKind::OpMarker)]
#[test_case("demo/-/a.ocu.star/@r1/custom/approval", false, DocKind::CustomState)]
#[test_case("@/custom/credential/staging", false, DocKind::CustomState)]
#[test_case("@/environment/prod", false, DocKind::Environment)]
#[test_case("demo/-/repo.ocu.star/@abc", false, DocKind::RepoConfig)]
#[test_case("demo/-/repo.ocu.star/@", true, DocKind::RepoConfigLink)]
#[test_case("demo/-/repo.ocu.star/@abc/push/index", false, DocKind::PushIndex)]
#[test_case("demo/-/repo.ocu.star/@/push/index", true, DocKind::PushIndexLink)]
#[test_case("@/push/intent_commit", false, DocKind::PushIndex)]
#[test_case("demo/-/a.ocu.star/@r1/custom/x", true, DocKind::OtherLink)]
#[test_case("demo/-/a.ocu.star", false, DocKind::OtherDocument)]
fn state_kinds(reference: &str, link: bool, kind: DocKind) {
    assert_eq!(DocKind::of(StoreKind::State, &r(reference), link), kind);
}

#[test]
fn deploy_documents_in_intent_are_deploy_intents() {
    assert_eq!(
        DocKind::of(
            StoreKind::Intent,
            &r("demo/-/a.ocu.star/@/deploy/prod"),
            false
        ),
        DocKind::DeployIntent
    );
}

#[test]
fn repo_configs_are_converted() {
    let body = json!({
        "Remotes": [
            "https://ci:tok@git.example.com/a.git",
            {"Name": "upstream", "URLs": ["ssh://git:pw@h/a.git", "git@h:a.git"]},
            {"URL": "https://h/b.git"},
        ],
        "source": "cmVwb19hbGlhcygiYSIpCg==",
    });
    assert_eq!(
        convert_repo_config(&body).expect("convert"),
        json!({
            "Remotes": ["https://git.example.com/a.git", "ssh://git@h/a.git", "git@h:a.git", "https://h/b.git"],
            "source": "repo_alias(\"a\")\n",
        })
    );
    assert_eq!(
        convert_repo_config(&json!({"source": null})).expect("convert"),
        json!({"Remotes": [], "source": ""})
    );
}

#[test_case(json!({"source": "not base64!"}), "not base64"; "bad base64")]
#[test_case(json!({"source": "/w=="}), "not UTF-8"; "not utf8")]
#[test_case(json!({"source": "", "Remotes": [{"Name": "x"}]}), "has no URL"; "remote without url")]
#[test_case(json!({"source": "", "Remotes": "x"}), "must be a list"; "remotes not a list")]
#[test_case(json!("text"), "must be an object"; "not an object")]
fn bad_repo_configs_are_problems(body: Value, needle: &str) {
    let err = convert_repo_config(&body).expect_err("refused");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn links_resolve_deepest_prefix_single_level() {
    let mut items = BTreeMap::new();
    items.insert(r("p/-/a/@v1"), Item::Link(r("p/-/a/@r1")));
    items.insert(r("p/-/a/@/deploy/x"), Item::Link(r("p/-/a/@r1/deploy/x")));
    items.insert(r("p/-/a/@r1"), Item::Link(r("p/-/a/@r0")));
    assert_eq!(
        resolve(&items, &r("p/-/a/@v1/custom/approval")),
        r("p/-/a/@r1/custom/approval")
    );
    assert_eq!(
        resolve(&items, &r("p/-/a/@/deploy/x")),
        r("p/-/a/@r1/deploy/x")
    );
    assert_eq!(resolve(&items, &r("p/-/a/@r2")), r("p/-/a/@r2"));
}

#[test]
fn old_spellings_are_rewritten_and_duplicates_checked() {
    let store = raw(
        "src",
        3,
        "state",
        &[
            ("refs/d/-/a/+v1/@object.json", envelope_link("d/-/a/@r1")),
            (
                "refs/d/-/a/@r1/call/build/1/logs/@object.json",
                envelope_ref(json!([])),
            ),
            (
                "refs/d/-/a/@r1/task/build/1/logs/@object.json",
                envelope_ref(json!([])),
            ),
            ("refs/d/-/a/@r1/call/x/@object.json", envelope_ref(json!(1))),
            ("refs/d/-/a/@r1/task/x/@object.json", envelope_ref(json!(2))),
        ],
    );
    let (parsed, problems, notes) = parse(&store, StoreKind::State);
    assert_eq!(
        parsed.items.get(&r("d/-/a/@v1")),
        Some(&Item::Link(r("d/-/a/@r1")))
    );
    assert!(parsed.items.contains_key(&r("d/-/a/@r1/task/build/1/logs")));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].message.contains("different content"),
        "{problems:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("3 refs in an old spelling")),
        "{notes:?}"
    );
}

#[test_case(b"{\"kind\": \"ref\"".to_vec(), "broken envelope"; "truncated")]
#[test_case(b"{\"kind\": \"ref\"}".to_vec(), "no body"; "no body")]
#[test_case(b"{\"kind\": \"thing\", \"body\": 1}".to_vec(), "unknown kind"; "unknown kind")]
#[test_case(b"{\"kind\": \"link\", \"body\": 1}".to_vec(), "ref string"; "link to a number")]
#[test_case(b"{\"kind\": \"link\", \"body\": \"a//b\"}".to_vec(), "not a valid ref"; "link to a bad ref")]
fn broken_envelopes_are_problems(content: Vec<u8>, needle: &str) {
    let store = raw(
        "src",
        3,
        "state",
        &[("refs/@/custom/x/@object.json", content)],
    );
    let (parsed, problems, _) = parse(&store, StoreKind::State);
    assert!(parsed.items.is_empty());
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains(needle), "{problems:?}");
    assert_eq!(problems[0].path, "src: refs/@/custom/x/@object.json");
}

#[test]
fn files_that_are_not_documents() {
    let store = raw(
        "src",
        3,
        "state",
        &[
            ("refs/@/custom/x/other.json", b"{}".to_vec()),
            ("refs/a//b/@object.json", envelope_ref(json!(1))),
            ("dependencies/dependencies/x/y/@ref.txt", b"y".to_vec()),
            ("README.md", b"support file".to_vec()),
        ],
    );
    let (_, problems, notes) = parse(&store, StoreKind::State);
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(problems.len(), 3, "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("not an envelope")));
    assert!(messages.iter().any(|m| m.contains("not a valid ref")));
    assert!(
        messages
            .iter()
            .any(|m| m.contains("dependency bookkeeping"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("README.md: not a store file")),
        "{notes:?}"
    );
}

#[test_case(1; "version 1")]
#[test_case(4; "version 4")]
fn unknown_versions_are_errors(version: u64) {
    let store = raw("src", version, "state", &[]);
    let err = read_store(&store, StoreKind::State, &mut Vec::new(), &mut Vec::new())
        .err()
        .expect("refused");
    assert!(
        matches!(err, ImportError::UnsupportedVersion { version: v, .. } if v == version),
        "{err}"
    );
}

#[test]
fn a_store_tagged_intent_given_as_state_is_a_problem() {
    let (_, problems, _) = parse(&raw("src", 3, "intent", &[]), StoreKind::State);
    assert!(
        problems[0].message.contains("tagged intent"),
        "{problems:?}"
    );
    // Version 2 carries no tags to check.
    let (_, problems, _) = parse(&raw("src", 2, "intent", &[]), StoreKind::State);
    assert!(problems.is_empty());
}

#[test]
fn layouts() {
    let mut files = Files::new();
    files.insert("state/.ocuroot-store".into(), b"{}".to_vec());
    files.insert("intent/refs/@/custom/x/@object.json".into(), b"{}".to_vec());
    files.insert("README".into(), b"x".to_vec());
    match split_layout("src", files).expect("layout") {
        Layout::Both { state, intent } => {
            assert_eq!(state.files.keys().collect::<Vec<_>>(), [".ocuroot-store"]);
            assert_eq!(
                intent.files.keys().collect::<Vec<_>>(),
                ["refs/@/custom/x/@object.json"]
            );
        }
        Layout::Single(_) => panic!("state/ and intent/ are the single-backend layout"),
    }
    let mut files = Files::new();
    files.insert("refs/@/custom/x/@object.json".into(), b"{}".to_vec());
    assert!(matches!(split_layout("src", files), Ok(Layout::Single(_))));
    assert!(matches!(
        split_layout("src", Files::new()),
        Err(ImportError::NotAStore { .. })
    ));
}

/// Builds prepared stores from (ref, item) lists.
fn prepared(state: &[(&str, Item)], intent: Option<&[(&str, Item)]>) -> Prepared {
    let to_store = |kind, items: &[(&str, Item)]| ParsedStore {
        label: format!("{kind}-src"),
        kind,
        items: items.iter().map(|(k, v)| (r(k), v.clone())).collect(),
        back_refs: BTreeMap::new(),
    };
    map_stores(
        to_store(StoreKind::State, state),
        intent.map(|i| to_store(StoreKind::Intent, i)),
        Vec::new(),
        Vec::new(),
    )
}

fn applied(p: &Prepared) -> BTreeMap<String, Value> {
    p.state
        .transaction()
        .ops()
        .iter()
        .filter_map(|op| match op {
            crate::store::Op::Set {
                area: crate::store::Area::Applied,
                r,
                value,
            } => Some((r.to_string(), value.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_applied_mirror_follows_the_original_diff() {
    let summary = json!({"run_ref": "d/-/a/@r2/deploy/x/1", "type": "up", "release": "d/-/a/@r2", "input": {"n": {"value": 1}}, "output": {}});
    let state = [
        (
            "d/-/a/@r2",
            Item::Doc(json!({"commit": "c", "package": {}})),
        ),
        ("d/-/a/@v2", Item::Link(r("d/-/a/@r2"))),
        ("d/-/a/@r2/deploy/x", Item::Doc(summary)),
        ("d/-/a/@/deploy/x", Item::Link(r("d/-/a/@r2/deploy/x"))),
        ("d/-/a/@r2/custom/ok", Item::Doc(json!("yes"))),
        ("@/custom/changed", Item::Doc(json!(1))),
        ("@/custom/gone", Item::Doc(json!("old"))),
        ("@/custom/deep/gone", Item::Doc(json!("old"))),
        (
            "@/environment/x",
            Item::Doc(json!({"name": "x", "attributes": {}})),
        ),
    ];
    let intent = [
        (
            "d/-/a/@/deploy/x",
            Item::Doc(json!({"release": "d/-/a/@r2", "input": {"n": {"value": 1}}})),
        ),
        ("d/-/a/@v2/custom/ok", Item::Doc(json!("yes"))),
        ("@/custom/changed", Item::Doc(json!(2))),
        ("@/custom/new", Item::Doc(json!(3))),
        (
            "@/environment/x",
            Item::Doc(json!({"name": "x", "attributes": {}})),
        ),
    ];
    let p = prepared(&state, Some(&intent));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(
        applied(&p),
        BTreeMap::from([
            // In sync: the intent document.
            (
                "d/-/a/@/deploy/x".to_string(),
                json!({"release": "d/-/a/@r2", "input": {"n": {"value": 1}}})
            ),
            ("d/-/a/@v2/custom/ok".to_string(), json!("yes")),
            (
                "@/environment/x".to_string(),
                json!({"name": "x", "attributes": {}})
            ),
            // Pending update: state's version.
            ("@/custom/changed".to_string(), json!(1)),
            // Pending delete: state's version (multi-segment custom state is not diffed
            // by the original, so it is left alone).
            ("@/custom/gone".to_string(), json!("old")),
        ])
    );
    assert_eq!(p.state.counts[&DocKind::AppliedInSync], 3);
    assert_eq!(p.state.counts[&DocKind::AppliedPending], 2);
}

#[test]
fn a_deploy_intent_for_another_release_is_pending() {
    let state = [
        (
            "d/-/a/@r1/deploy/x",
            Item::Doc(json!({"release": "d/-/a/@r1", "input": {}})),
        ),
        ("d/-/a/@/deploy/x", Item::Link(r("d/-/a/@r1/deploy/x"))),
    ];
    let intent = [(
        "d/-/a/@/deploy/x",
        Item::Doc(json!({"release": "d/-/a/@r2", "input": {}})),
    )];
    let p = prepared(&state, Some(&intent));
    assert_eq!(
        applied(&p),
        BTreeMap::from([(
            "d/-/a/@/deploy/x".to_string(),
            json!({"release": "d/-/a/@r1", "input": {}})
        )])
    );
}

#[test]
fn without_an_intent_store_nothing_is_applied() {
    let p = prepared(&[("@/custom/x", Item::Doc(json!(1)))], None);
    assert!(applied(&p).is_empty());
    assert!(p.intent.is_none());
}

#[test]
fn repo_configs_of_intent_move_to_state() {
    let doc = json!({"Remotes": ["https://h/a.git"], "source": "eA=="});
    let state = [("d/-/repo.ocu.star/@c1", Item::Doc(doc.clone()))];
    let intent = [
        ("d/-/repo.ocu.star/@c1", Item::Doc(doc.clone())),
        ("d/-/repo.ocu.star/@c2", Item::Doc(doc.clone())),
        (
            "d/-/repo.ocu.star/@",
            Item::Link(r("d/-/repo.ocu.star/@c2")),
        ),
        ("d/-/a/@r1/task/x", Item::Doc(json!({}))),
        ("@/custom/l", Item::Link(r("@/custom/m"))),
    ];
    let p = prepared(&state, Some(&intent));
    let state_refs: Vec<String> = p
        .state
        .transaction()
        .ops()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        state_refs,
        [
            "update d/-/repo.ocu.star/@c1",
            "update d/-/repo.ocu.star/@c2",
            "link d/-/repo.ocu.star/@ to d/-/repo.ocu.star/@c2"
        ]
    );
    let intent_plan = p.intent.as_ref().expect("intent");
    assert!(intent_plan.transaction().is_empty());
    // Counted once, where they came from.
    assert_eq!(p.state.counts[&DocKind::RepoConfig], 1);
    assert_eq!(intent_plan.counts[&DocKind::RepoConfig], 2);
    let messages: Vec<&str> = p.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "a link in the intent store has no equivalent here",
            "not an intent document (environment, custom state or deploy intent)"
        ]
    );
}

#[test]
fn differing_repo_config_copies_are_a_problem() {
    let p = prepared(
        &[(
            "d/-/repo.ocu.star/@c1",
            Item::Doc(json!({"source": "eA=="})),
        )],
        Some(&[(
            "d/-/repo.ocu.star/@c1",
            Item::Doc(json!({"source": "eQ=="})),
        )]),
    );
    assert_eq!(p.problems.len(), 1);
    assert!(
        p.problems[0].message.contains("differs"),
        "{:?}",
        p.problems
    );
}

#[test]
fn push_indexes_gain_our_packages() {
    let body = json!({"commit": "c2", "previous_commit": "c1", "release_configs": {
        "demo/-/app.ocu.star": {"watch_files": ["src"]},
        "demo/-/b/x.ocu.star": {"watch_files": null},
    }});
    let mut expected = body.clone();
    expected["packages"] = json!({
        "app.ocu.star": {"watch_files": ["src"]},
        "b/x.ocu.star": {"watch_files": []},
    });
    assert_eq!(convert_push_index(&body), expected);
    // Read by push as our index.
    let index: crate::engine::PushIndex =
        serde_json::from_value(convert_push_index(&body)).expect("our push index");
    assert_eq!(index.packages["app.ocu.star"].watch_files, ["src"]);
    assert!(is_push_index(&r("demo/-/repo.ocu.star/@c2/push/index")));
    assert!(!is_push_index(&r("@/push/intent_commit")));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z0-9 :/@#.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn envelope_bodies_come_through_unchanged(body in json_value()) {
        let store = raw("src", 3, "state", &[("refs/@/custom/x/@object.json", envelope_ref(body.clone()))]);
        let (parsed, problems, _) = parse(&store, StoreKind::State);
        prop_assert!(problems.is_empty());
        prop_assert_eq!(parsed.items.get(&r("@/custom/x")), Some(&Item::Doc(body)));
    }

    #[test]
    fn arbitrary_envelope_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let store = raw("src", 3, "state", &[("refs/@/custom/x/@object.json", bytes)]);
        let (parsed, problems, _) = parse(&store, StoreKind::State);
        prop_assert_eq!(parsed.items.len() + problems.len(), 1);
    }
}

#[test]
fn a_null_body_is_a_null_document() {
    let store = raw(
        "src",
        3,
        "state",
        &[(
            "refs/@/custom/x/@object.json",
            b"{\"kind\": \"ref\", \"body\": null}".to_vec(),
        )],
    );
    let (parsed, problems, _) = parse(&store, StoreKind::State);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        parsed.items.get(&r("@/custom/x")),
        Some(&Item::Doc(Value::Null))
    );
}
