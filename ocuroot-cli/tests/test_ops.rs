//! Issue 15: rollback, bad marks, promotion, freezes and approvals with a name, as intent
//! commits carried out by the ordinary work commands, with real commits of a source
//! repository.

use crate::common::TestEnv;

const PKG: &str = "ops/-/api.ocu.star";

fn version(env: &TestEnv, environment: &str) -> String {
    env.get_string(&format!("{PKG}/@/deploy/{environment}#output/version"))
}

fn release_of(env: &TestEnv, environment: &str) -> String {
    env.get_string(&format!("{PKG}/@/deploy/{environment}#release"))
}

fn held(env: &TestEnv, run: &str) -> serde_json::Value {
    env.get_json(&format!("{PKG}/@{run}/status/pending#held"))
}

/// The `ops` fixture with r1 deployed to qa, us and eu.
fn released() -> TestEnv {
    let env = TestEnv::from_fixture("ops");
    env.release_all(&["environments.ocu.star", "api.ocu.star"]);
    for e in ["qa", "us", "eu"] {
        assert_eq!(version(&env, e), "1", "{e}");
    }
    env
}

#[test]
fn freeze_rollback_bad_mark_and_promotion_end_to_end() {
    let env = released();

    // Freeze eu; r2 at a new commit reaches qa and us while eu waits as frozen.
    env.run(&["freeze", "eu", "--reason", "audit week"])
        .success();
    env.commit_file("version.txt", "2\n", "version 2");
    let out = env.run(&["release", "new", "api.ocu.star"]).success();
    assert!(
        out.stderr.contains(
            "api.ocu.star@r2 deploy/eu#1 held: frozen: environment eu is frozen (audit week)"
        ),
        "{out}"
    );
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(version(&env, "qa"), "2");
    assert_eq!(version(&env, "us"), "2");
    assert_eq!(version(&env, "eu"), "1");
    assert_eq!(
        held(&env, "r2/deploy/eu/1"),
        serde_json::json!({"reason": "frozen", "environment": "eu", "detail": "audit week"})
    );
    let plan = env.run(&["plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "frozen: eu (audit week) until unfrozen\n    held: {PKG}/@r2/deploy/eu/1"
        )),
        "{plan}"
    );

    // qa and us run the same release: promoting qa to us changes nothing.
    let out = env
        .run(&["promote", "--from", "qa", "--to", "us"])
        .success();
    assert!(out.stdout.contains("Nothing to change"), "{out}");
    assert!(env.run(&["plan"]).success().stdout.contains("No changes"));

    // Roll us back: r1, with the inputs it ran with there.
    let out = env.run(&["rollback", "api", "us"]).success();
    assert!(
        out.stdout.contains(&format!(
            "run `up` of {PKG}/@r1 in us (run {PKG}/@r1/deploy/us/2)"
        )),
        "{out}"
    );
    env.run(&["work", "cascade"]).success();
    assert_eq!(version(&env, "us"), "1");
    assert_eq!(release_of(&env, "us"), format!("{PKG}/@r1"));
    // An unrelated commit, then the work commands: the rollback stays.
    env.commit_file("notes.txt", "unrelated\n", "unrelated change");
    env.run(&["work", "any"]).success();
    env.run(&["work", "cascade"]).success();
    assert_eq!(version(&env, "us"), "1");
    assert_eq!(version(&env, "eu"), "1");

    // r2 is bad; unfreezing eu leaves it on r1, its r2 run held as bad.
    env.run(&[
        "release",
        "mark-bad",
        "api.ocu.star/@r2",
        "--reason",
        "corrupts orders",
    ])
    .success();
    env.run(&["unfreeze", "eu"]).success();
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    env.run(&["work", "any"]).success();
    assert_eq!(version(&env, "eu"), "1");
    assert_eq!(
        held(&env, "r2/deploy/eu/1"),
        serde_json::json!({"reason": "bad", "release": format!("{PKG}/@r2"), "detail": "corrupts orders"})
    );
    let plan = env.run(&["plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "bad: {PKG}/@r2 (corrupts orders) still runs in qa\n    held: {PKG}/@r2/deploy/eu/1"
        )),
        "{plan}"
    );

    // A rollback to a bad release is refused, and writes nothing.
    let tip = env.tip(&env.hub(), "intent");
    let out = env.run(&["rollback", "api", "us", "--to", "r2"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "release {PKG}/@r2 is marked bad (corrupts orders)"
        )),
        "{out}"
    );
    assert_eq!(env.tip(&env.hub(), "intent"), tip);

    // Promoting us (r1) to qa takes qa off the bad r2.
    let out = env
        .run(&["promote", "--from", "us", "--to", "qa"])
        .success();
    assert!(out.stdout.contains("Wrote one intent commit"), "{out}");
    // The runs belong to r1, made at the first commit: `work cascade` runs them there.
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(version(&env, "qa"), "1");
    assert_eq!(release_of(&env, "qa"), format!("{PKG}/@r1"));
    let plan = env.run(&["plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "bad: {PKG}/@r2 (corrupts orders) is not deployed anywhere"
        )),
        "{plan}"
    );
}

