//! Issue 14: `ocuroot state view` and the web page of `ocuroot preview`, over HTTP
//! against the real binary on 127.0.0.1 in a temporary repository with real releases.

use std::time::Duration;

use crate::common::TestEnv;
use crate::common::web::Server;

pub const ENVIRONMENTS: &str = r#"register_environment(environment("staging", {"type": "staging"}))
register_environment(environment("production", {"type": "prod"}))
"#;

/// A package with a build task, a staging deployment and a production deployment that
/// waits for an approval (`@/custom/approval`); its runs log a secret.
pub const APP: &str = r#"def build():
    print("building <b>app</b>")
    return done(outputs = {"image": "app:1"})

def up(environment, image, approval = None):
    token = secret("s3cr3t-token")
    print("deploying " + image + " with s3cr3t-token")
    return done(outputs = {"url": "https://" + environment["name"] + ".example", "auth": "Bearer " + token})

def down(environment, image, approval = None):
    return done()

phase("build", tasks = [task(build, name = "build")])
phase("staging", tasks = [deploy(up = up, down = down, environment = e, inputs = {"image": ref("./task/build#output/image")}) for e in environments() if e.name == "staging"])
phase("production", tasks = [deploy(up = up, down = down, environment = e, inputs = {"image": ref("./task/build#output/image"), "approval": ref("@/custom/approval")}) for e in environments() if e.name == "production"])
"#;

/// The script custom state value every page must show escaped.
pub const SCRIPT: &str = "<script>alert(1)</script>";

/// A repository with two environments, custom state holding [`SCRIPT`], and release r1
/// of `app.ocu.star`: build and staging complete, production waiting for its approval.
pub fn estate() -> TestEnv {
    let env = TestEnv::new();
    env.commit_files(
        &[
            ("environments.ocu.star", ENVIRONMENTS),
            ("app.ocu.star", APP),
        ],
        "packages",
    );
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    env.run(&["state", "set", "@/custom/note", SCRIPT])
        .success();
    env.run(&["work", "any"]).success();
    env.run(&["release", "new", "app.ocu.star"]).success();
    env
}

pub fn state_view(env: &TestEnv) -> Server {
    Server::start(
        env,
        &["state", "view", "--port", "0"],
        "Open your browser to: http://localhost:",
    )
}

fn page(server: &Server, path: &str) -> String {
    let res = server.get(path);
    assert_eq!(res.status, 200, "GET {path}:\n{}", res.body);
    assert!(
        res.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "GET {path}: {:?}",
        res.headers
    );
    // No page ever shows the secret, wherever it was logged or output.
    assert!(
        !res.body.contains("s3cr3t-token"),
        "GET {path} shows the secret"
    );
    // User content is escaped: the custom state value never appears as markup.
    assert!(
        !res.body.contains(SCRIPT),
        "GET {path} has unescaped user content"
    );
    res.body
}

