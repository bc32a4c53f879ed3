//! Web servers of the binary under test (`ocuroot state view`, `ocuroot preview`): start
//! one on a free port of 127.0.0.1, wait for its ready line, and talk HTTP/1.1 to it over
//! a plain TCP socket, so that tests control every byte (the method, the `Host` header)
//! and read the raw response.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::TestEnv;

/// A running server process, killed on drop.
pub struct Server {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// The address it is reached at (127.0.0.1 unless [`Server::at`] says otherwise).
    pub ip: String,
    /// The lines it printed on stdout before it was ready.
    pub ready_lines: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `ocuroot <args>` at the repository root and waits (at most 60 s) for a line
    /// starting with `marker` followed by the port (`…localhost:<port>` or `…port <port>`).
    pub fn start(env: &TestEnv, args: &[&str], marker: &str) -> Server {
        let mut child = env
            .command("", args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ocuroot server");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if etx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line.strip_prefix(marker).map(|rest| {
                        let digits: String = rest
                            .chars()
                            .rev()
                            .take_while(char::is_ascii_digit)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect();
                        digits.parse::<u16>().expect("port in the ready line")
                    });
                    lines.push(line);
                    if let Some(port) = found {
                        return Server {
                            child,
                            port,
                            ip: "127.0.0.1".to_string(),
                            ready_lines: lines,
                            stderr: erx,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let err: Vec<String> = erx.try_iter().collect();
                    panic!(
                        "server did not become ready: stdout {lines:?}, stderr {err:?}, exit {:?}",
                        child.try_wait()
                    );
                }
            }
        }
    }

    /// Connects to `ip` instead of 127.0.0.1 (a server bound to another loopback address).
    #[must_use]
    pub fn at(mut self, ip: &str) -> Server {
        self.ip = ip.to_string();
        self
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }

    /// The stderr lines printed so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// `GET path` with `Host: 127.0.0.1:<port>`.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &format!("{}:{}", self.ip, self.port))
    }

    /// Sends one request and reads the whole response (the connection is closed after it).
    pub fn request(&self, method: &str, path: &str, host: &str) -> Response {
        let mut s = TcpStream::connect((self.ip.as_str(), self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .expect("send request");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read response");
        Response::parse(&raw)
    }

    /// Opens a Server-Sent Events stream at `path`.
    pub fn events(&self, path: &str) -> Events {
        let mut s = TcpStream::connect((self.ip.as_str(), self.port)).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nAccept: text/event-stream\r\n\r\n",
            self.port
        )
        .expect("send request");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Events {
            stream: s,
            buf: String::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response: status, headers (names lowercase) and the raw body.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body bytes as text (lossy).
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let text = String::from_utf8_lossy(raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_string()
        };
        Response {
            status,
            headers,
            body,
        }
    }

    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A Server-Sent Events stream being read.
pub struct Events {
    stream: TcpStream,
    buf: String,
}

impl Events {
    /// Waits (at most `timeout`) for a `data: <data>` line; false when it did not come.
    pub fn wait_for(&mut self, data: &str, timeout: Duration) -> bool {
        let needle = format!("data: {data}\n");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.buf.find(&needle) {
                self.buf.drain(..i + needle.len());
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(_) => {}
            }
        }
    }
}
