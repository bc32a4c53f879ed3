//! `ocuroot repl` (spec §5.2, §7.11) and `ocuroot preview` (§5.2, §8.2, as text).

use crate::common::TestEnv;

/// The `repl` scenario of spec §7.11: a file with a function and a global.
fn repl_env() -> TestEnv {
    let env = TestEnv::with_config("repo_alias(\"repl\")\n");
    env.write_file(
        "test.ocu.star",
        "def fn(msg):\n    print(\"fn(\\\"{}\\\")\".format(msg))\n\nGLOBAL_VAR = \"value\"\nprint(\"loaded\")\n",
    );
    env
}

#[test]
fn repl_calls_a_function_of_the_file() {
    let env = repl_env();
    insta::assert_snapshot!(env.run(&["repl", "test.ocu.star", "-c", "fn(\"hello\")"]));
}

#[test]
fn repl_prints_a_global_of_the_file() {
    let env = repl_env();
    insta::assert_snapshot!(env.run(&["repl", "test.ocu.star", "-c", "print(GLOBAL_VAR)"]));
}

#[test]
fn repl_without_file_evaluates_an_expression() {
    let env = repl_env();
    insta::assert_snapshot!(env.run(&["repl", "-c", "1 + 1"]));
    insta::assert_snapshot!(env.run(&[
        "repl",
        "-c",
        "{\"a\": [1, 2], \"r\": ref(\"./task/build\")}"
    ]));
}

#[test]
fn repl_error_names_the_location() {
    let env = repl_env();
    insta::assert_snapshot!(env.run(&["repl", "test.ocu.star", "-c", "fn(1, 2)"]));
    env.write_file("bad.ocu.star", "X = 1\nY = X + \"a\"\n");
    insta::assert_snapshot!(env.run(&["repl", "bad.ocu.star", "-c", "X"]));
}

#[test]
fn repl_help_lists_globals() {
    let env = repl_env();
    let out = env
        .run(&["repl", "test.ocu.star", "-c", "help()"])
        .success();
    assert!(out.stdout.contains("\"task\": \"function\""), "{out}");
    assert!(out.stdout.contains("\"GLOBAL_VAR\": \"string\""), "{out}");
    assert!(out.stdout.contains("\"help\": \"function\""), "{out}");
}

#[test]
fn repl_interactive_keeps_definitions() {
    let env = repl_env();
    let input = "x = 20\ndef double(n):\n    y = n * 2\n    return y + x\n\ndouble(11)\nfn(\"again\")\nnope\n[double(1), GLOBAL_VAR]\nexit()\n1 + 1\n";
    insta::assert_snapshot!(env.run_with("", &["repl", "test.ocu.star"], &[], Some(input)));
}

#[test]
fn repl_interactive_defaults_to_repo_config() {
    let env = TestEnv::with_config("repo_alias(\"repl\")\nNAME = \"from repo\"\n");
    let out = env.run_with("", &["repl"], &[], Some("NAME\n"));
    insta::assert_snapshot!(out);
}

/// The `minimal` fixture with its environments registered.
fn minimal() -> TestEnv {
    let mut env = TestEnv::from_fixture("minimal");
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    env.run(&["release", "new", "environments/package.ocu.star"])
        .success();
    env
}

#[test]
fn preview_lists_phases_and_environments() {
    let env = minimal();
    insta::assert_snapshot!(env.run(&["preview", "basic.ocu.star", "-o", "text"]));
}

#[test]
fn preview_json_is_the_package() {
    let env = minimal();
    let out = env
        .run(&["preview", "basic.ocu.star", "--output", "json"])
        .success();
    let package: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let phases = package["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3);
    assert_eq!(phases[0]["tasks"][0]["task"]["name"], "build");
    assert_eq!(
        phases[2]["tasks"][0]["deploy"]["inputs"]["input1"]["ref"],
        "minimal/repo/-/basic.ocu.star/@preview/task/build#output/output1"
    );
}

#[test]
fn preview_rejects_missing_files_and_releases() {
    let env = minimal();
    insta::assert_snapshot!(env.run(&["preview", "nope.ocu.star"]));
    insta::assert_snapshot!(env.run(&["preview", "basic.ocu.star/@r1"]));
}

/// Issue 13: `--offline` is an option of the command, not an environment variable that
/// Starlark code sees; `OCUROOT_OFFLINE` set by the user still is (it is theirs).
#[test]
fn issue_13_offline_flag_is_not_in_the_starlark_environment() {
    let env = TestEnv::with_config("repo_alias(\"repl\")\n");
    let out = env
        .run(&[
            "--offline",
            "repl",
            "-c",
            "print(env().get(\"OCUROOT_OFFLINE\", \"unset\"))",
        ])
        .success();
    assert!(
        out.stdout.contains("unset") || out.stderr.contains("unset"),
        "{out}"
    );
    let mut set = TestEnv::with_config("repo_alias(\"repl\")\n");
    set.set_env("OCUROOT_OFFLINE", "1");
    let out = set
        .run(&[
            "repl",
            "-c",
            "print(env().get(\"OCUROOT_OFFLINE\", \"unset\"))",
        ])
        .success();
    assert!(
        out.stdout.contains('1') || out.stderr.contains('1'),
        "{out}"
    );
}
