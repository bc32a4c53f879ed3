//! Plain-`git` helpers shared by the core and CLI test suites: hermetic `git` runs,
//! hand-made commits (as a person editing a store would make them), bare remotes, and
//! servers on 127.0.0.1: a `git daemon` (`git://`), a smart-HTTP server running
//! `git http-backend` (`http://`, optionally with Basic auth) and a fake `ssh` command for
//! `ssh://` URLs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Hand")
        .env("GIT_AUTHOR_EMAIL", "hand@example.com")
        .env("GIT_COMMITTER_NAME", "Hand")
        .env("GIT_COMMITTER_EMAIL", "hand@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    cmd
}

/// Runs `git` in `dir` and returns stdout, panicking on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir, args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs `git` in `dir` with `input` on its standard input and returns stdout, panicking on
/// failure.
pub fn git_with_input(dir: &Path, args: &[&str], input: &str) -> String {
    let mut cmd = git_command(dir, args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn git");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = input.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().expect("wait git");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs `git` in `dir` and returns stdout, or `None` on failure.
pub fn try_git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = git_command(dir, args).output().expect("run git");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// Commits `files` (path, content; `None` deletes) on top of `branch` of the repository
/// `repo` with plain git plumbing, as a person editing the store by hand would. The branch
/// is created if missing. Returns the new commit.
pub fn hand_commit(repo: &Path, branch: &str, files: &[(&str, Option<&str>)]) -> String {
    let entries: Vec<(&str, &str, Option<&str>)> = files
        .iter()
        .map(|(path, content)| ("100644", *path, *content))
        .collect();
    hand_commit_modes(repo, branch, &entries)
}

/// Like [`hand_commit`], with a Git mode per entry: `(mode, path, content)`. For `100644`
/// and `120000` (a symlink, whose content is its target) the content is written as a blob;
/// for `160000` (a gitlink, a submodule entry) it is the commit id the entry names.
pub fn hand_commit_modes(
    repo: &Path,
    branch: &str,
    files: &[(&str, &str, Option<&str>)],
) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let index = tmp.path().join("index");
    let run = |args: &[&str], input: Option<&str>| -> String {
        let mut cmd = git_command(repo, args);
        cmd.env("GIT_INDEX_FILE", &index)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn git");
        if let Some(input) = input {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("wait git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let full = format!("refs/heads/{branch}");
    let parent = try_git(repo, &["rev-parse", "--verify", "-q", &full])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(parent) = &parent {
        run(&["read-tree", parent], None);
    }
    for (mode, path, content) in files {
        match content {
            Some(c) => {
                let object = if *mode == "160000" {
                    c.to_string()
                } else {
                    run(&["hash-object", "-w", "--stdin"], Some(c))
                };
                run(
                    &[
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        &format!("{mode},{object},{path}"),
                    ],
                    None,
                );
            }
            None => {
                // `--force-remove` needs a work tree; a zero-mode entry removes the path in
                // a bare repository too.
                run(
                    &["update-index", "--index-info"],
                    Some(&format!("0 {}\t{path}\n", "0".repeat(40))),
                );
            }
        }
    }
    let tree = run(&["write-tree"], None);
    let mut args = vec!["commit-tree", tree.as_str(), "-m", "hand edit"];
    if let Some(p) = &parent {
        args.extend(["-p", p.as_str()]);
    }
    let commit = run(&args, None);
    match &parent {
        Some(p) => run(&["update-ref", &full, &commit, p], None),
        None => run(&["update-ref", &full, &commit], None),
    };
    commit
}

/// Makes an empty bare repository at `path` (default branch `main`), for remote stores.
pub fn bare_remote(path: &Path) {
    std::fs::create_dir_all(path).expect("mkdir remote");
    git(path, &["init", "-q", "--bare", "-b", "main"]);
}

/// Installs a `post-receive` hook in the bare repository `remote` that records every push
/// it accepts (one hook call per `git push`, however many branches it updates), for
/// [`pushes`].
pub fn record_pushes(remote: &Path) {
    let hook = remote.join("hooks/post-receive");
    std::fs::create_dir_all(remote.join("hooks")).expect("mkdir hooks");
    std::fs::write(&hook, "#!/bin/sh\n{ echo push; cat; } >> pushes.log\n").expect("write hook");
    let mut perms = std::fs::metadata(&hook).expect("hook").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).expect("chmod hook");
}

/// Returns the pushes `remote` accepted since [`record_pushes`] (or the last call), oldest
/// first, each as the sorted names of the branches it updated; then forgets them.
pub fn pushes(remote: &Path) -> Vec<Vec<String>> {
    let log = remote.join("pushes.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        if line == "push" {
            out.push(Vec::new());
        } else if let (Some(push), Some(name)) = (out.last_mut(), line.split(' ').nth(2)) {
            push.push(name.trim_start_matches("refs/heads/").to_string());
            push.sort();
        }
    }
    out
}

/// A `git daemon` serving the bare repositories below a folder over `git://`, with pushes
/// enabled; killed when dropped.
pub struct GitDaemon {
    child: std::process::Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl GitDaemon {
    /// Starts a daemon serving `base` and waits until it accepts connections.
    pub fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--enable=receive-pack")
            .arg("--export-all")
            .arg("--informative-errors")
            .arg(format!("--base-path={}", base.display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(base)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_SYSTEM", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git daemon (part of the git package)");
        let mut daemon = GitDaemon { child, port };
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("git daemon exited at start: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("git daemon did not listen on port {port}");
    }

    /// The `git://` URL of the repository `name` below the served folder.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A smart-HTTP Git server on 127.0.0.1 serving the bare repositories below a folder: a
/// thread accepting connections and running `git http-backend` as a CGI program for every
/// request, with pushes enabled and, optionally, HTTP Basic auth. Stopped when dropped (new
/// connections are then refused).
///
/// It speaks just enough HTTP/1.1 for Git: one request per connection (`Connection:
/// close`), `Content-Length` and `Transfer-Encoding: chunked` request bodies (Git sends a
/// push bigger than `http.postBuffer`, 1 MiB by default, chunked), `Expect:
/// 100-continue`, and gzip request bodies (passed to `http-backend`, which inflates them).
pub struct GitHttp {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    log: Arc<Mutex<Vec<HttpRequest>>>,
}

/// One request a [`GitHttp`] answered.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The authenticated user (`REMOTE_USER`), if any.
    pub user: Option<String>,
    /// Whether the body came `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

struct HttpConfig {
    base: PathBuf,
    auth: Option<(String, String)>,
    log: Arc<Mutex<Vec<HttpRequest>>>,
}

impl GitHttp {
    /// Starts a server for the repositories below `base`, without authentication.
    pub fn start(base: &Path) -> GitHttp {
        Self::start_with(base, None)
    }

    /// Starts a server for the repositories below `base` that answers `401` (with
    /// `WWW-Authenticate: Basic`) to every request not carrying `user:token`.
    pub fn with_auth(base: &Path, user: &str, token: &str) -> GitHttp {
        Self::start_with(base, Some((user.to_string(), token.to_string())))
    }

    fn start_with(base: &Path, auth: Option<(String, String)>) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let config = Arc::new(HttpConfig {
            base: base.to_path_buf(),
            auth,
            log: Arc::clone(&log),
        });
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let config = Arc::clone(&config);
                // One thread per connection: concurrent writers are the point of many tests.
                std::thread::spawn(move || {
                    let _ = serve_http(stream, &config);
                });
            }
        });
        GitHttp {
            port,
            stop,
            thread: Some(thread),
            log,
        }
    }

    /// The `http://` URL of the repository `name` below the served folder.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// The URL of the repository `name` with `user:token@` in it.
    pub fn url_with_credentials(&self, name: &str, user: &str, token: &str) -> String {
        format!("http://{user}:{token}@127.0.0.1:{}/{name}", self.port)
    }

    /// Returns the requests answered so far, oldest first.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Returns the standard Base64 encoding of `input` (for `Authorization: Basic`).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn serve_http(stream: TcpStream, config: &HttpConfig) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // the wake-up connection of Drop, or a client that gave up
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let chunked = header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let expects_continue = header("Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let record = |status: u16, user: Option<String>| {
        config.log.lock().expect("log").push(HttpRequest {
            method: method.clone(),
            target: target.clone(),
            status,
            user,
            chunked,
        });
    };

    let user = match &config.auth {
        None => None,
        Some((user, token)) => {
            let expected = format!("Basic {}", base64(format!("{user}:{token}").as_bytes()));
            if header("Authorization") != Some(expected.as_str()) {
                if !expects_continue {
                    // Read the body first: closing on unread data resets the connection
                    // and the client would never see the 401.
                    let _ = read_body(&mut reader, chunked, header("Content-Length"));
                }
                record(401, None);
                out.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n",
                )?;
                return out.flush();
            }
            Some(user.clone())
        }
    };
    if expects_continue {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        out.flush()?;
    }
    let body = read_body(&mut reader, chunked, header("Content-Length"))?;

    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let mut cmd = Command::new("git");
    cmd.arg("http-backend").env_clear();
    if let Some(p) = std::env::var_os("PATH") {
        cmd.env("PATH", p);
    }
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // `http.receivepack true` for every served repository, without editing them.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GIT_PROJECT_ROOT", &config.base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string());
    if let Some(t) = header("Content-Type") {
        cmd.env("CONTENT_TYPE", t);
    }
    if let Some(u) = &user {
        cmd.env("REMOTE_USER", u);
    }
    for (name, value) in &headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "content-type" | "content-length" | "authorization" | "transfer-encoding"
        ) {
            continue;
        }
        // `Git-Protocol` (v2) and `Content-Encoding` (gzip) reach http-backend this way.
        cmd.env(
            format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_")),
            value,
        );
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = writer.join();

    // The CGI response: header lines, a blank line, the body.
    let raw = output.stdout;
    let (head, content) = match find(&raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match find(&raw, b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => (&raw[..0], &raw[..]),
        },
    };
    let mut status = if output.status.success() || !raw.is_empty() {
        "200 OK".to_string()
    } else {
        "500 Internal Server Error".to_string()
    };
    let mut response = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("Status") => {
                status = value.trim().to_string();
            }
            Some(_) => {
                response.extend_from_slice(line.trim_end().as_bytes());
                response.extend_from_slice(b"\r\n");
            }
            None => {}
        }
    }
    let code = status
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    record(code, user);
    out.write_all(format!("HTTP/1.1 {status}\r\n").as_bytes())?;
    out.write_all(&response)?;
    out.write_all(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            content.len()
        )
        .as_bytes(),
    )?;
    out.write_all(content)?;
    out.flush()
}

