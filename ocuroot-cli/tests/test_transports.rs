//! Remote stores over smart HTTP (with credentials in the URL or from an askpass program;
//! a credential helper of the global Git configuration is not used) and over ssh (through
//! `GIT_SSH_COMMAND` and a fake `ssh`), end to end.

use std::path::{Path, PathBuf};

use crate::common::{GitHttp, TestEnv, bare_remote, fake_ssh, git, ssh_log};

const TOKEN: &str = "secret-token-4711";
const ONE_BRANCH: &str =
    "repo_alias(\"demo\")\nstore.set(store.git(env()[\"STORE_REMOTE\"], branch = \"main\"))\n";

/// Every file below `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn http_token_in_the_url_is_never_printed_or_recorded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    let remote = served.join("store.git");
    bare_remote(&remote);
    let server = GitHttp::with_auth(&served, "ci", TOKEN);
    let mut env = TestEnv::from_fixture("gitstate_shared");
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    env.set_env(
        "STATE_REMOTE",
        &server.url_with_credentials("store.git", "ci", TOKEN),
    );
    // The source repository's own remote carries a token too; it is recorded in state.
    env.git(&[
        "remote",
        "add",
        "origin",
        &format!("https://ci:{TOKEN}@example.invalid/source.git"),
    ]);
    let mut printed = String::new();
    for args in [
        &["release", "new", "environments/package.ocu.star"][..],
        &["release", "new", "basic.ocu.star"],
        &["state", "get", "gitstate_shared/repo/-/repo.ocu.star/@"],
    ] {
        let out = env.run(args).success();
        printed.push_str(&out.stdout);
        printed.push_str(&out.stderr);
    }
    assert!(!printed.contains(TOKEN), "{printed}");
    assert!(
        printed.contains("https://example.invalid/source.git"),
        "the recorded repo config lists the origin without its token: {printed}"
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|q| q.target.ends_with("git-receive-pack") && q.user.as_deref() == Some("ci")),
        "{:?}",
        server.requests()
    );
    let objects = git(
        &remote,
        &["cat-file", "--batch-all-objects", "--batch", "--unordered"],
    );
    assert!(
        objects.contains("basic.ocu.star"),
        "the remote holds the release"
    );
    assert!(!objects.contains(TOKEN), "the remote holds the token");
    assert_eq!(
        files_containing(&env.root().join("home"), TOKEN),
        Vec::<PathBuf>::new()
    );

    // A wrong token: exit 1, the remote named with its credentials hidden.
    env.set_env(
        "STATE_REMOTE",
        &server.url_with_credentials("store.git", "ci", "wrong-token-0815"),
    );
    let out = env.run(&["state", "get", "basic.ocu.star/@/deploy/staging"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "cannot fetch from http://***@127.0.0.1:{}/store.git",
            server.port
        )),
        "{out}"
    );
    assert!(out.stderr.contains("Authentication failed"), "{out}");
    assert!(!out.stderr.contains("wrong-token-0815"), "{out}");
}

#[test]
fn http_credentials_from_an_askpass_program() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    let remote = served.join("store.git");
    bare_remote(&remote);
    let server = GitHttp::with_auth(&served, "ci", TOKEN);
    // Git asks `$GIT_ASKPASS "Username for '…': "`, then the same for the password.
    let token_file = tmp.path().join("token");
    let askpass = tmp.path().join("askpass");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  Username*) echo ci ;;\n  *) cat '{}' ;;\nesac\n",
            token_file.display()
        ),
    )
    .expect("write askpass");
    let mut perms = std::fs::metadata(&askpass).expect("askpass").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&askpass, perms).expect("chmod askpass");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let url = server.url("store.git");
    let mut env = TestEnv::with_config(ONE_BRANCH);
    env.set_env("STORE_REMOTE", &url);
    env.set_env("GIT_ASKPASS", askpass.to_str().expect("utf-8"));
    env.run(&["state", "set", "@/custom/a", "1"]).success();
    // `state set` writes intent; `state diff` reads it back (not applied yet).
    let out = env.run(&["state", "diff"]).success();
    assert_eq!(out.stdout, "@/custom/a\n", "{out}");
    assert!(
        server
            .requests()
            .iter()
            .any(|q| q.target.ends_with("git-receive-pack") && q.user.as_deref() == Some("ci")),
        "{:?}",
        server.requests()
    );
    assert!(
        git(&remote, &["ls-tree", "-r", "--name-only", "main"])
            .contains("intent/refs/@/custom/a/#.yaml")
    );

    // The token goes stale: exit 1, naming the remote.
    std::fs::write(&token_file, "wrong-token-0815\n").expect("write token");
    let out = env.run(&["state", "set", "@/custom/b", "2"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!("cannot fetch from {url}")),
        "{out}"
    );
    assert!(out.stderr.contains("Authentication failed"), "{out}");
    assert!(!out.stderr.contains("wrong-token-0815"), "{out}");
}

