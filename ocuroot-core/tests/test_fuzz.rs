//! The fuzz campaign over the parsers of outside input that need a store (issue 12, see
//! `docs/fuzzing.md`): intent and state documents, the values of `ocuroot state set -f
//! json|yaml|starlark`, and store trees made by hand (odd names, symlinks, gitlinks, files
//! where folders are expected), with the folder judgement every tree reader makes as a
//! cheap oracle beside them. The ref parser and the YAML loader are fuzzed beside their
//! code (`refs/mod.rs`, `yaml.rs`).
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's default of 256 in CI; the folder
//! oracle at least 1,000,000, about 12 s of CPU). The
//! properties: nothing panics, nothing fails inside Git (every problem is a user-facing
//! result naming the ref or path), a ref a reader finds in a tree is read from where it
//! was found, and whatever is accepted for writing renders to a canonical document within
//! the limits that reads back as the same value.

use std::sync::LazyLock;

use gix::objs::tree::EntryKind;
use ocuroot_core::intent;
use ocuroot_core::refs::{Glob, Ref};
use ocuroot_core::store::{Area, MatchOptions, Store, StoreError, StoreKind, Transaction};
use ocuroot_core::{limits, yaml};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use crate::common::open;

/// One hub per test thread: a state branch with an environment and a release, and an
/// intent branch that the tree fuzzing rewrites.
struct Hub {
    _dir: tempfile::TempDir,
    state: Store,
    intent: Store,
    /// The hub opened once, for writing the fuzzed trees.
    repo: gix::ThreadSafeRepository,
    /// The seeded intent commit every tree case starts from.
    seed: gix::ObjectId,
}

fn hub() -> Hub {
    // The tree fuzzing writes a few objects and moves a branch per case: on a RAM disk
    // where there is one, that is a fraction of the cost on a shared disk.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let path = dir.path().join("store.git");
    let state = open(&path, "state", "", StoreKind::State);
    let intent = open(&path, "intent", "", StoreKind::Intent);
    let mut tx = Transaction::new("seed");
    tx.set(&r("@/environment/staging"), json!({"name": "staging"}));
    tx.set(
        &r("demo/-/app.ocu.star/@r1"),
        json!({"package": {"phases": []}}),
    );
    state.commit(&tx).expect("seed state");
    let mut tx = Transaction::new("seed");
    tx.set(&r("@/custom/seed"), json!(1));
    intent.commit(&tx).expect("seed intent");
    let repo = gix::open(&path).expect("open hub");
    let seed = repo
        .find_reference("refs/heads/intent")
        .expect("intent branch")
        .peel_to_id()
        .expect("seed")
        .detach();
    let repo = repo.into_sync();
    Hub {
        _dir: dir,
        state,
        intent,
        repo,
        seed,
    }
}

fn r(s: &str) -> Ref {
    s.parse().expect("ref")
}

thread_local! {
    static HUB: Hub = hub();
    /// The hub of the tree fuzzing and the cases it has seen: every case leaves a few
    /// objects behind, so a long run starts a fresh hub every [`TREE_CASES_PER_HUB`].
    static TREE_HUB: std::cell::RefCell<(Hub, usize)> = std::cell::RefCell::new((hub(), 0));
}

/// The intent refs the document fuzzing writes to.
const INTENT_REFS: &[&str] = &[
    "@/environment/staging",
    "@/environment/bad",
    "@/custom/x",
    "@/custom/a/b",
    "demo/-/app.ocu.star/@r1/custom/approval",
    "demo/-/app.ocu.star/@r9/custom/approval",
    "demo/-/app.ocu.star/@/deploy/staging",
    "demo/-/app.ocu.star/@r1",
];

/// JSON values with the shapes intent documents have, plus hostile ones: deep nesting,
/// numbers no document can hold, long strings.
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9]{19,32}".prop_map(|d| serde_json::from_str(&d).unwrap_or(Value::Null)),
        Just(serde_json::from_str::<Value>("1e400").expect("arbitrary precision")),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["staging", "bad", "demo/-/app.ocu.star/@r1", "r1"])
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    let tree = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["name", "attributes", "release", "input", "type", "x"])
                    .prop_map(str::to_owned),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        4 => tree,
        1 => (100usize..300).prop_map(|n| {
            let mut v = json!(1);
            for _ in 0..n {
                v = Value::Array(vec![v]);
            }
            v
        }),
    ]
}

