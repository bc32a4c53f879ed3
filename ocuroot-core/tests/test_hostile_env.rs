//! Core under a hostile process environment: `GIT_DIR`, `GIT_WORK_TREE` and
//! `GIT_INDEX_FILE` pointing at another repository, global, system and command-line Git
//! configuration that makes every `git` command fail, and a foreign author identity. The
//! store (local and remote, with maintenance) and a release still work, every commit is
//! authored by ocuroot, and the other repository is untouched: no `git` child of core
//! inherits any of it (issue 13, "one git subprocess module").
//!
//! The environment of a test process cannot be changed without `unsafe`, so the test runs
//! itself again as a child process with that environment: the parent prepares the
//! repositories and checks the result, the child does the work.

use std::path::{Path, PathBuf};
use std::process::Command;

use ocuroot_core::engine::{Engine, ReleaseOutcome, ReleaseStatus};
use ocuroot_core::git_subprocess::GitEnvironment;
use ocuroot_core::store::{StoreKind, Transaction};
use serde_json::json;

use crate::common::{
    bare_remote, commit_all, engine_options, engine_workspace, git, hand_commit, open, r,
};

/// Set in the child: the folder the parent prepared.
const CHILD: &str = "OCUROOT_TEST_HOSTILE_CHILD";
const TEST_NAME: &str = "test_hostile_env::store_and_release_ignore_a_hostile_git_environment";

/// Git configuration that no `git` command accepts.
const BROKEN_CONFIG: &str = "[[[ this is not git configuration\n";

const OURS: &str = "Ocuroot <contact@ocuroot.com>";

struct Layout {
    decoy: PathBuf,
    broken: PathBuf,
    local: PathBuf,
    remote: PathBuf,
    source: PathBuf,
}

fn layout(dir: &Path) -> Layout {
    Layout {
        decoy: dir.join("decoy"),
        broken: dir.join("broken.gitconfig"),
        local: dir.join("local.git"),
        remote: dir.join("remote.git"),
        source: dir.join("source"),
    }
}

