//! Transports beyond the conformance suite: credentials over smart HTTP (a token in the URL
//! works and never shows, a wrong one fails naming the remote), pushes big enough for Git to
//! send them chunked, and `ssh://` / scp-like URLs through a fake `ssh`.
//!
//! Credential helpers need Git configuration from the environment, which the core tests
//! leave alone: they are tested end to end in the CLI's `test_remote.rs`.

use std::path::Path;
use std::time::Duration;

use ocuroot_core::store::{Store, StoreError, StoreKind, Transaction, remote};
use serde_json::json;
use test_case::test_case;

use crate::common::{
    GitHttp, bare_remote, fake_ssh, git, open_remote, preconfigure_ssh_cache, r, remote_options,
    ssh_log,
};

const USER: &str = "ci";
const TOKEN: &str = "secret-token-4711";

fn set(store: &Store, message: &str, reference: &str, value: serde_json::Value) {
    let mut tx = Transaction::new(message);
    tx.set(&r(reference), value);
    store.commit(&tx).expect("commit");
}

/// Every file below `dir` whose bytes contain `needle` (loose files only: config, refs,
/// logs, `FETCH_HEAD`; object contents are checked through the remote).
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

/// Every object of the repository `repo`, printed (commit messages, trees, blobs).
fn all_objects(repo: &Path) -> String {
    git(
        repo,
        &["cat-file", "--batch-all-objects", "--batch", "--unordered"],
    )
}

fn assert_no_token(text: &str) {
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
}

#[test]
fn http_token_in_the_url_works_and_never_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = dir.path().join("served");
    let bare = served.join("store.git");
    bare_remote(&bare);
    let server = GitHttp::with_auth(&served, USER, TOKEN);
    let url = server.url_with_credentials("store.git", USER, TOKEN);
    let shown = format!("http://***@127.0.0.1:{}/store.git", server.port);

    let a = open_remote(
        &dir.path().join("home-a"),
        &url,
        "state",
        "",
        StoreKind::State,
    );
    set(&a, "first write", "@/custom/a", json!(1));
    // Another job, with its own cache, reads and writes through the same URL.
    let b = open_remote(
        &dir.path().join("home-b"),
        &url,
        "state",
        "",
        StoreKind::State,
    );
    assert_eq!(b.get(&r("@/custom/a")).expect("a"), json!(1));
    set(&b, "second write", "@/custom/b", json!(2));
    assert_eq!(a.get(&r("@/custom/b")).expect("b"), json!(2));
    let requests = server.requests();
    assert!(
        requests.iter().any(|q| q.status == 401 && q.user.is_none()),
        "git first asks without credentials: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|q| q.target.ends_with("git-receive-pack")
                && q.status == 200
                && q.user.as_deref() == Some(USER)),
        "{requests:?}"
    );
    assert!(a.location().contains(&shown), "{}", a.location());
    assert_no_token(&a.location());

    // The server refuses a push: the error names the remote, never the token.
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'writes are frozen' >&2\nexit 1\n").expect("hook");
    let mut perms = std::fs::metadata(&hook).expect("hook").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).expect("chmod");
    let mut tx = Transaction::new("refused");
    tx.set(&r("@/custom/c"), json!(3));
    let err = a.commit(&tx).expect_err("refused push");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
    assert!(text.contains(&shown), "{text}");
    assert!(text.contains("pre-receive hook declined"), "{text}");
    assert_no_token(&text);
    assert_no_token(&format!("{err:?}"));
    std::fs::remove_file(&hook).expect("remove hook");

    // The token is nowhere in the remote (commit messages, documents) nor in the caches
    // (the URL is passed to `git` on its command line, never written to a cache's config).
    assert_no_token(&all_objects(&bare));
    assert_eq!(
        files_containing(dir.path(), TOKEN),
        Vec::<String>::new(),
        "no file under the test folder holds the token"
    );
    let log = git(&bare, &["log", "--format=%B", "state"]);
    assert!(log.contains("second write"), "{log}");

    // The server goes away between a fetch and a push.
    drop(server);
    let mut tx = Transaction::new("server gone");
    tx.set(&r("@/custom/d"), json!(4));
    let err = a.commit(&tx).expect_err("server gone");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
    assert!(text.contains(&shown), "{text}");
    assert_no_token(&text);
    assert_no_token(&format!("{err:?}"));
}

