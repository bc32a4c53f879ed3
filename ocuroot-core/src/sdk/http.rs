//! The `http` namespace (spec §4.9): `get`, `head`, `delete`, `post`, `put`, `patch`.
//!
//! Each returns a struct with `status_code` (int), `status_text` (`"200 OK"`), `headers` (a
//! dict of lists, keys in Go's canonical form such as `Content-Type`, sorted) and `body` (a
//! string). Header values given by the caller may be strings or lists of strings.
//! Transport errors raise; non-2xx statuses do not. No proxy is read from the environment:
//! the core does not read the process environment.

use std::collections::BTreeMap;
use std::time::Duration;

use starlark::environment::GlobalsBuilder;
use starlark::starlark_module;
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::{AllocList, ListRef};
use starlark::values::none::NoneOr;
use starlark::values::structs::AllocStruct;
use starlark::values::tuple::TupleRef;
use starlark::values::{Heap, Value};

/// Errors raised by the `http` builtins.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request could not be built (bad URL, header name or value).
    #[error("http: invalid request to {url}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ureq::http::Error,
    },
    /// The request failed before a response arrived, or the body could not be read.
    #[error("http: request to {url} failed")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ureq::Error,
    },
    /// A header argument is not a dict of strings or lists of strings.
    #[error("http: headers must be a dict of strings or lists of strings")]
    BadHeaders,
}

/// Returns a header name in Go's canonical form: `content-type` gives `Content-Type`.
fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        upper = c == '-';
    }
    out
}

fn headers_of(headers: NoneOr<Value<'_>>) -> starlark::Result<Vec<(String, String)>> {
    let bad = || starlark::Error::new_other(HttpError::BadHeaders);
    let mut out = Vec::new();
    let NoneOr::Other(headers) = headers else {
        return Ok(out);
    };
    let dict = DictRef::from_value(headers).ok_or_else(bad)?;
    for (k, v) in dict.iter() {
        let name = k.unpack_str().ok_or_else(bad)?;
        if let Some(s) = v.unpack_str() {
            out.push((name.to_owned(), s.to_owned()));
        } else {
            let items = ListRef::from_value(v)
                .map(|l| l.content().to_vec())
                .or_else(|| TupleRef::from_value(v).map(|t| t.content().to_vec()))
                .ok_or_else(bad)?;
            for item in items {
                let s = item.unpack_str().ok_or_else(bad)?;
                out.push((name.to_owned(), s.to_owned()));
            }
        }
    }
    Ok(out)
}

/// The response of a request, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status_code: u16,
    /// The status line text, `200 OK`.
    pub status_text: String,
    /// Headers by canonical name.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The body (invalid UTF-8 replaced).
    pub body: String,
}

/// Sends one request.
///
/// # Errors
///
/// [`HttpError::Request`] for a malformed request, [`HttpError::Transport`] when no
/// response could be read.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &str,
) -> Result<HttpResponse, HttpError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let transport = |source| HttpError::Transport {
        url: url.to_owned(),
        source,
    };
    let response = if body.is_empty() {
        let request = builder.body(()).map_err(|source| HttpError::Request {
            url: url.to_owned(),
            source,
        })?;
        agent.run(request)
    } else {
        let request =
            builder
                .body(body.as_bytes().to_vec())
                .map_err(|source| HttpError::Request {
                    url: url.to_owned(),
                    source,
                })?;
        agent.run(request)
    };
    let mut response = response.map_err(transport)?;
    let status = response.status();
    let mut out_headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in response.headers() {
        out_headers
            .entry(canonical_header(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let bytes = if method.eq_ignore_ascii_case("HEAD") {
        Vec::new()
    } else {
        response.body_mut().read_to_vec().map_err(transport)?
    };
    Ok(HttpResponse {
        status_code: status.as_u16(),
        status_text: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
        headers: out_headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn request<'v>(
    method: &str,
    url: &str,
    headers: NoneOr<Value<'v>>,
    body: &str,
    heap: Heap<'v>,
) -> starlark::Result<Value<'v>> {
    let headers = headers_of(headers)?;
    let response = send(method, url, &headers, body).map_err(starlark::Error::new_other)?;
    let header_dict = heap.alloc(AllocDict(response.headers.iter().map(|(k, vs)| {
        (
            heap.alloc(k.as_str()),
            heap.alloc(AllocList(vs.iter().map(|v| heap.alloc(v.as_str())))),
        )
    })));
    Ok(heap.alloc(AllocStruct([
        ("status_code", heap.alloc(i32::from(response.status_code))),
        ("status_text", heap.alloc(response.status_text)),
        ("headers", header_dict),
        ("body", heap.alloc(response.body)),
    ])))
}

#[starlark_module]
fn http_members(builder: &mut GlobalsBuilder) {
    /// Sends a GET request.
    fn get<'v>(
        url: &str,
        #[starlark(default = NoneOr::None)] headers: NoneOr<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        request("GET", url, headers, "", heap)
    }

    /// Sends a HEAD request.
    fn head<'v>(
        url: &str,
        #[starlark(default = NoneOr::None)] headers: NoneOr<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        request("HEAD", url, headers, "", heap)
    }

    /// Sends a DELETE request.
    fn delete<'v>(
        url: &str,
        #[starlark(default = NoneOr::None)] headers: NoneOr<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        request("DELETE", url, headers, "", heap)
    }

    /// Sends a POST request with `body`.
    fn post<'v>(
        url: &str,
        #[starlark(default = NoneOr::None)] headers: NoneOr<Value<'v>>,
        #[starlark(default = "")] body: &str,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        request("POST", url, headers, body, heap)
    }

    /// Sends a PUT request with `body`.
    fn put<'v>(
        url: &str,
        #[starlark(default = NoneOr::None)] headers: NoneOr<Value<'v>>,
        #[starlark(default = "")] body: &str,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        request("PUT", url, headers, body, heap)
    }

    /// Sends a PATCH request with `body`.
    fn patch<'v>(
        url: &str,
        #[starlark(default = NoneOr::None)] headers: NoneOr<Value<'v>>,
        #[starlark(default = "")] body: &str,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        request("PATCH", url, headers, body, heap)
    }
}

