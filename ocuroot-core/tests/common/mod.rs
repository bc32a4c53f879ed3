//! Helpers shared by the integration tests.
#![allow(dead_code)]

mod git;
pub mod harness;
pub mod original;
pub mod tree;
pub use git::{
    GitDaemon, GitHttp, bare_remote, fake_ssh, git, git_with_input, hand_commit, pushes,
    record_pushes, ssh_log,
};

use std::path::Path;
use std::sync::Arc;

use ocuroot_core::clock::{FixedClock, Timestamp};
use ocuroot_core::refs::Ref;
use ocuroot_core::store::{Store, StoreKind, StoreOptions};

/// Parses a ref, panicking with the ref in the message.
pub fn r(s: &str) -> Ref {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test ref {s}: {e}"))
}

/// A fixed clock for reproducible commits.
pub fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(Timestamp {
        seconds: 1_767_225_600,
        nanos: 0,
    }))
}

/// Opens a store in `repo` on `branch` (with an optional folder prefix).
pub fn open(repo: &Path, branch: &str, prefix: &str, kind: StoreKind) -> Store {
    let mut opts = StoreOptions::new(repo, branch, kind, clock());
    opts.prefix = prefix.to_string();
    Store::open(opts).expect("open store")
}

/// Opens a store in `branch` of the remote `url`, cached under `home`, fetching before
/// every read (no debounce) so that tests see other writers at once.
pub fn open_remote(home: &Path, url: &str, branch: &str, prefix: &str, kind: StoreKind) -> Store {
    Store::open(remote_options(home, url, branch, prefix, kind)).expect("open remote store")
}

/// Creates the cache that a store of `url` under `home` will use, configured with
/// `core.sshCommand = ssh` (Git reads it from the repository it runs in), so that the core
/// tests can reach `ssh://` remotes through a fake `ssh` without touching the process
/// environment. The store adopts an existing healthy cache as it is.
pub fn preconfigure_ssh_cache(home: &Path, url: &str, ssh: &Path) {
    let cache = ocuroot_core::store::remote::cache_path(home, url);
    if cache.join("HEAD").is_file() {
        return;
    }
    std::fs::create_dir_all(&cache).expect("mkdir cache");
    git(&cache, &["init", "-q", "--bare"]);
    git(
        &cache,
        &[
            "config",
            "core.sshCommand",
            ssh.to_str().expect("utf-8 path"),
        ],
    );
}

/// The options [`open_remote`] uses.
pub fn remote_options(
    home: &Path,
    url: &str,
    branch: &str,
    prefix: &str,
    kind: StoreKind,
) -> ocuroot_core::store::StoreOptions {
    // The core remote tests run with folding on (opt-in for users, see RemoteSettings::fold);
    // the CLI's and the engine harness's stores use the default racing loop.
    let settings = ocuroot_core::store::RemoteSettings {
        fetch_interval: std::time::Duration::ZERO,
        fold: true,
        ..Default::default()
    };
    let remote = ocuroot_core::store::RemoteOptions {
        url: url.to_string(),
        create_branch: true,
        support_files: Default::default(),
        settings,
    };
    let mut opts = StoreOptions::for_remote(home, remote, branch, kind, clock());
    opts.prefix = prefix.to_string();
    opts
}

/// Opens a workspace on the repository `dir` as the engine tests do: commit `c1`, the test
/// clock, a home folder inside `dir`.
pub fn engine_workspace(dir: &Path) -> ocuroot_core::workspace::Workspace {
    ocuroot_core::workspace::Workspace::open(ocuroot_core::workspace::WorkspaceOptions {
        cwd: dir.to_path_buf(),
        env: Default::default(),
        repo_url_override: None,
        commit_override: Some("c1".to_string()),
        author: Default::default(),
        clock: clock(),
        sink: Arc::new(ocuroot_core::sdk::CollectingSink::default()),
        home: Some(dir.join(".home")),
        remote: Default::default(),
    })
    .expect("open workspace")
}

/// Engine options for tests: 4 runs at once, no progress, waves in slices of `wave_slice`,
/// claims as this test process (no owner judged gone).
pub fn engine_options(wave_slice: usize) -> ocuroot_core::engine::EngineOptions {
    use ocuroot_core::engine::{ClaimOptions, EngineOptions, NoProcesses, NoProgress, Owner};
    EngineOptions {
        parallel: 4,
        progress: Arc::new(NoProgress),
        clock: clock(),
        results_window: std::time::Duration::from_secs(600),
        wave_slice,
        claims: ClaimOptions::new(
            Owner {
                host: "test".to_string(),
                pid: std::process::id(),
                ..Owner::default()
            },
            Arc::new(NoProcesses),
        ),
        requested_by: None,
    }
}

/// Makes `dir` a Git repository (branch `main`) whose one commit holds every file in it.
pub fn commit_all(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "init",
        ],
    );
}

/// The store commit author the CLI would take from `OCUROOT_GIT_USER_NAME` and
/// `OCUROOT_GIT_USER_EMAIL` in `env` (ocuroot's own identity for what is unset).
pub fn author_from(
    env: &std::collections::BTreeMap<String, String>,
) -> ocuroot_core::store::Author {
    let mut author = ocuroot_core::store::Author::default();
    if let Some(name) = env.get("OCUROOT_GIT_USER_NAME") {
        author.name = name.clone();
    }
    if let Some(email) = env.get("OCUROOT_GIT_USER_EMAIL") {
        author.email = email.clone();
    }
    author
}