#[test]
fn state_view_serves_every_page_escaped_and_read_only() {
    let env = estate();
    let state_tip = env.tip(&env.hub(), "state");
    let intent_tip = env.tip(&env.hub(), "intent");
    let server = state_view(&env);
    assert_eq!(
        server.ready_lines[0],
        "Your state view is ready and waiting!"
    );

    let overview = page(&server, "/");
    for text in [
        "app.ocu.star",
        "staging",
        "production",
        "@r1",
        "deployed",
        "waiting",
        "input approval (@/custom/approval)",
        "Environments",
        "Deployments",
        "Custom state",
    ] {
        assert!(
            overview.contains(text),
            "overview lacks {text}:\n{overview}"
        );
    }
    assert!(overview.contains(r#"href="/ref/demo/-/app.ocu.star""#));
    assert!(overview.contains(r#"href="/ref/demo/-/app.ocu.star/@r1""#));

    let package = page(&server, "/ref/demo/-/app.ocu.star");
    assert!(package.contains("@r1") && package.contains("task build"));
    assert!(
        package.contains(r#"href="/ref/@/environment/staging""#),
        "{package}"
    );

    let release = page(&server, "/ref/demo/-/app.ocu.star/@r1");
    for text in [
        "build",
        "staging",
        "production",
        "app:1",
        "waiting for input approval (@/custom/approval)",
        "https://staging.example",
        "Bearer &lt;secret&gt;",
    ] {
        assert!(
            release.contains(text),
            "release page lacks {text}:\n{release}"
        );
    }

    let run = page(&server, "/ref/demo/-/app.ocu.star/@r1/deploy/staging/1");
    for text in [
        "Function chain",
        "app.ocu.star:5:5",
        "deploying app:1 with &lt;secret&gt;",
        "complete",
        "https://staging.example",
    ] {
        assert!(run.contains(text), "run page lacks {text}:\n{run}");
    }
    // The stored refs below a run or release, links included.
    assert!(run.contains(r#"href="/ref/demo/-/app.ocu.star/@r1/deploy/staging/1/logs""#));
    assert!(
        release.contains(r#"href="/ref/demo/-/app.ocu.star/@r1/task/build/1/status/complete""#)
    );
    let build = page(&server, "/ref/demo/-/app.ocu.star/@r1/task/build/1");
    assert!(build.contains("building &lt;b&gt;app&lt;/b&gt;"), "{build}");

    let staging = page(&server, "/ref/@/environment/staging");
    for text in [
        "type",
        "staging",
        "app.ocu.star",
        "@r1",
        "Ocuroot &lt;contact@ocuroot.com&gt;",
        "added",
    ] {
        assert!(
            staging.contains(text),
            "environment page lacks {text}:\n{staging}"
        );
    }
    let production = page(&server, "/ref/@/environment/production");
    assert!(production.contains("nothing is deployed here"));
    assert!(production.contains("@/custom/approval"));

    let work = page(&server, "/work");
    assert!(work.contains("No changes: state matches intent."), "{work}");
    assert!(work.contains("demo/-/app.ocu.star/@r1/deploy/production/1"));

    // A link's page says where it leads; the ref page of a document shows it.
    let link = page(&server, "/ref/demo/-/app.ocu.star/@/deploy/staging");
    assert!(link.contains("links to"), "{link}");
    assert!(
        link.contains(r#"href="/ref/demo/-/app.ocu.star/@r1/deploy/staging""#),
        "{link}"
    );
    assert!(link.contains("https://staging.example"), "{link}");
    let note = page(&server, "/ref/@/custom/note");
    assert!(
        note.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{note}"
    );

    let envs = page(&server, "/match/@/environment/*");
    assert!(envs.contains("@/environment/production") && envs.contains("@/environment/staging"));
    let encoded = page(&server, "/match/%2A%2A/@/deploy/%2A");
    assert!(
        encoded.contains("demo/-/app.ocu.star/@/deploy/staging"),
        "{encoded}"
    );

    // A missing ref is a 404 page, a bad one a 400.
    let missing = server.get("/ref/demo/-/app.ocu.star/@r9");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Not found"));
    assert_eq!(server.get("/nothing/here").status, 404);
    assert_eq!(server.get("/ref/a//b").status, 400);

    // Read-only: only GET and HEAD.
    let host = format!("localhost:{}", server.port);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let res = server.request(method, "/", &host);
        assert_eq!(res.status, 405, "{method}");
        assert_eq!(res.header("allow"), Some("GET, HEAD"));
    }
    let head = server.request("HEAD", "/", &host);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // DNS rebinding: a foreign Host is refused; localhost and 127.0.0.1 are not.
    assert_eq!(server.request("GET", "/", "evil.example").status, 403);
    assert_eq!(
        server
            .request("GET", "/", &format!("evil.example:{}", server.port))
            .status,
        403
    );
    assert_eq!(server.request("GET", "/", &host).status, 200);

    // Embedded assets.
    let css = server.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .is_some_and(|c| c.starts_with("text/css"))
    );
    assert!(css.body.contains("@media"));
    assert_eq!(server.get("/static/app.js").status, 200);
    assert_eq!(server.get("/favicon.ico").status, 200);

    // Nothing the server did wrote a store.
    drop(server);
    assert_eq!(env.tip(&env.hub(), "state"), state_tip);
    assert_eq!(env.tip(&env.hub(), "intent"), intent_tip);
}

#[test]
fn state_view_pages_update_live_after_a_release() {
    let env = estate();
    let server = state_view(&env);
    let overview = page(&server, "/");
    assert!(!overview.contains("@r2"));
    // The page names the version of the stores it shows; a stream opened with it stays
    // quiet until a branch moves, one opened with an older version reloads at once.
    let since = overview
        .split(r#"data-live="/events?since="#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("live URL with the version")
        .to_string();
    let mut stale = server.events("/events?since=older");
    assert!(stale.wait_for("connected", Duration::from_secs(10)));
    assert!(
        stale.wait_for("reload", Duration::from_secs(10)),
        "a stale page is not reloaded"
    );
    let mut events = server.events(&format!("/events?since={since}"));
    assert!(events.wait_for("connected", Duration::from_secs(10)));
    assert!(
        !events.wait_for("reload", Duration::from_secs(3)),
        "reload before anything changed"
    );
    env.run(&["release", "new", "app.ocu.star", "--force"])
        .success();
    assert!(
        events.wait_for("reload", Duration::from_secs(30)),
        "no reload event after a release"
    );
    assert!(page(&server, "/").contains("@r2"));
    assert!(page(&server, "/ref/demo/-/app.ocu.star").contains("@r2"));
}

#[test]
fn state_view_binds_where_told() {
    let env = TestEnv::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = env.run(&["state", "view", "--port", &port]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("error: cannot listen on 127.0.0.1:"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: choose another port"), "{out}");

    // Another loopback address (no network is reached): its own name is accepted as
    // Host, and so are localhost and 127.0.0.1, nothing else.
    let server = Server::start(
        &env,
        &["state", "view", "--port", "0", "--bind", "127.0.0.2"],
        "Open your browser to: http://localhost:",
    )
    .at("127.0.0.2");
    assert!(server.stderr_lines().is_empty());
    // An empty store is an empty overview, not an error.
    assert!(page(&server, "/").contains("No releases yet"));
    assert_eq!(server.request("GET", "/", "localhost").status, 200);
    assert_eq!(server.request("GET", "/", "127.0.0.1").status, 200);
    assert_eq!(server.request("GET", "/", "127.0.0.3").status, 403);
    assert_eq!(server.request("GET", "/", "example.com").status, 403);
}

#[test]
fn preview_serves_the_pipeline_and_reloads_when_the_file_changes() {
    let env = TestEnv::new();
    env.commit_files(
        &[
            ("environments.ocu.star", ENVIRONMENTS),
            ("app.ocu.star", APP),
        ],
        "packages",
    );
    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    env.run(&["work", "any"]).success();
    let server = Server::start(
        &env,
        &["preview", "app.ocu.star", "--port", "0"],
        "Listening on port ",
    );
    assert!(server.ready_lines[0].starts_with("Preview server started at: http://localhost:"));
    assert_eq!(server.ready_lines[1], "Press Ctrl+C to stop the server");
    let body = page(&server, "/");
    for text in [
        "Preview of",
        "app.ocu.star",
        "build",
        "staging",
        "production",
        "@/custom/approval",
    ] {
        assert!(body.contains(text), "preview lacks {text}:\n{body}");
    }
    assert!(body.contains(r#"data-live="/watch""#));

    let mut watch = server.events("/watch");
    assert!(watch.wait_for("connected", Duration::from_secs(10)));
    env.write_file("app.ocu.star", &APP.replace("\"build\"", "\"compile\""));
    assert!(
        watch.wait_for("reload", Duration::from_secs(20)),
        "no reload after an edit"
    );
    let body = page(&server, "/");
    assert!(body.contains("compile"), "{body}");

    // An evaluation error is an error page with status 500, escaped.
    env.write_file("app.ocu.star", "def broken(:\n  <b>\n");
    let res = server.get("/");
    assert_eq!(res.status, 500, "{}", res.body);
    assert!(res.body.contains("Failed to load config"), "{}", res.body);
    assert!(!res.body.contains("<b>"));
    assert_eq!(server.request("POST", "/", "localhost").status, 405);
    assert_eq!(server.request("GET", "/", "evil.example").status, 403);
}

#[test]
fn preview_output_flags_still_print_without_a_server() {
    let env = TestEnv::new();
    env.write_file(
        "app.ocu.star",
        "def b():\n    return done()\n\ntask(b, name = \"b\")\n",
    );
    let out = env
        .run(&["preview", "app.ocu.star", "-o", "json"])
        .success();
    assert!(out.stdout.contains("\"phases\""));
    let out = env.run(&[
        "preview",
        "app.ocu.star",
        "--output",
        "text",
        "--port",
        "3000",
    ]);
    assert_eq!(out.code(), 2, "{out}");
    let out = env.run(&["preview", "nope.ocu.star"]);
    assert_eq!(out.code(), 1, "{out}");
}

/// Issue 15: the state view shows frozen environments (with reason and end) and every
/// environment still running a release marked bad, escaped.
#[test]
fn state_view_shows_freezes_and_bad_releases() {
    let env = TestEnv::from_fixture("ops");
    env.release_all(&["environments.ocu.star", "api.ocu.star"]);
    env.run(&[
        "freeze",
        "eu",
        "--reason",
        "<b>audit</b> week",
        "--until",
        "2026-02-01T00:00:00Z",
    ])
    .success();
    env.commit_file("version.txt", "2\n", "version 2");
    env.release_all(&["api.ocu.star"]);
    env.run(&[
        "release",
        "mark-bad",
        "api.ocu.star/@r2",
        "--reason",
        "<i>corrupts</i> orders",
    ])
    .success();
    let server = state_view(&env);
    let frozen = "&lt;b&gt;audit&lt;/b&gt; week";
    let bad = "&lt;i&gt;corrupts&lt;/i&gt; orders";
    let overview = page(&server, "/");
    for text in [frozen, "until 2026-02-01T00:00:00Z", "marked bad", bad] {
        assert!(
            overview.contains(text),
            "overview lacks {text}:\n{overview}"
        );
    }
    assert!(!overview.contains("<b>audit") && !overview.contains("<i>corrupts"));
    // r2 runs in qa and us: both cells are flagged; eu (frozen, on r1) is not.
    assert_eq!(overview.matches("✖ marked bad").count(), 2, "{overview}");

    let eu = page(&server, "/ref/@/environment/eu");
    assert!(
        eu.contains(frozen) && eu.contains("run starts here while it is frozen"),
        "{eu}"
    );
    // Its r2 run waits, held by the freeze, and says why.
    assert!(eu.contains("st-held"), "{eu}");
    assert!(
        eu.contains(&format!("frozen: environment eu is frozen ({frozen})")),
        "{eu}"
    );
    assert!(!eu.contains("marked bad"), "{eu}");
    let us = page(&server, "/ref/@/environment/us");
    assert!(us.contains("marked bad") && us.contains(bad), "{us}");
    assert!(!us.contains("frozen"), "{us}");

    let r2 = page(&server, "/ref/ops/-/api.ocu.star/@r2");
    assert!(r2.contains("marked bad") && r2.contains(bad), "{r2}");
    let r1 = page(&server, "/ref/ops/-/api.ocu.star/@r1");
    assert!(!r1.contains("marked bad"), "{r1}");
}