/// Registers the `http` namespace.
pub fn register_http(builder: &mut GlobalsBuilder) {
    builder.namespace("http", http_members);
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::sdk::{CollectingSink, HostContext, SdkContext, Session, globals};

    /// Serves `n` requests, recording each as `METHOD PATH | headers | body`.
    fn serve(n: usize) -> (String, Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let handle = std::thread::spawn(move || {
            for _ in 0..n {
                let (stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                reader.read_line(&mut request_line).expect("read");
                let mut headers = Vec::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("read");
                    let line = line.trim_end().to_owned();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().expect("length");
                    }
                    if line.to_ascii_lowercase().starts_with("x-") {
                        headers.push(line);
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("body");
                let mut parts = request_line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                record.lock().expect("lock").push(format!(
                    "{method} {path} | {} | {}",
                    headers.join(", "),
                    String::from_utf8_lossy(&body)
                ));
                let response = if path == "/missing" {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
                        .to_owned()
                } else {
                    "HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_owned()
                };
                let mut stream = stream;
                stream.write_all(response.as_bytes()).expect("write");
            }
        });
        (addr, seen, handle)
    }

    #[test]
    fn requests_and_responses() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        let (addr, seen, handle) = serve(3);
        let dir = tempfile::tempdir().expect("tempdir");
        let source = format!(
            r#"
r = http.get("{addr}/a", headers = {{"X-One": "1", "X-Two": ["2", "3"]}})
p = http.post(url = "{addr}/b", body = "payload")
m = http.delete("{addr}/missing")
R = [r.status_code, r.status_text, r.headers, r.body, p.status_code, m.status_code, m.status_text, m.body]
"#
        );
        std::fs::write(dir.path().join("t.ocu.star"), source).expect("write");
        let sink = Arc::new(CollectingSink::default());
        let ctx = SdkContext::new(HostContext::default(), dir.path().to_path_buf(), sink).install();
        let session = Session::new(dir.path(), globals(), &ctx);
        let module = session
            .eval_file(Path::new("t.ocu.star"))
            .expect("evaluates");
        let r = module.module.get("R").expect("R");
        let json = r.value().to_json_value().expect("json");
        handle.join().expect("server");
        assert_eq!(
            json,
            serde_json::json!([
                201,
                "201 Created",
                {"Content-Length": ["5"], "Content-Type": ["text/plain"], "Connection": ["close"], "X-Multi": ["a", "b"]},
                "hello",
                201,
                404,
                "404 Not Found",
                "nope"
            ])
        );
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(
            seen,
            vec![
                "GET /a | x-one: 1, x-two: 2, x-two: 3 | ",
                "POST /b |  | payload",
                "DELETE /missing |  | ",
            ]
        );
    }

    #[test]
    fn transport_errors_raise() {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let err = send("GET", &format!("http://127.0.0.1:{port}/"), &[], "").expect_err("refused");
        assert!(matches!(err, HttpError::Transport { .. }), "{err:?}");
    }
}
