//! The command line itself: help texts, version, usage errors.

use crate::common::TestEnv;

#[test]
fn top_level_help() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["--help"]));
}

#[test]
fn state_help() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["state", "--help"]));
}

#[test]
fn version() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["version"]));
}

#[test]
fn version_needs_no_repository() {
    let env = TestEnv::without_config();
    let out = env.run(&["version"]);
    assert!(out.status.success(), "{out}");
}

#[test]
fn unknown_command_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env.run(&["state", "frobnicate"]);
    assert_eq!(out.code(), 2, "{out}");
}

#[test]
fn broken_pipe_exits_quietly() {
    use std::io::Read;
    use std::process::Stdio;

    let env = TestEnv::new();
    let docs: Vec<_> = (0..600)
        .map(|i| {
            (
                format!("@/custom/{}-{i:05}", "x".repeat(240)),
                serde_json::json!(i),
            )
        })
        .collect();
    let docs: Vec<(&str, serde_json::Value)> =
        docs.iter().map(|(r, v)| (r.as_str(), v.clone())).collect();
    env.seed_state(&docs);
    let mut child = env
        .command("", &["state", "match"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read one byte, then close the pipe, as `| head -c1` would.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).expect("read");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(out.status.success(), "{:?}", out.status);
}
