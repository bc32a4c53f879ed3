//! Behaviour specific to remote-backed stores: caches, faults, support files, offline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ocuroot_core::store::{Area, MatchOptions, Store, StoreError, StoreKind, Transaction, remote};
use serde_json::json;

use crate::common::{
    bare_remote, git, git_with_input, open_remote, pushes, r, record_pushes, remote_options,
};

struct Remote {
    dir: tempfile::TempDir,
    bare: PathBuf,
    url: String,
}

impl Remote {
    fn new() -> Remote {
        let dir = tempfile::tempdir().expect("tempdir");
        let bare = dir.path().join("remote.git");
        bare_remote(&bare);
        let url = format!("file://{}", bare.display());
        Remote { dir, bare, url }
    }

    fn home(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn open(&self, home: &str) -> Store {
        open_remote(&self.home(home), &self.url, "state", "", StoreKind::State)
    }

    fn cache(&self, home: &str) -> PathBuf {
        remote::cache_path(&self.home(home), &self.url)
    }
}

fn set(store: &Store, reference: &str, value: serde_json::Value) {
    let mut tx = Transaction::new("test set");
    tx.set(&r(reference), value);
    store.commit(&tx).expect("commit");
}

fn closed_port() -> u16 {
    // Bound and released: nothing listens there any more.
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn unreachable_remote_is_named_without_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    for url in [
        format!("git://127.0.0.1:{port}/x.git"),
        format!("http://user:s3cret@127.0.0.1:{port}/x.git"),
    ] {
        let err = Store::open(remote_options(
            dir.path(),
            &url,
            "state",
            "",
            StoreKind::State,
        ))
        .expect_err("unreachable");
        let text = err.to_string();
        assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
        assert!(text.contains(&format!("127.0.0.1:{port}/x.git")), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!format!("{err:?}").contains("s3cret"));
    }
    // No cache folder name holds the password either.
    let listing = walk(dir.path());
    assert!(!listing.contains("s3cret"), "{listing}");
}

fn walk(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push_str(&e.path().display().to_string());
            out.push('\n');
            if e.path().is_dir() {
                out.push_str(&walk(&e.path()));
            }
        }
    }
    out
}

