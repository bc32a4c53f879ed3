//! Tests of repo config evaluation, settings and repo naming.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use test_case::test_case;

use super::*;
use crate::sdk::CollectingSink;
use crate::sdk::EvalError;

#[test_case("https://github.com/a/b.git", "github.com/a/b"; "https with .git")]
#[test_case("https://github.com/a/b", "github.com/a/b"; "https")]
#[test_case("https://user:pw@github.com:8443/a/b.git/", "github.com/a/b"; "credentials and port")]
#[test_case("ssh://git@github.com/a/b.git", "github.com/a/b"; "ssh url")]
#[test_case("git@github.com:a/b.git", "github.com/a/b"; "scp like")]
#[test_case("github.com:a/b", "github.com/a/b"; "scp like without user")]
#[test_case("ssh://user@fake-host/abs/path.git", "fake-host/abs/path"; "ssh url absolute path")]
#[test_case("ssh://git@host:2222/a/b.git", "host/a/b"; "ssh url with port")]
#[test_case("user@fake-host:/abs/path.git", "fake-host/abs/path"; "scp like absolute path")]
#[test_case("http://ci:tok@127.0.0.1:8080/store.git", "127.0.0.1/store"; "http with token and port")]
#[test_case("file:///tmp/x/repo.git", "tmp/x/repo"; "file url")]
#[test_case("/tmp/x/repo.git", "tmp/x/repo"; "absolute local path")]
#[test_case("../x/repo", "../x/repo"; "relative local path")]
fn repo_names(url: &str, expected: &str) {
    assert_eq!(repo_name_from_url(url), expected);
}

#[test]
fn finds_repo_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = dir.path().join("a/b/c");
    std::fs::create_dir_all(&deep).expect("mkdir");
    assert_eq!(find_repo_root(&deep), None);
    std::fs::write(dir.path().join("a/repo.ocu.star"), "").expect("write");
    assert_eq!(find_repo_root(&deep), Some(dir.path().join("a")));
}

struct Eval {
    result: Result<RepoConfig, ConfigError>,
    lines: Vec<String>,
}

fn eval_with_env(source: &str, env: &[(&str, &str)]) -> Eval {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = HostContext {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        cwd: dir.path().to_path_buf(),
    };
    let sink = Arc::new(CollectingSink::default());
    let result = evaluate_repo_config(Path::new("repo.ocu.star"), source, &host, sink.clone());
    Eval {
        result,
        lines: sink.lines(),
    }
}

fn eval(source: &str) -> Result<RepoConfig, ConfigError> {
    eval_with_env(source, &[]).result
}

fn err(source: &str) -> String {
    eval(source).expect_err("should fail").to_string()
}

#[test]
fn builtins_are_recorded() {
    let e = eval_with_env(
        r#"
ocuroot("0.3.14")
repo_alias("myrepo")
remotes(["https://a/b.git", "git@c:d.git"])
store.set(store.fs(".store"))
def t(commit):
    print("trigger", commit)
trigger(t)
print("configured")
"#,
        &[],
    );
    let config = e.result.expect("evaluates");
    assert_eq!(e.lines, vec!["configured"]);
    assert_eq!(config.sdk_version, "0.3.0");
    assert_eq!(config.repo_alias.as_deref(), Some("myrepo"));
    assert_eq!(
        config.remotes,
        Some(vec!["https://a/b.git".to_owned(), "git@c:d.git".to_owned()])
    );
    assert_eq!(
        config.stores,
        Some(StoreSelection {
            state: StoreSpec::Fs {
                path: ".store".to_owned()
            },
            intent: None
        })
    );
    assert!(config.release_ignore.is_empty());
    assert!(config.source.contains("repo_alias(\"myrepo\")"));

    let trigger = config.trigger.expect("trigger registered");
    let sink = Arc::new(CollectingSink::default());
    trigger
        .call(
            "abc123",
            Path::new("/"),
            &HostContext::default(),
            sink.clone(),
        )
        .expect("trigger runs");
    assert_eq!(sink.lines(), vec!["trigger abc123"]);
}

#[test]
fn store_git_and_separate_intent() {
    let config = eval(
        r#"
store.set(
    store.git("https://x/state.git", branch = "state", support_files = {"a.yml": "x"}),
    intent = store.git("https://x/intent.git", create_branch = False),
)
"#,
    )
    .expect("evaluates");
    let mut support = BTreeMap::new();
    support.insert("a.yml".to_owned(), "x".to_owned());
    assert_eq!(
        config.stores,
        Some(StoreSelection {
            state: StoreSpec::Git {
                remote_url: "https://x/state.git".to_owned(),
                branch: Some("state".to_owned()),
                create_branch: true,
                support_files: support,
            },
            intent: Some(StoreSpec::Git {
                remote_url: "https://x/intent.git".to_owned(),
                branch: None,
                create_branch: false,
                support_files: BTreeMap::new(),
            }),
        })
    );
}

#[test]
fn store_values_are_dicts() {
    let config = eval(
        r#"
F = store.fs("p")
G = store.git("u")
ok = F == {"fs": {"path": "p"}} and G["git"]["branch"] == None and G["git"]["create_branch"]
repo_alias("ok" if ok else "bad")
"#,
    )
    .expect("evaluates");
    assert_eq!(config.repo_alias.as_deref(), Some("ok"));
}

#[test]
fn store_set_twice_fails() {
    let msg = err("store.set(store.fs('a'))\nstore.set(store.fs('b'))\n");
    assert!(msg.contains("store already set"), "{msg}");
    assert!(msg.contains("repo.ocu.star:2:1"), "{msg}");
}