/// Checks what `state set` checks before writing; an accepted value must render within
/// the limits and read back unchanged.
fn check_accepted(target: &str, value: &Value, state: &Store) -> Result<(), TestCaseError> {
    if intent::check_write(&r(target), value, state).is_ok() {
        let text = yaml::to_canonical(value)
            .map_err(|e| TestCaseError::fail(format!("accepted but not renderable: {e}")))?;
        prop_assert!(text.len() <= limits::current().max_document_bytes);
        let back: Value = yaml::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("accepted but unreadable: {e}")))?;
        // Numbers keep their value, not their spelling (`1e2` is stored as `100.0`).
        prop_assert!(
            same_value(&back, value),
            "{:?} read back as {:?}",
            value,
            back
        );
        prop_assert_eq!(yaml::to_canonical(&back).ok(), Some(text));
    }
    Ok(())
}

static TOKENS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    vec![
        "[",
        "]",
        "{",
        "}",
        "(",
        ")",
        ",",
        ":",
        "1",
        "2.5",
        "1e400",
        "123456789012345678901234567890",
        "\"s\"",
        "True",
        "None",
        "x",
        "for",
        "in",
        "range(3)",
        "range(100000)",
        "*",
        "+",
        "-",
        "\"a\" * 100",
        "struct(k = 1)",
        "json.decode(\"[1]\")",
        "shell(\"true\")",
        "env()",
        "read(\"x\")",
        "http.get(\"http://127.0.0.1:9/\")",
        "secret(\"s\")",
        "environment(\"e\")",
        "lambda: 1",
        "[x]",
        "def",
        "if",
        "else",
        " ",
    ]
});

/// Returns true if `a` and `b` are the same value, numbers compared by value.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x
                .as_u64()
                .zip(y.as_u64())
                .map_or(x.as_f64() == y.as_f64(), |(i, j)| i == j),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_value(a, b)))
        }
        _ => a == b,
    }
}

/// Runs a property over `PROPTEST_CASES` cases (256 by default) on one thread with a
/// main thread's stack: deep values recurse in serde_json's own drop and serializer, as
/// they would in the CLI's main thread. The strategy is built on that thread, and the
/// thread's hub is made once for all cases.
fn fuzz<S: Strategy>(
    strategy: impl FnOnce() -> S + Send,
    test: impl Fn(S::Value) -> Result<(), TestCaseError> + Send + Sync,
) {
    fuzz_with(None, strategy, test);
}

/// [`fuzz`] with at least `min_cases` cases (more if `PROPTEST_CASES` says so).
fn fuzz_with<S: Strategy>(
    min_cases: Option<u32>,
    strategy: impl FnOnce() -> S + Send,
    test: impl Fn(S::Value) -> Result<(), TestCaseError> + Send + Sync,
) {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn_scoped(scope, || {
                let config = ProptestConfig::default();
                let mut runner = TestRunner::new(ProptestConfig {
                    failure_persistence: None,
                    cases: config.cases.max(min_cases.unwrap_or(0)),
                    ..config
                });
                if let Err(e) = runner.run(&strategy(), test) {
                    panic!("{e}");
                }
            })
            .expect("spawn")
            .join()
            .expect("the property holds");
    });
}

// Intent and state documents: check_write never panics, and only writes what reads back.
#[test]
fn fuzz_intent_documents() {
    fuzz(
        || (prop::sample::select(INTENT_REFS), arb_value()),
        |(target, value)| HUB.with(|hub| check_accepted(target, &value, &hub.state)),
    );
}

// `state set -f json`: the text as typed.
#[test]
fn fuzz_state_set_json() {
    fuzz(
        || {
            prop_oneof![
                "[\\[\\]{}:,\"0-9.eE+ -a]{0,40}",
                "[0-9]{15,40}(\\.[0-9]{0,30})?(e[+-]?[0-9]{1,4})?",
                (100usize..200).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
            ]
        },
        |text| {
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                HUB.with(|hub| check_accepted("@/custom/x", &value, &hub.state))?;
            }
            Ok(())
        },
    );
}

