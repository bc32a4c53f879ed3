//! Several `ocuroot` processes writing to one store at once.

use std::collections::BTreeSet;
use std::process::Stdio;

use crate::common::{TestEnv, git};

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