#[test]
fn empty_alias_fails() {
    let msg = err("repo_alias(\"\")\n");
    assert!(msg.contains("alias cannot be empty"), "{msg}");
}

#[test]
fn error_has_file_line_and_column() {
    let result = eval("x = 1\n\ny = x + \"a\"\n");
    match result.expect_err("fails") {
        ConfigError::Eval(EvalError::Eval { file, rendered }) => {
            assert_eq!(file, Path::new("repo.ocu.star"));
            assert!(rendered.contains("repo.ocu.star:3:5"), "{rendered}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test_case("environments()", "environments"; "environments")]
#[test_case("ref('./x')", "ref"; "ref")]
#[test_case("input(ref = 'x')", "input"; "input")]
#[test_case("task(print, name = 'x')", "task"; "task")]
#[test_case("call(print, 'x')", "call"; "call")]
#[test_case("deploy(up = print)", "deploy"; "deploy")]
#[test_case("phase('x', [])", "phase"; "phase")]
fn unavailable_builtins(call: &str, name: &str) {
    let msg = err(&format!("{call}\n"));
    assert!(
        msg.contains(&format!(
            "{name} is not available under the current configuration"
        )),
        "{msg}"
    );
}

#[test]
fn globals_overlay_builtins() {
    let config = eval(
        // `repo_alias("x")` cannot be combined with a `repo_alias` global: the global shadows
        // the builtin in the whole file, as in Go Starlark.
        r#"
remotes(["a"])
store.set(store.fs("builtin"))
repo_alias = "from_global"
repo_remotes = ["b", "c"]
state_store = store.git("https://s", branch = "state")
intent_store = store.git("https://s", branch = "intent")
release_ignore = ["tests/**"]
"#,
    )
    .expect("evaluates");
    assert_eq!(config.repo_alias.as_deref(), Some("from_global"));
    assert_eq!(config.remotes, Some(vec!["b".to_owned(), "c".to_owned()]));
    let stores = config.stores.expect("stores");
    assert!(
        matches!(stores.state, StoreSpec::Git { ref branch, .. } if branch.as_deref() == Some("state"))
    );
    assert!(
        matches!(stores.intent, Some(StoreSpec::Git { ref branch, .. }) if branch.as_deref() == Some("intent"))
    );
    assert_eq!(config.release_ignore, vec!["tests/**".to_owned()]);
}

#[test]
fn none_globals_leave_settings_unchanged() {
    let config = eval("repo_alias(\"kept\")\nstore.set(store.fs('s'))\nstate_store = None\n")
        .expect("evaluates");
    // The global `repo_alias` is the builtin, not a module variable, so nothing overrides.
    assert_eq!(config.repo_alias.as_deref(), Some("kept"));
    assert!(config.stores.is_some());
}

#[test_case("repo_alias = 3\n", "invalid setting repo_alias: expected a string, got int"; "alias type")]
#[test_case("repo_remotes = 'a'\n", "invalid setting repo_remotes: expected a list of strings, got string"; "remotes type")]
#[test_case("release_ignore = [1]\n", "invalid setting release_ignore: expected a list of strings, got list"; "ignore type")]
#[test_case("state_store = 'x'\n", "invalid setting state_store: expected a store (store.fs(...) or store.git(...)), got string"; "store type")]
#[test_case("intent_store = store.fs('i')\n", "invalid setting intent_store: an intent store needs a state store (state_store or store.set)"; "intent without state")]
fn bad_globals(source: &str, expected: &str) {
    assert_eq!(err(source), expected);
}

#[test]
fn env_overrides() {
    let e = eval_with_env(
        "repo_alias = \"file\"\nrelease_ignore = ['x']\n",
        &[
            ("OCU_CFG_repo_alias", "alternate"),
            ("OCU_CFG_repo_remotes", "[\"r1\", \"r2\"]"),
            ("OCU_CFG_release_ignore", "a/**, b/**"),
        ],
    );
    let config = e.result.expect("evaluates");
    assert_eq!(config.repo_alias.as_deref(), Some("alternate"));
    assert_eq!(config.remotes, Some(vec!["r1".to_owned(), "r2".to_owned()]));
    assert_eq!(
        config.release_ignore,
        vec!["a/**".to_owned(), "b/**".to_owned()]
    );

    let bad = eval_with_env("", &[("OCU_CFG_repo_remotes", "[1]")]);
    let msg = bad.result.expect_err("bad json").to_string();
    assert!(
        msg.starts_with("invalid setting OCU_CFG_repo_remotes: expected a JSON list of strings"),
        "{msg}"
    );
}

#[test]
fn host_and_env_are_available() {
    let e = eval_with_env(
        "a = env()['X'] + host.env()['X']\nprint(a, os() == host.os())\n",
        &[("X", "y")],
    );
    e.result.expect("evaluates");
    assert_eq!(e.lines, vec!["yy True"]);
}

// See: issue 12 (limits on `store.git(support_files = ...)`): refused at the call, with the
// file, line and the support file named, whether made by `store.git` or by hand.
#[test]
fn issue_12_support_files_are_checked_where_the_store_is_made() {
    let msg = err("x = 1\nstore.set(store.git(\"u\", support_files = {\".git/config\": \"x\"}))\n");
    assert!(msg.contains("repo.ocu.star:2:11"), "{msg}");
    assert!(msg.contains("support file \".git/config\""), "{msg}");
    let msg = err(
        "x = 1\n\nstore.set({\"git\": {\"remote_url\": \"u\", \"support_files\": {\"refs/x\": \"y\"}}})\n",
    );
    assert!(msg.contains("repo.ocu.star:3:1"), "{msg}");
    assert!(msg.contains("support file \"refs/x\""), "{msg}");
}
