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
