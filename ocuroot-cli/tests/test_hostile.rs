//! Hostile input, limits and secrets (issue 12): one regression test per finding, each with
//! the exact input of the issue, asserting a clean error (exit 1, the ref or path named) and
//! an unchanged store; plus `git fsck --strict` after every rejected name, and a grep of the
//! whole store history and every output for a secret and a remote token.
//!
//! See: issue 12 ("Hostile input, limits and secrets: nothing crashes, nothing leaks,
//! nothing blocks").

use std::path::Path;

use serde_json::json;

use crate::common::{CommandOutput, GitHttp, TestEnv, bare_remote, git, hand_commit_modes};

/// A repository whose hub has both branches and an environment `staging`.
fn with_both_branches() -> TestEnv {
    let env = TestEnv::new();
    env.seed_state(&[("@/environment/staging", json!({"name": "staging"}))]);
    env.run(&["state", "set", "@/custom/x", "1"]).success();
    env
}

/// [`with_both_branches`] plus committed package files.
fn with_packages(files: &[(&str, &str)]) -> TestEnv {
    let mut env = with_both_branches();
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    for (path, content) in files {
        env.write_file(path, content);
    }
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "packages"]);
    env
}

/// The tips of the hub's `state` and `intent` branches.
fn tips(env: &TestEnv) -> (Option<String>, Option<String>) {
    (env.tip(&env.hub(), "state"), env.tip(&env.hub(), "intent"))
}

/// Asserts exit 1 with every needle in the output (problem lists go to stdout, errors to
/// stderr).
#[track_caller]
fn assert_refused(out: &CommandOutput, needles: &[&str]) {
    assert_eq!(out.code(), 1, "{out}");
    for needle in needles {
        assert!(
            out.stderr.contains(needle) || out.stdout.contains(needle),
            "the output does not name {needle:?}:\n{out}"
        );
    }
}