#[test]
fn failed_push_leaves_the_cache_at_the_remote_state() {
    let rm = Remote::new();
    let store = rm.open("home");
    set(&store, "@/custom/a", json!(1));
    let accepted = git(&rm.bare, &["rev-parse", "state"]);
    // The remote disappears after the store was opened.
    let moved = rm.dir.path().join("moved.git");
    std::fs::rename(&rm.bare, &moved).expect("move remote away");
    let mut tx = Transaction::new("lost");
    tx.set(&r("@/custom/b"), json!(2));
    let err = store.commit(&tx).expect_err("push fails");
    assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
    assert!(err.to_string().contains(&rm.url), "{err}");
    // The cache's branch did not move to the commit the remote never accepted.
    assert_eq!(git(&rm.cache("home"), &["rev-parse", "state"]), accepted);
    std::fs::rename(&moved, &rm.bare).expect("move remote back");
    let again = rm.open("home");
    assert_eq!(again.get(&r("@/custom/a")).expect("a"), json!(1));
    assert!(again.try_get(&r("@/custom/b")).expect("b").is_none());
    set(&again, "@/custom/c", json!(3));
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn deleted_cache_is_rebuilt_from_the_remote() {
    let rm = Remote::new();
    set(&rm.open("home"), "@/custom/a", json!(1));
    std::fs::remove_dir_all(rm.cache("home")).expect("delete cache");
    let store = rm.open("home");
    assert_eq!(store.get(&r("@/custom/a")).expect("a"), json!(1));
    set(&store, "@/custom/b", json!(2));
    assert_eq!(git(&rm.bare, &["rev-list", "--count", "state"]).trim(), "2");
}

#[test]
fn corrupted_cache_is_rebuilt_from_the_remote() {
    let rm = Remote::new();
    set(&rm.open("home"), "@/custom/a", json!(1));
    set(&rm.open("home"), "@/custom/b", json!(2));
    let cache = rm.cache("home");
    // Garbage in every object file: loose objects, packs and their indexes.
    let objects = cache.join("objects");
    let mut garbled = 0;
    for dir in std::fs::read_dir(&objects).expect("objects").flatten() {
        let name = dir.file_name().to_string_lossy().to_string();
        if name.len() != 2 && name != "pack" {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).expect("fan-out").flatten() {
            let path = f.path();
            let mut perms = std::fs::metadata(&path).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&path, perms).expect("chmod");
            std::fs::write(&path, b"garbage").expect("garble");
            garbled += 1;
        }
    }
    assert!(garbled > 0, "the cache had object files");
    let store = rm.open("home");
    assert_eq!(store.get(&r("@/custom/b")).expect("b"), json!(2));
    set(&store, "@/custom/c", json!(3));
    // A cache without HEAD (not a repository any more) is rebuilt too.
    std::fs::remove_file(cache.join("HEAD")).expect("delete HEAD");
    let store = rm.open("home");
    assert_eq!(store.get(&r("@/custom/c")).expect("c"), json!(3));
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn missing_branch_without_create_branch_is_an_error() {
    let rm = Remote::new();
    let mut opts = remote_options(&rm.home("home"), &rm.url, "state", "", StoreKind::State);
    if let Some(remote) = opts.remote.as_mut() {
        remote.create_branch = false;
    }
    let err = Store::open(opts).expect_err("no branch");
    let text = err.to_string();
    assert!(text.contains("\"state\""), "{text}");
    assert!(text.contains("create_branch=False"), "{text}");
}

#[test]
fn support_files_are_written_once_at_the_branch_root() {
    let rm = Remote::new();
    let mut opts = remote_options(&rm.home("home"), &rm.url, "main", "state", StoreKind::State);
    if let Some(remote) = opts.remote.as_mut() {
        remote
            .support_files
            .insert("support.txt".into(), "state\n".into());
        remote
            .support_files
            .insert(".ci/config.yml".into(), "x: 1\n".into());
    }
    let store = Store::open(opts.clone()).expect("open");
    set(&store, "@/custom/a", json!(1));
    assert_eq!(git(&rm.bare, &["show", "main:support.txt"]), "state\n");
    assert_eq!(git(&rm.bare, &["show", "main:.ci/config.yml"]), "x: 1\n");
    // A person's change to a support file is kept.
    crate::common::hand_commit(&rm.bare, "main", &[("support.txt", Some("edited\n"))]);
    set(&store, "@/custom/b", json!(2));
    assert_eq!(git(&rm.bare, &["show", "main:support.txt"]), "edited\n");
    let log = git(&rm.bare, &["log", "-1", "--format=%an <%ae>", "main"]);
    assert_eq!(log.trim(), "Ocuroot <contact@ocuroot.com>");
}

#[test]
fn offline_reads_the_cache_and_refuses_writes() {
    let rm = Remote::new();
    set(&rm.open("home"), "@/custom/a", json!(1));
    let mut opts = remote_options(&rm.home("home"), &rm.url, "state", "", StoreKind::State);
    if let Some(remote) = opts.remote.as_mut() {
        remote.settings.offline = true;
    }
    // Offline works without the remote.
    std::fs::rename(&rm.bare, rm.dir.path().join("gone.git")).expect("move");
    let store = Store::open(opts).expect("open offline");
    assert_eq!(store.get(&r("@/custom/a")).expect("a"), json!(1));
    let mut tx = Transaction::new("w");
    tx.set(&r("@/custom/b"), json!(2));
    assert!(matches!(store.commit(&tx), Err(StoreError::Offline { .. })));
}

#[test]
fn a_stale_cache_loses_the_push_and_retries_on_the_new_tip() {
    let rm = Remote::new();
    let a = rm.open("home-a");
    let mut opts = remote_options(&rm.home("home-b"), &rm.url, "state", "", StoreKind::State);
    if let Some(remote) = opts.remote.as_mut() {
        // B never fetches before reads: its first push is built on a stale tip. (With
        // folding, every commit fetches first; this is the racing loop's retry.)
        remote.settings.fetch_interval = Duration::from_secs(3600);
        remote.settings.fold = false;
    }
    let b = Store::open(opts).expect("open b");
    set(&a, "@/custom/a", json!(1));
    let mut tx = Transaction::new("b writes");
    tx.set(&r("@/custom/b"), json!(2));
    tx.create(&r("@/custom/only-once"), json!("b"));
    let outcome = b.commit(&tx).expect("b commit");
    assert!(outcome.retries >= 1, "{outcome:?}");
    // The timings account for the lost race: a push per attempt, the fetch of the new tip
    // and the back-off in between.
    let t = outcome.timings;
    assert!(
        !t.push.is_zero() && !t.fetch.is_zero() && !t.backoff.is_zero(),
        "{t:?}"
    );
    assert_eq!(b.get(&r("@/custom/a")).expect("a"), json!(1));
    // A create-only write re-checks on the new tip: A now loses.
    let mut tx = Transaction::new("a claims");
    tx.create(&r("@/custom/only-once"), json!("a"));
    assert!(matches!(
        a.commit(&tx),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(git(&rm.bare, &["rev-list", "--count", "state"]).trim(), "2");
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn a_damaged_object_deep_in_the_cache_is_repaired_on_read() {
    let rm = Remote::new();
    let store = rm.open("home");
    set(&store, "@/custom/a", json!("deep"));
    set(&store, "@/custom/b", json!(2));
    // Damage only the blob of @/custom/a: opening the store (which checks the tip's tree)
    // does not notice; the read does, rebuilds the cache from the remote and succeeds.
    let blob = git(&rm.bare, &["rev-parse", "state:refs/@/custom/a/#.yaml"]);
    let blob = blob.trim();
    // Commits write packs: find the pack holding the blob and garble its compressed data.
    let pack_dir = rm.cache("home").join("objects/pack");
    let mut damaged = false;
    for entry in std::fs::read_dir(&pack_dir).expect("pack dir").flatten() {
        let idx = entry.path();
        if idx.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let out = std::process::Command::new("git")
            .args(["show-index"])
            .stdin(std::fs::File::open(&idx).expect("idx"))
            .output()
            .expect("git show-index");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(offset) = text.lines().find_map(|l| {
            let mut parts = l.split_whitespace();
            let offset = parts.next()?.parse::<u64>().ok()?;
            (parts.next()? == blob).then_some(offset)
        }) else {
            continue;
        };
        let pack = idx.with_extension("pack");
        let mut perms = std::fs::metadata(&pack).expect("meta").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&pack, perms).expect("chmod");
        let mut bytes = std::fs::read(&pack).expect("read pack");
        // Past the entry's one- or two-byte header: the zlib stream.
        for b in &mut bytes[offset as usize + 2..offset as usize + 8] {
            *b = 0xff;
        }
        std::fs::write(&pack, bytes).expect("garble");
        damaged = true;
    }
    assert!(damaged, "the blob is in a pack of the cache");
    let reopened = rm.open("home");
    assert_eq!(
        reopened.get(&r("@/custom/a")).expect("repaired"),
        json!("deep")
    );
    // The store that was open during the damage recovers too, and writes still land.
    set(&store, "@/custom/c", json!(3));
    assert_eq!(store.get(&r("@/custom/c")).expect("c"), json!(3));
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn revisions_missing_from_the_cache_are_fetched() {
    // A pull request against the intent branch: its branch exists only on the remote.
    let remote = Remote::new();
    let intent = open_remote(
        &remote.home("a"),
        &remote.url,
        "intent",
        "",
        StoreKind::Intent,
    );
    set(&intent, "@/custom/a", json!("merged"));
    let review = open_remote(
        &remote.home("a"),
        &remote.url,
        "review",
        "",
        StoreKind::Intent,
    );
    set(&review, "@/custom/a", json!("proposed"));

    let fresh = open_remote(
        &remote.home("b"),
        &remote.url,
        "intent",
        "",
        StoreKind::Intent,
    );
    for rev in ["review", "refs/heads/review"] {
        let view = fresh.view_at(rev).expect("fetched");
        assert_eq!(
            view.get(&r("@/custom/a")).expect("doc"),
            json!("proposed"),
            "{rev}"
        );
    }
    assert_eq!(fresh.get(&r("@/custom/a")).expect("doc"), json!("merged"));
    let Err(err) = fresh.view_at("no-such-branch") else {
        panic!("a missing branch resolved");
    };
    assert!(err.to_string().contains("no-such-branch"), "{err}");
    // Scratch refs do not stay behind in the cache.
    let refs = git(&remote.cache("b"), &["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("refs/ocuroot/"), "{refs}");
}

impl Remote {
    /// Opens `branch` (folder `prefix`) under `home`, fetching only when the store opens:
    /// a write then builds on what the cache saw at that moment.
    fn open_stale(&self, home: &str, branch: &str, prefix: &str, kind: StoreKind) -> Store {
        let mut opts = remote_options(&self.home(home), &self.url, branch, prefix, kind);
        if let Some(remote) = opts.remote.as_mut() {
            remote.settings.fetch_interval = Duration::from_secs(3600);
        }
        Store::open(opts).expect("open store")
    }
}

fn tx_set(message: &str, reference: &str, value: serde_json::Value) -> Transaction {
    let mut tx = Transaction::new(message);
    tx.set(&r(reference), value);
    tx
}

#[test]
fn commit_with_two_branches_of_one_remote_is_one_atomic_push() {
    let rm = Remote::new();
    record_pushes(&rm.bare);
    let intent = rm.open_stale("home", "intent", "", StoreKind::Intent);
    let state = rm.open_stale("home", "state", "", StoreKind::State);
    let [i, s] = intent
        .commit_with(
            &tx_set("intent", "@/custom/a", json!(1)),
            &state,
            &tx_set("state", "@/custom/a", json!(2)),
        )
        .expect("commit both");
    assert!(i.commit.is_some() && s.commit.is_some(), "{i:?} {s:?}");
    assert_eq!(pushes(&rm.bare), [["intent", "state"]]);
    assert_eq!(
        git(&rm.bare, &["rev-parse", "intent"]).trim(),
        i.commit.expect("intent commit")
    );
    assert_eq!(
        git(&rm.bare, &["rev-parse", "state"]).trim(),
        s.commit.expect("state commit")
    );
    // An empty transaction on one side pushes the other alone.
    let [i, s] = intent
        .commit_with(
            &Transaction::new("nothing"),
            &state,
            &tx_set("state", "@/custom/b", json!(3)),
        )
        .expect("commit state only");
    assert!(i.commit.is_none() && s.commit.is_some(), "{i:?} {s:?}");
    assert_eq!(pushes(&rm.bare), [["state"]]);
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn commit_with_a_lost_race_on_one_branch_moves_neither_and_retries_both() {
    let rm = Remote::new();
    let intent = rm.open_stale("home", "intent", "", StoreKind::Intent);
    let state = rm.open_stale("home", "state", "", StoreKind::State);
    // Another job moves `intent` after our cache fetched it; `state` is unchanged.
    set(
        &rm.open_stale("other", "intent", "", StoreKind::Intent),
        "@/custom/other",
        json!(0),
    );
    record_pushes(&rm.bare);
    let [i, s] = intent
        .commit_with(
            &tx_set("intent", "@/custom/a", json!(1)),
            &state,
            &tx_set("state", "@/custom/a", json!(2)),
        )
        .expect("commit both");
    assert_eq!((i.retries, s.retries), (1, 1));
    // The first attempt's stale lease on `intent` failed the whole push: `state` did not
    // land alone, and the retry pushed both branches at once on the new tips.
    assert_eq!(pushes(&rm.bare), [["intent", "state"]]);
    assert_eq!(git(&rm.bare, &["rev-list", "--count", "state"]).trim(), "1");
    assert_eq!(
        git(&rm.bare, &["rev-list", "--count", "intent"]).trim(),
        "2"
    );
    assert_eq!(intent.get(&r("@/custom/other")).expect("kept"), json!(0));
    assert_eq!(intent.get(&r("@/custom/a")).expect("ours"), json!(1));
    assert_eq!(state.get(&r("@/custom/a")).expect("ours"), json!(2));
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn commit_with_two_folders_of_one_branch_chains_two_commits_in_one_push() {
    let rm = Remote::new();
    record_pushes(&rm.bare);
    let intent = rm.open_stale("home", "main", "intent", StoreKind::Intent);
    let state = rm.open_stale("home", "main", "state", StoreKind::State);
    let [i, s] = intent
        .commit_with(
            &tx_set("intent write", "@/custom/a", json!(1)),
            &state,
            &tx_set("state write", "@/custom/a", json!(2)),
        )
        .expect("commit both");
    assert_eq!(pushes(&rm.bare), [["main"]]);
    let s = s.commit.expect("state commit");
    assert_eq!(git(&rm.bare, &["rev-parse", "main"]).trim(), s);
    // The state commit sits on the intent commit.
    assert_eq!(
        git(&rm.bare, &["rev-parse", &format!("{s}^")]).trim(),
        i.commit.expect("intent commit")
    );
    assert_eq!(
        git(&rm.bare, &["log", "--format=%s", "main"]),
        "state write\nintent write\n"
    );
    assert_eq!(intent.get(&r("@/custom/a")).expect("intent"), json!(1));
    assert_eq!(state.get(&r("@/custom/a")).expect("state"), json!(2));
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn commit_with_two_remotes_commits_one_after_the_other() {
    let (a, b) = (Remote::new(), Remote::new());
    record_pushes(&a.bare);
    record_pushes(&b.bare);
    let intent = a.open_stale("home", "intent", "", StoreKind::Intent);
    let state = b.open_stale("home", "state", "", StoreKind::State);
    let [i, s] = intent
        .commit_with(
            &tx_set("intent", "@/custom/a", json!(1)),
            &state,
            &tx_set("state", "@/custom/a", json!(2)),
        )
        .expect("commit both");
    assert!(i.commit.is_some() && s.commit.is_some(), "{i:?} {s:?}");
    assert_eq!(pushes(&a.bare), [["intent"]]);
    assert_eq!(pushes(&b.bare), [["state"]]);
}

#[test]
fn preview_shows_a_transaction_without_committing_it() {
    let rm = Remote::new();
    record_pushes(&rm.bare);
    let store = rm.open("home");
    set(&store, "@/custom/a", json!(1));
    let tip = store.tip().expect("tip");
    let mut tx = tx_set("preview", "@/custom/b", json!(2));
    tx.delete(&r("@/custom/a"));
    let view = store.preview(&tx).expect("preview");
    assert_eq!(view.try_get(&r("@/custom/b")).expect("b"), Some(json!(2)));
    assert_eq!(view.try_get(&r("@/custom/a")).expect("a"), None);
    let globs = [ocuroot_core::refs::Glob::new("@/custom/*").expect("glob")];
    let matched = view
        .match_refs(Area::Records, &globs, MatchOptions::default())
        .expect("match");
    assert_eq!(matched, [r("@/custom/b")]);
    assert_eq!(view.commit(), tip);
    // Nothing moved, nothing was pushed beyond the first write.
    assert_eq!(store.tip().expect("tip"), tip);
    assert_eq!(store.get(&r("@/custom/a")).expect("a"), json!(1));
    assert_eq!(pushes(&rm.bare).len(), 1);
    // A create-only write of an existing document fails in a preview as in a commit.
    let mut tx = Transaction::new("create");
    tx.create(&r("@/custom/a"), json!(3));
    assert!(matches!(
        store.preview(&tx),
        Err(StoreError::AlreadyExists { .. })
    ));
}

/// Fetches bring a pack each; once more than 16 sit outside the multi-pack index, the
/// cache rolls them up and indexes them, so the packs a reader opens stay few.
#[test]
fn fetched_packs_are_rolled_up_and_indexed() {
    let remote = Remote::new();
    let writer = remote.open("writer");
    let reader = remote.open("reader");
    let pack = remote.cache("reader").join("objects/pack");
    let packs = || {
        std::fs::read_dir(&pack)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut most = 0;
    for i in 0..20 {
        let mut tx = Transaction::new(format!("write {i}"));
        // More objects than `transfer.unpackLimit` (100), so the fetch keeps them as a pack.
        for j in 0..110 {
            tx.set(
                &r(&format!("@/custom/doc{i}/{j}")),
                json!(format!("{i}-{j}")),
            );
        }
        writer.commit(&tx).expect("commit");
        assert_eq!(
            reader.get(&r(&format!("@/custom/doc{i}/7"))).expect("get"),
            json!(format!("{i}-7"))
        );
        most = most.max(packs());
    }
    assert!(most <= 17, "{most} packs at most");
    assert!(
        pack.join("multi-pack-index").exists(),
        "no multi-pack index in {}",
        pack.display()
    );
    git(&remote.cache("reader"), &["multi-pack-index", "verify"]);
}

/// Writers sharing a cache take turns through its commit lock: each builds on the tip the
/// previous one pushed, so none of their pushes is rejected (without the lock they race, and
/// all but one push of every round is rejected). See: docs/benchmarks.md, "Remote stores".
#[test]
fn writers_sharing_a_cache_take_turns_and_never_lose_a_push() {
    const WRITERS: usize = 4;
    const WRITES: usize = 6;
    let rm = Remote::new();
    let stores: Vec<Store> = (0..WRITERS).map(|_| rm.open("shared")).collect();
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(w, store)| {
                s.spawn(move || {
                    (0..WRITES)
                        .map(|i| {
                            let mut tx = Transaction::new(format!("writer {w} write {i}"));
                            tx.set(&r(&format!("@/custom/w{w}/n{i}")), json!(i));
                            store.commit(&tx).expect("commit")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer"))
            .collect()
    });
    let retries: u32 = outcomes.iter().map(|o| o.retries).sum();
    assert_eq!(retries, 0, "{outcomes:#?}");
    assert_eq!(
        git(&rm.bare, &["rev-list", "--count", "state"]).trim(),
        (WRITERS * WRITES).to_string()
    );
    for w in 0..WRITERS {
        for i in 0..WRITES {
            let got = stores[0]
                .get(&r(&format!("@/custom/w{w}/n{i}")))
                .expect("get");
            assert_eq!(got, json!(i));
        }
    }
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

/// Installs a `pre-receive` hook in `bare` that, on its first call only, moves `branch` to
/// the commit at `refs/heads/intruder`: another writer landing while our push is being
/// received, after the remote advertised its tips. The remote then refuses our push on its
/// own side (`cannot lock ref … is at X but expected Y`), which git's client reports in
/// words that differ from a stale lease.
fn race_on_the_remote_side(bare: &Path, branch: &str) {
    let hook = bare.join("hooks/pre-receive");
    std::fs::create_dir_all(bare.join("hooks")).expect("mkdir hooks");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ncat >/dev/null\nif [ ! -e raced ]; then\n  touch raced\n  \
             env -u GIT_QUARANTINE_PATH git update-ref refs/heads/{branch} refs/heads/intruder\n\
             fi\nexit 0\n"
        ),
    )
    .expect("write hook");
    let mut perms = std::fs::metadata(&hook).expect("hook").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).expect("chmod hook");
}

/// Makes the next commit of `writer` to `branch` the intruder of [`race_on_the_remote_side`]:
/// commits it, keeps it as `refs/heads/intruder`, and moves `branch` back.
fn prepare_intruder(rm: &Remote, branch: &str, writer: &Store, reference: &str) {
    let before = git(&rm.bare, &["rev-parse", branch]).trim().to_string();
    set(writer, reference, json!("intruder"));
    let intruder = git(&rm.bare, &["rev-parse", branch]).trim().to_string();
    git(&rm.bare, &["update-ref", "refs/heads/intruder", &intruder]);
    git(
        &rm.bare,
        &["update-ref", &format!("refs/heads/{branch}"), &before],
    );
}

// See: issue 10 ("Concurrent jobs fail"): the atomic push of state and intent lost its race
// on the remote's side and was reported as a failure.
#[test]
fn issue_10_atomic_push_lost_on_the_remote_side_is_retried() {
    let rm = Remote::new();
    let state = open_remote(&rm.home("a"), &rm.url, "state", "", StoreKind::State);
    let intent = open_remote(&rm.home("a"), &rm.url, "intent", "", StoreKind::Intent);
    set(&state, "@/custom/seed", json!(0));
    set(&intent, "@/custom/seed", json!(0));
    let other = open_remote(&rm.home("b"), &rm.url, "intent", "", StoreKind::Intent);
    prepare_intruder(&rm, "intent", &other, "@/custom/other");
    race_on_the_remote_side(&rm.bare, "intent");

    let mut state_tx = Transaction::new("ours (state)");
    state_tx.set(&r("@/custom/ours"), json!(1));
    let mut intent_tx = Transaction::new("ours (intent)");
    intent_tx.set(&r("@/custom/ours"), json!(1));
    let [i, s] = intent
        .commit_with(&intent_tx, &state, &state_tx)
        .expect("a lost race is retried, not an error");
    assert!(rm.bare.join("raced").exists(), "the hook raced the push");
    assert!(i.retries >= 1 && s.retries >= 1, "{i:?} {s:?}");
    // Both writers' documents are there: ours was re-applied on top of the intruder's.
    let fresh = open_remote(&rm.home("c"), &rm.url, "intent", "", StoreKind::Intent);
    assert_eq!(
        fresh.get(&r("@/custom/other")).expect("theirs"),
        json!("intruder")
    );
    assert_eq!(fresh.get(&r("@/custom/ours")).expect("ours"), json!(1));
    let fresh_state = open_remote(&rm.home("c"), &rm.url, "state", "", StoreKind::State);
    assert_eq!(
        fresh_state.get(&r("@/custom/ours")).expect("ours"),
        json!(1)
    );
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

// See: issue 10: the same race on a single-branch push.
#[test]
fn issue_10_single_push_lost_on_the_remote_side_is_retried() {
    let rm = Remote::new();
    let state = rm.open("a");
    set(&state, "@/custom/seed", json!(0));
    let other = rm.open("b");
    prepare_intruder(&rm, "state", &other, "@/custom/other");
    race_on_the_remote_side(&rm.bare, "state");
    let mut tx = Transaction::new("ours");
    tx.set(&r("@/custom/ours"), json!(1));
    let outcome = state.commit(&tx).expect("a lost race is retried");
    assert!(outcome.retries >= 1, "{outcome:?}");
    let fresh = rm.open("c");
    assert_eq!(
        fresh.get(&r("@/custom/other")).expect("theirs"),
        json!("intruder")
    );
    assert_eq!(fresh.get(&r("@/custom/ours")).expect("ours"), json!(1));
}

// See: issue 10: a push the remote refuses while its branches stay at their leases is a
// real failure, reported with the remote and git's words, and never retried forever.
#[test]
fn issue_10_refused_push_with_unmoved_branches_is_a_failure() {
    let rm = Remote::new();
    let state = rm.open("a");
    set(&state, "@/custom/seed", json!(0));
    let before = git(&rm.bare, &["rev-parse", "state"]);
    let hook = rm.bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'policy says no' >&2\nexit 1\n").expect("hook");
    let mut perms = std::fs::metadata(&hook).expect("hook").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).expect("chmod hook");
    let mut tx = Transaction::new("refused");
    tx.set(&r("@/custom/no"), json!(1));
    let err = state.commit(&tx).expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Remote { .. }), "{err:?}");
    assert!(text.contains(&rm.url), "{text}");
    assert!(text.contains("policy says no"), "{text}");
    assert_eq!(git(&rm.bare, &["rev-parse", "state"]), before);
}

/// Writers with separate caches (one CI runner each) committing back to back through the
/// remote's waiting queue, on a real `git daemon`. Returns the remote and, in landing order,
/// which writer made each commit of the branch.
fn race_separate_caches(
    queue_turn: u32,
    writers: usize,
    writes: usize,
) -> (tempfile::TempDir, PathBuf, Vec<usize>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    let bare = served.join("store.git");
    bare_remote(&bare);
    let daemon = crate::common::GitDaemon::start(&served);
    let url = daemon.url("store.git");
    // All writers start writing together, after opening their stores.
    let start = std::sync::Barrier::new(writers);
    std::thread::scope(|s| {
        for w in 0..writers {
            let url = &url;
            let start = &start;
            let home = tmp.path().join(format!("job{w}"));
            s.spawn(move || {
                let mut opts = remote_options(&home, url, "state", "", StoreKind::State);
                if let Some(remote) = &mut opts.remote {
                    // As in CI: the debounce lets the last winner skip its fetch, which is
                    // what makes it keep winning without the queue.
                    remote.settings.fetch_interval = Duration::from_secs(5);
                    remote.settings.queue_turn = queue_turn;
                }
                let store = Store::open(opts).expect("open");
                start.wait();
                for i in 0..writes {
                    let mut tx = Transaction::new(format!("writer {w} write {i}"));
                    tx.set(&r(&format!("@/custom/w{w}/n{i}")), json!(i));
                    store.commit(&tx).expect("commit");
                }
            });
        }
    });
    drop(daemon);
    let order: Vec<usize> = git(
        &bare,
        &["log", "--first-parent", "--reverse", "--format=%s", "state"],
    )
    .lines()
    .filter_map(|l| l.strip_prefix("writer "))
    .map(|l| {
        l.split(' ')
            .next()
            .expect("writer")
            .parse()
            .expect("number")
    })
    .collect();
    (tmp, bare, order)
}

/// The longest run of commits by one writer in `order`.
fn longest_streak(order: &[usize]) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for (i, w) in order.iter().enumerate() {
        run = if i > 0 && order[i - 1] == *w {
            run + 1
        } else {
            1
        };
        longest = longest.max(run);
    }
    longest
}

/// Issue 16 ("fair writers across machines"): writers with their own caches take turns
/// through the marker refs of the remote's waiting queue. Every write lands exactly once,
/// no marker is left behind, and no writer lands a long streak while others wait (without
/// the queue, the last winner keeps winning: streaks of all its writes).
#[test]
fn writers_with_separate_caches_take_turns_through_the_remote_queue() {
    const WRITERS: usize = 4;
    const WRITES: usize = 12;
    let (_tmp, bare, order) = race_separate_caches(1, WRITERS, WRITES);
    // Every write once: one commit per write, each document there.
    assert_eq!(order.len(), WRITERS * WRITES, "{order:?}");
    for w in 0..WRITERS {
        assert_eq!(
            order.iter().filter(|o| **o == w).count(),
            WRITES,
            "{order:?}"
        );
        for i in 0..WRITES {
            let path = format!("state:refs/@/custom/w{w}/n{i}/#.yaml");
            assert_eq!(git(&bare, &["show", &path]).trim(), i.to_string());
        }
    }
    assert_eq!(
        git(&bare, &["for-each-ref", "refs/ocuroot/"]).trim(),
        "",
        "markers left behind"
    );
    git(&bare, &["fsck", "--strict", "--no-dangling"]);
    // With a turn of one commit, a writer that lands lands again only after the writers
    // that were waiting, or when it saw nobody waiting: then it looks again after 4 commits
    // (at the start, losers may not have pushed their markers yet). Without the queue the
    // first winner lands all its 12 writes in a row.
    let streak = longest_streak(&order);
    assert!(streak <= WRITES / 2, "streak {streak}: {order:?}");
}

/// A marker whose writer died (it never lands, never deletes it) delays the queue once,
/// by the time a writer waits behind the first marker, and is deleted by the landing push
/// of the writer that passed it over.
#[test]
fn a_dead_writers_marker_is_passed_over_and_deleted() {
    let rm = Remote::new();
    let a = open_queued(&rm, "a", Duration::ZERO);
    set(&a, "@/custom/seed", json!(0));
    let tip = git(&rm.bare, &["rev-parse", "state"]).trim().to_string();
    let dead = "refs/ocuroot/waiting/state/w-00000000deadbeef";
    git(&rm.bare, &["update-ref", dead, &tip]);
    // The test stores fetch before every commit, so the writer sees the marker, joins the
    // queue behind it and waits.
    let started = std::time::Instant::now();
    set(&a, "@/custom/after", json!(1));
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(15), "waited {waited:?}");
    assert!(waited >= Duration::from_secs(3), "did not wait: {waited:?}");
    assert_eq!(git(&rm.bare, &["for-each-ref", "refs/ocuroot/"]).trim(), "");
    // The next commit does not wait again.
    let started = std::time::Instant::now();
    set(&a, "@/custom/later", json!(2));
    assert!(started.elapsed() < Duration::from_secs(3));
    let fresh = rm.open("c");
    assert_eq!(fresh.get(&r("@/custom/after")).expect("after"), json!(1));
}

/// A remote that refuses atomic pushes cannot delete a marker together with the branch
/// update: the writers race as before the queue, all writes land, and the markers they
/// pushed are deleted.
#[test]
fn without_atomic_pushes_the_queue_is_off_and_leaves_no_marker() {
    let rm = Remote::new();
    git(&rm.bare, &["config", "receive.advertiseAtomic", "false"]);
    let a = open_queued(&rm, "a", Duration::ZERO);
    set(&a, "@/custom/seed", json!(0));
    set(&a, "@/custom/a", json!(1));
    // b's cache is behind and not fetched again (the debounce): its first push loses, it
    // joins the queue, and its landing push (atomic, with the marker's deletion) is refused
    // as not supported.
    let stale = open_queued(&rm, "b", Duration::from_secs(60));
    set(&a, "@/custom/a2", json!(3));
    let mut tx = Transaction::new("b");
    tx.set(&r("@/custom/b"), json!(2));
    let outcome = stale.commit(&tx).expect("commit");
    assert!(outcome.retries >= 1, "{outcome:?}");
    assert!(
        outcome.timings.pushes >= 3,
        "marker, atomic, plain: {outcome:?}"
    );
    let fresh = rm.open("c");
    for (k, v) in [("a", 1), ("b", 2), ("a2", 3)] {
        assert_eq!(fresh.get(&r(&format!("@/custom/{k}"))).expect(k), json!(v));
    }
    assert_eq!(git(&rm.bare, &["for-each-ref", "refs/ocuroot/"]).trim(), "");
}

/// A store of `rm` under `home` with the waiting queue on (turns of one commit).
fn open_queued(rm: &Remote, home: &str, fetch_interval: Duration) -> Store {
    let mut o = remote_options(&rm.home(home), &rm.url, "state", "", StoreKind::State);
    if let Some(remote) = &mut o.remote {
        remote.settings.fetch_interval = fetch_interval;
        remote.settings.queue_turn = 1;
    }
    Store::open(o).expect("open")
}

/// Issue 16 ("fair writers across machines"), folding: writers with their own caches on a
/// real `git daemon`. Every write lands exactly once, no proposal is left behind, and some
/// writes were landed by another writer (their commit carries `Ocuroot-Proposal:`).
#[test]
fn writers_with_separate_caches_fold_each_others_writes() {
    const WRITERS: usize = 6;
    const WRITES: usize = 15;
    let (_tmp, bare, order) = race_separate_caches(0, WRITERS, WRITES);
    assert_eq!(order.len(), WRITERS * WRITES, "{order:?}");
    for w in 0..WRITERS {
        assert_eq!(
            order.iter().filter(|o| **o == w).count(),
            WRITES,
            "{order:?}"
        );
        for i in 0..WRITES {
            let path = format!("state:refs/@/custom/w{w}/n{i}/#.yaml");
            assert_eq!(git(&bare, &["show", &path]).trim(), i.to_string());
        }
    }
    assert_eq!(
        git(&bare, &["for-each-ref", "refs/ocuroot/"]).trim(),
        "",
        "proposals left behind"
    );
    git(&bare, &["fsck", "--strict", "--no-dangling"]);
    // A folded commit keeps its proposer's message ("writer <w> write <i>") and names the
    // proposal, whose id starts with the proposer's writer id: it was pushed by a writer
    // whose own commit follows it in the same push, so the next commit is another writer's.
    let log = git(
        &bare,
        &[
            "log",
            "--first-parent",
            "--reverse",
            "--format=%s%x09%(trailers:key=Ocuroot-Proposal,valueonly,separator=)",
            "state",
        ],
    );
    let folded = log
        .lines()
        .filter(|l| l.split('\t').nth(1).is_some_and(|p| !p.trim().is_empty()))
        .count();
    assert!(folded >= 1, "no write was folded:\n{log}");
}

/// Writes `tx` as a hand-made proposal `id` on the remote `bare`, made on the tip of
/// `state`, with `deadline` (Unix seconds; the test clock says 1_767_225_600), authored by
/// "Hand <hand@example.com>". Returns the proposal's ref name.
fn hand_proposal(bare: &Path, id: &str, tx: &Transaction, deadline: i64) -> String {
    let doc = serde_json::to_string(&json!({ "deadline": deadline, "transaction": tx }))
        .expect("serialize");
    let blob = git_with_input(bare, &["hash-object", "-w", "--stdin"], &doc);
    let tree = git_with_input(
        bare,
        &["mktree"],
        &format!("100644 blob {}\tproposal.json\n", blob.trim()),
    );
    let tip = git(bare, &["rev-parse", "state"]);
    let commit = git(
        bare,
        &[
            "commit-tree",
            tree.trim(),
            "-p",
            tip.trim(),
            "-m",
            &format!("ocuroot proposal {id}"),
        ],
    );
    let name = format!("refs/ocuroot/proposals/state/{id}");
    git(bare, &["update-ref", &name, commit.trim()]);
    name
}

/// A combiner lands a proposal whose operations hold on the tip with its proposer's
/// message and author, and leaves alone one whose expectation fails (only its author may
/// drop it) and one that was never read; an expired proposal is not landed but deleted.
#[test]
fn combiners_land_valid_proposals_and_skip_failed_and_expired_ones() {
    const NOW: i64 = 1_767_225_600;
    let rm = Remote::new();
    let b = rm.open("b");
    set(&b, "@/custom/claim", json!("a"));
    let mut good = Transaction::new("proposed write");
    good.expect(&r("@/custom/claim"), Some(json!("a")));
    good.set(&r("@/custom/good"), json!(1));
    good.trailer("Requested-by", "Ada <ada@example.com>");
    let good_ref = hand_proposal(&rm.bare, "00000000000000aa-00000001", &good, NOW + 60);
    let mut stale = Transaction::new("claim that lost");
    stale.expect(&r("@/custom/claim"), Some(json!("someone else")));
    stale.set(&r("@/custom/stale"), json!(1));
    let stale_ref = hand_proposal(&rm.bare, "00000000000000bb-00000002", &stale, NOW + 60);
    let mut dead = Transaction::new("a killed writer's write");
    dead.set(&r("@/custom/dead"), json!(1));
    let dead_ref = hand_proposal(&rm.bare, "00000000000000cc-00000003", &dead, NOW - 1);

    let mut tx = Transaction::new("b's write");
    tx.set(&r("@/custom/b"), json!(2));
    let outcome = b.commit(&tx).expect("commit");
    let fresh = rm.open("d");
    assert_eq!(fresh.get(&r("@/custom/b")).expect("b"), json!(2));
    assert_eq!(fresh.get(&r("@/custom/good")).expect("good"), json!(1));
    assert!(
        fresh
            .try_get(&r("@/custom/stale"))
            .expect("stale")
            .is_none()
    );
    assert!(fresh.try_get(&r("@/custom/dead")).expect("dead").is_none());
    // b's commit on top of the folded one, which keeps the proposer's message and author.
    let own = outcome.commit.expect("commit id");
    assert_eq!(git(&rm.bare, &["rev-parse", "state"]).trim(), own);
    let folded = git(
        &rm.bare,
        &["log", "-1", "--format=%an <%ae>%n%B", &format!("{own}^")],
    );
    assert!(
        folded.starts_with("Hand <hand@example.com>\nproposed write\n"),
        "{folded}"
    );
    assert!(
        folded.contains("Requested-by: Ada <ada@example.com>"),
        "{folded}"
    );
    assert!(
        folded.contains("Ocuroot-Proposal: 00000000000000aa-00000001"),
        "{folded}"
    );
    let refs = git(
        &rm.bare,
        &["for-each-ref", "--format=%(refname)", "refs/ocuroot/"],
    );
    assert!(
        !refs.contains(&good_ref),
        "landed proposal not deleted: {refs}"
    );
    assert!(
        !refs.contains(&dead_ref),
        "expired proposal not deleted: {refs}"
    );
    assert!(
        refs.contains(&stale_ref),
        "a failed proposal is its author's: {refs}"
    );
    git(&rm.bare, &["fsck", "--strict", "--no-dangling"]);
}

/// Installs a `pre-receive` hook in `bare` that logs every ref update it receives to
/// `received.log` and, once, when a push would move `state` from its current tip, first
/// moves `state` to `refs/heads/intruder` (another writer landing during our push).
fn race_once_and_log(bare: &Path) {
    let hook = bare.join("hooks/pre-receive");
    std::fs::create_dir_all(bare.join("hooks")).expect("mkdir hooks");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do\n  echo \"$old $new $ref\" >> received.log\n  \
         if [ \"$ref\" = refs/heads/state ] && [ ! -e raced ] && \
         [ \"$old\" = \"$(git rev-parse refs/heads/state)\" ]; then\n    touch raced\n    \
         env -u GIT_QUARANTINE_PATH git update-ref refs/heads/state refs/heads/intruder\n  \
         fi\ndone\nexit 0\n",
    )
    .expect("write hook");
    let mut perms = std::fs::metadata(&hook).expect("hook").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).expect("chmod hook");
}

/// A store of `rm` whose next commit loses a race (to an intruder that sets `intruder_doc`
/// while its push is received), so that it publishes its proposal.
fn store_that_loses_a_race(rm: &Remote, intruder_doc: &str) -> Store {
    let a = rm.open("a");
    set(&a, "@/custom/claim", json!("a"));
    prepare_intruder(rm, "state", &rm.open("o"), intruder_doc);
    race_once_and_log(&rm.bare);
    a
}

/// The proposals `bare`'s hook saw created.
fn proposals_received(bare: &Path) -> usize {
    std::fs::read_to_string(bare.join("received.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("0000000000000000000000000000000000000000 "))
        .filter(|l| l.contains(" refs/ocuroot/proposals/state/"))
        .count()
}

/// A writer whose expectation stops holding while its proposal waits gets
/// [`StoreError::Changed`], as without folding, and withdraws its proposal: nothing of the
/// transaction is written, no proposal is left.
#[test]
fn a_proposal_whose_expectation_fails_returns_changed_to_its_author() {
    let rm = Remote::new();
    // The intruder takes the claim.
    let a = store_that_loses_a_race(&rm, "@/custom/claim");
    let mut tx = Transaction::new("claim it");
    tx.expect(&r("@/custom/claim"), Some(json!("a")));
    tx.set(&r("@/custom/mine"), json!(1));
    let err = a.commit(&tx).expect_err("the claim is gone");
    assert!(matches!(err, StoreError::Changed { .. }), "{err:?}");
    assert_eq!(proposals_received(&rm.bare), 1, "no proposal was published");
    let fresh = rm.open("d");
    assert!(fresh.try_get(&r("@/custom/mine")).expect("mine").is_none());
    assert_eq!(
        fresh.get(&r("@/custom/claim")).expect("claim"),
        json!("intruder")
    );
    assert_eq!(git(&rm.bare, &["for-each-ref", "refs/ocuroot/"]).trim(), "");
}

/// A remote that refuses atomic pushes cannot delete a proposal together with the branch
/// update: the writer withdraws its proposal and races as without folding; its write lands
/// once and no proposal is left.
#[test]
fn without_atomic_pushes_folding_falls_back_and_leaves_no_proposal() {
    let rm = Remote::new();
    git(&rm.bare, &["config", "receive.advertiseAtomic", "false"]);
    let a = store_that_loses_a_race(&rm, "@/custom/other");
    let mut tx = Transaction::new("a");
    tx.set(&r("@/custom/mine"), json!(1));
    let outcome = a.commit(&tx).expect("commit");
    assert!(outcome.retries >= 1, "{outcome:?}");
    assert_eq!(proposals_received(&rm.bare), 1, "no proposal was published");
    let fresh = rm.open("d");
    assert_eq!(fresh.get(&r("@/custom/mine")).expect("mine"), json!(1));
    assert_eq!(
        fresh.get(&r("@/custom/other")).expect("other"),
        json!("intruder")
    );
    assert_eq!(git(&rm.bare, &["for-each-ref", "refs/ocuroot/"]).trim(), "");
    let landed = git(&rm.bare, &["log", "--format=%s", "state"]);
    assert_eq!(landed.lines().filter(|l| *l == "a").count(), 1, "{landed}");
    // The next commit does not try to fold again on this remote.
    set(&a, "@/custom/later", json!(2));
    assert_eq!(proposals_received(&rm.bare), 1);
}
