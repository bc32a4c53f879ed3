//! `ocuroot mcp`: a real MCP session with the binary over stdio (issue 11): `initialize`,
//! `tools/list`, `tools/call` of `preview`, `sdk`, `example_list` and `example_get`.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout, Stdio};

use serde_json::{Value, json};

use crate::common::TestEnv;

struct Session {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    fn send(&mut self, msg: Value) {
        writeln!(self.stdin, "{msg}").expect("write to ocuroot mcp");
        self.stdin.flush().expect("flush");
    }

    /// Sends a request and returns the response with the same id (skipping notifications).
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read");
            assert!(
                n > 0,
                "ocuroot mcp closed its output before answering {method}"
            );
            let msg: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {line}"));
            if msg["id"] == json!(id) {
                return msg;
            }
        }
    }

    fn call(&mut self, id: u64, tool: &str, arguments: Value) -> (bool, String) {
        let resp = self.request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
        let result = &resp["result"];
        assert!(result.is_object(), "{tool}: {resp}");
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{tool}: no text content in {resp}"))
            .to_string();
        (result["isError"] == json!(true), text)
    }
}

#[test]
fn mcp_initialize_list_and_call_tools_over_stdio() {
    let env = TestEnv::new();
    env.write_file(
        "pkg.ocu.star",
        "def build():\n    return done()\n\ntask(fn = build, name = \"build\")\n",
    );
    env.write_file("broken.ocu.star", "task(\n");
    let mut child = env
        .command("", &["mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ocuroot mcp");
    let mut s = Session {
        stdin: child.stdin.take().expect("stdin"),
        stdout: BufReader::new(child.stdout.take().expect("stdout")),
    };

    let init = s.request(
        1,
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "ocuroot-test", "version": "0"}
        }),
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "Ocuroot", "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    let list = s.request(2, "tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().expect("tools");
    let mut names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["example_get", "example_list", "preview", "sdk"]);
    let preview = tools
        .iter()
        .find(|t| t["name"] == "preview")
        .expect("preview");
    assert!(
        preview["inputSchema"]["properties"]["package_file"].is_object(),
        "{preview}"
    );

    let (err, text) = s.call(3, "preview", json!({"package_file": "pkg.ocu.star"}));
    assert!(!err, "{text}");
    let package: Value = serde_json::from_str(&text).expect("package JSON");
    assert!(text.contains("\"build\""), "{text}");
    assert!(package.is_object(), "{text}");

    let (err, text) = s.call(4, "preview", json!({"package_file": "broken.ocu.star"}));
    assert!(err, "a broken file is an error result: {text}");
    assert!(text.contains("broken.ocu.star"), "{text}");

    let (err, text) = s.call(5, "sdk", json!({"version": "latest"}));
    assert!(!err && text.contains("def secret(value"), "{text}");
    let (err, text) = s.call(6, "sdk", json!({"version": "9.9"}));
    assert!(err, "{text}");

    let (err, text) = s.call(7, "example_list", json!({}));
    assert!(!err && text.contains("quickstart: "), "{text}");
    let (err, text) = s.call(8, "example_get", json!({"name": "approvals"}));
    assert!(
        !err && text.contains("# ==> release.ocu.star <=="),
        "{text}"
    );
    let (err, _) = s.call(9, "example_get", json!({"name": "nope"}));
    assert!(err);

    // Closing stdin ends the session cleanly.
    drop(s);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
