//! Run claims: two jobs never run one run at once, and a killed job's run runs again.
//!
//! The `claims` fixture has an approval task and five deployments whose functions append a
//! line to a ledger file outside the store (`$LEDGER`), so the tests count executions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ocuroot_core::store::StoreKind;
use serde_json::json;

use crate::common::{TestEnv, r};

const PKG: &str = "claims/-/release.ocu.star";
const ENVS: [&str; 5] = ["e1", "e2", "e3", "e4", "e5"];

/// A `claims` fixture with its environments, a release `r1` waiting for its approval, and
/// the approval applied to state: ready for `release continue` / `work continue`.
fn approved_release(up_seconds: &str) -> (TestEnv, PathBuf) {
    let mut env = TestEnv::from_fixture("claims");
    let ledger = env.root().join("ledger.txt");
    env.set_env("LEDGER", ledger.to_str().expect("utf-8 path"));
    env.set_env("UP_SECONDS", up_seconds);
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    let out = env.run(&["release", "new", "release.ocu.star"]).success();
    assert!(out.stderr.contains("waiting for input"), "{}", out.stderr);
    let approval = format!("{PKG}/@r1/custom/approval");
    env.run(&["state", "set", &approval, "yes"]).success();
    env.run(&["state", "apply", &approval]).success();
    assert!(ledger_counts(&ledger).is_empty(), "nothing ran yet");
    (env, ledger)
}

fn ledger_counts(path: &PathBuf) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

fn each_once() -> BTreeMap<String, usize> {
    let mut expected = BTreeMap::from([("approve".to_string(), 1)]);
    for e in ENVS {
        expected.insert(format!("up {e}"), 1);
    }
    expected
}

fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    env.command("", args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ocuroot")
}

fn status_of(env: &TestEnv, run: &str) -> Vec<String> {
    let state = env.store(StoreKind::State);
    ["pending", "running", "paused", "complete", "failed"]
        .into_iter()
        .filter(|s| {
            state
                .try_get(&r(&format!("{run}/status/{s}")))
                .expect("read status")
                .is_some()
        })
        .map(str::to_string)
        .collect()
}

fn assert_all_complete(env: &TestEnv) {
    assert_eq!(
        status_of(env, &format!("{PKG}/@r1/task/approval/1")),
        ["complete"]
    );
    for e in ENVS {
        assert_eq!(
            status_of(env, &format!("{PKG}/@r1/deploy/{e}/1")),
            ["complete"],
            "deployment to {e}"
        );
        let deployed = env
            .store(StoreKind::State)
            .get(&r(&format!("{PKG}/@/deploy/{e}#output/env")))
            .expect("deployed");
        assert_eq!(deployed, json!(e));
    }
}

// See: issue 10 ("Two jobs run the same deployment"): both jobs claimed the same pending
// runs with ordinary updates, and every function ran twice.
#[test]
fn issue_10_two_continues_of_one_release_run_each_function_once() {
    let commands: [&[&str]; 2] = [
        &["release", "continue", "release.ocu.star/@r1"],
        &["work", "continue"],
    ];
    for (round, args) in (0..10).flat_map(|round| commands.map(|args| (round, args))) {
        let (env, ledger) = approved_release("0.3");
        let jobs = [spawn(&env, args), spawn(&env, args)];
        let mut skipped = 0;
        for job in jobs {
            let out = job.wait_with_output().expect("wait");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round} {args:?}: {stderr}");
            skipped += stderr.matches("is being run by another job").count();
        }
        assert_eq!(
            ledger_counts(&ledger),
            each_once(),
            "round {round} {args:?}: every function exactly once"
        );
        assert_all_complete(&env);
        // What one job ran, the other skipped or never saw pending; never both.
        assert!(skipped <= ENVS.len() + 1, "round {round}: {skipped}");
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// See: issue 10: a claim whose owner was killed is taken over (same host, process gone);
// one held by a job on another host is skipped until `--takeover`.
#[test]
fn issue_10_killed_owner_runs_again_once() {
    let (env, ledger) = approved_release("30");
    let mut job = spawn(&env, &["release", "continue", "release.ocu.star/@r1"]);
    wait_for("every up to start", || {
        let counts = ledger_counts(&ledger);
        ENVS.iter().all(|e| counts.contains_key(&format!("up {e}")))
    });
    job.kill().expect("kill -9");
    job.wait().expect("reap");
    for e in ENVS {
        assert_eq!(
            status_of(&env, &format!("{PKG}/@r1/deploy/{e}/1")),
            ["running"]
        );
    }
    // Make e5's claim look like a job on another machine, which ocuroot cannot judge.
    let marker = format!("{PKG}/@r1/deploy/e5/1/status/running");
    let mut value = env
        .store(StoreKind::State)
        .get(&r(&marker))
        .expect("marker");
    value["owner"]["host"] = json!("elsewhere");
    env.seed_state(&[(&marker, value)]);

    let out = env
        .run_with("", &["work", "continue"], &[("UP_SECONDS", "0")], None)
        .success();
    assert!(
        out.stderr.contains("taken over from pid"),
        "takeover is reported: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("deploy/e5#1 is being run by another job")
            && out.stderr.contains("elsewhere"),
        "the other host's claim is skipped: {}",
        out.stderr
    );
    let mut expected = each_once();
    for e in &ENVS[..4] {
        expected.insert(format!("up {e}"), 2);
    }
    assert_eq!(ledger_counts(&ledger), expected, "e1-e4 ran again, once");
    assert_eq!(
        status_of(&env, &format!("{PKG}/@r1/deploy/e5/1")),
        ["running"]
    );
    let logs = env
        .store(StoreKind::State)
        .get(&r(&format!("{PKG}/@r1/deploy/e1/1/logs")))
        .expect("logs");
    assert!(
        logs.to_string().contains("took over this run from pid"),
        "the takeover is in the run's logs: {logs}"
    );

    // Nothing else to do for a plain continue: it skips e5 again, says so, and exits 0.
    let out = env
        .run_with("", &["work", "continue"], &[("UP_SECONDS", "0")], None)
        .success();
    assert!(
        out.stderr
            .contains("deploy/e5#1 is being run by another job"),
        "{}",
        out.stderr
    );
    assert_eq!(ledger_counts(&ledger)["up e5"], 1);
    let out = env
        .run_with(
            "",
            &["work", "continue", "--takeover"],
            &[("UP_SECONDS", "0")],
            None,
        )
        .success();
    assert!(out.stderr.contains("--takeover"), "{}", out.stderr);
    assert_eq!(ledger_counts(&ledger)["up e5"], 2);
    assert_all_complete(&env);
}