fn output(env: &TestEnv, pkg: &str, environment: &str, field: &str) -> String {
    env.get_string(&format!(
        "chain/-/{pkg}.ocu.star/@/deploy/{environment}#{field}"
    ))
}

/// The `ops_chain` fixture: r1 of a, b and c everywhere, then r2 of each at a new commit,
/// which reaches qa while prod is frozen (and stays on r1).
fn chain_at_r2() -> TestEnv {
    let env = TestEnv::from_fixture("ops_chain");
    env.release_all(&[
        "environments.ocu.star",
        "a.ocu.star",
        "b.ocu.star",
        "c.ocu.star",
    ]);
    assert_eq!(output(&env, "c", "prod", "output/version"), "c(b(1))");
    env.run(&["freeze", "prod"]).success();
    env.commit_file("version.txt", "2\n", "version 2");
    env.release_all(&["a.ocu.star", "b.ocu.star", "c.ocu.star"]);
    env.run(&["work", "cascade"]).success();
    env
}

fn intent_commits(env: &TestEnv) -> usize {
    crate::common::git(&env.hub(), &["rev-list", "--count", "intent"])
        .trim()
        .parse()
        .expect("count")
}

#[test]
fn a_promotion_of_three_packages_that_read_each_other_lands_in_dependency_order_as_one_commit() {
    let env = chain_at_r2();
    assert_eq!(output(&env, "c", "qa", "output/version"), "c(b(2))");
    assert_eq!(output(&env, "c", "prod", "output/version"), "c(b(1))");

    // Promote what prod runs (r1 of each) back to qa: one intent commit, in order.
    let before = intent_commits(&env);
    let out = env
        .run(&["promote", "--from", "prod", "--to", "qa"])
        .success();
    assert_eq!(intent_commits(&env), before + 1, "{out}");
    let a_run = "chain/-/a.ocu.star/@r1/deploy/qa/2";
    let b_run = "chain/-/b.ocu.star/@r1/deploy/qa/2";
    let c_run = "chain/-/c.ocu.star/@r1/deploy/qa/2";
    let expected = [
        format!("  1. chain/-/a.ocu.star/@/deploy/qa: run `up` of chain/-/a.ocu.star/@r1 in qa (run {a_run})\n"),
        format!("  2. chain/-/b.ocu.star/@/deploy/qa: run `up` of chain/-/b.ocu.star/@r1 in qa (run {b_run}), after {a_run}\n"),
        format!("  3. chain/-/c.ocu.star/@/deploy/qa: run `up` of chain/-/c.ocu.star/@r1 in qa (run {c_run}), after {b_run}\n"),
    ]
    .concat();
    assert!(out.stdout.contains(&expected), "{out}");
    let log = crate::common::git(&env.hub(), &["log", "-1", "--format=%s", "intent"]);
    assert_eq!(log.trim(), "promote prod to qa (3 deployment(s))");
    // `plan` shows the set as one change, in the same order, each run `after` the one
    // before; the record names the person and the time.
    let plan = env.run(&["plan", "-o", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json");
    assert_eq!(doc["items"], serde_json::json!([]), "{plan}");
    let group = &doc["promotions"][0];
    assert_eq!(group["ref"], "@/environment/qa/promotion", "{plan}");
    assert_eq!(group["pending"], true);
    assert_eq!(group["from"], "prod");
    assert_eq!(group["time"], crate::common::NOW);
    let members = group["deployments"].as_array().expect("deployments");
    let order: Vec<&str> = members.iter().filter_map(|m| m["ref"].as_str()).collect();
    assert_eq!(
        order,
        [
            "chain/-/a.ocu.star/@/deploy/qa",
            "chain/-/b.ocu.star/@/deploy/qa",
            "chain/-/c.ocu.star/@/deploy/qa"
        ]
    );
    assert_eq!(members[0]["status"], "pending");
    assert_eq!(
        members[1]["item"]["effects"][0]["after"],
        serde_json::json!([a_run])
    );
    assert_eq!(
        members[2]["item"]["effects"][0]["after"],
        serde_json::json!([b_run])
    );
    let text = env.run(&["plan", "--color", "never"]).success();
    assert!(
        text.stdout.starts_with(
            "1 intent change(s):\n\npromotion @/environment/qa/promotion\n  promotion prod → qa (2026-01-01T00:00:00Z): 3 deployment(s) to carry out, in this order:\n  1. update chain/-/a.ocu.star/@/deploy/qa\n     run `up` of chain/-/a.ocu.star/@r1 in qa"
        ),
        "{text}"
    );

    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(output(&env, "a", "qa", "output/version"), "1");
    assert_eq!(output(&env, "b", "qa", "output/version"), "b(1)");
    assert_eq!(output(&env, "c", "qa", "output/version"), "c(b(1))");
    for p in ["a", "b", "c"] {
        assert_eq!(
            output(&env, p, "qa", "release"),
            format!("chain/-/{p}.ocu.star/@r1")
        );
    }
    // The order held when they ran: b's run waited for a's, c's for b's.
    for (run, waits_for) in [(b_run, a_run), (c_run, b_run)] {
        let doc = env
            .run(&["state", "get", &format!("{run}#functions")])
            .success();
        assert!(
            doc.stdout.contains(&format!("{waits_for}/status/complete")),
            "{doc}"
        );
    }
    assert!(env.run(&["plan"]).success().stdout.contains("No changes"));
}

#[test]
fn approvals_name_the_person_from_ci_or_git() {
    let env = TestEnv::new();
    // From a CI job: the actor.
    let out = env.run_with(
        "",
        &["approve", "@/custom/approval"],
        &[("GITHUB_ACTOR", "octocat")],
        None,
    );
    assert_eq!(out.code(), 0, "{out}");
    let log = env
        .run(&["state", "log", "--intent", "@/custom/approval"])
        .success();
    assert!(log.stdout.contains("[requested by octocat]"), "{log}");
    // From a plain checkout: the repository's git user.
    env.git(&["config", "user.name", "Ada Lovelace"]);
    env.git(&["config", "user.email", "ada@example.com"]);
    env.run(&["approve", "@/custom/approval", "yes"]).success();
    let log = env
        .run(&[
            "state",
            "log",
            "--intent",
            "@/custom/approval",
            "-o",
            "json",
        ])
        .success();
    let items: serde_json::Value = serde_json::from_str(&log.stdout).expect("json");
    assert_eq!(
        items[0]["requested_by"],
        serde_json::json!("Ada Lovelace <ada@example.com>")
    );
    assert_eq!(items[1]["requested_by"], serde_json::json!("octocat"));
    // The commit author stays as configured.
    assert_eq!(
        items[0]["author"],
        serde_json::json!("Ocuroot <contact@ocuroot.com>")
    );
    // --as wins over both.
    env.run_with(
        "",
        &["approve", "@/custom/approval", "--as", "Grace"],
        &[("GITHUB_ACTOR", "octocat")],
        None,
    )
    .success();
    let log = env
        .run(&["state", "log", "--intent", "@/custom/approval"])
        .success();
    assert!(
        log.stdout
            .lines()
            .next()
            .unwrap_or_default()
            .contains("[requested by Grace]"),
        "{log}"
    );
    // Approving something that is not custom state is refused.
    let out = env.run(&["approve", "@/environment/x"]);
    assert_eq!(out.code(), 1, "{out}");
}

#[test]
fn freeze_and_bad_mark_documents_are_schema_checked() {
    let env = released();
    for (value, problem) in [
        (r#"{"until": "tomorrow"}"#, "until is not an RFC 3339 time"),
        (r#"{"reason": "x", "by": "me"}"#, "not a freeze"),
    ] {
        let out = env.run(&[
            "state",
            "set",
            "@/environment/eu/freeze",
            value,
            "-f",
            "json",
        ]);
        assert_eq!(out.code(), 1, "{out}");
        assert!(out.stderr.contains(problem), "{out}");
    }
    let out = env.run(&["freeze", "eu", "--until", "soon"]);
    assert_eq!(out.code(), 1, "{out}");
    let out = env.run(&[
        "state",
        "set",
        &format!("{PKG}/@r9/custom/ocuroot/bad"),
        "{}",
        "-f",
        "json",
    ]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("does not exist in state"), "{out}");
    let out = env.run(&[
        "state",
        "set",
        &format!("{PKG}/@r1/custom/ocuroot/other"),
        "x",
    ]);
    assert_eq!(out.code(), 1, "{out}");
    // A freeze that ended does not hold: the run starts.
    env.run(&["freeze", "eu", "--until", "2025-12-31T00:00:00Z"])
        .success();
    assert!(env.run(&["intent", "check"]).success().stdout.is_empty());
    env.commit_file("version.txt", "2\n", "version 2");
    env.run(&["release", "new", "api.ocu.star"]).success();
    assert_eq!(version(&env, "eu"), "2");
    // Unfreezing what is not frozen is refused.
    let out = env.run(&["unfreeze", "qa"]);
    assert_eq!(out.code(), 1, "{out}");
    // Hand-written documents on the intent branch: intent check accepts a valid freeze
    // and bad mark, and names the malformed ones; plan refuses to plan them.
    crate::common::hand_commit(
        &env.hub(),
        "intent",
        &[
            (
                "refs/@/environment/qa/freeze/#.yaml",
                Some("reason: by hand\n"),
            ),
            (
                "refs/ops/-/api.ocu.star/@r1/custom/ocuroot/bad/#.yaml",
                Some("reason: by hand\n"),
            ),
        ],
    );
    assert!(env.run(&["intent", "check"]).success().stdout.is_empty());
    crate::common::hand_commit(
        &env.hub(),
        "intent",
        &[
            ("refs/@/environment/us/freeze/#.yaml", Some("until: 3pm\n")),
            (
                "refs/ops/-/api.ocu.star/@r2/custom/ocuroot/bad/#.yaml",
                Some("why: typo\n"),
            ),
        ],
    );
    let out = env.run(&["intent", "check"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stdout.contains(
            "refs/@/environment/us/freeze/#.yaml: @/environment/us/freeze: until is not an RFC 3339 time"
        ),
        "{out}"
    );
    assert!(out.stdout.contains("not a bad mark ({reason})"), "{out}");
    assert_eq!(env.run(&["plan"]).code(), 1);
}

#[test]
fn markdown_plans_of_a_freeze_a_rollback_and_a_promotion() {
    let env = released();
    let markdown = |env: &TestEnv| env.run(&["plan", "--output", "markdown"]).success();
    env.run(&[
        "freeze",
        "eu",
        "--reason",
        "audit | week",
        "--until",
        "2026-02-01T00:00:00Z",
    ])
    .success();
    insta::assert_snapshot!("markdown_freeze", markdown(&env).normalized_stdout());
    env.run(&["work", "any"]).success();
    env.commit_file("version.txt", "2\n", "version 2");
    env.run(&["release", "new", "api.ocu.star"]).success();
    env.run(&["rollback", "api", "us"]).success();
    insta::assert_snapshot!("markdown_rollback", markdown(&env).normalized_stdout());
    env.run(&["work", "cascade"]).success();
    env.run(&["promote", "--from", "us", "--to", "qa"])
        .success();
    insta::assert_snapshot!("markdown_promotion", markdown(&env).normalized_stdout());
}

/// A webhook server on 127.0.0.1 that records every request body.
struct Webhook {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Webhook {
    fn start() -> Webhook {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                if request_line.starts_with("POST /hook ") {
                    seen.lock()
                        .expect("bodies")
                        .push(String::from_utf8_lossy(&body).to_string());
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Webhook { url, bodies }
    }

    /// The `run` objects posted so far, sorted by ref and status.
    fn runs(&self) -> Vec<serde_json::Value> {
        let mut runs: Vec<serde_json::Value> = self
            .bodies
            .lock()
            .expect("bodies")
            .iter()
            .map(|b| serde_json::from_str::<serde_json::Value>(b).expect("json")["run"].clone())
            .collect();
        runs.sort_by_key(|r| (r["ref"].to_string(), r["status"].to_string()));
        runs
    }
}

#[test]
fn notify_is_called_once_per_run_end_without_secrets_and_never_fails_the_run() {
    let hook = Webhook::start();
    let mut env = TestEnv::from_fixture("notify");
    env.set_env("NOTIFY_URL", &hook.url);
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    env.run(&["freeze", "eu", "--reason", "audit"]).success();
    let out = env.run(&["release", "new", "app.ocu.star"]);
    // `broken` fails the release (exit 1); the failing notify of prod does not matter.
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("warning: notify failed for notify/-/app.ocu.star/@r1/deploy/prod/1"),
        "{out}"
    );
    // The run whose notify failed completed all the same.
    let prod = env
        .run(&[
            "state",
            "get",
            "notify/-/app.ocu.star/@/deploy/prod#output/version",
        ])
        .success();
    assert_eq!(prod.stdout.trim(), "\"1\"");
    let commit = env.git(&["rev-parse", "HEAD"]).trim().to_string();
    let run = |r: &str,
               env_name: Option<&str>,
               status: &str,
               outputs: serde_json::Value,
               error: Option<&str>| {
        serde_json::json!({
            "ref": format!("notify/-/app.ocu.star/@r1/{r}"),
            "package": "notify/-/app.ocu.star",
            "release": "notify/-/app.ocu.star/@r1",
            "environment": env_name,
            "status": status,
            "commit": commit,
            "outputs": outputs,
            "error": error,
        })
    };
    let expected = vec![
        run(
            "deploy/eu/1",
            Some("eu"),
            "held",
            serde_json::json!({}),
            Some("frozen: environment eu is frozen (audit)"),
        ),
        run(
            "deploy/qa/1",
            Some("qa"),
            "complete",
            serde_json::json!({"version": "1"}),
            None,
        ),
        run(
            "task/approve/1",
            None,
            "paused",
            serde_json::json!({}),
            Some("waiting for approval"),
        ),
        run(
            "task/broken/1",
            None,
            "failed",
            serde_json::json!({}),
            Some("app.ocu.star:24:5: fail: cannot reach db with <secret>"),
        ),
        run(
            "task/build/1",
            None,
            "complete",
            serde_json::json!({"token": {"masked_secret": "<secret>"}, "version": "1"}),
            None,
        ),
    ];
    // Every run end once (prod's call failed inside notify, so it posted nothing).
    let got = hook.runs();
    assert_eq!(got, expected, "{out}");
    for body in hook.bodies.lock().expect("bodies").iter() {
        assert!(!body.contains("s3cr3t"), "{body}");
    }
    // Nothing more happens: no second call for the same ends.
    env.run(&["work", "any"]).success();
    assert_eq!(hook.runs().len(), expected.len());
}

#[test]
fn only_a_rollback_with_override_freeze_gets_through_a_freeze() {
    let env = released();
    env.commit_file("version.txt", "2\n", "version 2");
    env.run(&["release", "new", "api.ocu.star"]).success();
    assert_eq!(version(&env, "us"), "2");
    env.run(&["freeze", "us", "--reason", "incident"]).success();
    // A plain rollback waits, held by the freeze.
    env.run(&["rollback", "api", "us"]).success();
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr
            .contains("held: frozen: environment us is frozen (incident)"),
        "{out}"
    );
    assert_eq!(version(&env, "us"), "2");
    // With --override-freeze it runs, and its commit says so.
    let out = env
        .run(&["rollback", "api", "us", "--override-freeze"])
        .success();
    assert!(out.stdout.contains("overriding a freeze"), "{out}");
    let subject = crate::common::git(&env.hub(), &["log", "-1", "--format=%s", "intent"]);
    assert_eq!(
        subject.trim(),
        "rollback ops/-/api.ocu.star in us to r1 (overrides the freeze of us)"
    );
    let out = env.run(&["work", "cascade"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(version(&env, "us"), "1");
    assert_eq!(release_of(&env, "us"), format!("{PKG}/@r1"));
}

#[test]
fn promote_with_cascade_reports_which_of_the_set_landed() {
    let env = chain_at_r2();
    // c's deployment fails: a and b land, c does not, and the command says so.
    let out = env.run_with(
        "",
        &["promote", "--from", "prod", "--to", "qa", "--cascade"],
        &[("FAIL_C", "1")],
        None,
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stdout.contains(
            "Landed 2 of 3:\n  chain/-/a.ocu.star/@/deploy/qa: landed\n  chain/-/b.ocu.star/@/deploy/qa: landed\n  chain/-/c.ocu.star/@/deploy/qa: not landed: run chain/-/c.ocu.star/@r1/deploy/qa/2 failed\n"
        ),
        "{out}"
    );
    assert!(
        out.stderr.contains("1 of 3 deployment(s) did not land"),
        "{out}"
    );
    assert_eq!(output(&env, "b", "qa", "output/version"), "b(1)");
    assert_eq!(output(&env, "c", "qa", "release"), "chain/-/c.ocu.star/@r2");
}

#[test]
fn a_push_that_does_not_release_the_package_leaves_a_rollback_in_place() {
    let env = TestEnv::from_fixture("ops");
    let out = env.run(&["push"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(version(&env, "us"), "1");
    // A new version: the package file changes too, so `push` releases it.
    let package = std::fs::read_to_string(env.repo().join("api.ocu.star")).expect("read");
    env.write_file("api.ocu.star", &format!("{package}# version 2\n"));
    env.commit_file("version.txt", "2\n", "version 2");
    let out = env.run(&["push"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(version(&env, "us"), "2");
    env.run(&["rollback", "api", "us"]).success();
    env.run(&["work", "cascade"]).success();
    assert_eq!(version(&env, "us"), "1");
    env.commit_file("notes.txt", "unrelated\n", "unrelated change");
    let out = env.run(&["push"]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!out.stdout.contains("api.ocu.star"), "{out}");
    assert_eq!(version(&env, "us"), "1");
    assert_eq!(release_of(&env, "us"), format!("{PKG}/@r1"));
    // A push that releases the package deploys the new release over it, as intended.
    env.write_file("api.ocu.star", &format!("{package}# version 3\n"));
    env.commit_file("version.txt", "3\n", "version 3");
    env.run(&["push"]).success();
    assert_eq!(version(&env, "us"), "3");
}

#[test]
fn intent_commits_of_the_engine_name_the_person_too() {
    let env = TestEnv::from_fixture("ops");
    env.run_with(
        "",
        &["release", "new", "environments.ocu.star"],
        &[("GITLAB_USER_LOGIN", "gl-user")],
        None,
    )
    .success();
    env.run_with(
        "",
        &["release", "new", "api.ocu.star"],
        &[("GITHUB_ACTOR", "ci-bot")],
        None,
    )
    .success();
    let log = env
        .run(&["state", "log", "--intent", &format!("{PKG}/@/deploy/qa")])
        .success();
    assert!(log.stdout.contains("deployments started"), "{log}");
    assert!(log.stdout.contains("[requested by ci-bot]"), "{log}");
    let log = env
        .run(&["state", "log", "--intent", "@/environment/qa"])
        .success();
    assert!(log.stdout.contains("[requested by gl-user]"), "{log}");
}

#[test]
fn plan_says_which_of_a_promotion_landed_after_a_run_failed() {
    let env = chain_at_r2();
    env.run(&["promote", "--from", "prod", "--to", "qa", "--as", "Ada"])
        .success();
    insta::assert_snapshot!(
        "promotion_pending",
        env.run(&["plan", "--color", "never"]).normalized_stdout()
    );
    // c's `up` fails: a and b land, c does not, and `plan` says so afterwards although
    // no deploy intent is pending any more.
    let out = env.run_with("", &["work", "cascade"], &[("FAIL_C", "1")], None);
    assert_ne!(out.code(), 0, "{out}");
    let text = env.run(&["plan", "--color", "never"]).success();
    insta::assert_snapshot!("promotion_failed", text.normalized_stdout());
    assert!(
        text.stdout.contains("landed 2 of 3\n")
            && text.stdout.contains(
                "chain/-/c.ocu.star/@/deploy/qa: not landed: run chain/-/c.ocu.star/@r1/deploy/qa/2 failed"
            ),
        "{text}"
    );
    let json = env.run(&["plan", "-o", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let group = &doc["promotions"][0];
    assert_eq!(group["pending"], false, "{json}");
    assert_eq!(group["requested-by"], "Ada", "{json}");
    let statuses: Vec<&str> = group["deployments"]
        .as_array()
        .expect("deployments")
        .iter()
        .filter_map(|m| m["status"].as_str())
        .collect();
    assert_eq!(statuses, ["landed", "landed", "failed"], "{json}");
    assert_eq!(
        group["deployments"][2]["run"],
        "chain/-/c.ocu.star/@r1/deploy/qa/2"
    );
    let md = env.run(&["plan", "-o", "markdown"]).success();
    assert!(
        md.stdout.contains("#### Promotions\n\n- promotion prod → qa (requested by Ada, 2026-01-01T00:00:00Z): landed 2 of 3\n"),
        "{md}"
    );
    // Once c deploys (its failed run retried without the failure), one line says so.
    // r1 was made at the fixture's commit: retry it there.
    env.git(&["checkout", "-q", "HEAD~1"]);
    let out = env.run(&["release", "retry", "c.ocu.star/@r1"]);
    assert_eq!(out.code(), 0, "{out}");
    env.git(&["checkout", "-q", "main"]);
    let text = env.run(&["plan", "--color", "never"]).success();
    assert!(text.stdout.contains("all 3 deployment(s) landed"), "{text}");
}