// `state set -f yaml`.
#[test]
fn fuzz_state_set_yaml() {
    fuzz(
        || {
            prop_oneof![
                "[\\[\\]{}:,#&*!|>'\"\n -a1.e+~]{0,60}",
                "[0-9]{15,40}(\\.[0-9]{0,30})?(e[+-]?[0-9]{1,4})?",
                (100usize..200).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
            ]
        },
        |text| {
            if let Ok(value) = yaml::from_str::<Value>(&text) {
                HUB.with(|hub| check_accepted("@/custom/x", &value, &hub.state))?;
            }
            Ok(())
        },
    );
}

// `state set -f starlark`: expressions made of tokens, host builtins included; none of
// them may reach the host, and whatever evaluates must be writable.
#[test]
fn fuzz_state_set_starlark() {
    fuzz(
        || prop::collection::vec(prop::sample::select(TOKENS.clone()), 0..12),
        |tokens| {
            let expr = tokens.join(" ");
            if let Ok(value) = ocuroot_core::sdk::eval_expression_json(&expr) {
                HUB.with(|hub| check_accepted("@/custom/x", &value, &hub.state))?;
            }
            Ok(())
        },
    );
}

// Store trees made by hand: odd names, symlinks, gitlinks, files where folders are
// expected, folders where files are. Every reader answers with documents or problems
// naming a path, never a Git error.
#[test]
fn fuzz_store_trees() {
    fuzz(
        || prop::collection::vec(tree_entry(), 1..6),
        |entries| {
            TREE_HUB.with(|cell| {
                let mut cell = cell.borrow_mut();
                if cell.1 == TREE_CASES_PER_HUB {
                    *cell = (hub(), 0);
                }
                cell.1 += 1;
                fuzz_tree(&cell.0, &entries)
            })
        },
    );
}

// The judgement every tree reader makes of a folder (`View::files`, the intent diff,
// `match`): which ref, if any, a folder of a hand-made tree names. A cheap oracle beside
// `fuzz_store_trees`, run with a million cases in CI: never a panic, and a folder that
// names a ref is exactly that ref's folder (so its document is read where it was written)
// and the ref is storable and round-trips.
#[test]
fn fuzz_store_tree_folders() {
    fuzz_with(
        Some(TREE_FOLDER_CASES),
        || {
            prop::collection::vec(
                // Names a Git tree can hold: not empty, no `/` or NUL.
                prop_oneof![4 => segment(), 1 => "[^/\u{0}]{1,8}"],
                0..8,
            )
        },
        |segs| {
            let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
            if let Ok(r) = Ref::from_storage_segments(&segs) {
                prop_assert_eq!(r.storage_segments(), &segs[..]);
                prop_assert!(r.ensure_storable().is_ok());
                prop_assert_eq!(r.to_string().parse::<Ref>().ok(), Some(r.clone()));
                let dir = ocuroot_core::store::layout::ref_dir(Area::Records, &r);
                prop_assert_eq!(&dir[0], "refs");
                prop_assert_eq!(&dir[1..], &segs[..]);
            }
            Ok(())
        },
    );
}

/// The cases of [`fuzz_store_tree_folders`]: a million, unless `PROPTEST_CASES` asks for
/// more.
const TREE_FOLDER_CASES: u32 = 1_000_000;

/// The cases of `fuzz_store_trees` one hub serves (its loose objects stay in the
/// thousands of files, a few dozen MB on a RAM disk).
const TREE_CASES_PER_HUB: usize = 2_000;

/// A path segment a hand edit could make.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "@",
            "custom",
            "environment",
            "demo",
            "-",
            "app.ocu.star",
            "@r1",
            "@",
            "deploy",
            "staging",
            "#.yaml",
            "#.link",
            "#x",
            "-x",
            ".gitx",
            "x=y",
            "a",
            "b",
            "..x",
            // Old and loose spellings of ref parts (finding 5).
            "+",
            "+r1",
            "call",
            "task",
        ])
        .prop_map(str::to_owned),
        "[a-z#@.=-]{1,6}",
    ]
}

