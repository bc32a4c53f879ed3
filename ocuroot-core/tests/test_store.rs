//! The store conformance suite: every behaviour runs against every backend layout.

use std::path::PathBuf;
use std::sync::Arc;

use ocuroot_core::refs::Glob;
use ocuroot_core::store::{
    Area, DiffKind, Entry, HistoryChange, MatchOptions, Store, StoreError, StoreKind, Transaction,
    diff_intent,
};
use serde_json::json;
use test_case::test_case;

use crate::common::{
    GitDaemon, GitHttp, bare_remote, fake_ssh, git, hand_commit, open, open_remote,
    preconfigure_ssh_cache, r, ssh_log,
};

/// The ways a state/intent pair can be laid out in Git.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// One repository, branches `state` and `intent` (the default "hub").
    SharedRepo,
    /// Two repositories.
    SeparateRepos,
    /// One branch holding folders `state/` and `intent/`.
    SharedBranch,
    /// A `file://` remote (branches `state` and `intent`), cached under a home folder.
    RemoteFile,
    /// A `git://` remote served by a real `git daemon`, one branch `main` with folders.
    RemoteDaemon,
    /// An `http://` remote served by `git http-backend` (smart HTTP), branches `state` and
    /// `intent`.
    RemoteHttp,
    /// An `ssh://` remote reached through a fake `ssh` command (see `common::fake_ssh`),
    /// branches `state` and `intent`.
    RemoteSsh,
}

struct Fixture {
    _daemon: Option<GitDaemon>,
    _http: Option<GitHttp>,
    /// The fake `ssh` program of an ssh fixture.
    ssh: Option<PathBuf>,
    dir: tempfile::TempDir,
    state: Store,
    intent: Store,
    /// The repository holding the state branch (for a remote store: the remote itself).
    state_repo: PathBuf,
    state_branch: String,
    state_prefix: String,
    /// The remote URL of a remote-backed fixture.
    url: Option<String>,
}

impl Fixture {
    fn new(backend: Backend) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let hub = dir.path().join("store.git");
        let mut daemon = None;
        let mut http = None;
        let mut ssh = None;
        let mut url = None;
        let (state_repo, state_branch, state_prefix, intent_repo, intent_branch, intent_prefix) =
            match backend {
                Backend::SharedRepo => (hub.clone(), "state", "", hub, "intent", ""),
                Backend::SeparateRepos => (
                    hub,
                    "state",
                    "",
                    dir.path().join("intent.git"),
                    "intent",
                    "",
                ),
                Backend::SharedBranch => (hub.clone(), "main", "state", hub, "main", "intent"),
                Backend::RemoteFile => {
                    bare_remote(&hub);
                    url = Some(format!("file://{}", hub.display()));
                    (hub.clone(), "state", "", hub, "intent", "")
                }
                Backend::RemoteDaemon => {
                    let served = dir.path().join("served");
                    let remote = served.join("store.git");
                    bare_remote(&remote);
                    let d = GitDaemon::start(&served);
                    url = Some(d.url("store.git"));
                    daemon = Some(d);
                    (remote.clone(), "main", "state", remote, "main", "intent")
                }
                Backend::RemoteHttp => {
                    let served = dir.path().join("served");
                    let remote = served.join("store.git");
                    bare_remote(&remote);
                    let h = GitHttp::start(&served);
                    url = Some(h.url("store.git"));
                    http = Some(h);
                    (remote.clone(), "state", "", remote, "intent", "")
                }
                Backend::RemoteSsh => {
                    bare_remote(&hub);
                    ssh = Some(fake_ssh(&dir.path().join("ssh")));
                    url = Some(format!("ssh://tester@fake-host{}", hub.display()));
                    (hub.clone(), "state", "", hub, "intent", "")
                }
            };
        let (state, intent) = match &url {
            None => (
                open(&state_repo, state_branch, state_prefix, StoreKind::State),
                open(
                    &intent_repo,
                    intent_branch,
                    intent_prefix,
                    StoreKind::Intent,
                ),
            ),
            Some(url) => {
                let home = dir.path().join("home");
                if let Some(ssh) = &ssh {
                    preconfigure_ssh_cache(&home, url, ssh);
                }
                (
                    open_remote(&home, url, state_branch, state_prefix, StoreKind::State),
                    open_remote(&home, url, intent_branch, intent_prefix, StoreKind::Intent),
                )
            }
        };
        Fixture {
            _daemon: daemon,
            _http: http,
            ssh,
            dir,
            state,
            intent,
            state_repo,
            state_branch: state_branch.to_string(),
            state_prefix: state_prefix.to_string(),
            url,
        }
    }

    /// Opens another handle on the state store, as another process (another CI job, with
    /// its own cache for remote stores) would.
    fn open_state(&self, writer: usize) -> Store {
        match &self.url {
            None => open(
                &self.state_repo,
                &self.state_branch,
                &self.state_prefix,
                StoreKind::State,
            ),
            Some(url) => {
                let home = self.dir.path().join(format!("home-{writer}"));
                if let Some(ssh) = &self.ssh {
                    preconfigure_ssh_cache(&home, url, ssh);
                }
                open_remote(
                    &home,
                    url,
                    &self.state_branch,
                    &self.state_prefix,
                    StoreKind::State,
                )
            }
        }
    }

    fn set(&self, reference: &str, value: serde_json::Value) {
        let mut tx = Transaction::new("test set");
        tx.set(&r(reference), value);
        self.state.commit(&tx).expect("commit");
    }

    /// Checks that the fixture's server (or fake `ssh`) really carried fetches and pushes.
    fn assert_transport_used(&self) {
        if let Some(http) = &self._http {
            let requests = http.requests();
            for service in ["git-upload-pack", "git-receive-pack"] {
                assert!(
                    requests.iter().any(|q| q.method == "POST"
                        && q.target.ends_with(service)
                        && q.status == 200),
                    "no {service} over http: {requests:?}"
                );
            }
        }
        if self.ssh.is_some() {
            let log = ssh_log(&self.dir.path().join("ssh"));
            let hub = self.state_repo.display();
            for service in ["git-upload-pack", "git-receive-pack"] {
                let line = format!("tester@fake-host {service} '{hub}'");
                assert!(log.contains(&line), "no {line} in {log:?}");
            }
        }
    }

    /// The path of a store file inside the state branch.
    fn path(&self, rel: &str) -> String {
        if self.state_prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.state_prefix)
        }
    }
}

