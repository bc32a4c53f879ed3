//! The CI flow of spec §7.3, with the test as the CI server: `trigger(fn)` POSTs jobs to a
//! small HTTP server on 127.0.0.1, and each job runs in a fresh clone of the source remote
//! with a fresh `OCUROOT_HOME`, as separate CI machines would. Jobs may queue more jobs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::common::{TestEnv, bare_remote, git};

/// One job the CI server received.
#[derive(Clone, Debug, serde::Deserialize)]
struct Job {
    repo_uri: String,
    commit: String,
    command: String,
}

/// The CI server: records POSTed jobs.
struct CiServer {
    url: String,
    jobs: Arc<Mutex<VecDeque<Job>>>,
}

impl CiServer {
    fn start() -> CiServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let jobs = Arc::new(Mutex::new(VecDeque::new()));
        let queue = jobs.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
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
                let ok = request_line.starts_with("POST /api/jobs ");
                if ok && let Ok(job) = serde_json::from_slice::<Job>(&body) {
                    queue.lock().expect("queue").push_back(job);
                }
                let status = if ok { "201 Created" } else { "404 Not Found" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                );
            }
        });
        CiServer { url, jobs }
    }

    fn pop(&self) -> Option<Job> {
        self.jobs.lock().expect("queue").pop_front()
    }
}

/// The developer's checkout of `testdata/ci`, its source remote and the store remote.
struct Setup {
    env: TestEnv,
    server: CiServer,
    source: PathBuf,
    store: PathBuf,
    /// The jobs that ran: commit, exit code, and what the failing command printed.
    ran: Vec<(String, i32, String)>,
}

impl Setup {
    fn new() -> Setup {
        let mut env = TestEnv::from_fixture("ci");
        let source = env.root().join("source.git");
        let store = env.root().join("store.git");
        bare_remote(&source);
        bare_remote(&store);
        let server = CiServer::start();
        env.set_env("CI_URL", &server.url);
        env.set_env("SOURCE_REMOTE", source.to_str().expect("utf-8"));
        env.set_env("STORE_REMOTE", store.to_str().expect("utf-8"));
        env.git(&["remote", "add", "origin", source.to_str().expect("utf-8")]);
        env.git(&["push", "-q", "origin", "main"]);
        Setup {
            env,
            server,
            source,
            store,
            ran: Vec::new(),
        }
    }

