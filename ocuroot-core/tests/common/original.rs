//! A generator of stores in the original Ocuroot's format, written from spec §3.2 (the
//! file-system layout and envelopes) and §3.6 (the documents), for the import tests.
//!
//! [`OriginalStore`] behaves as the original's FS store does: `set` writes a `ref` envelope
//! and keeps the file's `links` back-references, `link` writes a `link` envelope and adds
//! the back-reference to the target if the target exists, `unlink` removes the link file
//! and leaves the back-reference behind (as the original does). [`OriginalStore::files`]
//! renders the store's files (pretty-printed JSON, two-space indent), which
//! [`write_folder`] writes to a folder and [`write_branch`] commits to a Git branch.
//! [`scenario`] builds the stores of a repository that used the original for a while.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// One file-system store of the original (`.ocuroot-store` and `refs/`).
#[derive(Clone, Debug)]
pub struct OriginalStore {
    /// `.ocuroot-store` version (2 or 3).
    pub version: u64,
    /// `state` or `intent` (the v3 tag).
    pub tag: String,
    /// Envelopes by ref path (as written to disk).
    envelopes: BTreeMap<String, Value>,
    /// Extra raw files (path inside the store, content), for malformed stores.
    raw: BTreeMap<String, String>,
}

impl OriginalStore {
    /// An empty store.
    pub fn new(version: u64, tag: &str) -> OriginalStore {
        OriginalStore {
            version,
            tag: tag.to_string(),
            envelopes: BTreeMap::new(),
            raw: BTreeMap::new(),
        }
    }

    /// `Set(ref, body)`: a `ref` envelope, keeping the existing back-references.
    pub fn set(&mut self, r: &str, body_type: &str, body: Value) -> &mut Self {
        let links = self.envelopes.get(r).and_then(|e| e.get("links").cloned());
        let mut env = json!({"kind": "ref", "body_type": body_type, "body": body});
        if let Some(links) = links {
            env["links"] = links;
        }
        self.envelopes.insert(r.to_string(), env);
        self
    }

    /// `Link(ref, target)`: a `link` envelope; the target records the back-reference.
    pub fn link(&mut self, r: &str, target: &str) -> &mut Self {
        if let Some(old) = self
            .envelopes
            .get(r)
            .and_then(|e| e.get("body"))
            .and_then(Value::as_str)
            .map(str::to_string)
            && let Some(t) = self.envelopes.get_mut(&old)
            && let Some(Value::Array(links)) = t.get_mut("links")
        {
            links.retain(|l| l != r);
        }
        self.envelopes
            .insert(r.to_string(), json!({"kind": "link", "body": target}));
        if let Some(t) = self.envelopes.get_mut(target) {
            let links = t
                .as_object_mut()
                .expect("envelope object")
                .entry("links")
                .or_insert_with(|| json!([]));
            if let Value::Array(items) = links
                && !items.iter().any(|l| l == r)
            {
                items.push(json!(r));
            }
        }
        self
    }

    /// `Unlink(ref)`: removes the link file; the target's back-reference stays (§3.2).
    pub fn unlink(&mut self, r: &str) -> &mut Self {
        self.envelopes.remove(r);
        self
    }

    /// Adds a raw file at `path` (relative to the store folder).
    pub fn raw(&mut self, path: &str, content: &str) -> &mut Self {
        self.raw.insert(path.to_string(), content.to_string());
        self
    }

    /// The body of the envelope at `r` (for links: the target string).
    pub fn body(&self, r: &str) -> Option<&Value> {
        self.envelopes.get(r).and_then(|e| e.get("body"))
    }

    /// True if the envelope at `r` is a link.
    pub fn is_link(&self, r: &str) -> bool {
        self.envelopes
            .get(r)
            .is_some_and(|e| e.get("kind") == Some(&json!("link")))
    }

    /// Every ref path with an envelope.
    pub fn refs(&self) -> Vec<String> {
        self.envelopes.keys().cloned().collect()
    }

