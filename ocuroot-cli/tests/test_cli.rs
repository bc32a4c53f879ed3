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