const ALL: [Backend; 7] = [
    Backend::SharedRepo,
    Backend::SeparateRepos,
    Backend::SharedBranch,
    Backend::RemoteFile,
    Backend::RemoteDaemon,
    Backend::RemoteHttp,
    Backend::RemoteSsh,
];

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn get_set_delete(backend: Backend) {
    let f = Fixture::new(backend);
    let env = r("@/environment/staging");
    assert!(matches!(
        f.state.get(&env),
        Err(StoreError::NotFound { .. })
    ));
    f.set(
        "@/environment/staging",
        json!({"name": "staging", "attributes": {"type": "staging"}}),
    );
    assert_eq!(f.state.get(&env).expect("get")["name"], "staging");
    assert_eq!(
        f.state
            .get(&r("@/environment/staging#attributes/type"))
            .expect("fragment"),
        json!("staging")
    );
    assert!(
        f.state
            .get(&r("@/environment/staging#attributes/missing"))
            .expect_err("missing")
            .is_not_found()
    );
    assert!(
        f.state
            .get(&r("@/environment/staging#name/deeper"))
            .expect_err("not object")
            .is_not_found()
    );
    // The other store is untouched.
    assert!(f.intent.try_get(&env).expect("intent get").is_none());

    let mut tx = Transaction::new("delete");
    tx.delete(&env);
    f.state.commit(&tx).expect("delete");
    assert!(f.state.try_get(&env).expect("get").is_none());

    let tip = f.state.tip().expect("tip");
    let mut tx = Transaction::new("delete again");
    tx.delete(&env);
    assert!(matches!(
        f.state.commit(&tx),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        f.state.tip().expect("tip"),
        tip,
        "a failed transaction leaves the branch alone"
    );
    f.assert_transport_used();
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn documents_are_canonical_yaml_files(backend: Backend) {
    let f = Fixture::new(backend);
    f.set(
        "minimal/repo/-/basic.ocu.star/@r1",
        json!({"zeta": 1, "alpha": "a"}),
    );
    let path = f.path("refs/minimal/repo/-/basic.ocu.star/@r1/#.yaml");
    let text = git(
        &f.state_repo,
        &["show", &format!("{}:{path}", f.state_branch)],
    );
    assert_eq!(text, "alpha: a\nzeta: 1\n");
    let marker = git(
        &f.state_repo,
        &[
            "show",
            &format!("{}:{}", f.state_branch, f.path("ocuroot-store.yaml")),
        ],
    );
    assert_eq!(marker, "format: 1\nkind: state\n");
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn links_resolve_deepest_prefix_single_level(backend: Backend) {
    let f = Fixture::new(backend);
    let pkg = "minimal/repo/-/basic.ocu.star";
    let mut tx = Transaction::new("release");
    tx.set(
        &r(&format!("{pkg}/@r1/deploy/staging")),
        json!({"output": {"count": 1}}),
    );
    tx.link(
        &r(&format!("{pkg}/@/deploy/staging")),
        &r(&format!("{pkg}/@r1/deploy/staging")),
    );
    tx.link(&r(&format!("{pkg}/@v1")), &r(&format!("{pkg}/@r1")));
    f.state.commit(&tx).expect("commit");

    assert_eq!(
        f.state
            .get(&r(&format!("{pkg}/@/deploy/staging#output/count")))
            .expect("get"),
        json!(1)
    );
    assert_eq!(
        f.state
            .resolve_link(&r(&format!("{pkg}/@/deploy/staging#output/count")))
            .expect("resolve")
            .to_string(),
        format!("{pkg}/@r1/deploy/staging#output/count")
    );
    // Writing through a tag link writes the release's document.
    let mut tx = Transaction::new("custom via tag");
    tx.set(&r(&format!("{pkg}/@v1/custom/approval")), json!("1"));
    f.state.commit(&tx).expect("commit");
    assert_eq!(
        f.state
            .get(&r(&format!("{pkg}/@r1/custom/approval")))
            .expect("get"),
        json!("1")
    );
    assert_eq!(
        f.state
            .entry(Area::Records, &r(&format!("{pkg}/@v1")))
            .expect("entry"),
        Some(Entry::Link(r(&format!("{pkg}/@r1"))))
    );
    // A link never replaces a document.
    let mut tx = Transaction::new("bad link");
    tx.link(
        &r(&format!("{pkg}/@r1/deploy/staging")),
        &r(&format!("{pkg}/@r2")),
    );
    assert!(matches!(
        f.state.commit(&tx),
        Err(StoreError::NotALink { .. })
    ));
    // Unlink removes the link only.
    let mut tx = Transaction::new("unlink");
    tx.unlink(&r(&format!("{pkg}/@/deploy/staging")));
    f.state.commit(&tx).expect("unlink");
    assert!(
        f.state
            .try_get(&r(&format!("{pkg}/@/deploy/staging")))
            .expect("get")
            .is_none()
    );
    assert!(
        f.state
            .try_get(&r(&format!("{pkg}/@r1/deploy/staging")))
            .expect("get")
            .is_some()
    );
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn match_globs(backend: Backend) {
    let f = Fixture::new(backend);
    let mut tx = Transaction::new("many");
    for env in ["staging", "production", "production2"] {
        tx.set(&r(&format!("@/environment/{env}")), json!({"name": env}));
        tx.set(
            &r(&format!("repo/-/a.ocu.star/@r1/deploy/{env}")),
            json!({}),
        );
        tx.link(
            &r(&format!("repo/-/a.ocu.star/@/deploy/{env}")),
            &r(&format!("repo/-/a.ocu.star/@r1/deploy/{env}")),
        );
    }
    tx.set(
        &r("repo/-/a.ocu.star/@r1/deploy/staging/1/status/complete"),
        json!({"time": "t"}),
    );
    f.state.commit(&tx).expect("commit");

    let m = |pattern: &str, no_links: bool| -> Vec<String> {
        f.state
            .match_refs(
                Area::Records,
                &[Glob::new(pattern).expect("glob")],
                MatchOptions { no_links },
            )
            .expect("match")
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        m("@/environment/*", false),
        [
            "@/environment/production",
            "@/environment/production2",
            "@/environment/staging"
        ]
    );
    assert_eq!(m("**/@/deploy/*", false).len(), 3);
    assert_eq!(
        m("**/@*/deploy/*", true).len(),
        3,
        "no_links drops the @ links"
    );
    assert_eq!(m("**/@*/deploy/*", false).len(), 6);
    assert_eq!(
        m("repo/-/**/@*/{deploy,task}/*/*/status/complete", false),
        ["repo/-/a.ocu.star/@r1/deploy/staging/1/status/complete"]
    );
    assert_eq!(
        m("**/-/**@*/deploy/*", false).len(),
        6,
        "a non-segment glob still matches"
    );
    assert!(m("nothing/**", false).is_empty());
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn transactions_are_one_commit_with_message_and_author(backend: Backend) {
    let f = Fixture::new(backend);
    let mut tx = Transaction::new("initializing release");
    tx.set(&r("repo/-/a.ocu.star/@r1"), json!({"commit": "c1"}));
    tx.create(&r("repo/-/a.ocu.star/@r1/commit/c1"), json!({"time": "t"}));
    let outcome = f.state.commit(&tx).expect("commit");
    let commit = outcome.commit.expect("a commit");
    let log = git(
        &f.state_repo,
        &["log", "--format=%an <%ae>%n%B", "-1", &commit],
    );
    assert!(
        log.starts_with("Ocuroot <contact@ocuroot.com>\ninitializing release\n\n"),
        "{log}"
    );
    assert!(log.contains("update repo/-/a.ocu.star/@r1\n"), "{log}");
    assert!(
        log.contains("create repo/-/a.ocu.star/@r1/commit/c1\n"),
        "{log}"
    );
    let count = git(&f.state_repo, &["rev-list", "--count", &f.state_branch]);
    assert_eq!(count.trim(), "1");
    // Writing the same values again makes no commit.
    let mut tx = Transaction::new("again");
    tx.set(&r("repo/-/a.ocu.star/@r1"), json!({"commit": "c1"}));
    assert_eq!(f.state.commit(&tx).expect("commit").commit, None);
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn create_only_and_failed_transactions_write_nothing(backend: Backend) {
    let f = Fixture::new(backend);
    f.set("repo/-/a.ocu.star/@r1", json!({"commit": "c1"}));
    let tip = f.state.tip().expect("tip");
    let mut tx = Transaction::new("second r1");
    tx.set(&r("repo/-/a.ocu.star/@r1/task/build/1"), json!({}));
    tx.create(&r("repo/-/a.ocu.star/@r1"), json!({"commit": "c2"}));
    assert!(matches!(
        f.state.commit(&tx),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(f.state.tip().expect("tip"), tip);
    assert!(
        f.state
            .try_get(&r("repo/-/a.ocu.star/@r1/task/build/1"))
            .expect("get")
            .is_none()
    );
    // Bad refs and fragment writes are refused before anything happens.
    let mut tx = Transaction::new("fragment");
    tx.set(&r("repo/-/a.ocu.star/@r1#output/x"), json!(1));
    assert!(matches!(
        f.state.commit(&tx),
        Err(StoreError::FragmentWrite { .. })
    ));
    let mut tx = Transaction::new("relative");
    tx.set(&r("./task/build"), json!(1));
    assert!(matches!(
        f.state.commit(&tx),
        Err(StoreError::InvalidRef(_))
    ));
    assert_eq!(f.state.tip().expect("tip"), tip);
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn concurrent_writers_lose_nothing(backend: Backend) {
    let f = Arc::new(Fixture::new(backend));
    const THREADS: usize = 4;
    const WRITES: usize = 15;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let f = Arc::clone(&f);
            scope.spawn(move || {
                // Each thread opens its own handle, as separate processes would.
                let store = f.open_state(t);
                for i in 0..WRITES {
                    let mut tx = Transaction::new(format!("writer {t} write {i}"));
                    tx.set(&r(&format!("@/custom/w{t}/{i}")), json!(i));
                    store.commit(&tx).expect("commit");
                }
            });
        }
    });
    for t in 0..THREADS {
        for i in 0..WRITES {
            assert_eq!(
                f.state
                    .get(&r(&format!("@/custom/w{t}/{i}")))
                    .expect("present"),
                json!(i)
            );
        }
    }
    let count = git(&f.state_repo, &["rev-list", "--count", &f.state_branch]);
    assert_eq!(
        count.trim().parse::<usize>().expect("count"),
        THREADS * WRITES
    );
    git(&f.state_repo, &["fsck", "--strict"]);
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn create_only_race_has_exactly_one_winner(backend: Backend) {
    let f = Arc::new(Fixture::new(backend));
    f.set("@/custom/seed", json!(0));
    let wins: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let f = Arc::clone(&f);
                scope.spawn(move || {
                    let store = f.open_state(t);
                    let mut tx = Transaction::new(format!("claim by {t}"));
                    tx.create(&r("repo/-/a.ocu.star/@r2"), json!({"by": t}));
                    match store.commit(&tx) {
                        Ok(_) => 1,
                        Err(StoreError::AlreadyExists { .. }) => 0,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    });
    assert_eq!(wins, 1);
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn corrupt_document_is_reported_with_its_path(backend: Backend) {
    let f = Fixture::new(backend);
    f.set("@/custom/good", json!("ok"));
    hand_commit(
        &f.state_repo,
        &f.state_branch,
        &[(&f.path("refs/@/custom/bad/#.yaml"), Some("a: [unclosed\n"))],
    );
    let err = f.state.get(&r("@/custom/bad")).expect_err("corrupt");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(text.contains("refs/@/custom/bad/#.yaml"), "{text}");
    // Other documents stay readable and writable.
    assert_eq!(f.state.get(&r("@/custom/good")).expect("good"), json!("ok"));
    f.set("@/custom/other", json!(2));
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn unknown_format_version_is_refused(backend: Backend) {
    let f = Fixture::new(backend);
    f.set("@/custom/x", json!(1));
    hand_commit(
        &f.state_repo,
        &f.state_branch,
        &[(
            &f.path("ocuroot-store.yaml"),
            Some("format: 99\nkind: state\n"),
        )],
    );
    let tip = f.state.tip().expect("tip");
    assert!(matches!(
        f.state.get(&r("@/custom/x")),
        Err(StoreError::UnsupportedFormat { .. })
    ));
    let mut tx = Transaction::new("write");
    tx.set(&r("@/custom/y"), json!(1));
    let err = f.state.commit(&tx).expect_err("refused");
    assert!(
        err.to_string().contains("unsupported store format 99"),
        "{err}"
    );
    assert_eq!(f.state.tip().expect("tip"), tip);
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn history_of_a_ref(backend: Backend) {
    let f = Fixture::new(backend);
    f.set("@/custom/x", json!(1));
    f.set("@/custom/unrelated", json!(1));
    f.set("@/custom/x", json!(2));
    let mut tx = Transaction::new("remove x");
    tx.delete(&r("@/custom/x"));
    f.state.commit(&tx).expect("delete");
    let h = f
        .state
        .history(Area::Records, &r("@/custom/x"), 10)
        .expect("history");
    let changes: Vec<_> = h.iter().map(|e| e.change).collect();
    assert_eq!(
        changes,
        [
            HistoryChange::Deleted,
            HistoryChange::Modified,
            HistoryChange::Added
        ]
    );
    assert_eq!(h[1].value, Some(Entry::Document(json!(2))));
    assert_eq!(h[0].summary, "remove x");
    assert_eq!(h[0].author_name, "Ocuroot");
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn intent_diff_against_applied_mirror(backend: Backend) {
    let f = Fixture::new(backend);
    let mut tx = Transaction::new("intent");
    tx.set(&r("@/environment/staging"), json!({"name": "staging"}));
    tx.set(
        &r("@/environment/production"),
        json!({"name": "production"}),
    );
    tx.set(&r("repo/-/a.ocu.star/@v1/custom/approval"), json!("1"));
    f.intent.commit(&tx).expect("intent");
    let mut tx = Transaction::new("applied");
    tx.set_applied(&r("@/environment/staging"), json!({"name": "staging"}));
    tx.set_applied(&r("@/environment/production"), json!({"name": "old"}));
    tx.set_applied(&r("@/environment/gone"), json!({"name": "gone"}));
    f.state.commit(&tx).expect("state");
    let d: Vec<(String, DiffKind)> = diff_intent(&f.intent, &f.state)
        .expect("diff")
        .into_iter()
        .map(|e| (e.r.to_string(), e.kind))
        .collect();
    assert_eq!(
        d,
        [
            ("@/environment/gone".to_string(), DiffKind::Delete),
            ("@/environment/production".to_string(), DiffKind::Update),
            (
                "repo/-/a.ocu.star/@v1/custom/approval".to_string(),
                DiffKind::Create
            ),
        ]
    );
}

/// The diff walks both trees in Git's entry order, where a folder sorts as if its name
/// ended in `/`: `a` (a folder) comes after `a-b` and `a.b`. Equal neighbours must still
/// pair up, and only the real differences be reported.
#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
fn intent_diff_pairs_entries_in_git_order(backend: Backend) {
    let f = Fixture::new(backend);
    let mut tx = Transaction::new("intent");
    for name in ["a", "a/x", "a-b", "a.b", "a0", "a/x-y"] {
        tx.set(&r(&format!("@/custom/{name}")), json!(name));
    }
    f.intent.commit(&tx).expect("intent");
    let mut tx = Transaction::new("applied");
    for name in ["a", "a-b", "a0", "a/x-y"] {
        tx.set_applied(&r(&format!("@/custom/{name}")), json!(name));
    }
    tx.set_applied(&r("@/custom/a/x"), json!("old"));
    tx.set_applied(&r("@/custom/a/y"), json!("gone"));
    f.state.commit(&tx).expect("state");
    let d: Vec<(String, DiffKind)> = diff_intent(&f.intent, &f.state)
        .expect("diff")
        .into_iter()
        .map(|e| (e.r.to_string(), e.kind))
        .collect();
    assert_eq!(
        d,
        [
            ("@/custom/a.b".to_string(), DiffKind::Create),
            ("@/custom/a/x".to_string(), DiffKind::Update),
            ("@/custom/a/y".to_string(), DiffKind::Delete),
        ]
    );
}

#[test]
fn all_backends_listed() {
    // Keeps the test_case lists above in step with the Backend enum.
    assert_eq!(ALL.len(), 7);
}

/// Loose objects under `objects/` of the repository at `repo`.
fn loose_objects(repo: &std::path::Path) -> usize {
    (0..256)
        .filter_map(|i| std::fs::read_dir(repo.join(format!("objects/{i:02x}"))).ok())
        .map(|d| d.count())
        .sum()
}

/// Pack files under `objects/pack` of the repository at `repo`.
fn packs(repo: &std::path::Path) -> usize {
    std::fs::read_dir(repo.join("objects/pack"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0)
}

/// Commits write their objects as packs, never as loose files, and maintenance keeps the
/// number of packs bounded (a roll-up after every 16 uncovered packs): after 60 commits the
/// repository holds no loose object, few packs, passes `git fsck`, and reads every write
/// back through a fresh handle.
#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
fn commits_write_packs_not_loose_objects(backend: Backend) {
    let f = Fixture::new(backend);
    for i in 0..60 {
        let mut tx = Transaction::new(format!("write {i}"));
        tx.set(&r(&format!("@/custom/many/{i}")), json!({"n": i}));
        tx.set(&r(&format!("@/custom/other/{}", i % 7)), json!(i));
        f.state.commit(&tx).expect("commit");
    }
    assert_eq!(loose_objects(&f.state_repo), 0);
    let n = packs(&f.state_repo);
    assert!((1..=17).contains(&n), "{n} packs after 60 commits");
    git(&f.state_repo, &["fsck", "--full", "--strict"]);
    let fresh = f.open_state(9);
    for i in 0..60 {
        assert_eq!(
            fresh.get(&r(&format!("@/custom/many/{i}"))).expect("get"),
            json!({"n": i})
        );
    }
}

/// A store whose objects were packed by someone else (`git gc`, a fetch) in a pack too big
/// to open cheaply gets a multi-pack index at its next commit, so later reads open one small
/// index instead of validating the pack's index; the repository keeps reading the same.
#[test]
fn commit_indexes_big_packs_it_finds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = dir.path().join("store.git");
    let state = open(&hub, "state", "", StoreKind::State);
    let mut tx = Transaction::new("first");
    tx.set(&r("@/custom/a"), json!(1));
    state.commit(&tx).expect("commit");
    // 25,000 blobs in one pack written by `git fast-import`, as a fetch would write one.
    let mut stream = String::new();
    for i in 0..25_000 {
        let data = format!("blob {i}\n");
        stream.push_str(&format!("blob\ndata {}\n{data}\n", data.len()));
    }
    crate::common::git_with_input(&hub, &["fast-import", "--quiet"], &stream);
    let midx = hub.join("objects/pack/multi-pack-index");
    assert!(!midx.exists());

    let mut tx = Transaction::new("second");
    tx.set(&r("@/custom/b"), json!(2));
    state.commit(&tx).expect("commit");
    assert!(midx.exists(), "the commit wrote a multi-pack index");
    git(&hub, &["multi-pack-index", "verify"]);
    let fresh = open(&hub, "state", "", StoreKind::State);
    assert_eq!(fresh.get(&r("@/custom/a")).expect("get"), json!(1));
    assert_eq!(fresh.get(&r("@/custom/b")).expect("get"), json!(2));
}

#[test_case(Backend::SharedRepo; "shared repo")]
#[test_case(Backend::SeparateRepos; "separate repos")]
#[test_case(Backend::SharedBranch; "shared branch")]
#[test_case(Backend::RemoteFile; "remote file url")]
#[test_case(Backend::RemoteDaemon; "remote git daemon")]
#[test_case(Backend::RemoteHttp; "remote smart http")]
#[test_case(Backend::RemoteSsh; "remote ssh")]
fn pinned_reads_see_one_tip_and_their_own_writes(backend: Backend) {
    let f = Fixture::new(backend);
    f.set("@/custom/a", json!({"v": 1, "big": {"deep": [1, 2, 3]}}));
    let other = f.open_state(1);
    let write = |store: &Store, reference: &str, value: serde_json::Value| {
        let mut tx = Transaction::new("pin test");
        tx.set(&r(reference), value);
        store.commit(&tx).expect("commit");
    };
    f.state
        .pinned(|| {
            // Another writer lands: this thread's reads stay at the pinned tip.
            write(&other, "@/custom/a", json!({"v": 2}));
            assert_eq!(f.state.get(&r("@/custom/a#v")).expect("pinned"), json!(1));
            // Another thread is not pinned and sees the new tip.
            std::thread::scope(|s| {
                s.spawn(|| {
                    assert_eq!(f.state.get(&r("@/custom/a#v")).expect("fresh"), json!(2));
                });
            });
            // Nested pins keep the outer one.
            f.state
                .pinned(|| assert_eq!(f.state.get(&r("@/custom/a#v")).expect("nested"), json!(1)))
                .expect("nested pin");
            // Its own commit builds on the real tip (the other writer's document stays)
            // and moves the pin there: the thread reads its own write and everything
            // before it.
            write(&f.state, "@/custom/b", json!(3));
            assert_eq!(f.state.get(&r("@/custom/b")).expect("own write"), json!(3));
            assert_eq!(f.state.get(&r("@/custom/a#v")).expect("moved"), json!(2));
            write(&other, "@/custom/a", json!({"v": 4}));
            assert_eq!(f.state.get(&r("@/custom/a#v")).expect("pinned"), json!(2));
        })
        .expect("pin");
    // Unpinned: reads see the tip again.
    assert_eq!(f.state.get(&r("@/custom/a#v")).expect("after"), json!(4));
    assert_eq!(f.state.get(&r("@/custom/b")).expect("after"), json!(3));
}

#[test]
fn try_with_reads_a_cached_document_in_place() {
    let f = Fixture::new(Backend::SharedRepo);
    f.set(
        "@/custom/doc",
        json!({"commit": "abc", "package": {"phases": [1, 2]}}),
    );
    let commit = f
        .state
        .try_with(&r("@/custom/doc"), |v| {
            v["commit"].as_str().map(str::to_string)
        })
        .expect("read");
    assert_eq!(commit, Some(Some("abc".to_string())));
    let fragment = f
        .state
        .try_with(&r("@/custom/doc#package/phases"), serde_json::Value::clone)
        .expect("read");
    assert_eq!(fragment, Some(json!([1, 2])));
    assert_eq!(
        f.state
            .try_with(&r("@/custom/missing"), |_| ())
            .expect("read"),
        None
    );
    assert_eq!(
        f.state
            .try_with(&r("@/custom/doc#package/none"), |_| ())
            .expect("read"),
        None
    );
    // A second read of the same blob comes from the cache and gives the same value.
    assert_eq!(
        f.state.get(&r("@/custom/doc")).expect("get"),
        json!({"commit": "abc", "package": {"phases": [1, 2]}})
    );
}
