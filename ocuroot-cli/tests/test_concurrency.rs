//! Several `ocuroot` processes writing to one store at once.

use std::collections::BTreeSet;
use std::process::Stdio;

use ocuroot_core::store::StoreKind;

use crate::common::{TestEnv, git, r};

const WRITERS: usize = 4;
const WRITES_EACH: usize = 12;

#[test]
fn concurrent_state_set_processes_all_land() {
    let env = TestEnv::new();
    // Create the store first, so that the race is on the branch, not on `git init`.
    env.run(&["state", "set", "@/custom/start", "0"]).success();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let env = &env;
            s.spawn(move || {
                for i in 0..WRITES_EACH {
                    let reference = format!("@/custom/w{w}/n{i}");
                    let value = format!("{w}-{i}");
                    let out = env
                        .command("", &["state", "set", &reference, &value])
                        .stdin(Stdio::null())
                        .output()
                        .expect("run ocuroot");
                    assert!(
                        out.status.success(),
                        "writer {w} write {i}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
    let hub = env.hub();
    let files: BTreeSet<String> = git(&hub, &["ls-tree", "-r", "--name-only", "intent"])
        .lines()
        .map(str::to_string)
        .collect();
    for w in 0..WRITERS {
        for i in 0..WRITES_EACH {
            let path = format!("refs/@/custom/w{w}/n{i}/#.yaml");
            assert!(files.contains(&path), "{path} is missing");
            let content = git(&hub, &["show", &format!("intent:{path}")]);
            assert_eq!(content.trim(), format!("{w}-{i}"));
        }
    }
    // One commit per write, in one linear history.
    let count: usize = git(&hub, &["rev-list", "--count", "intent"])
        .trim()
        .parse()
        .expect("count");
    assert_eq!(count, 1 + WRITERS * WRITES_EACH);
    let merges = git(&hub, &["rev-list", "--merges", "intent"]);
    assert!(merges.is_empty());
    // Losers of a compare-and-swap race leave dangling commits; nothing may be broken.
    git(&hub, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn concurrent_first_use_creates_one_store() {
    let env = TestEnv::new();
    std::thread::scope(|s| {
        for w in 0..3 {
            let env = &env;
            s.spawn(move || {
                let reference = format!("@/custom/first{w}");
                let out = env
                    .command("", &["state", "set", &reference, "1"])
                    .stdin(Stdio::null())
                    .output()
                    .expect("run ocuroot");
                assert!(
                    out.status.success(),
                    "writer {w}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            });
        }
    });
    let files = git(&env.hub(), &["ls-tree", "-r", "--name-only", "intent"]);
    for w in 0..3 {
        assert!(
            files.contains(&format!("refs/@/custom/first{w}/#.yaml")),
            "{files}"
        );
    }
    git(&env.hub(), &["fsck", "--strict", "--no-dangling"]);
}

/// `ocuroot state set` killed (SIGKILL) at 40 points spread over its run time, from
/// start-up to after its commit: each time the store stays readable (`git fsck --full`
/// finds nothing wrong, not even an object without its pack index), every write that was
/// acknowledged is still there, and the killed write is there whole or not at all.
#[test]
fn a_writer_killed_at_any_point_leaves_a_readable_store() {
    let env = TestEnv::new();
    env.run(&["state", "set", "@/custom/start", "0"]).success();
    // A large value, so that compressing and writing the pack takes a while.
    let value = |i: usize| -> String {
        (0..20_000)
            .map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8))
            .collect()
    };
    let started = std::time::Instant::now();
    env.run(&["state", "set", "@/custom/timing", &value(999)])
        .success();
    let full = started.elapsed();
    let hub = env.hub();
    let mut acknowledged = vec![("@/custom/timing".to_string(), value(999))];
    const ROUNDS: usize = 40;
    let mut landed = 0;
    for round in 0..ROUNDS {
        let reference = format!("@/custom/killed{round}");
        let mut child = env
            .command("", &["state", "set", &reference, &value(round)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run ocuroot");
        std::thread::sleep(full.mul_f64(1.2 * round as f64 / ROUNDS as f64));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        // A process killed while it held the branch's ref lock leaves the lock file, as
        // `git` does; the store stays readable, and a person removes the stale lock.
        let _ = std::fs::remove_file(hub.join("refs/heads/intent.lock"));
        git(&hub, &["fsck", "--full", "--strict", "--no-dangling"]);
        // A fresh handle, as the next process would open it.
        let intent = env.store(StoreKind::Intent);
        let read = |reference: &str| intent.try_get(&r(reference)).expect("readable store");
        let here = read(&reference);
        if let Some(found) = &here {
            assert!(
                *found == serde_json::json!(value(round)),
                "round {round} landed, but not whole"
            );
            landed += 1;
        } else {
            assert!(
                !status.success(),
                "round {round} exited 0 without its write"
            );
        }
        for (reference, expected) in &acknowledged {
            assert!(
                read(reference) == Some(serde_json::json!(expected)),
                "{reference} lost"
            );
        }
        if here.is_some() {
            acknowledged.push((reference, value(round)));
        }
    }
    // The spread reached both ends: some writes were killed early, some had landed.
    assert!(landed > 0 && landed < ROUNDS, "{landed} of {ROUNDS} landed");
}
