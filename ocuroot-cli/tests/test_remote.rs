//! Remote Git stores (`store.git`): spec §7.8 `gitstate` and §7.9 `gitstate_shared`, many
//! jobs writing one remote at once, a release killed at random points, and faults.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    GitDaemon, GitHttp, TestEnv, bare_remote, git, pushes, record_pushes, try_git,
};

/// `init_repos` + `init_working_dir` of the original harness: a bare remote whose `main`
/// holds one empty commit pushed from a working clone.
fn init_remote(dir: &Path, name: &str) -> PathBuf {
    let bare = dir.join(format!("{name}.git"));
    bare_remote(&bare);
    let work = dir.join(format!("{name}-work"));
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    git(
        &work,
        &["commit", "-q", "--allow-empty", "-m", "Initial commit"],
    );
    git(
        &work,
        &["push", "-q", bare.to_str().expect("utf-8"), "main"],
    );
    bare
}

fn fixture(name: &str, vars: &[(&str, &str)]) -> TestEnv {
    let mut env = TestEnv::from_fixture(name);
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    for (k, v) in vars {
        env.set_env(k, v);
    }
    env
}

/// The `gitstate` fixture (spec §7.8) with its state and intent remotes under `dir`.
fn gitstate(dir: &Path) -> (TestEnv, PathBuf, PathBuf) {
    let state = init_remote(dir, "state");
    let intent = init_remote(dir, "intent");
    let env = fixture(
        "gitstate",
        &[
            ("STATE_REMOTE", state.to_str().expect("utf-8")),
            ("INTENT_REMOTE", intent.to_str().expect("utf-8")),
        ],
    );
    (env, state, intent)
}

fn exists(env: &TestEnv, r: &str) -> bool {
    env.run(&["state", "get", r]).code() == 0
}

/// `check_file_in_remote REMOTE BRANCH PATH CONTENT`
fn file_in_remote(remote: &Path, branch: &str, path: &str) -> String {
    git(remote, &["show", &format!("{branch}:{path}")])
}

fn last_author(remote: &Path, branch: &str) -> String {
    git(remote, &["log", "-1", "--format=Author: %an <%ae>", branch])
        .trim()
        .to_string()
}

fn fsck(repo: &Path) {
    git(repo, &["fsck", "--strict", "--no-dangling"]);
}