fn nested_literal(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

fn exists(env: &TestEnv, r: &str) -> bool {
    env.run(&["state", "get", r]).code() == 0
}

// "A Starlark list nested about 260 deep aborts `state set -f starlark`, `release lint`
// and `release new`."
#[test]
fn issue_12_starlark_list_nested_260_deep_is_refused() {
    let deep = nested_literal(260);
    let env = with_packages(&[(
        "deep.ocu.star",
        &format!(
            "x = {deep}\n\ndef build():\n    return done()\n\ntask(build, name = \"build\")\n"
        ),
    )]);
    let before = tips(&env);
    let out = env.run(&["state", "set", "-f", "starlark", "@/custom/deep", &deep]);
    assert_refused(&out, &["<expression>", "max_depth"]);
    let out = env.run(&["release", "lint", "deep.ocu.star"]);
    assert_refused(&out, &["deep.ocu.star", "max_depth"]);
    assert_eq!(tips(&env), before);
    let out = env.run(&["release", "new", "deep.ocu.star"]);
    assert_refused(&out, &["deep.ocu.star", "max_depth"]);
    assert!(!exists(&env, "deep.ocu.star/@r1"), "no release is recorded");
    assert_eq!(tips(&env).1, before.1, "intent is untouched");
}

// "A task whose output is nested 200 deep (`x = [x]` in a loop, `done(outputs={"x": x})`)
// aborts `release new` mid-run and leaves the run `running`; every later `work continue`
// aborts on it again: a poison pill that stops the whole store."
#[test]
fn issue_12_output_nested_200_deep_fails_the_run_not_the_store() {
    let env = with_packages(&[(
        "pill.ocu.star",
        "def build():\n    x = []\n    for i in range(200):\n        x = [x]\n    return done(outputs = {\"x\": x})\n\ntask(build, name = \"build\")\n",
    )]);
    let out = env.run(&["release", "new", "pill.ocu.star"]);
    assert_eq!(out.code(), 1, "the release fails, it does not abort: {out}");
    assert!(
        exists(&env, "pill.ocu.star/@r1/task/build/1/status/failed"),
        "{out}"
    );
    assert!(!exists(
        &env,
        "pill.ocu.star/@r1/task/build/1/status/running"
    ));
    let logs = env
        .run(&["state", "get", "pill.ocu.star/@r1/task/build/1/logs"])
        .success();
    assert!(logs.stdout.contains("max_depth"), "{}", logs.stdout);
    for _ in 0..2 {
        let again = env.run(&["work", "continue"]);
        assert_eq!(again.code(), 0, "work continue is not blocked: {again}");
    }
}

// "`state set -f json @/environment/bad '{"name": 5}'` (also a name that does not match the
// ref, a deploy intent naming a release that does not exist) exits 0; afterwards every
// `work any` and `work continue` fails."
#[test]
fn issue_12_intent_is_validated_when_written() {
    let env = with_both_branches();
    let before = tips(&env);
    for (r, value, needle) in [
        (
            "@/environment/bad",
            r#"{"name": 5}"#,
            "not an environment document",
        ),
        (
            "@/environment/bad",
            r#"{"name": "other"}"#,
            "must match subpath",
        ),
        (
            "demo/-/app.ocu.star/@/deploy/staging",
            r#"{"release": "demo/-/app.ocu.star/@r9", "input": {}}"#,
            "does not exist",
        ),
    ] {
        let out = env.run(&["state", "set", "-f", "json", r, value]);
        assert_refused(&out, &[r, needle]);
        assert_eq!(tips(&env), before, "{r} {value} wrote something");
    }
    env.run(&["work", "any"]).success();
    env.run(&["work", "continue"]).success();
}

/// Every name variant of the issue that Git or a Git host refuses.
const REJECTED: &[&str] = &[
    "@/custom/.git",
    "@/custom/.GIT",
    "@/custom/git~1",
    "@/custom/.git.",
    "@/custom/.gitmodules",
    "@/custom/.git~1",
    "@/custom/.g\u{200c}it",
    "@/custom/\u{200b}.gitmodules",
    "@/custom/x\u{202e}y",
    "@/custom/-x",
    "@/custom/.gitattributes",
    "@/custom/gitmod~1",
];

// "`state set @/custom/.git v` (and `.GIT`, `git~1`, `.git.`) fails inside the tree
// writer"; "`@/custom/.gitmodules`, `.git~1` and zero-width variants are accepted";
// "`@/custom/-x` and writes through an empty fragment (`@/custom/x#`) are accepted".
#[test]
fn issue_12_names_git_refuses_are_refused_at_parse_time() {
    let env = with_both_branches();
    let before = tips(&env);
    let long = format!("@/custom/{}", "a".repeat(256));
    let mut all: Vec<&str> = REJECTED.to_vec();
    all.extend(["@/custom/x#", long.as_str()]);
    for bad in all {
        let out = env.run(&["state", "set", bad, "v"]);
        let quoted = format!("{bad:?}");
        assert_refused(&out, &[quoted.trim_matches('"')]);
        assert!(out.stderr.contains("invalid ref"), "{out}");
        assert_eq!(tips(&env), before, "{bad} moved a branch");
    }
}

// "the store then fails `git fsck` (`gitmodulesBlob`, `hasDotgit`)"
#[test]
fn issue_12_git_fsck_strict_stays_clean() {
    let env = with_packages(&[(
        "app.ocu.star",
        "def build():\n    return done(outputs = {\"n\": 1}, tags = [\"v1\"])\n\ntask(build, name = \"build\")\n",
    )]);
    for bad in REJECTED.iter().chain(&["@/custom/x#"]) {
        assert_eq!(env.run(&["state", "set", bad, "v"]).code(), 1, "{bad}");
        assert_eq!(env.run(&["state", "delete", bad]).code(), 1, "{bad}");
        assert_eq!(env.run(&["state", "get", bad]).code(), 1, "{bad}");
    }
    // A session of ordinary commands.
    env.run(&["state", "set", "@/custom/ok", "fine"]).success();
    env.run(&[
        "state",
        "set",
        "-f",
        "json",
        "@/environment/prod",
        r#"{"name": "prod"}"#,
    ])
    .success();
    env.run(&["work", "any"]).success();
    env.run(&["release", "new", "app.ocu.star"]).success();
    env.run(&["state", "delete", "@/custom/ok"]).success();
    env.run(&["work", "any"]).success();
    let hub = env.hub();
    let out = std::process::Command::new("git")
        .args([
            "-C",
            &hub.to_string_lossy(),
            "fsck",
            "--strict",
            "--no-dangling",
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .output()
        .expect("git fsck");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("warning") && !stderr.contains("error"),
        "{stderr}"
    );
}

// "a gitlink (submodule) entry in the intent tree makes `intent check` fail without naming
// the path, and `plan` and `state diff` show it as a normal `create`."
#[test]
fn issue_12_every_intent_tree_entry_is_judged() {
    let env = with_both_branches();
    let commit = env.git(&["rev-parse", "HEAD"]);
    let commit = commit.trim();
    hand_commit_modes(
        &env.hub(),
        "intent",
        &[
            ("160000", "refs/@/custom/sub/#.yaml", Some(commit)),
            ("120000", "refs/@/custom/link/#.yaml", Some("../x/#.yaml")),
            ("100644", "refs/@/custom/-bad/#.yaml", Some("v\n")),
            ("100644", "refs/@/custom/stray.txt", Some("v\n")),
            ("100644", "refs/@/custom/folder/#.yaml/inner", Some("v\n")),
        ],
    );
    let before = tips(&env);
    let out = env.run(&["intent", "check"]);
    assert_refused(
        &out,
        &[
            "refs/@/custom/sub/#.yaml",
            "submodule (gitlink)",
            "refs/@/custom/link/#.yaml",
            "symlink",
            "refs/@/custom/-bad/#.yaml",
            "must not start with '-'",
            "refs/@/custom/stray.txt",
            "refs/@/custom/folder/#.yaml",
        ],
    );
    assert_eq!(out.code(), 1, "never an internal error: {out}");
    // Everything that plans refuses them the same way, with the paths (issue 10).
    for args in [
        &["state", "diff"][..],
        &["plan"][..],
        &["work", "any"][..],
        &["state", "apply", "@/custom/sub"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 1, "{args:?}: {out}");
        for path in ["refs/@/custom/sub/#.yaml", "refs/@/custom/link/#.yaml"] {
            assert!(out.stderr.contains(path), "{args:?} names {path}: {out}");
        }
        assert!(out.stdout.is_empty(), "{args:?} lists nothing: {out}");
    }
    // Reading such an entry names it instead of failing inside Git.
    let get = env.run(&["state", "get", "@/custom/sub"]);
    assert_ne!(get.code(), 255, "{get}");
    assert_eq!(tips(&env), before);
}

// "Numbers change silently: `1e400` is stored as `.nan`, a 30-digit integer becomes
// `1.2345678901234568e+29`."
#[test]
fn issue_12_numbers_keep_their_value_or_are_refused() {
    let env = with_both_branches();
    let before = tips(&env);
    for (format, value) in [
        ("json", "1e400"),
        ("json", "123456789012345678901234567890"),
        ("yaml", "123456789012345678901234567890"),
        ("starlark", "123456789012345678901234567890"),
        ("json", r#"{"a": [1e400]}"#),
    ] {
        let out = env.run(&["state", "set", "-f", format, "@/custom/n", value]);
        assert_refused(&out, &["@/custom/n"]);
        assert!(
            out.stderr.contains("cannot be stored exactly"),
            "{format} {value}: {out}"
        );
    }
    assert_eq!(tips(&env), before);
    env.run(&[
        "state",
        "set",
        "-f",
        "json",
        "@/custom/n",
        "18446744073709551615",
    ])
    .success();
    let stored = git(&env.hub(), &["show", "intent:refs/@/custom/n/#.yaml"]);
    assert_eq!(stored, "18446744073709551615\n");
}

// "A 50 MB intent document is applied to state; `state set -f starlark` with
// `[x for x in range(100000000)]` writes a 1.09 GB blob."
#[test]
fn issue_12_documents_are_held_to_the_size_limit() {
    let mut env = with_both_branches();
    let before = tips(&env);
    let out = env.run(&[
        "state",
        "set",
        "-f",
        "starlark",
        "@/custom/big",
        "[\"a\" * 1000 for x in range(2000)]",
    ]);
    assert_refused(&out, &["max_document_bytes"]);
    assert_eq!(tips(&env), before);
    // A hand-made intent document over the limit is reported, never applied.
    let big = format!("v: {}\n", "x".repeat(2 << 20));
    hand_commit_modes(
        &env.hub(),
        "intent",
        &[("100644", "refs/@/custom/big/#.yaml", Some(&big))],
    );
    let out = env.run(&["intent", "check"]);
    assert_refused(&out, &["refs/@/custom/big/#.yaml", "max_document_bytes"]);
    // The limit is a setting.
    env.set_env("OCU_CFG_max_document_bytes", "64");
    let before = tips(&env);
    let out = env.run(&["state", "set", "@/custom/long", &"y".repeat(100)]);
    assert_refused(&out, &["@/custom/long", "max_document_bytes"]);
    assert_eq!(tips(&env), before);
    env.set_env("OCU_CFG_max_depth", "2");
    let out = env.run(&["state", "set", "-f", "json", "@/custom/d", "[[[1]]]"]);
    assert_refused(&out, &["max_depth"]);
    env.set_env("OCU_CFG_max_depth", "deep");
    let out = env.run(&["state", "get", "@/custom/x"]);
    assert_refused(&out, &["OCU_CFG_max_depth"]);
}

// "`state set -f starlark` with `[x for x in range(100000000)]` writes a 1.09 GB blob":
// the value is bounded while it evaluates, not once it exists, so the command stops at
// the evaluation budget (peak memory in docs/limits.md); a repetition that would take
// gigabytes in one step is refused before it is built.
#[test]
fn issue_12_starlark_values_are_bounded_while_they_evaluate() {
    let env = with_both_branches();
    let before = tips(&env);
    for expr in [
        "[x for x in range(100000000)]",
        "\"aaaaaaaaaa\" * 2147483647",
        "[1, 2, 3] * 2147483647",
    ] {
        let out = env.run(&["state", "set", "-f", "starlark", "@/custom/big", expr]);
        assert_refused(
            &out,
            &[
                "cannot set @/custom/big",
                "<expression> is over a limit",
                "max_document_bytes",
                "docs/limits.md",
            ],
        );
    }
    assert_eq!(tips(&env), before);
    assert!(!exists(&env, "@/custom/big"));
}

// Found by `fuzz_store_tree_folders` (docs/fuzzing.md, finding 5): a hand-made intent
// folder that spells a ref another way (`refs/+/custom/x` for `@/custom/x`) was read as
// that ref, whose folder is another one: the diff offered to create `@/custom/x` from it,
// and once applied, to delete it again (the mirror is at `applied/@/custom/x`). It is now
// judged like any folder that names no ref: reported with its path, never applied.
#[test]
fn issue_12_fuzz_a_folder_spelling_a_ref_another_way_is_reported() {
    let env = with_both_branches();
    hand_commit_modes(
        &env.hub(),
        "intent",
        &[("100644", "refs/+/custom/plus/#.yaml", Some("1\n"))],
    );
    let before = tips(&env);
    let out = env.run(&["intent", "check"]);
    assert_refused(
        &out,
        &["refs/+/custom/plus/#.yaml", "its folder is @/custom/plus"],
    );
    for args in [&["state", "diff"][..], &["plan"][..], &["work", "any"][..]] {
        let out = env.run(args);
        assert_eq!(out.code(), 1, "{args:?}: {out}");
        assert!(
            out.stderr.contains("refs/+/custom/plus/#.yaml"),
            "{args:?}: {out}"
        );
    }
    assert_eq!(tips(&env), before);
    assert!(!exists(&env, "@/custom/plus"));
}

// "a `-f starlark` value can run `shell()`."
#[test]
fn issue_12_starlark_values_have_no_host_access() {
    let env = with_both_branches();
    let before = tips(&env);
    for expr in [
        "shell(\"touch pwned\")",
        "host.shell(\"touch pwned\")",
        "env()",
        "read(\"repo.ocu.star\")",
        "http.get(\"http://127.0.0.1:9/\")",
    ] {
        let out = env.run(&["state", "set", "-f", "starlark", "@/custom/v", expr]);
        assert_refused(&out, &["<expression>"]);
    }
    assert!(!env.repo().join("pwned").exists());
    assert_eq!(tips(&env), before);
    env.run(&[
        "state",
        "set",
        "-f",
        "starlark",
        "@/custom/v",
        "{\"a\": [1, 2] + [3]}",
    ])
    .success();
}

const SECRET: &str = "s3cr3t-v4lue-0815";

// "`done(tags=[secret_value])` puts the value in a ref name, a tree path and a commit
// message; an error during file evaluation (`fail("…" + S)`, an `http.get` to a URL
// holding it) prints it unmasked. A masked output reaches its consumer as the literal
// `<secret>`."
#[test]
fn issue_12_secrets_never_reach_refs_messages_or_history() {
    let env = with_packages(&[
        (
            "tagged.ocu.star",
            &format!(
                "S = secret(\"{SECRET}\")\n\ndef build():\n    return done(tags = [S])\n\ntask(build, name = \"build\")\n"
            ),
        ),
        (
            "printer.ocu.star",
            &format!(
                "S = secret(\"{SECRET}\")\n\ndef build():\n    shell(\"env\")\n    print(\"token \" + S)\n    return done(outputs = {{\"header\": \"Bearer \" + S}}, tags = [\"v1\"])\n\ndef use(header):\n    if type(header) == \"dict\" and \"masked_secret\" in header:\n        print(\"masked: \" + header[\"masked_secret\"])\n        return done(outputs = {{\"saw\": \"marker\"}})\n    shell(\"echo \" + header)\n    return done()\n\ntask(build, name = \"build\")\ntask(use, name = \"use\", inputs = {{\"header\": ref(\"./task/build#output/header\")}})\n"
            ),
        ),
        (
            "failing.ocu.star",
            &format!("S = secret(\"{SECRET}\")\nfail(\"boom \" + S)\n"),
        ),
        (
            "fetching.ocu.star",
            &format!("S = secret(\"{SECRET}\")\nhttp.get(\"http://127.0.0.1:9/\" + S)\n"),
        ),
        (
            "runtime.ocu.star",
            &format!(
                "S = secret(\"{SECRET}\")\n\ndef build():\n    fail(\"run failed with \" + S)\n\ntask(build, name = \"build\")\n"
            ),
        ),
    ]);
    let mut printed = String::new();
    let mut run = |args: &[&str]| {
        let out = env.run(args);
        printed.push_str(&out.stdout);
        printed.push_str(&out.stderr);
        out
    };
    let tagged = run(&["release", "new", "tagged.ocu.star"]);
    assert_eq!(tagged.code(), 1, "{tagged}");
    assert!(
        tagged.stderr.contains("must not contain a secret"),
        "{tagged}"
    );
    let printer = run(&["release", "new", "printer.ocu.star"]);
    assert_eq!(printer.code(), 0, "{printer}");
    assert!(
        printer.stderr.contains("masked: Bearer <secret>"),
        "{printer}"
    );
    for file in ["failing.ocu.star", "fetching.ocu.star"] {
        let out = run(&["release", "new", file]);
        assert_eq!(out.code(), 1, "{out}");
        assert!(out.stderr.contains("<secret>"), "{out}");
    }
    let runtime = run(&["release", "new", "runtime.ocu.star"]);
    assert_eq!(runtime.code(), 1, "{runtime}");
    run(&["state", "get", "printer.ocu.star/@r1/task/use/1#output"]);
    run(&["state", "get", "printer.ocu.star/@r1/task/build/1/logs"]);
    assert!(printed.contains("marker"), "{printed}");
    assert!(
        !printed.contains(SECRET),
        "an output leaks the secret:\n{printed}"
    );
    let history = env.git(&["-C", ".ocuroot/store.git", "log", "-p", "--all"]);
    assert!(history.contains("<secret>"), "logs are stored masked");
    assert!(
        !history.contains(SECRET),
        "the store history leaks the secret"
    );
    let refs = env.git(&[
        "-C",
        ".ocuroot/store.git",
        "ls-tree",
        "-r",
        "--name-only",
        "state",
    ]);
    assert!(!refs.contains(SECRET), "a tree path leaks the secret");
}

const TOKEN: &str = "remote-token-4711";

/// Every file below `dir` whose path or bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.to_string_lossy().contains(needle) {
                found.push(path.display().to_string());
            }
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

// "with the documented `store.git(env()["STORE_REMOTE"])` pattern, a task that prints its
// environment stores the remote's token in state"; "a token in a URL's query string
// appears in errors and in the cache folder name".
#[test]
fn issue_12_remote_credentials_are_secrets_of_the_process() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let served = tmp.path().join("served");
    let remote = served.join("store.git");
    bare_remote(&remote);
    let server = GitHttp::with_auth(&served, "ci", TOKEN);
    let mut env = TestEnv::with_config(
        "repo_alias(\"demo\")\nstore.set(store.git(env()[\"STORE_REMOTE\"], branch = \"main\"))\n",
    );
    env.set_env("OCU_REPO_COMMIT_OVERRIDE", "commitid");
    env.set_env(
        "STORE_REMOTE",
        &server.url_with_credentials("store.git", "ci", TOKEN),
    );
    env.write_file(
        "env.ocu.star",
        "def build():\n    shell(\"env\")\n    return done(outputs = {\"remote\": env()[\"STORE_REMOTE\"]})\n\ntask(build, name = \"build\")\n",
    );
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "env"]);
    let mut printed = String::new();
    for args in [
        &["release", "new", "env.ocu.star"][..],
        &["state", "get", "env.ocu.star/@r1/task/build/1/logs"],
        &["state", "get", "env.ocu.star/@r1/task/build/1#output"],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 0, "{out}");
        printed.push_str(&out.stdout);
        printed.push_str(&out.stderr);
    }
    assert!(
        printed.contains("STORE_REMOTE="),
        "the task printed its environment: {printed}"
    );
    assert!(!printed.contains(TOKEN), "{printed}");
    let history = git(&remote, &["log", "-p", "--all"]);
    assert!(history.contains("STORE_REMOTE"), "the logs were pushed");
    assert!(
        !history.contains(TOKEN),
        "the remote's history leaks the token"
    );
    let leaks = files_containing(&env.root().join("home"), TOKEN);
    assert!(leaks.is_empty(), "{leaks:?}");

    // A token in the query string stays out of errors and of the cache folder's name.
    let mut env2 = TestEnv::with_config(
        "repo_alias(\"demo\")\nstore.set(store.git(env()[\"STORE_REMOTE\"], branch = \"main\"))\n",
    );
    env2.set_env(
        "STORE_REMOTE",
        &format!("http://127.0.0.1:9/store.git?token={TOKEN}"),
    );
    let out = env2.run(&["state", "get", "@/custom/x"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(!out.stderr.contains(TOKEN), "{out}");
    let leaks = files_containing(&env2.root().join("home"), TOKEN);
    assert!(leaks.is_empty(), "{leaks:?}");
}

/// A `repo.ocu.star` whose Git store (the remote in `$STORE_REMOTE`) has `support_files`
/// (a Starlark dict literal) on line 3.
fn support_files_config(files: &str) -> String {
    format!(
        "repo_alias(\"demo\")\nremote = env()[\"STORE_REMOTE\"]\nstore.set(store.git(remote, branch = \"main\", support_files = {files}))\n"
    )
}

// Issue 12 ("depth and size limits everywhere outside input is parsed or produced: … support
// files"): `store.git(support_files = …)` is held to the limits and to paths the store
// branch can hold, refused at the call (file and line named) before anything is written.
#[test]
fn issue_12_support_files_are_held_to_the_limits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = tmp.path().join("store.git");
    bare_remote(&remote);
    let mut env = TestEnv::with_config(&support_files_config(
        "{\".github/workflows/ocuroot.yml\": \"on: push\\n\"}",
    ));
    env.set_env("STORE_REMOTE", &format!("file://{}", remote.display()));
    env.run(&["state", "set", "@/custom/a", "1"]).success();
    let shown = git(&remote, &["show", "main:.github/workflows/ocuroot.yml"]);
    assert_eq!(shown, "on: push\n");
    let before = env.tip(&remote, "main");
    let big = format!("{{\"big.txt\": \"x\" * {}}}", (1 << 20) + 1);
    let many = format!(
        "{{\"f\" + str(i): \"\" for i in range({})}}",
        ocuroot_core::limits::DEFAULT_MAX_SUPPORT_FILES + 1
    );
    let deep = format!("{{\"{}\": \"x\"}}", vec!["d"; 129].join("/"));
    for (files, needles) in [
        (
            "{\".git/config\": \"x\"}",
            &[".git/config", "a name Git reserves"][..],
        ),
        ("{\".gitmodules\": \"x\"}", &[".gitmodules"]),
        ("{\"../escape\": \"x\"}", &["../escape"]),
        ("{\"/etc/x\": \"x\"}", &["/etc/x"]),
        (
            "{\"intent/refs/@/custom/a/#.yaml\": \"2\"}",
            &["belongs to the store"],
        ),
        ("{\"refs/x\": \"x\"}", &["refs/x", "belongs to the store"]),
        (
            "{\"ci\": \"x\", \"ci/a.yml\": \"y\"}",
            &["also the folder of"],
        ),
        (&big, &["max_document_bytes"]),
        (&many, &["max_support_files"]),
        (&deep, &["max_depth"]),
    ] {
        env.write_file("repo.ocu.star", &support_files_config(files));
        let out = env.run(&["state", "set", "@/custom/b", "2"]);
        let mut all = vec!["repo.ocu.star:3:11", "store.git"];
        all.extend_from_slice(needles);
        assert_refused(&out, &all);
        assert_eq!(env.tip(&remote, "main"), before, "{files}");
    }
    // The count is a setting.
    env.write_file(
        "repo.ocu.star",
        &support_files_config("{\"a.txt\": \"a\", \"b.txt\": \"b\"}"),
    );
    env.set_env("OCU_CFG_max_support_files", "1");
    let out = env.run(&["state", "set", "@/custom/b", "2"]);
    assert_refused(&out, &["repo.ocu.star:3:11", "max_support_files"]);
    assert_eq!(env.tip(&remote, "main"), before);
    let files = git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(!files.contains("@/custom/b"), "{files}");
    git(&remote, &["fsck", "--strict"]);
}