/// The author and committer of every commit reachable from any branch of `repo`.
fn identities(repo: &Path) -> Vec<String> {
    git(repo, &["log", "--all", "--format=%an <%ae>|%cn <%ce>"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn store_and_release_ignore_a_hostile_git_environment() {
    if let Some(dir) = std::env::var_os(CHILD) {
        return child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let l = layout(tmp.path());

    // A repository the hostile variables point at, with a commit and an index.
    std::fs::create_dir_all(&l.decoy).expect("mkdir decoy");
    std::fs::write(l.decoy.join("decoy.txt"), "decoy\n").expect("write");
    commit_all(&l.decoy);
    let decoy_refs = git(&l.decoy, &["for-each-ref"]);
    let decoy_objects = git(&l.decoy, &["count-objects", "-v"]);
    let decoy_index = std::fs::read(l.decoy.join(".git/index")).expect("index");
    std::fs::write(&l.broken, BROKEN_CONFIG).expect("write config");
    let home = tmp.path().join("hostile-home");
    std::fs::create_dir_all(home.join(".config/git")).expect("mkdir home");
    std::fs::write(home.join(".gitconfig"), BROKEN_CONFIG).expect("write");
    std::fs::write(home.join(".config/git/config"), BROKEN_CONFIG).expect("write");

    // The local store's repository holds a pack and no multi-pack index yet, so that
    // maintenance in the child has to run `git multi-pack-index write`.
    bare_remote(&l.local);
    hand_commit(&l.local, "other", &[("file", Some("content\n"))]);
    git(&l.local, &["repack", "-a", "-d", "-q"]);
    assert!(!l.local.join("objects/pack/multi-pack-index").exists());

    bare_remote(&l.remote);
    std::fs::create_dir_all(&l.source).expect("mkdir source");
    std::fs::write(l.source.join("repo.ocu.star"), "repo_alias(\"hostile\")\n").expect("write");
    std::fs::write(
        l.source.join("environments.ocu.star"),
        "register_environment(environment(\"staging\"))\n",
    )
    .expect("write");
    std::fs::write(
        l.source.join("pkg.ocu.star"),
        "def up(environment):\n    return done(outputs = {\"v\": 1})\n\n\
         def down(environment):\n    return done()\n\n\
         phase(\"deploy\", tasks = [deploy(up = up, down = down, environment = e) \
         for e in environments()])\n",
    )
    .expect("write");
    commit_all(&l.source);

    let decoy_git = l.decoy.join(".git");
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, tmp.path())
        .env("GIT_DIR", &decoy_git)
        .env("GIT_WORK_TREE", &l.decoy)
        .env("GIT_INDEX_FILE", decoy_git.join("index"))
        .env("GIT_OBJECT_DIRECTORY", decoy_git.join("objects"))
        .env("GIT_CONFIG_GLOBAL", &l.broken)
        .env("GIT_CONFIG_SYSTEM", &l.broken)
        .env("GIT_CONFIG_PARAMETERS", "'[[[ not a parameter")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "include.path")
        .env("GIT_CONFIG_VALUE_0", &l.broken)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_AUTHOR_NAME", "Mallory")
        .env("GIT_AUTHOR_EMAIL", "mallory@example.com")
        .env("GIT_COMMITTER_NAME", "Mallory")
        .env("GIT_COMMITTER_EMAIL", "mallory@example.com")
        .env("EMAIL", "mallory@example.com")
        .output()
        .expect("run the child test");
    let said = format!(
        "child stdout:\n{}\nchild stderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // The child really ran the test (and did not filter it away).
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{said}"
    );

    // Every commit of every store is ours, not Mallory's.
    for repo in [&l.local, &l.remote, &l.source.join(".ocuroot/store.git")] {
        let ids: Vec<String> = identities(repo)
            .into_iter()
            // The hand-made commit of the fixture.
            .filter(|id| !id.starts_with("Hand "))
            .collect();
        assert!(!ids.is_empty(), "no commits in {}", repo.display());
        for id in ids {
            assert_eq!(id, format!("{OURS}|{OURS}"), "in {}", repo.display());
        }
    }
    // The remote got the pushes of both writers.
    let tree = git(&l.remote, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(tree.contains("refs/@/custom/a/#.yaml"), "{tree}");
    assert!(tree.contains("refs/@/custom/b/#.yaml"), "{tree}");
    // The repository the variables pointed at is as it was.
    assert_eq!(git(&l.decoy, &["for-each-ref"]), decoy_refs);
    assert_eq!(git(&l.decoy, &["count-objects", "-v"]), decoy_objects);
    assert_eq!(
        std::fs::read(l.decoy.join(".git/index")).expect("index"),
        decoy_index
    );
}

/// The work, in the hostile environment.
fn child(dir: &Path) {
    let l = layout(dir);
    // The environment is as hostile as intended: plain `git` fails in it.
    let plain = Command::new("git")
        .arg("-C")
        .arg(&l.source)
        .arg("status")
        .output()
        .expect("run git");
    assert!(!plain.status.success(), "plain git should fail here");
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("bad config"),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );

    // A local store: open, write, commit, read, and maintenance (`git` processes).
    let store = open(&l.local, "state", "", StoreKind::State);
    let mut tx = Transaction::new("hostile write");
    tx.set(&r("@/custom/x"), json!({"v": 1}));
    let outcome = store.commit(&tx).expect("commit");
    assert!(outcome.commit.is_some());
    assert_eq!(store.get(&r("@/custom/x")).expect("read"), json!({"v": 1}));
    // Each commit writes a pack; after 17 the store's maintenance rolls them up with
    // `git repack` and writes a multi-pack index (best effort); here it must have worked,
    // and an explicit pass must find nothing left to do or do it without error.
    for i in 0..17 {
        let mut tx = Transaction::new(format!("hostile write {i}"));
        tx.set(&r(&format!("@/custom/x{i}")), json!(i));
        store.commit(&tx).expect("commit");
    }
    ocuroot_core::store::maintain(&l.local, &GitEnvironment::default()).expect("maintain");
    assert!(l.local.join("objects/pack/multi-pack-index").is_file());

    // A remote store: two caches, each writing and reading the other's write (fetch, push,
    // ls-remote, cat-file, maintenance after each fetch).
    let url = l.remote.to_str().expect("utf-8 path");
    let first = crate::common::open_remote(&dir.join("home1"), url, "main", "", StoreKind::State);
    let second = crate::common::open_remote(&dir.join("home2"), url, "main", "", StoreKind::State);
    let mut tx = Transaction::new("first writer");
    tx.set(&r("@/custom/a"), json!("a"));
    first.commit(&tx).expect("first commit");
    assert_eq!(second.get(&r("@/custom/a")).expect("fetched"), json!("a"));
    let mut tx = Transaction::new("second writer");
    tx.set(&r("@/custom/b"), json!("b"));
    second.commit(&tx).expect("second commit");
    assert_eq!(first.get(&r("@/custom/b")).expect("fetched"), json!("b"));

    // A release, with the default store in the source repository.
    let ws = engine_workspace(&l.source);
    let engine = Engine::new(&ws, engine_options(16));
    engine
        .release_new(&"environments.ocu.star".parse().expect("ref"), false)
        .expect("environments");
    let outcome = engine
        .release_new(&"pkg.ocu.star".parse().expect("ref"), false)
        .expect("release");
    let ReleaseOutcome::Release {
        release, status, ..
    } = outcome
    else {
        panic!("not a release: {outcome:?}");
    };
    assert_eq!(status, ReleaseStatus::Complete, "{release}");
    assert_eq!(
        ws.state()
            .get(&r("hostile/-/pkg.ocu.star/@/deploy/staging#output/v"))
            .expect("deployed"),
        json!(1)
    );
}