/// (path below `refs/`, mode, content).
fn tree_entry() -> impl Strategy<Value = (Vec<String>, EntryKind, String)> {
    (
        prop::collection::vec(segment(), 1..6),
        prop::sample::select(vec![
            EntryKind::Blob,
            EntryKind::Blob,
            EntryKind::BlobExecutable,
            EntryKind::Link,
            EntryKind::Commit,
        ]),
        prop_oneof![
            Just("name: staging\n".to_owned()),
            Just("1\n".to_owned()),
            Just("@/custom/x\n".to_owned()),
            Just("a: [unclosed\n".to_owned()),
            "[a-z:\\[\\] \n]{0,20}",
        ],
    )
}

fn fuzz_tree(hub: &Hub, entries: &[(Vec<String>, EntryKind, String)]) -> Result<(), TestCaseError> {
    let repo = hub.repo.to_thread_local();
    // Every case starts from the seed, even after a failing one (shrinking must see the
    // tree of the case it shrinks, not what a failed case left behind).
    let base = repo.find_commit(hub.seed).expect("seed commit");
    let mut editor = repo
        .edit_tree(base.tree_id().expect("tree"))
        .expect("editor");
    for (segs, kind, content) in entries {
        let path = format!("refs/{}", segs.join("/"));
        let id = match kind {
            // A gitlink names a commit of another repository: any id will do.
            EntryKind::Commit => base.id,
            _ => repo.write_blob(content.as_bytes()).expect("blob").detach(),
        };
        // gix refuses some paths (as `git` would); a hand edit could not make them either.
        if editor.upsert(path.as_str(), *kind, id).is_err() {
            return Ok(());
        }
    }
    // gix validates names again when writing (`.`, `..`): skip what it refuses.
    let Ok(tree) = editor.write().map(|t| t.detach()) else {
        return Ok(());
    };
    let commit = repo.new_commit("fuzz", tree, [base.id]).expect("commit").id;
    repo.reference(
        "refs/heads/intent",
        commit,
        gix::refs::transaction::PreviousValue::Any,
        "fuzz",
    )
    .expect("move intent");
    let result = judge(hub, entries);
    // Back to the seed for the next case.
    repo.reference(
        "refs/heads/intent",
        base.id,
        gix::refs::transaction::PreviousValue::Any,
        "fuzz reset",
    )
    .expect("reset intent");
    result
}

/// Reads the fuzzed intent tree with every reader: documents or problems, never a Git
/// error; what a reader finds is where it says.
fn judge(hub: &Hub, entries: &[(Vec<String>, EntryKind, String)]) -> Result<(), TestCaseError> {
    let internal = |what: &str, e: &StoreError| {
        if matches!(e, StoreError::Git { .. }) {
            Err(TestCaseError::fail(format!(
                "{what}: internal error {e} for {entries:?}"
            )))
        } else {
            Ok(())
        }
    };
    let view = hub.intent.view().expect("view");
    if let Err(e) = intent::check(&view, &hub.state) {
        internal("check", &e)?;
    }
    match intent::check_changes(&hub.intent, &hub.state) {
        Ok(_) => {}
        Err(e) => internal("check_changes", &e)?,
    }
    // The documents are read through the one view, as commands do (its caches keep a
    // case cheap enough for the long run).
    match ocuroot_core::store::diff_intent(&hub.intent, &hub.state) {
        Ok(diff) => {
            for d in diff {
                match view.entry(Area::Records, &d.r) {
                    Err(e) => internal("entry", &e)?,
                    // What the diff offers to create or update is where the ref says.
                    Ok(None) if d.kind != ocuroot_core::store::DiffKind::Delete => {
                        return Err(TestCaseError::fail(format!(
                            "the diff names {} but nothing is there, for {entries:?}",
                            d.r
                        )));
                    }
                    Ok(_) => {}
                }
            }
        }
        Err(e) => internal("diff", &e)?,
    }
    let all = Glob::new("**").expect("glob");
    match view.match_refs(Area::Records, &[all], MatchOptions::default()) {
        Ok(refs) => {
            for found in refs {
                // A ref `match` finds is there (a document or a link, which may dangle).
                match view.entry(Area::Records, &found) {
                    Err(e) => internal("entry", &e)?,
                    Ok(None) => {
                        return Err(TestCaseError::fail(format!(
                            "match found {found} but nothing is there, for {entries:?}"
                        )));
                    }
                    Ok(Some(_)) => {}
                }
                if let Err(e) = view.get(&found) {
                    internal("get", &e)?;
                }
            }
        }
        Err(e) => internal("match", &e)?,
    }
    Ok(())
}