/// Reads a request body: `Transfer-Encoding: chunked`, or `Content-Length` bytes (none
/// without either).
fn read_body(
    reader: &mut impl BufRead,
    chunked: bool,
    content_length: Option<&str>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("chunk size: {e}"))
            })?;
            if size == 0 {
                // Trailers, then the blank line that ends the body.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = content_length.and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes an executable fake `ssh` program at `dir/fake-ssh` and returns its path, for
/// `GIT_SSH_COMMAND` or `core.sshCommand`.
///
/// Git's ssh transport runs `ssh [options] [user@]host "git-upload-pack '/path'"` (or
/// `git-receive-pack`). The fake ignores the host, runs that command locally and appends
/// `<host> <command>` to `dir/ssh.log` (see [`ssh_log`]). It fails OpenSSH's `-G` probe,
/// so Git treats it as the "simple" variant and passes no options. This exercises ocuroot's
/// use of Git's ssh transport (URL forms, the command Git runs), not an SSH server, keys or
/// an agent.
pub fn fake_ssh(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let script = dir.join("fake-ssh");
    let log = dir.join("ssh.log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             case \"$1\" in -G) exit 1;; esac\n\
             host=\"$1\"; shift\n\
             echo \"$host $*\" >> '{}'\n\
             exec sh -c \"$*\"\n",
            log.display()
        ),
    )
    .expect("write fake ssh");
    let mut perms = std::fs::metadata(&script).expect("script").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).expect("chmod fake ssh");
    script
}

/// Returns the lines the fake `ssh` of [`fake_ssh`] in `dir` logged (`<host> <command>`).
pub fn ssh_log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ssh.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}
