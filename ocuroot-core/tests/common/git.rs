//! Plain-`git` helpers shared by the core and CLI test suites: hermetic `git` runs,
//! hand-made commits (as a person editing a store would make them), bare remotes and a
//! `git daemon` on 127.0.0.1.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Hand")
        .env("GIT_AUTHOR_EMAIL", "hand@example.com")
        .env("GIT_COMMITTER_NAME", "Hand")
        .env("GIT_COMMITTER_EMAIL", "hand@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    cmd
}

/// Runs `git` in `dir` and returns stdout, panicking on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir, args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs `git` in `dir` and returns stdout, or `None` on failure.
pub fn try_git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = git_command(dir, args).output().expect("run git");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// Commits `files` (path, content; `None` deletes) on top of `branch` of the repository
/// `repo` with plain git plumbing, as a person editing the store by hand would. The branch
/// is created if missing. Returns the new commit.
pub fn hand_commit(repo: &Path, branch: &str, files: &[(&str, Option<&str>)]) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let index = tmp.path().join("index");
    let run = |args: &[&str], input: Option<&str>| -> String {
        let mut cmd = git_command(repo, args);
        cmd.env("GIT_INDEX_FILE", &index)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
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
    let full = format!("refs/heads/{branch}");
    let parent = try_git(repo, &["rev-parse", "--verify", "-q", &full])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(parent) = &parent {
        run(&["read-tree", parent], None);
    }
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
    let mut args = vec!["commit-tree", tree.as_str(), "-m", "hand edit"];
    if let Some(p) = &parent {
        args.extend(["-p", p.as_str()]);
    }
    let commit = run(&args, None);
    match &parent {
        Some(p) => run(&["update-ref", &full, &commit, p], None),
        None => run(&["update-ref", &full, &commit], None),
    };
    commit
}

/// Makes an empty bare repository at `path` (default branch `main`), for remote stores.
pub fn bare_remote(path: &Path) {
    std::fs::create_dir_all(path).expect("mkdir remote");
    git(path, &["init", "-q", "--bare", "-b", "main"]);
}

/// Installs a `post-receive` hook in the bare repository `remote` that records every push
/// it accepts (one hook call per `git push`, however many branches it updates), for
/// [`pushes`].
pub fn record_pushes(remote: &Path) {
    let hook = remote.join("hooks/post-receive");
    std::fs::create_dir_all(remote.join("hooks")).expect("mkdir hooks");
    std::fs::write(&hook, "#!/bin/sh\n{ echo push; cat; } >> pushes.log\n").expect("write hook");
    let mut perms = std::fs::metadata(&hook).expect("hook").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).expect("chmod hook");
}

/// Returns the pushes `remote` accepted since [`record_pushes`] (or the last call), oldest
/// first, each as the sorted names of the branches it updated; then forgets them.
pub fn pushes(remote: &Path) -> Vec<Vec<String>> {
    let log = remote.join("pushes.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        if line == "push" {
            out.push(Vec::new());
        } else if let (Some(push), Some(name)) = (out.last_mut(), line.split(' ').nth(2)) {
            push.push(name.trim_start_matches("refs/heads/").to_string());
            push.sort();
        }
    }
    out
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