    /// The store's files: `(path relative to the store folder, content)`.
    pub fn files(&self) -> Vec<(String, String)> {
        let info = if self.version >= 3 {
            json!({"version": self.version, "Tags": {self.tag.clone(): {}}})
        } else {
            json!({"version": self.version})
        };
        let mut out = vec![(".ocuroot-store".to_string(), pretty(&info))];
        for (r, env) in &self.envelopes {
            out.push((format!("refs/{r}/@object.json"), pretty(env)));
        }
        for (p, c) in &self.raw {
            out.push((p.clone(), c.clone()));
        }
        out
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("json")
}

/// Prefixes every path of `files` with `prefix/`.
pub fn under(prefix: &str, files: Vec<(String, String)>) -> Vec<(String, String)> {
    files
        .into_iter()
        .map(|(p, c)| (format!("{prefix}/{p}"), c))
        .collect()
}

/// Writes `files` below `dir`.
pub fn write_folder(dir: &Path, files: &[(String, String)]) {
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, c).expect("write");
    }
}

/// Commits `files` as the whole tree of `branch` in the (bare or not) repository `repo`.
pub fn write_branch(repo: &Path, branch: &str, files: &[(String, String)]) {
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    super::git::hand_commit(repo, branch, &refs);
}

/// Base64 (standard alphabet, padded), as Go's `encoding/json` writes `[]byte`.
pub fn base64(input: &[u8]) -> String {
    super::git::base64(input)
}

/// The package file of the `approve` package used by [`scenario`]: its functions' positions
/// are those named in the release documents (`approve.ocu.star:3:5`, `approve.ocu.star:6:5`).
pub const APPROVE_PACKAGE: &str = "ocuroot(\"0.3.0\")