fn caches(env: &TestEnv) -> Vec<PathBuf> {
    std::fs::read_dir(env.root().join("home/.ocuroot/stores"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn gitstate_separate_state_and_intent_remotes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env, state, intent) = gitstate(tmp.path());
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    let out = env.run(&["release", "new", "basic.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    for e in ["staging", "production", "production2"] {
        assert!(exists(&env, &format!("basic.ocu.star/@/deploy/{e}")), "{e}");
    }
    // Intent changed by a plain git commit in a clone of the intent remote.
    let clone = tmp.path().join("intent-clone");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "-b",
            "intent",
            intent.to_str().expect("utf-8"),
            "intent-clone",
        ],
    );
    git(
        &clone,
        &[
            "rm",
            "-q",
            "refs/gitstate/repo/-/basic.ocu.star/@/deploy/production/#.yaml",
        ],
    );
    git(&clone, &["commit", "-q", "-m", "remove production"]);
    git(&clone, &["push", "-q", "origin", "intent"]);
    let out = env.run(&["work", "any"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(exists(&env, "basic.ocu.star/@/deploy/staging"));
    assert!(exists(&env, "basic.ocu.star/@/deploy/production2"));
    assert!(!exists(&env, "basic.ocu.star/@/deploy/production"));
    assert_eq!(env.run(&["state", "diff"]).success().stdout, "");
    assert_eq!(file_in_remote(&state, "state", "support.txt"), "state");
    assert_eq!(file_in_remote(&intent, "intent", "support.txt"), "intent");
    assert_eq!(
        last_author(&state, "state"),
        "Author: Ocuroot <contact@ocuroot.com>"
    );
    // The remotes' `main` is left alone.
    assert_eq!(
        git(&state, &["log", "-1", "--format=%s", "main"]).trim(),
        "Initial commit"
    );
    fsck(&state);
    fsck(&intent);
    for cache in caches(&env) {
        fsck(&cache);
    }
}

/// Spec §7.8 step by step, including `work trigger --intent` in a clone of the separate
/// intent remote, which finds the state remote and the trigger through the configuration
/// copied into the intent store (issue 11).
#[test]
fn gitstate_scenario_end_to_end_with_intent_clone_trigger() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env, state, intent) = gitstate(tmp.path());
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    let out = env.run(&["release", "new", "basic.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    for e in ["staging", "production", "production2"] {
        assert!(exists(&env, &format!("basic.ocu.star/@/deploy/{e}")), "{e}");
    }
    env.run(&["state", "delete", "./-/basic.ocu.star/@/deploy/production"])
        .success();
    // The intent remote records where the state store is.
    let copied = file_in_remote(
        &intent,
        "intent",
        "repos/gitstate/repo/-/repo.ocu.star/@/#.yaml",
    );
    assert!(copied.contains("commit: commitid"), "{copied}");
    assert!(copied.contains("STATE_REMOTE"), "{copied}");
    let clone = tmp.path().join("intent-clone");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            intent.to_str().expect("utf-8"),
            "intent-clone",
        ],
    );
    git(&clone, &["checkout", "-q", "intent"]);
    let out = env.run_in(
        clone.to_str().expect("utf-8"),
        &["work", "trigger", "--intent"],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        clone.join(".triggers/commitid").exists(),
        "the trigger ran in the intent clone: {out}"
    );
    // Reads work there too, against the state remote.
    let out = env.run_in(
        clone.to_str().expect("utf-8"),
        &[
            "state",
            "get",
            "gitstate/repo/-/basic.ocu.star/@/deploy/staging",
        ],
    );
    assert_eq!(out.code(), 0, "{out}");
    // Back in the source repository: `state diff | xargs -n1 state apply`.
    let diff = env.run(&["state", "diff"]).success();
    let refs: Vec<&str> = diff.stdout.lines().collect();
    assert_eq!(refs, ["gitstate/repo/-/basic.ocu.star/@/deploy/production"]);
    for r in refs {
        env.run(&["state", "apply", r]).success();
    }
    let out = env.run(&["work", "continue"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(exists(&env, "basic.ocu.star/@/deploy/staging"));
    assert!(exists(&env, "basic.ocu.star/@/deploy/production2"));
    assert!(!exists(&env, "basic.ocu.star/@/deploy/production"));
    assert_eq!(file_in_remote(&state, "state", "support.txt"), "state");
    assert_eq!(
        last_author(&state, "state"),
        "Author: Ocuroot <contact@ocuroot.com>"
    );
    assert_eq!(file_in_remote(&intent, "intent", "support.txt"), "intent");
    fsck(&state);
    fsck(&intent);
}

#[test]
fn gitstate_shared_one_branch_holds_both_stores() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = init_remote(tmp.path(), "state");
    let env = fixture(
        "gitstate_shared",
        &[("STATE_REMOTE", state.to_str().expect("utf-8"))],
    );
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    let out = env.run(&["release", "new", "basic.ocu.star"]);
    assert_eq!(out.code(), 0, "{out}");
    let files = git(&state, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.contains("state/ocuroot-store.yaml\n"), "{files}");
    assert!(files.contains("intent/ocuroot-store.yaml\n"), "{files}");
    assert!(
        files.contains(
            "intent/refs/gitstate_shared/repo/-/basic.ocu.star/@/deploy/production/#.yaml"
        ),
        "{files}"
    );
    // The spec's flow: delete intent, list the diff, apply it, continue.
    let prod = "gitstate_shared/repo/-/basic.ocu.star/@/deploy/production";
    env.run(&["state", "delete", prod]).success();
    let diff = env.run(&["state", "diff"]).success();
    assert_eq!(diff.stdout, format!("{prod}\n"));
    env.run(&["state", "apply", prod]).success();
    let out = env.run(&["work", "continue"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(exists(&env, "basic.ocu.star/@/deploy/staging"));
    assert!(exists(&env, "basic.ocu.star/@/deploy/production2"));
    assert!(!exists(&env, "basic.ocu.star/@/deploy/production"));
    assert_eq!(file_in_remote(&state, "main", "support.txt"), "state");
    assert_eq!(
        last_author(&state, "main"),
        "Author: Ocuroot <contact@ocuroot.com>"
    );
    // From the intent folder of a clone of the store: the stores come from the recorded
    // configuration (in the sibling state/ folder), and the trigger runs there.
    let clone = tmp.path().join("store-clone");
    git(
        tmp.path(),
        &["clone", "-q", state.to_str().expect("utf-8"), "store-clone"],
    );
    let out = env.run_in(
        clone.join("intent").to_str().expect("utf-8"),
        &["work", "trigger", "--intent"],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        clone.join("intent/.triggers/commitid").exists(),
        "the trigger ran for the recorded commit: {out}"
    );
    fsck(&state);
}

/// Rounds of the eight-process test: 20 by default, as the remote-store issue asks (about
/// 80 s on this 2-core machine); `OCUROOT_TEST_ROUNDS` changes it.
fn rounds() -> usize {
    std::env::var("OCUROOT_TEST_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[test]
#[allow(clippy::print_stderr)]
fn eight_processes_release_and_set_intent_against_one_remote() {
    const JOBS: usize = 8;
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).expect("mkdir");
    let daemon = GitDaemon::start(&served);
    let started = Instant::now();
    for round in 0..rounds() {
        let name = format!("round{round}.git");
        bare_remote(&served.join(&name));
        let url = daemon.url(&name);
        let env = fixture("remote_many", &[("STORE_REMOTE", url.as_str())]);
        std::thread::scope(|s| {
            for job in 0..JOBS {
                let env = &env;
                s.spawn(move || {
                    // Even rounds share one cache (parallel jobs on one runner), odd rounds
                    // have one cache per job (one runner per job).
                    let home = if round % 2 == 0 {
                        env.root().join("home/.ocuroot")
                    } else {
                        env.root().join(format!("home/job{job}"))
                    };
                    let intent_ref = format!("@/custom/job{job}");
                    let package = format!("pkg{job}.ocu.star");
                    for args in [
                        vec!["state", "set", intent_ref.as_str(), "x"],
                        vec!["release", "new", package.as_str()],
                    ] {
                        // Every other round of separate caches waits in the remote's queue.
                        let queue_turn = if round % 4 == 1 { "2" } else { "0" };
                        let out = env
                            .command("", &args)
                            .env("OCUROOT_HOME", &home)
                            .env("OCUROOT_QUEUE_TURN", queue_turn)
                            .stdin(Stdio::null())
                            .output()
                            .expect("run ocuroot");
                        assert!(
                            out.status.success(),
                            "round {round} job {job} {args:?}: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                });
            }
        });
        let remote = served.join(&name);
        let intent: BTreeSet<String> = git(&remote, &["ls-tree", "-r", "--name-only", "intent"])
            .lines()
            .map(str::to_string)
            .collect();
        let state: BTreeSet<String> = git(&remote, &["ls-tree", "-r", "--name-only", "state"])
            .lines()
            .map(str::to_string)
            .collect();
        for job in 0..JOBS {
            let path = format!("refs/@/custom/job{job}/#.yaml");
            assert!(intent.contains(&path), "round {round}: {path} missing");
            let run = format!(
                "refs/many/repo/-/pkg{job}.ocu.star/@r1/task/build/1/status/complete/#.yaml"
            );
            assert!(state.contains(&run), "round {round}: {run} missing");
        }
        // Jobs that lost a race waited in the remote's queue; every marker is gone.
        assert_eq!(
            git(&remote, &["for-each-ref", "refs/ocuroot/"]).trim(),
            "",
            "round {round}: markers of the waiting queue left behind"
        );
        fsck(&remote);
    }
    eprintln!(
        "{} rounds of {JOBS} jobs took {:?}",
        rounds(),
        started.elapsed()
    );
}

#[test]
fn release_killed_at_random_points_resumes_with_work_continue() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Served by a daemon, as a real remote: killing the job must not kill the server side
    // of a push (with `file://` the receiving `git` would be in the killed process group).
    let served = tmp.path().join("served");
    let remote = served.join("store.git");
    bare_remote(&remote);
    let daemon = GitDaemon::start(&served);
    let url = daemon.url("store.git");
    let env = fixture("remote_phases", &[("STORE_REMOTE", url.as_str())]);
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    const POINTS: u64 = 12;
    for point in 0..POINTS {
        let commit = format!("commit{point}");
        let vars = [("OCU_REPO_COMMIT_OVERRIDE", commit.as_str())];
        let mut cmd = env.command("", &["release", "new", "release.ocu.star"]);
        cmd.env("OCU_REPO_COMMIT_OVERRIDE", &commit)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, killed as a whole, as a CI runner kills a cancelled job:
        // a `git push` it started dies with it instead of landing later.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("spawn");
        // Spread the kill points over the whole release (about 0.5 s).
        std::thread::sleep(Duration::from_millis(point * 331 % 600));
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
        // A push whose data had reached the server when the job died may still be applied
        // by the server a moment later (as on any real remote): let it settle, so that the
        // `work continue` below sees it.
        std::thread::sleep(Duration::from_millis(300));
        let out = env.run_with("", &["work", "continue"], &vars, None);
        assert_eq!(out.code(), 0, "point {point}: {out}");
        // Killed before the release existed: nothing to continue, release it now.
        let releases = env.run_with(
            "",
            &[
                "state",
                "match",
                "--no-links",
                "phases/repo/-/release.ocu.star/@*/commit/*",
            ],
            &vars,
            None,
        );
        if !releases.stdout.contains(&format!("/commit/{commit}")) {
            let out = env.run_with("", &["release", "new", "release.ocu.star"], &vars, None);
            assert_eq!(out.code(), 0, "point {point}: {out}");
        }
    }
    // Every release ran every run exactly once to completion: one run per task, each with a
    // single `complete` status marker.
    let files = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    let mut statuses: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let prefix = "state/refs/phases/repo/-/release.ocu.star/";
    for f in files.lines() {
        let Some(rest) = f.strip_prefix(prefix) else {
            continue;
        };
        if let Some((run, status)) = rest.split_once("/status/") {
            statuses
                .entry(run.to_string())
                .or_default()
                .push(status.trim_end_matches("/#.yaml").to_string());
        }
    }
    let releases: BTreeSet<&str> = statuses
        .keys()
        .filter_map(|k| k.split('/').next())
        .collect();
    assert_eq!(releases.len(), POINTS as usize, "{statuses:#?}");
    for (run, s) in &statuses {
        assert_eq!(s, &["complete"], "{run}: {s:?}");
        assert!(run.ends_with("/1"), "a second run was made: {run}");
    }
    assert_eq!(statuses.len(), POINTS as usize * 4, "{statuses:#?}");
    fsck(&remote);
    for cache in caches(&env) {
        fsck(&cache);
    }
}

/// Issue 5, "pushes per release": hosted Git services ask for no more than a few pushes per
/// minute per repository, so a release of one build task and 20 deployments (two phases)
/// may push once per phase boundary plus once at the end: 3 pushes, deploy intent included,
/// counted by the remote itself (a `post-receive` hook runs once per `git push`).
/// See: docs/benchmarks.md, "Remote stores" (b).
#[test]
fn issue_5_release_of_one_build_and_20_deployments_pushes_at_most_3_times() {
    const TARGET: usize = 3;
    for layout in ["branches", "shared", "remotes"] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let remote = init_remote(tmp.path(), "store");
        let intent_remote = init_remote(tmp.path(), "intent");
        let env = fixture(
            "remote_pushes",
            &[
                ("STORE_LAYOUT", layout),
                ("STORE_REMOTE", remote.to_str().expect("utf-8")),
                ("INTENT_REMOTE", intent_remote.to_str().expect("utf-8")),
            ],
        );
        env.run(&["release", "new", "environments.ocu.star"])
            .success();
        record_pushes(&remote);
        record_pushes(&intent_remote);
        let out = env.run(&["release", "new", "release.ocu.star"]);
        assert_eq!(out.code(), 0, "{layout}: {out}");
        let state_pushes = pushes(&remote);
        let intent_pushes = pushes(&intent_remote);
        // Everything landed: 20 deployments complete, each with its deploy intent.
        let (state_files, intent_files) = match layout {
            "shared" => {
                let files = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
                (files.clone(), files)
            }
            _ => (
                git(&remote, &["ls-tree", "-r", "--name-only", "state"]),
                git(
                    if layout == "remotes" {
                        &intent_remote
                    } else {
                        &remote
                    },
                    &["ls-tree", "-r", "--name-only", "intent"],
                ),
            ),
        };
        let pkg = "refs/pushes/repo/-/release.ocu.star";
        for i in 1..=20 {
            let done = format!("{pkg}/@r1/deploy/env{i}/1/status/complete/#.yaml");
            assert!(state_files.contains(&done), "{layout}: {done} missing");
            let intent = format!("{pkg}/@/deploy/env{i}/#.yaml");
            assert!(intent_files.contains(&intent), "{layout}: {intent} missing");
        }
        assert_eq!(env.run(&["state", "diff"]).success().stdout, "", "{layout}");
        match layout {
            // One remote: every push counts against the same repository.
            "branches" | "shared" => {
                assert!(
                    (1..=TARGET).contains(&state_pushes.len()),
                    "{layout}: {} pushes, at most {TARGET} wanted: {state_pushes:?}",
                    state_pushes.len()
                );
                // The deploy intent travels with the state push that starts the deployments.
                let branches = if layout == "branches" {
                    vec!["intent".to_string(), "state".to_string()]
                } else {
                    vec!["main".to_string()]
                };
                assert!(
                    state_pushes.contains(&branches),
                    "{layout}: no push updated {branches:?}: {state_pushes:?}"
                );
            }
            // Two remotes cannot share a push: the state remote still gets at most 3, the
            // intent remote one.
            _ => {
                assert!(
                    (1..=TARGET).contains(&state_pushes.len()),
                    "{layout}: {state_pushes:?}"
                );
                assert_eq!(intent_pushes.len(), 1, "{layout}: {intent_pushes:?}");
            }
        }
        fsck(&remote);
        fsck(&intent_remote);
    }
}

#[test]
fn unreachable_remote_fails_with_its_name_and_writes_nothing_later() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = tmp.path().join("store.git");
    bare_remote(&remote);
    let url = format!("file://{}", remote.display());
    let config =
        "repo_alias(\"demo\")\nstore.set(store.git(env()[\"STORE_REMOTE\"], branch = \"main\"))\n";
    let mut env = TestEnv::with_config(config);
    env.set_env("STORE_REMOTE", &url);
    env.run(&["state", "set", "@/custom/a", "1"]).success();
    let moved = tmp.path().join("moved.git");
    std::fs::rename(&remote, &moved).expect("move remote away");
    let out = env.run(&["state", "set", "@/custom/b", "2"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains(&url), "{out}");
    std::fs::rename(&moved, &remote).expect("move remote back");
    env.run(&["state", "set", "@/custom/c", "3"]).success();
    let files = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.contains("intent/refs/@/custom/a/#.yaml"), "{files}");
    assert!(files.contains("intent/refs/@/custom/c/#.yaml"), "{files}");
    assert!(!files.contains("@/custom/b"), "{files}");

    // A closed port: exit 1, the message names the remote, credentials never shown.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    env.set_env(
        "STORE_REMOTE",
        &format!("http://user:s3cret@127.0.0.1:{port}/x.git"),
    );
    let out = env.run(&["state", "get", "@/custom/a"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains(&format!("http://***@127.0.0.1:{port}/x.git")),
        "{out}"
    );
    assert!(!out.stderr.contains("s3cret"), "{out}");
    env.set_env("STORE_REMOTE", &format!("git://127.0.0.1:{port}/x.git"));
    let out = env.run(&["state", "get", "@/custom/a"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains(&format!("git://127.0.0.1:{port}/x.git")),
        "{out}"
    );
}

#[test]
fn deleted_or_corrupted_cache_is_rebuilt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = tmp.path().join("store.git");
    bare_remote(&remote);
    let url = format!("file://{}", remote.display());
    let config =
        "repo_alias(\"demo\")\nstore.set(store.git(env()[\"STORE_REMOTE\"], branch = \"main\"))\n";
    let mut env = TestEnv::with_config(config);
    env.set_env("STORE_REMOTE", &url);
    env.run(&["state", "set", "@/custom/a", "1"]).success();
    let stores = env.root().join("home/.ocuroot/stores");
    std::fs::remove_dir_all(&stores).expect("delete caches");
    // `state diff` reads the intent written above through the rebuilt cache.
    assert_eq!(env.run(&["state", "diff"]).success().stdout, "@/custom/a\n");
    let cache = caches(&env).pop().expect("a cache again");
    std::fs::write(cache.join("HEAD"), "garbage").expect("garble HEAD");
    assert_eq!(env.run(&["state", "diff"]).success().stdout, "@/custom/a\n");
    env.run(&["state", "set", "@/custom/b", "2"]).success();
    assert!(try_git(&remote, &["show", "main:intent/refs/@/custom/b/#.yaml"]).is_some());
    fsck(&remote);
}

#[test]
fn offline_reads_the_cache_and_refuses_writes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (env, state, _intent) = gitstate(tmp.path());
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    // The server goes away: online reads fail naming it, offline reads use the cache.
    let gone = tmp.path().join("state-gone.git");
    std::fs::rename(&state, &gone).expect("move remote away");
    let online = env.run(&["state", "get", "@/environment/staging"]);
    assert_eq!(online.code(), 1, "{online}");
    let offline = env.run(&["--offline", "state", "get", "@/environment/staging"]);
    assert_eq!(offline.code(), 0, "{offline}");
    assert!(offline.stdout.contains("\"staging\""), "{offline}");
    let write = env.run(&["state", "set", "@/custom/x", "1", "--offline"]);
    assert_eq!(write.code(), 1, "{write}");
    assert!(write.stderr.contains("--offline"), "{write}");
}

/// One round of the issue 10 race: four `release new` of packages with two deployments
/// (state and deploy intent pushed together, atomically) and four `state set`, all at once
/// against the remote `url` (bare repository `remote`), with one cache per job or one
/// shared cache. Every job must exit 0 and every write be present.
fn race_releases_and_writes(url: &str, remote: &Path, shared_cache: bool, round: usize) {
    const PACKAGES: usize = 4;
    let env = fixture("remote_deploys", &[("STORE_REMOTE", url)]);
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    std::thread::scope(|s| {
        for job in 0..PACKAGES * 2 {
            let env = &env;
            s.spawn(move || {
                let home = if shared_cache {
                    env.root().join("home/.ocuroot")
                } else {
                    env.root().join(format!("home/job{job}"))
                };
                let reference = format!("@/custom/job{job}");
                let package = format!("pkg{job}.ocu.star");
                let args: Vec<&str> = if job < PACKAGES {
                    vec!["release", "new", package.as_str()]
                } else {
                    vec!["state", "set", reference.as_str(), "x"]
                };
                let out = env
                    .command("", &args)
                    .env("OCUROOT_HOME", &home)
                    .stdin(Stdio::null())
                    .output()
                    .expect("run ocuroot");
                assert!(
                    out.status.success(),
                    "round {round} job {job} {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            });
        }
    });
    let files = |branch: &str| -> BTreeSet<String> {
        git(remote, &["ls-tree", "-r", "--name-only", branch])
            .lines()
            .map(str::to_string)
            .collect()
    };
    let (intent, state) = (files("intent"), files("state"));
    for job in PACKAGES..PACKAGES * 2 {
        let path = format!("refs/@/custom/job{job}/#.yaml");
        assert!(intent.contains(&path), "round {round}: {path} missing");
    }
    for p in 0..PACKAGES {
        let pkg = format!("deploys/repo/-/pkg{p}.ocu.star");
        for env_name in ["staging", "production"] {
            let run = format!("refs/{pkg}/@r1/deploy/{env_name}/1/status/complete/#.yaml");
            assert!(state.contains(&run), "round {round}: {run} missing");
            let deploy_intent = format!("refs/{pkg}/@/deploy/{env_name}/#.yaml");
            assert!(
                intent.contains(&deploy_intent),
                "round {round}: {deploy_intent} missing"
            );
            let applied = format!("applied/{pkg}/@/deploy/{env_name}/#.yaml");
            assert!(state.contains(&applied), "round {round}: {applied} missing");
        }
    }
    // Nothing is left half done: the only intent state has not applied is the custom
    // state the `state set` jobs wrote (applied by a later `work any`).
    let diff = env.run(&["state", "diff"]).success();
    let expected: String = (PACKAGES..PACKAGES * 2)
        .map(|job| format!("@/custom/job{job}\n"))
        .collect();
    assert_eq!(diff.stdout, expected, "round {round}");
    fsck(remote);
}

// See: issue 10 ("Concurrent jobs fail"): with deployments, state and deploy intent are
// pushed together, and an atomic push that lost its race on the remote side failed the job.
#[test]
fn issue_10_concurrent_releases_with_deployments_against_git_daemon() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).expect("mkdir");
    let daemon = GitDaemon::start(&served);
    // Every round twice: one cache per job (one runner per job), then one shared cache.
    for (round, shared) in (0..rounds()).flat_map(|r| [(r, false), (r, true)]) {
        let name = format!("round{round}-{shared}.git");
        bare_remote(&served.join(&name));
        race_releases_and_writes(&daemon.url(&name), &served.join(&name), shared, round);
    }
}

// See: issue 10: the same race over smart HTTP (`git http-backend`).
#[test]
fn issue_10_concurrent_releases_with_deployments_over_smart_http() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).expect("mkdir");
    let http = GitHttp::start(&served);
    for (round, shared) in (0..rounds()).flat_map(|r| [(r, false), (r, true)]) {
        let name = format!("round{round}-{shared}.git");
        bare_remote(&served.join(&name));
        race_releases_and_writes(&http.url(&name), &served.join(&name), shared, round);
    }
}
