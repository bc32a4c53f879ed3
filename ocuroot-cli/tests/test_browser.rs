//! Issue 14 in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `.ci/run`) driven over WebDriver with `fantoccini`.
//! It follows links from the overview to a package, a release, a run and an environment,
//! checks what each shows, watches the preview page reload after an edit, and takes a
//! screenshot of each page at 1280 px (and the overview at phone width).
//!
//! The screenshots go to `docs/ui/` with `OCU_UPDATE_SCREENSHOTS=1`, else to a temporary
//! folder; either way each must be a PNG of the window's size.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::common::TestEnv;
use crate::common::web::Server;
use crate::test_ui::{APP, ENVIRONMENTS, estate, state_view};

/// The window width of every 1280 px screenshot, and its height.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver (Debian package chromium-driver; .ci/run installs it)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().expect("profile dir"),
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = driver._profile.path().display().to_string();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium_binary(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--user-data-dir={profile}"),
                format!("--window-size={WIDTH},{HEIGHT}"),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session with headless Chromium");
    client
        .set_window_size(WIDTH, HEIGHT)
        .await
        .expect("window size");
    client
}

fn chromium_binary() -> String {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map_or_else(|| "chromium".to_string(), |p| (*p).to_string())
}

/// Where screenshots go: `docs/ui/` when updating them, else a temporary folder.
fn shots_dir(tmp: &Path) -> PathBuf {
    if std::env::var_os("OCU_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ui")
    } else {
        tmp.to_path_buf()
    }
}

/// Takes a screenshot and checks it is a PNG of `width` pixels.
async fn shot(client: &Client, dir: &Path, name: &str, width: u32) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(
        png.len() > 1000,
        "{name}: screenshot of {} bytes",
        png.len()
    );
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: not a PNG");
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(w, width, "{name}: screenshot width");
    std::fs::create_dir_all(dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn follow(client: &Client, css: &str) {
    let before = client.current_url().await.expect("url");
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no link {css}: {e}"))
        .click()
        .await
        .expect("click");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.current_url().await.expect("url") == before {
        assert!(Instant::now() < deadline, "clicking {css} did not navigate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn browser_follows_links_and_preview_reloads() {
    let env = estate();
    // A second release that fails its build, so a failed status shows too.
    env.write_file(
        "broken.ocu.star",
        "def b():\n    fail(\"the build broke\")\n\ntask(b, name = \"build\")\n",
    );
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "broken"]);
    let _ = env.run(&["release", "new", "broken.ocu.star"]);
    // A frozen environment says so in the matrix's column header.
    env.run(&["freeze", "production", "--reason", "release week"])
        .success();
    let server = state_view(&env);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = shots_dir(tmp.path());
    let driver = start_driver();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&server.url()).await.expect("open overview");
        assert_eq!(text(&c, "h1").await, "What is running where");
        let matrix = text(&c, "table.matrix").await;
        assert!(matrix.contains("app.ocu.star"), "{matrix}");
        assert!(matrix.contains("deployed"), "{matrix}");
        assert!(matrix.contains("waiting"), "{matrix}");
        assert!(matrix.contains("failed"), "{matrix}");
        assert!(
            matrix.contains("frozen release week until unfrozen"),
            "{matrix}"
        );
        // The live badge turns on once the event stream is open.
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#live.on"))
            .await
            .expect("live updates connected");
        shot(&c, &dir, "overview", WIDTH).await;

        follow(&c, r#"a.pkg[href="/ref/demo/-/app.ocu.star"]"#).await;
        assert_eq!(text(&c, "h1").await, "app.ocu.star");
        assert!(text(&c, "table.list").await.contains("staging"));
        shot(&c, &dir, "package", WIDTH).await;

        follow(&c, r#"a.rel[href="/ref/demo/-/app.ocu.star/@r1"]"#).await;
        let phases = text(&c, ".phases").await;
        assert!(
            phases.contains("waiting for input approval (@/custom/approval)"),
            "{phases}"
        );
        assert!(phases.contains("app:1"), "{phases}");
        shot(&c, &dir, "release", WIDTH).await;

        follow(
            &c,
            r#"a[href="/ref/demo/-/app.ocu.star/@r1/deploy/staging/1"]"#,
        )
        .await;
        assert!(text(&c, "h1").await.contains("deploy staging"));
        let logs = text(&c, "table.logs").await;
        assert!(logs.contains("deploying app:1 with <secret>"), "{logs}");
        assert!(!c.source().await.expect("source").contains("s3cr3t-token"));
        shot(&c, &dir, "run", WIDTH).await;

        // Back to the overview, and on through the matrix's column header.
        c.goto(&server.url()).await.expect("open overview");
        follow(&c, r#"table.matrix th a[href$="environment/staging"]"#).await;
        assert_eq!(text(&c, "h1").await, "Environment staging");
        assert!(text(&c, "main").await.contains("History"));
        shot(&c, &dir, "environment", WIDTH).await;

        c.goto(&format!("{}/work", server.url()))
            .await
            .expect("work");
        assert!(text(&c, "main").await.contains("@/custom/approval"));
        shot(&c, &dir, "outstanding", WIDTH).await;

        c.goto(&format!("{}/ref/@/custom/note", server.url()))
            .await
            .expect("custom state");
        // Escaped: the script is text on the page, and it never ran.
        assert!(
            text(&c, "pre.json")
                .await
                .contains("<script>alert(1)</script>")
        );
        // The overview at phone width.
        c.set_window_size(390, 844).await.expect("phone size");
        c.goto(&server.url()).await.expect("overview");
        let inner: u64 = c
            .execute("return window.innerWidth", vec![])
            .await
            .expect("width")
            .as_u64()
            .expect("number");
        shot(&c, &dir, "overview-phone", inner as u32).await;
        c.set_window_size(WIDTH, HEIGHT).await.expect("size");

        // The preview page reloads itself when the file is edited.
        let pv = TestEnv::new();
        pv.write_file("environments.ocu.star", ENVIRONMENTS);
        pv.write_file("app.ocu.star", APP);
        pv.git(&["add", "-A"]);
        pv.git(&["commit", "-q", "-m", "packages"]);
        pv.run(&["release", "new", "environments.ocu.star"])
            .success();
        pv.run(&["work", "any"]).success();
        let preview = Server::start(
            &pv,
            &["preview", "app.ocu.star", "--port", "0"],
            "Listening on port ",
        );
        c.goto(&preview.url()).await.expect("preview");
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#live.on"))
            .await
            .expect("watch connected");
        assert!(text(&c, ".phases").await.contains("build"));
        shot(&c, &dir, "preview", WIDTH).await;
        c.execute("window.__before_edit = true", vec![])
            .await
            .expect("mark");
        pv.write_file("app.ocu.star", &APP.replace("\"build\"", "\"compile\""));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let marked = c
                .execute("return window.__before_edit === true", vec![])
                .await
                .map(|v| v == json!(true))
                .unwrap_or(true);
            if !marked && text(&c, ".phases").await.contains("compile") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the preview did not reload after the edit"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c.close().await.expect("close");
    });
}