def build():
    return done(outputs = {\"artifact\": \"app-1\"})

def approve(approval, artifact):
    print(\"approved \" + artifact)
    return done(outputs = {\"approved_by\": approval})

phase(\"build\", tasks = [task(build, name = \"build\")])
phase(\"approval\", tasks = [
    task(approve, name = \"approve\", inputs = {
        \"approval\": input(ref = ref(\"./custom/approval\")),
        \"artifact\": ref(\"./task/build#output/artifact\"),
    }),
])
";

/// The package file of the `gate` package used by [`scenario`]: `check` hands over to
/// `finish` with `next()`, which waits for a ticket (`gate.ocu.star:3:5`, `gate.ocu.star:6:5`).
pub const GATE_PACKAGE: &str = "ocuroot(\"0.3.0\")

def check():
    return next(finish, inputs = {\"ticket\": input(ref = ref(\"./custom/ticket\"))})

def finish(ticket):
    return done(outputs = {\"ticket\": ticket})

phase(\"gate\", tasks = [task(check, name = \"check\")])
";

/// The time every marker of the scenario carries.
pub const TIME: &str = "2025-10-01T12:00:00Z";

fn marker() -> Value {
    json!({"time": TIME})
}

fn fn_def(name: &str, pos: &str) -> Value {
    json!({"name": name, "pos": pos})
}

fn logs(lines: &[&str], file: &str) -> Value {
    Value::Array(
        lines
            .iter()
            .enumerate()
            .map(|(i, m)| {
                json!({
                    "timestamp": TIME,
                    "message": m,
                    "attributes": {"thread": "main", "filename": file, "line": 4 + i, "col": 5},
                    "stream": 0,
                })
            })
            .collect(),
    )
}

/// What [`scenario`] produced.
pub struct Scenario {
    /// The state store.
    pub state: OriginalStore,
    /// The intent store.
    pub intent: OriginalStore,
    /// The source of `repo.ocu.star` recorded in the repo configs.
    pub repo_config_source: String,
    /// Intent refs whose state differs or is missing (the original's pending intent work).
    pub pending: Vec<String>,
    /// The release waiting for its approval (`<repo>/-/approve.ocu.star/@r2`).
    pub paused_release: String,
    /// The release whose run is paused in `next()` (`<repo>/-/gate.ocu.star/@r1`).
    pub paused_gate: String,
}

/// Builds the stores of repository `repo` after some use of the original: two packages,
/// several releases, tags (one in the old `+` spelling), deploy links, a down run, custom
/// state (release, global and multi-segment), environments, deploy intent, logs (one in the
/// old `call/` spelling), task summaries, an op marker, repo configs with their push index
/// (copied to the intent store, as the original does), and release `approve.ocu.star/@r2`
/// at `commit` waiting for its approval, and release `gate.ocu.star/@r1` at `commit` paused in
/// `next()`. `version` is the store format version of both.
pub fn scenario(repo: &str, commit: &str, version: u64) -> Scenario {
    let old_commit = "1111111111111111111111111111111111111111";
    let mut state = OriginalStore::new(version, "state");
    let mut intent = OriginalStore::new(version, "intent");

    // Environments (agreeing in intent and state).
    for (name, kind) in [("staging", "staging"), ("production", "prod")] {
        let doc = json!({"name": name, "attributes": {"type": kind}});
        state.set(
            &format!("@/environment/{name}"),
            "models.Environment",
            doc.clone(),
        );
        intent.set(&format!("@/environment/{name}"), "models.Environment", doc);
    }

    // Package `app.ocu.star`: build, then deploy to staging and production.
    let app = format!("{repo}/-/app.ocu.star");
    let app_fns = |file: &str| {
        json!({
            "build/app.ocu.star:3:5": {"function": fn_def("build", &format!("{file}:3:5"))},
            "up/app.ocu.star:6:5": {"function": fn_def("up", &format!("{file}:6:5"))},
            "down/app.ocu.star:9:5": {"function": fn_def("down", &format!("{file}:9:5"))},
        })
    };
    for (n, release_commit, version_out) in [(1, old_commit, "1.0"), (2, old_commit, "1.1")] {
        let rel = format!("{app}/@r{n}");
        let deploy = |env: &str| {
            json!({"deploy": {
                "environment": env,
                "up": fn_def("up", "app.ocu.star:6:5"),
                "down": fn_def("down", "app.ocu.star:9:5"),
                "inputs": {
                    "environment": {"ref": format!("@/environment/{env}")},
                    "version": {"ref": format!("{rel}/task/build#output/version")},
                },
            }})
        };
        state.set(
            &rel,
            "models.ReleaseInfo",
            json!({"commit": release_commit, "package": {
                "functions": app_fns("app.ocu.star"),
                "phases": [
                    {"name": "build", "tasks": [{"task": {"name": "build", "fn": fn_def("build", "app.ocu.star:3:5"), "inputs": {}}}]},
                    {"name": "deploy", "tasks": [deploy("staging"), deploy("production")]},
                ],
            }}),
        );
        state.set(
            &format!("{rel}/commit/{release_commit}"),
            "models.Marker",
            marker(),
        );
        // The build task: one complete run with logs and a summary.
        let run = format!("{rel}/task/build/1");
        state.set(
            &run,
            "models.Run",
            json!({
                "type": "task",
                "release": rel,
                "functions": [{"fn": fn_def("build", "app.ocu.star:3:5"), "inputs": {}}],
                "output": {"version": version_out},
                "watch_files": null,
            }),
        );
        state.set(&format!("{run}/status/complete"), "models.Marker", marker());
        // r2's build logs are in the old `call/` spelling.
        let logs_ref = if n == 2 {
            format!("{rel}/call/build/1/logs")
        } else {
            format!("{run}/logs")
        };
        state.set(
            &logs_ref,
            "[]models.LogEntry",
            logs(
                &["building", &format!("version {version_out}")],
                "app.ocu.star",
            ),
        );
        state.set(
            &format!("{rel}/task/build"),
            "models.Work",
            json!({"run_ref": run, "type": "task", "release": rel, "input": {}, "output": {"version": version_out}}),
        );
        state.link(&format!("{app}/@/task/build"), &format!("{rel}/task/build"));
        // Staging: one up run, complete.
        let env_doc = json!({"name": "staging", "attributes": {"type": "staging"}});
        let inputs = json!({
            "environment": {"ref": "@/environment/staging", "value": env_doc},
            "version": {"ref": format!("{rel}/task/build#output/version"), "value": version_out},
        });
        let run = format!("{rel}/deploy/staging/1");
        state.set(
            &run,
            "models.Run",
            json!({
                "type": "up",
                "release": rel,
                "functions": [{"fn": fn_def("up", "app.ocu.star:6:5"), "dependencies": [format!("{rel}/task/build/*/status/complete")], "inputs": inputs}],
                "output": {"url": "https://staging.example.com"},
                "watch_files": ["src"],
            }),
        );
        state.set(&format!("{run}/status/complete"), "models.Marker", marker());
        state.set(
            &format!("{run}/logs"),
            "[]models.LogEntry",
            logs(&["deploying to staging"], "app.ocu.star"),
        );
        state.set(
            &format!("{rel}/deploy/staging"),
            "models.Work",
            json!({"run_ref": run, "type": "up", "release": rel, "input": inputs, "output": {"url": "https://staging.example.com"}}),
        );
        state.link(
            &format!("{app}/@/deploy/staging"),
            &format!("{rel}/deploy/staging"),
        );
        if n == 2 {
            intent.set(
                &format!("{app}/@/deploy/staging"),
                "models.Intent",
                json!({"release": rel, "input": inputs}),
            );
        }
        state.link(&format!("{app}/@v{n}"), &rel);
    }
    // r1 was deployed to production, then taken down: a down run, the link removed.
    {
        let rel = format!("{app}/@r1");
        let env_doc = json!({"name": "production", "attributes": {"type": "prod"}});
        let inputs = json!({
            "environment": {"ref": "@/environment/production", "value": env_doc},
            "version": {"ref": format!("{rel}/task/build#output/version"), "value": "1.0"},
        });
        for (k, ty, f) in [
            (1, "up", fn_def("up", "app.ocu.star:6:5")),
            (2, "down", fn_def("down", "app.ocu.star:9:5")),
        ] {
            let run = format!("{rel}/deploy/production/{k}");
            state.set(
                &run,
                "models.Run",
                json!({"type": ty, "release": rel, "functions": [{"fn": f, "inputs": inputs}], "output": {}, "watch_files": null}),
            );
            state.set(&format!("{run}/status/complete"), "models.Marker", marker());
            state.set(
                &format!("{rel}/deploy/production"),
                "models.Work",
                json!({"run_ref": run, "type": ty, "release": rel, "input": inputs, "output": {}}),
            );
            if ty == "up" {
                state.link(
                    &format!("{app}/@/deploy/production"),
                    &format!("{rel}/deploy/production"),
                );
            } else {
                state.unlink(&format!("{app}/@/deploy/production"));
            }
        }
    }
    // The v2 tag as the oldest clients wrote it (`+` for `@`): same link, old spelling.
    let v2 = state.body(&format!("{app}/@v2")).cloned().expect("v2 tag");
    state.unlink(&format!("{app}/@v2"));
    state
        .envelopes
        .insert(format!("{app}/+v2"), json!({"kind": "link", "body": v2}));
    // A pending check_envs operation.
    state.set(
        &format!("{app}/@r2/op/check_envs"),
        "models.Marker",
        marker(),
    );

    // Custom state: per release (given by tag in intent), global, multi-segment.
    let note = json!({"text": "hello", "count": 2, "ok": true, "none": null});
    state.set(
        &format!("{app}/@r2/custom/note"),
        "interface {}",
        note.clone(),
    );
    intent.set(&format!("{app}/@v2/custom/note"), "interface {}", note);
    state.set(
        "@/custom/flags",
        "interface {}",
        json!({"beta": true, "list": [1, "two", {"three": 3}]}),
    );
    intent.set(
        "@/custom/flags",
        "interface {}",
        json!({"beta": true, "list": [1, "two", {"three": 3}]}),
    );
    state.set(
        "@/custom/credential/staging",
        "interface {}",
        json!("vault:staging"),
    );
    intent.set(
        "@/custom/credential/staging",
        "interface {}",
        json!("vault:staging"),
    );
    // Strings that YAML would read as something else unless quoted.
    let strings = json!([
        "null",
        "~",
        "1",
        "1.50",
        "true",
        "yes",
        "0x1F",
        "1e3",
        "",
        " lead",
        "a: b",
        "#c",
        "- x",
        "multi\nline"
    ]);
    state.set("@/custom/strings", "interface {}", strings.clone());
    intent.set("@/custom/strings", "interface {}", strings);
    // A value set to null.
    state.set("@/custom/cleared", "interface {}", Value::Null);
    intent.set("@/custom/cleared", "interface {}", Value::Null);
    // Disagreements: intent changed but not applied yet; state holds what intent dropped.
    state.set("@/custom/wanted", "interface {}", json!({"replicas": 1}));
    intent.set("@/custom/wanted", "interface {}", json!({"replicas": 3}));
    state.set("@/custom/dropped", "interface {}", json!("old"));

    // Package `approve.ocu.star`: r1 approved and complete; r2 waits for its approval.
    let pkg = format!("{repo}/-/approve.ocu.star");
    for (n, release_commit) in [(1, old_commit), (2, commit)] {
        let rel = format!("{pkg}/@r{n}");
        let approve_inputs = json!({
            "approval": {"ref": format!("{rel}/custom/approval")},
            "artifact": {"ref": format!("{rel}/task/build#output/artifact")},
        });
        state.set(
            &rel,
            "models.ReleaseInfo",
            json!({"commit": release_commit, "package": {
                "functions": {
                    "build/approve.ocu.star:3:5": {"function": fn_def("build", "approve.ocu.star:3:5")},
                    "approve/approve.ocu.star:6:5": {"function": fn_def("approve", "approve.ocu.star:6:5")},
                },
                "phases": [
                    {"name": "build", "tasks": [{"task": {"name": "build", "fn": fn_def("build", "approve.ocu.star:3:5")}}]},
                    {"name": "approval", "tasks": [{"task": {"name": "approve", "fn": fn_def("approve", "approve.ocu.star:6:5"), "inputs": approve_inputs}}]},
                ],
            }}),
        );
        state.set(
            &format!("{rel}/commit/{release_commit}"),
            "models.Marker",
            marker(),
        );
        let run = format!("{rel}/task/build/1");
        state.set(
            &run,
            "models.Run",
            json!({"type": "task", "release": rel, "functions": [{"fn": fn_def("build", "approve.ocu.star:3:5"), "inputs": {}}], "output": {"artifact": "app-1"}, "watch_files": null}),
        );
        state.set(&format!("{run}/status/complete"), "models.Marker", marker());
        state.set(
            &format!("{rel}/task/build"),
            "models.Work",
            json!({"run_ref": run, "type": "task", "release": rel, "input": {}, "output": {"artifact": "app-1"}}),
        );
        state.link(&format!("{pkg}/@/task/build"), &format!("{rel}/task/build"));
        let run = format!("{rel}/task/approve/1");
        let deps = json!([format!("{rel}/task/build/*/status/complete")]);
        if n == 1 {
            let populated = json!({
                "approval": {"ref": format!("{rel}/custom/approval"), "value": "bob"},
                "artifact": {"ref": format!("{rel}/task/build#output/artifact"), "value": "app-1"},
            });
            state.set(
                &format!("{rel}/custom/approval"),
                "interface {}",
                json!("bob"),
            );
            intent.set(
                &format!("{rel}/custom/approval"),
                "interface {}",
                json!("bob"),
            );
            state.set(
                &run,
                "models.Run",
                json!({"type": "task", "release": rel, "functions": [{"fn": fn_def("approve", "approve.ocu.star:6:5"), "dependencies": deps, "inputs": populated}], "output": {"approved_by": "bob"}, "watch_files": null}),
            );
            state.set(&format!("{run}/status/complete"), "models.Marker", marker());
            state.set(
                &format!("{run}/logs"),
                "[]models.LogEntry",
                logs(&["approved app-1"], "approve.ocu.star"),
            );
            state.set(
                &format!("{rel}/task/approve"),
                "models.Work",
                json!({"run_ref": run, "type": "task", "release": rel, "input": populated, "output": {"approved_by": "bob"}}),
            );
            state.link(
                &format!("{pkg}/@/task/approve"),
                &format!("{rel}/task/approve"),
            );
        } else {
            state.set(
                &run,
                "models.Run",
                json!({"type": "task", "release": rel, "functions": [{"fn": fn_def("approve", "approve.ocu.star:6:5"), "dependencies": deps, "inputs": approve_inputs}], "output": null, "watch_files": null}),
            );
            state.set(&format!("{run}/status/pending"), "models.Marker", marker());
        }
        state.link(
            &format!("{pkg}/@{}", if n == 1 { "1.0.0" } else { "1.1.0" }),
            &rel,
        );
    }

    // Package `gate.ocu.star`: r1's run is paused in `next()`, waiting for a ticket.
    let gate = format!("{repo}/-/gate.ocu.star/@r1");
    state.set(
        &gate,
        "models.ReleaseInfo",
        json!({"commit": commit, "package": {
            "functions": {"check/gate.ocu.star:3:5": {"function": fn_def("check", "gate.ocu.star:3:5")}},
            "phases": [{"name": "gate", "tasks": [{"task": {"name": "check", "fn": fn_def("check", "gate.ocu.star:3:5")}}]}],
        }}),
    );
    state.set(
        &format!("{gate}/commit/{commit}"),
        "models.Marker",
        marker(),
    );
    let run = format!("{gate}/task/check/1");
    state.set(
        &run,
        "models.Run",
        json!({"type": "task", "release": gate, "functions": [
            {"fn": fn_def("check", "gate.ocu.star:3:5"), "inputs": {}},
            {"fn": fn_def("finish", "gate.ocu.star:6:5"), "inputs": {"ticket": {"ref": format!("{gate}/custom/ticket")}}},
        ], "output": null, "watch_files": null}),
    );
    state.set(&format!("{run}/status/paused"), "models.Marker", marker());
    state.set(
        &format!("{run}/logs"),
        "[]models.LogEntry",
        logs(&["checking"], "gate.ocu.star"),
    );

    // Repo configs, in both stores (spec §6.9), with the push index in state.
    let source = format!("repo_alias({repo:?})\n");
    for c in [old_commit, commit] {
        let at = format!("{repo}/-/repo.ocu.star/@{c}");
        let doc = json!({"Remotes": [format!("https://ci:token@git.example.com/{repo}.git")], "source": base64(source.as_bytes())});
        state.set(&at, "models.RepoConfig", doc.clone());
        state.link(&format!("{repo}/-/repo.ocu.star/@"), &at);
        intent.set(&at, "models.RepoConfig", doc);
        intent.link(&format!("{repo}/-/repo.ocu.star/@"), &at);
    }
    let index = format!("{repo}/-/repo.ocu.star/@{commit}/push/index");
    state.set(
        &index,
        "models.PushIndex",
        json!({"commit": commit, "previous_commit": old_commit, "release_configs": {
            format!("{repo}/-/app.ocu.star"): {"watch_files": ["src"]},
            format!("{repo}/-/approve.ocu.star"): {"watch_files": null},
        }}),
    );
    state.link(&format!("{repo}/-/repo.ocu.star/@/push/index"), &index);
    state.set(
        "@/push/intent_commit",
        "models.PushIndex",
        json!({"commit": old_commit, "previous_commit": "", "release_configs": {}}),
    );

    Scenario {
        state,
        intent,
        repo_config_source: source,
        pending: vec![
            "@/custom/dropped".to_string(),
            "@/custom/wanted".to_string(),
        ],
        paused_release: format!("{pkg}/@r2"),
        paused_gate: gate,
    }
}