/// The global Git configuration never applies to ocuroot's `git` processes (issue 13), so
/// a credential helper configured there is not asked: the fetch fails for want of a
/// username, naming the remote.
#[test]
fn a_credential_helper_in_the_global_git_config_is_not_used() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    let remote = served.join("store.git");
    bare_remote(&remote);
    let server = GitHttp::with_auth(&served, "ci", TOKEN);
    let credentials = tmp.path().join("git-credentials");
    let gitconfig = tmp.path().join("gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[credential]\n\thelper = store --file={}\n",
            credentials.display()
        ),
    )
    .expect("write gitconfig");
    std::fs::write(
        &credentials,
        format!("http://ci:{TOKEN}@127.0.0.1:{}\n", server.port),
    )
    .expect("write credentials");
    let url = server.url("store.git");
    let mut env = TestEnv::with_config(ONE_BRANCH);
    env.set_env("STORE_REMOTE", &url);
    env.set_env("GIT_CONFIG_GLOBAL", gitconfig.to_str().expect("utf-8"));
    let out = env.run(&["state", "set", "@/custom/a", "1"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!("cannot fetch from {url}")),
        "{out}"
    );
    assert!(out.stderr.contains("could not read Username"), "{out}");
}

#[test]
fn ssh_urls_through_git_ssh_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = tmp.path().join("store.git");
    bare_remote(&remote);
    let ssh_dir = tmp.path().join("ssh");
    let ssh = fake_ssh(&ssh_dir);
    // Two jobs on two machines: one uses an ssh:// URL, the other the scp-like form.
    let jobs: Vec<TestEnv> = [
        format!("ssh://tester@fake-host{}", remote.display()),
        format!("tester@fake-host:{}", remote.display()),
    ]
    .iter()
    .map(|url| {
        let mut env = TestEnv::with_config(ONE_BRANCH);
        env.set_env("STORE_REMOTE", url);
        env.set_env("GIT_SSH_COMMAND", ssh.to_str().expect("utf-8"));
        env
    })
    .collect();
    jobs[0].run(&["state", "set", "@/custom/a", "1"]).success();
    // `state set` writes intent; `state diff` reads it back (not applied yet).
    let out = jobs[1].run(&["state", "diff"]).success();
    assert_eq!(out.stdout, "@/custom/a\n", "{out}");
    jobs[1].run(&["state", "set", "@/custom/b", "2"]).success();
    let out = jobs[0].run(&["state", "diff"]).success();
    assert_eq!(out.stdout, "@/custom/a\n@/custom/b\n", "{out}");
    // Both jobs write at once, a few times: every write lands.
    for round in 0..3 {
        let children: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, env)| {
                env.command(
                    "",
                    &["state", "set", &format!("@/custom/r{round}j{i}"), "1"],
                )
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn ocuroot")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let files = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    for round in 0..3 {
        for i in 0..2 {
            assert!(
                files.contains(&format!("intent/refs/@/custom/r{round}j{i}/#.yaml")),
                "{files}"
            );
        }
    }
    git(&remote, &["fsck", "--strict", "--no-dangling"]);
    let log = ssh_log(&ssh_dir);
    for service in ["git-upload-pack", "git-receive-pack"] {
        let line = format!("tester@fake-host {service} '{}'", remote.display());
        assert!(log.contains(&line), "no {line} in {log:?}");
    }
}
