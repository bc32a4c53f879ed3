//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
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

/// Runs `git` in `dir` and returns stdout, panicking on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Hand")
        .env("GIT_AUTHOR_EMAIL", "hand@example.com")
        .env("GIT_COMMITTER_NAME", "Hand")
        .env("GIT_COMMITTER_EMAIL", "hand@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Commits `files` (path, content; `None` deletes) on top of `branch` with plain git
/// plumbing, as a person editing the store by hand would.
pub fn hand_commit(repo: &Path, branch: &str, files: &[(&str, Option<&str>)]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let index = tmp.path().join("index");
    let run = |args: &[&str], input: Option<&str>| -> String {
        use std::io::Write;
        let mut cmd = Command::new("git");
        cmd.current_dir(repo)
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_SYSTEM", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Hand")
            .env("GIT_AUTHOR_EMAIL", "hand@example.com")
            .env("GIT_COMMITTER_NAME", "Hand")
            .env("GIT_COMMITTER_EMAIL", "hand@example.com")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn git");
        if let Some(input) = input {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("wait git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let parent = run(
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}"),
        ],
        None,
    );
    run(&["read-tree", &parent], None);
    for (path, content) in files {
        match content {
            Some(c) => {
                let blob = run(&["hash-object", "-w", "--stdin"], Some(c));
                run(
                    &[
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        &format!("100644,{blob},{path}"),
                    ],
                    None,
                );
            }
            None => {
                run(&["update-index", "--force-remove", path], None);
            }
        }
    }
    let tree = run(&["write-tree"], None);
    let commit = run(
        &["commit-tree", &tree, "-p", &parent, "-m", "hand edit"],
        None,
    );
    run(
        &[
            "update-ref",
            &format!("refs/heads/{branch}"),
            &commit,
            &parent,
        ],
        None,
    );
}

/// Opens a store in `branch` of the remote `url`, cached under `home`, fetching before
/// every read (no debounce) so that tests see other writers at once.
pub fn open_remote(home: &Path, url: &str, branch: &str, prefix: &str, kind: StoreKind) -> Store {
    Store::open(remote_options(home, url, branch, prefix, kind)).expect("open remote store")
}

/// The options [`open_remote`] uses.
pub fn remote_options(
    home: &Path,
    url: &str,
    branch: &str,
    prefix: &str,
    kind: StoreKind,
) -> ocuroot_core::store::StoreOptions {
    let settings = ocuroot_core::store::RemoteSettings {
        fetch_interval: std::time::Duration::ZERO,
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

/// Makes an empty bare repository at `path` (a remote for store tests).
pub fn bare_remote(path: &Path) {
    std::fs::create_dir_all(path).expect("mkdir remote");
    git(path, &["init", "-q", "--bare", "-b", "main"]);
}

/// A `git daemon` serving the bare repositories below a folder over `git://`, with pushes
/// enabled; killed when dropped.
pub struct GitDaemon {
    child: std::process::Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl GitDaemon {
    /// Starts a daemon serving `base` and waits until it accepts connections.
    pub fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--enable=receive-pack")
            .arg("--export-all")
            .arg("--informative-errors")
            .arg(format!("--base-path={}", base.display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(base)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_SYSTEM", "/dev/null")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start git daemon (part of the git package)");
        let mut daemon = GitDaemon { child, port };
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("git daemon exited at start: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("git daemon did not listen on port {port}");
    }

    /// The `git://` URL of the repository `name` below the served folder.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