#[test]
fn http_wrong_or_missing_credentials_fail_naming_the_remote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = dir.path().join("served");
    bare_remote(&served.join("store.git"));
    let server = GitHttp::with_auth(&served, USER, TOKEN);
    let wrong = server.url_with_credentials("store.git", USER, "wrong-token-0815");
    let none = server.url("store.git");
    for (url, shown) in [
        (
            wrong.as_str(),
            format!("http://***@127.0.0.1:{}/store.git", server.port),
        ),
        (none.as_str(), none.clone()),
    ] {
        let started = std::time::Instant::now();
        let err = Store::open(remote_options(
            &dir.path().join("home"),
            url,
            "state",
            "",
            StoreKind::State,
        ))
        .expect_err("bad credentials");
        let text = err.to_string();
        assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
        assert!(
            text.starts_with(&format!("cannot fetch from {shown}")),
            "{text}"
        );
        assert!(!text.contains("wrong-token-0815"), "{text}");
        assert!(
            text.contains("Authentication failed") || text.contains("terminal prompts disabled"),
            "{text}"
        );
        // Git never waits for a password (GIT_TERMINAL_PROMPT=0).
        assert!(started.elapsed() < Duration::from_secs(30));
        // A credential problem is the remote's, not the cache's: the cache is kept (a
        // cache thought damaged is moved aside and rebuilt).
        let marker = remote::cache_path(&dir.path().join("home"), url).join("kept");
        std::fs::write(&marker, "").expect("marker");
        let again = Store::open(remote_options(
            &dir.path().join("home"),
            url,
            "state",
            "",
            StoreKind::State,
        ))
        .expect_err("bad credentials again");
        assert!(
            again
                .to_string()
                .starts_with(&format!("cannot fetch from {shown}"))
        );
        assert!(marker.exists(), "the cache was rebuilt for: {again}");
    }
    assert!(
        server
            .requests()
            .iter()
            .all(|q| q.status == 401 && q.user.is_none()),
        "{:?}",
        server.requests()
    );
}

#[test]
fn http_push_bigger_than_the_post_buffer_is_sent_chunked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = dir.path().join("served");
    let bare = served.join("store.git");
    bare_remote(&bare);
    let server = GitHttp::start(&served);
    let url = server.url("store.git");
    let a = open_remote(
        &dir.path().join("home-a"),
        &url,
        "state",
        "",
        StoreKind::State,
    );
    // Random hex compresses to about half: 4 MiB of it packs to well over Git's default
    // http.postBuffer (1 MiB), above which Git streams the pack chunked.
    let big: String = (0..4 * 1024 * 1024 / 16)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect();
    set(&a, "big", "@/custom/big", json!(big));
    assert!(
        server
            .requests()
            .iter()
            .any(|q| q.chunked && q.target.ends_with("git-receive-pack") && q.status == 200),
        "{:?}",
        server.requests()
    );
    let b = open_remote(
        &dir.path().join("home-b"),
        &url,
        "state",
        "",
        StoreKind::State,
    );
    assert_eq!(b.get(&r("@/custom/big")).expect("big"), json!(big));
    git(&bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test_case("ssh://tester@fake-host{}"; "ssh url")]
#[test_case("tester@fake-host:{}"; "scp like")]
fn ssh_round_trip_and_a_lost_race_reapplied(form: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("store.git");
    bare_remote(&bare);
    let ssh = fake_ssh(&dir.path().join("ssh"));
    let url = form.replace("{}", &bare.display().to_string());
    let home = |name: &str| {
        let home = dir.path().join(name);
        preconfigure_ssh_cache(&home, &url, &ssh);
        home
    };
    let a = open_remote(&home("home-a"), &url, "state", "", StoreKind::State);
    let mut opts = remote_options(&home("home-b"), &url, "state", "", StoreKind::State);
    if let Some(remote) = opts.remote.as_mut() {
        // B never fetches before reads: its first push is built on a stale tip. (With
        // folding every commit fetches first; this is the racing loop's retry.)
        remote.settings.fetch_interval = Duration::from_secs(3600);
        remote.settings.fold = false;
    }
    let b = Store::open(opts).expect("open b");
    set(&a, "a writes", "@/custom/a", json!(1));
    let mut tx = Transaction::new("b writes");
    tx.set(&r("@/custom/b"), json!(2));
    let outcome = b.commit(&tx).expect("b commit");
    assert!(outcome.retries >= 1, "{outcome:?}");
    // A fresh cache reads both writes.
    let c = open_remote(&home("home-c"), &url, "state", "", StoreKind::State);
    assert_eq!(c.get(&r("@/custom/a")).expect("a"), json!(1));
    assert_eq!(c.get(&r("@/custom/b")).expect("b"), json!(2));
    assert_eq!(git(&bare, &["rev-list", "--count", "state"]).trim(), "2");
    git(&bare, &["fsck", "--strict", "--no-dangling"]);
    let log = ssh_log(&dir.path().join("ssh"));
    for service in ["git-upload-pack", "git-receive-pack"] {
        let line = format!("tester@fake-host {service} '{}'", bare.display());
        assert!(log.contains(&line), "no {line} in {log:?}");
    }
    // The cache folder is named after the host and path.
    let cache = remote::cache_path(&dir.path().join("home-a"), &url);
    let name = cache
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(name.contains("fake-host"), "{name}");
    assert!(cache.join("HEAD").is_file());
}

#[test]
fn ssh_remote_that_fails_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ssh = fake_ssh(&dir.path().join("ssh"));
    let url = format!("ssh://tester@fake-host{}/missing.git", dir.path().display());
    preconfigure_ssh_cache(&dir.path().join("home"), &url, &ssh);
    let err = Store::open(remote_options(
        &dir.path().join("home"),
        &url,
        "state",
        "",
        StoreKind::State,
    ))
    .expect_err("no such repository");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
    // The whole user part of a URL is hidden (a token may stand there alone).
    let shown = url.replace("tester@", "***@");
    assert!(
        text.starts_with(&format!("cannot fetch from {shown}")),
        "{text}"
    );
    assert!(
        text.contains("does not appear to be a git repository"),
        "{text}"
    );
}