    /// Commits files and pushes them to the source remote; returns the commit.
    fn commit(&self, files: &[(&str, &str)]) -> String {
        for (path, text) in files {
            self.env.write_file(path, text);
        }
        self.env
            .git(&["commit", "-q", "--allow-empty", "-am", "change"]);
        self.env.git(&["push", "-q", "origin", "main"]);
        self.env.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// Runs `script` (ocuroot argument lists) as one CI job at `commit` on a fresh machine.
    fn job(&mut self, commit: &str, script: &[&[&str]]) {
        let n = self.ran.len();
        let machine = self.env.root().join(format!("machine{n}"));
        let checkout = machine.join("checkout");
        std::fs::create_dir_all(machine.join("home")).expect("mkdir");
        git(
            &machine,
            &[
                "clone",
                "-q",
                self.source.to_str().expect("utf-8"),
                "checkout",
            ],
        );
        git(&checkout, &["checkout", "-q", "--detach", commit]);
        let mut code = 0;
        let mut failure = String::new();
        for args in script {
            let out = self
                .command(&checkout, &machine, args)
                .output()
                .expect("run ocuroot");
            if !out.status.success() {
                code = out.status.code().unwrap_or(-1);
                failure = format!(
                    "job {n} `ocuroot {}` failed:\n{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
                break;
            }
        }
        self.ran.push((commit.to_string(), code, failure));
    }

    fn command(&self, checkout: &Path, machine: &Path, args: &[&str]) -> Command {
        let mut cmd = self.env.command("", args);
        cmd.current_dir(checkout)
            .env("HOME", machine.join("home"))
            .env("OCUROOT_HOME", machine.join("home/.ocuroot"));
        cmd
    }

    /// Runs the queued jobs (and the jobs they queue) until none is left.
    fn drain(&mut self) {
        for _ in 0..20 {
            let Some(job) = self.server.pop() else {
                return;
            };
            assert_eq!(job.repo_uri, self.source.to_str().expect("utf-8"));
            assert_eq!(job.command, "work any");
            self.job(&job.commit.clone(), &[&["work", "any"]]);
        }
        panic!("jobs keep coming: {:?}", self.ran);
    }

    fn get(&self, r: &str) -> String {
        let out = self.env.run(&["state", "get", r]).success();
        match serde_json::from_str::<serde_json::Value>(&out.stdout).expect("json") {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    }

    fn all_succeeded(&self) {
        assert!(
            self.ran.iter().all(|(_, code, _)| *code == 0),
            "{:?}",
            self.ran
        );
    }
}

const ENVS: [&str; 3] = ["staging", "production", "production2"];

/// `release.sh`: environments, the release, `work trigger`.
const RELEASE: &[&[&str]] = &[
    &["release", "new", "environments.ocu.star"],
    &["release", "new", "release.ocu.star"],
    &["work", "trigger"],
];

#[test]
fn ci_release_runs_in_one_job() {
    let mut ci = Setup::new();
    let head = ci.env.git(&["rev-parse", "HEAD"]).trim().to_string();
    ci.job(&head, RELEASE);
    ci.drain();
    assert_eq!(ci.ran.len(), 1, "{:?}", ci.ran);
    ci.all_succeeded();
    for e in ENVS {
        assert_eq!(
            ci.get(&format!(
                "ci/repo/-/release.ocu.star/@/deploy/{e}#output/foo"
            )),
            "bar"
        );
    }
    // The store lives in its remote, not on the CI machine.
    assert!(
        git(&ci.store, &["ls-tree", "-r", "--name-only", "state"]).contains("release.ocu.star")
    );
}

/// `release-deps.sh`: environments; the frontend first when its message divides the
/// backend's (so it waits for the backend), then the backend; `work trigger`.
fn release_deps(ci: &mut Setup, commit: &str, backend: u32, frontend: u32) {
    let mut script: Vec<&[&str]> = vec![&["release", "new", "environments.ocu.star"]];
    if backend.is_multiple_of(frontend) {
        script.push(&["release", "new", "frontend.ocu.star"]);
    }
    script.push(&["release", "new", "backend.ocu.star"]);
    script.push(&["work", "trigger"]);
    ci.job(commit, &script);
    ci.drain();
}

#[test]
fn ci_release_with_dependencies_triggers_a_second_job() {
    let mut ci = Setup::new();
    let head = ci.env.git(&["rev-parse", "HEAD"]).trim().to_string();
    release_deps(&mut ci, &head, 1, 1);
    assert_eq!(
        ci.ran.len(),
        2,
        "the frontend finishes in a triggered job: {:?}",
        ci.ran
    );
    ci.all_succeeded();
    for pkg in ["frontend", "backend"] {
        for e in ENVS {
            assert_eq!(
                ci.get(&format!(
                    "ci/repo/-/{pkg}.ocu.star/@/deploy/{e}#output/message"
                )),
                "1"
            );
        }
    }
}

#[test]
fn ci_release_with_dependencies_across_commits_redeploys_the_frontend() {
    let mut ci = Setup::new();
    let mut frontend = 1;
    for i in 1..=3u32 {
        let mut files = vec![("message-backend.txt", format!("{i}\n"))];
        if i.is_multiple_of(2) {
            frontend = i / 2;
            files.push(("message-frontend.txt", format!("{frontend}\n")));
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let commit = ci.commit(&files);
        release_deps(&mut ci, &commit, i, frontend);
        ci.all_succeeded();
        let get = |pkg: &str, out: &str| {
            ci.get(&format!(
                "ci/repo/-/{pkg}.ocu.star/@/deploy/staging#output/{out}"
            ))
        };
        assert_eq!(get("backend", "message"), i.to_string(), "round {i}");
        assert_eq!(
            get("frontend", "message"),
            frontend.to_string(),
            "round {i}"
        );
        assert_eq!(
            get("frontend", "backend_message"),
            i.to_string(),
            "round {i}: the frontend follows the backend: {:?}",
            ci.ran
        );
    }
}

#[test]
fn ci_intent_change_redeploys_through_an_intent_trigger() {
    let mut ci = Setup::new();
    let head = ci.env.git(&["rev-parse", "HEAD"]).trim().to_string();
    ci.job(&head, RELEASE);
    ci.drain();
    let foo = |ci: &Setup| ci.get("ci/repo/-/release.ocu.star/@/deploy/staging#output/foo");
    assert_eq!(foo(&ci), "bar");
    ci.env
        .run(&["state", "set", "@/custom/foo", "baz"])
        .success();
    // `intent.sh` on another machine: trigger the latest commit of every repository.
    ci.job(&head, &[&["work", "trigger", "--intent"]]);
    ci.drain();
    ci.all_succeeded();
    assert!(ci.ran.len() >= 2, "{:?}", ci.ran);
    assert_eq!(ci.get("@/custom/foo"), "baz");
    assert_eq!(foo(&ci), "baz");
    for e in ["production", "production2"] {
        assert_eq!(
            ci.get(&format!(
                "ci/repo/-/release.ocu.star/@/deploy/{e}#output/foo"
            )),
            "baz"
        );
    }
}
